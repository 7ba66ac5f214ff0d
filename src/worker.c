/*
 * worker.c - delivery threads (see worker.h).
 *
 * One worker = one event loop running, all asynchronously:
 *   pump:    pick a tenant with due mail from sg:sched, claim a batch of its
 *            messages (claim_lua: pacing, holds and quota decided in Redis,
 *            shared by every instance), fetch them;
 *   send:    per message, tenant credentials (STS AssumeRole, cached per
 *            process, single flight), then one SES SendEmail per 50
 *            recipients, all in flight at once on the curl multi handle;
 *   finish:  ack, retry with backoff, hold the tenant, or dead-letter with a
 *            DSN to the sender (finish_lua);
 *   upkeep:  GetAccount per tenant (rate, quota, account status), the
 *            visibility reaper and the sg:sched repair sweep.
 * Every async step carries a heap job; a worker never blocks on I/O.  The
 * gateway's own identity comes from creds.c, whose refresher thread does
 * the (blocking) credential-chain I/O off these loops.
 *
 * Never logs message content, credentials or signatures.
 */
#include "worker.h"
#include "aws/awsparse.h"
#include "aws/awsreq.h"
#include "aws/creds.h"
#include "aws/http.h"
#include "aws/ses.h"
#include "aws/sts.h"
#include "aws/stscache.h"
#include "config.h"
#include "dsn.h"
#include "keys.h"
#include "log.h"
#include "queue.h"
#include "rconn.h"
#include "sesgate.h"
#include "stats.h"
#include "util.h"
#include "worker_lua.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLAIM_BATCH_MAX 100       /* messages per claim script */
#define SCHED_CANDIDATES 16       /* due tenants read per pick */
#define TICK_MS 50
#define REAP_EVERY_MS 1000
#define SWEEP_EVERY_MS 30000
#define HOLD_RECHECK_MS 60000     /* a held or unprovisioned tenant is looked at again */
#define CHECK_LEASE_MS 30000      /* one GetAccount per tenant at a time, all instances */
#define RECHECK_SOON_MS 1000      /* look again while an account check runs */
#define STS_LEASE_S 120
#define STS_REFRESH_BEFORE_S 600  /* renew tenant credentials 10 min before expiry */
#define KEY_REAP "sg:reap"        /* zset: tenant id -> earliest claim deadline */
#define SESID_KEY_MAX 320
/* Message octets one job keeps in SendEmail bodies at once (beyond one). */
#define CHUNK_BYTES_INFLIGHT (8u << 20)
/* Message octets one worker claims at once (beyond one message). */
#define WORKER_BYTES_CLAIM (64u << 20)

struct worker;

enum job_kind { JOB_SEND, JOB_ACCOUNT };

struct chunk {
	int first, n;          /* slice of job->rcpts */
	int state;             /* 0 owed, 1 done ok, 2 failed */
	int inflight;          /* its SendEmail call is out */
	enum ses_outcome outcome;
	int creds_retried;
	char code[64];
	char msg[256];
	char mid[128];
};

struct job {
	struct job *next;      /* on worker->waiting (credentials) */
	struct worker *w;
	enum job_kind kind;
	char tid[TENANT_ID_LEN + 1];
	char qid[QUEUE_ID_LEN + 1];
	char claim[80];
	char *tenant_name, *role_arn, *external_id, *cfgset;
	char credkey[600];
	/* message */
	char *from;
	char **rcpts;          /* still owed */
	int nrcpt;
	json_t *ses_ids;       /* ids so far (array) */
	char *data;
	size_t len;
	uint64_t arrival;
	int attempts;
	/* attempt */
	struct aws_temp_creds cr;
	struct chunk *chunks;
	int nchunks, pending;
	int creds_waits;
	uint64_t started;
};

struct worker {
	int idx;
	pthread_t th;
	const struct config *cfg;
	struct event_base *base;
	struct rconn *rc;
	struct http *http;
	struct event *tick_ev;
	uint64_t bytes;        /* message octets held by this worker's jobs */
	_Atomic int busy;      /* claimed messages not finished + account checks */
	int picking;           /* a pick/claim round trip is in progress */
	struct job *waiting;   /* jobs waiting for credentials */
	uint64_t next_reap, next_sweep;
	unsigned claim_seq;
	_Atomic int stop;      /* 1 = stop claiming; 2 = leave the loop */
};

static struct worker *workers;
static int nworkers;
static struct aws_env g_env;
static struct aws_identity *g_ident;
static struct stscache *g_sts;

static void pump(struct worker *w);
static void job_send(struct job *j);
static void job_chunks_done(struct job *j);
static void job_pump_chunks(struct job *j);
static void account_run(struct job *j);

/* Jobs parked for credentials go on with what they were doing. */
static void resume_waiting(struct worker *w)
{
	struct job *list = w->waiting;
	w->waiting = NULL;
	while (list) {
		struct job *j = list;
		list = list->next;
		if (j->kind == JOB_ACCOUNT)
			account_run(j);
		else
			job_send(j);
	}
}
static void job_finish_cb(redisReply *r, void *arg, const char *err);

/* ---- helpers ----------------------------------------------------------- */

static char *xstrdup(const char *s)
{
	return strdup(s ? s : "");
}

static void ignore_cb(redisReply *r, void *arg, const char *err)
{
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->tenant_name);
	free(j->role_arn);
	free(j->external_id);
	free(j->cfgset);
	free(j->from);
	for (int i = 0; i < j->nrcpt; i++)
		free(j->rcpts[i]);
	free(j->rcpts);
	json_decref(j->ses_ids);
	if (j->data) {
		util_wipe(j->data, j->len);
		free(j->data);
	}
	aws_temp_creds_free(&j->cr);
	free(j->chunks);
	free(j);
}

/* The worker's slot is free again; look for more work. */
static void job_done(struct job *j)
{
	struct worker *w = j->w;
	w->busy--;
	w->bytes -= j->len;
	job_free(j);
	pump(w);
}

static void sched_set(struct worker *w, const char *tid, uint64_t when, int lt)
{
	char s[32];
	snprintf(s, sizeof(s), "%llu", (unsigned long long)when);
	const char *lt_argv[] = {"ZADD", KEY_SCHED, "LT", s, tid};
	const char *plain[] = {"ZADD", KEY_SCHED, s, tid};
	if (lt)
		rconn_cmd(w->rc, ignore_cb, NULL, 5, lt_argv, NULL);
	else
		rconn_cmd(w->rc, ignore_cb, NULL, 4, plain, NULL);
}

/*
 * The tenant has nothing due: drop it from the index, then look at its
 * ready set again.  Commands on one connection run in order, so an enqueue
 * that slipped in between is either seen by the ZRANGE or re-adds the
 * tenant itself with its own ZADD (which comes after its ready write).
 */
struct recheck {
	struct worker *w;
	char tid[TENANT_ID_LEN + 1];
	const char *index;
};

static void recheck_cb(redisReply *r, void *arg, const char *err)
{
	struct recheck *c = arg;
	if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
		const char *a[] = {"ZADD", c->index, "LT", r->element[1]->str, c->tid};
		rconn_cmd(c->w->rc, ignore_cb, NULL, 5, a, NULL);
	}
	free(c);
}

