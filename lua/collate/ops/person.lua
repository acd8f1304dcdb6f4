-- approve and handoff: a person's decision on one case, recorded with the operator's name, then
-- the case moved on as advance would (rules for everything else).
local collate = require "collate"
local advance = require "collate.ops.advance"
local cli = require "collate.ops.cli"
local passes = require "collate.ops.passes"

local M = {}

M.SPEC = { ["--operator"] = "value", ["--dry-run"] = "flag", ["--rules"] = "value", ["--json"] = "flag",
           ["--lease"] = "number", ["--time-scale"] = "number" }
for k, v in pairs(cli.STORE_SPEC) do M.SPEC[k] = v end

M.USAGE = [[
  --operator NAME           who decides (recorded in the case's events; default $USER)
  --rules FILE              the rules for what follows (answers, documents)
  --dry-run                 say what would be done; send nothing, change nothing
  --json                    the result as one JSON line
]] .. cli.STORE_USAGE

-- decide(name, o, case_id, wants_action, decision) -> exit code
function M.decide(name, o, case_id, wants_action, decision)
  local store = cli.open_store(o, name, true)
  local case = store:get(case_id)
  if not case then
    io.stderr:write(name, ": no case ", case_id, " in the store ", store.describe, "\n")
    return 1
  end
  local waiting = case.waiting_for or ""
  if case.next_action ~= wants_action then
    io.stderr:write(string.format("%s: case %s is not waiting for %s (status %s%s, waiting for %s)\n", name, case_id,
      wants_action, case.status, case.next_action and (":" .. case.next_action) or "", waiting ~= ""
        and waiting or "nothing"))
    store:close()
    return 1
  end
  local operator = cli.operator(o)
  decision.actor = operator
  if o.dry_run then
    local what = decision.approve and ("approve the review snapshot " .. tostring(case.person
      and case.person.snapshot or ""))
      or ("complete the manual handoff reporting " .. decision.handoff)
    print(string.format("%s: would re-read %s and %s as %s; --dry-run: nothing sent", name, case_id, what, operator))
    store:close()
    return 0
  end
  local now, speed = cli.clock(o)
  local scale = 1
  if (o.clock or "api") == "api" then
    scale = o.time_scale or tonumber(os.getenv("COLLATE_SANDBOX_CLOCK_SPEED") or "") or 1
  end
  local ctx = { client = collate.new{}, store = store, rules = passes.rules(o), owner = cli.owner(), actor = "rules",
                now = now, speed = speed, lease = o.lease or 60, stats = {}, scale = scale,
                max_interval = advance.MAX_INTERVAL }
  local taken, why = store:take(case_id, ctx.owner, { seconds = ctx.lease })
  if not taken then
    io.stderr:write(name, ": ", why, "\n")
    store:close()
    return 1
  end
  local result
  local ok, err = pcall(function()
    collate.run(function() result = advance.step(ctx, taken, decision) end)
  end)
  store:release(ctx.owner)
  store:close()
  if not ok then
    io.stderr:write(name, ": ", tostring(err), "\n")
    return 1
  end
  if o.json then
    print(require("cjson").encode({ case = case_id, status = result.status, outcome = result.outcome,
      waiting_for = result.waiting_for, error = result.error, operator = operator }))
  else
    print(string.format("%s %s by %s: now %s%s%s", case_id, decision.approve and "approved" or "handoff completed",
      operator, result.status, result.waiting_for and (", waiting for " .. result.waiting_for) or "",
      result.error and (" (error: " .. result.error .. ")") or ""))
  end
  if result.error then return 1 end
  return 0
end

return M
