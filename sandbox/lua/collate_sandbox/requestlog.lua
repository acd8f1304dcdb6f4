-- The request log (contract §6.6.4), bounded in entries and in bytes (an emulator choice,
-- docs/sandbox.md): a body of at most BODY_KEEP bytes is kept as received and parsed when the
-- log is read; a larger one is summarized (its size, its first HEAD bytes, an FNV-1a 64 hash)
-- and logged with body null. Entries are dropped oldest first while more than MAX entries or
-- more than MAX_BYTES (kept bodies, headers, paths and queries, plus a fixed cost per entry) are
-- held, so hostile or long runs cannot grow the heap without bound.
local json = require "collate_sandbox.json"
local http = require "collate_sandbox.http"

local requestlog = {}

requestlog.MAX = 100000
requestlog.MAX_BYTES = 32 * 1048576
requestlog.BODY_KEEP = 65536
requestlog.HEAD = 256
local ENTRY_COST = 320 -- the entry's own tables and fields, roughly

local byte = string.byte

-- FNV-1a, 64 bits, as 16 hex digits (integer arithmetic wraps, Lua 5.4)
function requestlog.fnv1a64(s)
  local h = -3750763034362895579 -- 0xcbf29ce484222325
  for i = 1, #s, 64 do
    local b = { byte(s, i, i + 63) }
    for j = 1, #b do h = (h ~ b[j]) * 0x100000001b3 end
  end
  return string.format("%016x", h)
end

-- the first n bytes, shortened to end on a whole UTF-8 character; "" when not UTF-8
local function head(s, n)
  local h = s:sub(1, n)
  for cut = 0, 3 do
    local part = h:sub(1, #h - cut)
    if utf8.len(part) then return part end
  end
  return ""
end

local function drop_oldest(st)
  local first = st.log_first
  local e = st.log[first]
  st.log[first] = nil
  st.log_first = first + 1
  st.log_bytes = st.log_bytes - e.cost
end

function requestlog.add(st, entry)
  st.log_first, st.log_last, st.log_bytes = st.log_first or 1, (st.log_last or 0) + 1, st.log_bytes or 0
  st.log[st.log_last] = entry
  st.log_bytes = st.log_bytes + entry.cost
  while st.log_last - st.log_first + 1 > requestlog.MAX or
        (st.log_bytes > requestlog.MAX_BYTES and st.log_first < st.log_last) do
    drop_oldest(st)
  end
end

function requestlog.clear(st)
  st.log, st.log_first, st.log_last, st.log_bytes = {}, 1, 0, 0
end

function requestlog.count(st)
  return (st.log_last or 0) - (st.log_first or 1) + 1
end

function requestlog.bytes(st)
  return st.log_bytes or 0
end

function requestlog.entry(st, req, request_id, now)
  local cost = ENTRY_COST + #req.path + #(req.query or "")
  local headers = json.object({})
  for k, v in pairs(req.headers or {}) do
    headers[k] = (k == "authorization") and "[REDACTED]" or v
    cost = cost + #k + #headers[k] + 40
  end
  local body = req.body or ""
  local e = {
    requestId = request_id, receivedAt = st.fmt(now), method = req.method, path = req.path,
    query = req.query or "", headers = headers, bodySize = req.body_size or #body,
    status = json.null, fault = json.null, idempotentReplay = false,
  }
  if #body <= requestlog.BODY_KEEP then
    e.body_text = body
    cost = cost + #body
  else
    e.summary = { bytes = #body, head = head(body, requestlog.HEAD), fnv1a64 = requestlog.fnv1a64(body) }
    cost = cost + requestlog.HEAD + 64
  end
  e.cost = cost
  return e
end

-- the wire form of an entry: the kept body parsed (null when empty, not UTF-8 or not JSON)
local function render(e)
  local body = json.null
  local text = e.body_text
  if text and text ~= "" and json.valid_utf8(text) then
    local v = json.decode(text)
    if v ~= nil then body = v end
  end
  return {
    requestId = e.requestId, receivedAt = e.receivedAt, method = e.method, path = e.path, query = e.query,
    headers = e.headers, body = body, bodySize = e.bodySize, status = e.status, fault = e.fault,
    idempotentReplay = e.idempotentReplay, bodySummary = e.summary,
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
  local from = 1
  if limit and limit >= 0 and #out > limit then from = #out - limit + 1 end
  local data = json.array({})
  for i = from, #out do data[#data + 1] = render(out[i]) end
  return { data = data }
end

return requestlog
