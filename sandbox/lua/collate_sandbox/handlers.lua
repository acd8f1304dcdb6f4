-- The /v1 route table: per route its checks (If-Match, Idempotency-Key, body schema) and its
-- handler. Handlers get ctx {st, req, now, params, query, body, if_match} and return
-- status, body_table or a full response table.
local json = require "collate_sandbox.json"
local http = require "collate_sandbox.http"
local validate = require "collate_sandbox.validate"
local questionnaire = require "collate_sandbox.questionnaire"
local authorizations = require "collate_sandbox.authorizations"
local livesession = require "collate_sandbox.livesession"
local files = require "collate_sandbox.files"
local catalog = require "collate_sandbox.catalog"
local scenarios = require "collate_sandbox.scenarios"
local paginate = require "collate_sandbox.paginate"

local handlers = {}

local string_field = function(t) t.type = "string" return t end
local OBJ = function(fields, extra) return { type = "object", fields = fields, extra = extra } end

local DOC_TYPES = { "clinical_notes", "letter_of_medical_necessity", "lab_results", "imaging_report",
  "prescription", "treatment_plan", "prior_therapy_history", "payer_form", "other" }

local function state_check(v)
  if not v:find("^%u%u$") then return "invalid_format", "Must be a two-letter USPS state code." end
end

local function metadata_check(v)
  if #json.encode(v) > 16384 then return "too_long", "metadata is limited to 16 KiB serialized." end
end

local ROUTE_FIELDS = {
  { "payerId", string_field { required = true, min_len = 1 } },
  { "coverageState", string_field { required = true, check = state_check } },
  { "requestType", string_field { required = true, enum = validate.REQUEST_TYPES } },
  { "serviceCode", validate.service_code_schema(true) },
}

local CREATE = OBJ {
  { "providerNpi", string_field { required = true, check = validate.npi_check } },
  { "request", OBJ(ROUTE_FIELDS) },
  { "policy", OBJ { { "finalSubmission", string_field { enum = { "requires_approval", "automatic" } } } } },
  { "answers", { type = "any" } },
  { "metadata", { type = "object", extra = "allow", check = metadata_check,
    fields = { { "externalCaseId", string_field {} } } } },
}
CREATE.fields[2][2].required = true

local RESOLVE = OBJ {
  { "providerNpi", string_field { required = true, check = validate.npi_check } },
  ROUTE_FIELDS[1], ROUTE_FIELDS[2], ROUTE_FIELDS[3], ROUTE_FIELDS[4],
}

local PATCH = OBJ { { "answers", { type = "any", required = true } } }

local ATTACH = OBJ {
  { "fileId", string_field { required = true, min_len = 1 } },
  { "documentTypes", { type = "array", required = true, min_items = 1, unique = true,
    items = string_field { enum = DOC_TYPES } } },
  { "description", string_field { max_len = 1000, nullable = true } },
}

local CONFIRM = OBJ { { "acceptedReviewSnapshotId", string_field { nullable = true } } }
local CANCEL = OBJ { { "reason", string_field { max_len = 500, nullable = true } } }
local EMPTY = OBJ {}

local FILE_CREATE = OBJ {
  { "fileName", string_field { required = true, min_len = 1, max_len = 255, check = function(v)
    if v:find("[/\\]") then return "invalid_format", "fileName must not contain / or \\." end
  end } },
  { "contentType", string_field { required = true, enum = { "application/pdf", "image/jpeg", "image/png" } } },
  { "purpose", string_field { required = true, enum = { "authorization_attachment" } } },
}

local HANDOFF_CREATE = OBJ { { "acceptedReviewSnapshotId", string_field { nullable = true } } }
local HANDOFF_COMPLETE = OBJ {
  { "reportedOutcome", string_field { required = true, enum = { "submitted", "decision_observed",
    "not_required_observed",
    "follow_up_required_observed" } } },
  { "observedReferenceNumber", string_field { max_len = 100, nullable = true } },
  { "operatorNotes", string_field { max_len = 2000, nullable = true } },
}
local HANDOFF_UNABLE = OBJ {
  { "reason", string_field { required = true, enum = { "channel_blocked", "missing_information",
    "credential_or_mfa_issue",
    "channel_outage", "operator_abandoned_case", "wrong_route", "other" } } },
  { "operatorNotes", string_field { max_len = 2000, nullable = true } },
}
local HANDOFF_REVOKE = OBJ {
  { "reason", string_field { required = true, min_len = 1, max_len = 500 } },
  { "notes", string_field { nullable = true } },
}

