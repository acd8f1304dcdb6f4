-- Malformed input: several hundred generated bad requests (wrong types for each field of create,
-- patch, attach and files, unknown enum values, truncated and invalid JSON, bodies over 1 MiB,
-- 10,000 levels of nesting, bad UTF-8, bad, duplicate and missing headers, bad query parameters,
-- HTTP the server cannot parse). Sent as raw bytes over TCP (bash's /dev/tcp, one connection per
-- request) so headers reach the server exactly as written. Each must get a 4xx with the error
-- envelope (error.code, requestId = X-Request-Id), and afterwards the server still answers and
-- the authorization all the writes aimed at is unchanged (same version, same body).
local fs = require "support.fs"
local cjson = require "cjson"
local sandbox = require "support.sandbox"
local H = require "sandbox.helpers"

local q = fs.quote

local write = fs.write_file

local read = fs.read_file

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = deep_copy(x) end
  return out
end

-- t with the value at path (list of keys) replaced by v (cjson.null for JSON null)
local function with(t, path, v)
  local c = deep_copy(t)
  local node = c
  for i = 1, #path - 1 do node = node[path[i]] end
  node[path[#path]] = v
  return c
end

local function without(t, path)
  return with(t, path, nil)
end

-- wrong values for a field of each JSON type (cjson writes {} for an empty table)
local WRONG = {
  string = { 123, true, {}, { "a" }, 1.5 },
  object = { "x", 5, true, { "a", "b" } },
  array = { "x", 5, { a = 1 }, false },
}

-- raw HTTP/1.1; headers is a list of {name, value}; Connection: close so the reader sees EOF
local function raw(method, path, headers, body)
  local lines = { method .. " " .. path .. " HTTP/1.1", "Host: 127.0.0.1" }
  for _, h in ipairs(headers) do lines[#lines + 1] = h[1] .. ": " .. h[2] end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  lines[#lines + 1] = "Connection: close"
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end

local function parse(resp)
  local head, body = resp:match("^(.-)\r\n\r\n(.*)$")
  if not head then return nil end
  local status = tonumber(head:match("^HTTP/1%.%d (%d%d%d)"))
  local headers = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do headers[name:lower()] = value end
  return { status = status, headers = headers, body = body }
end

describe("sandbox malformed input", function()
  local sb, dir, witness, witness_body, file
  local cases = {}

  setup(function()
    sb = sandbox.start{ args = { "--clock-mode", "step" } }
    local p = io.popen("mktemp -d")
    dir = p:read("*l")
    p:close()
    witness = H.create(sb, H.create_body("SBX-QUICKSTART"))
    witness_body = sb:request("GET", "/v1/prior-authorizations/" .. witness.id).body
    file = H.ready_file(sb)
  end)

  teardown(function()
    sb:stop()
    os.execute("rm -rf " .. q(dir))
  end)

  -- expect: {status = n, code = s, etype = s, loc = {...}} (each optional; default any 4xx)
  local function add(name, method, path, o)
    o = o or {}
    local headers = {}
    if o.auth ~= false then headers[#headers + 1] = { "Authorization", o.auth or ("Bearer " .. sb.key) } end
    if o.body and o.ct ~= false then headers[#headers + 1] = { "Content-Type", o.ct or "application/json" } end
    for _, h in ipairs(o.headers or {}) do headers[#headers + 1] = h end
    cases[#cases + 1] = { name = name, bytes = o.raw or raw(method, path, headers, o.body), expect = o.expect or {},
      envelope = o.envelope ~= false }
  end

  local AUTH = function() return "/v1/prior-authorizations/" .. witness.id end
  local IFM = function() return { { "If-Match", string.format('"%d"', witness.version) } } end
  local n_key = 0
  local function idem()
    n_key = n_key + 1
    return { { "Idempotency-Key", "malformed-" .. n_key } }
  end
  local BAD = { status = 400, code = "bad_request" }
  local function bad(etype, loc) return { status = 400, code = "bad_request", etype = etype, loc = loc } end

  local function generate()
    local create = H.create_body("SBX-QUICKSTART")
    create.metadata = { externalCaseId = "case-1", team = "ur" }
    local function create_case(name, body, expect)
      add("create: " .. name, "POST", "/v1/prior-authorizations",
        { body = type(body) == "string" and body or cjson.encode(body), headers = idem(), expect = expect or BAD })
    end
    local FIELDS = {
      { { "providerNpi" }, "string" }, { { "request" }, "object" }, { { "request", "payerId" }, "string" },
      { { "request", "coverageState" }, "string" }, { { "request", "requestType" }, "string" },
      { { "request", "serviceCode" }, "object" }, { { "request", "serviceCode", "system" }, "string" },
      { { "request", "serviceCode", "code" }, "string" }, { { "policy", "finalSubmission" }, "string" },
      { { "answers", "item" }, "array" }, { { "metadata" }, "object" }, { { "metadata", "externalCaseId" }, "string" },
    }
    for _, f in ipairs(FIELDS) do
      local loc = { "body" }
      for _, k in ipairs(f[1]) do loc[#loc + 1] = k end
      for i, v in ipairs(WRONG[f[2]]) do
        create_case(table.concat(f[1], ".") .. " wrong type " .. i, with(create, f[1], v), bad(nil, loc))
      end
    end
    for _, path in ipairs({ { "providerNpi" }, { "request" }, { "request", "payerId" }, { "request", "serviceCode" },
      { "request", "requestType" }, { "request", "coverageState" } }) do
      create_case("missing " .. table.concat(path, "."), without(create, path), bad("missing"))
      create_case("null " .. table.concat(path, "."), with(create, path, cjson.null), BAD)
    end
    create_case("no policy", without(create, { "policy" }), { status = 400, code = "final_submission_policy_required" })
    create_case("policy not an object", with(create, { "policy" }, "automatic"), { status = 400 })
    for _, e in ipairs({ { { "request", "requestType" }, "flight" }, { { "request", "requestType" }, "DRUG" },
      { { "policy", "finalSubmission" }, "maybe" }, { { "request", "serviceCode", "system" }, "icd" },
      { { "request", "coverageState" }, "ZZZ" }, { { "request", "coverageState" }, "ca" },
      { { "providerNpi" }, "123" }, { { "providerNpi" }, "1234567890" }, { { "request", "serviceCode", "code" }, "" },
      { { "request", "payerId" }, "" } }) do
      create_case("bad value " .. table.concat(e[1], ".") .. "=" .. e[2], with(create, e[1], e[2]), BAD)
    end
    create_case("extra field", with(create, { "surprise" }, 1), bad("extra_forbidden", { "body", "surprise" }))
    create_case("metadata over 16 KiB", with(create, { "metadata", "blob" }, string.rep("m", 17000)), bad("too_long"))

    -- patch answers (against the witness, with its current If-Match: an accepted one would show)
    local function patch_case(name, body, expect)
      add("patch: " .. name, "PATCH", AUTH() .. "/answers",
        { body = type(body) == "string" and body or cjson.encode(body), headers = IFM(), expect = expect or BAD })
    end
    for i, v in ipairs(WRONG.object) do patch_case("answers wrong type " .. i, { answers = v }) end
    for i, v in ipairs(WRONG.array) do patch_case("item wrong type " .. i, { answers = { item = v } }) end
    patch_case("no answers", { other = 1 })
    local function item(x) return { answers = { item = { x } } } end
    local ITEMS = {
      { "item not an object", "x" }, { "linkId a number", { linkId = 5, answer = { { valueString = "a" } } } },
      { "answer a string", { linkId = "coverage.memberId", answer = "x" } },
      { "answer entry a number", { linkId = "coverage.memberId", answer = { 5 } } },
      { "valueString a number", { linkId = "coverage.memberId", answer = { { valueString = 5 } } } },
      { "valueInteger a string", { linkId = "service.units", answer = { { valueInteger = "12" } } } },
      { "valueInteger a fraction", { linkId = "service.units", answer = { { valueInteger = 1.5 } } } },
      { "valueBoolean a string", { linkId = "clinical.priorTherapyTried", answer = { { valueBoolean = "true" } } } },
      { "valueDate impossible", { linkId = "service.startDate", answer = { { valueDate = "2026-02-30" } } } },
      { "valueDate a number", { linkId = "service.startDate", answer = { { valueDate = 20260701 } } } },
      { "valueDate format", { linkId = "service.startDate", answer = { { valueDate = "07/01/2026" } } } },
      { "valueCoding a string", { linkId = "diagnoses", item = { { linkId = "qualifierCode",
        answer = { { valueCoding = "ABF" } } } } } },
      { "unknown value key", { linkId = "coverage.memberId", answer = { { valueFoo = "a" } } } },
      { "two value keys", { linkId = "coverage.memberId", answer = { { valueString = "a", valueBoolean = true } } } },
      { "unknown linkId", { linkId = "no.such.question", answer = { { valueString = "a" } } } },
      { "wrong value type for the question", { linkId = "service.units", answer = { { valueString = "12" } } } },
      { "extra key on the item", { linkId = "coverage.memberId", answer = { { valueString = "a" } }, x = 1 } },
    }
    for _, c in ipairs(ITEMS) do patch_case(c[1], item(c[2])) end
    patch_case("duplicate linkId", { answers = { item = {
      { linkId = "coverage.memberId", answer = { { valueString = "a" } } },
      { linkId = "coverage.memberId", answer = { { valueString = "b" } } } } } })

    -- attach
    local attach = { fileId = file.id, documentTypes = { "clinical_notes" }, description = "d" }
    local function attach_case(name, body, expect)
      add("attach: " .. name, "POST", AUTH() .. "/attachments",
        { body = cjson.encode(body), headers = IFM(), expect = expect or BAD })
    end
    for i, v in ipairs(WRONG.string) do attach_case("fileId wrong type " .. i, with(attach, { "fileId" }, v)) end
    for i, v in ipairs(WRONG.array) do
      attach_case("documentTypes wrong type " .. i, with(attach, { "documentTypes" }, v))
    end
    for i, v in ipairs({ 5, true, { "a" }, string.rep("d", 1001) }) do
      attach_case("description bad " .. i, with(attach, { "description" }, v))
    end
    attach_case("documentTypes empty", with(attach, { "documentTypes" }, cjson.empty_array or {}))
    attach_case("documentTypes unknown", with(attach, { "documentTypes" }, { "x_ray" }), bad("invalid_enum"))
    attach_case("documentTypes number", with(attach, { "documentTypes" }, { 5 }))
    attach_case("documentTypes duplicate", with(attach, { "documentTypes" }, { "lab_results", "lab_results" }),
      bad("invalid_format"))
    attach_case("fileId empty", with(attach, { "fileId" }, ""))
    attach_case("missing fileId", without(attach, { "fileId" }), bad("missing", { "body", "fileId" }))
    attach_case("extra field", with(attach, { "x" }, 1), bad("extra_forbidden"))

    -- files
    local fc = { fileName = "a.pdf", contentType = "application/pdf", purpose = "authorization_attachment" }
    local function file_case(name, body, expect)
      add("files: " .. name, "POST", "/v1/files", { body = cjson.encode(body), expect = expect or BAD })
    end
    for _, k in ipairs({ "fileName", "contentType", "purpose" }) do
      for i, v in ipairs(WRONG.string) do file_case(k .. " wrong type " .. i, with(fc, { k }, v)) end
      file_case("missing " .. k, without(fc, { k }), bad("missing", { "body", k }))
    end
    for i, v in ipairs({ "", "a/b.pdf", "a\\b.pdf", string.rep("n", 256) }) do
      file_case("fileName bad " .. i, with(fc, { "fileName" }, v))
    end
    file_case("contentType unknown", with(fc, { "contentType" }, "text/html"), bad("invalid_enum"))
    file_case("purpose unknown", with(fc, { "purpose" }, "avatar"), bad("invalid_enum"))

    -- other bodies
    local function body_case(name, method, path, body, headers, expect)
      add(name, method, path, { body = body, headers = headers, expect = expect or BAD })
    end
    body_case("confirm snapshot id a number", "POST", AUTH() .. "/confirm", '{"acceptedReviewSnapshotId":5}', IFM())
    body_case("confirm extra field", "POST", AUTH() .. "/confirm", '{"x":1}', IFM())
    body_case("cancel reason a number", "POST", AUTH() .. "/cancel", '{"reason":5}', IFM())
    body_case("cancel reason too long", "POST", AUTH() .. "/cancel", cjson.encode({ reason = string.rep("r", 501) }),
      IFM())
    body_case("grant body not empty", "POST", AUTH() .. "/live-session/access-grants", '{"mode":"interactive"}')
    body_case("handoff snapshot a list", "POST", AUTH() .. "/manual-handoffs", '{"acceptedReviewSnapshotId":[]}', IFM())
    body_case("resolve without npi", "POST", "/v1/prior-authorization-routes/resolve",
      cjson.encode(create.request))
    body_case("file complete body", "POST", "/v1/files/" .. file.id .. "/complete", '{"size":1}')
    body_case("sandbox clock bad speed", "POST", "/_sandbox/clock", '{"speed":-1}')
    body_case("sandbox advance a string", "POST", "/_sandbox/clock/advance", '{"seconds":"10"}')
    body_case("sandbox fault unknown kind", "POST", "/_sandbox/faults", '{"kind":"explode"}')
    body_case("sandbox payer event unknown type", "POST",
      "/_sandbox/prior-authorizations/" .. witness.id .. "/payer-events", '{"type":"maybe"}')

    -- truncated and invalid JSON, non-objects
    local good = cjson.encode(create)
    for i = 1, 30 do
      local cut = math.floor(#good * i / 31)
      create_case("truncated at " .. cut, good:sub(1, cut), bad("invalid_json", { "body" }))
    end
    for i, s in ipairs({ "{", "}", "[", "nul", "{'a':1}", '{"a":1,}', "NaN", '{"a":01}', '"\\x"', '{"a" 1}',
      good .. "x", good .. good, '{"a":"\\ud800"}', '{"a":1e999}', '{"a":tru}', "\239\187\191" .. good,
      '{"a":"tab\tinside"}', '{"a":-}', '{"a":.5}', '{"a":1.}' }) do
      create_case("invalid JSON " .. i, s, bad("invalid_json", { "body" }))
    end
    for i, s in ipairs({ "[]", "5", '"s"', "null", "true", "[{}]" }) do
      create_case("not an object " .. i, s, bad("invalid_type", { "body" }))
      patch_case("not an object " .. i, s, bad("invalid_type", { "body" }))
    end

    -- size and depth
    create_case("body over 1 MiB", with(create, { "providerNpi" }, string.rep("9", 1100000)),
      bad("too_long", { "body" }))
    patch_case("body over 1 MiB", { answers = { item = { { linkId = "coverage.memberId",
      answer = { { valueString = string.rep("x", 1048577) } } } } } }, bad("too_long", { "body" }))
    create_case("10,000 nested arrays", string.rep("[", 10000) .. string.rep("]", 10000), bad("invalid_json"))
    create_case("10,000 nested objects", string.rep('{"a":', 10000) .. "1" .. string.rep("}", 10000),
      bad("invalid_json"))
    patch_case("10,000 nested in answers", '{"answers":' .. string.rep("[", 10000) .. string.rep("]", 10000) .. "}",
      bad("invalid_json"))
    -- payerId has no length limit in the contract: a huge one is an unknown payer
    create_case("huge string field", with(create, { "request", "payerId" }, string.rep("p", 500000)),
      { status = 404, code = "payer_not_found" })
    create_case("huge metadata key", with(create, { "metadata", string.rep("k", 100000) }, 1), bad("too_long"))

    -- bad UTF-8 in a string, in a key, in each body kind
    local BAD_UTF8 = { "\255", "\192\175", "\237\160\128", "\226\130", "\244\144\128\128", "a\128b",
      "\248\136\128\128\128",
      "\195" }
    for i, b in ipairs(BAD_UTF8) do
      create_case("bad UTF-8 value " .. i, good:gsub('"ur"', '"u' .. b .. 'r"', 1), bad("invalid_json", { "body" }))
      patch_case("bad UTF-8 " .. i, '{"answers":{"item":[{"linkId":"coverage.memberId","answer":[{"valueString":"'
        .. b .. '"}]}]}}', bad("invalid_json", { "body" }))
      add("files: bad UTF-8 name " .. i, "POST", "/v1/files", { body = '{"fileName":"a' .. b
        .. '.pdf","contentType":"application/pdf","purpose":"authorization_attachment"}',
        expect = bad("invalid_json", { "body" }) })
    end
    create_case("bad UTF-8 key", '{"provider\255Npi":"1234567893"}', bad("invalid_json"))

    -- headers
    local CT = { "text/plain", "application/xml", "application/jsonx", "json", "multipart/form-data", "" }
    for i, ct in ipairs(CT) do
      add("create: Content-Type " .. i, "POST", "/v1/prior-authorizations",
        { body = good, ct = ct, headers = idem(), expect = bad(ct == "" and nil or "invalid_format",
          { "header", "Content-Type" }) })
      add("patch: Content-Type " .. i, "PATCH", AUTH() .. "/answers",
        { body = '{"answers":{}}', ct = ct, headers = IFM(), expect = bad(nil, { "header", "Content-Type" }) })
    end
    add("create: no Content-Type", "POST", "/v1/prior-authorizations",
      { body = good, ct = false, headers = idem(), expect = bad("missing", { "header", "Content-Type" }) })
    add("attach: no Content-Type", "POST", AUTH() .. "/attachments",
      { body = cjson.encode(attach), ct = false, headers = IFM(),
        expect = bad("missing", { "header", "Content-Type" }) })
    local IF_MATCH = { "1", "W/\"1\"", "*", "abc", '"0"', '"-1"', '"01"', '"1234567890123456"', '"1", "1"', '""',
      "'1'", '"1.0"', '"1', '1"', '" 1"' }
    for i, v in ipairs(IF_MATCH) do
      add("patch: If-Match " .. i, "PATCH", AUTH() .. "/answers",
        { body = '{"answers":{}}', headers = { { "If-Match", v } },
          expect = bad("invalid_format", { "header", "If-Match" }) })
      add("delete attachment: If-Match " .. i, "DELETE", AUTH() .. "/attachments/att_nope",
        { headers = { { "If-Match", v } }, expect = bad("invalid_format", { "header", "If-Match" }) })
    end
    for _, path in ipairs({ "/answers", "/confirm", "/cancel", "/attachments", "/manual-handoffs" }) do
      local method = path == "/answers" and "PATCH" or "POST"
      add("no If-Match on " .. path, method, AUTH() .. path,
        { body = path == "/attachments" and cjson.encode(attach) or (path == "/answers" and '{"answers":{}}' or nil),
          expect = bad("missing", { "header", "If-Match" }) })
    end
    add("two If-Match headers", "PATCH", AUTH() .. "/answers",
      { body = '{"answers":{}}', headers = { IFM()[1], { "If-Match", '"999"' } }, expect = { status = 400 } })
    add("stale If-Match", "PATCH", AUTH() .. "/answers",
      { body = cjson.encode({ answers = { item = { H.leaf("coverage.memberId", "valueString", "SBX-QUICKSTART") } } }),
        headers = { { "If-Match", '"999"' } }, expect = { status = 409, code = "version_conflict" } })
    local KEYS = { "a\1b", string.rep("k", 300), "", "tab\there", "caf\195\169", "with space", "x\127" }
    for i, k in ipairs(KEYS) do
      add("create: Idempotency-Key " .. i, "POST", "/v1/prior-authorizations",
        { body = good, headers = { { "Idempotency-Key", k } }, expect = bad(nil, { "header", "Idempotency-Key" }) })
      add("files: Idempotency-Key " .. i, "POST", "/v1/files",
        { body = cjson.encode(fc), headers = { { "Idempotency-Key", k } },
          expect = bad(nil, { "header", "Idempotency-Key" }) })
    end
    add("create: no Idempotency-Key", "POST", "/v1/prior-authorizations",
      { body = good, expect = bad("missing", { "header", "Idempotency-Key" }) })
    for i, a in ipairs({ false, "Bearer", "Basic c2tfdGVzdF9sb2NhbDo=", "Bearer sk_test_wrong",
      "Bearer sk_test_local extra",
      "sk_test_local", "Bearer\tsk_test_local" }) do
      add("Authorization " .. i, "GET", AUTH(), { auth = a, expect = { status = 401, code = "unauthorized" } })
    end
    add("forbidden key", "GET", AUTH(),
      { auth = "Bearer sk_test_forbidden", expect = { status = 403, code = "forbidden" } })
    add("Authorization on an upload URL", "PUT", "/_uploads/upl_nope", { body = "x", ct = "application/pdf",
      expect = bad("extra_forbidden", { "header", "Authorization" }) })
    add("bad UTF-8 in a header", "GET", "/v1/prior-authorizations?limit=abc",
      { headers = { { "X-Note", "\255\254" } }, expect = bad("invalid_type", { "query", "limit" }) })

    -- query parameters
    for i, v in ipairs({ "abc", "-1", "0", "101", "1.5", "", "1e2", "%ff", "99999999999999999999" }) do
      add("list limit " .. i, "GET", "/v1/prior-authorizations?limit=" .. v,
        { expect = bad(nil, { "query", "limit" }) })
      add("attachments limit " .. i, "GET", AUTH() .. "/attachments?limit=" .. v,
        { expect = bad(nil, { "query", "limit" }) })
    end
    for i, v in ipairs({ "zz", "00", "%ff", "7b7d", string.rep("a", 5000) }) do
      add("list cursor " .. i, "GET", "/v1/prior-authorizations?cursor=" .. v,
        { expect = bad(nil, { "query", "cursor" }) })
    end
    add("request log limit", "GET", "/_sandbox/requests?limit=x", { auth = false, expect = bad("invalid_type") })

    -- routes
    add("unknown path", "GET", "/v1/nope", { expect = { status = 404, code = "not_found" } })
    add("trailing slash", "GET", AUTH() .. "/", { expect = { status = 404, code = "not_found" } })
    add("double slash", "GET", "/v1//prior-authorizations", { expect = { status = 404, code = "not_found" } })
    add("wrong method", "PUT", AUTH(), { body = "{}", expect = { status = 405, code = "method_not_allowed" } })
    add("unknown authorization", "GET", "/v1/prior-authorizations/auth_nope",
      { expect = { status = 404, code = "prior_authorization_not_found" } })
    add("unknown sandbox route", "GET", "/_sandbox/nope",
      { auth = false, expect = { status = 404, code = "not_found" } })

    -- HTTP the server cannot parse: libmicrohttpd answers 400 itself (no envelope possible)
    add("header without colon", nil, nil, { envelope = false, expect = { status = 400 },
      raw = "GET /health HTTP/1.1\r\nHost: x\r\nNoColonHere\r\nConnection: close\r\n\r\n" })
    -- (or closes the connection at once, for a request line it cannot read)
    add("request line garbage", nil, nil, { envelope = false, expect = { status = 400, closed_ok = true },
      raw = "GARBAGE\r\nConnection: close\r\n\r\n" })
    -- tolerated by the HTTP layer, so the app answers (here: the bad limit)
    add("header name with space", nil, nil, { expect = bad("invalid_type", { "query", "limit" }),
      raw = "GET /v1/prior-authorizations?limit=x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " .. sb.key
        .. "\r\nBad Name: 1\r\nConnection: close\r\n\r\n" })
    add("HTTP/1.0 without Host", nil, nil, { expect = { status = 401, code = "unauthorized" },
      raw = "GET /v1/payers HTTP/1.0\r\n\r\n" })
  end

  it("answers each generated bad request with a 4xx envelope and keeps its state", function()
    generate()
    assert.is_true(#cases >= 200, "only " .. #cases .. " cases")
    local script = { "set -u", "exec 2>/dev/null" }
    for i in ipairs(cases) do
      local req, resp = dir .. "/req" .. i, dir .. "/resp" .. i
      write(req, cases[i].bytes)
      script[#script + 1] = string.format("(exec 3<>/dev/tcp/127.0.0.1/%d && cat %s >&3 && timeout 10 cat <&3 >%s)",
        sb.port, q(req), q(resp))
    end
    write(dir .. "/send.sh", table.concat(script, "\n") .. "\n")
    os.execute("bash " .. q(dir .. "/send.sh"))

    local failures = {}
    local function check(c, r)
      if not r or not r.status then
        if c.expect.closed_ok then return nil end
        return "no response"
      end
      local e = c.expect
      if r.status < 400 or r.status > 499 then return "status " .. r.status .. ": " .. r.body:sub(1, 200) end
      if e.status and r.status ~= e.status then
        return "status " .. r.status .. " ~= " .. e.status .. ": " .. r.body:sub(1, 200)
      end
      if not c.envelope then return nil end
      local ok, j = pcall(cjson.decode, r.body)
      if not ok or type(j) ~= "table" or type(j.error) ~= "table" then return "no envelope: " .. r.body:sub(1, 200) end
      if type(j.error.code) ~= "string" or type(j.error.message) ~= "string" then return "no error.code" end
      if type(j.requestId) ~= "string" or not j.requestId:find("^req_") then return "no requestId" end
      if r.headers["x-request-id"] ~= j.requestId then return "X-Request-Id differs" end
      if e.code and j.error.code ~= e.code then return "code " .. j.error.code .. " ~= " .. e.code end
      if e.etype or e.loc then
        local issue = j.error.issues and j.error.issues[1]
        if not issue then return "no issue" end
        if e.etype and issue.errorType ~= e.etype then
          return "errorType " .. tostring(issue.errorType) .. " ~= " .. e.etype .. " at "
            .. cjson.encode(issue.location)
        end
        if e.loc then
          for k, v in ipairs(e.loc) do
            if issue.location[k] ~= v then
              return "location " .. cjson.encode(issue.location) .. " does not start with " .. cjson.encode(e.loc)
            end
          end
        end
      end
    end
    for i, c in ipairs(cases) do
      local why = check(c, parse(read(dir .. "/resp" .. i) or ""))
      if why then failures[#failures + 1] = c.name .. ": " .. why end
    end
    assert.are.same({}, failures)

    -- still serving, nothing changed
    local health = sb:request("GET", "/health")
    assert.are.equal(200, health.status)
    local after = sb:request("GET", "/v1/prior-authorizations/" .. witness.id)
    assert.are.equal(200, after.status)
    assert.are.equal(witness.version, after.json.version)
    assert.are.equal(witness_body, after.body)
    -- no create got through: the witness is still the only authorization
    local list = sb:request("GET", "/v1/prior-authorizations?limit=100")
    assert.are.equal(1, #list.json.data)
    -- and the file list of the server is intact: the witness file still downloads
    assert.are.equal(H.PDF, sb:request("GET", "/v1/files/" .. file.id .. "/download").body)
    -- no request hit a bug (the app logs "sandbox internal error" at the default log level)
    assert.is_nil(sb:log():find("internal error", 1, true))
  end)
end)
