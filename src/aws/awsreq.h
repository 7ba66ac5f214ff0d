/*
 * awsreq.h - the signed headers of one AWS API call over HTTPS.
 *
 * Pure: the caller passes the endpoint URL, the request, the credentials and
 * the time; the result is the list of header lines to send, Authorization
 * included.  No I/O, no clock, no logging; the secret key only enters the
 * HMAC inside sigv4_sign().
 */
#ifndef SESGATE_AWS_AWSREQ_H
#define SESGATE_AWS_AWSREQ_H

#include <stddef.h>
#include <time.h>

#include "aws/sigv4.h"

#define AWSREQ_EXTRA_MAX 2
#define AWSREQ_MAX_HEADERS (5 + AWSREQ_EXTRA_MAX)

/*
 * Split an endpoint URL "https://host[:port][/base]" into the Host header
 * value (host[:port], as curl will send it) and the base path without a
 * trailing slash ("" for none).  Returns 0, or -1 for a URL that is not
 * http(s), has user info, a query or fragment, or does not fit.
 */
int awsreq_split_url(const char *url, char *host, size_t hostcap, char *base, size_t basecap);

/*
 * Header lines ("Name: value") for METHOD ENDPOINT+PATH with BODY, signed
 * for REGION/SERVICE at NOW.  CONTENT_TYPE may be NULL (GET).  EXTRA (up to
 * AWSREQ_EXTRA_MAX, may be NULL) are further headers to send and sign, such
 * as X-Amz-Target.  On success
 * returns the number of lines written to OUT (heap strings, caller frees
 * each with awsreq_free_headers) and the full URL in URL (heap).  Returns -1
 * on bad input or allocation failure, with nothing allocated.
 */
int awsreq_sign(const char *method, const char *endpoint, const char *path,
		const char *content_type, const struct sigv4_header *extra, size_t nextra,
		const void *body, size_t len, const struct sigv4_credentials *cr, const char *region, const char *service,
		time_t now, char *out[AWSREQ_MAX_HEADERS], char **url);

void awsreq_free_headers(char *h[AWSREQ_MAX_HEADERS], int n);

#endif
