-- The state file (--state-file): the app's state (authorizations, files with their bytes,
-- uploads, grants, idempotency records, faults, clock with its pending events, ID counters)
-- written as a Lua chunk that rebuilds the table graph, shared references and cycles included.
-- Not saved: the request log and the render cache. Loaded with an empty environment, text only.
local json = require "collate_sandbox.json"

local persist = {}

persist.HEADER = "-- collate-sandbox state v1\n"

-- Values that are not plain data are written by name: the marker metatables, json.null, the
-- scenario tables (shared with the scenarios module, compared by identity nowhere but kept shared).
local function registry()
  local clock = require "collate_sandbox.clock"
  local ids = require "collate_sandbox.ids"
  local scenarios = require "collate_sandbox.scenarios"
  local named = {
    json_array = getmetatable(json.array({})), json_object = getmetatable(json.object({})),
    clock = clock, ids = ids, null = json.null, scenario_default = scenarios.DEFAULT,
  }
  for _, s in ipairs(scenarios.list()) do named["scenario:" .. s.id] = s end
  local by_value = {}
  for k, v in pairs(named) do by_value[v] = k end
  return named, by_value
end

-- the state's own fields that are rebuilt, not saved
local SKIP = { log = true, log_first = true, log_last = true, log_bytes = true, render_cache = true, fmt = true,
  fmt_date = true, base_url = true }

function persist.dump(st)
  local _, by_value = registry()
  local index, order = {}, {}
  local out = { persist.HEADER, "local R = ...\nlocal T = {}\n" }

  local function visit(t)
    if index[t] then return end
    order[#order + 1] = t
    index[t] = #order
    for k, v in pairs(t) do
      if not (t == st and SKIP[k]) then
        if type(k) == "table" and not by_value[k] then visit(k) end
        if type(v) == "table" and not by_value[v] then visit(v) end
      end
    end
  end
  visit(st)

  local function lit(v, where)
    if by_value[v] ~= nil then return string.format("R[%q]", by_value[v]) end
    local t = type(v)
    if t == "string" or t == "number" then return string.format("%q", v) end
    if t == "boolean" then return tostring(v) end
    if t == "table" then return "T[" .. index[v] .. "]" end
    error("cannot save a " .. t .. " at " .. where)
  end

  out[#out + 1] = "for i = 1, " .. #order .. " do T[i] = {} end\n"
  for i, t in ipairs(order) do
    local lines = { "do local t = T[" .. i .. "]\n" }
    for k, v in pairs(t) do
      if not (t == st and SKIP[k]) and type(v) ~= "function" then
        lines[#lines + 1] = "t[" .. lit(k, "a key") .. "] = " .. lit(v, tostring(k)) .. "\n"
      end
    end
    local mt = getmetatable(t)
    if mt ~= nil then
      if by_value[mt] == nil then error("cannot save a table with an unknown metatable") end
      lines[#lines + 1] = "setmetatable(t, " .. lit(mt) .. ")\n"
    end
    lines[#lines + 1] = "end\n"
    out[#out + 1] = table.concat(lines)
  end
  out[#out + 1] = "return T[1]\n"
  return table.concat(out)
end

-- Returns the state table, or nil, message.
function persist.load(text)
  if text:sub(1, #persist.HEADER) ~= persist.HEADER then
    return nil, "not a collate-sandbox state file (bad header)"
  end
  local named = registry()
  local env = { setmetatable = setmetatable }
  local chunk, err = load(text, "=state", "t", env)
  if not chunk then return nil, "corrupt: " .. err end
  local ok, st = pcall(chunk, named)
  if not ok then return nil, "corrupt: " .. tostring(st) end
  if type(st) ~= "table" or type(st.auths) ~= "table" or type(st.clock) ~= "table" or type(st.ids) ~= "table" then
    return nil, "corrupt: incomplete state"
  end
  return st
end

return persist
