/*
 * ses.c - SES v2 SendEmail request body, error classification and the
 * SendEmail / GetAccount response parsers.
 *
 * Pure: no I/O, no clock, no globals, no logging; any thread may call it.
 * The SendEmail body is written by hand in two passes (measure, then fill
 * one exact allocation) because Content.Raw.Data is up to 40 MB of base64:
 * going through a JSON library would copy it several times.  Everything
 * else that comes from outside (addresses, error texts) is escaped or
 * sanitised here or in aws/awsjson.c (error extraction, shared with the
 * provisioning calls) so that no caller has to remember to.
 */
#include "aws/ses.h"

#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "aws/awsjson.h"
#include "base64.h"

/* ------------------------------------------------------------------ */
/* UTF-8 and JSON strings                                              */


/*
 * Output cursor for the two-pass writer: with @p NULL it only counts.
 * @bad is set when a string cannot be represented (invalid UTF-8).
 */
struct jw {
	char *p;
	size_t n;
	int bad;
};

static void jw_raw(struct jw *w, const char *s, size_t n)
{
	if (w->p)
		memcpy(w->p + w->n, s, n);
	w->n += n;
}

static void jw_lit(struct jw *w, const char *s)
{
	jw_raw(w, s, strlen(s));
}

/* A JSON string with its quotes.  UTF-8 is kept as is (JSON text is
 * UTF-8); '"', '\\' and every control character are escaped. */
static void jw_str(struct jw *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s);
	size_t i = 0;

	jw_raw(w, "\"", 1);
	while (i < n) {
		unsigned c = u[i];
		size_t k;

		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			jw_raw(w, e, 2);
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			switch (c) {
			case '\n':
				jw_raw(w, "\\n", 2);
				break;
			case '\r':
				jw_raw(w, "\\r", 2);
				break;
			case '\t':
				jw_raw(w, "\\t", 2);
				break;
			default:
				jw_raw(w, e, 6);
			}
			i++;
			continue;
		}
		k = util_utf8_seq(u + i, n - i);
		if (k == 0) {
			w->bad = 1;
			return;
		}
		jw_raw(w, s + i, k);
		i += k;
	}
	jw_raw(w, "\"", 1);
}

