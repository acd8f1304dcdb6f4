/* build_request: validates named parameters against the route table, then builds method, path
 * (with query), headers and JSON body. Nothing here does I/O. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "casing.h"
#include "core.h"
#include "headers.h"
#include "json.h"
#include "request.h"
#include "routes.h"
#include "utf8.h"

/* Limits of the contract (1.3, 1.4), checked before sending: metadata at most 16 KiB as JSON,
 * a request body at most 1 MiB, an ID at most 64 characters. */
#define METADATA_MAX_BYTES (16 * 1024)
#define BODY_MAX_BYTES (1024 * 1024)
#define ID_MAX_CHARS 64

/* Pushes s percent-encoded; RFC 3986 unreserved characters are kept. */
static void push_pct_encoded(lua_State *L, const char *s, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  luaL_Buffer b;
  size_t i;
  luaL_buffinit(L, &b);
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      luaL_addchar(&b, (char)c);
    } else {
      luaL_addchar(&b, '%');
      luaL_addchar(&b, hex[c >> 4]);
      luaL_addchar(&b, hex[c & 15]);
    }
  }
  luaL_pushresult(&b);
}

static int all_digits(const char *s, size_t len) {
  size_t i;
  if (len == 0) return 0;
  for (i = 0; i < len; i++)
    if (s[i] < '0' || s[i] > '9') return 0;
  return 1;
}

/* An integral number value at idx, as long long; 0 when not integral (or out of range). */
static int integral_value(lua_State *L, int idx, long long *out) {
  lua_Number f;
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
#if COLLATE_HAS_INTEGERS
  if (collate_isinteger(L, idx)) {
    *out = (long long)lua_tointeger(L, idx);
    return 1;
  }
#endif
  f = lua_tonumber(L, idx);
  if (f != floor(f) || !(f >= -9007199254740992.0 && f <= 9007199254740992.0)) return 0;
  *out = (long long)f;
  return 1;
}

#define IF_MATCH_FORMS \
  "the authorization's version, >= 1: an integer (17), a digit string (\"17\") or a quoted one " \
  "('\"17\"')"

/* Pushes the quoted entity tag '"17"' and returns 1, or pushes a message and returns 0. */
static int quote_if_match(lua_State *L, int idx) {
  long long v;
  size_t len;
  const char *s;
  switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
      if (integral_value(L, idx, &v) && v >= 1) {
        char buf[32];
        snprintf(buf, sizeof buf, "\"%lld\"", v);
        lua_pushstring(L, buf);
        return 1;
      }
      lua_pushfstring(L, "if_match must be " IF_MATCH_FORMS " (got %s)",
                      lua_tostring(L, idx));
      return 0;
    case LUA_TSTRING:
      s = lua_tolstring(L, idx, &len);
      if (len >= 3 && s[0] == '"' && s[len - 1] == '"') {
        s++;
        len -= 2;
      }
      if (len <= 19 && all_digits(s, len) && s[0] != '0') {
        lua_pushliteral(L, "\"");
        lua_pushlstring(L, s, len);
        lua_pushliteral(L, "\"");
        lua_concat(L, 3);
        return 1;
      }
      lua_pushfstring(L, "if_match must be " IF_MATCH_FORMS " (got '%s')", lua_tostring(L, idx));
      return 0;
    default:
      lua_pushfstring(L, "if_match must be " IF_MATCH_FORMS " (got %s)", luaL_typename(L, idx));
      return 0;
  }
}

/* core.quote_if_match(v) -> '"17"' | nil, "invalid_argument", message */
int collate_l_quote_if_match(lua_State *L) {
  if (quote_if_match(L, 1)) return 1;
  lua_pushnil(L);
  lua_insert(L, -2);
  lua_pushliteral(L, "invalid_argument");
  lua_insert(L, -2);
  return 3;
}

static int fail(lua_State *L, const struct collate_route *r, const char *fmt, const char *a,
                const char *b) {
  lua_pushnil(L);
  lua_pushstring(L, r != NULL ? r->name : "build_request");
  lua_pushliteral(L, ": ");
  lua_pushfstring(L, fmt, a, b);
  lua_concat(L, 3);
  return 2;
}

