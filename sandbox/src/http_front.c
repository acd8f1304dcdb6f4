#define _GNU_SOURCE /* strcasestr */
/* The HTTP side: libmicrohttpd's callbacks and the per-connection state. A request's URI is
 * copied when it arrives (on_uri), its body buffered up to BODY_LIMIT, then the Lua bridge
 * answers it; effects (effects.c) are carried out here. */
#include "sandbox_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_control(const char *path)
{
  return strncmp(path, "/_sandbox/", 10) == 0;
}

/* A reply for one request on connection cn; the app fills in the rest. */
static void reply_init(struct reply *r, struct collate_sandbox *s, struct conn *cn,
                       struct MHD_Connection *c, const char *method, const char *version)
{
  memset(r, 0, sizeof *r);
  r->s = s;
  r->cn = cn;
  r->c = c;
  r->method = method;
  r->version = version;
}

/* A request stops counting as busy once its answer is decided, before any byte of it leaves:
 * so the server's busy interval lies inside the client's transfer, and busyPeak can never
 * exceed the number of transfers the client had in flight. */
static void busy_done(struct collate_sandbox *s, struct conn *cn)
{
  if (cn && cn->busy) {
    cn->busy = 0;
    telemetry_busy(&s->tm, -1);
  }
}

/* Asks the bridge for the answer and carries out its effect. A delay suspends the connection;
 * MHD calls the access handler again once it is resumed, and the request is handled a second
 * time with fault_applied = "delay". */
static enum MHD_Result respond(struct collate_sandbox *s, struct conn *cn,
                               struct MHD_Connection *c, const char *method, const char *version)
{
  struct reply r;
  reply_init(&r, s, cn, c, method, version);

  if (!cn->api && !is_control(cn->uri)) {
    cn->api = 1;
    telemetry_api(&s->tm);
  }
  for (;;) {
    r.fault_applied = cn->delayed ? "delay" : NULL;
    bridge_handle(&r);
    if (r.effect == EFFECT_DELAY) {
      cn->delayed = 1;
      if (effect_delay(s, c, r.ms) == 0)
        return MHD_YES;
      continue;  /* stopping: no wait */
    }
    busy_done(s, cn);
    if (r.effect == EFFECT_RESET || r.resp == NULL)
      return MHD_NO;  /* MHD closes the socket without answering */
    enum MHD_Result ret = MHD_queue_response(c, (unsigned int)r.status, r.resp);
    MHD_destroy_response(r.resp);
    return ret;
  }
}

static struct conn *conn_of(struct MHD_Connection *c)
{
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

void *front_on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
  (void)cls;
  struct conn *cn = conn_of(c);
  if (cn == NULL)
    return NULL;
  size_t n = strlen(uri);
  if (n + 1 > cn->uri_cap) {
    size_t cap = cn->uri_cap ? cn->uri_cap : 256;
    while (cap < n + 1)
      cap *= 2;
    char *p = realloc(cn->uri, cap);
    if (p == NULL)
      return NULL;
    cn->uri = p;
    cn->uri_cap = cap;
  }
  memcpy(cn->uri, uri, n + 1);
  char *q = strchr(cn->uri, '?');
  cn->path_len = q ? (size_t)(q - cn->uri) : n;
  cn->query = q ? q + 1 : cn->uri + n;
  cn->body_len = 0;
  cn->body_size = 0;
  cn->body_limit = BODY_LIMIT;
  cn->too_large = 0;
  cn->skip_body = 0;
  cn->started = 0;
  cn->delayed = 0;
  return cn;
}

static int body_append(struct conn *cn, const char *data, size_t n)
{
  cn->body_size += n;
  if (cn->too_large || cn->skip_body)
    return 0;
  size_t room = cn->body_limit - cn->body_len;
  if (n > room) {
    n = room;
    cn->too_large = 1;
  }
  if (cn->body_len + n > cn->body_cap) {
    size_t cap = cn->body_cap ? cn->body_cap : 4096;
    while (cap < cn->body_len + n)
      cap *= 2;
    if (cap > cn->body_limit)
      cap = cn->body_limit;
    char *p = realloc(cn->body, cap);
    if (p == NULL)
      return -1;
    cn->body = p;
    cn->body_cap = cap;
  }
  memcpy(cn->body + cn->body_len, data, n);
  cn->body_len += n;
  return 0;
}

