-- Shared helpers for the sandbox suites (bodies, files, flows).
local helpers = {}

helpers.PDF = "%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
helpers.PNG = "\137PNG\r\n\26\n" .. string.rep("\0", 16)

local key_n = 0
function helpers.key()
  key_n = key_n + 1
  return string.format("test-key-%d-%d", os.time(), key_n)
end

function helpers.create_body(member_id, extra)
  local body = {
    providerNpi = "1234567893",
    request = { payerId = "payer_aetna", coverageState = "CA", requestType = "drug",
      serviceCode = { system = "hcpcs", code = "J0791" } },
    policy = { finalSubmission = "requires_approval" },
  }
  if member_id then
    body.answers = { item = { { linkId = "coverage.memberId", answer = { { valueString = member_id } } } } }
  end
  for k, v in pairs(extra or {}) do body[k] = v end
  return body
end

local function leaf(id, key, v) return { linkId = id, answer = { { [key] = v } } } end
helpers.leaf = leaf

function helpers.full_answers(member_id)
  return { item = {
    leaf("patient.firstName", "valueString", "Jane"),
    leaf("patient.lastName", "valueString", "Doe"),
    leaf("patient.dateOfBirth", "valueDate", "1990-04-12"),
    leaf("coverage.memberId", "valueString", member_id or "SBX-QUICKSTART"),
    { linkId = "diagnoses", item = { leaf("code", "valueString", "D57.00"),
      { linkId = "qualifierCode", answer = { { valueCoding = { code = "ABF" } } } } } },
    leaf("service.startDate", "valueDate", "2026-07-01"),
    leaf("service.units", "valueInteger", 12),
    leaf("clinical.priorTherapyTried", "valueBoolean", true),
  } }
end

function helpers.ifm(v)
  return { ["If-Match"] = string.format('"%d"', v) }
end

function helpers.create(sb, body)
  local r = sb:request("POST", "/v1/prior-authorizations", body, { ["Idempotency-Key"] = helpers.key() })
  assert(r.status == 201, "create failed: " .. tostring(r.status) .. " " .. r.body)
  return r.json
end

function helpers.get(sb, id)
  local r = sb:request("GET", "/v1/prior-authorizations/" .. id)
  assert(r.status == 200, r.body)
  return r.json
end

function helpers.patch(sb, a, answers)
  return sb:request("PATCH", "/v1/prior-authorizations/" .. a.id .. "/answers", { answers = answers },
    helpers.ifm(a.version))
end

-- files.create + PUT + complete; returns the ready File
function helpers.ready_file(sb, name, ctype, bytes)
  local http = require "support.http"
  local r = sb:request("POST", "/v1/files", { fileName = name or "notes.pdf", contentType = ctype or "application/pdf",
    purpose = "authorization_attachment" })
  assert(r.status == 201, r.body)
  local created = r.json
  local put = http.request{ method = "PUT", url = created.upload.url, headers = created.upload.headers,
    body = bytes or helpers.PDF }
  assert(put.status == 200, put.body)
  r = sb:request("POST", "/v1/files/" .. created.file.id .. "/complete")
  assert(r.status == 200, r.body)
  return r.json
end

function helpers.attach(sb, a, file_id, types)
  return sb:request("POST", "/v1/prior-authorizations/" .. a.id .. "/attachments",
    { fileId = file_id, documentTypes = types or { "clinical_notes" } }, helpers.ifm(a.version))
end

function helpers.confirm(sb, a, snapshot_id)
  local body = snapshot_id and { acceptedReviewSnapshotId = snapshot_id } or nil
  return sb:request("POST", "/v1/prior-authorizations/" .. a.id .. "/confirm", body, helpers.ifm(a.version))
end

function helpers.advance(sb, seconds)
  local r = sb:control("POST", "/_sandbox/clock/advance", { seconds = seconds })
  assert(r.status == 200, r.body)
  return r.json
end

function helpers.step(sb)
  local r = sb:control("POST", "/_sandbox/clock/step")
  assert(r.status == 200, r.body)
  return r.json
end

function helpers.state(a)
  local s = a.status
  if a.nextAction and a.nextAction ~= require("cjson").null then s = s .. "/" .. a.nextAction.type end
  if a.outcome and a.outcome ~= require("cjson").null then s = s .. "/" .. a.outcome end
  return s
end

return helpers
