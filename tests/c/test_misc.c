/* uuid4, redact, clock, module surface. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "random.h"

static void c_level(void) {
  unsigned char b[16];
  char out[37];
  memset(b, 0xff, sizeof b);
  collate_uuid4_format(b, out);
  CHECK_STR(out, "ffffffff-ffff-4fff-bfff-ffffffffffff");
  memset(b, 0, sizeof b);
  collate_uuid4_format(b, out);
  CHECK_STR(out, "00000000-0000-4000-8000-000000000000");
  CHECK(collate_random_bytes(b, sizeof b) == 0);
  {
    double u = collate_random_unit();
    CHECK(u >= 0 && u < 1);
  }
}

static const char *uuid =
  "local seen = {}\n"
  "for i = 1, 1000 do\n"
  "  local u = core.uuid4()\n"
  "  eq(#u, 36, 'length')\n"
  "  ok(u:match('^[0-9a-f]+%-[0-9a-f]+%-4[0-9a-f]+%-[89ab][0-9a-f]+%-[0-9a-f]+$'), 'format ' .. u)\n"
  "  ok(u:sub(9, 9) == '-' and u:sub(14, 14) == '-' and u:sub(19, 19) == '-' and u:sub(24, 24) == '-', u)\n"
  "  ok(not seen[u], 'unique'); seen[u] = true\n"
  "end\n";

static const char *redact =
  "eq(core.redact('key sk_live_1 then sk_live_1.', 'sk_live_1'), 'key [REDACTED] then [REDACTED].')\n"
  "eq(core.redact('nothing here', 'sk_live_1'), 'nothing here')\n"
  "eq(core.redact('sk', 'sk_long_secret'), 'sk')\n"
  "eq(core.redact('abc', nil), 'abc'); eq(core.redact('abc', ''), 'abc')\n"
  "eq(core.redact('aaaa', 'aa'), '[REDACTED][REDACTED]')\n"
  "eq(core.redact('x%sy', '%s'), 'x[REDACTED]y', 'plain text, not a pattern')\n"
  "eq(core.redact(nil, 'x'), nil)\n";

static const char *clock =
  "local t0 = core.now()\n"
  "ok(math.type(t0) == 'float', 'now is a float')\n"
  "core.sleep(0.05)\n"
  "local dt = core.now() - t0\n"
  "ok(dt >= 0.049 and dt < 1, 'slept ' .. dt)\n"
  "core.sleep(0); core.sleep(-1)\n";

static const char *surface =
  "eq(core.VERSION, '" COLLATE_VERSION "')\n"
  "ok(type(core.curl_version) == 'string' and core.curl_version:match('^%d+%.%d+%.%d+'), 'curl_version')\n"
  "for _, f in ipairs({ 'build_request', 'to_wire', 'from_wire', 'parse_response', 'quote_if_match',\n"
  "  'retryable', 'transport_retryable', 'backoff', 'parse_retry_after', 'uuid4', 'redact', 'sleep', 'now', 'http' }) do\n"
  "  eq(type(core[f]), 'function', f)\n"
  "end\n"
  "-- the module's cjson is private: the application's settings do not change it\n"
  "local cjson = require('cjson')\n"
  "cjson.encode_sparse_array(true)\n"
  "local ok_, v = core.parse_response(200, {}, '{\"a\":1}')\n"
  "eq(v.a, 1)\n"
  "local h = core.http()\n"
  "ok(tostring(h):find('collate.http', 1, true), tostring(h))\n"
  "h:close(); h:close()\n"
  "ok(tostring(h):find('closed', 1, true), 'closed handle')\n"
  "ok(not pcall(h.perform, h, { url = 'http://127.0.0.1:1/' }), 'perform on a closed handle raises')\n"
  "do local h2 <close> = core.http() end\n"
  "collectgarbage()\n";

int main(void) {
  lua_State *L;
  c_level();
  L = harness_state();
  harness_lua(L, "uuid", uuid);
  harness_lua(L, "redact", redact);
  harness_lua(L, "clock", clock);
  harness_lua(L, "surface", surface);
  lua_close(L);
  return harness_finish("c_misc");
}
