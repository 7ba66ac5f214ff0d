/*
 * ses.h - Amazon SES v2 (REST-JSON) request bodies and response
 * classification for SendEmail and GetAccount.
 *
 * Pure functions: no I/O, no clock, no globals, no logging.  Signing and
 * transport live elsewhere (aws/sigv4.c, http.c); the worker decides what to
 * do with an outcome.  Safe to call from any thread.
 */
#ifndef SESGATE_AWS_SES_H
#define SESGATE_AWS_SES_H

#include <stddef.h>

#define SES_MAX_RCPTS     50	/* To+Cc+Bcc per SendEmail (SES quota) */
#define SES_TAG_VALUE_MAX 256	/* EmailTags value length */

/* One SendEmail call.  Strings are NUL-terminated UTF-8; nothing is kept. */
struct ses_send {
	const void *raw;		/* the message exactly as received: any bytes */
	size_t raw_len;
	const char *from;		/* envelope sender; NULL or "" = null sender */
	const char *const *rcpts;	/* envelope recipients, 1..SES_MAX_RCPTS */
	size_t nrcpt;
	const char *config_set;		/* ConfigurationSetName; NULL/"" = none */
	const char *qid;		/* EmailTags sesgate-qid; NULL = no tag */
	const char *tenant_id;		/* EmailTags sesgate-tenant; NULL = no tag */
	const char *tenant_name;	/* SES TenantName; NULL/"" = none */
};

/*
 * The JSON body of SendEmail: Content.Raw.Data is the base64 of @s->raw,
 * written straight into the output (no JSON library copy of a 40 MB blob);
 * the small string fields are JSON-escaped, UTF-8 kept as is.
 *
 * A tag whose value is not 1..256 characters of [A-Za-z0-9_-] is left out
 * rather than rewritten: the tags come back in SES events and are used to
 * find the message and tenant again, so a rewritten value would point at
 * the wrong one or at none, while a missing one is merely unattributed.
 *
 * Returns a heap string (caller frees) of *@len bytes plus a NUL, or NULL
 * when nrcpt is 0 or above SES_MAX_RCPTS, a recipient is NULL or empty, a
 * string is not valid UTF-8 (it could not be sent as JSON), or memory ran
 * out.
 */
char *ses_send_email_body(const struct ses_send *s, size_t *len);

enum ses_outcome {
	SES_OK,			/* 2xx: accepted */
	SES_RETRY,		/* transient or unknown: retry with backoff */
	SES_THROTTLED,		/* sending rate exceeded: slow down, retry */
	SES_QUOTA_EXCEEDED,	/* 24-hour quota used up: hold until it frees */
	SES_CREDS_EXPIRED,	/* session token expired/invalid: refresh, retry */
	SES_HOLD,		/* account or sending paused: hold the tenant */
	SES_PERMANENT,		/* this message will never be accepted: bounce */
};

/*
 * Classify an SES v2 answer.  @http_status 0 means no answer (network
 * error, timeout).  Code and message are read by aws_json_error()
 * (aws/awsjson.h): the X-Amzn-ErrorType header (@errtype, may be NULL)
 * first, else the body's "code", "Code" or "__type", cut at the first ':'
 * and after the last '#'; an XML error document (query protocol) is
 * understood too.  The message comes from "message" or "Message".
 *
 * @code and @msg receive the code and message, NUL-terminated, control
 * characters replaced by spaces, truncated without splitting a UTF-8
 * sequence; either may be NULL with cap 0.  Both are "" when absent.
 */
enum ses_outcome ses_classify(long http_status, const char *errtype, const char *body,
			      size_t len, char *code, size_t codecap, char *msg, size_t msgcap);

/* Short lower-case name of an outcome for logs and metrics ("retry"). */
const char *ses_outcome_name(enum ses_outcome o);

/*
 * MessageId from a SendEmail 200 body.  Returns 0 and copies it (NUL-
 * terminated) into @message_id, or -1 when the body is not JSON, the id is
 * missing, empty, not printable ASCII, or does not fit in @cap.
 */
int ses_parse_send_response(const char *body, size_t len, char *message_id, size_t cap);

/* What GetAccount tells us about sending limits and account health. */
struct ses_account {
	double max_send_rate;		/* messages per second */
	double max_24h;			/* -1 = unlimited */
	double sent_24h;
	int sending_enabled;		/* 1, 0, or -1 when absent */
	int production_access;		/* 1, 0 (sandbox), or -1 when absent */
	char enforcement_status[32];	/* HEALTHY, PROBATION, SHUTDOWN; "" if absent */
};

/*
 * Parse a GetAccount 200 body.  SendQuota.MaxSendRate and Max24HourSend are
 * required (-1 otherwise); SentLast24Hours defaults to 0.  A negative
 * Max24HourSend is stored as -1.  Returns 0 and fills @out, or -1 (then
 * @out is zeroed).
 */
int ses_parse_account(const char *body, size_t len, struct ses_account *out);

#endif /* SESGATE_AWS_SES_H */
