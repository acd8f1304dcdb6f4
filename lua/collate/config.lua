-- Client configuration: defaults (conventions §3), environment fallbacks, argument checks.
local core = require "collate.core"
local errors = require "collate.errors"

local M = {}

M.VERSION = "0.1.0"

M.environments = {
  sandbox = "https://api.sandbox.trycollate.ai",
  production = "https://api.trycollate.ai",
}

M.defaults = { timeout = 60, connect_timeout = 10, max_retries = 2 }

local KNOWN = {
  api_key = "string", environment = "string", base_url = "string", timeout = "number",
  connect_timeout = "number", max_retries = "number", deadline = "number", ca_file = "string",
  transport = "table",
}

local function getenv(name)
  local v = os.getenv(name)
  if v == "" then return nil end
  return v
end

-- scheme, host of an absolute http(s) URL, or nil.
function M.parse_origin(url)
  local scheme, rest = url:match("^(https?)://(.+)$")
  if not scheme then return nil end
  local authority = rest:match("^([^/?#]*)")
  local host = authority:match("^%[([^%]]+)%]") or authority:match("^([^:]+)")
  return scheme, host and host:lower()
end

function M.is_loopback(host)
  return host == "localhost" or host == "::1" or (host ~= nil and host:match("^127%.%d+%.%d+%.%d+$") ~= nil)
end

local function check_number(where, name, value, min, integral)
  if value == nil then return nil end
  if type(value) ~= "number" or value ~= value or value < min or (integral and value % 1 ~= 0) then
    return errors.invalid_argument(string.format("%s: %s must be %s >= %s (got %s)", where, name,
      integral and "an integer" or "a number", tostring(min), tostring(value)))
  end
  return nil
end

function M.check_call_options(where, options)
  local err = check_number(where, "timeout", options.timeout, 0.001)
    or check_number(where, "deadline", options.deadline, 0.001)
    or check_number(where, "max_retries", options.max_retries, 0, true)
  if err then return err end
  if options.extra_headers ~= nil and type(options.extra_headers) ~= "table" then
    return errors.invalid_argument(where .. ": extra_headers must be a table of header names to values")
  end
  return nil
end

-- Returns settings (no secret inside), the API key, or nil, nil, collate.Error.
function M.resolve(options)
  options = options or {}
  if type(options) ~= "table" then
    return nil, nil, errors.invalid_argument("collate.new: expected a table of options (got " .. type(options) .. ")")
  end
  for key, value in pairs(options) do
    local want = KNOWN[key]
    if not want then
      return nil, nil, errors.invalid_argument("collate.new: unknown option '" .. tostring(key) .. "'")
    end
    if type(value) ~= want then
      return nil, nil, errors.invalid_argument(string.format("collate.new: %s must be a %s (got %s)",
        key, want, type(value)))
    end
  end
  local err = M.check_call_options("collate.new", options)
    or check_number("collate.new", "connect_timeout", options.connect_timeout, 0.001)
  if err then return nil, nil, err end

  local secret = options.api_key or getenv("COLLATE_API_KEY")
  if not secret then
    return nil, nil, errors.invalid_argument(
      "collate.new: api_key is required (pass api_key = ... or set COLLATE_API_KEY)")
  end
  local base = options.environment or options.base_url or getenv("COLLATE_BASE_URL") or "sandbox"
  base = M.environments[base] or base
  base = base:gsub("/+$", "")
  local scheme, host = M.parse_origin(base)
  if not scheme or not host or host == "" then
    return nil, nil, errors.invalid_argument("collate.new: environment must be an http(s) URL or one of "
      .. "'sandbox', 'production' (got '" .. base .. "')")
  end
  if scheme == "http" and not M.is_loopback(host) then
    return nil, nil, errors.invalid_argument("collate.new: refusing to send the API key over plain http:// to "
      .. host .. "; use https:// (plain http is allowed only for loopback hosts)")
  end

  local lua_version = (_VERSION or "Lua"):gsub("^Lua ", "")
  local settings = {
    base_url = base,
    timeout = options.timeout or M.defaults.timeout,
    connect_timeout = options.connect_timeout or M.defaults.connect_timeout,
    max_retries = options.max_retries or M.defaults.max_retries,
    deadline = options.deadline,
    ca_file = options.ca_file,
    transport = options.transport,
    user_agent = string.format("collate-lua/%s Lua/%s libcurl/%s", M.VERSION, lua_version,
      core.curl_version or "unknown"),
  }
  return settings, secret, nil
end

return M
