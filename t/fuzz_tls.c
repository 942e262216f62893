/* t/fuzz_tls.c: libFuzzer target for the TLS read path: our BIO (tls_bio.c)
 * under a client SSL, fed ciphertext in any split, read the way tls.c does,
 * and the decrypted bytes parsed by mcs_res_parse the way conn.c does.
 *
 * Built and run by scripts/fuzz.sh:
 *   clang -fsanitize=fuzzer,address,undefined -O1 -g -I. -Ibuild \
 *     t/fuzz_tls.c tls_bio.c proto_text.c $(pkg-config --cflags --libs openssl)
 *
 * Input layout:
 *   byte 0       mode (low 2 bits) and options (bit 2: TLS 1.2 instead of
 *                1.3; bit 3: server sends close_notify at the end (mode 2);
 *                bit 4: server sends a KeyUpdate midway (mode 2, TLS 1.3);
 *                bit 5: flip one byte of the ciphertext (mode 2))
 *   byte 1       k: how many split bytes follow (k % 16)
 *   bytes 2..    k split bytes: chunk sizes, used in turn (0 = 300 bytes)
 *   then         one byte: where to flip (bit 5), then the payload
 *
 *   mode 0  the payload is the server's first flight: the client's
 *           handshake reads it (ClientHello in obuf is thrown away)
 *   mode 1  a real handshake with an in-process server first, then the
 *           payload is raw ciphertext for the record layer
 *   mode 2  a real handshake, then the payload is plaintext the server
 *           writes (one record per chunk): valid records, split anyhow,
 *           optionally with a KeyUpdate, a flipped byte, close_notify
 *   mode 3  as 1, but the payload follows a valid record the server sent
 *
 * Everything is freed per input. The SSL_CTXs and the certificate live for
 * the whole process (made in LLVMFuzzerInitialize). */
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
#include "proto_text.h"
#include "tls_bio.h"

static EVP_PKEY *pkey;
static X509 *cert;
static SSL_CTX *cctx, *sctx;

/* conn.c's version, without the generation counter bookkeeping: conn.c is
 * not linked (it needs io_uring). */
#define RECV_MIN (16 * 1024)
char *mcs_conn_rbuf_room(struct mcs_conn *c, size_t *len)
{
    if (c->rpos > 0) {
        mcs_buf_consume(&c->rbuf, c->rpos);
        c->rpos = 0;
    }
    size_t want = RECV_MIN;
    if (c->rbuf.size - c->rbuf.used < want && c->rbuf.used >= RECV_MIN)
        want = c->rbuf.used;
    if (mcs_buf_reserve(&c->rbuf, want) < 0)
        return NULL;
    *len = c->rbuf.size - c->rbuf.used;
    return c->rbuf.data + c->rbuf.used;
}

static void die(const char *what)
{
    fprintf(stderr, "fuzz_tls: %s\n", what);
    ERR_print_errors_fp(stderr);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    cert = X509_new();
    if (pkey == NULL || cert == NULL)
        die("key");
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 10L * 365 * 24 * 3600);
    X509_set_pubkey(cert, pkey);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                               -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
                                              "DNS:localhost");
    if (ext == NULL || !X509_add_ext(cert, ext, -1))
        die("cert ext");
    X509_EXTENSION_free(ext);
    if (X509_sign(cert, pkey, NULL) <= 0)
        die("cert sign");

    /* like tls.c: verify the peer, keep sessions out of the internal store */
    cctx = SSL_CTX_new(TLS_client_method());
    sctx = SSL_CTX_new(TLS_server_method());
    if (cctx == NULL || sctx == NULL)
        die("ctx");
    X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), cert);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT |
                                         SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_set1_groups_list(cctx, "X25519");
    SSL_CTX_set_min_proto_version(cctx, TLS1_2_VERSION);
    if (!SSL_CTX_use_certificate(sctx, cert) || !SSL_CTX_use_PrivateKey(sctx, pkey))
        die("server cert");
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(sctx, 0); /* less work per handshake */
    return 0;
}

/* Chunk sizes taken from the input, in turn. */
struct splits {
    const uint8_t *b;
    size_t n, i;
};

static size_t next_split(struct splits *s)
{
    if (s->n == 0)
        return 300;
    uint8_t v = s->b[s->i++ % s->n];
    return v ? v : 300;
}

/* The client and what surrounds it. */
struct run {
    struct mcs_conn conn;
    SSL *ssl;            /* client, over our BIO on conn */
    SSL *srv;            /* server over memory BIOs (modes 1..3) */
    BIO *srv_rbio, *srv_wbio;
    bool done;           /* client failed or closed: stop feeding */
    bool handshaking;
    unsigned flips;      /* compaction pattern of ibuf */
};

