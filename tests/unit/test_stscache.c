/*
 * Unit tests of src/aws/stscache.c (per-tenant STS credential cache) with a
 * fake clock, and of src/aws/awsreq.c (signed request headers), whose
 * signature is checked against sigv4_sign() directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/awsreq.h"
#include "aws/stscache.h"

static struct aws_temp_creds mk(const char *ak, time_t exp)
{
	struct aws_temp_creds c = {strdup(ak), strdup("secret"), strdup("token"), exp};
	return c;
}

static void test_single_flight_and_hit(void **st)
{
	struct stscache *c = stscache_new(600, 120);
	struct aws_temp_creds out = {0};
	char err[64];
	time_t at;
	time_t now = 1000000;
	assert_int_equal(stscache_get(c, "t1", now, &out, err, sizeof(err), &at), STSC_REFRESH);
	/* a second caller while the first fetches waits */
	assert_int_equal(stscache_get(c, "t1", now, &out, err, sizeof(err), &at), STSC_WAIT);
	/* another tenant is independent */
	assert_int_equal(stscache_get(c, "t2", now, &out, err, sizeof(err), &at), STSC_REFRESH);
	struct aws_temp_creds n = mk("ASIA1", now + 3600);
	stscache_put(c, "t1", &n, now);
	assert_null(n.access_key_id); /* taken over */
	assert_int_equal(stscache_get(c, "t1", now + 1, &out, err, sizeof(err), &at), STSC_HIT);
	assert_string_equal(out.access_key_id, "ASIA1");
	assert_string_equal(out.session_token, "token");
	aws_temp_creds_free(&out);
	assert_int_equal(stscache_size(c), 2);
	stscache_free(c);
}

static void test_refresh_before_expiry(void **st)
{
	struct stscache *c = stscache_new(600, 120);
	struct aws_temp_creds out = {0};
	time_t now = 5000;
	assert_int_equal(stscache_get(c, "k", now, &out, NULL, 0, NULL), STSC_REFRESH);
	struct aws_temp_creds n = mk("ASIA1", now + 3600);
	stscache_put(c, "k", &n, now);
	/* 10 minutes before expiry: still used, one caller refreshes */
	now += 3600 - 599;
	assert_int_equal(stscache_get(c, "k", now, &out, NULL, 0, NULL), STSC_HIT_REFRESH);
	aws_temp_creds_free(&out);
	assert_int_equal(stscache_get(c, "k", now, &out, NULL, 0, NULL), STSC_HIT);
	aws_temp_creds_free(&out);
	/* the refresh is in flight: others keep using the old ones */
	now += 60;
	assert_int_equal(stscache_get(c, "k", now, &out, NULL, 0, NULL), STSC_HIT);
	aws_temp_creds_free(&out);
	/* in the last minute they are no longer handed out; the refresh never
	 * reported back, so after its lease another caller takes over */
	now += 599 - 60 - 30;
	assert_int_equal(stscache_get(c, "k", now, &out, NULL, 0, NULL), STSC_REFRESH);
	assert_int_equal(stscache_get(c, "k", now, &out, NULL, 0, NULL), STSC_WAIT);
	stscache_free(c);
}

static void test_backoff_doubles(void **st)
{
	struct stscache *c = stscache_new(600, 120);
	struct aws_temp_creds out = {0};
	char err[64];
	time_t at = 0, now = 100;
	int expect[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300};
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		assert_int_equal(stscache_get(c, "k", now, &out, err, sizeof(err), &at), STSC_REFRESH);
		stscache_fail(c, "k", now, "AccessDenied: no");
		assert_int_equal(stscache_get(c, "k", now, &out, err, sizeof(err), &at), STSC_BACKOFF);
		assert_string_equal(err, "AccessDenied: no");
		assert_int_equal(at, now + expect[i]);
		now = at;
	}
	/* success resets the backoff */
	assert_int_equal(stscache_get(c, "k", now, &out, err, sizeof(err), &at), STSC_REFRESH);
	struct aws_temp_creds n = mk("ASIA2", now + 3600);
	stscache_put(c, "k", &n, now);
	assert_int_equal(stscache_get(c, "k", now, &out, err, sizeof(err), &at), STSC_HIT);
	aws_temp_creds_free(&out);
	stscache_free(c);
}

static void test_invalidate_once(void **st)
{
	struct stscache *c = stscache_new(600, 120);
	struct aws_temp_creds out = {0};
	time_t now = 100;
	assert_int_equal(stscache_get(c, "k", now, &out, NULL, 0, NULL), STSC_REFRESH);
	struct aws_temp_creds n = mk("ASIA1", now + 3600);
	stscache_put(c, "k", &n, now);
	/* a stale key id (already replaced) changes nothing */
	stscache_invalidate(c, "k", "ASIAOLD");
	assert_int_equal(stscache_get(c, "k", now, &out, NULL, 0, NULL), STSC_HIT);
	aws_temp_creds_free(&out);
	stscache_invalidate(c, "k", "ASIA1");
	assert_int_equal(stscache_get(c, "k", now, &out, NULL, 0, NULL), STSC_REFRESH);
	/* the burst of other ExpiredToken answers: still one refresh */
	stscache_invalidate(c, "k", "ASIA1");
	assert_int_equal(stscache_get(c, "k", now, &out, NULL, 0, NULL), STSC_WAIT);
	stscache_invalidate(c, "unknown", "x");
	stscache_free(c);
}

