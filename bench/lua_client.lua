-- collate-lua from Lua 5.4: N retrieves of one authorization through the client (keep-alive on
-- its one easy handle), each response decoded into snake_case tables as every call does.
-- usage: collate-run bench/lua_client.lua AUTH_ID N WARMUP   (COLLATE_API_KEY, COLLATE_BASE_URL)
-- prints: requests wall_seconds cpu_seconds body_bytes   (cpu: os.clock(), user + sys of the process)
local collate = require "collate"
local core = require "collate.core"

local id, n, warmup = arg[1], tonumber(arg[2]), tonumber(arg[3] or "20")
local client = collate.new{}
local retrieve = client.authorizations.retrieve

local auth
for _ = 1, warmup do auth = retrieve{ authorization_id = id } end
assert(auth.id == id and auth.version, "unexpected response")
collectgarbage()
local w0, c0 = core.now(), os.clock()
for _ = 1, n do
  auth = retrieve{ authorization_id = id }
end
local w1, c1 = core.now(), os.clock()
assert(auth.id == id)
io.stdout:write(string.format("%d %.6f %.6f %d\n", n, w1 - w0, c1 - c0, -1))
client.close()
