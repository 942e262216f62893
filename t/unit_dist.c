/* unit_dist.c: TAP unit test for dist.c: the generator, the shape of every
 * key and value size distribution (checked statistically, with fixed seeds
 * so a run is deterministic), the walks, and spec parsing and its errors. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

#include "unit_tap.h"

/* ---- statistics helpers ------------------------------------------------- */

/* The chi-square value a fair sample stays below 99.9% of the time, by
 * Wilson and Hilferty's approximation (3.0902: the normal's 99.9% point). */
static double chi2_crit(int df)
{
    double a = 2.0 / (9.0 * df);
    double t = 1 - a + 3.0902 * sqrt(a);
    return df * t * t * t;
}

/* Chi-square of counts against expected counts. */
static double chi2(const uint64_t *count, const double *expect, size_t n)
{
    double x = 0;

    for (size_t i = 0; i < n; i++) {
        double d = (double)count[i] - expect[i];
        x += d * d / expect[i];
    }
    return x;
}

static double chi2_flat(const uint64_t *count, size_t n, uint64_t total)
{
    double x = 0, e = (double)total / (double)n;

    for (size_t i = 0; i < n; i++) {
        double d = (double)count[i] - e;
        x += d * d / e;
    }
    return x;
}

static bool near(double got, double want, double tol)
{
    return fabs(got - want) <= tol;
}

static bool near_rel(double got, double want, double rel)
{
    return fabs(got - want) <= rel * fabs(want);
}

/* Generalized harmonic number sum_{k=1..n} k^-s: exact below 10^6 terms,
 * else Euler-Maclaurin from m = 100 on. */
static double harmonic(uint64_t n, double s)
{
    const uint64_t m = 100;
    double h = 0, nd = (double)n, md = (double)m;

    if (n <= 1000000) {
        for (uint64_t k = n; k >= 1; k--)
            h += pow((double)k, -s);
        return h;
    }
    for (uint64_t k = 1; k < m; k++)
        h += pow((double)k, -s);
    h += s == 1 ? log(nd / md) : (pow(nd, 1 - s) - pow(md, 1 - s)) / (1 - s);
    h += (pow(md, -s) + pow(nd, -s)) / 2;
    h += s / 12 * (pow(md, -s - 1) - pow(nd, -s - 1));
    return h;
}

/* ---- generator ---------------------------------------------------------- */

static void test_rng_known(void)
{
    /* xoshiro256** from state {1, 2, 3, 4}, worked by hand */
    struct mcs_rng r = { { 1, 2, 3, 4 } };
    uint64_t a = mcs_rng_next(&r), b = mcs_rng_next(&r), c = mcs_rng_next(&r);

    ok(a == 11520 && b == 0 && c == 1509978240,
       "xoshiro256** known answers from state 1,2,3,4");
}

static void test_rng_streams(void)
{
    struct mcs_rng a, b;
    uint64_t first[6];
    const uint64_t pairs[6][2] = { { 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 1 }, { 2, 0 }, { 0, 2 } };
    bool same = true, differ = true, distinct = true;

    mcs_rng_seed(&a, 42, 7);
    mcs_rng_seed(&b, 42, 7);
    for (int i = 0; i < 1000; i++)
        same &= mcs_rng_next(&a) == mcs_rng_next(&b);
    ok(same, "same (seed, stream): same sequence");

    mcs_rng_seed(&a, 42, 0);
    mcs_rng_seed(&b, 42, 1);
    for (int i = 0; i < 1000; i++)
        differ &= mcs_rng_next(&a) != mcs_rng_next(&b);
    ok(differ, "streams 0 and 1 of a seed differ at every one of 1000 draws");

    for (int i = 0; i < 6; i++) {
        mcs_rng_seed(&a, pairs[i][0], pairs[i][1]);
        first[i] = mcs_rng_next(&a);
        for (int j = 0; j < i; j++)
            distinct &= first[i] != first[j];
    }
    ok(distinct, "(seed, stream) pairs around 0 and swapped pairs start apart");
}

static void test_rng_double(void)
{
    struct mcs_rng r;
    double lo = 1, hi = 0, sum = 0;
    bool grid = true;
    const int n = 1000000;

    mcs_rng_seed(&r, 1, 0);
    for (int i = 0; i < n; i++) {
        double u = mcs_rng_double(&r);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        sum += u;
        grid &= u * 0x1.0p53 == floor(u * 0x1.0p53);
    }
    ok(lo >= 0 && hi < 1 && grid, "double: in [0, 1), multiples of 2^-53");
    ok(near(sum / n, 0.5, 0.002) && lo < 1e-5 && hi > 1 - 1e-5,
       "double: mean %.5f, spans [%.2g, 1 - %.2g]", sum / n, lo, 1 - hi);
}

