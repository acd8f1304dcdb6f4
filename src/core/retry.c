/* Retry policy (conventions 3, contract 7.6): which statuses to retry and how long to wait. */
#include <ctype.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "random.h"
#include "retry.h"

int collate_status_retryable(int status) {
  switch (status) {
    case 408: case 429: case 500: case 502: case 503: case 504: return 1;
    default: return 0;
  }
}

double collate_backoff_base(long long attempt) {
  double d;
  if (attempt < 1) attempt = 1;
  if (attempt > 5) return 8.0; /* 0.5 * 2^4 = 8 */
  d = 0.5 * (double)(1LL << (attempt - 1));
  return d > 8.0 ? 8.0 : d;
}

static void trim(const char **s, size_t *len) {
  while (*len > 0 && isspace((unsigned char)**s)) { (*s)++; (*len)--; }
  while (*len > 0 && isspace((unsigned char)(*s)[*len - 1])) (*len)--;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static long long days_from_civil(long long y, int m, int d) {
  long long era, yoe, doy, doe;
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int month_index(const char *s) {
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int i;
  for (i = 0; i < 12; i++)
    if (strncmp(s, months[i], 3) == 0) return i + 1;
  return 0;
}

static int valid_fields(int year, int mon, int day, int hh, int mm, int ss) {
  return year >= 1970 && year <= 9999 && mon >= 1 && mon <= 12 && day >= 1 && day <= 31 &&
         hh >= 0 && hh <= 23 && mm >= 0 && mm <= 59 && ss >= 0 && ss <= 60;
}

int collate_parse_http_date(const char *s, size_t len, double *out) {
  char buf[64], mon[4], wday[16], tail[8];
  int day, year, hh, mm, ss, m, n = 0;
  if (len == 0 || len >= sizeof buf) return 0;
  memcpy(buf, s, len);
  buf[len] = '\0';
  mon[0] = wday[0] = tail[0] = '\0';
  /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
  if (sscanf(buf, "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n", wday, &day, mon, &year, &hh, &mm, &ss,
             tail, &n) == 8 && n == (int)len && strcmp(tail, "GMT") == 0) {
    /* accepted */
  } else if (n = 0, sscanf(buf, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d %3s%n", wday, &day, mon,
                           &year, &hh, &mm, &ss, tail, &n) == 8 &&
             n == (int)len && strcmp(tail, "GMT") == 0) {
    /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT; two-digit years per RFC 9110 are 19xx / 20xx */
    year += year < 70 ? 2000 : 1900;
  } else if (n = 0, sscanf(buf, "%3s %3s %2d %2d:%2d:%2d %4d%n", wday, mon, &day, &hh, &mm, &ss,
                           &year, &n) == 7 && n == (int)len) {
    /* asctime: Sun Nov  6 08:49:37 1994 */
  } else {
    return 0;
  }
  m = month_index(mon);
  if (m == 0 || strlen(mon) != 3 || !valid_fields(year, m, day, hh, mm, ss)) return 0;
  *out = (double)(days_from_civil(year, m, day) * 86400LL + hh * 3600LL + mm * 60LL + ss);
  return 1;
}

int collate_parse_retry_after(const char *s, size_t len, double now, double *out) {
  size_t i;
  trim(&s, &len);
  if (len == 0) return 0;
  if (isdigit((unsigned char)s[0])) {
    double v = 0;
    for (i = 0; i < len; i++) {
      if (!isdigit((unsigned char)s[i])) return 0;
      v = v * 10 + (s[i] - '0');
      if (v > 1e12) return 0;
    }
    *out = v;
    return 1;
  }
  {
    double at;
    if (!collate_parse_http_date(s, len, &at)) return 0;
    *out = at > now ? at - now : 0;
    return 1;
  }
}

int collate_parse_retry_after_ms(const char *s, size_t len, double *out) {
  size_t i;
  double v = 0, scale = 0;
  int digits = 0;
  trim(&s, &len);
  for (i = 0; i < len; i++) {
    if (isdigit((unsigned char)s[i])) {
      digits++;
      if (scale == 0) {
        v = v * 10 + (s[i] - '0');
        if (v > 1e15) return 0;
      } else {
        v += (s[i] - '0') * scale;
        scale /= 10;
      }
    } else if (s[i] == '.' && scale == 0) {
      scale = 0.1;
    } else {
      return 0;
    }
  }
  if (digits == 0) return 0;
  *out = v / 1000.0;
  return 1;
}

/* core.retryable(status, body_retryable): status nil means a transport failure (retried). */
int collate_l_retryable(lua_State *L) {
  int status;
  if (lua_isnoneornil(L, 1)) {
    lua_pushboolean(L, 1);
    return 1;
  }
  status = (int)luaL_checkinteger(L, 1);
  if (!collate_status_retryable(status)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_pushboolean(L, !(lua_type(L, 2) == LUA_TBOOLEAN && !lua_toboolean(L, 2)));
  return 1;
}

/* core.transport_retryable(kind): a failure without a response (perform's nil, kind, message).
 * Connection failures and timeouts may succeed on a retry; TLS failures (certificate, CA file),
 * local file errors and unusable URLs would fail the same way again. */
int collate_l_transport_retryable(lua_State *L) {
  const char *kind = luaL_optstring(L, 1, "connection");
  lua_pushboolean(L, strcmp(kind, "connection") == 0 || strcmp(kind, "timeout") == 0);
  return 1;
}

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads headers[name] as a string into s/len; 0 when absent or not a string/number. */
static int header_value(lua_State *L, int headers, const char *name, const char **s, size_t *len) {
  lua_getfield(L, headers, name);
  if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
    *s = lua_tolstring(L, -1, len); /* stays on the stack, so the pointer stays valid */
    return 1;
  }
  lua_pop(L, 1);
  return 0;
}

/* core.backoff(attempt, headers) -> seconds, or nil when the server asks for more than 60 s. */
int collate_l_backoff(lua_State *L) {
  long long attempt = (long long)luaL_checkinteger(L, 1);
  double wait;
  const char *s;
  size_t len;
  if (lua_type(L, 2) == LUA_TTABLE) {
    int have = 0;
    if (header_value(L, 2, "retry-after-ms", &s, &len))
      have = collate_parse_retry_after_ms(s, len, &wait);
    if (!have && header_value(L, 2, "retry-after", &s, &len))
      have = collate_parse_retry_after(s, len, wall_now(), &wait);
    if (have) {
      if (wait > COLLATE_RETRY_AFTER_MAX) {
        lua_pushnil(L);
        return 1;
      }
      lua_pushnumber(L, wait);
      return 1;
    }
  } else if (!lua_isnoneornil(L, 2)) {
    return luaL_argerror(L, 2, "headers must be a table or nil");
  }
  wait = collate_backoff_base(attempt) * (0.75 + 0.25 * collate_random_unit());
  lua_pushnumber(L, wait);
  return 1;
}

/* core.parse_retry_after(value, now) -> seconds >= 0, or nil. now defaults to the wall clock. */
int collate_l_parse_retry_after(lua_State *L) {
  size_t len;
  const char *s;
  double now, out;
  if (lua_type(L, 1) != LUA_TSTRING && lua_type(L, 1) != LUA_TNUMBER) {
    lua_pushnil(L);
    return 1;
  }
  s = lua_tolstring(L, 1, &len);
  now = lua_isnoneornil(L, 2) ? wall_now() : (double)luaL_checknumber(L, 2);
  if (!collate_parse_retry_after(s, len, now, &out)) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushnumber(L, out);
  return 1;
}
