-- Resumable bulk runs: drive many cases through their lifecycle at once, journaled so that a
-- re-run after a crash resumes every case instead of creating it again.
--
--   local report = bulk.run{client = client, cases = cases, journal = journal.open(path),
--                           concurrency = 500, max_connections = 16, approve = true, handoff = true,
--                           document = "scripts/examples/clinical-note.pdf", progress = p}
--
-- A case: {id, create = {provider_npi, request, policy, answers}, answers = {[linkId] = value}}
-- (case_from_row builds one from a CSV row). Per case, in order: the journal gets the
-- idempotency key (flushed) before the create is sent, then the authorization ID once it is
-- known, then each state drive() reaches. On a re-run a case with an ID is re-read and driven
-- on; one with only a key is created again with the same key, which the API replays.
local collate = require "collate"
local errors = require "collate.errors"
local compat = require "collate.compat"
local workflow = require "collate.workflow"

local M = {}

local function bool(v)
  if v == nil then return nil end
  v = tostring(v):lower()
  if v == "true" or v == "yes" or v == "1" or v == "y" then return true end
  if v == "false" or v == "no" or v == "0" or v == "n" then return false end
  return nil
end

M.COLUMNS = {
  "case_id", "provider_npi", "payer_id", "coverage_state", "request_type", "code_system", "code",
  "final_submission", "member_id", "first_name", "last_name", "date_of_birth", "diagnosis_code",
  "diagnosis_qualifier", "start_date", "units", "prior_therapy_tried", "notes",
}

