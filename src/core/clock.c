#include <errno.h>
#include <math.h>
#include <time.h>

#include "core.h"

/* core.sleep(seconds): blocks the thread; EINTR resumes with the time left. */
int collate_l_sleep(lua_State *L) {
  double s = (double)luaL_checknumber(L, 1);
  struct timespec req, rem;
  if (!(s > 0)) return 0; /* negative or NaN: nothing to wait for */
  if (s > 1e9) s = 1e9;
  req.tv_sec = (time_t)s;
  req.tv_nsec = (long)((s - (double)req.tv_sec) * 1e9);
  if (req.tv_nsec > 999999999L) req.tv_nsec = 999999999L;
  while (nanosleep(&req, &rem) != 0 && errno == EINTR) req = rem;
  return 0;
}

/* core.now(): monotonic seconds, for durations and deadlines (not wall time). */
int collate_l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}