/* conn.c's reading of responses: parse from rpos until WANT or ERROR. */
static void parse_responses(struct mcs_conn *c)
{
    for (;;) {
        struct mcs_res r;
        size_t avail = c->rbuf.used - c->rpos;
        if (avail == 0)
            return;
        enum mcs_parse_status st = mcs_res_parse(c->rbuf.data + c->rpos, avail, &r);
        if (st == MCS_PARSE_WANT)
            return;
        if (st == MCS_PARSE_ERROR) {
            /* conn.c resets the connection; here: forget the bytes */
            c->rpos = c->rbuf.used;
            return;
        }
        if (r.consumed == 0 || r.consumed > avail)
            abort();
        c->rpos += r.consumed;
    }
}

/* tls.c's handshake step and decode loop, after a chunk arrived. */
static void client_step(struct run *R)
{
    struct mcs_conn *c = &R->conn;
    if (R->handshaking) {
        ERR_clear_error();
        int ret = SSL_do_handshake(R->ssl);
        if (ret != 1) {
            int e = SSL_get_error(R->ssl, ret);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                R->done = true;
            c->obuf.used = 0; /* "sent" */
            return;
        }
        R->handshaking = false;
    }
    for (int guard = 0; guard < 100000; guard++) {
        size_t room;
        char *p = mcs_conn_rbuf_room(c, &room);
        if (p == NULL) {
            R->done = true;
            break;
        }
        ERR_clear_error();
        int ret = SSL_read(R->ssl, p, room > INT32_MAX ? INT32_MAX : (int)room);
        if (ret > 0) {
            if ((size_t)ret > room)
                abort();
            c->rbuf.used += (size_t)ret;
            parse_responses(c);
            if (c->ipos == c->ibuf.used && !SSL_has_pending(R->ssl))
                break;
            continue;
        }
        int e = SSL_get_error(R->ssl, ret);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            R->done = true; /* closed or failed: tls.c fails the connection */
        break;
    }
    if (c->ipos > c->ibuf.used)
        abort();
    c->obuf.used = 0; /* KeyUpdate answers, alerts: "sent" */
}

/* A recv of n bytes into ibuf; like conn.c, the consumed front is dropped
 * first (now and then, so the BIO also reads with ipos inside the buffer). */
static void feed(struct run *R, const uint8_t *p, size_t n)
{
    struct mcs_conn *c = &R->conn;
    if (R->flips++ % 3 != 1) {
        mcs_buf_consume(&c->ibuf, c->ipos);
        c->ipos = 0;
    }
    if (mcs_buf_reserve(&c->ibuf, n) < 0) {
        R->done = true;
        return;
    }
    memcpy(c->ibuf.data + c->ibuf.used, p, n);
    c->ibuf.used += n;
    client_step(R);
}

/* Feeds all of p in chunks. */
static void feed_split(struct run *R, const uint8_t *p, size_t len, struct splits *s)
{
    size_t pos = 0;
    while (pos < len && !R->done) {
        size_t n = next_split(s);
        if (n > len - pos)
            n = len - pos;
        feed(R, p + pos, n);
        pos += n;
    }
}

static bool new_client(struct run *R, bool tls12)
{
    R->conn.fd = -1;
    R->ssl = SSL_new(cctx);
    BIO *b = mcs_bio_new(&R->conn);
    if (R->ssl == NULL || b == NULL) {
        BIO_free(b);
        return false;
    }
    SSL_set_bio(R->ssl, b, b);
    SSL_set_connect_state(R->ssl);
    SSL_set_tlsext_host_name(R->ssl, "localhost");
    SSL_set1_host(R->ssl, "localhost");
    if (tls12)
        SSL_set_max_proto_version(R->ssl, TLS1_2_VERSION);
    R->handshaking = true;
    return true;
}

/* Server ciphertext waiting in its write BIO: into buf. */
static uint8_t *take_server_output(struct run *R, size_t *len)
{
    size_t n = BIO_ctrl_pending(R->srv_wbio);
    *len = n;
    uint8_t *out = malloc(n ? n : 1);
    if (out && n)
        BIO_read(R->srv_wbio, out, (int)n);
    return out;
}

