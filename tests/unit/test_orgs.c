/*
 * Unit tests of src/aws/orgs.c (Organizations bodies and answers) and of
 * the shared error handling in src/aws/awsjson.c: aws_json_error() on the
 * awsJson1_1 error shapes Organizations sends, and the whole
 * aws_error_retryable() matrix (codes of Organizations, IAM, STS and
 * SES, then the status fallbacks).
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
#include "aws/orgs.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static const struct aws_tag tags2[] = {
    {"sesgate-tenant", "acme"},
    {"sesgate-tenant-id", "4c1d0a9e7f2b8c35"},
};

/* @body must be valid JSON, one object; returned for inspection. */
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

/* A builder must have accepted its input. */
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

/* ---- ids ---- */

static void test_id_patterns(void **state)
{
	(void)state;
	assert_true(orgs_account_id_valid("123456789012"));
	assert_true(orgs_account_id_valid("000000000000"));
	assert_false(orgs_account_id_valid("12345678901"));
	assert_false(orgs_account_id_valid("1234567890123"));
	assert_false(orgs_account_id_valid("12345678901a"));
	assert_false(orgs_account_id_valid(" 123456789012"));
	assert_false(orgs_account_id_valid("123456789012\n"));
	assert_false(orgs_account_id_valid(""));
	assert_false(orgs_account_id_valid(NULL));

	assert_true(orgs_root_id_valid("r-ab12"));
	assert_true(orgs_root_id_valid("r-examplerootid111"));
	assert_false(orgs_root_id_valid("r-abc"));
	assert_false(orgs_root_id_valid("r-AB12"));
	assert_false(orgs_root_id_valid("r-"
	                                "0123456789abcdef0123456789abcdef0"));
	assert_false(orgs_root_id_valid("ou-ab12-abcdefgh"));

	assert_true(orgs_parent_id_valid("r-ab12"));
	assert_true(orgs_parent_id_valid("ou-ab12-abcdefgh"));
	assert_true(orgs_parent_id_valid("ou-examplerootid111-exampleouid111"));
	assert_false(orgs_parent_id_valid("ou-ab12-abcdefg")); /* 7 */
	assert_false(orgs_parent_id_valid("ou-ab1-abcdefgh")); /* 3 */
	assert_false(orgs_parent_id_valid("ou-ab12abcdefgh"));
	assert_false(orgs_parent_id_valid("ou-ab12-abcdefgh-"));
	assert_false(orgs_parent_id_valid("ou-ab12-ABCDEFGH"));
	assert_false(orgs_parent_id_valid("123456789012"));
	assert_false(orgs_parent_id_valid(NULL));
}

/* ---- bodies ---- */

static void test_create_account_body(void **state)
{
	(void)state;
	assert_body(orgs_create_account_body("ops+acme@example.com", "sesgate-acme",
	                                     "OrganizationAccountAccessRole", tags2, 2),
	            "{\"Email\":\"ops+acme@example.com\",\"AccountName\":\"sesgate-acme\","
	            "\"RoleName\":\"OrganizationAccountAccessRole\",\"Tags\":["
	            "{\"Key\":\"sesgate-tenant\",\"Value\":\"acme\"},"
	            "{\"Key\":\"sesgate-tenant-id\",\"Value\":\"4c1d0a9e7f2b8c35\"}]}");
	/* NULL or "" role: AWS's default; no tags: no Tags. */
	assert_body(orgs_create_account_body("a@example.com", "Acme Corp", NULL, NULL, 0),
	            "{\"Email\":\"a@example.com\",\"AccountName\":\"Acme Corp\"}");
	assert_body(orgs_create_account_body("a@example.com", "x", "", NULL, 0),
	            "{\"Email\":\"a@example.com\",\"AccountName\":\"x\"}");
	/* An empty tag value is allowed, a tag key in Unicode too. */
	{
		const struct aws_tag t[] = {{"k\xc3\xa9y", ""}};
		assert_body(orgs_create_account_body("a@example.com", "x", NULL, t, 1),
		            "{\"Email\":\"a@example.com\",\"AccountName\":\"x\","
		            "\"Tags\":[{\"Key\":\"k\xc3\xa9y\",\"Value\":\"\"}]}");
	}
}

