-- collate-sandbox --realism (docs/sandbox.md, Realism mode): each difference from the default
-- mode, over real HTTP. Requests go through `call`, which retries a 503 after its Retry-After as
-- any client must in this mode (the 503s themselves are tested on their own).
local http = require "support.http"
local fs = require "support.fs"
local H = require "sandbox.helpers"

describe("collate-sandbox --realism", function()
  local sb

  setup(function()
    sb = require("support.sandbox").start{ args = { "--clock-mode", "step", "--realism", "--realism-seed", "7",
      "--log-level", "quiet" } }
  end)

  teardown(function()
    if sb then sb:stop() end
  end)

  local function call(method, path, body, headers)
    for _ = 1, 5 do
      local r = sb:request(method, path, body, headers)
      if r.status ~= 503 then return r end
      fs.sleep(tonumber(r.headers["retry-after"]))
    end
    error("503 five times in a row on " .. method .. " " .. path)
  end

  before_each(function()
    assert(sb:reset({ mode = "step" }).status == 200)
  end)

  local function new_file()
    local r = call("POST", "/v1/files", { fileName = "notes.pdf", contentType = "application/pdf",
      purpose = "authorization_attachment" })
    assert.are.equal(201, r.status, r.body)
    return r.json
  end

  it("upload URLs expire after 15 virtual minutes and answer like an object store (XML, 403)", function()
    local created = new_file()
    H.advance(sb, 899)
    local ok = http.request{ method = "PUT", url = created.upload.url, headers = created.upload.headers, body = H.PDF }
    assert.are.equal(200, ok.status, ok.body)
    local late = new_file()
    H.advance(sb, 900)
    local r = http.request{ method = "PUT", url = late.upload.url, headers = late.upload.headers, body = H.PDF }
    assert.are.equal(403, r.status)
    assert.are.equal("application/xml", r.headers["content-type"])
    assert.truthy(r.body:find("<Code>AccessDenied</Code>", 1, true), r.body)
    assert.truthy(r.body:find("Request has expired", 1, true), r.body)
    assert.is_nil(r.json)
    -- the other refusals in the store's words too
    local f = new_file()
    r = http.request{ method = "PUT", url = f.upload.url, headers = { ["Content-Type"] = "image/png" }, body = H.PDF }
    assert.are.equal(403, r.status)
    assert.truthy(r.body:find("<Code>SignatureDoesNotMatch</Code>", 1, true), r.body)
    r = http.request{ method = "PUT", url = f.upload.url, headers = { ["Content-Type"] = "application/pdf",
      Authorization = "Bearer " .. sb.key }, body = H.PDF }
    assert.are.equal(400, r.status)
    assert.truthy(r.body:find("<Code>InvalidArgument</Code>", 1, true), r.body)
    r = http.request{ method = "PUT", url = sb.url .. "/_uploads/upl_unknown",
      headers = { ["Content-Type"] = "application/pdf" }, body = H.PDF }
    assert.are.equal(403, r.status)
    assert.truthy(r.body:find("<Code>AccessDenied</Code>", 1, true), r.body)
  end)

  it("honours Idempotency-Key on create only", function()
    local key = H.key()
    local c1 = call("POST", "/v1/prior-authorizations", H.create_body(), { ["Idempotency-Key"] = key })
    local c2 = call("POST", "/v1/prior-authorizations", H.create_body(), { ["Idempotency-Key"] = key })
    assert.are.equal(201, c1.status, c1.body)
    assert.are.equal("true", c2.headers["idempotent-replayed"])
    assert.are.equal(c1.json.id, c2.json.id)
    -- on another POST the key is ignored: no replay, no format check
    local fkey = H.key()
    local body = { fileName = "a.pdf", contentType = "application/pdf", purpose = "authorization_attachment" }
    local f1 = call("POST", "/v1/files", body, { ["Idempotency-Key"] = fkey })
    local f2 = call("POST", "/v1/files", body, { ["Idempotency-Key"] = fkey })
    assert.are.equal(201, f2.status, f2.body)
    assert.is_nil(f2.headers["idempotent-replayed"])
    assert.are_not.equal(f1.json.file.id, f2.json.file.id)
    local bad = call("POST", "/v1/files", body, { ["Idempotency-Key"] = "with space" })
    assert.are.equal(201, bad.status, bad.body)
  end)

  it("creates a manual handoff offered, active 2 virtual seconds later", function()
    local a = H.create(sb, H.create_body("SBX-HANDOFF", { answers = H.full_answers("SBX-HANDOFF") }))
    local f = H.ready_file(sb)
    a = call("POST", "/v1/prior-authorizations/" .. a.id .. "/attachments",
      { fileId = f.id, documentTypes = { "clinical_notes" } }, H.ifm(a.version)).json
    a = call("POST", "/v1/prior-authorizations/" .. a.id .. "/confirm", nil, H.ifm(a.version)).json
    H.step(sb) -- discovery: the handoff is offered
    a = call("GET", "/v1/prior-authorizations/" .. a.id).json
    assert.are.equal("complete_payer_interaction", a.nextAction.type)
    local r = call("POST", "/v1/prior-authorizations/" .. a.id .. "/manual-handoffs",
      { acceptedReviewSnapshotId = a.nextAction.covers.reviewSnapshotId }, H.ifm(a.version))
    assert.are.equal(200, r.status, r.body)
    local h = r.json
    assert.are.equal("offered", h.state)
    assert.is_false(h.accessAvailable)
    assert.are.equal(require("cjson").null, h.activatedAt)
    local path = "/v1/prior-authorizations/" .. a.id .. "/manual-handoffs/" .. h.id
    -- not active yet: no grant
    r = call("POST", path .. "/access-grants")
    assert.are.equal(409, r.status, r.body)
    assert.are.equal("live_session_not_available", r.json.error.code)
    H.advance(sb, 2)
    h = call("GET", path).json
    assert.are.equal("active", h.state)
    assert.is_true(h.accessAvailable)
    assert.are.equal(2, h.version)
    r = call("POST", path .. "/access-grants")
    assert.are.equal(200, r.status, r.body)
  end)

  it("writes timestamps with milliseconds", function()
    local a = H.create(sb, H.create_body())
    assert.truthy(a.createdAt:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"), a.createdAt)
    assert.are.equal(a.createdAt, a.updatedAt)
    local clock = sb:control("GET", "/_sandbox/clock").json
    assert.truthy(clock.now:match("%.%d%d%dZ$"), clock.now)
  end)

  it("answers an occasional 503 with Retry-After, never twice in a row on a route, repeatably", function()
    local function run()
      assert(sb:reset({ mode = "step" }).status == 200)
      local statuses = {}
      for i = 1, 300 do
        local r = sb:request("GET", "/v1/payers")
        statuses[i] = r.status
        if r.status == 503 then
          assert.are.equal("1", r.headers["retry-after"])
          assert.are.equal("service_unavailable", r.json.error.code)
          assert.is_true(r.json.error.retryable)
          assert.are_not.equal(503, statuses[i - 1])
        else
          assert.are.equal(200, r.status, r.body)
        end
      end
      return statuses
    end
    local first = run()
    local n = 0
    for _, s in ipairs(first) do if s == 503 then n = n + 1 end end
    print(string.format("%d of 300 answered 503", n))
    assert.is_true(n >= 1 and n <= 20, tostring(n))
    assert.are.same(first, run()) -- the same seed after a reset: the same answers
  end)

  it("adds latency to API requests (at least 2 ms each), none to /health", function()
    local function time_total(path)
      local p = io.popen("curl -s -o /dev/null -w '%{time_total}' -H 'Authorization: Bearer " .. sb.key .. "' "
        .. sb.url .. path)
      local t = tonumber(p:read("a"))
      p:close()
      return t
    end
    local least_api, least_health = math.huge, math.huge
    for _ = 1, 8 do
      least_api = math.min(least_api, time_total("/v1/scenarios-not-a-route"))
      least_health = math.min(least_health, time_total("/health"))
    end
    print(string.format("least: API %.1f ms, /health %.1f ms", least_api * 1000, least_health * 1000))
    assert.is_true(least_api >= 0.002, tostring(least_api))
  end)
end)
