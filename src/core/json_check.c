/* Whether a Lua value can be sent as a JSON request body, checked on the caller's own table
 * (before key conversion), so that a refusal names the field as the caller wrote it:
 * `metadata.note is not valid UTF-8`, `answers.item[3].answer[1].value_decimal is NaN`.
 * Same rules as the encoder (json.c), plus UTF-8 and real cycle detection. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "utf8.h"

#define MAX_DEPTH 200
#define KEY_SHOWN 40 /* bytes of an odd key shown in a path */

struct check {
  lua_State *L;
  /* the tables on the way to the current value and the path length where each was entered:
   * a table met again among its own ancestors is a cycle (one met twice elsewhere is shared) */
  const void *ancestors[MAX_DEPTH + 2];
  size_t entered_at[MAX_DEPTH + 2];
  size_t len;
  char path[600];
};

static int is_identifier(const char *k, size_t len) {
  size_t i;
  if (len == 0 || (k[0] >= '0' && k[0] <= '9')) return 0;
  for (i = 0; i < len; i++) {
    char c = k[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return 0;
  }
  return 1;
}

static void append(struct check *c, const char *s, size_t n) {
  size_t room = sizeof c->path - 1 - c->len;
  if (n > room) {
    /* a path this long is cut; "..." marks it */
    n = room >= 3 ? room - 3 : 0;
    memcpy(c->path + c->len, s, n);
    c->len += n;
    if (room >= 3) {
      memcpy(c->path + c->len, "...", 3);
      c->len += 3;
    }
  } else {
    memcpy(c->path + c->len, s, n);
    c->len += n;
  }
  c->path[c->len] = '\0';
}

/* Writes k into out for a message: quotes, backslashes and control characters escaped, bytes
 * of invalid UTF-8 as \xNN, cut at KEY_SHOWN bytes. Returns the length. out holds 4*KEY_SHOWN+4. */
static size_t show_key(const char *k, size_t len, char *out) {
  static const char hex[] = "0123456789abcdef";
  int valid = collate_utf8_invalid_at(k, len) == len;
  size_t i, o = 0;
  for (i = 0; i < len && i < KEY_SHOWN; i++) {
    unsigned char b = (unsigned char)k[i];
    if (b == '"' || b == '\\') {
      out[o++] = '\\';
      out[o++] = (char)b;
    } else if (b < 0x20 || b == 0x7f || (b >= 0x80 && !valid)) {
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[b >> 4];
      out[o++] = hex[b & 15];
    } else {
      out[o++] = (char)b;
    }
  }
  if (i < len) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
  return o;
}

static void append_key(struct check *c, const char *k, size_t len) {
  if (is_identifier(k, len) && len <= KEY_SHOWN) {
    if (c->len > 0) append(c, ".", 1);
    append(c, k, len);
  } else {
    char shown[4 * KEY_SHOWN + 4];
    size_t n = show_key(k, len, shown);
    append(c, "[\"", 2);
    append(c, shown, n);
    append(c, "\"]", 2);
  }
}

static void append_index(struct check *c, lua_Number i) {
  char buf[48];
  int n = snprintf(buf, sizeof buf, "[%.0f]", (double)i);
  append(c, buf, (size_t)n);
}

/* Pushes "<path> <problem>" and returns 0. */
static int problem(struct check *c, const char *fmt, const char *a) {
  lua_State *L = c->L;
  lua_pushstring(L, c->len > 0 ? c->path : "the body");
  lua_pushliteral(L, " ");
  lua_pushfstring(L, fmt, a);
  lua_concat(L, 3);
  return 0;
}

static int check_value(struct check *c, int idx, int depth);

static int check_table(struct check *c, int idx, int depth) {
  lua_State *L = c->L;
  size_t saved = c->len, count = 0, i;
  lua_Number max = 0;
  int numbers = 0;
  char first_name[4 * KEY_SHOWN + 4];
  first_name[0] = '\0';

  const void *self = lua_topointer(L, idx);
  int a;
  if (depth > MAX_DEPTH) return problem(c, "is nested deeper than %s levels", "200");
  if (!lua_checkstack(L, 8)) return problem(c, "is nested too deeply%s", "");
  for (a = 0; a < depth; a++) {
    size_t at;
    if (c->ancestors[a] != self) continue;
    at = c->entered_at[a];
    if (at > 0)
      lua_pushlstring(L, c->path, at); /* the ancestor's path is a prefix of this one */
    else
      lua_pushliteral(L, "the body");
    problem(c, "refers back to %s (a cycle): JSON cannot encode cycles", lua_tostring(L, -1));
    lua_remove(L, -2);
    return 0;
  }
  c->ancestors[depth] = self;
  c->entered_at[depth] = c->len;

  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    int kt = lua_type(L, -2);
    count++;
    if (kt == LUA_TSTRING) {
      size_t klen;
      const char *k = lua_tolstring(L, -2, &klen);
      if (first_name[0] == '\0') show_key(k, klen, first_name);
      if (collate_utf8_invalid_at(k, klen) != klen) {
        char shown[4 * KEY_SHOWN + 4];
        show_key(k, klen, shown);
        return problem(c, "has a key that is not valid UTF-8 (\"%s\")", shown);
      }
      append_key(c, k, klen);
    } else if (kt == LUA_TNUMBER) {
      lua_Number k = lua_tonumber(L, -2);
      if (!(k >= 1) || k != floor(k)) {
        char buf[48];
        snprintf(buf, sizeof buf, "%.14g", (double)k);
        return problem(c, "has the key %s: keys must be strings (an object) or 1..n (an array)",
                       buf);
      }
      if (k > max) max = k;
      numbers = 1;
      append_index(c, k);
    } else {
      return problem(c, "has a key of type %s: keys must be strings (an object) or 1..n (an array)",
                     lua_typename(L, kt));
    }
    if (!check_value(c, lua_gettop(L), depth + 1)) return 0;
    c->len = saved;
    c->path[c->len] = '\0';
    lua_pop(L, 1);
  }
  if (numbers && first_name[0] != '\0')
    return problem(c, "mixes array items and named keys (such as \"%s\"): JSON has arrays or objects, "
                      "use a table of one kind", first_name);
  if (numbers && max != (lua_Number)count) {
    char buf[48];
    for (i = 1; i <= count; i++) {
      lua_rawgeti(L, idx, (int)i);
      if (lua_isnil(L, -1)) break;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    snprintf(buf, sizeof buf, "%lu", (unsigned long)i);
    return problem(c, "has a hole at [%s]: an array must hold items 1..n without gaps", buf);
  }
  return 1;
}

static int check_value(struct check *c, int idx, int depth) {
  lua_State *L = c->L;
  size_t len, bad;
  const char *s;
  lua_Number f;
  char buf[32];
  switch (lua_type(L, idx)) {
    case LUA_TSTRING:
      s = lua_tolstring(L, idx, &len);
      bad = collate_utf8_invalid_at(s, len);
      if (bad == len) return 1;
      snprintf(buf, sizeof buf, "%lu", (unsigned long)bad + 1);
      return problem(c, "is not valid UTF-8 (byte %s)", buf);
    case LUA_TNUMBER:
      f = lua_tonumber(L, idx);
      if (f != f) return problem(c, "is NaN%s: JSON has no NaN or infinity", "");
      if (isinf(f)) return problem(c, "is infinity%s: JSON has no NaN or infinity", "");
      return 1;
    case LUA_TBOOLEAN:
      return 1;
    case LUA_TTABLE:
      return check_table(c, idx, depth);
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) return 1; /* cjson.null */
      /* fall through */
    default:
      return problem(c, "is a %s: only strings, numbers, booleans, tables and cjson.null can be sent",
                     luaL_typename(L, idx));
  }
}

int collate_json_check(lua_State *L, int idx, const char *name) {
  struct check c;
  int top = lua_gettop(L);
  idx = lua_absindex(L, idx);
  c.L = L;
  c.len = 0;
  c.path[0] = '\0';
  if (name != NULL) append(&c, name, strlen(name));
  if (check_value(&c, idx, 0)) {
    lua_settop(L, top);
    return 1;
  }
  /* keep only the message */
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
  return 0;
}
