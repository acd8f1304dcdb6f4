#!/usr/bin/env collate-run
-- The quickstart walkthrough: create a prior authorization, answer its questionnaire, upload
-- and attach a clinical note, confirm, approve the review snapshot and poll to the payer's
-- decision. Run it with `collate-run --sandbox scripts/examples/quickstart.lua`, or against
-- a real sandbox with COLLATE_API_KEY and COLLATE_BASE_URL set.
local collate = require "collate"

local client = collate.new{} -- COLLATE_API_KEY and COLLATE_BASE_URL from the environment

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local note_path = here .. "/clinical-note.pdf"
-- collate-run --sandbox runs the emulator's clock fast; poll intervals shrink to match.
local clock_speed = tonumber(os.getenv("COLLATE_SANDBOX_CLOCK_SPEED")) or 1

local function say(fmt, ...)
  io.stdout:write(string.format(fmt, ...), "\n")
  io.stdout:flush()
end

local function describe(auth)
  local detail = auth.next_action and auth.next_action.type or auth.outcome or ""
  return string.format("%s v%d %s %s", auth.id, auth.version, auth.status, detail)
end

local function text(linkid, value) return { link_id = linkid, answer = { { value_string = value } } } end

-- 1. Create: one authorization for one payer submission, with a fresh idempotency key.
local auth = client.authorizations.create{
  provider_npi = "1234567893",
  request = {
    payer_id = "payer_aetna",
    coverage_state = "CA",
    request_type = "drug",
    service_code = { system = "hcpcs", code = "J0791" },
  },
  policy = { final_submission = "requires_approval" },
  answers = { item = {
    text("patient.firstName", "Jane"),
    text("patient.lastName", "Doe"),
    { link_id = "patient.dateOfBirth", answer = { { value_date = "1990-04-12" } } },
    text("coverage.memberId", "SBX-QUICKSTART"),
  } },
  metadata = { external_case_id = "case_789" },
  idempotency_key = collate.uuid4(),
}
say("created     %s", describe(auth))

-- The rest of the questionnaire, patched when the payer's requirements ask for it.
local clinical_answers = { item = {
  { link_id = "diagnoses", item = {
    text("code", "D57.00"),
    { link_id = "qualifierCode", answer = { { value_coding = { code = "ABF" } } } },
  } },
  { link_id = "service.startDate", answer = { { value_date = "2026-07-01" } } },
  { link_id = "service.units", answer = { { value_integer = 12 } } },
  { link_id = "clinical.priorTherapyTried", answer = { { value_boolean = true } } },
} }

local function open_items(auth_)
  local r = auth_.requirements or {}
  local names = {}
  for _, q in ipairs(r.questions or {}) do names[#names + 1] = q.link_id end
  for _, d in ipairs(r.documents or {}) do names[#names + 1] = "document:" .. d.type end
  return names
end

local function resolve_requirements()
  local open = open_items(auth)
  say("            open requirements: %s", table.concat(open, ", "))
  if #(auth.requirements.questions or {}) > 0 then
    auth = client.authorizations.answers.patch{
      authorization_id = auth.id, if_match = auth.version, answers = clinical_answers }
    say("answered    %s", describe(auth))
  end
  local documents = auth.requirements.documents or {}
  if #documents > 0 then
    local types = {}
    for i, d in ipairs(documents) do types[i] = d.type end
    local created = client.files.create{
      file_name = "clinical-note.pdf", content_type = "application/pdf",
      purpose = "authorization_attachment" }
    client.files.upload{ upload = created.upload, path = note_path }
    local file = client.files.complete{ file_id = created.file.id }
    say("uploaded    %s (%d bytes, %s)", file.id, file.size_bytes, file.status)
    auth = client.authorizations.attachments.create{
      authorization_id = auth.id, if_match = auth.version, file_id = file.id,
      document_types = types, description = "Hematology visit notes" }
    say("attached    %s", describe(auth))
  end
  if #open_items(auth) > 0 then
    error("requirements still open after answering: " .. table.concat(open_items(auth), ", "))
  end
end

-- Follow nextAction until the payer decides. Confirm only confirmable actions.
local deadline = os.time() + 900 / clock_speed + 60
while auth.status ~= "completed" and auth.status ~= "canceled" do
  if os.time() > deadline then error("gave up waiting: " .. describe(auth)) end
  if auth.status == "requires_action" then
    local action = auth.next_action.type
    if action == "resolve_requirements" then
      resolve_requirements()
    elseif action == "continue_authorization" then
      auth = client.authorizations.confirm{ authorization_id = auth.id, if_match = auth.version }
      say("confirmed   %s", describe(auth))
    elseif action == "approve_submission" then
      local snapshot = auth.submission.review_snapshot
      local summary = snapshot.summary or {}
      say("review      snapshot %s: %s %s %s %s, member %s, documents %s", snapshot.id,
        tostring(summary.payerDisplayName), tostring(summary.coverageState), tostring(summary.requestType),
        summary.serviceCode and summary.serviceCode.code or "?", tostring(summary.memberId),
        table.concat(summary.documentTypes or {}, ","))
      auth = client.authorizations.confirm{
        authorization_id = auth.id, if_match = auth.version,
        request = { accepted_review_snapshot_id = snapshot.id } }
      say("approved    %s", describe(auth))
    else
      say("next action %s needs a person (manual handoff); stopping here", action)
      break
    end
  else
    -- The seed's status-aware polling: 5 s while Collate works, 30 s while the payer does.
    collate.sleep((auth.status == "processing" and 5 or 30) / clock_speed)
    local previous = auth.version
    auth = client.authorizations.retrieve{ authorization_id = auth.id }
    if auth.version ~= previous then say("polled      %s", describe(auth)) end
  end
end

if auth.status == "completed" then
  local receipt = auth.submission.payer_receipt
  local decision = auth.submission.decision
  say("outcome     %s", auth.outcome)
  if receipt then say("receipt     %s via %s", receipt.reference_number, receipt.channel) end
  if decision and decision.authorization_number then
    say("auth no.    %s (%s to %s)", decision.authorization_number,
      tostring(decision.effective_from), tostring(decision.effective_to))
  end
end
