-- status --refresh: re-read every open case from the API and record what changed, acting on
-- nothing (no create, no write to the API).
local collate = require "collate"
local store_mod = require "collate.ops.store"

local NULL = store_mod.NULL
local M = {}

function M.run(store, now, o)
  local client = collate.new{}
  local list = {}
  for _, c in ipairs(store:cases{ open = true }) do
    if c.auth_id then list[#list + 1] = c end
  end
  local n = 0
  collate.run(function()
    local tasks = {}
    local next_i = 0
    for w = 1, math.min(16, #list) do
      tasks[w] = collate.spawn(function()
        while true do
          next_i = next_i + 1
          local c = list[next_i]
          if not c then return end
          if store:take(c.id, o.owner, {}) then
            local ok, auth = pcall(client.authorizations.retrieve, { authorization_id = c.auth_id })
            local action = ok and auth.next_action and auth.next_action.type or nil
            if ok and (auth.version ~= c.version) then
              local t = now()
              local waiting = NULL
              if auth.status == "waiting_on_payer" then waiting = "payer"
              elseif auth.status == "processing" then waiting = "collate" end
              local fields = { status = auth.status, version = auth.version, next_action = action or NULL,
                               outcome = auth.outcome or NULL, next_look = t, requests = (c.requests or 0) + 1 }
              if waiting ~= NULL or store_mod.TERMINAL[auth.status] then fields.waiting_for = waiting end
              store:save(c.id, o.owner, fields, { { actor = "api", kind = "observed",
                from = c.status .. (c.next_action and (":" .. c.next_action) or ""),
                to = auth.status .. (action and (":" .. action) or ""), at = t } }, { now = t })
              n = n + 1
            else
              store:save(c.id, o.owner, { requests = (c.requests or 0) + 1 }, {}, { now = now() })
              if not ok then error(auth, 0) end
            end
          end
        end
      end)
    end
    collate.wait_all(tasks)
  end, { max_connections = 16 })
  return n
end

return M
