-- The journal of the earlier bulk runs (before collate.ops.store): an append-only JSON-lines file
-- mapping each input case to its idempotency key, its authorization and the last state seen. Kept
-- so that `submit-batch --journal PATH` can import such a file into a store.
--
--   local j = journal.open("batch.journal")   -- reads what a previous run left
--   local rec = j:get("case-17")               -- nil, or {case, key, auth, status, outcome, ...}
--   j:record("case-17", {key = k})             -- merged into the case's record, one line, flushed
--
-- Durability: each record is one line written with a single write() and flushed at once, so a
-- process killed at any point (SIGKILL included) leaves every earlier line whole and at most a
-- torn last line, which open() ignores (a line counts only once its "\n" is there). The file is
-- not fsync'ed: a power loss may lose the last records, and then a re-run creates those cases
-- again with the same idempotency keys, which the API replays (24 h retention) rather than
-- duplicates, as long as the key line itself reached the disk before the create was sent.
local cjson = require "cjson"

local M = {}

local Journal = {}
Journal.__index = Journal

local function merge(into, fields)
  for k, v in pairs(fields) do into[k] = v end
  return into
end

-- open(path) -> journal. Creates the file when missing.
function M.open(path)
  local self = setmetatable({ path = path, cases = {}, order = {}, torn = 0, lines = 0 }, Journal)
  local f = io.open(path, "rb")
  local ends_cleanly = true
  if f then
    local data = f:read("*a")
    f:close()
    local pos = 1
    while pos <= #data do
      local nl = data:find("\n", pos, true)
      if not nl then -- a torn last line: the write never finished
        self.torn = self.torn + 1
        ends_cleanly = false
        break
      end
      local line = data:sub(pos, nl - 1)
      pos = nl + 1
      if line ~= "" then
        local ok, rec = pcall(cjson.decode, line)
        if ok and type(rec) == "table" and type(rec.case) == "string" then
          self:_apply(rec)
          self.lines = self.lines + 1
        else
          self.torn = self.torn + 1
        end
      end
    end
  end
  local out, err = io.open(path, "ab")
  if not out then error("journal: cannot open " .. path .. ": " .. tostring(err), 2) end
  self.file = out
  -- the next record must start on a line of its own
  if not ends_cleanly then
    out:write("\n")
    out:flush()
  end
  return self
end

function Journal:_apply(rec)
  local cur = self.cases[rec.case]
  if not cur then
    cur = { case = rec.case }
    self.cases[rec.case] = cur
    self.order[#self.order + 1] = rec.case
  end
  merge(cur, rec)
end

function Journal:get(case_id)
  return self.cases[case_id]
end

-- record(case_id, fields): fields (strings, numbers, booleans) merged into the case; one line
-- holding the case's whole record, written and flushed before this returns.
function Journal:record(case_id, fields)
  local rec = merge({ case = case_id }, fields)
  rec.at = os.time()
  self:_apply(rec)
  local line = cjson.encode(self.cases[case_id]) .. "\n"
  local ok, err = self.file:write(line)
  if not ok then error("journal: cannot write " .. self.path .. ": " .. tostring(err), 2) end
  self.file:flush()
  return self.cases[case_id]
end

-- each() iterates records in the order cases first appeared.
function Journal:each()
  local i = 0
  return function()
    i = i + 1
    local id = self.order[i]
    if id then return self.cases[id] end
  end
end

function Journal:close()
  if self.file then self.file:close() end
  self.file = nil
end

return M
