/* Callbacks only touch C buffers and files; Lua values are built after curl returns, so no Lua
 * error can cross libcurl (Lua-cURLv3's rule). Everything a request allocates hangs off the
 * transfer, so a Lua error between steps (a bad argument, out of memory) leaks nothing: the next
 * setup or the owner's close frees it. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "transfer.h"
#include "url.h"

static int global_ready = 0;

int collate_curl_global(void) {
  if (!global_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return -1;
    global_ready = 1;
  }
  return 0;
}

/* Appends n bytes; capacity doubles, but never past limit + 1 bytes when a limit is known
 * (max_response_bytes), so a body just under the limit does not cost twice the limit. */
static int buf_add_bounded(struct collate_buf *b, const char *p, size_t n, size_t limit) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    char *d;
    while (cap < b->len + n + 1) {
      if (cap > ((size_t)-1) / 2) return -1;
      cap *= 2;
    }
    if (limit > 0 && cap > limit + 1 && b->len + n + 1 <= limit + 1) cap = limit + 1;
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

static int buf_add(struct collate_buf *b, const char *p, size_t n) {
  return buf_add_bounded(b, p, n, 0);
}

static void buf_free(struct collate_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* Kept between requests when small: a response of a few KB otherwise costs a chain of reallocs
 * (and glibc's consolidation of the freed chunks) every time. A large one is given back. */
#define BUF_KEEP (64 * 1024)

static void buf_empty(struct collate_buf *b) {
  if (b->cap > BUF_KEEP) buf_free(b);
  b->len = 0;
}

void collate_xfer_release(struct collate_xfer *x) {
  if (x->in != NULL) fclose(x->in);
  x->in = NULL;
  if (x->out != NULL) fclose(x->out);
  x->out = NULL;
  free(x->out_path);
  x->out_path = NULL;
  buf_empty(&x->resp_headers);
  buf_empty(&x->body);
  x->resp_count = 0;
  x->out_failed = x->in_failed = x->oom = x->out_opened = x->too_large = 0;
  x->max_bytes = x->received = 0;
  free(x->url_error);
  x->url_error = NULL;
  x->rc = CURLE_OK;
  x->errbuf[0] = '\0';
}

void collate_xfer_free(struct collate_xfer *x) {
  collate_xfer_release(x);
  if (x->req_headers != NULL) curl_slist_free_all(x->req_headers);
  x->req_headers = NULL;
  buf_free(&x->resp_headers);
  buf_free(&x->body);
  free(x->cfg_ca);
  free(x->cfg_ua);
  x->cfg_ca = x->cfg_ua = NULL;
  x->configured = 0;
  x->last_sig[0] = '\0';
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct collate_xfer *x = (struct collate_xfer *)ud;
  size_t n = size * nmemb;
  /* CURLOPT_MAXFILESIZE_LARGE stops a declared Content-Length; this stops chunked, close-
   * delimited and decompressed bodies as they arrive, so memory stays bounded either way. */
  if (x->max_bytes > 0 && (curl_off_t)n > x->max_bytes - x->received) {
    x->too_large = 1;
    return 0;
  }
  x->received += (curl_off_t)n;
  if (x->out_path != NULL) {
    if (x->out == NULL) {
      if (x->out_opened) return 0;
      x->out_opened = 1;
      x->out = fopen(x->out_path, "wb");
      if (x->out == NULL) {
        x->out_failed = errno ? errno : EIO;
        return 0;
      }
    }
    if (n > 0 && fwrite(ptr, 1, n, x->out) != n) {
      x->out_failed = errno ? errno : EIO;
      return 0;
    }
    return n;
  }
  if (buf_add_bounded(&x->body, ptr, n, (size_t)x->max_bytes) != 0) {
    x->oom = 1;
    return 0;
  }
  return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct collate_xfer *x = (struct collate_xfer *)ud;
  size_t n = size * nmemb, len = n, i, nlen, vlen, start;
  const char *colon, *v;
  char nul = '\0';
  if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
    x->resp_headers.len = 0; /* a new response (after a 1xx): keep the final one's headers */
    x->resp_count = 0;
    return n;
  }
  while (len > 0 && (ptr[len - 1] == '\r' || ptr[len - 1] == '\n')) len--;
  colon = (const char *)memchr(ptr, ':', len);
  if (colon == NULL || colon == ptr) return n; /* the blank line, or obsolete folding */
  nlen = (size_t)(colon - ptr);
  v = colon + 1;
  vlen = len - nlen - 1;
  while (vlen > 0 && (*v == ' ' || *v == '\t')) {
    v++;
    vlen--;
  }
  while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
  start = x->resp_headers.len;
  if (buf_add(&x->resp_headers, ptr, nlen) || buf_add(&x->resp_headers, &nul, 1) ||
      buf_add(&x->resp_headers, v, vlen) || buf_add(&x->resp_headers, &nul, 1)) {
    x->oom = 1;
    return 0;
  }
  x->resp_count++;
  for (i = start; i < start + nlen; i++) /* our copy: curl's buffer is not ours to change */
    x->resp_headers.data[i] = (char)tolower((unsigned char)x->resp_headers.data[i]);
  return n;
}

static size_t on_read(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct collate_xfer *x = (struct collate_xfer *)ud;
  size_t n = fread(ptr, 1, size * nmemb, x->in);
  if (n == 0 && ferror(x->in)) {
    x->in_failed = errno ? errno : EIO;
    return CURL_READFUNC_ABORT;
  }
  return n;
}

static int on_seek(void *ud, curl_off_t offset, int origin) {
  struct collate_xfer *x = (struct collate_xfer *)ud;
  return fseeko(x->in, (off_t)offset, origin) == 0 ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_FAIL;
}

/* Options that hold for every request (conventions 3), set again after each reset. */
static void set_defaults(struct collate_xfer *x) {
  CURL *e = x->easy;
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(e, CURLOPT_PRIVATE, x);
}

/* An optional string field; the value stays referenced by the request table. */
static const char *opt_string(lua_State *L, int t, const char *k, size_t *len) {
  const char *s = NULL;
  lua_getfield(L, t, k);
  if (lua_type(L, -1) == LUA_TSTRING)
    s = lua_tolstring(L, -1, len);
  else if (!lua_isnil(L, -1))
    luaL_error(L, "perform: %s must be a string (got %s)", k, luaL_typename(L, -1));
  lua_pop(L, 1);
  return s;
}

static double opt_number(lua_State *L, int t, const char *k, double def, const char *what) {
  double v = def;
  lua_getfield(L, t, k);
  if (lua_type(L, -1) == LUA_TNUMBER)
    v = (double)lua_tonumber(L, -1);
  else if (!lua_isnil(L, -1))
    luaL_error(L, "perform: %s must be %s (got %s)", k, what, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

static long to_ms(double s) {
  double ms = ceil(s * 1000.0);
  if (!(ms >= 1)) return 1; /* 0 means "no timeout" to libcurl; a spent deadline is 1 ms */
  if (ms > 86400000.0) return 86400000L;
  return (long)ms;
}

static int has_ctl(const char *s, size_t len) {
  size_t i;
  for (i = 0; i < len; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 1;
  return 0;
}

/* The header list is rebuilt in place: while the lines equal the last request's nodes they are
 * kept, from the first difference on the rest is replaced. A node is linked as soon as it
 * exists, so a Lua error part way leaks nothing (x->req_headers owns it). */
struct hdr_cursor {
  struct curl_slist **at;
};

static void put_header(lua_State *L, struct hdr_cursor *c, const char *line) {
  struct curl_slist *n;
  if (*c->at != NULL && strcmp((*c->at)->data, line) == 0) {
    c->at = &(*c->at)->next;
    return;
  }
  if (*c->at != NULL) {
    curl_slist_free_all(*c->at);
    *c->at = NULL;
  }
  n = curl_slist_append(NULL, line);
  if (n == NULL) luaL_error(L, "perform: out of memory");
  *c->at = n;
  c->at = &n->next;
}

static void put_header_pair(lua_State *L, struct hdr_cursor *c, const char *name, size_t nlen,
                            const char *value, size_t vlen) {
  char small[512];
  char *line = small;
  if (nlen + vlen + 3 > sizeof small) line = (char *)lua_newuserdata(L, nlen + vlen + 3);
  memcpy(line, name, nlen);
  if (vlen == 0) { /* "Name;" is libcurl's way to send a header with an empty value */
    line[nlen] = ';';
    line[nlen + 1] = '\0';
  } else {
    line[nlen] = ':';
    line[nlen + 1] = ' ';
    memcpy(line + nlen + 2, value, vlen);
    line[nlen + 2 + vlen] = '\0';
  }
  put_header(L, c, line);
  if (line != small) lua_pop(L, 1);
}

static void build_headers(lua_State *L, struct collate_xfer *x, int req) {
  int have_ct = 0;
  struct hdr_cursor c;
  c.at = &x->req_headers;
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
      lua_pushvalue(L, -1); /* converts a number on a copy, never the value lua_next walks */
      value = lua_tolstring(L, -1, &vlen);
      if (nlen == 0 || has_ctl(name, nlen) || memchr(name, ':', nlen) || memchr(name, ' ', nlen) ||
          has_ctl(value, vlen))
        luaL_error(L, "perform: invalid header '%s'", name);
      if (nlen == 12 && strncasecmp(name, "content-type", 12) == 0) have_ct = 1;
      put_header_pair(L, &c, name, nlen, value, vlen);
      lua_pop(L, 2);
    }
  } else if (!lua_isnil(L, -1)) {
    luaL_error(L, "perform: headers must be a table");
  }
  lua_pop(L, 1);
  /* no 100-continue round trip; no form Content-Type invented by libcurl for a bare POST */
  put_header(L, &c, "Expect:");
  if (!have_ct) put_header(L, &c, "Content-Type:");
  if (*c.at != NULL) { /* the last request had more headers */
    curl_slist_free_all(*c.at);
    *c.at = NULL;
  }
}

static int same_str(const char *a, const char *b) {
  return a == NULL ? b == NULL : (b != NULL && strcmp(a, b) == 0);
}

static char *dup_or_raise(lua_State *L, const char *s) {
  char *d = strdup(s);
  if (d == NULL) luaL_error(L, "perform: out of memory");
  return d;
}

/* The proxy decision on libcurl's reading of the request URL (url.c). Returns -1 with
 * x->url_error set when the URL is unusable (not http(s), credentials in it). */
static int set_proxy(lua_State *L, struct collate_xfer *x, const char *url, size_t ulen,
                     const char *proxy) {
  struct collate_url u;
  char err[256];
  char small[512];
  char *target = small;
  int rc;
  if (ulen + 2 > sizeof small) target = (char *)lua_newuserdata(L, ulen + 2);
  rc = collate_url_split(url, &u, target, ulen + 2, err, sizeof err);
  if (target != small) lua_pop(L, 1);
  if (rc != 0) {
    x->url_error = strdup(err);
    if (x->url_error == NULL) x->oom = 1;
    return -1;
  }
  if (strcmp(u.scheme, "https") == 0) {
    curl_easy_setopt(x->easy, CURLOPT_PROXY, proxy); /* NULL: libcurl's proxy variables */
    curl_easy_setopt(x->easy, CURLOPT_HTTPPROXYTUNNEL, 1L);
  } else {
    curl_easy_setopt(x->easy, CURLOPT_PROXY, ""); /* "": no proxy, the variables ignored */
    curl_easy_setopt(x->easy, CURLOPT_HTTPPROXYTUNNEL, 0L);
  }
  return 0;
}

int collate_xfer_setup(lua_State *L, struct collate_xfer *x, int req) {
  const char *method, *url, *body, *body_file, *out_file, *ca_file, *user_agent, *proxy;
  double max_bytes;
  size_t mlen = 0, ulen = 0, blen = 0, tmp = 0;
  double timeout, connect_timeout;
  CURL *e = x->easy;
  int is_get, is_head, reuse = 0, fresh;
  char mode;

  req = lua_absindex(L, req);
  collate_xfer_release(x);
  method = opt_string(L, req, "method", &mlen);
  url = opt_string(L, req, "url", &ulen);
  body = opt_string(L, req, "body", &blen);
  body_file = opt_string(L, req, "body_file", &tmp);
  out_file = opt_string(L, req, "out_file", &tmp);
  ca_file = opt_string(L, req, "ca_file", &tmp);
  user_agent = opt_string(L, req, "user_agent", &tmp);
  proxy = opt_string(L, req, "proxy", &tmp);
  max_bytes = opt_number(L, req, "max_response_bytes", 0, "a number of bytes");
  timeout = opt_number(L, req, "timeout", 60, "a number of seconds");
  connect_timeout = opt_number(L, req, "connect_timeout", 10, "a number of seconds");
  lua_getfield(L, req, "fresh_connect");
  fresh = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (url == NULL || ulen == 0 || has_ctl(url, ulen)) luaL_error(L, "perform: url is required");
  if (method == NULL) {
    method = "GET";
    mlen = 3;
  }
  if (mlen == 0 || has_ctl(method, mlen) || strchr(method, ' ') != NULL)
    luaL_error(L, "perform: invalid method");
  if (body != NULL && body_file != NULL) luaL_error(L, "perform: body and body_file are exclusive");

  is_get = strcmp(method, "GET") == 0;
  is_head = strcmp(method, "HEAD") == 0;
  if (body_file != NULL)
    mode = 'F';
  else if (body != NULL || !(is_get || is_head || strcmp(method, "DELETE") == 0))
    mode = 'B';
  else
    mode = is_head ? 'H' : 'G';
  /* The same method and body mode as the last request on this handle, with the same CA file and
   * User-Agent: every option but the per-request ones below is already right. */
  if (mode != 'F' && mlen + 2 <= sizeof x->last_sig && x->configured &&
      x->last_sig[mlen] == mode && memcmp(x->last_sig, method, mlen) == 0 &&
      x->last_sig[mlen + 1] == '\0' && same_str(x->cfg_ca, ca_file) &&
      same_str(x->cfg_ua, user_agent)) {
    reuse = 1;
  }
  x->last_sig[0] = '\0';
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL); /* the list is about to change */
  if (!reuse) {
    curl_easy_reset(e); /* clears every per-request option; keeps connections and caches */
    x->configured = 0;
    free(x->cfg_ca);
    free(x->cfg_ua);
    x->cfg_ca = x->cfg_ua = NULL;
    set_defaults(x);
    if (ca_file != NULL) { /* the API host's CA, and an HTTPS proxy's (a hospital's own CA) */
      x->cfg_ca = dup_or_raise(L, ca_file);
      curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
      curl_easy_setopt(e, CURLOPT_PROXY_CAINFO, ca_file);
    }
    if (user_agent != NULL) {
      x->cfg_ua = dup_or_raise(L, user_agent);
      curl_easy_setopt(e, CURLOPT_USERAGENT, user_agent);
    }
    x->configured = 1;
  }
  build_headers(L, x, req);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->req_headers);
  curl_easy_setopt(e, CURLOPT_URL, url);
  if (set_proxy(L, x, url, ulen, proxy) != 0) return -1;
  x->max_bytes = max_bytes >= 1 ? (curl_off_t)max_bytes : 0;
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, x->max_bytes);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, to_ms(timeout));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, to_ms(connect_timeout));
  /* fresh_connect: a new connection, closed afterwards. libcurl silently resends a request
   * whose reused connection died before any answer; for a single-use upload URL that resend
   * would turn one upload into "already used". */
  curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_FORBID_REUSE, fresh ? 1L : 0L);
  if (out_file != NULL) {
    x->out_path = strdup(out_file);
    if (x->out_path == NULL) luaL_error(L, "perform: out of memory");
  }

  if (mode == 'F') {
    struct stat st;
    x->in = fopen(body_file, "rb");
    if (x->in == NULL || fstat(fileno(x->in), &st) != 0) {
      x->in_failed = errno ? errno : EIO;
      return -1;
    }
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, x);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, x);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
    if (strcmp(method, "PUT") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  } else if (mode == 'B') {
    /* a POST (PUT, PATCH) without a body still sends Content-Length: 0 */
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? blen : 0));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
    if (!reuse && strcmp(method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  } else if (mode == 'H') {
    if (!reuse) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (!reuse) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    if (!is_get) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  }
  if (mode != 'F' && mlen + 2 <= sizeof x->last_sig) {
    memcpy(x->last_sig, method, mlen);
    x->last_sig[mlen] = mode;
    x->last_sig[mlen + 1] = '\0';
  }
  return 0;
}

