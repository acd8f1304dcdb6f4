-- Catalog reads, lists and pagination, attachments, files edge cases and request validation.
local cjson = require "cjson"
local http = require "support.http"
local H = require "sandbox.helpers"

local NULL = cjson.null

describe("collate-sandbox API surface", function()
  local sb

  setup(function()
    sb = require("support.sandbox").start{ args = { "--clock-mode", "step" } }
  end)

  teardown(function()
    if sb then sb:stop() end
  end)

  before_each(function()
    assert.are.equal(200, sb:reset({ mode = "step" }).status)
  end)

  local function issue_of(r, status)
    assert.are.equal(status or 400, r.status, r.body)
    assert.are.equal("bad_request", r.json.error.code, r.body)
    local out = {}
    for _, i in ipairs(r.json.error.issues) do
      local loc = {}
      for k, v in ipairs(i.location) do loc[k] = type(v) == "number" and string.format("%d", v) or v end
      out[#out + 1] = i.errorType .. "@" .. table.concat(loc, ".")
    end
    return out
  end

  local function create_raw(body, headers)
    local h = { ["Idempotency-Key"] = H.key(), ["Content-Type"] = "application/json" }
    for k, v in pairs(headers or {}) do h[k] = v end
    return sb:request("POST", "/v1/prior-authorizations", body, h)
  end

  describe("catalog", function()
    it("lists and retrieves payers and providers", function()
      local r = sb:request("GET", "/v1/payers")
      assert.are.equal(200, r.status)
      local ids = {}
      for _, p in ipairs(r.json.data) do ids[#ids + 1] = p.id end
      assert.are.same({ "payer_aetna", "payer_bcbs_ca", "payer_cigna", "payer_humana", "payer_kaiser",
        "payer_uhc" }, ids)
      assert.are.equal(NULL, r.json.pagination.nextCursor)
      r = sb:request("GET", "/v1/payers/payer_aetna")
      assert.are.same({ id = "payer_aetna", displayName = "Aetna", supportedStates = { "CA", "NY", "TX" },
        supportedServiceTypes = { "drug", "outpatient", "inpatient" }, aliases = { "aetna" }, status = "active",
        brand = NULL, lineOfBusiness = "commercial" }, r.json)
      assert.are.equal("Blue Cross Blue Shield", sb:request("GET", "/v1/payers/payer_bcbs_ca").json.brand)
      assert.are.equal("payer_not_found", sb:request("GET", "/v1/payers/payer_unknown").json.error.code)
      r = sb:request("GET", "/v1/providers?limit=2")
      assert.are.equal(2, #r.json.data)
      assert.are.equal("1234567893", r.json.data[1].npi)
      assert.are.equal("1554433221", r.json.data[2].npi)
      r = sb:request("GET", "/v1/providers?limit=2&cursor=" .. r.json.pagination.nextCursor)
      assert.are.equal("1987654328", r.json.data[1].npi)
      assert.are.equal(NULL, r.json.pagination.nextCursor)
      r = sb:request("GET", "/v1/providers/1987654328")
      assert.are.equal("Bayview Orthopedic Surgery", r.json.displayName)
      assert.are.equal("74-5551234", r.json.taxId)
      assert.matches('"metadata":{}', r.body)
      assert.are.equal(404, sb:request("GET", "/v1/providers/1304567898").status)
    end)

    it("lists route options and resolves routes with the negative fixtures", function()
      local r = sb:request("GET", "/v1/prior-authorization-routes?providerNpi=1234567893")
      assert.are.equal(200, r.status, r.body)
      local labels = {}
      for _, o in ipairs(r.json.options) do labels[#labels + 1] = o.label end
      assert.are.same({ "Aetna CA drug", "Aetna CA outpatient", "Blue Shield of California CA drug", "Cigna CA drug",
        "UnitedHealthcare CA drug" }, labels)
      assert.are.same({ "hcpcs", "ndc" }, r.json.options[1].supportedServiceCodeSystems)
      assert.are.same({ "cpt", "hcpcs" }, r.json.options[2].supportedServiceCodeSystems)
      assert.are.same({ "missing@query.providerNpi" }, issue_of(sb:request("GET", "/v1/prior-authorization-routes")))
      assert.are.same({ "invalid_format@query.providerNpi" },
        issue_of(sb:request("GET", "/v1/prior-authorization-routes?providerNpi=1234567890")))
      assert.are.equal("provider_not_found",
        sb:request("GET", "/v1/prior-authorization-routes?providerNpi=1304567898").json.error.code)

      local function resolve(npi, payer, state, rtype, system, code)
        return sb:request("POST", "/v1/prior-authorization-routes/resolve", { providerNpi = npi, payerId = payer,
          coverageState = state, requestType = rtype, serviceCode = { system = system, code = code } })
      end
      r = resolve("1234567893", "payer_aetna", "CA", "drug", "hcpcs", "J0791")
      assert.are.equal(200, r.status, r.body)
      assert.are.same({ providerNpi = "1234567893", payerId = "payer_aetna", payerDisplayName = "Aetna",
        coverageState = "CA", requestType = "drug", serviceCode = { system = "hcpcs", code = "J0791" },
        channel = "portal", accessMode = "collate_managed", label = "Aetna CA drug" }, r.json)
      assert.are.same({ "invalid_format@body.providerNpi" },
        issue_of(resolve("1234567890", "payer_aetna", "CA", "drug", "hcpcs", "J0791")))
      assert.are.equal("provider_not_found", resolve("1304567898", "payer_aetna", "CA", "drug", "hcpcs",
        "J0791").json.error.code)
      assert.are.equal("payer_not_found", resolve("1234567893", "payer_unknown", "CA", "drug", "hcpcs",
        "J0791").json.error.code)
      assert.are.equal("unsupported_route", resolve("1234567893", "payer_humana", "CA", "drug", "hcpcs",
        "J0791").json.error.code)
      assert.are.equal("unsupported_route", resolve("1234567893", "payer_aetna", "CA", "drug", "cpt",
        "72148").json.error.code)
      assert.are.equal("provider_access_not_configured",
        resolve("1234567893", "payer_kaiser", "CA", "outpatient", "cpt", "73721").json.error.code)
      assert.are.equal("provider_access_not_configured",
        resolve("1234567893", "payer_aetna", "CA", "inpatient", "cpt", "27447").json.error.code)
    end)
  end)

  describe("authorization list", function()
    it("filters and paginates newest first", function()
      local ids = {}
      for i = 1, 3 do
        local body = H.create_body(nil, { metadata = { externalCaseId = "case_" .. (i % 2) } })
        ids[i] = H.create(sb, body).id
        H.advance(sb, 1)
      end
      local r = sb:request("GET", "/v1/prior-authorizations?limit=2")
      assert.are.equal(200, r.status)
      assert.are.same({ ids[3], ids[2] }, { r.json.data[1].id, r.json.data[2].id })
      local cursor = r.json.pagination.nextCursor
      assert.is_string(cursor)
      r = sb:request("GET", "/v1/prior-authorizations?limit=2&cursor=" .. cursor)
      assert.are.same({ ids[1] }, { r.json.data[1].id })
      assert.are.equal(NULL, r.json.pagination.nextCursor)
      r = sb:request("GET", "/v1/prior-authorizations?externalCaseId=case_1")
      assert.are.equal(2, #r.json.data)
      assert.are.equal(ids[3], r.json.data[1].id)
      assert.are.same({ "invalid_format@query.cursor" },
        issue_of(sb:request("GET", "/v1/prior-authorizations?limit=2&status=canceled&cursor=" .. cursor)))
      assert.are.same({ "invalid_format@query.cursor" }, issue_of(sb:request("GET",
        "/v1/prior-authorizations?cursor=zz")))
      sb:request("POST", "/v1/prior-authorizations/" .. ids[2] .. "/cancel", nil, H.ifm(1))
      r = sb:request("GET", "/v1/prior-authorizations?status=canceled")
      assert.are.equal(1, #r.json.data)
      assert.are.equal(ids[2], r.json.data[1].id)
      r = sb:request("GET", "/v1/prior-authorizations?providerNpi=1987654328")
      assert.matches('"data":%[%]', r.body)
      assert.are.same({ "invalid_enum@query.status" }, issue_of(sb:request("GET",
        "/v1/prior-authorizations?status=nope")))
      for _, l in ipairs({ "0", "101", "x", "-1" }) do
        local got = issue_of(sb:request("GET", "/v1/prior-authorizations?limit=" .. l))
        assert.are.equal("query.limit", got[1]:match("@(.*)$"))
      end
    end)
  end)

  describe("attachments", function()
    it("lists, deletes, and brings document requirements back", function()
      local sc = sb:request("GET", "/v1/sandbox/scenarios/quickstart_receipt").json
      local a = H.create(sb, sc.create)
      a = H.patch(sb, a, sc.followUpAnswers).json
      local f = H.ready_file(sb)
      a = H.attach(sb, a, f.id).json
      local r = sb:request("POST", "/v1/prior-authorizations/" .. a.id .. "/attachments",
        { fileId = f.id, documentTypes = { "lab_results", "other" }, description = "again" }, H.ifm(a.version))
      assert.are.equal(200, r.status, r.body)
      a = r.json
      assert.are.equal(2, #a.attachments)
      assert.are.equal(3, a.nextAction.covers.attachmentsVersion)
      r = sb:request("GET", "/v1/prior-authorizations/" .. a.id .. "/attachments?limit=1")
      assert.are.equal(200, r.status, r.body)
      assert.are.equal(a.attachments[1].id, r.json.data[1].id)
      r = sb:request("GET", "/v1/prior-authorizations/" .. a.id .. "/attachments?limit=1&cursor=" ..
        r.json.pagination.nextCursor)
      assert.are.equal(a.attachments[2].id, r.json.data[1].id)
      assert.are.equal("again", r.json.data[1].description)
      assert.are.equal(NULL, r.json.pagination.nextCursor)
      local path = "/v1/prior-authorizations/" .. a.id .. "/attachments/"
      assert.are.equal("attachment_not_found",
        sb:request("DELETE", path .. "att_0000000000000000", nil, H.ifm(a.version)).json.error.code)
      assert.are.equal("version_conflict", sb:request("DELETE", path .. a.attachments[1].id, nil,
        H.ifm(1)).json.error.code)
      r = sb:request("DELETE", path .. a.attachments[1].id, nil, H.ifm(a.version))
      assert.are.equal(200, r.status, r.body)
      assert.are.equal("requires_action/resolve_requirements", H.state(r.json))
      assert.are.equal("clinical_notes", r.json.requirements.documents[1].type)
      assert.are.equal(4, r.json.nextAction.covers.attachmentsVersion)
      assert.are.equal(1, #r.json.attachments)
      assert.are.same({ "invalid_enum@body.documentTypes.0" }, issue_of(sb:request("POST",
        "/v1/prior-authorizations/" .. a.id .. "/attachments", { fileId = f.id, documentTypes = { "xray" } },
        H.ifm(r.json.version))))
    end)
  end)

  describe("files", function()
    it("validates create, downloads non-ASCII names, refuses empty uploads", function()
      assert.are.same({ "invalid_format@body.fileName", "invalid_enum@body.contentType", "missing@body.purpose" },
        issue_of(sb:request("POST", "/v1/files", { fileName = "a/b.pdf", contentType = "text/plain" })))
      local f = H.ready_file(sb, "résumé.png", "image/png", H.PNG)
      local dl = sb:request("GET", "/v1/files/" .. f.id .. "/download")
      assert.are.equal(200, dl.status)
      assert.are.equal("image/png", dl.headers["content-type"])
      assert.are.equal(tostring(#H.PNG), dl.headers["content-length"])
      assert.are.equal([[attachment; filename="r_sum_.png"; filename*=UTF-8''r%C3%A9sum%C3%A9.png]],
        dl.headers["content-disposition"])
      local r = sb:request("POST", "/v1/files", { fileName = "empty.pdf", contentType = "application/pdf",
        purpose = "authorization_attachment" })
      assert.are.equal("file_not_ready", sb:request("GET",
        "/v1/files/" .. r.json.file.id .. "/download").json.error.code)
      assert.are.equal(200, http.request{ method = "PUT", url = r.json.upload.url, body = "",
        headers = r.json.upload.headers }.status)
      assert.are.equal("file_empty", sb:request("POST", "/v1/files/" .. r.json.file.id .. "/complete").json.error.code)
      assert.are.equal("failed", sb:request("GET", "/v1/files/" .. r.json.file.id).json.status)
      assert.are.equal("file_not_found", sb:request("GET", "/v1/files/file_0000000000000000").json.error.code)
      -- extension mismatch
      r = sb:request("POST", "/v1/files", { fileName = "notes.png", contentType = "application/pdf",
        purpose = "authorization_attachment" })
      http.request{ method = "PUT", url = r.json.upload.url, body = H.PDF, headers = r.json.upload.headers }
      assert.are.equal("file_content_mismatch",
        sb:request("POST", "/v1/files/" .. r.json.file.id .. "/complete").json.error.code)
    end)

    it("enforces the 32 MiB upload and 25 MiB file limits", function()
      local r = sb:request("POST", "/v1/files", { fileName = "big.pdf", contentType = "application/pdf",
        purpose = "authorization_attachment" })
      local put = http.request{ method = "PUT", url = r.json.upload.url, headers = r.json.upload.headers,
        body = "%PDF-" .. string.rep("x", 32 * 1024 * 1024) }
      assert.are.equal(413, put.status, put.body)
      assert.are.equal("file_too_large", put.json.error.code)
      put = http.request{ method = "PUT", url = r.json.upload.url, headers = r.json.upload.headers,
        body = "%PDF-" .. string.rep("x", 26214400) }
      assert.are.equal(200, put.status, put.body)
      local c = sb:request("POST", "/v1/files/" .. r.json.file.id .. "/complete")
      assert.are.equal(413, c.status)
      assert.are.equal("file_too_large", c.json.error.code)
    end)
  end)

  describe("order of checks", function()
    it("answers faults before authentication, authentication before routes, headers before bodies", function()
      sb:control("POST", "/_sandbox/faults", { rules = { { path = "/v1/nothing", kind = "status", status = 502 } } })
      local r = sb:request("GET", "/v1/nothing", nil, { Authorization = false })
      assert.are.equal(502, r.status)
      assert.are.equal("bad_gateway", r.json.error.code)
      assert.is_true(r.json.error.retryable)
      assert.are.equal(401, sb:request("GET", "/v1/nothing", nil, { Authorization = false }).status)
      assert.are.equal(404, sb:request("GET", "/v1/nothing").status)
      -- If-Match (headers) before the body schema, body schema before path resources
      local p = "/v1/prior-authorizations/auth_0000000000000000/answers"
      assert.are.same({ "missing@header.If-Match" }, issue_of(sb:request("PATCH", p, "{", {
        ["Content-Type"] = "application/json" })))
      assert.are.same({ "invalid_json@body" }, issue_of(sb:request("PATCH", p, "{", {
        ["Content-Type"] = "application/json", ["If-Match"] = '"1"' })))
      assert.are.equal("prior_authorization_not_found", sb:request("PATCH", p, { answers = H.full_answers() },
        H.ifm(1)).json.error.code)
      -- path resources before If-Match versions
      assert.are.equal("prior_authorization_not_found", sb:request("POST",
        "/v1/prior-authorizations/auth_0000000000000000/cancel", nil, H.ifm(9)).json.error.code)
    end)

    it("forgets idempotency keys after 24 h of emulator time", function()
      local key = H.key()
      local r1 = sb:request("POST", "/v1/prior-authorizations", H.create_body(), { ["Idempotency-Key"] = key })
      H.advance(sb, 86399)
      local r2 = sb:request("POST", "/v1/prior-authorizations", H.create_body(), { ["Idempotency-Key"] = key })
      assert.are.equal(r1.json.id, r2.json.id)
      H.advance(sb, 1)
      local r3 = sb:request("POST", "/v1/prior-authorizations", H.create_body(), { ["Idempotency-Key"] = key })
      assert.are.equal(201, r3.status)
      assert.is_nil(r3.headers["idempotent-replayed"])
      assert.are_not.equal(r1.json.id, r3.json.id)
    end)

    it("logs one line per request through the C front", function()
      local r = sb:request("GET", "/health")
      local line = "GET /health 200 %d+ms " .. r.headers["x-request-id"]
      local log = ""
      for _ = 1, 20 do
        log = sb:log()
        if log:find(line) then break end
        os.execute("sleep 0.05")
      end
      assert.matches(line, log)
    end)
  end)

  describe("request validation", function()
    it("refuses bodies that are not JSON objects", function()
      assert.are.same({ "invalid_json@body" }, issue_of(create_raw("{nope")))
      assert.are.same({ "invalid_json@body" }, issue_of(create_raw('{"providerNpi":"\255"}')))
      assert.are.same({ "invalid_type@body" }, issue_of(create_raw("[1,2]")))
      assert.are.same({ "too_long@body" }, issue_of(create_raw('{"x":"' .. string.rep("a", 1048576) .. '"}')))
      assert.are.same({ "invalid_format@header.Content-Type" },
        issue_of(create_raw(cjson.encode(H.create_body()), { ["Content-Type"] = "text/plain" })))
      local r = create_raw(cjson.encode(H.create_body()), { ["Content-Type"] = "application/json; charset=utf-8" })
      assert.are.equal(201, r.status, r.body)
    end)

    it("reports wrong types, enums, formats, missing and extra properties", function()
      local body = H.create_body()
      body.providerNpi = 1234567893
      body.request.requestType = "dental"
      body.request.coverageState = "ca"
      body.request.serviceCode.code = "J07"
      body.request.payerId = nil
      body.provider_npi = "x"
      body.metadata = { externalCaseId = 5 }
      assert.are.same({
        "invalid_type@body.providerNpi",
        "missing@body.request.payerId",
        "invalid_format@body.request.coverageState",
        "invalid_enum@body.request.requestType",
        "invalid_type@body.metadata.externalCaseId",
        "extra_forbidden@body.provider_npi",
        "invalid_format@body.request.serviceCode.code",
      }, issue_of(create_raw(body)))
      body = H.create_body()
      body.policy.finalSubmission = "sometimes"
      assert.are.same({ "invalid_enum@body.policy.finalSubmission" }, issue_of(create_raw(body)))
      body = H.create_body()
      body.metadata = { blob = string.rep("x", 17000) }
      assert.are.same({ "too_long@body.metadata" }, issue_of(create_raw(body)))
      assert.are.same({ "invalid_format@header.Idempotency-Key" },
        issue_of(create_raw(H.create_body(), { ["Idempotency-Key"] = string.rep("k", 256) })))
    end)

    it("validates answer values", function()
      local a = H.create(sb, H.create_body())
      local r = H.patch(sb, a, { item = {
        H.leaf("patient.dateOfBirth", "valueDate", "1990-02-30"),
        { linkId = "service.units", answer = { { valueInteger = 1.5 } } },
        { linkId = "clinical.priorTherapyTried", answer = { { valueBoolean = true, valueString = "x" } } },
        { linkId = "patient.firstName", answer = { { valueString = "a" }, { valueString = "b" } } },
        { linkId = "diagnoses", answer = { { valueString = "x" } } },
        { linkId = "patient.lastName", item = { H.leaf("code", "valueString", "x") } },
      } })
      assert.are.same({
        "invalid_format@body.answers.item.0.answer.0.valueDate",
        "invalid_type@body.answers.item.1.answer.0.valueInteger",
        "extra_forbidden@body.answers.item.2.answer.0.valueString",
        "too_long@body.answers.item.3.answer",
        "type_mismatch@body.answers.item.4.answer",
        "type_mismatch@body.answers.item.5.item",
      }, issue_of(r))
      -- at least one item; more than maxOccurs repetitions
      r = sb:request("PATCH", "/v1/prior-authorizations/" .. a.id .. "/answers", '{"answers":{"item":[]}}',
        { ["If-Match"] = '"1"', ["Content-Type"] = "application/json" })
      assert.are.same({ "too_short@body.answers.item" }, issue_of(r))
      local reps = {}
      for i = 1, 13 do reps[i] = { linkId = "diagnoses", item = { H.leaf("code", "valueString", "D" .. i) } } end
      assert.are.same({ "too_long@body.answers.item.12" }, issue_of(H.patch(sb, a, { item = reps })))
      assert.are.same({ "missing@body.answers" }, issue_of(sb:request("PATCH", "/v1/prior-authorizations/" .. a.id ..
        "/answers", nil, H.ifm(1))))
    end)

    it("stores repeating groups in order and reports incomplete repetitions", function()
      local a = H.create(sb, H.create_body())
      local r = H.patch(sb, a, { item = {
        { linkId = "diagnoses", item = { H.leaf("code", "valueString", "D57.00"),
          { linkId = "qualifierCode", answer = { { valueCoding = { code = "ABK" } } } } } },
        { linkId = "diagnoses", item = { H.leaf("code", "valueString", "E11.9") } },
      } })
      assert.are.equal(200, r.status, r.body)
      local dx = {}
      for _, it in ipairs(r.json.answers.item) do
        if it.linkId == "diagnoses" then dx[#dx + 1] = it.item[1].answer[1].valueString end
      end
      assert.are.same({ "D57.00", "E11.9" }, dx)
      local qs = {}
      for _, q in ipairs(r.json.requirements.questions) do qs[q.linkId] = true end
      assert.is_true(qs["diagnoses"])
    end)

    it("honours Idempotency-Key on other POSTs", function()
      local body = { fileName = "a.pdf", contentType = "application/pdf", purpose = "authorization_attachment" }
      local r1 = sb:request("POST", "/v1/files", body, { ["Idempotency-Key"] = "files-1" })
      local r2 = sb:request("POST", "/v1/files", body, { ["Idempotency-Key"] = "files-1" })
      assert.are.equal(201, r2.status)
      assert.are.equal("true", r2.headers["idempotent-replayed"])
      assert.are.equal(r1.json.file.id, r2.json.file.id)
      body.fileName = "b.pdf"
      assert.are.equal("idempotency_key_reused",
        sb:request("POST", "/v1/files", body, { ["Idempotency-Key"] = "files-1" }).json.error.code)
    end)

    it("checks the control surface's bodies", function()
      assert.are.same({ "missing@body.seconds" }, issue_of(sb:control("POST", "/_sandbox/clock/advance", {})))
      assert.are.same({ "out_of_range@body.now" },
        issue_of(sb:control("POST", "/_sandbox/clock", { now = "2020-01-01T00:00:00Z" })))
      local r = sb:control("POST", "/_sandbox/clock", { now = "2026-06-02T00:00:00Z" })
      assert.are.equal("2026-06-02T00:00:00Z", r.json.now)
      assert.are.same({ "invalid_enum@body.rules.0.kind" },
        issue_of(sb:control("POST", "/_sandbox/faults", { rules = { { kind = "explode" } } })))
      assert.are.same({ "invalid_enum@body.rules.0.status" },
        issue_of(sb:control("POST", "/_sandbox/faults", { rules = { { kind = "status", status = 418 } } })))
      assert.are.equal(404, sb:control("GET", "/_sandbox/nothing").status)
      r = sb:control("POST", "/_sandbox/clock", { mode = "realtime", speed = 2 })
      assert.are.equal("realtime", r.json.mode)
      assert.are.equal(2, r.json.speed)
    end)
  end)
end)
