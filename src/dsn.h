/*
 * dsn.h - delivery status notifications (RFC 3464) in a multipart/report
 * (RFC 6522) for mail SES refused for good.
 *
 * Pure functions: no I/O, no clock (both times are passed in), no
 * globals, no logging.  The caller sends the result with a null reverse
 * path (MAIL FROM:<>) and never builds one for a message whose own sender
 * was null: that is what keeps bounces from looping.
 */
#ifndef SESGATE_DSN_H
#define SESGATE_DSN_H

#include <stddef.h>
#include <time.h>

#define DSN_DIAG_MAX    600		/* octets of diagnostic text kept */
#define DSN_ADDR_MAX    254		/* octets of an address kept */
#define DSN_HEADERS_MAX (128 * 1024)	/* octets of the original's header kept */

/* One failed recipient. */
struct dsn_rcpt {
	const char *addr;	/* envelope recipient, may be UTF-8 */
	const char *status;	/* "5.x.y"; NULL or malformed = "5.0.0" */
	/* Remote text, e.g. "smtp; 554 MessageRejected: Email address is not
	 * verified".  Without a leading "type;" it is prefixed "smtp; ".  Any
	 * bytes: control characters become spaces, non-ASCII '?', cut at
	 * DSN_DIAG_MAX.  NULL = no Diagnostic-Code. */
	const char *diag;
};

struct dsn_input {
	const char *reporting_mta;	/* our host name: Reporting-MTA, text */
	const char *from;		/* e.g. "MAILER-DAEMON@host" */
	const char *to;			/* the original envelope sender; not "" */
	const char *qid;		/* original queue id */
	const char *msgid_domain;	/* right side of Message-ID; NULL = reporting_mta */
	time_t arrival;			/* when we accepted the original */
	time_t now;			/* Date: and Last-Attempt-Date */
	const struct dsn_rcpt *rcpts;
	size_t nrcpt;			/* at least 1 */
	const void *orig;		/* the original message; NULL = none */
	size_t orig_len;
};

/*
 * Build the DSN: header (From, To, Subject "Undelivered Mail Returned to
 * Sender", Date, Message-ID, MIME-Version, Auto-Submitted: auto-replied,
 * Content-Type multipart/report; report-type=delivery-status), a text/plain
 * explanation, the message/delivery-status part (Reporting-MTA,
 * X-Sesgate-Queue-ID, Arrival-Date; per recipient Final-Recipient, Action:
 * failed, Status, Last-Attempt-Date, Diagnostic-Code) and the original's header
 * as text/rfc822-headers (never its body: it may be large and we do not
 * want to reflect content back).  CRLF line ends, no line above 998 octets,
 * and a boundary that occurs in none of the parts.
 *
 * Everything is 7bit except one case: when the DSN's recipient (@to)
 * itself is non-ASCII, its To: header carries UTF-8 as RFC 6532 allows;
 * such a DSN can only travel over SMTPUTF8 anyway.  Non-ASCII recipient
 * addresses use the RFC 6533 "utf-8" address type in its 7-bit xtext form
 * (\x{HEX}) rather than a message/global-delivery-status part, so that
 * readers that only know RFC 3464 still parse it; the human-readable part
 * and the original header switch to quoted-printable (charset=utf-8 when
 * the octets are UTF-8) when they hold 8-bit octets, a lone CR or lines
 * over 998 octets.
 *
 * Returns a heap string (caller frees) of *@len octets plus a NUL, or NULL
 * on missing input (no recipient, no @to/@from/@reporting_mta/@qid) or out
 * of memory.
 */
char *dsn_build(const struct dsn_input *in, size_t *len);

/*
 * RFC 3463 status for the SES error code that failed a recipient:
 * 5.7.1 for rejections and refusals to send (MessageRejected, unverified
 * identities, AccessDenied*, suspended or paused sending), 5.3.5 for
 * configuration problems (NotFoundException), 5.4.7 for a delivery that
 * timed out while SES kept answering with temporary errors (throttling,
 * quota, expired tokens, 5xx), 5.0.0 otherwise.  Never NULL.
 */
const char *dsn_status_for(const char *ses_code);

#endif /* SESGATE_DSN_H */
