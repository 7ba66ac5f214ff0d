/*
 * rconn.c - see rconn.h.
 *
 * Why our own timeout: hiredis 0.14's async API has none, and a Redis that
 * hangs (SIGSTOP, disk stall under appendfsync always) must turn into a 451
 * for the client, not a session stuck forever.  On a timeout the connection
 * is dropped and rebuilt: a server that did not answer one command cannot
 * be trusted to answer the next in time.
 */
#include "rconn.h"
#include "config.h"
#include "log.h"
#include "stats.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

enum rc_state { RC_DOWN = 0, RC_CONNECTING, RC_HANDSHAKE, RC_UP, RC_MISCONFIGURED };

struct rconn {
	struct event_base *base;
	const struct config *cfg;
	redisAsyncContext *ac;
	enum rc_state state;
	struct event *retry_ev;
	int backoff_ms;
	char name[32];
	int handshake_left;
	int handshake_bad;
	char handshake_err[160];
	int freeing;
};

struct rc_req {
	struct rconn *rc;
	rconn_cb *cb;
	void *arg;
	struct event *timer;
	int finished; /* user callback already called (timeout) */
};

static void rc_connect(struct rconn *rc);

static void rc_schedule_retry(struct rconn *rc)
{
	if (rc->freeing)
		return;
	rc->state = RC_DOWN;
	struct timeval tv = {rc->backoff_ms / 1000, (rc->backoff_ms % 1000) * 1000};
	evtimer_add(rc->retry_ev, &tv);
	rc->backoff_ms = rc->backoff_ms * 2 > 2000 ? 2000 : rc->backoff_ms * 2;
}

static void rc_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	rc_connect(arg);
}

static void rc_req_finish(struct rc_req *q, redisReply *r, const char *err)
{
	if (!q->finished) {
		q->finished = 1;
		q->cb(r, q->arg, err);
	}
}

static void rc_reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rc_req *q = privdata;
	redisReply *r = reply;
	if (q->timer)
		event_free(q->timer);
	if (!r)
		STAT_INC(redis_errors);
	rc_req_finish(q, r, r ? NULL : "connection lost");
	free(q);
}

static void rc_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rc_req *q = arg;
	struct rconn *rc = q->rc;
	event_free(q->timer);
	q->timer = NULL;
	STAT_INC(redis_errors);
	log_kv(LOG_WARNING, "redis_timeout", "conn", rc->name, NULL);
	rc_req_finish(q, NULL, "timeout");
	/* Drop the connection: pending callbacks run with NULL and free their requests. */
	if (rc->ac) {
		redisAsyncContext *ac = rc->ac;
		rc->ac = NULL;
		rc->state = RC_DOWN;
		redisAsyncFree(ac);
		rc_schedule_retry(rc);
	}
}

static void rc_send(struct rconn *rc, rconn_cb *cb, void *arg, int argc, const char **argv,
		    const size_t *lens)
{
	struct rc_req *q = calloc(1, sizeof(*q));
	if (!q) {
		cb(NULL, arg, "out of memory");
		return;
	}
	q->rc = rc;
	q->cb = cb;
	q->arg = arg;
	if (redisAsyncCommandArgv(rc->ac, rc_reply_cb, q, argc, argv, lens) != REDIS_OK) {
		free(q);
		cb(NULL, arg, "send failed");
		return;
	}
	q->timer = evtimer_new(rc->base, rc_timeout_cb, q);
	struct timeval tv = {rc->cfg->redis_timeout_ms / 1000, (rc->cfg->redis_timeout_ms % 1000) * 1000};
	evtimer_add(q->timer, &tv);
}

void rconn_cmd(struct rconn *rc, rconn_cb *cb, void *arg, int argc, const char **argv,
	       const size_t *lens)
{
	if (rc->state != RC_UP || !rc->ac) {
		cb(NULL, arg, rc->state == RC_MISCONFIGURED ? "redis durability not satisfied"
							    : "not connected");
		return;
	}
	rc_send(rc, cb, arg, argc, argv, lens);
}

int rconn_up(const struct rconn *rc)
{
	return rc->state == RC_UP;
}

