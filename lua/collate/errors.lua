-- collate.Error: the one error type every failure of the client is raised as.
local M = {}

local Error = {}
Error.__index = Error
Error.__name = "collate.Error"

M.Error = Error

-- The kinds of failure, as in conventions §2.
M.kinds = {
  api = true,              -- the server answered with a non-2xx status
  connection = true,       -- connect refused, DNS, reset, truncated body
  timeout = true,          -- an attempt or the overall deadline ran out
  tls = true,              -- certificate verification or handshake failed
  invalid_argument = true, -- the caller's parameters, raised before any I/O
  decode = true,           -- a 2xx whose body is not the JSON it should be
  io = true,               -- a local file (upload source, download target) could not be used
  canceled = true,         -- the scheduler task making the call was canceled
}

-- Text from a server, made safe for one line: control characters escaped.
local function one_line(text)
  return (tostring(text):gsub("%c", function(c)
    if c == "\n" then return "\\n" elseif c == "\r" then return "\\r" elseif c == "\t" then return "\\t" end
    return string.format("\\x%02x", c:byte())
  end))
end

-- ["body","answers","item",2,"linkId"] -> body.answers.item[2].linkId (the server's indexes)
local function location_text(location)
  if type(location) ~= "table" then return nil end
  local out = {}
  for _, part in ipairs(location) do
    if type(part) == "number" then
      out[#out + 1] = string.format("[%d]", part)
    else
      out[#out + 1] = (#out > 0 and "." or "") .. tostring(part)
    end
  end
  if #out == 0 then return nil end
  return table.concat(out)
end

local MAX_ISSUES_SHOWN = 5

-- "body.request.payerId: Field required; query.limit: Must be ..." from an envelope's issues.
local function issues_text(issues)
  if type(issues) ~= "table" or #issues == 0 then return nil end
  local parts = {}
  for i = 1, math.min(#issues, MAX_ISSUES_SHOWN) do
    local issue = issues[i]
    if type(issue) == "table" then
      local where = location_text(issue.location)
      local what = issue.message or issue.error_type or "invalid"
      parts[#parts + 1] = where and (where .. ": " .. tostring(what)) or tostring(what)
    end
  end
  if #issues > MAX_ISSUES_SHOWN then
    parts[#parts + 1] = "and " .. (#issues - MAX_ISSUES_SHOWN) .. " more in err.issues"
  end
  return table.concat(parts, "; ")
end

function Error.__tostring(e)
  local head
  if e.kind == "api" then
    head = string.format("collate: %s %s", tostring(e.status_code), e.code or "error")
  elseif e.kind == "invalid_argument" then
    head = "collate: invalid argument"
  else
    head = "collate: " .. tostring(e.kind) .. " error"
  end
  local message = e.message ~= nil and tostring(e.message) or ""
  local listed = issues_text(e.issues)
  if listed then
    -- the envelope's message is usually the first issue's own: say it once
    local first = type(e.issues[1]) == "table" and e.issues[1].message
    if message == "" or message == first then
      message = listed
    else
      message = message .. " (" .. listed .. ")"
    end
  end
  local text = head .. ": " .. one_line(message)
  local where = {}
  if e.request_id then where[#where + 1] = "request " .. one_line(e.request_id) end
  if e.attempts and e.attempts > 1 then where[#where + 1] = "after " .. e.attempts .. " attempts" end
  if #where > 0 then text = text .. " (" .. table.concat(where, ", ") .. ")" end
  return text
end

-- Builds an Error from a plain table of fields (see docs/errors.md for the field list).
function M.new(fields)
  assert(M.kinds[fields.kind], "unknown error kind")
  return setmetatable(fields, Error)
end

function M.invalid_argument(message)
  return M.new({ kind = "invalid_argument", message = message, retryable = false })
end

function M.is_error(value, code)
  if getmetatable(value) ~= Error then return false end
  if code == nil then return true end
  return value.code == code or value.kind == code
end

return M
