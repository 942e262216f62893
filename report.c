/* report.c: results for people and for programs: the live line, the end
 * summary table and the --json file (schema in docs/json.md). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "report.h"
#include "series.h"

/* ---- formatting helpers ---- */

/* 1234567 -> "1,234,567". */
static void fmt_count(char *buf, size_t len, uint64_t v)
{
    char digits[32];
    int n = snprintf(digits, sizeof(digits), "%" PRIu64, v);
    size_t o = 0;

    for (int i = 0; i < n && o + 1 < len; i++) {
        if (i > 0 && (n - i) % 3 == 0 && o + 2 < len)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

/* A rate rounded to a whole number, with separators. */
static void fmt_rate(char *buf, size_t len, uint64_t n, double seconds)
{
    double r = seconds > 0 ? (double)n / seconds : 0.0;
    fmt_count(buf, len, isfinite(r) && r < 1e19 ? (uint64_t)(r + 0.5) : 0);
}

/* Latency with a unit picked so it reads in 3-4 digits: "850ns", "41us",
 * "12.3ms", "1.20s". The thresholds are where rounding would print 1000. */
static void fmt_lat(char *buf, size_t len, uint64_t ns)
{
    if (ns < 1000)
        snprintf(buf, len, "%" PRIu64 "ns", ns);
    else if (ns < 999500)
        snprintf(buf, len, "%.0fus", ns / 1e3);
    else if (ns < 999950000)
        snprintf(buf, len, "%.1fms", ns / 1e6);
    else
        snprintf(buf, len, "%.2fs", ns / 1e9);
}

static void fmt_ratio(char *buf, size_t len, uint64_t hits, uint64_t misses)
{
    if (hits + misses == 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.1f%%", 100.0 * hits / (double)(hits + misses));
}

/* 1234567 -> "1,234,567 (1.2 MiB)" */
static void fmt_bytes(char *buf, size_t len, uint64_t v)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    char c[32];
    double x = (double)v;
    int u = 0;

    while (x >= 1024 && u < 5) {
        x /= 1024;
        u++;
    }
    fmt_count(c, sizeof(c), v);
    if (u == 0)
        snprintf(buf, len, "%s B", c);
    else
        snprintf(buf, len, "%s (%.1f %s)", c, x, units[u]);
}

/* ---- live line ---- */

void mcs_report_live(FILE *f, double elapsed_s, double interval_s,
                     const struct mcs_stats *interval, double done,
                     struct mcs_hist **scratch)
{
    char rate[32], hit[16], p50[16] = "-", p99[16] = "-", errs[32];
    const struct mcs_hist *all = mcs_stats_lat_merged(interval, scratch);

    fmt_rate(rate, sizeof(rate), mcs_stats_ops(interval), interval_s);
    fmt_ratio(hit, sizeof(hit), interval->hits, interval->misses);
    if (all != NULL) {
        fmt_lat(p50, sizeof(p50), mcs_hist_percentile(all, 50));
        fmt_lat(p99, sizeof(p99), mcs_hist_percentile(all, 99));
    }
    fmt_count(errs, sizeof(errs), mcs_stats_errors(interval));
    fprintf(f, "[%4.0fs] %s ops/s  hit %s  p50 %s  p99 %s  errors %s", elapsed_s, rate,
            hit, p50, p99, errs);
    if (done >= 0)
        fprintf(f, "  done %.0f%%", 100 * done);
    fputc('\n', f);
}

/* ---- summary ---- */

#define ROW_FMT "  %-6s %15s %12s %8s %8s %8s %8s %8s\n"

static void summary_row(FILE *f, const char *label, uint64_t ops,
                        double duration_s, const struct mcs_hist *h)
{
    static const double pct[] = { 50, 90, 99, 99.9 };
    char n[32], rate[32], p[4][16], max[16] = "-";

    fmt_count(n, sizeof(n), ops);
    fmt_rate(rate, sizeof(rate), ops, duration_s);
    for (int i = 0; i < 4; i++)
        snprintf(p[i], sizeof(p[i]), "-");
    if (h != NULL && mcs_hist_count(h) > 0) {
        for (int i = 0; i < 4; i++)
            fmt_lat(p[i], sizeof(p[i]), mcs_hist_percentile(h, pct[i]));
        fmt_lat(max, sizeof(max), mcs_hist_max(h));
    }
    fprintf(f, ROW_FMT, label, n, rate, p[0], p[1], p[2], p[3], max);
}

/* The per-kind rows, plus an "all" row when more than one kind ran. */
static void summary_table(FILE *f, const struct mcs_stats *s, double duration_s)
{
    int kinds = 0;

    fprintf(f, ROW_FMT, "kind", "ops", "ops/s", "p50", "p90", "p99",
            "p99.9", "max");
    for (int k = 0; k < MCS_KIND_MAX; k++) {
        if (s->ops[k] == 0)
            continue;
        summary_row(f, mcs_kind_name(k), s->ops[k], duration_s, s->lat[k]);
        kinds++;
    }
    if (kinds == 0) {
        fprintf(f, "  (no requests completed)\n");
    } else if (kinds > 1) {
        struct mcs_hist *all = mcs_stats_lat_all(s);
        summary_row(f, "all", mcs_stats_ops(s), duration_s, all);
        mcs_hist_free(all);
    }
}

static void summary_errors(FILE *f, const struct mcs_stats *s)
{
    char c[32];
    const char *sep = " (";

    fmt_count(c, sizeof(c), mcs_stats_errors(s));
    fprintf(f, "  errors: %s", c);
    for (int e = 0; e < MCS_ERR_MAX; e++) {
        if (s->errors[e] == 0)
            continue;
        fmt_count(c, sizeof(c), s->errors[e]);
        fprintf(f, "%s%s %s", sep, mcs_err_name(e), c);
        sep = ", ";
    }
    fprintf(f, "%s\n", mcs_stats_errors(s) ? ")" : "");
}

static void summary_tls(FILE *f, const struct mcs_stats *s)
{
    char a[48], b[48], p50[16], p99[16];

    uint64_t errs = 0;
    for (int e = 0; e < MCS_TLS_ERR_MAX; e++)
        errs += s->tls_errors[e];
    if (s->tls_handshakes == 0 && errs == 0)
        return;
    fmt_count(a, sizeof(a), s->tls_handshakes);
    fmt_count(b, sizeof(b), s->tls_resumed);
    fmt_lat(p50, sizeof(p50), s->tls_hs ? mcs_hist_percentile(s->tls_hs, 50) : 0);
    fmt_lat(p99, sizeof(p99), s->tls_hs ? mcs_hist_percentile(s->tls_hs, 99) : 0);
    fprintf(f, "  tls handshakes %s (resumed %s)  handshake p50 %s  p99 %s\n", a, b,
            p50, p99);
    bool any = false;
    for (int e = 0; e < MCS_TLS_ERR_MAX; e++) {
        if (s->tls_errors[e] == 0)
            continue;
        fmt_count(a, sizeof(a), s->tls_errors[e]);
        fprintf(f, "%s %s %s", any ? "," : "  tls errors:", mcs_tls_err_name(e), a);
        any = true;
    }
    if (any)
        fputc('\n', f);
}

static void summary_section(FILE *f, const struct mcs_stats *s, double duration_s)
{
    char a[48], b[48], r[16];

    summary_table(f, s, duration_s);
    fmt_count(a, sizeof(a), s->hits);
    fmt_count(b, sizeof(b), s->misses);
    fmt_ratio(r, sizeof(r), s->hits, s->misses);
    fprintf(f, "  hits %s  misses %s  hit ratio %s\n", a, b, r);
    summary_errors(f, s);
    fmt_bytes(a, sizeof(a), s->bytes_in);
    fmt_bytes(b, sizeof(b), s->bytes_out);
    fprintf(f, "  bytes in %s  out %s\n", a, b);
    fmt_count(a, sizeof(a), s->connects);
    fmt_count(b, sizeof(b), s->reconnects);
    fprintf(f, "  connects %s  reconnects %s\n", a, b);
    if (s->validated > 0 || s->mismatches > 0) {
        fmt_count(a, sizeof(a), s->validated);
        fmt_count(b, sizeof(b), s->mismatches);
        fprintf(f, "  validated %s values: %s mismatches\n", a, b);
    }
    summary_tls(f, s);
}

/* Open loop: the schedule against what was achieved, and the raw service
 * time beside the latency measured from the schedule. */
static void summary_rate(FILE *f, const struct mcs_report_wl *wl)
{
    const struct mcs_stats *s = wl->stats;
    char p50[16], p99[16], lag[16];
    if (wl->target_runs_per_s <= 0)
        return;
    double achieved = wl->duration_s > 0 ? s->runs / wl->duration_s : 0;
    double ratio = achieved / wl->target_runs_per_s;
    fmt_lat(lag, sizeof(lag), s->lag_max_ns);
    fprintf(f, "  rate: target %.1f runs/s, achieved %.1f (%.1f%%)  late runs %" PRIu64
               "  max lag %s\n", wl->target_runs_per_s, achieved, 100 * ratio,
            s->late_runs, lag);
    if (s->svc) {
        fmt_lat(p50, sizeof(p50), mcs_hist_percentile(s->svc, 50));
        fmt_lat(p99, sizeof(p99), mcs_hist_percentile(s->svc, 99));
        fprintf(f, "  latency counts from each run's slot; service time (flush to "
                   "response) p50 %s  p99 %s\n", p50, p99);
    }
    if (ratio < 0.9)
        fprintf(f, "  warning: only %.1f%% of the target rate was achieved\n", 100 * ratio);
}

void mcs_report_client(FILE *f, const struct mcs_report_thread *t, int n)
{
    if (n == 0)
        return;
    fprintf(f, "client threads:");
    int busiest = 0;
    for (int i = 0; i < n; i++) {
        double busy = t[i].wall_s > 0 ? t[i].cpu_s / t[i].wall_s : 0;
        fprintf(f, "%s #%d %.2fs cpu (%.0f%% busy)", i ? "," : "", i, t[i].cpu_s, 100 * busy);
        if (busy > (t[busiest].wall_s > 0 ? t[busiest].cpu_s / t[busiest].wall_s : 0))
            busiest = i;
    }
    fputc('\n', f);
    double top = t[busiest].wall_s > 0 ? t[busiest].cpu_s / t[busiest].wall_s : 0;
    if (top > MCS_REPORT_SATURATED && t[busiest].wall_s >= 1)
        fprintf(f, "warning: client thread #%d was %.0f%% busy: the client, not the "
                   "server, may be the bottleneck (add --threads)\n", busiest, 100 * top);
}

void mcs_report_summary(FILE *f, const struct mcs_report_wl *wl, int n,
                        double total_duration_s)
{
    struct mcs_stats tot;

    mcs_stats_init(&tot);
    for (int i = 0; i < n; i++) {
        fprintf(f, "workload %s  phase %d  %.2fs\n",
                wl[i].name ? wl[i].name : "?", wl[i].phase, wl[i].duration_s);
        summary_section(f, wl[i].stats, wl[i].duration_s);
        summary_rate(f, &wl[i]);
        fputc('\n', f);
        /* On ENOMEM the totals only lose latencies; still worth printing. */
        mcs_stats_add(&tot, wl[i].stats);
    }
    if (n != 1) { /* one workload is its own total */
        fprintf(f, "TOTAL  %d workloads  %.2fs\n", n, total_duration_s);
        summary_section(f, &tot, total_duration_s);
    }
    mcs_stats_free(&tot);
}

/* ---- JSON ---- */

/* A small pretty-printing JSON writer: it tracks nesting only to place
 * commas, newlines and indentation. */
struct jw {
    FILE *f;
    int depth;
    bool first[16];     /* no member written yet at this depth */
};

/* Length of the valid UTF-8 sequence at p, or 0 if it is not one
 * (overlong forms, surrogates and values past U+10FFFF are invalid). */
static int utf8_len(const unsigned char *p)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    int n;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (int i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

/* Writes s as a JSON string; bytes that are not UTF-8 become U+FFFD. */
static void json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");

    fputc('"', f);
    while (*p) {
        int n;
        if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p++);
        } else if (*p == '\n') {
            fputs("\\n", f), p++;
        } else if (*p == '\t') {
            fputs("\\t", f), p++;
        } else if (*p == '\r') {
            fputs("\\r", f), p++;
        } else if (*p < 0x20) {
            fprintf(f, "\\u%04x", *p++);
        } else if (*p < 0x80) {
            fputc(*p++, f);
        } else if ((n = utf8_len(p)) > 0) {
            fwrite(p, 1, n, f);
            p += n;
        } else {
            fputs("\\ufffd", f), p++;
        }
    }
    fputc('"', f);
}

