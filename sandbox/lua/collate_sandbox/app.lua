-- The sandbox application: one instance per server (app.new), one call per request (app:handle).
-- handle applies the order of checks of contract §1.12: due clock events, fault rule,
-- authentication, route, headers, idempotency, schema, then the handler (path resources,
-- If-Match version, state rules, body-named resources).
local http = require "collate_sandbox.http"
local ids = require "collate_sandbox.ids"
local clock = require "collate_sandbox.clock"
local timefmt = require "collate_sandbox.timefmt"
local router = require "collate_sandbox.router"
local handlers = require "collate_sandbox.handlers"
local validate = require "collate_sandbox.validate"
local idempotency = require "collate_sandbox.idempotency"
local faults = require "collate_sandbox.faults"
local requestlog = require "collate_sandbox.requestlog"
local authorizations = require "collate_sandbox.authorizations"
local control = require "collate_sandbox.control"
local lifecycle = require "collate_sandbox.lifecycle"
local realism = require "collate_sandbox.realism"
local persist = require "collate_sandbox.persist"
local files = require "collate_sandbox.files"

local M = {}
local App = {}
App.__index = App

M.FORBIDDEN_KEY = "sk_test_forbidden"

local ROUTER = router.new(handlers.ROUTES)

local function default_wall()
  return os.time()
end

