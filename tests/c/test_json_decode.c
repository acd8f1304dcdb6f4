/* The one-pass response decoder (json_decode.c): values, key conversion, exact integers, null,
 * escapes, and adversarial input: malformed text, deep nesting, huge containers, and a
 * random-mutation fuzz loop checked against cjson + from_wire wherever both accept the text
 * (COLLATE_FUZZ_ITERS, default 3000, COLLATE_FUZZ_SEED; run it longer under COLLATE_SANITIZE). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "json_decode.h"

/* decode(text, wire) -> value | nil, message: wire = true keeps wire keys and nulls. */
static int l_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  int wire = lua_toboolean(L, 2);
  lua_settop(L, 2);
  if (collate_json_decode(L, s, len, wire ? COLLATE_NORMALISE : COLLATE_FROM_WIRE)) {
    if (lua_gettop(L) != 3) return luaL_error(L, "decode left %d values", lua_gettop(L) - 2);
    return 1;
  }
  if (lua_gettop(L) != 3) return luaL_error(L, "failed decode left %d values", lua_gettop(L) - 2);
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

static const char *values =
  "local null = require('cjson').null\n"
  "deep_eq(decode('{\"a\":1,\"b\":[true,false,null],\"c\":\"x\",\"d\":{}}'),\n"
  "  { a = 1, b = { true, false, null }, c = 'x', d = {} }, 'basic')\n"
  "eq(decode('  [ ]  ')[1], nil, 'empty array'); eq(next(decode('{ }')), nil, 'empty object')\n"
  "eq(decode('\"s\"'), 's', 'top-level string'); eq(decode('17'), 17); eq(math.type(decode('17')), 'integer')\n"
  "eq(decode('null'), null, 'top-level null is cjson.null'); eq(decode('true'), true)\n"
  "-- numbers\n"
  "eq(decode('9007199254740993'), 9007199254740993, 'exact beyond 2^53')\n"
  "eq(decode('9223372036854775807'), math.maxinteger); eq(decode('-9223372036854775808'), math.mininteger)\n"
  "eq(math.type(decode('-9223372036854775808')), 'integer')\n"
  "eq(decode('9223372036854775808'), 2^63); eq(math.type(decode('9223372036854775808')), 'float')\n"
  "eq(math.type(decode('123456789012345678901234567890')), 'float')\n"
  "-- integer syntax outside the 64-bit range is a float, as tonumber gives, never a clamped integer\n"
  "for _, s in ipairs({ '-9223372036854775809', '-9223372036854775810', '9223372036854775808',\n"
  "    '18446744073709551615', '18446744073709551616', '-18446744073709551616' }) do\n"
  "  local v = decode(s)\n"
  "  eq(math.type(v), 'float', s .. ' is a float'); eq(v, tonumber(s), s .. ' as tonumber')\n"
  "  eq(math.type(decode('[' .. s .. ']')[1]), 'float', s .. ' in an array')\n"
  "end\n"
  "eq(decode('-9223372036854775809') == math.mininteger, true, '-2^63-1 rounds to the float -2^63')\n"
  "eq(math.type(decode('-9.223372036854776e+18')), 'float', 'the float -2^63 as the encoder writes it')\n"
  "eq(math.type(decode('-9223372036854775808.0')), 'float'); eq(decode('-9223372036854774784.0'), math.mininteger + 1024, 'the next double up is an integer')\n"
  "eq(math.type(decode('-9223372036854775807')), 'integer'); eq(decode('-9223372036854775807'), math.mininteger + 1)\n"
  "eq(decode('-0'), 0); eq(math.type(decode('-0')), 'integer'); eq(math.type(decode('-0.0')), 'integer')\n"
  "eq(decode('1e400'), math.huge, '1e400 overflows to inf'); eq(decode('-1e400'), -math.huge)\n"
  "eq(decode('1e-400'), 0, 'underflow to 0')\n"
  "eq(decode('1.5'), 1.5); eq(decode('-2.5e-3'), -0.0025); eq(decode('2.0'), 2); eq(math.type(decode('1E2')), 'integer')\n"
  "eq(decode('0.1'), 0.1); eq(decode('[0,-1,10]')[3], 10)\n"
  "-- strings and escapes\n"
  "eq(decode('\"a\\\\\"b\\\\\\\\c\\\\/d\\\\b\\\\f\\\\n\\\\r\\\\t\"'), 'a\"b\\\\c/d\\b\\f\\n\\r\\t')\n"
  "eq(decode('\"\\\\u00e9\\\\u20AC\\\\u0041\"'), '\\xC3\\xA9\\xE2\\x82\\xACA', 'BMP escapes')\n"
  "eq(decode('\"\\\\ud83d\\\\ude00\"'), '\\xF0\\x9F\\x98\\x80', 'surrogate pair')\n"
  "eq(decode('\"a\\\\u0000b\"'), 'a\\0b', 'escaped NUL')\n"
  "eq(decode('\"\\xC3\\xA9 raw\"'), '\\xC3\\xA9 raw', 'raw UTF-8')\n"
  "eq(decode('\"\\xFF\"'), '\\xFF', 'bytes >= 0x80 unvalidated, as cjson')\n"
  "eq(decode('{\"k\\\\u0065y\":1}').key, 1, 'escaped key')\n"
  "eq(decode('{\"a\":1,\"a\":2}').a, 2, 'duplicate key: last wins')\n"
  "eq(decode('{\"a\":1,\"a\":null}').a, nil, 'a later null removes the key, as cjson + from_wire')\n"
  "eq(decode('{\"a\":null,\"a\":1}').a, 1, 'a later value replaces a null')\n"
  "eq(decode('{\"a\":1,\"a\":null}', true).a, require('cjson').null, 'wire mode: last wins, null kept')\n"
  "local dup = '{\"xY\":1,\"b\":null,\"xY\":null,\"b\":[null],\"c\":null,\"c\":null}'\n"
  "deep_eq(decode(dup), core.from_wire(require('cjson').decode(dup)), 'duplicates with nulls as before')\n";

