/* The response decoder: JSON text straight to the final Lua tree in one pass. lua-cjson built a
 * wire-keyed tree that casing.c then copied with snake_case keys, so every response was built
 * twice and the first tree left to the GC (bench/breakdown.lua: 56 + 45 us of a 7 KB body).
 * Here keys are converted as they are created (casing.c's rules), integers are exact up to 64
 * bits (cjson went through double), and each table is created at its final size: the members
 * wait on the Lua stack until the closing bracket, so no table is ever rehashed.
 *
 * Strict RFC 8259 grammar: no trailing commas, leading zeros, NaN/Infinity, hex, comments, raw
 * control characters in strings or trailing garbage; \u escapes must pair surrogates. Like cjson,
 * bytes >= 0x80 are passed through unvalidated, so a server's stray Latin-1 byte does not make a
 * whole response unreadable. Nesting is limited (COLLATE_JSON_MAX_DEPTH) because the parser
 * recurses on the C stack. Nothing here raises except Lua's own out-of-memory error, and nothing
 * is malloc'd, so that error cannot leak: the escape scratch buffer is a userdata. */
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_decode.h"

/* Members a container keeps on the stack before it stores them in its table. */
#define PENDING_MAX 65536

/* The Lua stack a C function may fill: Lua 5.1 and LuaJIT cap each C call (LUAI_MAXCSTACK,
 * 8000 slots), 5.2+ the whole thread (LUAI_MAXSTACK, 1M slots on 5.4). */
#if defined(LUAI_MAXCSTACK)
#define STACK_LIMIT LUAI_MAXCSTACK
#elif defined(LUAI_MAXSTACK)
#define STACK_LIMIT LUAI_MAXSTACK
#else
#define STACK_LIMIT 8000
#endif

/* Slots all open containers together may keep waiting (members of an object count twice). Each
 * open container also holds its table and a key: 2 slots a level, 2 * COLLATE_JSON_MAX_DEPTH at
 * most; half of what remains is left to the caller's frames. Past the budget the innermost
 * container stores what it has and goes on, so valid JSON within the depth limit never runs
 * out of stack however its members are spread over the levels (when each container kept up to
 * PENDING_MAX on its own, 1M members over 17 levels failed as "nested too deeply"). */
#define PENDING_BUDGET ((STACK_LIMIT - 2 * COLLATE_JSON_MAX_DEPTH) / 2)

enum { V_FAIL = 0, V_VALUE, V_NULL };

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define TOO_DEEP "JSON nested too deeply (more than " STRINGIFY(COLLATE_JSON_MAX_DEPTH) " levels)"
/* only when the caller's own frames already fill the Lua stack */
#define STACK_FULL "no Lua stack left to decode JSON"

struct dec {
  lua_State *L;
  const char *p, *end, *start;
  char *scratch; /* as long as the text; only when the text has a backslash */
  enum collate_conv_mode mode;
  int pending; /* slots waiting on the stack in all open containers (see PENDING_BUDGET) */
  const char *err;
  const char *err_at;
};

static int fail(struct dec *d, const char *msg) {
  if (d->err == NULL) {
    d->err = msg;
    d->err_at = d->p;
  }
  return V_FAIL;
}

static void skip_ws(struct dec *d) {
  const char *p = d->p, *end = d->end;
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
  d->p = p;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out) {
  unsigned v = 0;
  int i;
  if (end - p < 4) return 0;
  for (i = 0; i < 4; i++) {
    unsigned c = p[i];
    if (c >= '0' && c <= '9')
      v = v * 16 + (c - '0');
    else if (c >= 'a' && c <= 'f')
      v = v * 16 + (c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v = v * 16 + (c - 'A' + 10);
    else
      return 0;
  }
  *out = v;
  return 1;
}

static char *put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    *o++ = (char)cp;
  } else if (cp < 0x800) {
    *o++ = (char)(0xC0 | (cp >> 6));
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *o++ = (char)(0xE0 | (cp >> 12));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else {
    *o++ = (char)(0xF0 | (cp >> 18));
    *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  }
  return o;
}

/* Bytes that end the fast scan of a string: the quote, a backslash, control characters. */
static const unsigned char string_special[256] = {
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};

/* d->p is just past the opening quote. The string's bytes are the input itself when it has no
 * escape, else the scratch buffer (an escape never decodes to more bytes than it spans). They
 * stay valid until the next string is scanned. */
