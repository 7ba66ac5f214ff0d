/*
 * sesslimit.c - see sesslimit.h.  One open-hashing table keyed by "i:ADDR" or
 * "t:TENANT".  An address entry holds its session count and a token bucket
 * (capacity = the per-minute rate, refilled continuously), so a burst of a
 * minute's worth is allowed and a steady flood is not.  Entries with no
 * session and a full bucket carry no information and are dropped when the
 * table is swept; the table therefore stays as small as the set of clients
 * seen in the last minute.
 */
#include "sesslimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define KEY_LEN 80

struct entry {
	struct entry *next;
	char key[KEY_LEN];
	int sessions;
	double tokens;      /* -1: bucket unused (tenant entries) */
	uint64_t last_ms;
	int per_minute;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry **table;
static size_t nbuckets, nentries;

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void refill(struct entry *e, uint64_t now_ms)
{
	if (e->tokens < 0 || now_ms <= e->last_ms)
		return;
	e->tokens += (double)(now_ms - e->last_ms) * e->per_minute / 60000.0;
	if (e->tokens > e->per_minute)
		e->tokens = e->per_minute;
	e->last_ms = now_ms;
}

static int idle(const struct entry *e)
{
	return e->sessions == 0 && (e->tokens < 0 || e->tokens >= e->per_minute);
}

/* Drop idle entries; grow the table when it stays crowded.  Lock held. */
static void sweep(uint64_t now_ms)
{
	for (size_t i = 0; i < nbuckets; i++) {
		struct entry **pp = &table[i];
		while (*pp) {
			struct entry *e = *pp;
			refill(e, now_ms);
			if (idle(e)) {
				*pp = e->next;
				free(e);
				nentries--;
			} else {
				pp = &e->next;
			}
		}
	}
	if (nentries < nbuckets)
		return;
	size_t nn = nbuckets * 2;
	struct entry **nt = calloc(nn, sizeof(*nt));
	if (!nt)
		return;
	for (size_t i = 0; i < nbuckets; i++)
		while (table[i]) {
			struct entry *e = table[i];
			table[i] = e->next;
			size_t b = hash(e->key) % nn;
			e->next = nt[b];
			nt[b] = e;
		}
	free(table);
	table = nt;
	nbuckets = nn;
}

/* Find or (CREATE) add the entry of PREFIX+KEY.  Lock held. */
static struct entry *lookup(char prefix, const char *key, int create, uint64_t now_ms)
{
	char k[KEY_LEN];
	k[0] = prefix;
	k[1] = ':';
	size_t n = strnlen(key, KEY_LEN - 3);
	memcpy(k + 2, key, n);
	k[2 + n] = '\0';
	if (!table) {
		nbuckets = 1024;
		table = calloc(nbuckets, sizeof(*table));
		if (!table)
			return NULL;
	}
	size_t b = hash(k) % nbuckets;
	for (struct entry *e = table[b]; e; e = e->next)
		if (strcmp(e->key, k) == 0)
			return e;
	if (!create)
		return NULL;
	if (nentries >= nbuckets) {
		sweep(now_ms);
		b = hash(k) % nbuckets;
	}
	struct entry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	memcpy(e->key, k, sizeof(k));
	e->tokens = -1;
	e->last_ms = now_ms;
	e->next = table[b];
	table[b] = e;
	nentries++;
	return e;
}

enum limit_result limits_ip_acquire(const char *key, int max_sessions, int per_minute,
				    uint64_t now_ms)
{
	enum limit_result r = LIMIT_OK;
	pthread_mutex_lock(&lock);
	struct entry *e = lookup('i', key, 1, now_ms);
	if (e) {
		if (e->tokens < 0 || e->per_minute != per_minute) {
			e->per_minute = per_minute;
			e->tokens = per_minute;
			e->last_ms = now_ms;
		}
		refill(e, now_ms);
		if (e->sessions >= max_sessions) {
			r = LIMIT_SESSIONS;
		} else if (e->tokens < 1) {
			r = LIMIT_RATE;
		} else {
			e->tokens -= 1;
			e->sessions++;
		}
	}
	/* Out of memory: let the client in rather than refuse everyone. */
	pthread_mutex_unlock(&lock);
	return r;
}

static void release(char prefix, const char *key)
{
	pthread_mutex_lock(&lock);
	struct entry *e = lookup(prefix, key, 0, 0);
	if (e && e->sessions > 0)
		e->sessions--;
	pthread_mutex_unlock(&lock);
}

void limits_ip_release(const char *key)
{
	release('i', key);
}

enum limit_result limits_tenant_acquire(const char *tid, int max_sessions)
{
	enum limit_result r = LIMIT_OK;
	pthread_mutex_lock(&lock);
	struct entry *e = lookup('t', tid, 1, 0);
	if (e) {
		if (e->sessions >= max_sessions)
			r = LIMIT_SESSIONS;
		else
			e->sessions++;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

void limits_tenant_release(const char *tid)
{
	release('t', tid);
}

int limits_count(const char *key)
{
	pthread_mutex_lock(&lock);
	struct entry *e = lookup('i', key, 0, 0);
	if (!e)
		e = lookup('t', key, 0, 0);
	int n = e ? e->sessions : 0;
	pthread_mutex_unlock(&lock);
	return n;
}
