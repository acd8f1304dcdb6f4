/* collate-run: a Lua 5.4 interpreter with collate-lua on its paths and an optional embedded
 * sandbox. Command line as lua(1). */
#include "args.h"
#include "redact.h"
#include "runner.h"
#include "sandbox_server.h"

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef COLLATE_VERSION
#define COLLATE_VERSION "0.0.0"
#endif

#define SANDBOX_KEY "sk_test_local"

static void usage(FILE *f)
{
  fprintf(f,
          "usage: collate-run [options] [script.lua [args...]]\n"
          "Runs a Lua 5.4 script with collate-lua available (require \"collate\"); the\n"
          "command line of lua5.4 (docs/host.md).\n"
          "  -e CODE                    run CODE (repeatable; with -l, in the order given)\n"
          "  -l MOD                     require MOD into global MOD (-l g=MOD: into g)\n"
          "  -i                         the interactive REPL after the script (line editing)\n"
          "  -E                         ignore LUA_INIT*, LUA_PATH*, LUA_CPATH*\n"
          "  -W                         turn warnings on\n"
          "  -v, --version              print versions (then run the script, if any)\n"
          "  -h, --help                 this text\n"
          "  --sandbox                  start the local emulator in-process and point the\n"
          "                             script at it (COLLATE_BASE_URL, COLLATE_API_KEY,\n"
          "                             COLLATE_SANDBOX_CLOCK_SPEED)\n"
          "  --sandbox-clock-speed X    its virtual clock speed (default 200)\n"
          "  --sandbox-state PATH       keep its state in PATH (loaded at start, saved\n"
          "                             while running and at exit): the same sandbox\n"
          "                             in every run that names PATH\n"
          "  --sandbox-realism          the same in its realism mode (docs/sandbox.md):\n"
          "                             expiring XML-answering upload URLs, handoffs offered\n"
          "                             before active, occasional 503s, jitter, ...\n"
          "  --                         end of options\n"
          "The script '-' is standard input; with neither a script nor -e/-l/-v/-i the REPL\n"
          "starts on a terminal, else standard input is the script. Arguments after the\n"
          "script are in arg[1..] and '...'. LUA_INIT_5_4 or LUA_INIT (code, or @file) runs\n"
          "first. The collector runs generational, as in lua5.4. With --sandbox the REPL\n"
          "starts with collate required and client = collate.new{} made against it.\n"
          "Exit status: 0 success, 1 script error, 2 usage error (bad option, script not\n"
          "found), 130 interrupted (Ctrl-C). The API key never appears in messages.\n"
          "Differences from lua5.4 on purpose: exit 2 (not 1) for usage errors; messages\n"
          "start 'collate-run:' and are redacted; -v and -i print collate-run's versions;\n"
          "collate-lua's paths come first on package.path/cpath (also with -E); the --sandbox\n"
          "options, --help and --version; Ctrl-C exits 130.\n");
}

static void print_versions(lua_State *L)
{
  const char *lib = COLLATE_VERSION;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "collate.config");
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
    lua_getfield(L, -1, "VERSION");
    if (lua_type(L, -1) == LUA_TSTRING)
      lib = lua_tostring(L, -1);
    printf("collate-run %s\ncollate-lua %s\n%s\nlibcurl %s\n", COLLATE_VERSION, lib,
           LUA_RELEASE, curl_version_info(CURLVERSION_NOW)->version);
    lua_pop(L, 2);
  } else {
    printf("collate-run %s\ncollate-lua %s\n%s\nlibcurl %s\n", COLLATE_VERSION, lib,
           LUA_RELEASE, curl_version_info(CURLVERSION_NOW)->version);
    lua_pop(L, 1);
  }
  fflush(stdout);
}

