/* build_request: paths, queries, headers, bodies, idempotency keys, argument errors; the route
 * table; If-Match quoting. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "routes.h"

static const char *paths =
  "local r = assert(core.build_request('authorizations.retrieve', { authorization_id = 'auth_1' }))\n"
  "eq(r.method, 'GET', 'method'); eq(r.path, '/v1/prior-authorizations/auth_1', 'path')\n"
  "eq(r.body, nil, 'GET has no body'); eq(r.idempotency_key, nil, 'GET has no key')\n"
  "deep_eq(r.headers, { Accept = 'application/json' }, 'GET headers')\n"
  "r = assert(core.build_request('authorizations.retrieve', { authorization_id = 'a:b@c~f.g-h_i\\195\\169' }))\n"
  "eq(r.path, '/v1/prior-authorizations/a%3Ab%40c~f.g-h_i%C3%A9', 'path params encoded')\n"
  "for _, id in ipairs({ '', '.', '..', 'a/b', 'a?b', 'a#b', 'a%2e', 'a b', 'a\\tb', 'a\\0b', '\\255',\n"
  "                      string.rep('x', 65) }) do\n"
  "  fails('authorizations.retrieve: authorization_id ', core.build_request('authorizations.retrieve',\n"
  "    { authorization_id = id }))\n"
  "end\n"
  "fails(\"authorization_id must not be '..'\", core.build_request('authorizations.cancel',\n"
  "  { authorization_id = '..', if_match = 1 }))\n"
  "ok(core.build_request('authorizations.retrieve', { authorization_id = string.rep('\\195\\169', 64) }),\n"
  "  '64 characters (not bytes) is the limit')\n"
  "r = assert(core.build_request('authorizations.manual_handoffs.retrieve',\n"
  "  { authorization_id = 'auth_1', handoff_id = 'mhand_2' }))\n"
  "eq(r.path, '/v1/prior-authorizations/auth_1/manual-handoffs/mhand_2', 'two path params')\n"
  "r = assert(core.build_request('authorizations.attachments.delete',\n"
  "  { authorization_id = 'auth_1', attachment_id = 'att_3', if_match = 4 }))\n"
  "eq(r.method, 'DELETE'); eq(r.path, '/v1/prior-authorizations/auth_1/attachments/att_3')\n"
  "eq(r.headers['If-Match'], '\"4\"', 'If-Match on DELETE'); eq(r.body, nil, 'DELETE no body')\n"
  "eq(r.headers['Idempotency-Key'], nil, 'no key on DELETE')\n"
  "r = assert(core.build_request('health'))\n"
  "eq(r.path, '/health'); eq(r.method, 'GET')\n"
  "r = assert(core.build_request('health', {}))\n"
  "eq(r.path, '/health')\n"
  "r = assert(core.build_request('providers.retrieve', { provider_npi = '1234567893' }))\n"
  "eq(r.path, '/v1/providers/1234567893')\n";

static const char *queries =
  "local r = assert(core.build_request('authorizations.list', { status = 'processing', limit = 10 }))\n"
  "eq(r.path, '/v1/prior-authorizations?status=processing&limit=10', 'query order and names')\n"
  "r = assert(core.build_request('authorizations.list', {}))\n"
  "eq(r.path, '/v1/prior-authorizations', 'no query when no params')\n"
  "r = assert(core.build_request('authorizations.list', { provider_npi = '1234567893',\n"
  "  external_case_id = 'case 1&2=3', cursor = 'c/+=', limit = 25.0 }))\n"
  "eq(r.path, '/v1/prior-authorizations?providerNpi=1234567893&externalCaseId=case%201%262%3D3'\n"
  "  .. '&limit=25&cursor=c%2F%2B%3D', 'camelCase names, encoded values, integral float limit')\n"
  "r = assert(core.build_request('authorization_routes.list', { provider_npi = '1234567893' }))\n"
  "eq(r.path, '/v1/prior-authorization-routes?providerNpi=1234567893')\n"
  "r = assert(core.build_request('authorizations.attachments.list',\n"
  "  { authorization_id = 'auth_1', cursor = 'abc' }))\n"
  "eq(r.path, '/v1/prior-authorizations/auth_1/attachments?cursor=abc')\n"
  "r = assert(core.build_request('sandbox.scenarios.list', { limit = 1 }))\n"
  "eq(r.path, '/v1/sandbox/scenarios?limit=1')\n";

static const char *create =
  "local cjson = require('cjson')\n"
  "local params = { provider_npi = '1234567893',\n"
  "  request = { payer_id = 'payer_aetna', coverage_state = 'CA', request_type = 'outpatient',\n"
  "              service_code = { system = 'cpt', code = '72148' } },\n"
  "  policy = { final_submission = 'requires_approval' },\n"
  "  answers = { item = { { link_id = 'coverage.member_id', answer = { { value_string = 'M_1' } } } } },\n"
  "  metadata = { external_case_id = 'case-1', my_own_key = 'x' } }\n"
  "local r = assert(core.build_request('authorizations.create', params))\n"
  "eq(r.method, 'POST'); eq(r.path, '/v1/prior-authorizations')\n"
  "eq(r.headers['Content-Type'], 'application/json'); eq(r.headers.Accept, 'application/json')\n"
  "eq(r.headers.Authorization, nil, 'no Authorization from the core')\n"
  "eq(r.headers['User-Agent'], nil, 'no User-Agent from the core')\n"
  "ok(r.idempotency_key:match('^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$'), 'generated UUIDv4 key')\n"
  "eq(r.headers['Idempotency-Key'], r.idempotency_key, 'header = returned key')\n"
  "local body = cjson.decode(r.body)\n"
  "deep_eq(body, { providerNpi = '1234567893',\n"
  "  request = { payerId = 'payer_aetna', coverageState = 'CA', requestType = 'outpatient',\n"
  "              serviceCode = { system = 'cpt', code = '72148' } },\n"
  "  policy = { finalSubmission = 'requires_approval' },\n"
  "  answers = { item = { { linkId = 'coverage.member_id', answer = { { valueString = 'M_1' } } } } },\n"
  "  metadata = { externalCaseId = 'case-1', my_own_key = 'x' } }, 'create body')\n"
  "eq(params.request.payer_id, 'payer_aetna', 'params not mutated')\n"
  "local r2 = assert(core.build_request('authorizations.create', params))\n"
  "ok(r2.idempotency_key ~= r.idempotency_key, 'a fresh key per call')\n"
  "params.idempotency_key = 'my-key-1'\n"
  "local r3 = assert(core.build_request('authorizations.create', params))\n"
  "eq(r3.idempotency_key, 'my-key-1', 'caller key used'); eq(r3.headers['Idempotency-Key'], 'my-key-1')\n"
  "params.idempotency_key = 'bad key'\n"
  "fails('idempotency_key', core.build_request('authorizations.create', params))\n"
  "params.idempotency_key = ''\n"
  "fails('idempotency_key', core.build_request('authorizations.create', params))\n";

static const char *posts =
  "local cjson = require('cjson')\n"
  "local r = assert(core.build_request('authorizations.cancel', { authorization_id = 'a', if_match = '3' }))\n"
  "eq(r.body, nil, 'cancel without reason: no body'); eq(r.headers['Content-Type'], nil, 'no CT')\n"
  "eq(r.headers['Idempotency-Key'], nil, 'other POSTs: no key unless given')\n"
  "eq(r.idempotency_key, nil)\n"
  "eq(r.headers['If-Match'], '\"3\"')\n"
  "r = assert(core.build_request('authorizations.cancel', { authorization_id = 'a', if_match = 3,\n"
  "  reason = 'duplicate', idempotency_key = 'k1' }))\n"
  "deep_eq(cjson.decode(r.body), { reason = 'duplicate' }, 'cancel body')\n"
  "eq(r.headers['Idempotency-Key'], 'k1', 'caller key on another POST'); eq(r.idempotency_key, 'k1')\n"
  "r = assert(core.build_request('files.complete', { file_id = 'file_1' }))\n"
  "eq(r.method, 'POST'); eq(r.path, '/v1/files/file_1/complete'); eq(r.body, nil)\n"
  "r = assert(core.build_request('authorizations.live_session.create_access_grant', { authorization_id = 'a' }))\n"
  "eq(r.path, '/v1/prior-authorizations/a/live-session/access-grants'); eq(r.body, nil)\n"
  "r = assert(core.build_request('authorizations.manual_handoffs.create_access_grant',\n"
  "  { authorization_id = 'a', handoff_id = 'h' }))\n"
  "eq(r.path, '/v1/prior-authorizations/a/manual-handoffs/h/access-grants'); eq(r.body, nil)\n"
  "r = assert(core.build_request('authorizations.answers.patch', { authorization_id = 'a', if_match = 2,\n"
  "  answers = { item = { { link_id = 'x', answer = { { value_boolean = true } } } } } }))\n"
  "eq(r.method, 'PATCH'); eq(r.headers['Idempotency-Key'], nil, 'never on PATCH')\n"
  "deep_eq(cjson.decode(r.body), { answers = { item = { { linkId = 'x', answer = { { valueBoolean = true } } } } } })\n"
  "fails(\"unknown parameter 'idempotency_key'\", core.build_request('authorizations.answers.patch',\n"
  "  { authorization_id = 'a', if_match = 2, answers = {}, idempotency_key = 'k' }))\n"
  "r = assert(core.build_request('authorizations.attachments.create', { authorization_id = 'a',\n"
  "  if_match = '\"5\"', file_id = 'file_1', document_types = { 'clinical_notes' } }))\n"
  "deep_eq(cjson.decode(r.body), { fileId = 'file_1', documentTypes = { 'clinical_notes' } })\n"
  "r = assert(core.build_request('authorization_routes.resolve', { provider_npi = '1', payer_id = 'p',\n"
  "  coverage_state = 'CA', request_type = 'drug', service_code = { system = 'ndc', code = '1' } }))\n"
  "deep_eq(cjson.decode(r.body), { providerNpi = '1', payerId = 'p', coverageState = 'CA',\n"
  "  requestType = 'drug', serviceCode = { system = 'ndc', code = '1' } })\n"
  "r = assert(core.build_request('files.create', { file_name = 'a.pdf', content_type = 'application/pdf',\n"
  "  purpose = 'authorization_attachment' }))\n"
  "deep_eq(cjson.decode(r.body), { fileName = 'a.pdf', contentType = 'application/pdf',\n"
  "  purpose = 'authorization_attachment' })\n"
  "r = assert(core.build_request('authorizations.manual_handoffs.complete', { authorization_id = 'a',\n"
  "  handoff_id = 'h', if_match = 9, reported_outcome = 'submitted', observed_reference_number = 'R1' }))\n"
  "eq(r.path, '/v1/prior-authorizations/a/manual-handoffs/h/complete')\n"
  "deep_eq(cjson.decode(r.body), { reportedOutcome = 'submitted', observedReferenceNumber = 'R1' })\n"
  "r = assert(core.build_request('authorizations.manual_handoffs.unable_to_complete', { authorization_id = 'a',\n"
  "  handoff_id = 'h', if_match = 9, reason = 'other', operator_notes = 'n' }))\n"
  "eq(r.path, '/v1/prior-authorizations/a/manual-handoffs/h/unable-to-complete')\n"
  "deep_eq(cjson.decode(r.body), { reason = 'other', operatorNotes = 'n' })\n"
  "r = assert(core.build_request('authorizations.manual_handoffs.revoke', { authorization_id = 'a',\n"
  "  handoff_id = 'h', if_match = 9, reason = 'r', notes = 'n' }))\n"
  "deep_eq(cjson.decode(r.body), { reason = 'r', notes = 'n' })\n"
  "r = assert(core.build_request('authorizations.manual_handoffs.create', { authorization_id = 'a',\n"
  "  if_match = 9, accepted_review_snapshot_id = 'rev_1' }))\n"
  "deep_eq(cjson.decode(r.body), { acceptedReviewSnapshotId = 'rev_1' })\n";

static const char *confirm =
  "local cjson = require('cjson')\n"
  "local base = { authorization_id = 'auth_1', if_match = 17 }\n"
  "local r = assert(core.build_request('authorizations.confirm', base))\n"
  "eq(r.path, '/v1/prior-authorizations/auth_1/confirm'); eq(r.body, nil, 'confirm without body')\n"
  "eq(r.headers['If-Match'], '\"17\"')\n"
  "r = assert(core.build_request('authorizations.confirm', { authorization_id = 'auth_1', if_match = 17,\n"
  "  request = { accepted_review_snapshot_id = 'rev_1' } }))\n"
  "eq(r.body, '{\"acceptedReviewSnapshotId\":\"rev_1\"}', 'request form')\n"
  "eq(r.headers['Content-Type'], 'application/json')\n"
  "r = assert(core.build_request('authorizations.confirm', { authorization_id = 'auth_1', if_match = 17,\n"
  "  accepted_review_snapshot_id = 'rev_2' }))\n"
  "eq(r.body, '{\"acceptedReviewSnapshotId\":\"rev_2\"}', 'top-level form')\n"
  "fails('not both', core.build_request('authorizations.confirm', { authorization_id = 'auth_1',\n"
  "  if_match = 17, accepted_review_snapshot_id = 'rev_2', request = {} }))\n"
  "fails('authorizations.confirm: request must be a table (got string)',\n"
  "  core.build_request('authorizations.confirm', { authorization_id = 'a', if_match = 1, request = 'x' }))\n";

static const char *errors =
  "fails('authorizations.create: provider_npi is required', core.build_request('authorizations.create',\n"
  "  { request = {}, policy = {} }))\n"
  "fails('authorizations.create: provider_npi must be a string (got number)',\n"
  "  core.build_request('authorizations.create', { provider_npi = 1234567893, request = {}, policy = {} }))\n"
  "fails(\"authorizations.create: unknown parameter 'provder_npi'\",\n"
  "  core.build_request('authorizations.create', { provder_npi = '1', request = {}, policy = {} }))\n"
  "fails('authorizations.create: request must be a table (got string)',\n"
  "  core.build_request('authorizations.create', { provider_npi = '1', request = 'x', policy = {} }))\n"
  "fails('authorizations.create: policy is required',\n"
  "  core.build_request('authorizations.create', { provider_npi = '1', request = {} }))\n"
  "fails('authorizations.retrieve: authorization_id is required', core.build_request('authorizations.retrieve', {}))\n"
  "fails('authorizations.retrieve: authorization_id must not be empty',\n"
  "  core.build_request('authorizations.retrieve', { authorization_id = '' }))\n"
  "fails('authorizations.confirm: if_match is required', core.build_request('authorizations.confirm',\n"
  "  { authorization_id = 'a' }))\n"
  "local _, kind, m = core.build_request('authorizations.confirm', { authorization_id = 'a', if_match = 'W/\"3\"' })\n"
  "eq(kind, 'invalid_argument')\n"
  "fails('authorizations.confirm: if_match must be', nil, m)\n"
  "ok(m:find('17', 1, true) and m:find('\"17\"', 1, true), 'message shows the accepted forms: ' .. m)\n"
  "fails('authorizations.list: limit must be an integer from 1 to 100 (got 1.5)',\n"
  "  core.build_request('authorizations.list', { limit = 1.5 }))\n"
  "fails('authorizations.list: limit must be an integer from 1 to 100 (got string)',\n"
  "  core.build_request('authorizations.list', { limit = '10' }))\n"
  "fails('authorization_routes.list: provider_npi is required', core.build_request('authorization_routes.list', {}))\n"
  "fails(\"unknown route 'authorizations.nope'\", core.build_request('authorizations.nope', {}))\n"
  "fails('health: parameters must be a table (got string)', core.build_request('health', 'x'))\n"
  "fails('parameter names must be strings', core.build_request('health', { 1 }))\n"
  "fails(\"health: unknown parameter 'x'\", core.build_request('health', { x = 1 }))\n"
  "fails('authorizations.create: request.f is a function', core.build_request('authorizations.create',\n"
  "  { provider_npi = '1', request = { f = print }, policy = {} }))\n";

/* What is refused before sending besides parameter types: UTF-8, encodability (with the dotted
 * path), the contract's size limits, caller headers. */
