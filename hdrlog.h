/* hdrlog.h: HdrHistogram interval logs (the .hlog format that
 * HistogramLogReader reads in Java, C, Python and Go) and the compressed
 * V2 histogram encoding they carry. No zlib: DEFLATE stored blocks. */
#ifndef MCS_HDRLOG_H
#define MCS_HDRLOG_H

#include <stddef.h>
#include <stdint.h>

struct mcs_hist;

/* The HdrHistogram parameters every encoded histogram declares. With 1 ns
 * as the lowest discernible value and 3 significant digits, HdrHistogram
 * has 2048 sub-buckets per power of two and the same bucket boundaries as
 * hist.c, so bucket i of ours is index i of its counts array. */
#define MCS_HDR_LOWEST 1                        /* ns */
#define MCS_HDR_HIGHEST (60LL * 1000000000LL)   /* ns, MCS_HIST_MAX_NS */
#define MCS_HDR_SIGNIFICANT_DIGITS 3
#define MCS_HDR_ENCODING_COOKIE 0x1c849313      /* V2, 0x1c849303 | 0x10 */
#define MCS_HDR_COMPRESSED_COOKIE 0x1c849314    /* V2, 0x1c849304 | 0x10 */
/* Interval_Max is the interval's max latency divided by this: ms. */
#define MCS_HDR_MAX_VALUE_UNIT_RATIO 1e6

/* HdrHistogram's counts-array index for value ns (clamped to
 * MCS_HDR_HIGHEST like mcs_hist_record) under the parameters above. */
int32_t mcs_hdr_counts_index(uint64_t ns);

/* h in HdrHistogram's compressed V2 encoding, base64 (no newlines): what
 * the last column of an interval line holds. h may be NULL (an empty
 * histogram). malloc'd, the caller frees; NULL on ENOMEM. */
char *mcs_hdr_encode_base64(const struct mcs_hist *h);

/* An open log file; owned by whoever called mcs_hdrlog_open, released by
 * mcs_hdrlog_close. */
struct mcs_hdrlog;

/* Creates (truncates) path and writes the header: format version 1.3,
 * StartTime and BaseTime (both start_epoch_s, so the interval timestamps
 * are seconds since start_epoch_s), the legend line. On failure returns
 * NULL with a message in err. */
struct mcs_hdrlog *mcs_hdrlog_open(const char *path, double start_epoch_s,
                                   char *err, size_t errlen);

/* Appends one interval line: "Tag=TAG,start,len,max_ms,HISTOGRAM" (no Tag=
 * field when tag is NULL). start_s is seconds since start_epoch_s; h may
 * be NULL (nothing recorded). Characters a reader would split the line at
 * (',', white space, control characters) become '_' in the tag. The line is
 * flushed. 0 or -errno; after an error every call fails the same way. */
int mcs_hdrlog_write(struct mcs_hdrlog *l, const char *tag, double start_s,
                     double len_s, const struct mcs_hist *h);

/* Closes the file and frees l (NULL is fine). 0, or -errno of the first
 * write or close error. */
int mcs_hdrlog_close(struct mcs_hdrlog *l);

#endif
