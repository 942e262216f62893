/* lua_io.c: the per-request half of mcs.*: building requests (and
 * factories that format them in place), writing, flushing and reading on
 * connections, response objects, and custom clients. These run in the
 * workers' coroutines, where waiting for I/O yields to the worker's loop. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <lauxlib.h>

#include "lua_api.h"
#include "lua_io.h"
#include "lua_dist.h"
#include "target.h"
#include "tls.h"

#define MT_REQ "mcs.req"
#define MT_FACTORY "mcs.factory"
#define MT_RES "mcs.res"
#define MT_CLIENT "mcs.client"
#define RES_MAX_TOKENS 24

/* Tags at the start of our userdata: the per-request functions check a
 * tag instead of luaL_checkudata's registry lookup by name. */
enum { TAG_REQ = 0x6d637271, TAG_FACTORY = 0x6d636661, TAG_RES = 0x6d637273 };
#define RES_LINE_INLINE 256

/* A request built by mcs.get/mcs.set/...: its line, ready to copy. */
struct mcs_req {
    uint32_t tag;
    enum mcs_cmd cmd;
    bool quiet, noreply;
    uint32_t vlen;
    uint64_t hash;      /* of the key: values are generated from it */
    uint64_t t_ns;      /* when it was last written */
    size_t len;
    char data[];
};

/* A factory formats requests for one prefix and set of flags in place. */
struct mcs_factory {
    uint32_t tag;
    struct mcs_req_spec spec;
    bool quiet, needs_vlen;
    bool multikey;        /* classic get/gets: write_factory takes more keys */
    bool hashed;          /* hash is set: only value-writing requests need it */
    bool tmpl_tried, tmpl_ok; /* tmpl is made at the first write */
    uint64_t hash, t_ns;  /* of the last request written */
    char prefix[MCS_KEY_MAX + 1];
    char mflags[MCS_REQ_LINE_MAX / 2];
    struct mcs_req_tmpl tmpl; /* the line, but for its key number */
};

/* A response. The first line is copied (so it stays readable); the value
 * stays in the connection's buffer and is valid until the next read. */
struct mcs_resud {
    uint32_t tag;
    struct mcs_res r;
    struct mcs_conn *conn;
    uint32_t gen;
    const char *base;
    uint64_t rtime_ns;
    char *line;           /* inline or heap; NUL-terminated */
    size_t line_cap;
    int ntok;             /* -1 until tokenized */
    uint32_t toff[RES_MAX_TOKENS], tlen[RES_MAX_TOKENS];
    char inline_line[RES_LINE_INLINE];
};

/* mcs.client_new: a connection a custom function drives itself. */
struct mcs_client {
    struct mcs_conn *conn;
    struct mcs_target target;   /* its tls context is the client's own */
};

/* --- helpers --- */

/* Our userdata of the given tag at idx, or NULL. */
static void *test_tagged(lua_State *L, int idx, uint32_t tag)
{
    /* a light userdata has a pointer but a raw length of 0 */
    uint32_t *p = lua_touserdata(L, idx);
    if (p == NULL || lua_rawlen(L, idx) < sizeof(uint32_t))
        return NULL;
    return *p == tag ? p : NULL;
}

/* Like luaL_checkudata, without a lookup by name when the tag matches. */
static void *check_tagged(lua_State *L, int idx, uint32_t tag, const char *mt)
{
    void *p = test_tagged(L, idx, tag);
    return p ? p : luaL_checkudata(L, idx, mt);
}

struct mcs_co *mcs_lua_need_co(lua_State *L, const char *fn)
{
    struct mcs_co *co = mcs_lctx(L)->co;
    if (co == NULL)
        luaL_error(L, "mcs.%s can only be called inside a workload function", fn);
    return co;
}

/* The default connection of a standard workload's coroutine. */
static struct mcs_conn *need_conn(lua_State *L, const char *fn)
{
    struct mcs_co *co = mcs_lua_need_co(L, fn);
    if (co->conn == NULL)
        luaL_error(L, "mcs.%s: add_custom functions have no default connection; "
                      "use mcs.client_new and mcs.client_%s", fn, fn);
    return co->conn;
}

static struct mcs_client *check_client(lua_State *L, int idx)
{
    struct mcs_client *c = luaL_checkudata(L, idx, MT_CLIENT);
    struct mcs_co *co = mcs_lua_need_co(L, "client_*");
    if (c->conn == NULL)
        luaL_argerror(L, idx, "client is closed");
    /* counts go to the workload running it now */
    c->conn->stats = co->custom || co->conn ? &co->slot->cur : c->conn->stats;
    return c;
}

/* Raw flag arguments from first..last joined by spaces into buf. */
static size_t join_flags(lua_State *L, int first, int last, char *buf, size_t cap)
{
    size_t n = 0;
    for (int i = first; i <= last; i++) {
        size_t len;
        const char *f = luaL_checklstring(L, i, &len);
        if (len == 0)
            continue;
        if (n + len + 1 >= cap)
            luaL_error(L, "meta flags are too long");
        if (n)
            buf[n++] = ' ';
        memcpy(buf + n, f, len);
        n += len;
    }
    buf[n] = '\0';
    return n;
}

