#ifndef COLLATE_PATHS_H
#define COLLATE_PATHS_H

#include <lua.h>

/* Prepends the collate Lua and C module directories to package.path and package.cpath:
 * the install tree next to the running executable when it holds the module, else the build
 * tree this binary was compiled in. Returns 0, or -1 with a message in err. */
int collate_paths_setup(lua_State *L, char *err, size_t errlen);

/* Fills lua_dir (where collate/init.lua lives) and c_dir (where collate/core.so lives). */
int collate_paths_find(char *lua_dir, size_t lua_len, char *c_dir, size_t c_len);

/* The same for the emulator's own Lua (collate_sandbox.*, installed apart from the SDK):
 * prepends only that directory to package.path. The emulator and the client share no code. */
int collate_paths_setup_sandbox(lua_State *L, char *err, size_t errlen);

/* Fills lua_dir (where collate_sandbox/app.lua lives). */
int collate_paths_find_sandbox(char *lua_dir, size_t lua_len);

#endif
