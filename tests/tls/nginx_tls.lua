-- Test fixture: a throwaway CA, a server certificate for 127.0.0.1 / localhost, and Debian's
-- nginx serving TLS on an ephemeral loopback port, proxying to an upstream (the sandbox) with
-- gzip on and unbuffered (chunked) responses. Everything lives in one temp directory.
--   local tls = require("tls.nginx_tls").start{upstream = "http://127.0.0.1:PORT"}
--   tls.port, tls.ca_file, tls.dir, tls:error_log(), tls:stop()
local socket = require "socket"

local M = {}
local Server = {}
Server.__index = Server

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
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
  return r == true or r == 0 -- 5.1/LuaJIT: the exit status
end

local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

-- CA and server certificate (EC P-256: fast to make), SAN IP:127.0.0.1 and DNS:localhost.
local function make_certificates(dir)
  write_file(dir .. "/server.ext", table.concat({
    "basicConstraints = critical, CA:FALSE",
    "keyUsage = critical, digitalSignature, keyEncipherment",
    "extendedKeyUsage = serverAuth",
    "subjectAltName = IP:127.0.0.1, DNS:localhost",
  }, "\n") .. "\n")
  local d = q(dir)
  local cmds = {
    "openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
      .. " -subj '/CN=collate-lua throwaway test CA' -keyout " .. d .. "/ca.key -out " .. d .. "/ca.pem"
      .. " -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign'",
    "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=localhost'"
      .. " -keyout " .. d .. "/server.key -out " .. d .. "/server.csr",
    "openssl x509 -req -in " .. d .. "/server.csr -CA " .. d .. "/ca.pem -CAkey " .. d .. "/ca.key"
      .. " -CAcreateserial -days 2 -extfile " .. d .. "/server.ext -out " .. d .. "/server.pem",
  }
  for _, c in ipairs(cmds) do
    assert(sh(c .. " >>" .. d .. "/openssl.log 2>&1"), "openssl failed: " .. (read_file(dir .. "/openssl.log") or c))
  end
end

local function nginx_conf(dir, port, upstream)
  return ([[
daemon off;
master_process on;
worker_processes 1;
pid DIR/nginx.pid;
error_log DIR/error.log info;
events { worker_connections 64; }
http {
  access_log DIR/access.log;
  client_body_temp_path DIR/client_body;
  proxy_temp_path DIR/proxy;
  fastcgi_temp_path DIR/fastcgi;
  uwsgi_temp_path DIR/uwsgi;
  scgi_temp_path DIR/scgi;
  client_max_body_size 64m;
  gzip on;
  gzip_types application/json;
  gzip_min_length 0;
  gzip_proxied any;
  server {
    listen 127.0.0.1:PORT ssl;
    server_name localhost 127.0.0.1;
    ssl_certificate DIR/server.pem;
    ssl_certificate_key DIR/server.key;
    location / {
      proxy_pass UPSTREAM;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
]]):gsub("DIR", dir):gsub("PORT", tostring(port)):gsub("UPSTREAM", upstream)
end

-- o.upstream: "http://127.0.0.1:PORT"
function M.start(o)
  local dir = os.tmpname()
  os.remove(dir)
  assert(sh("mkdir -m 755 " .. q(dir)), "cannot create " .. dir)
  local self = setmetatable({ dir = dir, ca_file = dir .. "/ca.pem" }, Server)
  local ok, err = pcall(function()
    make_certificates(dir)
    for _ = 1, 10 do
      local port = free_port()
      write_file(dir .. "/nginx.conf", nginx_conf(dir, port, o.upstream))
      os.remove(dir .. "/error.log")
      local p = io.popen("sh -c " .. q("exec nginx -e " .. q(dir .. "/error.log") .. " -c " .. q(dir .. "/nginx.conf")
        .. " -p " .. q(dir) .. " >" .. q(dir .. "/nginx.out") .. " 2>&1 & echo $!"))
      local pid = p:read("*l")
      p:close()
      self.pid = pid
      for _ = 1, 100 do
        if not alive(pid) then break end
        local c = socket.connect("127.0.0.1", port)
        if c then
          c:close()
          self.port = port
          return
        end
        socket.sleep(0.05)
      end
      self:stop_nginx()
      local log = (read_file(dir .. "/error.log") or "") .. (read_file(dir .. "/nginx.out") or "")
      if not log:find("Address already in use", 1, true) then
        error("nginx did not start: " .. log)
      end
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