static const char *type_word(enum collate_param_type t) {
  switch (t) {
    case COLLATE_T_TABLE: return "a table";
    case COLLATE_T_INTEGER: return "an integer";
    default: return "a string";
  }
}

/* "limit must be an integer from 1 to 100 (got x)", the range when the contract gives one. */
static int fail_integer(lua_State *L, const struct collate_route *r, const struct collate_param *p,
                        const char *got) {
  lua_pushnil(L);
  if (p->max > 0)
    lua_pushfstring(L, "%s: %s must be an integer from %d to %d (got %s)", r->name, p->name, p->min,
                    p->max, got);
  else
    lua_pushfstring(L, "%s: %s must be an integer (got %s)", r->name, p->name, got);
  return 2;
}

/* Why s cannot be a path segment ID, or NULL. An ID is opaque, but it must stay one segment of
 * the path it is put in: "..", "/", "?", "#" would change the endpoint, "%" would be decoded by
 * the server, whitespace and control characters are never part of an API ID. */
const char *collate_path_id_problem(const char *s, size_t len) {
  size_t i, chars = 0;
  if (len == 0) return "must not be empty";
  if (len == 1 && s[0] == '.') return "must not be '.'";
  if (len == 2 && s[0] == '.' && s[1] == '.') return "must not be '..'";
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
      case '/': return "must not contain '/'";
      case '?': return "must not contain '?'";
      case '#': return "must not contain '#'";
      case '%': return "must not contain '%'";
      case ' ': return "must not contain whitespace";
      default: break;
    }
    if (c < 0x20 || c == 0x7f) {
      if (c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')
        return "must not contain whitespace or a control character";
      return "must not contain a control character";
    }
    if ((c & 0xc0) != 0x80) chars++;
  }
  if (chars > ID_MAX_CHARS) return "must be at most 64 characters (contract 1.4)";
  return NULL;
}

static int valid_idempotency_key(const char *s, size_t len) {
  size_t i;
  if (len < 1 || len > 255) return 0;
  for (i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) return 0;
  return 1;
}

/* Checks the value at top of stack against p; pushes nothing, returns an error via fail() when
 * wrong (non-zero return = number of results to return). */
static int check_param(lua_State *L, const struct collate_route *r, const struct collate_param *p,
                       int v) {
  int t = lua_type(L, v);
  long long iv = 0;
  if (t == LUA_TNIL) {
    if (p->required) return fail(L, r, "%s is required%s", p->name, "");
    return 0;
  }
  if (p->loc == COLLATE_LOC_IF_MATCH) {
    if (!quote_if_match(L, v)) {
      lua_pushnil(L);
      lua_pushstring(L, r->name);
      lua_pushliteral(L, ": ");
      lua_pushvalue(L, -4);
      lua_concat(L, 3);
      return 2;
    }
    lua_pop(L, 1);
    return 0;
  }
  switch (p->type) {
    case COLLATE_T_STRING: if (t == LUA_TSTRING) break; goto wrong;
    case COLLATE_T_TABLE: if (t == LUA_TTABLE) break; goto wrong;
    case COLLATE_T_INTEGER:
      if (integral_value(L, v, &iv)) break;
      return fail_integer(L, r, p, t == LUA_TNUMBER ? lua_tostring(L, v) : luaL_typename(L, v));
  }
  if (t == LUA_TSTRING) {
    size_t len, bad;
    const char *s = lua_tolstring(L, v, &len);
    bad = collate_utf8_invalid_at(s, len);
    if (bad != len) {
      char at[32];
      snprintf(at, sizeof at, "%lu", (unsigned long)bad + 1);
      return fail(L, r, "%s is not valid UTF-8 (byte %s)", p->name, at);
    }
    if (p->max > 0) {
      size_t i, chars = 0;
      for (i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80) chars++;
      if (chars < (size_t)p->min || chars > (size_t)p->max) {
        char got[32];
        snprintf(got, sizeof got, "%lu", (unsigned long)chars);
        lua_pushnil(L);
        if (p->min > 0)
          lua_pushfstring(L, "%s: %s must be %d to %d characters (got %s)", r->name, p->name, p->min,
                          p->max, got);
        else
          lua_pushfstring(L, "%s: %s must be at most %d characters (got %s)", r->name, p->name,
                          p->max, got);
        return 2;
      }
    }
    if (p->loc == COLLATE_LOC_PATH) {
      const char *problem = collate_path_id_problem(s, len);
      if (problem != NULL)
        return fail(L, r, "%s %s; pass the ID as the API returned it", p->name, problem);
    }
  }
  if (p->type == COLLATE_T_INTEGER && p->max > 0 && (iv < p->min || iv > p->max)) {
    char got[32];
    snprintf(got, sizeof got, "%lld", iv);
    return fail_integer(L, r, p, got);
  }
  if (p->loc == COLLATE_LOC_IDEMPOTENCY) {
    size_t len;
    const char *s = lua_tolstring(L, v, &len);
    if (!valid_idempotency_key(s, len))
      return fail(L, r, "%s must be 1-255 visible ASCII characters%s", p->name, "");
  }
  return 0;
wrong:
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s must be %s (got %s)", r->name, p->name, type_word(p->type),
                  luaL_typename(L, v));
  return 2;
}

