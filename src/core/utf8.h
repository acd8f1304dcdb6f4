/* UTF-8 validity (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. Done here
 * rather than with the utf8 library, which Lua 5.1 and LuaJIT do not have. */
#ifndef COLLATE_UTF8_H
#define COLLATE_UTF8_H

#include <stddef.h>

/* The offset of the first byte that does not start a valid sequence, or len when s is valid. */
size_t collate_utf8_invalid_at(const char *s, size_t len);

#endif
