-- scripts/ops: --help, usage errors, and submit-batch -> status -> drive -> submit-batch (resume)
-- against the sandbox.
local fs = require "support.fs"
local cjson = require "cjson"
local sandbox = require "support.sandbox"

local RUN = os.getenv("COLLATE_RUN_BIN") or "build/bin/collate-run"
local SOURCE = os.getenv("COLLATE_SOURCE_DIR") or "."
local CASES = SOURCE .. "/scripts/examples/cases.csv"
local SPEED = 1000

local q = fs.quote

-- run(script, args, env) -> stdout, exit code
local function run(script, args, env)
  local p = io.popen((env or "") .. " " .. q(RUN) .. " " .. q(SOURCE .. "/scripts/ops/" .. script) .. " " ..
    (args or "") .. " 2>/dev/null; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  return out:gsub("exit=%d+%s*$", ""), code
end

local function json_lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = cjson.decode(line) end
  return out
end

describe("scripts/ops", function()
  it("each has --help and refuses unknown options", function()
    for _, script in ipairs({ "submit-batch", "status", "drive" }) do
      local out, code = run(script, "--help")
      assert.are.equal(0, code, script)
      assert.matches("^usage: collate%-run scripts/ops/" .. script:gsub("%-", "%%-"), out)
      assert.matches("COLLATE_API_KEY", out)
      local _, bad = run(script, "--no-such-option")
      assert.are.equal(2, bad, script)
    end
    local _, code = run("submit-batch", "")
    assert.are.equal(2, code)
  end)

  describe("against the sandbox", function()
    local sb, env, journal

    setup(function()
      sb = sandbox.start{ args = { "--clock-speed", tostring(SPEED), "--log-level", "quiet" } }
      env = "COLLATE_BASE_URL=" .. q(sb.url) .. " COLLATE_API_KEY=" .. q(sb.key) ..
            " COLLATE_SANDBOX_CLOCK_SPEED=" .. SPEED
      journal = os.tmpname()
      os.remove(journal)
    end)
    teardown(function()
      if sb then sb:stop() end
      os.remove(journal)
    end)

    it("submits, reports, drives the waiting cases and resumes the rest", function()
      -- no documents, no approvals, no handoffs: some cases stop and wait on the caller
      local out, code = run("submit-batch", q(CASES) .. " --journal " .. q(journal) .. " --document none --json", env)
      assert.are.equal(0, code, out)
      local first = cjson.decode(out)
      assert.are.equal(11, first.total)
      assert.are.equal(6, first.by_status.requires_action)

      local lines = json_lines((run("status", "--json", env)))
      assert.are.equal(6, #lines)
      local waiting = {}
      for _, l in ipairs(lines) do
        assert.are.equal("requires_action", l.status)
        waiting[l.externalCaseId] = l.waitingFor
      end
      assert.are.equal("approve_submission", waiting["case-0011"])
      assert.are.equal("resolve_requirements", waiting["case-0001"])
      local tbl = run("status", "", env)
      assert.matches("6 authorizations: requires_action 6", tbl)
      assert.matches("case%-0007%s+requires_action%s+resolve_requirements", tbl)

      -- drive acts on each and leaves it once Collate or the payer owns the next step
      out, code = run("drive", "--cases " .. q(CASES) .. " --approve-submissions --handoff --json", env)
      assert.are.equal(0, code, out)
      local driven = json_lines(out)
      assert.are.equal(6, #driven)
      for _, d in ipairs(driven) do
        assert.is_nil(d.error)
        assert.is_true(d.status ~= "requires_action" or d.now ~= d.was, d.externalCaseId .. " did not move")
      end

      -- the batch again: every case resumes from the journal and ends
      out, code = run("submit-batch", q(CASES) .. " --journal " .. q(journal) ..
        " --approve-submissions --handoff --json", env)
      assert.are.equal(0, code, out)
      local final = cjson.decode(out)
      assert.are.same({ ["completed:approved"] = 7, ["completed:denied"] = 1, ["completed:failed"] = 1,
                        ["completed:modified"] = 1, ["completed:not_required"] = 1 }, final.by_status)
      local creates = sb:control("GET", "/_sandbox/requests?method=POST&path=/v1/prior-authorizations").json.data
      assert.are.equal(11, #creates) -- nothing created twice
      assert.matches("0 authorizations", (run("status", "", env)))
      assert.are.equal(11, #json_lines((run("status", "--all --json", env))))
    end)

    it("a case the API refuses is reported failed (exit 1), journaled with its error, and never duplicated", function()
      local csv = os.tmpname()
      local f = assert(io.open(csv, "wb"))
      f:write("case_id,provider_npi,payer_id,coverage_state,request_type,code_system,code,final_submission\n",
              "bad-1,1304567898,payer_aetna,CA,drug,hcpcs,J0791,requires_approval\n",
              "good-1,1234567893,payer_uhc,CA,drug,hcpcs,J0791,automatic\n")
      f:close()
      local j = csv .. ".journal"
      for _ = 1, 2 do
        local out, code = run("submit-batch", q(csv) .. " --journal " .. q(j) .. " --document none --json", env)
        assert.are.equal(1, code, out)
        local report = cjson.decode(out)
        assert.are.equal(1, report.failed)
        assert.are.equal(1, report.by_status.failed)
      end
      local text = assert(io.open(j)):read("*a")
      assert.matches('"error":"collate: 404 provider_not_found', text, 1, true)
      local creates = sb:control("GET", "/_sandbox/requests?method=POST&path=/v1/prior-authorizations").json.data
      local good = 0
      for _, e in ipairs(creates) do
        if e.body.metadata.externalCaseId == "good-1" and e.status == 201 and not e.idempotentReplay then
          good = good + 1
        end
      end
      assert.are.equal(1, good)
      os.remove(csv)
      os.remove(j)
    end)
  end)
end)
