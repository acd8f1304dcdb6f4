-- Client configuration: defaults (conventions §3), environment fallbacks, argument checks.
local core = require "collate.core"
local errors = require "collate.errors"

local M = {}

M.VERSION = core.VERSION -- set once, in CMakeLists.txt (project VERSION)

M.environments = {
  sandbox = "https://api.sandbox.trycollate.ai",
  production = "https://api.trycollate.ai",
}

-- max_response_bytes: a larger API response stops the transfer (io / response_too_large).
-- max_download_bytes: files.download{path=} streams to disk, so its default limit is its own.
M.defaults = { timeout = 60, connect_timeout = 10, max_retries = 2, max_response_bytes = 64 * 1024 * 1024,
               max_download_bytes = 1024 * 1024 * 1024 }

local KNOWN = {
  api_key = "string", environment = "string", base_url = "string", timeout = "number",
  connect_timeout = "number", max_retries = "number", deadline = "number", ca_file = "string",
  transport = "table", proxy = "string", max_response_bytes = "number",
  on_response = "function", on_retry = "function",
}

local function getenv(name)
  local v = os.getenv(name)
  if v == "" then return nil end
  return v
end

-- Which option the base URL came from, for messages that name it.
local function base_source(options)
  if options.environment then return "environment", options.environment end
  if options.base_url then return "base_url", options.base_url end
  local env = getenv("COLLATE_BASE_URL")
  if env then return "COLLATE_BASE_URL", env end
  return "environment", "sandbox"
end

-- The checked base URL ({url, scheme, host, port, loopback}: core.check_base_url, libcurl's
-- parser) or nil, collate.Error naming the option it came from.
function M.base_url(options)
  local source, value = base_source(options)
  local url = M.environments[value] or value
  local base, _, message = core.check_base_url(url)
  if not base then
    local hint = message:find("absolute", 1, true) and " (or one of 'sandbox', 'production')" or ""
    return nil, errors.invalid_argument("collate.new: " .. source .. " " .. message .. hint)
  end
  return base
end

-- The proxy for API calls: the proxy option or COLLATE_PROXY, checked; nil for none (libcurl
-- then honours https_proxy / ALL_PROXY / NO_PROXY, for https:// URLs only). A proxy with a
-- plain http:// base URL is refused: the key would cross the proxy in clear text.
function M.proxy(options, base)
  local source, value = "proxy", options.proxy
  if value == nil then source, value = "COLLATE_PROXY", getenv("COLLATE_PROXY") end
  if value == nil then return nil end
  local proxy, _, message = core.check_proxy_url(value)
  if not proxy then -- never the value in the message: it may hold the proxy's password
    return nil, errors.invalid_argument("collate.new: " .. source .. " " .. message)
  end
  if base.scheme ~= "https" then
    return nil, errors.invalid_argument("collate.new: " .. source .. " is set but the base URL is "
      .. "plain http://, where the API key would cross the proxy in clear text: use an https:// "
      .. "base URL or unset " .. source .. " (loopback http:// is never proxied)")
  end
  return value
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
    or check_number(where, "max_response_bytes", options.max_response_bytes, 1, true)
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
  local log_err = require("collate.log").env_error()
  if log_err then return nil, nil, errors.invalid_argument("collate.new: " .. log_err) end
  local err = M.check_call_options("collate.new", options)
    or check_number("collate.new", "connect_timeout", options.connect_timeout, 0.001)
  if err then return nil, nil, err end

  local secret = options.api_key or getenv("COLLATE_API_KEY")
  if not secret then
    return nil, nil, errors.invalid_argument(
      "collate.new: api_key is required (pass api_key = ... or set COLLATE_API_KEY)")
  end
  local base, base_err = M.base_url(options)
  if not base then return nil, nil, base_err end
  local proxy, proxy_err = M.proxy(options, base)
  if proxy_err then return nil, nil, proxy_err end

  local lua_version = (_VERSION or "Lua"):gsub("^Lua ", "")
  local settings = {
    base_url = base.url,
    proxy = proxy,
    max_response_bytes = options.max_response_bytes or M.defaults.max_response_bytes,
    timeout = options.timeout or M.defaults.timeout,
    connect_timeout = options.connect_timeout or M.defaults.connect_timeout,
    max_retries = options.max_retries or M.defaults.max_retries,
    deadline = options.deadline,
    ca_file = options.ca_file,
    transport = options.transport,
    on_response = options.on_response,
    on_retry = options.on_retry,
    user_agent = string.format("collate-lua/%s Lua/%s libcurl/%s", M.VERSION, lua_version,
      core.curl_version or "unknown"),
  }
  return settings, secret, nil
end

return M
