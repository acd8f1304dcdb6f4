-- RFC 3339 timestamps (whole seconds, UTC) and dates without the C library's time zone handling.
local timefmt = {}

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y, m, d
end

local last_t, last_text -- the request log formats the same second for request after request

function timefmt.format(t)
  if t == last_t and t ~= nil then return last_text end
  last_t, last_text = t, timefmt.format_uncached(t)
  return last_text
end

function timefmt.format_uncached(t)
  t = math.floor(t)
  local days = math.floor(t / 86400)
  local secs = t - days * 86400
  local y, m, d = civil_from_days(days)
  return string.format("%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
    math.floor(secs / 3600), math.floor(secs / 60) % 60, secs % 60)
end

function timefmt.format_date(t)
  return (timefmt.format(t):sub(1, 10))
end

local function days_in_month(y, m)
  local dm = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }
  if m == 2 and ((y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0) then return 29 end
  return dm[m]
end

-- "YYYY-MM-DD" -> y, m, d when it is a real calendar date
function timefmt.parse_date(s)
  if type(s) ~= "string" then return nil end
  local y, m, d = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then return nil end
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  if m < 1 or m > 12 or d < 1 or d > days_in_month(y, m) then return nil end
  return y, m, d
end

function timefmt.date_to_epoch(s)
  local y, m, d = timefmt.parse_date(s)
  if not y then return nil end
  return days_from_civil(y, m, d) * 86400
end

-- RFC 3339 with Z or an offset, optional fraction -> epoch seconds (float)
function timefmt.parse(s)
  if type(s) ~= "string" then return nil end
  local date, hh, mi, ss, rest = s:match("^(%d%d%d%d%-%d%d%-%d%d)[Tt](%d%d):(%d%d):(%d%d)(.*)$")
  if not date then return nil end
  local y, m, d = timefmt.parse_date(date)
  if not y then return nil end
  hh, mi, ss = tonumber(hh), tonumber(mi), tonumber(ss)
  if hh > 23 or mi > 59 or ss > 60 then return nil end
  local frac = 0
  local f = rest:match("^%.(%d+)")
  if f then
    frac = tonumber("0." .. f)
    rest = rest:sub(#f + 2)
  end
  local offset
  if rest == "Z" or rest == "z" then
    offset = 0
  else
    local sign, oh, om = rest:match("^([+-])(%d%d):(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 60 + tonumber(om)) * 60
    if sign == "-" then offset = -offset end
  end
  return days_from_civil(y, m, d) * 86400 + hh * 3600 + mi * 60 + ss + frac - offset
end

return timefmt
