/* The Lua bridge: the one Lua state running the app, entered by one thread at a time
 * (lua_lock). It turns a request into the app's request table, calls app:handle, and turns its
 * answer into an MHD response or an effect (effects.c). The app produces every envelope; the
 * bridge keeps one literal, for when the app itself failed. */
#include "sandbox_internal.h"
#include "header_values.h"
#include "json_native.h"
#include "traceback.h"

#include "paths.h"

#include <lauxlib.h>
#include <lualib.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define APP_MODULE "collate_sandbox.app"

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

/* connections(reset) -> {open, peak, apiOpen, apiPeak, busy, busyPeak, accepted}: the front's
 * connection telemetry for GET / DELETE /_sandbox/connections (the app renders it). */
static int l_connections(lua_State *L)
{
  struct collate_sandbox *s = lua_touserdata(L, lua_upvalueindex(1));
  struct telemetry_counts c = telemetry_read(&s->tm, lua_toboolean(L, 1));
  static const char *const names[] = {"open", "peak", "apiOpen", "apiPeak", "busy", "busyPeak",
                                      "accepted"};
  const long values[] = {c.open, c.peak, c.api_open, c.api_peak, c.busy_open, c.busy_peak,
                         c.accepted};
  lua_createtable(L, 0, 7);
  for (int i = 0; i < 7; i++) {
    lua_pushinteger(L, values[i]);
    lua_setfield(L, -2, names[i]);
  }
  return 1;
}

static int load_module(lua_State *L)
{
  lua_getglobal(L, "require");
  lua_pushliteral(L, APP_MODULE);
  lua_call(L, 1, 1);
  if (!lua_istable(L, -1))
    return luaL_error(L, APP_MODULE " did not return a table");
  lua_getfield(L, -1, "new");
  if (lua_type(L, -1) != LUA_TFUNCTION)
    return luaL_error(L, APP_MODULE " has no function 'new'");
  lua_setfield(L, LUA_REGISTRYINDEX, "collate_sandbox.new");
  return 0;
}

int bridge_open(struct collate_sandbox *s, char *err, size_t errlen)
{
  s->L = luaL_newstate();
  if (s->L == NULL) {
    snprintf(err, errlen, "cannot create a Lua state");
    return -1;
  }
  lua_State *L = s->L;
  luaL_openlibs(L);
  char perr[512] = "";
  /* not fatal: LUA_PATH may still lead to the app; the require error then says where it looked */
  collate_paths_setup_sandbox(L, perr, sizeof perr);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, collate_sandbox_open_native);
  lua_setfield(L, -2, "collate_sandbox.native");
  lua_pop(L, 1);
  lua_pushcfunction(L, collate_traceback);
  lua_pushcfunction(L, load_module);
  int rc = lua_pcall(L, 0, 0, 1);
  if (rc != LUA_OK)
    snprintf(err, errlen, "cannot load " APP_MODULE ": %s%s%s", lua_tostring(L, -1),
             *perr ? "\n" : "", perr);
  lua_settop(L, 0);
  return rc == LUA_OK ? 0 : -1;
}

struct start_args {
  struct collate_sandbox *s;
  const struct collate_sandbox_options *o;
  const char *base_url;
};

/* app.new(opts): keys, base_url, clock, state file, log, the front's functions, and the
 * embedder's app_options as opts.options[name] = value (true for a bare name). */
