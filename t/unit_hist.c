/* unit_hist.c: TAP unit test for hist.c, stats.c and report.c: bucket
 * layout and precision, merging, counters, and the rendered live line,
 * summary and JSON file (checked with a small JSON validator). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "hist.h"
#include "stats.h"
#include "report.h"

#include "unit_tap.h"

/* xorshift64*: a fixed seed keeps failures reproducible. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Log-uniform over [1, 60 s]: every power of two gets about as many. */
static uint64_t rng_latency(void)
{
    double u = (double)(rng() >> 11) / 9007199254740992.0;
    return (uint64_t)exp(u * log((double)MCS_HIST_MAX_NS));
}

/* ---- collecting buckets through foreach ---- */

struct buckets {
    size_t n, cap;
    uint64_t *lo, *hi, *count;
};

static void collect(void *ctx, uint64_t lo, uint64_t hi, uint64_t count)
{
    struct buckets *b = ctx;

    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->lo = realloc(b->lo, b->cap * sizeof(uint64_t));
        b->hi = realloc(b->hi, b->cap * sizeof(uint64_t));
        b->count = realloc(b->count, b->cap * sizeof(uint64_t));
        if (!b->lo || !b->hi || !b->count)
            abort();
    }
    b->lo[b->n] = lo;
    b->hi[b->n] = hi;
    b->count[b->n] = count;
    b->n++;
}

static void buckets_get(struct buckets *b, const struct mcs_hist *h)
{
    b->n = 0;
    mcs_hist_foreach(h, collect, b);
}

static void buckets_free(struct buckets *b)
{
    free(b->lo);
    free(b->hi);
    free(b->count);
}

static bool same_hist(const struct mcs_hist *a, const struct mcs_hist *b)
{
    struct buckets x = { 0 }, y = { 0 };
    bool same;

    buckets_get(&x, a);
    buckets_get(&y, b);
    same = x.n == y.n && mcs_hist_count(a) == mcs_hist_count(b)
        && mcs_hist_min(a) == mcs_hist_min(b)
        && mcs_hist_max(a) == mcs_hist_max(b)
        && mcs_hist_mean(a) == mcs_hist_mean(b);
    for (size_t i = 0; same && i < x.n; i++)
        same = x.lo[i] == y.lo[i] && x.hi[i] == y.hi[i]
            && x.count[i] == y.count[i];
    buckets_free(&x);
    buckets_free(&y);
    return same;
}

/* ---- hist ---- */

static void test_hist_empty(void)
{
    struct mcs_hist *h = mcs_hist_new();
    struct buckets b = { 0 };

    if (!ok(h != NULL, "hist_new"))
        exit(1);
    ok(mcs_hist_count(h) == 0 && mcs_hist_min(h) == 0 && mcs_hist_max(h) == 0
       && mcs_hist_mean(h) == 0.0, "empty: count, min, max, mean are 0");
    ok(mcs_hist_percentile(h, 0) == 0 && mcs_hist_percentile(h, 50) == 0
       && mcs_hist_percentile(h, 100) == 0, "empty: percentiles are 0");
    buckets_get(&b, h);
    ok(b.n == 0, "empty: foreach visits nothing");
    buckets_free(&b);
    mcs_hist_free(h);
}

static void test_hist_exact_low(void)
{
    struct mcs_hist *h = mcs_hist_new();
    struct buckets b = { 0 };
    bool good = true;

    for (uint64_t v = 0; v < 2048; v++)
        mcs_hist_record(h, v);
    buckets_get(&b, h);
    good = b.n == 2048;
    for (size_t i = 0; good && i < b.n; i++)
        good = b.lo[i] == i && b.hi[i] == i && b.count[i] == 1;
    ok(good, "values below 2048 get one bucket each");

    good = true;
    for (int r = 1; r <= 2048; r += 7) {
        double p = r * 100.0 / 2048;
        uint64_t got = mcs_hist_percentile(h, p);
        if (got != (uint64_t)(r - 1)) {
            diag("p%.4f: want %d got %" PRIu64, p, r - 1, got);
            good = false;
        }
    }
    ok(good, "percentiles below 2048 are exact");
    buckets_free(&b);
    mcs_hist_free(h);
}

