-- Workflow helpers: answers from a flat table, open requirements, one-call attach, polling and
-- drive(), which follows nextAction with the documented recoveries (contract §5, class W).
-- Every call goes through the client, so inside collate.run it all yields instead of blocking.
local core = require "collate.core"
local errors = require "collate.errors"
local compat = require "collate.compat"

local M = {}

-- The seed's status-aware poll intervals, in seconds of the API's clock: 5 while Collate
-- works, 30 while the payer does.
M.intervals = { processing = 5, waiting_on_payer = 30 }
-- seconds of the API's clock between reads of a handoff still `offered` (manual_handoff)
M.handoff_activation_interval = 1

M.TERMINAL = { completed = true, canceled = true }

local VALUE_KEY = {
  string = "value_string", text = "value_string", date = "value_date", boolean = "value_boolean",
  decimal = "value_decimal", integer = "value_integer",
}

-- "coverage.member_id" -> "coverage.memberId", so Lua-style names find the wire linkId.
local function camelize(name)
  return (name:gsub("_(%l)", string.upper))
end

local function index_items(items)
  local into = {}
  for _, item in ipairs(items or {}) do into[item.link_id] = item end
  return into
end

local function find(index, name)
  return index[name] or index[camelize(name)]
end

local function leaf_answer(where, item, value)
  if item.type == "choice" then
    if type(value) ~= "string" then
      error(errors.invalid_argument(where .. ": a choice takes its option code"), 0)
    end
    return { { value_coding = { code = value } } }
  end
  local key = VALUE_KEY[item.type]
  if not key then
    error(errors.invalid_argument(where .. ": cannot answer an item of type " .. tostring(item.type)), 0)
  end
  return { { [key] = value } }
end

