/* tls.c: the TLS transport. SSL_write encrypts the flushed requests and our
 * BIO (tls_bio.c) appends the records straight to the socket write buffer;
 * SSL_read decrypts what our BIO hands it from the socket read buffer into
 * the response buffer. conn.c sends whatever appears in the write buffer
 * after every call, so records produced while reading (KeyUpdate answers,
 * alerts) go out at once. */
#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "tls_bio.h"
#include "run.h"
#include "worker.h"

struct mcs_tls_ctx {
    SSL_CTX *ctx;
    char host[256];       /* checked against the certificate */
    char sni[256];        /* sent as server name; empty: none */
    bool host_is_ip, verify, resume;
};

/* Per connection; the session outlives sockets for resumption. */
struct mcs_tls_conn {
    SSL *ssl;
    SSL_SESSION *session;
    uint64_t hs_start_ns;
    bool write_blocked;   /* SSL_write wants a read first */
};

enum tls_status { TLS_OK, TLS_WANT_READ, TLS_WANT_WRITE, TLS_CLOSED, TLS_ERROR };

static FILE *keylog_file;
static pthread_mutex_t keylog_lock = PTHREAD_MUTEX_INITIALIZER;

/* The error queue must be empty before an SSL call for SSL_get_error to be
 * right; clearing it costs more than looking, so look first. */
static inline void tls_clear_errors(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

/* The one place that maps an SSL call's return to what to do next. The
 * error queue was cleared before the call; *err keeps its first error. */
static enum tls_status tls_status(SSL *ssl, int ret, unsigned long *err)
{
    if (ret > 0)
        return TLS_OK;
    int e = SSL_get_error(ssl, ret);
    *err = ERR_peek_error();
    switch (e) {
    case SSL_ERROR_WANT_READ: return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return TLS_CLOSED;
    default: return TLS_ERROR;
    }
}

static enum mcs_tls_err verify_error(long v)
{
    switch (v) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return MCS_TLS_ERR_HOSTNAME;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        return MCS_TLS_ERR_UNKNOWN_CA;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return MCS_TLS_ERR_EXPIRED;
    default:
        return MCS_TLS_ERR_CERT;
    }
}

static enum mcs_tls_err ssl_error(unsigned long err)
{
    switch (ERR_GET_REASON(err)) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
        return MCS_TLS_ERR_NOT_TLS;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
        return MCS_TLS_ERR_VERSION;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_CIPHERS_AVAILABLE:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
        return MCS_TLS_ERR_CIPHER;
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return MCS_TLS_ERR_CLIENT_CERT;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        return MCS_TLS_ERR_CLOSED;
    default:
        return MCS_TLS_ERR_OTHER;
    }
}

/* Records why TLS failed, in words a user can act on, and clears the
 * error queue. */
static void tls_failed(struct mcs_conn *c, SSL *ssl, unsigned long err)
{
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    enum mcs_tls_err e = v != X509_V_OK ? verify_error(v) : ssl_error(err);
    const char *detail = v != X509_V_OK ? X509_verify_cert_error_string(v)
                                        : ERR_reason_error_string(err);
    mcs_conn_tls_error(c, e, detail);
    ERR_clear_error();
}

static int new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct mcs_conn *c = SSL_get_app_data(ssl);
    struct mcs_tls_conn *t = c->tls;
    if (t->session)
        SSL_SESSION_free(t->session);
    t->session = sess;
    return 1; /* we keep the reference */
}

static void keylog_line(const SSL *ssl, const char *line)
{
    (void)ssl;
    pthread_mutex_lock(&keylog_lock);
    fprintf(keylog_file, "%s\n", line);
    fflush(keylog_file);
    pthread_mutex_unlock(&keylog_lock);
}

static int parse_version(const char *s, int *v)
{
    if (s == NULL)
        return 0;
    if (strcmp(s, "1.2") == 0)
        *v = TLS1_2_VERSION;
    else if (strcmp(s, "1.3") == 0)
        *v = TLS1_3_VERSION;
    else
        return -1;
    return 0;
}

static const char *ssl_err_string(void)
{
    const char *r = ERR_reason_error_string(ERR_peek_last_error());
    ERR_clear_error();
    return r ? r : "unknown error";
}

/* Versions, ciphers and groups. */
static int ctx_protocols(SSL_CTX *ctx, const struct mcs_tls_opts *o, char *err, size_t len)
{
    int min = 0, max = 0;
    if (parse_version(o->min, &min) < 0 || parse_version(o->max, &max) < 0) {
        snprintf(err, len, "--tls-min/--tls-max take 1.2 or 1.3");
        return -1;
    }
    if ((min && !SSL_CTX_set_min_proto_version(ctx, min)) ||
        (max && !SSL_CTX_set_max_proto_version(ctx, max))) {
        snprintf(err, len, "cannot set TLS versions: %s", ssl_err_string());
        return -1;
    }
    if (o->ciphers && !SSL_CTX_set_cipher_list(ctx, o->ciphers)) {
        snprintf(err, len, "--tls-ciphers '%s': %s", o->ciphers, ssl_err_string());
        return -1;
    }
    if (o->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, o->ciphersuites)) {
        snprintf(err, len, "--tls-ciphersuites '%s': %s", o->ciphersuites, ssl_err_string());
        return -1;
    }
    if (o->groups && !SSL_CTX_set1_groups_list(ctx, o->groups)) {
        snprintf(err, len, "--tls-groups '%s': %s", o->groups, ssl_err_string());
        return -1;
    }
    return 0;
}