static void test_rng_below(void)
{
    struct mcs_rng r;
    uint64_t count[10] = { 0 }, thirds[3] = { 0 };
    bool in_range = true, zero = true;
    const uint64_t big = 3ULL << 62;
    const int n = 1000000;

    mcs_rng_seed(&r, 2, 0);
    for (int i = 0; i < 1000; i++)
        zero &= mcs_rng_below(&r, 1) == 0;
    ok(zero, "below(1) is always 0");

    for (int i = 0; i < n; i++) {
        uint64_t v = mcs_rng_below(&r, 10);
        in_range &= v < 10;
        count[v < 10 ? v : 0]++;
    }
    ok(in_range, "below(10) < 10");
    ok(chi2_flat(count, 10, n) < chi2_crit(9), "below(10): chi-square %.1f < %.1f",
       chi2_flat(count, 10, n), chi2_crit(9));

    /* Without the rejection, floor(x * 3/4) would land on multiples of 3
     * half the time instead of a third. */
    in_range = true;
    for (int i = 0; i < 300000; i++) {
        uint64_t v = mcs_rng_below(&r, big);
        in_range &= v < big;
        thirds[v % 3]++;
    }
    ok(in_range && chi2_flat(thirds, 3, 300000) < chi2_crit(2),
       "below(3 * 2^62) is unbiased: residues mod 3 %" PRIu64 " %" PRIu64 " %" PRIu64,
       thirds[0], thirds[1], thirds[2]);

    in_range = true;
    for (int i = 0; i < 10000; i++)
        in_range &= mcs_rng_below(&r, UINT64_MAX) < UINT64_MAX &&
                    mcs_rng_below(&r, (1ULL << 63) + 1) < (1ULL << 63) + 1;
    ok(in_range, "below(UINT64_MAX) and below(2^63 + 1) in range");
}

/* ---- key distributions -------------------------------------------------- */

static bool parse_key(struct mcs_key_dist *d, const char *spec, uint64_t nkeys)
{
    char err[256];

    if (mcs_key_dist_parse(d, spec, nkeys, err, sizeof(err)))
        return true;
    diag("%s", err);
    return false;
}

/* n draws of spec over nkeys keys into count (nkeys entries); false if a
 * draw is out of range. */
static bool key_counts(const char *spec, uint64_t nkeys, uint64_t seed,
                       uint64_t *count, int n)
{
    struct mcs_key_dist d;
    struct mcs_rng r;
    bool in_range = true;

    memset(count, 0, nkeys * sizeof(count[0]));
    if (!parse_key(&d, spec, nkeys))
        return false;
    mcs_rng_seed(&r, seed, 0);
    for (int i = 0; i < n; i++) {
        uint64_t k = mcs_key_next(&d, &r);
        if (k >= nkeys)
            in_range = false;
        else
            count[k]++;
    }
    return in_range;
}

static void test_uniform(void)
{
    static uint64_t count[1000];
    const int n = 1000000;

    ok(key_counts("uniform", 1000, 3, count, n), "uniform: draws in range");
    ok(chi2_flat(count, 1000, n) < chi2_crit(999), "uniform: chi-square %.1f < %.1f",
       chi2_flat(count, 1000, n), chi2_crit(999));
    ok(key_counts("uniform", 1, 3, count, 1000) && count[0] == 1000,
       "uniform over 1 key: always 0");
}

static void test_sequential(void)
{
    struct mcs_key_dist d;
    struct mcs_rng r;
    bool order = true;

    mcs_rng_seed(&r, 4, 0);
    parse_key(&d, "sequential", 10);
    for (uint64_t i = 0; i < 25; i++)
        order &= mcs_key_next(&d, &r) == i % 10;
    ok(order, "sequential: 0 .. 9, then wraps");

    mcs_key_dist_start(&d, 3, 4);
    order = true;
    for (uint64_t i = 0; i < 12; i++)
        order &= mcs_key_next_write(&d, &r) == (7 + i) % 10;
    ok(order, "sequential: member 3 of 4 starts at 7; writes walk the same way");

    parse_key(&d, "sequential", 1);
    ok(mcs_key_next(&d, &r) == 0 && mcs_key_next(&d, &r) == 0, "sequential over 1 key");

    parse_key(&d, "sequential", UINT64_MAX);
    mcs_key_dist_start(&d, 1, 2);
    ok(mcs_key_next(&d, &r) == UINT64_MAX / 2, "sequential: halfway start without overflow");
}

/* Members of sequential:shared drawing in turn, rounds times; every key
 * must come up exactly laps times. */
