/* unit_tap.h: TAP output for the C unit tests (t/unit_*.c): ok() prints
 * "ok N - name" or "not ok N - name" and counts failures; a test's main
 * prints the plan "1..N" (N = ntests) at the end and returns
 * nfailed ? 1 : 0. Each result is flushed at once, so a test that crashes
 * leaves every result before the crash in the output. */
#ifndef MCS_UNIT_TAP_H
#define MCS_UNIT_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int ntests, nfailed;

__attribute__((format(printf, 2, 3), unused))
static bool ok(bool cond, const char *fmt, ...)
{
    va_list ap;

    ntests++;
    if (!cond)
        nfailed++;
    printf("%sok %d - ", cond ? "" : "not ", ntests);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

__attribute__((format(printf, 1, 2), unused))
static void diag(const char *fmt, ...)
{
    va_list ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

#endif
