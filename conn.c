/* conn.c: client connections on a worker's io_uring: connect, send the
 * write buffer, receive and parse responses, and time every request from
 * when it was written to when its response arrived. */
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "run.h"
#include "worker.h"

/* Buffers above this size are freed when they empty out. */
#define MCS_CONN_KEEP (64 * 1024)
/* Free room asked of rbuf before each recv. */
#define MCS_RECV_MIN (16 * 1024)

static void conn_on_connect(struct mcs_event *ev, struct io_uring_cqe *cqe);
static void conn_on_send(struct mcs_event *ev, struct io_uring_cqe *cqe);
static void conn_on_recv(struct mcs_event *ev, struct io_uring_cqe *cqe);
static void conn_on_cancel(struct mcs_event *ev, struct io_uring_cqe *cqe);
static void conn_on_timeout(struct mcs_event *ev, struct io_uring_cqe *cqe);
static void conn_cancel(struct mcs_conn *c, struct mcs_event *ev);
static void conn_wake(struct mcs_conn *c, enum mcs_conn_wait why);

enum mcs_kind mcs_cmd_kind(enum mcs_cmd cmd)
{
    switch (cmd) {
    case MCS_CMD_GET: case MCS_CMD_GETS: case MCS_CMD_GAT: case MCS_CMD_GATS:
        return MCS_KIND_GET;
    case MCS_CMD_SET: case MCS_CMD_ADD: case MCS_CMD_REPLACE:
    case MCS_CMD_APPEND: case MCS_CMD_PREPEND: case MCS_CMD_CAS:
        return MCS_KIND_SET;
    case MCS_CMD_DELETE: return MCS_KIND_DELETE;
    case MCS_CMD_TOUCH: return MCS_KIND_TOUCH;
    case MCS_CMD_INCR: case MCS_CMD_DECR: return MCS_KIND_INCR;
    case MCS_CMD_MG: return MCS_KIND_MG;
    case MCS_CMD_MS: return MCS_KIND_MS;
    case MCS_CMD_MD: return MCS_KIND_MD;
    case MCS_CMD_MA: return MCS_KIND_MA;
    case MCS_CMD_MN: return MCS_KIND_MN;
    default: return MCS_KIND_OTHER;
    }
}

struct mcs_conn *mcs_conn_new(struct mcs_worker *w, const struct mcs_target *t,
                              struct mcs_stats *stats)
{
    struct mcs_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->w = w;
    c->target = t;
    c->stats = stats;
    c->fd = -1;
    c->fslot = -1;
    c->ev_connect = (struct mcs_event){ .cb = conn_on_connect, .ctx = c };
    c->ev_send = (struct mcs_event){ .cb = conn_on_send, .ctx = c };
    c->ev_recv = (struct mcs_event){ .cb = conn_on_recv, .ctx = c };
    c->ev_cancel = (struct mcs_event){ .cb = conn_on_cancel, .ctx = c };
    c->ev_timeout = (struct mcs_event){ .cb = conn_on_timeout, .ctx = c };
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    return c;
}

/* An SQE on the socket goes by its registered slot when it has one. */
static void conn_sqe_file(const struct mcs_conn *c, struct io_uring_sqe *sqe)
{
    if (c->fslot >= 0) {
        sqe->fd = c->fslot;
        sqe->flags |= IOSQE_FIXED_FILE;
    }
}

