/*
 * thread.c - SMTP front-end threads: start, inbox, session table, stop.
 */
#include "thread.h"
#include "config.h"
#include "log.h"
#include "queue.h"
#include "rconn.h"
#include "smtp_session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

struct inbox_item {
	struct inbox_item *next;
	thread_fn *fn;
	void *arg;
};

static struct smtp_thread *threads;
static int nthreads;

int thread_post(struct smtp_thread *thr, thread_fn *fn, void *arg)
{
	struct inbox_item *it = malloc(sizeof(*it));
	if (!it)
		return -1;
	it->next = NULL;
	it->fn = fn;
	it->arg = arg;
	pthread_mutex_lock(&thr->lock);
	if (thr->tail)
		thr->tail->next = it;
	else
		thr->head = it;
	thr->tail = it;
	pthread_mutex_unlock(&thr->lock);
	uint64_t one = 1;
	ssize_t w = write(thr->wake_fd, &one, sizeof(one));
	(void)w; /* EAGAIN means the counter is already non-zero: the loop will wake */
	return 0;
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_thread *thr = arg;
	uint64_t n;
	ssize_t r = read(fd, &n, sizeof(n));
	(void)r;
	pthread_mutex_lock(&thr->lock);
	struct inbox_item *it = thr->head;
	thr->head = thr->tail = NULL;
	pthread_mutex_unlock(&thr->lock);
	while (it) {
		struct inbox_item *next = it->next;
		it->fn(thr, it->arg);
		free(it);
		it = next;
	}
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_thread *thr = arg;
	smtp_session_tick(thr);
	queue_tick(thr->redis);
}

uint64_t thread_session_add(struct smtp_thread *thr, struct smtp_session *s)
{
	uint32_t i;
	for (i = 0; i < thr->nslots; i++)
		if (!thr->slots[i])
			break;
	if (i == thr->nslots) {
		uint32_t n = thr->nslots ? thr->nslots * 2 : 64;
		struct smtp_session **ns = realloc(thr->slots, n * sizeof(*ns));
		if (!ns)
			return 0;
		thr->slots = ns;
		uint32_t *ng = realloc(thr->gens, n * sizeof(*ng));
		if (!ng)
			return 0;
		thr->gens = ng;
		memset(thr->slots + thr->nslots, 0, (n - thr->nslots) * sizeof(*ns));
		memset(thr->gens + thr->nslots, 0, (n - thr->nslots) * sizeof(*ng));
		thr->nslots = n;
	}
	thr->slots[i] = s;
	thr->gens[i]++;
	atomic_fetch_add(&thr->nsessions, 1);
	return (uint64_t)thr->gens[i] << 32 | i;
}

void thread_session_del(struct smtp_thread *thr, uint64_t id)
{
	uint32_t i = (uint32_t)id;
	if (i < thr->nslots && thr->gens[i] == (uint32_t)(id >> 32) && thr->slots[i]) {
		thr->slots[i] = NULL;
		atomic_fetch_sub(&thr->nsessions, 1);
	}
}

struct smtp_session *thread_session_get(struct smtp_thread *thr, uint64_t id)
{
	uint32_t i = (uint32_t)id;
	if (i < thr->nslots && thr->gens[i] == (uint32_t)(id >> 32))
		return thr->slots[i];
	return NULL;
}

static void *thread_main(void *arg)
{
	struct smtp_thread *thr = arg;
	event_base_loop(thr->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

int threads_start(const struct config *cfg)
{
	nthreads = cfg->smtp_threads > 0 ? cfg->smtp_threads : 1;
	threads = calloc((size_t)nthreads, sizeof(*threads));
	if (!threads)
		return -1;
	for (int i = 0; i < nthreads; i++) {
		struct smtp_thread *thr = &threads[i];
		char name[32];
		thr->idx = i;
		thr->cfg = cfg;
		pthread_mutex_init(&thr->lock, NULL);
		thr->base = event_base_new();
		thr->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (!thr->base || thr->wake_fd < 0)
			return -1;
		thr->wake_ev = event_new(thr->base, thr->wake_fd, EV_READ | EV_PERSIST, wake_cb, thr);
		event_add(thr->wake_ev, NULL);
		thr->tick_ev = event_new(thr->base, -1, EV_PERSIST, tick_cb, thr);
		struct timeval tv = {0, 50000};
		event_add(thr->tick_ev, &tv);
		snprintf(name, sizeof(name), "smtp%d", i);
		thr->redis = rconn_new(thr->base, cfg, name);
		if (!thr->redis)
			return -1;
		if (pthread_create(&thr->tid, NULL, thread_main, thr) != 0)
			return -1;
	}
	return 0;
}

struct smtp_thread *threads_pick(void)
{
	struct smtp_thread *best = &threads[0];
	for (int i = 1; i < nthreads; i++)
		if (atomic_load(&threads[i].nsessions) < atomic_load(&best->nsessions))
			best = &threads[i];
	return best;
}

static void stop_fn(struct smtp_thread *thr, void *arg)
{
	thr->stopping = 1;
	smtp_session_shutdown_all(thr);
}

static void exit_fn(struct smtp_thread *thr, void *arg)
{
	event_base_loopbreak(thr->base);
}

void threads_stop(int grace)
{
	for (int i = 0; i < nthreads; i++)
		thread_post(&threads[i], stop_fn, NULL);
	for (int t = 0; t < grace * 10; t++) {
		int left = 0;
		for (int i = 0; i < nthreads; i++)
			left += atomic_load(&threads[i].nsessions);
		if (!left)
			break;
		usleep(100000);
	}
	for (int i = 0; i < nthreads; i++) {
		thread_post(&threads[i], exit_fn, NULL);
		pthread_join(threads[i].tid, NULL);
	}
}
