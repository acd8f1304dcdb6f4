-- files.upload (bytes to the single-use upload URL, never with the API key) and files.download
-- (to a string, or streamed to a path without holding the file in memory).
local core = require "collate.core"
local errors = require "collate.errors"
local attempt = require "collate.attempt"
local methods = require "collate.methods"
local config = require "collate.config"

local M = {}

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("*a")
  f:close()
  return data
end

local function raise(err)
  error(err, 0)
end

local function check_upload_args(p)
  local where = "files.upload"
  if type(p) ~= "table" then return where .. ": expected a table of named parameters" end
  for key in pairs(p) do
    if key ~= "upload" and key ~= "data" and key ~= "path" and key ~= "timeout" and key ~= "max_retries" then
      return where .. ": unknown parameter '" .. tostring(key) .. "'"
    end
  end
  local bad_option = config.check_call_options(where, { timeout = p.timeout, max_retries = p.max_retries })
  if bad_option then return bad_option.message end
  local up = p.upload
  if type(up) ~= "table" then
    return where .. ": upload is required (pass upload = created.upload from files.create)"
  end
  if type(up.url) ~= "string" or not up.url:match("^https?://") then
    return where .. ": upload.url must be the absolute URL returned by files.create"
  end
  if up.method ~= nil and type(up.method) ~= "string" then return where .. ": upload.method must be a string" end
  if up.headers ~= nil then
    local ok, _, message = core.check_headers(up.headers, "upload.headers")
    if not ok then return where .. ": " .. message end
  end
  if (p.data == nil) == (p.path == nil) then
    return where .. ": give exactly one of data (the bytes) or path (a file to stream)"
  end
  if p.data ~= nil and type(p.data) ~= "string" then return where .. ": data must be a string of bytes" end
  if p.path ~= nil then
    if type(p.path) ~= "string" then return where .. ": path must be a string" end
    local f, msg = io.open(p.path, "rb")
    if not f then return where .. ": cannot read path: " .. tostring(msg) end
    f:close()
  end
  return nil
end

-- The start of a storage host's body for a message: at most 200 bytes, control characters and
-- bytes outside ASCII escaped, so a hostile body cannot forge log lines or terminal output.
local NAMED_ESCAPES = { ["\r"] = "\\r", ["\n"] = "\\n", ["\t"] = "\\t", ["\\"] = "\\\\" }

local function body_excerpt(body)
  if type(body) ~= "string" or body == "" then return "an empty body" end
  local head = body:sub(1, 200):gsub("[%c\128-\255\\]", function(c)
    return NAMED_ESCAPES[c] or string.format("\\x%02x", c:byte())
  end)
  return "'" .. head .. (#body > 200 and "...'" or "'")
end

-- An upload that failed: say it was the upload host, its status and what it said, and what to do
-- when the URL's capability has run out (real storage hosts answer 403 for an expired URL).
local function upload_failure(status, info, body)
  local said
  if info.code then
    said = info.code .. ": " .. tostring(info.message)
  else
    said = body_excerpt(body)
  end
  local message = "files.upload: the upload host answered HTTP " .. status .. " (" .. said .. ")"
  local text = type(body) == "string" and body:lower() or ""
  if status == 403 or info.code == "upload_url_expired" or text:find("expired", 1, true) then
    message = message .. "; the upload URL may have expired: call files.create again for a fresh upload URL"
  elseif status == 404 then
    message = message .. "; the upload URL is unknown to its host: call files.create again for a fresh upload URL"
  end
  info.message = message
  info.operation = "files.upload"
  return info
end

local function upload_decode(status, headers, body, attempt_no)
  if status >= 200 and status < 300 then
    return true, { status = status, etag = headers["etag"] }
  end
  local ok, info = core.parse_response(status, headers, body)
  -- A retry that finds the token used means an earlier attempt stored the bytes (§7.8);
  -- files.complete verifies.
  if not ok and attempt_no > 1 and status == 409 and info.code == "upload_already_used" then
    return true, { status = status, already_stored = true }
  end
  if ok then return ok, info end
  return false, upload_failure(status, info, body)
end

-- Adds files.upload and files.download to the client; returns the function that closes the
-- upload connection (client.close calls it).
function M.install(client, env)
  local settings = env.settings
  -- its own connection: the upload host is another origin and never sees the API key
  local upload_transport = settings.transport or env.default_transport(settings)

  function client.files.upload(p)
    local colon = methods.colon_call("files.upload", p)
    if colon then raise(colon) end
    local problem = check_upload_args(p)
    if problem then raise(errors.invalid_argument(problem)) end
    env.check_open("files.upload")
    local up = p.upload
    local headers = {}
    for k, v in pairs(up.headers or {}) do headers[k] = v end
    local request = {
      method = up.method or "PUT", url = up.url, headers = headers,
      body = p.data, body_file = p.path,
      log_path = "<upload url>", -- a capability: never logged
      -- a new connection per upload, so libcurl never silently resends the single-use PUT
      fresh_connect = true,
    }
    local value, err = attempt.run(request, {
      transport = upload_transport,
      timeout = p.timeout or settings.timeout,
      max_retries = p.max_retries or settings.max_retries,
      decode = upload_decode,
      on_response = settings.on_response, on_retry = settings.on_retry, -- path: "<upload url>"
    })
    if value == nil then raise(err) end
    return value
  end

  function client.files.download(p)
    local colon = methods.colon_call("files.download", p)
    if colon then raise(colon) end
    if type(p) ~= "table" then
      raise(errors.invalid_argument("files.download: expected a table of named parameters"))
    end
    local path = p.path
    if path ~= nil and type(path) ~= "string" then
      raise(errors.invalid_argument("files.download: path must be a string"))
    end
    local params = {}
    for k, v in pairs(p) do if k ~= "path" then params[k] = v end end
    local request, options = env.build("files.download", params)
    env.check_open("files.download")
    local part = path and (path .. ".part") or nil
    request.out_file = part
    if part then -- streamed to disk: the download's own limit, not the in-memory one
      request.max_response_bytes = (options and options.max_response_bytes) or config.defaults.max_download_bytes
    end
    local value, failure = env.perform(request, options, function(status, headers, body)
      if status >= 200 and status < 300 then
        return true, { body = body, content_type = headers["content-type"],
                       content_disposition = headers["content-disposition"],
                       size = tonumber(headers["content-length"]) }
      end
      if part then
        body = read_all(part) or ""
        os.remove(part)
      end
      return core.parse_response(status, headers, body)
    end)
    if value == nil then
      if part then os.remove(part) end
      raise(failure)
    end
    if part then
      local ok, msg = os.rename(part, path)
      if not ok then
        os.remove(part)
        raise(errors.invalid_argument("files.download: cannot write path: " .. tostring(msg)))
      end
      value.path = path
    end
    return value
  end

  return function()
    if upload_transport ~= settings.transport then upload_transport.close() end
  end
end

return M
