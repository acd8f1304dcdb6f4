-- Authorizations: creation, the read model (§3.1), client writes (§2.5 – §2.10), the server-side
-- transitions fired by the clock (§4.3, §6.3) and forced payer events (§6.6.2).
local json = require "collate.sandbox.json"
local http = require "collate.sandbox.http"
local Q = require "collate.sandbox.questionnaire"
local catalog = require "collate.sandbox.catalog"
local scenarios = require "collate.sandbox.scenarios"

local A = {}

A.STEP = 5
A.DECISION = 60
A.ABANDON = 1800

local RA, P, W, C, X = "requires_action", "processing", "waiting_on_payer", "completed", "canceled"
A.RA, A.P, A.W, A.C, A.X = RA, P, W, C, X

local RESOLUTION = {
  resolve_requirements = "update_authorization", continue_authorization = "confirm",
  approve_submission = "confirm", complete_payer_interaction = "manual_handoff",
}

local function arr(list)
  local out = json.array({})
  for i, v in ipairs(list or {}) do out[i] = v end
  return out
end

local function touch(a, t)
  a.version = a.version + 1
  a.updated_at = t
end
A.touch = touch

---------------------------------------------------------------------------------------------------
-- Requirements

-- required_docs: {type, after}: met by an attachment of that type added after sequence `after`
-- (0 for the scenario's documents; the request's sequence for payer-requested ones, so a file
-- attached before the payer asked does not answer the request).
local function covered(a, doc)
  for _, att in ipairs(a.attachments) do
    if att.seq > doc.after then
      for _, d in ipairs(att.documentTypes) do
        if d == doc.type then return true end
      end
    end
  end
  return false
end

