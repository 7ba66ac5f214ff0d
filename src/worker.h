/*
 * worker.h - delivery threads: claim queued mail from Redis, send it through
 * each tenant's own SES account, then acknowledge, retry or dead-letter it.
 *
 * Each worker thread owns one event loop with one Redis connection
 * (hiredis async) and one curl multi handle (many SES calls at once).
 * Nothing of a worker is touched by another thread, except the process-wide
 * credential caches, which lock.
 */
#ifndef SESGATE_WORKER_H
#define SESGATE_WORKER_H

#include <stddef.h>

struct config;
struct aws_env;
struct aws_identity;
typedef struct json_t json_t;

/*
 * The process's AWS environment and identity, shared by delivery workers
 * and the provisioning thread: set up once (idempotent), before any of
 * them starts; torn down after all of them stopped.
 */
int aws_setup(const struct config *cfg, char *err, size_t errlen);
struct aws_identity *worker_aws_identity(void);
const struct aws_env *worker_aws_env(void);
void aws_teardown(void);

/*
 * Resolve the gateway's AWS identity and start cfg->workers threads.  An
 * unavailable identity is not fatal: workers keep the mail queued and the
 * identity keeps being retried.  Returns 0, or -1 (ERR says why) when the
 * environment is unusable (e.g. a malformed endpoint URL).
 */
int workers_start(const struct config *cfg, char *err, size_t errlen);

/* Stop claiming, give in-flight calls up to GRACE seconds, join the threads. */
void workers_stop(int grace);

/* Delivery threads running (for /readyz). */
int workers_running(void);

/* Delivery and AWS identity status for the control socket (new reference). */
json_t *workers_status_json(void);

#endif
