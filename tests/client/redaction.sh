#!/usr/bin/env bash
# Runs the client suites with debug logging and a canary API key, then searches everything they
# wrote (stdout, stderr, error strings, tracebacks) for the key. Also a script error through
# collate-run. Usage: redaction.sh BUSTED LUA COLLATE_RUN
set -uo pipefail
busted=$1 lua=$2 run=$3
canary="sk_test_canary_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
out=$(mktemp)
trap 'rm -f "$out" "$out.json"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

COLLATE_LOG=debug COLLATE_TEST_API_KEY=$canary "$busted" --lua="$lua" -o utfTerminal \
  tests/client/slice_spec.lua tests/client/resilience_spec.lua tests/client/methods_spec.lua \
  tests/client/redaction_spec.lua tests/client/hardening_net_spec.lua \
  tests/client/hardening_input_spec.lua >"$out" 2>&1
rc=$?
tail -5 "$out"
[ $rc -eq 0 ] || { cat "$out"; fail "the suites failed under debug logging"; }

# the same suites with JSON logs: every log line parses as one JSON object
COLLATE_LOG=debug COLLATE_LOG_FORMAT=json COLLATE_TEST_API_KEY=$canary "$busted" --lua="$lua" -o utfTerminal \
  tests/client/slice_spec.lua tests/client/resilience_spec.lua tests/client/methods_spec.lua \
  tests/client/redaction_spec.lua tests/client/log_hooks_spec.lua >"$out.json" 2>&1
rc=$?
tail -3 "$out.json"
[ $rc -eq 0 ] || { cat "$out.json"; fail "the suites failed with JSON logs"; }
json_lines=$(grep -c '^{"time":' "$out.json")
JSON_LOG=$out.json "$lua" -e 'local cjson = require "cjson"
  local n = 0
  for line in io.lines(os.getenv("JSON_LOG")) do
    if line:sub(1, 8) == "{\"time\":" then
      local t = cjson.decode(line)
      assert(t.method and t.path and t.attempt and t.duration_ms, line)
      n = n + 1
    end
  end
  print("json log: " .. n .. " lines, each one JSON object")' || fail "a JSON log line does not parse"
[ "$json_lines" -gt 100 ] || fail "JSON logging did not run ($json_lines lines)"
cat "$out.json" >>"$out"
rm -f "$out.json"

# a script that dies on an API error, and one whose own error message contains the key
COLLATE_LOG=debug COLLATE_API_KEY=$canary COLLATE_BASE_URL=http://127.0.0.1:1 "$run" \
  -e 'require("collate").new{ max_retries = 1 }.payers.list{}' >>"$out" 2>&1 && fail "the call should fail"
COLLATE_API_KEY=$canary "$run" -e 'error("key is " .. os.getenv("COLLATE_API_KEY"))' >>"$out" 2>&1 \
  && fail "the script should fail"

attempts=$(grep -c '^collate: [A-Z]* .* -> ' "$out")
headers=$(grep -c '^collate: > .*Authorization: \[REDACTED\]' "$out")
echo "debug log: $attempts attempt lines, $headers header lines with Authorization redacted"
[ "$attempts" -gt 100 ] || fail "debug logging did not run ($attempts attempt lines)"
[ "$headers" -gt 100 ] || fail "no redacted Authorization headers logged ($headers)"
grep -q 'stack traceback' "$out" || fail "no traceback was produced"
if grep -q "$canary" "$out"; then
  grep -n "$canary" "$out" | head -5
  fail "the API key appeared in the output"
fi
echo "redaction ok: the key appears nowhere in $(wc -l <"$out") lines of output"