static void test_split_url(void **st)
{
	char host[64], base[64];
	assert_int_equal(awsreq_split_url("https://email.us-east-1.amazonaws.com", host,
					  sizeof(host), base, sizeof(base)), 0);
	assert_string_equal(host, "email.us-east-1.amazonaws.com");
	assert_string_equal(base, "");
	assert_int_equal(awsreq_split_url("https://127.0.0.1:8443/prefix/", host, sizeof(host),
					  base, sizeof(base)), 0);
	assert_string_equal(host, "127.0.0.1:8443");
	assert_string_equal(base, "/prefix");
	assert_int_equal(awsreq_split_url("ftp://x", host, sizeof(host), base, sizeof(base)), -1);
	assert_int_equal(awsreq_split_url("https://u:p@x", host, sizeof(host), base, sizeof(base)), -1);
	assert_int_equal(awsreq_split_url("https://x/?a=b", host, sizeof(host), base, sizeof(base)), -1);
	assert_int_equal(awsreq_split_url("https:///p", host, sizeof(host), base, sizeof(base)), -1);
}

static void test_sign_headers(void **st)
{
	struct sigv4_credentials cr = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
				       "tok"};
	char *h[AWSREQ_MAX_HEADERS], *url = NULL;
	const char body[] = "{\"a\":1}";
	int n = awsreq_sign("POST", "https://127.0.0.1:8443/base", "/v2/email/outbound-emails",
			    "application/json", NULL, 0, body, sizeof(body) - 1, &cr, "us-east-1", "ses",
			    1440938160, h, &url);
	assert_int_equal(n, 5);
	assert_string_equal(url, "https://127.0.0.1:8443/base/v2/email/outbound-emails");
	assert_string_equal(h[0], "Host: 127.0.0.1:8443");
	assert_string_equal(h[1], "Content-Type: application/json");
	assert_string_equal(h[2], "X-Amz-Date: 20150830T123600Z");
	assert_string_equal(h[3], "X-Amz-Security-Token: tok");
	/* Same signature as signing the request directly. */
	struct sigv4_header hd[] = {{"Host", "127.0.0.1:8443"}, {"Content-Type", "application/json"}};
	struct sigv4_request rq = {.method = "POST", .path = "/base/v2/email/outbound-emails",
				   .headers = hd, .nheaders = 2, .payload = body,
				   .payload_len = sizeof(body) - 1};
	struct sigv4_result res = {0};
	assert_int_equal(sigv4_sign(&rq, &cr, "us-east-1", "ses", 1440938160, &res), 0);
	char want[1024];
	snprintf(want, sizeof(want), "Authorization: %s", res.authorization);
	assert_string_equal(h[4], want);
	assert_non_null(strstr(h[4], "/us-east-1/ses/aws4_request"));
	assert_null(strstr(h[4], cr.secret_key));
	sigv4_result_free(&res);
	awsreq_free_headers(h, n);
	free(url);
	/* GET without body and without a session token */
	cr.session_token = NULL;
	n = awsreq_sign("GET", "https://email.us-east-1.amazonaws.com", "/v2/email/account", NULL,
			NULL, 0, "", 0, &cr, "us-east-1", "ses", 1440938160, h, &url);
	assert_int_equal(n, 3);
	assert_string_equal(url, "https://email.us-east-1.amazonaws.com/v2/email/account");
	awsreq_free_headers(h, n);
	free(url);
	/* an extra header (awsJson1_1 X-Amz-Target) is sent and signed */
	struct sigv4_header target = {"X-Amz-Target", "AWSOrganizationsV20161128.ListRoots"};
	n = awsreq_sign("POST", "https://organizations.us-east-1.amazonaws.com", "/",
			"application/x-amz-json-1.1", &target, 1, "{}", 2, &cr, "us-east-1",
			"organizations", 1440938160, h, &url);
	assert_int_equal(n, 5);
	assert_string_equal(h[2], "X-Amz-Target: AWSOrganizationsV20161128.ListRoots");
	assert_non_null(strstr(h[n - 1], "SignedHeaders=content-type;host;x-amz-date;x-amz-target,"));
	awsreq_free_headers(h, n);
	free(url);
	assert_int_equal(awsreq_sign("GET", "nonsense", "/", NULL, NULL, 0, "", 0, &cr, "us-east-1", "ses",
				     1440938160, h, &url), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_flight_and_hit),
		cmocka_unit_test(test_refresh_before_expiry),
		cmocka_unit_test(test_backoff_doubles),
		cmocka_unit_test(test_invalidate_once),
		cmocka_unit_test(test_split_url),
		cmocka_unit_test(test_sign_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
