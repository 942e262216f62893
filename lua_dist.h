/* lua_dist.h: mcs.key_dist, mcs.size_dist and mcs.seed (lua_dist.c). */
#ifndef MCS_LUA_DIST_H
#define MCS_LUA_DIST_H

#include <stdint.h>
#include <lauxlib.h>

/* Registered into the mcs table by mcs_lua_new. */
extern const luaL_Reg mcs_dist_funcs[];
/* Creates the metatables of the distribution objects. */
void mcs_lua_dist_metatables(lua_State *L);
/* The key number at idx: an integer, or the next draw of a key_dist there
 * (as kd:next()); otherwise a Lua error. */
lua_Integer mcs_lua_check_key(lua_State *L, int idx);
/* math.randomseed(seed, stream) in L. */
void mcs_lua_seed_random(lua_State *L, uint64_t seed, uint64_t stream);

#endif
