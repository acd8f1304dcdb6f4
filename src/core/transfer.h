/* One HTTP transfer on a libcurl easy handle: options from a Lua request table, C-only
 * callbacks, and the Lua result once curl is done. Shared by core.http (blocking, one reused
 * easy handle) and core.multi (many transfers on a multi handle). */
#ifndef COLLATE_TRANSFER_H
#define COLLATE_TRANSFER_H

#include <stdio.h>

#include <curl/curl.h>

#include "compat.h"

struct collate_buf {
  char *data;
  size_t len, cap;
};

struct collate_xfer {
  CURL *easy;
  struct curl_slist *req_headers;
  struct collate_buf resp_headers; /* "name\0value\0" pairs of the final response */
  int resp_count;                  /* how many pairs */
  struct collate_buf body;
  FILE *in;          /* body_file */
  FILE *out;         /* out_file, opened on the first body byte */
  char *out_path;    /* a copy: the transfer may outlive the Lua string (multi) */
  int out_opened;
  int out_failed;    /* errno of a failed open or write of out_file */
  int in_failed;     /* errno of a failed read of body_file (or of its open) */
  int oom;
  int too_large;     /* the body passed max_response_bytes: the transfer was stopped */
  curl_off_t max_bytes, received; /* max_response_bytes (0: none); body bytes so far */
  char *url_error;   /* why the request URL was refused (setup returned -1), or NULL */
  CURLcode rc;
  char errbuf[CURL_ERROR_SIZE];
  /* What the easy handle is configured for, so that a request like the last one (the common
   * case: the same method on a reused handle) skips curl_easy_reset and the invariant options. */
  int configured;    /* the defaults are set for cfg_ca / cfg_ua */
  char *cfg_ca, *cfg_ua;
  char last_sig[24]; /* method and body mode of the last request; "" = reset next time */
};

/* curl_global_init once (never cleaned up: other users of libcurl may share the process). */
int collate_curl_global(void);

/* Ends a request: closes its files and empties its buffers. The header list and small buffers
 * are kept for the next request on the same handle. */
void collate_xfer_release(struct collate_xfer *x);

/* Frees everything the transfer holds (not the easy handle). */
void collate_xfer_free(struct collate_xfer *x);

/* Configures x->easy from the request table at req. Raises a Lua error for invalid arguments;
 * returns 0, or -1 when the URL is unusable or a local file cannot be opened (the result then
 * says so). The request table must stay referenced until the transfer ends: curl reads its body
 * string in place.
 * Proxies: an https:// request goes through req.proxy when given, else through the proxy
 * variables libcurl reads (https_proxy, ALL_PROXY, NO_PROXY), always as a CONNECT tunnel, so the
 * proxy sees only TLS; a plain http:// request never goes through a proxy (CURLOPT_PROXY ""). */
int collate_xfer_setup(lua_State *L, struct collate_xfer *x, int req);

/* After curl finished (rc): closes files and records the outcome. */
void collate_xfer_done(struct collate_xfer *x, CURLcode rc);

/* Pushes status, headers, body (body nil with out_file), nil or nil, kind, message, code (a
 * machine code such as "response_too_large", or nil); always 4. */
int collate_xfer_push_result(lua_State *L, struct collate_xfer *x);

#endif
