-- The authorization state machine (contract §4) as data: the states an authorization can be in,
-- one table of transitions (event, from, to, effects) and one `move` that applies them. Every
-- change of status, next action, phase, outcome and their timestamps goes through `move`; the
-- read model (authorizations.render, livesession) renders from `lifecycle.STATES[a.state]`.
local requirements = require "collate_sandbox.requirements"
local submission = require "collate_sandbox.submission"

local lifecycle = {}

lifecycle.STEP = 5        -- virtual seconds of each automatic step
lifecycle.DECISION = 60   -- default wait for the payer's decision after a receipt
lifecycle.ABANDON = 1800  -- an active manual handoff without activity expires

local REQUIRES_ACTION, PROCESSING, WAITING_ON_PAYER = "requires_action", "processing", "waiting_on_payer"
local COMPLETED, CANCELED = "completed", "canceled"
lifecycle.REQUIRES_ACTION, lifecycle.PROCESSING, lifecycle.WAITING_ON_PAYER = REQUIRES_ACTION, PROCESSING,
  WAITING_ON_PAYER
lifecycle.COMPLETED, lifecycle.CANCELED = COMPLETED, CANCELED

-- state name -> what the read model shows: status, nextAction type and its resolution kind (§3.1),
-- the internal processing phase; `ends` names the timestamp set on entering a terminal state.
lifecycle.STATES = {
  resolve_requirements = { status = REQUIRES_ACTION, action = "resolve_requirements",
    resolution = "update_authorization" },
  continue_authorization = { status = REQUIRES_ACTION, action = "continue_authorization", resolution = "confirm" },
  approve_submission = { status = REQUIRES_ACTION, action = "approve_submission", resolution = "confirm" },
  complete_payer_interaction = { status = REQUIRES_ACTION, action = "complete_payer_interaction",
    resolution = "manual_handoff" },
  discovery = { status = PROCESSING, phase = "discovery" },
  submission = { status = PROCESSING, phase = "submission" },
  reconciliation = { status = PROCESSING, phase = "reconciliation" },
  waiting_on_payer = { status = WAITING_ON_PAYER },
  completed = { status = COMPLETED, ends = "completed_at" },
  canceled = { status = CANCELED, ends = "canceled_at" },
}
local STATES = lifecycle.STATES

-- states a client may still change (answers, attachments): requires_action except a handoff
local MUTABLE = { "resolve_requirements", "continue_authorization", "approve_submission" }
local OPEN = { "resolve_requirements", "continue_authorization", "approve_submission", "complete_payer_interaction",
  "discovery", "submission", "reconciliation", "waiting_on_payer" }

-- `to` "settled": resolve_requirements while requirements block, else continue_authorization
local SETTLED = "settled"

-- The transitions. Each move bumps the version and updatedAt, runs the effects in order, then
-- enters `to` (status, action, phase, outcome, completedAt / canceledAt).
lifecycle.TRANSITIONS = {
  { event = "create", from = { "new" }, to = SETTLED },
  { event = "write", from = MUTABLE, to = SETTLED, effects = { "stale_review" } },
  { event = "confirm", from = { "continue_authorization" }, to = "discovery",
    effects = { "start_live", "schedule_discovery" } },
  { event = "confirm", from = { "approve_submission" }, to = "submission",
    effects = { "accept_review", "cross_boundary", "schedule_submission" } },
  { event = "cancel", from = OPEN, to = "canceled",
    effects = { "keep_cancel_reason", "end_live", "drop_events", "close_handoff_canceled", "revoke_grants" } },
  -- discovery (clock: discovery_step), one event per result of the scenario
  { event = "discovery_not_required", from = { "discovery" }, to = "completed", effects = { "end_live" } },
  { event = "discovery_failed", from = { "discovery" }, to = "completed", effects = { "end_live" } },
  { event = "discovery_handoff", from = { "discovery" }, to = "complete_payer_interaction",
    effects = { "end_live", "review_for_handoff" } },
  { event = "discovery_needs_review", from = { "discovery" }, to = "approve_submission",
    effects = { "end_live", "make_review" } },
  { event = "discovery_submits", from = { "discovery" }, to = "submission",
    effects = { "end_live", "cross_boundary", "schedule_submission" } },
  -- the payer's receipt: the automatic submission step, a forced receipt, a handoff reported submitted
  { event = "receipt", from = { "submission", "reconciliation" }, to = "waiting_on_payer",
    effects = { "drop_submission_step", "record_receipt", "schedule_payer_event" } },
  { event = "decision", from = { "waiting_on_payer" }, to = "completed", effects = { "drop_payer_events" } },
  { event = "information_request", from = { "waiting_on_payer" }, to = SETTLED,
    effects = { "drop_payer_events", "request_documents" } },
  -- manual handoffs (§4.7)
  { event = "handoff_open", from = { "complete_payer_interaction" }, to = "complete_payer_interaction",
    effects = { "accept_handoff_review", "open_handoff", "schedule_abandonment" } },
  { event = "handoff_activate", from = { "complete_payer_interaction" }, to = "complete_payer_interaction",
    effects = { "activate_handoff", "schedule_abandonment" } },
  { event = "handoff_close", from = { "complete_payer_interaction" }, to = "reconciliation",
    effects = { "start_closing_handoff", "boundary_unknown", "schedule_reconciliation" } },
  { event = "reconciled_decision", from = { "reconciliation" }, to = "completed", effects = { "cross_boundary" } },
  { event = "reconciled_ended", from = { "reconciliation" }, to = "completed", effects = { "boundary_from_receipt" } },
  { event = "reconciled_offered_again", from = { "reconciliation" }, to = "complete_payer_interaction",
    effects = { "boundary_from_receipt", "forget_handoff_review" } },
}

