-- require "collate.safe": the same client, but every method returns nil, err instead of
-- raising (as cjson.safe does for cjson). For OpenResty code and for callers who branch.
-- Built by wrapping the raising client once: the methods are the very same functions.
-- Only collate.Error values are returned; any other error (a bug) still raises. Iterators
-- (each) keep raising: a for loop cannot see an err. A misspelt method name raises at index
-- time here too.
local collate = require "collate"
local errors = require "collate.errors"
local methods = require "collate.methods"
local compat = require "collate.compat"

local safe = setmetatable({}, { __index = collate })

local function finish(ok, ...)
  if ok then return ... end
  local err = ...
  if errors.is_error(err) then return nil, err end
  error(err, 0)
end

local function wrap(fn)
  return function(...)
    return finish(compat.pcall(fn, ...)) -- yields inside collate.run, also on Lua 5.1
  end
end

-- Copies the method table `from` into `to`, wrapping every method but the iterators.
local function wrap_tree(from, to)
  for key, value in pairs(from) do
    if type(value) == "function" and key ~= "each" then
      rawset(to, key, wrap(value))
    elseif type(value) == "table" and methods.is_method_table(value) then
      local child = methods.table(methods.path(value))
      wrap_tree(value, child)
      rawset(to, key, child)
    else
      rawset(to, key, value)
    end
  end
  return to
end

function safe.new(options)
  local ok, client = pcall(collate.new, options)
  if not ok then return finish(false, client) end
  local mt = getmetatable(client)
  return wrap_tree(client, methods.table("", {
    __name = mt.__name, __tostring = mt.__tostring, __close = mt.__close,
  }))
end

return safe
