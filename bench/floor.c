/*
 * bench/floor.c: the syscall-and-OpenSSL floor of a closed-loop memcached
 * client, a reference for bench/run.sh.
 *
 * bench/run.sh measures mcshredder's client CPU time per request.  This is a
 * deliberately lean client written the classic way (one thread, level-
 * triggered epoll, non-blocking send/recv; for TLS, OpenSSL on the standard
 * socket BIO via SSL_set_fd) that runs the same closed loop and nothing
 * else: each connection sends `depth` get or mg requests in one write, reads
 * until all `depth` responses are parsed, and repeats.  No histograms, no
 * scripting, no allocation in the loop, so its CPU per request is what the
 * kernel's TCP (and OpenSSL's records) cost with almost nothing on top.
 *
 * Every response is parsed in full; anything unexpected ends the run with
 * exit status 1.  At the end it prints one line to stdout:
 *     requests R hits H misses M seconds S
 *
 * build: cc -std=c11 -O2 -Wall -Wextra -o floor bench/floor.c -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define RBUF_SIZE (64 * 1024) /* per-connection read buffer */
#define MAX_PREFIX 200        /* keeps <prefix><k> under memcached's 250 */

static const char USAGE[] =
    "usage: floor --server HOST:PORT [--clients N (50)] [--duration SECS (10)]\n"
    "             [--keys N (10000)] [--prefix STR (mcs:)] [--mode get|mg (get)]\n"
    "             [--depth N (1)] [--tls] [--tls-ca FILE] [--seed N]\n"
    "A minimal closed-loop memcached client: the CPU floor for bench/run.sh.\n"
    "Prints: requests R hits H misses M seconds S\n";

struct conn {
    int fd;
    SSL *ssl;
    long pending;         /* responses still due in this round */
    int wblk, rblk, out;  /* write / read waits for EPOLLOUT; EPOLLOUT armed */
    size_t wlen, woff;    /* request bytes in wbuf; bytes of them sent */
    size_t rstart, rend;  /* unparsed input is rbuf[rstart, rend) */
    char *wbuf, *rbuf;
};

static struct {
    const char *server, *prefix, *ca;
    char host[128], port[16];
    long clients, depth;
    uint64_t keys, seed;
    double duration;
    int mg, tls;
} opt = { .prefix = "mcs:", .clients = 50, .depth = 1, .keys = 10000,
          .seed = 0x5eedf100f, .duration = 10 };

static int epfd;
static uint64_t rng, hits, misses;
static char req_head[4 + MAX_PREFIX]; /* "get <prefix>" or "mg <prefix>" */
static size_t head_len;
static const char *req_tail;          /* "\r\n" or " v\r\n" */
static size_t tail_len;

/* ---- errors ---- */

static _Noreturn void die(const char *what, const char *why)
{
    fprintf(stderr, "floor: %s: %s\n", what, why);
    exit(1);
}

static _Noreturn void die_errno(const char *what) { die(what, strerror(errno)); }

static _Noreturn void die_tls(const char *what, int err)
{
    unsigned long e = ERR_peek_error();
    if (e && ERR_reason_error_string(e))
        die(what, ERR_reason_error_string(e));
    if (err == SSL_ERROR_SYSCALL && errno)
        die_errno(what);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        die(what, "timed out");
    die(what, "connection closed by server");
}

static _Noreturn void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("floor: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see floor --help)\n", stderr);
    va_end(ap);
    exit(2);
}

static _Noreturn void bad_response(const char *p, size_t n)
{
    size_t len = 0;
    while (len < n && len < 80 && p[len] != '\r' && p[len] != '\n')
        len++;
    fprintf(stderr, "floor: unexpected response from server: %.*s\n", (int)len, p);
    exit(1);
}

/* ---- response parsing (each function sees p[0, n): unparsed input) ---- */

