-- Scale-out on PostgreSQL: a throwaway PostgreSQL 15 cluster (support.postgres), 1,000 cases
-- imported once, 4 `advance --watch` workers sharing the store; one is SIGKILLed mid-run. Every
-- case is created once (the sandbox's request log) and finished, the dead worker's leases are
-- taken over by the others once they run out, and the survivors stop cleanly on SIGTERM.
local fs = require "support.fs"
local cases = require "workflow.cases"
local postgres = require "support.postgres"
local store_mod = require "collate.ops.store"

local N = tonumber(os.getenv("COLLATE_SCALEOUT_CASES")) or 1000
local WORKERS = 4
local SPEED = 1000
local LEASE = 3
local RUN = os.getenv("COLLATE_RUN_BIN") or "build/bin/collate-run"
local SOURCE = os.getenv("COLLATE_SOURCE_DIR") or "."

local q = fs.quote

local function alive(pid)
  local stat = fs.read_file("/proc/" .. pid .. "/stat")
  return stat ~= nil and stat:match("^%d+ %b() (%a)") ~= "Z"
end

local function wait_gone(pid, seconds)
  for _ = 1, seconds * 50 do
    if not alive(pid) then return true end
    os.execute("sleep 0.02")
  end
  return false
end

local function hostname()
  local f = io.open("/proc/sys/kernel/hostname")
  local h = f:read("l")
  f:close()
  return h
end

describe("scale-out on PostgreSQL", function()
  if not postgres.available() then
    pending("PostgreSQL 15 is not installed: apt-get install postgresql-15")
    return
  end
  local fixture = cases.fast_sandbox(SPEED)
  local pg
  setup(function()
    fixture.start()
    pg = assert(postgres.start())
  end)
  teardown(function()
    if pg then pg:stop() end
    fixture.stop()
  end)

  it(WORKERS .. " workers on " .. N .. " cases, one killed mid-run: each case created once and finished", function()
    local sb, dir = fixture.sb, fixture.dir
    local url = pg:database("scaleout")
    local csv_path = dir .. "/cases.csv"
    local _, expected = cases.write(csv_path, N)
    local env = "COLLATE_BASE_URL=" .. q(sb.url) .. " COLLATE_API_KEY=" .. q(sb.key) .. " COLLATE_STORE=" .. q(url)
    local function script(name, args)
      return env .. " " .. q(RUN) .. " " .. q(SOURCE .. "/scripts/ops/" .. name) .. " " .. args
    end
    assert.is_true(fs.sh(script("submit-batch", q(csv_path) .. " --no-advance 2>/dev/null")))
    local started = os.time()
    local pids = {}
    for w = 1, WORKERS do
      local cmd = script("advance", "--watch --rules " .. q(SOURCE .. "/scripts/examples/rules.lua") ..
        " --time-scale " .. SPEED .. " --lease " .. LEASE .. " --concurrency 64 --max-connections 8 --quiet --json")
      local p = io.popen("sh -c " .. q("exec env " .. cmd .. " >" .. q(dir .. "/w" .. w .. ".out") .. " 2>&1") ..
        " & echo $!")
      pids[w] = p:read("l")
      p:close()
    end
    local s = store_mod.open(url)
    local function count(sql) return tonumber(s.db:first(sql).n) end
    -- kill worker 1 once a quarter of the cases have an authorization, while it holds leases
    local victim = pids[1]
    local owner_like = hostname() .. ":" .. victim .. ":%"
    local held = 0
    for _ = 1, 1500 do
      held = count("SELECT COUNT(*) AS n FROM cases WHERE lease_owner LIKE '" .. owner_like .. "'")
      if held > 0 and count("SELECT COUNT(*) AS n FROM cases WHERE auth_id IS NOT NULL") >= N / 4 then break end
      os.execute("sleep 0.02")
    end
    assert.is_true(held > 0, "worker 1 never held a lease")
    os.execute("kill -9 " .. victim)
    assert.is_true(wait_gone(victim, 5))
    local orphaned = {}
    for _, r in ipairs(s.db:query("SELECT id FROM cases WHERE lease_owner LIKE '" .. owner_like .. "'")) do
      orphaned[#orphaned + 1] = r.id
    end
    -- the others finish everything
    local open
    for _ = 1, 2500 do
      open = count("SELECT COUNT(*) AS n FROM cases WHERE status NOT IN ('completed', 'canceled', 'failed')")
      if open == 0 then break end
      os.execute("sleep 0.02")
    end
    local seconds = os.time() - started
    assert.are.equal(0, open, open .. " cases still open")
    for w = 2, WORKERS do os.execute("kill -TERM " .. pids[w]) end
    for w = 2, WORKERS do assert.is_true(wait_gone(pids[w], 10), "worker " .. w .. " did not stop on SIGTERM") end

    -- outcomes, and nothing left leased
    local by = {}
    for _, r in ipairs(s.db:query("SELECT status, outcome, COUNT(*) AS n FROM cases GROUP BY status, outcome")) do
      by[r.status == "completed" and ("completed:" .. r.outcome) or r.status] = tonumber(r.n)
    end
    assert.are.same(expected, by)
    assert.are.equal(0, count("SELECT COUNT(*) AS n FROM cases WHERE lease_owner IS NOT NULL"))
    -- the dead worker's cases were finished by the others
    for _, id in ipairs(orphaned) do assert.are.equal("completed", s:get(id).status) end
    s:close()
    -- the request log: one real create per case
    local made, n_made, total = {}, 0, 0
    for _, e in ipairs(sb:control("GET", "/_sandbox/requests?method=POST&path=/v1/prior-authorizations").json.data) do
      total = total + 1
      local case = e.body.metadata.externalCaseId
      if e.status == 201 and not e.idempotentReplay then made[case] = (made[case] or 0) + 1 end
    end
    for case, k in pairs(made) do
      n_made = n_made + 1
      assert.are.equal(1, k, case .. " created " .. k .. " times")
    end
    assert.are.equal(N, n_made)
    io.stderr:write(string.format("\nworkflow_scaleout: %d cases, %d workers on PostgreSQL, worker 1 killed holding " ..
      "%d leases, taken over after %d s; all finished in %d s; %d creates sent for %d cases\n",
      N, WORKERS, #orphaned, LEASE, seconds, total, N))
  end)
end)
