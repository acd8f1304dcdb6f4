-- reference_examples_run: the examples of docs/reference.md, as generated, run against the
-- sandbox over real HTTP, in an order where each finds the values (auth, created, file, page)
-- the earlier ones left. An example either succeeds or raises an api Error whose code its
-- section documents. Not run: the manual-handoff examples (they need a handoff in
-- complete_payer_interaction, which workflow tests cover).
local collate = require "collate"
local sandbox = require "support.sandbox"
local fs = require "support.fs"

local source_dir = os.getenv("COLLATE_SOURCE_DIR") or "."

-- sections[method] = {code = example, errors = {code = true}}
local function sections()
  local text = assert(fs.read_file(source_dir .. "/docs/reference.md"))
  local out = {}
  for name, body in text:gmatch("\n### ([%w_%.]+)\n(.-)\n```\n") do
    local s = { code = body:match("```lua\n(.*)$"), errors = {} }
    for code in body:gmatch("| `%d%d%d ([%w_]+)` |") do s.errors[code] = true end
    out[name] = s
  end
  return out
end

local ORDER = {
  "health", "payers.list", "payers.retrieve", "providers.list", "providers.retrieve",
  "sandbox.scenarios.list", "sandbox.scenarios.retrieve",
  "authorization_routes.list", "authorization_routes.resolve",
  "authorizations.create", "authorizations.list", "authorizations.retrieve", "authorizations.answers.patch",
  "files.create", "files.upload", "files.complete", "files.retrieve", "files.download",
  "authorizations.attachments.create", "authorizations.attachments.list", "authorizations.attachments.delete",
  "authorizations.live_session.retrieve", "authorizations.live_session.create_access_grant",
  "authorizations.confirm", "authorizations.cancel",
}

describe("docs/reference.md's examples", function()
  local sb, env, pdf

  setup(function()
    sb = sandbox.start{ args = { "--clock-mode", "step" } }
    env = setmetatable({ collate = collate, print = function() end,
                         client = collate.new{ api_key = sb.key, environment = sb.url } }, { __index = _G })
    pdf = os.tmpname()
    fs.write_file(pdf, "%PDF-1.4\n% reference example\n%%EOF\n")
  end)

  teardown(function()
    if sb then sb:stop() end
    if pdf then os.remove(pdf) end
  end)

  it("run against the sandbox, in order", function()
    local all = sections()
    local ran = 0
    for _, name in ipairs(ORDER) do
      local s = all[name]
      assert(s and s.code, "docs/reference.md has no example for " .. name)
      -- the examples' locals become the shared environment's variables; the upload reads a real file
      local code = s.code:gsub("^local ", "")
      if name == "files.upload" then code = code:gsub('path = "note%.pdf"', "path = " .. string.format("%q", pdf)) end
      local chunk = assert(load(code, "=" .. name, "t", env))
      local ok, err = pcall(chunk)
      if not ok then
        assert(collate.is_error(err, "api") and s.errors[err.code],
          name .. "'s example raised what its section does not document: " .. tostring(err))
        io.stdout:write(name, ": raised its documented ", err.code, "\n")
      end
      ran = ran + 1
    end
    assert.are.equal(#ORDER, ran)
    assert.are.equal("canceled", env.auth.status)
  end)
end)