static void index_drop(struct worker *w, const char *index, const char *tid, const char *zset)
{
	struct recheck *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->w = w;
	c->index = index;
	snprintf(c->tid, sizeof(c->tid), "%s", tid);
	const char *zrem[] = {"ZREM", index, tid};
	rconn_cmd(w->rc, ignore_cb, NULL, 3, zrem, NULL);
	const char *zr[] = {"ZRANGE", zset, "0", "0", "WITHSCORES"};
	rconn_cmd(w->rc, recheck_cb, c, 5, zr, NULL);
}

/* Backoff of attempt N (1-based): min * 2^(N-1), capped, +-20% jitter. */
static uint64_t backoff_ms(const struct config *cfg, int attempt)
{
	uint64_t d = (uint64_t)cfg->retry_min_backoff * 1000;
	for (int i = 1; i < attempt && d < (uint64_t)cfg->retry_max_backoff * 1000; i++)
		d *= 2;
	if (d > (uint64_t)cfg->retry_max_backoff * 1000)
		d = (uint64_t)cfg->retry_max_backoff * 1000;
	uint32_t r = 0;
	util_random(&r, sizeof(r));
	double f = 0.8 + 0.4 * (r / 4294967296.0);
	return (uint64_t)(d * f);
}

/* ---- tenant credentials ------------------------------------------------ */

static void credkey_init(struct job *j)
{
	snprintf(j->credkey, sizeof(j->credkey), "%s|%s|%s", j->tid, j->role_arn,
		 j->external_id ? j->external_id : "");
}

struct sts_call {
	struct worker *w;
	char credkey[600];
	char tid[TENANT_ID_LEN + 1];
	char base_akid[128];
};

static void sts_done_cb(const struct http_resp *r, void *arg)
{
	struct sts_call *c = arg;
	time_t now = time(NULL);
	struct aws_temp_creds cr = {0};
	if (r->status == 200 && aws_sts_parse_assume_role(r->body, r->len, &cr) == 0) {
		stscache_put(g_sts, c->credkey, &cr, now);
		log_kv(LOG_INFO, "sts_assumed", "tenant", c->tid, NULL);
	} else {
		char code[64] = "", msg[200] = "", why[300];
		if (r->status)
			aws_xml_parse_error(r->body, r->len, code, sizeof(code), msg, sizeof(msg));
		snprintf(why, sizeof(why), "STS AssumeRole: %s%s%s", r->status ? code : r->err,
			 msg[0] ? ": " : "", msg);
		STAT_INC(sts_failures);
		log_kv(LOG_WARNING, "sts_failed", "tenant", c->tid, "reason", why, NULL);
		/* Our own identity is stale: have the chain resolve it again. */
		if (strcmp(code, "ExpiredToken") == 0 || strcmp(code, "InvalidClientTokenId") == 0)
			aws_identity_invalidate(g_ident, c->base_akid);
		stscache_fail(g_sts, c->credkey, now, why);
	}
	struct worker *w = c->w;
	free(c);
	/* Jobs of this worker waiting for it try again now (others on their tick). */
	resume_waiting(w);
}

/* Start AssumeRole for J's tenant; the caller owns the refresh (single flight). */
static void sts_refresh(struct job *j)
{
	struct worker *w = j->w;
	struct aws_creds base = {0};
	time_t now = time(NULL);
	if (aws_identity_get(g_ident, &base) < 0) {
		stscache_fail(g_sts, j->credkey, now, "no AWS credentials for the gateway itself");
		return;
	}
	char session[65];
	sts_session_name("sesgate", j->tenant_name, session, sizeof(session));
	char *body = sts_assume_role_body(j->role_arn, session, j->external_id,
					  w->cfg->sts_session_duration);
	struct sigv4_credentials sc = {base.access_key_id, base.secret_access_key,
				       base.session_token};
	char akid[128];
	snprintf(akid, sizeof(akid), "%s", base.access_key_id);
	char *hdr[AWSREQ_MAX_HEADERS], *url = NULL;
	int n = body ? awsreq_sign("POST", g_env.sts_endpoint, "/",
				   "application/x-www-form-urlencoded; charset=utf-8", NULL, 0, body,
				   strlen(body), &sc, g_env.region, "sts", now, hdr, &url)
		     : -1;
	aws_creds_free(&base);
	struct sts_call *c = n < 0 ? NULL : calloc(1, sizeof(*c));
	if (!c) {
		if (n >= 0)
			awsreq_free_headers(hdr, n);
		free(url);
		free(body);
		stscache_fail(g_sts, j->credkey, now, "cannot build the STS request");
		return;
	}
	c->w = w;
	snprintf(c->base_akid, sizeof(c->base_akid), "%s", akid);
	snprintf(c->credkey, sizeof(c->credkey), "%s", j->credkey);
	snprintf(c->tid, sizeof(c->tid), "%s", j->tid);
	struct curl_slist *sl = NULL;
	for (int i = 0; i < n; i++)
		sl = curl_slist_append(sl, hdr[i]);
	awsreq_free_headers(hdr, n);
	STAT_INC(sts_calls);
	if (http_send(w->http, "POST", url, sl, body, strlen(body),
		      (long)w->cfg->ses_timeout * 1000, sts_done_cb, c) < 0) {
		free(c);
		stscache_fail(g_sts, j->credkey, now, "cannot start the STS request");
	}
	free(url);
}

/*
 * Make sure J has usable tenant credentials.  Returns 1 when J->cr is set,
 * 0 when J was parked (waiting list) until credentials arrive, -1 when STS
 * is in backoff (ERR filled, *RETRY_AT set).
 */
static int job_creds(struct job *j, char *err, size_t errcap, time_t *retry_at)
{
	aws_temp_creds_free(&j->cr);
	time_t now = time(NULL);
	enum stsc_result r = stscache_get(g_sts, j->credkey, now, &j->cr, err, errcap, retry_at);
	switch (r) {
	case STSC_HIT:
		return 1;
	case STSC_HIT_REFRESH:
		sts_refresh(j);
		return 1;
	case STSC_REFRESH:
		/* the answer (or the failure) comes back later */
		sts_refresh(j);
		/* fall through */
	case STSC_WAIT:
		j->next = j->w->waiting;
		j->w->waiting = j;
		return 0;
	case STSC_BACKOFF:
		break;
	}
	return -1;
}

/* ---- SES calls --------------------------------------------------------- */

/* Start one signed SES v2 call; BODY (heap) is taken over. */
static int ses_call(struct job *j, const char *method, const char *path, char *body,
		    size_t len, http_done_cb *cb, void *arg)
{
	struct sigv4_credentials sc = {j->cr.access_key_id, j->cr.secret_access_key,
				       j->cr.session_token};
	char *hdr[AWSREQ_MAX_HEADERS], *url = NULL;
	int n = awsreq_sign(method, g_env.ses_endpoint, path, body ? "application/json" : NULL,
			    NULL, 0, body ? body : "", len, &sc, g_env.region, "ses", time(NULL), hdr, &url);
	if (n < 0) {
		free(body);
		return -1;
	}
	struct curl_slist *sl = NULL;
	for (int i = 0; i < n; i++)
		sl = curl_slist_append(sl, hdr[i]);
	awsreq_free_headers(hdr, n);
	STAT_INC(ses_calls);
	int rc = http_send(j->w->http, method, url, sl, body, len,
			   (long)j->w->cfg->ses_timeout * 1000, cb, arg);
	free(url);
	return rc;
}

