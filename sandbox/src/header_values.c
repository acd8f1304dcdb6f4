/* Request headers with their whole values. libmicrohttpd 0.9 keeps a header value as a C string:
 * a NUL sent inside a value ends it early, so "Bearer <key>\0junk" would reach the app as a valid
 * API key. The header block stays in MHD's read buffer, parsed in place: the request line starts
 * at the method, line ends (CR LF or LF) and the colons became NULs, and it ends
 * MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE bytes later. Between the end MHD reports for a value
 * and the next header's name there may only be the zeros of one line end (as many as after the
 * request line); any other byte, or more zeros, was part of the value: the value is handed on up
 * to its line end, NULs included, and the app refuses it like any other bad value. */
#include "header_values.h"

#include <string.h>

#define MAX_CHECKED 128        /* more headers than this are handed on as MHD reports them */

struct header {
  const char *key, *value;
  size_t key_size, value_size;
};

struct collected {
  struct header h[MAX_CHECKED];
  size_t n;
  int overflow;
};

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               size_t key_size, const char *value, size_t value_size)
{
  struct collected *c = cls;
  (void)kind;
  if (c->n == MAX_CHECKED) {
    c->overflow = 1;
    return MHD_NO;
  }
  c->h[c->n++] = (struct header){key, value, key_size, value_size};
  return MHD_YES;
}

struct pass {
  header_fn fn;
  void *cls;
};

static enum MHD_Result pass_on(void *cls, enum MHD_ValueKind kind, const char *key,
                               size_t key_size, const char *value, size_t value_size)
{
  struct pass *p = cls;
  (void)kind;
  p->fn(p->cls, key, key_size, value ? value : "", value ? value_size : 0);
  return MHD_YES;
}

/* The value's length up to its line end, given where the next line starts. */
static size_t whole_length(const struct header *h, const char *next, size_t eol_zeros)
{
  const char *end = h->value + h->value_size;
  if (h->value == NULL || next <= end || (size_t)(next - end) > 4096)
    return h->value_size;  /* not the in-place layout this relies on: as reported */
  const char *last = NULL;
  size_t zeros = 0;
  for (const char *p = end; p < next; p++) {
    if (*p != '\0')
      last = p;
    else
      zeros++;
  }
  if (last != NULL) {   /* bytes after a NUL: the value runs to the last of them */
    return (size_t)(last + 1 - h->value);
  }
  if (zeros > eol_zeros) /* NULs right before the line end */
    return h->value_size + (zeros - eol_zeros);
  return h->value_size;
}

void header_values(struct MHD_Connection *c, const char *method, const char *version,
                   header_fn fn, void *cls)
{
  struct collected all;
  all.n = 0;
  all.overflow = 0;
  MHD_get_connection_values_n(c, MHD_HEADER_KIND, collect, &all);
  if (all.overflow) {  /* rare: all of them as MHD reports them */
    struct pass p = {fn, cls};
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, pass_on, &p);
    return;
  }
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
  const char *block_end = ci && method ? method + ci->header_size : NULL;
  int checked = block_end != NULL && version != NULL && all.n > 0 &&
                version > method && version < block_end;
  size_t eol_zeros = 0;
  if (checked) {  /* the request line's end: 2 for CR LF, 1 for a bare LF */
    const char *p = version + strlen(version);
    while (p < all.h[0].key && *p == '\0') {
      eol_zeros++;
      p++;
    }
    checked = p == all.h[0].key && eol_zeros >= 1 && eol_zeros <= 2;
  }
  for (size_t i = 0; i < all.n; i++) {
    struct header *h = &all.h[i];
    size_t len = h->value_size;
    if (checked) {
      /* after the last header comes the empty line, a second line end */
      const char *next = i + 1 < all.n ? all.h[i + 1].key : block_end;
      len = whole_length(h, next, i + 1 < all.n ? eol_zeros : 2 * eol_zeros);
    }
    fn(cls, h->key, h->key_size, h->value ? h->value : "", h->value ? len : 0);
  }
}
