/* t/unit_bio.c: unit tests for tls_bio.c alone, printed as TAP.
 *
 * The client is an SSL over our BIO (mcs_bio_new) on a minimal fake
 * struct mcs_conn: only c->obuf (ciphertext to send), c->ibuf and c->ipos
 * (ciphertext received, and how much of it OpenSSL took) are touched, as
 * conn.c does. The server is an in-process OpenSSL server over two memory
 * BIOs. A pump moves bytes between them in random pieces (fixed seeds, so a
 * failure repeats), from one byte to tens of kilobytes, and both sides
 * check that every byte of a large random payload arrives intact, in both
 * directions at once, across KeyUpdates (TLS 1.3) and a renegotiation
 * (TLS 1.2), then close_notify both ways. Also: the BIO on its own, an
 * alert from a refused handshake landing in obuf, and a resumed session.
 *
 * Two OpenSSL 3 behaviours the exchange has to respect (and conn.c too):
 * a KeyUpdate request is answered with the next SSL_write, not from inside
 * SSL_read; and application data that arrives while an SSL_write drives a
 * TLS 1.2 renegotiation is fatal, so everything received is decrypted
 * before writing.
 *
 * Built and run by t/unit_bio.t:
 *   cc -I. -Ibuild t/unit_bio.c tls_bio.c $(pkg-config --cflags --libs openssl)
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "conn.h"
#include "tls_bio.h"
#include "unit_tap.h"

/* ---- TAP: ok(), diag() and the counters are in unit_tap.h --------------- */

static void diag_ssl(void)
{
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        diag("openssl: %s", buf);
    }
}

/* ---- random numbers (xorshift64*, fixed seeds) ----------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t rnd_range(size_t lo, size_t hi)
{
    return lo + (size_t)(rnd() % (hi - lo + 1));
}

/* How many bytes the next piece carries: mostly tiny or mid-sized, now and
 * then larger than a whole record. max_piece caps what crosses the "network"
 * at a time (1 = byte by byte); SSL_write and SSL_read sizes use piece(). */
static size_t max_piece;

static size_t piece_max(size_t max)
{
    size_t n;
    unsigned r = (unsigned)(rnd() % 10);
    if (r < 4)
        n = rnd_range(1, 8);
    else if (r < 8)
        n = rnd_range(1, 2000);
    else
        n = rnd_range(1, 40000);
    return n < max ? n : max;
}

static size_t piece(void)
{
    return piece_max(100000);
}

static size_t net_piece(void)
{
    return piece_max(max_piece);
}

static void fill_random(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(rnd() >> 56);
}

/* ---- a throwaway certificate ---------------------------------------------- */

static EVP_PKEY *pkey;
static X509 *cert;

static bool make_cert(void)
{
    pkey = EVP_EC_gen("P-256");
    cert = X509_new();
    if (pkey == NULL || cert == NULL)
        return false;
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
    X509_set_pubkey(cert, pkey);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                               -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
                                              "DNS:localhost");
    if (ext == NULL || !X509_add_ext(cert, ext, -1))
        return false;
    X509_EXTENSION_free(ext);
    return X509_sign(cert, pkey, EVP_sha256()) > 0;
}

/* ---- the two ends ------------------------------------------------------------ */

struct end {
    const char *who;
    SSL *ssl;
    const unsigned char *out;  /* payload to send */
    size_t out_len, sent;
    size_t retry_len;          /* an SSL_write to repeat as it was */
    bool hold_for_ku;          /* last bytes wait for 2 KeyUpdates */
    const unsigned char *in;   /* payload the peer sends: what must arrive */
    size_t in_len, got;
    bool corrupt;              /* a received byte differed */
    size_t corrupt_at;
    long ku_sent, ku_recv;     /* KeyUpdate messages */
    long hellos_recv;          /* ClientHello messages (server) */
    bool closed;               /* saw close_notify */
    bool failed;               /* an SSL call failed */
    struct end *peer;
};

/* Bytes an end may have sent that its peer has not read yet: flow control,
 * so both keep writing while the other's KeyUpdate or renegotiation comes
 * (OpenSSL answers a KeyUpdate request with its next write). */
#define WINDOW (4 * 1024)

