#ifndef COLLATE_HOST_RUNNER_H
#define COLLATE_HOST_RUNNER_H

#include "args.h"

#include <lua.h>

enum {
  EXIT_OK = 0,
  EXIT_SCRIPT_ERROR = 1,
  EXIT_USAGE = 2,
  EXIT_INTERRUPTED = 130
};

/* A Lua state with the standard libraries, the collate paths and a warning function that
 * redacts; NULL when out of memory. */
lua_State *runner_new_state(const struct host_args *a);

/* Runs the -e/-l actions and the script as lua(1) would, Ctrl-C included; returns the exit
 * code. Reports errors itself. */
int runner_run(lua_State *L, const struct host_args *a, int argc, char **argv);

/* Closes the state and frees what the warning function kept. */
void runner_close(lua_State *L);

#endif