static void conn_close_fd(struct mcs_conn *c)
{
    if (c->fslot >= 0)
        mcs_worker_file_release(c->w, c->fslot);
    c->fslot = -1;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static void conn_free(struct mcs_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    conn_close_fd(c);
    if (c->tp && c->tp->release)
        c->tp->release(c);
    if (c->tp && c->tp->destroy)
        c->tp->destroy(c);
    mcs_buf_free(&c->wbuf);
    mcs_buf_free(&c->obuf);
    mcs_buf_free(&c->ibuf);
    mcs_buf_free(&c->sbuf);
    mcs_buf_free(&c->rbuf);
    mcs_buf_free(&c->scan);
    free(c->pend);
    free(c);
}

/* Submits a cancel for everything this connection has in flight. */
static void conn_cancel_all(struct mcs_conn *c)
{
    struct mcs_event *evs[] = { &c->ev_connect, &c->ev_send, &c->ev_recv, &c->ev_timeout };
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        conn_cancel(c, evs[i]);
}

void mcs_conn_release(struct mcs_conn *c)
{
    if (c == NULL)
        return;
    if (c->inflight == 0) {
        conn_free(c);
        return;
    }
    c->orphaned = true;
    c->waiter = NULL;
    conn_cancel_all(c);
}

/* After each completion: finish a close or free an orphan once idle. */
static void conn_settle(struct mcs_conn *c)
{
    if (c->inflight > 0)
        return;
    if (c->orphaned) {
        conn_free(c);
        return;
    }
    if (c->state == MCS_CONN_FAILED && c->fd >= 0) {
        conn_close_fd(c);
        if (c->tp && c->tp->release)
            c->tp->release(c);
    }
    conn_wake(c, MCS_WAIT_IDLE);
}

static void conn_wake(struct mcs_conn *c, enum mcs_conn_wait why)
{
    struct mcs_co *co = c->waiter;
    if (co == NULL || (why != MCS_WAIT_NONE && c->wait != why))
        return;
    c->waiter = NULL;
    c->wait = MCS_WAIT_NONE;
    mcs_co_wake(co);
}

static void conn_reset_buffers(struct mcs_conn *c)
{
    c->wbuf.used = 0;
    c->obuf.used = 0;
    c->sbuf.used = 0;
    c->sent = 0;
    c->ibuf.used = 0;
    c->ipos = 0;
    c->rbuf.used = 0;
    c->rpos = 0;
    c->scan.used = 0;
    c->gen++;
    c->pend_head = c->pend_len = c->pend_unsent = 0;
}

/* Says once per run why TLS failed, for each distinct reason. */
static void conn_tell_tls_reason(struct mcs_conn *c)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static const char *told[32];
    const char *r = c->tls_err == MCS_TLS_ERR_OTHER && c->tls_detail
                        ? c->tls_detail : mcs_tls_err_text(c->tls_err);
    c->stats->tls_errors[c->tls_err]++;
    atomic_store(&c->w->last_tls_reason, r);
    pthread_mutex_lock(&lock);
    size_t i = 0;
    while (i < 32 && told[i] && told[i] != r)
        i++;
    if (i < 32 && told[i] == NULL) {
        told[i] = r;
        fprintf(stderr, "mcshredder: TLS with %s failed: %s\n", c->target->name, r);
    }
    pthread_mutex_unlock(&lock);
}

void mcs_conn_fail(struct mcs_conn *c, int err, enum mcs_err kind)
{
    if (c->state == MCS_CONN_FAILED || c->state == MCS_CONN_CLOSED)
        return;
    if (kind == MCS_ERR_TLS)
        conn_tell_tls_reason(c);
    c->state = MCS_CONN_FAILED;
    c->err = err;
    c->err_kind = kind;
    c->stats->errors[kind]++;
    conn_cancel_all(c);
    conn_wake(c, MCS_WAIT_NONE);
    conn_settle(c);
}

static void conn_kick_send(struct mcs_conn *c);

void mcs_conn_close(struct mcs_conn *c)
{
    if (c->state == MCS_CONN_OPEN && c->tp && c->tp->shutdown) {
        c->tp->shutdown(c);
        conn_kick_send(c);
    }
    if (c->state == MCS_CONN_OPEN || c->state == MCS_CONN_CONNECTING ||
        c->state == MCS_CONN_HANDSHAKE) {
        c->state = MCS_CONN_FAILED;
        c->err = -ENOTCONN;
        conn_cancel_all(c);
    }
    conn_settle(c);
    if (c->inflight == 0)
        c->state = MCS_CONN_CLOSED;
}