static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    (void)version;
    (void)ssl;
    struct end *e = arg;
    const unsigned char *b = buf;
    if (content_type != SSL3_RT_HANDSHAKE || len == 0)
        return;
    if (b[0] == SSL3_MT_KEY_UPDATE) {
        if (write_p)
            e->ku_sent++;
        else
            e->ku_recv++;
    } else if (b[0] == SSL3_MT_CLIENT_HELLO && !write_p) {
        e->hellos_recv++;
    }
}

/* The fake connection of the client and the server's memory BIOs. */
static struct mcs_conn conn;
static BIO *srv_rbio, *srv_wbio;

static void reset_conn(void)
{
    mcs_buf_free(&conn.obuf);
    mcs_buf_free(&conn.ibuf);
    memset(&conn, 0, sizeof(conn));
    conn.fd = -1;
}

static SSL_CTX *client_ctx(int version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (version) {
        SSL_CTX_set_min_proto_version(ctx, version);
        SSL_CTX_set_max_proto_version(ctx, version);
    }
    return ctx;
}

static SSL_CTX *server_ctx(int version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx, cert);
    SSL_CTX_use_PrivateKey(ctx, pkey);
    if (version) {
        SSL_CTX_set_min_proto_version(ctx, version);
        SSL_CTX_set_max_proto_version(ctx, version);
    }
    return ctx;
}

/* A client SSL over our BIO on conn, a server SSL over memory BIOs. */
static void make_pair(SSL_CTX *cctx, SSL_CTX *sctx, const char *host, struct end *c,
                      struct end *s)
{
    reset_conn();
    c->peer = s;
    s->peer = c;
    c->ssl = SSL_new(cctx);
    BIO *b = mcs_bio_new(&conn);
    SSL_set_bio(c->ssl, b, b);
    SSL_set_connect_state(c->ssl);
    SSL_set_tlsext_host_name(c->ssl, host);
    SSL_set1_host(c->ssl, host);
    SSL_set_msg_callback(c->ssl, msg_cb);
    SSL_set_msg_callback_arg(c->ssl, c);

    s->ssl = SSL_new(sctx);
    srv_rbio = BIO_new(BIO_s_mem());
    srv_wbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(srv_rbio, -1);
    SSL_set_bio(s->ssl, srv_rbio, srv_wbio);
    SSL_set_accept_state(s->ssl);
    SSL_set_msg_callback(s->ssl, msg_cb);
    SSL_set_msg_callback_arg(s->ssl, s);
}

/* Client -> server: a piece of c->obuf, as a send would take it. */
static bool pump_c2s(void)
{
    if (conn.obuf.used == 0)
        return false;
    size_t n = net_piece();
    if (n > conn.obuf.used)
        n = conn.obuf.used;
    BIO_write(srv_rbio, conn.obuf.data, (int)n);
    mcs_buf_consume(&conn.obuf, n);
    return true;
}

/* Server -> client: a piece appended to c->ibuf, as a recv would put it.
 * Like conn.c, the consumed front is dropped before a recv, but only now
 * and then, so the BIO also reads with ipos well inside the buffer. */
static bool pump_s2c(void)
{
    size_t avail = BIO_ctrl_pending(srv_wbio);
    if (avail == 0)
        return false;
    size_t n = net_piece();
    if (n > avail)
        n = avail;
    if (rnd() % 3 == 0) {
        mcs_buf_consume(&conn.ibuf, conn.ipos);
        conn.ipos = 0;
    }
    if (mcs_buf_reserve(&conn.ibuf, n) < 0)
        return false;
    int r = BIO_read(srv_wbio, conn.ibuf.data + conn.ibuf.used, (int)n);
    if (r > 0)
        conn.ibuf.used += (size_t)r;
    return r > 0;
}

static bool ssl_ok(struct end *e, int ret, const char *what)
{
    if (ret > 0)
        return true;
    int err = SSL_get_error(e->ssl, ret);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return true;
    if (err == SSL_ERROR_ZERO_RETURN) {
        e->closed = true;
        return true;
    }
    if (!e->failed) {
        diag("%s: %s failed: SSL error %d", e->who, what, err);
        diag_ssl();
    }
    e->failed = true;
    return false;
}

