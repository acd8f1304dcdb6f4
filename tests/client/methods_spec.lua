-- Every method of the client's method map against the sandbox: its success path and the
-- contract errors it can meet, through require "collate" over real HTTP.
local collate = require "collate"
local sandbox = require "support.sandbox"

local PDF = "%PDF-1.4\n% test document\n%%EOF\n"
local PNG = "\137PNG\r\n\26\n0000"

describe("the method map", function()
  local sb, client

  setup(function()
    sb = sandbox.start{ args = { "--clock-mode", "step" } }
    client = collate.new{ api_key = sb.key, environment = sb.url }
  end)

  teardown(function()
    if sb then sb:stop() end
  end)

  before_each(function()
    sb:reset({ mode = "step" })
  end)

  local function advance(seconds)
    assert.are.equal(200, sb:control("POST", "/_sandbox/clock/advance", { seconds = seconds }).status)
  end

  -- raises: calls fn(params) and returns the collate.Error it raised
  local function raises(fn, params)
    local ok, err = pcall(fn, params)
    assert.is_false(ok, "expected an error")
    assert.is_true(collate.is_error(err), tostring(err))
    return err
  end

  local function ready_file(bytes, name, content_type)
    local created = client.files.create{ file_name = name or "note.pdf",
      content_type = content_type or "application/pdf", purpose = "authorization_attachment" }
    client.files.upload{ upload = created.upload, data = bytes or PDF }
    return client.files.complete{ file_id = created.file.id }
  end

  -- Creates the scenario's authorization and resolves its requirements: RA·CA.
  local function scenario_at_ca(scenario_id)
    local scenario = client.sandbox.scenarios.retrieve{ scenario_id = scenario_id }
    local auth = client.authorizations.create(scenario.create)
    if auth.next_action.type == "resolve_requirements" then
      if #auth.requirements.questions > 0 then
        auth = client.authorizations.answers.patch{ authorization_id = auth.id, if_match = auth.version,
          answers = scenario.follow_up_answers }
      end
      if #auth.requirements.documents > 0 then
        local file = ready_file()
        auth = client.authorizations.attachments.create{ authorization_id = auth.id, if_match = auth.version,
          file_id = file.id, document_types = { auth.requirements.documents[1].type } }
      end
    end
    assert.are.equal("continue_authorization", auth.next_action.type)
    return auth, scenario
  end

  it("health", function()
    assert.are.equal("ok", client.health{}.status)
  end)

  it("payers list, each and retrieve", function()
    local page = client.payers.list{ limit = 2 }
    assert.are.equal(2, #page.data)
    assert.are.equal("payer_aetna", page.data[1].id)
    local ids = {}
    for payer in client.payers.each{ limit = 4 } do ids[#ids + 1] = payer.id end
    assert.are.same({ "payer_aetna", "payer_bcbs_ca", "payer_cigna", "payer_humana", "payer_kaiser", "payer_uhc" }, ids)
    local uhc = client.payers.retrieve{ payer_id = "payer_uhc" }
    assert.are.equal("UnitedHealthcare", uhc.display_name)
    assert.are.same({ "CA", "NY", "TX", "FL" }, uhc.supported_states)
    assert.are.equal("payer_not_found", raises(client.payers.retrieve, { payer_id = "payer_unknown" }).code)
  end)

  it("providers list and retrieve", function()
    local page = client.providers.list{}
    assert.are.equal(3, #page.data)
    assert.is_nil(page.next_cursor)
    local p = client.providers.retrieve{ provider_npi = "1987654328" }
    assert.are.equal("Bayview Orthopedic Surgery", p.display_name)
    assert.are.equal("74-5551234", p.tax_id)
    assert.are.equal("provider_not_found", raises(client.providers.retrieve, { provider_npi = "1304567898" }).code)
  end)

  it("authorization routes list and resolve", function()
    local routes = client.authorization_routes.list{ provider_npi = "1234567893" }
    assert.are.equal("1234567893", routes.provider_npi)
    assert.are.equal(5, #routes.options)
    assert.are.equal("Aetna CA drug", routes.options[1].label)
    assert.is_nil(routes.data) -- unpaginated (contract 2.11): no page shape, no each
    assert.is_nil(routes.pagination)
    -- no each: the name is not there (a missing method raises, naming it)
    local ok, err = pcall(function() return client.authorization_routes.each end)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("no method authorization_routes.each", 1, true))
    for _, list in ipairs{ client.authorizations, client.authorizations.attachments, client.payers,
                           client.providers, client.sandbox.scenarios } do
      assert.is_function(list.each)
    end
    local resolved = client.authorization_routes.resolve{ provider_npi = "1234567893", payer_id = "payer_aetna",
      coverage_state = "CA", request_type = "drug", service_code = { system = "hcpcs", code = "J0791" } }
    assert.are.equal("collate_managed", resolved.access_mode)
    local function resolve_error(npi, payer, state, rtype, system)
      return raises(client.authorization_routes.resolve, { provider_npi = npi, payer_id = payer,
        coverage_state = state, request_type = rtype,
        service_code = { system = system, code = system == "cpt" and "72148" or "J0791" } })
    end
    assert.are.equal("unsupported_route", resolve_error("1234567893", "payer_humana", "CA", "drug", "hcpcs").code)
    assert.are.equal("unsupported_route", resolve_error("1234567893", "payer_aetna", "CA", "drug", "cpt").code)
    assert.are.equal("provider_access_not_configured",
      resolve_error("1234567893", "payer_aetna", "CA", "inpatient", "cpt").code)
    assert.are.equal("provider_access_not_configured",
      resolve_error("1234567893", "payer_kaiser", "CA", "outpatient", "cpt").code)
    assert.are.equal("payer_not_found", resolve_error("1234567893", "payer_unknown", "CA", "drug", "hcpcs").code)
    local bad = raises(client.authorization_routes.list, { provider_npi = "1234567890" })
    assert.are.equal(400, bad.status_code)
    assert.are.equal("bad_request", bad.code)
    assert.are.equal("query", bad.issues[1].location[1])
    assert.are.equal("provider_not_found",
      raises(client.authorization_routes.list, { provider_npi = "1304567898" }).code)
  end)

  it("sandbox scenarios list and retrieve", function()
    local page = client.sandbox.scenarios.list{}
    assert.are.equal(10, #page.data)
    assert.are.equal("quickstart_receipt", page.data[1].id)
    local s = client.sandbox.scenarios.retrieve{ scenario_id = "denial" }
    assert.are.equal("SBX-DENY", s.member_id)
    assert.are.equal("scenario_not_found", raises(client.sandbox.scenarios.retrieve, { scenario_id = "nope" }).code)
  end)

  it("files create, upload, complete, retrieve and download, with their errors", function()
    local created = client.files.create{ file_name = "note.pdf", content_type = "application/pdf",
      purpose = "authorization_attachment" }
    assert.are.equal("file_not_ready", raises(client.files.download, { file_id = created.file.id }).code)
    assert.are.equal("file_empty", raises(client.files.complete, { file_id = created.file.id }).code)
    client.files.upload{ upload = created.upload, data = PDF }
    local second = raises(client.files.upload, { upload = created.upload, data = PDF })
    assert.are.equal("upload_already_used", second.code)
    local file = client.files.complete{ file_id = created.file.id }
    assert.are.equal("ready", file.status)
    assert.is_string(file.download_url)
    assert.are.equal("ready", client.files.retrieve{ file_id = file.id }.status)

    local got = client.files.download{ file_id = file.id }
    assert.are.equal(PDF, got.body)
    assert.are.equal("application/pdf", got.content_type)
    assert.matches('filename="note.pdf"', got.content_disposition, 1, true)

    local path = os.tmpname()
    local streamed = client.files.download{ file_id = file.id, path = path }
    assert.is_nil(streamed.body)
    local f = assert(io.open(path, "rb"))
    assert.are.equal(PDF, f:read("*a"))
    f:close()
    os.remove(path)

    local failed = raises(client.files.download, { file_id = "file_0000000000000000", path = path })
    assert.are.equal("file_not_found", failed.code)
    assert.is_nil(io.open(path, "rb"), "no file is left behind after a failed download")
    assert.is_nil(io.open(path .. ".part", "rb"))

    local mismatch = client.files.create{ file_name = "scan.pdf", content_type = "application/pdf",
      purpose = "authorization_attachment" }
    client.files.upload{ upload = mismatch.upload, data = PNG }
    assert.are.equal("file_content_mismatch", raises(client.files.complete, { file_id = mismatch.file.id }).code)
    assert.are.equal("file_not_found", raises(client.files.retrieve, { file_id = "file_0000000000000000" }).code)
  end)

  it("attachments create, list and delete", function()
    local auth = client.authorizations.create((client.sandbox.scenarios.retrieve{
      scenario_id = "quickstart_receipt" }).create)
    local file = ready_file()
    auth = client.authorizations.attachments.create{ authorization_id = auth.id, if_match = auth.version,
      file_id = file.id, document_types = { "clinical_notes" }, description = "visit notes" }
    assert.are.equal(1, #auth.attachments)
    assert.are.same({}, auth.requirements.documents)
    local page = client.authorizations.attachments.list{ authorization_id = auth.id }
    assert.are.equal(1, #page.data)
    assert.are.equal(file.id, page.data[1].file_id)
    assert.are.equal("visit notes", page.data[1].description)
    auth = client.authorizations.attachments.delete{ authorization_id = auth.id,
      attachment_id = page.data[1].id, if_match = auth.version }
    assert.are.same({}, auth.attachments)
    assert.are.equal("clinical_notes", auth.requirements.documents[1].type)
    assert.are.equal("attachment_not_found", raises(client.authorizations.attachments.delete,
      { authorization_id = auth.id, attachment_id = page.data[1].id, if_match = auth.version }).code)
    local pending = client.files.create{ file_name = "n.pdf", content_type = "application/pdf",
      purpose = "authorization_attachment" }
    assert.are.equal("file_not_ready", raises(client.authorizations.attachments.create, {
      authorization_id = auth.id, if_match = auth.version, file_id = pending.file.id,
      document_types = { "clinical_notes" } }).code)
  end)

  it("authorizations list filters and retrieve errors", function()
    local a = client.authorizations.create{ provider_npi = "1234567893",
      request = { payer_id = "payer_aetna", coverage_state = "CA", request_type = "drug",
                  service_code = { system = "hcpcs", code = "J0791" } },
      policy = { final_submission = "requires_approval" }, metadata = { external_case_id = "case_a" } }
    local b = scenario_at_ca("straight_approval")
    b = client.authorizations.confirm{ authorization_id = b.id, if_match = b.version }
    local processing = client.authorizations.list{ status = "processing" }
    assert.are.equal(1, #processing.data)
    assert.are.equal(b.id, processing.data[1].id)
    local by_case = client.authorizations.list{ external_case_id = "case_a" }
    assert.are.equal(a.id, by_case.data[1].id)
    assert.are.equal(1, #by_case.data)
    assert.are.equal(2, #client.authorizations.list{ provider_npi = "1234567893" }.data)
    assert.are.equal("prior_authorization_not_found",
      raises(client.authorizations.retrieve, { authorization_id = "auth_0000000000000000" }).code)
    assert.are.equal("bad_request", raises(client.authorizations.list, { status = "pending" }).code)
    assert.are.equal("requirements_not_satisfied",
      raises(client.authorizations.confirm, { authorization_id = a.id, if_match = a.version }).code)
  end)

  it("creates refuse unknown payers, unregistered providers and missing policies", function()
    local body = { provider_npi = "1304567898", policy = { final_submission = "automatic" },
      request = { payer_id = "payer_aetna", coverage_state = "CA", request_type = "drug",
                  service_code = { system = "hcpcs", code = "J0791" } } }
    assert.are.equal("provider_not_found", raises(client.authorizations.create, body).code)
    body.provider_npi, body.request.payer_id = "1234567893", "payer_unknown"
    assert.are.equal("payer_not_found", raises(client.authorizations.create, body).code)
    body.request.payer_id, body.policy = "payer_aetna", {}
    local err = raises(client.authorizations.create, body)
    assert.are.equal("final_submission_policy_required", err.code)
    assert.are.equal(400, err.status_code)
  end)

  it("live session retrieve and access grant", function()
    local auth = scenario_at_ca("live_session_available")
    local session = client.authorizations.live_session.retrieve{ authorization_id = auth.id }
    assert.are.equal("not_live", session.state)
    local refused = raises(client.authorizations.live_session.create_access_grant, { authorization_id = auth.id })
    assert.are.equal("live_session_not_available", refused.code)
    assert.are.equal("no_active_channel_session", refused.details.reason)
    auth = client.authorizations.confirm{ authorization_id = auth.id, if_match = auth.version }
    advance(1)
    session = client.authorizations.live_session.retrieve{ authorization_id = auth.id }
    assert.are.equal("live", session.state)
    assert.are.same({ "read_only" }, session.access.supported_modes)
    local grant = client.authorizations.live_session.create_access_grant{ authorization_id = auth.id }
    assert.matches("^rag_", grant.id)
    assert.matches("/runtime/access/", grant.url, 1, true)
    -- a read never changes the version
    assert.are.equal(auth.version, client.authorizations.retrieve{ authorization_id = auth.id }.version)
  end)

  it("manual handoffs: create, retrieve, grant and complete", function()
    local auth = scenario_at_ca("manual_handoff")
    assert.are.equal("manual_handoff_not_allowed", raises(client.authorizations.manual_handoffs.create,
      { authorization_id = auth.id, if_match = auth.version }).code)
    auth = client.authorizations.confirm{ authorization_id = auth.id, if_match = auth.version }
    advance(5)
    auth = client.authorizations.retrieve{ authorization_id = auth.id }
    assert.are.equal("complete_payer_interaction", auth.next_action.type)
    local snapshot_id = auth.next_action.covers.review_snapshot_id
    assert.is_string(snapshot_id)
    assert.are.equal("review_stale", raises(client.authorizations.manual_handoffs.create,
      { authorization_id = auth.id, if_match = auth.version,
        accepted_review_snapshot_id = "rev_0000000000000000" }).code)
    local handoff = client.authorizations.manual_handoffs.create{ authorization_id = auth.id,
      if_match = auth.version, accepted_review_snapshot_id = snapshot_id }
    assert.are.equal("active", handoff.state)
    assert.is_true(handoff.final_submit_capable)
    local again = client.authorizations.manual_handoffs.retrieve{ authorization_id = auth.id, handoff_id = handoff.id }
    assert.are.equal(handoff.id, again.id)
    local grant = client.authorizations.manual_handoffs.create_access_grant{ authorization_id = auth.id,
      handoff_id = handoff.id }
    assert.matches("^rag_", grant.id)
    auth = client.authorizations.retrieve{ authorization_id = auth.id }
    local closure = client.authorizations.manual_handoffs.complete{ authorization_id = auth.id,
      handoff_id = handoff.id, if_match = auth.version, reported_outcome = "submitted",
      observed_reference_number = "PORTAL-123", operator_notes = "submitted by phone" }
    assert.are.equal("closing", closure.state)
    assert.are.equal("completed_reported", closure.result)
    assert.are.equal("processing", closure.authorization.status)
    assert.are.equal("pending", closure.reconciliation.state)
    advance(5)
    auth = client.authorizations.retrieve{ authorization_id = auth.id }
    assert.are.equal("waiting_on_payer", auth.status)
    assert.are.equal("PORTAL-123", auth.submission.payer_receipt.reference_number)
    assert.are.equal("manual_handoff_not_found", raises(client.authorizations.manual_handoffs.retrieve,
      { authorization_id = auth.id, handoff_id = "mhand_0000000000000000" }).code)
  end)

  it("manual handoffs: unable to complete and revoke end in failed", function()
    for _, close in ipairs({ "unable_to_complete", "revoke" }) do
      local auth = scenario_at_ca("manual_handoff")
      auth = client.authorizations.confirm{ authorization_id = auth.id, if_match = auth.version }
      advance(5)
      auth = client.authorizations.retrieve{ authorization_id = auth.id }
      local handoff = client.authorizations.manual_handoffs.create{ authorization_id = auth.id,
        if_match = auth.version, accepted_review_snapshot_id = auth.next_action.covers.review_snapshot_id }
      auth = client.authorizations.retrieve{ authorization_id = auth.id }
      local params = { authorization_id = auth.id, handoff_id = handoff.id, if_match = auth.version }
      if close == "unable_to_complete" then
        params.reason, params.operator_notes = "channel_outage", "portal down"
      else
        params.reason = "wrong payer selected"
      end
      local closure = client.authorizations.manual_handoffs[close](params)
      assert.are.equal(close == "revoke" and "revoked" or "unable_to_complete", closure.result)
      advance(5)
      auth = client.authorizations.retrieve{ authorization_id = auth.id }
      assert.are.equal("completed", auth.status)
      assert.are.equal("failed", auth.outcome)
      params.if_match = auth.version
      assert.are.equal("prior_authorization_not_actionable",
        raises(client.authorizations.manual_handoffs[close], params).code)
    end
  end)

  it("sends extra headers and reports response metadata", function()
    client.payers.list{ extra_headers = { ["X-Trace"] = "t-1" } }
    local meta = client.last_response()
    assert.are.equal(200, meta.status)
    assert.matches("^req_", meta.request_id)
    assert.are.equal(1, meta.attempts)
    local log = sb:control("GET", "/_sandbox/requests?method=GET&path=/v1/payers").json.data
    assert.are.equal("t-1", log[#log].headers["x-trace"])
    assert.matches("^collate%-lua/%S+ Lua/%S+ libcurl/", log[#log].headers["user-agent"])
  end)
end)
