/*
 * awsid.c - sg-awsid: which AWS identity would the gateway use, and does it
 * work?  (Not installed; used by tests/integration/test_credchain.py and by
 * operators debugging a deployment.)
 *
 * Loads the region and endpoints (aws_env_load), resolves the process's
 * credentials through the standard chain (aws_identity_start) and prints
 * one JSON line: {"source","access_key_id","expiration","region",
 * "ses_endpoint","sts_endpoint"}.  Then, unless --no-call, it makes one
 * SigV4-signed SES v2 GetAccount call (GET /v2/email/account) and prints
 * {"status":N,"error":CODE|null,"retried":BOOL}; when AWS answers
 * ExpiredToken/InvalidClientTokenId it invalidates the identity, waits for
 * the refresher to replace the credentials and retries once.  With
 * --watch S it then keeps polling for S seconds and prints a line each time
 * the refresher replaced the credentials.
 *
 * Never prints or logs a secret key or session token.  Single-threaded
 * apart from the identity's refresher.
 *
 * Exit: 0 success, 1 GetAccount did not answer 200, 2 usage or environment
 * error, 3 no credentials.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "aws/creds.h"
#include "aws/sigv4.h"
#include "log.h"
#include "util.h"

struct call_result {
	long status;
	char error_type[128];
};

static void print_json(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (s)
		printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(o);
}

static json_t *expiration_json(time_t t)
{
	char buf[32];

	if (!t)
		return json_null();
	util_iso8601((uint64_t)t, buf, sizeof(buf));
	return json_string(buf);
}

static void print_identity(const struct aws_creds *c, const struct aws_env *e, int full)
{
	json_t *o = json_object();

	json_object_set_new(o, "source", json_string(c->source));
	json_object_set_new(o, "access_key_id", json_string(c->access_key_id));
	json_object_set_new(o, "expiration", expiration_json(c->expiration));
	if (full) {
		json_object_set_new(o, "region", json_string(e->region));
		json_object_set_new(o, "ses_endpoint", json_string(e->ses_endpoint));
		json_object_set_new(o, "sts_endpoint", json_string(e->sts_endpoint));
	}
	print_json(o);
}

/* Keep the x-amzn-ErrorType value (sanitised as restJson1 says: before the
 * first ':', after the last '#'). */
static size_t header_cb(char *d, size_t sz, size_t nm, void *arg)
{
	static const char name[] = "x-amzn-errortype:";
	struct call_result *r = arg;
	size_t n = sz * nm, i;
	const char *v, *hash;

	if (n > sizeof(name) - 1 && strncasecmp(d, name, sizeof(name) - 1) == 0) {
		v = d + sizeof(name) - 1;
		while (v < d + n && (*v == ' ' || *v == '\t'))
			v++;
		for (i = 0; v + i < d + n && i + 1 < sizeof(r->error_type); i++) {
			if (v[i] == ':' || v[i] == '\r' || v[i] == '\n')
				break;
			r->error_type[i] = v[i];
		}
		r->error_type[i] = '\0';
		hash = strrchr(r->error_type, '#');
		if (hash)
			memmove(r->error_type, hash + 1, strlen(hash + 1) + 1);
	}
	return n;
}

static size_t discard_cb(char *d, size_t sz, size_t nm, void *arg)
{
	(void)d;
	(void)arg;
	return sz * nm;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *name, const char *value)
{
	char line[8192];

	snprintf(line, sizeof(line), "%s: %s", name, value);
	l = curl_slist_append(l, line);
	util_wipe(line, sizeof(line));
	return l;
}

