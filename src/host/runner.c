#include "runner.h"
#include "repl.h"
#include "traceback.h"

#include "paths.h"
#include "redact.h"

#include <lauxlib.h>
#include <lualib.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- Ctrl-C ----------------------------------------------------------------------------- */

static lua_State *volatile running;
static volatile sig_atomic_t interrupted;

/* Raised at every hook event while the flag is up, so a script's pcall cannot swallow it. */
static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
  (void)ar;
  if (interrupted)
    luaL_error(L, "interrupted");
}

static void on_sigint(int sig)
{
  (void)sig;
  interrupted = 1;
  signal(SIGINT, SIG_DFL);  /* a second Ctrl-C kills, as in lua(1) */
  lua_State *L = running;
  if (L)
    lua_sethook(L, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void catch_sigint(lua_State *L)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  /* no SA_RESTART: a blocking sleep or read returns early */
  running = L;
  sigaction(SIGINT, &sa, NULL);
}

/* ---- a clean stop: require "collate.host" --------------------------------------------- */

/* A script that can stop cleanly (scripts/ops/advance --watch) calls catch_stop(): from then
 * on SIGINT and SIGTERM only raise a flag that stopping() reports, the script finishes what it
 * has in flight and returns. A second signal gets the default action (the process ends). */
static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
  stop_requested = 1;
  signal(sig == SIGTERM ? SIGTERM : SIGINT, SIG_DFL);
}

static int host_catch_stop(lua_State *L)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  (void)L;
  return 0;
}

static int host_stopping(lua_State *L)
{
  lua_pushboolean(L, stop_requested != 0);
  return 1;
}

static int open_host(lua_State *L)
{
  static const luaL_Reg fns[] = {{"catch_stop", host_catch_stop}, {"stopping", host_stopping}, {NULL, NULL}};
  luaL_newlib(L, fns);
  return 1;
}

static void release_sigint(lua_State *L)
{
  signal(SIGINT, SIG_DFL);
  running = NULL;
  lua_sethook(L, NULL, 0, 0);
}

/* ---- errors ----------------------------------------------------------------------------- */

/* Prints the error on top of the stack (redacted) and pops it. */
static void report(lua_State *L)
{
  redact_add_env("COLLATE_API_KEY");  /* the script may have set it */
  const char *msg = lua_tostring(L, -1);
  redact_message(msg ? msg : "(error object is not a string)");
  lua_pop(L, 1);
}

static int docall(lua_State *L, int narg, int nres)
{
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, collate_traceback);
  lua_insert(L, base);
  int status = lua_pcall(L, narg, nres, base);
  lua_remove(L, base);
  return status;
}

/* ---- warnings --------------------------------------------------------------------------- */

static int warnings_on;
static char *warn_text;
static size_t warn_len;

static void warn_append(const char *msg)
{
  size_t n = strlen(msg);
  char *p = realloc(warn_text, warn_len + n + 1);
  if (p == NULL)
    return;
  warn_text = p;
  memcpy(warn_text + warn_len, msg, n + 1);
  warn_len += n;
}

/* lauxlib's warning function, with redaction */
static void warnf(void *ud, const char *msg, int tocont)
{
  (void)ud;
  if (warn_len == 0 && !tocont && msg[0] == '@') {
    if (strcmp(msg, "@on") == 0)
      warnings_on = 1;
    else if (strcmp(msg, "@off") == 0)
      warnings_on = 0;
    return;
  }
  if (warn_len == 0)
    warn_append("Lua warning: ");
  warn_append(msg);
  if (!tocont) {
    warn_append("\n");
    if (warnings_on && warn_text)
      redact_write(warn_text, warn_len);
    free(warn_text);
    warn_text = NULL;
    warn_len = 0;
  }
}

lua_State *runner_new_state(const struct host_args *a)
{
  lua_State *L = luaL_newstate();
  if (L == NULL)
    return NULL;
  lua_setwarnf(L, warnf, NULL);
  if (a->warnings)
    lua_warning(L, "@on", 0);
  if (a->no_env) { /* -E: the package library then ignores LUA_PATH* and LUA_CPATH* */
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  lua_gc(L, LUA_GCSTOP);
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, open_host);
  lua_setfield(L, -2, "collate.host");
  lua_pop(L, 1);
  char err[512];
  /* not fatal: a script that does not require collate still runs; one that does gets Lua's
   * own "module not found" listing the paths */
  collate_paths_setup(L, err, sizeof err);
  lua_gc(L, LUA_GCRESTART);
  lua_gc(L, LUA_GCGEN, 0, 0); /* the collector mode lua5.4 runs in */
  return L;
}

/* ---- running ---------------------------------------------------------------------------- */

