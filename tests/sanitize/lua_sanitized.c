/* collate-lua-asan: a Lua 5.4 interpreter for the sanitized test pass (COLLATE_SANITIZE=ON).
 * The collate.core built with ASan/UBSan cannot load into Debian's lua5.4 ("ASan runtime does
 * not come first"): the runtime must be in the executable. This one is linked with the
 * sanitizers and Debian's static liblua5.4.a, exporting the Lua API (-Wl,-E) to the C modules it
 * loads (collate.core, cjson, lfs, LuaSocket, ...), and does what busted and our tests need of
 * lua5.4's command line:
 *   collate-lua-asan [-e stat] [-l [g=]mod] [-v] [-E] [-W] [--] [script [args] | -]
 * with the same `arg` table (script at 0, its arguments at 1.., the interpreter and options at
 * negative indices), LUA_INIT_5_4 / LUA_INIT, and lua5.4's exit statuses. No interactive mode.
 * The state is closed before a normal exit, so LeakSanitizer sees what the modules leak. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static const char *progname = "collate-lua-asan";

static void report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "%s: %s\n", progname, msg != NULL ? msg : "(error object is not a string)");
    fflush(stderr);
    lua_pop(L, 1);
  }
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg, status;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  status = lua_pcall(L, narg, nres, base);
  lua_remove(L, base);
  return status;
}

static int dochunk(lua_State *L, int status) {
  if (status == LUA_OK) status = docall(L, 0, 0);
  report(L, status);
  return status;
}

/* -l mod, or -l g=mod: require "mod" into the global g (default: mod up to the first '-'). */
static int dolibrary(lua_State *L, char *spec) {
  char *eq = strchr(spec, '=');
  const char *mod = eq != NULL ? eq + 1 : spec;
  int status;
  lua_getglobal(L, "require");
  lua_pushstring(L, mod);
  status = docall(L, 1, 1);
  if (status == LUA_OK) {
    if (eq != NULL) {
      *eq = '\0';
    } else {
      char *dash = strchr(spec, '-');
      if (dash != NULL) *dash = '\0';
    }
    lua_setglobal(L, spec);
  }
  report(L, status);
  return status;
}

static int handle_init(lua_State *L) {
  const char *name = "=LUA_INIT_5_4";
  const char *init = getenv("LUA_INIT_5_4");
  if (init == NULL) {
    name = "=LUA_INIT";
    init = getenv("LUA_INIT");
  }
  if (init == NULL) return LUA_OK;
  if (init[0] == '@') return dochunk(L, luaL_loadfile(L, init + 1));
  return dochunk(L, luaL_loadbuffer(L, init, strlen(init), name));
}

struct opts {
  int script; /* index of the script in argv, or argc when none */
  int has_e, has_v, ignore_env, warnings;
};

/* Returns 0, or -1 (bad option, reported). */
static int collect(int argc, char **argv, struct opts *o) {
  int i;
  memset(o, 0, sizeof *o);
  o->script = argc;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-') {
      o->script = i;
      return 0;
    }
    if (strcmp(a, "-") == 0) {
      o->script = i;
      return 0;
    }
    if (strcmp(a, "--") == 0) {
      o->script = i + 1 < argc ? i + 1 : argc;
      return 0;
    }
    if (strcmp(a, "-E") == 0) {
      o->ignore_env = 1;
    } else if (strcmp(a, "-W") == 0) {
      o->warnings = 1;
    } else if (strcmp(a, "-v") == 0) {
      o->has_v = 1;
    } else if (strcmp(a, "-e") == 0 || strcmp(a, "-l") == 0) {
      if (a[1] == 'e') o->has_e = 1;
      if (++i >= argc) {
        fprintf(stderr, "%s: '%s' needs argument\n", progname, a);
        return -1;
      }
    } else if ((a[1] == 'e' || a[1] == 'l') && a[2] != '\0') {
      if (a[1] == 'e') o->has_e = 1; /* -estat, -lmod */
    } else {
      fprintf(stderr, "%s: unrecognized option '%s' (interactive mode -i is not supported)\n",
              progname, a);
      return -1;
    }
  }
  return 0;
}

/* Runs -e and -l in order; stops at the script. */
static int run_options(lua_State *L, int argc, char **argv, int script) {
  int i;
  for (i = 1; i < script; i++) {
    char *a = argv[i], *val;
    if (strcmp(a, "--") == 0) break;
    if (a[1] != 'e' && a[1] != 'l') continue;
    val = a[2] != '\0' ? a + 2 : argv[++i];
    if (a[1] == 'e') {
      if (dochunk(L, luaL_loadbuffer(L, val, strlen(val), "=(command line)")) != LUA_OK) return 0;
    } else if (dolibrary(L, val) != LUA_OK) {
      return 0;
    }
  }
  (void)argc;
  return 1;
}

static void create_arg_table(lua_State *L, int argc, char **argv, int script) {
  int i;
  if (script == argc) script = 0; /* no script: the interpreter is arg[0], as in lua.c */
  lua_createtable(L, argc - script - 1, script + 1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int run_script(lua_State *L, int argc, char **argv, int script) {
  const char *fname = strcmp(argv[script], "-") == 0 ? NULL : argv[script];
  int status = luaL_loadfile(L, fname), i, n = 0;
  if (status == LUA_OK) {
    n = argc - script - 1;
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
    status = docall(L, n, LUA_MULTRET);
  }
  report(L, status);
  return status == LUA_OK;
}

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  struct opts o;
  if (collect(argc, argv, &o) != 0) return 0;
  if (o.has_v) printf("%s (%s, built with ASan and UBSan)\n", LUA_RELEASE, progname);
  if (o.ignore_env) {
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);
  create_arg_table(L, argc, argv, o.script);
  lua_gc(L, LUA_GCRESTART);
  lua_gc(L, LUA_GCGEN, 0, 0);
  if (o.warnings) lua_warning(L, "@on", 0);
  if (!o.ignore_env && handle_init(L) != LUA_OK) return 0;
  if (!run_options(L, argc, argv, o.script)) return 0;
  if (o.script < argc) {
    if (!run_script(L, argc, argv, o.script)) return 0;
  } else if (!o.has_e && !o.has_v) {
    if (isatty(0)) {
      fprintf(stderr, "%s: no interactive mode; give a script, -e or - (stdin)\n", progname);
      return 0;
    }
    if (dochunk(L, luaL_loadfile(L, NULL)) != LUA_OK) return 0;
  }
  lua_pushboolean(L, 1);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  int status, result;
  if (argv[0] != NULL && argv[0][0] != '\0') progname = argv[0];
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create state: not enough memory\n", progname);
    return EXIT_FAILURE;
  }
  lua_gc(L, LUA_GCSTOP);
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 0);
  result = lua_toboolean(L, -1);
  report(L, status);
  lua_close(L);
  return (result && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}
