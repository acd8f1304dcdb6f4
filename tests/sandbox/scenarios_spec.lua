-- Every scenario of contract §6.3 played from its own catalog entry (§3.12) on the step clock:
-- the observed states must equal expectedObservations, the confirm calls asks.confirmations, the
-- documents asked asks.documents, and the virtual time from create to completion the §6.3 sums.
local cjson = require "cjson"
local http = require "support.http"
local H = require "sandbox.helpers"

local NULL = cjson.null

-- virtual seconds from create to the terminal state (client actions take no virtual time)
local DURATION = {
  quickstart_receipt = 610, straight_approval = 70, denial = 70, more_info_request = 110,
  modified_approval = 70, not_required = 5, manual_handoff = 70, portal_failure = 5,
  automatic_policy_safety_gate = 70, live_session_available = 185,
}
local OUTCOME = {
  quickstart_receipt = "approved", straight_approval = "approved", denial = "denied", more_info_request = "approved",
  modified_approval = "modified", not_required = "not_required", manual_handoff = "approved",
  portal_failure = "failed", automatic_policy_safety_gate = "approved", live_session_available = "approved",
}

local function epoch(ts)
  local y, mo, d, h, mi, s = ts:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)Z$")
  return os.time{ year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h),
    min = tonumber(mi), sec = tonumber(s), isdst = false }
end

