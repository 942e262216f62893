/* unit_series.c: TAP unit test for series.c and hdrlog.c: interval rows,
 * the CSV file, the "intervals" JSON, hist.c's buckets against
 * HdrHistogram's counts-array formulas, the compressed V2 encoding (read
 * back with a small decoder of its own, and with python3's zlib when
 * there is one) and the interval log's lines. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "hist.h"
#include "stats.h"
#include "report.h"
#include "series.h"
#include "hdrlog.h"

#include "unit_tap.h"

static void skip(const char *why, const char *fmt, ...)
{
    va_list ap;

    ntests++;
    printf("ok %d - ", ntests);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(" # skip %s\n", why);
}

/* xorshift64*: a fixed seed keeps failures reproducible. */
static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Log-uniform over [1, 2^37): past 60 s too, to see the clamping. */
static uint64_t rng_latency(void)
{
    double u = (double)(rng() >> 11) / 9007199254740992.0;
    return (uint64_t)exp2(u * 37.0);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;

    if (f == NULL)
        return NULL;
    FILE *m = open_memstream(&buf, &len);
    int c;
    while ((c = fgetc(f)) != EOF)
        fputc(c, m);
    fclose(m);
    fclose(f);
    return buf;
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* ---- HdrHistogram's layout, from its specification ----
 * Everything is derived from (lowest discernible value, highest trackable
 * value, significant digits) as AbstractHistogram does, with no constant
 * taken from hist.c or hdrlog.c. */

struct hdr_ref {
    int unit_mag, sub_half_mag, lzc_base;
    int64_t sub_count, sub_half, counts_len;
    uint64_t sub_mask;
};

static struct hdr_ref ref;

static void ref_init(int64_t lowest, int64_t highest, int digits)
{
    int64_t single = 2;
    int mag = 0, buckets = 1;

    for (int i = 0; i < digits; i++)
        single *= 10;                   /* 2 * 10^digits */
    while ((1LL << mag) < single)
        mag++;                          /* ceil(log2(single)) */
    ref.unit_mag = 63 - __builtin_clzll((uint64_t)lowest);
    ref.sub_half_mag = (mag > 1 ? mag : 1) - 1;
    ref.sub_count = 1LL << (ref.sub_half_mag + 1);
    ref.sub_half = ref.sub_count / 2;
    ref.sub_mask = (uint64_t)(ref.sub_count - 1) << ref.unit_mag;
    ref.lzc_base = 64 - ref.unit_mag - ref.sub_half_mag - 1;
    for (int64_t v = ref.sub_count << ref.unit_mag; v <= highest; v <<= 1)
        buckets++;                      /* getBucketsNeededToCoverValue */
    ref.counts_len = (buckets + 1) * ref.sub_half;
}

static int ref_bucket(uint64_t v)
{
    return ref.lzc_base - __builtin_clzll(v | ref.sub_mask);
}

static int64_t ref_index(uint64_t v)
{
    int b = ref_bucket(v);
    int64_t sub = (int64_t)(v >> (b + ref.unit_mag));
    return ((int64_t)(b + 1) << ref.sub_half_mag) + (sub - ref.sub_half);
}

static uint64_t ref_lowest_equivalent(uint64_t v)
{
    int b = ref_bucket(v);
    uint64_t sub = v >> (b + ref.unit_mag);
    return sub << (b + ref.unit_mag);
}

static uint64_t ref_highest_equivalent(uint64_t v)
{
    int b = ref_bucket(v);
    uint64_t sub = v >> (b + ref.unit_mag);
    int adj = sub >= (uint64_t)ref.sub_count ? b + 1 : b;
    return ref_lowest_equivalent(v) + (1ULL << (ref.unit_mag + adj)) - 1;
}

/* valueFromIndex: the lowest value of counts index i. */
static uint64_t ref_value_at(int64_t i)
{
    int64_t b = (i >> ref.sub_half_mag) - 1;
    int64_t sub = (i & (ref.sub_half - 1)) + ref.sub_half;
    if (b < 0) {
        sub -= ref.sub_half;
        b = 0;
    }
    return (uint64_t)sub << (b + ref.unit_mag);
}

/* ---- hist.c's bucket of a value ---- */

struct bucket {
    uint64_t lo, hi, count;
    int n;
};

static void grab_bucket(void *ctx, uint64_t lo, uint64_t hi, uint64_t count)
{
    struct bucket *b = ctx;
    b->lo = lo;
    b->hi = hi;
    b->count = count;
    b->n++;
}

/* 1 when v lands in the same bucket in hist.c and in HdrHistogram, and
 * hdrlog.c maps it to HdrHistogram's index. */
static int same_bucket(struct mcs_hist *h, uint64_t v)
{
    struct bucket b = { 0 };
    uint64_t c = v > MCS_HIST_MAX_NS ? MCS_HIST_MAX_NS : v;

    mcs_hist_reset(h);
    mcs_hist_record(h, v);
    mcs_hist_foreach(h, grab_bucket, &b);
    if (b.n != 1 || b.lo != ref_lowest_equivalent(c)
        || b.hi != ref_highest_equivalent(c)
        || mcs_hdr_counts_index(v) != ref_index(c)) {
        diag("value %" PRIu64 ": hist [%" PRIu64 ", %" PRIu64 "] index %d, "
             "hdr [%" PRIu64 ", %" PRIu64 "] index %" PRId64, v, b.lo, b.hi,
             mcs_hdr_counts_index(v), ref_lowest_equivalent(c),
             ref_highest_equivalent(c), ref_index(c));
        return 0;
    }
    return 1;
}

static void test_layout(void)
{
    struct mcs_hist *h = mcs_hist_new();
    long bad = 0, n = 0;

    ref_init(MCS_HDR_LOWEST, MCS_HDR_HIGHEST, MCS_HDR_SIGNIFICANT_DIGITS);
    int64_t last = ref_index(MCS_HIST_MAX_NS);
    ok(ref.sub_count == 2048 && ref.unit_mag == 0 && ref.sub_half_mag == 10,
       "HdrHistogram(1, 60 s, 3 digits): 2048 sub-buckets, unit magnitude 0");
    ok(ref.counts_len == 27648 && last < ref.counts_len,
       "counts array of %" PRId64 " entries holds 60 s at index %" PRId64,
       ref.counts_len, last);
    for (uint64_t v = 0; v < (1u << 20) && bad < 5; v++, n++)
        bad += !same_bucket(h, v);
    ok(bad == 0, "every value below 2^20 (%ld): same bucket and index", n);
    bad = n = 0;
    for (int64_t i = 0; i <= last; i++) {
        uint64_t lo = ref_value_at(i), hi = ref_highest_equivalent(lo);
        n += 4;
        bad += !same_bucket(h, lo) + !same_bucket(h, hi)
            + !same_bucket(h, hi + 1) + (lo > 0 && !same_bucket(h, lo - 1));
        if (ref_index(lo) != i || ref_index(hi) != i)
            bad++;
        if (bad > 5)
            break;
    }
    ok(bad == 0, "both edges of every bucket up to 60 s and their neighbours "
       "(%ld values): same bucket and index", n);
    bad = 0;
    for (n = 0; n < 1000000 && bad < 5; n++)
        bad += !same_bucket(h, rng_latency());
    ok(bad == 0, "%ld random values up to 2^37 ns: same bucket and index", n);
    ok(same_bucket(h, MCS_HIST_MAX_NS) && same_bucket(h, UINT64_MAX)
       && mcs_hdr_counts_index(UINT64_MAX) == ref_index(MCS_HIST_MAX_NS),
       "values past 60 s clamp to 60 s in both");
    mcs_hist_free(h);
}

/* ---- an independent decoder: base64, zlib stored blocks, V2 ---- */

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Strict: whole quads, padding only at the end. Returns the length or -1. */
static long b64_decode(const char *s, uint8_t *out)
{
    size_t n = strlen(s);
    long o = 0;

    if (n % 4 != 0)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            v[j] = s[i + j] == '=' ? (pad++, 0) : b64_value(s[i + j]);
            if (v[j] < 0 || (pad && s[i + j] != '=')
                || (s[i + j] == '=' && i + 4 != n))
                return -1;
        }
        if (pad > 2)
            return -1;
        uint32_t x = (uint32_t)v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3];
        out[o++] = (uint8_t)(x >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(x >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)x;
    }
    return o;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* Inflates a zlib stream that has stored blocks only; checks the header,
 * every LEN/NLEN pair and the Adler-32. Returns the length or -1. */
