/*
 * httpd.h - sesgate's own HTTP(S) listener (`http_listen`): the SNS
 * endpoint for SES events, Prometheus /metrics, /healthz and /readyz.
 *
 * One thread with its own event loop (evhttp) and Redis connection; it
 * shares nothing with SMTP threads or delivery workers but Redis and the
 * process counters.
 */
#ifndef SESGATE_HTTPD_H
#define SESGATE_HTTPD_H

#include <stddef.h>

struct config;

/* Bind and start when cfg->http_listen is set.  0 or -1 (ERR says why). */
int httpd_start(const struct config *cfg, char *err, size_t errlen);
void httpd_stop(void);

#endif