/* ---- finishing a message ----------------------------------------------- */

static json_t *owed_json(const struct job *j, int want_state)
{
	json_t *a = json_array();
	for (int c = 0; c < j->nchunks; c++)
		if (j->chunks[c].state != 1 || want_state == 1)
			for (int i = 0; i < j->chunks[c].n; i++)
				json_array_append_new(a, json_string(j->rcpts[j->chunks[c].first + i]));
	return a;
}

/* Queue a delivery status notification to the original sender. */
static void send_dsn(struct job *j, const char *diag, const char *code)
{
	if (!j->from[0])
		return; /* never answer a bounce with a bounce */
	const char *at = strrchr(j->from, '@');
	char dsnfrom[300];
	snprintf(dsnfrom, sizeof(dsnfrom), "MAILER-DAEMON@%s", at ? at + 1 : g_cfg->hostname);
	size_t nf = 0;
	struct dsn_rcpt *failed = calloc((size_t)j->nrcpt + 1, sizeof(*failed));
	if (!failed)
		return;
	char dtext[480];
	snprintf(dtext, sizeof(dtext), "smtp; 554 %s", diag);
	for (int c = 0; c < j->nchunks; c++)
		if (j->chunks[c].state != 1)
			for (int i = 0; i < j->chunks[c].n; i++) {
				failed[nf].addr = j->rcpts[j->chunks[c].first + i];
				failed[nf].status = dsn_status_for(code);
				failed[nf].diag = dtext;
				nf++;
			}
	struct dsn_input in = {
		.reporting_mta = g_cfg->hostname,
		.from = dsnfrom,
		.to = j->from,
		.qid = j->qid,
		.msgid_domain = at ? at + 1 : NULL,
		.arrival = (time_t)(j->arrival / 1000),
		.now = time(NULL),
		.rcpts = failed,
		.nrcpt = nf,
		.orig = j->data,
		.orig_len = j->len,
	};
	size_t len = 0;
	char *msg = dsn_build(&in, &len);
	free(failed);
	if (!msg)
		return;
	char qid[QUEUE_ID_LEN + 1];
	if (util_queue_id(qid) < 0) {
		free(msg);
		return;
	}
	char *rcpt = j->from;
	struct queue_msg m = {
		.tid = j->tid, .tenant_name = j->tenant_name, .qid = qid, .sender = "",
		.rcpts = &rcpt, .nrcpt = 1, .data = msg, .len = len, .client = "sesgate-dsn",
		.helo = "", .auth_user = "", .arrival_ms = util_now_ms(),
	};
	STAT_INC(dsn_queued);
	log_kv(LOG_NOTICE, "dsn_queued", "qid", qid, "about", j->qid, "tenant", j->tid, NULL);
	json_t *ev = json_pack("{s:I,s:s,s:s,s:s}", "t", (json_int_t)util_now_ms(), "ev", "dsn",
			       "dsn_qid", qid, "to", j->from);
	char *evs = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	char khist[KEY_MAX];
	const char *rp[] = {"RPUSH", key_hist(khist, j->tid, j->qid), evs ? evs : "{}"};
	rconn_cmd(j->w->rc, ignore_cb, NULL, 3, rp, NULL);
	free(evs);
	queue_enqueue(j->w->rc, &m, (queue_done_cb *)(void (*)(void))ignore_cb, NULL);
	free(msg);
}

struct fin {
	struct job *j;
	char mode[8];
	uint64_t next;
	json_t *sesids;     /* to record as sg:sesid:ID (ack) */
	char reason[400];
	char code[64];
};

/* Apply one outcome to the message (finish_lua) and free the job after. */
static void job_finish(struct job *j, const char *mode, uint64_t next, int count_attempt,
		       int throttled, const char *reason, const char *code, const char *event_json)
{
	struct worker *w = j->w;
	struct fin *f = calloc(1, sizeof(*f));
	if (!f) {
		job_done(j); /* the reaper will hand the message out again */
		return;
	}
	f->j = j;
	snprintf(f->mode, sizeof(f->mode), "%s", mode);
	f->next = next;
	snprintf(f->reason, sizeof(f->reason), "%s", reason ? reason : "");
	snprintf(f->code, sizeof(f->code), "%s", code ? code : "");
	if (strcmp(mode, "ack") == 0)
		f->sesids = json_incref(j->ses_ids);

	json_t *owed = owed_json(j, 0);
	char *owed_s = json_dumps(owed, JSON_COMPACT);
	char nowed[16], now[32], nx[32], ttl[32];
	snprintf(nowed, sizeof(nowed), "%zu", json_array_size(owed));
	json_decref(owed);
	char *ids_s = json_dumps(j->ses_ids, JSON_COMPACT);
	uint64_t tnow = util_now_ms();
	snprintf(now, sizeof(now), "%llu", (unsigned long long)tnow);
	snprintf(nx, sizeof(nx), "%llu", (unsigned long long)next);
	snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)w->cfg->delivery_record_ttl * 1000);
	char kmsg[KEY_MAX], kready[KEY_MAX], kinf[KEY_MAX], kall[KEY_MAX], kretry[KEY_MAX],
		kdlq[KEY_MAX], khist[KEY_MAX], kten[KEY_MAX];
	const char *argv[] = {
		"EVAL", finish_lua, "8",
		key_msg(kmsg, j->tid, j->qid), key_ready(kready, j->tid),
		key_inflight(kinf, j->tid), key_all(kall, j->tid), key_retrying(kretry, j->tid),
		key_dlq(kdlq, j->tid), key_hist(khist, j->tid, j->qid), key_tenant(kten, j->tid),
		mode, j->qid, j->claim, now, nx, owed_s ? owed_s : "[]", nowed,
		ids_s ? ids_s : "[]", reason ? reason : "", event_json, ttl,
		count_attempt ? "1" : "0", throttled ? "1" : "0", reason ? reason : "",
	};
	rconn_cmd(w->rc, job_finish_cb, f, (int)(sizeof(argv) / sizeof(argv[0])), argv, NULL);
	free(owed_s);
	free(ids_s);
}

static void job_finish_cb(redisReply *r, void *arg, const char *err)
{
	struct fin *f = arg;
	struct job *j = f->j;
	struct worker *w = j->w;
	if (!r || r->type == REDIS_REPLY_ERROR) {
		/* Unknown outcome: the claim stays in inflight and the reaper
		 * hands the message out again (at-least-once). */
		log_kv(LOG_WARNING, "finish_failed", "qid", j->qid, "reason",
		       r ? r->str : err, NULL);
	} else if (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING) {
		int ok = strcmp(r->str, "ok") == 0;
		if (ok && strcmp(f->mode, "ack") == 0) {
			char ttl[32], val[80];
			snprintf(ttl, sizeof(ttl), "%d", w->cfg->delivery_record_ttl);
			snprintf(val, sizeof(val), "%s:%s", j->tid, j->qid);
			size_t i;
			json_t *v;
			json_array_foreach(f->sesids, i, v) {
				char k[SESID_KEY_MAX];
				snprintf(k, sizeof(k), "sg:sesid:%s", json_string_value(v));
				const char *a[] = {"SET", k, val, "EX", ttl};
				rconn_cmd(w->rc, ignore_cb, NULL, 5, a, NULL);
			}
		} else if (ok && strcmp(f->mode, "dlq") == 0) {
			send_dsn(j, f->reason, f->code);
		} else if (ok) {
			sched_set(w, j->tid, f->next, 1);
		} else if (strcmp(r->str, "stale") == 0) {
			log_kv(LOG_NOTICE, "finish_stale", "qid", j->qid, "reason",
			       "claimed again after the visibility timeout", NULL);
		}
	}
	json_decref(f->sesids);
	free(f);
	job_done(j);
}

