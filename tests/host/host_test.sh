#!/usr/bin/env bash
# Tests of collate-run and of the collate-sandbox front. Usage: host_test.sh CASE BIN_DIR
# Cases that need a sandbox app run in a private install tree holding a stub app
# (fixtures/stub_app.lua), so they test the C front whatever sandbox/lua holds.
set -uo pipefail
# The binaries must find collate and the system modules (cjson) with no help from the
# environment, as a user runs them.
unset LUA_PATH LUA_CPATH LUA_PATH_5_4 LUA_CPATH_5_4 LUA_INIT LUA_INIT_5_4
case_name=$1
bin=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
check() { # check DESCRIPTION CONDITION...
  local what=$1; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
# run CMD...: sets rc, out, err
run() {
  "$@" >"$work/out" 2>"$work/err"
  rc=$?
  out=$(cat "$work/out")
  err=$(cat "$work/err")
}
has() { grep -qF -- "$2" <<<"$1"; }
lacks() { ! grep -qF -- "$2" <<<"$1"; }

# A copy of the binaries in an install tree whose sandbox app is the stub.
stub_tree() {
  local root=$work/prefix lmod=$work/prefix/share/lua/5.4 smod=$work/prefix/share/collate-sandbox/lua
  mkdir -p "$root/bin" "$lmod/collate" "$smod/collate_sandbox"
  cp "$bin/collate-sandbox" "$bin/collate-run" "$root/bin/"
  echo 'return {}' >"$lmod/collate/init.lua"
  cp "$here/fixtures/stub_app.lua" "$smod/collate_sandbox/app.lua"
  echo "$root/bin"
}

# start_sandbox BIN_DIR ARGS...: starts collate-sandbox on an ephemeral port; sets spid, port, url
start_sandbox() {
  local dir=$1; shift
  rm -f "$work/port"
  "$dir/collate-sandbox" --port 0 --port-file "$work/port" "$@" >"$work/sb.out" 2>"$work/sb.err" &
  spid=$!
  pids+=("$spid")
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
  port=$(cat "$work/port" 2>/dev/null)
  url=http://127.0.0.1:$port
}

wait_exit() { # wait_exit PID: sets rc, 124 when still running after 10 s
  for _ in $(seq 200); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$1" 2>/dev/null; then rc=124; else wait "$1"; rc=$?; fi
}

case $case_name in
exit_codes)
  run "$bin/collate-run" -e 'x = 1'
  check "success exits 0" [ "$rc" = 0 ]
  run "$bin/collate-run" -e 'error("no")'
  check "script error exits 1" [ "$rc" = 1 ]
  run "$bin/collate-run" -e 'local x ='
  check "syntax error exits 1" [ "$rc" = 1 ]
  run "$bin/collate-run" --no-such-option
  check "unknown option exits 2" [ "$rc" = 2 ]
  check "unknown option is named" has "$err" "--no-such-option"
  run "$bin/collate-run" "$work/missing.lua"
  check "missing script exits 2" [ "$rc" = 2 ]
  check "missing script is named" has "$err" "missing.lua"
  run "$bin/collate-run" -e
  check "-e without code exits 2" [ "$rc" = 2 ]
  run "$bin/collate-run" --sandbox-clock-speed -3 -e 'x = 1'
  check "bad clock speed exits 2" [ "$rc" = 2 ]
  run "$bin/collate-run" --help
  check "--help exits 0 and names every option" [ "$rc" = 0 ]
  for o in -e -l -v --version -h --help --sandbox --sandbox-clock-speed --; do
    check "--help mentions $o" has "$out" "$o"
  done
  run "$bin/collate-run" -v
  check "-v exits 0" [ "$rc" = 0 ]
  check "-v names collate-run, collate-lua, Lua and libcurl" \
    bash -c 'grep -q "^collate-run " <<<"$0" && grep -q "^collate-lua " <<<"$0" && grep -q "^Lua 5.4" <<<"$0" && grep -q "^libcurl " <<<"$0"' "$out"
  run "$bin/collate-run" -e 'os.exit(3)'
  check "os.exit code passes through" [ "$rc" = 3 ]
  ;;