/* Walks every bucket from 0 to the clamp value by recording a bucket's
 * lowest value, reading the bucket back, and moving to hi + 1. */
static void test_hist_tiling(void)
{
    struct mcs_hist *h = mcs_hist_new();
    struct buckets b = { 0 };
    uint64_t v = 0, n = 0;
    bool good = true;

    while (good && v <= MCS_HIST_MAX_NS) {
        mcs_hist_reset(h);
        mcs_hist_record(h, v);
        buckets_get(&b, h);
        uint64_t width = b.n == 1 ? b.hi[0] - b.lo[0] + 1 : 0;
        uint64_t limit = v < 2048 ? 1 : v / 1024;
        if (b.n != 1 || b.lo[0] != v || width > limit) {
            diag("bucket at %" PRIu64 ": n %zu lo %" PRIu64 " width %" PRIu64,
                 v, b.n, b.n ? b.lo[0] : 0, width);
            good = false;
        }
        v = b.n ? b.hi[0] + 1 : v + 1;
        n++;
    }
    ok(good, "buckets tile 0..60s with no gap, width <= max(1, lo/1024)");
    /* 60 s has 36 bits: 25 are dropped, 11 index the last power of two. */
    uint64_t want = 25 * 1024 + (MCS_HIST_MAX_NS >> 25) + 1;
    ok(n == want, "bucket count is %" PRIu64 " (want %" PRIu64 ")", n, want);
    buckets_free(&b);
    mcs_hist_free(h);
}