/* EmailTags values: 1..256 of [A-Za-z0-9_-] (SES rule). */
static int tag_value_ok(const char *v)
{
	size_t n = 0;

	if (!v)
		return 0;
	for (; v[n]; n++) {
		unsigned char c = (unsigned char)v[n];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return n >= 1 && n <= SES_TAG_VALUE_MAX;
}

static void jw_tag(struct jw *w, int *first, const char *name, const char *value)
{
	if (!tag_value_ok(value))
		return;
	jw_lit(w, *first ? "{\"Name\":" : ",{\"Name\":");
	jw_str(w, name);
	jw_lit(w, ",\"Value\":");
	jw_str(w, value);
	jw_lit(w, "}");
	*first = 0;
}

/* Everything but the blob, which the caller appends.  Small fields come
 * first so that a truncated debug dump of a body still shows them. */
static void ses_write_head(struct jw *w, const struct ses_send *s)
{
	int have_tags = tag_value_ok(s->qid) || tag_value_ok(s->tenant_id);

	jw_lit(w, "{\"Destination\":{\"ToAddresses\":[");
	for (size_t i = 0; i < s->nrcpt; i++) {
		if (i)
			jw_lit(w, ",");
		jw_str(w, s->rcpts[i]);
	}
	jw_lit(w, "]}");
	if (s->from && *s->from) {
		jw_lit(w, ",\"FromEmailAddress\":");
		jw_str(w, s->from);
	}
	if (s->config_set && *s->config_set) {
		jw_lit(w, ",\"ConfigurationSetName\":");
		jw_str(w, s->config_set);
	}
	if (s->tenant_name && *s->tenant_name) {
		jw_lit(w, ",\"TenantName\":");
		jw_str(w, s->tenant_name);
	}
	if (have_tags) {
		int first = 1;
		jw_lit(w, ",\"EmailTags\":[");
		jw_tag(w, &first, "sesgate-qid", s->qid);
		jw_tag(w, &first, "sesgate-tenant", s->tenant_id);
		jw_lit(w, "]");
	}
	jw_lit(w, ",\"Content\":{\"Raw\":{\"Data\":\"");
}

static const char ses_tail[] = "\"}}}";

char *ses_send_email_body(const struct ses_send *s, size_t *len)
{
	struct jw w = {NULL, 0, 0};
	size_t b64, total;
	char *out;

	if (!s || (!s->raw && s->raw_len) || s->nrcpt == 0 || s->nrcpt > SES_MAX_RCPTS ||
	    !s->rcpts)
		return NULL;
	for (size_t i = 0; i < s->nrcpt; i++)
		if (!s->rcpts[i] || !*s->rcpts[i])
			return NULL;
	if (s->raw_len > SIZE_MAX / 2)
		return NULL;

	ses_write_head(&w, s);
	if (w.bad)
		return NULL;
	b64 = base64_encoded_len(s->raw_len);
	total = w.n + b64 + sizeof(ses_tail) - 1;
	if (total < b64)
		return NULL;
	out = malloc(total + 1);
	if (!out)
		return NULL;

	w.p = out;
	w.n = 0;
	ses_write_head(&w, s);
	/* base64_encode NUL-terminates; the tail overwrites that NUL. */
	w.n += base64_encode(s->raw_len ? s->raw : "", s->raw_len, out + w.n);
	jw_raw(&w, ses_tail, sizeof(ses_tail) - 1);
	out[w.n] = '\0';
	if (len)
		*len = w.n;
	return out;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */

/* Case-insensitive substring test for ASCII needles. */
static int contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

/*
 * Codes we recognise.  Anything else falls back on the HTTP status.
 *
 * SignatureDoesNotMatch, RequestTimeTooSkewed and RequestExpired are
 * retried: our signer is checked against the official SigV4 vectors, so in
 * production these mean a clock that stepped, credentials rotated between
 * signing and sending, or a proxy that touched the request.  None of that
 * is the message's fault, and the house rule is that our own failures are
 * temporary; the retry budget still dead-letters a lasting problem.
 *
 * Only token problems count as expired credentials (the caller drops its
 * cached STS session and retries).  LimitExceededException is permanent:
 * in SES v2 it means too many instances of a resource, not a rate (even
 * though botocore's generic retry list calls it throttling).
 */
static const struct {
	const char *code;
	enum ses_outcome outcome;
} ses_codes[] = {
	{"TooManyRequestsException", SES_THROTTLED},
	{"Throttling", SES_THROTTLED},
	{"ThrottlingException", SES_THROTTLED},
	{"ExpiredToken", SES_CREDS_EXPIRED},
	{"ExpiredTokenException", SES_CREDS_EXPIRED},
	{"InvalidClientTokenId", SES_CREDS_EXPIRED},
	{"UnrecognizedClientException", SES_CREDS_EXPIRED},
	{"AccountSuspendedException", SES_HOLD},
	{"SendingPausedException", SES_HOLD},
	{"AccountSendingPausedException", SES_HOLD},		/* SES v1 */
	{"ConfigurationSetSendingPausedException", SES_HOLD},	/* SES v1 */
	{"RequestTimeTooSkewed", SES_RETRY},
	{"RequestExpired", SES_RETRY},
	{"SignatureDoesNotMatch", SES_RETRY},
	{"InternalServiceErrorException", SES_RETRY},
	{"InternalFailure", SES_RETRY},
	{"ServiceUnavailable", SES_RETRY},
	{"ConcurrentModificationException", SES_RETRY},
	{"RequestTimeout", SES_RETRY},
	{"RequestTimeoutException", SES_RETRY},
	{"MessageRejected", SES_PERMANENT},
	{"MailFromDomainNotVerifiedException", SES_PERMANENT},
	{"MailFromDomainNotVerified", SES_PERMANENT},		/* SES v1 */
	{"BadRequestException", SES_PERMANENT},
	{"NotFoundException", SES_PERMANENT},
	{"LimitExceededException", SES_PERMANENT},
};

/* Rate and quota share codes; SES tells them apart only in the text. */
static enum ses_outcome throttle_or_quota(const char *msg)
{
	return contains_ci(msg, "Daily message quota exceeded") ? SES_QUOTA_EXCEEDED
								: SES_THROTTLED;
}

static enum ses_outcome ses_decide(long status, const char *code, const char *msg)
{
	for (size_t i = 0; i < sizeof(ses_codes) / sizeof(ses_codes[0]); i++) {
		if (strcmp(code, ses_codes[i].code) != 0)
			continue;
		if (ses_codes[i].outcome == SES_THROTTLED ||
		    strcmp(code, "LimitExceededException") == 0) {
			enum ses_outcome o = throttle_or_quota(msg);
			return o == SES_QUOTA_EXCEEDED ? o : ses_codes[i].outcome;
		}
		return ses_codes[i].outcome;
	}
	if (strncmp(code, "AccessDenied", 12) == 0)
		return SES_PERMANENT;
	if (status == 429)
		return throttle_or_quota(msg);
	if (status == 408)
		return SES_RETRY;
	if (status == 413)
		return SES_PERMANENT;
	/* A 4xx without any error code did not come from SES (a proxy, a load
	 * balancer, a wrong endpoint): no verdict on the message, so retry. */
	if (status >= 400 && status < 500)
		return code[0] ? SES_PERMANENT : SES_RETRY;
	return SES_RETRY;
}

enum ses_outcome ses_classify(long http_status, const char *errtype, const char *body,
			      size_t len, char *code, size_t codecap, char *msg, size_t msgcap)
{
	/* Full-size local copies: the decision must not depend on how much
	 * of the code and message the caller wants to keep. */
	char c[AWS_ERR_CODE_MAX], m[AWS_ERR_MSG_MAX];

	aws_text_copy(code, codecap, "");
	aws_text_copy(msg, msgcap, "");
	if (http_status == 0)
		return SES_RETRY;
	if (http_status >= 200 && http_status < 300)
		return SES_OK;

	aws_json_error(http_status, errtype, body, len, c, sizeof(c), m, sizeof(m));
	aws_text_copy(code, codecap, c);
	aws_text_copy(msg, msgcap, m);
	return ses_decide(http_status, c, m);
}

const char *ses_outcome_name(enum ses_outcome o)
{
	switch (o) {
	case SES_OK:
		return "ok";
	case SES_RETRY:
		return "retry";
	case SES_THROTTLED:
		return "throttled";
	case SES_QUOTA_EXCEEDED:
		return "quota_exceeded";
	case SES_CREDS_EXPIRED:
		return "creds_expired";
	case SES_HOLD:
		return "hold";
	case SES_PERMANENT:
		return "permanent";
	}
	return "unknown";
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */

int ses_parse_send_response(const char *body, size_t len, char *message_id, size_t cap)
{
	json_t *root;
	const char *id;
	size_t n;
	int rc = -1;

	if (message_id && cap)
		message_id[0] = '\0';
	if (!body || !message_id || cap == 0)
		return -1;
	root = json_loadb(body, len, 0, NULL);
	id = json_string_value(json_object_get(root, "MessageId"));
	if (id && (n = strlen(id)) > 0 && n < cap) {
		rc = 0;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7f)
				rc = -1;
		if (rc == 0)
			memcpy(message_id, id, n + 1);
	}
	json_decref(root);
	return rc;
}

static int json_tristate(json_t *v)
{
	return json_is_boolean(v) ? json_is_true(v) : -1;
}

int ses_parse_account(const char *body, size_t len, struct ses_account *out)
{
	json_t *root, *q, *rate, *max, *sent;
	const char *es;
	int rc = -1;

	if (!out)
		return -1;
	memset(out, 0, sizeof(*out));
	if (!body)
		return -1;
	root = json_loadb(body, len, 0, NULL);
	q = json_object_get(root, "SendQuota");
	rate = json_object_get(q, "MaxSendRate");
	max = json_object_get(q, "Max24HourSend");
	sent = json_object_get(q, "SentLast24Hours");
	if (json_is_number(rate) && json_is_number(max) && (!sent || json_is_number(sent))) {
		out->max_send_rate = json_number_value(rate);
		out->max_24h = json_number_value(max);
		if (out->max_24h < 0)
			out->max_24h = -1;
		out->sent_24h = sent ? json_number_value(sent) : 0;
		out->sending_enabled = json_tristate(json_object_get(root, "SendingEnabled"));
		out->production_access =
			json_tristate(json_object_get(root, "ProductionAccessEnabled"));
		es = json_string_value(json_object_get(root, "EnforcementStatus"));
		aws_text_copy(out->enforcement_status, sizeof(out->enforcement_status), es);
		rc = 0;
	}
	json_decref(root);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}
