-- collate inside nginx (libnginx-mod-http-lua, LuaJIT): the README's nginx.conf, a handler
-- that creates, patches, attaches and confirms over cosockets, and proof that the worker keeps
-- serving while a sandbox call is delayed.
local fs = require "support.fs"
local socket = require "socket"
local cjson = require "cjson.safe"
local sandbox = require "support.sandbox"
local http = require "support.http"
local nginx_lua = require "openresty.nginx_lua"
local canned = require "support.canned"

local q = fs.quote

local read_file = fs.read_file

local function ngx_escape(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- GET url in the background with curl; returns a function that waits for {json, seconds}.
local function background_get(url)
  local out = os.tmpname()
  os.execute("sh -c " .. q("curl -s --max-time 20 -w '\\n%{time_total}' " .. q(url) .. " >" .. q(out .. ".tmp")
    .. " 2>/dev/null; mv " .. q(out .. ".tmp") .. " " .. q(out)) .. " >/dev/null 2>&1 &")
  return function()
    for _ = 1, 400 do
      local s = read_file(out)
      if s and s ~= "" then
        os.remove(out)
        local body, seconds = s:match("^(.*)\n([%d%.]+)$")
        return cjson.decode(body or ""), tonumber(seconds), s
      end
      socket.sleep(0.05)
    end
    error("background request did not finish: " .. url)
  end
end

-- Test-only locations: an API call from the log phase (no cosockets there), and the
-- ngx.timer.at hand-off docs/openresty.md recommends instead.
-- /api/health: a chunked JSON answer (flushed in pieces) that reports how many requests its
-- connection has carried; /pool calls it three times through collate.
local EXTRA_LOCATIONS = [[
    location = /api/health {
      content_by_lua_block {
        ngx.header["Content-Type"] = "application/json"
        ngx.print('{"status":"ok",')
        ngx.flush(true)
        ngx.print('"connectionRequests":', ngx.var.connection_requests, ',"padding":"')
        ngx.flush(true)
        ngx.print(string.rep("x", 5000), '"}')
      }
    }
    location = /pool {
      content_by_lua_block {
        local client = assert(require("collate.safe").new{
          environment = "http://127.0.0.1:" .. ngx.var.server_port .. "/api", api_key = "k" })
        local seen = {}
        for i = 1, 3 do
          local h, err = client.health{}
          if not h then ngx.status = 500 ngx.say(tostring(err)) return end
          local te = client.last_response().headers["transfer-encoding"]
          seen[i] = h.connection_requests .. ":" .. #h.padding .. ":" .. te
        end
        ngx.say(table.concat(seen, " "))
      }
    }
    location = /phases {
      content_by_lua_block { ngx.say("ok") }
      log_by_lua_block {
        local client = require("collate.safe").new{ max_retries = 2 }
        local health, err = client.health{}
        ngx.log(ngx.WARN, "phase-check log: ", tostring(health), " ", err and err.kind, " ",
                err and err.attempts, " ", tostring(err))
        local ok, terr = ngx.timer.at(0, function(premature)
          if premature then return end
          local h, e = require("collate.safe").new{}.health{}
          ngx.log(ngx.WARN, "phase-check timer: ", h and h.status or tostring(e))
        end)
        if not ok then ngx.log(ngx.WARN, "phase-check timer failed: ", terr) end
      }
    }
]]

describe("the README's OpenResty section", function()
  it("shows tests/openresty/nginx.conf.in verbatim (the configuration these tests run)", function()
    local root = os.getenv("COLLATE_SOURCE_DIR") or "."
    local conf = assert(read_file(root .. "/tests/openresty/nginx.conf.in"))
    local readme = assert(read_file(root .. "/README.md"))
    assert.truthy(readme:find("```nginx\n" .. conf .. "```", 1, true),
      "README.md's nginx.conf block differs from tests/openresty/nginx.conf.in")
  end)
end)

describe("collate inside nginx (cosockets)", function()
  local sb, ng

  setup(function()
    sb = sandbox.start{}
    ng = nginx_lua.start{ base_url = sb.url, api_key = sb.key, extra = EXTRA_LOCATIONS }
  end)

  teardown(function()
    if ng then ng:stop() end
    if sb then sb:stop() end
  end)

  before_each(function()
    sb:reset({})
  end)

  after_each(function()
    assert.is_nil(ng:error_log():find("%[error%]"), ng:error_log())
  end)

  it("creates, patches, attaches and confirms through require 'collate' in content_by_lua_block", function()
    local r = assert(http.request{ url = ng.url .. "/authorize" })
    assert.are.equal(200, r.status, r.body)
    assert.are.equal("processing", r.json.status)
    assert.are.equal(4, r.json.version)
    local got = sb:request("GET", "/v1/prior-authorizations/" .. r.json.id)
    assert.are.equal("processing", got.json.status)
    -- the calls the handler made, in order, as the sandbox saw them
    local log = sb:control("GET", "/_sandbox/requests?limit=50").json.data
    local seen = {}
    for _, e in ipairs(log) do seen[#seen + 1] = e.method .. " " .. (e.path:gsub("/[%w_]+_%x+", "/ID")) end
    local text = table.concat(seen, "\n")
    for _, want in ipairs{ "POST /v1/prior-authorizations", "PATCH /v1/prior-authorizations/ID/answers",
                           "POST /v1/files", "PUT /_uploads/ID", "POST /v1/files/ID/complete",
                           "POST /v1/prior-authorizations/ID/attachments",
                           "POST /v1/prior-authorizations/ID/confirm" } do
      assert.truthy(text:find(want, 1, true), want .. " missing from:\n" .. text)
    end
  end)

  it("keeps the worker serving while a sandbox call is delayed 1 s (no blocking libcurl call)", function()
    local f = sb:control("POST", "/_sandbox/faults",
      { rules = { { method = "POST", path = "/v1/prior-authorizations", kind = "delay", ms = 1000 } } })
    assert.are.equal(200, f.status)
    local t0 = socket.gettime()
    local wait_flow = background_get(ng.url .. "/authorize")
    socket.sleep(0.3) -- the create is now waiting on the sandbox's delay
    local t1 = socket.gettime()
    local health = assert(http.request{ url = ng.url .. "/health", timeout = 5 })
    local health_seconds = socket.gettime() - t1
    local health_done_at = socket.gettime() - t0
    local flow, flow_seconds, raw = wait_flow()
    assert.is_table(flow, raw)
    io.stderr:write(string.format("\nopenresty: /health answered in %.1f ms while /authorize waited "
      .. "(%.3f s in the handler, %.3f s end to end)\n", health_seconds * 1000, flow.seconds, flow_seconds))
    assert.is_true(health.json.ok, health.body)
    assert.are.equal(flow.worker, health.json.worker) -- the same (only) worker served both
    assert.are.equal("processing", flow.status)
    assert.is_true(flow.seconds >= 0.95, "the create was not delayed: " .. tostring(flow.seconds))
    assert.is_true(health_done_at < 0.9, "health finished only after " .. health_done_at .. " s")
    assert.is_true(health_seconds < 0.25, "health took " .. health_seconds .. " s")
  end)

  it("refuses a call from the log phase before any I/O, and works from ngx.timer.at there", function()
    local r = assert(http.request{ url = ng.url .. "/phases" })
    assert.are.equal(200, r.status)
    local log
    for _ = 1, 100 do
      log = ng:error_log()
      if log:find("phase-check timer:", 1, true) then break end
      socket.sleep(0.05)
    end
    assert.truthy(log:find("phase-check log: nil invalid_argument 1 collate: invalid argument: "
      .. "cosockets are not available in the log phase", 1, true), log)
    local status = log:match("phase%-check timer: (%w+)")
    assert.are.equal("ok", status, log)
  end)

  it("decodes chunked bodies and reuses pooled connections (setkeepalive)", function()
    local r = assert(http.request{ url = ng.url .. "/pool" })
    assert.are.equal(200, r.status, r.body)
    -- one connection carried the three calls, each answer chunked and complete
    assert.are.equal("1:5000:chunked 2:5000:chunked 3:5000:chunked\n", r.body)
  end)

  it("turns an API error into nil, err in the handler (collate.safe)", function()
    -- two 503s: the first attempt and the one retry (max_retries = 1) both fail
    sb:control("POST", "/_sandbox/faults", { rules = {
      { method = "POST", path = "/v1/prior-authorizations", kind = "status", status = 503, times = 2 } } })
    local r = assert(http.request{ url = ng.url .. "/authorize" })
    assert.are.equal(503, r.status, r.body)
    assert.are.equal("service_unavailable", r.json.code)
  end)
end)

-- Test-only locations for the network rules: a call through ?proxy=, and one with ?base= and
-- ?max= (max_response_bytes). Each answers "ok" or "kind code message".
local NET_LOCATIONS = [[
    location = /net {
      content_by_lua_block {
        local args = ngx.req.get_uri_args()
        local client, err = require("collate.safe").new{ proxy = args.proxy, environment = args.base,
          max_response_bytes = tonumber(args.max), max_retries = 0 }
        local h
        if client then h, err = client.health{} end
        if h then ngx.say("ok") return end
        ngx.say(tostring(err.kind), " ", tostring(err.code), " ", tostring(err.message))
      }
    }
]]

describe("collate inside nginx over TLS (cosocket sslhandshake, SNI, verification)", function()
  local sb, tls, ng
  local ok_tls, tls_mod = pcall(require, "tls.nginx_tls")

  setup(function()
    assert(ok_tls, tls_mod)
    sb = sandbox.start{}
    tls = tls_mod.start{ upstream = sb.url }
  end)

  teardown(function()
    if ng then ng:stop() end
    if tls then tls:stop() end
    if sb then sb:stop() end
  end)

  it("verifies the server against lua_ssl_trusted_certificate and runs the flow over https", function()
    ng = nginx_lua.start{ base_url = "https://localhost:" .. tls.port, api_key = sb.key, ca_file = tls.ca_file }
    local r = assert(http.request{ url = ng.url .. "/authorize" })
    assert.are.equal(200, r.status, r.body)
    assert.are.equal("processing", r.json.status)
    ng:stop()
    ng = nil
  end)

  it("goes through an http:// proxy as a CONNECT tunnel, refuses an https:// one, bounds bodies", function()
    ng = nginx_lua.start{ base_url = "https://localhost:" .. tls.port, api_key = sb.key, ca_file = tls.ca_file,
                          extra = NET_LOCATIONS }
    local proxy = canned.start("connect")
    local big = canned.start("big", tostring(8 * 1024 * 1024), "chunked")
    local function net(query)
      local r = assert(http.request{ url = ng.url .. "/net?" .. query })
      assert.are.equal(200, r.status, r.body)
      return r.body
    end
    local ok, err = pcall(function()
      assert.are.equal("ok\n", net("proxy=" .. ngx_escape(proxy.url)))
      -- the proxy saw a tunnel only: the request (and its key) went inside TLS
      local seen = proxy:requests()
      assert.are.same({ "CONNECT localhost:" .. tls.port .. " HTTP/1.1" }, seen)
      assert.matches("invalid_argument nil an https:// proxy is not supported inside nginx",
        net("proxy=" .. ngx_escape("https://127.0.0.1:" .. proxy.port)), 1, true)
      assert.matches("proxy is set but the base URL is plain http://",
        net("proxy=" .. ngx_escape(proxy.url) .. "&base=" .. ngx_escape(sb.url)), 1, true)
      assert.matches("io response_too_large the response is larger than max_response_bytes",
        net("base=" .. ngx_escape(big.url) .. "&max=1048576"), 1, true)
    end)
    proxy:stop()
    big:stop()
    ng:stop()
    ng = nil
    assert(ok, err)
  end)

  it("refuses a server its CA bundle does not vouch for (kind tls, not retried)", function()
    ng = nginx_lua.start{ base_url = "https://localhost:" .. tls.port, api_key = sb.key }
    local before = #sb:control("GET", "/_sandbox/requests?limit=200").json.data
    local r = assert(http.request{ url = ng.url .. "/health" })
    assert.are.equal(200, r.status, r.body .. ng:error_log())
    assert.is_false(r.json.ok)
    assert.truthy(r.json.error:find("tls", 1, true) or r.json.error:find("TLS", 1, true), r.json.error)
    assert.are.equal(before, #sb:control("GET", "/_sandbox/requests?limit=200").json.data)
    ng:stop()
    ng = nil
  end)
end)
