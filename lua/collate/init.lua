-- require "collate": the Collate Prior Auth API client.
local config = require "collate.config"
local errors = require "collate.errors"
local client = require "collate.client"
local core = require "collate.core"
local scheduler = require "collate.scheduler"
local compat = require "collate.compat"

local collate = {
  VERSION = config.VERSION,
  environments = config.environments,
  Error = errors.Error,
  is_error = errors.is_error,
}

-- collate.new{api_key?, environment?, timeout?, max_retries?, deadline?, ca_file?}: methods raise
-- collate.Error on failure.
function collate.new(options)
  return client.new(options)
end

-- Sleeps: yields inside collate.run, ngx.sleep inside nginx, blocks otherwise.
function collate.sleep(seconds)
  if type(seconds) ~= "number" or seconds < 0 then
    error(errors.invalid_argument("collate.sleep: seconds must be a number >= 0"), 2)
  end
  local sched = scheduler.current()
  if sched then return sched:sleep(seconds) end
  if type(ngx) == "table" and ngx.sleep then return ngx.sleep(seconds) end -- luacheck: ignore
  core.sleep(seconds)
end

-- Coroutine concurrency (lua/collate/scheduler.lua).
collate.run = scheduler.run
collate.spawn = scheduler.spawn
collate.gather = scheduler.gather
collate.wait_all = scheduler.wait_all
-- pcall that a collate.run task may yield across on every Lua (PUC Lua 5.1's pcall cannot).
collate.pcall = compat.pcall

-- A fresh UUIDv4, for callers who keep their own idempotency keys.
collate.uuid4 = core.uuid4

return collate
