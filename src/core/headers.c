/* Caller-supplied header tables (extra_headers, upload.headers) checked before they reach a
 * transport: names are RFC 9110 tokens, values hold no CR, LF, NUL or other control character
 * (HTAB aside), so nothing can inject a header line; the API key's header is the client's own. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "headers.h"

static int is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* s for a message: control characters and non-ASCII as \xNN, cut at 40 bytes. */
void collate_push_shown(lua_State *L, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  luaL_Buffer b;
  size_t i;
  luaL_buffinit(L, &b);
  for (i = 0; i < len && i < 40; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\') {
      luaL_addchar(&b, '\\');
      luaL_addchar(&b, 'x');
      luaL_addchar(&b, hex[c >> 4]);
      luaL_addchar(&b, hex[c & 15]);
    } else {
      luaL_addchar(&b, (char)c);
    }
  }
  if (i < len) luaL_addstring(&b, "...");
  luaL_pushresult(&b);
}

static int header_problem(lua_State *L, const char *field, const char *name, size_t nlen,
                          const char *what) {
  lua_pushstring(L, field);
  lua_pushliteral(L, "['");
  collate_push_shown(L, name, nlen);
  lua_pushliteral(L, "'] ");
  lua_pushstring(L, what);
  lua_concat(L, 5);
  return 0;
}

static int ascii_caseeq(const char *a, size_t alen, const char *b) {
  size_t i;
  if (alen != strlen(b)) return 0;
  for (i = 0; i < alen; i++)
    if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return 0;
  return 1;
}

int collate_check_headers(lua_State *L, int idx, const char *field, int for_api) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE) {
    lua_pushfstring(L, "%s must be a table of header names to values (got %s)", field,
                    luaL_typename(L, idx));
    return 0;
  }
  luaL_checkstack(L, 8, "collate: headers");
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    size_t nlen, vlen, i;
    const char *name, *value;
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_pushfstring(L, "%s keys must be header names (got a %s key)", field,
                      luaL_typename(L, -2));
      lua_replace(L, -3);
      lua_pop(L, 1);
      return 0;
    }
    name = lua_tolstring(L, -2, &nlen);
    if (nlen == 0) {
      lua_pop(L, 2);
      lua_pushfstring(L, "%s has an empty header name", field);
      return 0;
    }
    for (i = 0; i < nlen; i++) {
      if (!is_tchar((unsigned char)name[i])) {
        header_problem(L, field, name, nlen,
                       "is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)");
        lua_replace(L, -3);
        lua_pop(L, 1);
        return 0;
      }
    }
    if (for_api && ascii_caseeq(name, nlen, "Authorization")) {
      header_problem(L, field, name, nlen,
                     "cannot be set: Authorization carries the API key, which the client "
                     "sends itself (pass api_key to collate.new, or set COLLATE_API_KEY)");
      lua_replace(L, -3);
      lua_pop(L, 1);
      return 0;
    }
    if (lua_type(L, -1) != LUA_TSTRING) {
      char what[96];
      snprintf(what, sizeof what, "must be a string (got %s)", luaL_typename(L, -1));
      header_problem(L, field, name, nlen, what);
      lua_replace(L, -3);
      lua_pop(L, 1);
      return 0;
    }
    value = lua_tolstring(L, -1, &vlen);
    for (i = 0; i < vlen; i++) {
      unsigned char c = (unsigned char)value[i];
      if (c == '\r' || c == '\n' || c == '\0') {
        header_problem(L, field, name, nlen,
                       "must not contain CR, LF or NUL (they would start another header line)");
        lua_replace(L, -3);
        lua_pop(L, 1);
        return 0;
      }
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        header_problem(L, field, name, nlen, "must not contain control characters");
        lua_replace(L, -3);
        lua_pop(L, 1);
        return 0;
      }
    }
    lua_pop(L, 1);
  }
  return 1;
}

/* core.check_headers(headers, field) -> true | nil, "invalid_argument", message (upload.headers). */
int collate_l_check_headers(lua_State *L) {
  const char *field = luaL_optstring(L, 2, "headers");
  if (collate_check_headers(L, 1, field, 0)) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lua_insert(L, -2);
  lua_pushliteral(L, "invalid_argument");
  lua_insert(L, -2);
  return 3;
}
