#!/bin/sh
# usage: core_exports.sh core.so...  Each module must export luaopen_collate_core and nothing
# else, and must not depend on a Lua library (the host provides the Lua API).
set -eu
for so in "$@"; do
  exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort | tr '\n' ' ')
  if [ "$exports" != "luaopen_collate_core " ]; then
    echo "FAIL $so exports: $exports"; exit 1
  fi
  if readelf -d "$so" | grep NEEDED | grep -Eiq 'lua'; then
    echo "FAIL $so links a Lua library:"; readelf -d "$so" | grep NEEDED; exit 1
  fi
  echo "ok $so: exports $exports"
done
