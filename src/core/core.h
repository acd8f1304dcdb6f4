/* Lua-facing functions of collate.core, one definition per concept file. */
#ifndef COLLATE_CORE_H
#define COLLATE_CORE_H

#include "compat.h"

/* COLLATE_VERSION comes from CMake (project VERSION in CMakeLists.txt), the one place it is set;
 * a build that does not pass it (a stand-alone fuzz build) says so instead of inventing one. */
#ifndef COLLATE_VERSION
#define COLLATE_VERSION "unversioned"
#endif

int collate_l_build_request(lua_State *L); /* request.c */
int collate_l_to_wire(lua_State *L);       /* casing.c */
int collate_l_from_wire(lua_State *L);
int collate_l_parse_response(lua_State *L); /* response.c */
int collate_l_quote_if_match(lua_State *L); /* request.c */
int collate_l_check_headers(lua_State *L);  /* headers.c */
int collate_l_retryable(lua_State *L);      /* retry.c */
int collate_l_transport_retryable(lua_State *L);
int collate_l_backoff(lua_State *L);
int collate_l_parse_retry_after(lua_State *L);
int collate_l_uuid4(lua_State *L);  /* uuid.c */
int collate_l_redact(lua_State *L); /* redact.c */
int collate_l_check_base_url(lua_State *L); /* url.c */
int collate_l_check_proxy_url(lua_State *L);
int collate_l_split_url(lua_State *L);
int collate_l_sleep(lua_State *L);  /* clock.c */
int collate_l_now(lua_State *L);
int collate_l_http(lua_State *L);   /* http.c */
void collate_http_register(lua_State *L);  /* creates the handle metatable */
int collate_l_multi(lua_State *L);  /* multi.c */
void collate_multi_register(lua_State *L);
/* A userdata class: metatable `name` with `metamethods`, and `methods` as its __index. */
void collate_register_class(lua_State *L, const char *name, const luaL_Reg *metamethods,
                            const luaL_Reg *methods);
const char *collate_curl_version(void);
void collate_routes_push(lua_State *L);   /* routes.c: the core.routes table */

#endif
