/* lua_api.c: the mcs.* library's frame: Lua states and script loading,
 * the config functions (thread, add, shredder) run in the config VM, time,
 * sleep, stop, the out stream between threads, and test output (TAP and
 * assertions). The per-request functions live in lua_io.c. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <lauxlib.h>
#include <lualib.h>

#include "asserts.h"
#include "lua_api.h"
#include "lua_io.h"
#include "lua_dist.h"

#define MT_THREAD "mcs.thread"

/* --- time, sleep, stop, out stream --- */

static int mcslib_time_millis(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)(mcs_now_ns() / 1000000));
    return 1;
}

static int mcslib_sleep_millis(lua_State *L)
{
    lua_Integer ms = luaL_checkinteger(L, 1);
    luaL_argcheck(L, ms >= 0, 1, "negative sleep");
    struct mcs_co *co = mcs_lctx(L)->co;
    if (co == NULL) { /* config VM: a plain sleep */
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
        nanosleep(&ts, NULL);
        return 0;
    }
    mcs_co_sleep(co, (uint64_t)ms);
    return lua_yield(L, 0);
}

static int mcslib_stop(lua_State *L)
{
    atomic_store(&mcs_lctx(L)->run->stop, 1);
    return 0;
}

static void out_append(struct mcs_out *o, const char *s, size_t len)
{
    if (o->used + len > o->size) {
        size_t n = o->size ? o->size : 4096;
        while (n < o->used + len)
            n *= 2;
        char *nb = realloc(o->buf, n);
        if (nb == NULL)
            return; /* the line is dropped; out is a debugging aid */
        o->buf = nb;
        o->size = n;
    }
    memcpy(o->buf + o->used, s, len);
    o->used += len;
}

/* out(a, b, ...) appends one tab-separated line; out({l1, l2}) one per item. */
static int mcslib_out(lua_State *L)
{
    struct mcs_out *o = &mcs_lctx(L)->run->out;
    luaL_Buffer b;
    int n = lua_gettop(L);
    luaL_buffinit(L, &b);
    if (n == 1 && lua_istable(L, 1)) {
        lua_Integer len = luaL_len(L, 1);
        for (lua_Integer i = 1; i <= len; i++) {
            lua_geti(L, 1, i);
            size_t l;
            const char *s = luaL_tolstring(L, -1, &l);
            lua_remove(L, -2);
            luaL_addvalue(&b);
            if (l == 0 || s[l - 1] != '\n')
                luaL_addchar(&b, '\n');
        }
    } else {
        for (int i = 1; i <= n; i++) {
            if (i > 1)
                luaL_addchar(&b, '\t');
            luaL_tolstring(L, i, NULL);
            luaL_addvalue(&b);
        }
        luaL_addchar(&b, '\n');
    }
    luaL_pushresult(&b);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    pthread_mutex_lock(&o->lock);
    out_append(o, s, len);
    eventfd_write(o->efd, 1);
    pthread_mutex_unlock(&o->lock);
    return 0;
}

/* out_readline() -> the oldest line, or nil when there is none. */
static int mcslib_out_readline(lua_State *L)
{
    struct mcs_out *o = &mcs_lctx(L)->run->out;
    pthread_mutex_lock(&o->lock);
    char *nl = o->used ? memchr(o->buf, '\n', o->used) : NULL;
    if (nl == NULL) {
        eventfd_t v;
        eventfd_read(o->efd, &v); /* empty: stop waking waiters */
        pthread_mutex_unlock(&o->lock);
        lua_pushnil(L);
        return 1;
    }
    size_t n = nl - o->buf;
    lua_pushlstring(L, o->buf, n);
    memmove(o->buf, nl + 1, o->used - n - 1);
    o->used -= n + 1;
    pthread_mutex_unlock(&o->lock);
    return 1;
}

static int mcslib_out_wait(lua_State *L)
{
    struct mcs_co *co = mcs_lua_need_co(L, "out_wait");
    struct mcs_out *o = &co->w->run->out;
    pthread_mutex_lock(&o->lock);
    size_t used = o->used;
    pthread_mutex_unlock(&o->lock);
    if (used)
        return 0;
    mcs_co_out_wait(co);
    return lua_yield(L, 0);
}

/* --- tests: TAP and assertions --- */

static struct mcs_run *need_config(lua_State *L, const char *fn);

static int mcslib_plan(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n > 0, 1, "the plan must be a positive number of tests");
    mcs_tap_plan(&mcs_lctx(L)->run->tap, (int)n);
    return 0;
}

/* ok(cond [, name]) -> cond */
static int mcslib_ok(lua_State *L)
{
    bool ok = lua_toboolean(L, 1);
    mcs_tap_ok(&mcs_lctx(L)->run->tap, ok, luaL_optstring(L, 2, NULL));
    lua_pushboolean(L, ok);
    return 1;
}

