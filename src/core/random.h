#ifndef COLLATE_RANDOM_H
#define COLLATE_RANDOM_H

#include <stddef.h>

/* Fills buf from the kernel CSPRNG (getrandom(2), /dev/urandom if the syscall is missing).
 * Returns 0, or -1 with errno set. */
int collate_random_bytes(void *buf, size_t len);
/* A uniform double in [0, 1). */
double collate_random_unit(void);
/* Formats 16 random bytes as a version 4 UUID (sets the version and variant bits in bytes). */
void collate_uuid4_format(unsigned char bytes[16], char out[37]);

#endif
