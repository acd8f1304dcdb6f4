-- Issue 9, the caller's side: every bad input is refused before any I/O with a message that
-- names the field (checked against the sandbox's request log: nothing was sent), and the errors
-- that do come from a server say where and what.
local collate = require "collate"
local safe = require "collate.safe"
local core = require "collate.core"
local sandbox = require "support.sandbox"
local canned_server = require "support.canned_server"

local function create_body()
  return {
    provider_npi = "1234567893",
    request = { payer_id = "payer_aetna", coverage_state = "CA", request_type = "drug",
                service_code = { system = "hcpcs", code = "J0791" } },
    policy = { final_submission = "requires_approval" },
    answers = { item = { { link_id = "coverage.memberId", answer = { { value_string = "M1" } } } } },
  }
end

local function with(base, changes)
  local t = {}
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(changes) do t[k] = v end
  return t
end

-- plain-text find
local function has(haystack, needle)
  return string.find(haystack, needle, 1, true) ~= nil
end

describe("input hardening", function()
  local sb, client

  setup(function()
    sb = sandbox.start{ args = { "--clock-mode", "step" } }
    client = collate.new{ api_key = sb.key, environment = sb.url, max_retries = 0 }
  end)

  teardown(function()
    if sb then sb:stop() end
  end)

  before_each(function()
    sb:reset({ mode = "step" })
  end)

  local function logged()
    return #sb:control("GET", "/_sandbox/requests").json.data
  end

  -- Calls fn(params), expects an invalid_argument collate.Error whose message contains every
  -- `needles` string, and that nothing reached the sandbox. Returns the error.
  local function refused(fn, params, needles)
    assert.are.equal(200, sb:control("DELETE", "/_sandbox/requests").status)
    local ok, err = pcall(fn, params)
    assert.is_false(ok, "expected a refusal")
    assert.is_true(collate.is_error(err), "not a collate.Error: " .. tostring(err))
    assert.are.equal("invalid_argument", err.kind, tostring(err))
    for _, needle in ipairs(type(needles) == "table" and needles or { needles }) do
      assert.is_true(has(err.message, needle), "'" .. needle .. "' not in: " .. err.message)
    end
    assert.are.equal(0, logged(), "a request was sent for: " .. err.message)
    return err
  end

  describe("path parameters", function()
    local bad = { "", ".", "..", "a/b", "../x", "a?b", "a#b", "a%2e", "a b", " a", "a\tb", "a\nb",
                  "a\0b", "a\127", "\255", string.rep("a", 65) }

    it("are refused before any I/O, naming the parameter", function()
      for _, id in ipairs(bad) do
        refused(client.authorizations.retrieve, { authorization_id = id },
          "authorizations.retrieve: authorization_id ")
        refused(client.authorizations.cancel, { authorization_id = id, if_match = 1 },
          "authorizations.cancel: authorization_id ")
        refused(client.authorizations.manual_handoffs.retrieve, { authorization_id = "auth_1", handoff_id = id },
          "authorizations.manual_handoffs.retrieve: handoff_id ")
        refused(client.payers.retrieve, { payer_id = id }, "payers.retrieve: payer_id ")
        refused(client.files.download, { file_id = id }, "files.download: file_id ")
      end
    end)

    it("say what was wrong and what an ID looks like", function()
      local err = refused(client.authorizations.retrieve, { authorization_id = ".." },
        "authorization_id must not be '..'")
      assert.is_true(has(err.message, "ID"), err.message)
      refused(client.authorizations.retrieve, { authorization_id = "" }, "authorization_id must not be empty")
      refused(client.authorizations.retrieve, { authorization_id = "a/b" }, "'/'")
      refused(client.authorizations.retrieve, { authorization_id = "a\nb" }, "control character")
      refused(client.authorizations.retrieve, { authorization_id = "a b" }, "whitespace")
      refused(client.authorizations.retrieve, { authorization_id = string.rep("a", 65) }, "64")
    end)

    it("that are well formed still reach the server", function()
      local ok, err = pcall(client.authorizations.retrieve, { authorization_id = "auth_0000000000000000" })
      assert.is_false(ok)
      assert.are.equal("prior_authorization_not_found", err.code)
      local entries = sb:control("GET", "/_sandbox/requests").json.data
      assert.are.equal("/v1/prior-authorizations/auth_0000000000000000", entries[#entries].path)
    end)
  end)

  describe("extra_headers", function()
    it("refuses CR, LF and NUL in values and non-token names, as invalid_argument", function()
      for _, v in ipairs({ "a\r\nX-Injected: 1", "a\nb", "a\rb", "a\0b" }) do
        refused(client.payers.list, { extra_headers = { ["X-Trace"] = v } },
          { "payers.list: extra_headers", "X-Trace" })
      end
      for _, name in ipairs({ "Bad Name", "X:Y", "", "X\r\nY", "Ü" }) do
        refused(client.payers.list, { extra_headers = { [name] = "v" } }, "payers.list: extra_headers")
      end
      refused(client.payers.list, { extra_headers = { [1] = "v" } }, "extra_headers")
      refused(client.payers.list, { extra_headers = { ["X-Trace"] = {} } }, "extra_headers")
    end)

    it("cannot set Authorization, in any case", function()
      for _, name in ipairs({ "Authorization", "authorization", "AUTHORIZATION", "aUtHoRiZaTiOn" }) do
        refused(client.payers.list, { extra_headers = { [name] = "Bearer other" } },
          { "payers.list: extra_headers", "Authorization", "api_key" })
      end
    end)

    it("that are well formed are sent", function()
      client.payers.list{ extra_headers = { ["X-Trace-Id"] = "abc 123" } }
      local entries = sb:control("GET", "/_sandbox/requests").json.data
      assert.are.equal("abc 123", entries[#entries].headers["x-trace-id"])
    end)
  end)

  describe("UTF-8", function()
    local bad = { "\255", "a\128b", "\192\175", "\237\160\128", "\244\144\128\128", "\226\130" }

    it("is checked in bodies, at any depth, with the dotted path", function()
      for _, s in ipairs(bad) do
        refused(client.authorizations.create, with(create_body(), { metadata = { note = s } }),
          "authorizations.create: metadata.note is not valid UTF-8")
        local body = create_body()
        body.answers.item[1].answer[1].value_string = s
        refused(client.authorizations.create, body,
          "authorizations.create: answers.item[1].answer[1].value_string is not valid UTF-8")
        refused(client.authorizations.create, with(create_body(), { provider_npi = s }),
          "authorizations.create: provider_npi is not valid UTF-8")
        refused(client.authorizations.cancel, { authorization_id = "auth_1", if_match = 1, reason = s },
          "authorizations.cancel: reason is not valid UTF-8")
      end
    end)

    it("is checked in keys and in the query", function()
      refused(client.authorizations.create, with(create_body(), { metadata = { ["k\255"] = "v" } }),
        { "metadata", "key", "not valid UTF-8" })
      refused(client.authorizations.list, { status = "requires\255" }, "authorizations.list: status is not valid UTF-8")
      refused(client.authorizations.list, { cursor = "\192\175" }, "authorizations.list: cursor is not valid UTF-8")
    end)

    it("lets valid multi-byte text through unchanged", function()
      local text = "h\195\169llo \230\151\165\230\156\172 \240\159\152\128"
      local auth = client.authorizations.create(with(create_body(), { metadata = { note = text } }))
      assert.are.equal(text, auth.metadata.note)
    end)
  end)

  describe("query bounds", function()
    it("refuses limit outside 1..100 and says what is accepted", function()
      for _, limit in ipairs({ -1, 0, 101, 1.5, 1e300 }) do
        refused(client.payers.list, { limit = limit }, "payers.list: limit must be an integer from 1 to 100")
        refused(client.authorizations.list, { limit = limit }, "authorizations.list: limit")
      end
      refused(client.payers.list, { limit = "10" }, "payers.list: limit must be an integer")
    end)

    it("refuses a bad limit when each{} is called, not at the first page", function()
      assert.are.equal(200, sb:control("DELETE", "/_sandbox/requests").status)
      local ok, err = pcall(client.payers.each, { limit = 0 })
      assert.is_false(ok)
      assert.are.equal("invalid_argument", err.kind)
      assert.is_true(has(err.message, "payers.each: limit"), err.message)
      assert.are.equal(0, logged())
    end)

    it("accepts the bounds themselves", function()
      assert.are.equal(1, #client.payers.list{ limit = 1 }.data)
      assert.is_true(#client.payers.list{ limit = 100 }.data >= 1)
    end)
  end)

  describe("JSON encodability", function()
    it("names the field of a cycle, a function, NaN, infinity, a mixed or sparse table", function()
      local cyc = { a = {} }
      cyc.a.back = cyc
      local cases = {
        { cyc, { "metadata.a.back", "cycle" } },
        { { cb = print }, { "metadata.cb", "function" } },
        { { x = 0 / 0 }, { "metadata.x", "NaN" } },
        { { x = math.huge }, { "metadata.x", "infinity" } },
        { { tags = { "a", "b", k = "v" } }, { "metadata.tags", "mixes" } },
        { { tags = { [1] = "a", [3] = "c" } }, { "metadata.tags", "hole" } },
        { { [true] = 1 }, { "metadata", "key" } },
        { { co = coroutine.create(function() end) }, { "metadata.co", "thread" } }, -- (5.1: a Lua function)
      }
      for _, case in ipairs(cases) do
        local needles = { "authorizations.create: " }
        for _, n in ipairs(case[2]) do needles[#needles + 1] = n end
        refused(client.authorizations.create, with(create_body(), { metadata = case[1] }), needles)
      end
      local body = create_body()
      body.answers.item[1].answer[1].value_decimal = 0 / 0
      refused(client.authorizations.create, body, "answers.item[1].answer[1].value_decimal")
    end)

    it("names a key that is not a valid identifier with brackets", function()
      refused(client.authorizations.create, with(create_body(), { metadata = { ["case note"] = { f = print } } }),
        'metadata["case note"].f')
    end)

    it("encodes a table shared (not cyclic) in two places", function()
      local shared = { code = "x" }
      local auth = client.authorizations.create(with(create_body(), { metadata = { a = shared, b = shared } }))
      assert.are.equal("x", auth.metadata.b.code)
    end)
  end)

  describe("size limits", function()
    it("refuses metadata over 16 KiB serialized, locally", function()
      local big = { note = string.rep("x", 10 * 1024 * 1024) }
      refused(client.authorizations.create, with(create_body(), { metadata = big }),
        { "authorizations.create: metadata", "16 KiB" })
      local just_over = { note = string.rep("x", 16 * 1024) }
      refused(client.authorizations.create, with(create_body(), { metadata = just_over }), "16 KiB")
    end)

    it("accepts metadata just under the limit", function()
      local note = string.rep("x", 16 * 1024 - #'{"note":""}')
      local auth = client.authorizations.create(with(create_body(), { metadata = { note = note } }))
      assert.are.equal(#note, #auth.metadata.note)
    end)

    it("refuses strings longer than the contract allows, counting characters", function()
      refused(client.authorizations.cancel,
        { authorization_id = "auth_1", if_match = 1, reason = string.rep("r", 501) },
        "authorizations.cancel: reason must be at most 500 characters (got 501)")
      refused(client.authorizations.manual_handoffs.revoke,
        { authorization_id = "auth_1", handoff_id = "mhand_1", if_match = 1, reason = "" },
        "authorizations.manual_handoffs.revoke: reason must be 1 to 500 characters (got 0)")
      refused(client.authorizations.manual_handoffs.complete, { authorization_id = "auth_1", handoff_id = "mhand_1",
        if_match = 1, reported_outcome = "submitted", operator_notes = string.rep("n", 2001) },
        "operator_notes must be at most 2000 characters")
      -- 500 two-byte characters are 1000 bytes, and allowed: the request is sent
      local ok, err = pcall(client.authorizations.cancel,
        { authorization_id = "auth_0000000000000000", if_match = 1, reason = string.rep("\195\169", 500) })
      assert.is_false(ok)
      assert.are.equal("prior_authorization_not_found", err.code)
    end)

    it("refuses a body over 1 MiB, locally", function()
      local notes = string.rep("y", 1024 * 1024 + 1)
      refused(client.authorizations.manual_handoffs.revoke,
        { authorization_id = "auth_1", handoff_id = "mhand_1", if_match = 1, reason = "r", notes = notes },
        { "authorizations.manual_handoffs.revoke", "1 MiB" })
    end)
  end)

  describe("if_match", function()
    it("says what is accepted, and never calls 0 a non-integer", function()
      for _, v in ipairs({ 0, -3, 1.5, "0", "017", "W/\"1\"", "abc", true }) do
        local err = refused(client.authorizations.cancel, { authorization_id = "auth_1", if_match = v },
          "authorizations.cancel: if_match must be")
        assert.is_nil(err.message:find("must be an integer version", 1, true), err.message)
        assert.is_true(has(err.message, ">= 1") or has(err.message, "positive"), err.message)
      end
    end)
  end)

  describe("API errors", function()
    it("tostring shows each issue's location and message and the request id", function()
      local body = create_body()
      body.request.payer_id = nil
      local ok, err = pcall(client.authorizations.create, body)
      assert.is_false(ok)
      assert.are.equal(400, err.status_code)
      local text = tostring(err)
      assert.is_true(has(text, "collate: 400 bad_request: "), text)
      assert.is_true(has(text, "body.request.payerId: "), text)
      assert.is_true(has(text, err.issues[1].message), text)
      assert.is_true(has(text, "(request " .. err.request_id), text)
    end)

    it("tostring renders array indexes in the location", function()
      local body = create_body()
      body.answers.item[2] = { link_id = 5 }
      local ok, err = pcall(client.authorizations.create, body)
      assert.is_false(ok)
      assert.is_true(has(tostring(err), "body.answers.item[1].linkId"), tostring(err))
    end)
  end)

  describe("upload-host errors", function()
    it("an expired upload URL (403, XML) says files.upload, the status, the body and the fix", function()
      local host = canned_server.start{ status = 403, content_type = "application/xml",
        body = "<Error><Code>AccessDenied</Code>\r\n<Message>Request has expired</Message></Error>" }
      local upload = { url = host.url .. "/bucket/object?X-Amz-Signature=abc", method = "PUT",
                       headers = { ["Content-Type"] = "application/pdf" } }
      local ok, err = pcall(client.files.upload, { upload = upload, data = "%PDF-1.4" })
      host:stop()
      assert.is_false(ok)
      assert.is_true(collate.is_error(err))
      assert.are.equal(403, err.status_code)
      local text = tostring(err)
      assert.is_true(has(text, "files.upload"), text)
      assert.is_true(has(text, "403"), text)
      assert.is_true(has(text, "Request has expired"), text)
      assert.is_true(has(text, "call files.create again for a fresh upload URL"), text)
      assert.is_nil(text:find("[\r\n]"), "control characters not escaped: " .. text)
      assert.is_true(has(text, "\\r\\n"), text)
      assert.is_nil(text:find("X-Amz-Signature", 1, true), "the capability URL leaked: " .. text)
    end)

    it("an upload host error from the sandbox says files.upload", function()
      local created = client.files.create{ file_name = "a.pdf", content_type = "application/pdf",
        purpose = "authorization_attachment" }
      local upload = with(created.upload, { url = created.upload.url:gsub("upl_[%x]+", "upl_" .. string.rep("0", 32)) })
      local ok, err = pcall(client.files.upload, { upload = upload, data = "%PDF-1.4" })
      assert.is_false(ok)
      assert.are.equal(404, err.status_code)
      assert.is_true(has(tostring(err), "files.upload"), tostring(err))
    end)
  end)

  describe("method tables", function()
    it("answer a misspelt name with the close match, at index time", function()
      local ok, err = pcall(function() return client.authorizations.retreive end)
      assert.is_false(ok)
      assert.is_true(collate.is_error(err, "invalid_argument"), tostring(err))
      assert.are.equal("no method authorizations.retreive; did you mean retrieve?", err.message)
      ok, err = pcall(function() return client.athorizations end)
      assert.is_false(ok)
      assert.is_true(has(err.message, "no method athorizations; did you mean authorizations?"), err.message)
      ok, err = pcall(function() return client.authorizations.manual_handoffs.complet end)
      assert.is_false(ok)
      assert.is_true(has(err.message, "authorizations.manual_handoffs.complet; did you mean complete?"), err.message)
      ok, err = pcall(function() return client.authorizations.zzzzzzzz end)
      assert.is_false(ok)
      assert.is_true(has(err.message, "no method authorizations.zzzzzzzz"), err.message)
    end)

    it("detect a colon call and say to use a dot", function()
      local err = refused(function() return client.authorizations:retrieve{ authorization_id = "auth_1" } end, nil,
        "use a dot: client.authorizations.retrieve{...}")
      assert.is_nil(err.message:find("unknown parameter", 1, true))
      refused(function() return client.files:upload{} end, nil, "use a dot: client.files.upload{...}")
      refused(function() return client.payers:each{} end, nil, "use a dot: client.payers.each{...}")
      refused(function() return client.authorizations.answers:patch{} end, nil,
        "use a dot: client.authorizations.answers.patch{...}")
    end)
  end)

  describe("collate.safe", function()
    it("returns nil, err from the same code, and raises nothing", function()
      local s = safe.new{ api_key = sb.key, environment = sb.url, max_retries = 0 }
      local value, err = s.authorizations.retrieve{ authorization_id = ".." }
      assert.is_nil(value)
      assert.are.equal("invalid_argument", err.kind)
      value, err = s.authorizations.retrieve{ authorization_id = "auth_0000000000000000" }
      assert.is_nil(value)
      assert.are.equal("prior_authorization_not_found", err.code)
      assert.are.equal("ok", s.health{}.status)
      value, err = s.files.upload{ upload = { url = "http://127.0.0.1:1/u" }, data = "x", timeout = -1 }
      assert.is_nil(value)
      assert.is_truthy(err.message:find("files.upload: timeout must be", 1, true), err.message)
      value, err = s.files.upload{ upload = {} }
      assert.is_nil(value)
      assert.are.equal("invalid_argument", err.kind)
      value, err = safe.new{ api_key = 5 }
      assert.is_nil(value)
      assert.are.equal("invalid_argument", err.kind)
      s.close()
    end)
  end)

  describe("the client", function()
    it("has one version string", function()
      assert.are.equal(core.VERSION, collate.VERSION)
      assert.is_truthy(collate.VERSION:match("^%d+%.%d+%.%d+$"))
    end)

    it("close() also closes the upload transport", function()
      local c = collate.new{ api_key = sb.key, environment = sb.url, max_retries = 0 }
      local created = c.files.create{ file_name = "a.pdf", content_type = "application/pdf",
        purpose = "authorization_attachment" }
      c.close()
      c.close() -- twice is harmless
      assert.are.equal(200, sb:control("DELETE", "/_sandbox/requests").status)
      local ok, err = pcall(c.files.upload, { upload = created.upload, data = "%PDF-1.4" })
      assert.is_false(ok)
      assert.are.equal("invalid_argument", err.kind, tostring(err))
      assert.is_true(has(err.message, "files.upload: the client is closed"), tostring(err))
      ok, err = pcall(c.payers.list, {})
      assert.is_false(ok)
      assert.is_true(has(err.message, "payers.list: the client is closed"), tostring(err))
      assert.are.equal(0, logged())
    end)
  end)
end)
