/* The request-body JSON encoder. Debian's lua-cjson 2.1.0 prints numbers with %.14g (so the
 * integer 1234567890123456 becomes 1.2345678901235e+15) and cannot send an empty array; both
 * matter for free-form metadata and answers, so bodies are encoded here. Decoding stays with
 * cjson. Nothing in here raises a Lua error: failures come back as a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "json.h"

#define MAX_DEPTH 200

struct out {
  char *data;
  size_t len, cap;
  const char *err;
};

static void put(struct out *o, const char *p, size_t n) {
  if (o->err) return;
  if (o->len + n > o->cap) {
    size_t cap = o->cap ? o->cap : 256;
    char *d;
    while (cap < o->len + n) cap *= 2;
    d = (char *)realloc(o->data, cap);
    if (d == NULL) {
      o->err = "out of memory";
      return;
    }
    o->data = d;
    o->cap = cap;
  }
  memcpy(o->data + o->len, p, n);
  o->len += n;
}

static void put_string(struct out *o, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t i, run = 0;
  put(o, "\"", 1);
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = NULL;
    char u[7];
    if (c == '"') esc = "\\\"";
    else if (c == '\\') esc = "\\\\";
    else if (c == '\n') esc = "\\n";
    else if (c == '\r') esc = "\\r";
    else if (c == '\t') esc = "\\t";
    else if (c == '\b') esc = "\\b";
    else if (c == '\f') esc = "\\f";
    else if (c < 0x20 || c == 0x7f) {
      u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
      u[4] = hex[c >> 4]; u[5] = hex[c & 15]; u[6] = '\0';
      esc = u;
    }
    if (esc != NULL) {
      put(o, s + i - run, run);
      run = 0;
      put(o, esc, strlen(esc));
    } else {
      run++;
    }
  }
  put(o, s + len - run, run);
  put(o, "\"", 1);
}

static void put_number(lua_State *L, struct out *o, int idx) {
  char buf[64];
  int n;
  double f;
#if COLLATE_HAS_INTEGERS
  if (collate_isinteger(L, idx)) {
    n = snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, idx));
    put(o, buf, (size_t)n);
    return;
  }
#endif
  f = (double)lua_tonumber(L, idx);
  if (isnan(f) || isinf(f)) {
    o->err = "cannot encode NaN or infinity";
    return;
  }
  if (f == floor(f) && fabs(f) < 9007199254740992.0) {
    n = snprintf(buf, sizeof buf, "%.0f", f);
  } else {
    /* the shortest of %.15g..%.17g that reads back as the same double */
    int p;
    n = 0;
    for (p = 15; p <= 17; p++) {
      n = snprintf(buf, sizeof buf, "%.*g", p, f);
      if (strtod(buf, NULL) == f) break;
    }
  }
  put(o, buf, (size_t)n);
}

/* Keys whose value is a JSON array on the wire, so an empty Lua table there is [] (contract 3.5
 * answers, 2.8 documentTypes). Elsewhere an empty table is {}. */
static int array_key(const char *k, size_t len) {
  return (len == 4 && memcmp(k, "item", 4) == 0) || (len == 6 && memcmp(k, "answer", 6) == 0) ||
         (len == 13 && memcmp(k, "documentTypes", 13) == 0);
}

static void put_value(lua_State *L, struct out *o, int idx, int depth, int want_array);

static void put_table(lua_State *L, struct out *o, int idx, int depth, int want_array) {
  lua_Number max = 0;
  size_t count = 0, i;
  int strings = 0, numbers = 0;
  if (depth > MAX_DEPTH) {
    o->err = "tables nested too deeply (a cycle?)";
    return;
  }
  if (!lua_checkstack(L, 4)) {
    o->err = "stack overflow";
    return;
  }
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    count++;
    if (lua_type(L, -2) == LUA_TSTRING) {
      strings = 1;
    } else if (lua_type(L, -2) == LUA_TNUMBER) {
      lua_Number k = lua_tonumber(L, -2);
      if (k < 1 || k != floor(k)) {
        o->err = "table keys must be strings or array indexes";
      } else if (k > max) {
        max = k;
      }
      numbers = 1;
    } else {
      o->err = "table keys must be strings or array indexes";
    }
    lua_pop(L, 1);
    if (o->err) {
      lua_pop(L, 1);
      return;
    }
  }
  if (strings && numbers) {
    o->err = "a table mixes array items and named keys";
    return;
  }
  if (numbers || (count == 0 && want_array)) {
    if (max != (lua_Number)count) {
      o->err = "sparse array (holes cannot be encoded)";
      return;
    }
    put(o, "[", 1);
    for (i = 1; i <= count && !o->err; i++) {
      if (i > 1) put(o, ",", 1);
      lua_rawgeti(L, idx, (int)i);
      put_value(L, o, lua_gettop(L), depth + 1, 0);
      lua_pop(L, 1);
    }
    put(o, "]", 1);
    return;
  }
  put(o, "{", 1);
  i = 0;
  lua_pushnil(L);
  while (!o->err && lua_next(L, idx) != 0) {
    size_t klen;
    const char *k = lua_tolstring(L, -2, &klen); /* a string key: no conversion in place */
    if (i++ > 0) put(o, ",", 1);
    put_string(o, k, klen);
    put(o, ":", 1);
    put_value(L, o, lua_gettop(L), depth + 1, array_key(k, klen));
    lua_pop(L, 1);
  }
  if (o->err) {
    lua_pop(L, 1); /* the key lua_next left when we stopped early */
    return;
  }
  put(o, "}", 1);
}

static void put_value(lua_State *L, struct out *o, int idx, int depth, int want_array) {
  size_t len;
  const char *s;
  if (o->err) return;
  switch (lua_type(L, idx)) {
    case LUA_TSTRING:
      s = lua_tolstring(L, idx, &len);
      put_string(o, s, len);
      break;
    case LUA_TNUMBER:
      put_number(L, o, idx);
      break;
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, idx))
        put(o, "true", 4);
      else
        put(o, "false", 5);
      break;
    case LUA_TTABLE:
      put_table(L, o, idx, depth, want_array);
      break;
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) { /* cjson.null */
        put(o, "null", 4);
        break;
      }
      /* fall through */
    default:
      o->err = "a value of an unsupported type (function, userdata, thread)";
      break;
  }
}

int collate_json_encode(lua_State *L, int idx) {
  struct out o;
  memset(&o, 0, sizeof o);
  idx = lua_absindex(L, idx);
  put_value(L, &o, idx, 0, 0);
  if (o.err != NULL) {
    free(o.data);
    lua_pushstring(L, o.err);
    return 0;
  }
  lua_pushlstring(L, o.data ? o.data : "", o.len);
  free(o.data);
  return 1;
}
