-- The request log (contract §6.6.4).
local json = require "collate.sandbox.json"
local http = require "collate.sandbox.http"

local requestlog = {}

function requestlog.add(st, entry)
  st.log[#st.log + 1] = entry
end

function requestlog.entry(st, req, request_id, now)
  local headers = json.object({})
  for k, v in pairs(req.headers or {}) do
    headers[k] = (k == "authorization") and "[REDACTED]" or v
  end
  local body = json.null
  if req.body and req.body ~= "" and #req.body <= 1048576 and json.valid_utf8(req.body) then
    local v = json.decode(req.body)
    if v ~= nil then body = v end
  end
  return {
    requestId = request_id, receivedAt = st.fmt(now), method = req.method, path = req.path,
    query = req.query or "", headers = headers, body = body, bodySize = req.body_size or #(req.body or ""),
    status = json.null, fault = json.null, idempotentReplay = false,
  }
end

function requestlog.query(st, q)
  local out = {}
  for _, e in ipairs(st.log) do
    if (not q.method or q.method == "" or e.method == q.method) and
       (not q.path or q.path == "" or http.glob_match(q.path, e.path)) then
      out[#out + 1] = e
    end
  end
  local limit = tonumber(q.limit)
  if limit and limit >= 0 and #out > limit then
    local trimmed = {}
    for i = #out - limit + 1, #out do trimmed[#trimmed + 1] = out[i] end
    out = trimmed
  end
  local data = json.array({})
  for i, e in ipairs(out) do data[i] = e end
  return { data = data }
end

return requestlog