/* Starts a member: comma, newline and indent as needed, then the key. */
static void jw_member(struct jw *w, const char *key)
{
    if (w->depth > 0) {
        if (!w->first[w->depth])
            fputc(',', w->f);
        fprintf(w->f, "\n%*s", 2 * w->depth, "");
    }
    w->first[w->depth] = false;
    if (key != NULL) {
        json_string(w->f, key);
        fputs(": ", w->f);
    }
}

static void jw_open(struct jw *w, const char *key, char c)
{
    jw_member(w, key);
    fputc(c, w->f);
    w->depth++;
    w->first[w->depth] = true;
}

static void jw_close(struct jw *w, char c)
{
    bool empty = w->first[w->depth];

    w->depth--;
    if (!empty)
        fprintf(w->f, "\n%*s", 2 * w->depth, "");
    fputc(c, w->f);
}

static void jw_u64(struct jw *w, const char *key, uint64_t v)
{
    jw_member(w, key);
    fprintf(w->f, "%" PRIu64, v);
}

/* Fixed 3 decimals; JSON has no NaN or infinity, so those become 0. */
static void jw_num(struct jw *w, const char *key, double v)
{
    jw_member(w, key);
    fprintf(w->f, "%.3f", isfinite(v) ? v : 0.0);
}

static void jw_str(struct jw *w, const char *key, const char *s)
{
    jw_member(w, key);
    json_string(w->f, s);
}

