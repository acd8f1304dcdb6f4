#ifndef COLLATE_SANDBOX_INTERNAL_H
#define COLLATE_SANDBOX_INTERNAL_H

/* Shared by the parts of the C front: the server (http_front.c, sandbox_server.c), the Lua bridge
 * (lua_bridge.c), connection telemetry (telemetry.c) and fault effects (effects.c). */

#include "sandbox_server.h"
#include "telemetry.h"

#include <lua.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Bodies up to this size are handed to the app whole; one byte more tells it "too large". The
 * app's precheck (lua_bridge.c) lowers it per route, from the headers. */
#define BODY_LIMIT ((size_t)32 * 1024 * 1024 + 1)
/* A request announcing a body above this size (or a chunked one) is prechecked by the app
 * before any byte of the body is read; smaller ones are read first (bounded by this). */
#define PRECHECK_MIN ((unsigned long long)16 * 1024)
/* A connection keeps its body buffer between requests unless it grew beyond this. */
#define BODY_KEEP ((size_t)256 * 1024)

struct collate_sandbox {
  struct MHD_Daemon *daemon;
  lua_State *L;
  int app_ref;                 /* the app object, LUA_NOREF until new() succeeded */
  pthread_mutex_t lua_lock;    /* one thread at a time in L */
  pthread_mutex_t stop_lock;   /* guards stopping, for interruptible waits */
  pthread_cond_t stop_cond;
  int stopping;
  int log_level;
  unsigned short port;
  uint64_t rng;                /* request ids of the front's own answers; under lua_lock */
  struct telemetry tm;         /* connection counters (GET /_sandbox/connections) */
  struct delayer *delayer;     /* resumes delayed connections when due (effects.c) */
  pthread_t saver;             /* saves the state file about once a second when dirty */
  int saver_started;
};

/* Per connection, reused by every request on it (keep-alive), so a plain GET allocates nothing
 * here. MHD serves one request at a time per connection. */
struct conn {
  char *uri;                   /* raw request target as received: path?query */
  size_t uri_cap;
  size_t path_len;             /* bytes of uri before '?' */
  const char *query;           /* into uri; "" when none */
  char *body;
  size_t body_len, body_cap;
  size_t body_size;            /* bytes received, also beyond the limit */
  size_t body_limit;           /* bytes kept at most: the route's limit + 1 (too_large beyond) */
  int too_large;
  int skip_body;               /* the answer does not depend on the body: none of it is read */
  int started;                 /* the access handler has seen this request */
  int delayed;                 /* a delay effect has run: handled again with fault_applied */
  int api;                     /* counted in api_open: a request outside /_sandbox/ came on it */
  int busy;                    /* counted in busy_open: such a request is being served */
};

/* What the app asked the front to do with a request (effects.c carries it out). */
enum effect { EFFECT_NONE, EFFECT_RESET, EFFECT_TRUNCATE, EFFECT_DELAY };

/* One request's answer, built by the Lua bridge under lua_lock. */
struct reply {
  struct collate_sandbox *s;
  struct conn *cn;
  struct MHD_Connection *c;
  const char *method;          /* the access handler's: into MHD's buffer (header_values.c) */
  const char *version;
  const char *fault_applied;   /* "delay" on the second pass of a delayed request */
  struct MHD_Response *resp;
  int status;
  enum effect effect;
  long ms;                     /* EFFECT_DELAY */
};

/* lua_bridge.c */
int bridge_open(struct collate_sandbox *s, char *err, size_t errlen);
int bridge_new_app(struct collate_sandbox *s, const struct collate_sandbox_options *o,
                   const char *base_url, char *err, size_t errlen);
/* app:precheck from the headers (announced: Content-Length, -1 when chunked): -1 when the
 * answer cannot depend on the body, else the most body bytes the route accepts. Takes lua_lock. */
long long bridge_precheck(struct reply *r, long long announced);
/* app:handle for r; always leaves r->resp set unless r->effect is RESET or DELAY (a failure of
 * the app itself gives the one literal 500 envelope). Takes lua_lock. */
void bridge_handle(struct reply *r);
void bridge_save(struct collate_sandbox *s, int force);
void bridge_close(struct collate_sandbox *s);

/* http_front.c: the libmicrohttpd callbacks */
enum MHD_Result front_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **req_cls);
void *front_on_uri(void *cls, const char *uri, struct MHD_Connection *c);
void front_on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                        enum MHD_RequestTerminationCode toe);
void front_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe);

/* effects.c */
struct MHD_Response *effect_truncated_response(const char *body, size_t len, size_t bytes);
/* The delay effect without holding a thread: suspends c (from its access handler) and resumes
 * it after ms; -1 (c not suspended: handle it again now) when the server is stopping. */
int effect_delay(struct collate_sandbox *s, struct MHD_Connection *c, long ms);
struct delayer *delayer_start(char *err, size_t errlen);
/* resumes every delayed connection at once and joins the thread; later delays do not wait */
void delayer_stop(struct delayer *d);
void delayer_free(struct delayer *d);

#endif
