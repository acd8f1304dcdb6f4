-- Days of payers on the sandbox's virtual clock (step mode): 300 cases cycling through every
-- scenario, payers deciding 1 to 5 virtual days after receipt (POST /_sandbox/payer-timing),
-- `advance` run once per virtual hour until every case is terminal. Checks against the request
-- log that each case was created once and looked at no more than the documented intervals allow,
-- and that each case's events are a complete chain of transitions. Prints the longest run and
-- the requests per case.
local fs = require "support.fs"
local cjson = require "cjson"
local cases = require "workflow.cases"
local sandbox = require "support.sandbox"

local N = tonumber(os.getenv("COLLATE_SIM_CASES")) or 300
local RUN = os.getenv("COLLATE_RUN_BIN") or "build/bin/collate-run"
local SOURCE = os.getenv("COLLATE_SOURCE_DIR") or "."
local DAY = 86400
local TIMING = { payer_aetna = 1 * DAY, payer_uhc = 2 * DAY, payer_cigna = 3 * DAY, payer_bcbs_ca = 4 * DAY,
                 payer_kaiser = 5 * DAY, payer_humana = 5 * DAY }

local q = fs.quote

local function now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("*l"))
  p:close()
  return t
end

describe("a multi-day simulation on the virtual clock", function()
  local sb, dir
  setup(function()
    sb = sandbox.start{ args = { "--clock-mode", "step", "--log-level", "quiet" } }
    dir = fs.temp_dir()
  end)
  teardown(function()
    if sb then sb:stop() end
    if dir then os.execute("rm -rf " .. q(dir)) end
  end)

  it("advances " .. N .. " cases hour by hour to their outcomes, each created once, every transition recorded",
    function()
    local r = sb:control("POST", "/_sandbox/payer-timing", { decisionSeconds = TIMING })
    assert.are.equal(200, r.status)
    local csv_path = dir .. "/cases.csv"
    local _, expected = cases.write(csv_path, N)
    local store = "sqlite:" .. dir .. "/cases.db"
    local env = "COLLATE_BASE_URL=" .. q(sb.url) .. " COLLATE_API_KEY=" .. q(sb.key) .. " COLLATE_STORE=" .. q(store)
    local rules = q(SOURCE .. "/scripts/examples/rules.lua")
    local function run(script, args)
      local started = now()
      local p = io.popen(env .. " " .. q(RUN) .. " " .. q(SOURCE .. "/scripts/ops/" .. script) .. " " .. args ..
        " --clock sandbox --rules " .. rules .. " --quiet --json 2>" .. q(dir .. "/err"))
      local out = p:read("a")
      local ok = p:close()
      assert.is_true(ok, script .. " failed: " .. out .. (fs.read_file(dir .. "/err") or ""))
      local summary = cjson.decode(out:match("(%b{})%s*$"))
      return summary, now() - started
    end

    local summary, took = run("submit-batch", q(csv_path))
    local longest, longest_pass, hours, runs = took, summary.longest_pass_seconds or 0, 0, 1
    local all_done = false
    while not all_done do
      hours = hours + 1
      assert.is_true(hours <= 24 * 8, "still open after 8 virtual days: " .. cjson.encode(summary.by_status))
      assert.are.equal(200, sb:control("POST", "/_sandbox/clock/advance", { seconds = 3600 }).status)
      summary, took = run("advance", "")
      runs = runs + 1
      if took > longest then longest = took end
      if (summary.longest_pass_seconds or 0) > longest_pass then longest_pass = summary.longest_pass_seconds end
      local terminal = 0
      for status, n in pairs(summary.by_status) do
        if status:match("^completed") or status == "canceled" then terminal = terminal + n end
      end
      all_done = terminal == N
    end
    assert.are.same(expected, summary.by_status)

    -- the request log: one real create per case, and per case how many requests in all
    local log = sb:control("GET", "/_sandbox/requests").json.data
    local made, auth_case, per_case, gets = {}, {}, {}, {}
    for _, e in ipairs(log) do
      if e.method == "POST" and e.path == "/v1/prior-authorizations" then
        local case = e.body.metadata.externalCaseId
        per_case[case] = (per_case[case] or 0) + 1
        if e.status == 201 and not e.idempotentReplay then made[case] = (made[case] or 0) + 1 end
      end
    end
    local s = require("collate.ops.store").open(store)
    for _, c in ipairs(s:cases{}) do auth_case[c.auth_id] = c end
    for _, e in ipairs(log) do
      local id = e.path:match("^/v1/prior%-authorizations/(auth_[%w]+)")
      local c = id and auth_case[id]
      if c then
        per_case[c.id] = (per_case[c.id] or 0) + 1
        if e.method == "GET" and e.path == "/v1/prior-authorizations/" .. id then gets[c.id] = (gets[c.id] or 0) + 1 end
      end
    end
    local n_made, total, most = 0, 0, 0
    for case, count in pairs(made) do
      n_made = n_made + 1
      assert.are.equal(1, count, case .. " created " .. count .. " times")
    end
    assert.are.equal(N, n_made)
    for _, count in pairs(per_case) do
      total = total + count
      if count > most then most = count end
    end

    -- polls follow the intervals: a case is read at most once per pass after the first look
    -- (advance runs once an hour), so never more reads than hours it stayed open plus a few
    local events_total = 0
    for _, c in ipairs(s:cases{}) do
      local open_hours = math.ceil(((c.decided_at or 0) - (c.created_at or 0)) / 3600) + 2
      assert.is_true((gets[c.id] or 0) <= open_hours + 3,
        c.id .. " read " .. tostring(gets[c.id]) .. " times in " .. open_hours .. " hours")
      -- every transition: a chain from import to the outcome
      local ev = s:events(c.id)
      events_total = events_total + #ev
      assert.are.equal("imported", ev[1].kind)
      local state = ev[1].to_status
      for i = 2, #ev do
        local e = ev[i]
        if e.to_status and e.to_status ~= "" then
          assert.are.equal(state, e.from_status, c.id .. " event " .. i .. " (" .. e.kind .. ") does not follow on")
          state = e.to_status
        end
      end
      assert.are.equal("completed", state, c.id .. " ends " .. tostring(state))
      assert.is_truthy(c.decided_at and c.created_at and c.decided_at > c.created_at)
    end
    s:close()
    io.stderr:write(string.format("\nworkflow_simulation: %d cases, payers 1-5 virtual days, %d virtual hours, " ..
      "%d runs; longest run %.2f s wall (longest pass %.2f s); requests per case %.1f mean, %d max; " ..
      "%d events\n", N, hours, runs, longest, longest_pass, total / N, most, events_total))
  end)
end)
