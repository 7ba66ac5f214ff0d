/*
 * control.c - the control socket: line-delimited JSON requests from
 * sesgatectl or scripts (doc/control-protocol.md), answered from Redis.
 *
 * Runs on its own thread with its own event loop for the socket, and a
 * blocking hiredis connection for the work: admin commands are rare, some
 * (cred add) hash a password on purpose slowly, and none may ever run on an
 * SMTP loop.  Never returns or logs a password except the one cred.add
 * generates, once, to the admin who asked.
 *
 * The socket's file mode is the first gate; the second is the peer's
 * credentials (SO_PEERCRED), checked on accept before a single byte is
 * read: root, the daemon's own user, control_allow_users and the members of
 * control_allow_groups (default: the daemon's own group).  Anyone else gets
 * one "denied" line and is closed.
 */
#include "control.h"
#include "cidr.h"
#include "worker.h"
#include "provision.h"
#include "events.h"
#include "provision_fsm.h"
#include "aws/creds.h"
#include "aws/ses_admin.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "password.h"
#include "rconn.h"
#include "sesgate.h"
#include "stats.h"
#include "util.h"

#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
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

/* Connect if not connected; 0, or -1 with "unavailable". */
static int redis_ready(struct ctl_err *e)
{
	if (rc)
		return 0;
	char m[200];
	rc = rconn_connect_sync(cfg, m, sizeof(m));
	if (!rc) {
		fail(e, "unavailable", "%s", m);
		return -1;
	}
	return 0;
}

/* The connection broke (or holds unread replies): drop it, the next command reconnects. */
static void redis_lost(struct ctl_err *e, const char *why)
{
	fail(e, "unavailable", "redis: %s", why ? why : rc->errstr);
	redisFree(rc);
	rc = NULL;
}

