/*
 * Unit tests of src/aws/ses_admin.c: the SES v2 administration bodies
 * (exact text, JSON validity, escaping and refusal of hostile names), path
 * segments, the CreateEmailIdentity / GetEmailIdentity parser on
 * real-shaped and broken answers, the DNS records a tenant publishes, and
 * how restJson1 errors of these calls are classified.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws/awsjson.h"
#include "aws/ses_admin.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static const struct aws_tag tags2[] = {
    {"sesgate-tenant", "acme"},
    {"sesgate-tenant-id", "4c1d0a9e7f2b8c35"},
};

static const char topic[] = "arn:aws:sns:eu-west-1:123456789012:sesgate-events";

static json_t *parse_obj(const char *body)
{
	json_error_t err;
	json_t *j;

	assert_non_null(body);
	j = json_loads(body, 0, &err);
	if (!j)
		fail_msg("invalid JSON: %s in %s", err.text, body);
	assert_true(json_is_object(j));
	return j;
}

static void assert_body(char *got, const char *want)
{
	assert_non_null(got);
	json_decref(parse_obj(got));
	assert_string_equal(got, want);
	free(got);
}

static void ok_free(char *body)
{
	assert_non_null(body);
	free(body);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- names and domains ---- */

static void test_names(void **state)
{
	(void)state;
	char *n64 = repeat('n', 64), *n65 = repeat('n', 65);

	assert_true(ses_name_valid("sesgate-acme"));
	assert_true(ses_name_valid("A_z-0"));
	assert_true(ses_name_valid(n64));
	assert_false(ses_name_valid(n65));
	static const char *const bad[] = {
	    "", "a.b", "a b", "a/b", "..", "a\"b", "cs\"}],\"Evil\":1", "a\n", "\xc3\xa9",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ses_name_valid(bad[i]))
			fail_msg("name %zu accepted", i);
	assert_false(ses_name_valid(NULL));
	free(n64);
	free(n65);
}

