/*
 * Unit tests of src/aws/creds.c that need no network: aws_env_load()
 * precedence, the refresh/backoff schedule, the container/IMDS JSON parser,
 * the container URL rule, and the credential chain up to the point where it
 * would talk to STS (environment, shared files, profile errors), with
 * IMDS disabled.  The keys below are made-up examples, never real ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/creds.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static const char *const vars[] = {
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SES",
    "AWS_ENDPOINT_URL_SESV2",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CA_BUNDLE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    "SESGATE_TEST_CONTAINER_ENDPOINT",
};

static char tmpdir[64];
static char path_config[128], path_creds[128];

/* Every test starts with none of the AWS variables, HOME in a fresh
 * directory (so ~/.aws is empty) and IMDS disabled (no network). */
static int setup(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_creds.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	setenv("HOME", tmpdir, 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	snprintf(path_config, sizeof(path_config), "%s/config", tmpdir);
	snprintf(path_creds, sizeof(path_creds), "%s/credentials", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path_config);
	unlink(path_creds);
	rmdir(tmpdir);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* ---- aws_env_load ---- */

static void test_env_region_precedence(void **state)
{
	struct aws_env e;
	char err[256];

	(void)state;
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no AWS region"));

	write_file(path_config,
	           "[default]\nregion = eu-west-3\n[profile other]\nregion = ap-south-1\n");
	setenv("AWS_CONFIG_FILE", path_config, 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), 0);
	assert_string_equal(e.region, "eu-west-3");
	setenv("AWS_PROFILE", "other", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), 0);
	assert_string_equal(e.region, "ap-south-1");

	setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), 0);
	assert_string_equal(e.region, "us-west-2");
	setenv("AWS_REGION", "eu-central-1", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), 0);
	assert_string_equal(e.region, "eu-central-1");
	assert_int_equal(aws_env_load(&e, "ca-central-1", err, sizeof(err)), 0);
	assert_string_equal(e.region, "ca-central-1");
	assert_int_equal(aws_env_load(&e, "", err, sizeof(err)), 0);
	assert_string_equal(e.region, "eu-central-1");

	/* Empty variables count as unset, as in the SDKs. */
	setenv("AWS_REGION", "", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), 0);
	assert_string_equal(e.region, "us-west-2");

	assert_int_equal(aws_env_load(&e, "Evil.example/x", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not valid"));
}

static void test_env_malformed_config(void **state)
{
	struct aws_env e;
	char err[256];

	(void)state;
	write_file(path_config, "[default\nregion = eu-west-3\n");
	setenv("AWS_CONFIG_FILE", path_config, 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "malformed"));
	assert_non_null(strstr(err, path_config));
	/* Not read at all when the region comes from the environment. */
	setenv("AWS_REGION", "us-east-1", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), 0);
}

static void test_env_endpoints(void **state)
{
	struct aws_env e;
	char err[256];

	(void)state;
	setenv("AWS_REGION", "eu-west-1", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), 0);
	assert_string_equal(e.ses_endpoint, "https://email.eu-west-1.amazonaws.com");
	assert_string_equal(e.sts_endpoint, "https://sts.eu-west-1.amazonaws.com");
	assert_string_equal(e.ca_bundle, "");

	setenv("AWS_ENDPOINT_URL", "https://all.example/", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), 0);
	assert_string_equal(e.ses_endpoint, "https://all.example");
	assert_string_equal(e.sts_endpoint, "https://all.example");

	setenv("AWS_ENDPOINT_URL_SES", "https://ses-v1.example", 1);
	setenv("AWS_ENDPOINT_URL_STS", "https://sts.example:8443//", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), 0);
	assert_string_equal(e.ses_endpoint, "https://ses-v1.example");
	assert_string_equal(e.sts_endpoint, "https://sts.example:8443");

	setenv("AWS_ENDPOINT_URL_SESV2", "http://127.0.0.1:4566", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), 0);
	assert_string_equal(e.ses_endpoint, "http://127.0.0.1:4566");

	setenv("AWS_ENDPOINT_URL_SESV2", "http://[::1]:4566/base", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), 0);
	assert_string_equal(e.ses_endpoint, "http://[::1]:4566/base");

	/* Plain http leaves the machine: refused. */
	setenv("AWS_ENDPOINT_URL_SESV2", "http://ses.example", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "AWS_ENDPOINT_URL_SESV2"));
	setenv("AWS_ENDPOINT_URL_SESV2", "https://user:pw@ses.example", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), -1);
	setenv("AWS_ENDPOINT_URL_SESV2", "https://ses.example/?x=1", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), -1);
	setenv("AWS_ENDPOINT_URL_SESV2", "ftp://ses.example", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), -1);
	setenv("AWS_ENDPOINT_URL_SESV2", "https://ses.example:99999", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), -1);
	unsetenv("AWS_ENDPOINT_URL_SESV2");

	setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "AWS_CA_BUNDLE"));
	write_file(path_creds, "not really a PEM\n");
	setenv("AWS_CA_BUNDLE", path_creds, 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), 0);
	assert_string_equal(e.ca_bundle, path_creds);
}