arg_table)
  printf 'print(select("#", ...), ...)\nprint(arg[0], arg[1], arg[2], arg[3], arg[-1], arg[-2], arg[-3])\n' >"$work/s.lua"
  run "$bin/collate-run" -e 'y = 2' "$work/s.lua" one "two words" ""
  check "exit 0" [ "$rc" = 0 ]
  check "... holds the script arguments" has "$out" "$(printf '3\tone\ttwo words\t')"
  check "arg[0] is the script, negatives the interpreter" \
    has "$out" "$(printf '%s\tone\ttwo words\t\ty = 2\t-e\t%s' "$work/s.lua" "$bin/collate-run")"
  run "$bin/collate-run" -- "$work/s.lua" -e
  check "-- ends options" has "$out" "$(printf '1\t-e')"
  run bash -c "echo 'print(\"stdin\", ...)' | '$bin/collate-run' - a b"
  check "script - reads stdin" has "$out" "$(printf 'stdin\ta\tb')"
  ;;
e_and_l)
  run "$bin/collate-run" -e 'acc = "a"' -l string -e 'acc = acc .. "b"' -e 'print(acc, type(string), string.rep("z", 2))'
  check "-e runs in order with -l between" has "$out" "$(printf 'ab\ttable\tzz')"
  mkdir -p "$work/mods"
  echo 'return {answer = 42}' >"$work/mods/mymod.lua"
  run env LUA_PATH="$work/mods/?.lua;;" "$bin/collate-run" -l mymod -l g=mymod -e 'print(mymod.answer, g.answer)'
  check "-l sets the global (and g=mod)" has "$out" "$(printf '42\t42')"
  run "$bin/collate-run" -l no_such_module_xyz -e 'print("ran")'
  check "-l of a missing module exits 1 and stops" bash -c '[ "$0" = 1 ] && ! grep -q ran <<<"$1"' "$rc" "$out"
  run "$bin/collate-run" -eprint\(7\)
  check "-eCODE form" has "$out" "7"
  ;;
shebang)
  printf '#!%s\nprint("shebang ran", ...)\n' "$bin/collate-run" >"$work/tool"
  chmod +x "$work/tool"
  run "$work/tool" x y
  check "shebang script runs" has "$out" "$(printf 'shebang ran\tx\ty')"
  check "shebang exits 0" [ "$rc" = 0 ]
  ;;
error_redacted)
  export COLLATE_API_KEY=sk_live_SECRET123
  printf 'local function inner()\n  error("boom " .. os.getenv("COLLATE_API_KEY"))\nend\ninner()\n' >"$work/boom.lua"
  run "$bin/collate-run" "$work/boom.lua"
  check "script error exits 1" [ "$rc" = 1 ]
  check "message on stderr" has "$err" "boom [REDACTED]"
  check "traceback on stderr" has "$err" "stack traceback:"
  check "traceback names the function" has "$err" "inner"
  check "key absent from stderr" lacks "$err" "sk_live_SECRET123"
  run "$bin/collate-run" -e 'error(setmetatable({}, {__tostring = function() return "custom " .. os.getenv("COLLATE_API_KEY") end}))'
  check "__tostring error objects are used" has "$err" "custom [REDACTED]"
  check "key absent (table error)" lacks "$err" "SECRET123"
  run "$bin/collate-run" -e 'warn("@on"); warn("w ", os.getenv("COLLATE_API_KEY"))'
  check "warnings are redacted" has "$err" "Lua warning: w [REDACTED]"
  unset COLLATE_API_KEY
  ;;