static void test_domains(void **state)
{
	(void)state;
	char l63[64], l64[65], d253[254], d254[255];

	memset(l63, 'a', 63);
	l63[63] = '\0';
	memset(l64, 'a', 64);
	l64[64] = '\0';
	/* 4 labels of 63 + 3 dots = 255; build 253 and 254 from labels of 49. */
	snprintf(d253, sizeof(d253), "%.49s.%.49s.%.49s.%.49s.%.49s", l63, l63, l63, l63, l63);
	assert_int_equal(strlen(d253), 249);
	strcat(d253, ".com");
	assert_int_equal(strlen(d253), 253);
	snprintf(d254, sizeof(d254), "a%s", d253);

	static const char *const good[] = {
	    "example.com", "mail.example.co.uk", "a-b.example", "xn--bcher-kva.example",
	    "EXAMPLE.COM", "123.example.com",    "x.y",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!ses_domain_valid(good[i]))
			fail_msg("domain %zu refused: %s", i, good[i]);
	assert_true(ses_domain_valid(d253));
	{
		char d[80];
		snprintf(d, sizeof(d), "%s.com", l63);
		assert_true(ses_domain_valid(d));
		snprintf(d, sizeof(d), "%s.com", l64);
		assert_false(ses_domain_valid(d));
	}
	static const char *const bad[] = {
	    "",
	    "com",
	    "example.com.",
	    ".example.com",
	    "a..com",
	    "-a.com",
	    "a-.com",
	    "a.-com",
	    "a_b.com",
	    "exa mple.com",
	    "example.com\n",
	    "ex\"ample.com",
	    "b\xc3\xbc"
	    "cher.de",
	    "1.2.3.4",
	    "example.123",
	    "example.com; evil",
	    "*.example.com",
	    "example.com/x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ses_domain_valid(bad[i]))
			fail_msg("domain %zu accepted: %s", i, bad[i]);
	assert_false(ses_domain_valid(d254));
	assert_false(ses_domain_valid(NULL));
}

/* ---- bodies ---- */

static void test_config_set_body(void **state)
{
	(void)state;
	assert_body(ses_create_configuration_set_body("sesgate", NULL, 0),
	            "{\"ConfigurationSetName\":\"sesgate\"}");
	assert_body(ses_create_configuration_set_body("sesgate-acme", tags2, 2),
	            "{\"ConfigurationSetName\":\"sesgate-acme\",\"Tags\":["
	            "{\"Key\":\"sesgate-tenant\",\"Value\":\"acme\"},"
	            "{\"Key\":\"sesgate-tenant-id\",\"Value\":\"4c1d0a9e7f2b8c35\"}]}");
	assert_null(ses_create_configuration_set_body("cs\",\"Evil\":\"1", NULL, 0));
	assert_null(ses_create_configuration_set_body("", NULL, 0));
	assert_null(ses_create_configuration_set_body(NULL, NULL, 0));
	{
		const struct aws_tag dup[] = {{"a", "1"}, {"a", "2"}};
		assert_null(ses_create_configuration_set_body("cs", dup, 2));
	}
	/* Tag text is data: quotes and UTF-8 escaped as JSON, not refused. */
	{
		const struct aws_tag t[] = {{"k\"}]", "v\\\xe2\x82\xac"}};
		char *b = ses_create_configuration_set_body("cs", t, 1);
		json_t *j = parse_obj(b);
		json_t *tag = json_array_get(json_object_get(j, "Tags"), 0);
		assert_int_equal(json_object_size(j), 2);
		assert_string_equal(json_string_value(json_object_get(tag, "Key")), t[0].key);
		assert_string_equal(json_string_value(json_object_get(tag, "Value")), t[0].value);
		json_decref(j);
		free(b);
	}
}

static void test_event_destination_body(void **state)
{
	(void)state;
	char *b = ses_create_event_destination_body("sesgate-events", topic);
	json_t *j, *types;

	assert_non_null(b);
	assert_string_equal(b, "{\"EventDestinationName\":\"sesgate-events\",\"EventDestination\":{"
	                       "\"Enabled\":true,\"MatchingEventTypes\":[\"SEND\",\"REJECT\","
	                       "\"BOUNCE\",\"COMPLAINT\",\"DELIVERY\",\"OPEN\",\"CLICK\","
	                       "\"RENDERING_FAILURE\",\"DELIVERY_DELAY\",\"SUBSCRIPTION\"],"
	                       "\"SnsDestination\":{\"TopicArn\":"
	                       "\"arn:aws:sns:eu-west-1:123456789012:sesgate-events\"}}}");
	j = parse_obj(b);
	types = json_object_get(json_object_get(j, "EventDestination"), "MatchingEventTypes");
	assert_int_equal(json_array_size(types), 10);
	json_decref(j);
	free(b);

	ok_free(ses_create_event_destination_body("d", "arn:aws-cn:sns:cn-north-1:123456789012:t"));
	ok_free(ses_create_event_destination_body(
	    "d", "arn:aws-us-gov:sns:us-gov-west-1:123456789012:T_o-p1"));
	static const char *const bad_arn[] = {
	    "",
	    "sesgate-events",
	    "arn:aws:sqs:eu-west-1:123456789012:q",
	    "arn:aws:sns:eu-west-1:12345678901:t",
	    "arn:aws:sns:eu-west-1:123456789012:",
	    "arn:aws:sns::123456789012:t",
	    "arn:aws:sns:eu-west-1:123456789012:t.fifo",
	    "arn:aws:sns:eu-west-1:123456789012:t\"}",
	    "arn:aws:sns:eu-west-1:123456789012:t:sub-id",
	    "arn:aws:sns:EU-WEST-1:123456789012:t",
	    "arn:aws:sns:eu-west-1:123456789012:t\n",
	};
	for (size_t i = 0; i < sizeof(bad_arn) / sizeof(bad_arn[0]); i++)
		if (ses_create_event_destination_body("d", bad_arn[i]))
			fail_msg("topic %zu accepted", i);
	assert_null(ses_create_event_destination_body("d", NULL));
	assert_null(ses_create_event_destination_body("bad name", topic));
	assert_null(ses_create_event_destination_body(NULL, topic));
}

static void test_identity_body(void **state)
{
	(void)state;
	assert_body(ses_create_email_identity_body("example.com", "sesgate", tags2, 1),
	            "{\"EmailIdentity\":\"example.com\",\"ConfigurationSetName\":\"sesgate\","
	            "\"Tags\":[{\"Key\":\"sesgate-tenant\",\"Value\":\"acme\"}]}");
	assert_body(ses_create_email_identity_body("example.com", NULL, NULL, 0),
	            "{\"EmailIdentity\":\"example.com\"}");
	assert_body(ses_create_email_identity_body("example.com", "", NULL, 0),
	            "{\"EmailIdentity\":\"example.com\"}");
	assert_null(ses_create_email_identity_body("user@example.com", NULL, NULL, 0));
	assert_null(ses_create_email_identity_body("example.com\",\"EmailIdentity\":\"evil.com",
	                                           NULL, 0, 0));
	assert_null(ses_create_email_identity_body("example.com", "bad cs", NULL, 0));
	assert_null(ses_create_email_identity_body(NULL, NULL, NULL, 0));
}

static void test_account_details_body(void **state)
{
	(void)state;
	const char *extra[] = {"ops@example.com", "abuse@example.com"};
	char *b;
	json_t *j;

	assert_body(
	    ses_put_account_details_body("TRANSACTIONAL", "https://example.com",
	                                 "Password resets and receipts", "EN", extra, 2, 1),
	    "{\"MailType\":\"TRANSACTIONAL\",\"WebsiteURL\":\"https://example.com\","
	    "\"ContactLanguage\":\"EN\",\"UseCaseDescription\":"
	    "\"Password resets and receipts\",\"AdditionalContactEmailAddresses\":"
	    "[\"ops@example.com\",\"abuse@example.com\"],\"ProductionAccessEnabled\":true}");
	assert_body(ses_put_account_details_body("MARKETING", "http://example.com/x?y=1", NULL,
	                                         NULL, NULL, 0, 0),
	            "{\"MailType\":\"MARKETING\",\"WebsiteURL\":\"http://example.com/x?y=1\","
	            "\"ProductionAccessEnabled\":false}");
	assert_body(
	    ses_put_account_details_body("MARKETING", "HTTPS://EXAMPLE.COM", "", "", NULL, 0, 7),
	    "{\"MailType\":\"MARKETING\",\"WebsiteURL\":\"HTTPS://EXAMPLE.COM\","
	    "\"ProductionAccessEnabled\":true}");
	ok_free(
	    ses_put_account_details_body("TRANSACTIONAL", "https://e.x", NULL, "JA", NULL, 0, 1));

	/* Free text keeps its quotes, newlines and UTF-8 as JSON data. */
	{
		const char *uc = "We send \"receipts\"\nand {alerts}\\ \xe2\x9c\x93";
		b = ses_put_account_details_body("TRANSACTIONAL", "https://example.com", uc, "EN",
		                                 NULL, 0, 1);
		j = parse_obj(b);
		assert_string_equal(json_string_value(json_object_get(j, "UseCaseDescription")),
		                    uc);
		assert_int_equal(json_object_size(j), 5);
		json_decref(j);
		free(b);
	}
	/* An address with a quote is data too (one element comes back). */
	{
		const char *odd[] = {
		    "a\"],\"ProductionAccessEnabled\":false,\"x\":[\"@example.com"};
		b = ses_put_account_details_body("TRANSACTIONAL", "https://example.com", NULL, NULL,
		                                 odd, 1, 1);
		j = parse_obj(b);
		assert_int_equal(
		    json_array_size(json_object_get(j, "AdditionalContactEmailAddresses")), 1);
		assert_true(json_is_true(json_object_get(j, "ProductionAccessEnabled")));
		json_decref(j);
		free(b);
	}
	/* Limits. */
	{
		char *u5000 = malloc(5000 * 3 + 1), *u5001;
		for (int i = 0; i < 5000; i++)
			memcpy(u5000 + 3 * i, "\xe2\x9c\x93", 3);
		u5000[15000] = '\0';
		ok_free(ses_put_account_details_body("TRANSACTIONAL", "https://e.x", u5000, NULL,
		                                     NULL, 0, 1));
		u5001 = repeat('u', 5001);
		assert_null(ses_put_account_details_body("TRANSACTIONAL", "https://e.x", u5001,
		                                         NULL, NULL, 0, 1));
		free(u5000);
		free(u5001);
	}
	{
		char *url = repeat('u', 1000);
		memcpy(url, "https://", 8);
		ok_free(ses_put_account_details_body("MARKETING", url, NULL, NULL, NULL, 0, 1));
		free(url);
		url = repeat('u', 1001);
		memcpy(url, "https://", 8);
		assert_null(ses_put_account_details_body("MARKETING", url, NULL, NULL, NULL, 0, 1));
		free(url);
	}
	const char *five[] = {"a@e.com", "b@e.com", "c@e.com", "d@e.com", "f@e.com"};
	ok_free(ses_put_account_details_body("MARKETING", "https://e.x", NULL, NULL, five, 4, 1));
	assert_null(
	    ses_put_account_details_body("MARKETING", "https://e.x", NULL, NULL, five, 5, 1));
	assert_null(
	    ses_put_account_details_body("MARKETING", "https://e.x", NULL, NULL, NULL, 1, 1));

	static const char *const bad_type[] = {"transactional", "", "BOTH", NULL};
	for (size_t i = 0; i < sizeof(bad_type) / sizeof(bad_type[0]); i++)
		assert_null(ses_put_account_details_body(bad_type[i], "https://e.x", NULL, NULL,
		                                         NULL, 0, 1));
	static const char *const bad_url[] = {
	    "",
	    "example.com",
	    "ftp://example.com",
	    "https://",
	    "http://",
	    "https://exa mple.com",
	    "https://example.com\n",
	    "javascript:alert(1)",
	    "https://\xc3\xa9.com",
	};
	for (size_t i = 0; i < sizeof(bad_url) / sizeof(bad_url[0]); i++)
		if (ses_put_account_details_body("MARKETING", bad_url[i], NULL, NULL, NULL, 0, 1))
			fail_msg("url %zu accepted", i);
	assert_null(ses_put_account_details_body("MARKETING", NULL, NULL, NULL, NULL, 0, 1));
	assert_null(
	    ses_put_account_details_body("MARKETING", "https://e.x", NULL, "DE", NULL, 0, 1));
	assert_null(
	    ses_put_account_details_body("MARKETING", "https://e.x", NULL, "en", NULL, 0, 1));
	assert_null(
	    ses_put_account_details_body("MARKETING", "https://e.x", "bad\xff", NULL, NULL, 0, 1));
	static const char *const bad_mail[] = {
	    "",
	    "a@b.c",
	    "noat.example.com",
	    "a@@example.com",
	    "a@example",
	    "a b@example.com",
	    "a@example.com\n",
	    "@example.com",
	    "j\xc3\xb6rg@example.de",
	};
	for (size_t i = 0; i < sizeof(bad_mail) / sizeof(bad_mail[0]); i++) {
		const char *one[] = {bad_mail[i]};
		if (ses_put_account_details_body("MARKETING", "https://e.x", NULL, NULL, one, 1, 1))
			fail_msg("address %zu accepted", i);
	}
}

static void test_path_segment(void **state)
{
	(void)state;
	char out[64];

	static const struct {
		const char *in, *want;
	} m[] = {
	    {"sesgate-acme", "sesgate-acme"},
	    {"example.com", "example.com"},
	    {"A-Za-z0-9-._~", "A-Za-z0-9-._~"},
	    {"a/b", "a%2Fb"},
	    {"../x", "..%2Fx"},
	    {"...", "..."},
	    {"a b+c%", "a%20b%2Bc%25"},
	    {"?#[]@!$&'()*,;=", "%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2C%3B%3D"},
	    {"\xc3\xa9", "%C3%A9"},
	    {"\r\n", "%0D%0A"},
	};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		assert_int_equal(ses_path_segment(m[i].in, out, sizeof(out)), 0);
		assert_string_equal(out, m[i].want);
	}
	/* Nothing that names no resource or walks up. */
	strcpy(out, "stale");
	assert_int_equal(ses_path_segment("", out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(ses_path_segment(".", out, sizeof(out)), -1);
	assert_int_equal(ses_path_segment("..", out, sizeof(out)), -1);
	assert_int_equal(ses_path_segment(NULL, out, sizeof(out)), -1);
	/* Exact fit, then one short (for both kinds of character). */
	assert_int_equal(ses_path_segment("abc", out, 4), 0);
	assert_string_equal(out, "abc");
	assert_int_equal(ses_path_segment("abc", out, 3), -1);
	assert_string_equal(out, "");
	assert_int_equal(ses_path_segment("a/", out, 5), 0);
	assert_string_equal(out, "a%2F");
	assert_int_equal(ses_path_segment("a/", out, 4), -1);
	assert_string_equal(out, "");
	assert_int_equal(ses_path_segment("a", NULL, 0), -1);
	assert_int_equal(ses_path_segment("a", out, 0), -1);
}

/* ---- identity answers ---- */

static const char create_identity_resp[] =
    "{\"DkimAttributes\":{\"CurrentSigningKeyLength\":\"RSA_2048_BIT\","
    "\"NextSigningKeyLength\":\"RSA_2048_BIT\",\"SigningAttributesOrigin\":\"AWS_SES\","
    "\"SigningEnabled\":true,\"SigningHostedZone\":\"dkim.amazonses.com\","
    "\"Status\":\"PENDING\",\"Tokens\":[\"2bfr6xkzqykqtqg3cniq3sgnvdbm2udn\","
    "\"x4pa7nkkmcc3cy3tl5pfxdyxj7aqhd5q\",\"q3mhjlnxtxqvkvxkbxkdn5xhbsltgkaq\"]},"
    "\"IdentityType\":\"DOMAIN\",\"VerifiedForSendingStatus\":false}";

static const char get_identity_resp[] =
    "{\"ConfigurationSetName\":\"sesgate\",\"DkimAttributes\":{"
    "\"LastKeyGenerationTimestamp\":1764331200.0,\"SigningAttributesOrigin\":\"AWS_SES\","
    "\"SigningEnabled\":true,\"SigningHostedZone\":\"dkim.af-south-1.amazonses.com.\","
    "\"Status\":\"SUCCESS\",\"Tokens\":[\"t1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
    "\"t2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"t3cccccccccccccccccccccccccccccc\"]},"
    "\"FeedbackForwardingStatus\":true,\"IdentityType\":\"DOMAIN\","
    "\"MailFromAttributes\":{\"BehaviorOnMxFailure\":\"USE_DEFAULT_VALUE\","
    "\"MailFromDomainStatus\":\"NOT_STARTED\"},\"Policies\":{},"
    "\"Tags\":[{\"Key\":\"sesgate-tenant\",\"Value\":\"acme\"}],"
    "\"VerificationInfo\":{\"LastCheckedTimestamp\":1764331260.0,"
    "\"LastSuccessTimestamp\":1764331260.0},\"VerificationStatus\":\"SUCCESS\","
    "\"VerifiedForSendingStatus\":true}";

static void test_parse_identity(void **state)
{
	(void)state;
	struct ses_identity id;

	assert_int_equal(ses_parse_identity(S(create_identity_resp), &id), 0);
	assert_int_equal(id.verified_for_sending, 0);
	assert_string_equal(id.verification_status, "");
	assert_string_equal(id.dkim_status, "PENDING");
	assert_int_equal(id.ntokens, 3);
	assert_string_equal(id.dkim_tokens[0], "2bfr6xkzqykqtqg3cniq3sgnvdbm2udn");
	assert_string_equal(id.dkim_tokens[2], "q3mhjlnxtxqvkvxkbxkdn5xhbsltgkaq");
	assert_string_equal(id.dkim_zone, "dkim.amazonses.com");

	assert_int_equal(ses_parse_identity(S(get_identity_resp), &id), 0);
	assert_int_equal(id.verified_for_sending, 1);
	assert_string_equal(id.verification_status, "SUCCESS");
	assert_string_equal(id.dkim_status, "SUCCESS");
	assert_int_equal(id.ntokens, 3);
	assert_string_equal(id.dkim_zone, "dkim.af-south-1.amazonses.com");

	/* Optional parts absent or null. */
	assert_int_equal(ses_parse_identity(S("{\"VerifiedForSendingStatus\":true}"), &id), 0);
	assert_int_equal(id.verified_for_sending, 1);
	assert_int_equal(id.ntokens, 0);
	assert_string_equal(id.dkim_status, "");
	assert_string_equal(id.dkim_zone, "");
	assert_int_equal(
	    ses_parse_identity(S("{\"VerifiedForSendingStatus\":false,"
	                         "\"DkimAttributes\":null,\"VerificationStatus\":null}"),
	                       &id),
	    0);
	assert_int_equal(ses_parse_identity(S("{\"VerifiedForSendingStatus\":false,"
	                                      "\"DkimAttributes\":{\"Status\":\"NOT_STARTED\","
	                                      "\"Tokens\":[]}}"),
	                                    &id),
	                 0);
	assert_string_equal(id.dkim_status, "NOT_STARTED");
	assert_int_equal(id.ntokens, 0);

	/* Long statuses are cut and cleaned. */
	assert_int_equal(ses_parse_identity(S("{\"VerifiedForSendingStatus\":false,"
	                                      "\"VerificationStatus\":\"A\\nBCDEFGHIJKLMNOPQRSTU"
	                                      "VWXYZ0123456789\"}"),
	                                    &id),
	                 0);
	assert_int_equal(strlen(id.verification_status), sizeof(id.verification_status) - 1);
	assert_memory_equal(id.verification_status, "A BC", 4);

	/* A 63-character token is the longest label there is. */
	{
		char body[256], *t63 = repeat('t', 63);
		snprintf(
		    body, sizeof(body),
		    "{\"VerifiedForSendingStatus\":false,\"DkimAttributes\":{\"Tokens\":[\"%s\"]}}",
		    t63);
		assert_int_equal(ses_parse_identity(body, strlen(body), &id), 0);
		assert_string_equal(id.dkim_tokens[0], t63);
		free(t63);
	}
}

static void test_parse_identity_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    "not json",
	    "[]",
	    "{}",
	    "{\"VerifiedForSendingStatus\":\"true\"}",
	    "{\"VerifiedForSendingStatus\":1}",
	    "{\"VerifiedForSendingStatus\":null}",
	    "{\"VerifiedForSendingStatus\":true,\"VerificationStatus\":5}",
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":[]}",
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":{\"Status\":{}}}",
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":{\"Tokens\":\"abc\"}}",
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":{\"Tokens\":[1]}}",
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":{\"Tokens\":[\"\"]}}",
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":{\"Tokens\":[\"a\",\"b\","
	    "\"c\",\"d\"]}}",
	    /* Tokens that would write records of their own into a zone file. */
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":{\"Tokens\":[\"a.b\"]}}",
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":{\"Tokens\":[\"a b\"]}}",
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":{\"Tokens\":"
	    "[\"x\\nevil.example.com. A 192.0.2.1\"]}}",
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":{\"Tokens\":[\"a\\\"b\"]}}",
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":{\"Tokens\":[\"a_b\"]}}",
	    /* Hosted zones likewise. */
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":{\"SigningHostedZone\":1}}",
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":{\"SigningHostedZone\":"
	    "\"dkim.amazonses.com.\\n@ TXT evil\"}}",
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":{\"SigningHostedZone\":"
	    "\"amazonses\"}}",
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":{\"SigningHostedZone\":"
	    "\"dkim..amazonses.com\"}}",
	    "{\"VerifiedForSendingStatus\":true,\"DkimAttributes\":{\"SigningHostedZone\":"
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.amazonses.com\"}}",
	};
	struct ses_identity id;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&id, 'x', sizeof(id));
		if (ses_parse_identity(bad[i], strlen(bad[i]), &id) != -1)
			fail_msg("case %zu accepted: %s", i, bad[i]);
		assert_int_equal(id.ntokens, 0);
		assert_int_equal(id.verified_for_sending, 0);
		assert_string_equal(id.dkim_tokens[0], "");
	}
	{
		char body[256], *t64 = repeat('t', 64);
		snprintf(
		    body, sizeof(body),
		    "{\"VerifiedForSendingStatus\":false,\"DkimAttributes\":{\"Tokens\":[\"%s\"]}}",
		    t64);
		assert_int_equal(ses_parse_identity(body, strlen(body), &id), -1);
		free(t64);
	}
	assert_int_equal(ses_parse_identity(NULL, 0, &id), -1);
	assert_int_equal(ses_parse_identity(S(get_identity_resp), NULL), -1);
}

