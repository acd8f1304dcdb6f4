#ifndef COLLATE_REQUEST_H
#define COLLATE_REQUEST_H

#include <stddef.h>

/* Why s cannot be a path-segment ID ("must not be '..'", "must not contain '/'", ...), or NULL
 * when it can. Pure C, for build_request and the fuzz harness. */
const char *collate_path_id_problem(const char *s, size_t len);

#endif
