/* series.c: per-interval rows of a workload and the --csv file. The JSON
 * form of the rows is written by report.c ("intervals"). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hist.h"
#include "stats.h"
#include "report.h"
#include "series.h"

static bool has_latencies(const struct mcs_stats *s)
{
    for (int k = 0; k < MCS_KIND_MAX; k++)
        if (s->lat[k] != NULL && mcs_hist_count(s->lat[k]) > 0)
            return true;
    return false;
}

int mcs_series_add(struct mcs_series *s, double t_s, double len_s,
                   const struct mcs_stats *interval, struct mcs_hist **scratch)
{
    struct mcs_interval_row r = {
        .t_s = t_s,
        .len_s = len_s,
        .ops = mcs_stats_ops(interval),
        .errors = mcs_stats_errors(interval),
        .hits = interval->hits,
        .misses = interval->misses,
    };
    const struct mcs_hist *all = mcs_stats_lat_merged(interval, scratch);

    if (all == NULL && has_latencies(interval))
        return -ENOMEM;
    if (all != NULL) {
        r.p50_ns = mcs_hist_percentile(all, 50);
        r.p90_ns = mcs_hist_percentile(all, 90);
        r.p99_ns = mcs_hist_percentile(all, 99);
        r.p999_ns = mcs_hist_percentile(all, 99.9);
        r.max_ns = mcs_hist_max(all);
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        struct mcs_interval_row *rows = realloc(s->rows, cap * sizeof(*rows));
        if (rows == NULL)
            return -ENOMEM;
        s->rows = rows;
        s->cap = cap;
    }
    s->rows[s->n++] = r;
    return 0;
}

void mcs_series_free(struct mcs_series *s)
{
    free(s->rows);
    s->rows = NULL;
    s->n = s->cap = 0;
}

/* ---- CSV ---- */

/* NaN and infinities are written as 0, as in the JSON file. */
static double finite_or_0(double v)
{
    return isfinite(v) ? v : 0.0;
}

/* A field as RFC 4180 wants it: quoted, with quotes doubled, when it holds
 * a comma, a quote or a line break (or starts or ends with a space, which
 * some readers trim). */
static void csv_string(FILE *f, const char *s)
{
    size_t n = strlen(s);

    if (strpbrk(s, ",\"\r\n") == NULL
        && (n == 0 || (s[0] != ' ' && s[n - 1] != ' '))) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Nanoseconds as microseconds with exactly 3 decimals: 41500 -> 41.500. */
static void csv_us(FILE *f, uint64_t ns)
{
    fprintf(f, ",%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
}

struct csv_args {
    const struct mcs_report_wl *wl;
    int n;
};

static int csv_write(FILE *f, void *ctx)
{
    const struct csv_args *a = ctx;

    fputs("workload,phase,t_s,len_s,ops,ops_per_sec,errors,hits,misses,"
          "p50_us,p90_us,p99_us,p999_us,max_us\n", f);
    for (int i = 0; i < a->n; i++) {
        const struct mcs_series *s = a->wl[i].series;
        for (size_t j = 0; s != NULL && j < s->n; j++) {
            const struct mcs_interval_row *r = &s->rows[j];
            double rate = r->len_s > 0 ? (double)r->ops / r->len_s : 0.0;
            csv_string(f, a->wl[i].name ? a->wl[i].name : "");
            fprintf(f, ",%d,%.3f,%.3f,%" PRIu64 ",%.3f,%" PRIu64 ",%" PRIu64
                    ",%" PRIu64, a->wl[i].phase, finite_or_0(r->t_s),
                    finite_or_0(r->len_s), r->ops, finite_or_0(rate),
                    r->errors, r->hits, r->misses);
            csv_us(f, r->p50_ns);
            csv_us(f, r->p90_ns);
            csv_us(f, r->p99_ns);
            csv_us(f, r->p999_ns);
            csv_us(f, r->max_ns);
            fputc('\n', f);
        }
    }
    return 0;
}

int mcs_series_write_csv(const char *path, const struct mcs_report_wl *wl,
                         int n)
{
    struct csv_args a = { wl, n };
    return mcs_report_write_file(path, csv_write, &a);
}