/* A reply, or NULL with the error recorded (an error reply is "internal"). */
static redisReply *reply_check(struct ctl_err *e, redisReply *r)
{
	if (!r) {
		redis_lost(e, NULL);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		fail(e, "internal", "redis: %s", r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static redisReply *cmd(struct ctl_err *e, const char *fmt, ...)
{
	if (redis_ready(e) < 0)
		return NULL;
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(rc, fmt, ap);
	va_end(ap);
	return reply_check(e, r);
}

/* For commands whose argument count is only known at run time (EVAL with N keys). */
static redisReply *cmd_argv(struct ctl_err *e, int argc, const char **argv)
{
	if (redis_ready(e) < 0)
		return NULL;
	return reply_check(e, redisCommandArgv(rc, argc, argv, NULL));
}

/*
 * Pipelining, for work that grows with the number of tenants or messages:
 * pipe_add() only queues a command in hiredis's output buffer, pipe_run()
 * sends them all with one write and reads the N replies in order, so a batch
 * costs one round trip.  The caller owns the array pipe_run() returns
 * (pipe_free).  Error replies stay in the array as they are: a WRONGTYPE on
 * one key must not hide the answers for the others.
 */
struct pipe {
	size_t n;
	int broken; /* a command could not be queued: the batch is void */
};

static int pipe_begin(struct ctl_err *e, struct pipe *p)
{
	p->n = 0;
	p->broken = 0;
	return redis_ready(e);
}

static void pipe_add(struct pipe *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (p->broken || !rc || redisvAppendCommand(rc, fmt, ap) != REDIS_OK)
		p->broken = 1;
	else
		p->n++;
	va_end(ap);
}

static void pipe_free(redisReply **r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		if (r[i])
			freeReplyObject(r[i]);
	free(r);
}

static redisReply **pipe_run(struct ctl_err *e, struct pipe *p)
{
	redisReply **r = p->broken ? NULL : calloc(p->n + 1, sizeof(*r));
	if (!r) {
		/* Queued commands would answer the next request: start afresh. */
		if (rc)
			redis_lost(e, "out of memory");
		fail(e, "internal", "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < p->n; i++) {
		void *x;
		if (redisGetReply(rc, &x) != REDIS_OK) {
			pipe_free(r, i);
			redis_lost(e, NULL);
			return NULL;
		}
		r[i] = x;
	}
	return r;
}

/* Integer of an integer or numeric string reply; 0 for anything else. */
static long long rep_int(const redisReply *r)
{
	if (r && r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r && r->type == REDIS_REPLY_STRING)
		return strtoll(r->str, NULL, 10);
	return 0;
}

static const char *rep_str(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_STRING ? r->str : NULL;
}

/* Redis's clock in ms: the one the queue scripts stamp messages with. */
static int redis_now_ms(struct ctl_err *e, char *out, size_t outlen)
{
	redisReply *r = cmd(e, "TIME");
	if (!r)
		return -1;
	int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2;
	if (ok)
		snprintf(out, outlen, "%llu",
			 strtoull(r->element[0]->str, NULL, 10) * 1000 +
				 strtoull(r->element[1]->str, NULL, 10) / 1000);
	freeReplyObject(r);
	if (!ok)
		fail(e, "internal", "redis: unexpected reply to TIME");
	return ok ? 0 : -1;
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

/* ------------------------------------------------------------------ */
/* delivery records: keys, message views, queue figures */

#define CTL_BATCH_TENANTS 256 /* tenants per pipelined round trip */
#define CTL_BATCH_MSGS    500 /* messages per dlq script call: Redis stays responsive */
#define DLQ_LIST_DEFAULT  100
#define DLQ_LIST_MAX      10000
#define DLQ_REASON_LIST   200   /* octets of dlq_reason in dlq.list (dlq.show has it all) */
#define HIST_SHOW_MAX     1000  /* newest history events in a message view */
#define HEADER_SCAN       16384 /* octets at the start of `data` searched for headers */
#define HEADER_VALUE_MAX  200   /* octets of one header value shown */

static int name_in(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/*
 * A queue id as util_queue_id() makes them: 16 characters of Crockford
 * base32.  Lower case is accepted (people retype ids from logs) and OUT
 * (QUEUE_ID_LEN + 1) gets the canonical upper-case form.
 */
static int qid_parse(struct ctl_err *e, const char *in, char *out)
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	if (!in || strlen(in) != QUEUE_ID_LEN) {
		fail(e, "invalid", "invalid queue id: %.40s (%d characters of 0-9 A-Z)",
		     in ? in : "(missing)", QUEUE_ID_LEN);
		return -1;
	}
	for (int i = 0; i < QUEUE_ID_LEN; i++) {
		char c = in[i] >= 'a' && in[i] <= 'z' ? (char)(in[i] - 'a' + 'A') : in[i];
		if (c == '\0' || !strchr(alphabet, c)) {
			fail(e, "invalid", "invalid queue id: %.40s", in);
			return -1;
		}
		out[i] = c;
	}
	out[QUEUE_ID_LEN] = '\0';
	return 0;
}

/*
 * A JSON string of the LEN octets at S, whatever they are.  Header lines and
 * envelope parts come from SMTP clients and may be any octets, and jansson
 * refuses a string that is not UTF-8: each octet that does not start a valid
 * sequence, and NUL, becomes '?'.  With MAX > 0 at most MAX octets are kept,
 * cut on a character boundary and marked with "...".
 */
static json_t *jstr_clean(const char *s, size_t len, size_t max)
{
	char *d = malloc(len + 4);
	size_t j = 0;
	if (!d)
		return json_null();
	for (size_t i = 0; i < len;) {
		size_t n = util_utf8_seq((const unsigned char *)s + i, len - i);
		if (max && j + (n ? n : 1) > max) {
			memcpy(d + j, "...", 3);
			j += 3;
			break;
		}
		if (n == 0 || s[i] == '\0') {
			d[j++] = '?';
			i++;
		} else {
			memcpy(d + j, s + i, n);
			j += n;
			i += n;
		}
	}
	json_t *v = json_stringn(d, j);
	free(d);
	return v ? v : json_null();
}

/* An integer, or a real, stored as a decimal string; the string itself if it is neither. */
static json_t *jnum_parse(const char *v, int real)
{
	char *end;
	errno = 0;
	if (real) {
		double d = strtod(v, &end);
		if (*v && !*end && !errno && isfinite(d))
			return json_real(d);
	} else {
		long long n = strtoll(v, &end, 10);
		/* SES quotas are doubles: "50000.0" is still a count. */
		if (*v && !errno && (!*end || (*end == '.' && strspn(end + 1, "0") == strlen(end + 1))))
			return json_integer(n);
	}
	return jstr_clean(v, strlen(v), 0);
}

struct hdr_acc {
	char buf[2 * HEADER_VALUE_MAX];
	size_t len;
};

static void hdr_append(struct hdr_acc *h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (h->len == sizeof(h->buf))
			return;
		h->buf[h->len++] = s[i] == '\t' ? ' ' : s[i];
	}
}

/*
 * The first From, To, Cc, Subject, Date and Message-ID of the header section
 * at the start of DATA (LEN octets, possibly cut inside the header section),
 * unfolded and cut to HEADER_VALUE_MAX octets.  For people to recognise a
 * message: no RFC 2047 decoding, no address parsing.
 */
static json_t *headers_json(const char *data, size_t len)
{
	static const char *const want[] = {"From", "To", "Cc", "Subject", "Date", "Message-ID", NULL};
	json_t *o = json_object();
	struct hdr_acc acc;
	int cur = -1;
	const char *p = data, *end = data + len;

	for (;;) {
		const char *eol = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		size_t ll = (size_t)((eol ? eol : end) - p);
		if (ll && p[ll - 1] == '\r')
			ll--;
		int cont = p < end && ll > 0 && (*p == ' ' || *p == '\t');
		if (!cont && cur >= 0) {
			/* acc holds up to twice the limit: jstr_clean cuts and marks it. */
			json_object_set_new(o, want[cur], jstr_clean(acc.buf, acc.len, HEADER_VALUE_MAX));
			cur = -1;
		}
		if (p >= end || ll == 0)
			break; /* end of the data read, or of the header section */
		if (cont) {
			if (cur >= 0) {
				size_t ws = strspn(p, " \t");
				hdr_append(&acc, " ", 1);
				hdr_append(&acc, p + ws, ll > ws ? ll - ws : 0);
			}
		} else {
			const char *colon = memchr(p, ':', ll);
			size_t nl = colon ? (size_t)(colon - p) : 0;
			while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
				nl--;
			for (int j = 0; colon && want[j]; j++)
				if (strlen(want[j]) == nl && strncasecmp(p, want[j], nl) == 0 &&
				    !json_object_get(o, want[j])) {
					size_t off = (size_t)(colon + 1 - p);
					while (off < ll && (p[off] == ' ' || p[off] == '\t'))
						off++;
					acc.len = 0;
					hdr_append(&acc, p + off, ll - off);
					cur = j;
				}
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	return o;
}

/* Tenant name and id; the strings belong to whoever made the array. */
struct tref {
	const char *name;
	const char *tid;
};

/*
 * Every tenant of sg:tenants.  The array points into *HOLD: the caller frees
 * the array and then *HOLD (freeReplyObject).
 */
static struct tref *tenants_all(struct ctl_err *e, redisReply **hold, size_t *n)
{
	*n = 0;
	*hold = cmd(e, "HGETALL %s", KEY_TENANTS);
	if (!*hold)
		return NULL;
	struct tref *t = calloc((*hold)->elements / 2 + 1, sizeof(*t));
	if (!t) {
		freeReplyObject(*hold);
		*hold = NULL;
		fail(e, "internal", "out of memory");
		return NULL;
	}
	for (size_t i = 0; i + 1 < (*hold)->elements; i += 2)
		if (key_valid_tenant_id((*hold)->element[i + 1]->str)) {
			t[*n].name = (*hold)->element[i]->str;
			t[*n].tid = (*hold)->element[i + 1]->str;
			(*n)++;
		}
	return t;
}

#define QS_CMDS 7 /* commands per tenant in queue_stats_fill */

/*
 * Queue figures of N tenants appended to OUT, one object each: depth,
 * oldest_age, ready, inflight, retrying, dlq, held, hold_since, paused, and
 * "tenant" when the ref has a name.  One pipelined round trip per
 * CTL_BATCH_TENANTS tenants, so thousands of tenants cost a few round trips
 * rather than seven per tenant.
 */
static int queue_stats_fill(struct ctl_err *e, const struct tref *t, size_t n, json_t *out)
{
	uint64_t now = util_now_ms();
	for (size_t b = 0; b < n; b += CTL_BATCH_TENANTS) {
		size_t m = n - b < CTL_BATCH_TENANTS ? n - b : CTL_BATCH_TENANTS;
		struct pipe p;
		if (pipe_begin(e, &p) < 0)
			return -1;
		for (size_t i = 0; i < m; i++) {
			const char *tid = t[b + i].tid;
			char k[KEY_MAX];
			pipe_add(&p, "ZCARD %s", key_all(k, tid));
			pipe_add(&p, "ZRANGE %s 0 0 WITHSCORES", k);
			pipe_add(&p, "ZCARD %s", key_ready(k, tid));
			pipe_add(&p, "ZCARD %s", key_inflight(k, tid));
			pipe_add(&p, "SCARD %s", key_retrying(k, tid));
			pipe_add(&p, "ZCARD %s", key_dlq(k, tid));
			pipe_add(&p, "HMGET %s state hold hold_since", key_tenant(k, tid));
		}
		redisReply **r = pipe_run(e, &p);
		if (!r)
			return -1;
		for (size_t i = 0; i < m; i++) {
			redisReply **x = r + i * QS_CMDS, *h = x[6];
			json_int_t age = 0;
			if (x[1]->type == REDIS_REPLY_ARRAY && x[1]->elements == 2) {
				uint64_t first = strtoull(x[1]->element[1]->str, NULL, 10);
				age = now > first ? (json_int_t)((now - first) / 1000) : 0;
			}
			const char *state = NULL, *hold = NULL, *since = NULL;
			if (h->type == REDIS_REPLY_ARRAY && h->elements == 3) {
				state = rep_str(h->element[0]);
				hold = rep_str(h->element[1]);
				since = rep_str(h->element[2]);
			}
			int held = hold && *hold;
			json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:b}", "depth",
					      (json_int_t)rep_int(x[0]), "oldest_age", age, "ready",
					      (json_int_t)rep_int(x[2]), "inflight",
					      (json_int_t)rep_int(x[3]), "retrying",
					      (json_int_t)rep_int(x[4]), "dlq", (json_int_t)rep_int(x[5]),
					      "held", held ? jstr_clean(hold, strlen(hold), 0) : json_null(),
					      "hold_since",
					      held && since ? json_integer(strtoll(since, NULL, 10)) : json_null(),
					      "paused", state && strcmp(state, "paused") == 0);
			if (t[b + i].name)
				json_object_set_new(o, "tenant", json_string(t[b + i].name));
			json_array_append_new(out, o);
		}
		pipe_free(r, p.n);
	}
	return 0;
}

/*
 * A consistent snapshot of one message: its hash with `data` replaced by
 * its first ARGV[2] octets under `data_head` (a 40 MB message need not
 * cross the socket to show its Subject), where it is, and the newest
 * ARGV[3] history events.  Read-only.
 * KEYS: msg ready inflight retrying dlq hist; ARGV: qid, octets, events.
 */
static const char msg_view_lua[] =
	"local h = redis.call('HGETALL', KEYS[1])\n"
	"for i = 1, #h, 2 do\n"
	"  if h[i] == 'data' then h[i] = 'data_head' h[i + 1] = string.sub(h[i + 1], 1, tonumber(ARGV[2])) end\n"
	"end\n"
	"local q = ARGV[1]\n"
	"return {h, redis.call('ZSCORE', KEYS[2], q), redis.call('ZSCORE', KEYS[3], q),\n"
	"  redis.call('SISMEMBER', KEYS[4], q), redis.call('ZSCORE', KEYS[5], q),\n"
	"  redis.call('LLEN', KEYS[6]), redis.call('LRANGE', KEYS[6], -tonumber(ARGV[3]), -1)}\n";

/* A message hash field as the protocol shows it (numbers, JSON parsed). */
static json_t *msg_field_json(const char *f, const redisReply *v)
{
	static const char *const ints[] = {"arrival",      "arrival_redis", "size",     "nrcpt",
					   "nowed",        "attempts",      "last_attempt",
					   "next_attempt", "dlq_time",      NULL};
	static const char *const jsons[] = {"env", "owed", "ses_ids", NULL};
	if (name_in(ints, f))
		return jnum_parse(v->str, 0);
	if (name_in(jsons, f)) {
		json_t *j = json_loadb(v->str, v->len, JSON_DECODE_ANY, NULL);
		if (j)
			return j;
	}
	return jstr_clean(v->str, v->len, 0);
}

/* Add SES MessageId ID (from a history event) to IDS unless it is there. */
static void hist_ses_ids(json_t *ids, json_t *id)
{
	size_t i;
	json_t *x;
	if (!json_is_string(id) || json_string_length(id) == 0)
		return;
	json_array_foreach(ids, i, x)
		if (json_equal(x, id))
			return;
	json_array_append(ids, id);
}

/*
 * The message view of msg.show and dlq.show (doc/control-protocol.md) of
 * QID of tenant TID (called TNAME).  DLQ_ONLY: not_found unless the message
 * is dead-lettered.  A message without a hash is still shown while its
 * history lives (delivered or purged, until delivery_record_ttl).
 */
static json_t *msg_view(struct ctl_err *e, const char *tname, const char *tid, const char *qid,
			int dlq_only)
{
	char km[KEY_MAX], kr[KEY_MAX], ki[KEY_MAX], kt[KEY_MAX], kd[KEY_MAX], kh[KEY_MAX];
	char head[16], nev[16];
	snprintf(head, sizeof(head), "%d", HEADER_SCAN);
	snprintf(nev, sizeof(nev), "%d", HIST_SHOW_MAX);
	const char *argv[] = {"EVAL",
			      msg_view_lua,
			      "6",
			      key_msg(km, tid, qid),
			      key_ready(kr, tid),
			      key_inflight(ki, tid),
			      key_retrying(kt, tid),
			      key_dlq(kd, tid),
			      key_hist(kh, tid, qid),
			      qid,
			      head,
			      nev};
	redisReply *r = cmd_argv(e, (int)(sizeof(argv) / sizeof(argv[0])), argv);
	if (!r)
		return NULL;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 7 ||
	    r->element[0]->type != REDIS_REPLY_ARRAY || r->element[6]->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return fail(e, "internal", "redis: unexpected reply to the message view");
	}
	redisReply *h = r->element[0], *ready = r->element[1], *inflight = r->element[2],
		   *dlq = r->element[4], *hist = r->element[6];
	int retrying = rep_int(r->element[3]) == 1;
	long long nhist = rep_int(r->element[5]);
	if (dlq_only && !rep_str(dlq)) {
		freeReplyObject(r);
		return fail(e, "not_found", "message %s is not in the dead-letter queue of %s", qid,
			    tname);
	}
	if (h->elements == 0 && nhist == 0) {
		freeReplyObject(r);
		return fail(e, "not_found", "message %s not found for tenant %s", qid, tname);
	}

	json_t *msg = h->elements ? json_object() : json_null();
	json_t *headers = json_object(), *events = json_array(), *ses_ids = json_array();
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		const char *f = h->element[i]->str;
		if (strcmp(f, "data_head") == 0) {
			json_decref(headers);
			headers = headers_json(h->element[i + 1]->str, h->element[i + 1]->len);
		} else if (strcmp(f, "data") != 0) {
			json_object_set_new(msg, f, msg_field_json(f, h->element[i + 1]));
		}
	}
	const char *last_final = NULL; /* the newest "delivered" or "purged" */
	for (size_t i = 0; i < hist->elements; i++) {
		redisReply *x = hist->element[i];
		json_t *ev = x->type == REDIS_REPLY_STRING ? json_loadb(x->str, x->len, 0, NULL) : NULL;
		if (!ev) {
			json_array_append_new(events, x->type == REDIS_REPLY_STRING
							      ? jstr_clean(x->str, x->len, 0)
							      : json_null());
			continue;
		}
		const char *name = json_string_value(json_object_get(ev, "ev"));
		const char *result = json_string_value(json_object_get(ev, "result"));
		if (name && (strcmp(name, "delivered") == 0 ||
			     (strcmp(name, "attempt") == 0 && result && strcmp(result, "sent") == 0)))
			last_final = "delivered";
		else if (name && strcmp(name, "purged") == 0)
			last_final = "purged";
		hist_ses_ids(ses_ids, json_object_get(ev, "ses_id"));
		size_t j;
		json_t *sid;
		json_array_foreach(json_object_get(ev, "ses_ids"), j, sid)
			hist_ses_ids(ses_ids, sid);
		json_array_append_new(events, ev);
	}

	const char *state;
	uint64_t now = util_now_ms();
	if (rep_str(dlq))
		state = "dead-lettered";
	else if (rep_str(inflight))
		state = "inflight";
	else if (rep_str(ready) && retrying)
		state = "retrying";
	else if (rep_str(ready) && strtoull(ready->str, NULL, 10) <= now)
		state = "ready";
	else if (h->elements)
		state = "queued";
	else
		state = last_final ? last_final : "unknown";

	json_t *o = json_pack("{s:s,s:s,s:s}", "tenant", tname, "qid", qid, "state", state);
	if (rep_str(ready))
		json_object_set_new(o, "due", json_integer(strtoll(ready->str, NULL, 10)));
	if (rep_str(inflight))
		json_object_set_new(o, "deadline", json_integer(strtoll(inflight->str, NULL, 10)));
	/* The hash is authoritative while it exists; afterwards the history is all there is. */
	json_t *owed = json_null();
	if (json_is_object(msg)) {
		json_t *env = json_object_get(msg, "env");
		owed = json_object_get(msg, "owed");
		owed = owed ? json_incref(owed) : json_deep_copy(json_object_get(env, "rcpt"));
		if (!owed)
			owed = json_null();
		json_t *ids = json_object_get(msg, "ses_ids");
		if (ids) {
			json_decref(ses_ids);
			ses_ids = json_incref(ids);
		}
		json_object_del(msg, "owed");
		json_object_del(msg, "ses_ids");
	}
	json_object_set_new(o, "message", msg);
	json_object_set_new(o, "headers", headers);
	json_object_set_new(o, "owed", owed);
	json_object_set_new(o, "ses_ids", ses_ids);
	json_object_set_new(o, "hist", events);
	if (nhist > (long long)hist->elements)
		json_object_set_new(o, "hist_omitted",
				    json_integer(nhist - (long long)hist->elements));
	freeReplyObject(r);
	return o;
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

/* The "queue" member of tenant.show: the tenant's queue_stats_fill figures. */
static json_t *queue_info(struct ctl_err *e, const char *tid)
{
	struct tref t = {NULL, tid};
	json_t *a = json_array();
	if (queue_stats_fill(e, &t, 1, a) < 0) {
		json_decref(a);
		return NULL;
	}
	json_t *q = json_incref(json_array_get(a, 0));
	json_decref(a);
	/* held and paused are the tenant's own fields there. */
	json_object_del(q, "held");
	json_object_del(q, "hold_since");
	json_object_del(q, "paused");
	return q;
}

/* ------------------------------------------------------------------ */
/* IP-authorized networks: sg:nets (network -> tenant id, what the SMTP
 * side reads, ipauth.c) and each tenant's own set sg:{T}:nets */

/* Shorter prefixes than these need "force": a typo such as 10.0.0.0/0 must
 * not make the whole Internet a tenant's app server. */
#define NET_MIN_PREFIX4 8
#define NET_MIN_PREFIX6 32

/* HDEL a network from sg:nets only while it is still TID's (another instance may have moved it). */
static const char net_release_lua[] =
	"if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then\n"
	"  return redis.call('HDEL', KEYS[1], ARGV[1])\n"
	"end\n"
	"return 0\n";

/* A network argument in canonical form (cidr_format) into OUT (CIDR_STRLEN); 0 or -1 (invalid). */
static int net_arg(struct ctl_err *e, const char *in, struct cidr *c, char *out)
{
	if (!in || cidr_parse(in, c) < 0 || cidr_format(c, out, CIDR_STRLEN) < 0) {
		fail(e, "invalid",
		     "invalid network: %.60s (an IPv4 or IPv6 address, or a network such as "
		     "192.0.2.0/24 or 2001:db8::/48)",
		     in ? in : "(missing)");
		return -1;
	}
	return 0;
}

/* Networks in address order: IPv4 first, then by address, then broader first. */
static int net_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	struct cidr cx, cy;
	int px = cidr_parse(x, &cx) == 0, py = cidr_parse(y, &cy) == 0;
	if (px != py)
		return px ? -1 : 1; /* unparsable (written by hand) last */
	if (!px)
		return strcmp(x, y);
	if (cx.family != cy.family)
		return cx.family == AF_INET ? -1 : 1;
	int d = memcmp(cx.addr, cy.addr, sizeof(cx.addr));
	if (d)
		return d;
	return cx.prefix - cy.prefix;
}

/* TID's networks (its sg:{T}:nets set), sorted; a new array, or NULL with E set. */
static json_t *nets_json(struct ctl_err *e, const char *tid)
{
	char k[KEY_MAX];
	redisReply *r = cmd(e, "SMEMBERS %s", key_tenant_nets(k, tid));
	if (!r)
		return NULL;
	size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
	const char **v = calloc(n + 1, sizeof(*v));
	if (!v) {
		freeReplyObject(r);
		return fail(e, "internal", "out of memory");
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (rep_str(r->element[i]))
			v[m++] = r->element[i]->str;
	qsort(v, m, sizeof(*v), net_cmp);
	json_t *a = json_array();
	for (size_t i = 0; i < m; i++)
		json_array_append_new(a, jstr_clean(v[i], strlen(v[i]), 0));
	free(v);
	freeReplyObject(r);
	return a;
}

/* The tenant object of the protocol; DETAIL adds credentials and queue. */
static json_t *prov_json(struct ctl_err *e, const char *tid);

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
	static const char *const ints[] = {"created", "max_message_size", "max_recipients", NULL};
	/* Written by the workers; absent until they know, so shown only when set. */
	static const char *const dints[] = {"hold_since", "ses_max_24h", "ses_sent_24h",
					    "ses_checked", "quota_override", NULL};
	static const char *const dreals[] = {"ses_max_send_rate", "rate_override", NULL};
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		const char *f = h->element[i]->str, *v = h->element[i + 1]->str;
		json_t *j;
		if (name_in(ints, f))
			j = json_integer(strtoll(v, NULL, 10));
		else if (name_in(dints, f) || name_in(dreals, f))
			j = *v ? jnum_parse(v, name_in(dreals, f)) : NULL;
		else if (strcmp(f, "webhook_secret") == 0)
			/* Never shown, not even in part: only whether there is one. */
			j = *v ? json_string("set") : NULL;
		else
			j = jstr_clean(v, h->element[i + 1]->len, 0);
		if (j)
			json_object_set_new(t, f, j);
	}
	freeReplyObject(h);
	/* An empty hold is no hold (doc/redis-keys.md). */
	const char *hold = json_string_value(json_object_get(t, "hold"));
	if (!hold || !*hold) {
		json_object_del(t, "hold");
		json_object_del(t, "hold_since");
	}
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
	/* Absent in tenants made before the setting existed: that is "no". */
	if (!json_object_get(t, "require_tls"))
		json_object_set_new(t, "require_tls", json_string("no"));
	if (detail) {
		json_t *nets = nets_json(e, tid);
		if (!nets) {
			json_decref(t);
			return NULL;
		}
		json_object_set_new(t, "networks", nets);
		redisReply *c = cmd(e, "SCARD %s", key_tenant_creds(k, tid));
		if (c) {
			json_object_set_new(t, "credentials", json_integer(c->integer));
			freeReplyObject(c);
		}
		json_t *q = queue_info(e, tid);
		if (q)
			json_object_set_new(t, "queue", q);
		json_t *p = prov_json(e, tid);
		if (p)
			json_object_set_new(t, "provisioning", p);
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
	json_object_set_new(o, "delivery", workers_status_json());
	return o;
}

/* Hand a new tenant to the provisioning thread (provision.c). */
static int prov_begin(struct ctl_err *e, const char *tid, const char *email, const char *tier,
		      const char *acct)
{
	char kp[KEY_MAX], now[32];
	struct prov_plan plan = {.tier = tier ? (enum prov_tier)prov_tier_parse(tier)
					      : PROV_TIER_PRODUCTION,
				 .adopted = acct != NULL};
	snprintf(kp, sizeof(kp), "sg:{%s}:prov", tid);
	if (redis_now_ms(e, now, sizeof(now)) < 0)
		return -1;
	enum prov_step first = prov_step_first(&plan);
	char f[96];
	snprintf(f, sizeof(f), "st:%s", prov_step_name(first));
	if (cmd_ok(e, "HSET %s step %s email %s tier %s adopted %s account_id %s created %s %s pending",
		   kp, prov_step_name(first), email ? email : "", prov_tier_name(plan.tier),
		   acct ? "1" : "0", acct ? acct : "", now, f) < 0 ||
	    cmd_ok(e, "ZADD %s %s %s", KEY_PROV, now, tid) < 0)
		return -1;
	return 0;
}

/* The onboarding steps of TID, for tenant show; NULL if never provisioned. */
static json_t *prov_json(struct ctl_err *e, const char *tid)
{
	char kp[KEY_MAX];
	snprintf(kp, sizeof(kp), "sg:{%s}:prov", tid);
	redisReply *h = cmd(e, "HGETALL %s", kp);
	if (!h || h->elements == 0) {
		if (h)
			freeReplyObject(h);
		return NULL;
	}
	json_t *fields = json_object();
	for (size_t i = 0; i + 1 < h->elements; i += 2)
		json_object_set_new(fields, h->element[i]->str,
				    jstr_clean(h->element[i + 1]->str, h->element[i + 1]->len, 0));
	freeReplyObject(h);
	json_t *o = json_object();
	static const char *const top[] = {"step", "email", "tier", "account_id", "role_arn",
					  "car_id", NULL};
	for (int i = 0; top[i]; i++) {
		json_t *v = json_object_get(fields, top[i]);
		if (v && json_string_length(v))
			json_object_set(o, top[i], v);
	}
	json_t *steps = json_array();
	for (int st = 0; st < PROV_ST_DONE; st++) {
		char f[96];
		const char *name = prov_step_name(st);
		snprintf(f, sizeof(f), "st:%s", name);
		const char *state = json_string_value(json_object_get(fields, f));
		json_t *one = json_pack("{s:s,s:s}", "name", name, "state", state ? state : "");
		snprintf(f, sizeof(f), "t:%s", name);
		const char *t = json_string_value(json_object_get(fields, f));
		if (t && *t)
			json_object_set_new(one, "time", json_integer(strtoll(t, NULL, 10)));
		snprintf(f, sizeof(f), "err:%s", name);
		const char *err = json_string_value(json_object_get(fields, f));
		if (err && *err)
			json_object_set_new(one, "error", json_string(err));
		snprintf(f, sizeof(f), "n:%s", name);
		const char *n = json_string_value(json_object_get(fields, f));
		if (n && *n)
			json_object_set_new(one, "failures", json_integer(atoi(n)));
		snprintf(f, sizeof(f), "polls:%s", name);
		n = json_string_value(json_object_get(fields, f));
		if (n && *n)
			json_object_set_new(one, "polls", json_integer(atoi(n)));
		json_array_append_new(steps, one);
	}
	json_object_set_new(o, "steps", steps);
	json_t *ids = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(fields, k, v) {
		if (strncmp(k, "identity:", 9) == 0) {
			json_error_t je;
			json_t *id = json_loads(json_string_value(v), 0, &je);
			if (id)
				json_object_set_new(ids, k + 9, id);
		}
	}
	json_object_set_new(o, "identities", ids);
	json_decref(fields);
	return o;
}

static json_t *c_tenant_retry(json_t *args, struct ctl_err *e)
{
	char tid[TENANT_ID_LEN + 1], kt[KEY_MAX], kp[KEY_MAX];
	if (tenant_id(e, arg_str(args, "name"), tid) < 0)
		return NULL;
	snprintf(kp, sizeof(kp), "sg:{%s}:prov", tid);
	redisReply *r = cmd(e, "HMGET %s state", key_tenant(kt, tid));
	redisReply *st = r ? cmd(e, "HGET %s step", kp) : NULL;
	const char *state = r && r->element[0]->type == REDIS_REPLY_STRING ? r->element[0]->str : "";
	int ok = st && st->type == REDIS_REPLY_STRING &&
		 (strcmp(state, "failed") == 0 || strcmp(state, "provisioning") == 0);
	char step[64] = "";
	if (ok)
		snprintf(step, sizeof(step), "%s", st->str);
	if (st)
		freeReplyObject(st);
	if (r)
		freeReplyObject(r);
	if (!r)
		return NULL;
	if (!ok)
		return fail(e, "invalid", "tenant %s is not being provisioned (state %s)",
			    arg_str(args, "name"), *state ? state : "unknown");
	char now[32], f_st[96], f_n[96], f_p[96];
	snprintf(f_st, sizeof(f_st), "st:%s", step);
	snprintf(f_n, sizeof(f_n), "n:%s", step);
	snprintf(f_p, sizeof(f_p), "polls:%s", step);
	if (redis_now_ms(e, now, sizeof(now)) < 0 ||
	    cmd_ok(e, "HSET %s state provisioning paused_reason %s", kt, "") < 0 ||
	    cmd_ok(e, "HSET %s %s pending %s 0 %s 0", kp, f_st, f_n, f_p) < 0 ||
	    cmd_ok(e, "ZADD %s %s %s", KEY_PROV, now, tid) < 0)
		return NULL;
	log_kv(LOG_NOTICE, "provision_resumed", "tenant", arg_str(args, "name"), "step", step, NULL);
	return tenant_json(e, tid, 1);
}

static json_t *c_tenant_dns(json_t *args, struct ctl_err *e)
{
	char tid[TENANT_ID_LEN + 1];
	if (tenant_id(e, arg_str(args, "name"), tid) < 0)
		return NULL;
	json_t *p = prov_json(e, tid);
	json_t *ids = p ? json_object_get(p, "identities") : NULL;
	if (!ids || json_object_size(ids) == 0) {
		json_decref(p);
		return fail(e, "not_found", "no DKIM tokens yet for %s (identities not created)",
			    arg_str(args, "name"));
	}
	json_t *out = json_array();
	const char *domain;
	json_t *id;
	json_object_foreach(ids, domain, id) {
		struct ses_identity si;
		memset(&si, 0, sizeof(si));
		si.verified_for_sending = json_is_true(json_object_get(id, "verified"));
		snprintf(si.verification_status, sizeof(si.verification_status), "%s",
			 json_string_value(json_object_get(id, "verification")) ?: "");
		snprintf(si.dkim_status, sizeof(si.dkim_status), "%s",
			 json_string_value(json_object_get(id, "dkim")) ?: "");
		snprintf(si.dkim_zone, sizeof(si.dkim_zone), "%s",
			 json_string_value(json_object_get(id, "zone")) ?: "");
		size_t i;
		json_t *tok;
		json_array_foreach(json_object_get(id, "tokens"), i, tok) {
			if (si.ntokens >= 3)
				break;
			snprintf(si.dkim_tokens[si.ntokens++], sizeof(si.dkim_tokens[0]), "%s",
				 json_string_value(tok) ?: "");
		}
		char recs[4096];
		if (dns_records_for(domain, &si, worker_aws_env()->region, recs, sizeof(recs)) < 0)
			snprintf(recs, sizeof(recs), "; %s: no DKIM tokens yet\n", domain);
		json_array_append_new(out, json_pack("{s:s,s:b,s:s,s:s}", "domain", domain,
						     "verified", si.verified_for_sending, "dkim",
						     si.dkim_status, "records", recs));
	}
	json_decref(p);
	return json_pack("{s:s,s:o}", "tenant", arg_str(args, "name"), "domains", out);
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
	/*
	 * Provisioning: --email creates a member account, --account-id without
	 * --role-arn adopts one; either way the provisioning thread builds the
	 * rest.  With --role-arn the tenant is set up by hand and active at once.
	 */
	const char *email = arg_str(args, "email"), *tier = arg_str(args, "tier");
	const char *acct = arg_str(args, "aws_account_id");
	int provision = email || (acct && !arg_str(args, "role_arn") && cfg->management_role_arn[0]);
	if (provision && !cfg->management_role_arn[0])
		return fail(e, "invalid", "provisioning is not configured (management_role_arn); "
					  "give --role-arn to set the tenant up by hand");
	if (email && (strlen(email) < 6 || strlen(email) > 64 || !strchr(email, '@') ||
		      strpbrk(email, " \t\r\n\"<>")))
		return fail(e, "invalid", "invalid e-mail address for the account: %s", email);
	if (tier && prov_tier_parse(tier) < 0)
		return fail(e, "invalid", "unknown tier: %s (production, sandbox or poc)", tier);
	if (acct && (strlen(acct) != 12 || strspn(acct, "0123456789") != 12))
		return fail(e, "invalid", "an AWS account id is 12 digits: %s", acct);
	if (provision && json_array_size(doms) == 0)
		return fail(e, "invalid", "provisioning needs at least one --domain");
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
	if (cmd_ok(e, "HSET %s id %s name %s state %s created %s aws_account_id %s role_arn %s external_id %s",
		   key_tenant(k, tid), tid, name, provision ? "provisioning" : "active", now,
		   arg_str(args, "aws_account_id") ?: "", arg_str(args, "role_arn") ?: "",
		   arg_str(args, "external_id") ?: "") < 0)
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
	/* SES events find their tenant by the sending account. */
	if (acct && cmd_ok(e, "HSET %s %s %s", KEY_ACCOUNTS, acct, tid) < 0)
		return NULL;
	if (provision && prov_begin(e, tid, email, tier, acct) < 0)
		return NULL;
	log_kv(LOG_NOTICE, "tenant_added", "tenant", name, "id", tid, "state",
	       provision ? "provisioning" : "active", NULL);
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

/* "14", "0.5": recipients per second, as the admin overrides SES's MaxSendRate. */
static int valid_rate(const char *v)
{
	size_t ip = strspn(v, "0123456789"), fp = 0;
	if (ip == 0 || ip > 9)
		return 0;
	if (v[ip] == '.') {
		fp = strspn(v + ip + 1, "0123456789");
		if (fp == 0 || fp > 6)
			return 0;
		fp++;
	}
	return v[ip + fp] == '\0' && strtod(v, NULL) > 0;
}

/* An SES configuration set name: [A-Za-z0-9_-]{1,64}. */
static int valid_configuration_set(const char *v)
{
	size_t n = strlen(v);
	return n >= 1 && n <= 64 &&
	       strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/*
 * One tenant setting.  The limits and AWS identity are always present; the
 * delivery overrides are present only when set, so an empty value removes
 * them and the workers fall back to what SES says.
 */
/*
 * Put TID at the front of the workers' index (sg:sched), so a change that
 * may let its waiting mail go (resume, release, a role, a higher rate) takes
 * effect now instead of at the workers' next look.  Only moves it earlier.
 */
static int sched_now(struct ctl_err *e, const char *tid)
{
	char now[32];
	if (redis_now_ms(e, now, sizeof(now)) < 0)
		return -1;
	return cmd_ok(e, "ZADD %s LT %s %s", KEY_SCHED, now, tid);
}

#define WEBHOOK_URL_MAX    512
#define WEBHOOK_SECRET_MIN 16
#define WEBHOOK_SECRET_MAX 128

/* No octet at or below the space, nor DEL: what may go into a URL or a secret as is. */
static int all_graphic(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/*
 * The tenant's event webhook (webhooks.c).  An empty URL turns the webhook
 * off and forgets the secret with it.  The secret is write-only: it is never
 * returned (tenant_json says "set"), never put in an error message or a log
 * line, and the request's copy is wiped once Redis has it.
 */
static json_t *webhook_set(struct ctl_err *e, const char *tid, const char *key, char *val)
{
	char k[KEY_MAX];
	int secret = strcmp(key, "webhook_secret") == 0;
	size_t n = strlen(val);
	int rv;
	key_tenant(k, tid);
	if (secret) {
		int ok = n >= WEBHOOK_SECRET_MIN && n <= WEBHOOK_SECRET_MAX && all_graphic(val);
		for (size_t i = 0; ok && i < n; i++)
			ok = (unsigned char)val[i] < 0x80;
		if (!ok) {
			util_wipe(val, n);
			return fail(e, "invalid",
				    "webhook_secret must be %d-%d printable ASCII characters without "
				    "blanks",
				    WEBHOOK_SECRET_MIN, WEBHOOK_SECRET_MAX);
		}
		rv = cmd_ok(e, "HSET %s webhook_secret %s", k, val);
		util_wipe(val, n);
	} else if (n == 0) {
		rv = cmd_ok(e, "HDEL %s webhook_url webhook_secret", k);
	} else {
		if (n > WEBHOOK_URL_MAX || strncmp(val, "https://", 8) != 0 || n == 8 ||
		    !all_graphic(val))
			return fail(e, "invalid",
				    "webhook_url must be an https:// URL of at most %d octets "
				    "without blanks, or empty to turn the webhook off",
				    WEBHOOK_URL_MAX);
		rv = cmd_ok(e, "HSET %s webhook_url %s", k, val);
	}
	if (rv < 0)
		return NULL;
	log_kv(LOG_NOTICE, "tenant_webhook", "tenant", tid, "changed", key, "state",
	       secret ? "set" : n ? "on" : "off", NULL);
	return tenant_json(e, tid, 1);
}

static json_t *c_tenant_set(json_t *args, struct ctl_err *e)
{
	char tid[TENANT_ID_LEN + 1], k[KEY_MAX];
	if (tenant_id(e, arg_str(args, "name"), tid) < 0)
		return NULL;
	const char *key = arg_str(args, "key"), *val = arg_str(args, "value");
	static const char *const nums[] = {"max_message_size", "max_recipients", "quota_override",
					   NULL};
	static const char *const strs[] = {"aws_account_id", "role_arn", "external_id", NULL};
	static const char *const clearable[] = {"rate_override", "quota_override",
						"configuration_set", "webhook_secret", NULL};
	if (!key || !val)
		return fail(e, "invalid", "tenant.set needs key and value");
	if (name_in(clearable, key) && *val == '\0') {
		if (cmd_ok(e, "HDEL %s %s", key_tenant(k, tid), key) < 0 || sched_now(e, tid) < 0)
			return NULL;
		return tenant_json(e, tid, 1);
	}
	if (strcmp(key, "webhook_url") == 0 || strcmp(key, "webhook_secret") == 0)
		return webhook_set(e, tid, key, (char *)val);
	if (name_in(nums, key)) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(val, &end, 10);
		if (*val < '0' || *val > '9' || *end || errno || v > (1ULL << 40))
			return fail(e, "invalid", "%s must be a non-negative integer", key);
	} else if (name_in(strs, key)) {
		if (strlen(val) > 256 || strpbrk(val, " \r\n"))
			return fail(e, "invalid", "invalid %s", key);
	} else if (strcmp(key, "rate_override") == 0) {
		if (!valid_rate(val))
			return fail(e, "invalid",
				    "rate_override must be a decimal number of recipients per second "
				    "above 0 (e.g. 14 or 0.5), or empty to clear it");
	} else if (strcmp(key, "configuration_set") == 0) {
		if (!valid_configuration_set(val))
			return fail(e, "invalid",
				    "configuration_set must be 1-64 of A-Z a-z 0-9 _ -, or empty to "
				    "clear it");
	} else if (strcmp(key, "require_tls") == 0) {
		if (strcmp(val, "yes") != 0 && strcmp(val, "no") != 0)
			return fail(e, "invalid", "require_tls must be yes or no");
	} else {
		return fail(e, "invalid", "unknown tenant setting: %s", key);
	}
	if (cmd_ok(e, "HSET %s %s %s", key_tenant(k, tid), key, val) < 0 || sched_now(e, tid) < 0)
		return NULL;
	if (strcmp(key, "aws_account_id") == 0 && *val &&
	    cmd_ok(e, "HSET %s %s %s", KEY_ACCOUNTS, val, tid) < 0)
		return NULL;
	if (strcmp(key, "require_tls") == 0)
		log_kv(LOG_NOTICE, "tenant_require_tls", "tenant", arg_str(args, "name"), "value",
		       val, NULL);
	return tenant_json(e, tid, 1);
}

static json_t *set_state(json_t *args, struct ctl_err *e, const char *state)
{
	char tid[TENANT_ID_LEN + 1], k[KEY_MAX];
	if (tenant_id(e, arg_str(args, "name"), tid) < 0)
		return NULL;
	const char *reason = arg_str(args, "reason");
	if (cmd_ok(e, "HSET %s state %s paused_reason %s", key_tenant(k, tid), state,
		   strcmp(state, "paused") == 0 ? (reason ? reason : "paused by admin") : "") < 0 ||
	    (strcmp(state, "active") == 0 && sched_now(e, tid) < 0))
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

/*
 * The admin says the tenant's SES account can send again: clear the hold
 * (and the workers' note that they set it themselves, hold_auto), and put
 * the tenant at the front of the workers' index so its waiting mail goes now
 * rather than after the next GetAccount check.
 */
static json_t *c_tenant_release(json_t *args, struct ctl_err *e)
{
	char tid[TENANT_ID_LEN + 1], k[KEY_MAX];
	if (tenant_id(e, arg_str(args, "name"), tid) < 0 ||
	    cmd_ok(e, "HDEL %s hold hold_since hold_auto", key_tenant(k, tid)) < 0 ||
	    sched_now(e, tid) < 0)
		return NULL;
	log_kv(LOG_NOTICE, "tenant_released", "tenant", arg_str(args, "name"), NULL);
	return tenant_json(e, tid, 1);
}

/*
 * Delete the hash and history of every message in TID's zset ZKEY (queued or
 * dead-lettered mail of a tenant being deleted), a pipelined batch at a
 * time; returns how many there were.  Histories of mail already delivered
 * are left to expire.
 */
static long long drop_messages(struct ctl_err *e, const char *tid, const char *zkey)
{
	redisReply *m = cmd(e, "ZRANGE %s 0 -1", zkey);
	long long n = 0;
	for (size_t b = 0; m && b < m->elements; b += CTL_BATCH_MSGS) {
		size_t end = m->elements - b < CTL_BATCH_MSGS ? m->elements : b + CTL_BATCH_MSGS;
		struct pipe p;
		if (pipe_begin(e, &p) < 0)
			break;
		for (size_t i = b; i < end; i++) {
			char mk[KEY_MAX], hk[KEY_MAX];
			pipe_add(&p, "DEL %s %s", key_msg(mk, tid, m->element[i]->str),
				 key_hist(hk, tid, m->element[i]->str));
		}
		redisReply **r = pipe_run(e, &p);
		if (!r)
			break;
		pipe_free(r, p.n);
		n += (long long)(end - b);
	}
	if (m)
		freeReplyObject(m);
	return n;
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
	json_int_t dead = json_integer_value(json_object_get(q, "dlq"));
	json_decref(q);
	if (depth > 0 && !force)
		return fail(e, "conflict", "tenant %s has %lld queued message(s); use --force to drop them",
			    name, (long long)depth);
	if (dead > 0 && !force)
		return fail(e, "conflict",
			    "tenant %s has %lld dead-lettered message(s); use --force to drop them",
			    name, (long long)dead);
	/* Credentials first: from here on no new AUTH succeeds anywhere. */
	redisReply *c = cmd(e, "SMEMBERS %s", key_tenant_creds(k, tid));
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->elements; i++) {
		char ck[KEY_MAX];
		cmd_ok(e, "DEL %s", key_cred(ck, c->element[i]->str));
	}
	freeReplyObject(c);
	/*
	 * Its networks too, before the record goes: they authorize as much as a
	 * password.  Every entry of sg:nets that names the tenant, not only
	 * those in its own set, so none can outlive it; a failure stops the
	 * delete while it can still be repeated.
	 */
	redisReply *nets = cmd(e, "HGETALL %s", KEY_NETS);
	if (!nets)
		return NULL;
	for (size_t i = 0; i + 1 < nets->elements; i += 2)
		if (rep_str(nets->element[i + 1]) && strcmp(nets->element[i + 1]->str, tid) == 0 &&
		    cmd_ok(e, "HDEL %s %s", KEY_NETS, nets->element[i]->str) < 0) {
			freeReplyObject(nets);
			return NULL;
		}
	freeReplyObject(nets);
	if (cmd_ok(e, "DEL %s", key_tenant_nets(k, tid)) < 0)
		return NULL;
	/* Then the tenant record: in-flight sessions' commits now fail. */
	cmd_ok(e, "DEL %s", key_tenant(k, tid));
	long long dropped = drop_messages(e, tid, key_all(k, tid)) + drop_messages(e, tid, key_dlq(k, tid));
	redisReply *d = cmd(e, "SMEMBERS %s", key_tenant_domains(k, tid));
	for (size_t i = 0; d && i < d->elements; i++)
		cmd_ok(e, "HDEL %s %s", KEY_DOMAINS, d->element[i]->str);
	if (d)
		freeReplyObject(d);
	char k2[KEY_MAX], k3[KEY_MAX], k4[KEY_MAX], k5[KEY_MAX], k6[KEY_MAX], k7[KEY_MAX];
	cmd_ok(e, "DEL %s %s %s %s %s %s %s", key_tenant_domains(k, tid), key_tenant_creds(k2, tid),
	       key_ready(k3, tid), key_inflight(k4, tid), key_all(k5, tid), key_dlq(k6, tid),
	       key_retrying(k7, tid));
	cmd_ok(e, "ZREM %s %s", KEY_SCHED, tid);
	/* Events of its accounts no longer belong to anyone (deletes are
	 * rare: a scan of the index is fine). */
	redisReply *acc = cmd(e, "HGETALL %s", KEY_ACCOUNTS);
	for (size_t i = 0; acc && i + 1 < acc->elements; i += 2)
		if (strcmp(acc->element[i + 1]->str, tid) == 0)
			cmd_ok(e, "HDEL %s %s", KEY_ACCOUNTS, acc->element[i]->str);
	if (acc)
		freeReplyObject(acc);
	/* Onboarding stops; the AWS account itself is left for the admin. */
	char kp[KEY_MAX];
	snprintf(kp, sizeof(kp), "sg:{%s}:prov", tid);
	cmd_ok(e, "DEL %s %s:lease", kp, kp);
	cmd_ok(e, "ZREM %s %s", KEY_PROV, tid);
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

/*
 * tenant.network.add: let the hosts of a network send as the tenant without
 * AUTH.  The network is claimed in sg:nets with HSETNX, so two admins (or
 * instances) cannot give it to two tenants; adding it again to the same
 * tenant changes nothing ("new": false).  Overlapping networks of different
 * tenants are allowed: the SMTP side picks the most specific.
 */
static json_t *c_network_add(json_t *args, struct ctl_err *e)
{
	const char *name = arg_str(args, "name");
	char tid[TENANT_ID_LEN + 1], k[KEY_MAX], net[CIDR_STRLEN];
	struct cidr c;
	int force = json_is_true(json_object_get(args, "force"));
	if (tenant_id(e, name, tid) < 0 || net_arg(e, arg_str(args, "network"), &c, net) < 0)
		return NULL;
	int min = c.family == AF_INET ? NET_MIN_PREFIX4 : NET_MIN_PREFIX6;
	int broad = c.prefix < min;
	if (broad && !force)
		return fail(e, "invalid",
			    "network %s is broader than /%d: every host in it could send as %s "
			    "without a password; give force to mean it",
			    net, min, name);
	redisReply *r = cmd(e, "HSETNX %s %s %s", KEY_NETS, net, tid);
	if (!r)
		return NULL;
	int fresh = rep_int(r) == 1;
	freeReplyObject(r);
	if (!fresh) {
		if (!(r = cmd(e, "HGET %s %s", KEY_NETS, net)))
			return NULL;
		char owner[TENANT_ID_LEN + 1] = "";
		if (rep_str(r))
			util_strlcpy(owner, r->str, sizeof(owner));
		freeReplyObject(r);
		if (strcmp(owner, tid) != 0) {
			char other[TENANT_NAME_MAX + 1] = "";
			r = key_valid_tenant_id(owner) ? cmd(e, "HGET %s name", key_tenant(k, owner))
						       : NULL;
			if (r && rep_str(r))
				util_strlcpy(other, r->str, sizeof(other));
			if (r)
				freeReplyObject(r);
			return fail(e, "conflict", "network %s belongs to another tenant (%s)", net,
				    *other ? other : "unknown");
		}
	}
	if (cmd_ok(e, "SADD %s %s", key_tenant_nets(k, tid), net) < 0) {
		/* Do not leave a network authorizing that the tenant does not list. */
		if (fresh) {
			struct ctl_err ig;
			const char *argv[] = {"EVAL", net_release_lua, "1", KEY_NETS, net, tid};
			redisReply *x = cmd_argv(&ig, 6, argv);
			if (x)
				freeReplyObject(x);
		}
		return NULL;
	}
	if (fresh)
		log_kv(LOG_NOTICE, "tenant_network_added", "tenant", name, "network", net, "forced",
		       broad ? "yes" : NULL, NULL);
	return json_pack("{s:s,s:s,s:b}", "tenant", name, "network", net, "new", fresh);
}

/*
 * tenant.network.remove: the network (in any form that parses to it) stops
 * authorizing at once in sg:nets, then leaves the tenant's set.  Another
 * tenant's network is never touched: not_found.
 */
static json_t *c_network_remove(json_t *args, struct ctl_err *e)
{
	const char *name = arg_str(args, "name");
	char tid[TENANT_ID_LEN + 1], k[KEY_MAX], net[CIDR_STRLEN];
	struct cidr c;
	if (tenant_id(e, name, tid) < 0 || net_arg(e, arg_str(args, "network"), &c, net) < 0)
		return NULL;
	const char *argv[] = {"EVAL", net_release_lua, "1", KEY_NETS, net, tid};
	redisReply *r = cmd_argv(e, 6, argv);
	if (!r)
		return NULL;
	long long n = rep_int(r);
	freeReplyObject(r);
	if (!(r = cmd(e, "SREM %s %s", key_tenant_nets(k, tid), net)))
		return NULL;
	n += rep_int(r);
	freeReplyObject(r);
	if (n == 0)
		return fail(e, "not_found", "network %s is not a network of tenant %s", net, name);
	log_kv(LOG_NOTICE, "tenant_network_removed", "tenant", name, "network", net, NULL);
	return json_pack("{s:s,s:s}", "tenant", name, "removed", net);
}

static json_t *c_network_list(json_t *args, struct ctl_err *e)
{
	const char *name = arg_str(args, "name");
	char tid[TENANT_ID_LEN + 1];
	if (tenant_id(e, name, tid) < 0)
		return NULL;
	json_t *nets = nets_json(e, tid);
	return nets ? json_pack("{s:s,s:o}", "tenant", name, "networks", nets) : NULL;
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
	redisReply *hold = NULL;
	struct tref one, *t = &one;
	size_t n = 1;
	char tid[TENANT_ID_LEN + 1];
	if (name) {
		if (tenant_id(e, name, tid) < 0) {
			json_decref(list);
			return NULL;
		}
		one.name = name;
		one.tid = tid;
	} else if (!(t = tenants_all(e, &hold, &n))) {
		json_decref(list);
		return NULL;
	}
	int rv = queue_stats_fill(e, t, n, list);
	if (t != &one)
		free(t);
	if (hold)
		freeReplyObject(hold);
	if (rv < 0) {
		json_decref(list);
		return NULL;
	}
	/* Totals: sums of the counts, the oldest age, and how many tenants are held or paused. */
	static const char *const sums[] = {"depth", "ready", "inflight", "retrying", "dlq", NULL};
	json_int_t total[5] = {0}, oldest = 0, held = 0, paused = 0;
	size_t i;
	json_t *q;
	json_array_foreach(list, i, q) {
		for (int j = 0; sums[j]; j++)
			total[j] += json_integer_value(json_object_get(q, sums[j]));
		json_int_t a = json_integer_value(json_object_get(q, "oldest_age"));
		if (a > oldest)
			oldest = a;
		held += json_is_string(json_object_get(q, "held"));
		paused += json_is_true(json_object_get(q, "paused"));
	}
	return json_pack("{s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "tenants", list, "depth", total[0],
			 "oldest_age", oldest, "ready", total[1], "inflight", total[2], "retrying",
			 total[3], "dlq", total[4], "held", held, "paused", paused);
}

/* dlq.list: ARGV[1] octets of reason; KEYS: message hashes.  Read-only. */
static const char dlq_list_lua[] =
	"local out = {}\n"
	"for i, k in ipairs(KEYS) do\n"
	"  local v = redis.call('HMGET', k, 'dlq_time', 'dlq_reason', 'env', 'nrcpt', 'size', 'attempts')\n"
	"  local from = false\n"
	"  if v[3] then\n"
	"    local ok, env = pcall(cjson.decode, v[3])\n"
	"    if ok and type(env) == 'table' and type(env.from) == 'string' then from = env.from end\n"
	"  end\n"
	"  if v[2] then v[2] = string.sub(v[2], 1, tonumber(ARGV[1])) end\n"
	"  out[i] = {v[1], v[2], from, v[4], v[5], v[6]}\n"
	"end\n"
	"return out\n";

/*
 * dlq.retry and dlq.purge over a batch of QIDs of one tenant.  KEYS: dlq
 * ready all, then msg and hist of each QID in ARGV[2..], so every key the
 * script touches is declared and on the tenant's slot.  Only QIDs still in
 * the dlq are touched: a message retried or purged meanwhile is skipped.
 */
static const char dlq_retry_lua[] =
	"local t = redis.call('TIME')\n"
	"local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))\n"
	"local ev = '{\"t\":' .. now .. ',\"ev\":\"dlq-retry\"}'\n"
	"local moved, dropped = 0, 0\n"
	"for i = 2, #ARGV do\n"
	"  local q, mk, hk = ARGV[i], KEYS[2 * i], KEYS[2 * i + 1]\n"
	"  if redis.call('ZREM', KEYS[1], q) == 1 then\n"
	"    if redis.call('EXISTS', mk) == 1 then\n"
	"      local a = redis.call('HMGET', mk, 'arrival_redis', 'arrival')\n"
	"      redis.call('HDEL', mk, 'dlq_reason', 'dlq_time', 'next_attempt')\n"
	"      redis.call('HSET', mk, 'attempts', '0')\n"
	"      redis.call('ZADD', KEYS[2], now, q)\n"
	"      redis.call('ZADD', KEYS[3], tonumber(a[1]) or tonumber(a[2]) or now, q)\n"
	"      redis.call('PERSIST', hk)\n"
	"      redis.call('RPUSH', hk, ev)\n"
	"      moved = moved + 1\n"
	"    else\n"
	"      dropped = dropped + 1\n"
	"    end\n"
	"  end\n"
	"end\n"
	"return {moved, dropped, now}\n";

/* ARGV[1]: seconds the history is kept after the purge. */
static const char dlq_purge_lua[] =
	"local t = redis.call('TIME')\n"
	"local now = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))\n"
	"local ev = '{\"t\":' .. now .. ',\"ev\":\"purged\"}'\n"
	"local n = 0\n"
	"for i = 2, #ARGV do\n"
	"  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then\n"
	"    redis.call('DEL', KEYS[2 * i])\n"
	"    redis.call('RPUSH', KEYS[2 * i + 1], ev)\n"
	"    redis.call('EXPIRE', KEYS[2 * i + 1], ARGV[1])\n"
	"    n = n + 1\n"
	"  end\n"
	"end\n"
	"return {n, 0, now}\n";

struct dlq_count {
	long long done;    /* retried or purged */
	long long dropped; /* dlq entries without a message hash, removed */
	char now[32];      /* Redis time of the last batch (ms) */
};

/* Run SCRIPT over the N QIDS of TID with ARG as ARGV[1]; adds to *C. */
static int dlq_batch(struct ctl_err *e, const char *script, const char *tid, const char *arg,
		     const char *const *qids, size_t n, struct dlq_count *c)
{
	size_t nkeys = 3 + 2 * n, argc = 3 + nkeys + 1 + n;
	const char **argv = calloc(argc, sizeof(*argv));
	char(*keys)[KEY_MAX] = calloc(nkeys, sizeof(*keys));
	char numkeys[16];
	if (!argv || !keys) {
		free(argv);
		free(keys);
		fail(e, "internal", "out of memory");
		return -1;
	}
	snprintf(numkeys, sizeof(numkeys), "%zu", nkeys);
	argv[0] = "EVAL";
	argv[1] = script;
	argv[2] = numkeys;
	argv[3] = key_dlq(keys[0], tid);
	argv[4] = key_ready(keys[1], tid);
	argv[5] = key_all(keys[2], tid);
	for (size_t i = 0; i < n; i++) {
		argv[6 + 2 * i] = key_msg(keys[3 + 2 * i], tid, qids[i]);
		argv[7 + 2 * i] = key_hist(keys[4 + 2 * i], tid, qids[i]);
	}
	argv[3 + nkeys] = arg;
	for (size_t i = 0; i < n; i++)
		argv[4 + nkeys + i] = qids[i];
	redisReply *r = cmd_argv(e, (int)argc, argv);
	free(argv);
	free(keys);
	if (!r)
		return -1;
	int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 3;
	if (ok) {
		c->done += rep_int(r->element[0]);
		c->dropped += rep_int(r->element[1]);
		if (rep_str(r->element[2]))
			util_strlcpy(c->now, r->element[2]->str, sizeof(c->now));
	}
	freeReplyObject(r);
	if (!ok)
		fail(e, "internal", "redis: unexpected reply to the dlq script");
	return ok ? 0 : -1;
}

/*
 * Apply SCRIPT to every entry of TID's dlq, CTL_BATCH_MSGS per call so that a
 * dlq of a million entries never blocks Redis for long.  Only entries that
 * were there when it started: it stops at the newest score seen then, and
 * after as many entries as there were, so mail dead-lettered again while it
 * runs (a retry that fails at once) cannot keep it going.
 */
static int dlq_all(struct ctl_err *e, const char *script, const char *tid, const char *arg,
		   struct dlq_count *c)
{
	char k[KEY_MAX], max[64];
	redisReply *r = cmd(e, "ZREVRANGE %s 0 0 WITHSCORES", key_dlq(k, tid));
	if (!r)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		freeReplyObject(r);
		return 0; /* empty */
	}
	util_strlcpy(max, r->element[1]->str, sizeof(max));
	freeReplyObject(r);
	if (!(r = cmd(e, "ZCARD %s", k)))
		return -1;
	long long budget = r->integer;
	freeReplyObject(r);
	while (budget > 0) {
		r = cmd(e, "ZRANGEBYSCORE %s -inf %s LIMIT 0 %d", k, max, CTL_BATCH_MSGS);
		if (!r)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
			freeReplyObject(r);
			break;
		}
		const char **qids = calloc(r->elements, sizeof(*qids));
		if (!qids) {
			freeReplyObject(r);
			fail(e, "internal", "out of memory");
			return -1;
		}
		for (size_t i = 0; i < r->elements; i++)
			qids[i] = r->element[i]->str;
		int rv = dlq_batch(e, script, tid, arg, qids, r->elements, c);
		budget -= (long long)r->elements;
		free(qids);
		freeReplyObject(r);
		if (rv < 0)
			return -1;
	}
	return 0;
}

/*
 * dlq.retry (PURGE 0) and dlq.purge (PURGE 1): args tenant and either qid
 * or all: true.
 */
static json_t *dlq_apply(json_t *args, struct ctl_err *e, int purge)
{
	const char *name = arg_str(args, "tenant"), *q = arg_str(args, "qid");
	int all = json_is_true(json_object_get(args, "all"));
	char tid[TENANT_ID_LEN + 1], qid[QUEUE_ID_LEN + 1], ttl[32];
	struct dlq_count c = {0};
	if (tenant_id(e, name, tid) < 0)
		return NULL;
	if (all == (q != NULL))
		return fail(e, "invalid", "%s needs either qid or all, not both",
			    purge ? "dlq.purge" : "dlq.retry");
	if (q && qid_parse(e, q, qid) < 0)
		return NULL;
	snprintf(ttl, sizeof(ttl), "%d", cfg->delivery_record_ttl);
	const char *script = purge ? dlq_purge_lua : dlq_retry_lua;
	const char *const one[] = {qid};
	if (all ? dlq_all(e, script, tid, ttl, &c) < 0 : dlq_batch(e, script, tid, ttl, one, 1, &c) < 0)
		return NULL;
	if (!all && c.done == 0)
		return fail(e, "not_found",
			    c.dropped ? "message %s of %s was dead-lettered without its content; its "
					"entry has been removed"
				      : "message %s is not in the dead-letter queue of %s",
			    qid, name);
	/* Another slot in a cluster, so not in the script; workers' sweeps repair a miss. */
	if (!purge && c.done > 0)
		cmd_ok(e, "ZADD %s LT %s %s", KEY_SCHED, c.now, tid);
	char n[32];
	snprintf(n, sizeof(n), "%lld", c.done);
	log_kv(LOG_NOTICE, purge ? "dlq_purged" : "dlq_retried", "tenant", name, "qid",
	       all ? "all" : qid, "count", n, NULL);
	return json_pack("{s:I,s:I}", purge ? "purged" : "retried", (json_int_t)c.done, "dropped",
			 (json_int_t)c.dropped);
}

static json_t *c_dlq_retry(json_t *args, struct ctl_err *e)
{
	return dlq_apply(args, e, 0);
}

static json_t *c_dlq_purge(json_t *args, struct ctl_err *e)
{
	return dlq_apply(args, e, 1);
}

/* Newest first, at most `limit` (default 100): what an admin scans to decide. */
static json_t *c_dlq_list(json_t *args, struct ctl_err *e)
{
	const char *name = arg_str(args, "tenant");
	char tid[TENANT_ID_LEN + 1], k[KEY_MAX], reason[16];
	json_t *lim = json_object_get(args, "limit");
	json_int_t limit = DLQ_LIST_DEFAULT;
	if (tenant_id(e, name, tid) < 0)
		return NULL;
	if (lim && !json_is_null(lim)) {
		limit = json_is_integer(lim) ? json_integer_value(lim) : 0;
		if (limit < 1 || limit > DLQ_LIST_MAX)
			return fail(e, "invalid", "limit must be an integer from 1 to %d",
				    DLQ_LIST_MAX);
	}
	redisReply *n = cmd(e, "ZCARD %s", key_dlq(k, tid));
	if (!n)
		return NULL;
	json_int_t total = n->integer;
	freeReplyObject(n);
	redisReply *z = cmd(e, "ZREVRANGE %s 0 %lld WITHSCORES", k, (long long)limit - 1);
	if (!z)
		return NULL;
	json_t *list = json_array();
	/* One octet more than shown, so that jstr_clean sees and marks the cut. */
	snprintf(reason, sizeof(reason), "%d", DLQ_REASON_LIST + 1);
	size_t count = z->type == REDIS_REPLY_ARRAY ? z->elements / 2 : 0;
	for (size_t b = 0; b < count; b += CTL_BATCH_MSGS) {
		size_t m = count - b < CTL_BATCH_MSGS ? count - b : CTL_BATCH_MSGS;
		const char **argv = calloc(4 + m, sizeof(*argv));
		char(*keys)[KEY_MAX] = calloc(m, sizeof(*keys));
		char numkeys[16];
		redisReply *r = NULL;
		if (argv && keys) {
			snprintf(numkeys, sizeof(numkeys), "%zu", m);
			argv[0] = "EVAL";
			argv[1] = dlq_list_lua;
			argv[2] = numkeys;
			for (size_t i = 0; i < m; i++)
				argv[3 + i] = key_msg(keys[i], tid, z->element[2 * (b + i)]->str);
			argv[3 + m] = reason;
			r = cmd_argv(e, (int)(4 + m), argv);
		} else {
			fail(e, "internal", "out of memory");
		}
		free(argv);
		free(keys);
		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != m) {
			if (r) {
				freeReplyObject(r);
				fail(e, "internal", "redis: unexpected reply to dlq.list");
			}
			freeReplyObject(z);
			json_decref(list);
			return NULL;
		}
		for (size_t i = 0; i < m; i++) {
			redisReply *v = r->element[i], *score = z->element[2 * (b + i) + 1];
			const char *f[6] = {NULL};
			for (size_t j = 0; v->type == REDIS_REPLY_ARRAY && j < v->elements && j < 6; j++)
				f[j] = rep_str(v->element[j]);
			json_t *o = json_pack("{s:s}", "qid", z->element[2 * (b + i)]->str);
			json_object_set_new(o, "dlq_time", jnum_parse(f[0] ? f[0] : score->str, 0));
			json_object_set_new(o, "dlq_reason",
					    f[1] ? jstr_clean(f[1], strlen(f[1]), DLQ_REASON_LIST)
						 : json_null());
			json_object_set_new(o, "from", f[2] ? jstr_clean(f[2], strlen(f[2]), 0) : json_null());
			json_object_set_new(o, "nrcpt", f[3] ? jnum_parse(f[3], 0) : json_null());
			json_object_set_new(o, "size", f[4] ? jnum_parse(f[4], 0) : json_null());
			json_object_set_new(o, "attempts", f[5] ? jnum_parse(f[5], 0) : json_null());
			json_array_append_new(list, o);
		}
		freeReplyObject(r);
	}
	freeReplyObject(z);
	return json_pack("{s:s,s:I,s:o}", "tenant", name, "total", total, "messages", list);
}

static json_t *c_dlq_show(json_t *args, struct ctl_err *e)
{
	const char *name = arg_str(args, "tenant");
	char tid[TENANT_ID_LEN + 1], qid[QUEUE_ID_LEN + 1];
	if (tenant_id(e, name, tid) < 0 || qid_parse(e, arg_str(args, "qid"), qid) < 0)
		return NULL;
	return msg_view(e, name, tid, qid, 1);
}

/*
 * msg.show: with `tenant`, that tenant's message; without, the tenant is
 * found by asking every tenant's slot for the message hash or its history,
 * CTL_BATCH_TENANTS tenants per pipelined round trip.
 */
static json_t *c_msg_show(json_t *args, struct ctl_err *e)
{
	const char *name = arg_str(args, "tenant");
	char tid[TENANT_ID_LEN + 1], qid[QUEUE_ID_LEN + 1];
	if (qid_parse(e, arg_str(args, "qid"), qid) < 0)
		return NULL;
	if (name) {
		if (tenant_id(e, name, tid) < 0)
			return NULL;
		return msg_view(e, name, tid, qid, 0);
	}
	redisReply *hold;
	size_t n;
	struct tref *t = tenants_all(e, &hold, &n);
	if (!t)
		return NULL;
	const struct tref *found = NULL, *by_hist = NULL;
	for (size_t b = 0; b < n && !found; b += CTL_BATCH_TENANTS) {
		size_t m = n - b < CTL_BATCH_TENANTS ? n - b : CTL_BATCH_TENANTS;
		struct pipe p;
		if (pipe_begin(e, &p) < 0) {
			free(t);
			freeReplyObject(hold);
			return NULL;
		}
		for (size_t i = 0; i < m; i++) {
			char mk[KEY_MAX], hk[KEY_MAX];
			pipe_add(&p, "EXISTS %s", key_msg(mk, t[b + i].tid, qid));
			pipe_add(&p, "EXISTS %s", key_hist(hk, t[b + i].tid, qid));
		}
		redisReply **r = pipe_run(e, &p);
		if (!r) {
			free(t);
			freeReplyObject(hold);
			return NULL;
		}
		for (size_t i = 0; i < m && !found; i++) {
			if (rep_int(r[2 * i]) == 1)
				found = &t[b + i]; /* a stored message beats a history */
			else if (rep_int(r[2 * i + 1]) == 1 && !by_hist)
				by_hist = &t[b + i];
		}
		pipe_free(r, p.n);
	}
	if (!found)
		found = by_hist;
	json_t *o = NULL;
	if (found) {
		util_strlcpy(tid, found->tid, sizeof(tid));
		o = msg_view(e, found->name, tid, qid, 0);
	} else {
		fail(e, "not_found", "message %s not found in any tenant", qid);
	}
	free(t);
	freeReplyObject(hold);
	return o;
}

/* ------------------------------------------------------------------ */
/* SES event figures (events.c writes them) */

#define STATS_DAYS_DEFAULT 7
#define STATS_DAYS_MAX     400   /* what events.c keeps */
#define STATS_PIPE_MAX     10000 /* HGETALLs per pipelined round trip */

/* The event types of sg:{T}:stats:YYYYMMDD, in the order they are shown. */
static const char *const stat_names[] = {
	"send",  "delivery", "bounce", "complaint",    "reject",       "open",
	"click", "rendering_failure", "delivery_delay", "subscription", "unknown",
};
#define NSTATS (sizeof(stat_names) / sizeof(stat_names[0]))

static void stat_add(json_int_t *sum, const redisReply *h)
{
	if (!h || h->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i + 1 < h->elements; i += 2)
		for (size_t j = 0; j < NSTATS; j++)
			if (h->element[i]->str && strcmp(h->element[i]->str, stat_names[j]) == 0)
				sum[j] += rep_int(h->element[i + 1]);
}

/* The counts of SUM as members of O, and with RATES the bounce and complaint rates. */
static json_t *stat_json(json_t *o, const json_int_t *sum, int rates)
{
	for (size_t j = 0; j < NSTATS; j++)
		json_object_set_new(o, stat_names[j], json_integer(sum[j]));
	if (rates) {
		/* Percentages of sends; meaningless (null) before the first send. */
		json_int_t send = sum[0], bounce = sum[2], complaint = sum[3];
		json_object_set_new(o, "bounce_rate",
				    send ? json_real(100.0 * (double)bounce / (double)send) : json_null());
		json_object_set_new(o, "complaint_rate",
				    send ? json_real(100.0 * (double)complaint / (double)send)
					 : json_null());
	}
	return o;
}

/*
 * stats: with `tenant`, that tenant's counts per UTC day (newest first) and
 * their totals; without, every tenant's totals and the sum of all.  The day
 * keys of many tenants are read in pipelined round trips of at most
 * STATS_PIPE_MAX commands.
 */
static json_t *c_stats(json_t *args, struct ctl_err *e)
{
	const char *name = arg_str(args, "tenant");
	json_t *jd = json_object_get(args, "days");
	json_int_t days = STATS_DAYS_DEFAULT;
	if (jd && !json_is_null(jd)) {
		days = json_is_integer(jd) ? json_integer_value(jd) : 0;
		if (days < 1 || days > STATS_DAYS_MAX)
			return fail(e, "invalid", "days must be an integer from 1 to %d",
				    STATS_DAYS_MAX);
	}
	redisReply *hold = NULL;
	struct tref one, *t = &one;
	size_t n = 1;
	char tid[TENANT_ID_LEN + 1];
	if (name) {
		if (tenant_id(e, name, tid) < 0)
			return NULL;
		one.name = name;
		one.tid = tid;
	} else if (!(t = tenants_all(e, &hold, &n))) {
		return NULL;
	}
	/* The day suffixes, newest first: the same UTC days for every tenant. */
	char(*day)[9] = calloc((size_t)days, sizeof(*day));
	json_t *list = json_array();
	json_int_t all[NSTATS] = {0};
	int bad = !day;
	time_t now = time(NULL);
	for (json_int_t d = 0; day && d < days; d++) {
		struct tm tm;
		time_t when = now - (time_t)d * 86400;
		gmtime_r(&when, &tm);
		strftime(day[d], sizeof(day[d]), "%Y%m%d", &tm);
	}
	if (bad)
		fail(e, "internal", "out of memory");
	size_t per = STATS_PIPE_MAX / (size_t)days;
	if (per < 1)
		per = 1;
	if (per > CTL_BATCH_TENANTS)
		per = CTL_BATCH_TENANTS;
	for (size_t b = 0; !bad && b < n; b += per) {
		size_t m = n - b < per ? n - b : per;
		struct pipe p;
		if (pipe_begin(e, &p) < 0) {
			bad = 1;
			break;
		}
		for (size_t i = 0; i < m; i++)
			for (json_int_t d = 0; d < days; d++)
				pipe_add(&p, "HGETALL sg:{%s}:stats:%s", t[b + i].tid, day[d]);
		redisReply **r = pipe_run(e, &p);
		if (!r) {
			bad = 1;
			break;
		}
		for (size_t i = 0; i < m; i++) {
			json_int_t sum[NSTATS] = {0};
			json_t *daily = name ? json_array() : NULL;
			for (json_int_t d = 0; d < days; d++) {
				redisReply *h = r[i * (size_t)days + (size_t)d];
				stat_add(sum, h);
				if (daily) {
					json_int_t one_day[NSTATS] = {0};
					char date[11];
					stat_add(one_day, h);
					snprintf(date, sizeof(date), "%.4s-%.2s-%.2s", day[d], day[d] + 4,
						 day[d] + 6);
					json_array_append_new(
						daily, stat_json(json_pack("{s:s}", "date", date), one_day, 0));
				}
			}
			for (size_t j = 0; j < NSTATS; j++)
				all[j] += sum[j];
			json_t *o = json_pack("{s:s,s:o}", "tenant", t[b + i].name, "totals",
					      stat_json(json_object(), sum, 1));
			if (daily)
				json_object_set_new(o, "daily", daily);
			json_array_append_new(list, o);
		}
		pipe_free(r, p.n);
	}
	free(day);
	if (t != &one)
		free(t);
	if (hold)
		freeReplyObject(hold);
	if (bad) {
		json_decref(list);
		return NULL;
	}
	return json_pack("{s:I,s:o,s:o}", "days", days, "tenants", list, "totals",
			 stat_json(json_object(), all, 1));
}

/* ------------------------------------------------------------------ */
/* suppression list: sg:{T}:suppr, lower-cased address -> JSON */

#define SUPPR_ADDR_MAX    320
#define SUPPR_REASON_MAX  200
#define SUPPR_LIST_DEFAULT 100
#define SUPPR_LIST_MAX    10000
#define SUPPR_IMPORT_MAX  1000 /* addresses per suppression.import request */
#define SUPPR_INVALID_MAX 20   /* refused addresses reported back */

static char *key_suppr(char *buf, const char *tid)
{
	snprintf(buf, KEY_MAX, "sg:{%s}:suppr", tid);
	return buf;
}

/*
 * An address as RCPT TO would carry it: local@domain, both parts non-empty,
 * at most 320 octets, no blanks or controls.  OUT (SUPPR_ADDR_MAX + 1) gets
 * it lower-cased, the form the SMTP check looks up.  NULL, or why not.
 */
static const char *suppr_addr(const char *in, char *out)
{
	if (!in || !*in)
		return "empty address";
	size_t n = strlen(in);
	if (n > SUPPR_ADDR_MAX)
		return "address longer than 320 octets";
	if (!all_graphic(in))
		return "address with blanks or control characters";
	const char *at = strrchr(in, '@');
	if (!at || at == in || at[1] == '\0')
		return "not an address of the form local@domain";
	memcpy(out, in, n + 1);
	util_lower(out);
	return NULL;
}

/* The stored value of a manual entry; NULL (with E set) if REASON will not do. */
static char *suppr_value(struct ctl_err *e, const char *reason, uint64_t now)
{
	char r[SUPPR_REASON_MAX + 16];
	if (reason && *reason) {
		if (strlen(reason) > SUPPR_REASON_MAX) {
			fail(e, "invalid", "reason longer than %d octets", SUPPR_REASON_MAX);
			return NULL;
		}
		for (const unsigned char *p = (const unsigned char *)reason; *p; p++)
			if (*p < 0x20 || *p == 0x7f) {
				fail(e, "invalid", "reason with control characters");
				return NULL;
			}
		snprintf(r, sizeof(r), "manual:%s", reason);
	} else {
		snprintf(r, sizeof(r), "manual");
	}
	json_t *o = json_pack("{s:s,s:I}", "reason", r, "time", (json_int_t)now);
	char *v = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!v)
		fail(e, "internal", "out of memory");
	return v;
}

/* One entry of suppression.list from the hash's field and value. */
static json_t *suppr_entry(const redisReply *f, const redisReply *v)
{
	json_t *o = json_pack("{s:o}", "address", jstr_clean(f->str, f->len, 0));
	json_t *j = v->str ? json_loadb(v->str, v->len, 0, NULL) : NULL;
	if (json_is_object(j)) {
		static const char *const keep[] = {"reason", "time", "qid", "ses_id", NULL};
		for (int i = 0; keep[i]; i++) {
			json_t *m = json_object_get(j, keep[i]);
			json_object_set(o, keep[i], m ? m : json_null());
		}
	} else {
		/* Not ours (written by hand?): show the raw value as the reason. */
		json_object_set_new(o, "reason", v->str ? jstr_clean(v->str, v->len, 200)
							: json_null());
		json_object_set_new(o, "time", json_null());
		json_object_set_new(o, "qid", json_null());
		json_object_set_new(o, "ses_id", json_null());
	}
	json_decref(j);
	return o;
}

static int suppr_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t tx = json_integer_value(json_object_get(x, "time"));
	json_int_t ty = json_integer_value(json_object_get(y, "time"));
	if (tx != ty)
		return tx < ty ? 1 : -1;
	return strcmp(json_string_value(json_object_get(x, "address")),
		      json_string_value(json_object_get(y, "address")));
}

