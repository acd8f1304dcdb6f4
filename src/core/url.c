/* Base and proxy URL checks on libcurl's URL parser (curl_url), and their Lua face:
 *   core.check_base_url(url)  -> {url, scheme, host, port, loopback} | nil, "invalid_argument", msg
 *   core.check_proxy_url(url) -> {scheme, host, port, credentials}  | nil, "invalid_argument", msg
 * A string-prefix test reads "http://127.0.0.1:1@evil:80" as a loopback URL; libcurl connects to
 * "evil". Deciding on curl's own parse means the host we approve is the host curl dials. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "core.h"
#include "url.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (err != NULL && errlen > 0) {
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

int collate_host_is_loopback(const char *host) {
  char buf[64];
  size_t n = strlen(host);
  unsigned char a6[16];
  struct in_addr a4;
  if (strcmp(host, "localhost") == 0) return 1;
  if (inet_pton(AF_INET, host, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  if (n < 3 || host[0] != '[' || host[n - 1] != ']' || n - 2 >= sizeof buf) return 0;
  memcpy(buf, host + 1, n - 2);
  buf[n - 2] = '\0';
  if (inet_pton(AF_INET6, buf, a6) != 1) return 0;
  {
    static const unsigned char one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a6, one, 16) == 0) return 1;
    return memcmp(a6, mapped, 12) == 0 && a6[12] == 127;
  }
}

/* Whitespace and control characters have no place in a base URL; curl would reject some and
 * percent-encode others. */
static int has_bad_byte(const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c <= 0x20 || c == 0x7f) return 1;
  }
  return 0;
}

/* "http://" or "https://" in any case: curl also takes "https:/h" and "h" (guessing), which
 * would make the check's reading of a URL differ from the user's. */
static int http_scheme_prefix(const char *s) {
  if (strncasecmp(s, "http://", 7) == 0) return 1;
  return strncasecmp(s, "https://", 8) == 0;
}

/* A host as curl reports it: letters, digits, '-', '_' and '.', or an IPv6 literal in brackets.
 * curl decodes %XX in a host and passes other bytes through, so a host such as "ap%2563al"
 * came back as "ap%63al", which the rendered base URL then gave curl to decode again (found by
 * tests/fuzz/fuzz_url.c). */
static int host_chars_ok(const char *h) {
  const char *p = h;
  if (*p == '[') {
    for (p++; *p != '\0' && *p != ']'; p++)
      if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == ':' || *p == '.'))
        return 0;
    return *p == ']' && p[1] == '\0';
  }
  for (; *p != '\0'; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
          *p == '.'))
      return 0;
  return 1;
}

/* Whether the host as written (after "://" and any userinfo, before the path) has a '%'. */
static int host_percent_encoded(const char *url) {
  const char *auth = strstr(url, "://"), *at, *p;
  size_t n;
  if (auth == NULL) return 0;
  auth += 3;
  n = strcspn(auth, "/?#");
  at = NULL;
  for (p = auth; p < auth + n; p++)
    if (*p == '@') at = p;
  if (at != NULL) {
    n -= (size_t)(at + 1 - auth);
    auth = at + 1;
  }
  return memchr(auth, '%', n) != NULL;
}

/* The part `what` of h as a string, or NULL when absent. The caller frees it with curl_free. */
static char *part(CURLU *h, CURLUPart what, unsigned flags) {
  char *s = NULL;
  if (curl_url_get(h, what, &s, flags) != CURLUE_OK) return NULL;
  return s;
}

static int present(CURLU *h, CURLUPart what) {
  char *s = part(h, what, 0);
  int any = s != NULL;
  curl_free(s);
  return any;
}

