-- Bounded memory under abuse (issue 10): large bodies do not pile up in the request log, and
-- idempotency records are purged on the virtual clock after the contract's 24 h retention.
-- RSS is the sandbox process's own (/proc/PID/status); budgets x3 when COLLATE_SANITIZED=1.
local H = require "sandbox.helpers"

local SANITIZED = os.getenv("COLLATE_SANITIZED") == "1"
local MiB = 1048576

local function rss_kib(pid)
  local f = assert(io.open("/proc/" .. pid .. "/status", "r"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

-- a JSON object of just under 1 MiB made of many small values (the worst case for a decoded
-- copy) inside metadata, which answers one short 400 (metadata is limited to 16 KiB)
local function big_body(n)
  local items = {}
  local size, i = 0, 0
  while size < MiB - 300 do
    i = i + 1
    local s = string.format('"k%d":"%s"', i, string.rep("a", 24))
    items[#items + 1] = s
    size = size + #s + 1
  end
  items[#items] = nil
  return string.format('{"providerNpi":"1234567893","request":{"n":%d},"metadata":{%s}}', n, table.concat(items, ","))
end

describe("collate-sandbox memory", function()
  local sb

  setup(function()
    sb = require("support.sandbox").start{ args = { "--clock-mode", "step", "--log-level", "quiet" } }
  end)

  teardown(function()
    if sb then sb:stop() end
  end)

  it("40 POSTs of 1 MiB grow its RSS by less than 40 MB; the log summarizes the bodies", function()
    assert(sb:reset({ mode = "step" }).status == 200)
    local body = big_body(0)
    assert.is_true(#body <= MiB and #body > MiB - 1024, tostring(#body))
    -- one first, so the allocator's working set for one such request is in the baseline
    local r = sb:request("POST", "/v1/prior-authorizations", body,
      { ["Content-Type"] = "application/json", ["Idempotency-Key"] = H.key() })
    assert.are.equal(400, r.status, r.body:sub(1, 300))
    local before = rss_kib(sb.pid)
    for n = 1, 40 do
      body = big_body(n)
      r = sb:request("POST", "/v1/prior-authorizations", body,
        { ["Content-Type"] = "application/json", ["Idempotency-Key"] = H.key() })
      assert.are.equal(400, r.status)
    end
    local after = rss_kib(sb.pid)
    local budget = 40 * 1000 * (SANITIZED and 3 or 1)
    print(string.format("RSS %d KiB -> %d KiB (+%d KiB, budget %d KiB)", before, after, after - before, budget))
    assert.is_true(after - before < budget, string.format("RSS grew by %d KiB", after - before))

    -- the log still has every request, the large bodies summarized
    local log = sb:control("GET", "/_sandbox/requests?method=POST&path=/v1/prior-authorizations&limit=2")
    assert.are.equal(200, log.status)
    local e = log.json.data[2]
    assert.are.equal(#body, e.bodySize)
    assert.are.equal(require("cjson").null, e.body)
    assert.is_table(e.bodySummary)
    assert.are.equal(#body, e.bodySummary.bytes)
    assert.is_true(body:sub(1, #e.bodySummary.head) == e.bodySummary.head and #e.bodySummary.head > 0)
    assert.is_string(e.bodySummary.fnv1a64)
    local all = sb:control("GET", "/_sandbox/requests?method=POST&path=/v1/prior-authorizations")
    assert.are.equal(41, #all.json.data)
  end)

  it("small bodies are kept whole, parsed", function()
    assert(sb:reset({ mode = "step" }).status == 200)
    local r = sb:request("POST", "/v1/prior-authorizations", H.create_body("SBX-APPROVE"),
      { ["Idempotency-Key"] = H.key() })
    assert.are.equal(201, r.status, r.body)
    local log = sb:control("GET", "/_sandbox/requests?method=POST&limit=1")
    local e = log.json.data[1]
    assert.are.equal("1234567893", e.body.providerNpi)
    assert.is_nil(e.bodySummary)
  end)

  it("idempotency records are purged after 24 h of virtual time", function()
    assert(sb:reset({ mode = "step" }).status == 200)
    for _ = 1, 50 do
      local r = sb:request("POST", "/v1/prior-authorizations", H.create_body("SBX-APPROVE"),
        { ["Idempotency-Key"] = H.key() })
      assert.are.equal(201, r.status, r.body)
    end
    local function records()
      local r = sb:control("GET", "/_sandbox/idempotency")
      assert.are.equal(200, r.status, r.body)
      return r.json.records
    end
    assert.are.equal(50, records())
    assert(sb:control("POST", "/_sandbox/clock/advance", { seconds = 86399 }).status == 200)
    assert.are.equal(50, records())
    assert(sb:control("POST", "/_sandbox/clock/advance", { seconds = 1 }).status == 200)
    -- no request under those keys needed: the clock purges them
    assert.are.equal(0, records())
  end)

  it("a record younger than the retention still replays; an expired key is processed afresh", function()
    assert(sb:reset({ mode = "step" }).status == 200)
    local key = H.key()
    local function create()
      return sb:request("POST", "/v1/prior-authorizations", H.create_body("SBX-APPROVE"), { ["Idempotency-Key"] = key })
    end
    local r1 = create()
    assert.are.equal(201, r1.status)
    assert(sb:control("POST", "/_sandbox/clock/advance", { seconds = 3600 }).status == 200)
    local r2 = create()
    assert.are.equal("true", r2.headers["idempotent-replayed"])
    assert.are.equal(r1.json.id, r2.json.id)
    assert(sb:control("POST", "/_sandbox/clock/advance", { seconds = 86400 }).status == 200)
    local r3 = create()
    assert.are.equal(201, r3.status)
    assert.is_nil(r3.headers["idempotent-replayed"])
    assert.are_not.equal(r1.json.id, r3.json.id)
  end)
end)
