-- The coroutine scheduler against a real server: the connection bound seen at the server,
-- overlap of slow requests, sleep, retry backoff yielding, cancellation, errors, and the same
-- code blocking outside collate.run.
local collate = require "collate"
local core = require "collate.core"
local scheduler = require "collate.scheduler"
local sandbox = require "support.sandbox"
local cases = require "workflow.cases"

describe("collate.run", function()
  local sb, client

  setup(function()
    sb = sandbox.start{ args = { "--clock-mode", "step", "--log-level", "quiet" } }
    client = collate.new{ api_key = sb.key, environment = sb.url, max_retries = 2 }
  end)
  teardown(function() if sb then sb:stop() end end)
  before_each(function() assert.are.equal(200, sb:reset{ mode = "step" }.status) end)

  local function delay_all(ms, times)
    assert.are.equal(200, sb:control("POST", "/_sandbox/faults",
      { rules = { { kind = "delay", ms = ms, path = "/v1/payers", times = times } } }).status)
  end

  it("overlaps slow requests and never opens more connections than max_connections", function()
    delay_all(200, 24)
    local baseline = cases.reset_connection_peak(sb)
    local started = core.now()
    local results = collate.run(function()
      local tasks = {}
      for i = 1, 24 do tasks[i] = collate.spawn(function() return client.payers.list{ limit = 1 } end) end
      return collate.wait_all(tasks)
    end, { max_connections = 4 })
    local elapsed = core.now() - started
    assert.are.equal(24, #results)
    assert.are.equal("payer_aetna", results[24].data[1].id)
    local conns = sb:control("GET", "/_sandbox/connections").json
    assert.is_true(conns.busyPeak <= 4, "busy peak " .. conns.busyPeak)
    assert.is_true(conns.apiPeak <= 4 + baseline, "peak " .. conns.apiPeak)
    assert.are.equal(4, scheduler.last_stats.peak_in_flight)
    -- 24 delays of 0.2 s, 4 at a time: about 1.2 s; one by one it would be 4.8 s
    assert.is_true(elapsed > 1.1 and elapsed < 3, "elapsed " .. elapsed)
  end)

  it("sleeps concurrently and returns results in order", function()
    local started = core.now()
    local out = collate.run(function()
      local tasks = {}
      for i = 1, 50 do
        tasks[i] = collate.spawn(function(n)
          collate.sleep(0.2)
          return n * 2
        end, i)
      end
      return collate.gather(tasks)
    end)
    assert.is_true(core.now() - started < 1)
    assert.are.equal(50, #out)
    for i, r in ipairs(out) do
      assert.is_true(r.ok)
      assert.are.equal(i * 2, r.value)
    end
  end)

  it("retry backoff yields: other tasks progress while one waits on a 503", function()
    assert.are.equal(200, sb:control("POST", "/_sandbox/faults",
      { rules = { { kind = "status", status = 503, path = "/v1/providers", times = 1 } } }).status)
    local order = {}
    collate.run(function()
      local a = collate.spawn(function()
        client.providers.list{}
        order[#order + 1] = "retried"
      end)
      local b = collate.spawn(function()
        for _ = 1, 5 do client.payers.list{ limit = 1 } end
        order[#order + 1] = "other"
      end)
      collate.wait_all{ a, b }
    end)
    assert.are.same({ "other", "retried" }, order)
  end)

  it("cancels a task: it is not resumed, waiters get a canceled error", function()
    local reached = false
    local status
    collate.run(function()
      local t = collate.spawn(function()
        collate.sleep(0.3)
        reached = true
      end)
      collate.sleep(0.05)
      assert.is_true(t:cancel())
      assert.is_false(t:cancel())
      local ok, err = collate.pcall(t.wait, t)
      assert.is_false(ok)
      assert.is_true(collate.is_error(err, "canceled"))
      status = t:status()
      collate.sleep(0.4)
    end)
    assert.is_false(reached)
    assert.are.equal("canceled", status)
  end)

  it("raises an error nobody waited for, and cancels the rest when the main function fails", function()
    local ok, err = pcall(collate.run, function()
      collate.spawn(function() error("boom in a task") end)
    end)
    assert.is_false(ok)
    assert.matches("boom in a task", tostring(err))

    local finished = false
    local started = core.now()
    ok, err = pcall(collate.run, function()
      collate.spawn(function() collate.sleep(5) finished = true end)
      collate.sleep(0.05)
      error("main failed")
    end)
    assert.is_false(ok)
    assert.matches("main failed", tostring(err))
    assert.is_false(finished)
    assert.is_true(core.now() - started < 2)
  end)

  it("an error a task raises is the caller's through wait; gather collects it", function()
    collate.run(function()
      local t = collate.spawn(function()
        return client.authorizations.retrieve{ authorization_id = "auth_0000000000000000" }
      end)
      local r = collate.gather{ t }
      assert.is_false(r[1].ok)
      assert.is_true(collate.is_error(r[1].value, "prior_authorization_not_found"))
    end)
  end)

  it("the same code blocks outside collate.run, and spawn outside it is refused", function()
    assert.is_nil(scheduler.current())
    local page = client.payers.list{ limit = 1 }
    assert.are.equal("payer_aetna", page.data[1].id)
    local ok, err = pcall(collate.spawn, function() end)
    assert.is_false(ok)
    assert.is_true(collate.is_error(err, "invalid_argument"))
    ok = pcall(collate.run, function() end, { max_connections = 0 })
    assert.is_false(ok)
  end)

  it("refuses a nested run", function()
    local ok, err = pcall(collate.run, function() collate.run(function() end) end)
    assert.is_false(ok)
    assert.matches("already inside", tostring(err))
  end)
end)
