-- Deterministic identifiers (contract §1.4): prefix + 16 lowercase hex digits (32 for upl_), a
-- fixed function of a per-prefix counter, never all zeros. Each 32-bit word is an affine bijection
-- of the counter modulo 2^32, so distinct counters give distinct IDs.
local ids = {}
ids.__index = ids

local M32 = 4294967296
-- odd 32-bit multipliers (multiplication is done in 16-bit halves to stay exact in doubles)
local MUL = { 2654435761, 2246822519, 3266489917, 668265263 }
local ADD = { 1013904223, 374761393, 2166136261, 3323198485 }

local function mulmod(a, n)
  local a_hi, a_lo = math.floor(a / 65536), a % 65536
  return ((a_hi * n) % 65536 * 65536 + a_lo * n) % M32
end

function ids.new()
  return setmetatable({ counters = {} }, ids)
end

function ids:reset()
  self.counters = {}
end

local function word(n, k, salt)
  -- an integer counter: 64-bit integer arithmetic wraps modulo 2^64, a multiple of 2^32
  if math.type(n) == "integer" then return (MUL[k] * n + ADD[k] + salt) % M32 end
  return (mulmod(MUL[k], n) + ADD[k] + salt) % M32
end

local salts = {} -- per prefix, computed once (every request takes a req_ ID)

local function salt_of(prefix)
  local h = salts[prefix]
  if h then return h end
  h = 0
  for i = 1, #prefix do h = (h * 31 + prefix:byte(i)) % 65536 end
  salts[prefix] = h
  return h
end

function ids:next(prefix)
  local words = prefix == "upl_" and 4 or 2
  local salt = salt_of(prefix)
  while true do
    local n = (self.counters[prefix] or 0) + 1
    self.counters[prefix] = n
    local parts, zero = {}, true
    for k = 1, words do
      local w = word(n, k, salt)
      if w ~= 0 then zero = false end
      parts[k] = string.format("%08x", w)
    end
    if not zero then return prefix .. table.concat(parts) end
  end
end

return ids
