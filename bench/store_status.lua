-- The store's report at scale: fills a sqlite store with N cases (default 100,000) spread over
-- payers and statuses, then times scripts/ops/status (table and --json) on it.
--   build/bin/collate-run bench/store_status.lua [N] [STORE_PATH]      (scripts/bench-store)
local store_mod = require "collate.ops.store"
local core = require "collate.core"

local n = tonumber(arg[1]) or 100000
local path = arg[2] or os.tmpname() .. ".db"
local run_bin = arg[-1] or "collate-run"
local here = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/.."

os.remove(path)
local s = store_mod.open("sqlite:" .. path)
local payers = { "payer_aetna", "payer_uhc", "payer_cigna", "payer_bcbs_ca", "payer_kaiser", "payer_humana" }
local statuses = { { "completed", "approved" }, { "completed", "denied" }, { "waiting_on_payer" }, { "processing" },
                   { "requires_action" }, { "failed" } }
local t0 = core.now()
local list = {}
for i = 1, n do
  list[i] = { id = string.format("case-%06d", i), payer = payers[i % #payers + 1], code = "J0791",
              input = { fields = { case_id = string.format("case-%06d", i) }, answers = {} } }
end
local k = 0
s:import(list, 1796000000, function() k = k + 1 return string.format("key-%d", k) end)
s.db:transaction(function()
  for i, st in ipairs(statuses) do
    s.db:exec([[UPDATE cases SET status = ?, outcome = ?, created_at = imported_at + 60,
                  decided_at = CASE WHEN ? = 'completed'
                    THEN imported_at + 86400 * (1 + (CAST(substr(id, 6) AS INTEGER) % 5)) ELSE NULL END,
                  waiting_for = ? WHERE CAST(substr(id, 6) AS INTEGER) % ? = ?]],
      st[1], st[2], st[1], st[1] == "requires_action" and "person:approve_submission" or nil, #statuses, i - 1)
  end
end)
s:close()
local filled = core.now() - t0

local function time(args)
  local best = math.huge
  for _ = 1, 3 do
    local t = core.now()
    assert(os.execute(string.format("%q %q --store %q %s >/dev/null", run_bin, here .. "/scripts/ops/status",
      "sqlite:" .. path, args)))
    best = math.min(best, core.now() - t)
  end
  return best
end
local table_s, json_s, needs_s = time(""), time("--json"), time("--needs-me")
local size = io.open(path):seek("end")
local load = io.open("/proc/loadavg")
print(string.format("store of %d cases (%.1f MB) filled in %.1f s; load average %s", n, size / 1e6, filled,
  load and load:read("l"):match("^(%S+ %S+ %S+)") or "?"))
print(string.format("%-28s %8s", "command (best of 3)", "seconds"))
print(string.format("%-28s %8.3f", "status", table_s))
print(string.format("%-28s %8.3f", "status --json", json_s))
print(string.format("%-28s %8.3f", "status --needs-me", needs_s))
os.remove(path)
os.remove(path .. "-wal")
os.remove(path .. "-shm")