static bool shared_cover(uint64_t nkeys, uint32_t members, int rounds, uint64_t laps)
{
    struct mcs_key_dist d[8];
    struct mcs_rng r;
    uint64_t count[64] = { 0 };
    bool in_range = true;

    mcs_rng_seed(&r, 5, 0);
    for (uint32_t m = 0; m < members; m++) {
        parse_key(&d[m], "sequential:shared", nkeys);
        mcs_key_dist_start(&d[m], m, members);
    }
    for (int i = 0; i < rounds; i++) {
        uint64_t k = mcs_key_next(&d[i % members], &r);
        in_range &= k < nkeys;
        count[k < nkeys ? k : 0]++;
    }
    for (uint64_t k = 0; k < nkeys; k++)
        in_range &= count[k] == laps;
    return in_range;
}

static void test_shared(void)
{
    struct mcs_key_dist d;
    struct mcs_rng r;
    bool order = true;

    mcs_rng_seed(&r, 6, 0);
    parse_key(&d, "sequential:shared", 12);
    mcs_key_dist_start(&d, 1, 4);
    for (uint64_t i = 0; i < 6; i++)
        order &= mcs_key_next(&d, &r) == (1 + 4 * i) % 12;
    ok(order, "shared: member 1 of 4 takes 1, 5, 9, 1, ...");
    ok(shared_cover(12, 4, 12, 1), "shared: 4 members cover 12 keys once per lap");
    ok(shared_cover(12, 4, 36, 3), "shared: ... and 3 laps 3 times");
    ok(shared_cover(10, 4, 10, 1) && shared_cover(10, 4, 50, 5),
       "shared: 4 members over 10 keys, in turn, still walk every key once a lap");
    ok(shared_cover(3, 5, 15, 5), "shared: 5 members over 3 keys");
}

/* Exact zipf probability of each of nb bins of keys [lo[i], lo[i + 1]). */
static void zipf_expect(const uint64_t *lo, size_t nb, double s, double h,
                        double total, double *expect)
{
    for (size_t i = 0; i < nb; i++) {
        double p = 0;
        for (uint64_t k = lo[i]; k < lo[i + 1]; k++)
            p += pow((double)(k + 1), -s) / h;
        expect[i] = p * total;
    }
}

static void test_zipf_shape(double s)
{
    static uint64_t count[1000];
    static const uint64_t lo[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 50, 100,
                                   200, 500, 1000 };
    const size_t nb = sizeof(lo) / sizeof(lo[0]) - 1;
    uint64_t bins[16];
    double expect[16], h = harmonic(1000, s);
    const int n = 1000000;
    char spec[32];
    bool close = true;

    snprintf(spec, sizeof(spec), "zipf:%g", s);
    ok(key_counts(spec, 1000, 7, count, n), "%s: draws in range", spec);
    for (int k = 0; k < 5; k++) {
        double p = pow(k + 1, -s) / h;
        if (!near_rel((double)count[k] / n, p, 0.03)) {
            close = false;
            diag("key %d: %.5f, want %.5f", k, (double)count[k] / n, p);
        }
    }
    ok(close, "%s: keys 0 .. 4 within 3%% of 1/((k+1)^S H(1000, S))", spec);
    for (size_t i = 0; i < nb; i++) {
        bins[i] = 0;
        for (uint64_t k = lo[i]; k < lo[i + 1]; k++)
            bins[i] += count[k];
    }
    zipf_expect(lo, nb, s, h, n, expect);
    ok(chi2(bins, expect, nb) < chi2_crit((int)nb - 1),
       "%s: chi-square over 16 bands of keys %.1f < %.1f", spec,
       chi2(bins, expect, nb), chi2_crit((int)nb - 1));
}

static void test_zipf_edges(void)
{
    struct mcs_key_dist d;
    struct mcs_rng r;
    uint64_t zeros = 0;
    bool in_range = true, all_zero = true;
    const uint64_t big = 1ULL << 40;
    const int n = 200000;
    double p0 = 1 / harmonic(big, 0.99);

    ok(parse_key(&d, "zipf", 1) && d.zipf_s == 0.99, "zipf: S defaults to 0.99");
    mcs_rng_seed(&r, 8, 0);
    for (int i = 0; i < 1000; i++)
        all_zero &= mcs_key_next(&d, &r) == 0;
    ok(all_zero, "zipf over 1 key: always 0");

    parse_key(&d, "zipf", big);
    for (int i = 0; i < n; i++) {
        uint64_t k = mcs_key_next(&d, &r);
        in_range &= k < big;
        zeros += k == 0;
    }
    ok(in_range, "zipf over 2^40 keys: draws in range");
    ok(near_rel((double)zeros / n, p0, 0.05), "zipf over 2^40 keys: key 0 %.4f, want %.4f",
       (double)zeros / n, p0);

    const char *specs[] = { "zipf:0.01", "zipf:0.5", "zipf:3", "zipf:1e6" };
    const uint64_t sizes[] = { 2, 1000, 1ULL << 62, UINT64_MAX };
    in_range = true;
    for (size_t i = 0; i < 4; i++) {
        for (size_t j = 0; j < 4; j++) {
            parse_key(&d, specs[i], sizes[j]);
            for (int k = 0; k < 2000; k++)
                in_range &= mcs_key_next(&d, &r) < sizes[j];
        }
    }
    ok(in_range, "zipf: S from 0.01 to 1e6 over 2 .. 2^64-1 keys, draws in range");
    parse_key(&d, "zipf:1e6", 1000);
    all_zero = true;
    for (int i = 0; i < 1000; i++)
        all_zero &= mcs_key_next(&d, &r) == 0;
    ok(all_zero, "zipf:1e6 always draws key 0");
}

