-- Creates one realistic authorization for the benchmark (about 8 KB of JSON when retrieved):
-- create with answers and metadata, patch the full answers, upload and attach a clinical note.
-- Prints its id. COLLATE_API_KEY and COLLATE_BASE_URL name the sandbox; arg[1] is the PDF.
local collate = require "collate"

local client = collate.new{}
local note_path = assert(arg[1], "usage: make_auth.lua clinical-note.pdf")

local function text(linkid, value) return { link_id = linkid, answer = { { value_string = value } } } end

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
    text("coverage.memberId", "SBX-BENCH-0001"),
  } },
  -- A care-management system's case record rides along in metadata (free-form, keys kept).
  metadata = {
    external_case_id = "case_bench_0001", team = "utilization-review", priority = "routine",
    sourceSystem = "epic-tapestry", facilityId = "fac_0042", orderingProvider = "Dr. A. Rivera",
    caseNotes = "Patient transferred from county clinic in March; prior authorization for the same "
      .. "agent was denied by the previous plan for missing crisis documentation. Include ED records.",
    encounterIds = { "enc_20260402_0911", "enc_20260514_1420", "enc_20260520_0730" },
    contacts = { { role = "case_manager", name = "Sam Ortiz", phone = "+1-415-555-0142" },
                 { role = "pharmacist", name = "Lee Chen", phone = "+1-415-555-0177" } },
  },
}

auth = client.authorizations.answers.patch{
  authorization_id = auth.id, if_match = auth.version,
  answers = { item = {
    text("patient.firstName", "Jane"),
    text("patient.lastName", "Doe"),
    { link_id = "patient.dateOfBirth", answer = { { value_date = "1990-04-12" } } },
    text("coverage.memberId", "SBX-BENCH-0001"),
    { link_id = "diagnoses", item = {
      text("code", "D57.00"),
      { link_id = "qualifierCode", answer = { { value_coding = { code = "ABF" } } } },
    } },
    { link_id = "service.startDate", answer = { { value_date = "2026-07-01" } } },
    { link_id = "service.units", answer = { { value_integer = 12 } } },
    { link_id = "clinical.priorTherapyTried", answer = { { value_boolean = true } } },
  } },
}

-- Three clinical files: the requested notes plus labs and a letter of medical necessity.
local documents = (auth.requirements and auth.requirements.documents) or {}
local requested = {}
for i, d in ipairs(documents) do requested[i] = d.type end
if #requested == 0 then requested = { "clinical_notes" } end
local attachments = {
  { name = "clinical-note.pdf", types = requested,
    description = "Hematology visit notes from the last two visits (2026-04-02, 2026-05-14): "
      .. "vaso-occlusive crises despite hydroxyurea at maximum tolerated dose, two ED visits and one "
      .. "admission in the past twelve months, transfusion history and current medication list." },
  { name = "labs-2026-05.pdf", types = { "lab_results" },
    description = "CBC with differential, reticulocyte count, hemoglobin electrophoresis and "
      .. "comprehensive metabolic panel drawn 2026-05-14; fetal hemoglobin fraction trend since 2024." },
  { name = "lmn-crizanlizumab.pdf", types = { "letter_of_medical_necessity", "prior_therapy_history" },
    description = "Letter of medical necessity signed by the treating hematologist, with the prior "
      .. "therapy history (hydroxyurea since 2019, L-glutamine trial 2023) and the dosing plan." },
}
for _, a in ipairs(attachments) do
  local created = client.files.create{ file_name = a.name, content_type = "application/pdf",
                                       purpose = "authorization_attachment" }
  client.files.upload{ upload = created.upload, path = note_path }
  local file = client.files.complete{ file_id = created.file.id }
  auth = client.authorizations.attachments.create{
    authorization_id = auth.id, if_match = auth.version, file_id = file.id,
    document_types = a.types, description = a.description }
end
-- Confirm once when the next action allows it, so the review snapshot is filled too.
if auth.status == "requires_action" and auth.next_action and auth.next_action.type == "continue_authorization" then
  auth = client.authorizations.confirm{ authorization_id = auth.id, if_match = auth.version }
end
io.stdout:write(auth.id, " ", auth.status, " ", auth.next_action and auth.next_action.type or "-", "\n")