static long zlib_unstore(const uint8_t *z, long zlen, uint8_t *out, int *blocks)
{
    long i = 2, o = 0;
    uint32_t a = 1, b = 0;
    bool final = false;

    *blocks = 0;
    if (zlen < 2 || (z[0] & 0x0f) != 8 || (z[0] >> 4) > 7
        || (z[0] * 256 + z[1]) % 31 != 0 || (z[1] & 0x20))
        return -1;
    while (!final) {
        if (i + 5 > zlen || (z[i] & 0xf8) != 0 || ((z[i] >> 1) & 3) != 0)
            return -1;
        final = z[i] & 1;
        unsigned len = z[i + 1] | z[i + 2] << 8;
        unsigned nlen = z[i + 3] | z[i + 4] << 8;
        i += 5;
        if ((len ^ 0xffff) != nlen || i + len > zlen)
            return -1;
        memcpy(out + o, z + i, len);
        i += len;
        o += len;
        (*blocks)++;
    }
    for (long k = 0; k < o; k++) {
        a = (a + out[k]) % 65521;
        b = (b + a) % 65521;
    }
    if (i + 4 != zlen || be32(z + i) != (b << 16 | a))
        return -1;
    return o;
}

/* One ZigZag LEB128-64b9B value; advances *p, NULL past end. */
static const uint8_t *read_varint(const uint8_t *p, const uint8_t *end,
                                  int64_t *v)
{
    uint64_t z = 0;
    int shift = 0;

    for (int i = 0; i < 9; i++) {
        if (p >= end)
            return NULL;
        uint8_t c = *p++;
        if (i == 8) {
            z |= (uint64_t)c << 56;
            break;
        }
        z |= (uint64_t)(c & 0x7f) << shift;
        shift += 7;
        if (!(c & 0x80))
            break;
    }
    *v = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    return p;
}

