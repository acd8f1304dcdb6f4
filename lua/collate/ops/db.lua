-- The small database interface the store is written against, over a LuaDBI connection
-- (Debian's lua-dbi-sqlite3 / lua-dbi-postgresql): prepared statements with bound parameters
-- (never SQL built from values), cached per SQL text, and explicit transactions.
--   db:exec(sql, ...) -> rows affected      db:query(sql, ...) -> list of rows {column = value}
--   db:transaction(fn) -> fn's results (BEGIN / COMMIT, ROLLBACK and re-raise on error)
local M = {}

local DB = {}
DB.__index = DB

-- wrap(conn, dialect, begin_sql) -> db; dialect "sqlite" or "postgres"
function M.wrap(conn, dialect, begin_sql, describe)
  conn:autocommit(true)
  return setmetatable({ conn = conn, dialect = dialect, begin_sql = begin_sql or "BEGIN",
                        statements = {}, depth = 0, describe = describe or dialect }, DB)
end

local function fail(self, sql, err)
  error(string.format("store (%s): %s\n  in: %s", self.describe, tostring(err), sql:gsub("%s+", " ")), 0)
end

function DB:statement(sql)
  local st = self.statements[sql]
  if st then return st end
  local err
  st, err = self.conn:prepare(sql)
  if not st then fail(self, sql, err) end
  self.statements[sql] = st
  return st
end

local function run(self, sql, ...)
  local st = self:statement(sql)
  local ok, err = st:execute(...)
  if not ok then fail(self, sql, err) end
  return st
end

function DB:exec(sql, ...)
  return run(self, sql, ...):affected()
end

function DB:query(sql, ...)
  local st = run(self, sql, ...)
  local out = {}
  for row in st:rows(true) do
    local copy = {}
    for k, v in pairs(row) do copy[k] = v end
    out[#out + 1] = copy
  end
  return out
end

function DB:first(sql, ...)
  return self:query(sql, ...)[1]
end

function DB:transaction(fn, ...)
  if self.depth > 0 then return fn(...) end
  self:exec(self.begin_sql)
  self.depth = 1
  local result = table.pack(pcall(fn, ...))
  self.depth = 0
  if result[1] then
    self:exec("COMMIT")
    return table.unpack(result, 2, result.n)
  end
  pcall(self.exec, self, "ROLLBACK")
  error(result[2], 0)
end

function DB:close()
  for _, st in pairs(self.statements) do pcall(st.close, st) end
  self.statements = {}
  if self.conn then self.conn:close() end
  self.conn = nil
end

return M
