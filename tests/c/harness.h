/* A tiny test harness: C checks plus Lua snippets run against collate.core (linked in from the
 * same objects as the module). A failing check prints file, line and what differed. */
#ifndef COLLATE_TEST_HARNESS_H
#define COLLATE_TEST_HARNESS_H

#include <lua.h>

extern int harness_failures;

/* A fresh state with the standard libraries, `core` = require "collate.core", and Lua helpers:
 * eq(actual, expected, what), ok(cond, what), deep_eq(a, b, what), fails(msg_pattern, f, ...). */
lua_State *harness_state(void);
/* Runs a chunk; a Lua error is a failure reported with the chunk's name. */
void harness_lua(lua_State *L, const char *name, const char *code);
/* Prints a summary; returns the process exit status. */
int harness_finish(const char *suite);

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      harness_failures++;                                                            \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
    }                                                                                \
  } while (0)

#define CHECK_STR(actual, expected)                                                  \
  do {                                                                               \
    const char *a_ = (actual), *e_ = (expected);                                     \
    if (a_ == NULL || strcmp(a_, e_) != 0) {                                         \
      harness_failures++;                                                            \
      fprintf(stderr, "%s:%d: %s: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__, \
              #actual, e_, a_ ? a_ : "(null)");                                      \
    }                                                                                \
  } while (0)

#endif
