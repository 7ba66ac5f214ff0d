/*
 * password.c - PBKDF2-HMAC-SHA256 password hashes (OpenSSL) and generated
 * passwords.  Pure apart from the random generator; thread-safe.
 */
#include "password.h"
#include "base64.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define SALT_LEN 16
#define HASH_LEN 32

int password_generate(char *out, size_t outlen)
{
	unsigned char raw[24]; /* 24 octets = exactly 32 base64url characters */
	char tmp[64];
	if (outlen < PASSWORD_LEN + 1 || util_random(raw, sizeof(raw)) < 0)
		return -1;
	base64url_encode(raw, sizeof(raw), tmp);
	/* A leading '-' reads as an option to command-line clients (swaks,
	 * curl); costs under 0.1 bit of the 192. */
	if (tmp[0] == '-' || tmp[0] == '_')
		tmp[0] = (char)('a' + raw[23] % 26);
	memcpy(out, tmp, PASSWORD_LEN);
	out[PASSWORD_LEN] = '\0';
	util_wipe(raw, sizeof(raw));
	util_wipe(tmp, sizeof(tmp));
	return 0;
}

static int derive(const char *pw, size_t pwlen, const unsigned char *salt, size_t saltlen,
		  int iterations, unsigned char *out)
{
	return PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)saltlen, iterations, EVP_sha256(),
				 HASH_LEN, out) == 1 ? 0 : -1;
}

int password_hash(const char *pw, size_t pwlen, int iterations, char *out, size_t outlen)
{
	unsigned char salt[SALT_LEN], hash[HASH_LEN];
	char s64[32], h64[64];
	if (iterations < 1 || util_random(salt, sizeof(salt)) < 0 ||
	    derive(pw, pwlen, salt, sizeof(salt), iterations, hash) < 0)
		return -1;
	base64url_encode(salt, sizeof(salt), s64);
	base64url_encode(hash, sizeof(hash), h64);
	int n = snprintf(out, outlen, "pbkdf2-sha256$%d$%s$%s", iterations, s64, h64);
	util_wipe(hash, sizeof(hash));
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* base64url without padding back to octets; returns length or -1. */
static long b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	char tmp[128];
	if (len + 4 > sizeof(tmp))
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		tmp[i] = c == '-' ? '+' : c == '_' ? '/' : c;
	}
	size_t n = len;
	while (n % 4)
		tmp[n++] = '=';
	return base64_decode(tmp, n, out, cap);
}

int password_verify(const char *pw, size_t pwlen, const char *stored)
{
	const char *p = stored;
	if (strncmp(p, "pbkdf2-sha256$", 14) != 0)
		return -1;
	p += 14;
	char *end;
	long iter = strtol(p, &end, 10);
	if (end == p || *end != '$' || iter < 1 || iter > 100000000)
		return -1;
	const char *salt = end + 1;
	const char *dollar = strchr(salt, '$');
	if (!dollar)
		return -1;
	unsigned char sbuf[64], want[64], got[HASH_LEN];
	long slen = b64url_decode(salt, (size_t)(dollar - salt), sbuf, sizeof(sbuf));
	long hlen = b64url_decode(dollar + 1, strlen(dollar + 1), want, sizeof(want));
	if (slen < 4 || hlen != HASH_LEN)
		return -1;
	if (derive(pw, pwlen, sbuf, (size_t)slen, (int)iter, got) < 0)
		return -1;
	int ok = CRYPTO_memcmp(got, want, HASH_LEN) == 0;
	util_wipe(got, sizeof(got));
	return ok;
}

static unsigned char fp_key[32];
static pthread_once_t fp_once = PTHREAD_ONCE_INIT;

static void fp_init(void)
{
	if (util_random(fp_key, sizeof(fp_key)) < 0)
		abort(); /* no randomness: nothing about credentials can be trusted */
}

void password_fingerprint(const char *user, const char *pw, size_t pwlen, unsigned char out[32])
{
	pthread_once(&fp_once, fp_init);
	unsigned int len = 32;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
				OSSL_PARAM_construct_end()};
	size_t outl = 0;
	if (!ctx || !EVP_MAC_init(ctx, fp_key, sizeof(fp_key), params) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)user, strlen(user) + 1) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)pw, pwlen) ||
	    !EVP_MAC_final(ctx, out, &outl, len))
		abort();
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
}
