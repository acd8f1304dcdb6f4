/* Fault effects the app returns as data (docs/sandbox.md, Faults): reset (the front closes the
 * socket without answering, http_front.c), truncate (the body cut after some bytes, then the
 * connection), delay (the request waits, then is handled again with fault_applied = "delay"). */
#include "sandbox_internal.h"

#include <stdio.h>
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

/* Delayed connections wait suspended (MHD_suspend_connection), not in a sleeping thread: one
 * thread resumes each when due, so a thousand delayed requests hold no pool thread. */
struct delayed {
  struct MHD_Connection *c;
  struct timespec until;       /* CLOCK_MONOTONIC */
  struct delayed *next;
};

struct delayer {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  struct delayed *head;        /* sorted by until */
  int stopping;
  int joined;                  /* of the stopping thread only */
};

static int before(const struct timespec *a, const struct timespec *b)
{
  return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void *delayer_main(void *arg)
{
  struct delayer *d = arg;
  pthread_mutex_lock(&d->lock);
  for (;;) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (d->head && (d->stopping || !before(&now, &d->head->until))) {
      struct delayed *e = d->head;
      d->head = e->next;
      pthread_mutex_unlock(&d->lock);
      MHD_resume_connection(e->c);
      free(e);
      pthread_mutex_lock(&d->lock);
      continue;
    }
    if (d->stopping)
      break;
    if (d->head)
      pthread_cond_timedwait(&d->cond, &d->lock, &d->head->until);
    else
      pthread_cond_wait(&d->cond, &d->lock);
  }
  pthread_mutex_unlock(&d->lock);
  return NULL;
}

struct delayer *delayer_start(char *err, size_t errlen)
{
  struct delayer *d = calloc(1, sizeof *d);
  if (d == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&d->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&d->cond, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_create(&d->thread, NULL, delayer_main, d) != 0) {
    snprintf(err, errlen, "cannot start a thread");
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
    free(d);
    return NULL;
  }
  return d;
}

void delayer_stop(struct delayer *d)
{
  if (d == NULL || d->joined)
    return;
  d->joined = 1;
  pthread_mutex_lock(&d->lock);
  d->stopping = 1;
  pthread_cond_signal(&d->cond);
  pthread_mutex_unlock(&d->lock);
  pthread_join(d->thread, NULL);
}

void delayer_free(struct delayer *d)
{
  if (d == NULL)
    return;
  delayer_stop(d);
  pthread_cond_destroy(&d->cond);
  pthread_mutex_destroy(&d->lock);
  free(d);
}

int effect_delay(struct collate_sandbox *s, struct MHD_Connection *c, long ms)
{
  struct delayer *d = s->delayer;
  struct delayed *e = malloc(sizeof *e);
  if (e == NULL)
    return -1;
  e->c = c;
  clock_gettime(CLOCK_MONOTONIC, &e->until);
  e->until.tv_sec += ms / 1000;
  e->until.tv_nsec += (ms % 1000) * 1000000L;
  if (e->until.tv_nsec >= 1000000000L) {
    e->until.tv_sec++;
    e->until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&d->lock);
  if (d->stopping) {
    pthread_mutex_unlock(&d->lock);
    free(e);
    return -1;
  }
  /* suspended before the delayer can see it, so a resume never comes first */
  MHD_suspend_connection(c);
  struct delayed **p = &d->head;
  while (*p && !before(&e->until, &(*p)->until))
    p = &(*p)->next;
  e->next = *p;
  *p = e;
  pthread_cond_signal(&d->cond);
  pthread_mutex_unlock(&d->lock);
  return 0;
}
