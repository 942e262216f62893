/* phase.c: one mcs.shredder call. Starts the workers, prints the live line
 * once per interval from their published counters, stops them at the
 * deadline (or on mcs.stop, a signal, or when every client is done). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hdrlog.h"
#include "report.h"
#include "worker.h"

/* How long every client of a phase may fail before the run stops. */
#define MCS_CONNECT_GRACE_S 2.0

static bool all_done(struct mcs_worker **w, int n)
{
    for (int i = 0; i < n; i++)
        if (!atomic_load(&w[i]->done))
            return false;
    return true;
}

/* One interval line in the --hdr-log: all workloads, then each. */
static void log_interval(struct mcs_run *run, double start_s, double len_s,
                         const struct mcs_stats *sum)
{
    mcs_hdrlog_write(run->hdrlog, NULL, start_s, len_s,
                     mcs_stats_lat_merged(sum, &run->tick_scratch));
    for (struct mcs_workload *wl = run->workloads; wl; wl = wl->next) {
        if (wl->phase != run->phase)
            continue;
        mcs_hdrlog_write(run->hdrlog, wl->name, start_s, len_s,
                         mcs_stats_lat_merged(&wl->interval, &run->tick_scratch));
    }
}

/* How much of the phase is done (0..1) when every workload in it has a
 * run limit, else -1. */
static double phase_done(const struct mcs_run *run)
{
    uint64_t runs = 0, limit = 0;
    for (const struct mcs_workload *wl = run->workloads; wl; wl = wl->next) {
        if (wl->phase != run->phase)
            continue;
        if (wl->limit_runs == 0)
            return -1;
        runs += wl->total.runs;
        limit += wl->limit_runs;
    }
    return limit ? (double)(runs < limit ? runs : limit) / limit : -1;
}

/* Ends an interval of len_s seconds at t_s into the phase: its counts go
 * to the time series, the logs and the totals; prints the live line. */
static void tick(struct mcs_run *run, struct mcs_worker **w, int n, uint64_t t0,
                 double t_s, double len_s, bool print)
{
    struct mcs_stats *sum = &run->tick_sum;
    mcs_stats_reset(sum);
    for (int i = 0; i < n; i++)
        mcs_worker_ask_publish(w[i]);
    for (int i = 0; i < n; i++)
        mcs_worker_collect(w[i]);
    for (struct mcs_workload *wl = run->workloads; wl; wl = wl->next)
        if (wl->phase == run->phase)
            mcs_stats_add(sum, &wl->interval);
    if (run->hdrlog)
        log_interval(run, (t0 - run->t0_ns) / 1e9 + t_s - len_s, len_s, sum);
    for (struct mcs_workload *wl = run->workloads; wl; wl = wl->next) {
        if (wl->phase != run->phase)
            continue;
        /* the sliver after the last tick is a row only if anything happened */
        if (len_s >= run->interval_s / 2 || mcs_stats_ops(&wl->interval) > 0)
            mcs_series_add(&wl->series, t_s, len_s, &wl->interval, &run->tick_scratch);
        mcs_stats_add(&wl->total, &wl->interval);
        mcs_stats_reset(&wl->interval);
    }
    if (print && !run->quiet)
        mcs_report_live(stderr, t_s, len_s, sum, phase_done(run), &run->tick_scratch);
}

static void stop_workers(struct mcs_worker **w, int n)
{
    for (int i = 0; i < n; i++)
        atomic_store(&w[i]->stop, true);
}

/* Why every client of the phase is failing, or NULL while any succeeds. */
static const char *phase_failure(struct mcs_run *run, struct mcs_worker **w, int n,
                                 char *buf, size_t len)
{
    uint64_t ops = 0, fails = 0;
    bool answered = false, connected = false;
    for (struct mcs_workload *wl = run->workloads; wl; wl = wl->next) {
        const struct mcs_stats *t = &wl->total;
        if (wl->phase != run->phase || wl->custom)
            continue;
        ops += mcs_stats_ops(t);
        fails += t->errors[MCS_ERR_CONNECT] + t->errors[MCS_ERR_TLS] + t->errors[MCS_ERR_RESET];
        answered |= t->bytes_in > 0;
        connected |= t->connects > 0;
    }
    if (ops > 0 || fails == 0)
        return NULL;
    int err = 0;
    const char *tls = NULL;
    for (int i = 0; i < n; i++) {
        if (err == 0)
            err = atomic_load(&w[i]->last_connect_err);
        if (tls == NULL)
            tls = atomic_load(&w[i]->last_tls_reason);
    }
    if (tls)
        snprintf(buf, len, "no TLS connection to %s works: %s", run->target.name, tls);
    else if (!connected)
        snprintf(buf, len, "cannot connect to %s: %s", run->target.name,
                 strerror(err ? -err : ECONNREFUSED));
    else if (!answered) /* e.g. memcached -Z drops plain connections silently */
        snprintf(buf, len, "%s closes every connection without answering%s",
                 run->target.name, run->target.tp ? "" : " (a TLS port? try --tls)");
    else
        return NULL; /* it answers, badly: keep counting what happens */
    return buf;
}

