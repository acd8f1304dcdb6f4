-- collate.ops.store: the durable record of every case of a bulk run, behind one small interface
-- with two backends chosen by URL:
--   sqlite:PATH               embedded (the default), lua/collate/ops/store_sqlite.lua
--   postgresql://...          shared by many workers, lua/collate/ops/store_postgres.lua
--                             (postgres://, or a key=value libpq conninfo after "postgresql:")
--
--   local s = store.open("sqlite:cases.db")
--   s:bind(env)                          -- refuses a store of another environment
--   s:import(cases, now)                 -- new cases get an idempotency key in the same commit
--   local due = s:lease(owner, now, 50, {seconds = 60})
--   s:save(case.id, owner, {status = "processing", next_look = now + 5}, {events...})
--
-- A case's idempotency key is committed when the case is imported, long before its create is
-- sent, so a create lost to a crash (or a power loss: sqlite runs with synchronous FULL) is sent
-- again with the same key and the API replays it instead of creating a second authorization.
local cjson = require "cjson"
local sha256 = require "collate.ops.sha256"
local migrations = require "collate.ops.migrations"

local M = {}

-- a value for save() that sets a column to NULL
M.NULL = setmetatable({}, { __tostring = function() return "NULL" end })

M.TERMINAL = { completed = true, canceled = true }

-- the columns save() may set
local COLUMNS = {
  payer = true, code = true, input = true, auth_id = true, status = true, next_action = true, outcome = true,
  version = true, waiting_for = true, person = true, next_look = true, looks = true, attempts = true,
  requests = true, last_error = true, created_at = true, decided_at = true, idem_key = true,
}

local Store = {}
Store.__index = Store

local function backend_of(url)
  if type(url) ~= "string" or url == "" then
    error("store: a store URL is required (sqlite:PATH or postgresql://...)", 0)
  end
  local path = url:match("^sqlite:(.*)$")
  if path then
    return require("collate.ops.store_sqlite"), path:gsub("^//", "")
  end
  if url:match("^postgres") then
    local conninfo = url:match("^postgresql:(%a+%s*=.*)$") or url
    return require("collate.ops.store_postgres"), conninfo
  end
  error("store: unknown store URL '" .. url .. "': use sqlite:PATH or postgresql://... (libpq conninfo)", 0)
end

local function migrate(db, backend)
  db:transaction(function()
    if db.dialect == "postgres" then
      db:query("SELECT pg_advisory_xact_lock(7426518)") -- workers starting at once migrate one by one
    end
    db:exec([[CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY,
              name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)]])
    local applied = {}
    for _, r in ipairs(db:query("SELECT version FROM schema_migrations")) do applied[tonumber(r.version)] = true end
    local newest = 0
    for _, m in ipairs(migrations) do
      newest = math.max(newest, m.version)
      if not applied[m.version] then
        for _, sql in ipairs(m.sql) do db:exec((sql:gsub("{serial}", backend.SERIAL))) end
        db:exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", m.version, m.name,
          os.time())
      end
    end
    for v in pairs(applied) do
      if v > newest then
        error(string.format("store: schema version %d is newer than this collate-lua knows (%d): upgrade it", v,
          newest), 0)
      end
    end
  end)
end

-- open(url) -> store (schema migrated to the newest version)
function M.open(url)
  local backend, target = backend_of(url)
  local db = backend.connect(target)
  migrate(db, backend)
  local self = setmetatable({ db = db, url = url, backend = backend, describe = db.describe }, Store)
  return self
end

function Store:close()
  if self.db then self.db:close() end
  self.db = nil
end

function Store:meta(key)
  local r = self.db:first("SELECT value FROM meta WHERE key = ?", key)
  return r and r.value
end

function Store:set_meta(key, value)
  if self.db:exec("UPDATE meta SET value = ? WHERE key = ?", value, key) == 0 then
    self.db:exec("INSERT INTO meta (key, value) VALUES (?, ?)", key, value)
  end
end

---------------------------------------------------------------------------------------------
-- The environment a store belongs to

