-- Errors of every kind, their strings and tracebacks, printed: the redaction test
-- (tests/client/redaction.sh) then searches everything the run wrote for the API key.
local collate = require "collate"
local sandbox = require "support.sandbox"

describe("errors never carry the key", function()
  local sb, client

  setup(function()
    sb = sandbox.start{ args = { "--clock-mode", "step" } }
    client = collate.new{ api_key = sb.key, environment = sb.url, max_retries = 1 }
  end)

  teardown(function()
    if sb then sb:stop() end
  end)

  local function show(fn, params)
    local ok, err = xpcall(function() return fn(params) end, function(e) -- (5.1's xpcall takes no args)
      return { err = e, trace = debug.traceback(tostring(e), 2) }
    end)
    assert.is_false(ok)
    local e = err.err
    -- printed on purpose: the run's whole output is searched for the key afterwards
    print(tostring(e))
    print(err.trace)
    print(type(e.body) == "table" and require("cjson").encode(e.body) or tostring(e.body))
    for k, v in pairs(e) do print("  " .. tostring(k) .. " = " .. tostring(v)) end
    assert.is_nil(tostring(e):find(sb.key, 1, true))
    assert.is_nil(err.trace:find(sb.key, 1, true))
    return e
  end

  it("for each kind of failure", function()
    assert.are.equal("api", show(client.authorizations.retrieve, { authorization_id = "auth_0000000000000000" }).kind)
    local wrong = collate.new{ api_key = sb.key .. "x", environment = sb.url }
    assert.are.equal("unauthorized", show(wrong.payers.list, {}).code)
    assert.are.equal("invalid_argument", show(client.authorizations.create, { provider_npi = 1 }).kind)
    local dead = collate.new{ api_key = sb.key, environment = "http://127.0.0.1:1", max_retries = 0 }
    assert.are.equal("connection", show(dead.payers.list, {}).kind)
    sb:control("POST", "/_sandbox/faults", { rules = { { path = "/v1/payers", kind = "malformed_json" } } })
    assert.are.equal("decode", show(client.payers.list, {}).kind)
    sb:control("POST", "/_sandbox/faults", { rules = { { path = "/v1/payers", kind = "delay", ms = 2000 } } })
    assert.are.equal("timeout", show(client.payers.list, { timeout = 0.3, max_retries = 0 }).kind)
    -- the client itself prints its base URL only
    print(tostring(client))
    assert.is_nil(tostring(client):find(sb.key, 1, true))
  end)
end)
