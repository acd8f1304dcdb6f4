-- scripts/ops against the sandbox: --help and usage errors; submit-batch without rules leaves
-- the decisions to people (status --needs-me, approve, handoff, each recorded with the
-- operator), advance finishes the rest; CSV columns by linkId; failures not retried unless
-- asked; a store refuses a second environment.
local fs = require "support.fs"
local cjson = require "cjson"
local sandbox = require "support.sandbox"

local RUN = os.getenv("COLLATE_RUN_BIN") or "build/bin/collate-run"
local SOURCE = os.getenv("COLLATE_SOURCE_DIR") or "."
local CASES = SOURCE .. "/scripts/examples/cases.csv"
local PDF = SOURCE .. "/scripts/examples/clinical-note.pdf"
local SPEED = 1000

local q = fs.quote

-- run(script, args, env) -> stdout, exit code, stderr
local function run(script, args, env)
  local err = os.tmpname()
  local p = io.popen((env or "") .. " " .. q(RUN) .. " " .. q(SOURCE .. "/scripts/ops/" .. script) .. " " ..
    (args or "") .. " 2>" .. q(err) .. "; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  local stderr = fs.read_file(err) or ""
  os.remove(err)
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  return (out:gsub("exit=%d+%s*$", "")), code, stderr
end

local function json_lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = cjson.decode(line) end
  return out
end

local function creates(sb)
  return sb:control("GET", "/_sandbox/requests?method=POST&path=/v1/prior-authorizations").json.data
end

describe("scripts/ops", function()
  it("each has --help and refuses unknown options", function()
    for _, script in ipairs({ "submit-batch", "advance", "status", "approve", "handoff", "report" }) do
      local out, code = run(script, "--help")
      assert.are.equal(0, code, script)
      assert.matches("^usage: collate%-run scripts/ops/" .. script:gsub("%-", "%%-"), out)
      assert.matches("COLLATE_STORE", out)
      local _, bad = run(script, "--no-such-option")
      assert.are.equal(2, bad, script)
    end
    local _, code = run("submit-batch", "")
    assert.are.equal(2, code)
  end)

  it("the README's submit-batch resumes after Ctrl-C; a store of a gone embedded sandbox says so", function()
    local dir = fs.temp_dir()
    local store = " --store " .. q("sqlite:" .. dir .. "/readme.db")
    local rules = " --rules " .. q(SOURCE .. "/scripts/examples/rules.lua")
    local function embedded(state, args, signal_after)
      local cmd = q(RUN) .. " --sandbox " .. (state and ("--sandbox-state " .. q(dir .. "/sandbox.state")
        .. " ") or "") ..
        q(SOURCE .. "/scripts/ops/submit-batch") .. " " .. q(CASES) .. store .. rules .. " " .. args
      if signal_after then cmd = "timeout -s INT " .. signal_after .. " " .. cmd end
      local p = io.popen(cmd .. " 2>" .. q(dir .. "/err") .. "; echo \"exit=$?\"")
      local out = p:read("a")
      p:close()
      return out, tonumber(out:match("exit=(%d+)%s*$")), fs.read_file(dir .. "/err") or ""
    end
    -- Ctrl-C while the cases are on their way (a clean stop: SIGINT, as a terminal sends it)
    local _, code = embedded(true, "--wait 60 --quiet", "0.8")
    assert.are.equal(124, code) -- timeout's status: the run was interrupted
    local out, code2, err = embedded(true, "--wait 60 --quiet --json")
    assert.are.equal(0, code2, out .. err)
    assert.matches("0 new cases, 11 already in the store", err)
    local lines = json_lines((out:gsub("exit=%d+%s*$", "")))
    assert.are.same({ ["completed:approved"] = 7, ["completed:denied"] = 1, ["completed:failed"] = 1,
                      ["completed:modified"] = 1, ["completed:not_required"] = 1 }, lines[#lines].by_status)
    -- one authorization per case: no case was created anew in the second run
    local rows = json_lines((run("status", store .. " --json", "")))
    local ids = {}
    for i = 1, #rows - 1 do
      assert.is_nil(ids[rows[i].authorization_id], "two cases share " .. tostring(rows[i].authorization_id))
      ids[rows[i].authorization_id] = true
    end
    assert.are.equal(11, #rows - 1)
    -- without the state file every collate-run --sandbox is a new sandbox: that store is refused
    local other = " --store " .. q("sqlite:" .. dir .. "/gone.db")
    store = other
    embedded(false, "--quiet")
    local _, code3, err3 = embedded(false, "--quiet")
    assert.are.equal(1, code3)
    assert.matches("earlier collate%-run %-%-sandbox", err3)
    assert.matches("is gone", err3)
    os.execute("rm -rf " .. q(dir))
  end)

  describe("against the sandbox", function()
    local sb, env, dir

    setup(function()
      sb = sandbox.start{ args = { "--clock-speed", tostring(SPEED), "--log-level", "quiet" } }
      dir = fs.temp_dir()
      env = "COLLATE_BASE_URL=" .. q(sb.url) .. " COLLATE_API_KEY=" .. q(sb.key) ..
            " COLLATE_SANDBOX_CLOCK_SPEED=" .. SPEED .. " COLLATE_STORE=" .. q("sqlite:" .. dir .. "/cases.db") ..
            " USER=tester"
    end)
    teardown(function()
      if sb then sb:stop() end
      if dir then os.execute("rm -rf " .. q(dir)) end
    end)

    it("leaves decisions to people, records who made them, and advance finishes the rest", function()
      local out, code, err = run("submit-batch", q(CASES) .. " --document " .. q(PDF) .. " --wait 3 --json", env)
      assert.are.equal(0, code, out .. err)
      local summary = json_lines(out)
      local counts = summary[#summary].by_status
      assert.are.equal(6, counts["needs a person"], out)
      assert.are.equal(11, #creates(sb))

      -- who waits for what, from the store alone
      local needs = run("status", "--needs-me", env)
      assert.matches("case%-0011%s+payer_aetna%s+person:approve_submission%s+snapshot rev_", needs)
      assert.matches("case%-0007%s+payer_kaiser%s+person:complete_payer_interaction" ..
        ".-portal Kaiser Permanente CA outpatient", needs)
      assert.matches("6 cases wait on a person", needs)
      local lines = json_lines((run("status", "--needs-me --json", env)))
      assert.are.equal(7, #lines) -- six cases and the counts
      assert.are.equal("approve_submission", lines[1].person.action)

      -- --dry-run sends nothing and changes nothing
      local before = #sb:control("GET", "/_sandbox/requests").json.data
      out, code = run("approve", "case-0011 --operator alice --dry-run", env)
      assert.are.equal(0, code, out)
      assert.matches("would re%-read case%-0011", out)
      out, code = run("advance", "--approve-submissions --handoff --dry-run", env)
      assert.are.equal(0, code, out)
      assert.are.equal(before, #sb:control("GET", "/_sandbox/requests").json.data)

      -- a person approves one case and works one handoff
      out, code, err = run("approve", "case-0011 --operator alice", env)
      assert.are.equal(0, code, out .. err)
      assert.matches("case%-0011 approved by operator:alice", out)
      out, code, err = run("handoff", "case-0007 --outcome submitted", env)
      assert.are.equal(0, code, out .. err)
      assert.matches("by operator:tester", out) -- $USER
      out, code = run("handoff", "case-0011 --outcome submitted", env)
      assert.are.equal(1, code, out) -- not waiting for a handoff

      -- the rest by rules; everything ends, nothing created twice
      out, code, err = run("advance", "--approve-submissions --handoff --document " .. q(PDF)
        .. " --wait 30 --json", env)
      assert.are.equal(0, code, out .. err)
      summary = json_lines(out)
      assert.are.same({ ["completed:approved"] = 7, ["completed:denied"] = 1, ["completed:failed"] = 1,
                        ["completed:modified"] = 1, ["completed:not_required"] = 1 }, summary[#summary].by_status)
      assert.are.equal(11, #creates(sb))

      -- the events say who did what
      local events = run("status", "--case case-0011", env)
      assert.matches("operator:alice%s+approved", events)
      assert.matches("rules%s+created", events)
      assert.matches("api%s+observed", events)
      local tbl = run("status", "", env)
      assert.matches("11 cases: completed:approved 7", tbl)
      assert.matches("payer_kaiser%s+1%s+0%s+1%s+0", tbl)
    end)

    it("maps CSV columns to linkIds by header and names a column it does not know", function()
      local csv = dir .. "/linkids.csv"
      fs.write_file(csv, table.concat({
        "case_id,provider_npi,payer_id,coverage_state,request_type,code_system,code,final_submission," ..
          "answer:patient.firstName,answer:patient.lastName,answer:patient.dateOfBirth,answer:coverage.memberId," ..
          "answer:diagnoses.code,answer:diagnoses.qualifierCode,answer:service.startDate,answer:service.units," ..
          "answer:clinical.priorTherapyTried,colour",
        "link-1,1234567893,payer_uhc,CA,drug,hcpcs,J0791,automatic,Ana,Lima,1985-02-03,LINK-0001,D57.00,ABF," ..
          "2026-07-01,12,true,blue", "" }, "\n"))
      local store = " --store " .. q("sqlite:" .. dir .. "/links.db")
      local out, code, err = run("submit-batch", q(csv) .. store .. " --wait 30 --json", env)
      assert.are.equal(0, code, out .. err)
      assert.matches("warning: .-column colour is not known", err)
      local summary = json_lines(out)
      assert.are.equal(1, summary[#summary].by_status["completed:approved"], out)
      local sent
      for _, e in ipairs(sb:control("GET", "/_sandbox/requests?method=PATCH").json.data) do sent = e end
      assert.is_truthy(sent, "the answers were patched")
    end)

    it("does not retry a case that cannot succeed unless asked", function()
      local csv = dir .. "/bad.csv"
      fs.write_file(csv,
        "case_id,provider_npi,payer_id,coverage_state,request_type,code_system,code,final_submission\n" ..
        "bad-1,1304567898,payer_aetna,CA,drug,hcpcs,J0791,requires_approval\n")
      local store = " --store " .. q("sqlite:" .. dir .. "/bad.db")
      local function bad_creates()
        local n = 0
        for _, e in ipairs(creates(sb)) do if e.body.metadata.externalCaseId == "bad-1" then n = n + 1 end end
        return n
      end
      local out, code = run("submit-batch", q(csv) .. store .. " --json", env)
      assert.are.equal(1, code, out)
      assert.are.equal(1, bad_creates())
      out = run("status", store .. " --json", env)
      local rows = json_lines(out)
      assert.are.equal("failed", rows[1].status)
      assert.matches("provider_not_found", rows[1].last_error)
      -- again: failed stays failed, no request
      local _, again = run("advance", store, env)
      assert.are.equal(0, again)
      assert.are.equal(1, bad_creates())
      _, code = run("advance", store .. " --retry-failed", env)
      assert.are.equal(1, code)
      assert.are.equal(2, bad_creates())
    end)

    it("refuses a store that belongs to another environment, naming it", function()
      local other = sandbox.start{ args = { "--log-level", "quiet" } }
      local env2 = "COLLATE_BASE_URL=" .. q(other.url) .. " COLLATE_API_KEY=" .. q(other.key) ..
        " COLLATE_STORE=" .. q("sqlite:" .. dir .. "/cases.db")
      local out, code, err = run("advance", "", env2)
      other:stop()
      assert.are.equal(1, code, out)
      assert.matches("belongs to environment " .. sb.url:gsub("%p", "%%%0"), err)
      local none = run("status", "", "COLLATE_STORE=" .. q("sqlite:" .. dir .. "/cases.db"))
      assert.matches("11 cases", none) -- reading needs no API key
    end)
  end)
end)
