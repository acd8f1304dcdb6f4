/* Retry classification, backoff bounds and jitter, Retry-After parsing. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "retry.h"

static void c_level(void) {
  double v = -1;
  CHECK(collate_parse_retry_after("5", 1, 0, &v) && v == 5);
  CHECK(collate_parse_retry_after(" 0 ", 3, 0, &v) && v == 0);
  CHECK(!collate_parse_retry_after("", 0, 0, &v));
  CHECK(!collate_parse_retry_after("-1", 2, 0, &v));
  CHECK(!collate_parse_retry_after("1.5", 3, 0, &v));
  CHECK(!collate_parse_retry_after("soon", 4, 0, &v));
  /* 784111777 = Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example) */
  CHECK(collate_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", 29, &v) && v == 784111777.0);
  CHECK(collate_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", 30, &v) && v == 784111777.0);
  CHECK(collate_parse_http_date("Sun Nov  6 08:49:37 1994", 24, &v) && v == 784111777.0);
  CHECK(collate_parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", 29, &v) && v == 0.0);
  CHECK(collate_parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT", 29, &v) && v == 1835481599.0);
  CHECK(!collate_parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT", 29, &v));
  CHECK(!collate_parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC", 29, &v));
  CHECK(!collate_parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT", 29, &v));
  CHECK(!collate_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT junk", 34, &v));
  CHECK(collate_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 29, 784111770.0, &v) && v == 7);
  CHECK(collate_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 29, 784111800.0, &v) && v == 0);
  CHECK(collate_parse_retry_after_ms("250", 3, &v) && v == 0.25);
  CHECK(collate_parse_retry_after_ms("1.5", 3, &v) && v > 0.0014 && v < 0.0016);
  CHECK(!collate_parse_retry_after_ms("x", 1, &v));
  CHECK(!collate_parse_retry_after_ms("", 0, &v));
  CHECK(collate_backoff_base(1) == 0.5 && collate_backoff_base(2) == 1 &&
        collate_backoff_base(4) == 4 && collate_backoff_base(5) == 8 &&
        collate_backoff_base(6) == 8 && collate_backoff_base(1000) == 8);
  CHECK(collate_status_retryable(408) && collate_status_retryable(504) &&
        !collate_status_retryable(409) && !collate_status_retryable(501));
}

static const char *retryable =
  "for _, s in ipairs({ 408, 429, 500, 502, 503, 504 }) do\n"
  "  eq(core.retryable(s), true, 'status ' .. s)\n"
  "  eq(core.retryable(s, true), true, 'status ' .. s .. ' body true')\n"
  "  eq(core.retryable(s, false), false, 'status ' .. s .. ' body says no')\n"
  "end\n"
  "for _, s in ipairs({ 400, 401, 403, 404, 405, 409, 413, 422, 501, 505, 200 }) do\n"
  "  eq(core.retryable(s), false, 'status ' .. s)\n"
  "  eq(core.retryable(s, true), false, 'status ' .. s .. ' whatever the body says')\n"
  "end\n"
  "eq(core.retryable(nil), true, 'transport failure')\n"
  "eq(core.transport_retryable('connection'), true); eq(core.transport_retryable('timeout'), true)\n"
  "eq(core.transport_retryable(nil), true)\n"
  "for _, k in ipairs({ 'tls', 'io', 'invalid_argument' }) do\n"
  "  eq(core.transport_retryable(k), false, 'transport kind ' .. k)\n"
  "end\n";

static const char *backoff =
  "local function range(attempt, lo, hi, headers)\n"
  "  for i = 1, 2000 do\n"
  "    local d = core.backoff(attempt, headers)\n"
  "    if not (d >= lo and d <= hi) then\n"
  "      error(('attempt %d: %s outside [%s, %s]'):format(attempt, tostring(d), lo, hi), 2)\n"
  "    end\n"
  "  end\n"
  "end\n"
  "range(1, 0.375, 0.5); range(2, 0.75, 1.0); range(3, 1.5, 2.0); range(4, 3.0, 4.0)\n"
  "range(5, 6, 8); range(6, 6, 8); range(50, 6, 8); range(1, 0.375, 0.5, {})\n"
  "-- jitter really varies\n"
  "local seen = {}\n"
  "for i = 1, 50 do seen[core.backoff(1)] = true end\n"
  "local n = 0; for _ in pairs(seen) do n = n + 1 end\n"
  "ok(n > 10, 'jitter produces different values (' .. n .. ')')\n"
  "eq(core.backoff(1, { ['retry-after'] = '3' }), 3.0, 'retry-after seconds')\n"
  "eq(core.backoff(7, { ['retry-after'] = '0' }), 0.0, 'retry-after 0')\n"
  "eq(core.backoff(1, { ['retry-after'] = '60' }), 60.0, '60 s is allowed')\n"
  "eq(core.backoff(1, { ['retry-after'] = '61' }), nil, 'more than 60 s: no retry')\n"
  "eq(core.backoff(1, { ['retry-after-ms'] = '250' }), 0.25, 'retry-after-ms')\n"
  "eq(core.backoff(1, { ['retry-after-ms'] = '250', ['retry-after'] = '9' }), 0.25, 'ms wins')\n"
  "eq(core.backoff(1, { ['retry-after-ms'] = '61000' }), nil, 'ms over 60 s')\n"
  "local d = core.backoff(1, { ['retry-after'] = 'garbage' })\n"
  "ok(d >= 0.375 and d <= 0.5, 'garbage Retry-After falls back to backoff')\n"
  "local function http_date(t) return os.date('!%a, %d %b %Y %H:%M:%S GMT', t) end\n"
  "d = core.backoff(1, { ['retry-after'] = http_date(os.time() + 10) })\n"
  "ok(d >= 8 and d <= 10, 'HTTP-date 10 s ahead: ' .. tostring(d))\n"
  "eq(core.backoff(1, { ['retry-after'] = http_date(os.time() - 100) }), 0.0, 'past date -> 0')\n"
  "eq(core.backoff(1, { ['retry-after'] = http_date(os.time() + 3600) }), nil, 'date 1 h ahead')\n";

static const char *parse_retry_after =
  "eq(core.parse_retry_after('120', 0), 120.0)\n"
  "eq(core.parse_retry_after('Sun, 06 Nov 1994 08:49:37 GMT', 784111777 - 30), 30.0)\n"
  "eq(core.parse_retry_after('Sun, 06 Nov 1994 08:49:37 GMT', 784111777 + 30), 0.0)\n"
  "eq(core.parse_retry_after('Sunday, 06-Nov-94 08:49:37 GMT', 784111777), 0.0)\n"
  "eq(core.parse_retry_after('Sun Nov  6 08:49:37 1994', 784111777 - 1), 1.0)\n"
  "for _, g in ipairs({ 'abc', '', '-5', '1.5', 'Sun, 32 Nov 1994 08:49:37 GMT', '12abc' }) do\n"
  "  eq(core.parse_retry_after(g, 0), nil, 'garbage ' .. g)\n"
  "end\n"
  "eq(core.parse_retry_after(nil), nil, 'nil')\n"
  "ok(core.parse_retry_after('5') == 5.0, 'now defaults to the wall clock')\n";

int main(void) {
  lua_State *L;
  c_level();
  L = harness_state();
  harness_lua(L, "retryable", retryable);
  harness_lua(L, "backoff", backoff);
  harness_lua(L, "parse_retry_after", parse_retry_after);
  lua_close(L);
  return harness_finish("c_retry");
}