static int new_app(lua_State *L)
{
  struct start_args *a = lua_touserdata(L, 1);
  struct collate_sandbox *s = a->s;
  const struct collate_sandbox_options *o = a->o;
  lua_getfield(L, LUA_REGISTRYINDEX, "collate_sandbox.new");
  lua_createtable(L, 0, 12);

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
  lua_pushlightuserdata(L, s);
  lua_pushcclosure(L, l_connections, 1);
  lua_setfield(L, -2, "connections");
  lua_newtable(L);
  for (const char *const *opt = o->app_options; opt && *opt; opt++) {
    const char *eq = strchr(*opt, '=');
    lua_pushlstring(L, *opt, eq ? (size_t)(eq - *opt) : strlen(*opt));
    if (eq)
      lua_pushstring(L, eq + 1);
    else
      lua_pushboolean(L, 1);
    lua_rawset(L, -3);
  }
  lua_setfield(L, -2, "options");
  lua_call(L, 1, 1);
  if (lua_isnoneornil(L, -1))
    return luaL_error(L, APP_MODULE ".new returned nothing");
  s->app_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

int bridge_new_app(struct collate_sandbox *s, const struct collate_sandbox_options *o,
                   const char *base_url, char *err, size_t errlen)
{
  lua_State *L = s->L;
  struct start_args a = {s, o, base_url};
  lua_pushcfunction(L, collate_traceback);
  lua_pushcfunction(L, new_app);
  lua_pushlightuserdata(L, &a);
  int rc = lua_pcall(L, 1, 0, 1);
  if (rc != LUA_OK) {
    const char *m = lua_tostring(L, -1);
    /* a state-file problem is the user's, not a bug: the message alone, no traceback */
    const char *tb = s->log_level < 2 && strncmp(m, "state file ", 11) == 0
                         ? strstr(m, "\nstack traceback:") : NULL;
    snprintf(err, errlen, "%s%.*s", tb ? "" : APP_MODULE ".new failed: ",
             tb ? (int)(tb - m) : (int)strlen(m), m);
  }
  lua_settop(L, 0);
  return rc == LUA_OK ? 0 : -1;
}

/* Header names lower-cased; values whole, with their length: a NUL inside a value reaches the
 * app (which then refuses, e.g., such an API key) instead of cutting the value short. */
static void push_header(void *cls, const char *key, size_t key_size, const char *value,
                        size_t value_size)
{
  lua_State *L = cls;
  char lower[256];
  if (key_size >= sizeof lower) {
    lua_pushlstring(L, key, key_size);  /* rare: keep it as sent rather than cut it */
  } else {
    for (size_t i = 0; i < key_size; i++) {
      unsigned char ch = (unsigned char)key[i];
      lower[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    lua_pushlstring(L, lower, key_size);
  }
  lua_pushvalue(L, -1);
  if (lua_rawget(L, -3) == LUA_TSTRING) {  /* repeated header: join as HTTP allows */
    lua_pushliteral(L, ", ");
    lua_pushlstring(L, value, value_size);
    lua_concat(L, 3);
  } else {
    lua_pop(L, 1);
    lua_pushlstring(L, value, value_size);
  }
  lua_rawset(L, -3);
}

static enum effect get_effect(lua_State *L, int resp)
{
  int t = lua_getfield(L, resp, "action");
  enum effect e = EFFECT_NONE;
  if (t == LUA_TSTRING) {
    const char *a = lua_tostring(L, -1);
    if (strcmp(a, "reset") == 0)
      e = EFFECT_RESET;
    else if (strcmp(a, "truncate") == 0)
      e = EFFECT_TRUNCATE;
    else if (strcmp(a, "delay") == 0)
      e = EFFECT_DELAY;
    else
      return (enum effect)luaL_error(L, "app:handle returned unknown action '%s'", a);
  } else if (t != LUA_TNIL) {
    return (enum effect)luaL_error(L, "app:handle returned a non-string action");
  }
  lua_pop(L, 1);
  return e;
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

/* method, path, query, headers: what the precheck sees too */
static void push_request_line(lua_State *L, struct reply *r)
{
  struct conn *cn = r->cn;
  lua_createtable(L, 0, 9);
  lua_pushstring(L, r->method);
  lua_setfield(L, -2, "method");
  lua_pushlstring(L, cn->uri, cn->path_len);
  lua_setfield(L, -2, "path");
  lua_pushstring(L, cn->query);
  lua_setfield(L, -2, "query");
  lua_createtable(L, 0, 8);
  header_values(r->c, r->method, r->version, push_header, L);
  lua_setfield(L, -2, "headers");
}

static void push_request(lua_State *L, struct reply *r)
{
  struct conn *cn = r->cn;
  push_request_line(L, r);
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
}

/* Runs protected: builds the request table, calls app:handle, turns its answer into an MHD
 * response (or an effect). Any Lua error leaves r->resp NULL or to be destroyed by the caller. */
static int handle_call(lua_State *L)
{
  struct reply *r = lua_touserdata(L, 1);

  lua_rawgeti(L, LUA_REGISTRYINDEX, r->s->app_ref);
  if (lua_isnil(L, -1))
    return luaL_error(L, "the sandbox app is not running");
  lua_getfield(L, -1, "handle");
  lua_insert(L, -2);  /* handle, app */
  push_request(L, r);
  lua_call(L, 2, 1);

  int resp = lua_gettop(L);
  if (!lua_istable(L, resp))
    return luaL_error(L, "app:handle returned a %s, not a table", luaL_typename(L, resp));

  r->effect = get_effect(L, resp);
  if (r->effect == EFFECT_RESET)
    return 0;
  if (r->effect == EFFECT_DELAY) {
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

  if (r->effect == EFFECT_TRUNCATE) {
    lua_Integer bytes = get_count(L, resp, "bytes", (lua_Integer)(len / 2));
    r->resp = effect_truncated_response(body, len, (size_t)bytes > len ? len : (size_t)bytes);
  } else {
    r->resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  }
  if (r->resp == NULL)
    return luaL_error(L, "cannot create the response");

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

/* The one envelope the front writes itself: a 500 for when the app itself failed. Called
 * under lua_lock. */
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

/* Runs protected: app:precheck(req) -> false or a byte count, left on the stack. */
static int precheck_call(lua_State *L)
{
  struct reply *r = lua_touserdata(L, 1);
  long long announced = *(long long *)lua_touserdata(L, 2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->s->app_ref);
  lua_getfield(L, -1, "precheck");
  if (lua_isnil(L, -1)) {
    lua_pushinteger(L, (lua_Integer)BODY_LIMIT);  /* an app without one: read it all */
    return 1;
  }
  lua_insert(L, -2);  /* precheck, app */
  push_request_line(L, r);
  if (announced >= 0) {
    lua_pushinteger(L, (lua_Integer)announced);
    lua_setfield(L, -2, "body_size");
  }
  lua_call(L, 2, 1);
  return 1;
}

long long bridge_precheck(struct reply *r, long long announced)
{
  struct collate_sandbox *s = r->s;
  lua_State *L = s->L;
  long long limit = (long long)BODY_LIMIT;
  pthread_mutex_lock(&s->lua_lock);
  int top = lua_gettop(L);
  lua_pushcfunction(L, collate_traceback);
  lua_pushcfunction(L, precheck_call);
  lua_pushlightuserdata(L, r);
  lua_pushlightuserdata(L, &announced);
  if (lua_pcall(L, 2, 1, top + 1) == LUA_OK) {
    int isnum;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
      limit = -1;
    else if (isnum && v >= 0)
      limit = (long long)v;
  } else if (s->log_level >= 1) {  /* the body is read as before; handle gives the answer */
    flockfile(stderr);
    fprintf(stderr, "collate-sandbox: app:precheck failed: %s\n", lua_tostring(L, -1));
    funlockfile(stderr);
  }
  lua_settop(L, top);
  pthread_mutex_unlock(&s->lua_lock);
  return limit;
}

void bridge_handle(struct reply *r)
{
  struct collate_sandbox *s = r->s;
  lua_State *L = s->L;
  r->resp = NULL;
  r->effect = EFFECT_NONE;
  r->status = 500;

  pthread_mutex_lock(&s->lua_lock);
  int top = lua_gettop(L);
  lua_pushcfunction(L, collate_traceback);
  lua_pushcfunction(L, handle_call);
  lua_pushlightuserdata(L, r);
  if (lua_pcall(L, 1, 0, top + 1) != LUA_OK) {
    if (r->resp) {
      MHD_destroy_response(r->resp);
      r->resp = NULL;
    }
    const char *msg = lua_tostring(L, -1);
    r->effect = EFFECT_NONE;
    r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    r->resp = internal_error(s, msg ? msg : "error in the sandbox app");
  }
  lua_settop(L, top);
  pthread_mutex_unlock(&s->lua_lock);
}

/* app:save(force) under lua_lock; a failure is logged, the server keeps serving. */
void bridge_save(struct collate_sandbox *s, int force)
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

void bridge_close(struct collate_sandbox *s)
{
  if (s->L)
    lua_close(s->L);
  s->L = NULL;
}
