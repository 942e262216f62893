/* worker.c: a worker thread's event loop. Coroutines run until they wait;
 * their I/O becomes SQEs submitted in one io_uring_enter per iteration, and
 * CQEs wake the coroutines that waited on them. */
#define _GNU_SOURCE /* sched_getaffinity, pthread_setaffinity_np */
#include <malloc.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <lauxlib.h>

#include "lua_api.h"
#include "worker.h"

#define MCS_RING_ENTRIES 4096
#define MCS_BACKOFF_MIN_MS 10
#define MCS_BACKOFF_MAX_MS 1000
/* A run that starts this much after its slot counts as late. */
#define MCS_LATE_NS 1000000ULL

static void co_continue(struct mcs_co *co);

uint64_t mcs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void ignore_cqe(struct mcs_event *ev, struct io_uring_cqe *cqe)
{
    (void)ev;
    (void)cqe;
}

/* Getting an SQE fails only when the SQ ring is full: submitting what is
 * queued makes room. This is the one place that handles it. A kernel that
 * refuses the submission leaves the worker no way to go on: say why and
 * exit (_exit: other threads are still using OpenSSL and Lua). */
struct io_uring_sqe *mcs_sqe(struct mcs_worker *w)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
    if (sqe == NULL) {
        int ret = io_uring_submit(&w->ring);
        sqe = io_uring_get_sqe(&w->ring);
        if (sqe == NULL) {
            fprintf(stderr, "mcshredder: worker %d: io_uring submission failed: %s\n",
                    w->id, strerror(ret < 0 ? -ret : EBUSY));
            _exit(MCS_EXIT_FAIL);
        }
    }
    return sqe;
}

void mcs_sqe_reserve(struct mcs_worker *w, unsigned n)
{
    if (io_uring_sq_space_left(&w->ring) < n)
        io_uring_submit(&w->ring);
}

void mcs_event_arm(struct mcs_worker *w, struct mcs_event *ev, struct io_uring_sqe *sqe)
{
    io_uring_sqe_set_data(sqe, ev);
    ev->inflight = true;
    w->inflight++;
}

int mcs_worker_init(struct mcs_worker *w, struct mcs_run *run, int id)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->run = run;
    w->lctx = (struct mcs_lctx){ .run = run, .w = w };
    w->ev_ignore = (struct mcs_event){ .cb = ignore_cqe };
    pthread_mutex_init(&w->pub_lock, NULL);
    w->L = mcs_lua_new(&w->lctx);
    if (w->L == NULL)
        return -1;
    if (mcs_lua_load_script(w->L, run) != LUA_OK)
        return -1; /* message on w->L's stack */
    return 0;
}

void mcs_worker_free(struct mcs_worker *w)
{
    mcs_worker_reset(w);
    if (w->L)
        lua_close(w->L);
    w->L = NULL;
    pthread_mutex_destroy(&w->pub_lock);
}

/* --- coroutines --- */

void mcs_co_wake(struct mcs_co *co)
{
    struct mcs_worker *w = co->w;
    if (co->state == MCS_CO_DONE || co->queued)
        return;
    co->state = MCS_CO_READY;
    co->queued = true;
    co->next_ready = NULL;
    if (w->ready_tail)
        w->ready_tail->next_ready = co;
    else
        w->ready = co;
    w->ready_tail = co;
}

static void co_on_timer(struct mcs_event *ev, struct io_uring_cqe *cqe)
{
    (void)cqe; /* -ETIME is how a timeout completes; -ECANCELED when stopped */
    struct mcs_co *co = ev->ctx;
    if (co->state == MCS_CO_TIMER || co->state == MCS_CO_BACKOFF)
        mcs_co_wake(co);
}

static void co_arm_timer(struct mcs_co *co, uint64_t ns, unsigned flags,
                         enum mcs_co_state state)
{
    co->ts.tv_sec = ns / 1000000000ULL;
    co->ts.tv_nsec = ns % 1000000000ULL;
    struct io_uring_sqe *sqe = mcs_sqe(co->w);
    io_uring_prep_timeout(sqe, &co->ts, 0, flags);
    mcs_event_arm(co->w, &co->ev_timer, sqe);
    co->state = state;
}

