#ifndef COLLATE_HOST_ARGS_H
#define COLLATE_HOST_ARGS_H

#include <stddef.h>

/* -e and -l run in command-line order, as lua(1) does. */
struct host_action {
  char kind;          /* 'e' or 'l' */
  const char *value;
};

struct host_args {
  struct host_action *actions;
  int nactions;
  int help, version;
  int interactive;     /* -i: a REPL after the script (and lua5.4's banner) */
  int no_env;          /* -E: LUA_INIT*, LUA_PATH*, LUA_CPATH* ignored */
  int warnings;        /* -W: warnings on */
  int sandbox;
  double clock_speed;  /* --sandbox-clock-speed, default 200 */
  const char *sandbox_state;  /* --sandbox-state PATH, or NULL */
  int realism;         /* --sandbox-realism: the emulator's realism mode (implies --sandbox) */
  int script;          /* argv index of the script ("-" = stdin), or 0 when none */
};

/* Returns 0, or -1 with a message in err (a usage error: exit 2). Free with host_args_free. */
int host_args_parse(int argc, char **argv, struct host_args *a, char *err, size_t errlen);
void host_args_free(struct host_args *a);

#endif