/* Nanoseconds as microseconds, exact, without trailing zeros: 41500 ->
 * 41.5. Integer arithmetic, so no float rounding shows up. */
static void jw_us(struct jw *w, const char *key, uint64_t ns)
{
    char frac[8];
    int n = snprintf(frac, sizeof(frac), "%03u", (unsigned)(ns % 1000));

    while (n > 0 && frac[n - 1] == '0')
        frac[--n] = '\0';
    jw_member(w, key);
    fprintf(w->f, "%" PRIu64 "%s%s", ns / 1000, n ? "." : "", frac);
}

/* latency_us object; all zeros when h is NULL or empty. */
static void json_latency(struct jw *w, const struct mcs_hist *h)
{
    bool any = h != NULL && mcs_hist_count(h) > 0;
    double mean = any ? mcs_hist_mean(h) : 0.0;

    jw_open(w, "latency_us", '{');
    jw_us(w, "p50", any ? mcs_hist_percentile(h, 50) : 0);
    jw_us(w, "p90", any ? mcs_hist_percentile(h, 90) : 0);
    jw_us(w, "p99", any ? mcs_hist_percentile(h, 99) : 0);
    jw_us(w, "p999", any ? mcs_hist_percentile(h, 99.9) : 0);
    jw_us(w, "max", any ? mcs_hist_max(h) : 0);
    jw_us(w, "mean", (uint64_t)(mean + 0.5));
    jw_close(w, '}');
}