static void test_create_account_limits(void **state)
{
	(void)state;
	char *name50 = repeat('n', 50), *name51 = repeat('n', 51);
	char email64[65], email65[66];

	/* 64 octets: 52 + "@example.com" (12). */
	memset(email64, 'e', 52);
	strcpy(email64 + 52, "@example.com");
	memset(email65, 'e', 53);
	strcpy(email65 + 53, "@example.com");
	assert_int_equal(strlen(email64), 64);

	ok_free(orgs_create_account_body(email64, name50, NULL, NULL, 0));
	assert_null(orgs_create_account_body(email65, "x", NULL, NULL, 0));
	assert_null(orgs_create_account_body("a@b.co", name51, NULL, NULL, 0));
	ok_free(orgs_create_account_body("a@b.co", "x", NULL, NULL, 0));
	assert_null(orgs_create_account_body("a@b.c", "x", NULL, NULL, 0)); /* 5 < 6 */

	static const char *const bad_emails[] = {
	    "",
	    "example.com",
	    "a@@example.com",
	    "a@b@example.com",
	    "@example.com",
	    "a@example",
	    "a@.example",
	    "a@example.",
	    "a b@example.com",
	    "a@exa\tmple.com",
	    "a@example.com\n",
	    "j\xc3\xb6rg@example.de",
	    "a\x7f@example.com",
	};
	for (size_t i = 0; i < sizeof(bad_emails) / sizeof(bad_emails[0]); i++)
		if (orgs_create_account_body(bad_emails[i], "x", NULL, NULL, 0))
			fail_msg("email %zu accepted", i);
	assert_null(orgs_create_account_body(NULL, "x", NULL, NULL, 0));

	static const char *const bad_names[] = {"", "a\nb", "tab\there", "caf\xc3\xa9", "\x7f"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		if (orgs_create_account_body("a@example.com", bad_names[i], NULL, NULL, 0))
			fail_msg("name %zu accepted", i);
	assert_null(orgs_create_account_body("a@example.com", NULL, NULL, NULL, 0));

	/* Role names follow IAM. */
	{
		char *r64 = repeat('r', 64), *r65 = repeat('r', 65);
		ok_free(orgs_create_account_body("a@example.com", "x", r64, NULL, 0));
		assert_null(orgs_create_account_body("a@example.com", "x", r65, NULL, 0));
		assert_null(orgs_create_account_body("a@example.com", "x", "a role", NULL, 0));
		assert_null(orgs_create_account_body("a@example.com", "x", "path/role", NULL, 0));
		assert_null(orgs_create_account_body("a@example.com", "x", "r\"", NULL, 0));
		ok_free(orgs_create_account_body("a@example.com", "x", "A_b+=,.@-9", NULL, 0));
		free(r64);
		free(r65);
	}
	free(name50);
	free(name51);
}

static void test_tags_refused(void **state)
{
	(void)state;
	struct aws_tag t[AWS_TAGS_MAX + 1];
	char keys[AWS_TAGS_MAX + 1][8];
	char *k128 = repeat('k', 128), *k129 = repeat('k', 129);
	char *v256 = repeat('v', 256), *v257 = repeat('v', 257);

	for (size_t i = 0; i <= AWS_TAGS_MAX; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		t[i].key = keys[i];
		t[i].value = "v";
	}
	ok_free(orgs_tag_resource_body("123456789012", t, AWS_TAGS_MAX));
	assert_null(orgs_tag_resource_body("123456789012", t, AWS_TAGS_MAX + 1));

	const struct aws_tag ok[] = {{k128, v256}};
	ok_free(orgs_tag_resource_body("123456789012", ok, 1));
	/* Lengths count characters: 128 two-octet characters are fine. */
	{
		char k[257];
		for (int i = 0; i < 128; i++)
			memcpy(k + 2 * i, "\xc3\xa9", 2);
		k[256] = '\0';
		const struct aws_tag u[] = {{k, "v"}};
		ok_free(orgs_tag_resource_body("123456789012", u, 1));
	}

	const struct aws_tag bad[][2] = {
	    {{k129, "v"}, {"b", "v"}},       {{"a", v257}, {"b", "v"}},
	    {{"", "v"}, {"b", "v"}},         {{"a", "v"}, {"a", "w"}}, /* duplicate key */
	    {{"a", NULL}, {"b", "v"}},       {{NULL, "v"}, {"b", "v"}},
	    {{"a\n", "v"}, {"b", "v"}},      {{"a", "v\x01"}, {"b", "v"}},
	    {{"a\xff", "v"}, {"b", "v"}},    /* not UTF-8 */
	    {{"a", "\xc0\xaf"}, {"b", "v"}}, /* overlong */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (orgs_tag_resource_body("123456789012", bad[i], 2))
			fail_msg("tag case %zu accepted by TagResource", i);
		if (orgs_create_account_body("a@example.com", "x", NULL, bad[i], 2))
			fail_msg("tag case %zu accepted by CreateAccount", i);
	}
	assert_null(orgs_tag_resource_body("123456789012", NULL, 1));
	assert_false(aws_tags_valid(NULL, 1));
	assert_true(aws_tags_valid(NULL, 0));
	free(k128);
	free(k129);
	free(v256);
	free(v257);
}

static void test_injection(void **state)
{
	(void)state;
	/* Quotes and braces are legal in an address's local part; they must
	 * come back as data, not as structure. */
	const char *email = "x\",\"AccountName\":\"evil\"}@example.com";
	const char *name = "acme\", \"RoleName\": \"Admin\\";
	const struct aws_tag t[] = {{"k\"}]", "v\\\"\xe2\x80\xa8</script>"}};
	char *b = orgs_create_account_body(email, name, NULL, t, 1);
	json_t *j = parse_obj(b);

	assert_int_equal(json_object_size(j), 3);
	assert_string_equal(json_string_value(json_object_get(j, "Email")), email);
	assert_string_equal(json_string_value(json_object_get(j, "AccountName")), name);
	assert_null(json_object_get(j, "RoleName"));
	{
		json_t *tag = json_array_get(json_object_get(j, "Tags"), 0);
		assert_string_equal(json_string_value(json_object_get(tag, "Key")), t[0].key);
		assert_string_equal(json_string_value(json_object_get(tag, "Value")), t[0].value);
	}
	json_decref(j);
	free(b);

	/* A control character in a tag is refused, not escaped. */
	const struct aws_tag nl[] = {{"k", "line\nbreak"}};
	assert_null(orgs_create_account_body("a@example.com", "x", NULL, nl, 1));

	/* NextToken is opaque: anything UTF-8 goes, escaped. */
	b = orgs_list_accounts_body("t\"o\\k\n\xc3\xa9n");
	j = parse_obj(b);
	assert_string_equal(json_string_value(json_object_get(j, "NextToken")),
	                    "t\"o\\k\n\xc3\xa9n");
	json_decref(j);
	free(b);
	assert_null(orgs_list_accounts_body("bad\xff"));
}

static void test_small_bodies(void **state)
{
	(void)state;
	assert_body(orgs_describe_create_account_status_body("car-exampleaccountcreationrequestid"),
	            "{\"CreateAccountRequestId\":\"car-exampleaccountcreationrequestid\"}");
	assert_null(orgs_describe_create_account_status_body("car-short"));
	assert_null(orgs_describe_create_account_status_body("car-ABCDEFGHIJ"));
	assert_null(orgs_describe_create_account_status_body("xcar-abcdefghij"));
	assert_null(orgs_describe_create_account_status_body("car-abcdefghij\""));
	assert_null(orgs_describe_create_account_status_body(""));
	assert_null(orgs_describe_create_account_status_body(NULL));

	assert_body(orgs_list_create_account_status_body(NULL, NULL), "{\"MaxResults\":20}");
	assert_body(orgs_list_create_account_status_body(NULL, ""), "{\"MaxResults\":20}");
	assert_body(
	    orgs_list_create_account_status_body("IN_PROGRESS", "AAAA/tok=="),
	    "{\"States\":[\"IN_PROGRESS\"],\"MaxResults\":20,\"NextToken\":\"AAAA/tok==\"}");
	assert_body(orgs_list_create_account_status_body("FAILED", NULL),
	            "{\"States\":[\"FAILED\"],\"MaxResults\":20}");
	assert_body(orgs_list_create_account_status_body("SUCCEEDED", NULL),
	            "{\"States\":[\"SUCCEEDED\"],\"MaxResults\":20}");
	assert_null(orgs_list_create_account_status_body("failed", NULL));
	assert_null(orgs_list_create_account_status_body("DONE", NULL));
	assert_null(orgs_list_create_account_status_body("", NULL));

	assert_body(orgs_list_accounts_body(NULL), "{\"MaxResults\":20}");
	assert_body(orgs_list_accounts_body("n1"), "{\"MaxResults\":20,\"NextToken\":\"n1\"}");
	{
		char *big = repeat('t', ORGS_NEXT_TOKEN_MAX + 1);
		assert_null(orgs_list_accounts_body(big));
		big[ORGS_NEXT_TOKEN_MAX] = '\0';
		ok_free(orgs_list_accounts_body(big));
		free(big);
	}

	assert_body(orgs_list_roots_body(NULL), "{}");
	assert_body(orgs_list_roots_body("r1"), "{\"NextToken\":\"r1\"}");

	assert_body(orgs_list_parents_body("123456789012"), "{\"ChildId\":\"123456789012\"}");
	assert_body(orgs_list_parents_body("ou-ab12-abcdefgh"),
	            "{\"ChildId\":\"ou-ab12-abcdefgh\"}");
	assert_null(orgs_list_parents_body("r-ab12")); /* a root has no parent */
	assert_null(orgs_list_parents_body("12345678901"));
	assert_null(orgs_list_parents_body("123456789012\",\"x\":\""));
	assert_null(orgs_list_parents_body(NULL));

	assert_body(orgs_move_account_body("123456789012", "r-ab12", "ou-ab12-abcdefgh"),
	            "{\"AccountId\":\"123456789012\",\"SourceParentId\":\"r-ab12\","
	            "\"DestinationParentId\":\"ou-ab12-abcdefgh\"}");
	assert_null(orgs_move_account_body("12345678901", "r-ab12", "ou-ab12-abcdefgh"));
	assert_null(orgs_move_account_body("123456789012", "r-AB12", "ou-ab12-abcdefgh"));
	assert_null(orgs_move_account_body("123456789012", "r-ab12", "ou-ab12"));
	assert_null(orgs_move_account_body("123456789012", "r-ab12", "123456789012"));
	assert_null(orgs_move_account_body("123456789012", NULL, "r-ab12"));

	assert_body(orgs_tag_resource_body("123456789012", tags2, 1),
	            "{\"ResourceId\":\"123456789012\",\"Tags\":["
	            "{\"Key\":\"sesgate-tenant\",\"Value\":\"acme\"}]}");
	ok_free(orgs_tag_resource_body("r-ab12", tags2, 2));
	ok_free(orgs_tag_resource_body("ou-ab12-abcdefgh", tags2, 2));
	ok_free(orgs_tag_resource_body("p-FullAWSAccess", tags2, 2));
	assert_null(orgs_tag_resource_body("p-short", tags2, 2));
	assert_null(orgs_tag_resource_body("123456789012", tags2, 0));
	assert_null(orgs_tag_resource_body("acme", tags2, 2));
	assert_null(orgs_tag_resource_body(NULL, tags2, 2));
}

/* ---- answers ---- */

static const char cas_in_progress[] =
    "{\"CreateAccountStatus\":{\"Id\":\"car-exampleaccountcreationrequestid\","
    "\"AccountName\":\"sesgate-acme\",\"State\":\"IN_PROGRESS\","
    "\"RequestedTimestamp\":1.764331200E9}}";

static const char cas_succeeded[] =
    "{\"CreateAccountStatus\":{\"AccountId\":\"333333333333\","
    "\"AccountName\":\"sesgate-acme\",\"CompletedTimestamp\":1764331260.5,"
    "\"Id\":\"car-exampleaccountcreationrequestid\",\"RequestedTimestamp\":1764331200,"
    "\"State\":\"SUCCEEDED\"}}";

static const char cas_failed[] =
    "{\"CreateAccountStatus\":{\"Id\":\"car-0123456789abcdef\",\"AccountName\":\"x\","
    "\"State\":\"FAILED\",\"FailureReason\":\"EMAIL_ALREADY_EXISTS\"}}";

static void test_parse_cas(void **state)
{
	(void)state;
	struct orgs_cas c;

	assert_int_equal(orgs_parse_cas(S(cas_in_progress), &c), 0);
	assert_string_equal(c.id, "car-exampleaccountcreationrequestid");
	assert_string_equal(c.state, "IN_PROGRESS");
	assert_string_equal(c.account_id, "");
	assert_string_equal(c.account_name, "sesgate-acme");
	assert_string_equal(c.failure_reason, "");

	assert_int_equal(orgs_parse_cas(S(cas_succeeded), &c), 0);
	assert_string_equal(c.state, "SUCCEEDED");
	assert_string_equal(c.account_id, "333333333333");

	assert_int_equal(orgs_parse_cas(S(cas_failed), &c), 0);
	assert_string_equal(c.state, "FAILED");
	assert_string_equal(c.failure_reason, "EMAIL_ALREADY_EXISTS");

	/* A bare status object (a ListCreateAccountStatus element). */
	assert_int_equal(orgs_parse_cas(S("{\"Id\":\"car-abcdefgh\",\"State\":\"IN_PROGRESS\","
	                                  "\"AccountId\":null,\"FailureReason\":null}"),
	                                &c),
	                 0);
	assert_string_equal(c.id, "car-abcdefgh");

	/* Only @len bytes are read. */
	assert_int_equal(orgs_parse_cas(cas_failed, sizeof(cas_failed) - 1 - 1, &c), -1);
}

static void test_parse_cas_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    "not json",
	    "[]",
	    "null",
	    "{\"CreateAccountStatus\":null}",
	    "{\"CreateAccountStatus\":[]}",
	    "{\"CreateAccountStatus\":{}}",
	    /* Id */
	    "{\"State\":\"IN_PROGRESS\"}",
	    "{\"Id\":\"car-short\",\"State\":\"IN_PROGRESS\"}",
	    "{\"Id\":\"car-ABCDEFGHIJ\",\"State\":\"IN_PROGRESS\"}",
	    "{\"Id\":\"car-abcdefgh\\n\",\"State\":\"IN_PROGRESS\"}",
	    "{\"Id\":42,\"State\":\"IN_PROGRESS\"}",
	    "{\"Id\":\"car-0123456789abcdef0123456789abcdef0\",\"State\":\"IN_PROGRESS\"}",
	    /* State */
	    "{\"Id\":\"car-abcdefgh\"}",
	    "{\"Id\":\"car-abcdefgh\",\"State\":\"\"}",
	    "{\"Id\":\"car-abcdefgh\",\"State\":\"in_progress\"}",
	    "{\"Id\":\"car-abcdefgh\",\"State\":\"IN_PROGRESS_LONGER\"}",
	    "{\"Id\":\"car-abcdefgh\",\"State\":true}",
	    /* AccountId */
	    "{\"Id\":\"car-abcdefgh\",\"State\":\"SUCCEEDED\"}",
	    "{\"Id\":\"car-abcdefgh\",\"State\":\"SUCCEEDED\",\"AccountId\":\"\"}",
	    "{\"Id\":\"car-abcdefgh\",\"State\":\"SUCCEEDED\",\"AccountId\":\"33333333333\"}",
	    "{\"Id\":\"car-abcdefgh\",\"State\":\"SUCCEEDED\",\"AccountId\":\"3333333333333\"}",
	    "{\"Id\":\"car-abcdefgh\",\"State\":\"SUCCEEDED\",\"AccountId\":333333333333}",
	    "{\"Id\":\"car-abcdefgh\",\"State\":\"IN_PROGRESS\",\"AccountId\":\"../../etc\"}",
	    /* other members with the wrong type */
	    "{\"Id\":\"car-abcdefgh\",\"State\":\"FAILED\",\"FailureReason\":7}",
	    "{\"Id\":\"car-abcdefgh\",\"State\":\"FAILED\",\"AccountName\":{}}",
	};
	struct orgs_cas c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 'x', sizeof(c));
		if (orgs_parse_cas(bad[i], strlen(bad[i]), &c) != -1)
			fail_msg("case %zu accepted: %s", i, bad[i]);
		assert_string_equal(c.id, "");
		assert_string_equal(c.state, "");
	}
	assert_int_equal(orgs_parse_cas(NULL, 0, &c), -1);
	assert_int_equal(orgs_parse_cas(S(cas_failed), NULL), -1);
}

