#include "sandbox_server.h"
#include "traceback.h"

#include "paths.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bodies up to this size are handed to the app whole; one byte more tells it "too large". */
#define BODY_LIMIT ((size_t)32 * 1024 * 1024 + 1)
/* A connection keeps its body buffer between requests unless it grew beyond this. */
#define BODY_KEEP ((size_t)256 * 1024)

struct collate_sandbox {
  struct MHD_Daemon *daemon;
  lua_State *L;
  int app_ref;                 /* the app object, LUA_NOREF until new() succeeded */
  pthread_mutex_t lua_lock;    /* one thread at a time in L */
  pthread_mutex_t stop_lock;   /* guards stopping, for interruptible delays */
  pthread_cond_t stop_cond;
  int stopping;
  int log_level;
  unsigned short port;
  uint64_t rng;                /* request ids of front-made errors; under lua_lock */
  pthread_mutex_t conn_lock;   /* guards the six counters below */
  long conn_open;              /* TCP connections open now (GET /_sandbox/connections) */
  long conn_peak;              /* most open at once since start or the last DELETE */
  long api_open;               /* of those, connections that carried a request outside /_sandbox/ */
  long api_peak;               /* so a test's own control probes never count against a client */
  long busy_open;              /* connections serving a request outside /_sandbox/ right now */
  long busy_peak;              /* a socket the client closed still counts as open until this
                                * side reads the close; a busy one is always a live request */
  pthread_t saver;             /* saves the state file about once a second when dirty */
  int saver_started;
};

/* Per connection, reused by every request on it (keep-alive), so a plain GET allocates nothing
 * here. MHD serves one request at a time per connection. */
struct conn {
  char *uri;                   /* raw request target as received: path?query */
  size_t uri_cap;
  size_t path_len;             /* bytes of uri before '?' */
  const char *query;           /* into uri; "" when none */
  char *body;
  size_t body_len, body_cap;
  size_t body_size;            /* bytes received, also beyond the limit */
  int too_large;
  int started;                 /* the access handler has seen this request */
  int api;                     /* counted in api_open: a request outside /_sandbox/ came on it */
  int busy;                    /* counted in busy_open: such a request is being served */
};

/* A response being built inside the protected Lua call. */
struct reply {
  struct collate_sandbox *s;
  struct conn *cn;
  struct MHD_Connection *c;
  const char *method;
  const char *fault_applied;
  struct MHD_Response *resp;
  int status;
  int action;                  /* ACTION_* */
  long ms;
};

enum { ACTION_NONE, ACTION_RESET, ACTION_TRUNCATE, ACTION_DELAY };

struct truncated {
  size_t limit;                /* bytes delivered before the connection is cut */
  char data[];
};

/* ---- Lua side --------------------------------------------------------------------------- */

static int l_wall_time(lua_State *L)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* write_file_atomic(path, data): temp file in the same directory, fsync, rename, fsync the
 * directory; a reader (or a restart after a crash) sees the old file or the new one whole. */
