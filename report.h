/* report.h: human and JSON output of results: the live line (stderr),
 * the end summary (stdout) and the --json file. */
#ifndef MCS_REPORT_H
#define MCS_REPORT_H

#include <stdio.h>
#include "stats.h"

struct mcs_series;

/* One workload's results, as the main thread holds them. */
struct mcs_report_wl {
    const char *name;        /* the workload's func name */
    int phase;               /* 1-based mcs.shredder call it ran in */
    double duration_s;       /* wall time of its phase */
    const struct mcs_stats *stats;
    const struct mcs_series *series;  /* its intervals (series.h); may be NULL */
    double target_runs_per_s;         /* rate-limited: the schedule; 0: none */
};

/* A worker thread's CPU time and the wall time it ran, over the run. */
struct mcs_report_thread {
    double cpu_s, wall_s;
};

/* A thread busier than this may be the bottleneck, not the server. */
#define MCS_REPORT_SATURATED 0.9

/* One line: elapsed time, ops/s, hit ratio, p50/p99 (all kinds merged,
 * through *scratch: see mcs_stats_lat_merged), errors in the interval, and
 * how much is done when done >= 0 (0..1). */
void mcs_report_live(FILE *f, double elapsed_s, double interval_s,
                     const struct mcs_stats *interval, double done,
                     struct mcs_hist **scratch);

/* Summary table per workload (and per command kind inside it), then totals. */
void mcs_report_summary(FILE *f, const struct mcs_report_wl *wl, int n,
                        double total_duration_s);

/* The client's own load: each worker thread's CPU use, and a warning when
 * one was saturated. */
void mcs_report_client(FILE *f, const struct mcs_report_thread *t, int n);

/* mcs_report_json with the worker threads' load ("client" in the JSON) and
 * the run's seed. */
int mcs_report_json_run(const char *path, const struct mcs_report_wl *wl, int n,
                        double total_duration_s, const struct mcs_report_thread *t,
                        int nthreads, uint64_t seed);

/* Writes the JSON result (schema in docs/json.md). 0, or -errno. */
int mcs_report_json(const char *path, const struct mcs_report_wl *wl, int n,
                    double total_duration_s);

/* Writes path with fn(f, ctx) (fn returns 0 or -errno) so that readers see
 * the old file or the whole new one: to "<path>.tmp.<pid>", fsync'd, then
 * renamed over path. A path that exists and is not a regular file (a pipe,
 * /dev/stdout) is written directly. 0, or the first -errno. */
int mcs_report_write_file(const char *path, int (*fn)(FILE *f, void *ctx),
                          void *ctx);

#endif
