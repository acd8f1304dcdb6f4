-- Workflow rules: which answers to patch, which documents to attach, when a review snapshot may
-- be approved without a person, what to do with a manual handoff. A rules file is Lua returning
-- a table; each entry may be a value or a function of the case:
--
--   local here = ...                        -- the rules file's directory
--   return {
--     answers = function(case, open) return {["service.units"] = 4} end,  -- added to the CSV's
--     documents = here .. "/note.pdf",      -- or function(case, types) -> {{path =, document_types =}}
--     approve = function(case, snapshot) return #snapshot.warnings == 0, "warnings need a person" end,
--     handoff = function(case, action) return "submitted" end,           -- a reported outcome, or nil
--     confirm = true,                       -- continue_authorization (default true)
--     payers = { payer_kaiser = { handoff = false } },   -- per payer: overrides the above
--     codes = { J9035 = { approve = false } },           -- per service code: overrides payers
--   }
-- Without a rules file only the CSV's answers are sent; documents, approvals and handoffs wait
-- for a person (status --needs-me, approve, handoff).
local M = {}

local Rules = {}
Rules.__index = Rules

local NAMES = { answers = true, documents = true, approve = true, handoff = true, confirm = true }

local function check(t, where)
  for k in pairs(t) do
    if not (NAMES[k] or ((k == "payers" or k == "codes") and where == "rules")) then
      error(where .. ": unknown entry '" .. tostring(k) .. "' (known: answers, documents, approve, handoff, " ..
        "confirm, payers, codes)", 0)
    end
  end
end

-- new(table, source) -> rules
function M.new(t, source)
  t = t or {}
  check(t, "rules")
  for _, group in ipairs({ "payers", "codes" }) do
    for name, sub in pairs(t[group] or {}) do
      if type(sub) ~= "table" then error("rules: " .. group .. "." .. tostring(name) .. " must be a table", 0) end
      check(sub, "rules " .. group .. "." .. name)
    end
  end
  return setmetatable({ t = t, source = source or "built-in" }, Rules)
end

-- load(path) -> rules; the file gets its directory as `...`
function M.load(path)
  local chunk, err = loadfile(path)
  if not chunk then error("rules: " .. tostring(err), 0) end
  local ok, t = pcall(chunk, (path:match("^(.*)/[^/]*$") or "."))
  if not ok then error("rules " .. path .. ": " .. tostring(t), 0) end
  if type(t) ~= "table" then error("rules " .. path .. ": must return a table", 0) end
  return M.new(t, path)
end

-- the entry `name` for a case: by service code, else by payer, else the top level
function Rules:entry(name, case)
  local t = self.t
  local by_code = t.codes and t.codes[case.code]
  if by_code and by_code[name] ~= nil then return by_code[name] end
  local by_payer = t.payers and t.payers[case.payer]
  if by_payer and by_payer[name] ~= nil then return by_payer[name] end
  return t[name]
end

local function value(entry, ...)
  if type(entry) == "function" then return entry(...) end
  return entry
end

-- answers(case, open) -> extra answers {[linkId] = value} (nil: none)
function Rules:answers(case, open)
  return value(self:entry("answers", case), case, open)
end

-- documents(case, types) -> list of {path | data, file_name?, content_type?, document_types}, or nil
function Rules:documents(case, types)
  local e = self:entry("documents", case)
  if type(e) == "string" then return { { path = e, document_types = types } } end
  local r = value(e, case, types)
  if type(r) == "string" then return { { path = r, document_types = types } } end
  return r
end

-- approve(case, snapshot) -> true, or false and the reason a person must look
function Rules:approve(case, snapshot)
  local ok, why = value(self:entry("approve", case), case, snapshot)
  if ok == true then return true end
  return false, why or (ok == nil and "no rule approves review snapshots" or "the rules did not approve it")
end

-- handoff(case, action) -> reported outcome, or nil
function Rules:handoff(case, action)
  local r = value(self:entry("handoff", case), case, action)
  if r == true then return "submitted" end
  if r == false then return nil end
  return r
end

function Rules:confirm(case, auth)
  local r = value(self:entry("confirm", case), case, auth)
  return r ~= false
end

return M