static void test_hist_boundaries(void)
{
    struct mcs_hist *h = mcs_hist_new();
    struct buckets b = { 0 };
    bool good = true;

    for (int k = 10; k <= 35; k++) {
        for (int d = -1; d <= 1; d++) {
            uint64_t v = (1ULL << k) + d;
            mcs_hist_reset(h);
            mcs_hist_record(h, v);
            buckets_get(&b, h);
            if (b.n != 1 || v < b.lo[0] || v > b.hi[0]
                || mcs_hist_percentile(h, 50) != v) {
                diag("2^%d%+d misplaced", k, d);
                good = false;
            }
        }
    }
    ok(good, "powers of two +-1 land in a bucket holding them");
    /* 2048 and 2049 share the first 2-wide bucket; 2050 starts the next. */
    mcs_hist_reset(h);
    mcs_hist_record(h, 2048);
    mcs_hist_record(h, 2049);
    mcs_hist_record(h, 2050);
    buckets_get(&b, h);
    ok(b.n == 2 && b.lo[0] == 2048 && b.hi[0] == 2049 && b.count[0] == 2
       && b.lo[1] == 2050 && b.hi[1] == 2051, "first buckets above 2048 are 2 ns wide");
    buckets_free(&b);
    mcs_hist_free(h);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_hist_precision(void)
{
    static const double pct[] = { 0.1, 1, 5, 10, 25, 33.3, 50, 66.6, 75, 90,
                                  95, 99, 99.9, 99.99, 99.999 };
    enum { N = 200000 };
    uint64_t *vals = malloc(N * sizeof(*vals));
    struct mcs_hist *h = mcs_hist_new();

    for (int i = 0; i < N; i++) {
        vals[i] = rng_latency();
        mcs_hist_record(h, vals[i]);
    }
    qsort(vals, N, sizeof(*vals), cmp_u64);
    for (size_t i = 0; i < sizeof(pct) / sizeof(pct[0]); i++) {
        /* N / 100 * p is a whole number for these p. */
        uint64_t want = vals[(size_t)llround(pct[i] * (N / 100)) - 1];
        uint64_t got = mcs_hist_percentile(h, pct[i]);
        bool good = want < 2048 ? got == want
            : got >= want && (double)(got - want) / want <= 0.001;
        ok(good, "p%g: want %" PRIu64 " got %" PRIu64 " (err <= 0.1%%, exact < 2048)",
           pct[i], want, got);
    }
    ok(mcs_hist_percentile(h, 100) == vals[N - 1], "p100 is the exact max");
    ok(mcs_hist_min(h) == vals[0] && mcs_hist_max(h) == vals[N - 1]
       && mcs_hist_count(h) == N, "min, max and count are exact");
    uint64_t p0 = mcs_hist_percentile(h, 0);
    ok(p0 >= vals[0] && p0 <= vals[0] + vals[0] / 1024, "p0 is in the min's bucket");

    bool mono = true;
    for (double p = 0, last = 0; p <= 100; p += 0.25) {
        uint64_t v = mcs_hist_percentile(h, p);
        mono = mono && v >= last;
        last = v;
    }
    ok(mono, "percentile grows with p");
    free(vals);
    mcs_hist_free(h);
}

static void test_hist_clamp_and_moments(void)
{
    struct mcs_hist *h = mcs_hist_new();

    mcs_hist_record(h, MCS_HIST_MAX_NS + 1);
    mcs_hist_record(h, UINT64_MAX);
    ok(mcs_hist_count(h) == 2 && mcs_hist_max(h) == MCS_HIST_MAX_NS
       && mcs_hist_min(h) == MCS_HIST_MAX_NS
       && mcs_hist_percentile(h, 100) == MCS_HIST_MAX_NS
       && mcs_hist_percentile(h, 50) == MCS_HIST_MAX_NS
       && mcs_hist_mean(h) == (double)MCS_HIST_MAX_NS,
       "values above 60 s are clamped to 60 s");

    mcs_hist_reset(h);
    mcs_hist_record(h, 100);
    mcs_hist_record(h, 200);
    mcs_hist_record(h, 300000);
    ok(mcs_hist_count(h) == 3 && mcs_hist_min(h) == 100
       && mcs_hist_max(h) == 300000
       && fabs(mcs_hist_mean(h) - 300300 / 3.0) < 1e-9,
       "count, min, max, mean of 100, 200, 300000");
    ok(mcs_hist_percentile(h, 50) == 200 && mcs_hist_percentile(h, 34) == 200
       && mcs_hist_percentile(h, 33) == 100, "percentile ranks round up");
    mcs_hist_free(h);
}

static void test_hist_add(void)
{
    struct mcs_hist *a = mcs_hist_new(), *b = mcs_hist_new();
    struct mcs_hist *all = mcs_hist_new(), *e = mcs_hist_new();

    for (int i = 0; i < 5000; i++) {
        uint64_t v = rng_latency();
        mcs_hist_record(i % 3 ? a : b, v);
        mcs_hist_record(all, v);
    }
    mcs_hist_add(e, b);
    ok(same_hist(e, b), "add into an empty histogram copies it");
    mcs_hist_add(a, b);
    ok(same_hist(a, all), "add of two equals recording all values");
    mcs_hist_reset(e);
    mcs_hist_add(a, e);
    ok(same_hist(a, all), "adding an empty histogram changes nothing");
    mcs_hist_free(a);
    mcs_hist_free(b);
    mcs_hist_free(all);
    mcs_hist_free(e);
}

static void test_hist_reset(void)
{
    struct mcs_hist *h = mcs_hist_new();
    struct buckets b = { 0 };

    for (int i = 0; i < 1000; i++)
        mcs_hist_record(h, rng_latency());
    mcs_hist_reset(h);
    buckets_get(&b, h);
    ok(mcs_hist_count(h) == 0 && mcs_hist_min(h) == 0 && mcs_hist_max(h) == 0
       && mcs_hist_mean(h) == 0.0 && mcs_hist_percentile(h, 99) == 0 && b.n == 0,
       "reset empties the histogram");
    mcs_hist_record(h, 5000);
    buckets_get(&b, h);
    ok(mcs_hist_count(h) == 1 && mcs_hist_min(h) == 5000
       && mcs_hist_max(h) == 5000 && mcs_hist_percentile(h, 50) == 5000
       && b.n == 1 && b.count[0] == 1, "records again after reset");
    buckets_free(&b);
    mcs_hist_free(h);
}

static void test_hist_foreach(void)
{
    struct mcs_hist *h = mcs_hist_new();
    struct buckets b = { 0 };
    uint64_t sum = 0;
    bool ordered = true;

    for (int i = 0; i < 20000; i++)
        mcs_hist_record(h, rng_latency());
    buckets_get(&b, h);
    for (size_t i = 0; i < b.n; i++) {
        sum += b.count[i];
        ordered = ordered && b.lo[i] <= b.hi[i] && b.count[i] > 0
            && (i == 0 || b.lo[i] > b.hi[i - 1]);
    }
    ok(ordered, "foreach visits non-empty buckets in increasing order");
    ok(sum == mcs_hist_count(h), "foreach counts sum to count");
    buckets_free(&b);
    mcs_hist_free(h);
}

/* ---- stats ---- */

static void test_stats_names(void)
{
    static const char *kinds[] = { "get", "set", "delete", "touch", "incr",
                                   "mg", "ms", "md", "ma", "mn", "other" };
    static const char *errs[] = { "error", "client_error", "server_error",
                                  "protocol", "connect", "reset", "timeout",
                                  "tls" };
    bool good = MCS_KIND_MAX == 11 && MCS_ERR_MAX == 8;

    for (int k = 0; good && k < MCS_KIND_MAX; k++)
        good = strcmp(mcs_kind_name(k), kinds[k]) == 0;
    ok(good, "kind names");
    good = true;
    for (int e = 0; good && e < MCS_ERR_MAX; e++)
        good = strcmp(mcs_err_name(e), errs[e]) == 0;
    ok(good, "error names");
    ok(strcmp(mcs_kind_name(MCS_KIND_MAX), "unknown") == 0
       && strcmp(mcs_err_name(MCS_ERR_MAX), "unknown") == 0,
       "out of range names are \"unknown\"");
}

static void test_stats(void)
{
    struct mcs_stats s, d;
    bool good = true;

    mcs_stats_init(&s);
    mcs_stats_init(&d);
    for (int k = 0; k < MCS_KIND_MAX; k++)
        good = good && s.ops[k] == 0 && s.lat[k] == NULL;
    ok(good && mcs_stats_ops(&s) == 0 && mcs_stats_errors(&s) == 0
       && mcs_stats_lat_all(&s) == NULL, "init: zero, no histograms, lat_all NULL");

    mcs_stats_record(&s, MCS_KIND_GET, 1000);
    mcs_stats_record(&s, MCS_KIND_GET, 2000);
    mcs_stats_record(&s, MCS_KIND_GET, 3000);
    mcs_stats_record(&s, MCS_KIND_SET, 90000);
    mcs_stats_record(&s, (enum mcs_kind)99, 5);
    ok(s.ops[MCS_KIND_GET] == 3 && s.lat[MCS_KIND_GET] != NULL
       && mcs_hist_count(s.lat[MCS_KIND_GET]) == 3
       && mcs_hist_max(s.lat[MCS_KIND_GET]) == 3000
       && s.ops[MCS_KIND_SET] == 1 && s.lat[MCS_KIND_DELETE] == NULL,
       "record counts ops and allocates the kind's histogram");
    ok(s.ops[MCS_KIND_OTHER] == 1, "an out of range kind counts as other");

    s.errors[MCS_ERR_TIMEOUT] = 2;
    s.errors[MCS_ERR_RESET] = 1;
    s.hits = 7;
    s.misses = 3;
    s.bytes_in = 100;
    s.bytes_out = 50;
    s.connects = 4;
    s.reconnects = 1;
    ok(mcs_stats_ops(&s) == 5 && mcs_stats_errors(&s) == 3, "ops and errors sum kinds");

    struct mcs_hist *all = mcs_stats_lat_all(&s);
    ok(all != NULL && mcs_hist_count(all) == 5 && mcs_hist_max(all) == 90000
       && mcs_hist_min(all) == 5, "lat_all merges every kind");

    struct mcs_hist *scratch = NULL;
    const struct mcs_hist *merged = mcs_stats_lat_merged(&s, &scratch);
    ok(merged != NULL && merged == scratch && mcs_hist_count(merged) == 5
       && mcs_hist_max(merged) == 90000 && mcs_hist_min(merged) == 5,
       "lat_merged: several kinds are merged into the scratch histogram");
    merged = mcs_stats_lat_merged(&s, &scratch);
    ok(merged == scratch && mcs_hist_count(merged) == 5,
       "lat_merged: the scratch is emptied before it is reused");
    mcs_hist_free(all);

    ok(mcs_stats_add(&d, &s) == 0 && mcs_stats_add(&d, &s) == 0, "add returns 0");
    ok(d.ops[MCS_KIND_GET] == 6 && d.ops[MCS_KIND_SET] == 2
       && d.errors[MCS_ERR_TIMEOUT] == 4 && d.hits == 14 && d.misses == 6
       && d.bytes_in == 200 && d.bytes_out == 100 && d.connects == 8
       && d.reconnects == 2, "add sums the counters");
    ok(d.lat[MCS_KIND_GET] != NULL && d.lat[MCS_KIND_GET] != s.lat[MCS_KIND_GET]
       && mcs_hist_count(d.lat[MCS_KIND_GET]) == 6
       && mcs_hist_count(d.lat[MCS_KIND_SET]) == 2 && d.lat[MCS_KIND_DELETE] == NULL,
       "add allocates and merges the histograms it needs");

    struct mcs_hist *kept = d.lat[MCS_KIND_GET];
    mcs_stats_reset(&d);
    ok(mcs_stats_ops(&d) == 0 && mcs_stats_errors(&d) == 0 && d.hits == 0
       && d.bytes_in == 0 && d.connects == 0 && d.reconnects == 0
       && d.lat[MCS_KIND_GET] == kept && mcs_hist_count(kept) == 0,
       "reset zeroes counters and keeps histograms, emptied");
    ok(mcs_stats_lat_all(&d) == NULL, "lat_all of emptied stats is NULL");
    ok(mcs_stats_lat_merged(&d, &scratch) == NULL, "lat_merged of emptied stats is NULL");
    mcs_stats_record(&d, MCS_KIND_GET, 7000);
    ok(mcs_stats_lat_merged(&d, &scratch) == d.lat[MCS_KIND_GET],
       "lat_merged: one kind's own histogram is used as it is");
    mcs_hist_free(scratch);

    mcs_stats_free(&d);
    mcs_stats_free(&s);
    good = true;
    for (int k = 0; k < MCS_KIND_MAX; k++)
        good = good && s.lat[k] == NULL && d.lat[k] == NULL;
    ok(good, "free clears the histogram pointers");
}

/* ---- report: live line and summary ---- */

static char *render_live(double elapsed, double interval, const struct mcs_stats *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct mcs_hist *scratch = NULL;

    mcs_report_live(f, elapsed, interval, s, -1, &scratch);
    fclose(f);
    mcs_hist_free(scratch);
    return buf;
}

static void test_report_live(void)
{
    struct mcs_stats s;
    char *line;

    mcs_stats_init(&s);
    for (int i = 0; i < 152311; i++)
        mcs_stats_record(&s, MCS_KIND_GET, 41000);
    s.hits = 972;
    s.misses = 28;
    line = render_live(3.0, 1.0, &s);
    ok(strcmp(line, "[   3s] 152,311 ops/s  hit 97.2%  p50 41us  p99 41us  errors 0\n") == 0,
       "live line: %.*s", (int)strcspn(line, "\n"), line);
    free(line);

    mcs_stats_reset(&s);
    line = render_live(4.0, 1.0, &s);
    ok(strstr(line, " 0 ops/s") && strstr(line, "hit -") && strstr(line, "p50 -"),
       "live line with no ops: %.*s", (int)strcspn(line, "\n"), line);
    free(line);

    static const struct { uint64_t ns; const char *want; } units[] = {
        { 850, "p50 850ns " }, { 41000, "p50 41us " }, { 999400, "p50 999us " },
        { 999999, "p50 1.0ms " }, { 12300000, "p50 12.3ms " },
        { 1200000000, "p50 1.20s " },
    };
    bool good = true;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        mcs_stats_reset(&s);
        mcs_stats_record(&s, MCS_KIND_SET, units[i].ns);
        line = render_live(5.0, 2.0, &s);
        if (!strstr(line, units[i].want)) {
            diag("%" PRIu64 " ns: %s", units[i].ns, line);
            good = false;
        }
        free(line);
    }
    ok(good, "live latencies scale to ns, us, ms, s");

    mcs_stats_reset(&s);
    s.errors[MCS_ERR_SERVER_ERROR] = 1234;
    for (int i = 0; i < 10; i++)
        mcs_stats_record(&s, MCS_KIND_GET, 100);
    line = render_live(10.0, 2.0, &s);
    ok(strstr(line, "[  10s] 5 ops/s") && strstr(line, "errors 1,234\n"),
       "live ops/s divides by the interval; errors counted");
    free(line);
    mcs_stats_free(&s);
}