/* ---- schedule ---- */

static void test_needs_refresh(void **state)
{
	(void)state;
	assert_false(aws_creds_needs_refresh(0, 1000));
	assert_false(aws_creds_needs_refresh(100000, 100000 - 601));
	assert_false(aws_creds_needs_refresh(100000, 100000 - 600));
	assert_true(aws_creds_needs_refresh(100000, 100000 - 599));
	assert_true(aws_creds_needs_refresh(100000, 100000));
	assert_true(aws_creds_needs_refresh(100000, 200000));
}

static void test_refresh_at(void **state)
{
	(void)state;
	assert_int_equal(aws_creds_refresh_at(0, 1000), 0);
	/* one hour: 10 minutes before the end */
	assert_int_equal(aws_creds_refresh_at(1000 + 3600, 1000), 1000 + 3000);
	/* at most two windows long: halfway */
	assert_int_equal(aws_creds_refresh_at(1000 + 1200, 1000), 1000 + 600);
	assert_int_equal(aws_creds_refresh_at(1000 + 900, 1000), 1000 + 450);
	assert_int_equal(aws_creds_refresh_at(1000 + 4, 1000), 1002);
	/* nearly or already expired: not sooner than a second later */
	assert_int_equal(aws_creds_refresh_at(1000 + 1, 1000), 1001);
	assert_int_equal(aws_creds_refresh_at(1000 - 50, 1000), 1001);
}

