-- Every error code of the contract's §5 catalog that the emulator can produce is asserted by some
-- sandbox suite (as a quoted string in tests/sandbox/*.lua), and the emulator's sources name
-- each of them: a guard that a new code in the contract gets a test. The three codes the emulator
-- never produces (docs/sandbox.md) must stay absent from its sources.
local fs = require "support.fs"
local source = os.getenv("COLLATE_SOURCE_DIR") or "."

local NEVER = { insufficient_permissions = true, channel_session_lost = true, auth_provider_unavailable = true }

local read = fs.read_file

local function cat(dir, pattern)
  local p = io.popen("ls " .. dir)
  local all = {}
  for name in p:lines() do
    if name:find(pattern) then all[#all + 1] = read(dir .. "/" .. name) or "" end
  end
  p:close()
  return table.concat(all, "\n")
end

describe("sandbox error catalog coverage (contract §5)", function()
  local contract = read(source .. "/../shared/spec/api.md")

  it("asserts every code the emulator produces", function()
    if not contract then
      pending("contract not found beside the checkout")
      return
    end
    local section = assert(contract:match("\n## 5%. Error catalog\n(.-)\n## "))
    local codes = {}
    for line in section:gmatch("[^\n]+") do
      local status, rest = line:match("^| (%d%d%d) | (.-) |")
      if status then
        for code in rest:gmatch("`([%l_]+)`") do codes[#codes + 1] = code end
      end
    end
    assert.is_true(#codes >= 35, "parsed only " .. #codes .. " codes")
    local tests = cat(source .. "/tests/sandbox", "_spec%.lua$")
    local sources = cat(source .. "/sandbox/lua/collate_sandbox", "%.lua$") .. cat(source .. "/sandbox/src", "%.c$")
    local missing = {}
    for _, code in ipairs(codes) do
      local quoted = '"' .. code .. '"'
      if NEVER[code] then
        if sources:find(quoted, 1, true) then missing[#missing + 1] = code .. " is produced after all: test it" end
      else
        if not sources:find(quoted, 1, true) then missing[#missing + 1] = code .. " not in the emulator" end
        if not tests:find(quoted, 1, true) then missing[#missing + 1] = code .. " not asserted" end
      end
    end
    assert.are.same({}, missing)
  end)
end)
