/* The HTTP side: libmicrohttpd's callbacks and the per-connection state. A request's URI is
 * copied when it arrives (on_uri), its body buffered up to BODY_LIMIT, then the Lua bridge
 * answers it; effects (effects.c) are carried out here. */
#include "sandbox_internal.h"

#include <stdlib.h>
#include <string.h>

static int is_control(const char *path)
{
  return strncmp(path, "/_sandbox/", 10) == 0;
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

static enum MHD_Result respond(struct collate_sandbox *s, struct conn *cn,
                               struct MHD_Connection *c, const char *method)
{
  struct reply r;
  memset(&r, 0, sizeof r);
  r.s = s;
  r.cn = cn;
  r.c = c;
  r.method = method;

  if (!cn->api && !is_control(cn->uri)) {
    cn->api = 1;
    telemetry_api(&s->tm);
  }
  for (;;) {
    bridge_handle(&r);
    if (r.effect == EFFECT_DELAY) {
      effect_delay(s, r.ms);
      r.fault_applied = "delay";
      continue;
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
  cn->too_large = 0;
  cn->started = 0;
  return cn;
}

static int body_append(struct conn *cn, const char *data, size_t n)
{
  cn->body_size += n;
  if (cn->too_large)
    return 0;
  size_t room = BODY_LIMIT - cn->body_len;
  if (n > room) {
    n = room;
    cn->too_large = 1;
  }
  if (cn->body_len + n > cn->body_cap) {
    size_t cap = cn->body_cap ? cn->body_cap : 4096;
    while (cap < cn->body_len + n)
      cap *= 2;
    if (cap > BODY_LIMIT)
      cap = BODY_LIMIT;
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

enum MHD_Result front_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **req_cls)
{
  struct collate_sandbox *s = cls;
  struct conn *cn = *req_cls;
  (void)version;

  if (cn == NULL)
    return MHD_NO;  /* no connection state: out of memory */
  if (!cn->started) {
    cn->started = 1;
    if (!is_control(url)) {
      cn->busy = 1;
      telemetry_busy(&s->tm, 1);
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
      unsigned long long want = strtoull(cl, NULL, 10);
      if (want > BODY_LIMIT)
        want = BODY_LIMIT;
      if (want > cn->body_cap) {
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
  return respond(s, cn, c, method);
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