/* Reads and checks all the end can decrypt now. */
static bool drain(struct end *e)
{
    bool progress = false;
    for (;;) {
        unsigned char buf[50000];
        size_t n = piece();
        if (n > sizeof(buf))
            n = sizeof(buf);
        ERR_clear_error();
        int r = SSL_read(e->ssl, buf, (int)n);
        if (r <= 0) {
            ssl_ok(e, r, "SSL_read");
            break;
        }
        progress = true;
        if ((size_t)r > e->in_len - e->got) {
            e->corrupt = true;
            e->corrupt_at = e->got;
            e->got = e->in_len;
            break;
        }
        if (!e->corrupt && memcmp(buf, e->in + e->got, (size_t)r) != 0) {
            e->corrupt = true;
            size_t i = 0;
            while (buf[i] == e->in[e->got + i])
                i++;
            e->corrupt_at = e->got + i;
        }
        e->got += (size_t)r;
    }
    return progress;
}

/* One step of one end: handshake, or write a piece and read what it can. */
static bool step(struct end *e)
{
    bool progress = false;
    ERR_clear_error();
    if (!SSL_is_init_finished(e->ssl) && e->sent == 0 && e->got == 0) {
        int r = SSL_do_handshake(e->ssl);
        ssl_ok(e, r, "SSL_do_handshake");
        return r == 1;
    }
    /* Like conn.c: everything received is decrypted before the next write
     * (OpenSSL refuses application data that arrives while an SSL_write
     * drives a TLS 1.2 renegotiation). */
    progress |= drain(e);
    /* With KeyUpdates, the last two bytes wait for the peer's messages:
     * OpenSSL sends its answer to a KeyUpdate request with its next write,
     * so each end must still have something to write when one comes. */
    size_t limit = e->out_len;
    if (e->hold_for_ku && e->ku_recv < 2)
        limit -= e->ku_recv < 1 ? 2 : 1;
    if (e->sent < limit && e->sent - e->peer->got < WINDOW) {
        size_t n = e->retry_len ? e->retry_len : piece();
        if (n > limit - e->sent)
            n = limit - e->sent;
        int r = SSL_write(e->ssl, e->out + e->sent, (int)n);
        e->retry_len = 0;
        if (r > 0) {
            e->sent += (size_t)r;
            progress = true;
        } else if (!ssl_ok(e, r, "SSL_write")) {
            return false;
        } else {
            e->retry_len = n; /* OpenSSL wants the same write again */
        }
    }
    return progress;
}

/* Runs until both payloads arrived (or nothing moves any more). The client
 * asks for a key update once it has read an eighth of the server's payload;
 * the server asks once the client has its answer. reneg_at > 0: the server
 * asks for a renegotiation once it has sent that many bytes (TLS 1.2). */
static bool exchange(struct end *c, struct end *s, bool key_updates, size_t reneg_at)
{
    bool c_ku = false, s_ku = false, reneg = false;
    int idle = 0;
    for (long iter = 0; iter < 50000000L && idle < 1000; iter++) {
        bool moved = false;
        if (c->failed || s->failed)
            return false;
        if (c->got == c->in_len && s->got == s->in_len && c->sent == c->out_len &&
            s->sent == s->out_len && conn.obuf.used == 0 && BIO_ctrl_pending(srv_wbio) == 0 &&
            conn.ipos == conn.ibuf.used && BIO_ctrl_pending(srv_rbio) == 0 &&
            SSL_is_init_finished(c->ssl) && SSL_is_init_finished(s->ssl))
            return true;
        if (key_updates && !c_ku && c->got >= c->in_len / 8 && SSL_is_init_finished(c->ssl)) {
            c_ku = true;
            if (!SSL_key_update(c->ssl, SSL_KEY_UPDATE_REQUESTED) ||
                SSL_do_handshake(c->ssl) != 1)
                ok(false, "client SSL_key_update");
        }
        if (key_updates && !s_ku && c->ku_recv >= 1 && SSL_is_init_finished(s->ssl)) {
            s_ku = true;
            if (!SSL_key_update(s->ssl, SSL_KEY_UPDATE_REQUESTED) ||
                SSL_do_handshake(s->ssl) != 1)
                ok(false, "server SSL_key_update");
        }
        if (reneg_at && !reneg && s->sent >= reneg_at && SSL_is_init_finished(s->ssl)) {
            reneg = true;
            if (!SSL_renegotiate(s->ssl))
                ok(false, "server SSL_renegotiate");
            SSL_do_handshake(s->ssl);
        }
        moved |= step(c);
        moved |= step(s);
        /* several pieces each way per round, in random amounts */
        for (int k = (int)rnd_range(1, 4); k > 0; k--) {
            moved |= pump_c2s();
            moved |= pump_s2c();
        }
        idle = moved ? 0 : idle + 1;
    }
    diag("stuck: client sent %zu/%zu got %zu/%zu, server sent %zu/%zu got %zu/%zu, "
         "obuf %zu, server out %zu, ibuf %zu ipos %zu",
         c->sent, c->out_len, c->got, c->in_len, s->sent, s->out_len, s->got, s->in_len,
         conn.obuf.used, (size_t)BIO_ctrl_pending(srv_wbio), conn.ibuf.used, conn.ipos);
    return false;
}

