-- require "collate.safe": the same client, but every method returns nil, err instead of
-- raising (as cjson.safe does for cjson). For OpenResty code and for callers who branch.
local collate = require "collate"
local client = require "collate.client"

local safe = setmetatable({}, { __index = collate })

function safe.new(options)
  return client.new(options, true)
end

return safe
