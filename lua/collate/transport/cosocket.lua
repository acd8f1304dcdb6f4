-- The OpenResty transport: HTTP/1.1 over ngx.socket.tcp, so no libcurl call ever blocks an
-- nginx worker. TLS with verification and SNI, keep-alive pooling, Content-Length and chunked
-- bodies, timeouts in milliseconds, ngx.sleep for backoff.
-- Cosockets exist in the rewrite, access, content, timer, ssl_cert and ssl_session_fetch
-- phases; not in init, init_worker, set, header_filter, body_filter or log (docs/openresty.md:
-- use ngx.timer.at from those). A call from such a phase fails with kind "invalid_argument".
-- The same rules as the libcurl transport: request URLs read by libcurl's parser (core.split_url),
-- https:// through a proxy only as a CONNECT tunnel (an http:// proxy; an https:// proxy is
-- refused: no TLS inside TLS on a cosocket), plain http:// never proxied, and bodies bounded by
-- max_response_bytes (kind io, code response_too_large).
local core = require "collate.core"

local M = {}

local ngx = ngx -- luacheck: ignore (the OpenResty global)

local POOL_SIZE = 32
local POOL_IDLE_MS = 60000

local COSOCKET_PHASES = {
  rewrite = true, access = true, content = true, timer = true, ssl_cert = true,
  ssl_session_fetch = true,
}

-- scheme, host (no brackets), port, request target; or nil, message. libcurl's reading of the URL.
local function parse_url(url)
  local u, _, message = core.split_url(url)
  if not u then return nil, message end
  local host = u.host:match("^%[(.*)%]$") or u.host
  return u.scheme, host, u.port, u.target
end

local TOO_LARGE = "response_too_large"
local function read_headers(sock)
  local line, err = sock:receive("*l")
  if not line then return nil, err end
  local minor, status = line:match("^HTTP/1%.(%d) (%d%d%d)")
  status = tonumber(status)
  if not status then return nil, "malformed status line" end
  local headers = {}
  while true do
    line, err = sock:receive("*l")
    if not line then return nil, err end
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if name then
      name = name:lower()
      if headers[name] then headers[name] = headers[name] .. ", " .. value else headers[name] = value end
    end
  end
  return status, headers, minor == "0"
end

local function too_large(limit)
  return nil, "the response is larger than max_response_bytes: " .. limit .. " bytes", TOO_LARGE
end

