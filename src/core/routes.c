/* The API's endpoints as data (contract section 2.0): one row per SDK method. The order of
 * params is the order of the query string and of validation messages. */
#include <string.h>

#include "core.h"
#include "routes.h"

#define PATH(n) {n, COLLATE_LOC_PATH, COLLATE_T_STRING, 1, 0, 0}
#define QSTR(n) {n, COLLATE_LOC_QUERY, COLLATE_T_STRING, 0, 0, 0}
#define QREQ(n) {n, COLLATE_LOC_QUERY, COLLATE_T_STRING, 1, 0, 0}
#define LIMIT {"limit", COLLATE_LOC_QUERY, COLLATE_T_INTEGER, 0, 1, 100} /* contract 1.8 */
#define CURSOR QSTR("cursor")
#define BSTR(n) {n, COLLATE_LOC_BODY, COLLATE_T_STRING, 1, 0, 0}
#define BSTR_OPT(n) {n, COLLATE_LOC_BODY, COLLATE_T_STRING, 0, 0, 0}
/* strings with the contract's length bounds, in characters (2.6, 2.8, 2.27-2.29) */
#define BSTR_OPT_MAX(n, max) {n, COLLATE_LOC_BODY, COLLATE_T_STRING, 0, 0, max}
#define BSTR_LEN(n, min, max) {n, COLLATE_LOC_BODY, COLLATE_T_STRING, 1, min, max}
#define BTAB(n) {n, COLLATE_LOC_BODY, COLLATE_T_TABLE, 1, 0, 0}
#define BTAB_OPT(n) {n, COLLATE_LOC_BODY, COLLATE_T_TABLE, 0, 0, 0}
#define IF_MATCH {"if_match", COLLATE_LOC_IF_MATCH, COLLATE_T_STRING, 1, 0, 0}
#define IDEM {"idempotency_key", COLLATE_LOC_IDEMPOTENCY, COLLATE_T_STRING, 0, 0, 0}
#define END {NULL, 0, 0, 0, 0, 0}

#define AUTH "/v1/prior-authorizations/{authorization_id}"
#define HANDOFF AUTH "/manual-handoffs/{handoff_id}"

