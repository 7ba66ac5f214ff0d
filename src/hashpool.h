/*
 * hashpool.h - threads that run the slow password hash so that no event loop
 * ever does.  A job goes in from an SMTP thread; its result comes back to
 * that thread through thread_post().
 */
#ifndef SESGATE_HASHPOOL_H
#define SESGATE_HASHPOOL_H

#include <stddef.h>
#include <stdint.h>

struct smtp_thread;

/* Runs on OWNER's loop: RESULT is 1 match, 0 mismatch, -1 malformed hash. */
typedef void hashpool_done_fn(struct smtp_thread *owner, uint64_t sid, int result);

int hashpool_start(int nthreads);
void hashpool_stop(void);

/* Copies PW and STORED (the job wipes its copy of PW).  0 or -1. */
int hashpool_submit(struct smtp_thread *owner, uint64_t sid, const char *pw, size_t pwlen,
		    const char *stored, hashpool_done_fn *done);

#endif