/* Content-Length as a number; -1 when absent (MHD itself refuses a malformed one). */
static long long content_length(struct MHD_Connection *c)
{
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
  if (cl == NULL)
    return -1;
  unsigned long long v = strtoull(cl, NULL, 10);
  return v > (unsigned long long)INT64_MAX / 2 ? INT64_MAX / 2 : (long long)v;
}

static int chunked(struct MHD_Connection *c)
{
  const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
  return te != NULL && strcasestr(te, "chunked") != NULL;
}

static int expects_continue(struct MHD_Connection *c)
{
  const char *e = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect");
  return e != NULL && strcasecmp(e, "100-continue") == 0;
}

/* The headers are in, no byte of the body is read yet: authentication and the route's size
 * limit are checked now (the app's precheck), so a body that cannot change the answer is never
 * buffered. Such a body is read and dropped (the client then reads the answer on a live
 * connection), unless the client waits for "100 Continue": then it is answered at once and never
 * sends the body. Returns 1 when the request is to be answered now. */
static int on_headers(struct collate_sandbox *s, struct conn *cn, struct MHD_Connection *c,
                      const char *method, const char *version)
{
  long long announced = content_length(c);
  int is_chunked = announced < 0 && chunked(c);
  if (announced <= (long long)PRECHECK_MIN && !is_chunked)
    return 0;
  struct reply r;
  reply_init(&r, s, cn, c, method, version);
  long long limit = bridge_precheck(&r, is_chunked ? -1 : announced);
  if (limit >= 0 && (unsigned long long)limit < BODY_LIMIT)
    cn->body_limit = (size_t)limit + 1;
  if (limit < 0)
    cn->skip_body = 1;
  else if (announced > limit)
    cn->too_large = 1;
  else
    return 0;
  if (!expects_continue(c))
    return 0;
  cn->body_size = announced > 0 ? (size_t)announced : 0;
  return 1;
}

enum MHD_Result front_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **req_cls)
{
  struct collate_sandbox *s = cls;
  struct conn *cn = *req_cls;

  if (cn == NULL)
    return MHD_NO;  /* no connection state: out of memory */
  if (!cn->started) {
    cn->started = 1;
    if (!is_control(url)) {
      cn->busy = 1;
      telemetry_busy(&s->tm, 1);
    }
    if (on_headers(s, cn, c, method, version))
      return respond(s, cn, c, method, version);  /* no 100 Continue: the client sends no body */
    long long want = content_length(c);
    if (want > 0 && !cn->skip_body && !cn->too_large) {  /* one allocation for the whole body */
      if ((unsigned long long)want > cn->body_limit)
        want = (long long)cn->body_limit;
      if ((size_t)want > cn->body_cap) {
        char *p = realloc(cn->body, (size_t)want);
        if (p) {
          cn->body = p;
          cn->body_cap = (size_t)want;
        }
      }
    }
    return MHD_YES;
  }
  if (*upload_data_size) {
    if (body_append(cn, upload_data, *upload_data_size) != 0)
      return MHD_NO;
    *upload_data_size = 0;
    return MHD_YES;
  }
  return respond(s, cn, c, method, version);
}

void front_on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                        enum MHD_RequestTerminationCode toe)
{
  (void)c;
  (void)toe;
  struct conn *cn = *req_cls;
  busy_done(cls, cn);
  if (cn && cn->body_cap > BODY_KEEP) {  /* an upload must not pin 32 MiB per idle socket */
    free(cn->body);
    cn->body = NULL;
    cn->body_cap = 0;
  }
  *req_cls = NULL;
}

void front_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe)
{
  struct collate_sandbox *s = cls;
  (void)c;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    *socket_context = calloc(1, sizeof(struct conn));
    telemetry_opened(&s->tm);
  } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
    struct conn *cn = *socket_context;
    busy_done(s, cn);
    telemetry_closed(&s->tm, cn && cn->api);
    if (cn) {
      free(cn->uri);
      free(cn->body);
      free(cn);
    }
    *socket_context = NULL;
  }
}
