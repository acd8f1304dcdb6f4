#ifndef COLLATE_JSON_H
#define COLLATE_JSON_H

#include "compat.h"

/* Pushes the JSON text of the value at idx (1), or an error message (0). Integers are exact,
 * floats round-trip, empty tables are {} except under the array keys item, answer and
 * documentTypes, cjson.null is null. */
int collate_json_encode(lua_State *L, int idx);

/* Whether the value at idx can be sent: strings valid UTF-8, no NaN or infinity, no functions,
 * userdata or threads, no cycles, tables either arrays 1..n or string-keyed. Returns 1, or 0
 * with a message pushed that starts with the dotted path of the field, rooted at name
 * ("metadata.tags[2] is not valid UTF-8 (byte 3)"). */
int collate_json_check(lua_State *L, int idx, const char *name);

#endif