static int push_errno(lua_State *L, int err)
{
    lua_pushnil(L);
    lua_pushstring(L, strerror(-err));
    return 2;
}

/* --- requests --- */

static int push_req(lua_State *L, const struct mcs_req_spec *spec)
{
    char line[MCS_REQ_LINE_MAX];
    uint64_t hash = 0;
    size_t len = mcs_req_format(line, sizeof(line), spec, &hash);
    if (len == 0)
        return luaL_error(L, "mcs.%s: invalid request: keys are 1 to %d bytes with no "
                             "spaces or control characters, and arguments must be given",
                          mcs_cmd_name(spec->cmd), MCS_KEY_MAX);
    struct mcs_req *r = lua_newuserdatauv(L, sizeof(*r) + len, 0);
    memset(r, 0, sizeof(*r));
    r->tag = TAG_REQ;
    r->cmd = spec->cmd;
    r->quiet = spec->mflags && mcs_mflags_quiet(spec->mflags, spec->mflags_len);
    r->noreply = spec->noreply;
    r->vlen = mcs_cmd_has_value(spec->cmd) ? spec->vlen : 0;
    r->hash = hash;
    r->len = len;
    memcpy(r->data, line, len);
    luaL_setmetatable(L, MT_REQ);
    return 1;
}

static void spec_key(lua_State *L, struct mcs_req_spec *s, enum mcs_cmd cmd)
{
    memset(s, 0, sizeof(*s));
    s->cmd = cmd;
    s->prefix = luaL_checklstring(L, 1, &s->prefix_len);
    s->num = luaL_optinteger(L, 2, -1);
}

static uint32_t check_vlen(lua_State *L, int idx)
{
    lua_Integer v = luaL_checkinteger(L, idx);
    luaL_argcheck(L, v >= 0 && v <= INT32_MAX, idx, "value length out of range");
    return (uint32_t)v;
}

/* get(prefix, num), gets, delete: key only. */
static int req_key_only(lua_State *L, enum mcs_cmd cmd)
{
    struct mcs_req_spec s;
    spec_key(L, &s, cmd);
    return push_req(L, &s);
}
static int mcslib_get(lua_State *L) { return req_key_only(L, MCS_CMD_GET); }
static int mcslib_gets(lua_State *L) { return req_key_only(L, MCS_CMD_GETS); }
static int mcslib_delete(lua_State *L) { return req_key_only(L, MCS_CMD_DELETE); }

/* touch(prefix, num, ttl), gat, gats */
static int req_ttl(lua_State *L, enum mcs_cmd cmd)
{
    struct mcs_req_spec s;
    spec_key(L, &s, cmd);
    s.ttl = luaL_checkinteger(L, 3);
    return push_req(L, &s);
}
static int mcslib_touch(lua_State *L) { return req_ttl(L, MCS_CMD_TOUCH); }
static int mcslib_gat(lua_State *L) { return req_ttl(L, MCS_CMD_GAT); }
static int mcslib_gats(lua_State *L) { return req_ttl(L, MCS_CMD_GATS); }

/* set(prefix, num, flags, ttl, vlen [, noreply]); cas adds the cas value. */
static int req_store(lua_State *L, enum mcs_cmd cmd)
{
    struct mcs_req_spec s;
    spec_key(L, &s, cmd);
    s.client_flags = (uint32_t)luaL_checkinteger(L, 3);
    s.ttl = luaL_checkinteger(L, 4);
    s.vlen = check_vlen(L, 5);
    int next = 6;
    if (cmd == MCS_CMD_CAS)
        s.cas = (uint64_t)luaL_checkinteger(L, next++);
    s.noreply = lua_toboolean(L, next);
    return push_req(L, &s);
}
static int mcslib_set(lua_State *L) { return req_store(L, MCS_CMD_SET); }
static int mcslib_add_req(lua_State *L) { return req_store(L, MCS_CMD_ADD); }
static int mcslib_replace(lua_State *L) { return req_store(L, MCS_CMD_REPLACE); }
static int mcslib_append(lua_State *L) { return req_store(L, MCS_CMD_APPEND); }
static int mcslib_prepend(lua_State *L) { return req_store(L, MCS_CMD_PREPEND); }
static int mcslib_cas(lua_State *L) { return req_store(L, MCS_CMD_CAS); }

/* incr(prefix, num, delta), decr */
static int req_arith(lua_State *L, enum mcs_cmd cmd)
{
    struct mcs_req_spec s;
    spec_key(L, &s, cmd);
    s.delta = (uint64_t)luaL_optinteger(L, 3, 1);
    return push_req(L, &s);
}
static int mcslib_incr(lua_State *L) { return req_arith(L, MCS_CMD_INCR); }
static int mcslib_decr(lua_State *L) { return req_arith(L, MCS_CMD_DECR); }

/* Meta: mg/md/ma(prefix, num, flags...); ms(prefix, num, vlen, flags...).
 * The original's older ms form with vlen last is accepted too. */
