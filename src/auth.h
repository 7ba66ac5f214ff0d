/*
 * auth.h - a small cache of recently verified credentials so that app
 * servers reconnecting for every message pay the slow hash once per
 * auth_cache_ttl, not once per message.
 *
 * It never decides alone: the session always reads the credential from
 * Redis first (so a revoked credential fails at once on every instance) and
 * consults the cache only to skip the PBKDF2 for the same user, the same
 * stored hash and the same password.  Entries hold a keyed digest of the
 * password, never the password.  Shared by all SMTP threads (one mutex).
 */
#ifndef SESGATE_AUTH_H
#define SESGATE_AUTH_H

#include <stddef.h>

void auth_cache_init(int ttl_seconds);
/* 1 if USER with STORED hash was verified with PW within the TTL. */
int auth_cache_check(const char *user, const char *stored, const char *pw, size_t pwlen);
void auth_cache_put(const char *user, const char *stored, const char *pw, size_t pwlen);

#endif