/* Every line of the table (header and rows) has the same width. */
static bool table_aligned(const char *text)
{
    static const char *starts[] = { "  kind ", "  get ", "  set ", "  all " };
    size_t width = 0;
    int rows = 0;

    for (const char *p = text; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] != 0)) {
        size_t len = strcspn(p, "\n");
        for (size_t i = 0; i < 4; i++) {
            if (strncmp(p, starts[i], strlen(starts[i])) != 0)
                continue;
            if (width == 0)
                width = len;
            if (len != width)
                return false;
            rows++;
        }
    }
    return rows >= 4;
}

static void fill_workload(struct mcs_stats *s)
{
    mcs_stats_init(s);
    for (int i = 0; i < 1000; i++)
        mcs_stats_record(s, MCS_KIND_GET, 30000 + i * 10);
    for (int i = 0; i < 100; i++)
        mcs_stats_record(s, MCS_KIND_SET, 45000 + i * 100);
    mcs_stats_record(s, MCS_KIND_SET, 41500);
    s->hits = 972;
    s->misses = 28;
    s->errors[MCS_ERR_TIMEOUT] = 2;
    s->errors[MCS_ERR_RESET] = 1;
    s->bytes_in = 1234567;
    s->bytes_out = 500;
    s->connects = 10;
    s->reconnects = 2;
}

