#ifndef COLLATE_ROUTES_H
#define COLLATE_ROUTES_H

enum collate_param_loc {
  COLLATE_LOC_PATH,      /* {name} in the path template; required, non-empty string */
  COLLATE_LOC_QUERY,     /* ?camelName=value */
  COLLATE_LOC_BODY,      /* a property of the JSON body (converted with to_wire) */
  COLLATE_LOC_IF_MATCH,  /* If-Match header, quoted */
  COLLATE_LOC_IDEMPOTENCY, /* Idempotency-Key header */
  COLLATE_LOC_BODY_ROOT  /* confirm's request: the whole body as a table */
};

enum collate_param_type { COLLATE_T_STRING, COLLATE_T_TABLE, COLLATE_T_INTEGER };

struct collate_param {
  const char *name;
  unsigned char loc;
  unsigned char type;
  unsigned char required;
  int min, max; /* when max > 0, the contract's bounds: an integer's range, a string's length in
                 * characters */
};

#define COLLATE_MAX_PARAMS 10

struct collate_route {
  const char *name;
  const char *method;
  const char *path; /* template with {param} placeholders */
  unsigned char always_idempotency_key; /* authorizations.create */
  struct collate_param params[COLLATE_MAX_PARAMS]; /* ends at name == NULL */
};

extern const struct collate_route collate_routes[];
extern const int collate_route_count;

const struct collate_route *collate_route_find(const char *name);
const struct collate_param *collate_route_param(const struct collate_route *r, const char *name);
int collate_route_paginated(const struct collate_route *r);

#endif