/* arg as lua(1) builds it: arg[0] the script, arg[1..] its arguments, the interpreter and its
 * options at negative indexes. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script)
{
  lua_createtable(L, argc - script - 1 > 0 ? argc - script - 1 : 0, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int dostring(lua_State *L, const char *code)
{
  int status = luaL_loadbuffer(L, code, strlen(code), "=(command line)");
  if (status == LUA_OK)
    status = docall(L, 0, 0);
  return status;
}

/* -l mod or -l g=mod: require and set the global */
static int dolibrary(lua_State *L, const char *spec)
{
  const char *eq = strchr(spec, '=');
  const char *mod = eq ? eq + 1 : spec;
  lua_getglobal(L, "require");
  lua_pushstring(L, mod);
  int status = docall(L, 1, 1);
  if (status == LUA_OK) {
    if (eq)
      lua_pushlstring(L, spec, (size_t)(eq - spec));
    else
      lua_pushstring(L, mod);
    lua_insert(L, -2);
    lua_setglobal(L, lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  return status;
}

static int finish(lua_State *L, int status)
{
  if (status == LUA_OK)
    return EXIT_OK;
  if (interrupted) {
    lua_pop(L, 1);
    redact_message("interrupted");
    return EXIT_INTERRUPTED;
  }
  report(L);
  return EXIT_SCRIPT_ERROR;
}

/* LUA_INIT_5_4, else LUA_INIT: "@file" runs the file, anything else runs as code. */
static int handle_init(lua_State *L)
{
  const char *name = "=LUA_INIT_5_4";
  const char *init = getenv(name + 1);
  if (init == NULL) {
    name = "=LUA_INIT";
    init = getenv(name + 1);
  }
  if (init == NULL)
    return LUA_OK;
  int status = init[0] == '@' ? luaL_loadfile(L, init + 1)
                              : luaL_loadbuffer(L, init, strlen(init), name);
  if (status == LUA_OK)
    status = docall(L, 0, 0);
  return status;
}

/* A REPL call: Ctrl-C interrupts the running line, not the session. */
static int repl_call(lua_State *L, int narg, int nres)
{
  interrupted = 0;
  catch_sigint(L);
  int status = docall(L, narg, nres);
  release_sigint(L);
  if (interrupted && status != LUA_OK) {
    lua_pop(L, 1);
    lua_pushliteral(L, "interrupted");
  }
  interrupted = 0;
  return status;
}

/* --sandbox: the REPL starts with collate required and a client made against the embedded
 * sandbox (COLLATE_BASE_URL / COLLATE_API_KEY are set). */
static void repl_client(lua_State *L)
{
  static const char code[] =
    "collate = require 'collate'\n"
    "client = collate.new{}\n"
    "print('client = collate.new{} against the embedded sandbox at ' .. client.base_url)\n";
  if (luaL_loadbuffer(L, code, sizeof code - 1, "=(sandbox client)") != LUA_OK ||
      docall(L, 0, 0) != LUA_OK)
    report(L);
}

static int run_repl(lua_State *L, const struct host_args *a)
{
  static const struct repl_hooks hooks = {repl_call, report};
  if (a->sandbox)
    repl_client(L);
  repl_run(L, &hooks);
  return EXIT_OK;
}

int runner_run(lua_State *L, const struct host_args *a, int argc, char **argv)
{
  int script = a->script;
  create_arg_table(L, argv, argc, script);
  catch_sigint(L);

  int code = a->no_env ? EXIT_OK : finish(L, handle_init(L));
  for (int i = 0; i < a->nactions && code == EXIT_OK; i++) {
    int status = a->actions[i].kind == 'e' ? dostring(L, a->actions[i].value)
                                           : dolibrary(L, a->actions[i].value);
    code = finish(L, status);
  }

  /* as lua5.4: with neither a script nor -e/-l/-v/-i, a terminal gets the REPL (with the
   * banner), anything else is read as the script */
  int bare = script == 0 && a->nactions == 0 && !a->version;
  int repl_after = a->interactive || (bare && isatty(STDIN_FILENO));
  int run_stdin = bare && !repl_after;
  if (code == EXIT_OK && (script || run_stdin)) {
    const char *name = script ? argv[script] : "-";
    const char *fname = strcmp(name, "-") == 0 ? NULL : name;
    int status = luaL_loadfile(L, fname);  /* skips a first '#' line: shebang scripts */
    if (status == LUA_ERRFILE) {
      report(L);
      code = EXIT_USAGE;
    } else if (status != LUA_OK) {
      code = finish(L, status);
    } else {
      int n = 0;
      if (script) {
        for (int i = script + 1; i < argc; i++, n++)
          lua_pushstring(L, argv[i]);
      }
      code = finish(L, docall(L, n, 0));
    }
  }

  release_sigint(L);
  if (interrupted && code == EXIT_OK) {  /* Ctrl-C between two Lua calls */
    redact_message("interrupted");
    code = EXIT_INTERRUPTED;
  }
  if (code == EXIT_OK && repl_after)
    code = run_repl(L, a);
  return code;
}

void runner_close(lua_State *L)
{
  lua_close(L);
  free(warn_text);
  warn_text = NULL;
  warn_len = 0;
}