/* Mean and sd of n gaussian draws. */
static bool gaussian_moments(const char *spec, uint64_t nkeys, double *mean, double *sd)
{
    struct mcs_key_dist d;
    struct mcs_rng r;
    double sum = 0, sum2 = 0;
    bool in_range = true;
    const int n = 200000;

    if (!parse_key(&d, spec, nkeys))
        return false;
    mcs_rng_seed(&r, 9, 0);
    for (int i = 0; i < n; i++) {
        uint64_t k = mcs_key_next(&d, &r);
        in_range &= k < nkeys;
        sum += (double)k;
        sum2 += (double)k * (double)k;
    }
    *mean = sum / n;
    *sd = sqrt(sum2 / n - *mean * *mean);
    return in_range;
}

static void test_gaussian(void)
{
    struct mcs_key_dist d;
    double mean = 0, sd = 0;

    bool in_range;

    /* keys are floor(x): the mean drops by a half */
    in_range = gaussian_moments("gaussian", 10000, &mean, &sd);
    ok(in_range && near(mean, 4999.5, 15) && near_rel(sd, 1250, 0.01),
       "gaussian: mean %.1f sd %.1f, want 4999.5 and 1250", mean, sd);
    in_range = gaussian_moments("gaussian:0.25,0.05", 10000, &mean, &sd);
    ok(in_range && near(mean, 2499.5, 5) && near_rel(sd, 500, 0.01),
       "gaussian:0.25,0.05: mean %.1f sd %.1f, want 2499.5 and 500", mean, sd);
    ok(gaussian_moments("gaussian:100%,50%", 1000, &mean, &sd) &&
       gaussian_moments("gaussian:0,1", 1000, &mean, &sd) &&
       gaussian_moments("gaussian:0.5,0.125", 1, &mean, &sd) &&
       gaussian_moments("gaussian:1,0.000001", UINT64_MAX, &mean, &sd),
       "gaussian: truncated curves stay in range");
    ok(parse_key(&d, "gaussian:50%,12.5%", 100) && d.mean == 0.5 && d.sd == 0.125,
       "gaussian: percentages");
}

static void test_hotspot(void)
{
    static uint64_t count[1000];
    struct mcs_key_dist d;
    uint64_t hot = 0;
    const int n = 1000000;

    ok(key_counts("hotspot", 1000, 10, count, n), "hotspot: draws in range");
    for (int k = 0; k < 200; k++)
        hot += count[k];
    ok(near((double)hot / n, 0.8, 0.003), "hotspot: %.4f of draws in the first 200 keys",
       (double)hot / n);
    ok(chi2_flat(count, 200, hot) < chi2_crit(199) &&
       chi2_flat(count + 200, 800, n - hot) < chi2_crit(799),
       "hotspot: uniform within the hot (chi-square %.1f) and cold (%.1f) keys",
       chi2_flat(count, 200, hot), chi2_flat(count + 200, 800, n - hot));

    ok(parse_key(&d, "hotspot:0.25,0.5", 10) && d.hot_n == 3,
       "hotspot:0.25,0.5 over 10 keys: 3 hot keys (rounded up)");
    ok(key_counts("hotspot:0.25,0.5", 10, 10, count, n) &&
       near((double)(count[0] + count[1] + count[2]) / n, 0.5, 0.003),
       "hotspot:0.25,0.5: half the draws on them");
    ok(key_counts("hotspot:0.99,0.1", 10, 10, count, n) &&
       chi2_flat(count, 10, n) < chi2_crit(9),
       "hotspot: a hot set of every key is uniform over all of them");
    ok(key_counts("hotspot:1%,99%", 1, 10, count, 1000) && count[0] == 1000,
       "hotspot over 1 key: always 0");
}

