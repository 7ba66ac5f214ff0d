/*
 * awsjson.h - what the JSON protocols of AWS (awsJson1_1: Organizations;
 * restJson1: SES v2) have in common: reading an error answer, deciding
 * whether it is worth retrying, tag lists, and safe copies of remote text.
 *
 * Pure functions: no I/O, no clock, no globals, no logging.  Any thread.
 */
#ifndef SESGATE_AWS_AWSJSON_H
#define SESGATE_AWS_AWSJSON_H

#include <stddef.h>

#include "aws/awstypes.h"

struct json_t;

/* Local buffer sizes that never cut a real AWS code or a useful message. */
#define AWS_ERR_CODE_MAX 128
#define AWS_ERR_MSG_MAX  2048

/*
 * The error code and message of a failed AWS answer.  The code is taken as
 * the restJson1 and awsJson1_1 protocols say: the X-Amzn-ErrorType header
 * (@errtype, may be NULL or blank) first, else the body's "code", "Code" or
 * "__type"; it is cut at the first ':' (a URL may follow) and after the
 * last '#' (a namespace may precede), trimmed, and kept printable ASCII
 * ('?' for anything else).  A body that is not JSON is tried as a
 * query-protocol XML error document, so one call serves every protocol.
 * The message comes from "message" or "Message" (XML: <Message>).
 *
 * @code and @msg receive them NUL-terminated, control characters replaced
 * by spaces, truncated without splitting a UTF-8 sequence; either may be
 * NULL with cap 0.  A truncated code matches nothing, so give @codecap of
 * at least 64.  Both are "" when absent, and always when @status is 0 (no
 * answer) or 2xx (no error).
 *
 * Returns 0 when a non-empty code was found, -1 otherwise.
 */
int aws_json_error(long status, const char *errtype, const char *body, size_t len, char *code,
                   size_t codecap, char *msg, size_t msgcap);

/* What a caller should do about an answer (see aws_error_retryable). */
enum aws_retry {
	AWS_ERR_NONE = 0,  /* 2xx: not an error */
	AWS_ERR_RETRY,     /* transient, throttled or not from AWS: retry with backoff */
	AWS_ERR_PERMANENT, /* the request itself is wrong or forbidden: stop */
	AWS_ERR_EXISTS,    /* the thing to create is already there: count as done */
	AWS_ERR_CREDS,     /* session token expired or unknown: renew, then retry */
};

/*
 * Classify an answer from its HTTP status (0 = none: network error or
 * timeout) and its error code as aws_json_error or aws_xml_parse_error
 * found it ("" or NULL when there is none).
 *
 * Known codes decide first, whatever the status: "already exists" codes of
 * IAM, SES and Organizations give AWS_ERR_EXISTS; token codes
 * AWS_ERR_CREDS; throttling, server-side, concurrency and clock/signature
 * codes AWS_ERR_RETRY.  Then the status: 5xx, 429 and 408 retry; any other
 * 4xx with a code is permanent.  A 4xx *without* a code did not come from
 * AWS (a proxy, a load balancer, a wrong endpoint), so it says nothing
 * about the request and is retried; the caller's retry budget ends a
 * lasting one.  Anything else (1xx, 3xx) retries too.
 */
enum aws_retry aws_error_retryable(long status, const char *code);

/* "none", "retry", "permanent", "exists", "creds". */
const char *aws_retry_name(enum aws_retry r);

/*
 * Copy remote text @s into @dst (@cap octets, NUL-terminated): control
 * characters become spaces, and a cut never splits a UTF-8 sequence.
 * Nothing happens when @dst is NULL or @cap is 0; NULL @s copies "".
 */
void aws_text_copy(char *dst, size_t cap, const char *s);

/*
 * 1 when @tags[0..n) is a tag list AWS can take: at most AWS_TAGS_MAX,
 * keys 1..128 and values 0..256 characters of valid UTF-8 without control
 * characters, no key twice.  n == 0 is valid (no tags); a NULL list with
 * n > 0, or a NULL key or value, is not.
 */
int aws_tags_valid(const struct aws_tag *tags, size_t n);

/*
 * The JSON array [{"Key":K,"Value":V},...] of a valid tag list (see
 * aws_tags_valid), a new reference the caller owns; NULL when invalid or
 * out of memory.
 */
struct json_t *aws_json_tags(const struct aws_tag *tags, size_t n);

/*
 * Number of characters (code points) in @s, or -1 when it is not valid
 * UTF-8.  AWS counts string lengths in characters.
 */
long aws_utf8_chars(const char *s);

/*
 * Builders of request bodies: compact JSON of @o (consumed), or NULL if
 * @bad or anything failed.  json_string() refuses invalid UTF-8 and
 * json_object_set_new() fails on the resulting NULL, so a set_str error
 * (returned as 1) also catches undecodable input.
 */
char *aws_json_finish(struct json_t *o, int bad);

/* Member @k of @o as a string: 1 and *@s set, 0 when absent or null, -1
 * when present with another type. */
int aws_json_opt_str(struct json_t *o, const char *k, const char **s);
int aws_json_set_str(struct json_t *o, const char *k, const char *v);

#endif /* SESGATE_AWS_AWSJSON_H */
