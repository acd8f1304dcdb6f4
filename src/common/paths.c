#include "paths.h"

#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int file_exists(const char *path)
{
    return access(path, R_OK) == 0;
}

static int exe_dir(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return 0;
}

int collate_paths_find(char *lua_dir, size_t lua_len, char *c_dir, size_t c_len)
{
    char dir[PATH_MAX];
    char probe[PATH_MAX + 64];

    if (exe_dir(dir, sizeof dir) == 0) {
        snprintf(probe, sizeof probe, "%s/../share/lua/%s/collate/init.lua", dir, COLLATE_LUA_VERSION);
        if (file_exists(probe)) {
            snprintf(lua_dir, lua_len, "%s/../share/lua/%s", dir, COLLATE_LUA_VERSION);
            snprintf(c_dir, c_len, "%s/../lib/lua/%s", dir, COLLATE_LUA_VERSION);
            return 0;
        }
    }
    snprintf(probe, sizeof probe, "%s/collate/init.lua", COLLATE_SOURCE_LUA_DIR);
    if (!file_exists(probe))
        return -1;
    snprintf(lua_dir, lua_len, "%s", COLLATE_SOURCE_LUA_DIR);
    snprintf(c_dir, c_len, "%s", COLLATE_BUILD_LUA_CDIR);
    return 0;
}

static void prepend_field(lua_State *L, const char *field, const char *prefix)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, field);
    const char *old = lua_tostring(L, -1);
    lua_pushfstring(L, "%s;%s", prefix, old ? old : "");
    lua_setfield(L, -3, field);
    lua_pop(L, 2);
}

int collate_paths_setup(lua_State *L, char *err, size_t errlen)
{
    char lua_dir[PATH_MAX], c_dir[PATH_MAX];
    char path[3 * PATH_MAX];

    if (collate_paths_find(lua_dir, sizeof lua_dir, c_dir, sizeof c_dir) != 0) {
        snprintf(err, errlen, "cannot find the collate Lua modules (looked beside the executable "
                              "and in %s)", COLLATE_SOURCE_LUA_DIR);
        return -1;
    }
    snprintf(path, sizeof path, "%s/?.lua;%s/?/init.lua", lua_dir, lua_dir);
    prepend_field(L, "path", path);
    snprintf(path, sizeof path, "%s/?.so", c_dir);
    prepend_field(L, "cpath", path);
    return 0;
}
