/*
 * util.h - small helpers shared by every thread: clocks, random ids,
 * bounded string copies.  Nothing here blocks or allocates behind the
 * caller's back.
 */
#ifndef SESGATE_UTIL_H
#define SESGATE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define QUEUE_ID_LEN 16   /* characters of a queue id, without NUL */

/* Wall-clock time in milliseconds since the epoch. */
uint64_t util_now_ms(void);
/* Monotonic time in milliseconds (for durations and timeouts). */
uint64_t util_mono_ms(void);

/*
 * Fill BUF with LEN cryptographically random octets (OpenSSL RAND_bytes).
 * Returns 0, or -1 if the generator failed (caller must refuse to proceed).
 */
int util_random(void *buf, size_t len);

/*
 * A queue id: 16 characters of Crockford base32 encoding 42 bits of the
 * wall clock in ms and 38 random bits, so ids sort by arrival and are
 * unique across instances without coordination.  OUT gets QUEUE_ID_LEN+1.
 */
int util_queue_id(char *out);

/* N random octets as 2N lower-case hex characters plus NUL. */
int util_random_hex(char *out, size_t nbytes);

/* strlcpy semantics: always NUL-terminates, returns strlen(src). */
size_t util_strlcpy(char *dst, const char *src, size_t size);

/* ASCII lower-case in place. */
void util_lower(char *s);

/* RFC 5322 date-time for Received: headers ("Sun, 29 Nov 2026 03:37:54 +0000"). */
void util_rfc5322_date(uint64_t ms, char *out, size_t outlen);

/* ISO-8601 UTC ("2026-11-29T03:37:54Z"). */
void util_iso8601(uint64_t sec, char *out, size_t outlen);

/*
 * Length of the well-formed UTF-8 sequence at S (N octets available): no
 * overlong forms, no surrogates, nothing above U+10FFFF.  0 if none.
 */
size_t util_utf8_seq(const unsigned char *s, size_t n);

/* Value of one hex digit, or -1. */
int util_hexval(int c);

/* Wipe a secret so the compiler cannot elide it. */
void util_wipe(void *p, size_t len);

#endif
