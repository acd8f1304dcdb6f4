-- Workflow helpers: answers from a flat table, open requirements, one-call attach, polling and
-- drive(), which follows nextAction with the documented recoveries.
local collate = require "collate"
local errors = require "collate.errors"

local M = {}

-- The seed's status-aware poll intervals, in seconds.
M.intervals = { processing = 5, waiting_on_payer = 30 }

local TERMINAL = { completed = true, canceled = true }

local VALUE_KEY = {
  string = "value_string", text = "value_string", date = "value_date", boolean = "value_boolean",
  decimal = "value_decimal", integer = "value_integer",
}

local function index_items(items, into)
  into = into or {}
  for _, item in ipairs(items or {}) do into[item.link_id] = item end
  return into
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
  local out = {}
  for _, child in ipairs(item.item or {}) do
    local v = value[child.link_id]
    if v ~= nil then out[#out + 1] = answer_item(where .. "." .. child.link_id, child, v) end
  end
  for k in pairs(value) do
    if not children[k] then error(errors.invalid_argument(where .. ": unknown child '" .. tostring(k) .. "'"), 0) end
  end
  return { link_id = item.link_id, item = out }
end

-- "coverage.member_id" -> "coverage.memberId", so Lua-style names find the wire linkId.
local function camelize(name)
  return (name:gsub("_(%l)", string.upper))
end

-- answers(auth, {["coverage.memberId"] = "W1", ["service.units"] = 12,
--                diagnoses = {{code = "D57.00", qualifierCode = "ABF"}}})
-- builds the Answers table, typed by the authorization's questionnaire. A repeating group takes
-- a list of repetitions. Names may be the wire linkId or its snake_case form
-- ("coverage.member_id"). To clear an item, patch {link_id = id} yourself.
function M.answers(auth, flat)
  local items = index_items(auth.questionnaire and auth.questionnaire.item)
  local out = {}
  for link_id, value in pairs(flat) do
    local item = items[link_id] or items[camelize(link_id)]
    if not item then
      error(errors.invalid_argument("workflow.answers: '" .. tostring(link_id) .. "' is not in the questionnaire"), 2)
    end
    if item.repeats and item.type == "group" then
      for i, rep in ipairs(value) do out[#out + 1] = answer_item(link_id .. "[" .. i .. "]", item, rep) end
    else
      out[#out + 1] = answer_item(link_id, item, value)
    end
  end
  -- questionnaire order, so the request is the same for the same input
  local order = {}
  for i, item in ipairs(auth.questionnaire and auth.questionnaire.item or {}) do order[item.link_id] = i end
  table.sort(out, function(a, b) return order[a.link_id] < order[b.link_id] end)
  return { item = out }
end

-- What the caller still has to provide: {questions = {linkId...}, documents = {type...}, errors = {...}}
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

-- attach(client, auth, {path = | data =, file_name, content_type, document_types, description})
-- creates the file, uploads it, completes it and attaches it; returns the new authorization.
function M.attach(client, auth, file)
  local created = client.files.create{
    file_name = file.file_name or (file.path and file.path:match("([^/]+)$")),
    content_type = file.content_type or "application/pdf",
    purpose = "authorization_attachment" }
  client.files.upload{ upload = created.upload, path = file.path, data = file.data }
  local ready = client.files.complete{ file_id = created.file.id }
  return client.authorizations.attachments.create{
    authorization_id = auth.id, if_match = auth.version, file_id = ready.id,
    document_types = file.document_types, description = file.description }
end

local function settings(opts)
  opts = opts or {}
  return {
    sleep = opts.sleep or collate.sleep,
    clock = opts.clock or os.time,
    time_scale = opts.time_scale or tonumber(os.getenv("COLLATE_SANDBOX_CLOCK_SPEED")) or 1,
    timeout = opts.timeout, -- seconds, overall
  }
end

-- poll(client, auth, opts): re-reads until the authorization needs the caller (requires_action)
-- or is terminal. opts.timeout (seconds) bounds the wait; opts.on_change(auth) sees each version.
function M.poll(client, auth, opts)
  local s = settings(opts)
  local deadline = s.timeout and (s.clock() + s.timeout) or nil
  while M.intervals[auth.status] do
    if deadline and s.clock() >= deadline then
      error(errors.new({ kind = "timeout", retryable = false,
        message = "workflow.poll: " .. auth.id .. " still " .. auth.status .. " after " .. s.timeout .. " s" }), 0)
    end
    s.sleep(M.intervals[auth.status] / s.time_scale)
    local previous = auth.version
    auth = client.authorizations.retrieve{ authorization_id = auth.id }
    if opts and opts.on_change and auth.version ~= previous then opts.on_change(auth) end
  end
  return auth
end

local function reread(client, auth)
  return client.authorizations.retrieve{ authorization_id = auth.id }
end

-- Performs one write; on version_conflict re-reads and returns the fresh state (the loop then
-- decides again whether the action is still needed).
local function guarded(client, auth, write)
  local ok, result = pcall(write)
  if ok then return result end
  if errors.is_error(result, "version_conflict") then return reread(client, auth) end
  error(result, 0)
end

-- drive(client, auth, handlers, opts): follows nextAction until the authorization is terminal
-- or a handler declines. Handlers, each optional:
--   resolve_requirements(auth, open) -> new auth (patch answers / attach files), or nil to stop
--   approve_submission(auth, snapshot) -> true to accept this snapshot, false/nil to stop
--   complete_payer_interaction(auth) -> new auth, or nil to stop
--   continue_authorization is confirmed without asking unless handlers.continue_authorization
--   returns false.
-- Recoveries: version_conflict -> re-read and decide again; review_stale -> re-read and present
-- the new snapshot; requirements_not_satisfied -> re-read and go back to resolve_requirements.
-- Never confirms an action that is not confirmable.
function M.drive(client, auth, handlers, opts)
  handlers = handlers or {}
  local s = settings(opts)
  local deadline = s.timeout and (s.clock() + s.timeout) or nil
  while not TERMINAL[auth.status] do
    if deadline and s.clock() >= deadline then
      error(errors.new({ kind = "timeout", retryable = false,
        message = "workflow.drive: " .. auth.id .. " not finished after " .. s.timeout .. " s" }), 0)
    end
    if auth.status ~= "requires_action" then
      auth = M.poll(client, auth, { sleep = s.sleep, clock = s.clock, time_scale = s.time_scale,
        timeout = deadline and math.max(deadline - s.clock(), 0) or nil, on_change = opts and opts.on_change })
    else
      local action = auth.next_action.type
      local current = auth
      if action == "resolve_requirements" then
        if not handlers.resolve_requirements then return auth end
        local after = guarded(client, current, function()
          return handlers.resolve_requirements(current, M.open_requirements(current))
        end)
        if after == nil or (after.version == current.version and after.status == current.status) then
          return after or auth -- the handler made no change: the caller has to act
        end
        auth = after
      elseif action == "continue_authorization" then
        if handlers.continue_authorization and handlers.continue_authorization(current) == false then
          return auth
        end
        local ok, result = pcall(client.authorizations.confirm,
          { authorization_id = current.id, if_match = current.version })
        if ok then
          auth = result
        elseif errors.is_error(result, "version_conflict") or errors.is_error(result, "requirements_not_satisfied")
          or errors.is_error(result, "prior_authorization_not_actionable") then
          auth = reread(client, current)
        else
          error(result, 0)
        end
      elseif action == "approve_submission" then
        local snapshot = current.submission and current.submission.review_snapshot
        if not handlers.approve_submission or not snapshot or not handlers.approve_submission(current, snapshot) then
          return auth
        end
        local ok, result = pcall(client.authorizations.confirm, { authorization_id = current.id,
          if_match = current.version, request = { accepted_review_snapshot_id = snapshot.id } })
        if ok then
          auth = result
        elseif errors.is_error(result, "version_conflict") or errors.is_error(result, "review_stale")
          or errors.is_error(result, "prior_authorization_not_actionable") then
          auth = reread(client, current) -- a new snapshot is presented on the next turn
        else
          error(result, 0)
        end
      else
        local handler = handlers[action]
        if not handler then return auth end
        local after = guarded(client, current, function() return handler(current) end)
        if after == nil or after.version == current.version then return after or auth end
        auth = after
      end
      if opts and opts.on_change and auth.version ~= current.version then opts.on_change(auth) end
    end
  end
  return auth
end

return M