/* Length of the "\r\n"-terminated line at p, or 0 when it is incomplete. */
static size_t line_len(const char *p, size_t n)
{
    const char *nl = memchr(p, '\n', n);
    if (!nl)
        return 0;
    if (nl == p || nl[-1] != '\r')
        bad_response(p, n);
    return (size_t)(nl - p) + 1;
}

/* An incomplete line must still be able to become an expected one. */
static void check_partial(const char *p, size_t n)
{
    static const char *const starts[2][2] = { { "VALUE ", "END\r\n" }, { "VA ", "EN\r\n" } };
    for (int i = 0; i < 2; i++) {
        size_t l = strlen(starts[opt.mg][i]);
        if (memcmp(p, starts[opt.mg][i], n < l ? n : l) == 0)
            return;
    }
    bad_response(p, n);
}

/* A decimal number of at least one digit that fits in 64 bits. */
static int number(const char **q, const char *e, uint64_t *v)
{
    const char *s = *q;
    uint64_t x = 0;
    for (; *q < e && **q >= '0' && **q <= '9'; (*q)++) {
        unsigned d = (unsigned)(**q - '0');
        if (x > (UINT64_MAX - d) / 10)
            return 0;
        x = x * 10 + d;
    }
    *v = x;
    return *q > s;
}

/* The header line (ll bytes), `bytes` of data, then `tail`: its total
 * length, or 0 when it has not all arrived yet. */
static size_t with_value(const char *p, size_t n, size_t ll, uint64_t bytes, const char *tail)
{
    size_t tl = strlen(tail);
    if (bytes > RBUF_SIZE || ll + bytes + tl > RBUF_SIZE)
        die("response too large", "it does not fit the 64 KiB read buffer");
    size_t end = ll + (size_t)bytes, need = end + tl;
    if (n > end && memcmp(p + end, tail, (n < need ? n : need) - end) != 0)
        bad_response(p, n); /* checks as much of the tail as has arrived */
    return n < need ? 0 : need;
}

/* END\r\n, or VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\nEND\r\n */
static size_t parse_get(const char *p, size_t n, int *hit)
{
    size_t ll = line_len(p, n);
    uint64_t flags, bytes, cas;
    if (!ll) {
        check_partial(p, n);
        return 0;
    }
    *hit = 0;
    if (ll == 5 && memcmp(p, "END\r\n", 5) == 0)
        return 5;
    if (ll < 6 || memcmp(p, "VALUE ", 6) != 0)
        bad_response(p, n);
    const char *key = p + 6, *q = key, *e = p + ll - 2;
    while (q < e && *q != ' ')
        q++;
    int ok = q > key && *q++ == ' ' && number(&q, e, &flags) && *q++ == ' ' &&
             number(&q, e, &bytes);
    if (ok && q < e)
        ok = *q++ == ' ' && number(&q, e, &cas);
    if (!ok || q != e || flags > UINT32_MAX)
        bad_response(p, n);
    *hit = 1;
    return with_value(p, n, ll, bytes, "\r\nEND\r\n");
}

/* EN\r\n, or VA <bytes>[ <flags>]\r\n<data>\r\n */
static size_t parse_mg(const char *p, size_t n, int *hit)
{
    size_t ll = line_len(p, n);
    uint64_t bytes;
    if (!ll) {
        check_partial(p, n);
        return 0;
    }
    *hit = 0;
    if (ll == 4 && memcmp(p, "EN\r\n", 4) == 0)
        return 4;
    const char *q = p + 3, *e = p + ll - 2;
    if (ll < 6 || memcmp(p, "VA ", 3) != 0 || !number(&q, e, &bytes) || (q < e && *q != ' '))
        bad_response(p, n);
    *hit = 1;
    return with_value(p, n, ll, bytes, "\r\n");
}

