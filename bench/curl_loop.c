/* The floor: N GETs of one URL on one libcurl easy handle (keep-alive), the same request headers
 * as collate-lua sends, the body collected into a buffer and not decoded.
 * usage: curl_loop URL API_KEY N WARMUP
 * prints: requests wall_seconds cpu_seconds body_bytes   (cpu = user + sys of this process) */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

struct buf {
  char *data;
  size_t len, cap;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  struct buf *b = ud;
  size_t add = size * n;
  if (b->len + add > b->cap) {
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < b->len + add) cap *= 2;
    char *d = realloc(b->data, cap);
    if (d == NULL) return 0;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, add);
  b->len += add;
  return add;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double wall_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int get(CURL *e, struct buf *b) {
  long status = 0;
  b->len = 0;
  CURLcode rc = curl_easy_perform(e);
  if (rc != CURLE_OK) {
    fprintf(stderr, "curl_loop: %s\n", curl_easy_strerror(rc));
    return -1;
  }
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    fprintf(stderr, "curl_loop: HTTP %ld\n", status);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: curl_loop URL API_KEY N WARMUP\n");
    return 2;
  }
  const char *url = argv[1];
  long n = atol(argv[3]), warmup = atol(argv[4]);
  char auth[512];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", argv[2]);

  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *e = curl_easy_init();
  struct curl_slist *h = NULL;
  h = curl_slist_append(h, "Accept: application/json");
  h = curl_slist_append(h, auth);
  struct buf b = {0};
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "collate-lua-bench/curl_loop");
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);

  for (long i = 0; i < warmup; i++)
    if (get(e, &b) != 0) return 1;
  double w0 = wall_seconds(), c0 = cpu_seconds();
  for (long i = 0; i < n; i++)
    if (get(e, &b) != 0) return 1;
  double w1 = wall_seconds(), c1 = cpu_seconds();
  printf("%ld %.6f %.6f %zu\n", n, w1 - w0, c1 - c0, b.len);

  curl_slist_free_all(h);
  curl_easy_cleanup(e);
  free(b.data);
  return 0;
}
