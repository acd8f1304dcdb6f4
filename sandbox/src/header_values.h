#ifndef COLLATE_SANDBOX_HEADER_VALUES_H
#define COLLATE_SANDBOX_HEADER_VALUES_H

#include <microhttpd.h>
#include <stddef.h>

typedef void (*header_fn)(void *cls, const char *key, size_t key_size, const char *value,
                          size_t value_size);

/* Each request header in order, its value whole up to its line end (NULs included, see
 * header_values.c); method and version are the access handler's (they locate the header block). */
void header_values(struct MHD_Connection *c, const char *method, const char *version,
                   header_fn fn, void *cls);

#endif
