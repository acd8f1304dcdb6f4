#!/usr/bin/env bash
# reference_up_to_date: regenerates the LuaLS annotations and docs/reference.md into a temporary
# directory and fails, with the diff, when the committed files differ (run scripts/gen-reference).
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$src/scripts/gen-reference" "$tmp"
status=0
for f in lua/collate/types/collate.lua docs/reference.md; do
  if ! diff -u "$src/$f" "$tmp/$f"; then
    echo "reference_up_to_date: $f differs from what scripts/gen-reference writes (run it and commit)" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "reference_up_to_date: both generated files match the route table and types.lua"
exit $status
