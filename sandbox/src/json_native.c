/* collate_sandbox.native.json_encode(v, null, RAW, ARRAY, OBJECT): the sandbox's JSON encoder in
 * C, the output of json.lua's encode_value byte for byte (json.lua uses it when the app runs in
 * the C front; COLLATE_SANDBOX_VERIFY_JSON=1 makes it compare both on every call). Rendering an
 * authorization was half of the CPU of a create or a patch.
 *   null: json.null; RAW, ARRAY, OBJECT: json.lua's marker metatables. Integers are written
 *   exactly; a float with an integer value below 2^53 without a fraction, others %.14g, %.17g
 *   when that does not read back; object keys sorted; strings escaped as json.lua does (invalid
 *   UTF-8 bytes above 0x7F become U+FFFD). */
#include "json_native.h"
#include "json_decode.h"

#include <lauxlib.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 1000

struct out {
  lua_State *L;
  int slot;                    /* stack index of the userdata holding the bytes */
  char *p;
  size_t len, cap;
};

static void reserve(struct out *o, size_t n)
{
  if (o->len + n <= o->cap)
    return;
  size_t cap = o->cap * 2;
  while (cap < o->len + n)
    cap *= 2;
  char *p = lua_newuserdatauv(o->L, cap, 0);  /* the old one is garbage now, on error too */
  memcpy(p, o->p, o->len);
  lua_replace(o->L, o->slot);
  o->p = p;
  o->cap = cap;
}

static void put(struct out *o, const char *s, size_t n)
{
  reserve(o, n);
  memcpy(o->p + o->len, s, n);
  o->len += n;
}

static void put_char(struct out *o, char c)
{
  reserve(o, 1);
  o->p[o->len++] = c;
}

/* json.valid_utf8: no overlongs, no surrogates, at most U+10FFFF */
static int valid_utf8(const unsigned char *s, size_t n)
{
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    unsigned long cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      min = 0x80;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      min = 0x800;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      min = 0x10000;
      cp = c & 0x07;
    } else {
      return 0;
    }
    for (size_t k = 1; k < len; k++) {
      if (i + k >= n || s[i + k] < 0x80 || s[i + k] > 0xBF)
        return 0;
      cp = cp * 64 + (s[i + k] - 0x80);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += len;
  }
  return 1;
}

/* Lua's %c: iscntrl in the C locale */
static int is_cntrl(unsigned char c)
{
  return c < 0x20 || c == 0x7F;
}

static void put_string(struct out *o, const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n && !is_cntrl(s[i]) && s[i] != '"' && s[i] != '\\' && s[i] < 0x80)
    i++;
  reserve(o, n + 2);
  if (i == n) {  /* the fast path: printable ASCII */
    o->p[o->len++] = '"';
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len++] = '"';
    return;
  }
  int valid = valid_utf8(s, n);
  put_char(o, '"');
  for (i = 0; i < n; i++) {
    unsigned char c = s[i];
    if (c >= 0x80 && !valid) {
      put(o, "\xEF\xBF\xBD", 3);
    } else if (c == '"') {
      put(o, "\\\"", 2);
    } else if (c == '\\') {
      put(o, "\\\\", 2);
    } else if (is_cntrl(c)) {
      char esc[8];
      const char *e = NULL;
      switch (c) {
      case '\b': e = "\\b"; break;
      case '\f': e = "\\f"; break;
      case '\n': e = "\\n"; break;
      case '\r': e = "\\r"; break;
      case '\t': e = "\\t"; break;
      default:
        snprintf(esc, sizeof esc, "\\u%04x", c);
        e = esc;
      }
      put(o, e, strlen(e));
    } else {
      put_char(o, (char)c);
    }
  }
  put_char(o, '"');
}

static void put_number(struct out *o, lua_State *L, int idx)
{
  char buf[64];
  int n;
  if (lua_isinteger(L, idx)) {
    n = snprintf(buf, sizeof buf, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
  } else {
    double v = (double)lua_tonumber(L, idx);
    if (v != v || isinf(v))
      luaL_error(L, "cannot encode a non-finite number");
    if (v == floor(v) && v > -9007199254740992.0 && v < 9007199254740992.0) {
      n = snprintf(buf, sizeof buf, "%lld", (long long)v);
    } else {
      n = snprintf(buf, sizeof buf, "%.14g", v);
      if (strtod(buf, NULL) != v)
        n = snprintf(buf, sizeof buf, "%.17g", v);
    }
  }
  put(o, buf, (size_t)n);
}

struct key {
  const char *s;
  size_t n;
};

/* Lua's string order in the C locale (l_strcmp): bytes, then the shorter first */
static int key_cmp(const void *a, const void *b)
{
  const struct key *x = a, *y = b;
  size_t m = x->n < y->n ? x->n : y->n;
  int c = memcmp(x->s, y->s, m);
  if (c != 0)
    return c;
  return x->n < y->n ? -1 : x->n > y->n;
}

/* upvalue-free: the markers sit at stack indexes 2..5 of json_encode */
enum { NULL_IDX = 2, RAW_IDX = 3, ARRAY_IDX = 4, OBJECT_IDX = 5 };

static void put_value(struct out *o, int idx, int depth);

static int is_sequence(lua_State *L, int idx, lua_Unsigned n)
{
  if (n == 0)
    return 0;
  lua_Unsigned count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    count++;
    lua_pop(L, 1);
  }
  return count == n;
}

