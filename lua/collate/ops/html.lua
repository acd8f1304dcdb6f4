-- report --html: one self-contained page (no server, no external assets, no script): the counts
-- per status and per payer, a per-payer turnaround chart (inline SVG), the cases that need a
-- person.
local report = require "collate.ops.report"

local M = {}

local function esc(s)
  return (tostring(s or ""):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
    ["'"] = "&#39;" }))
end

local COLORS = { ["completed:approved"] = "#2e7d32", ["completed:modified"] = "#7cb342",
  ["completed:denied"] = "#c62828",
  ["completed:not_required"] = "#546e7a", ["completed:failed"] = "#6d4c41", failed = "#b71c1c",
  waiting_on_payer = "#1565c0", processing = "#42a5f5", requires_action = "#f9a825", new = "#9e9e9e",
  canceled = "#757575" }

local function color(status) return COLORS[status] or "#8e24aa" end

-- the turnaround chart: per payer, a bar to the median create-to-decision time, a line from the
-- fastest to the slowest, the count
local function chart(r)
  local payers = report.sorted_keys(r.turnaround)
  local max = 1
  for _, p in ipairs(payers) do
    for _, v in ipairs(r.turnaround[p]) do if v > max then max = v end end
  end
  local unit, unit_name = 3600, "hours"
  if max >= 2 * 86400 then unit, unit_name = 86400, "days" elseif max < 2 * 3600 then unit, unit_name = 60,
    "minutes" end
  local w, row, left = 760, 34, 150
  local h = 40 + row * math.max(#payers, 1) + 30
  local scale = (w - left - 120) / max -- room for the labels right of the bars
  local out = { string.format('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" ' ..
    'aria-label="median time from create to decision per payer">', w, h) }
  out[#out + 1] = string.format('<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>', w, h)
  for i, p in ipairs(payers) do
    local list = r.turnaround[p]
    table.sort(list)
    local y = 30 + (i - 1) * row
    local med = r.decision_median[p] or 0
    out[#out + 1] = string.format(
      '<text x="%d" y="%d" font-family="sans-serif" font-size="13" text-anchor="end">%s</text>',
      left - 10, y + 17, esc(p))
    out[#out + 1] = string.format('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#90a4ae" stroke-width="2"/>',
      left + list[1] * scale, y + 12, left + list[#list] * scale, y + 12)
    out[#out + 1] = string.format('<rect x="%d" y="%d" width="%.1f" height="%d" fill="#1565c0"/>', left, y + 4,
      math.max(med * scale, 1), 16)
    out[#out + 1] = string.format('<text x="%.1f" y="%d" font-family="sans-serif" font-size="12">%s (%d)</text>',
      left + math.max(med, list[#list]) * scale + 6, y + 17, esc(report.duration(med)), #list)
  end
  if #payers == 0 then
    out[#out + 1] = '<text x="20" y="50" font-family="sans-serif" font-size="14">No decisions yet.</text>'
  end
  local axis_y = 30 + row * math.max(#payers, 1) + 4
  out[#out + 1] = string.format('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#37474f"/>', left, axis_y,
    w - 40, axis_y)
  local ticks = 5
  for t = 0, ticks do
    local v = max * t / ticks
    out[#out + 1] = string.format(
      '<text x="%.1f" y="%d" font-family="sans-serif" font-size="11" text-anchor="middle">' ..
      '%.1f</text>', left + v * scale, axis_y + 16, v / unit)
  end
  out[#out + 1] = string.format('<text x="%d" y="%d" font-family="sans-serif" font-size="11">%s from create to ' ..
    'decision (bar: median, line: fastest to slowest)</text>', left, 16, unit_name)
  out[#out + 1] = "</svg>"
  return table.concat(out, "\n")
end

-- page(store, now, title) -> HTML text
function M.page(store, now, title)
  local rows = store:summaries()
  local r = report.build(rows, now)
  local env = store:environment()
  local out = {}
  local function add(s) out[#out + 1] = s end
  add('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">')
  add("<title>" .. esc(title) .. "</title>")
  add([[<style>
body { font-family: sans-serif; margin: 24px; color: #263238; background: #fafafa; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; background: #fff; } td,
  th { border: 1px solid #cfd8dc; padding: 4px 10px; font-size: 13px; }
th { background: #eceff1; text-align: left; } .n { text-align: right; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; }
.tile { color: #fff; padding: 10px 14px; border-radius: 6px; min-width: 120px; }
.tile b { display: block; font-size: 26px; }
</style></head><body>]])
  add("<h1>" .. esc(title) .. "</h1>")
  add(string.format("<p>Store %s, environment %s, %d cases, as of %s.</p>", esc(store.describe), esc(env.label or "-"),
    #r.cases, esc(os.date("!%Y-%m-%d %H:%M UTC", math.floor(now)))))
  add('<h2>Cases per status</h2><div class="tiles">')
  for _, s in ipairs(report.sorted_keys(r.by_status)) do
    add(string.format('<div class="tile" style="background:%s"><b>%d</b>%s</div>', color(s), r.by_status[s], esc(s)))
  end
  add("</div>")
  add("<h2>Per payer</h2><table><tr><th>payer</th><th>cases</th><th>decided</th>" ..
    "<th>median create to decision</th></tr>")
  for _, p in ipairs(report.sorted_keys(r.by_payer)) do
    add(string.format('<tr><td>%s</td><td class="n">%d</td><td class="n">%d</td><td class="n">%s</td></tr>', esc(p),
      r.by_payer[p].total, r.decided[p] or 0, esc(report.duration(r.decision_median[p]))))
  end
  add("</table>")
  add("<h2>Turnaround per payer</h2>")
  add(chart(r))
  local people = store:cases{ needs_person = true }
  add(string.format("<h2>Cases that need a person (%d)</h2>", #people))
  if #people == 0 then
    add("<p>None.</p>")
  else
    add("<table><tr><th>case</th><th>payer</th><th>waiting for</th><th>detail</th></tr>")
    for _, c in ipairs(people) do
      local p = type(c.person) == "table" and c.person or {}
      local detail = {}
      if p.snapshot then detail[#detail + 1] = "snapshot " .. p.snapshot end
      if p.portal then detail[#detail + 1] = "portal " .. p.portal end
      if type(p.warnings) == "table" and #p.warnings > 0 then detail[#detail + 1] = "warnings "
        .. table.concat(p.warnings, ", ") end
      if p.why then detail[#detail + 1] = p.why end
      add(string.format("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>", esc(c.id), esc(c.payer),
        esc(c.waiting_for), esc(table.concat(detail, "; "))))
    end
    add("</table>")
  end
  add("</body></html>")
  return table.concat(out, "\n")
end

return M