static void json_bucket(void *ctx, uint64_t lo, uint64_t hi, uint64_t count)
{
    struct jw *w = ctx;

    jw_member(w, NULL);
    fprintf(w->f, "[%" PRIu64 ", %" PRIu64 ", %" PRIu64 "]", lo, hi, count);
}

static void json_commands(struct jw *w, const struct mcs_stats *s,
                          double duration_s)
{
    jw_open(w, "commands", '{');
    for (int k = 0; k < MCS_KIND_MAX; k++) {
        if (s->ops[k] == 0)
            continue;
        jw_open(w, mcs_kind_name(k), '{');
        jw_u64(w, "ops", s->ops[k]);
        jw_num(w, "ops_per_sec", duration_s > 0 ? s->ops[k] / duration_s : 0);
        json_latency(w, s->lat[k]);
        jw_open(w, "histogram", '[');
        if (s->lat[k] != NULL)
            mcs_hist_foreach(s->lat[k], json_bucket, w);
        jw_close(w, ']');
        jw_close(w, '}');
    }
    jw_close(w, '}');
}

static bool has_latencies(const struct mcs_stats *s)
{
    for (int k = 0; k < MCS_KIND_MAX; k++)
        if (s->lat[k] != NULL && mcs_hist_count(s->lat[k]) > 0)
            return true;
    return false;
}

