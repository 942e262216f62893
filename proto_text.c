/* proto_text.c: memcached text and meta protocol, pure code.
 * Builds request lines, classifies raw requests a script wrote and parses
 * responses as they stream in. No I/O, no allocation, no mutable state. */
#include <string.h>

#include "proto_text.h"

/* ---- names -------------------------------------------------------------- */

struct name {
    const char *s;
    uint8_t len;
};
#define NAME(str) { str, sizeof(str) - 1 }

static const struct name cmd_names[MCS_CMD_MAX] = {
    [MCS_CMD_GET] = NAME("get"),         [MCS_CMD_GETS] = NAME("gets"),
    [MCS_CMD_GAT] = NAME("gat"),         [MCS_CMD_GATS] = NAME("gats"),
    [MCS_CMD_SET] = NAME("set"),         [MCS_CMD_ADD] = NAME("add"),
    [MCS_CMD_REPLACE] = NAME("replace"), [MCS_CMD_APPEND] = NAME("append"),
    [MCS_CMD_PREPEND] = NAME("prepend"), [MCS_CMD_CAS] = NAME("cas"),
    [MCS_CMD_DELETE] = NAME("delete"),   [MCS_CMD_INCR] = NAME("incr"),
    [MCS_CMD_DECR] = NAME("decr"),       [MCS_CMD_TOUCH] = NAME("touch"),
    [MCS_CMD_STATS] = NAME("stats"),     [MCS_CMD_VERSION] = NAME("version"),
    [MCS_CMD_FLUSH_ALL] = NAME("flush_all"),
    [MCS_CMD_VERBOSITY] = NAME("verbosity"),
    [MCS_CMD_MG] = NAME("mg"), [MCS_CMD_MS] = NAME("ms"),
    [MCS_CMD_MD] = NAME("md"), [MCS_CMD_MA] = NAME("ma"),
    [MCS_CMD_MN] = NAME("mn"), [MCS_CMD_ME] = NAME("me"),
    [MCS_CMD_UNKNOWN] = NAME("unknown"),
};

const char *mcs_cmd_name(enum mcs_cmd cmd)
{
    if ((unsigned)cmd >= MCS_CMD_MAX)
        return "unknown";
    return cmd_names[cmd].s;
}

enum mcs_cmd mcs_cmd_lookup(const char *name, size_t len)
{
    for (int i = 0; i < MCS_CMD_UNKNOWN; i++) {
        if (cmd_names[i].len == len && cmd_names[i].s[0] == name[0] &&
            memcmp(cmd_names[i].s, name, len) == 0)
            return (enum mcs_cmd)i;
    }
    return MCS_CMD_UNKNOWN;
}

/* How the rest of a response line after its code is read. */
enum res_shape {
    SHAPE_NONE,     /* not a wire code (NONE, NUMERIC) */
    SHAPE_BARE,     /* nothing may follow the code */
    SHAPE_TEXT,     /* free text -> stat_off/len */
    SHAPE_META,     /* meta flags -> mflags_off/len */
    SHAPE_VALUE,    /* VALUE key flags bytes [cas] + block */
    SHAPE_VA,       /* VA size [flags] + block */
    SHAPE_STAT,     /* STAT name value */
    SHAPE_ME,       /* ME key text */
};

struct res_code {
    const char *s;
    uint8_t len;
    uint8_t shape;
};
#define CODE(str, shape) { str, sizeof(str) - 1, shape }

