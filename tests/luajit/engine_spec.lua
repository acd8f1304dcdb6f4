-- Runs under LuaJIT: the client loads and behaves there (the C core built for the 5.1 ABI).
local root = os.getenv("COLLATE_SOURCE_DIR") or "."

describe("collate under LuaJIT", function()
  it("is really LuaJIT with the 5.1 build of collate.core", function()
    assert.is_table(jit)
    assert.are.equal("Lua 5.1", _VERSION)
    local path = package.searchpath("collate.core", package.cpath)
    assert.truthy(path and path:find("/lib/lua/5.1/collate/core.so", 1, true), path)
  end)

  it("parses, as Lua 5.1, every module require 'collate' loads (and both transports)", function()
    require "collate"
    require "collate.safe"
    local names = { "collate.transport.cosocket", "collate.transport.curl" }
    for name in pairs(package.loaded) do
      if name == "collate" or name:find("^collate%.") and name ~= "collate.core" then names[#names + 1] = name end
    end
    assert.is_true(#names >= 8)
    for _, name in ipairs(names) do
      local file = assert(package.searchpath(name, package.path))
      assert.truthy(file:find(root .. "/lua/", 1, true), file)
      local chunk, err = loadfile(file)
      assert(chunk, err)
    end
  end)

  it("loads require 'collate' and 'collate.safe' and builds requests", function()
    local collate = require "collate"
    local safe = require "collate.safe"
    local core = require "collate.core"
    assert.is_function(collate.new)
    assert.is_function(safe.new)
    local req = assert(core.build_request("authorizations.retrieve", { authorization_id = "auth_1" }))
    assert.are.equal("/v1/prior-authorizations/auth_1", req.path)
    local ok, v = core.parse_response(200, {}, '{"version":17,"nextAction":{"type":"x"}}')
    assert.is_true(ok)
    assert.are.equal(17, v.version)
    assert.are.equal("17", string.format("%d", v.version))
    assert.are.equal('"17"', core.quote_if_match(v.version))
    assert.are.equal("x", v.next_action.type)
  end)

  it("chooses the libcurl transport outside nginx", function()
    local client = require "collate.client"
    local t = client.default_transport({})
    assert.is_function(t.send)
    assert.is_nil(rawget(_G, "ngx"))
    t.close()
  end)
end)
