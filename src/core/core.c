/* luaopen_collate_core: the function table. The core needs no other Lua module: responses are
 * decoded by json_decode.c, request bodies encoded by json.c. */
#include "core.h"

/* The core's one failure shape, `nil, kind, message` (plus an optional code from a transfer):
 * request.c's checks report `nil, message`, always an invalid argument; the kind is added here
 * once rather than at each of its refusals. */
static int l_build_request(lua_State *L) {
  int n = collate_l_build_request(L);
  if (n == 2 && lua_isnil(L, -2)) {
    lua_pushliteral(L, "invalid_argument");
    lua_insert(L, -2);
    return 3;
  }
  return n;
}

static const luaL_Reg functions[] = {
  {"build_request", l_build_request},
  {"check_headers", collate_l_check_headers},
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
  {"check_base_url", collate_l_check_base_url},
  {"check_proxy_url", collate_l_check_proxy_url},
  {"split_url", collate_l_split_url},
  {"sleep", collate_l_sleep},
  {"now", collate_l_now},
  {"http", collate_l_http},
  {"multi", collate_l_multi},
  {NULL, NULL}
};

void collate_register_class(lua_State *L, const char *name, const luaL_Reg *metamethods,
                            const luaL_Reg *methods) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, metamethods, 0);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

COLLATE_EXPORT int luaopen_collate_core(lua_State *L) {
  collate_http_register(L);
  collate_multi_register(L);

  lua_newtable(L);
  luaL_setfuncs(L, functions, 0);
  lua_pushliteral(L, COLLATE_VERSION);
  lua_setfield(L, -2, "VERSION");
  lua_pushstring(L, collate_curl_version());
  lua_setfield(L, -2, "curl_version");
  collate_routes_push(L);
  lua_setfield(L, -2, "routes");
  return 1;
}