local function answer_item(where, item, value)
  if item.type ~= "group" then
    return { link_id = item.link_id, answer = leaf_answer(where, item, value) }
  end
  if type(value) ~= "table" then
    error(errors.invalid_argument(where .. ": a group takes a table of its children's answers"), 0)
  end
  local children = index_items(item.item)
  local given = {}
  for k, v in pairs(value) do
    local child = type(k) == "string" and find(children, k)
    if not child then error(errors.invalid_argument(where .. ": unknown child '" .. tostring(k) .. "'"), 0) end
    given[child.link_id] = v
  end
  local out = {}
  for _, child in ipairs(item.item or {}) do
    local v = given[child.link_id]
    if v ~= nil then out[#out + 1] = answer_item(where .. "." .. child.link_id, child, v) end
  end
  return { link_id = item.link_id, item = out }
end

-- answers(auth, {["coverage.member_id"] = "W1", ["service.units"] = 12,
--                diagnoses = {{code = "D57.00", qualifier_code = "ABF"}}})
-- builds the Answers table for answers.patch / create, typed by the authorization's
-- questionnaire (auth may also be a questionnaire). Names may be the wire linkId or its
-- snake_case form. A repeating group takes a list of repetitions. Items come out in
-- questionnaire order, so the same input always makes the same request body.
function M.answers(auth, flat)
  local questionnaire = auth.questionnaire or auth
  local top = questionnaire.item or {}
  local items = index_items(top)
  local out = {}
  for link_id, value in pairs(flat) do
    local item = type(link_id) == "string" and find(items, link_id)
    if not item then
      error(errors.invalid_argument("workflow.answers: '" .. tostring(link_id) .. "' is not in the questionnaire"), 2)
    end
    if item.repeats and item.type == "group" then
      if type(value) ~= "table" or (value[1] == nil and next(value) ~= nil) then
        error(errors.invalid_argument("workflow.answers: " .. item.link_id ..
          " repeats: give a list of repetitions"), 2)
      end
      for i, rep in ipairs(value) do out[#out + 1] = answer_item(item.link_id .. "[" .. i .. "]", item, rep) end
    else
      out[#out + 1] = answer_item(item.link_id, item, value)
    end
  end
  local order = {}
  for i, item in ipairs(top) do order[item.link_id] = i end
  -- table.sort is not stable: repetitions keep their order through their original position
  for i, item in ipairs(out) do item._pos = i end
  table.sort(out, function(a, b)
    if a.link_id ~= b.link_id then return order[a.link_id] < order[b.link_id] end
    return a._pos < b._pos
  end)
  for _, item in ipairs(out) do item._pos = nil end
  return { item = out }
end

-- What the caller still has to provide:
-- {questions = {linkId...}, documents = {type...}, errors = {issue...}, blocking = bool}
function M.open_requirements(auth)
  local r = auth.requirements or {}
  local open = { questions = {}, documents = {}, errors = {} }
  for _, q in ipairs(r.questions or {}) do open.questions[#open.questions + 1] = q.link_id end
  for _, d in ipairs(r.documents or {}) do open.documents[#open.documents + 1] = d.type end
  for _, issue in ipairs(r.issues or {}) do
    if issue.severity == "error" then open.errors[#open.errors + 1] = issue end
  end
  open.blocking = #open.questions + #open.documents + #open.errors > 0
  return open
end

-- attach(client, auth, {path = | data =, file_name?, content_type?, document_types, description?})
-- creates the file, uploads it, completes it and attaches it; returns the new authorization.
-- A version_conflict on the attach itself is raised (drive() re-reads and asks again).
function M.attach(client, auth, file)
  if type(file) ~= "table" or type(file.document_types) ~= "table" or #file.document_types == 0 then
    error(errors.invalid_argument("workflow.attach: document_types (a non-empty list) is required"), 2)
  end
  local name = file.file_name or (file.path and file.path:match("([^/]+)$"))
  if not name then error(errors.invalid_argument("workflow.attach: file_name or path is required"), 2) end
  local function create()
    return client.files.create{
      file_name = name,
      content_type = file.content_type or "application/pdf",
      purpose = "authorization_attachment" }
  end
  local created = create()
  local ok, err = pcall(client.files.upload, { upload = created.upload, path = file.path, data = file.data })
  if not ok then
    -- upload URLs expire (their host answers 403): once, a fresh file and URL
    local expired = errors.is_error(err) and err.status_code == 403 and err.operation == "files.upload"
    if not expired then error(err, 0) end
    created = create()
    client.files.upload{ upload = created.upload, path = file.path, data = file.data }
  end
  local ready = client.files.complete{ file_id = created.file.id }
  return client.authorizations.attachments.create{
    authorization_id = auth.id, if_match = auth.version, file_id = ready.id,
    document_types = file.document_types, description = file.description }
end

local function settings(opts)
  opts = opts or {}
  local scale = opts.time_scale or tonumber(os.getenv("COLLATE_SANDBOX_CLOCK_SPEED") or "") or 1
  return {
    sleep = opts.sleep or require("collate").sleep,
    clock = opts.clock or core.now,
    time_scale = scale,
    timeout = opts.timeout, -- seconds of wall time, overall
    on_change = opts.on_change,
  }
end

local function timed_out(what, auth, seconds)
  return errors.new({ kind = "timeout", retryable = false, code = "workflow_deadline",
    message = what .. ": " .. auth.id .. " still " .. tostring(auth.status) .. " after " .. seconds .. " s" })
end

-- poll(client, auth, opts) -> auth: re-reads until the authorization needs the caller
-- (requires_action) or is terminal, sleeping M.intervals[status] / time_scale between reads.
-- opts: timeout (seconds, raises a timeout Error), time_scale (default
-- $COLLATE_SANDBOX_CLOCK_SPEED or 1), on_change(auth) for each new version, sleep, clock.
function M.poll(client, auth, opts)
  local s = settings(opts)
  local deadline = s.timeout and (s.clock() + s.timeout) or nil
  while M.intervals[auth.status] do
    local pause = M.intervals[auth.status] / s.time_scale
    if deadline then
      local left = deadline - s.clock()
      if left <= 0 then error(timed_out("workflow.poll", auth, s.timeout), 0) end
      if pause > left then pause = left end
    end
    s.sleep(pause)
    local previous = auth.version
    auth = client.authorizations.retrieve{ authorization_id = auth.id }
    if s.on_change and auth.version ~= previous then s.on_change(auth) end
  end
  return auth
end

local function reread(client, auth)
  return client.authorizations.retrieve{ authorization_id = auth.id }
end

-- The workflow-class errors (contract §5, class W) drive() recovers from by re-reading.
local RECOVER = {
  continue_authorization = { version_conflict = true, requirements_not_satisfied = true,
                             prior_authorization_not_actionable = true },
  approve_submission = { version_conflict = true, review_stale = true,
                         prior_authorization_not_actionable = true },
}

-- Runs a write; on a recoverable error re-reads and returns the fresh state, which the loop then
-- looks at again. `budget` bounds recoveries that find the same version (review_stale with a
-- snapshot the handler insisted on, a caller's stale view of the action): after 3 the error stands.
local function recovering(client, auth, codes, stats, budget, write)
  local ok, result = compat.pcall(write) -- yields inside collate.run, also on Lua 5.1
  if ok then return result end
  local code = errors.is_error(result) and result.code
  if not (code and codes[code]) then error(result, 0) end
  stats[code] = (stats[code] or 0) + 1
  local fresh = reread(client, auth)
  if fresh.version == auth.version then
    budget.same = budget.same + 1
    if budget.same > 3 then error(result, 0) end
  end
  return fresh
end

local WRITE_RECOVER = { version_conflict = true }

-- drive(client, auth, handlers, opts) -> auth, why
-- Follows nextAction until the authorization is terminal (why = "terminal") or needs a decision
-- the handlers do not make (why = "needs_caller"). Polls in between (poll() rules, opts as poll
-- plus opts.stats, a table counting the recoveries by error code; opts.poll = false returns
-- (auth, "waiting") as soon as the API owns the next step instead of polling).
-- Handlers, each optional, each given (auth, extra) and returning the new authorization:
--   resolve_requirements(auth, open)  patch answers / attach files (open = open_requirements);
--                                     nil or an unchanged auth stops
--   continue_authorization(auth)      return false to stop; confirmed otherwise
--   approve_submission(auth, snapshot) true accepts the snapshot presented; a string accepts the
--                                     snapshot with that ID (what the approver signed off);
--                                     false/nil stops
--   complete_payer_interaction(auth)  run the manual handoff; nil stops
-- Recoveries: version_conflict -> re-read, act again only if the new state still needs it;
-- review_stale -> re-read, present the new snapshot to approve_submission again;
-- requirements_not_satisfied -> re-read, back to resolve_requirements. Confirm is only called
-- when nextAction.resolution.kind is "confirm".
function M.drive(client, auth, handlers, opts)
  handlers = handlers or {}
  opts = opts or {}
  local s = settings(opts)
  local stats = opts.stats or {}
  local budget = { same = 0 }
  local deadline = s.timeout and (s.clock() + s.timeout) or nil
  local function changed(a, b)
    if s.on_change and a.version ~= b.version then s.on_change(a) end
  end
  while not M.TERMINAL[auth.status] do
    if deadline and s.clock() >= deadline then error(timed_out("workflow.drive", auth, s.timeout), 0) end
    if auth.status ~= "requires_action" or not auth.next_action then
      if opts.poll == false then return auth, "waiting" end
      auth = M.poll(client, auth, { sleep = s.sleep, clock = s.clock, time_scale = s.time_scale,
        timeout = deadline and math.max(deadline - s.clock(), 0) or nil, on_change = s.on_change })
    else
      local current = auth
      local action = current.next_action.type
      local confirmable = current.next_action.resolution and current.next_action.resolution.kind == "confirm"
      if action == "resolve_requirements" then
        if not handlers.resolve_requirements then return current, "needs_caller" end
        local after = recovering(client, current, WRITE_RECOVER, stats, budget, function()
          return handlers.resolve_requirements(current, M.open_requirements(current))
        end)
        if after == nil or after.version == current.version then return after or current, "needs_caller" end
        auth = after
      elseif action == "continue_authorization" and confirmable then
        if handlers.continue_authorization and handlers.continue_authorization(current) == false then
          return current, "needs_caller"
        end
        auth = recovering(client, current, RECOVER.continue_authorization, stats, budget, function()
          return client.authorizations.confirm{ authorization_id = current.id, if_match = current.version }
        end)
      elseif action == "approve_submission" and confirmable then
        local snapshot = current.submission and current.submission.review_snapshot
        local accept = handlers.approve_submission and snapshot and snapshot.status == "current"
          and handlers.approve_submission(current, snapshot)
        if not accept then return current, "needs_caller" end
        -- true: the snapshot presented; a string: the snapshot ID the approver signed off
        local snapshot_id = type(accept) == "string" and accept or snapshot.id
        auth = recovering(client, current, RECOVER.approve_submission, stats, budget, function()
          return client.authorizations.confirm{ authorization_id = current.id, if_match = current.version,
            request = { accepted_review_snapshot_id = snapshot_id } }
        end)
      else
        -- complete_payer_interaction, or an action this library does not know: the handler
        -- named after it decides; confirm is never called for it.
        local handler = handlers[action]
        if not handler then return current, "needs_caller" end
        local after = recovering(client, current, WRITE_RECOVER, stats, budget, function() return handler(current) end)
        if after == nil or after.version == current.version then return after or current, "needs_caller" end
        auth = after
      end
      changed(auth, current)
    end
  end
  return auth, "terminal"
end

-- manual_handoff(client, auth, opts) -> auth: the complete_payer_interaction routine a script
-- usually wants: accept the handoff (with the snapshot it names), mint a grant (the operator's
-- link, handed to opts.on_grant(grant) and never logged), then report opts.outcome (default
-- "submitted") and return the re-read authorization.
function M.manual_handoff(client, auth, opts)
  opts = opts or {}
  local covers = auth.next_action and auth.next_action.covers or {}
  local handoff = client.authorizations.manual_handoffs.create{
    authorization_id = auth.id, if_match = auth.version,
    accepted_review_snapshot_id = covers.review_snapshot_id }
  -- a handoff may be created `offered` and become `active` a moment later (contract §3.1
  -- ManualHandoff.state): grants and closes need it active, so wait for that
  local s = settings(opts)
  local deadline = s.clock() + (opts.activation_timeout or 120)
  while handoff.state == "offered" do
    if s.clock() >= deadline then
      error(errors.new({ kind = "timeout", retryable = false, code = "workflow_deadline",
        message = "workflow.manual_handoff: " .. handoff.id .. " still offered after "
          .. (opts.activation_timeout or 120) .. " s" }), 0)
    end
    s.sleep(M.handoff_activation_interval / s.time_scale)
    handoff = client.authorizations.manual_handoffs.retrieve{ authorization_id = auth.id, handoff_id = handoff.id }
  end
  local grant = client.authorizations.manual_handoffs.create_access_grant{
    authorization_id = auth.id, handoff_id = handoff.id }
  if opts.on_grant then opts.on_grant(grant) end
  local fresh = reread(client, auth) -- handoff create moved the version
  client.authorizations.manual_handoffs.complete{
    authorization_id = auth.id, handoff_id = handoff.id, if_match = fresh.version,
    reported_outcome = opts.outcome or "submitted",
    observed_reference_number = opts.reference_number }
  return reread(client, auth)
end

return M