/* is(got, expected [, name]) -> equal; says what differed when not. */
static int mcslib_is(lua_State *L)
{
    struct mcs_tap *t = &mcs_lctx(L)->run->tap;
    bool ok = lua_compare(L, 1, 2, LUA_OPEQ);
    mcs_tap_ok(t, ok, luaL_optstring(L, 3, NULL));
    if (!ok) {
        lua_pushfstring(L, "     got: %s\nexpected: %s", luaL_tolstring(L, 1, NULL),
                        luaL_tolstring(L, 2, NULL));
        mcs_tap_diag(t, lua_tostring(L, -1));
    }
    lua_pushboolean(L, ok);
    return 1;
}

/* Pushes the arguments as tostring shows them, joined by sep. */
static const char *join_args(lua_State *L, char sep, size_t *len)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, sep);
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    return lua_tolstring(L, -1, len);
}

static int mcslib_diag(lua_State *L)
{
    mcs_tap_diag(&mcs_lctx(L)->run->tap, join_args(L, ' ', NULL));
    return 0;
}

/* assert(expr): checked against the results at the end, like --assert. */
static int mcslib_assert(lua_State *L)
{
    struct mcs_run *run = need_config(L, "assert");
    char err[256];
    struct mcs_assert *a = mcs_assert_parse(luaL_checkstring(L, 1), err, sizeof(err));
    if (a == NULL)
        return luaL_argerror(L, 1, err);
    struct mcs_assert **na = realloc(run->asserts, (run->nasserts + 1) * sizeof(*na));
    if (na == NULL) {
        free(a);
        return luaL_error(L, "out of memory");
    }
    run->asserts = na;
    run->asserts[run->nasserts++] = a;
    return 0;
}

/* --- config: threads, workloads, phases --- */

static struct mcs_run *need_config(lua_State *L, const char *fn)
{
    struct mcs_lctx *lc = mcs_lctx(L);
    if (lc->w != NULL)
        luaL_error(L, "mcs.%s can only be called from config()", fn);
    return lc->run;
}

static int mcslib_thread(lua_State *L)
{
    struct mcs_run *run = need_config(L, "thread");
    struct mcs_worker **ws = realloc(run->workers, (run->nworkers + 1) * sizeof(*ws));
    if (ws == NULL)
        return luaL_error(L, "out of memory");
    run->workers = ws;
    struct mcs_worker *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return luaL_error(L, "out of memory");
    run->workers[run->nworkers++] = w;
    if (mcs_worker_init(w, run, run->nworkers - 1) < 0) {
        const char *msg = w->L ? lua_tostring(w->L, -1) : "out of memory";
        lua_pushstring(L, msg ? msg : "?");
        return luaL_error(L, "mcs.thread: loading the script failed: %s", lua_tostring(L, -1));
    }
    struct mcs_worker **ud = lua_newuserdatauv(L, sizeof(*ud), 0);
    *ud = w;
    luaL_setmetatable(L, MT_THREAD);
    return 1;
}