static void test_latest(void)
{
    static uint64_t count[1000];
    struct mcs_key_dist d;
    struct mcs_rng r;
    const int n = 500000;
    double p0 = 1 / harmonic(250, 0.99);
    bool stride = true, writes = true, decays = true;

    mcs_rng_seed(&r, 11, 0);
    parse_key(&d, "latest", 1000);
    mcs_key_dist_start(&d, 1, 4);
    memset(count, 0, sizeof(count));
    for (int i = 0; i < n; i++)
        count[mcs_key_next(&d, &r)]++;
    ok(count[997] > count[993] && near_rel((double)count[997] / n, p0, 0.03),
       "latest before writes: the stride's last key (997) is read most, %.4f",
       (double)count[997] / n);

    for (uint64_t i = 0; i < 10; i++)
        writes &= mcs_key_next_write(&d, &r) == 1 + 4 * i;
    ok(writes, "latest: member 1 of 4 writes 1, 5, .., 37");
    memset(count, 0, sizeof(count));
    for (int i = 0; i < n; i++)
        count[mcs_key_next(&d, &r)]++;
    for (int k = 0; k < 1000; k++)
        stride &= k % 4 == 1 || count[k] == 0;
    ok(stride, "latest: reads stay on the member's stride");
    for (int k = 37; k > 5; k -= 4)
        decays &= count[k] > count[k - 4];
    ok(decays && count[37] > count[997],
       "latest: reads decay with distance from the newest key (37)");
    ok(near_rel((double)count[37] / n, p0, 0.03), "latest: newest read %.4f, want %.4f",
       (double)count[37] / n, p0);

    for (int i = 0; i < 240; i++)
        mcs_key_next_write(&d, &r);
    ok(mcs_key_next_write(&d, &r) == 1, "latest: writes wrap after the stride's 250 keys");

    /* 4 members, 10 keys: member 0 writes 0, 4, 8, 2, ...; reads take the
     * last 10 / 4 = 2 keys it wrote */
    parse_key(&d, "latest", 10);
    mcs_key_dist_start(&d, 0, 4);
    writes = mcs_key_next_write(&d, &r) == 0 && mcs_key_next_write(&d, &r) == 4 &&
             mcs_key_next_write(&d, &r) == 8 && mcs_key_next_write(&d, &r) == 2;
    stride = true;
    for (int i = 0; i < 1000; i++) {
        uint64_t k = mcs_key_next(&d, &r);
        stride &= k == 2 || k == 8;
    }
    ok(writes && stride, "latest: members not dividing nkeys wrap modulo nkeys");

    parse_key(&d, "latest:1.5", 5);
    ok(mcs_key_next(&d, &r) < 5 && mcs_key_next_write(&d, &r) == 0 &&
       mcs_key_next_write(&d, &r) == 1, "latest without start: one member, first write 0");
    parse_key(&d, "latest", 3);
    mcs_key_dist_start(&d, 4, 5);
    stride = true;
    for (int i = 0; i < 100; i++)
        stride &= mcs_key_next(&d, &r) < 3 && mcs_key_next_write(&d, &r) < 3;
    ok(stride, "latest: more members than keys stays in range");
}

/* ---- value sizes -------------------------------------------------------- */

static bool parse_size(struct mcs_size_dist *d, const char *spec)
{
    char err[256];

    if (mcs_size_dist_parse(d, spec, err, sizeof(err)))
        return true;
    diag("%s", err);
    return false;
}

static void test_size_fixed_range(void)
{
    struct mcs_size_dist d;
    struct mcs_rng r;
    uint64_t count[11] = { 0 };
    bool fixed = true, in_range = true;
    const int n = 500000;

    mcs_rng_seed(&r, 12, 0);
    ok(parse_size(&d, "100") && mcs_size_max(&d) == 100, "fixed 100: max 100");
    for (int i = 0; i < 1000; i++)
        fixed &= mcs_size_next(&d, &r) == 100;
    ok(fixed, "fixed 100: always 100");

    ok(parse_size(&d, "10-20") && mcs_size_max(&d) == 20, "range 10-20: max 20");
    for (int i = 0; i < n; i++) {
        uint32_t v = mcs_size_next(&d, &r);
        in_range &= v >= 10 && v <= 20;
        count[v >= 10 && v <= 20 ? v - 10 : 0]++;
    }
    ok(in_range && count[0] > 0 && count[10] > 0, "range 10-20: both ends drawn, none outside");
    ok(chi2_flat(count, 11, n) < chi2_crit(10), "range 10-20: chi-square %.1f < %.1f",
       chi2_flat(count, 11, n), chi2_crit(10));

    in_range = parse_size(&d, "0-1073741824") && mcs_size_max(&d) == MCS_SIZE_MAX;
    for (int i = 0; i < 1000; i++)
        in_range &= mcs_size_next(&d, &r) <= MCS_SIZE_MAX;
    ok(in_range, "range 0-%u in range", MCS_SIZE_MAX);
    ok(parse_size(&d, "7-7") && mcs_size_next(&d, &r) == 7, "range 7-7: always 7");
}

