/*
 * base64.h - RFC 4648 base64 (standard alphabet, padded).  Pure functions.
 */
#ifndef SESGATE_BASE64_H
#define SESGATE_BASE64_H

#include <stddef.h>

/* Encoded length of N octets, without the terminating NUL. */
size_t base64_encoded_len(size_t n);

/* Encode IN (LEN octets) into OUT, which must hold base64_encoded_len+1. Returns length. */
size_t base64_encode(const void *in, size_t len, char *out);

/*
 * Strictly decode IN (LEN chars) into OUT (CAP octets).  Rejects characters
 * outside the alphabet, wrong padding and non-zero trailing bits.  Returns the
 * decoded length, or -1.
 */
long base64_decode(const char *in, size_t len, void *out, size_t cap);

/* base64url without padding (RFC 4648 5), for generated secrets and ids. */
size_t base64url_encode(const void *in, size_t len, char *out);

#endif
