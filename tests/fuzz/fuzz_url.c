/* The URL checks (src/core/url.c, pure C on curl_url) on arbitrary strings. Properties of an
 * accepted base URL: the scheme is http or https; plain http only to a loopback host, and the
 * loopback flag agrees with collate_host_is_loopback on the parsed host; the rendered base has
 * no userinfo, query, fragment or trailing slash and passes the check again unchanged (the
 * reading is stable: what we approve is what curl will be given). Proxy URLs and request-URL
 * splitting: the same scheme and loopback rules, a target that starts with "/". A refusal
 * always comes with a message that does not contain the URL's credentials. */
#include <stdlib.h>
#include <string.h>

#include "url.h"

#include <stdint.h>

static void check_common(const struct collate_url *u) {
  if (strcmp(u->scheme, "http") != 0 && strcmp(u->scheme, "https") != 0) abort();
  if (u->host[0] == '\0' || u->port == 0 || u->port > 65535) abort();
  if (u->loopback != collate_host_is_loopback(u->host)) abort();
}

/* Put before the last '@' of an input (into its userinfo), this must never come back. */
#define CANARY "Zq9canaryKEY"

static void check_message(const char *err) {
  if (err[0] == '\0') abort(); /* a refusal names its reason */
  if (strstr(err, CANARY) != NULL) abort(); /* and never repeats the credentials */
}

static void check_all(const char *url, size_t size) {
  char err[512], *target;
  struct collate_url *u = (struct collate_url *)malloc(sizeof *u);
  struct collate_url *again = (struct collate_url *)malloc(sizeof *again);
  size_t n;
  if (u == NULL || again == NULL) abort();

  err[0] = '\0';
  if (collate_url_check(url, u, err, sizeof err) == 0) {
    check_common(u);
    if (strcmp(u->scheme, "http") == 0 && !u->loopback) abort(); /* the key in clear text */
    if (strchr(u->base, '@') || strchr(u->base, '?') || strchr(u->base, '#')) abort();
    n = strlen(u->base);
    if (n == 0 || u->base[n - 1] == '/') abort();
    if (strncmp(u->base, u->scheme, strlen(u->scheme)) != 0) abort();
    err[0] = '\0';
    if (collate_url_check(u->base, again, err, sizeof err) != 0) abort(); /* unstable reading */
    if (strcmp(again->base, u->base) != 0 || strcmp(again->host, u->host) != 0 ||
        again->port != u->port || again->loopback != u->loopback)
      abort();
  } else {
    check_message(err);
  }

  err[0] = '\0';
  if (collate_proxy_url_check(url, u, err, sizeof err) == 0) {
    check_common(u);
    if (strchr(u->base, '@') != NULL || strstr(u->base, CANARY) != NULL) abort();
  } else {
    check_message(err);
  }

  target = (char *)malloc(size + 2);
  if (target == NULL) abort();
  err[0] = '\0';
  if (collate_url_split(url, u, target, size + 2, err, sizeof err) == 0) {
    check_common(u);
    if (target[0] != '/' || strchr(target, '#') != NULL) abort();
    if (strchr(u->base, '@') != NULL) abort();
  } else {
    check_message(err);
  }
  free(target);
  free(u);
  free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *url = (char *)malloc(size + sizeof CANARY), *at;
  if (url == NULL) abort();
  memcpy(url, data, size);
  url[size] = '\0';
  size = strlen(url);
  check_all(url, size);
  at = strrchr(url, '@');
  if (at != NULL) {
    size_t before = (size_t)(at - url);
    memmove(url + before + sizeof CANARY - 1, at, size - before + 1);
    memcpy(url + before, CANARY, sizeof CANARY - 1);
    check_all(url, size + sizeof CANARY - 1);
  }
  free(url);
  return 0;
}
