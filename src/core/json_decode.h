#ifndef COLLATE_JSON_DECODE_H
#define COLLATE_JSON_DECODE_H

#include <stddef.h>

#include "casing.h"
#include "compat.h"

#define COLLATE_JSON_MAX_DEPTH 1000

/* Decodes the JSON text s[0..len) straight into Lua values, in one pass. mode is
 * COLLATE_FROM_WIRE (keys to snake_case outside free-form maps, null dropped from objects) or
 * COLLATE_NORMALISE (keys and nulls as on the wire). Either way integral numbers become integers
 * (5.3+; exact up to 64 bits) and null in arrays is the lightuserdata NULL (cjson.null). Pushes
 * the value and returns 1, or pushes a message and returns 0. Raises only on out-of-memory. */
int collate_json_decode(lua_State *L, const char *s, size_t len, enum collate_conv_mode mode);

#endif
