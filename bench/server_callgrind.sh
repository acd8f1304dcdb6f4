#!/usr/bin/env bash
# Instructions the sandbox executes per API request, counted by callgrind (repeatable on a busy
# machine, unlike CPU time): collate-sandbox under valgrind --tool=callgrind, one realistic
# authorization (bench/make_auth.lua), warm-up, then counters zeroed and dumped around ROUNDS
# rounds of bench/server_cpu.py's create / PATCH answers / retrieve mix, then around GETS cached
# GETs of the authorization, each over one keep-alive connection.
#   bench/server_callgrind.sh [ROUNDS] [GETS]      BUILD_DIR (default build); keeps the
#   callgrind files in $CALLGRIND_DIR when set (callgrind_annotate reads them)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-100}
gets=${2:-300}
build_dir=${BUILD_DIR:-build}
tmp=$(mktemp -d)
out=${CALLGRIND_DIR:-$tmp}
vpid=
cleanup() {
  if [ -n "$vpid" ]; then kill "$vpid" 2>/dev/null || true; wait "$vpid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.%p" --compress-strings=no \
  --compress-pos=no "$build_dir/bin/collate-sandbox" --port 0 --port-file "$tmp/port" \
  --clock-mode step --log-level quiet >"$tmp/log" 2>&1 &
vpid=$!
for _ in $(seq 600); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "server_callgrind: the sandbox did not start" >&2; cat "$tmp/log" >&2; exit 1; }
base=http://127.0.0.1:$(cat "$tmp/port")
key=sk_test_local
export COLLATE_API_KEY=$key COLLATE_BASE_URL=$base COLLATE_LOG=
id=$("$build_dir/bin/collate-run" bench/make_auth.lua scripts/examples/clinical-note.pdf | cut -d' ' -f1)
curl -fsS -X POST "$base/_sandbox/clock/step" >/dev/null
python=${PYTHON:-/usr/bin/python3}
gets_loop() {
  "$python" - "$base" "$key" "$id" "$1" <<'PY'
import http.client, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
for _ in range(int(sys.argv[4])):
    c.request("GET", "/v1/prior-authorizations/" + sys.argv[3], headers={"Authorization": "Bearer " + sys.argv[2]})
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
PY
}
"$python" bench/server_cpu.py "$base" "$key" "$vpid" 0 20 >/dev/null
gets_loop 20
callgrind_control -z "$vpid" >/dev/null
"$python" bench/server_cpu.py "$base" "$key" "$vpid" "$rounds" 0 >/dev/null
callgrind_control -d mix "$vpid" >/dev/null
gets_loop "$gets"
callgrind_control -d get "$vpid" >/dev/null
ir() { awk '/^(summary|totals):/ { print $2; exit }' "$out/callgrind.$vpid.$1"; }
awk -v m="$(ir 1)" -v g="$(ir 2)" -v r="$rounds" -v n="$gets" 'BEGIN {
  printf "instructions per request, create/patch/retrieve mix: %.0f (%d requests)\n", m / (3 * r), 3 * r
  printf "instructions per cached GET: %.0f (%d requests)\n", g / n, n }'
