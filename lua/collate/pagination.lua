-- Pages and iterators over list routes (contract §1.8, §7.9).
local errors = require "collate.errors"
local methods = require "collate.methods"

local M = {}

-- Gives every page the same shape: {data = {...}, pagination = {next_cursor}, next_cursor}.
-- attachments.list may answer a bare array; it is wrapped.
function M.normalize_page(page)
  if page.data == nil and page.pagination == nil then
    local items = {}
    for i = 1, #page do items[i] = page[i]; page[i] = nil end
    page.data = items
  end
  page.data = page.data or {}
  page.pagination = page.pagination or {}
  page.next_cursor = page.pagination.next_cursor
  return page
end

-- each{...}: the list's parameters plus max_items; iterates items across pages, following
-- next_cursor until it is absent, and fails if a cursor repeats. check(query) raises when the
-- list would refuse query, so a bad parameter fails at the each{} call, not at the first page.
function M.iterator(name, list, check)
  local where = name:gsub("%.list$", ".each")
  return function(params)
    params = params or {}
    local colon = methods.colon_call(where, params)
    if colon then error(colon, 2) end
    if type(params) ~= "table" then
      error(errors.invalid_argument(where .. ": expected a table of named parameters"), 2)
    end
    local query, max_items = {}, params.max_items
    for k, v in pairs(params) do
      if k ~= "max_items" then query[k] = v end
    end
    if max_items ~= nil and (type(max_items) ~= "number" or max_items < 0 or max_items % 1 ~= 0) then
      error(errors.invalid_argument(where .. ": max_items must be an integer >= 0"), 2)
    end
    if check then
      local ok, err = pcall(check, query)
      if not ok then
        local message = errors.is_error(err) and err.message
        if message and message:sub(1, #name + 1) == name .. ":" then
          err.message = where .. message:sub(#name + 1) -- the caller called each, not list
        end
        error(err, 2)
      end
    end
    local page, index, yielded, seen = nil, 0, 0, {}
    return function()
      while true do
        if max_items and yielded >= max_items then return nil end
        if page == nil then
          page = list(query)
          index = 0
        end
        index = index + 1
        local item = page.data[index]
        if item ~= nil then
          yielded = yielded + 1
          return item
        end
        local cursor = page.next_cursor
        if cursor == nil then return nil end
        if seen[cursor] then
          error(errors.new({ kind = "decode", retryable = false,
            message = where .. ": the server repeated cursor " .. cursor .. "; stopping to avoid a loop" }), 0)
        end
        seen[cursor] = true
        query.cursor = cursor
        page = nil
      end
    end
  end
end

return M
