#ifndef COLLATE_RETRY_H
#define COLLATE_RETRY_H

#include <stddef.h>

#define COLLATE_RETRY_AFTER_MAX 60.0

/* 408, 429, 500, 502, 503, 504. */
int collate_status_retryable(int status);
/* min(0.5 * 2^(attempt-1), 8) seconds, before jitter; attempt >= 1. */
double collate_backoff_base(long long attempt);
/* Retry-After: delay-seconds or an HTTP-date (IMF-fixdate, RFC 850, asctime). Returns 1 and the
 * wait in seconds (>= 0) in *out, or 0 for garbage. */
int collate_parse_retry_after(const char *s, size_t len, double now, double *out);
/* retry-after-ms: a non-negative decimal number of milliseconds; *out in seconds. */
int collate_parse_retry_after_ms(const char *s, size_t len, double *out);
/* Seconds since the epoch for an HTTP-date, or 0 when it does not parse. */
int collate_parse_http_date(const char *s, size_t len, double *out);

#endif
