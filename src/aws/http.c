/*
 * http.c - see http.h.
 *
 * The curl multi handle tells us which sockets to watch (socket_cb) and when
 * to wake it up (timer_cb); libevent tells curl when a socket is ready
 * (event_cb) or the timer fired (timeout_cb).  Completed transfers are
 * collected after every curl_multi_socket_action() call.  Each easy handle
 * carries its request through CURLOPT_PRIVATE.
 *
 * Completion callbacks run from inside that collection loop; they may start
 * new requests (curl allows adding handles there) but must not free the
 * http object.
 */
#include "aws/http.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* AWS answers are small; anything larger is a broken or hostile peer. */
#define HTTP_MAX_RESPONSE (4u << 20)
#define HDR_VALUE_MAX 256

struct http {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	char *ca_bundle;
	int pending;
	int running;
	struct http_req *reqs; /* every started request, for http_free */
};

struct http_req {
	struct http_req *prev, *next;
	struct http *h;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	char *resp;
	size_t len, cap;
	int too_big;
	char error_type[HDR_VALUE_MAX];
	char request_id[HDR_VALUE_MAX];
	char errbuf[CURL_ERROR_SIZE];
	http_done_cb *cb;
	void *arg;
};

/* Per watched socket: its libevent event (curl_multi_assign). */
struct http_sock {
	struct event *ev;
	struct http *h;
};

static void req_unlink(struct http_req *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		q->h->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
}

static void req_free(struct http_req *q)
{
	curl_slist_free_all(q->headers);
	free(q->body);
	free(q->resp);
	free(q);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_req *q = arg;
	size_t n = size * nmemb;
	if (q->len + n + 1 > HTTP_MAX_RESPONSE) {
		q->too_big = 1;
		return 0; /* aborts the transfer */
	}
	if (q->len + n + 1 > q->cap) {
		size_t cap = q->cap ? q->cap : 1024;
		while (cap < q->len + n + 1)
			cap *= 2;
		char *p = realloc(q->resp, cap);
		if (!p)
			return 0;
		q->resp = p;
		q->cap = cap;
	}
	memcpy(q->resp + q->len, ptr, n);
	q->len += n;
	q->resp[q->len] = '\0';
	return n;
}

/* Keep the two AWS response headers the callers classify errors by. */
static void header_value(const char *line, size_t n, const char *name, char *out)
{
	size_t nl = strlen(name);
	if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return;
	const char *v = line + nl + 1, *end = line + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	size_t len = (size_t)(end - v);
	if (len >= HDR_VALUE_MAX)
		len = HDR_VALUE_MAX - 1;
	memcpy(out, v, len);
	out[len] = '\0';
}

static size_t header_cb(char *line, size_t size, size_t nmemb, void *arg)
{
	struct http_req *q = arg;
	size_t n = size * nmemb;
	header_value(line, n, "x-amzn-ErrorType", q->error_type);
	header_value(line, n, "x-amzn-RequestId", q->request_id);
	return n;
}

static void check_done(struct http *h)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(h->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *e = m->easy_handle;
		CURLcode rc = m->data.result;
		struct http_req *q = NULL;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&q);
		struct http_resp r = {0};
		if (rc == CURLE_OK) {
			curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
		} else {
			r.err = q->too_big ? "response too large"
					   : (q->errbuf[0] ? q->errbuf : curl_easy_strerror(rc));
		}
		curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &r.seconds);
		r.body = q->resp ? q->resp : "";
		r.len = q->len;
		r.error_type = q->error_type[0] ? q->error_type : NULL;
		r.request_id = q->request_id[0] ? q->request_id : NULL;
		curl_multi_remove_handle(h->multi, e);
		curl_easy_cleanup(e);
		req_unlink(q);
		h->pending--;
		q->cb(&r, q->arg);
		req_free(q);
	}
}

static void event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	curl_multi_socket_action(h->multi, fd, flags, &h->running);
	check_done(h);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &h->running);
	check_done(h);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct http *h = arg;
	if (timeout_ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	/* 0 means "now": still go through the loop, never recurse into curl. */
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	evtimer_add(h->timer, &tv);
	return 0;
}

static int socket_cb(CURL *e, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct http *h = arg;
	struct http_sock *hs = sockp;
	if (what == CURL_POLL_REMOVE) {
		if (hs) {
			event_free(hs->ev);
			free(hs);
			curl_multi_assign(h->multi, s, NULL);
		}
		return 0;
	}
	short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) |
			     (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);
	if (!hs) {
		hs = calloc(1, sizeof(*hs));
		if (!hs)
			return -1;
		hs->h = h;
		curl_multi_assign(h->multi, s, hs);
	} else {
		event_free(hs->ev);
	}
	hs->ev = event_new(h->base, s, kind, event_cb, h);
	if (!hs->ev)
		return -1;
	event_add(hs->ev, NULL);
	return 0;
}

struct http *http_new(struct event_base *base, const char *ca_bundle)
{
	struct http *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->base = base;
	h->multi = curl_multi_init();
	h->timer = evtimer_new(base, timeout_cb, h);
	h->ca_bundle = ca_bundle && *ca_bundle ? strdup(ca_bundle) : NULL;
	if (!h->multi || !h->timer || (ca_bundle && *ca_bundle && !h->ca_bundle)) {
		http_free(h);
		return NULL;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	/* Enough idle connections to keep one per in-flight call warm. */
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, 256L);
	return h;
}

void http_free(struct http *h)
{
	if (!h)
		return;
	if (h->multi) {
		/* Pending requests are dropped without their callbacks. */
		while (h->reqs) {
			struct http_req *q = h->reqs;
			h->reqs = q->next;
			curl_multi_remove_handle(h->multi, q->easy);
			curl_easy_cleanup(q->easy);
			req_free(q);
		}
		curl_multi_cleanup(h->multi);
	}
	if (h->timer)
		event_free(h->timer);
	free(h->ca_bundle);
	free(h);
}

int http_pending(const struct http *h)
{
	return h->pending;
}

int http_send(struct http *h, const char *method, const char *url, struct curl_slist *headers,
	      char *body, size_t len, long timeout_ms, http_done_cb *cb, void *arg)
{
	struct http_req *q = calloc(1, sizeof(*q));
	CURL *e = curl_easy_init();
	if (!q || !e) {
		free(q);
		if (e)
			curl_easy_cleanup(e);
		curl_slist_free_all(headers);
		free(body);
		return -1;
	}
	q->h = h;
	q->easy = e;
	/* No "Expect: 100-continue" round trip, no Accept: forced by curl. */
	q->headers = curl_slist_append(headers, "Expect:");
	q->body = body;
	q->cb = cb;
	q->arg = arg;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)q);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, q);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, q->headers);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "sesgate/" PACKAGE_VERSION);
	if (h->ca_bundle)
		curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_bundle);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
	}
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		req_free(q);
		return -1;
	}
	q->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = q;
	h->reqs = q;
	h->pending++;
	return 0;
}
