-- 500 authorizations across every sandbox scenario driven to their outcomes at once by
-- scripts/ops/submit-batch (--concurrency 500: cases in flight; waiting ones hold no slot), with
-- the number of connections checked at the server, against the same script one case at a time
-- (--concurrency 1 --max-connections 1) on a sample of the same mix. Prints the measured numbers.
local fs = require "support.fs"
local cjson = require "cjson"
local cases = require "workflow.cases"

local N = tonumber(os.getenv("COLLATE_WORKFLOW_CASES")) or 500
local SAMPLE = tonumber(os.getenv("COLLATE_WORKFLOW_SEQUENTIAL_SAMPLE")) or 44 -- 4 of each row
local SPEED = 1000   -- the sandbox's virtual seconds per wall second
local MAX_CONNECTIONS = 16

local RUN = os.getenv("COLLATE_RUN_BIN") or "build/bin/collate-run"
local SOURCE = os.getenv("COLLATE_SOURCE_DIR") or "."

local q = fs.quote

local function now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("*l"))
  p:close()
  return t
end

local function submit(sb, csv_path, journal, extra)
  local cmd = table.concat({
    "COLLATE_BASE_URL=" .. q(sb.url), "COLLATE_API_KEY=" .. q(sb.key),
    q(RUN), q(SOURCE .. "/scripts/ops/submit-batch"), q(csv_path), "--store", q("sqlite:" .. journal),
    "--approve-submissions", "--handoff", "--document", q(SOURCE .. "/scripts/examples/clinical-note.pdf"),
    "--wait", "600", "--time-scale", tostring(SPEED), "--json", extra or "",
    "2>" .. q(journal .. ".stderr"),
  }, " ")
  local started = now()
  local p = io.popen(cmd)
  local out = p:read("*a")
  local ok = p:close()
  local seconds = now() - started
  if not ok then
    local f = io.open(journal .. ".stderr")
    error("submit-batch failed: " .. out .. (f and f:read("*a") or ""))
  end
  local summary = cjson.decode(out:match("(%b{})%s*$"))
  summary.failed_lines = {}
  for line in out:gmatch("[^\n]+") do
    if line:find('"status":"failed"', 1, true) then table.insert(summary.failed_lines, line) end
  end
  return summary, seconds
end

describe("500 authorizations at once", function()
  local fixture = cases.fast_sandbox(SPEED)
  setup(fixture.start)
  teardown(fixture.stop)

  it("reach their outcomes concurrently, within the connection bound, faster than one at a time", function()
    local sb, dir = fixture.sb, fixture.dir
    -- one case in flight at a time, on a sample of the same mix
    local sample_csv = dir .. "/sample.csv"
    local _, sample_expected = cases.write(sample_csv, SAMPLE)
    local seq, seq_seconds = submit(sb, sample_csv, dir .. "/sample.journal", "--concurrency 1 --max-connections 1")
    assert.are.same(sample_expected, seq.by_status)
    local seq_estimate = seq_seconds / SAMPLE * N

    assert.are.equal(200, sb:reset{ mode = "realtime", speed = SPEED }.status)
    local csv_path = dir .. "/cases.csv"
    local _, expected = cases.write(csv_path, N)
    assert.are.equal(0, cases.reset_connection_peak(sb))
    local report, seconds = submit(sb, csv_path, dir .. "/cases.journal",
      "--concurrency " .. N .. " --max-connections " .. MAX_CONNECTIONS)
    local conns = sb:control("GET", "/_sandbox/connections").json

    assert.are.equal(0, report.failed, table.concat(report.failed_lines, "\n"))
    assert.are.same(expected, report.by_status)
    -- every create reached the server once (no retries needed here, so no replays either);
    -- against --realism its occasional 503s are retried: then one 201 per case, the rest 503s
    local creates = sb:control("GET", "/_sandbox/requests?method=POST&path=/v1/prior-authorizations").json.data
    if os.getenv("COLLATE_SANDBOX_REALISM") == "1" then
      local made, unavailable = 0, 0
      for _, e in ipairs(creates) do
        if e.status == 201 and not e.idempotentReplay then made = made + 1 end
        if e.status == 503 then unavailable = unavailable + 1 end
      end
      assert.are.equal(N, made)
      assert.are.equal(#creates, made + unavailable)
    else
      assert.are.equal(N, #creates)
    end
    -- the bound, checked at the server: never more than max_connections serving requests at
    -- once (busyPeak). Open sockets (apiPeak) are reported too: each upload runs on a fresh
    -- connection that is closed afterwards, and the server counts a socket the client already
    -- closed until it reads the close, so that view can briefly show one more.
    assert.is_true(conns.busyPeak <= MAX_CONNECTIONS, "peak " .. conns.busyPeak .. " busy connections")
    assert.is_true(conns.busyPeak >= 2, "the run should use more than one connection")
    local ratio = seq_estimate / seconds
    io.stderr:write(string.format(
      "\nworkflow_concurrency: %d cases in %.1f s concurrent (max_connections %d, peak at server %d busy, " ..
      "%d open); " ..
      "one at a time %d cases in %.1f s -> %.1f s for %d (estimate); ratio %.1fx; peak RSS %.1f MB; recoveries %s\n",
      N, seconds, MAX_CONNECTIONS, conns.busyPeak, conns.apiPeak, SAMPLE, seq_seconds, seq_estimate, N, ratio,
      (report.peak_rss_kb or 0) / 1024, cjson.encode(report.recoveries or {})))
    -- one at a time no longer waits on payers either (a case waiting holds no slot), so the
    -- gain is what 16 connections give over one, less the commits both pay for
    assert.is_true(ratio > 1, string.format("concurrent %.1f s vs one-at-a-time estimate %.1f s", seconds,
      seq_estimate))
    -- 64 MB; x3 under ASan/UBSan (shadow memory, redzones, quarantine: docs/testing.md)
    local rss_budget_kb = 64 * 1024 * (os.getenv("COLLATE_SANITIZED") and 3 or 1)
    assert.is_true(not report.peak_rss_kb or report.peak_rss_kb < rss_budget_kb,
      "peak RSS " .. tostring(report.peak_rss_kb) .. " kB (budget " .. rss_budget_kb .. " kB)")
  end)
end)
