/* lua_dist.c: mcs.key_dist, mcs.size_dist and mcs.seed: dist.c's
 * distributions for scripts.  Each object carries its own random stream,
 * seeded from the run's seed and from who created it (thread, workload,
 * client, and how many it made before), so a seeded run repeats its keys
 * and sizes client by client. */
#include <string.h>
#include <lauxlib.h>

#include "dist.h"
#include "lua_dist.h"
#include "worker.h"

#define MT_KEY_DIST "mcs.key_dist"
#define MT_SIZE_DIST "mcs.size_dist"

/* A tag first, so the hot path checks a word instead of a metatable. */
enum { TAG_KEY_DIST = 0x6d636b64, TAG_SIZE_DIST = 0x6d637364 };

struct key_dist_ud {
    uint32_t tag;
    struct mcs_key_dist d;
    struct mcs_rng r;
};

struct size_dist_ud {
    uint32_t tag;
    struct mcs_size_dist d;
    struct mcs_rng r;
};

/* Our userdata of the given tag at idx, or a Lua error. */
static void *check_dist(lua_State *L, int idx, uint32_t tag, const char *mt)
{
    uint32_t *p = lua_touserdata(L, idx);
    if (p != NULL && lua_rawlen(L, idx) >= sizeof(uint32_t) && *p == tag)
        return p;
    return luaL_checkudata(L, idx, mt);
}

static uint64_t mix(uint64_t acc, uint64_t v)
{
    return (acc ^ v) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
}

/* Seeds r for a new object; *member and *members place the caller among
 * the clients of its workload (sequential:shared, latest). */
static void dist_seed(lua_State *L, struct mcs_rng *r, uint32_t *member, uint32_t *members)
{
    struct mcs_lctx *lc = mcs_lctx(L);
    struct mcs_co *co = lc->co ? lc->co : lc->w ? lc->w->init_co : NULL;
    uint64_t stream;
    *member = 0;
    *members = 1;
    if (co != NULL) {
        const struct mcs_wl_opts *o = &co->slot->opts;
        *members = (uint32_t)(o->clients * o->nthreads);
        *member = (uint32_t)(co->index * o->nthreads + o->thread_pos);
        stream = mix(mix(mix(mix(1, (uint64_t)co->slot->wl->phase), (uint64_t)co->slot->id),
                         *member), co->ndists++);
    } else {
        stream = mix(mix(2, lc->w ? (uint64_t)lc->w->id : UINT32_MAX), lc->ndists++);
    }
    mcs_rng_seed(r, lc->run->seed, stream);
}

/* key_dist(spec, nkeys) */
static int mcslib_key_dist(lua_State *L)
{
    const char *spec = luaL_checkstring(L, 1);
    lua_Integer nkeys = luaL_checkinteger(L, 2);
    luaL_argcheck(L, nkeys > 0, 2, "the number of keys must be at least 1");
    struct key_dist_ud *k = lua_newuserdatauv(L, sizeof(*k), 0);
    k->tag = TAG_KEY_DIST;
    char err[256];
    if (!mcs_key_dist_parse(&k->d, spec, (uint64_t)nkeys, err, sizeof(err)))
        return luaL_error(L, "mcs.key_dist: %s", err);
    uint32_t member, members;
    dist_seed(L, &k->r, &member, &members);
    mcs_key_dist_start(&k->d, member, members);
    luaL_setmetatable(L, MT_KEY_DIST);
    return 1;
}

/* kd:next(): a key number to read, 1..nkeys */
static int key_dist_next(lua_State *L)
{
    struct key_dist_ud *k = check_dist(L, 1, TAG_KEY_DIST, MT_KEY_DIST);
    lua_pushinteger(L, (lua_Integer)mcs_key_next(&k->d, &k->r) + 1);
    return 1;
}

/* kd:next_write(): a key number to write, 1..nkeys */
static int key_dist_next_write(lua_State *L)
{
    struct key_dist_ud *k = check_dist(L, 1, TAG_KEY_DIST, MT_KEY_DIST);
    lua_pushinteger(L, (lua_Integer)mcs_key_next_write(&k->d, &k->r) + 1);
    return 1;
}

/* size_dist(spec) */
static int mcslib_size_dist(lua_State *L)
{
    const char *spec = luaL_checkstring(L, 1);
    struct size_dist_ud *s = lua_newuserdatauv(L, sizeof(*s), 0);
    s->tag = TAG_SIZE_DIST;
    char err[256];
    if (!mcs_size_dist_parse(&s->d, spec, err, sizeof(err)))
        return luaL_error(L, "mcs.size_dist: %s", err);
    uint32_t member, members;
    dist_seed(L, &s->r, &member, &members);
    luaL_setmetatable(L, MT_SIZE_DIST);
    return 1;
}

/* sd:next(): a value size in bytes */
static int size_dist_next(lua_State *L)
{
    struct size_dist_ud *s = check_dist(L, 1, TAG_SIZE_DIST, MT_SIZE_DIST);
    lua_pushinteger(L, (lua_Integer)mcs_size_next(&s->d, &s->r));
    return 1;
}

lua_Integer mcs_lua_check_key(lua_State *L, int idx)
{
    uint32_t *p = lua_touserdata(L, idx);
    if (p != NULL && lua_rawlen(L, idx) >= sizeof(uint32_t) && *p == TAG_KEY_DIST) {
        struct key_dist_ud *k = (struct key_dist_ud *)p;
        return (lua_Integer)mcs_key_next(&k->d, &k->r) + 1;
    }
    return luaL_checkinteger(L, idx);
}

static int mcslib_seed(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)mcs_lctx(L)->run->seed);
    return 1;
}

const luaL_Reg mcs_dist_funcs[] = {
    { "key_dist", mcslib_key_dist }, { "size_dist", mcslib_size_dist },
    { "seed", mcslib_seed },
    { NULL, NULL }
};

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

void mcs_lua_dist_metatables(lua_State *L)
{
    static const luaL_Reg key_methods[] = {
        { "next", key_dist_next }, { "next_write", key_dist_next_write }, { NULL, NULL }
    };
    static const luaL_Reg size_methods[] = { { "next", size_dist_next }, { NULL, NULL } };
    new_class(L, MT_KEY_DIST, key_methods);
    new_class(L, MT_SIZE_DIST, size_methods);
}

void mcs_lua_seed_random(lua_State *L, uint64_t seed, uint64_t stream)
{
    lua_getglobal(L, "math");
    lua_getfield(L, -1, "randomseed");
    lua_pushinteger(L, (lua_Integer)seed);
    lua_pushinteger(L, (lua_Integer)stream);
    lua_call(L, 2, 0);
    lua_pop(L, 1);
}