static void test_report_summary(void)
{
    struct mcs_stats a, b;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    fill_workload(&a);
    mcs_stats_init(&b);
    for (int i = 0; i < 10; i++)
        mcs_stats_record(&b, MCS_KIND_MG, 2000000);
    struct mcs_report_wl wl[] = {
        { "get_set", 1, 10.0, &a, NULL, 0 },
        { "meta", 2, 5.0, &b, NULL, 0 },
    };
    mcs_report_summary(f, wl, 2, 15.0);
    fclose(f);
    ok(strstr(buf, "workload get_set  phase 1  10.00s\n")
       && strstr(buf, "workload meta  phase 2  5.00s\n")
       && strstr(buf, "TOTAL  2 workloads  15.00s\n"), "summary: workload and total headers");
    ok(strstr(buf, "p50") && strstr(buf, "p90") && strstr(buf, "p99.9")
       && strstr(buf, "max") && strstr(buf, "ops/s"), "summary: column headers");
    ok(strstr(buf, "  get              1,000          100 ")
       && strstr(buf, "  set                101           10 ")
       && strstr(buf, "  mg                  10            2 ")
       && strstr(buf, "  all              1,101          110 "),
       "summary: per-kind rows with ops and ops/s");
    ok(strstr(buf, "hits 972  misses 28  hit ratio 97.2%")
       && strstr(buf, "hit ratio -"), "summary: hits, misses, ratio");
    ok(strstr(buf, "errors: 3 (reset 1, timeout 2)\n")
       && strstr(buf, "errors: 0\n"), "summary: errors by kind, or 0");
    ok(strstr(buf, "bytes in 1,234,567 (1.2 MiB)  out 500 B")
       && strstr(buf, "connects 10  reconnects 2"), "summary: bytes and connects");
    ok(strstr(buf, "  mg                  10            1 ")
       && strstr(buf, "  get              1,000           67 "),
       "summary: totals use the total duration");
    ok(table_aligned(buf), "summary: table columns line up");
    if (nfailed)
        diag("summary was:\n%s", buf);
    free(buf);

    buf = NULL;
    f = open_memstream(&buf, &len);
    mcs_report_summary(f, NULL, 0, 0.0);
    fclose(f);
    ok(strstr(buf, "TOTAL  0 workloads") && strstr(buf, "no requests completed")
       && strstr(buf, "errors: 0"), "summary with no workloads");
    free(buf);
    mcs_stats_free(&a);
    mcs_stats_free(&b);
}