static char *event_json(const char *ev, const struct job *j, const char *result,
			const char *detail, json_t *extra)
{
	json_t *o = json_object();
	json_object_set_new(o, "t", json_integer((json_int_t)util_now_ms()));
	json_object_set_new(o, "ev", json_string(ev));
	if (j) {
		json_object_set_new(o, "n", json_integer(j->attempts + 1));
		json_object_set_new(o, "rcpts", json_integer(j->nrcpt));
		json_object_set_new(o, "instance", json_string(g_instance));
	}
	if (result)
		json_object_set_new(o, "result", json_string(result));
	if (detail && *detail)
		json_object_set_new(o, "detail", json_string(detail));
	if (extra)
		json_object_set_new(o, "ses_ids", extra);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static void finish_with(struct job *j, const char *mode, uint64_t next, int count_attempt,
			int throttled, const char *result, const char *reason, const char *code)
{
	json_t *ids = NULL;
	if (strcmp(mode, "ack") == 0 || json_array_size(j->ses_ids))
		ids = json_deep_copy(j->ses_ids);
	char *ev = event_json("attempt", j, result, reason, ids);
	job_finish(j, mode, next, count_attempt, throttled, reason, code, ev ? ev : "{}");
	free(ev);
}

/* Every chunk answered: decide what happens to the message. */
static void job_decide(struct job *j)
{
	const struct config *cfg = j->w->cfg;
	int ok = 0, hold = 0, thr = 0, quota = 0, retry = 0, perm = 0, creds = 0;
	const struct chunk *worst = NULL;
	for (int c = 0; c < j->nchunks; c++) {
		struct chunk *k = &j->chunks[c];
		if (k->state == 1) {
			ok++;
			continue;
		}
		switch (k->outcome) {
		case SES_HOLD: hold++; worst = k; break;
		case SES_THROTTLED: thr++; if (!worst || worst->outcome != SES_HOLD) worst = k; break;
		case SES_QUOTA_EXCEEDED: quota++; if (!worst) worst = k; break;
		case SES_CREDS_EXPIRED: creds++; if (!worst) worst = k; break;
		case SES_PERMANENT: perm++; if (!worst) worst = k; break;
		default: retry++; if (!worst || worst->outcome == SES_PERMANENT) worst = k; break;
		}
	}
	uint64_t now = util_now_ms();
	if (ok == j->nchunks) {
		STAT_INC(msgs_delivered);
		char nr[16], ms[24];
		snprintf(nr, sizeof(nr), "%d", j->nrcpt);
		snprintf(ms, sizeof(ms), "%llu", (unsigned long long)(now - j->arrival));
		log_kv(LOG_INFO, "delivered", "qid", j->qid, "tenant", j->tid, "rcpts", nr,
		       "delay_ms", ms, NULL);
		finish_with(j, "ack", 0, 1, 0, "sent", NULL, NULL);
		return;
	}
	char reason[400];
	snprintf(reason, sizeof(reason), "%s%s%s", worst->code[0] ? worst->code : "error",
		 worst->msg[0] ? ": " : "", worst->msg);
	if (hold) {
		STAT_INC(tenant_holds);
		log_kv(LOG_WARNING, "tenant_held", "tenant", j->tid, "qid", j->qid, "reason", reason,
		       NULL);
		finish_with(j, "hold", now, 0, 0, "held", reason, worst->code);
		return;
	}
	int expired = now - j->arrival >= (uint64_t)cfg->max_queue_lifetime * 1000;
	if (perm && !retry && !thr && !quota && !creds) {
		STAT_INC(msgs_dead_lettered);
		log_kv(LOG_WARNING, "dead_lettered", "qid", j->qid, "tenant", j->tid, "reason",
		       reason, NULL);
		finish_with(j, "dlq", now, 1, 0, "rejected", reason, worst->code);
		return;
	}
	if (expired) {
		char why[480];
		snprintf(why, sizeof(why), "queue lifetime exceeded after %d attempts; last error %s",
			 j->attempts + 1, reason);
		STAT_INC(msgs_dead_lettered);
		log_kv(LOG_WARNING, "dead_lettered", "qid", j->qid, "tenant", j->tid, "reason", why,
		       NULL);
		finish_with(j, "dlq", now, 1, 0, "expired", why, "expired");
		return;
	}
	STAT_INC(msgs_deferred);
	if (thr || quota) {
		STAT_INC(ses_throttled);
		uint64_t d = quota ? (uint64_t)cfg->account_refresh * 1000
				   : (uint64_t)cfg->throttle_backoff_ms;
		log_kv(LOG_NOTICE, "deferred", "qid", j->qid, "tenant", j->tid, "reason", reason,
		       NULL);
		finish_with(j, "retry", now + d, 0, 1, "throttled", reason, worst->code);
		return;
	}
	uint64_t d = backoff_ms(cfg, j->attempts + 1);
	log_kv(LOG_NOTICE, "deferred", "qid", j->qid, "tenant", j->tid, "reason", reason, NULL);
	finish_with(j, "retry", now + d, 1, 0, "deferred", reason, worst->code);
}

/* ---- sending ----------------------------------------------------------- */

struct chunk_ref {
	struct job *j;
	int c;
};

static void chunk_done_cb(const struct http_resp *r, void *arg)
{
	struct chunk_ref *ref = arg;
	struct job *j = ref->j;
	struct chunk *k = &j->chunks[ref->c];
	free(ref);
	k->code[0] = k->msg[0] = '\0';
	if (r->status == 0) {
		k->outcome = SES_RETRY;
		snprintf(k->code, sizeof(k->code), "network");
		snprintf(k->msg, sizeof(k->msg), "%s", r->err ? r->err : "no response");
	} else {
		k->outcome = ses_classify(r->status, r->error_type, r->body, r->len, k->code,
					  sizeof(k->code), k->msg, sizeof(k->msg));
	}
	stats_ses_call((int)k->outcome, r->seconds);
	if (k->outcome == SES_OK && ses_parse_send_response(r->body, r->len, k->mid,
							    sizeof(k->mid)) == 0) {
		k->state = 1;
		json_array_append_new(j->ses_ids, json_string(k->mid));
	} else {
		if (k->outcome == SES_OK) {
			k->outcome = SES_RETRY;
			snprintf(k->code, sizeof(k->code), "BadResponse");
			snprintf(k->msg, sizeof(k->msg), "HTTP %ld without a MessageId", r->status);
		}
		k->state = 2;
		if (k->outcome == SES_CREDS_EXPIRED)
			stscache_invalidate(g_sts, j->credkey, j->cr.access_key_id);
	}
	k->inflight = 0;
	j->pending--;
	for (int c = 0; c < j->nchunks; c++)
		if (j->chunks[c].state == 0 && !j->chunks[c].inflight) {
			job_pump_chunks(j); /* more owed chunks waited for memory */
			return;
		}
	if (j->pending == 0)
		job_chunks_done(j);
}

/* Every chunk has its answer. */
static void job_chunks_done(struct job *j)
{
	/* Credentials went stale under us: refresh and resend what is owed, once. */
	int again = 0;
	for (int c = 0; c < j->nchunks; c++)
		if (j->chunks[c].state == 2 && j->chunks[c].outcome == SES_CREDS_EXPIRED &&
		    !j->chunks[c].creds_retried) {
			j->chunks[c].creds_retried = 1;
			j->chunks[c].state = 0;
			again = 1;
		}
	if (again) {
		log_kv(LOG_NOTICE, "credentials_refresh", "tenant", j->tid, "reason",
		       "SES said the tenant credentials expired", NULL);
		job_send(j);
		return;
	}
	job_decide(j);
}

/* A temporary failure before any SES call (credentials): back to ready. */
static void job_defer_nocall(struct job *j, const char *why, uint64_t when)
{
	for (int c = 0; c < j->nchunks; c++)
		if (j->chunks[c].state == 0) {
			j->chunks[c].state = 2;
			j->chunks[c].outcome = SES_RETRY;
			snprintf(j->chunks[c].code, sizeof(j->chunks[c].code), "credentials");
			snprintf(j->chunks[c].msg, sizeof(j->chunks[c].msg), "%s", why);
		}
	uint64_t now = util_now_ms();
	if (now - j->arrival >= (uint64_t)j->w->cfg->max_queue_lifetime * 1000) {
		job_decide(j);
		return;
	}
	STAT_INC(msgs_deferred);
	log_kv(LOG_NOTICE, "deferred", "qid", j->qid, "tenant", j->tid, "reason", why, NULL);
	finish_with(j, "retry", when, 0, 0, "deferred", why, "credentials");
}

/*
 * Start SendEmail calls for owed chunks.  Each call carries the whole
 * message base64-encoded, so a big message with many recipients sends its
 * chunks a few at a time (CHUNK_BYTES_INFLIGHT) instead of all at once.
 */
static void job_pump_chunks(struct job *j)
{
	for (int c = 0; c < j->nchunks; c++) {
		struct chunk *k = &j->chunks[c];
		if (k->state != 0 || k->inflight)
			continue;
		if (j->pending > 0 && (j->pending + 1) * j->len > CHUNK_BYTES_INFLIGHT)
			break;
		struct ses_send s = {
			.from = j->from,
			.rcpts = (const char *const *)&j->rcpts[k->first],
			.nrcpt = (size_t)k->n,
			.raw = j->data,
			.raw_len = j->len,
			.config_set = j->cfgset,
			.qid = j->qid,
			.tenant_id = j->tid,
		};
		size_t blen = 0;
		char *body = ses_send_email_body(&s, &blen);
		struct chunk_ref *ref = body ? malloc(sizeof(*ref)) : NULL;
		if (ref) {
			ref->j = j;
			ref->c = c;
		}
		if (!ref || ses_call(j, "POST", "/v2/email/outbound-emails", body, blen,
				     chunk_done_cb, ref) < 0) {
			if (!ref)
				free(body);
			free(ref);
			k->state = 2;
			k->outcome = SES_RETRY;
			snprintf(k->code, sizeof(k->code), "local");
			snprintf(k->msg, sizeof(k->msg), "cannot start the SES request");
			continue;
		}
		k->inflight = 1;
		j->pending++;
	}
	if (j->pending == 0)
		job_chunks_done(j);
}

/* Send every chunk still owed (state 0), with fresh credentials. */
static void job_send(struct job *j)
{
	char err[200] = "";
	time_t retry_at = 0;
	int r = job_creds(j, err, sizeof(err), &retry_at);
	if (r == 0)
		return; /* parked until STS answers */
	if (r < 0) {
		uint64_t when = (uint64_t)retry_at * 1000;
		if (when < util_now_ms() + 1000)
			when = util_now_ms() + 1000;
		job_defer_nocall(j, err[0] ? err : "no tenant credentials", when);
		return;
	}
	job_pump_chunks(j);
}

/* ---- GetAccount -------------------------------------------------------- */

static void account_store_cb(redisReply *r, void *arg, const char *err)
{
	struct job *j = arg;
	if (r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "released") == 0)
		log_kv(LOG_NOTICE, "tenant_released", "tenant", j->tid, "reason",
		       "SES account sending again", NULL);
	sched_set(j->w, j->tid, util_now_ms(), 1);
	job_done(j);
}

