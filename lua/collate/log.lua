-- COLLATE_LOG=info|debug: one line per attempt on stderr (debug adds its headers and why it
-- failed). Never the key, never bodies, never capability URLs (uploads are logged as
-- "<upload url>").
local M = {}

local levels = { off = 0, info = 1, debug = 2 }

local function level_from_env()
  local name = os.getenv("COLLATE_LOG")
  if name == nil or name == "" then return 0 end
  return levels[string.lower(name)] or 0
end

M.level = level_from_env()

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

-- request.log_path is what may be shown: the API path, or a placeholder for capability URLs.
function M.attempt(request, status, attempt, seconds, request_id, failure)
  if M.level < 1 then return end
  local line = string.format("collate: %s %s -> %s (attempt %d, %.1f ms%s)",
    escape(request.method), escape(request.log_path or "?"),
    status and tostring(status) or escape(failure or "error"),
    attempt, seconds * 1000, request_id and (", request " .. escape(request_id)) or "")
  io.stderr:write(line, "\n")
end

-- debug: the headers of each attempt, Authorization shown as [REDACTED]. Bodies are never
-- logged at any level: they hold patients' data.
function M.request(request)
  if M.level < 2 then return end
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
  if M.level < 2 then return end
  io.stderr:write(string.format("collate: ! %s %s: %s %s: %s\n", escape(request.method),
    escape(request.log_path or "?"), escape(info.kind or "?"), escape(info.code or info.status_code or ""),
    escape(info.message or "")))
end

return M
