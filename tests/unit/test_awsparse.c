/*
 * Unit tests of src/aws/awsparse.c: the shared config/credentials INI
 * parser, the STS AssumeRole XML response parser and the XML error
 * document parser.  The credentials below are made-up examples in the
 * documented shapes, never real keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/awsparse.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* ---- INI ---- */

static const char creds_file[] =
	"# shared credentials\n"
	"[default]\n"
	"aws_access_key_id = AKIADEFAULTEXAMPLE\n"
	"aws_secret_access_key=defaultsecret\n"
	"\n"
	"; another comment\n"
	"[dev]\n"
	"AWS_Access_Key_Id   =   AKIADEVEXAMPLE   \n"
	"aws_secret_access_key = dev/secret+key\n"
	"aws_session_token = tok==\n"
	"unknown_key = whatever\n"
	"[profile dev]\n"
	"aws_access_key_id = LITERALPROFILEDEV\n";

static void test_ini_creds_default(void **state)
{
	struct aws_profile p;

	assert_int_equal(aws_ini_profile(S(creds_file), "default", 0, &p), 0);
	assert_string_equal(p.aws_access_key_id, "AKIADEFAULTEXAMPLE");
	assert_string_equal(p.aws_secret_access_key, "defaultsecret");
	assert_null(p.aws_session_token);
	assert_null(p.region);
	aws_profile_free(&p);
	assert_null(p.aws_access_key_id);
}

static void test_ini_creds_named(void **state)
{
	struct aws_profile p;

	assert_int_equal(aws_ini_profile(S(creds_file), "dev", 0, &p), 0);
	assert_string_equal(p.aws_access_key_id, "AKIADEVEXAMPLE");
	assert_string_equal(p.aws_secret_access_key, "dev/secret+key");
	assert_string_equal(p.aws_session_token, "tok==");
	aws_profile_free(&p);

	/* In the credentials file "[profile dev]" is a profile literally
	 * named "profile dev". */
	assert_int_equal(aws_ini_profile(S(creds_file), "profile dev", 0, &p), 0);
	assert_string_equal(p.aws_access_key_id, "LITERALPROFILEDEV");
	aws_profile_free(&p);

	assert_int_equal(aws_ini_profile(S(creds_file), "prod", 0, &p), 1);
	assert_null(p.aws_access_key_id);
}

static const char config_file[] =
	"[default]\r\n"
	"region = eu-west-1\r\n"
	"s3 =\r\n"
	"  max_concurrent_requests = 10\r\n"
	"  region = should-not-win\r\n"
	"\r\n"
	"[profile   ops]\r\n"
	"role_arn = arn:aws:iam::123456789012:role/ses-sender\r\n"
	"source_profile = default\r\n"
	"external_id = ext-id:1\r\n"
	"role_session_name = sesgate\r\n"
	"region = us-east-1\r\n"
	"region = us-west-2\r\n"
	"[sso-session corp]\r\n"
	"sso_region = us-east-1\r\n"
	"[web]\r\n"
	"web_identity_token_file = /var/run/token\r\n"
	"[profile web]\r\n"
	"web_identity_token_file = /run/secrets/token\r\n"
	"role_arn = arn:aws:iam::123456789012:role/web\r\n"
	"[profile ops]\r\n"
	"role_session_name = later\r\n";

static void test_ini_config_default_crlf_nested(void **state)
{
	struct aws_profile p;

	assert_int_equal(aws_ini_profile(S(config_file), "default", 1, &p), 0);
	assert_string_equal(p.region, "eu-west-1");
	assert_null(p.role_arn);
	aws_profile_free(&p);
}

