-- drive()'s recovery paths, each with the sandbox producing the condition (step clock).
local collate = require "collate"
local workflow = require "collate.workflow"
local sandbox = require "support.sandbox"

local ANSWERS = {
  ["patient.firstName"] = "Jane", ["patient.lastName"] = "Doe", ["patient.dateOfBirth"] = "1990-04-12",
  ["coverage.member_id"] = "WALKIN-1", diagnoses = { { code = "D57.00", qualifier_code = "ABF" } },
  ["service.startDate"] = "2026-07-01", ["service.units"] = 12, ["clinical.priorTherapyTried"] = true,
}
local PDF = "%PDF-1.4\n% test\n"

describe("workflow.drive", function()
  local sb, client

  setup(function()
    sb = sandbox.start{ args = { "--clock-mode", "step", "--log-level", "quiet" } }
    client = collate.new{ api_key = sb.key, environment = sb.url }
  end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() assert.are.equal(200, sb:reset{ mode = "step" }.status) end)

  local function step() assert.are.equal(200, sb:control("POST", "/_sandbox/clock/step").status) end
  local function opts(extra)
    local o = { sleep = step, time_scale = 1, stats = {} }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end
  local function confirms(id)
    local r = sb:control("GET", "/_sandbox/requests?method=POST&path=/v1/prior-authorizations/" .. id .. "/confirm")
    local out = {}
    for _, e in ipairs(r.json.data) do out[#out + 1] = { status = e.status, body = e.body } end
    return out
  end

  -- RA·CA at version 1: the default flow with every required answer at create
  local function ready_to_confirm(member)
    local auth = client.authorizations.create{
      provider_npi = "1234567893",
      request = { payer_id = "payer_aetna", coverage_state = "CA", request_type = "drug",
                  service_code = { system = "hcpcs", code = "J0791" } },
      policy = { final_submission = "requires_approval" },
    }
    local flat = {}
    for k, v in pairs(ANSWERS) do flat[k] = v end
    if member then flat["coverage.member_id"] = member end
    auth = client.authorizations.answers.patch{ authorization_id = auth.id, if_match = auth.version,
      answers = workflow.answers(auth, flat) }
    assert.are.equal("continue_authorization", auth.next_action.type)
    return auth
  end

  it("builds answers from a flat table and lists what is open", function()
    local auth = client.authorizations.create{
      provider_npi = "1234567893",
      request = { payer_id = "payer_aetna", coverage_state = "CA", request_type = "drug",
                  service_code = { system = "hcpcs", code = "J0791" } },
      policy = { final_submission = "requires_approval" } }
    local open = workflow.open_requirements(auth)
    assert.is_true(open.blocking)
    assert.are.equal(8, #open.questions)
    auth = client.authorizations.answers.patch{ authorization_id = auth.id, if_match = auth.version,
      answers = workflow.answers(auth, { ["coverage.member_id"] = "WALKIN-1", ["service.units"] = 12 }) }
    open = workflow.open_requirements(auth)
    assert.are.equal(6, #open.questions)
    assert.are.equal("coverage.memberId", auth.answers.item[1].link_id)
    assert.are.equal("WALKIN-1", auth.answers.item[1].answer[1].value_string)
  end)

  it("version_conflict: re-reads and confirms again when the new state still needs it", function()
    local auth = ready_to_confirm()
    -- another writer changes the answers: still RA·CA, one version later
    client.authorizations.answers.patch{ authorization_id = auth.id, if_match = auth.version,
      answers = workflow.answers(auth, { ["service.units"] = 11 }) }
    local o = opts{ poll = false }
    local after, why = workflow.drive(client, auth, {}, o)
    assert.are.equal("waiting", why)
    assert.are.equal("processing", after.status)
    assert.are.equal(1, o.stats.version_conflict)
    local c = confirms(auth.id)
    assert.are.same({ 409, 200 }, { c[1].status, c[2].status })
  end)

  it("version_conflict: re-reads and does not act when the new state no longer needs it", function()
    local auth = ready_to_confirm()
    client.authorizations.confirm{ authorization_id = auth.id, if_match = auth.version } -- someone else confirmed
    local o = opts{ poll = false }
    local after, why = workflow.drive(client, auth, {}, o)
    assert.are.equal("waiting", why)
    assert.are.equal("processing", after.status)
    assert.are.equal(1, o.stats.version_conflict)
    local c = confirms(auth.id)
    assert.are.equal(2, #c) -- the other writer's 200 and drive's one 409: no second confirm
    assert.are.same({ 200, 409 }, { c[1].status, c[2].status })
  end)

  it("review_stale: re-reads and presents the new snapshot before confirming", function()
    local auth = ready_to_confirm()
    auth = client.authorizations.confirm{ authorization_id = auth.id, if_match = auth.version }
    step()
    auth = client.authorizations.retrieve{ authorization_id = auth.id }
    assert.are.equal("approve_submission", auth.next_action.type)
    local reviewed = auth.submission.review_snapshot.id -- what the approver signed off
    -- the answers change after the review: that snapshot goes stale, a new one replaces it
    auth = client.authorizations.answers.patch{ authorization_id = auth.id, if_match = auth.version,
      answers = workflow.answers(auth, { ["service.units"] = 10 }) }
    auth = client.authorizations.confirm{ authorization_id = auth.id, if_match = auth.version }
    step()
    auth = client.authorizations.retrieve{ authorization_id = auth.id }
    local current = auth.submission.review_snapshot.id
    assert.are_not.equal(reviewed, current)
    local presented = {}
    local o = opts{ poll = false }
    local after = workflow.drive(client, auth, {
      approve_submission = function(_, snapshot)
        presented[#presented + 1] = snapshot.id
        if #presented == 1 then return reviewed end -- approves what was reviewed earlier
        return true                                 -- then the new snapshot, once shown
      end,
    }, o)
    assert.are.equal("processing", after.status)
    assert.are.equal(1, o.stats.review_stale)
    assert.are.same({ current, current }, presented)
    local c = confirms(auth.id)
    local last2 = { c[#c - 1], c[#c] }
    assert.are.equal(409, last2[1].status)
    assert.are.equal(reviewed, last2[1].body.acceptedReviewSnapshotId)
    assert.are.equal(200, last2[2].status)
    assert.are.equal(current, last2[2].body.acceptedReviewSnapshotId)
  end)

  it("requirements_not_satisfied: re-reads and goes back to resolve_requirements", function()
    local auth = ready_to_confirm()
    -- an answer is cleared elsewhere: RA·RR one version later
    local now = client.authorizations.answers.patch{ authorization_id = auth.id, if_match = auth.version,
      answers = { item = { { link_id = "service.units" } } } }
    assert.are.equal("resolve_requirements", now.next_action.type)
    -- a view that still believes the action is continue_authorization (a cached read model) at the
    -- current version: If-Match passes and the sandbox answers requirements_not_satisfied
    local view = client.authorizations.retrieve{ authorization_id = auth.id }
    view.next_action = { type = "continue_authorization", resolution = { kind = "confirm" } }
    local asked
    local o = opts{ poll = false }
    local after = workflow.drive(client, view, {
      resolve_requirements = function(a, open)
        asked = open.questions
        return client.authorizations.answers.patch{ authorization_id = a.id, if_match = a.version,
          answers = workflow.answers(a, { ["service.units"] = 12 }) }
      end,
    }, o)
    assert.are.equal(1, o.stats.requirements_not_satisfied)
    assert.are.same({ "service.units" }, asked)
    assert.are.equal("processing", after.status)
    local c = confirms(auth.id)
    assert.are.same({ 409, 200 }, { c[1].status, c[2].status })
  end)

  it("a payer's information request mid-drive goes back to resolve_requirements, then to the end", function()
    local auth = ready_to_confirm()
    local forced, attached = false, nil
    local o = opts{
      on_change = function(a)
        if a.status == "waiting_on_payer" and not forced then
          forced = true
          local r = sb:control("POST", "/_sandbox/prior-authorizations/" .. a.id .. "/payer-events",
            { type = "more_info_request", documentTypes = { "lab_results" }, message = "labs please" })
          assert.are.equal(200, r.status)
        end
      end,
    }
    local final, why = workflow.drive(client, auth, {
      resolve_requirements = function(a, open)
        attached = open.documents
        return workflow.attach(client, a, { data = PDF, file_name = "labs.pdf", document_types = open.documents })
      end,
      approve_submission = function() return true end,
    }, o)
    assert.are.equal("terminal", why)
    assert.are.equal("completed", final.status)
    assert.are.equal("approved", final.outcome)
    assert.are.same({ "lab_results" }, attached)
    assert.are.equal(1, #final.attachments)
  end)

  it("never confirms complete_payer_interaction; a handoff handler takes it to the end", function()
    local auth = client.authorizations.create{
      provider_npi = "1554433221",
      request = { payer_id = "payer_kaiser", coverage_state = "CA", request_type = "outpatient",
                  service_code = { system = "cpt", code = "73721" } },
      policy = { final_submission = "requires_approval" },
      answers = { item = { { link_id = "coverage.memberId", answer = { { value_string = "SBX-HANDOFF" } } } } },
    }
    local flat = {}
    for k, v in pairs(ANSWERS) do flat[k] = v end
    flat["coverage.member_id"] = "SBX-HANDOFF"
    local handlers = {
      resolve_requirements = function(a, open)
        if #open.questions > 0 then
          a = client.authorizations.answers.patch{ authorization_id = a.id, if_match = a.version,
            answers = workflow.answers(a, flat) }
        end
        local docs = workflow.open_requirements(a).documents
        if #docs > 0 then a = workflow.attach(client, a, { data = PDF, file_name = "n.pdf", document_types = docs }) end
        return a
      end,
    }
    local stopped, why = workflow.drive(client, auth, handlers, opts())
    assert.are.equal("needs_caller", why)
    assert.are.equal("complete_payer_interaction", stopped.next_action.type)
    assert.are.equal(1, #confirms(auth.id)) -- the continue_authorization one only
    -- the test's sleep steps the clock (a handoff may be offered first, active a moment later)
    handlers.complete_payer_interaction = function(a) return workflow.manual_handoff(client, a, opts()) end
    local final = workflow.drive(client, stopped, handlers, opts())
    assert.are.equal("completed", final.status)
    assert.are.equal("approved", final.outcome)
    assert.are.equal(1, #confirms(auth.id))
  end)

  it("poll gives up at its deadline with a timeout error", function()
    local auth = ready_to_confirm()
    auth = client.authorizations.confirm{ authorization_id = auth.id, if_match = auth.version }
    local ok, err = pcall(workflow.poll, client, auth, { time_scale = 100, timeout = 0.2 })
    assert.is_false(ok)
    assert.is_true(collate.is_error(err, "timeout"))
  end)
end)
