/* lua_api.h: the mcs.* Lua library, for the config VM and worker VMs. */
#ifndef MCS_LUA_API_H
#define MCS_LUA_API_H

#include <lua.h>
#include "worker.h"

/* A fresh Lua state with the standard libraries and mcs.*; its extra space
 * points at lctx. NULL on ENOMEM. */
lua_State *mcs_lua_new(struct mcs_lctx *lctx);
/* Loads and runs the script (file or built-in text) in L. LUA_OK, or an
 * error status with the message ("file:line: ...") on the stack. */
int mcs_lua_load_script(lua_State *L, const struct mcs_run *run);
/* lua_pcall with a traceback handler. */
int mcs_lua_pcall(lua_State *L, int nargs, int nresults);
/* Pushes onto `to` a copy of the value at idx in `from` (tables deep,
 * strings, numbers, booleans). Other types become nil. */
void mcs_lua_copy(lua_State *from, int idx, lua_State *to);

#endif