static int req_meta(lua_State *L, enum mcs_cmd cmd)
{
    struct mcs_req_spec s;
    char flags[MCS_REQ_LINE_MAX / 2];
    spec_key(L, &s, cmd);
    int first = 3, last = lua_gettop(L);
    if (cmd == MCS_CMD_MS) {
        if (lua_type(L, 3) == LUA_TNUMBER) {
            s.vlen = check_vlen(L, 3);
            first = 4;
        } else if (last >= 3 && lua_type(L, last) == LUA_TNUMBER) {
            s.vlen = check_vlen(L, last--);
        } else {
            return luaL_error(L, "mcs.ms: missing value length");
        }
    }
    s.mflags_len = join_flags(L, first, last, flags, sizeof(flags));
    s.mflags = flags;
    return push_req(L, &s);
}
static int mcslib_mg(lua_State *L) { return req_meta(L, MCS_CMD_MG); }
static int mcslib_ms(lua_State *L) { return req_meta(L, MCS_CMD_MS); }
static int mcslib_md(lua_State *L) { return req_meta(L, MCS_CMD_MD); }
static int mcslib_ma(lua_State *L) { return req_meta(L, MCS_CMD_MA); }

static int mcslib_me(lua_State *L) { return req_key_only(L, MCS_CMD_ME); }

/* mn(), version(), stats([arg]), flush_all([delay]), verbosity(level) */
static int req_keyless(lua_State *L, enum mcs_cmd cmd)
{
    struct mcs_req_spec s;
    memset(&s, 0, sizeof(s));
    s.cmd = cmd;
    s.num = -1;
    if (!lua_isnoneornil(L, 1))
        s.arg = luaL_tolstring(L, 1, &s.arg_len);
    return push_req(L, &s);
}
static int mcslib_mn(lua_State *L) { return req_keyless(L, MCS_CMD_MN); }
static int mcslib_version(lua_State *L) { return req_keyless(L, MCS_CMD_VERSION); }
static int mcslib_stats(lua_State *L) { return req_keyless(L, MCS_CMD_STATS); }
static int mcslib_flush_all(lua_State *L) { return req_keyless(L, MCS_CMD_FLUSH_ALL); }
static int mcslib_verbosity(lua_State *L) { return req_keyless(L, MCS_CMD_VERBOSITY); }

/* --- factories --- */

static int factory_new(lua_State *L, enum mcs_cmd cmd, int flags_from)
{
    size_t plen;
    const char *prefix = luaL_checklstring(L, 1, &plen);
    luaL_argcheck(L, plen <= MCS_KEY_MAX, 1, "prefix longer than a key may be");
    struct mcs_factory *f = lua_newuserdatauv(L, sizeof(*f), 0);
    memset(f, 0, sizeof(*f));
    f->tag = TAG_FACTORY;
    memcpy(f->prefix, prefix, plen);
    f->spec.cmd = cmd;
    f->spec.prefix = f->prefix;
    f->spec.prefix_len = plen;
    if (flags_from) {
        int top = lua_gettop(L) - 1; /* the factory is on top */
        f->spec.mflags_len = join_flags(L, flags_from, top, f->mflags, sizeof(f->mflags));
        f->spec.mflags = f->mflags;
        f->quiet = mcs_mflags_quiet(f->mflags, f->spec.mflags_len);
    }
    f->needs_vlen = cmd == MCS_CMD_MS || cmd == MCS_CMD_SET;
    f->multikey = cmd == MCS_CMD_GET || cmd == MCS_CMD_GETS;
    luaL_setmetatable(L, MT_FACTORY);
    return 1;
}
static int mcslib_mg_factory(lua_State *L) { return factory_new(L, MCS_CMD_MG, 2); }
static int mcslib_ms_factory(lua_State *L) { return factory_new(L, MCS_CMD_MS, 2); }
static int mcslib_md_factory(lua_State *L) { return factory_new(L, MCS_CMD_MD, 2); }
static int mcslib_ma_factory(lua_State *L) { return factory_new(L, MCS_CMD_MA, 2); }
static int mcslib_get_factory(lua_State *L) { return factory_new(L, MCS_CMD_GET, 0); }
static int mcslib_delete_factory(lua_State *L) { return factory_new(L, MCS_CMD_DELETE, 0); }
/* touch_factory(prefix, ttl) */
static int mcslib_touch_factory(lua_State *L)
{
    int64_t ttl = luaL_checkinteger(L, 2);
    lua_settop(L, 1);
    factory_new(L, MCS_CMD_TOUCH, 0);
    struct mcs_factory *f = lua_touserdata(L, -1);
    f->spec.ttl = ttl;
    return 1;
}
/* set_factory(prefix [, flags [, ttl]]) */
static int mcslib_set_factory(lua_State *L)
{
    uint32_t flags = (uint32_t)luaL_optinteger(L, 2, 0);
    int64_t ttl = luaL_optinteger(L, 3, 0);
    lua_settop(L, 1);
    factory_new(L, MCS_CMD_SET, 0);
    struct mcs_factory *f = lua_touserdata(L, -1);
    f->spec.client_flags = flags;
    f->spec.ttl = ttl;
    return 1;
}

