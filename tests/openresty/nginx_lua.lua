-- Test fixture: Debian's nginx with the Lua module, configured from tests/openresty/nginx.conf.in
-- (the README's snippet) on an ephemeral loopback port, everything in one temp directory.
--   local ng = require("openresty.nginx_lua").start{base_url = sb.url, api_key = sb.key, ca_file = ?}
--   ng.port, ng.url, ng:error_log(), ng:stop()
local fs = require "support.fs"
local nginx = require "support.nginx"

local M = {}

local q = fs.quote

local function source_dir()
  return os.getenv("COLLATE_SOURCE_DIR") or "."
end

function M.render(values)
  local template = assert(fs.read_file(source_dir() .. "/tests/openresty/nginx.conf.in"))
  return (template:gsub("@([%u_]+)@", function(name)
    return assert(values[name], "no value for @" .. name .. "@")
  end))
end

-- o: {base_url, api_key, ca_file?, lua_dir?, lua_cdir?, extra = nginx text added to the server
-- block (test-only locations; the README's configuration stays as it is)}
function M.start(o)
  local dir = fs.temp_dir()
  local function render(port)
    local conf = M.render{
      DIR = dir, PORT = tostring(port),
      LUA_DIR = o.lua_dir or (source_dir() .. "/lua"),
      LUA_CDIR = o.lua_cdir or assert(os.getenv("COLLATE_LUAJIT_CDIR"), "COLLATE_LUAJIT_CDIR not set"),
      CA_FILE = o.ca_file or "/etc/ssl/certs/ca-certificates.crt",
    }
    if o.extra then
      local n
      conf, n = conf:gsub("\n  }\n}\n$", function() return "\n" .. o.extra .. "\n  }\n}\n" end)
      assert(n == 1, "cannot find the end of the server block")
    end
    return conf
  end
  return nginx.start{ dir = dir, render = render,
    env = "COLLATE_API_KEY=" .. q(o.api_key) .. " COLLATE_BASE_URL=" .. q(o.base_url) }
end

return M
