#ifndef COLLATE_HEADERS_H
#define COLLATE_HEADERS_H

#include <stddef.h>
#include "compat.h"

/* Checks the header table at idx. for_api: Authorization (any case) is refused too, the API
 * key's header being the client's. Returns 1, or 0 with a message pushed that starts with
 * field ("extra_headers['X-Trace'] must not contain CR, LF or NUL ..."). */
int collate_check_headers(lua_State *L, int idx, const char *field, int for_api);

/* Pushes s fit for a message: control characters, quotes and non-ASCII as \xNN, cut at 40. */
void collate_push_shown(lua_State *L, const char *s, size_t len);

#endif