/* Server verification and our own certificate. */
/* A file option must name a readable file: say so plainly if not. */
static int check_file(const char *opt, const char *path, char *err, size_t len)
{
    if (path == NULL || access(path, R_OK) == 0)
        return 0;
    snprintf(err, len, "--%s %s: %s", opt, path, strerror(errno));
    return -1;
}

static int ctx_certs(SSL_CTX *ctx, const struct mcs_tls_opts *o, char *err, size_t len)
{
    if (check_file("tls-ca", o->ca, err, len) < 0 ||
        check_file("tls-cert", o->cert, err, len) < 0 ||
        check_file("tls-key", o->key, err, len) < 0)
        return -1;
    if (!o->insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int ok = o->ca ? SSL_CTX_load_verify_locations(ctx, o->ca, NULL)
                       : SSL_CTX_set_default_verify_paths(ctx);
        if (!ok) {
            snprintf(err, len, "cannot load CA %s: %s", o->ca ? o->ca : "store",
                     ssl_err_string());
            return -1;
        }
    }
    if (!o->cert != !o->key) {
        snprintf(err, len, "--tls-cert and --tls-key go together");
        return -1;
    }
    if (o->cert && (!SSL_CTX_use_certificate_chain_file(ctx, o->cert) ||
                    !SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) ||
                    !SSL_CTX_check_private_key(ctx))) {
        snprintf(err, len, "cannot use client certificate %s / key %s: %s", o->cert,
                 o->key, ssl_err_string());
        return -1;
    }
    return 0;
}

static int ctx_keylog(SSL_CTX *ctx, const char *path, char *err, size_t len)
{
    if (path == NULL)
        return 0;
    if (keylog_file == NULL && (keylog_file = fopen(path, "a")) == NULL) {
        snprintf(err, len, "cannot open keylog file %s: %s", path, strerror(errno));
        return -1;
    }
    SSL_CTX_set_keylog_callback(ctx, keylog_line);
    return 0;
}

struct mcs_tls_ctx *mcs_tls_ctx_new(const struct mcs_tls_opts *o, const char *host,
                                    char *err, size_t errlen)
{
    struct mcs_tls_ctx *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        free(t);
        return NULL;
    }
    if (ctx_protocols(t->ctx, o, err, errlen) < 0 || ctx_certs(t->ctx, o, err, errlen) < 0 ||
        ctx_keylog(t->ctx, o->keylog, err, errlen) < 0) {
        mcs_tls_ctx_free(t);
        return NULL;
    }
    t->verify = !o->insecure;
    t->resume = !o->no_resume;
    if (t->resume) {
        SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_CLIENT |
                                               SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(t->ctx, new_session);
    } else {
        SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(t->ctx, SSL_OP_NO_TICKET);
    }
    unsigned char buf[sizeof(struct in6_addr)];
    t->host_is_ip = inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
    snprintf(t->host, sizeof(t->host), "%s", o->sni ? o->sni : host);
    if (o->sni || !t->host_is_ip)
        snprintf(t->sni, sizeof(t->sni), "%s", t->host);
    if (o->sni)
        t->host_is_ip = false;
    return t;
}

void mcs_tls_ctx_free(struct mcs_tls_ctx *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

/* --- the transport --- */

static int tls_handshake(struct mcs_conn *c)
{
    struct mcs_tls_conn *t = c->tls;
    unsigned long err = 0;
    tls_clear_errors();
    int ret = SSL_do_handshake(t->ssl);
    switch (tls_status(t->ssl, ret, &err)) {
    case TLS_OK:
        c->stats->tls_handshakes++;
        if (SSL_session_reused(t->ssl))
            c->stats->tls_resumed++;
        mcs_stats_record_handshake(c->stats, c->w->now_ns - t->hs_start_ns);
        return 0;
    case TLS_WANT_READ:
    case TLS_WANT_WRITE:
        return 1;
    default:
        tls_failed(c, t->ssl, err);
        return -EPROTO;
    }
}

static int set_peer_name(SSL *ssl, const struct mcs_tls_ctx *x)
{
    if (x->sni[0] && !SSL_set_tlsext_host_name(ssl, x->sni))
        return -1;
    if (!x->verify)
        return 0;
    if (x->host_is_ip)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), x->host) ? 0 : -1;
    return SSL_set1_host(ssl, x->host) ? 0 : -1;
}

