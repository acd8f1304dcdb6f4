/* core.parse_response(status, headers, body) and the header readers around it (parse_retry_after,
 * backoff, retryable) on arbitrary input: 2 bytes of status (0-699), 1 byte of Retry-After
 * length, the Retry-After value, then the body. Properties: a 2xx with a body is `true, value`
 * exactly when the decoder accepts the body (else a `decode` error); any other status is
 * `false, info` with the documented fields and types. */
#include <string.h>

#include "fuzz_support.h"

static const char *check =
  "return function(input)\n"
  "  if #input < 3 then return end\n"
  "  local hi, lo, rlen = input:byte(1, 3)\n"
  "  local status = (hi * 256 + lo) % 700\n"
  "  local retry_after = input:sub(4, 3 + rlen)\n"
  "  local body = input:sub(4 + rlen)\n"
  "  local headers = { ['retry-after'] = retry_after, ['x-request-id'] = retry_after:sub(1, 8) }\n"
  "  if rlen % 2 == 1 then headers['retry-after-ms'] = retry_after end\n"
  "  local ok, v = core.parse_response(status, headers, body)\n"
  "  if status >= 200 and status <= 299 then\n"
  "    if body == '' then\n"
  "      assert(ok == true and type(v) == 'table' and next(v) == nil, 'empty 2xx body')\n"
  "    elseif decode(body, 'wire') ~= nil then\n"
  "      assert(ok == true, 'a 2xx body the decoder accepts must be returned')\n"
  "    else\n"
  "      assert(ok == false and v.kind == 'decode' and v.status_code == status, 'decode error shape')\n"
  "      assert(type(v.message) == 'string' and v.body == body, 'decode error fields')\n"
  "    end\n"
  "  else\n"
  "    assert(ok == false and type(v) == 'table', 'a non-2xx is false, info')\n"
  "    assert(v.kind == 'api' and v.status_code == status, 'kind and status')\n"
  "    assert(type(v.message) == 'string' and type(v.retryable) == 'boolean', 'message, retryable')\n"
  "    assert(type(v.details) == 'table' and type(v.issues) == 'table', 'details, issues')\n"
  "    assert(v.code == nil or type(v.code) == 'string', 'code')\n"
  "    assert(v.request_id == nil or type(v.request_id) == 'string', 'request_id')\n"
  "    local r = core.retryable(status, v.retryable)\n"
  "    assert(type(r) == 'boolean', 'retryable')\n"
  "  end\n"
  "  local secs = core.parse_retry_after(retry_after, 1700000000)\n"
  "  assert(secs == nil or (type(secs) == 'number' and secs >= 0), 'parse_retry_after')\n"
  "  for attempt = 1, 3 do\n"
  "    local d = core.backoff(attempt, headers)\n"
  "    assert(d == nil or (type(d) == 'number' and d >= 0), 'backoff')\n"
  "  end\n"
  "end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = fuzz_state("fuzz_response", check);
  const char *arg = (const char *)data;
  fuzz_check(L, &arg, &size, 1);
  return 0;
}
