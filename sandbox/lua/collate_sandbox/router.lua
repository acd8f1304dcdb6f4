-- Path templates ("/v1/files/{file_id}") matched segment by segment; 404 / 405 with Allow.
local http = require "collate_sandbox.http"

local router = {}
router.__index = router

local function split(path)
  local segs = {}
  for seg in path:gmatch("[^/]+") do segs[#segs + 1] = seg end
  return segs
end

function router.new(routes)
  local self = setmetatable({ routes = {} }, router)
  for _, r in ipairs(routes) do
    self.routes[#self.routes + 1] = { method = r[1], segs = split(r[2]), spec = r, trailing = r[2]:sub(-1) == "/" }
  end
  return self
end

local function match(segs, psegs)
  if #segs ~= #psegs then return nil end
  local params = {}
  for i, s in ipairs(segs) do
    local name = s:match("^{(.+)}$")
    if name then
      params[name] = psegs[i]
    elseif s ~= psegs[i] then
      return nil
    end
  end
  return params
end

-- Returns spec, params; or nil, allow_list (non-empty when the path exists with other methods).
function router:find(method, path)
  if path:find("//", 1, true) or (path ~= "/" and path:sub(-1) == "/") then return nil, {} end
  local psegs = split(path)
  local allow, seen = {}, {}
  for _, r in ipairs(self.routes) do
    local params = match(r.segs, psegs)
    if params then
      if r.method == method then return r.spec, params end
      if not seen[r.method] then
        seen[r.method] = true
        allow[#allow + 1] = r.method
      end
    end
  end
  table.sort(allow)
  return nil, allow
end

-- Returns spec, params; raises the contract's 405 (with Allow) or 404 when nothing matches.
function router:resolve(method, path)
  local spec, params = self:find(method, path)
  if spec then return spec, params end
  if #params > 0 then
    http.fail(405, "method_not_allowed", method .. " is not allowed on " .. path .. ".", nil, nil,
      { Allow = table.concat(params, ", ") })
  end
  http.fail(404, "not_found", "No route " .. method .. " " .. path .. ".")
end

return router
