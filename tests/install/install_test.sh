#!/usr/bin/env bash
# usage: install_test.sh cmake|luarocks SOURCE_DIR BUILD_DIR [LUA_VERSION]
#   cmake:    cmake --install BUILD_DIR --prefix <tmp>
#   luarocks: luarocks --lua-version=LUA_VERSION (default 5.4) make --tree <tmp> --deps-mode=none
#             (offline) from a copy of the sources, which is then removed so nothing can fall
#             back to it
# Then runs tests/install/check.lua with the tree's collate-run (--sandbox) and with plain
# lua5.4 (and luajit, lua5.1/5.2/5.3 for the cmake tree) against the tree's own collate-sandbox.
# With LUA_VERSION other than 5.4 the tree holds the client for that Lua only: check.lua runs
# with lua<LUA_VERSION> against the build tree's collate-sandbox.
set -euo pipefail
mode=$1 src=$2 build=$3 version=${4:-5.4}
tmp=$(mktemp -d)
sandbox_pid=""
cleanup() {
  [ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

prefix=$tmp/prefix
case $mode in
  cmake)
    cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install"; }
    ;;
  luarocks)
    mkdir "$tmp/src"
    mkdir "$tmp/src/scripts"
    cp -r "$src/CMakeLists.txt" "$src/src" "$src/sandbox" "$src/lua" "$src"/collate-lua-*.rockspec "$tmp/src/"
    cp -r "$src/scripts/ops" "$src/scripts/examples" "$tmp/src/scripts/"
    (cd "$tmp/src" && HOME=$tmp luarocks --lua-version="$version" make --tree "$prefix" --deps-mode=none \
       collate-lua-0.1.0-1.rockspec) >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "luarocks make"; }
    rm -rf "$tmp/src"
    ;;
  *) fail "unknown mode $mode" ;;
esac
check=$src/tests/install/check.lua
export INSTALL_PREFIX=$prefix

run_plain() { # lua version, interpreter command...
  local v=$1
  shift
  (cd "$tmp" && LUA_PATH="$prefix/share/lua/$v/?.lua;$prefix/share/lua/$v/?/init.lua;;" \
     LUA_CPATH="$prefix/lib/lua/$v/?.so;;" "$@" "$check")
}
# the sanitized pass (tests/CMakeLists.txt): LUA54 is collate-lua-asan, and interpreters that
# are not ours (luajit, lua5.1-5.3) get the ASan runtime the sanitized core needs preloaded
not_ours() {
  if [ -n "${COLLATE_ASAN_PRELOAD:-}" ]; then
    env LD_PRELOAD="$COLLATE_ASAN_PRELOAD" ASAN_OPTIONS=detect_leaks=0 "$@"
  else
    "$@"
  fi
}
start_sandbox() { # collate-sandbox binary
  "$1" --port 0 --port-file "$tmp/port" >"$tmp/sandbox.log" 2>&1 &
  sandbox_pid=$!
  for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
  [ -s "$tmp/port" ] || { cat "$tmp/sandbox.log"; fail "$1 did not start"; }
  export COLLATE_BASE_URL=http://127.0.0.1:$(cat "$tmp/port") COLLATE_API_KEY=sk_test_local
}

if [ "$version" != 5.4 ]; then
  for f in "share/lua/$version/collate/init.lua" "share/lua/$version/collate/compat.lua" \
           "lib/lua/$version/collate/core.so"; do
    [ -e "$prefix/$f" ] || { find "$prefix" -maxdepth 5; fail "$f not installed"; }
  done
  if find "$prefix/lib/lua" -path "*collate/core.so" | grep -v "^$prefix/lib/lua/$version/collate/core.so$"; then
    fail "a collate.core for another Lua was installed"
  fi
  start_sandbox "$build/bin/collate-sandbox"
  out=$(run_plain "$version" not_ours "lua$version" 2>&1) || { echo "$out"; fail "lua$version"; }
  echo "lua$version: $out"
  grep -q "^install ok: Lua $version, no jit" <<<"$out" || fail "lua$version did not finish the check"
  echo "install ($mode, Lua $version) ok"
  exit 0
