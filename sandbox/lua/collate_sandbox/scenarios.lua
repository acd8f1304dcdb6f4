-- The scenario catalog (contract §6.3) and the default behaviour; each entry carries the knobs
-- authorizations.lua reads (documents, discovery result, timings, outcome) and the §3.12 fields.
local json = require "collate_sandbox.json"
local questionnaire = require "collate_sandbox.questionnaire"

local scenarios = {}

local function obs(status, action, outcome)
  return { status = status, nextActionType = action or json.null, outcome = outcome or json.null }
end
local resolve = function() return obs("requires_action", "resolve_requirements") end
local continue = function() return obs("requires_action", "continue_authorization") end
local approve = function() return obs("requires_action", "approve_submission") end
local payer_interaction = function() return obs("requires_action", "complete_payer_interaction") end
local processing = function() return obs("processing") end
local waiting = function() return obs("waiting_on_payer") end
local completed = function(o) return obs("completed", nil, o) end

local LIST = {
  { id = "quickstart_receipt", memberId = "SBX-QUICKSTART", title = "Quickstart: approval after receipt",
    description = "Answer the clinical questions, attach clinical notes, confirm, approve the review "
      .. "snapshot; the payer acknowledges receipt and approves after a long wait.",
    npi = "1234567893", payer = "payer_aetna", state = "CA", rtype = "drug", system = "hcpcs", code = "J0791",
    policy = "requires_approval", full = false, dx = "D57.00", units = 12, documents = { "clinical_notes" },
    decision_seconds = 600, outcome = "approved", timeout = 900,
    confirmations = { "continue_authorization", "approve_submission" },
    observations = { resolve(), continue(), processing(), approve(), processing(), waiting(), completed("approved") } },
  { id = "straight_approval", memberId = "SBX-APPROVE", title = "Straight approval",
    description = "Complete answers at create and automatic submission: confirm once, the payer approves.",
    npi = "1234567893", payer = "payer_uhc", state = "CA", rtype = "drug", system = "hcpcs", code = "J0791",
    policy = "automatic", full = true, dx = "D57.00", units = 12, documents = {},
    outcome = "approved", timeout = 120,
    confirmations = { "continue_authorization" },
    observations = { continue(), processing(), waiting(), completed("approved") } },
  { id = "denial", memberId = "SBX-DENY", title = "Denial",
    description = "As the quickstart, but the payer denies for medical necessity.",
    npi = "1234567893", payer = "payer_cigna", state = "CA", rtype = "drug", system = "hcpcs", code = "J1745",
    policy = "requires_approval", full = false, dx = "K50.90", units = 4, documents = { "clinical_notes" },
    outcome = "denied", timeout = 120,
    confirmations = { "continue_authorization", "approve_submission" },
    observations = { resolve(), continue(), processing(), approve(), processing(), waiting(), completed("denied") } },
  { id = "more_info_request", memberId = "SBX-MOREINFO", title = "Payer requests more information",
    description = "After the first receipt the payer asks for a letter of medical necessity; attach it, "
      .. "confirm and approve again; the payer then approves.",
    npi = "1234567893", payer = "payer_bcbs_ca", state = "CA", rtype = "drug", system = "hcpcs", code = "J0791",
    policy = "requires_approval", full = false, dx = "D57.00", units = 12, documents = { "clinical_notes" },
    info_request = { seconds = 30, types = { "letter_of_medical_necessity" },
      message = "Please provide a letter of medical necessity." },
    outcome = "approved", timeout = 240,
    confirmations = { "continue_authorization", "approve_submission", "continue_authorization", "approve_submission" },
    observations = { resolve(), continue(), processing(), approve(), processing(), waiting(),
      resolve(), continue(), processing(), approve(), processing(), waiting(), completed("approved") } },
  { id = "modified_approval", memberId = "SBX-MODIFY", title = "Modified approval",
    description = "Automatic submission; the payer approves fewer units than requested.",
    npi = "1987654328", payer = "payer_uhc", state = "TX", rtype = "outpatient", system = "cpt", code = "72148",
    policy = "automatic", full = true, dx = "M54.50", units = 2, documents = {},
    outcome = "modified", timeout = 120,
    confirmations = { "continue_authorization" },
    observations = { continue(), processing(), waiting(), completed("modified") } },
  { id = "not_required", memberId = "SBX-NOTREQ", title = "Authorization not required",
    description = "Discovery finds that the payer needs no authorization; nothing is submitted.",
    npi = "1987654328", payer = "payer_aetna", state = "TX", rtype = "outpatient", system = "cpt", code = "97110",
    policy = "requires_approval", full = true, dx = "M17.11", units = 8, documents = {},
    discovery = "not_required", timeout = 60,
    confirmations = { "continue_authorization" },
    observations = { continue(), processing(), completed("not_required") } },
  { id = "manual_handoff", memberId = "SBX-HANDOFF", title = "Manual handoff",
    description = "Discovery needs a person at the payer portal: accept the handoff with the review "
      .. "snapshot, open a grant, report the submission; the payer then approves.",
    npi = "1554433221", payer = "payer_kaiser", state = "CA", rtype = "outpatient", system = "cpt", code = "73721",
    policy = "requires_approval", full = false, dx = "M17.11", units = 1, documents = { "clinical_notes" },
    discovery = "handoff", outcome = "approved", timeout = 300,
    confirmations = { "continue_authorization" },
    observations = { resolve(), continue(), processing(), payer_interaction(), processing(), waiting(),
      completed("approved") } },
  { id = "portal_failure", memberId = "SBX-PORTALFAIL", title = "Portal failure",
    description = "The payer portal rejects the session during discovery; the authorization fails.",
    npi = "1987654328", payer = "payer_humana", state = "TX", rtype = "inpatient", system = "cpt", code = "27447",
    policy = "automatic", full = true, dx = "M17.11", units = 1, documents = {},
    discovery = "failed", timeout = 60,
    confirmations = { "continue_authorization" },
    observations = { continue(), processing(), completed("failed") } },
  { id = "automatic_policy_safety_gate", memberId = "SBX-SAFETYGATE", title = "Safety gate under automatic policy",
    description = "Automatic policy, yet the final submission stops for approval (sandbox_final_submit_gate).",
    npi = "1234567893", payer = "payer_aetna", state = "CA", rtype = "outpatient", system = "hcpcs", code = "J9035",
    policy = "automatic", full = false, dx = "C18.9", units = 4, documents = { "clinical_notes" },
    safety_gate = true, outcome = "approved", timeout = 120,
    confirmations = { "continue_authorization", "approve_submission" },
    observations = { resolve(), continue(), processing(), approve(), processing(), waiting(), completed("approved") } },
  { id = "live_session_available", memberId = "SBX-LIVESESSION", title = "Live session during discovery",
    description = "A read-only live view of the portal is available during the 120 s discovery step.",
    npi = "1554433221", payer = "payer_bcbs_ca", state = "CA", rtype = "outpatient", system = "cpt", code = "70553",
    policy = "automatic", full = true, dx = "R51.9", units = 1, documents = {},
    live = true, discovery_seconds = 120, outcome = "approved", timeout = 300,
    confirmations = { "continue_authorization" },
    observations = { continue(), processing(), waiting(), completed("approved") } },
}