static void account_done_cb(const struct http_resp *r, void *arg)
{
	struct job *j = arg;
	char code[64] = "", msg[256] = "";
	enum ses_outcome o = r->status ? ses_classify(r->status, r->error_type, r->body, r->len,
						      code, sizeof(code), msg, sizeof(msg))
				       : SES_RETRY;
	struct ses_account a;
	char now[32], rate[32], max24[32], sent[32], hold[320] = "";
	snprintf(now, sizeof(now), "%llu", (unsigned long long)util_now_ms());
	if (o == SES_OK && ses_parse_account(r->body, r->len, &a) == 0) {
		snprintf(rate, sizeof(rate), "%g", a.max_send_rate);
		snprintf(max24, sizeof(max24), "%.0f", a.max_24h);
		snprintf(sent, sizeof(sent), "%.0f", a.sent_24h);
		if (!a.sending_enabled)
			snprintf(hold, sizeof(hold), "SES account: sending disabled (GetAccount SendingEnabled=false)");
		else if (strcmp(a.enforcement_status, "SHUTDOWN") == 0)
			snprintf(hold, sizeof(hold), "SES account: enforcement status SHUTDOWN");
		if (hold[0])
			log_kv(LOG_WARNING, "tenant_held", "tenant", j->tid, "reason", hold, NULL);
	} else {
		if (o == SES_CREDS_EXPIRED)
			stscache_invalidate(g_sts, j->credkey, j->cr.access_key_id);
		log_kv(LOG_WARNING, "get_account_failed", "tenant", j->tid, "reason",
		       r->status ? code : r->err, NULL);
		/* Keep the old figures; try again after the next refresh period. */
		const char *a2[] = {"HSET", "", "ses_checked", now};
		char kten[KEY_MAX];
		a2[1] = key_tenant(kten, j->tid);
		rconn_cmd(j->w->rc, ignore_cb, NULL, 4, a2, NULL);
		const char *d[] = {"HDEL", kten, "ses_check_lease"};
		rconn_cmd(j->w->rc, account_store_cb, j, 3, d, NULL);
		return;
	}
	char kten[KEY_MAX];
	const char *argv[] = {"EVAL", account_lua, "1", key_tenant(kten, j->tid), now, rate,
			      max24, sent, hold};
	rconn_cmd(j->w->rc, account_store_cb, j, 9, argv, NULL);
}

/* The check could not be made: free the lease and look again at WHEN. */
static void account_failed(struct job *j, const char *why, uint64_t when)
{
	char kten[KEY_MAX];
	const char *d[] = {"HDEL", key_tenant(kten, j->tid), "ses_check_lease"};
	log_kv(LOG_WARNING, "get_account_failed", "tenant", j->tid, "reason", why, NULL);
	rconn_cmd(j->w->rc, ignore_cb, NULL, 3, d, NULL);
	sched_set(j->w, j->tid, when, 1);
	job_done(j);
}

