#define _GNU_SOURCE /* memmem */
#include <string.h>

#include "core.h"

/* core.redact(text, secret): every occurrence of secret becomes [REDACTED]. Non-string text is
 * returned as it is, so callers can pass any message through. */
int collate_l_redact(lua_State *L) {
  size_t tlen, slen;
  const char *text, *secret, *p, *end;
  luaL_Buffer b;
  if (lua_type(L, 1) != LUA_TSTRING) {
    lua_settop(L, 1);
    return 1;
  }
  text = lua_tolstring(L, 1, &tlen);
  secret = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &slen) : NULL;
  if (secret == NULL || slen == 0 || slen > tlen) {
    lua_settop(L, 1);
    return 1;
  }
  luaL_buffinit(L, &b);
  p = text;
  end = text + tlen;
  while ((size_t)(end - p) >= slen) {
    const char *hit = (const char *)memmem(p, (size_t)(end - p), secret, slen);
    if (hit == NULL) break;
    luaL_addlstring(&b, p, (size_t)(hit - p));
    luaL_addstring(&b, "[REDACTED]");
    p = hit + slen;
  }
  luaL_addlstring(&b, p, (size_t)(end - p));
  luaL_pushresult(&b);
  return 1;
}
