-- The first cut of the contract over real HTTP: auth, create/idempotency, answers, files,
-- confirm/snapshots on the step clock, If-Match, faults, request log, reset.
local cjson = require "cjson"
local http = require "support.http"
local H = require "sandbox.helpers"

local NULL = cjson.null

local function epoch(ts)
  local y, mo, d, h, mi, s = ts:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z$")
  return os.time{ year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h),
    min = tonumber(mi), sec = tonumber(s), isdst = false }
end

local function wall()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("*l"))
  p:close()
  return t
end

describe("collate-sandbox core", function()
  local sb

  setup(function()
    sb = require("support.sandbox").start{ args = { "--clock-mode", "step" } }
  end)

  teardown(function()
    if sb then sb:stop() end
  end)

  before_each(function()
    local r = sb:reset({ mode = "step" })
    assert.are.equal(200, r.status)
  end)

  local function assert_error(r, status, code)
    assert.are.equal(status, r.status, r.body)
    assert.is_table(r.json, r.body)
    assert.are.equal(code, r.json.error.code, r.body)
    assert.is_string(r.json.requestId)
    assert.are.equal(r.json.requestId, r.headers["x-request-id"])
    assert.are.equal(status == 408 or status == 429 or status >= 500, r.json.error.retryable)
    return r.json.error
  end

  describe("health and authentication", function()
    it("answers /health without a key, ignoring a bad one", function()
      local r = sb:request("GET", "/health", nil, { Authorization = false })
      assert.are.equal(200, r.status)
      assert.are.same({ status = "ok" }, r.json)
      assert.matches("^req_%x+$", r.headers["x-request-id"])
      r = sb:request("GET", "/health", nil, { Authorization = "Bearer wrong" })
      assert.are.equal(200, r.status)
    end)

    it("refuses a missing or unknown key with 401 and WWW-Authenticate", function()
      local r = sb:request("GET", "/v1/payers", nil, { Authorization = "Bearer sk_test_wrong" })
      assert_error(r, 401, "unauthorized")
      assert.are.equal("Bearer", r.headers["www-authenticate"])
      assert.matches('"issues":%[%]', r.body)
      assert.matches('"details":{}', r.body)
      r = sb:request("GET", "/v1/payers", nil, { Authorization = false })
      assert_error(r, 401, "unauthorized")
      r = sb:request("GET", "/v1/payers", nil, { Authorization = "Basic c2tfdGVzdF9sb2NhbDo=" })
      assert_error(r, 401, "unauthorized")
    end)

    it("answers 403 to sk_test_forbidden", function()
      local r = sb:request("GET", "/v1/payers", nil, { Authorization = "Bearer sk_test_forbidden" })
      assert_error(r, 403, "forbidden")
    end)

    it("answers 404 not_found and 405 with Allow", function()
      assert_error(sb:request("GET", "/v1/nothing-here"), 404, "not_found")
      local r = sb:request("DELETE", "/v1/prior-authorizations")
      assert_error(r, 405, "method_not_allowed")
      assert.are.equal("GET, POST", r.headers["allow"])
    end)
  end)

  describe("create", function()
    it("creates at version 1, RA·RR, with the eight required questions and every field", function()
      local r = sb:request("POST", "/v1/prior-authorizations", H.create_body(nil,
        { metadata = { externalCaseId = "case_1" } }),
        { ["Idempotency-Key"] = H.key() })
      assert.are.equal(201, r.status, r.body)
      local a = r.json
      assert.matches("^auth_%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x%x$", a.id)
      assert.are.equal(1, a.version)
      assert.are.equal("requires_action", a.status)
      assert.are.equal("resolve_requirements", a.nextAction.type)
      assert.are.equal("update_authorization", a.nextAction.resolution.kind)
      local ids = {}
      for _, q in ipairs(a.requirements.questions) do ids[#ids + 1] = q.linkId end
      assert.are.same({ "patient.firstName", "patient.lastName", "patient.dateOfBirth", "coverage.memberId",
        "diagnoses", "service.startDate", "service.units", "clinical.priorTherapyTried" }, ids)
      assert.matches('"documents":%[%]', r.body) -- default behaviour asks for no document
      for _, f in ipairs({ "id", "version", "status", "outcome", "policy", "providerNpi", "payer", "request", "route",
        "questionnaire", "answers", "requirements", "attachments", "submission", "nextAction", "activeManualHandoff",
        "metadata", "createdAt", "updatedAt", "completedAt", "canceledAt" }) do
        assert.is_not_nil(a[f], "missing field " .. f)
      end
      assert.are.equal(NULL, a.outcome)
      assert.are.equal(NULL, a.submission.reviewSnapshot)
      assert.are.equal(NULL, a.submission.payerReceipt)
      assert.are.equal(NULL, a.submission.decision)
      assert.are.equal("2026-06-01T12:00:00Z", a.createdAt)
      assert.are.equal("Aetna CA drug", a.route.label)
      assert.are.equal("case_1", a.metadata.externalCaseId)
      assert.matches('"attachments":%[%]', r.body)
      assert.are.same({ priorAuthorizationVersion = 1, requirementsVersion = 1, answersVersion = 1,
        attachmentsVersion = 1, reviewSnapshotId = NULL }, a.nextAction.covers)
      assert.are.equal(11, #a.questionnaire.item)
    end)

    it("requires an Idempotency-Key", function()
      local r = sb:request("POST", "/v1/prior-authorizations", H.create_body())
      local e = assert_error(r, 400, "bad_request")
      assert.are.same({ "header", "Idempotency-Key" }, e.issues[1].location)
      assert.are.equal("missing", e.issues[1].errorType)
    end)

    it("replays the same request and refuses the key with another body", function()
      local key = H.key()
      local r1 = sb:request("POST", "/v1/prior-authorizations", H.create_body(), { ["Idempotency-Key"] = key })
      assert.are.equal(201, r1.status)
      assert.is_nil(r1.headers["idempotent-replayed"])
      -- a change in between does not show in the replay
      local p = H.patch(sb, r1.json, H.full_answers("M-12345"))
      assert.are.equal(200, p.status, p.body)
      local r2 = sb:request("POST", "/v1/prior-authorizations", H.create_body(), { ["Idempotency-Key"] = key })
      assert.are.equal(201, r2.status)
      assert.are.equal("true", r2.headers["idempotent-replayed"])
      assert.are.equal(r1.body, r2.body)
      assert.are.equal(1, r2.json.version)
      assert.are_not.equal(r1.headers["x-request-id"], r2.headers["x-request-id"])
      local r3 = sb:request("POST", "/v1/prior-authorizations", H.create_body("SBX-APPROVE"),
        { ["Idempotency-Key"] = key })
      assert_error(r3, 409, "idempotency_key_reused")
      -- only one authorization exists
      local list = sb:request("GET", "/v1/prior-authorizations")
      assert.are.equal(1, #list.json.data)
    end)

    it("answers final_submission_policy_required, and bad_request when other errors exist", function()
      local body = H.create_body()
      body.policy = nil
      assert_error(sb:request("POST", "/v1/prior-authorizations", body, { ["Idempotency-Key"] = H.key() }), 400,
        "final_submission_policy_required")
      body.providerNpi = "1234567890"
      local e = assert_error(sb:request("POST", "/v1/prior-authorizations", body, { ["Idempotency-Key"] = H.key() }),
        400, "bad_request")
      local locs = {}
      for _, i in ipairs(e.issues) do locs[#locs + 1] = table.concat(i.location, ".") end
      assert.are.same({ "body.providerNpi", "body.policy" }, locs)
    end)

    it("checks the route catalog", function()
      local body = H.create_body()
      body.providerNpi = "1304567898"
      assert_error(sb:request("POST", "/v1/prior-authorizations", body, { ["Idempotency-Key"] = H.key() }), 404,
        "provider_not_found")
      body = H.create_body()
      body.request.payerId = "payer_unknown"
      assert_error(sb:request("POST", "/v1/prior-authorizations", body, { ["Idempotency-Key"] = H.key() }), 404,
        "payer_not_found")
      body = H.create_body()
      body.request.payerId = "payer_humana"
      assert_error(sb:request("POST", "/v1/prior-authorizations", body, { ["Idempotency-Key"] = H.key() }), 409,
        "unsupported_route")
      body = H.create_body()
      body.request.requestType = "inpatient"
      body.request.serviceCode = { system = "cpt", code = "27447" }
      assert_error(sb:request("POST", "/v1/prior-authorizations", body, { ["Idempotency-Key"] = H.key() }), 409,
        "provider_access_not_configured")
    end)
  end)

  describe("answers", function()
    it("merges answers, recomputes requirements and moves to RA·CA", function()
      local a = H.create(sb, H.create_body())
      local r = H.patch(sb, a, { item = { H.leaf("patient.firstName", "valueString", "Jane") } })
      assert.are.equal(200, r.status, r.body)
      assert.are.equal(2, r.json.version)
      assert.are.equal(7, #r.json.requirements.questions)
      assert.are.equal(2, r.json.requirements.version)
      assert.are.equal(2, r.json.nextAction.covers.answersVersion)
      r = H.patch(sb, r.json, H.full_answers("M-12345"))
      assert.are.equal(200, r.status, r.body)
      local b = r.json
      assert.are.equal(3, b.version)
      assert.are.equal("continue_authorization", b.nextAction.type)
      assert.matches('"questions":%[%]', r.body)
      assert.are.equal(8, #b.answers.item)
      -- clearing an item brings its question back
      -- cjson encodes {} as an object: send the raw JSON
      r = sb:request("PATCH", "/v1/prior-authorizations/" .. a.id .. "/answers",
        '{"answers":{"item":[{"linkId":"service.units","answer":[]}]}}',
        { ["If-Match"] = '"3"', ["Content-Type"] = "application/json" })
      assert.are.equal(200, r.status, r.body)
      assert.are.equal("resolve_requirements", r.json.nextAction.type)
      assert.are.equal("service.units", r.json.requirements.questions[1].linkId)
      assert.are.equal(7, #r.json.answers.item)
    end)

    it("reports hint violations as blocking issues", function()
      local a = H.create(sb, H.create_body())
      local r = H.patch(sb, a, { item = { H.leaf("service.units", "valueInteger", 0),
        H.leaf("coverage.memberId", "valueString", "x") } })
      assert.are.equal(200, r.status, r.body)
      local fields = {}
      for _, i in ipairs(r.json.requirements.issues) do
        assert.are.equal("invalid_answer_value", i.code)
        assert.are.equal("error", i.severity)
        fields[#fields + 1] = i.field
      end
      assert.are.same({ "coverage.memberId", "service.units" }, fields)
    end)

    it("refuses invalid answers with issue locations", function()
      local a = H.create(sb, H.create_body())
      local r = H.patch(sb, a, { item = {
        H.leaf("nope", "valueString", "x"),
        H.leaf("service.units", "valueString", "12"),
        { linkId = "diagnoses", item = { { linkId = "qualifierCode",
          answer = { { valueCoding = { code = "ZZZ" } } } } } },
        H.leaf("patient.firstName", "valueString", "A"),
        H.leaf("patient.firstName", "valueString", "B"),
      } })
      local e = assert_error(r, 400, "bad_request")
      local got = {}
      for _, i in ipairs(e.issues) do got[#got + 1] = i.errorType .. "@" .. cjson.encode(i.location) end
      assert.are.same({
        'unknown_link_id@["body","answers","item",0,"linkId"]',
        'type_mismatch@["body","answers","item",1,"answer",0,"valueString"]',
        'invalid_choice@["body","answers","item",2,"item",0,"answer",0,"valueCoding","code"]',
        'duplicate_link_id@["body","answers","item",4,"linkId"]',
      }, got)
      -- nothing changed
      assert.are.equal(1, H.get(sb, a.id).version)
    end)

    it("checks If-Match", function()
      local a = H.create(sb, H.create_body())
      local path = "/v1/prior-authorizations/" .. a.id .. "/answers"
      local body = { answers = H.full_answers() }
      local e = assert_error(sb:request("PATCH", path, body), 400, "bad_request")
      assert.are.same({ errorType = "missing", location = { "header", "If-Match" }, message = e.issues[1].message },
        e.issues[1])
      for _, v in ipairs({ "1", 'W/"1"', '"01"', '"0"', '"1", "2"', '"x"' }) do
        e = assert_error(sb:request("PATCH", path, body, { ["If-Match"] = v }), 400, "bad_request")
        assert.are.equal("invalid_format", e.issues[1].errorType, v)
      end
      e = assert_error(sb:request("PATCH", path, body, { ["If-Match"] = '"7"' }), 409, "version_conflict")
      assert.are.same({ expectedVersion = 7, actualVersion = 1 }, e.details)
    end)
  end)

  describe("files", function()
    it("creates, uploads once, completes and attaches", function()
      local r = sb:request("POST", "/v1/files", { fileName = "clinical-notes.pdf", contentType = "application/pdf",
        purpose = "authorization_attachment" })
      assert.are.equal(201, r.status, r.body)
      local created = r.json
      assert.are.equal("pending_upload", created.file.status)
      assert.matches("^" .. sb.url:gsub("%p", "%%%0") .. "/_uploads/upl_%x+$", created.upload.url)
      assert.are.equal(32, #created.upload.url:match("upl_(%x+)$"))
      assert.are.same({ ["Content-Type"] = "application/pdf" }, created.upload.headers)
      assert.are.equal("PUT", created.upload.method)
      assert.are.equal("single_put", created.upload.strategy)
      -- complete before upload
      assert_error(sb:request("POST", "/v1/files/" .. created.file.id .. "/complete"), 400, "file_empty")
      -- the key must not reach the upload URL
      local put = http.request{ method = "PUT", url = created.upload.url, body = H.PDF,
        headers = { ["Content-Type"] = "application/pdf", Authorization = "Bearer " .. sb.key } }
      local e = assert_error(put, 400, "bad_request")
      assert.are.same({ "header", "Authorization" }, e.issues[1].location)
      put = http.request{ method = "PUT", url = created.upload.url, body = H.PDF,
        headers = { ["Content-Type"] = "image/png" } }
      e = assert_error(put, 400, "bad_request")
      assert.are.same({ "header", "Content-Type" }, e.issues[1].location)
      put = http.request{ method = "PUT", url = created.upload.url, body = H.PDF, headers = created.upload.headers }
      assert.are.equal(200, put.status, put.body)
      assert.are.equal("", put.body)
      assert.is_string(put.headers["etag"])
      put = http.request{ method = "PUT", url = created.upload.url, body = H.PDF, headers = created.upload.headers }
      assert_error(put, 409, "upload_already_used")
      assert_error(http.request{ method = "PUT", url = sb.url .. "/_uploads/upl_0000", body = H.PDF,
        headers = created.upload.headers }, 404, "not_found")
      r = sb:request("POST", "/v1/files/" .. created.file.id .. "/complete")
      assert.are.equal(200, r.status, r.body)
      assert.are.equal("ready", r.json.status)
      assert.are.equal(#H.PDF, r.json.sizeBytes)
      assert.are.equal(sb.url .. "/v1/files/" .. created.file.id .. "/download", r.json.downloadUrl)
      local dl = sb:request("GET", "/v1/files/" .. created.file.id .. "/download")
      assert.are.equal(200, dl.status)
      assert.are.equal(H.PDF, dl.body)
      assert.are.equal('attachment; filename="clinical-notes.pdf"', dl.headers["content-disposition"])
      assert.are.equal("application/pdf", dl.headers["content-type"])

      local a = H.create(sb, H.create_body("SBX-QUICKSTART"))
      assert.are.equal("clinical_notes", a.requirements.documents[1].type)
      r = H.attach(sb, a, created.file.id)
      assert.are.equal(200, r.status, r.body)
      assert.are.equal(2, r.json.version)
      assert.matches('"documents":%[%]', r.body)
      assert.are.equal("clinical-notes.pdf", r.json.attachments[1].label)
      assert.matches("^att_%x+$", r.json.attachments[1].id)
      assert.are.equal(2, r.json.nextAction.covers.attachmentsVersion)
    end)

    it("fails content that does not match its type", function()
      local r = sb:request("POST", "/v1/files", { fileName = "scan.png", contentType = "image/png",
        purpose = "authorization_attachment" })
      local put = http.request{ method = "PUT", url = r.json.upload.url, body = H.PDF, headers = r.json.upload.headers }
      assert.are.equal(200, put.status)
      assert_error(sb:request("POST", "/v1/files/" .. r.json.file.id .. "/complete"), 400, "file_content_mismatch")
      local f = sb:request("GET", "/v1/files/" .. r.json.file.id)
      assert.are.equal("failed", f.json.status)
      assert.are.equal(NULL, f.json.downloadUrl)
      local a = H.create(sb, H.create_body("SBX-QUICKSTART"))
      assert_error(H.attach(sb, a, r.json.file.id), 409, "file_not_ready")
      assert_error(H.attach(sb, a, "file_0000000000000000"), 404, "file_not_found")
    end)
  end)

  describe("confirm and the step clock", function()
    local function quickstart_to_ca()
      local sc = sb:request("GET", "/v1/sandbox/scenarios/quickstart_receipt")
      assert.are.equal(200, sc.status, sc.body)
      local a = H.create(sb, sc.json.create)
      local r = H.confirm(sb, a)
      local e = assert_error(r, 409, "requirements_not_satisfied")
      assert.are.same({ "diagnoses", "service.startDate", "service.units", "clinical.priorTherapyTried" },
        e.details.questions)
      assert.are.same({ "clinical_notes" }, e.details.documents)
      r = H.patch(sb, a, sc.json.followUpAnswers)
      assert.are.equal(200, r.status, r.body)
      local f = H.ready_file(sb)
      r = H.attach(sb, r.json, f.id)
      assert.are.equal(200, r.status, r.body)
      assert.are.equal("requires_action/continue_authorization", H.state(r.json))
      return r.json
    end

    it("runs quickstart_receipt to C(approved)", function()
      local a = quickstart_to_ca()
      local r = H.confirm(sb, a)
      assert.are.equal(200, r.status, r.body)
      assert.are.equal("processing", r.json.status)
      assert.are.equal(NULL, r.json.nextAction)
      assert.are.equal(4, r.json.version)
      local clock = sb:control("GET", "/_sandbox/clock").json
      assert.are.equal("step", clock.mode)
      assert.are.same({ { authorizationId = a.id, event = "discovery_step", dueAt = "2026-06-01T12:00:05Z" } },
        clock.pending)

      local adv = H.advance(sb, 5)
      assert.are.equal("2026-06-01T12:00:05Z", adv.now)
      assert.are.equal("discovery_step", adv.fired[1].event)
      local b = H.get(sb, a.id)
      assert.are.equal("requires_action/approve_submission", H.state(b))
      assert.are.equal(5, b.version)
      local snap = b.submission.reviewSnapshot
      assert.are.equal("current", snap.status)
      assert.matches("^rev_%x+$", snap.id)
      assert.are.equal(snap.id, b.nextAction.covers.reviewSnapshotId)
      assert.are.same({ priorAuthorizationVersion = 5, requirementsVersion = 3, answersVersion = 2,
        attachmentsVersion = 2 }, snap.covers)
      assert.are.equal("SBX-QUICKSTART", snap.summary.memberId)
      assert.are.same({ "clinical_notes" }, snap.summary.documentTypes)
      assert.are.equal("2026-06-01T12:00:05Z", b.updatedAt)

      local e = assert_error(H.confirm(sb, b), 409, "review_stale")
      assert.are.equal(snap.id, e.details.currentReviewSnapshotId)
      assert_error(H.confirm(sb, b, "rev_0000000000000000"), 409, "review_stale")

      r = H.confirm(sb, b, snap.id)
      assert.are.equal(200, r.status, r.body)
      assert.are.equal("processing", r.json.status)
      assert.are.equal("accepted", r.json.submission.reviewSnapshot.status)

      local st = H.step(sb)
      assert.are.equal("submission_step", st.fired[1].event)
      assert.are.equal("2026-06-01T12:00:10Z", st.now)
      local c = H.get(sb, a.id)
      assert.are.equal("waiting_on_payer", c.status)
      assert.matches("^SBX%-RCPT%-", c.submission.payerReceipt.referenceNumber)
      assert.are.equal("2026-06-01T12:00:10Z", c.submission.payerReceipt.receivedAt)
      assert.are.equal("portal", c.submission.payerReceipt.channel)

      st = H.step(sb)
      assert.are.equal("payer_decision", st.fired[1].event)
      assert.are.equal("2026-06-01T12:10:10Z", st.now) -- scenario 1 waits 600 s
      local d = H.get(sb, a.id)
      assert.are.equal("completed/approved", H.state(d))
      assert.are.equal("2026-06-01T12:10:10Z", d.completedAt)
      assert.is_string(d.submission.decision.authorizationNumber)
      assert.are.equal(8, d.version)
      assert.same({}, H.step(sb).fired)
      assert_error(H.confirm(sb, d), 409, "prior_authorization_not_actionable")
      assert_error(sb:request("POST", "/v1/prior-authorizations/" .. a.id .. "/cancel", nil, H.ifm(d.version)), 409,
        "prior_authorization_not_mutable")
    end)

    it("makes the snapshot stale on a later write", function()
      local a = quickstart_to_ca()
      a = H.confirm(sb, a).json
      H.advance(sb, 5)
      local b = H.get(sb, a.id)
      local snap = b.submission.reviewSnapshot.id
      local r = H.patch(sb, b, { item = { H.leaf("clinical.notes", "valueString", "more") } })
      assert.are.equal(200, r.status, r.body)
      assert.are.equal("requires_action/continue_authorization", H.state(r.json))
      assert.are.equal("stale", r.json.submission.reviewSnapshot.status)
      -- confirming CA leads to a new snapshot
      r = H.confirm(sb, r.json, snap)
      assert.are.equal(200, r.status)
      H.advance(sb, 5)
      local c = H.get(sb, a.id)
      assert.are_not.equal(snap, c.submission.reviewSnapshot.id)
      assert.are.equal("current", c.submission.reviewSnapshot.status)
    end)

    it("cancels and refuses writes afterwards", function()
      local a = H.create(sb, H.create_body())
      local r = sb:request("POST", "/v1/prior-authorizations/" .. a.id .. "/cancel", { reason = "duplicate" }, H.ifm(1))
      assert.are.equal(200, r.status, r.body)
      assert.are.equal("canceled", r.json.status)
      assert.are.equal("2026-06-01T12:00:00Z", r.json.canceledAt)
      assert.are.equal(NULL, r.json.nextAction)
      assert_error(H.patch(sb, r.json, H.full_answers()), 409, "prior_authorization_not_mutable")
      assert_error(sb:request("GET", "/v1/prior-authorizations/auth_0000000000000000"), 404,
        "prior_authorization_not_found")
    end)

    it("runs the default behaviour under a realtime clock at high speed", function()
      sb:reset({ mode = "realtime", speed = 100 })
      local body = H.create_body()
      body.answers = H.full_answers("M-99999")
      body.policy = { finalSubmission = "automatic" }
      local a = H.create(sb, body)
      assert.are.equal("requires_action/continue_authorization", H.state(a))
      local r = H.confirm(sb, a)
      assert.are.equal(200, r.status)
      local confirmed = epoch(r.json.updatedAt)
      local b
      for _ = 1, 40 do -- 70 virtual seconds are 0.7 s of wall time
        os.execute("sleep 0.1")
        b = H.get(sb, a.id)
        if b.status == "completed" then break end
      end
      assert.are.equal("completed/approved", H.state(b))
      -- each transition is stamped at its due time: +10 receipt, +60 decision
      assert.are.equal(10, epoch(b.submission.payerReceipt.receivedAt) - confirmed)
      assert.are.equal(70, epoch(b.completedAt) - confirmed)
      assert.are.equal("realtime", sb:control("GET", "/_sandbox/clock").json.mode)
    end)
  end)

  describe("faults, request log and reset", function()
    it("answers a 503 rule once, then serves normally; the log shows it redacted", function()
      local r = sb:control("POST", "/_sandbox/faults", { rules = { { method = "GET", path = "/v1/payers",
        kind = "status",
        status = 503 } } })
      assert.are.equal(200, r.status, r.body)
      assert.matches("^flt_", r.json.rules[1].id)
      assert.are.equal(1, r.json.rules[1].remaining)
      local f = sb:request("GET", "/v1/payers")
      assert_error(f, 503, "service_unavailable")
      local ok = sb:request("GET", "/v1/payers")
      assert.are.equal(200, ok.status)
      assert.are.equal(6, #ok.json.data)
      assert.matches('"rules":%[%]', sb:control("GET", "/_sandbox/faults").body)
      local log = sb:control("GET", "/_sandbox/requests?method=GET&path=/v1/payers").json.data
      assert.are.equal(2, #log)
      assert.are.equal("status", log[1].fault)
      assert.are.equal(503, log[1].status)
      assert.are.equal("[REDACTED]", log[1].headers.authorization)
      assert.are.equal(f.headers["x-request-id"], log[1].requestId)
      assert.are.equal(NULL, log[2].fault)
      assert.are.equal(200, log[2].status)
      local last = sb:control("GET", "/_sandbox/requests?limit=1").json.data
      assert.are.equal(1, #last)
      assert.are.equal(ok.headers["x-request-id"], last[1].requestId)
      assert.are.equal(200, sb:control("DELETE", "/_sandbox/requests").status)
      assert.matches('"data":%[%]', sb:control("GET", "/_sandbox/requests").body)
    end)

    it("answers 429 with Retry-After and other status kinds", function()
      sb:control("POST", "/_sandbox/faults", { rules = { { path = "/v1/**", kind = "status", status = 429, times = 2 },
        { path = "/health", kind = "status", status = 500 } } })
      local r = sb:request("GET", "/v1/providers")
      assert_error(r, 429, "rate_limited")
      assert.are.equal("1", r.headers["retry-after"])
      assert_error(sb:request("POST", "/v1/prior-authorizations", H.create_body(), { ["Idempotency-Key"] = "x" }), 429,
        "rate_limited")
      assert_error(sb:request("GET", "/health"), 500, "internal_error")
      assert.are.equal(200, sb:request("GET", "/v1/providers").status)
      -- the faulted create left nothing behind
      assert.matches('"data":%[%]', sb:request("GET", "/v1/prior-authorizations").body)
    end)

    it("resets the connection without processing (before) or after processing", function()
      sb:control("POST", "/_sandbox/faults", { rules = { { method = "POST", path = "/v1/prior-authorizations",
        kind = "reset", when = "after" } } })
      local key = H.key()
      local r, err = sb:request("POST", "/v1/prior-authorizations", H.create_body(), { ["Idempotency-Key"] = key })
      assert.is_nil(r)
      assert.is_string(err)
      -- processed and recorded: the retry replays
      r = sb:request("POST", "/v1/prior-authorizations", H.create_body(), { ["Idempotency-Key"] = key })
      assert.are.equal(201, r.status)
      assert.are.equal("true", r.headers["idempotent-replayed"])
      local log = sb:control("GET", "/_sandbox/requests?method=POST&path=/v1/prior-authorizations").json.data
      assert.are.equal(2, #log)
      assert.are.equal("reset", log[1].fault)
      assert.are.equal(201, log[1].status)
      assert.is_true(log[2].idempotentReplay)
      sb:control("POST", "/_sandbox/faults", { rules = { { path = "/v1/payers", kind = "reset" } } })
      r = sb:request("GET", "/v1/payers")
      assert.is_nil(r)
      log = sb:control("GET", "/_sandbox/requests?path=/v1/payers").json.data
      assert.are.equal(NULL, log[1].status)
    end)

    it("delays, truncates and sends malformed JSON", function()
      sb:control("POST", "/_sandbox/faults", { rules = {
        { path = "/v1/payers", kind = "delay", ms = 300 },
        { path = "/v1/providers", kind = "truncate" },
        { path = "/v1/sandbox/scenarios", kind = "malformed_json" } } })
      local t0 = wall()
      local r = sb:request("GET", "/v1/payers")
      local elapsed = wall() - t0
      assert.are.equal(200, r.status)
      assert.is_true(elapsed >= 0.3 and elapsed < 5, "elapsed " .. elapsed)
      r = sb:request("GET", "/v1/providers")
      assert.is_nil(r)
      r = sb:request("GET", "/v1/sandbox/scenarios")
      assert.are.equal(200, r.status)
      assert.is_nil(r.json)
      local log = sb:control("GET", "/_sandbox/requests").json.data
      assert.are.same({ "delay", "truncate", "malformed_json" }, { log[1].fault, log[2].fault, log[3].fault })
    end)

    it("matches rules by method and path glob, in creation order", function()
      sb:control("POST", "/_sandbox/faults", { rules = {
        { method = "POST", path = "/v1/prior-authorizations/*/cancel", kind = "status", status = 504 },
        { path = "/v1/**", kind = "status", status = 408, times = 2 } } })
      local rules = sb:control("GET", "/_sandbox/faults").json.rules
      assert.are.equal(2, #rules)
      assert.are.equal(2, rules[2].remaining)
      assert_error(sb:request("POST", "/v1/prior-authorizations/auth_x/cancel"), 504, "gateway_timeout")
      assert_error(sb:request("GET", "/v1/prior-authorizations/auth_x"), 408, "request_timeout")
      assert.are.equal(1, #sb:control("GET", "/_sandbox/faults").json.rules)
      assert.are.equal(200, sb:request("GET", "/health").status)
      assert.are.equal(200, sb:control("DELETE", "/_sandbox/faults").status)
      assert.are.equal(404, sb:request("GET", "/v1/prior-authorizations/auth_x").status)
    end)

    it("resets state and ID counters", function()
      local a = H.create(sb, H.create_body())
      sb:control("POST", "/_sandbox/faults", { rules = { { path = "/nothing", kind = "status", status = 500 } } })
      local r = sb:reset({ mode = "step" })
      assert.are.same({ now = "2026-06-01T12:00:00Z", mode = "step", speed = 1 }, r.json)
      assert.are.equal(404, sb:request("GET", "/v1/prior-authorizations/" .. a.id).status)
      assert.matches('"rules":%[%]', sb:control("GET", "/_sandbox/faults").body)
      local b = H.create(sb, H.create_body())
      assert.are.equal(a.id, b.id)
    end)
  end)
end)
