-- Responses and the §1.9 error envelope. Handlers raise API errors with http.fail / http.bad_request;
-- the app turns them into envelopes carrying the request id.
local json = require "collate_sandbox.json"

local http = {}

local ApiError = {}
ApiError.__index = ApiError

http.JSON_TYPE = "application/json; charset=utf-8"

function http.retryable(status)
  return status == 408 or status == 429 or status >= 500
end

function http.new_error(status, code, message, details, issues, headers)
  return setmetatable({
    status = status, code = code, message = message or code,
    details = details, issues = issues, headers = headers,
  }, ApiError)
end

function http.is_error(e)
  return getmetatable(e) == ApiError
end

function http.fail(status, code, message, details, issues, headers)
  error(http.new_error(status, code, message, details, issues, headers), 0)
end

-- issue = {errorType, location (array), message}
function http.issue(error_type, location, message)
  local loc = json.array({})
  for i, v in ipairs(location) do loc[i] = v end
  return { errorType = error_type, location = loc, message = message }
end

-- issues.details, when a validator set it, becomes the error's details
function http.bad_request(issues, message)
  if issues and issues.errorType then issues = { issues } end
  http.fail(400, "bad_request", message or (issues and issues[1] and issues[1].message) or "Bad request.",
    issues and issues.details, issues)
end

function http.json(status, body, headers)
  local h = { ["Content-Type"] = http.JSON_TYPE }
  for k, v in pairs(headers or {}) do h[k] = v end
  return { status = status, headers = h, body = json.encode(body) }
end

function http.error_body(err, request_id)
  local issues = json.array({})
  for i, v in ipairs(err.issues or {}) do issues[i] = v end
  local details = err.details
  if details == nil then details = json.object({}) end
  return {
    error = {
      code = err.code,
      message = err.message,
      retryable = http.retryable(err.status),
      details = details,
      issues = issues,
    },
    requestId = request_id,
  }
end

function http.error_response(err, request_id)
  local resp = http.json(err.status, http.error_body(err, request_id), err.headers)
  resp.headers["X-Request-Id"] = request_id
  return resp
end

-- percent-decoding and query strings
function http.unescape(s)
  s = s:gsub("%+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

function http.parse_query(q)
  local out, order = {}, {}
  if not q or q == "" then return out, order end
  for pair in q:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k = http.unescape(k)
    v = http.unescape(v)
    if out[k] == nil then order[#order + 1] = k end
    out[k] = v
  end
  return out, order
end

-- Glob on paths: `*` within one segment, `**` across segments.
function http.glob_to_pattern(glob)
  local out = { "^" }
  local i = 1
  while i <= #glob do
    local c = glob:sub(i, i)
    if c == "*" then
      if glob:sub(i + 1, i + 1) == "*" then
        out[#out + 1] = ".*"
        i = i + 2
      else
        out[#out + 1] = "[^/]*"
        i = i + 1
      end
    else
      if c:find("[%^%$%(%)%%%.%[%]%+%-%?]") then c = "%" .. c end
      out[#out + 1] = c
      i = i + 1
    end
  end
  out[#out + 1] = "$"
  return table.concat(out)
end

function http.glob_match(glob, path)
  return path:find(http.glob_to_pattern(glob)) ~= nil
end

http.BODY_LIMIT = 1048576

-- json.decode of the request body, decoded once per request (idempotency's fingerprint and the
-- body parser both need it)
function http.decode_body(req)
  if req.decoded == nil then
    local v, err = json.decode(req.body or "")
    req.decoded = { v, err }
  end
  return req.decoded[1], req.decoded[2]
end

-- JSON request body -> object (an empty body is {}), or a 400 at ["body"].
function http.parse_body(req)
  local body = req.body or ""
  if req.body_too_large or #body > http.BODY_LIMIT then
    http.bad_request(http.issue("too_long", { "body" }, "The body is larger than 1 MiB."))
  end
  if body:find("^%s*$") then return json.object({}), false end
  if not json.valid_utf8(body) then
    http.bad_request(http.issue("invalid_json", { "body" }, "The body is not valid UTF-8."))
  end
  local v, err = http.decode_body(req)
  if v == nil then
    http.bad_request(http.issue("invalid_json", { "body" }, "The body is not valid JSON: " .. err .. "."))
  end
  if json.typeof(v) ~= "object" then
    http.bad_request(http.issue("invalid_type", { "body" }, "The body must be a JSON object."))
  end
  return v, true
end

return http
