/*
 * provision_fsm.c - see provision_fsm.h.
 */
#include "provision_fsm.h"

#include <stddef.h>
#include <string.h>

static const char *const step_names[PROV_ST_COUNT] = {
	[PROV_ST_MGMT_ACCESS] = "management_access",
	[PROV_ST_CREATE_ACCOUNT] = "create_account",
	[PROV_ST_WAIT_ACCOUNT] = "wait_account",
	[PROV_ST_MOVE_ACCOUNT] = "move_account",
	[PROV_ST_MEMBER_ACCESS] = "member_access",
	[PROV_ST_SENDING_ROLE] = "sending_role",
	[PROV_ST_CONFIG_SET] = "configuration_set",
	[PROV_ST_EVENT_DEST] = "event_destination",
	[PROV_ST_IDENTITIES] = "identities",
	[PROV_ST_VERIFY] = "verify_identities",
	[PROV_ST_PRODUCTION] = "production_access",
	[PROV_ST_ACTIVATE] = "activate",
	[PROV_ST_DONE] = "done",
};

static const char *const tier_names[] = {"production", "sandbox", "poc"};

const char *prov_step_name(enum prov_step st)
{
	return (unsigned)st < PROV_ST_COUNT ? step_names[st] : NULL;
}

int prov_step_parse(const char *name)
{
	for (int i = 0; name && i < PROV_ST_COUNT; i++)
		if (strcmp(step_names[i], name) == 0)
			return i;
	return -1;
}

const char *prov_tier_name(enum prov_tier t)
{
	return (unsigned)t < sizeof(tier_names) / sizeof(tier_names[0]) ? tier_names[t] : NULL;
}

int prov_tier_parse(const char *name)
{
	for (size_t i = 0; name && i < sizeof(tier_names) / sizeof(tier_names[0]); i++)
		if (strcmp(tier_names[i], name) == 0)
			return (int)i;
	return -1;
}

int prov_step_skipped(enum prov_step st, const struct prov_plan *plan)
{
	switch (st) {
	case PROV_ST_CREATE_ACCOUNT:
	case PROV_ST_WAIT_ACCOUNT:
		return plan->adopted;
	case PROV_ST_MOVE_ACCOUNT:
		/* An adopted account stays where its owner put it. */
		return plan->adopted || !plan->have_ou;
	case PROV_ST_EVENT_DEST:
		return !plan->have_topic;
	case PROV_ST_PRODUCTION:
		/* Sandboxes and PoCs stay in the SES sandbox (1/s, 200/day). */
		return plan->tier != PROV_TIER_PRODUCTION;
	default:
		return 0;
	}
}

enum prov_step prov_step_next(enum prov_step st, const struct prov_plan *plan)
{
	if (st >= PROV_ST_DONE)
		return PROV_ST_DONE;
	enum prov_step n = st + 1;
	while (n < PROV_ST_DONE && prov_step_skipped(n, plan))
		n++;
	return n;
}

enum prov_step prov_step_first(const struct prov_plan *plan)
{
	return prov_step_skipped(PROV_ST_MGMT_ACCESS, plan)
		       ? prov_step_next(PROV_ST_MGMT_ACCESS, plan)
		       : PROV_ST_MGMT_ACCESS;
}

uint64_t prov_backoff_ms(int failures)
{
	uint64_t d = 2000;
	for (int i = 1; i < failures && d < 300000; i++)
		d *= 2;
	return d > 300000 ? 300000 : d;
}

uint64_t prov_poll_ms(int polls, uint64_t max_ms)
{
	uint64_t d = 2000;
	for (int i = 0; i < polls && d < max_ms; i++)
		d = d * 3 / 2;
	return d > max_ms ? max_ms : d;
}
