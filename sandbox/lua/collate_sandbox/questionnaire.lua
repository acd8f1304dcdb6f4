-- The standard questionnaire (contract §6.2, §3.4), answer validation (§2.7, §3.5), the merge by
-- top-level linkId, and the question/issue part of the requirements (§3.3).
local json = require "collate_sandbox.json"
local suggest = require "collate_sandbox.suggest"
local timefmt = require "collate_sandbox.timefmt"
local validate = require "collate_sandbox.validate"

local questionnaire = {}

local function member_id_ok(v)
  return #v >= 5 and #v <= 30 and v:find("^[A-Z0-9%-]+$") ~= nil
end

-- Internal definition; `wire` fields are what §3.13 shows.
local ITEMS = {
  { linkId = "patient.firstName", text = "Patient first name", type = "string", required = true },
  { linkId = "patient.lastName", text = "Patient last name", type = "string", required = true },
  { linkId = "patient.dateOfBirth", text = "Patient date of birth", type = "date", required = true },
  { linkId = "coverage.memberId", text = "Member ID", type = "string", required = true,
    pattern = "^[A-Z0-9-]{5,30}$", pattern_check = member_id_ok },
  { linkId = "coverage.groupNumber", text = "Group number", type = "string", required = false },
  { linkId = "diagnoses", text = "Diagnoses", type = "group", required = true,
    repeats = true, minOccurs = 1, maxOccurs = 12, item = {
      { linkId = "code", text = "Diagnosis code", type = "string", required = true },
      { linkId = "qualifierCode", text = "Diagnosis qualifier", type = "choice", required = true,
        options = { { code = "ABK", display = "ICD-10 principal" }, { code = "ABF", display = "ICD-10" } } },
    } },
  { linkId = "service.startDate", text = "Requested start date", type = "date", required = true },
  { linkId = "service.units", text = "Units requested", type = "integer", required = true, min = 1, max = 999 },
  { linkId = "medication.doseMg", text = "Dose (mg)", type = "decimal", required = false, min = 0 },
  { linkId = "clinical.priorTherapyTried", text = "Prior therapy tried", type = "boolean", required = true },
  { linkId = "clinical.notes", text = "Clinical summary", type = "text", required = false, maxLength = 4000 },
}
questionnaire.ITEMS = ITEMS

local function index(items)
  local by = {}
  for i, it in ipairs(items) do
    by[it.linkId] = it
    it.order = i
    if it.item then it.children = index(it.item) end
  end
  return by
end
local TOP = index(ITEMS)
questionnaire.TOP = TOP

local VALUE_KEY = {
  string = "valueString", text = "valueString", boolean = "valueBoolean", date = "valueDate",
  decimal = "valueDecimal", integer = "valueInteger", choice = "valueCoding",
}
local KNOWN_VALUE_KEYS = {
  valueString = true, valueBoolean = true, valueDate = true, valueDecimal = true,
  valueInteger = true, valueCoding = true,
}

local WIRE_KEYS = { "linkId", "text", "type", "required", "repeats", "minOccurs", "maxOccurs",
  "pattern", "maxLength", "min", "max" }

local function render_items(items)
  local out = json.array({})
  for i, it in ipairs(items) do
    local w = {}
    for _, k in ipairs(WIRE_KEYS) do if it[k] ~= nil then w[k] = it[k] end end
    if it.options then
      w.options = json.array({})
      for j, o in ipairs(it.options) do w.options[j] = { code = o.code, display = o.display } end
    end
    if it.item then w.item = render_items(it.item) end
    out[i] = w
  end
  return out
end