static void slist_wipe_free(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p; p = p->next)
		util_wipe(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* One signed GET /v2/email/account.  0 when an answer arrived, -1 otherwise. */
static int get_account(const struct aws_env *e, const struct aws_creds *c, struct call_result *r)
{
	const char *a = strstr(e->ses_endpoint, "://");
	char host[512], base_path[512], path[600], url[700];
	struct sigv4_header sh[] = {{"Host", host}};
	struct sigv4_request rq = {.method = "GET", .path = path, .headers = sh, .nheaders = 1};
	struct sigv4_credentials sc = {c->access_key_id, c->secret_access_key, c->session_token};
	struct sigv4_result sig = {0};
	struct curl_slist *h = NULL;
	CURLcode cc;
	CURL *curl;
	size_t n;

	memset(r, 0, sizeof(*r));
	if (!a)
		return -1;
	a += 3;
	n = strcspn(a, "/");
	snprintf(host, sizeof(host), "%.*s", (int)n, a);
	util_strlcpy(base_path, a + n, sizeof(base_path));
	snprintf(path, sizeof(path), "%s/v2/email/account", base_path);
	snprintf(url, sizeof(url), "%s/v2/email/account", e->ses_endpoint);
	if (sigv4_sign(&rq, &sc, e->region, "ses", time(NULL), &sig)) {
		fprintf(stderr, "sg-awsid: signing failed\n");
		return -1;
	}
	h = add_header(h, "Host", host);
	h = add_header(h, "X-Amz-Date", sig.amz_date);
	h = add_header(h, "Authorization", sig.authorization);
	if (sig.security_token)
		h = add_header(h, "X-Amz-Security-Token", sig.security_token);
	h = add_header(h, "Accept", "application/json");
	sigv4_result_free(&sig);

	curl = curl_easy_init();
	if (!curl || !h) {
		slist_wipe_free(h);
		if (curl)
			curl_easy_cleanup(curl);
		return -1;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (e->ca_bundle[0])
		curl_easy_setopt(curl, CURLOPT_CAINFO, e->ca_bundle);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 15000L);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_cb);
	cc = curl_easy_perform(curl);
	if (cc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	else
		fprintf(stderr, "sg-awsid: GetAccount: %s\n", curl_easy_strerror(cc));
	curl_easy_cleanup(curl);
	slist_wipe_free(h);
	return cc == CURLE_OK ? 0 : -1;
}

static int refused_credentials(const struct call_result *r)
{
	static const char *const codes[] = {"ExpiredToken", "ExpiredTokenException",
	                                    "InvalidClientTokenId", "UnrecognizedClientException"};
	size_t i;

	if (r->status != 403 && r->status != 400)
		return 0;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(r->error_type, codes[i]) == 0)
			return 1;
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Wait up to @ms for credentials with an access key id other than @akid. */
static int wait_new_creds(struct aws_identity *id, const char *akid, long ms, struct aws_creds *out)
{
	for (; ms > 0; ms -= 100) {
		if (aws_identity_get(id, out) == 0) {
			if (strcmp(out->access_key_id, akid) != 0)
				return 0;
			aws_creds_free(out);
		}
		sleep_ms(100);
	}
	return -1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sg-awsid [--region REGION] [--no-call] [--watch SECONDS]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"region", required_argument, NULL, 'r'},
	                                     {"no-call", no_argument, NULL, 'n'},
	                                     {"watch", required_argument, NULL, 'w'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *region = NULL;
	struct aws_identity *id;
	struct aws_creds c = {0}, c2 = {0};
	struct call_result r = {0};
	struct aws_env env;
	char err[512], src[32], akid[32], last[256];
	int ch, call = 1, rc = 0, retried = 0;
	long watch = 0;
	time_t exp;

	while ((ch = getopt_long(argc, argv, "r:nw:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			region = optarg;
			break;
		case 'n':
			call = 0;
			break;
		case 'w':
			watch = strtol(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	log_init_early();
	if (aws_env_load(&env, region, err, sizeof(err))) {
		fprintf(stderr, "sg-awsid: %s\n", err);
		return 2;
	}
	id = aws_identity_new(&env);
	if (!id) {
		fprintf(stderr, "sg-awsid: out of memory\n");
		return 2;
	}
	if (aws_identity_start(id) != AWS_IDENTITY_READY || aws_identity_get(id, &c)) {
		aws_identity_status(id, src, sizeof(src), akid, sizeof(akid), &exp, last,
		                    sizeof(last));
		fprintf(stderr, "sg-awsid: no AWS credentials: %s\n", last[0] ? last : "unknown");
		aws_identity_free(id);
		return 3;
	}
	print_identity(&c, &env, 1);

	if (call) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		if (get_account(&env, &c, &r) == 0 && refused_credentials(&r)) {
			aws_identity_invalidate(id, c.access_key_id);
			if (wait_new_creds(id, c.access_key_id, 10000, &c2) == 0) {
				aws_creds_free(&c);
				c = c2;
			}
			retried = 1;
			get_account(&env, &c, &r);
		}
		print_json(json_pack("{s:I,s:o,s:b}", "status", (json_int_t)r.status, "error",
		                     r.error_type[0] ? json_string(r.error_type) : json_null(),
		                     "retried", retried));
		rc = r.status == 200 ? 0 : 1;
		curl_global_cleanup();
	}

	for (; watch > 0; watch--) {
		int i;

		for (i = 0; i < 10; i++) {
			if (aws_identity_get(id, &c2) == 0) {
				if (strcmp(c2.access_key_id, c.access_key_id) != 0) {
					print_identity(&c2, &env, 0);
					aws_creds_free(&c);
					c = c2;
					memset(&c2, 0, sizeof(c2));
				} else {
					aws_creds_free(&c2);
				}
			}
			sleep_ms(100);
		}
	}
	aws_creds_free(&c);
	aws_identity_free(id);
	return rc;
}