/* Parses url into h and fills scheme, host, port; common to both checks. */
static int parse_common(CURLU *h, const char *url, struct collate_url *out, char *err,
                        size_t errlen) {
  char *scheme, *host, *port;
  size_t i;
  CURLUcode rc;
  if (url == NULL || url[0] == '\0') return fail(err, errlen, "must not be empty");
  if (strlen(url) >= COLLATE_URL_MAX)
    return fail(err, errlen, "is too long (at most %d bytes)", COLLATE_URL_MAX - 1);
  if (has_bad_byte(url)) return fail(err, errlen, "must not contain spaces or control characters");
  if (strchr(url, '\\') != NULL) return fail(err, errlen, "must not contain a backslash");
  if (!http_scheme_prefix(url))
    return fail(err, errlen, "must be an absolute http:// or https:// URL (scheme://host)");
  rc = curl_url_set(h, CURLUPART_URL, url, 0);
  if (rc != CURLUE_OK) {
    /* curl refuses a URL without a scheme, an unknown scheme, a bad port or a bad host */
    return fail(err, errlen, "must be an absolute http:// or https:// URL (%s)",
                curl_url_strerror(rc));
  }
  scheme = part(h, CURLUPART_SCHEME, 0);
  if (scheme == NULL) return fail(err, errlen, "must be an absolute http:// or https:// URL");
  for (i = 0; scheme[i]; i++) scheme[i] = (char)tolower((unsigned char)scheme[i]);
  if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
    curl_free(scheme);
    return fail(err, errlen, "must be an http:// or https:// URL (other schemes are refused)");
  }
  strcpy(out->scheme, scheme);
  curl_free(scheme);
  host = part(h, CURLUPART_HOST, 0);
  if (host == NULL || host[0] == '\0' || strlen(host) >= sizeof out->host) {
    curl_free(host);
    return fail(err, errlen, "must name a host (scheme://host[:port])");
  }
  for (i = 0; host[i]; i++) out->host[i] = (char)tolower((unsigned char)host[i]);
  out->host[i] = '\0';
  curl_free(host);
  if (present(h, CURLUPART_ZONEID))
    return fail(err, errlen, "must not contain an IPv6 zone id");
  if (host_percent_encoded(url))
    return fail(err, errlen, "must not percent-encode the host (%%XX): write the host as it is");
  if (!host_chars_ok(out->host))
    return fail(err, errlen,
                "must name a host of letters, digits, '-', '_' and '.', or an IP address (an "
                "internationalised name in its xn-- form)");
  port = part(h, CURLUPART_PORT, CURLU_DEFAULT_PORT);
  out->port = port ? (unsigned)strtoul(port, NULL, 10) : 0;
  curl_free(port);
  if (out->port == 0 || out->port > 65535) return fail(err, errlen, "has an invalid port");
  out->loopback = collate_host_is_loopback(out->host);
  return 0;
}

static int render(CURLU *h, struct collate_url *out, const char *path, char *err, size_t errlen) {
  char *explicit_port = part(h, CURLUPART_PORT, 0);
  int n;
  n = snprintf(out->base, sizeof out->base, "%s://%s%s%s%s", out->scheme, out->host,
               explicit_port ? ":" : "", explicit_port ? explicit_port : "", path);
  curl_free(explicit_port);
  if (n < 0 || (size_t)n >= sizeof out->base)
    return fail(err, errlen, "is too long (at most %d bytes)", COLLATE_URL_MAX - 1);
  return 0;
}

static int check_base(CURLU *h, const char *url, struct collate_url *out, char *err,
                      size_t errlen) {
  char *path;
  size_t plen;
  int rc;
  /* '@' before any parse: the credentials' text (a key, a password) never reaches a message */
  if (url != NULL && strchr(url, '@') != NULL)
    return fail(err, errlen,
                "must not contain credentials (user@ or user:password@ before the host): "
                "pass the key as api_key, never inside the URL");
  if (url != NULL && strchr(url, '?') != NULL)
    return fail(err, errlen, "must not contain a query ('?...'): give scheme://host[:port][/path]");
  if (url != NULL && strchr(url, '#') != NULL)
    return fail(err, errlen,
                "must not contain a fragment ('#...'): give scheme://host[:port][/path]");
  if (parse_common(h, url, out, err, errlen) != 0) return -1;
  /* curl's own view agrees with the checks above, or we refuse */
  if (present(h, CURLUPART_USER) || present(h, CURLUPART_PASSWORD) ||
      present(h, CURLUPART_OPTIONS))
    return fail(err, errlen, "must not contain credentials: pass the key as api_key");
  if (present(h, CURLUPART_QUERY) || present(h, CURLUPART_FRAGMENT))
    return fail(err, errlen, "must not contain a query or fragment");
  if (strcmp(out->scheme, "http") == 0 && !out->loopback)
    return fail(err, errlen,
                "is plain http:// to %s, which is not a loopback host: refusing to send the API "
                "key in clear text; use https:// (plain http is allowed only for 127.0.0.0/8, "
                "::1 and localhost)",
                out->host);
  path = part(h, CURLUPART_PATH, 0);
  if (path == NULL) return fail(err, errlen, "must be an absolute http:// or https:// URL");
  plen = strlen(path);
  while (plen > 0 && path[plen - 1] == '/') path[--plen] = '\0';
  rc = render(h, out, path, err, errlen);
  curl_free(path);
  return rc;
}

int collate_url_check(const char *url, struct collate_url *out, char *err, size_t errlen) {
  CURLU *h = curl_url();
  int rc;
  memset(out, 0, sizeof *out);
  if (h == NULL) return fail(err, errlen, "cannot be checked (out of memory)");
  rc = check_base(h, url, out, err, errlen);
  curl_url_cleanup(h);
  return rc;
}

