#ifndef COLLATE_SANDBOX_JSON_NATIVE_H
#define COLLATE_SANDBOX_JSON_NATIVE_H

#include <lua.h>

/* require "collate_sandbox.native" (preloaded in the app's Lua state): {json_encode, json_decode} */
int collate_sandbox_open_native(lua_State *L);

#endif
