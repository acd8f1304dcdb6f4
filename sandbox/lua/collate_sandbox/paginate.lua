-- Cursor pagination (contract §1.8): the cursor names the list, its filters and the last key
-- served, hex-encoded; a cursor of another list or other filters is refused at ["query","cursor"].
local json = require "collate_sandbox.json"
local http = require "collate_sandbox.http"

local paginate = {}

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function unhex(s)
  if #s % 2 ~= 0 or s:find("[^0-9a-f]") then return nil end
  return (s:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
end

function paginate.limit(q)
  local v = q.limit
  if v == nil then return 25 end
  if not v:find("^%d+$") then
    http.bad_request(http.issue("invalid_type", { "query", "limit" }, "limit must be an integer from 1 to 100."))
  end
  local n = tonumber(v)
  if n < 1 or n > 100 then
    http.bad_request(http.issue("out_of_range", { "query", "limit" }, "limit must be from 1 to 100."))
  end
  return n
end

-- items: sorted list; key(item): string increasing along the list's order when asc, decreasing
-- when desc. Returns {data, pagination}.
function paginate.page(items, q, list_name, filter_sig, key, desc, render)
  local limit = paginate.limit(q)
  local start = 1
  if q.cursor ~= nil then
    local raw = unhex(q.cursor)
    local name, sig, last = nil, nil, nil
    if raw then name, sig, last = raw:match("^c1\1([^\1]*)\1([^\1]*)\1(.*)$") end
    if not name or name ~= list_name or sig ~= filter_sig then
      http.bad_request(http.issue("invalid_format", { "query", "cursor" },
        "The cursor does not belong to this list and filters."))
    end
    start = #items + 1
    for i, it in ipairs(items) do
      local k = key(it)
      if (desc and k < last) or (not desc and k > last) then
        start = i
        break
      end
    end
  end
  local data = json.array({})
  local last_index = math.min(#items, start + limit - 1)
  for i = start, last_index do data[#data + 1] = render(items[i]) end
  local next_cursor = json.null
  if last_index < #items and #data > 0 then
    next_cursor = hex("c1\1" .. list_name .. "\1" .. filter_sig .. "\1" .. key(items[last_index]))
  end
  return { data = data, pagination = { nextCursor = next_cursor } }
end

return paginate
