/* dist.h: random numbers and the distributions workloads draw from.
 * Key numbers (uniform, sequential, zipf, gaussian, hotspot, latest) and
 * value sizes (fixed, range, weighted list, generalized Pareto), parsed from
 * the same spec strings the command line and Lua take.  Pure code: every
 * draw takes the caller's generator, so each client owns its own stream and
 * a seed makes a run repeatable; nothing is shared between threads. */
#ifndef MCS_DIST_H
#define MCS_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* xoshiro256**, seeded through splitmix64. */
struct mcs_rng {
    uint64_t s[4];
};

/* Seeds r from (seed, stream): equal pairs give equal sequences, and
 * different streams of one seed are independent for our purposes. */
void mcs_rng_seed(struct mcs_rng *r, uint64_t seed, uint64_t stream);
uint64_t mcs_rng_next(struct mcs_rng *r);
/* Uniform in [0, 1). */
double mcs_rng_double(struct mcs_rng *r);
/* Uniform in [0, n), unbiased; n > 0. */
uint64_t mcs_rng_below(struct mcs_rng *r, uint64_t n);

enum mcs_key_kind {
    MCS_KEYS_UNIFORM,
    MCS_KEYS_SEQUENTIAL,        /* each client walks every key in order */
    MCS_KEYS_SEQUENTIAL_SHARED, /* the clients of a workload share one walk */
    MCS_KEYS_ZIPF,              /* key 0 the most popular */
    MCS_KEYS_GAUSSIAN,
    MCS_KEYS_HOTSPOT,           /* hot_reqs of the draws on the first hot_keys */
    MCS_KEYS_LATEST,            /* reads favour the keys written last */
};

struct mcs_key_dist {
    enum mcs_key_kind kind;
    uint64_t nkeys;
    double zipf_s;              /* zipf and latest: the exponent */
    double mean, sd;            /* gaussian, as fractions of nkeys */
    double hot_keys, hot_reqs;  /* hotspot, fractions in (0, 1) */
    uint64_t hot_n;             /* hotspot: keys in the hot set, >= 1 */
    /* zipf sampler constants (rejection-inversion) over ranks 1 .. zipf_n,
     * set by parse (zipf) or mcs_key_dist_start (latest) */
    double zh_x1, zh_n, zh_s;
    uint64_t zipf_n;
    /* walk state, set by mcs_key_dist_start */
    uint64_t next_seq;          /* sequential: the next key of the walk */
    uint64_t step;              /* the walk's stride mod nkeys: 1 for
                                 * sequential, members for shared and latest */
    uint64_t newest;            /* latest: the key written last */
};

/* Parses spec for a key space of nkeys (> 0) keys:
 *   uniform | sequential | sequential:shared | zipf[:S] | gaussian[:MEAN,SD]
 *   | hotspot[:KEYS,REQS] | latest[:S]
 * MEAN, SD, KEYS and REQS are fractions (0.2) or percentages (20%).
 * On error returns false with a one-line message (no trailing newline) in
 * err, naming the spec and what is wrong. */
bool mcs_key_dist_parse(struct mcs_key_dist *d, const char *spec, uint64_t nkeys,
                        char *err, size_t errlen);
/* Places one member (0 .. members-1) of the clients sharing d's spec in the
 * walk: sequential starts at member's share of the key space, sequential
 * shared takes every members-th key starting at member, latest writes its
 * own stride in the same way.  Strides wrap modulo nkeys, so clients that
 * draw in turn walk 0, 1, ..., nkeys-1 lap after lap between them even when
 * members does not divide nkeys (a client's own keys then shift from lap to
 * lap).  Parse has already placed d as member 0 of 1. */
void mcs_key_dist_start(struct mcs_key_dist *d, uint32_t member, uint32_t members);
/* The next key number to read, in [0, nkeys). */
uint64_t mcs_key_next(struct mcs_key_dist *d, struct mcs_rng *r);
/* The next key number to write: for latest, a new newest key; for the
 * others the same as mcs_key_next. */
uint64_t mcs_key_next_write(struct mcs_key_dist *d, struct mcs_rng *r);

enum mcs_size_kind {
    MCS_SIZE_FIXED,
    MCS_SIZE_RANGE,             /* uniform in [min, max] */
    MCS_SIZE_WEIGHTED,          /* sizes[i] with weight weights[i] */
    MCS_SIZE_GPD,               /* generalized Pareto, capped at max */
};

#define MCS_SIZE_WEIGHTS_MAX 32
/* The largest value size a spec may ask for. */
#define MCS_SIZE_MAX (1u << 30)

struct mcs_size_dist {
    enum mcs_size_kind kind;
    uint32_t min, max;          /* fixed: min == max */
    uint32_t nweights;
    uint32_t sizes[MCS_SIZE_WEIGHTS_MAX];
    double cum[MCS_SIZE_WEIGHTS_MAX]; /* cumulative weights, last = 1 */
    double loc, scale, shape;   /* GPD */
};

/* Parses spec:
 *   N | MIN-MAX | SIZE:WEIGHT,SIZE:WEIGHT,... | gpd:LOC,SCALE,SHAPE[,MAX]
 *   | pareto (gpd:0,214.476,0.348238,1048576: the value sizes of Facebook's
 *     ETC pool, Atikoglu et al., SIGMETRICS 2012)
 * Sizes are bytes in [0, MCS_SIZE_MAX]; the GPD cap MAX defaults to 1 MiB.
 * Errors as mcs_key_dist_parse. */
bool mcs_size_dist_parse(struct mcs_size_dist *d, const char *spec, char *err, size_t errlen);
uint32_t mcs_size_next(const struct mcs_size_dist *d, struct mcs_rng *r);
/* The largest size d can draw (for gpd, its cap). */
uint32_t mcs_size_max(const struct mcs_size_dist *d);

#endif
