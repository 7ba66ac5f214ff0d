/*
 * ipauth.c - see ipauth.h.  The table is immutable once built; a refresh
 * builds a new one and swaps the pointer under a read-write lock, so
 * lookups from every SMTP thread only take the read side.
 */
#include "ipauth.h"
#include "cidr.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct nets {
	size_t n;
	struct cidr *v;
	char (*tid)[TENANT_ID_LEN + 1];
};

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct nets *cur;
static int refreshing;

static void nets_free(struct nets *t)
{
	if (!t)
		return;
	free(t->v);
	free(t->tid);
	free(t);
}

/* A table from an HGETALL reply (network, tenant, ...); bad entries skipped. */
static struct nets *nets_build(const redisReply *r)
{
	struct nets *t = calloc(1, sizeof(*t));
	size_t max = r->elements / 2;
	if (!t)
		return NULL;
	t->v = calloc(max ? max : 1, sizeof(*t->v));
	t->tid = calloc(max ? max : 1, sizeof(*t->tid));
	if (!t->v || !t->tid) {
		nets_free(t);
		return NULL;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
		    !key_valid_tenant_id(v->str) || cidr_parse(k->str, &t->v[t->n]) < 0)
			continue;
		util_strlcpy(t->tid[t->n], v->str, sizeof(t->tid[0]));
		t->n++;
	}
	return t;
}

static void install(struct nets *t)
{
	pthread_rwlock_wrlock(&lock);
	struct nets *old = cur;
	cur = t;
	pthread_rwlock_unlock(&lock);
	nets_free(old);
}

void ipauth_init(const struct config *cfg)
{
	char msg[256];
	redisContext *c = rconn_connect_sync(cfg, msg, sizeof(msg));
	redisReply *r = c ? rconn_sync_cmd(c, "HGETALL %s", KEY_NETS) : NULL;
	if (r && r->type == REDIS_REPLY_ARRAY)
		install(nets_build(r));
	else
		log_kv(LOG_WARNING, "ipauth_load_failed", "reason",
		       c ? "command failed" : msg, NULL);
	if (r)
		freeReplyObject(r);
	if (c)
		redisFree(c);
}

static void refresh_cb(redisReply *r, void *arg, const char *err)
{
	refreshing = 0;
	/* On an error the last good table stays: Redis being down must not
	 * turn IP-authorized app servers away from mail already flowing. */
	if (r && r->type == REDIS_REPLY_ARRAY) {
		struct nets *t = nets_build(r);
		if (t)
			install(t);
	}
}

void ipauth_refresh(struct rconn *rc)
{
	if (refreshing)
		return;
	refreshing = 1;
	const char *argv[] = {"HGETALL", KEY_NETS};
	rconn_cmd(rc, refresh_cb, NULL, 2, argv, NULL);
}

int ipauth_lookup(const struct sockaddr *sa, char *tid)
{
	int found = 0;
	pthread_rwlock_rdlock(&lock);
	if (cur && cur->n) {
		int i = cidr_best(cur->v, cur->n, sa);
		if (i >= 0) {
			memcpy(tid, cur->tid[i], TENANT_ID_LEN + 1);
			found = 1;
		}
	}
	pthread_rwlock_unlock(&lock);
	return found;
}

void ipauth_fini(void)
{
	install(NULL);
}
