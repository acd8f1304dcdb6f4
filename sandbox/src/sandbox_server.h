#ifndef COLLATE_SANDBOX_SERVER_H
#define COLLATE_SANDBOX_SERVER_H

#include <stddef.h>

/* The sandbox's HTTP front: libmicrohttpd owns sockets and threads, one Lua state running
 * the app owns every rule of the contract (docs/architecture.md, docs/sandbox.md). */

struct collate_sandbox_options {
  const char *bind_address;   /* default "127.0.0.1" */
  unsigned short port;        /* 0 = ephemeral */
  const char *keys;           /* comma-separated, default "sk_test_local" */
  const char *clock_mode;     /* "realtime" (default) or "step" */
  double clock_speed;         /* default 1 */
  int log_level;              /* 0 quiet, 1 info (a line per request), 2 debug */
  const char *state_file;     /* NULL: none; else loaded at start, saved when dirty and at stop */
  /* NULL-terminated "name" or "name=value" strings the app gets as opts.options[name] (value or
   * true): flags of the emulator's Lua rules (e.g. "realism") without a field here each. */
  const char *const *app_options;
  unsigned max_connections;   /* open connections at most (0: 16000); more wait in the backlog */
  unsigned threads;           /* event-loop threads (0: 2) */
};

struct collate_sandbox;

/* Starts listening and returns once the app is ready; NULL with a message in err on failure. */
struct collate_sandbox *collate_sandbox_start(const struct collate_sandbox_options *o,
                                              char *err, size_t errlen);
unsigned short collate_sandbox_port(const struct collate_sandbox *s);
/* Stops accepting, ends pending delays, joins the connection threads and frees everything. */
void collate_sandbox_stop(struct collate_sandbox *s);

#endif
