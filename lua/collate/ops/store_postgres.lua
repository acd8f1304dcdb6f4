-- The shared backend: postgresql://... (any libpq conninfo, the URL form or key=value). Many
-- workers on one or many machines share it; work is leased with FOR UPDATE SKIP LOCKED.
local dbi_ok, DBI = pcall(require, "DBI")
local db = require "collate.ops.db"

local M = {}

-- what may be shown of a conninfo: no password
function M.describe(conninfo)
  return (conninfo:gsub("(://[^:/@]*):[^@]*@", "%1:***@"):gsub("password=%S+", "password=***"))
end

function M.connect(conninfo)
  if not dbi_ok then
    error("store: postgresql needs LuaDBI (Debian: apt-get install lua-dbi-postgresql)", 0)
  end
  -- LuaDBI hands the database name to PQsetdbLogin, which takes a whole conninfo (URL or
  -- key=value pairs) in its place.
  local ok, conn, err = pcall(DBI.Connect, "PostgreSQL", conninfo)
  if not ok or not conn then
    error("store: cannot connect to " .. M.describe(conninfo) .. ": " .. tostring(ok and err or conn), 0)
  end
  local d = db.wrap(conn, "postgres", "BEGIN", M.describe(conninfo))
  d:exec("SET client_min_messages = warning")
  return d
end

M.SERIAL = "BIGSERIAL PRIMARY KEY"
M.SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"

return M
