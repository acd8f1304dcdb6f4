-- Files and single-use uploads (contract §2.13 – §2.17, §3.8).
local json = require "collate_sandbox.json"
local http = require "collate_sandbox.http"
local realism = require "collate_sandbox.realism"

local files = {}

files.UPLOAD_LIMIT = 32 * 1024 * 1024
files.FILE_LIMIT = 26214400

local EXT = {
  ["application/pdf"] = { pdf = true },
  ["image/jpeg"] = { jpg = true, jpeg = true },
  ["image/png"] = { png = true },
}
local MAGIC = {
  ["application/pdf"] = "%PDF-",
  ["image/jpeg"] = "\255\216\255",
  ["image/png"] = "\137PNG\r\n\26\n",
}

function files.create(st, body, now)
  local id = st.ids:next("file_")
  local token = st.ids:next("upl_")
  local f = {
    id = id, status = "pending_upload", fileName = body.fileName, contentType = body.contentType,
    purpose = body.purpose, created_at = now, token = token,
  }
  if st.realism then
    f.upload_expires = now + realism.UPLOAD_TTL
    -- a fast realtime clock must not turn minutes into less than a wall second
    if st.clock.mode == "realtime" then f.upload_expires_wall = st.clock.wall() + realism.UPLOAD_TTL_WALL_MIN end
  end
  st.files[id] = f
  st.uploads[token] = f
  return f
end

function files.render(st, f)
  local ready = f.status == "ready"
  return {
    id = f.id, status = f.status, fileName = f.fileName, contentType = f.contentType, purpose = f.purpose,
    sizeBytes = f.size or json.null, createdAt = st.fmt(f.created_at),
    completedAt = f.completed_at and st.fmt(f.completed_at) or json.null,
    downloadUrl = ready and (st.base_url .. "/v1/files/" .. f.id .. "/download") or json.null,
  }
end

function files.render_created(st, f)
  return {
    file = files.render(st, f),
    upload = {
      url = st.base_url .. "/_uploads/" .. f.token, method = "PUT", strategy = "single_put",
      headers = json.object({ ["Content-Type"] = f.contentType }),
    },
  }
end

local function media_type(v)
  if not v then return nil end
  return (v:match("^%s*([^;%s]+)") or ""):lower()
end
files.media_type = media_type

-- Realism mode: the upload host is an object store: expired URLs, XML errors, its own codes
-- (the Authorization check is app.lua's, before authentication).
local function store_upload(st, req, token, now, request_id)
  local f = st.uploads[token]
  local function err(status, code, message) return realism.storage_error(status, code, message, request_id) end
  if not f then return err(403, "AccessDenied", "Access Denied") end
  local expired = f.upload_expires and now >= f.upload_expires and
    (not f.upload_expires_wall or st.clock.wall() >= f.upload_expires_wall)
  if expired then return err(403, "AccessDenied", "Request has expired") end
  if media_type(req.headers["content-type"]) ~= f.contentType then
    return err(403, "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided.")
  end
  local size = req.body_size or #req.body
  if req.body_too_large or size > files.UPLOAD_LIMIT then
    return err(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
  end
  -- an object store takes the same URL again until it expires (the bytes are replaced) while the
  -- file waits for files.complete; after that the URL is spent
  if f.upload_used and f.status ~= "uploaded" then return err(403, "AccessDenied", "Access Denied") end
  return nil, f
end

-- PUT /_uploads/{token}; order: Authorization, token, Content-Type, size, single use
function files.upload(st, req, token, now, request_id)
  if st.realism then
    local refused, f = store_upload(st, req, token, now, request_id)
    if refused then return refused end
    f.upload_used = true
    f.bytes = req.body
    f.size = #req.body
    f.status = "uploaded"
    return { status = 200, headers = { ETag = string.format('"%s-%d"', f.id, f.size) }, body = "" }
  end
  if req.headers["authorization"] ~= nil then
    http.bad_request(http.issue("extra_forbidden", { "header", "Authorization" },
      "Upload URLs are capabilities; do not send the API key."))
  end
  local f = st.uploads[token]
  if not f then http.fail(404, "not_found", "Unknown upload URL.") end
  if media_type(req.headers["content-type"]) ~= f.contentType then
    http.bad_request(http.issue(req.headers["content-type"] and "invalid_format" or "missing",
      { "header", "Content-Type" }, "Content-Type must be " .. f.contentType .. "."))
  end
  local size = req.body_size or #req.body
  if req.body_too_large or size > files.UPLOAD_LIMIT then
    http.fail(413, "file_too_large", "Uploads are limited to 32 MiB.", { maxBytes = files.UPLOAD_LIMIT })
  end
  if f.upload_used then http.fail(409, "upload_already_used", "This upload URL was already used.") end
  f.upload_used = true
  f.bytes = req.body
  f.size = #req.body
  f.status = "uploaded"
  return { status = 200, headers = { ETag = string.format('"%s-%d"', f.id, f.size) }, body = "" }
end

local function fail_file(f, status, code, message)
  f.status = "failed"
  f.failure = { status = status, code = code, message = message }
  http.fail(status, code, message)
end

function files.complete(f, now)
  if f.status == "ready" then return f end
  if f.status == "failed" then http.fail(f.failure.status, f.failure.code, f.failure.message) end
  if f.status == "pending_upload" then http.fail(400, "file_empty", "Nothing has been uploaded yet.") end
  if f.size == 0 then fail_file(f, 400, "file_empty", "The upload was empty.") end
  if f.size > files.FILE_LIMIT then fail_file(f, 413, "file_too_large", "Files are limited to 25 MiB.") end
  local ext = f.fileName:match("%.([^%.]+)$")
  if ext and not EXT[f.contentType][ext:lower()] then
    fail_file(f, 400, "file_content_mismatch", "The file name extension does not match " .. f.contentType .. ".")
  end
  local magic = MAGIC[f.contentType]
  if f.bytes:sub(1, #magic) ~= magic then
    fail_file(f, 400, "file_content_mismatch", "The file content does not match " .. f.contentType .. ".")
  end
  f.status = "ready"
  f.completed_at = now
  return f
end

local function disposition(name)
  local ascii = name:gsub('[\128-\255]+', "_"):gsub('[%c"\\]', "_")
  local d = 'attachment; filename="' .. ascii .. '"'
  if name:find("[\128-\255]") then
    d = d .. "; filename*=UTF-8''" .. name:gsub("[^%w%-%._~]", function(c)
      return string.format("%%%02X", c:byte())
    end)
  end
  return d
end

function files.download(f)
  if f.status ~= "ready" then http.fail(409, "file_not_ready", "The file is not ready.") end
  return {
    status = 200,
    headers = { ["Content-Type"] = f.contentType, ["Content-Disposition"] = disposition(f.fileName) },
    body = f.bytes,
  }
end

return files
