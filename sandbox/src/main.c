/* collate-sandbox: the local emulator of the Collate Prior Auth API. */
#include "sandbox_server.h"

#include <errno.h>
#include <lua.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef COLLATE_VERSION
#define COLLATE_VERSION "0.0.0"
#endif

#define DEFAULT_PORT 8787

static void usage(FILE *f)
{
  fprintf(f,
          "usage: collate-sandbox [options]\n"
          "  --port N              TCP port (default %d; 0 = any free port)\n"
          "  --bind ADDR           address to listen on (default 127.0.0.1)\n"
          "  --port-file PATH      write the bound port to PATH once listening\n"
          "  --api-key KEY         accepted API key (repeatable; default sk_test_local)\n"
          "  --clock-mode MODE     realtime (default) or step\n"
          "  --clock-speed X       virtual seconds per wall second in realtime (default 1)\n"
          "  --log-level LEVEL     quiet, info (default: a line per request) or debug\n"
          "  --state-file PATH     load the state from PATH if it exists; save it there\n"
          "                        (atomically) about once a second when changed and at stop\n"
          "  --max-connections N   open connections at most (default 16000; further ones\n"
          "                        wait in the listen backlog)\n"
          "  --realism             behave more like the real service: upload URLs that\n"
          "                        expire and answer like an object store, Idempotency-Key\n"
          "                        on create only, handoffs offered before active,\n"
          "                        millisecond timestamps, jittered latency, occasional\n"
          "                        503s with Retry-After (docs/sandbox.md, Realism mode)\n"
          "  --realism-seed N      seed of realism's random choices (default 1)\n"
          "  -h, --help            this text\n"
          "  -V, --version         versions\n"
          "Stops on SIGINT or SIGTERM.\n",
          DEFAULT_PORT);
}

static int fail(const char *fmt, const char *a)
{
  fprintf(stderr, "collate-sandbox: ");
  fprintf(stderr, fmt, a);
  fprintf(stderr, "\n(try --help)\n");
  return 2;
}

static void on_stop_signal(int sig)
{
  (void)sig;  /* never runs: the signals stay blocked and sigwait takes them */
}