/* Consumes the complete responses in c's buffer; 1 when the round is done. */
static int parse_input(struct conn *c)
{
    while (c->pending > 0 && c->rstart < c->rend) {
        const char *p = c->rbuf + c->rstart;
        size_t n = c->rend - c->rstart, used;
        int hit;
        used = opt.mg ? parse_mg(p, n, &hit) : parse_get(p, n, &hit);
        if (!used)
            break;
        c->rstart += used;
        c->pending--;
        if (hit)
            hits++;
        else
            misses++;
    }
    if (c->pending > 0)
        return 0;
    if (c->rstart < c->rend) /* more than we asked for */
        bad_response(c->rbuf + c->rstart, c->rend - c->rstart);
    c->rstart = c->rend = 0;
    return 1;
}

/* ---- I/O ---- */

static uint64_t rng_next(void) /* xorshift64* */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1DULL;
}

static char *put_u64(char *w, uint64_t v)
{
    char tmp[20];
    int i = 0;
    do
        tmp[i++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (i > 0)
        *w++ = tmp[--i];
    return w;
}

static void flush_write(struct conn *c)
{
    c->wblk = 0;
    while (c->woff < c->wlen) {
        size_t len = c->wlen - c->woff;
        ssize_t n;
        if (c->ssl) {
            errno = 0;
            int r = SSL_write(c->ssl, c->wbuf + c->woff, (int)len);
            if (r <= 0) {
                int err = SSL_get_error(c->ssl, r);
                if (err == SSL_ERROR_WANT_WRITE)
                    c->wblk = 1;
                else if (err != SSL_ERROR_WANT_READ) /* EPOLLIN retries it */
                    die_tls("SSL_write", err);
                return;
            }
            n = r;
        } else {
            n = send(c->fd, c->wbuf + c->woff, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                    die_errno("send");
                c->wblk = 1;
                return;
            }
        }
        c->woff += (size_t)n;
    }
}

/* Builds the next round's `depth` requests and sends them. */
static void issue(struct conn *c)
{
    char *w = c->wbuf;
    for (long i = 0; i < opt.depth; i++) {
        memcpy(w, req_head, head_len);
        w = put_u64(w + head_len, 1 + rng_next() % opt.keys);
        memcpy(w, req_tail, tail_len);
        w += tail_len;
    }
    c->wlen = (size_t)(w - c->wbuf);
    c->woff = 0;
    c->pending = opt.depth;
    flush_write(c);
}

/* Reads into buf; 0 when that would block. */
static size_t read_some(struct conn *c, char *buf, size_t len)
{
    if (c->ssl) {
        errno = 0;
        c->rblk = 0;
        int r = SSL_read(c->ssl, buf, (int)len);
        if (r > 0)
            return (size_t)r;
        int err = SSL_get_error(c->ssl, r);
        if (err == SSL_ERROR_WANT_WRITE)
            c->rblk = 1;
        else if (err != SSL_ERROR_WANT_READ)
            die_tls("SSL_read", err);
        return 0;
    }
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n > 0)
        return (size_t)n;
    if (n == 0)
        die("recv", "connection closed by server");
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        die_errno("recv");
    return 0;
}

/* Plain: one recv per readiness (level-triggered epoll reports the rest).
 * TLS: SSL_read until it would block, since OpenSSL may hold decrypted data
 * epoll cannot see.  Either way, stop once the round is complete. */
static void read_input(struct conn *c)
{
    for (;;) {
        if (c->rstart > 0) { /* compact a partial response to the front */
            memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
            c->rend -= c->rstart;
            c->rstart = 0;
        }
        if (c->rend == RBUF_SIZE) /* one line filled the whole buffer */
            bad_response(c->rbuf, c->rend);
        size_t n = read_some(c, c->rbuf + c->rend, RBUF_SIZE - c->rend);
        if (n == 0)
            return;
        c->rend += n;
        if (parse_input(c)) {
            issue(c);
            return;
        }
        if (!c->ssl)
            return;
    }
}

static void sync_out(struct conn *c)
{
    int want = c->wblk || c->rblk;
    if (want == c->out)
        return;
    struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c };
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die_errno("epoll_ctl");
    c->out = want;
}

