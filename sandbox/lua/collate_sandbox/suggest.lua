-- Close matches for an unknown name (a linkId): the same letters ignoring case and the
-- separators . _ - (coverage.member_id ~ coverage.memberId), else an edit distance of at most
-- a quarter of the name (at least 1, at most 3). Best first, then in the candidates' order.
local suggest = {}

local function fold(s)
  return (s:lower():gsub("[%._%-]", ""))
end

-- Levenshtein distance, giving up (math.huge) once it exceeds `limit`
local function distance(a, b, limit)
  if math.abs(#a - #b) > limit then return math.huge end
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur, best = { [0] = i }, i
    local ca = a:byte(i)
    for j = 1, #b do
      local cost = ca == b:byte(j) and 0 or 1
      local v = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      cur[j] = v
      if v < best then best = v end
    end
    if best > limit then return math.huge end
    prev = cur
  end
  return prev[#b]
end

function suggest.close(name, candidates)
  local folded = fold(name)
  local limit = math.max(1, math.min(3, #name // 4))
  local scored = {}
  for i, c in ipairs(candidates) do
    local d
    if fold(c) == folded then
      d = 0
    else
      d = distance(name:lower(), c:lower(), limit)
    end
    if d <= limit then scored[#scored + 1] = { name = c, d = d, i = i } end
  end
  table.sort(scored, function(x, y)
    if x.d ~= y.d then return x.d < y.d end
    return x.i < y.i
  end)
  local out = {}
  for k, s in ipairs(scored) do out[k] = s.name end
  return out
end

return suggest
