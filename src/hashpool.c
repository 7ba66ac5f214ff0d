/*
 * hashpool.c - see hashpool.h.  A plain mutex + condition variable queue:
 * jobs are rare (the auth cache absorbs reconnecting app servers) and each
 * costs ~100 ms of CPU, so the queue itself is never the bottleneck.
 */
#include "hashpool.h"
#include "password.h"
#include "thread.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct hash_job {
	struct hash_job *next;
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
static pthread_t *workers;
static int nworkers, stopping;

static void deliver(struct smtp_thread *thr, void *arg)
{
	struct hash_job *j = arg;
	j->done(thr, j->sid, j->result);
	free(j);
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
		pthread_mutex_unlock(&lock);
		j->result = password_verify(j->pw, j->pwlen, j->stored);
		util_wipe(j->pw, sizeof(j->pw));
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
	if (tail)
		tail->next = j;
	else
		head = j;
	tail = j;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	return 0;
}
