-- Fault rules (contract §6.6.3): stored in creation order, matched by method and path glob.
local json = require "collate_sandbox.json"
local http = require "collate_sandbox.http"
local validate = require "collate_sandbox.validate"

local faults = {}

faults.STATUS_CODES = {
  [408] = "request_timeout", [429] = "rate_limited", [500] = "internal_error", [502] = "bad_gateway",
  [503] = "service_unavailable", [504] = "gateway_timeout",
}
local KINDS = { "status", "reset", "delay", "truncate", "malformed_json" }

local RULE = {
  type = "object",
  fields = {
    { "method", { type = "string", check = function(v)
      if not v:find("^[A-Z]+$") then return "invalid_format", "Must be an upper-case HTTP method." end
    end } },
    { "path", { type = "string", min_len = 1, check = function(v)
      if v:sub(1, 1) ~= "/" then return "invalid_format", "Must start with /." end
    end } },
    { "times", { type = "integer", min = 1 } },
    { "kind", { type = "string", required = true, enum = KINDS } },
    { "status", { type = "integer" } },
    { "retryAfter", { type = "integer", min = 0 } },
    { "when", { type = "string", enum = { "before", "after" } } },
    { "ms", { type = "integer", min = 0, max = 600000 } },
    { "bytes", { type = "integer", min = 0 } },
  },
}
local BODY = {
  type = "object",
  fields = { { "rules", { type = "array", required = true, items = RULE } } },
}

-- Validates a POST body and appends its rules; returns the new rules.
function faults.add(st, body)
  local issues = validate.check(body, BODY, { "body" })
  if json.typeof(body) == "object" and json.typeof(body.rules) == "array" then
    for i, r in ipairs(body.rules) do
      if json.typeof(r) == "object" and r.kind == "status" then
        local loc = { "body", "rules", i - 1, "status" }
        if r.status == nil then
          validate.add(issues, "missing", loc, "A status rule needs status.")
        elseif json.is_integer(r.status) and not faults.STATUS_CODES[r.status] then
          validate.add(issues, "invalid_enum", loc, "Must be one of 408, 429, 500, 502, 503, 504.")
        end
      end
    end
  end
  if #issues > 0 then http.bad_request(issues) end
  local added = {}
  for _, r in ipairs(body.rules) do
    local rule = {
      id = st.ids:next("flt_"), method = r.method, path = r.path, times = r.times or 1, kind = r.kind,
      status = r.status, retryAfter = r.retryAfter, when = r.when, ms = r.ms, bytes = r.bytes,
    }
    if rule.kind == "reset" then rule.when = rule.when or "before" end
    if rule.kind == "delay" then rule.ms = rule.ms or 1000 end
    if rule.kind == "status" and rule.status == 429 and rule.retryAfter == nil then rule.retryAfter = 1 end
    rule.remaining = rule.times
    st.faults[#st.faults + 1] = rule
    added[#added + 1] = rule
  end
  return added
end

function faults.render(rules)
  local out = json.array({})
  for i, r in ipairs(rules) do
    out[i] = {
      id = r.id, method = r.method or json.null, path = r.path or json.null, times = r.times,
      remaining = r.remaining, kind = r.kind, status = r.status or json.null,
      retryAfter = r.retryAfter or json.null, when = r.when or json.null, ms = r.ms or json.null,
      bytes = r.bytes or json.null,
    }
  end
  return { rules = out }
end

function faults.live(st)
  local out = {}
  for _, r in ipairs(st.faults) do if r.remaining > 0 then out[#out + 1] = r end end
  return out
end

-- First live rule matching; uses one of its times.
function faults.take(st, method, path)
  for _, r in ipairs(st.faults) do
    if r.remaining > 0 and (not r.method or r.method == method) and (not r.path or http.glob_match(r.path, path)) then
      r.remaining = r.remaining - 1
      return r
    end
  end
end

function faults.status_error(rule)
  local headers
  if rule.retryAfter then headers = { ["Retry-After"] = string.format("%d", rule.retryAfter) } end
  return http.new_error(rule.status, faults.STATUS_CODES[rule.status],
    "Injected fault: " .. faults.STATUS_CODES[rule.status] .. ".", nil, nil, headers)
end

return faults
