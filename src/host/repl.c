/* collate-run's interactive mode, as lua5.4's: a line is tried as an expression first
 * ("return LINE"), then as a statement; an incomplete chunk asks for more lines (prompt 2);
 * results are printed with the global print; errors are reported (redacted) and the loop goes
 * on. Line editing and history come from libedit when it was found at build time. */
#include "repl.h"

#include "redact.h"

#include <lauxlib.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef COLLATE_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#define LINE_MAX_BYTES 4096
#define EOF_MARK "<eof>"

static const char *prompt(lua_State *L, int first)
{
  lua_getglobal(L, first ? "_PROMPT" : "_PROMPT2");
  const char *p = lua_tostring(L, -1);
  if (p == NULL)
    p = first ? "> " : ">> ";
  lua_pop(L, 1); /* the string stays alive: a global, or a literal */
  return p;
}

/* One line, without its newline, as a malloc'ed string; NULL at end of input. */
static char *read_line(lua_State *L, int first, int tty)
{
  const char *p = prompt(L, first);
#ifdef COLLATE_HAVE_LIBEDIT
  if (tty)
    return readline(p);
#else
  (void)tty;
#endif
  fputs(p, stdout);
  fflush(stdout);
  char *buf = malloc(LINE_MAX_BYTES);
  if (buf == NULL || fgets(buf, LINE_MAX_BYTES, stdin) == NULL) {
    free(buf);
    return NULL;
  }
  size_t n = strlen(buf);
  if (n > 0 && buf[n - 1] == '\n')
    buf[n - 1] = '\0';
  return buf;
}

static void remember(const char *line, int tty)
{
#ifdef COLLATE_HAVE_LIBEDIT
  if (tty && line[0] != '\0')
    add_history(line);
#else
  (void)line;
  (void)tty;
#endif
}

static int incomplete(lua_State *L, int status)
{
  if (status != LUA_ERRSYNTAX)
    return 0;
  size_t len;
  const char *msg = lua_tolstring(L, -1, &len);
  size_t mark = sizeof EOF_MARK - 1;
  return msg != NULL && len >= mark && strcmp(msg + len - mark, EOF_MARK) == 0;
}

/* Compiles the next statement; leaves the function (or an error) on the stack. Returns the
 * load status, or -1 at end of input. */
static int load_statement(lua_State *L, int tty)
{
  char *line = read_line(L, 1, tty);
  if (line == NULL)
    return -1;
  /* an expression first, so "1 + 1" prints 2 */
  lua_pushfstring(L, "return %s", line);
  size_t len;
  const char *ret = lua_tolstring(L, -1, &len);
  int status = luaL_loadbuffer(L, ret, len, "=stdin");
  lua_remove(L, -2);
  if (status == LUA_OK) {
    remember(line, tty);
    free(line);
    return status;
  }
  lua_pop(L, 1);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, line);
  free(line);
  luaL_pushresult(&b);
  for (;;) {
    const char *code = lua_tolstring(L, -1, &len);
    status = luaL_loadbuffer(L, code, len, "=stdin");
    if (!incomplete(L, status))
      break;
    lua_pop(L, 1);
    char *more = read_line(L, 0, tty);
    if (more == NULL)
      break; /* the incomplete chunk's error is reported below */
    lua_pushfstring(L, "%s\n%s", lua_tostring(L, -1), more);
    lua_remove(L, -2);
    free(more);
  }
  remember(lua_tostring(L, -2), tty); /* the whole statement, as one history entry */
  lua_remove(L, -2);                   /* the source */
  return status;
}

static void print_results(lua_State *L, int base)
{
  int n = lua_gettop(L) - base;
  if (n <= 0)
    return;
  luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
  lua_getglobal(L, "print");
  lua_insert(L, base + 1);
  if (lua_pcall(L, n, 0, 0) != LUA_OK) {
    lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1));
    redact_message(lua_tostring(L, -1));
    lua_pop(L, 2);
  }
}

void repl_run(lua_State *L, const struct repl_hooks *h)
{
  int tty = isatty(STDIN_FILENO);
  for (;;) {
    int base = lua_gettop(L);
    int status = load_statement(L, tty);
    if (status == -1)
      break;
    if (status == LUA_OK)
      status = h->call(L, 0, LUA_MULTRET);
    if (status == LUA_OK)
      print_results(L, base);
    else
      h->report(L);
    lua_settop(L, base);
  }
  lua_settop(L, 0);
  fputs("\n", stdout);
  fflush(stdout);
}
