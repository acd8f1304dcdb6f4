-- collate.ops.store: the same suite over both backends (sqlite and a throwaway PostgreSQL 15
-- cluster): migrations, the environment binding, import, leases (exclusive, taken over when
-- they run out, lost ones never written), deferred saves, events.
local fs = require "support.fs"
local postgres = require "support.postgres"
local store_mod = require "collate.ops.store"
local sha256 = require "collate.ops.sha256"

local q = fs.quote

local function keys()
  local n = 0
  return function()
    n = n + 1
    return string.format("key-%04d", n)
  end
end

local function some_cases(n)
  local out = {}
  for i = 1, n do
    out[i] = { id = string.format("c%03d", i), payer = i % 2 == 0 and "payer_uhc" or "payer_aetna", code = "J0791",
               input = { fields = { case_id = string.format("c%03d", i) },
                 answers = { ["coverage.memberId"] = "M" .. i } } }
  end
  return out
end

local ENV = store_mod.environment{ base_url = "https://api.collate.example/", api_key = "sk_live_canary_do_not_store" }

local function suite(name, url_for)
  describe("the store on " .. name, function()
    local url, s
    before_each(function()
      url = url_for()
      s = store_mod.open(url)
    end)
    after_each(function() if s then s:close() end end)

    it("applies its versioned migrations once, and again opens an up-to-date store as it is", function()
      local v = s.db:query("SELECT version FROM schema_migrations ORDER BY version")
      assert.are.equal(1, #v)
      assert.are.equal(1, tonumber(v[1].version))
      s:close()
      s = store_mod.open(url)
      assert.are.equal(1, #s.db:query("SELECT version FROM schema_migrations"))
    end)

    it("is bound to one environment: a second one is refused, naming the first", function()
      assert.is_true(s:bind(ENV, 1000))
      assert.is_true(s:bind(ENV, 2000))
      local other = store_mod.environment{ base_url = "https://sandbox.collate.example", api_key = "sk_test_x" }
      local ok, err = pcall(s.bind, s, other)
      assert.is_false(ok)
      assert.matches("belongs to environment https://api.collate.example", err, 1, true)
      assert.matches("not https://sandbox.collate.example", err, 1, true)
      local other_key = store_mod.environment{ base_url = "https://api.collate.example", api_key = "sk_live_other" }
      ok, err = pcall(s.bind, s, other_key)
      assert.is_false(ok)
      assert.matches("another API key", err, 1, true)
      -- the key itself is nowhere in the store, only its truncated SHA-256
      assert.are.equal(sha256.hex("sk_live_canary_do_not_store"):sub(1, 16), s:meta("key_fingerprint"))
      for _, r in ipairs(s.db:query("SELECT value FROM meta")) do
        assert.is_nil(r.value:find("canary", 1, true))
      end
    end)

    it("says an earlier, gone embedded sandbox's store cannot be resumed", function()
      local gone = store_mod.environment{ base_url = "http://127.0.0.1:40001", api_key = "sk_test_local",
        embedded = "111-1" }
      assert.is_true(s:bind(gone))
      local now = store_mod.environment{ base_url = "http://127.0.0.1:40002", api_key = "sk_test_local",
        embedded = "222-2" }
      local ok, err = pcall(s.bind, s, now)
      assert.is_false(ok)
      assert.matches("earlier collate-run --sandbox", err, 1, true)
      assert.matches("--sandbox-state", err, 1, true)
    end)

    it("imports each case once, with its idempotency key in the same commit", function()
      local added, kept = s:import(some_cases(5), 100, keys())
      assert.are.same({ 5, 0 }, { added, kept })
      added, kept = s:import(some_cases(7), 200, keys())
      assert.are.same({ 2, 5 }, { added, kept })
      local c = s:get("c001")
      assert.are.equal("key-0001", c.idem_key)
      assert.are.equal("new", c.status)
      assert.are.equal("M1", c.input.answers["coverage.memberId"])
      assert.are.equal(100, c.next_look)
      assert.are.equal(7, #s:events())
    end)

    it("leases each due case to one worker; a lease that ran out is taken over", function()
      s:import(some_cases(10), 100, keys())
      local a = s:lease("worker-a", 150, 6, { seconds = 60, wall = 1000 })
      local b = s:lease("worker-b", 150, 6, { seconds = 60, wall = 1000 })
      assert.are.equal(6, #a)
      assert.are.equal(4, #b)
      local seen = {}
      for _, c in ipairs(a) do seen[c.id] = "a" end
      for _, c in ipairs(b) do
        assert.is_nil(seen[c.id], c.id .. " leased twice")
        seen[c.id] = "b"
      end
      assert.are.equal(0, #s:lease("worker-c", 150, 10, { seconds = 60, wall = 1059 }))
      -- worker-a died: after its leases ran out, worker-c takes its cases
      local c = s:lease("worker-c", 150, 10, { seconds = 60, wall = 1061 })
      assert.are.equal(10, #c) -- b's ran out too
      -- a's late save finds its lease gone: nothing written
      assert.is_false(s:save(a[1].id, "worker-a", { status = "processing" }, { { kind = "x" } }, { now = 151 }))
      assert.are.equal("new", s:get(a[1].id).status)
      assert.is_true(s:save(a[1].id, "worker-c", { status = "processing", next_look = 500 }, {}, { now = 152 }))
      assert.are.equal("processing", s:get(a[1].id).status)
      assert.is_nil(s:get(a[1].id).lease_owner)
    end)

    it("defers saves to the next lease call, one commit for all; lost leases are reported", function()
      s:import(some_cases(3), 100, keys())
      local got = s:lease("w", 150, 3, { seconds = 60, wall = 1000 })
      for _, c in ipairs(got) do
        assert.is_true(s:save(c.id, "w", { status = "processing", next_look = 300, version = 2 },
          { { kind = "transition", from = "new", to = "processing", actor = "rules" } }, { now = 160, defer = true }))
      end
      assert.is_true(s:has_pending())
      assert.are.equal("new", s:get("c001").status) -- not yet written
      local due, lost = s:lease("w", 150, 3, { seconds = 60, wall = 1001 })
      assert.are.same({}, lost)
      assert.are.equal(0, #due) -- written, released, and not due before 300
      assert.are.equal("processing", s:get("c001").status)
      assert.are.equal(2, s:get("c002").version)
      assert.are.equal(300, s:next_due())
      local ev = s:events("c003")
      assert.are.equal("transition", ev[#ev].kind)
      assert.are.equal("rules", ev[#ev].actor)
    end)

    it("never hands out terminal or failed cases, and --retry-failed brings failed ones back", function()
      s:import(some_cases(3), 100, keys())
      local got = s:lease("w", 150, 3, { seconds = 60, wall = 1000 })
      s:save(got[1].id, "w", { status = "completed", outcome = "approved", next_look = store_mod.NULL }, {},
        { now = 1 })
      s:save(got[2].id, "w", { status = "failed", last_error = "collate: 404 provider_not_found",
        next_look = store_mod.NULL },
        {}, { now = 1 })
      s:save(got[3].id, "w", { status = "processing", next_look = 120 }, {}, { now = 1 })
      local due = s:lease("w", 1e9, 10, { seconds = 60, wall = 2000 })
      assert.are.equal(1, #due)
      assert.are.equal(got[3].id, due[1].id)
      s:release("w")
      -- the report's rows, fetched as one string: every column, separators in errors blanked
      s.db:exec("UPDATE cases SET last_error = ? WHERE id = ?", "line one\nline two", got[2].id)
      local rows = s:summaries()
      assert.are.equal(3, #rows)
      local by = {}
      for _, r in ipairs(rows) do by[r.id] = r end
      assert.are.equal("completed", by[got[1].id].status)
      assert.are.equal("approved", by[got[1].id].outcome)
      assert.are.equal("line one line two", by[got[2].id].last_error)
      assert.are.equal(120, by[got[3].id].next_look)
      assert.are.equal("payer_aetna", by["c001"].payer)
      assert.are.equal(1, #s:summaries_by_row() - 2)
      assert.are.equal(1, s:retry_failed(200, "operator:test"))
      assert.are.equal("new", s:get(got[2].id).status)
    end)
  end)
end

local dir = fs.temp_dir()
local n = 0
suite("sqlite", function()
  n = n + 1
  return "sqlite:" .. dir .. "/store-" .. n .. ".db"
end)

describe("the sqlite store's file", function()
  it("is created readable by its owner only (mode 0600), in WAL mode, synchronous FULL", function()
    local path = dir .. "/mode.db"
    local s = store_mod.open("sqlite:" .. path)
    s:import(some_cases(1), 1, keys())
    local p = io.popen("stat -c %a " .. q(path) .. " " .. q(path .. "-wal"))
    local modes = p:read("a")
    p:close()
    assert.are.equal("600\n600\n", modes)
    assert.are.equal("wal", s.db:first("PRAGMA journal_mode").journal_mode)
    assert.are.equal(2, tonumber(s.db:first("PRAGMA synchronous").synchronous)) -- 2 = FULL
    s:close()
  end)
end)

local pg
if postgres.available() then
  pg = assert(postgres.start())
  local m = 0
  suite("postgresql", function()
    m = m + 1
    return pg:database("store_" .. m)
  end)
else
  describe("the store on postgresql", function()
    pending("PostgreSQL 15 is not installed: apt-get install postgresql-15")
  end)
end

teardown(function()
  if pg then pg:stop() end
  os.execute("rm -rf " .. q(dir))
end)
