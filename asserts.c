/* asserts.c: end-of-run assertions. An expression names a metric of the
 * totals or of one workload, a comparison and a value with an optional
 * unit: "p99<2ms", "errors==0", "hit_ratio>=95%", "mixed:ops_per_sec>1e5". */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asserts.h"

enum op { OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE };

struct mcs_assert {
    char text[128];
    char workload[64];      /* empty: the totals */
    char metric[32];
    enum op op;
    double value;           /* in the metric's base unit (us, ratio, count) */
};

/* What a metric is measured in, for units on the value. */
enum unit { U_COUNT, U_LATENCY, U_RATIO };

static const struct {
    const char *name;
    enum unit unit;
} metrics[] = {
    { "ops", U_COUNT }, { "ops_per_sec", U_COUNT }, { "errors", U_COUNT },
    { "hits", U_COUNT }, { "misses", U_COUNT }, { "hit_ratio", U_RATIO },
    { "connects", U_COUNT }, { "reconnects", U_COUNT }, { "bytes_in", U_COUNT },
    { "bytes_out", U_COUNT }, { "late_runs", U_COUNT },
    { "validate_mismatches", U_COUNT }, { "rate_achieved_ratio", U_RATIO },
    { "p50", U_LATENCY }, { "p90", U_LATENCY }, { "p99", U_LATENCY },
    { "p999", U_LATENCY }, { "max", U_LATENCY }, { "mean", U_LATENCY },
};

static int metric_unit(const char *name)
{
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++)
        if (strcmp(metrics[i].name, name) == 0)
            return metrics[i].unit;
    if (strncmp(name, "errors.", 7) == 0) {
        for (int e = 0; e < MCS_ERR_MAX; e++)
            if (strcmp(name + 7, mcs_err_name(e)) == 0)
                return U_COUNT;
    }
    return -1;
}

static int parse_op(const char **p, enum op *op)
{
    static const struct { const char *s; enum op op; } ops[] = {
        { "<=", OP_LE }, { ">=", OP_GE }, { "==", OP_EQ }, { "!=", OP_NE },
        { "<", OP_LT }, { ">", OP_GT }, { "=", OP_EQ },
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        size_t n = strlen(ops[i].s);
        if (strncmp(*p, ops[i].s, n) == 0) {
            *op = ops[i].op;
            *p += n;
            return 0;
        }
    }
    return -1;
}

/* Scales v by its unit suffix to the metric's base unit. */
static int parse_unit(const char *u, enum unit unit, double *v)
{
    if (*u == '\0')
        return 0;
    if (unit == U_LATENCY) {
        static const struct { const char *s; double mult; } lat[] = {
            { "ns", 0.001 }, { "us", 1 }, { "ms", 1000 }, { "s", 1e6 },
        };
        for (size_t i = 0; i < sizeof(lat) / sizeof(lat[0]); i++)
            if (strcmp(u, lat[i].s) == 0) {
                *v *= lat[i].mult;
                return 0;
            }
    } else if (unit == U_RATIO && strcmp(u, "%") == 0) {
        *v /= 100;
        return 0;
    }
    return -1;
}

struct mcs_assert *mcs_assert_parse(const char *expr, char *err, size_t errlen)
{
    struct mcs_assert *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(a->text, sizeof(a->text), "%s", expr);
    const char *p = expr, *colon = strchr(expr, ':');
    if (colon) {
        snprintf(a->workload, sizeof(a->workload), "%.*s", (int)(colon - expr), expr);
        p = colon + 1;
    }
    size_t n = 0;
    while (p[n] && (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '.'))
        n++;
    snprintf(a->metric, sizeof(a->metric), "%.*s", (int)n, p);
    p += n;
    int unit = metric_unit(a->metric);
    char *end = NULL;
    if (unit < 0) {
        snprintf(err, errlen, "unknown metric '%s' (see docs/ci.md)", a->metric);
    } else if (parse_op(&p, &a->op) < 0) {
        snprintf(err, errlen, "expected <, <=, >, >=, == or != after '%s'", a->metric);
    } else if ((a->value = strtod(p, &end)), end == p) {
        snprintf(err, errlen, "expected a number after the comparison");
    } else if (parse_unit(end, unit, &a->value) < 0) {
        snprintf(err, errlen, "'%s' is not a unit for %s", end, a->metric);
    } else {
        return a;
    }
    free(a);
    return NULL;
}

