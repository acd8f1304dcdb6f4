/* The few Lua 5.1 / LuaJIT 2.1 differences the core depends on; nothing else in src/core may use
 * an API newer than 5.1 without a shim here (luvit/luv src/luv.h does the same in a few lines). */
#ifndef COLLATE_COMPAT_H
#define COLLATE_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
#define lua_rawlen(L, i) lua_objlen((L), (i))
#define lua_absindex(L, i) \
  (((i) > 0 || (i) <= LUA_REGISTRYINDEX) ? (i) : lua_gettop(L) + (i) + 1)
/* luaL_setfuncs for 5.1: every function gets the nup values below the table as upvalues. */
static inline void collate_compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  luaL_checkstack(L, nup + 1, "too many upvalues");
  for (; l->name != NULL; l++) {
    int i;
    for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}
#define luaL_setfuncs(L, l, n) collate_compat_setfuncs((L), (l), (n))
#endif

/* Integers: 5.3+ has a separate integer subtype; on 5.1 every number is a double. */
#if LUA_VERSION_NUM >= 503
#define collate_isinteger(L, i) lua_isinteger((L), (i))
#define COLLATE_HAS_INTEGERS 1
#else
#define collate_isinteger(L, i) 0
#define COLLATE_HAS_INTEGERS 0
#endif

/* Only luaopen_collate_core leaves the shared object (the build uses -fvisibility=hidden). */
#define COLLATE_EXPORT __attribute__((visibility("default")))

#endif