static void test_backoff(void **state)
{
	static const unsigned want[] = {1, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300};
	unsigned i;

	(void)state;
	for (i = 1; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(aws_creds_backoff(i), want[i]);
	assert_int_equal(aws_creds_backoff(1000000), AWS_CREDS_BACKOFF_MAX);
}

/* ---- JSON ---- */

static const char imds_json[] =
    "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2026-11-29T03:00:00Z\",\n"
    "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"ASIAIMDSEXAMPLE00001\",\n"
    "  \"SecretAccessKey\" : \"imds\\/secret+EXAMPLE\",\n  \"Token\" : "
    "\"tok\\u00e9n\\ud83d\\ude00==\",\n"
    "  \"Expiration\" : \"2026-11-29T09:00:00Z\"\n}\n";

static void test_json_imds(void **state)
{
	struct aws_creds c;
	char err[128];

	(void)state;
	assert_int_equal(aws_creds_parse_json(S(imds_json), &c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key_id, "ASIAIMDSEXAMPLE00001");
	assert_string_equal(c.secret_access_key, "imds/secret+EXAMPLE");
	assert_string_equal(c.session_token, "tok\xc3\xa9n\xf0\x9f\x98\x80==");
	assert_int_equal(c.expiration, 1795942800); /* 2026-11-29T09:00:00Z */
	assert_string_equal(c.source, "");
	aws_creds_free(&c);
	assert_null(c.access_key_id);
	aws_creds_free(&c); /* idempotent */
}

static void test_json_container(void **state)
{
	static const char j[] =
	    "{\"RoleArn\":\"arn:aws:iam::111122223333:role/task\",\"AccessKeyId\":\"ASIACONT\","
	    "\"Nested\":{\"a\":[1,-2.5e+3,true,false,null,{\"b\":\"\\\"\"}],\"c\":{}},"
	    "\"SecretAccessKey\":\"s\",\"Token\":\"t\",\"Expiration\":\"2026-11-29T10:00:00+01:"
	    "00\","
	    "\"AccountId\":\"111122223333\",\"Empty\":[]}";
	struct aws_creds c;
	char err[128];

	(void)state;
	assert_int_equal(aws_creds_parse_json(S(j), &c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key_id, "ASIACONT");
	assert_int_equal(c.expiration, 1795942800);
	aws_creds_free(&c);
}

static void test_json_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{",
	    "{\"AccessKeyId\":\"a\",}",
	    "{\"AccessKeyId\":\"a\"} x",
	    "{\"AccessKeyId\":\"a\nb\"}",
	    "{\"AccessKeyId\":\"\\ud800\"}",
	    "{\"AccessKeyId\":\"\\udc00\"}",
	    "{\"AccessKeyId\":\"\\u0000\"}",
	    "{\"AccessKeyId\":\"\\x\"}",
	    "{\"X\":01}",
	    "{\"X\":1.}",
	    "{\"X\":tru}",
	    "{\"X\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}",
	    "{'AccessKeyId':'a'}",
	};
	struct aws_creds c;
	char err[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(aws_creds_parse_json(bad[i], strlen(bad[i]), &c, err, sizeof(err)),
		                 -1);
		assert_null(c.access_key_id);
		assert_null(c.secret_access_key);
		assert_string_equal(err, "credentials JSON is malformed");
	}
	assert_int_equal(aws_creds_parse_json(NULL, 0, &c, err, sizeof(err)), -1);
}

static void test_json_semantics(void **state)
{
	struct aws_creds c;
	char err[128];

	(void)state;
	assert_int_equal(
	    aws_creds_parse_json(S("{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"topsecret\","
	                           "\"Expiration\":\"2026-11-29T10:00:00Z\"}"),
	                         &c, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "Token"));
	assert_null(strstr(err, "topsecret"));

	assert_int_equal(
	    aws_creds_parse_json(S("{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"topsecret\","
	                           "\"Token\":\"T\",\"Expiration\":\"tomorrow\"}"),
	                         &c, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "Expiration"));

	assert_int_equal(
	    aws_creds_parse_json(S("{\"Code\":\"AssumeRoleUnauthorizedAccess\","
	                           "\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\","
	                           "\"Token\":\"T\",\"Expiration\":\"2026-11-29T10:00:00Z\"}"),
	                         &c, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "Code"));

	assert_int_equal(aws_creds_parse_json(S("{\"AccessKeyId\":\"A\",\"AccessKeyId\":\"B\"}"),
	                                      &c, err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "duplicate"));

	assert_int_equal(aws_creds_parse_json(S("{\"AccessKeyId\":12}"), &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a string"));

	assert_int_equal(
	    aws_creds_parse_json(S("{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"s\","
	                           "\"Token\":\"T\",\"Expiration\":\"2026-11-29T10:00:00Z\"}"),
	                         &c, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "AccessKeyId"));
}

/* ---- container URL rule ---- */

static void test_container_url(void **state)
{
	(void)state;
	assert_true(aws_container_url_allowed("http://169.254.170.2/v2/credentials/abc"));
	assert_true(aws_container_url_allowed("http://169.254.170.23/v1/credentials"));
	assert_true(aws_container_url_allowed("http://[fd00:ec2::23]/v1/credentials"));
	assert_true(aws_container_url_allowed("http://127.0.0.1:8080/creds"));
	assert_true(aws_container_url_allowed("http://127.1.2.3/creds"));
	assert_true(aws_container_url_allowed("http://localhost/creds"));
	assert_true(aws_container_url_allowed("http://[::1]:99/creds"));
	assert_true(aws_container_url_allowed("https://creds.example/x"));
	assert_false(aws_container_url_allowed("http://creds.example/x"));
	assert_false(aws_container_url_allowed("http://169.254.169.254/latest"));
	assert_false(aws_container_url_allowed("http://10.0.0.1/creds"));
	assert_false(aws_container_url_allowed("http://127.0.0.1@evil.example/creds"));
	assert_false(aws_container_url_allowed("http://localhost.evil.example/creds"));
	assert_false(aws_container_url_allowed("file:///etc/passwd"));
	assert_false(aws_container_url_allowed("http://127.0.0.1/a b"));
	assert_false(aws_container_url_allowed(""));
	assert_false(aws_container_url_allowed(NULL));
}

/* ---- copy ---- */

static void test_copy(void **state)
{
	struct aws_creds a = {.access_key_id = "AKIAEXAMPLE",
	                      .secret_access_key = "sec",
	                      .session_token = NULL,
	                      .expiration = 42,
	                      .source = "env"};
	struct aws_creds b;

	(void)state;
	assert_int_equal(aws_creds_copy(&b, &a), 0);
	assert_string_equal(b.access_key_id, "AKIAEXAMPLE");
	assert_ptr_not_equal(b.access_key_id, a.access_key_id);
	assert_string_equal(b.secret_access_key, "sec");
	assert_null(b.session_token);
	assert_int_equal(b.expiration, 42);
	assert_string_equal(b.source, "env");
	aws_creds_free(&b);
	aws_creds_free(NULL);
}

/* ---- the chain, without network ---- */

/* Start an identity for the current environment; returns the start result
 * and fills @c (when READY) and @last_error. */
static int resolve(struct aws_creds *c, char *last_error, size_t errlen, char *akid, size_t akidlen)
{
	struct aws_identity *id;
	struct aws_env e;
	char err[256], src[32];
	time_t exp;
	int rc;

	memset(c, 0, sizeof(*c));
	setenv("AWS_REGION", "us-east-1", 1);
	assert_int_equal(aws_env_load(&e, NULL, err, sizeof(err)), 0);
	id = aws_identity_new(&e);
	assert_non_null(id);
	rc = aws_identity_start(id);
	aws_identity_status(id, src, sizeof(src), akid, akidlen, &exp, last_error, errlen);
	if (rc == AWS_IDENTITY_READY) {
		assert_int_equal(aws_identity_get(id, c), 0);
		assert_string_equal(src, c->source);
		assert_string_equal(last_error, "");
		/* Static keys: an invalidation re-reads and finds the same. */
		aws_identity_invalidate(id, "AKIASOMETHINGELSE");
		aws_identity_invalidate(id, NULL);
	} else {
		assert_int_equal(aws_identity_get(id, c), -1);
		assert_string_equal(src, "");
	}
	aws_identity_free(id);
	return rc;
}

static void test_chain_env(void **state)
{
	struct aws_creds c;
	char last[256], akid[32];

	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIAENVEXAMPLE000001", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "env/secret", 1);
	setenv("AWS_SESSION_TOKEN", "envtoken", 1);
	/* A credentials file too: the environment wins. */
	write_file(path_creds,
	           "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = f\n");
	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_READY);
	assert_string_equal(c.source, "env");
	assert_string_equal(c.access_key_id, "AKIAENVEXAMPLE000001");
	assert_string_equal(c.secret_access_key, "env/secret");
	assert_string_equal(c.session_token, "envtoken");
	assert_int_equal(c.expiration, 0);
	assert_string_equal(akid, "AKIA...0001");
	aws_creds_free(&c);

	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_PENDING);
	assert_non_null(strstr(last, "AWS_SECRET_ACCESS_KEY"));
}

static void test_chain_files(void **state)
{
	struct aws_creds c;
	char last[256], akid[32];

	(void)state;
	/* Default locations under $HOME/.aws are used when the variables
	 * are unset; here the variables point into the temp dir. */
	setenv("AWS_SHARED_CREDENTIALS_FILE", path_creds, 1);
	setenv("AWS_CONFIG_FILE", path_config, 1);
	write_file(path_creds,
	           "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = d\n"
	           "[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = dev\n");
	write_file(
	    path_config,
	    "[profile cfg]\naws_access_key_id = AKIACFG\naws_secret_access_key = c\n"
	    "[profile empty]\nregion = us-east-1\n"
	    "[profile half]\naws_access_key_id = AKIAHALF\n"
	    "[profile norole]\nrole_arn = arn:aws:iam::111122223333:role/x\n"
	    "[profile a]\nrole_arn = arn:aws:iam::111122223333:role/a\nsource_profile = b\n"
	    "[profile b]\nrole_arn = arn:aws:iam::111122223333:role/b\nsource_profile = a\n"
	    "[profile self]\nrole_arn = arn:aws:iam::111122223333:role/s\nsource_profile = self\n");

	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_READY);
	assert_string_equal(c.source, "shared-credentials");
	assert_string_equal(c.access_key_id, "AKIADEFAULT");
	aws_creds_free(&c);

	setenv("AWS_PROFILE", "dev", 1);
	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_READY);
	assert_string_equal(c.access_key_id, "AKIADEV");
	assert_string_equal(akid, "AKIA");
	aws_creds_free(&c);

	setenv("AWS_PROFILE", "cfg", 1);
	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_READY);
	assert_string_equal(c.source, "shared-config");
	assert_string_equal(c.access_key_id, "AKIACFG");
	aws_creds_free(&c);

	/* A profile without credentials falls through to the rest of the
	 * chain (nothing else here). */
	setenv("AWS_PROFILE", "empty", 1);
	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_PENDING);
	assert_non_null(strstr(last, "no AWS credentials found"));

	setenv("AWS_PROFILE", "missing", 1);
	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_PENDING);
	assert_non_null(strstr(last, "profile missing (AWS_PROFILE) is in neither"));

	setenv("AWS_PROFILE", "half", 1);
	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_PENDING);
	assert_non_null(strstr(last, "must both be set"));

	setenv("AWS_PROFILE", "norole", 1);
	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_PENDING);
	assert_non_null(strstr(last, "needs source_profile"));

	setenv("AWS_PROFILE", "a", 1);
	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_PENDING);
	assert_non_null(strstr(last, "source_profile loop"));

	setenv("AWS_PROFILE", "self", 1);
	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_PENDING);
	assert_non_null(strstr(last, "itself"));
}