/* Threads from a thread or a table of threads at idx; returns the count. */
static int check_threads(lua_State *L, int idx, struct mcs_worker **out, int max)
{
    if (lua_isuserdata(L, idx)) {
        out[0] = *(struct mcs_worker **)luaL_checkudata(L, idx, MT_THREAD);
        return 1;
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    int n = (int)luaL_len(L, idx);
    luaL_argcheck(L, n > 0, idx, "no threads given");
    luaL_argcheck(L, n <= max, idx, "too many threads");
    for (int i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        struct mcs_worker **ud = luaL_testudata(L, -1, MT_THREAD);
        if (ud == NULL)
            luaL_argerror(L, idx, "expected a table of mcs.thread() objects");
        out[i - 1] = *ud;
        lua_pop(L, 1);
    }
    return n;
}

static lua_Integer opt_field(lua_State *L, int t, const char *name, lua_Integer def,
                             lua_Integer min)
{
    lua_Integer v = def;
    if (lua_getfield(L, t, name) != LUA_TNIL) {
        int isnum;
        v = lua_tointegerx(L, -1, &isnum);
        if (!isnum)
            luaL_error(L, "option '%s' must be an integer", name);
        if (v < min)
            luaL_error(L, "option '%s' must be at least %d", name, (int)min);
    }
    lua_pop(L, 1);
    return v;
}

/* The target for a "tls" option at index t: nil keeps the default. */
static const struct mcs_target *opt_target(lua_State *L, int t, struct mcs_run *run)
{
    int type = lua_getfield(L, t, "tls");
    bool tls = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (type == LUA_TNIL)
        return &run->target;
    if (!tls)
        return &run->plain_target;
    if (run->tls_target.tls == NULL)
        luaL_error(L, "option tls=true needs TLS set up: give --tls or another --tls-* option");
    return &run->tls_target;
}

/* Reads mcs.add's options table for nthreads threads. */
static void parse_wl_opts(lua_State *L, int t, int nthreads, struct mcs_wl_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->target = opt_target(L, t, mcs_lctx(L)->run);
    lua_Integer clients = opt_field(L, t, "clients", 1, 1);
    o->clients = (int)(clients / nthreads > 0 ? clients / nthreads : 1);
    /* As in the original: no rate_limit means one run per second per
     * client; 0 means as fast as the server answers. */
    lua_Integer rate = opt_field(L, t, "rate_limit", -1, 0);
    lua_Integer period_ms = opt_field(L, t, "rate_period", 1000, 1);
    double period_ns = (double)period_ms * 1e6;
    if (rate < 0)
        o->period_ns = (uint64_t)period_ns;
    else if (rate > 0)
        o->period_ns = (uint64_t)(period_ns * o->clients * nthreads / (double)rate);
    if (o->period_ns == 0 && rate != 0)
        o->period_ns = 1;
    o->start_step_ns = o->period_ns / o->clients;
    if (lua_getfield(L, t, "arrival") != LUA_TNIL) {
        const char *a = lua_tostring(L, -1);
        if (a == NULL || (strcmp(a, "poisson") != 0 && strcmp(a, "uniform") != 0))
            luaL_error(L, "option 'arrival' must be \"uniform\" or \"poisson\"");
        o->poisson = strcmp(a, "poisson") == 0;
    }
    lua_pop(L, 1);
    o->reconn_every = (uint32_t)opt_field(L, t, "reconn_every", 0, 0);
    lua_getfield(L, t, "validate");
    o->validate = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_Integer limit = opt_field(L, t, "limit", 0, 0);
    if (limit > 0)
        o->limit = limit / nthreads > 0 ? limit / nthreads : 1;
}

static struct mcs_workload *workload_new(lua_State *L, struct mcs_run *run,
                                         const char *name)
{
    struct mcs_workload *wl = calloc(1, sizeof(*wl));
    if (wl == NULL || (wl->name = strdup(name)) == NULL)
        luaL_error(L, "out of memory");
    wl->phase = run->phase + 1;
    mcs_stats_init(&wl->interval);
    mcs_stats_init(&wl->total);
    *run->wl_tail = wl;
    run->wl_tail = &wl->next;
    run->nworkloads++;
    return wl;
}

static int add_workload(lua_State *L, bool custom)
{
    struct mcs_run *run = need_config(L, custom ? "add_custom" : "add");
    struct mcs_worker *ws[256];
    int n = check_threads(L, 1, ws, 256);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (lua_getfield(L, 2, "func") != LUA_TSTRING)
        return luaL_error(L, "mcs.%s: option 'func' (a global function's name) is required",
                          custom ? "add_custom" : "add");
    const char *name = lua_tostring(L, -1);
    struct mcs_wl_opts o;
    bool init = false;
    if (custom) {
        memset(&o, 0, sizeof(o));
        o.clients = 1;
        o.custom = true;
        o.target = &run->target;
    } else {
        parse_wl_opts(L, 2, n, &o);
        lua_getfield(L, 2, "init");
        init = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    struct mcs_workload *wl = workload_new(L, run, name);
    wl->custom = custom;
    if (o.period_ns) /* the schedule's total rate of runs */
        wl->target_runs_per_s = 1e9 * o.clients * n / (double)o.period_ns;
    wl->limit_runs = (uint64_t)o.limit * o.clients * n;
    int arg = lua_isnoneornil(L, 3) ? 0 : 3;
    o.nthreads = n;
    for (int i = 0; i < n; i++) {
        o.thread_pos = i;
        mcs_worker_add(ws[i], L, wl, &o, arg, init);
    }
    return 0;
}

static int mcslib_add(lua_State *L) { return add_workload(L, false); }
static int mcslib_add_custom(lua_State *L) { return add_workload(L, true); }

/* shredder(threads [, seconds]): runs a phase; returns when it is over. */
static int mcslib_shredder(lua_State *L)
{
    struct mcs_run *run = need_config(L, "shredder");
    struct mcs_worker *ws[256];
    int n = check_threads(L, 1, ws, 256);
    double secs = luaL_optnumber(L, 2, 0);
    luaL_argcheck(L, secs >= 0, 2, "negative duration");
    mcs_phase_run(run, ws, n, secs);
    return 0;
}

/* --- registration --- */

static const luaL_Reg mcs_funcs[] = {
    { "thread", mcslib_thread }, { "add", mcslib_add }, { "run", mcslib_add },
    { "add_custom", mcslib_add_custom }, { "shredder", mcslib_shredder },
    { "sleep_millis", mcslib_sleep_millis }, { "time_millis", mcslib_time_millis },
    { "stop", mcslib_stop }, { "out", mcslib_out }, { "out_wait", mcslib_out_wait },
    { "out_readline", mcslib_out_readline }, { "plan", mcslib_plan },
    { "ok", mcslib_ok }, { "is", mcslib_is }, { "diag", mcslib_diag },
    { "assert", mcslib_assert },
    { NULL, NULL }
};

/* print() as Lua's, but a whole line in one write: worker threads print
 * from their own VMs at once, and Lua's print writes each argument and the
 * newline separately, so their lines would interleave mid-line. */
static int line_print(lua_State *L)
{
    size_t len;
    const char *line = join_args(L, '\t', &len);
    flockfile(stdout);
    fwrite(line, 1, len, stdout);
    putc_unlocked('\n', stdout);
    fflush(stdout);
    funlockfile(stdout);
    return 0;
}

lua_State *mcs_lua_new(struct mcs_lctx *lctx)
{
    lua_State *L = luaL_newstate();
    if (L == NULL)
        return NULL;
    *(struct mcs_lctx **)lua_getextraspace(L) = lctx;
    luaL_openlibs(L);
    lua_register(L, "print", line_print);
    luaL_newmetatable(L, MT_THREAD);
    lua_pop(L, 1);
    mcs_lua_io_metatables(L);
    mcs_lua_dist_metatables(L);
    luaL_newlib(L, mcs_funcs);
    luaL_setfuncs(L, mcs_io_funcs, 0);
    luaL_setfuncs(L, mcs_dist_funcs, 0);
    if (lctx->run->seed_given) /* math.random repeats too */
        mcs_lua_seed_random(L, lctx->run->seed, lctx->w ? (uint64_t)lctx->w->id + 1 : 0);
    lua_setglobal(L, "mcs");
    return L;
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL)
        msg = luaL_tolstring(L, 1, NULL);
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int mcs_lua_pcall(lua_State *L, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    return status;
}

/* require() looks beside the script first: DIR/?.lua and DIR/lib/?.lua,
 * so a script can share code with its neighbours (scripts/lib/). */
static void add_script_dir_to_path(lua_State *L, const char *script_path)
{
    const char *slash = strrchr(script_path, '/');
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    if (slash)
        lua_pushlstring(L, script_path, slash - script_path);
    else
        lua_pushliteral(L, ".");
    const char *dir = lua_tostring(L, -1);
    lua_pushfstring(L, "%s/?.lua;%s/lib/?.lua;%s", dir, dir, lua_tostring(L, -2));
    lua_setfield(L, -4, "path");
    lua_pop(L, 3);
}

int mcs_lua_load_script(lua_State *L, const struct mcs_run *run)
{
    if (run->script_path)
        add_script_dir_to_path(L, run->script_path);
    int status = run->script_path
        ? luaL_loadfile(L, run->script_path)
        : luaL_loadbuffer(L, run->script_text, strlen(run->script_text), "=default.lua");
    if (status != LUA_OK)
        return status;
    return mcs_lua_pcall(L, 0, 0);
}

/* Tables nested deeper than this are taken for a cycle. */
#define MCS_COPY_DEPTH 64

static void copy_value(lua_State *from, int idx, lua_State *to, int depth);

void mcs_lua_copy(lua_State *from, int idx, lua_State *to)
{
    copy_value(from, idx, to, 0);
}

static void copy_value(lua_State *from, int idx, lua_State *to, int depth)
{
    if (depth > MCS_COPY_DEPTH)
        luaL_error(from, "argument table nests more than %d deep (a cycle?)", MCS_COPY_DEPTH);
    idx = lua_absindex(from, idx);
    luaL_checkstack(from, 4, "copying a table");
    luaL_checkstack(to, 4, "copying a table");
    switch (lua_type(from, idx)) {
    case LUA_TBOOLEAN:
        lua_pushboolean(to, lua_toboolean(from, idx));
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(from, idx))
            lua_pushinteger(to, lua_tointeger(from, idx));
        else
            lua_pushnumber(to, lua_tonumber(from, idx));
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(from, idx, &len);
        lua_pushlstring(to, s, len);
        break;
    }
    case LUA_TTABLE:
        lua_newtable(to);
        lua_pushnil(from);
        while (lua_next(from, idx) != 0) {
            copy_value(from, -2, to, depth + 1);
            copy_value(from, -1, to, depth + 1);
            if (lua_isnil(to, -2))
                lua_pop(to, 2); /* a key that cannot be copied */
            else
                lua_rawset(to, -3);
            lua_pop(from, 1);
        }
        break;
    default:
        lua_pushnil(to);
    }
}