scenarios.DEFAULT = { id = nil, documents = {}, outcome = "approved" }

local BY_MEMBER, BY_ID = {}, {}
for _, s in ipairs(LIST) do
  BY_MEMBER[s.memberId] = s
  BY_ID[s.id] = s
end

function scenarios.by_member(member_id)
  return member_id and BY_MEMBER[member_id] or nil
end

function scenarios.get(id)
  return BY_ID[id]
end

function scenarios.list()
  return LIST
end

local function arr(list)
  local out = json.array({})
  for i, v in ipairs(list or {}) do out[i] = json.copy(v) end
  return out
end

local function create_answers(s)
  local items = questionnaire.set_s(s.memberId)
  if s.full then
    for _, it in ipairs(questionnaire.set_f(s.dx, s.units)) do items[#items + 1] = it end
  end
  return { item = arr(items) }
end

function scenarios.render(s)
  local questions = {}
  if not s.full then questions = { "diagnoses", "service.startDate", "service.units", "clinical.priorTherapyTried" } end
  local docs = {}
  for _, d in ipairs(s.documents) do docs[#docs + 1] = d end
  for _, d in ipairs(s.info_request and s.info_request.types or {}) do docs[#docs + 1] = d end
  local follow = s.full and {} or questionnaire.set_f(s.dx, s.units)
  return {
    id = s.id, title = s.title, description = s.description, memberId = s.memberId,
    create = {
      providerNpi = s.npi,
      request = { payerId = s.payer, coverageState = s.state, requestType = s.rtype,
        serviceCode = { system = s.system, code = s.code } },
      policy = { finalSubmission = s.policy },
      answers = create_answers(s),
    },
    asks = { questions = arr(questions), documents = arr(docs), confirmations = arr(s.confirmations) },
    followUpAnswers = { item = arr(follow) },
    expectedObservations = arr(s.observations),
    suggestedTimeoutSeconds = s.timeout,
  }
end

return scenarios
