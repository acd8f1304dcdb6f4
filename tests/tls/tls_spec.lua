-- The client over TLS, through Debian's nginx in front of the sandbox: verification with a
-- caller's CA file, gzip and chunked responses decoded transparently, verification failures
-- surfaced as kind "tls" without a retry, and the API key refused over plain http:// to a
-- non-loopback host.
local fs = require "support.fs"
local collate = require "collate"
local sandbox = require "support.sandbox"
local nginx_tls = require "tls.nginx_tls"

local q = fs.quote

local function capture(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("*a")
  p:close()
  return out
end

local function create_params(case_id)
  return {
    provider_npi = "1234567893",
    request = { payer_id = "payer_aetna", coverage_state = "CA", request_type = "drug",
                service_code = { system = "hcpcs", code = "J0791" } },
    policy = { final_submission = "requires_approval" },
    answers = { item = {
      { link_id = "patient.firstName", answer = { { value_string = "Jane" } } },
      { link_id = "patient.lastName", answer = { { value_string = "Doe" } } },
    } },
    metadata = { external_case_id = case_id, sourceSystem = "tls-test" },
  }
end

describe("collate over TLS (nginx in front of the sandbox)", function()
  local sb, tls

  setup(function()
    sb = sandbox.start{ args = { "--clock-mode", "step", "--log-level", "quiet" } }
    tls = nginx_tls.start{ upstream = sb.url }
  end)

  teardown(function()
    if tls then tls:stop() end
    if sb then sb:stop() end
  end)

  local function https(host) return "https://" .. host .. ":" .. tls.port end

  it("nginx answers chunked and gzip-encoded when Accept-Encoding asks (curl -v)", function()
    local created = sb:request("POST", "/v1/prior-authorizations", {
      providerNpi = "1234567893",
      request = { payerId = "payer_aetna", coverageState = "CA", requestType = "drug",
                  serviceCode = { system = "hcpcs", code = "J0791" } },
      policy = { finalSubmission = "requires_approval" },
    }, { ["Idempotency-Key"] = "tls-curl-check" })
    assert.are.equal(201, created.status)
    local out = capture("curl -sv --http1.1 --cacert " .. q(tls.ca_file) .. " -H 'Accept-Encoding: gzip'"
      .. " -H " .. q("Authorization: Bearer " .. sb.key)
      .. " -o /dev/null " .. q(https("127.0.0.1") .. "/v1/prior-authorizations/" .. created.json.id))
    assert.matches("< HTTP/1.1 200", out, 1, true)
    assert.matches("\n< [Tt]ransfer%-[Ee]ncoding: chunked", out)
    assert.matches("\n< [Cc]ontent%-[Ee]ncoding: gzip", out)
    assert.matches("SSL certificate verify ok", out, 1, true)
  end)

  for _, host in ipairs({ "127.0.0.1", "localhost" }) do
    it("creates and retrieves over https://" .. host .. " with ca_file (gzip, chunked decoded)", function()
      local client = collate.new{ api_key = sb.key, environment = https(host), ca_file = tls.ca_file }
      local auth = client.authorizations.create(create_params("case_tls_" .. host))
      assert.matches("^auth_", auth.id)
      assert.are.equal("case_tls_" .. host, auth.metadata.external_case_id)
      assert.are.equal("tls-test", auth.metadata.sourceSystem)

      local got = client.authorizations.retrieve{ authorization_id = auth.id }
      assert.are.equal(auth.id, got.id)
      assert.are.equal(auth.version, got.version)
      if math.type then assert.are.equal(math.type(got.version), "integer") end -- 5.3+ only
      assert.are.equal("1234567893", got.provider_npi)
      assert.are.equal("payer_aetna", got.request.payer_id)
      assert.are.equal("J0791", got.request.service_code.code)
      assert.are.equal("Jane", got.answers.item[1].answer[1].value_string)
      assert.are.equal("case_tls_" .. host, got.metadata.external_case_id)

      -- the response really came gzip-encoded and chunked, and was decoded on the way in
      local last = client.last_response()
      assert.are.equal(200, last.status)
      assert.are.equal(1, last.attempts)
      assert.matches("gzip", last.headers["content-encoding"] or "")
      assert.matches("chunked", last.headers["transfer-encoding"] or "")
      client.close()
    end)
  end

  it("fails with kind 'tls' after exactly one attempt without ca_file; nothing reaches the API", function()
    assert.are.equal(200, sb:control("DELETE", "/_sandbox/requests").status)
    local client = collate.new{ api_key = sb.key, environment = https("127.0.0.1") }
    local started = os.time()
    local ok, err = pcall(client.authorizations.retrieve, { authorization_id = "auth_0000000000000000" })
    assert.is_false(ok)
    assert.are.equal(collate.Error, getmetatable(err))
    assert.are.equal("tls", err.kind)
    assert.matches("certificate", err.message:lower(), 1, true)
    assert.matches("verif", err.message:lower(), 1, true)
    assert.is_falsy(tostring(err):find(sb.key, 1, true))
    local log = sb:control("GET", "/_sandbox/requests")
    assert.are.equal(200, log.status)
    assert.are.same({}, log.json.data)
    -- a certificate that does not verify will not verify on a second try: no retry, no backoff
    assert.are.equal(1, err.attempts)
    assert.is_true(os.time() - started < 2, "a TLS failure must not wait for backoff")
  end)

  it("fails with kind 'tls' on a create too, and does not retry it", function()
    assert.are.equal(200, sb:control("DELETE", "/_sandbox/requests").status)
    local safe = require "collate.safe"
    local client = safe.new{ api_key = sb.key, environment = https("localhost") }
    local auth, err = client.authorizations.create(create_params("case_tls_untrusted"))
    assert.is_nil(auth)
    assert.are.equal("tls", err.kind)
    assert.is_string(err.idempotency_key)
    assert.are.same({}, sb:control("GET", "/_sandbox/requests").json.data)
    assert.are.equal(1, err.attempts)
  end)

  it("refuses the API key over plain http:// to a non-loopback host", function()
    local ok, err = pcall(collate.new, { api_key = "sk_test_local", environment = "http://example.com" })
    assert.is_false(ok)
    assert.are.equal(collate.Error, getmetatable(err))
    assert.are.equal("invalid_argument", err.kind)
    assert.matches("http://", err.message, 1, true)
    assert.matches("example.com", err.message, 1, true)
    assert.is_falsy(tostring(err):find("sk_test_local", 1, true))
    -- loopback over plain http stays allowed (the emulator), https elsewhere too
    assert.is_truthy(collate.new{ api_key = "sk_test_local", environment = sb.url })
    assert.is_truthy(collate.new{ api_key = "sk_test_local", environment = "https://example.com" })
  end)
end)
