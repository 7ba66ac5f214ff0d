/*
 * events.c - see events.h.
 *
 * The tenant of an event is the one whose AWS account sent the message
 * (sg:accounts, kept by provisioning and `tenant add/set aws_account_id`);
 * our `sesgate-tenant` tag is only a cross-check, since the account is what
 * AWS itself vouches for.  SNS delivers at least once, so each SNS message
 * id is applied once (SET NX with a day's expiry).
 *
 * Keys written (all but the dedup key on the tenant's slot):
 *   sg:{T}:stats:YYYYMMDD  hash  event type -> count (kept 400 days)
 *   sg:{T}:rep:YYYYMMDDHH  hash  sends, hard bounces, complaints (kept 48 h),
 *                                the reputation guard's sliding window
 *   sg:{T}:suppr           hash  recipient -> JSON {reason, time, ses_id, qid}
 *   sg:{T}:hist:QID        list  the message's history (only if it exists)
 */
#include "events.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"
#include "ses_event.h"
#include "stats.h"
#include "util.h"
#include "webhooks.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STATS_TTL (400 * 86400)
#define REP_TTL (48 * 3600)
#define DEDUP_TTL 86400

/* The tenant that owns ACCOUNT (and agrees with TAG when there is one). */
static int tenant_of(redisContext *rc, const struct ses_event *e, char *tid, char *name,
		     size_t namelen, int *hook, char *why, size_t whylen)
{
	tid[0] = '\0';
	if (e->account_id[0]) {
		redisReply *r = rconn_sync_cmd(rc, "HGET %s %s", KEY_ACCOUNTS, e->account_id);
		if (!r)
			return -1;
		if (r->type == REDIS_REPLY_STRING && key_valid_tenant_id(r->str))
			snprintf(tid, TENANT_ID_LEN + 1, "%s", r->str);
		freeReplyObject(r);
	}
	if (!tid[0]) {
		snprintf(why, whylen, "no tenant for account %s",
			 e->account_id[0] ? e->account_id : "(none)");
		return 1;
	}
	if (e->tenant_id[0] && strcmp(e->tenant_id, tid) != 0) {
		/* Our tag says another tenant: the account wins, but say so. */
		log_kv(LOG_WARNING, "event_tenant_mismatch", "account", e->account_id, "tag",
		       e->tenant_id, "tenant", tid, NULL);
	}
	char kt[KEY_MAX];
	redisReply *r = rconn_sync_cmd(rc, "HMGET %s name webhook_url", key_tenant(kt, tid));
	if (!r)
		return -1;
	int found = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		    r->element[0]->type == REDIS_REPLY_STRING;
	snprintf(name, namelen, "%s", found ? r->element[0]->str : "");
	*hook = found && r->element[1]->type == REDIS_REPLY_STRING && r->element[1]->len > 0;
	freeReplyObject(r);
	if (!found) {
		snprintf(why, whylen, "tenant %s of account %s is gone", tid, e->account_id);
		return 1;
	}
	return 0;
}

static void day_key(char *out, size_t cap, const char *tid, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, cap, "sg:{%s}:stats:%04d%02d%02d", tid, tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday);
}

static void hour_key(char *out, size_t cap, const char *tid, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, cap, "sg:{%s}:rep:%04d%02d%02d%02d", tid, tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour);
}

/*
 * The reputation guard: hard-bounce and complaint rates over the last
 * guard_window hours; above a threshold (with enough sends to mean
 * something) the tenant is paused before SES puts its account under
 * review.  An admin resumes it (sesgatectl tenant resume).
 */
