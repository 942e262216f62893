/* hist.c: log-linear latency histograms in nanoseconds. Values below 2048
 * get a bucket each; above, every power of two is cut into 1024 equal
 * buckets, so a bucket is never wider than 1/1024 of its lowest value. */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "hist.h"

#define SUB_COUNT (1u << MCS_HIST_SUB_BITS)          /* 2048 */
#define HALF_BITS (MCS_HIST_SUB_BITS - 1)
#define HALF_COUNT (1u << HALF_BITS)                 /* 1024 */

/* The used index range is not stored: buckets are ordered like values, so
 * it is [index_of(min), index_of(max)], and record() only has to keep
 * min and max. min is UINT64_MAX while empty so record() needs no test. */
struct mcs_hist {
    uint64_t count;
    uint64_t sum;
    uint64_t min;
    uint64_t max;
    uint64_t counts[];
};

/* Bucket index of v (v <= MCS_HIST_MAX_NS). With b the number of low bits
 * dropped, v >> b keeps 11 significant bits, in [1024, 2047] once v is at
 * least 2048. Or-ing in 2047 makes b zero below 2048 without a branch, and
 * index = v there. */
static inline uint32_t index_of(uint64_t v)
{
    unsigned msb = 63 - (unsigned)__builtin_clzll(v | (SUB_COUNT - 1));
    unsigned b = msb - HALF_BITS;
    return (b << HALF_BITS) + (uint32_t)(v >> b);
}

/* Lowest and highest value that land in bucket i. */
static void bucket_range(uint32_t i, uint64_t *lo, uint64_t *hi)
{
    if (i < SUB_COUNT) {
        *lo = *hi = i;
        return;
    }
    unsigned b = (i >> HALF_BITS) - 1;
    *lo = (uint64_t)(i - (b << HALF_BITS)) << b;
    *hi = *lo + (1ULL << b) - 1;
}

struct mcs_hist *mcs_hist_new(void)
{
    uint32_t n = index_of(MCS_HIST_MAX_NS) + 1;
    size_t size = sizeof(struct mcs_hist) + n * sizeof(uint64_t);
    struct mcs_hist *h = malloc(size);
    if (h == NULL)
        return NULL;
    /* Zeroed by hand, not calloc: every page is touched now, so memory in
     * use shows at once rather than growing whenever a latency range is
     * first met (a long run's RSS stays flat). */
    memset(h, 0, size);
    h->min = UINT64_MAX;
    return h;
}

void mcs_hist_free(struct mcs_hist *h)
{
    free(h);
}

void mcs_hist_record(struct mcs_hist *h, uint64_t ns)
{
    if (ns > MCS_HIST_MAX_NS)
        ns = MCS_HIST_MAX_NS;
    h->counts[index_of(ns)]++;
    h->count++;
    h->sum += ns;
    if (ns < h->min)
        h->min = ns;
    if (ns > h->max)
        h->max = ns;
}

void mcs_hist_add(struct mcs_hist *dst, const struct mcs_hist *src)
{
    if (src->count == 0)
        return;
    uint32_t last = index_of(src->max);
    for (uint32_t i = index_of(src->min); i <= last; i++)
        dst->counts[i] += src->counts[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

void mcs_hist_reset(struct mcs_hist *h)
{
    if (h->count != 0) {
        uint32_t first = index_of(h->min), last = index_of(h->max);
        memset(&h->counts[first], 0, (last - first + 1) * sizeof(h->counts[0]));
    }
    h->count = 0;
    h->sum = 0;
    h->min = UINT64_MAX;
    h->max = 0;
}

uint64_t mcs_hist_count(const struct mcs_hist *h)
{
    return h->count;
}

uint64_t mcs_hist_min(const struct mcs_hist *h)
{
    return h->count ? h->min : 0;
}

uint64_t mcs_hist_max(const struct mcs_hist *h)
{
    return h->max;
}

double mcs_hist_mean(const struct mcs_hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}

/* Number of values at or below percentile p: ceil(p% of count), at least
 * one. The small slack keeps 99.9% of 1000 at 999 when p * count / 100
 * comes out a hair above the integer in floating point. */
static uint64_t rank_of(double p, uint64_t count)
{
    double x = p * (double)count / 100.0;
    uint64_t r = (uint64_t)ceil(x - 1e-9);
    return r < 1 ? 1 : r;
}

uint64_t mcs_hist_percentile(const struct mcs_hist *h, double p)
{
    if (h->count == 0)
        return 0;
    if (p >= 100.0)
        return h->max;
    if (!(p > 0.0))     /* also NaN */
        p = 0.0;
    uint64_t rank = rank_of(p, h->count), seen = 0;
    uint32_t last = index_of(h->max);
    for (uint32_t i = index_of(h->min); i <= last; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t lo, hi;
            bucket_range(i, &lo, &hi);
            return hi < h->max ? hi : h->max;
        }
    }
    return h->max;
}

void mcs_hist_foreach(const struct mcs_hist *h,
                      void (*fn)(void *ctx, uint64_t lo, uint64_t hi,
                                 uint64_t count),
                      void *ctx)
{
    if (h->count == 0)
        return;
    uint32_t last = index_of(h->max);
    for (uint32_t i = index_of(h->min); i <= last; i++) {
        if (h->counts[i] == 0)
            continue;
        uint64_t lo, hi;
        bucket_range(i, &lo, &hi);
        fn(ctx, lo, hi, h->counts[i]);
    }
}
