/*
 * password.h - generated SMTP passwords and their stored form.
 *
 * Stored form: "pbkdf2-sha256$ITERATIONS$SALT$HASH" (salt 16 octets, hash 32
 * octets, both base64url).  Only this string is kept; the password itself is
 * shown once by `cred add` and never stored or logged.
 * password_verify() costs ITERATIONS HMAC rounds: never call it on an event
 * loop thread (the daemon runs it on the hash pool, see hashpool.h).
 */
#ifndef SESGATE_PASSWORD_H
#define SESGATE_PASSWORD_H

#include <stddef.h>

#define PASSWORD_LEN 32          /* characters of a generated password */
#define PASSWORD_HASH_MAX 160    /* room for the stored form */

/* A new random password: PASSWORD_LEN base64url characters (192 bits) + NUL. */
int password_generate(char *out, size_t outlen);

/* Hash PW into its stored form (OUT, PASSWORD_HASH_MAX).  0 or -1. */
int password_hash(const char *pw, size_t pwlen, int iterations, char *out, size_t outlen);

/* 1 if PW matches STORED, 0 if not, -1 if STORED is malformed.  Constant time compare. */
int password_verify(const char *pw, size_t pwlen, const char *stored);

/*
 * A keyed digest of PW (HMAC-SHA256 under a per-process random key) used to
 * remember recently verified passwords without keeping them: OUT 32 octets.
 */
void password_fingerprint(const char *user, const char *pw, size_t pwlen, unsigned char out[32]);

#endif
