-- A bulk run killed half-way (SIGKILL) and run again: the sandbox's request log proves that no
-- case was created twice and that every case finished.
local fs = require "support.fs"
local cjson = require "cjson"
local cases = require "workflow.cases"

local N = 200
local SPEED = 300
local RUN = os.getenv("COLLATE_RUN_BIN") or "build/bin/collate-run"
local SOURCE = os.getenv("COLLATE_SOURCE_DIR") or "."

local q = fs.quote

local function read(path)
  return fs.read_file(path) or ""
end

local alive = fs.alive

describe("a bulk run killed half-way", function()
  local fixture = cases.fast_sandbox(SPEED)
  setup(fixture.start)
  teardown(fixture.stop)

  it("resumes on re-run: no case created twice, every case finished", function()
    local sb, dir = fixture.sb, fixture.dir
    local csv_path, journal = dir .. "/cases.csv", dir .. "/cases.journal"
    local _, expected = cases.write(csv_path, N)
    local args = table.concat({ q(RUN), q(SOURCE .. "/scripts/ops/submit-batch"), q(csv_path),
      "--journal", q(journal), "--approve-submissions", "--handoff", "--time-scale", tostring(SPEED),
      "--concurrency", "50", "--json" }, " ")
    local env = "COLLATE_BASE_URL=" .. q(sb.url) .. " COLLATE_API_KEY=" .. q(sb.key) .. " "

    -- first run, in the background; SIGKILL once about half the cases have an authorization
    local p = io.popen("sh -c " .. q(env .. "exec " .. args .. " >" .. q(dir .. "/run1.out") ..
      " 2>" .. q(dir .. "/run1.err") .. " & echo $!"))
    local pid = p:read("*l")
    p:close()
    local function created_cases()
      local seen, n = {}, 0
      for line in read(journal):gmatch("[^\n]+") do
        local case = line:find('"auth":"', 1, true) and line:match('"case":"([^"]+)"')
        if case and not seen[case] then seen[case], n = true, n + 1 end
      end
      return n
    end
    for _ = 1, 600 do
      if created_cases() >= N / 2 then break end
      if not alive(pid) then break end
      os.execute("sleep 0.02")
    end
    assert.is_true(alive(pid), "the first run ended before it could be killed")
    assert.is_true(os.execute("kill -9 " .. pid))
    for _ = 1, 100 do if not alive(pid) then break end os.execute("sleep 0.02") end
    assert.is_false(alive(pid))

    local first = sb:control("GET", "/_sandbox/requests?method=POST&path=/v1/prior-authorizations").json.data
    assert.is_true(#first < N, "killed half-way: " .. #first .. " creates before the kill")
    local finished_before = select(2, read(journal):gsub('"final":true', ""))

    -- second run: resumes from the journal
    local out = io.popen(env .. args .. " 2>" .. q(dir .. "/run2.err"))
    local text = out:read("*a")
    assert.is_true(out:close(), "second run failed: " .. text .. read(dir .. "/run2.err"))
    local report = cjson.decode(text:match("(%b{})%s*$"))
    assert.are.equal(0, report.failed)
    assert.are.same(expected, report.by_status)

    -- the request log: at most one non-replayed 201 per case, and exactly one in all
    local creates = sb:control("GET", "/_sandbox/requests?method=POST&path=/v1/prior-authorizations").json.data
    local made, keys, replays = {}, {}, 0
    for _, e in ipairs(creates) do
      local case = e.body and e.body.metadata and e.body.metadata.externalCaseId
      assert.is_truthy(case)
      keys[case] = keys[case] or {}
      keys[case][e.headers["idempotency-key"]] = true
      if e.idempotentReplay then replays = replays + 1 end
      if e.status == 201 and not e.idempotentReplay then made[case] = (made[case] or 0) + 1 end
    end
    local n_cases = 0
    for case, count in pairs(made) do
      n_cases = n_cases + 1
      assert.are.equal(1, count, case .. " created " .. count .. " times")
    end
    assert.are.equal(N, n_cases)
    for case, ks in pairs(keys) do
      local k = 0
      for _ in pairs(ks) do k = k + 1 end
      assert.are.equal(1, k, case .. " was sent with " .. k .. " idempotency keys")
    end
    -- and the API agrees: N authorizations, all terminal
    local listed, terminal = 0, 0
    local cursor
    repeat
      local path = "/v1/prior-authorizations?limit=100" .. (cursor and ("&cursor=" .. cursor) or "")
      local page = sb:request("GET", path).json
      for _, a in ipairs(page.data) do
        listed = listed + 1
        if a.status == "completed" then terminal = terminal + 1 end
      end
      cursor = page.pagination.nextCursor
    until cursor == nil or cursor == cjson.null
    assert.are.equal(N, listed)
    assert.are.equal(N, terminal)
    io.stderr:write(string.format("\nworkflow_resume: killed with %d of %d cases created (%d finished); " ..
      "re-run: %d creates sent in all, %d of them replays of a key the journal kept\n",
      #first, N, finished_before, #creates, replays))
  end)

  it("a case journaled with its key but no authorization is created with that key again: a replay", function()
    local sb, dir = fixture.sb, fixture.dir
    assert.are.equal(200, sb:reset{ mode = "realtime", speed = SPEED }.status)
    local rows = cases.write(dir .. "/one.csv", 2) -- quickstart_receipt, straight_approval
    local key = "k-" .. tostring(os.time()) .. "-resume"
    -- the crash window: the key reached the journal, the create reached the server, the ID never
    -- reached the journal
    local row = rows[2]
    local created = sb:request("POST", "/v1/prior-authorizations", {
      providerNpi = row.provider_npi,
      request = { payerId = row.payer_id, coverageState = row.coverage_state, requestType = row.request_type,
                  serviceCode = { system = row.code_system, code = row.code } },
      policy = { finalSubmission = row.final_submission },
      answers = { item = {
        { linkId = "patient.firstName", answer = { { valueString = row.first_name } } },
        { linkId = "patient.lastName", answer = { { valueString = row.last_name } } },
        { linkId = "patient.dateOfBirth", answer = { { valueDate = row.date_of_birth } } },
        { linkId = "coverage.memberId", answer = { { valueString = row.member_id } } } } },
      metadata = { externalCaseId = row.case_id },
    }, { ["Idempotency-Key"] = key })
    assert.are.equal(201, created.status)
    local journal = dir .. "/one.journal"
    local f = assert(io.open(journal, "wb"))
    f:write(cjson.encode({ case = row.case_id, key = key, status = "pending" }), "\n")
    f:write('{"case":"', rows[1].case_id, '","key":"torn') -- a torn last line, as SIGKILL leaves it
    f:close()
    local out = io.popen("COLLATE_BASE_URL=" .. q(sb.url) .. " COLLATE_API_KEY=" .. q(sb.key) .. " " ..
      table.concat({ q(RUN), q(SOURCE .. "/scripts/ops/submit-batch"), q(dir .. "/one.csv"), "--journal", q(journal),
        "--approve-submissions", "--time-scale", tostring(SPEED), "--json" }, " ") .. " 2>/dev/null")
    local report = cjson.decode(out:read("*a"):match("(%b{})%s*$"))
    out:close()
    assert.are.equal(0, report.failed)
    assert.are.same({ ["completed:approved"] = 2 }, report.by_status)
    local creates = sb:control("GET", "/_sandbox/requests?method=POST&path=/v1/prior-authorizations").json.data
    assert.are.equal(3, #creates) -- ours, the replay, and the torn case's first real create
    local second = {}
    for _, e in ipairs(creates) do
      if e.body.metadata.externalCaseId == row.case_id then second[#second + 1] = e end
    end
    assert.are.equal(2, #second)
    assert.are.equal(key, second[2].headers["idempotency-key"])
    assert.is_true(second[2].idempotentReplay)
    -- the journal is whole again: every line parses
    for line in read(journal):gmatch("[^\n]+") do
      if not line:find('"torn', 1, true) then assert.is_table(cjson.decode(line)) end
    end
  end)
end)
