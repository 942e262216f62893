/* t/unit_proto.c: unit tests for proto_text.c, printed as TAP.
 * Request lines byte for byte, value patterns, the raw request scanner, and
 * the response parser, including every split point of response streams. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_text.h"

/* ---- TAP ---------------------------------------------------------------- */

/* Results are kept until the end so the plan line can come first. */
#define MAX_RESULTS 1024

struct result {
    bool ok;
    char desc[112];
};
static struct result results[MAX_RESULTS];
static int nresults;

static bool check(bool cond, const char *fmt, ...)
{
    struct result *r;
    va_list ap;

    if (nresults == MAX_RESULTS) {
        fprintf(stderr, "too many tests, raise MAX_RESULTS\n");
        abort();
    }
    r = &results[nresults++];
    r->ok = cond;
    va_start(ap, fmt);
    vsnprintf(r->desc, sizeof(r->desc), fmt, ap);
    va_end(ap);
    return cond;
}

static void diag(const char *fmt, ...)
{
    va_list ap;

    fputs("# ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Printable form of bytes for diagnostics. */
static const char *show(const char *s, size_t n)
{
    static char out[512];
    size_t o = 0;

    for (size_t i = 0; i < n && o + 5 < sizeof(out); i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r') {
            out[o++] = '\\';
            out[o++] = 'r';
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c < ' ' || c > '~') {
            o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}

/* Exactly n bytes on the heap, so ASan sees any read past the end. */
static char *exact_copy(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);

    if (p == NULL)
        abort();
    memcpy(p, s, n);
    return p;
}

/* ---- names -------------------------------------------------------------- */

static void test_names(void)
{
    bool good = true;

    for (int i = 0; i < MCS_CMD_UNKNOWN; i++) {
        const char *n = mcs_cmd_name((enum mcs_cmd)i);
        if (mcs_cmd_lookup(n, strlen(n)) != (enum mcs_cmd)i) {
            diag("cmd %d name %s does not round trip", i, n);
            good = false;
        }
    }
    check(good, "mcs_cmd_name / mcs_cmd_lookup round trip for every command");
    check(mcs_cmd_lookup("GET", 3) == MCS_CMD_UNKNOWN &&
          mcs_cmd_lookup("gett", 4) == MCS_CMD_UNKNOWN &&
          mcs_cmd_lookup("ge", 2) == MCS_CMD_UNKNOWN &&
          mcs_cmd_lookup("", 0) == MCS_CMD_UNKNOWN &&
          mcs_cmd_lookup("unknown", 7) == MCS_CMD_UNKNOWN &&
          mcs_cmd_lookup("get foo", 3) == MCS_CMD_GET,
          "mcs_cmd_lookup: case, prefixes, empty, length-bounded");
    check(strcmp(mcs_cmd_name(MCS_CMD_FLUSH_ALL), "flush_all") == 0 &&
          strcmp(mcs_cmd_name(MCS_CMD_ME), "me") == 0 &&
          strcmp(mcs_cmd_name(MCS_CMD_MAX), "unknown") == 0 &&
          strcmp(mcs_cmd_name((enum mcs_cmd)-1), "unknown") == 0,
          "mcs_cmd_name: spot values and out of range");

    good = true;
    for (int i = 0; i < MCS_RES_TYPE_MAX; i++) {
        const char *a = mcs_res_type_name((enum mcs_res_type)i);
        for (int j = 0; j < i; j++)
            good &= strcmp(a, mcs_res_type_name((enum mcs_res_type)j)) != 0;
    }
    check(good && strcmp(mcs_res_type_name(MCS_RES_VALUE), "VALUE") == 0 &&
          strcmp(mcs_res_type_name(MCS_RES_HD), "HD") == 0 &&
          strcmp(mcs_res_type_name(MCS_RES_EX), "EX") == 0 &&
          strcmp(mcs_res_type_name(MCS_RES_TYPE_MAX), "INVALID") == 0,
          "mcs_res_type_name: distinct names, spot values, out of range");
}

/* ---- number formatting -------------------------------------------------- */

static bool u64_ok(uint64_t v)
{
    char got[32], want[32];
    char *e = mcs_fmt_u64(got, v);
    int n = snprintf(want, sizeof(want), "%" PRIu64, v);

    return e - got == n && memcmp(got, want, (size_t)n) == 0;
}

static bool i64_ok(int64_t v)
{
    char got[32], want[32];
    char *e = mcs_fmt_i64(got, v);
    int n = snprintf(want, sizeof(want), "%" PRId64, v);

    return e - got == n && memcmp(got, want, (size_t)n) == 0;
}

static void test_fmt(void)
{
    static const uint64_t uv[] = { 0, 1, 9, 10, 11, 99, 100, 101, 999, 1000,
                                   4294967295u, 4294967296u, UINT64_MAX };
    static const int64_t iv[] = { 0, -1, 1, -9, -10, INT64_MAX, INT64_MIN,
                                  INT64_MIN + 1 };
    bool good = true;
    uint64_t p = 1;

    for (size_t i = 0; i < sizeof(uv) / sizeof(uv[0]); i++)
        good &= u64_ok(uv[i]);
    for (int k = 1; k <= 19; k++) {
        p *= 10;
        good &= u64_ok(p) && u64_ok(p - 1) && u64_ok(p + 1);
    }
    check(good, "mcs_fmt_u64 matches printf, incl. 0, powers of ten, max");

    good = true;
    for (size_t i = 0; i < sizeof(iv) / sizeof(iv[0]); i++)
        good &= i64_ok(iv[i]);
    check(good, "mcs_fmt_i64 matches printf, incl. INT64_MIN");
}

/* ---- request builder ---------------------------------------------------- */

static struct mcs_req_spec spec(enum mcs_cmd cmd)
{
    struct mcs_req_spec s;

    memset(&s, 0, sizeof(s));
    s.cmd = cmd;
    s.prefix = "foo";
    s.prefix_len = 3;
    s.num = 12;
    return s;
}

/* The template path of a keyed spec gives the same line and hash. */
static void tmpl_case(const char *desc, const struct mcs_req_spec *s,
                      const char *want, uint64_t wh)
{
    static struct mcs_req_tmpl t;
    char buf[MCS_REQ_LINE_MAX + 16];
    uint64_t h = 12345;
    size_t n = 0, wn = strlen(want);

    memset(buf, 'Z', sizeof(buf));
    if (mcs_req_tmpl_init(&t, s))
        n = mcs_req_tmpl_format(buf, &t, (uint64_t)s->num, &h);
    if (!check(n == wn && memcmp(buf, want, wn) == 0 && buf[n] == 'Z' && h == wh,
               "template %s", desc))
        diag("got %zu \"%s\"", n, show(buf, n));
}

/* key: what key_hash must be the hash of; NULL for keyless commands. */
static void fmt_case(const char *desc, const struct mcs_req_spec *s,
                     const char *want, const char *key)
{
    char buf[MCS_REQ_LINE_MAX + 16];
    uint64_t h = 12345;
    uint64_t wh = key ? mcs_key_hash(key, strlen(key)) : 0;
    size_t n, wn = strlen(want);

    memset(buf, 'Z', sizeof(buf));
    n = mcs_req_format(buf, sizeof(buf), s, &h);
    if (!check(n == wn && memcmp(buf, want, wn) == 0 && buf[n] == 'Z' &&
               h == wh, "format %s", desc))
        diag("got %zu \"%s\"", n, show(buf, n));
    if (key && s->num >= 0)
        tmpl_case(desc, s, want, wh);
}

static void fmt_zero(const char *desc, const struct mcs_req_spec *s)
{
    char buf[MCS_REQ_LINE_MAX + 16];
    uint64_t h = 12345;
    size_t n = mcs_req_format(buf, sizeof(buf), s, &h);

    check(n == 0 && h == 0, "format refuses %s", desc);
    static struct mcs_req_tmpl t;
    if (s->num >= 0 && mcs_req_tmpl_init(&t, s))
        check(mcs_req_tmpl_format(buf, &t, (uint64_t)s->num, NULL) == 0,
              "template refuses %s", desc);
}

/* A line exactly MCS_REQ_LINE_MAX long with a 1-digit key number: the
 * template takes 1 digit and refuses 2, as the formatter does. */
static void test_template_limits(void)
{
    static char flags[MCS_REQ_LINE_MAX], buf[MCS_REQ_LINE_MAX + 16];
    static struct mcs_req_tmpl t;
    struct mcs_req_spec s = spec(MCS_CMD_MG);
    size_t fixed = strlen("mg foo") + 1 + 1 + 2; /* the digit, " ", "\r\n" */

    memset(flags, 'v', sizeof(flags));
    s.mflags = flags;
    s.mflags_len = MCS_REQ_LINE_MAX - fixed;
    s.num = 7;
    size_t full = mcs_req_format(buf, sizeof(buf), &s, NULL);
    check(full == MCS_REQ_LINE_MAX, "a %d-byte mg line formats", MCS_REQ_LINE_MAX);
    check(mcs_req_tmpl_init(&t, &s) &&
          mcs_req_tmpl_format(buf, &t, 7, NULL) == MCS_REQ_LINE_MAX,
          "its template takes a 1-digit key number");
    s.num = 17;
    check(mcs_req_format(buf, sizeof(buf), &s, NULL) == 0 &&
          mcs_req_tmpl_format(buf, &t, 17, NULL) == 0,
          "both refuse a 2-digit key number (the line would be too long)");
    s = spec(MCS_CMD_VERSION);
    check(!mcs_req_tmpl_init(&t, &s), "no template for a keyless command");
}

static void test_format_storage(void)
{
    static const struct { enum mcs_cmd cmd; const char *name; } st[] = {
        { MCS_CMD_SET, "set" }, { MCS_CMD_ADD, "add" },
        { MCS_CMD_REPLACE, "replace" }, { MCS_CMD_APPEND, "append" },
        { MCS_CMD_PREPEND, "prepend" },
    };
    struct mcs_req_spec s;
    char want[64], desc[64];

    for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
        s = spec(st[i].cmd);
        s.ttl = 300;
        s.vlen = 100;
        snprintf(want, sizeof(want), "%s foo12 0 300 100\r\n", st[i].name);
        fmt_case(st[i].name, &s, want, "foo12");
        s.noreply = true;
        s.client_flags = 4294967295u;
        s.ttl = -1;
        s.vlen = 0;
        snprintf(want, sizeof(want), "%s foo12 4294967295 -1 0 noreply\r\n",
                 st[i].name);
        snprintf(desc, sizeof(desc), "%s noreply, max flags, ttl -1",
                 st[i].name);
        fmt_case(desc, &s, want, "foo12");
    }
    s = spec(MCS_CMD_CAS);
    s.client_flags = 5;
    s.vlen = 10;
    s.cas = 18446744073709551615u;
    fmt_case("cas", &s, "cas foo12 5 0 10 18446744073709551615\r\n", "foo12");
    s.noreply = true;
    fmt_case("cas noreply", &s,
             "cas foo12 5 0 10 18446744073709551615 noreply\r\n", "foo12");
}

static void test_format_classic(void)
{
    struct mcs_req_spec s;

    s = spec(MCS_CMD_GET);
    fmt_case("get", &s, "get foo12\r\n", "foo12");
    s.noreply = true;   /* get has no noreply: ignored */
    fmt_case("get ignores noreply", &s, "get foo12\r\n", "foo12");
    s = spec(MCS_CMD_GETS);
    s.prefix = "k";
    s.prefix_len = 1;
    s.num = -1;
    fmt_case("gets, no number suffix", &s, "gets k\r\n", "k");
    s = spec(MCS_CMD_GET);
    s.num = 0;
    fmt_case("get, num 0", &s, "get foo0\r\n", "foo0");
    s.prefix_len = 0;
    s.num = 5;
    fmt_case("get, number only", &s, "get 5\r\n", "5");
    s = spec(MCS_CMD_GAT);
    s.ttl = 300;
    fmt_case("gat", &s, "gat 300 foo12\r\n", "foo12");
    s = spec(MCS_CMD_GATS);
    s.ttl = -1;
    fmt_case("gats negative ttl", &s, "gats -1 foo12\r\n", "foo12");

    s = spec(MCS_CMD_DELETE);
    fmt_case("delete", &s, "delete foo12\r\n", "foo12");
    s.noreply = true;
    fmt_case("delete noreply", &s, "delete foo12 noreply\r\n", "foo12");
    s = spec(MCS_CMD_INCR);
    s.delta = 7;
    fmt_case("incr", &s, "incr foo12 7\r\n", "foo12");
    s = spec(MCS_CMD_DECR);
    s.delta = UINT64_MAX;
    s.noreply = true;
    fmt_case("decr noreply", &s, "decr foo12 18446744073709551615 noreply\r\n",
             "foo12");
    s = spec(MCS_CMD_TOUCH);
    s.ttl = 60;
    fmt_case("touch", &s, "touch foo12 60\r\n", "foo12");
    s.noreply = true;
    fmt_case("touch noreply", &s, "touch foo12 60 noreply\r\n", "foo12");
}

static void test_format_misc(void)
{
    struct mcs_req_spec s;

    s = spec(MCS_CMD_STATS);
    fmt_case("stats", &s, "stats\r\n", NULL);
    s.arg = "slabs";
    s.arg_len = 5;
    fmt_case("stats slabs", &s, "stats slabs\r\n", NULL);
    s = spec(MCS_CMD_VERSION);
    s.noreply = true;
    fmt_case("version", &s, "version\r\n", NULL);
    s = spec(MCS_CMD_FLUSH_ALL);
    fmt_case("flush_all", &s, "flush_all\r\n", NULL);
    s.arg = "10";
    s.arg_len = 2;
    fmt_case("flush_all 10", &s, "flush_all 10\r\n", NULL);
    s.noreply = true;
    fmt_case("flush_all 10 noreply", &s, "flush_all 10 noreply\r\n", NULL);
    s = spec(MCS_CMD_VERBOSITY);
    s.arg = "1";
    s.arg_len = 1;
    fmt_case("verbosity 1", &s, "verbosity 1\r\n", NULL);
    s.noreply = true;
    fmt_case("verbosity 1 noreply", &s, "verbosity 1 noreply\r\n", NULL);
}

static void test_format_meta(void)
{
    struct mcs_req_spec s;

    s = spec(MCS_CMD_MG);
    fmt_case("mg without flags", &s, "mg foo12\r\n", "foo12");
    s.mflags = "v t T90";
    s.mflags_len = 7;
    fmt_case("mg with flags", &s, "mg foo12 v t T90\r\n", "foo12");
    s = spec(MCS_CMD_MS);
    s.vlen = 100;
    fmt_case("ms without flags", &s, "ms foo12 100\r\n", "foo12");
    s.mflags = "T90 F5 q";
    s.mflags_len = 8;
    s.noreply = true;   /* meta has no noreply: ignored */
    fmt_case("ms with flags", &s, "ms foo12 100 T90 F5 q\r\n", "foo12");
    s = spec(MCS_CMD_MD);
    s.mflags = "q";
    s.mflags_len = 1;
    fmt_case("md", &s, "md foo12 q\r\n", "foo12");
    s = spec(MCS_CMD_MA);
    s.mflags = "N0 D5 v";
    s.mflags_len = 7;
    fmt_case("ma", &s, "ma foo12 N0 D5 v\r\n", "foo12");
    s = spec(MCS_CMD_MA);
    fmt_case("ma without flags", &s, "ma foo12\r\n", "foo12");
    s = spec(MCS_CMD_MN);
    fmt_case("mn", &s, "mn\r\n", NULL);
    s = spec(MCS_CMD_ME);
    fmt_case("me", &s, "me foo12\r\n", "foo12");
}


static void test_format_keys(void)
{
    char key[MCS_KEY_MAX + 2], want[MCS_KEY_MAX + 16], kz[MCS_KEY_MAX + 8];
    struct mcs_req_spec s = spec(MCS_CMD_GET);

    memset(key, 'k', sizeof(key));
    s.prefix = key;
    s.num = -1;
    s.prefix_len = MCS_KEY_MAX;
    snprintf(kz, sizeof(kz), "%.*s", MCS_KEY_MAX, key);
    snprintf(want, sizeof(want), "get %s\r\n", kz);
    fmt_case("250-byte key", &s, want, kz);
    s.prefix_len = MCS_KEY_MAX + 1;
    fmt_zero("a 251-byte key", &s);
    s.prefix_len = MCS_KEY_MAX - 3;
    s.num = 123;
    snprintf(kz, sizeof(kz), "%.*s123", MCS_KEY_MAX - 3, key);
    snprintf(want, sizeof(want), "get %s\r\n", kz);
    fmt_case("247-byte prefix + 3 digits = 250", &s, want, kz);
    s.prefix_len = MCS_KEY_MAX - 2;
    fmt_zero("248-byte prefix + 3 digits = 251", &s);
    s = spec(MCS_CMD_SET);
    s.prefix_len = MCS_KEY_MAX + 1;
    fmt_zero("a 251-byte key for set", &s);

    s = spec(MCS_CMD_GET);
    s.prefix_len = 0;
    s.num = -1;
    fmt_zero("an empty key", &s);
    s.prefix = "a b";
    s.prefix_len = 3;
    fmt_zero("a key with a space", &s);
    s.prefix = "a\r\nget b";
    s.prefix_len = 8;
    fmt_zero("a key with CRLF", &s);
    s.prefix = "a\x7f";
    s.prefix_len = 2;
    fmt_zero("a key with DEL", &s);
    s.prefix = "caf\xc3\xa9";
    s.prefix_len = 5;
    fmt_case("UTF-8 key", &s, "get caf\xc3\xa9\r\n", "caf\xc3\xa9");
}

static void test_format_refuse(void)
{
    char flags[MCS_REQ_LINE_MAX], want[MCS_REQ_LINE_MAX + 8];
    char buf[MCS_REQ_LINE_MAX + 64];
    struct mcs_req_spec s;

    s = spec(MCS_CMD_UNKNOWN);
    fmt_zero("MCS_CMD_UNKNOWN", &s);
    s = spec(MCS_CMD_MAX);
    fmt_zero("MCS_CMD_MAX", &s);
    s = spec(MCS_CMD_VERBOSITY);
    fmt_zero("verbosity without a level", &s);

    /* "mg foo12 " + flags + "\r\n" = exactly MCS_REQ_LINE_MAX */
    memset(flags, 'v', sizeof(flags));
    s = spec(MCS_CMD_MG);
    s.mflags = flags;
    s.mflags_len = MCS_REQ_LINE_MAX - 11;
    snprintf(want, sizeof(want), "mg foo12 %.*s\r\n", (int)s.mflags_len, flags);
    fmt_case("line of exactly MCS_REQ_LINE_MAX", &s, want, "foo12");
    s.mflags_len++;
    fmt_zero("a line over MCS_REQ_LINE_MAX even with room", &s);

    s = spec(MCS_CMD_GET);
    check(mcs_req_format(buf, sizeof(buf), &s, NULL) == 11,
          "format accepts a NULL key_hash");
}

/* For every cap below the line's length: 0, and nothing written past cap. */
static void cap_case(const char *desc, const struct mcs_req_spec *s)
{
    char buf[MCS_REQ_LINE_MAX + 16];
    uint64_t h;
    size_t full = mcs_req_format(buf, sizeof(buf), s, &h);
    bool good = full > 0;

    for (size_t cap = 0; cap < full && good; cap++) {
        memset(buf, 'Z', sizeof(buf));
        h = 7;
        if (mcs_req_format(buf, cap, s, &h) != 0 || h != 0) {
            diag("cap %zu accepted", cap);
            good = false;
        }
        for (size_t i = cap; i < sizeof(buf); i++)
            good &= buf[i] == 'Z';
    }
    good &= mcs_req_format(buf, full, s, &h) == full;
    check(good, "cap too small -> 0, no write past cap: %s", desc);
}

static void test_format_cap(void)
{
    struct mcs_req_spec s;

    s = spec(MCS_CMD_SET);
    s.ttl = -300;
    s.vlen = 100;
    s.noreply = true;
    cap_case("set noreply", &s);
    s = spec(MCS_CMD_CAS);
    s.cas = 123456789;
    cap_case("cas", &s);
    s = spec(MCS_CMD_GAT);
    s.ttl = 99;
    cap_case("gat", &s);
    s = spec(MCS_CMD_MS);
    s.vlen = 5;
    s.mflags = "T1 q";
    s.mflags_len = 4;
    cap_case("ms with flags", &s);
    s = spec(MCS_CMD_MN);
    cap_case("mn", &s);
    s = spec(MCS_CMD_FLUSH_ALL);
    s.arg = "3";
    s.arg_len = 1;
    cap_case("flush_all 3", &s);
}

static void test_tokenize(void)
{
    uint32_t off[4], tl[4];
    int n;

    n = mcs_tokenize("a bb", 4, off, tl, 4);
    check(n == 2 && off[0] == 0 && tl[0] == 1 && off[1] == 2 && tl[1] == 2,
          "tokenize: single spaces");
    n = mcs_tokenize("  a   bb  c ", 12, off, tl, 4);
    check(n == 3 && off[0] == 2 && tl[0] == 1 && off[1] == 6 && tl[1] == 2 &&
          off[2] == 10 && tl[2] == 1, "tokenize: runs of spaces, both ends");
    check(mcs_tokenize("", 0, off, tl, 4) == 0 &&
          mcs_tokenize("   ", 3, off, tl, 4) == 0, "tokenize: empty, blank");
    n = mcs_tokenize("a b c d e f", 11, off, tl, 2);
    check(n == 2 && off[1] == 2 && tl[1] == 1,
          "tokenize: stops at max tokens");
    n = mcs_tokenize("get foo\r\n", 7, off, tl, 4);
    check(n == 2 && tl[1] == 3, "tokenize: stops at len");
}

static void test_mflags_quiet(void)
{
    check(mcs_mflags_quiet("q", 1) && mcs_mflags_quiet("v q", 3) &&
          mcs_mflags_quiet("  k  q  ", 8) && mcs_mflags_quiet("v t q T90", 9),
          "mcs_mflags_quiet finds q");
    check(!mcs_mflags_quiet("", 0) && !mcs_mflags_quiet("v t T90", 7) &&
          !mcs_mflags_quiet("Oq kq", 5) && !mcs_mflags_quiet("v q", 2),
          "mcs_mflags_quiet: no q, q inside a token, q past len");
}

/* ---- key hash and values ------------------------------------------------ */

static void test_hash(void)
{
    char k[40], key[] = "avalanche:key:0123456";
    uint64_t hs[33], h0;
    size_t klen = strlen(key);
    int min = 64, sum = 0;
    bool distinct = true;

    memset(k, 'a', sizeof(k));
    for (size_t n = 0; n <= 32; n++) {
        hs[n] = mcs_key_hash(k, n);
        for (size_t j = 0; j < n; j++)
            distinct &= hs[j] != hs[n];
    }
    check(distinct && mcs_key_hash("a\0", 2) != mcs_key_hash("a", 1),
          "key hash: lengths 0..32 of the same byte all differ");
    check(mcs_key_hash("foo1", 4) == mcs_key_hash("foo1", 4) &&
          mcs_key_hash("foo1", 4) != mcs_key_hash("foo2", 4) &&
          mcs_key_hash("foo12", 5) != mcs_key_hash("foo21", 5),
          "key hash: deterministic, differs per key");

    h0 = mcs_key_hash(key, klen);
    for (size_t bit = 0; bit < klen * 8; bit++) {
        int d;
        key[bit / 8] ^= (char)(1 << (bit % 8));
        d = __builtin_popcountll(h0 ^ mcs_key_hash(key, klen));
        key[bit / 8] ^= (char)(1 << (bit % 8));
        sum += d;
        if (d < min)
            min = d;
    }
    if (!check(min >= 12 && sum >= 28 * (int)(klen * 8) &&
               sum <= 36 * (int)(klen * 8),
               "key hash: every input bit flips about half the output"))
        diag("min %d avg %.1f", min, (double)sum / (double)(klen * 8));
}

static bool value_case(uint32_t vlen, uint64_t h)
{
    char *b = malloc((size_t)vlen + 3);
    uint32_t pos[3] = { 0, vlen / 2, vlen - 1 };
    bool good;

    if (b == NULL)
        abort();
    memset(b, 0x5a, (size_t)vlen + 3);
    mcs_value_fill(b, vlen, h);
    good = b[vlen] == '\r' && b[vlen + 1] == '\n' && b[vlen + 2] == 0x5a &&
           mcs_value_check(b, vlen, h);
    if (vlen > 0) {
        good &= !mcs_value_check(b, vlen, h + 1);
        for (int i = 0; i < 3; i++) {
            b[pos[i]] ^= 0x10;
            good &= !mcs_value_check(b, vlen, h);
            b[pos[i]] ^= 0x10;
        }
        good &= mcs_value_check(b, vlen, h);
        /* the length is part of the check: a cut value does not pass */
        good &= !mcs_value_check(b, vlen - 1, h) || vlen == 1;
    }
    free(b);
    return good;
}

static void test_value(void)
{
    static const uint32_t lens[] = { 0, 1, 7, 8, 9, 15, 16, 17, 1000,
                                     1u << 20, (1u << 20) + 3 };
    uint64_t h = 0x0123456789abcdefULL;
    unsigned char b[11];

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        check(value_case(lens[i], h + i * 1000),
              "value fill/check round trip, CRLF, corruption caught: vlen %u",
              lens[i]);

    /* the documented layout: LE words s, s + 1, ... where the seed s is h
     * mixed with the length */
    uint64_t seed = h ^ (9ULL * 0x9e3779b97f4a7c15ULL);
    mcs_value_fill((char *)b, 9, h);
    check(b[0] == (unsigned char)seed && b[1] == (unsigned char)(seed >> 8) &&
          b[7] == (unsigned char)(seed >> 56) && b[8] == (unsigned char)(seed + 1) &&
          b[9] == '\r' && b[10] == '\n',
          "value layout: little-endian words of seed + i, tail from next word");
    check(value_case(5, UINT64_MAX), "value words wrap around 2^64");
}

/* ---- raw request scanner ------------------------------------------------ */

struct scan_case {
    const char *in;
    enum mcs_cmd cmd;
    bool quiet, noreply;
    uint32_t nkeys;
    size_t len;         /* 0: all of in */
};

static const struct scan_case scan_cases[] = {
    { "get foo\r\n", MCS_CMD_GET, false, false, 1, 0 },
    { "get a b  c\r\n", MCS_CMD_GET, false, false, 3, 0 },
    { "gets a b\r\n", MCS_CMD_GETS, false, false, 2, 0 },
    { "get noreply\r\n", MCS_CMD_GET, false, false, 1, 0 },
    { "gat 10 a b\r\n", MCS_CMD_GAT, false, false, 2, 0 },
    { "gats 10 a\r\n", MCS_CMD_GATS, false, false, 1, 0 },
    { "get a\n", MCS_CMD_GET, false, false, 1, 0 },
    { "set foo 0 0 3\r\nbar\r\n", MCS_CMD_SET, false, false, 0, 0 },
    { "set foo 0 0 3 noreply\r\nbar\r\n", MCS_CMD_SET, false, true, 0, 0 },
    { "add foo 0 0 6\r\n\r\n\r\n\r\n\r\n", MCS_CMD_ADD, false, false, 0, 0 },
    { "replace foo 1 2 0\r\n\r\n", MCS_CMD_REPLACE, false, false, 0, 0 },
    { "append foo 0 0 1 noreply\r\nx\r\n", MCS_CMD_APPEND, false, true, 0, 0 },
    { "prepend foo 0 0 1\r\nx\r\n", MCS_CMD_PREPEND, false, false, 0, 0 },
    { "cas foo 0 0 3 99 noreply\r\nbar\r\n", MCS_CMD_CAS, false, true, 0, 0 },
    { "cas foo 0 0 3 99\r\nbar\r\n", MCS_CMD_CAS, false, false, 0, 0 },
    { "set foo 0 0 abc\r\n", MCS_CMD_SET, false, false, 0, 0 },
    { "set foo 0 0\r\n", MCS_CMD_SET, false, false, 0, 0 },
    { "delete foo\r\n", MCS_CMD_DELETE, false, false, 0, 0 },
    { "delete foo noreply\r\n", MCS_CMD_DELETE, false, true, 0, 0 },
    { "delete noreply\r\n", MCS_CMD_DELETE, false, false, 0, 0 },
    { "incr foo 5 noreply\r\n", MCS_CMD_INCR, false, true, 0, 0 },
    { "decr foo 5\r\n", MCS_CMD_DECR, false, false, 0, 0 },
    { "touch foo 10 noreply\r\n", MCS_CMD_TOUCH, false, true, 0, 0 },
    { "stats\r\n", MCS_CMD_STATS, false, false, 0, 0 },
    { "stats items\r\n", MCS_CMD_STATS, false, false, 0, 0 },
    { "version\r\n", MCS_CMD_VERSION, false, false, 0, 0 },
    { "flush_all noreply\r\n", MCS_CMD_FLUSH_ALL, false, true, 0, 0 },
    { "flush_all 10\r\n", MCS_CMD_FLUSH_ALL, false, false, 0, 0 },
    { "verbosity 1 noreply\r\n", MCS_CMD_VERBOSITY, false, true, 0, 0 },
    { "mg foo v q\r\n", MCS_CMD_MG, true, false, 0, 0 },
    { "mg foo v\r\n", MCS_CMD_MG, false, false, 0, 0 },
    { "mg q\r\n", MCS_CMD_MG, false, false, 0, 0 },
    { "mg foo Oq kq\r\n", MCS_CMD_MG, false, false, 0, 0 },
    { "ms foo 3 T90 q\r\nbar\r\n", MCS_CMD_MS, true, false, 0, 0 },
    { "ms foo 2\r\n\r\n\r\n", MCS_CMD_MS, false, false, 0, 0 },
    { "ms q 1 T1\r\nx\r\n", MCS_CMD_MS, false, false, 0, 0 },
    { "md foo q\r\n", MCS_CMD_MD, true, false, 0, 0 },
    { "ma foo N0 q D1\r\n", MCS_CMD_MA, true, false, 0, 0 },
    { "mn\r\n", MCS_CMD_MN, false, false, 0, 0 },
    { "me foo\r\n", MCS_CMD_ME, false, false, 0, 0 },
    { "bogus thing\r\n", MCS_CMD_UNKNOWN, false, false, 0, 0 },
    { "GET foo\r\n", MCS_CMD_UNKNOWN, false, false, 0, 0 },
    { "\r\n", MCS_CMD_UNKNOWN, false, false, 0, 0 },
    { "set a 0 0 1\r\nx\r\nget a\r\n", MCS_CMD_SET, false, false, 0, 16 },
};

static void test_scan_cases(void)
{
    for (size_t i = 0; i < sizeof(scan_cases) / sizeof(scan_cases[0]); i++) {
        const struct scan_case *c = &scan_cases[i];
        size_t n = strlen(c->in), want = c->len ? c->len : n;
        char *b = exact_copy(c->in, n);
        struct mcs_req_info info;
        bool good = mcs_req_scan(b, n, &info) == MCS_SCAN_OK &&
                    info.cmd == c->cmd && info.quiet == c->quiet &&
                    info.noreply == c->noreply && info.nkeys == c->nkeys &&
                    info.len == want;
        free(b);
        /* every prefix of the command itself is incomplete */
        for (size_t k = 0; k < want && good; k++) {
            b = exact_copy(c->in, k);
            good &= mcs_req_scan(b, k, &info) == MCS_SCAN_INCOMPLETE;
            free(b);
        }
        if (!check(good, "scan \"%s\"", show(c->in, n)))
            diag("got cmd %s quiet %d noreply %d nkeys %u len %zu",
                 mcs_cmd_name(info.cmd), info.quiet, info.noreply,
                 info.nkeys, info.len);
    }
}

static void test_scan_stream(void)
{
    static const char in[] =
        "set a 0 0 1\r\nx\r\nget a b\r\nmg c v q\r\nmn\r\n"
        "delete a noreply\r\nms b 4 q\r\n\r\n\r\n\r\nnope\r\nversion\r\n";
    static const enum mcs_cmd want[] = {
        MCS_CMD_SET, MCS_CMD_GET, MCS_CMD_MG, MCS_CMD_MN, MCS_CMD_DELETE,
        MCS_CMD_MS, MCS_CMD_UNKNOWN, MCS_CMD_VERSION,
    };
    size_t pos = 0, len = sizeof(in) - 1, n = 0;
    struct mcs_req_info info;
    bool good = true;

    while (pos < len && good) {
        good = mcs_req_scan(in + pos, len - pos, &info) == MCS_SCAN_OK &&
               n < sizeof(want) / sizeof(want[0]) && info.cmd == want[n];
        good &= info.len > 0 && info.len <= len - pos;
        pos += info.len;
        n++;
    }
    check(good && pos == len && n == sizeof(want) / sizeof(want[0]),
          "scan a concatenation of eight commands");
}

/* ---- response parser: one response of each kind ------------------------- */

struct bytes {
    const char *s;
    size_t n;
};
#define B(str) { str, sizeof(str) - 1 }

struct res_case {
    struct bytes in;
    enum mcs_res_type type;
    const char *key, *name, *text, *mflags;   /* NULL: must be empty */
    struct bytes value;                        /* s NULL: no value */
    uint64_t number, cas;
    uint32_t flags;
};

static const struct res_case res_cases[] = {
    { B("VALUE foo 5 3 99\r\nbar\r\n"), MCS_RES_VALUE, "foo", NULL, NULL, NULL,
      B("bar"), 0, 99, 5 },
    { B("VALUE foo 0 0\r\n\r\n"), MCS_RES_VALUE, "foo", NULL, NULL, NULL,
      B(""), 0, 0, 0 },
    { B("VALUE  k  4294967295  2  18446744073709551615\r\n\r\n\r\n"),
      MCS_RES_VALUE, "k", NULL, NULL, NULL, B("\r\n"), 0, UINT64_MAX,
      4294967295u },
    { B("VALUE bin 1 4\r\n\0\r\n\0\r\n"), MCS_RES_VALUE, "bin", NULL, NULL,
      NULL, B("\0\r\n\0"), 0, 0, 1 },
    { B("END\r\n"), MCS_RES_END, NULL, NULL, NULL, NULL, { NULL, 0 }, 0, 0, 0 },
    { B("STORED\r\n"), MCS_RES_STORED, NULL, NULL, NULL, NULL, { NULL, 0 },
      0, 0, 0 },
    { B("NOT_STORED\r\n"), MCS_RES_NOT_STORED, NULL, NULL, NULL, NULL,
      { NULL, 0 }, 0, 0, 0 },
    { B("EXISTS\r\n"), MCS_RES_EXISTS, NULL, NULL, NULL, NULL, { NULL, 0 },
      0, 0, 0 },
    { B("NOT_FOUND\r\n"), MCS_RES_NOT_FOUND, NULL, NULL, NULL, NULL,
      { NULL, 0 }, 0, 0, 0 },
    { B("DELETED\r\n"), MCS_RES_DELETED, NULL, NULL, NULL, NULL, { NULL, 0 },
      0, 0, 0 },
    { B("TOUCHED\r\n"), MCS_RES_TOUCHED, NULL, NULL, NULL, NULL, { NULL, 0 },
      0, 0, 0 },
    { B("OK\r\n"), MCS_RES_OK, NULL, NULL, NULL, NULL, { NULL, 0 }, 0, 0, 0 },
    { B("RESET\r\n"), MCS_RES_OK, NULL, NULL, NULL, NULL, { NULL, 0 },
      0, 0, 0 },
    { B("MN\r\n"), MCS_RES_MN, NULL, NULL, NULL, NULL, { NULL, 0 }, 0, 0, 0 },
    { B("12345\r\n"), MCS_RES_NUMERIC, NULL, NULL, NULL, NULL, { NULL, 0 },
      12345, 0, 0 },
    { B("0\r\n"), MCS_RES_NUMERIC, NULL, NULL, NULL, NULL, { NULL, 0 },
      0, 0, 0 },
    { B("18446744073709551615\r\n"), MCS_RES_NUMERIC, NULL, NULL, NULL, NULL,
      { NULL, 0 }, UINT64_MAX, 0, 0 },
    { B("STAT pid 123\r\n"), MCS_RES_STAT, NULL, "pid", "123", NULL,
      { NULL, 0 }, 0, 0, 0 },
    { B("STAT version 1.6.21 x\r\n"), MCS_RES_STAT, NULL, "version",
      "1.6.21 x", NULL, { NULL, 0 }, 0, 0, 0 },
    { B("STAT empty\r\n"), MCS_RES_STAT, NULL, "empty", NULL, NULL,
      { NULL, 0 }, 0, 0, 0 },
    { B("VERSION 1.6.21\r\n"), MCS_RES_VERSION, NULL, NULL, "1.6.21", NULL,
      { NULL, 0 }, 0, 0, 0 },
    { B("ERROR\r\n"), MCS_RES_ERROR, NULL, NULL, NULL, NULL, { NULL, 0 },
      0, 0, 0 },
    { B("ERROR unknown command\r\n"), MCS_RES_ERROR, NULL, NULL,
      "unknown command", NULL, { NULL, 0 }, 0, 0, 0 },
    { B("CLIENT_ERROR bad data chunk\r\n"), MCS_RES_CLIENT_ERROR, NULL, NULL,
      "bad data chunk", NULL, { NULL, 0 }, 0, 0, 0 },
    { B("SERVER_ERROR out of memory storing object\r\n"),
      MCS_RES_SERVER_ERROR, NULL, NULL, "out of memory storing object", NULL,
      { NULL, 0 }, 0, 0, 0 },
    { B("HD\r\n"), MCS_RES_HD, NULL, NULL, NULL, NULL, { NULL, 0 }, 0, 0, 0 },
    { B("HD c123 t-1\r\n"), MCS_RES_HD, NULL, NULL, NULL, "c123 t-1",
      { NULL, 0 }, 0, 0, 0 },
    { B("VA 3 s3 f5\r\nbar\r\n"), MCS_RES_VA, NULL, NULL, NULL, "s3 f5",
      B("bar"), 0, 0, 0 },
    { B("VA 4\r\na\r\nb\r\n"), MCS_RES_VA, NULL, NULL, NULL, NULL,
      B("a\r\nb"), 0, 0, 0 },
    { B("VA 0 t-1\r\n\r\n"), MCS_RES_VA, NULL, NULL, NULL, "t-1", B(""),
      0, 0, 0 },
    { B("EN\r\n"), MCS_RES_EN, NULL, NULL, NULL, NULL, { NULL, 0 }, 0, 0, 0 },
    { B("NF Oab k\r\n"), MCS_RES_NF, NULL, NULL, NULL, "Oab k", { NULL, 0 },
      0, 0, 0 },
    { B("NS\r\n"), MCS_RES_NS, NULL, NULL, NULL, NULL, { NULL, 0 }, 0, 0, 0 },
    { B("EX c5\r\n"), MCS_RES_EX, NULL, NULL, NULL, "c5", { NULL, 0 },
      0, 0, 0 },
    { B("ME foo exp=-1 la=3 cas=2\r\n"), MCS_RES_ME, "foo", NULL,
      "exp=-1 la=3 cas=2", NULL, { NULL, 0 }, 0, 0, 0 },
};

static bool field_is(const char *buf, uint32_t off, uint32_t len,
                     const char *want)
{
    if (want == NULL)
        return len == 0;
    return len == strlen(want) && memcmp(buf + off, want, len) == 0;
}

static bool res_case_ok(const struct res_case *c, const char *b,
                        const struct mcs_res *r)
{
    size_t line = (size_t)((const char *)memchr(b, '\n', c->in.n) - b) - 1;
    bool good = r->type == c->type && r->consumed == c->in.n &&
                r->line_len == line && r->number == c->number &&
                r->cas == c->cas && r->client_flags == c->flags &&
                field_is(b, r->key_off, r->key_len, c->key) &&
                field_is(b, r->name_off, r->name_len, c->name) &&
                field_is(b, r->stat_off, r->stat_len, c->text) &&
                field_is(b, r->mflags_off, r->mflags_len, c->mflags);

    if (c->value.s == NULL)
        return good && r->vlen == -1;
    return good && r->vlen == (int64_t)c->value.n &&
           r->value_off == line + 2 &&
           memcmp(b + r->value_off, c->value.s, c->value.n) == 0;
}

static void test_res_cases(void)
{
    for (size_t i = 0; i < sizeof(res_cases) / sizeof(res_cases[0]); i++) {
        const struct res_case *c = &res_cases[i];
        char *b = exact_copy(c->in.s, c->in.n);
        struct mcs_res r;
        enum mcs_parse_status st = mcs_res_parse(b, c->in.n, &r);
        bool good = st == MCS_PARSE_OK && res_case_ok(c, b, &r);

        for (size_t k = 0; k < c->in.n && good; k++) {
            char *p = exact_copy(c->in.s, k);
            good &= mcs_res_parse(p, k, &r) == MCS_PARSE_WANT;
            free(p);
        }
        if (!check(good, "parse %s \"%s\"", mcs_res_type_name(c->type),
                   show(c->in.s, c->in.n)))
            diag("status %d type %s consumed %u vlen %" PRId64, st,
                 mcs_res_type_name(r.type), r.consumed, r.vlen);
        free(b);
    }
}

/* ---- response parser: streams split at every byte ----------------------- */

static bool res_eq(const struct mcs_res *a, const struct mcs_res *b)
{
    return a->type == b->type && a->line_len == b->line_len &&
           a->consumed == b->consumed && a->vlen == b->vlen &&
           a->value_off == b->value_off && a->key_off == b->key_off &&
           a->key_len == b->key_len && a->client_flags == b->client_flags &&
           a->cas == b->cas && a->number == b->number &&
           a->name_off == b->name_off && a->name_len == b->name_len &&
           a->stat_off == b->stat_off && a->stat_len == b->stat_len &&
           a->mflags_off == b->mflags_off && a->mflags_len == b->mflags_len;
}

#define MAX_STREAM_RES 32

struct stream_case {
    struct bytes in;
    enum mcs_res_type types[MAX_STREAM_RES];   /* ends at MCS_RES_NONE */
};

static const struct stream_case streams[] = {
    { B("VALUE foo 5 3 99\r\nbar\r\nEND\r\n"), { MCS_RES_VALUE, MCS_RES_END } },
    { B("VA 6 f1 t-1\r\na\r\nb\r\n\r\nHD\r\nEN\r\n"),
      { MCS_RES_VA, MCS_RES_HD, MCS_RES_EN } },
    { B("STAT pid 123\r\nSTAT version 1.6.21\r\n"
        "STAT rusage_user 0.1 extra\r\nEND\r\n"),
      { MCS_RES_STAT, MCS_RES_STAT, MCS_RES_STAT, MCS_RES_END } },
    { B("HD c123 t-1 Oabc\r\nNF Oabc\r\nNS q\r\nEX c5\r\nMN\r\n"),
      { MCS_RES_HD, MCS_RES_NF, MCS_RES_NS, MCS_RES_EX, MCS_RES_MN } },
    { B("STORED\r\nNOT_STORED\r\nEXISTS\r\nNOT_FOUND\r\nDELETED\r\n"
        "TOUCHED\r\n42\r\nOK\r\nVERSION 1.6.21\r\nERROR\r\n"
        "ERROR unknown command\r\nCLIENT_ERROR bad data chunk\r\n"
        "SERVER_ERROR out of memory\r\n"),
      { MCS_RES_STORED, MCS_RES_NOT_STORED, MCS_RES_EXISTS, MCS_RES_NOT_FOUND,
        MCS_RES_DELETED, MCS_RES_TOUCHED, MCS_RES_NUMERIC, MCS_RES_OK,
        MCS_RES_VERSION, MCS_RES_ERROR, MCS_RES_ERROR, MCS_RES_CLIENT_ERROR,
        MCS_RES_SERVER_ERROR } },
    { B("VALUE a 0 0\r\n\r\nVALUE bb 4294967295 2 18446744073709551615\r\n"
        "xy\r\nEND\r\n"), { MCS_RES_VALUE, MCS_RES_VALUE, MCS_RES_END } },
    { B("ME foo exp=-1 la=3 cas=2 fetch=no cls=1 size=63\r\nEN\r\n"),
      { MCS_RES_ME, MCS_RES_EN } },
    { B("VA 0\r\n\r\nVA 2 s2\r\n\r\n\r\nVA 5 b\r\n\0\r\n\r\0\r\nMN\r\n"),
      { MCS_RES_VA, MCS_RES_VA, MCS_RES_VA, MCS_RES_MN } },
    { B("12\r\n0\r\nDELETED\r\nTOUCHED\r\nRESET\r\nVALUE k 1 5\r\n"
        "VALUE\r\nEND\r\n"),
      { MCS_RES_NUMERIC, MCS_RES_NUMERIC, MCS_RES_DELETED, MCS_RES_TOUCHED,
        MCS_RES_OK, MCS_RES_VALUE, MCS_RES_END } },
};

/* Parses responses from *pos while they are complete in buf[0..len);
 * each must match ref[*n]. Returns false on a mismatch or an error. */
static bool drain(const char *buf, size_t len, size_t *pos, int *n,
                  const struct mcs_res *ref, int nref)
{
    struct mcs_res r;

    while (*pos < len) {
        enum mcs_parse_status st = mcs_res_parse(buf + *pos, len - *pos, &r);
        if (st == MCS_PARSE_WANT)
            return true;
        if (st != MCS_PARSE_OK || *n >= nref || !res_eq(&r, &ref[*n]) ||
            r.consumed == 0 || r.consumed > len - *pos)
            return false;
        *pos += r.consumed;
        (*n)++;
    }
    return true;
}

static void stream_case(const struct stream_case *c)
{
    struct mcs_res ref[MAX_STREAM_RES];
    char *full = exact_copy(c->in.s, c->in.n);
    size_t pos = 0;
    int nref = 0;
    bool good = true;

    /* the reference: the whole stream at once */
    while (good && pos < c->in.n && nref < MAX_STREAM_RES) {
        good = mcs_res_parse(full + pos, c->in.n - pos, &ref[nref]) ==
               MCS_PARSE_OK && ref[nref].type == c->types[nref];
        pos += ref[nref++].consumed;
    }
    good &= pos == c->in.n && (nref == MAX_STREAM_RES ||
                               c->types[nref] == MCS_RES_NONE);

    /* first k bytes, then the rest: the same responses, in order */
    for (size_t k = 0; k <= c->in.n && good; k++) {
        char *part = exact_copy(c->in.s, k);
        int n = 0;
        pos = 0;
        good = drain(part, k, &pos, &n, ref, nref) &&
               drain(full, c->in.n, &pos, &n, ref, nref) &&
               pos == c->in.n && n == nref;
        if (!good)
            diag("split at %zu: stuck at %zu after %d responses", k, pos, n);
        free(part);
    }
    check(good, "every split point of \"%s\"", show(c->in.s, c->in.n));
    free(full);
}

static void test_streams(void)
{
    for (size_t i = 0; i < sizeof(streams) / sizeof(streams[0]); i++)
        stream_case(&streams[i]);
}

/* ---- response parser: malformed input ----------------------------------- */

static const struct bytes malformed[] = {
    B("FOO\r\n"), B("value foo 0 1\r\nx\r\n"), B("VALUE foo x 3\r\nbar\r\n"),
    B("VALUE foo 0 3x\r\nbar\r\n"), B("VALUE foo 0 -1\r\n\r\n"),
    B("VALUE foo 0 +1\r\nx\r\n"), B("VALUE foo 4294967296 1\r\nx\r\n"),
    B("VALUE foo 0 99999999999999999999999\r\n"),
    B("VALUE foo 0 18446744073709551616\r\n"),
    B("VALUE foo 0 1 18446744073709551616\r\nx\r\n"),
    B("VALUE foo 0 1 12z\r\nx\r\n"),
    B("VALUE foo 0 3\r\nbarXY"), B("VALUE foo 0 3\r\nbar\n\r"),
    B("VALUE foo 0 3\r\nbar\nX"), B("VALUE foo 0 3\r\nbar\rX"),
    B("VALUE foo 0\r\n"), B("VALUE foo\r\n"), B("VALUE\r\n"),
    B("VALUE foo 0 3 1 2\r\nbar\r\n"), B("VALUE foo 0 4294967295\r\n"),
    B("VA 3\r\nbarAB"), B("VA 3 t\r\nbar\n\n"), B("VA x\r\n"), B("VA\r\n"),
    B("VA -1\r\n"), B("VA 3x\r\nbar\r\n"),
    B("18446744073709551616\r\n"), B("12a\r\n"), B("-1\r\n"), B("1 2\r\n"),
    B("END\n"), B("\n"), B("\r\n"), B(" END\r\n"), B("END extra\r\n"),
    B("STORED \r\n"), B("MN x\r\n"), B("OK\r\r\n"), B("STAT\r\n"),
    B("STAT \r\n"), B("ME\r\n"), B("HDX\r\n"), B("\0\r\n"), B("END\0\r\n"),
};

static void test_malformed(void)
{
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        const struct bytes *m = &malformed[i];
        char *b = exact_copy(m->s, m->n);
        struct mcs_res r;
        enum mcs_parse_status st = mcs_res_parse(b, m->n, &r);
        const char *nl = memchr(m->s, '\n', m->n);
        size_t line_end = nl ? (size_t)(nl - m->s) : m->n;
        bool good = st == MCS_PARSE_ERROR, bad = false;

        /* WANT until the first line is in; then WANT or, for good, ERROR */
        for (size_t k = 0; k < m->n && good; k++) {
            char *p = exact_copy(m->s, k);
            st = mcs_res_parse(p, k, &r);
            good &= st == MCS_PARSE_WANT ||
                    (st == MCS_PARSE_ERROR && k > line_end);
            good &= !(bad && st != MCS_PARSE_ERROR);
            bad = st == MCS_PARSE_ERROR;
            free(p);
        }
        if (!check(good, "malformed -> ERROR, never OK on a prefix: \"%s\"",
                   show(m->s, m->n)))
            diag("status %d", st);
        free(b);
    }
}

