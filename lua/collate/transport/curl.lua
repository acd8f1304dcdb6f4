-- The libcurl transport: one easy handle per client for blocking calls (connections reused);
-- inside collate.run the same calls go to the scheduler's multi handle and yield.
local core = require "collate.core"
local scheduler = require "collate.scheduler"

local M = {}

-- options: {ca_file, user_agent, connect_timeout}
function M.new(options)
  local handle = core.http()
  local t = {}

  function t.send(request, timeout)
    local transfer = {
      method = request.method,
      url = request.url,
      headers = request.headers,
      body = request.body,
      body_file = request.body_file,
      out_file = request.out_file,
      timeout = timeout,
      connect_timeout = options.connect_timeout,
      ca_file = options.ca_file,
      user_agent = options.user_agent,
    }
    local sched = scheduler.current()
    if sched then return sched:send(transfer) end
    return handle:perform(transfer)
  end

  function t.sleep(seconds)
    local sched = scheduler.current()
    if sched then return sched:sleep(seconds) end
    core.sleep(seconds)
  end

  t.now = core.now

  function t.close()
    handle:close()
  end

  return t
end

return M
