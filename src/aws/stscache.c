/*
 * stscache.c - see stscache.h.
 */
#include "aws/stscache.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 4096
#define BACKOFF_MIN 1
#define BACKOFF_MAX 300
/* Credentials closer to expiry than this are never handed out: a request
 * signed with them could arrive after they lapse. */
#define MIN_VALIDITY 60

struct entry {
	struct entry *next;
	char *key;
	struct aws_temp_creds cr; /* access_key_id NULL = none */
	time_t refresh_started;   /* 0 = no refresh in flight */
	time_t retry_at;          /* backoff after a failure */
	int failures;
	char err[160];
};

struct stscache {
	pthread_mutex_t lock;
	int refresh_before, lease;
	size_t n;
	struct entry *b[NBUCKETS];
};

static unsigned hash(const char *s)
{
	unsigned h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % NBUCKETS;
}

static struct entry *find(struct stscache *c, const char *key, int create)
{
	unsigned h = hash(key);
	for (struct entry *e = c->b[h]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	if (!create)
		return NULL;
	struct entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strdup(key))) {
		free(e);
		return NULL;
	}
	e->next = c->b[h];
	c->b[h] = e;
	c->n++;
	return e;
}

struct stscache *stscache_new(int refresh_before, int lease)
{
	struct stscache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->refresh_before = refresh_before;
	c->lease = lease;
	return c;
}

void stscache_free(struct stscache *c)
{
	if (!c)
		return;
	for (int i = 0; i < NBUCKETS; i++)
		while (c->b[i]) {
			struct entry *e = c->b[i];
			c->b[i] = e->next;
			aws_temp_creds_free(&e->cr);
			free(e->key);
			free(e);
		}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int copy_creds(struct aws_temp_creds *dst, const struct aws_temp_creds *src)
{
	dst->access_key_id = dup_or_null(src->access_key_id);
	dst->secret_access_key = dup_or_null(src->secret_access_key);
	dst->session_token = dup_or_null(src->session_token);
	dst->expiration = src->expiration;
	if (!dst->access_key_id || !dst->secret_access_key ||
	    (src->session_token && !dst->session_token)) {
		aws_temp_creds_free(dst);
		return -1;
	}
	return 0;
}

enum stsc_result stscache_get(struct stscache *c, const char *key, time_t now,
			      struct aws_temp_creds *out, char *err, size_t errcap,
			      time_t *retry_at)
{
	enum stsc_result r;
	pthread_mutex_lock(&c->lock);
	struct entry *e = find(c, key, 1);
	if (!e) {
		pthread_mutex_unlock(&c->lock);
		if (err && errcap)
			snprintf(err, errcap, "out of memory");
		if (retry_at)
			*retry_at = now + BACKOFF_MIN;
		return STSC_BACKOFF;
	}
	int valid = e->cr.access_key_id && e->cr.expiration - now > MIN_VALIDITY;
	int refreshing = e->refresh_started && now - e->refresh_started < c->lease;
	if (valid) {
		r = STSC_HIT;
		if (!refreshing && e->cr.expiration - now <= c->refresh_before &&
		    now >= e->retry_at) {
			e->refresh_started = now;
			r = STSC_HIT_REFRESH;
		}
		if (copy_creds(out, &e->cr) < 0) {
			if (r == STSC_HIT_REFRESH)
				e->refresh_started = 0;
			r = STSC_WAIT;
		}
	} else if (refreshing) {
		r = STSC_WAIT;
	} else if (now < e->retry_at) {
		r = STSC_BACKOFF;
		if (err && errcap)
			snprintf(err, errcap, "%s", e->err);
		if (retry_at)
			*retry_at = e->retry_at;
	} else {
		e->refresh_started = now;
		r = STSC_REFRESH;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

void stscache_put(struct stscache *c, const char *key, struct aws_temp_creds *cr, time_t now)
{
	pthread_mutex_lock(&c->lock);
	struct entry *e = find(c, key, 1);
	if (e) {
		aws_temp_creds_free(&e->cr);
		e->cr = *cr;
		memset(cr, 0, sizeof(*cr));
		e->refresh_started = 0;
		e->failures = 0;
		e->retry_at = 0;
		e->err[0] = '\0';
	} else {
		aws_temp_creds_free(cr);
	}
	pthread_mutex_unlock(&c->lock);
}

void stscache_fail(struct stscache *c, const char *key, time_t now, const char *err)
{
	pthread_mutex_lock(&c->lock);
	struct entry *e = find(c, key, 1);
	if (e) {
		int d = BACKOFF_MIN;
		for (int i = 0; i < e->failures && d < BACKOFF_MAX; i++)
			d *= 2;
		if (d > BACKOFF_MAX)
			d = BACKOFF_MAX;
		e->failures++;
		e->retry_at = now + d;
		e->refresh_started = 0;
		snprintf(e->err, sizeof(e->err), "%s", err ? err : "STS failed");
	}
	pthread_mutex_unlock(&c->lock);
}

void stscache_invalidate(struct stscache *c, const char *key, const char *access_key_id)
{
	pthread_mutex_lock(&c->lock);
	struct entry *e = find(c, key, 0);
	if (e && e->cr.access_key_id && access_key_id &&
	    strcmp(e->cr.access_key_id, access_key_id) == 0)
		aws_temp_creds_free(&e->cr);
	pthread_mutex_unlock(&c->lock);
}

size_t stscache_size(struct stscache *c)
{
	pthread_mutex_lock(&c->lock);
	size_t n = c->n;
	pthread_mutex_unlock(&c->lock);
	return n;
}