static void test_parse_cas_text(void **state)
{
	(void)state;
	struct orgs_cas c;
	char body[512];
	char *longname = repeat('N', 200);

	/* Free text is cut and cleaned, never refused. */
	snprintf(body, sizeof(body),
	         "{\"Id\":\"car-abcdefgh\",\"State\":\"FAILED\",\"AccountName\":\"%s\","
	         "\"FailureReason\":\"A\\r\\nB\\u0007C\"}",
	         longname);
	assert_int_equal(orgs_parse_cas(body, strlen(body), &c), 0);
	assert_int_equal(strlen(c.account_name), sizeof(c.account_name) - 1);
	assert_string_equal(c.failure_reason, "A  B C");
	/* Cut on a UTF-8 boundary. */
	{
		char name[256] = "";
		for (int i = 0; i < 40; i++)
			strcat(name, "\xc3\xa9");
		snprintf(body, sizeof(body),
		         "{\"Id\":\"car-abcdefgh\",\"State\":\"FAILED\",\"AccountName\":\"%s\"}",
		         name);
		assert_int_equal(orgs_parse_cas(body, strlen(body), &c), 0);
		assert_int_equal(strlen(c.account_name), 62);
	}
	free(longname);
}

static void test_parse_cas_list(void **state)
{
	(void)state;
	static const char page[] =
	    "{\"CreateAccountStatuses\":["
	    "{\"AccountName\":\"sesgate-acme\",\"Id\":\"car-aaaaaaaa\",\"State\":\"FAILED\","
	    "\"FailureReason\":\"INTERNAL_FAILURE\",\"RequestedTimestamp\":1.7E9},"
	    "{\"AccountId\":\"444444444444\",\"AccountName\":\"sesgate-acme\","
	    "\"Id\":\"car-bbbbbbbb\",\"State\":\"SUCCEEDED\"}],"
	    "\"NextToken\":\"AAQAAAAAAAAAE2X...==\"}";
	struct orgs_cas list[ORGS_PAGE_MAX];
	char next[64];
	size_t n = 99;

	assert_int_equal(orgs_parse_cas_list(S(page), list, ORGS_PAGE_MAX, &n, next, sizeof(next)),
	                 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "car-aaaaaaaa");
	assert_string_equal(list[0].failure_reason, "INTERNAL_FAILURE");
	assert_string_equal(list[1].account_id, "444444444444");
	assert_string_equal(next, "AAQAAAAAAAAAE2X...==");

	/* Last page: no token, or null. */
	assert_int_equal(orgs_parse_cas_list(S("{\"CreateAccountStatuses\":[]}"), list,
	                                     ORGS_PAGE_MAX, &n, next, sizeof(next)),
	                 0);
	assert_int_equal(n, 0);
	assert_string_equal(next, "");
	assert_int_equal(orgs_parse_cas_list(S("{\"CreateAccountStatuses\":[],\"NextToken\":null}"),
	                                     list, ORGS_PAGE_MAX, &n, next, sizeof(next)),
	                 0);
	assert_string_equal(next, "");

	/* All or nothing. */
	static const char *const bad[] = {
	    "{}",
	    "{\"CreateAccountStatuses\":{}}",
	    "{\"CreateAccountStatuses\":[{\"Id\":\"car-aaaaaaaa\",\"State\":\"FAILED\"},"
	    "{\"Id\":\"car-bad\",\"State\":\"FAILED\"}],\"NextToken\":\"t\"}",
	    "{\"CreateAccountStatuses\":[7]}",
	    "{\"CreateAccountStatuses\":[],\"NextToken\":5}",
	    "not json",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = 7;
		strcpy(next, "stale");
		if (orgs_parse_cas_list(bad[i], strlen(bad[i]), list, ORGS_PAGE_MAX, &n, next,
		                        sizeof(next)) != -1)
			fail_msg("case %zu accepted", i);
		assert_int_equal(n, 0);
		assert_string_equal(next, "");
	}
	/* More entries than room. */
	assert_int_equal(orgs_parse_cas_list(S(page), list, 1, &n, next, sizeof(next)), -1);
	assert_int_equal(n, 0);
	/* A token that does not fit is never cut. */
	assert_int_equal(orgs_parse_cas_list(S(page), list, ORGS_PAGE_MAX, &n, next, 20), -1);
	assert_int_equal(orgs_parse_cas_list(S(page), list, ORGS_PAGE_MAX, &n, next, 21), 0);
	/* No token buffer: one page only. */
	assert_int_equal(orgs_parse_cas_list(S(page), list, ORGS_PAGE_MAX, &n, NULL, 0), 0);
	assert_int_equal(n, 2);
	assert_int_equal(orgs_parse_cas_list(S(page), list, ORGS_PAGE_MAX, NULL, next, 64), -1);
}

