/*
 * thread.h - the SMTP front-end threads.  Each owns one event_base, one Redis
 * connection and its sessions; nothing of a thread is touched by another.
 * Other threads talk to it only through thread_post(): a locked inbox plus an
 * eventfd wakeup (the memcached pattern).
 */
#ifndef SESGATE_THREAD_H
#define SESGATE_THREAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

struct config;
struct smtp_session;

struct inbox_item;

struct smtp_thread {
	int idx;
	pthread_t tid;
	const struct config *cfg;
	struct event_base *base;
	int wake_fd;
	struct event *wake_ev;
	pthread_mutex_t lock;
	struct inbox_item *head, *tail;
	struct rconn *redis;
	struct event *tick_ev;       /* resumes sessions paused for memory */
	/* session table: id = generation << 32 | slot */
	struct smtp_session **slots;
	uint32_t *gens;
	uint32_t nslots;
	_Atomic int nsessions;
	int stopping;
};

typedef void thread_fn(struct smtp_thread *thr, void *arg);

/* Run FN(thr, ARG) on THR's loop soon.  Safe from any thread.  0 or -1. */
int thread_post(struct smtp_thread *thr, thread_fn *fn, void *arg);

int threads_start(const struct config *cfg);
/* Ask every thread to stop accepting, end sessions, and join them (grace in seconds). */
void threads_stop(int grace);
/* The thread with the fewest sessions. */
struct smtp_thread *threads_pick(void);

uint64_t thread_session_add(struct smtp_thread *thr, struct smtp_session *s);
void thread_session_del(struct smtp_thread *thr, uint64_t id);
/* NULL when the session is gone: async results for it are then dropped. */
struct smtp_session *thread_session_get(struct smtp_thread *thr, uint64_t id);

#endif
