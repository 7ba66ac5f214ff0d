/*
 * Unit tests of src/aws/iam.c: the CreateRole / PutRolePolicy / GetRole
 * form bodies (exact text, and decoded back to prove JSON policies survive
 * percent-encoding), IAM's name, description, tag and policy rules, the
 * trust and sending policies, the role ARN from real-shaped CreateRole and
 * GetRole answers and from hostile XML, and how IAM's XML errors are
 * classified.
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
#include "aws/awsparse.h"
#include "aws/iam.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static const char trust_exact[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
    "\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:role/sesgate-gateway\"},"
    "\"Action\":\"sts:AssumeRole\",\"Condition\":{\"StringEquals\":"
    "{\"sts:ExternalId\":\"9f86d081884c7d659a2feaa0c55ad015\"}}}]}";

static const struct aws_tag tags2[] = {
    {"sesgate-tenant", "acme"},
    {"sesgate-tenant-id", "4c1d0a9e7f2b8c35"},
};

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

/*
 * Decode the form body @b and return the value of @key (a fresh string),
 * or NULL when absent.  Checks on the way that the body holds only
 * unreserved characters, '%XX' with upper-case hex, '=' and '&'.
 */
static char *form_get(const char *b, const char *key)
{
	char *copy = strdup(b), *save = NULL, *res = NULL;

	assert_non_null(copy);
	for (const char *p = b; *p; p++) {
		unsigned char c = (unsigned char)*p;
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		         (c >= '0' && c <= '9') || strchr("-_.~%=&", c);
		if (!ok)
			fail_msg("raw '%c' in form body", c);
		if (c == '%')
			assert_true(strchr("0123456789ABCDEF", p[1]) && p[1] &&
			            strchr("0123456789ABCDEF", p[2]) && p[2]);
	}
	for (char *kv = strtok_r(copy, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(kv, '=');
		assert_non_null(eq);
		*eq = '\0';
		if (strcmp(kv, key) != 0)
			continue;
		assert_null(res); /* each key once */
		res = malloc(strlen(eq + 1) + 1);
		assert_non_null(res);
		size_t o = 0;
		for (const char *v = eq + 1; *v; v++) {
			if (*v == '%') {
				char h[3] = {v[1], v[2], 0};
				res[o++] = (char)strtol(h, NULL, 16);
				v += 2;
			} else {
				res[o++] = *v;
			}
		}
		res[o] = '\0';
	}
	free(copy);
	return res;
}

/* ---- bodies ---- */

static void test_create_role_exact(void **state)
{
	(void)state;
	char *b = iam_create_role_body("sesgate-sending", "{\"a\":1}", "for acme", 3600, tags2, 2);

	assert_non_null(b);
	assert_string_equal(b, "Action=CreateRole&Version=2010-05-08&RoleName=sesgate-sending"
	                       "&AssumeRolePolicyDocument=%7B%22a%22%3A1%7D"
	                       "&Description=for%20acme&MaxSessionDuration=3600"
	                       "&Tags.member.1.Key=sesgate-tenant&Tags.member.1.Value=acme"
	                       "&Tags.member.2.Key=sesgate-tenant-id"
	                       "&Tags.member.2.Value=4c1d0a9e7f2b8c35");
	free(b);
	/* Optional parts left out. */
	b = iam_create_role_body("r", "{}", NULL, 0, NULL, 0);
	assert_string_equal(b, "Action=CreateRole&Version=2010-05-08&RoleName=r"
	                       "&AssumeRolePolicyDocument=%7B%7D");
	free(b);
	b = iam_create_role_body("r", "{}", "", 0, NULL, 0);
	assert_string_equal(b, "Action=CreateRole&Version=2010-05-08&RoleName=r"
	                       "&AssumeRolePolicyDocument=%7B%7D");
	free(b);
}

static void test_create_role_policy_roundtrip(void **state)
{
	(void)state;
	char *trust = iam_trust_policy("arn:aws:iam::111122223333:role/sesgate-gateway",
	                               "9f86d081884c7d659a2feaa0c55ad015");
	const char *desc = "sesgate sending role for tenant acme & co: 100% \xc3\xa9t\xc3\xa9";
	char *b, *v;

	assert_string_equal(trust, trust_exact);
	b = iam_create_role_body("sesgate-sending", trust, desc, 43200, tags2, 2);
	assert_non_null(b);
	v = form_get(b, "AssumeRolePolicyDocument");
	assert_string_equal(v, trust);
	free(v);
	v = form_get(b, "Description");
	assert_string_equal(v, desc);
	free(v);
	v = form_get(b, "MaxSessionDuration");
	assert_string_equal(v, "43200");
	free(v);
	v = form_get(b, "Tags.member.2.Value");
	assert_string_equal(v, "4c1d0a9e7f2b8c35");
	free(v);
	assert_null(form_get(b, "Tags.member.3.Key"));
	/* Space is %20, never '+', and '+' itself is encoded. */
	assert_non_null(strstr(b, "%20"));
	assert_null(strchr(b, '+'));
	free(b);
	free(trust);
}

static void test_create_role_refused(void **state)
{
	(void)state;
	char *r64 = repeat('r', 64), *r65 = repeat('r', 65);
	char *d1000 = repeat('d', 1000), *d1001 = repeat('d', 1001);
	char *big;

	ok_free(iam_create_role_body(r64, "{}", NULL, 0, NULL, 0));
	ok_free(iam_create_role_body("A_b+=,.@-9", "{}", NULL, 0, NULL, 0));
	static const char *const bad_names[] = {
	    "", "a b", "a/b", "a\"b", "a&b", "a\nb", "r\xc3\xa9le", "a:b", "a#b",
	};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		if (iam_create_role_body(bad_names[i], "{}", NULL, 0, NULL, 0))
			fail_msg("role name %zu accepted", i);
	assert_null(iam_create_role_body(r65, "{}", NULL, 0, NULL, 0));
	assert_null(iam_create_role_body(NULL, "{}", NULL, 0, NULL, 0));
	assert_false(iam_role_name_valid(NULL));

	/* Policies: a JSON object in IAM's characters, 1..131072 octets. */
	static const char *const bad_pol[] = {
	    "",
	    "not json",
	    "[1]",
	    "\"s\"",
	    "{\"a\":1",
	    "{\"a\":\"\xc4\x80\"}",     /* U+0100 */
	    "{\"a\":\"\xe2\x82\xac\"}", /* EUR */
	    "{\"a\":1}\x01",
	    "{\"a\":\"\xff\"}",
	};
	for (size_t i = 0; i < sizeof(bad_pol) / sizeof(bad_pol[0]); i++)
		if (iam_create_role_body("r", bad_pol[i], NULL, 0, NULL, 0))
			fail_msg("policy %zu accepted", i);
	assert_null(iam_create_role_body("r", NULL, NULL, 0, NULL, 0));
	ok_free(iam_create_role_body("r", "{\"a\":\"\xc3\xbf\\u20ac\"}\n\t", NULL, 0, NULL, 0));
	big = malloc(IAM_POLICY_DOC_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', IAM_POLICY_DOC_MAX + 1);
	big[0] = '{';
	big[IAM_POLICY_DOC_MAX - 1] = '}';
	big[IAM_POLICY_DOC_MAX] = '\0';
	ok_free(iam_create_role_body("r", big, NULL, 0, NULL, 0));
	big[IAM_POLICY_DOC_MAX] = ' ';
	big[IAM_POLICY_DOC_MAX + 1] = '\0';
	assert_null(iam_create_role_body("r", big, NULL, 0, NULL, 0));
	free(big);

	/* Descriptions. */
	ok_free(iam_create_role_body("r", "{}", d1000, 0, NULL, 0));
	assert_null(iam_create_role_body("r", "{}", d1001, 0, NULL, 0));
	ok_free(iam_create_role_body("r", "{}", "tab\tnl\ncr\r \xc2\xa1\xc3\xbf", 0, NULL, 0));
	assert_null(iam_create_role_body("r", "{}", "bell\x07", 0, NULL, 0));
	assert_null(iam_create_role_body("r", "{}", "del\x7f", 0, NULL, 0));
	assert_null(iam_create_role_body("r", "{}", "c1\xc2\x80", 0, NULL, 0));
	assert_null(iam_create_role_body("r", "{}", "nbsp\xc2\xa0", 0, NULL, 0));
	assert_null(iam_create_role_body("r", "{}", "\xe2\x82\xac", 0, NULL, 0));
	assert_null(iam_create_role_body("r", "{}", "bad\xc3", 0, NULL, 0));

	/* MaxSessionDuration. */
	ok_free(iam_create_role_body("r", "{}", NULL, 3600, NULL, 0));
	ok_free(iam_create_role_body("r", "{}", NULL, 43200, NULL, 0));
	assert_null(iam_create_role_body("r", "{}", NULL, 3599, NULL, 0));
	assert_null(iam_create_role_body("r", "{}", NULL, 43201, NULL, 0));
	assert_null(iam_create_role_body("r", "{}", NULL, -1, NULL, 0));

	free(r64);
	free(r65);
	free(d1000);
	free(d1001);
}

static void test_create_role_tags(void **state)
{
	(void)state;
	struct aws_tag many[AWS_TAGS_MAX + 1];
	char keys[AWS_TAGS_MAX + 1][8];
	char *k128 = repeat('k', 128), *k129 = repeat('k', 129), *v257 = repeat('v', 257);
	char *b, *v;

	for (size_t i = 0; i <= AWS_TAGS_MAX; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		many[i].key = keys[i];
		many[i].value = "";
	}
	b = iam_create_role_body("r", "{}", NULL, 0, many, AWS_TAGS_MAX);
	assert_non_null(b);
	v = form_get(b, "Tags.member.50.Key");
	assert_string_equal(v, "k49");
	free(v);
	v = form_get(b, "Tags.member.50.Value");
	assert_string_equal(v, "");
	free(v);
	free(b);
	assert_null(iam_create_role_body("r", "{}", NULL, 0, many, AWS_TAGS_MAX + 1));

	/* IAM's tag characters: letters, digits, spaces and _.:/=+-@. */
	const struct aws_tag good[] = {{"team:mail/env", "a b_c.d:e/f=g+h-i@j"},
	                               {"k\xc3\xa9", "v\xc3\xa9"}};
	b = iam_create_role_body("r", "{}", NULL, 0, good, 2);
	assert_non_null(b);
	v = form_get(b, "Tags.member.1.Value");
	assert_string_equal(v, "a b_c.d:e/f=g+h-i@j");
	free(v);
	free(b);

	const struct aws_tag bad[][2] = {
	    {{"a#b", "v"}, {"x", "y"}},
	    {{"a", "v\"w"}, {"x", "y"}},
	    {{"a", "v&Action=DeleteRole"}, {"x", "y"}},
	    {{"a", "v\n"}, {"x", "y"}},
	    {{"Env", "v"}, {"env", "w"}}, /* unique ignoring case */
	    {{"", "v"}, {"x", "y"}},
	    {{k129, "v"}, {"x", "y"}},
	    {{"a", v257}, {"x", "y"}},
	    {{"a", NULL}, {"x", "y"}},
	    {{NULL, "v"}, {"x", "y"}},
	    {{"a\xff", "v"}, {"x", "y"}},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (iam_create_role_body("r", "{}", NULL, 0, bad[i], 2))
			fail_msg("tag case %zu accepted", i);
	const struct aws_tag k[] = {{k128, "v"}};
	ok_free(iam_create_role_body("r", "{}", NULL, 0, k, 1));
	assert_null(iam_create_role_body("r", "{}", NULL, 0, NULL, 1));
	free(k128);
	free(k129);
	free(v257);
}

static void test_put_get_bodies(void **state)
{
	(void)state;
	char *p128 = repeat('p', 128), *p129 = repeat('p', 129);
	char *pol = iam_sending_policy();
	char *b, *v;

	b = iam_put_role_policy_body("sesgate-sending", "sesgate-send", "{\"a\":[1,2]}");
	assert_string_equal(b,
	                    "Action=PutRolePolicy&Version=2010-05-08&RoleName=sesgate-sending"
	                    "&PolicyName=sesgate-send&PolicyDocument=%7B%22a%22%3A%5B1%2C2%5D%7D");
	free(b);
	b = iam_put_role_policy_body("sesgate-sending", "sesgate-send", pol);
	v = form_get(b, "PolicyDocument");
	assert_string_equal(v, pol);
	free(v);
	free(b);
	ok_free(iam_put_role_policy_body("r", p128, "{}"));
	assert_null(iam_put_role_policy_body("r", p129, "{}"));
	assert_null(iam_put_role_policy_body("r", "", "{}"));
	assert_null(iam_put_role_policy_body("r", "a b", "{}"));
	assert_null(iam_put_role_policy_body("r", NULL, "{}"));
	assert_null(iam_put_role_policy_body("r r", "p", "{}"));
	assert_null(iam_put_role_policy_body("r", "p", "[]"));
	assert_null(iam_put_role_policy_body("r", "p", NULL));

	b = iam_get_role_body("sesgate-sending");
	assert_string_equal(b, "Action=GetRole&Version=2010-05-08&RoleName=sesgate-sending");
	free(b);
	b = iam_get_role_body("a+b=c,d.e@f");
	assert_string_equal(b, "Action=GetRole&Version=2010-05-08&RoleName=a%2Bb%3Dc%2Cd.e%40f");
	free(b);
	assert_null(iam_get_role_body("a&Action=DeleteRole"));
	assert_null(iam_get_role_body(""));
	assert_null(iam_get_role_body(NULL));
	free(p128);
	free(p129);
	free(pol);
}

/* ---- policies ---- */

static void test_trust_policy(void **state)
{
	(void)state;
	char *p = iam_trust_policy("arn:aws:iam::111122223333:role/sesgate-gateway",
	                           "9f86d081884c7d659a2feaa0c55ad015");
	assert_string_equal(p, trust_exact);
	free(p);

	/* No external id: no condition. */
	p = iam_trust_policy("arn:aws:iam::111122223333:root", NULL);
	assert_string_equal(p, "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
	                       "\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:root\"},"
	                       "\"Action\":\"sts:AssumeRole\"}]}");
	free(p);
	p = iam_trust_policy("arn:aws-cn:iam::111122223333:user/ops", "");
	assert_non_null(p);
	assert_null(strstr(p, "Condition"));
	free(p);
	/* The whole external id alphabet, 2 and 1224 long. */
	p = iam_trust_policy("arn:aws:iam::111122223333:root", "aZ09_+=,.@:/-");
	assert_non_null(strstr(p, "\"sts:ExternalId\":\"aZ09_+=,.@:/-\""));
	free(p);
	{
		char *e = repeat('e', 1224);
		ok_free(iam_trust_policy("arn:aws:iam::111122223333:root", e));
		e[1] = '\0';
		assert_null(iam_trust_policy("arn:aws:iam::111122223333:root", e));
		free(e);
		e = repeat('e', 1225);
		assert_null(iam_trust_policy("arn:aws:iam::111122223333:root", e));
		free(e);
	}
	static const char *const bad_ext[] = {
	    "has space", "quote\"}]}", "new\nline", "\xc3\xa9t\xc3\xa9", "a*b",
	};
	for (size_t i = 0; i < sizeof(bad_ext) / sizeof(bad_ext[0]); i++)
		if (iam_trust_policy("arn:aws:iam::111122223333:root", bad_ext[i]))
			fail_msg("external id %zu accepted", i);

	static const char *const bad_arn[] = {
	    "",
	    "sesgate-gateway",
	    "arn:aws:iam::11112222333:role/x",
	    "arn:aws:iam::1111222233334:role/x",
	    "arn:aws:iam::111122223333:",
	    "arn:aws:iam:us-east-1:111122223333:role/x",
	    "arn:aws:sts::111122223333:assumed-role/x/y",
	    "arn:AWS:iam::111122223333:role/x",
	    "arn:aws:iam::111122223333:role/x y",
	    "arn:aws:iam::111122223333:role/x\"},\"Action\":\"*",
	    "arn:aws:iam::111122223333:role/\xc3\xa9",
	    "*",
	};
	for (size_t i = 0; i < sizeof(bad_arn) / sizeof(bad_arn[0]); i++)
		if (iam_trust_policy(bad_arn[i], "abc"))
			fail_msg("principal %zu accepted", i);
	assert_null(iam_trust_policy(NULL, "abc"));
}

static void test_sending_policy(void **state)
{
	(void)state;
	char *p = iam_sending_policy();
	json_t *j, *st, *act;

	assert_string_equal(p,
	                    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"SesgateSend\","
	                    "\"Effect\":\"Allow\",\"Action\":[\"ses:SendEmail\","
	                    "\"ses:SendRawEmail\",\"ses:GetAccount\"],\"Resource\":\"*\"}]}");
	j = json_loads(p, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "Statement")), 1);
	st = json_array_get(json_object_get(j, "Statement"), 0);
	assert_string_equal(json_string_value(json_object_get(st, "Effect")), "Allow");
	act = json_object_get(st, "Action");
	assert_int_equal(json_array_size(act), 3);
	/* No wildcard action, no Deny-less NotAction tricks. */
	assert_null(strstr(p, "ses:*"));
	assert_null(json_object_get(st, "NotAction"));
	json_decref(j);
	/* It is a policy IAM takes. */
	ok_free(iam_put_role_policy_body("r", "p", p));
	free(p);
}

/* ---- the role ARN ---- */

static const char create_role_resp[] =
    "<CreateRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\n"
    "  <CreateRoleResult>\n"
    "    <Role>\n"
    "      <Path>/</Path>\n"
    "      <AssumeRolePolicyDocument>%7B%22Version%22%3A%222012-10-17%22%7D"
    "</AssumeRolePolicyDocument>\n"
    "      <MaxSessionDuration>3600</MaxSessionDuration>\n"
    "      <RoleId>AROADBQP57FF2AEXAMPLE</RoleId>\n"
    "      <RoleName>sesgate-sending</RoleName>\n"
    "      <Arn>arn:aws:iam::123456789012:role/sesgate-sending</Arn>\n"
    "      <CreateDate>2026-11-28T12:00:00Z</CreateDate>\n"
    "      <Tags><member><Key>sesgate-tenant</Key><Value>acme</Value></member></Tags>\n"
    "    </Role>\n"
    "  </CreateRoleResult>\n"
    "  <ResponseMetadata>\n"
    "    <RequestId>4a93ceee-9966-11e1-b624-b1aEXAMPLE7c</RequestId>\n"
    "  </ResponseMetadata>\n"
    "</CreateRoleResponse>\n";

static const char get_role_resp[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<GetRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\n"
    "  <GetRoleResult>\n"
    "    <Role>\n"
    "      <PermissionsBoundary>\n"
    "        <PermissionsBoundaryType>Policy</PermissionsBoundaryType>\n"
    "        <PermissionsBoundaryArn>arn:aws:iam::123456789012:policy/boundary"
    "</PermissionsBoundaryArn>\n"
    "      </PermissionsBoundary>\n"
    "      <RoleLastUsed><Region>eu-west-1</Region></RoleLastUsed>\n"
    "      <Path>/sesgate/</Path>\n"
    "      <Arn>arn:aws:iam::123456789012:role/sesgate/sesgate-sending</Arn>\n"
    "      <RoleName>sesgate-sending</RoleName>\n"
    "    </Role>\n"
    "  </GetRoleResult>\n"
    "  <ResponseMetadata><RequestId>df37e965-9967-11e1-a4c3-270EXAMPLE04</RequestId>"
    "</ResponseMetadata>\n"
    "</GetRoleResponse>";

static void test_parse_role_arn(void **state)
{
	(void)state;
	char arn[256];

	assert_int_equal(iam_parse_role_arn(S(create_role_resp), arn, sizeof(arn)), 0);
	assert_string_equal(arn, "arn:aws:iam::123456789012:role/sesgate-sending");
	assert_int_equal(iam_parse_role_arn(S(get_role_resp), arn, sizeof(arn)), 0);
	assert_string_equal(arn, "arn:aws:iam::123456789012:role/sesgate/sesgate-sending");

	/* Prefixed names, entities, references, CDATA, comments, whitespace. */
	assert_int_equal(
	    iam_parse_role_arn(S("<i:GetRoleResponse xmlns:i=\"x\"><i:GetRoleResult><i:Role>"
	                         "<i:Arn> arn&#58;aws:iam::123456789012:role/a&amp;b/&#x72;"
	                         "<!-- c --></i:Arn></i:Role></i:GetRoleResult>"
	                         "</i:GetRoleResponse>"),
	                       arn, sizeof(arn)),
	    0);
	assert_string_equal(arn, "arn:aws:iam::123456789012:role/a&b/r");
	assert_int_equal(
	    iam_parse_role_arn(S("<CreateRoleResponse><CreateRoleResult><Role><Arn><![CDATA["
	                         "arn:aws-us-gov:iam::123456789012:role/x]]></Arn></Role>"
	                         "</CreateRoleResult></CreateRoleResponse>"),
	                       arn, sizeof(arn)),
	    0);
	assert_string_equal(arn, "arn:aws-us-gov:iam::123456789012:role/x");
	/* Attributes with '>' inside quotes. */
	assert_int_equal(
	    iam_parse_role_arn(S("<GetRoleResponse a='>' b=\"<x>\"><GetRoleResult><Role>"
	                         "<Arn>arn:aws:iam::123456789012:role/x</Arn></Role>"
	                         "</GetRoleResult></GetRoleResponse>"),
	                       arn, sizeof(arn)),
	    0);

	/* Two Arn leaves on the path (never from IAM): the first one counts. */
	assert_int_equal(
	    iam_parse_role_arn(S("<GetRoleResponse><GetRoleResult><Role>"
	                         "<Arn>arn:aws:iam::123456789012:role/first</Arn>"
	                         "<Arn>arn:aws:iam::123456789012:role/second</Arn></Role>"
	                         "</GetRoleResult></GetRoleResponse>"),
	                       arn, sizeof(arn)),
	    0);
	assert_string_equal(arn, "arn:aws:iam::123456789012:role/first");

	/* Exactly fitting, then one short. */
	assert_int_equal(iam_parse_role_arn(S(create_role_resp), arn, 47), 0);
	assert_int_equal(iam_parse_role_arn(S(create_role_resp), arn, 46), -1);
	assert_string_equal(arn, "");
}

static void test_parse_role_arn_refused(void **state)
{
	(void)state;
#define WRAP(inner)                                                                                \
	"<GetRoleResponse><GetRoleResult><Role>" inner "</Role></GetRoleResult></GetRoleResponse>"
	static const char *const bad[] = {
	    "",
	    "not xml",
	    /* A DTD, whatever it defines. */
	    "<!DOCTYPE r [<!ENTITY x \"arn:aws:iam::123456789012:role/x\">]>" WRAP(
	        "<Arn>&x;</Arn>"),
	    "<!DOCTYPE GetRoleResponse>" WRAP("<Arn>arn:aws:iam::123456789012:role/x</Arn>"),
	    WRAP("<Arn>&x;</Arn>"),
	    /* Error documents and wrong places. */
	    "<ErrorResponse><Error><Code>NoSuchEntity</Code><Message>m</Message></Error>"
	    "</ErrorResponse>",
	    "<GetRoleResponse><GetRoleResult><Arn>arn:aws:iam::123456789012:role/x</Arn>"
	    "</GetRoleResult></GetRoleResponse>",
	    "<GetRoleResponse><CreateRoleResult><Role><Arn>arn:aws:iam::123456789012:role/x"
	    "</Arn></Role></CreateRoleResult></GetRoleResponse>",
	    "<DeleteRoleResponse><DeleteRoleResult><Role><Arn>arn:aws:iam::123456789012:role/x"
	    "</Arn></Role></DeleteRoleResult></DeleteRoleResponse>",
	    WRAP("<PermissionsBoundary><Arn>arn:aws:iam::123456789012:role/x</Arn>"
	         "</PermissionsBoundary>"),
	    WRAP("<RoleName>x</RoleName>"),
	    WRAP("<Arn/>"),
	    WRAP("<Arn></Arn>"),
	    WRAP("<Arn><b>arn:aws:iam::123456789012:role/x</b></Arn>"),
	    /* Malformed documents. */
	    WRAP("<Arn>arn:aws:iam::123456789012:role/x</arn>"),
	    "<GetRoleResponse><GetRoleResult><Role><Arn>arn:aws:iam::123456789012:role/x</Arn>",
	    WRAP("<Arn>arn:aws:iam::123456789012:role/x</Arn>") "<Second/>",
	    WRAP("<Arn>arn:aws:iam::123456789012:role/x</Arn>") "trailing",
	    "junk" WRAP("<Arn>arn:aws:iam::123456789012:role/x</Arn>"),
	    WRAP("<Arn>arn:aws:iam::123456789012:role/x<!-- open</Arn>"),
	    WRAP("<Arn><![CDATA[arn:aws:iam::123456789012:role/x</Arn>"),
	    WRAP("<Arn>arn:aws:iam::123456789012:role/x&amp</Arn>"),
	    "<GetRoleResponse <GetRoleResult>",
	    /* Not a role ARN. */
	    WRAP("<Arn>arn:aws:iam::123456789012:user/x</Arn>"),
	    WRAP("<Arn>arn:aws:iam::12345678901:role/x</Arn>"),
	    WRAP("<Arn>arn:aws:iam::123456789012:role/</Arn>"),
	    WRAP("<Arn>arn:aws:iam::123456789012:role/a b</Arn>"),
	    WRAP("<Arn>arn:aws:iam::123456789012:role/a&#10;b</Arn>"),
	    WRAP("<Arn>arn:aws:iam::123456789012:role/&#233;</Arn>"),
	    WRAP("<Arn>arn:aws:iam::123456789012:role/&#0;</Arn>"),
	    WRAP("<Arn>arn:aws:iam::123456789012:role/&#x;</Arn>"),
	    WRAP("<Arn>arn:aws:iam::123456789012:role/&#99999999;</Arn>"),
	    WRAP("<Arn>arn:aws:iam::123456789012:role/\xc3\xa9</Arn>"),
	    WRAP("<Arn>arn:aws:s3:::bucket</Arn>"),
	};
	char arn[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(arn, "stale");
		if (iam_parse_role_arn(bad[i], strlen(bad[i]), arn, sizeof(arn)) != -1)
			fail_msg("case %zu accepted: %s -> %s", i, bad[i], arn);
		assert_string_equal(arn, "");
	}
	/* Too deep. */
	{
		char deep[2048] = "";
		for (int i = 0; i < 20; i++)
			strcat(deep, "<a>");
		for (int i = 0; i < 20; i++)
			strcat(deep, "</a>");
		assert_int_equal(iam_parse_role_arn(deep, strlen(deep), arn, sizeof(arn)), -1);
	}
	/* An ARN longer than IAM allows. */
	{
		size_t n = 2100;
		char *doc = malloc(n + 200), *tail = repeat('x', n);
		snprintf(doc, n + 200, WRAP("<Arn>arn:aws:iam::123456789012:role/%s</Arn>"), tail);
		assert_int_equal(iam_parse_role_arn(doc, strlen(doc), arn, sizeof(arn)), -1);
		free(doc);
		free(tail);
	}
	assert_int_equal(iam_parse_role_arn(NULL, 0, arn, sizeof(arn)), -1);
	assert_int_equal(iam_parse_role_arn(S(create_role_resp), NULL, 0), -1);
	/* Only @len bytes are read. */
	assert_int_equal(iam_parse_role_arn(create_role_resp, 100, arn, sizeof(arn)), -1);
#undef WRAP
}

/* ---- IAM errors ---- */

static void test_iam_errors(void **state)
{
	(void)state;
	static const struct {
		long status;
		const char *code;
		enum aws_retry want;
	} m[] = {
	    {409, "EntityAlreadyExists", AWS_ERR_EXISTS},
	    {404, "NoSuchEntity", AWS_ERR_PERMANENT},
	    {409, "LimitExceeded", AWS_ERR_PERMANENT},
	    {400, "MalformedPolicyDocument", AWS_ERR_PERMANENT},
	    {400, "InvalidInput", AWS_ERR_PERMANENT},
	    {500, "ServiceFailure", AWS_ERR_RETRY},
	    {400, "Throttling", AWS_ERR_RETRY},
	    {403, "AccessDenied", AWS_ERR_PERMANENT},
	    {403, "ExpiredToken", AWS_ERR_CREDS},
	};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		char body[512], code[96], msg[128];

		snprintf(body, sizeof(body),
		         "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"
		         "<Error><Type>Sender</Type><Code>%s</Code><Message>m %zu</Message>"
		         "</Error><RequestId>r</RequestId></ErrorResponse>",
		         m[i].code, i);
		/* Both ways the provisioning thread may read it. */
		assert_int_equal(
		    aws_xml_parse_error(body, strlen(body), code, sizeof(code), msg, sizeof(msg)),
		    0);
		assert_string_equal(code, m[i].code);
		assert_int_equal(aws_error_retryable(m[i].status, code), m[i].want);
		assert_int_equal(aws_json_error(m[i].status, NULL, body, strlen(body), code,
		                                sizeof(code), msg, sizeof(msg)),
		                 0);
		assert_string_equal(code, m[i].code);
		assert_int_equal(aws_error_retryable(m[i].status, code), m[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_role_exact),
	    cmocka_unit_test(test_create_role_policy_roundtrip),
	    cmocka_unit_test(test_create_role_refused),
	    cmocka_unit_test(test_create_role_tags),
	    cmocka_unit_test(test_put_get_bodies),
	    cmocka_unit_test(test_trust_policy),
	    cmocka_unit_test(test_sending_policy),
	    cmocka_unit_test(test_parse_role_arn),
	    cmocka_unit_test(test_parse_role_arn_refused),
	    cmocka_unit_test(test_iam_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