static void on_event(struct conn *c, uint32_t events)
{
    if (c->woff < c->wlen)
        flush_write(c);
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) || c->rblk)
        read_input(c);
    sync_out(c);
}

/* ---- setup ---- */

static SSL_CTX *tls_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        die_tls("SSL_CTX_new", SSL_ERROR_SSL);
    SSL_CTX_set_read_ahead(ctx, 1); /* one read per batch, not two per record */
    if (opt.ca) {
        if (!SSL_CTX_load_verify_locations(ctx, opt.ca, NULL))
            usage_error("--tls-ca %s: cannot load it", opt.ca);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    return ctx;
}

static void tls_handshake(struct conn *c, SSL_CTX *ctx)
{
    c->ssl = SSL_new(ctx);
    if (!c->ssl || !SSL_set_fd(c->ssl, c->fd))
        die_tls("SSL_new", SSL_ERROR_SSL);
    if (opt.ca && !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), opt.host))
        die_tls("X509_VERIFY_PARAM_set1_ip_asc", SSL_ERROR_SSL);
    errno = 0;
    int r = SSL_connect(c->ssl);
    if (r == 1)
        return;
    long v = SSL_get_verify_result(c->ssl);
    if (v != X509_V_OK)
        die("TLS handshake", X509_verify_cert_error_string(v));
    die_tls("TLS handshake", SSL_get_error(c->ssl, r));
}

/* Connects (and handshakes) blocking, with a 10 s timeout, then switches
 * the socket to non-blocking and adds it to epoll. */
static void open_conn(struct conn *c, const struct addrinfo *ai, SSL_CTX *ctx)
{
    struct timeval tv = { .tv_sec = 10 };
    int one = 1;
    char what[200];
    c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die_errno("socket");
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno == EINPROGRESS)
            errno = ETIMEDOUT;
        snprintf(what, sizeof what, "connect to %s", opt.server);
        die_errno(what);
    }
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        die_errno("setsockopt TCP_NODELAY");
    if (ctx)
        tls_handshake(c, ctx);
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0)
        die_errno("fcntl");
    c->rbuf = malloc(RBUF_SIZE);
    c->wbuf = malloc((size_t)opt.depth * (head_len + 20 + tail_len));
    if (!c->rbuf || !c->wbuf)
        die("malloc", strerror(ENOMEM));
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die_errno("epoll_ctl");
}

static uint64_t parse_uint(const char *flag, const char *s, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || errno || v < min || v > max)
        usage_error("bad %s value: %s", flag, s);
    return v;
}

static void parse_server(const char *s)
{
    const char *h = s, *port;
    size_t hl;
    if (*s == '[') { /* [v6]:port */
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            usage_error("bad --server value: %s", s);
        h = s + 1, hl = (size_t)(rb - h), port = rb + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon)
            usage_error("bad --server value (want HOST:PORT): %s", s);
        hl = (size_t)(colon - s), port = colon + 1;
    }
    if (hl == 0 || hl >= sizeof opt.host || !*port || strlen(port) >= sizeof opt.port)
        usage_error("bad --server value: %s", s);
    memcpy(opt.host, h, hl);
    opt.host[hl] = '\0';
    strcpy(opt.port, port);
    opt.server = s;
}

static double parse_secs(const char *s)
{
    char *end;
    double d = strtod(s, &end);
    if (end == s || *end || !(d > 0 && d < 1e7))
        usage_error("bad --duration value: %s", s);
    return d;
}

static const char *parse_prefix(const char *s)
{
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            usage_error("bad --prefix value (space or control character)");
    }
    if (strlen(s) > MAX_PREFIX)
        usage_error("bad --prefix value (longer than %d bytes)", MAX_PREFIX);
    return s;
}

static int parse_mode(const char *s)
{
    if (strcmp(s, "get") != 0 && strcmp(s, "mg") != 0)
        usage_error("bad --mode value (get or mg): %s", s);
    return strcmp(s, "mg") == 0;
}