/* Checks a CONFIG GET reply: ["name", "value"] equals WANT. */
static int config_reply_is(redisReply *r, const char *want)
{
	return r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	       r->element[1]->type == REDIS_REPLY_STRING && strcmp(r->element[1]->str, want) == 0;
}

static void rc_handshake_cb(redisReply *r, void *arg, const char *err)
{
	struct rconn *rc = arg;
	/* Each step: AUTH/SELECT must succeed; CONFIG GETs are checked by name. */
	if (!r || r->type == REDIS_REPLY_ERROR) {
		if (!rc->handshake_bad) {
			rc->handshake_bad = 1;
			snprintf(rc->handshake_err, sizeof(rc->handshake_err), "%s",
				 r ? r->str : err);
		}
	} else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		   r->element[0]->type == REDIS_REPLY_STRING) {
		const char *k = r->element[0]->str;
		if ((strcmp(k, "appendonly") == 0 && !config_reply_is(r, "yes")) ||
		    (strcmp(k, "appendfsync") == 0 && !config_reply_is(r, "always"))) {
			rc->handshake_bad = 2;
			snprintf(rc->handshake_err, sizeof(rc->handshake_err),
				 "queue_durability fsync needs appendonly yes and appendfsync always, server has %s %s",
				 k, r->element[1]->type == REDIS_REPLY_STRING ? r->element[1]->str : "?");
		}
	}
	if (--rc->handshake_left > 0)
		return;
	if (rc->handshake_bad == 0) {
		rc->state = RC_UP;
		rc->backoff_ms = 100;
		log_kv(LOG_INFO, "redis_up", "conn", rc->name, NULL);
	} else if (rc->state == RC_HANDSHAKE) {
		log_kv(LOG_ERR, "redis_handshake_failed", "conn", rc->name, "reason",
		       rc->handshake_err, NULL);
		rc->state = rc->handshake_bad == 2 ? RC_MISCONFIGURED : RC_DOWN;
		/* Keep the connection closed and try again later: config may be fixed. */
		if (rc->ac)
			redisAsyncDisconnect(rc->ac);
	}
}

static void rc_connect_cb(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->data;
	if (status != REDIS_OK) {
		log_kv(LOG_WARNING, "redis_connect_failed", "conn", rc->name, "reason",
		       ac->errstr, NULL);
		rc->ac = NULL; /* hiredis frees it after this callback */
		rc_schedule_retry(rc);
		return;
	}
	rc->state = RC_HANDSHAKE;
	rc->handshake_bad = 0;
	rc->handshake_left = 0;
	const struct config *cfg = rc->cfg;
	char db[16];
	if (cfg->redis_password[0]) {
		const char *a[] = {"AUTH", cfg->redis_password};
		rc->handshake_left++;
		rc_send(rc, rc_handshake_cb, rc, 2, a, NULL);
	}
	snprintf(db, sizeof(db), "%d", cfg->redis_db);
	const char *s[] = {"SELECT", db};
	rc->handshake_left++;
	rc_send(rc, rc_handshake_cb, rc, 2, s, NULL);
	if (cfg->queue_durability == DURABILITY_FSYNC) {
		const char *c1[] = {"CONFIG", "GET", "appendonly"};
		const char *c2[] = {"CONFIG", "GET", "appendfsync"};
		rc->handshake_left += 2;
		rc_send(rc, rc_handshake_cb, rc, 3, c1, NULL);
		rc_send(rc, rc_handshake_cb, rc, 3, c2, NULL);
	}
}

static void rc_disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->data;
	rc->ac = NULL;
	if (rc->freeing)
		return;
	if (rc->state == RC_UP)
		log_kv(LOG_WARNING, "redis_down", "conn", rc->name, NULL);
	STAT_INC(redis_reconnects);
	if (rc->state != RC_MISCONFIGURED)
		rc->state = RC_DOWN;
	rc_schedule_retry(rc);
}

