#!/usr/bin/env bash
# collate-lua-asan against lua5.4 on the command lines busted and the tests use: the same
# output and exit status for each. Usage: interpreter_test.sh COLLATE_LUA_ASAN LUA54
set -uo pipefail
ours=$1 theirs=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'print(select("#", ...), ...)\nprint(arg[0], arg[1], arg[2], arg[3], arg[-1] ~= nil, arg[-2], arg[-3] ~= nil)\n' >"$work/s.lua"
printf 'return {answer = 42}\n' >"$work/mymod.lua"
printf '#!/usr/bin/env lua\nprint("shebang skipped", ...)\nos.exit(3)\n' >"$work/exit3.lua"
failures=0
same() { # description, arguments... (stdin from $work/stdin when present)
  local what=$1
  shift
  local a b ra rb
  a=$(cd "$work" && LUA_PATH="$work/?.lua;;" "$ours" "$@" <"$work/stdin" 2>&1); ra=$?
  b=$(cd "$work" && LUA_PATH="$work/?.lua;;" "$theirs" "$@" <"$work/stdin" 2>&1); rb=$?
  # error messages start with the interpreter's name
  a=${a//"$ours"/LUA}
  b=${b//"$theirs"/LUA}
  if [ "$a" != "$b" ] || [ "$ra" != "$rb" ]; then
    failures=$((failures + 1))
    printf 'FAIL %s\n  ours (%s): %s\n  lua5.4 (%s): %s\n' "$what" "$ra" "$a" "$rb" "$b"
  else
    echo "ok   $what"
  fi
}
echo 'print("from stdin", ...)' >"$work/stdin"
same "script and arguments" s.lua one "two words" ""
same "-e before the script" -e 'y = 2' s.lua x
same "-- then a script named like an option" -- s.lua -e
same "-l mod and -l g=mod" -l mymod -l g=mymod -e 'print(mymod.answer, g.answer)'
same "-e alone: arg" -e 'print(#arg, arg[0] ~= nil, arg[1], arg[2])'
same "stdin with -" - a b
same "shebang line and os.exit" exit3.lua z
same "a runtime error: status 1 and a traceback" -e 'local function f() error("boom") end f()'
same "a syntax error" -e 'x ='
same "-E ignores LUA_INIT" -E -e 'print(1)'
LUA_INIT='print("init ran")' same "LUA_INIT" -e 'print(2)'
same "a missing script" missing.lua
[ "$failures" -eq 0 ] || { echo "$failures difference(s)"; exit 1; }
echo "collate-lua-asan behaves as lua5.4 on these command lines"
