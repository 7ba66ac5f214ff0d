/*
 * webhooks.h - per-tenant webhooks for SES events (see webhooks.c).
 * Runs on the HTTP thread's loop.
 */
#ifndef SESGATE_WEBHOOKS_H
#define SESGATE_WEBHOOKS_H

#include <stddef.h>
#include <hiredis/hiredis.h>

struct config;
struct event_base;

#define KEY_HOOKS "sg:hooks" /* zset: tenant id -> when its next webhook POST is due (ms) */
#define HOOK_QUEUE_MAX 100000 /* events kept per tenant; older ones give way */

int webhooks_start(struct event_base *base, const struct config *cfg,
		   redisContext *(*redis)(void));
void webhooks_stop(void);

/* OUT = lower-case hex HMAC-SHA256(SECRET, "TS." + BODY). */
void webhook_sign(const char *secret, long long ts, const char *body, size_t len, char out[65]);

#endif
