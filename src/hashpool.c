/*
 * hashpool.c - see hashpool.h.  A plain mutex + condition variable queue:
 * jobs are rare (the auth cache absorbs reconnecting app servers) and each
 * costs ~100 ms of CPU, so the queue itself is never the bottleneck.
 *
 * Identical checks (same stored hash, same password) share one job: when an
 * app server opens fifty connections at once before the cache knows its
 * password, one PBKDF2 runs and fifty sessions get its answer, instead of
 * fifty PBKDF2s queueing behind each other (measured by scripts/bench as a
 * cold-start stampede).
 */
#include "hashpool.h"
#include "password.h"
#include "thread.h"
#include "stats.h"
#include "util.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A session waiting for the result of a job it did not start. */
struct hash_waiter {
	struct hash_waiter *next;
	struct smtp_thread *owner;
	uint64_t sid;
	hashpool_done_fn *done;
	int result;
};

struct hash_job {
	struct hash_job *next;
	struct hash_job *run_next;   /* on the running list */
	struct hash_waiter *waiters;
	struct smtp_thread *owner;
	uint64_t sid;
	hashpool_done_fn *done;
	int result;
	size_t pwlen;
	char pw[256];
	char stored[PASSWORD_HASH_MAX];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct hash_job *head, *tail;
static struct hash_job *running;
static pthread_t *workers;
static int nworkers, stopping;

static void deliver(struct smtp_thread *thr, void *arg)
{
	struct hash_job *j = arg;
	j->done(thr, j->sid, j->result);
	free(j);
}

static void deliver_waiter(struct smtp_thread *thr, void *arg)
{
	struct hash_waiter *w = arg;
	w->done(thr, w->sid, w->result);
	free(w);
}

static int same_check(const struct hash_job *j, const char *pw, size_t pwlen, const char *stored)
{
	return j->pwlen == pwlen && strcmp(j->stored, stored) == 0 &&
	       CRYPTO_memcmp(j->pw, pw, pwlen) == 0;
}

static void *worker(void *arg)
{
	for (;;) {
		pthread_mutex_lock(&lock);
		while (!head && !stopping)
			pthread_cond_wait(&cond, &lock);
		if (stopping) {
			pthread_mutex_unlock(&lock);
			return NULL;
		}
		struct hash_job *j = head;
		head = j->next;
		if (!head)
			tail = NULL;
		j->run_next = running;
		running = j;
		pthread_mutex_unlock(&lock);
		int result = password_verify(j->pw, j->pwlen, j->stored);
		pthread_mutex_lock(&lock);
		for (struct hash_job **pp = &running; *pp; pp = &(*pp)->run_next)
			if (*pp == j) {
				*pp = j->run_next;
				break;
			}
		struct hash_waiter *ws = j->waiters;
		j->waiters = NULL;
		j->result = result;
		util_wipe(j->pw, sizeof(j->pw));
		pthread_mutex_unlock(&lock);
		while (ws) {
			struct hash_waiter *w = ws;
			ws = ws->next;
			w->result = result;
			if (thread_post(w->owner, deliver_waiter, w) < 0)
				free(w);
		}
		if (thread_post(j->owner, deliver, j) < 0)
			free(j);
	}
}

int hashpool_start(int n)
{
	workers = calloc((size_t)n, sizeof(*workers));
	if (!workers)
		return -1;
	for (nworkers = 0; nworkers < n; nworkers++)
		if (pthread_create(&workers[nworkers], NULL, worker, NULL) != 0)
			return -1;
	return 0;
}

void hashpool_stop(void)
{
	pthread_mutex_lock(&lock);
	stopping = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	free(workers);
}

int hashpool_submit(struct smtp_thread *owner, uint64_t sid, const char *pw, size_t pwlen,
		    const char *stored, hashpool_done_fn *done)
{
	struct hash_job *j = calloc(1, sizeof(*j));
	if (!j || pwlen >= sizeof(j->pw) || strlen(stored) >= sizeof(j->stored)) {
		free(j);
		return -1;
	}
	j->owner = owner;
	j->sid = sid;
	j->done = done;
	memcpy(j->pw, pw, pwlen);
	j->pwlen = pwlen;
	util_strlcpy(j->stored, stored, sizeof(j->stored));
	pthread_mutex_lock(&lock);
	/* The same check queued or running: wait for its answer. */
	struct hash_job *same = NULL;
	for (struct hash_job *q = head; q && !same; q = q->next)
		if (same_check(q, pw, pwlen, stored))
			same = q;
	for (struct hash_job *q = running; q && !same; q = q->run_next)
		if (same_check(q, pw, pwlen, stored))
			same = q;
	if (same) {
		struct hash_waiter *w = calloc(1, sizeof(*w));
		if (w) {
			w->owner = owner;
			w->sid = sid;
			w->done = done;
			w->next = same->waiters;
			same->waiters = w;
			pthread_mutex_unlock(&lock);
			util_wipe(j->pw, sizeof(j->pw));
			free(j);
			STAT_INC(auth_hash_shared);
			return 0;
		}
	}
	if (tail)
		tail->next = j;
	else
		head = j;
	tail = j;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	return 0;
}
