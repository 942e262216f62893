/* run.h: what the whole process shares: the server target, the workloads
 * and their merged results, the out stream between workers, stop flags.
 * Owned by main (mcshredder.c); workers only read it, except where noted. */
#ifndef MCS_RUN_H
#define MCS_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <lua.h>
#include "series.h"
#include "stats.h"
#include "tap.h"

/* Exit codes (docs/cli.md). */
enum {
    MCS_EXIT_OK = 0,
    MCS_EXIT_FAIL = 1,      /* validation or assertion failure */
    MCS_EXIT_USAGE = 2,     /* bad flags, script error */
    MCS_EXIT_CONNECT = 3,   /* server unreachable */
};

/* A resolved server address: host names are resolved once, at start. */
struct mcs_target {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char name[300];          /* "host:port" or the socket path, for messages */
    const struct mcs_transport *tp;  /* NULL: plain TCP or Unix socket */
    struct mcs_tls_ctx *tls;         /* with the TLS transport */
};

/* A workload: one mcs.add/add_custom call. Results are merged here by the
 * main thread from the workers' published copies. */
struct mcs_workload {
    char *name;              /* the func name */
    int phase;               /* 1-based */
    double duration_s;       /* wall time of its phase */
    bool custom;             /* add_custom: no connection of its own */
    double target_runs_per_s;   /* rate-limited: runs per second; 0: none */
    uint64_t limit_runs;        /* every client has a run limit: their sum */
    struct mcs_series series;   /* one row per interval */
    struct mcs_stats interval;  /* since the last live line */
    struct mcs_stats total;
    struct mcs_workload *next;
};

/* The out stream: mcs.out lines from any worker, read by mcs.out_readline. */
struct mcs_out {
    pthread_mutex_t lock;
    char *buf;
    size_t used, size;
    int efd;                 /* eventfd, readable when lines are waiting */
};

struct mcs_worker;
struct mcs_assert;
struct mcs_hdrlog;
struct mcs_transport;
struct mcs_tls_ctx;

struct mcs_run {
    lua_State *L;            /* the config VM */
    const char *script_path; /* --conf, or NULL for the built-in workload */
    const char *script_text; /* built-in script when script_path is NULL */
    int args_ref;            /* the args table in the config VM */
    struct mcs_target target;        /* the default: --server, plain or --tls */
    struct mcs_target plain_target;  /* for tls=false overrides */
    struct mcs_target tls_target;    /* for tls=true; its tls NULL if none */
    const void *tls_opts;            /* struct mcs_tls_opts, for clients */
    struct mcs_workload *workloads, **wl_tail;
    int nworkloads;
    int phase;               /* number of mcs.shredder calls so far */
    double total_duration_s;
    double interval_s;       /* live line period */
    uint64_t timeout_ns;     /* a request unanswered this long fails; 0: never */
    uint64_t nofile;         /* the descriptor limit, after raising it */
    bool quiet;              /* no live line */
    bool verbose;            /* -v: say which io_uring features are used */
    bool pin;                /* --pin: worker i runs on the i-th allowed CPU */
    struct mcs_out out;
    atomic_int stop;         /* ends the current phase (mcs.stop) */
    atomic_int halt;         /* ends the run: a signal or a script error */
    atomic_int interrupted;  /* a signal asked to stop */
    atomic_int exit_code;    /* worst exit code seen so far */
    atomic_uint mismatches_printed; /* validation mismatches told so far */
    struct mcs_worker **workers; /* created by mcs.thread, freed at exit */
    int nworkers;
    const char *default_host; /* for mcs.client_new without a host */
    const char *default_port;
    const char *default_sock;  /* --sock */
    struct mcs_tap tap;        /* mcs.plan / mcs.ok output */
    struct mcs_hdrlog *hdrlog; /* --hdr-log */
    uint64_t t0_ns;            /* when the run started */
    uint64_t seed;             /* of every distribution (--seed) */
    bool seed_given;           /* --seed: math.random is seeded too */
    struct mcs_assert **asserts; /* --assert and mcs.assert, checked at the end */
    int nasserts;
    /* Kept from one interval to the next so that ending an interval
     * allocates nothing: the sum of the workloads, and a histogram to merge
     * command kinds into (phase.c). */
    struct mcs_stats tick_sum;
    struct mcs_hist *tick_scratch;
};

/* Validation mismatches printed with their key; the rest are only counted. */
#define MCS_MISMATCHES_PRINTED 5

/* Runs one phase (mcs.shredder): phase.c. */
int mcs_phase_run(struct mcs_run *run, struct mcs_worker **w, int n, double secs);

/* Raises the run's exit code to code if it is worse than the current one. */
static inline void mcs_run_fail(struct mcs_run *run, int code)
{
    int cur = atomic_load(&run->exit_code);
    while (code > cur && !atomic_compare_exchange_weak(&run->exit_code, &cur, code))
        ;
}

#endif
