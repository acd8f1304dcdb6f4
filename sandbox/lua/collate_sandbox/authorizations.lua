-- Authorizations: creation, the read model (§3.1), client writes (§2.5 – §2.10), the server-side
-- steps fired by the clock (§4.3, §6.3), manual handoffs (§4.7) and forced payer events (§6.6.2).
-- Every change of state is a lifecycle.move (lifecycle.lua: the transitions as data); this file
-- holds the contract's refusals and chooses the event.
local json = require "collate_sandbox.json"
local http = require "collate_sandbox.http"
local questionnaire = require "collate_sandbox.questionnaire"
local catalog = require "collate_sandbox.catalog"
local scenarios = require "collate_sandbox.scenarios"
local lifecycle = require "collate_sandbox.lifecycle"
local requirements = require "collate_sandbox.requirements"
local submission = require "collate_sandbox.submission"

local authorizations = {}

local move, STATES = lifecycle.move, lifecycle.STATES
authorizations.ABANDON = lifecycle.ABANDON
authorizations.status = lifecycle.status
authorizations.render_attachment = submission.render_attachment

---------------------------------------------------------------------------------------------------
-- Create

function authorizations.member_id_of(answers)
  if json.typeof(answers) ~= "object" or json.typeof(answers.item) ~= "array" then return nil end
  for _, it in ipairs(answers.item) do
    if it.linkId == "coverage.memberId" and json.typeof(it.answer) == "array" and it.answer[1] then
      local v = it.answer[1].valueString
      if type(v) == "string" then return v end
    end
  end
end

