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
--
-- At most max_connections transfers are in flight at once (the rest wait in a FIFO queue), and
-- the multi handle is told the same bound (CURLMOPT_MAX_TOTAL_CONNECTIONS), so the number of
-- connections the server sees never exceeds it.
local core = require "collate.core"
local errors = require "collate.errors"
local compat = require "collate.compat"

local M = {}

M.DEFAULT_MAX_CONNECTIONS = 16

local unpack_compat = compat.unpack
local pack = compat.pack

local running_scheduler = nil -- the scheduler whose loop is running (run() does not nest)
local task_of = setmetatable({}, { __mode = "k" }) -- coroutine -> task

local Task = {}
Task.__index = Task
M.Task = Task

local function canceled_error()
  return errors.new({ kind = "canceled", code = "canceled", retryable = false, message = "task canceled" })
end

local function new_task(sched, fn)
  local task = setmetatable({ sched = sched, done = false, waiters = {} }, Task)
  task.co = coroutine.create(fn)
  task_of[task.co] = task
  return task
end

-- The scheduler that owns the running coroutine, or nil when the caller should block.
function M.current()
  local co = compat.running() -- inside collate.pcall on Lua 5.1: the task's own coroutine
  local task = co and task_of[co]
  if task and task.sched == running_scheduler then return task.sched, task end
  return nil
end

-- Sleepers: a binary min-heap on wake_at, so 500 polling tasks cost log(n) per sleep.
local function heap_push(h, item)
  local i = #h + 1
  h[i] = item
  while i > 1 do
    local p = math.floor(i / 2)
    if h[p].wake_at <= item.wake_at then break end
    h[i], h[p] = h[p], h[i]
    i = p
  end
end

local function heap_pop(h)
  local top, n = h[1], #h
  h[1] = h[n]
  h[n] = nil
  n = n - 1
  local i = 1
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= n and h[l].wake_at < h[m].wake_at then m = l end
    if r <= n and h[r].wake_at < h[m].wake_at then m = r end
    if m == i then break end
    h[i], h[m] = h[m], h[i]
    i = m
  end
  return top
end

local Scheduler = {}
Scheduler.__index = Scheduler

