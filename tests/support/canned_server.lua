-- A loopback HTTP server that answers every request with one canned response, for hosts the
-- sandbox does not emulate (a storage host whose upload URL expired). Runs in its own process:
--   local srv = require("support.canned_server").start{status = 403, body = "<Error>...",
--                                                      content_type = "application/xml"}
--   srv.url, srv:requests() (how many it answered), srv:stop()
-- The child is `lua5.4` with LuaSocket (a test-host tool, not part of the client).
local fs = require "support.fs"

local M = {}
local Server = {}
Server.__index = Server

-- The child: listen on an ephemeral port, write it to port_file, answer forever.
local CHILD = [==[
local socket = require "socket"
local port_file, count_file, status, ctype, body_file = arg[1], arg[2], tonumber(arg[3]), arg[4], arg[5]
local f = assert(io.open(body_file, "rb")); local body = f:read("*a"); f:close()
local server = assert(socket.bind("127.0.0.1", 0))
local _, port = server:getsockname()
f = assert(io.open(port_file .. ".tmp", "w")); f:write(port); f:close()
os.rename(port_file .. ".tmp", port_file)
local answered = 0
while true do
  local c = server:accept()
  if c then
    c:settimeout(5)
    local length = 0
    while true do
      local line = c:receive("*l")
      if not line or line == "" then break end
      local n = line:lower():match("^content%-length:%s*(%d+)")
      if n then length = tonumber(n) end
    end
    if length > 0 then c:receive(length) end
    c:send("HTTP/1.1 " .. status .. " Canned\r\nContent-Type: " .. ctype .. "\r\nContent-Length: " ..
      #body .. "\r\nConnection: close\r\n\r\n" .. body)
    c:close()
    answered = answered + 1
    f = io.open(count_file, "w"); f:write(answered); f:close()
  end
end
]==]

function M.start(o)
  local tmp = os.tmpname()
  local script, port_file, count_file, body_file = tmp .. ".lua", tmp .. ".port", tmp .. ".count", tmp .. ".body"
  os.remove(tmp)
  fs.write_file(script, CHILD)
  fs.write_file(body_file, o.body or "")
  local q = fs.quote
  local cmd = table.concat({ "lua5.4", q(script), q(port_file), q(count_file), q(o.status or 200),
    q(o.content_type or "text/plain"), q(body_file) }, " ")
  local p = io.popen("sh -c " .. q("exec " .. cmd .. " >/dev/null 2>&1 & echo $!"))
  local pid = p:read("*l")
  p:close()
  local port
  for _ = 1, 200 do
    port = tonumber(fs.read_file(port_file) or "")
    if port then break end
    fs.sleep(0.05)
  end
  assert(port, "canned server did not start")
  return setmetatable({ pid = pid, port = port, url = "http://127.0.0.1:" .. port,
    files = { script, port_file, count_file, body_file }, count_file = count_file }, Server)
end

function Server:requests()
  return tonumber(fs.read_file(self.count_file) or "") or 0
end

function Server:stop()
  if self.pid then os.execute("kill " .. self.pid .. " 2>/dev/null") end
  self.pid = nil
  for _, f in ipairs(self.files) do os.remove(f) end
end

return M