static int guard(redisContext *rc, const struct config *cfg, const char *tid, const char *name)
{
	long long sends = 0, bounces = 0, complaints = 0;
	time_t now = time(NULL);
	int hours = cfg->guard_window / 3600;
	if (hours < 1)
		hours = 1;
	for (int h = 0; h < hours; h++) {
		char k[KEY_MAX];
		hour_key(k, sizeof(k), tid, now - (time_t)h * 3600);
		redisAppendCommand(rc, "HMGET %s send bounce_hard complaint", k);
	}
	for (int h = 0; h < hours; h++) {
		redisReply *r = NULL;
		if (redisGetReply(rc, (void **)&r) != REDIS_OK)
			return -1;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
			sends += r->element[0]->str ? atoll(r->element[0]->str) : 0;
			bounces += r->element[1]->str ? atoll(r->element[1]->str) : 0;
			complaints += r->element[2]->str ? atoll(r->element[2]->str) : 0;
		}
		freeReplyObject(r);
	}
	if (sends < cfg->guard_min_sends)
		return 0;
	double br = 100.0 * (double)bounces / (double)sends;
	double cr = 100.0 * (double)complaints / (double)sends;
	char reason[200];
	if (br > cfg->guard_bounce_rate)
		snprintf(reason, sizeof(reason),
			 "reputation guard: bounce rate %.2f%% (%lld of %lld) over %d h is above %.2f%%",
			 br, bounces, sends, hours, cfg->guard_bounce_rate);
	else if (cr > cfg->guard_complaint_rate)
		snprintf(reason, sizeof(reason),
			 "reputation guard: complaint rate %.3f%% (%lld of %lld) over %d h is above %.3f%%",
			 cr, complaints, sends, hours, cfg->guard_complaint_rate);
	else
		return 0;
	char kt[KEY_MAX];
	redisReply *r = rconn_sync_cmd(rc, "HGET %s state", key_tenant(kt, tid));
	int active = r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "active") == 0;
	if (r)
		freeReplyObject(r);
	if (!active)
		return 0;
	if (rconn_sync_ok(rc, "HSET %s state paused paused_reason %s paused_by guard", kt, reason) < 0)
		return -1;
	STAT_INC(guard_pauses);
	log_kv(LOG_WARNING, "tenant_paused", "tenant", name, "reason", reason, NULL);
	return 0;
}

static int suppress(redisContext *rc, const char *tid, const char *addr, const char *reason,
		    const struct ses_event *e)
{
	char k[KEY_MAX], lower[400];
	snprintf(k, sizeof(k), "sg:{%s}:suppr", tid);
	snprintf(lower, sizeof(lower), "%s", addr);
	util_lower(lower);
	json_t *o = json_pack("{s:s,s:I,s:s,s:s}", "reason", reason, "time",
			      (json_int_t)util_now_ms(), "ses_id", e->message_id, "qid", e->qid);
	char *v = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	int rc2 = v ? rconn_sync_ok(rc, "HSET %s %s %s", k, lower, v) : -1;
	free(v);
	if (rc2 == 0)
		STAT_INC(suppressions_added);
	return rc2;
}

/* The event as JSON: a line of the message's history and a webhook body. */
static json_t *event_json(const struct ses_event *e)
{
	json_t *o = json_pack("{s:I,s:s,s:s}", "t", (json_int_t)util_now_ms(), "ev", "ses",
			      "type", ses_event_type_name(e->type));
	json_object_set_new(o, "ses_id", json_string(e->message_id));
	size_t n = ses_event_nrecipients(e);
	if (e->type != SES_EV_SEND && n > 0 && n <= 50) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, json_string(ses_event_recipient(e, i)));
		json_object_set_new(o, "rcpts", a);
	}
	if (e->type == SES_EV_BOUNCE) {
		json_object_set_new(o, "bounce", json_string(ses_bounce_type_name(e->bounce.type)));
		if (e->bounce.subtype)
			json_object_set_new(o, "subtype", json_string(e->bounce.subtype));
	} else if (e->type == SES_EV_COMPLAINT && e->complaint.feedback_type) {
		json_object_set_new(o, "feedback", json_string(e->complaint.feedback_type));
	} else if (e->type == SES_EV_REJECT && e->reject.reason) {
		json_object_set_new(o, "reason", json_string(e->reject.reason));
	} else if (e->type == SES_EV_DELIVERY && e->delivery.smtp_response) {
		json_object_set_new(o, "smtp", json_string(e->delivery.smtp_response));
	}
	return o;
}

/* One line in the message's history (msg show), if it is still kept. */
static int history(redisContext *rc, const char *tid, const struct ses_event *e)
{
	if (!e->qid[0])
		return 0;
	json_t *o = event_json(e);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	char k[KEY_MAX];
	int r = s ? rconn_sync_ok(rc, "RPUSHX %s %s", key_hist(k, tid, e->qid), s) : -1;
	free(s);
	return r;
}

/* Queue the event for the tenant's webhook (webhooks.c sends it). */
static int webhook_enqueue(redisContext *rc, const char *tid, const char *name,
			   const char *sns_id, const struct ses_event *e)
{
	json_t *o = event_json(e);
	if (!o)
		return -1;
	json_object_set_new(o, "id", json_string(sns_id));
	json_object_set_new(o, "tenant", json_string(name));
	if (e->qid[0])
		json_object_set_new(o, "qid", json_string(e->qid));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	char k[KEY_MAX], now[32];
	snprintf(k, sizeof(k), "sg:{%s}:hooks", tid);
	snprintf(now, sizeof(now), "%llu", (unsigned long long)util_now_ms());
	int r = s ? rconn_sync_ok(rc, "RPUSH %s %s", k, s) : -1;
	free(s);
	/* A dead endpoint must not grow Redis without bound. */
	if (r == 0)
		r = rconn_sync_ok(rc, "LTRIM %s -%d -1", k, HOOK_QUEUE_MAX);
	if (r == 0)
		r = rconn_sync_ok(rc, "ZADD %s NX %s %s", KEY_HOOKS, now, tid);
	return r;
}

