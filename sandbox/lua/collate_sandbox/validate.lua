-- A small schema checker: decoded JSON in, bad_request issues out (contract §1.9 locations).
-- Schemas: {type = "object", fields = {{name, schema}, ...}, extra = "allow"?},
-- {type = "string", enum, min_len, max_len, check}, {type = "integer"|"number", min, max},
-- {type = "boolean"}, {type = "array", items, min_items, max_items, unique}, {type = "any"};
-- any schema may say required = true, nullable = true; `check(v)` returns nil or errorType, message.
local json = require "collate_sandbox.json"
local http = require "collate_sandbox.http"

local validate = {}

local function loc_with(loc, key)
  local n = #loc
  local out = table.move(loc, 1, n, 1, {})
  out[n + 1] = key
  return out
end
validate.loc_with = loc_with

local function add(issues, error_type, loc, message)
  issues[#issues + 1] = http.issue(error_type, loc, message)
end
validate.add = add

local type_names = {
  object = "an object", array = "an array", string = "a string", integer = "an integer",
  number = "a number", boolean = "a boolean",
}

local function check(value, schema, loc, issues)
  if value == json.null then
    if not schema.nullable then
      local name = type_names[schema.type]
      add(issues, "invalid_type", loc, name and "Must be " .. name .. ", not null." or "Must not be null.")
    end
    return
  end
  local jt = json.typeof(value)
  local st = schema.type
  if st == "integer" then
    if jt ~= "number" or not json.is_integer(value) then
      return add(issues, "invalid_type", loc, "Must be an integer.")
    end
  elseif st ~= "any" and st ~= jt then
    return add(issues, "invalid_type", loc, "Must be " .. type_names[st] .. ".")
  end

  if st == "string" then
    if not json.valid_utf8(value) then return add(issues, "invalid_format", loc, "Must be valid UTF-8.") end
    local len = json.utf8_len(value)
    if schema.min_len and len < schema.min_len then
      return add(issues, "too_short", loc, string.format("Must have at least %d characters.", schema.min_len))
    end
    if schema.max_len and len > schema.max_len then
      return add(issues, "too_long", loc, string.format("Must have at most %d characters.", schema.max_len))
    end
    if schema.enum then
      local ok = false
      for _, e in ipairs(schema.enum) do if e == value then ok = true break end end
      if not ok then
        return add(issues, "invalid_enum", loc, "Must be one of: " .. table.concat(schema.enum, ", ") .. ".")
      end
    end
  elseif st == "integer" or st == "number" then
    if (schema.min and value < schema.min) or (schema.max and value > schema.max) then
      return add(issues, "out_of_range", loc, string.format("Must be between %s and %s.",
        schema.min and string.format("%.14g", schema.min) or "-inf", schema.max and string.format("%.14g",
          schema.max) or "inf"))
    end
  elseif st == "array" then
    local n = #value
    if schema.min_items and n < schema.min_items then
      return add(issues, "too_short", loc, string.format("Must have at least %d items.", schema.min_items))
    end
    if schema.max_items and n > schema.max_items then
      return add(issues, "too_long", loc, string.format("Must have at most %d items.", schema.max_items))
    end
    if schema.items then
      for i = 1, n do check(value[i], schema.items, loc_with(loc, i - 1), issues) end
    end
    if schema.unique then
      local seen = {}
      for i = 1, n do
        local k = json.encode(value[i])
        if seen[k] then add(issues, "invalid_format", loc_with(loc, i - 1), "Duplicate value.") end
        seen[k] = true
      end
    end
  elseif st == "object" and schema.fields then
    local known = {}
    for _, f in ipairs(schema.fields) do
      local name, sub = f[1], f[2]
      known[name] = true
      local v = value[name]
      if v == nil then
        if sub.required then add(issues, "missing", loc_with(loc, name), "Field required.") end
      else
        check(v, sub, loc_with(loc, name), issues)
      end
    end
    if schema.extra ~= "allow" then
      local extras = {}
      for k in pairs(value) do if not known[k] then extras[#extras + 1] = k end end
      table.sort(extras)
      for _, k in ipairs(extras) do
        add(issues, "extra_forbidden", loc_with(loc, k), "Unknown property.")
      end
    end
  end
  if schema.check then
    local et, msg = schema.check(value)
    if et then add(issues, et, loc, msg) end
  end
end

-- Returns the issues list (empty when valid).
function validate.check(value, schema, loc, issues)
  issues = issues or {}
  check(value, schema, loc or { "body" }, issues)
  return issues
end

---------------------------------------------------------------------------------------------------
-- Formats

-- NPI: 10 digits, the last the Luhn check digit over "80840" .. first nine
function validate.npi_ok(s)
  if type(s) ~= "string" or not s:find("^%d%d%d%d%d%d%d%d%d%d$") then return false end
  local digits = "80840" .. s:sub(1, 9)
  local sum, double = 0, true
  for i = #digits, 1, -1 do
    local d = tonumber(digits:sub(i, i))
    if double then
      d = d * 2
      if d > 9 then d = d - 9 end
    end
    sum = sum + d
    double = not double
  end
  return (10 - sum % 10) % 10 == tonumber(s:sub(10, 10))
end

function validate.npi_check(v)
  if not validate.npi_ok(v) then return "invalid_format", "Must be a valid 10-digit NPI." end
end

function validate.service_code_ok(system, code)
  if type(code) ~= "string" then return false end
  if system == "hcpcs" then return code:find("^%u%d%d%d%d$") ~= nil end
  if system == "cpt" then return code:find("^%d%d%d%d[%dA-Z]$") ~= nil end
  if system == "ndc" then
    if not code:find("^[%d%-]+$") then return false end
    local digits = code:gsub("%-", "")
    return #digits >= 10 and #digits <= 11
  end
  return true -- the system itself is reported as invalid_enum
end

validate.REQUEST_TYPES = { "inpatient", "outpatient", "drug" }
validate.CODE_SYSTEMS = { "hcpcs", "cpt", "ndc" }

local function state_check(v)
  if not v:find("^%u%u$") then return "invalid_format", "Must be a two-letter USPS state code." end
end

function validate.service_code_schema(required)
  return {
    type = "object", required = required,
    fields = {
      { "system", { type = "string", required = true, enum = validate.CODE_SYSTEMS } },
      { "code", { type = "string", required = true } },
    },
  }
end

-- a service code's format error goes at ["...","serviceCode","code"]
function validate.check_service_code(sc, loc, issues)
  if json.typeof(sc) == "object" and type(sc.system) == "string" and type(sc.code) == "string" then
    local ok = false
    for _, s in ipairs(validate.CODE_SYSTEMS) do if s == sc.system then ok = true end end
    if ok and not validate.service_code_ok(sc.system, sc.code) then
      add(issues, "invalid_format", loc_with(loc, "code"), "Not a valid " .. sc.system .. " code.")
    end
  end
end

validate.state_schema = function(required)
  return { type = "string", required = required, check = state_check }
end

return validate
