/*
 * Unit tests of src/aws/sts.c: form encoding, the AssumeRole request body
 * and its input checks, and RoleSessionName construction (every result
 * must match STS's pattern [\w+=,.@-]{2,64}).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/sts.h"

#define ARN "arn:aws:iam::123456789012:role/sesgate-sender"

static void assert_form(const char *in, const char *want)
{
	char *got = aws_form_encode(in);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_form_encode(void **state)
{
	(void)state;
	assert_form("", "");
	assert_form("AZaz09-_.~", "AZaz09-_.~");
	assert_form("a b+c/d=e&f", "a%20b%2Bc%2Fd%3De%26f");
	assert_form(ARN, "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fsesgate-sender");
	assert_form("*!'()", "%2A%21%27%28%29");
	assert_form("%41", "%2541");
	assert_form("\xc3\xa9\xff\x01\x7f", "%C3%A9%FF%01%7F");
	assert_form("\r\n", "%0D%0A");
}

static void test_assume_role_body(void **state)
{
	(void)state;
	char *b;

	b = sts_assume_role_body(ARN, "sesgate-acme", NULL, 3600);
	assert_non_null(b);
	assert_string_equal(b, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A"
	                       "123456789012%3Arole%2Fsesgate-sender&RoleSessionName=sesgate-acme"
	                       "&DurationSeconds=3600");
	free(b);

	b = sts_assume_role_body(ARN, "s+=,.@-_x", "ext:id/1+2=3@a,b.c", 900);
	assert_non_null(b);
	assert_string_equal(b, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A"
	                       "123456789012%3Arole%2Fsesgate-sender&RoleSessionName="
	                       "s%2B%3D%2C.%40-_x&ExternalId=ext%3Aid%2F1%2B2%3D3%40a%2Cb.c"
	                       "&DurationSeconds=900");
	free(b);

	/* "" external id = none; duration 0 = STS default, omitted. */
	b = sts_assume_role_body(ARN, "ab", "", 0);
	assert_non_null(b);
	assert_string_equal(b, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A"
	                       "123456789012%3Arole%2Fsesgate-sender&RoleSessionName=ab");
	free(b);

	b = sts_assume_role_body(ARN, "ab", NULL, STS_DURATION_MAX);
	assert_non_null(b);
	assert_non_null(strstr(b, "&DurationSeconds=43200"));
	free(b);
}

static void test_assume_role_refused(void **state)
{
	(void)state;
	char name65[66], ext[1226];

	memset(name65, 'n', 65);
	name65[65] = '\0';
	memset(ext, 'e', 1225);
	ext[1225] = '\0';

	assert_null(sts_assume_role_body(NULL, "ab", NULL, 0));
	assert_null(sts_assume_role_body("arn:aws:iam::1:r/x", "ab", NULL, 0)); /* < 20 */
	assert_null(sts_assume_role_body(ARN "\n", "ab", NULL, 0));
	assert_null(sts_assume_role_body(ARN, NULL, NULL, 0));
	assert_null(sts_assume_role_body(ARN, "a", NULL, 0));
	assert_null(sts_assume_role_body(ARN, name65, NULL, 0));
	name65[64] = '\0';
	{
		char *b = sts_assume_role_body(ARN, name65, NULL, 0);
		assert_non_null(b);
		free(b);
	}
	assert_null(sts_assume_role_body(ARN, "with space", NULL, 0));
	assert_null(sts_assume_role_body(ARN, "a/b", NULL, 0));
	assert_null(sts_assume_role_body(ARN, "a:b", NULL, 0));
	assert_null(sts_assume_role_body(ARN, "\xc3\xa9t\xc3\xa9", NULL, 0));
	assert_null(sts_assume_role_body(ARN, "ab", "x", 0));
	assert_null(sts_assume_role_body(ARN, "ab", "has space", 0));
	assert_null(sts_assume_role_body(ARN, "ab", "a&Action=GetSessionToken", 0));
	assert_null(sts_assume_role_body(ARN, "ab", ext, 0));
	ext[1224] = '\0';
	{
		char *b = sts_assume_role_body(ARN, "ab", ext, 0);
		assert_non_null(b);
		free(b);
	}
	assert_null(sts_assume_role_body(ARN, "ab", NULL, STS_DURATION_MIN - 1));
	assert_null(sts_assume_role_body(ARN, "ab", NULL, STS_DURATION_MAX + 1));
	assert_null(sts_assume_role_body(ARN, "ab", NULL, -3600));
}

