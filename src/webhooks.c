/*
 * webhooks.c - per-tenant webhooks: each SES event of a tenant with a
 * `webhook_url` is POSTed there as JSON, signed with HMAC-SHA256 over
 * "TIMESTAMP.BODY" with the tenant's `webhook_secret`:
 *
 *   X-Sesgate-Timestamp: 1795930000
 *   X-Sesgate-Signature: v1=<hex HMAC-SHA256(secret, "1795930000." + body)>
 *
 * Events wait in Redis (sg:{T}:hooks, a list, oldest first; sg:hooks, a
 * zset of tenants with events due), so ingestion only appends and never
 * waits for a tenant's endpoint.  This sender runs on the HTTP thread's
 * loop with curl multi: at most one POST per tenant at a time (in order),
 * many tenants at once.  A failure is retried with backoff (5 s doubling to
 * 1 h, 12 tries); then the event is dropped and counted.  A lease per tenant
 * keeps two instances from sending the same event.
 */
#include "webhooks.h"
#include "aws/http.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"
#include "sesgate.h"
#include "stats.h"
#include "util.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOOK_TICK_MS 250
#define HOOK_PARALLEL 16
#define HOOK_TIMEOUT_MS 10000
#define HOOK_MAX_TRIES 12
#define HOOK_LEASE_MS 60000

static const struct config *cfg;
static redisContext *(*redis)(void);
static struct http *http;
static struct event *tick;
static int inflight;
static char owner[64];

struct hook {
	char tid[TENANT_ID_LEN + 1];
};

static redisReply *cmd(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = rconn_sync_vcmd(redis(), fmt, ap);
	va_end(ap);
	return r;
}

static void run(const char *fmt, const char *a, const char *b, const char *c2)
{
	redisReply *r = cmd(fmt, a, b, c2);
	if (r)
		freeReplyObject(r);
}

static const char release_lua[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
	"return 0\n";

static void release(const char *tid)
{
	char k[KEY_MAX];
	snprintf(k, sizeof(k), "sg:{%s}:hooks:lease", tid);
	redisReply *r = cmd("EVAL %s 1 %s %s", release_lua, k, owner);
	if (r)
		freeReplyObject(r);
}

static void schedule(const char *tid, uint64_t when)
{
	char w[32];
	snprintf(w, sizeof(w), "%llu", (unsigned long long)when);
	run("ZADD %s %s %s", KEY_HOOKS, w, tid);
}

void webhook_sign(const char *secret, long long ts, const char *body, size_t len,
		  char out[65])
{
	char prefix[32];
	int pl = snprintf(prefix, sizeof(prefix), "%lld.", ts);
	unsigned char mac[32];
	unsigned int ml = 0;
	/* HMAC over prefix + body without copying the body. */
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = m ? EVP_MAC_CTX_new(m) : NULL;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
			       OSSL_PARAM_construct_end()};
	size_t outl = 0;
	int ok = c && EVP_MAC_init(c, (const unsigned char *)secret, strlen(secret), params) == 1 &&
		 EVP_MAC_update(c, (const unsigned char *)prefix, (size_t)pl) == 1 &&
		 EVP_MAC_update(c, (const unsigned char *)body, len) == 1 &&
		 EVP_MAC_final(c, mac, &outl, sizeof(mac)) == 1;
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(m);
	ml = ok ? (unsigned int)outl : 0;
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", i < ml ? mac[i] : 0);
	out[64] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
}

static uint64_t backoff_ms(long long tries)
{
	uint64_t d = 5000;
	for (long long i = 1; i < tries && d < 3600000; i++)
		d *= 2;
	return d > 3600000 ? 3600000 : d;
}

static void done_cb(const struct http_resp *r, void *arg)
{
	struct hook *h = arg;
	char kq[KEY_MAX], ks[KEY_MAX];
	snprintf(kq, sizeof(kq), "sg:{%s}:hooks", h->tid);
	snprintf(ks, sizeof(ks), "sg:{%s}:hookstate", h->tid);
	inflight--;
	if (r->status >= 200 && r->status < 300) {
		STAT_INC(webhooks_sent);
		run("LPOP %s", kq, NULL, NULL);
		run("HDEL %s attempts last_error", ks, NULL, NULL);
		schedule(h->tid, util_now_ms());
	} else {
		char err[160];
		snprintf(err, sizeof(err), "%s", r->status ? "HTTP status" : (r->err ? r->err : "error"));
		if (r->status)
			snprintf(err, sizeof(err), "HTTP %ld", r->status);
		redisReply *t = cmd("HINCRBY %s attempts 1", ks);
		long long tries = t && t->type == REDIS_REPLY_INTEGER ? t->integer : HOOK_MAX_TRIES;
		if (t)
			freeReplyObject(t);
		run("HSET %s last_error %s", ks, err, NULL);
		STAT_INC(webhook_failures);
		if (tries >= HOOK_MAX_TRIES) {
			run("LPOP %s", kq, NULL, NULL);
			run("HDEL %s attempts", ks, NULL, NULL);
			STAT_INC(webhooks_dropped);
			log_kv(LOG_WARNING, "webhook_dropped", "tenant", h->tid, "reason", err, NULL);
			schedule(h->tid, util_now_ms());
		} else {
			log_kv(LOG_NOTICE, "webhook_retry", "tenant", h->tid, "reason", err, NULL);
			schedule(h->tid, util_now_ms() + backoff_ms(tries));
		}
	}
	release(h->tid);
	free(h);
}