/* Credentials for an account check: same cache, parked like sends. */
static void account_run(struct job *j)
{
	char err[200] = "";
	time_t retry_at = 0;
	int r = job_creds(j, err, sizeof(err), &retry_at);
	if (r == 0)
		return;
	if (r < 0) {
		uint64_t when = (uint64_t)retry_at * 1000;
		account_failed(j, err[0] ? err : "no tenant credentials",
			       when > util_now_ms() ? when : util_now_ms() + 1000);
		return;
	}
	if (ses_call(j, "GET", "/v2/email/account", NULL, 0, account_done_cb, j) < 0)
		account_failed(j, "cannot start the request", util_now_ms() + 1000);
}

/* ---- claiming ---------------------------------------------------------- */

struct claim {
	struct worker *w;
	char tid[TENANT_ID_LEN + 1];
	char token[48];
};

struct fetch {
	struct job *j;
};

static void fetch_cb(redisReply *r, void *arg, const char *err)
{
	struct job *j = arg;
	/* env, data, owed, attempts, arrival, ses_ids */
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 6 ||
	    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
		/* Gone (purged) or Redis trouble: the reaper sorts out any leftover. */
		job_done(j);
		return;
	}
	json_error_t je;
	json_t *env = json_loadb(r->element[0]->str, r->element[0]->len, 0, &je);
	json_t *owed = r->element[2]->type == REDIS_REPLY_STRING
			       ? json_loadb(r->element[2]->str, r->element[2]->len, 0, &je)
			       : NULL;
	json_t *rc = json_is_array(owed) ? owed : json_object_get(env, "rcpt");
	const char *from = json_string_value(json_object_get(env, "from"));
	if (!env || !json_is_array(rc) || !from) {
		json_decref(env);
		json_decref(owed);
		log_kv(LOG_ERR, "message_corrupt", "qid", j->qid, "tenant", j->tid, NULL);
		job_done(j);
		return;
	}
	j->from = xstrdup(from);
	j->nrcpt = (int)json_array_size(rc);
	j->rcpts = calloc((size_t)j->nrcpt + 1, sizeof(char *));
	for (int i = 0; j->rcpts && i < j->nrcpt; i++)
		j->rcpts[i] = xstrdup(json_string_value(json_array_get(rc, (size_t)i)));
	json_decref(env);
	json_decref(owed);
	j->len = r->element[1]->len;
	j->w->bytes += j->len;
	j->data = malloc(j->len + 1);
	if (j->data) {
		memcpy(j->data, r->element[1]->str, j->len);
		j->data[j->len] = '\0';
	}
	j->attempts = r->element[3]->type == REDIS_REPLY_STRING ? atoi(r->element[3]->str) : 0;
	j->arrival = r->element[4]->type == REDIS_REPLY_STRING
			     ? strtoull(r->element[4]->str, NULL, 10)
			     : util_now_ms();
	j->ses_ids = r->element[5]->type == REDIS_REPLY_STRING
			     ? json_loadb(r->element[5]->str, r->element[5]->len, 0, &je)
			     : NULL;
	if (!json_is_array(j->ses_ids)) {
		json_decref(j->ses_ids);
		j->ses_ids = json_array();
	}
	j->nchunks = (j->nrcpt + SES_MAX_RCPTS - 1) / SES_MAX_RCPTS;
	j->chunks = calloc((size_t)(j->nchunks ? j->nchunks : 1), sizeof(*j->chunks));
	if (!j->rcpts || !j->data || !j->chunks || j->nrcpt == 0) {
		job_done(j);
		return;
	}
	for (int c = 0; c < j->nchunks; c++) {
		j->chunks[c].first = c * SES_MAX_RCPTS;
		j->chunks[c].n = j->nrcpt - c * SES_MAX_RCPTS < SES_MAX_RCPTS
					 ? j->nrcpt - c * SES_MAX_RCPTS
					 : SES_MAX_RCPTS;
	}
	j->started = util_now_ms();
	job_send(j);
}

static struct job *job_new(struct worker *w, const char *tid, redisReply *r)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->w = w;
	snprintf(j->tid, sizeof(j->tid), "%s", tid);
	j->role_arn = xstrdup(r->element[2]->str);
	j->external_id = xstrdup(r->element[3]->str);
	j->cfgset = xstrdup(r->element[4]->str);
	j->tenant_name = xstrdup(r->element[5]->str);
	if (!j->role_arn || !j->external_id || !j->cfgset || !j->tenant_name) {
		job_free(j);
		return NULL;
	}
	credkey_init(j);
	w->busy++;
	return j;
}

static void claim_cb(redisReply *r, void *arg, const char *err)
{
	struct claim *c = arg;
	struct worker *w = c->w;
	w->picking = 0;
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
		if (r && r->type == REDIS_REPLY_ERROR)
			log_kv(LOG_ERR, "claim_failed", "tenant", c->tid, "reason", r->str, NULL);
		free(c);
		return;
	}
	const char *st = r->element[0]->str;
	uint64_t now = util_now_ms();
	log_debug("worker%d claim tenant=%s status=%s messages=%zu", w->idx, c->tid, st,
		  r->elements > 8 ? r->elements - 8 : 0);
	if (strcmp(st, "gone") == 0) {
		const char *a[] = {"ZREM", KEY_SCHED, c->tid};
		rconn_cmd(w->rc, ignore_cb, NULL, 3, a, NULL);
		free(c);
		pump(w);
		return;
	}
	if (r->elements < 8) {
		free(c);
		return;
	}
	int needcheck = r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer == 1;
	int checking = r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer >= 1;
	const char *nextdue = r->element[6]->str;
	if (needcheck) {
		struct job *j = job_new(w, c->tid, r);
		if (j) {
			j->kind = JOB_ACCOUNT;
			account_run(j);
		}
	}
	if (strcmp(st, "ok") == 0) {
		char kinf[KEY_MAX], dl[32];
		snprintf(dl, sizeof(dl), "%llu",
			 (unsigned long long)(now + (uint64_t)w->cfg->visibility_timeout * 1000));
		const char *ra[] = {"ZADD", KEY_REAP, "LT", dl, c->tid};
		if (r->elements > 8)
			rconn_cmd(w->rc, ignore_cb, NULL, 5, ra, NULL);
		if (*nextdue)
			sched_set(w, c->tid, strtoull(nextdue, NULL, 10), 0);
		else
			index_drop(w, KEY_SCHED, c->tid, key_ready(kinf, c->tid));
		for (size_t i = 8; i < r->elements; i++) {
			struct job *j = job_new(w, c->tid, r);
			if (!j)
				continue;
			snprintf(j->qid, sizeof(j->qid), "%s", r->element[i]->str);
			snprintf(j->claim, sizeof(j->claim), "%s:%s", c->token, j->qid);
			char kmsg[KEY_MAX];
			const char *a[] = {"HMGET", key_msg(kmsg, c->tid, j->qid), "env", "data",
					   "owed", "attempts", "arrival_redis", "ses_ids"};
			rconn_cmd(w->rc, fetch_cb, j, 8, a, NULL);
		}
	} else if (strcmp(st, "empty") == 0) {
		char k[KEY_MAX];
		index_drop(w, KEY_SCHED, c->tid, key_ready(k, c->tid));
	} else if (strcmp(st, "later") == 0 || strcmp(st, "rate") == 0) {
		sched_set(w, c->tid, strtoull(nextdue, NULL, 10), 0);
	} else if (strcmp(st, "check") == 0 || (strcmp(st, "held") == 0 && checking)) {
		/*
		 * An account check is running (ours or another worker's) and wakes
		 * the tenant when done.  Its wake-up may come before this write,
		 * which would then push it back: so only a short step back.
		 */
		sched_set(w, c->tid, now + RECHECK_SOON_MS, 0);
	} else if (strcmp(st, "quota") == 0) {
		sched_set(w, c->tid, now + (uint64_t)w->cfg->account_refresh * 1000, 0);
	} else { /* paused, held, norole */
		uint64_t d = HOLD_RECHECK_MS;
		if (strcmp(st, "held") == 0 && (uint64_t)w->cfg->account_refresh * 1000 < d)
			d = (uint64_t)w->cfg->account_refresh * 1000;
		sched_set(w, c->tid, now + d, 0);
	}
	free(c);
	pump(w);
}

