/* parse_response: a status, lower-case headers and a body become either the decoded value or the
 * error info the Lua layer turns into a collate.Error (contract 1.9, 7.4, 7.5). */
#include "casing.h"
#include "core.h"
#include "json_decode.h"
#include "retry.h"

static void set_int(lua_State *L, int t, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, t, k);
}

static void set_str(lua_State *L, int t, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, t, k);
}

/* Pushes t[k] if it has type want, else nothing; returns whether it pushed. */
static int get_typed(lua_State *L, int t, const char *k, int want) {
  lua_getfield(L, t, k);
  if (lua_type(L, -1) == want) return 1;
  lua_pop(L, 1);
  return 0;
}

static int parse_error(lua_State *L, int status, int headers, int raw) {
  int info, decoded = 0, envelope = 0, err = 0;
  size_t len = 0;
  const char *body = lua_type(L, raw) == LUA_TSTRING ? lua_tolstring(L, raw, &len) : NULL;

  lua_createtable(L, 0, 10);
  info = lua_gettop(L);
  set_str(L, info, "kind", "api");
  set_int(L, info, "status_code", status);

  if (body != NULL && len > 0) {
    /* one decode with wire keys: it is the body; details and issues are converted copies */
    if (collate_json_decode(L, body, len, COLLATE_NORMALISE)) {
      decoded = lua_gettop(L);
    } else {
      lua_pop(L, 1);
    }
  }
  if (decoded) {
    lua_pushvalue(L, decoded);
    lua_setfield(L, info, "body");
    if (lua_type(L, decoded) == LUA_TTABLE && get_typed(L, decoded, "error", LUA_TTABLE)) {
      err = lua_gettop(L);
      envelope = 1;
    }
  } else {
    lua_pushvalue(L, raw);
    lua_setfield(L, info, "body");
  }

  if (envelope && get_typed(L, err, "code", LUA_TSTRING)) lua_setfield(L, info, "code");
  if (envelope && get_typed(L, err, "message", LUA_TSTRING)) {
    lua_setfield(L, info, "message");
  } else if (envelope) {
    lua_pushfstring(L, "HTTP %d", status);
    lua_setfield(L, info, "message");
  } else if (decoded) {
    lua_pushfstring(L, "HTTP %d with a JSON body that is not an error envelope", status);
    lua_setfield(L, info, "message");
  } else if (body == NULL || len == 0) {
    lua_pushfstring(L, "HTTP %d with an empty body", status);
    lua_setfield(L, info, "message");
  } else {
    lua_pushfstring(L, "HTTP %d with a non-JSON body", status);
    lua_setfield(L, info, "message");
  }

  if (envelope && get_typed(L, err, "retryable", LUA_TBOOLEAN)) {
    lua_setfield(L, info, "retryable");
  } else {
    lua_pushboolean(L, collate_status_retryable(status));
    lua_setfield(L, info, "retryable");
  }

  if (envelope && get_typed(L, err, "details", LUA_TTABLE)) {
    if (!collate_convert_freeform(L, -1)) lua_newtable(L);
    lua_setfield(L, info, "details");
    lua_pop(L, 1);
  } else {
    lua_newtable(L);
    lua_setfield(L, info, "details");
  }

  if (envelope && get_typed(L, err, "issues", LUA_TTABLE)) {
    if (!collate_convert(L, -1, COLLATE_FROM_WIRE)) lua_newtable(L);
    lua_setfield(L, info, "issues");
    lua_pop(L, 1);
  } else {
    lua_newtable(L);
    lua_setfield(L, info, "issues");
  }

  if (decoded && lua_type(L, decoded) == LUA_TTABLE &&
      get_typed(L, decoded, "requestId", LUA_TSTRING)) {
    lua_setfield(L, info, "request_id");
  } else if (headers && get_typed(L, headers, "x-request-id", LUA_TSTRING)) {
    lua_setfield(L, info, "request_id");
  }

  lua_pushboolean(L, 0);
  lua_pushvalue(L, info);
  return 2;
}

/* core.parse_response(status, headers, body) -> true, value | false, info */
int collate_l_parse_response(lua_State *L) {
  int status = (int)luaL_checkinteger(L, 1);
  int headers = lua_type(L, 2) == LUA_TTABLE ? 2 : 0;
  size_t len = 0;
  const char *body;
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TSTRING);
  lua_settop(L, 3);
  if (status < 200 || status > 299) return parse_error(L, status, headers, 3);
  body = lua_type(L, 3) == LUA_TSTRING ? lua_tolstring(L, 3, &len) : NULL;
  if (body == NULL || len == 0) {
    lua_pushboolean(L, 1);
    lua_newtable(L);
    return 2;
  }
  if (collate_json_decode(L, body, len, COLLATE_FROM_WIRE)) {
    lua_pushboolean(L, 1);
    lua_insert(L, -2);
    return 2;
  }
  {
    int msg = lua_gettop(L);
    lua_pushboolean(L, 0);
    lua_createtable(L, 0, 4);
    set_str(L, lua_gettop(L), "kind", "decode");
    set_int(L, lua_gettop(L), "status_code", status);
    lua_pushvalue(L, 3);
    lua_setfield(L, -2, "body");
    lua_pushfstring(L, "HTTP %d: the response body is not valid JSON (%s)", status,
                    lua_tostring(L, msg));
    lua_setfield(L, -2, "message");
    return 2;
  }
}
