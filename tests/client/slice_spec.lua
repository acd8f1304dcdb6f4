-- The foundation slice, over real HTTP against a sandbox on an ephemeral port.
local collate = require "collate"
local sandbox = require "support.sandbox"

local PDF = "%PDF-1.4\n% test document\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"

local function create_body(member_id, key)
  return {
    provider_npi = "1234567893",
    request = { payer_id = "payer_aetna", coverage_state = "CA", request_type = "drug",
                service_code = { system = "hcpcs", code = "J0791" } },
    policy = { final_submission = "requires_approval" },
    answers = { item = {
      { link_id = "patient.firstName", answer = { { value_string = "Jane" } } },
      { link_id = "patient.lastName", answer = { { value_string = "Doe" } } },
      { link_id = "patient.dateOfBirth", answer = { { value_date = "1990-04-12" } } },
      { link_id = "coverage.memberId", answer = { { value_string = member_id or "SBX-QUICKSTART" } } },
    } },
    metadata = { external_case_id = "case_789", ["Team-Ref"] = "ops_7", nested = { snake_key = 1 } },
    idempotency_key = key,
  }
end

local CLINICAL = { item = {
  { link_id = "diagnoses", item = {
    { link_id = "code", answer = { { value_string = "D57.00" } } },
    { link_id = "qualifierCode", answer = { { value_coding = { code = "ABF" } } } } } },
  { link_id = "service.startDate", answer = { { value_date = "2026-07-01" } } },
  { link_id = "service.units", answer = { { value_integer = 12 } } },
  { link_id = "clinical.priorTherapyTried", answer = { { value_boolean = true } } },
} }

local function logged(sb, method, path)
  return sb:control("GET", "/_sandbox/requests?method=" .. method .. "&path=" .. path).json.data
end