function M.new(opts)
  opts = opts or {}
  local self = setmetatable({}, App)
  self.opts = opts
  self.keys = {}
  for _, k in ipairs(opts.keys or { "sk_test_local" }) do self.keys[k] = true end
  self.base_url = (opts.base_url or "http://127.0.0.1"):gsub("/+$", "")
  self.wall = opts.wall_time or default_wall
  self.start_mode = opts.clock_mode or "realtime"
  self.start_speed = opts.clock_speed or 1
  -- --realism (the C front's app options): docs/sandbox.md, Realism mode
  local options = opts.options or {}
  self.realism = options.realism ~= nil and options.realism ~= false
  self.realism_seed = tonumber(options.realism_seed) or 1
  self:reset()
  self.state_file = opts.state_file
  if self.state_file then
    local f, oerr, errno = io.open(self.state_file, "rb")
    if not f and errno ~= 2 then -- anything but ENOENT: never start over a file we cannot read
      error("state file " .. tostring(oerr), 0)
    end
    if f then
      local text, rerr = f:read("a")
      f:close()
      if not text then error("state file " .. self.state_file .. ": " .. tostring(rerr), 0) end
      local st, err = persist.load(text)
      if not st then error("state file " .. self.state_file .. ": " .. err, 0) end
      self:adopt(st)
    end
    -- written once now, so a path we cannot write fails the start, not the first save
    local ok, werr = pcall(self.save, self, true)
    if not ok then error("state file " .. self.state_file .. ": " .. tostring(werr), 0) end
  end
  return self
end

-- A loaded state: the functions and caches that are not saved are put back.
function App:adopt(st)
  st.base_url, st.fmt, st.fmt_date = self.base_url, timefmt.format, timefmt.format_date
  requestlog.clear(st)
  st.clock.wall = self.wall
  if self.realism then
    st.fmt = realism.format
    st.realism = st.realism or realism.new_state(self.realism_seed)
  else
    st.realism = nil
  end
  for _, a in ipairs(st.auth_list) do lifecycle.upgrade(a) end
  self.st = st
end

-- The state as a state-file text (persist.lua).
function App:dump()
  return persist.dump(self.st)
end

-- Called by the C front about once a second and at shutdown: writes the state file when
-- something changed since the last save (always when forced). Returns true when it wrote.
function App:save(force)
  if not self.state_file or not (self.dirty or force) then return false end
  local text = persist.dump(self.st)
  local write = self.opts.write_file_atomic
  local ok, err
  if write then
    ok, err = write(self.state_file, text)
  else -- no fsync from plain Lua: embedders without the C front get rename atomicity only
    local tmp = self.state_file .. ".tmp"
    local f
    f, err = io.open(tmp, "wb")
    ok = f and f:write(text) and f:close() and os.rename(tmp, self.state_file)
  end
  if not ok then error(tostring(err or "cannot write " .. self.state_file), 0) end
  self.dirty = false
  return true
end

-- Fresh state (§6.6.5): mode and speed default to the start-up ones.
function App:reset(mode, speed, now)
  local st = {
    ids = ids.new(),
    clock = clock.new({ wall_time = self.wall, mode = mode or self.start_mode, speed = speed or self.start_speed,
      now = now }),
    auths = {}, auth_list = {}, files = {}, uploads = {}, grants = {}, idem = {}, faults = {}, log = {},
    seq = 0, base_url = self.base_url, fmt = timefmt.format, fmt_date = timefmt.format_date,
  }
  if self.realism then
    st.fmt = realism.format
    st.realism = realism.new_state(self.realism_seed)
  end
  self.st = st
  return st
end

function App:fire_until(limit)
  local st = self.st
  local fired = st.clock:fire_until(limit, function(ev) authorizations.fire(st, ev) end)
  if #fired > 0 then self.dirty = true end
  return fired
end

function App:fire_due()
  return self:fire_until(self.st.clock:now())
end

---------------------------------------------------------------------------------------------------
-- request parsing helpers

local parse_body = http.parse_body

local function parse_if_match(v)
  if v == nil then
    http.bad_request(http.issue("missing", { "header", "If-Match" }, "If-Match is required."))
  end
  local digits = v:match('^%s*"([1-9]%d*)"%s*$')
  if not digits or #digits > 15 then
    http.bad_request(http.issue("invalid_format", { "header", "If-Match" },
      'If-Match must be the quoted version, e.g. "3".'))
  end
  return tonumber(digits)
end

local function auth_class(path)
  if path == "/health" then return "public" end
  if path:find("^/_uploads/") or path:find("^/runtime/access/") then return "capability" end
  return "bearer"
end

function App:authenticate(req)
  local path = req.path
  local class = auth_class(path)
  if class == "public" then return end
  local h = req.headers["authorization"]
  if class == "capability" then
    if h ~= nil then
      http.bad_request(http.issue("extra_forbidden", { "header", "Authorization" },
        "Capability URLs must not receive an Authorization header."))
    end
    return
  end
  local key = h and h:match("^[Bb][Ee][Aa][Rr][Ee][Rr] +(%S+)%s*$")
  if key == M.FORBIDDEN_KEY then
    if path == "/v1" or path:find("^/v1/") then
      http.fail(403, "forbidden", "This API key lacks the permission for this request.")
    end
    return
  end
  if not key or not self.keys[key] then
    http.fail(401, "unauthorized", h and "Invalid API key." or "Missing API key (Authorization: Bearer <key>).",
      nil, nil, { ["WWW-Authenticate"] = "Bearer" })
  end
end

-- Called by the C front when a request announces a body (docs/sandbox.md, Bounded memory), with
-- the headers only, before any byte of the body is read: false when the answer cannot depend on
-- the body (authentication fails, no such route, a body the route ignores, an unknown upload
-- URL), so the front reads none of it and answers at once; else the most bytes the route
-- accepts (the front keeps one more, to tell "too large", and answers at once when
-- Content-Length already says more). Changes nothing: the answer comes from handle.
function App:precheck(req)
  local path = req.path
  if path == "/_sandbox" or path:find("^/_sandbox/") then return http.BODY_LIMIT end
  if not pcall(self.authenticate, self, req) then return false end
  local spec, params = ROUTER:find(req.method, path)
  if not spec then return false end
  if spec.raw_body then
    return self.st.uploads[params.token] ~= nil and files.UPLOAD_LIMIT
  end
  return spec.body ~= nil and http.BODY_LIMIT
end

---------------------------------------------------------------------------------------------------
-- steps 3 to 11

function App:process(req, ctx, entry)
  local st = self.st
  if st.realism and req.path:find("^/_uploads/") and req.headers["authorization"] ~= nil then
    return realism.storage_error(400, "InvalidArgument",
      "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header "
      .. "should be specified", ctx.request_id)
  end
  self:authenticate(req)

  local spec, params = ROUTER:resolve(req.method, req.path)
  ctx.params = params

  -- headers
  local body = req.body or ""
  if spec.body and not body:find("^%s*$") then
    local ct = req.headers["content-type"]
    local mt = ct and (ct:match("^%s*([^;%s]+)") or ""):lower()
    if mt ~= "application/json" then
      http.bad_request(http.issue(ct and "invalid_format" or "missing", { "header", "Content-Type" },
        "Content-Type must be application/json."))
    end
  end
  local is_v1_post = req.method == "POST" and req.path:find("^/v1/") ~= nil
  -- realism: Idempotency-Key is honoured on create only (the docs' wording), ignored elsewhere
  if st.realism and spec.idem ~= "required" then is_v1_post = false end
  local key = is_v1_post and req.headers["idempotency-key"] or nil
  if is_v1_post then
    if key == nil and spec.idem == "required" then
      http.bad_request(http.issue("missing", { "header", "Idempotency-Key" }, "Idempotency-Key is required."))
    end
    if key ~= nil and not idempotency.valid_key(key) then
      http.bad_request(http.issue("invalid_format", { "header", "Idempotency-Key" },
        "Idempotency-Key must be 1-255 visible ASCII characters."))
    end
  end
  if spec.if_match then ctx.if_match = parse_if_match(req.headers["if-match"]) end

  -- idempotency
  local fp
  if key then
    fp = idempotency.fingerprint(req)
    local replay = idempotency.check(st, key, fp, ctx.now)
    if replay then
      entry.idempotentReplay = true
      return replay
    end
  end

  -- query and body
  ctx.query = http.parse_query(req.query)
  if spec.body then
    ctx.body, ctx.has_body = parse_body(req)
    local issues
    if type(spec.schema) == "function" then
      issues = spec.schema(ctx)
    else
      issues = validate.check(ctx.body, spec.schema)
    end
    if #issues > 0 then http.bad_request(issues) end
  end

  local status, out = spec[3](ctx)
  local resp = type(status) == "table" and status or http.json(status, out)
  if key and resp.status >= 200 and resp.status < 300 then
    idempotency.record(st, key, fp, resp, ctx.now)
  end
  return resp
end

-- Runs fn, turning raised API errors (and bugs, as 500) into envelopes; adds X-Request-Id.
function App:guard(request_id, fn)
  local ok, resp = pcall(fn)
  if not ok then
    if http.is_error(resp) then
      resp = http.error_response(resp, request_id)
    else
      if self.opts.log then self.opts.log("sandbox internal error: " .. tostring(resp)) end
      resp = http.error_response(http.new_error(500, "internal_error", "Internal error in the sandbox."), request_id)
    end
  end
  resp.headers = resp.headers or {}
  resp.headers["X-Request-Id"] = request_id
  return resp
end

local function malformed(body)
  local cut = math.floor(#body / 2)
  return body:sub(1, cut) .. '{"malformed": '
end

function App:dispatch(req)
  local st = self.st
  self:fire_due()
  idempotency.purge(st, st.clock:now_s())
  local request_id = st.ids:next("req_")
  if req.path == "/_sandbox" or req.path:find("^/_sandbox/") then
    return self:guard(request_id, function() return control.handle(self, req) end)
  end
  local now = st.clock:now_s()
  local entry = requestlog.entry(st, req, request_id, now)

  local rule
  local r = st.realism
  if req.fault_applied == "delay" then
    -- a delay fault, or realism's jitter: fault delays still out are counted
    if not r or (st.fault_delays or 0) > 0 then
      entry.fault = "delay"
      st.fault_delays = math.max(0, (st.fault_delays or 0) - 1)
    end
  else
    rule = faults.take(st, req.method, req.path)
    if rule and rule.kind == "delay" then
      if r then st.fault_delays = (st.fault_delays or 0) + 1 end
      return { status = 0, headers = {}, body = "", action = "delay", ms = rule.ms }
    end
    if rule then entry.fault = rule.kind end
    local jitter = not rule and r and realism.jitter_ms(r, req)
    if jitter then return { status = 0, headers = {}, body = "", action = "delay", ms = jitter } end
  end
  if not rule and r and realism.unavailable(r, req) then
    local resp = http.error_response(http.new_error(503, "service_unavailable",
      "The service is briefly unavailable; retry after the Retry-After delay.", nil, nil,
      { ["Retry-After"] = string.format("%d", realism.RETRY_AFTER) }), request_id)
    entry.status = resp.status
    requestlog.add(st, entry)
    return resp
  end
  if rule and rule.kind == "status" then
    local resp = http.error_response(faults.status_error(rule), request_id)
    entry.status = resp.status
    requestlog.add(st, entry)
    return resp
  end
  if rule and rule.kind == "reset" and rule.when ~= "after" then
    requestlog.add(st, entry)
    return { status = 0, headers = {}, body = "", action = "reset" }
  end

  local ctx = { st = st, req = req, now = now, request_id = request_id }
  local resp = self:guard(request_id, function() return self:process(req, ctx, entry) end)
  entry.status = resp.status
  requestlog.add(st, entry)

  if rule then
    if rule.kind == "reset" then
      resp.action = "reset"
    elseif rule.kind == "truncate" then
      resp.action = "truncate"
      resp.bytes = rule.bytes or math.floor(#resp.body / 2)
      if resp.bytes > #resp.body then resp.bytes = #resp.body end
    elseif rule.kind == "malformed_json" then
      resp.body = malformed(resp.body)
      resp.headers["Content-Type"] = http.JSON_TYPE
    end
  end
  return resp
end

function App:handle(req)
  local t0 = self.wall()
  req.headers = req.headers or {}
  req.query = req.query or ""
  req.body = req.body or ""
  req.method = req.method or "GET"
  req.path = req.path or "/"
  local ok, resp = pcall(self.dispatch, self, req)
  -- GETs change nothing saved but ID counters (and fire due events, which mark it themselves)
  if req.method ~= "GET" and req.method ~= "HEAD" then self.dirty = true end
  if not ok then
    local rid = "req_unavailable"
    if self.opts.log then self.opts.log("sandbox internal error: " .. tostring(resp)) end
    resp = http.error_response(http.new_error(500, "internal_error", "Internal error in the sandbox."), rid)
  end
  if self.opts.log and (self.opts.log_level or 1) >= 1 and resp.action ~= "delay" then
    local status = resp.action == "reset" and "reset" or string.format("%d", resp.status)
    self.opts.log(string.format("%s %s %s %dms %s", req.method, req.path, status,
      math.floor((self.wall() - t0) * 1000 + 0.5), resp.headers and resp.headers["X-Request-Id"] or "-"))
  end
  return resp
end

return M