static void test_chain_malformed(void **state)
{
	struct aws_creds c;
	char last[256], akid[32];

	(void)state;
	setenv("AWS_SHARED_CREDENTIALS_FILE", path_creds, 1);
	write_file(path_creds,
	           "[default]\naws_access_key_id = AKIAX\naws_secret_access_key = topsecret\n"
	           "this line is not ini\n");
	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_PENDING);
	assert_non_null(strstr(last, "malformed"));
	assert_non_null(strstr(last, path_creds));
	assert_null(strstr(last, "topsecret"));
}

static void test_chain_container_refused(void **state)
{
	struct aws_creds c;
	char last[256], akid[32];

	(void)state;
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://creds.example/x", 1);
	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_PENDING);
	assert_non_null(strstr(last, "not allowed"));
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/no-slash", 1);
	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_PENDING);
	assert_non_null(strstr(last, "must start with /"));
}

static void test_chain_web_identity_file_missing(void **state)
{
	struct aws_creds c;
	char last[256], akid[32], path[160];

	(void)state;
	snprintf(path, sizeof(path), "%s/no-such-token", tmpdir);
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path, 1);
	setenv("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/wi", 1);
	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_PENDING);
	assert_non_null(strstr(last, "does not exist"));
	setenv("AWS_ROLE_SESSION_NAME", "bad name!", 1);
	assert_int_equal(resolve(&c, last, sizeof(last), akid, sizeof(akid)), AWS_IDENTITY_PENDING);
	assert_non_null(strstr(last, "session name"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_env_region_precedence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_env_malformed_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_env_endpoints, setup, teardown),
	    cmocka_unit_test(test_needs_refresh),
	    cmocka_unit_test(test_refresh_at),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_json_imds),
	    cmocka_unit_test(test_json_container),
	    cmocka_unit_test(test_json_bad),
	    cmocka_unit_test(test_json_semantics),
	    cmocka_unit_test(test_container_url),
	    cmocka_unit_test(test_copy),
	    cmocka_unit_test_setup_teardown(test_chain_env, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chain_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chain_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chain_container_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chain_web_identity_file_missing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