/* Appends " <prefix><num>" (no number when num < 0) for each key number at
 * args first..top to the request line at p (len bytes, ending in "\r\n");
 * returns the new length. */
static size_t factory_more_keys(lua_State *L, const struct mcs_factory *f, char *p,
                                size_t len, int first, int top)
{
    char *end = p + len - 2;
    for (int i = first; i <= top; i++) {
        lua_Integer num = mcs_lua_check_key(L, i);
        *end++ = ' ';
        char *key = end;
        memcpy(end, f->prefix, f->spec.prefix_len);
        end += f->spec.prefix_len;
        if (num >= 0)
            end = mcs_fmt_i64(end, num);
        if (end - key > MCS_KEY_MAX)
            luaL_error(L, "mcs.write_factory: key too long or not valid");
    }
    *end++ = '\r';
    *end++ = '\n';
    return end - p;
}

/* The request line of f's spec into p: from the template when only the key
 * number changes, which is much cheaper than formatting it afresh. */
static size_t factory_line(struct mcs_factory *f, char *p, bool hash)
{
    if (!f->tmpl_tried) {
        f->tmpl_tried = true;
        f->tmpl_ok = !f->needs_vlen && mcs_req_tmpl_init(&f->tmpl, &f->spec);
    }
    uint64_t *h = hash ? &f->hash : NULL;
    if (f->tmpl_ok && f->spec.num >= 0)
        return mcs_req_tmpl_format(p, &f->tmpl, (uint64_t)f->spec.num, h);
    return mcs_req_format(p, MCS_REQ_LINE_MAX, &f->spec, h);
}

/* Formats factory f's request for number num straight into c's buffer;
 * a get factory takes more numbers for a multi-key get. */
static void factory_write(lua_State *L, struct mcs_conn *c, int fidx)
{
    struct mcs_factory *f = check_tagged(L, fidx, TAG_FACTORY, MT_FACTORY);
    f->spec.num = mcs_lua_check_key(L, fidx + 1);
    if (f->needs_vlen)
        f->spec.vlen = check_vlen(L, fidx + 2);
    int top = lua_gettop(L);
    int nkeys = f->multikey && top > fidx + 1 ? top - fidx : 1;
    luaL_argcheck(L, nkeys <= UINT16_MAX, fidx + 2, "too many keys");
    size_t body = f->needs_vlen ? (size_t)f->spec.vlen + 2 : 0;
    size_t more = (size_t)(nkeys - 1) * (f->spec.prefix_len + 22);
    char *p = mcs_conn_wbuf_room(c, MCS_REQ_LINE_MAX + more + body);
    if (p == NULL)
        luaL_error(L, "out of memory");
    bool hash = body || c->validate;
    size_t len = factory_line(f, p, hash);
    if (len == 0)
        luaL_error(L, "mcs.write_factory: key too long or not valid");
    if (nkeys > 1)
        len = factory_more_keys(L, f, p, len, fidx + 2, top);
    if (body)
        mcs_value_fill(p + len, f->spec.vlen, f->hash);
    f->hashed = hash;
    f->t_ns = c->w->now_ns; /* the loop's clock: no clock read per request */
    mcs_conn_commit_req(c, len + body, f->spec.cmd, f->quiet, (uint16_t)nkeys,
                        hash ? f->hash : 0);
}

/* The key hash of the factory's last request, computed when first needed. */
static void factory_hash(struct mcs_factory *f)
{
    if (f->hashed)
        return;
    char key[MCS_KEY_MAX + 32];
    memcpy(key, f->prefix, f->spec.prefix_len);
    char *end = key + f->spec.prefix_len;
    if (f->spec.num >= 0)
        end = mcs_fmt_i64(end, f->spec.num);
    f->hash = mcs_key_hash(key, end - key);
    f->hashed = true;
}

/* --- writing and flushing --- */

static void write_value(lua_State *L, struct mcs_conn *c, int idx)
{
    int ret;
    struct mcs_req *r = test_tagged(L, idx, TAG_REQ);
    if (r) {
        r->t_ns = c->w->now_ns;
        ret = mcs_conn_write_req(c, r->data, r->len, r->cmd, r->quiet, r->noreply,
                                 1, r->vlen, r->hash);
    } else {
        size_t len;
        const char *s = luaL_checklstring(L, idx, &len);
        ret = mcs_conn_write_raw(c, s, len);
    }
    if (ret < 0)
        luaL_error(L, "out of memory");
}

static int mcslib_write(lua_State *L)
{
    write_value(L, need_conn(L, "write"), 1);
    return 0;
}

static int mcslib_write_factory(lua_State *L)
{
    factory_write(L, need_conn(L, "write_factory"), 1);
    return 0;
}

/* Waits on conn for why, resuming in k(ctx), which carries the call on. */
static int wait_conn(lua_State *L, struct mcs_conn *c, enum mcs_conn_wait why,
                     lua_KFunction k, lua_KContext ctx)
{
    struct mcs_co *co = mcs_lctx(L)->co;
    c->waiter = co;
    c->wait = why;
    co->state = MCS_CO_WAIT_IO;
    return lua_yieldk(L, 0, ctx, k);
}