struct decoded {
    int64_t *counts;        /* ref.counts_len entries */
    int64_t entries;        /* how many the payload stands for */
    int blocks;             /* stored blocks in the zlib stream */
};

/* Checks every header field on the way. Returns a message or NULL. */
static const char *decode_v2(const uint8_t *p, long n, struct decoded *d)
{
    const uint8_t *q, *end = p + n;
    union { uint64_t u; double d; } ratio;

    if (n < 40 || be32(p) != 0x1c849313)
        return "encoding cookie";
    if (be32(p + 4) != (uint32_t)(n - 40))
        return "payload length";
    ratio.u = be64(p + 32);
    if (be32(p + 8) != 0 || be32(p + 12) != 3 || be64(p + 16) != 1
        || be64(p + 24) != 60000000000ULL || ratio.d != 1.0)
        return "header fields";
    d->entries = 0;
    for (q = p + 40; q < end;) {
        int64_t v;
        if ((q = read_varint(q, end, &v)) == NULL)
            return "truncated varint";
        int64_t run = v < 0 ? -v : 1;
        if (d->entries + run > ref.counts_len)
            return "past the counts array";
        if (v > 0)
            d->counts[d->entries] = v;
        d->entries += run;
    }
    return NULL;
}

static const char *decode_hist(const char *b64, struct decoded *d)
{
    size_t cap = strlen(b64) / 4 * 3 + 3;
    uint8_t *raw = malloc(cap), *out = malloc(cap);
    const char *err = NULL;
    long n, m;

    memset(d->counts, 0, ref.counts_len * sizeof(d->counts[0]));
    if ((n = b64_decode(b64, raw)) < 8)
        err = "base64";
    else if (be32(raw) != 0x1c849314)
        err = "compressed cookie";
    else if (be32(raw + 4) != (uint32_t)(n - 8))
        err = "compressed length";
    else if ((m = zlib_unstore(raw + 8, n - 8, out, &d->blocks)) < 0)
        err = "zlib stream";
    else
        err = decode_v2(out, m, d);
    free(raw);
    free(out);
    return err;
}

struct expect {
    int64_t *counts;
    int64_t last;
};

static void expect_bucket(void *ctx, uint64_t lo, uint64_t hi, uint64_t count)
{
    struct expect *e = ctx;
    (void)hi;
    e->last = ref_index(lo);
    e->counts[e->last] = count > INT64_MAX ? INT64_MAX : (int64_t)count;
}

/* Encodes h, decodes it and compares every count with hist.c's buckets
 * placed by the specification's formula. */
static bool round_trip(const struct mcs_hist *h, const char *what,
                       int *blocks)
{
    struct decoded d = { .counts = calloc(ref.counts_len, sizeof(int64_t)) };
    struct expect e = { .counts = calloc(ref.counts_len, sizeof(int64_t)) };
    char *b64 = mcs_hdr_encode_base64(h);
    const char *err = b64 ? decode_hist(b64, &d) : "encoder returned NULL";
    bool same = err == NULL;

    if (h != NULL)
        mcs_hist_foreach(h, expect_bucket, &e);
    if (same && d.entries != e.last + 1) {
        err = "number of counts";
        same = false;
    }
    for (int64_t i = 0; same && i < ref.counts_len; i++)
        same = d.counts[i] == e.counts[i];
    if (!same)
        diag("%s: %s (%" PRId64 " counts decoded, %" PRId64 " expected)", what,
             err ? err : "counts differ", d.entries, e.last + 1);
    if (blocks)
        *blocks = d.blocks;
    free(b64);
    free(d.counts);
    free(e.counts);
    return same;
}

/* Doubles every count k times (mcs_hist_add of h to itself). */
static void double_counts(struct mcs_hist *h, int k)
{
    while (k-- > 0)
        mcs_hist_add(h, h);
}

