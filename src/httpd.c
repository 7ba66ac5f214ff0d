/*
 * httpd.c - see httpd.h.
 *
 * The handlers talk to Redis with a blocking connection of this thread's
 * own: every request here is small (an SNS message, a scrape), the thread
 * serves nothing else, and a blocking round trip of a fraction of a
 * millisecond is simpler and no slower than a chain of callbacks.  Nothing
 * here may run on an SMTP or delivery loop.
 */
#include "httpd.h"
#include "config.h"
#include "keys.h"
#include "log.h"
#include "tls.h"
#include "rconn.h"
#include "sesgate.h"
#include "stats.h"
#include "util.h"
#include "webhooks.h"
#include "worker.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HTTP_MAX_BODY (256 * 1024) /* SNS messages are at most 256 KB */

static const struct config *cfg;
static pthread_t th;
static int running;
static struct event_base *base;
static struct evhttp *http;
static SSL_CTX *tls;
static redisContext *rc;


/* ---- Redis, reconnecting ------------------------------------------------- */

static redisContext *redis(void)
{
	if (rc && rc->err) {
		redisFree(rc);
		rc = NULL;
	}
	if (!rc) {
		char err[256];
		rc = rconn_connect_sync(cfg, err, sizeof(err));
	}
	return rc;
}

static redisReply *hcmd(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = rconn_sync_vcmd(redis(), fmt, ap);
	va_end(ap);
	return r;
}

/* ---- small replies ------------------------------------------------------- */

static void reply_text(struct evhttp_request *req, int code, const char *reason,
		       const char *ctype, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason, body);
}

static void reply_msg(struct evhttp_request *req, int code, const char *reason, const char *msg)
{
	struct evbuffer *b = evbuffer_new();
	if (b)
		evbuffer_add_printf(b, "%s\n", msg);
	reply_text(req, code, reason, "text/plain; charset=utf-8", b);
	if (b)
		evbuffer_free(b);
}

/* ---- /healthz, /readyz ---------------------------------------------------- */

static void h_healthz(struct evhttp_request *req, void *arg)
{
	reply_msg(req, HTTP_OK, "OK", "ok");
}

/* Ready: Redis answers (the queue is usable) and the delivery threads the
 * configuration asks for are running. */
static void h_readyz(struct evhttp_request *req, void *arg)
{
	redisReply *r = hcmd("PING");
	int ok = r != NULL;
	if (r)
		freeReplyObject(r);
	if (!ok)
		reply_msg(req, 503, "Service Unavailable", "redis unreachable");
	else if (workers_running() < cfg->workers)
		reply_msg(req, 503, "Service Unavailable", "delivery threads not running");
	else
		reply_msg(req, HTTP_OK, "OK", "ready");
}

/* ---- /metrics ------------------------------------------------------------- */

/* Prometheus label values escape backslash, quote and newline. */
static void label(struct evbuffer *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(b, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, v, 1);
	}
}

static void metric_head(struct evbuffer *b, const char *name, const char *help, const char *type)
{
	evbuffer_add_printf(b, "# HELP sesgate_%s %s\n# TYPE sesgate_%s %s\n", name, help, name,
			    type);
}

