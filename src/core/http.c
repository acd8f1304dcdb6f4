/* core.http(): one libcurl easy handle per userdata, reused so that its connection cache
 * survives between calls. */
#include <string.h>

#include "core.h"
#include "transfer.h"

#define HANDLE_MT "collate.core.http"

struct handle {
  struct collate_xfer x; /* x.easy == NULL: closed */
};

static void handle_close(struct handle *h) {
  collate_xfer_free(&h->x);
  if (h->x.easy != NULL) curl_easy_cleanup(h->x.easy);
  h->x.easy = NULL;
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
  if (h->x.easy == NULL)
    lua_pushliteral(L, "collate.http (closed)");
  else
    lua_pushfstring(L, "collate.http (%p)", (void *)h);
  return 1;
}

/* h:perform(req) -> status, headers, body, nil | nil, kind, message, code */
static int l_perform(lua_State *L) {
  struct handle *h = check_handle(L);
  int n;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2); /* the request table keeps the body string alive during the transfer */
  if (h->x.easy == NULL) return luaL_error(L, "perform: the http handle is closed");
  if (collate_xfer_setup(L, &h->x, 2) == 0)
    collate_xfer_done(&h->x, curl_easy_perform(h->x.easy));
  else
    collate_xfer_done(&h->x, CURLE_READ_ERROR);
  n = collate_xfer_push_result(L, &h->x);
  collate_xfer_release(&h->x); /* files close now; only small buffers stay for the next call */
  return n;
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
  collate_register_class(L, HANDLE_MT, metamethods, methods);
}

/* core.http() -> handle. The userdata exists, closed, before curl is asked for anything. */
int collate_l_http(lua_State *L) {
  struct handle *h = (struct handle *)lua_newuserdata(L, sizeof *h);
  memset(h, 0, sizeof *h);
  luaL_getmetatable(L, HANDLE_MT);
  lua_setmetatable(L, -2);
  if (collate_curl_global() != 0) return luaL_error(L, "collate: curl_global_init failed");
  h->x.easy = curl_easy_init();
  if (h->x.easy == NULL) return luaL_error(L, "collate: curl_easy_init failed");
  return 1;
}

const char *collate_curl_version(void) {
  return curl_version_info(CURLVERSION_NOW)->version;
}