/* The results an assertion looks at: all workloads, or those of a name. */
static bool gather(const struct mcs_assert *a, const struct mcs_run *run,
                   struct mcs_stats *sum, double *secs, double *target,
                   uint64_t *scheduled_runs)
{
    bool found = false;
    *secs = 0;
    *target = 0;
    *scheduled_runs = 0;
    for (const struct mcs_workload *wl = run->workloads; wl; wl = wl->next) {
        if (wl->phase > run->phase || (a->workload[0] && strcmp(a->workload, wl->name)))
            continue;
        mcs_stats_add(sum, &wl->total);
        *secs += wl->duration_s;
        *target += wl->target_runs_per_s * wl->duration_s;
        if (wl->target_runs_per_s > 0) /* closed-loop runs have no slot to meet */
            *scheduled_runs += wl->total.runs;
        found = true;
    }
    if (!a->workload[0])
        *secs = run->total_duration_s;
    return found;
}

static double latency_us(const struct mcs_stats *s, const char *m)
{
    struct mcs_hist *h = mcs_stats_lat_all(s);
    if (h == NULL)
        return 0;
    double v = strcmp(m, "max") == 0    ? mcs_hist_max(h)
             : strcmp(m, "mean") == 0   ? mcs_hist_mean(h)
             : strcmp(m, "p50") == 0    ? mcs_hist_percentile(h, 50)
             : strcmp(m, "p90") == 0    ? mcs_hist_percentile(h, 90)
             : strcmp(m, "p99") == 0    ? mcs_hist_percentile(h, 99)
                                        : mcs_hist_percentile(h, 99.9);
    mcs_hist_free(h);
    return v / 1000;
}

static double metric_value(const char *m, const struct mcs_stats *s, double secs,
                           double target_runs, uint64_t scheduled_runs)
{
    uint64_t ops = mcs_stats_ops(s);
    if (metric_unit(m) == U_LATENCY)
        return latency_us(s, m);
    if (strncmp(m, "errors.", 7) == 0)
        for (int e = 0; e < MCS_ERR_MAX; e++)
            if (strcmp(m + 7, mcs_err_name(e)) == 0)
                return (double)s->errors[e];
    if (strcmp(m, "ops_per_sec") == 0)
        return secs > 0 ? ops / secs : 0;
    if (strcmp(m, "hit_ratio") == 0)
        return s->hits + s->misses ? (double)s->hits / (s->hits + s->misses) : 0;
    if (strcmp(m, "rate_achieved_ratio") == 0)
        return target_runs > 0 ? scheduled_runs / target_runs : 1;
    const struct { const char *name; uint64_t v; } counts[] = {
        { "ops", ops }, { "errors", mcs_stats_errors(s) }, { "hits", s->hits },
        { "misses", s->misses }, { "connects", s->connects },
        { "reconnects", s->reconnects }, { "bytes_in", s->bytes_in },
        { "bytes_out", s->bytes_out }, { "late_runs", s->late_runs },
        { "validate_mismatches", s->mismatches },
    };
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        if (strcmp(m, counts[i].name) == 0)
            return (double)counts[i].v;
    return NAN;
}

static bool compare(double got, enum op op, double want)
{
    switch (op) {
    case OP_LT: return got < want;
    case OP_LE: return got <= want;
    case OP_GT: return got > want;
    case OP_GE: return got >= want;
    case OP_EQ: return got == want;
    default: return got != want;
    }
}

int mcs_assert_check_all(struct mcs_assert *const *a, int n, const struct mcs_run *run,
                         FILE *f)
{
    int failed = 0;
    for (int i = 0; i < n; i++) {
        struct mcs_stats sum;
        double secs, target;
        uint64_t scheduled;
        mcs_stats_init(&sum);
        bool found = gather(a[i], run, &sum, &secs, &target, &scheduled);
        double got = metric_value(a[i]->metric, &sum, secs, target, scheduled);
        mcs_stats_free(&sum);
        if (!found) {
            fprintf(f, "mcshredder: assertion failed: %s (no workload '%s')\n",
                    a[i]->text, a[i]->workload);
        } else if (!compare(got, a[i]->op, a[i]->value)) {
            const char *unit = metric_unit(a[i]->metric) == U_LATENCY ? "us" : "";
            fprintf(f, "mcshredder: assertion failed: %s (%s = %.6g%s)\n", a[i]->text,
                    a[i]->metric, got, unit);
        } else {
            continue;
        }
        failed++;
    }
    if (n > 0)
        fprintf(f, "mcshredder: %d of %d assertions passed\n", n - failed, n);
    return failed;
}
