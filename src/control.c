/*
 * control.c - the control socket: line-delimited JSON requests from
 * sesgatectl or scripts (doc/control-protocol.md), answered from Redis.
 *
 * Runs on its own thread with its own event loop for the socket, and a
 * blocking hiredis connection for the work: admin commands are rare, some
 * (cred add) hash a password on purpose slowly, and none may ever run on an
 * SMTP loop.  Never returns or logs a password except the one cred.add
 * generates, once, to the admin who asked.
 */
#include "control.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "password.h"
#include "rconn.h"
#include "sesgate.h"
#include "stats.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define CTL_LINE_MAX (1024 * 1024)

static const struct config *cfg;
static struct event_base *base;
static struct evconnlistener *listener;
static pthread_t thread;
static redisContext *rc;

struct ctl_err {
	const char *code;
	char msg[256];
};

static json_t *fail(struct ctl_err *e, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static json_t *fail(struct ctl_err *e, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->code = code;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Redis helpers (blocking, control thread only) */

static redisReply *cmd(struct ctl_err *e, const char *fmt, ...)
{
	if (!rc) {
		char m[200];
		rc = rconn_connect_sync(cfg, m, sizeof(m));
		if (!rc) {
			fail(e, "unavailable", "%s", m);
			return NULL;
		}
	}
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(rc, fmt, ap);
	va_end(ap);
	if (!r) {
		fail(e, "unavailable", "redis: %s", rc->errstr);
		redisFree(rc);
		rc = NULL;
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		fail(e, "internal", "redis: %s", r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* Run a command whose reply is not needed; 0 or -1. */
#define cmd_ok(e, ...) cmd_release(cmd((e), __VA_ARGS__))

static int cmd_release(redisReply *r)
{
	if (!r)
		return -1;
	freeReplyObject(r);
	return 0;
}

static const char *arg_str(json_t *args, const char *name)
{
	json_t *v = json_object_get(args, name);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Tenant name -> id; 0 or -1 (with not_found). */
static int tenant_id(struct ctl_err *e, const char *name, char *tid)
{
	if (!name || !key_valid_tenant_name(name)) {
		fail(e, "invalid", "invalid tenant name: %s", name ? name : "(missing)");
		return -1;
	}
	redisReply *r = cmd(e, "HGET %s %s", KEY_TENANTS, name);
	if (!r)
		return -1;
	if (r->type != REDIS_REPLY_STRING || !key_valid_tenant_id(r->str)) {
		freeReplyObject(r);
		fail(e, "not_found", "tenant not found: %s", name);
		return -1;
	}
	util_strlcpy(tid, r->str, TENANT_ID_LEN + 1);
	freeReplyObject(r);
	return 0;
}

static json_t *queue_info(struct ctl_err *e, const char *tid)
{
	char k[KEY_MAX];
	redisReply *n = cmd(e, "ZCARD %s", key_all(k, tid));
	if (!n)
		return NULL;
	redisReply *o = cmd(e, "ZRANGE %s 0 0 WITHSCORES", k);
	if (!o) {
		freeReplyObject(n);
		return NULL;
	}
	json_int_t age = 0;
	if (o->type == REDIS_REPLY_ARRAY && o->elements == 2) {
		uint64_t first = strtoull(o->element[1]->str, NULL, 10);
		uint64_t now = util_now_ms();
		age = now > first ? (json_int_t)((now - first) / 1000) : 0;
	}
	json_t *q = json_pack("{s:I,s:I}", "depth", (json_int_t)n->integer, "oldest_age", age);
	freeReplyObject(n);
	freeReplyObject(o);
	return q;
}

/* The tenant object of the protocol; DETAIL adds credentials and queue. */
static json_t *tenant_json(struct ctl_err *e, const char *tid, int detail)
{
	char k[KEY_MAX];
	redisReply *h = cmd(e, "HGETALL %s", key_tenant(k, tid));
	if (!h)
		return NULL;
	if (h->type != REDIS_REPLY_ARRAY || h->elements == 0) {
		freeReplyObject(h);
		return fail(e, "not_found", "tenant not found");
	}
	json_t *t = json_object();
	static const char *ints[] = {"created", "max_message_size", "max_recipients", NULL};
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		const char *f = h->element[i]->str, *v = h->element[i + 1]->str;
		int is_int = 0;
		for (int j = 0; ints[j]; j++)
			if (strcmp(f, ints[j]) == 0)
				is_int = 1;
		json_object_set_new(t, f, is_int ? json_integer(strtoll(v, NULL, 10)) : json_string(v));
	}
	freeReplyObject(h);
	redisReply *d = cmd(e, "SMEMBERS %s", key_tenant_domains(k, tid));
	if (!d) {
		json_decref(t);
		return NULL;
	}
	json_t *doms = json_array();
	for (size_t i = 0; i < d->elements; i++)
		json_array_append_new(doms, json_string(d->element[i]->str));
	freeReplyObject(d);
	json_object_set_new(t, "domains", doms);
	if (detail) {
		redisReply *c = cmd(e, "SCARD %s", key_tenant_creds(k, tid));
		if (c) {
			json_object_set_new(t, "credentials", json_integer(c->integer));
			freeReplyObject(c);
		}
		json_t *q = queue_info(e, tid);
		if (q)
			json_object_set_new(t, "queue", q);
	}
	return t;
}

/*
 * Claim DOMAIN for TID.  A domain belongs to one tenant: neither it nor a
 * parent of it may belong to another, and no other tenant may hold a
 * subdomain of it, because sender checks accept subdomains.
 */
static int domain_claim(struct ctl_err *e, const char *tid, const char *domain)
{
	for (const char *p = domain; p; p = strchr(p + 1, '.')) {
		const char *d = *p == '.' ? p + 1 : p;
		redisReply *r = cmd(e, "HGET %s %s", KEY_DOMAINS, d);
		if (!r)
			return -1;
		int other = r->type == REDIS_REPLY_STRING && strcmp(r->str, tid) != 0;
		freeReplyObject(r);
		if (other) {
			fail(e, "conflict", "domain %s is covered by %s, which belongs to another tenant",
			     domain, d);
			return -1;
		}
	}
	redisReply *all = cmd(e, "HGETALL %s", KEY_DOMAINS);
	if (!all)
		return -1;
	size_t dl = strlen(domain);
	for (size_t i = 0; i + 1 < all->elements; i += 2) {
		const char *d = all->element[i]->str;
		size_t l = strlen(d);
		if (l > dl && d[l - dl - 1] == '.' && strcmp(d + l - dl, domain) == 0 &&
		    strcmp(all->element[i + 1]->str, tid) != 0) {
			fail(e, "conflict", "domain %s would cover %s, which belongs to another tenant",
			     domain, d);
			freeReplyObject(all);
			return -1;
		}
	}
	freeReplyObject(all);
	char k[KEY_MAX];
	if (cmd_ok(e, "HSET %s %s %s", KEY_DOMAINS, domain, tid) < 0 ||
	    cmd_ok(e, "SADD %s %s", key_tenant_domains(k, tid), domain) < 0)
		return -1;
	return 0;
}

static int normalize_domain(struct ctl_err *e, const char *in, char *out)
{
	if (!in || strlen(in) > 253) {
		fail(e, "invalid", "invalid domain: %s", in ? in : "(missing)");
		return -1;
	}
	util_strlcpy(out, in, 254);
	util_lower(out);
	if (!key_valid_domain(out)) {
		fail(e, "invalid", "invalid domain: %s", in);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* commands */

static json_t *c_status(json_t *args, struct ctl_err *e)
{
	redisReply *r = NULL;
	struct ctl_err ignore = {0};
	r = cmd(&ignore, "PING");
	json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:i,s:i,s:s,s:I,s:I,s:I,s:I}", "version",
			      PACKAGE_VERSION, "instance", g_instance, "uptime",
			      (json_int_t)((util_now_ms() - g_start_ms) / 1000), "sessions",
			      (json_int_t)STAT_GET(sessions_current), "max_sessions", cfg->max_sessions,
			      "smtp_threads", cfg->smtp_threads, "redis", r ? "up" : "down", "accepted",
			      (json_int_t)STAT_GET(msgs_accepted), "refused",
			      (json_int_t)(STAT_GET(msgs_rejected) + STAT_GET(msgs_tempfail)),
			      "data_memory", (json_int_t)STAT_GET(data_memory), "data_memory_max",
			      (json_int_t)cfg->max_data_memory);
	if (r)
		freeReplyObject(r);
	json_object_set_new(o, "counters", stats_json());
	return o;
}

static json_t *c_tenant_add(json_t *args, struct ctl_err *e)
{
	const char *name = arg_str(args, "name");
	if (!name || !key_valid_tenant_name(name))
		return fail(e, "invalid", "invalid tenant name: %s (1-63 of a-z 0-9 -)",
			    name ? name : "(missing)");
	json_t *doms = json_object_get(args, "domains");
	size_t i;
	json_t *d;
	char dn[256];
	json_array_foreach(doms, i, d) {
		if (normalize_domain(e, json_string_value(d), dn) < 0)
			return NULL;
	}
	static const char *opt[] = {"aws_account_id", "role_arn", "external_id", NULL};
	for (int j = 0; opt[j]; j++) {
		const char *v = arg_str(args, opt[j]);
		if (v && (strlen(v) > 256 || strpbrk(v, " \r\n")))
			return fail(e, "invalid", "invalid %s", opt[j]);
	}
	char tid[TENANT_ID_LEN + 1] = "t";
	if (util_random_hex(tid + 1, 8) < 0)
		return fail(e, "internal", "no randomness");
	redisReply *r = cmd(e, "HSETNX %s %s %s", KEY_TENANTS, name, tid);
	if (!r)
		return NULL;
	long long added = r->integer;
	freeReplyObject(r);
	if (!added)
		return fail(e, "exists", "tenant already exists: %s", name);
	char k[KEY_MAX], now[32];
	snprintf(now, sizeof(now), "%llu", (unsigned long long)(util_now_ms() / 1000));
	if (cmd_ok(e, "HSET %s id %s name %s state active created %s aws_account_id %s role_arn %s external_id %s",
		   key_tenant(k, tid), tid, name, now, arg_str(args, "aws_account_id") ?: "",
		   arg_str(args, "role_arn") ?: "", arg_str(args, "external_id") ?: "") < 0)
		return NULL;
	json_array_foreach(doms, i, d) {
		normalize_domain(e, json_string_value(d), dn);
		if (domain_claim(e, tid, dn) < 0) {
			/* Roll back so a failed add leaves nothing behind. */
			struct ctl_err ig;
			redisReply *x = cmd(&ig, "SMEMBERS %s", key_tenant_domains(k, tid));
			for (size_t j = 0; x && j < x->elements; j++)
				cmd_ok(&ig, "HDEL %s %s", KEY_DOMAINS, x->element[j]->str);
			if (x)
				freeReplyObject(x);
			cmd_ok(&ig, "DEL %s %s", key_tenant(k, tid), key_tenant_domains(dn, tid));
			cmd_ok(&ig, "HDEL %s %s", KEY_TENANTS, name);
			return NULL;
		}
	}
	log_kv(LOG_NOTICE, "tenant_added", "tenant", name, "id", tid, NULL);
	return tenant_json(e, tid, 1);
}

static json_t *c_tenant_list(json_t *args, struct ctl_err *e)
{
	redisReply *r = cmd(e, "HGETALL %s", KEY_TENANTS);
	if (!r)
		return NULL;
	json_t *a = json_array();
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		json_t *t = tenant_json(e, r->element[i + 1]->str, 0);
		if (t)
			json_array_append_new(a, t);
	}
	freeReplyObject(r);
	return a;
}

static json_t *c_tenant_show(json_t *args, struct ctl_err *e)
{
	char tid[TENANT_ID_LEN + 1];
	if (tenant_id(e, arg_str(args, "name"), tid) < 0)
		return NULL;
	return tenant_json(e, tid, 1);
}

static json_t *c_tenant_set(json_t *args, struct ctl_err *e)
{
	char tid[TENANT_ID_LEN + 1], k[KEY_MAX];
	if (tenant_id(e, arg_str(args, "name"), tid) < 0)
		return NULL;
	const char *key = arg_str(args, "key"), *val = arg_str(args, "value");
	static const char *nums[] = {"max_message_size", "max_recipients", NULL};
	static const char *strs[] = {"aws_account_id", "role_arn", "external_id", NULL};
	if (!key || !val)
		return fail(e, "invalid", "tenant.set needs key and value");
	int ok = 0;
	for (int i = 0; nums[i]; i++)
		if (strcmp(key, nums[i]) == 0) {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(val, &end, 10);
			if (*val == '\0' || *end || errno || v > (1ULL << 40))
				return fail(e, "invalid", "%s must be a non-negative integer", key);
			ok = 1;
		}
	for (int i = 0; strs[i]; i++)
		if (strcmp(key, strs[i]) == 0) {
			if (strlen(val) > 256 || strpbrk(val, " \r\n"))
				return fail(e, "invalid", "invalid %s", key);
			ok = 1;
		}
	if (!ok)
		return fail(e, "invalid", "unknown tenant setting: %s", key);
	if (cmd_ok(e, "HSET %s %s %s", key_tenant(k, tid), key, val) < 0)
		return NULL;
	return tenant_json(e, tid, 1);
}

static json_t *set_state(json_t *args, struct ctl_err *e, const char *state)
{
	char tid[TENANT_ID_LEN + 1], k[KEY_MAX];
	if (tenant_id(e, arg_str(args, "name"), tid) < 0)
		return NULL;
	const char *reason = arg_str(args, "reason");
	if (cmd_ok(e, "HSET %s state %s paused_reason %s", key_tenant(k, tid), state,
		   strcmp(state, "paused") == 0 ? (reason ? reason : "paused by admin") : "") < 0)
		return NULL;
	log_kv(LOG_NOTICE, "tenant_state", "tenant", arg_str(args, "name"), "state", state, NULL);
	return tenant_json(e, tid, 1);
}

static json_t *c_tenant_pause(json_t *args, struct ctl_err *e)
{
	return set_state(args, e, "paused");
}

static json_t *c_tenant_resume(json_t *args, struct ctl_err *e)
{
	return set_state(args, e, "active");
}

static json_t *c_tenant_delete(json_t *args, struct ctl_err *e)
{
	const char *name = arg_str(args, "name");
	char tid[TENANT_ID_LEN + 1], k[KEY_MAX];
	if (tenant_id(e, name, tid) < 0)
		return NULL;
	int force = json_is_true(json_object_get(args, "force"));
	json_t *q = queue_info(e, tid);
	if (!q)
		return NULL;
	json_int_t depth = json_integer_value(json_object_get(q, "depth"));
	json_decref(q);
	if (depth > 0 && !force)
		return fail(e, "conflict", "tenant %s has %lld queued message(s); use --force to drop them",
			    name, (long long)depth);
	/* Credentials first: from here on no new AUTH succeeds anywhere. */
	redisReply *c = cmd(e, "SMEMBERS %s", key_tenant_creds(k, tid));
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->elements; i++) {
		char ck[KEY_MAX];
		cmd_ok(e, "DEL %s", key_cred(ck, c->element[i]->str));
	}
	freeReplyObject(c);
	/* Then the tenant record: in-flight sessions' commits now fail. */
	cmd_ok(e, "DEL %s", key_tenant(k, tid));
	redisReply *m = cmd(e, "ZRANGE %s 0 -1", key_all(k, tid));
	long long dropped = 0;
	for (size_t i = 0; m && i < m->elements; i++) {
		char mk[KEY_MAX];
		cmd_ok(e, "DEL %s", key_msg(mk, tid, m->element[i]->str));
		dropped++;
	}
	if (m)
		freeReplyObject(m);
	redisReply *d = cmd(e, "SMEMBERS %s", key_tenant_domains(k, tid));
	for (size_t i = 0; d && i < d->elements; i++)
		cmd_ok(e, "HDEL %s %s", KEY_DOMAINS, d->element[i]->str);
	if (d)
		freeReplyObject(d);
	char k2[KEY_MAX], k3[KEY_MAX], k4[KEY_MAX], k5[KEY_MAX], k6[KEY_MAX];
	cmd_ok(e, "DEL %s %s %s %s %s %s", key_tenant_domains(k, tid), key_tenant_creds(k2, tid),
	       key_ready(k3, tid), key_inflight(k4, tid), key_all(k5, tid), key_dlq(k6, tid));
	cmd_ok(e, "ZREM %s %s", KEY_SCHED, tid);
	if (cmd_ok(e, "HDEL %s %s", KEY_TENANTS, name) < 0)
		return NULL;
	log_kv(LOG_NOTICE, "tenant_deleted", "tenant", name, "id", tid, NULL);
	return json_pack("{s:s,s:I}", "deleted", name, "dropped", (json_int_t)dropped);
}

static json_t *c_domain_add(json_t *args, struct ctl_err *e)
{
	char tid[TENANT_ID_LEN + 1], dn[256];
	if (tenant_id(e, arg_str(args, "name"), tid) < 0 ||
	    normalize_domain(e, arg_str(args, "domain"), dn) < 0 || domain_claim(e, tid, dn) < 0)
		return NULL;
	return tenant_json(e, tid, 1);
}

static json_t *c_domain_remove(json_t *args, struct ctl_err *e)
{
	char tid[TENANT_ID_LEN + 1], dn[256], k[KEY_MAX];
	if (tenant_id(e, arg_str(args, "name"), tid) < 0 ||
	    normalize_domain(e, arg_str(args, "domain"), dn) < 0)
		return NULL;
	redisReply *r = cmd(e, "SREM %s %s", key_tenant_domains(k, tid), dn);
	if (!r)
		return NULL;
	long long n = r->integer;
	freeReplyObject(r);
	if (!n)
		return fail(e, "not_found", "domain %s is not a sending domain of %s", dn,
			    arg_str(args, "name"));
	cmd_ok(e, "HDEL %s %s", KEY_DOMAINS, dn);
	return tenant_json(e, tid, 1);
}

static json_t *c_cred_add(json_t *args, struct ctl_err *e)
{
	char tid[TENANT_ID_LEN + 1], k[KEY_MAX];
	const char *tname = arg_str(args, "tenant");
	if (tenant_id(e, tname, tid) < 0)
		return NULL;
	const char *desc = arg_str(args, "description");
	if (desc && (strlen(desc) > 200 || strpbrk(desc, "\r\n")))
		return fail(e, "invalid", "description must be one line of at most 200 characters");
	char user[CRED_USER_MAX + 1] = "sg_", pw[PASSWORD_LEN + 1], hash[PASSWORD_HASH_MAX];
	if (util_random_hex(user + 3, 8) < 0 || password_generate(pw, sizeof(pw)) < 0 ||
	    password_hash(pw, strlen(pw), cfg->password_hash_iterations, hash, sizeof(hash)) < 0)
		return fail(e, "internal", "cannot generate a credential");
	char now[32];
	snprintf(now, sizeof(now), "%llu", (unsigned long long)(util_now_ms() / 1000));
	if (cmd_ok(e, "HSET %s tenant %s hash %s created %s description %s", key_cred(k, user), tid,
		   hash, now, desc ? desc : "") < 0 ||
	    cmd_ok(e, "SADD %s %s", key_tenant_creds(k, tid), user) < 0) {
		util_wipe(pw, sizeof(pw));
		return NULL;
	}
	log_kv(LOG_NOTICE, "cred_added", "tenant", tname, "user", user, NULL);
	json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:s}", "username", user, "tenant", tname, "created",
			      (json_int_t)(util_now_ms() / 1000), "description", desc ? desc : "",
			      "password", pw);
	util_wipe(pw, sizeof(pw));
	return o;
}

static json_t *c_cred_list(json_t *args, struct ctl_err *e)
{
	char tid[TENANT_ID_LEN + 1], k[KEY_MAX];
	const char *tname = arg_str(args, "tenant");
	if (tenant_id(e, tname, tid) < 0)
		return NULL;
	redisReply *r = cmd(e, "SMEMBERS %s", key_tenant_creds(k, tid));
	if (!r)
		return NULL;
	json_t *a = json_array();
	for (size_t i = 0; i < r->elements; i++) {
		redisReply *c = cmd(e, "HMGET %s created description", key_cred(k, r->element[i]->str));
		if (!c)
			continue;
		json_array_append_new(
			a, json_pack("{s:s,s:s,s:I,s:s}", "username", r->element[i]->str, "tenant", tname,
				     "created",
				     (json_int_t)(c->element[0]->str ? strtoll(c->element[0]->str, NULL, 10) : 0),
				     "description", c->element[1]->str ? c->element[1]->str : ""));
		freeReplyObject(c);
	}
	freeReplyObject(r);
	return a;
}

static json_t *c_cred_revoke(json_t *args, struct ctl_err *e)
{
	const char *user = arg_str(args, "username");
	char k[KEY_MAX], k2[KEY_MAX];
	if (!user || !key_valid_username(user))
		return fail(e, "invalid", "invalid user name");
	redisReply *r = cmd(e, "HGET %s tenant", key_cred(k, user));
	if (!r)
		return NULL;
	if (r->type != REDIS_REPLY_STRING) {
		freeReplyObject(r);
		return fail(e, "not_found", "credential not found: %s", user);
	}
	char tid[TENANT_ID_LEN + 1];
	util_strlcpy(tid, r->str, sizeof(tid));
	freeReplyObject(r);
	if (cmd_ok(e, "DEL %s", k) < 0)
		return NULL;
	cmd_ok(e, "SREM %s %s", key_tenant_creds(k2, tid), user);
	log_kv(LOG_NOTICE, "cred_revoked", "user", user, NULL);
	return json_pack("{s:s}", "revoked", user);
}

static json_t *c_queue_stats(json_t *args, struct ctl_err *e)
{
	const char *name = arg_str(args, "tenant");
	json_t *list = json_array();
	json_int_t total = 0, oldest = 0;
	redisReply *r;
	if (name) {
		char tid[TENANT_ID_LEN + 1];
		if (tenant_id(e, name, tid) < 0) {
			json_decref(list);
			return NULL;
		}
		r = NULL;
		json_t *q = queue_info(e, tid);
		if (!q) {
			json_decref(list);
			return NULL;
		}
		json_object_set_new(q, "tenant", json_string(name));
		json_array_append_new(list, q);
	} else {
		r = cmd(e, "HGETALL %s", KEY_TENANTS);
		if (!r) {
			json_decref(list);
			return NULL;
		}
		for (size_t i = 0; i + 1 < r->elements; i += 2) {
			json_t *q = queue_info(e, r->element[i + 1]->str);
			if (!q)
				continue;
			json_object_set_new(q, "tenant", json_string(r->element[i]->str));
			json_array_append_new(list, q);
		}
		freeReplyObject(r);
	}
	size_t i;
	json_t *q;
	json_array_foreach(list, i, q) {
		total += json_integer_value(json_object_get(q, "depth"));
		json_int_t a = json_integer_value(json_object_get(q, "oldest_age"));
		if (a > oldest)
			oldest = a;
	}
	return json_pack("{s:o,s:I,s:I}", "tenants", list, "depth", total, "oldest_age", oldest);
}

static const struct {
	const char *name;
	json_t *(*fn)(json_t *args, struct ctl_err *e);
} commands[] = {
	{"status", c_status},
	{"tenant.add", c_tenant_add},
	{"tenant.list", c_tenant_list},
	{"tenant.show", c_tenant_show},
	{"tenant.set", c_tenant_set},
	{"tenant.pause", c_tenant_pause},
	{"tenant.resume", c_tenant_resume},
	{"tenant.delete", c_tenant_delete},
	{"tenant.domain.add", c_domain_add},
	{"tenant.domain.remove", c_domain_remove},
	{"cred.add", c_cred_add},
	{"cred.list", c_cred_list},
	{"cred.revoke", c_cred_revoke},
	{"queue.stats", c_queue_stats},
};

/* One request line -> one response line (caller frees). */
static char *control_handle(const char *line, size_t len)
{
	json_error_t jerr;
	struct ctl_err e = {"internal", "internal error"};
	json_t *res = NULL;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req || !json_is_object(req)) {
		fail(&e, "invalid", "request is not a JSON object: %s", req ? "" : jerr.text);
	} else {
		const char *c = arg_str(req, "cmd");
		json_t *args = json_object_get(req, "args");
		if (args && !json_is_object(args)) {
			fail(&e, "invalid", "args must be an object");
		} else if (!c) {
			fail(&e, "invalid", "missing cmd");
		} else {
			size_t i;
			for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
				if (strcmp(commands[i].name, c) == 0)
					break;
			if (i == sizeof(commands) / sizeof(commands[0]))
				fail(&e, "invalid", "unknown command: %.64s", c);
			else
				res = commands[i].fn(args ? args : json_object_get(req, "nonexistent"), &e);
		}
	}
	json_decref(req);
	json_t *resp = res ? json_pack("{s:b,s:o}", "ok", 1, "result", res)
			   : json_pack("{s:b,s:s,s:s}", "ok", 0, "error", e.msg, "code", e.code);
	char *out = json_dumps(resp, JSON_COMPACT);
	json_decref(resp);
	return out;
}

