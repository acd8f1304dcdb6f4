#ifndef COLLATE_SANDBOX_TELEMETRY_H
#define COLLATE_SANDBOX_TELEMETRY_H

/* Connection telemetry of the front (GET /_sandbox/connections, docs/sandbox-extensions.md):
 * TCP connections from accept to close, those that carried an API request (outside
 * /_sandbox/), and those serving one right now. */

#include <pthread.h>

struct telemetry_counts {
  long open, peak;             /* TCP connections open now; most at once since start / reset */
  long api_open, api_peak;     /* of those, connections that carried a request outside /_sandbox/ */
  long busy_open, busy_peak;   /* connections serving such a request now (first byte to answer) */
  long accepted;               /* connections accepted since start / reset */
};

struct telemetry {
  pthread_mutex_t lock;
  struct telemetry_counts n;
};

void telemetry_init(struct telemetry *t);
void telemetry_destroy(struct telemetry *t);
void telemetry_opened(struct telemetry *t);
/* a connection closed; api: it was counted by telemetry_api */
void telemetry_closed(struct telemetry *t, int api);
void telemetry_api(struct telemetry *t);
void telemetry_busy(struct telemetry *t, int delta);
/* a copy of the counters; reset: each peak to its current count, accepted to 0, first */
struct telemetry_counts telemetry_read(struct telemetry *t, int reset);

#endif