/* Line length limit, and value sizes beyond what the buffer holds. */
static void test_limits(void)
{
    size_t win = MCS_RES_LINE_MAX + 2;
    char *b = malloc(win + 2);
    struct mcs_res r;
    enum mcs_parse_status st;

    if (b == NULL)
        abort();
    memset(b, 'A', win + 2);
    check(mcs_res_parse(b, win - 1, &r) == MCS_PARSE_WANT &&
          mcs_res_parse(b, win, &r) == MCS_PARSE_ERROR,
          "no newline in MCS_RES_LINE_MAX + 2 bytes -> ERROR, before: WANT");

    memcpy(b, "ERROR ", 6);
    memcpy(b + MCS_RES_LINE_MAX, "\r\n", 2);
    st = mcs_res_parse(b, win, &r);
    check(st == MCS_PARSE_OK && r.line_len == MCS_RES_LINE_MAX &&
          r.stat_len == MCS_RES_LINE_MAX - 6 && r.consumed == win,
          "a line of exactly MCS_RES_LINE_MAX is accepted");
    b[MCS_RES_LINE_MAX] = 'A';
    memcpy(b + MCS_RES_LINE_MAX + 1, "\r\n", 2);
    check(mcs_res_parse(b, win + 1, &r) == MCS_PARSE_ERROR,
          "a line of MCS_RES_LINE_MAX + 1 -> ERROR");
    free(b);

    st = mcs_res_parse("VALUE k 0 1073741824\r\nxx", 24, &r);
    check(st == MCS_PARSE_WANT && r.type == MCS_RES_VALUE &&
          r.vlen == 1073741824 && r.value_off == 22 && r.consumed == 0,
          "1 GiB VALUE: WANT, with vlen and value_off to size the buffer");
    st = mcs_res_parse("VA 3221225472 t\r\n", 17, &r);
    check(st == MCS_PARSE_WANT && r.vlen == 3221225472 && r.mflags_len == 1,
          "3 GiB VA: WANT");
}