/* Per-tenant queue figures, pipelined: one round trip per batch of tenants. */
static void tenant_metrics(struct evbuffer *b)
{
	redisReply *t = hcmd("HGETALL %s", KEY_TENANTS);
	if (!t || t->type != REDIS_REPLY_ARRAY) {
		if (t)
			freeReplyObject(t);
		return;
	}
	redisContext *c = redis();
	size_t n = t->elements / 2;
	uint64_t now = util_now_ms();
	struct evbuffer *depth = evbuffer_new(), *oldest = evbuffer_new(), *dlq = evbuffer_new(),
		       *inflight = evbuffer_new(), *state = evbuffer_new(), *events = evbuffer_new();
	for (size_t i = 0; c && i < n; i++) {
		const char *tid = t->element[2 * i + 1]->str;
		char k1[KEY_MAX], k2[KEY_MAX], k3[KEY_MAX], k4[KEY_MAX];
		redisAppendCommand(c, "ZCARD %s", key_all(k1, tid));
		redisAppendCommand(c, "ZRANGE %s 0 0 WITHSCORES", k1);
		redisAppendCommand(c, "ZCARD %s", key_dlq(k2, tid));
		redisAppendCommand(c, "ZCARD %s", key_inflight(k3, tid));
		redisAppendCommand(c, "HGET %s state", key_tenant(k4, tid));
		char kd[KEY_MAX];
		time_t tnow = time(NULL);
		struct tm tm;
		gmtime_r(&tnow, &tm);
		snprintf(kd, sizeof(kd), "sg:{%s}:stats:%04d%02d%02d", tid, tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday);
		redisAppendCommand(c, "HGETALL %s", kd);
	}
	for (size_t i = 0; c && i < n; i++) {
		const char *name = t->element[2 * i]->str;
		redisReply *r[6] = {0};
		int bad = 0;
		for (int k = 0; k < 6; k++)
			if (redisGetReply(c, (void **)&r[k]) != REDIS_OK)
				bad = 1;
		if (!bad) {
			evbuffer_add_printf(depth, "sesgate_queue_depth{tenant=\"");
			label(depth, name);
			evbuffer_add_printf(depth, "\"} %lld\n", r[0]->integer);
			double age = 0;
			if (r[1]->type == REDIS_REPLY_ARRAY && r[1]->elements == 2) {
				uint64_t a = strtoull(r[1]->element[1]->str, NULL, 10);
				age = a && now > a ? (double)(now - a) / 1000.0 : 0;
			}
			evbuffer_add_printf(oldest, "sesgate_queue_oldest_seconds{tenant=\"");
			label(oldest, name);
			evbuffer_add_printf(oldest, "\"} %.3f\n", age);
			evbuffer_add_printf(dlq, "sesgate_queue_dead_letters{tenant=\"");
			label(dlq, name);
			evbuffer_add_printf(dlq, "\"} %lld\n", r[2]->integer);
			evbuffer_add_printf(inflight, "sesgate_queue_in_flight{tenant=\"");
			label(inflight, name);
			evbuffer_add_printf(inflight, "\"} %lld\n", r[3]->integer);
			evbuffer_add_printf(state, "sesgate_tenant_state{tenant=\"");
			label(state, name);
			evbuffer_add_printf(state, "\",state=\"");
			label(state, r[4]->type == REDIS_REPLY_STRING ? r[4]->str : "unknown");
			evbuffer_add_printf(state, "\"} 1\n");
			for (size_t e = 0; r[5]->type == REDIS_REPLY_ARRAY && e + 1 < r[5]->elements;
			     e += 2) {
				evbuffer_add_printf(events, "sesgate_ses_events_today{tenant=\"");
				label(events, name);
				evbuffer_add_printf(events, "\",type=\"");
				label(events, r[5]->element[e]->str);
				evbuffer_add_printf(events, "\"} %s\n", r[5]->element[e + 1]->str);
			}
		}
		for (int k = 0; k < 6; k++)
			if (r[k])
				freeReplyObject(r[k]);
		if (bad)
			break;
	}
	metric_head(b, "queue_depth", "messages queued per tenant", "gauge");
	evbuffer_add_buffer(b, depth);
	metric_head(b, "queue_oldest_seconds", "age of the oldest queued message per tenant",
		    "gauge");
	evbuffer_add_buffer(b, oldest);
	metric_head(b, "queue_in_flight", "messages being delivered per tenant", "gauge");
	evbuffer_add_buffer(b, inflight);
	metric_head(b, "queue_dead_letters", "dead-lettered messages per tenant", "gauge");
	evbuffer_add_buffer(b, dlq);
	metric_head(b, "tenant_state", "tenant state (active, paused, provisioning, failed)",
		    "gauge");
	evbuffer_add_buffer(b, state);
	metric_head(b, "ses_events_today", "SES events of the current UTC day per tenant and type",
		    "gauge");
	evbuffer_add_buffer(b, events);
	evbuffer_free(events);
	evbuffer_free(depth);
	evbuffer_free(oldest);
	evbuffer_free(dlq);
	evbuffer_free(inflight);
	evbuffer_free(state);
	freeReplyObject(t);
}

