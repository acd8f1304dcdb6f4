-- A raw HTTP client for tests, independent of the project's own client: the curl command line.
-- http.request{method, url, headers = {Name = value}, body = string?, timeout = s?}
--   -> {status, headers (lower-case names), body, json (decoded or nil)}, or nil, message when no
--   response arrived (connection refused, reset, timeout: curl's exit code in the message).
local fs = require "support.fs"
local cjson = require "cjson.safe"

local http = {}

local q, read_file, write_file = fs.quote, fs.read_file, fs.write_file

local function parse_headers(raw)
  -- the last block wins (after 100 Continue and the like)
  local blocks = {}
  for block in (raw:gsub("\r\n", "\n") .. "\n"):gmatch("(HTTP/[^\n]*\n.-)\n\n") do blocks[#blocks + 1] = block end
  local last = blocks[#blocks]
  if not last then return nil end
  local status = tonumber(last:match("^HTTP/%S+ (%d%d%d)"))
  local headers = {}
  for line in last:gmatch("[^\n]+") do
    local name, value = line:match("^([^:%s]+):%s*(.-)%s*$")
    if name then
      name = name:lower()
      headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
    end
  end
  return status, headers
end

function http.request(o)
  local tmp = os.tmpname()
  local hfile, bfile, dfile = tmp .. ".h", tmp .. ".b", tmp .. ".d"
  local args = { "curl", "-s", "-S", "-g", "--http1.1", "-X", q(o.method or "GET"), "-D", q(hfile), "-o", q(bfile),
    "--max-time", q(o.timeout or 30), "-H", q("Expect:") }
  local has_ct = false
  for name, value in pairs(o.headers or {}) do
    if value ~= false then
      if name:lower() == "content-type" then has_ct = true end
      if value == "" then
        args[#args + 1] = "-H " .. q(name .. ";")
      else
        args[#args + 1] = "-H " .. q(name .. ": " .. value)
      end
    end
  end
  if o.body ~= nil then
    write_file(dfile, o.body)
    args[#args + 1] = "--data-binary @" .. q(dfile)
    if not has_ct then args[#args + 1] = "-H " .. q("Content-Type:") end
  end
  args[#args + 1] = q(o.url)
  local cmd = table.concat(args, " ") .. " 2>/dev/null"
  local ok, _, code = os.execute(cmd)
  if type(ok) == "number" then ok, code = ok == 0, ok / 256 end -- 5.1/LuaJIT: the raw status
  local raw_headers = read_file(hfile) or ""
  local body = read_file(bfile) or ""
  os.remove(tmp)
  os.remove(hfile)
  os.remove(bfile)
  os.remove(dfile)
  local status, headers = parse_headers(raw_headers)
  if not ok or not status then
    return nil, "curl failed (exit " .. tostring(code) .. ")", { status = status, headers = headers, body = body }
  end
  local resp = { status = status, headers = headers, body = body }
  if body ~= "" then resp.json = cjson.decode(body) end
  return resp
end

return http
