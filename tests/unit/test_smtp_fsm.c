/* Unit tests of the SMTP ordering table (smtp_fsm.c): the whole matrix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "smtp_fsm.h"

static void test_init_state(void **st)
{
	assert_int_equal(smtp_fsm_check(SMTP_ST_INIT, 0, SMTP_CMD_EHLO), SMTP_FSM_OK);
	assert_int_equal(smtp_fsm_check(SMTP_ST_INIT, 0, SMTP_CMD_HELO), SMTP_FSM_OK);
	assert_int_equal(smtp_fsm_check(SMTP_ST_INIT, 0, SMTP_CMD_MAIL), SMTP_FSM_NEED_HELO);
	assert_int_equal(smtp_fsm_check(SMTP_ST_INIT, 0, SMTP_CMD_RCPT), SMTP_FSM_NEED_HELO);
	assert_int_equal(smtp_fsm_check(SMTP_ST_INIT, 0, SMTP_CMD_DATA), SMTP_FSM_NEED_HELO);
	assert_int_equal(smtp_fsm_check(SMTP_ST_INIT, 0, SMTP_CMD_AUTH), SMTP_FSM_NEED_HELO);
	assert_int_equal(smtp_fsm_check(SMTP_ST_INIT, 0, SMTP_CMD_NOOP), SMTP_FSM_OK);
	assert_int_equal(smtp_fsm_check(SMTP_ST_INIT, 0, SMTP_CMD_QUIT), SMTP_FSM_OK);
	assert_int_equal(smtp_fsm_check(SMTP_ST_INIT, 0, SMTP_CMD_UNKNOWN), SMTP_FSM_UNKNOWN);
}

static void test_auth_rules(void **st)
{
	assert_int_equal(smtp_fsm_check(SMTP_ST_READY, 0, SMTP_CMD_AUTH), SMTP_FSM_NEED_EHLO);
	assert_int_equal(smtp_fsm_check(SMTP_ST_READY, SMTP_FL_EHLO, SMTP_CMD_AUTH), SMTP_FSM_OK);
	assert_int_equal(smtp_fsm_check(SMTP_ST_READY, SMTP_FL_EHLO | SMTP_FL_AUTHED, SMTP_CMD_AUTH),
			 SMTP_FSM_ALREADY_AUTHED);
	assert_int_equal(smtp_fsm_check(SMTP_ST_READY, SMTP_FL_EHLO, SMTP_CMD_MAIL),
			 SMTP_FSM_NEED_AUTH);
	assert_int_equal(smtp_fsm_check(SMTP_ST_READY, SMTP_FL_AUTHED, SMTP_CMD_MAIL), SMTP_FSM_OK);
}

static void test_transaction_order(void **st)
{
	unsigned f = SMTP_FL_EHLO | SMTP_FL_AUTHED;
	assert_int_equal(smtp_fsm_check(SMTP_ST_READY, f, SMTP_CMD_RCPT), SMTP_FSM_NEED_MAIL);
	assert_int_equal(smtp_fsm_check(SMTP_ST_READY, f, SMTP_CMD_DATA), SMTP_FSM_NEED_MAIL);
	assert_int_equal(smtp_fsm_check(SMTP_ST_MAIL, f, SMTP_CMD_MAIL), SMTP_FSM_NESTED_MAIL);
	assert_int_equal(smtp_fsm_check(SMTP_ST_MAIL, f, SMTP_CMD_RCPT), SMTP_FSM_OK);
	assert_int_equal(smtp_fsm_check(SMTP_ST_MAIL, f, SMTP_CMD_DATA), SMTP_FSM_NO_RCPT);
	assert_int_equal(smtp_fsm_check(SMTP_ST_MAIL, f, SMTP_CMD_BDAT), SMTP_FSM_NO_RCPT);
	assert_int_equal(smtp_fsm_check(SMTP_ST_MAIL, f, SMTP_CMD_AUTH), SMTP_FSM_ALREADY_AUTHED);
	assert_int_equal(smtp_fsm_check(SMTP_ST_RCPT, f, SMTP_CMD_RCPT), SMTP_FSM_OK);
	assert_int_equal(smtp_fsm_check(SMTP_ST_RCPT, f, SMTP_CMD_DATA), SMTP_FSM_OK);
	assert_int_equal(smtp_fsm_check(SMTP_ST_RCPT, f, SMTP_CMD_BDAT), SMTP_FSM_OK);
	assert_int_equal(smtp_fsm_check(SMTP_ST_RCPT, SMTP_FL_EHLO, SMTP_CMD_AUTH),
			 SMTP_FSM_AUTH_IN_TX);
}

static void test_chunking(void **st)
{
	unsigned f = SMTP_FL_EHLO | SMTP_FL_AUTHED;
	assert_int_equal(smtp_fsm_check(SMTP_ST_CHUNKING, f, SMTP_CMD_BDAT), SMTP_FSM_OK);
	assert_int_equal(smtp_fsm_check(SMTP_ST_CHUNKING, f, SMTP_CMD_DATA), SMTP_FSM_IN_CHUNKING);
	assert_int_equal(smtp_fsm_check(SMTP_ST_CHUNKING, f, SMTP_CMD_MAIL), SMTP_FSM_IN_CHUNKING);
	assert_int_equal(smtp_fsm_check(SMTP_ST_CHUNKING, f, SMTP_CMD_RCPT), SMTP_FSM_IN_CHUNKING);
	assert_int_equal(smtp_fsm_check(SMTP_ST_CHUNKING, f, SMTP_CMD_RSET), SMTP_FSM_OK);
	assert_int_equal(smtp_fsm_check(SMTP_ST_CHUNKING, f, SMTP_CMD_QUIT), SMTP_FSM_OK);
}

static void test_non_command_states(void **st)
{
	enum smtp_state none[] = {SMTP_ST_DATA, SMTP_ST_BDAT, SMTP_ST_AUTH, SMTP_ST_WAIT,
				  SMTP_ST_CLOSING};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		for (int c = 0; c < SMTP_CMD__COUNT; c++)
			assert_int_equal(smtp_fsm_check(none[i], 0xff, (enum smtp_cmd)c),
					 SMTP_FSM_NOT_NOW);
}

/* Every verdict maps to a reply with a matching enhanced status class. */
static void test_replies(void **st)
{
	for (int v = SMTP_FSM_OK; v <= SMTP_FSM_UNKNOWN; v++) {
		const char *r = smtp_fsm_reply((enum smtp_fsm_verdict)v);
		assert_true(strlen(r) > 10);
		assert_int_equal(r[0], r[4]); /* "503 5.5.1": class digit repeated */
		assert_int_equal(r[3], ' ');
	}
	assert_string_equal(smtp_fsm_reply(SMTP_FSM_NEED_AUTH), "530 5.7.0 Authentication required");
	assert_memory_equal(smtp_fsm_reply(SMTP_FSM_UNKNOWN), "500 5.5.2", 9);
}

