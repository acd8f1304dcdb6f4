-- reference_annotations_complete: every method of the C core's route table, and each of its
-- parameters, is annotated in lua/collate/types/collate.lua (LuaLS's checker is not packaged in
-- Debian, so this reads the ---@class / ---@field lines itself). Also: require "collate" does not
-- load the annotation file, which is a ---@meta file only.
local routes = require("collate.core").routes
local source_dir = os.getenv("COLLATE_SOURCE_DIR") or "."
local ANNOTATIONS = source_dir .. "/lua/collate/types/collate.lua"

-- classes[name] = { fields = { [field] = {type =, optional =} } }
local function parse(path)
  local f = assert(io.open(path, "r"))
  local text = f:read("a")
  f:close()
  local classes, current = {}, nil
  for line in text:gmatch("[^\n]*") do
    local class = line:match("^%-%-%-@class ([%w_%.]+)")
    if class then
      current = { fields = {} }
      classes[class] = current
    else
      local name, opt, rest = line:match("^%-%-%-@field ([%w_]+)(%??) (%S.*)$")
      if name and current then
        current.fields[name] = { type = rest:match("^%S+"), line = rest, optional = opt == "?" }
      end
      if not line:match("^%-%-%-") then current = nil end
    end
  end
  return classes, text
end

local function sorted_names()
  local names = {}
  for name in pairs(routes) do names[#names + 1] = name end
  table.sort(names)
  return names
end

describe("the LuaLS annotations", function()
  local classes, text = parse(ANNOTATIONS)

  it("are a ---@meta file", function()
    assert.truthy(text:match("^%-%-%-@meta"))
  end)

  it("cover every route of collate.core with a method field reachable from collate.Client", function()
    local names = sorted_names()
    assert.truthy(#names >= 30, "the route table has " .. #names .. " routes")
    for _, name in ipairs(names) do
      local class, path = "collate.Client", nil
      for part in name:gmatch("[^.]+") do
        path = path and (path .. "." .. part) or part
        local owner = classes[class]
        assert(owner, "no ---@class " .. class .. " (on the way to " .. name .. ")")
        local field = owner.fields[part]
        assert(field, class .. " has no ---@field " .. part .. " (method " .. name .. ")")
        if path == name then
          local want = "fun(params" .. (#routes[name].required > 0 and "" or "?") .. ": collate.params." .. name .. "):"
          assert.are.equal(want, field.line:sub(1, #want), name .. "'s signature")
        else
          assert.are.equal("collate.Client." .. path, field.type, class .. "." .. part)
          class = "collate.Client." .. path
        end
      end
      if routes[name].paginated then
        assert(classes[class].fields.each, name .. " paginates but " .. class .. " has no each")
      end
    end
  end)

  it("annotate each parameter of each route, optional exactly when the route does not require it", function()
    local checked = 0
    for _, name in ipairs(sorted_names()) do
      local route = routes[name]
      local params = classes["collate.params." .. name]
      assert(params, "no ---@class collate.params." .. name)
      local required = {}
      for _, p in ipairs(route.required) do required[p] = true end
      for _, p in ipairs(route.params) do
        local field = params.fields[p]
        assert(field, "collate.params." .. name .. " has no ---@field " .. p)
        assert.truthy(#field.type > 0, name .. "." .. p .. " has a type")
        assert.are.equal(not required[p], field.optional, name .. "." .. p .. " optional")
        checked = checked + 1
      end
    end
    assert.truthy(checked > 60, checked .. " parameters checked")
  end)

  it("describe the result types and the error kinds", function()
    for _, class in ipairs({ "collate.Authorization", "collate.NextAction", "collate.Page", "collate.Error",
                             "collate.File", "collate.Handoff", "collate.Options" }) do
      assert(classes[class] or classes[class .. "<T>"], "no ---@class " .. class)
    end
    for _, field in ipairs({ "kind", "status_code", "code", "message", "body", "request_id", "retryable", "issues" }) do
      assert(classes["collate.Error"].fields[field], "collate.Error has no ---@field " .. field)
    end
    for _, kind in ipairs({ "api", "connection", "timeout", "invalid_argument", "decode", "tls", "io", "canceled" }) do
      assert.truthy(text:find("---@alias collate.ErrorKind [^\n]*'" .. kind .. "'"), "error kind " .. kind)
    end
  end)

  it("are not loaded by require \"collate\"", function()
    require "collate"
    for name in pairs(package.loaded) do
      assert.is_nil(name:match("^collate%.types"), name .. " was loaded by require \"collate\"")
    end
  end)
end)