static int scan_string(struct dec *d, const char **out, size_t *outlen) {
  const unsigned char *p = (const unsigned char *)d->p, *end = (const unsigned char *)d->end;
  const unsigned char *s = p;
  char *o;
  while (p < end && !string_special[*p]) p++;
  if (p < end && *p == '"') {
    *out = (const char *)s;
    *outlen = (size_t)(p - s);
    d->p = (const char *)p + 1;
    return V_VALUE;
  }
  d->p = (const char *)p;
  if (p >= end) return fail(d, "unterminated string");
  if (*p < 0x20) return fail(d, "control character in string");
  o = d->scratch; /* *p is a backslash, so the text has one and the scratch exists */
  memcpy(o, s, (size_t)(p - s));
  o += p - s;
  for (;;) {
    unsigned c, cp, lo;
    d->p = (const char *)p;
    if (p >= end) return fail(d, "unterminated string");
    c = *p;
    if (c == '"') break;
    if (c < 0x20) return fail(d, "control character in string");
    if (c != '\\') {
      *o++ = (char)c;
      p++;
      continue;
    }
    if (p + 1 >= end) return fail(d, "unterminated string");
    switch (p[1]) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '/': *o++ = '/'; break;
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'n': *o++ = '\n'; break;
      case 'r': *o++ = '\r'; break;
      case 't': *o++ = '\t'; break;
      case 'u':
        if (!hex4(p + 2, end, &cp)) return fail(d, "invalid \\u escape");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || !hex4(p + 8, end, &lo) ||
              lo < 0xDC00 || lo > 0xDFFF)
            return fail(d, "unpaired UTF-16 surrogate in \\u escape");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          p += 6;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return fail(d, "unpaired UTF-16 surrogate in \\u escape");
        }
        o = put_utf8(o, cp);
        p += 4;
        break;
      default:
        return fail(d, "invalid escape in string");
    }
    p += 2;
  }
  *out = d->scratch;
  *outlen = (size_t)(o - d->scratch);
  d->p = (const char *)p + 1;
  return V_VALUE;
}

static void push_double(lua_State *L, double f) {
#if COLLATE_HAS_INTEGERS
  /* every integral double strictly inside (-2^63, 2^63) fits lua_Integer. -2^63 itself stays a
   * float: it is also the nearest double of -9223372036854775809, which is a float (above), so
   * the encoder's "-9.223372036854776e+18" must decode to what it was written from */
  if (f == floor(f) && f > -9223372036854775808.0 && f < 9223372036854775808.0) {
    lua_pushinteger(L, (lua_Integer)f);
    return;
  }
#endif
  lua_pushnumber(L, (lua_Number)f);
}

/* strtod on a NUL-terminated copy: the text need not be terminated after the token (the API
 * takes a length), and the locale's decimal point may not be '.'. */
static double to_double(lua_State *L, const char *s, size_t n) {
  char small[64];
  char *buf = small;
  char dot = localeconv()->decimal_point[0];
  double f;
  size_t i;
  if (n >= sizeof small) buf = (char *)lua_newuserdata(L, n + 1);
  memcpy(buf, s, n);
  buf[n] = '\0';
  if (dot != '.')
    for (i = 0; i < n; i++)
      if (buf[i] == '.') buf[i] = dot;
  f = strtod(buf, NULL);
  if (buf != small) lua_pop(L, 1);
  return f;
}