static void test_ini_config_named(void **state)
{
	struct aws_profile p;

	assert_int_equal(aws_ini_profile(S(config_file), "ops", 1, &p), 0);
	assert_string_equal(p.role_arn, "arn:aws:iam::123456789012:role/ses-sender");
	assert_string_equal(p.source_profile, "default");
	assert_string_equal(p.external_id, "ext-id:1");
	/* Later duplicates win, also across a repeated section. */
	assert_string_equal(p.region, "us-west-2");
	assert_string_equal(p.role_session_name, "later");
	assert_null(p.aws_access_key_id);
	aws_profile_free(&p);

	assert_int_equal(aws_ini_profile(S(config_file), "web", 1, &p), 0);
	assert_string_equal(p.web_identity_token_file, "/run/secrets/token");
	aws_profile_free(&p);

	/* sso-session sections are not profiles. */
	assert_int_equal(aws_ini_profile(S(config_file), "corp", 1, &p), 1);
	assert_int_equal(aws_ini_profile(S(config_file), "sso-session corp", 1, &p), 1);
	/* In config style a bare [ops] would not count; [profile ops] does
	 * not count in credentials style. */
	assert_int_equal(aws_ini_profile(S(config_file), "ops", 0, &p), 1);
}

static void test_ini_profile_default_in_config(void **state)
{
	static const char t[] = "[profile default]\nregion = ap-south-1\n";
	struct aws_profile p;

	assert_int_equal(aws_ini_profile(S(t), "default", 1, &p), 0);
	assert_string_equal(p.region, "ap-south-1");
	aws_profile_free(&p);
}

static void test_ini_empty_and_no_newline(void **state)
{
	static const char t[] = "[a]\nregion =\naws_access_key_id=X";
	struct aws_profile p;

	assert_int_equal(aws_ini_profile(S(t), "a", 0, &p), 0);
	assert_string_equal(p.region, "");
	assert_string_equal(p.aws_access_key_id, "X");
	aws_profile_free(&p);
	assert_int_equal(aws_ini_profile("", 0, "a", 0, &p), 1);
	assert_int_equal(aws_ini_profile(S("[a]\n"), "a", 0, &p), 0);
	aws_profile_free(&p);
}

static void test_ini_malformed(void **state)
{
	struct aws_profile p;

	assert_int_equal(aws_ini_profile(S("key = before section\n[a]\n"), "a", 0, &p), -1);
	assert_int_equal(aws_ini_profile(S("[a\nx=1\n"), "a", 0, &p), -1);
	assert_int_equal(aws_ini_profile(S("[]\n"), "a", 0, &p), -1);
	assert_int_equal(aws_ini_profile(S("[a]\njust words\n"), "a", 0, &p), -1);
	assert_int_equal(aws_ini_profile(S("[a]\n= value\n"), "a", 0, &p), -1);
	/* Continuation of a secret: refused rather than guessed. */
	assert_int_equal(aws_ini_profile(S("[a]\naws_secret_access_key = ab\n  cd\n"),
					 "a", 0, &p), -1);
	/* Malformed elsewhere in the file still fails the file. */
	assert_int_equal(aws_ini_profile(S("[a]\nx=1\n[b]\ngarbage\n"), "a", 0, &p), -1);
	/* Embedded NUL. */
	assert_int_equal(aws_ini_profile("[a]\nx=1\0\n", 9, "a", 0, &p), -1);
	assert_int_equal(aws_ini_profile(S("[a]\n"), "", 0, &p), -1);
	assert_int_equal(aws_ini_profile(NULL, 0, "a", 0, &p), -1);
	assert_null(p.aws_access_key_id);
}

static void test_ini_len_bound(void **state)
{
	/* Only @len bytes are read: the second key is outside. */
	static const char t[] = "[a]\nregion=r1\nregion=r2\n";
	struct aws_profile p;

	assert_int_equal(aws_ini_profile(t, 14, "a", 0, &p), 0);
	assert_string_equal(p.region, "r1");
	aws_profile_free(&p);
}

/* ---- STS ---- */

#define TOKEN "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6exampleToken+/=="

