#include "fuzz_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "json.h"
#include "json_decode.h"

int luaopen_collate_core(lua_State *L);

static lua_State *state;
static int check_ref = LUA_NOREF;
static unsigned long calls;

static int l_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  const char *mode = luaL_optstring(L, 2, "normalise");
  enum collate_conv_mode m = strcmp(mode, "wire") == 0 ? COLLATE_FROM_WIRE : COLLATE_NORMALISE;
  int top;
  lua_settop(L, 2);
  top = lua_gettop(L);
  if (collate_json_decode(L, s, len, m)) {
    if (lua_gettop(L) != top + 1) return luaL_error(L, "decode left %d values", lua_gettop(L) - top);
    return 1;
  }
  if (lua_gettop(L) != top + 1 || lua_type(L, -1) != LUA_TSTRING)
    return luaL_error(L, "a failed decode must leave one message");
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

static int l_encode(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  if (collate_json_encode(L, 1)) return 1;
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

static const char *helpers =
  "local mt = math.type\n"
  "-- loose: a float and an integer of the same value beyond 2^53 are the same (from_wire turns\n"
  "-- the float -2^63 into math.mininteger; the decoder keeps -9223372036854775809 a float)\n"
  "function same(a, b, loose)\n"
  "  if type(a) ~= type(b) then return false end\n"
  "  if type(a) == 'number' then\n"
  "    if a ~= a and b ~= b then return true end\n"
  "    return a == b and (mt(a) == mt(b) or (loose and math.abs(a) >= 2^53))\n"
  "  end\n"
  "  if type(a) ~= 'table' then return a == b end\n"
  "  for k, v in pairs(a) do if not same(v, b[k], loose) then return false end end\n"
  "  for k in pairs(b) do if a[k] == nil then return false end end\n"
  "  return true\n"
  "end\n";

static int setup(lua_State *L) {
  const char *check = (const char *)lua_touserdata(L, 1);
  const char *name = (const char *)lua_touserdata(L, 2);
  luaL_openlibs(L);
  luaL_requiref(L, "collate.core", luaopen_collate_core, 0);
  lua_setglobal(L, "core");
  lua_register(L, "decode", l_decode);
  lua_register(L, "encode", l_encode);
  if (luaL_dostring(L, helpers) != LUA_OK) return lua_error(L);
  if (luaL_loadbuffer(L, check, strlen(check), name) != LUA_OK) return lua_error(L);
  lua_call(L, 0, 1);
  luaL_checktype(L, -1, LUA_TFUNCTION);
  check_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

lua_State *fuzz_state(const char *name, const char *check) {
  if (state != NULL) return state;
  state = luaL_newstate();
  if (state == NULL) abort();
  lua_pushcfunction(state, setup);
  lua_pushlightuserdata(state, (void *)check);
  lua_pushlightuserdata(state, (void *)name);
  if (lua_pcall(state, 2, 0, 0) != LUA_OK) {
    fprintf(stderr, "%s: cannot set up: %s\n", name, lua_tostring(state, -1));
    abort();
  }
  return state;
}

static int traceback(lua_State *L) {
  luaL_traceback(L, L, luaL_tolstring(L, 1, NULL), 1);
  return 1;
}

void fuzz_check(lua_State *L, const char **args, const size_t *lens, int nargs) {
  int i;
  lua_settop(L, 0);
  lua_pushcfunction(L, traceback);
  lua_rawgeti(L, LUA_REGISTRYINDEX, check_ref);
  for (i = 0; i < nargs; i++) lua_pushlstring(L, args[i], lens[i]);
  if (lua_pcall(L, nargs, 0, 1) != LUA_OK) {
    fprintf(stderr, "property failed: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_settop(L, 0);
  /* the state lives for the whole run: keep its heap near the live set */
  if (++calls % 256 == 0) lua_gc(L, LUA_GCCOLLECT, 0);
}