static int parse_number(struct dec *d) {
  const char *s = d->p, *p = s, *end = d->end;
  int neg = 0, integral = 1, overflow = 0;
  uint64_t u = 0;
  if (*p == '-') {
    neg = 1;
    p++;
  }
  if (p < end && *p == '0') {
    p++; /* a digit after a leading 0 is left over and rejected by the caller */
  } else if (p < end && *p >= '1' && *p <= '9') {
    while (p < end && *p >= '0' && *p <= '9') {
      unsigned dg = (unsigned)(*p - '0');
      if (u > (UINT64_MAX - dg) / 10)
        overflow = 1;
      else
        u = u * 10 + dg;
      p++;
    }
  } else {
    d->p = p;
    return fail(d, "invalid number");
  }
  if (p < end && *p == '.') {
    integral = 0;
    p++;
    if (!(p < end && *p >= '0' && *p <= '9')) {
      d->p = p;
      return fail(d, "invalid number");
    }
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    integral = 0;
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (!(p < end && *p >= '0' && *p <= '9')) {
      d->p = p;
      return fail(d, "invalid number");
    }
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  d->p = p;
#if COLLATE_HAS_INTEGERS
  if (integral && !overflow) {
    if (!neg && u <= (uint64_t)LUA_MAXINTEGER) {
      lua_pushinteger(d->L, (lua_Integer)u);
      return V_VALUE;
    }
    if (neg && u <= (uint64_t)LUA_MAXINTEGER + 1) { /* -0 is the integer 0, as before */
      lua_pushinteger(d->L, u == 0 ? 0 : -(lua_Integer)(u - 1) - 1);
      return V_VALUE;
    }
  }
  if (integral) {
    /* an integer outside the 64-bit range is a float, as tonumber makes it: its nearest double
     * may be exactly -2^63 (-9223372036854775809), which must not become math.mininteger */
    lua_pushnumber(d->L, (lua_Number)to_double(d->L, s, (size_t)(p - s)));
    return V_VALUE;
  }
#else
  if (integral && !overflow && u <= ((uint64_t)1 << 53)) {
    lua_pushnumber(d->L, neg ? -(lua_Number)u : (lua_Number)u);
    return V_VALUE;
  }
#endif
  push_double(d->L, to_double(d->L, s, (size_t)(p - s)));
  return V_VALUE;
}

static int parse_value(struct dec *d, enum collate_scope scope, int depth);

/* Stores the n values waiting above the table (creating it, sized, at base + 1 first). */
static void flush_array(lua_State *L, int base, int *t, int *n, lua_Integer *stored) {
  int i;
  if (*t == 0) {
    lua_createtable(L, *n, 0);
    lua_insert(L, base + 1);
    *t = base + 1;
  }
  for (i = *n; i > 0; i--) lua_rawseti(L, *t, *stored + i);
  *stored += *n;
  *n = 0;
}

/* Stores the n key/value pairs waiting above the table in order (a repeated key: the last
 * wins, as with cjson). With drop_nulls a null value means "absent": it is not stored, and it
 * removes an earlier value of the same key, as from_wire after cjson did. nulls: how many of
 * the pairs are null (not counted in the table's size). */
static void flush_object(lua_State *L, int base, int *t, int *n, int *nulls, int drop_nulls) {
  int i, first;
  if (*t == 0) {
    lua_createtable(L, 0, *n - *nulls);
    lua_insert(L, base + 1);
    *t = base + 1;
  }
  first = *t + 1;
  for (i = 0; i < *n; i++) {
    int k = first + 2 * i;
    if (drop_nulls && lua_type(L, k + 1) == LUA_TLIGHTUSERDATA) {
      lua_pushvalue(L, k);
      lua_rawget(L, *t);
      if (!lua_isnil(L, -1)) {
        lua_pushvalue(L, k);
        lua_pushnil(L);
        lua_rawset(L, *t);
      }
      lua_pop(L, 1);
      continue;
    }
    lua_pushvalue(L, k);
    lua_pushvalue(L, k + 1);
    lua_rawset(L, *t);
  }
  lua_settop(L, *t);
  *n = 0;
  *nulls = 0;
}

static int parse_array(struct dec *d, enum collate_scope scope, int depth) {
  lua_State *L = d->L;
  int base = lua_gettop(L), t = 0, n = 0;
  lua_Integer stored = 0;
  enum collate_scope child = collate_child_scope(scope, NULL, 0);
  d->p++;
  skip_ws(d);
  if (d->p < d->end && *d->p == ']') {
    d->p++;
    lua_createtable(L, 0, 0);
    return V_VALUE;
  }
  for (;;) {
    /* a failed check leaves at least the slots the last one reserved: enough to flush */
    if (n >= PENDING_MAX || d->pending >= PENDING_BUDGET || !lua_checkstack(L, 4)) {
      d->pending -= n;
      flush_array(L, base, &t, &n, &stored);
      if (!lua_checkstack(L, 4)) return fail(d, STACK_FULL);
    }
    if (!parse_value(d, child, depth + 1)) return V_FAIL;
    n++;
    d->pending++;
    skip_ws(d);
    if (d->p < d->end && *d->p == ',') {
      d->p++;
      continue;
    }
    if (d->p < d->end && *d->p == ']') {
      d->p++;
      break;
    }
    return fail(d, d->p < d->end ? "expected ',' or ']'" : "unterminated array");
  }
  d->pending -= n;
  flush_array(L, base, &t, &n, &stored);
  return V_VALUE;
}

static int parse_object(struct dec *d, enum collate_scope scope, int depth) {
  lua_State *L = d->L;
  int base = lua_gettop(L), t = 0, n = 0, nulls = 0;
  int drop_nulls = d->mode == COLLATE_FROM_WIRE;
  d->p++;
  skip_ws(d);
  if (d->p < d->end && *d->p == '}') {
    d->p++;
    lua_createtable(L, 0, 0);
    return V_VALUE;
  }
  for (;;) {
    const char *k;
    size_t klen;
    enum collate_scope child;
    int r;
    if (n >= PENDING_MAX || d->pending >= PENDING_BUDGET || !lua_checkstack(L, 6)) {
      d->pending -= 2 * n;
      flush_object(L, base, &t, &n, &nulls, drop_nulls);
      if (!lua_checkstack(L, 6)) return fail(d, STACK_FULL);
    }
    skip_ws(d);
    if (d->p >= d->end || *d->p != '"')
      return fail(d, d->p < d->end ? "expected a string key" : "unterminated object");
    d->p++;
    if (!scan_string(d, &k, &klen)) return V_FAIL;
    child = collate_child_scope(scope, k, klen);
    collate_push_key(L, k, klen, d->mode, scope);
    skip_ws(d);
    if (d->p >= d->end || *d->p != ':') return fail(d, "expected ':'");
    d->p++;
    r = parse_value(d, child, depth + 1);
    if (r == V_FAIL) return V_FAIL;
    n++;
    d->pending += 2;
    if (r == V_NULL && drop_nulls) nulls++;
    skip_ws(d);
    if (d->p < d->end && *d->p == ',') {
      d->p++;
      continue;
    }
    if (d->p < d->end && *d->p == '}') {
      d->p++;
      break;
    }
    return fail(d, d->p < d->end ? "expected ',' or '}'" : "unterminated object");
  }
  d->pending -= 2 * n;
  flush_object(L, base, &t, &n, &nulls, drop_nulls);
  return V_VALUE;
}

static int literal(struct dec *d, const char *word, size_t n) {
  if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0)
    return fail(d, "unexpected character");
  d->p += n;
  return V_VALUE;
}

