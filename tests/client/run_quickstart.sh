#!/usr/bin/env bash
# Runs the quickstart against the embedded sandbox and checks it reached the payer's approval.
set -euo pipefail
run=$1
out=$("$run" --sandbox scripts/examples/quickstart.lua 2>&1) || { echo "$out"; echo "quickstart failed"; exit 1; }
echo "$out"
grep -q "^outcome     approved$" <<<"$out" || { echo "quickstart did not end approved"; exit 1; }
grep -q "completed approved" <<<"$out" || { echo "no completed/approved authorization seen"; exit 1; }
