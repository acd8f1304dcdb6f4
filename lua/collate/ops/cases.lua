-- Cases from CSV rows, and their answers typed for the questionnaire.
--
-- Columns (by header name):
--   case_id provider_npi payer_id coverage_state request_type code_system code final_submission
--                             the create (all required); case_id becomes metadata.externalCaseId
--   answer:LINKID             an answer, by the questionnaire's linkId (answer:coverage.memberId,
--                             answer:service.units); a child of a group as answer:GROUP.CHILD
--                             (answer:diagnoses.code), one repetition
--   metadata:KEY              a metadata entry of the create
--   member_id first_name last_name date_of_birth diagnosis_code diagnosis_qualifier start_date
--   units prior_therapy_tried notes
--                             the older short names, kept: each maps to one linkId (ALIASES)
-- Any other column is reported by name (a warning) and ignored.
local M = {}

M.REQUIRED = { "case_id", "provider_npi", "payer_id", "coverage_state", "request_type", "code_system", "code",
               "final_submission" }

M.ALIASES = {
  member_id = "coverage.memberId", first_name = "patient.firstName", last_name = "patient.lastName",
  date_of_birth = "patient.dateOfBirth", diagnosis_code = "diagnoses.code",
  diagnosis_qualifier = "diagnoses.qualifierCode", start_date = "service.startDate", units = "service.units",
  prior_therapy_tried = "clinical.priorTherapyTried", notes = "clinical.notes",
}

local KNOWN = {}
for _, c in ipairs(M.REQUIRED) do KNOWN[c] = true end

-- check_header(header) -> list of warnings naming each column that means nothing here
function M.check_header(header)
  local warnings, seen = {}, {}
  for _, name in ipairs(header) do
    if seen[name] then
      warnings[#warnings + 1] = "column " .. name .. " appears twice: the last one wins"
    end
    seen[name] = true
    if not (KNOWN[name] or M.ALIASES[name] or name:match("^answer:.+") or name:match("^metadata:.+")
            or name == "") then
      warnings[#warnings + 1] = "column " .. name .. " is not known and is ignored " ..
        "(answers take answer:LINKID, for example answer:coverage.memberId; metadata takes metadata:KEY)"
    end
  end
  for _, name in ipairs(M.REQUIRED) do
    if not seen[name] then warnings[#warnings + 1] = "column " .. name .. " is missing: every case needs it" end
  end
  return warnings
end

-- from_row(row) -> case {id, payer, code, input = {fields, answers, metadata}}, or nil, message
function M.from_row(row)
  local where = "line " .. tostring(row._line or "?")
  local fields, answers, metadata = {}, {}, {}
  for _, name in ipairs(M.REQUIRED) do
    if not row[name] then return nil, where .. ": " .. name .. " is empty" end
    fields[name] = row[name]
  end
  for name, v in pairs(row) do
    if type(name) == "string" then
      local link = name:match("^answer:(.+)$") or M.ALIASES[name]
      local key = name:match("^metadata:(.+)$")
      if link then answers[link] = v end
      if key then metadata[key] = v end
    end
  end
  return { id = row.case_id, payer = row.payer_id, code = row.code,
           input = { fields = fields, answers = answers, metadata = metadata } }
end

local DATE = "^%d%d%d%d%-%d%d%-%d%d$"

-- create_params(case) -> the authorizations.create parameters (without the idempotency key).
-- The create carries the patient and coverage answers (coverage.memberId picks the sandbox
-- scenario); the others are patched when the requirements ask for them, typed by the questionnaire.
function M.create_params(case)
  local f, input = case.input.fields, case.input
  local metadata = { external_case_id = case.id }
  for k, v in pairs(input.metadata or {}) do metadata[k] = v end
  local items, links = {}, {}
  for link in pairs(input.answers or {}) do
    if link:match("^patient%.") or link:match("^coverage%.") then links[#links + 1] = link end
  end
  table.sort(links)
  for _, link in ipairs(links) do
    local v = input.answers[link]
    items[#items + 1] = { link_id = link, answer = { { [v:match(DATE) and "value_date" or "value_string"] = v } } }
  end
  local params = {
    provider_npi = f.provider_npi,
    request = { payer_id = f.payer_id, coverage_state = f.coverage_state, request_type = f.request_type,
                service_code = { system = f.code_system, code = f.code } },
    policy = { final_submission = f.final_submission },
    metadata = metadata,
  }
  if #items > 0 then params.answers = { item = items } end
  return params
end

local function bool(v)
  v = tostring(v):lower()
  if v == "true" or v == "yes" or v == "1" or v == "y" then return true end
  if v == "false" or v == "no" or v == "0" or v == "n" then return false end
  return nil
end

-- typed(item, text) -> the value workflow.answers takes for an item of that type, or nil, why
local function typed(item, text)
  if type(text) ~= "string" then return text end
  local t = item.type
  if t == "integer" then
    local n = math.tointeger(tonumber(text))
    if not n then return nil, "'" .. text .. "' is not an integer" end
    return n
  elseif t == "decimal" then
    local n = tonumber(text)
    if not n then return nil, "'" .. text .. "' is not a number" end
    return n
  elseif t == "boolean" then
    local b = bool(text)
    if b == nil then return nil, "'" .. text .. "' is not true/false" end
    return b
  end
  return text
end

local function index(items)
  local out = {}
  for _, item in ipairs(items or {}) do out[item.link_id] = item end
  return out
end

-- answers_for(auth, answers, links) -> flat table for workflow.answers covering the top-level
-- linkIds `links` (nil: all), or nil, message naming the answer that cannot be used.
-- answers: {[linkId or "GROUP.CHILD"] = value (text from the CSV or a Lua value from rules)}
function M.answers_for(auth, answers, links)
  local top = index(auth.questionnaire and auth.questionnaire.item)
  local want
  if links then
    want = {}
    for _, l in ipairs(links) do want[l] = true end
  end
  local flat = {}
  for link, value in pairs(answers) do
    local item, group, child = top[link], nil, nil
    if not item then
      local gi
      for dot in link:gmatch("()%.") do -- the split whose left side is a group
        local g = link:sub(1, dot - 1)
        if top[g] and top[g].type == "group" then group, child, gi = g, link:sub(dot + 1), top[g] end
      end
      if gi and gi.type == "group" then
        item = index(gi.item)[child]
        if not item then return nil, "answer " .. link .. ": " .. group .. " has no item " .. child end
      else
        return nil, "answer " .. link .. ": no such linkId in the questionnaire"
      end
    end
    local top_link = group or link
    if not want or want[top_link] then
      if type(value) == "table" then
        flat[top_link] = value -- from rules: already shaped (a list of repetitions for a group)
      else
        local v, why = typed(item, value)
        if v == nil then return nil, "answer " .. link .. ": " .. why end
        if group then
          local reps = flat[group] or { {} }
          reps[1][child] = v
          flat[group] = reps
        else
          flat[link] = v
        end
      end
    end
  end
  return flat
end

return M
