-- The request log (contract §6.6.4).
local json = require "collate_sandbox.json"
local http = require "collate_sandbox.http"

local requestlog = {}

-- A ring of the last MAX entries (an emulator choice, docs/sandbox.md): st.log[log_first ..
-- log_last]; older entries are dropped so a long benchmark does not grow the heap without bound.
requestlog.MAX = 100000

function requestlog.add(st, entry)
  local first, last = st.log_first or 1, (st.log_last or 0) + 1
  st.log[last] = entry
  if last - first + 1 > requestlog.MAX then
    st.log[first] = nil
    first = first + 1
  end
  st.log_first, st.log_last = first, last
end

function requestlog.count(st)
  return (st.log_last or 0) - (st.log_first or 1) + 1
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
  for i = st.log_first or 1, st.log_last or 0 do
    local e = st.log[i]
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
