/*
 * provision.h - the provisioning thread: builds each new tenant's AWS
 * member account through AWS Organizations, one persisted step at a time.
 *
 * Runs on its own thread with its own blocking Redis connection and
 * synchronous AWS calls; it shares nothing with SMTP threads or delivery
 * workers except Redis.  Any number of instances may run it: a lease per
 * tenant makes sure one works on a tenant at a time.
 */
#ifndef SESGATE_PROVISION_H
#define SESGATE_PROVISION_H

#include <stddef.h>

struct config;

/* Redis keys of provisioning (see doc/redis-keys.md). */
#define KEY_PROV "sg:prov" /* zset: tenant id -> when its next step is due (ms) */

/* Start the thread when cfg->management_role_arn is set.  0 or -1 (ERR). */
int provision_start(const struct config *cfg, char *err, size_t errlen);
/* Abort a call in progress, join the thread. */
void provision_stop(void);

#endif
