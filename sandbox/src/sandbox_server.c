/* The sandbox server's lifecycle: the address, the Lua bridge, the libmicrohttpd daemon, the
 * state-file saver thread; start and stop. The parts: http_front.c (callbacks, connection
 * state), lua_bridge.c (the app), telemetry.c (connection counters), effects.c (faults). */
#include "sandbox_internal.h"

#include <lauxlib.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void *saver_main(void *arg)
{
  struct collate_sandbox *s = arg;
  pthread_mutex_lock(&s->stop_lock);
  while (!s->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 1;
    while (!s->stopping && pthread_cond_timedwait(&s->stop_cond, &s->stop_lock, &until) != ETIMEDOUT)
      ;
    if (s->stopping)
      break;
    pthread_mutex_unlock(&s->stop_lock);
    bridge_save(s, 0);
    pthread_mutex_lock(&s->stop_lock);
  }
  pthread_mutex_unlock(&s->stop_lock);
  return NULL;
}

#define DEFAULT_MAX_CONNECTIONS 16000u
#define DEFAULT_THREADS 2u
#define SPARE_FDS 64u            /* the listening socket, epoll, state file, stdio, ... */

/* Raises the soft descriptor limit to the hard one (each connection is a descriptor) and
 * returns how many connections it leaves room for. */
static unsigned raise_nofile(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 1024 - SPARE_FDS;
  if (rl.rlim_cur < rl.rlim_max) {
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
      rl.rlim_cur = old;
  }
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1000000)
    return 1000000;
  return rl.rlim_cur > 2 * SPARE_FDS ? (unsigned)rl.rlim_cur - SPARE_FDS : SPARE_FDS;
}

static void destroy(struct collate_sandbox *s)
{
  delayer_free(s->delayer);
  bridge_close(s);
  pthread_cond_destroy(&s->stop_cond);
  pthread_mutex_destroy(&s->stop_lock);
  pthread_mutex_destroy(&s->lua_lock);
  telemetry_destroy(&s->tm);
  free(s);
}

struct collate_sandbox *collate_sandbox_start(const struct collate_sandbox_options *o,
                                              char *err, size_t errlen)
{
  struct collate_sandbox_options dflt;
  if (o == NULL) {
    memset(&dflt, 0, sizeof dflt);
    o = &dflt;
  }
  const char *bind = o->bind_address && *o->bind_address ? o->bind_address : "127.0.0.1";

  struct collate_sandbox *s = calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&s->lua_lock, NULL);
  pthread_mutex_init(&s->stop_lock, NULL);
  telemetry_init(&s->tm);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->stop_cond, &ca);
  pthread_condattr_destroy(&ca);
  s->app_ref = LUA_NOREF;
  s->log_level = o->log_level;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  s->rng = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
           ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)s;
  if (s->rng == 0)
    s->rng = 0x9E3779B97F4A7C15ULL;

  /* the address */
  struct addrinfo hints, *ai = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int gai = getaddrinfo(bind, NULL, &hints, &ai);
  if (gai != 0 || ai == NULL) {
    snprintf(err, errlen, "bad bind address '%s': %s", bind, gai_strerror(gai));
    destroy(s);
    return NULL;
  }
  struct sockaddr_storage sa;
  memset(&sa, 0, sizeof sa);
  memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
  int family = ai->ai_family;
  freeaddrinfo(ai);
  char host[INET6_ADDRSTRLEN + 2];
  if (family == AF_INET6) {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&sa;
    a6->sin6_port = htons(o->port);
    if (IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr)) {
      snprintf(host, sizeof host, "[::1]");
    } else {
      char buf[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof buf);
      snprintf(host, sizeof host, "[%s]", buf);
    }
  } else {
    struct sockaddr_in *a4 = (struct sockaddr_in *)&sa;
    a4->sin_port = htons(o->port);
    if (a4->sin_addr.s_addr == htonl(INADDR_ANY))
      snprintf(host, sizeof host, "127.0.0.1");
    else
      inet_ntop(AF_INET, &a4->sin_addr, host, sizeof host);
  }

  /* the Lua state and the app module */
  if (bridge_open(s, err, errlen) != 0) {
    destroy(s);
    return NULL;
  }

  s->delayer = delayer_start(err, errlen);
  if (s->delayer == NULL) {
    destroy(s);
    return NULL;
  }

  /* An event loop on a few threads (epoll), not a thread per connection: idle keep-alive
   * connections cost a descriptor and a little memory each. */
  unsigned fd_room = raise_nofile();
  unsigned max_conn = o->max_connections ? o->max_connections : DEFAULT_MAX_CONNECTIONS;
  if (max_conn > fd_room)
    max_conn = fd_room;
  unsigned threads = o->threads ? o->threads : DEFAULT_THREADS;
  if (s->log_level >= 2)
    fprintf(stderr, "collate-sandbox: %u event-loop threads, at most %u connections\n", threads,
            max_conn);

  /* Requests that arrive before new() finished wait on the lock. */
  pthread_mutex_lock(&s->lua_lock);
  unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
  if (family == AF_INET6)
    flags |= MHD_USE_IPv6;
  if (s->log_level >= 2)
    flags |= MHD_USE_ERROR_LOG;
  s->daemon = MHD_start_daemon(flags, o->port, NULL, NULL, front_on_request, s,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                               MHD_OPTION_NOTIFY_CONNECTION, front_on_connection, s,
                               MHD_OPTION_URI_LOG_CALLBACK, front_on_uri, s,
                               MHD_OPTION_NOTIFY_COMPLETED, front_on_completed, s,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
                               MHD_OPTION_THREAD_POOL_SIZE, threads,
                               MHD_OPTION_CONNECTION_LIMIT, max_conn,
                               MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
                               MHD_OPTION_END);
  if (s->daemon == NULL) {
    pthread_mutex_unlock(&s->lua_lock);
    snprintf(err, errlen, "cannot listen on %s port %u: %s", bind, (unsigned)o->port,
             errno ? strerror(errno) : "libmicrohttpd refused to start");
    destroy(s);
    return NULL;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  s->port = di ? di->port : o->port;

  char base_url[128];
  snprintf(base_url, sizeof base_url, "http://%s:%u", host, (unsigned)s->port);
  int rc = bridge_new_app(s, o, base_url, err, errlen);
  pthread_mutex_unlock(&s->lua_lock);
  if (rc != 0) {
    collate_sandbox_stop(s);
    return NULL;
  }
  if (o->state_file && *o->state_file && pthread_create(&s->saver, NULL, saver_main, s) == 0)
    s->saver_started = 1;
  return s;
}

unsigned short collate_sandbox_port(const struct collate_sandbox *s)
{
  return s ? s->port : 0;
}

void collate_sandbox_stop(struct collate_sandbox *s)
{
  if (s == NULL)
    return;
  pthread_mutex_lock(&s->stop_lock);
  s->stopping = 1;
  pthread_cond_broadcast(&s->stop_cond);
  pthread_mutex_unlock(&s->stop_lock);
  delayer_stop(s->delayer);  /* delayed requests are answered now */
  if (s->daemon)
    MHD_stop_daemon(s->daemon);
  if (s->saver_started) {
    pthread_join(s->saver, NULL);
    bridge_save(s, 1); /* the last word: every request has finished */
  }
  destroy(s);
}
