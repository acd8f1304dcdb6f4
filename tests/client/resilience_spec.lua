-- Retries, typed transport errors, deadlines, the non-raising variant and pagination, against
-- the sandbox's fault injection over real HTTP.
local collate = require "collate"
local safe = require "collate.safe"
local sandbox = require "support.sandbox"

local function create_body(member_id)
  return {
    provider_npi = "1234567893",
    request = { payer_id = "payer_aetna", coverage_state = "CA", request_type = "drug",
                service_code = { system = "hcpcs", code = "J0791" } },
    policy = { final_submission = "requires_approval" },
    answers = { item = { { link_id = "coverage.memberId", answer = { { value_string = member_id } } } } },
  }
end

local function monotonic()
  return require("collate.core").now()
end

describe("resilience", function()
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

  local function fault(rule)
    local r = sb:control("POST", "/_sandbox/faults", { rules = { rule } })
    assert.are.equal(200, r.status)
  end

  local function count(method, path)
    return #sb:control("GET", "/_sandbox/requests?method=" .. method .. "&path=" .. path).json.data
  end

  it("types a refused connection and retries it", function()
    local dead = collate.new{ api_key = sb.key, environment = "http://127.0.0.1:1", max_retries = 1 }
    local ok, err = pcall(dead.payers.list, {})
    assert.is_false(ok)
    assert.are.equal("connection", err.kind)
    assert.are.equal(2, err.attempts)
    assert.is_true(err.retryable)
  end)

  it("retries a reset connection and a truncated body", function()
    local auth = client.authorizations.create(create_body("W1"))
    local path = "/v1/prior-authorizations/" .. auth.id
    fault({ method = "GET", path = path, kind = "reset", times = 1 })
    fault({ method = "GET", path = path, kind = "truncate", bytes = 10, times = 1 })
    local again = client.authorizations.retrieve{ authorization_id = auth.id }
    assert.are.equal(auth.id, again.id)
    -- both faults were spent and the third request answered (libcurl itself may resend once
    -- on a reused connection that died before any byte arrived, so attempts can be 2 or 3)
    assert.are.equal(3, count("GET", path))
    assert.are.same({}, sb:control("GET", "/_sandbox/faults").json.rules)
  end)

  it("surfaces malformed JSON on a 2xx as a decode error, without retrying", function()
    fault({ method = "GET", path = "/v1/payers", kind = "malformed_json" })
    local ok, err = pcall(client.payers.list, {})
    assert.is_false(ok)
    assert.are.equal("decode", err.kind)
    assert.are.equal(200, err.status_code)
    assert.are.equal(1, err.attempts)
    assert.is_string(err.body)
  end)

  it("honours Retry-After on 429", function()
    fault({ method = "GET", path = "/v1/payers", kind = "status", status = 429, retryAfter = 1 })
    local started = monotonic()
    local page = client.payers.list{}
    assert.is_true(#page.data > 0)
    assert.is_true(monotonic() - started >= 0.9)
    assert.are.equal(2, count("GET", "/v1/payers"))
  end)

  it("does not wait out a Retry-After over 60 s", function()
    fault({ method = "GET", path = "/v1/payers", kind = "status", status = 429, retryAfter = 120 })
    local ok, err = pcall(client.payers.list, {})
    assert.is_false(ok)
    assert.are.equal(429, err.status_code)
    assert.are.equal("rate_limited", err.code)
    assert.are.equal(1, err.attempts)
  end)

  it("stops at the call's deadline", function()
    fault({ method = "GET", path = "/v1/payers", kind = "delay", ms = 3000 })
    local started = monotonic()
    local ok, err = pcall(client.payers.list, { deadline = 0.5 })
    assert.is_false(ok)
    assert.are.equal("timeout", err.kind)
    assert.is_true(monotonic() - started < 2.5)
  end)

  it("gives up after max_retries on persistent 503s", function()
    fault({ method = "GET", path = "/v1/payers", kind = "status", status = 503, times = 5 })
    local ok, err = pcall(client.payers.list, { max_retries = 1 })
    assert.is_false(ok)
    assert.are.equal("service_unavailable", err.code)
    assert.are.equal(2, err.attempts)
    assert.are.equal(2, count("GET", "/v1/payers"))
  end)

  it("returns nil, err from the safe variant instead of raising", function()
    local c = safe.new{ api_key = sb.key, environment = sb.url }
    local auth, err = c.authorizations.retrieve{ authorization_id = "auth_0000000000000000" }
    assert.is_nil(auth)
    assert.is_true(collate.is_error(err, "prior_authorization_not_found"))
    assert.are.equal(404, err.status_code)
    local none, bad = c.authorizations.retrieve{}
    assert.is_nil(none)
    assert.are.equal("invalid_argument", bad.kind)
    assert.matches("authorization_id is required", bad.message)
  end)

  it("pages through lists and iterates across pages", function()
    for i = 1, 5 do client.authorizations.create(create_body("W" .. i)) end
    local page = client.authorizations.list{ limit = 2 }
    assert.are.equal(2, #page.data)
    assert.is_string(page.next_cursor)
    assert.are.equal(page.next_cursor, page.pagination.next_cursor)
    local ids, seen = {}, {}
    for auth in client.authorizations.each{ limit = 2 } do
      assert.is_nil(seen[auth.id])
      seen[auth.id] = true
      ids[#ids + 1] = auth.id
    end
    assert.are.equal(5, #ids)
    local capped = 0
    for _ in client.authorizations.each{ limit = 2, max_items = 3 } do capped = capped + 1 end
    assert.are.equal(3, capped)
  end)
end)