static void test_size_weighted(void)
{
    struct mcs_size_dist d;
    struct mcs_rng r;
    uint64_t a = 0, b = 0, c = 0;
    bool others = false;
    const int n = 1000000;
    char spec[512];
    size_t o = 0;

    mcs_rng_seed(&r, 13, 0);
    ok(parse_size(&d, "100:70,1000:25,100000:5") && mcs_size_max(&d) == 100000,
       "weighted: max is the largest size");
    for (int i = 0; i < n; i++) {
        uint32_t v = mcs_size_next(&d, &r);
        a += v == 100;
        b += v == 1000;
        c += v == 100000;
        others |= v != 100 && v != 1000 && v != 100000;
    }
    ok(!others && near((double)a / n, 0.70, 0.002) && near((double)b / n, 0.25, 0.002) &&
       near((double)c / n, 0.05, 0.001),
       "weighted: %.4f %.4f %.4f, want 0.70 0.25 0.05", (double)a / n, (double)b / n,
       (double)c / n);

    parse_size(&d, "1:0.5,2:0.5,3:1");
    a = b = c = 0;
    for (int i = 0; i < n; i++) {
        uint32_t v = mcs_size_next(&d, &r);
        a += v == 1;
        b += v == 2;
        c += v == 3;
    }
    ok(near((double)a / n, 0.25, 0.002) && near((double)b / n, 0.25, 0.002) &&
       near((double)c / n, 0.5, 0.002), "weighted: weights need not add up to 100");

    for (int i = 0; i < MCS_SIZE_WEIGHTS_MAX; i++)
        o += (size_t)snprintf(spec + o, sizeof(spec) - o, "%s%d:1", i ? "," : "", i);
    ok(parse_size(&d, spec) && d.nweights == MCS_SIZE_WEIGHTS_MAX,
       "weighted: %d pairs are accepted", MCS_SIZE_WEIGHTS_MAX);
    snprintf(spec + o, sizeof(spec) - o, ",99:1");
    ok(!mcs_size_dist_parse(&d, spec, NULL, 0), "weighted: %d pairs are not",
       MCS_SIZE_WEIGHTS_MAX + 1);
}

/* The GPD's CDF at x. */
static double gpd_cdf(double x, double loc, double scale, double shape)
{
    double z = (x - loc) / scale;

    if (z <= 0)
        return 0;
    if (shape == 0)
        return 1 - exp(-z);
    if (1 + shape * z <= 0)
        return 1;
    return 1 - pow(1 + shape * z, -1 / shape);
}

/* Largest gap between the empirical CDF of spec's draws and the GPD's at
 * points; a drawn n is X rounded, so P(n <= x) = F(x + 1/2). */
static double gpd_ks(const char *spec, double loc, double scale, double shape,
                     const double *points, int npoints, uint32_t *max_drawn)
{
    struct mcs_size_dist d;
    struct mcs_rng r;
    uint64_t below[16] = { 0 };
    const int n = 1000000;
    double worst = 0;

    if (!parse_size(&d, spec))
        return 1;
    mcs_rng_seed(&r, 14, 0);
    *max_drawn = 0;
    for (int i = 0; i < n; i++) {
        uint32_t v = mcs_size_next(&d, &r);
        *max_drawn = v > *max_drawn ? v : *max_drawn;
        for (int j = 0; j < npoints; j++)
            below[j] += v <= points[j];
    }
    for (int j = 0; j < npoints; j++) {
        double gap = fabs((double)below[j] / n - gpd_cdf(points[j] + 0.5, loc, scale, shape));
        worst = gap > worst ? gap : worst;
    }
    return worst;
}