static void test_encoding(void)
{
    struct mcs_hist *h = mcs_hist_new();
    int blocks = 0;

    ok(round_trip(NULL, "NULL", &blocks) && blocks == 1,
       "encode: NULL histogram is one zero count");
    ok(round_trip(h, "empty", NULL), "encode: empty histogram");
    char *b64 = mcs_hdr_encode_base64(h);
    ok(b64 && strncmp(b64, "HISTFAAAA", 9) == 0,
       "encode: starts with HISTFAAAA (cookie 0x1c849314), like every V2 log");
    free(b64);
    mcs_hist_record(h, 1234567);
    ok(round_trip(h, "single", NULL), "encode: one value");
    mcs_hist_reset(h);
    mcs_hist_record(h, 0);
    ok(round_trip(h, "zero", NULL), "encode: the value 0");
    mcs_hist_record(h, 2);
    ok(round_trip(h, "0 and 2", NULL), "encode: a single zero between counts");
    mcs_hist_reset(h);
    mcs_hist_record(h, MCS_HIST_MAX_NS);
    ok(round_trip(h, "60 s", NULL), "encode: 60 s");
    mcs_hist_record(h, 3 * MCS_HIST_MAX_NS);
    ok(round_trip(h, "past 60 s", NULL), "encode: past 60 s, clamped");
    mcs_hist_reset(h);
    for (int64_t i = 2040; i < 27388; i += 997) {
        uint64_t lo = ref_value_at(i);
        mcs_hist_record(h, lo);
        mcs_hist_record(h, ref_highest_equivalent(lo));
        mcs_hist_record(h, ref_highest_equivalent(lo) + 1);
        mcs_hist_record(h, lo - 1);
    }
    ok(round_trip(h, "edges", NULL), "encode: values at bucket edges");
    mcs_hist_reset(h);
    for (int i = 0; i < 200000; i++)
        mcs_hist_record(h, rng_latency());
    ok(round_trip(h, "random", NULL), "encode: 200000 random values");
    mcs_hist_reset(h);
    mcs_hist_record(h, 5000);
    mcs_hist_record(h, 7000000);
    double_counts(h, 60);
    ok(round_trip(h, "2^60", NULL), "encode: counts of 2^60 (9-byte varints)");
    mcs_hist_reset(h);
    mcs_hist_record(h, 5000);
    double_counts(h, 63);
    ok(round_trip(h, "2^63", NULL), "encode: a count of 2^63 clamps to 2^63-1");
    mcs_hist_reset(h);
    for (int64_t i = 0; i <= ref_index(MCS_HIST_MAX_NS); i++)
        mcs_hist_record(h, ref_value_at(i));
    double_counts(h, 21);
    bool same = round_trip(h, "every bucket", &blocks);
    ok(same && blocks >= 2, "encode: every bucket full, %d stored blocks", blocks);
    mcs_hist_free(h);
}

/* ---- the same through python3's zlib, when there is one ---- */

static bool have_python;

/* Decodes with python's base64 and zlib, then the V2 varints; prints the
 * number of counts, their sum and sum of index * count. */
static const char py_decode[] =
    "import base64,struct,sys,zlib\n"
    "b=base64.b64decode(sys.stdin.read().strip(),validate=True)\n"
    "c,l=struct.unpack('>II',b[:8]);assert c==0x1c849314 and l==len(b)-8\n"
    "p=zlib.decompress(b[8:])\n"
    "c,n,o,d,lo,hi,r=struct.unpack('>IIIIqqd',p[:40])\n"
    "assert c==0x1c849313 and n==len(p)-40 and (o,d,lo,hi,r)==(0,3,1,6e10,1.0)\n"
    "i=40;k=0;t=0;w=0\n"
    "while i<len(p):\n"
    " z=0;s=0\n"
    " for j in range(9):\n"
    "  x=p[i];i+=1\n"
    "  if j==8: z|=x<<56;break\n"
    "  z|=(x&127)<<s;s+=7\n"
    "  if x<128: break\n"
    " v=(z>>1)^-(z&1)\n"
    " if v<0: k-=v\n"
    " else: t+=v;w+=k*v;k+=1\n"
    "print(k,t,w)\n";

struct sums {
    int64_t last;
    uint64_t total, weighted;
};

static void sum_bucket(void *ctx, uint64_t lo, uint64_t hi, uint64_t count)
{
    struct sums *s = ctx;
    (void)hi;
    s->last = ref_index(lo);
    s->total += count;
    s->weighted += (uint64_t)s->last * count;
}