/*
 * suppression.list: the whole hash is walked with HSCAN (never one HGETALL
 * that would stall Redis on a million entries), then sorted newest first and
 * cut to `limit`.
 */
static json_t *c_suppr_list(json_t *args, struct ctl_err *e)
{
	const char *name = arg_str(args, "tenant");
	char tid[TENANT_ID_LEN + 1], k[KEY_MAX];
	json_t *lim = json_object_get(args, "limit");
	json_int_t limit = SUPPR_LIST_DEFAULT;
	if (tenant_id(e, name, tid) < 0)
		return NULL;
	if (lim && !json_is_null(lim)) {
		limit = json_is_integer(lim) ? json_integer_value(lim) : 0;
		if (limit < 1 || limit > SUPPR_LIST_MAX)
			return fail(e, "invalid", "limit must be an integer from 1 to %d",
				    SUPPR_LIST_MAX);
	}
	key_suppr(k, tid);
	json_t *all = json_array();
	char cursor[32] = "0";
	do {
		redisReply *r = cmd(e, "HSCAN %s %s COUNT 1000", k, cursor);
		if (!r) {
			json_decref(all);
			return NULL;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			json_decref(all);
			return fail(e, "internal", "redis: unexpected reply to HSCAN");
		}
		util_strlcpy(cursor, r->element[0]->str, sizeof(cursor));
		redisReply *a = r->element[1];
		for (size_t i = 0; i + 1 < a->elements; i += 2)
			json_array_append_new(all, suppr_entry(a->element[i], a->element[i + 1]));
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	size_t total = json_array_size(all);
	json_t **v = calloc(total + 1, sizeof(*v));
	if (!v) {
		json_decref(all);
		return fail(e, "internal", "out of memory");
	}
	for (size_t i = 0; i < total; i++)
		v[i] = json_array_get(all, i);
	qsort(v, total, sizeof(*v), suppr_cmp);
	json_t *list = json_array();
	for (size_t i = 0; i < total && (json_int_t)i < limit; i++)
		json_array_append(list, v[i]);
	free(v);
	json_decref(all);
	return json_pack("{s:s,s:I,s:o}", "tenant", name, "total", (json_int_t)total, "entries",
			 list);
}

static json_t *c_suppr_add(json_t *args, struct ctl_err *e)
{
	const char *name = arg_str(args, "tenant"), *why;
	char tid[TENANT_ID_LEN + 1], k[KEY_MAX], addr[SUPPR_ADDR_MAX + 1];
	if (tenant_id(e, name, tid) < 0)
		return NULL;
	if ((why = suppr_addr(arg_str(args, "address"), addr)))
		return fail(e, "invalid", "%s: %.80s", why,
			    arg_str(args, "address") ? arg_str(args, "address") : "(missing)");
	uint64_t now = util_now_ms();
	char *v = suppr_value(e, arg_str(args, "reason"), now);
	if (!v)
		return NULL;
	redisReply *r = cmd(e, "HSET %s %s %s", key_suppr(k, tid), addr, v);
	free(v);
	if (!r)
		return NULL;
	int fresh = rep_int(r) == 1;
	freeReplyObject(r);
	log_kv(LOG_NOTICE, "suppression_added", "tenant", name, "address", addr, NULL);
	const char *reason = arg_str(args, "reason");
	json_t *o = json_pack("{s:s,s:s,s:I,s:b}", "tenant", name, "address", addr, "time",
			      (json_int_t)now, "new", fresh);
	if (reason && *reason)
		json_object_set_new(o, "reason", json_sprintf("manual:%s", reason));
	else
		json_object_set_new(o, "reason", json_string("manual"));
	return o;
}

static json_t *c_suppr_remove(json_t *args, struct ctl_err *e)
{
	const char *name = arg_str(args, "tenant"), *in = arg_str(args, "address");
	char tid[TENANT_ID_LEN + 1], k[KEY_MAX], addr[SUPPR_ADDR_MAX + 1];
	if (tenant_id(e, name, tid) < 0)
		return NULL;
	/* Only the size is checked: a malformed entry (written by hand) must be removable. */
	if (!in || !*in || strlen(in) > SUPPR_ADDR_MAX)
		return fail(e, "invalid", "address must be 1-%d octets", SUPPR_ADDR_MAX);
	memcpy(addr, in, strlen(in) + 1);
	util_lower(addr);
	redisReply *r = cmd(e, "HDEL %s %s", key_suppr(k, tid), addr);
	if (!r)
		return NULL;
	long long n = rep_int(r);
	freeReplyObject(r);
	if (n == 0)
		return fail(e, "not_found", "%.80s is not on the suppression list of %s", addr, name);
	log_kv(LOG_NOTICE, "suppression_removed", "tenant", name, "address", addr, NULL);
	return json_pack("{s:s,s:s}", "tenant", name, "removed", addr);
}

/*
 * suppression.import: up to SUPPR_IMPORT_MAX {address, reason?} per request
 * (sesgatectl sends a file in such batches).  Each is checked like
 * suppression.add; the good ones are stored with one pipelined round trip,
 * the bad ones counted and the first SUPPR_INVALID_MAX named by index.
 */
static json_t *c_suppr_import(json_t *args, struct ctl_err *e)
{
	const char *name = arg_str(args, "tenant");
	char tid[TENANT_ID_LEN + 1], k[KEY_MAX];
	json_t *list = json_object_get(args, "addresses");
	if (tenant_id(e, name, tid) < 0)
		return NULL;
	if (!json_is_array(list))
		return fail(e, "invalid", "addresses must be an array");
	if (json_array_size(list) > SUPPR_IMPORT_MAX)
		return fail(e, "invalid", "at most %d addresses per request", SUPPR_IMPORT_MAX);
	key_suppr(k, tid);
	struct pipe p;
	if (pipe_begin(e, &p) < 0)
		return NULL;
	uint64_t now = util_now_ms();
	json_t *invalid = json_array();
	json_int_t ninvalid = 0;
	size_t i;
	json_t *it;
	json_array_foreach(list, i, it) {
		const char *in = json_is_string(it) ? json_string_value(it) : arg_str(it, "address");
		const char *reason = json_is_object(it) ? arg_str(it, "reason") : NULL;
		char addr[SUPPR_ADDR_MAX + 1];
		struct ctl_err ve = {NULL, ""};
		const char *why = suppr_addr(in, addr);
		char *v = why ? NULL : suppr_value(&ve, reason, now);
		if (!why && !v)
			why = ve.msg;
		if (why) {
			if (ninvalid++ < SUPPR_INVALID_MAX)
				json_array_append_new(
					invalid, json_pack("{s:I,s:o,s:s}", "index", (json_int_t)i,
							   "address",
							   in ? jstr_clean(in, strlen(in), 80) : json_null(),
							   "error", why));
			continue;
		}
		pipe_add(&p, "HSET %s %s %s", k, addr, v);
		free(v);
	}
	redisReply **r = pipe_run(e, &p);
	if (!r) {
		json_decref(invalid);
		return NULL;
	}
	json_int_t added = 0, fresh = 0;
	for (size_t j = 0; j < p.n; j++) {
		if (r[j]->type == REDIS_REPLY_INTEGER) {
			added++;
			fresh += r[j]->integer == 1;
		}
	}
	pipe_free(r, p.n);
	if (added < (json_int_t)p.n) {
		json_decref(invalid);
		return fail(e, "internal", "redis refused %lld of %zu entries",
			    (long long)((json_int_t)p.n - added), p.n);
	}
	char cnt[32];
	snprintf(cnt, sizeof(cnt), "%lld", (long long)added);
	log_kv(LOG_NOTICE, "suppression_imported", "tenant", name, "count", cnt, NULL);
	return json_pack("{s:s,s:I,s:I,s:I,s:o}", "tenant", name, "added", added, "new", fresh,
			 "invalid_count", ninvalid, "invalid", invalid);
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
	{"tenant.retry", c_tenant_retry},
	{"tenant.dns", c_tenant_dns},
	{"tenant.delete", c_tenant_delete},
	{"tenant.domain.add", c_domain_add},
	{"tenant.domain.remove", c_domain_remove},
	{"tenant.network.add", c_network_add},
	{"tenant.network.remove", c_network_remove},
	{"tenant.network.list", c_network_list},
	{"cred.add", c_cred_add},
	{"cred.list", c_cred_list},
	{"cred.revoke", c_cred_revoke},
	{"tenant.release", c_tenant_release},
	{"queue.stats", c_queue_stats},
	{"dlq.list", c_dlq_list},
	{"dlq.show", c_dlq_show},
	{"dlq.retry", c_dlq_retry},
	{"dlq.purge", c_dlq_purge},
	{"msg.show", c_msg_show},
	{"stats", c_stats},
	{"suppression.list", c_suppr_list},
	{"suppression.add", c_suppr_add},
	{"suppression.remove", c_suppr_remove},
	{"suppression.import", c_suppr_import},
};

/*
 * An error message quotes the client's input (a name, jansson's parse
 * error): anything that is not printable UTF-8 becomes '?', or the JSON
 * answer could not be built and the client would wait for nothing.
 */
static void msg_clean(char *m)
{
	unsigned char *p = (unsigned char *)m;
	size_t n = strlen(m);
	while (*p) {
		size_t k = *p < 0x80 ? 1 : util_utf8_seq(p, n);
		if (k == 0 || *p < 0x20 || *p == 0x7f) {
			*p = '?';
			k = 1;
		}
		p += k;
		n -= k;
	}
}

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
	msg_clean(e.msg);
	json_t *resp = res ? json_pack("{s:b,s:o}", "ok", 1, "result", res)
			   : json_pack("{s:b,s:s,s:s}", "ok", 0, "error", e.msg, "code", e.code);
	char *out = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
	json_decref(resp);
	/* Never silence: a client waiting for its line must get one. */
	return out ? out
		   : strdup("{\"ok\":false,\"error\":\"internal error\",\"code\":\"internal\"}");
}

