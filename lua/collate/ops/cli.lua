-- What the ops scripts share: options, the store and its environment, the client, the clock.
local store_mod = require "collate.ops.store"

local M = {}

M.DEFAULT_STORE = "sqlite:collate-cases.db"

-- A small option parser. spec: {["--name"] = "flag" | "value" | "number" | "integer" | "list"}
-- -> options (keys without the dashes, - as _), positional list. Exits 2 on a usage error.
function M.parse(name, args, spec, usage)
  local o, pos = {}, {}
  local function fail(msg)
    io.stderr:write(name, ": ", msg, "\n(see --help)\n")
    os.exit(2)
  end
  local i = 1
  while args[i] do
    local a = args[i]
    local key, inline = a:match("^(%-%-[^=]+)=(.*)$")
    key = key or a
    if a == "-h" or a == "--help" then
      print(usage)
      os.exit(0)
    elseif spec[key] then
      local kind = spec[key]
      local field = key:sub(3):gsub("%-", "_")
      if kind == "flag" then
        o[field] = true
      else
        local v = inline
        if v == nil then
          i = i + 1
          v = args[i]
        end
        if v == nil then fail(key .. " needs a value") end
        if kind == "number" or kind == "integer" then
          local n = tonumber(v)
          if not n or n < 0 or (kind == "integer" and (n % 1 ~= 0 or n < 1)) then
            fail(key .. " must be a " .. (kind == "integer" and "positive integer" or "number >= 0")
              .. " (got " .. v .. ")")
          end
          v = kind == "integer" and math.tointeger(n) or n
        end
        if kind == "list" then
          o[field] = o[field] or {}
          table.insert(o[field], v)
        else
          o[field] = v
        end
      end
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      fail("unknown option " .. a)
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  o.fail = fail
  return o, pos
end

-- The options every store command takes, for the spec and the usage text.
M.STORE_SPEC = { ["--store"] = "value", ["--clock"] = "value" }
M.STORE_USAGE = [[
  --store URL               the case store: sqlite:PATH (default ]] .. M.DEFAULT_STORE .. [[, or
                            $COLLATE_STORE) or postgresql://... (libpq conninfo)
  --clock api|sandbox       what "now" is: the machine's clock (api, default) or the sandbox's
                            virtual clock (GET /_sandbox/clock), for simulations]]

function M.store_url(o)
  return o.store or os.getenv("COLLATE_STORE") or M.DEFAULT_STORE
end

-- the environment this process talks to, from COLLATE_BASE_URL / COLLATE_API_KEY
function M.environment()
  local config = require "collate.config"
  local base = os.getenv("COLLATE_BASE_URL") or "sandbox"
  base = (config.environments[base] or base):gsub("/+$", "")
  local key = os.getenv("COLLATE_API_KEY")
  if not key or key == "" then return nil, base end
  return store_mod.environment{ base_url = base, api_key = key, embedded = os.getenv("COLLATE_SANDBOX_EMBEDDED") }, base
end

-- open_store(o, name, need_api) -> store, env. need_api: the command talks to the API, so the
-- store must be bound to (or is now bound to) this environment. Without an API key a command
-- that only reads the store still opens it.
function M.open_store(o, name, need_api)
  local url = M.store_url(o)
  local ok, store = pcall(store_mod.open, url)
  if not ok then
    io.stderr:write(name, ": ", tostring(store), "\n")
    os.exit(1)
  end
  local env = M.environment()
  if need_api and not env then
    io.stderr:write(name, ": COLLATE_API_KEY is not set (collate-run --sandbox sets it for the local sandbox)\n")
    os.exit(1)
  end
  if env then
    local bound, err = pcall(store.bind, store, env)
    if not bound then
      io.stderr:write(name, ": ", tostring(err), "\n")
      os.exit(1)
    end
  end
  return store, env
end

-- now(o) -> a function returning the current time in seconds (the API's clock), and the
-- clock's speed (virtual seconds per wall second; 0 for a stepped sandbox clock)
function M.clock(o)
  local core = require "collate.core"
  local kind = o.clock or "api"
  if kind == "api" then
    -- wall-clock seconds since the epoch, with core.now's sub-second resolution
    local offset = os.time() - core.now()
    return function() return core.now() + offset end, 1
  end
  if kind ~= "sandbox" then o.fail("--clock must be api or sandbox") end
  local cjson = require "cjson"
  local advance = require "collate.ops.advance"
  local transport = require("collate.transport.curl").new{ user_agent = "collate-ops" }
  local base = (os.getenv("COLLATE_BASE_URL") or ""):gsub("/+$", "")
  local cached, at, speed = nil, nil, 1
  local function fetch()
    local status, _, body = transport.send({ method = "GET", url = base .. "/_sandbox/clock", headers = {} }, 10)
    if status ~= 200 then error("--clock sandbox: GET " .. base .. "/_sandbox/clock answered "
      .. tostring(status), 0) end
    local c = cjson.decode(body)
    cached, at = advance.epoch(c.now), core.now()
    speed = c.mode == "step" and 0 or (c.speed or 1)
  end
  fetch()
  local function now()
    if core.now() - at > 0.5 then fetch() end
    return cached + (core.now() - at) * speed
  end
  return now, speed
end

function M.hostname()
  local host = io.open("/proc/sys/kernel/hostname")
  local h = host and host:read("l") or "host"
  if host then host:close() end
  return h
end

-- is process `pid` of this machine alive (Linux /proc)
function M.alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %b() (%a)") ~= "Z" -- a zombie is gone, only not yet reaped
end

-- a lease owner name: host, process, and a random part (a pid can be reused)
function M.owner()
  local h = M.hostname()
  local stat = io.open("/proc/self/stat")
  local pid = stat and stat:read("l"):match("^(%d+)") or "0"
  if stat then stat:close() end
  return string.format("%s:%s:%s", h, pid, require("collate.core").uuid4():sub(1, 8))
end

function M.operator(o)
  return "operator:" .. (o.operator or os.getenv("USER") or os.getenv("LOGNAME") or "unknown")
end

return M
