-- What the test fixtures share: shell quoting, whole-file reads and writes, temp directories
-- and process checks (Lua 5.4 and LuaJIT alike).
local M = {}

function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

function M.write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

-- os.execute's success: true on 5.2+, the exit status 0 on 5.1/LuaJIT.
function M.sh(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

function M.alive(pid)
  if pid == nil then return false end
  return M.sh("kill -0 " .. pid .. " 2>/dev/null")
end

function M.sleep(seconds)
  os.execute("sleep " .. seconds)
end

-- A new directory readable by everyone (nginx workers may run as another user).
function M.temp_dir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(M.sh("mkdir -m 755 " .. M.quote(dir)), "cannot create " .. dir)
  return dir
end

return M
