-- Realism mode (--realism; docs/sandbox.md, Realism mode): the emulator behaves more like the
-- real service where the contract lets a real service differ, so a script that passes here has
-- met those differences before it meets the service. Every random choice comes from a seeded
-- xorshift generator kept in the state (st.realism), so a run is repeatable.
local timefmt = require "collate_sandbox.timefmt"

local realism = {}

realism.UPLOAD_TTL = 900        -- virtual seconds an upload URL stays valid
realism.UPLOAD_TTL_WALL_MIN = 60 -- and at least these wall seconds on a realtime clock
realism.ACTIVATION = 2          -- virtual seconds a manual handoff stays offered
realism.JITTER_MS = { 2, 25 }   -- extra wall-clock latency per API request, uniform
realism.UNAVAILABLE_RATE = 0.02 -- share of API requests answered 503 without being processed
realism.RETRY_AFTER = 1         -- seconds, on those 503s

-- The per-state part: the generator and the routes whose last request got a 503.
function realism.new_state(seed)
  local s = math.tointeger(seed) or 1
  if s == 0 then s = 1 end
  return { rng = s, last_503 = {} }
end

-- xorshift64*: a float in [0, 1)
local function random(r)
  local x = r.rng
  x = x ~ (x >> 12)
  x = x ~ (x << 25)
  x = x ~ (x >> 27)
  r.rng = x
  return ((x * 2685821657736338717) >> 11) / 9007199254740992.0
end
realism.random = random

local function api_path(path)
  return path == "/v1" or path:find("^/v1/") ~= nil
end

-- Wall-clock milliseconds to hold this API request before answering it, or nil.
function realism.jitter_ms(r, req)
  if not api_path(req.path) then return nil end
  local lo, hi = realism.JITTER_MS[1], realism.JITTER_MS[2]
  return lo + math.floor(random(r) * (hi - lo + 1))
end

-- Whether to answer this API request 503 (not processed). Never twice in a row for the same
-- method and path, so a client's first retry gets through.
function realism.unavailable(r, req)
  if not api_path(req.path) then return false end
  local route = req.method .. " " .. req.path
  if r.last_503[route] then
    r.last_503[route] = nil
    return false
  end
  if random(r) < realism.UNAVAILABLE_RATE then
    r.last_503[route] = true
    return true
  end
  return false
end

-- RFC 3339 with milliseconds. The emulator's times are whole virtual seconds; the fraction of
-- such a time is derived from the second (so every reading of one instant agrees and the order
-- of instants is kept); the clock's own `now` shows its real fraction.
function realism.format(t)
  local whole = math.floor(t)
  local ms
  if t ~= whole then
    ms = math.floor((t - whole) * 1000)
  else
    ms = (whole * 7919) % 997 + 1
  end
  return timefmt.format(whole):sub(1, 19) .. string.format(".%03dZ", ms)
end

-- An object store's error (S3's shape): XML body, its own codes, no JSON envelope.
function realism.storage_error(status, code, message, request_id)
  local body = string.format('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
    .. '<RequestId>%s</RequestId></Error>\n', code, message, request_id or "")
  return { status = status, headers = { ["Content-Type"] = "application/xml" }, body = body }
end

return realism