/* Pushes the path with its query string. */
static void push_path(lua_State *L, const struct collate_route *r, int params) {
  const char *t = r->path;
  const struct collate_param *p;
  int n = 0, first = 1;
  while (*t != '\0') {
    const char *brace = strchr(t, '{');
    const char *close;
    size_t vlen;
    const char *v;
    luaL_checkstack(L, 4, "collate: path");
    if (brace == NULL) {
      lua_pushstring(L, t);
      n++;
      break;
    }
    close = strchr(brace, '}');
    lua_pushlstring(L, t, (size_t)(brace - t));
    lua_pushlstring(L, brace + 1, (size_t)(close - brace - 1));
    lua_rawget(L, params);
    v = lua_tolstring(L, -1, &vlen);
    push_pct_encoded(L, v, vlen);
    lua_remove(L, -2);
    n += 2;
    t = close + 1;
  }
  for (p = r->params; p->name != NULL; p++) {
    char key[128], num[32];
    size_t klen;
    long long iv = 0;
    if (p->loc != COLLATE_LOC_QUERY) continue;
    lua_getfield(L, params, p->name);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    luaL_checkstack(L, 6, "collate: query");
    if (p->type == COLLATE_T_INTEGER) {
      integral_value(L, -1, &iv);
      snprintf(num, sizeof num, "%lld", iv);
      lua_pop(L, 1);
      lua_pushstring(L, num);
    }
    klen = collate_snake_to_camel(p->name, strlen(p->name), key); /* names are short literals */
    lua_pushstring(L, first ? "?" : "&");
    lua_pushlstring(L, key, klen);
    lua_pushliteral(L, "=");
    {
      size_t vlen;
      const char *v = lua_tolstring(L, -4, &vlen);
      push_pct_encoded(L, v, vlen);
    }
    lua_remove(L, -5); /* the raw value */
    n += 4;
    first = 0;
  }
  lua_concat(L, n);
}

/* Checks that the body's tables can be sent, naming the field as the caller wrote it; returns 0
 * with a message pushed when one cannot. */
static int check_body_tables(lua_State *L, const struct collate_route *r, int params) {
  const struct collate_param *p;
  for (p = r->params; p->name != NULL; p++) {
    int ok;
    if (p->loc != COLLATE_LOC_BODY && p->loc != COLLATE_LOC_BODY_ROOT) continue;
    if (p->type != COLLATE_T_TABLE) continue;
    lua_getfield(L, params, p->name);
    ok = lua_isnil(L, -1) || collate_json_check(L, -1, p->name);
    if (!ok) {
      lua_remove(L, -2);
      return 0;
    }
    lua_pop(L, 1);
  }
  return 1;
}