/* ---- DNS records ---- */

static const char records_example[] =
    "; DKIM (required): SES verifies example.com and signs its mail with these\n"
    "tok1._domainkey.example.com. CNAME tok1.dkim.amazonses.com.\n"
    "tok2._domainkey.example.com. CNAME tok2.dkim.amazonses.com.\n"
    "tok3._domainkey.example.com. CNAME tok3.dkim.amazonses.com.\n"
    "; SPF (suggestion): merge into an existing v=spf1 record if there is one\n"
    "example.com. TXT \"v=spf1 include:amazonses.com ~all\"\n"
    "; DMARC (suggestion): p=none only reports; tighten once reports are clean\n"
    "_dmarc.example.com. TXT \"v=DMARC1; p=none; rua=mailto:dmarc@example.com\"\n";

static struct ses_identity three_tokens(void)
{
	struct ses_identity id;

	memset(&id, 0, sizeof(id));
	strcpy(id.dkim_tokens[0], "tok1");
	strcpy(id.dkim_tokens[1], "tok2");
	strcpy(id.dkim_tokens[2], "tok3");
	id.ntokens = 3;
	return id;
}

static void test_dns_records(void **state)
{
	(void)state;
	struct ses_identity id = three_tokens();
	char out[2048];

	assert_int_equal(dns_records_for("example.com", &id, "eu-west-1", out, sizeof(out)), 0);
	assert_string_equal(out, records_example);
	assert_int_equal(dns_records_for("example.com", &id, NULL, out, sizeof(out)), 0);
	assert_string_equal(out, records_example);
	assert_int_equal(dns_records_for("example.com", &id, "", out, sizeof(out)), 0);
	assert_string_equal(out, records_example);

	/* Regions with their own DKIM domain. */
	assert_int_equal(dns_records_for("example.com", &id, "af-south-1", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "tok1._domainkey.example.com. CNAME "
	                            "tok1.dkim.af-south-1.amazonses.com.\n"));
	assert_null(strstr(out, "tok1.dkim.amazonses.com."));
	assert_int_equal(dns_records_for("example.com", &id, "il-central-1", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "tok3.dkim.il-central-1.amazonses.com.\n"));
	/* What SES said wins over the table. */
	strcpy(id.dkim_zone, "dkim.eu-south-1.amazonses.com");
	assert_int_equal(dns_records_for("example.com", &id, "eu-west-1", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "tok2.dkim.eu-south-1.amazonses.com.\n"));
	id.dkim_zone[0] = '\0';

	/* One token only: one CNAME. */
	id.ntokens = 1;
	assert_int_equal(dns_records_for("mail.example.org", &id, NULL, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "tok1._domainkey.mail.example.org. CNAME "
	                            "tok1.dkim.amazonses.com.\n; SPF"));
	assert_null(strstr(out, "tok2"));
	assert_non_null(strstr(out, "_dmarc.mail.example.org. TXT \"v=DMARC1; p=none; "
	                            "rua=mailto:dmarc@mail.example.org\"\n"));
	id.ntokens = 3;

	/* Exactly fitting, then one short: all or nothing. */
	assert_int_equal(dns_records_for("example.com", &id, NULL, out, sizeof(records_example)),
	                 0);
	assert_string_equal(out, records_example);
	assert_int_equal(
	    dns_records_for("example.com", &id, NULL, out, sizeof(records_example) - 1), -1);
	assert_string_equal(out, "");
}