static int l_write_file_atomic(lua_State *L)
{
  size_t plen, len;
  const char *path = luaL_checklstring(L, 1, &plen);
  const char *data = luaL_checklstring(L, 2, &len);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, path, plen);
  lua_pushfstring(L, ".tmp.%d", (int)getpid());
  luaL_addvalue(&b);
  luaL_pushresult(&b);
  const char *tmp = lua_tostring(L, -1);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int ok = fd >= 0;
  for (size_t off = 0; ok && off < len;) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      ok = 0;
    else
      off += (size_t)w;
  }
  if (ok && fsync(fd) != 0)
    ok = 0;
  if (fd >= 0 && close(fd) != 0)
    ok = 0;
  if (ok && rename(tmp, path) != 0)
    ok = 0;
  if (!ok) {
    int e = errno;
    unlink(tmp);
    lua_pushnil(L);
    lua_pushfstring(L, "cannot write %s: %s", path, strerror(e));
    return 2;
  }
  /* the rename itself survives a power loss once the directory is synced */
  const char *slash = strrchr(path, '/');
  lua_pushlstring(L, path, slash ? (size_t)(slash - path + (slash == path)) : 1);
  int dfd = open(slash ? lua_tostring(L, -1) : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_log(lua_State *L)
{
  if (lua_tointeger(L, lua_upvalueindex(1)) < 1)
    return 0;
  size_t len;
  const char *line = luaL_tolstring(L, 1, &len);
  flockfile(stderr);
  fwrite(line, 1, len, stderr);
  if (len == 0 || line[len - 1] != '\n')
    fputc('\n', stderr);
  funlockfile(stderr);
  return 0;
}

struct start_args {
  const struct collate_sandbox_options *o;
  const char *base_url;
};

static int load_module(lua_State *L)
{
  lua_getglobal(L, "require");
  lua_pushliteral(L, "collate_sandbox.app");
  lua_call(L, 1, 1);
  if (!lua_istable(L, -1))
    return luaL_error(L, "collate_sandbox.app did not return a table");
  lua_getfield(L, -1, "new");
  if (lua_type(L, -1) != LUA_TFUNCTION)
    return luaL_error(L, "collate_sandbox.app has no function 'new'");
  return 1;
}

static int new_app(lua_State *L)
{
  struct start_args *a = lua_touserdata(L, 1);
  struct collate_sandbox *s = lua_touserdata(L, 2);
  const struct collate_sandbox_options *o = a->o;
  /* stack: 1 args, 2 s, 3 new */
  lua_pushvalue(L, 3);
  lua_createtable(L, 0, 8);

  lua_newtable(L);
  const char *keys = o->keys && *o->keys ? o->keys : "sk_test_local";
  int n = 0;
  for (const char *p = keys; *p;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len > 0) {
      lua_pushlstring(L, p, len);
      lua_rawseti(L, -2, ++n);
    }
    p += len + (comma ? 1 : 0);
  }
  lua_setfield(L, -2, "keys");
  lua_pushstring(L, a->base_url);
  lua_setfield(L, -2, "base_url");
  lua_pushstring(L, o->clock_mode && *o->clock_mode ? o->clock_mode : "realtime");
  lua_setfield(L, -2, "clock_mode");
  lua_pushnumber(L, o->clock_speed > 0 ? o->clock_speed : 1.0);
  lua_setfield(L, -2, "clock_speed");
  lua_pushcfunction(L, l_wall_time);
  lua_setfield(L, -2, "wall_time");
  if (o->state_file && *o->state_file) {
    lua_pushstring(L, o->state_file);
    lua_setfield(L, -2, "state_file");
    lua_pushcfunction(L, l_write_file_atomic);
    lua_setfield(L, -2, "write_file_atomic");
  }
  lua_pushinteger(L, s->log_level);
  lua_pushcclosure(L, l_log, 1);
  lua_setfield(L, -2, "log");
  lua_pushinteger(L, s->log_level);
  lua_setfield(L, -2, "log_level");
  lua_call(L, 1, 1);
  if (lua_isnoneornil(L, -1))
    return luaL_error(L, "collate_sandbox.app.new returned nothing");
  s->app_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

static enum MHD_Result push_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
  lua_State *L = cls;
  char lower[256];
  size_t n = strlen(key);
  (void)kind;
  if (n >= sizeof lower) {
    lua_pushstring(L, key);  /* rare: keep it as sent rather than cut it */
  } else {
    for (size_t i = 0; i < n; i++) {
      unsigned char ch = (unsigned char)key[i];
      lower[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    lua_pushlstring(L, lower, n);
  }
  lua_pushvalue(L, -1);
  if (lua_rawget(L, -3) == LUA_TSTRING) {  /* repeated header: join as HTTP allows */
    lua_pushliteral(L, ", ");
    lua_pushstring(L, value ? value : "");
    lua_concat(L, 3);
  } else {
    lua_pop(L, 1);
    lua_pushstring(L, value ? value : "");
  }
  lua_rawset(L, -3);
  return MHD_YES;
}

static int get_action(lua_State *L, int resp)
{
  int t = lua_getfield(L, resp, "action");
  int action = ACTION_NONE;
  if (t == LUA_TSTRING) {
    const char *a = lua_tostring(L, -1);
    if (strcmp(a, "reset") == 0)
      action = ACTION_RESET;
    else if (strcmp(a, "truncate") == 0)
      action = ACTION_TRUNCATE;
    else if (strcmp(a, "delay") == 0)
      action = ACTION_DELAY;
    else
      return luaL_error(L, "app:handle returned unknown action '%s'", a);
  } else if (t != LUA_TNIL) {
    return luaL_error(L, "app:handle returned a non-string action");
  }
  lua_pop(L, 1);
  return action;
}

static lua_Integer get_count(lua_State *L, int resp, const char *field, lua_Integer dflt)
{
  int isnum;
  lua_getfield(L, resp, field);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return dflt;
  }
  lua_Integer v = lua_tointegerx(L, -1, &isnum);
  if (!isnum || v < 0)
    return luaL_error(L, "app:handle returned a bad '%s'", field);
  lua_pop(L, 1);
  return v;
}

static ssize_t truncated_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
  struct truncated *t = cls;
  if (pos >= t->limit)
    return MHD_CONTENT_READER_END_WITH_ERROR;
  size_t n = t->limit - (size_t)pos;
  if (n > max)
    n = max;
  memcpy(buf, t->data + pos, n);
  return (ssize_t)n;
}

