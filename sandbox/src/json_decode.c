/* collate_sandbox.native.json_decode(s, null, ARRAY, OBJECT): the fast path of json.lua's
 * decoder, in C. For a text json.lua decodes it returns the same value: objects and arrays with
 * the ARRAY / OBJECT marker metatables, null as `null`, a number as Lua's tonumber reads the
 * literal (an integer when it fits 64 bits: exact), strings unescaped (UTF-8 not checked here, as
 * in json.lua). For anything else (a syntax error, nesting near json.lua's limit, a number that
 * overflows) it returns nothing, and json.lua decodes the text itself, so every error message
 * stays json.lua's. Decoding request bodies in Lua was the largest part of a create. */
#include "json_decode.h"

#include <lauxlib.h>

#include <math.h>
#include <string.h>

#define NULL_IDX 2
#define ARRAY_IDX 3
#define OBJECT_IDX 4
#define SCRATCH_IDX 5
/* json.lua refuses a value nested deeper than 200; near that, it decides */
#define MAX_DEPTH 190
#define MAX_NUMBER 128

struct in {
  lua_State *L;
  const char *s;
  size_t i, n;
  char *scratch; /* unescaped strings, as long as the text at most (escapes only shrink) */
};

static void skip_ws(struct in *p)
{
  while (p->i < p->n) {
    char c = p->s[p->i];
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
      return;
    p->i++;
  }
}

static int hex4(const char *s, unsigned *out)
{
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    char c = s[k];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return 0;
  }
  *out = v;
  return 1;
}

static size_t put_utf8(char *o, unsigned cp)
{
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* p->s[p->i] == '"': pushes the string; 0 when json.lua would refuse it */
static int string_value(struct in *p)
{
  size_t start = ++p->i;
  const char *s = p->s;
  while (p->i < p->n) {
    unsigned char c = (unsigned char)s[p->i];
    if (c == '"') {
      lua_pushlstring(p->L, s + start, p->i - start);
      p->i++;
      return 1;
    }
    if (c == '\\')
      break;
    if (c < 0x20)
      return 0;
    p->i++;
  }
  if (p->i >= p->n)
    return 0;
  /* escapes: unescape into the scratch buffer */
  if (p->scratch == NULL) {
    p->scratch = lua_newuserdatauv(p->L, p->n, 0);
    lua_replace(p->L, SCRATCH_IDX);
  }
  size_t o = p->i - start;
  memcpy(p->scratch, s + start, o);
  while (p->i < p->n) {
    unsigned char c = (unsigned char)s[p->i];
    if (c == '"') {
      lua_pushlstring(p->L, p->scratch, o);
      p->i++;
      return 1;
    }
    if (c < 0x20)
      return 0;
    if (c != '\\') {
      p->scratch[o++] = (char)c;
      p->i++;
      continue;
    }
    if (p->i + 1 >= p->n)
      return 0;
    static const char escaped[] = "\"\\/bfnrt", unescaped[] = "\"\\/\b\f\n\r\t";
    char e = s[p->i + 1];
    const char *simple = e != '\0' ? strchr(escaped, e) : NULL;
    if (simple != NULL) {
      p->scratch[o++] = unescaped[simple - escaped];
      p->i += 2;
      continue;
    }
    if (e != 'u' || p->i + 6 > p->n)
      return 0;
    unsigned cp, lo;
    if (!hex4(s + p->i + 2, &cp))
      return 0;
    p->i += 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (p->i + 6 > p->n || s[p->i] != '\\' || s[p->i + 1] != 'u' || !hex4(s + p->i + 2, &lo) ||
          lo < 0xDC00 || lo > 0xDFFF)
        return 0;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      p->i += 6;
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      return 0;
    }
    o += put_utf8(p->scratch + o, cp);
  }
  return 0;
}

static int is_digit(char c)
{
  return c >= '0' && c <= '9';
}

