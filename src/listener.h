/*
 * listener.h - SMTP listening sockets, accepted on the main thread and
 * handed to the least loaded SMTP thread.
 */
#ifndef SESGATE_LISTENER_H
#define SESGATE_LISTENER_H

#include <stddef.h>

struct config;
struct event_base;

/* Bind every `listen` address (before privileges are dropped).  0 or -1. */
int listener_bind(const struct config *cfg, char *err, size_t errlen);
/* Start accepting on BASE. */
int listener_start(struct event_base *base);
void listener_stop(void);

#endif
