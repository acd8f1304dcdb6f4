-- Test batches: n cases cycling through scripts/examples/cases.csv (every sandbox scenario and
-- the default flow), each with its own case_id; default-flow rows get their own member ID.
local csv = require "collate.ops.csv"
local fs = require "support.fs"
local sandbox = require "support.sandbox"

local M = {}

local SOURCE = (os.getenv("COLLATE_SOURCE_DIR") or ".") .. "/scripts/examples/cases.csv"

-- the outcome each member ID leads to when driven with --approve-submissions --handoff
M.OUTCOME = {
  ["SBX-QUICKSTART"] = "approved", ["SBX-APPROVE"] = "approved", ["SBX-DENY"] = "denied",
  ["SBX-MOREINFO"] = "approved", ["SBX-MODIFY"] = "modified", ["SBX-NOTREQ"] = "not_required",
  ["SBX-HANDOFF"] = "approved", ["SBX-PORTALFAIL"] = "failed", ["SBX-SAFETYGATE"] = "approved",
  ["SBX-LIVESESSION"] = "approved",
}

local function quote(v)
  if v:find('[,"\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

-- write(path, n) -> rows written (tables), and the expected count per "completed:<outcome>"
function M.write(path, n)
  local rows, header = assert(csv.read(SOURCE))
  local out, expected, written = { table.concat(header, ",") }, {}, {}
  for i = 1, n do
    local src = rows[(i - 1) % #rows + 1]
    local row = {}
    for k, v in pairs(src) do row[k] = v end
    row.case_id = string.format("case-%05d", i)
    if not M.OUTCOME[row.member_id] then row.member_id = string.format("WALKIN-%05d", i) end
    local cells = {}
    for j, name in ipairs(header) do cells[j] = quote(row[name] or "") end
    out[#out + 1] = table.concat(cells, ",")
    local key = "completed:" .. (M.OUTCOME[row.member_id] or "approved")
    expected[key] = (expected[key] or 0) + 1
    written[#written + 1] = row
  end
  local f = assert(io.open(path, "wb"))
  f:write(table.concat(out, "\n"), "\n")
  f:close()
  return written, expected
end

-- Resets the sandbox's connection peaks once every earlier API connection is seen closed (a
-- client that just exited may close a moment before the server notices). Returns the API
-- connections still open then (0 unless something keeps one idle).
function M.reset_connection_peak(sb)
  local open
  for _ = 1, 250 do
    open = sb:control("GET", "/_sandbox/connections").json.apiOpen
    if open == 0 then break end
    os.execute("sleep 0.02")
  end
  local r = sb:control("DELETE", "/_sandbox/connections")
  assert(r.status == 200, "DELETE /_sandbox/connections: " .. tostring(r.status))
  return r.json.apiOpen
end

-- A sandbox on a fast realtime clock and a temp directory for a describe block's tests:
--   local fixture = cases.fast_sandbox(SPEED); setup(fixture.start); teardown(fixture.stop)
-- then fixture.sb and fixture.dir inside the tests.
function M.fast_sandbox(speed)
  local fixture = {}
  function fixture.start()
    fixture.sb = sandbox.start{ args = { "--clock-speed", tostring(speed), "--log-level", "quiet" } }
    fixture.dir = fs.temp_dir()
  end
  function fixture.stop()
    if fixture.sb then fixture.sb:stop() end
    if fixture.dir then os.execute("rm -rf " .. fs.quote(fixture.dir)) end
  end
  return fixture
end

return M