static bool python_agrees(const struct mcs_hist *h, const char *dir)
{
    char path[512], cmd[1100];
    char *b64 = mcs_hdr_encode_base64(h);
    struct sums s = { 0 };
    unsigned long long k = 0, t = 0, w = 0;
    FILE *f, *p;
    bool same;

    snprintf(path, sizeof(path), "%s/decode.py", dir);
    if (b64 == NULL || (f = fopen(path, "w")) == NULL) {
        free(b64);
        return false;
    }
    fputs(py_decode, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "%s/b64", dir);
    f = fopen(cmd, "w");
    if (f != NULL) {
        fputs(b64, f);
        fclose(f);
    }
    free(b64);
    snprintf(cmd, sizeof(cmd), "python3 %s < %s/b64", path, dir);
    if ((p = popen(cmd, "r")) == NULL)
        return false;
    same = fscanf(p, "%llu %llu %llu", &k, &t, &w) == 3;
    same = pclose(p) == 0 && same;
    mcs_hist_foreach(h, sum_bucket, &s);
    unlink(path);
    snprintf(path, sizeof(path), "%s/b64", dir);
    unlink(path);
    same = same && k == (unsigned long long)s.last + 1 && t == s.total
        && w == s.weighted;
    if (!same)
        diag("python: %llu counts, total %llu, weighted %llu; expected %" PRId64
             ", %" PRIu64 ", %" PRIu64, k, t, w, s.last + 1, s.total, s.weighted);
    return same;
}

static void python_check(const struct mcs_hist *h, const char *dir,
                         const char *what)
{
    if (have_python)
        ok(python_agrees(h, dir), "python3 zlib.decompress: %s", what);
    else
        skip("no python3 with zlib", "python3 zlib.decompress: %s", what);
}

static void test_python(const char *dir)
{
    struct mcs_hist *h = mcs_hist_new();

    have_python = system("python3 -c 'import zlib, base64, json, struct' "
                         ">/dev/null 2>&1") == 0;
    for (int i = 0; i < 100000; i++)
        mcs_hist_record(h, rng_latency());
    python_check(h, dir, "random histogram");
    mcs_hist_reset(h);
    for (int64_t i = 0; i <= ref_index(MCS_HIST_MAX_NS); i++)
        mcs_hist_record(h, ref_value_at(i));
    double_counts(h, 30);
    python_check(h, dir, "several stored blocks");
    mcs_hist_reset(h);
    mcs_hist_record(h, 1);
    double_counts(h, 62);
    python_check(h, dir, "a 9-byte varint");
    mcs_hist_free(h);
}

/* ---- series rows ---- */

/* An interval: gets and sets with latencies around base_ns. */
static void fill_interval(struct mcs_stats *s, uint64_t base_ns, int n)
{
    mcs_stats_reset(s);
    for (int i = 0; i < n; i++)
        mcs_stats_record(s, i % 4 ? MCS_KIND_GET : MCS_KIND_SET,
                         base_ns + (uint64_t)i * 37);
    s->hits = (uint64_t)n / 2;
    s->misses = (uint64_t)n / 4;
    s->errors[MCS_ERR_TIMEOUT] = 2;
    s->errors[MCS_ERR_RESET] = 1;
}

/* The merge buffer mcs_series_add reuses, as phase.c keeps one per run. */
static struct mcs_hist *scratch;

static void test_series_add(void)
{
    struct mcs_series s = { 0 };
    struct mcs_stats st;
    int bad = 0;

    mcs_stats_init(&st);
    fill_interval(&st, 41000, 1000);
    ok(mcs_series_add(&s, 1.0, 1.0, &st, &scratch) == 0 && s.n == 1, "series_add: 0, one row");
    struct mcs_hist *all = mcs_stats_lat_all(&st);
    const struct mcs_interval_row *r = &s.rows[0];
    ok(r->t_s == 1.0 && r->len_s == 1.0 && r->ops == 1000 && r->errors == 3
       && r->hits == 500 && r->misses == 250, "row: time, ops, errors, hits, misses");
    ok(r->p50_ns == mcs_hist_percentile(all, 50)
       && r->p90_ns == mcs_hist_percentile(all, 90)
       && r->p99_ns == mcs_hist_percentile(all, 99)
       && r->p999_ns == mcs_hist_percentile(all, 99.9)
       && r->max_ns == 41000 + 999 * 37 && r->p50_ns > 41000 + 400 * 37,
       "row: percentiles of all kinds merged, exact max");
    mcs_hist_free(all);
    mcs_stats_reset(&st);
    st.hits = 3;
    ok(mcs_series_add(&s, 2.0, 1.0, &st, &scratch) == 0 && s.n == 2 && s.rows[1].ops == 0
       && s.rows[1].hits == 3 && s.rows[1].p50_ns == 0 && s.rows[1].max_ns == 0,
       "row without requests: percentiles 0");
    for (int i = 2; i < 1000; i++) {
        fill_interval(&st, 1000 + (uint64_t)i, 10);
        bad += mcs_series_add(&s, i + 1.0, 1.0, &st, &scratch) != 0;
    }
    for (size_t i = 2; i < s.n; i++)
        bad += s.rows[i].t_s != (double)(i + 1) || s.rows[i].ops != 10
            || s.rows[i].max_ns != 1000 + i + 9 * 37;
    ok(bad == 0 && s.n == 1000 && s.cap >= 1000, "1000 rows kept in order");
    mcs_series_free(&s);
    ok(s.rows == NULL && s.n == 0 && s.cap == 0, "series_free zeroes the series");
    mcs_series_free(&s);
    mcs_stats_free(&st);
}

