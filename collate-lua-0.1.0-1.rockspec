-- luarocks --lua-version=5.X make --tree <tree>   (5.1, 5.2, 5.3 or 5.4; from a checkout; docs/install.md)
rockspec_format = "3.0"
package = "collate-lua"
version = "0.1.0-1"
source = {
  url = "git+file:///collate-lua", -- built from a checkout with `luarocks make`
}
description = {
  summary = "Client for the Collate Prior Auth API (C core over libcurl, cosockets under OpenResty)",
  detailed = [[
require "collate": snake_case Lua tables in, typed errors out, retries with backoff and
idempotency keys. Under nginx (OpenResty, libnginx-mod-http-lua) every call goes over cosockets.
Also installs collate-run (runs workflow scripts; --sandbox starts the emulator in-process) and
collate-sandbox (a local emulator of the API).]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
}
-- libcurl, libmicrohttpd and Lua 5.4 (for collate-run / collate-sandbox) are found by CMake
-- through pkg-config (Debian: libcurl4-openssl-dev libmicrohttpd-dev liblua5.4-dev).
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "RelWithDebInfo",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    CMAKE_INSTALL_BINDIR = "$(BINDIR)",
    COLLATE_INSTALL_LMOD = "$(LUADIR)",
    COLLATE_INSTALL_CMOD = "$(LIBDIR)",
    -- the emulator's Lua stays in the rock's own directory, off every Lua path
    COLLATE_INSTALL_SANDBOX_LUA = "$(PREFIX)/share/collate-sandbox/lua",
    COLLATE_LUA_INCDIR = "$(LUA_INCDIR)",
    COLLATE_LUAJIT = "OFF", -- one collate.core, for the Lua luarocks targets ($(LUA_INCDIR))
    COLLATE_LUA52 = "OFF",
    COLLATE_LUA53 = "OFF",
    COLLATE_BUILD_TESTS = "OFF",
    COLLATE_INSTALL_OPS = "OFF", -- luarocks would wrap them to run under plain lua
  },
}
