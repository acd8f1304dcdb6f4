-- Edges of the emulator's input handling (issue 10): null answers, a raw DEL inside a JSON
-- string, integers above 2^53 in metadata, unknown linkIds that point at the right one.
-- Bodies are sent as raw JSON text, so they reach the server exactly as written.
local cjson = require "cjson"
local H = require "sandbox.helpers"

local JSON = { ["Content-Type"] = "application/json" }

local function with(headers, extra)
  local h = {}
  for k, v in pairs(headers) do h[k] = v end
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

local CREATE_PREFIX = '{"providerNpi":"1234567893","request":{"payerId":"payer_aetna","coverageState":"CA",'
  .. '"requestType":"drug","serviceCode":{"system":"hcpcs","code":"J0791"}},'
  .. '"policy":{"finalSubmission":"requires_approval"}'

local function create_raw(sb, tail)
  return sb:request("POST", "/v1/prior-authorizations", CREATE_PREFIX .. tail .. "}",
    with(JSON, { ["Idempotency-Key"] = H.key() }))
end

describe("collate-sandbox edges", function()
  local sb

  setup(function()
    sb = require("support.sandbox").start{ args = { "--clock-mode", "step" } }
  end)

  teardown(function()
    if sb then sb:stop() end
  end)

  before_each(function()
    assert(sb:reset({ mode = "step" }).status == 200)
  end)

  it('"answers": null on create is a 400 at ["body","answers"], not a 500', function()
    local r = create_raw(sb, ',"answers":null')
    assert.are.equal(400, r.status, r.body)
    assert.are.equal("bad_request", r.json.error.code)
    assert.are.same({ "body", "answers" }, r.json.error.issues[1].location)
    assert.is_false(r.json.error.retryable)
  end)

  it('"answers": null on PATCH is a 400 too', function()
    local a = H.create(sb, H.create_body())
    local r = sb:request("PATCH", "/v1/prior-authorizations/" .. a.id .. "/answers", '{"answers":null}',
      with(JSON, H.ifm(a.version)))
    assert.are.equal(400, r.status, r.body)
    assert.are.same({ "body", "answers" }, r.json.error.issues[1].location)
    assert.are.equal(a.version, H.get(sb, a.id).version)
  end)

  it("accepts a raw DEL (0x7F) inside a JSON string (RFC 8259 only forbids U+0000 to U+001F)", function()
    local r = create_raw(sb, ',"metadata":{"note":"a\127b"}')
    assert.are.equal(201, r.status, r.body)
    assert.are.equal("a\127b", r.json.metadata.note)
    -- the control characters RFC 8259 does forbid are still refused
    r = create_raw(sb, ',"metadata":{"note":"a\31b"}')
    assert.are.equal(400, r.status, r.body)
    assert.are.equal("invalid_json", r.json.error.issues[1].errorType)
  end)

  it("echoes integers above 2^53 in metadata verbatim", function()
    local r = create_raw(sb, ',"metadata":{"big":9007199254740993,"max":9223372036854775807,'
      .. '"neg":-9007199254740995,"small":42,"frac":1.5}')
    assert.are.equal(201, r.status, r.body)
    -- compare the text: a Lua float (cjson) could not tell 2^53 + 1 from 2^53
    assert.truthy(r.body:find('"big":9007199254740993', 1, true), r.body)
    assert.truthy(r.body:find('"max":9223372036854775807', 1, true), r.body)
    assert.truthy(r.body:find('"neg":-9007199254740995', 1, true), r.body)
    assert.truthy(r.body:find('"small":42', 1, true), r.body)
    assert.truthy(r.body:find('"frac":1.5', 1, true), r.body)
    local got = sb:request("GET", "/v1/prior-authorizations/" .. r.json.id)
    assert.truthy(got.body:find('"big":9007199254740993', 1, true), got.body)
  end)

  it("an unknown linkId lists the close matches and the questionnaire's linkIds in details", function()
    -- the Python SDK page's example spells it coverage.member_id; the questionnaire says coverage.memberId
    local r = create_raw(sb, ',"answers":{"item":[{"linkId":"coverage.member_id",'
      .. '"answer":[{"valueString":"SBX-APPROVE"}]}]}')
    assert.are.equal(400, r.status, r.body)
    local e = r.json.error
    assert.are.equal("unknown_link_id", e.issues[1].errorType)
    assert.truthy(e.issues[1].message:find("coverage.memberId", 1, true), e.issues[1].message)
    local u = e.details.unknownLinkIds[1]
    assert.are.equal("coverage.member_id", u.linkId)
    assert.are.same({ "body", "answers", "item", 0, "linkId" }, u.location)
    assert.are.same({ "coverage.memberId" }, u.closeMatches)
    local ids = {}
    for _, id in ipairs(e.details.questionnaireLinkIds) do ids[id] = true end
    assert.is_true(ids["coverage.memberId"] and ids["patient.firstName"] and ids["diagnoses"])
    -- nested: the group's own linkIds are the candidates
    r = create_raw(sb, ',"answers":{"item":[{"linkId":"diagnoses","item":[{"linkId":"qualifier_code",'
      .. '"answer":[{"valueCoding":{"code":"ABF"}}]}]}]}')
    assert.are.equal(400, r.status, r.body)
    u = r.json.error.details.unknownLinkIds[1]
    assert.are.same({ "qualifierCode" }, u.closeMatches)
    assert.are.same({ "code", "qualifierCode" }, u.allowed)
    -- nothing close: an empty list, never a guess
    r = create_raw(sb, ',"answers":{"item":[{"linkId":"zzz","answer":[{"valueString":"x"}]}]}')
    assert.are.equal(400, r.status, r.body)
    assert.are.same({}, r.json.error.details.unknownLinkIds[1].closeMatches)
    assert.are.equal(cjson.null, cjson.null) -- (cjson used for the decode above)
  end)
end)