char *control_request(const struct config *c, const char *line, size_t len)
{
	cfg = c;
	return control_handle(line, len);
}

/* ------------------------------------------------------------------ */
/* socket */

static void ctl_event_cb(struct bufferevent *bev, short what, void *arg);

/* The last response has gone out: close.  (Freeing at once would drop it.) */
static void ctl_drained_cb(struct bufferevent *bev, void *arg)
{
	bufferevent_free(bev);
}

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
				bufferevent_disable(bev, EV_READ);
				bufferevent_setcb(bev, NULL, ctl_drained_cb, ctl_event_cb, NULL);
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

/* ------------------------------------------------------------------ */
/* peer credentials */

#define CTL_ALLOW_MAX  64     /* entries per control_allow_* list */
#define CTL_GROUPS_MAX 65536  /* supplementary groups looked at per peer */

struct id_set {
	size_t n;
	id_t v[CTL_ALLOW_MAX];
};

/* Resolved once by control_start; read-only afterwards. */
static struct id_set allow_uids, allow_gids;

static int id_in(const id_t *v, size_t n, id_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == id)
			return 1;
	return 0;
}

/* A buffer size for the getpw*_r / getgr*_r family. */
static size_t nss_buf_size(int which)
{
	long n = sysconf(which);
	return n > 0 && n < (1L << 20) ? (size_t)n : 16384;
}