static const struct res_code res_codes[MCS_RES_TYPE_MAX] = {
    [MCS_RES_NONE] = CODE("NONE", SHAPE_NONE),
    [MCS_RES_VALUE] = CODE("VALUE", SHAPE_VALUE),
    [MCS_RES_END] = CODE("END", SHAPE_BARE),
    [MCS_RES_STORED] = CODE("STORED", SHAPE_BARE),
    [MCS_RES_NOT_STORED] = CODE("NOT_STORED", SHAPE_BARE),
    [MCS_RES_EXISTS] = CODE("EXISTS", SHAPE_BARE),
    [MCS_RES_NOT_FOUND] = CODE("NOT_FOUND", SHAPE_BARE),
    [MCS_RES_DELETED] = CODE("DELETED", SHAPE_BARE),
    [MCS_RES_TOUCHED] = CODE("TOUCHED", SHAPE_BARE),
    [MCS_RES_NUMERIC] = CODE("NUMERIC", SHAPE_NONE),
    [MCS_RES_STAT] = CODE("STAT", SHAPE_STAT),
    [MCS_RES_VERSION] = CODE("VERSION", SHAPE_TEXT),
    [MCS_RES_OK] = CODE("OK", SHAPE_BARE),
    [MCS_RES_ERROR] = CODE("ERROR", SHAPE_TEXT),
    [MCS_RES_CLIENT_ERROR] = CODE("CLIENT_ERROR", SHAPE_TEXT),
    [MCS_RES_SERVER_ERROR] = CODE("SERVER_ERROR", SHAPE_TEXT),
    [MCS_RES_HD] = CODE("HD", SHAPE_META),
    [MCS_RES_VA] = CODE("VA", SHAPE_VA),
    [MCS_RES_EN] = CODE("EN", SHAPE_META),
    [MCS_RES_NF] = CODE("NF", SHAPE_META),
    [MCS_RES_NS] = CODE("NS", SHAPE_META),
    [MCS_RES_EX] = CODE("EX", SHAPE_META),
    [MCS_RES_MN] = CODE("MN", SHAPE_BARE),
    [MCS_RES_ME] = CODE("ME", SHAPE_ME),
};

const char *mcs_res_type_name(enum mcs_res_type t)
{
    if ((unsigned)t >= MCS_RES_TYPE_MAX)
        return "INVALID";
    return res_codes[t].s;
}

/* Response type for a code token; MCS_RES_NONE when unknown. The two-letter
 * meta codes, the common case of meta workloads, are one switch. */
static enum mcs_res_type res_lookup(const char *s, size_t len)
{
    if (len == 2) {
        switch ((unsigned char)s[0] << 8 | (unsigned char)s[1]) {
        case 'V' << 8 | 'A': return MCS_RES_VA;
        case 'H' << 8 | 'D': return MCS_RES_HD;
        case 'E' << 8 | 'N': return MCS_RES_EN;
        case 'N' << 8 | 'F': return MCS_RES_NF;
        case 'N' << 8 | 'S': return MCS_RES_NS;
        case 'E' << 8 | 'X': return MCS_RES_EX;
        case 'M' << 8 | 'N': return MCS_RES_MN;
        case 'M' << 8 | 'E': return MCS_RES_ME;
        case 'O' << 8 | 'K': return MCS_RES_OK;
        default: return MCS_RES_NONE;
        }
    }
    for (int i = 1; i < MCS_RES_TYPE_MAX; i++) {
        const struct res_code *c = &res_codes[i];
        if (c->len == len && c->shape != SHAPE_NONE && c->s[0] == s[0] &&
            memcmp(c->s, s, len) == 0)
            return (enum mcs_res_type)i;
    }
    /* "stats reset" answers RESET: an acknowledgement like OK. */
    if (len == 5 && memcmp(s, "RESET", 5) == 0)
        return MCS_RES_OK;
    return MCS_RES_NONE;
}

/* ---- numbers and tokens ------------------------------------------------- */

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

static int u64_digits(uint64_t v)
{
    int n = 1;
    while (v >= 100) {
        v /= 100;
        n += 2;
    }
    return v >= 10 ? n + 1 : n;
}