-- Recomputes requirements; bumps requirements.version when the content changes. Returns blockers.
local function recompute(a)
  local questions, issues = Q.requirements(a.store)
  local documents = {}
  local open = false
  for _, d in ipairs(a.required_docs) do
    if not covered(a, d) then
      documents[#documents + 1] = { type = d.type, message = "Document required: " .. d.type .. "." }
      if d.after > 0 then open = true end
    end
  end
  if a.payer_request then
    if open then
      issues[#issues + 1] = { code = "payer_requested_information", message = a.payer_request.message,
        field = json.null, severity = "warning" }
    else
      a.payer_request = nil
    end
  end
  local content = { questions = questions, documents = documents, issues = issues }
  local key = json.encode(content)
  if a.req_key ~= key then
    if a.req_key ~= nil then a.req_version = a.req_version + 1 end
    a.req_key = key
  end
  a.req = content
  local blockers = #questions > 0 or #documents > 0
  for _, i in ipairs(issues) do if i.severity == "error" then blockers = true end end
  return blockers
end
A.recompute = recompute

local function settle_action(a)
  local blockers = recompute(a)
  a.status = RA
  a.action = blockers and "resolve_requirements" or "continue_authorization"
end

---------------------------------------------------------------------------------------------------
-- Create

function A.member_id_of(answers)
  if json.typeof(answers) ~= "object" or json.typeof(answers.item) ~= "array" then return nil end
  for _, it in ipairs(answers.item) do
    if it.linkId == "coverage.memberId" and json.typeof(it.answer) == "array" and it.answer[1] then
      local v = it.answer[1].valueString
      if type(v) == "string" then return v end
    end
  end
end

function A.create(st, body, now)
  local r = body.request
  local provider, payer = catalog.resolve(body.providerNpi, r.payerId, r.coverageState, r.requestType,
    r.serviceCode.system)
  local scenario = scenarios.by_member(A.member_id_of(body.answers)) or scenarios.DEFAULT
  local a = {
    id = st.ids:next("auth_"), version = 1, status = RA, policy = body.policy.finalSubmission,
    npi = provider.npi, payer_id = payer.id,
    request = { payerId = r.payerId, coverageState = r.coverageState, requestType = r.requestType,
      serviceCode = { system = r.serviceCode.system, code = r.serviceCode.code } },
    route_label = catalog.label(payer, r.coverageState, r.requestType),
    store = {}, req_version = 1, answers_version = 1, attachments_version = 1,
    attachments = {}, required_docs = {}, receipts = 0, boundary = "not_crossed",
    metadata = body.metadata and json.copy(body.metadata) or json.object({}),
    created_at = now, updated_at = now, scenario = scenario, handoffs = {},
  }
  for _, d in ipairs(scenario.documents) do a.required_docs[#a.required_docs + 1] = { type = d, after = 0 } end
  if body.answers then Q.merge(a.store, body.answers.item) end
  settle_action(a)
  st.auths[a.id] = a
  st.auth_list[#st.auth_list + 1] = a
  return a
end

---------------------------------------------------------------------------------------------------
-- Rendering

local function render_attachment(st, att)
  return {
    id = att.id, fileId = att.fileId, documentTypes = arr(att.documentTypes), label = att.label or json.null,
    description = att.description or json.null, createdAt = st.fmt(att.created_at),
  }
end
A.render_attachment = render_attachment

local function render_snapshot(st, a, s)
  return {
    id = s.id, status = s.status, kind = "final_payer_submission", generatedAt = st.fmt(s.generated_at),
    covers = json.copy(s.covers), summary = json.copy(s.summary), answers = json.copy(s.answers),
    attachments = json.copy(s.attachments), warnings = json.copy(s.warnings),
    transparency = { liveSessionEndpoint = "/v1/prior-authorizations/" .. a.id .. "/live-session" },
  }
end

local function render_requirements(a)
  local q, d, i = json.array({}), json.array({}), json.array({})
  for k, v in ipairs(a.req.questions) do q[k] = { linkId = v.linkId, message = v.message } end
  for k, v in ipairs(a.req.documents) do d[k] = { type = v.type, message = v.message } end
  for k, v in ipairs(a.req.issues) do
    i[k] = { code = v.code, message = v.message, field = v.field, severity = v.severity }
  end
  return { version = a.req_version, questions = q, documents = d, issues = i }
end

local function snapshot_to_name(a)
  if a.action == "approve_submission" then return a.snapshot and a.snapshot.id or json.null end
  if a.action == "complete_payer_interaction" then return a.cpi_snapshot or json.null end
  return json.null
end

local function render_receipt(st, r)
  if not r then return json.null end
  return { referenceNumber = r.referenceNumber, receivedAt = st.fmt(r.received_at), channel = r.channel }
end

local function render_decision(st, d)
  if not d then return json.null end
  local out = json.copy(d.wire)
  out.receivedAt = st.fmt(d.received_at)
  return out
end

function A.render(st, a)
  local attachments = json.array({})
  for i, att in ipairs(a.attachments) do attachments[i] = render_attachment(st, att) end
  local next_action = json.null
  if a.status == RA then
    next_action = {
      type = a.action, resolution = { kind = RESOLUTION[a.action] },
      covers = {
        priorAuthorizationVersion = a.version, requirementsVersion = a.req_version,
        answersVersion = a.answers_version, attachmentsVersion = a.attachments_version,
        reviewSnapshotId = snapshot_to_name(a),
      },
    }
  end
  local h = a.handoff
  return {
    id = a.id, version = a.version, status = a.status, outcome = a.outcome or json.null,
    policy = { finalSubmission = a.policy }, providerNpi = a.npi,
    payer = catalog.render_payer(catalog.payer(a.payer_id)),
    request = json.copy(a.request),
    route = { channel = "portal", accessMode = "collate_managed", label = a.route_label },
    questionnaire = Q.render(), answers = Q.render_answers(a.store), requirements = render_requirements(a),
    attachments = attachments,
    submission = {
      reviewSnapshot = a.snapshot and render_snapshot(st, a, a.snapshot) or json.null,
      payerReceipt = render_receipt(st, a.receipt),
      decision = render_decision(st, a.decision),
    },
    nextAction = next_action,
    activeManualHandoff = (h and h.state ~= "closed") and { id = h.id, state = h.state, version = h.version }
      or json.null,
    metadata = json.copy(a.metadata),
    createdAt = st.fmt(a.created_at), updatedAt = st.fmt(a.updated_at),
    completedAt = a.completed_at and st.fmt(a.completed_at) or json.null,
    canceledAt = a.canceled_at and st.fmt(a.canceled_at) or json.null,
  }
end

---------------------------------------------------------------------------------------------------
-- Snapshots

local function make_snapshot(st, a, t)
  local doc_types, seen = json.array({}), {}
  for _, att in ipairs(a.attachments) do
    for _, d in ipairs(att.documentTypes) do
      if not seen[d] then
        seen[d] = true
        doc_types[#doc_types + 1] = d
      end
    end
  end
  local payer = catalog.payer(a.payer_id)
  local atts = json.array({})
  for i, att in ipairs(a.attachments) do atts[i] = render_attachment(st, att) end
  local warnings = json.array({})
  if a.scenario.safety_gate then
    warnings[1] = { code = "sandbox_final_submit_gate",
      message = "The sandbox stops this submission for approval despite the automatic policy." }
  end
  a.snapshot = {
    id = st.ids:next("rev_"), status = "current", generated_at = t,
    covers = { priorAuthorizationVersion = a.version, requirementsVersion = a.req_version,
      answersVersion = a.answers_version, attachmentsVersion = a.attachments_version },
    summary = {
      providerNpi = a.npi, payerId = a.payer_id, payerDisplayName = payer.displayName,
      coverageState = a.request.coverageState, requestType = a.request.requestType,
      serviceCode = json.copy(a.request.serviceCode),
      memberId = Q.value(a.store, "coverage.memberId") or json.null, documentTypes = doc_types,
    },
    answers = Q.render_answers(a.store), attachments = atts, warnings = warnings,
  }
  return a.snapshot
end

local function stale_snapshot(a)
  if a.snapshot and a.snapshot.status == "current" then a.snapshot.status = "stale" end
end

---------------------------------------------------------------------------------------------------
-- Checks shared by writes

function A.check_mutable(a)
  if a.status ~= RA or a.action == "complete_payer_interaction" then
    http.fail(409, "prior_authorization_not_mutable",
      "The authorization cannot be changed in its current state (" .. a.status .. ").")
  end
end

-- After an accepted answers/attachment write: stale snapshot, requirements, action RR or CA.
local function after_write(a, now)
  stale_snapshot(a)
  a.cpi_snapshot = nil
  settle_action(a)
  touch(a, now)
end

function A.patch_answers(_, a, answers, now)
  A.check_mutable(a)
  Q.merge(a.store, answers.item)
  a.answers_version = a.answers_version + 1
  after_write(a, now)
end

function A.add_attachment(st, a, f, body, now)
  local att = {
    id = st.ids:next("att_"), fileId = f.id, documentTypes = {}, label = f.fileName,
    description = body.description, created_at = now,
  }
  st.seq = st.seq + 1
  att.seq = st.seq
  for i, d in ipairs(body.documentTypes) do att.documentTypes[i] = d end
  a.attachments[#a.attachments + 1] = att
  a.attachments_version = a.attachments_version + 1
  after_write(a, now)
end

function A.find_attachment(a, att_id)
  for i, att in ipairs(a.attachments) do
    if att.id == att_id then return att, i end
  end
end

function A.remove_attachment(_, a, index, now)
  table.remove(a.attachments, index)
  a.attachments_version = a.attachments_version + 1
  after_write(a, now)
end

---------------------------------------------------------------------------------------------------
-- Confirm and cancel

local function doc_list(a)
  local out = json.array({})
  for i, d in ipairs(a.req.documents) do out[i] = d.type end
  return out
end

function A.confirm(st, a, body, now)
  if a.status ~= RA or a.action == "complete_payer_interaction" then
    http.fail(409, "prior_authorization_not_actionable", "Nothing to confirm in the current state.")
  end
  if a.action == "resolve_requirements" then
    local qs = json.array({})
    for i, q in ipairs(a.req.questions) do qs[i] = q.linkId end
    http.fail(409, "requirements_not_satisfied", "Open requirements remain; answer and attach before confirming.",
      { questions = qs, documents = doc_list(a) })
  end
  if a.action == "approve_submission" then
    local s = a.snapshot
    local sent = body and body.acceptedReviewSnapshotId
    if not s or s.status ~= "current" or sent ~= s.id then
      http.fail(409, "review_stale", "Confirm with the current review snapshot.",
        { currentReviewSnapshotId = (s and s.status == "current") and s.id or json.null })
    end
    s.status = "accepted"
    a.boundary = "crossed"
    a.status = P
    a.action = nil
    a.phase = "submission"
    st.clock:schedule(now + A.STEP, a.id, "submission_step")
    touch(a, now)
    return
  end
  -- continue_authorization
  a.status = P
  a.action = nil
  a.phase = "discovery"
  if a.scenario.live then a.live = true end
  st.clock:schedule(now + (a.scenario.discovery_seconds or A.STEP), a.id, "discovery_step")
  touch(a, now)
end

local function revoke_grants(st, pred)
  for _, g in pairs(st.grants) do
    if not g.revoked and pred(g) then g.revoked = true end
  end
end
A.revoke_grants = revoke_grants

function A.cancel(st, a, now, reason)
  if a.status == C or a.status == X then
    http.fail(409, "prior_authorization_not_mutable", "The authorization is already " .. a.status .. ".")
  end
  a.cancel_reason = reason -- kept for audit, not echoed
  a.status = X
  a.action = nil
  a.outcome = nil
  a.canceled_at = now
  a.live = false
  a.phase = nil
  st.clock:cancel_for(a.id)
  local h = a.handoff
  if h and h.state ~= "closed" then
    h.state = "closed"
    h.result = h.result or "canceled"
    h.closed_at = now
    h.version = h.version + 1
    h.accessAvailable = false
    if h.reconciliation then h.reconciliation.state = "completed" end
  end
  revoke_grants(st, function(g) return g.auth_id == a.id end)
  touch(a, now)
end

---------------------------------------------------------------------------------------------------
-- Server-side transitions

local function code8(st, prefix)
  return st.ids:next(prefix):sub(#prefix + 1, #prefix + 8):upper()
end

local function set_receipt(st, a, t, ref, channel)
  a.receipt = { referenceNumber = ref or ("SBX-RCPT-" .. code8(st, "rcpt_")), received_at = t,
    channel = channel or "portal" }
  a.receipts = a.receipts + 1
  a.boundary = "crossed"
end

local function schedule_payer_event(st, a, t)
  local s = a.scenario
  if s.info_request and a.receipts == 1 then
    st.clock:schedule(t + s.info_request.seconds, a.id, "payer_information_request")
  else
    local override = st.payer_timing and st.payer_timing[a.payer_id] -- POST /_sandbox/payer-timing
    st.clock:schedule(t + (override or s.decision_seconds or A.DECISION), a.id, "payer_decision")
  end
end

local function add_days(date, days)
  local timefmt = require "collate.sandbox.timefmt"
  local e = timefmt.date_to_epoch(date)
  if not e then return nil end
  return timefmt.format_date(e + days * 86400)
end

local function complete(a, outcome, t, decision)
  a.status = C
  a.outcome = outcome
  a.action = nil
  a.phase = nil
  a.live = false
  a.completed_at = t
  a.decision = decision
  touch(a, t)
end

-- decision wire fields for an outcome; `f` overrides (forced events)
local function make_decision(st, a, outcome, t, f)
  f = f or {}
  local start = Q.value(a.store, "service.startDate") or st.fmt_date(t)
  local wire = {
    authorizationNumber = json.null, payerStatusText = json.null, effectiveFrom = json.null,
    effectiveTo = json.null, modifications = json.array({}), denialReasons = json.array({}),
    details = json.object({}),
  }
  if outcome == "approved" or outcome == "modified" then
    wire.authorizationNumber = f.authorizationNumber or ("SBX-AUTH-" .. code8(st, "authno_"))
    wire.payerStatusText = f.payerStatusText or (outcome == "approved" and "Approved" or "Approved with modifications")
    wire.effectiveFrom = f.effectiveFrom or start
    wire.effectiveTo = f.effectiveTo or add_days(start, 180) or json.null
  end
  if outcome == "modified" then
    if f.modifications then
      wire.modifications = json.copy(f.modifications)
    else
      local units = Q.value(a.store, "service.units") or 2
      local approved = math.max(1, math.floor(units / 2))
      wire.modifications = json.array({ { field = "service.units", requestedValue = string.format("%d", units),
        approvedValue = string.format("%d", approved), message = "Approved units reduced." } })
    end
  elseif outcome == "denied" then
    wire.payerStatusText = f.payerStatusText or "Denied"
    wire.denialReasons = f.denialReasons and json.copy(f.denialReasons) or json.array({
      { code = "medical_necessity_not_met", message = "The documentation does not establish medical necessity." } })
  end
  return { received_at = t, wire = wire }
end
A.make_decision = make_decision

local function needs_approval(a)
  return a.policy == "requires_approval" or a.scenario.safety_gate
end
A.needs_approval = needs_approval

local function end_live(st, a)
  if a.live then
    a.live = false
    revoke_grants(st, function(g) return g.auth_id == a.id and g.kind == "live" end)
  end
end

local handlers = {}

handlers.discovery_step = function(st, a, t)
  end_live(st, a)
  local s = a.scenario
  if s.discovery == "not_required" then return complete(a, "not_required", t, nil) end
  if s.discovery == "failed" then return complete(a, "failed", t, nil) end
  if s.discovery == "handoff" then
    a.status = RA
    a.action = "complete_payer_interaction"
    a.phase = nil
    touch(a, t)
    if a.policy == "requires_approval" then
      make_snapshot(st, a, t)
      a.cpi_snapshot = a.snapshot.id
    end
    return
  end
  if needs_approval(a) then
    a.status = RA
    a.action = "approve_submission"
    a.phase = nil
    touch(a, t)
    make_snapshot(st, a, t)
    return
  end
  a.phase = "submission"
  a.boundary = "crossed"
  st.clock:schedule(t + A.STEP, a.id, "submission_step")
  touch(a, t)
end

handlers.submission_step = function(st, a, t)
  set_receipt(st, a, t)
  a.status = W
  a.phase = nil
  schedule_payer_event(st, a, t)
  touch(a, t)
end

handlers.payer_decision = function(st, a, t)
  local outcome = a.scenario.outcome or "approved"
  complete(a, outcome, t, make_decision(st, a, outcome, t))
end

local function information_request(st, a, t, types, message)
  st.seq = st.seq + 1
  for _, d in ipairs(types) do
    local found = false
    for _, x in ipairs(a.required_docs) do
      if x.type == d then
        x.after = st.seq
        found = true
      end
    end
    if not found then a.required_docs[#a.required_docs + 1] = { type = d, after = st.seq } end
  end
  a.payer_request = { types = types, message = message }
  settle_action(a)
  touch(a, t)
end

handlers.payer_information_request = function(st, a, t)
  local ir = a.scenario.info_request or { types = { "letter_of_medical_necessity" },
    message = "Please provide a letter of medical necessity." }
  information_request(st, a, t, ir.types, ir.message)
end

handlers.reconciliation_step = function(st, a, t)
  local h = a.handoff
  h.state = "closed"
  h.closed_at = t
  h.version = h.version + 1
  h.reconciliation.state = "completed"
  local res, outcome = h.result, h.reported_outcome
  if res == "completed_reported" and outcome == "submitted" then
    set_receipt(st, a, t, h.reference)
    a.status = W
    a.phase = nil
    schedule_payer_event(st, a, t)
    touch(a, t)
  elseif res == "completed_reported" and outcome == "decision_observed" then
    a.boundary = "crossed"
    local o = a.scenario.outcome or "approved"
    complete(a, o, t, make_decision(st, a, o, t))
  elseif res == "completed_reported" and outcome == "not_required_observed" then
    a.boundary = a.receipt and "crossed" or "not_crossed"
    complete(a, "not_required", t, nil)
  elseif res == "unable_to_complete" or res == "revoked" then
    a.boundary = a.receipt and "crossed" or "not_crossed"
    complete(a, "failed", t, nil)
  else -- follow_up_required_observed, expired: offered again
    a.status = RA
    a.action = "complete_payer_interaction"
    a.phase = nil
    a.cpi_snapshot = nil
    a.boundary = a.receipt and "crossed" or "not_crossed"
    touch(a, t)
  end
end

handlers.handoff_abandonment = function(st, a, t)
  A.close_handoff(st, a, "expired", t)
end

function A.fire(st, ev)
  local a = st.auths[ev.auth_id]
  if not a then return end
  local h = handlers[ev.name]
  if h then h(st, a, ev.due) end
end

---------------------------------------------------------------------------------------------------
-- Manual handoffs (§2.24 – §2.29, §4.7)

function A.render_handoff(st, h)
  return {
    id = h.id, version = h.version, priorAuthorizationId = h.auth_id, state = h.state,
    result = h.result or json.null, accessAvailable = h.state == "active", finalSubmitCapable = h.final_submit_capable,
    createdAt = st.fmt(h.created_at), activatedAt = h.activated_at and st.fmt(h.activated_at) or json.null,
    closedAt = h.closed_at and st.fmt(h.closed_at) or json.null, message = h.message or json.null,
  }
end

function A.handoff_create(st, a, body, now)
  local h = a.handoff
  if h and h.state == "active" then return h end
  if a.status ~= RA or a.action ~= "complete_payer_interaction" then
    http.fail(409, "manual_handoff_not_allowed", "No manual handoff is offered in the current state.")
  end
  if a.cpi_snapshot then
    local sent = body and body.acceptedReviewSnapshotId
    if sent ~= a.cpi_snapshot or not a.snapshot or a.snapshot.status ~= "current" then
      http.fail(409, "review_stale", "Accept the current review snapshot to take the handoff.",
        { currentReviewSnapshotId = a.cpi_snapshot })
    end
    a.snapshot.status = "accepted"
    a.cpi_snapshot = nil
  end
  h = {
    id = st.ids:next("mhand_"), version = 1, auth_id = a.id, state = "active", created_at = now,
    activated_at = now, final_submit_capable = true,
    message = "Complete the submission at the payer portal, then report the result.",
  }
  a.handoff = h
  a.handoffs[h.id] = h
  st.clock:cancel_for(a.id, "handoff_abandonment")
  st.clock:schedule(now + A.ABANDON, a.id, "handoff_abandonment")
  touch(a, now)
  return h
end

-- complete / unable / revoke / abandonment: closing, grants revoked, authorization P
function A.close_handoff(st, a, result, t, fields)
  local h = a.handoff
  fields = fields or {}
  h.state = "closing"
  h.result = result
  h.version = h.version + 1
  h.reported_outcome = fields.reportedOutcome
  h.reference = fields.observedReferenceNumber
  h.reconciliation = { id = st.ids:next("rcn_"), state = "pending" }
  revoke_grants(st, function(g) return g.handoff_id == h.id end)
  st.clock:cancel_for(a.id, "handoff_abandonment")
  a.status = P
  a.action = nil
  a.phase = "reconciliation"
  if a.boundary ~= "crossed" then a.boundary = "unknown" end
  st.clock:schedule(t + A.STEP, a.id, "reconciliation_step")
  touch(a, t)
end

function A.render_closure(a, h)
  return {
    manualHandoffId = h.id, state = h.state, result = h.result,
    authorization = { id = a.id, version = a.version, status = a.status },
    reconciliation = { id = h.reconciliation.id, state = h.reconciliation.state },
  }
end

---------------------------------------------------------------------------------------------------
-- Forced payer events (§6.6.2)

function A.force_payer_event(st, a, body, now)
  local t = body.type
  local function not_actionable()
    http.fail(409, "prior_authorization_not_actionable", "The payer event " .. t .. " does not apply in this state.")
  end
  if t == "receipt" then
    local ev = st.clock:find(a.id, "submission_step")
    if a.status ~= P or not ev then not_actionable() end
    st.clock:remove(ev)
    set_receipt(st, a, now, body.referenceNumber, body.channel)
    a.status = W
    a.phase = nil
    schedule_payer_event(st, a, now)
    touch(a, now)
    return
  end
  if a.status ~= W then not_actionable() end
  st.clock:cancel_for(a.id, "payer_decision")
  st.clock:cancel_for(a.id, "payer_information_request")
  if t == "approval" then
    complete(a, "approved", now, make_decision(st, a, "approved", now, body))
  elseif t == "modified" then
    complete(a, "modified", now, make_decision(st, a, "modified", now, body))
  elseif t == "denial" then
    complete(a, "denied", now, make_decision(st, a, "denied", now, body))
  elseif t == "more_info_request" then
    local types = body.documentTypes or { "letter_of_medical_necessity" }
    local list = {}
    for i, d in ipairs(types) do list[i] = d end
    information_request(st, a, now, list, body.message or "The payer requests more information.")
  end
end

return A
