/*
 * sesslimit.h - per-client-address and per-tenant session limits of one
 * instance: concurrent sessions per address (IPv6 per /64), new sessions per
 * address per minute, concurrent authenticated sessions per tenant.
 *
 * Shared by every SMTP thread behind one mutex; each call is a hash lookup.
 * AUTH failure lockouts are not here: they must hold across instances and
 * live in Redis (smtp_session.c).
 */
#ifndef SESGATE_SESSLIMIT_H
#define SESGATE_SESSLIMIT_H

#include <stdint.h>

enum limit_result {
	LIMIT_OK = 0,
	LIMIT_SESSIONS,  /* too many concurrent sessions */
	LIMIT_RATE,      /* too many new sessions this minute */
};

/* Count a new session of KEY (an address key) at NOW_MS. */
enum limit_result limits_ip_acquire(const char *key, int max_sessions, int per_minute,
				    uint64_t now_ms);
void limits_ip_release(const char *key);

/* Count an authenticated session of tenant TID. */
enum limit_result limits_tenant_acquire(const char *tid, int max_sessions);
void limits_tenant_release(const char *tid);

/* Current concurrent sessions of KEY (address or tenant id); for tests. */
int limits_count(const char *key);

#endif