static struct collate_sandbox *start_sandbox(double speed, const char *state_file, int realism)
{
  static const char *const realism_options[] = {"realism", NULL};
  struct collate_sandbox_options o;
  memset(&o, 0, sizeof o);
  if (realism)
    o.app_options = realism_options;
  o.bind_address = "127.0.0.1";
  o.port = 0;
  o.keys = SANDBOX_KEY;
  o.clock_mode = "realtime";
  o.clock_speed = speed;
  o.log_level = 0;
  o.state_file = state_file;

  /* The server's threads inherit this mask: Ctrl-C must reach the script's thread. */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  char err[1024];
  struct collate_sandbox *s = collate_sandbox_start(&o, err, sizeof err);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (s == NULL) {
    char msg[1100];
    snprintf(msg, sizeof msg, "cannot start the sandbox: %s", err);
    redact_message(msg);
    return NULL;
  }

  char url[64], num[32], msg[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)collate_sandbox_port(s));
  snprintf(num, sizeof num, "%g", speed);
  setenv("COLLATE_BASE_URL", url, 1);
  setenv("COLLATE_API_KEY", SANDBOX_KEY, 1);
  setenv("COLLATE_SANDBOX_CLOCK_SPEED", num, 1);
  if (realism)
    setenv("COLLATE_SANDBOX_REALISM", "1", 1);
  /* Which embedded sandbox this is, for stores bound to it (lua/collate/ops/store.lua): one
   * with a state file is the same sandbox in every run; one without dies with this process. */
  char embedded[4200];
  char *real = state_file ? realpath(state_file, NULL) : NULL;
  if (real) {
    snprintf(embedded, sizeof embedded, "state:%s", real);
    free(real);
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(embedded, sizeof embedded, "%ld-%ld-%ld", (long)getpid(), (long)ts.tv_sec, (long)ts.tv_nsec);
  }
  setenv("COLLATE_SANDBOX_EMBEDDED", embedded, 1);
  snprintf(msg, sizeof msg, "sandbox at %s (clock x%s)", url, num);
  redact_message(msg);
  return s;
}

/* The embedded sandbox, stopped at exit too: a script that ends with os.exit() never returns
 * to main, and the sandbox must still finish its requests and save its state file. */
static struct collate_sandbox *embedded_sandbox;

static void stop_embedded_sandbox(void)
{
  struct collate_sandbox *s = embedded_sandbox;
  embedded_sandbox = NULL;
  collate_sandbox_stop(s);
}

int main(int argc, char **argv)
{
  struct host_args a;
  char err[256];
  int code;

  redact_add_env("COLLATE_API_KEY");
  if (host_args_parse(argc, argv, &a, err, sizeof err) != 0) {
    redact_message(err);
    fputs("usage: collate-run [options] [script.lua [args...]] (try --help)\n", stderr);
    host_args_free(&a);
    redact_clear();
    return EXIT_USAGE;
  }
  if (a.help) {
    usage(stdout);
    host_args_free(&a);
    redact_clear();
    return EXIT_OK;
  }
  /* no script on a terminal: a bare collate-run starts the REPL (lua5.4's banner first) */
  if (!a.script && a.nactions == 0 && !a.version && isatty(STDIN_FILENO))
    a.version = 1, a.interactive = 1;

  struct collate_sandbox *sandbox = NULL;
  if (a.sandbox) {
    redact_add(SANDBOX_KEY);
    sandbox = start_sandbox(a.clock_speed, a.sandbox_state, a.realism);
    embedded_sandbox = sandbox;
    if (sandbox != NULL)
      atexit(stop_embedded_sandbox);
    if (sandbox == NULL) {
      host_args_free(&a);
      redact_clear();
      return EXIT_SCRIPT_ERROR;
    }
  }

  lua_State *L = runner_new_state(&a);
  if (L == NULL) {
    redact_message("cannot create a Lua state: not enough memory");
    code = EXIT_SCRIPT_ERROR;
  } else {
    if (a.version)
      print_versions(L);
    code = runner_run(L, &a, argc, argv);
    fflush(stdout);
    runner_close(L);
  }

  stop_embedded_sandbox();
  host_args_free(&a);
  redact_clear();
  return code;
}
