/* luaopen_collate_core: the function table. Every function shares one upvalue, a private cjson
 * instance, so our settings never leak into (or depend on) the application's cjson. */
#include "core.h"

static int call_json(lua_State *L, int cjson_idx, const char *fn, int nargs) {
  /* stack: args...; returns 1 with the result, or 0 with the message */
  lua_getfield(L, cjson_idx, fn);
  lua_insert(L, -(nargs + 1));
  if (lua_pcall(L, nargs, 1, 0) != 0) {
    if (lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 1);
      lua_pushstring(L, "JSON error");
    }
    return 0;
  }
  return 1;
}

int collate_json_decode(lua_State *L, int cjson_idx, const char *s, size_t len) {
  cjson_idx = lua_absindex(L, cjson_idx);
  lua_pushlstring(L, s, len);
  return call_json(L, cjson_idx, "decode", 1);
}

static const luaL_Reg functions[] = {
  {"build_request", collate_l_build_request},
  {"to_wire", collate_l_to_wire},
  {"from_wire", collate_l_from_wire},
  {"parse_response", collate_l_parse_response},
  {"quote_if_match", collate_l_quote_if_match},
  {"retryable", collate_l_retryable},
  {"transport_retryable", collate_l_transport_retryable},
  {"backoff", collate_l_backoff},
  {"parse_retry_after", collate_l_parse_retry_after},
  {"uuid4", collate_l_uuid4},
  {"redact", collate_l_redact},
  {"sleep", collate_l_sleep},
  {"now", collate_l_now},
  {"http", collate_l_http},
  {"multi", collate_l_multi},
  {NULL, NULL}
};

COLLATE_EXPORT int luaopen_collate_core(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "cjson");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "new");
  if (!lua_isfunction(L, -1)) return luaL_error(L, "collate.core: cjson.new is missing");
  lua_call(L, 0, 1);
  lua_remove(L, -2);
  /* the instance only decodes (json.c encodes); NaN, Infinity and hex are not JSON */
  lua_getfield(L, -1, "decode_invalid_numbers");
  if (lua_isfunction(L, -1)) {
    lua_pushboolean(L, 0);
    lua_call(L, 1, 0);
  } else {
    lua_pop(L, 1);
  }

  collate_http_register(L);
  collate_multi_register(L);

  lua_newtable(L);
  lua_insert(L, -2);
  luaL_setfuncs(L, functions, 1); /* pops the cjson instance */
  lua_pushliteral(L, COLLATE_VERSION);
  lua_setfield(L, -2, "VERSION");
  lua_pushstring(L, collate_curl_version());
  lua_setfield(L, -2, "curl_version");
  collate_routes_push(L);
  lua_setfield(L, -2, "routes");
  return 1;
}
