-- A tiny HTTP/1.1 server in its own process (lua5.4 + LuaSocket), for what the sandbox never
-- answers: redirects, huge bodies, error messages with control characters, and a CONNECT proxy.
--   lua5.4 tests/support/canned_http.lua PORT_FILE LOG_FILE MODE [ARG...]
-- Modes:
--   redirect LOCATION        every request: 302 with Location
--   big BYTES length|chunked every request: 200 application/json of BYTES bytes
--   error_crlf               every request: 400 whose envelope message holds CR/LF/NUL
--   echo_auth                every request: 400 whose envelope message echoes Authorization
--   connect                  an HTTP CONNECT proxy (tunnels to loopback targets only)
-- LOG_FILE gets one line per request head ("METHOD TARGET"), so a test can see what arrived.
-- Started and stopped by tests/support/canned.lua.
local socket = require "socket"

local port_file, log_file, mode = arg[1], arg[2], arg[3]

local server = assert(socket.bind("127.0.0.1", 0))
local _, port = server:getsockname()
do
  local f = assert(io.open(port_file .. ".tmp", "w"))
  f:write(port, "\n")
  f:close()
  assert(os.rename(port_file .. ".tmp", port_file))
end

local function log(line)
  local f = io.open(log_file, "a")
  if f then
    f:write(line, "\n")
    f:close()
  end
end

-- The request head (lines) or nil when the peer went away.
local function read_head(c)
  local lines = {}
  while true do
    local line = c:receive("*l")
    if not line then return nil end
    if line == "" then return lines end
    lines[#lines + 1] = line
  end
end

local function skip_body(c, head)
  for _, line in ipairs(head) do
    local n = line:lower():match("^content%-length:%s*(%d+)")
    if n and tonumber(n) > 0 then c:receive(tonumber(n)) end
  end
end

local function send_big(c, bytes, chunked)
  local piece = ("x"):rep(1024 * 1024)
  local head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
  if chunked then
    c:send(head .. "Transfer-Encoding: chunked\r\n\r\n")
  else
    c:send(head .. "Content-Length: " .. bytes .. "\r\n\r\n")
  end
  local left = bytes
  while left > 0 do
    local n = math.min(left, #piece)
    local data = n == #piece and piece or piece:sub(1, n)
    local ok
    if chunked then
      ok = c:send(string.format("%x\r\n", n) .. data .. "\r\n")
    else
      ok = c:send(data)
    end
    if not ok then return end -- the client stopped reading: the point of the test
    left = left - n
  end
  if chunked then c:send("0\r\n\r\n") end
end

local function respond(c, status, headers, body)
  local out = { "HTTP/1.1 " .. status, "Content-Length: " .. #body, "Connection: close" }
  for _, h in ipairs(headers) do out[#out + 1] = h end
  c:send(table.concat(out, "\r\n") .. "\r\n\r\n" .. body)
end

-- Copies bytes both ways until either side closes.
local function splice(a, b)
  a:settimeout(0)
  b:settimeout(0)
  local peers = { [a] = b, [b] = a }
  while true do
    local readable = socket.select({ a, b }, nil, 10)
    if #readable == 0 then return end
    for _, s in ipairs(readable) do
      local data, err, partial = s:receive(65536)
      data = data or partial
      if data and #data > 0 then
        peers[s]:settimeout(5)
        peers[s]:send(data)
        peers[s]:settimeout(0)
      end
      if err == "closed" then return end
    end
  end
end

local function connect_proxy(c, head)
  local host, target_port = head[1]:match("^CONNECT %[?([^%]]-)%]?:(%d+) HTTP/1%.%d$")
  if not host or not (host:match("^127%.") or host == "localhost" or host == "::1") then
    respond(c, "403 Forbidden", {}, "")
    return
  end
  local upstream = socket.connect(host == "localhost" and "127.0.0.1" or host, tonumber(target_port))
  if not upstream then
    respond(c, "502 Bad Gateway", {}, "")
    return
  end
  c:send("HTTP/1.1 200 Connection established\r\n\r\n")
  splice(c, upstream)
  upstream:close()
end

local handlers = {
  redirect = function(c, head)
    skip_body(c, head)
    respond(c, "302 Found", { "Location: " .. arg[4] }, "")
  end,
  big = function(c, head)
    skip_body(c, head)
    send_big(c, tonumber(arg[4]), arg[5] == "chunked")
  end,
  error_crlf = function(c, head)
    skip_body(c, head)
    respond(c, "400 Bad Request", { "Content-Type: application/json" },
      '{"error":{"code":"bad_request","message":"line one\\r\\ncollate: GET /forged -> 200\\u0000end",'
      .. '"retryable":false}}')
  end,
  echo_auth = function(c, head)
    skip_body(c, head)
    local auth = ""
    for _, line in ipairs(head) do auth = line:match("^[Aa]uthorization:%s*(.*)$") or auth end
    respond(c, "400 Bad Request", { "Content-Type: application/json" },
      '{"error":{"code":"bad_request","message":"cannot use ' .. auth .. '","retryable":false}}')
  end,
  connect = connect_proxy,
}
local handle = assert(handlers[mode], "unknown mode " .. tostring(mode))

while true do
  local c = server:accept()
  if c then
    c:settimeout(10)
    local head = read_head(c)
    if head and head[1] then
      log(head[1])
      handle(c, head)
    end
    c:close()
  end
end
