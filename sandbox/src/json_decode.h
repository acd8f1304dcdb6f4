#ifndef COLLATE_SANDBOX_JSON_DECODE_H
#define COLLATE_SANDBOX_JSON_DECODE_H

#include <lua.h>

/* native.json_decode(s, null, ARRAY, OBJECT) -> value, or nothing: json.lua then decodes */
int collate_sandbox_json_decode(lua_State *L);

#endif
