/* tls_bio.h: our OpenSSL BIO over a connection's own buffers. */
#ifndef MCS_TLS_BIO_H
#define MCS_TLS_BIO_H

#include <openssl/bio.h>

struct mcs_conn;

/* A BIO whose writes append ciphertext to c->obuf (the socket write
 * buffer) and whose reads take ciphertext from c->ibuf at c->ipos (the
 * socket read buffer). NULL on failure. Freed by the SSL that owns it. */
BIO *mcs_bio_new(struct mcs_conn *c);

#endif
