/* snake_case <-> camelCase keys, recursively, on new tables. Free-form maps (contract 1.3) keep
 * their keys; inside metadata the one known key external_case_id is still converted. */
#include <math.h>
#include <string.h>

#include "casing.h"
#include "core.h"

#define MAX_DEPTH 200
#define KEY_STACK 256 /* keys longer than this are converted through a Lua buffer */

size_t collate_snake_to_camel(const char *in, size_t len, char *out) {
  size_t i, o = 0;
  for (i = 0; i < len; i++) {
    char c = in[i];
    /* only "_x" with a lower-case letter folds; "_1", "__" and a leading "_" stay as they are */
    if (c == '_' && i > 0 && i + 1 < len && in[i + 1] >= 'a' && in[i + 1] <= 'z') {
      out[o++] = (char)(in[++i] - 'a' + 'A');
    } else {
      out[o++] = c;
    }
  }
  out[o] = '\0';
  return o;
}

size_t collate_camel_to_snake(const char *in, size_t len, char *out) {
  size_t i, o = 0;
  for (i = 0; i < len; i++) {
    char c = in[i];
    if (c >= 'A' && c <= 'Z' && i > 0) {
      out[o++] = '_';
      out[o++] = (char)(c - 'A' + 'a');
    } else {
      out[o++] = c;
    }
  }
  out[o] = '\0';
  return o;
}

static int is_freeform_key(const char *k, size_t len) {
  switch (len) {
    case 7: return memcmp(k, "headers", 7) == 0 || memcmp(k, "details", 7) == 0 ||
                   memcmp(k, "summary", 7) == 0;
    case 8: return memcmp(k, "metadata", 8) == 0;
    default: return 0;
  }
}

enum collate_scope collate_child_scope(enum collate_scope parent, const char *k, size_t len) {
  if (parent != COLLATE_SCOPE_PLAIN) return COLLATE_SCOPE_FREEFORM;
  if (k != NULL && is_freeform_key(k, len))
    return len == 8 ? COLLATE_SCOPE_METADATA : COLLATE_SCOPE_FREEFORM;
  return COLLATE_SCOPE_PLAIN;
}

void collate_push_key(lua_State *L, const char *k, size_t len, enum collate_conv_mode mode,
                      enum collate_scope scope) {
  char small[2 * KEY_STACK + 1];
  size_t n;
  if (mode == COLLATE_NORMALISE || scope == COLLATE_SCOPE_FREEFORM) {
    lua_pushlstring(L, k, len);
    return;
  }
  if (scope == COLLATE_SCOPE_METADATA) {
    if (mode == COLLATE_TO_WIRE && len == 16 && memcmp(k, "external_case_id", 16) == 0)
      lua_pushliteral(L, "externalCaseId");
    else if (mode == COLLATE_FROM_WIRE && len == 14 && memcmp(k, "externalCaseId", 14) == 0)
      lua_pushliteral(L, "external_case_id");
    else
      lua_pushlstring(L, k, len);
    return;
  }
  if (len <= KEY_STACK) {
    n = mode == COLLATE_TO_WIRE ? collate_snake_to_camel(k, len, small)
                                : collate_camel_to_snake(k, len, small);
    lua_pushlstring(L, small, n);
  } else {
    /* a userdata, not malloc: a memory error raised by lua_pushlstring cannot leak it */
    char *big = (char *)lua_newuserdata(L, 2 * len + 1);
    n = mode == COLLATE_TO_WIRE ? collate_snake_to_camel(k, len, big)
                                : collate_camel_to_snake(k, len, big);
    lua_pushlstring(L, big, n);
    lua_remove(L, -2);
  }
}

static void push_number(lua_State *L, int idx, enum collate_conv_mode mode) {
#if COLLATE_HAS_INTEGERS
  if (mode != COLLATE_TO_WIRE && !collate_isinteger(L, idx)) {
    lua_Number f = lua_tonumber(L, idx);
    /* 2^63 is exact as a double; every integral double in [-2^63, 2^63) fits lua_Integer */
    if (f == floor(f) && f >= -9223372036854775808.0 && f < 9223372036854775808.0) {
      lua_pushinteger(L, (lua_Integer)f);
      return;
    }
  }
#else
  (void)mode;
#endif
  lua_pushvalue(L, idx);
}

static int is_null(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}

static int convert(lua_State *L, int idx, enum collate_conv_mode mode, enum collate_scope scope,
                   int depth) {
  int t;
  idx = lua_absindex(L, idx);
  t = lua_type(L, idx);
  if (t == LUA_TNUMBER) {
    push_number(L, idx, mode);
    return 1;
  }
  if (t != LUA_TTABLE) {
    lua_pushvalue(L, idx);
    return 1;
  }
  if (depth > MAX_DEPTH) {
    lua_pushliteral(L, "tables nested too deeply (a cycle?)");
    return 0;
  }
  luaL_checkstack(L, 8, "collate: table conversion");
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    /* stack: out, key, value */
    int kt = lua_type(L, -2);
    enum collate_scope child;
    if (kt == LUA_TSTRING && mode == COLLATE_FROM_WIRE && is_null(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    if (kt == LUA_TSTRING) {
      size_t klen;
      const char *k = lua_tolstring(L, -2, &klen);
      child = collate_child_scope(scope, k, klen);
      collate_push_key(L, k, klen, mode, scope);
    } else {
      child = collate_child_scope(scope, NULL, 0);
      lua_pushvalue(L, -2);
    }
    /* stack: out, key, value, newkey */
    if (!convert(L, -2, mode, child, depth + 1)) {
      lua_replace(L, -5); /* message over out */
      lua_pop(L, 3);
      return 0;
    }
    lua_rawset(L, -5);
    lua_pop(L, 1);
  }
  return 1;
}

int collate_convert(lua_State *L, int idx, enum collate_conv_mode mode) {
  return convert(L, idx, mode, COLLATE_SCOPE_PLAIN, 0);
}

int collate_convert_freeform(lua_State *L, int idx) {
  return convert(L, idx, COLLATE_FROM_WIRE, COLLATE_SCOPE_FREEFORM, 0);
}

static int l_convert(lua_State *L, enum collate_conv_mode mode) {
  luaL_checkany(L, 1);
  if (!collate_convert(L, 1, mode)) return lua_error(L);
  return 1;
}

int collate_l_to_wire(lua_State *L) { return l_convert(L, COLLATE_TO_WIRE); }
int collate_l_from_wire(lua_State *L) { return l_convert(L, COLLATE_FROM_WIRE); }
