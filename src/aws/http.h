/*
 * http.h - asynchronous HTTPS client: libcurl's multi interface driven by
 * one libevent loop (socket and timer callbacks on that loop).
 *
 * One `struct http` per event loop (per delivery thread); it is used only by
 * the thread owning that loop.  Connections are reused across requests
 * (keep-alive, HTTP/2 multiplexing when the server offers it).  TLS
 * verification is always on.  Nothing here knows about AWS or SMTP.
 */
#ifndef SESGATE_AWS_HTTP_H
#define SESGATE_AWS_HTTP_H

#include <stddef.h>

struct event_base;
struct curl_slist;
struct http;

struct http_resp {
	long status;           /* HTTP status; 0 = no response (ERR says why) */
	const char *body;      /* NUL-terminated (extra NUL after LEN) */
	size_t len;
	const char *err;       /* transport error text, or NULL */
	const char *error_type; /* x-amzn-ErrorType header or NULL */
	const char *request_id; /* x-amzn-RequestId header or NULL */
	double seconds;        /* total time of the transfer */
};

/* Called once per request, on the loop's thread.  R is valid during the call. */
typedef void http_done_cb(const struct http_resp *r, void *arg);

/* CA_BUNDLE: PEM file of trusted CAs or NULL/"" for the system store. */
struct http *http_new(struct event_base *base, const char *ca_bundle);
/* Aborts every pending request; their callbacks are NOT called. */
void http_free(struct http *h);

/*
 * Start a request.  HEADERS (may be NULL) and BODY (heap, may be NULL) are
 * taken over and freed by http.  TIMEOUT_MS bounds the whole transfer.
 * Returns 0, or -1 when the request could not be started (nothing taken
 * over is leaked; CB is not called).
 */
int http_send(struct http *h, const char *method, const char *url, struct curl_slist *headers,
	      char *body, size_t len, long timeout_ms, http_done_cb *cb, void *arg);

/* Requests started and not yet completed. */
int http_pending(const struct http *h);

#endif
