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

/* Install-tree directories relative to the prefix (CMake's COLLATE_INSTALL_LMOD / _CMOD when
 * relative); the plain share/lua/<v> and lib/lua/<v> are also tried, the layout of a luarocks
 * tree and of a prefix configured for /usr but installed elsewhere. */
#ifndef COLLATE_INSTALL_LMOD_REL
#define COLLATE_INSTALL_LMOD_REL "share/lua/" COLLATE_LUA_VERSION
#endif
#ifndef COLLATE_INSTALL_CMOD_REL
#define COLLATE_INSTALL_CMOD_REL "lib/lua/" COLLATE_LUA_VERSION
#endif

static int find_under(const char *dir, const char *const *rels, const char *probe_tail, char *out,
                      size_t out_len)
{
    char probe[PATH_MAX + 128];
    for (; *rels; rels++) {
        snprintf(probe, sizeof probe, "%s/../%s/%s", dir, *rels, probe_tail);
        if (file_exists(probe)) {
            snprintf(out, out_len, "%s/../%s", dir, *rels);
            return 0;
        }
    }
    return -1;
}

int collate_paths_find(char *lua_dir, size_t lua_len, char *c_dir, size_t c_len)
{
    static const char *const lua_rels[] = {COLLATE_INSTALL_LMOD_REL, "share/lua/" COLLATE_LUA_VERSION, NULL};
    static const char *const c_rels[] = {COLLATE_INSTALL_CMOD_REL, "lib/lua/" COLLATE_LUA_VERSION, NULL};
    char dir[PATH_MAX];
    char probe[PATH_MAX + 64];

    if (exe_dir(dir, sizeof dir) == 0 &&
        find_under(dir, lua_rels, "collate/init.lua", lua_dir, lua_len) == 0) {
        /* the core may also be elsewhere on the default cpath (a system install) */
        if (find_under(dir, c_rels, "collate/core.so", c_dir, c_len) != 0)
            snprintf(c_dir, c_len, "%s/../%s", dir, COLLATE_INSTALL_CMOD_REL);
        return 0;
    }
    snprintf(probe, sizeof probe, "%s/collate/init.lua", COLLATE_SOURCE_LUA_DIR);
    if (!file_exists(probe))
        return -1;
    snprintf(lua_dir, lua_len, "%s", COLLATE_SOURCE_LUA_DIR);
    snprintf(c_dir, c_len, "%s", COLLATE_BUILD_LUA_CDIR);
    return 0;
}

/* The emulator's own Lua (sandbox/lua in the source tree): installed apart from the SDK, under
 * COLLATE_INSTALL_SANDBOX_LUA (relative: to the prefix beside the executable; absolute: as is,
 * the luarocks layout, where it stays in the rock's own directory). */
#ifndef COLLATE_INSTALL_SANDBOX_LUA_REL
#define COLLATE_INSTALL_SANDBOX_LUA_REL "share/collate-sandbox/lua"
#endif
#define SANDBOX_PROBE "collate_sandbox/app.lua"

int collate_paths_find_sandbox(char *lua_dir, size_t lua_len)
{
    static const char *const rels[] = {COLLATE_INSTALL_SANDBOX_LUA_REL, NULL};
    char dir[PATH_MAX];
    char probe[PATH_MAX + 64];

    if (exe_dir(dir, sizeof dir) == 0 && find_under(dir, rels, SANDBOX_PROBE, lua_dir, lua_len) == 0)
        return 0;
#ifdef COLLATE_INSTALL_SANDBOX_LUA_ABS
    snprintf(probe, sizeof probe, "%s/" SANDBOX_PROBE, COLLATE_INSTALL_SANDBOX_LUA_ABS);
    if (file_exists(probe)) {
        snprintf(lua_dir, lua_len, "%s", COLLATE_INSTALL_SANDBOX_LUA_ABS);
        return 0;
    }
#endif
    snprintf(probe, sizeof probe, "%s/" SANDBOX_PROBE, COLLATE_SOURCE_SANDBOX_LUA_DIR);
    if (!file_exists(probe))
        return -1;
    snprintf(lua_dir, lua_len, "%s", COLLATE_SOURCE_SANDBOX_LUA_DIR);
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

int collate_paths_setup_sandbox(lua_State *L, char *err, size_t errlen)
{
    char lua_dir[PATH_MAX];
    char path[3 * PATH_MAX];

    if (collate_paths_find_sandbox(lua_dir, sizeof lua_dir) != 0) {
        snprintf(err, errlen, "cannot find the emulator's Lua modules (looked beside the executable "
                              "and in %s)", COLLATE_SOURCE_SANDBOX_LUA_DIR);
        return -1;
    }
    snprintf(path, sizeof path, "%s/?.lua;%s/?/init.lua", lua_dir, lua_dir);
    prepend_field(L, "path", path);
    return 0;
}
