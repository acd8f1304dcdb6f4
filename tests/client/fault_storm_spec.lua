-- 2,000 creates through the sandbox's fault injection: about 30% of requests hit by 500, 503,
-- 429, reset (before and after processing), truncated bodies and delays. Proves from the
-- sandbox's own records that no logical create produced two authorizations, that every call
-- returned or raised a typed error after its retries, and that nothing hung.
local collate = require "collate"
local core = require "collate.core"
local sandbox = require "support.sandbox"

local TOTAL = tonumber(os.getenv("COLLATE_FAULT_CREATES")) or 2000
local BATCH = 100
local HITS_PER_BATCH = 43 -- faults per batch of 100 creates: about 30% of all requests
local DEADLINE = 30       -- seconds per call, retries included

local KINDS = {
  { kind = "status", status = 500 },
  { kind = "status", status = 503 },
  { kind = "status", status = 429, retryAfter = 1 },
  { kind = "reset", when = "before" },
  { kind = "reset", when = "after" },
  { kind = "truncate" },
  { kind = "delay", ms = 300 },
}

local function body(case_id)
  return {
    provider_npi = "1234567893",
    request = { payer_id = "payer_aetna", coverage_state = "CA", request_type = "drug",
                service_code = { system = "hcpcs", code = "J0791" } },
    policy = { final_submission = "requires_approval" },
    metadata = { external_case_id = case_id },
    deadline = DEADLINE,
  }
end

describe("a storm of faults", function()
  local sb

  setup(function()
    sb = sandbox.start{ args = { "--clock-mode", "step", "--log-level", "quiet" } }
  end)

  teardown(function()
    if sb then sb:stop() end
  end)

  it("never duplicates a create and never hangs", function()
    local client = collate.new{ api_key = sb.key, environment = sb.url, max_retries = 3, timeout = 10 }
    local results = {} -- case id -> {ok, value, seconds}
    local longest = 0

    for first = 1, TOTAL, BATCH do
      local rules = {}
      for i = 1, HITS_PER_BATCH do
        local r = {}
        for k, v in pairs(KINDS[(first + i) % #KINDS + 1]) do r[k] = v end
        r.method, r.path, r.times = "POST", "/v1/prior-authorizations", 1
        rules[#rules + 1] = r
      end
      assert.are.equal(200, sb:control("POST", "/_sandbox/faults", { rules = rules }).status)

      collate.run(function()
        local tasks = {}
        for n = first, math.min(first + BATCH - 1, TOTAL) do
          local case_id = string.format("case_%05d", n)
          tasks[#tasks + 1] = collate.spawn(function()
            local started = core.now()
            local ok, value = collate.pcall(client.authorizations.create, body(case_id))
            local seconds = core.now() - started
            if seconds > longest then longest = seconds end
            results[case_id] = { ok = ok, value = value }
          end)
        end
        collate.gather(tasks)
      end, { max_connections = 32 })
    end

    -- every call finished: returned an authorization or raised a typed collate.Error
    local returned, raised = 0, 0
    for n = 1, TOTAL do
      local r = results[string.format("case_%05d", n)]
      assert.is_table(r)
      if r.ok then
        returned = returned + 1
        assert.matches("^auth_", r.value.id)
      else
        raised = raised + 1
        assert.is_true(collate.is_error(r.value), tostring(r.value))
      end
    end
    assert.is_true(longest < DEADLINE + 5, "a call took " .. longest .. " s")

    -- the sandbox's records: one authorization per logical create at most, and exactly the
    -- one each successful call returned
    local by_case = {}
    local count = 0
    for auth in client.authorizations.each{ limit = 100 } do
      local case_id = auth.metadata.external_case_id
      assert.is_nil(by_case[case_id], "two authorizations for " .. tostring(case_id))
      by_case[case_id] = auth.id
      count = count + 1
    end
    for case_id, r in pairs(results) do
      if r.ok then assert.are.equal(by_case[case_id], r.value.id) end
    end

    -- the request log shows the faults really happened, and retries reused their keys
    local log = sb:control("GET", "/_sandbox/requests?method=POST&path=/v1/prior-authorizations").json.data
    local faulted, keys_per_case = 0, {}
    for _, e in ipairs(log) do
      if e.fault ~= nil and e.fault ~= require("cjson").null then faulted = faulted + 1 end
      local case_id = type(e.body) == "table" and e.body.metadata and e.body.metadata.externalCaseId
      if case_id then
        local keys = keys_per_case[case_id] or {}
        keys[e.headers["idempotency-key"]] = true
        keys_per_case[case_id] = keys
      end
    end
    for case_id, keys in pairs(keys_per_case) do
      local n = 0
      for _ in pairs(keys) do n = n + 1 end
      assert.are.equal(1, n, case_id .. " was sent with " .. n .. " idempotency keys")
    end
    local share = faulted / #log
    print(string.format("\n%d creates: %d returned, %d raised; %d requests, %d faulted (%.0f%%); "
      .. "%d authorizations; longest call %.2f s", TOTAL, returned, raised, #log, faulted, share * 100,
      count, longest))
    assert.is_true(faulted >= TOTAL * HITS_PER_BATCH / BATCH, "fewer faults than injected")
    assert.is_true(share > 0.25 and share < 0.4, "fault share " .. share)
    assert.is_true(count >= returned)
  end)
end)
