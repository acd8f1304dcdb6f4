#!/usr/bin/env bash
# collate-run's REPL on a real terminal (a pseudo-terminal from script(1)): `-i --sandbox` starts
# with a client made against the embedded sandbox; a call's answer is read back; a bare
# collate-run on a terminal starts the REPL too. Usage: repl_pty.sh BIN_DIR
set -uo pipefail
unset LUA_INIT LUA_INIT_5_4
bin=$1
command -v script >/dev/null || { echo "skip: script(1) not found"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# feed LINES... one at a time (the REPL reads as a terminal does), then end of input (^D)
drive() { # out_file command lines...
  local out=$1 cmd=$2
  shift 2
  { sleep 1.5; for l in "$@"; do printf '%s\n' "$l"; sleep 0.7; done; printf '\004'; sleep 0.5; } |
    timeout 60 script -q -e -c "$cmd" /dev/null >"$out" 2>&1
}

drive "$work/a" "$bin/collate-run -i --sandbox" \
  'p = client.payers.retrieve{ payer_id = "payer_aetna" }' \
  'print("answer:", p.id, p.display_name)' \
  'client.health{}.status' \
  'client.payers.retrieve{ payer_id = "nope" }'
rc=$?
tr -d '\r' <"$work/a" >"$work/a.txt"
cat "$work/a.txt"
[ "$rc" = 0 ] && ok "exit 0 at end of input" || fail "exit status $rc"
grep -q "^client = collate.new{} against the embedded sandbox at http://127.0.0.1:" "$work/a.txt" &&
  ok "client made against the sandbox" || fail "no client line"
grep -q "^answer:	payer_aetna	Aetna$" "$work/a.txt" && ok "a call's answer printed" || fail "no answer"
grep -q "^ok$" "$work/a.txt" && ok "an expression's value printed (health)" || fail "no expression value"
grep -q "payer_not_found" "$work/a.txt" && ok "an error reported, the session goes on" || fail "no error"
grep -q "sk_test_local" "$work/a.txt" && fail "the key appeared on the terminal" || ok "the key never shown"

drive "$work/b" "$bin/collate-run" 'print(6 * 7)'
tr -d '\r' <"$work/b" >"$work/b.txt"
grep -q "^Lua 5.4" "$work/b.txt" && grep -q "^42$" "$work/b.txt" &&
  ok "bare collate-run on a terminal: banner and REPL" || { cat "$work/b.txt"; fail "bare REPL"; }

echo "$fails failed"
[ "$fails" = 0 ]
