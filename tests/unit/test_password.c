/* Unit tests of password generation, hashing and verification (password.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "keys.h"
#include "password.h"
#include "util.h"

static void test_generate(void **st)
{
	char a[PASSWORD_LEN + 1], b[PASSWORD_LEN + 1];
	assert_int_equal(password_generate(a, sizeof(a)), 0);
	assert_int_equal(password_generate(b, sizeof(b)), 0);
	assert_int_equal(strlen(a), PASSWORD_LEN);
	assert_string_not_equal(a, b);
	for (size_t i = 0; i < PASSWORD_LEN; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]));
	assert_int_equal(password_generate(a, 8), -1);
	/* never a leading '-' or '_' (read as an option by CLI clients) */
	for (int n = 0; n < 2000; n++) {
		assert_int_equal(password_generate(a, sizeof(a)), 0);
		assert_null(strchr("-_", a[0]));
	}
}

static void test_hash_verify(void **st)
{
	char h1[PASSWORD_HASH_MAX], h2[PASSWORD_HASH_MAX];
	assert_int_equal(password_hash("secret", 6, 1000, h1, sizeof(h1)), 0);
	assert_int_equal(password_hash("secret", 6, 1000, h2, sizeof(h2)), 0);
	assert_string_not_equal(h1, h2); /* salted */
	assert_memory_equal(h1, "pbkdf2-sha256$1000$", 19);
	assert_int_equal(password_verify("secret", 6, h1), 1);
	assert_int_equal(password_verify("secreT", 6, h1), 0);
	assert_int_equal(password_verify("secret", 5, h1), 0);
	assert_int_equal(password_verify("", 0, h1), 0);
}

/* RFC 7914 / well-known PBKDF2-HMAC-SHA256 vector: "password"/"salt", 1 round. */
static void test_known_vector(void **st)
{
	/* 120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b */
	const char *stored = "pbkdf2-sha256$1$c2FsdA$Eg-2z_z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs";
	assert_int_equal(password_verify("password", 8, stored), 1);
	assert_int_equal(password_verify("passwore", 8, stored), 0);
}

static void test_malformed(void **st)
{
	assert_int_equal(password_verify("x", 1, ""), -1);
	assert_int_equal(password_verify("x", 1, "md5$1$a$b"), -1);
	assert_int_equal(password_verify("x", 1, "pbkdf2-sha256$0$c2FsdA$AAAA"), -1);
	assert_int_equal(password_verify("x", 1, "pbkdf2-sha256$10$c2FsdA"), -1);
	assert_int_equal(password_verify("x", 1, "pbkdf2-sha256$10$c2FsdA$!!!"), -1);
	assert_int_equal(password_verify("x", 1, "pbkdf2-sha256$abc$c2FsdA$AAAA"), -1);
}

static void test_fingerprint(void **st)
{
	unsigned char a[32], b[32], c[32];
	password_fingerprint("u", "pw", 2, a);
	password_fingerprint("u", "pw", 2, b);
	password_fingerprint("v", "pw", 2, c);
	assert_memory_equal(a, b, 32);
	assert_memory_not_equal(a, c, 32);
}

static void test_keys(void **st)
{
	char k[KEY_MAX];
	assert_string_equal(key_msg(k, "t0123456789abcdef", "ABC"), "sg:{t0123456789abcdef}:msg:ABC");
	assert_string_equal(key_ready(k, "t0123456789abcdef"), "sg:{t0123456789abcdef}:ready");
	assert_true(key_valid_tenant_name("acme-2"));
	assert_false(key_valid_tenant_name("-acme"));
	assert_false(key_valid_tenant_name("Acme"));
	assert_false(key_valid_tenant_name("a{b}"));
	assert_true(key_valid_tenant_id("t0123456789abcdef"));
	assert_false(key_valid_tenant_id("t0123456789ABCDEF"));
	assert_true(key_valid_domain("mail.example.com"));
	assert_false(key_valid_domain("example"));
	assert_false(key_valid_domain("-a.example"));
	assert_false(key_valid_domain("a..example"));
	assert_false(key_valid_username("a b"));
	assert_true(key_valid_username("sg_0123abcd"));
}

static void test_queue_id(void **st)
{
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];
	assert_int_equal(util_queue_id(a), 0);
	assert_int_equal(util_queue_id(b), 0);
	assert_int_equal(strlen(a), QUEUE_ID_LEN);
	assert_string_not_equal(a, b);
	assert_true(strncmp(a, b, 6) <= 0); /* time-ordered prefix */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate),  cmocka_unit_test(test_hash_verify),
		cmocka_unit_test(test_known_vector), cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_fingerprint), cmocka_unit_test(test_keys),
		cmocka_unit_test(test_queue_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
