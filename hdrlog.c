/* hdrlog.c: HdrHistogram interval logs and the compressed V2 histogram
 * encoding, written without zlib: the zlib stream holds DEFLATE stored
 * (uncompressed) blocks, which every inflater accepts.
 *
 * Units: values are nanoseconds. Interval_Max is in milliseconds (max ns /
 * 1e6, 3 decimals): HdrHistogram's log writers divide by a
 * maxValueUnitRatio that defaults to 1e6, i.e. they assume ns values
 * shown in ms, and the tools that plot the column (HistogramLogAnalyzer,
 * jHiccup's scripts) label it ms. Readers rebuild everything else from the
 * encoded histogram, which is in ns. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "hist.h"
#include "hdrlog.h"

/* ---- HdrHistogram's counts-array indexing ---- */

/* Derived as HdrHistogram derives them from the parameters in hdrlog.h:
 * 2 * 10^3 = 2000 values need 11 bits of sub-bucket, so 2048 sub-buckets,
 * half of them (1024) new in each bucket after the first; 1 ns as the
 * lowest discernible value is unit magnitude 0. */
#define UNIT_MAGNITUDE 0
#define SUB_HALF_MAGNITUDE 10
#define SUB_HALF_COUNT (1 << SUB_HALF_MAGNITUDE)
#define SUB_MASK (((uint64_t)2 * SUB_HALF_COUNT - 1) << UNIT_MAGNITUDE)
#define LZC_BASE (64 - UNIT_MAGNITUDE - SUB_HALF_MAGNITUDE - 1)

int32_t mcs_hdr_counts_index(uint64_t ns)
{
    if (ns > (uint64_t)MCS_HDR_HIGHEST)
        ns = MCS_HDR_HIGHEST;
    int bucket = LZC_BASE - __builtin_clzll(ns | SUB_MASK);
    int32_t sub = (int32_t)(ns >> (bucket + UNIT_MAGNITUDE));
    return ((bucket + 1) << SUB_HALF_MAGNITUDE) + (sub - SUB_HALF_COUNT);
}

/* ---- a growable byte buffer; running out of memory sticks ---- */

struct bytes {
    uint8_t *p;
    size_t len, cap;
    bool oom;
};

