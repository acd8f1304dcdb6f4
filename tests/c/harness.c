#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "harness.h"

int luaopen_collate_core(lua_State *L);

int harness_failures = 0;
static int chunks = 0;

static const char *helpers =
  "local function show(v)\n"
  "  if type(v) == 'string' then return string.format('%q', v) end\n"
  "  if math.type and math.type(v) == 'float' then return tostring(v) .. ' (float)' end\n"
  "  return tostring(v)\n"
  "end\n"
  "function eq(actual, expected, what)\n"
  "  if actual ~= expected or (math.type and math.type(actual) ~= math.type(expected)) then\n"
  "    error((what or 'value') .. ': expected ' .. show(expected) .. ', got ' .. show(actual), 2)\n"
  "  end\n"
  "end\n"
  "function ok(cond, what)\n"
  "  if not cond then error('expected true: ' .. (what or '?'), 2) end\n"
  "end\n"
  "local function deep(a, b, path)\n"
  "  if type(a) ~= 'table' or type(b) ~= 'table' then\n"
  "    if a ~= b or (math.type and math.type(a) ~= math.type(b)) then\n"
  "      return path .. ': expected ' .. show(b) .. ', got ' .. show(a)\n"
  "    end\n"
  "    return nil\n"
  "  end\n"
  "  for k, v in pairs(b) do\n"
  "    local e = deep(a[k], v, path .. '.' .. tostring(k)); if e then return e end\n"
  "  end\n"
  "  for k in pairs(a) do\n"
  "    if b[k] == nil then return path .. '.' .. tostring(k) .. ': unexpected key' end\n"
  "  end\n"
  "end\n"
  "function deep_eq(a, b, what)\n"
  "  local e = deep(a, b, what or 'value'); if e then error(e, 2) end\n"
  "end\n"
  "-- fails(pattern, v, msg): v must be nil and msg must contain pattern (plain text); the core's\n"
  "-- failure shape v, kind, msg is taken too (the kind is then checked to be a string)\n"
  "function fails(pattern, v, msg, what, ...)\n"
  "  if type(msg) == 'string' and msg:find('^[%l_]+$') and type(what) == 'string' then\n"
  "    msg, what = what, ...\n"
  "  end\n"
  "  if v ~= nil then error((what or pattern) .. ': expected nil, got ' .. show(v), 2) end\n"
  "  if type(msg) ~= 'string' or not msg:find(pattern, 1, true) then\n"
  "    error((what or pattern) .. ': expected a message containing ' .. show(pattern) ..\n"
  "          ', got ' .. show(msg), 2)\n"
  "  end\n"
  "end\n";

lua_State *harness_state(void) {
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "cannot create a Lua state\n");
    exit(2);
  }
  luaL_openlibs(L);
  lua_pushcfunction(L, luaopen_collate_core);
  if (lua_pcall(L, 0, 1, 0) != 0) {
    fprintf(stderr, "cannot open collate.core: %s\n", lua_tostring(L, -1));
    exit(2);
  }
  lua_setglobal(L, "core");
  if (luaL_dostring(L, helpers) != 0) {
    fprintf(stderr, "harness helpers: %s\n", lua_tostring(L, -1));
    exit(2);
  }
  return L;
}

void harness_lua(lua_State *L, const char *name, const char *code) {
  chunks++;
  if (luaL_loadbuffer(L, code, strlen(code), name) != 0 || lua_pcall(L, 0, 0, 0) != 0) {
    harness_failures++;
    fprintf(stderr, "FAIL %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

int harness_finish(const char *suite) {
  if (harness_failures) {
    fprintf(stderr, "%s: %d failure(s)\n", suite, harness_failures);
    return 1;
  }
  printf("%s: ok (%d Lua chunks)\n", suite, chunks);
  return 0;
}