static const char *keys =
  "local null = require('cjson').null\n"
  "local body = '{\"id\":\"a\",\"nextAction\":{\"type\":\"t\",\"dueAt\":null},\"outcome\":null,'\n"
  "  .. '\"metadata\":{\"externalCaseId\":\"c\",\"myKey\":{\"innerKey\":1,\"n\":null}},'\n"
  "  .. '\"headers\":{\"Content-Type\":\"x\"},\"details\":{\"expectedVersion\":2},'\n"
  "  .. '\"summary\":{\"someKey\":[1,null]},\"items\":[{\"linkId\":\"l\",\"v\":null},null]}'\n"
  "local v = decode(body)\n"
  "deep_eq(v, { id = 'a', next_action = { type = 't' },\n"
  "  metadata = { external_case_id = 'c', myKey = { innerKey = 1 } },\n"
  "  headers = { ['Content-Type'] = 'x' }, details = { expectedVersion = 2 },\n"
  "  summary = { someKey = { 1, null } }, items = { { link_id = 'l' }, null } }, 'from wire')\n"
  "local cjson = require('cjson')\n"
  "deep_eq(v, core.from_wire(cjson.decode(body)), 'same as cjson + from_wire')\n"
  "local w = decode(body, true)\n"
  "eq(w.nextAction.dueAt, null, 'wire mode keeps null'); eq(w.metadata.externalCaseId, 'c')\n"
  "eq(w.outcome, null); eq(w.items[1].linkId, 'l')\n"
  "local long = string.rep('aB', 300)\n"
  "eq(decode('{\"' .. long .. '\":1}')[string.rep('a_b', 300)], 1, 'long key converted')\n";

static const char *invalid =
  "local bad = { '', ' ', '{', '[', '[1,]', '{\"a\":1,}', '[1 2]', '{\"a\" 1}', '{\"a\":}', '{1:2}',\n"
  "  '{\"a\":1', '[1', '01', '-', '-a', '1.', '.5', '+1', '1e', '1e+', '0x10', 'NaN', 'Infinity',\n"
  "  '-Infinity', 'tru', 'nul', 'nulls', 'True', '[1] x', '{} {}', '\"abc', '\"abc\\\\', '\"\\x01\"',\n"
  "  '\"a\\nb\"', '\"\\\\x\"', '\"\\\\u12\"', '\"\\\\u12G4\"', '\"\\\\ud800\"', '\"\\\\udc00\"',\n"
  "  '\"\\\\ud800\\\\u0041\"', '\"\\\\ud800x\"', '\\xEF\\xBB\\xBF{}', '/* c */ 1', \"'a'\", '[,]',\n"
  "  '{\"a\":1}}', '\\0', '1\\0' }\n"
  "for _, s in ipairs(bad) do\n"
  "  local v, msg = decode(s)\n"
  "  if v ~= nil or type(msg) ~= 'string' or not msg:find('at byte %d+$') then\n"
  "    error('accepted or bad message for ' .. string.format('%q', s) .. ': ' .. tostring(msg))\n"
  "  end\n"
  "  v, msg = decode(s, true)\n"
  "  ok(v == nil and type(msg) == 'string', 'wire mode rejects too: ' .. string.format('%q', s))\n"
  "end\n"
  "local _, msg = decode('{\"a\":[1,2,x]}'); eq(msg, 'unexpected character at byte 11')\n"
  "_, msg = decode('[1,2'); eq(msg, 'unterminated array at byte 5')\n"
  "local ok_, info = core.parse_response(200, {}, '{\"a\":\"\\x01\"}')\n"
  "eq(ok_, false); eq(info.kind, 'decode'); ok(info.message:find('control character', 1, true), info.message)\n";