static const char sts_ok[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
	"  <AssumeRoleResult>\n"
	"    <SourceIdentity>sesgate</SourceIdentity>\n"
	"    <AssumedRoleUser>\n"
	"      <Arn>arn:aws:sts::123456789012:assumed-role/ses-sender/sesgate</Arn>\n"
	"      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:sesgate</AssumedRoleId>\n"
	"    </AssumedRoleUser>\n"
	"    <Credentials>\n"
	"      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
	"      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>\n"
	"      <SessionToken>" TOKEN "</SessionToken>\n"
	"      <Expiration>2026-11-29T04:37:54Z</Expiration>\n"
	"    </Credentials>\n"
	"    <PackedPolicySize>6</PackedPolicySize>\n"
	"  </AssumeRoleResult>\n"
	"  <ResponseMetadata>\n"
	"    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>\n"
	"  </ResponseMetadata>\n"
	"</AssumeRoleResponse>\n";

#define EXP_2026 ((time_t)1795927074)	/* 2026-11-29T04:37:54Z */

static void test_sts_ok(void **state)
{
	struct aws_temp_creds c;

	assert_int_equal(aws_sts_parse_assume_role(S(sts_ok), &c), 0);
	assert_string_equal(c.access_key_id, "ASIAIOSFODNN7EXAMPLE");
	assert_string_equal(c.secret_access_key,
			    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
	assert_string_equal(c.session_token, TOKEN);
	assert_int_equal((long long)c.expiration, (long long)EXP_2026);
	aws_temp_creds_free(&c);
	assert_null(c.session_token);
}

static void test_sts_entities_cdata(void **state)
{
	static const char x[] =
		"<AssumeRoleResponse><AssumeRoleResult><Credentials>"
		"<AccessKeyId>A&amp;B&lt;&gt;&quot;&apos;&#65;&#x42;&#xe9;&#x1F600;</AccessKeyId>"
		"<SecretAccessKey><![CDATA[a<b&c]]>d<!-- x --></SecretAccessKey>"
		"<SessionToken>t</SessionToken>"
		"<Expiration>2026-11-29T04:37:54.123456Z</Expiration>"
		"</Credentials></AssumeRoleResult></AssumeRoleResponse>";
	struct aws_temp_creds c;

	assert_int_equal(aws_sts_parse_assume_role(S(x), &c), 0);
	assert_string_equal(c.access_key_id,
			    "A&B<>\"'AB\xc3\xa9\xf0\x9f\x98\x80");
	assert_string_equal(c.secret_access_key, "a<b&cd");
	assert_int_equal((long long)c.expiration, (long long)EXP_2026);
	aws_temp_creds_free(&c);
}

/* Build a response with the given credentials body. */
static int sts_with(const char *body, struct aws_temp_creds *c)
{
	char buf[2048];
	int n = snprintf(buf, sizeof(buf),
			 "<AssumeRoleResponse><AssumeRoleResult>%s"
			 "</AssumeRoleResult></AssumeRoleResponse>", body);

	assert_true(n > 0 && (size_t)n < sizeof(buf));
	return aws_sts_parse_assume_role(buf, (size_t)n, c);
}

#define AK "<AccessKeyId>AK</AccessKeyId>"
#define SK "<SecretAccessKey>SK</SecretAccessKey>"
#define ST "<SessionToken>ST</SessionToken>"
#define EX "<Expiration>2026-11-29T04:37:54Z</Expiration>"

static void test_sts_bad_entities(void **state)
{
	static const char *const bad[] = {
		"&foo;", "&amp", "&#;", "&#x;", "&#0;", "&#xD800;", "&#x110000;",
		"&#99999999999999999999;", "&#x1g;", "&", "&#1;",
	};
	struct aws_temp_creds c;
	char body[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body),
			 "<Credentials><AccessKeyId>%s</AccessKeyId>" SK ST EX
			 "</Credentials>", bad[i]);
		assert_int_equal(sts_with(body, &c), -1);
		assert_null(c.access_key_id);
	}
}

