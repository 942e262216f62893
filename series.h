/* series.h: per-interval time series of a workload (ops, errors, hit and
 * miss counts, latency percentiles) and the --csv file that lists them. */
#ifndef MCS_SERIES_H
#define MCS_SERIES_H

#include <stddef.h>
#include <stdint.h>

struct mcs_hist;
struct mcs_stats;
struct mcs_report_wl;

/* One interval. Latencies are of all command kinds merged, 0 when no
 * latency was recorded in the interval. */
struct mcs_interval_row {
    double t_s;         /* end of the interval, seconds since the phase began */
    double len_s;       /* its length */
    uint64_t ops, errors, hits, misses;
    uint64_t p50_ns, p90_ns, p99_ns, p999_ns, max_ns;
};

/* Rows in time order. Owned by its workload: zero it to start, release it
 * with mcs_series_free. */
struct mcs_series {
    struct mcs_interval_row *rows;
    size_t n, cap;
};

/* Appends the interval that ends t_s seconds into the phase and lasted
 * len_s, from the interval's counters (latencies merged through *scratch:
 * see mcs_stats_lat_merged). 0 or -ENOMEM (s is unchanged). */
int mcs_series_add(struct mcs_series *s, double t_s, double len_s,
                   const struct mcs_stats *interval, struct mcs_hist **scratch);

/* Frees the rows and zeroes s. */
void mcs_series_free(struct mcs_series *s);

/* Writes every interval of the n workloads (their series members; NULL
 * ones add no rows) as CSV, one header line first:
 *   workload,phase,t_s,len_s,ops,ops_per_sec,errors,hits,misses,
 *   p50_us,p90_us,p99_us,p999_us,max_us
 * Written to "<path>.tmp.<pid>" and renamed, like mcs_report_json.
 * 0 or -errno. */
int mcs_series_write_csv(const char *path, const struct mcs_report_wl *wl,
                         int n);

#endif
