-- 10,000 concurrent idle keep-alive connections (docs/sandbox.md: an event loop, the descriptor
-- limit raised at start): a helper process (hold_connections.lua, under a raised `ulimit -n`)
-- opens them and keeps them open; meanwhile a fresh client's GET /health is answered in under
-- 1 s and /_sandbox/connections counts them (open, accepted).
local socket = require "socket"
local cjson = require "cjson"
local fs = require "support.fs"
local sandbox = require "support.sandbox"

local N = 10000
local q = fs.quote

local function health_seconds(sb)
  local t0 = socket.gettime()
  local c = assert(socket.tcp())
  c:settimeout(10)
  assert(c:connect("127.0.0.1", sb.port))
  assert(c:send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
  local answer = c:receive("*a")
  c:close()
  assert.truthy(answer and answer:find("^HTTP/1%.1 200"), tostring(answer))
  return socket.gettime() - t0
end

local function counts(sb)
  local r = assert(sb:control("GET", "/_sandbox/connections"))
  assert.equals(200, r.status)
  return cjson.decode(r.body)
end

describe("sandbox connections", function()
  local sb, holder, ready, limit_hard

  setup(function()
    local p = io.popen("sh -c 'ulimit -Hn'")
    limit_hard = p:read("l")
    p:close()
    sb = sandbox.start{ args = { "--log-level", "quiet" } }
    ready = os.tmpname()
    os.remove(ready)
  end)

  teardown(function()
    if holder then holder:close() end -- closes its stdin: it closes its sockets and exits
    if sb then sb:stop() end
    os.remove(ready)
  end)

  it("holds 10,000 idle keep-alive connections and still answers /health in under 1 s", function()
    local room = limit_hard == "unlimited" and math.huge or tonumber(limit_hard)
    assert.is_true(room >= N + 64, "this test needs `ulimit -Hn` >= " .. (N + 64) .. " (it is " .. limit_hard .. ")")
    assert.is_true(health_seconds(sb) < 1)
    assert.equals(200, sb:control("DELETE", "/_sandbox/connections").status)
    local helper = (os.getenv("COLLATE_SOURCE_DIR") or ".") .. "/tests/sandbox/hold_connections.lua"
    holder = io.popen("sh -c " .. q("ulimit -n " .. (N + 64) .. " && exec lua5.4 " .. q(helper) .. " "
      .. sb.port .. " " .. N .. " " .. q(ready)), "w")
    local line
    for _ = 1, 1200 do -- at most 120 s
      line = fs.read_file(ready)
      if line then break end
      fs.sleep(0.1)
    end
    assert.truthy(line, "the helper did not open its connections in 120 s")
    assert.falsy(line:find("^failed"), line)
    local held, took = line:match("^ready (%d+) ([%d.]+)")
    print(string.format("  %s connections opened (a request each) in %.1f s", held, tonumber(took)))
    assert.equals(N, tonumber(held))

    local worst = 0
    for _ = 1, 5 do worst = math.max(worst, health_seconds(sb)) end
    local c = counts(sb)
    local f = assert(io.open("/proc/" .. sb.pid .. "/status"))
    local rss = tonumber(f:read("a"):match("VmRSS:%s*(%d+) kB"))
    f:close()
    print(string.format("  with %d open: /health in %.1f ms (worst of 5); sandbox RSS %.0f MB", c.open,
      worst * 1000, rss / 1024))
    assert.is_true(worst < 1, "GET /health took " .. worst .. " s")
    assert.is_true(c.open >= N, "open: " .. c.open)
    assert.is_true(c.accepted >= N + 5, "accepted: " .. c.accepted)
  end)
end)
