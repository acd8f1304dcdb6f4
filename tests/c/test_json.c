/* The request-body JSON encoder: exact integers, round-tripping floats, escapes, arrays vs
 * objects, empty arrays under the wire's array keys, and refusals. */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "harness.h"
#include "json.h"

static int l_encode(lua_State *L) {
  if (collate_json_encode(L, 1)) return 1;
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}

static const char *scalars =
  "local null = require('cjson').null\n"
  "eq(encode(17), '17'); eq(encode(17.0), '17', 'integral float'); eq(encode(-3), '-3')\n"
  "eq(encode(1234567890123456), '1234567890123456', 'big integer exact (cjson says 1.2345678901235e+15)')\n"
  "eq(encode(math.maxinteger), '9223372036854775807')\n"
  "eq(encode(0.1), '0.1'); eq(encode(2.5), '2.5'); eq(tonumber(encode(1/3)), 1/3, '1/3 round-trips'); eq(encode(1/3), '0.3333333333333333', 'shortest form')\n"
  "eq(tonumber(encode(1e300)), 1e300, 'huge float round-trips')\n"
  "eq(encode(true), 'true'); eq(encode(false), 'false'); eq(encode(null), 'null')\n"
  "eq(encode('a\"b\\\\c\\n\\r\\t\\1/é'), '\"a\\\\\"b\\\\\\\\c\\\\n\\\\r\\\\t\\\\u0001/é\"', 'escapes')\n"
  "fails('NaN', encode(0/0)); fails('NaN', encode(math.huge))\n"
  "fails('unsupported type', encode(print))\n";

static const char *tables =
  "local cjson = require('cjson')\n"
  "eq(encode({}), '{}', 'empty table is an object')\n"
  "eq(encode({ 1, 'a', true }), '[1,\"a\",true]')\n"
  "eq(encode({ a = 1 }), '{\"a\":1}')\n"
  "deep_eq(core.from_wire(cjson.decode(encode({ a = { b = { 1, 2 }, c = {} } }))), { a = { b = { 1, 2 }, c = {} } })\n"
  "eq(encode({ item = {} }), '{\"item\":[]}', 'answers.item empty array')\n"
  "eq(encode({ documentTypes = {} }), '{\"documentTypes\":[]}')\n"
  "eq(encode({ item = { { answer = {} } } }), '{\"item\":[{\"answer\":[]}]}')\n"
  "eq(encode({ metadata = {} }), '{\"metadata\":{}}', 'other keys: {}')\n"
  "fails('sparse', encode({ 1, nil, 3 }))\n"
  "fails('mixes', encode({ 1, a = 2 }))\n"
  "fails('keys', encode({ [1.5] = 1 })); fails('keys', encode({ [true] = 1 }))\n"
  "local cyc = {}; cyc.c = cyc\n"
  "fails('nested', encode(cyc))\n"
  "-- build_request uses it\n"
  "local r = assert(core.build_request('authorizations.create', { provider_npi = '1', request = {},\n"
  "  policy = {}, answers = { item = {} }, metadata = { n = 1234567890123456 } }))\n"
  "ok(r.body:find('\"item\":[]', 1, true), r.body)\n"
  "ok(r.body:find('\"n\":1234567890123456', 1, true), r.body)\n";

int main(void) {
  lua_State *L = harness_state();
  lua_pushcfunction(L, l_encode);
  lua_setglobal(L, "encode");
  harness_lua(L, "scalars", scalars);
  harness_lua(L, "tables", tables);
  lua_close(L);
  return harness_finish("c_json");
}
