/* lua_io.h: the per-request half of the mcs.* library (lua_io.c):
 * requests, factories, connection I/O, responses and custom clients. */
#ifndef MCS_LUA_IO_H
#define MCS_LUA_IO_H

#include <lauxlib.h>
#include "worker.h"

/* Registered into the mcs table by mcs_lua_new. */
extern const luaL_Reg mcs_io_funcs[];
/* Creates the metatables of requests, factories, responses and clients. */
void mcs_lua_io_metatables(lua_State *L);
/* The running coroutine, or a Lua error naming fn outside one. */
struct mcs_co *mcs_lua_need_co(lua_State *L, const char *fn);

#endif
