/*
 * events.h - what an SES event record does once its SNS envelope checked
 * out: per-tenant daily counters, the suppression list, the message's
 * history, and the reputation guard.
 *
 * Runs on the HTTP thread with its blocking Redis connection (httpd.c).
 */
#ifndef SESGATE_EVENTS_H
#define SESGATE_EVENTS_H

#include <stddef.h>
#include <hiredis/hiredis.h>

struct config;

#define KEY_ACCOUNTS "sg:accounts" /* hash: AWS account id -> tenant id */

enum events_result {
	EVENTS_OK = 0,      /* applied (or a duplicate, or nothing to do) */
	EVENTS_IGNORED,     /* not an SES record we can attribute; logged */
	EVENTS_RETRY,       /* Redis failed: answer 5xx so SNS delivers again */
};

/*
 * Apply the SES record JSON (an SNS Notification's Message) whose SNS
 * MessageId is SNS_ID (deduplicates SNS's at-least-once delivery).  WHY
 * gets a short reason for IGNORED/RETRY.
 */
enum events_result events_ingest(redisContext *rc, const struct config *cfg, const char *sns_id,
				 const char *json, size_t len, char *why, size_t whylen);

#endif