interrupt)
  "$bin/collate-run" -e 'while true do pcall(function() while true do end end) end' >"$work/out" 2>"$work/err" &
  p=$!; pids+=("$p")
  sleep 0.5
  kill -INT "$p"
  wait_exit "$p"
  check "Ctrl-C exits 130 even through pcall" [ "$rc" = 130 ]
  check "says interrupted" has "$(cat "$work/err")" "collate-run: interrupted"
  ;;
sandbox_front)
  tree=$(stub_tree)
  start_sandbox "$tree" --api-key k_one --api-key k_two --log-level quiet
  check "port file written" [ -n "$port" ]
  check "listening line on stdout" has "$(cat "$work/sb.out")" "collate-sandbox listening on http://127.0.0.1:$port"
  run curl -s -D "$work/h" "$url/health"
  check "health via the app" [ "$out" = '{"status":"ok"}' ]
  check "app headers sent" grep -qi '^X-Request-Id: req_stub' "$work/h"
  check "one Content-Type" [ "$(grep -ci '^Content-Type:' "$work/h")" = 1 ]
  run curl -s -X POST "$url/echo?a=1&b=%20x" -H 'X-Dup: 1' -H 'X-DUP: 2' -H 'Content-Type: application/json' -d '{"a":1}'
  check "method" has "$out" '"method":"POST"'
  check "path without query" has "$out" '"path":"/echo"'
  check "raw query" has "$out" '"query":"a=1&b=%20x"'
  check "body" has "$out" '"body_size":7,"body_len":7,"too_large":false'
  check "lower-case header names, repeats joined" has "$out" '"x-dup":"1, 2"'
  check "keys from --api-key" has "$out" '"keys":"k_one,k_two"'
  run curl -s "$url/echo"
  check "no query is empty" has "$out" '"query":""'
  run curl -s -i "$url/text"
  check "status and app Content-Type kept" bash -c 'grep -q "^HTTP/1.1 201" <<<"$0" && grep -qi "^Content-Type: text/plain; charset=utf-8" <<<"$0" && grep -qi "^X-Num: 7" <<<"$0"' "$out"
  run curl -s -i "$url/error"
  check "app error is a 500" has "$out" "HTTP/1.1 500"
  check "500 envelope" has "$out" '{"error":{"code":"internal_error","message":"'
  check "500 envelope tail" bash -c 'grep -q "\"retryable\":true,\"details\":{},\"issues\":\[\]},\"requestId\":\"req_[0-9a-f]*\"}" <<<"$0"' "$out"
  check "500 message escaped" has "$out" 'kaboom \"quoted\"'
  run curl -s -o /dev/null -w '%{http_code}' "$url/not-a-table"
  check "bad app answer is a 500" [ "$out" = 500 ]
  run curl -s "$url/reset"
  check "reset: no response (curl 52)" [ "$rc" = 52 ]
  run curl -s -D "$work/h" "$url/truncate"
  check "truncate: transfer cut (curl 18)" [ "$rc" = 18 ]
  check "truncate: 10 bytes delivered" [ "$out" = xxxxxxxxxx ]
  check "truncate: full Content-Length announced" grep -qi '^Content-Length: 100' "$work/h"
  start=$(date +%s%N)
  curl -s "$url/delay?ms=1500" >"$work/delayed" &
  dp=$!
  sleep 0.2
  run curl -s -m 1 "$url/health"
  check "a delay does not block other connections" [ "$out" = '{"status":"ok"}' ]
  wait "$dp"
  elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
  check "delay answered by the second call" [ "$(cat "$work/delayed")" = late ]
  check "delay waited (${elapsed} ms)" [ "$elapsed" -ge 1400 ]
  run bash -c "head -c 34000000 /dev/zero | curl -s -X PUT --data-binary @- '$url/echo'"
  check "body over 32 MiB flagged, size counted, none of it kept" has "$out" '"body_size":34000000,"body_len":0,"too_large":true'
  run bash -c "head -c 34000000 /dev/zero | curl -s -X PUT -H 'Transfer-Encoding: chunked' --data-binary @- '$url/echo'"
  check "chunked body over 32 MiB: kept up to the limit + 1, size counted" has "$out" '"body_size":34000000,"body_len":33554433,"too_large":true'
  run curl -s -w '%{num_connects} ' -o /dev/null "$url/health" -o /dev/null "$url/echo"
  check "keep-alive: two requests, one connection ($out)" [ "$out" = "1 0 " ]
  kill -TERM "$spid"
  wait_exit "$spid"
  check "SIGTERM stops it with exit 0" [ "$rc" = 0 ]
  start_sandbox "$tree" --log-level info
  curl -s "$url/health" >/dev/null
  kill -INT "$spid"
  wait_exit "$spid"
  check "SIGINT (from a script's background job) stops it with exit 0" [ "$rc" = 0 ]
  run "$tree/collate-sandbox" --port nope
  check "bad --port exits 2" [ "$rc" = 2 ]
  run "$tree/collate-sandbox" --version
  check "--version" has "$out" "collate-sandbox "
  ;;
