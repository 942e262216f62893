/* asserts.h: end-of-run checks for CI: "p99<2ms", "ops_per_sec>100000",
 * "errors==0", optionally for one workload ("mixed:p99<2ms"). */
#ifndef MCS_ASSERTS_H
#define MCS_ASSERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "run.h"

/* Parses expr; NULL with a one-line reason in err when it is not valid.
 * The result is owned by the caller (free()). */
struct mcs_assert *mcs_assert_parse(const char *expr, char *err, size_t errlen);

/* Checks every assertion against the run's results: prints each failure
 * (and a count of passes) on f. Returns the number that failed. */
int mcs_assert_check_all(struct mcs_assert *const *a, int n, const struct mcs_run *run,
                         FILE *f);

#endif