/* The members a workload and the totals share. 0 or -ENOMEM. */
static int json_stats(struct jw *w, const struct mcs_stats *s, double duration_s)
{
    uint64_t ops = mcs_stats_ops(s);
    struct mcs_hist *all = mcs_stats_lat_all(s);

    if (all == NULL && has_latencies(s))
        return -ENOMEM;
    jw_num(w, "duration_s", duration_s);
    jw_u64(w, "ops", ops);
    jw_num(w, "ops_per_sec", duration_s > 0 ? ops / duration_s : 0);
    jw_u64(w, "errors", mcs_stats_errors(s));
    jw_open(w, "errors_by_kind", '{');
    for (int e = 0; e < MCS_ERR_MAX; e++)
        jw_u64(w, mcs_err_name(e), s->errors[e]);
    jw_close(w, '}');
    jw_u64(w, "hits", s->hits);
    jw_u64(w, "misses", s->misses);
    jw_u64(w, "bytes_in", s->bytes_in);
    jw_u64(w, "bytes_out", s->bytes_out);
    jw_u64(w, "connects", s->connects);
    jw_u64(w, "reconnects", s->reconnects);
    jw_u64(w, "validated", s->validated);
    jw_u64(w, "validate_mismatches", s->mismatches);
    jw_open(w, "tls", '{');
    jw_u64(w, "handshakes", s->tls_handshakes);
    jw_u64(w, "resumed", s->tls_resumed);
    jw_open(w, "errors_by_reason", '{');
    for (int e = 0; e < MCS_TLS_ERR_MAX; e++)
        jw_u64(w, mcs_tls_err_name(e), s->tls_errors[e]);
    jw_close(w, '}');
    jw_open(w, "handshake", '{');
    json_latency(w, s->tls_hs);
    jw_close(w, '}');
    jw_close(w, '}');
    json_latency(w, all);
    mcs_hist_free(all);
    json_commands(w, s, duration_s);
    return 0;
}

/* The schedule and how well it was kept, and the raw service time. */
static void json_rate(struct jw *w, const struct mcs_report_wl *wl)
{
    const struct mcs_stats *s = wl->stats;
    double achieved = wl->duration_s > 0 ? s->runs / wl->duration_s : 0;
    jw_u64(w, "runs", s->runs);
    jw_open(w, "rate", '{');
    jw_num(w, "target_runs_per_sec", wl->target_runs_per_s);
    jw_num(w, "achieved_runs_per_sec", achieved);
    jw_u64(w, "late_runs", s->late_runs);
    jw_us(w, "max_lag_us", s->lag_max_ns);
    jw_close(w, '}');
    /* 1 when there is no schedule to miss */
    jw_num(w, "rate_achieved_ratio",
           wl->target_runs_per_s > 0 ? achieved / wl->target_runs_per_s : 1);
    jw_open(w, "service", '{');
    json_latency(w, s->svc);
    jw_close(w, '}');
}

/* The workload's time series: one object per interval. */
static void json_intervals(struct jw *w, const struct mcs_series *s)
{
    jw_open(w, "intervals", '[');
    for (size_t i = 0; s != NULL && i < s->n; i++) {
        const struct mcs_interval_row *r = &s->rows[i];
        jw_open(w, NULL, '{');
        jw_num(w, "t_s", r->t_s);
        jw_num(w, "len_s", r->len_s);
        jw_u64(w, "ops", r->ops);
        jw_num(w, "ops_per_sec", r->len_s > 0 ? r->ops / r->len_s : 0);
        jw_u64(w, "errors", r->errors);
        jw_u64(w, "hits", r->hits);
        jw_u64(w, "misses", r->misses);
        jw_open(w, "latency_us", '{');
        jw_us(w, "p50", r->p50_ns);
        jw_us(w, "p90", r->p90_ns);
        jw_us(w, "p99", r->p99_ns);
        jw_us(w, "p999", r->p999_ns);
        jw_us(w, "max", r->max_ns);
        jw_close(w, '}');
        jw_close(w, '}');
    }
    jw_close(w, ']');
}

static void json_client(struct jw *w, const struct mcs_report_thread *t, int n)
{
    bool saturated = false;
    jw_open(w, "client", '{');
    jw_open(w, "threads", '[');
    for (int i = 0; i < n; i++) {
        double busy = t[i].wall_s > 0 ? t[i].cpu_s / t[i].wall_s : 0;
        saturated |= busy > MCS_REPORT_SATURATED && t[i].wall_s >= 1;
        jw_open(w, NULL, '{');
        jw_num(w, "cpu_s", t[i].cpu_s);
        jw_num(w, "wall_s", t[i].wall_s);
        jw_num(w, "utilization", busy);
        jw_close(w, '}');
    }
    jw_close(w, ']');
    jw_member(w, "saturated");
    fputs(saturated ? "true" : "false", w->f);
    jw_close(w, '}');
}

