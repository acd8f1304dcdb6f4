-- Helper of connections_spec.lua: opens N keep-alive connections to the sandbox on PORT, sends
-- one GET /health on each and reads its answer, then writes "ready N SECONDS" to READY_FILE and
-- holds them all open, idle, until its stdin closes or it is killed. Run under a shell that raised
-- `ulimit -n` (each connection is a descriptor here too).
--   lua5.4 hold_connections.lua PORT N READY_FILE
local socket = require "socket"

local port, n, ready_file = tonumber(arg[1]), tonumber(arg[2]), arg[3]

local function report(text)
  local f = assert(io.open(ready_file .. ".tmp", "w"))
  f:write(text, "\n")
  f:close()
  os.rename(ready_file .. ".tmp", ready_file)
end

local t0 = socket.gettime()
local conns = {}
local function open_all()
  for i = 1, n do
    local c = assert(socket.tcp())
    c:settimeout(30)
    local ok, err = c:connect("127.0.0.1", port)
    if not ok then error("connection " .. i .. ": " .. tostring(err)) end
    assert(c:send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
    local line = c:receive("*l")
    if not line or not line:find("^HTTP/1%.1 200") then error("connection " .. i .. ": " .. tostring(line)) end
    repeat line = assert(c:receive("*l")) until line == ""
    assert(c:receive(#'{"status":"ok"}'))
    conns[i] = c
  end
end
local ok, err = pcall(open_all)
if not ok then
  report("failed after " .. #conns .. " connections: " .. tostring(err))
  os.exit(1)
end
report(string.format("ready %d %.3f", #conns, socket.gettime() - t0))
io.read("a")
for _, c in ipairs(conns) do c:close() end
