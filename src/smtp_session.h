/*
 * smtp_session.h - one SMTP session per client connection, run entirely on
 * its SMTP thread's loop.
 */
#ifndef SESGATE_SMTP_SESSION_H
#define SESGATE_SMTP_SESSION_H

#include <sys/socket.h>

struct smtp_thread;
struct config;
#include <stddef.h>

struct accept_job {
	int fd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	unsigned lflags;   /* LISTEN_* of the listener that accepted it */
};

/* Once at start, before the threads: networks from the configuration.  0 or -1. */
int smtp_session_init(const struct config *cfg, char *err, size_t errlen);

/* thread_fn: adopt an accepted socket (ARG is a malloc'ed accept_job). */
void smtp_session_accept(struct smtp_thread *thr, void *arg);
/* Periodic (50 ms): resume sessions paused for max_data_memory. */
void smtp_session_tick(struct smtp_thread *thr);
/* Graceful stop: idle sessions get 421 now, busy ones after their message. */
void smtp_session_shutdown_all(struct smtp_thread *thr);

#endif