-- environment{base_url, api_key, embedded} -> {id, label, fingerprint}. The key itself is
-- never kept: only the first 16 hex digits of its SHA-256.
-- embedded: $COLLATE_SANDBOX_EMBEDDED as set by collate-run --sandbox ("state:PATH" when the
-- sandbox keeps a state file, else an instance ID that dies with the process).
function M.environment(o)
  local fingerprint = sha256.hex(o.api_key or ""):sub(1, 16)
  local base = (o.base_url or ""):gsub("/+$", "")
  if o.embedded and o.embedded ~= "" then
    local state = o.embedded:match("^state:(.+)$")
    if state then
      return { id = "sandbox-state:" .. state, fingerprint = fingerprint,
               label = "the embedded sandbox with state file " .. state }
    end
    return { id = "sandbox-embedded:" .. o.embedded, fingerprint = fingerprint, embedded = true,
             label = "an embedded sandbox (collate-run --sandbox) at " .. base }
  end
  return { id = base, fingerprint = fingerprint, label = base }
end

-- bind(env): the first bind records the environment; later ones must match it.
function Store:bind(env, now)
  return self.db:transaction(function()
    local id, fp = self:meta("environment"), self:meta("key_fingerprint")
    if not id then
      self:set_meta("environment", env.id)
      self:set_meta("environment_label", env.label)
      self:set_meta("key_fingerprint", env.fingerprint)
      self:set_meta("bound_at", tostring(math.floor(now or os.time())))
      return true
    end
    if id == env.id and fp == env.fingerprint then return true end
    local label = self:meta("environment_label") or id
    local bound = tonumber(self:meta("bound_at") or "")
    local when = bound and os.date("!%Y-%m-%d %H:%M UTC", bound) or "an earlier run"
    if id:match("^sandbox%-embedded:") then
      error(string.format("store %s belongs to %s started by an earlier collate-run --sandbox (%s); that sandbox " ..
        "is gone and its authorizations with it, so its cases cannot be resumed here. Use a new --store for this " ..
        "sandbox, or keep one sandbox across runs with collate-run --sandbox --sandbox-state FILE.",
        self.describe, label, when), 0)
    end
    if id == env.id then
      error(string.format("store %s belongs to %s with another API key (fingerprint %s, this key's is %s): " ..
        "use the store of this key's organization (--store or COLLATE_STORE)", self.describe, label, fp,
          env.fingerprint), 0)
    end
    error(string.format("store %s belongs to environment %s (API key fingerprint %s), not %s: use that " ..
      "environment's store (--store or COLLATE_STORE), or a new one for this environment",
      self.describe, label, fp, env.label), 0)
  end)
end

function Store:environment()
  return { id = self:meta("environment"), label = self:meta("environment_label"),
           fingerprint = self:meta("key_fingerprint") }
end

---------------------------------------------------------------------------------------------
-- Cases

local function decode_case(r)
  if not r then return nil end
  r.version = tonumber(r.version)
  r.looks, r.attempts, r.requests = tonumber(r.looks) or 0, tonumber(r.attempts) or 0, tonumber(r.requests) or 0
  for _, k in ipairs({ "next_look", "imported_at", "created_at", "decided_at", "updated_at", "lease_until" }) do
    r[k] = tonumber(r[k])
  end
  r.input = r.input and cjson.decode(r.input) or {}
  if r.person then r.person = cjson.decode(r.person) end
  return r
end
M.decode_case = decode_case

local function add_event(db, case_id, e, now)
  db:exec("INSERT INTO events (case_id, at, actor, kind, from_status, to_status, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
    case_id, e.at or now, e.actor or "store", e.kind, e.from, e.to,
    e.detail ~= nil and (type(e.detail) == "string" and e.detail or cjson.encode(e.detail)) or nil)
end

-- import(cases, now, new_key) -> added, kept. cases: {id, payer, code, input = table}; a case
-- already in the store is kept as it is (its key, its state). Each new case gets new_key() as
-- its idempotency key in the same transaction.
function Store:import(cases, now, new_key, actor)
  local added, kept = 0, 0
  self.db:transaction(function()
    for _, c in ipairs(cases) do
      if self.db:first("SELECT id FROM cases WHERE id = ?", c.id) then
        kept = kept + 1
      else
        self.db:exec([[INSERT INTO cases (id, payer, code, input, idem_key, status, waiting_for, next_look,
                         imported_at, updated_at) VALUES (?, ?, ?, ?, ?, 'new', 'create', ?, ?, ?)]],
          c.id, c.payer, c.code, cjson.encode(c.input), new_key(), now, now, now)
        add_event(self.db, c.id, { actor = actor or "import", kind = "imported", to = "new" }, now)
        added = added + 1
      end
    end
  end)
  return added, kept
