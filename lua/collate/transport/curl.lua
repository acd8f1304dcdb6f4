-- The blocking transport: one libcurl easy handle per client, so connections are reused.
local core = require "collate.core"

local M = {}

-- options: {ca_file, user_agent, connect_timeout}
function M.new(options)
  local handle = core.http()
  local t = {}

  function t.send(request, timeout)
    return handle:perform({
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
    })
  end

  t.sleep = core.sleep
  t.now = core.now

  function t.close()
    handle:close()
  end

  return t
end

return M