static const char *local_checks =
  "local create = function(extra)\n"
  "  local p = { provider_npi = '1', request = { payer_id = 'p' }, policy = {} }\n"
  "  for k, v in pairs(extra) do p[k] = v end\n"
  "  return core.build_request('authorizations.create', p)\n"
  "end\n"
  "fails('authorizations.create: provider_npi is not valid UTF-8 (byte 2)', create({ provider_npi = 'a\\255' }))\n"
  "fails('authorizations.create: request.payer_id is not valid UTF-8 (byte 1)',\n"
  "  create({ request = { payer_id = '\\192\\175' } }))\n"
  "fails('answers.item[2].answer[1].value_string is not valid UTF-8', create({ answers = { item = {\n"
  "  { link_id = 'a' }, { link_id = 'b', answer = { { value_string = '\\237\\160\\128' } } } } } }))\n"
  "fails('authorizations.list: cursor is not valid UTF-8', core.build_request('authorizations.list', { cursor = '\\255' }))\n"
  "ok(create({ metadata = { note = '\\240\\159\\152\\128 \\244\\143\\191\\191' } }), 'U+1F600 and U+10FFFF pass')\n"
  "fails('metadata.x is infinity', create({ metadata = { x = -math.huge } }))\n"
  "fails('metadata.x is NaN', create({ metadata = { x = 0/0 } }))\n"
  "local t = {}; t[1] = t\n"
  "fails('metadata.list[1] refers back to metadata.list (a cycle)', create({ metadata = { list = t } }))\n"
  "fails('metadata[\"a.b\"] is a function', create({ metadata = { ['a.b'] = print } }))\n"
  "fails('metadata has the key 1.5', create({ metadata = { [1.5] = 1 } }))\n"
  "fails('metadata has a key of type boolean', create({ metadata = { [true] = 1 } }))\n"
  "local deep = {}; local node = deep\n"
  "for _ = 1, 250 do node.x = {}; node = node.x end\n"
  "fails('is nested deeper than 200 levels', create({ metadata = deep }))\n"
  "local shared = { 1 }\n"
  "ok(create({ metadata = { a = shared, b = shared } }), 'a shared table is not a cycle')\n"
  "ok(create({ metadata = { note = string.rep('x', 16384 - 11) } }), 'metadata of exactly 16 KiB')\n"
  "fails('metadata is 16385 bytes as JSON; the API accepts at most 16 KiB',\n"
  "  create({ metadata = { note = string.rep('x', 16384 - 10) } }))\n"
  "fails('bytes as JSON; the API accepts at most 1 MiB (1048576 bytes)',\n"
  "  create({ answers = { item = { { link_id = 'a', answer = { { value_string = string.rep('x', 1048576) } } } } } }))\n"
  "for _, limit in ipairs({ 0, 101, -1 }) do\n"
  "  fails('payers.list: limit must be an integer from 1 to 100 (got ' .. limit .. ')',\n"
  "    core.build_request('payers.list', { limit = limit }))\n"
  "end\n"
  "ok(core.build_request('payers.list', { limit = 100 }), 'limit 100')\n"
  "local r = assert(core.build_request('payers.list', {}, { ['X-Trace'] = 'a\\tb', ['x-other'] = 'c' }))\n"
  "eq(r.headers['X-Trace'], 'a\\tb', 'extra header added'); eq(r.headers['x-other'], 'c')\n"
  "eq(r.headers.Accept, 'application/json', 'own headers kept')\n"
  "r = assert(core.build_request('authorizations.cancel', { authorization_id = 'a', if_match = 1, reason = 'x' },\n"
  "  { ['content-type'] = 'application/json; charset=utf-8', ['IF-MATCH'] = '\"2\"' }))\n"
  "eq(r.headers['Content-Type'], nil, 'the caller replaces Content-Type')\n"
  "eq(r.headers['content-type'], 'application/json; charset=utf-8')\n"
  "eq(r.headers['If-Match'], nil); eq(r.headers['IF-MATCH'], '\"2\"', 'one If-Match')\n"
  "fails(\"payers.list: extra_headers['X-T'] must not contain CR, LF or NUL\",\n"
  "  core.build_request('payers.list', {}, { ['X-T'] = 'a\\r\\nB: c' }))\n"
  "fails(\"extra_headers['X-T'] must not contain control characters\",\n"
  "  core.build_request('payers.list', {}, { ['X-T'] = 'a\\1' }))\n"
  "fails(\"extra_headers['A:b'] is not an HTTP header name\", core.build_request('payers.list', {}, { ['A:b'] = 'v' }))\n"
  "fails(\"extra_headers['AuThOrIzAtIoN'] cannot be set\",\n"
  "  core.build_request('payers.list', {}, { AuThOrIzAtIoN = 'Bearer x' }))\n"
  "fails('extra_headers must be a table', core.build_request('payers.list', {}, 'x'))\n"
  "eq(core.check_headers({ ['Content-Type'] = 'application/pdf' }, 'upload.headers'), true)\n"
  "local v, kind, m = core.check_headers({ A = '\\n' }, 'upload.headers')\n"
  "eq(kind, 'invalid_argument', 'the failure shape')\n"
  "fails(\"upload.headers['A'] must not contain\", v, m)\n";

