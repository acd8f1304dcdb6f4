-- One writer process of sandbox_concurrency (concurrency_spec.lua), using collate.core's libcurl
-- handle for speed: lua5.4 concurrency_worker.lua BASE_URL KEY WORKER N OUT_FILE ID...
-- First it confirms every CONFIRM:<id> at the version given (they race), then N rounds of: GET one
-- of the PATCH ids, PATCH it with If-Match of what it read. Writes "op id status version" lines.
local core = require "collate.core"
local cjson = require "cjson"

local base, key, worker, n, out_path = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4]), arg[5]
local patch_ids, confirms = {}, {}
for i = 6, #arg do
  local cid, v = arg[i]:match("^CONFIRM:(.+):(%d+)$")
  if cid then confirms[#confirms + 1] = { cid, v } else patch_ids[#patch_ids + 1] = arg[i] end
end

local h = core.http()
local out = assert(io.open(out_path, "w"))
local function call(method, path, body, extra)
  local headers = { Authorization = "Bearer " .. key }
  if body then headers["Content-Type"] = "application/json" end
  for k, v in pairs(extra or {}) do headers[k] = v end
  local status, _, resp = h:perform{ method = method, url = base .. path, headers = headers, body = body, timeout = 30 }
  if not status then return 0, nil end
  local ok, j = pcall(cjson.decode, resp)
  return status, ok and j or nil
end

for _, c in ipairs(confirms) do
  local status, j = call("POST", "/v1/prior-authorizations/" .. c[1] .. "/confirm", nil,
    { ["If-Match"] = '"' .. c[2] .. '"' })
  out:write(string.format("confirm %s %d %s\n", c[1], status,
    status == 200 and tostring(math.tointeger(j.version)) or (j and j.error and j.error.code or "-")))
end
for i = 1, n do
  local id = patch_ids[(i + worker) % #patch_ids + 1]
  local status, j = call("GET", "/v1/prior-authorizations/" .. id)
  out:write(string.format("get %s %d -\n", id, status))
  if status == 200 then
    local body = cjson.encode({ answers = { item = { { linkId = "patient.firstName",
      answer = { { valueString = "W" .. worker .. "-" .. i } } } } } })
    status, j = call("PATCH", "/v1/prior-authorizations/" .. id .. "/answers", body,
      { ["If-Match"] = '"' .. math.tointeger(j.version) .. '"' })
    out:write(string.format("patch %s %d %s\n", id, status,
      status == 200 and tostring(math.tointeger(j.version)) or (j and j.error and j.error.code or "-")))
  end
end
out:close()
h:close()
