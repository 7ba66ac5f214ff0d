/*
 * queue.h - the Redis queue, SMTP side: one atomic enqueue per message.
 * Key layout and the consumer side (claim, ack, retry, dead-letter) are
 * described in doc/redis-keys.md.  Runs on the calling thread's loop.
 */
#ifndef SESGATE_QUEUE_H
#define SESGATE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

struct rconn;

enum queue_result { QUEUE_OK = 0, QUEUE_TEMPFAIL, QUEUE_NOTENANT };

struct queue_msg {
	const char *tid, *tenant_name, *qid;
	const char *sender;
	char *const *rcpts;
	int nrcpt;
	const char *data; /* final bytes incl. our Received: header */
	size_t len;
	const char *client, *helo, *auth_user;
	uint64_t arrival_ms;
	int body_8bit, smtputf8;
};

/* Called once with the outcome; DETAIL is a short reason for logs. */
typedef void queue_done_cb(enum queue_result r, void *arg, const char *detail);

/* Queue M; M's strings may be freed once this returns. */
void queue_enqueue(struct rconn *rc, const struct queue_msg *m, queue_done_cb *cb, void *arg);

/* Periodic, on the owning thread: remove copies of enqueues that timed out. */
void queue_tick(struct rconn *rc);

#endif