const struct collate_route collate_routes[] = {
  {"health", "GET", "/health", 0, {END}},
  {"authorizations.create", "POST", "/v1/prior-authorizations", 1,
   {BSTR("provider_npi"), BTAB("request"), BTAB("policy"), BTAB_OPT("answers"),
    BTAB_OPT("metadata"), IDEM, END}},
  {"authorizations.list", "GET", "/v1/prior-authorizations", 0,
   {QSTR("status"), QSTR("provider_npi"), QSTR("external_case_id"), LIMIT, CURSOR, END}},
  {"authorizations.retrieve", "GET", AUTH, 0, {PATH("authorization_id"), END}},
  {"authorizations.confirm", "POST", AUTH "/confirm", 0,
   {PATH("authorization_id"), IF_MATCH,
    {"request", COLLATE_LOC_BODY_ROOT, COLLATE_T_TABLE, 0, 0, 0},
    BSTR_OPT("accepted_review_snapshot_id"), IDEM, END}},
  {"authorizations.cancel", "POST", AUTH "/cancel", 0,
   {PATH("authorization_id"), IF_MATCH, BSTR_OPT_MAX("reason", 500), IDEM, END}},
  {"authorizations.answers.patch", "PATCH", AUTH "/answers", 0,
   {PATH("authorization_id"), IF_MATCH, BTAB("answers"), END}},
  {"authorizations.attachments.create", "POST", AUTH "/attachments", 0,
   {PATH("authorization_id"), IF_MATCH, BSTR("file_id"), BTAB("document_types"),
    BSTR_OPT_MAX("description", 1000), IDEM, END}},
  {"authorizations.attachments.list", "GET", AUTH "/attachments", 0,
   {PATH("authorization_id"), LIMIT, CURSOR, END}},
  {"authorizations.attachments.delete", "DELETE", AUTH "/attachments/{attachment_id}", 0,
   {PATH("authorization_id"), PATH("attachment_id"), IF_MATCH, END}},
  {"authorization_routes.list", "GET", "/v1/prior-authorization-routes", 0,
   {QREQ("provider_npi"), END}},
  {"authorization_routes.resolve", "POST", "/v1/prior-authorization-routes/resolve", 0,
   {BSTR("provider_npi"), BSTR("payer_id"), BSTR("coverage_state"), BSTR("request_type"),
    BTAB("service_code"), IDEM, END}},
  {"files.create", "POST", "/v1/files", 0,
   {BSTR("file_name"), BSTR("content_type"), BSTR("purpose"), IDEM, END}},
  {"files.complete", "POST", "/v1/files/{file_id}/complete", 0, {PATH("file_id"), IDEM, END}},
  {"files.retrieve", "GET", "/v1/files/{file_id}", 0, {PATH("file_id"), END}},
  {"files.download", "GET", "/v1/files/{file_id}/download", 0, {PATH("file_id"), END}},
  {"payers.list", "GET", "/v1/payers", 0, {LIMIT, CURSOR, END}},
  {"payers.retrieve", "GET", "/v1/payers/{payer_id}", 0, {PATH("payer_id"), END}},
  {"providers.list", "GET", "/v1/providers", 0, {LIMIT, CURSOR, END}},
  {"providers.retrieve", "GET", "/v1/providers/{provider_npi}", 0, {PATH("provider_npi"), END}},
  {"authorizations.live_session.retrieve", "GET", AUTH "/live-session", 0,
   {PATH("authorization_id"), END}},
  {"authorizations.live_session.create_access_grant", "POST", AUTH "/live-session/access-grants",
   0, {PATH("authorization_id"), IDEM, END}},
  {"authorizations.manual_handoffs.create", "POST", AUTH "/manual-handoffs", 0,
   {PATH("authorization_id"), IF_MATCH, BSTR_OPT("accepted_review_snapshot_id"), IDEM, END}},
  {"authorizations.manual_handoffs.retrieve", "GET", HANDOFF, 0,
   {PATH("authorization_id"), PATH("handoff_id"), END}},
  {"authorizations.manual_handoffs.create_access_grant", "POST", HANDOFF "/access-grants", 0,
   {PATH("authorization_id"), PATH("handoff_id"), IDEM, END}},
  {"authorizations.manual_handoffs.complete", "POST", HANDOFF "/complete", 0,
   {PATH("authorization_id"), PATH("handoff_id"), IF_MATCH, BSTR("reported_outcome"),
    BSTR_OPT_MAX("observed_reference_number", 100), BSTR_OPT_MAX("operator_notes", 2000), IDEM,
    END}},
  {"authorizations.manual_handoffs.unable_to_complete", "POST", HANDOFF "/unable-to-complete", 0,
   {PATH("authorization_id"), PATH("handoff_id"), IF_MATCH, BSTR("reason"),
    BSTR_OPT_MAX("operator_notes", 2000), IDEM, END}},
  {"authorizations.manual_handoffs.revoke", "POST", HANDOFF "/revoke", 0,
   {PATH("authorization_id"), PATH("handoff_id"), IF_MATCH, BSTR_LEN("reason", 1, 500), BSTR_OPT("notes"),
    IDEM, END}},
  {"sandbox.scenarios.list", "GET", "/v1/sandbox/scenarios", 0, {LIMIT, CURSOR, END}},
  {"sandbox.scenarios.retrieve", "GET", "/v1/sandbox/scenarios/{scenario_id}", 0,
   {PATH("scenario_id"), END}},
};

const int collate_route_count = (int)(sizeof collate_routes / sizeof collate_routes[0]);

const struct collate_route *collate_route_find(const char *name) {
  int i;
  for (i = 0; i < collate_route_count; i++)
    if (strcmp(collate_routes[i].name, name) == 0) return &collate_routes[i];
  return NULL;
}

const struct collate_param *collate_route_param(const struct collate_route *r, const char *name) {
  const struct collate_param *p;
  for (p = r->params; p->name != NULL; p++)
    if (strcmp(p->name, name) == 0) return p;
  return NULL;
}

static void push_names(lua_State *L, const struct collate_route *r, int required_only) {
  const struct collate_param *p;
  int n = 0;
  lua_newtable(L);
  for (p = r->params; p->name != NULL; p++) {
    if (required_only && !p->required) continue;
    lua_pushstring(L, p->name);
    lua_rawseti(L, -2, ++n);
  }
}

/* A route paginates when it takes a cursor (contract 1.8). */
int collate_route_paginated(const struct collate_route *r) {
  return collate_route_param(r, "cursor") != NULL;
}

/* core.routes[name] = {method, path, params = {names...}, required = {names...}, paginated} */
void collate_routes_push(lua_State *L) {
  int i;
  lua_createtable(L, 0, collate_route_count);
  for (i = 0; i < collate_route_count; i++) {
    const struct collate_route *r = &collate_routes[i];
    lua_createtable(L, 0, 5);
    lua_pushboolean(L, collate_route_paginated(r));
    lua_setfield(L, -2, "paginated");
    lua_pushstring(L, r->method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, r->path);
    lua_setfield(L, -2, "path");
    push_names(L, r, 0);
    lua_setfield(L, -2, "params");
    push_names(L, r, 1);
    lua_setfield(L, -2, "required");
    lua_setfield(L, -2, r->name);
  }
}
