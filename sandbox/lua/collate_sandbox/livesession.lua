-- The live session read model (contract §3.10, §4.8) and access grants (§3.11, §6.6.6).
local json = require "collate_sandbox.json"
local lifecycle = require "collate_sandbox.lifecycle"

local livesession = {}

local PROCESSING = lifecycle.PROCESSING
local REQUIRES_ACTION = lifecycle.REQUIRES_ACTION

local function arr(list)
  local out = json.array({})
  for i, v in ipairs(list or {}) do out[i] = v end
  return out
end

function livesession.live_state(a)
  local h = a.handoff
  if a.state == "complete_payer_interaction" and h and h.state == "active" then
    return "handoff"
  end
  if lifecycle.status(a) == PROCESSING and a.live then return "automation" end
  return nil
end

function livesession.render_live_session(a)
  local h = a.handoff
  local status = lifecycle.status(a)
  local active = h and h.state == "active" and status == REQUIRES_ACTION
  local s = {
    priorAuthorizationId = a.id, priorAuthorizationVersion = a.version, channel = "portal",
    safety = {
      irreversibleBoundaryState = a.boundary,
      -- the channel at work (automation, or the handoff) could still make the final submission
      finalSubmitCapable = a.boundary == "not_crossed" and (status == PROCESSING or a.state == "approve_submission"
        or a.state == "complete_payer_interaction"),
      requiresReviewApprovalForSubmit = lifecycle.needs_approval(a) and true or false,
      reviewSnapshotId = (a.snapshot and a.snapshot.status == "current") and a.snapshot.id or json.null,
    },
  }
  if active then
    s.state = "live"
    s.owner = { type = "manual_handoff", manualHandoffId = h.id }
    s.access = { available = true, supportedModes = arr({ "read_only", "interactive" }) }
    s.handoff = { allowed = false, state = "active", reason = json.null, manualHandoffId = h.id }
  elseif status == PROCESSING then
    s.state = a.live and "live" or "not_live"
    s.owner = { type = "automation", manualHandoffId = json.null }
    s.access = a.live and { available = true, supportedModes = arr({ "read_only" }) }
      or { available = false, supportedModes = arr({}) }
    s.handoff = { allowed = false, state = "unavailable", reason = "automation_owns_processing",
      manualHandoffId = json.null }
  elseif a.state == "complete_payer_interaction" then
    s.state = "not_live"
    s.owner = { type = "automation", manualHandoffId = json.null }
    s.access = { available = false, supportedModes = arr({}) }
    s.handoff = { allowed = true, state = "offered", reason = json.null, manualHandoffId = json.null }
  else
    s.state = "not_live"
    s.owner = { type = "automation", manualHandoffId = json.null }
    s.access = { available = false, supportedModes = arr({}) }
    s.handoff = { allowed = false, state = "unavailable", reason = "not_offered", manualHandoffId = json.null }
  end
  return s
end

function livesession.new_grant(st, a, kind, handoff_id, now)
  local g = {
    id = st.ids:next("rag_"), auth_id = a.id, kind = kind, handoff_id = handoff_id,
    expires_at = now + (kind == "live" and 300 or 900),
  }
  st.grants[g.id] = g
  return { id = g.id, url = st.base_url .. "/runtime/access/" .. g.id, expiresAt = st.fmt(g.expires_at) }
end

return livesession
