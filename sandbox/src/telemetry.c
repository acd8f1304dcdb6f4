#include "telemetry.h"

void telemetry_init(struct telemetry *t)
{
  pthread_mutex_init(&t->lock, NULL);
  t->n = (struct telemetry_counts){0, 0, 0, 0, 0, 0, 0};
}

void telemetry_destroy(struct telemetry *t)
{
  pthread_mutex_destroy(&t->lock);
}

static void raise_peak(long open, long *peak)
{
  if (open > *peak)
    *peak = open;
}

void telemetry_opened(struct telemetry *t)
{
  pthread_mutex_lock(&t->lock);
  t->n.accepted++;
  raise_peak(++t->n.open, &t->n.peak);
  pthread_mutex_unlock(&t->lock);
}

void telemetry_closed(struct telemetry *t, int api)
{
  pthread_mutex_lock(&t->lock);
  t->n.open--;
  if (api)
    t->n.api_open--;
  pthread_mutex_unlock(&t->lock);
}

void telemetry_api(struct telemetry *t)
{
  pthread_mutex_lock(&t->lock);
  raise_peak(++t->n.api_open, &t->n.api_peak);
  pthread_mutex_unlock(&t->lock);
}

void telemetry_busy(struct telemetry *t, int delta)
{
  pthread_mutex_lock(&t->lock);
  t->n.busy_open += delta;
  raise_peak(t->n.busy_open, &t->n.busy_peak);
  pthread_mutex_unlock(&t->lock);
}

struct telemetry_counts telemetry_read(struct telemetry *t, int reset)
{
  pthread_mutex_lock(&t->lock);
  if (reset) {
    t->n.peak = t->n.open;
    t->n.api_peak = t->n.api_open;
    t->n.busy_peak = t->n.busy_open;
    t->n.accepted = 0;
  }
  struct telemetry_counts c = t->n;
  pthread_mutex_unlock(&t->lock);
  return c;
}