/* ---- report: JSON ---- */

/* A strict validator for RFC 8259 JSON; returns the end of the value at p,
 * or NULL. Good enough to say the file parses. */
static const char *js_value(const char *p, int depth);

static const char *js_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

static const char *js_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p != '"') {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 4;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
        p++;
    }
    return p + 1;
}

static const char *js_digits(const char *p)
{
    if (*p < '0' || *p > '9')
        return NULL;
    while (*p >= '0' && *p <= '9')
        p++;
    return p;
}

static const char *js_number(const char *p)
{
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if ((p = js_digits(p)) == NULL)
        return NULL;
    if (*p == '.' && (p = js_digits(p + 1)) == NULL)
        return NULL;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        p = js_digits(p);
    }
    return p;
}

/* Members of an object (is_obj) or elements of an array, after the
 * opening bracket. */
static const char *js_items(const char *p, int depth, bool is_obj)
{
    char close = is_obj ? '}' : ']';

    p = js_ws(p);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (is_obj) {
            if ((p = js_string(js_ws(p))) == NULL)
                return NULL;
            p = js_ws(p);
            if (*p++ != ':')
                return NULL;
        }
        if ((p = js_value(p, depth + 1)) == NULL)
            return NULL;
        p = js_ws(p);
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
}

static const char *js_value(const char *p, int depth)
{
    if (depth > 64)
        return NULL;
    p = js_ws(p);
    if (*p == '{' || *p == '[')
        return js_items(p + 1, depth, *p == '{');
    if (*p == '"')
        return js_string(p);
    if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
        return p + 4;
    if (strncmp(p, "false", 5) == 0)
        return p + 5;
    return js_number(p);
}

