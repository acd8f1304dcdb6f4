-- Crash safety of the store: runs SIGKILLed at random moments, again and again, then one more
-- run: every case created once (the sandbox's request log), none lost, all finished. A power
-- loss: the store copied while the creates are in flight (the keys committed, the creates sent,
-- no answer kept), the process killed, the copy put back: the re-run replays, never duplicates.
-- An older run's journal is imported with its keys.
local fs = require "support.fs"
local cjson = require "cjson"
local cases = require "workflow.cases"

local N = tonumber(os.getenv("COLLATE_CRASH_CASES")) or 110
local KILLS = tonumber(os.getenv("COLLATE_CRASH_KILLS")) or 30
local SPEED = 1000
local KILL_SPEED = 100
local RUN = os.getenv("COLLATE_RUN_BIN") or "build/bin/collate-run"
local SOURCE = os.getenv("COLLATE_SOURCE_DIR") or "."
local RULES = SOURCE .. "/scripts/examples/rules.lua"

local q = fs.quote

-- alive and not a zombie (a killed process whose parent has not reaped it yet is gone for us)
local function alive(pid)
  local stat = fs.read_file("/proc/" .. pid .. "/stat")
  return stat ~= nil and stat:match("^%d+ %b() (%a)") ~= "Z"
end

local function creates(sb)
  return sb:control("GET", "/_sandbox/requests?method=POST&path=/v1/prior-authorizations").json.data
end

-- per case: non-replayed 201s, and the idempotency keys sent
local function created_once(sb, n)
  local made, keys = {}, {}
  for _, e in ipairs(creates(sb)) do
    local case = e.body and e.body.metadata and e.body.metadata.externalCaseId
    assert.is_truthy(case)
    keys[case] = keys[case] or {}
    keys[case][e.headers["idempotency-key"]] = true
    if e.status == 201 and not e.idempotentReplay then made[case] = (made[case] or 0) + 1 end
  end
  local count = 0
  for case, k in pairs(made) do
    count = count + 1
    assert.are.equal(1, k, case .. " created " .. k .. " times")
  end
  for case, ks in pairs(keys) do
    local k = 0
    for _ in pairs(ks) do k = k + 1 end
    assert.are.equal(1, k, case .. " was sent with " .. k .. " idempotency keys")
  end
  assert.are.equal(n, count)
end

describe("the store under crashes", function()
  local fixture = cases.fast_sandbox(SPEED)
  setup(fixture.start)
  teardown(fixture.stop)

  local function command(sb, script, args, speed)
    return "COLLATE_BASE_URL=" .. q(sb.url) .. " COLLATE_API_KEY=" .. q(sb.key) .. " " .. q(RUN) .. " " ..
      q(SOURCE .. "/scripts/ops/" .. script) .. " " .. args .. " --rules " .. q(RULES) .. " --time-scale "
        .. (speed or SPEED) ..
      " --quiet --json"
  end

  local function start(cmd, out)
    local p = io.popen("sh -c " .. q("exec env " .. cmd .. " >" .. q(out) .. " 2>&1") .. " & echo $!")
    local pid = p:read("*l")
    p:close()
    return pid
  end

  local function kill(pid)
    os.execute("kill -9 " .. pid .. " 2>/dev/null")
    for _ = 1, 200 do
      if not alive(pid) then return end
      os.execute("sleep 0.01")
    end
    error("process " .. pid .. " survived SIGKILL")
  end

  it(KILLS .. " SIGKILLs at random moments: every case created once, none lost, all finished", function()
    local sb, dir = fixture.sb, fixture.dir
    -- a slower clock, so that the cases' work spans the kills
    assert.are.equal(200, sb:reset{ mode = "realtime", speed = KILL_SPEED }.status)
    local csv_path = dir .. "/cases.csv"
    local _, expected = cases.write(csv_path, N)
    local t0 = os.time()
    local store = "--store " .. q("sqlite:" .. dir .. "/crash.db")
    math.randomseed(tonumber(os.getenv("COLLATE_CRASH_SEED")) or os.time())
    local killed, ended = 0, 0
    for _ = 1, KILLS do
      -- the same command again and again, as after a crash: the import keeps what is there
      local script, args = "submit-batch", q(csv_path) .. " " .. store .. " --wait 30"
      local pid = start(command(sb, script, args, KILL_SPEED), dir .. "/run.out")
      os.execute(string.format("sleep %.3f", 0.05 + math.random() * 0.4))
      if alive(pid) then
        kill(pid)
        killed = killed + 1
      else
        ended = ended + 1
      end
    end
    -- one last run, left to finish
    local last_started = os.time()
    local kills_seconds = os.time() - t0
    local p = io.popen(command(sb, "advance", store .. " --wait 60", KILL_SPEED) .. " 2>" .. q(dir .. "/last.err"))
    local out = p:read("a")
    assert.is_true(p:close(), "last run failed: " .. out .. (fs.read_file(dir .. "/last.err") or ""))
    local last_seconds = os.time() - last_started
    local summary = cjson.decode(out:match("(%b{})%s*$"))
    assert.are.same(expected, summary.by_status)
    assert.are.equal(N, summary.total)
    created_once(sb, N)
    local replays = 0
    for _, e in ipairs(creates(sb)) do if e.idempotentReplay then replays = replays + 1 end end
    io.stderr:write(string.format(
      "\nworkflow_crash: %d runs SIGKILLed in %d s (%d ended before their kill), then one to " ..
      "the end (%d s): %d cases each created once; %d creates sent, %d of them replays of a kept key\n",
      killed, kills_seconds, ended, last_seconds, N, #creates(sb), replays))
    assert.is_true(killed >= KILLS / 2, "only " .. killed .. " of " .. KILLS .. " runs were killed mid-way")
  end)

  it("a power loss between the keys' commit and the creates never duplicates a case", function()
    local sb, dir = fixture.sb, fixture.dir
    assert.are.equal(200, sb:reset{ mode = "realtime", speed = SPEED }.status)
    local csv_path = dir .. "/power.csv"
    local n = 20
    cases.write(csv_path, n)
    local db = dir .. "/power.db"
    local store = "--store " .. q("sqlite:" .. db)
    -- every create is processed by the server (and recorded for its key) but its answer is lost:
    -- the run keeps its keys (committed at import) and never learns an authorization ID
    assert.are.equal(200, sb:control("POST", "/_sandbox/faults", { rules = { { method = "POST",
      path = "/v1/prior-authorizations", kind = "reset", when = "after", times = 100000 } } }).status)
    local pid = start(command(sb, "submit-batch", q(csv_path) .. " " .. store .. " --concurrency 64 " ..
      "--max-connections 64"), dir .. "/p.out")
    local made = 0
    for _ = 1, 200 do
      os.execute("sleep 0.05")
      made = 0
      for _, e in ipairs(creates(sb)) do if e.status == 201 and not e.idempotentReplay then made = made + 1 end end
      if made == n then break end
    end
    assert.are.equal(n, made, "the server created " .. made .. " of " .. n)
    -- the disk at that moment, then the power goes
    assert.is_true(fs.sh("cp " .. q(db) .. " " .. q(dir .. "/saved-db") .. " && cp " .. q(db .. "-wal") .. " " ..
      q(dir .. "/saved-wal")))
    kill(pid)
    -- power back: the disk has what was copied
    assert.is_true(fs.sh("rm -f " .. q(db) .. "* && cp " .. q(dir .. "/saved-db") .. " " .. q(db) .. " && cp " ..
      q(dir .. "/saved-wal") .. " " .. q(db .. "-wal")))
    assert.are.equal(200, sb:control("DELETE", "/_sandbox/faults").status)
    local p = io.popen(command(sb, "advance", store .. " --wait 30") .. " 2>/dev/null")
    local out = p:read("a")
    assert.is_true(p:close(), out)
    local summary = cjson.decode(out:match("(%b{})%s*$"))
    local done = 0
    for status, k in pairs(summary.by_status) do if status:match("^completed") then done = done + k end end
    assert.are.equal(n, done)
    created_once(sb, n)
    local replays = 0
    for _, e in ipairs(creates(sb)) do if e.idempotentReplay then replays = replays + 1 end end
    assert.is_true(replays >= n, replays .. " replays") -- every create sent again with its key: replayed
  end)

  it("imports an older run's journal: a case journaled with its key is created with that key again", function()
    local sb, dir = fixture.sb, fixture.dir
    assert.are.equal(200, sb:reset{ mode = "realtime", speed = SPEED }.status)
    local rows = cases.write(dir .. "/one.csv", 2)
    local row = rows[2]
    local key = "k-" .. tostring(os.time()) .. "-journal"
    local created = sb:request("POST", "/v1/prior-authorizations", {
      providerNpi = row.provider_npi,
      request = { payerId = row.payer_id, coverageState = row.coverage_state, requestType = row.request_type,
                  serviceCode = { system = row.code_system, code = row.code } },
      policy = { finalSubmission = row.final_submission },
      answers = { item = {
        { linkId = "coverage.memberId", answer = { { valueString = row.member_id } } },
        { linkId = "patient.dateOfBirth", answer = { { valueDate = row.date_of_birth } } },
        { linkId = "patient.firstName", answer = { { valueString = row.first_name } } },
        { linkId = "patient.lastName", answer = { { valueString = row.last_name } } } } },
      metadata = { externalCaseId = row.case_id },
    }, { ["Idempotency-Key"] = key })
    assert.are.equal(201, created.status)
    local journal = dir .. "/one.journal"
    fs.write_file(journal, cjson.encode({ case = row.case_id, key = key, status = "pending" }) .. "\n" ..
      '{"case":"' .. rows[1].case_id .. '","key":"torn') -- a torn last line, as SIGKILL leaves it
    local p = io.popen(command(sb, "submit-batch", q(dir .. "/one.csv") .. " --store " ..
      q("sqlite:" .. dir .. "/one.db") .. " --journal " .. q(journal) .. " --wait 30") .. " 2>/dev/null")
    local out = p:read("a")
    assert.is_true(p:close(), out)
    local summary = cjson.decode(out:match("(%b{})%s*$"))
    assert.are.same({ ["completed:approved"] = 2 }, summary.by_status)
    local second = {}
    for _, e in ipairs(creates(sb)) do
      if e.body.metadata.externalCaseId == row.case_id then second[#second + 1] = e end
    end
    assert.are.equal(2, #second)
    assert.are.equal(key, second[2].headers["idempotency-key"])
    assert.is_true(second[2].idempotentReplay)
  end)
end)