-- The questionnaire never changes: encoded once, written as is into every authorization (it was
-- about a tenth of a create's CPU when rebuilt per render).
local rendered
function questionnaire.render()
  if not rendered then rendered = json.raw(json.encode({ item = render_items(ITEMS) })) end
  return rendered
end

---------------------------------------------------------------------------------------------------
-- Validation (structural errors -> 400 issues)

local add, loc_with = validate.add, validate.loc_with

local function is_empty_list(v)
  return v == nil or (json.typeof(v) == "array" and #v == 0)
end

-- true when an AnswerItem carries neither a non-empty answer nor a non-empty item
function questionnaire.is_clear(it)
  return is_empty_list(it.answer) and is_empty_list(it.item)
end

local function validate_value(v, def, loc, issues)
  if json.typeof(v) ~= "object" then return add(issues, "invalid_type", loc, "A Value must be an object.") end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  if #keys == 0 then return add(issues, "missing", loc, "A Value needs exactly one value key.") end
  local expected = VALUE_KEY[def.type]
  -- prefer the expected key as the one that counts
  local key = keys[1]
  for _, k in ipairs(keys) do if k == expected then key = k end end
  for _, k in ipairs(keys) do
    if k ~= key then add(issues, "extra_forbidden", loc_with(loc, k), "A Value has exactly one value key.") end
  end
  local vloc = loc_with(loc, key)
  if not KNOWN_VALUE_KEYS[key] then return add(issues, "extra_forbidden", vloc, "Unknown value key.") end
  if key ~= expected then
    return add(issues, "type_mismatch", vloc, string.format("Item %s of type %s takes %s.", def.linkId, def.type,
      expected))
  end
  local x = v[key]
  local jt = json.typeof(x)
  if key == "valueString" then
    if jt ~= "string" then return add(issues, "invalid_type", vloc, "Must be a string.") end
    if not json.valid_utf8(x) then return add(issues, "invalid_format", vloc, "Must be valid UTF-8.") end
  elseif key == "valueBoolean" then
    if jt ~= "boolean" then return add(issues, "invalid_type", vloc, "Must be a boolean.") end
  elseif key == "valueDate" then
    if jt ~= "string" then return add(issues, "invalid_type", vloc, "Must be a date string.") end
    if not timefmt.parse_date(x) then return add(issues, "invalid_format", vloc, "Must be a date YYYY-MM-DD.") end
  elseif key == "valueDecimal" then
    if jt ~= "number" then return add(issues, "invalid_type", vloc, "Must be a number.") end
  elseif key == "valueInteger" then
    if jt ~= "number" or not json.is_integer(x) then return add(issues, "invalid_type", vloc, "Must be an integer.") end
  elseif key == "valueCoding" then
    if jt ~= "object" then return add(issues, "invalid_type", vloc, "Must be an object {code}.") end
    for k in pairs(x) do
      if k ~= "code" then add(issues, "extra_forbidden", loc_with(vloc, k), "valueCoding carries only code.") end
    end
    if x.code == nil then return add(issues, "missing", loc_with(vloc, "code"), "Field required.") end
    if type(x.code) ~= "string" then return add(issues, "invalid_type", loc_with(vloc, "code"), "Must be a string.") end
    local ok = false
    for _, o in ipairs(def.options) do if o.code == x.code then ok = true end end
    if not ok then add(issues, "invalid_choice", loc_with(vloc, "code"), "Not one of the item's options.") end
  end
end

local validate_item

-- linkIds of a level of the questionnaire, in its order
local function link_ids(defs)
  local list = {}
  for id, def in pairs(defs) do list[#list + 1] = { id = id, order = def.order } end
  table.sort(list, function(x, y) return x.order < y.order end)
  local out = json.array({})
  for i, x in ipairs(list) do out[i] = x.id end
  return out
end

-- The issue, and in issues.details (the error's details, http.bad_request) what the name could
-- have been: its close matches and the linkIds of that level; the top level's linkIds too.
local function unknown_link_id(id, defs, loc, issues)
  local allowed = link_ids(defs)
  local close = json.array(suggest.close(id, allowed))
  local hint = #close > 0 and ("; did you mean " .. table.concat(close, " or ") .. "?")
    or ("; the questionnaire's linkIds here: " .. table.concat(allowed, ", ") .. ".")
  add(issues, "unknown_link_id", loc, "Unknown linkId " .. id .. hint)
  local details = issues.details or {}
  issues.details = details
  details.questionnaireLinkIds = details.questionnaireLinkIds or link_ids(TOP)
  details.unknownLinkIds = details.unknownLinkIds or json.array({})
  details.unknownLinkIds[#details.unknownLinkIds + 1] = { linkId = id, location = json.copy(loc),
    closeMatches = close, allowed = allowed }
end

local function validate_siblings(list, defs, loc, issues, top)
  if json.typeof(list) ~= "array" then return add(issues, "invalid_type", loc, "Must be an array.") end
  local seen = {}
  for i = 1, #list do
    local it = list[i]
    local iloc = loc_with(loc, i - 1)
    local def = validate_item(it, defs, iloc, issues)
    if def then
      local s = seen[def.linkId]
      if not s then
        s = { count = 0, clear = false }
        seen[def.linkId] = s
      end
      s.count = s.count + 1
      if questionnaire.is_clear(it) then s.clear = true end
      if s.count > 1 then
        if not (top and def.repeats) then
          add(issues, "duplicate_link_id", loc_with(iloc, "linkId"), "linkId " .. def.linkId .. " repeated.")
        elseif s.clear then
          add(issues, "duplicate_link_id", loc_with(iloc, "linkId"),
            "An item clearing " .. def.linkId .. " must be the only one with that linkId.")
        elseif def.maxOccurs and s.count == def.maxOccurs + 1 then
          add(issues, "too_long", iloc, string.format("At most %d repetitions of %s.", def.maxOccurs, def.linkId))
        end
      end
    end
  end
end

validate_item = function(it, defs, loc, issues)
  if json.typeof(it) ~= "object" then return add(issues, "invalid_type", loc, "An answer item must be an object.") end
  local extras = {}
  for k in pairs(it) do
    if k ~= "linkId" and k ~= "answer" and k ~= "item" then extras[#extras + 1] = k end
  end
  table.sort(extras)
  for _, k in ipairs(extras) do add(issues, "extra_forbidden", loc_with(loc, k), "Unknown property.") end
  if it.linkId == nil then return add(issues, "missing", loc_with(loc, "linkId"), "Field required.") end
  if type(it.linkId) ~= "string" then return add(issues, "invalid_type", loc_with(loc, "linkId"),
    "Must be a string.") end
  local def = defs[it.linkId]
  if not def then
    unknown_link_id(it.linkId, defs, loc_with(loc, "linkId"), issues)
    return nil
  end
  local a, sub = it.answer, it.item
  if a ~= nil and json.typeof(a) ~= "array" then
    add(issues, "invalid_type", loc_with(loc, "answer"), "Must be an array.")
    a = nil
  end
  if sub ~= nil and json.typeof(sub) ~= "array" then
    add(issues, "invalid_type", loc_with(loc, "item"), "Must be an array.")
    sub = nil
  end
  if def.type == "group" then
    if a and #a > 0 then add(issues, "type_mismatch", loc_with(loc, "answer"), "A group carries item, not answer.") end
    if sub and #sub > 0 then validate_siblings(sub, def.children, loc_with(loc, "item"), issues, false) end
  else
    if sub and #sub > 0 then add(issues, "type_mismatch", loc_with(loc, "item"),
      "A question carries answer, not item.") end
    if a and #a > 1 then add(issues, "too_long", loc_with(loc, "answer"), "At most one Value.") end
    if a then
      local aloc = #a > 0 and loc_with(loc, "answer")
      for j = 1, #a do validate_value(a[j], def, loc_with(aloc, j - 1), issues) end
    end
  end
  return def
end

-- answers: decoded `answers` object. Adds issues; min_items: 1 for PATCH, 0 for create.
function questionnaire.validate(answers, loc, issues, min_items)
  if json.typeof(answers) ~= "object" then return add(issues, "invalid_type", loc, "Must be an object.") end
  local extras = {}
  for k in pairs(answers) do if k ~= "item" then extras[#extras + 1] = k end end
  table.sort(extras)
  for _, k in ipairs(extras) do add(issues, "extra_forbidden", loc_with(loc, k), "Unknown property.") end
  local items = answers.item
  if items == nil then return add(issues, "missing", loc_with(loc, "item"), "Field required.") end
  if json.typeof(items) ~= "array" then return add(issues, "invalid_type", loc_with(loc, "item"),
    "Must be an array.") end
  if #items < min_items then
    return add(issues, "too_short", loc_with(loc, "item"), string.format("At least %d item required.", min_items))
  end
  validate_siblings(items, TOP, loc_with(loc, "item"), issues, true)
end

---------------------------------------------------------------------------------------------------
-- Storage: store[linkId] = list of normalized AnswerItems (repetitions in order sent)

local normalize

local function normalize_list(list, defs)
  local out = json.array({})
  if not list then return out end
  local by = {}
  for _, it in ipairs(list) do
    if not questionnaire.is_clear(it) then
      by[it.linkId] = by[it.linkId] or {}
      table.insert(by[it.linkId], normalize(it, defs[it.linkId]))
    end
  end
  local order = {}
  for _, d in pairs(defs) do order[#order + 1] = d end
  table.sort(order, function(x, y) return x.order < y.order end)
  for _, d in ipairs(order) do
    for _, it in ipairs(by[d.linkId] or {}) do out[#out + 1] = it end
  end
  return out
end

normalize = function(it, def)
  local n = { linkId = it.linkId }
  if def.type == "group" then
    n.item = normalize_list(it.item, def.children)
  else
    n.answer = json.array({})
    if it.answer and it.answer[1] then n.answer[1] = json.copy(it.answer[1]) end
  end
  return n
end

-- Merge a validated answers.item list into store (replace by top-level linkId, clear on empty).
function questionnaire.merge(store, items)
  local sent = {}
  for _, it in ipairs(items) do
    local id = it.linkId
    if not sent[id] then
      sent[id] = true
      store[id] = nil
    end
    if not questionnaire.is_clear(it) then
      store[id] = store[id] or {}
      table.insert(store[id], normalize(it, TOP[id]))
    end
  end
end

local NONE = {} -- no stored answers for a linkId (read only)

-- The stored answers in questionnaire order: copies (a review snapshot keeps them), or the stored
-- items themselves when `shared` (a rendering encoded at once).
function questionnaire.render_answers(store, shared)
  local out = json.array({})
  for _, def in ipairs(ITEMS) do
    for _, it in ipairs(store[def.linkId] or NONE) do out[#out + 1] = shared and it or json.copy(it) end
  end
  return { item = out }
end

-- first Value's scalar of a top-level leaf
function questionnaire.value(store, link_id)
  local items = store[link_id]
  local v = items and items[1] and items[1].answer and items[1].answer[1]
  if not v then return nil end
  local _, x = next(v)
  if type(x) == "table" then return x.code end
  return x
end

---------------------------------------------------------------------------------------------------
-- Requirements: questions and invalid_answer_value issues

local function leaf_state(item, def)
  -- returns "missing", "invalid" (with message) or "ok"
  local v = item and item.answer and item.answer[1]
  if not v then return "missing" end
  local key, x = next(v)
  if key == nil then return "missing" end
  if def.type == "string" or def.type == "text" then
    if x == "" then return "missing" end
    if def.pattern_check and not def.pattern_check(x) then
      return "invalid", "Does not match the pattern " .. def.pattern .. "."
    end
    if def.maxLength and json.utf8_len(x) > def.maxLength then
      return "invalid", string.format("Longer than %d characters.", def.maxLength)
    end
  elseif def.type == "integer" or def.type == "decimal" then
    if (def.min and x < def.min) or (def.max and x > def.max) then
      return "invalid", string.format("Out of range (%s..%s).", def.min and string.format("%d", def.min) or "",
        def.max and string.format("%d", def.max) or "")
    end
  end
  return "ok"
end

-- Returns questions, issues (plain lists, in questionnaire order).
function questionnaire.requirements(store)
  local questions, issues = {}, {}
  for _, def in ipairs(ITEMS) do
    local items = store[def.linkId] or NONE
    local q_msg, issue_msg
    if def.type == "group" then
      local min = def.minOccurs or (def.required and 1 or 0)
      if #items < min then
        q_msg = string.format("At least %d %s required.", min, def.linkId)
      else
        for r, rep in ipairs(items) do
          local kids = {}
          for _, c in ipairs(rep.item or {}) do kids[c.linkId] = c end
          for _, cdef in ipairs(def.item) do
            local st, m = leaf_state(kids[cdef.linkId], cdef)
            if st == "missing" and cdef.required then
              q_msg = q_msg or string.format("Repetition %d lacks %s.", r, cdef.linkId)
            elseif st == "invalid" then
              q_msg = q_msg or string.format("Repetition %d: %s %s", r, cdef.linkId, m)
              issue_msg = issue_msg or q_msg
            end
          end
        end
      end
    else
      local st, m = leaf_state(items[1], def)
      if st == "missing" and def.required then
        q_msg = "Answer required."
      elseif st == "invalid" then
        q_msg = m
        issue_msg = m
      end
    end
    if q_msg then questions[#questions + 1] = { linkId = def.linkId, message = q_msg } end
    if issue_msg then
      issues[#issues + 1] = { code = "invalid_answer_value", message = issue_msg, field = def.linkId,
        severity = "error" }
    end
  end
  return questions, issues
end

---------------------------------------------------------------------------------------------------
-- Answer sets S and F (§6.2)

local function leaf(link_id, key, value)
  return { linkId = link_id, answer = json.array({ { [key] = value } }) }
end

function questionnaire.set_s(member_id)
  return {
    leaf("patient.firstName", "valueString", "Jane"),
    leaf("patient.lastName", "valueString", "Doe"),
    leaf("patient.dateOfBirth", "valueDate", "1990-04-12"),
    leaf("coverage.memberId", "valueString", member_id),
  }
end

function questionnaire.set_f(dx, units)
  return {
    { linkId = "diagnoses", item = json.array({
      leaf("code", "valueString", dx),
      leaf("qualifierCode", "valueCoding", { code = "ABF" }),
    }) },
    leaf("service.startDate", "valueDate", "2026-07-01"),
    leaf("service.units", "valueInteger", units),
    leaf("clinical.priorTherapyTried", "valueBoolean", true),
  }
end

return questionnaire