static void test_sts_missing_fields(void **state)
{
	struct aws_temp_creds c;

	assert_int_equal(sts_with("<Credentials>" AK SK EX "</Credentials>", &c), -1);
	assert_int_equal(sts_with("<Credentials>" AK ST EX "</Credentials>", &c), -1);
	assert_int_equal(sts_with("<Credentials>" SK ST EX "</Credentials>", &c), -1);
	assert_int_equal(sts_with("<Credentials>" AK SK ST "</Credentials>", &c), -1);
	assert_int_equal(sts_with("<Credentials>" AK SK "<SessionToken/>" EX
				  "</Credentials>", &c), -1);
	assert_int_equal(sts_with("<Credentials>" AK SK "<SessionToken> </SessionToken>"
				  EX "</Credentials>", &c), -1);
	assert_int_equal(sts_with("<Credentials/>", &c), -1);
	/* Fields outside <Credentials> are not picked up. */
	assert_int_equal(sts_with(AK "<Credentials>" SK ST EX "</Credentials>", &c), -1);
	assert_int_equal(sts_with("<Other>" AK SK ST EX "</Other>", &c), -1);
	/* Fields nested deeper inside Credentials are not direct children. */
	assert_int_equal(sts_with("<Credentials><X>" AK "</X>" SK ST EX
				  "</Credentials>", &c), -1);
	assert_int_equal(sts_with("<Credentials>" AK SK ST EX "</Credentials>", &c), 0);
	aws_temp_creds_free(&c);
}

static void test_sts_ambiguous(void **state)
{
	struct aws_temp_creds c;

	assert_int_equal(sts_with("<Credentials>" AK AK SK ST EX "</Credentials>", &c), -1);
	assert_int_equal(sts_with("<Credentials>" AK SK "</Credentials>"
				  "<Credentials>" ST EX "</Credentials>", &c), -1);
}

static void test_sts_malformed_xml(void **state)
{
	struct aws_temp_creds c;
	size_t n;

	/* Every proper prefix of a good document is refused. */
	for (n = 0; n < sizeof(sts_ok) - 2; n++)
		assert_int_equal(aws_sts_parse_assume_role(sts_ok, n, &c), -1);
	assert_int_equal(sts_with("<Credentials>" AK SK ST EX "</Credential>", &c), -1);
	assert_int_equal(sts_with("<Credentials>" AK SK ST EX "</Credentials", &c), -1);
	assert_int_equal(sts_with("<Credentials>" AK SK ST EX "</Credentials>junk<", &c), -1);
	assert_int_equal(aws_sts_parse_assume_role(S(
		"<!DOCTYPE x [<!ENTITY a \"b\">]><AssumeRoleResponse><Credentials>"
		AK SK ST EX "</Credentials></AssumeRoleResponse>"), &c), -1);
	assert_int_equal(aws_sts_parse_assume_role(S(
		"<A><Credentials>" AK SK ST EX "</Credentials></A><B/>"), &c), -1);
	assert_int_equal(aws_sts_parse_assume_role(S("text<A/>"), &c), -1);
	assert_int_equal(aws_sts_parse_assume_role(S("<A><![CDATA[x</A>"), &c), -1);
	assert_int_equal(aws_sts_parse_assume_role(S("<A><!-- x</A>"), &c), -1);
	assert_int_equal(aws_sts_parse_assume_role(S("<A b=\"></A>"), &c), -1);
	assert_int_equal(aws_sts_parse_assume_role("<A>\0</A>", 8, &c), -1);
	assert_int_equal(aws_sts_parse_assume_role(NULL, 0, &c), -1);
	assert_null(c.access_key_id);
}

static void test_sts_attributes_prefix(void **state)
{
	static const char x[] =
		"<sts:AssumeRoleResponse xmlns:sts='urn:x' a=\"1>2\">"
		"<sts:AssumeRoleResult><sts:Credentials>"
		"<sts:AccessKeyId>AK</sts:AccessKeyId>" SK ST
		"<Expiration>2026-11-29T05:37:54+01:00</Expiration>"
		"</sts:Credentials></sts:AssumeRoleResult></sts:AssumeRoleResponse>";
	struct aws_temp_creds c;

	assert_int_equal(aws_sts_parse_assume_role(S(x), &c), 0);
	assert_string_equal(c.access_key_id, "AK");
	assert_int_equal((long long)c.expiration, (long long)EXP_2026);
	aws_temp_creds_free(&c);
}