/* The size of the body's metadata as JSON, checked on the converted body at src. Returns 0 with a
 * message pushed when it is over the limit. */
static int check_metadata_size(lua_State *L, int src) {
  size_t len;
  lua_getfield(L, src, "metadata");
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 1;
  }
  if (!collate_json_encode(L, -1)) {
    lua_remove(L, -2);
    return 0;
  }
  len = lua_rawlen(L, -1);
  lua_pop(L, 2);
  if (len <= METADATA_MAX_BYTES) return 1;
  {
    char n[32];
    snprintf(n, sizeof n, "%lu", (unsigned long)len);
    lua_pushfstring(L, "metadata is %s bytes as JSON; the API accepts at most 16 KiB (16384 "
                       "bytes): keep large data elsewhere and put its reference in metadata", n);
  }
  return 0;
}

/* Pushes the JSON body string, nil (no body), or returns 0 with a message pushed. */
static int push_body(lua_State *L, const struct collate_route *r, int params) {
  const struct collate_param *p, *root = collate_route_param(r, "request");
  int have = 0, src;
  if (!check_body_tables(L, r, params)) return 0;
  lua_getfield(L, params, "request");
  if (root != NULL && root->loc == COLLATE_LOC_BODY_ROOT && !lua_isnil(L, -1)) {
    src = lua_gettop(L); /* confirm's request table is the whole body */
    have = 1;
  } else {
    lua_pop(L, 1);
    lua_newtable(L);
    src = lua_gettop(L);
    for (p = r->params; p->name != NULL; p++) {
      if (p->loc != COLLATE_LOC_BODY) continue;
      lua_getfield(L, params, p->name);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        continue;
      }
      lua_setfield(L, src, p->name);
      have = 1;
    }
  }
  if (!have) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return 1;
  }
  if (!collate_convert(L, src, COLLATE_TO_WIRE)) {
    lua_pushfstring(L, "cannot encode the body as JSON: %s", lua_tostring(L, -1));
    lua_replace(L, src);
    lua_pop(L, 1);
    return 0;
  }
  lua_replace(L, src);
  lua_pushvalue(L, src); /* the converted table, for the metadata size */
  if (!collate_json_encode(L, src)) {
    lua_pushfstring(L, "cannot encode the body as JSON: %s", lua_tostring(L, -1));
    lua_replace(L, src);
    lua_pop(L, 2);
    return 0;
  }
  lua_replace(L, src);
  /* metadata is part of the body: a body within the limit has metadata within it */
  if (lua_rawlen(L, src) > METADATA_MAX_BYTES && !check_metadata_size(L, lua_gettop(L))) {
    lua_replace(L, src);
    lua_pop(L, 1);
    return 0;
  }
  lua_pop(L, 1);
  if (lua_rawlen(L, src) > BODY_MAX_BYTES) {
    char n[32];
    snprintf(n, sizeof n, "%lu", (unsigned long)lua_rawlen(L, src));
    lua_pushfstring(L, "the request body is %s bytes as JSON; the API accepts at most 1 MiB "
                       "(1048576 bytes)", n);
    lua_replace(L, src);
    return 0;
  }
  return 1;
}

/* Removes from headers a name equal to name but for case ("content-type" and "Content-Type"),
 * so that a caller's header replaces the client's instead of going out beside it. */
static void remove_same_name(lua_State *L, int headers, const char *name) {
  luaL_checkstack(L, 4, "collate: headers");
  lua_pushnil(L);
  while (lua_next(L, headers) != 0) {
    const char *k = lua_tostring(L, -2);
    lua_pop(L, 1);
    if (strcmp(k, name) != 0 && strcasecmp(k, name) == 0) {
      lua_pushnil(L);
      lua_rawset(L, headers);
      return; /* the client's own headers have one spelling each */
    }
  }
}

/* core.build_request(route_name, params, extra_headers?) -> {method, path, headers, body,
 * idempotency_key} | nil, message. extra_headers (the caller's, checked here so that every
 * transport gets only well-formed headers) are added last and may not set Authorization. */