static bool reserve(struct bytes *b, size_t n)
{
    if (b->oom)
        return false;
    if (b->len + n <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void put(struct bytes *b, const void *src, size_t n)
{
    if (n > 0 && reserve(b, n)) {
        memcpy(b->p + b->len, src, n);
        b->len += n;
    }
}

static void put_byte(struct bytes *b, uint8_t c)
{
    put(b, &c, 1);
}

static void put_be(struct bytes *b, uint64_t v, int nbytes)
{
    for (int i = nbytes - 1; i >= 0; i--)
        put_byte(b, (uint8_t)(v >> (8 * i)));
}

/* Overwrites 4 bytes at off, which were put before. */
static void set_be32(struct bytes *b, size_t off, uint32_t v)
{
    if (b->oom)
        return;
    for (int i = 0; i < 4; i++)
        b->p[off + i] = (uint8_t)(v >> (8 * (3 - i)));
}

/* HdrHistogram's ZigZag LEB128-64b9B: 7 bits per byte with a continuation
 * bit for up to 8 bytes, then a 9th byte holds the last 8 bits whole. */
static void put_varint(struct bytes *b, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);

    for (int i = 0; i < 8; i++) {
        if (z < 0x80) {
            put_byte(b, (uint8_t)z);
            return;
        }
        put_byte(b, (uint8_t)(z & 0x7f) | 0x80);
        z >>= 7;
    }
    put_byte(b, (uint8_t)z);
}

/* ---- V2 encoding ---- */

struct counts_ctx {
    struct bytes *b;
    int32_t next;       /* counts index the next varint stands for */
};

/* Zero counts before index idx, then count, as HdrHistogram writes them:
 * one zero as 0, a run of n > 1 zeros as -n. */
static void put_count(void *ctx, uint64_t lo, uint64_t hi, uint64_t count)
{
    struct counts_ctx *c = ctx;
    int32_t idx = mcs_hdr_counts_index(lo);

    (void)hi;
    /* hist.c's buckets are HdrHistogram's (t/unit_series.c checks every
     * boundary), so foreach visits increasing, distinct indexes. */
    if (idx < c->next)
        abort();
    if (idx - c->next == 1)
        put_varint(c->b, 0);
    else if (idx - c->next > 1)
        put_varint(c->b, -(int64_t)(idx - c->next));
    put_varint(c->b, count > INT64_MAX ? INT64_MAX : (int64_t)count);
    c->next = idx + 1;
}

/* The uncompressed V2 histogram: a 40-byte header, then the counts up to
 * the one holding the max. An empty histogram still has one count (of
 * value 0), as HdrHistogram writes it. */
static void encode_v2(struct bytes *b, const struct mcs_hist *h)
{
    struct counts_ctx c = { .b = b, .next = 0 };
    union { double d; uint64_t u; } ratio = { .d = 1.0 };

    put_be(b, MCS_HDR_ENCODING_COOKIE, 4);
    put_be(b, 0, 4);                    /* payload length, set below */
    put_be(b, 0, 4);                    /* normalizing index offset */
    put_be(b, MCS_HDR_SIGNIFICANT_DIGITS, 4);
    put_be(b, MCS_HDR_LOWEST, 8);
    put_be(b, MCS_HDR_HIGHEST, 8);
    put_be(b, ratio.u, 8);              /* integer to double ratio */
    if (h != NULL)
        mcs_hist_foreach(h, put_count, &c);
    if (c.next == 0)
        put_varint(b, 0);
    set_be32(b, 4, (uint32_t)(b->len - 40));
}

static uint32_t adler32(const uint8_t *p, size_t n)
{
    uint32_t a = 1, s = 0;

    while (n > 0) {
        size_t k = n < 5552 ? n : 5552;   /* no overflow before the mod */
        n -= k;
        while (k--) {
            a += *p++;
            s += a;
        }
        a %= 65521;
        s %= 65521;
    }
    return (s << 16) | a;
}

/* A zlib stream (RFC 1950) of stored DEFLATE blocks (RFC 1951 3.2.4):
 * header 78 01 (32K window, no dictionary, check bits), blocks of at most
 * 65535 bytes each led by BFINAL/BTYPE=00 and LEN, NLEN (little-endian),
 * then the Adler-32 of the data, big-endian. */
static void put_zlib_stored(struct bytes *b, const uint8_t *p, size_t n)
{
    size_t off = 0;

    put_byte(b, 0x78);
    put_byte(b, 0x01);
    do {
        size_t k = n - off < 65535 ? n - off : 65535;
        put_byte(b, off + k == n ? 1 : 0);
        put_byte(b, (uint8_t)k);
        put_byte(b, (uint8_t)(k >> 8));
        put_byte(b, (uint8_t)~k);
        put_byte(b, (uint8_t)(~k >> 8));
        put(b, p + off, k);
        off += k;
    } while (off < n);
    put_be(b, adler32(p, n), 4);
}

static char *base64(const uint8_t *p, size_t n)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *s = malloc((n + 2) / 3 * 4 + 1), *o = s;

    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *o++ = abc[v >> 18];
        *o++ = abc[(v >> 12) & 63];
        *o++ = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? abc[v & 63] : '=';
    }
    *o = '\0';
    return s;
}

/* Compressed form: cookie, length of the zlib stream, the stream. */
char *mcs_hdr_encode_base64(const struct mcs_hist *h)
{
    struct bytes raw = { 0 }, out = { 0 };
    char *s = NULL;

    encode_v2(&raw, h);
    if (raw.oom)
        goto out;
    put_be(&out, MCS_HDR_COMPRESSED_COOKIE, 4);
    put_be(&out, 0, 4);
    put_zlib_stored(&out, raw.p, raw.len);
    set_be32(&out, 4, (uint32_t)(out.len - 8));
    if (!out.oom)
        s = base64(out.p, out.len);
out:
    free(raw.p);
    free(out.p);
    return s;
}