static int tls_start(struct mcs_conn *c)
{
    const struct mcs_tls_ctx *x = c->target->tls;
    struct mcs_tls_conn *t = c->tls;
    if (t == NULL && (t = c->tls = calloc(1, sizeof(*t))) == NULL)
        return -ENOMEM;
    BIO *bio = mcs_bio_new(c);
    t->ssl = SSL_new(x->ctx);
    if (t->ssl == NULL || bio == NULL) {
        BIO_free(bio);
        return -ENOMEM;
    }
    SSL_set_bio(t->ssl, bio, bio);
    SSL_set_app_data(t->ssl, c);
    SSL_set_connect_state(t->ssl);
    t->write_blocked = false;
    if (set_peer_name(t->ssl, x) < 0) {
        mcs_conn_tls_error(c, MCS_TLS_ERR_OTHER, "invalid server name for TLS");
        return -EINVAL;
    }
    if (x->resume && t->session)
        SSL_set_session(t->ssl, t->session);
    t->hs_start_ns = c->w->now_ns;
    return tls_handshake(c);
}

static int tls_encode(struct mcs_conn *c)
{
    struct mcs_tls_conn *t = c->tls;
    while (c->wbuf.used > 0) {
        unsigned long err = 0;
        int n = c->wbuf.used > INT_MAX ? INT_MAX : (int)c->wbuf.used;
        tls_clear_errors();
        int ret = SSL_write(t->ssl, c->wbuf.data, n);
        switch (tls_status(t->ssl, ret, &err)) {
        case TLS_OK:
            mcs_buf_consume(&c->wbuf, (size_t)ret);
            break;
        case TLS_WANT_READ: /* e.g. renegotiation: retried after a read */
            t->write_blocked = true;
            return 0;
        case TLS_CLOSED:
            return -ECONNRESET;
        default:
            tls_failed(c, NULL, err);
            return -EPROTO;
        }
    }
    t->write_blocked = false;
    return 0;
}

static int tls_decode(struct mcs_conn *c)
{
    struct mcs_tls_conn *t = c->tls;
    int total = 0;
    for (;;) {
        size_t room;
        char *p = mcs_conn_rbuf_room(c, &room);
        if (p == NULL)
            return -ENOMEM;
        unsigned long err = 0;
        tls_clear_errors();
        int ret = SSL_read(t->ssl, p, room > INT_MAX ? INT_MAX : (int)room);
        enum tls_status st = tls_status(t->ssl, ret, &err);
        if (st == TLS_OK) {
            c->rbuf.used += (size_t)ret;
            total += ret;
            /* all ciphertext taken and nothing buffered: a further read
             * could only say WANT_READ */
            if (c->ipos == c->ibuf.used && !SSL_has_pending(t->ssl))
                break;
            continue;
        }
        if (st == TLS_WANT_READ || st == TLS_WANT_WRITE)
            break;
        if (total > 0)
            return total; /* hand over what came before the end */
        if (st == TLS_CLOSED)
            return -ECONNRESET; /* the server sent close_notify */
        /* TLS 1.3 servers refuse a client certificate after the handshake */
        tls_failed(c, t->ssl, err);
        return -EPROTO;
    }
    if (t->write_blocked) {
        int ret = tls_encode(c);
        if (ret < 0)
            return ret;
    }
    return total;
}

static void tls_shutdown(struct mcs_conn *c)
{
    struct mcs_tls_conn *t = c->tls;
    if (t && t->ssl && SSL_is_init_finished(t->ssl)) {
        ERR_clear_error();
        SSL_shutdown(t->ssl);
        ERR_clear_error();
    }
}

static bool tls_idle(struct mcs_conn *c)
{
    struct mcs_tls_conn *t = c->tls;
    /* frees OpenSSL's record buffers when they are empty; 0 when none */
    return t && t->ssl && SSL_free_buffers(t->ssl);
}

static void tls_release(struct mcs_conn *c)
{
    struct mcs_tls_conn *t = c->tls;
    if (t == NULL || t->ssl == NULL)
        return;
    /* OpenSSL marks a session not resumable when an SSL is freed without a
     * shutdown; a peer that said goodbye ended it properly, so say so. */
    if (SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN)
        SSL_set_shutdown(t->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(t->ssl); /* frees the BIO too */
    t->ssl = NULL;
}

static void tls_destroy(struct mcs_conn *c)
{
    struct mcs_tls_conn *t = c->tls;
    if (t == NULL)
        return;
    tls_release(c);
    if (t->session)
        SSL_SESSION_free(t->session);
    free(t);
    c->tls = NULL;
}

static const struct mcs_transport tls_transport = {
    .start = tls_start,
    .handshake = tls_handshake,
    .encode = tls_encode,
    .decode = tls_decode,
    .shutdown = tls_shutdown,
    .release = tls_release,
    .destroy = tls_destroy,
    .idle = tls_idle,
};

const struct mcs_transport *mcs_tls_transport(void)
{
    return &tls_transport;
}
