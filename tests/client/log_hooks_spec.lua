-- Structured logs (COLLATE_LOG_FORMAT=json), unknown COLLATE_LOG / COLLATE_LOG_FORMAT values,
-- and collate.new's on_response / on_retry hooks, over real HTTP against the sandbox. The log
-- runs go through a child interpreter (the variables are read when collate loads).
local collate = require "collate"
local sandbox = require "support.sandbox"
local cjson = require "cjson"

local LUA = os.getenv("COLLATE_TEST_LUA") or "lua5.4"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- runs `code` in a child with the given environment; returns stdout+stderr lines, exit ok
local function child(code, env)
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(code)
  f:close()
  env = env or ""
  -- the sanitized pass: an interpreter that is not ours (lua5.1-5.3, luajit) gets the ASan runtime
  -- the sanitized collate.core needs preloaded, as support.canned's run_client does (docs/testing.md)
  local preload = os.getenv("COLLATE_ASAN_PRELOAD")
  if preload and preload ~= "" and LUA ~= os.getenv("LUA54") then
    env = env .. " LD_PRELOAD=" .. q(preload) .. " ASAN_OPTIONS=detect_leaks=0"
  end
  local cmd = env .. " " .. q(LUA) .. " " .. q(file) .. " 2>&1"
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  local ok = p:close()
  os.remove(file)
  local lines = {}
  for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines, ok, out
end

describe("structured logs and hooks", function()
  local sb

  setup(function() sb = sandbox.start{} end)
  teardown(function() if sb then sb:stop() end end)

  it("COLLATE_LOG_FORMAT=json writes one JSON object per attempt, every line parses", function()
    assert.are.equal(200, sb:control("POST", "/_sandbox/faults", { rules = {
      { method = "GET", path = "/v1/payers", kind = "status", status = 503, times = 1 } } }).status)
    local lines, ok, out = child(([[
      local collate = require "collate"
      local client = collate.new{ api_key = KEY, environment = URL, max_retries = 2 }
      client.payers.list{}
      pcall(client.payers.retrieve, { payer_id = "nope" })
      print("done")
    ]]):gsub("KEY", string.format("%q", sb.key)):gsub("URL", string.format("%q", sb.url)),
      "COLLATE_LOG=info COLLATE_LOG_FORMAT=json")
    assert.is_true(ok, out)
    local objects = {}
    for _, line in ipairs(lines) do
      if line ~= "done" then objects[#objects + 1] = assert(cjson.decode(line), line) end
    end
    assert.are.equal(3, #objects, out)
    local retried, ok_page, missing = objects[1], objects[2], objects[3]
    assert.are.same({ "GET", "/v1/payers", 503, 1 }, { retried.method, retried.path, retried.status, retried.attempt })
    assert.is_string(retried.error_code)
    assert.are.same({ 200, 2 }, { ok_page.status, ok_page.attempt })
    assert.is_nil(ok_page.error_code)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", ok_page.time)
    assert.is_number(ok_page.duration_ms)
    assert.is_string(ok_page.request_id)
    assert.are.same({ 404, "payer_not_found", "/v1/payers/nope" }, { missing.status, missing.error_code, missing.path })
    assert.is_nil(out:find(sb.key, 1, true))
  end)

  it("an unknown COLLATE_LOG or COLLATE_LOG_FORMAT is an invalid_argument at collate.new naming it", function()
    for _, case in ipairs{ { "COLLATE_LOG=verbose", "COLLATE_LOG must be off, info or debug" },
                           { "COLLATE_LOG=info COLLATE_LOG_FORMAT=xml", "COLLATE_LOG_FORMAT must be text or json" } } do
      local _, _, out = child([[
        local collate = require "collate"
        local ok, err = pcall(collate.new, { api_key = "k", environment = "http://127.0.0.1:1" })
        print(ok, err.kind, err.message)
      ]], case[1])
      assert.matches("false\tinvalid_argument\tcollate.new: " .. case[2], out, 1, true)
    end
  end)

  it("on_response sees every attempt and on_retry every retry, never the key or a body", function()
    assert.are.equal(200, sb:control("POST", "/_sandbox/faults", { rules = {
      { method = "GET", path = "/v1/providers", kind = "status", status = 503, times = 1 } } }).status)
    local responses, retries = {}, {}
    local client = collate.new{ api_key = sb.key, environment = sb.url, max_retries = 2,
      on_response = function(info) responses[#responses + 1] = info end,
      on_retry = function(info) retries[#retries + 1] = info end }
    client.providers.list{}
    assert.are.equal(2, #responses)
    assert.are.equal(1, #retries)
    assert.are.same({ "GET", "/v1/providers", 503, 1 },
      { responses[1].method, responses[1].path, responses[1].status, responses[1].attempt })
    assert.are.same({ 200, 2 }, { responses[2].status, responses[2].attempt })
    assert.is_number(responses[2].duration)
    assert.is_string(responses[2].request_id)
    assert.are.same({ 503, 1 }, { retries[1].status, retries[1].attempt })
    assert.is_number(retries[1].delay)
    for _, info in ipairs(responses) do
      for key, value in pairs(info) do
        assert.truthy(({ method = 1, path = 1, status = 1, attempt = 1, duration = 1, request_id = 1,
          error_code = 1 })[key], key)
        assert.is_nil(tostring(value):find(sb.key, 1, true))
      end
    end
    -- a failing hook does not change the outcome
    local quiet = collate.new{ api_key = sb.key, environment = sb.url,
      on_response = function() error("metrics down") end }
    assert.are.equal("ok", quiet.health{}.status)
    -- a hook must be a function
    local ok, err = pcall(collate.new, { api_key = "k", on_response = "yes" })
    assert.is_false(ok)
    assert.matches("on_response must be a function", err.message, 1, true)
  end)
end)