/* ---- CSV ---- */

/* Splits one CSV record at *p into fields (quotes handled); advances *p
 * past the line end. Returns the number of fields. */
static int csv_record(char **p, char fields[][128], int max)
{
    int n = 0;
    char *s = *p;

    while (*s && n < max) {
        size_t o = 0;
        if (*s == '"') {
            for (s++; *s && !(*s == '"' && s[1] != '"'); s++) {
                if (*s == '"')
                    s++;
                if (o < 127)
                    fields[n][o++] = *s;
            }
            if (*s == '"')
                s++;
        } else {
            for (; *s && *s != ',' && *s != '\n'; s++)
                if (o < 127)
                    fields[n][o++] = *s;
        }
        fields[n++][o] = '\0';
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s == '\n')
            s++;
        break;
    }
    *p = s;
    return n;
}

static void us3(char *buf, uint64_t ns)
{
    sprintf(buf, "%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
}

/* The fields of row r of workload name/phase, as the CSV must hold them. */
static bool csv_row_matches(char f[][128], const char *name, int phase,
                            const struct mcs_interval_row *r)
{
    char want[5][32];
    const uint64_t ns[5] = { r->p50_ns, r->p90_ns, r->p99_ns, r->p999_ns,
                             r->max_ns };
    double rate = r->len_s > 0 ? r->ops / r->len_s : 0;

    for (int i = 0; i < 5; i++)
        us3(want[i], ns[i]);
    bool same = strcmp(f[0], name) == 0 && atoi(f[1]) == phase
        && fabs(strtod(f[2], NULL) - r->t_s) < 0.0005
        && fabs(strtod(f[3], NULL) - r->len_s) < 0.0005
        && strtoull(f[4], NULL, 10) == r->ops
        && fabs(strtod(f[5], NULL) - rate) < 0.0005
        && strtoull(f[6], NULL, 10) == r->errors
        && strtoull(f[7], NULL, 10) == r->hits
        && strtoull(f[8], NULL, 10) == r->misses;
    for (int i = 0; i < 5; i++)
        same = same && strcmp(f[9 + i], want[i]) == 0;
    return same;
}

static void test_csv(const char *dir)
{
    struct mcs_series a = { 0 }, b = { 0 };
    struct mcs_stats st;
    char path[512], f[16][128];
    int bad = 0, rows = 0;

    mcs_stats_init(&st);
    for (int i = 0; i < 5; i++) {
        fill_interval(&st, 20000 + 1000 * (uint64_t)i, 100 + i);
        mcs_series_add(&a, 0.25 * (i + 1), 0.25, &st, &scratch);
    }
    fill_interval(&st, 1500, 7);
    mcs_series_add(&b, 1.0004, 1.0, &st, &scratch);
    struct mcs_report_wl wl[] = {
        { .name = "get_set", .phase = 1, .duration_s = 1.25, .stats = &st,
          .series = &a },
        { .name = "we,ird \"name\"", .phase = 2, .duration_s = 1.0,
          .stats = &st, .series = &b },
        { .name = "none", .phase = 2, .duration_s = 1.0, .stats = &st },
    };
    snprintf(path, sizeof(path), "%s/series.csv", dir);
    ok(mcs_series_write_csv(path, wl, 3) == 0, "write_csv returns 0");
    ok(dir_entries(dir) == 1, "write_csv: no temporary file left behind");
    char *text = slurp(path), *p = text ? text : "";
    ok(csv_record(&p, f, 16) == 14 && strcmp(f[0], "workload") == 0
       && strcmp(f[5], "ops_per_sec") == 0 && strcmp(f[9], "p50_us") == 0
       && strcmp(f[13], "max_us") == 0, "CSV header: 14 columns");
    while (*p) {
        const struct mcs_report_wl *w = rows < 5 ? &wl[0] : &wl[1];
        const struct mcs_series *s = w->series;
        size_t j = rows < 5 ? (size_t)rows : (size_t)rows - 5;
        if (csv_record(&p, f, 16) != 14 || j >= s->n
            || !csv_row_matches(f, w->name, w->phase, &s->rows[j]))
            bad++;
        rows++;
    }
    ok(rows == 6 && bad == 0, "CSV rows read back equal the series (%d rows)", rows);
    ok(text && strstr(text, "\n\"we,ird \"\"name\"\"\",2,1.000,1.000,7,7.000,3,3,1,")
       && strstr(text, "\nget_set,1,0.250,0.250,100,400.000,3,50,25,"),
       "CSV: quoting, 3 decimals");
    ok(text && strstr(text, ",1.611,1.722,1.722,1.722,1.722\n"),
       "CSV: latencies in us with 3 decimals");
    free(text);
    snprintf(path, sizeof(path), "%s/no/such/dir/x.csv", dir);
    ok(mcs_series_write_csv(path, wl, 3) == -ENOENT, "write_csv: -ENOENT");
    snprintf(path, sizeof(path), "%s/series.csv", dir);
    unlink(path);
    mcs_series_free(&a);
    mcs_series_free(&b);
    mcs_stats_free(&st);
}

/* ---- JSON ---- */

static const char py_json[] =
    "import json,sys\n"
    "d=json.load(open(sys.argv[1]))\n"
    "for w in d['workloads']:\n"
    " for r in w['intervals']:\n"
    "  l=r['latency_us']\n"
    "  print(w['name'],r['t_s'],r['len_s'],r['ops'],r['ops_per_sec'],r['errors'],"
    "r['hits'],r['misses'],l['p50'],l['p90'],l['p99'],l['p999'],l['max'])\n"
    " print(w['name'],len(w['intervals']))\n";

static void test_json(const char *dir)
{
    struct mcs_series a = { 0 }, empty = { 0 };
    struct mcs_stats st;
    char path[512], cmd[1200];

    mcs_stats_init(&st);
    fill_interval(&st, 41500, 3);
    mcs_series_add(&a, 1.0, 1.0, &st, &scratch);
    mcs_stats_reset(&st);
    mcs_series_add(&a, 2.0, 0.5, &st, &scratch);
    struct mcs_report_wl wl[] = {
        { .name = "w1", .phase = 1, .duration_s = 2, .stats = &st, .series = &a },
        { .name = "w2", .phase = 1, .duration_s = 2, .stats = &st,
          .series = &empty },
        { .name = "w3", .phase = 2, .duration_s = 2, .stats = &st },
    };
    snprintf(path, sizeof(path), "%s/r.json", dir);
    ok(mcs_report_json(path, wl, 3, 4.0) == 0, "report_json with series: 0");
    char *text = slurp(path);
    ok(text && strstr(text, "\"intervals\": [\n        {\n          \"t_s\": 1.000,")
       && strstr(text, "\"latency_us\": {\n            \"p50\": 41.567,")
       && strstr(text, "\"max\": 41.574\n"),
       "JSON: intervals with t_s and latency_us");
    char *p = text ? strstr(text, "\"name\": \"w2\"") : NULL;
    char *q = text ? strstr(text, "\"name\": \"w3\"") : NULL;
    ok(p && q && strstr(p, "\"intervals\": []") && strstr(q, "\"intervals\": []"),
       "JSON: empty and NULL series give []");
    free(text);
    if (!have_python) {
        skip("no python3", "JSON parses, intervals read back");
    } else {
        snprintf(cmd, sizeof(cmd), "%s/read_json.py", dir);
        FILE *f = fopen(cmd, "w");
        if (f != NULL) {
            fputs(py_json, f);
            fclose(f);
        }
        snprintf(cmd, sizeof(cmd), "python3 %s/read_json.py %s", dir, path);
        FILE *pp = popen(cmd, "r");
        char out[1024] = "";
        size_t n = fread(out, 1, sizeof(out) - 1, pp);
        out[n] = '\0';
        ok(pclose(pp) == 0 && strcmp(out,
           "w1 1.0 1.0 3 3.0 3 1 0 41.567 41.574 41.574 41.574 41.574\n"
           "w1 2.0 0.5 0 0.0 0 0 0 0 0 0 0 0\n"
           "w1 2\nw2 0\nw3 0\n") == 0, "JSON parses, intervals read back");
        if (nfailed)
            diag("python printed:\n%s", out);
    }
    unlink(path);
    mcs_series_free(&a);
    mcs_stats_free(&st);
}

/* ---- the interval log ---- */

static char *next_line(char **p)
{
    char *s = *p, *nl = strchr(s, '\n');

    if (nl == NULL)
        return NULL;
    *nl = '\0';
    *p = nl + 1;
    return s;
}

/* Checks an interval line; tag NULL for an untagged one. */
static bool interval_line(char *line, const char *tag, const char *times,
                          const char *max_ms, const struct mcs_hist *h)
{
    char want[128];

    if (tag) {
        snprintf(want, sizeof(want), "Tag=%s,", tag);
        if (strncmp(line, want, strlen(want)) != 0)
            return false;
        line += strlen(want);
    }
    snprintf(want, sizeof(want), "%s,%s,", times, max_ms);
    if (strncmp(line, want, strlen(want)) != 0)
        return false;
    line += strlen(want);
    char *b64 = mcs_hdr_encode_base64(h);
    bool same = b64 && strcmp(line, b64) == 0 && strchr(line, ',') == NULL
        && round_trip(h, "log line", NULL);
    free(b64);
    return same;
}

static void test_log(const char *dir)
{
    struct mcs_hist *h = mcs_hist_new();
    char path[512], err[256] = "";
    struct mcs_hdrlog *l;

    snprintf(path, sizeof(path), "%s/run.hlog", dir);
    l = mcs_hdrlog_open(path, 1700000000.25, err, sizeof(err));
    ok(l != NULL, "hdrlog_open: %s", l ? "ok" : err);
    if (l == NULL)
        return;
    for (int i = 0; i < 1000; i++)
        mcs_hist_record(h, 20000 + (uint64_t)i * 1000);
    mcs_hist_record(h, 12345678);
    ok(mcs_hdrlog_write(l, "get_set", 0, 1, h) == 0
       && mcs_hdrlog_write(l, "a b,c\td\x01", 1.0004, 0.9996, NULL) == 0
       && mcs_hdrlog_write(l, NULL, 2, 1, h) == 0
       && mcs_hdrlog_write(l, "", -1, NAN, h) == 0, "hdrlog_write returns 0");
    ok(mcs_hdrlog_close(l) == 0, "hdrlog_close returns 0");
    char *text = slurp(path), *p = text ? text : "", *line;
    bool hdr = true;
    const char *want[] = {
        "#[mcshredder interval log: values in ns, Interval_Max in ms]",
        "#[Histogram log format version 1.3]",
        "#[StartTime: 1700000000.250 (seconds since epoch), "
        "Tue Nov 14 22:13:20 UTC 2023]",
        "#[BaseTime: 1700000000.250 (seconds since epoch)]",
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
        "\"Interval_Compressed_Histogram\"",
    };
    for (int i = 0; i < 5; i++) {
        line = next_line(&p);
        if (!line || strcmp(line, want[i]) != 0 || strlen(line) >= 127) {
            diag("header line %d: %s", i + 1, line ? line : "(none)");
            hdr = false;
        }
    }
    ok(hdr, "log header: comment, version 1.3, StartTime, BaseTime, legend");
    ok((line = next_line(&p)) && interval_line(line, "get_set", "0.000,1.000",
                                               "12.346", h),
       "line: Tag=get_set,0.000,1.000,12.346,<histogram>");
    ok((line = next_line(&p)) && interval_line(line, "a_b_c_d_", "1.000,1.000",
                                               "0.000", NULL),
       "line: tag sanitized, empty histogram");
    ok((line = next_line(&p)) && interval_line(line, NULL, "2.000,1.000",
                                               "12.346", h),
       "line: untagged");
    ok((line = next_line(&p)) && interval_line(line, "_", "0.000,0.000",
                                               "12.346", h) && *p == '\0',
       "line: empty tag, negative and NaN times as 0; end of file");
    free(text);
    snprintf(path, sizeof(path), "%s/no/such/dir/x.hlog", dir);
    l = mcs_hdrlog_open(path, 0, err, sizeof(err));
    ok(l == NULL && strstr(err, path) && strstr(err, strerror(ENOENT)),
       "hdrlog_open: NULL and a message when the file cannot be created");
    if (access("/dev/full", W_OK) == 0) {
        l = mcs_hdrlog_open("/dev/full", 0, err, sizeof(err));
        ok(l == NULL && strstr(err, strerror(ENOSPC)),
           "hdrlog_open: a failed header write is reported");
    } else {
        skip("no /dev/full", "hdrlog_open: a failed header write is reported");
    }
    ok(mcs_hdrlog_close(NULL) == 0, "hdrlog_close(NULL) is 0");
    snprintf(path, sizeof(path), "%s/run.hlog", dir);
    unlink(path);
    mcs_hist_free(h);
}

int main(void)
{
    char dir[] = "/tmp/mcs-unit-series-XXXXXX";

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (mkdtemp(dir) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    test_layout();
    test_encoding();
    test_python(dir);
    test_series_add();
    test_csv(dir);
    test_json(dir);
    test_log(dir);
    mcs_hist_free(scratch);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    printf("1..%d\n", ntests);
    return nfailed != 0;
}