int mcs_co_sleep(struct mcs_co *co, uint64_t ms)
{
    co_arm_timer(co, ms * 1000000ULL, 0, MCS_CO_TIMER);
    return 0;
}

/* Waits until the out stream's eventfd is readable. */
int mcs_co_out_wait(struct mcs_co *co)
{
    struct io_uring_sqe *sqe = mcs_sqe(co->w);
    io_uring_prep_poll_add(sqe, co->w->run->out.efd, POLLIN);
    mcs_event_arm(co->w, &co->ev_poll, sqe);
    co->state = MCS_CO_TIMER;
    return 0;
}

static void co_finish(struct mcs_co *co)
{
    if (co->state == MCS_CO_DONE)
        return;
    co->state = MCS_CO_DONE;
    co->w->active--;
}

static void co_cancel_timers(struct mcs_co *co)
{
    struct mcs_event *evs[] = { &co->ev_timer, &co->ev_poll };
    for (size_t i = 0; i < 2; i++) {
        if (!evs[i]->inflight)
            continue;
        struct io_uring_sqe *sqe = mcs_sqe(co->w);
        io_uring_prep_cancel(sqe, evs[i], 0);
        mcs_event_arm(co->w, &co->w->ev_ignore, sqe);
    }
}

static void co_backoff(struct mcs_co *co, bool grow)
{
    if (grow) {
        co->backoff_ms = co->backoff_ms ? co->backoff_ms * 2 : MCS_BACKOFF_MIN_MS;
        if (co->backoff_ms > MCS_BACKOFF_MAX_MS)
            co->backoff_ms = MCS_BACKOFF_MAX_MS;
    }
    uint64_t ms = grow ? co->backoff_ms : 1;
    co->backing_off = true;
    co_arm_timer(co, ms * 1000000ULL, 0, MCS_CO_BACKOFF);
}

static void co_connect(struct mcs_co *co)
{
    struct mcs_conn *c = co->conn;
    if (!mcs_conn_idle(c)) {
        co_backoff(co, false); /* the old socket's I/O is still being cancelled */
        return;
    }
    if (mcs_conn_connect(c, co) < 0) {
        co_backoff(co, true);
        return;
    }
    co->state = MCS_CO_CONNECTING;
}

/* The connection dropped (error, reset, garbage): the run in progress is
 * abandoned, its coroutine reset, and the client reconnects after a backoff
 * that doubles up to a cap while the server stays away. */
static void co_conn_lost(struct mcs_co *co)
{
    if (co->in_run) {
        lua_resetthread(co->L);
        co->in_run = false;
    }
    mcs_conn_close(co->conn);
    co_backoff(co, true);
}

static void co_connected(struct mcs_co *co)
{
    struct mcs_worker *w = co->w;
    co->conn_ready = true;
    if (co->next_run_ns == 0)
        co->next_run_ns = w->now_ns + co->index * co->slot->opts.start_step_ns;
    else if (co->next_run_ns < w->now_ns)
        co->next_run_ns = w->now_ns; /* no burst to catch up after an outage */
}

void mcs_script_error(struct mcs_worker *w, lua_State *co, const char *where)
{
    luaL_traceback(w->L, co, lua_tostring(co, -1), 0);
    fprintf(stderr, "mcshredder: script error in %s: %s\n", where, lua_tostring(w->L, -1));
    lua_pop(w->L, 1);
    mcs_run_fail(w->run, MCS_EXIT_USAGE);
    atomic_store(&w->run->halt, 1);
    atomic_store(&w->run->stop, 1);
}

/* What to do after a run of the workload function returned.
 * Returns true when the coroutine should start its next run right away. */
static bool co_after_run(struct mcs_co *co)
{
    const struct mcs_wl_opts *o = &co->slot->opts;
    co->backoff_ms = 0; /* a whole run worked: the next error backs off afresh */
    co->slot->cur.runs++;
    if (co->custom || co->w->stopping) {
        co_finish(co);
        return false;
    }
    if (co->runs_left > 0 && --co->runs_left == 0) {
        co_finish(co);
        mcs_conn_close(co->conn);
        return false;
    }
    if (o->reconn_every && --co->reconn_left == 0) {
        co->reconn_left = o->reconn_every;
        mcs_conn_close(co->conn);
        return true;
    }
    if (o->period_ns || co->yielded)
        return true;
    mcs_co_wake(co); /* ran without waiting: let the others run first */
    return false;
}