static void pick_cb(redisReply *r, void *arg, const char *err)
{
	struct worker *w = arg;
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
		w->picking = 0;
		return;
	}
	/* Spread workers (and instances) over the due tenants. */
	uint32_t rnd = 0;
	util_random(&rnd, sizeof(rnd));
	redisReply *t = r->element[rnd % r->elements];
	if (t->type != REDIS_REPLY_STRING || !key_valid_tenant_id(t->str)) {
		w->picking = 0;
		return;
	}
	struct claim *c = calloc(1, sizeof(*c));
	if (!c) {
		w->picking = 0;
		return;
	}
	c->w = w;
	snprintf(c->tid, sizeof(c->tid), "%s", t->str);
	snprintf(c->token, sizeof(c->token), "%s.%d.%u", g_instance, w->idx, ++w->claim_seq);
	int room = w->cfg->worker_inflight - w->busy;
	if (room > CLAIM_BATCH_MAX)
		room = CLAIM_BATCH_MAX;
	char now[32], max[16], vis[32], rate[32], refresh[32], prefix[KEY_MAX], lease[16];
	snprintf(now, sizeof(now), "%llu", (unsigned long long)util_now_ms());
	snprintf(max, sizeof(max), "%d", room > 0 ? room : 1);
	snprintf(vis, sizeof(vis), "%llu", (unsigned long long)w->cfg->visibility_timeout * 1000);
	snprintf(rate, sizeof(rate), "%g", w->cfg->default_send_rate);
	snprintf(refresh, sizeof(refresh), "%llu", (unsigned long long)w->cfg->account_refresh * 1000);
	snprintf(prefix, sizeof(prefix), "sg:{%s}:msg:", c->tid);
	snprintf(lease, sizeof(lease), "%d", CHECK_LEASE_MS);
	char bytes[32];
	snprintf(bytes, sizeof(bytes), "%llu",
		 (unsigned long long)(w->bytes < WORKER_BYTES_CLAIM ? WORKER_BYTES_CLAIM - w->bytes : 0));
	char kten[KEY_MAX], kready[KEY_MAX], kinf[KEY_MAX];
	const char *a[] = {"EVAL", claim_lua, "3", key_tenant(kten, c->tid),
			   key_ready(kready, c->tid), key_inflight(kinf, c->tid),
			   now, max, vis, rate, c->token, refresh, prefix, lease, bytes};
	rconn_cmd(w->rc, claim_cb, c, 15, a, NULL);
}

/* Look for work when there is room for it. */
static void pump(struct worker *w)
{
	if (w->picking || atomic_load(&w->stop) || w->busy >= w->cfg->worker_inflight ||
	    !rconn_up(w->rc) || !g_ident)
		return;
	if (!aws_identity_ready(g_ident))
		return; /* no identity yet: nothing could be sent */
	w->picking = 1;
	char now[32], lim[16];
	snprintf(now, sizeof(now), "%llu", (unsigned long long)util_now_ms());
	snprintf(lim, sizeof(lim), "%d", SCHED_CANDIDATES);
	const char *a[] = {"ZRANGEBYSCORE", KEY_SCHED, "-inf", now, "LIMIT", "0", lim};
	rconn_cmd(w->rc, pick_cb, w, 7, a, NULL);
}

/* ---- upkeep: reaper and sweep ------------------------------------------ */

struct reap {
	struct worker *w;
	char tid[TENANT_ID_LEN + 1];
};

static void reap_cb(redisReply *r, void *arg, const char *err)
{
	struct reap *p = arg;
	struct worker *w = p->w;
	if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
		long long moved = r->element[0]->integer;
		if (moved > 0) {
			char n[24];
			snprintf(n, sizeof(n), "%lld", moved);
			STAT_ADD(msgs_reclaimed, (uint64_t)moved);
			log_kv(LOG_WARNING, "visibility_timeout", "tenant", p->tid, "messages", n,
			       NULL);
			sched_set(w, p->tid, util_now_ms(), 1);
		}
		if (r->element[1]->type == REDIS_REPLY_STRING && r->element[1]->len > 0) {
			const char *a[] = {"ZADD", KEY_REAP, r->element[1]->str, p->tid};
			rconn_cmd(w->rc, ignore_cb, NULL, 4, a, NULL);
		} else {
			char k[KEY_MAX];
			index_drop(w, KEY_REAP, p->tid, key_inflight(k, p->tid));
		}
	}
	free(p);
}

static void reap_pick_cb(redisReply *r, void *arg, const char *err)
{
	struct worker *w = arg;
	if (!r || r->type != REDIS_REPLY_ARRAY)
		return;
	char now[32], prefix[KEY_MAX], hprefix[KEY_MAX];
	snprintf(now, sizeof(now), "%llu", (unsigned long long)util_now_ms());
	char *ev = event_json("visibility-timeout", NULL, NULL,
			      "claim expired; handed to another worker", NULL);
	for (size_t i = 0; i < r->elements; i++) {
		const char *tid = r->element[i]->str;
		if (!key_valid_tenant_id(tid))
			continue;
		struct reap *p = calloc(1, sizeof(*p));
		if (!p)
			break;
		p->w = w;
		snprintf(p->tid, sizeof(p->tid), "%s", tid);
		snprintf(prefix, sizeof(prefix), "sg:{%s}:msg:", tid);
		snprintf(hprefix, sizeof(hprefix), "sg:{%s}:hist:", tid);
		char kinf[KEY_MAX], kready[KEY_MAX];
		const char *a[] = {"EVAL", reap_lua, "2", key_inflight(kinf, tid),
				   key_ready(kready, tid), now, "500", prefix, hprefix, ev ? ev : "{}"};
		rconn_cmd(w->rc, reap_cb, p, 10, a, NULL);
	}
	free(ev);
}

static void sweep_one_cb(redisReply *r, void *arg, const char *err)
{
	struct reap *p = arg;
	if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
		sched_set(p->w, p->tid, strtoull(r->element[1]->str, NULL, 10), 1);
	free(p);
}

static void sweep_one_inflight_cb(redisReply *r, void *arg, const char *err)
{
	struct reap *p = arg;
	if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
		const char *a[] = {"ZADD", KEY_REAP, "LT", r->element[1]->str, p->tid};
		rconn_cmd(p->w->rc, ignore_cb, NULL, 5, a, NULL);
	}
	free(p);
}

