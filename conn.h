/* conn.h: a client connection: socket, buffers, the I/O it has in flight on
 * its worker's ring, and the queue of requests waiting for responses (so
 * every request is timed and counted without the script's help). */
#ifndef MCS_CONN_H
#define MCS_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <liburing.h>
#include "buf.h"
#include "proto_text.h"
#include "stats.h"

struct mcs_worker;
struct mcs_co;
struct mcs_target;

/* What a CQE's user_data points at. */
struct mcs_event {
    void (*cb)(struct mcs_event *ev, struct io_uring_cqe *cqe);
    void *ctx;
    bool inflight;
};

/* A request written and not yet answered. */
struct mcs_pending {
    uint64_t t_ns;       /* when it was flushed */
    uint64_t intended_ns; /* open loop: its run's slot in the schedule */
    uint8_t kind;        /* enum mcs_kind */
    uint8_t quiet;       /* meta q: may get no response */
    uint16_t nkeys;      /* get family: keys asked for */
    uint16_t values;     /* get family: VALUE lines seen so far */
    uint64_t key_hash;   /* of its (first) key, for validation; 0: unknown */
};

enum mcs_conn_state {
    MCS_CONN_CLOSED = 0,
    MCS_CONN_CONNECTING,
    MCS_CONN_HANDSHAKE,  /* transport (TLS) handshake under way */
    MCS_CONN_OPEN,
    MCS_CONN_FAILED,     /* error seen; close once nothing is in flight */
};

/* What a coroutine waits for on this connection. */
enum mcs_conn_wait {
    MCS_WAIT_NONE = 0, MCS_WAIT_CONNECT, MCS_WAIT_READ,
    MCS_WAIT_IDLE,       /* until nothing is in flight (before a reconnect) */
};

struct mcs_conn;

/* How bytes cross the socket. conn.c does all the I/O; a transport only
 * transforms buffers. Plain TCP is the NULL transport: flushed requests
 * go to the socket as they are and received bytes are the responses. TLS
 * (tls.c) encrypts wbuf into obuf and decrypts ibuf into rbuf. After every
 * call conn.c sends whatever the transport left in obuf. */
struct mcs_transport {
    /* The socket connected. 0: ready; 1: handshake started; -errno. */
    int (*start)(struct mcs_conn *c);
    /* Bytes arrived in ibuf during the handshake. 0 done, 1 more, -errno. */
    int (*handshake)(struct mcs_conn *c);
    /* Moves the flushed requests in wbuf into obuf. 0 or -errno. */
    int (*encode)(struct mcs_conn *c);
    /* Bytes arrived in ibuf: appends what it can decode to rbuf.
     * Returns the bytes added (0: needs more), or -errno. */
    int (*decode)(struct mcs_conn *c);
    /* Orderly close: its goodbye (close_notify) into obuf. */
    void (*shutdown)(struct mcs_conn *c);
    /* The socket is gone: frees per-socket state. */
    void (*release)(struct mcs_conn *c);
    /* Frees what outlives sockets (e.g. a saved session). */
    void (*destroy)(struct mcs_conn *c);
    /* The connection went idle: drop memory that is rebuilt on demand.
     * Returns true when something was freed. */
    bool (*idle)(struct mcs_conn *c);
};

/* Owned by its coroutine (standard workloads) or by a client userdata
 * (mcs.client_new); freed with mcs_conn_free only when nothing is in flight. */
struct mcs_conn {
    struct mcs_worker *w;
    const struct mcs_target *target;
    struct mcs_stats *stats;     /* the workload's counters */
    int fd;
    int fslot;                   /* its registered file slot, or -1 */
    enum mcs_conn_state state;
    int err;                     /* why it failed: -errno, or -EPROTO */
    enum mcs_err err_kind;
    enum mcs_tls_err tls_err;    /* why TLS failed */
    const char *tls_detail;      /* OpenSSL's words, for MCS_TLS_ERR_OTHER */
    bool ever_connected;

    const struct mcs_transport *tp;  /* NULL: plain */
    void *tls;                   /* the transport's per-connection state */

    struct mcs_buf wbuf;         /* requests being written by the script */
    struct mcs_buf scan;         /* raw bytes of a command not yet whole */
    struct mcs_buf obuf;         /* socket write buffer: flushed, not sent */
    struct mcs_buf sbuf;         /* bytes handed to the kernel */
    size_t sent;                 /* of sbuf */
    struct mcs_buf ibuf;         /* socket read buffer (TLS: ciphertext) */
    size_t ipos;                 /* of ibuf: bytes the transport consumed */
    struct mcs_buf rbuf;         /* responses; parsed from rpos */
    size_t rpos;
    uint32_t gen;                /* bumps when rbuf contents move */
    uint64_t rtime_ns;           /* when the latest bytes arrived */

