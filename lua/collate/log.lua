-- COLLATE_LOG=info|debug: one line per attempt on stderr (debug adds its headers and why it
-- failed). COLLATE_LOG_FORMAT=text (default) | json: json writes each attempt as one JSON
-- object per line. Never the key, never bodies, never capability URLs (uploads are logged as
-- "<upload url>"). An unknown level or format makes collate.new fail (M.env_error).
local M = {}

local levels = { off = 0, info = 1, debug = 2 }
local formats = { text = true, json = true }

local function env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then return nil end
  return string.lower(v)
end

M.level = levels[env("COLLATE_LOG") or "off"] or 0
M.format = formats[env("COLLATE_LOG_FORMAT") or "text"] and (env("COLLATE_LOG_FORMAT") or "text") or "text"

-- nil, or a message naming the variable whose value is not one collate knows.
function M.env_error()
  local level, format = env("COLLATE_LOG"), env("COLLATE_LOG_FORMAT")
  if level and not levels[level] then
    return "COLLATE_LOG must be off, info or debug (got '" .. M.escape(os.getenv("COLLATE_LOG")) .. "')"
  end
  if format and not formats[format] then
    return "COLLATE_LOG_FORMAT must be text or json (got '" .. M.escape(os.getenv("COLLATE_LOG_FORMAT")) .. "')"
  end
  return nil
end

-- Control characters (CR, LF, NUL, ESC ...) in anything logged are printed escaped, so a path,
-- header value or server message cannot forge or split log lines.
local NAMED = { ["\r"] = "\\r", ["\n"] = "\\n", ["\t"] = "\\t", ["\0"] = "\\0" }
local function escape(value)
  local text = tostring(value)
  if not text:find("[%c\127]") then return text end
  return (text:gsub("[%c\127]", function(c) return NAMED[c] or string.format("\\x%02x", c:byte()) end))
end
M.escape = escape

function M.set_level(name)
  M.level = levels[name] or error("collate.log: unknown level '" .. tostring(name) .. "'", 2)
end

function M.set_format(name)
  M.format = formats[name] and name or error("collate.log: unknown format '" .. tostring(name) .. "'", 2)
end

-- JSON strings: quotes, backslashes and control characters escaped; bytes above 127 as \u00XX,
-- so every line is valid JSON whatever a server sent in a request id.
local function json_string(value)
  return '"' .. tostring(value):gsub('[%c"\\\127-\255]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function utc_now()
  local t = os.time()
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

-- One attempt as a JSON object (fields in a fixed order; absent ones left out).
local function json_line(request, status, attempt, seconds, request_id, failure, code)
  local parts = { '{"time":' .. json_string(utc_now()), '"method":' .. json_string(request.method),
                  '"path":' .. json_string(request.log_path or "?") }
  if status then parts[#parts + 1] = '"status":' .. string.format("%d", status) end
  parts[#parts + 1] = '"attempt":' .. string.format("%d", attempt)
  parts[#parts + 1] = '"duration_ms":' .. string.format("%.1f", seconds * 1000)
  if request_id then parts[#parts + 1] = '"request_id":' .. json_string(request_id) end
  local error_code = code or failure
  if error_code then parts[#parts + 1] = '"error_code":' .. json_string(error_code) end
  return table.concat(parts, ",") .. "}"
end

-- request.log_path is what may be shown: the API path, or a placeholder for capability URLs.
-- code: the error envelope's code of a failed response (json only).
function M.attempt(request, status, attempt, seconds, request_id, failure, code)
  if M.level < 1 then return end
  if M.format == "json" then
    io.stderr:write(json_line(request, status, attempt, seconds, request_id, failure, code), "\n")
    return
  end
  local line = string.format("collate: %s %s -> %s (attempt %d, %.1f ms%s)",
    escape(request.method), escape(request.log_path or "?"),
    status and tostring(status) or escape(failure or "error"),
    attempt, seconds * 1000, request_id and (", request " .. escape(request_id)) or "")
  io.stderr:write(line, "\n")
end

-- debug: the headers of each attempt, Authorization shown as [REDACTED]. Bodies are never
-- logged at any level: they hold patients' data.
function M.request(request)
  if M.level < 2 or M.format == "json" then return end -- json: one object per attempt only
  local parts = {}
  for name, value in pairs(request.headers or {}) do
    if string.lower(name) == "authorization" then value = "[REDACTED]" end
    parts[#parts + 1] = escape(name) .. ": " .. escape(value)
  end
  table.sort(parts)
  io.stderr:write("collate: > ", escape(request.method), " ", escape(request.log_path or "?"), " {",
    table.concat(parts, "; "), "}\n")
end

-- debug: why an attempt failed (transport message, or the error envelope's code and message).
function M.failure(request, info)
  if M.level < 2 or M.format == "json" then return end
  io.stderr:write(string.format("collate: ! %s %s: %s %s: %s\n", escape(request.method),
    escape(request.log_path or "?"), escape(info.kind or "?"), escape(info.code or info.status_code or ""),
    escape(info.message or "")))
end

return M
