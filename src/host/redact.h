#ifndef COLLATE_HOST_REDACT_H
#define COLLATE_HOST_REDACT_H

#include <stddef.h>

/* Secrets that must never reach stderr: the API key from the environment (read at start and
 * again after the script ran) and the key of the embedded sandbox. */
void redact_add(const char *secret);
void redact_add_env(const char *name);
void redact_clear(void);

/* A fresh string with every occurrence of every secret replaced by [REDACTED]; NULL when out of
 * memory. */
char *redact_text(const char *text, size_t len, size_t *outlen);

/* Writes "collate-run: <msg>\n" to stderr, redacted. */
void redact_message(const char *msg);
/* Writes text as given (a newline is not added), redacted. */
void redact_write(const char *text, size_t len);

#endif
