-- JSON for the sandbox (RFC 8259), on plain Lua 5.4 with no C module: a decoder that keeps the
-- difference between [] and {} (arrays and objects carry marker metatables) and keeps integers
-- exact (an integer literal that fits 64 bits is a Lua integer, math.type "integer", so metadata
-- such as 9007199254740993 is echoed verbatim), and an encoder that emits [] for marked empty
-- lists, integers as integers, and object keys in a stable order. Null is json.null, a unique
-- read-only table (compare with ==; json.typeof says "null").

local json = {}

local ARRAY = { __jsontype = "array" }
local OBJECT = { __jsontype = "object" }
local RAW = { __jsontype = "raw" }

json.null = setmetatable({}, {
  __name = "json.null",
  __tostring = function() return "null" end,
  __newindex = function() error("json.null is read-only", 2) end,
})

function json.array(t)
  return setmetatable(t or {}, ARRAY)
end

function json.object(t)
  return setmetatable(t or {}, OBJECT)
end

-- Already-encoded JSON, written as is by the encoder (cached renderings).
function json.raw(s)
  return setmetatable({ s }, RAW)
end

function json.is_array(v)
  return type(v) == "table" and getmetatable(v) == ARRAY
end

function json.is_object(v)
  return type(v) == "table" and getmetatable(v) == OBJECT
end

-- The JSON type name of a decoded value.
function json.typeof(v)
  if v == json.null then return "null" end
  local t = type(v)
  if t == "table" then
    local mt = getmetatable(v)
    if mt == ARRAY then return "array" end
    if mt == OBJECT then return "object" end
    if next(v) == nil then return "object" end
    if v[1] ~= nil then return "array" end
    return "object"
  end
  if t == "number" then return "number" end
  if t == "string" then return "string" end
  if t == "boolean" then return "boolean" end
  return t
end