static void rc_connect(struct rconn *rc)
{
	const struct config *cfg = rc->cfg;
	redisAsyncContext *ac = cfg->redis_unix[0] ? redisAsyncConnectUnix(cfg->redis_unix)
						   : redisAsyncConnect(cfg->redis_host, cfg->redis_port);
	if (!ac || ac->err) {
		log_kv(LOG_WARNING, "redis_connect_failed", "conn", rc->name, "reason",
		       ac ? ac->errstr : "out of memory", NULL);
		if (ac)
			redisAsyncFree(ac);
		rc_schedule_retry(rc);
		return;
	}
	ac->data = rc;
	rc->ac = ac;
	if (rc->state != RC_MISCONFIGURED)
		rc->state = RC_CONNECTING;
	redisLibeventAttach(ac, rc->base);
	redisAsyncSetConnectCallback(ac, rc_connect_cb);
	redisAsyncSetDisconnectCallback(ac, rc_disconnect_cb);
}

struct rconn *rconn_new(struct event_base *base, const struct config *cfg, const char *name)
{
	struct rconn *rc = calloc(1, sizeof(*rc));
	if (!rc)
		return NULL;
	rc->base = base;
	rc->cfg = cfg;
	rc->backoff_ms = 100;
	util_strlcpy(rc->name, name, sizeof(rc->name));
	rc->retry_ev = evtimer_new(base, rc_retry_cb, rc);
	rc_connect(rc);
	return rc;
}

void rconn_free(struct rconn *rc)
{
	if (!rc)
		return;
	rc->freeing = 1;
	if (rc->ac)
		redisAsyncFree(rc->ac);
	event_free(rc->retry_ev);
	free(rc);
}

redisContext *rconn_connect_sync(const struct config *cfg, char *msg, size_t msglen)
{
	struct timeval tv = {cfg->redis_timeout_ms / 1000, (cfg->redis_timeout_ms % 1000) * 1000};
	redisContext *c = cfg->redis_unix[0]
				  ? redisConnectUnixWithTimeout(cfg->redis_unix, tv)
				  : redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, tv);
	if (!c || c->err) {
		snprintf(msg, msglen, "cannot connect to redis: %s", c ? c->errstr : "out of memory");
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	redisReply *r;
	if (cfg->redis_password[0]) {
		r = redisCommand(c, "AUTH %s", cfg->redis_password);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(msg, msglen, "redis AUTH failed: %s", r ? r->str : c->errstr);
			freeReplyObject(r);
			redisFree(c);
			return NULL;
		}
		freeReplyObject(r);
	}
	r = redisCommand(c, "SELECT %d", cfg->redis_db);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		snprintf(msg, msglen, "redis SELECT failed: %s", r ? r->str : c->errstr);
		freeReplyObject(r);
		redisFree(c);
		return NULL;
	}
	freeReplyObject(r);
	return c;
}

int rconn_check_sync(const struct config *cfg, char *msg, size_t msglen)
{
	redisContext *c = rconn_connect_sync(cfg, msg, msglen);
	if (!c)
		return 1;
	int rv = 0;
	if (cfg->queue_durability == DURABILITY_FSYNC) {
		redisReply *a = redisCommand(c, "CONFIG GET appendonly");
		redisReply *f = redisCommand(c, "CONFIG GET appendfsync");
		if (!a || !f || a->type == REDIS_REPLY_ERROR || f->type == REDIS_REPLY_ERROR) {
			snprintf(msg, msglen, "queue_durability fsync: cannot read the server's "
					      "appendonly/appendfsync (CONFIG GET refused?)");
			rv = -1;
		} else if (!config_reply_is(a, "yes") || !config_reply_is(f, "always")) {
			snprintf(msg, msglen, "queue_durability fsync requires the Redis server's "
					      "\"appendonly yes\" and \"appendfsync always\"; set them or "
					      "choose queue_durability none / replicas N");
			rv = -1;
		}
		freeReplyObject(a);
		freeReplyObject(f);
	}
	redisFree(c);
	return rv;
}

redisReply *rconn_sync_vcmd(redisContext *c, const char *fmt, va_list ap)
{
	if (!c)
		return NULL;
	redisReply *r = redisvCommand(c, fmt, ap);
	if (r && r->type == REDIS_REPLY_ERROR) {
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

redisReply *rconn_sync_cmd(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = rconn_sync_vcmd(c, fmt, ap);
	va_end(ap);
	return r;
}

int rconn_sync_ok(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = rconn_sync_vcmd(c, fmt, ap);
	va_end(ap);
	if (!r)
		return -1;
	freeReplyObject(r);
	return 0;
}