static int json_write(FILE *f, const struct mcs_report_wl *wl, int n,
                      double total_duration_s, const struct mcs_report_thread *t,
                      int nthreads, uint64_t seed)
{
    struct jw w = { .f = f };
    struct mcs_stats tot;
    int ret = 0;

    mcs_stats_init(&tot);
    jw_open(&w, NULL, '{');
    jw_u64(&w, "version", 1);
    jw_num(&w, "duration_s", total_duration_s);
    jw_u64(&w, "seed", seed);
    jw_open(&w, "workloads", '[');
    for (int i = 0; i < n && ret == 0; i++) {
        jw_open(&w, NULL, '{');
        jw_str(&w, "name", wl[i].name);
        jw_member(&w, "phase");
        fprintf(f, "%d", wl[i].phase);
        ret = json_stats(&w, wl[i].stats, wl[i].duration_s);
        json_rate(&w, &wl[i]);
        json_intervals(&w, wl[i].series);
        jw_close(&w, '}');
        if (ret == 0)
            ret = mcs_stats_add(&tot, wl[i].stats);
    }
    jw_close(&w, ']');
    if (ret == 0) {
        jw_open(&w, "totals", '{');
        ret = json_stats(&w, &tot, total_duration_s);
        double cpu_s = 0;
        for (int i = 0; i < nthreads; i++)
            cpu_s += t[i].cpu_s;
        uint64_t ops = mcs_stats_ops(&tot);
        /* what each request cost the client: the figure CI perf jobs watch */
        jw_num(&w, "cpu_us_per_op", ops ? cpu_s * 1e6 / ops : 0);
        jw_close(&w, '}');
    }
    json_client(&w, t, nthreads);
    jw_close(&w, '}');
    fputc('\n', f);
    mcs_stats_free(&tot);
    return ret;
}

/* Writes to f with fn and closes f; the first error wins. */
static int write_finish(FILE *f, int (*fn)(FILE *f, void *ctx), void *ctx,
                        bool sync)
{
    int ret = fn(f, ctx);

    if (fflush(f) != 0 && ret == 0)
        ret = errno ? -errno : -EIO;
    if (ferror(f) && ret == 0)
        ret = -EIO;
    if (sync && ret == 0 && fsync(fileno(f)) != 0)
        ret = -errno;
    if (fclose(f) != 0 && ret == 0)
        ret = errno ? -errno : -EIO;
    return ret;
}

/* Not a regular file (a pipe, /dev/stdout): a temporary file could not be
 * renamed over it, so it is written directly. */
static bool is_special(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

/* Written to "<path>.tmp.<pid>" then renamed, so a reader of path sees
 * either the old file or the whole new one. */
int mcs_report_write_file(const char *path, int (*fn)(FILE *f, void *ctx),
                          void *ctx)
{
    size_t len = strlen(path) + 32;
    char *tmp = NULL;
    FILE *f;
    int fd, ret;

    if (is_special(path)) {
        f = fopen(path, "w");
        if (f == NULL)
            return -errno;
        return write_finish(f, fn, ctx, false);
    }
    tmp = malloc(len);
    if (tmp == NULL)
        return -ENOMEM;
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        ret = -errno;
        goto out;
    }
    f = fdopen(fd, "w");
    if (f == NULL) {
        ret = -errno;
        close(fd);
        goto out_unlink;
    }
    ret = write_finish(f, fn, ctx, true);
    if (ret == 0 && rename(tmp, path) != 0)
        ret = -errno;
out_unlink:
    if (ret != 0)
        unlink(tmp);
out:
    free(tmp);
    return ret;
}

struct json_args {
    const struct mcs_report_wl *wl;
    int n;
    double total_duration_s;
    const struct mcs_report_thread *threads;
    int nthreads;
    uint64_t seed;
};

static int json_write_cb(FILE *f, void *ctx)
{
    const struct json_args *a = ctx;
    return json_write(f, a->wl, a->n, a->total_duration_s, a->threads, a->nthreads,
                      a->seed);
}

int mcs_report_json_run(const char *path, const struct mcs_report_wl *wl, int n,
                        double total_duration_s, const struct mcs_report_thread *t,
                        int nthreads, uint64_t seed)
{
    struct json_args a = { wl, n, total_duration_s, t, nthreads, seed };
    return mcs_report_write_file(path, json_write_cb, &a);
}

int mcs_report_json(const char *path, const struct mcs_report_wl *wl, int n,
                    double total_duration_s)
{
    return mcs_report_json_run(path, wl, n, total_duration_s, NULL, 0, 0);
}