static void put_table(struct out *o, int idx, int depth)
{
  lua_State *L = o->L;
  int mt = 0;  /* 1 raw, 2 array, 3 object, 0 other */
  if (lua_getmetatable(L, idx)) {
    if (lua_rawequal(L, -1, RAW_IDX))
      mt = 1;
    else if (lua_rawequal(L, -1, ARRAY_IDX))
      mt = 2;
    else if (lua_rawequal(L, -1, OBJECT_IDX))
      mt = 3;
    lua_pop(L, 1);
  }
  if (mt == 1) {
    lua_rawgeti(L, idx, 1);
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    if (s == NULL)
      luaL_error(L, "cannot encode a raw value that is not a string");
    put(o, s, n);
    lua_pop(L, 1);
    return;
  }
  lua_Unsigned n = lua_rawlen(L, idx);
  if (mt == 2 || (mt != 3 && is_sequence(L, idx, n))) {
    put_char(o, '[');
    for (lua_Unsigned i = 1; i <= n; i++) {
      if (i > 1)
        put_char(o, ',');
      lua_rawgeti(L, idx, (lua_Integer)i);
      put_value(o, lua_gettop(L), depth + 1);
      lua_pop(L, 1);
    }
    put_char(o, ']');
    return;
  }
  size_t count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "cannot encode a non-string key");
    count++;
    lua_pop(L, 1);
  }
  struct key small[32];
  struct key *keys = small;
  if (count > 32)  /* on the stack until this table is done, collected on error */
    keys = lua_newuserdatauv(L, count * sizeof *keys, 0);
  size_t k = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {  /* the keys live as long as the table, which is not changed */
    keys[k].s = lua_tolstring(L, -2, &keys[k].n);
    k++;
    lua_pop(L, 1);
  }
  if (count > 1)
    qsort(keys, count, sizeof *keys, key_cmp);
  put_char(o, '{');
  for (size_t i = 0; i < count; i++) {
    if (i > 0)
      put_char(o, ',');
    put_string(o, keys[i].s, keys[i].n);
    put_char(o, ':');
    lua_pushlstring(L, keys[i].s, keys[i].n);
    lua_rawget(L, idx);
    put_value(o, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
  put_char(o, '}');
  if (count > 32)
    lua_pop(L, 1);
}

static void put_value(struct out *o, int idx, int depth)
{
  lua_State *L = o->L;
  if (depth > MAX_DEPTH)
    luaL_error(L, "cannot encode: nested deeper than %d", MAX_DEPTH);
  luaL_checkstack(L, 8, "json_encode");
  int t = lua_type(L, idx);
  if (t == LUA_TNIL || lua_rawequal(L, idx, NULL_IDX)) {
    put(o, "null", 4);
  } else if (t == LUA_TBOOLEAN) {
    if (lua_toboolean(L, idx))
      put(o, "true", 4);
    else
      put(o, "false", 5);
  } else if (t == LUA_TNUMBER) {
    put_number(o, L, idx);
  } else if (t == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    put_string(o, s, n);
  } else if (t == LUA_TTABLE) {
    put_table(o, idx, depth);
  } else {
    luaL_error(L, "cannot encode a %s", lua_typename(L, t));
  }
}

static int json_encode(lua_State *L)
{
  lua_settop(L, 5);
  struct out o;
  o.L = L;
  o.cap = 1024;
  o.len = 0;
  o.p = lua_newuserdatauv(L, o.cap, 0);
  o.slot = lua_gettop(L);
  put_value(&o, 1, 0);
  lua_pushlstring(L, o.p, o.len);
  return 1;
}

int collate_sandbox_open_native(lua_State *L)
{
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, json_encode);
  lua_setfield(L, -2, "json_encode");
  lua_pushcfunction(L, collate_sandbox_json_decode);
  lua_setfield(L, -2, "json_decode");
  return 1;
}