/* STS's RoleSessionName pattern. */
static int valid_session_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > STS_SESSION_NAME_MAX)
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      strchr("_+=,.@-", c)))
			return 0;
	}
	return 1;
}

static void assert_session(const char *prefix, const char *tenant, const char *want)
{
	char out[STS_SESSION_NAME_MAX + 1];

	assert_int_equal(sts_session_name(prefix, tenant, out, sizeof(out)), 0);
	assert_string_equal(out, want);
	assert_true(valid_session_name(out));
}

static void test_session_name(void **state)
{
	(void)state;
	char out[STS_SESSION_NAME_MAX + 1], out2[STS_SESSION_NAME_MAX + 1];
	char longt[200];

	assert_session("sesgate", "acme", "sesgate-acme");
	assert_session(NULL, "acme", "acme");
	assert_session("", "acme", "acme");
	assert_session("sesgate", NULL, "sesgate");
	assert_session("sesgate", "a b/c:d", "sesgate-a_b_c_d");
	assert_session("sesgate", "x+=,.@-_y", "sesgate-x+=,.@-_y");
	/* One '_' per UTF-8 character, not per octet. */
	assert_session("sesgate", "caf\xc3\xa9-\xe4\xbe\x8b-\xf0\x9f\x98\x80", "sesgate-caf_-_-_");
	assert_session("sesgate", "a\r\nb", "sesgate-a__b");
	/* Padded to the minimum length. */
	assert_session(NULL, "a", "a_");

	/* Too long: cut, with a hash that keeps different tenants apart. */
	memset(longt, 't', sizeof(longt) - 1);
	longt[sizeof(longt) - 1] = '\0';
	assert_int_equal(sts_session_name("sesgate", longt, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), STS_SESSION_NAME_MAX);
	assert_true(valid_session_name(out));
	assert_memory_equal(out, "sesgate-tttt", 12);
	assert_int_equal(out[STS_SESSION_NAME_MAX - 9], '-');
	longt[sizeof(longt) - 2] = 'u';
	assert_int_equal(sts_session_name("sesgate", longt, out2, sizeof(out2)), 0);
	assert_int_equal(strlen(out2), STS_SESSION_NAME_MAX);
	assert_string_not_equal(out, out2);
	assert_memory_equal(out, out2, STS_SESSION_NAME_MAX - 8);
	/* Exactly 64 fits untouched. */
	memset(longt, 'v', 56);
	longt[56] = '\0';
	assert_int_equal(sts_session_name("sesgate", longt, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 64);
	assert_null(strchr(out + 8, '-'));

	/* A smaller buffer: still valid, still hashed. */
	assert_int_equal(sts_session_name("sesgate", "a-rather-long-tenant-name", out, 20), 0);
	assert_int_equal(strlen(out), 19);
	assert_true(valid_session_name(out));
	assert_memory_equal(out, "sesgate-a-", 10);
	/* Too small for hashing: plain cut. */
	assert_int_equal(sts_session_name("sesgate", "acme", out, 6), 0);
	assert_string_equal(out, "sesga");

	assert_int_equal(sts_session_name("sesgate", "acme", out, 2), -1);
	assert_int_equal(sts_session_name(NULL, NULL, out, sizeof(out)), -1);
	assert_int_equal(sts_session_name("", "", out, sizeof(out)), -1);
	assert_int_equal(sts_session_name("a", "b", NULL, 10), -1);
}

/* Whatever the input, the result is accepted by sts_assume_role_body. */
static void test_session_name_feeds_body(void **state)
{
	(void)state;
	uint32_t x = 88172645u;

	for (int round = 0; round < 500; round++) {
		char tenant[100], out[STS_SESSION_NAME_MAX + 1];
		size_t n = (size_t)(round % 99) + 1;
		char *b;

		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			tenant[i] = (char)(x % 255 + 1);
		}
		tenant[n] = '\0';
		assert_int_equal(sts_session_name("sesgate", tenant, out, sizeof(out)), 0);
		assert_true(valid_session_name(out));
		b = sts_assume_role_body(ARN, out, NULL, 0);
		assert_non_null(b);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_form_encode),
	    cmocka_unit_test(test_assume_role_body),
	    cmocka_unit_test(test_assume_role_refused),
	    cmocka_unit_test(test_session_name),
	    cmocka_unit_test(test_session_name_feeds_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