describe("the foundation slice", function()
  local sb, client

  setup(function()
    sb = sandbox.start{ args = { "--clock-mode", "step" } }
    client = collate.new{ api_key = sb.key, environment = sb.url, max_retries = 2 }
  end)

  teardown(function()
    if sb then sb:stop() end
  end)

  before_each(function()
    sb:reset({ mode = "step" })
  end)

  local function attach_note(auth)
    local created = client.files.create{ file_name = "note.pdf", content_type = "application/pdf",
                                         purpose = "authorization_attachment" }
    assert.are.equal("pending_upload", created.file.status)
    assert.are.equal("application/pdf", created.upload.headers["Content-Type"])
    local up = client.files.upload{ upload = created.upload, data = PDF }
    assert.is_true(up.status >= 200 and up.status < 300)
    local file = client.files.complete{ file_id = created.file.id }
    assert.are.equal("ready", file.status)
    assert.are.equal(#PDF, file.size_bytes)
    return client.authorizations.attachments.create{
      authorization_id = auth.id, if_match = auth.version, file_id = file.id,
      document_types = { "clinical_notes" } }
  end

  it("walks create, answers, attachment, confirm, approval and the payer's decision", function()
    local auth = client.authorizations.create(create_body())
    assert.are.equal("requires_action", auth.status)
    assert.are.equal("resolve_requirements", auth.next_action.type)
    assert.are.equal(1, auth.version)
    if math.type then assert.are.equal("integer", math.type(auth.version)) end -- 5.3+ only
    -- wire camelCase came back snake_case; free-form metadata kept its own keys
    assert.are.equal("case_789", auth.metadata.external_case_id)
    assert.are.equal("ops_7", auth.metadata["Team-Ref"])
    assert.are.equal(1, auth.metadata.nested.snake_key)
    assert.are.equal("payer_aetna", auth.request.payer_id)

    auth = client.authorizations.answers.patch{ authorization_id = auth.id, if_match = auth.version,
                                               answers = CLINICAL }
    assert.are.equal(2, auth.version)
    assert.are.same({}, auth.requirements.questions)
    assert.are.equal("clinical_notes", auth.requirements.documents[1].type)

    auth = attach_note(auth)
    assert.are.equal("continue_authorization", auth.next_action.type)

    auth = client.authorizations.confirm{ authorization_id = auth.id, if_match = auth.version }
    assert.are.equal("processing", auth.status)
    sb:control("POST", "/_sandbox/clock/advance", { seconds = 5 })

    auth = client.authorizations.retrieve{ authorization_id = auth.id }
    assert.are.equal("approve_submission", auth.next_action.type)
    local snapshot = auth.submission.review_snapshot
    assert.are.equal("current", snapshot.status)
    -- the snapshot's summary is a free-form map: wire keys kept
    assert.are.equal("payer_aetna", snapshot.summary.payerId)

    auth = client.authorizations.confirm{ authorization_id = auth.id, if_match = auth.version,
                                          request = { accepted_review_snapshot_id = snapshot.id } }
    assert.are.equal("processing", auth.status)
    sb:control("POST", "/_sandbox/clock/advance", { seconds = 5 })
    auth = client.authorizations.retrieve{ authorization_id = auth.id }
    assert.are.equal("waiting_on_payer", auth.status)
    assert.is_string(auth.submission.payer_receipt.reference_number)
    sb:control("POST", "/_sandbox/clock/advance", { seconds = 600 })
    auth = client.authorizations.retrieve{ authorization_id = auth.id }
    assert.are.equal("completed", auth.status)
    assert.are.equal("approved", auth.outcome)
  end)

  it("cancels", function()
    local auth = client.authorizations.create(create_body("W123456789"))
    auth = client.authorizations.cancel{ authorization_id = auth.id, if_match = auth.version, reason = "dup" }
    assert.are.equal("canceled", auth.status)
    assert.is_nil(auth.next_action)
    local ok, err = pcall(client.authorizations.cancel, { authorization_id = auth.id, if_match = auth.version })
    assert.is_false(ok)
    assert.are.equal("prior_authorization_not_mutable", err.code)
  end)

  it("sends If-Match quoted whatever form the caller gives", function()
    local auth = client.authorizations.create(create_body("W123456789"))
    local forms = { 1, "2", '"3"' }
    for _, form in ipairs(forms) do
      auth = client.authorizations.answers.patch{ authorization_id = auth.id, if_match = form,
        answers = { item = { { link_id = "service.units", answer = { { value_integer = 3 } } } } } }
    end
    assert.are.equal(4, auth.version)
    local entries = logged(sb, "PATCH", "/v1/prior-authorizations/*/answers")
    assert.are.same({ '"1"', '"2"', '"3"' },
      { entries[1].headers["if-match"], entries[2].headers["if-match"], entries[3].headers["if-match"] })
  end)

  it("raises a typed 401 for a bad key, without the key in the message", function()
    local bad = collate.new{ api_key = "sk_test_WRONG_KEY_123", environment = sb.url }
    local ok, err = pcall(bad.authorizations.retrieve, { authorization_id = "auth_1" })
    assert.is_false(ok)
    assert.is_true(collate.is_error(err, "unauthorized"))
    assert.are.equal(401, err.status_code)
    assert.are.equal("api", err.kind)
    assert.is_string(err.request_id)
    assert.are.equal("unauthorized", err.body.error.code)
    assert.is_nil(tostring(err):find("sk_test_WRONG_KEY_123", 1, true))
    assert.matches("^collate: 401 unauthorized: ", tostring(err))
  end)

  it("raises version_conflict with the versions on a stale If-Match", function()
    local auth = client.authorizations.create(create_body("W123456789"))
    client.authorizations.answers.patch{ authorization_id = auth.id, if_match = auth.version, answers = CLINICAL }
    local ok, err = pcall(client.authorizations.answers.patch,
      { authorization_id = auth.id, if_match = auth.version, answers = CLINICAL })
    assert.is_false(ok)
    assert.are.equal("version_conflict", err.code)
    assert.are.equal(409, err.status_code)
    assert.are.equal(1, err.details.expectedVersion)
    assert.are.equal(2, err.details.actualVersion)
    assert.are.equal(1, err.attempts) -- a 409 is never retried
  end)

  it("replays a create with the same key and refuses the key with another body", function()
    local key = collate.uuid4()
    local first = client.authorizations.create(create_body(nil, key))
    local again = client.authorizations.create(create_body(nil, key))
    assert.are.equal(first.id, again.id)
    assert.are.equal(1, again.version)
    local ok, err = pcall(client.authorizations.create, create_body("SBX-DIFFERENT", key))
    assert.is_false(ok)
    assert.are.equal("idempotency_key_reused", err.code)
    assert.are.equal(key, err.idempotency_key)
  end)

  it("raises review_stale when the snapshot went stale", function()
    local auth = client.authorizations.create(create_body())
    auth = client.authorizations.answers.patch{ authorization_id = auth.id, if_match = auth.version,
                                               answers = CLINICAL }
    auth = attach_note(auth)
    auth = client.authorizations.confirm{ authorization_id = auth.id, if_match = auth.version }
    sb:control("POST", "/_sandbox/clock/advance", { seconds = 5 })
    auth = client.authorizations.retrieve{ authorization_id = auth.id }
    local stale_id = auth.submission.review_snapshot.id
    -- any accepted answers write makes the snapshot stale and the action goes back to CA
    auth = client.authorizations.answers.patch{ authorization_id = auth.id, if_match = auth.version,
      answers = { item = { { link_id = "service.units", answer = { { value_integer = 10 } } } } } }
    assert.are.equal("continue_authorization", auth.next_action.type)
    auth = client.authorizations.confirm{ authorization_id = auth.id, if_match = auth.version }
    sb:control("POST", "/_sandbox/clock/advance", { seconds = 5 })
    auth = client.authorizations.retrieve{ authorization_id = auth.id }
    assert.are_not.equal(stale_id, auth.submission.review_snapshot.id)
    local ok, err = pcall(client.authorizations.confirm, { authorization_id = auth.id, if_match = auth.version,
      request = { accepted_review_snapshot_id = stale_id } })
    assert.is_false(ok)
    assert.are.equal("review_stale", err.code)
    assert.are.equal(auth.submission.review_snapshot.id, err.details.currentReviewSnapshotId)
  end)

  it("retries a create after an injected 503 with the same Idempotency-Key, creating once", function()
    sb:control("POST", "/_sandbox/faults", { rules = {
      { method = "POST", path = "/v1/prior-authorizations", kind = "status", status = 503, times = 1 } } })
    local auth = client.authorizations.create(create_body("W123456789"))
    assert.are.equal(1, auth.version)
    local creates = logged(sb, "POST", "/v1/prior-authorizations")
    assert.are.equal(2, #creates)
    assert.are.equal(503, creates[1].status)
    assert.are.equal(201, creates[2].status)
    assert.are.equal(creates[1].headers["idempotency-key"], creates[2].headers["idempotency-key"])
    assert.are.equal("[REDACTED]", creates[1].headers["authorization"])
    -- the sandbox saw two create attempts and made one authorization
    assert.are.equal(1, #sb:request("GET", "/v1/prior-authorizations").json.data)
  end)

  it("uploads without the Authorization header", function()
    local created = client.files.create{ file_name = "n.pdf", content_type = "application/pdf",
                                         purpose = "authorization_attachment" }
    client.files.upload{ upload = created.upload, data = PDF }
    local puts = logged(sb, "PUT", "/_uploads/*")
    assert.are.equal(1, #puts)
    assert.is_nil(puts[1].headers["authorization"])
    assert.are.equal("application/pdf", puts[1].headers["content-type"])
    assert.are.equal(#PDF, puts[1].bodySize)
  end)

  it("uploads a file streamed from a path", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(PDF)
    f:close()
    local created = client.files.create{ file_name = "n.pdf", content_type = "application/pdf",
                                         purpose = "authorization_attachment" }
    client.files.upload{ upload = created.upload, path = path }
    os.remove(path)
    local file = client.files.complete{ file_id = created.file.id }
    assert.are.equal(#PDF, file.size_bytes)
  end)

  describe("raises before any I/O on bad parameters", function()
    local function assert_no_io(fn, params, pattern)
      local before = #sb:control("GET", "/_sandbox/requests").json.data
      local ok, err = pcall(fn, params)
      assert.is_false(ok)
      assert.are.equal("invalid_argument", err.kind)
      assert.matches(pattern, err.message)
      local after = #sb:control("GET", "/_sandbox/requests").json.data
      assert.are.equal(before, after)
    end

    it("names a missing parameter", function()
      local body = create_body()
      body.provider_npi = nil
      assert_no_io(client.authorizations.create, body, "authorizations.create: provider_npi is required")
    end)

    it("names a wrongly typed parameter", function()
      local body = create_body()
      body.provider_npi = 1234567893
      assert_no_io(client.authorizations.create, body, "provider_npi must be a string")
    end)

    it("names an unknown parameter", function()
      assert_no_io(client.authorizations.retrieve, { authorization_id = "auth_1", authorisation = 1 },
        "authorisation")
    end)

    it("refuses an If-Match it cannot quote", function()
      assert_no_io(client.authorizations.cancel, { authorization_id = "auth_1", if_match = 'W/"3"' }, "if_match")
    end)

    it("checks upload arguments", function()
      assert_no_io(client.files.upload, { upload = { url = sb.url .. "/_uploads/x" } }, "exactly one of data")
    end)
  end)

  it("refuses the key over plain http to a non-loopback host", function()
    local ok, err = pcall(collate.new, { api_key = "k", environment = "http://api.example.com" })
    assert.is_false(ok)
    assert.matches("refusing to send the API key", err.message)
  end)
end)
