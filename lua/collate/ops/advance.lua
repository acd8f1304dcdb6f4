-- advance: moves every due case of a store as far as it can go now, records when to look at it
-- next, and never waits on a payer. One pass leases the due cases (at most `concurrency` in
-- flight), and for each: creates it (with the idempotency key the store committed at import),
-- or re-reads it; then follows nextAction with workflow.drive(poll = false) and the rules until
-- the API owns the next step, a person must decide, or it is terminal.
--
-- When to look next (seconds of the API's clock; docs/operations.md):
--   processing        5 s, doubling with every look that finds no change, at most 300 s
--   waiting_on_payer  30 s, doubling likewise (a payer that takes days costs ~1 look an hour)
--   waiting on a person  re-read every person_interval (a snapshot may go stale meanwhile)
--   an error the API may get over (5xx, 429, network): Retry-After if given, else 30 s doubling
--   an error it cannot (4xx other than 408/429, bad data, a rules error): `failed`, not retried
--   until --retry-failed
local collate = require "collate"
local errors = require "collate.errors"
local workflow = require "collate.workflow"
local cases = require "collate.ops.cases"
local store_mod = require "collate.ops.store"
local core = require "collate.core"

local NULL = store_mod.NULL

local M = {}

M.INTERVALS = { processing = 5, waiting_on_payer = 30 }
M.CAPS = { processing = 300 } -- Collate's own steps take seconds to minutes: look at least every 5 min
M.MAX_INTERVAL = 3600
M.PERSON_INTERVAL = 3600
M.RETRY_INTERVAL = 30
M.MAX_CONFLICTS = 3 -- a version_conflict / review_stale that keeps coming back is failed
M.COMMIT_EVERY = 0.1 -- seconds between two commits of a run (each is an fsync with sqlite)

function M.interval(status, looks, max)
  local base = M.INTERVALS[status] or M.RETRY_INTERVAL
  return math.min(base * 2 ^ math.min(looks or 0, 30), M.CAPS[status] or max or M.MAX_INTERVAL, max or M.MAX_INTERVAL)
end

-- RFC 3339 timestamp -> epoch seconds (UTC), or nil
function M.epoch(ts)
  if type(ts) ~= "string" then return nil end
  local y, mo, d, h, mi, s, frac, zone = ts:match("^(%d+)-(%d+)-(%d+)[Tt ](%d+):(%d+):(%d+)(%.?%d*)(.*)$")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  -- days from civil (Howard Hinnant), no os.time and its local time zone
  local yy = mo <= 2 and y - 1 or y
  local era = (yy >= 0 and yy or yy - 399) // 400
  local yoe = yy - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  local t = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) + (tonumber("0" .. frac) or 0)
  local sign, zh, zm = zone:match("^([+-])(%d%d):?(%d%d)$")
  if sign then
    local off = tonumber(zh) * 3600 + tonumber(zm) * 60
    t = sign == "+" and t - off or t + off
  end
  return t
end

-- A client whose calls are counted (requests per case): the same namespaces, each function
-- wrapped.
local function counting(client, counter)
  local function wrap(t)
    return setmetatable({}, { __index = function(self, k)
      local v = t[k]
      if type(v) == "function" then
        local f = function(...)
          counter.n = counter.n + 1
          return v(...)
        end
        rawset(self, k, f)
        return f
      elseif type(v) == "table" then
        local w = wrap(v)
        rawset(self, k, w)
        return w
      end
      return v
    end })
  end
  return wrap(client)
end

local function action_of(auth)
  return auth.next_action and auth.next_action.type or nil
end

local function state_name(status, action)
  if action then return status .. ":" .. action end
  return status
end

