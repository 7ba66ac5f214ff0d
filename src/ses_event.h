/*
 * ses_event.h - SES event records (the JSON carried in the "Message" of an
 * SNS Notification) parsed into one owned structure, and the decision
 * which recipients belong on a tenant's suppression list.
 *
 * Pure: no I/O, no clock, no globals, no logging; any thread may call it.
 * Everything here comes from outside (SNS verifies who sent it, not what
 * it says), so every string is bounded, every list is capped, wrong JSON
 * types read as absent, and our own EmailTags are trusted only when they
 * have exactly the shape we write (aws/ses.c).
 */
#ifndef SESGATE_SES_EVENT_H
#define SESGATE_SES_EVENT_H

#include <stddef.h>

#include "keys.h"
#include "util.h"

/* Caps on what one record may make us keep. */
#define SES_EV_RCPT_MAX 100  /* entries kept per recipient list; the rest counted */
#define SES_EV_ADDR_MAX 320  /* octets of an address (64 local + @ + 255 domain) */
#define SES_EV_ID_MAX   256  /* message id, ARN, timestamps and other identifiers */
#define SES_EV_WORD_MAX 64   /* enumerations: bounce type, DSN action, delay type... */
#define SES_EV_TEXT_MAX 1024 /* diagnostics, SMTP responses, user agents, messages */
#define SES_EV_URL_MAX  2048 /* a clicked link */
#define SES_EV_JSON_MAX 4096 /* a subscription's topic preferences, compact JSON */

enum ses_event_type {
	SES_EV_SEND,
	SES_EV_DELIVERY,
	SES_EV_BOUNCE,
	SES_EV_COMPLAINT,
	SES_EV_REJECT,
	SES_EV_OPEN,
	SES_EV_CLICK,
	SES_EV_RENDERING_FAILURE,
	SES_EV_DELIVERY_DELAY,
	SES_EV_SUBSCRIPTION,
	SES_EV_UNKNOWN,
};

/*
 * Short lower-case name for logs, metrics and Redis ("send", "delivery",
 * "bounce", "complaint", "reject", "open", "click", "rendering_failure",
 * "delivery_delay", "subscription", "unknown").  Never NULL.
 */
const char *ses_event_type_name(enum ses_event_type t);

/*
 * The type named by @s: SES's spelling ("Bounce", "Rendering Failure",
 * "DeliveryDelay"; "RenderingFailure" too) or ours (ses_event_type_name),
 * ignoring ASCII case.  SES_EV_UNKNOWN for anything else or NULL.
 */
enum ses_event_type ses_event_type_parse(const char *s);

enum ses_bounce_type {
	SES_BOUNCE_NONE, /* bounceType absent or not one of the three below */
	SES_BOUNCE_PERMANENT,
	SES_BOUNCE_TRANSIENT,
	SES_BOUNCE_UNDETERMINED,
};

/* "Permanent", "Transient", "Undetermined" (SES's spelling), or "none". */
const char *ses_bounce_type_name(enum ses_bounce_type t);

/*
 * One recipient.  @address is SES's text as is (UTF-8, no control
 * characters, contains '@', at most SES_EV_ADDR_MAX octets): an address
 * that breaks those rules is not stored at all, because a rewritten or
 * truncated address would suppress or report someone else.  The caller
 * normalises it (case of the domain, display names) for its own lookups.
 * The other fields are NULL when absent; they are control-character free
 * and cut at a UTF-8 boundary.
 */
struct ses_event_rcpt {
	char *address;
	char *status;     /* DSN Status ("5.1.1"), bounces and delays */
	char *action;     /* DSN Action ("failed"), bounces */
	char *diagnostic; /* DSN Diagnostic-Code, bounces and delays */
};

struct ses_event_rcpts {
	struct ses_event_rcpt *v;
	size_t n;      /* stored in v[], at most SES_EV_RCPT_MAX */
	size_t n_over; /* valid entries beyond the cap: counted, not kept */
	size_t n_bad;  /* entries skipped: wrong type or unusable address */
};

/*
 * A parsed record.  Every pointer is NULL when the field was absent, of the
 * wrong JSON type or unusable, and is owned by the structure: release it
 * all with ses_event_free().  Only the detail block of @type is filled.
 */
struct ses_event {
	enum ses_event_type type;
	char *type_text;  /* eventType/notificationType as sent (for logging unknowns) */
	int notification; /* 1: spelled notificationType (identity feedback, no tags) */

	/* mail */
	char *message_id; /* SES message id: never NULL after a successful parse */
	char *timestamp;  /* when SES accepted the message (ISO 8601, as sent) */
	char *source;     /* envelope sender as SES reports it */
	char *source_arn;
	char account_id[13];        /* sendingAccountId, 12 digits; "" when absent or invalid */
	char qid[QUEUE_ID_LEN + 1]; /* tag sesgate-qid; "" when absent or invalid */
	char tenant_id[TENANT_ID_LEN + 1]; /* tag sesgate-tenant; "" when absent or invalid */
	struct ses_event_rcpts destination;