static int check_proxy(CURLU *h, const char *url, struct collate_url *out, char *err,
                       size_t errlen) {
  char *path;
  int plain_root;
  if (url != NULL && (strchr(url, '?') != NULL || strchr(url, '#') != NULL))
    return fail(err, errlen, "must not contain a query or fragment: give scheme://host:port");
  if (parse_common(h, url, out, err, errlen) != 0) return -1;
  out->has_credentials = present(h, CURLUPART_USER) || present(h, CURLUPART_PASSWORD);
  path = part(h, CURLUPART_PATH, 0);
  plain_root = path == NULL || strcmp(path, "/") == 0;
  curl_free(path);
  if (!plain_root) return fail(err, errlen, "must not contain a path: give scheme://host:port");
  return render(h, out, "", err, errlen);
}

int collate_proxy_url_check(const char *url, struct collate_url *out, char *err,
                            size_t errlen) {
  CURLU *h = curl_url();
  int rc;
  memset(out, 0, sizeof *out);
  if (h == NULL) return fail(err, errlen, "cannot be checked (out of memory)");
  rc = check_proxy(h, url, out, err, errlen);
  curl_url_cleanup(h);
  return rc;
}

static int split(CURLU *h, const char *url, struct collate_url *out, char *target,
                 size_t targetlen, char *err, size_t errlen) {
  char *path, *query;
  int n;
  if (parse_common(h, url, out, err, errlen) != 0) return -1;
  if (present(h, CURLUPART_USER) || present(h, CURLUPART_PASSWORD) ||
      present(h, CURLUPART_OPTIONS))
    return fail(err, errlen, "must not contain credentials (user@ before the host)");
  path = part(h, CURLUPART_PATH, 0);
  query = part(h, CURLUPART_QUERY, 0);
  n = snprintf(target, targetlen, "%s%s%s", path ? path : "/", query ? "?" : "",
               query ? query : "");
  curl_free(path);
  curl_free(query);
  if (n < 0 || (size_t)n >= targetlen)
    return fail(err, errlen, "is too long (at most %u bytes)", (unsigned)targetlen - 1);
  return render(h, out, "", err, errlen);
}

int collate_url_split(const char *url, struct collate_url *out, char *target, size_t targetlen,
                      char *err, size_t errlen) {
  CURLU *h = curl_url();
  int rc;
  memset(out, 0, sizeof *out);
  if (targetlen > 0) target[0] = '\0';
  if (h == NULL) return fail(err, errlen, "cannot be checked (out of memory)");
  rc = split(h, url, out, target, targetlen, err, errlen);
  curl_url_cleanup(h);
  return rc;
}

static int push_checked(lua_State *L, int rc, const struct collate_url *u, const char *err,
                        int proxy) {
  if (rc != 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "invalid_argument");
    lua_pushstring(L, err);
    return 3;
  }
  lua_createtable(L, 0, 5);
  if (!proxy) {
    lua_pushstring(L, u->base);
    lua_setfield(L, -2, "url");
  }
  lua_pushstring(L, u->scheme);
  lua_setfield(L, -2, "scheme");
  lua_pushstring(L, u->host);
  lua_setfield(L, -2, "host");
  lua_pushinteger(L, (lua_Integer)u->port);
  lua_setfield(L, -2, "port");
  lua_pushboolean(L, u->loopback);
  lua_setfield(L, -2, "loopback");
  if (proxy) {
    lua_pushboolean(L, u->has_credentials);
    lua_setfield(L, -2, "credentials");
  }
  return 1;
}

/* The struct is large (two URL buffers): a userdata, not the C stack, and nothing to free if
 * pushing the result raises. */
static int l_check(lua_State *L, int proxy) {
  const char *url = luaL_checkstring(L, 1);
  char err[512];
  struct collate_url *u = (struct collate_url *)lua_newuserdata(L, sizeof *u);
  int rc;
  err[0] = '\0';
  rc = proxy ? collate_proxy_url_check(url, u, err, sizeof err)
             : collate_url_check(url, u, err, sizeof err);
  return push_checked(L, rc, u, err, proxy);
}

/* core.split_url(url) -> {scheme, host, port, loopback, origin, target} | nil, kind, message:
 * the cosocket transport's reading of a request URL, the same as libcurl's. */
int collate_l_split_url(lua_State *L) {
  const char *url = luaL_checkstring(L, 1);
  char err[512];
  size_t cap = strlen(url) + 2;
  struct collate_url *u = (struct collate_url *)lua_newuserdata(L, sizeof *u);
  char *target = (char *)lua_newuserdata(L, cap);
  err[0] = '\0';
  if (collate_url_split(url, u, target, cap, err, sizeof err) != 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "invalid_argument");
    lua_pushstring(L, err);
    return 3;
  }
  push_checked(L, 0, u, err, 1);
  lua_pushstring(L, u->base);
  lua_setfield(L, -2, "origin");
  lua_pushstring(L, target);
  lua_setfield(L, -2, "target");
  lua_pushnil(L);
  lua_setfield(L, -2, "credentials");
  return 1;
}

int collate_l_check_base_url(lua_State *L) {
  return l_check(L, 0);
}

int collate_l_check_proxy_url(lua_State *L) {
  return l_check(L, 1);
}