/* The gap to the next slot: the period, or with Poisson arrivals an
 * exponentially distributed gap of that mean. */
static uint64_t co_next_gap(struct mcs_co *co, uint64_t period)
{
    if (!co->slot->opts.poisson)
        return period;
    co->rng ^= co->rng << 13;
    co->rng ^= co->rng >> 7;
    co->rng ^= co->rng << 17;
    double u = ((co->rng >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
    return (uint64_t)(-log(u) * (double)period);
}

/* Open loop: notes how late the run starts after its slot; its requests
 * are timed from the slot. */
static void co_start_slot(struct mcs_co *co, uint64_t period)
{
    struct mcs_stats *st = &co->slot->cur;
    uint64_t slot = co->next_run_ns, lag = co->w->now_ns - slot;
    if (lag > MCS_LATE_NS)
        st->late_runs++;
    if (lag > st->lag_max_ns)
        st->lag_max_ns = lag;
    co->conn->intended_ns = slot;
    co->next_run_ns += co_next_gap(co, period);
}

/* Starts a run unless the rate limit says to wait. */
static bool co_begin_run(struct mcs_co *co)
{
    struct mcs_worker *w = co->w;
    uint64_t period = co->slot->opts.period_ns;
    if (w->stopping) {
        co_finish(co);
        return false;
    }
    if (period) {
        if (co->next_run_ns > w->now_ns) {
            co_arm_timer(co, co->next_run_ns, IORING_TIMEOUT_ABS, MCS_CO_TIMER);
            return false;
        }
        if (co->conn)
            co_start_slot(co, period);
    }
    lua_rawgeti(co->L, LUA_REGISTRYINDEX, co->func_ref);
    if (co->arg_ref != LUA_NOREF)
        lua_rawgeti(co->L, LUA_REGISTRYINDEX, co->arg_ref);
    co->in_run = true;
    co->yielded = false;
    return true;
}

/* Brings the client's connection up. Returns true when it is open and the
 * coroutine may run; otherwise a connect or a backoff timer is under way. */
static bool co_check_conn(struct mcs_co *co)
{
    struct mcs_conn *c = co->conn;
    if (c->state == MCS_CONN_OPEN) {
        if (!co->conn_ready)
            co_connected(co);
        return true;
    }
    if (c->state == MCS_CONN_CONNECTING)
        return false;
    co->conn_ready = false;
    if (co->in_run) {
        co_conn_lost(co);
    } else if (co->backing_off || c->err == 0 || c->err == -ENOTCONN) {
        /* first connect, a backoff that ran out, or a deliberate close */
        co->backing_off = false;
        co_connect(co);
    } else {
        co_backoff(co, true); /* the connect failed */
    }
    return false;
}

static void co_continue(struct mcs_co *co)
{
    for (;;) {
        if (co->state == MCS_CO_DONE)
            return;
        if (!co->custom && !co_check_conn(co))
            return;
        int nargs = 0;
        if (!co->in_run) {
            if (!co_begin_run(co))
                return;
            nargs = co->arg_ref != LUA_NOREF ? 1 : 0;
        }
        co->state = MCS_CO_WAIT_IO;
        int nres = 0;
        int status = lua_resume(co->L, NULL, nargs, &nres);
        if (status == LUA_YIELD) {
            co->yielded = true;
            lua_pop(co->L, nres);
            if (co->custom || co->conn->state == MCS_CONN_OPEN)
                return;
            continue; /* the connection failed under it */
        }
        co->in_run = false;
        if (status != LUA_OK) {
            mcs_script_error(co->w, co->L, co->slot->wl->name);
            lua_resetthread(co->L);
            co_finish(co);
            return;
        }
        lua_settop(co->L, 0);
        if (!co_after_run(co))
            return;
    }
}

static void run_ready(struct mcs_worker *w)
{
    struct mcs_co *co = w->ready;
    w->ready = w->ready_tail = NULL;
    while (co) {
        struct mcs_co *next = co->next_ready;
        co->queued = false;
        if (co->state == MCS_CO_READY)
            co_continue(co);
        co = next;
    }
}

/* --- workloads --- */

static struct mcs_slot *slot_new(struct mcs_worker *w, struct mcs_workload *wl,
                                 const struct mcs_wl_opts *opts)
{
    struct mcs_slot **ns = realloc(w->slots, (w->nslots + 1) * sizeof(*ns));
    if (ns == NULL)
        return NULL;
    w->slots = ns;
    struct mcs_slot *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->wl = wl;
    s->opts = *opts;
    s->func_ref = s->arg_ref = LUA_NOREF;
    s->id = w->nslots;
    mcs_stats_init(&s->cur);
    mcs_stats_init(&s->pub);
    w->slots[w->nslots++] = s;
    return s;
}

/* Pushes the function a client runs: the global itself, or with init what
 * the global returns when called with the argument. */
static int push_client_func(struct mcs_worker *w, lua_State *Lconf, const char *name,
                            int arg, bool use_init)
{
    if (lua_getglobal(w->L, name) != LUA_TFUNCTION) {
        lua_pop(w->L, 1);
        return luaL_error(Lconf, "no global function '%s' in the script", name);
    }
    if (!use_init)
        return 0;
    if (arg)
        lua_pushvalue(w->L, arg);
    if (mcs_lua_pcall(w->L, arg ? 1 : 0, 1) != LUA_OK) {
        lua_pushstring(Lconf, lua_tostring(w->L, -1));
        lua_pop(w->L, 1);
        return luaL_error(Lconf, "init call of '%s' failed: %s", name, lua_tostring(Lconf, -1));
    }
    if (lua_type(w->L, -1) != LUA_TFUNCTION) {
        lua_pop(w->L, 1);
        return luaL_error(Lconf, "init function '%s' must return a function", name);
    }
    return 0;
}

static struct mcs_co *co_new(struct mcs_worker *w, struct mcs_slot *s, int index)
{
    struct mcs_co **nc = realloc(w->cos, (w->ncos + 1) * sizeof(*nc));
    if (nc == NULL)
        return NULL;
    w->cos = nc;
    struct mcs_co *co = calloc(1, sizeof(*co));
    if (co == NULL)
        return NULL;
    co->w = w;
    co->slot = s;
    co->index = index;
    co->custom = s->opts.custom;
    co->lctx = (struct mcs_lctx){ .run = w->run, .w = w, .co = co };
    co->ev_timer = (struct mcs_event){ .cb = co_on_timer, .ctx = co };
    co->ev_poll = (struct mcs_event){ .cb = co_on_timer, .ctx = co };
    co->func_ref = co->arg_ref = co->L_ref = LUA_NOREF;
    co->runs_left = s->opts.limit;
    /* a stream per client of each workload: mix thread, workload, client */
    uint64_t seed = ((uint64_t)w->id << 40) ^ ((uint64_t)w->nslots << 20) ^ (uint64_t)index;
    seed = (seed ^ (seed >> 31)) * 0x9e3779b97f4a7c15ULL;
    co->rng = (seed ^ (seed >> 29)) | 1;
    co->reconn_left = s->opts.reconn_every;
    w->cos[w->ncos++] = co;
    return co;
}

int mcs_worker_add(struct mcs_worker *w, lua_State *Lconf, struct mcs_workload *wl,
                   const struct mcs_wl_opts *opts, int arg_idx, bool use_init)
{
    struct mcs_slot *s = slot_new(w, wl, opts);
    if (s == NULL)
        return luaL_error(Lconf, "out of memory");
    int arg = 0;
    if (arg_idx) {
        mcs_lua_copy(Lconf, arg_idx, w->L);
        arg = lua_gettop(w->L);
    }
    /* clients share the function and argument unless init gives each its
     * own function: fewer registry entries per client */
    if (arg) {
        lua_pushvalue(w->L, arg);
        s->arg_ref = luaL_ref(w->L, LUA_REGISTRYINDEX);
    }
    if (!use_init) {
        push_client_func(w, Lconf, wl->name, arg, false);
        s->func_ref = luaL_ref(w->L, LUA_REGISTRYINDEX);
    }
    for (int i = 0; i < opts->clients; i++) {
        struct mcs_co *co = co_new(w, s, i);
        if (co == NULL)
            return luaL_error(Lconf, "out of memory");
        co->L = lua_newthread(w->L);
        *(struct mcs_lctx **)lua_getextraspace(co->L) = &co->lctx;
        co->L_ref = luaL_ref(w->L, LUA_REGISTRYINDEX);
        co->arg_ref = s->arg_ref;
        co->func_ref = s->func_ref;
        if (use_init) {
            w->init_co = co;
            push_client_func(w, Lconf, wl->name, arg, true);
            w->init_co = NULL;
            co->func_ref = luaL_ref(w->L, LUA_REGISTRYINDEX);
            co->own_func = true;
        }
        if (!co->custom) {
            co->conn = mcs_conn_new(w, opts->target, &s->cur);
            if (co->conn == NULL)
                return luaL_error(Lconf, "out of memory");
            co->conn->validate = opts->validate;
        }
    }
    if (arg)
        lua_pop(w->L, 1);
    return 0;
}

/* --- stats publication --- */

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void publish(struct mcs_worker *w)
{
    uint64_t cpu = thread_cpu_ns();
    pthread_mutex_lock(&w->pub_lock);
    w->pub_cpu_ns += cpu - w->cpu_mark_ns;
    w->pub_wall_ns += w->now_ns - w->wall_mark_ns;
    w->cpu_mark_ns = cpu;
    w->wall_mark_ns = w->now_ns;
    for (int i = 0; i < w->nslots; i++) {
        mcs_stats_add(&w->slots[i]->pub, &w->slots[i]->cur);
        mcs_stats_reset(&w->slots[i]->cur);
    }
    pthread_mutex_unlock(&w->pub_lock);
}

void mcs_worker_ask_publish(struct mcs_worker *w)
{
    atomic_fetch_add(&w->pub_asked, 1);
}

void mcs_worker_collect(struct mcs_worker *w)
{
    /* a worker looks at least every 50 ms; a finished one published last */
    for (int i = 0; i < 40 && !atomic_load(&w->done) &&
                    atomic_load(&w->pub_done) != atomic_load(&w->pub_asked); i++) {
        struct timespec ts = { 0, 5 * 1000000 };
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&w->pub_lock);
    w->cpu_ns += w->pub_cpu_ns;
    w->wall_ns += w->pub_wall_ns;
    w->pub_cpu_ns = w->pub_wall_ns = 0;
    for (int i = 0; i < w->nslots; i++) {
        mcs_stats_add(&w->slots[i]->wl->interval, &w->slots[i]->pub);
        mcs_stats_reset(&w->slots[i]->pub);
    }
    pthread_mutex_unlock(&w->pub_lock);
}

/* --- the loop --- */

/* Registered file slots: as many as a worker may well have connections. */
#define MCS_FILE_SLOTS 16384

static void file_slots_init(struct mcs_worker *w)
{
    unsigned n = w->run->nofile < MCS_FILE_SLOTS ? (unsigned)w->run->nofile : MCS_FILE_SLOTS;
    w->nfree_slots = 0;
    if (n == 0 || (w->free_slots = malloc(n * sizeof(int))) == NULL)
        return;
    if (io_uring_register_files_sparse(&w->ring, n) != 0) {
        free(w->free_slots);
        w->free_slots = NULL;
        return; /* sockets are used by descriptor */
    }
    for (unsigned i = 0; i < n; i++)
        w->free_slots[i] = (int)(n - 1 - i);
    w->nfree_slots = (int)n;
}

int mcs_worker_file_slot(struct mcs_worker *w, int fd)
{
    if (!w->ring_ok || w->nfree_slots == 0)
        return -1;
    int slot = w->free_slots[w->nfree_slots - 1];
    if (io_uring_register_files_update(&w->ring, (unsigned)slot, &fd, 1) != 1)
        return -1;
    w->nfree_slots--;
    return slot;
}

void mcs_worker_file_release(struct mcs_worker *w, int slot)
{
    if (slot < 0 || !w->ring_ok)
        return; /* the ring, and its slots, are gone */
    int none = -1;
    io_uring_register_files_update(&w->ring, (unsigned)slot, &none, 1);
    w->free_slots[w->nfree_slots++] = slot;
}

static int ring_init(struct mcs_worker *w)
{
    /* Newest flags first; older kernels get the plainer set-ups. */
    const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    static const char *names[] = { "SINGLE_ISSUER+DEFER_TASKRUN", "COOP_TASKRUN", "plain" };
    int ret = -EINVAL;
    size_t i;
    for (i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        struct io_uring_params p = { .flags = tries[i] | IORING_SETUP_CQSIZE,
                                     .cq_entries = MCS_RING_ENTRIES * 4 };
        ret = io_uring_queue_init_params(MCS_RING_ENTRIES, &w->ring, &p);
        if (ret == 0)
            break;
    }
    if (ret < 0)
        return ret;
    bool fd_registered = io_uring_register_ring_fd(&w->ring) == 1;
    w->ring_ok = true;
    file_slots_init(w);
    static atomic_bool told;
    if (w->run->verbose && !atomic_exchange(&told, true)) {
        struct utsname u;
        uname(&u);
        fprintf(stderr, "mcshredder: io_uring on Linux %s: %s set-up, %u SQEs, %u CQEs, "
                        "ring fd %s, %d registered file slots; recv with POLL_FIRST, "
                        "request timeouts checked every %s\n", u.release, names[i],
                w->ring.sq.ring_entries, w->ring.cq.ring_entries,
                fd_registered ? "registered" : "not registered", w->nfree_slots,
                "1/20 of --timeout (1..50 ms)");
    }
    return 0;
}

/* Idle connections give back their buffers, and the allocator gives the
 * memory back to the system, so 10,000 idle connections stay small. */
static void sweep_idle(struct mcs_worker *w)
{
    bool freed = false;
    for (struct mcs_conn *c = w->conns; c; c = c->next)
        freed |= mcs_conn_sweep(c);
    if (freed)
        malloc_trim(0);
}

static void check_timeouts(struct mcs_worker *w)
{
    if (w->run->timeout_ns == 0)
        return;
    for (struct mcs_conn *c = w->conns; c; c = c->next)
        mcs_conn_check_timeout(c, w->now_ns);
}

static void begin_stop(struct mcs_worker *w)
{
    w->stopping = true;
    for (int i = 0; i < w->ncos; i++) {
        co_cancel_timers(w->cos[i]);
        co_finish(w->cos[i]);
    }
    for (struct mcs_conn *c = w->conns; c; c = c->next)
        mcs_conn_close(c);
}

static void drain_cqes(struct mcs_worker *w)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&w->ring, head, cqe) {
        struct mcs_event *ev = io_uring_cqe_get_data(cqe);
        n++;
        if (ev == NULL)
            continue;
        ev->inflight = false;
        w->inflight--;
        ev->cb(ev, cqe);
    }
    io_uring_cq_advance(&w->ring, n);
}