/* json.lua's grammar: -?digits (no leading zero), then .digits, then [eE][-+]?digits; the
 * literal read by Lua's tonumber, refused when infinite */
static int number_value(struct in *p)
{
  const char *s = p->s;
  size_t i = p->i, n = p->n, d;
  if (i < n && s[i] == '-')
    i++;
  for (d = i; i < n && is_digit(s[i]); i++) {}
  if (i == d || (s[d] == '0' && i - d > 1))
    return 0;
  if (i < n && s[i] == '.') {
    for (d = ++i; i < n && is_digit(s[i]); i++) {}
    if (i == d)
      return 0;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '-' || s[i] == '+'))
      i++;
    for (d = i; i < n && is_digit(s[i]); i++) {}
    if (i == d)
      return 0;
  }
  size_t len = i - p->i;
  char tok[MAX_NUMBER + 1];
  if (len > MAX_NUMBER)
    return 0;
  memcpy(tok, s + p->i, len);
  tok[len] = '\0';
  if (lua_stringtonumber(p->L, tok) != len + 1)
    return 0;
  if (!lua_isinteger(p->L, -1) && isinf(lua_tonumber(p->L, -1))) {
    lua_pop(p->L, 1);
    return 0;
  }
  p->i = i;
  return 1;
}

static int literal(struct in *p, const char *word, size_t len)
{
  if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0)
    return 0;
  p->i += len;
  return 1;
}

static int value(struct in *p, int depth);

static int container(struct in *p, int depth, int object)
{
  lua_State *L = p->L;
  if (depth > MAX_DEPTH || !lua_checkstack(L, 4))
    return 0;
  lua_newtable(L);
  lua_pushvalue(L, object ? OBJECT_IDX : ARRAY_IDX);
  lua_setmetatable(L, -2);
  char close = object ? '}' : ']';
  p->i++;
  skip_ws(p);
  if (p->i < p->n && p->s[p->i] == close) {
    p->i++;
    return 1;
  }
  lua_Integer count = 0;
  for (;;) {
    if (object) {
      if (p->i >= p->n || p->s[p->i] != '"' || !string_value(p))
        return 0;
      skip_ws(p);
      if (p->i >= p->n || p->s[p->i] != ':')
        return 0;
      p->i++;
      skip_ws(p);
    }
    if (!value(p, depth))
      return 0;
    if (object)
      lua_rawset(L, -3);
    else
      lua_rawseti(L, -2, ++count);
    skip_ws(p);
    if (p->i >= p->n)
      return 0;
    char c = p->s[p->i++];
    if (c == close)
      return 1;
    if (c != ',')
      return 0;
    skip_ws(p);
  }
}

static int value(struct in *p, int depth)
{
  if (p->i >= p->n)
    return 0;
  switch (p->s[p->i]) {
  case '{':
    return container(p, depth + 1, 1);
  case '[':
    return container(p, depth + 1, 0);
  case '"':
    return string_value(p);
  case 't':
    if (!literal(p, "true", 4))
      return 0;
    lua_pushboolean(p->L, 1);
    return 1;
  case 'f':
    if (!literal(p, "false", 5))
      return 0;
    lua_pushboolean(p->L, 0);
    return 1;
  case 'n':
    if (!literal(p, "null", 4))
      return 0;
    lua_pushvalue(p->L, NULL_IDX);
    return 1;
  default:
    return number_value(p);
  }
}

int collate_sandbox_json_decode(lua_State *L)
{
  struct in p;
  p.L = L;
  p.s = luaL_checklstring(L, 1, &p.n);
  p.i = 0;
  p.scratch = NULL;
  lua_settop(L, 4);
  lua_pushnil(L); /* SCRATCH_IDX */
  int top = lua_gettop(L);
  skip_ws(&p);
  if (!value(&p, 0)) {
    lua_settop(L, top);
    return 0;
  }
  skip_ws(&p);
  if (p.i != p.n) {
    lua_settop(L, top);
    return 0;
  }
  return 1;
}