-- body | nil, err, code; `limit` bounds the sum of the chunks (nil: none).
local function read_chunked(sock, limit)
  local parts, total = {}, 0
  while true do
    local line, err = sock:receive("*l")
    if not line then return nil, err end
    local size = tonumber(line:match("^%s*(%x+)") or "", 16)
    if not size then return nil, "malformed chunk size" end
    if size == 0 then
      repeat
        line, err = sock:receive("*l") -- trailers, then the empty line
        if not line then return nil, err end
      until line == ""
      return table.concat(parts)
    end
    total = total + size
    if limit and total > limit then return too_large(limit) end
    local data
    data, err = sock:receive(size)
    if not data then return nil, err end
    parts[#parts + 1] = data
    local crlf
    crlf, err = sock:receive(2)
    if not crlf then return nil, err end
    if crlf ~= "\r\n" then return nil, "malformed chunk" end
  end
end

-- A body delimited by the close, read in pieces so that the limit holds before memory is spent.
local function read_to_close(sock, limit)
  local parts, total = {}, 0
  while true do
    local data, err, partial = sock:receive(65536)
    data = data or partial
    if data and #data > 0 then
      total = total + #data
      if limit and total > limit then return too_large(limit) end
      parts[#parts + 1] = data
    end
    if err == "closed" then return table.concat(parts) end
    if err then return nil, err end
  end
end

-- body, reusable (the connection can go back to the pool) | nil, err, code
local function read_body(sock, method, status, headers, limit)
  if method == "HEAD" or status == 204 or status == 304 or (status >= 100 and status < 200) then
    return "", true
  end
  local te = headers["transfer-encoding"]
  if te and te:lower():find("chunked", 1, true) then
    local body, err, code = read_chunked(sock, limit)
    if not body then return nil, err, code end
    return body, true
  end
  local length = headers["content-length"]
  if length then
    length = tonumber(length:match("^%s*(%d+)"))
    if not length then return nil, "malformed content-length" end
    if limit and length > limit then return too_large(limit) end
    if length == 0 then return "", true end
    local body, err = sock:receive(length)
    if not body then return nil, err end
    return body, true
  end
  local body, err, code = read_to_close(sock, limit)
  if not body then return nil, err, code end
  return body, false
end

-- The proxy for https:// requests: {host, port, authorization?} from an http:// proxy URL, or
-- nil, message. Credentials become Proxy-Authorization (Basic), sent only to the proxy.
local function proxy_endpoint(url)
  local u, _, message = core.check_proxy_url(url)
  if not u then return nil, "proxy " .. message end
  if u.scheme ~= "http" then
    return nil, "an https:// proxy is not supported inside nginx (cosockets cannot run TLS inside "
      .. "TLS): use an http:// proxy, which carries the API's TLS as a CONNECT tunnel"
  end
  local endpoint = { host = u.host:match("^%[(.*)%]$") or u.host, port = u.port }
  if u.credentials then
    local userinfo = url:match("^%a+://([^/]*)@")
    endpoint.authorization = "Basic " .. ngx.encode_base64(ngx.unescape_uri(userinfo))
  end
  return endpoint
end

-- Opens the tunnel on a socket connected to the proxy: true | nil, kind, message.
local function connect_tunnel(sock, endpoint, host, port)
  local authority = (host:find(":", 1, true) and ("[" .. host .. "]") or host) .. ":" .. port
  local lines = { "CONNECT " .. authority .. " HTTP/1.1", "Host: " .. authority }
  if endpoint.authorization then lines[#lines + 1] = "Proxy-Authorization: " .. endpoint.authorization end
  local sent, err = sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n")
  if not sent then return nil, err == "timeout" and "timeout" or "connection", "proxy: " .. tostring(err) end
  local line
  line, err = sock:receive("*l")
  if not line then return nil, err == "timeout" and "timeout" or "connection", "proxy: " .. tostring(err) end
  local status = tonumber(line:match("^HTTP/1%.%d (%d%d%d)"))
  repeat
    line, err = sock:receive("*l")
    if not line then return nil, "connection", "proxy: " .. tostring(err) end
  until line == ""
  if status ~= 200 then
    return nil, "connection", "the proxy refused the CONNECT tunnel (HTTP " .. tostring(status) .. ")"
  end
  return true
end

local function classify(err)
  if err == "timeout" then return "timeout" end
  return "connection"
end

local function slurp(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local data = f:read("*a")
  f:close()
  return data
end

local BODY_METHODS = { POST = true, PUT = true, PATCH = true }

-- options: {connect_timeout (s), user_agent, proxy}. ca_file is not used: nginx verifies against
-- lua_ssl_trusted_certificate (docs/openresty.md).
function M.new(options)
  local t = {}
  local proxy, proxy_problem
  if options.proxy then proxy, proxy_problem = proxy_endpoint(options.proxy) end
  local user_agent = options.user_agent
  if user_agent and ngx.config and ngx.config.ngx_lua_version then
    user_agent = user_agent:gsub("libcurl/%S+", "ngx_lua/" .. tostring(ngx.config.ngx_lua_version))
  end
  local connect_ms = math.floor((options.connect_timeout or 10) * 1000)

  function t.send(request, timeout)
    local phase = ngx.get_phase and ngx.get_phase()
    if phase and not COSOCKET_PHASES[phase] then
      return nil, "invalid_argument", "cosockets are not available in the " .. phase
        .. " phase; call the API from a content, access, rewrite or timer handler (ngx.timer.at)"
    end
    local scheme, host, port, path = parse_url(request.url)
    if not scheme then return nil, "invalid_argument", "unusable URL: " .. tostring(host) end
    local via = scheme == "https" and proxy or nil -- plain http:// is never proxied
    if scheme == "https" and proxy_problem then return nil, "invalid_argument", proxy_problem end

    local body = request.body
    if request.body_file then
      local err
      body, err = slurp(request.body_file)
      if not body then return nil, "io", "cannot read body file: " .. tostring(err) end
    end

    local ms = math.max(1, math.floor(timeout * 1000))
    local sock = ngx.socket.tcp()
    sock:settimeouts(math.max(1, math.min(ms, connect_ms)), ms, ms)
    -- "localhost" needs no resolver: it is loopback by definition (and the name is kept for
    -- SNI and certificate verification)
    local dial_host, dial_port = host, port
    if via then dial_host, dial_port = via.host, via.port end
    local address = dial_host == "localhost" and "127.0.0.1" or dial_host
    local pool = scheme .. "://" .. host .. ":" .. port .. (via and (" via " .. via.host .. ":" .. via.port) or "")
    local ok, err = sock:connect(address, dial_port, { pool = pool })
    if not ok then
      if err and err:find("no resolver defined", 1, true) then
        return nil, "invalid_argument", "cannot resolve " .. dial_host .. ": add a resolver directive to nginx.conf"
      end
      return nil, classify(err), "connect to " .. (via and "the proxy " or "") .. dial_host .. ":" .. dial_port
        .. " failed: " .. tostring(err)
    end
    if via and sock:getreusedtimes() == 0 then
      local tunnel, kind, message = connect_tunnel(sock, via, host, port)
      if not tunnel then
        sock:close()
        return nil, kind, message
      end
    end
    if scheme == "https" and sock:getreusedtimes() == 0 then
      -- Success is "no error" (the session returned may be nil). lua-resty-core 0.1.25 (Debian 12)
      -- can raise "assertion failed!" instead of returning an error when verification fails on a
      -- handshake that completed at once: pcall, and treat a raise as a failed handshake.
      local called, result, herr = pcall(sock.sslhandshake, sock, nil, host, true)
      if not called then herr = "handshake aborted (" .. tostring(result) .. ")" end
      if herr then
        err = herr
        sock:close()
        if err == "timeout" then return nil, "timeout", "TLS handshake with " .. host .. " timed out" end
        return nil, "tls", "TLS handshake with " .. host .. " failed: " .. tostring(err)
      end
    end

    local authority = host:find(":", 1, true) and ("[" .. host .. "]") or host
    if not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)) then
      authority = authority .. ":" .. port
    end
    local lines = { request.method .. " " .. path .. " HTTP/1.1", "Host: " .. authority }
    local has_ua = false
    for name, value in pairs(request.headers or {}) do
      local lname = name:lower()
      if lname ~= "content-length" and lname ~= "host" then
        lines[#lines + 1] = name .. ": " .. value
        if lname == "user-agent" then has_ua = true end
      end
    end
    if not has_ua and user_agent then lines[#lines + 1] = "User-Agent: " .. user_agent end
    if body or BODY_METHODS[request.method] then
      lines[#lines + 1] = "Content-Length: " .. (body and #body or 0)
    end
    lines[#lines + 1] = ""
    lines[#lines + 1] = body or ""
    local sent
    sent, err = sock:send(table.concat(lines, "\r\n"))
    if not sent then sock:close() return nil, classify(err), "send failed: " .. tostring(err) end

    local status, headers, http10 = read_headers(sock)
    if not status then
      sock:close()
      return nil, classify(headers), "reading the response failed: " .. tostring(headers)
    end
    local data, reusable, code = read_body(sock, request.method, status, headers, request.max_response_bytes)
    if not data then
      sock:close()
      if code then return nil, "io", reusable, code end
      return nil, classify(reusable), "reading the body failed: " .. tostring(reusable)
    end

    local connection = (headers["connection"] or ""):lower()
    if reusable and not http10 and not connection:find("close", 1, true) then
      sock:setkeepalive(POOL_IDLE_MS, POOL_SIZE)
    else
      sock:close()
    end
    if request.out_file then
      local f, ferr = io.open(request.out_file, "wb")
      if not f then return nil, "io", "cannot write the response body: " .. tostring(ferr) end
      local wrote, werr = f:write(data)
      f:close()
      if not wrote then return nil, "io", "cannot write the response body: " .. tostring(werr) end
      return status, headers, nil
    end
    return status, headers, data
  end

  function t.sleep(seconds) ngx.sleep(seconds) end

  function t.now()
    ngx.update_time()
    return ngx.now()
  end

  function t.close() end

  return t
end

-- True where a cosocket can be used (inside nginx, in a phase that has them).
function M.available()
  if type(ngx) ~= "table" or not ngx.get_phase then return false end
  return COSOCKET_PHASES[ngx.get_phase()] == true
end


return M