static const char *if_match =
  "for _, v in ipairs({ 17, 17.0, '17', '\"17\"' }) do\n"
  "  eq(core.quote_if_match(v), '\"17\"', 'quote_if_match(' .. tostring(v) .. ')')\n"
  "end\n"
  "eq(core.quote_if_match(1), '\"1\"'); eq(core.quote_if_match('123456789012'), '\"123456789012\"')\n"
  "for _, v in ipairs({ 0, -1, 1.5, 'abc', 'W/\"17\"', '017', '\"017\"', '', '\"\"', '17 ', '1,2',\n"
  "                     '\"17', '0', true, {} }) do\n"
  "  local q, kind, m = core.quote_if_match(v)\n"
  "  eq(kind, 'invalid_argument', 'the failure shape')\n"
  "  fails('if_match must be', q, m, 'quote_if_match(' .. tostring(v) .. ')')\n"
  "end\n"
  "local q, _, m = core.quote_if_match(nil)\n"
  "fails('if_match must be', q, m, 'quote_if_match(nil)')\n";

static const char *routes_table =
  "local n = 0\n"
  "for name, r in pairs(core.routes) do\n"
  "  n = n + 1\n"
  "  ok(type(r.method) == 'string' and type(r.path) == 'string' and type(r.params) == 'table',\n"
  "    'route ' .. name)\n"
  "  if r.method == 'POST' then\n"
  "    local has = false\n"
  "    for _, p in ipairs(r.params) do if p == 'idempotency_key' then has = true end end\n"
  "    ok(has, name .. ' accepts idempotency_key')\n"
  "  end\n"
  "end\n"
  "eq(n, 30, 'every endpoint of the contract index but the upload')\n"
  "eq(core.routes['authorizations.answers.patch'].method, 'PATCH')\n"
  "eq(core.routes['authorizations.confirm'].path, '/v1/prior-authorizations/{authorization_id}/confirm')\n"
  "deep_eq(core.routes['authorizations.list'].params,\n"
  "  { 'status', 'provider_npi', 'external_case_id', 'limit', 'cursor' }, 'list params')\n"
  "deep_eq(core.routes['files.create'].required, { 'file_name', 'content_type', 'purpose' })\n"
  "eq(core.routes['authorizations.list'].paginated, true, 'authorizations.list paginates')\n"
  "eq(core.routes['authorization_routes.list'].paginated, false, 'routes list: unpaginated')\n"
  "for _, name in ipairs({ 'health', 'authorizations.create', 'authorizations.list',\n"
  "  'authorizations.retrieve', 'authorizations.confirm', 'authorizations.cancel',\n"
  "  'authorizations.answers.patch', 'authorizations.attachments.create',\n"
  "  'authorizations.attachments.list', 'authorizations.attachments.delete',\n"
  "  'authorization_routes.list', 'authorization_routes.resolve', 'files.create', 'files.complete',\n"
  "  'files.retrieve', 'files.download', 'payers.list', 'payers.retrieve', 'providers.list',\n"
  "  'providers.retrieve', 'authorizations.live_session.retrieve',\n"
  "  'authorizations.live_session.create_access_grant', 'authorizations.manual_handoffs.create',\n"
  "  'authorizations.manual_handoffs.retrieve', 'authorizations.manual_handoffs.create_access_grant',\n"
  "  'authorizations.manual_handoffs.complete', 'authorizations.manual_handoffs.unable_to_complete',\n"
  "  'authorizations.manual_handoffs.revoke', 'sandbox.scenarios.list', 'sandbox.scenarios.retrieve' }) do\n"
  "  ok(core.routes[name], 'route ' .. name .. ' present')\n"
  "end\n";