	char *event_time; /* the detail object's timestamp (bounce, delivery, open...) */

	struct {
		enum ses_bounce_type type;
		char *type_text; /* bounceType as sent */
		char *subtype;   /* bounceSubType ("General", "NoEmail"...) */
		char *feedback_id;
		char *reporting_mta;
		char *remote_mta_ip; /* identity notifications only */
		struct ses_event_rcpts rcpts;
	} bounce;
	struct {
		char *feedback_type; /* complaintFeedbackType ("abuse", "not-spam"...) */
		char *subtype;       /* complaintSubType ("OnAccountSuppressionList") */
		char *feedback_id;
		char *user_agent;
		char *arrival_date;
		struct ses_event_rcpts rcpts;
	} complaint;
	struct {
		char *smtp_response;
		long long processing_ms; /* processingTimeMillis; -1 when absent */
		char *reporting_mta;
		char *remote_mta_ip;
		struct ses_event_rcpts rcpts;
	} delivery;
	struct {
		char *reason; /* "Bad content" */
	} reject;
	struct {
		char *ip_address;
		char *user_agent;
	} open;
	struct {
		char *link;
		char *ip_address;
		char *user_agent;
	} click;
	struct {
		char *error_message;
		char *template_name;
	} failure; /* Rendering Failure */
	struct {
		char *delay_type; /* "TransientCommunicationFailure", "MailboxFull"... */
		char *expiration_time;
		char *reporting_mta;
		struct ses_event_rcpts rcpts;
	} delay;
	struct {
		char *contact_list;
		char *source;        /* "UnsubscribeHeader"... */
		int unsubscribe_all; /* newTopicPreferences.unsubscribeAll: 1, 0, -1 absent */
		char *new_prefs;     /* newTopicPreferences as compact JSON (keys sorted) */
		char *old_prefs;     /* oldTopicPreferences likewise */
	} subscription;

	char *suppress_reason; /* see ses_event_suppresses(); NULL: none */
};

/*
 * Parse one record of @len octets (need not be NUL-terminated).  @out need
 * not be initialised; it is overwritten, so free a previous parse first.
 *
 * Returns 0 and fills @out; an eventType/notificationType we do not know is
 * SES_EV_UNKNOWN with the common fields read.  Returns -1 when @json is not
 * one JSON object, when neither eventType nor notificationType is a
 * non-empty string, when mail.messageId is missing or not 1..SES_EV_ID_MAX
 * printable ASCII characters, or when memory ran out; then @out is zeroed
 * (safe to free) and @err (may be NULL with cap 0) says why.  @err is ""
 * on success.
 *
 * A missing or malformed detail object is not an error: the record parses
 * with empty details, so a bounce without a usable bouncedRecipients list
 * affects nobody rather than everyone in mail.destination.
 */
int ses_event_parse(const char *json, size_t len, struct ses_event *out, char *err, size_t errcap);

/* Release what @e owns and zero it.  NULL and a zeroed @e are fine. */
void ses_event_free(struct ses_event *e);

/*
 * The recipients an event is about: bouncedRecipients, complainedRecipients,
 * delivery.recipients and delayedRecipients for those four types; for every
 * other type (send, reject, open, click, rendering failure, subscription,
 * unknown) mail.destination, because SES names no single recipient there
 * (an open or click of a message with several recipients cannot be pinned
 * on one of them).  Only stored entries count: at most SES_EV_RCPT_MAX.
 * ses_event_recipient() returns NULL when @i is out of range; the string
 * belongs to @e.
 */
size_t ses_event_nrecipients(const struct ses_event *e);
const char *ses_event_recipient(const struct ses_event *e, size_t i);

/*
 * 1 when recipient @i (as ses_event_recipient) must go on the tenant's
 * suppression list, with *@reason (may be NULL; owned by @e) set to
 * "bounce:Permanent/<subtype>" ("bounce:Permanent" without a usable
 * subtype) or "complaint:<feedback type>" ("complaint" without one).
 * Otherwise 0 and *@reason NULL.
 *
 * Permanent bounces suppress, whatever the subtype: SES itself will not
 * deliver to Suppressed / OnAccountSuppressionList addresses either.
 * Transient and Undetermined bounces do not.  Complaints suppress every
 * complained recipient (most ISPs redact the complainant, and SES then
 * lists all recipients on that domain), except feedback type "not-spam",
 * which is a report that the message was wanted.  Nothing else suppresses.
 */
int ses_event_suppresses(const struct ses_event *e, size_t i, const char **reason);

#endif /* SESGATE_SES_EVENT_H */