-- What a person is asked, kept with the case for status --needs-me.
local function person_detail(auth, why)
  local action = action_of(auth)
  local d = { action = action, why = why, version = auth.version }
  if action == "approve_submission" then
    local snap = auth.submission and auth.submission.review_snapshot
    if snap then
      d.snapshot = snap.id
      local s = snap.summary or {} -- free-form: its keys stay as the API sent them (camelCase)
      local code = s.serviceCode or s.service_code
      d.summary = { payer = s.payerDisplayName or s.payer_display_name or s.payerId, member = s.memberId or s.member_id,
                    service = type(code) == "table" and ((code.system or "") .. " " .. (code.code or "")) or nil,
                    documents = s.documentTypes or s.document_types }
      d.warnings = {}
      for i, w in ipairs(snap.warnings or {}) do d.warnings[i] = w.code end
    end
  elseif action == "complete_payer_interaction" then
    d.portal = auth.route and auth.route.label
    d.snapshot = auth.next_action.covers and auth.next_action.covers.review_snapshot_id
    if auth.active_manual_handoff then d.handoff = auth.active_manual_handoff.id end
  elseif action == "resolve_requirements" then
    local open = workflow.open_requirements(auth)
    d.questions, d.documents = open.questions, open.documents
    d.issues = {}
    for i, issue in ipairs(open.errors) do d.issues[i] = (issue.field or "") .. ": " .. (issue.message
      or issue.code) end
  end
  return d
end

