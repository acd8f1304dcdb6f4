-- What advance and submit-batch share: the rules from the options, the context of a run, the
-- progress line and the summary at the end.
local collate = require "collate"
local advance = require "collate.ops.advance"
local cli = require "collate.ops.cli"
local progress = require "collate.ops.progress"
local rules_mod = require "collate.ops.rules"

local M = {}

M.SPEC = {
  ["--rules"] = "value", ["--approve-submissions"] = "flag", ["--handoff"] = "flag", ["--document"] = "value",
  ["--concurrency"] = "integer", ["--max-connections"] = "integer", ["--wait"] = "number", ["--watch"] = "flag",
  ["--lease"] = "number", ["--retry-failed"] = "flag", ["--dry-run"] = "flag", ["--json"] = "flag",
  ["--max-interval"] = "number", ["--time-scale"] = "number", ["--quiet"] = "flag",
}
for k, v in pairs(cli.STORE_SPEC) do M.SPEC[k] = v end

M.USAGE = cli.STORE_USAGE .. [[

  --rules FILE              workflow rules (Lua; see scripts/examples/rules.lua): answers,
                            documents, approvals, handoffs per payer and code
  --approve-submissions     approve every review snapshot (a rule: approve = true)
  --handoff                 complete every manual handoff, reporting "submitted"
  --document PATH           attach PATH for every requested document type
  --concurrency N           cases worked at once (default 16); cases waiting take no slot
  --max-connections N       HTTP connections at once (default 16)
  --wait SECONDS            keep passing while a case is due within SECONDS (default 0: one pass)
  --watch                   keep running: sleep until the next due case; stop on SIGTERM/SIGINT
  --lease SECONDS           how long a worker owns the cases it took (default 60); a dead
                            worker's cases are taken over after that
  --retry-failed            give failed cases another try (same key, same authorization)
  --max-interval SECONDS    the longest pause between two looks at a case (default 3600)
  --time-scale X            API seconds per wall second for the intervals (default
                            $COLLATE_SANDBOX_CLOCK_SPEED, else 1; not with --clock sandbox)
  --dry-run                 say per case what would be done; send nothing, change nothing
  --json                    the summary as JSON lines (one per case, then one of counts)
  --quiet                   no progress line]]

-- rules(o) -> rules from --rules and the shorthand options
function M.rules(o)
  local r
  if o.rules then
    local ok, loaded = pcall(rules_mod.load, o.rules)
    if not ok then o.fail(tostring(loaded)) end
    r = loaded
  else
    r = rules_mod.new({}, "options")
  end
  local t = r.t
  if o.approve_submissions then t.approve = true end
  if o.handoff then t.handoff = "submitted" end
  if o.document == "none" then o.document = nil end
  if o.document then
    local f = io.open(o.document, "rb")
    if not f then o.fail("cannot read --document " .. o.document) end
    f:close()
    t.documents = o.document
  end
  return r
end

local function progress_status(r)
  if r.status == "completed" then return "completed:" .. tostring(r.outcome) end
  if r.waiting_for and r.waiting_for:match("^person:") then return "needs a person" end
  if r.waiting_for == "retry" then return "retrying" end
  return r.status
end
M.progress_status = progress_status

