/*
 * awsjson.c - error extraction and retry classification shared by the AWS
 * JSON protocols, tag lists, and safe copies of remote text.
 *
 * Pure: no I/O, no clock, no globals, no logging; any thread may call it.
 * Error texts come from the network and end up in logs, Redis and control
 * answers, so everything copied out of them is sanitised here, once, for
 * every caller.
 */
#include "aws/awsjson.h"

#include <string.h>

#include <jansson.h>

#include "aws/awsparse.h"
#include "util.h"

/* ------------------------------------------------------------------ */
/* Text                                                                */

void aws_text_copy(char *dst, size_t cap, const char *s)
{
	size_t n, i;

	if (!dst || cap == 0)
		return;
	if (!s)
		s = "";
	n = strlen(s);
	if (n > cap - 1) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	/* memmove semantics: @dst may be @s (the XML path copies in place). */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	dst[n] = '\0';
}

long aws_utf8_chars(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n, i = 0;
	long chars = 0;

	if (!s)
		return -1;
	n = strlen(s);
	while (i < n) {
		size_t k = util_utf8_seq(u + i, n - i);
		if (k == 0)
			return -1;
		i += k;
		chars++;
	}
	return chars;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */

/*
 * The protocols' sanitising of an error type: keep what precedes the
 * first ':' and what follows the last '#', trim blanks, and keep it
 * printable ASCII (it is logged and stored), with '?' for anything else.
 */
static void code_sanitise(char *dst, size_t cap, const char *s)
{
	const char *end = strchr(s, ':');
	const char *hash;
	size_t n, o = 0;

	n = end ? (size_t)(end - s) : strlen(s);
	hash = memrchr(s, '#', n);
	if (hash) {
		n -= (size_t)(hash + 1 - s);
		s = hash + 1;
	}
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[o++] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[o] = '\0';
}

/* Code and message from the body: a JSON object, or failing that an XML
 * query-protocol error document.  Both outputs are "" when absent; @code
 * has AWS_ERR_CODE_MAX octets, @msg AWS_ERR_MSG_MAX. */
static void body_error(const char *body, size_t len, char *code, char *msg)
{
	json_t *root;

	code[0] = msg[0] = '\0';
	if (!body || len == 0)
		return;
	root = json_loadb(body, len, 0, NULL);
	if (root && json_is_object(root)) {
		static const char *const code_keys[] = {"code", "Code", "__type"};
		const char *m;

		for (size_t i = 0; i < sizeof(code_keys) / sizeof(code_keys[0]); i++) {
			const char *c = json_string_value(json_object_get(root, code_keys[i]));
			if (c) {
				code_sanitise(code, AWS_ERR_CODE_MAX, c);
				break;
			}
		}
		m = json_string_value(json_object_get(root, "message"));
		if (!m)
			m = json_string_value(json_object_get(root, "Message"));
		if (m)
			aws_text_copy(msg, AWS_ERR_MSG_MAX, m);
	} else if (!root) {
		char c[AWS_ERR_CODE_MAX];

		if (aws_xml_parse_error(body, len, c, sizeof(c), msg, AWS_ERR_MSG_MAX) == 0) {
			code_sanitise(code, AWS_ERR_CODE_MAX, c);
			aws_text_copy(msg, AWS_ERR_MSG_MAX, msg);
		}
	}
	json_decref(root);
}

int aws_json_error(long status, const char *errtype, const char *body, size_t len, char *code,
                   size_t codecap, char *msg, size_t msgcap)
{
	char c[AWS_ERR_CODE_MAX], m[AWS_ERR_MSG_MAX];

	aws_text_copy(code, codecap, "");
	aws_text_copy(msg, msgcap, "");
	if (status == 0 || (status >= 200 && status < 300))
		return -1;
	body_error(body, len, c, m);
	if (errtype) {
		char h[AWS_ERR_CODE_MAX];
		code_sanitise(h, sizeof(h), errtype);
		/* An empty header carries no code; the body may still have one. */
		if (h[0])
			memcpy(c, h, sizeof(c));
	}
	aws_text_copy(code, codecap, c);
	aws_text_copy(msg, msgcap, m);
	return c[0] ? 0 : -1;
}

/*
 * Codes that decide on their own.  Sources: the error shapes of the IAM,
 * Organizations, STS and SES models and botocore's generic retry lists
 * (doc/AWS.md sections 1, 3, 4).
 *
 * Clock and signature codes retry for the reason given in ses.c: our
 * signer is checked against the official vectors, so they mean a stepped
 * clock or credentials rotated mid-flight, which the next attempt fixes.
 *
 * Deliberately absent: LimitExceededException (SES: too many of a
 * resource) and IAM's LimitExceeded (409, too many roles) are quotas, not
 * rates, and stay permanent like every other 4xx; Organizations'
 * ConstraintViolationException is permanent even for the reason
 * ACCOUNT_CREATION_RATE_LIMIT_EXCEEDED, because only the body's Reason
 * tells the two apart and the wait is a day, beyond any backoff here.
 */
static const struct {
	const char *code;
	enum aws_retry r;
} aws_codes[] = {
    /* Already there: creating it again is success. */
    {"EntityAlreadyExists", AWS_ERR_EXISTS},       /* IAM CreateRole */
    {"AlreadyExistsException", AWS_ERR_EXISTS},    /* SES v2 */
    {"DuplicateAccountException", AWS_ERR_EXISTS}, /* Orgs MoveAccount */
    /* Our session: renew it. */
    {"ExpiredToken", AWS_ERR_CREDS},
    {"ExpiredTokenException", AWS_ERR_CREDS},
    {"InvalidClientTokenId", AWS_ERR_CREDS},
    {"UnrecognizedClientException", AWS_ERR_CREDS},
    /* Rates. */
    {"Throttling", AWS_ERR_RETRY},
    {"ThrottlingException", AWS_ERR_RETRY},
    {"ThrottledException", AWS_ERR_RETRY},
    {"TooManyRequestsException", AWS_ERR_RETRY},
    {"RequestLimitExceeded", AWS_ERR_RETRY},
    {"RequestThrottled", AWS_ERR_RETRY},
    {"RequestThrottledException", AWS_ERR_RETRY},
    {"SlowDown", AWS_ERR_RETRY},
    {"BandwidthLimitExceeded", AWS_ERR_RETRY},
    {"PriorRequestNotComplete", AWS_ERR_RETRY},
    /* Their side, or a race with another change. */
    {"ConcurrentModificationException", AWS_ERR_RETRY}, /* Orgs, SES (500) */
    {"FinalizingOrganizationException", AWS_ERR_RETRY}, /* Orgs: up to an hour */
    {"ServiceException", AWS_ERR_RETRY},                /* Orgs */
    {"ServiceFailure", AWS_ERR_RETRY},                  /* IAM (500) */
    {"ServiceUnavailable", AWS_ERR_RETRY},
    {"ServiceUnavailableException", AWS_ERR_RETRY},
    {"InternalFailure", AWS_ERR_RETRY},
    {"InternalError", AWS_ERR_RETRY},
    {"InternalServiceError", AWS_ERR_RETRY},
    {"InternalServiceErrorException", AWS_ERR_RETRY}, /* SES v2 */
    {"RequestTimeout", AWS_ERR_RETRY},
    {"RequestTimeoutException", AWS_ERR_RETRY},
    {"IDPCommunicationError", AWS_ERR_RETRY},
    /* Clock and signature. */
    {"RequestTimeTooSkewed", AWS_ERR_RETRY},
    {"RequestExpired", AWS_ERR_RETRY},
    {"SignatureDoesNotMatch", AWS_ERR_RETRY},
};

enum aws_retry aws_error_retryable(long status, const char *code)
{
	if (status == 0)
		return AWS_ERR_RETRY;
	if (status >= 200 && status < 300)
		return AWS_ERR_NONE;
	if (!code)
		code = "";
	for (size_t i = 0; i < sizeof(aws_codes) / sizeof(aws_codes[0]); i++)
		if (strcmp(code, aws_codes[i].code) == 0)
			return aws_codes[i].r;
	if (status >= 500 || status == 429 || status == 408)
		return AWS_ERR_RETRY;
	if (status >= 400)
		return code[0] ? AWS_ERR_PERMANENT : AWS_ERR_RETRY;
	return AWS_ERR_RETRY;
}

const char *aws_retry_name(enum aws_retry r)
{
	switch (r) {
	case AWS_ERR_NONE:
		return "none";
	case AWS_ERR_RETRY:
		return "retry";
	case AWS_ERR_PERMANENT:
		return "permanent";
	case AWS_ERR_EXISTS:
		return "exists";
	case AWS_ERR_CREDS:
		return "creds";
	}
	return "unknown";
}

/* ------------------------------------------------------------------ */
/* Tags                                                                */

/* Valid UTF-8 of min..max characters and no control characters. */
static int tag_text_ok(const char *s, long min, long max)
{
	long n = aws_utf8_chars(s);

	if (n < min || n > max)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int aws_tags_valid(const struct aws_tag *tags, size_t n)
{
	if (n == 0)
		return 1;
	if (!tags || n > AWS_TAGS_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!tag_text_ok(tags[i].key, 1, AWS_TAG_KEY_MAX) ||
		    !tag_text_ok(tags[i].value, 0, AWS_TAG_VALUE_MAX))
			return 0;
		for (size_t j = 0; j < i; j++)
			if (strcmp(tags[i].key, tags[j].key) == 0)
				return 0;
	}
	return 1;
}

json_t *aws_json_tags(const struct aws_tag *tags, size_t n)
{
	json_t *a;

	if (!aws_tags_valid(tags, n))
		return NULL;
	a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		json_t *t = json_pack("{s:s,s:s}", "Key", tags[i].key, "Value", tags[i].value);
		if (json_array_append_new(a, t) < 0) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

char *aws_json_finish(json_t *o, int bad)
{
	char *s = (!o || bad) ? NULL : json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

int aws_json_set_str(json_t *o, const char *k, const char *v)
{
	return json_object_set_new(o, k, json_string(v)) < 0;
}

int aws_json_opt_str(json_t *o, const char *k, const char **s)
{
	json_t *v = json_object_get(o, k);

	*s = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	*s = json_string_value(v);
	return 1;
}