/* A server nobody can use is one clear error and exit code 3, not a run of
 * failed connects: after a few seconds in which every client of the phase
 * failed and no request completed, the run stops. */
static bool server_unusable(struct mcs_run *run, struct mcs_worker **w, int n,
                            double elapsed, bool ended)
{
    char buf[512];
    if ((elapsed < MCS_CONNECT_GRACE_S && !ended) ||
        !phase_failure(run, w, n, buf, sizeof(buf)))
        return false;
    fprintf(stderr, "mcshredder: %s\n", buf);
    mcs_run_fail(run, MCS_EXIT_CONNECT);
    atomic_store(&run->halt, 1);
    return true;
}

/* Each client needs a descriptor: say so before connects start failing
 * with "Too many open files". */
static void check_nofile(struct mcs_run *run, struct mcs_worker **w, int n)
{
    uint64_t conns = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < w[i]->nslots; j++)
            if (!w[i]->slots[j]->opts.custom)
                conns += (uint64_t)w[i]->slots[j]->opts.clients;
    if (run->nofile && conns + 64 > run->nofile)
        fprintf(stderr, "mcshredder: warning: %" PRIu64 " connections need more file "
                        "descriptors than the limit of %" PRIu64 " allows; raise it "
                        "(ulimit -n) or some connects will fail\n", conns, run->nofile);
}

static int start_workers(struct mcs_run *run, struct mcs_worker **w, int n)
{
    check_nofile(run, w, n);
    for (int i = 0; i < n; i++) {
        int ret = mcs_worker_start(w[i]);
        if (ret < 0) {
            fprintf(stderr, "mcshredder: cannot start worker thread: %s\n", strerror(-ret));
            mcs_run_fail(run, MCS_EXIT_FAIL);
            stop_workers(w, i);
            for (int j = 0; j < i; j++)
                mcs_worker_join(w[j]);
            return -1;
        }
    }
    return 0;
}

static void finish(struct mcs_run *run, struct mcs_worker **w, int n, double elapsed)
{
    for (struct mcs_workload *wl = run->workloads; wl; wl = wl->next)
        if (wl->phase == run->phase)
            wl->duration_s = elapsed;
    run->total_duration_s += elapsed;
    for (int i = 0; i < n; i++)
        mcs_worker_reset(w[i]);
}

int mcs_phase_run(struct mcs_run *run, struct mcs_worker **w, int n, double secs)
{
    if (atomic_load(&run->halt)) {
        /* the run is over: this phase never ran and is not reported */
        for (int i = 0; i < n; i++)
            mcs_worker_reset(w[i]);
        return -1;
    }
    run->phase++;
    atomic_store(&run->stop, 0);
    if (start_workers(run, w, n) < 0) {
        finish(run, w, n, 0);
        return -1;
    }
    uint64_t t0 = mcs_now_ns();
    uint64_t deadline = secs > 0 ? t0 + (uint64_t)(secs * 1e9) : UINT64_MAX;
    uint64_t interval = (uint64_t)(run->interval_s * 1e9);
    uint64_t next_tick = t0 + interval;
    double last_tick = 0;
    bool stopping = false;
    while (!all_done(w, n)) {
        struct timespec ts = { 0, 20 * 1000000 };
        nanosleep(&ts, NULL);
        uint64_t now = mcs_now_ns();
        if (!stopping && (now >= deadline || atomic_load(&run->stop) ||
                          atomic_load(&run->halt))) {
            stop_workers(w, n);
            stopping = true;
        }
        if (now >= next_tick) {
            double t = (now - t0) / 1e9;
            tick(run, w, n, t0, t, t - last_tick, true);
            last_tick = t;
            next_tick += interval;
            if (!stopping && server_unusable(run, w, n, (now - t0) / 1e9, false)) {
                stop_workers(w, n);
                stopping = true;
            }
        }
    }
    for (int i = 0; i < n; i++)
        mcs_worker_join(w[i]);
    double elapsed = (mcs_now_ns() - t0) / 1e9;
    tick(run, w, n, t0, elapsed, elapsed - last_tick, false);
    if (!atomic_load(&run->halt))
        server_unusable(run, w, n, elapsed, true); /* a phase shorter than the grace */
    finish(run, w, n, elapsed);
    return 0;
}
