/* stats.h: per-workload counters and latency histograms.
 * A worker owns its mcs_stats and adds to them with no locks; the main
 * thread merges copies at interval boundaries (see worker.c). */
#ifndef MCS_STATS_H
#define MCS_STATS_H

#include <stdint.h>
#include "hist.h"

/* Command kinds that requests are timed and counted by. */
enum mcs_kind {
    MCS_KIND_GET = 0,   /* get gets gat gats */
    MCS_KIND_SET,       /* set add replace append prepend cas */
    MCS_KIND_DELETE,
    MCS_KIND_TOUCH,
    MCS_KIND_INCR,      /* incr decr */
    MCS_KIND_MG, MCS_KIND_MS, MCS_KIND_MD, MCS_KIND_MA, MCS_KIND_MN,
    MCS_KIND_OTHER,     /* stats version flush_all verbosity me, unknown */
    MCS_KIND_MAX
};
const char *mcs_kind_name(enum mcs_kind k);  /* "get", "set", ... */

/* Error kinds. */
enum mcs_err {
    MCS_ERR_ERROR = 0,      /* server said ERROR */
    MCS_ERR_CLIENT_ERROR,
    MCS_ERR_SERVER_ERROR,
    MCS_ERR_PROTOCOL,       /* malformed response: connection reset */
    MCS_ERR_CONNECT,        /* connect failed */
    MCS_ERR_RESET,          /* peer reset or closed the connection */
    MCS_ERR_TIMEOUT,
    MCS_ERR_TLS,
    MCS_ERR_MAX
};
const char *mcs_err_name(enum mcs_err e);    /* "server_error", ... */

/* Why TLS failed: each MCS_ERR_TLS error is also counted by reason. */
enum mcs_tls_err {
    MCS_TLS_ERR_OTHER = 0,
    MCS_TLS_ERR_UNKNOWN_CA,      /* the server's certificate */
    MCS_TLS_ERR_HOSTNAME,
    MCS_TLS_ERR_EXPIRED,
    MCS_TLS_ERR_CERT,            /* other certificate problems */
    MCS_TLS_ERR_NOT_TLS,         /* a plain server on a TLS connection */
    MCS_TLS_ERR_SERVER_TLS,      /* a TLS server on a plain connection */
    MCS_TLS_ERR_VERSION,
    MCS_TLS_ERR_CIPHER,
    MCS_TLS_ERR_CLIENT_CERT,     /* the server wants or refuses ours */
    MCS_TLS_ERR_TIMEOUT,
    MCS_TLS_ERR_CLOSED,          /* closed during the handshake */
    MCS_TLS_ERR_MAX
};
const char *mcs_tls_err_name(enum mcs_tls_err e);  /* "unknown_ca", ... */
const char *mcs_tls_err_text(enum mcs_tls_err e);  /* a sentence for users */

struct mcs_stats {
    uint64_t ops[MCS_KIND_MAX];     /* responses completed, by kind */
    uint64_t hits, misses;
    uint64_t errors[MCS_ERR_MAX];
    uint64_t bytes_in, bytes_out;
    uint64_t connects;              /* successful connects, first ones too */
    uint64_t reconnects;            /* connects after the first, per client */
    struct mcs_hist *lat[MCS_KIND_MAX];  /* allocated on first use */
    /* Rate-limited (open loop) workloads: lat[] is measured from each run's
     * intended start; svc is the raw service time, flush to response. */
    struct mcs_hist *svc;
    uint64_t runs;                  /* workload function calls completed */
    uint64_t late_runs;             /* started over 1 ms after their slot */
    uint64_t lag_max_ns;            /* the latest a run started */
    uint64_t tls_handshakes;        /* completed, resumed ones included */
    uint64_t tls_resumed;
    uint64_t tls_errors[MCS_TLS_ERR_MAX];
    struct mcs_hist *tls_hs;        /* handshake times; on first use */
    uint64_t validated;             /* values checked (validate) */
    uint64_t mismatches;            /* of those, not what a set writes */
};

void mcs_stats_init(struct mcs_stats *s);      /* zero everything */
void mcs_stats_free(struct mcs_stats *s);      /* frees histograms */
void mcs_stats_reset(struct mcs_stats *s);     /* zero, keep histograms */
/* dst += src (allocating dst histograms as needed). 0 or -ENOMEM. */
int mcs_stats_add(struct mcs_stats *dst, const struct mcs_stats *src);
/* Counts one completed request of kind k that took ns nanoseconds. */
void mcs_stats_record(struct mcs_stats *s, enum mcs_kind k, uint64_t ns);
/* Counts one raw service time of an open-loop request. */
void mcs_stats_record_service(struct mcs_stats *s, uint64_t ns);
/* Counts one TLS handshake time. */
void mcs_stats_record_handshake(struct mcs_stats *s, uint64_t ns);
uint64_t mcs_stats_ops(const struct mcs_stats *s);      /* all kinds */
uint64_t mcs_stats_errors(const struct mcs_stats *s);   /* all kinds */
/* All kinds merged into one histogram (caller frees); NULL if none. */
struct mcs_hist *mcs_stats_lat_all(const struct mcs_stats *s);
/* The same without an allocation per call, for what runs every interval:
 * s's own histogram when only one kind has latencies, else all of them
 * merged into *scratch (allocated on first use; the caller keeps it for the
 * next call and frees it). NULL if there are none or memory ran out. */
const struct mcs_hist *mcs_stats_lat_merged(const struct mcs_stats *s,
                                            struct mcs_hist **scratch);

#endif