static void test_size_gpd(void)
{
    static const double pts[] = { 0, 5, 20, 50, 100, 200, 400, 1000, 3000, 20000 };
    static const double exp_pts[] = { 100, 105, 120, 150, 200, 300, 400 };
    static const double neg_pts[] = { 10, 30, 60, 100, 150, 200, 209 };
    struct mcs_size_dist d, e;
    struct mcs_rng r, q;
    uint32_t top;
    double ks;
    bool same = true;

    ks = gpd_ks("gpd:0,214.476,0.348238", 0, 214.476, 0.348238, pts, 10, &top);
    ok(ks < 0.01 && top <= 1048576, "gpd ETC: max CDF gap %.4f, largest draw %u", ks, top);
    ks = gpd_ks("gpd:100,50,0", 100, 50, 0, exp_pts, 7, &top);
    ok(ks < 0.01, "gpd shape 0 (exponential): max CDF gap %.4f", ks);
    ks = gpd_ks("gpd:10,100,-0.5", 10, 100, -0.5, neg_pts, 7, &top);
    ok(ks < 0.01 && top <= 210, "gpd shape -0.5: max CDF gap %.4f, bounded (%u <= 210)",
       ks, top);
    ks = gpd_ks("gpd:0,100,1e-12", 0, 100, 0, exp_pts, 7, &top);
    ok(ks < 0.01, "gpd shape 1e-12 is the exponential: max CDF gap %.4f", ks);

    /* with shape 1, P(X >= 4999.5) = 1 / (1 + 4.9995) */
    {
        struct mcs_size_dist c;
        uint64_t capped = 0;
        bool under = true;
        const int n = 200000;

        parse_size(&c, "gpd:0,1000,1,5000");
        mcs_rng_seed(&r, 15, 0);
        for (int i = 0; i < n; i++) {
            uint32_t v = mcs_size_next(&c, &r);
            under &= v <= 5000;
            capped += v == 5000;
        }
        ok(under && mcs_size_max(&c) == 5000 && near((double)capped / n, 1 / 5.9995, 0.004),
           "gpd cap 5000: never above, %.4f at it", (double)capped / n);
    }

    ok(parse_size(&d, "gpd:0,1,50") && parse_size(&e, "gpd:0,1e300,1e300,1073741824"),
       "gpd: huge shapes parse");
    mcs_rng_seed(&r, 16, 0);
    for (int i = 0; i < 10000; i++)
        same &= mcs_size_next(&d, &r) <= 1048576 && mcs_size_next(&e, &r) <= MCS_SIZE_MAX;
    ok(same, "gpd: overflowing draws are capped");

    parse_size(&d, "pareto");
    parse_size(&e, "gpd:0,214.476,0.348238,1048576");
    mcs_rng_seed(&r, 17, 0);
    mcs_rng_seed(&q, 17, 0);
    same = mcs_size_max(&d) == 1048576 && mcs_size_max(&e) == 1048576;
    for (int i = 0; i < 10000; i++)
        same &= mcs_size_next(&d, &r) == mcs_size_next(&e, &q);
    ok(same, "pareto is gpd:0,214.476,0.348238,1048576");
}

/* ---- parsing ------------------------------------------------------------ */

static bool one_line(const char *s)
{
    return s[0] != '\0' && strchr(s, '\n') == NULL && strchr(s, '\r') == NULL;
}

static void test_key_specs(void)
{
    static const char *good[] = {
        "uniform", "sequential", "sequential:shared", "zipf", "zipf:1", "zipf:0.5",
        "zipf:2.5e0", "zipf:+1", "gaussian", "gaussian:0.5,0.125", "gaussian:50%,12.5%",
        "gaussian:0,1", "gaussian:100%,100%", "hotspot", "hotspot:0.2,0.8",
        "hotspot:20%,80%", "hotspot:0.5%,99.5%", "latest", "latest:1.2",
    };
    static const char *bad[] = {
        "", "foo", "Zipf", "uniform:", "uniform:1", "sequential:", "sequential:x",
        "sequential:shared:1", "zipf:", "zipf:0", "zipf:-1", "zipf:nan", "zipf:inf",
        "zipf:1e999", "zipf:1x", "zipf:0.99,1", "zipf:0x10", "zipf: 1", "zipf:1 ",
        "zipf:50%", "zipf:1e-999", "zipf:--1", "gaussian:", "gaussian:0.5",
        "gaussian:0.5,", "gaussian:,0.1", "gaussian:1.5,0.1", "gaussian:-0.1,0.1",
        "gaussian:0.5,0", "gaussian:0.5,-0.1", "gaussian:0.5,2", "gaussian:0.5,0.1,0.2",
        "gaussian:0.5%%,0.1", "gaussian:%,0.1", "hotspot:0,0.5", "hotspot:1,0.5",
        "hotspot:0.2,100%", "hotspot:0.2", "hotspot:20%,80", "hotspot:0.2,0.8,",
        "latest:", "latest:-0.5", "zipf:1\n", "uniform\x7f",
    };
    struct mcs_key_dist d;
    char err[256];
    bool all = true;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        err[0] = '\0';
        if (!mcs_key_dist_parse(&d, good[i], 1000, err, sizeof(err))) {
            all = false;
            diag("'%s' refused: %s", good[i], err);
        }
    }
    ok(all, "key specs: %zu good ones parse", sizeof(good) / sizeof(good[0]));

    all = true;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (mcs_key_dist_parse(&d, bad[i], 1000, err, sizeof(err)) || !one_line(err) ||
            strncmp(err, "key distribution '", 18) != 0) {
            all = false;
            diag("bad spec %zu accepted or message wrong: %s", i, err);
        }
    }
    ok(all, "key specs: %zu bad ones fail with a one-line message",
       sizeof(bad) / sizeof(bad[0]));

    mcs_key_dist_parse(&d, "zipf:-1", 1000, err, sizeof(err));
    ok(strcmp(err, "key distribution 'zipf:-1': the exponent must be > 0") == 0,
       "message: %s", err);
    mcs_key_dist_parse(&d, "foo", 1000, err, sizeof(err));
    ok(strcmp(err, "key distribution 'foo': unknown (uniform, sequential, "
                   "sequential:shared, zipf[:S], gaussian[:MEAN,SD], "
                   "hotspot[:KEYS,REQS], latest[:S])") == 0, "message: %s", err);
    mcs_key_dist_parse(&d, "hotspot:0.2,x", 1000, err, sizeof(err));
    ok(strcmp(err, "key distribution 'hotspot:0.2,x': REQS is not a number") == 0,
       "message: %s", err);
    ok(!mcs_key_dist_parse(&d, "uniform", 0, err, sizeof(err)) && one_line(err),
       "no keys: %s", err);
    ok(!mcs_key_dist_parse(&d, "foo", 1000, err, 8) && strlen(err) == 7 &&
       !mcs_key_dist_parse(&d, "foo", 1000, NULL, 0),
       "a short or missing err buffer is respected");
}