enum events_result events_ingest(redisContext *rc, const struct config *cfg, const char *sns_id,
				 const char *json, size_t len, char *why, size_t whylen)
{
	struct ses_event e;
	char err[200];
	if (ses_event_parse(json, len, &e, err, sizeof(err)) < 0) {
		snprintf(why, whylen, "not an SES event record: %s", err);
		STAT_INC(events_ignored);
		return EVENTS_IGNORED;
	}
	char tid[TENANT_ID_LEN + 1], name[TENANT_NAME_MAX + 1];
	int hook = 0;
	int t = tenant_of(rc, &e, tid, name, sizeof(name), &hook, why, whylen);
	if (t != 0) {
		ses_event_free(&e);
		if (t < 0) {
			snprintf(why, whylen, "redis unavailable");
			return EVENTS_RETRY;
		}
		STAT_INC(events_ignored);
		return EVENTS_IGNORED;
	}
	/* SNS may deliver the same message again: apply it once. */
	char dk[KEY_MAX];
	snprintf(dk, sizeof(dk), "sg:snsid:%.200s", sns_id);
	redisReply *d = rconn_sync_cmd(rc, "SET %s 1 NX EX %d", dk, DEDUP_TTL);
	if (!d) {
		ses_event_free(&e);
		snprintf(why, whylen, "redis unavailable");
		return EVENTS_RETRY;
	}
	int fresh = d->type == REDIS_REPLY_STATUS;
	freeReplyObject(d);
	if (!fresh) {
		ses_event_free(&e);
		STAT_INC(events_duplicate);
		return EVENTS_OK;
	}
	time_t now = time(NULL);
	char kd[KEY_MAX], kh[KEY_MAX];
	day_key(kd, sizeof(kd), tid, now);
	hour_key(kh, sizeof(kh), tid, now);
	const char *type = ses_event_type_name(e.type);
	int fail = rconn_sync_ok(rc, "HINCRBY %s %s 1", kd, type) < 0 ||
		   rconn_sync_ok(rc, "EXPIRE %s %d", kd, STATS_TTL) < 0;
	const char *repfield = e.type == SES_EV_SEND ? "send"
			       : e.type == SES_EV_BOUNCE && e.bounce.type == SES_BOUNCE_PERMANENT
				       ? "bounce_hard"
			       : e.type == SES_EV_COMPLAINT ? "complaint"
							    : NULL;
	if (!fail && repfield) {
		/* Counted per event; a bounce of several recipients counts as
		 * many, as SES counts its bounce rate per recipient. */
		size_t n = e.type == SES_EV_SEND ? 1 : ses_event_nrecipients(&e);
		fail = rconn_sync_ok(rc, "HINCRBY %s %s %lld", kh, repfield, (long long)(n ? n : 1)) < 0 ||
		       rconn_sync_ok(rc, "EXPIRE %s %d", kh, REP_TTL) < 0;
	}
	for (size_t i = 0; !fail && i < ses_event_nrecipients(&e); i++) {
		const char *reason;
		if (ses_event_suppresses(&e, i, &reason))
			fail = suppress(rc, tid, ses_event_recipient(&e, i), reason, &e) < 0;
	}
	if (!fail)
		fail = history(rc, tid, &e) < 0;
	if (!fail && hook)
		fail = webhook_enqueue(rc, tid, name, sns_id, &e) < 0;
	if (!fail && (e.type == SES_EV_BOUNCE || e.type == SES_EV_COMPLAINT))
		fail = guard(rc, cfg, tid, name) < 0;
	STAT_INC(events_applied);
	log_kv(LOG_INFO, "ses_event", "tenant", name, "type", type, "ses_id", e.message_id, "qid",
	       e.qid[0] ? e.qid : NULL, NULL);
	ses_event_free(&e);
	if (fail) {
		/* Let SNS deliver it again: forget that we saw it. */
		rconn_sync_ok(rc, "DEL %s", dk);
		snprintf(why, whylen, "redis unavailable");
		return EVENTS_RETRY;
	}
	return EVENTS_OK;
}
