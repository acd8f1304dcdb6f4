-- Coroutine concurrency over one libcurl multi handle.
--
--   collate.run(function()
--     local a = collate.spawn(function() return client.authorizations.retrieve{...} end)
--     local b = collate.spawn(function() ... end)
--     local results = collate.gather{a, b}
--   end, {max_connections = 16})
--
-- Inside run(), every client call, collate.sleep and the retry backoff yield to the scheduler
-- instead of blocking; outside it the same code blocks as before. Transfers are added to one
-- multi handle; the C core only reports finished transfers, and coroutines are resumed here, in
-- Lua, never from inside a libcurl callback.
local core = require "collate.core"
local errors = require "collate.errors"

local M = {}

local DEFAULT_MAX_CONNECTIONS = 16

local unpack_compat = table.unpack or unpack -- luacheck: ignore (unpack is Lua 5.1's)

local function pack(...)
  return { n = select("#", ...), ... }
end

local running_scheduler = nil -- the scheduler whose loop is running (run() does not nest)
local task_of = setmetatable({}, { __mode = "k" }) -- coroutine -> task

local Task = {}
Task.__index = Task

local function new_task(sched, fn, args)
  local task = setmetatable({ sched = sched, done = false, waiters = {}, args = args }, Task)
  task.co = coroutine.create(function(...)
    return fn(...)
  end)
  task_of[task.co] = task
  return task
end

-- The scheduler that owns the running coroutine, or nil when the caller should block.
function M.current()
  local co = coroutine.running()
  local task = co and task_of[co]
  if task and task.sched == running_scheduler then return task.sched, task end
  return nil
end

local Scheduler = {}
Scheduler.__index = Scheduler

local function new_scheduler(options)
  options = options or {}
  local max = options.max_connections or DEFAULT_MAX_CONNECTIONS
  if type(max) ~= "number" or max < 1 or max % 1 ~= 0 then
    error(errors.invalid_argument("collate.run: max_connections must be an integer >= 1"), 3)
  end
  return setmetatable({
    multi = core.multi({ max_connections = max }),
    max_connections = max,
    ready = {},          -- tasks to resume, with the values to resume them with
    sleepers = {},       -- {task, wake_at}
    in_flight = {},      -- transfer id -> task
    in_flight_count = 0,
    queued = {},         -- transfers waiting for a free connection slot: {task, transfer}
    tasks = 0,
  }, Scheduler)
end

function Scheduler:wake(task, ...)
  local item = pack(...)
  item.task = task
  self.ready[#self.ready + 1] = item
end

function Scheduler:start_transfer(task, transfer)
  local id = self.multi:add(transfer)
  self.in_flight[id] = task
  self.in_flight_count = self.in_flight_count + 1
end

function Scheduler:finish(task, ok, ...)
  task.done = true
  task.ok = ok
  task.results = pack(...)
  self.tasks = self.tasks - 1
  for _, waiter in ipairs(task.waiters) do self:wake(waiter) end
  task.waiters = {}
  if not ok and not task.watched then
    -- an error in a task nobody waits for must not vanish
    self.orphan_error = self.orphan_error or task.results[1]
  end
end

function Scheduler:resume(task, ...)
  if task.done then return end
  local co = task.co
  local res = pack(coroutine.resume(co, ...))
  if coroutine.status(co) == "dead" then
    self:finish(task, res[1], unpack_compat(res, 2, res.n))
  end
  -- a task that yielded has registered what it waits for (see send/sleep/wait)
end

-- Runs until every task has finished.
function Scheduler:loop()
  while true do
    while #self.ready > 0 do
      local batch = self.ready
      self.ready = {}
      for _, item in ipairs(batch) do
        self:resume(item.task, unpack_compat(item, 1, item.n))
      end
    end
    while #self.queued > 0 and self.in_flight_count < self.max_connections do
      local q = table.remove(self.queued, 1)
      self:start_transfer(q.task, q.transfer)
    end
    if self.tasks == 0 then return end
    local now = core.now()
    local wait = 1
    local next_sleepers = {}
    for _, s in ipairs(self.sleepers) do
      if s.wake_at <= now then
        self:wake(s.task)
      else
        next_sleepers[#next_sleepers + 1] = s
        if s.wake_at - now < wait then wait = s.wake_at - now end
      end
    end
    self.sleepers = next_sleepers
    if #self.ready == 0 then
      if self.in_flight_count == 0 and #self.sleepers == 0 then
        error(errors.new({ kind = "connection", retryable = false,
          message = "collate.run: every task is waiting on another; nothing can make progress" }), 0)
      end
      if self.in_flight_count > 0 then
        for _, r in ipairs(self.multi:wait(wait)) do
          local task = self.in_flight[r.id]
          self.in_flight[r.id] = nil
          self.in_flight_count = self.in_flight_count - 1
          if r.status then
            self:wake(task, r.status, r.headers, r.body)
          else
            self:wake(task, nil, r.kind, r.message)
          end
        end
      elseif wait > 0 then
        core.sleep(wait)
      end
    end
  end
end

-- Transport hooks, called by the client's transport when M.current() is set.
-- transfer: the table core.http():perform takes.
function Scheduler:send(transfer)
  local _, task = M.current()
  if self.in_flight_count < self.max_connections then
    self:start_transfer(task, transfer)
  else
    self.queued[#self.queued + 1] = { task = task, transfer = transfer }
  end
  return coroutine.yield()
end

function Scheduler:sleep(seconds)
  local _, task = M.current()
  self.sleepers[#self.sleepers + 1] = { task = task, wake_at = core.now() + seconds }
  coroutine.yield()
end

-- Public API ---------------------------------------------------------------------------------

function M.spawn(fn, ...)
  local sched = M.current()
  if not sched then
    error(errors.invalid_argument("collate.spawn: call it inside collate.run"), 2)
  end
  local task = new_task(sched, fn, nil)
  sched.tasks = sched.tasks + 1
  sched:wake(task, ...)
  return task
end

-- Waits for one task; returns its results, or raises its error.
function Task:wait()
  self.watched = true
  if not self.done then
    local sched, me = M.current()
    if not sched then error(errors.invalid_argument("task:wait: call it inside collate.run"), 2) end
    self.waiters[#self.waiters + 1] = me
    coroutine.yield()
  end
  if not self.ok then error(self.results[1], 0) end
  return unpack_compat(self.results, 1, self.results.n)
end

-- Cancels a task that has not finished: it will not be resumed again; waiters get an error.
-- A transfer it had in flight completes and is dropped.
function Task:cancel()
  if self.done then return false end
  self.sched:finish(self, false, errors.new({ kind = "connection", retryable = false,
    message = "task canceled" }))
  self.watched = true
  return true
end

-- gather{t1, t2, ...} -> {ok = bool, value = first result or error} per task, in order.
function M.gather(tasks)
  local out = {}
  for i, task in ipairs(tasks) do
    task.watched = true
    local ok, value = pcall(task.wait, task)
    out[i] = { ok = ok, value = value }
  end
  return out
end

function M.run(fn, options)
  if running_scheduler then
    error(errors.invalid_argument("collate.run: already inside collate.run; use collate.spawn"), 2)
  end
  local sched = new_scheduler(options)
  local main = new_task(sched, fn, nil)
  main.watched = true
  sched.tasks = 1
  sched:wake(main)
  running_scheduler = sched
  local ok, err = pcall(sched.loop, sched)
  running_scheduler = nil
  sched.multi:close()
  if not ok then error(err, 0) end
  if not main.ok then error(main.results[1], 0) end
  if sched.orphan_error then error(sched.orphan_error, 0) end
  return unpack_compat(main.results, 1, main.results.n)
end

return M
