/* tls_bio.c: the custom BIO. OpenSSL writes its records straight into the
 * connection's socket write buffer and reads straight from its socket read
 * buffer: no memory BIO, no BIO pair, no copy in between. conn.c moves the
 * bytes to and from the socket. One BIO_METHOD serves the whole process. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "conn.h"
#include "tls_bio.h"

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *b, const char *data, int len)
{
    struct mcs_conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (mcs_buf_reserve(&c->obuf, (size_t)len) < 0)
        return -1;
    memcpy(c->obuf.data + c->obuf.used, data, (size_t)len);
    c->obuf.used += (size_t)len;
    return len;
}

static int bio_read(BIO *b, char *out, int len)
{
    struct mcs_conn *c = BIO_get_data(b);
    size_t avail = c->ibuf.used - c->ipos;
    BIO_clear_retry_flags(b);
    if (avail == 0) {
        BIO_set_retry_read(b); /* more ciphertext comes with the next recv */
        return -1;
    }
    size_t n = (size_t)len < avail ? (size_t)len : avail;
    memcpy(out, c->ibuf.data + c->ipos, n);
    c->ipos += n;
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    struct mcs_conn *c = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* conn.c sends obuf after every SSL call */
    case BIO_CTRL_PENDING:
        return (long)(c->ibuf.used - c->ipos);
    case BIO_CTRL_WPENDING:
        return 0;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void bio_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                                 "mcshredder connection");
    if (m == NULL)
        return;
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    bio_method = m;
}

BIO *mcs_bio_new(struct mcs_conn *c)
{
    pthread_once(&bio_once, bio_method_init);
    if (bio_method == NULL)
        return NULL;
    BIO *b = BIO_new(bio_method);
    if (b)
        BIO_set_data(b, c);
    return b;
}