static void test_sts_deep(void **state)
{
	char buf[64 * 8 + 16];
	size_t o = 0;
	int i;
	struct aws_temp_creds c;

	for (i = 0; i < 40; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "<a>");
	for (i = 0; i < 40; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "</a>");
	assert_int_equal(aws_sts_parse_assume_role(buf, o, &c), -1);
}

static void test_sts_huge(void **state)
{
	static const char head[] = "<R><Credentials>" AK SK EX "<SessionToken>";
	static const char tail[] = "</SessionToken></Credentials></R>";
	size_t big = 64 * 1024, n;
	char *x = malloc(sizeof(head) + big + 1 + sizeof(tail));
	struct aws_temp_creds c;

	assert_non_null(x);
	/* Exactly the limit: accepted. */
	memcpy(x, head, sizeof(head) - 1);
	memset(x + sizeof(head) - 1, 'T', big);
	memcpy(x + sizeof(head) - 1 + big, tail, sizeof(tail) - 1);
	n = sizeof(head) - 1 + big + sizeof(tail) - 1;
	assert_int_equal(aws_sts_parse_assume_role(x, n, &c), 0);
	assert_int_equal(strlen(c.session_token), big);
	aws_temp_creds_free(&c);
	/* One more byte: refused. */
	memset(x + sizeof(head) - 1, 'T', big + 1);
	memcpy(x + sizeof(head) - 1 + big + 1, tail, sizeof(tail) - 1);
	assert_int_equal(aws_sts_parse_assume_role(x, n + 1, &c), -1);
	free(x);
}

static void test_iso8601(void **state)
{
	time_t t;

	assert_int_equal(aws_parse_iso8601(S("1970-01-01T00:00:00Z"), &t), 0);
	assert_int_equal((long long)t, 0);
	assert_int_equal(aws_parse_iso8601(S("2024-02-29T12:00:00.5Z"), &t), 0);
	assert_int_equal((long long)t, 1709208000LL);
	assert_int_equal(aws_parse_iso8601(S("2026-11-28T23:37:54-05:00"), &t), 0);
	assert_int_equal((long long)t, (long long)EXP_2026);
	assert_int_equal(aws_parse_iso8601(S("2023-02-29T12:00:00Z"), &t), -1);
	assert_int_equal(aws_parse_iso8601(S("2026-13-01T00:00:00Z"), &t), -1);
	assert_int_equal(aws_parse_iso8601(S("2026-11-29T24:00:00Z"), &t), -1);
	assert_int_equal(aws_parse_iso8601(S("2026-11-29T04:37:54"), &t), -1);
	assert_int_equal(aws_parse_iso8601(S("2026-11-29T04:37:54.Z"), &t), -1);
	assert_int_equal(aws_parse_iso8601(S("2026-11-29T04:37:54Zx"), &t), -1);
	assert_int_equal(aws_parse_iso8601(S("2026-11-29 04:37:54Z"), &t), -1);
	assert_int_equal(aws_parse_iso8601(S("2026-11-29T04:37:54+0100"), &t), -1);
	assert_int_equal(aws_parse_iso8601(S("1795926674"), &t), -1);
	/* A bad Expiration fails the whole response. */
	{
		struct aws_temp_creds c;

		assert_int_equal(sts_with("<Credentials>" AK SK ST
					  "<Expiration>soon</Expiration></Credentials>",
					  &c), -1);
	}
}

/* ---- Errors ---- */

static const char err_doc[] =
	"<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
	"  <Error>\n"
	"    <Type>Sender</Type>\n"
	"    <Code>ExpiredToken</Code>\n"
	"    <Message>The security token included in the request is expired</Message>\n"
	"  </Error>\n"
	"  <RequestId>4c5b6d7e-0000-1111-2222-333344445555</RequestId>\n"
	"</ErrorResponse>\n";