sandbox_port_file)
  # the build tree's own app; skipped (77) until it exists
  [ -f "$COLLATE_SOURCE_DIR/sandbox/lua/collate_sandbox/app.lua" ] || { echo "no sandbox app yet"; exit 77; }
  start_sandbox "$bin" --log-level quiet
  check "port file holds a port" bash -c '[[ "$0" =~ ^[0-9]+$ ]] && [ "$0" -gt 0 ]' "$port"
  check "listening line" has "$(cat "$work/sb.out")" "collate-sandbox listening on http://127.0.0.1:$port"
  run curl -s -o /dev/null -w '%{http_code}' "$url/health"
  check "it answers /health" [ "$out" = 200 ]
  kill -TERM "$spid"
  wait_exit "$spid"
  check "SIGTERM stops it with exit 0" [ "$rc" = 0 ]
  ;;
run_sandbox)
  # run_sandbox [stub]: collate-run --sandbox gives the script a reachable sandbox
  dir=$bin
  if [ "${3:-}" = stub ]; then
    dir=$(stub_tree)
  elif [ ! -f "$COLLATE_SOURCE_DIR/sandbox/lua/collate_sandbox/app.lua" ]; then
    echo "no sandbox app yet"; exit 77
  fi
  export COLLATE_API_KEY=sk_live_OUTSIDE
  cat >"$work/s.lua" <<'LUA'
assert(os.getenv("COLLATE_API_KEY") == "sk_test_local", "key")
assert(os.getenv("COLLATE_SANDBOX_CLOCK_SPEED") == "50", "speed")
local url = assert(os.getenv("COLLATE_BASE_URL"))
assert(url:match("^http://127%.0%.0%.1:%d+$"), url)
local f = io.popen("curl -s -o /dev/null -w '%{http_code}' " .. url .. "/health")
local code = f:read("a")
f:close()
print("health " .. code)
error("key " .. os.getenv("COLLATE_API_KEY"))
LUA
  run "$dir/collate-run" --sandbox --sandbox-clock-speed 50 "$work/s.lua"
  check "script reached the sandbox" has "$out" "health 200"
  check "sandbox line on stderr" bash -c 'grep -q "^collate-run: sandbox at http://127.0.0.1:[0-9]* (clock x50)$" <<<"$0"' "$err"
  check "error exits 1" [ "$rc" = 1 ]
  check "sandbox key redacted" has "$err" "key [REDACTED]"
  check "no key on stderr" lacks "$err" "sk_test_local"
  run "$dir/collate-run" --sandbox -e 'print(os.getenv("COLLATE_SANDBOX_CLOCK_SPEED"))'
  check "default clock speed 200" [ "$out" = 200 ]
  ;;
*)
  echo "unknown case $case_name"; exit 2 ;;
esac

if [ "$fails" -gt 0 ]; then
  echo "$fails check(s) failed"
  echo "--- last stderr:"; cat "$work/err" 2>/dev/null
  exit 1
fi