/* Repair the indexes: an enqueue whose sg:sched update was lost, a claim
 * whose sg:reap update was lost (crash between the two commands). */
static void sweep_cb(redisReply *r, void *arg, const char *err)
{
	struct worker *w = arg;
	if (!r || r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < r->elements; i++) {
		const char *tid = r->element[i]->str;
		if (!key_valid_tenant_id(tid))
			continue;
		for (int k = 0; k < 2; k++) {
			struct reap *p = calloc(1, sizeof(*p));
			if (!p)
				return;
			p->w = w;
			snprintf(p->tid, sizeof(p->tid), "%s", tid);
			char key[KEY_MAX];
			const char *a[] = {"ZRANGE", k ? key_inflight(key, tid) : key_ready(key, tid),
					   "0", "0", "WITHSCORES"};
			rconn_cmd(w->rc, k ? sweep_one_inflight_cb : sweep_one_cb, p, 5, a, NULL);
		}
	}
}

static void worker_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	int stop = atomic_load(&w->stop);
	if (stop == 2 || (stop == 1 && w->busy == 0)) {
		event_base_loopbreak(w->base);
		return;
	}
	queue_tick(w->rc);
	/* Jobs parked for credentials another thread is fetching. */
	resume_waiting(w);
	if (stop || !rconn_up(w->rc))
		return;
	uint64_t now = util_now_ms();
	if (w->idx == 0 && now >= w->next_reap) {
		w->next_reap = now + REAP_EVERY_MS;
		char n[32];
		snprintf(n, sizeof(n), "%llu", (unsigned long long)now);
		const char *a[] = {"ZRANGEBYSCORE", KEY_REAP, "-inf", n, "LIMIT", "0", "100"};
		rconn_cmd(w->rc, reap_pick_cb, w, 7, a, NULL);
	}
	if (w->idx == 0 && now >= w->next_sweep) {
		w->next_sweep = now + SWEEP_EVERY_MS;
		const char *a[] = {"HVALS", KEY_TENANTS};
		rconn_cmd(w->rc, sweep_cb, w, 2, a, NULL);
	}
	pump(w);
}

/* ---- threads ----------------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	event_base_dispatch(w->base);
	/* Parked jobs still hold claims: the reaper returns them to ready. */
	while (w->waiting) {
		struct job *j = w->waiting;
		w->waiting = j->next;
		job_free(j);
	}
	return NULL;
}

int aws_setup(const struct config *cfg, char *err, size_t errlen)
{
	if (g_ident)
		return 0;
	if (aws_env_load(&g_env, cfg->aws_region, err, errlen) < 0)
		return -1;
	if (!g_env.region[0]) {
		snprintf(err, errlen, "no AWS region: set aws_region, AWS_REGION or a profile region");
		return -1;
	}
	g_ident = aws_identity_new(&g_env);
	g_sts = stscache_new(STS_REFRESH_BEFORE_S, STS_LEASE_S);
	if (!g_ident || !g_sts) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int st = aws_identity_start(g_ident);
	if (st == AWS_IDENTITY_FAILED) {
		snprintf(err, errlen, "cannot start the AWS credential refresher");
		return -1;
	}
	if (st == AWS_IDENTITY_PENDING)
		log_kv(LOG_ERR, "aws_identity_unavailable", "reason",
		       "no usable AWS credentials yet; mail stays queued, retrying", NULL);
	return 0;
}

struct aws_identity *worker_aws_identity(void)
{
	return g_ident;
}

const struct aws_env *worker_aws_env(void)
{
	return &g_env;
}

void aws_teardown(void)
{
	stscache_free(g_sts);
	g_sts = NULL;
	aws_identity_free(g_ident);
	g_ident = NULL;
}

int workers_start(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->workers == 0)
		return 0;
	if (aws_setup(cfg, err, errlen) < 0)
		return -1;
	workers = calloc((size_t)cfg->workers, sizeof(*workers));
	if (!workers) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < cfg->workers; i++) {
		struct worker *w = &workers[i];
		char name[32];
		snprintf(name, sizeof(name), "worker%d", i);
		w->idx = i;
		w->cfg = cfg;
		w->base = event_base_new();
		w->rc = w->base ? rconn_new(w->base, cfg, name) : NULL;
		w->http = w->base ? http_new(w->base, g_env.ca_bundle) : NULL;
		w->tick_ev = w->base ? event_new(w->base, -1, EV_PERSIST, worker_tick_cb, w) : NULL;
		if (!w->rc || !w->http || !w->tick_ev) {
			snprintf(err, errlen, "cannot create delivery thread %d", i);
			return -1;
		}
		struct timeval tv = {0, TICK_MS * 1000};
		event_add(w->tick_ev, &tv);
		if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
			snprintf(err, errlen, "cannot start delivery thread %d", i);
			return -1;
		}
		nworkers++;
	}
	char nw[12];
	snprintf(nw, sizeof(nw), "%d", nworkers);
	log_kv(LOG_INFO, "workers_started", "workers", nw, "region", g_env.region,
	       "ses_endpoint", g_env.ses_endpoint, NULL);
	return 0;
}

void workers_stop(int grace)
{
	for (int i = 0; i < nworkers; i++)
		atomic_store(&workers[i].stop, 1);
	/* Give in-flight calls a chance to finish and be acknowledged. */
	uint64_t deadline = util_mono_ms() + (uint64_t)grace * 1000;
	for (;;) {
		int busy = 0;
		for (int i = 0; i < nworkers; i++)
			busy += workers[i].busy > 0;
		if (!busy || util_mono_ms() >= deadline)
			break;
		struct timespec ts = {0, 50 * 1000000};
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < nworkers; i++)
		atomic_store(&workers[i].stop, 2);
	for (int i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];
		pthread_join(w->th, NULL);
		http_free(w->http);
		event_free(w->tick_ev);
		rconn_free(w->rc);
		event_base_free(w->base);
	}
	free(workers);
	workers = NULL;
	nworkers = 0;
}

int workers_running(void)
{
	return nworkers;
}

json_t *workers_status_json(void)
{
	json_t *o = json_object();
	json_object_set_new(o, "workers", json_integer(nworkers));
	if (!g_ident)
		return o;
	char source[32] = "", akid[32] = "", lasterr[200] = "";
	time_t exp = 0;
	aws_identity_status(g_ident, source, sizeof(source), akid, sizeof(akid), &exp, lasterr,
			    sizeof(lasterr));
	json_t *a = json_object();
	json_object_set_new(a, "source", json_string(source));
	json_object_set_new(a, "access_key_id", json_string(akid));
	json_object_set_new(a, "expiration", json_integer((json_int_t)exp));
	json_object_set_new(a, "last_error", json_string(lasterr));
	json_object_set_new(a, "region", json_string(g_env.region));
	json_object_set_new(a, "ses_endpoint", json_string(g_env.ses_endpoint));
	json_object_set_new(a, "sts_endpoint", json_string(g_env.sts_endpoint));
	json_object_set_new(a, "tenant_credentials_cached",
			    json_integer((json_int_t)(g_sts ? stscache_size(g_sts) : 0)));
	json_object_set_new(o, "aws", a);
	int busy = 0;
	for (int i = 0; i < nworkers; i++)
		busy += workers[i].busy;
	json_object_set_new(o, "in_progress", json_integer(busy));
	return o;
}