static void test_parse_accounts(void **state)
{
	(void)state;
	static const char page[] =
	    "{\"Accounts\":["
	    "{\"Arn\":\"arn:aws:organizations::111111111111:account/o-exampleorgid/111111111111\","
	    "\"Email\":\"bill@example.com\",\"Id\":\"111111111111\",\"JoinedMethod\":\"INVITED\","
	    "\"JoinedTimestamp\":1481830215.45,\"Name\":\"Master Account\",\"Status\":\"ACTIVE\"},"
	    "{\"Email\":\"ops+acme@example.com\",\"Id\":\"222222222222\",\"Name\":\"sesgate-acme\","
	    "\"State\":\"PENDING_ACTIVATION\"},"
	    "{\"Id\":\"333333333333\"}],"
	    "\"NextToken\":\"tok\"}";
	struct orgs_account a[ORGS_PAGE_MAX];
	char next[16];
	size_t n;

	assert_int_equal(orgs_parse_accounts(S(page), a, ORGS_PAGE_MAX, &n, next, sizeof(next)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(a[0].id, "111111111111");
	assert_string_equal(a[0].email, "bill@example.com");
	assert_string_equal(a[0].name, "Master Account");
	assert_string_equal(a[0].status, "ACTIVE");
	assert_string_equal(a[1].status, "PENDING_ACTIVATION");
	assert_string_equal(a[2].email, "");
	assert_string_equal(a[2].status, "");
	assert_string_equal(next, "tok");

	/* Email: up to 127 octets kept, longer refused (it is matched). */
	{
		char body[512], *e127 = repeat('e', 127), *e128 = repeat('e', 128);
		snprintf(body, sizeof(body),
		         "{\"Accounts\":[{\"Id\":\"111111111111\",\"Email\":\"%s\"}]}", e127);
		assert_int_equal(orgs_parse_accounts(body, strlen(body), a, 1, &n, next, 16), 0);
		assert_string_equal(a[0].email, e127);
		snprintf(body, sizeof(body),
		         "{\"Accounts\":[{\"Id\":\"111111111111\",\"Email\":\"%s\"}]}", e128);
		assert_int_equal(orgs_parse_accounts(body, strlen(body), a, 1, &n, next, 16), -1);
		free(e127);
		free(e128);
	}
	static const char *const bad[] = {
	    "{\"Accounts\":[{\"Email\":\"a@example.com\"}]}",
	    "{\"Accounts\":[{\"Id\":\"11111111111\"}]}",
	    "{\"Accounts\":[{\"Id\":111111111111}]}",
	    "{\"Accounts\":[{\"Id\":\"111111111111\",\"Email\":[]}]}",
	    "{\"Accounts\":[{\"Id\":\"111111111111\",\"Status\":1}]}",
	    "{\"Accounts\":[{\"Id\":\"111111111111\",\"State\":false}]}",
	    "{\"Accounts\":null}",
	    "{\"Roots\":[]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (orgs_parse_accounts(bad[i], strlen(bad[i]), a, ORGS_PAGE_MAX, &n, next,
		                        sizeof(next)) != -1)
			fail_msg("case %zu accepted", i);
}

static void test_parse_first_id(void **state)
{
	(void)state;
	static const char roots[] =
	    "{\"Roots\":[{\"Arn\":\"arn:aws:organizations::111111111111:root/o-exampleorgid/"
	    "r-examplerootid111\",\"Id\":\"r-examplerootid111\",\"Name\":\"Root\","
	    "\"PolicyTypes\":[]}]}";
	static const char parents_ou[] =
	    "{\"Parents\":[{\"Id\":\"ou-examplerootid111-exampleouid111\","
	    "\"Type\":\"ORGANIZATIONAL_UNIT\"}]}";
	static const char parents_root[] = "{\"Parents\":[{\"Id\":\"r-ab12\",\"Type\":\"ROOT\"}]}";
	char id[96], type[32];

	assert_int_equal(orgs_parse_first_id(S(roots), "Roots", id, sizeof(id)), 0);
	assert_string_equal(id, "r-examplerootid111");
	assert_int_equal(orgs_parse_first_id(S(parents_ou), "Parents", id, sizeof(id)), 0);
	assert_string_equal(id, "ou-examplerootid111-exampleouid111");
	assert_int_equal(orgs_parse_first_parent(S(parents_ou), id, sizeof(id), type, sizeof(type)),
	                 0);
	assert_string_equal(type, "ORGANIZATIONAL_UNIT");
	assert_int_equal(
	    orgs_parse_first_parent(S(parents_root), id, sizeof(id), type, sizeof(type)), 0);
	assert_string_equal(id, "r-ab12");
	assert_string_equal(type, "ROOT");
	assert_int_equal(orgs_parse_first_parent(S("{\"Parents\":[{\"Id\":\"r-ab12\"}]}"), id,
	                                         sizeof(id), type, sizeof(type)),
	                 0);
	assert_string_equal(type, "");

	/* Exactly fitting, and one short. */
	assert_int_equal(orgs_parse_first_id(S(parents_root), "Parents", id, 7), 0);
	assert_int_equal(orgs_parse_first_id(S(parents_root), "Parents", id, 6), -1);
	assert_string_equal(id, "");

	static const struct {
		const char *body, *key;
	} bad[] = {
	    {"{\"Roots\":[]}", "Roots"},
	    {"{\"Roots\":[{\"Id\":\"ou-ab12-abcdefgh\"}]}", "Roots"},
	    {"{\"Parents\":[{\"Id\":\"123456789012\"}]}", "Parents"},
	    {"{\"Parents\":[{\"Id\":\"r-ab12\",\"Type\":\"ORGANIZATIONAL_UNIT\"}]}", "Parents"},
	    {"{\"Parents\":[{\"Id\":\"ou-ab12-abcdefgh\",\"Type\":\"ROOT\"}]}", "Parents"},
	    {"{\"Parents\":[{\"Id\":\"r-ab12\",\"Type\":1}]}", "Parents"},
	    {"{\"Parents\":[{\"Id\":\"r-ab12\\n\"}]}", "Parents"},
	    {"{\"Parents\":[{\"Id\":null}]}", "Parents"},
	    {"{\"Parents\":{\"Id\":\"r-ab12\"}}", "Parents"},
	    {"{\"Parents\":[\"r-ab12\"]}", "Parents"},
	    {"{\"Accounts\":[{\"Id\":\"r-ab12\"}]}", "Accounts"},
	    {"{\"Parents\":[{\"Id\":\"r-ab12\"}]}", NULL},
	    {"garbage", "Parents"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (orgs_parse_first_id(bad[i].body, strlen(bad[i].body), bad[i].key, id,
		                        sizeof(id)) != -1)
			fail_msg("case %zu accepted", i);
}

/* ---- errors (awsjson.c) ---- */

static void test_json_error_orgs(void **state)
{
	(void)state;
	char code[96], msg[300];

	/* awsJson1_1: __type with a namespace, Message capitalised. */
	assert_int_equal(
	    aws_json_error(400, NULL,
	                   S("{\"__type\":\"com.amazonaws.organizations.v20161128#"
	                     "TooManyRequestsException\",\"Message\":\"AWS Organizations can't "
	                     "complete your request because another request is already in "
	                     "progress.\",\"Type\":\"CreateAccount\"}"),
	                   code, sizeof(code), msg, sizeof(msg)),
	    0);
	assert_string_equal(code, "TooManyRequestsException");
	assert_string_equal(msg, "AWS Organizations can't complete your request because another "
	                         "request is already in progress.");
	assert_int_equal(aws_error_retryable(400, code), AWS_ERR_RETRY);

	assert_int_equal(aws_json_error(400, NULL,
	                                S("{\"__type\":\"ConstraintViolationException\","
	                                  "\"Message\":\"limit\",\"Reason\":"
	                                  "\"ACCOUNT_NUMBER_LIMIT_EXCEEDED\"}"),
	                                code, sizeof(code), msg, sizeof(msg)),
	                 0);
	assert_string_equal(code, "ConstraintViolationException");
	assert_int_equal(aws_error_retryable(400, code), AWS_ERR_PERMANENT);

	assert_int_equal(aws_json_error(400, NULL,
	                                S("{\"__type\":\"DuplicateAccountException\","
	                                  "\"Message\":\"That account is already present in the "
	                                  "specified destination.\"}"),
	                                code, sizeof(code), msg, sizeof(msg)),
	                 0);
	assert_int_equal(aws_error_retryable(400, code), AWS_ERR_EXISTS);

	/* The header wins; a blank header does not. */
	aws_json_error(400, "AccessDeniedException:http://internal.amazon.com/coral/",
	               S("{\"__type\":\"ServiceException\"}"), code, sizeof(code), msg,
	               sizeof(msg));
	assert_string_equal(code, "AccessDeniedException");
	aws_json_error(400, " \t", S("{\"__type\":\"ServiceException\"}"), code, sizeof(code), msg,
	               sizeof(msg));
	assert_string_equal(code, "ServiceException");

	/* No error on success or without an answer; outputs are cleared. */
	strcpy(code, "stale");
	strcpy(msg, "stale");
	assert_int_equal(
	    aws_json_error(200, "X", S("{\"__type\":\"Y\"}"), code, sizeof(code), msg, sizeof(msg)),
	    -1);
	assert_string_equal(code, "");
	assert_string_equal(msg, "");
	assert_int_equal(aws_json_error(0, "X", NULL, 0, code, sizeof(code), msg, sizeof(msg)), -1);
	assert_string_equal(code, "");

	/* No code anywhere. */
	assert_int_equal(aws_json_error(503, NULL, S("<html>Service Unavailable</html>"), code,
	                                sizeof(code), msg, sizeof(msg)),
	                 -1);
	assert_int_equal(aws_json_error(400, NULL, S("{\"Message\":\"only text\"}"), code,
	                                sizeof(code), msg, sizeof(msg)),
	                 -1);
	assert_string_equal(msg, "only text");
	assert_int_equal(aws_json_error(400, NULL, NULL, 0, code, sizeof(code), msg, sizeof(msg)),
	                 -1);
	assert_int_equal(aws_json_error(400, NULL, S("[1]"), NULL, 0, NULL, 0), -1);

	/* The query-protocol XML document is understood as well. */
	assert_int_equal(
	    aws_json_error(409, NULL,
	                   S("<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/"
	                     "2010-05-08/\"><Error><Type>Sender</Type><Code>"
	                     "EntityAlreadyExists</Code><Message>Role with name x "
	                     "already exists.</Message></Error><RequestId>r</RequestId>"
	                     "</ErrorResponse>"),
	                   code, sizeof(code), msg, sizeof(msg)),
	    0);
	assert_string_equal(code, "EntityAlreadyExists");
	assert_string_equal(msg, "Role with name x already exists.");

	/* Truncation and hostile text. */
	{
		char small[8];
		aws_json_error(400, "TooManyRequestsException", S("{}"), small, sizeof(small), NULL,
		               0);
		assert_string_equal(small, "TooMany");
		/* A truncated code matches nothing. */
		assert_int_equal(aws_error_retryable(400, small), AWS_ERR_PERMANENT);
	}
	aws_json_error(400, "Evil\r\nSet-Cookie: x", S("{\"Message\":\"a\\nb\\u001bc\"}"), code,
	               sizeof(code), msg, sizeof(msg));
	assert_string_equal(code, "Evil??Set-Cookie");
	assert_string_equal(msg, "a b c");
}

static void test_retry_matrix(void **state)
{
	(void)state;
	static const struct {
		long status;
		const char *code;
		enum aws_retry want;
	} m[] = {
	    /* Success and no answer. */
	    {200, NULL, AWS_ERR_NONE},
	    {204, "", AWS_ERR_NONE},
	    {200, "ThrottlingException", AWS_ERR_NONE},
	    {0, NULL, AWS_ERR_RETRY},
	    {0, "EntityAlreadyExists", AWS_ERR_RETRY},
	    /* Already exists. */
	    {409, "EntityAlreadyExists", AWS_ERR_EXISTS},
	    {400, "AlreadyExistsException", AWS_ERR_EXISTS},
	    {400, "DuplicateAccountException", AWS_ERR_EXISTS},
	    /* Credentials. */
	    {403, "ExpiredToken", AWS_ERR_CREDS},
	    {400, "ExpiredTokenException", AWS_ERR_CREDS},
	    {403, "InvalidClientTokenId", AWS_ERR_CREDS},
	    {400, "UnrecognizedClientException", AWS_ERR_CREDS},
	    /* Throttling, whatever the status. */
	    {400, "TooManyRequestsException", AWS_ERR_RETRY},
	    {429, "TooManyRequestsException", AWS_ERR_RETRY},
	    {400, "Throttling", AWS_ERR_RETRY},
	    {400, "ThrottlingException", AWS_ERR_RETRY},
	    {503, "RequestLimitExceeded", AWS_ERR_RETRY},
	    {400, "RequestLimitExceeded", AWS_ERR_RETRY},
	    {503, "SlowDown", AWS_ERR_RETRY},
	    /* Their side or a race. */
	    {400, "ConcurrentModificationException", AWS_ERR_RETRY},
	    {500, "ConcurrentModificationException", AWS_ERR_RETRY},
	    {400, "FinalizingOrganizationException", AWS_ERR_RETRY},
	    {500, "ServiceException", AWS_ERR_RETRY},
	    {500, "ServiceFailure", AWS_ERR_RETRY},
	    {500, "InternalFailure", AWS_ERR_RETRY},
	    {500, "InternalServiceErrorException", AWS_ERR_RETRY},
	    {503, "ServiceUnavailable", AWS_ERR_RETRY},
	    {400, "RequestTimeout", AWS_ERR_RETRY},
	    /* Clock and signature. */
	    {403, "RequestTimeTooSkewed", AWS_ERR_RETRY},
	    {403, "RequestExpired", AWS_ERR_RETRY},
	    {403, "SignatureDoesNotMatch", AWS_ERR_RETRY},
	    /* The request is wrong or not allowed. */
	    {400, "AccessDeniedException", AWS_ERR_PERMANENT},
	    {403, "AccessDenied", AWS_ERR_PERMANENT},
	    {400, "AWSOrganizationsNotInUseException", AWS_ERR_PERMANENT},
	    {400, "ConstraintViolationException", AWS_ERR_PERMANENT},
	    {400, "InvalidInputException", AWS_ERR_PERMANENT},
	    {400, "AccountNotFoundException", AWS_ERR_PERMANENT},
	    {400, "CreateAccountStatusNotFoundException", AWS_ERR_PERMANENT},
	    {400, "SourceParentNotFoundException", AWS_ERR_PERMANENT},
	    {400, "UnsupportedAPIEndpointException", AWS_ERR_PERMANENT},
	    {404, "NoSuchEntity", AWS_ERR_PERMANENT},
	    {409, "LimitExceeded", AWS_ERR_PERMANENT},
	    {400, "LimitExceededException", AWS_ERR_PERMANENT},
	    {400, "MalformedPolicyDocument", AWS_ERR_PERMANENT},
	    {404, "NotFoundException", AWS_ERR_PERMANENT},
	    {409, "ConflictException", AWS_ERR_PERMANENT},
	    {400, "BadRequestException", AWS_ERR_PERMANENT},
	    /* Codes are case-sensitive identifiers. */
	    {400, "throttling", AWS_ERR_PERMANENT},
	    {400, "entityalreadyexists", AWS_ERR_PERMANENT},
	    /* Unknown codes: the status decides. */
	    {400, "SomethingNew", AWS_ERR_PERMANENT},
	    {409, "SomethingNew", AWS_ERR_PERMANENT},
	    {500, "SomethingNew", AWS_ERR_RETRY},
	    {502, "SomethingNew", AWS_ERR_RETRY},
	    {429, "SomethingNew", AWS_ERR_RETRY},
	    {408, "SomethingNew", AWS_ERR_RETRY},
	    /* No code: not an AWS verdict. */
	    {400, "", AWS_ERR_RETRY},
	    {403, NULL, AWS_ERR_RETRY},
	    {404, "", AWS_ERR_RETRY},
	    {500, "", AWS_ERR_RETRY},
	    {301, "", AWS_ERR_RETRY},
	    {100, "", AWS_ERR_RETRY},
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		enum aws_retry got = aws_error_retryable(m[i].status, m[i].code);
		if (got != m[i].want)
			fail_msg("case %zu (%ld %s): got %s, want %s", i, m[i].status,
			         m[i].code ? m[i].code : "NULL", aws_retry_name(got),
			         aws_retry_name(m[i].want));
	}
	assert_string_equal(aws_retry_name(AWS_ERR_EXISTS), "exists");
	assert_string_equal(aws_retry_name(AWS_ERR_CREDS), "creds");
	assert_string_equal(aws_retry_name(AWS_ERR_NONE), "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_id_patterns),
	    cmocka_unit_test(test_create_account_body),
	    cmocka_unit_test(test_create_account_limits),
	    cmocka_unit_test(test_tags_refused),
	    cmocka_unit_test(test_injection),
	    cmocka_unit_test(test_small_bodies),
	    cmocka_unit_test(test_parse_cas),
	    cmocka_unit_test(test_parse_cas_refused),
	    cmocka_unit_test(test_parse_cas_text),
	    cmocka_unit_test(test_parse_cas_list),
	    cmocka_unit_test(test_parse_accounts),
	    cmocka_unit_test(test_parse_first_id),
	    cmocka_unit_test(test_json_error_orgs),
	    cmocka_unit_test(test_retry_matrix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