/* A counter is NAME_total (once: "sessions_total" stays as it is). */
static void metric_counter(struct evbuffer *b, const char *name, const char *help, uint64_t v)
{
	size_t n = strlen(name);
	const char *suffix = n > 6 && strcmp(name + n - 6, "_total") == 0 ? "" : "_total";
	char full[96];
	snprintf(full, sizeof(full), "%s%s", name, suffix);
	metric_head(b, full, help, "counter");
	evbuffer_add_printf(b, "sesgate_%s %llu\n", full, (unsigned long long)v);
}

/* SES calls by outcome and their latency histogram (stats.c). */
static void ses_call_metrics(struct evbuffer *b)
{
	metric_head(b, "ses_calls_by_outcome_total", "SES API calls by outcome", "counter");
	for (int o = 0; o < STATS_SES_OUTCOMES; o++)
		if (stats_ses_outcome_name(o))
			evbuffer_add_printf(b, "sesgate_ses_calls_by_outcome_total{outcome=\"%s\"} %llu\n",
					    stats_ses_outcome_name(o),
					    (unsigned long long)atomic_load(&g_ses_outcome[o]));
	metric_head(b, "ses_call_seconds", "latency of SES API calls", "histogram");
	uint64_t cum = 0;
	for (int i = 0; i < STATS_SES_BUCKETS; i++) {
		cum += atomic_load(&g_ses_latency[i]);
		if (i + 1 < STATS_SES_BUCKETS)
			evbuffer_add_printf(b, "sesgate_ses_call_seconds_bucket{le=\"%g\"} %llu\n",
					    stats_ses_bucket_le[i], (unsigned long long)cum);
		else
			evbuffer_add_printf(b, "sesgate_ses_call_seconds_bucket{le=\"+Inf\"} %llu\n",
					    (unsigned long long)cum);
	}
	evbuffer_add_printf(b, "sesgate_ses_call_seconds_sum %.6f\n",
			    (double)atomic_load(&g_ses_latency_sum_us) / 1e6);
	evbuffer_add_printf(b, "sesgate_ses_call_seconds_count %llu\n", (unsigned long long)cum);
}

