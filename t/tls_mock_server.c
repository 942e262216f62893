/* t/tls_mock_server.c: a misbehaving TLS memcached for t/tls_mock.t.
 *
 *   tls_mock_server CERT KEY PORT MODE [N]
 *
 * Listens on 127.0.0.1:PORT (0: picks one) and prints "PORT <n>" on stdout
 * once it accepts. Each connection is served by a child process (they die
 * with the parent) and speaks just enough memcached: mg answers
 * "VA 2\r\nhi\r\n", ms/md/ma "HD", mn "MN", get "VALUE <key> 0 2\r\nhi\r\n"
 * per key then "END", set and friends "STORED", version "VERSION mock",
 * anything else "ERROR". When a connection ends its child prints
 *   CONN responses=R keyupdates_sent=S keyupdates_recv=T client_hellos=H
 * (KeyUpdate and ClientHello messages counted by a message callback).
 *
 * OpenSSL runs over two memory BIOs on this side so the test server decides
 * how ciphertext reaches the socket. MODE:
 *   normal         answers each batch of requests in one record, one send
 *   keyupdate N    after every N responses SSL_key_update(REQUESTED)
 *   fragment       every byte it sends (handshake included) is its own
 *                  TCP segment (TCP_NODELAY, one send per byte)
 *   coalesce       each response split over two records; records are held
 *                  while more requests are readable, then sent in one go
 *   close_notify K after K responses: close_notify, FIN
 *   truncate K     after K responses: half of a record, then FIN
 *   stall          handshake, then reads requests and never answers
 *   reneg N        (TLS 1.2) after every N responses asks the client to
 *                  renegotiate (HelloRequest)
 *   mute           accepts and reads, never sends a byte (no handshake)
 * Modes combine with '+', e.g. "keyupdate+fragment 3" (one count for all).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* Modes are flags: "keyupdate+fragment" combines two. */
enum { M_KEYUPDATE = 1, M_FRAGMENT = 2, M_COALESCE = 4, M_CLOSE_NOTIFY = 8,
       M_TRUNCATE = 16, M_STALL = 32, M_RENEG = 64, M_MUTE = 128 };
#define M_COUNTED (M_KEYUPDATE | M_CLOSE_NOTIFY | M_TRUNCATE | M_RENEG)

static unsigned mode;
static long mode_n;

struct mconn {
    int fd;
    SSL *ssl;
    BIO *rb, *wb;                /* network -> SSL, SSL -> network */
    char *in;                    /* decrypted requests */
    size_t in_len, in_cap;
    char *out;                   /* plaintext responses not yet written */
    size_t out_len, out_cap;
    long responses;
    long ku_sent, ku_recv, client_hellos;
};

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "tls_mock_server: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static void append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n > *cap) {
        size_t nc = *cap ? *cap : 4096;
        while (nc < *len + n)
            nc *= 2;
        *buf = realloc(*buf, nc);
        if (*buf == NULL)
            die("out of memory");
        *cap = nc;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
}

static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    (void)version;
    (void)ssl;
    struct mconn *m = arg;
    const unsigned char *b = buf;
    if (content_type != SSL3_RT_HANDSHAKE || len == 0)
        return;
    if (b[0] == SSL3_MT_KEY_UPDATE) {
        if (!write_p)
            m->ku_recv++;
    } else if (b[0] == SSL3_MT_CLIENT_HELLO && !write_p) {
        m->client_hellos++;
    }
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Sends what OpenSSL wrote. In coalesce mode it waits while more requests
 * are readable (and less than 64 KB is held), unless forced. */