---------------------------------------------------------------------------------------------------
-- lookups (step 8) and version check (step 9)

local function auth_of(ctx)
  local a = ctx.st.auths[ctx.params.id]
  if not a then http.fail(404, "prior_authorization_not_found", "No authorization " .. ctx.params.id .. ".") end
  return a
end

local function check_version(ctx, a)
  if ctx.if_match ~= a.version then
    http.fail(409, "version_conflict",
      string.format("If-Match names version %d; the authorization is at version %d.", ctx.if_match, a.version),
      { expectedVersion = ctx.if_match, actualVersion = a.version })
  end
end

local function file_of(ctx)
  local f = ctx.st.files[ctx.params.file_id]
  if not f then http.fail(404, "file_not_found", "No file " .. ctx.params.file_id .. ".") end
  return f
end

local function handoff_of(ctx, a)
  local h = a.handoffs[ctx.params.handoff_id]
  if not h then http.fail(404, "manual_handoff_not_found", "No manual handoff " .. ctx.params.handoff_id .. ".") end
  return h
end

-- The encoded JSON of an authorization, cached per state of what it renders: the version bumps
-- on every change of the authorization, but the handoff and the review snapshot are checked too
-- (their state is shown inside it). COLLATE_SANDBOX_VERIFY_CACHE=1 re-renders on every hit and
-- fails loudly on a difference (the sandbox suites run with it).
local VERIFY_CACHE = os.getenv("COLLATE_SANDBOX_VERIFY_CACHE") == "1"

local function cache_key(a)
  local h, s = a.handoff, a.snapshot
  return string.format("%d|%s|%s|%s|%s|%s", a.version, h and h.id or "", h and h.state or "",
    h and h.version or "", s and s.id or "", s and s.status or "")
end

function handlers.encoded_auth(st, a)
  local cache = st.render_cache
  if not cache then
    cache = setmetatable({}, { __mode = "k" })
    st.render_cache = cache
  end
  local key = cache_key(a)
  local hit = cache[a]
  if hit and hit.key == key then
    if VERIFY_CACHE then
      local fresh = json.encode(authorizations.render(st, a))
      if fresh ~= hit.body then error("render cache is stale for " .. a.id) end
    end
    return hit.body
  end
  local body = json.encode(authorizations.render(st, a))
  cache[a] = { key = key, body = body }
  return body
end

-- every response that is one authorization (or a list of them) goes through the cache
local function render_auth(ctx, a)
  return json.raw(handlers.encoded_auth(ctx.st, a))
end

---------------------------------------------------------------------------------------------------
-- handlers

function handlers.health()
  return 200, { status = "ok" }
end

local function create_schema(ctx)
  local body = ctx.body
  local issues = validate.check(body, CREATE)
  if json.typeof(body.request) == "object" then
    validate.check_service_code(body.request.serviceCode, { "body", "request", "serviceCode" }, issues)
  end
  if body.answers ~= nil and body.answers ~= json.null then
    questionnaire.validate(body.answers, { "body", "answers" }, issues, 0)
  end
  local policy_missing = body.policy == nil or
    (json.typeof(body.policy) == "object" and body.policy.finalSubmission == nil)
  if policy_missing then
    if #issues == 0 then
      http.fail(400, "final_submission_policy_required", "policy.finalSubmission is required.")
    end
    validate.add(issues, "missing", body.policy == nil and { "body", "policy" } or { "body", "policy",
      "finalSubmission" },
      "Field required.")
  end
  return issues
end

function handlers.create(ctx)
  local a = authorizations.create(ctx.st, ctx.body, ctx.now)
  return 201, render_auth(ctx, a)
end

local STATUSES = { requires_action = true, processing = true, waiting_on_payer = true, completed = true,
  canceled = true }