    struct mcs_event ev_connect, ev_send, ev_recv, ev_cancel, ev_timeout;
    struct __kernel_timespec timeout_ts;  /* connect + handshake deadline */
    bool timing_out;             /* its recv is being cancelled: timed out */
    int inflight;                /* SQEs in flight, cancels included */

    struct mcs_co *waiter;       /* coroutine blocked on this connection */
    enum mcs_conn_wait wait;

    struct mcs_pending *pend;    /* ring of requests awaiting responses */
    uint32_t pend_head, pend_len, pend_cap;
    uint32_t pend_unsent;        /* newest entries not flushed yet */
    uint64_t intended_ns;        /* the current run's slot; 0: closed loop */

    bool validate;               /* check every value read (--validate) */
    bool orphaned;               /* its owner is gone: free when idle */
    bool busy;                   /* used since the last idle sweep */
    struct mcs_conn *prev, *next; /* the worker's list of connections */
};

/* Connecting, handshake included, may take this long. */
#define MCS_CONNECT_TIMEOUT_MS 5000

struct mcs_conn *mcs_conn_new(struct mcs_worker *w, const struct mcs_target *t,
                              struct mcs_stats *stats);
/* Frees now if nothing is in flight, else cancels and frees when idle. */
void mcs_conn_release(struct mcs_conn *c);

/* Starts a connect; waiter (may be NULL) is woken when it ends. 0 or -errno
 * (the socket could not even be created). */
int mcs_conn_connect(struct mcs_conn *c, struct mcs_co *waiter);
/* Closes the socket (cancelling what is in flight); buffers are kept. */
void mcs_conn_close(struct mcs_conn *c);
static inline bool mcs_conn_idle(const struct mcs_conn *c) { return c->inflight == 0; }

/* Appends a request line (plus a generated value of vlen bytes when vlen >
 * 0, derived from key_hash) and queues it as awaiting a response. */
int mcs_conn_write_req(struct mcs_conn *c, const char *line, size_t len,
                       enum mcs_cmd cmd, bool quiet, bool noreply, uint16_t nkeys,
                       uint32_t vlen, uint64_t key_hash);
/* Appends raw bytes a script wrote; the commands in them are queued. */
int mcs_conn_write_raw(struct mcs_conn *c, const char *data, size_t len);
/* Room for n more bytes at the end of wbuf (NULL on ENOMEM); commit with
 * mcs_conn_commit_req. Used by factories to format in place. */
char *mcs_conn_wbuf_room(struct mcs_conn *c, size_t n);
int mcs_conn_commit_req(struct mcs_conn *c, size_t len, enum mcs_cmd cmd,
                        bool quiet, uint16_t nkeys, uint64_t key_hash);

/* Fails the connection when its oldest request ran out of time (--timeout)
 * while it waits for responses. Called by its worker every so often. */
void mcs_conn_check_timeout(struct mcs_conn *c, uint64_t now_ns);

/* Sends what was written: it goes out now, or as soon as the send in
 * flight completes. 0, or -errno when the connection is down. */
int mcs_conn_flush(struct mcs_conn *c);

/* For transports: room at the end of rbuf for decoded bytes (*len of it);
 * commit by adding to c->rbuf.used. NULL on ENOMEM. */
char *mcs_conn_rbuf_room(struct mcs_conn *c, size_t *len);

/* Parses the next response. 0: *res filled (offsets relative to *base).
 * 1: need more bytes: a recv was started; wait with MCS_WAIT_READ.
 * -errno: connection failed (already counted). */
int mcs_conn_read(struct mcs_conn *c, struct mcs_res *res, const char **base);
/* Same for one line ending in "\n" (readline): *len excludes "\r\n". */
int mcs_conn_readline(struct mcs_conn *c, const char **line, size_t *len);

/* Records why TLS failed, before mcs_conn_fail(c, err, MCS_ERR_TLS). */
static inline void mcs_conn_tls_error(struct mcs_conn *c, enum mcs_tls_err e,
                                      const char *detail)
{
    c->tls_err = e;
    c->tls_detail = detail;
}

/* Marks the connection failed with err (-errno) of kind, counts it, and
 * cancels what is in flight. The waiter is woken. */
void mcs_conn_fail(struct mcs_conn *c, int err, enum mcs_err kind);

/* Called once per interval: a connection unused since the last call
 * releases its empty buffers, so idle connections stay small. Returns
 * true when it freed memory. */
bool mcs_conn_sweep(struct mcs_conn *c);

/* Kind of request a command is counted as. */
enum mcs_kind mcs_cmd_kind(enum mcs_cmd cmd);

#endif
