/* What the libFuzzer harnesses share: one Lua 5.4 state per process with collate.core loaded
 * (linked in from src/core, not dlopen'd) and a property check written in Lua, run on every
 * input. A failed property is a crash (abort), like a sanitizer report. */
#ifndef COLLATE_FUZZ_SUPPORT_H
#define COLLATE_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

/* The process's state, created on first use: standard libraries, global `core`, and the
 * helpers decode(text, "wire"|"normalise") -> v | nil, msg, encode(v) -> text | nil, msg and
 * same(a, b, loose) (deep equality, integer and float told apart unless loose). `check` is a
 * Lua chunk returning the property function; it is compiled once. */
lua_State *fuzz_state(const char *name, const char *check);

/* Calls the property function with the given string arguments (nargs of them); aborts with the
 * message when it raises. Resets the stack and runs the GC now and then. */
void fuzz_check(lua_State *L, const char **args, const size_t *lens, int nargs);

#endif
