-- No server: answers, journal durability rules, CSV, progress output.
local workflow = require "collate.workflow"
local journal = require "collate.ops.journal"
local csv = require "collate.ops.csv"
local progress = require "collate.ops.progress"
local cjson = require "cjson"

local QUESTIONNAIRE = { item = {
  { link_id = "coverage.memberId", type = "string" },
  { link_id = "diagnoses", type = "group", repeats = true, item = {
    { link_id = "code", type = "string" }, { link_id = "qualifierCode", type = "choice" } } },
  { link_id = "service.units", type = "integer" },
  { link_id = "clinical.priorTherapyTried", type = "boolean" },
  { link_id = "service.startDate", type = "date" },
} }

local function tmp()
  local p = os.tmpname()
  os.remove(p)
  return p
end

describe("workflow.answers", function()
  it("types values from the questionnaire, accepts snake_case names, keeps questionnaire order", function()
    local a = workflow.answers({ questionnaire = QUESTIONNAIRE }, {
      ["service.units"] = 3, ["coverage.member_id"] = "W12345", ["clinical.prior_therapy_tried"] = false,
      diagnoses = { { code = "A1", qualifier_code = "ABK" }, { code = "B2", qualifierCode = "ABF" } },
      ["service.start_date"] = "2026-07-01",
    })
    assert.are.same({
      { link_id = "coverage.memberId", answer = { { value_string = "W12345" } } },
      { link_id = "diagnoses", item = { { link_id = "code", answer = { { value_string = "A1" } } },
        { link_id = "qualifierCode", answer = { { value_coding = { code = "ABK" } } } } } },
      { link_id = "diagnoses", item = { { link_id = "code", answer = { { value_string = "B2" } } },
        { link_id = "qualifierCode", answer = { { value_coding = { code = "ABF" } } } } } },
      { link_id = "service.units", answer = { { value_integer = 3 } } },
      { link_id = "clinical.priorTherapyTried", answer = { { value_boolean = false } } },
      { link_id = "service.startDate", answer = { { value_date = "2026-07-01" } } },
    }, a.item)
  end)

  it("names the problem", function()
    local ok, err = pcall(workflow.answers, { questionnaire = QUESTIONNAIRE }, { nope = 1 })
    assert.is_false(ok)
    assert.matches("'nope' is not in the questionnaire", err.message)
    ok, err = pcall(workflow.answers, { questionnaire = QUESTIONNAIRE }, { diagnoses = { code = "x" } })
    assert.is_false(ok)
    assert.matches("list of repetitions", err.message)
  end)

  it("open_requirements lists questions, documents and error issues", function()
    local open = workflow.open_requirements{ requirements = {
      questions = { { link_id = "diagnoses" } }, documents = { { type = "clinical_notes" } },
      issues = { { code = "invalid_answer_value", severity = "error", field = "x" },
                 { code = "payer_requested_information", severity = "warning" } } } }
    assert.are.same({ "diagnoses" }, open.questions)
    assert.are.same({ "clinical_notes" }, open.documents)
    assert.are.equal(1, #open.errors)
    assert.is_true(open.blocking)
    local none = { requirements = { questions = {}, documents = {}, issues = {} } }
    assert.is_false(workflow.open_requirements(none).blocking)
  end)
end)

describe("journal", function()
  it("merges records per case and survives a torn last line", function()
    local path = tmp()
    local j = journal.open(path)
    j:record("a", { key = "k1", status = "pending" })
    j:record("a", { auth = "auth_1", status = "processing" })
    j:record("b", { key = "k2" })
    j:close()
    local f = io.open(path, "ab")
    f:write('{"case":"c","key":"k3","sta') -- killed mid-write
    f:close()
    j = journal.open(path)
    assert.are.equal(1, j.torn)
    assert.are.equal("auth_1", j:get("a").auth)
    assert.are.equal("k1", j:get("a").key)
    assert.are.equal("k2", j:get("b").key)
    assert.is_nil(j:get("c"))
    j:record("c", { key = "k4" })
    j:close()
    -- the new record starts on its own line: every complete line parses
    local n = 0
    for line in io.lines(path) do
      if line:sub(-1) == "}" then
        n = n + 1
        assert.is_table(cjson.decode(line))
      end
    end
    assert.are.equal(4, n)
    assert.are.equal("k4", journal.open(path):get("c").key)
    os.remove(path)
  end)
end)

describe("csv", function()
  it("reads quoted fields, doubled quotes, CRLF, and skips empty cells", function()
    local rows, err = csv.parse('a,b,c\r\n1,"x, ""y""",\r\n"multi\nline",2,3\n')
    assert.is_nil(err)
    assert.are.same({ { "a", "b", "c" }, { "1", 'x, "y"', "" }, { "multi\nline", "2", "3" } }, rows)
    local path = tmp()
    local f = io.open(path, "wb")
    f:write("case_id, units\nc1,3\nc2,\n")
    f:close()
    local r = csv.read(path)
    assert.are.equal("3", r[1].units)
    assert.is_nil(r[2].units)
    os.remove(path)
    assert.is_nil((csv.parse('a,"open')))
  end)
end)

describe("progress", function()
  local function sink()
    local s = { text = "" }
    function s:write(...) for _, v in ipairs({ ... }) do self.text = self.text .. v end end
    function s.flush() end
    return s
  end

  it("updates one line in place on a terminal", function()
    local out = sink()
    local p = progress.new{ total = 2, out = out, tty = true, label = "t" }
    p:set("a", "processing")
    p:set("b", "processing")
    p:finish()
    assert.matches("\r\27%[K", out.text)
    assert.matches("t: 2 cases: processing 2", out.text)
    assert.are.equal("\n", out.text:sub(-1))
  end)

  it("writes plain lines otherwise, without repeating unchanged counts", function()
    local out = sink()
    local p = progress.new{ total = 2, out = out, tty = false, every = 0, label = "t" }
    p:set("a", "processing")
    p:set("a", "completed:approved")
    p:set("a", "completed:approved")
    p:finish()
    assert.is_nil(out.text:find("\r", 1, true))
    local lines = {}
    for l in out.text:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal(2, #lines)
    assert.matches("completed:approved 1", lines[2])
  end)
end)
