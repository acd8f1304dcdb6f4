-- Contract §4.4, the operation × state matrix, cell by cell: each state is reached on a step
-- clock (scenario catalog bodies, clock steps, forced payer events), each operation is sent with
-- the right If-Match and gets ✓ or the exact 409 code; a stale If-Match gets version_conflict
-- first, also where the operation would be refused; a refused operation changes nothing.
-- Handoff close and handoff grant routes name a handoff in the path, and path resources are
-- checked before state rules (§1.12): where the authorization never had a handoff they give
-- 404 manual_handoff_not_found, so their refusal cells are tested on authorizations with a
-- closed handoff (P, W, C, X, CPI, RR, CA reached through the manual_handoff scenario).
local sandbox = require "support.sandbox"
local H = require "sandbox.helpers"

local NM, NA, RNS = "prior_authorization_not_mutable", "prior_authorization_not_actionable",
  "requirements_not_satisfied"
local HNA, LSNA = "manual_handoff_not_allowed", "live_session_not_available"

describe("sandbox operation x state matrix (§4.4)", function()
  local sb
  local catalog = {}

  setup(function()
    sb = sandbox.start{ args = { "--clock-mode", "step" } }
    for _, id in ipairs({ "quickstart_receipt", "manual_handoff", "live_session_available" }) do
      catalog[id] = sb:request("GET", "/v1/sandbox/scenarios/" .. id).json
    end
  end)
  teardown(function() sb:stop() end)

  after_each(function()
    assert.is_nil(sb:log():find("internal error", 1, true))
  end)

  local function path(a, suffix) return "/v1/prior-authorizations/" .. a.id .. (suffix or "") end
  local function ok(r, what)
    assert(r.status == 200 or r.status == 201, what .. ": " .. r.status .. " " .. r.body)
    return r.json
  end
  local function state_of(a) return H.state(H.get(sb, a.id)) end
  local function expect_state(a, s)
    local got = H.get(sb, a.id)
    assert.are.equal(s, H.state(got))
    return got
  end

  -- builders: each returns a fresh authorization (and its handoff when it has one)
  local B = {}
  local function start(id)
    local sc = catalog[id]
    local a = H.create(sb, sc.create)
    a = ok(H.attach(sb, a, H.ready_file(sb).id), "attach")
    return a, sc
  end
  function B.RR()
    local a = start("quickstart_receipt")
    return expect_state(a, "requires_action/resolve_requirements")
  end
  local function ca(id)
    local a, sc = start(id)
    a = ok(H.patch(sb, a, sc.followUpAnswers), "patch")
    return expect_state(a, "requires_action/continue_authorization")
  end
  function B.CA() return ca("quickstart_receipt") end
  function B.P()
    local a = B.CA()
    ok(H.confirm(sb, a), "confirm")
    return expect_state(a, "processing")
  end
  function B.AS()
    local a = B.P()
    H.advance(sb, 5)
    return expect_state(a, "requires_action/approve_submission")
  end
  function B.W()
    local a = B.AS()
    ok(H.confirm(sb, a, a.nextAction.covers.reviewSnapshotId), "confirm AS")
    H.advance(sb, 5)
    return expect_state(a, "waiting_on_payer")
  end
  local function force(a, body)
    return ok(sb:control("POST", "/_sandbox/prior-authorizations/" .. a.id .. "/payer-events", body), "payer event")
  end
  function B.C()
    local a = B.W()
    force(a, { type = "approval" })
    return expect_state(a, "completed/approved")
  end
  function B.X()
    local a = B.RR()
    ok(sb:request("POST", path(a, "/cancel"), nil, H.ifm(a.version)), "cancel")
    return expect_state(a, "canceled")
  end
  function B.CPI()
    local a = ca("manual_handoff")
    ok(H.confirm(sb, a), "confirm")
    H.advance(sb, 5)
    return expect_state(a, "requires_action/complete_payer_interaction")
  end
  local function take_handoff(a)
    local r = sb:request("POST", path(a, "/manual-handoffs"),
      { acceptedReviewSnapshotId = a.nextAction.covers.reviewSnapshotId }, H.ifm(a.version))
    return ok(r, "handoff create")
  end
  B["CPI+H"] = function()
    local a = B.CPI()
    local h = take_handoff(a)
    a = expect_state(a, "requires_action/complete_payer_interaction")
    assert.are.equal(h.id, a.activeManualHandoff.id)
    return a, h
  end
  local function close(a, h, kind, body)
    return sb:request("POST", path(a, "/manual-handoffs/" .. h.id .. "/" .. kind), body, H.ifm(a.version))
  end
  -- states with a closed handoff
  local BH = {}
  function BH.P()
    local a, h = B["CPI+H"]()
    ok(close(a, h, "complete", { reportedOutcome = "submitted" }), "complete")
    return expect_state(a, "processing"), h
  end
  function BH.W()
    local a, h = BH.P()
    H.step(sb)
    return expect_state(a, "waiting_on_payer"), h
  end
  function BH.C()
    local a, h = BH.W()
    force(a, { type = "denial" })
    return expect_state(a, "completed/denied"), h
  end
  function BH.X()
    local a, h = B["CPI+H"]()
    ok(sb:request("POST", path(a, "/cancel"), nil, H.ifm(a.version)), "cancel")
    return expect_state(a, "canceled"), h
  end
  function BH.CPI()
    local a, h = B["CPI+H"]()
    ok(close(a, h, "complete", { reportedOutcome = "follow_up_required_observed" }), "complete")
    H.step(sb)
    return expect_state(a, "requires_action/complete_payer_interaction"), h
  end
  function BH.RR()
    local a, h = BH.W()
    force(a, { type = "more_info_request", documentTypes = { "letter_of_medical_necessity" } })
    return expect_state(a, "requires_action/resolve_requirements"), h
  end
  function BH.CA()
    local a, h = BH.RR()
    a = ok(H.attach(sb, a, H.ready_file(sb).id, { "letter_of_medical_necessity" }), "attach")
    return expect_state(a, "requires_action/continue_authorization"), h
  end

  -- operations: fn(a, h, stale) -> response; stale sends If-Match version - 1
  local function ifm(a, stale) return H.ifm(stale and a.version - 1 or a.version) end
  local function first_attachment(a) return H.get(sb, a.id).attachments[1].id end
  -- {acceptedReviewSnapshotId} when nextAction names a snapshot, else no body
  local function snapshot_body(a)
    local na = a.nextAction
    local snap = type(na) == "table" and na.covers.reviewSnapshotId
    return type(snap) == "string" and { acceptedReviewSnapshotId = snap } or nil
  end
  local FAKE_H = { id = "mhand_0000000000000000" }
  local OPS = {
    { "patch", true, function(a, _, stale)
      return sb:request("PATCH", path(a, "/answers"),
        { answers = { item = { H.leaf("patient.firstName", "valueString", "Janet") } } }, ifm(a, stale))
    end },
    { "attach", true, function(a, _, stale)
      return sb:request("POST", path(a, "/attachments"), { fileId = H.ready_file(sb).id, documentTypes = { "other" } },
        ifm(a, stale))
    end },
    { "delete attachment", true, function(a, _, stale)
      return sb:request("DELETE", path(a, "/attachments/" .. first_attachment(a)), nil, ifm(a, stale))
    end },
    { "confirm", true, function(a, _, stale)
      local body = snapshot_body(a)
      return sb:request("POST", path(a, "/confirm"), body, ifm(a, stale))
    end },
    { "cancel", true, function(a, _, stale)
      return sb:request("POST", path(a, "/cancel"), { reason = "matrix" }, ifm(a, stale))
    end },
    { "handoff create", true, function(a, _, stale)
      local body = snapshot_body(a)
      return sb:request("POST", path(a, "/manual-handoffs"), body, ifm(a, stale))
    end },
    { "handoff complete", true, function(a, h, stale)
      return sb:request("POST", path(a, "/manual-handoffs/" .. (h or FAKE_H).id .. "/complete"),
        { reportedOutcome = "submitted" }, ifm(a, stale))
    end, handoff = true },
    { "handoff unable", true, function(a, h, stale)
      return sb:request("POST", path(a, "/manual-handoffs/" .. (h or FAKE_H).id .. "/unable-to-complete"),
        { reason = "channel_blocked" }, ifm(a, stale))
    end, handoff = true },
    { "handoff revoke", true, function(a, h, stale)
      return sb:request("POST", path(a, "/manual-handoffs/" .. (h or FAKE_H).id .. "/revoke"),
        { reason = "matrix" }, ifm(a, stale))
    end, handoff = true },
    { "handoff grant", false, function(a, h)
      return sb:request("POST", path(a, "/manual-handoffs/" .. (h or FAKE_H).id .. "/access-grants"))
    end, handoff = true },
    { "live-session grant", false, function(a)
      return sb:request("POST", path(a, "/live-session/access-grants"))
    end },
  }

  local OK = "ok"
  local W_ = { RR = OK, CA = OK, AS = OK, CPI = NM, ["CPI+H"] = NM, P = NM, W = NM, C = NM, X = NM }
  local CLOSE = { RR = NA, CA = NA, AS = NA, CPI = NA, ["CPI+H"] = OK, P = NA, W = NA, C = NA, X = NA }
  local MATRIX = {
    patch = W_, attach = W_, ["delete attachment"] = W_,
    confirm = { RR = RNS, CA = OK, AS = OK, CPI = NA, ["CPI+H"] = NA, P = NA, W = NA, C = NA, X = NA },
    cancel = { RR = OK, CA = OK, AS = OK, CPI = OK, ["CPI+H"] = OK, P = OK, W = OK, C = NM, X = NM },
    ["handoff create"] = { RR = HNA, CA = HNA, AS = HNA, CPI = OK, ["CPI+H"] = OK, P = HNA, W = HNA, C = HNA,
      X = HNA },
    ["handoff complete"] = CLOSE, ["handoff unable"] = CLOSE, ["handoff revoke"] = CLOSE,
    ["handoff grant"] = { RR = LSNA, CA = LSNA, AS = LSNA, CPI = LSNA, ["CPI+H"] = OK, P = LSNA, W = LSNA,
      C = LSNA, X = LSNA },
    ["live-session grant"] = { RR = LSNA, CA = LSNA, AS = LSNA, CPI = LSNA, ["CPI+H"] = OK, P = LSNA, W = LSNA,
      C = LSNA, X = LSNA },
  }
  local STATES = { "RR", "CA", "AS", "CPI", "CPI+H", "P", "W", "C", "X" }

  local function gets(a, h)
    for _, p in ipairs({ "", "/attachments", "/live-session" }) do
      assert.are.equal(200, sb:request("GET", path(a, p)).status, p)
    end
    if h then assert.are.equal(200, sb:request("GET", path(a, "/manual-handoffs/" .. h.id)).status) end
    assert.are.equal(200, sb:request("GET", "/v1/prior-authorizations?limit=1").status)
  end

  for _, s in ipairs(STATES) do
    describe("in " .. s, function()
      it("refuses what §4.4 refuses, version_conflict first, and changes nothing", function()
        -- the closed-handoff twin first: building it moves the clock, which would move a P on
        local hb_a, hb_h
        if BH[s] then hb_a, hb_h = BH[s]() end
        local a, h = B[s]()
        local before = sb:request("GET", path(a)).body
        gets(a, h)
        for _, op in ipairs(OPS) do
          local name, if_match, fn = op[1], op[2], op[3]
          local want = MATRIX[name][s]
          local use_a, use_h = a, h
          if op.handoff and not h then
            -- no handoff ever: the path names none (404 before state rules)
            local r = fn(a, nil, false)
            assert.are.equal(404, r.status, name)
            assert.are.equal("manual_handoff_not_found", r.json.error.code, name)
            if hb_a then
              use_a, use_h = H.get(sb, hb_a.id), hb_h
            else
              use_a = nil
            end
          end
          if use_a then
            local vb = H.get(sb, use_a.id).version
            if if_match then
              local r = fn(use_a, use_h, true)
              assert.are.equal(409, r.status, s .. " " .. name .. " stale: " .. r.body)
              assert.are.equal("version_conflict", r.json.error.code, s .. " " .. name)
            end
            if want ~= OK then
              local r = fn(use_a, use_h, false)
              assert.are.equal(409, r.status, s .. " " .. name .. ": " .. r.body)
              assert.are.equal(want, r.json.error.code, s .. " " .. name)
            end
            assert.are.equal(vb, H.get(sb, use_a.id).version, s .. " " .. name .. " changed the version")
          end
        end
        assert.are.equal(before, sb:request("GET", path(a)).body)
        if hb_a then gets(hb_a, hb_h) end
      end)

      for _, op in ipairs(OPS) do
        local name, fn = op[1], op[3]
        if MATRIX[name][s] == OK then
          it("accepts " .. name, function()
            local a, h = B[s]()
            local r = fn(a, h, false)
            assert(r.status == 200 or r.status == 201, s .. " " .. name .. ": " .. r.status .. " " .. r.body)
            local after = H.get(sb, a.id)
            if name == "handoff create" and s == "CPI+H" then
              assert.are.equal(h.id, r.json.id) -- the active one, returned again
              assert.are.equal(a.version, after.version)
            elseif name:find("grant") then
              assert.matches("^rag_", r.json.id)
            else
              assert.are.equal(a.version + 1, after.version)
            end
            if name == "patch" or name == "attach" or name == "delete attachment" then
              assert.is_truthy(({ ["requires_action/resolve_requirements"] = true,
                ["requires_action/continue_authorization"] = true })[H.state(after)])
              if s == "AS" then assert.are.equal("stale", after.submission.reviewSnapshot.status) end
            elseif name == "confirm" then
              assert.are.equal("processing", after.status)
              if s == "AS" then assert.are.equal("accepted", after.submission.reviewSnapshot.status) end
            elseif name == "cancel" then
              assert.are.equal("canceled", after.status)
              if h then
                assert.are.equal("canceled", sb:request("GET", path(a, "/manual-handoffs/" .. h.id)).json.result)
              end
            elseif name:find("^handoff [cur]") and s == "CPI+H" and name ~= "handoff create" then
              assert.are.equal("processing", after.status)
            end
          end)
        end
      end
    end)
  end

  it("refuses confirm of AS without the current snapshot: review_stale", function()
    local a = B.AS()
    local r = sb:request("POST", path(a, "/confirm"), nil, H.ifm(a.version))
    assert.are.equal(409, r.status)
    assert.are.equal("review_stale", r.json.error.code)
    r = sb:request("POST", path(a, "/confirm"), { acceptedReviewSnapshotId = "rev_0000000000000000" }, H.ifm(a.version))
    assert.are.equal("review_stale", r.json.error.code)
    assert.are.equal(a.version, H.get(sb, a.id).version)
  end)

  it("accepts a live-session grant in P while live, refuses it once the discovery step ended", function()
    local sc = catalog.live_session_available
    local a = H.create(sb, sc.create)
    ok(H.confirm(sb, a), "confirm")
    expect_state(a, "processing")
    local r = sb:request("POST", path(a, "/live-session/access-grants"))
    assert.are.equal(200, r.status, r.body)
    H.advance(sb, 125)
    assert.are.equal("waiting_on_payer", state_of(a))
    r = sb:request("POST", path(a, "/live-session/access-grants"))
    assert.are.equal(409, r.status)
    assert.are.equal(LSNA, r.json.error.code)
  end)
end)
