/* parse_response: success decoding, the error envelope, non-JSON and non-envelope bodies. */
#include <stdio.h>

#include "harness.h"

static const char *success =
  "local ok_, v = core.parse_response(201, { ['content-type'] = 'application/json' },\n"
  "  '{\"id\":\"auth_1\",\"version\":1,\"nextAction\":{\"type\":\"resolve_requirements\"},'\n"
  "  .. '\"metadata\":{\"externalCaseId\":\"c\",\"myKey\":1},\"outcome\":null,\"ratio\":0.5}')\n"
  "eq(ok_, true, 'any 2xx is success')\n"
  "eq(v.id, 'auth_1'); eq(v.version, 1, 'integer version'); eq(v.next_action.type, 'resolve_requirements')\n"
  "eq(v.metadata.external_case_id, 'c'); eq(v.metadata.myKey, 1); eq(v.outcome, nil, 'null -> absent')\n"
  "eq(v.ratio, 0.5)\n"
  "ok_, v = core.parse_response(200, {}, '')\n"
  "eq(ok_, true); deep_eq(v, {}, 'empty body -> empty table')\n"
  "ok_, v = core.parse_response(200, nil, nil)\n"
  "eq(ok_, true); deep_eq(v, {}, 'nil body -> empty table')\n"
  "ok_, v = core.parse_response(204, {}, '')\n"
  "eq(ok_, true)\n"
  "ok_, v = core.parse_response(200, {}, '{\"data\":[{\"id\":\"a\"}],\"pagination\":{\"nextCursor\":null}}')\n"
  "eq(v.data[1].id, 'a'); eq(v.pagination.next_cursor, nil)\n";

static const char *decode_error =
  "local ok_, info = core.parse_response(200, {}, '{\"id\": ')\n"
  "eq(ok_, false, 'invalid 2xx JSON fails')\n"
  "eq(info.kind, 'decode'); eq(info.status_code, 200); eq(info.body, '{\"id\": ')\n"
  "ok(type(info.message) == 'string' and info.message:find('JSON', 1, true), 'message: ' .. tostring(info.message))\n"
  "ok_, info = core.parse_response(201, {}, '<html>oops</html>')\n"
  "eq(ok_, false); eq(info.kind, 'decode'); eq(info.status_code, 201); eq(info.body, '<html>oops</html>')\n"
  "ok_, info = core.parse_response(200, {}, 'NaN')\n"
  "eq(ok_, false, 'NaN is not JSON')\n";

static const char *envelope =
  "local body = '{\"error\":{\"code\":\"version_conflict\",\"message\":\"If-Match names version 2\",'\n"
  "  .. '\"retryable\":false,\"details\":{\"expectedVersion\":2,\"actualVersion\":3,\"someNull\":null},'\n"
  "  .. '\"issues\":[{\"errorType\":\"invalid_format\",\"location\":[\"header\",\"If-Match\"],\"message\":\"m\"},'\n"
  "  .. '{\"errorType\":\"missing\",\"location\":[\"body\",\"answers\",\"item\",2,\"linkId\"],\"message\":\"n\"}]},'\n"
  "  .. '\"requestId\":\"req_body\"}'\n"
  "local ok_, info = core.parse_response(409, { ['x-request-id'] = 'req_header' }, body)\n"
  "eq(ok_, false)\n"
  "eq(info.kind, 'api'); eq(info.status_code, 409); eq(info.code, 'version_conflict')\n"
  "eq(info.message, 'If-Match names version 2'); eq(info.retryable, false)\n"
  "deep_eq(info.details, { expectedVersion = 2, actualVersion = 3 }, 'details verbatim, integers')\n"
  "eq(math.type(info.details.actualVersion), 'integer')\n"
  "eq(#info.issues, 2)\n"
  "deep_eq(info.issues[1], { error_type = 'invalid_format', location = { 'header', 'If-Match' }, message = 'm' })\n"
  "deep_eq(info.issues[2].location, { 'body', 'answers', 'item', 2, 'linkId' }, 'location values kept')\n"
  "eq(math.type(info.issues[2].location[4]), 'integer')\n"
  "eq(info.request_id, 'req_body', 'body requestId wins')\n"
  "eq(type(info.body), 'table'); eq(info.body.requestId, 'req_body', 'body keeps wire keys')\n"
  "eq(info.body.error.details.expectedVersion, 2); eq(math.type(info.body.error.details.expectedVersion), 'integer')\n"
  "-- retryable from the envelope, else from the status\n"
  "ok_, info = core.parse_response(503, {}, '{\"error\":{\"code\":\"service_unavailable\",\"message\":\"x\",'\n"
  "  .. '\"retryable\":true,\"details\":{},\"issues\":[]},\"requestId\":\"r\"}')\n"
  "eq(info.retryable, true); eq(info.code, 'service_unavailable'); deep_eq(info.details, {}); deep_eq(info.issues, {})\n"
  "ok_, info = core.parse_response(429, { ['x-request-id'] = 'req_h' }, '{\"error\":{\"code\":\"rate_limited\"}}')\n"
  "eq(info.retryable, true, 'status-based when the envelope has no flag')\n"
  "eq(info.request_id, 'req_h', 'x-request-id header when the body has none')\n"
  "eq(info.message, 'HTTP 429', 'fallback message')\n"
  "ok_, info = core.parse_response(400, {}, '{\"error\":{\"code\":\"bad_request\",\"message\":\"m\"}}')\n"
  "eq(info.retryable, false)\n";

static const char *non_envelope =
  "local ok_, info = core.parse_response(502, { ['x-request-id'] = 'req_x' }, '<html>Bad gateway</html>')\n"
  "eq(ok_, false); eq(info.kind, 'api'); eq(info.status_code, 502); eq(info.code, nil)\n"
  "eq(info.message, 'HTTP 502 with a non-JSON body'); eq(info.body, '<html>Bad gateway</html>', 'raw body')\n"
  "eq(info.retryable, true, '502 retryable by status'); eq(info.request_id, 'req_x')\n"
  "deep_eq(info.details, {}); deep_eq(info.issues, {})\n"
  "ok_, info = core.parse_response(500, {}, '')\n"
  "eq(info.message, 'HTTP 500 with an empty body'); eq(info.code, nil); eq(info.request_id, nil)\n"
  "ok_, info = core.parse_response(403, {}, '[1,2.0]')\n"
  "eq(info.code, nil); ok(info.message:find('not an error envelope', 1, true), info.message)\n"
  "deep_eq(info.body, { 1, 2 }, 'decoded non-envelope body'); eq(info.retryable, false)\n"
  "ok_, info = core.parse_response(404, nil, nil)\n"
  "eq(ok_, false); eq(info.status_code, 404)\n";

int main(void) {
  lua_State *L = harness_state();
  harness_lua(L, "success", success);
  harness_lua(L, "decode_error", decode_error);
  harness_lua(L, "envelope", envelope);
  harness_lua(L, "non_envelope", non_envelope);
  lua_close(L);
  return harness_finish("c_response");
}