function json.is_integer(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge and v == math.floor(v)
end

---------------------------------------------------------------------------------------------------
-- UTF-8 validity (no overlongs, no surrogates, at most U+10FFFF)

function json.valid_utf8(s)
  local i, n = 1, #s
  while i <= n do
    local p = s:find("[\128-\255]", i)
    if not p then return true end
    i = p
    local c = s:byte(i)
    local len, min
    if c >= 0xC2 and c <= 0xDF then len, min = 2, 0x80
    elseif c >= 0xE0 and c <= 0xEF then len, min = 3, 0x800
    elseif c >= 0xF0 and c <= 0xF4 then len, min = 4, 0x10000
    else return false end
    local cp = c % (2 ^ (7 - len))
    for k = 1, len - 1 do
      local b = s:byte(i + k)
      if not b or b < 0x80 or b > 0xBF then return false end
      cp = cp * 64 + (b - 0x80)
    end
    if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then return false end
    i = i + len
  end
  return true
end

-- Number of code points of a valid UTF-8 string.
function json.utf8_len(s)
  local _, cont = s:gsub("[\128-\191]", "")
  return #s - cont
end

---------------------------------------------------------------------------------------------------
-- Decoder

local function decode_error(pos, msg)
  error({ json_error = true, pos = pos, message = msg }, 0)
end

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function utf8_encode(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then
    return string.char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64)
  end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return string.char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
    0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

local decode_value

local function skip_ws(s, i)
  local _, e = s:find("^[ \t\r\n]*", i)
  return e + 1
end

local function decode_string(s, i)
  -- s:sub(i, i) == '"'
  local parts = {}
  local j = i + 1
  while true do
    -- RFC 8259: only U+0000 to U+001F must be escaped (DEL, 0x7F, may appear raw)
    local p = s:find('["\\\0-\31]', j)
    if not p then decode_error(i, "unterminated string") end
    if p > j then parts[#parts + 1] = s:sub(j, p - 1) end
    local c = s:sub(p, p)
    if c == '"' then
      return table.concat(parts), p + 1
    elseif c == "\\" then
      local e = s:sub(p + 1, p + 1)
      if escapes[e] then
        parts[#parts + 1] = escapes[e]
        j = p + 2
      elseif e == "u" then
        local hex = s:match("^%x%x%x%x", p + 2)
        if not hex then decode_error(p, "bad unicode escape") end
        local cp = tonumber(hex, 16)
        j = p + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
          local hex2 = s:match("^\\u(%x%x%x%x)", j)
          local lo = hex2 and tonumber(hex2, 16)
          if not lo or lo < 0xDC00 or lo > 0xDFFF then decode_error(p, "lone surrogate") end
          cp = 0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)
          j = j + 6
        elseif cp >= 0xDC00 and cp <= 0xDFFF then
          decode_error(p, "lone surrogate")
        end
        parts[#parts + 1] = utf8_encode(cp)
      else
        decode_error(p, "bad escape")
      end
    else
      decode_error(p, "control character in string")
    end
  end
end

local function decode_array(s, i, depth)
  local arr = json.array({})
  local n = 0
  i = skip_ws(s, i + 1)
  if s:sub(i, i) == "]" then return arr, i + 1 end
  while true do
    local v
    v, i = decode_value(s, i, depth)
    n = n + 1
    arr[n] = v
    i = skip_ws(s, i)
    local c = s:sub(i, i)
    if c == "]" then return arr, i + 1 end
    if c ~= "," then decode_error(i, "expected ',' or ']'") end
    i = skip_ws(s, i + 1)
  end
end

local function decode_object(s, i, depth)
  local obj = json.object({})
  i = skip_ws(s, i + 1)
  if s:sub(i, i) == "}" then return obj, i + 1 end
  while true do
    if s:sub(i, i) ~= '"' then decode_error(i, "expected a property name") end
    local k
    k, i = decode_string(s, i)
    i = skip_ws(s, i)
    if s:sub(i, i) ~= ":" then decode_error(i, "expected ':'") end
    i = skip_ws(s, i + 1)
    local v
    v, i = decode_value(s, i, depth)
    obj[k] = v
    i = skip_ws(s, i)
    local c = s:sub(i, i)
    if c == "}" then return obj, i + 1 end
    if c ~= "," then decode_error(i, "expected ',' or '}'") end
    i = skip_ws(s, i + 1)
  end
end

decode_value = function(s, i, depth)
  if depth > 200 then decode_error(i, "nesting too deep") end
  local c = s:sub(i, i)
  if c == "{" then return decode_object(s, i, depth + 1) end
  if c == "[" then return decode_array(s, i, depth + 1) end
  if c == '"' then return decode_string(s, i) end
  if s:find("^true", i) then return true, i + 4 end
  if s:find("^false", i) then return false, i + 5 end
  if s:find("^null", i) then return json.null, i + 4 end
  local int = s:match("^-?%d+", i)
  if int then
    if int:find("^-?0%d") then decode_error(i, "leading zero") end
    local j = i + #int
    local frac = s:match("^%.%d+", j)
    if frac then j = j + #frac elseif s:sub(j, j) == "." then decode_error(j, "bad number") end
    local exp = s:match("^[eE][-+]?%d+", j)
    if exp then j = j + #exp elseif s:find("^[eE]", j) then decode_error(j, "bad number") end
    local v = tonumber(s:sub(i, j - 1))
    if not v or v == math.huge or v == -math.huge then decode_error(i, "bad number") end
    return v, j
  end
  decode_error(i, "unexpected character")
end

-- Returns value or nil, message. Strings are not checked for UTF-8 here (see valid_utf8).
function json.decode(s)
  local ok, v = pcall(function()
    local i0 = skip_ws(s, 1)
    local val, j = decode_value(s, i0, 0)
    j = skip_ws(s, j)
    if j <= #s then decode_error(j, "trailing characters") end
    return val, j
  end)
  if ok then return v, nil end
  if type(v) == "table" and v.json_error then
    return nil, string.format("%s at byte %d", v.message, v.pos)
  end
  return nil, tostring(v)
end

---------------------------------------------------------------------------------------------------
-- Encoder

local esc_map = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r",
  ["\t"] = "\\t",
}

local plain_keys = {} -- '"key":' for object keys seen before
local n_plain_keys = 0

local function encode_string(s)
  -- fast path: printable ASCII without quote or backslash
  if not s:find('[%c"\\\128-\255]') then return '"' .. s .. '"' end
  if not json.valid_utf8(s) then
    -- only bytes we did not validate (e.g. logged headers) get here; keep the output valid JSON
    s = s:gsub("[\128-\255]", "\239\191\189")
  end
  return '"' .. s:gsub('[%c"\\]', function(c)
    return esc_map[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function encode_number(v)
  if math.type(v) == "integer" then return string.format("%d", v) end
  if v ~= v or v == math.huge or v == -math.huge then
    error("cannot encode a non-finite number")
  end
  if v == math.floor(v) and v > -9007199254740992 and v < 9007199254740992 then
    return string.format("%d", v)
  end
  local s = string.format("%.14g", v)
  if tonumber(s) ~= v then s = string.format("%.17g", v) end
  return s
end

local encode_value

local function is_sequence(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

encode_value = function(v, buf)
  local t = type(v)
  if v == json.null or v == nil then
    buf[#buf + 1] = "null"
  elseif t == "boolean" then
    buf[#buf + 1] = v and "true" or "false"
  elseif t == "number" then
    buf[#buf + 1] = encode_number(v)
  elseif t == "string" then
    buf[#buf + 1] = encode_string(v)
  elseif t == "table" then
    local mt = getmetatable(v)
    if mt == RAW then
      buf[#buf + 1] = v[1]
    elseif mt == ARRAY or (mt ~= OBJECT and is_sequence(v)) then
      buf[#buf + 1] = "["
      for i = 1, #v do
        if i > 1 then buf[#buf + 1] = "," end
        encode_value(v[i], buf)
      end
      buf[#buf + 1] = "]"
    else
      local keys, n = {}, 0
      for k in pairs(v) do
        if type(k) ~= "string" then error("cannot encode a non-string key") end
        n = n + 1
        keys[n] = k
      end
      if n > 1 then table.sort(keys) end
      buf[#buf + 1] = "{"
      for i = 1, n do
        local k = keys[i]
        local pk = plain_keys[k]
        if not pk then
          pk = encode_string(k) .. ":"
          -- bounded: free-form metadata keys must not grow it without limit
          if n_plain_keys < 4096 then
            n_plain_keys = n_plain_keys + 1
            plain_keys[k] = pk
          end
        end
        buf[#buf + 1] = i > 1 and "," .. pk or pk
        encode_value(v[k], buf)
      end
      buf[#buf + 1] = "}"
    end
  else
    error("cannot encode a " .. t)
  end
end

function json.encode(v)
  local buf = {}
  encode_value(v, buf)
  return table.concat(buf)
end

-- Deep copy keeping the array/object markers.
function json.copy(v)
  if type(v) ~= "table" or v == json.null then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = json.copy(x) end
  return setmetatable(out, getmetatable(v))
end

-- The same value, the same markers, the same number subtypes (the native decoder's check).
local function same(x, y)
  if type(x) ~= type(y) then return false end
  if type(x) ~= "table" then return x == y and math.type(x) == math.type(y) end
  if getmetatable(x) ~= getmetatable(y) then return false end
  for k, v in pairs(x) do
    if not same(v, y[k]) then return false end
  end
  for k in pairs(y) do
    if x[k] == nil then return false end
  end
  return true
end

-- Inside collate-sandbox / collate-run the C front preloads the same encoder and the fast path of
-- the decoder in C (sandbox/src/json_native.c, json_decode.c): rendering was half the CPU of a
-- create, decoding the body a third of the rest. This file's encoder and decoder stay the
-- reference; COLLATE_SANDBOX_VERIFY_JSON=1 (the sandbox suites) runs both on every call and fails
-- on any difference. The C decoder returns nothing for a text it would refuse: this file's
-- decoder then gives the answer (and its error message).
local has_native, native = pcall(require, "collate_sandbox.native")
if has_native then
  local native_encode, lua_encode = native.json_encode, json.encode
  local native_decode, lua_decode = native.json_decode, json.decode
  if os.getenv("COLLATE_SANDBOX_VERIFY_JSON") == "1" then
    function json.decode(s)
      local fast = native_decode(s, json.null, ARRAY, OBJECT)
      local slow, err = lua_decode(s)
      if fast ~= nil and not same(fast, slow) then
        error("native JSON decoder differs on: " .. s:sub(1, 200))
      end
      return slow, err
    end
    function json.encode(v)
      local fast, slow = native_encode(v, json.null, RAW, ARRAY, OBJECT), lua_encode(v)
      if fast ~= slow then
        error("native JSON encoder differs: " .. fast:sub(1, 200) .. " <> " .. slow:sub(1, 200))
      end
      return fast
    end
  else
    function json.encode(v) return native_encode(v, json.null, RAW, ARRAY, OBJECT) end
    function json.decode(s)
      local v = native_decode(s, json.null, ARRAY, OBJECT)
      if v ~= nil then return v, nil end
      return lua_decode(s)
    end
  end
end

return json