-- case_from_row(row) -> case, or nil, message. The create carries the patient and coverage
-- answers; the clinical ones are patched when the requirements ask for them.
function M.case_from_row(row)
  local where = "line " .. tostring(row._line or "?")
  for _, name in ipairs({ "case_id", "provider_npi", "payer_id", "coverage_state", "request_type",
                          "code_system", "code", "final_submission" }) do
    if not row[name] then return nil, where .. ": " .. name .. " is empty" end
  end
  local answers = {
    ["patient.firstName"] = row.first_name,
    ["patient.lastName"] = row.last_name,
    ["patient.dateOfBirth"] = row.date_of_birth,
    ["coverage.memberId"] = row.member_id,
    ["service.startDate"] = row.start_date,
    ["service.units"] = compat.tointeger(tonumber(row.units)),
    ["clinical.priorTherapyTried"] = bool(row.prior_therapy_tried),
    ["clinical.notes"] = row.notes,
  }
  if row.diagnosis_code then
    answers.diagnoses = { { code = row.diagnosis_code, qualifierCode = row.diagnosis_qualifier or "ABF" } }
  end
  local create_items = {}
  local function text(link, v, key)
    if v then create_items[#create_items + 1] = { link_id = link, answer = { { [key or "value_string"] = v } } } end
  end
  text("patient.firstName", row.first_name)
  text("patient.lastName", row.last_name)
  text("patient.dateOfBirth", row.date_of_birth, "value_date")
  text("coverage.memberId", row.member_id)
  local create = {
    provider_npi = row.provider_npi,
    request = { payer_id = row.payer_id, coverage_state = row.coverage_state, request_type = row.request_type,
                service_code = { system = row.code_system, code = row.code } },
    policy = { final_submission = row.final_submission },
    metadata = { external_case_id = row.case_id },
  }
  if #create_items > 0 then create.answers = { item = create_items } end
  return { id = row.case_id, create = create, answers = answers }
end

-- The handlers one case is driven with. `sent` and `attached` remember what this run already
-- gave, so a requirement the case's data cannot satisfy stops the case (needs_caller) instead
-- of patching the same values forever.
local function case_handlers(client, case, o)
  case = case or { answers = {} }
  local sent, attached = {}, {}
  local h = {}
  function h.resolve_requirements(auth, open)
    local flat, n = {}, 0
    for _, link in ipairs(open.questions) do
      if case.answers[link] ~= nil and not sent[link] then
        flat[link] = case.answers[link]
        sent[link] = true
        n = n + 1
      end
    end
    for _, issue in ipairs(open.errors) do -- an invalid value: nothing better to send
      if issue.field then sent[issue.field] = true end
    end
    if n > 0 then
      auth = client.authorizations.answers.patch{ authorization_id = auth.id, if_match = auth.version,
        answers = workflow.answers(auth, flat) }
      open = workflow.open_requirements(auth)
    end
    local types = {}
    if o.document then
      for _, t in ipairs(open.documents) do
        if not attached[t] then types[#types + 1] = t end
      end
    end
    if #types > 0 then
      for _, t in ipairs(types) do attached[t] = true end
      auth = workflow.attach(client, auth, { path = o.document, content_type = o.document_content_type,
        document_types = types, description = "attached by bulk run" })
    end
    return auth
  end
  if o.approve then
    function h.approve_submission() return true end
  end
  if o.handoff then
    function h.complete_payer_interaction(auth)
      return workflow.manual_handoff(client, auth, { outcome = "submitted" })
    end
  end
  return h
end

-- a journal record's status as counted in reports: "completed:<outcome>" for completed ones
local function record_status(rec)
  if rec.status == "completed" then return "completed:" .. tostring(rec.outcome) end
  return rec.status or "pending"
end

local function progress_status(auth)
  if auth.status == "completed" then return "completed:" .. tostring(auth.outcome) end
  if auth.status == "requires_action" and auth.next_action then return "requires_action" end
  return auth.status
end

-- One case from wherever the journal left it to terminal, or until it needs the caller.
local function run_case(o, case)
  local client, journal, progress = o.client, o.journal, o.progress
  local rec = journal:get(case.id)
  if rec and rec.final then
    return rec
  end
  local auth
  if rec and rec.auth then
    auth = client.authorizations.retrieve{ authorization_id = rec.auth }
  else
    local key = rec and rec.key
    if not key then
      key = collate.uuid4()
      journal:record(case.id, { key = key, status = "pending" }) -- flushed before the create leaves
    end
    local params = {}
    for k, v in pairs(case.create) do params[k] = v end
    params.idempotency_key = key
    auth = client.authorizations.create(params)
    journal:record(case.id, { auth = auth.id, status = auth.status })
  end
  if progress then progress:set(case.id, progress_status(auth)) end
  local why
  auth, why = workflow.drive(client, auth, case_handlers(client, case, o), {
    time_scale = o.time_scale, timeout = o.case_timeout, stats = o.stats,
    on_change = function(a)
      if progress then progress:set(case.id, progress_status(a)) end
      if o.journal_every_change then journal:record(case.id, { status = a.status, version = a.version }) end
    end,
  })
  local final = workflow.TERMINAL[auth.status] or false
  local fields = { auth = auth.id, status = auth.status, outcome = auth.outcome, final = final,
                   waiting = (not final) and (auth.next_action and auth.next_action.type) or false,
                   error = false, version = auth.version, stopped = why }
  if progress then progress:set(case.id, progress_status(auth)) end
  return journal:record(case.id, fields)
end

-- run(o) -> report {total, by_status = {[status or "completed:<outcome>"] = n}, failed = {{case, error}}}
-- o: client, cases, journal, concurrency (default 64), max_connections (default 16),
--    approve, handoff, document, time_scale, case_timeout, progress, sequential (no scheduler),
--    stats (counts drive()'s recoveries), journal_every_change
function M.run(o)
  assert(o.client and o.cases and o.journal, "bulk.run: client, cases and journal are required")
  local progress = o.progress
  if progress then
    for _, case in ipairs(o.cases) do
      local rec = o.journal:get(case.id)
      progress:set(case.id, rec and rec.final and record_status(rec) or "pending")
    end
  end
  local failed = {}
  local function one(case)
    local ok, err = compat.pcall(run_case, o, case) -- yields inside collate.run, also on Lua 5.1
    if not ok then
      failed[#failed + 1] = { case = case.id, error = tostring(err) }
      o.journal:record(case.id, { error = tostring(err), final = false })
      if progress then progress:set(case.id, "failed") end
    end
  end
  if o.sequential then
    for _, case in ipairs(o.cases) do one(case) end
  else
    local next_index = 0
    local function worker()
      while true do
        next_index = next_index + 1
        local case = o.cases[next_index]
        if not case then return end
        one(case)
      end
    end
    collate.run(function()
      local tasks = {}
      for i = 1, math.min(o.concurrency or 64, #o.cases) do tasks[i] = collate.spawn(worker) end
      collate.wait_all(tasks)
    end, { max_connections = o.max_connections })
  end
  if progress then progress:finish() end
  local by_status = {}
  for _, case in ipairs(o.cases) do
    local rec = o.journal:get(case.id) or {}
    local s = rec.error and "failed" or record_status(rec)
    by_status[s] = (by_status[s] or 0) + 1
  end
  return { total = #o.cases, by_status = by_status, failed = failed, stats = o.stats }
end

M.handlers = case_handlers
M.progress_status = progress_status
M.errors = errors
return M
