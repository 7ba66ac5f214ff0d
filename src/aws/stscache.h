/*
 * stscache.h - per-tenant temporary credentials from STS AssumeRole, shared
 * by every delivery thread of the process.
 *
 * The cache decides; the caller does the I/O.  stscache_get() tells the
 * caller whether it may use cached credentials, must fetch new ones (and is
 * then the only one doing so for that key: single flight), must wait for a
 * refresh another thread is doing, or must hold off because STS failed
 * recently (exponential backoff).  The time is passed in, so the logic is
 * tested with a fake clock.  Thread-safe (one mutex; no I/O under it).
 * Secrets are wiped when replaced or freed.
 */
#ifndef SESGATE_AWS_STSCACHE_H
#define SESGATE_AWS_STSCACHE_H

#include <stddef.h>
#include <time.h>

#include "aws/awsparse.h"

enum stsc_result {
	STSC_HIT = 0,    /* OUT holds valid credentials */
	STSC_HIT_REFRESH, /* OUT holds valid credentials; caller must refresh now */
	STSC_REFRESH,    /* nothing usable; caller must fetch and then put/fail */
	STSC_WAIT,       /* another caller is fetching; ask again later */
	STSC_BACKOFF,    /* the last fetch failed; ERR says why, *RETRY_AT when to try */
};

struct stscache;

/*
 * REFRESH_BEFORE: seconds before expiry a refresh starts while the old
 * credentials are still used.  LEASE: seconds after which a refresh that
 * never reported back (its owner vanished) may be taken over.
 */
struct stscache *stscache_new(int refresh_before, int lease);
void stscache_free(struct stscache *c);

/* OUT is filled (owned copies; aws_temp_creds_free) only for STSC_HIT*. */
enum stsc_result stscache_get(struct stscache *c, const char *key, time_t now,
			      struct aws_temp_creds *out, char *err, size_t errcap,
			      time_t *retry_at);

/* End a refresh with new credentials (taken over: CR is reset). */
void stscache_put(struct stscache *c, const char *key, struct aws_temp_creds *cr, time_t now);

/* End a refresh with a failure: backoff 1 s, doubling to 5 min. */
void stscache_fail(struct stscache *c, const char *key, time_t now, const char *err);

/*
 * AWS said these credentials are no longer valid (ExpiredToken,
 * InvalidClientTokenId).  Drops them if they are still the cached ones
 * (ACCESS_KEY_ID), so a burst of such answers causes one refresh only.
 */
void stscache_invalidate(struct stscache *c, const char *key, const char *access_key_id);

/* Entries currently cached (for status output). */
size_t stscache_size(struct stscache *c);

#endif
