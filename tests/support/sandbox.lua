-- Test fixture: starts collate-sandbox ($COLLATE_SANDBOX_BIN) on an ephemeral loopback port.
--   local sb = require("support.sandbox").start{args = {"--clock-mode", "step"}, env = {NAME = value}}
--   ($COLLATE_SANDBOX_REALISM=1 adds --realism unless default_mode = true)
--   sb.url, sb.port, sb.key
--   sb:request(method, path, body, headers)  -- bearer key added unless headers.Authorization == false;
--                                            -- tables are JSON-encoded (Content-Type added)
--   sb:control(method, path, body)           -- /_sandbox/* without the key
--   sb:reset(body)                           -- POST /_sandbox/reset
--   sb:stop()
-- Responses are those of support.http: {status, headers, body, json}; a reset or truncated
-- connection gives nil, message. Tables are encoded with cjson, which writes an empty table as {}:
-- pass a JSON string (with a Content-Type header) when a body needs an empty list.
local fs = require "support.fs"
local cjson = require "cjson.safe"
local http = require "support.http"

local sandbox = {}
local Sandbox = {}
Sandbox.__index = Sandbox

local q, sleep, read_file, alive = fs.quote, fs.sleep, fs.read_file, fs.alive

function sandbox.start(o)
  o = o or {}
  local bin = o.bin or os.getenv("COLLATE_SANDBOX_BIN") or "build/bin/collate-sandbox"
  local tmp = os.tmpname()
  local port_file, log_file = tmp .. ".port", tmp .. ".log"
  os.remove(tmp)
  -- COLLATE_TEST_API_KEY: a key of the run's choosing (the redaction test's canary)
  local key = o.key or os.getenv("COLLATE_TEST_API_KEY") or "sk_test_local"
  local cmd = { q(bin), "--port", "0", "--port-file", q(port_file) }
  if o.env then -- extra environment of the sandbox process: {NAME = value}
    local env = { "env" }
    for k, v in pairs(o.env) do env[#env + 1] = q(k .. "=" .. v) end
    cmd = { table.concat(env, " ") .. " " .. cmd[1], table.unpack(cmd, 2) }
  end
  if key ~= "sk_test_local" then
    cmd[#cmd + 1] = "--api-key"
    cmd[#cmd + 1] = q(key)
  end
  for _, a in ipairs(o.args or {}) do cmd[#cmd + 1] = q(a) end
  -- COLLATE_SANDBOX_REALISM=1: the *_realism CTest entries run a suite against --realism
  if os.getenv("COLLATE_SANDBOX_REALISM") == "1" and not o.default_mode then cmd[#cmd + 1] = "--realism" end
  local p = io.popen("sh -c " .. q("exec " .. table.concat(cmd, " ") .. " >" .. q(log_file) .. " 2>&1 & echo $!"))
  local pid = p:read("*l")
  p:close()
  assert(pid and pid:find("^%d+$"), "could not start " .. bin)
  local port
  for _ = 1, 200 do
    local s = read_file(port_file)
    port = s and tonumber(s:match("^%s*(%d+)%s*$"))
    if port and port > 0 then break end
    if not alive(pid) then break end
    sleep(0.05)
  end
  if not port then
    os.execute("kill " .. pid .. " 2>/dev/null")
    error("collate-sandbox did not start: " .. (read_file(log_file) or "(no output)"))
  end
  local self = setmetatable({
    pid = pid, port = port, url = "http://127.0.0.1:" .. port, key = key,
    port_file = port_file, log_file = log_file,
  }, Sandbox)
  return self
end

local function encode(body, headers)
  if type(body) == "table" then
    local has_ct = false
    for k in pairs(headers) do if k:lower() == "content-type" then has_ct = true end end
    if not has_ct then headers["Content-Type"] = "application/json" end
    return assert(cjson.encode(body))
  end
  return body
end

function Sandbox:request(method, path, body, headers)
  local h = {}
  for k, v in pairs(headers or {}) do h[k] = v end
  if h.Authorization == nil then
    h.Authorization = "Bearer " .. self.key
  end
  body = encode(body, h)
  return http.request{ method = method, url = self.url .. path, headers = h, body = body }
end

function Sandbox:control(method, path, body)
  local h = {}
  body = encode(body, h)
  return http.request{ method = method, url = self.url .. path, headers = h, body = body }
end

function Sandbox:reset(body)
  return self:control("POST", "/_sandbox/reset", body or {})
end

-- the server's stderr so far
function Sandbox:log()
  return read_file(self.log_file) or ""
end

function Sandbox:stop()
  if not self.pid then return end
  os.execute("kill " .. self.pid .. " 2>/dev/null")
  for _ = 1, 100 do
    if not alive(self.pid) then break end
    sleep(0.05)
  end
  if alive(self.pid) then os.execute("kill -9 " .. self.pid .. " 2>/dev/null") end
  self.pid = nil
  os.remove(self.port_file)
  os.remove(self.log_file)
end

return sandbox