/* A standard workload's connection failed: yield, and the worker resets
 * the coroutine and reconnects. A custom client gets nil, message. */
static int conn_failed(lua_State *L, struct mcs_conn *c, int err, bool custom)
{
    if (!custom)
        return lua_yield(L, 0);
    (void)c;
    return push_errno(L, err);
}

static int flush_conn(lua_State *L, struct mcs_conn *c, bool custom)
{
    int ret = mcs_conn_flush(c);
    if (ret < 0)
        return conn_failed(L, c, ret, custom);
    lua_pushboolean(L, 1);
    return 1;
}

static int mcslib_flush(lua_State *L)
{
    return flush_conn(L, need_conn(L, "flush"), false);
}

/* --- reading --- */

static void res_store(lua_State *L, struct mcs_resud *ru, struct mcs_conn *c,
                      const struct mcs_res *r, const char *base)
{
    size_t need = r->line_len + 1;
    if (need > ru->line_cap) {
        char *nl = ru->line == ru->inline_line ? NULL : ru->line;
        nl = realloc(nl, need);
        if (nl == NULL)
            luaL_error(L, "out of memory");
        ru->line = nl;
        ru->line_cap = need;
    }
    memcpy(ru->line, base, r->line_len);
    ru->line[r->line_len] = '\0';
    ru->r = *r;
    ru->conn = c;
    ru->gen = c->gen;
    ru->base = base;
    ru->rtime_ns = c->rtime_ns;
    ru->ntok = -1;
}

static struct mcs_resud *res_alloc(lua_State *L)
{
    struct mcs_resud *ru = lua_newuserdatauv(L, sizeof(*ru), 1);
    memset(ru, 0, sizeof(*ru));
    ru->tag = TAG_RES;
    ru->line = ru->inline_line;
    ru->line_cap = RES_LINE_INLINE;
    ru->ntok = -1;
    luaL_setmetatable(L, MT_RES);
    return ru;
}

/* Reads `left` responses (counted and timed as ever) and keeps the last in
 * the response at ridx (pushed by the caller). */
static int read_conn(lua_State *L, struct mcs_conn *c, int ridx, bool custom,
                     lua_KFunction k, lua_KContext left)
{
    struct mcs_resud *ru = check_tagged(L, ridx, TAG_RES, MT_RES);
    struct mcs_res r;
    const char *base;
    for (;;) {
        int ret = mcs_conn_read(c, &r, &base);
        if (ret == 1)
            return wait_conn(L, c, MCS_WAIT_READ, k, left);
        if (ret < 0)
            return conn_failed(L, c, ret, custom);
        if (--left <= 0)
            break;
    }
    res_store(L, ru, c, &r, base);
    lua_pushvalue(L, ridx);
    return 1;
}

static int read_k(lua_State *L, int status, lua_KContext left)
{
    (void)status;
    return read_conn(L, need_conn(L, "read"), 1, false, read_k, left);
}

/* read([res [, n]]) -> res: the n-th response from here (default 1) */
static int mcslib_read(lua_State *L)
{
    need_conn(L, "read");
    lua_Integer n = luaL_optinteger(L, 2, 1);
    luaL_argcheck(L, n >= 1, 2, "the number of responses must be at least 1");
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        res_alloc(L);
    }
    lua_settop(L, 1);
    return read_k(L, LUA_OK, (lua_KContext)n);
}

static int mcslib_disconnect(lua_State *L)
{
    mcs_conn_close(need_conn(L, "disconnect"));
    return 0;
}

/* --- custom clients --- */

static int mcslib_client_new(lua_State *L)
{
    struct mcs_lctx *lc = mcs_lctx(L);
    mcs_lua_need_co(L, "client_new");
    const char *host = lc->run->default_host, *port = lc->run->default_port;
    const char *sock = lc->run->default_sock; /* unless host/port are given */
    int tls = -1; /* the default target's choice */
    if (lua_istable(L, 1)) {
        if (lua_getfield(L, 1, "tls") != LUA_TNIL)
            tls = lua_toboolean(L, -1);
        if (lua_getfield(L, 1, "host") != LUA_TNIL) {
            host = luaL_tolstring(L, -1, NULL);
            sock = NULL;
        }
        if (lua_getfield(L, 1, "port") != LUA_TNIL) {
            port = luaL_tolstring(L, -1, NULL);
            sock = NULL;
        }
        if (lua_getfield(L, 1, "sock") != LUA_TNIL)
            sock = luaL_tolstring(L, -1, NULL);
    }
    struct mcs_client *c = lua_newuserdatauv(L, sizeof(*c), 0);
    memset(c, 0, sizeof(*c));
    luaL_setmetatable(L, MT_CLIENT);
    char err[256];
    int ret = sock ? mcs_target_unix(&c->target, sock, err, sizeof(err))
                   : mcs_target_resolve(&c->target, host, port, err, sizeof(err));
    if (ret < 0)
        return luaL_error(L, "mcs.client_new: %s", err);
    if (tls == 1 || (tls == -1 && lc->run->target.tp != NULL)) {
        c->target.tls = mcs_tls_ctx_new(lc->run->tls_opts, host, err, sizeof(err));
        if (c->target.tls == NULL)
            return luaL_error(L, "mcs.client_new: TLS: %s", err);
        c->target.tp = mcs_tls_transport();
    }
    c->conn = mcs_conn_new(lc->w, &c->target, &lc->co->slot->cur);
    if (c->conn == NULL)
        return luaL_error(L, "out of memory");
    c->conn->validate = lc->co->slot->opts.validate;
    return 1;
}

