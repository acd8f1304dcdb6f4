#ifndef COLLATE_JSON_H
#define COLLATE_JSON_H

#include "compat.h"

/* Pushes the JSON text of the value at idx (1), or an error message (0). Integers are exact,
 * floats round-trip, empty tables are {} except under the array keys item, answer and
 * documentTypes, cjson.null is null. */
int collate_json_encode(lua_State *L, int idx);

#endif
