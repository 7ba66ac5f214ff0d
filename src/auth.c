/*
 * auth.c - see auth.h.  Direct-mapped table: a collision simply evicts, which
 * costs one extra hash, never a wrong answer (the whole key is compared).
 */
#include "auth.h"
#include "password.h"
#include "util.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <string.h>

#define AUTH_CACHE_SLOTS 4096

struct auth_entry {
	char user[65];
	unsigned char stored_digest[32]; /* digest of the stored hash string */
	unsigned char pw_digest[32];
	uint64_t expires_ms;
};

static struct auth_entry table[AUTH_CACHE_SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int ttl_ms;

void auth_cache_init(int ttl_seconds)
{
	ttl_ms = ttl_seconds * 1000;
}

static unsigned slot_of(const char *user)
{
	unsigned h = 2166136261u;
	for (; *user; user++)
		h = (h ^ (unsigned char)*user) * 16777619u;
	return h % AUTH_CACHE_SLOTS;
}

int auth_cache_check(const char *user, const char *stored, const char *pw, size_t pwlen)
{
	if (ttl_ms <= 0 || strlen(user) > 64)
		return 0;
	unsigned char pd[32], sd[32];
	password_fingerprint(user, pw, pwlen, pd);
	password_fingerprint(user, stored, strlen(stored), sd);
	int hit = 0;
	pthread_mutex_lock(&lock);
	struct auth_entry *e = &table[slot_of(user)];
	if (strcmp(e->user, user) == 0 && e->expires_ms > util_mono_ms() &&
	    CRYPTO_memcmp(e->stored_digest, sd, 32) == 0 && CRYPTO_memcmp(e->pw_digest, pd, 32) == 0)
		hit = 1;
	pthread_mutex_unlock(&lock);
	return hit;
}

void auth_cache_put(const char *user, const char *stored, const char *pw, size_t pwlen)
{
	if (ttl_ms <= 0 || strlen(user) > 64)
		return;
	struct auth_entry n;
	util_strlcpy(n.user, user, sizeof(n.user));
	password_fingerprint(user, pw, pwlen, n.pw_digest);
	password_fingerprint(user, stored, strlen(stored), n.stored_digest);
	n.expires_ms = util_mono_ms() + (uint64_t)ttl_ms;
	pthread_mutex_lock(&lock);
	table[slot_of(user)] = n;
	pthread_mutex_unlock(&lock);
}
