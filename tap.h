/* tap.h: TAP output for test scripts (mcs.plan, mcs.ok, mcs.is, mcs.diag)
 * so memcached test suites can run mcshredder scripts under prove. Any
 * thread may report; lines are written whole. */
#ifndef MCS_TAP_H
#define MCS_TAP_H

#include <pthread.h>
#include <stdbool.h>

struct mcs_tap {
    pthread_mutex_t lock;
    int planned;         /* 0: no plan yet */
    int count, failed;
    bool used;           /* a test function was called */
};

void mcs_tap_init(struct mcs_tap *t);
void mcs_tap_plan(struct mcs_tap *t, int n);
/* Prints "ok N - name" or "not ok N - name"; returns ok. */
bool mcs_tap_ok(struct mcs_tap *t, bool ok, const char *name);
/* Prints each line of msg as a "# " comment. */
void mcs_tap_diag(struct mcs_tap *t, const char *msg);
/* At the end of the run: prints the plan when none was given, and says
 * when the count differs from it. True when every test passed. */
bool mcs_tap_finish(struct mcs_tap *t);

#endif