static int parse_value(struct dec *d, enum collate_scope scope, int depth) {
  lua_State *L = d->L;
  skip_ws(d);
  if (d->p >= d->end) return fail(d, "unexpected end of input");
  switch (*d->p) {
    case '{':
      if (depth > COLLATE_JSON_MAX_DEPTH) return fail(d, TOO_DEEP);
      return parse_object(d, scope, depth);
    case '[':
      if (depth > COLLATE_JSON_MAX_DEPTH) return fail(d, TOO_DEEP);
      return parse_array(d, scope, depth);
    case '"': {
      const char *s;
      size_t n;
      d->p++;
      if (!scan_string(d, &s, &n)) return V_FAIL;
      lua_pushlstring(L, s, n);
      return V_VALUE;
    }
    case 't':
      if (!literal(d, "true", 4)) return V_FAIL;
      lua_pushboolean(L, 1);
      return V_VALUE;
    case 'f':
      if (!literal(d, "false", 5)) return V_FAIL;
      lua_pushboolean(L, 0);
      return V_VALUE;
    case 'n':
      if (!literal(d, "null", 4)) return V_FAIL;
      lua_pushlightuserdata(L, NULL); /* cjson.null */
      return V_NULL;
    case '-': case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
    case '8': case '9':
      return parse_number(d);
    default:
      return fail(d, "unexpected character");
  }
}

int collate_json_decode(lua_State *L, const char *s, size_t len, enum collate_conv_mode mode) {
  struct dec d;
  int top = lua_gettop(L), r;
  d.L = L;
  d.p = d.start = s;
  d.end = s + len;
  d.scratch = NULL;
  d.mode = mode;
  d.pending = 0;
  d.err = NULL;
  d.err_at = s;
  if (!lua_checkstack(L, 8)) {
    lua_pushliteral(L, STACK_FULL);
    return 0;
  }
  if (memchr(s, '\\', len) != NULL) d.scratch = (char *)lua_newuserdata(L, len);
  r = parse_value(&d, COLLATE_SCOPE_PLAIN, 1);
  if (r != V_FAIL) {
    skip_ws(&d);
    if (d.p != d.end) r = fail(&d, "unexpected data after the JSON value");
  }
  if (r == V_FAIL) {
    lua_settop(L, top);
    lua_pushfstring(L, "%s at byte %d", d.err, (int)(d.err_at - s) + 1);
    return 0;
  }
  if (d.scratch != NULL) lua_remove(L, top + 1);
  return 1;
}