int collate_l_build_request(lua_State *L) {
  const struct collate_route *r;
  const struct collate_param *p;
  int params, res, headers, nret, extra = 0;
  if (lua_type(L, 1) != LUA_TSTRING)
    return fail(L, NULL, "route name must be a string (got %s)%s", luaL_typename(L, 1), "");
  r = collate_route_find(lua_tostring(L, 1));
  if (r == NULL) return fail(L, NULL, "unknown route '%s'%s", lua_tostring(L, 1), "");
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_newtable(L);
  } else if (lua_type(L, 2) != LUA_TTABLE) {
    return fail(L, r, "parameters must be a table (got %s)%s", luaL_typename(L, 2), "");
  }
  lua_settop(L, 3);
  params = 2;
  if (!lua_isnil(L, 3)) {
    if (!collate_check_headers(L, 3, "extra_headers", 1))
      return fail(L, r, "%s%s", lua_tostring(L, -1), "");
    extra = 3;
  }

  lua_pushnil(L);
  while (lua_next(L, params) != 0) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      return fail(L, r, "parameter names must be strings (got %s)%s", luaL_typename(L, -1), "");
    if (collate_route_param(r, lua_tostring(L, -1)) == NULL)
      return fail(L, r, "unknown parameter '%s'%s", lua_tostring(L, -1), "");
  }
  for (p = r->params; p->name != NULL; p++) {
    lua_getfield(L, params, p->name);
    nret = check_param(L, r, p, lua_gettop(L));
    if (nret) return nret;
    lua_pop(L, 1);
  }
  if (collate_route_param(r, "request") != NULL &&
      collate_route_param(r, "request")->loc == COLLATE_LOC_BODY_ROOT) {
    int both;
    lua_getfield(L, params, "request");
    lua_getfield(L, params, "accepted_review_snapshot_id");
    both = !lua_isnil(L, -1) && !lua_isnil(L, -2);
    lua_pop(L, 2);
    if (both)
      return fail(L, r, "pass either request or accepted_review_snapshot_id, not both%s%s", "",
                  "");
  }

  lua_createtable(L, 0, 5);
  res = lua_gettop(L);
  lua_pushstring(L, r->method);
  lua_setfield(L, res, "method");
  push_path(L, r, params);
  lua_setfield(L, res, "path");

  lua_createtable(L, 0, 4);
  headers = lua_gettop(L);
  lua_pushliteral(L, "application/json");
  lua_setfield(L, headers, "Accept");
  for (p = r->params; p->name != NULL; p++) {
    if (p->loc == COLLATE_LOC_IF_MATCH) {
      lua_getfield(L, params, p->name);
      quote_if_match(L, -1); /* validated above */
      lua_setfield(L, headers, "If-Match");
      lua_pop(L, 1);
    } else if (p->loc == COLLATE_LOC_IDEMPOTENCY) {
      lua_getfield(L, params, p->name);
      if (lua_isnil(L, -1) && r->always_idempotency_key) {
        lua_pop(L, 1);
        collate_l_uuid4(L);
      }
      if (!lua_isnil(L, -1)) {
        lua_pushvalue(L, -1);
        lua_setfield(L, headers, "Idempotency-Key");
        lua_setfield(L, res, "idempotency_key");
      } else {
        lua_pop(L, 1);
      }
    }
  }
  if (!push_body(L, r, params)) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", r->name, lua_tostring(L, -2));
    return 2;
  }
  if (!lua_isnil(L, -1)) {
    lua_pushliteral(L, "application/json");
    lua_setfield(L, headers, "Content-Type");
  }
  lua_setfield(L, res, "body");
  if (extra) {
    lua_pushnil(L);
    while (lua_next(L, extra) != 0) {
      remove_same_name(L, headers, lua_tostring(L, -2)); /* one header per name, the caller's */
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, headers);
    }
  }
  lua_pushvalue(L, headers);
  lua_setfield(L, res, "headers");
  lua_pushvalue(L, res);
  return 1;
}