/* Runs protected: builds the request table, calls app:handle, turns its answer into an MHD
 * response (or an action). Any Lua error leaves r->resp NULL or to be destroyed by the caller. */
static int handle_call(lua_State *L)
{
  struct reply *r = lua_touserdata(L, 1);
  struct conn *cn = r->cn;

  lua_rawgeti(L, LUA_REGISTRYINDEX, r->s->app_ref);
  if (lua_isnil(L, -1))
    return luaL_error(L, "the sandbox app is not running");
  lua_getfield(L, -1, "handle");
  lua_insert(L, -2);  /* handle, app */

  lua_createtable(L, 0, 9);
  lua_pushstring(L, r->method);
  lua_setfield(L, -2, "method");
  lua_pushlstring(L, cn->uri, cn->path_len);
  lua_setfield(L, -2, "path");
  lua_pushstring(L, cn->query);
  lua_setfield(L, -2, "query");
  lua_createtable(L, 0, 8);
  MHD_get_connection_values(r->c, MHD_HEADER_KIND, push_header, L);
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, cn->body ? cn->body : "", cn->body_len);
  lua_setfield(L, -2, "body");
  lua_pushinteger(L, (lua_Integer)cn->body_size);
  lua_setfield(L, -2, "body_size");
  lua_pushboolean(L, cn->too_large);
  lua_setfield(L, -2, "body_too_large");
  if (r->fault_applied) {
    lua_pushstring(L, r->fault_applied);
    lua_setfield(L, -2, "fault_applied");
  }
  lua_call(L, 2, 1);

  int resp = lua_gettop(L);
  if (!lua_istable(L, resp))
    return luaL_error(L, "app:handle returned a %s, not a table", luaL_typename(L, resp));

  r->action = get_action(L, resp);
  if (r->action == ACTION_RESET)
    return 0;
  if (r->action == ACTION_DELAY) {
    if (r->fault_applied)
      return luaL_error(L, "app:handle asked for a second delay");
    r->ms = (long)get_count(L, resp, "ms", 0);
    return 0;
  }

  lua_Integer status = get_count(L, resp, "status", -1);
  if (status < 100 || status > 599)
    return luaL_error(L, "app:handle returned no valid status");
  r->status = (int)status;

  size_t len = 0;
  const char *body = "";
  int t = lua_getfield(L, resp, "body");
  if (t == LUA_TSTRING)
    body = lua_tolstring(L, -1, &len);
  else if (t != LUA_TNIL)
    return luaL_error(L, "app:handle returned a non-string body");
  /* body stays on the stack, so the string lives until the response has copied it */

  /* Check every header before creating the response, so an error cannot leak it. */
  int headers = 0;
  t = lua_getfield(L, resp, "headers");
  if (t == LUA_TTABLE) {
    headers = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, headers)) {
      if (lua_type(L, -2) != LUA_TSTRING ||
          (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER))
        return luaL_error(L, "app:handle returned a header that is not name = string");
      lua_pop(L, 1);
    }
  } else if (t != LUA_TNIL) {
    return luaL_error(L, "app:handle returned non-table headers");
  }

  lua_Integer bytes = 0;
  if (r->action == ACTION_TRUNCATE) {
    bytes = get_count(L, resp, "bytes", (lua_Integer)(len / 2));
    if ((size_t)bytes > len)
      bytes = (lua_Integer)len;
    struct truncated *tr = malloc(sizeof *tr + (size_t)bytes);
    if (tr == NULL)
      return luaL_error(L, "out of memory");
    tr->limit = (size_t)bytes;
    memcpy(tr->data, body, (size_t)bytes);
    r->resp = MHD_create_response_from_callback(len, 32 * 1024, truncated_reader, tr, free);
    if (r->resp == NULL) {
      free(tr);
      return luaL_error(L, "cannot create the response");
    }
  } else {
    r->resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r->resp == NULL)
      return luaL_error(L, "cannot create the response");
  }

  if (headers) {
    lua_pushnil(L);
    while (lua_next(L, headers)) {
      const char *name = lua_tostring(L, -2);
      const char *value = lua_tostring(L, -1);  /* numbers convert in place: key untouched */
      /* MHD computes Content-Length itself and refuses an application one. */
      if (strcasecmp(name, "Content-Length") != 0)
        MHD_add_response_header(r->resp, name, value);
      lua_pop(L, 1);
    }
  }
  return 0;
}

