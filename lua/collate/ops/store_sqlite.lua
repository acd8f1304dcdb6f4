-- The embedded backend: sqlite:PATH. WAL (readers never block the writer), synchronous FULL (a
-- commit is on disk before it returns, so an idempotency key committed before a create survives a
-- power loss), a busy timeout so that several processes on one machine can share a store, and a
-- file only its owner can read (mode 0600): the store holds patients' answers.
local dbi_ok, DBI = pcall(require, "DBI")
local db = require "collate.ops.db"

local M = {}

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- connect(path) -> db
function M.connect(path)
  if not dbi_ok then
    error("store: sqlite needs LuaDBI (Debian: apt-get install lua-dbi-sqlite3)", 0)
  end
  if path == "" then error("store: sqlite:PATH needs a path (for example sqlite:cases.db)", 0) end
  local existing = io.open(path, "rb")
  if existing then
    existing:close()
  else
    -- created by a shell with umask 077, so the file never exists with wider permissions
    local ok = os.execute("umask 077 && : >> " .. quote(path))
    if not (ok == true or ok == 0) then error("store: cannot create " .. path, 0) end
  end
  local ok, conn, err = pcall(DBI.Connect, "SQLite3", path)
  if not ok or not conn then
    error("store: cannot open sqlite:" .. path .. ": " .. tostring(ok and err or conn), 0)
  end
  local d = db.wrap(conn, "sqlite", "BEGIN IMMEDIATE", "sqlite:" .. path)
  d:query("PRAGMA busy_timeout = 30000")
  local mode = d:first("PRAGMA journal_mode = WAL")
  if not mode or (mode.journal_mode or ""):lower() ~= "wal" then
    error("store: sqlite:" .. path .. " cannot use WAL mode", 0)
  end
  d:exec("PRAGMA synchronous = FULL")
  d.path = path
  return d
end

M.SERIAL = "INTEGER PRIMARY KEY AUTOINCREMENT"
M.SKIP_LOCKED = "" -- BEGIN IMMEDIATE already serializes writers

return M
