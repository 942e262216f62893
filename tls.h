/* tls.h: TLS for connections: a context per target (verification, client
 * certificates, versions, ciphers, resumption, keylog) and the TLS
 * transport, which transforms a connection's buffers and never does I/O. */
#ifndef MCS_TLS_H
#define MCS_TLS_H

#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include "conn.h"

struct mcs_tls_opts {
    bool enabled;             /* --tls or any other --tls-* option */
    const char *ca;           /* CA file; NULL: the system store */
    const char *cert, *key;   /* client certificate (mTLS) */
    const char *sni;          /* server name to send and verify */
    bool insecure;            /* no certificate verification */
    bool no_resume;           /* full handshake on every connect */
    const char *min, *max;    /* "1.2" or "1.3" */
    const char *ciphers, *ciphersuites, *groups;
    const char *keylog;       /* SSLKEYLOGFILE-style output */
};

struct mcs_tls_ctx;

#ifdef HAVE_TLS
/* host is what the certificate is checked against (and sent as SNI unless
 * it is an IP address), unless opts->sni says otherwise. NULL with a
 * one-line reason in err on failure. */
struct mcs_tls_ctx *mcs_tls_ctx_new(const struct mcs_tls_opts *o, const char *host,
                                    char *err, size_t errlen);
void mcs_tls_ctx_free(struct mcs_tls_ctx *t);
/* The TLS transport for connections of a target. */
const struct mcs_transport *mcs_tls_transport(void);
#else
static inline struct mcs_tls_ctx *mcs_tls_ctx_new(const struct mcs_tls_opts *o,
                                                  const char *host, char *err,
                                                  size_t errlen)
{
    (void)o;
    (void)host;
    snprintf(err, errlen, "this mcshredder was built without TLS (configure --enable-tls)");
    return NULL;
}
static inline void mcs_tls_ctx_free(struct mcs_tls_ctx *t) { (void)t; }
static inline const struct mcs_transport *mcs_tls_transport(void) { return NULL; }
#endif

#endif
