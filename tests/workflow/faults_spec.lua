-- A bulk run through injected faults: responses lost after the server processed the request
-- (reset after), 503s and 429s, on every kind of call a case makes. Every case still reaches its
-- outcome, none is created twice, and the lost writes show up as version_conflict recoveries.
local fs = require "support.fs"
local cjson = require "cjson"
local cases = require "workflow.cases"

local N = 110 -- ten of each row of scripts/examples/cases.csv
local SPEED = 1000
local RUN = os.getenv("COLLATE_RUN_BIN") or "build/bin/collate-run"
local SOURCE = os.getenv("COLLATE_SOURCE_DIR") or "."

local q = fs.quote

describe("a bulk run under faults", function()
  local fixture = cases.fast_sandbox(SPEED)
  setup(fixture.start)
  teardown(fixture.stop)

  it("finishes every case once, recovering lost writes by re-reading", function()
    local sb, dir = fixture.sb, fixture.dir
    local csv_path = dir .. "/cases.csv"
    local _, expected = cases.write(csv_path, N)
    local A = "/v1/prior-authorizations/*"
    local rules = {
      { method = "POST", path = "/v1/prior-authorizations", kind = "reset", when = "after", times = 8 },
      { method = "POST", path = A .. "/confirm", kind = "reset", when = "after", times = 12 },
      { method = "PATCH", path = A .. "/answers", kind = "reset", when = "after", times = 6 },
      { method = "POST", path = A .. "/attachments", kind = "reset", when = "after", times = 6 },
      { method = "POST", path = A .. "/manual-handoffs", kind = "reset", when = "after", times = 3 },
      { method = "PUT", path = "/_uploads/*", kind = "reset", when = "after", times = 4 },
      { method = "GET", path = A, kind = "status", status = 503, times = 20 },
      { method = "POST", path = "/v1/files", kind = "status", status = 429, retryAfter = 0, times = 5 },
    }
    assert.are.equal(200, sb:control("POST", "/_sandbox/faults", { rules = rules }).status)

    local cmd = table.concat({
      "COLLATE_BASE_URL=" .. q(sb.url), "COLLATE_API_KEY=" .. q(sb.key),
      q(RUN), q(SOURCE .. "/scripts/ops/submit-batch"), q(csv_path), "--store", q("sqlite:" .. dir .. "/j"),
      "--approve-submissions", "--handoff", "--document", q(SOURCE .. "/scripts/examples/clinical-note.pdf"),
      "--wait", "600", "--time-scale", tostring(SPEED), "--concurrency", tostring(N),
      "--json", "2>" .. q(dir .. "/err"),
    }, " ")
    local p = io.popen(cmd)
    local out = p:read("*a")
    p:close()
    local report = cjson.decode(out:match("(%b{})%s*$") or error("no report: " .. out .. "\n"
      .. (io.open(dir .. "/err"):read("a"))))
    local errors = {}
    for line in io.lines(dir .. "/j") do
      local e = line:match('"error":"([^"]+)"')
      if e then errors[#errors + 1] = e end
    end
    assert.are.equal(0, report.failed, table.concat(errors, "\n"))
    assert.are.same(expected, report.by_status)

    -- every rule was used up: the faults really happened
    local live = sb:control("GET", "/_sandbox/faults").json.rules
    assert.are.equal(0, #live)

    -- one authorization per case, whatever was lost in transit
    local creates = sb:control("GET", "/_sandbox/requests?method=POST&path=/v1/prior-authorizations").json.data
    local made = {}
    for _, e in ipairs(creates) do
      if e.status == 201 and not e.idempotentReplay then
        local case = e.body.metadata.externalCaseId
        made[case] = (made[case] or 0) + 1
        assert.are.equal(1, made[case], case .. " created twice")
      end
    end
    -- at most one accepted confirm per confirmable step: a lost confirm was never repeated blindly
    local confirms = sb:control("GET", "/_sandbox/requests?method=POST&path=" .. A .. "/confirm").json.data
    local conflicts = 0
    for _, e in ipairs(confirms) do
      if e.status == 409 then conflicts = conflicts + 1 end
    end
    assert.is_true(conflicts >= 12, "each lost confirm is retried into a version_conflict: " .. conflicts)
    -- each lost confirm came back to drive as a version_conflict it recovered from by re-reading
    assert.is_true((report.recoveries.version_conflict or 0) >= 12, "recoveries: " .. cjson.encode(report.recoveries))
    io.stderr:write("\nworkflow_faults: ", N, " cases through ", #rules, " fault rules; ", #creates,
      " create requests, ", conflicts, " confirm conflicts; drive recoveries ", cjson.encode(report.recoveries), "\n")
  end)
end)
