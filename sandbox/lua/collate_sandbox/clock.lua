-- The virtual clock and its event queue (contract §6.4). realtime: virtual time follows wall time
-- times speed from an anchor; step: time stands still until set, advanced or stepped. Events are
-- fired in (dueAt, scheduling order) order by the owner through fire_due / advance / step.
local clock = {}
clock.__index = clock

clock.STEP_EPOCH = 1780315200 -- 2026-06-01T12:00:00Z

function clock.new(opts)
  local self = setmetatable({}, clock)
  self.wall = opts.wall_time or os.time
  self:set(opts.mode or "realtime", opts.speed or 1, opts.now)
  self.events = {}
  self.seq = 0
  return self
end

-- (Re)anchor: mode, speed and an optional virtual now (default: step epoch in step mode, wall time
-- in realtime mode).
function clock:set(mode, speed, now)
  self.mode = mode
  self.speed = speed
  if now == nil then
    now = mode == "step" and clock.STEP_EPOCH or self.wall()
  end
  self.anchor_virtual = now
  self.anchor_wall = self.wall()
end

function clock:now()
  if self.mode == "step" then return self.anchor_virtual end
  return self.anchor_virtual + (self.wall() - self.anchor_wall) * self.speed
end

-- whole seconds, used for every timestamp
function clock:now_s()
  return math.floor(self:now())
end

function clock:move_to(t)
  self.anchor_virtual = t
  self.anchor_wall = self.wall()
end

function clock:switch(mode, speed)
  local now = self:now()
  self.mode = mode or self.mode
  self.speed = speed or self.speed
  self:move_to(now)
end

function clock:schedule(due, auth_id, name, data)
  self.seq = self.seq + 1
  local ev = { due = due, seq = self.seq, auth_id = auth_id, name = name, data = data }
  self.events[#self.events + 1] = ev
  return ev
end

function clock:cancel_for(auth_id, name)
  local kept = {}
  for _, ev in ipairs(self.events) do
    if ev.auth_id ~= auth_id or (name and ev.name ~= name) then kept[#kept + 1] = ev end
  end
  self.events = kept
end

function clock:find(auth_id, name)
  for _, ev in ipairs(self.events) do
    if ev.auth_id == auth_id and (not name or ev.name == name) then return ev end
  end
end

function clock:remove(ev)
  for i, e in ipairs(self.events) do
    if e == ev then table.remove(self.events, i) return end
  end
end

local function earlier(a, b)
  if a.due ~= b.due then return a.due < b.due end
  return a.seq < b.seq
end

function clock:pending()
  local list = {}
  for i, ev in ipairs(self.events) do list[i] = ev end
  table.sort(list, earlier)
  return list
end

function clock:earliest()
  local best
  for _, ev in ipairs(self.events) do
    if not best or earlier(ev, best) then best = ev end
  end
  return best
end

-- Fire every event due at or before `limit`, earliest first; `fire(ev)` runs each one (and may
-- schedule more, which fire in the same call when due). Returns the fired events.
function clock:fire_until(limit, fire)
  local fired = {}
  while true do
    local ev = self:earliest()
    if not ev or ev.due > limit then break end
    self:remove(ev)
    fire(ev)
    fired[#fired + 1] = ev
  end
  return fired
end

function clock:reset_events()
  self.events = {}
  self.seq = 0
end

return clock
