/* Key casing (src/core/casing.c): the two converters on raw bytes, each writing into a buffer of
 * exactly the documented size (2 * len + 1) so ASan sees any overrun, and the round trip
 * camel_to_snake(snake_to_camel(k)) == k for keys without upper-case letters; then to_wire and
 * from_wire over a tree decoded from the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "casing.h"
#include "fuzz_support.h"

static const char *check =
  "return function(s)\n"
  "  local v = decode(s, 'normalise')\n"
  "  if v == nil then v = { [s] = { s }, metadata = { [s] = s }, x = { details = { [s] = 1 } } } end\n"
  "  local ok, w = pcall(core.to_wire, v)\n"
  "  assert(ok or type(w) == 'string', 'to_wire raises only with a message')\n"
  "  local ok2, back = pcall(core.from_wire, ok and w or v)\n"
  "  assert(ok2 or type(back) == 'string', 'from_wire raises only with a message')\n"
  "end\n";

static void check_converters(const char *in, size_t len) {
  char *camel = (char *)malloc(2 * len + 1), *snake = (char *)malloc(2 * len + 1);
  char *back;
  size_t c, s, b, i;
  int upper = 0;
  if (camel == NULL || snake == NULL) abort();
  c = collate_snake_to_camel(in, len, camel);
  s = collate_camel_to_snake(in, len, snake);
  if (c > len || camel[c] != '\0' || s > 2 * len || snake[s] != '\0') abort();
  for (i = 0; i < len; i++) upper |= in[i] >= 'A' && in[i] <= 'Z';
  if (!upper) {
    back = (char *)malloc(2 * c + 1);
    if (back == NULL) abort();
    b = collate_camel_to_snake(camel, c, back);
    if (b != len || memcmp(back, in, len) != 0) abort(); /* the round trip lost the key */
    free(back);
  }
  free(camel);
  free(snake);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lua_State *L = fuzz_state("fuzz_casing", check);
  const char *arg = (const char *)data;
  check_converters(arg, size);
  fuzz_check(L, &arg, &size, 1);
  return 0;
}