static const char *nesting =
  "local function nest(n, o, c) return string.rep(o, n) .. string.rep(c, n) end\n"
  "ok(decode(nest(1000, '[', ']')) ~= nil, '1000 levels')\n"
  "local v, msg = decode(nest(1001, '[', ']'))\n"
  "fails('nested too deeply', v, msg)\n"
  "v, msg = decode(string.rep('{\"a\":', 1001) .. '1' .. string.rep('}', 1001))\n"
  "fails('nested too deeply', v, msg)\n"
  "v, msg = decode(string.rep('[', 1000000))\n"
  "fails('nested too deeply', v, msg, 'a million brackets')\n"
  "v = decode(string.rep('{\"metadataX\":', 999) .. '1' .. string.rep('}', 999))\n"
  "ok(v ~= nil, '999 nested objects')\n"
  "eq(msg:match('^(.-) at byte'), 'JSON nested too deeply (more than 1000 levels)', 'the message says the limit')\n";

/* Valid and shallow, but with ~1M members waiting on the Lua stack across the open containers
 * (each waits for its closing bracket): the ones ahead of a chain of 200 small containers end
 * ~100 slots short of Lua 5.4's stack limit, so the chain crosses it wherever the caller's
 * frames put it. */
static const char *wide =
  "local v, msg\n"
  "local wide = string.rep('[' .. string.rep('0,', 60000), 16) .. '[' .. string.rep('0,', 39900)\n"
  "v, msg = decode(wide .. string.rep('[0,', 200) .. '0' .. string.rep(']', 217))\n"
  "ok(v ~= nil, 'arrays: 17 levels + 200, 1M pending elements: ' .. tostring(msg))\n"
  "eq(v and #v, 60001); eq(v and #v[60001], 60001)\n"
  "local a = v; for _ = 1, 16 do a = a and a[#a] end; eq(a and #a, 39901, 'the 17th level')\n"
  "for _ = 1, 200 do a = a and a[#a] end; deep_eq(a, { 0, 0 }, 'the innermost array')\n"
  "local obj = string.rep('{' .. string.rep('\"k\":0,', 31000) .. '\"c\":', 15) .. '{' .. string.rep('\"k\":0,', 34850)\n"
  "v, msg = decode(obj .. string.rep('\"c\":{\"a\":0,\"b\":1,', 200) .. '\"z\":0' .. string.rep('}', 216))\n"
  "ok(v ~= nil, 'objects: 16 levels + 200, 1M pending members: ' .. tostring(msg))\n"
  "eq(v and v.c.c.k, 0)\n"
  "v, msg = decode(wide .. string.rep('[0,', 1000) .. '0' .. string.rep(']', 1017))\n"
  "fails('nested too deeply (more than 1000 levels)', v, msg, 'wide and too deep: the depth limit still holds')\n";

static const char *big =
  "local parts = {}\n"
  "for i = 1, 200000 do parts[i] = tostring(i) end\n"
  "local a = decode('[' .. table.concat(parts, ',') .. ']')\n"
  "eq(#a, 200000, 'long array'); eq(a[1], 1); eq(a[65536], 65536); eq(a[65537], 65537); eq(a[200000], 200000)\n"
  "local kv = {}\n"
  "for i = 1, 140000 do kv[i] = '\"k' .. i .. '\":' .. i end\n"
  "kv[#kv + 1] = '\"k1\":\"last\"'\n"
  "kv[#kv + 1] = '\"k2\":null'\n"
  "local o = decode('{' .. table.concat(kv, ',') .. '}')\n"
  "eq(o.k1, 'last', 'duplicate across a flush: last wins'); eq(o.k140000, 140000); eq(o.k65537, 65537)\n"
  "eq(o.k2, nil, 'a null across a flush removes the key')\n"
  "local n = 0; for _ in pairs(o) do n = n + 1 end; eq(n, 139999)\n"
  "local s = decode('\"' .. string.rep('\\\\u00e9', 100000) .. '\"')\n"
  "eq(#s, 200000, 'long escaped string')\n";