-- The drive() handlers for one case: answers from the CSV and the rules, documents and
-- approvals from the rules, or from a person's decision (decision = {approve = true} or
-- {handoff = outcome}).
local function handlers(ctx, case, client, decision, notes)
  local rules = ctx.rules
  local sent, attached = {}, {}
  local h = {}
  local rcase = { id = case.id, payer = case.payer, code = case.code, input = case.input,
                  answers = case.input.answers or {} }
  function h.resolve_requirements(auth, open)
    local all = {}
    for k, v in pairs(case.input.answers or {}) do all[k] = v end
    for k, v in pairs(rules:answers(rcase, open) or {}) do all[k] = v end
    local want = {}
    for _, link in ipairs(open.questions) do
      if not sent[link] then want[#want + 1] = link end
    end
    for _, issue in ipairs(open.errors) do if issue.field then sent[issue.field] = true end end
    local changed = false
    if #want > 0 then
      local flat, err = cases.answers_for(auth, all, want)
      if not flat then error(errors.invalid_argument(err), 0) end
      if next(flat) then
        for link in pairs(flat) do sent[link] = true end
        auth = client.authorizations.answers.patch{ authorization_id = auth.id, if_match = auth.version,
          answers = workflow.answers(auth, flat) }
        notes.emit({ kind = "answered", detail = { links = want } })
        changed = true
        open = workflow.open_requirements(auth)
      end
    end
    local types = {}
    for _, t in ipairs(open.documents) do if not attached[t] then types[#types + 1] = t end end
    if #types > 0 then
      local docs = rules:documents(rcase, types)
      for _, doc in ipairs(docs or {}) do
        for _, t in ipairs(doc.document_types or types) do attached[t] = true end
        auth = workflow.attach(client, auth, { path = doc.path, data = doc.data, file_name = doc.file_name,
          content_type = doc.content_type, document_types = doc.document_types or types,
          description = doc.description or "attached by advance" })
        notes.emit({ kind = "attached", detail = { types = doc.document_types or types } })
        changed = true
      end
    end
    return changed and auth or nil
  end
  function h.continue_authorization(a)
    return rules:confirm(rcase, a)
  end
  function h.approve_submission(_, snapshot)
    if decision and decision.approve then
      notes.emit({ kind = "approved", detail = { snapshot = snapshot.id }, actor = decision.actor })
      return decision.snapshot or true
    end
    if decision then return false end -- a person's command acts only on what they decided
    local ok, why = rules:approve(rcase, snapshot)
    if ok then notes.emit({ kind = "approved", detail = { snapshot = snapshot.id } }) end
    if not ok then notes.why = why end
    return ok
  end
  function h.complete_payer_interaction(auth)
    local outcome
    if decision and decision.handoff then
      outcome = decision.handoff
    elseif not decision then
      outcome = rules:handoff(rcase, auth.next_action)
    end
    if not outcome then
      notes.why = notes.why or "no rule completes manual handoffs"
      return nil
    end
    notes.emit({ kind = "handoff_completed", detail = { outcome = outcome } })
    return workflow.manual_handoff(client, auth, { outcome = outcome, reference_number = decision
      and decision.reference })
  end
  return h
end

-- classify(err) -> "retry", seconds | "failed" | "fatal"
-- 409s that a later look resolves: the state moved under us (a handoff abandoned while the
-- grant was queued, a version or snapshot replaced); re-read and follow the new state, at most
-- MAX_CONFLICTS times in a row
local RETRY_CODES = { version_conflict = true, review_stale = true, requirements_not_satisfied = true,
                      prior_authorization_not_actionable = true, upload_already_used = true,
                      live_session_not_available = true, manual_handoff_not_allowed = true }
function M.classify(err)
  if not errors.is_error(err) then return "failed" end
  if err.kind == "api" then
    local s = err.status_code or 0
    if s == 401 or s == 403 then return "fatal" end
    if s == 408 or s == 429 or s >= 500 or err.retryable then return "retry", err.retry_after end
    if RETRY_CODES[err.code] then return "conflict" end
    return "failed"
  end
  if err.kind == "invalid_argument" or err.kind == "io" then return "failed" end
  if err.kind == "canceled" then return "retry" end
  return "retry" -- connection, timeout, tls, decode: the next look may fare better
end

local function message(err)
  local s = tostring(err)
  if #s > 500 then s = s:sub(1, 500) .. "..." end
  return s
end

-- step(ctx, case, decision) -> result {status, waiting_for, ...}; writes the case to the store.
-- ctx: client, store, rules, owner, actor, now() (API clock), lease, stats, max_interval
function M.step(ctx, case, decision)
  local counter = { n = 0 }
  local client = counting(ctx.client, counter)
  local now = ctx.now()
  local actor = decision and decision.actor or ctx.actor or "rules"
  local events, fields = {}, {}
  local last = { status = case.status, action = case.next_action }
  local function transition(auth, who, kind)
    local a = action_of(auth)
    if auth.status ~= last.status or a ~= last.action then
      events[#events + 1] = { actor = who, kind = kind or "transition", from = state_name(last.status, last.action),
        to = state_name(auth.status, a), at = now, detail = auth.outcome and { outcome = auth.outcome } or nil }
      last.status, last.action = auth.status, a
    end
  end
  local notes = {}
  function notes.emit(n)
    events[#events + 1] = { actor = n.actor or actor, kind = n.kind, at = now, detail = n.detail }
  end
  local ok, err = pcall(function()
    local auth
    if not case.auth_id then
      local params = cases.create_params(case)
      params.idempotency_key = case.idem_key
      auth = client.authorizations.create(params)
      events[#events + 1] = { actor = actor, kind = "created", from = "new", to = state_name(auth.status,
        action_of(auth)),
        at = now, detail = { authorization = auth.id } }
      last.status, last.action = auth.status, action_of(auth)
      fields.auth_id = auth.id
      fields.created_at = M.epoch(auth.created_at) or now
      -- the ID is kept at once: a crash from here on re-reads instead of replaying the create
      ctx.store:save(case.id, ctx.owner, { auth_id = auth.id, created_at = fields.created_at,
        status = auth.status, version = auth.version }, events,
        { keep_lease = true, now = now, seconds = ctx.lease, defer = ctx.defer })
      events = {}
    else
      auth = client.authorizations.retrieve{ authorization_id = case.auth_id }
      transition(auth, "api", "observed")
    end
    local before = auth.version
    local final, why = workflow.drive(client, auth, handlers(ctx, case, client, decision, notes), {
      poll = false, stats = ctx.stats,
      on_change = function(a) transition(a, actor) end })
    transition(final, actor)
    local changed = final.version ~= case.version or before ~= final.version
    fields.status, fields.version = final.status, final.version
    fields.next_action = action_of(final) or NULL
    fields.outcome = final.outcome or NULL
    fields.attempts, fields.last_error = 0, NULL
    fields.person = NULL
    if why == "terminal" then
      fields.waiting_for, fields.next_look = NULL, NULL
      fields.decided_at = M.epoch(final.completed_at or final.canceled_at) or now
    elseif why == "waiting" then
      fields.looks = changed and 0 or (case.looks or 0) + 1
      fields.waiting_for = final.status == "waiting_on_payer" and "payer" or "collate"
      fields.next_look = now + M.interval(final.status, fields.looks, ctx.max_interval) / (ctx.scale or 1)
    else -- needs_caller: a person decides
      fields.waiting_for = "person:" .. tostring(action_of(final))
      fields.person = person_detail(final, notes.why)
      fields.looks = 0
      fields.next_look = now + (ctx.person_interval or M.PERSON_INTERVAL) / (ctx.scale or 1)
      if last.waiting ~= fields.waiting_for and case.waiting_for ~= fields.waiting_for then
        events[#events + 1] = { actor = "rules", kind = "needs_person", at = now,
          detail = { action = action_of(final), why = notes.why } }
      end
    end
  end)
  if not ok then
    local class, retry_after = M.classify(err)
    if class == "fatal" then
      ctx.store:save(case.id, ctx.owner, { last_error = message(err) }, {}, { now = now })
      error(err, 0)
    end
    local attempts = (case.attempts or 0) + 1
    fields.attempts, fields.last_error = attempts, message(err)
    if class == "conflict" and attempts > M.MAX_CONFLICTS then class = "failed" end
    if class == "failed" then
      events[#events + 1] = { actor = actor, kind = "failed", from = state_name(last.status, last.action),
        to = "failed", at = now, detail = { error = message(err) } }
      fields.status, fields.waiting_for, fields.next_look = "failed", NULL, NULL
    else
      events[#events + 1] = { actor = actor, kind = "error", at = now, detail = { error = message(err),
        attempt = attempts } }
      fields.waiting_for = "retry"
      local backoff = math.min(M.RETRY_INTERVAL * 2 ^ (attempts - 1), ctx.max_interval
        or M.MAX_INTERVAL) / (ctx.scale or 1)
      fields.next_look = now + (retry_after or backoff)
    end
  end
  fields.requests = (case.requests or 0) + counter.n
  local saved = ctx.store:save(case.id, ctx.owner, fields, events, { now = now, defer = ctx.defer })
  return { id = case.id, status = fields.status or case.status, outcome = fields.outcome ~= NULL
    and fields.outcome or nil,
           waiting_for = fields.waiting_for ~= NULL and fields.waiting_for or nil, error = not ok
             and message(err) or nil,
           lost = not saved, requests = counter.n }
end

-- plan(ctx, case) -> what a pass would do with the case, from the store alone (--dry-run sends nothing)
function M.plan(ctx, case)
  if not case.auth_id then return "create (idempotency key kept in the store)" end
  local action = case.next_action
  if case.status == "requires_action" then
    if action == "approve_submission" then
      local rcase = { id = case.id, payer = case.payer, code = case.code, input = case.input }
      local ok, why = ctx.rules:approve(rcase, { warnings = {}, summary = {} })
      return ok and "re-read, then approve the review snapshot (rules)" or ("re-read; wait for a person: "
        .. tostring(why))
    elseif action == "complete_payer_interaction" then
      local rcase = { id = case.id, payer = case.payer, code = case.code, input = case.input }
      local outcome = ctx.rules:handoff(rcase, {})
      return outcome and ("re-read, then complete the manual handoff as " .. outcome)
        or "re-read; wait for a person (handoff)"
    end
    return "re-read, then " .. tostring(action)
  end
  return "re-read (" .. tostring(case.status) .. ")"
end

-- run(ctx, o) -> summary {passes, steps, by_status, longest_pass, failed = {...}}
-- o: concurrency, max_connections, wait (seconds), watch, lease (seconds), progress,
--    stopping() (a clean stop was asked), dry_run, on_step(result)
function M.run(ctx, o)
  local store = ctx.store
  local summary = { steps = 0, passes = 0, results = {}, longest_pass = 0, errors = 0 }
  local concurrency = o.concurrency or 16
  local function stopping() return o.stopping and o.stopping() end
  if o.dry_run then
    for _, case in ipairs(store:cases{ open = true }) do
      if case.next_look and case.next_look <= ctx.now() + (o.wait or 0) then
        summary.results[#summary.results + 1] = { id = case.id, status = case.status, plan = M.plan(ctx, case) }
      end
    end
    return summary
  end
  ctx.defer = true
  collate.run(function()
    local n_inflight = 0
    local last_renew = os.time()
    local pass_started = nil
    local finished, last_lease = 1, -math.huge
    while true do
      if stopping() then break end
      local now = ctx.now()
      local due, lost = {}, {}
      -- One commit (one fsync) at most every COMMIT_EVERY seconds carries the saves of every
      -- step that ended meanwhile and leases the cases due now; a commit blocks the scheduler.
      local t = core.now()
      if (finished > 0 and t - last_lease >= M.COMMIT_EVERY) or t - last_lease >= 0.25 or n_inflight == 0 then
        due, lost = store:lease(ctx.owner, now, concurrency - n_inflight, { seconds = ctx.lease })
        finished, last_lease = 0, t
      end
      for _, id in ipairs(lost) do summary.lost = (summary.lost or 0) + 1 summary.results[id] = nil end
      if #due > 0 and not pass_started then pass_started = core.now() end
      for _, case in ipairs(due) do
        n_inflight = n_inflight + 1
        collate.spawn(function()
          local ok, r = pcall(M.step, ctx, case)
          n_inflight = n_inflight - 1
          finished = finished + 1
          summary.steps = summary.steps + 1
          if not ok then
            summary.fatal = summary.fatal or r
          else
            summary.results[case.id] = r
            if r.error then summary.errors = summary.errors + 1 end
            if o.on_step then o.on_step(r) end
          end
        end)
      end
      if summary.fatal then break end
      local wall = os.time()
      if wall - last_renew >= (ctx.lease or 60) / 3 then
        store.db:exec("UPDATE cases SET lease_until = ? WHERE lease_owner = ?", wall + (ctx.lease or 60), ctx.owner)
        last_renew = wall
      end
      if n_inflight == 0 and #due == 0 and not store:has_pending() then
        if pass_started then
          summary.passes = summary.passes + 1
          local took = core.now() - pass_started
          if took > summary.longest_pass then summary.longest_pass = took end
          pass_started = nil
        end
        local next_due = store:next_due()
        local until_next = next_due and (next_due - now) or math.huge
        if not o.watch and until_next > (o.wait or 0) then break end
        -- sleep until the next due case (API seconds over the clock's speed), at most 1 s at a
        -- time so that a stop, new cases and another worker's released leases are seen
        local pause = math.max(0.002, math.min(until_next / (ctx.speed or 1), o.watch and 1 or (o.wait or 0) + 0.05, 1))
        collate.sleep(pause)
        finished = 1
      elseif #due == 0 or n_inflight >= concurrency then
        collate.sleep(0.002)
      end
    end
    -- a clean stop: let the steps in flight finish (each is short: no step waits on a payer)
    while n_inflight > 0 do collate.sleep(0.01) end
    store:flush()
  end, { max_connections = o.max_connections })
  store:flush()
  store:release(ctx.owner)
  if summary.fatal then error(summary.fatal, 0) end
  return summary
end

return M
