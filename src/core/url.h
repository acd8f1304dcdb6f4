/* The one place that decides whether a URL may carry the API key (base URLs) or relay it (proxy
 * URLs). Parsing is libcurl's own (curl_url), so the host checked here is the host libcurl
 * connects to. Pure C: no Lua, so a fuzz harness can call it directly. */
#ifndef COLLATE_URL_H
#define COLLATE_URL_H

#include <stddef.h>

#define COLLATE_URL_MAX 2048

struct collate_url {
  char scheme[8];             /* "http" or "https" */
  char host[260];             /* lower case; an IPv6 address in brackets */
  unsigned port;              /* the explicit port, or the scheme's default */
  int loopback;               /* host is in 127.0.0.0/8, ::1 (or IPv4-mapped 127/8), localhost */
  int has_credentials;        /* proxy URLs only: user[:password]@ was given */
  char base[COLLATE_URL_MAX]; /* scheme://host[:port][/path], no trailing slash, no userinfo */
};

/* A base URL for API calls: absolute http:// or https:// (any case), no userinfo, query,
 * fragment, whitespace or control characters; plain http only when the parsed host is loopback.
 * 0 and *out filled, or -1 with a message in err (never the URL itself: it may hold a secret),
 * worded to follow the option's name ("must not contain ..."). */
int collate_url_check(const char *url, struct collate_url *out, char *err, size_t errlen);

/* A proxy URL: http:// or https:// with a host and optional port, optional credentials, no
 * path (other than "/"), query or fragment. Same return convention. */
int collate_proxy_url_check(const char *url, struct collate_url *out, char *err, size_t errlen);

/* A request URL (base URL plus API path and query, or an upload URL): http(s), a host, no
 * credentials; *out filled (base = scheme://host[:port]) and the request target (path and query,
 * "/" at least; the fragment dropped) copied to target. Same return convention. */
int collate_url_split(const char *url, struct collate_url *out, char *target, size_t targetlen,
                      char *err, size_t errlen);

/* Whether the parsed host (as curl_url reports it: brackets around IPv6) is loopback. */
int collate_host_is_loopback(const char *host);

#endif
