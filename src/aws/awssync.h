/*
 * awssync.h - one signed AWS API call, synchronously (libcurl easy).
 *
 * For the provisioning thread only, whose steps are a handful of short
 * calls each and which must never share a loop with SMTP sessions or
 * delivery workers.  Every call has a total timeout and can be aborted
 * from another thread (shutdown).  TLS is always verified.
 */
#ifndef SESGATE_AWS_AWSSYNC_H
#define SESGATE_AWS_AWSSYNC_H

#include <stdatomic.h>
#include <stddef.h>

#include "aws/sigv4.h"

struct aws_sync_req {
	const char *method;       /* GET, POST, PUT */
	const char *endpoint;     /* https://host[:port][/base] */
	const char *path;         /* "/" or "/v2/email/..." */
	const char *content_type; /* NULL for no body */
	const char *target;       /* X-Amz-Target or NULL */
	const char *body;         /* may be NULL */
	size_t len;
	const char *region, *service;
	const char *ca_bundle;    /* "" = system store */
	long timeout_ms;
	const _Atomic int *abort; /* non-zero aborts the transfer; may be NULL */
};

struct aws_sync_resp {
	long status;              /* 0 = no response (err says why) */
	char *body;               /* heap, NUL-terminated; aws_sync_resp_free */
	size_t len;
	char error_type[128];     /* x-amzn-ErrorType */
	char err[256];
};

/* Returns 0 when a response came (any status), -1 otherwise (RS->err). */
int aws_sync_call(const struct aws_sync_req *rq, const struct sigv4_credentials *cr,
		  struct aws_sync_resp *rs);
void aws_sync_resp_free(struct aws_sync_resp *rs);

#endif
