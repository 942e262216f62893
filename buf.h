/* buf.h: growable byte buffers for connections. A buffer grows to fit what
 * is written (values of 1 MB and more) and is released when idle so idle
 * connections stay small. */
#ifndef MCS_BUF_H
#define MCS_BUF_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MCS_BUF_MIN 4096

struct mcs_buf {
    char *data;   /* owned; NULL when released */
    size_t used;  /* bytes held */
    size_t size;  /* bytes allocated */
};

/* Makes room for extra more bytes after used. 0 or -ENOMEM. */
static inline int mcs_buf_reserve(struct mcs_buf *b, size_t extra)
{
    if (b->used + extra <= b->size)
        return 0;
    size_t n = b->size ? b->size : MCS_BUF_MIN;
    while (n < b->used + extra)
        n *= 2;
    char *d = realloc(b->data, n);
    if (d == NULL)
        return -ENOMEM;
    b->data = d;
    b->size = n;
    return 0;
}

/* Drops the first n bytes, keeping the rest at the start. */
static inline void mcs_buf_consume(struct mcs_buf *b, size_t n)
{
    if (n >= b->used) {
        b->used = 0;
        return;
    }
    memmove(b->data, b->data + n, b->used - n);
    b->used -= n;
}

/* Frees the memory of an empty buffer that grew past what a connection
 * usually needs, so an idle connection does not keep a large value's room. */
static inline void mcs_buf_trim(struct mcs_buf *b, size_t keep)
{
    if (b->used == 0 && b->size > keep) {
        free(b->data);
        b->data = NULL;
        b->size = 0;
    }
}

static inline void mcs_buf_free(struct mcs_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->used = b->size = 0;
}

#endif
