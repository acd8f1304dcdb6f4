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

function M.set_level(name)
  M.level = levels[name] or error("collate.log: unknown level '" .. tostring(name) .. "'", 2)
end

-- request.log_path is what may be shown: the API path, or a placeholder for capability URLs.
function M.attempt(request, status, attempt, seconds, request_id, failure)
  if M.level < 1 then return end
  local line = string.format("collate: %s %s -> %s (attempt %d, %.1f ms%s)",
    request.method, request.log_path or "?", status and tostring(status) or failure or "error",
    attempt, seconds * 1000, request_id and (", request " .. request_id) or "")
  io.stderr:write(line, "\n")
end

-- debug: the headers of each attempt, Authorization shown as [REDACTED]. Bodies are never
-- logged at any level: they hold patients' data.
function M.request(request)
  if M.level < 2 then return end
  local parts = {}
  for name, value in pairs(request.headers or {}) do
    if string.lower(name) == "authorization" then value = "[REDACTED]" end
    parts[#parts + 1] = name .. ": " .. tostring(value)
  end
  table.sort(parts)
  io.stderr:write("collate: > ", request.method, " ", request.log_path or "?", " {",
    table.concat(parts, "; "), "}\n")
end

-- debug: why an attempt failed (transport message, or the error envelope's code and message).
function M.failure(request, info)
  if M.level < 2 then return end
  io.stderr:write(string.format("collate: ! %s %s: %s %s: %s\n", request.method, request.log_path or "?",
    info.kind or "?", tostring(info.code or info.status_code or ""), tostring(info.message or "")))
end

return M
