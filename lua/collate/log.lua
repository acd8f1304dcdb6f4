-- COLLATE_LOG=info|debug: one line per attempt on stderr. Never the key, never bodies, never
-- capability URLs (uploads and grants are logged by their path template only).
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

function M.debug(message)
  if M.level >= 2 then io.stderr:write("collate: ", message, "\n") end
end

return M
