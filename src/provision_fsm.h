/*
 * provision_fsm.h - the order of the tenant onboarding steps, which steps a
 * tenant skips, and how long to wait before trying a step again.
 *
 * Pure: no I/O, no clock, no state.  provision.c runs the steps; this table
 * says what comes next, so the whole workflow can be read (and tested) in
 * one place.
 */
#ifndef SESGATE_PROVISION_FSM_H
#define SESGATE_PROVISION_FSM_H

#include <stdint.h>

enum prov_step {
	PROV_ST_MGMT_ACCESS = 0,  /* AssumeRole into the management account */
	PROV_ST_CREATE_ACCOUNT,   /* Organizations CreateAccount (or find it) */
	PROV_ST_WAIT_ACCOUNT,     /* poll DescribeCreateAccountStatus */
	PROV_ST_MOVE_ACCOUNT,     /* into the tier's organizational unit */
	PROV_ST_MEMBER_ACCESS,    /* AssumeRole into the member's admin role */
	PROV_ST_SENDING_ROLE,     /* IAM: least-privilege sending role */
	PROV_ST_CONFIG_SET,       /* SES configuration set */
	PROV_ST_EVENT_DEST,       /* its SNS event destination */
	PROV_ST_IDENTITIES,       /* SES domain identities with Easy DKIM */
	PROV_ST_VERIFY,           /* poll until every domain is verified */
	PROV_ST_PRODUCTION,       /* request production access */
	PROV_ST_ACTIVATE,         /* tenant active: held mail goes out */
	PROV_ST_DONE,
	PROV_ST_COUNT
};

enum prov_tier { PROV_TIER_PRODUCTION = 0, PROV_TIER_SANDBOX, PROV_TIER_POC };

/* What the tenant and the configuration make unnecessary. */
struct prov_plan {
	enum prov_tier tier;
	int adopted;        /* tenant add --account-id: the account exists */
	int have_ou;        /* an OU is configured for the tier */
	int have_topic;     /* an SNS topic is configured for events */
};

/* "create_account" etc.; NULL for an out-of-range value. */
const char *prov_step_name(enum prov_step st);
/* -1 when NAME is no step. */
int prov_step_parse(const char *name);

const char *prov_tier_name(enum prov_tier t);
int prov_tier_parse(const char *name); /* -1 if unknown */

/* 1 when PLAN skips ST. */
int prov_step_skipped(enum prov_step st, const struct prov_plan *plan);

/* The first step not skipped after ST (PROV_ST_DONE at the end). */
enum prov_step prov_step_next(enum prov_step st, const struct prov_plan *plan);

/* The first step of a plan. */
enum prov_step prov_step_first(const struct prov_plan *plan);

/*
 * Delay before attempt N+1 (N >= 1 failures so far) of a failed step:
 * 2 s doubling to 5 min.  Polling steps use prov_poll_ms instead.
 */
uint64_t prov_backoff_ms(int failures);

/* Delay between polls of a waiting step (N polls so far): 2 s up to MAX_MS. */
uint64_t prov_poll_ms(int polls, uint64_t max_ms);

/* Failures after which a step (other than a poll) gives up: tenant failed. */
#define PROV_MAX_FAILURES 12

#endif
