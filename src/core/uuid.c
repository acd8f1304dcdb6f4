#include <errno.h>
#include <string.h>

#include "core.h"
#include "random.h"

/* core.uuid4() -> "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" */
int collate_l_uuid4(lua_State *L) {
  unsigned char b[16];
  char out[37];
  if (collate_random_bytes(b, sizeof b) != 0)
    return luaL_error(L, "collate: no random bytes from the kernel: %s", strerror(errno));
  collate_uuid4_format(b, out);
  lua_pushlstring(L, out, 36);
  return 1;
}
