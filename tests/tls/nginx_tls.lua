-- Test fixture: a throwaway CA, a server certificate for 127.0.0.1 / localhost, and Debian's
-- nginx serving TLS on an ephemeral loopback port, proxying to an upstream (the sandbox) with
-- gzip on and unbuffered (chunked) responses. Everything lives in one temp directory.
--   local tls = require("tls.nginx_tls").start{upstream = "http://127.0.0.1:PORT"}
--   tls.port, tls.ca_file, tls.dir, tls:error_log(), tls:stop()
local fs = require "support.fs"
local nginx = require "support.nginx"

local M = {}

local q, sh, read_file, write_file = fs.quote, fs.sh, fs.read_file, fs.write_file

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
  local dir = fs.temp_dir()
  local ok, err = pcall(make_certificates, dir)
  if not ok then
    os.execute("rm -rf " .. q(dir))
    error(err, 0)
  end
  local server = nginx.start{ dir = dir, render = function(port) return nginx_conf(dir, port, o.upstream) end }
  server.ca_file = dir .. "/ca.pem"
  return server
end

return M
