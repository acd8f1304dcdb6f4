-- Runs under every Lua a host may embed (COLLATE_EXPECT_LUA = "5.1" | "5.2" | "5.3"): the
-- interpreter is the one asked for, collate.core is that version's build, and every module
-- require "collate" loads comes from this checkout and works there.
local root = os.getenv("COLLATE_SOURCE_DIR") or "."
local expected = assert(os.getenv("COLLATE_EXPECT_LUA"), "COLLATE_EXPECT_LUA not set")

describe("collate under Lua " .. expected, function()
  it("is that interpreter, with that version's build of collate.core", function()
    assert.are.equal("Lua " .. expected, _VERSION)
    assert.is_nil(rawget(_G, "jit"))
    local path = package.searchpath("collate.core", package.cpath)
    assert.truthy(path and path:find("/lib/lua/" .. expected .. "/collate/core.so", 1, true), path)
  end)

  it("loads every module require 'collate' loads (and both transports) from the checkout", function()
    require "collate"
    require "collate.safe"
    require "collate.workflow"
    local names = { "collate.transport.cosocket", "collate.transport.curl" }
    for name in pairs(package.loaded) do
      if name == "collate" or name:find("^collate%.") and name ~= "collate.core" then names[#names + 1] = name end
    end
    assert.is_true(#names >= 8)
    for _, name in ipairs(names) do
      local file = assert(package.searchpath(name, package.path))
      assert.truthy(file:find(root .. "/lua/", 1, true), file)
      assert(loadfile(file))
    end
  end)

  it("decodes integers exactly and quotes versions as integers", function()
    local core = require "collate.core"
    local ok, v = core.parse_response(200, {}, '{"version":17,"big":9007199254740993,"nextAction":{"type":"x"}}')
    assert.is_true(ok)
    assert.are.equal(17, v.version)
    assert.are.equal("17", string.format("%d", v.version))
    assert.are.equal('"17"', core.quote_if_match(v.version))
    assert.are.equal("17", tostring(v.version)) -- never "17.0" (5.3's float formatting)
    assert.are.equal("x", v.next_action.type)
  end)
end)

describe("inside collate.run under Lua " .. expected, function()
  local collate = require "collate"
  local sandbox = require "support.sandbox"
  local sb

  setup(function() sb = sandbox.start{} end)
  teardown(function() if sb then sb:stop() end end)

  it("collate.pcall and collate.safe methods yield to the scheduler (PUC 5.1's pcall cannot)", function()
    local client = collate.new{ api_key = sb.key, environment = sb.url }
    local safe = require("collate.safe").new{ api_key = sb.key, environment = sb.url }
    local out = collate.run(function()
      local a = collate.spawn(function() return collate.pcall(client.health, {}) end)
      local b = collate.spawn(function() return safe.providers.retrieve{ provider_npi = "1304567898" } end)
      local c = collate.spawn(function() return collate.pcall(client.payers.retrieve, { payer_id = "nope" }) end)
      return collate.gather{ a, b, c }
    end)
    assert.is_true(out[1].ok)
    assert.is_true(out[2].ok) -- gather's value is the first result: nil from the safe method
    assert.is_nil(out[2].value)
    assert.is_true(out[3].ok)
    assert.is_false(out[3].value) -- collate.pcall's first result
    local ok, err = collate.run(function() return collate.pcall(client.payers.retrieve, { payer_id = "nope" }) end)
    assert.is_false(ok)
    assert.are.equal("payer_not_found", err.code)
    local value, safe_err = collate.run(function() return safe.payers.retrieve{ payer_id = "nope" } end)
    assert.is_nil(value)
    assert.are.equal("payer_not_found", safe_err.code)
  end)
end)
