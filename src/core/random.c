/* Randomness from the kernel CSPRNG: UUIDs are idempotency keys, so they must not repeat across
 * processes started in the same second (a time-seeded PRNG would). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/random.h>
#include <unistd.h>

#include "random.h"

static int urandom_bytes(unsigned char *p, size_t len) {
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  close(fd);
  return 0;
}

int collate_random_bytes(void *buf, size_t len) {
  unsigned char *p = (unsigned char *)buf;
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOSYS) return urandom_bytes(p, len);
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

double collate_random_unit(void) {
  uint64_t r = 0;
  if (collate_random_bytes(&r, sizeof r) != 0) return 0.5; /* jitter only; never fatal */
  return (double)(r >> 11) * (1.0 / 9007199254740992.0);
}

void collate_uuid4_format(unsigned char b[16], char out[37]) {
  static const char hex[] = "0123456789abcdef";
  int i, o = 0;
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10xx (RFC 4122) */
  for (i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    out[o++] = hex[b[i] >> 4];
    out[o++] = hex[b[i] & 0x0f];
  }
  out[o] = '\0';
}
