/*
 * Unit tests of src/provision_fsm.c: the order of the onboarding steps,
 * which steps each kind of tenant skips, and the retry/poll delays.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "provision_fsm.h"

/* Walk a plan from its first step; returns the steps visited. */
static int walk(const struct prov_plan *plan, enum prov_step *out)
{
	int n = 0;
	for (enum prov_step s = prov_step_first(plan); s != PROV_ST_DONE;
	     s = prov_step_next(s, plan)) {
		out[n++] = s;
		assert_true(n <= PROV_ST_COUNT);
	}
	return n;
}

static void test_full_production_plan(void **st)
{
	struct prov_plan p = {.tier = PROV_TIER_PRODUCTION, .have_ou = 1, .have_topic = 1};
	enum prov_step seq[PROV_ST_COUNT];
	int n = walk(&p, seq);
	assert_int_equal(n, PROV_ST_DONE); /* every step, in declaration order */
	for (int i = 0; i < n; i++)
		assert_int_equal(seq[i], i);
	assert_int_equal(seq[0], PROV_ST_MGMT_ACCESS);
	assert_int_equal(seq[n - 1], PROV_ST_ACTIVATE);
}

static void test_skips(void **st)
{
	enum prov_step seq[PROV_ST_COUNT];
	/* sandbox: no production access request */
	struct prov_plan sb = {.tier = PROV_TIER_SANDBOX, .have_ou = 1, .have_topic = 1};
	int n = walk(&sb, seq);
	assert_int_equal(n, PROV_ST_DONE - 1);
	for (int i = 0; i < n; i++)
		assert_int_not_equal(seq[i], PROV_ST_PRODUCTION);
	assert_true(prov_step_skipped(PROV_ST_PRODUCTION, &sb));
	struct prov_plan poc = {.tier = PROV_TIER_POC, .have_ou = 1, .have_topic = 1};
	assert_true(prov_step_skipped(PROV_ST_PRODUCTION, &poc));
	/* adopted account: no creation, no wait, no move */
	struct prov_plan ad = {.tier = PROV_TIER_PRODUCTION, .adopted = 1, .have_ou = 1,
			       .have_topic = 1};
	n = walk(&ad, seq);
	assert_int_equal(n, PROV_ST_DONE - 3);
	assert_int_equal(seq[0], PROV_ST_MGMT_ACCESS);
	assert_int_equal(seq[1], PROV_ST_MEMBER_ACCESS);
	/* no OU for the tier: the account stays in the root */
	struct prov_plan noou = {.tier = PROV_TIER_PRODUCTION, .have_topic = 1};
	assert_true(prov_step_skipped(PROV_ST_MOVE_ACCOUNT, &noou));
	assert_int_equal(prov_step_next(PROV_ST_WAIT_ACCOUNT, &noou), PROV_ST_MEMBER_ACCESS);
	/* no SNS topic: no event destination */
	struct prov_plan notopic = {.tier = PROV_TIER_PRODUCTION, .have_ou = 1};
	assert_int_equal(prov_step_next(PROV_ST_CONFIG_SET, &notopic), PROV_ST_IDENTITIES);
	/* the end is sticky */
	assert_int_equal(prov_step_next(PROV_ST_ACTIVATE, &notopic), PROV_ST_DONE);
	assert_int_equal(prov_step_next(PROV_ST_DONE, &notopic), PROV_ST_DONE);
}

static void test_names_round_trip(void **st)
{
	for (int s = 0; s < PROV_ST_COUNT; s++) {
		const char *n = prov_step_name(s);
		assert_non_null(n);
		assert_int_equal(prov_step_parse(n), s);
	}
	assert_null(prov_step_name(PROV_ST_COUNT));
	assert_null(prov_step_name((enum prov_step)-1));
	assert_int_equal(prov_step_parse("nope"), -1);
	assert_int_equal(prov_step_parse(NULL), -1);
	assert_int_equal(prov_tier_parse("production"), PROV_TIER_PRODUCTION);
	assert_int_equal(prov_tier_parse("sandbox"), PROV_TIER_SANDBOX);
	assert_int_equal(prov_tier_parse("poc"), PROV_TIER_POC);
	assert_int_equal(prov_tier_parse("gold"), -1);
	assert_string_equal(prov_tier_name(PROV_TIER_POC), "poc");
	assert_null(prov_tier_name((enum prov_tier)7));
}

static void test_delays(void **st)
{
	assert_int_equal(prov_backoff_ms(1), 2000);
	assert_int_equal(prov_backoff_ms(2), 4000);
	assert_int_equal(prov_backoff_ms(5), 32000);
	assert_int_equal(prov_backoff_ms(9), 300000);
	assert_int_equal(prov_backoff_ms(100), 300000);
	/* polls start at 2 s, grow by half, never above the configured max */
	assert_int_equal(prov_poll_ms(0, 60000), 2000);
	assert_int_equal(prov_poll_ms(1, 60000), 3000);
	assert_int_equal(prov_poll_ms(50, 60000), 60000);
	assert_int_equal(prov_poll_ms(3, 200), 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_production_plan),
		cmocka_unit_test(test_skips),
		cmocka_unit_test(test_names_round_trip),
		cmocka_unit_test(test_delays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