static void test_err_ok(void **state)
{
	char code[64], msg[128];
	struct aws_temp_creds c;

	assert_int_equal(aws_xml_parse_error(S(err_doc), code, sizeof(code),
					     msg, sizeof(msg)), 0);
	assert_string_equal(code, "ExpiredToken");
	assert_string_equal(msg, "The security token included in the request is expired");
	/* And it is not a credentials document. */
	assert_int_equal(aws_sts_parse_assume_role(S(err_doc), &c), -1);
}

static void test_err_variants(void **state)
{
	char code[8], msg[6];

	/* Truncation, at a UTF-8 boundary. */
	assert_int_equal(aws_xml_parse_error(S(
		"<ErrorResponse><Error><Code>AccessDenied</Code>"
		"<Message>ab&#xe9;&#xe9;</Message></Error></ErrorResponse>"),
		code, sizeof(code), msg, sizeof(msg)), 0);
	assert_string_equal(code, "AccessD");
	assert_string_equal(msg, "ab\xc3\xa9");
	/* Bare <Error>, no Message. */
	assert_int_equal(aws_xml_parse_error(S("<Error><Code>Throttling</Code></Error>"),
					     code, sizeof(code), msg, sizeof(msg)), 0);
	assert_string_equal(code, "Throttl");
	assert_string_equal(msg, "");
	/* NULL buffers are allowed. */
	assert_int_equal(aws_xml_parse_error(S(err_doc), NULL, 0, NULL, 0), 0);
}

static void test_err_not_error(void **state)
{
	char code[32], msg[32];

	assert_int_equal(aws_xml_parse_error(S(sts_ok), code, sizeof(code),
					     msg, sizeof(msg)), -1);
	assert_string_equal(code, "");
	assert_string_equal(msg, "");
	assert_int_equal(aws_xml_parse_error(S("<ErrorResponse><Error><Message>m"
					       "</Message></Error></ErrorResponse>"),
					     code, sizeof(code), msg, sizeof(msg)), -1);
	assert_int_equal(aws_xml_parse_error(S("<ErrorResponse><Error><Code>X</Code>"),
					     code, sizeof(code), msg, sizeof(msg)), -1);
	assert_int_equal(aws_xml_parse_error(S("<ErrorResponse><Error><Code>&bogus;"
					       "</Code></Error></ErrorResponse>"),
					     code, sizeof(code), msg, sizeof(msg)), -1);
	assert_int_equal(aws_xml_parse_error(S("<Other><Error><Code>X</Code></Error></Other>"),
					     code, sizeof(code), msg, sizeof(msg)), -1);
	assert_string_equal(code, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ini_creds_default),
		cmocka_unit_test(test_ini_creds_named),
		cmocka_unit_test(test_ini_config_default_crlf_nested),
		cmocka_unit_test(test_ini_config_named),
		cmocka_unit_test(test_ini_profile_default_in_config),
		cmocka_unit_test(test_ini_empty_and_no_newline),
		cmocka_unit_test(test_ini_malformed),
		cmocka_unit_test(test_ini_len_bound),
		cmocka_unit_test(test_sts_ok),
		cmocka_unit_test(test_sts_entities_cdata),
		cmocka_unit_test(test_sts_bad_entities),
		cmocka_unit_test(test_sts_missing_fields),
		cmocka_unit_test(test_sts_ambiguous),
		cmocka_unit_test(test_sts_malformed_xml),
		cmocka_unit_test(test_sts_attributes_prefix),
		cmocka_unit_test(test_sts_deep),
		cmocka_unit_test(test_sts_huge),
		cmocka_unit_test(test_iso8601),
		cmocka_unit_test(test_err_ok),
		cmocka_unit_test(test_err_variants),
		cmocka_unit_test(test_err_not_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