function handlers.list(ctx)
  local q = ctx.query
  if q.status ~= nil and not STATUSES[q.status] then
    http.bad_request(http.issue("invalid_enum", { "query", "status" }, "Unknown status."))
  end
  local items = {}
  for _, a in ipairs(ctx.st.auth_list) do
    if (not q.status or authorizations.status(a) == q.status) and (not q.providerNpi or a.npi == q.providerNpi) and
       (not q.externalCaseId or a.metadata.externalCaseId == q.externalCaseId) then
      items[#items + 1] = a
    end
  end
  local function key(a) return string.format("%014d|%s", a.created_at, a.id) end
  table.sort(items, function(x, y) return key(x) > key(y) end)
  local sig = table.concat({ q.status or "", q.providerNpi or "", q.externalCaseId or "" }, "|")
  return 200, paginate.page(items, q, "authorizations", sig, key, true, function(a) return render_auth(ctx, a) end)
end

function handlers.retrieve(ctx)
  return { status = 200, headers = { ["Content-Type"] = http.JSON_TYPE },
    body = handlers.encoded_auth(ctx.st, auth_of(ctx)) }
end

function handlers.confirm(ctx)
  local a = auth_of(ctx)
  check_version(ctx, a)
  authorizations.confirm(ctx.st, a, ctx.body, ctx.now)
  return 200, render_auth(ctx, a)
end

function handlers.cancel(ctx)
  local a = auth_of(ctx)
  check_version(ctx, a)
  authorizations.cancel(ctx.st, a, ctx.now, ctx.body.reason)
  return 200, render_auth(ctx, a)
end

local function patch_schema(ctx)
  local issues = validate.check(ctx.body, PATCH)
  if ctx.body.answers ~= nil and ctx.body.answers ~= json.null then
    questionnaire.validate(ctx.body.answers, { "body", "answers" }, issues, 1)
  end
  return issues
end

function handlers.patch_answers(ctx)
  local a = auth_of(ctx)
  check_version(ctx, a)
  authorizations.patch_answers(ctx.st, a, ctx.body.answers, ctx.now)
  return 200, render_auth(ctx, a)
end

function handlers.attach(ctx)
  local a = auth_of(ctx)
  check_version(ctx, a)
  authorizations.check_mutable(a)
  local f = ctx.st.files[ctx.body.fileId]
  if not f then http.fail(404, "file_not_found", "No file " .. ctx.body.fileId .. ".") end
  if f.status ~= "ready" or f.purpose ~= "authorization_attachment" then
    http.fail(409, "file_not_ready", "The file is not ready (" .. f.status .. ").")
  end
  authorizations.add_attachment(ctx.st, a, f, ctx.body, ctx.now)
  return 200, render_auth(ctx, a)
end

function handlers.list_attachments(ctx)
  paginate.limit(ctx.query) -- query before path resources (§1.12)
  local a = auth_of(ctx)
  local function key(att) return string.format("%014d|%s", att.seq, att.id) end
  return 200, paginate.page(a.attachments, ctx.query, "attachments:" .. a.id, "", key, false,
    function(att) return authorizations.render_attachment(ctx.st, att) end)
end

function handlers.delete_attachment(ctx)
  local a = auth_of(ctx)
  local att, index = authorizations.find_attachment(a, ctx.params.attachment_id)
  if not att then http.fail(404, "attachment_not_found", "No attachment " .. ctx.params.attachment_id .. ".") end
  check_version(ctx, a)
  authorizations.check_mutable(a)
  authorizations.remove_attachment(ctx.st, a, index, ctx.now)
  return 200, render_auth(ctx, a)
end

function handlers.live_session(ctx)
  return 200, livesession.render_live_session(auth_of(ctx))
end

function handlers.live_grant(ctx)
  local a = auth_of(ctx)
  local owner = livesession.live_state(a)
  if not owner then
    http.fail(409, "live_session_not_available", "No live session is running.",
      { reason = "no_active_channel_session" })
  end
  -- a live-session grant lasts 300 s; during a handoff it also ends with the handoff
  return 200, livesession.new_grant(ctx.st, a, "live", owner == "handoff" and a.handoff.id or nil, ctx.now)
end

function handlers.handoff_create(ctx)
  local a = auth_of(ctx)
  check_version(ctx, a)
  local h = authorizations.handoff_create(ctx.st, a, ctx.body, ctx.now)
  return 200, authorizations.render_handoff(ctx.st, h)
end

function handlers.handoff_retrieve(ctx)
  local a = auth_of(ctx)
  return 200, authorizations.render_handoff(ctx.st, handoff_of(ctx, a))
end

function handlers.handoff_grant(ctx)
  local a = auth_of(ctx)
  local h = handoff_of(ctx, a)
  if h.state ~= "active" then
    http.fail(409, "live_session_not_available", "The handoff is not active.", { reason = "no_active_channel_session" })
  end
  ctx.st.clock:cancel_for(a.id, "handoff_abandonment")
  ctx.st.clock:schedule(ctx.now + authorizations.ABANDON, a.id, "handoff_abandonment")
  return 200, livesession.new_grant(ctx.st, a, "handoff", h.id, ctx.now)
end

local function closer(result)
  return function(ctx)
    local a = auth_of(ctx)
    local h = handoff_of(ctx, a)
    check_version(ctx, a)
    if h.state ~= "active" then
      http.fail(409, "prior_authorization_not_actionable", "The manual handoff is not active.")
    end
    authorizations.close_handoff(ctx.st, a, result, ctx.now, ctx.body)
    return 200, authorizations.render_closure(a, h)
  end
end

local function npi_query(ctx)
  local npi = ctx.query.providerNpi
  if npi == nil then
    http.bad_request(http.issue("missing", { "query", "providerNpi" }, "providerNpi is required."))
  end
  if not validate.npi_ok(npi) then
    http.bad_request(http.issue("invalid_format", { "query", "providerNpi" }, "Must be a valid 10-digit NPI."))
  end
  return npi
end

function handlers.routes(ctx)
  local npi = npi_query(ctx)
  local p = catalog.provider(npi)
  if not p then http.fail(404, "provider_not_found", "No provider with NPI " .. npi .. " in this organization.") end
  return 200, { providerNpi = npi, options = catalog.route_options(p) }
end

local function resolve_schema(ctx)
  local issues = validate.check(ctx.body, RESOLVE)
  validate.check_service_code(ctx.body.serviceCode, { "body", "serviceCode" }, issues)
  return issues
end

function handlers.resolve(ctx)
  local b = ctx.body
  local _, payer = catalog.resolve(b.providerNpi, b.payerId, b.coverageState, b.requestType, b.serviceCode.system)
  return 200, {
    providerNpi = b.providerNpi, payerId = payer.id, payerDisplayName = payer.displayName,
    coverageState = b.coverageState, requestType = b.requestType,
    serviceCode = { system = b.serviceCode.system, code = b.serviceCode.code },
    channel = "portal", accessMode = "collate_managed", label = catalog.label(payer, b.coverageState, b.requestType),
  }
end

function handlers.file_create(ctx)
  local f = files.create(ctx.st, ctx.body, ctx.now)
  return 201, files.render_created(ctx.st, f)
end

function handlers.file_complete(ctx)
  local f = file_of(ctx)
  files.complete(f, ctx.now)
  return 200, files.render(ctx.st, f)
end

function handlers.file_retrieve(ctx)
  return 200, files.render(ctx.st, file_of(ctx))
end

function handlers.file_download(ctx)
  return files.download(file_of(ctx))
end

function handlers.upload(ctx)
  return files.upload(ctx.st, ctx.req, ctx.params.token, ctx.now, ctx.request_id)
end

function handlers.payers(ctx)
  return 200, paginate.page(catalog.payers(), ctx.query, "payers", "", function(p) return p.id end, false,
    catalog.render_payer)
end

function handlers.payer(ctx)
  local p = catalog.payer(ctx.params.payer_id)
  if not p then http.fail(404, "payer_not_found", "No payer " .. ctx.params.payer_id .. ".") end
  return 200, catalog.render_payer(p)
end

function handlers.providers(ctx)
  return 200, paginate.page(catalog.providers(), ctx.query, "providers", "", function(p) return p.npi end, false,
    function(p) return catalog.render_provider(p, ctx.st.fmt) end)
end

function handlers.provider(ctx)
  local p = catalog.provider(ctx.params.npi)
  if not p then http.fail(404, "provider_not_found", "No provider with NPI " .. ctx.params.npi .. ".") end
  return 200, catalog.render_provider(p, ctx.st.fmt)
end

function handlers.scenarios(ctx)
  local list = scenarios.list()
  local index = {}
  for i, s in ipairs(list) do index[s] = i end
  return 200, paginate.page(list, ctx.query, "scenarios", "", function(s) return string.format("%04d", index[s]) end,
    false, scenarios.render)
end

function handlers.scenario(ctx)
  local s = scenarios.get(ctx.params.scenario_id)
  if not s then http.fail(404, "scenario_not_found", "No scenario " .. ctx.params.scenario_id .. ".") end
  return 200, scenarios.render(s)
end

function handlers.grant_page(ctx)
  local g = ctx.st.grants[ctx.params.grant_id]
  if not g then http.fail(404, "not_found", "Unknown access grant.") end
  if g.revoked then http.fail(404, "access_grant_revoked", "The session of this grant has ended.") end
  if ctx.now >= g.expires_at then http.fail(404, "access_grant_expired", "This access grant has expired.") end
  return { status = 200, headers = { ["Content-Type"] = "text/html; charset=utf-8" },
    body = "<!doctype html><title>Collate sandbox session</title><p>Sandbox portal session (" .. g.kind .. ").</p>\n" }
end

---------------------------------------------------------------------------------------------------
-- The route table. body: nil (ignored), "optional" or "required" with schema (table or function).

local AUTH = "/v1/prior-authorizations/{id}"

handlers.ROUTES = {
  { "GET", "/health", handlers.health, auth = "public" },
  { "POST", "/v1/prior-authorizations", handlers.create, idem = "required", body = "required", schema = create_schema },
  { "GET", "/v1/prior-authorizations", handlers.list },
  { "GET", AUTH, handlers.retrieve },
  { "POST", AUTH .. "/confirm", handlers.confirm, if_match = true, body = "optional", schema = CONFIRM },
  { "POST", AUTH .. "/cancel", handlers.cancel, if_match = true, body = "optional", schema = CANCEL },
  { "PATCH", AUTH .. "/answers", handlers.patch_answers, if_match = true, body = "required", schema = patch_schema },
  { "POST", AUTH .. "/attachments", handlers.attach, if_match = true, body = "required", schema = ATTACH },
  { "GET", AUTH .. "/attachments", handlers.list_attachments },
  { "DELETE", AUTH .. "/attachments/{attachment_id}", handlers.delete_attachment, if_match = true },
  { "GET", AUTH .. "/live-session", handlers.live_session },
  { "POST", AUTH .. "/live-session/access-grants", handlers.live_grant, body = "optional", schema = EMPTY },
  { "POST", AUTH .. "/manual-handoffs", handlers.handoff_create, if_match = true, body = "optional",
    schema = HANDOFF_CREATE },
  { "GET", AUTH .. "/manual-handoffs/{handoff_id}", handlers.handoff_retrieve },
  { "POST", AUTH .. "/manual-handoffs/{handoff_id}/access-grants", handlers.handoff_grant, body = "optional",
    schema = EMPTY },
  { "POST", AUTH .. "/manual-handoffs/{handoff_id}/complete", closer("completed_reported"), if_match = true,
    body = "required", schema = HANDOFF_COMPLETE },
  { "POST", AUTH .. "/manual-handoffs/{handoff_id}/unable-to-complete", closer("unable_to_complete"),
    if_match = true, body = "required", schema = HANDOFF_UNABLE },
  { "POST", AUTH .. "/manual-handoffs/{handoff_id}/revoke", closer("revoked"), if_match = true,
    body = "required", schema = HANDOFF_REVOKE },
  { "GET", "/v1/prior-authorization-routes", handlers.routes },
  { "POST", "/v1/prior-authorization-routes/resolve", handlers.resolve, body = "required", schema = resolve_schema },
  { "POST", "/v1/files", handlers.file_create, body = "required", schema = FILE_CREATE },
  { "POST", "/v1/files/{file_id}/complete", handlers.file_complete, body = "optional", schema = EMPTY },
  { "GET", "/v1/files/{file_id}", handlers.file_retrieve },
  { "GET", "/v1/files/{file_id}/download", handlers.file_download },
  { "GET", "/v1/payers", handlers.payers },
  { "GET", "/v1/payers/{payer_id}", handlers.payer },
  { "GET", "/v1/providers", handlers.providers },
  { "GET", "/v1/providers/{npi}", handlers.provider },
  { "GET", "/v1/sandbox/scenarios", handlers.scenarios },
  { "GET", "/v1/sandbox/scenarios/{scenario_id}", handlers.scenario },
  { "PUT", "/_uploads/{token}", handlers.upload, auth = "capability", raw_body = true },
  { "GET", "/runtime/access/{grant_id}", handlers.grant_page, auth = "capability" },
}

return handlers