local INDEX = {} -- event -> from -> transition
for _, tr in ipairs(lifecycle.TRANSITIONS) do
  assert(tr.to == SETTLED or STATES[tr.to], tr.to)
  INDEX[tr.event] = INDEX[tr.event] or {}
  for _, from in ipairs(tr.from) do
    assert(from == "new" or STATES[from], from)
    assert(not INDEX[tr.event][from], tr.event .. " from " .. from .. " twice")
    INDEX[tr.event][from] = tr
  end
end

function lifecycle.can(a, event)
  return INDEX[event] ~= nil and INDEX[event][a.state] ~= nil
end

function lifecycle.status(a)
  return STATES[a.state].status
end

function lifecycle.action(a)
  return STATES[a.state].action
end

function lifecycle.needs_approval(a)
  return a.policy == "requires_approval" or a.scenario.safety_gate
end

---------------------------------------------------------------------------------------------------
-- Effects: effect(st, a, t, args)

local function revoke_grants(st, pred)
  for _, g in pairs(st.grants) do
    if not g.revoked and pred(g) then g.revoked = true end
  end
end

local function schedule(st, a, seconds, name, t)
  st.clock:schedule(t + seconds, a.id, name)
end

local EFFECTS = {}

function EFFECTS.stale_review(_, a)
  if a.snapshot and a.snapshot.status == "current" then a.snapshot.status = "stale" end
  a.cpi_snapshot = nil
end

function EFFECTS.start_live(_, a)
  if a.scenario.live then a.live = true end
end

function EFFECTS.end_live(st, a)
  if a.live then
    a.live = false
    revoke_grants(st, function(g) return g.auth_id == a.id and g.kind == "live" end)
  end
end

function EFFECTS.schedule_discovery(st, a, t)
  schedule(st, a, a.scenario.discovery_seconds or lifecycle.STEP, "discovery_step", t)
end

function EFFECTS.schedule_submission(st, a, t)
  schedule(st, a, lifecycle.STEP, "submission_step", t)
end

function EFFECTS.accept_review(_, a)
  a.snapshot.status = "accepted"
end

function EFFECTS.cross_boundary(_, a)
  a.boundary = "crossed"
end

function EFFECTS.boundary_unknown(_, a)
  if a.boundary ~= "crossed" then a.boundary = "unknown" end
end

function EFFECTS.boundary_from_receipt(_, a)
  a.boundary = a.receipt and "crossed" or "not_crossed"
end

function EFFECTS.keep_cancel_reason(_, a, _, args)
  a.cancel_reason = args.reason -- kept for audit, not echoed
end

function EFFECTS.drop_events(st, a)
  st.clock:cancel_for(a.id)
end

function EFFECTS.close_handoff_canceled(_, a, t)
  local h = a.handoff
  if h and h.state ~= "closed" then
    h.state = "closed"
    h.result = h.result or "canceled"
    h.closed_at = t
    h.version = h.version + 1
    h.accessAvailable = false
    if h.reconciliation then h.reconciliation.state = "completed" end
  end
end

function EFFECTS.revoke_grants(st, a)
  revoke_grants(st, function(g) return g.auth_id == a.id end)
end

function EFFECTS.make_review(st, a, t)
  submission.make_snapshot(st, a, t)
end

function EFFECTS.review_for_handoff(st, a, t)
  if a.policy == "requires_approval" then
    submission.make_snapshot(st, a, t)
    a.cpi_snapshot = a.snapshot.id
  end
end

function EFFECTS.forget_handoff_review(_, a)
  a.cpi_snapshot = nil
end

function EFFECTS.drop_submission_step(st, a)
  st.clock:cancel_for(a.id, "submission_step")
end

function EFFECTS.record_receipt(st, a, t, args)
  submission.set_receipt(st, a, t, args.reference, args.channel)
