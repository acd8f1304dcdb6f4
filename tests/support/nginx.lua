-- Starts Debian's nginx on an ephemeral loopback port, with a configuration the caller renders,
-- everything in the caller's temp directory. Used by the TLS and OpenResty fixtures.
--   local server = require("support.nginx").start{
--     dir = dir, render = function(port) return nginx_conf_text end, env = "NAME='v' ..." }
--   server.port, server.url, server:error_log(), server:stop_nginx(), server:stop() (also removes dir)
local socket = require "socket"
local fs = require "support.fs"

local M = {}
local Server = {}
Server.__index = Server

local q = fs.quote

local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

local function running_as_root()
  local p = io.popen("id -u")
  local uid = p:read("*l")
  p:close()
  return uid == "0"
end

function M.start(o)
  local dir = o.dir
  local self = setmetatable({ dir = dir }, Server)
  local nginx = os.getenv("COLLATE_NGINX_BIN") or "nginx"
  -- Run as root (CI does), nginx's workers would drop to "nobody", who may not be able to read
  -- a checkout under a private directory; keep the test's workers as the caller.
  local as_user = running_as_root() and (" -g " .. q("user root;")) or ""
  -- the sanitized pass: nginx is not ours, so the ASan runtime the sanitized collate.core needs
  -- is preloaded, and nginx's own allocations are not leak-checked
  local preload = os.getenv("COLLATE_ASAN_PRELOAD")
  local env = (o.env or "") .. (preload and preload ~= ""
    and (" LD_PRELOAD=" .. q(preload) .. " ASAN_OPTIONS=detect_leaks=0") or "")
  local ok, err = pcall(function()
    for _ = 1, 10 do
      local port = free_port()
      fs.write_file(dir .. "/nginx.conf", o.render(port))
      os.remove(dir .. "/error.log")
      local p = io.popen("sh -c " .. q(env .. " exec " .. q(nginx) .. as_user .. " -e "
        .. q(dir .. "/error.log") .. " -c " .. q(dir .. "/nginx.conf") .. " -p " .. q(dir)
        .. " >" .. q(dir .. "/nginx.out") .. " 2>&1 & echo $!"))
      local pid = p:read("*l")
      p:close()
      self.pid = pid
      for _ = 1, 100 do
        if not fs.alive(pid) then break end
        local c = socket.connect("127.0.0.1", port)
        if c then
          c:close()
          self.port = port
          self.url = "http://127.0.0.1:" .. port
          return
        end
        socket.sleep(0.05)
      end
      self:stop_nginx()
      local log = (fs.read_file(dir .. "/error.log") or "") .. (fs.read_file(dir .. "/nginx.out") or "")
      if not log:find("Address already in use", 1, true) then error("nginx did not start: " .. log) end
    end
    error("nginx: no free port after 10 tries")
  end)
  if not ok then
    self:stop()
    error(err, 0)
  end
  return self
end

function Server:error_log()
  return fs.read_file(self.dir .. "/error.log") or ""
end

function Server:stop_nginx()
  if not self.pid then return end
  os.execute("kill -QUIT " .. self.pid .. " 2>/dev/null")
  for _ = 1, 100 do
    if not fs.alive(self.pid) then break end
    socket.sleep(0.05)
  end
  if fs.alive(self.pid) then os.execute("kill -9 " .. self.pid .. " 2>/dev/null") end
  self.pid = nil
end

function Server:stop()
  self:stop_nginx()
  if self.dir then
    os.execute("rm -rf " .. q(self.dir))
    self.dir = nil
  end
end

return M