/* --pin: the worker's thread on the id-th CPU the process may use (wrapping
 * around), so that threads do not migrate and caches stay warm. */
static void pin_thread(struct mcs_worker *w)
{
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0 || CPU_COUNT(&allowed) == 0)
        return;
    int want = w->id % CPU_COUNT(&allowed), cpu = -1;
    for (int i = 0; i < CPU_SETSIZE && want >= 0; i++)
        if (CPU_ISSET(i, &allowed) && want-- == 0)
            cpu = i;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    int ret = pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
    if (ret != 0)
        fprintf(stderr, "mcshredder: warning: --pin: worker %d cannot be pinned to CPU %d: "
                        "%s\n", w->id, cpu, strerror(ret));
    else if (w->run->verbose)
        fprintf(stderr, "mcshredder: worker %d pinned to CPU %d\n", w->id, cpu);
}

static void *worker_main(void *arg)
{
    struct mcs_worker *w = arg;
    if (w->run->pin)
        pin_thread(w);
    /* The ring is made here: with SINGLE_ISSUER only its creator submits. */
    int ret = ring_init(w);
    if (ret < 0) {
        fprintf(stderr, "mcshredder: cannot set up io_uring: %s\n", strerror(-ret));
        mcs_run_fail(w->run, MCS_EXIT_FAIL);
        atomic_store(&w->run->halt, 1);
        atomic_store(&w->done, true);
        return NULL;
    }
    w->now_ns = mcs_now_ns();
    w->cpu_mark_ns = thread_cpu_ns();
    w->wall_mark_ns = w->now_ns;
    w->active = w->ncos;
    for (int i = 0; i < w->ncos; i++)
        mcs_co_wake(w->cos[i]);
    /* request timeouts are checked this often: a twentieth of --timeout,
     * within 1 to 50 ms (the loop wakes at least this often when idle) */
    uint64_t check_ns = w->run->timeout_ns ? w->run->timeout_ns / 20 : 50000000;
    check_ns = check_ns < 1000000 ? 1000000 : check_ns > 50000000 ? 50000000 : check_ns;
    uint64_t next_check = w->now_ns + check_ns;

    for (;;) {
        run_ready(w);
        if (!w->stopping && (atomic_load(&w->stop) || atomic_load(&w->run->stop)))
            begin_stop(w);
        if (w->active == 0 && !w->stopping)
            begin_stop(w); /* every client is done: stop their leftovers */
        if (w->stopping && w->inflight == 0 && w->ready == NULL)
            break;
        unsigned asked = atomic_load(&w->pub_asked);
        if (asked != atomic_load(&w->pub_done)) {
            publish(w);
            sweep_idle(w);
            atomic_store(&w->pub_done, asked);
        }
        struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = check_ns };
        struct io_uring_cqe *cqe;
        io_uring_submit_and_wait_timeout(&w->ring, &cqe, w->ready ? 0 : 1, &ts, NULL);
        w->now_ns = mcs_now_ns();
        drain_cqes(w);
        if (w->now_ns >= next_check) {
            check_timeouts(w);
            next_check = w->now_ns + check_ns;
        }
    }
    w->now_ns = mcs_now_ns();
    publish(w);
    /* the ring's file slots go with it; a connection that lives on (a
     * client kept in a global) goes back to its descriptor */
    for (struct mcs_conn *c = w->conns; c; c = c->next)
        c->fslot = -1;
    io_uring_queue_exit(&w->ring);
    w->ring_ok = false;
    free(w->free_slots);
    w->free_slots = NULL;
    w->nfree_slots = 0;
    atomic_store(&w->done, true);
    return NULL;
}

