-- Test fixture: a throwaway PostgreSQL 15 cluster. initdb into a temporary directory, a Unix
-- socket there (no TCP listener), a port number the OS picked as free, trust authentication for
-- the one local user. PostgreSQL refuses to run as root, so when the tests run as root (CI)
-- the cluster runs as `nobody` in a directory handed to it.
--   local pg = require("support.postgres").start()   -- nil, why when PostgreSQL is not installed
--   pg.url  -- "postgresql://collate@/collate?host=/tmp/...&port=N" (a libpq conninfo URL)
--   pg:stop()
local fs = require "support.fs"

local M = {}
local Cluster = {}
Cluster.__index = Cluster

local BIN = os.getenv("COLLATE_PG_BIN") or "/usr/lib/postgresql/15/bin"

local q = fs.quote

local function free_port()
  local socket = require "socket"
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

local function is_root()
  local p = io.popen("id -u")
  local id = p:read("l")
  p:close()
  return id == "0"
end

function M.available()
  return fs.sh("test -x " .. q(BIN .. "/initdb") .. " && test -x " .. q(BIN .. "/pg_ctl"))
end

function M.start()
  if not M.available() then return nil, "PostgreSQL 15 is not installed (" .. BIN .. ")" end
  local dir = fs.temp_dir()
  local as = ""
  if is_root() then
    assert(fs.sh("chown nobody " .. q(dir)), "cannot hand " .. dir .. " to nobody")
    as = "runuser -u nobody -- "
  end
  local data = dir .. "/data"
  local port = free_port()
  local init = as .. q(BIN .. "/initdb") .. " -D " .. q(data) .. " -A trust -U collate -E UTF8 >" ..
    q(dir .. "/initdb.log") .. " 2>&1"
  if not fs.sh(init) then
    local log = fs.read_file(dir .. "/initdb.log") or ""
    os.execute("rm -rf " .. q(dir))
    error("initdb failed: " .. log)
  end
  local opts = "-k " .. dir .. " -c listen_addresses='' -p " .. port .. " -c fsync=on -c max_connections=50"
  local start = as .. q(BIN .. "/pg_ctl") .. " -D " .. q(data) .. " -o " .. q(opts) .. " -l " .. q(dir
    .. "/server.log") ..
    " -w -t 30 start >/dev/null 2>&1"
  if not fs.sh(start) then
    local log = fs.read_file(dir .. "/server.log") or ""
    os.execute("rm -rf " .. q(dir))
    error("PostgreSQL did not start: " .. log)
  end
  local self = setmetatable({ dir = dir, data = data, port = port, as = as }, Cluster)
  assert(fs.sh(q(BIN .. "/createdb") .. " -h " .. q(dir) .. " -p " .. port .. " -U collate collate"), "createdb failed")
  self.url = string.format("postgresql://collate@/collate?host=%s&port=%d", dir, port)
  return self
end

-- a fresh database of the cluster (each suite or test its own)
function Cluster:database(name)
  fs.sh(q(BIN .. "/dropdb") .. " --if-exists -h " .. q(self.dir) .. " -p " .. self.port .. " -U collate " .. name ..
    " 2>/dev/null")
  assert(fs.sh(q(BIN .. "/createdb") .. " -h " .. q(self.dir) .. " -p " .. self.port .. " -U collate " .. name),
    "createdb " .. name .. " failed")
  return string.format("postgresql://collate@/%s?host=%s&port=%d", name, self.dir, self.port)
end

function Cluster:stop()
  if not self.dir then return end
  os.execute(self.as .. q(BIN .. "/pg_ctl") .. " -D " .. q(self.data) .. " -m immediate -w -t 30 stop >/dev/null 2>&1")
  os.execute("rm -rf " .. q(self.dir))
  self.dir = nil
end

return M
