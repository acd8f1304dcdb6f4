std = "max"
max_line_length = 120
exclude_files = { "build/**", "build-*/**" }
files["tests/**"] = { std = "+busted" }
-- The client (lua/collate/: what require "collate" and its helpers load) runs on Lua 5.1, 5.2,
-- 5.3, 5.4 and LuaJIT: only the globals and library fields every one of them has ("min", the
-- intersection), so nothing newer (or older) slips in. The emulator's Lua (sandbox/lua) runs
-- inside the Lua 5.4 executables only, and so does the ops layer (lua/collate/ops: collate-run's
-- scripts).
files["lua/collate/**"] = { std = "min" }
files["lua/collate/ops/**"] = { std = "max" }
-- Generated LuaLS annotations (scripts/gen-reference) and their source: type expressions are
-- long and a LuaLS ---@field cannot be wrapped.
files["lua/collate/types/**"] = { std = "min", max_line_length = false }
files["scripts/reference/types.lua"] = { max_line_length = false }
