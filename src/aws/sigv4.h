/*
 * AWS Signature Version 4 request signing (header form, "AWS4-HMAC-SHA256").
 *
 * A pure function of its inputs: the caller passes the request pieces, the
 * credentials, region, service and the current time, and gets back the
 * header values to add to the request.  This module never does I/O, never
 * reads the clock or the environment, keeps no global state, and never logs
 * or returns the secret key (only values derived from it by HMAC).
 */
#ifndef SESGATE_AWS_SIGV4_H
#define SESGATE_AWS_SIGV4_H

#include <stddef.h>
#include <time.h>

/* One request header as it will be sent.  Names are matched and signed
 * case-insensitively; values are trimmed and inner runs of SP/HTAB are
 * collapsed for signing only.  Values must not contain CR, LF or NUL
 * (folded headers must be unfolded by the caller). */
struct sigv4_header {
	const char *name;
	const char *value;
};

/* Flags for sigv4_request.flags. */
enum {
	/* Sign and return x-amz-content-sha256 (S3 requires it; most other
	 * services accept it but do not need it). */
	SIGV4_ADD_CONTENT_SHA256 = 1u << 0,
	/* Return x-amz-security-token but leave it out of the signature (for
	 * the few services that want the token appended after signing). */
	SIGV4_TOKEN_UNSIGNED = 1u << 1,
	/* S3 rules: use the path verbatim, no dot-segment removal, no slash
	 * collapsing and no second encoding pass.  The path must then
	 * already be encoded the way S3 expects. */
	SIGV4_S3_PATH = 1u << 2,
};

struct sigv4_request {
	const char *method;		/* "GET", "POST", ... */
	const char *path;		/* raw, as sent; NULL or "" means "/" */
	const char *query;		/* raw, without '?'; may be NULL */
	const struct sigv4_header *headers;	/* must include Host */
	size_t nheaders;
	const void *payload;		/* hashed unless payload_hash is set */
	size_t payload_len;
	const char *payload_hash;	/* optional: lower-case hex SHA-256 or
					 * "UNSIGNED-PAYLOAD"; at most 64 chars */
	unsigned int flags;		/* SIGV4_* */
};

struct sigv4_credentials {
	const char *access_key;
	const char *secret_key;
	const char *session_token;	/* may be NULL */
};

/*
 * Output of sigv4_sign().  The char arrays are owned by the struct; the
 * char pointers are heap strings owned by the struct and released with
 * sigv4_result_free().  security_token is borrowed from the credentials
 * (NULL when there is none) and must not be freed.
 *
 * Headers the caller must add to the request:
 *   X-Amz-Date:            amz_date
 *   X-Amz-Content-SHA256:  content_sha256  (only with SIGV4_ADD_CONTENT_SHA256)
 *   X-Amz-Security-Token:  security_token  (when not NULL)
 *   Authorization:         authorization
 * canonical_request and string_to_sign are for tests and debugging; they
 * contain no secret material.
 */
struct sigv4_result {
	char amz_date[17];		/* YYYYMMDDTHHMMSSZ */
	char content_sha256[65];	/* always filled */
	const char *security_token;
	char *authorization;
	char *canonical_request;
	char *string_to_sign;
};

/*
 * Sign @req.  Caller-supplied headers named x-amz-date and authorization
 * are ignored (replaced by the computed ones), as are x-amz-security-token
 * when @cr has a session token and x-amz-content-sha256 when
 * SIGV4_ADD_CONTENT_SHA256 is set.  Every other header given is signed.
 *
 * Returns 0 on success; -EINVAL for bad input (missing field, header
 * name/value with forbidden characters, time not representable);
 * -ENOMEM on allocation failure; -EIO if OpenSSL fails.  On failure @out
 * holds no allocations (sigv4_result_free() is still safe to call).
 */
int sigv4_sign(const struct sigv4_request *req,
	       const struct sigv4_credentials *cr,
	       const char *region, const char *service, time_t now,
	       struct sigv4_result *out);

/* Free the heap strings of @res and reset it; safe on a zeroed struct. */
void sigv4_result_free(struct sigv4_result *res);

#endif /* SESGATE_AWS_SIGV4_H */
