-- Test fixture: Debian's nginx with the Lua module, configured from tests/openresty/nginx.conf.in
-- (the README's snippet) on an ephemeral loopback port, everything in one temp directory.
--   local ng = require("openresty.nginx_lua").start{base_url = sb.url, api_key = sb.key, ca_file = ?}
--   ng.port, ng.url, ng:error_log(), ng:stop()
local socket = require "socket"

local M = {}
local Server = {}
Server.__index = Server

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function alive(pid)
  if pid == nil then return false end
  local r = os.execute("kill -0 " .. pid .. " 2>/dev/null")
  return r == true or r == 0
end

local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

local function source_dir()
  return os.getenv("COLLATE_SOURCE_DIR") or "."
end

function M.render(values)
  local template = assert(read_file(source_dir() .. "/tests/openresty/nginx.conf.in"))
  return (template:gsub("@([%u_]+)@", function(name)
    return assert(values[name], "no value for @" .. name .. "@")
  end))
end

local function running_as_root()
  local p = io.popen("id -u")
  local uid = p:read("*l")
  p:close()
  return uid == "0"
end

-- o: {base_url, api_key, ca_file?, lua_dir?, lua_cdir?, extra = nginx text added to the server
-- block (test-only locations; the README's configuration stays as it is)}
function M.start(o)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -m 755 " .. q(dir)))
  local self = setmetatable({ dir = dir }, Server)
  local nginx = os.getenv("COLLATE_NGINX_BIN") or "nginx"
  local ok, err = pcall(function()
    for _ = 1, 10 do
      local port = free_port()
      local conf = M.render{
        DIR = dir, PORT = tostring(port),
        LUA_DIR = o.lua_dir or (source_dir() .. "/lua"),
        LUA_CDIR = o.lua_cdir or assert(os.getenv("COLLATE_LUAJIT_CDIR"), "COLLATE_LUAJIT_CDIR not set"),
        CA_FILE = o.ca_file or "/etc/ssl/certs/ca-certificates.crt",
      }
      if o.extra then
        local n
        conf, n = conf:gsub("\n  }\n}\n$", function() return "\n" .. o.extra .. "\n  }\n}\n" end)
        assert(n == 1, "cannot find the end of the server block")
      end
      write_file(dir .. "/nginx.conf", conf)
      os.remove(dir .. "/error.log")
      local env = "COLLATE_API_KEY=" .. q(o.api_key) .. " COLLATE_BASE_URL=" .. q(o.base_url)
      -- Run as root (CI does), nginx's workers would drop to "nobody", who may not be able to
      -- read a checkout under a private directory; keep the test's workers as the caller.
      local as_user = running_as_root() and (" -g " .. q("user root;")) or ""
      local p = io.popen("sh -c " .. q(env .. " exec " .. q(nginx) .. as_user .. " -e " .. q(dir .. "/error.log")
        .. " -c " .. q(dir .. "/nginx.conf") .. " -p " .. q(dir) .. " >" .. q(dir .. "/nginx.out")
        .. " 2>&1 & echo $!"))
      local pid = p:read("*l")
      p:close()
      self.pid = pid
      for _ = 1, 100 do
        if not alive(pid) then break end
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
      local log = (read_file(dir .. "/error.log") or "") .. (read_file(dir .. "/nginx.out") or "")
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
  return read_file(self.dir .. "/error.log") or ""
end

function Server:stop_nginx()
  if not self.pid then return end
  os.execute("kill -QUIT " .. self.pid .. " 2>/dev/null")
  for _ = 1, 100 do
    if not alive(self.pid) then break end
    socket.sleep(0.05)
  end
  if alive(self.pid) then os.execute("kill -9 " .. self.pid .. " 2>/dev/null") end
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
