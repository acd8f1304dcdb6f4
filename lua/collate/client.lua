-- The client: configuration, the method map generated from the core's route table, and the
-- few helpers that are not plain routes (upload, download to a path, pagination iterators).
local core = require "collate.core"
local errors = require "collate.errors"
local attempt = require "collate.attempt"
local config = require "collate.config"
local files = require "collate.files"
local pagination = require "collate.pagination"

local M = {}

-- Per-call options that are not API parameters.
local CALL_OPTIONS = { timeout = true, max_retries = true, extra_headers = true, deadline = true }

local function raise_or_return(safe, value, err)
  if err == nil then return value end
  if safe then return nil, err end
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
                    connect_timeout = settings.connect_timeout }
  if type(ngx) == "table" and ngx.socket then -- luacheck: ignore (the OpenResty global)
    return require("collate.transport.cosocket").new(options)
  end
  return require("collate.transport.curl").new(options)
end

local function new_context(settings, secret)
  local ctx = { settings = settings }
  ctx.transport = settings.transport or M.default_transport(settings)
  ctx.auth_header = "Bearer " .. secret
  return ctx
end

-- Runs one API request through the attempt loop. `request` comes from core.build_request.
local function perform(ctx, request, options, decode)
  local s = ctx.settings
  request.url = s.base_url .. request.path
  request.log_path = request.path
  local headers = request.headers
  if request.authenticated ~= false then headers["Authorization"] = ctx.auth_header end
  if options and options.extra_headers then
    for k, v in pairs(options.extra_headers) do headers[k] = v end
  end
  local timeout = (options and options.timeout) or s.timeout
  local deadline_s = (options and options.deadline) or s.deadline
  local value, meta_or_err = attempt.run(request, {
    transport = ctx.transport,
    timeout = timeout,
    max_retries = (options and options.max_retries) or s.max_retries,
    deadline = deadline_s and (ctx.transport.now() + deadline_s) or nil,
    decode = decode or core.parse_response,
  })
  if value == nil then
    meta_or_err.path = request.path
    return nil, meta_or_err
  end
  ctx.last_response = meta_or_err
  return value
end

-- A plain route: build, perform, convert.
local function route_method(ctx, name, safe)
  local is_page = core.routes[name].paginated -- unpaginated lists return the contract's shape
  local public = name == "health" -- the one route without authentication
  return function(params)
    if params == nil then params = {} end
    if type(params) ~= "table" then
      return raise_or_return(safe, nil, errors.invalid_argument(
        name .. ": expected a table of named parameters (got " .. type(params) .. ")"))
    end
    local api, options, err = split_options(name, params)
    if err then return raise_or_return(safe, nil, err) end
    local request, message = core.build_request(name, api)
    if not request then return raise_or_return(safe, nil, errors.invalid_argument(message)) end
    if public then request.authenticated = false end
    local value, failure = perform(ctx, request, options)
    if value ~= nil and is_page then pagination.normalize_page(value) end
    return raise_or_return(safe, value, failure)
  end
end

-- Puts fn at the dotted path `name` inside tree ("authorizations.answers.patch").
local function install(tree, name, fn)
  local node = tree
  local parts = {}
  for part in name:gmatch("[^%.]+") do parts[#parts + 1] = part end
  for i = 1, #parts - 1 do
    node[parts[i]] = node[parts[i]] or {}
    node = node[parts[i]]
  end
  node[parts[#parts]] = fn
end

-- collate.new{api_key, environment, timeout, max_retries, deadline, ca_file, connect_timeout}
function M.new(options, safe)
  local settings, secret, err = config.resolve(options)
  if err then return raise_or_return(safe, nil, err) end
  local ctx = new_context(settings, secret)
  local client = { base_url = settings.base_url }

  for name in pairs(core.routes) do
    install(client, name, route_method(ctx, name, safe))
  end
  for name, route in pairs(core.routes) do
    if route.paginated then
      local list = route_method(ctx, name, false)
      install(client, name:gsub("%.list$", ".each"), pagination.iterator(name, list))
    end
  end

  local perform_with = function(request, opts, decode) return perform(ctx, request, opts, decode) end
  files.install(client, {
    perform = perform_with,
    settings = settings,
    safe = safe,
    raise_or_return = raise_or_return,
    split_options = split_options,
    default_transport = M.default_transport,
  })

  function client.last_response()
    return ctx.last_response
  end

  function client.close()
    ctx.transport.close()
  end

  return setmetatable(client, {
    __name = "collate.Client",
    __tostring = function() return "collate.Client(" .. settings.base_url .. ")" end,
    __close = function() ctx.transport.close() end,
  })
end

return M