end

function Store:get(id)
  return decode_case(self.db:first("SELECT * FROM cases WHERE id = ?", id))
end

-- Cases that may be worked: not terminal, not failed, not waiting on a person alone.
local OPEN = "status NOT IN ('completed', 'canceled', 'failed')"

-- lease(owner, now, limit, o) -> cases due at `now` (API clock), leased to `owner` until
-- o.wall + o.seconds (wall clock), and the IDs of deferred saves that lost their lease. A lease
-- that ran out (its worker died) is taken over. Deferred saves (save{defer}) are written in the
-- same transaction, first: one commit per call.
function Store:lease(owner, now, limit, o)
  local wall = o.wall or os.time()
  local until_ = wall + (o.seconds or 60)
  local pending = self.pending or {}
  if limit <= 0 and #pending == 0 then return {}, {} end
  self.pending = {}
  local lost = {}
  local rows = self.db:transaction(function()
    for _, p in ipairs(pending) do
      if not self:_save(p[1], p[2], p[3], p[4], p[5]) then lost[#lost + 1] = p[1] end
    end
    if limit <= 0 then return {} end
    return self.db:query(string.format([[
      UPDATE cases SET lease_owner = ?, lease_until = ?
       WHERE id IN (SELECT id FROM cases
                     WHERE %s AND next_look IS NOT NULL AND next_look <= ?
                       AND (lease_owner IS NULL OR lease_until < ?)
                     ORDER BY next_look, id LIMIT ?%s)
      RETURNING *]], OPEN, self.backend.SKIP_LOCKED), owner, until_, now, wall, limit)
  end)
  local out = {}
  for i, r in ipairs(rows) do out[i] = decode_case(r) end
  table.sort(out, function(a, b)
    if a.next_look ~= b.next_look then return a.next_look < b.next_look end
    return a.id < b.id
  end)
  return out, lost
end

-- reclaim(host, alive) -> n: leases held by a process of this host that is gone (owner names
-- are "host:pid:random", cli.owner) are released at once instead of when they run out, so a
-- run after a crash or a kill on the same machine resumes without waiting. alive(pid) -> bool.
function Store:reclaim(host, alive)
  local n = 0
  local prefix = host .. ":"
  for _, r in ipairs(self.db:query("SELECT DISTINCT lease_owner FROM cases WHERE lease_owner IS NOT NULL")) do
    local owner = r.lease_owner
    local pid = owner:sub(1, #prefix) == prefix and owner:sub(#prefix + 1):match("^(%d+):")
    if pid and not alive(pid) then
      n = n + self.db:transaction(function()
        return self.db:exec("UPDATE cases SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?", owner)
      end)
    end
  end
  return n
end

-- take(id, owner, o) -> case, or nil and why: leases one case whatever its next look (for a
-- person's command); refused while another worker holds it.
function Store:take(id, owner, o)
  local wall = o.wall or os.time()
  local rows = self.db:transaction(function()
    return self.db:query([[UPDATE cases SET lease_owner = ?, lease_until = ?
                            WHERE id = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)
                            RETURNING *]], owner, wall + (o.seconds or 60), id, owner, wall)
  end)
  if rows[1] then return decode_case(rows[1]) end
  local c = self:get(id)
  if not c then return nil, "no case " .. id .. " in the store" end
  return nil, "case " .. id .. " is being worked by " .. tostring(c.lease_owner) .. " (lease until " ..
    os.date("!%H:%M:%S UTC", math.floor(c.lease_until or 0)) .. ")"
end

-- renew(id, owner, o) -> false when the lease was lost
function Store:renew(id, owner, o)
  return self.db:exec("UPDATE cases SET lease_until = ? WHERE id = ? AND lease_owner = ?",
    (o.wall or os.time()) + (o.seconds or 60), id, owner) > 0
end

-- save(id, owner, fields, events, o) -> true, or false when owner no longer holds the lease
-- (the case was taken over; nothing is written). o.keep_lease keeps it (renewed), else it is
-- released. o.defer queues the write for the next flush(), so that one commit (one fsync)
-- carries the saves of every case that finished meanwhile; the case stays leased until then.
-- Only the idempotency key must be on disk before a request (it is, from import); a state lost
-- with a deferred write is read again from the API.
function Store:save(id, owner, fields, events, o)
  o = o or {}
  if o.defer then
    self.pending = self.pending or {}
    self.pending[#self.pending + 1] = { id, owner, fields, events, o }
    return true
  end
  return self.db:transaction(function() return self:_save(id, owner, fields, events, o) end)
end

function Store:has_pending()
  return self.pending ~= nil and #self.pending > 0
end

-- flush() -> the IDs of deferred saves that found their lease taken over (not written)
function Store:flush()
  local _, lost = self:lease(nil, 0, 0, {})
  return lost
end

function Store:_save(id, owner, fields, events, o)
  local now = o.now or os.time()
  local names = {}
  for k in pairs(fields) do
    if not COLUMNS[k] then error("store.save: unknown column " .. tostring(k), 2) end
    names[#names + 1] = k
  end
  table.sort(names) -- one SQL text per set of columns: prepared statements are reused
  local sets, ordered = {}, {}
  for i, k in ipairs(names) do
    local v = fields[k]
    if v == M.NULL then v = nil
    elseif type(v) == "table" then v = cjson.encode(v)
    elseif type(v) == "boolean" then v = v and 1 or 0 end
    sets[i] = k .. " = ?"
    ordered[i] = v
  end
  local n = #names
  sets[#sets + 1] = "updated_at = ?"
  ordered[n + 1] = now
  local lease_sql
  if o.keep_lease then
    lease_sql = ", lease_until = ?"
    ordered[n + 2] = (o.wall or os.time()) + (o.seconds or 60)
  else
    lease_sql = ", lease_owner = NULL, lease_until = NULL"
  end
  local sql = "UPDATE cases SET " .. table.concat(sets, ", ") .. lease_sql .. " WHERE id = ? AND lease_owner = ?"
  local count = o.keep_lease and n + 2 or n + 1
  ordered[count + 1], ordered[count + 2] = id, owner
  if self.db:exec(sql, table.unpack(ordered, 1, count + 2)) == 0 then return false end
  for _, e in ipairs(events or {}) do add_event(self.db, id, e, now) end
  return true
end

-- adopt(id, fields, now) -> true when a case never worked (status new) took the given key and
-- authorization (an older run's journal); the case is due at once.
function Store:adopt(id, fields, now)
  return self.db:transaction(function()
    local c = self:get(id)
    if not c or c.status ~= "new" or c.auth_id then return false end
    self.db:exec("UPDATE cases SET idem_key = ?, auth_id = ?, status = ?, next_look = ?, updated_at = ? WHERE id = ?",
      fields.idem_key or c.idem_key, fields.auth_id, fields.status or "new", now, now, id)
    add_event(self.db, id, { actor = "import", kind = "journal_imported", from = "new", to = fields.status or "new",
      detail = { authorization = fields.auth_id } }, now)
    return true
  end)
end

-- release(owner): gives back every lease owner holds (a clean stop)
function Store:release(owner)
  return self.db:exec("UPDATE cases SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?", owner)
end

-- next_due() -> the earliest next look of an open case that does not wait on a person (those
-- are re-read now and then, but never keep a run waiting), or nil
function Store:next_due()
  local r = self.db:first("SELECT MIN(next_look) AS t FROM cases WHERE " .. OPEN ..
    " AND next_look IS NOT NULL AND (waiting_for IS NULL OR waiting_for NOT LIKE 'person:%')")
  return r and tonumber(r.t)
end

-- wake_people(now) -> n: cases waiting on a person are due now (a run with other rules, or
-- after a person acted elsewhere, looks at them again at once)
function Store:wake_people(now)
  return self.db:transaction(function()
    return self.db:exec("UPDATE cases SET next_look = ? WHERE " .. OPEN ..
      " AND waiting_for LIKE 'person:%' AND next_look > ?", now, now)
  end)
end

-- retry_failed(now, actor) -> n: failed cases become due again (their key and ID kept)
function Store:retry_failed(now, actor)
  return self.db:transaction(function()
    local ids = self.db:query("SELECT id FROM cases WHERE status = 'failed'")
    for _, r in ipairs(ids) do
      local c = self:get(r.id)
      local back = c.auth_id and "requires_action" or "new"
      self.db:exec([[UPDATE cases SET status = ?, next_look = ?, attempts = 0, waiting_for = ?
                      WHERE id = ?]], back, now, c.auth_id and "collate" or "create", r.id)
      add_event(self.db, r.id, { actor = actor, kind = "retry_failed", from = "failed", to = back }, now)
    end
    return #ids
  end)
end

-- cases(o) -> list of cases (o.needs_person: only those waiting on a person; o.open)
function Store:cases(o)
  o = o or {}
  local where = {}
  if o.needs_person then where[#where + 1] = "waiting_for LIKE 'person:%'" end
  if o.open then where[#where + 1] = OPEN end
  if o.id then where[#where + 1] = "id = ?" end
  local sql = "SELECT * FROM cases" .. (#where > 0 and (" WHERE " .. table.concat(where, " AND ")) or "") ..
    " ORDER BY id"
  local rows = o.id and self.db:query(sql, o.id) or self.db:query(sql)
  for i, r in ipairs(rows) do rows[i] = decode_case(r) end
  return rows
end

-- summary rows for reports: the columns a table needs, without decoding inputs. The database
-- joins them into one string (one row to fetch instead of one per case: a store of 100,000
-- cases reads in about 0.3 s instead of 1.2 s through LuaDBI), split here.
local REPORT_FIELDS = { "id", "payer", "status", "outcome", "waiting_for", "imported_at", "created_at", "decided_at",
                        "next_look", "attempts", "requests", "auth_id", "last_error" }
function Store:summaries()
  local us, rs = "chr(31)", "chr(10)"
  if self.db.dialect == "sqlite" then us, rs = "char(31)", "char(10)" end
  local parts = {}
  for i, f in ipairs(REPORT_FIELDS) do
    local col = "CAST(" .. f .. " AS TEXT)"
    if f == "last_error" then col = "replace(replace(last_error, " .. rs .. ", ' '), " .. us .. ", ' ')" end
    parts[i] = "coalesce(" .. col .. ", '')"
  end
  local line = table.concat(parts, " || " .. us .. " || ")
  local sql
  if self.db.dialect == "sqlite" then
    sql = "SELECT group_concat(line, " .. rs .. ") AS all_rows FROM (SELECT " .. line
      .. " AS line FROM cases ORDER BY id)"
  else
    sql = "SELECT string_agg(" .. line .. ", " .. rs .. " ORDER BY id) AS all_rows FROM cases"
  end
  local all = (self.db:first(sql) or {}).all_rows
  local rows = {}
  if not all or all == "" then return rows end
  local pattern = "([^\31\n]*)" .. string.rep("\31([^\31\n]*)", #REPORT_FIELDS - 1)
  local n = 0
  for id, payer, status, outcome, waiting, imported, created, decided, next_look, attempts, requests, auth, err
      in all:gmatch(pattern) do
    n = n + 1
    rows[n] = { id = id, payer = payer ~= "" and payer or nil, status = status, outcome = outcome ~= ""
      and outcome or nil,
      waiting_for = waiting ~= "" and waiting or nil, imported_at = tonumber(imported), created_at = tonumber(created),
      decided_at = tonumber(decided), next_look = tonumber(next_look), attempts = tonumber(attempts),
      requests = tonumber(requests), auth_id = auth ~= "" and auth or nil, last_error = err ~= "" and err or nil }
  end
  return rows
end

-- the same rows, one per fetched row (kept for comparison and small stores)
function Store:summaries_by_row()
  return self.db:query([[SELECT id, payer, status, outcome, next_action, waiting_for, imported_at, created_at,
                                decided_at, next_look, attempts, requests, last_error, auth_id, updated_at
                           FROM cases ORDER BY id]])
end

function Store:events(case_id)
  local rows
  if case_id then
    rows = self.db:query("SELECT * FROM events WHERE case_id = ? ORDER BY id", case_id)
  else
    rows = self.db:query("SELECT * FROM events ORDER BY id")
  end
  for _, r in ipairs(rows) do r.at = tonumber(r.at) r.id = tonumber(r.id) end
  return rows
end

-- add_events(case_id, events, now): events outside a save (a dry run never writes)
function Store:add_events(case_id, events, now)
  self.db:transaction(function()
    for _, e in ipairs(events) do add_event(self.db, case_id, e, now) end
  end)
end

return M