static int client_gc(lua_State *L)
{
    struct mcs_client *c = luaL_checkudata(L, 1, MT_CLIENT);
    mcs_conn_release(c->conn);
    c->conn = NULL;
    /* an SSL still in flight holds its own reference to the SSL_CTX */
    mcs_tls_ctx_free(c->target.tls);
    c->target.tls = NULL;
    return 0;
}

/* ctx 0: start a connect once the old socket's I/O is gone; ctx 1: the
 * connect (and handshake) ended. Returns true, or false and the reason. */
static int client_connect_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    struct mcs_conn *c = check_client(L, 1)->conn;
    if (ctx == 0) {
        if (!mcs_conn_idle(c))
            return wait_conn(L, c, MCS_WAIT_IDLE, client_connect_k, 0);
        int ret = mcs_conn_connect(c, NULL);
        if (ret < 0) {
            lua_pushboolean(L, 0);
            lua_pushstring(L, strerror(-ret));
            return 2;
        }
        return wait_conn(L, c, MCS_WAIT_CONNECT, client_connect_k, 1);
    }
    if (c->state == MCS_CONN_OPEN) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, 0);
    lua_pushstring(L, strerror(-(c->err ? c->err : -ENOTCONN)));
    return 2;
}

/* client_connect(c) -> true | false, reason; reconnects when connected. */
static int mcslib_client_connect(lua_State *L)
{
    struct mcs_client *c = check_client(L, 1);
    if (c->conn->state == MCS_CONN_OPEN)
        mcs_conn_close(c->conn);
    return client_connect_k(L, LUA_OK, 0);
}

static int mcslib_client_disconnect(lua_State *L)
{
    mcs_conn_close(check_client(L, 1)->conn);
    return 0;
}

static int mcslib_client_connected(lua_State *L)
{
    lua_pushboolean(L, check_client(L, 1)->conn->state == MCS_CONN_OPEN);
    return 1;
}

static int mcslib_client_write(lua_State *L)
{
    write_value(L, check_client(L, 1)->conn, 2);
    return 0;
}

static int mcslib_client_write_factory(lua_State *L)
{
    factory_write(L, check_client(L, 1)->conn, 2);
    return 0;
}

static int mcslib_client_flush(lua_State *L)
{
    return flush_conn(L, check_client(L, 1)->conn, true);
}

static int client_read_k(lua_State *L, int status, lua_KContext left)
{
    (void)status;
    return read_conn(L, check_client(L, 1)->conn, 2, true, client_read_k, left);
}

/* client_read(c [, res]) -> res | nil, err */
static int mcslib_client_read(lua_State *L)
{
    check_client(L, 1);
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        res_alloc(L);
    }
    lua_settop(L, 2);
    /* the response keeps its client alive while it points into its buffer */
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, 2, 1);
    return client_read_k(L, LUA_OK, 1);
}

static int client_readline_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    struct mcs_conn *c = check_client(L, 1)->conn;
    const char *line;
    size_t len;
    int ret = mcs_conn_readline(c, &line, &len);
    if (ret == 1)
        return wait_conn(L, c, MCS_WAIT_READ, client_readline_k, 0);
    if (ret < 0)
        return push_errno(L, ret);
    lua_pushlstring(L, line, len);
    return 1;
}

static int mcslib_client_readline(lua_State *L)
{
    lua_settop(L, 1);
    return client_readline_k(L, LUA_OK, 0);
}

/* --- responses --- */

static struct mcs_resud *check_res(lua_State *L, int idx)
{
    return check_tagged(L, idx, TAG_RES, MT_RES);
}

static void res_tokenize(struct mcs_resud *ru)
{
    if (ru->ntok < 0)
        ru->ntok = mcs_tokenize(ru->line, ru->r.line_len, ru->toff, ru->tlen,
                                RES_MAX_TOKENS);
}

/* The value of a fresh response; NULL when the buffer moved on. */
static const char *res_value(lua_State *L, struct mcs_resud *ru, const char *fn)
{
    if (ru->r.vlen < 0)
        return NULL;
    if (ru->conn == NULL || ru->gen != ru->conn->gen)
        luaL_error(L, "mcs.%s: the response's value is gone (read again "
                      "after this response's use)", fn);
    return ru->base + ru->r.value_off;
}

static int mcslib_res_new(lua_State *L)
{
    res_alloc(L);
    return 1;
}

