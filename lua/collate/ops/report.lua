-- Reports from the store, no API call needed: one row per case, counts per status and per payer,
-- and the median time from create to decision per payer.
local M = {}

-- the status a report shows: completed ones with their outcome
function M.status_of(r)
  if r.status == "completed" then return "completed:" .. tostring(r.outcome) end
  return r.status
end

function M.waiting_of(r)
  local w = r.waiting_for
  if not w or w == "" then return r.status == "completed" and "" or (r.status == "failed" and "retry-failed" or "") end
  return w
end

-- "3d 4h", "5m", "12s"
function M.duration(seconds)
  if not seconds then return "" end
  local s = math.floor(math.abs(seconds) + 0.5)
  local text
  if s >= 86400 then text = string.format("%dd %dh", s // 86400, (s % 86400) // 3600)
  elseif s >= 3600 then text = string.format("%dh %dm", s // 3600, (s % 3600) // 60)
  elseif s >= 60 then text = string.format("%dm", s // 60)
  else text = string.format("%ds", s) end
  return text
end

local function median(list)
  if #list == 0 then return nil end
  table.sort(list)
  local n = #list
  if n % 2 == 1 then return list[(n + 1) // 2] end
  return (list[n // 2] + list[n // 2 + 1]) / 2
end

-- build(rows, now) -> {cases = {{case, payer, status, waiting_for, age, next_look, ...}},
--   by_status = {[status] = n}, by_payer = {[payer] = {[status] = n, total = n}},
--   decision_median = {[payer] = seconds}, decided = {[payer] = n}, needs_person = n}
function M.build(rows, now)
  local out = { cases = {}, by_status = {}, by_payer = {}, decision_median = {}, decided = {}, needs_person = 0,
                turnaround = {}, open = {}, people = {} }
  local per_payer = {}
  for i, r in ipairs(rows) do
    local status = M.status_of(r)
    local imported, created = tonumber(r.imported_at), tonumber(r.created_at)
    local decided, next_look = tonumber(r.decided_at), tonumber(r.next_look)
    local since = created or imported
    local c = {
      case = r.id, payer = r.payer or "", status = status, waiting_for = M.waiting_of(r),
      age = since and ((decided or now) - since) or nil, next_look = next_look,
      next_in = next_look and (next_look - now) or nil, authorization_id = r.auth_id,
      attempts = tonumber(r.attempts) or 0, requests = tonumber(r.requests) or 0, last_error = r.last_error,
      decision_seconds = (decided and created) and (decided - created) or nil,
    }
    out.cases[i] = c
    out.by_status[status] = (out.by_status[status] or 0) + 1
    local p = out.by_payer[c.payer] or { total = 0 }
    out.by_payer[c.payer] = p
    p.total = p.total + 1
    p[status] = (p[status] or 0) + 1
    local rs = r.status
    if not (rs == "completed" or rs == "canceled"
      or rs == "failed") then out.open[c.payer] = (out.open[c.payer] or 0) + 1 end
    if c.waiting_for:sub(1, 7) == "person:" then
      out.needs_person = out.needs_person + 1
      out.people[c.payer] = (out.people[c.payer] or 0) + 1
    end
    if c.decision_seconds and r.status == "completed" then
      per_payer[c.payer] = per_payer[c.payer] or {}
      table.insert(per_payer[c.payer], c.decision_seconds)
    end
  end
  for payer, list in pairs(per_payer) do
    out.decided[payer] = #list
    local copy = {}
    for i, v in ipairs(list) do copy[i] = v end
    out.turnaround[payer] = copy
    out.decision_median[payer] = median(list)
  end
  return out
end

function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- the next-look column: "due", "in 5m", "" (never)
function M.next_text(c)
  if not c.next_look then return "" end
  if c.next_in <= 0 then return "due" end
  return "in " .. M.duration(c.next_in)
end

return M
