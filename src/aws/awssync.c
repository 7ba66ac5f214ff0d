/*
 * awssync.c - see awssync.h.
 */
#include "aws/awssync.h"
#include "aws/awsreq.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SYNC_MAX_RESPONSE (4u << 20)

struct sink {
	struct aws_sync_resp *rs;
	size_t cap;
	int too_big;
};

static size_t body_cb(char *p, size_t sz, size_t nm, void *arg)
{
	struct sink *k = arg;
	size_t n = sz * nm;
	if (k->rs->len + n + 1 > SYNC_MAX_RESPONSE) {
		k->too_big = 1;
		return 0;
	}
	if (k->rs->len + n + 1 > k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 4096;
		while (cap < k->rs->len + n + 1)
			cap *= 2;
		char *b = realloc(k->rs->body, cap);
		if (!b)
			return 0;
		k->rs->body = b;
		k->cap = cap;
	}
	memcpy(k->rs->body + k->rs->len, p, n);
	k->rs->len += n;
	k->rs->body[k->rs->len] = '\0';
	return n;
}

static size_t header_cb(char *line, size_t sz, size_t nm, void *arg)
{
	struct sink *k = arg;
	size_t n = sz * nm;
	static const char name[] = "x-amzn-ErrorType:";
	if (n > sizeof(name) && strncasecmp(line, name, sizeof(name) - 1) == 0) {
		const char *v = line + sizeof(name) - 1;
		size_t l = n - (sizeof(name) - 1);
		while (l && (*v == ' ' || *v == '\t'))
			v++, l--;
		while (l && (v[l - 1] == '\r' || v[l - 1] == '\n' || v[l - 1] == ' '))
			l--;
		if (l >= sizeof(k->rs->error_type))
			l = sizeof(k->rs->error_type) - 1;
		memcpy(k->rs->error_type, v, l);
		k->rs->error_type[l] = '\0';
	}
	return n;
}

static int progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const _Atomic int *abort = arg;
	return abort && atomic_load(abort) ? 1 : 0;
}

int aws_sync_call(const struct aws_sync_req *rq, const struct sigv4_credentials *cr,
		  struct aws_sync_resp *rs)
{
	memset(rs, 0, sizeof(*rs));
	struct sigv4_header target = {"X-Amz-Target", rq->target};
	char *hdr[AWSREQ_MAX_HEADERS], *url = NULL;
	int n = awsreq_sign(rq->method, rq->endpoint, rq->path, rq->content_type,
			    rq->target ? &target : NULL, rq->target ? 1 : 0,
			    rq->body ? rq->body : "", rq->body ? rq->len : 0, cr, rq->region,
			    rq->service, time(NULL), hdr, &url);
	if (n < 0) {
		snprintf(rs->err, sizeof(rs->err), "cannot sign the request");
		return -1;
	}
	struct curl_slist *sl = curl_slist_append(NULL, "Expect:");
	for (int i = 0; i < n; i++)
		sl = curl_slist_append(sl, hdr[i]);
	awsreq_free_headers(hdr, n);
	CURL *e = curl_easy_init();
	if (!e || !sl) {
		if (e)
			curl_easy_cleanup(e);
		curl_slist_free_all(sl);
		free(url);
		snprintf(rs->err, sizeof(rs->err), "out of memory");
		return -1;
	}
	struct sink k = {rs, 0, 0};
	char ebuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, sl);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &k);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &k);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, rq->timeout_ms < 10000 ? rq->timeout_ms : 10000L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "sesgate/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, (void *)rq->abort);
	if (rq->ca_bundle && *rq->ca_bundle)
		curl_easy_setopt(e, CURLOPT_CAINFO, rq->ca_bundle);
	if (strcmp(rq->method, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rq->body ? rq->len : 0));
	}
	CURLcode rc = curl_easy_perform(e);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &rs->status);
	} else {
		snprintf(rs->err, sizeof(rs->err), "%s",
			 k.too_big ? "response too large" : (ebuf[0] ? ebuf : curl_easy_strerror(rc)));
	}
	curl_easy_cleanup(e);
	curl_slist_free_all(sl);
	free(url);
	if (!rs->body)
		rs->body = calloc(1, 1);
	return rc == CURLE_OK ? 0 : -1;
}

void aws_sync_resp_free(struct aws_sync_resp *rs)
{
	free(rs->body);
	rs->body = NULL;
	rs->len = 0;
}
