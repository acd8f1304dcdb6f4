-- The few differences between the Lua versions require "collate" runs on (5.1, 5.2, 5.3, 5.4,
-- LuaJIT 2.1) that the client's Lua code depends on.
local M = {}

M.unpack = table.unpack or unpack -- luacheck: ignore (unpack is Lua 5.1's)

-- 5.3+: an integral number as an integer (so it encodes as 3, not 3.0); elsewhere every number
-- is a double already. Non-integral numbers (and non-numbers) come back unchanged.
local math_tointeger = math.tointeger -- luacheck: ignore (5.3+ only; the feature is probed)
function M.tointeger(n)
  if math_tointeger and type(n) == "number" then return math_tointeger(n) or n end
  return n
end

function M.pack(...)
  return { n = select("#", ...), ... }
end

-- PUC Lua 5.1's pcall is a C-call boundary a coroutine cannot yield across (5.2+ and LuaJIT
-- can). Probed once, not guessed from _VERSION.
local function pcall_blocks_yield()
  local co = coroutine.create(function() return pcall(coroutine.yield) end)
  coroutine.resume(co)
  return coroutine.status(co) == "dead"
end

M.pcall_yields = not pcall_blocks_yield()

-- inner coroutine -> the coroutine it runs on behalf of (weak keys: gone with the inner one)
local parent_of = setmetatable({}, { __mode = "k" })

-- The coroutine a piece of code runs for: coroutine.running(), or, inside M.pcall on Lua 5.1,
-- the coroutine that called M.pcall. nil on the main thread.
function M.running()
  local co = coroutine.running()
  while co and parent_of[co] do co = parent_of[co] end
  return co
end

-- pcall(fn, ...) that a coroutine may yield across on every version (collate.run's tasks
-- yield inside client calls). On Lua 5.1 fn runs in a coroutine of its own whose yields are
-- passed through to the caller's coroutine and whose resumes are passed back.
function M.pcall(fn, ...)
  if M.pcall_yields then return pcall(fn, ...) end
  local outer = coroutine.running()
  if outer == nil then return pcall(fn, ...) end
  local co = coroutine.create(fn)
  parent_of[co] = outer
  local res = M.pack(coroutine.resume(co, ...))
  while coroutine.status(co) == "suspended" do
    if not res[1] then break end
    res = M.pack(coroutine.resume(co, coroutine.yield(M.unpack(res, 2, res.n))))
  end
  return M.unpack(res, 1, res.n)
end

return M
