-- Path templates ("/v1/files/{file_id}") matched segment by segment; 404 / 405 with Allow.
local http = require "collate_sandbox.http"

local router = {}
router.__index = router

local function split(path)
  local segs = {}
  for seg in path:gmatch("[^/]+") do segs[#segs + 1] = seg end
  return segs
end

-- Routes are kept in their order, bucketed by segment count (a path matches only templates of
-- its own length), each template segment's parameter name found once.
function router.new(routes)
  local self = setmetatable({ routes = {}, by_length = {} }, router)
  for _, r in ipairs(routes) do
    local segs = split(r[2])
    local names = {}
    for i, s in ipairs(segs) do names[i] = s:match("^{(.+)}$") or false end
    local route = { method = r[1], segs = segs, names = names, spec = r, trailing = r[2]:sub(-1) == "/" }
    self.routes[#self.routes + 1] = route
    local bucket = self.by_length[#segs]
    if not bucket then
      bucket = {}
      self.by_length[#segs] = bucket
    end
    bucket[#bucket + 1] = route
  end
  return self
end

local NO_ROUTES = {}

local function match(r, psegs)
  local params = {}
  local segs, names = r.segs, r.names
  for i = 1, #segs do
    local name = names[i]
    if name then
      params[name] = psegs[i]
    elseif segs[i] ~= psegs[i] then
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
  for _, r in ipairs(self.by_length[#psegs] or NO_ROUTES) do
    local params = match(r, psegs)
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
