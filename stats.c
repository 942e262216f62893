/* stats.c: per-workload counters and per-kind latency histograms: the
 * names of kinds and errors, recording, merging and resetting. */
#include <errno.h>
#include <string.h>
#include "stats.h"

static const char *const kind_names[MCS_KIND_MAX] = {
    [MCS_KIND_GET] = "get",
    [MCS_KIND_SET] = "set",
    [MCS_KIND_DELETE] = "delete",
    [MCS_KIND_TOUCH] = "touch",
    [MCS_KIND_INCR] = "incr",
    [MCS_KIND_MG] = "mg",
    [MCS_KIND_MS] = "ms",
    [MCS_KIND_MD] = "md",
    [MCS_KIND_MA] = "ma",
    [MCS_KIND_MN] = "mn",
    [MCS_KIND_OTHER] = "other",
};

static const char *const err_names[MCS_ERR_MAX] = {
    [MCS_ERR_ERROR] = "error",
    [MCS_ERR_CLIENT_ERROR] = "client_error",
    [MCS_ERR_SERVER_ERROR] = "server_error",
    [MCS_ERR_PROTOCOL] = "protocol",
    [MCS_ERR_CONNECT] = "connect",
    [MCS_ERR_RESET] = "reset",
    [MCS_ERR_TIMEOUT] = "timeout",
    [MCS_ERR_TLS] = "tls",
};

const char *mcs_kind_name(enum mcs_kind k)
{
    return (unsigned)k < MCS_KIND_MAX ? kind_names[k] : "unknown";
}

const char *mcs_err_name(enum mcs_err e)
{
    return (unsigned)e < MCS_ERR_MAX ? err_names[e] : "unknown";
}

static const char *const tls_err_names[MCS_TLS_ERR_MAX][2] = {
    { "other", "TLS error" },
    { "unknown_ca", "certificate signed by an unknown CA (see --tls-ca)" },
    { "hostname", "certificate does not match the host name (hostname mismatch)" },
    { "expired", "certificate has expired" },
    { "certificate", "the server's certificate is not valid" },
    { "not_tls", "the server does not speak TLS (a plain port?)" },
    { "server_tls", "the server speaks TLS (use --tls)" },
    { "version", "no TLS protocol version in common (see --tls-min/--tls-max)" },
    { "cipher", "no cipher in common, or the server refused the handshake" },
    { "client_cert", "the server requires or refuses our client certificate (see --tls-cert)" },
    { "timeout", "the TLS handshake timed out" },
    { "closed", "connection closed during the handshake (not a TLS server?)" },
};

const char *mcs_tls_err_name(enum mcs_tls_err e)
{
    return (unsigned)e < MCS_TLS_ERR_MAX ? tls_err_names[e][0] : "unknown";
}

const char *mcs_tls_err_text(enum mcs_tls_err e)
{
    return (unsigned)e < MCS_TLS_ERR_MAX ? tls_err_names[e][1] : "TLS error";
}

void mcs_stats_init(struct mcs_stats *s)
{
    memset(s, 0, sizeof(*s));
}

void mcs_stats_free(struct mcs_stats *s)
{
    for (int k = 0; k < MCS_KIND_MAX; k++) {
        mcs_hist_free(s->lat[k]);
        s->lat[k] = NULL;
    }
    mcs_hist_free(s->tls_hs);
    s->tls_hs = NULL;
    mcs_hist_free(s->svc);
    s->svc = NULL;
}

void mcs_stats_reset(struct mcs_stats *s)
{
    struct mcs_hist *lat[MCS_KIND_MAX];
    struct mcs_hist *hs = s->tls_hs, *svc = s->svc;

    memcpy(lat, s->lat, sizeof(lat));
    memset(s, 0, sizeof(*s));
    for (int k = 0; k < MCS_KIND_MAX; k++) {
        s->lat[k] = lat[k];
        if (lat[k] != NULL)
            mcs_hist_reset(lat[k]);
    }
    s->tls_hs = hs;
    if (hs != NULL)
        mcs_hist_reset(hs);
    s->svc = svc;
    if (svc != NULL)
        mcs_hist_reset(svc);
}

/* dst += src for one histogram, allocating dst as needed. */
static int hist_merge(struct mcs_hist **dst, const struct mcs_hist *src)
{
    if (src == NULL || mcs_hist_count(src) == 0)
        return 0;
    if (*dst == NULL && (*dst = mcs_hist_new()) == NULL)
        return -ENOMEM;
    mcs_hist_add(*dst, src);
    return 0;
}

