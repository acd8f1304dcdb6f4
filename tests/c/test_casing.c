/* snake_case <-> camelCase keys, free-form maps, integral numbers and null. */
#include <stdio.h>
#include <string.h>

#include "casing.h"
#include "harness.h"

static void c_level(void) {
  char out[128];
  collate_snake_to_camel("accepted_review_snapshot_id", 27, out);
  CHECK_STR(out, "acceptedReviewSnapshotId");
  collate_snake_to_camel("link_id", 7, out);
  CHECK_STR(out, "linkId");
  collate_snake_to_camel("value_string", 12, out);
  CHECK_STR(out, "valueString");
  collate_snake_to_camel("status", 6, out);
  CHECK_STR(out, "status");
  collate_snake_to_camel("_private", 8, out);
  CHECK_STR(out, "_private");
  collate_snake_to_camel("line_1", 6, out);
  CHECK_STR(out, "line_1");
  collate_camel_to_snake("acceptedReviewSnapshotId", 24, out);
  CHECK_STR(out, "accepted_review_snapshot_id");
  collate_camel_to_snake("nextCursor", 10, out);
  CHECK_STR(out, "next_cursor");
  collate_camel_to_snake("id", 2, out);
  CHECK_STR(out, "id");
}

static const char *to_wire =
  "local input = {\n"
  "  accepted_review_snapshot_id = 'rev_1',\n"
  "  status = 'requires_action',\n"
  "  answers = { item = { { link_id = 'coverage.member_id', answer = {\n"
  "    { value_string = 'snake_value_kept' } } } } },\n"
  "  metadata = { external_case_id = 'case-9', my_key = { inner_key = 1 }, camelKey = 2 },\n"
  "  headers = { ['Content-Type'] = 'application/pdf', x_custom_header = 'v' },\n"
  "  details = { some_key = 1 },\n"
  "  summary = { a_b = true },\n"
  "  list_of = { 'a_b', 'c_d' },\n"
  "}\n"
  "local w = core.to_wire(input)\n"
  "deep_eq(w, {\n"
  "  acceptedReviewSnapshotId = 'rev_1',\n"
  "  status = 'requires_action',\n"
  "  answers = { item = { { linkId = 'coverage.member_id', answer = {\n"
  "    { valueString = 'snake_value_kept' } } } } },\n"
  "  metadata = { externalCaseId = 'case-9', my_key = { inner_key = 1 }, camelKey = 2 },\n"
  "  headers = { ['Content-Type'] = 'application/pdf', x_custom_header = 'v' },\n"
  "  details = { some_key = 1 },\n"
  "  summary = { a_b = true },\n"
  "  listOf = { 'a_b', 'c_d' },\n"
  "}, 'to_wire')\n"
  "ok(w ~= input and w.metadata ~= input.metadata, 'new tables')\n"
  "eq(input.accepted_review_snapshot_id, 'rev_1', 'input untouched')\n"
  "eq(input.acceptedReviewSnapshotId, nil, 'input not mutated')\n"
  "eq(input.metadata.external_case_id, 'case-9', 'input metadata untouched')\n"
  "-- free-form maps deeper down keep their keys too\n"
  "deep_eq(core.to_wire({ request = { metadata = { a_b = 1 }, service_code = {} } }),\n"
  "  { request = { metadata = { a_b = 1 }, serviceCode = {} } }, 'nested metadata')\n"
  "eq(core.to_wire('a_b'), 'a_b', 'non-table passes through')\n"
  "eq(core.to_wire(17.0), 17.0, 'to_wire leaves numbers alone')\n";

