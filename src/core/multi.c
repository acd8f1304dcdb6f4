/* core.multi{max_connections = n}: many transfers on one libcurl multi handle, for the
 * coroutine scheduler (lua/collate/scheduler.lua). The C side only starts transfers and reports
 * finished ones; coroutines are resumed in Lua, never from a libcurl callback.
 *   id = m:add(request)           -- request as for h:perform
 *   results = m:wait(seconds)     -- {{id =, status =, headers =, body =} | {id =, kind =, message =, code =}}
 *   m:close()                     -- also __gc and __close; abandons transfers in flight */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "transfer.h"

#define MULTI_MT "collate.core.multi"

struct mx {
  struct collate_xfer x;
  struct mx *next;
  lua_Integer id;
  int ref;   /* the request table, referenced while curl reads its body string */
  int added; /* in the multi handle */
  int done;
};

struct multi {
  CURLM *m; /* NULL: closed */
  struct mx *head;
  lua_Integer next_id;
};

static struct multi *check_multi(lua_State *L) {
  return (struct multi *)luaL_checkudata(L, 1, MULTI_MT);
}

static void mx_free(lua_State *L, struct multi *mu, struct mx *t) {
  if (t->added) curl_multi_remove_handle(mu->m, t->x.easy);
  collate_xfer_free(&t->x);
  if (t->x.easy != NULL) curl_easy_cleanup(t->x.easy);
  luaL_unref(L, LUA_REGISTRYINDEX, t->ref);
  free(t);
}

static int l_close(lua_State *L) {
  struct multi *mu = check_multi(L);
  while (mu->head != NULL) {
    struct mx *t = mu->head;
    mu->head = t->next;
    mx_free(L, mu, t);
  }
  if (mu->m != NULL) curl_multi_cleanup(mu->m);
  mu->m = NULL;
  return 0;
}

static struct multi *open_multi(lua_State *L) {
  struct multi *mu = check_multi(L);
  if (mu->m == NULL) luaL_error(L, "the multi handle is closed");
  return mu;
}

static int l_add(lua_State *L) {
  struct multi *mu = open_multi(L);
  struct mx *t, **tail;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  t = (struct mx *)calloc(1, sizeof *t);
  if (t == NULL) return luaL_error(L, "multi:add: out of memory");
  t->ref = LUA_NOREF;
  for (tail = &mu->head; *tail != NULL; tail = &(*tail)->next) {
  }
  *tail = t; /* linked first: whatever happens next, close frees it */
  t->id = ++mu->next_id;
  t->x.easy = curl_easy_init();
  if (t->x.easy == NULL) return luaL_error(L, "multi:add: curl_easy_init failed");
  lua_pushvalue(L, 2);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (collate_xfer_setup(L, &t->x, 2) != 0) {
    collate_xfer_done(&t->x, CURLE_READ_ERROR);
    t->done = 1;
  } else if (curl_multi_add_handle(mu->m, t->x.easy) != CURLM_OK) {
    return luaL_error(L, "multi:add: curl_multi_add_handle failed");
  } else {
    t->added = 1;
  }
  lua_pushinteger(L, t->id);
  return 1;
}

static int collect(struct multi *mu) {
  CURLMsg *msg;
  int left, any = 0;
  struct mx *t;
  while ((msg = curl_multi_info_read(mu->m, &left)) != NULL) {
    char *priv = NULL;
    if (msg->msg != CURLMSG_DONE) continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
    t = (struct mx *)(void *)priv; /* CURLOPT_PRIVATE is the transfer, first member of mx */
    collate_xfer_done(&t->x, msg->data.result);
    curl_multi_remove_handle(mu->m, t->x.easy);
    t->added = 0;
    t->done = 1;
  }
  for (t = mu->head; t != NULL; t = t->next) any |= t->done;
  return any;
}

static int l_wait(lua_State *L) {
  struct multi *mu = open_multi(L);
  double seconds = luaL_optnumber(L, 2, 0);
  int running = 0, n = 0;
  struct mx **pp;
  curl_multi_perform(mu->m, &running);
  if (!collect(mu) && running > 0 && seconds > 0) {
    int ms = seconds > 3600 ? 3600000 : (int)(seconds * 1000.0 + 0.5);
#if LIBCURL_VERSION_NUM >= 0x074200
    curl_multi_poll(mu->m, NULL, 0, ms, NULL);
#else
    curl_multi_wait(mu->m, NULL, 0, ms, NULL);
#endif
    curl_multi_perform(mu->m, &running);
    collect(mu);
  }
  lua_newtable(L);
  pp = &mu->head;
  while (*pp != NULL) {
    struct mx *t = *pp;
    if (!t->done) {
      pp = &t->next;
      continue;
    }
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, t->id);
    lua_setfield(L, -2, "id");
    collate_xfer_push_result(L, &t->x); /* 4 values */
    if (lua_isnil(L, -4)) {
      lua_setfield(L, -5, "code");
      lua_setfield(L, -4, "message");
      lua_setfield(L, -3, "kind");
      lua_pop(L, 1);
    } else {
      lua_pop(L, 1);
      lua_setfield(L, -4, "body");
      lua_setfield(L, -3, "headers");
      lua_setfield(L, -2, "status");
    }
    lua_rawseti(L, -2, ++n);
    *pp = t->next;
    mx_free(L, mu, t);
  }
  return 1;
}

static int l_tostring(lua_State *L) {
  struct multi *mu = check_multi(L);
  if (mu->m == NULL)
    lua_pushliteral(L, "collate.multi (closed)");
  else
    lua_pushfstring(L, "collate.multi (%p)", (void *)mu);
  return 1;
}

static const luaL_Reg methods[] = {
  {"add", l_add},
  {"wait", l_wait},
  {"close", l_close},
  {NULL, NULL}
};

static const luaL_Reg metamethods[] = {
  {"__gc", l_close},
  {"__close", l_close},
  {"__tostring", l_tostring},
  {NULL, NULL}
};

void collate_multi_register(lua_State *L) {
  collate_register_class(L, MULTI_MT, metamethods, methods);
}

/* core.multi{max_connections = n} -> multi handle */
int collate_l_multi(lua_State *L) {
  struct multi *mu;
  long max = 0;
  if (lua_type(L, 1) == LUA_TTABLE) {
    lua_getfield(L, 1, "max_connections");
    if (!lua_isnil(L, -1)) max = (long)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
  }
  mu = (struct multi *)lua_newuserdata(L, sizeof *mu);
  memset(mu, 0, sizeof *mu);
  luaL_getmetatable(L, MULTI_MT);
  lua_setmetatable(L, -2);
  if (collate_curl_global() != 0) return luaL_error(L, "collate: curl_global_init failed");
  mu->m = curl_multi_init();
  if (mu->m == NULL) return luaL_error(L, "collate: curl_multi_init failed");
  if (max > 0) {
    curl_multi_setopt(mu->m, CURLMOPT_MAX_TOTAL_CONNECTIONS, max);
    /* Keep as many idle connections as may be open: otherwise the cache shrinks with the
     * number of transfers in flight and libcurl closes and reopens connections as load
     * varies, which costs handshakes and, at the server, overlaps a closing connection with
     * its replacement. */
    curl_multi_setopt(mu->m, CURLMOPT_MAXCONNECTS, max);
  }
  return 1;
}