/* The counters are all added even when a histogram cannot be allocated,
 * so ops and errors stay right and only that kind's latencies are short. */
int mcs_stats_add(struct mcs_stats *dst, const struct mcs_stats *src)
{
    int ret = 0;

    for (int k = 0; k < MCS_KIND_MAX; k++)
        dst->ops[k] += src->ops[k];
    for (int e = 0; e < MCS_ERR_MAX; e++)
        dst->errors[e] += src->errors[e];
    dst->hits += src->hits;
    dst->misses += src->misses;
    dst->bytes_in += src->bytes_in;
    dst->bytes_out += src->bytes_out;
    dst->connects += src->connects;
    dst->reconnects += src->reconnects;
    dst->runs += src->runs;
    dst->late_runs += src->late_runs;
    if (src->lag_max_ns > dst->lag_max_ns)
        dst->lag_max_ns = src->lag_max_ns;
    dst->tls_handshakes += src->tls_handshakes;
    dst->tls_resumed += src->tls_resumed;
    dst->validated += src->validated;
    dst->mismatches += src->mismatches;
    for (int e = 0; e < MCS_TLS_ERR_MAX; e++)
        dst->tls_errors[e] += src->tls_errors[e];

    for (int k = 0; k < MCS_KIND_MAX; k++)
        if (hist_merge(&dst->lat[k], src->lat[k]) < 0)
            ret = -ENOMEM;
    if (hist_merge(&dst->tls_hs, src->tls_hs) < 0 || hist_merge(&dst->svc, src->svc) < 0)
        ret = -ENOMEM;
    return ret;
}

static void hist_record(struct mcs_hist **h, uint64_t ns)
{
    if (*h == NULL)
        *h = mcs_hist_new();
    if (*h != NULL)
        mcs_hist_record(*h, ns);
}

void mcs_stats_record_handshake(struct mcs_stats *s, uint64_t ns)
{
    hist_record(&s->tls_hs, ns);
}

void mcs_stats_record_service(struct mcs_stats *s, uint64_t ns)
{
    hist_record(&s->svc, ns);
}

void mcs_stats_record(struct mcs_stats *s, enum mcs_kind k, uint64_t ns)
{
    if ((unsigned)k >= MCS_KIND_MAX)
        k = MCS_KIND_OTHER;
    s->ops[k]++;
    if (s->lat[k] == NULL)
        s->lat[k] = mcs_hist_new();
    if (s->lat[k] != NULL)
        mcs_hist_record(s->lat[k], ns);
}

uint64_t mcs_stats_ops(const struct mcs_stats *s)
{
    uint64_t n = 0;
    for (int k = 0; k < MCS_KIND_MAX; k++)
        n += s->ops[k];
    return n;
}

uint64_t mcs_stats_errors(const struct mcs_stats *s)
{
    uint64_t n = 0;
    for (int e = 0; e < MCS_ERR_MAX; e++)
        n += s->errors[e];
    return n;
}

const struct mcs_hist *mcs_stats_lat_merged(const struct mcs_stats *s,
                                            struct mcs_hist **scratch)
{
    const struct mcs_hist *only = NULL;
    int kinds = 0;

    for (int k = 0; k < MCS_KIND_MAX; k++) {
        if (s->lat[k] != NULL && mcs_hist_count(s->lat[k]) > 0) {
            only = s->lat[k];
            kinds++;
        }
    }
    if (kinds <= 1)
        return only;
    if (*scratch == NULL && (*scratch = mcs_hist_new()) == NULL)
        return NULL;
    mcs_hist_reset(*scratch);
    for (int k = 0; k < MCS_KIND_MAX; k++)
        if (s->lat[k] != NULL)
            mcs_hist_add(*scratch, s->lat[k]);
    return *scratch;
}

struct mcs_hist *mcs_stats_lat_all(const struct mcs_stats *s)
{
    struct mcs_hist *all = NULL;

    for (int k = 0; k < MCS_KIND_MAX; k++) {
        if (s->lat[k] == NULL || mcs_hist_count(s->lat[k]) == 0)
            continue;
        if (all == NULL && (all = mcs_hist_new()) == NULL)
            return NULL;
        mcs_hist_add(all, s->lat[k]);
    }
    return all;
}
