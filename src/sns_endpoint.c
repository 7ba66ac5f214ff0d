/*
 * sns_endpoint.c - POST /sns on the HTTP listener: SES events arriving as
 * SNS HTTP(S) notifications.
 *
 * Order of checks, each refusal a 4xx with a log line and nothing stored:
 * the body parses as an SNS message of a known type; its topic is one we
 * subscribed; its SigningCertURL is https on an SNS host of the configured
 * partition with a .pem path; the certificate (fetched over verified TLS,
 * then cached) is valid now and its key verifies the signature (versions 1
 * and 2); its Timestamp is recent (no replays of old captures).  Only then
 * is a SubscriptionConfirmation confirmed (GET SubscribeURL, also on an SNS
 * host) or a Notification's SES record applied (events.c).
 *
 * Runs on the HTTP thread: blocking fetches are acceptable here (rare:
 * certificates are cached, confirmations happen once per subscription).
 */
#include "aws/sns.h"
#include "config.h"
#include "events.h"
#include "log.h"
#include "stats.h"
#include "util.h"

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CERT_CACHE 32
#define CERT_MAX (64 * 1024)
#define CERT_TTL (24 * 3600)
#define FETCH_TIMEOUT_MS 10000

void sns_handle(struct evhttp_request *req, const struct config *cfg, redisContext *rc);

static struct {
	char *url;
	char *pem;
	size_t len;
	time_t fetched;
} certs[CERT_CACHE];
static unsigned cert_next;

struct fetch_buf {
	char *p;
	size_t len, max;
};

static size_t fetch_cb(char *d, size_t sz, size_t nm, void *arg)
{
	struct fetch_buf *b = arg;
	size_t n = sz * nm;
	if (b->len + n > b->max)
		return 0;
	char *q = realloc(b->p, b->len + n + 1);
	if (!q)
		return 0;
	b->p = q;
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* GET URL over verified TLS; 0 and a heap body on HTTP 200. */
static int fetch(const struct config *cfg, const char *url, size_t max, char **body, size_t *len,
		 char *err, size_t errlen)
{
	CURL *e = curl_easy_init();
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	struct fetch_buf b = {NULL, 0, max};
	char ebuf[CURL_ERROR_SIZE] = "";
	const char *ca = cfg->sns_cert_ca[0] ? cfg->sns_cert_ca : getenv("AWS_CA_BUNDLE");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fetch_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)FETCH_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca && *ca)
		curl_easy_setopt(e, CURLOPT_CAINFO, ca);
	CURLcode rc = curl_easy_perform(e);
	long status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	if (rc != CURLE_OK || status != 200) {
		snprintf(err, errlen, "%s", rc != CURLE_OK ? (ebuf[0] ? ebuf : curl_easy_strerror(rc))
							   : "HTTP status not 200");
		free(b.p);
		return -1;
	}
	*body = b.p ? b.p : calloc(1, 1);
	*len = b.len;
	return 0;
}

static const char *cert_for(const struct config *cfg, const char *url, size_t *len, char *err,
			    size_t errlen)
{
	time_t now = time(NULL);
	for (int i = 0; i < CERT_CACHE; i++)
		if (certs[i].url && strcmp(certs[i].url, url) == 0 &&
		    now - certs[i].fetched < CERT_TTL) {
			*len = certs[i].len;
			return certs[i].pem;
		}
	char *pem;
	size_t n;
	if (fetch(cfg, url, CERT_MAX, &pem, &n, err, errlen) < 0)
		return NULL;
	unsigned slot = cert_next++ % CERT_CACHE;
	free(certs[slot].url);
	free(certs[slot].pem);
	certs[slot].url = strdup(url);
	certs[slot].pem = pem;
	certs[slot].len = n;
	certs[slot].fetched = now;
	*len = n;
	return pem;
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evbuffer *b = evbuffer_new();
	if (b)
		evbuffer_add_printf(b, "%s\n", text);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; charset=utf-8");
	evhttp_send_reply(req, code, reason, b);
	if (b)
		evbuffer_free(b);
}

static void refuse(struct evhttp_request *req, const char *why, const struct sns_msg *m)
{
	STAT_INC(sns_rejected);
	log_kv(LOG_WARNING, "sns_refused", "peer", evhttp_request_get_host(req), "reason", why,
	       "topic", m && m->topic_arn ? m->topic_arn : NULL, NULL);
	reply(req, 403, "Forbidden", "refused");
}

/* Is TOPIC one of the configured ones (sns_topics, else sns_topic_arn)? */
static int topic_ok(const struct config *cfg, const char *topic)
{
	const char *list = cfg->sns_topics[0] ? cfg->sns_topics : cfg->sns_topic_arn;
	char buf[sizeof(cfg->sns_topics)];
	snprintf(buf, sizeof(buf), "%s", list);
	const char *allowed[32];
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(buf, ", ", &save); t && n < 32; t = strtok_r(NULL, ", ", &save))
		allowed[n++] = t;
	return sns_topic_allowed(topic, allowed, n);
}

