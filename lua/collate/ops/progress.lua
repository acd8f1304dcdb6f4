-- Progress on stderr: counts per status, one line updated in place on a terminal, plain lines
-- (at most one per `every` seconds, and the last one) otherwise.
--   local p = progress.new{total = 500, label = "submit"}
--   p:set("case-1", "processing"); ... p:finish()
local core = require "collate.core"

local M = {}

local Progress = {}
Progress.__index = Progress

local function stderr_is_terminal()
  local ok = os.execute("test -t 2")
  return ok == true or ok == 0
end

-- options: total, label, out (default io.stderr), tty (default: is stderr a terminal),
-- every (seconds between plain lines, default 2), order (status names shown first)
function M.new(options)
  options = options or {}
  local self = setmetatable({
    total = options.total, label = options.label or "progress",
    out = options.out or io.stderr,
    every = options.every or 2,
    order = options.order or { "pending", "requires_action", "processing", "waiting_on_payer",
                               "completed", "canceled", "failed" },
    status_of = {}, counts = {}, started = core.now(),
  }, Progress)
  self.last = self.started -- the first plain line after `every` seconds, or at the end
  if options.tty == nil then self.tty = options.out == nil and stderr_is_terminal() else self.tty = options.tty end
  return self
end

function Progress:set(item, status)
  local old = self.status_of[item]
  if old == status then return end
  if old then self.counts[old] = self.counts[old] - 1 end
  self.status_of[item] = status
  self.counts[status] = (self.counts[status] or 0) + 1
  self:show(false)
end

function Progress:line()
  local parts, seen = {}, {}
  for _, name in ipairs(self.order) do
    seen[name] = true
    if (self.counts[name] or 0) > 0 then parts[#parts + 1] = name .. " " .. self.counts[name] end
  end
  local extra = {}
  for name, n in pairs(self.counts) do
    if not seen[name] and n > 0 then extra[#extra + 1] = name .. " " .. n end
  end
  table.sort(extra)
  for _, e in ipairs(extra) do parts[#parts + 1] = e end
  return string.format("%s: %s%s [%.1fs]", self.label,
    self.total and (self.total .. " cases: ") or "", table.concat(parts, ", "), core.now() - self.started)
end

function Progress:show(final)
  local now = core.now()
  if self.tty then
    if not final and now - self.last < 0.1 then return end
    self.out:write("\r\27[K", self:line(), final and "\n" or "")
  else
    if not final and now - self.last < self.every then return end
    local text = self:line()
    local counts = text:gsub(" %[[^%]]*%]$", "") -- the same counts again say nothing new
    if counts == self.last_counts then return end
    self.last_counts = counts
    self.out:write(text, "\n")
  end
  self.out:flush()
  self.last = now
end

function Progress:finish()
  self:show(true)
end

return M