/* The port appears under its final name complete or not at all: readers poll for the file. */
static int write_port_file(const char *path, unsigned port)
{
  size_t n = strlen(path) + 32;
  char *tmp = malloc(n);
  if (tmp == NULL)
    return -1;
  snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  int ok = f != NULL && fprintf(f, "%u\n", port) > 0;
  if (f && fclose(f) != 0)
    ok = 0;
  if (ok && rename(tmp, path) != 0)
    ok = 0;
  if (!ok)
    unlink(tmp);
  free(tmp);
  return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
  struct collate_sandbox_options o;
  memset(&o, 0, sizeof o);
  o.bind_address = "127.0.0.1";
  o.port = DEFAULT_PORT;
  o.clock_mode = "realtime";
  o.clock_speed = 1.0;
  o.log_level = 1;
  const char *port_file = NULL;
  int realism = 0;
  char seed_option[64] = "";
  char *keys = NULL;
  size_t keys_len = 0;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = NULL;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      free(keys);
      return 0;
    }
    if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
      printf("collate-sandbox %s (%s, libmicrohttpd %s)\n", COLLATE_VERSION, LUA_RELEASE,
             MHD_get_version());
      free(keys);
      return 0;
    }
    if (strcmp(a, "--realism") == 0) {
      realism = 1;
      continue;
    }
    /* --name VALUE or --name=VALUE */
    static const char *const with_value[] = {"--port", "--bind", "--port-file", "--api-key",
                                             "--clock-mode", "--clock-speed", "--log-level",
                                             "--state-file", "--max-connections", "--realism-seed", NULL};
    const char *name = NULL;
    for (int k = 0; with_value[k]; k++) {
      size_t n = strlen(with_value[k]);
      if (strncmp(a, with_value[k], n) == 0 && (a[n] == '\0' || a[n] == '=')) {
        name = with_value[k];
        if (a[n] == '=')
          v = a + n + 1;
        else if (i + 1 < argc)
          v = argv[++i];
        else {
          free(keys);
          return fail("%s needs a value", name);
        }
        break;
      }
    }
    if (name == NULL) {
      free(keys);
      return fail("unknown option '%s'", a);
    }
    if (strcmp(name, "--port") == 0) {
      char *end;
      errno = 0;
      long p = strtol(v, &end, 10);
      if (*v == '\0' || *end || errno || p < 0 || p > 65535) {
        free(keys);
        return fail("bad --port '%s'", v);
      }
      o.port = (unsigned short)p;
    } else if (strcmp(name, "--bind") == 0) {
      o.bind_address = v;
    } else if (strcmp(name, "--port-file") == 0) {
      port_file = v;
    } else if (strcmp(name, "--api-key") == 0) {
      if (*v == '\0' || strchr(v, ',')) {
        free(keys);
        return fail("bad --api-key '%s'", v);
      }
      size_t n = strlen(v);
      char *p = realloc(keys, keys_len + n + 2);
      if (p == NULL) {
        free(keys);
        return fail("%s", "out of memory");
      }
      keys = p;
      if (keys_len)
        keys[keys_len++] = ',';
      memcpy(keys + keys_len, v, n + 1);
      keys_len += n;
    } else if (strcmp(name, "--clock-mode") == 0) {
      if (strcmp(v, "realtime") != 0 && strcmp(v, "step") != 0) {
        free(keys);
        return fail("bad --clock-mode '%s' (realtime or step)", v);
      }
      o.clock_mode = v;
    } else if (strcmp(name, "--clock-speed") == 0) {
      char *end;
      double x = strtod(v, &end);
      if (*v == '\0' || *end || !(x > 0) || x > 1e9) {
        free(keys);
        return fail("bad --clock-speed '%s' (a number > 0)", v);
      }
      o.clock_speed = x;
    } else if (strcmp(name, "--max-connections") == 0) {
      char *end;
      errno = 0;
      long n = strtol(v, &end, 10);
      if (*v == '\0' || *end || errno || n < 1 || n > 1000000) {
        free(keys);
        return fail("bad --max-connections '%s' (1 to 1000000)", v);
      }
      o.max_connections = (unsigned)n;
    } else if (strcmp(name, "--realism-seed") == 0) {
      char *end;
      errno = 0;
      long long n = strtoll(v, &end, 10);
      if (*v == '\0' || *end || errno || n < 1) {
        free(keys);
        return fail("bad --realism-seed '%s' (an integer >= 1)", v);
      }
      snprintf(seed_option, sizeof seed_option, "realism_seed=%lld", n);
    } else if (strcmp(name, "--state-file") == 0) {
      if (*v == '\0') {
        free(keys);
        return fail("%s", "--state-file needs a path");
      }
      o.state_file = v;
    } else if (strcmp(name, "--log-level") == 0) {
      if (strcmp(v, "quiet") == 0)
        o.log_level = 0;
      else if (strcmp(v, "info") == 0)
        o.log_level = 1;
      else if (strcmp(v, "debug") == 0)
        o.log_level = 2;
      else {
        free(keys);
        return fail("bad --log-level '%s' (quiet, info or debug)", v);
      }
    }
  }
  o.keys = keys ? keys : "sk_test_local";
  const char *app_options[3] = {NULL, NULL, NULL};
  if (realism) {
    app_options[0] = "realism";
    if (*seed_option)
      app_options[1] = seed_option;
    o.app_options = app_options;
  }

  /* Block the stop signals before any thread exists, so only sigwait below sees them. A
   * handler replaces an inherited SIG_IGN (a script's background job), which would discard
   * them even while blocked. */
  signal(SIGINT, on_stop_signal);
  signal(SIGTERM, on_stop_signal);
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  char err[1024];
  struct collate_sandbox *s = collate_sandbox_start(&o, err, sizeof err);
  if (s == NULL) {
    fprintf(stderr, "collate-sandbox: %s\n", err);
    free(keys);
    return 1;
  }
  unsigned port = collate_sandbox_port(s);
  if (port_file && write_port_file(port_file, port) != 0) {
    fprintf(stderr, "collate-sandbox: cannot write %s: %s\n", port_file, strerror(errno));
    collate_sandbox_stop(s);
    free(keys);
    return 1;
  }
  const char *host = o.bind_address;
  int v6 = strchr(host, ':') != NULL;
  printf("collate-sandbox listening on http://%s%s%s:%u\n", v6 ? "[" : "", host, v6 ? "]" : "",
         port);
  fflush(stdout);

  int sig = 0;
  while (sigwait(&stop, &sig) != 0)
    ;
  if (o.log_level >= 1)
    fprintf(stderr, "collate-sandbox: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  collate_sandbox_stop(s);
  free(keys);
  return 0;
}