/* ---- HTTP side -------------------------------------------------------------------------- */

static void json_escape(char *out, size_t outlen, const char *in)
{
  size_t o = 0;
  for (; *in && o + 7 < outlen; in++) {
    unsigned char ch = (unsigned char)*in;
    if (ch == '"' || ch == '\\') {
      out[o++] = '\\';
      out[o++] = (char)ch;
    } else if (ch == '\n') {
      out[o++] = '\\';
      out[o++] = 'n';
    } else if (ch == '\t') {
      out[o++] = '\\';
      out[o++] = 't';
    } else if (ch < 0x20 || ch == 0x7f) {
      o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", ch);
    } else {
      out[o++] = (char)ch;
    }
  }
  out[o] = '\0';
}

static uint64_t next_rand(struct collate_sandbox *s)
{
  /* xorshift64*: request ids only need to be distinct, not secret */
  s->rng ^= s->rng >> 12;
  s->rng ^= s->rng << 25;
  s->rng ^= s->rng >> 27;
  return s->rng * 0x2545F4914F6CDD1DULL;
}

/* A 500 in the contract's envelope, for when the app itself failed. Called under lua_lock. */
static struct MHD_Response *internal_error(struct collate_sandbox *s, const char *message)
{
  char esc[1024], id[32], body[1400];
  const char *nl = strchr(message, '\n');
  char first[1024];
  /* the traceback stays in the log; the client gets the message line */
  size_t n = nl ? (size_t)(nl - message) : strlen(message);
  if (n >= sizeof first)
    n = sizeof first - 1;
  memcpy(first, message, n);
  first[n] = '\0';
  json_escape(esc, sizeof esc, first);
  snprintf(id, sizeof id, "req_%016llx", (unsigned long long)next_rand(s));
  int len = snprintf(body, sizeof body,
                     "{\"error\":{\"code\":\"internal_error\",\"message\":\"sandbox: %s\","
                     "\"retryable\":true,\"details\":{},\"issues\":[]},\"requestId\":\"%s\"}",
                     esc, id);
  struct MHD_Response *resp = MHD_create_response_from_buffer((size_t)len, body,
                                                              MHD_RESPMEM_MUST_COPY);
  if (resp) {
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "X-Request-Id", id);
  }
  if (s->log_level >= 1) {
    flockfile(stderr);
    fprintf(stderr, "collate-sandbox: internal error (%s): %s\n", id, message);
    funlockfile(stderr);
  }
  return resp;
}

/* Sleeps up to ms, returning early when the server stops. */
static void delay(struct collate_sandbox *s, long ms)
{
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&s->stop_lock);
  while (!s->stopping) {
    if (pthread_cond_timedwait(&s->stop_cond, &s->stop_lock, &until) == ETIMEDOUT)
      break;
  }
  pthread_mutex_unlock(&s->stop_lock);
}