/* A real multi-megabyte value through the parser, and the fill pattern. */
static void test_big_value(void)
{
    uint32_t vlen = 16u << 20;
    char line[64];
    int ll = snprintf(line, sizeof(line), "VA %u s%u\r\n", vlen, vlen);
    size_t total = (size_t)ll + vlen + 2;
    char *b = malloc(total);
    struct mcs_res r;
    bool good;

    if (b == NULL)
        abort();
    memcpy(b, line, (size_t)ll);
    mcs_value_fill(b + ll, vlen, 42);
    good = mcs_res_parse(b, total - 1, &r) == MCS_PARSE_WANT &&
           mcs_res_parse(b, total, &r) == MCS_PARSE_OK &&
           r.consumed == total && r.vlen == vlen &&
           mcs_value_check(b + r.value_off, vlen, 42);
    check(good, "16 MiB VA parses once complete and its value checks");
    free(b);
}

/* ---- garbage ------------------------------------------------------------ */

static uint64_t rng_state = 0x9d2c5680a1b2c3d4ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Mostly protocol fragments, so the parser gets past the first token. */
static size_t garbage(char *buf, size_t cap)
{
    static const char *const frag[] = {
        "VALUE ", "VA ", "HD", "EN", "ME ", "STAT ", "END", "OK", "ERROR",
        "CLIENT_ERROR ", "VERSION ", "STORED", "MN", "NF", " ", "  ", "\r\n",
        "\r", "\n", "0", "1", "3", "12", "4294967296", "18446744073709551616",
        "foo", "q", "-", "get ", "set ", "ms ", "mg ", "noreply", "cas ",
        "VALUE k 1 3\r\nabc\r\n", "VA 2 t\r\n\r\n\r\n", "HD\r\n",
        "END\r\n", "STAT a b\r\n", "set k 0 0 1\r\nx\r\n",
    };
    size_t n = 0, want = rng() % cap;

    while (n < want) {
        uint64_t x = rng();
        if (x % 8 == 0) {
            buf[n++] = (char)(x >> 8);
        } else {
            const char *f = frag[(x >> 8) % (sizeof(frag) / sizeof(frag[0]))];
            size_t fl = strlen(f);
            if (fl > want - n)
                fl = want - n;
            memcpy(buf + n, f, fl);
            n += fl;
        }
    }
    return n;
}