/* Send the oldest waiting event of TID (holding its lease). */
static void send_one(const char *tid)
{
	char kq[KEY_MAX], kt[KEY_MAX], kl[KEY_MAX];
	snprintf(kl, sizeof(kl), "sg:{%s}:hooks:lease", tid);
	redisReply *l = cmd("SET %s %s PX %d NX", kl, owner, HOOK_LEASE_MS);
	int got = l && l->type == REDIS_REPLY_STATUS;
	if (l)
		freeReplyObject(l);
	if (!got)
		return;
	snprintf(kq, sizeof(kq), "sg:{%s}:hooks", tid);
	redisReply *ev = cmd("LINDEX %s 0", kq);
	redisReply *t = ev && ev->type == REDIS_REPLY_STRING
				? cmd("HMGET %s webhook_url webhook_secret", key_tenant(kt, tid))
				: NULL;
	const char *url = t && t->elements == 2 && t->element[0]->type == REDIS_REPLY_STRING
				  ? t->element[0]->str
				  : NULL;
	const char *secret = t && t->elements == 2 && t->element[1]->type == REDIS_REPLY_STRING
				     ? t->element[1]->str
				     : "";
	if (!ev || ev->type != REDIS_REPLY_STRING || !url || !*url) {
		/* Nothing waiting, or no webhook any more: stop looking. */
		if (ev && ev->type == REDIS_REPLY_STRING)
			run("DEL %s", kq, NULL, NULL);
		run("ZREM %s %s", KEY_HOOKS, tid, NULL);
		/* An event appended meanwhile re-adds the tenant itself (NX). */
		redisReply *n = cmd("LLEN %s", kq);
		if (n && n->integer > 0)
			schedule(tid, util_now_ms());
		if (n)
			freeReplyObject(n);
		goto out;
	}
	long long ts = (long long)time(NULL);
	char sig[65], h1[64], h2[96];
	webhook_sign(secret, ts, ev->str, ev->len, sig);
	snprintf(h1, sizeof(h1), "X-Sesgate-Timestamp: %lld", ts);
	snprintf(h2, sizeof(h2), "X-Sesgate-Signature: v1=%s", sig);
	struct curl_slist *sl = curl_slist_append(NULL, "Content-Type: application/json");
	sl = curl_slist_append(sl, h1);
	sl = curl_slist_append(sl, h2);
	char *body = malloc(ev->len + 1);
	struct hook *h = calloc(1, sizeof(*h));
	if (!body || !h || !sl) {
		free(body);
		free(h);
		curl_slist_free_all(sl);
		goto out;
	}
	memcpy(body, ev->str, ev->len);
	body[ev->len] = '\0';
	snprintf(h->tid, sizeof(h->tid), "%s", tid);
	/* Busy until it answers: later events of this tenant wait their turn. */
	schedule(tid, util_now_ms() + HOOK_LEASE_MS);
	if (http_send(http, "POST", url, sl, body, ev->len, HOOK_TIMEOUT_MS, done_cb, h) < 0) {
		free(h);
		goto out;
	}
	inflight++;
	freeReplyObject(ev);
	freeReplyObject(t);
	return;
out:
	if (ev)
		freeReplyObject(ev);
	if (t)
		freeReplyObject(t);
	release(tid);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	if (inflight >= HOOK_PARALLEL)
		return;
	char now[32], lim[16];
	snprintf(now, sizeof(now), "%llu", (unsigned long long)util_now_ms());
	snprintf(lim, sizeof(lim), "%d", HOOK_PARALLEL - inflight);
	redisReply *r = cmd("ZRANGEBYSCORE %s -inf %s LIMIT 0 %s", KEY_HOOKS, now, lim);
	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		if (key_valid_tenant_id(r->element[i]->str))
			send_one(r->element[i]->str);
	if (r)
		freeReplyObject(r);
}

int webhooks_start(struct event_base *base, const struct config *c,
		   redisContext *(*redis_fn)(void))
{
	cfg = c;
	redis = redis_fn;
	snprintf(owner, sizeof(owner), "%s:hooks", g_instance);
	http = http_new(base, c->webhook_ca);
	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	if (!http || !tick)
		return -1;
	struct timeval tv = {0, HOOK_TICK_MS * 1000};
	event_add(tick, &tv);
	return 0;
}

void webhooks_stop(void)
{
	if (tick)
		event_free(tick);
	tick = NULL;
	http_free(http);
	http = NULL;
}