/* GET /_sandbox/connections -> {"open", "peak", "apiOpen", "apiPeak", "busy", "busyPeak"}; DELETE
 * resets each peak to its current count. "api" counts only connections that carried a request
 * outside /_sandbox/; "busy" those serving such a request now (from its first byte until its
 * answer is decided).
 * Answered here, not by the app: it counts sockets, which only the front sees, and a test can
 * check a client's connection bound at the server (docs/sandbox-extensions.md). */
#define CONNECTIONS_PATH "/_sandbox/connections"

static enum MHD_Result connections_route(struct collate_sandbox *s, struct MHD_Connection *c,
                                         const char *method)
{
  char body[256], id[32];
  unsigned int status = MHD_HTTP_OK;
  long open, peak, api_open, api_peak, busy, busy_peak;
  int is_get = strcmp(method, "GET") == 0, is_delete = strcmp(method, "DELETE") == 0;
  pthread_mutex_lock(&s->conn_lock);
  if (is_delete) {
    s->conn_peak = s->conn_open;
    s->api_peak = s->api_open;
    s->busy_peak = s->busy_open;
  }
  open = s->conn_open;
  peak = s->conn_peak;
  api_open = s->api_open;
  api_peak = s->api_peak;
  busy = s->busy_open;
  busy_peak = s->busy_peak;
  pthread_mutex_unlock(&s->conn_lock);
  pthread_mutex_lock(&s->lua_lock);
  snprintf(id, sizeof id, "req_%016llx", (unsigned long long)next_rand(s));
  pthread_mutex_unlock(&s->lua_lock);
  int len;
  if (is_get || is_delete) {
    len = snprintf(body, sizeof body,
                   "{\"open\":%ld,\"peak\":%ld,\"apiOpen\":%ld,\"apiPeak\":%ld,"
                   "\"busy\":%ld,\"busyPeak\":%ld}", open, peak, api_open, api_peak, busy,
                   busy_peak);
  } else {
    status = MHD_HTTP_METHOD_NOT_ALLOWED;
    len = snprintf(body, sizeof body,
                   "{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"Use GET or "
                   "DELETE.\",\"retryable\":false,\"details\":{},\"issues\":[]},"
                   "\"requestId\":\"%s\"}", id);
  }
  struct MHD_Response *resp = MHD_create_response_from_buffer((size_t)len, body,
                                                              MHD_RESPMEM_MUST_COPY);
  if (resp == NULL)
    return MHD_NO;
  MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
  MHD_add_response_header(resp, "X-Request-Id", id);
  if (status != MHD_HTTP_OK)
    MHD_add_response_header(resp, "Allow", "GET, DELETE");
  enum MHD_Result ret = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* A request stops counting as busy once its answer is decided, before any byte of it leaves:
 * so the server's busy interval lies inside the client's transfer, and busyPeak can never
 * exceed the number of transfers the client had in flight. */
static void busy_done(struct collate_sandbox *s, struct conn *cn)
{
  if (cn && cn->busy) {
    cn->busy = 0;
    pthread_mutex_lock(&s->conn_lock);
    s->busy_open--;
    pthread_mutex_unlock(&s->conn_lock);
  }
}

static enum MHD_Result respond(struct collate_sandbox *s, struct conn *cn,
                               struct MHD_Connection *c, const char *method)
{
  struct reply r;
  memset(&r, 0, sizeof r);
  r.s = s;
  r.cn = cn;
  r.c = c;
  r.method = method;

  if (cn->path_len == sizeof CONNECTIONS_PATH - 1 &&
      memcmp(cn->uri, CONNECTIONS_PATH, cn->path_len) == 0)
    return connections_route(s, c, method);
  if (!cn->api && strncmp(cn->uri, "/_sandbox/", 10) != 0) {
    cn->api = 1;
    pthread_mutex_lock(&s->conn_lock);
    if (++s->api_open > s->api_peak)
      s->api_peak = s->api_open;
    pthread_mutex_unlock(&s->conn_lock);
  }

  for (;;) {
    lua_State *L = s->L;
    r.resp = NULL;
    r.action = ACTION_NONE;
    r.status = 500;

    pthread_mutex_lock(&s->lua_lock);
    int top = lua_gettop(L);
    lua_pushcfunction(L, collate_traceback);
    lua_pushcfunction(L, handle_call);
    lua_pushlightuserdata(L, &r);
    if (lua_pcall(L, 1, 0, top + 1) != LUA_OK) {
      if (r.resp) {
        MHD_destroy_response(r.resp);
        r.resp = NULL;
      }
      const char *msg = lua_tostring(L, -1);
      r.action = ACTION_NONE;
      r.status = MHD_HTTP_INTERNAL_SERVER_ERROR;
      r.resp = internal_error(s, msg ? msg : "error in the sandbox app");
    }
    lua_settop(L, top);
    pthread_mutex_unlock(&s->lua_lock);

    if (r.action == ACTION_DELAY) {
      delay(s, r.ms);
      r.fault_applied = "delay";
      continue;
    }
    busy_done(s, cn);
    if (r.action == ACTION_RESET)
      return MHD_NO;  /* MHD closes the socket without answering */
    if (r.resp == NULL)
      return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, (unsigned int)r.status, r.resp);
    MHD_destroy_response(r.resp);
    return ret;
  }
}

