/*
 * queue.c - see queue.h.
 *
 * The message hash, its place in the tenant's ready set and in the tenant's
 * arrival index are written by one Lua script: Redis runs it atomically, so a
 * crash or a dropped connection leaves either the whole message or nothing.
 * The script also refuses when the tenant record is gone (deleted while the
 * client was sending).  Only after its reply (and, with `replicas N`, after
 * WAIT confirmed N replicas) does the session send 250.
 * sg:sched (the global index of tenants with due mail) is updated by a
 * separate command because in Redis Cluster it lives in another slot; workers
 * repair a missed update by sweeping the tenant list.
 */
#include "queue.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"
#include "sesgate.h"
#include "stats.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char enqueue_lua[] =
	"if redis.call('EXISTS', KEYS[4]) == 0 then return redis.error_reply('NOTENANT tenant deleted') end\n"
	"if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('EXISTS duplicate queue id') end\n"
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"redis.call('HSET', KEYS[1], 'arrival_redis', now, unpack(ARGV, 3))\n"
	"redis.call('ZADD', KEYS[2], now, ARGV[1])\n"
	"redis.call('ZADD', KEYS[3], now, ARGV[1])\n"
	"redis.call('RPUSH', KEYS[5], ARGV[2])\n"
	"return now\n";

static const char cancel_lua[] =
	"if redis.call('ZSCORE', KEYS[2], ARGV[1]) then\n"
	"  redis.call('DEL', KEYS[1], KEYS[4]) redis.call('ZREM', KEYS[2], ARGV[1])\n"
	"  redis.call('ZREM', KEYS[3], ARGV[1]) return 1 end\n"
	"return 0\n";

/*
 * Enqueues whose outcome is unknown: the command went out but the reply never
 * came (timeout, connection lost).  Redis may still have executed it, and the
 * client was told 451 and will send the message again, so once Redis is back
 * the copy is removed if no worker claimed it yet.  Per SMTP thread.
 */
struct orphan {
	struct orphan *next;
	char tid[TENANT_ID_LEN + 1];
	char qid[QUEUE_ID_LEN + 1];
};
static __thread struct orphan *orphans;

struct enq {
	struct rconn *rc;
	char qid[QUEUE_ID_LEN + 1];
	queue_done_cb *cb;
	void *arg;
	int replicas;
	char tid[TENANT_ID_LEN + 1];
};

static void enq_finish(struct enq *e, enum queue_result r, const char *detail)
{
	e->cb(r, e->arg, detail);
	free(e);
}

static void orphan_add(const struct enq *e)
{
	struct orphan *o = calloc(1, sizeof(*o));
	if (!o)
		return;
	memcpy(o->tid, e->tid, sizeof(o->tid));
	memcpy(o->qid, e->qid, sizeof(o->qid));
	o->next = orphans;
	orphans = o;
}

static void wait_cb(redisReply *r, void *arg, const char *err)
{
	struct enq *e = arg;
	if (!r || r->type != REDIS_REPLY_INTEGER || r->integer < e->replicas) {
		/* Written on the primary only: the client gets 451 and will resend,
		 * so this copy must go (on the next tick, see queue_tick). */
		orphan_add(e);
		enq_finish(e, QUEUE_TEMPFAIL, err ? err : "not enough replicas acknowledged");
	} else {
		enq_finish(e, QUEUE_OK, NULL);
	}
}

static void ignore_cb(redisReply *r, void *arg, const char *err)
{
}

static void cancel_cb(redisReply *r, void *arg, const char *err)
{
	struct orphan *o = arg;
	if (!r) { /* still unreachable: try again on the next tick */
		o->next = orphans;
		orphans = o;
		return;
	}
	if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
		STAT_INC(queue_orphans_cancelled);
		log_kv(LOG_NOTICE, "orphan_removed", "qid", o->qid, "reason",
		       "stored after the client was told 451", NULL);
	}
	free(o);
}

void queue_tick(struct rconn *rc)
{
	if (!orphans || !rconn_up(rc))
		return;
	struct orphan *list = orphans;
	orphans = NULL;
	while (list) {
		struct orphan *o = list;
		list = list->next;
		char kmsg[KEY_MAX], kready[KEY_MAX], kall[KEY_MAX], khist[KEY_MAX];
		const char *argv[] = {"EVAL", cancel_lua, "4", key_msg(kmsg, o->tid, o->qid),
				      key_ready(kready, o->tid), key_all(kall, o->tid),
				      key_hist(khist, o->tid, o->qid), o->qid};
		rconn_cmd(rc, cancel_cb, o, 8, argv, NULL);
	}
}

