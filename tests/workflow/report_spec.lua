-- report --html: one self-contained page from the store (no external asset, no script), with
-- the counts, the per-payer turnaround chart (inline SVG) and the cases that need a person,
-- rendered by headless Chromium: its screenshot is not blank.
local fs = require "support.fs"
local sandbox = require "support.sandbox"

local RUN = os.getenv("COLLATE_RUN_BIN") or "build/bin/collate-run"
local SOURCE = os.getenv("COLLATE_SOURCE_DIR") or "."
local CHROMIUM = os.getenv("COLLATE_CHROMIUM") or "chromium"
local SPEED = 1000

local q = fs.quote

local function have_chromium()
  return fs.sh("command -v " .. q(CHROMIUM) .. " >/dev/null 2>&1")
end

-- screenshot(html_path, png_path): headless, no network, a fresh profile
local function screenshot(dir, html, png)
  local profile = dir .. "/profile-" .. tostring(math.random(1e9))
  os.execute("mkdir -p " .. q(profile))
  local cmd = table.concat({ "timeout 60", q(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--user-data-dir=" .. q(profile), "--window-size=1000,1100", "--screenshot=" .. q(png),
    q("file://" .. html), ">" .. q(dir .. "/chromium.log"), "2>&1" }, " ")
  local ok = fs.sh(cmd)
  os.execute("rm -rf " .. q(profile))
  return ok, fs.read_file(dir .. "/chromium.log")
end

describe("report --html", function()
  local sb, dir
  setup(function()
    sb = sandbox.start{ args = { "--clock-speed", tostring(SPEED), "--log-level", "quiet" } }
    dir = fs.temp_dir()
  end)
  teardown(function()
    if sb then sb:stop() end
    if dir then os.execute("rm -rf " .. q(dir)) end
  end)

  it("writes one self-contained page that a browser renders, with a person's cases on it", function()
    local env = "COLLATE_BASE_URL=" .. q(sb.url) .. " COLLATE_API_KEY=" .. q(sb.key) .. " COLLATE_STORE=" ..
      q("sqlite:" .. dir .. "/cases.db")
    local function run(script, args)
      return fs.sh(env .. " " .. q(RUN) .. " " .. q(SOURCE .. "/scripts/ops/" .. script) .. " " .. args ..
        " >/dev/null 2>" .. q(dir .. "/err"))
    end
    -- decisions for the payers that need none; snapshots and handoffs left to people
    run("submit-batch", q(SOURCE .. "/scripts/examples/cases.csv") .. " --document " ..
      q(SOURCE .. "/scripts/examples/clinical-note.pdf") .. " --wait 5 --quiet")
    local html = dir .. "/report.html"
    assert.is_true(run("report", "--html " .. q(html) .. " --title 'Batch report'"), fs.read_file(dir .. "/err"))
    local page = assert(fs.read_file(html))
    assert.matches("^<!DOCTYPE html>", page)
    assert.matches("<svg ", page, 1, true)
    assert.matches("Cases that need a person %(6%)", page)
    assert.matches("person:complete_payer_interaction", page, 1, true)
    assert.matches("payer_uhc", page, 1, true)
    -- self-contained: nothing fetched, nothing run
    assert.is_nil(page:find("<script", 1, true))
    assert.is_nil(page:find("src=", 1, true))
    assert.is_nil(page:find("<link", 1, true))
    assert.is_nil(page:find("url(", 1, true))

    if not have_chromium() then
      pending("chromium is not installed (apt-get install chromium): the page was not rendered")
      return
    end
    local png = dir .. "/report.png"
    local ok, log = screenshot(dir, html, png)
    assert.is_true(ok, "chromium failed: " .. tostring(log))
    local shot = assert(fs.read_file(png), "no screenshot")
    assert.are.equal("\137PNG\r\n\26\n", shot:sub(1, 8))
    -- the same browser's picture of an empty page, for comparison: a blank page compresses to
    -- almost nothing, a page of text, tiles and a chart does not
    local blank = dir .. "/blank.html"
    fs.write_file(blank, "<!DOCTYPE html><html><body></body></html>")
    assert.is_true((screenshot(dir, blank, dir .. "/blank.png")))
    local empty = assert(fs.read_file(dir .. "/blank.png"))
    io.stderr:write(string.format("\nworkflow_report: report.html %d bytes; screenshot %d bytes, blank page %d bytes\n",
      #page, #shot, #empty))
    assert.is_true(#shot > 5 * #empty, string.format("screenshot %d bytes vs blank %d", #shot, #empty))
    if os.getenv("COLLATE_KEEP_SCREENSHOT") then fs.sh("cp " .. q(png) .. " "
      .. q(os.getenv("COLLATE_KEEP_SCREENSHOT"))) end
  end)
end)