static void test_dns_records_refused(void **state)
{
	(void)state;
	struct ses_identity id = three_tokens();
	char out[2048];

	/* Domains (these may come from Redis, i.e. from anyone with access). */
	static const char *const bad_dom[] = {
	    "",    "example.com.", "exa mple.com", "example.com\n_evil TXT x", "ex\"ample.com",
	    "com", "a_b.com",
	};
	for (size_t i = 0; i < sizeof(bad_dom) / sizeof(bad_dom[0]); i++) {
		strcpy(out, "stale");
		if (dns_records_for(bad_dom[i], &id, NULL, out, sizeof(out)) != -1)
			fail_msg("domain %zu accepted", i);
		assert_string_equal(out, "");
	}
	assert_int_equal(dns_records_for(NULL, &id, NULL, out, sizeof(out)), -1);
	assert_int_equal(dns_records_for("example.com", NULL, NULL, out, sizeof(out)), -1);

	/* Tokens rebuilt from stored state are checked again. */
	strcpy(id.dkim_tokens[1], "x\nevil.example.com. A 192.0.2.1");
	assert_int_equal(dns_records_for("example.com", &id, NULL, out, sizeof(out)), -1);
	strcpy(id.dkim_tokens[1], "");
	assert_int_equal(dns_records_for("example.com", &id, NULL, out, sizeof(out)), -1);
	strcpy(id.dkim_tokens[1], "a.b");
	assert_int_equal(dns_records_for("example.com", &id, NULL, out, sizeof(out)), -1);
	id = three_tokens();
	id.ntokens = 0;
	assert_int_equal(dns_records_for("example.com", &id, NULL, out, sizeof(out)), -1);
	id.ntokens = 4;
	assert_int_equal(dns_records_for("example.com", &id, NULL, out, sizeof(out)), -1);
	id.ntokens = -1;
	assert_int_equal(dns_records_for("example.com", &id, NULL, out, sizeof(out)), -1);
	id = three_tokens();
	strcpy(id.dkim_zone, "evil zone");
	assert_int_equal(dns_records_for("example.com", &id, NULL, out, sizeof(out)), -1);
	id.dkim_zone[0] = '\0';
	assert_int_equal(dns_records_for("example.com", &id, "eu west", out, sizeof(out)), -1);
	assert_int_equal(dns_records_for("example.com", &id, "EU-WEST-1", out, sizeof(out)), -1);
	assert_int_equal(dns_records_for("example.com", &id, NULL, NULL, 0), -1);
	assert_int_equal(dns_records_for("example.com", &id, NULL, out, 0), -1);
}

