/* tap.c: the Test Anything Protocol on stdout for Lua test scripts. */
#include <stdio.h>
#include <string.h>

#include "tap.h"

void mcs_tap_init(struct mcs_tap *t)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
}

void mcs_tap_plan(struct mcs_tap *t, int n)
{
    pthread_mutex_lock(&t->lock);
    t->used = true;
    t->planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
    pthread_mutex_unlock(&t->lock);
}

bool mcs_tap_ok(struct mcs_tap *t, bool ok, const char *name)
{
    pthread_mutex_lock(&t->lock);
    t->used = true;
    t->count++;
    if (!ok)
        t->failed++;
    printf("%sok %d%s%s\n", ok ? "" : "not ", t->count, name && *name ? " - " : "",
           name ? name : "");
    fflush(stdout);
    pthread_mutex_unlock(&t->lock);
    return ok;
}

void mcs_tap_diag(struct mcs_tap *t, const char *msg)
{
    pthread_mutex_lock(&t->lock);
    for (const char *p = msg; *p;) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        printf("# %.*s\n", n, p);
        p += n + (nl != NULL);
    }
    fflush(stdout);
    pthread_mutex_unlock(&t->lock);
}

bool mcs_tap_finish(struct mcs_tap *t)
{
    if (!t->used)
        return true;
    if (t->planned == 0) {
        printf("1..%d\n", t->count);
    } else if (t->planned != t->count) {
        printf("# planned %d tests but ran %d\n", t->planned, t->count);
    }
    if (t->failed)
        printf("# failed %d of %d tests\n", t->failed, t->count);
    fflush(stdout);
    return t->failed == 0 && (t->planned == 0 || t->planned == t->count);
}
