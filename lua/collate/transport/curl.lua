-- The libcurl transport: one easy handle per client for blocking calls (connections reused);
-- inside collate.run the same calls go to the scheduler's multi handle and yield.
local core = require "collate.core"
local scheduler = require "collate.scheduler"

local M = {}

-- options: {ca_file, user_agent, connect_timeout, proxy}. The proxy rule is the C core's
-- (transfer.c): https:// through `proxy` or the standard proxy variables, as a CONNECT tunnel;
-- plain http:// never through a proxy.
function M.new(options)
  local handle = core.http()
  local t = {}
  -- Blocking calls on the one handle never overlap, so they share one transfer table (filled
  -- anew each time); the scheduler keeps its transfers in flight, so each gets its own.
  local blocking = {}

  local function fill(transfer, request, timeout)
    transfer.method = request.method
    transfer.url = request.url
    transfer.headers = request.headers
    transfer.body = request.body
    transfer.body_file = request.body_file
    transfer.out_file = request.out_file
    transfer.fresh_connect = request.fresh_connect
    transfer.max_response_bytes = request.max_response_bytes
    transfer.proxy = options.proxy
    transfer.timeout = timeout
    transfer.connect_timeout = options.connect_timeout
    transfer.ca_file = options.ca_file
    transfer.user_agent = options.user_agent
    return transfer
  end

  function t.send(request, timeout)
    local sched = scheduler.current()
    if sched then return sched:send(fill({}, request, timeout)) end
    local status, headers, body, code = handle:perform(fill(blocking, request, timeout))
    -- nothing of this request stays referenced once it is done
    blocking.headers, blocking.body, blocking.url = nil, nil, nil
    return status, headers, body, code
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
