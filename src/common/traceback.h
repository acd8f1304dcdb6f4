#ifndef COLLATE_TRACEBACK_H
#define COLLATE_TRACEBACK_H

#include <lua.h>

/* A lua_pcall message handler: the error as text (its __tostring for a collate.Error or any
 * table that has one) followed by the traceback. */
int collate_traceback(lua_State *L);

#endif