static void test_size_specs(void)
{
    static const char *good[] = {
        "0", "100", "1073741824", "10-20", "0-0", "100:70,1000:25,100000:5", "1:0.5",
        "5:1e-3,6:2", "gpd:0,214.476,0.348238", "gpd:0,1,0", "gpd:0,1,-0.5,10",
        "gpd:5.5,1,0.1,6", "pareto",
    };
    static const char *bad[] = {
        "", "abc", "-5", "10-", "-", "10-5", "1-2-3", "1073741825", "99999999999999999999",
        "10x", " 10", "+10", "1.5", "1k", "100:", ":5", "100:0", "100:-1", "100:nan",
        "100:1,", "100:1,200", "100:1:2", "1:1e308,2:1e308", "x:1", "gpd:", "gpd:0,1",
        "gpd:0,0,0.3", "gpd:0,-1,0.3", "gpd:-1,1,0.3", "gpd:0,1,nan", "gpd:0,1,inf",
        "gpd:0,1,0.3,2000000000", "gpd:0,1,0.3,x", "gpd:500,1,0.3,100",
        "gpd:0,1,0.3,100,5", "gpd:0,1,0.3,", "gpd:2e9,1,0.3", "pareto:1", "Pareto",
        "gpd", "10\n",
    };
    struct mcs_size_dist d;
    char err[256];
    bool all = true;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        err[0] = '\0';
        if (!mcs_size_dist_parse(&d, good[i], err, sizeof(err))) {
            all = false;
            diag("'%s' refused: %s", good[i], err);
        }
    }
    ok(all, "size specs: %zu good ones parse", sizeof(good) / sizeof(good[0]));

    all = true;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (mcs_size_dist_parse(&d, bad[i], err, sizeof(err)) || !one_line(err) ||
            strncmp(err, "value size '", 12) != 0) {
            all = false;
            diag("bad spec %zu accepted or message wrong: %s", i, err);
        }
    }
    ok(all, "size specs: %zu bad ones fail with a one-line message",
       sizeof(bad) / sizeof(bad[0]));

    mcs_size_dist_parse(&d, "10-5", err, sizeof(err));
    ok(strcmp(err, "value size '10-5': MIN is larger than MAX") == 0, "message: %s", err);
    mcs_size_dist_parse(&d, "100:70,1000:0", err, sizeof(err));
    ok(strcmp(err, "value size '100:70,1000:0': WEIGHT 2 must be > 0") == 0,
       "message: %s", err);
    mcs_size_dist_parse(&d, "2000000000", err, sizeof(err));
    ok(strcmp(err, "value size '2000000000': the size is larger than 1073741824") == 0,
       "message: %s", err);
}

int main(void)
{
    test_rng_known();
    test_rng_streams();
    test_rng_double();
    test_rng_below();
    test_uniform();
    test_sequential();
    test_shared();
    test_zipf_shape(0.99);
    test_zipf_shape(1.0);
    test_zipf_shape(1.5);
    test_zipf_edges();
    test_gaussian();
    test_hotspot();
    test_latest();
    test_size_fixed_range();
    test_size_weighted();
    test_size_gpd();
    test_key_specs();
    test_size_specs();
    printf("1..%d\n", ntests);
    return nfailed ? 1 : 0;
}
