-- Test fixtures for the network hardening suite: a canned HTTP server in its own process
-- (tests/support/canned_http.lua), an in-process trap listener, and a client run in a child
-- process (its own environment, its own peak RSS).
--   local srv = canned.start("redirect", "http://127.0.0.2:9/") -- srv.url, srv:requests(), srv:stop()
--   local trap = canned.trap()   -- trap.url; trap:received() -> connections, bytes; trap:close()
--   local out = canned.run_client(script, {env = "NAME=value ..."}) -- the child's stdout
local socket = require "socket"
local fs = require "support.fs"

local M = {}
local q = fs.quote

local Server = {}
Server.__index = Server

-- The interpreter of the client child: the suite's own (luajit in the LuaJIT mirror).
local function lua_bin()
  return os.getenv("COLLATE_TEST_LUA") or "lua5.4"
end

function M.start(mode, ...)
  local tmp = os.tmpname()
  local self = setmetatable({ port_file = tmp .. ".port", log_file = tmp .. ".log", tmp = tmp }, Server)
  -- the server always runs on lua5.4 (LuaSocket); only the client follows COLLATE_TEST_LUA
  local args = { q("lua5.4"), q("tests/support/canned_http.lua"), q(self.port_file), q(self.log_file), q(mode) }
  for _, a in ipairs({ ... }) do args[#args + 1] = q(a) end
  local p = io.popen("sh -c " .. q("exec " .. table.concat(args, " ") .. " >" .. q(tmp .. ".out") .. " 2>&1 & echo $!"))
  self.pid = p:read("*l")
  p:close()
  for _ = 1, 200 do
    local s = fs.read_file(self.port_file)
    self.port = s and tonumber(s:match("%d+"))
    if self.port then break end
    if not fs.alive(self.pid) then break end
    socket.sleep(0.02)
  end
  if not self.port then
    local out = fs.read_file(tmp .. ".out") or ""
    self:stop()
    error("canned server did not start: " .. out)
  end
  self.url = "http://127.0.0.1:" .. self.port
  return self
end

-- The request lines that arrived, in order.
function Server:requests()
  local lines = {}
  for line in (fs.read_file(self.log_file) or ""):gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

function Server:stop()
  if self.pid then os.execute("kill " .. self.pid .. " 2>/dev/null") end
  self.pid = nil
  for _, suffix in ipairs({ "", ".port", ".log", ".out" }) do os.remove(self.tmp .. suffix) end
end

local Trap = {}
Trap.__index = Trap

-- A listener on 127.0.0.2 that never answers: the kernel completes a client's handshake on its
-- own, so whatever a client sends waits in the socket for :received() to count.
function M.trap()
  local server = assert(socket.bind("127.0.0.2", 0))
  server:settimeout(0)
  local _, port = server:getsockname()
  return setmetatable({ server = server, port = tonumber(port), url = "http://127.0.0.2:" .. port }, Trap)
end

-- How many connections reached the trap and how many bytes they sent.
function Trap:received()
  local connections, bytes = 0, 0
  while true do
    local c = self.server:accept()
    if not c then break end
    connections = connections + 1
    c:settimeout(0.2)
    local data, _, partial = c:receive("*a")
    bytes = bytes + #(data or partial or "")
    c:close()
  end
  return connections, bytes
end

function Trap:close()
  self.server:close()
end

-- Runs `script` (Lua source) in a child interpreter with the test environment plus o.env (shell
-- assignments); returns its stdout and stderr together.
function M.run_client(script, o)
  o = o or {}
  local file = os.tmpname()
  fs.write_file(file, script)
  -- the sanitized pass: a child interpreter that is not ours (luajit) gets the ASan runtime the
  -- sanitized collate.core needs preloaded (docs/testing.md)
  local preload = os.getenv("COLLATE_ASAN_PRELOAD")
  local env = o.env or ""
  if preload and preload ~= "" and lua_bin() ~= os.getenv("LUA54") then
    env = env .. " LD_PRELOAD=" .. q(preload) .. " ASAN_OPTIONS=detect_leaks=0"
  end
  local p = io.popen("env " .. env .. " " .. q(lua_bin()) .. " " .. q(file) .. " 2>&1")
  local out = p:read("*a")
  p:close()
  os.remove(file)
  return out
end

-- An HTTPS proxy: nginx's stream module terminating TLS (with the TLS fixture's certificate for
-- 127.0.0.1 / localhost) in front of a canned CONNECT proxy. nil, reason when the stream module
-- is not installed (libnginx-mod-stream).
--   local p = canned.https_proxy(tls) -- p.url ("https://localhost:PORT"), p.connect:requests(), p:stop()
local STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
function M.https_proxy(tls)
  if not io.open(STREAM_MODULE, "rb") then return nil, STREAM_MODULE .. " missing" end
  local nginx = require "support.nginx"
  local connect = M.start("connect")
  local dir = fs.temp_dir()
  local ok, server = pcall(nginx.start, { dir = dir, render = function(port)
    return table.concat({
      "load_module " .. STREAM_MODULE .. ";",
      "daemon off;", "master_process on;", "worker_processes 1;",
      "pid " .. dir .. "/nginx.pid;", "error_log " .. dir .. "/error.log info;",
      "events { worker_connections 64; }",
      "stream {",
      "  server {",
      "    listen 127.0.0.1:" .. port .. " ssl;",
      "    ssl_certificate " .. tls.dir .. "/server.pem;",
      "    ssl_certificate_key " .. tls.dir .. "/server.key;",
      "    proxy_pass 127.0.0.1:" .. connect.port .. ";",
      "  }",
      "}", "" }, "\n")
  end })
  if not ok then
    connect:stop()
    os.execute("rm -rf " .. q(dir))
    error(server, 0)
  end
  return {
    url = "https://localhost:" .. server.port, connect = connect,
    stop = function() server:stop() connect:stop() end,
  }
end

return M
