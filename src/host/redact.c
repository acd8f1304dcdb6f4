#include "redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shorter values are not keys; redacting them would shred every message. */
#define MIN_SECRET 4
#define MAX_SECRETS 8
#define MARK "[REDACTED]"

static char *secrets[MAX_SECRETS];
static int nsecrets;

void redact_add(const char *secret)
{
  if (secret == NULL || strlen(secret) < MIN_SECRET || nsecrets == MAX_SECRETS)
    return;
  for (int i = 0; i < nsecrets; i++)
    if (strcmp(secrets[i], secret) == 0)
      return;
  char *copy = strdup(secret);
  if (copy)
    secrets[nsecrets++] = copy;
}

void redact_add_env(const char *name)
{
  redact_add(getenv(name));
}

void redact_clear(void)
{
  for (int i = 0; i < nsecrets; i++)
    free(secrets[i]);
  nsecrets = 0;
}

/* Length of the secret that starts at p, the longest when several do; 0 for none. */
static size_t match_at(const char *p, size_t left)
{
  size_t best = 0;
  for (int i = 0; i < nsecrets; i++) {
    size_t n = strlen(secrets[i]);
    if (n <= left && n > best && memcmp(p, secrets[i], n) == 0)
      best = n;
  }
  return best;
}

char *redact_text(const char *text, size_t len, size_t *outlen)
{
  /* each replaced secret is at least MIN_SECRET bytes, so the text grows at most by this */
  size_t cap = len + (len / MIN_SECRET + 1) * sizeof MARK + 1;
  char *out = malloc(cap);
  if (out == NULL)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    size_t n = nsecrets ? match_at(text + i, len - i) : 0;
    if (n) {
      memcpy(out + o, MARK, sizeof MARK - 1);
      o += sizeof MARK - 1;
      i += n;
    } else {
      out[o++] = text[i++];
    }
  }
  out[o] = '\0';
  if (outlen)
    *outlen = o;
  return out;
}

void redact_write(const char *text, size_t len)
{
  size_t n;
  char *clean = redact_text(text, len, &n);
  if (clean == NULL) {
    fputs("collate-run: out of memory while reporting an error\n", stderr);
    return;
  }
  fwrite(clean, 1, n, stderr);
  fflush(stderr);
  free(clean);
}

void redact_message(const char *msg)
{
  size_t len = strlen(msg);
  char *line = malloc(len + 16);
  if (line == NULL) {
    fputs("collate-run: out of memory while reporting an error\n", stderr);
    return;
  }
  int n = snprintf(line, len + 16, "collate-run: %s\n", msg);
  redact_write(line, (size_t)n);
  free(line);
}