/* An OK response parses the same from exactly its bytes, and every shorter
 * prefix of it is WANT. */
static bool garbage_res(const char *b, size_t len, size_t *oks)
{
    size_t pos = 0;
    struct mcs_res r, r2;

    while (pos < len) {
        if (mcs_res_parse(b + pos, len - pos, &r) != MCS_PARSE_OK)
            return true;
        if (r.consumed == 0 || r.consumed > len - pos)
            return false;
        if (mcs_res_parse(b + pos, r.consumed, &r2) != MCS_PARSE_OK ||
            !res_eq(&r, &r2))
            return false;
        for (size_t k = 0; k < r.consumed; k++)
            if (mcs_res_parse(b + pos, k, &r2) != MCS_PARSE_WANT)
                return false;
        pos += r.consumed;
        (*oks)++;
    }
    return true;
}

static bool garbage_req(const char *b, size_t len)
{
    size_t pos = 0;
    struct mcs_req_info info;

    while (pos < len &&
           mcs_req_scan(b + pos, len - pos, &info) == MCS_SCAN_OK) {
        if (info.len == 0 || info.len > len - pos)
            return false;
        pos += info.len;
    }
    return true;
}

static void test_garbage(void)
{
    enum { ROUNDS = 100000, MAXLEN = 96 };
    char tmp[MAXLEN];
    size_t oks = 0;
    bool res_good = true, req_good = true;

    for (int i = 0; i < ROUNDS; i++) {
        size_t n = garbage(tmp, MAXLEN);
        char *b = exact_copy(tmp, n);
        res_good &= garbage_res(b, n, &oks);
        req_good &= garbage_req(b, n);
        free(b);
    }
    check(res_good && oks > 1000,
          "%d garbage buffers: parser consumed <= len, prefixes WANT (%zu OK)",
          ROUNDS, oks);
    check(req_good, "%d garbage buffers: scanner len <= buffer", ROUNDS);
}

int main(void)
{
    int failed = 0;

    test_names();
    test_fmt();
    test_format_storage();
    test_format_classic();
    test_format_misc();
    test_format_meta();
    test_format_keys();
    test_format_refuse();
    test_format_cap();
    test_template_limits();
    test_tokenize();
    test_mflags_quiet();
    test_hash();
    test_value();
    test_scan_cases();
    test_scan_stream();
    test_res_cases();
    test_streams();
    test_malformed();
    test_limits();
    test_big_value();
    test_garbage();

    printf("1..%d\n", nresults);
    for (int i = 0; i < nresults; i++) {
        printf("%sok %d - %s\n", results[i].ok ? "" : "not ", i + 1,
               results[i].desc);
        failed += !results[i].ok;
    }
    return failed ? 1 : 0;
}
