#ifndef COLLATE_CASING_H
#define COLLATE_CASING_H

#include <stddef.h>
#include "compat.h"

/* Key conversion alone. out must hold 2 * len + 1 bytes; returns the length written. */
size_t collate_snake_to_camel(const char *in, size_t len, char *out);
size_t collate_camel_to_snake(const char *in, size_t len, char *out);

enum collate_conv_mode {
  COLLATE_TO_WIRE,     /* snake -> camel keys, values as they are */
  COLLATE_FROM_WIRE,   /* camel -> snake keys, integral floats -> integers, null dropped in objects */
  COLLATE_NORMALISE    /* keys verbatim, integral floats -> integers, nulls kept */
};

/* Where a value sits: plain API objects convert keys; free-form maps (contract 1.3: metadata,
 * headers, details, summary, at any depth) keep theirs, except metadata's own externalCaseId. */
enum collate_scope { COLLATE_SCOPE_PLAIN, COLLATE_SCOPE_FREEFORM, COLLATE_SCOPE_METADATA };

/* The scope of the value under key k (k NULL: an array element) in a container of scope parent. */
enum collate_scope collate_child_scope(enum collate_scope parent, const char *k, size_t len);

/* Pushes key k as it must appear in a container of the given scope after conversion by mode.
 * The one implementation of the key rules, shared by convert and the JSON decoder. */
void collate_push_key(lua_State *L, const char *k, size_t len, enum collate_conv_mode mode,
                      enum collate_scope scope);

/* Pushes a converted deep copy of the value at idx (tables are new, the input is not touched).
 * Returns 1, or 0 with an error message pushed instead (nesting too deep, e.g. a cycle). */
int collate_convert(lua_State *L, int idx, enum collate_conv_mode mode);

/* The key-preserving mode used for free-form maps read from the wire (error details). */
int collate_convert_freeform(lua_State *L, int idx);

#endif
