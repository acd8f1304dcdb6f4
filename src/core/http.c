/* core.http(): one libcurl easy handle per userdata, reused so its connection cache survives
 * between calls. Callbacks only touch C buffers; Lua values are built after curl returns, so no
 * Lua error can cross libcurl (Lua-cURLv3's rule). Everything a perform allocates hangs off the
 * userdata, so a Lua error (e.g. out of memory) between steps leaks nothing: the next perform or
 * close frees it. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "core.h"

#define HANDLE_MT "collate.core.http"

struct buf {
  char *data;
  size_t len, cap;
};

struct handle {
  CURL *easy;
  struct curl_slist *req_headers;
  struct buf resp_headers; /* "name\0value\0" pairs of the last response */
  struct buf body;
  FILE *in;                /* body_file */
  FILE *out;               /* out_file, opened on the first 2xx byte */
  const char *out_path;    /* points into the request table's string, valid during perform */
  int out_opened;
  int out_failed;          /* errno of a failed open or write of out_file */
  int in_failed;
  int oom;
  char errbuf[CURL_ERROR_SIZE];
};

static int global_ready = 0;

static int buf_add(struct buf *b, const char *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    char *d;
    while (cap < b->len + n + 1) {
      if (cap > ((size_t)-1) / 2) return -1;
      cap *= 2;
    }
    d = (char *)realloc(b->data, cap);
    if (d == NULL) return -1;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

static void buf_free(struct buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* Per-request state, released before each perform and at close. */
static void release_request(struct handle *h) {
  if (h->req_headers != NULL) curl_slist_free_all(h->req_headers);
  h->req_headers = NULL;
  if (h->in != NULL) fclose(h->in);
  h->in = NULL;
  if (h->out != NULL) fclose(h->out);
  h->out = NULL;
  h->out_path = NULL;
  buf_free(&h->resp_headers);
  buf_free(&h->body);
  h->out_failed = h->in_failed = h->oom = h->out_opened = 0;
  h->errbuf[0] = '\0';
}

static void handle_close(struct handle *h) {
  release_request(h);
  if (h->easy != NULL) curl_easy_cleanup(h->easy);
  h->easy = NULL;
}

static struct handle *check_handle(lua_State *L) {
  return (struct handle *)luaL_checkudata(L, 1, HANDLE_MT);
}

static int l_close(lua_State *L) {
  handle_close(check_handle(L));
  return 0;
}

static int l_tostring(lua_State *L) {
  struct handle *h = check_handle(L);
  if (h->easy == NULL)
    lua_pushliteral(L, "collate.http (closed)");
  else
    lua_pushfstring(L, "collate.http (%p)", (void *)h);
  return 1;
}

static int status_is_2xx(CURL *easy) {
  long code = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
  return code >= 200 && code <= 299;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct handle *h = (struct handle *)ud;
  size_t n = size * nmemb;
  /* with out_file only a 2xx body goes to the file; an error body stays in memory to be parsed */
  if (h->out_path != NULL && status_is_2xx(h->easy)) {
    if (h->out == NULL) {
      h->out = fopen(h->out_path, "wb");
      h->out_opened = 1;
      if (h->out == NULL) {
        h->out_failed = errno ? errno : EIO;
        return 0;
      }
    }
    if (n > 0 && fwrite(ptr, 1, n, h->out) != n) {
      h->out_failed = errno ? errno : EIO;
      return 0;
    }
    return n;
  }
  if (buf_add(&h->body, ptr, n) != 0) {
    h->oom = 1;
    return 0;
  }
  return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct handle *h = (struct handle *)ud;
  size_t n = size * nmemb, len = n, i;
  const char *colon, *v;
  size_t nlen, vlen;
  char nul = '\0';
  if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
    h->resp_headers.len = 0; /* a new response (after 1xx): keep only the final one's headers */
    return n;
  }
  while (len > 0 && (ptr[len - 1] == '\r' || ptr[len - 1] == '\n')) len--;
  colon = (const char *)memchr(ptr, ':', len);
  if (colon == NULL || colon == ptr) return n; /* blank line or obsolete folding: ignored */
  nlen = (size_t)(colon - ptr);
  v = colon + 1;
  vlen = len - nlen - 1;
  while (vlen > 0 && (*v == ' ' || *v == '\t')) { v++; vlen--; }
  while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
  for (i = 0; i < nlen; i++) ptr[i] = (char)tolower((unsigned char)ptr[i]);
  if (buf_add(&h->resp_headers, ptr, nlen) || buf_add(&h->resp_headers, &nul, 1) ||
      buf_add(&h->resp_headers, v, vlen) || buf_add(&h->resp_headers, &nul, 1)) {
    h->oom = 1;
    return 0;
  }
  return n;
}

static size_t on_read(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct handle *h = (struct handle *)ud;
  size_t n = fread(ptr, 1, size * nmemb, h->in);
  if (n == 0 && ferror(h->in)) {
    h->in_failed = errno ? errno : EIO;
    return CURL_READFUNC_ABORT;
  }
  return n;
}

static int on_seek(void *ud, curl_off_t offset, int origin) {
  struct handle *h = (struct handle *)ud;
  return fseeko(h->in, (off_t)offset, origin) == 0 ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_FAIL;
}

/* Options that hold for every request; set again after each curl_easy_reset. */
static void set_defaults(struct handle *h) {
  CURL *e = h->easy;
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
}

/* Reads an optional string field; raises on a wrong type (a programmer error, before any I/O). */
static const char *opt_string(lua_State *L, int t, const char *k, size_t *len) {
  const char *s = NULL;
  lua_getfield(L, t, k);
  if (lua_type(L, -1) == LUA_TSTRING) {
    s = lua_tolstring(L, -1, len);
  } else if (!lua_isnil(L, -1)) {
    luaL_error(L, "perform: %s must be a string (got %s)", k, luaL_typename(L, -1));
  }
  lua_pop(L, 1); /* still referenced by the request table, which stays on the stack */
  return s;
}

static double opt_seconds(lua_State *L, int t, const char *k, double def) {
  double v = def;
  lua_getfield(L, t, k);
  if (lua_type(L, -1) == LUA_TNUMBER) {
    v = (double)lua_tonumber(L, -1);
  } else if (!lua_isnil(L, -1)) {
    luaL_error(L, "perform: %s must be a number of seconds (got %s)", k, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return v;
}

static long to_ms(double s) {
  double ms = ceil(s * 1000.0);
  if (!(ms >= 1)) return 1; /* 0 would mean "no timeout" to libcurl; an expired deadline is 1 ms */
  if (ms > 86400000.0) return 86400000L;
  return (long)ms;
}

static int has_ctl(const char *s, size_t len) {
  size_t i;
  for (i = 0; i < len; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 1;
  return 0;
}

static int append_header(struct handle *h, const char *line) {
  struct curl_slist *n = curl_slist_append(h->req_headers, line);
  if (n == NULL) return -1;
  h->req_headers = n;
  return 0;
}

/* Builds the request header list from req.headers; raises on invalid names or values. */
static void build_headers(lua_State *L, struct handle *h, int req) {
  int have_ct = 0;
  lua_getfield(L, req, "headers");
  if (lua_type(L, -1) == LUA_TTABLE) {
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
      size_t nlen, vlen;
      const char *name, *value;
      if (lua_type(L, -2) != LUA_TSTRING ||
          (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
        luaL_error(L, "perform: headers must map names to strings");
      name = lua_tolstring(L, -2, &nlen);
      lua_pushvalue(L, -1);
      value = lua_tolstring(L, -1, &vlen); /* the copy: converting the key's value in place is ok,
                                              but never touch the key lua_next needs */
      if (nlen == 0 || has_ctl(name, nlen) || memchr(name, ':', nlen) || has_ctl(value, vlen))
        luaL_error(L, "perform: invalid header %s", name);
      if (nlen == 12 && strncasecmp(name, "content-type", 12) == 0) have_ct = 1;
      /* "Name;" is libcurl's way to send a header with an empty value */
      lua_pushfstring(L, vlen == 0 ? "%s;" : "%s: %s", name, value);
      if (append_header(h, lua_tostring(L, -1)) != 0) luaL_error(L, "perform: out of memory");
      lua_pop(L, 3);
    }
  } else if (!lua_isnil(L, -1)) {
    luaL_error(L, "perform: headers must be a table");
  }
  lua_pop(L, 1);
  /* no 100-continue round trip; no form Content-Type made up by libcurl for a bare POST */
  if (append_header(h, "Expect:") != 0 || (!have_ct && append_header(h, "Content-Type:") != 0))
    luaL_error(L, "perform: out of memory");
}

static int is_tls_error(CURLcode rc) {
  switch (rc) {
    case CURLE_SSL_CONNECT_ERROR: case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM: case CURLE_SSL_CIPHER: case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND: case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED: case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE: case CURLE_SSL_ISSUER_ERROR: case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS: case CURLE_USE_SSL_FAILED:
      return 1;
    default:
      return 0;
  }
}

static int fail(lua_State *L, const char *kind, const char *what, const char *detail) {
  lua_pushnil(L);
  lua_pushstring(L, kind);
  if (detail != NULL && detail[0] != '\0')
    lua_pushfstring(L, "%s: %s", what, detail);
  else
    lua_pushstring(L, what);
  return 3;
}

static int transfer_error(lua_State *L, struct handle *h, CURLcode rc, const char *url) {
  const char *detail = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
  if (h->oom) return fail(L, "io", "out of memory while receiving the response", NULL);
  if (h->out_failed) return fail(L, "io", "cannot write out_file", strerror(h->out_failed));
  if (h->in_failed) return fail(L, "io", "cannot read body_file", strerror(h->in_failed));
  if (rc == CURLE_OPERATION_TIMEDOUT) return fail(L, "timeout", "request timed out", detail);
  if (rc == CURLE_PEER_FAILED_VERIFICATION)
    return fail(L, "tls", "TLS certificate verification failed", detail);
  if (rc == CURLE_SSL_CACERT_BADFILE)
    return fail(L, "tls", "TLS CA file could not be loaded", detail);
  if (is_tls_error(rc)) return fail(L, "tls", "TLS error", detail);
  if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
    lua_pushnil(L);
    lua_pushliteral(L, "invalid_argument");
    lua_pushfstring(L, "cannot use URL %s: %s", url, detail);
    return 3;
  }
  return fail(L, "connection", "connection failed", detail);
}

/* Pushes the response headers as a table; repeated names are joined with ", ". */
static void push_response_headers(lua_State *L, struct handle *h) {
  size_t pos = 0;
  int t;
  lua_newtable(L);
  t = lua_gettop(L);
  while (pos < h->resp_headers.len) {
    const char *name = h->resp_headers.data + pos;
    size_t nlen = strlen(name);
    const char *value = name + nlen + 1;
    size_t vlen = strlen(value);
    pos += nlen + vlen + 2;
    lua_pushlstring(L, name, nlen);
    lua_pushvalue(L, -1);
    lua_rawget(L, t);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_pushlstring(L, value, vlen);
    } else {
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, value, vlen);
      lua_concat(L, 3);
    }
    lua_rawset(L, t);
  }
}

/* h:perform(req) -> status, headers, body | nil, kind, message */
static int l_perform(lua_State *L) {
  struct handle *h = check_handle(L);
  const char *method, *url, *body, *body_file, *out_file, *ca_file, *user_agent;
  size_t mlen = 0, ulen = 0, blen = 0, tmp = 0;
  double timeout, connect_timeout;
  CURL *e;
  CURLcode rc;
  long status = 0;
  int is_get, is_head;

  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  if (h->easy == NULL) return luaL_error(L, "perform: the http handle is closed");
  release_request(h);

  method = opt_string(L, 2, "method", &mlen);
  url = opt_string(L, 2, "url", &ulen);
  body = opt_string(L, 2, "body", &blen);
  body_file = opt_string(L, 2, "body_file", &tmp);
  out_file = opt_string(L, 2, "out_file", &tmp);
  ca_file = opt_string(L, 2, "ca_file", &tmp);
  user_agent = opt_string(L, 2, "user_agent", &tmp);
  timeout = opt_seconds(L, 2, "timeout", 60);
  connect_timeout = opt_seconds(L, 2, "connect_timeout", 10);
  if (url == NULL || has_ctl(url, ulen)) return luaL_error(L, "perform: url is required");
  if (method == NULL) {
    method = "GET";
    mlen = 3;
  }
  if (mlen == 0 || has_ctl(method, mlen) || strchr(method, ' '))
    return luaL_error(L, "perform: invalid method");
  if (body != NULL && body_file != NULL)
    return luaL_error(L, "perform: body and body_file are exclusive");

  e = h->easy;
  curl_easy_reset(e); /* keeps the connection cache; clears every per-request option */
  set_defaults(h);
  build_headers(L, h, 2);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->req_headers);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, to_ms(timeout));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, to_ms(connect_timeout));
  if (ca_file != NULL) curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
  if (user_agent != NULL) curl_easy_setopt(e, CURLOPT_USERAGENT, user_agent);

  is_get = strcmp(method, "GET") == 0;
  is_head = strcmp(method, "HEAD") == 0;
  if (body_file != NULL) {
    struct stat st;
    h->in = fopen(body_file, "rb");
    if (h->in == NULL || fstat(fileno(h->in), &st) != 0)
      return fail(L, "io", "cannot open body_file", strerror(errno));
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, h);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, h);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
    if (strcmp(method, "PUT") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  } else if (body != NULL || !(is_get || is_head || strcmp(method, "DELETE") == 0)) {
    /* the request table holds the body string for the whole (synchronous) transfer */
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? blen : 0));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
    if (strcmp(method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  } else if (is_head) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    if (!is_get) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  }
  h->out_path = out_file;

  rc = curl_easy_perform(e);
  if (h->out != NULL) {
    if (fclose(h->out) != 0 && rc == CURLE_OK) h->out_failed = errno ? errno : EIO;
    h->out = NULL;
  }
  if (h->in != NULL) {
    fclose(h->in);
    h->in = NULL;
  }
  if (rc != CURLE_OK || h->out_failed) return transfer_error(L, h, rc, url);

  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  if (out_file != NULL && status >= 200 && status <= 299 && !h->out_opened) {
    /* an empty 2xx body never reached on_body: the file must still exist, empty */
    FILE *f = fopen(out_file, "wb");
    if (f == NULL) return fail(L, "io", "cannot write out_file", strerror(errno));
    fclose(f);
  }
  h->out_path = NULL;
  lua_pushinteger(L, (lua_Integer)status);
  push_response_headers(L, h);
  if (out_file != NULL && status >= 200 && status <= 299)
    lua_pushnil(L);
  else
    lua_pushlstring(L, h->body.data ? h->body.data : "", h->body.len);
  buf_free(&h->body);
  buf_free(&h->resp_headers);
  return 3;
}

static const luaL_Reg methods[] = {
  {"perform", l_perform},
  {"close", l_close},
  {NULL, NULL}
};

static const luaL_Reg metamethods[] = {
  {"__gc", l_close},
  {"__close", l_close},
  {"__tostring", l_tostring},
  {NULL, NULL}
};

void collate_http_register(lua_State *L) {
  luaL_newmetatable(L, HANDLE_MT);
  luaL_setfuncs(L, metamethods, 0);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

/* core.http() -> handle. The userdata exists (closed) before curl is asked for anything, so a
 * failure leaves nothing to clean up but a closed userdata. */
int collate_l_http(lua_State *L) {
  struct handle *h = (struct handle *)lua_newuserdata(L, sizeof *h);
  memset(h, 0, sizeof *h);
  luaL_getmetatable(L, HANDLE_MT);
  lua_setmetatable(L, -2);
  if (!global_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return luaL_error(L, "collate: curl_global_init failed");
    global_ready = 1;
  }
  h->easy = curl_easy_init();
  if (h->easy == NULL) return luaL_error(L, "collate: curl_easy_init failed");
  return 1;
}

const char *collate_curl_version(void) {
  return curl_version_info(CURLVERSION_NOW)->version;
}
