-- Network hardening (issue 9), over real sockets on loopback: the API key never reaches a host
-- other than the API's (credentials in a base URL, proxy variables, redirects), proxies only
-- through a CONNECT tunnel for https://, responses bounded by max_response_bytes with the
-- client's peak RSS measured, and control characters escaped in the debug log.
-- A trap listener on 127.0.0.2 stands for "another host": it must receive nothing.
local collate = require "collate"
local canned = require "support.canned"
local sandbox = require "support.sandbox"

local MiB = 1024 * 1024

-- A child client script: the test environment's paths, then `body` (which prints results).
local function child(body)
  return "local collate = require 'collate'\n"
    .. "local function report(ok, err)\n"
    .. "  if ok then print('result ok') return end\n"
    .. "  print('result ' .. tostring(err.kind) .. ' ' .. tostring(err.code)\n"
    .. "    .. ' attempts=' .. tostring(err.attempts))\n"
    .. "  print('message ' .. tostring(err.message):gsub('%c', '?'))\n"
    .. "end\n"
    .. "local function peak_rss_kb()\n"
    .. "  local f = io.open('/proc/self/status')\n"
    .. "  local kb = f:read('*a'):match('VmHWM:%s*(%d+)')\n"
    .. "  f:close()\n"
    .. "  return tonumber(kb)\n"
    .. "end\n"
    .. body
end

