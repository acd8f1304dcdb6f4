-- The client: configuration, the method map generated from the core's route table, and the
-- few helpers that are not plain routes (upload, download to a path, pagination iterators).
local core = require "collate.core"
local errors = require "collate.errors"
local attempt = require "collate.attempt"
local config = require "collate.config"
local files = require "collate.files"
local pagination = require "collate.pagination"
local methods = require "collate.methods"

local M = {}

-- Per-call options that are not API parameters.
local CALL_OPTIONS = { timeout = true, max_retries = true, extra_headers = true, deadline = true,
                       max_response_bytes = true }

-- Every method raises; collate.safe wraps the finished client once to return nil, err instead.
local function raise(err)
  error(err, 0)
end

-- Splits a call's table into API parameters and call options, copying only when needed.
local function split_options(name, params)
  local has_option = false
  for key in pairs(params) do
    if CALL_OPTIONS[key] then has_option = true break end
  end
  if not has_option then return params, nil end
  local api, options = {}, {}
  for key, value in pairs(params) do
    if CALL_OPTIONS[key] then options[key] = value else api[key] = value end
  end
  local err = config.check_call_options(name, options)
  if err then return nil, nil, err end
  return api, options
end

-- Inside nginx every call goes over cosockets (a libcurl call would block the worker);
-- elsewhere over one reused libcurl handle.
function M.default_transport(settings)
  local options = { ca_file = settings.ca_file, user_agent = settings.user_agent,
                    connect_timeout = settings.connect_timeout, proxy = settings.proxy }
  if type(ngx) == "table" and ngx.socket then -- luacheck: ignore (the OpenResty global)
    return require("collate.transport.cosocket").new(options)
  end
  return require("collate.transport.curl").new(options)
end

local function new_context(settings, secret)
  local ctx = { settings = settings }
  ctx.transport = settings.transport or M.default_transport(settings)
  ctx.auth_header = "Bearer " .. secret
  -- A server or proxy that echoes the request (its Authorization header) into an error would
  -- put the key in the error's message, body, details or issues: core.redact takes it out of
  -- every string in them (decoded bodies are trees; data from JSON has no cycles, `seen` is for
  -- safety).
  local function redact(value, seen)
    if type(value) == "string" then return core.redact(value, secret) end
    if type(value) ~= "table" or seen[value] then return value end
    seen[value] = true
    for k, v in pairs(value) do value[k] = redact(v, seen) end
    return value
  end
  ctx.redact = function(info) return redact(info, {}) end
  return ctx
end

-- Runs one API request through the attempt loop. `request` comes from core.build_request.
local function perform(ctx, request, options, decode)
  local s = ctx.settings
  request.url = s.base_url .. request.path
  request.log_path = request.path
  request.max_response_bytes = request.max_response_bytes
    or (options and options.max_response_bytes) or s.max_response_bytes
  local headers = request.headers
  -- extra_headers were merged (and checked: never Authorization) by core.build_request
  if request.authenticated ~= false then headers["Authorization"] = ctx.auth_header end
  local timeout = (options and options.timeout) or s.timeout
  local deadline_s = (options and options.deadline) or s.deadline
  local value, meta_or_err = attempt.run(request, {
    transport = ctx.transport,
    timeout = timeout,
    max_retries = (options and options.max_retries) or s.max_retries,
    deadline = deadline_s and (ctx.transport.now() + deadline_s) or nil,
    decode = decode or core.parse_response,
    on_response = s.on_response, on_retry = s.on_retry, -- collate.new's metrics hooks
  })
  if value == nil then
    meta_or_err.path = request.path
    ctx.redact(meta_or_err)
    return nil, meta_or_err
  end
  ctx.last_response = meta_or_err
  return value
end

-- Builds the request for route `name` from a call's table (parameters and call options), or
-- raises invalid_argument before any I/O. Returns request, options.
local function build(name, params)
  if params == nil then params = {} end
  local colon = methods.colon_call(name, params)
  if colon then raise(colon) end
  if type(params) ~= "table" then
    raise(errors.invalid_argument(name .. ": expected a table of named parameters (got " .. type(params) .. ")"))
  end
  local api, options, err = split_options(name, params)
  if err then raise(err) end
  local request, _, message = core.build_request(name, api, options and options.extra_headers)
  if not request then raise(errors.invalid_argument(message)) end
  return request, options
end
M.build = build

-- A call on a client after client.close(): refused before any I/O.
local function check_open(ctx, name)
  if ctx.closed then
    raise(errors.invalid_argument(name .. ": the client is closed (client.close() was called); "
      .. "make another with collate.new"))
  end
end
M.check_open = check_open

-- A plain route: build, perform, convert.
local function route_method(ctx, name)
  local is_page = core.routes[name].paginated -- unpaginated lists return the contract's shape
  local public = name == "health" -- the one route without authentication
  return function(params)
    local request, options = build(name, params)
    check_open(ctx, name)
    if public then request.authenticated = false end
    local value, failure = perform(ctx, request, options)
    if value == nil then raise(failure) end
    if is_page then pagination.normalize_page(value) end
    return value
  end
end

-- collate.new{api_key, environment, timeout, max_retries, deadline, ca_file, connect_timeout}
function M.new(options)
  local settings, secret, err = config.resolve(options)
  if err then raise(err) end
  local ctx = new_context(settings, secret)
  local close_uploads

  local function close()
    if ctx.closed then return end
    ctx.closed = true
    ctx.transport.close()
    if close_uploads then close_uploads() end
  end

  local client = methods.table("", {
    __name = "collate.Client",
    __tostring = function() return "collate.Client(" .. settings.base_url .. ")" end,
    __close = close,
  })
  rawset(client, "base_url", settings.base_url)

  for name in pairs(core.routes) do
    methods.install(client, name, route_method(ctx, name))
  end
  for name, route in pairs(core.routes) do
    if route.paginated then
      local list = route_method(ctx, name)
      local function check(query) build(name, query) end
      methods.install(client, name:gsub("%.list$", ".each"), pagination.iterator(name, list, check))
    end
  end

  close_uploads = files.install(client, {
    perform = function(request, opts, decode) return perform(ctx, request, opts, decode) end,
    settings = settings,
    build = build,
    check_open = function(name) check_open(ctx, name) end,
    default_transport = M.default_transport,
  })

  rawset(client, "last_response", function()
    return ctx.last_response
  end)
  rawset(client, "close", close)

  return client
end

return M