/* ---- the log file ---- */

struct mcs_hdrlog {
    FILE *f;
    int err;            /* first error, sticky */
};

/* 0, or -errno after a failed write (EIO when errno says nothing); the
 * caller zeroes errno before writing. */
static int file_error(FILE *f)
{
    if (fflush(f) == 0 && !ferror(f))
        return 0;
    return errno ? -errno : -EIO;
}

static void write_header(FILE *f, double start_epoch_s)
{
    time_t t = (time_t)start_epoch_s;
    struct tm tm;
    char date[64] = "";

    if (gmtime_r(&t, &tm) != NULL)
        strftime(date, sizeof(date), "%a %b %d %H:%M:%S UTC %Y", &tm);
    /* Each line stays under 128 bytes: HdrHistogram_c reads the header
     * with a 128-byte fgets. */
    fprintf(f, "#[mcshredder interval log: values in ns, Interval_Max in ms]\n");
    fprintf(f, "#[Histogram log format version 1.3]\n");
    fprintf(f, "#[StartTime: %.3f (seconds since epoch), %s]\n",
            start_epoch_s, date);
    fprintf(f, "#[BaseTime: %.3f (seconds since epoch)]\n", start_epoch_s);
    fprintf(f, "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
            "\"Interval_Compressed_Histogram\"\n");
}

struct mcs_hdrlog *mcs_hdrlog_open(const char *path, double start_epoch_s,
                                   char *err, size_t errlen)
{
    struct mcs_hdrlog *l = calloc(1, sizeof(*l));
    int ret;

    if (l == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
        return NULL;
    }
    if (!isfinite(start_epoch_s) || start_epoch_s < 0)
        start_epoch_s = 0;
    l->f = fopen(path, "we");
    if (l->f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(l);
        return NULL;
    }
    errno = 0;
    write_header(l->f, start_epoch_s);
    ret = file_error(l->f);
    if (ret != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-ret));
        fclose(l->f);
        free(l);
        return NULL;
    }
    return l;
}

/* The tag with the characters readers split fields at replaced. */
static void write_tag(FILE *f, const char *tag)
{
    fputs("Tag=", f);
    if (*tag == '\0')
        fputc('_', f);
    for (const unsigned char *p = (const unsigned char *)tag; *p; p++)
        fputc(*p <= ' ' || *p == ',' || *p == 0x7f ? '_' : *p, f);
    fputc(',', f);
}

/* Timestamps must not be negative: some readers parse [0-9.]* only. */
static double non_negative(double v)
{
    return isfinite(v) && v > 0 ? v : 0.0;
}

int mcs_hdrlog_write(struct mcs_hdrlog *l, const char *tag, double start_s,
                     double len_s, const struct mcs_hist *h)
{
    if (l->err != 0)
        return l->err;
    char *hist = mcs_hdr_encode_base64(h);
    if (hist == NULL)
        return -ENOMEM;     /* not sticky: the next interval may fit */
    errno = 0;
    if (tag != NULL)
        write_tag(l->f, tag);
    fprintf(l->f, "%.3f,%.3f,%.3f,%s\n", non_negative(start_s),
            non_negative(len_s),
            (h ? mcs_hist_max(h) : 0) / MCS_HDR_MAX_VALUE_UNIT_RATIO, hist);
    free(hist);
    l->err = file_error(l->f);
    return l->err;
}

int mcs_hdrlog_close(struct mcs_hdrlog *l)
{
    int ret;

    if (l == NULL)
        return 0;
    ret = l->err;
    errno = 0;
    if (ret == 0)
        ret = file_error(l->f);
    if (fclose(l->f) != 0 && ret == 0)
        ret = -(errno ? errno : EIO);
    free(l);
    return ret;
}
