/* Fault effects the app returns as data (docs/sandbox.md, Faults): reset (the front closes the
 * socket without answering, http_front.c), truncate (the body cut after some bytes, then the
 * connection), delay (the request waits, then is handled again with fault_applied = "delay"). */
#include "sandbox_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct truncated {
  size_t limit;                /* bytes delivered before the connection is cut */
  char data[];
};

static ssize_t truncated_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
  struct truncated *t = cls;
  if (pos >= t->limit)
    return MHD_CONTENT_READER_END_WITH_ERROR;
  size_t n = t->limit - (size_t)pos;
  if (n > max)
    n = max;
  memcpy(buf, t->data + pos, n);
  return (ssize_t)n;
}

/* A response announcing len bytes that delivers the first `bytes` of body, then cuts. */
struct MHD_Response *effect_truncated_response(const char *body, size_t len, size_t bytes)
{
  struct truncated *tr = malloc(sizeof *tr + bytes);
  if (tr == NULL)
    return NULL;
  tr->limit = bytes;
  memcpy(tr->data, body, bytes);
  struct MHD_Response *resp =
      MHD_create_response_from_callback(len, 32 * 1024, truncated_reader, tr, free);
  if (resp == NULL)
    free(tr);
  return resp;
}

/* Sleeps up to ms, returning early when the server stops. */
void effect_delay(struct collate_sandbox *s, long ms)
{
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&s->stop_lock);
  while (!s->stopping) {
    if (pthread_cond_timedwait(&s->stop_cond, &s->stop_lock, &until) == ETIMEDOUT)
      break;
  }
  pthread_mutex_unlock(&s->stop_lock);
}