local function new_scheduler(options)
  options = options or {}
  local max = options.max_connections or M.DEFAULT_MAX_CONNECTIONS
  if type(max) ~= "number" or max < 1 or max % 1 ~= 0 then
    error(errors.invalid_argument("collate.run: max_connections must be an integer >= 1"), 3)
  end
  return setmetatable({
    multi = core.multi({ max_connections = max }),
    max_connections = max,
    ready = {},          -- tasks to resume, with the values to resume them with
    sleepers = {},       -- heap of {task, wake_at}
    in_flight = {},      -- transfer id -> task
    in_flight_count = 0,
    peak_in_flight = 0,
    queued = {},         -- transfers waiting for a free slot: {task, transfer}, FIFO
    queue_head = 1,      -- next to start
    queue_tail = 0,      -- last added (explicit: # is unreliable once the head is cleared)
    tasks = 0,           -- live tasks
    all = {},            -- every task, to cancel them when the main function fails
    failed = {},         -- tasks that ended in an error, checked for nobody waiting at the end
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
  if self.in_flight_count > self.peak_in_flight then self.peak_in_flight = self.in_flight_count end
end

function Scheduler:finish(task, ok, ...)
  task.done = true
  task.ok = ok
  task.results = pack(...)
  self.tasks = self.tasks - 1
  self.all[task] = nil
  for _, waiter in ipairs(task.waiters) do self:wake(waiter) end
  task.waiters = {}
  if not ok then
    self.failed[#self.failed + 1] = task
    if task.is_main then -- run()'s function failed: the tasks still running are canceled
      for other in pairs(self.all) do other:cancel() end
    end
  end
end

function Scheduler:resume(task, ...)
  if task.done then return end
  local co = task.co
  local res = pack(coroutine.resume(co, ...))
  if coroutine.status(co) == "dead" then
    task_of[co] = nil -- 5.1/LuaJIT have no ephemerons: the weak table alone would keep it
    if not res[1] and type(res[2]) == "string" then
      res[2] = debug.traceback(co, res[2]) -- where in the task, not where in the scheduler
    end
    if not task.done then self:finish(task, res[1], unpack_compat(res, 2, res.n)) end
  end
  -- a task that yielded has registered what it waits for (see send/sleep/wait)
end

function Scheduler:start_queued()
  local q = self.queued
  while q[self.queue_head] and self.in_flight_count < self.max_connections do
    local item = q[self.queue_head]
    q[self.queue_head] = nil
    self.queue_head = self.queue_head + 1
    if not item.task.done then self:start_transfer(item.task, item.transfer) end -- canceled: dropped
  end
  if self.queue_head > self.queue_tail then
    self.queued, self.queue_head, self.queue_tail = {}, 1, 0
  end
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
    self:start_queued()
    if self.tasks == 0 then return end
    local now = core.now()
    local wait = 1
    local sleepers = self.sleepers
    while sleepers[1] and sleepers[1].wake_at <= now do
      local s = heap_pop(sleepers)
      if not s.task.done then self:wake(s.task) end
    end
    if sleepers[1] then wait = math.min(wait, sleepers[1].wake_at - now) end
    if #self.ready > 0 then wait = 0 end
    if self.in_flight_count > 0 then
      -- also with wait = 0: transfers progress even while tasks keep being ready
      for _, r in ipairs(self.multi:wait(wait)) do
        local task = self.in_flight[r.id]
        self.in_flight[r.id] = nil
        self.in_flight_count = self.in_flight_count - 1
        if r.status then
          self:wake(task, r.status, r.headers, r.body)
        else
          self:wake(task, nil, r.kind, r.message, r.code)
        end
      end
    elseif #self.ready == 0 then
      if not sleepers[1] then
        error(errors.new({ kind = "connection", retryable = false,
          message = "collate.run: every task is waiting on another; nothing can make progress" }), 0)
      end
      if wait > 0 then core.sleep(wait) end
    end
  end
end

-- Transport hooks, called by the client's transport when M.current() is set.
-- transfer: the table core.http():perform takes. Returns what h:perform returns.
function Scheduler:send(transfer)
  local _, task = M.current()
  if self.in_flight_count < self.max_connections and self.queue_head > self.queue_tail then
    self:start_transfer(task, transfer)
  else
    self.queue_tail = self.queue_tail + 1
    self.queued[self.queue_tail] = { task = task, transfer = transfer }
  end
  return coroutine.yield()
end

function Scheduler:sleep(seconds)
  local _, task = M.current()
  heap_push(self.sleepers, { task = task, wake_at = core.now() + seconds })
  coroutine.yield()
end

-- Public API ---------------------------------------------------------------------------------

-- spawn(fn, ...) -> task: runs fn(...) in a new coroutine of the running scheduler.
function M.spawn(fn, ...)
  local sched = M.current()
  if not sched then
    error(errors.invalid_argument("collate.spawn: call it inside collate.run"), 2)
  end
  if type(fn) ~= "function" then error(errors.invalid_argument("collate.spawn: fn must be a function"), 2) end
  local task = new_task(sched, fn)
  sched.tasks = sched.tasks + 1
  sched.all[task] = true
  sched:wake(task, ...)
  return task
end

-- Waits for a task without raising (no pcall around the yield: Lua 5.1 cannot yield across
-- one). Returns true and the task's results, or false and its error.
local function await(task)
  task.watched = true
  if not task.done then
    local sched, me = M.current()
    if not sched then return false, errors.invalid_argument("task:wait: call it inside collate.run") end
    if me == task then return false, errors.invalid_argument("task:wait: a task cannot wait for itself") end
    task.waiters[#task.waiters + 1] = me
    repeat coroutine.yield() until task.done
  end
  if not task.ok then return false, task.results[1] end
  return true, unpack_compat(task.results, 1, task.results.n)
end

-- Waits for one task; returns its results, or raises its error.
function Task:wait()
  local res = pack(await(self))
  if not res[1] then error(res[2], 0) end
  return unpack_compat(res, 2, res.n)
end

-- Cancels a task that has not finished: it is not resumed again (a transfer it has in flight
-- completes and is dropped, one it has queued never starts); waiters get an Error with
-- kind and code "canceled". Returns false when the task had already finished.
function Task:cancel()
  if self.done then return false end
  self.watched = true
  self.sched:finish(self, false, canceled_error())
  return true
end

function Task:status()
  if not self.done then return "running" end
  if self.ok then return "ok" end
  if errors.is_error(self.results[1], "canceled") then return "canceled" end
  return "failed"
end

-- gather{t1, t2, ...} -> {ok = bool, value = first result or error} per task, in order. Waits
-- for all of them; never raises for a task's error.
function M.gather(tasks)
  local out = {}
  for _, task in ipairs(tasks) do task.watched = true end
  for i, task in ipairs(tasks) do
    local ok, value = await(task)
    out[i] = { ok = ok, value = value }
  end
  return out
end

-- wait_all{t1, t2, ...} -> the first result of each, in order; raises the first error (in task
-- order) once all have finished.
function M.wait_all(tasks)
  local results, first_err = {}, nil
  for i, r in ipairs(M.gather(tasks)) do
    if r.ok then results[i] = r.value elseif first_err == nil then first_err = r.value end
  end
  if first_err ~= nil then error(first_err, 0) end
  return results
end

-- run(fn, {max_connections = 16}) -> fn's results. Returns when fn and every task it spawned
-- have finished. If fn fails, the tasks still running are canceled and the error is raised; an
-- error in a task nobody waited for (wait, gather) is raised at the end.
function M.run(fn, options)
  if running_scheduler then
    error(errors.invalid_argument("collate.run: already inside collate.run; use collate.spawn"), 2)
  end
  local sched = new_scheduler(options)
  local main = new_task(sched, fn) -- no pcall inside: Lua 5.1 cannot yield across it
  main.watched, main.is_main = true, true
  sched.tasks = 1
  sched:wake(main)
  running_scheduler = sched
  local ok, err = pcall(sched.loop, sched)
  running_scheduler = nil
  M.last_stats = { peak_in_flight = sched.peak_in_flight, max_connections = sched.max_connections }
  sched.multi:close()
  if not ok then error(err, 0) end
  if not main.ok then error(main.results[1], 0) end
  for _, task in ipairs(sched.failed) do
    if not task.watched then error(task.results[1], 0) end
  end
  return unpack_compat(main.results, 1, main.results.n)
end

return M
