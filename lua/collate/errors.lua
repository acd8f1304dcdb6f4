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

function Error.__tostring(e)
  local head
  if e.kind == "api" then
    head = string.format("collate: %s %s", tostring(e.status_code), e.code or "error")
  elseif e.kind == "invalid_argument" then
    head = "collate: invalid argument"
  else
    head = "collate: " .. tostring(e.kind) .. " error"
  end
  local text = head .. ": " .. tostring(e.message or "")
  local where = {}
  if e.request_id then where[#where + 1] = "request " .. e.request_id end
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