static const char *from_wire =
  "local null = require('cjson').null\n"
  "local wire = {\n"
  "  id = 'auth_1', version = 17.0, ratio = 2.5, nextAction = null,\n"
  "  nextAction2 = { type = 'approve_submission', covers = { reviewSnapshotId = 'rev_1',\n"
  "    requirementsVersion = 3.0 } },\n"
  "  metadata = { externalCaseId = 'c1', someKey = { innerKey = 4.0, gone = null }, n = null },\n"
  "  details = { expectedVersion = 2.0, actualVersion = 3.0 },\n"
  "  upload = { headers = { ['Content-Type'] = 'image/png' } },\n"
  "  reviewSnapshot = { summary = { payerName = 'X', count = 1.0 } },\n"
  "  items = { 1.0, null, 'camelValue' },\n"
  "  pagination = { nextCursor = null },\n"
  "  big = 2^53,\n"
  "  negative = -4.0,\n"
  "}\n"
  "local v = core.from_wire(wire)\n"
  "eq(v.id, 'auth_1', 'id')\n"
  "eq(v.version, 17, 'integral float -> integer')\n"
  "eq(math.type(v.version), 'integer', 'version is an integer')\n"
  "eq(v.ratio, 2.5, '2.5 stays a float')\n"
  "eq(v.next_action, nil, 'null dropped from objects')\n"
  "ok(v.nextAction == nil, 'no camel key left')\n"
  "eq(v.next_action2.covers.review_snapshot_id, 'rev_1', 'nested keys')\n"
  "eq(v.next_action2.covers.requirements_version, 3, 'nested integer')\n"
  "eq(v.next_action2.type, 'approve_submission', 'values never converted')\n"
  "eq(v.metadata.external_case_id, 'c1', 'metadata.externalCaseId converted')\n"
  "eq(v.metadata.externalCaseId, nil, 'no wire alias left in metadata')\n"
  "eq(v.metadata.someKey.innerKey, 4, 'metadata keys verbatim at any depth, numbers normalised')\n"
  "eq(math.type(v.metadata.someKey.innerKey), 'integer', 'integer inside free-form map')\n"
  "ok(v.metadata.some_key == nil, 'metadata keys not converted')\n"
  "eq(v.metadata.n, nil, 'null dropped inside metadata')\n"
  "eq(v.details.expectedVersion, 2, 'details verbatim')\n"
  "eq(v.upload.headers['Content-Type'], 'image/png', 'headers verbatim')\n"
  "eq(v.review_snapshot.summary.payerName, 'X', 'summary verbatim')\n"
  "eq(v.review_snapshot.summary.count, 1, 'summary integer')\n"
  "eq(#v.items, 3, 'array length kept')\n"
  "eq(v.items[1], 1, 'array integer')\n"
  "eq(v.items[2], null, 'null kept in arrays')\n"
  "eq(v.items[3], 'camelValue', 'string value in array untouched')\n"
  "eq(v.pagination.next_cursor, nil, 'next_cursor null -> absent')\n"
  "eq(v.big, 9007199254740992, 'big integral float')\n"
  "eq(v.negative, -4, 'negative integral')\n"
  "eq(wire.version, 17.0, 'input untouched')\n"
  "eq(wire.nextAction, null, 'input null kept')\n"
  "eq(core.from_wire(5.0), 5, 'scalar normalised')\n"
  "eq(core.from_wire(1e300), 1e300, 'huge float stays float')\n"
  "-- round trip of the names the contract uses\n"
  "for _, k in ipairs({ 'accepted_review_snapshot_id', 'link_id', 'value_string', 'provider_npi',\n"
  "                     'next_cursor', 'download_url', 'size_bytes' }) do\n"
  "  local w = core.to_wire({ [k] = 1 })\n"
  "  local wk = next(w)\n"
  "  eq(next(core.from_wire(w)), k, 'round trip of ' .. k .. ' via ' .. wk)\n"
  "end\n"
  "-- a cycle is an error, not a crash\n"
  "local cyc = {}; cyc.self = cyc\n"
  "local okc, err = pcall(core.to_wire, cyc)\n"
  "ok(not okc and tostring(err):find('nested', 1, true), 'cycle reported: ' .. tostring(err))\n";

int main(void) {
  lua_State *L;
  c_level();
  L = harness_state();
  harness_lua(L, "to_wire", to_wire);
  harness_lua(L, "from_wire", from_wire);
  lua_close(L);
  return harness_finish("c_casing");
}