-- peak resident memory of this process (Linux), for the summary
function M.peak_rss_kb()
  local f = io.open("/proc/self/status", "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return tonumber(text:match("VmHWM:%s*(%d+)"))
end

-- run(o, store, name) -> exit code. Runs the passes and prints the summary.
function M.run(o, store, name)
  local now, speed = cli.clock(o)
  local scale = 1
  if (o.clock or "api") == "api" then
    scale = o.time_scale or tonumber(os.getenv("COLLATE_SANDBOX_CLOCK_SPEED") or "") or 1
  end
  local ctx = {
    client = collate.new{}, store = store, rules = M.rules(o), owner = cli.owner(), actor = "rules",
    now = now, speed = speed == 0 and math.huge or speed, lease = o.lease or 60, stats = {},
    max_interval = (o.max_interval or advance.MAX_INTERVAL), person_interval = advance.PERSON_INTERVAL,
  }
  -- intervals are API seconds: on a sandbox whose clock runs `scale` times faster they pass sooner
  ctx.scale = scale
  if not o.dry_run then
    store:reclaim(cli.hostname(), cli.alive) -- leases of this machine's dead runs (a kill, a crash)
    store:wake_people(ctx.now())
  end
  if o.retry_failed and not o.dry_run then
    local n = store:retry_failed(ctx.now(), cli.operator(o))
    if n > 0 then io.stderr:write(name, ": ", n, " failed cases will be tried again\n") end
  end
  local host = package.loaded["collate.host"] or (pcall(require, "collate.host") and require("collate.host"))
  local stopping
  if host and host.catch_stop then
    host.catch_stop()
    stopping = host.stopping
  end
  local p
  if not o.quiet and not o.dry_run then
    local rows = store:summaries()
    p = progress.new{ total = #rows, label = name, order = { "new", "requires_action", "processing",
      "waiting_on_payer", "needs a person", "retrying", "completed", "failed" } }
    for _, r in ipairs(rows) do p:set(r.id, progress_status(r)) end
  end
  local ok, summary = pcall(advance.run, ctx, {
    concurrency = o.concurrency or 16, max_connections = o.max_connections or 16, wait = o.wait or 0,
    watch = o.watch, dry_run = o.dry_run, stopping = stopping,
    on_step = p and function(r) p:set(r.id, progress_status(r)) end,
  })
  if p then p:finish() end
  if not ok then
    io.stderr:write(name, ": ", tostring(summary), "\n")
    return 1
  end
  local cjson = require "cjson"
  if o.dry_run then
    for _, r in ipairs(summary.results) do
      if o.json then
        print(cjson.encode({ case = r.id, status = r.status, would = r.plan }))
      else
        print(string.format("%-20s %-18s would %s", r.id, r.status, r.plan))
      end
    end
    if not o.json then print(string.format("%d cases due; --dry-run: nothing sent, nothing changed",
      #summary.results)) end
    return 0
  end
  -- the per-case summary of this run, then counts over the whole store
  local ids = {}
  for id in pairs(summary.results) do ids[#ids + 1] = id end
  table.sort(ids)
  local failed = 0
  for _, id in ipairs(ids) do
    local r = summary.results[id]
    if r.status == "failed" then failed = failed + 1 end
    if o.json then
      print(cjson.encode({ case = id, status = r.status, outcome = r.outcome, waiting_for = r.waiting_for,
                           error = r.error, requests = r.requests }))
    end
  end
  local counts = {}
  for _, r in ipairs(store:summaries()) do
    local s = progress_status(r)
    counts[s] = (counts[s] or 0) + 1
  end
  if o.json then
    print(cjson.encode({ by_status = counts, total = #store:summaries(), steps = summary.steps,
                         passes = summary.passes, longest_pass_seconds = summary.longest_pass, failed = failed,
                         errors = summary.errors, recoveries = ctx.stats, peak_rss_kb = M.peak_rss_kb() }))
  else
    if #ids > 0 and #ids <= 200 then
      print(string.format("%-20s %-18s %-34s %s", "case", "status", "waiting for / outcome", "error"))
      for _, id in ipairs(ids) do
        local r = summary.results[id]
        print(string.format("%-20s %-18s %-34s %s", id, r.status, r.waiting_for or r.outcome or "", r.error or ""))
      end
    end
    local names = {}
    for s in pairs(counts) do names[#names + 1] = s end
    table.sort(names)
    local parts = {}
    for _, s in ipairs(names) do parts[#parts + 1] = s .. " " .. counts[s] end
    print(string.format("%d cases worked in %d steps; store: %s", #ids, summary.steps, table.concat(parts, ", ")))
  end
  return failed > 0 and 1 or 0
end

return M
