-- Idempotency-Key records (contract §1.6): only 2xx responses are recorded; a replay returns the
-- recorded status and body; another request under a recorded key is idempotency_key_reused.
-- Records are kept 24 h of emulator clock (the contract's retention) and purged on that clock:
-- st.idem_queue holds {key, at} in recording order (virtual time never goes back), and
-- idempotency.purge (run before every request) drops the expired ones from its front.
local json = require "collate_sandbox.json"
local http = require "collate_sandbox.http"
local requestlog = require "collate_sandbox.requestlog"

local idempotency = {}

idempotency.RETENTION = 86400
-- a fingerprint's canonical body is kept as is up to this size, else as its size and hash
local FINGERPRINT_KEEP = 4096

-- 1–255 visible ASCII characters
function idempotency.valid_key(k)
  return #k >= 1 and #k <= 255 and k:find("^[\33-\126]+$") ~= nil
end

-- method + path + If-Match + body as parsed JSON (no body, "" and {} equal)
function idempotency.fingerprint(req)
  local body = req.body or ""
  local canonical
  if body:find("^%s*$") then
    canonical = "{}"
  else
    local v = http.decode_body(req)
    canonical = v ~= nil and json.encode(v) or ("raw:" .. body)
  end
  if #canonical > FINGERPRINT_KEEP then
    canonical = string.format("%d:%s", #canonical, requestlog.fnv1a64(canonical))
  end
  return table.concat({ req.method, req.path, req.headers["if-match"] or "<none>", canonical }, "\n")
end

local function expired(rec, now)
  return now - rec.at >= idempotency.RETENTION
end

local function queue(st)
  local q = st.idem_queue
  if not q then -- a fresh state, or one saved before the queue existed
    q = { first = 1, last = 0 }
    local keys = {}
    for key, rec in pairs(st.idem) do keys[#keys + 1] = { key = key, at = rec.at } end
    table.sort(keys, function(x, y) return x.at < y.at end)
    for _, k in ipairs(keys) do
      q.last = q.last + 1
      q[q.last] = k
    end
    st.idem_queue = q
  end
  return q
end

-- Drops every record older than the retention at virtual time `now`.
function idempotency.purge(st, now)
  local q = queue(st)
  while q.first <= q.last do
    local item = q[q.first]
    if now - item.at < idempotency.RETENTION then break end
    local rec = st.idem[item.key]
    if rec and rec.at == item.at then st.idem[item.key] = nil end
    q[q.first] = nil
    q.first = q.first + 1
  end
end

function idempotency.count(st)
  local n = 0
  for _ in pairs(st.idem) do n = n + 1 end
  return n
end

-- Returns a replay response, raises 409, or returns nil (process afresh).
function idempotency.check(st, key, fp, now)
  local rec = st.idem[key]
  if not rec then return nil end
  if expired(rec, now) then
    st.idem[key] = nil
    return nil
  end
  if rec.fp ~= fp then
    http.fail(409, "idempotency_key_reused", "This Idempotency-Key was used with a different request.")
  end
  local headers = {}
  for k, v in pairs(rec.headers) do headers[k] = v end
  headers["Idempotent-Replayed"] = "true"
  return { status = rec.status, headers = headers, body = rec.body }
end

function idempotency.record(st, key, fp, resp, now)
  local headers = {}
  for k, v in pairs(resp.headers or {}) do
    if k ~= "X-Request-Id" then headers[k] = v end
  end
  st.idem[key] = { fp = fp, status = resp.status, headers = headers, body = resp.body, at = now }
  local q = queue(st)
  q.last = q.last + 1
  q[q.last] = { key = key, at = now }
end

return idempotency
