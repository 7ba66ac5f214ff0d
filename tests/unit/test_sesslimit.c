/* Unit tests of the per-address and per-tenant session limits (sesslimit.c):
 * concurrent counts, the token bucket with a fake clock, table sweeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "sesslimit.h"

static void test_sessions_per_address(void **st)
{
	for (int i = 0; i < 3; i++)
		assert_int_equal(limits_ip_acquire("192.0.2.1", 3, 1000, 1000), LIMIT_OK);
	assert_int_equal(limits_ip_acquire("192.0.2.1", 3, 1000, 1000), LIMIT_SESSIONS);
	assert_int_equal(limits_ip_acquire("192.0.2.2", 3, 1000, 1000), LIMIT_OK);
	assert_int_equal(limits_count("192.0.2.1"), 3);
	limits_ip_release("192.0.2.1");
	assert_int_equal(limits_ip_acquire("192.0.2.1", 3, 1000, 1000), LIMIT_OK);
	for (int i = 0; i < 3; i++)
		limits_ip_release("192.0.2.1");
	limits_ip_release("192.0.2.2");
	assert_int_equal(limits_count("192.0.2.1"), 0);
	/* Releasing more than was taken never goes negative. */
	limits_ip_release("192.0.2.1");
	limits_ip_release("never.seen");
	assert_int_equal(limits_count("192.0.2.1"), 0);
}

static void test_rate_bucket(void **st)
{
	uint64_t t = 5000000;
	/* A minute's worth at once, then nothing. */
	for (int i = 0; i < 6; i++) {
		assert_int_equal(limits_ip_acquire("198.51.100.1", 100, 6, t), LIMIT_OK);
		limits_ip_release("198.51.100.1");
	}
	assert_int_equal(limits_ip_acquire("198.51.100.1", 100, 6, t), LIMIT_RATE);
	/* 6 per minute = one every 10 s. */
	assert_int_equal(limits_ip_acquire("198.51.100.1", 100, 6, t + 9000), LIMIT_RATE);
	assert_int_equal(limits_ip_acquire("198.51.100.1", 100, 6, t + 10500), LIMIT_OK);
	limits_ip_release("198.51.100.1");
	assert_int_equal(limits_ip_acquire("198.51.100.1", 100, 6, t + 10600), LIMIT_RATE);
	/* The bucket never holds more than a minute's worth. */
	t += 3600 * 1000;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(limits_ip_acquire("198.51.100.1", 100, 6, t), LIMIT_OK);
		limits_ip_release("198.51.100.1");
	}
	assert_int_equal(limits_ip_acquire("198.51.100.1", 100, 6, t), LIMIT_RATE);
	/* A refused session is not counted as open. */
	assert_int_equal(limits_count("198.51.100.1"), 0);
}

static void test_tenants(void **st)
{
	assert_int_equal(limits_tenant_acquire("t0000000000000001", 2), LIMIT_OK);
	assert_int_equal(limits_tenant_acquire("t0000000000000001", 2), LIMIT_OK);
	assert_int_equal(limits_tenant_acquire("t0000000000000001", 2), LIMIT_SESSIONS);
	/* Tenant and address keys never collide. */
	assert_int_equal(limits_ip_acquire("t0000000000000001", 1, 100, 1), LIMIT_OK);
	limits_ip_release("t0000000000000001");
	limits_tenant_release("t0000000000000001");
	assert_int_equal(limits_tenant_acquire("t0000000000000001", 2), LIMIT_OK);
	limits_tenant_release("t0000000000000001");
	limits_tenant_release("t0000000000000001");
}

static void test_many_clients_swept(void **st)
{
	/* Many one-off clients: the table grows, idle entries are dropped, and
	 * counts of open sessions survive every sweep. */
	assert_int_equal(limits_ip_acquire("203.0.113.250", 5, 100, 1), LIMIT_OK);
	char key[32];
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
		assert_int_equal(limits_ip_acquire(key, 5, 100, 1 + (uint64_t)i * 1000),
				 LIMIT_OK);
		limits_ip_release(key);
	}
	assert_int_equal(limits_count("203.0.113.250"), 1);
	limits_ip_release("203.0.113.250");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sessions_per_address),
		cmocka_unit_test(test_rate_bucket),
		cmocka_unit_test(test_tenants),
		cmocka_unit_test(test_many_clients_swept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