local function raises(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  assert.is_true(collate.is_error(err), tostring(err))
  return err
end

describe("network hardening", function()
  local sb, trap

  setup(function()
    sb = sandbox.start{ args = { "--clock-mode", "step", "--log-level", "quiet" } }
  end)

  teardown(function()
    if sb then sb:stop() end
  end)

  before_each(function()
    trap = canned.trap()
  end)

  after_each(function()
    trap:close()
  end)

  local function assert_trap_empty()
    local connections, bytes = trap:received()
    assert.are.equal(0, connections, "the trap host received " .. connections .. " connection(s), "
      .. bytes .. " bytes")
  end

  describe("base URLs", function()
    it("refuses credentials in the URL: the host behind '@' never sees the key", function()
      local url = "http://127.0.0.1:1@127.0.0.2:" .. trap.port
      local err = raises(collate.new, { api_key = sb.key, environment = url })
      assert.are.equal("invalid_argument", err.kind)
      assert.matches("collate.new: environment must not contain credentials", err.message, 1, true)
      assert.is_nil(err.message:find("127.0.0.1:1", 1, true), "the credentials are not echoed")
      err = raises(collate.new, { api_key = sb.key, base_url = "https://user:pw@127.0.0.2:" .. trap.port })
      assert.matches("base_url must not contain credentials", err.message, 1, true)
      assert.is_nil(err.message:find("pw", 1, true))
      assert_trap_empty()
    end)

    it("refuses credentials in a request URL in the transport too (a second line of defence)", function()
      local core = require "collate.core"
      local h = core.http()
      local status, kind, message = h:perform{ url = "http://127.0.0.1:1@127.0.0.2:" .. trap.port .. "/v1/payers",
        headers = { Authorization = "Bearer " .. sb.key } }
      h:close()
      assert.is_nil(status)
      assert.are.equal("invalid_argument", kind)
      assert.matches("credentials", message, 1, true)
      assert_trap_empty()
    end)

    it("refuses a query or a fragment, naming the option", function()
      assert.matches("environment must not contain a query",
        raises(collate.new, { api_key = "k", environment = sb.url .. "/?x=1" }).message, 1, true)
      assert.matches("base_url must not contain a fragment",
        raises(collate.new, { api_key = "k", base_url = sb.url .. "#top" }).message, 1, true)
    end)

    it("decides the plain-http loopback exception on the parsed host", function()
      for _, url in ipairs({ "http://127.0.0.1.example.com", "http://localhost.example.com:80",
                             "http://128.0.0.1", "http://[::2]" }) do
        local err = raises(collate.new, { api_key = "k", environment = url })
        assert.matches("refusing to send the API key", err.message, 1, true)
      end
      local normalised = { ["http://127.9.9.9:5"] = "http://127.9.9.9:5",
        ["HTTP://LOCALHOST:5/"] = "http://localhost:5", ["http://[::1]:5"] = "http://[::1]:5" }
      for url, want in pairs(normalised) do
        assert.are.equal(want, collate.new{ api_key = "k", environment = url }.base_url)
      end
    end)

    it("accepts the scheme in any case", function()
      assert.are.equal("https://api.example.com",
        collate.new{ api_key = "k", environment = "HTTPS://API.Example.com/" }.base_url)
      local upper = sb.url:gsub("^http", "HTTP")
      assert.is_table(collate.new{ api_key = sb.key, environment = upper }.health{})
    end)
  end)

  describe("proxies", function()
    it("never sends an http:// call through the proxy variables", function()
      local out = canned.run_client(child(([[
        local client = collate.new{ api_key = KEY, environment = URL, max_retries = 0, timeout = 3 }
        report(pcall(client.payers.list, {}))
        local created = client.files.create{ file_name = "a.pdf", content_type = "application/pdf",
          purpose = "authorization_attachment" }
        report(pcall(client.files.upload, { upload = created.upload, data = "%%PDF-1.4 x" }))
      ]]):gsub("KEY", string.format("%q", sb.key)):gsub("URL", string.format("%q", sb.url))), {
        env = table.concat({ "http_proxy=" .. trap.url, "HTTP_PROXY=" .. trap.url, "https_proxy=" .. trap.url,
          "HTTPS_PROXY=" .. trap.url, "ALL_PROXY=" .. trap.url, "all_proxy=" .. trap.url,
          "NO_PROXY=", "no_proxy=" }, " "),
      })
      local _, oks = out:gsub("result ok", "")
      assert.are.equal(2, oks, out)
      assert_trap_empty()
    end)

    it("refuses an explicit proxy with a plain http:// base URL", function()
      local err = raises(collate.new, { api_key = sb.key, environment = sb.url, proxy = trap.url })
      assert.are.equal("invalid_argument", err.kind)
      assert.matches("proxy is set but the base URL is plain http://", err.message, 1, true)
      local out = canned.run_client(child(([[
        report(pcall(collate.new, { api_key = "k", environment = URL }))
      ]]):gsub("URL", string.format("%q", sb.url))), { env = "COLLATE_PROXY=" .. trap.url })
      assert.matches("result invalid_argument", out, 1, true)
      assert.matches("COLLATE_PROXY is set", out, 1, true)
      assert_trap_empty()
    end)

    it("never logs nor reports the proxy's credentials", function()
      local out = canned.run_client(child([[
        local client = collate.new{ api_key = "k", environment = "https://127.0.0.1:1", max_retries = 1,
                                    proxy = "http://user:hunter2@127.0.0.1:1" }
        local ok, err = pcall(client.payers.list, {})
        report(ok, err)
        print(tostring(err))
      ]]), { env = "COLLATE_LOG=debug" })
      assert.matches("result connection", out, 1, true)
      assert.matches("collate: ! GET /v1/payers", out, 1, true) -- the debug log ran
      assert.is_nil(out:find("hunter2", 1, true), out)
    end)

    it("checks the proxy URL without echoing its credentials", function()
      local err = raises(collate.new, { api_key = "k", environment = "https://api.example.com",
                                        proxy = "socks5://user:hunter2@127.0.0.1:1080" })
      assert.matches("proxy must be", err.message, 1, true)
      assert.is_nil(err.message:find("hunter2", 1, true))
      err = raises(collate.new, { api_key = "k", environment = "https://api.example.com",
                                  proxy = "http://user:hunter2@127.0.0.1:3128/path" })
      assert.is_nil(err.message:find("hunter2", 1, true))
    end)
  end)

  describe("proxies for https:// (CONNECT tunnels to nginx's TLS in front of the sandbox)", function()
    local tls, https_proxy, connect_proxy
    local ok_tls, nginx_tls = pcall(require, "tls.nginx_tls")

    setup(function()
      if ok_tls then ok_tls, tls = pcall(nginx_tls.start, { upstream = sb.url }) end
      if ok_tls then
        connect_proxy = canned.start("connect")
        https_proxy = canned.https_proxy(tls)
      end
    end)

    teardown(function()
      if https_proxy then https_proxy.stop() end
      if connect_proxy then connect_proxy:stop() end
      if ok_tls and tls then tls:stop() end
    end)

    local function base() return "https://localhost:" .. tls.port end
    local function only_tunnels(lines)
      assert.is_true(#lines >= 1, "the proxy saw no tunnel")
      for _, line in ipairs(lines) do
        assert.are.equal("CONNECT localhost:" .. tls.port .. " HTTP/1.1", line)
      end
    end

    it("honours https_proxy / ALL_PROXY for https://, as a tunnel the key stays inside", function()
      if not ok_tls then return pending("nginx/openssl TLS fixture unavailable") end
      for _, var in ipairs({ "https_proxy", "ALL_PROXY" }) do
        local before = #connect_proxy:requests()
        local out = canned.run_client(child(([[
          local client = collate.new{ api_key = KEY, environment = URL, ca_file = CA, max_retries = 0 }
          report(pcall(client.payers.list, {}))
        ]]):gsub("KEY", string.format("%q", sb.key)):gsub("URL", string.format("%q", base()))
           :gsub("CA", string.format("%q", tls.ca_file))), { env = var .. "=" .. connect_proxy.url })
        assert.matches("result ok", out, 1, true)
        local lines = connect_proxy:requests()
        assert.is_true(#lines > before, var .. " was not used:\n" .. out)
        only_tunnels(lines)
      end
    end)

    it("honours NO_PROXY", function()
      if not ok_tls then return pending("nginx/openssl TLS fixture unavailable") end
      local out = canned.run_client(child(([[
        local client = collate.new{ api_key = KEY, environment = URL, ca_file = CA, max_retries = 0 }
        report(pcall(client.payers.list, {}))
      ]]):gsub("KEY", string.format("%q", sb.key)):gsub("URL", string.format("%q", base()))
         :gsub("CA", string.format("%q", tls.ca_file))), { env = "https_proxy=" .. trap.url .. " NO_PROXY=localhost" })
      assert.matches("result ok", out, 1, true)
      assert_trap_empty()
    end)

    it("takes an explicit http:// or https:// proxy (the proxy's CA from ca_file)", function()
      if not ok_tls then return pending("nginx/openssl TLS fixture unavailable") end
      local client = collate.new{ api_key = sb.key, environment = base(), ca_file = tls.ca_file,
                                  proxy = connect_proxy.url }
      assert.is_table(client.payers.list{})
      only_tunnels(connect_proxy:requests())
      if not https_proxy then return pending("libnginx-mod-stream missing: no HTTPS proxy") end
      local before = #https_proxy.connect:requests()
      client = collate.new{ api_key = sb.key, environment = base(), ca_file = tls.ca_file, proxy = https_proxy.url }
      assert.is_table(client.payers.list{})
      assert.are.equal(before + 1, #https_proxy.connect:requests())
      only_tunnels(https_proxy.connect:requests())
      -- an HTTPS proxy whose certificate does not verify: kind tls, nothing tunnelled
      local untrusted = collate.new{ api_key = sb.key, environment = base(), proxy = https_proxy.url,
                                     max_retries = 0 }
      assert.are.equal("tls", raises(untrusted.payers.list, {}).kind)
      assert.are.equal(before + 1, #https_proxy.connect:requests())
    end)
  end)

  describe("redirects", function()
    it("are not followed: the redirect target never sees the key", function()
      local srv = canned.start("redirect", trap.url .. "/v1/payers")
      local client = collate.new{ api_key = sb.key, environment = srv.url, max_retries = 0 }
      local err = raises(client.payers.list, {})
      assert.are.equal(302, err.status_code)
      assert.are.equal(1, #srv:requests())
      srv:stop()
      assert_trap_empty()
    end)
  end)

  describe("max_response_bytes", function()
    local function big_response(framing)
      local srv = canned.start("big", tostring(200 * MiB), framing)
      local out = canned.run_client(child(([[
        local client = collate.new{ api_key = "k", environment = URL }
        report(pcall(client.payers.list, {}))
        print('peak_kb ' .. peak_rss_kb())
      ]]):gsub("URL", string.format("%q", srv.url))))
      local requests = #srv:requests()
      srv:stop()
      return out, requests
    end

    local budget_kb = 160 * 1000 * (os.getenv("COLLATE_SANITIZED") == "1" and 3 or 1)

    for _, framing in ipairs({ "length", "chunked" }) do
      it("stops a 200 MiB " .. framing .. " response under 160 MB of peak RSS, without a retry", function()
        local out, requests = big_response(framing)
        assert.matches("result io response_too_large attempts=1", out, 1, true)
        assert.matches("max_response_bytes", out, 1, true)
        assert.are.equal(1, requests, "not retried")
        local peak = tonumber(out:match("peak_kb (%d+)"))
        assert.is_number(peak, out)
        print(string.format("  %s: peak RSS %.1f MB (budget %.0f MB)", framing, peak / 1000, budget_kb / 1000))
        assert.is_true(peak < budget_kb, "peak RSS " .. peak .. " kB")
      end)
    end

    it("is a client option and a per-call option", function()
      local small = collate.new{ api_key = sb.key, environment = sb.url, max_response_bytes = 16 }
      local err = raises(small.payers.list, {})
      assert.are.equal("io", err.kind)
      assert.are.equal("response_too_large", err.code)
      assert.is_false(err.retryable)
      local client = collate.new{ api_key = sb.key, environment = sb.url }
      assert.is_table(client.payers.list{})
      err = raises(client.payers.list, { max_response_bytes = 16 })
      assert.are.equal("response_too_large", err.code)
      assert.matches("max_response_bytes", raises(collate.new, { api_key = "k", max_response_bytes = 0 }).message)
    end)

    it("holds inside collate.run too (the multi handle)", function()
      local client = collate.new{ api_key = sb.key, environment = sb.url }
      local code, page
      collate.run(function()
        local ok, err = collate.pcall(client.payers.list, { max_response_bytes = 16 }) -- yields on 5.1 too
        code = not ok and err.code
        page = client.payers.list{}
      end)
      assert.are.equal("response_too_large", code)
      assert.is_table(page.data)
    end)
  end)

  describe("downloads", function()
    it("keep their own limit, and a download past it leaves no file", function()
      local setup_client = collate.new{ api_key = sb.key, environment = sb.url }
      local created = setup_client.files.create{ file_name = "a.pdf", content_type = "application/pdf",
        purpose = "authorization_attachment" }
      setup_client.files.upload{ upload = created.upload, data = "%PDF-1.4 " .. ("x"):rep(4000) }
      setup_client.files.complete{ file_id = created.file.id }
      local client = collate.new{ api_key = sb.key, environment = sb.url, max_response_bytes = 64 }
      local path = os.tmpname()
      os.remove(path)
      -- streamed to a path: the download default (1 GiB), not the client's in-memory limit
      local got = client.files.download{ file_id = created.file.id, path = path }
      assert.are.equal(path, got.path)
      os.remove(path)
      local err = raises(client.files.download, { file_id = created.file.id, path = path, max_response_bytes = 100 })
      assert.are.equal("response_too_large", err.code)
      assert.is_nil(io.open(path, "rb"), "no file at path")
      assert.is_nil(io.open(path .. ".part", "rb"), "no partial file")
      -- to a string: the client's max_response_bytes
      assert.are.equal("response_too_large", raises(client.files.download, { file_id = created.file.id }).code)
    end)
  end)

  describe("errors", function()
    it("never carry the key, even when a server echoes the Authorization header", function()
      local srv = canned.start("echo_auth")
      local key = "sk_test_echo_" .. tostring(os.time())
      local client = collate.new{ api_key = key, environment = srv.url, max_retries = 0 }
      local err = raises(client.payers.list, {})
      srv:stop()
      assert.are.equal("bad_request", err.code)
      assert.matches("cannot use Bearer [REDACTED]", err.message, 1, true)
      assert.is_nil(tostring(err):find(key, 1, true))
      assert.are.equal("cannot use Bearer [REDACTED]", err.body.error.message)
    end)
  end)

  describe("logs", function()
    it("escape control characters from the server", function()
      local srv = canned.start("error_crlf")
      local out = canned.run_client(child(([[
        local client = collate.new{ api_key = "k", environment = URL, max_retries = 0 }
        report(pcall(client.payers.list, {}))
      ]]):gsub("URL", string.format("%q", srv.url))), { env = "COLLATE_LOG=debug" })
      srv:stop()
      assert.matches("result api bad_request", out, 1, true)
      assert.matches("line one\\r\\ncollate: GET /forged -> 200\\0end", out, 1, true)
      for line in out:gmatch("[^\n]+") do
        assert.is_nil(line:find("^collate: GET /forged"), "a forged log line: " .. line)
      end
    end)
  end)
end)
