/* libcollate_preload_here_only.so: listed last in LD_PRELOAD after libasan and libubsan, for a
 * host that is not ours (luajit, nginx) loading the sanitized collate.core. By the time its
 * constructor runs the loader has mapped the runtime into this process; it then takes
 * LD_PRELOAD out of the environment, so the host's children (the curl and openssl command-line
 * tools the test support spawns) start without ASan: curl under a preloaded ASan hangs on its
 * first request. */
#include <stdlib.h>

__attribute__((constructor)) static void collate_preload_here_only(void) {
  unsetenv("LD_PRELOAD");
}