char *mcs_fmt_u64(char *p, uint64_t v)
{
    char *end = p + u64_digits(v);
    char *q = end;

    while (v >= 100) {
        const char *d = digit_pairs + (v % 100) * 2;
        v /= 100;
        *--q = d[1];
        *--q = d[0];
    }
    if (v >= 10) {
        *--q = digit_pairs[v * 2 + 1];
        *--q = digit_pairs[v * 2];
    } else {
        *--q = (char)('0' + v);
    }
    return end;
}

/* Negation is done unsigned so INT64_MIN works. */
static uint64_t i64_abs(int64_t v)
{
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

char *mcs_fmt_i64(char *p, int64_t v)
{
    if (v < 0)
        *p++ = '-';
    return mcs_fmt_u64(p, i64_abs(v));
}

/* Strict unsigned decimal: digits only, no sign, no overflow. */
static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || n > 20)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static size_t skip_sp(const char *s, size_t i, size_t end)
{
    while (i < end && s[i] == ' ')
        i++;
    return i;
}

static size_t token_end(const char *s, size_t i, size_t end)
{
    while (i < end && s[i] != ' ')
        i++;
    return i;
}

/* Splits at runs of spaces, storing at most max tokens. When count_all is
 * set the return value counts every token, stored or not. */
static int split(const char *line, size_t len, uint32_t *off, uint32_t *tlen,
                 int max, bool count_all)
{
    size_t i = 0;
    int n = 0;

    while ((i = skip_sp(line, i, len)) < len) {
        size_t e = token_end(line, i, len);
        if (n < max) {
            off[n] = (uint32_t)i;
            tlen[n] = (uint32_t)(e - i);
        } else if (!count_all) {
            break;
        }
        n++;
        i = e;
    }
    return n;
}

int mcs_tokenize(const char *line, size_t len, uint32_t *off, uint32_t *tlen,
                 int max)
{
    return split(line, len, off, tlen, max, false);
}

/* Meta flags are one letter plus an optional argument; q takes none, so any
 * token starting with 'q' is the quiet flag. */
bool mcs_mflags_quiet(const char *mflags, size_t len)
{
    size_t i = 0;

    while ((i = skip_sp(mflags, i, len)) < len) {
        if (mflags[i] == 'q')
            return true;
        i = token_end(mflags, i, len);
    }
    return false;
}

/* ---- key hash and values ------------------------------------------------ */