static struct conn *conn_of(struct MHD_Connection *c)
{
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
  (void)cls;
  struct conn *cn = conn_of(c);
  if (cn == NULL)
    return NULL;
  size_t n = strlen(uri);
  if (n + 1 > cn->uri_cap) {
    size_t cap = cn->uri_cap ? cn->uri_cap : 256;
    while (cap < n + 1)
      cap *= 2;
    char *p = realloc(cn->uri, cap);
    if (p == NULL)
      return NULL;
    cn->uri = p;
    cn->uri_cap = cap;
  }
  memcpy(cn->uri, uri, n + 1);
  char *q = strchr(cn->uri, '?');
  cn->path_len = q ? (size_t)(q - cn->uri) : n;
  cn->query = q ? q + 1 : cn->uri + n;
  cn->body_len = 0;
  cn->body_size = 0;
  cn->too_large = 0;
  cn->started = 0;
  return cn;
}

static int body_append(struct conn *cn, const char *data, size_t n)
{
  cn->body_size += n;
  if (cn->too_large)
    return 0;
  size_t room = BODY_LIMIT - cn->body_len;
  if (n > room) {
    n = room;
    cn->too_large = 1;
  }
  if (cn->body_len + n > cn->body_cap) {
    size_t cap = cn->body_cap ? cn->body_cap : 4096;
    while (cap < cn->body_len + n)
      cap *= 2;
    if (cap > BODY_LIMIT)
      cap = BODY_LIMIT;
    char *p = realloc(cn->body, cap);
    if (p == NULL)
      return -1;
    cn->body = p;
    cn->body_cap = cap;
  }
  memcpy(cn->body + cn->body_len, data, n);
  cn->body_len += n;
  return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
  struct collate_sandbox *s = cls;
  struct conn *cn = *req_cls;
  (void)version;

  if (cn == NULL)
    return MHD_NO;  /* no connection state: out of memory */
  if (!cn->started) {
    cn->started = 1;
    if (strncmp(url, "/_sandbox/", 10) != 0) {
      cn->busy = 1;
      pthread_mutex_lock(&s->conn_lock);
      if (++s->busy_open > s->busy_peak)
        s->busy_peak = s->busy_open;
      pthread_mutex_unlock(&s->conn_lock);
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
      unsigned long long want = strtoull(cl, NULL, 10);
      if (want > BODY_LIMIT)
        want = BODY_LIMIT;
      if (want > cn->body_cap) {
        char *p = realloc(cn->body, (size_t)want);
        if (p) {
          cn->body = p;
          cn->body_cap = (size_t)want;
        }
      }
    }
    return MHD_YES;
  }
  if (*upload_data_size) {
    if (body_append(cn, upload_data, *upload_data_size) != 0)
      return MHD_NO;
    *upload_data_size = 0;
    return MHD_YES;
  }
  return respond(s, cn, c, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
  (void)c;
  (void)toe;
  struct conn *cn = *req_cls;
  busy_done(cls, cn);
  if (cn && cn->body_cap > BODY_KEEP) {  /* an upload must not pin 32 MiB per idle socket */
    free(cn->body);
    cn->body = NULL;
    cn->body_cap = 0;
  }
  *req_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
  struct collate_sandbox *s = cls;
  (void)c;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    *socket_context = calloc(1, sizeof(struct conn));
    pthread_mutex_lock(&s->conn_lock);
    if (++s->conn_open > s->conn_peak)
      s->conn_peak = s->conn_open;
    pthread_mutex_unlock(&s->conn_lock);
  } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
    struct conn *cn = *socket_context;
    busy_done(s, cn);
    pthread_mutex_lock(&s->conn_lock);
    s->conn_open--;
    if (cn && cn->api)
      s->api_open--;
    pthread_mutex_unlock(&s->conn_lock);
    if (cn) {
      free(cn->uri);
      free(cn->body);
      free(cn);
    }
    *socket_context = NULL;
  }
}