/* The value of flag argv[*i], which it steps over. */
static const char *value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        usage_error("%s needs a value", argv[*i]);
    return argv[++*i];
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            fputs(USAGE, stdout);
            exit(0);
        } else if (!strcmp(f, "--tls")) {
            opt.tls = 1;
        } else if (!strcmp(f, "--server")) {
            parse_server(value(argc, argv, &i));
        } else if (!strcmp(f, "--clients")) {
            opt.clients = (long)parse_uint(f, value(argc, argv, &i), 1, 100000);
        } else if (!strcmp(f, "--duration")) {
            opt.duration = parse_secs(value(argc, argv, &i));
        } else if (!strcmp(f, "--keys")) {
            opt.keys = parse_uint(f, value(argc, argv, &i), 1, UINT64_MAX);
        } else if (!strcmp(f, "--prefix")) {
            opt.prefix = parse_prefix(value(argc, argv, &i));
        } else if (!strcmp(f, "--mode")) {
            opt.mg = parse_mode(value(argc, argv, &i));
        } else if (!strcmp(f, "--depth")) {
            opt.depth = (long)parse_uint(f, value(argc, argv, &i), 1, 1024);
        } else if (!strcmp(f, "--tls-ca")) {
            opt.ca = value(argc, argv, &i);
        } else if (!strcmp(f, "--seed")) {
            opt.seed = parse_uint(f, value(argc, argv, &i), 0, UINT64_MAX);
        } else {
            usage_error("unknown flag: %s", f);
        }
    }
    if (!opt.server)
        usage_error("--server is required");
    if (opt.ca && !opt.tls)
        usage_error("--tls-ca needs --tls");
}

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN); /* SSL_write on a reset connection */
    head_len = (size_t)snprintf(req_head, sizeof req_head, "%s %s", opt.mg ? "mg" : "get", opt.prefix);
    req_tail = opt.mg ? " v\r\n" : "\r\n";
    tail_len = strlen(req_tail);
    rng = opt.seed ^ 0x9E3779B97F4A7C15ULL;
    if (rng == 0)
        rng = 1;

    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
    int rc = getaddrinfo(opt.host, opt.port, &hints, &ai);
    if (rc != 0)
        usage_error("bad --server value: %s: %s", opt.server, gai_strerror(rc));
    SSL_CTX *ctx = opt.tls ? tls_ctx() : NULL;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die_errno("epoll_create1");
    struct conn *conns = calloc((size_t)opt.clients, sizeof *conns);
    struct epoll_event *evs = calloc((size_t)opt.clients, sizeof *evs);
    if (!conns || !evs)
        die("calloc", strerror(ENOMEM));
    for (long i = 0; i < opt.clients; i++)
        open_conn(&conns[i], ai, ctx);
    freeaddrinfo(ai);

    struct timespec t0;
    double elapsed = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < opt.clients; i++) {
        issue(&conns[i]);
        sync_out(&conns[i]);
    }
    for (;;) {
        double left_ms = (opt.duration - elapsed) * 1000;
        int n = epoll_wait(epfd, evs, (int)opt.clients, left_ms > 1000 ? 1000 : (int)left_ms + 1);
        if (n < 0 && errno != EINTR)
            die_errno("epoll_wait");
        elapsed = since(&t0);
        if (elapsed >= opt.duration)
            break;
        for (int i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events);
    }
    printf("requests %" PRIu64 " hits %" PRIu64 " misses %" PRIu64 " seconds %.3f\n",
           hits + misses, hits, misses, elapsed);

    for (long i = 0; i < opt.clients; i++) {
        SSL_free(conns[i].ssl);
        close(conns[i].fd);
        free(conns[i].rbuf);
        free(conns[i].wbuf);
    }
    free(conns);
    free(evs);
    SSL_CTX_free(ctx);
    close(epfd);
    return 0;
}
