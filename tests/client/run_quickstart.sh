#!/usr/bin/env bash
# Runs the quickstart against the embedded sandbox with debug logging, and checks that it
# reached the payer's approval, that every attempt was logged, and that the key never shows.
set -euo pipefail
run=$1
# COLLATE_SANDBOX_REALISM=1: against the sandbox's realism mode (docs/sandbox.md)
mode=--sandbox
[ "${COLLATE_SANDBOX_REALISM:-}" = 1 ] && mode=--sandbox-realism
out=$(COLLATE_LOG=debug "$run" "$mode" scripts/examples/quickstart.lua 2>&1) || {
  echo "$out"; echo "quickstart failed"; exit 1; }
echo "$out"
fail() { echo "FAIL: $*"; exit 1; }
grep -q "^outcome     approved$" <<<"$out" || fail "quickstart did not end approved"
grep -q "completed approved" <<<"$out" || fail "no completed/approved authorization seen"
# attempt 1, or a later one after realism's occasional 503
grep -q "^collate: POST /v1/prior-authorizations -> 201 (attempt [0-9]" <<<"$out" || fail "create not logged"
grep -q "^collate: PUT <upload url> -> 200" <<<"$out" || fail "upload not logged as a placeholder"
if grep -q "sk_test_local" <<<"$out"; then fail "the API key appeared in the output"; fi
if grep -q "_uploads/" <<<"$out"; then fail "an upload URL (a capability) appeared in the output"; fi
echo "quickstart ok"
