-- Run from an install tree (collate-run, lua5.4 or luajit with that tree's paths): proves the
-- modules come from INSTALL_PREFIX, then does one real create against the sandbox.
local prefix = assert(os.getenv("INSTALL_PREFIX"), "INSTALL_PREFIX not set")
-- package.searchpath is 5.2+ (and LuaJIT); the same search for Lua 5.1
local function searchpath(name, path)
  if package.searchpath then return package.searchpath(name, path) end
  local stem = name:gsub("%.", "/")
  for template in path:gmatch("[^;]+") do
    local file = template:gsub("%?", stem)
    local f = io.open(file, "r")
    if f then f:close() return file end
  end
end
local function from_prefix(name, path)
  local file = searchpath(name, path)
  assert(file, name .. " not found")
  assert(file:sub(1, #prefix) == prefix, name .. " loaded from " .. file .. ", not from " .. prefix)
  return file
end
from_prefix("collate", package.path)
local core_file = from_prefix("collate.core", package.cpath)
-- the emulator's Lua is installed apart from the SDK, on no Lua path of the client
assert(not searchpath("collate_sandbox.app", package.path), "collate_sandbox.app is on the client's path")
assert(not searchpath("collate.sandbox.app", package.path), "collate.sandbox.app is still installed")

local collate = require "collate"
local client = collate.new{} -- COLLATE_API_KEY, COLLATE_BASE_URL
local auth = client.authorizations.create{
  provider_npi = "1234567893",
  request = { payer_id = "payer_aetna", coverage_state = "CA", request_type = "drug",
              service_code = { system = "hcpcs", code = "J0791" } },
  policy = { final_submission = "requires_approval" },
}
assert(auth.status == "requires_action", auth.status)
print(string.format("install ok: %s, %s, core %s, created %s v%s", _VERSION,
  rawget(_G, "jit") and jit.version or "no jit", core_file, auth.id, tostring(auth.version)))
