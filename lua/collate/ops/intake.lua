-- Cases into the store: a CSV of cases (collate.ops.cases for the columns), and the journal of
-- an older run (collate.ops.journal), whose keys and authorizations the store takes over.
local collate = require "collate"
local csv = require "collate.ops.csv"
local cases = require "collate.ops.cases"
local journal = require "collate.ops.journal"

local M = {}

-- read_csv(path, warn) -> cases, or raises a message naming the line and the field
function M.read_csv(path, warn)
  local rows, header = csv.read(path)
  if not rows then error(header, 0) end
  for _, w in ipairs(cases.check_header(header)) do warn(path .. ": " .. w) end
  local out, seen = {}, {}
  for _, row in ipairs(rows) do
    local case, problem = cases.from_row(row)
    if not case then error(path .. " " .. problem, 0) end
    if seen[case.id] then error(path .. ": case_id " .. case.id .. " appears twice", 0) end
    seen[case.id] = true
    out[#out + 1] = case
  end
  return out
end

-- import_csv(store, path, now, o) -> added, kept. o: warn(msg), journal (an older run's
-- journal to take keys and IDs from), dry_run (read and check only)
function M.import_csv(store, path, now, o)
  local list = M.read_csv(path, o.warn or function() end)
  if o.dry_run then
    local added = 0
    for _, c in ipairs(list) do if not store:get(c.id) then added = added + 1 end end
    return added, #list - added
  end
  local added, kept = store:import(list, now, collate.uuid4)
  if o.journal then M.import_journal(store, o.journal, now) end
  return added, kept
end

-- import_journal(store, path, now) -> n: cases of the store not yet worked take the key and
-- the authorization the older run journaled for them.
function M.import_journal(store, path, now)
  local j = journal.open(path)
  local n = 0
  for rec in j:each() do
    if rec.key or rec.auth then
      if store:adopt(rec.case, { idem_key = rec.key, auth_id = rec.auth,
                                 status = rec.auth and (rec.status or "processing") or nil }, now) then
        n = n + 1
      end
    end
  end
  j:close()
  return n
end

return M