describe("collate-sandbox scenarios", function()
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

  it("lists the ten scenarios in catalog order, paginated", function()
    local r = sb:request("GET", "/v1/sandbox/scenarios?limit=4")
    assert.are.equal(200, r.status, r.body)
    local ids = {}
    local page = r.json
    while true do
      for _, s in ipairs(page.data) do ids[#ids + 1] = s.id end
      if page.pagination.nextCursor == NULL then break end
      page = sb:request("GET", "/v1/sandbox/scenarios?limit=4&cursor=" .. page.pagination.nextCursor).json
    end
    assert.are.same({ "quickstart_receipt", "straight_approval", "denial", "more_info_request", "modified_approval",
      "not_required", "manual_handoff", "portal_failure", "automatic_policy_safety_gate",
        "live_session_available" }, ids)
    local e = sb:request("GET", "/v1/sandbox/scenarios/nope")
    assert.are.equal(404, e.status)
    assert.are.equal("scenario_not_found", e.json.error.code)
    local s = sb:request("GET", "/v1/sandbox/scenarios/denial").json
    assert.are.equal("SBX-DENY", s.memberId)
    assert.are.same({ "diagnoses", "service.startDate", "service.units", "clinical.priorTherapyTried" },
      s.asks.questions)
    assert.are.same({ "clinical_notes" }, s.asks.documents)
    assert.are.equal(120, s.suggestedTimeoutSeconds)
    assert.is_nil(s.create.metadata)
  end)

  local function observe(list, a)
    local o = { status = a.status, nextActionType = a.nextAction ~= NULL and a.nextAction.type or NULL,
      outcome = a.outcome }
    local last = list[#list]
    if not last or last.status ~= o.status or last.nextActionType ~= o.nextActionType or last.outcome ~= o.outcome then
      list[#list + 1] = o
    end
  end

  local function play(sc)
    local a = H.create(sb, sc.create)
    local obs, confirmations, documents, patched = {}, {}, {}, false
    observe(obs, a)
    local asked = {}
    for _ = 1, 40 do
      if a.status == "completed" or a.status == "canceled" then break end
      local action = a.nextAction ~= NULL and a.nextAction.type or nil
      local r
      if action == "resolve_requirements" then
        if #a.requirements.questions > 0 then
          assert.is_false(patched, "questions remain after the follow-up answers")
          patched = true
          r = H.patch(sb, a, sc.followUpAnswers)
        else
          local d = a.requirements.documents[1]
          assert.is_table(d, "RR without questions or documents")
          if not asked[d.type] then
            asked[d.type] = true
            documents[#documents + 1] = d.type
          end
          local f = H.ready_file(sb, d.type .. ".pdf")
          r = H.attach(sb, a, f.id, { d.type })
        end
      elseif action == "continue_authorization" or action == "approve_submission" then
        confirmations[#confirmations + 1] = action
        r = H.confirm(sb, a, action == "approve_submission" and a.nextAction.covers.reviewSnapshotId or nil)
      elseif action == "complete_payer_interaction" then
        local base = "/v1/prior-authorizations/" .. a.id .. "/manual-handoffs"
        local snap = a.nextAction.covers.reviewSnapshotId
        r = sb:request("POST", base, snap ~= NULL and { acceptedReviewSnapshotId = snap } or nil, H.ifm(a.version))
        assert.are.equal(200, r.status, r.body)
        local h = r.json
        assert.are.equal("active", h.state)
        local g = sb:request("POST", base .. "/" .. h.id .. "/access-grants")
        assert.are.equal(200, g.status, g.body)
        a = H.get(sb, a.id)
        observe(obs, a)
        r = sb:request("POST", base .. "/" .. h.id .. "/complete", { reportedOutcome = "submitted",
          observedReferenceNumber = "PORTAL-123" }, H.ifm(a.version))
        assert.are.equal(200, r.status, r.body)
        r = { status = 200, json = H.get(sb, a.id) }
      else
        H.step(sb)
        r = { status = 200, json = H.get(sb, a.id) }
      end
      assert.are.equal(200, r.status, r.body)
      a = r.json
      observe(obs, a)
    end
    return a, obs, confirmations, documents
  end

  local list = {
    "quickstart_receipt", "straight_approval", "denial", "more_info_request", "modified_approval", "not_required",
    "manual_handoff", "portal_failure", "automatic_policy_safety_gate", "live_session_available",
  }
  for _, id in ipairs(list) do
    it("plays " .. id .. " as its catalog entry says", function()
      local sc = sb:request("GET", "/v1/sandbox/scenarios/" .. id).json
      local a, obs, confirmations, documents = play(sc)
      assert.are.same(sc.expectedObservations, obs)
      assert.are.same(sc.asks.confirmations, confirmations)
      assert.are.same(sc.asks.documents, documents)
      assert.are.equal("completed", a.status)
      assert.are.equal(OUTCOME[id], a.outcome)
      assert.are.equal(DURATION[id], epoch(a.completedAt) - epoch(a.createdAt))
      if a.outcome == "approved" then
        assert.is_string(a.submission.decision.authorizationNumber)
        assert.is_string(a.submission.payerReceipt.referenceNumber)
      elseif a.outcome == "denied" then
        assert.are.equal("medical_necessity_not_met", a.submission.decision.denialReasons[1].code)
      elseif a.outcome == "modified" then
        assert.are.same({ field = "service.units", requestedValue = "2", approvedValue = "1",
          message = a.submission.decision.modifications[1].message }, a.submission.decision.modifications[1])
      else
        assert.are.equal(NULL, a.submission.decision)
      end
      if id == "manual_handoff" then
        assert.are.equal("PORTAL-123", a.submission.payerReceipt.referenceNumber)
      end
      if id == "automatic_policy_safety_gate" then
        assert.are.equal("sandbox_final_submit_gate", a.submission.reviewSnapshot.warnings[1].code)
      end
      if id == "not_required" or id == "portal_failure" then
        assert.are.equal(NULL, a.submission.payerReceipt)
      end
    end)
  end

  it("runs the default behaviour to C(approved) with no document requirement", function()
    local body = H.create_body("UNKNOWN-MEMBER")
    local a = H.create(sb, body)
    assert.are.equal(8 - 1, #a.requirements.questions) -- memberId answered
    local r = H.patch(sb, a, H.full_answers("UNKNOWN-MEMBER"))
    assert.are.equal("requires_action/continue_authorization", H.state(r.json))
    assert.are.equal(200, H.confirm(sb, r.json).status)
    H.advance(sb, 5)
    a = H.get(sb, a.id)
    assert.are.equal("requires_action/approve_submission", H.state(a))
    r = H.confirm(sb, a, a.submission.reviewSnapshot.id)
    assert.are.equal(200, r.status)
    H.advance(sb, 5)
    assert.are.equal("waiting_on_payer", H.get(sb, a.id).status)
    H.advance(sb, 59)
    assert.are.equal("waiting_on_payer", H.get(sb, a.id).status)
    H.advance(sb, 1)
    assert.are.equal("completed/approved", H.state(H.get(sb, a.id)))
  end)

  it("gives a read-only live session during the live discovery step only", function()
    local sc = sb:request("GET", "/v1/sandbox/scenarios/live_session_available").json
    local a = H.create(sb, sc.create)
    local base = "/v1/prior-authorizations/" .. a.id .. "/live-session"
    local ls = sb:request("GET", base).json
    assert.are.equal("not_live", ls.state)
    assert.are.equal("not_offered", ls.handoff.reason)
    local e = sb:request("POST", base .. "/access-grants")
    assert.are.equal(409, e.status)
    assert.are.equal("live_session_not_available", e.json.error.code)
    assert.are.equal("no_active_channel_session", e.json.error.details.reason)
    H.confirm(sb, a)
    ls = sb:request("GET", base).json
    assert.are.equal("live", ls.state)
    assert.are.equal("automation", ls.owner.type)
    assert.are.same({ "read_only" }, ls.access.supportedModes)
    assert.are.equal("automation_owns_processing", ls.handoff.reason)
    assert.are.equal(2, ls.priorAuthorizationVersion)
    local g = sb:request("POST", base .. "/access-grants")
    assert.are.equal(200, g.status, g.body)
    assert.matches("^rag_%x+$", g.json.id)
    assert.are.equal(sb.url .. "/runtime/access/" .. g.json.id, g.json.url)
    assert.are.equal("2026-06-01T12:05:00Z", g.json.expiresAt)
    assert.are.equal(2, H.get(sb, a.id).version) -- grants never change the version
    local page = http.request{ method = "GET", url = g.json.url }
    assert.are.equal(200, page.status)
    assert.matches("^text/html", page.headers["content-type"])
    local with_key = http.request{ method = "GET", url = g.json.url, headers = { Authorization = "Bearer " .. sb.key } }
    assert.are.equal(400, with_key.status)
    H.advance(sb, 120)
    ls = sb:request("GET", base).json
    assert.are.equal("not_live", ls.state)
    assert.are.equal(409, sb:request("POST", base .. "/access-grants").status)
    page = http.request{ method = "GET", url = g.json.url }
    assert.are.equal(404, page.status)
    assert.are.equal("access_grant_revoked", page.json.error.code)
  end)

  describe("manual handoff", function()
    local function to_cpi()
      local sc = sb:request("GET", "/v1/sandbox/scenarios/manual_handoff").json
      local a = H.create(sb, sc.create)
      a = H.patch(sb, a, sc.followUpAnswers).json
      a = H.attach(sb, a, H.ready_file(sb).id).json
      H.confirm(sb, a)
      H.advance(sb, 5)
      a = H.get(sb, a.id)
      assert.are.equal("requires_action/complete_payer_interaction", H.state(a))
      assert.are.equal("manual_handoff", a.nextAction.resolution.kind)
      return a
    end

    it("needs the snapshot, refuses writes while active, and fails on unable-to-complete", function()
      local a = to_cpi()
      local snap = a.nextAction.covers.reviewSnapshotId
      assert.matches("^rev_", snap)
      local base = "/v1/prior-authorizations/" .. a.id .. "/manual-handoffs"
      local ls = sb:request("GET", "/v1/prior-authorizations/" .. a.id .. "/live-session").json
      assert.are.equal("offered", ls.handoff.state)
      assert.is_true(ls.handoff.allowed)
      local r = sb:request("POST", base, nil, H.ifm(a.version))
      assert.are.equal(409, r.status)
      assert.are.equal("review_stale", r.json.error.code)
      r = sb:request("POST", base, { acceptedReviewSnapshotId = snap }, H.ifm(a.version))
      assert.are.equal(200, r.status, r.body)
      local h = r.json
      assert.matches("^mhand_%x+$", h.id)
      assert.is_true(h.accessAvailable)
      assert.is_true(h.finalSubmitCapable)
      local b = H.get(sb, a.id)
      assert.are.equal(a.version + 1, b.version)
      assert.are.same({ id = h.id, state = "active", version = 1 }, b.activeManualHandoff)
      assert.are.equal(NULL, b.nextAction.covers.reviewSnapshotId)
      assert.are.equal("accepted", b.submission.reviewSnapshot.status)
      -- again: the active one, unchanged
      r = sb:request("POST", base, nil, H.ifm(b.version))
      assert.are.equal(200, r.status)
      assert.are.equal(h.id, r.json.id)
      assert.are.equal(409, H.patch(sb, b, H.full_answers()).status)
      ls = sb:request("GET", "/v1/prior-authorizations/" .. a.id .. "/live-session").json
      assert.are.equal("live", ls.state)
      assert.are.equal(h.id, ls.owner.manualHandoffId)
      local g = sb:request("POST", base .. "/" .. h.id .. "/access-grants")
      assert.are.equal(200, g.status)
      assert.are.equal("2026-06-01T12:15:05Z", g.json.expiresAt)
      r = sb:request("POST", base .. "/" .. h.id .. "/unable-to-complete", { reason = "channel_blocked" },
        H.ifm(b.version))
      assert.are.equal(200, r.status, r.body)
      assert.are.equal("closing", r.json.state)
      assert.are.equal("unable_to_complete", r.json.result)
      assert.are.equal("processing", r.json.authorization.status)
      assert.are.equal("pending", r.json.reconciliation.state)
      assert.matches("^rcn_", r.json.reconciliation.id)
      assert.are.equal(404, http.request{ method = "GET", url = g.json.url }.status)
      H.step(sb)
      local c = H.get(sb, a.id)
      assert.are.equal("completed/failed", H.state(c))
      local hh = sb:request("GET", base .. "/" .. h.id).json
      assert.are.equal("closed", hh.state)
      assert.are.equal(404, sb:request("GET", base .. "/mhand_0000000000000000").status)
    end)

    it("is offered again after abandonment", function()
      local a = to_cpi()
      local base = "/v1/prior-authorizations/" .. a.id .. "/manual-handoffs"
      local h = sb:request("POST", base, { acceptedReviewSnapshotId = a.nextAction.covers.reviewSnapshotId },
        H.ifm(a.version)).json
      local fired = H.step(sb).fired
      assert.are.equal("handoff_abandonment", fired[1].event)
      assert.are.equal("2026-06-01T12:30:05Z", fired[1].at)
      assert.are.equal("expired", sb:request("GET", base .. "/" .. h.id).json.result)
      H.step(sb)
      local b = H.get(sb, a.id)
      assert.are.equal("requires_action/complete_payer_interaction", H.state(b))
      assert.are.equal(NULL, b.nextAction.covers.reviewSnapshotId)
      assert.are.equal(NULL, b.activeManualHandoff)
    end)
  end)

  describe("handoff closings", function()
    local function active_handoff()
      local sc = sb:request("GET", "/v1/sandbox/scenarios/manual_handoff").json
      local a = H.create(sb, sc.create)
      a = H.patch(sb, a, sc.followUpAnswers).json
      a = H.attach(sb, a, H.ready_file(sb).id).json
      H.confirm(sb, a)
      H.advance(sb, 5)
      a = H.get(sb, a.id)
      local base = "/v1/prior-authorizations/" .. a.id .. "/manual-handoffs"
      local h = sb:request("POST", base, { acceptedReviewSnapshotId = a.nextAction.covers.reviewSnapshotId },
        H.ifm(a.version)).json
      return H.get(sb, a.id), h, base
    end

    local cases = {
      { "complete", { reportedOutcome = "decision_observed" }, "completed/approved" },
      { "complete", { reportedOutcome = "not_required_observed" }, "completed/not_required" },
      { "complete", { reportedOutcome = "follow_up_required_observed" },
        "requires_action/complete_payer_interaction" },
      { "revoke", { reason = "operator left" }, "completed/failed" },
    }
    for _, c in ipairs(cases) do
      it(c[1] .. " " .. cjson.encode(c[2]) .. " reconciles to " .. c[3], function()
        local a, h, base = active_handoff()
        local r = sb:request("POST", base .. "/" .. h.id .. "/" .. c[1], c[2], H.ifm(a.version))
        assert.are.equal(200, r.status, r.body)
        assert.are.equal(a.version + 1, r.json.authorization.version)
        -- closing again is refused
        r = sb:request("POST", base .. "/" .. h.id .. "/" .. c[1], c[2], H.ifm(r.json.authorization.version))
        assert.are.equal("prior_authorization_not_actionable", r.json.error.code)
        local fired = H.step(sb).fired
        assert.are.equal("reconciliation_step", fired[1].event)
        local b = H.get(sb, a.id)
        assert.are.equal(c[3], H.state(b))
        assert.are.equal(NULL, b.activeManualHandoff)
        local hh = sb:request("GET", base .. "/" .. h.id).json
        assert.are.equal("closed", hh.state)
        assert.are.equal(h.version + 2, hh.version)
        if b.status == "requires_action" then
          -- a new handoff may be created, without a snapshot
          assert.are.equal(NULL, b.nextAction.covers.reviewSnapshotId)
          r = sb:request("POST", base, nil, H.ifm(b.version))
          assert.are.equal(200, r.status, r.body)
          assert.are_not.equal(h.id, r.json.id)
        end
      end)
    end

    it("cancel closes an active handoff", function()
      local a, h, base = active_handoff()
      local r = sb:request("POST", "/v1/prior-authorizations/" .. a.id .. "/cancel", nil, H.ifm(a.version))
      assert.are.equal(200, r.status, r.body)
      assert.are.equal("canceled", r.json.status)
      local hh = sb:request("GET", base .. "/" .. h.id).json
      assert.are.equal("closed", hh.state)
      assert.are.equal("canceled", hh.result)
      assert.matches('"pending":%[%]', sb:control("GET", "/_sandbox/clock").body)
      r = sb:request("POST", base .. "/" .. h.id .. "/access-grants")
      assert.are.equal("live_session_not_available", r.json.error.code)
    end)

    it("expires handoff grants after 900 s and abandons after 1800 s without a grant", function()
      local _, h, base = active_handoff()
      local g = sb:request("POST", base .. "/" .. h.id .. "/access-grants").json
      assert.are.equal(200, http.request{ method = "GET", url = g.url }.status)
      H.advance(sb, 899)
      assert.are.equal(200, http.request{ method = "GET", url = g.url }.status)
      H.advance(sb, 1)
      local r = http.request{ method = "GET", url = g.url }
      assert.are.equal(404, r.status)
      assert.are.equal("access_grant_expired", r.json.error.code)
      -- the grant restarted the abandonment timer
      local pending = sb:control("GET", "/_sandbox/clock").json.pending
      assert.are.equal("handoff_abandonment", pending[1].event)
      assert.are.equal("2026-06-01T12:30:05Z", pending[1].dueAt)
    end)

    it("refuses a handoff outside RA·CPI", function()
      local a = H.create(sb, H.create_body())
      local r = sb:request("POST", "/v1/prior-authorizations/" .. a.id .. "/manual-handoffs", nil, H.ifm(1))
      assert.are.equal(409, r.status)
      assert.are.equal("manual_handoff_not_allowed", r.json.error.code)
    end)
  end)

  describe("forced payer events", function()
    local function to_waiting()
      local body = H.create_body("M-12345")
      body.answers = H.full_answers("M-12345")
      body.policy = { finalSubmission = "automatic" }
      local a = H.create(sb, body)
      H.confirm(sb, a)
      H.advance(sb, 5)
      return H.get(sb, a.id)
    end

    it("forces a receipt, then a denial", function()
      local a = to_waiting()
      assert.are.equal("processing", a.status)
      local path = "/_sandbox/prior-authorizations/" .. a.id .. "/payer-events"
      local r = sb:control("POST", path, { type = "approval" })
      assert.are.equal(409, r.status)
      assert.are.equal("prior_authorization_not_actionable", r.json.error.code)
      r = sb:control("POST", path, { type = "receipt", referenceNumber = "R-1" })
      assert.are.equal(200, r.status, r.body)
      assert.are.equal("waiting_on_payer", r.json.status)
      assert.are.equal("R-1", r.json.submission.payerReceipt.referenceNumber)
      assert.are.equal(a.version + 1, r.json.version)
      local pending = sb:control("GET", "/_sandbox/clock").json.pending
      assert.are.equal(1, #pending)
      assert.are.equal("payer_decision", pending[1].event)
      r = sb:control("POST", path, { type = "denial", denialReasons = { { code = "x", message = "no" } } })
      assert.are.equal(200, r.status, r.body)
      assert.are.equal("completed/denied", H.state(r.json))
      assert.are.equal("x", r.json.submission.decision.denialReasons[1].code)
      assert.matches('"pending":%[%]', sb:control("GET", "/_sandbox/clock").body)
      assert.are.equal(404, sb:control("POST", "/_sandbox/prior-authorizations/auth_0000000000000000/payer-events",
        { type = "approval" }).status)
    end)

    it("forces a more_info_request, back to RA·RR with a payer issue", function()
      local a = to_waiting()
      H.step(sb)
      local path = "/_sandbox/prior-authorizations/" .. a.id .. "/payer-events"
      local r = sb:control("POST", path, { type = "more_info_request", documentTypes = { "lab_results" },
        message = "Send labs." })
      assert.are.equal(200, r.status, r.body)
      assert.are.equal("requires_action/resolve_requirements", H.state(r.json))
      assert.are.equal("lab_results", r.json.requirements.documents[1].type)
      local issue = r.json.requirements.issues[1]
      assert.are.same({ code = "payer_requested_information", message = "Send labs.", field = NULL,
        severity = "warning" }, issue)
      r = H.attach(sb, r.json, H.ready_file(sb).id, { "lab_results" })
      assert.are.equal("requires_action/continue_authorization", H.state(r.json))
      assert.matches('"issues":%[%]', r.body)
      -- a type attached before the payer asked does not answer the request
      H.confirm(sb, r.json)
      H.advance(sb, 10)
      local b = H.get(sb, a.id)
      assert.are.equal("waiting_on_payer", b.status)
      r = sb:control("POST", path, { type = "more_info_request", documentTypes = { "lab_results" } })
      assert.are.equal("requires_action/resolve_requirements", H.state(r.json))
      assert.are.equal("lab_results", r.json.requirements.documents[1].type)
      assert.are.equal("prior_authorization_not_actionable",
        sb:control("POST", path, { type = "more_info_request" }).json.error.code)
      assert.are.equal("missing", sb:control("POST", path, { type = "modified" }).json.error.issues[1].errorType)
    end)
  end)
end)