/* ---- lifecycle -------------------------------------------------------------------------- */

/* app:save(force) under lua_lock; a failure is logged, the server keeps serving. */
static void save_state(struct collate_sandbox *s, int force)
{
  pthread_mutex_lock(&s->lua_lock);
  lua_State *L = s->L;
  if (s->app_ref != LUA_NOREF) {
    int top = lua_gettop(L);
    lua_pushcfunction(L, collate_traceback);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->app_ref);
    lua_getfield(L, -1, "save");
    lua_insert(L, -2);
    lua_pushboolean(L, force);
    if (lua_pcall(L, 2, 0, top + 1) != LUA_OK)
      fprintf(stderr, "collate-sandbox: cannot save the state file: %s\n", lua_tostring(L, -1));
    lua_settop(L, top);
  }
  pthread_mutex_unlock(&s->lua_lock);
}

static void *saver_main(void *arg)
{
  struct collate_sandbox *s = arg;
  pthread_mutex_lock(&s->stop_lock);
  while (!s->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 1;
    while (!s->stopping && pthread_cond_timedwait(&s->stop_cond, &s->stop_lock, &until) != ETIMEDOUT)
      ;
    if (s->stopping)
      break;
    pthread_mutex_unlock(&s->stop_lock);
    save_state(s, 0);
    pthread_mutex_lock(&s->stop_lock);
  }
  pthread_mutex_unlock(&s->stop_lock);
  return NULL;
}

static void destroy(struct collate_sandbox *s)
{
  if (s->L)
    lua_close(s->L);
  pthread_cond_destroy(&s->stop_cond);
  pthread_mutex_destroy(&s->stop_lock);
  pthread_mutex_destroy(&s->lua_lock);
  pthread_mutex_destroy(&s->conn_lock);
  free(s);
}