/* ------------------------------------------------------------------ */
/* socket */

static void ctl_read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	for (;;) {
		size_t n;
		char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
		if (!line) {
			if (evbuffer_get_length(in) > CTL_LINE_MAX) {
				const char *m = "{\"ok\":false,\"error\":\"request too long\",\"code\":\"invalid\"}\n";
				bufferevent_write(bev, m, strlen(m));
				bufferevent_free(bev);
			}
			return;
		}
		char *out = control_handle(line, n);
		util_wipe(line, n);
		free(line);
		if (out) {
			bufferevent_write(bev, out, strlen(out));
			bufferevent_write(bev, "\n", 1);
			/* The response may carry a fresh password: wipe our copy. */
			util_wipe(out, strlen(out));
			free(out);
		}
	}
}

static void ctl_event_cb(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

static void ctl_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			  int len, void *arg)
{
	struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, ctl_read_cb, NULL, ctl_event_cb, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void *ctl_main(void *arg)
{
	event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

int control_start(const struct config *c, char *err, size_t errlen)
{
	cfg = c;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(cfg->control_socket) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control_socket path too long");
		return -1;
	}
	strcpy(sun.sun_path, cfg->control_socket);
	/* A stale socket from a dead daemon is replaced; a live one is not. */
	int probe = socket(AF_UNIX, SOCK_STREAM, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(probe);
		snprintf(err, errlen, "%s: another sesgate is running", cfg->control_socket);
		return -1;
	}
	if (probe >= 0)
		close(probe);
	unlink(cfg->control_socket);
	base = event_base_new();
	mode_t old = umask(0777 & ~(mode_t)cfg->control_socket_mode);
	listener = evconnlistener_new_bind(base, ctl_accept_cb, NULL,
					   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
					   (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (!listener) {
		snprintf(err, errlen, "%s: %s", cfg->control_socket, strerror(errno));
		return -1;
	}
	chmod(cfg->control_socket, (mode_t)cfg->control_socket_mode);
	return pthread_create(&thread, NULL, ctl_main, NULL) == 0 ? 0 : -1;
}

void control_stop(void)
{
	if (!base)
		return;
	event_base_loopbreak(base);
	pthread_join(thread, NULL);
	evconnlistener_free(listener);
	unlink(cfg->control_socket);
	if (rc)
		redisFree(rc);
}