/* close_notify from one end, then the other: both see the end. */
static void close_both(struct end *c, struct end *s, const char *name)
{
    ERR_clear_error();
    int r = SSL_shutdown(c->ssl);
    ok(r >= 0 && conn.obuf.used > 0, "%s: client close_notify lands in obuf (%zu bytes)",
       name, conn.obuf.used);
    while (pump_c2s())
        ;
    unsigned char buf[64];
    ERR_clear_error();
    r = SSL_read(s->ssl, buf, sizeof(buf));
    ok(r == 0 && SSL_get_error(s->ssl, r) == SSL_ERROR_ZERO_RETURN,
       "%s: server reads the client's close_notify", name);
    ERR_clear_error();
    SSL_shutdown(s->ssl);
    while (pump_s2c())
        ;
    ERR_clear_error();
    r = SSL_read(c->ssl, buf, sizeof(buf));
    ok(r == 0 && SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN,
       "%s: client reads the server's close_notify", name);
    ok(conn.ipos == conn.ibuf.used, "%s: the client took every received byte", name);
}

struct scenario {
    const char *name;
    int version;          /* 0: negotiate (TLS 1.3) */
    size_t bytes;         /* each way */
    size_t max_piece;
    uint64_t seed;
    bool key_updates;
    size_t reneg_at;
};

/* UNIT_BIO_SEED=n shifts every seed, to try other random pieces. */
static uint64_t seed_shift;

static void run_scenario(const struct scenario *sc)
{
    rng_state = sc->seed + seed_shift;
    max_piece = sc->max_piece;
    unsigned char *up = malloc(sc->bytes), *down = malloc(sc->bytes);
    fill_random(up, sc->bytes);
    fill_random(down, sc->bytes);
    SSL_CTX *cctx = client_ctx(sc->version), *sctx = server_ctx(sc->version);
    struct end c = { .who = "client", .out = up, .out_len = sc->bytes, .in = down,
                     .in_len = sc->bytes };
    struct end s = { .who = "server", .out = down, .out_len = sc->bytes, .in = up,
                     .in_len = sc->bytes };
    make_pair(cctx, sctx, "localhost", &c, &s);
    c.hold_for_ku = s.hold_for_ku = sc->key_updates;
    bool done = exchange(&c, &s, sc->key_updates, sc->reneg_at);
    ok(done, "%s: both payloads of %zu bytes went through", sc->name, sc->bytes);
    ok(SSL_is_init_finished(c.ssl) && SSL_get_verify_result(c.ssl) == X509_V_OK,
       "%s: handshake done, certificate verified", sc->name);
    int want_version = sc->version ? sc->version : TLS1_3_VERSION;
    ok(SSL_version(c.ssl) == want_version, "%s: protocol %s", sc->name,
       SSL_get_version(c.ssl));
    if (!ok(c.got == sc->bytes && !c.corrupt, "%s: server -> client intact (%zu bytes)",
            sc->name, c.got) && c.corrupt)
        diag("first bad byte at %zu", c.corrupt_at);
    if (!ok(s.got == sc->bytes && !s.corrupt, "%s: client -> server intact (%zu bytes)",
            sc->name, s.got) && s.corrupt)
        diag("first bad byte at %zu", s.corrupt_at);
    if (sc->key_updates) {
        /* each side asked once and answered the other's request once */
        ok(c.ku_sent == 2 && c.ku_recv == 2, "%s: client sent %ld / got %ld KeyUpdates (2/2)",
           sc->name, c.ku_sent, c.ku_recv);
        ok(s.ku_sent == 2 && s.ku_recv == 2, "%s: server sent %ld / got %ld KeyUpdates (2/2)",
           sc->name, s.ku_sent, s.ku_recv);
    }
    if (sc->reneg_at) {
        ok(s.hellos_recv == 2, "%s: the client renegotiated (%ld ClientHellos)", sc->name,
           s.hellos_recv);
        ok(SSL_num_renegotiations(c.ssl) >= 1 || s.hellos_recv == 2,
           "%s: renegotiation counted", sc->name);
    }
    if (done)
        close_both(&c, &s, sc->name);
    SSL_free(c.ssl);
    SSL_free(s.ssl);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    free(up);
    free(down);
}