/* Mutations of a realistic document; wherever cjson also accepts the text the two trees must
 * agree (after from_wire), and a rejection must come with a message. */
static const char *fuzz =
  "local cjson = require('cjson')\n"
  "local iters = tonumber(os.getenv('COLLATE_FUZZ_ITERS') or '3000')\n"
  "local seed = '{\"id\":\"auth_1\",\"version\":3,\"status\":\"requires_action\",\"nextAction\":'\n"
  "  .. '{\"type\":\"approve\",\"dueAt\":null},\"metadata\":{\"externalCaseId\":\"c\\\\u00e9\",\"n\":[1,2.5,-0]},'\n"
  "  .. '\"attachments\":[{\"fileId\":\"f\",\"sizeBytes\":12345,\"ok\":true},{\"fileId\":\"g\\\\n\",\"x\":false}],'\n"
  "  .. '\"e\":\"\\\\ud83d\\\\ude00\",\"big\":1e3,\"neg\":-12.75e-1,\"details\":{\"aB\":{\"cD\":null}}}'\n"
  "local alphabet = '{}[]\",:\\\\0123456789-+.eEutrfalsn \\t\\n\\x00\\x1f\\x80\\xff'\n"
  "math.randomseed(tonumber(os.getenv('COLLATE_FUZZ_SEED') or '12345'))\n"
  "local function same(a, b)\n"
  "  if type(a) == 'number' and type(b) == 'number' then\n"
  "    return a == b or (a ~= a and b ~= b) or math.abs(a - b) <= 1e-9 * math.abs(b)\n"
  "  end\n"
  "  if type(a) ~= 'table' or type(b) ~= 'table' then return a == b end\n"
  "  for k, v in pairs(b) do if not same(a[k], v) then return false end end\n"
  "  for k in pairs(a) do if b[k] == nil then return false end end\n"
  "  return true\n"
  "end\n"
  "local accepted, rejected = 0, 0\n"
  "for i = 1, iters do\n"
  "  local s = seed\n"
  "  for _ = 1, math.random(1, 4) do\n"
  "    local p = math.random(1, #s + 1)\n"
  "    local op = math.random(1, 5)\n"
  "    if op == 1 then s = s:sub(1, p - 1) .. s:sub(p + math.random(1, 8))\n"
  "    elseif op == 2 then local c = math.random(1, #alphabet); s = s:sub(1, p - 1) .. alphabet:sub(c, c) .. s:sub(p)\n"
  "    elseif op == 3 then s = s:sub(1, p - 1)\n"
  "    elseif op == 4 then local q = math.random(1, math.max(#s, 1)); s = s:sub(1, p - 1) .. s:sub(q, q + math.random(0, 20)) .. s:sub(p)\n"
  "    else local c = math.random(0, 255); s = s:sub(1, p - 1) .. string.char(c) .. s:sub(p + 1) end\n"
  "  end\n"
  "  for _, wire in ipairs({ false, true }) do\n"
  "    local v, msg = decode(s, wire)\n"
  "    if v == nil then\n"
  "      rejected = rejected + 1\n"
  "      if type(msg) ~= 'string' then error('no message for ' .. string.format('%q', s)) end\n"
  "    else\n"
  "      accepted = accepted + 1\n"
  "      local cok, cv = pcall(cjson.decode, s)\n"
  "      if cok and not wire then\n"
  "        if not same(v, core.from_wire(cv)) then\n"
  "          error('differs from cjson + from_wire: ' .. string.format('%q', s))\n"
  "        end\n"
  "      end\n"
  "    end\n"
  "  end\n"
  "end\n"
  "ok(accepted > 0 and rejected > 0, 'fuzz exercised both paths: ' .. accepted .. ' / ' .. rejected)\n";

int main(void) {
  lua_State *L = harness_state();
  lua_pushcfunction(L, l_decode);
  lua_setglobal(L, "decode");
  harness_lua(L, "values", values);
  harness_lua(L, "keys", keys);
  harness_lua(L, "invalid", invalid);
  harness_lua(L, "nesting", nesting);
  harness_lua(L, "wide", wide);
  harness_lua(L, "big", big);
  harness_lua(L, "fuzz", fuzz);
  lua_close(L);
  return harness_finish("c_json_decode");
}
