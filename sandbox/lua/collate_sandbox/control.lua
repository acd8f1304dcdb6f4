-- /_sandbox/* (contract §6.6): clock, faults, request log, reset, forced payer events. No
-- authentication, never faulted, not logged.
local json = require "collate_sandbox.json"
local http = require "collate_sandbox.http"
local validate = require "collate_sandbox.validate"
local timefmt = require "collate_sandbox.timefmt"
local router = require "collate_sandbox.router"
local faults = require "collate_sandbox.faults"
local requestlog = require "collate_sandbox.requestlog"
local authorizations = require "collate_sandbox.authorizations"
local idempotency = require "collate_sandbox.idempotency"

local control = {}

local function now_check(v)
  if not timefmt.parse(v) then return "invalid_format", "Must be an RFC 3339 timestamp." end
end

local CLOCK_SET = {
  type = "object",
  fields = {
    { "mode", { type = "string", enum = { "realtime", "step" } } },
    { "speed", { type = "number", check = function(v) if v <= 0 then return "out_of_range", "Must be > 0." end end } },
    { "now", { type = "string", check = now_check } },
  },
}
local ADVANCE = { type = "object", fields = { { "seconds", { type = "integer", required = true, min = 0 } } } }

local PAYER_EVENT = {
  type = "object",
  fields = {
    { "type", { type = "string", required = true, enum = { "receipt", "approval", "modified", "denial",
      "more_info_request" } } },
    { "referenceNumber", { type = "string", min_len = 1, max_len = 100 } },
    { "channel", { type = "string", enum = { "portal" } } },
    { "authorizationNumber", { type = "string", min_len = 1 } },
    { "effectiveFrom", { type = "string", check = function(v)
      if not timefmt.parse_date(v) then return "invalid_format", "Must be a date YYYY-MM-DD." end end } },
    { "effectiveTo", { type = "string", check = function(v)
      if not timefmt.parse_date(v) then return "invalid_format", "Must be a date YYYY-MM-DD." end end } },
    { "payerStatusText", { type = "string" } },
    { "modifications", { type = "array", min_items = 1, items = { type = "object", fields = {
      { "field", { type = "string", required = true } },
      { "requestedValue", { type = "string", nullable = true } },
      { "approvedValue", { type = "string", nullable = true } },
      { "message", { type = "string", nullable = true } },
    } } } },
    { "denialReasons", { type = "array", min_items = 1, items = { type = "object", fields = {
      { "code", { type = "string", required = true } },
      { "message", { type = "string", required = true } },
    } } } },
    { "documentTypes", { type = "array", min_items = 1, unique = true, items = { type = "string", enum = {
      "clinical_notes", "letter_of_medical_necessity", "lab_results", "imaging_report", "prescription",
      "treatment_plan", "prior_therapy_history", "payer_form", "other" } } } },
    { "message", { type = "string" } },
  },
}

local function clock_body(app)
  local st = app.st
  local pending = json.array({})
  for i, ev in ipairs(st.clock:pending()) do
    pending[i] = { authorizationId = ev.auth_id, event = ev.name, dueAt = st.fmt(ev.due) }
  end
  return { now = st.fmt(st.clock:now()), mode = st.clock.mode, speed = st.clock.speed, pending = pending }
end

local function fired_body(app, fired)
  local st = app.st
  local out = json.array({})
  for i, ev in ipairs(fired) do out[i] = { authorizationId = ev.auth_id, event = ev.name, at = st.fmt(ev.due) } end
  return { now = st.fmt(st.clock:now()), fired = out }
end

local function body_of(req, schema)
  local body = http.parse_body(req)
  if schema then
    local issues = validate.check(body, schema)
    if #issues > 0 then http.bad_request(issues) end
  end
  return body
end

-- move to `target` firing due events (forward only)
local function advance_to(app, target)
  local fired = app:fire_until(target)
  if target > app.st.clock:now() then app.st.clock:move_to(target) end
  return fired
end

local route_handlers = {}

function route_handlers.clock_get(app)
  return 200, clock_body(app)
end

function route_handlers.clock_set(app, req)
  local b = body_of(req, CLOCK_SET)
  local st = app.st
  if b.now ~= nil then
    local t = timefmt.parse(b.now)
    if t < st.clock:now_s() then
      http.bad_request(http.issue("out_of_range", { "body", "now" }, "The clock only moves forward."))
    end
    advance_to(app, t)
  end
  if b.mode or b.speed then st.clock:switch(b.mode, b.speed) end
  return 200, clock_body(app)
end

function route_handlers.advance(app, req)
  local b = body_of(req, ADVANCE)
  return 200, fired_body(app, advance_to(app, app.st.clock:now() + b.seconds))
end

function route_handlers.step(app, req)
  body_of(req, { type = "object", fields = {} })
  local st = app.st
  local ev = st.clock:earliest()
  if not ev then return 200, fired_body(app, {}) end
  local target = math.max(ev.due, st.clock:now())
  st.clock:remove(ev)
  authorizations.fire(st, ev)
  local fired = { ev }
  for _, e in ipairs(app:fire_until(ev.due)) do fired[#fired + 1] = e end
  if target > st.clock:now() then st.clock:move_to(target) end
  return 200, fired_body(app, fired)
end

function route_handlers.faults_add(app, req)
  local b = body_of(req)
  return 200, faults.render(faults.add(app.st, b))
end

function route_handlers.faults_get(app)
  return 200, faults.render(faults.live(app.st))
end

function route_handlers.faults_delete(app)
  app.st.faults = {}
  return 200, faults.render({})
end

function route_handlers.requests_get(app, req)
  local q = http.parse_query(req.query)
  if q.limit ~= nil and not q.limit:find("^%d+$") then
    http.bad_request(http.issue("invalid_type", { "query", "limit" }, "limit must be a non-negative integer."))
  end
  return 200, requestlog.query(app.st, q)
end

function route_handlers.requests_delete(app)
  requestlog.clear(app.st)
  return 200, { data = json.array({}) }
end

function route_handlers.reset(app, req)
  local b = body_of(req, CLOCK_SET)
  local now = b.now and timefmt.parse(b.now) or nil
  local st = app:reset(b.mode, b.speed, now)
  return 200, { now = st.fmt(st.clock:now()), mode = st.clock.mode, speed = st.clock.speed }
end

function route_handlers.payer_event(app, req, params)
  local b = body_of(req, PAYER_EVENT)
  if b.type == "modified" and b.modifications == nil then
    http.bad_request(http.issue("missing", { "body", "modifications" }, "A modified decision needs modifications."))
  end
  local st = app.st
  local a = st.auths[params.id]
  if not a then http.fail(404, "prior_authorization_not_found", "No authorization " .. params.id .. ".") end
  authorizations.force_payer_event(st, a, b, st.clock:now_s())
  return 200, authorizations.render(st, a)
end

-- How many idempotency records are held (emulator extension, docs/sandbox-extensions.md): they
-- are purged on the virtual clock after the retention; the request log's size in bytes too.
function route_handlers.idempotency(app)
  return 200, { records = idempotency.count(app.st), retentionSeconds = idempotency.RETENTION,
    requestLog = { entries = requestlog.count(app.st), bytes = requestlog.bytes(app.st),
      maxEntries = requestlog.MAX, maxBytes = requestlog.MAX_BYTES } }
end

-- The C front's connection telemetry (docs/sandbox-extensions.md); DELETE resets the peaks and
-- `accepted` first. Absent when the app runs without the front.
function route_handlers.connections(app, req)
  local counts = app.opts.connections
  if not counts then http.fail(404, "not_found", "No connection telemetry without the C front.") end
  return 200, counts(req.method == "DELETE")
end

-- Emulator extension (docs/sandbox-extensions.md): how long each payer takes to decide after
-- receipt, instead of the scenario's delay, for simulations of payers that take days.
function route_handlers.payer_timing_get(app)
  local out = json.object({})
  for payer, seconds in pairs(app.st.payer_timing or {}) do out[payer] = seconds end
  return 200, { decisionSeconds = out }
end

function route_handlers.payer_timing_set(app, req)
  local b = body_of(req, { type = "object", fields = { { "decisionSeconds", { type = "object", required = true } } } })
  local catalog = require "collate_sandbox.catalog"
  local timing = app.st.payer_timing or {}
  local issues = {}
  for payer, seconds in pairs(b.decisionSeconds) do
    if not catalog.payer(payer) then
      issues[#issues + 1] = http.issue("invalid_format", { "body", "decisionSeconds", payer }, "No payer "
        .. payer .. ".")
    elseif seconds == json.null then
      timing[payer] = nil
    elseif math.type(seconds) ~= "integer" or seconds < 1 then
      issues[#issues + 1] = http.issue("out_of_range", { "body", "decisionSeconds", payer },
        "Must be an integer number of seconds >= 1, or null for the scenario's delay.")
    else
      timing[payer] = seconds
    end
  end
  if #issues > 0 then http.bad_request(issues) end
  app.st.payer_timing = timing
  return route_handlers.payer_timing_get(app)
end

local ROUTER = router.new({
  { "GET", "/_sandbox/payer-timing", route_handlers.payer_timing_get },
  { "POST", "/_sandbox/payer-timing", route_handlers.payer_timing_set },
  { "GET", "/_sandbox/clock", route_handlers.clock_get },
  { "POST", "/_sandbox/clock", route_handlers.clock_set },
  { "POST", "/_sandbox/clock/advance", route_handlers.advance },
  { "POST", "/_sandbox/clock/step", route_handlers.step },
  { "POST", "/_sandbox/faults", route_handlers.faults_add },
  { "GET", "/_sandbox/faults", route_handlers.faults_get },
  { "DELETE", "/_sandbox/faults", route_handlers.faults_delete },
  { "GET", "/_sandbox/requests", route_handlers.requests_get },
  { "DELETE", "/_sandbox/requests", route_handlers.requests_delete },
  { "POST", "/_sandbox/reset", route_handlers.reset },
  { "GET", "/_sandbox/connections", route_handlers.connections },
  { "GET", "/_sandbox/idempotency", route_handlers.idempotency },
  { "DELETE", "/_sandbox/connections", route_handlers.connections },
  { "POST", "/_sandbox/prior-authorizations/{id}/payer-events", route_handlers.payer_event },
})

function control.handle(app, req)
  local spec, params = ROUTER:resolve(req.method, req.path)
  local status, body = spec[3](app, req, params)
  return http.json(status, body)
end

return control