end

function EFFECTS.schedule_payer_event(st, a, t)
  local s = a.scenario
  if s.info_request and a.receipts == 1 then
    schedule(st, a, s.info_request.seconds, "payer_information_request", t)
  else
    local override = st.payer_timing and st.payer_timing[a.payer_id] -- POST /_sandbox/payer-timing
    schedule(st, a, override or s.decision_seconds or lifecycle.DECISION, "payer_decision", t)
  end
end

function EFFECTS.drop_payer_events(st, a)
  st.clock:cancel_for(a.id, "payer_decision")
  st.clock:cancel_for(a.id, "payer_information_request")
end

-- args.types, args.message: documents attached after this request answer it
function EFFECTS.request_documents(st, a, _, args)
  st.seq = st.seq + 1
  for _, d in ipairs(args.types) do
    local found = false
    for _, x in ipairs(a.required_docs) do
      if x.type == d then
        x.after = st.seq
        found = true
      end
    end
    if not found then a.required_docs[#a.required_docs + 1] = { type = d, after = st.seq } end
  end
  a.payer_request = { types = args.types, message = args.message }
end

function EFFECTS.accept_handoff_review(_, a)
  if a.cpi_snapshot then
    a.snapshot.status = "accepted"
    a.cpi_snapshot = nil
  end
end

-- active at once; in realism mode offered first, active ACTIVATION seconds later
function EFFECTS.open_handoff(st, a, t)
  local h = {
    id = st.ids:next("mhand_"), version = 1, auth_id = a.id, state = "active", created_at = t,
    activated_at = t, final_submit_capable = true,
    message = "Complete the submission at the payer portal, then report the result.",
  }
  if st.realism then
    h.state, h.activated_at = "offered", nil
    schedule(st, a, require("collate_sandbox.realism").ACTIVATION, "handoff_activation", t)
  end
  a.handoff = h
  a.handoffs[h.id] = h
end

function EFFECTS.activate_handoff(_, a, t)
  local h = a.handoff
  h.state = "active"
  h.activated_at = t
  h.version = h.version + 1
end

function EFFECTS.schedule_abandonment(st, a, t)
  st.clock:cancel_for(a.id, "handoff_abandonment")
  schedule(st, a, lifecycle.ABANDON, "handoff_abandonment", t)
end

-- args.result, args.fields: complete / unable / revoke / abandonment
function EFFECTS.start_closing_handoff(st, a, _, args)
  local h = a.handoff
  local fields = args.fields or {}
  h.state = "closing"
  h.result = args.result
  h.version = h.version + 1
  h.reported_outcome = fields.reportedOutcome
  h.reference = fields.observedReferenceNumber
  h.reconciliation = { id = st.ids:next("rcn_"), state = "pending" }
  revoke_grants(st, function(g) return g.handoff_id == h.id end)
  st.clock:cancel_for(a.id, "handoff_abandonment")
end

function EFFECTS.schedule_reconciliation(st, a, t)
  schedule(st, a, lifecycle.STEP, "reconciliation_step", t)
end

for _, tr in ipairs(lifecycle.TRANSITIONS) do
  for _, name in ipairs(tr.effects or {}) do assert(EFFECTS[name], "no effect " .. name) end
end

---------------------------------------------------------------------------------------------------
-- move

local function enter(a, to, t, args)
  local s = STATES[to]
  a.state = to
  a.outcome = to == "completed" and args.outcome or nil
  if to == "completed" then a.decision = args.decision end
  if s.ends then
    a[s.ends] = t
    a.live = false
  end
end

-- Applies `event` to authorization `a` at virtual time `t`; args feed the effects and the
-- terminal fields ({outcome, decision} for completed). Callers check the contract's refusals
-- first (lifecycle.can); an event with no transition from the current state is a bug.
function lifecycle.move(st, a, event, t, args)
  args = args or {}
  local tr = INDEX[event] and INDEX[event][a.state]
  if not tr then error("no transition " .. event .. " from " .. tostring(a.state)) end
  a.version = a.version + 1
  a.updated_at = t
  for _, name in ipairs(tr.effects or {}) do EFFECTS[name](st, a, t, args) end
  local to = tr.to
  if to == SETTLED then
    to = requirements.recompute(a) and "resolve_requirements" or "continue_authorization"
  end
  enter(a, to, t, args)
end

-- A state saved by an earlier version (status, action and phase fields, no state name).
function lifecycle.upgrade(a)
  if a.state then return end
  if a.status == REQUIRES_ACTION then
    a.state = a.action
  elseif a.status == PROCESSING then
    a.state = a.phase
  else
    a.state = a.status
  end
  a.status, a.action, a.phase = nil, nil, nil
end

return lifecycle