static int mcslib_resline(lua_State *L)
{
    struct mcs_resud *ru = check_res(L, 1);
    lua_pushlstring(L, ru->line, ru->r.line_len);
    return 1;
}

static int mcslib_res_startswith(lua_State *L)
{
    struct mcs_resud *ru = check_res(L, 1);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    lua_pushboolean(L, len <= ru->r.line_len && memcmp(ru->line, s, len) == 0);
    return 1;
}

static int mcslib_res_len(lua_State *L)
{
    struct mcs_resud *ru = check_res(L, 1);
    lua_pushinteger(L, ru->r.consumed);
    return 1;
}

/* Number of tokens after the first (the original's count). */
static int mcslib_res_ntokens(lua_State *L)
{
    struct mcs_resud *ru = check_res(L, 1);
    res_tokenize(ru);
    lua_pushinteger(L, ru->ntok > 0 ? ru->ntok - 1 : 0);
    return 1;
}

static int mcslib_res_token(lua_State *L)
{
    struct mcs_resud *ru = check_res(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    res_tokenize(ru);
    if (n < 1 || n > ru->ntok)
        return 0;
    lua_pushlstring(L, ru->line + ru->toff[n - 1], ru->tlen[n - 1]);
    return 1;
}

static int mcslib_res_split(lua_State *L)
{
    struct mcs_resud *ru = check_res(L, 1);
    res_tokenize(ru);
    lua_createtable(L, ru->ntok, 0);
    for (int i = 0; i < ru->ntok; i++) {
        lua_pushlstring(L, ru->line + ru->toff[i], ru->tlen[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* Index of the token holding meta flag f, or -1. */
static int res_find_flag(struct mcs_resud *ru, char f)
{
    res_tokenize(ru);
    int first = ru->r.type == MCS_RES_VA ? 2 : 1; /* skip "VA <size>" */
    for (int i = first; i < ru->ntok; i++)
        if (ru->line[ru->toff[i]] == f)
            return i;
    return -1;
}

static int mcslib_res_hasflag(lua_State *L)
{
    struct mcs_resud *ru = check_res(L, 1);
    const char *f = luaL_checkstring(L, 2);
    lua_pushboolean(L, res_find_flag(ru, f[0]) >= 0);
    return 1;
}

/* res_flagtoken(res, "f") -> true [, value] | false */
static int mcslib_res_flagtoken(lua_State *L)
{
    struct mcs_resud *ru = check_res(L, 1);
    const char *f = luaL_checkstring(L, 2);
    int i = res_find_flag(ru, f[0]);
    lua_pushboolean(L, i >= 0);
    if (i < 0 || ru->tlen[i] < 2)
        return 1;
    lua_pushlstring(L, ru->line + ru->toff[i] + 1, ru->tlen[i] - 1);
    return 2;
}

static int mcslib_res_statname(lua_State *L)
{
    struct mcs_resud *ru = check_res(L, 1);
    lua_pushlstring(L, ru->line + ru->r.name_off, ru->r.name_len);
    return 1;
}

static int mcslib_res_stat(lua_State *L)
{
    struct mcs_resud *ru = check_res(L, 1);
    lua_pushlstring(L, ru->line + ru->r.stat_off, ru->r.stat_len);
    return 1;
}

/* res_type(res) -> "VALUE", "HD", "EN", ... */
static int mcslib_res_type(lua_State *L)
{
    lua_pushstring(L, mcs_res_type_name(check_res(L, 1)->r.type));
    return 1;
}

/* res_value(res) -> the value as a string, or nil */
static int mcslib_res_value(lua_State *L)
{
    struct mcs_resud *ru = check_res(L, 1);
    const char *v = res_value(L, ru, "res_value");
    if (v == NULL) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushlstring(L, v, ru->r.vlen);
    return 1;
}

/* match(req, res) -> ok, elapsed_us: the value is the one generated for
 * the request's key; elapsed from the request's write to the response. */
static int mcslib_match(lua_State *L)
{
    uint64_t hash, t_ns;
    struct mcs_req *r = test_tagged(L, 1, TAG_REQ);
    if (r) {
        hash = r->hash;
        t_ns = r->t_ns;
    } else {
        struct mcs_factory *f = check_tagged(L, 1, TAG_FACTORY, MT_FACTORY);
        factory_hash(f);
        hash = f->hash;
        t_ns = f->t_ns;
    }
    struct mcs_resud *ru = check_res(L, 2);
    const char *v = res_value(L, ru, "match");
    bool ok = v == NULL || mcs_value_check(v, (uint32_t)ru->r.vlen, hash);
    lua_pushboolean(L, ok);
    lua_pushinteger(L, ru->rtime_ns > t_ns ? (ru->rtime_ns - t_ns) / 1000 : 0);
    return 2;
}

static int res_gc(lua_State *L)
{
    struct mcs_resud *ru = luaL_checkudata(L, 1, MT_RES);
    if (ru->line != ru->inline_line)
        free(ru->line);
    ru->line = ru->inline_line;
    return 0;
}

/* client_write_mgres_to_ms(res, client): turns an "mg ... v k" hit into an
 * "ms" of the same key and value (f -> F, t -> T, O kept) on client. */
static int mcslib_client_write_mgres_to_ms(lua_State *L)
{
    struct mcs_resud *ru = check_res(L, 1);
    struct mcs_conn *c = check_client(L, 2)->conn;
    if (ru->r.type != MCS_RES_VA) {
        lua_pushboolean(L, 0);
        return 1;
    }
    const char *v = res_value(L, ru, "client_write_mgres_to_ms");
    int k = res_find_flag(ru, 'k');
    if (k < 0)
        return luaL_error(L, "mcs.client_write_mgres_to_ms: response has no k flag");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "ms ");
    luaL_addlstring(&b, ru->line + ru->toff[k] + 1, ru->tlen[k] - 1);
    lua_pushfstring(L, " %I", (lua_Integer)ru->r.vlen);
    luaL_addvalue(&b);
    for (int i = 2; i < ru->ntok; i++) {
        const char *t = ru->line + ru->toff[i];
        char rename = t[0] == 'f' ? 'F' : t[0] == 't' ? 'T' : t[0] == 'O' ? 'O' : 0;
        if (!rename)
            continue;
        luaL_addchar(&b, ' ');
        luaL_addchar(&b, rename);
        if (t[0] == 't' && t[1] == '-')
            luaL_addchar(&b, '0'); /* no expiry */
        else
            luaL_addlstring(&b, t + 1, ru->tlen[i] - 1);
    }
    luaL_addstring(&b, " q ME\r\n");
    luaL_addlstring(&b, v, ru->r.vlen);
    luaL_addstring(&b, "\r\n");
    luaL_pushresult(&b);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (mcs_conn_write_raw(c, s, len) < 0)
        return luaL_error(L, "out of memory");
    lua_pushboolean(L, 1);
    return 1;
}

/* --- registration --- */

const luaL_Reg mcs_io_funcs[] = {
    { "get", mcslib_get }, { "gets", mcslib_gets }, { "gat", mcslib_gat },
    { "gats", mcslib_gats }, { "set", mcslib_set }, { "add_req", mcslib_add_req },
    { "replace", mcslib_replace }, { "append", mcslib_append },
    { "prepend", mcslib_prepend }, { "cas", mcslib_cas }, { "delete", mcslib_delete },
    { "incr", mcslib_incr }, { "decr", mcslib_decr }, { "touch", mcslib_touch },
    { "stats", mcslib_stats }, { "version", mcslib_version },
    { "flush_all", mcslib_flush_all }, { "verbosity", mcslib_verbosity },
    { "mg", mcslib_mg }, { "ms", mcslib_ms }, { "md", mcslib_md }, { "ma", mcslib_ma },
    { "mn", mcslib_mn }, { "me", mcslib_me }, { "mg_factory", mcslib_mg_factory },
    { "ms_factory", mcslib_ms_factory }, { "md_factory", mcslib_md_factory },
    { "ma_factory", mcslib_ma_factory }, { "get_factory", mcslib_get_factory },
    { "set_factory", mcslib_set_factory }, { "delete_factory", mcslib_delete_factory },
    { "touch_factory", mcslib_touch_factory }, { "write", mcslib_write },
    { "write_factory", mcslib_write_factory }, { "flush", mcslib_flush },
    { "read", mcslib_read }, { "disconnect", mcslib_disconnect },
    { "res_new", mcslib_res_new }, { "resline", mcslib_resline },
    { "res_startswith", mcslib_res_startswith }, { "res_ntokens", mcslib_res_ntokens },
    { "res_token", mcslib_res_token }, { "res_split", mcslib_res_split },
    { "res_hasflag", mcslib_res_hasflag }, { "res_flagtoken", mcslib_res_flagtoken },
    { "res_stat", mcslib_res_stat }, { "res_statname", mcslib_res_statname },
    { "res_len", mcslib_res_len }, { "res_type", mcslib_res_type },
    { "res_value", mcslib_res_value }, { "match", mcslib_match },
    { "client_new", mcslib_client_new }, { "client_connect", mcslib_client_connect },
    { "client_disconnect", mcslib_client_disconnect },
    { "client_connected", mcslib_client_connected },
    { "client_read", mcslib_client_read },
    { "client_readline", mcslib_client_readline },
    { "client_write", mcslib_client_write },
    { "client_write_factory", mcslib_client_write_factory },
    { "client_flush", mcslib_client_flush },
    { "client_write_mgres_to_ms", mcslib_client_write_mgres_to_ms },
    { NULL, NULL }
};

static void new_metatable(lua_State *L, const char *name, lua_CFunction gc)
{
    luaL_newmetatable(L, name);
    if (gc) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
}

void mcs_lua_io_metatables(lua_State *L)
{
    new_metatable(L, MT_REQ, NULL);
    new_metatable(L, MT_FACTORY, NULL);
    new_metatable(L, MT_RES, res_gc);
    new_metatable(L, MT_CLIENT, client_gc);
}