function authorizations.create(st, body, now)
  local r = body.request
  local provider, payer = catalog.resolve(body.providerNpi, r.payerId, r.coverageState, r.requestType,
    r.serviceCode.system)
  local scenario = scenarios.by_member(authorizations.member_id_of(body.answers)) or scenarios.DEFAULT
  local a = {
    id = st.ids:next("auth_"), version = 0, state = "new", policy = body.policy.finalSubmission,
    npi = provider.npi, payer_id = payer.id,
    request = { payerId = r.payerId, coverageState = r.coverageState, requestType = r.requestType,
      serviceCode = { system = r.serviceCode.system, code = r.serviceCode.code } },
    route_label = catalog.label(payer, r.coverageState, r.requestType),
    store = {}, req_version = 1, answers_version = 1, attachments_version = 1,
    attachments = {}, required_docs = {}, receipts = 0, boundary = "not_crossed",
    metadata = body.metadata and json.copy(body.metadata) or json.object({}),
    created_at = now, scenario = scenario, handoffs = {},
  }
  for _, d in ipairs(scenario.documents) do a.required_docs[#a.required_docs + 1] = { type = d, after = 0 } end
  if body.answers then questionnaire.merge(a.store, body.answers.item) end
  move(st, a, "create", now) -- version 1
  st.auths[a.id] = a
  st.auth_list[#st.auth_list + 1] = a
  return a
end

---------------------------------------------------------------------------------------------------
-- Rendering

local function snapshot_to_name(a)
  if a.state == "approve_submission" then return a.snapshot and a.snapshot.id or json.null end
  if a.state == "complete_payer_interaction" then return a.cpi_snapshot or json.null end
  return json.null
end

-- The wire form of an authorization. It shares the stored request, metadata and answers (no
-- copies): every caller encodes it at once and changes nothing in it.
function authorizations.render(st, a)
  local attachments = json.array({})
  for i, att in ipairs(a.attachments) do attachments[i] = submission.render_attachment(st, att) end
  local state = STATES[a.state]
  local next_action = json.null
  if state.action then
    next_action = {
      type = state.action, resolution = { kind = state.resolution },
      covers = {
        priorAuthorizationVersion = a.version, requirementsVersion = a.req_version,
        answersVersion = a.answers_version, attachmentsVersion = a.attachments_version,
        reviewSnapshotId = snapshot_to_name(a),
      },
    }
  end
  local h = a.handoff
  return {
    id = a.id, version = a.version, status = state.status, outcome = a.outcome or json.null,
    policy = { finalSubmission = a.policy }, providerNpi = a.npi,
    payer = catalog.render_payer(catalog.payer(a.payer_id)),
    request = a.request,
    route = { channel = "portal", accessMode = "collate_managed", label = a.route_label },
    questionnaire = questionnaire.render(), answers = questionnaire.render_answers(a.store, true),
    requirements = requirements.render(a),
    attachments = attachments,
    submission = {
      reviewSnapshot = a.snapshot and submission.render_snapshot(st, a, a.snapshot) or json.null,
      payerReceipt = submission.render_receipt(st, a.receipt),
      decision = submission.render_decision(st, a.decision),
    },
    nextAction = next_action,
    activeManualHandoff = (h and h.state ~= "closed") and { id = h.id, state = h.state, version = h.version }
      or json.null,
    metadata = a.metadata,
    createdAt = st.fmt(a.created_at), updatedAt = st.fmt(a.updated_at),
    completedAt = a.completed_at and st.fmt(a.completed_at) or json.null,
    canceledAt = a.canceled_at and st.fmt(a.canceled_at) or json.null,
  }
end

---------------------------------------------------------------------------------------------------
-- Client writes

function authorizations.check_mutable(a)
  if not lifecycle.can(a, "write") then
    http.fail(409, "prior_authorization_not_mutable",
      "The authorization cannot be changed in its current state (" .. lifecycle.status(a) .. ").")
  end
end

function authorizations.patch_answers(st, a, answers, now)
  authorizations.check_mutable(a)
  questionnaire.merge(a.store, answers.item)
  a.answers_version = a.answers_version + 1
  move(st, a, "write", now)
end

function authorizations.add_attachment(st, a, f, body, now)
  local att = {
    id = st.ids:next("att_"), fileId = f.id, documentTypes = {}, label = f.fileName,
    description = body.description, created_at = now,
  }
  st.seq = st.seq + 1
  att.seq = st.seq
  for i, d in ipairs(body.documentTypes) do att.documentTypes[i] = d end
  a.attachments[#a.attachments + 1] = att
  a.attachments_version = a.attachments_version + 1
  move(st, a, "write", now)
end

function authorizations.find_attachment(a, att_id)
  for i, att in ipairs(a.attachments) do
    if att.id == att_id then return att, i end
  end
end

function authorizations.remove_attachment(st, a, index, now)
  table.remove(a.attachments, index)
  a.attachments_version = a.attachments_version + 1
  move(st, a, "write", now)
end

local function doc_list(a)
  local out = json.array({})
  for i, d in ipairs(a.req.documents) do out[i] = d.type end
  return out
end

function authorizations.confirm(st, a, body, now)
  if a.state == "resolve_requirements" then
    local qs = json.array({})
    for i, q in ipairs(a.req.questions) do qs[i] = q.linkId end
    http.fail(409, "requirements_not_satisfied", "Open requirements remain; answer and attach before confirming.",
      { questions = qs, documents = doc_list(a) })
  end
  if not lifecycle.can(a, "confirm") then
    http.fail(409, "prior_authorization_not_actionable", "Nothing to confirm in the current state.")
  end
  if a.state == "approve_submission" then
    local s = a.snapshot
    local sent = body and body.acceptedReviewSnapshotId
    if not s or s.status ~= "current" or sent ~= s.id then
      http.fail(409, "review_stale", "Confirm with the current review snapshot.",
        { currentReviewSnapshotId = (s and s.status == "current") and s.id or json.null })
    end
  end
  move(st, a, "confirm", now)
end

function authorizations.cancel(st, a, now, reason)
  if not lifecycle.can(a, "cancel") then
    http.fail(409, "prior_authorization_not_mutable", "The authorization is already " .. lifecycle.status(a) .. ".")
  end
  move(st, a, "cancel", now, { reason = reason })
end

---------------------------------------------------------------------------------------------------
-- Server-side steps (clock events): each chooses the event of the transition

local DISCOVERY_EVENT = { not_required = "discovery_not_required", failed = "discovery_failed",
  handoff = "discovery_handoff" }

local on_clock_event = {}

on_clock_event.discovery_step = function(st, a, t)
  local s = a.scenario
  local event = DISCOVERY_EVENT[s.discovery]
    or (lifecycle.needs_approval(a) and "discovery_needs_review" or "discovery_submits")
  local outcome = s.discovery == "not_required" and "not_required" or s.discovery == "failed" and "failed" or nil
  move(st, a, event, t, { outcome = outcome })
end

on_clock_event.submission_step = function(st, a, t)
  move(st, a, "receipt", t)
end

on_clock_event.payer_decision = function(st, a, t)
  local outcome = a.scenario.outcome or "approved"
  move(st, a, "decision", t, { outcome = outcome, decision = submission.make_decision(st, a, outcome, t) })
end

on_clock_event.payer_information_request = function(st, a, t)
  local ir = a.scenario.info_request or { types = { "letter_of_medical_necessity" },
    message = "Please provide a letter of medical necessity." }
  move(st, a, "information_request", t, { types = ir.types, message = ir.message })
end

on_clock_event.reconciliation_step = function(st, a, t)
  local h = a.handoff
  h.state = "closed"
  h.closed_at = t
  h.version = h.version + 1
  h.reconciliation.state = "completed"
  local res, reported = h.result, h.reported_outcome
  if res == "completed_reported" and reported == "submitted" then
    move(st, a, "receipt", t, { reference = h.reference })
  elseif res == "completed_reported" and reported == "decision_observed" then
    local o = a.scenario.outcome or "approved"
    move(st, a, "reconciled_decision", t, { outcome = o, decision = submission.make_decision(st, a, o, t) })
  elseif res == "completed_reported" and reported == "not_required_observed" then
    move(st, a, "reconciled_ended", t, { outcome = "not_required" })
  elseif res == "unable_to_complete" or res == "revoked" then
    move(st, a, "reconciled_ended", t, { outcome = "failed" })
  else -- follow_up_required_observed, expired: offered again
    move(st, a, "reconciled_offered_again", t)
  end
end

on_clock_event.handoff_activation = function(st, a, t)
  if a.handoff and a.handoff.state == "offered" then move(st, a, "handoff_activate", t) end
end

on_clock_event.handoff_abandonment = function(st, a, t)
  authorizations.close_handoff(st, a, "expired", t)
end

function authorizations.fire(st, ev)
  local a = st.auths[ev.auth_id]
  if not a then return end
  local handler = on_clock_event[ev.name]
  if handler then handler(st, a, ev.due) end
end

---------------------------------------------------------------------------------------------------
-- Manual handoffs (§2.24 – §2.29, §4.7)

function authorizations.render_handoff(st, h)
  return {
    id = h.id, version = h.version, priorAuthorizationId = h.auth_id, state = h.state,
    result = h.result or json.null, accessAvailable = h.state == "active", finalSubmitCapable = h.final_submit_capable,
    createdAt = st.fmt(h.created_at), activatedAt = h.activated_at and st.fmt(h.activated_at) or json.null,
    closedAt = h.closed_at and st.fmt(h.closed_at) or json.null, message = h.message or json.null,
  }
end

function authorizations.handoff_create(st, a, body, now)
  local h = a.handoff
  if h and (h.state == "active" or h.state == "offered") then return h end
  if not lifecycle.can(a, "handoff_open") then
    http.fail(409, "manual_handoff_not_allowed", "No manual handoff is offered in the current state.")
  end
  if a.cpi_snapshot then
    local sent = body and body.acceptedReviewSnapshotId
    if sent ~= a.cpi_snapshot or not a.snapshot or a.snapshot.status ~= "current" then
      http.fail(409, "review_stale", "Accept the current review snapshot to take the handoff.",
        { currentReviewSnapshotId = a.cpi_snapshot })
    end
  end
  move(st, a, "handoff_open", now)
  return a.handoff
end

-- complete / unable / revoke / abandonment: closing, grants revoked, authorization processing
function authorizations.close_handoff(st, a, result, t, fields)
  move(st, a, "handoff_close", t, { result = result, fields = fields })
end

function authorizations.render_closure(a, h)
  return {
    manualHandoffId = h.id, state = h.state, result = h.result,
    authorization = { id = a.id, version = a.version, status = lifecycle.status(a) },
    reconciliation = { id = h.reconciliation.id, state = h.reconciliation.state },
  }
end

---------------------------------------------------------------------------------------------------
-- Forced payer events (§6.6.2)

local FORCED_OUTCOME = { approval = "approved", modified = "modified", denial = "denied" }

function authorizations.force_payer_event(st, a, body, now)
  local t = body.type
  local function not_actionable()
    http.fail(409, "prior_authorization_not_actionable", "The payer event " .. t .. " does not apply in this state.")
  end
  if t == "receipt" then
    if a.state ~= "submission" or not st.clock:find(a.id, "submission_step") then not_actionable() end
    move(st, a, "receipt", now, { reference = body.referenceNumber, channel = body.channel })
    return
  end
  if a.state ~= "waiting_on_payer" then not_actionable() end
  local outcome = FORCED_OUTCOME[t]
  if outcome then
    move(st, a, "decision", now, { outcome = outcome, decision = submission.make_decision(st, a, outcome, now, body) })
  elseif t == "more_info_request" then
    local types = body.documentTypes or { "letter_of_medical_necessity" }
    local list = {}
    for i, d in ipairs(types) do list[i] = d end
    move(st, a, "information_request", now,
      { types = list, message = body.message or "The payer requests more information." })
  end
end

return authorizations
