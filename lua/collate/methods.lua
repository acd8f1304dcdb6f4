-- Method tables (client.authorizations, client.authorizations.answers, ...): a name that is not
-- there raises a collate.Error naming the closest one, at index time, instead of the later
-- "attempt to call a nil value"; a colon call (client.authorizations:retrieve{}) is recognised
-- because its first argument is one of these tables.
local errors = require "collate.errors"

local M = {}

local paths = setmetatable({}, { __mode = "k" }) -- method table -> its dotted path ("" for the client)

-- Levenshtein distance with a transposition counted as one edit (retreive -> retrieve).
local function distance(a, b)
  local la, lb = #a, #b
  local prev2, prev = {}, {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    local cur = { [0] = i }
    for j = 1, lb do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      local d = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      if i > 1 and j > 1 and a:sub(i, i) == b:sub(j - 1, j - 1) and a:sub(i - 1, i - 1) == b:sub(j, j) then
        d = math.min(d, prev2[j - 2] + 1)
      end
      cur[j] = d
    end
    prev2, prev = prev, cur
  end
  return prev[lb]
end

local function closest(name, node)
  local best, best_d
  for key in pairs(node) do
    if type(key) == "string" then
      local d = distance(name:lower(), key:lower())
      if best_d == nil or d < best_d or (d == best_d and key < best) then best, best_d = key, d end
    end
  end
  if best and best_d <= math.max(2, math.floor(#name / 3)) then return best end
  return nil
end

local function names(node)
  local list = {}
  for key in pairs(node) do
    if type(key) == "string" then list[#list + 1] = key end
  end
  table.sort(list)
  return table.concat(list, ", ")
end

local function missing(node, key)
  local path = paths[node]
  local full = (path == "" and "" or path .. ".") .. tostring(key)
  local message
  local near = type(key) == "string" and closest(key, node) or nil
  if near then
    message = "no method " .. full .. "; did you mean " .. near .. "?"
  else
    message = "no method " .. full .. " (" .. (path == "" and "the client" or path) .. " has: " .. names(node) .. ")"
  end
  error(errors.invalid_argument(message), 2)
end

-- A new method table at dotted path `path`; `mt` extra metamethods (__tostring, __close).
function M.table(path, mt)
  local node = {}
  paths[node] = path
  mt = mt or {}
  mt.__index = missing
  return setmetatable(node, mt)
end

-- Puts fn at the dotted path `name` inside the method table `root`, creating the tables between.
function M.install(root, name, fn)
  local node = root
  local parts = {}
  for part in name:gmatch("[^%.]+") do parts[#parts + 1] = part end
  local path = paths[root]
  for i = 1, #parts - 1 do
    path = (path == "" and "" or path .. ".") .. parts[i]
    local child = rawget(node, parts[i])
    if child == nil then
      child = M.table(path)
      rawset(node, parts[i], child)
    end
    node = child
  end
  rawset(node, parts[#parts], fn)
end

-- The error for a call whose first argument is a method table: a colon instead of a dot.
function M.colon_call(name, params)
  if type(params) ~= "table" or paths[params] == nil then return nil end
  return errors.invalid_argument(name .. ": called with a colon; use a dot: client." .. name .. "{...}")
end

M.is_method_table = function(t) return paths[t] ~= nil end
M.path = function(t) return paths[t] end

return M
