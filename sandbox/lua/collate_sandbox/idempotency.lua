-- Idempotency-Key records (contract §1.6): only 2xx responses are recorded; a replay returns the
-- recorded status and body; another request under a recorded key is idempotency_key_reused.
local json = require "collate_sandbox.json"
local http = require "collate_sandbox.http"

local idempotency = {}

idempotency.RETENTION = 86400

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
    local v = json.decode(body)
    canonical = v ~= nil and json.encode(v) or ("raw:" .. body)
  end
  return table.concat({ req.method, req.path, req.headers["if-match"] or "<none>", canonical }, "\n")
end

-- Returns a replay response, raises 409, or returns nil (process afresh).
function idempotency.check(st, key, fp, now)
  local rec = st.idem[key]
  if not rec then return nil end
  if now - rec.at >= idempotency.RETENTION then
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
end

return idempotency
