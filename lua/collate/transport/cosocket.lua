-- The OpenResty transport: HTTP/1.1 over ngx.socket.tcp, so no libcurl call ever blocks an
-- nginx worker. TLS with verification and SNI, keep-alive pooling, Content-Length and chunked
-- bodies, timeouts in milliseconds, ngx.sleep for backoff.
-- Cosockets exist in rewrite, access, content, timer and ssl_certificate-free phases only; see
-- docs/openresty.md for the phases where they do not (init, set, header_filter, body_filter, log).
local M = {}

local ngx = ngx -- luacheck: ignore (the OpenResty global)

local POOL_SIZE = 32
local POOL_IDLE_MS = 60000

local function parse_url(url)
  local scheme, host, port, path = url:match("^(https?)://([^/:]+):?(%d*)(.*)$")
  if not scheme then
    local s, h, p, rest = url:match("^(https?)://%[([^%]]+)%]:?(%d*)(.*)$")
    scheme, host, port, path = s, h, p, rest
  end
  if not scheme then return nil end
  if port == "" then port = scheme == "https" and 443 or 80 else port = tonumber(port) end
  if path == "" then path = "/" end
  return scheme, host, port, path
end

local function read_headers(sock)
  local line, err = sock:receive("*l")
  if not line then return nil, err end
  local status = tonumber(line:match("^HTTP/%d%.%d (%d%d%d)"))
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
  return status, headers
end

local function read_chunked(sock)
  local parts = {}
  while true do
    local line, err = sock:receive("*l")
    if not line then return nil, err end
    local size = tonumber(line:match("^%s*(%x+)"), 16)
    if not size then return nil, "malformed chunk size" end
    if size == 0 then
      repeat
        line, err = sock:receive("*l") -- trailers, then the empty line
        if not line then return nil, err end
      until line == ""
      return table.concat(parts)
    end
    local data
    data, err = sock:receive(size)
    if not data then return nil, err end
    parts[#parts + 1] = data
    local crlf
    crlf, err = sock:receive(2)
    if not crlf then return nil, err end
  end
end

local function read_body(sock, method, status, headers)
  if method == "HEAD" or status == 204 or status == 304 or (status >= 100 and status < 200) then
    return ""
  end
  local te = headers["transfer-encoding"]
  if te and te:lower():find("chunked", 1, true) then return read_chunked(sock) end
  local length = tonumber(headers["content-length"])
  if length then
    if length == 0 then return "" end
    return sock:receive(length)
  end
  return sock:receive("*a") -- until close
end

local function classify(err)
  if err == "timeout" then return "timeout" end
  if err and (err:find("certificate", 1, true) or err:find("handshake", 1, true) or err:find("ssl", 1, true)) then
    return "tls"
  end
  return "connection"
end

local function slurp(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local data = f:read("*a")
  f:close()
  return data
end

-- options: {ca_file (unused here: nginx's lua_ssl_trusted_certificate decides), user_agent}
function M.new(options)
  local t = {}

  function t.send(request, timeout)
    local scheme, host, port, path = parse_url(request.url)
    if not scheme then return nil, "connection", "malformed URL" end
    local ms = math.max(1, math.floor(timeout * 1000))
    local sock = ngx.socket.tcp()
    sock:settimeouts(math.min(ms, 10000), ms, ms)
    local ok, err = sock:connect(host, port, { pool = scheme .. ":" .. host .. ":" .. port })
    if not ok then return nil, classify(err), "connect to " .. host .. " failed: " .. tostring(err) end
    if scheme == "https" and sock:getreusedtimes() == 0 then
      ok, err = sock:sslhandshake(nil, host, true)
      if not ok then
        sock:close()
        return nil, "tls", "TLS handshake with " .. host .. " failed: " .. tostring(err)
      end
    end

    local body = request.body
    if request.body_file then
      body, err = slurp(request.body_file)
      if not body then sock:close() return nil, "connection", "cannot read body file: " .. tostring(err) end
    end
    local lines = { request.method .. " " .. path .. " HTTP/1.1", "Host: " .. host ..
      ((port == 80 or port == 443) and "" or (":" .. port)) }
    local has_ua = false
    for name, value in pairs(request.headers or {}) do
      lines[#lines + 1] = name .. ": " .. value
      if name:lower() == "user-agent" then has_ua = true end
    end
    if not has_ua and options.user_agent then lines[#lines + 1] = "User-Agent: " .. options.user_agent end
    lines[#lines + 1] = "Content-Length: " .. (body and #body or 0)
    lines[#lines + 1] = ""
    lines[#lines + 1] = body or ""
    local sent
    sent, err = sock:send(table.concat(lines, "\r\n"))
    if not sent then sock:close() return nil, classify(err), "send failed: " .. tostring(err) end

    local status, headers = read_headers(sock)
    if not status then
      sock:close()
      return nil, classify(headers), "reading the response failed: " .. tostring(headers)
    end
    local data
    data, err = read_body(sock, request.method, status, headers)
    if not data then sock:close() return nil, classify(err), "reading the body failed: " .. tostring(err) end

    if (headers["connection"] or ""):lower() == "close" then
      sock:close()
    else
      sock:setkeepalive(POOL_IDLE_MS, POOL_SIZE)
    end
    if request.out_file then
      local f, ferr = io.open(request.out_file, "wb")
      if not f then return nil, "connection", "cannot write " .. tostring(ferr) end
      f:write(data)
      f:close()
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
  local phase = ngx.get_phase()
  return phase == "rewrite" or phase == "access" or phase == "content" or phase == "timer"
    or phase == "ssl_cert" or phase == "ssl_session_fetch"
end

return M