static int flush_net(struct mconn *m, bool force)
{
    if ((mode & M_COALESCE) && !force && BIO_ctrl_pending(m->wb) < 65536) {
        struct pollfd p = { .fd = m->fd, .events = POLLIN };
        if (poll(&p, 1, 0) > 0)
            return 0;
    }
    char buf[16384];
    int n;
    while ((n = BIO_read(m->wb, buf, sizeof(buf))) > 0) {
        if (mode & M_FRAGMENT) {
            for (int i = 0; i < n; i++) {
                if (send_all(m->fd, buf + i, 1) < 0)
                    return -1;
                if (i % 8 == 7) {
                    struct timespec ts = { 0, 20000 };
                    nanosleep(&ts, NULL);
                }
            }
        } else if (send_all(m->fd, buf, (size_t)n) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Reads from the socket into the SSL's network BIO. >0, or 0 on EOF/error. */
static int read_net(struct mconn *m)
{
    char buf[16384];
    ssize_t r;
    do {
        r = recv(m->fd, buf, sizeof(buf), 0);
    } while (r < 0 && errno == EINTR);
    if (r <= 0)
        return 0;
    BIO_write(m->rb, buf, (int)r);
    return (int)r;
}

static int ssl_write_all(struct mconn *m, const char *p, size_t n)
{
    while (n > 0) {
        int r = SSL_write(m->ssl, p, (int)n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Writes the responses gathered so far as records. */
static int emit(struct mconn *m)
{
    if (m->out_len == 0)
        return 0;
    int r = ssl_write_all(m, m->out, m->out_len);
    m->out_len = 0;
    return r;
}

static int respond(struct mconn *m, const char *s, size_t n)
{
    if (mode & M_COALESCE) {
        /* two records for one response, split mid-line */
        size_t half = n / 2;
        if (ssl_write_all(m, s, half) < 0 || ssl_write_all(m, s + half, n - half) < 0)
            return -1;
        return 0;
    }
    append(&m->out, &m->out_len, &m->out_cap, s, n);
    return 0;
}

/* Lets the peer see our FIN, reads what it still sends for a moment. */
static void linger_close(struct mconn *m)
{
    shutdown(m->fd, SHUT_WR);
    struct pollfd p = { .fd = m->fd, .events = POLLIN };
    char buf[4096];
    while (poll(&p, 1, 500) > 0) {
        if (recv(m->fd, buf, sizeof(buf), 0) <= 0)
            break;
    }
}

/* After each response: what the mode does. 1: the connection is over. */
static int after_response(struct mconn *m)
{
    m->responses++;
    if ((mode & M_KEYUPDATE) && m->responses % mode_n == 0) {
        if (emit(m) < 0 || !SSL_key_update(m->ssl, SSL_KEY_UPDATE_REQUESTED) ||
            SSL_do_handshake(m->ssl) != 1)
            die("key update failed");
        m->ku_sent++;
    }
    if ((mode & M_RENEG) && m->responses % mode_n == 0) {
        if (emit(m) < 0)
            return 1;
        if (SSL_version(m->ssl) == TLS1_3_VERSION || !SSL_renegotiate(m->ssl))
            die("cannot renegotiate (TLS 1.2 only)");
        SSL_do_handshake(m->ssl); /* sends the HelloRequest */
    }
    if ((mode & M_CLOSE_NOTIFY) && m->responses == mode_n) {
        emit(m);
        SSL_shutdown(m->ssl);
        flush_net(m, true);
        linger_close(m);
        return 1;
    }
    if ((mode & M_TRUNCATE) && m->responses == mode_n) {
        emit(m);
        flush_net(m, true);
        static const char extra[] = "VA 64\r\n"
            "0123456789012345678901234567890123456789012345678901234567890123\r\n";
        if (ssl_write_all(m, extra, sizeof(extra) - 1) < 0)
            return 1;
        char rec[1024];
        int n = BIO_read(m->wb, rec, sizeof(rec));
        if (n > 1)
            send_all(m->fd, rec, (size_t)n / 2);
        linger_close(m);
        return 1;
    }
    return 0;
}

static long tok_num(const char *line, size_t len, int idx)
{
    int t = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && line[i] == ' ')
            i++;
        if (i >= len)
            break;
        size_t s = i;
        while (i < len && line[i] != ' ')
            i++;
        if (t == idx) {
            char tmp[32];
            size_t n = i - s < sizeof(tmp) - 1 ? i - s : sizeof(tmp) - 1;
            memcpy(tmp, line + s, n);
            tmp[n] = 0;
            return strtol(tmp, NULL, 10);
        }
        t++;
    }
    return -1;
}

static bool is_cmd(const char *line, size_t len, const char *cmd)
{
    size_t n = strlen(cmd);
    return len >= n && memcmp(line, cmd, n) == 0 && (len == n || line[n] == ' ');
}

/* Answers every complete request in m->in. 1: the connection is over. */
static int process(struct mconn *m)
{
    size_t pos = 0;
    int over = 0;
    while (!over && pos < m->in_len) {
        char *line = m->in + pos;
        char *nl = memchr(line, '\n', m->in_len - pos);
        if (nl == NULL)
            break;
        size_t len = (size_t)(nl - line);
        size_t used = len + 1;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        long data = -1;
        if (is_cmd(line, len, "ms"))
            data = tok_num(line, len, 2);
        else if (is_cmd(line, len, "set") || is_cmd(line, len, "add") ||
                 is_cmd(line, len, "replace") || is_cmd(line, len, "append") ||
                 is_cmd(line, len, "prepend") || is_cmd(line, len, "cas"))
            data = tok_num(line, len, 4);
        if (data >= 0) {
            if (m->in_len - pos < used + (size_t)data + 2)
                break; /* the value is not all here yet */
            used += (size_t)data + 2;
        }
        pos += used;
        if (mode & M_STALL)
            continue;
        bool noreply = len >= 8 && memcmp(line + len - 8, " noreply", 8) == 0;
        if (is_cmd(line, len, "mg")) {
            respond(m, "VA 2\r\nhi\r\n", 10);
        } else if (is_cmd(line, len, "ms") || is_cmd(line, len, "md") ||
                   is_cmd(line, len, "ma")) {
            respond(m, "HD\r\n", 4);
        } else if (is_cmd(line, len, "mn")) {
            respond(m, "MN\r\n", 4);
        } else if (is_cmd(line, len, "get") || is_cmd(line, len, "gets")) {
            size_t i = line[3] == 's' ? 4 : 3;
            while (i < len) {
                while (i < len && line[i] == ' ')
                    i++;
                size_t s = i;
                while (i < len && line[i] != ' ')
                    i++;
                if (i > s) {
                    char v[300];
                    int n = snprintf(v, sizeof(v), "VALUE %.*s 0 2\r\nhi\r\n",
                                     (int)(i - s > 250 ? 250 : i - s), line + s);
                    respond(m, v, (size_t)n);
                }
            }
            respond(m, "END\r\n", 5);
        } else if (data >= 0) {
            if (noreply)
                continue;
            respond(m, "STORED\r\n", 8);
        } else if (is_cmd(line, len, "version")) {
            respond(m, "VERSION mock\r\n", 14);
        } else {
            respond(m, "ERROR\r\n", 7);
        }
        over = after_response(m);
    }
    memmove(m->in, m->in + pos, m->in_len - pos);
    m->in_len -= pos;
    return over;
}

static void serve(SSL_CTX *ctx, int fd)
{
    struct mconn m = { .fd = fd };
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    m.ssl = SSL_new(ctx);
    m.rb = BIO_new(BIO_s_mem());
    m.wb = BIO_new(BIO_s_mem());
    if (m.ssl == NULL || m.rb == NULL || m.wb == NULL)
        die("out of memory");
    BIO_set_mem_eof_return(m.rb, -1);
    SSL_set_bio(m.ssl, m.rb, m.wb);
    SSL_set_accept_state(m.ssl);
    SSL_set_msg_callback(m.ssl, msg_cb);
    SSL_set_msg_callback_arg(m.ssl, &m);

    if (mode & M_MUTE) {
        char buf[4096];
        while (recv(fd, buf, sizeof(buf), 0) > 0)
            ;
        goto done;
    }
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(m.ssl);
        if (flush_net(&m, true) < 0)
            goto done;
        if (r == 1)
            break;
        if (SSL_get_error(m.ssl, r) != SSL_ERROR_WANT_READ || read_net(&m) == 0)
            goto done;
    }
    for (;;) {
        char buf[16384];
        for (;;) {
            ERR_clear_error();
            int r = SSL_read(m.ssl, buf, sizeof(buf));
            if (r > 0) {
                append(&m.in, &m.in_len, &m.in_cap, buf, (size_t)r);
                continue;
            }
            if (SSL_get_error(m.ssl, r) == SSL_ERROR_WANT_READ)
                break;
            flush_net(&m, true); /* e.g. the answer to a close_notify */
            goto done;
        }
        if (process(&m))
            goto done;
        if (emit(&m) < 0 || flush_net(&m, false) < 0)
            goto done;
        if (read_net(&m) == 0)
            goto done;
    }
done:
    dprintf(1, "CONN responses=%ld keyupdates_sent=%ld keyupdates_recv=%ld client_hellos=%ld\n",
            m.responses, m.ku_sent, m.ku_recv, m.client_hellos);
    SSL_free(m.ssl);
    close(fd);
    free(m.in);
    free(m.out);
}

int main(int argc, char **argv)
{
    if (argc < 5)
        die("usage: tls_mock_server CERT KEY PORT MODE [N]");
    static const char *names[] = { "keyupdate", "fragment", "coalesce", "close_notify",
                                   "truncate", "stall", "reneg", "mute" };
    char *modes = strdup(argv[4]), *save = NULL;
    for (char *w = strtok_r(modes, "+", &save); w; w = strtok_r(NULL, "+", &save)) {
        int found = -1;
        for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
            if (strcmp(w, names[i]) == 0)
                found = i;
        if (found < 0 && strcmp(w, "normal") != 0)
            die("unknown mode %s", w);
        if (found >= 0)
            mode |= 1u << found;
    }
    free(modes);
    mode_n = argc > 5 ? strtol(argv[5], NULL, 10) : 0;
    if ((mode & M_COUNTED) && mode_n <= 0)
        die("mode %s needs a count > 0", argv[4]);

    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1)
        die("cannot load %s / %s", argv[1], argv[2]);
    if (mode & M_RENEG)
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3])) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 128) < 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) < 0)
        die("cannot listen on 127.0.0.1:%s: %s", argv[3], strerror(errno));
    signal(SIGCHLD, SIG_IGN); /* children reap themselves */
    signal(SIGPIPE, SIG_IGN);
    printf("PORT %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    pid_t parent = getpid();

    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("accept: %s", strerror(errno));
        }
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(0);
            alarm(60); /* never outlive a test by much */
            close(ls);
            serve(ctx, fd);
            _exit(0);
        }
        close(fd);
    }
}