fi
for f in bin/collate-run bin/collate-sandbox share/lua/5.4/collate/init.lua share/lua/5.4/collate/transport/cosocket.lua \
         share/lua/5.4/collate/types/collate.lua \
         lib/lua/5.4/collate/core.so; do
  [ -e "$prefix/$f" ] || { find "$prefix" -maxdepth 4; fail "$f not installed"; }
done
# the emulator's Lua apart from the SDK: share/collate-sandbox/lua (cmake), the rock's own
# directory (luarocks); never in the SDK's Lua directories
case $mode in
  cmake) emulator=$prefix/share/collate-sandbox/lua/collate_sandbox/app.lua ;;
  luarocks) emulator=$(find "$prefix/lib/luarocks" -path '*/share/collate-sandbox/lua/collate_sandbox/app.lua' | head -1) ;;
esac
[ -n "$emulator" ] && [ -e "$emulator" ] || { find "$prefix" -maxdepth 6; fail "the emulator's Lua not installed"; }
echo "emulator's Lua: ${emulator#"$prefix"/}"
if find "$prefix/share/lua" "$prefix/lib/lua" -path '*sandbox*' 2>/dev/null | grep -q .; then
  find "$prefix/share/lua" "$prefix/lib/lua" -path '*sandbox*'; fail "sandbox files in the SDK's Lua directories"
fi

# 1. collate-run from the tree, its in-process sandbox included
out=$(cd "$tmp" && env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 \
      "$prefix/bin/collate-run" --sandbox "$check" --with-sandbox-modules 2>&1) || { echo "$out"; fail "collate-run"; }
echo "collate-run: $out"
grep -q "^install ok: Lua 5.4" <<<"$out" || fail "collate-run did not finish the check"

# 1b. the ops scripts are commands on PATH (collate-status, ...), their shebang finding the
# tree's collate-run; the examples are installed as data
for s in "$src"/scripts/ops/*; do
  [ "$mode" = cmake ] || break # the rockspec does not install them (docs/install.md)
  name=collate-$(basename "$s")
  [ -x "$prefix/bin/$name" ] || fail "$name not installed"
  (cd "$tmp" && env -u LUA_PATH -u LUA_CPATH PATH="$prefix/bin:/usr/bin:/bin" "$name" --help >"$tmp/ops.out" 2>&1) || { cat "$tmp/ops.out"; false; } ||
    fail "$name --help from the tree's bin on PATH"
done
[ "$mode" != cmake ] || [ -e "$prefix/share/collate-lua/examples/quickstart.lua" ] || fail "examples not installed"
# and from the checkout: build/bin on PATH is all the shebang needs (docs/install.md)
if [ "$mode" = cmake ]; then
  (cd "$tmp" && env -u LUA_PATH -u LUA_CPATH PATH="$build/bin:/usr/bin:/bin" "$src/scripts/ops/status" --help >/dev/null 2>&1) ||
    fail "scripts/ops/status from the checkout with build/bin on PATH"
fi
[ "$mode" = cmake ] && echo "ops commands: $(cd "$prefix/bin" && ls collate-* | tr '\n' ' ')"

# 2. the tree's collate-sandbox, and plain interpreters with the tree's paths
start_sandbox "$prefix/bin/collate-sandbox"
out=$(run_plain 5.4 "${LUA54:-lua5.4}" 2>&1) || { echo "$out"; fail "lua5.4"; }
echo "lua5.4: $out"
grep -q "^install ok: Lua 5.4" <<<"$out" || fail "lua5.4 did not finish the check"
if [ "$mode" = cmake ] && [ -e "$prefix/lib/lua/5.1/collate/core.so" ] && command -v luajit >/dev/null; then
  out=$(run_plain 5.1 not_ours luajit 2>&1) || { echo "$out"; fail "luajit"; }
  echo "luajit: $out"
  grep -q "^install ok: Lua 5.1, LuaJIT" <<<"$out" || fail "luajit did not finish the check"
fi
if [ "$mode" = cmake ]; then
  for v in 5.1 5.2 5.3; do
    [ -e "$prefix/lib/lua/$v/collate/core.so" ] && command -v "lua$v" >/dev/null || continue
    out=$(run_plain "$v" not_ours "lua$v" 2>&1) || { echo "$out"; fail "lua$v"; }
    echo "lua$v: $out"
    grep -q "^install ok: Lua $v, no jit" <<<"$out" || fail "lua$v did not finish the check"
  done
fi
echo "install ($mode) ok"