/* ---- the BIO by itself ----------------------------------------------------- */

static void test_bio_alone(void)
{
    reset_conn();
    BIO *b = mcs_bio_new(&conn);
    ok(b != NULL, "mcs_bio_new");
    if (b == NULL)
        return;
    ok(BIO_write(b, "hello ", 6) == 6 && BIO_write(b, "world", 5) == 5,
       "writes report every byte taken");
    ok(conn.obuf.used == 11 && memcmp(conn.obuf.data, "hello world", 11) == 0,
       "writes append to obuf, in order");
    ok(conn.ibuf.used == 0 && conn.ipos == 0, "writes leave ibuf alone");

    char out[64];
    int r = BIO_read(b, out, sizeof(out));
    ok(r <= 0 && BIO_should_retry(b) && BIO_should_read(b),
       "read with ibuf empty: retry, wants to read (got %d)", r);

    mcs_buf_reserve(&conn.ibuf, 6);
    memcpy(conn.ibuf.data, "abcdef", 6);
    conn.ibuf.used = 6;
    ok(BIO_pending(b) == 6, "pending counts unread ibuf bytes");
    r = BIO_read(b, out, 4);
    ok(r == 4 && memcmp(out, "abcd", 4) == 0 && conn.ipos == 4,
       "read takes from ibuf at ipos and advances it");
    ok(BIO_pending(b) == 2, "pending after a partial read");
    r = BIO_read(b, out, sizeof(out));
    ok(r == 2 && memcmp(out, "ef", 2) == 0 && conn.ipos == 6, "read takes only what is there");
    r = BIO_read(b, out, sizeof(out));
    ok(r <= 0 && BIO_should_retry(b), "read at the end of ibuf: retry");

    /* conn.c drops the consumed front and appends the next recv */
    mcs_buf_consume(&conn.ibuf, conn.ipos);
    conn.ipos = 0;
    mcs_buf_reserve(&conn.ibuf, 3);
    memcpy(conn.ibuf.data + conn.ibuf.used, "xyz", 3);
    conn.ibuf.used += 3;
    r = BIO_read(b, out, sizeof(out));
    ok(r == 3 && memcmp(out, "xyz", 3) == 0 && !BIO_should_retry(b),
       "read after the buffer was compacted and refilled");
    ok(BIO_flush(b) == 1, "flush succeeds (conn.c sends obuf)");
    ok(BIO_wpending(b) == 0, "wpending is 0: written bytes are in obuf already");

    size_t big = 3 * 1024 * 1024;
    char *p = malloc(big);
    memset(p, 'q', big);
    conn.obuf.used = 0;
    r = BIO_write(b, p, (int)big);
    ok(r == (int)big && conn.obuf.used == big && conn.obuf.size >= big &&
              conn.obuf.data[big - 1] == 'q',
       "a 3 MB write grows obuf and takes it all");
    free(p);
    BIO_free(b);
    reset_conn();
}

