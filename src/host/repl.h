#ifndef COLLATE_HOST_REPL_H
#define COLLATE_HOST_REPL_H

#include <lua.h>

/* What the REPL borrows from the runner: a protected call with a traceback (and Ctrl-C), and
 * the redacted error report (pops the error). */
struct repl_hooks {
  int (*call)(lua_State *L, int narg, int nres);
  void (*report)(lua_State *L);
};

/* Reads, evaluates and prints until end of input (lua5.4's interactive mode). */
void repl_run(lua_State *L, const struct repl_hooks *h);

#endif