static void h_metrics(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();
	if (!b) {
		reply_msg(req, 500, "Internal Server Error", "out of memory");
		return;
	}
#define METRIC_COUNTER(name, help) metric_counter(b, #name, help, STAT_GET(name));
#define METRIC_GAUGE(name, help)                                                            \
	metric_head(b, #name, help, "gauge");                                              \
	evbuffer_add_printf(b, "sesgate_" #name " %llu\n", (unsigned long long)STAT_GET(name));
	STATS_COUNTERS(METRIC_COUNTER)
	STATS_GAUGES(METRIC_GAUGE)
#undef METRIC_COUNTER
#undef METRIC_GAUGE
	ses_call_metrics(b);
	metric_head(b, "smtp_replies_total", "SMTP replies sent, by reply code", "counter");
	for (int code = 200; code < 600; code++) {
		uint64_t n = atomic_load(&g_smtp_replies[code]);
		if (n)
			evbuffer_add_printf(b, "sesgate_smtp_replies_total{code=\"%d\"} %llu\n", code,
					    (unsigned long long)n);
	}
	metric_head(b, "uptime_seconds", "seconds since start", "gauge");
	evbuffer_add_printf(b, "sesgate_uptime_seconds %llu\n",
			    (unsigned long long)((util_now_ms() - g_start_ms) / 1000));
	tenant_metrics(b);
	reply_text(req, HTTP_OK, "OK", "text/plain; version=0.0.4; charset=utf-8", b);
	evbuffer_free(b);
}

/* ---- dispatch -------------------------------------------------------------- */

void sns_handle(struct evhttp_request *req, const struct config *cfg, redisContext *rc);

static void h_any(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	if (!path)
		path = "/";
	STAT_INC(http_requests);
	if (strcmp(path, "/sns") == 0) {
		if (m != EVHTTP_REQ_POST) {
			reply_msg(req, 405, "Method Not Allowed", "POST only");
			return;
		}
		sns_handle(req, cfg, redis());
		return;
	}
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		reply_msg(req, 405, "Method Not Allowed", "GET only");
		return;
	}
	if (strcmp(path, "/metrics") == 0)
		h_metrics(req, arg);
	else if (strcmp(path, "/healthz") == 0)
		h_healthz(req, arg);
	else if (strcmp(path, "/readyz") == 0)
		h_readyz(req, arg);
	else
		reply_msg(req, HTTP_NOTFOUND, "Not Found", "not found");
}

static struct bufferevent *tls_bev_cb(struct event_base *b, void *arg)
{
	SSL *ssl = SSL_new(tls);
	if (!ssl)
		return NULL;
	return bufferevent_openssl_socket_new(b, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

static void *httpd_main(void *arg)
{
	event_base_dispatch(base);
	return NULL;
}

/* "host:port" or "[v6]:port" into HOST and PORT. */
static int split_addr(const char *s, char *host, size_t hcap, unsigned short *port)
{
	const char *colon;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= hcap)
			return -1;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= hcap)
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	char *e;
	long p = strtol(colon + 1, &e, 10);
	if (*e || p < 1 || p > 65535)
		return -1;
	*port = (unsigned short)p;
	if (strcmp(host, "*") == 0)
		strcpy(host, "0.0.0.0");
	return 0;
}

int httpd_start(const struct config *c, char *err, size_t errlen)
{
	if (!c->http_listen[0])
		return 0;
	cfg = c;
	char host[256];
	unsigned short port;
	if (split_addr(c->http_listen, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "http_listen: %s is not HOST:PORT", c->http_listen);
		return -1;
	}
	base = event_base_new();
	http = base ? evhttp_new(base) : NULL;
	if (!http) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	evhttp_set_max_body_size(http, HTTP_MAX_BODY);
	evhttp_set_max_headers_size(http, 16384);
	evhttp_set_timeout(http, 30);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_gencb(http, h_any, NULL);
	if (c->http_tls_cert[0]) {
		tls = tls_ctx_new(c, c->http_tls_cert, c->http_tls_key, err, errlen);
		if (!tls)
			return -1;
		evhttp_set_bevcb(http, tls_bev_cb, NULL);
	}
	if (!evhttp_bind_socket_with_handle(http, host, port)) {
		snprintf(err, errlen, "http_listen %s: cannot bind", c->http_listen);
		return -1;
	}
	if (webhooks_start(base, c, redis) < 0) {
		snprintf(err, errlen, "cannot start the webhook sender");
		return -1;
	}
	if (pthread_create(&th, NULL, httpd_main, NULL) != 0) {
		snprintf(err, errlen, "cannot start the HTTP thread");
		return -1;
	}
	running = 1;
	log_kv(LOG_INFO, "http_listening", "address", c->http_listen, "tls",
	       tls ? "yes" : "no", NULL);
	return 0;
}

void httpd_stop(void)
{
	if (!running)
		return;
	event_base_loopbreak(base);
	pthread_join(th, NULL);
	running = 0;
	webhooks_stop();
	evhttp_free(http);
	event_base_free(base);
	if (tls)
		SSL_CTX_free(tls);
	if (rc)
		redisFree(rc);
	rc = NULL;
}