/* SubscribeURL must be https on an SNS host too. */
static int subscribe_url_ok(const struct config *cfg, const char *url)
{
	if (strncasecmp(url, "https://", 8) != 0)
		return 0;
	const char *a = url + 8;
	size_t al = strcspn(a, "/?#");
	if (al == 0 || al > 255 || a[al] != '/')
		return 0;
	char probe[300];
	snprintf(probe, sizeof(probe), "https://%.*s/x.pem", (int)al, a);
	return sns_cert_url_ok(probe, cfg->sns_cert_host);
}

void sns_handle(struct evhttp_request *req, const struct config *cfg, redisContext *rc)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *body = (const char *)evbuffer_pullup(in, -1);
	struct sns_msg m;
	char err[256];
	if (!body || sns_parse(body, len, &m, err, sizeof(err)) < 0) {
		STAT_INC(sns_rejected);
		log_kv(LOG_WARNING, "sns_refused", "reason", err, NULL);
		reply(req, 400, "Bad Request", "not an SNS message");
		return;
	}
	const char *hdr = evhttp_find_header(evhttp_request_get_input_headers(req),
					     "x-amz-sns-message-type");
	if (hdr && strcmp(hdr, sns_type_name(m.type)) != 0) {
		refuse(req, "x-amz-sns-message-type does not match the body", &m);
		goto out;
	}
	if (!topic_ok(cfg, m.topic_arn)) {
		refuse(req, "topic not subscribed", &m);
		goto out;
	}
	if (!sns_cert_url_ok(m.signing_cert_url, cfg->sns_cert_host)) {
		refuse(req, "SigningCertURL not on an SNS host", &m);
		goto out;
	}
	size_t plen = 0;
	const char *pem = cert_for(cfg, m.signing_cert_url, &plen, err, sizeof(err));
	if (!pem) {
		log_kv(LOG_WARNING, "sns_cert_fetch_failed", "url", m.signing_cert_url, "reason", err,
		       NULL);
		/* Not the sender's fault, perhaps: let SNS try again. */
		reply(req, 503, "Service Unavailable", "certificate unavailable");
		goto out;
	}
	struct sns_verify_opts opts = {.now = time(NULL)};
	if (sns_verify(&m, pem, plen, &opts, err, sizeof(err)) < 0) {
		refuse(req, err, &m);
		goto out;
	}
	time_t ts;
	if (sns_timestamp(&m, &ts) < 0 || (long)(time(NULL) - ts) > cfg->sns_max_age ||
	    (long)(ts - time(NULL)) > 300) {
		refuse(req, "Timestamp outside the accepted window (replay?)", &m);
		goto out;
	}
	if (m.type == SNS_NOTIFICATION) {
		enum events_result r = events_ingest(rc, cfg, m.message_id, m.message,
						     strlen(m.message), err, sizeof(err));
		if (r == EVENTS_RETRY) {
			reply(req, 500, "Internal Server Error", "try again");
			goto out;
		}
		if (r == EVENTS_IGNORED)
			log_kv(LOG_NOTICE, "ses_event_ignored", "sns_id", m.message_id, "reason", err,
			       NULL);
		reply(req, 200, "OK", "ok");
	} else if (m.type == SNS_SUBSCRIPTION_CONFIRMATION) {
		/* A confirmation is acted on once (SNS resends; captures replay). */
		char k[300];
		snprintf(k, sizeof(k), "sg:snsconf:%.200s", m.message_id);
		redisReply *d = rc ? redisCommand(rc, "SET %s 1 NX EX 86400", k) : NULL;
		int fresh = d && d->type == REDIS_REPLY_STATUS;
		if (d)
			freeReplyObject(d);
		if (!d) {
			reply(req, 500, "Internal Server Error", "try again");
			goto out;
		}
		if (!fresh) {
			refuse(req, "subscription confirmation seen before (replay)", &m);
			goto out;
		}
		if (!subscribe_url_ok(cfg, m.subscribe_url)) {
			refuse(req, "SubscribeURL not on an SNS host", &m);
			goto out;
		}
		char *resp = NULL;
		size_t rl;
		if (fetch(cfg, m.subscribe_url, 64 * 1024, &resp, &rl, err, sizeof(err)) < 0) {
			redisReply *x = redisCommand(rc, "DEL %s", k);
			if (x)
				freeReplyObject(x);
			log_kv(LOG_WARNING, "sns_confirm_failed", "topic", m.topic_arn, "reason", err,
			       NULL);
			reply(req, 502, "Bad Gateway", "confirmation failed");
			goto out;
		}
		free(resp);
		STAT_INC(sns_confirmed);
		log_kv(LOG_NOTICE, "sns_subscribed", "topic", m.topic_arn, NULL);
		reply(req, 200, "OK", "confirmed");
	} else {
		log_kv(LOG_WARNING, "sns_unsubscribed", "topic", m.topic_arn, "reason",
		       "the topic unsubscribed this endpoint: no more SES events until resubscribed",
		       NULL);
		reply(req, 200, "OK", "ok");
	}
out:
	sns_msg_free(&m);
}