static void test_not_implemented(void **st)
{
	assert_int_equal(smtp_fsm_check(SMTP_ST_READY, 0, SMTP_CMD_EXPN), SMTP_FSM_NOT_IMPL);
	assert_int_equal(smtp_fsm_check(SMTP_ST_READY, 0, SMTP_CMD_STARTTLS), SMTP_FSM_NOT_IMPL);
	/* STARTTLS with a certificate: after EHLO, outside a transaction, once */
	assert_int_equal(smtp_fsm_check(SMTP_ST_READY, SMTP_FL_TLS_AVAIL, SMTP_CMD_STARTTLS),
			 SMTP_FSM_OK);
	assert_int_equal(smtp_fsm_check(SMTP_ST_INIT, SMTP_FL_TLS_AVAIL, SMTP_CMD_STARTTLS),
			 SMTP_FSM_NEED_HELO);
	assert_int_equal(smtp_fsm_check(SMTP_ST_MAIL, SMTP_FL_TLS_AVAIL, SMTP_CMD_STARTTLS),
			 SMTP_FSM_TLS_IN_TX);
	assert_int_equal(smtp_fsm_check(SMTP_ST_RCPT, SMTP_FL_TLS_AVAIL, SMTP_CMD_STARTTLS),
			 SMTP_FSM_TLS_IN_TX);
	assert_int_equal(smtp_fsm_check(SMTP_ST_READY, SMTP_FL_TLS_AVAIL | SMTP_FL_TLS,
					 SMTP_CMD_STARTTLS),
			 SMTP_FSM_TLS_ACTIVE);
	assert_int_equal(smtp_fsm_check(SMTP_ST_CHUNKING, SMTP_FL_TLS_AVAIL, SMTP_CMD_STARTTLS),
			 SMTP_FSM_IN_CHUNKING);
	assert_string_equal(smtp_state_name(SMTP_ST_CHUNKING), "chunking");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_state),     cmocka_unit_test(test_auth_rules),
		cmocka_unit_test(test_transaction_order), cmocka_unit_test(test_chunking),
		cmocka_unit_test(test_non_command_states), cmocka_unit_test(test_replies),
		cmocka_unit_test(test_not_implemented),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