/* A real handshake, whole messages at a time. */
static bool handshake(struct run *R)
{
    R->srv = SSL_new(sctx);
    R->srv_rbio = BIO_new(BIO_s_mem());
    R->srv_wbio = BIO_new(BIO_s_mem());
    if (R->srv == NULL || R->srv_rbio == NULL || R->srv_wbio == NULL) {
        BIO_free(R->srv_rbio);
        BIO_free(R->srv_wbio);
        R->srv_rbio = R->srv_wbio = NULL;
        return false;
    }
    BIO_set_mem_eof_return(R->srv_rbio, -1);
    SSL_set_bio(R->srv, R->srv_rbio, R->srv_wbio);
    SSL_set_accept_state(R->srv);
    struct mcs_conn *c = &R->conn;
    for (int i = 0; i < 20; i++) {
        ERR_clear_error();
        int cr = SSL_do_handshake(R->ssl);
        if (c->obuf.used) {
            BIO_write(R->srv_rbio, c->obuf.data, (int)c->obuf.used);
            c->obuf.used = 0;
        }
        if (cr != 1 && SSL_get_error(R->ssl, cr) != SSL_ERROR_WANT_READ)
            return false;
        ERR_clear_error();
        int sr = SSL_do_handshake(R->srv);
        if (sr != 1 && SSL_get_error(R->srv, sr) != SSL_ERROR_WANT_READ)
            return false;
        size_t n;
        uint8_t *out = take_server_output(R, &n);
        if (out == NULL)
            return false;
        mcs_buf_consume(&c->ibuf, c->ipos);
        c->ipos = 0;
        if (mcs_buf_reserve(&c->ibuf, n) == 0) {
            memcpy(c->ibuf.data + c->ibuf.used, out, n);
            c->ibuf.used += n;
        }
        free(out);
        if (cr == 1 && sr == 1 && c->ipos == c->ibuf.used)
            break;
    }
    ERR_clear_error();
    if (SSL_do_handshake(R->ssl) != 1 || !SSL_is_init_finished(R->srv))
        return false;
    R->handshaking = false;
    c->obuf.used = 0;
    return true;
}

/* Mode 2: the server writes the payload, one record per chunk; the
 * ciphertext reaches the client in other chunks. */
static void server_records(struct run *R, const uint8_t *p, size_t len, struct splits *s,
                           uint8_t opts, uint8_t flip_at)
{
    size_t pos = 0;
    bool ku = false;
    while (pos < len) {
        size_t n = next_split(s);
        if (n > len - pos)
            n = len - pos;
        ERR_clear_error();
        if (SSL_write(R->srv, p + pos, (int)n) <= 0)
            break;
        pos += n;
        if ((opts & 0x10) && !ku && pos >= len / 2 && SSL_version(R->srv) == TLS1_3_VERSION) {
            ku = true;
            if (SSL_key_update(R->srv, SSL_KEY_UPDATE_REQUESTED))
                SSL_do_handshake(R->srv);
        }
    }
    if (opts & 0x08) {
        ERR_clear_error();
        SSL_shutdown(R->srv);
    }
    size_t n;
    uint8_t *out = take_server_output(R, &n);
    if (out == NULL)
        return;
    if ((opts & 0x20) && n > 0)
        out[(flip_at * 131u) % n] ^= (uint8_t)(1u << (flip_at & 7));
    feed_split(R, out, n, s);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t opts = data[0];
    int mode = opts & 3;
    bool tls12 = (opts & 0x04) != 0;
    size_t k = data[1] % 16;
    if (size < 2 + k + 1)
        return 0;
    struct splits s = { data + 2, k, 0 };
    uint8_t flip_at = data[2 + k];
    const uint8_t *payload = data + 3 + k;
    size_t plen = size - 3 - k;

    struct run R;
    memset(&R, 0, sizeof(R));
    if (!new_client(&R, tls12))
        goto out;
    if (mode == 0) {
        /* the ClientHello goes "out"; the payload answers it */
        client_step(&R);
        feed_split(&R, payload, plen, &s);
    } else if (handshake(&R)) {
        if (mode == 2) {
            server_records(&R, payload, plen, &s, opts, flip_at);
        } else {
            if (mode == 3) {
                static const char resp[] = "VALUE k 0 3\r\nabc\r\nEND\r\n";
                size_t n;
                SSL_write(R.srv, resp, sizeof(resp) - 1);
                uint8_t *out = take_server_output(&R, &n);
                if (out) {
                    feed(&R, out, n);
                    free(out);
                }
            }
            feed_split(&R, payload, plen, &s);
        }
    }
out:
    if (R.ssl)
        SSL_free(R.ssl); /* frees our BIO */
    if (R.srv)
        SSL_free(R.srv); /* frees its memory BIOs */
    else {
        BIO_free(R.srv_rbio);
        BIO_free(R.srv_wbio);
    }
    mcs_buf_free(&R.conn.obuf);
    mcs_buf_free(&R.conn.ibuf);
    mcs_buf_free(&R.conn.rbuf);
    ERR_clear_error();
    return 0;
}