struct collate_sandbox *collate_sandbox_start(const struct collate_sandbox_options *o,
                                              char *err, size_t errlen)
{
  struct collate_sandbox_options dflt;
  if (o == NULL) {
    memset(&dflt, 0, sizeof dflt);
    o = &dflt;
  }
  const char *bind = o->bind_address && *o->bind_address ? o->bind_address : "127.0.0.1";

  struct collate_sandbox *s = calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&s->lua_lock, NULL);
  pthread_mutex_init(&s->stop_lock, NULL);
  pthread_mutex_init(&s->conn_lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->stop_cond, &ca);
  pthread_condattr_destroy(&ca);
  s->app_ref = LUA_NOREF;
  s->log_level = o->log_level;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  s->rng = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
           ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)s;
  if (s->rng == 0)
    s->rng = 0x9E3779B97F4A7C15ULL;

  /* the address */
  struct addrinfo hints, *ai = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int gai = getaddrinfo(bind, NULL, &hints, &ai);
  if (gai != 0 || ai == NULL) {
    snprintf(err, errlen, "bad bind address '%s': %s", bind, gai_strerror(gai));
    destroy(s);
    return NULL;
  }
  struct sockaddr_storage sa;
  memset(&sa, 0, sizeof sa);
  memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
  int family = ai->ai_family;
  freeaddrinfo(ai);
  char host[INET6_ADDRSTRLEN + 2];
  if (family == AF_INET6) {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&sa;
    a6->sin6_port = htons(o->port);
    if (IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr)) {
      snprintf(host, sizeof host, "[::1]");
    } else {
      char buf[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof buf);
      snprintf(host, sizeof host, "[%s]", buf);
    }
  } else {
    struct sockaddr_in *a4 = (struct sockaddr_in *)&sa;
    a4->sin_port = htons(o->port);
    if (a4->sin_addr.s_addr == htonl(INADDR_ANY))
      snprintf(host, sizeof host, "127.0.0.1");
    else
      inet_ntop(AF_INET, &a4->sin_addr, host, sizeof host);
  }

  /* the Lua state and the app module */
  s->L = luaL_newstate();
  if (s->L == NULL) {
    snprintf(err, errlen, "cannot create a Lua state");
    destroy(s);
    return NULL;
  }
  lua_State *L = s->L;
  luaL_openlibs(L);
  char perr[512] = "";
  /* not fatal: LUA_PATH may still lead to the app; the require error then says where it looked */
  collate_paths_setup_sandbox(L, perr, sizeof perr);
  lua_pushcfunction(L, collate_traceback);
  lua_pushcfunction(L, load_module);
  if (lua_pcall(L, 0, 1, 1) != LUA_OK) {
    snprintf(err, errlen, "cannot load collate_sandbox.app: %s%s%s", lua_tostring(L, -1),
             *perr ? "\n" : "", perr);
    destroy(s);
    return NULL;
  }
  /* stack: msgh, new */

  /* Requests that arrive before new() finished wait on the lock. */
  pthread_mutex_lock(&s->lua_lock);
  unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                       MHD_USE_AUTO;
  if (family == AF_INET6)
    flags |= MHD_USE_IPv6;
  if (s->log_level >= 2)
    flags |= MHD_USE_ERROR_LOG;
  s->daemon = MHD_start_daemon(flags, o->port, NULL, NULL, on_request, s,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                               MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                               MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
                               MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
                               MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
                               MHD_OPTION_END);
  if (s->daemon == NULL) {
    pthread_mutex_unlock(&s->lua_lock);
    snprintf(err, errlen, "cannot listen on %s port %u: %s", bind, (unsigned)o->port,
             errno ? strerror(errno) : "libmicrohttpd refused to start");
    destroy(s);
    return NULL;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  s->port = di ? di->port : o->port;

  char base_url[128];
  snprintf(base_url, sizeof base_url, "http://%s:%u", host, (unsigned)s->port);
  struct start_args a = {o, base_url};
  lua_pushcfunction(L, new_app);
  lua_pushlightuserdata(L, &a);
  lua_pushlightuserdata(L, s);
  lua_pushvalue(L, 2);
  int rc = lua_pcall(L, 3, 0, 1);
  if (rc != LUA_OK) {
    const char *m = lua_tostring(L, -1);
    /* a state-file problem is the user's, not a bug: the message alone, no traceback */
    const char *tb = s->log_level < 2 && strncmp(m, "state file ", 11) == 0 ? strstr(m, "\nstack traceback:") : NULL;
    snprintf(err, errlen, "%s%.*s", tb ? "" : "collate_sandbox.app.new failed: ",
             tb ? (int)(tb - m) : (int)strlen(m), m);
  }
  lua_settop(L, 0);
  pthread_mutex_unlock(&s->lua_lock);
  if (rc != LUA_OK) {
    collate_sandbox_stop(s);
    return NULL;
  }
  if (o->state_file && *o->state_file && pthread_create(&s->saver, NULL, saver_main, s) == 0)
    s->saver_started = 1;
  return s;
}

unsigned short collate_sandbox_port(const struct collate_sandbox *s)
{
  return s ? s->port : 0;
}

void collate_sandbox_stop(struct collate_sandbox *s)
{
  if (s == NULL)
    return;
  pthread_mutex_lock(&s->stop_lock);
  s->stopping = 1;
  pthread_cond_broadcast(&s->stop_cond);
  pthread_mutex_unlock(&s->stop_lock);
  if (s->daemon)
    MHD_stop_daemon(s->daemon);
  if (s->saver_started) {
    pthread_join(s->saver, NULL);
    save_state(s, 1); /* the last word: every request has finished */
  }
  destroy(s);
}