void collate_xfer_done(struct collate_xfer *x, CURLcode rc) {
  x->rc = rc;
  if (x->out != NULL) {
    if (fclose(x->out) != 0 && x->out_failed == 0) x->out_failed = errno ? errno : EIO;
    x->out = NULL;
  }
  if (x->in != NULL) {
    fclose(x->in);
    x->in = NULL;
  }
  if (rc == CURLE_OK && x->out_path != NULL && !x->out_opened) {
    /* an empty body never reached on_body: the file must still exist, empty */
    FILE *f = fopen(x->out_path, "wb");
    x->out_opened = 1;
    if (f == NULL || fclose(f) != 0) x->out_failed = errno ? errno : EIO;
  }
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

static int push_failure_code(lua_State *L, const char *kind, const char *what,
                             const char *detail, const char *code) {
  lua_pushnil(L);
  lua_pushstring(L, kind);
  if (detail != NULL && detail[0] != '\0')
    lua_pushfstring(L, "%s: %s", what, detail);
  else
    lua_pushstring(L, what);
  if (code != NULL)
    lua_pushstring(L, code);
  else
    lua_pushnil(L);
  return 4;
}

static int push_failure(lua_State *L, const char *kind, const char *what, const char *detail) {
  return push_failure_code(L, kind, what, detail, NULL);
}

/* Messages never include the URL: upload and grant URLs are capabilities (contract 7.7). */
static int push_error(lua_State *L, struct collate_xfer *x) {
  CURLcode rc = x->rc;
  const char *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
  if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    char limit[64];
    snprintf(limit, sizeof limit, "%lld bytes", (long long)x->max_bytes);
    return push_failure_code(L, "io", "the response is larger than max_response_bytes", limit,
                             "response_too_large");
  }
  if (x->url_error != NULL) return push_failure(L, "invalid_argument", "unusable URL", x->url_error);
  if (x->oom) return push_failure(L, "io", "out of memory while receiving the response", NULL);
  if (x->out_failed) return push_failure(L, "io", "cannot write out_file", strerror(x->out_failed));
  if (x->in_failed) return push_failure(L, "io", "cannot read body_file", strerror(x->in_failed));
  if (rc == CURLE_OPERATION_TIMEDOUT) return push_failure(L, "timeout", "request timed out", detail);
  if (rc == CURLE_PEER_FAILED_VERIFICATION)
    return push_failure(L, "tls", "TLS certificate verification failed", detail);
  if (rc == CURLE_SSL_CACERT_BADFILE)
    return push_failure(L, "tls", "TLS CA file could not be loaded", detail);
  if (is_tls_error(rc)) return push_failure(L, "tls", "TLS error", detail);
  if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
    return push_failure(L, "invalid_argument", "unusable URL", detail);
  return push_failure(L, "connection", "connection failed", detail);
}

static void push_response_headers(lua_State *L, struct collate_xfer *x) {
  size_t pos = 0;
  int t;
  lua_createtable(L, 0, x->resp_count);
  t = lua_gettop(L);
  while (pos < x->resp_headers.len) {
    const char *name = x->resp_headers.data + pos;
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
    } else { /* a repeated header: joined, as RFC 9110 5.3 allows */
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, value, vlen);
      lua_concat(L, 3);
    }
    lua_rawset(L, t);
  }
}

int collate_xfer_push_result(lua_State *L, struct collate_xfer *x) {
  long status = 0;
  if (x->rc != CURLE_OK || x->oom || x->out_failed || x->in_failed || x->too_large ||
      x->url_error != NULL)
    return push_error(L, x);
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
  lua_pushinteger(L, (lua_Integer)status);
  push_response_headers(L, x);
  if (x->out_path != NULL)
    lua_pushnil(L);
  else
    lua_pushlstring(L, x->body.data ? x->body.data : "", x->body.len);
  lua_pushnil(L);
  return 4;
}
