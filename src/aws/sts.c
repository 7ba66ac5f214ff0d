/*
 * sts.c - STS AssumeRole request body and RoleSessionName construction.
 *
 * Pure: no I/O, no clock, no globals, no logging; any thread may call it.
 * The external id is not a secret in the AWS sense but it is tenant
 * configuration; it is only ever copied into the body, never elsewhere.
 */
#include "aws/sts.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STS_ROLE_ARN_MIN    20
#define STS_ROLE_ARN_MAX    2048
#define STS_EXTERNAL_ID_MIN 2
#define STS_EXTERNAL_ID_MAX 1224

static int is_word(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static int is_unreserved(unsigned char c)
{
	return is_word(c) || c == '-' || c == '.' || c == '~';
}

/* RoleSessionName characters: [\w+=,.@-] */
static int is_session_char(unsigned char c)
{
	return is_word(c) || (c && strchr("+=,.@-", c));
}

/* ExternalId characters: [\w+=,.@:/-] */
static int is_external_char(unsigned char c)
{
	return is_word(c) || (c && strchr("+=,.@:/-", c));
}

static int all_of(const char *s, int (*ok)(unsigned char))
{
	for (; *s; s++)
		if (!ok((unsigned char)*s))
			return 0;
	return 1;
}

char *aws_form_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0, o = 0;
	char *out;

	for (const char *p = s; *p; p++)
		n += is_unreserved((unsigned char)*p) ? 1 : 3;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (is_unreserved(c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

static int role_arn_ok(const char *a)
{
	size_t n = strlen(a);

	if (n < STS_ROLE_ARN_MIN || n > STS_ROLE_ARN_MAX)
		return 0;
	for (; *a; a++)
		if ((unsigned char)*a < 0x20 || *a == 0x7f)
			return 0;
	return 1;
}

char *sts_assume_role_body(const char *role_arn, const char *session_name,
			   const char *external_id, int duration_seconds)
{
	char *arn = NULL, *sess = NULL, *ext = NULL, *out = NULL;
	char dur[32] = "";
	size_t n, sl;
	int has_ext = external_id && *external_id;

	if (!role_arn || !session_name || !role_arn_ok(role_arn))
		return NULL;
	sl = strlen(session_name);
	if (sl < 2 || sl > STS_SESSION_NAME_MAX || !all_of(session_name, is_session_char))
		return NULL;
	if (has_ext) {
		size_t el = strlen(external_id);
		if (el < STS_EXTERNAL_ID_MIN || el > STS_EXTERNAL_ID_MAX ||
		    !all_of(external_id, is_external_char))
			return NULL;
	}
	if (duration_seconds != 0) {
		if (duration_seconds < STS_DURATION_MIN || duration_seconds > STS_DURATION_MAX)
			return NULL;
		snprintf(dur, sizeof(dur), "&DurationSeconds=%d", duration_seconds);
	}

	arn = aws_form_encode(role_arn);
	sess = aws_form_encode(session_name);
	ext = has_ext ? aws_form_encode(external_id) : NULL;
	if (!arn || !sess || (has_ext && !ext))
		goto done;
	n = sizeof("Action=AssumeRole&Version=2011-06-15&RoleArn=&RoleSessionName=&ExternalId=") +
	    strlen(arn) + strlen(sess) + (ext ? strlen(ext) : 0) + strlen(dur);
	out = malloc(n);
	if (!out)
		goto done;
	snprintf(out, n, "Action=AssumeRole&Version=2011-06-15&RoleArn=%s&RoleSessionName=%s%s%s%s",
		 arn, sess, ext ? "&ExternalId=" : "", ext ? ext : "", dur);
done:
	free(arn);
	free(sess);
	free(ext);
	return out;
}

/* FNV-1a, 32 bits: only to keep truncated names apart, not for security. */
static uint32_t fnv1a(uint32_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* Append @s to @out (at *@o, capacity @lim chars) mapped to session-name
 * characters; returns the mapped length it would have had untruncated. */
static size_t map_append(char *out, size_t *o, size_t lim, const char *s)
{
	size_t want = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char m;

		if ((c & 0xc0) == 0x80)
			continue;	/* UTF-8 continuation: its lead byte stood for it */
		m = is_session_char(c) ? (char)c : '_';
		want++;
		if (*o < lim)
			out[(*o)++] = m;
	}
	return want;
}

int sts_session_name(const char *prefix, const char *tenant_name, char *out, size_t cap)
{
	char buf[STS_SESSION_NAME_MAX + 1];
	size_t lim, o = 0, want = 0;
	int has_prefix = prefix && *prefix;
	int has_tenant = tenant_name && *tenant_name;

	if (!out || cap < 3)
		return -1;
	out[0] = '\0';
	if (!has_prefix && !has_tenant)
		return -1;
	lim = cap - 1 < STS_SESSION_NAME_MAX ? cap - 1 : STS_SESSION_NAME_MAX;

	if (has_prefix)
		want += map_append(buf, &o, lim, prefix);
	if (has_prefix && has_tenant)
		want += map_append(buf, &o, lim, "-");
	if (has_tenant)
		want += map_append(buf, &o, lim, tenant_name);

	if (want > lim && lim >= 16) {
		uint32_t h = fnv1a(2166136261u, has_prefix ? prefix : "");
		h = fnv1a(h, "-");
		h = fnv1a(h, has_tenant ? tenant_name : "");
		o = lim - 9;
		snprintf(buf + o, sizeof(buf) - o, "-%08x", (unsigned)h);
		o += 9;
	}
	while (o < 2)
		buf[o++] = '_';
	buf[o] = '\0';
	memcpy(out, buf, o + 1);
	return 0;
}