static bool json_valid(const char *text)
{
    const char *end = js_value(text, 0);
    return end != NULL && *js_ws(end) == '\0';
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    buf = calloc(1, len + 1);
    if (buf && fread(buf, 1, len, f) != len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    while (d && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    if (d)
        closedir(d);
    return n;
}

static bool has(const char *text, const char *s)
{
    if (strstr(text, s))
        return true;
    diag("missing: %s", s);
    return false;
}

static void test_report_json(const char *dir)
{
    char path[512];
    struct mcs_stats a, b, c;
    char *text;

    snprintf(path, sizeof(path), "%s/result.json", dir);
    fill_workload(&a);
    mcs_stats_init(&b);
    mcs_stats_record(&b, MCS_KIND_MG, 1);
    mcs_stats_init(&c);
    c.ops[MCS_KIND_GET] = 5;       /* ops but no histogram */
    struct mcs_report_wl wl[] = {
        { "get_set", 1, 10.0, &a, NULL, 0 },
        { "we\"ird\\na\nme\x01\xc3\xa9\xff", 2, 4.0, &b, NULL, 0 },
        { "no_hist", 2, 4.0, &c, NULL, 0 },
    };

    ok(json_valid("{\"a\": [1, -2.5e3, \"x\\n\"], \"b\": {}}")
       && !json_valid("{\"a\": 1,}") && !json_valid("{\"a\": [1}")
       && !json_valid("{\"a\": \"\n\"}") && !json_valid("[01]"),
       "the test's JSON validator accepts JSON and rejects broken JSON");
    ok(mcs_report_json(path, wl, 3, 14.0) == 0, "report_json returns 0");
    text = slurp(path);
    ok(text != NULL && json_valid(text), "JSON parses");
    ok(dir_entries(dir) == 1, "no temporary file is left behind");
    if (text == NULL)
        text = strdup("");
    ok(has(text, "\"version\": 1,") && has(text, "\"duration_s\": 14.000,")
       && has(text, "\"workloads\": [") && has(text, "\"totals\": {"),
       "JSON: version, duration, workloads, totals");
    ok(has(text, "\"name\": \"get_set\"") && has(text, "\"phase\": 1")
       && has(text, "\"name\": \"we\\\"ird\\\\na\\nme\\u0001\xc3\xa9\\ufffd\""),
       "JSON: names, escaped");
    ok(has(text, "\"ops\": 1101,") && has(text, "\"ops_per_sec\": 110.100,")
       && has(text, "\"errors\": 3,") && has(text, "\"timeout\": 2")
       && has(text, "\"server_error\": 0") && has(text, "\"tls\": 0")
       && has(text, "\"hits\": 972,") && has(text, "\"misses\": 28,")
       && has(text, "\"bytes_in\": 1234567,") && has(text, "\"bytes_out\": 500,")
       && has(text, "\"connects\": 10,") && has(text, "\"reconnects\": 2,"),
       "JSON: workload counters");
    ok(has(text, "\"get\": {") && has(text, "\"set\": {") && has(text, "\"mg\": {")
       && has(text, "\"p999\": ") && has(text, "\"mean\": ")
       && has(text, "\"histogram\": [") && has(text, "[41472, 41503, 1]")
       && has(text, "\"max\": 54.9,") && has(text, "\"max\": 0.001,"),
       "JSON: commands, latency in us, histogram buckets");
    ok(has(text, "\"histogram\": []") && has(text, "\"p50\": 0,"),
       "JSON: a kind with ops but no histogram has zero latencies");
    ok(has(text, "\"ops\": 1107,") && has(text, "\"ops_per_sec\": 79.071,"),
       "JSON: totals ops and ops/s over the total duration");
    free(text);

    /* Overwrite with zero workloads: still valid, still one file. */
    ok(mcs_report_json(path, NULL, 0, 0.0) == 0, "report_json with no workloads");
    text = slurp(path);
    ok(text && json_valid(text) && has(text, "\"workloads\": []")
       && has(text, "\"p50\": 0,") && has(text, "\"commands\": {}")
       && dir_entries(dir) == 1, "empty result is valid JSON and replaces the file");
    free(text);
    unlink(path);

    snprintf(path, sizeof(path), "%s/no/such/dir.json", dir);
    ok(mcs_report_json(path, wl, 1, 1.0) == -ENOENT, "missing directory: -ENOENT");
    mcs_stats_free(&a);
    mcs_stats_free(&b);
    mcs_stats_free(&c);
}

int main(void)
{
    char dir[] = "/tmp/unit_hist.XXXXXX";

    test_hist_empty();
    test_hist_exact_low();
    test_hist_tiling();
    test_hist_boundaries();
    test_hist_precision();
    test_hist_clamp_and_moments();
    test_hist_add();
    test_hist_reset();
    test_hist_foreach();
    test_stats_names();
    test_stats();
    test_report_live();
    test_report_summary();
    if (mkdtemp(dir) == NULL) {
        ok(false, "mkdtemp: %s", strerror(errno));
    } else {
        test_report_json(dir);
        rmdir(dir);
    }
    printf("1..%d\n", ntests);
    return nfailed ? 1 : 0;
}
