/* hist.h: log-linear latency histograms (HdrHistogram-style).
 * Values are nanoseconds; 2048 sub-buckets per power of two keep at least
 * 3 significant digits from 1 us to 60 s. */
#ifndef MCS_HIST_H
#define MCS_HIST_H

#include <stdint.h>

#define MCS_HIST_SUB_BITS 11                     /* 2048 sub-buckets */
#define MCS_HIST_MAX_NS (60ULL * 1000000000ULL)  /* larger values clamp */

struct mcs_hist;  /* owned by whoever called mcs_hist_new */

struct mcs_hist *mcs_hist_new(void);   /* zeroed; NULL on ENOMEM */
void mcs_hist_free(struct mcs_hist *h);
void mcs_hist_record(struct mcs_hist *h, uint64_t ns);
void mcs_hist_add(struct mcs_hist *dst, const struct mcs_hist *src);
void mcs_hist_reset(struct mcs_hist *h);
uint64_t mcs_hist_count(const struct mcs_hist *h);
uint64_t mcs_hist_min(const struct mcs_hist *h);   /* 0 when empty */
uint64_t mcs_hist_max(const struct mcs_hist *h);   /* exact max recorded */
double mcs_hist_mean(const struct mcs_hist *h);
/* Value at percentile p (0..100), as the highest value equivalent to the
 * bucket holding it; 0 when empty. */
uint64_t mcs_hist_percentile(const struct mcs_hist *h, double p);
/* Calls fn for each non-empty bucket in increasing order with the bucket's
 * lowest and highest equivalent values and its count. */
void mcs_hist_foreach(const struct mcs_hist *h,
                      void (*fn)(void *ctx, uint64_t lo, uint64_t hi,
                                 uint64_t count),
                      void *ctx);

#endif