static inline uint64_t load_le64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void store_le64(void *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

#define HASH_K1 0x9e3779b97f4a7c15ULL  /* 2^64 / golden ratio, odd */
#define HASH_K2 0xd6e8feb86659fd93ULL  /* odd, dense bits */

/* xor-shift-multiply finaliser: every input bit reaches every output bit. */
static inline uint64_t hash_final(uint64_t h)
{
    h ^= h >> 32;
    h *= HASH_K2;
    h ^= h >> 29;
    h *= HASH_K1;
    h ^= h >> 32;
    return h;
}

/* Eight bytes per step, little-endian so every host agrees (values are
 * checked against this hash, possibly by another machine's run). */
uint64_t mcs_key_hash(const char *key, size_t len)
{
    uint64_t h = HASH_K1 ^ ((uint64_t)len * HASH_K2);
    size_t i = 0;

    for (; i + 8 <= len; i += 8)
        h = rotl64(h ^ (load_le64(key + i) * HASH_K2), 29) * HASH_K1;
    if (i < len) {
        unsigned char tail[8] = { 0 };
        memcpy(tail, key + i, len - i);
        h = rotl64(h ^ (load_le64(tail) * HASH_K2), 29) * HASH_K1;
    }
    return hash_final(h);
}

/* The value is the little-endian words seed + 0, + 1, ... cut at vlen, where
 * the seed mixes the key hash with the length: cheap to write a megabyte of,
 * and a misplaced, stale, truncated or lengthened block shows. */
static uint64_t value_seed(uint64_t key_hash, uint32_t vlen)
{
    return key_hash ^ ((uint64_t)vlen * 0x9e3779b97f4a7c15ULL);
}

void mcs_value_fill(char *dst, uint32_t vlen, uint64_t key_hash)
{
    uint64_t seed = value_seed(key_hash, vlen);
    uint32_t words = vlen / 8, rest = vlen % 8;

    for (uint32_t i = 0; i < words; i++)
        store_le64(dst + (size_t)i * 8, seed + i);
    if (rest) {
        unsigned char tail[8];
        store_le64(tail, seed + words);
        memcpy(dst + (size_t)words * 8, tail, rest);
    }
    dst[vlen] = '\r';
    dst[(size_t)vlen + 1] = '\n';
}

bool mcs_value_check(const char *v, uint32_t vlen, uint64_t key_hash)
{
    uint64_t seed = value_seed(key_hash, vlen);
    uint32_t words = vlen / 8, rest = vlen % 8;
    uint64_t diff = 0;

    /* No early exit: lets the compiler vectorise the common (good) case. */
    for (uint32_t i = 0; i < words; i++)
        diff |= load_le64(v + (size_t)i * 8) ^ (seed + i);
    if (rest) {
        unsigned char tail[8];
        store_le64(tail, seed + words);
        diff |= (uint64_t)memcmp(v + (size_t)words * 8, tail, rest);
    }
    return diff == 0;
}

/* ---- request builder ---------------------------------------------------- */

/* Bounded writer; p becomes NULL once something did not fit. */
struct wbuf {
    char *p;
    char *end;
};

static void put(struct wbuf *w, const char *s, size_t n)
{
    if (w->p == NULL)
        return;
    if ((size_t)(w->end - w->p) < n) {
        w->p = NULL;
        return;
    }
    if (n)
        memcpy(w->p, s, n);
    w->p += n;
}

static void put_u64(struct wbuf *w, uint64_t v)
{
    if (w->p == NULL)
        return;
    if (w->end - w->p < u64_digits(v)) {
        w->p = NULL;
        return;
    }
    w->p = mcs_fmt_u64(w->p, v);
}

static void put_sp_u64(struct wbuf *w, uint64_t v)
{
    put(w, " ", 1);
    put_u64(w, v);
}

static void put_sp_i64(struct wbuf *w, int64_t v)
{
    put(w, v < 0 ? " -" : " ", v < 0 ? 2 : 1);
    put_u64(w, i64_abs(v));
}

/* " <s>" unless s is empty. */
static void put_sp_opt(struct wbuf *w, const char *s, size_t n)
{
    if (n) {
        put(w, " ", 1);
        put(w, s, n);
    }
}

/* memcached keys: 1..250 bytes, no spaces or control characters. A bad byte
 * here would split the line and desynchronise every later response. */
static size_t key_len(const struct mcs_req_spec *s)
{
    size_t n = s->prefix_len;

    if (s->num >= 0)
        n += (size_t)u64_digits((uint64_t)s->num);

    if (n == 0 || s->prefix_len > MCS_KEY_MAX || n > MCS_KEY_MAX)
        return 0;
    for (size_t i = 0; i < s->prefix_len; i++) {
        unsigned char c = (unsigned char)s->prefix[i];
        if (c <= ' ' || c == 0x7f)
            return 0;
    }
    return n;
}

/* " <key>": the prefix, then num in decimal. Returns where the key starts
 * (meaningful only if everything fit). */
static char *put_key(struct wbuf *w, const struct mcs_req_spec *s)
{
    char *at;

    put(w, " ", 1);
    at = w->p;
    put(w, s->prefix, s->prefix_len);
    if (s->num >= 0)
        put_u64(w, (uint64_t)s->num);
    return at;
}

static bool takes_noreply(enum mcs_cmd cmd)
{
    return (cmd >= MCS_CMD_SET && cmd <= MCS_CMD_TOUCH) ||
           cmd == MCS_CMD_FLUSH_ALL || cmd == MCS_CMD_VERBOSITY;
}

static bool has_key(enum mcs_cmd cmd)
{
    return cmd <= MCS_CMD_TOUCH || (cmd >= MCS_CMD_MG && cmd != MCS_CMD_MN);
}

/* Everything after the command name and key, per command. */
static void put_args(struct wbuf *w, const struct mcs_req_spec *s)
{
    switch (s->cmd) {
    case MCS_CMD_SET: case MCS_CMD_ADD: case MCS_CMD_REPLACE:
    case MCS_CMD_APPEND: case MCS_CMD_PREPEND: case MCS_CMD_CAS:
        put_sp_u64(w, s->client_flags);
        put_sp_i64(w, s->ttl);
        put_sp_u64(w, s->vlen);
        if (s->cmd == MCS_CMD_CAS)
            put_sp_u64(w, s->cas);
        break;
    case MCS_CMD_INCR: case MCS_CMD_DECR:
        put_sp_u64(w, s->delta);
        break;
    case MCS_CMD_TOUCH:
        put_sp_i64(w, s->ttl);
        break;
    case MCS_CMD_STATS: case MCS_CMD_FLUSH_ALL: case MCS_CMD_VERBOSITY:
        put_sp_opt(w, s->arg, s->arg_len);
        break;
    case MCS_CMD_MS:
        put_sp_u64(w, s->vlen);
        /* fall through */
    case MCS_CMD_MG: case MCS_CMD_MD: case MCS_CMD_MA:
        put_sp_opt(w, s->mflags, s->mflags_len);
        break;
    default:
        break;
    }
}

/* The request line of spec into buf; *key and *klen tell where its key is
 * (NULL, 0: none). 0 when it does not fit or is not valid. */
static size_t format_line(char *buf, size_t cap, const struct mcs_req_spec *spec,
                          const char **key, size_t *klen)
{
    const struct name *nm;
    size_t room = cap < MCS_REQ_LINE_MAX ? cap : MCS_REQ_LINE_MAX;
    struct wbuf w = { buf, buf + room };

    *key = NULL;
    *klen = 0;
    if ((unsigned)spec->cmd >= MCS_CMD_UNKNOWN)
        return 0;
    if (spec->cmd == MCS_CMD_VERBOSITY && spec->arg_len == 0)
        return 0;
    if (has_key(spec->cmd) && (*klen = key_len(spec)) == 0)
        return 0;

    nm = &cmd_names[spec->cmd];
    put(&w, nm->s, nm->len);
    if (spec->cmd == MCS_CMD_GAT || spec->cmd == MCS_CMD_GATS)
        put_sp_i64(&w, spec->ttl);
    if (*klen)
        *key = put_key(&w, spec);
    put_args(&w, spec);
    if (spec->noreply && takes_noreply(spec->cmd))
        put(&w, " noreply", 8);
    put(&w, "\r\n", 2);
    if (w.p == NULL)
        return 0;
    return (size_t)(w.p - buf);
}

size_t mcs_req_format(char *buf, size_t cap, const struct mcs_req_spec *spec,
                      uint64_t *key_hash)
{
    const char *key;
    size_t klen, len = format_line(buf, cap, spec, &key, &klen);

    if (key_hash)
        *key_hash = len && key ? mcs_key_hash(key, klen) : 0;
    return len;
}

bool mcs_req_tmpl_init(struct mcs_req_tmpl *t, const struct mcs_req_spec *spec)
{
    struct mcs_req_spec zero = *spec;
    const char *key;
    size_t klen, len;

    zero.num = 0;
    len = format_line(t->line, sizeof(t->line), &zero, &key, &klen);
    if (len == 0 || key == NULL)
        return false;
    t->prefix_len = (uint16_t)spec->prefix_len;
    t->head_len = (uint16_t)(key - t->line + spec->prefix_len);
    t->tail_len = (uint16_t)(len - t->head_len - 1); /* past the "0" */
    size_t line_room = MCS_REQ_LINE_MAX - t->head_len - t->tail_len;
    size_t key_room = MCS_KEY_MAX - spec->prefix_len;
    t->max_digits = (uint16_t)(line_room < key_room ? line_room : key_room);
    return true;
}

size_t mcs_req_tmpl_format(char *buf, const struct mcs_req_tmpl *t, uint64_t num,
                           uint64_t *key_hash)
{
    if (u64_digits(num) > t->max_digits)
        return 0;
    memcpy(buf, t->line, t->head_len);
    char *end = mcs_fmt_u64(buf + t->head_len, num);
    memcpy(end, t->line + t->head_len + 1, t->tail_len);
    if (key_hash) {
        char *key = buf + t->head_len - t->prefix_len;
        *key_hash = mcs_key_hash(key, (size_t)(end - key));
    }
    return (size_t)(end - buf) + t->tail_len;
}

/* ---- raw request scanner ------------------------------------------------ */

#define SCAN_TOKENS 8
/* memcached refuses larger data lengths without reading a block. */
#define SCAN_VLEN_MAX (INT32_MAX - 2)

/* Bounds of the last token of a line. */
static size_t last_token(const char *line, size_t len, size_t *tlen)
{
    size_t e = len, b;

    while (e > 0 && line[e - 1] == ' ')
        e--;
    b = e;
    while (b > 0 && line[b - 1] != ' ')
        b--;
    *tlen = e - b;
    return b;
}

/* "noreply" counts only as the last token and never as the key (token 1):
 * "delete noreply" deletes a key called noreply. */
static bool scan_noreply(const char *line, size_t len, int ntok, int min_idx)
{
    size_t n, at = last_token(line, len, &n);

    return ntok - 1 >= min_idx && n == 7 &&
           memcmp(line + at, "noreply", 7) == 0;
}

/* Storage commands carry "<bytes>\r\n<data>\r\n" after the line. A length
 * the server would refuse is read as no block at all, like the server. */
static enum mcs_scan_status scan_block(size_t len, struct mcs_req_info *info,
                                       const char *tok, size_t tok_len)
{
    uint64_t vlen;

    if (tok == NULL || !parse_u64(tok, tok_len, &vlen) || vlen > SCAN_VLEN_MAX)
        return MCS_SCAN_OK;
    if (len - info->len < vlen + 2)
        return MCS_SCAN_INCOMPLETE;
    info->len += vlen + 2;
    return MCS_SCAN_OK;
}

/* Quiet when any token from index first on is a 'q' flag. */
static bool scan_quiet(const char *line, size_t len, const uint32_t *off,
                       int ntok, int first)
{
    if (ntok <= first)
        return false;
    return mcs_mflags_quiet(line + off[first], len - off[first]);
}

enum mcs_scan_status mcs_req_scan(const char *buf, size_t len,
                                  struct mcs_req_info *info)
{
    uint32_t off[SCAN_TOKENS], tl[SCAN_TOKENS];
    const char *nl = memchr(buf, '\n', len);
    size_t ll;
    int n;

    if (nl == NULL)
        return MCS_SCAN_INCOMPLETE;
    memset(info, 0, sizeof(*info));
    info->len = (size_t)(nl - buf) + 1;
    ll = info->len - 1;
    if (ll > 0 && buf[ll - 1] == '\r')   /* memcached also takes a bare \n */
        ll--;
    n = split(buf, ll, off, tl, SCAN_TOKENS, true);
    info->cmd = n ? mcs_cmd_lookup(buf + off[0], tl[0]) : MCS_CMD_UNKNOWN;

    switch (info->cmd) {
    case MCS_CMD_GET: case MCS_CMD_GETS:
        info->nkeys = (uint32_t)(n - 1);
        break;
    case MCS_CMD_GAT: case MCS_CMD_GATS:
        info->nkeys = n > 2 ? (uint32_t)(n - 2) : 0;
        break;
    case MCS_CMD_SET: case MCS_CMD_ADD: case MCS_CMD_REPLACE:
    case MCS_CMD_APPEND: case MCS_CMD_PREPEND: case MCS_CMD_CAS:
        info->noreply = scan_noreply(buf, ll, n, 2);
        return scan_block(len, info, n > 4 ? buf + off[4] : NULL,
                          n > 4 ? tl[4] : 0);
    case MCS_CMD_DELETE: case MCS_CMD_INCR: case MCS_CMD_DECR:
    case MCS_CMD_TOUCH: case MCS_CMD_VERBOSITY:
        info->noreply = scan_noreply(buf, ll, n, 2);
        break;
    case MCS_CMD_FLUSH_ALL:
        info->noreply = scan_noreply(buf, ll, n, 1);
        break;
    case MCS_CMD_MS:
        info->quiet = scan_quiet(buf, ll, off, n, 3);
        return scan_block(len, info, n > 2 ? buf + off[2] : NULL,
                          n > 2 ? tl[2] : 0);
    case MCS_CMD_MG: case MCS_CMD_MD: case MCS_CMD_MA:
        info->quiet = scan_quiet(buf, ll, off, n, 2);
        break;
    default:
        break;
    }
    return MCS_SCAN_OK;
}

/* ---- response parser ---------------------------------------------------- */

/* A line, its "\r\n" included, must show its '\n' within this many bytes. */
#define RES_WINDOW (MCS_RES_LINE_MAX + 2)

/* Free text from the first non-space at or after i to the end of line. */
static void rest_of_line(const char *buf, size_t i, size_t ll,
                         uint32_t *off, uint32_t *n)
{
    i = skip_sp(buf, i, ll);
    *off = (uint32_t)i;
    *n = (uint32_t)(ll - i);
}

/* The "<data>\r\n" block after a VALUE or VA line. On WANT vlen and
 * value_off are already set, so the caller knows how far to grow. */
static enum mcs_parse_status take_block(const char *buf, size_t len,
                                        struct mcs_res *res, uint64_t vlen)
{
    uint64_t voff = (uint64_t)res->line_len + 2;
    uint64_t total;

    if (vlen > UINT32_MAX - voff - 2)   /* consumed must fit in 32 bits */
        return MCS_PARSE_ERROR;
    total = voff + vlen + 2;
    res->vlen = (int64_t)vlen;
    res->value_off = (uint32_t)voff;
    if (len < total)
        return MCS_PARSE_WANT;
    if (buf[total - 2] != '\r' || buf[total - 1] != '\n')
        return MCS_PARSE_ERROR;
    res->consumed = (uint32_t)total;
    return MCS_PARSE_OK;
}

/* "VALUE <key> <flags> <bytes> [<cas>]"; i is just past the code. */
static enum mcs_parse_status parse_value(const char *buf, size_t len,
                                         struct mcs_res *res, size_t i)
{
    uint32_t off[5], tl[5];
    uint64_t flags, vlen, cas = 0;
    const char *s = buf + i;
    int n = mcs_tokenize(s, res->line_len - i, off, tl, 5);

    if (n < 3 || n > 4)
        return MCS_PARSE_ERROR;
    if (!parse_u64(s + off[1], tl[1], &flags) || flags > UINT32_MAX ||
        !parse_u64(s + off[2], tl[2], &vlen) ||
        (n == 4 && !parse_u64(s + off[3], tl[3], &cas)))
        return MCS_PARSE_ERROR;
    res->key_off = (uint32_t)i + off[0];
    res->key_len = tl[0];
    res->client_flags = (uint32_t)flags;
    res->cas = cas;
    return take_block(buf, len, res, vlen);
}

/* "VA <size> [flags]". */
static enum mcs_parse_status parse_va(const char *buf, size_t len,
                                      struct mcs_res *res, size_t i)
{
    size_t ll = res->line_len, e;
    uint64_t vlen;

    i = skip_sp(buf, i, ll);
    e = token_end(buf, i, ll);
    if (!parse_u64(buf + i, e - i, &vlen))
        return MCS_PARSE_ERROR;
    rest_of_line(buf, e, ll, &res->mflags_off, &res->mflags_len);
    return take_block(buf, len, res, vlen);
}

/* "STAT <name> <value>" and "ME <key> <text>": a word, then free text. */
static enum mcs_parse_status parse_word_text(const char *buf,
                                             struct mcs_res *res, size_t i,
                                             uint32_t *woff, uint32_t *wlen)
{
    size_t ll = res->line_len, e;

    i = skip_sp(buf, i, ll);
    e = token_end(buf, i, ll);
    if (e == i)
        return MCS_PARSE_ERROR;
    *woff = (uint32_t)i;
    *wlen = (uint32_t)(e - i);
    rest_of_line(buf, e, ll, &res->stat_off, &res->stat_len);
    return MCS_PARSE_OK;
}

/* One complete line of ll bytes is at buf; fill res from it. */
static enum mcs_parse_status parse_line(const char *buf, size_t len,
                                        struct mcs_res *res)
{
    size_t ll = res->line_len;
    size_t cl = token_end(buf, 0, ll);

    if (cl == 0)
        return MCS_PARSE_ERROR;
    if (buf[0] >= '0' && buf[0] <= '9') {
        res->type = MCS_RES_NUMERIC;
        if (!parse_u64(buf, ll, &res->number))
            return MCS_PARSE_ERROR;
        return MCS_PARSE_OK;
    }
    res->type = res_lookup(buf, cl);
    switch (res_codes[res->type].shape) {
    case SHAPE_BARE:
        return cl == ll ? MCS_PARSE_OK : MCS_PARSE_ERROR;
    case SHAPE_TEXT:
        rest_of_line(buf, cl, ll, &res->stat_off, &res->stat_len);
        return MCS_PARSE_OK;
    case SHAPE_META:
        rest_of_line(buf, cl, ll, &res->mflags_off, &res->mflags_len);
        return MCS_PARSE_OK;
    case SHAPE_VALUE:
        return parse_value(buf, len, res, cl);
    case SHAPE_VA:
        return parse_va(buf, len, res, cl);
    case SHAPE_STAT:
        return parse_word_text(buf, res, cl, &res->name_off, &res->name_len);
    case SHAPE_ME:
        return parse_word_text(buf, res, cl, &res->key_off, &res->key_len);
    default:
        return MCS_PARSE_ERROR;
    }
}

/* Nothing is decided before the whole line is in, so a response split at
 * any byte gives WANT and then the same result as if it came at once. The
 * one early verdict is a line with no '\n' within RES_WINDOW bytes.
 * A WANT for the data block of a VALUE or VA leaves type, line_len, vlen and
 * value_off set (consumed 0): the caller can grow its buffer to fit. */
enum mcs_parse_status mcs_res_parse(const char *buf, size_t len,
                                    struct mcs_res *res)
{
    const char *nl = len ? memchr(buf, '\n', len < RES_WINDOW ? len : RES_WINDOW) : NULL;
    enum mcs_parse_status st;
    size_t at;

    if (nl == NULL)
        return len >= RES_WINDOW ? MCS_PARSE_ERROR : MCS_PARSE_WANT;
    at = (size_t)(nl - buf);
    if (at == 0 || buf[at - 1] != '\r')   /* memcached always sends \r\n */
        return MCS_PARSE_ERROR;

    memset(res, 0, sizeof(*res));
    res->vlen = -1;
    res->line_len = (uint32_t)(at - 1);
    st = parse_line(buf, len, res);
    if (st == MCS_PARSE_OK && res->vlen < 0)
        res->consumed = (uint32_t)at + 1;
    else if (st != MCS_PARSE_OK)
        res->consumed = 0;
    return st;
}