int mcs_worker_start(struct mcs_worker *w)
{
    int ret;
    w->stopping = false;
    atomic_store(&w->stop, false);
    atomic_store(&w->done, false);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals go to the main thread */
    ret = pthread_create(&w->tid, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -ret;
}

void mcs_worker_join(struct mcs_worker *w)
{
    pthread_join(w->tid, NULL);
}

void mcs_worker_reset(struct mcs_worker *w)
{
    for (int i = 0; i < w->ncos; i++) {
        struct mcs_co *co = w->cos[i];
        if (w->L) {
            if (co->own_func)
                luaL_unref(w->L, LUA_REGISTRYINDEX, co->func_ref);
            luaL_unref(w->L, LUA_REGISTRYINDEX, co->L_ref);
        }
        mcs_conn_release(co->conn);
        free(co);
    }
    free(w->cos);
    w->cos = NULL;
    w->ncos = 0;
    for (int i = 0; i < w->nslots; i++) {
        if (w->L) {
            luaL_unref(w->L, LUA_REGISTRYINDEX, w->slots[i]->func_ref);
            luaL_unref(w->L, LUA_REGISTRYINDEX, w->slots[i]->arg_ref);
        }
        mcs_stats_free(&w->slots[i]->cur);
        mcs_stats_free(&w->slots[i]->pub);
        free(w->slots[i]);
    }
    free(w->slots);
    w->slots = NULL;
    w->nslots = 0;
    w->ready = w->ready_tail = NULL;
    if (w->L)
        lua_gc(w->L, LUA_GCCOLLECT);
}