/* Every {placeholder} in a template names a path parameter of the route, and vice versa. */
static void route_templates(void) {
  int i;
  for (i = 0; i < collate_route_count; i++) {
    const struct collate_route *r = &collate_routes[i];
    const struct collate_param *p;
    int placeholders = 0, path_params = 0;
    const char *s;
    for (s = strchr(r->path, '{'); s != NULL; s = strchr(s + 1, '{')) {
      char name[64];
      const char *close = strchr(s, '}');
      size_t len = close ? (size_t)(close - s - 1) : 0;
      CHECK(close != NULL && len < sizeof name);
      if (close == NULL || len >= sizeof name) break;
      memcpy(name, s + 1, len);
      name[len] = '\0';
      p = collate_route_param(r, name);
      if (p == NULL || p->loc != COLLATE_LOC_PATH)
        fprintf(stderr, "route %s: placeholder {%s} is not a path parameter\n", r->name, name);
      CHECK(p != NULL && p->loc == COLLATE_LOC_PATH);
      placeholders++;
    }
    for (p = r->params; p->name != NULL; p++)
      if (p->loc == COLLATE_LOC_PATH) path_params++;
    CHECK(placeholders == path_params);
  }
}

int main(void) {
  lua_State *L;
  route_templates();
  L = harness_state();
  harness_lua(L, "paths", paths);
  harness_lua(L, "queries", queries);
  harness_lua(L, "create", create);
  harness_lua(L, "posts", posts);
  harness_lua(L, "confirm", confirm);
  harness_lua(L, "errors", errors);
  harness_lua(L, "local_checks", local_checks);
  harness_lua(L, "if_match", if_match);
  harness_lua(L, "routes", routes_table);
  lua_close(L);
  return harness_finish("c_request");
}
