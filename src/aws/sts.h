/*
 * sts.h - AWS STS AssumeRole request bodies (query protocol,
 * application/x-www-form-urlencoded) and RoleSessionName construction.
 *
 * Pure functions: no I/O, no clock, no globals, no logging.  Parsing the
 * answer is aws_sts_parse_assume_role() in aws/awsparse.h.
 */
#ifndef SESGATE_AWS_STS_H
#define SESGATE_AWS_STS_H

#include <stddef.h>

#define STS_SESSION_NAME_MAX 64	/* RoleSessionName: 2..64 of [\w+=,.@-] */
#define STS_DURATION_MIN     900
#define STS_DURATION_MAX     43200

/*
 * Percent-encode @s for a form body or a SigV4 query string: the
 * unreserved characters A-Z a-z 0-9 - _ . ~ stay, every other octet
 * becomes %XX with upper-case hex (so a space is %20, never '+', and UTF-8
 * is encoded octet by octet).  Returns a heap string the caller frees, or
 * NULL when out of memory.
 */
char *aws_form_encode(const char *s);

/*
 * The body of an AssumeRole call:
 *   Action=AssumeRole&Version=2011-06-15&RoleArn=..&RoleSessionName=..
 *   [&ExternalId=..][&DurationSeconds=..]
 * @external_id NULL or "" = none; @duration_seconds 0 = leave it to STS
 * (3600, or less if the role allows less), otherwise 900..43200.  Inputs
 * are checked against STS's documented shapes (RoleArn 20..2048 octets,
 * RoleSessionName 2..64 of [\w+=,.@-], ExternalId 2..1224 of
 * [\w+=,.@:/-]) so that a bad tenant setting fails here, clearly, rather
 * than as a remote ValidationError.  Returns a heap string the caller
 * frees, or NULL for invalid input or out of memory.
 */
char *sts_assume_role_body(const char *role_arn, const char *session_name,
			   const char *external_id, int duration_seconds);

/*
 * A RoleSessionName naming the tenant, "PREFIX-TENANT" (just TENANT when
 * @prefix is NULL or ""), so CloudTrail shows which tenant a call was made
 * for.  Characters outside [\w+=,.@-] become '_' (one per UTF-8 sequence);
 * a name longer than fits (64, or @cap - 1 if smaller) is cut and ends in
 * "-" and 8 hex digits of a hash of the whole input, so that long names
 * differing only at the end stay distinct.  A one-character result is
 * padded with '_' to the minimum of two.  Returns 0, or -1 when @cap < 3
 * or there is nothing to name.
 */
int sts_session_name(const char *prefix, const char *tenant_name, char *out, size_t cap);

#endif /* SESGATE_AWS_STS_H */