/* ---- restJson1 errors of these calls ---- */

static void test_ses_admin_errors(void **state)
{
	(void)state;
	static const struct {
		long status;
		const char *hdr, *body;
		const char *code;
		enum aws_retry want;
	} m[] = {
	    {400, "AlreadyExistsException:http://internal.amazon.com/coral/com.amazonaws.sesv2/",
	     "{\"message\":\"Configuration set <sesgate> already exists.\"}",
	     "AlreadyExistsException", AWS_ERR_EXISTS},
	    {400, NULL,
	     "{\"code\":\"AlreadyExistsException\",\"message\":\"Email identity "
	     "<example.com> already exist.\"}",
	     "AlreadyExistsException", AWS_ERR_EXISTS},
	    {404, "NotFoundException",
	     "{\"message\":\"Email identity <example.com> does not "
	     "exist.\"}",
	     "NotFoundException", AWS_ERR_PERMANENT},
	    {409, "ConflictException", "{\"message\":\"review pending\"}", "ConflictException",
	     AWS_ERR_PERMANENT},
	    {429, "TooManyRequestsException", "{\"message\":\"Too Many Requests\"}",
	     "TooManyRequestsException", AWS_ERR_RETRY},
	    {500, "ConcurrentModificationException", "{}", "ConcurrentModificationException",
	     AWS_ERR_RETRY},
	    {400, "LimitExceededException", "{}", "LimitExceededException", AWS_ERR_PERMANENT},
	    {400, "BadRequestException", "{\"message\":\"1 validation error\"}",
	     "BadRequestException", AWS_ERR_PERMANENT},
	    {403, "UnrecognizedClientException", "{}", "UnrecognizedClientException",
	     AWS_ERR_CREDS},
	    {502, NULL, "<html>Bad Gateway</html>", "", AWS_ERR_RETRY},
	};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		char code[96], msg[200];
		int rc = aws_json_error(m[i].status, m[i].hdr, m[i].body, strlen(m[i].body), code,
		                        sizeof(code), msg, sizeof(msg));
		assert_int_equal(rc, m[i].code[0] ? 0 : -1);
		assert_string_equal(code, m[i].code);
		if (aws_error_retryable(m[i].status, code) != m[i].want)
			fail_msg("case %zu: %s", i,
			         aws_retry_name(aws_error_retryable(m[i].status, code)));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_domains),
	    cmocka_unit_test(test_config_set_body),
	    cmocka_unit_test(test_event_destination_body),
	    cmocka_unit_test(test_identity_body),
	    cmocka_unit_test(test_account_details_body),
	    cmocka_unit_test(test_path_segment),
	    cmocka_unit_test(test_parse_identity),
	    cmocka_unit_test(test_parse_identity_refused),
	    cmocka_unit_test(test_dns_records),
	    cmocka_unit_test(test_dns_records_refused),
	    cmocka_unit_test(test_ses_admin_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
