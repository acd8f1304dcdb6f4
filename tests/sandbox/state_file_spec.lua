-- --state-file: a restart resumes authorizations, files (bytes too), idempotency records, the
-- clock and the ID counters; saved at SIGTERM and about once a second while dirty (so a SIGKILL
-- loses at most the last second); an unreadable or corrupt file stops the start with exit 1.
local fs = require "support.fs"
local sandbox = require "support.sandbox"
local H = require "sandbox.helpers"

local read = fs.read_file

local function tmpdir()
  local p = io.popen("mktemp -d")
  local d = p:read("*l")
  p:close()
  return d
end

describe("sandbox state file", function()
  local dir, path
  setup(function()
    dir = tmpdir()
    path = dir .. "/state.lua"
  end)
  teardown(function()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  local function start()
    return sandbox.start{ args = { "--clock-mode", "step", "--state-file", path } }
  end

  it("resumes everything after SIGTERM; creates replay by their old idempotency key", function()
    local sb = start()
    local key = H.key()
    local body = H.create_body("SBX-QUICKSTART")
    local r = sb:request("POST", "/v1/prior-authorizations", body, { ["Idempotency-Key"] = key })
    assert.are.equal(201, r.status)
    local a = r.json
    local f = H.ready_file(sb, "note.pdf", "application/pdf", H.PDF .. "\0\255 bytes")
    assert.are.equal(200, H.attach(sb, a, f.id).status)
    H.step(sb)
    local before = sb:request("GET", "/v1/prior-authorizations/" .. a.id)
    -- a second authorization with a clock event pending at the stop
    local b = H.create(sb, H.create_body("SBX-APPROVE", { answers = H.full_answers("SBX-APPROVE") }))
    assert.are.equal(200, H.confirm(sb, b).status)
    local clock_before = sb:control("GET", "/_sandbox/clock").json
    assert.is_true(#clock_before.pending > 0)
    sb:stop()

    local sb2 = start()
    finally(function() sb2:stop() end)
    local after = sb2:request("GET", "/v1/prior-authorizations/" .. a.id)
    assert.are.equal(200, after.status)
    assert.are.equal(before.json.version, after.json.version)
    assert.are.equal(before.body, after.body)
    assert.are.same(clock_before, sb2:control("GET", "/_sandbox/clock").json)
    local dl = sb2:request("GET", "/v1/files/" .. f.id .. "/download")
    assert.are.equal(200, dl.status)
    assert.are.equal(H.PDF .. "\0\255 bytes", dl.body)
    -- the same key and body: the original 201 again, no second authorization
    local replay = sb2:request("POST", "/v1/prior-authorizations", body, { ["Idempotency-Key"] = key })
    assert.are.equal(201, replay.status)
    assert.are.equal("true", replay.headers["idempotent-replayed"])
    assert.are.equal(a.id, replay.json.id)
    -- the ID counters went on: a new create gets a new ID
    local fresh = H.create(sb2, H.create_body("SBX-QUICKSTART"))
    assert.are_not.equal(a.id, fresh.id)
    local list = sb2:request("GET", "/v1/prior-authorizations?limit=100").json
    assert.are.equal(3, #list.data)
    -- the pending event still fires after the restart
    local bv = H.get(sb2, b.id).version
    H.step(sb2)
    assert.is_true(H.get(sb2, b.id).version > bv)
  end)

  it("saves within about a second of a change, so a SIGKILL keeps it", function()
    os.remove(path)
    local sb = start()
    local a = H.create(sb, H.create_body("SBX-QUICKSTART"))
    local r = H.patch(sb, a, H.full_answers("SBX-QUICKSTART"))
    assert.are.equal(200, r.status)
    os.execute("sleep 1.6")
    os.execute("kill -9 " .. sb.pid)
    sb.pid = nil
    assert.is_truthy(read(path))
    local sb2 = start()
    finally(function() sb2:stop() end)
    local got = H.get(sb2, a.id)
    assert.are.equal(r.json.version, got.version)
  end)

  it("refuses to start on a corrupt, unreadable or unwritable file, with exit status 1", function()
    local bin = os.getenv("COLLATE_SANDBOX_BIN") or "build/bin/collate-sandbox"
    local bad = dir .. "/bad.lua"
    local f = assert(io.open(bad, "wb"))
    f:write("-- collate-sandbox state v1\nlocal R = ...\nreturn {{{\n")
    f:close()
    for _, p in ipairs({ bad, dir, dir .. "/no/such/dir/state.lua" }) do
      local out = dir .. "/out.txt"
      local ok, _, code = os.execute(fs.quote(bin) .. " --port 0 --state-file " .. fs.quote(p)
        .. " >" .. out .. " 2>&1")
      assert.is_not_true(ok)
      assert.are.equal(1, code)
      local msg = read(out)
      assert.matches("state file " .. p:gsub("%p", "%%%0"), msg)
      assert.is_nil(msg:find("stack traceback", 1, true))
    end
  end)
end)