/* A handshake the client refuses: its alert goes out through obuf. */
static void test_refused_handshake(void)
{
    rng_state = 99;
    max_piece = 100000;
    SSL_CTX *cctx = client_ctx(0), *sctx = server_ctx(0);
    struct end c = { .who = "client" }, s = { .who = "server" };
    make_pair(cctx, sctx, "wrong.example", &c, &s);
    int cret = 0;
    for (int i = 0; i < 100; i++) {
        ERR_clear_error();
        cret = SSL_do_handshake(c.ssl);
        if (cret <= 0 && SSL_get_error(c.ssl, cret) != SSL_ERROR_WANT_READ)
            break;
        ERR_clear_error();
        SSL_do_handshake(s.ssl);
        while (pump_s2c())
            ;
        while (pump_c2s())
            ;
    }
    ok(cret <= 0 && SSL_get_verify_result(c.ssl) == X509_V_ERR_HOSTNAME_MISMATCH,
       "wrong host name: the client's handshake fails with a hostname mismatch");
    const unsigned char *o = (const unsigned char *)conn.obuf.data;
    ok(conn.obuf.used >= 7 && o[0] == 0x15 && o[1] == 0x03,
       "its alert record is in obuf (%zu bytes, first byte 0x%02x)", conn.obuf.used,
       conn.obuf.used ? o[0] : 0);
    while (pump_c2s())
        ;
    ERR_clear_error();
    int sret = SSL_do_handshake(s.ssl);
    ok(sret <= 0 && SSL_get_error(s.ssl, sret) == SSL_ERROR_SSL,
       "the server receives the alert and fails too");
    ERR_clear_error();
    SSL_free(c.ssl);
    SSL_free(s.ssl);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    reset_conn();
}

/* A second connection resumes with the ticket the first one read. */
static void test_resumption(void)
{
    rng_state = 7;
    max_piece = 3000;
    SSL_CTX *cctx = client_ctx(0), *sctx = server_ctx(0);
    SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT);
    unsigned char up[100], down[100];
    fill_random(up, sizeof(up));
    fill_random(down, sizeof(down));
    SSL_SESSION *sess = NULL;
    for (int round = 0; round < 2; round++) {
        struct end c = { .who = "client", .out = up, .out_len = sizeof(up), .in = down,
                         .in_len = sizeof(down) };
        struct end s = { .who = "server", .out = down, .out_len = sizeof(down), .in = up,
                         .in_len = sizeof(up) };
        make_pair(cctx, sctx, "localhost", &c, &s);
        if (sess)
            SSL_set_session(c.ssl, sess);
        bool done = exchange(&c, &s, false, 0);
        if (round == 0) {
            ok(done && !SSL_session_reused(c.ssl), "first connection: full handshake");
            sess = SSL_get1_session(c.ssl);
            ok(sess != NULL && SSL_SESSION_is_resumable(sess),
               "the ticket read through the BIO is resumable");
        } else {
            ok(done && SSL_session_reused(c.ssl) && s.hellos_recv == 1,
               "second connection resumes");
        }
        /* an SSL freed without sending close_notify marks its session
         * not resumable (OpenSSL's ssl_clear_bad_session) */
        if (done)
            close_both(&c, &s, round ? "resumed" : "to be resumed");
        SSL_free(c.ssl);
        SSL_free(s.ssl);
    }
    SSL_SESSION_free(sess);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    reset_conn();
}

int main(void)
{
    if (!make_cert()) {
        printf("1..0 # SKIP cannot make a test certificate\n");
        return 0;
    }
    if (getenv("UNIT_BIO_SEED"))
        seed_shift = strtoull(getenv("UNIT_BIO_SEED"), NULL, 0);
    test_bio_alone();
    static const struct scenario scenarios[] = {
        { "TLS 1.3, 1 MB each way, random pieces, KeyUpdates", 0, 1 << 20, 100000, 1, true, 0 },
        { "TLS 1.3, 1 MB each way, other seed", 0, 1 << 20, 100000, 12345, true, 0 },
        { "TLS 1.3, 48 KB each way, 1..3-byte pieces", 0, 48 << 10, 3, 2, true, 0 },
        { "TLS 1.3, 200 KB each way, byte by byte", 0, 200 << 10, 1, 3, true, 0 },
        { "TLS 1.2, 512 KB each way, renegotiation", TLS1_2_VERSION, 512 << 10, 100000, 4,
          false, 100 << 10 },
        { "TLS 1.2, 64 KB each way, small pieces, renegotiation", TLS1_2_VERSION, 64 << 10, 7,
          5, false, 20 << 10 },
    };
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        run_scenario(&scenarios[i]);
    test_refused_handshake();
    test_resumption();
    X509_free(cert);
    EVP_PKEY_free(pkey);
    printf("1..%d\n", ntests);
    return nfailed ? 1 : 0;
}
