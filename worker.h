/* worker.h: a worker thread: one io_uring, one Lua VM, its coroutines (one
 * per client), and the per-workload counters it publishes once per
 * interval. Nothing here is touched by other threads on the hot path. */
#ifndef MCS_WORKER_H
#define MCS_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <liburing.h>
#include <lua.h>
#include "conn.h"
#include "run.h"
#include "stats.h"

/* Stored in every Lua state's extra space: who is running. */
struct mcs_lctx {
    struct mcs_run *run;
    struct mcs_worker *w;   /* NULL in the config VM */
    struct mcs_co *co;      /* NULL outside a coroutine */
    uint32_t ndists;        /* distributions made here (lua_dist.c) */
};
static inline struct mcs_lctx *mcs_lctx(lua_State *L)
{
    return *(struct mcs_lctx **)lua_getextraspace(L);
}

/* A workload's options as mcs.add parsed them. */
struct mcs_wl_opts {
    int clients;             /* per thread */
    uint64_t period_ns;      /* per client between run starts; 0 = no limit */
    uint64_t start_step_ns;  /* offset between clients' first runs */
    int64_t limit;           /* runs per client; 0 = unlimited */
    uint32_t reconn_every;   /* runs per connection; 0 = never */
    bool custom;             /* add_custom: no connection of its own */
    bool poisson;            /* random (Poisson) arrivals, else evenly spaced */
    bool validate;           /* check every value read */
    int thread_pos, nthreads;  /* this thread among the workload's threads */
    const struct mcs_target *target;  /* where its connections go */
};

/* One workload on one worker. */
struct mcs_slot {
    struct mcs_workload *wl;
    struct mcs_wl_opts opts;
    struct mcs_stats cur;    /* counted by the coroutines */
    struct mcs_stats pub;    /* published, under the worker's pub_lock */
    int func_ref, arg_ref;   /* shared by its clients (LUA_NOREF: none) */
    int id;                  /* its index among the worker's slots */
};

enum mcs_co_state {
    MCS_CO_START = 0,     /* needs a connection */
    MCS_CO_CONNECTING,
    MCS_CO_READY,         /* on the run queue */
    MCS_CO_WAIT_IO,       /* yielded inside mcs.read/flush/connect */
    MCS_CO_TIMER,         /* rate limit slot, sleep or out_wait */
    MCS_CO_BACKOFF,       /* reconnecting after an error */
    MCS_CO_DONE,
};

/* A client: a Lua coroutine running a workload function. */
struct mcs_co {
    struct mcs_worker *w;
    struct mcs_slot *slot;
    struct mcs_lctx lctx;
    lua_State *L;
    int L_ref, func_ref, arg_ref;
    int index;                /* within its workload on this worker */
    enum mcs_co_state state;
    struct mcs_conn *conn;    /* default connection; NULL for custom */
    bool custom;              /* add_custom: runs once, no connection */
    bool own_func;            /* func_ref is its own (init), not the slot's */
    bool in_run;              /* a function call is in progress */
    bool queued;              /* on the run queue */
    bool conn_ready;          /* connected and its schedule set */
    bool backing_off;         /* waiting to reconnect */
    bool yielded;             /* the current run waited for something */
    int64_t runs_left;        /* 0 = unlimited */
    uint32_t reconn_left;
    uint64_t next_run_ns;     /* the next run's slot in the schedule */
    uint64_t rng;             /* xorshift state for Poisson arrivals */
    uint32_t ndists;          /* distributions it made (lua_dist.c) */
    uint32_t backoff_ms;
    struct mcs_event ev_timer, ev_poll;
    struct __kernel_timespec ts;
    struct mcs_co *next_ready;
};

struct mcs_worker {
    int id;
    struct mcs_run *run;
    lua_State *L;
    struct mcs_lctx lctx;
    pthread_t tid;
    struct io_uring ring;
    bool ring_ok;
    uint64_t now_ns;

    struct mcs_slot **slots;
    int nslots;
    struct mcs_co **cos;
    int ncos;
    struct mcs_co *ready, *ready_tail;   /* run queue */
    struct mcs_co *init_co;              /* whose init function is running */
    int *free_slots;                     /* registered file slots not in use */
    int nfree_slots;
    int active;                          /* coroutines not done */
    int inflight;                        /* SQEs in flight */
    struct mcs_conn *conns;              /* every live connection */
    struct mcs_event ev_ignore;          /* for SQEs whose result is unused */

    pthread_mutex_t pub_lock;
    atomic_uint pub_asked, pub_done;     /* main asks, the worker answers */
    uint64_t cpu_mark_ns, wall_mark_ns;  /* at the last publish */
    /* Under pub_lock: the thread's CPU and wall time since main last took
     * them, so the run can say when the client is the bottleneck. */
    uint64_t pub_cpu_ns, pub_wall_ns;
    uint64_t cpu_ns, wall_ns;            /* main's running totals, all phases */
    atomic_bool stop;                    /* asked by main */
    atomic_bool done;                    /* the thread finished its phase */
    atomic_int last_connect_err;         /* -errno of the latest failed connect */
    _Atomic(const char *) last_tls_reason; /* of the latest failed handshake */
    struct mcs_stats orphan_stats;       /* for clients outliving a phase */
    bool stopping;
};

uint64_t mcs_now_ns(void);

int mcs_worker_init(struct mcs_worker *w, struct mcs_run *run, int id);
void mcs_worker_free(struct mcs_worker *w);
/* Adds a workload's coroutines (config phase, worker not running).
 * Returns 0 or a Lua error raised on Lconf. */
int mcs_worker_add(struct mcs_worker *w, lua_State *Lconf, struct mcs_workload *wl,
                   const struct mcs_wl_opts *opts, int arg_idx, bool use_init);
int mcs_worker_start(struct mcs_worker *w);
void mcs_worker_join(struct mcs_worker *w);
/* Drops the phase's coroutines after the thread ended. */
void mcs_worker_reset(struct mcs_worker *w);
/* Main thread: asks the worker to publish its counters now. */
void mcs_worker_ask_publish(struct mcs_worker *w);
/* Main thread: waits (briefly) for the publication, then moves the
 * counters into each workload's interval. */
void mcs_worker_collect(struct mcs_worker *w);

/* Registers fd in a file slot of the worker's ring, so operations on it
 * skip the kernel's file lookup. Returns the slot, or -1 (use fd). */
int mcs_worker_file_slot(struct mcs_worker *w, int fd);
void mcs_worker_file_release(struct mcs_worker *w, int slot);

/* Called by the Lua bindings. */
struct io_uring_sqe *mcs_sqe(struct mcs_worker *w);
/* Makes sure the next n mcs_sqe calls come from one submission, as linked
 * SQEs must. */
void mcs_sqe_reserve(struct mcs_worker *w, unsigned n);
void mcs_event_arm(struct mcs_worker *w, struct mcs_event *ev, struct io_uring_sqe *sqe);
void mcs_co_wake(struct mcs_co *co);
int mcs_co_sleep(struct mcs_co *co, uint64_t ms);
int mcs_co_out_wait(struct mcs_co *co);
void mcs_script_error(struct mcs_worker *w, lua_State *co, const char *where);

#endif