static void eval_cb(redisReply *r, void *arg, const char *err)
{
	struct enq *e = arg;
	if (!r) {
		if (strcmp(err, "timeout") == 0 || strcmp(err, "connection lost") == 0)
			orphan_add(e);
		enq_finish(e, QUEUE_TEMPFAIL, err);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		int notenant = strncmp(r->str, "NOTENANT", 8) == 0;
		log_kv(LOG_WARNING, "enqueue_refused", "reason", r->str, NULL);
		enq_finish(e, notenant ? QUEUE_NOTENANT : QUEUE_TEMPFAIL, r->str);
		return;
	}
	char now[32];
	snprintf(now, sizeof(now), "%lld", r->integer);
	const char *z[] = {"ZADD", KEY_SCHED, "LT", now, e->tid};
	rconn_cmd(e->rc, ignore_cb, NULL, 5, z, NULL);
	if (e->replicas > 0) {
		char n[16], ms[16];
		snprintf(n, sizeof(n), "%d", e->replicas);
		/* leave room inside the per-command timeout for the reply itself */
		snprintf(ms, sizeof(ms), "%d", g_cfg->redis_timeout_ms * 3 / 4);
		const char *w[] = {"WAIT", n, ms};
		rconn_cmd(e->rc, wait_cb, e, 3, w, NULL);
		return;
	}
	enq_finish(e, QUEUE_OK, NULL);
}

void queue_enqueue(struct rconn *rc, const struct queue_msg *m, queue_done_cb *cb, void *arg)
{
	struct enq *e = calloc(1, sizeof(*e));
	if (!e) {
		cb(QUEUE_TEMPFAIL, arg, "out of memory");
		return;
	}
	e->rc = rc;
	e->cb = cb;
	e->arg = arg;
	snprintf(e->tid, sizeof(e->tid), "%s", m->tid);
	snprintf(e->qid, sizeof(e->qid), "%s", m->qid);
	e->replicas = g_cfg->queue_durability == DURABILITY_REPLICAS ? g_cfg->queue_replicas : 0;

	json_t *env = json_object();
	json_t *rc_arr = json_array();
	for (int i = 0; i < m->nrcpt; i++)
		json_array_append_new(rc_arr, json_string(m->rcpts[i]));
	json_object_set_new(env, "from", json_string(m->sender));
	json_object_set_new(env, "rcpt", rc_arr);
	json_object_set_new(env, "body", json_string(m->body_8bit ? "8BITMIME" : "7BIT"));
	json_object_set_new(env, "smtputf8", json_boolean(m->smtputf8));
	char *envs = json_dumps(env, JSON_COMPACT);
	json_decref(env);
	/* First event of the message's history (sesgatectl msg show). */
	json_t *ev = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:I,s:i}", "t", (json_int_t)m->arrival_ms,
			       "ev", "received", "from", m->sender, "client", m->client, "helo",
			       m->helo, "auth", m->auth_user, "size", (json_int_t)m->len, "rcpts",
			       m->nrcpt);
	char *evs = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);

	char kmsg[KEY_MAX], kready[KEY_MAX], kall[KEY_MAX], ktenant[KEY_MAX], khist[KEY_MAX];
	char arrival[32], size[32], nrcpt[16];
	snprintf(arrival, sizeof(arrival), "%llu", (unsigned long long)m->arrival_ms);
	snprintf(size, sizeof(size), "%zu", m->len);
	snprintf(nrcpt, sizeof(nrcpt), "%d", m->nrcpt);
	const char *argv[] = {
		"EVAL", enqueue_lua, "5",
		key_msg(kmsg, m->tid, m->qid), key_ready(kready, m->tid), key_all(kall, m->tid),
		key_tenant(ktenant, m->tid), key_hist(khist, m->tid, m->qid),
		m->qid, evs ? evs : "{}",
		"qid", m->qid, "tenant", m->tid, "tenant_name", m->tenant_name,
		"env", envs ? envs : "{}", "client", m->client, "helo", m->helo,
		"auth", m->auth_user, "arrival", arrival, "size", size, "nrcpt", nrcpt,
		"attempts", "0", "data", m->data,
	};
	size_t lens[sizeof(argv) / sizeof(argv[0])];
	int argc = (int)(sizeof(argv) / sizeof(argv[0]));
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	lens[argc - 1] = m->len; /* data is binary-safe, not a C string */
	rconn_cmd(rc, eval_cb, e, argc, argv, lens);
	free(envs);
	free(evs);
}
