/* dist.c: the random generator and the key and value size distributions
 * workloads draw from, parsed from spec strings. Pure code: no I/O, no
 * allocation, and no state but the caller's structs. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

#define GOLDEN 0x9e3779b97f4a7c15ULL   /* 2^64 / phi, splitmix64's step */
#define TWO_PI 6.283185307179586

/* GCC and clang have it on every 64-bit target; __extension__ keeps
 * -Wpedantic quiet about it. */
__extension__ typedef unsigned __int128 u128;

/* ---- generator ---------------------------------------------------------- */

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* splitmix64's output function: a bijection that spreads every bit. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void mcs_rng_seed(struct mcs_rng *r, uint64_t seed, uint64_t stream)
{
    /* Hashing the seed before adding the stream keeps (seed, stream) and
     * (seed + 1, stream - 1) apart; hashing the sum keeps the splitmix64
     * walks of nearby streams (each steps by GOLDEN) from overlapping. As
     * mix64 is a bijection, the four words are distinct, so never all 0. */
    uint64_t x = mix64(mix64(seed + GOLDEN) + stream);

    for (int i = 0; i < 4; i++) {
        x += GOLDEN;
        r->s[i] = mix64(x);
    }
}

/* xoshiro256** (Blackman and Vigna). */
uint64_t mcs_rng_next(struct mcs_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double mcs_rng_double(struct mcs_rng *r)
{
    return (double)(mcs_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t mcs_rng_below(struct mcs_rng *r, uint64_t n)
{
    /* Lemire: the high word of x * n is in [0, n). Rejecting the x whose
     * low word is below 2^64 mod n leaves each result the same number of
     * x, floor(2^64 / n); the test on n skips the modulo almost always. */
    u128 m = (u128)mcs_rng_next(r) * n;

    if ((uint64_t)m < n) {
        uint64_t threshold = (0 - n) % n;   /* 2^64 mod n */
        while ((uint64_t)m < threshold)
            m = (u128)mcs_rng_next(r) * n;
    }
    return (uint64_t)(m >> 64);
}

/* ---- spec parsing helpers ---------------------------------------------- */

struct ctx {
    const char *what;           /* "key distribution" or "value size" */
    const char *spec;
    char *err;
    size_t errlen;
};

/* A piece of the spec, not NUL-terminated. */
struct field {
    const char *p;
    size_t n;
};

/* Copies at most 64 bytes of s into out (72 bytes), control bytes as '?',
 * so the message stays one line whatever the spec holds. */
static void printable(char *out, const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0' && i < 64; i++)
        out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    strcpy(out + i, s[i] != '\0' ? "..." : "");
}

/* Writes "<what> '<spec>': <message>" into err; returns false. */
static bool fail(const struct ctx *c, const char *fmt, ...)
{
    char spec[72];
    va_list ap;
    int n;

    if (c->err == NULL || c->errlen == 0)
        return false;
    printable(spec, c->spec);
    n = snprintf(c->err, c->errlen, "%s '%s': ", c->what, spec);
    if (n >= 0 && (size_t)n < c->errlen) {
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return false;
}

static bool field_is(struct field f, const char *s)
{
    return strlen(s) == f.n && memcmp(f.p, s, f.n) == 0;
}

/* Splits s at sep into f; returns the number of fields, max + 1 if more. */
static size_t split(struct field s, char sep, struct field *f, size_t max)
{
    size_t n = 0;

    for (;;) {
        const char *e = memchr(s.p, sep, s.n);
        size_t len = e ? (size_t)(e - s.p) : s.n;

        if (n == max)
            return max + 1;
        f[n++] = (struct field){ s.p, len };
        if (e == NULL)
            return n;
        s.p = e + 1;
        s.n -= len + 1;
    }
}

/* A finite decimal number, "20%" read as 0.2 where percent is allowed.
 * Only digits, '.', signs and exponents get to strtod, which keeps out
 * blanks, "nan", "inf" and hex. */
static bool get_num(const struct ctx *c, struct field f, const char *name,
                    bool percent, double *v)
{
    bool pct = percent && f.n > 0 && f.p[f.n - 1] == '%';
    char buf[64], *end;
    double x;

    if (pct)
        f.n--;
    if (f.n == 0)
        return fail(c, "%s is empty", name);
    if (f.n >= sizeof(buf))
        return fail(c, "%s is too long", name);
    memcpy(buf, f.p, f.n);
    buf[f.n] = '\0';
    errno = 0;
    x = strtod(buf, &end);
    if (strspn(buf, "0123456789.eE+-") != f.n || end != buf + f.n)
        return fail(c, "%s is not a number", name);
    if (errno == ERANGE || !isfinite(x))
        return fail(c, "%s is out of range", name);
    *v = pct ? x / 100 : x;
    return true;
}

/* A whole number of bytes in [0, MCS_SIZE_MAX]. */
static bool get_size(const struct ctx *c, struct field f, const char *name,
                     uint32_t *v)
{
    uint64_t x = 0;

    if (f.n == 0)
        return fail(c, "%s is empty", name);
    for (size_t i = 0; i < f.n; i++) {
        if (f.p[i] < '0' || f.p[i] > '9')
            return fail(c, "%s is not a whole number of bytes", name);
        x = x * 10 + (uint64_t)(f.p[i] - '0');
        if (x > MCS_SIZE_MAX)
            return fail(c, "%s is larger than %u", name, MCS_SIZE_MAX);
    }
    *v = (uint32_t)x;
    return true;
}

/* ---- zipf by rejection-inversion ---------------------------------------- */

/* Hörmann and Derflinger, "Rejection-inversion to generate variates from
 * monotone discrete distributions" (1996). Rank k in [1, n] has weight
 * h(k) = k^-s. A continuous hat over [1/2, n + 1/2] with density h(x) is
 * sampled by inverting its integral H; x rounds to rank k, which is taken
 * when u falls under the area that h(k) gives k's bar. O(1) per draw, no
 * table, any n, and s = 1 is the limit of the same formulas. */

/* (e^t - 1) / t, and its limit 1 at t = 0. */
static double expm1_over(double t)
{
    return fabs(t) > 1e-8 ? expm1(t) / t : 1 + t / 2 * (1 + t / 3);
}

/* ln(1 + t) / t, and its limit 1 at t = 0. */
static double log1p_over(double t)
{
    return fabs(t) > 1e-8 ? log1p(t) / t : 1 - t * (0.5 - t / 3);
}

static double zipf_h(double s, double x)
{
    return exp(-s * log(x));
}

/* H(x) = (x^(1-s) - 1) / (1-s), or ln x when s = 1. */
static double zipf_hint(double s, double x)
{
    double lx = log(x);

    return lx * expm1_over((1 - s) * lx);
}

static double zipf_hint_inv(double s, double y)
{
    double t = y * (1 - s);

    if (t < -1)         /* only by rounding, at the far end */
        t = -1;
    return exp(log1p_over(t) * y);
}

static void zipf_setup(struct mcs_key_dist *d, uint64_t n)
{
    double s = d->zipf_s;

    d->zipf_n = n;
    d->zh_x1 = zipf_hint(s, 1.5) - 1;
    d->zh_n = zipf_hint(s, (double)n + 0.5);
    /* x within zh_s below a rank is under that rank's bar: no test needed */
    d->zh_s = 2 - zipf_hint_inv(s, zipf_hint(s, 2.5) - zipf_h(s, 2));
}

/* A rank in [1, zipf_n]. */
static uint64_t zipf_rank(const struct mcs_key_dist *d, struct mcs_rng *r)
{
    double s = d->zipf_s, n = (double)d->zipf_n;

    for (;;) {
        double u = d->zh_n + mcs_rng_double(r) * (d->zh_x1 - d->zh_n);
        double x = zipf_hint_inv(s, u);
        double k = floor(x + 0.5);

        if (k < 1)
            k = 1;
        if (!(k < n))   /* also when x overflowed */
            k = n;
        if (k - x <= d->zh_s || u >= zipf_hint(s, k + 0.5) - zipf_h(s, k))
            return k < n ? (uint64_t)k : d->zipf_n;
    }
}

/* ---- key distributions -------------------------------------------------- */

/* a + b and a - b modulo n, for a, b < n, without overflow. */
static uint64_t add_mod(uint64_t a, uint64_t b, uint64_t n)
{
    return a >= n - b ? a - (n - b) : a + b;
}

static uint64_t sub_mod(uint64_t a, uint64_t b, uint64_t n)
{
    return a >= b ? a - b : a + (n - b);
}

static bool parse_none(struct mcs_key_dist *d, const struct ctx *c,
                       const struct field *args)
{
    (void)d;
    return args == NULL || fail(c, "takes no parameters");
}

static bool parse_sequential(struct mcs_key_dist *d, const struct ctx *c,
                             const struct field *args)
{
    if (args == NULL)
        return true;
    if (!field_is(*args, "shared"))
        return fail(c, "the only option is 'shared'");
    d->kind = MCS_KEYS_SEQUENTIAL_SHARED;
    return true;
}

/* zipf and latest: [:S] */
static bool parse_exponent(struct mcs_key_dist *d, const struct ctx *c,
                           const struct field *args)
{
    struct field f[1];

    d->zipf_s = 0.99;
    if (args == NULL)
        return true;
    if (split(*args, ',', f, 1) != 1)
        return fail(c, "takes one parameter, the exponent S");
    if (!get_num(c, f[0], "the exponent", false, &d->zipf_s))
        return false;
    return d->zipf_s > 0 || fail(c, "the exponent must be > 0");
}

/* Two fractions or percentages, a and b, if args has them. */
static bool parse_pair(const struct ctx *c, const struct field *args,
                       const char *a_name, const char *b_name, double *a, double *b)
{
    struct field f[2];

    if (args == NULL)
        return true;
    if (split(*args, ',', f, 2) != 2)
        return fail(c, "expected %s,%s", a_name, b_name);
    return get_num(c, f[0], a_name, true, a) && get_num(c, f[1], b_name, true, b);
}

static bool parse_gaussian(struct mcs_key_dist *d, const struct ctx *c,
                           const struct field *args)
{
    d->mean = 0.5;
    d->sd = 0.125;
    if (!parse_pair(c, args, "MEAN", "SD", &d->mean, &d->sd))
        return false;
    if (d->mean < 0 || d->mean > 1)
        return fail(c, "MEAN must be within 0 .. 1 (100%%) of the key space");
    /* A wider curve would be redrawn so often it hardly differs from
     * uniform; the bound keeps the redraws few. */
    if (!(d->sd > 0) || d->sd > 1)
        return fail(c, "SD must be > 0 and at most 1 (100%%) of the key space");
    return true;
}

static bool parse_hotspot(struct mcs_key_dist *d, const struct ctx *c,
                          const struct field *args)
{
    double hot;

    d->hot_keys = 0.2;
    d->hot_reqs = 0.8;
    if (!parse_pair(c, args, "KEYS", "REQS", &d->hot_keys, &d->hot_reqs))
        return false;
    if (!(d->hot_keys > 0 && d->hot_keys < 1))
        return fail(c, "KEYS must be between 0 and 1 (100%%), exclusive");
    if (!(d->hot_reqs > 0 && d->hot_reqs < 1))
        return fail(c, "REQS must be between 0 and 1 (100%%), exclusive");
    hot = ceil(d->hot_keys * (double)d->nkeys);
    d->hot_n = hot >= (double)d->nkeys ? d->nkeys : hot < 1 ? 1 : (uint64_t)hot;
    return true;
}

typedef bool key_parse_fn(struct mcs_key_dist *, const struct ctx *,
                          const struct field *);

static const struct {
    const char *name;
    enum mcs_key_kind kind;
    key_parse_fn *parse;
} key_kinds[] = {
    { "uniform", MCS_KEYS_UNIFORM, parse_none },
    { "sequential", MCS_KEYS_SEQUENTIAL, parse_sequential },
    { "zipf", MCS_KEYS_ZIPF, parse_exponent },
    { "gaussian", MCS_KEYS_GAUSSIAN, parse_gaussian },
    { "hotspot", MCS_KEYS_HOTSPOT, parse_hotspot },
    { "latest", MCS_KEYS_LATEST, parse_exponent },
};

bool mcs_key_dist_parse(struct mcs_key_dist *d, const char *spec, uint64_t nkeys,
                        char *err, size_t errlen)
{
    struct ctx c = { "key distribution", spec ? spec : "", err, errlen };
    const char *colon = strchr(c.spec, ':');
    struct field name = { c.spec, colon ? (size_t)(colon - c.spec) : strlen(c.spec) };
    struct field args = { colon ? colon + 1 : "", colon ? strlen(colon + 1) : 0 };

    memset(d, 0, sizeof(*d));
    if (nkeys == 0)
        return fail(&c, "there are no keys to draw");
    d->nkeys = nkeys;
    for (size_t i = 0; i < sizeof(key_kinds) / sizeof(key_kinds[0]); i++) {
        if (!field_is(name, key_kinds[i].name))
            continue;
        d->kind = key_kinds[i].kind;
        if (!key_kinds[i].parse(d, &c, colon ? &args : NULL))
            return false;
        if (d->kind == MCS_KEYS_ZIPF)
            zipf_setup(d, nkeys);
        mcs_key_dist_start(d, 0, 1);
        return true;
    }
    return fail(&c, "unknown (uniform, sequential, sequential:shared, zipf[:S], "
                "gaussian[:MEAN,SD], hotspot[:KEYS,REQS], latest[:S])");
}

void mcs_key_dist_start(struct mcs_key_dist *d, uint32_t member, uint32_t members)
{
    uint64_t n = d->nkeys;

    if (members == 0)
        members = 1;
    member %= members;
    switch (d->kind) {
    case MCS_KEYS_SEQUENTIAL:
        d->step = 1 % n;
        d->next_seq = (uint64_t)((u128)member * n / members);
        break;
    case MCS_KEYS_SEQUENTIAL_SHARED:
        d->step = members % n;
        d->next_seq = member % n;
        break;
    case MCS_KEYS_LATEST:
        /* Before the first write (member), newest is the key written one
         * stride earlier: with members dividing nkeys, the stride's last. */
        d->step = members % n;
        d->newest = sub_mod(member % n, d->step, n);
        /* the last n / members keys written are distinct */
        zipf_setup(d, n / members > 0 ? n / members : 1);
        break;
    default:
        break;
    }
}

/* Normal, redrawn until it falls in [0, nkeys). */
static uint64_t gaussian_key(const struct mcs_key_dist *d, struct mcs_rng *r)
{
    double n = (double)d->nkeys, mean = d->mean * n, sd = d->sd * n;

    for (;;) {
        /* Box-Muller; 1 - u keeps log's argument in (0, 1] */
        double radius = sqrt(-2 * log(1 - mcs_rng_double(r)));
        double x = mean + sd * radius * cos(TWO_PI * mcs_rng_double(r));

        /* n may have rounded up from nkeys: check the integer too */
        if (x >= 0 && x < n && (uint64_t)x < d->nkeys)
            return (uint64_t)x;
    }
}

static uint64_t hotspot_key(const struct mcs_key_dist *d, struct mcs_rng *r)
{
    if (d->hot_n == d->nkeys || mcs_rng_double(r) < d->hot_reqs)
        return mcs_rng_below(r, d->hot_n);
    return d->hot_n + mcs_rng_below(r, d->nkeys - d->hot_n);
}

uint64_t mcs_key_next(struct mcs_key_dist *d, struct mcs_rng *r)
{
    uint64_t k;

    switch (d->kind) {
    case MCS_KEYS_UNIFORM:
        return mcs_rng_below(r, d->nkeys);
    case MCS_KEYS_SEQUENTIAL:
    case MCS_KEYS_SEQUENTIAL_SHARED:
        k = d->next_seq;
        d->next_seq = add_mod(k, d->step, d->nkeys);
        return k;
    case MCS_KEYS_ZIPF:
        return zipf_rank(d, r) - 1;
    case MCS_KEYS_GAUSSIAN:
        return gaussian_key(d, r);
    case MCS_KEYS_HOTSPOT:
        return hotspot_key(d, r);
    case MCS_KEYS_LATEST:
        /* z * step < nkeys: zipf_n * members <= nkeys, or zipf_n is 1 */
        k = zipf_rank(d, r) - 1;
        return sub_mod(d->newest, k * d->step, d->nkeys);
    }
    return 0;
}

uint64_t mcs_key_next_write(struct mcs_key_dist *d, struct mcs_rng *r)
{
    if (d->kind != MCS_KEYS_LATEST)
        return mcs_key_next(d, r);
    d->newest = add_mod(d->newest, d->step, d->nkeys);
    return d->newest;
}

/* ---- value sizes -------------------------------------------------------- */

static const char size_usage[] =
    "expected N, MIN-MAX, SIZE:WEIGHT,..., gpd:LOC,SCALE,SHAPE[,MAX] or pareto";

static bool parse_fixed(struct mcs_size_dist *d, const struct ctx *c)
{
    struct field f = { c->spec, strlen(c->spec) };

    if (f.n == 0 || strspn(c->spec, "0123456789") != f.n)
        return fail(c, "%s", size_usage);
    d->kind = MCS_SIZE_FIXED;
    if (!get_size(c, f, "the size", &d->min))
        return false;
    d->max = d->min;
    return true;
}

static bool parse_range(struct mcs_size_dist *d, const struct ctx *c)
{
    struct field all = { c->spec, strlen(c->spec) }, f[2];

    d->kind = MCS_SIZE_RANGE;
    if (split(all, '-', f, 2) != 2)
        return fail(c, "expected MIN-MAX");
    if (!get_size(c, f[0], "MIN", &d->min) || !get_size(c, f[1], "MAX", &d->max))
        return false;
    return d->min <= d->max || fail(c, "MIN is larger than MAX");
}

static bool parse_weighted(struct mcs_size_dist *d, const struct ctx *c)
{
    struct field all = { c->spec, strlen(c->spec) }, f[MCS_SIZE_WEIGHTS_MAX], pair[2];
    size_t n = split(all, ',', f, MCS_SIZE_WEIGHTS_MAX);
    double total = 0;
    char name[32];

    d->kind = MCS_SIZE_WEIGHTED;
    if (n > MCS_SIZE_WEIGHTS_MAX)
        return fail(c, "more than %d SIZE:WEIGHT pairs", MCS_SIZE_WEIGHTS_MAX);
    d->min = MCS_SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        double w;

        if (split(f[i], ':', pair, 2) != 2)
            return fail(c, "pair %zu is not SIZE:WEIGHT", i + 1);
        snprintf(name, sizeof(name), "SIZE %zu", i + 1);
        if (!get_size(c, pair[0], name, &d->sizes[i]))
            return false;
        snprintf(name, sizeof(name), "WEIGHT %zu", i + 1);
        if (!get_num(c, pair[1], name, false, &w))
            return false;
        if (!(w > 0))
            return fail(c, "%s must be > 0", name);
        total += w;
        d->cum[i] = total;
        d->min = d->sizes[i] < d->min ? d->sizes[i] : d->min;
        d->max = d->sizes[i] > d->max ? d->sizes[i] : d->max;
    }
    if (!isfinite(total))
        return fail(c, "the weights add up to too much");
    for (size_t i = 0; i < n; i++)
        d->cum[i] /= total;
    d->cum[n - 1] = 1;  /* exactly, so every u < 1 finds its entry */
    d->nweights = (uint32_t)n;
    return true;
}

static bool parse_gpd(struct mcs_size_dist *d, const struct ctx *c, struct field args)
{
    struct field f[4];
    size_t n = split(args, ',', f, 4);

    d->kind = MCS_SIZE_GPD;
    d->max = 1048576;
    if (n < 3 || n > 4)
        return fail(c, "expected gpd:LOC,SCALE,SHAPE[,MAX]");
    if (!get_num(c, f[0], "LOC", false, &d->loc) ||
        !get_num(c, f[1], "SCALE", false, &d->scale) ||
        !get_num(c, f[2], "SHAPE", false, &d->shape) ||
        (n == 4 && !get_size(c, f[3], "MAX", &d->max)))
        return false;
    if (d->loc < 0 || d->loc > MCS_SIZE_MAX)
        return fail(c, "LOC must be within 0 .. %u", MCS_SIZE_MAX);
    if (!(d->scale > 0))
        return fail(c, "SCALE must be > 0");
    if (d->max < d->loc)
        return fail(c, "MAX is below LOC");
    d->min = (uint32_t)floor(d->loc + 0.5);
    return true;
}

bool mcs_size_dist_parse(struct mcs_size_dist *d, const char *spec, char *err, size_t errlen)
{
    struct ctx c = { "value size", spec ? spec : "", err, errlen };
    char pareto[] = "0,214.476,0.348238,1048576";

    memset(d, 0, sizeof(*d));
    if (strcmp(c.spec, "pareto") == 0)
        return parse_gpd(d, &c, (struct field){ pareto, strlen(pareto) });
    if (strncmp(c.spec, "gpd:", 4) == 0)
        return parse_gpd(d, &c, (struct field){ c.spec + 4, strlen(c.spec + 4) });
    if (strchr(c.spec, ':') != NULL)
        return parse_weighted(d, &c);
    if (strchr(c.spec, '-') != NULL)
        return parse_range(d, &c);
    return parse_fixed(d, &c);
}

/* Generalized Pareto by inversion: with l = -ln(1 - u), an exponential
 * draw, x = LOC + SCALE * ((1 - u)^-SHAPE - 1) / SHAPE
 *         = LOC + SCALE * l * (e^(SHAPE l) - 1) / (SHAPE l),
 * which is also right for SHAPE = 0 (LOC + SCALE * l) and stays accurate
 * for SHAPE near it. */
static uint32_t gpd_size(const struct mcs_size_dist *d, struct mcs_rng *r)
{
    double l = -log1p(-mcs_rng_double(r));
    double x = floor(d->loc + d->scale * l * expm1_over(d->shape * l) + 0.5);

    if (!(x < d->max))  /* also inf and NaN, from overflow */
        return d->max;
    return (uint32_t)x;
}

static uint32_t weighted_size(const struct mcs_size_dist *d, struct mcs_rng *r)
{
    double u = mcs_rng_double(r);
    uint32_t lo = 0, hi = d->nweights - 1;

    /* the first entry whose cumulative weight is above u */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (u < d->cum[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return d->sizes[lo];
}

uint32_t mcs_size_next(const struct mcs_size_dist *d, struct mcs_rng *r)
{
    switch (d->kind) {
    case MCS_SIZE_FIXED:
        return d->min;
    case MCS_SIZE_RANGE:
        return d->min + (uint32_t)mcs_rng_below(r, (uint64_t)d->max - d->min + 1);
    case MCS_SIZE_WEIGHTED:
        return weighted_size(d, r);
    case MCS_SIZE_GPD:
        return gpd_size(d, r);
    }
    return 0;
}

uint32_t mcs_size_max(const struct mcs_size_dist *d)
{
    return d->max;
}