static int conn_socket(const struct mcs_target *t)
{
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (t->addr.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

int mcs_conn_connect(struct mcs_conn *c, struct mcs_co *waiter)
{
    if (c->inflight > 0)
        return -EBUSY;
    conn_close_fd(c);
    conn_reset_buffers(c);
    c->fd = conn_socket(c->target);
    if (c->fd < 0) {
        int err = c->fd;
        c->fd = -1;
        c->state = MCS_CONN_CLOSED;
        c->stats->errors[MCS_ERR_CONNECT]++;
        return err;
    }
    c->fslot = mcs_worker_file_slot(c->w, c->fd);
    c->state = MCS_CONN_CONNECTING;
    c->timing_out = false;
    c->tp = c->target->tp;
    c->err = 0;
    mcs_conn_tls_error(c, MCS_TLS_ERR_OTHER, NULL); /* no reason yet */
    c->waiter = waiter;
    c->wait = MCS_WAIT_CONNECT;
    struct io_uring_sqe *sqe = mcs_sqe(c->w);
    io_uring_prep_connect(sqe, c->fd, (const struct sockaddr *)&c->target->addr,
                          c->target->addrlen);
    conn_sqe_file(c, sqe);
    mcs_event_arm(c->w, &c->ev_connect, sqe);
    c->inflight++;
    c->timeout_ts.tv_sec = MCS_CONNECT_TIMEOUT_MS / 1000;
    c->timeout_ts.tv_nsec = (MCS_CONNECT_TIMEOUT_MS % 1000) * 1000000L;
    sqe = mcs_sqe(c->w);
    io_uring_prep_timeout(sqe, &c->timeout_ts, 0, 0);
    mcs_event_arm(c->w, &c->ev_timeout, sqe);
    c->inflight++;
    return 0;
}

/* A server that accepts but never completes the connection (or the TLS
 * handshake) fails the connect after MCS_CONNECT_TIMEOUT_MS. */
static void conn_on_timeout(struct mcs_event *ev, struct io_uring_cqe *cqe)
{
    (void)cqe;
    struct mcs_conn *c = ev->ctx;
    c->inflight--;
    if (c->state == MCS_CONN_CONNECTING) {
        atomic_store(&c->w->last_connect_err, -ETIMEDOUT);
        mcs_conn_fail(c, -ETIMEDOUT, MCS_ERR_CONNECT);
    } else if (c->state == MCS_CONN_HANDSHAKE) {
        mcs_conn_tls_error(c, MCS_TLS_ERR_TIMEOUT, NULL);
        mcs_conn_fail(c, -ETIMEDOUT, MCS_ERR_TLS);
    }
    conn_settle(c);
}

static void conn_cancel(struct mcs_conn *c, struct mcs_event *ev)
{
    if (!ev->inflight)
        return;
    struct io_uring_sqe *sqe = mcs_sqe(c->w);
    io_uring_prep_cancel(sqe, ev, 0);
    mcs_event_arm(c->w, &c->ev_cancel, sqe);
    c->inflight++;
}

/* The connection is ready for requests (after the handshake, if any). */
static void conn_opened(struct mcs_conn *c)
{
    conn_cancel(c, &c->ev_timeout);
    c->state = MCS_CONN_OPEN;
    c->stats->connects++;
    if (c->ever_connected)
        c->stats->reconnects++;
    c->ever_connected = true;
    conn_wake(c, MCS_WAIT_CONNECT);
}

static int conn_submit_recv(struct mcs_conn *c);

/* Runs a transport step's result: sends what it wrote, fails on error. */
static int conn_transport_done(struct mcs_conn *c, int ret)
{
    conn_kick_send(c);
    if (ret < 0)
        mcs_conn_fail(c, ret, ret == -ECONNRESET ? MCS_ERR_RESET : MCS_ERR_TLS);
    return ret;
}

/* A TCP connect to a closed port on this host can pick that very port as its
 * own source port and "succeed", connected to itself (a simultaneous open).
 * Retrying clients walk the ephemeral range, so that happens now and then;
 * it is a refused connect, not a server that echoes the requests. */
static bool conn_is_self_connect(const struct mcs_conn *c)
{
    const struct sockaddr_storage *peer = &c->target->addr;
    struct sockaddr_storage self;
    socklen_t len = sizeof(self);
    if (peer->ss_family != AF_INET && peer->ss_family != AF_INET6)
        return false;
    if (getsockname(c->fd, (struct sockaddr *)&self, &len) != 0)
        return false;
    if (peer->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)&self, *b = (const void *)peer;
        return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *a = (const void *)&self, *b = (const void *)peer;
    return a->sin6_port == b->sin6_port &&
           memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
}

static void conn_on_connect(struct mcs_event *ev, struct io_uring_cqe *cqe)
{
    struct mcs_conn *c = ev->ctx;
    c->inflight--;
    if (c->state == MCS_CONN_CONNECTING) {
        int res = cqe->res;
        if (res == 0 && conn_is_self_connect(c))
            res = -ECONNREFUSED;
        if (res < 0) {
            atomic_store(&c->w->last_connect_err, res);
            mcs_conn_fail(c, res, MCS_ERR_CONNECT);
        } else if (c->tp == NULL || c->tp->start == NULL) {
            conn_opened(c);
        } else {
            int ret = conn_transport_done(c, c->tp->start(c));
            if (ret == 0)
                conn_opened(c);
            else if (ret == 1) {
                c->state = MCS_CONN_HANDSHAKE;
                conn_submit_recv(c);
            }
        }
    }
    conn_settle(c);
}

static void conn_on_cancel(struct mcs_event *ev, struct io_uring_cqe *cqe)
{
    (void)cqe;
    struct mcs_conn *c = ev->ctx;
    c->inflight--;
    conn_settle(c);
}

/* The request queue: a ring that grows when a script pipelines deeper. */
static struct mcs_pending *pend_push(struct mcs_conn *c)
{
    if (c->pend_len == c->pend_cap) {
        uint32_t ncap = c->pend_cap ? c->pend_cap * 2 : 16;
        struct mcs_pending *np = malloc(ncap * sizeof(*np));
        if (np == NULL)
            return NULL;
        for (uint32_t i = 0; i < c->pend_len; i++)
            np[i] = c->pend[(c->pend_head + i) % c->pend_cap];
        free(c->pend);
        c->pend = np;
        c->pend_cap = ncap;
        c->pend_head = 0;
    }
    struct mcs_pending *p = &c->pend[(c->pend_head + c->pend_len) % c->pend_cap];
    c->pend_len++;
    return p;
}

static int conn_queue(struct mcs_conn *c, enum mcs_cmd cmd, bool quiet, bool noreply,
                      uint16_t nkeys, uint64_t key_hash)
{
    enum mcs_kind kind = mcs_cmd_kind(cmd);
    if (noreply) {
        /* No response will come: counted as sent, not timed. */
        c->stats->ops[kind]++;
        return 0;
    }
    struct mcs_pending *p = pend_push(c);
    if (p == NULL)
        return -ENOMEM;
    *p = (struct mcs_pending){ .kind = kind, .quiet = quiet, .nkeys = nkeys,
                               .intended_ns = c->intended_ns, .key_hash = key_hash };
    c->pend_unsent++;
    return 0;
}

int mcs_conn_write_req(struct mcs_conn *c, const char *line, size_t len,
                       enum mcs_cmd cmd, bool quiet, bool noreply, uint16_t nkeys,
                       uint32_t vlen, uint64_t key_hash)
{
    size_t body = mcs_cmd_has_value(cmd) ? (size_t)vlen + 2 : 0;
    if (mcs_buf_reserve(&c->wbuf, len + body) < 0)
        return -ENOMEM;
    memcpy(c->wbuf.data + c->wbuf.used, line, len);
    c->wbuf.used += len;
    c->busy = true;
    if (body) {
        mcs_value_fill(c->wbuf.data + c->wbuf.used, vlen, key_hash);
        c->wbuf.used += body;
    }
    return conn_queue(c, cmd, quiet, noreply, nkeys, key_hash);
}

char *mcs_conn_wbuf_room(struct mcs_conn *c, size_t n)
{
    if (mcs_buf_reserve(&c->wbuf, n) < 0)
        return NULL;
    return c->wbuf.data + c->wbuf.used;
}

int mcs_conn_commit_req(struct mcs_conn *c, size_t len, enum mcs_cmd cmd,
                        bool quiet, uint16_t nkeys, uint64_t key_hash)
{
    c->wbuf.used += len;
    c->busy = true;
    return conn_queue(c, cmd, quiet, false, nkeys, key_hash);
}

/* Queues each complete command in p[0..n); returns the bytes used. */
static size_t scan_commands(struct mcs_conn *c, const char *p, size_t n)
{
    size_t done = 0;
    struct mcs_req_info info;
    while (done < n && mcs_req_scan(p + done, n - done, &info) == MCS_SCAN_OK) {
        if (conn_queue(c, info.cmd, info.quiet, info.noreply,
                       info.nkeys ? info.nkeys : 1, 0) < 0)
            return n;
        done += info.len;
    }
    return done;
}

int mcs_conn_write_raw(struct mcs_conn *c, const char *data, size_t len)
{
    if (mcs_buf_reserve(&c->wbuf, len) < 0)
        return -ENOMEM;
    memcpy(c->wbuf.data + c->wbuf.used, data, len);
    c->wbuf.used += len;
    c->busy = true;

    /* A command may arrive in pieces over several writes: the unscanned
     * tail waits in c->scan until the rest of it is written. */
    if (c->scan.used == 0) {
        size_t done = scan_commands(c, data, len);
        if (done == len)
            return 0;
        data += done;
        len -= done;
    }
    if (mcs_buf_reserve(&c->scan, len) < 0)
        return -ENOMEM;
    memcpy(c->scan.data + c->scan.used, data, len);
    c->scan.used += len;
    mcs_buf_consume(&c->scan, scan_commands(c, c->scan.data, c->scan.used));
    return 0;
}

bool mcs_conn_sweep(struct mcs_conn *c)
{
    if (c->busy || c->inflight > 0) {
        c->busy = false;
        return false;
    }
    size_t held = c->wbuf.size + c->obuf.size + c->sbuf.size + c->ibuf.size +
                  c->scan.size + c->rbuf.size;
    if (c->ipos == c->ibuf.used)
        c->ibuf.used = c->ipos = 0;
    struct mcs_buf *bufs[] = { &c->wbuf, &c->obuf, &c->sbuf, &c->ibuf, &c->scan };
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
        mcs_buf_trim(bufs[i], 0);
    /* rbuf may hold a response the script still looks at */
    if (c->rpos == c->rbuf.used) {
        c->rbuf.used = c->rpos = 0;
        c->gen++;
        mcs_buf_trim(&c->rbuf, 0);
    }
    if (c->pend_len == 0 && c->pend != NULL) {
        free(c->pend);
        c->pend = NULL;
        c->pend_cap = c->pend_head = 0;
    }
    if (c->state == MCS_CONN_OPEN && c->tp && c->tp->idle)
        return c->tp->idle(c) || held > c->rbuf.size;
    return held > c->rbuf.size;
}

static void conn_submit_send(struct mcs_conn *c)
{
    struct io_uring_sqe *sqe = mcs_sqe(c->w);
    io_uring_prep_send(sqe, c->fd, c->sbuf.data + c->sent, c->sbuf.used - c->sent,
                       MSG_NOSIGNAL);
    conn_sqe_file(c, sqe);
    mcs_event_arm(c->w, &c->ev_send, sqe);
    c->inflight++;
}

/* Sends the socket write buffer unless a send is in flight; then it goes
 * when that one completes. Swapping buffers means no copy: the kernel reads
 * sbuf while the script and the transport fill obuf. */
static void conn_kick_send(struct mcs_conn *c)
{
    if (c->ev_send.inflight || c->obuf.used == 0 || c->fd < 0)
        return;
    struct mcs_buf tmp = c->sbuf;
    c->sbuf = c->obuf;
    c->obuf = tmp;
    c->obuf.used = 0;
    c->sent = 0;
    conn_submit_send(c);
}

static int conn_down_err(const struct mcs_conn *c)
{
    return c->err ? c->err : -ENOTCONN;
}

/* Moves flushed requests to obuf: plain, by swapping when obuf is empty. */
static int conn_encode(struct mcs_conn *c)
{
    if (c->tp && c->tp->encode)
        return c->tp->encode(c);
    if (c->obuf.used == 0) {
        struct mcs_buf tmp = c->obuf;
        c->obuf = c->wbuf;
        c->wbuf = tmp;
        return 0;
    }
    if (mcs_buf_reserve(&c->obuf, c->wbuf.used) < 0)
        return -ENOMEM;
    memcpy(c->obuf.data + c->obuf.used, c->wbuf.data, c->wbuf.used);
    c->obuf.used += c->wbuf.used;
    c->wbuf.used = 0;
    return 0;
}

/* Requests are timed from their flush: one clock read per flush, however
 * many requests it sends. */
static void pend_stamp(struct mcs_conn *c)
{
    if (c->pend_unsent == 0)
        return;
    uint64_t now = mcs_now_ns();
    uint32_t n = c->pend_unsent < c->pend_len ? c->pend_unsent : c->pend_len;
    for (uint32_t i = c->pend_len - n; i < c->pend_len; i++)
        c->pend[(c->pend_head + i) % c->pend_cap].t_ns = now;
    c->pend_unsent = 0;
}

int mcs_conn_flush(struct mcs_conn *c)
{
    if (c->state != MCS_CONN_OPEN)
        return conn_down_err(c);
    if (c->wbuf.used == 0)
        return 0;
    pend_stamp(c);
    int ret = conn_transport_done(c, conn_encode(c));
    return ret < 0 ? ret : 0;
}

/* The start of a send or recv completion. False when there is nothing
 * more to do: the connection is going away, or this transfer failed (then
 * counted as kind; a zero-byte result means the peer closed). */
static bool conn_transfer_ok(struct mcs_conn *c, struct io_uring_cqe *cqe,
                             enum mcs_err kind)
{
    c->inflight--;
    if (c->state != MCS_CONN_OPEN && c->state != MCS_CONN_HANDSHAKE) {
        conn_settle(c);
        return false;
    }
    if (cqe->res <= 0) {
        mcs_conn_fail(c, cqe->res ? cqe->res : -ECONNRESET, kind);
        return false;
    }
    return true;
}

static void conn_on_send(struct mcs_event *ev, struct io_uring_cqe *cqe)
{
    struct mcs_conn *c = ev->ctx;
    if (!conn_transfer_ok(c, cqe, MCS_ERR_RESET))
        return;
    c->sent += cqe->res;
    c->stats->bytes_out += cqe->res;
    if (c->sent < c->sbuf.used) {
        conn_submit_send(c);
        return;
    }
    c->sbuf.used = 0;
    c->sent = 0;
    mcs_buf_trim(&c->sbuf, MCS_CONN_KEEP);
    conn_kick_send(c);
}

/* Grows b so at least MCS_RECV_MIN bytes are free after used, doubling
 * for large values. Returns true when its memory moved. */
static int conn_room(struct mcs_buf *b, bool *moved)
{
    size_t want = MCS_RECV_MIN;
    if (b->size - b->used < want && b->used >= MCS_RECV_MIN)
        want = b->used;
    char *old = b->data;
    if (mcs_buf_reserve(b, want) < 0)
        return -ENOMEM;
    *moved = b->data != old;
    return 0;
}

/* Starts a recv into the free end of the socket read buffer (rbuf itself
 * when plain), first moving unconsumed bytes to the front. */
/* When the oldest request waiting for an answer times out; 0: no limit. */
static uint64_t conn_deadline(const struct mcs_conn *c)
{
    uint64_t t = c->w->run->timeout_ns;
    if (t == 0 || c->state != MCS_CONN_OPEN || c->pend_len == 0)
        return 0;
    uint64_t sent = c->pend[c->pend_head].t_ns;
    return sent ? sent + t : 0;
}

static int conn_submit_recv(struct mcs_conn *c)
{
    if (c->ev_recv.inflight)
        return 0;
    bool raw = c->tp == NULL || c->tp->decode == NULL;
    struct mcs_buf *b = raw ? &c->rbuf : &c->ibuf;
    size_t *pos = raw ? &c->rpos : &c->ipos;
    bool moved = *pos > 0;
    mcs_buf_consume(b, *pos);
    *pos = 0;
    if (b->used == 0)
        mcs_buf_trim(b, MCS_CONN_KEEP);
    bool grew;
    if (conn_room(b, &grew) < 0)
        return -ENOMEM;
    if (raw && (moved || grew))
        c->gen++; /* responses handed out point into rbuf */
    struct io_uring_sqe *sqe = mcs_sqe(c->w);
    io_uring_prep_recv(sqe, c->fd, b->data + b->used, b->size - b->used, 0);
    conn_sqe_file(c, sqe);
    /* the answer to what was just sent is not there yet: wait for it
     * rather than try a receive that would only fail */
    sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    mcs_event_arm(c->w, &c->ev_recv, sqe);
    c->inflight++;
    return 0;
}

/* The worker's periodic check (instead of a linked timeout on every recv,
 * which costs a timer and a completion per request): a receive waiting
 * past the oldest request's deadline is cancelled, which fails it. */
void mcs_conn_check_timeout(struct mcs_conn *c, uint64_t now_ns)
{
    uint64_t deadline = conn_deadline(c);
    if (deadline && now_ns >= deadline && c->ev_recv.inflight && !c->timing_out) {
        c->timing_out = true;
        conn_cancel(c, &c->ev_recv);
    }
}

/* Every request still waiting timed out with the oldest: all are counted,
 * and the connection is reset, since a late answer would be out of step. */
static void conn_timed_out(struct mcs_conn *c)
{
    c->inflight--;
    c->stats->errors[MCS_ERR_TIMEOUT] += c->pend_len > 1 ? c->pend_len - 1 : 0;
    mcs_conn_fail(c, -ETIMEDOUT, MCS_ERR_TIMEOUT);
}

/* Room for the transport to append decoded bytes to rbuf. */
char *mcs_conn_rbuf_room(struct mcs_conn *c, size_t *len)
{
    if (c->rpos > 0) {
        mcs_buf_consume(&c->rbuf, c->rpos);
        c->rpos = 0;
        c->gen++;
    }
    bool grew;
    if (conn_room(&c->rbuf, &grew) < 0)
        return NULL;
    if (grew)
        c->gen++;
    *len = c->rbuf.size - c->rbuf.used;
    return c->rbuf.data + c->rbuf.used;
}

/* Ciphertext arrived: the handshake goes on, or responses are decoded. */
static void conn_on_transport_recv(struct mcs_conn *c)
{
    if (c->state == MCS_CONN_HANDSHAKE) {
        int ret = conn_transport_done(c, c->tp->handshake(c));
        if (ret == 0)
            conn_opened(c);
        else if (ret == 1)
            conn_submit_recv(c);
        return;
    }
    int ret = conn_transport_done(c, c->tp->decode(c));
    if (ret > 0)
        conn_wake(c, MCS_WAIT_READ);
    else if (ret == 0 && c->wait == MCS_WAIT_READ)
        conn_submit_recv(c); /* a partial record: keep reading */
}

static void conn_on_recv(struct mcs_event *ev, struct io_uring_cqe *cqe)
{
    struct mcs_conn *c = ev->ctx;
    if (cqe->res == -ECANCELED && c->state == MCS_CONN_OPEN) {
        conn_timed_out(c); /* only a timeout cancels an open recv */
        return;
    }
    bool handshake = c->state == MCS_CONN_HANDSHAKE;
    if (handshake && cqe->res <= 0)
        mcs_conn_tls_error(c, MCS_TLS_ERR_CLOSED, NULL);
    if (!conn_transfer_ok(c, cqe, handshake ? MCS_ERR_TLS : MCS_ERR_RESET))
        return;
    c->stats->bytes_in += cqe->res;
    c->rtime_ns = c->w->now_ns;
    if (c->tp && c->tp->decode) {
        c->ibuf.used += cqe->res;
        conn_on_transport_recv(c);
        return;
    }
    c->rbuf.used += cqe->res;
    conn_wake(c, MCS_WAIT_READ);
}

static uint64_t elapsed(uint64_t from, uint64_t to)
{
    return to > from ? to - from : 0;
}

/* Closed loop: latency is flush to response. Open loop: from the slot the
 * schedule gave the run, so a stalled server shows in the numbers even for
 * requests that could not be sent on time (coordinated omission); the raw
 * flush-to-response time is kept as the service time. */
static void pend_complete(struct mcs_conn *c)
{
    struct mcs_pending *p = &c->pend[c->pend_head];
    uint64_t svc = elapsed(p->t_ns, c->rtime_ns);
    if (p->intended_ns) {
        mcs_stats_record(c->stats, p->kind, elapsed(p->intended_ns, c->rtime_ns));
        mcs_stats_record_service(c->stats, svc);
    } else {
        mcs_stats_record(c->stats, p->kind, svc);
    }
    c->pend_head = (c->pend_head + 1) % c->pend_cap;
    c->pend_len--;
}

/* A request closed out by "mn" without a response of its own: for mg, a
 * miss. */
static void pend_complete_silent(struct mcs_conn *c)
{
    if (c->pend[c->pend_head].kind == MCS_KIND_MG)
        c->stats->misses++;
    pend_complete(c);
}

static void count_error(struct mcs_conn *c, enum mcs_res_type t)
{
    if (t == MCS_RES_ERROR)
        c->stats->errors[MCS_ERR_ERROR]++;
    else if (t == MCS_RES_CLIENT_ERROR)
        c->stats->errors[MCS_ERR_CLIENT_ERROR]++;
    else if (t == MCS_RES_SERVER_ERROR)
        c->stats->errors[MCS_ERR_SERVER_ERROR]++;
}

static void count_meta_hit(struct mcs_conn *c, const struct mcs_pending *p,
                           enum mcs_res_type t)
{
    if (p->kind != MCS_KIND_MG)
        return;
    if (t == MCS_RES_VA || t == MCS_RES_HD)
        c->stats->hits++;
    else if (t == MCS_RES_EN)
        c->stats->misses++;
}

/* True when an "mn" is among the requests waiting for responses. */
static bool pend_has_mn(const struct mcs_conn *c)
{
    for (uint32_t i = 0; i < c->pend_len; i++)
        if (c->pend[(c->pend_head + i) % c->pend_cap].kind == MCS_KIND_MN)
            return true;
    return false;
}

/* Matches a response to the oldest request waiting for one, counting hits,
 * misses and errors and timing the request once it is complete. Quiet meta
 * requests answer only hits and errors, so without opaques a hit is given
 * to the oldest quiet request; "mn" closes out every request before it,
 * which puts the queue back in step whatever the guesses were. */
static void conn_account(struct mcs_conn *c, enum mcs_res_type t)
{
    count_error(c, t);
    if (c->pend_len == 0)
        return; /* not asked for (e.g. a "watch" stream) */
    struct mcs_pending *p = &c->pend[c->pend_head];
    switch (t) {
    case MCS_RES_VALUE:
        p->values++;
        return;
    case MCS_RES_STAT:
        return;
    case MCS_RES_END:
        if (p->kind == MCS_KIND_GET) {
            c->stats->hits += p->values;
            c->stats->misses += p->nkeys > p->values ? p->nkeys - p->values : 0;
        }
        pend_complete(c);
        return;
    case MCS_RES_MN:
        if (!pend_has_mn(c))
            return;
        while (c->pend[c->pend_head].kind != MCS_KIND_MN)
            pend_complete_silent(c);
        pend_complete(c);
        return;
    case MCS_RES_EN:
        while (c->pend_len > 1 && c->pend[c->pend_head].quiet)
            pend_complete_silent(c); /* quiet requests never answer EN */
        p = &c->pend[c->pend_head];
        break;
    default:
        break;
    }
    count_meta_hit(c, p, t);
    pend_complete(c);
}

/* Garbage from the server. A TLS record header (handshake or alert) on a
 * plain connection means the server wants TLS: say so. */
static void conn_protocol_error(struct mcs_conn *c, const char *p)
{
    size_t n = c->rbuf.used - c->rpos;
    if (c->tp == NULL && n >= 2 && (p[0] == 0x15 || p[0] == 0x16) && p[1] == 0x03) {
        mcs_conn_tls_error(c, MCS_TLS_ERR_SERVER_TLS, NULL);
        mcs_conn_fail(c, -EPROTO, MCS_ERR_TLS);
        return;
    }
    mcs_conn_fail(c, -EPROTO, MCS_ERR_PROTOCOL);
}

/* The key a value response is for: from a VALUE line or an mg "k" flag.
 * Returns its length, 0 when the response does not say. */
static size_t response_key(const char *p, const struct mcs_res *res, const char **key)
{
    if (res->type == MCS_RES_VALUE) {
        *key = p + res->key_off;
        return res->key_len;
    }
    const char *f = p + res->mflags_off, *end = f + res->mflags_len;
    while (f < end) {
        const char *tok_end = memchr(f, ' ', end - f);
        if (tok_end == NULL)
            tok_end = end;
        if (*f == 'k' && tok_end - f > 1) {
            *key = f + 1;
            return tok_end - f - 1;
        }
        f = tok_end + 1;
    }
    return 0;
}

/* Validation: a value read must be what a set of its key writes
 * (mcs_value_fill). Mismatches are counted; the first few are printed. */
static void conn_validate(struct mcs_conn *c, const char *p, const struct mcs_res *res)
{
    const char *key = NULL;
    size_t klen = response_key(p, res, &key);
    uint64_t hash = klen ? mcs_key_hash(key, klen)
                  : c->pend_len ? c->pend[c->pend_head].key_hash : 0;
    if (hash == 0)
        return; /* nothing says which key this is */
    c->stats->validated++;
    if (mcs_value_check(p + res->value_off, (uint32_t)res->vlen, hash))
        return;
    c->stats->mismatches++;
    struct mcs_run *run = c->w->run;
    unsigned n = atomic_fetch_add(&run->mismatches_printed, 1);
    if (n >= MCS_MISMATCHES_PRINTED)
        return;
    if (klen)
        fprintf(stderr, "mcshredder: validate: key '%.*s': %" PRId64 " bytes read are not "
                        "what a set of this key writes\n", (int)klen, key, res->vlen);
    else
        fprintf(stderr, "mcshredder: validate: key with hash %016" PRIx64 ": %" PRId64
                        " bytes read are not what a set of this key writes (add the mg "
                        "k flag to see the key)\n", hash, res->vlen);
    if (n + 1 == MCS_MISMATCHES_PRINTED)
        fprintf(stderr, "mcshredder: validate: further mismatches are only counted\n");
}

int mcs_conn_read(struct mcs_conn *c, struct mcs_res *res, const char **base)
{
    if (c->state != MCS_CONN_OPEN)
        return conn_down_err(c);
    const char *p = c->rbuf.data + c->rpos;
    switch (mcs_res_parse(p, c->rbuf.used - c->rpos, res)) {
    case MCS_PARSE_OK:
        c->rpos += res->consumed;
        *base = p;
        if (c->validate && res->vlen >= 0)
            conn_validate(c, p, res);
        conn_account(c, res->type);
        return 0;
    case MCS_PARSE_WANT:
        if (conn_submit_recv(c) < 0) {
            mcs_conn_fail(c, -ENOMEM, MCS_ERR_PROTOCOL);
            return -ENOMEM;
        }
        return 1;
    default:
        conn_protocol_error(c, p);
        return -EPROTO;
    }
}

int mcs_conn_readline(struct mcs_conn *c, const char **line, size_t *len)
{
    if (c->state != MCS_CONN_OPEN)
        return conn_down_err(c);
    const char *p = c->rbuf.data + c->rpos;
    size_t avail = c->rbuf.used - c->rpos;
    const char *nl = avail ? memchr(p, '\n', avail) : NULL;
    if (nl == NULL) {
        if (avail > MCS_RES_LINE_MAX) {
            mcs_conn_fail(c, -EPROTO, MCS_ERR_PROTOCOL);
            return -EPROTO;
        }
        if (conn_submit_recv(c) < 0) {
            mcs_conn_fail(c, -ENOMEM, MCS_ERR_PROTOCOL);
            return -ENOMEM;
        }
        return 1;
    }
    size_t n = nl - p;
    c->rpos += n + 1;
    if (n > 0 && p[n - 1] == '\r')
        n--;
    *line = p;
    *len = n;
    return 0;
}