/*
 * The id of user (GROUPS 0) or group (GROUPS 1) NAME into *ID: 0, or -1
 * with errno 0 when there is no such name, else the lookup's error.
 * getpwnam_r and getgrnam_r report a missing name as success with no
 * result, and grow their buffer on ERANGE.
 */
static int id_lookup(const char *name, int groups, id_t *id)
{
	size_t len = nss_buf_size(groups ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
	for (;;) {
		char *buf = malloc(len);
		int rv;
		if (!buf) {
			errno = ENOMEM;
			return -1;
		}
		if (groups) {
			struct group gr, *res = NULL;
			rv = getgrnam_r(name, &gr, buf, len, &res);
			if (rv == 0 && res)
				*id = res->gr_gid;
			else if (rv == 0)
				rv = -1;
		} else {
			struct passwd pw, *res = NULL;
			rv = getpwnam_r(name, &pw, buf, len, &res);
			if (rv == 0 && res)
				*id = res->pw_uid;
			else if (rv == 0)
				rv = -1;
		}
		free(buf);
		if (rv == ERANGE && len < (1u << 24)) {
			len *= 2;
			continue;
		}
		if (rv == 0)
			return 0;
		/* glibc says "not found" as ENOENT, ESRCH, EBADF or EPERM, or as success. */
		errno = rv == -1 || rv == ENOENT || rv == ESRCH || rv == EBADF || rv == EPERM ? 0 : rv;
		return -1;
	}
}

/*
 * Resolve the control_allow_users (GROUPS 0) or control_allow_groups
 * (GROUPS 1) list LIST, names or numeric ids separated by commas and/or
 * blanks, into *SET.  A number is taken as an id as it is (it need not
 * exist); a name must.  0, or -1 with the reason in ERR.
 */
static int id_set_parse(const char *what, const char *list, int groups, struct id_set *set,
			char *err, size_t errlen)
{
	set->n = 0;
	for (const char *p = list;;) {
		p += strspn(p, ", \t");
		size_t n = strcspn(p, ", \t");
		if (n == 0)
			return 0;
		char tok[256];
		if (n >= sizeof(tok)) {
			snprintf(err, errlen, "%s: entry too long: %.40s...", what, p);
			return -1;
		}
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;
		if (set->n == CTL_ALLOW_MAX) {
			snprintf(err, errlen, "%s: more than %d entries", what, CTL_ALLOW_MAX);
			return -1;
		}
		id_t id;
		if (strspn(tok, "0123456789") == n) {
			errno = 0;
			unsigned long long v = strtoull(tok, NULL, 10);
			/* (id_t)-1 is "no id" to chown() and setreuid(): never a peer's. */
			if (errno || n > 10 || v >= 0xffffffffULL) {
				snprintf(err, errlen, "%s: %s is not a valid %s id", what, tok,
					 groups ? "group" : "user");
				return -1;
			}
			id = (id_t)v;
		} else if (id_lookup(tok, groups, &id) < 0) {
			if (errno)
				snprintf(err, errlen, "%s: cannot look up %s %s: %s", what,
					 groups ? "group" : "user", tok, strerror(errno));
			else
				snprintf(err, errlen, "%s: no such %s: %s", what,
					 groups ? "group" : "user", tok);
			return -1;
		}
		if (!id_in(set->v, set->n, id))
			set->v[set->n++] = id;
	}
}

/*
 * Is UID, as the group database has it, a member of one of the N groups V?
 * Supplementary groups are not in SO_PEERCRED, so they come from the
 * account (getgrouplist), not from the peer process: a client that dropped
 * a group it is listed in still counts as a member.  0 when UID has no
 * account or the lookup fails.
 */
static int uid_in_groups(uid_t uid, const id_t *v, size_t n)
{
	size_t len = nss_buf_size(_SC_GETPW_R_SIZE_MAX);
	char *buf = malloc(len);
	struct passwd pw, *res = NULL;
	int found = 0;
	while (buf && getpwuid_r(uid, &pw, buf, len, &res) == ERANGE && len < (1u << 24)) {
		char *nb = realloc(buf, len *= 2);
		if (!nb)
			break;
		buf = nb;
	}
	if (!buf || !res) {
		free(buf);
		return 0;
	}
	int ng = 64;
	gid_t *g = NULL;
	for (int tries = 0; tries < 4 && ng > 0 && ng <= CTL_GROUPS_MAX; tries++) {
		gid_t *ng_buf = realloc(g, (size_t)ng * sizeof(*g));
		if (!ng_buf)
			break;
		g = ng_buf;
		int want = ng;
		if (getgrouplist(pw.pw_name, pw.pw_gid, g, &ng) >= 0) {
			for (int i = 0; i < ng && !found; i++)
				found = id_in(v, n, g[i]);
			break;
		}
		if (ng <= want) /* no size to retry with */
			break;
	}
	free(g);
	free(buf);
	return found;
}

/*
 * May the peer CR use the control socket?  Root and the daemon's own user
 * always (read now, not at start: drop_privileges() changes them after the
 * socket is bound), then control_allow_users, then membership of
 * control_allow_groups, or of the daemon's own group when that list is
 * empty: by the peer's primary group, or by the group database.
 */
static int ctl_peer_allowed(const struct ucred *cr)
{
	if (cr->uid == 0 || cr->uid == geteuid() || id_in(allow_uids.v, allow_uids.n, cr->uid))
		return 1;
	id_t own = getegid();
	const id_t *gv = allow_gids.n ? allow_gids.v : &own;
	size_t gn = allow_gids.n ? allow_gids.n : 1;
	return id_in(gv, gn, cr->gid) || uid_in_groups(cr->uid, gv, gn);
}

/*
 * Turn a peer away: one response line, then close.  The line is a few
 * dozen octets into an empty socket buffer, so a non-blocking send()
 * writes it whole.  What the peer already sent is discarded unread (at
 * most a few KiB, never parsed): closing a Unix socket with unread input
 * makes the peer's next read fail with ECONNRESET instead of a clean end
 * of file.  The peer reads our line either way.
 */
static void ctl_refuse(evutil_socket_t fd, const char *line)
{
	char junk[4096];
	if (send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_kv(LOG_DEBUG, "control_refuse_failed", "error", strerror(errno), NULL);
	for (int i = 0; i < 4 && recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
		;
	close(fd);
}

static void ctl_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			  int len, void *arg)
{
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	char uid[16], gid[16], pid[16];
	int rv = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen);
	if (rv < 0 || crlen != sizeof(cr)) {
		STAT_INC(control_denied);
		log_kv(LOG_WARNING, "control_denied", "reason", "peer credentials unavailable",
		       "error", rv < 0 ? strerror(errno) : "short answer", NULL);
		ctl_refuse(fd, "{\"ok\":false,\"error\":\"permission denied: peer credentials "
			       "unavailable\",\"code\":\"denied\"}\n");
		return;
	}
	snprintf(uid, sizeof(uid), "%u", (unsigned)cr.uid);
	snprintf(gid, sizeof(gid), "%u", (unsigned)cr.gid);
	snprintf(pid, sizeof(pid), "%d", (int)cr.pid);
	if (!ctl_peer_allowed(&cr)) {
		char m[160];
		STAT_INC(control_denied);
		log_kv(LOG_NOTICE, "control_denied", "uid", uid, "gid", gid, "pid", pid, NULL);
		snprintf(m, sizeof(m),
			 "{\"ok\":false,\"error\":\"permission denied: uid %u is not allowed on "
			 "the control socket\",\"code\":\"denied\"}\n",
			 (unsigned)cr.uid);
		ctl_refuse(fd, m);
		return;
	}
	log_kv(LOG_DEBUG, "control_connect", "uid", uid, "gid", gid, "pid", pid, NULL);
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
	/* Names are resolved once, before anything is bound: a typo stops the start. */
	if (id_set_parse("control_allow_users", cfg->control_allow_users, 0, &allow_uids, err,
			 errlen) < 0 ||
	    id_set_parse("control_allow_groups", cfg->control_allow_groups, 1, &allow_gids, err,
			 errlen) < 0)
		return -1;
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
