-- Where collate-lua's CPU per retrieve goes: each stage of one call timed alone, N times, on
-- the same authorization (os.clock: user + sys of this process).
-- usage: collate-run bench/breakdown.lua AUTH_ID N   (COLLATE_API_KEY, COLLATE_BASE_URL)
-- prints lines "stage|cpu_us_per_call"
local collate = require "collate"
local core = require "collate.core"
local cjson = require "cjson"

local id, n = arg[1], tonumber(arg[2] or "2000")
local base, key = os.getenv("COLLATE_BASE_URL"), os.getenv("COLLATE_API_KEY")

local function measure(label, fn)
  for _ = 1, math.min(n, 50) do fn() end
  collectgarbage()
  local c0 = os.clock()
  for _ = 1, n do fn() end
  local c1 = os.clock()
  io.stdout:write(string.format("%s|%.1f\n", label, (c1 - c0) / n * 1e6))
end

local client = collate.new{}
local h = core.http()
local req = assert(core.build_request("authorizations.retrieve", { authorization_id = id }))
local headers = { Authorization = "Bearer " .. key }
for k, v in pairs(req.headers) do headers[k] = v end
local transfer = { method = "GET", url = base .. req.path, headers = headers, timeout = 60,
                   connect_timeout = 10, user_agent = "collate-lua-bench" }
local status, resp_headers, body = h:perform(transfer)
assert(status == 200, "retrieve failed")

measure("full call: client.authorizations.retrieve{}", function()
  client.authorizations.retrieve{ authorization_id = id }
end)
measure("transport only: core.http():perform() (no decode)", function() h:perform(transfer) end)
measure("core.parse_response (one-pass decode to snake_case)", function()
  core.parse_response(status, resp_headers, body)
end)
-- the two passes parse_response made before json_decode.c, for comparison
measure("  for comparison: cjson.decode alone", function() cjson.decode(body) end)
local wire = cjson.decode(body)
measure("  for comparison: core.from_wire of that", function() core.from_wire(wire) end)
measure("core.build_request", function() core.build_request("authorizations.retrieve", { authorization_id = id }) end)
collectgarbage("stop")
local c0 = os.clock()
for _ = 1, n do core.parse_response(status, resp_headers, body) end
local no_gc = (os.clock() - c0) / n * 1e6
collectgarbage("restart")
collectgarbage()
io.stdout:write(string.format("%s|%.1f\n", "  core.parse_response with the GC stopped", no_gc))
h:close()
client.close()
