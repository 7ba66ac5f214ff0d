/*
 * ses_event.c - parse SES event records (event publishing through a
 * configuration set, and identity feedback notifications) and decide which
 * recipients a tenant must stop sending to.
 *
 * Pure: no I/O, no clock, no globals, no logging; any thread may call it.
 * The record is remote input even after the SNS signature checked out: it
 * must never make us keep unbounded data, crash on a wrong JSON type, or
 * attribute an event to a message or tenant on the strength of a tag we
 * did not write.  Identifiers and addresses are kept verbatim or not at
 * all (a cut or rewritten one would name something else); free text is
 * kept sanitised and cut at a UTF-8 boundary.
 */
#include "ses_event.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "aws/awsjson.h"

/* ------------------------------------------------------------------ */
/* Types                                                               */

/* Indexed by enum ses_event_type. */
static const struct {
	const char *ses;  /* eventType / notificationType spelling */
	const char *key;  /* detail object in the record */
	const char *name; /* ours */
} ev_types[] = {
    [SES_EV_SEND] = {"Send", "send", "send"},
    [SES_EV_DELIVERY] = {"Delivery", "delivery", "delivery"},
    [SES_EV_BOUNCE] = {"Bounce", "bounce", "bounce"},
    [SES_EV_COMPLAINT] = {"Complaint", "complaint", "complaint"},
    [SES_EV_REJECT] = {"Reject", "reject", "reject"},
    [SES_EV_OPEN] = {"Open", "open", "open"},
    [SES_EV_CLICK] = {"Click", "click", "click"},
    [SES_EV_RENDERING_FAILURE] = {"Rendering Failure", "failure", "rendering_failure"},
    [SES_EV_DELIVERY_DELAY] = {"DeliveryDelay", "deliveryDelay", "delivery_delay"},
    [SES_EV_SUBSCRIPTION] = {"Subscription", "subscription", "subscription"},
};

#define N_EV_TYPES (sizeof(ev_types) / sizeof(ev_types[0]))

const char *ses_event_type_name(enum ses_event_type t)
{
	if ((unsigned)t < N_EV_TYPES)
		return ev_types[t].name;
	return "unknown";
}

enum ses_event_type ses_event_type_parse(const char *s)
{
	if (!s)
		return SES_EV_UNKNOWN;
	for (size_t i = 0; i < N_EV_TYPES; i++)
		if (strcasecmp(s, ev_types[i].ses) == 0 || strcasecmp(s, ev_types[i].name) == 0)
			return (enum ses_event_type)i;
	/* The CloudWatch metric and some SDK enums drop the space. */
	if (strcasecmp(s, "RenderingFailure") == 0)
		return SES_EV_RENDERING_FAILURE;
	return SES_EV_UNKNOWN;
}

const char *ses_bounce_type_name(enum ses_bounce_type t)
{
	switch (t) {
	case SES_BOUNCE_PERMANENT:
		return "Permanent";
	case SES_BOUNCE_TRANSIENT:
		return "Transient";
	case SES_BOUNCE_UNDETERMINED:
		return "Undetermined";
	case SES_BOUNCE_NONE:
		break;
	}
	return "none";
}

/* ------------------------------------------------------------------ */
/* Bounded copies                                                      */

/* Parse state: the only failure below the top level is memory. */
struct ctx {
	int oom;
};

static char *dup_n(struct ctx *c, const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (!d) {
		c->oom = 1;
		return NULL;
	}
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* Free text: control characters become spaces, cut to @cap octets at a
 * UTF-8 boundary (jansson has already refused invalid UTF-8).  "" and
 * non-strings are absent. */
static char *dup_text(struct ctx *c, json_t *v, size_t cap)
{
	const char *s = json_string_value(v);
	size_t n;
	char *d;

	if (!s || !*s)
		return NULL;
	n = strlen(s);
	if (n > cap)
		n = cap;
	d = malloc(n + 1);
	if (!d) {
		c->oom = 1;
		return NULL;
	}
	aws_text_copy(d, n + 1, s);
	return d;
}

/* 1..cap characters of printable ASCII without spaces. */
static int id_ok(const char *s, size_t cap)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f || n >= cap)
			return 0;
	return n > 0;
}

/* Identifiers (ids, ARNs, timestamps, IP addresses): verbatim or absent. */
static char *dup_id(struct ctx *c, json_t *v, size_t cap)
{
	const char *s = json_string_value(v);

	return id_ok(s, cap) ? dup_n(c, s, strlen(s)) : NULL;
}

/*
 * An address we can act on: non-empty, at most SES_EV_ADDR_MAX octets, no
 * control characters, and an '@' with something on both sides (the last
 * one: a quoted local part may hold another).  UTF-8 (SMTPUTF8) is fine.
 */
static int addr_ok(const char *s)
{
	const char *at;
	size_t n;

	if (!s)
		return 0;
	n = strlen(s);
	if (n == 0 || n > SES_EV_ADDR_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return 0;
	at = strrchr(s, '@');
	return at && at != s && at[1] != '\0';
}

/* A token safe to put in a reason string: [A-Za-z0-9._-]{1,64}. */
static int word_ok(const char *s)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++) {
		unsigned char ch = (unsigned char)s[n];
		if (n >= SES_EV_WORD_MAX ||
		    !((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return n > 0;
}

/* ------------------------------------------------------------------ */
/* Recipient lists                                                     */

/*
 * Read a recipient list.  Entries may be strings (mail.destination,
 * delivery.recipients) or objects with emailAddress (bounced, complained,
 * delayed): both forms are taken everywhere, since the type of an entry
 * says nothing about whom it names.  A lone object instead of an array is
 * one entry (the DeliveryDelay table in the SES guide calls the list "an
 * object").  Anything that is neither an array nor an object: no entries.
 */
static void rcpts_read(struct ctx *c, struct ses_event_rcpts *r, json_t *list)
{
	size_t total, i;
	json_t *one[1];
	json_t **items = NULL;

	if (json_is_array(list)) {
		total = json_array_size(list);
	} else if (json_is_object(list)) {
		one[0] = list;
		items = one;
		total = 1;
	} else {
		return;
	}
	if (total == 0)
		return;
	r->v = calloc(total < SES_EV_RCPT_MAX ? total : SES_EV_RCPT_MAX, sizeof(*r->v));
	if (!r->v) {
		c->oom = 1;
		return;
	}
	for (i = 0; i < total && !c->oom; i++) {
		json_t *e = items ? items[i] : json_array_get(list, i);
		json_t *obj = json_is_object(e) ? e : NULL;
		const char *addr = obj ? json_string_value(json_object_get(obj, "emailAddress"))
		                       : json_string_value(e);
		struct ses_event_rcpt *x;

		if (!addr_ok(addr)) {
			r->n_bad++;
			continue;
		}
		if (r->n == SES_EV_RCPT_MAX) {
			r->n_over++;
			continue;
		}
		x = &r->v[r->n];
		x->address = dup_n(c, addr, strlen(addr));
		if (!x->address)
			break;
		r->n++;
		if (obj) {
			x->status = dup_text(c, json_object_get(obj, "status"), SES_EV_WORD_MAX);
			x->action = dup_text(c, json_object_get(obj, "action"), SES_EV_WORD_MAX);
			x->diagnostic =
			    dup_text(c, json_object_get(obj, "diagnosticCode"), SES_EV_TEXT_MAX);
		}
	}
}

static void rcpts_free(struct ses_event_rcpts *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].address);
		free(r->v[i].status);
		free(r->v[i].action);
		free(r->v[i].diagnostic);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------------ */
/* mail                                                                */

/* Crockford base32 as util_queue_id() writes it: upper case, no I L O U. */
static int qid_ok(const char *s)
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

	if (strlen(s) != QUEUE_ID_LEN)
		return 0;
	for (size_t i = 0; i < QUEUE_ID_LEN; i++)
		if (!strchr(alphabet, s[i]))
			return 0;
	return 1;
}

static int tid_ok(const char *s)
{
	return key_valid_tenant_id(s);
}

/*
 * One of our EmailTags from mail.tags (name -> array of values).  We write
 * exactly one value; several are accepted only when they agree, since a
 * record naming two messages or tenants cannot be attributed to either.
 * Any value failing @valid makes the tag absent.
 */
static void tag_read(json_t *tags, const char *name, int (*valid)(const char *), char *dst,
                     size_t cap)
{
	json_t *a = json_object_get(tags, name), *v;
	const char *first = NULL;
	size_t i;

	dst[0] = '\0';
	if (!json_is_array(a) || json_array_size(a) == 0)
		return;
	json_array_foreach(a, i, v)
	{
		const char *s = json_string_value(v);
		if (!s || !valid(s) || (first && strcmp(first, s) != 0))
			return;
		first = s;
	}
	if (strlen(first) < cap)
		memcpy(dst, first, strlen(first) + 1);
}

static void account_read(json_t *v, char out[13])
{
	const char *s = json_string_value(v);

	out[0] = '\0';
	if (!s || strlen(s) != 12)
		return;
	for (size_t i = 0; i < 12; i++)
		if (s[i] < '0' || s[i] > '9')
			return;
	memcpy(out, s, 13);
}

static void mail_read(struct ctx *c, struct ses_event *e, json_t *mail)
{
	json_t *tags = json_object_get(mail, "tags");

	e->timestamp = dup_id(c, json_object_get(mail, "timestamp"), SES_EV_ID_MAX);
	e->source = dup_text(c, json_object_get(mail, "source"), SES_EV_TEXT_MAX);
	e->source_arn = dup_id(c, json_object_get(mail, "sourceArn"), SES_EV_ID_MAX);
	account_read(json_object_get(mail, "sendingAccountId"), e->account_id);
	tag_read(tags, "sesgate-qid", qid_ok, e->qid, sizeof(e->qid));
	tag_read(tags, "sesgate-tenant", tid_ok, e->tenant_id, sizeof(e->tenant_id));
	rcpts_read(c, &e->destination, json_object_get(mail, "destination"));
}

/* ------------------------------------------------------------------ */
/* Details                                                             */

static enum ses_bounce_type bounce_type(const char *s)
{
	if (!s)
		return SES_BOUNCE_NONE;
	if (strcasecmp(s, "Permanent") == 0)
		return SES_BOUNCE_PERMANENT;
	if (strcasecmp(s, "Transient") == 0)
		return SES_BOUNCE_TRANSIENT;
	if (strcasecmp(s, "Undetermined") == 0)
		return SES_BOUNCE_UNDETERMINED;
	return SES_BOUNCE_NONE;
}

/* "@kind" or, with a usable @detail, "@kind@sep@detail". */
static char *reason_make(struct ctx *c, const char *kind, const char *sep, const char *detail)
{
	char buf[32 + SES_EV_WORD_MAX];
	int n;

	if (word_ok(detail))
		n = snprintf(buf, sizeof(buf), "%s%s%s", kind, sep, detail);
	else
		n = snprintf(buf, sizeof(buf), "%s", kind);
	return dup_n(c, buf, (size_t)n);
}

static void bounce_read(struct ctx *c, struct ses_event *e, json_t *d)
{
	json_t *type = json_object_get(d, "bounceType");

	e->bounce.type = bounce_type(json_string_value(type));
	e->bounce.type_text = dup_text(c, type, SES_EV_WORD_MAX);
	e->bounce.subtype = dup_text(c, json_object_get(d, "bounceSubType"), SES_EV_WORD_MAX);
	e->bounce.feedback_id = dup_id(c, json_object_get(d, "feedbackId"), SES_EV_ID_MAX);
	e->bounce.reporting_mta = dup_text(c, json_object_get(d, "reportingMTA"), SES_EV_ID_MAX);
	e->bounce.remote_mta_ip = dup_id(c, json_object_get(d, "remoteMtaIp"), SES_EV_WORD_MAX);
	rcpts_read(c, &e->bounce.rcpts, json_object_get(d, "bouncedRecipients"));
	if (e->bounce.type == SES_BOUNCE_PERMANENT)
		e->suppress_reason =
		    reason_make(c, "bounce:Permanent", "/",
		                json_string_value(json_object_get(d, "bounceSubType")));
}

static void complaint_read(struct ctx *c, struct ses_event *e, json_t *d)
{
	const char *fb = json_string_value(json_object_get(d, "complaintFeedbackType"));

	e->complaint.feedback_type =
	    dup_text(c, json_object_get(d, "complaintFeedbackType"), SES_EV_WORD_MAX);
	e->complaint.subtype = dup_text(c, json_object_get(d, "complaintSubType"), SES_EV_WORD_MAX);
	e->complaint.feedback_id = dup_id(c, json_object_get(d, "feedbackId"), SES_EV_ID_MAX);
	e->complaint.user_agent = dup_text(c, json_object_get(d, "userAgent"), SES_EV_TEXT_MAX);
	e->complaint.arrival_date = dup_id(c, json_object_get(d, "arrivalDate"), SES_EV_ID_MAX);
	rcpts_read(c, &e->complaint.rcpts, json_object_get(d, "complainedRecipients"));
	/* RFC 5965 "not-spam" withdraws a complaint: the reader wanted it. */
	if (!fb || strcasecmp(fb, "not-spam") != 0)
		e->suppress_reason = reason_make(c, "complaint", ":", fb);
}

static void delivery_read(struct ctx *c, struct ses_event *e, json_t *d)
{
	json_t *ms = json_object_get(d, "processingTimeMillis");

	e->delivery.smtp_response =
	    dup_text(c, json_object_get(d, "smtpResponse"), SES_EV_TEXT_MAX);
	e->delivery.processing_ms =
	    json_is_integer(ms) && json_integer_value(ms) >= 0 ? json_integer_value(ms) : -1;
	e->delivery.reporting_mta = dup_text(c, json_object_get(d, "reportingMTA"), SES_EV_ID_MAX);
	e->delivery.remote_mta_ip = dup_id(c, json_object_get(d, "remoteMtaIp"), SES_EV_WORD_MAX);
	rcpts_read(c, &e->delivery.rcpts, json_object_get(d, "recipients"));
}

static void delay_read(struct ctx *c, struct ses_event *e, json_t *d)
{
	e->delay.delay_type = dup_text(c, json_object_get(d, "delayType"), SES_EV_WORD_MAX);
	e->delay.expiration_time = dup_id(c, json_object_get(d, "expirationTime"), SES_EV_ID_MAX);
	e->delay.reporting_mta = dup_text(c, json_object_get(d, "reportingMTA"), SES_EV_ID_MAX);
	rcpts_read(c, &e->delay.rcpts, json_object_get(d, "delayedRecipients"));
}

/* Compact JSON of a topic-preferences object, or NULL when it is not an
 * object or would exceed SES_EV_JSON_MAX (cut JSON would not parse). */
static char *prefs_json(struct ctx *c, json_t *v)
{
	char *buf;
	size_t n;

	if (!json_is_object(v))
		return NULL;
	buf = malloc(SES_EV_JSON_MAX + 1);
	if (!buf) {
		c->oom = 1;
		return NULL;
	}
	n = json_dumpb(v, buf, SES_EV_JSON_MAX, JSON_COMPACT | JSON_SORT_KEYS);
	if (n == 0 || n > SES_EV_JSON_MAX) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static void subscription_read(struct ctx *c, struct ses_event *e, json_t *d)
{
	json_t *np = json_object_get(d, "newTopicPreferences");
	json_t *ua = json_object_get(np, "unsubscribeAll");

	e->subscription.contact_list =
	    dup_text(c, json_object_get(d, "contactList"), SES_EV_ID_MAX);
	e->subscription.source = dup_text(c, json_object_get(d, "source"), SES_EV_WORD_MAX);
	e->subscription.unsubscribe_all = json_is_boolean(ua) ? json_is_true(ua) : -1;
	e->subscription.new_prefs = prefs_json(c, np);
	e->subscription.old_prefs = prefs_json(c, json_object_get(d, "oldTopicPreferences"));
}

static void details_read(struct ctx *c, struct ses_event *e, json_t *d)
{
	if (!json_is_object(d))
		return;
	e->event_time = dup_id(c, json_object_get(d, "timestamp"), SES_EV_ID_MAX);
	switch (e->type) {
	case SES_EV_BOUNCE:
		bounce_read(c, e, d);
		break;
	case SES_EV_COMPLAINT:
		complaint_read(c, e, d);
		break;
	case SES_EV_DELIVERY:
		delivery_read(c, e, d);
		break;
	case SES_EV_REJECT:
		e->reject.reason = dup_text(c, json_object_get(d, "reason"), SES_EV_TEXT_MAX);
		break;
	case SES_EV_OPEN:
		e->open.ip_address = dup_id(c, json_object_get(d, "ipAddress"), SES_EV_WORD_MAX);
		e->open.user_agent = dup_text(c, json_object_get(d, "userAgent"), SES_EV_TEXT_MAX);
		break;
	case SES_EV_CLICK:
		e->click.link = dup_text(c, json_object_get(d, "link"), SES_EV_URL_MAX);
		e->click.ip_address = dup_id(c, json_object_get(d, "ipAddress"), SES_EV_WORD_MAX);
		e->click.user_agent = dup_text(c, json_object_get(d, "userAgent"), SES_EV_TEXT_MAX);
		break;
	case SES_EV_RENDERING_FAILURE:
		e->failure.error_message =
		    dup_text(c, json_object_get(d, "errorMessage"), SES_EV_TEXT_MAX);
		e->failure.template_name =
		    dup_text(c, json_object_get(d, "templateName"), SES_EV_ID_MAX);
		break;
	case SES_EV_DELIVERY_DELAY:
		delay_read(c, e, d);
		break;
	case SES_EV_SUBSCRIPTION:
		subscription_read(c, e, d);
		break;
	case SES_EV_SEND: /* always {} */
	case SES_EV_UNKNOWN:
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errcap, const char *fmt,
                                                          ...)
{
	char tmp[256];
	va_list ap;

	if (!err || errcap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	/* jansson quotes the offending input in its text: sanitise. */
	aws_text_copy(err, errcap, tmp);
}

/* The first of eventType / notificationType that is a non-empty string. */
static const char *type_field(json_t *root, int *notification)
{
	const char *s = json_string_value(json_object_get(root, "eventType"));

	*notification = 0;
	if (s && *s)
		return s;
	s = json_string_value(json_object_get(root, "notificationType"));
	if (s && *s) {
		*notification = 1;
		return s;
	}
	return NULL;
}

int ses_event_parse(const char *json, size_t len, struct ses_event *out, char *err, size_t errcap)
{
	struct ctx c = {0};
	json_error_t jerr;
	json_t *root, *mail;
	const char *type;
	int notification;

	if (err && errcap)
		err[0] = '\0';
	if (!out)
		return -1;
	memset(out, 0, sizeof(*out));
	out->delivery.processing_ms = -1;
	out->subscription.unsubscribe_all = -1;
	if (!json) {
		set_err(err, errcap, "no record");
		return -1;
	}
	root = json_loadb(json, len, 0, &jerr);
	if (!root) {
		set_err(err, errcap, "not JSON: %s at offset %d", jerr.text, jerr.position);
		return -1;
	}
	if (!json_is_object(root)) {
		set_err(err, errcap, "not a JSON object");
		goto fail;
	}
	type = type_field(root, &notification);
	if (!type) {
		set_err(err, errcap, "no eventType or notificationType");
		goto fail;
	}
	mail = json_object_get(root, "mail");
	if (!id_ok(json_string_value(json_object_get(mail, "messageId")), SES_EV_ID_MAX)) {
		set_err(err, errcap, "mail.messageId missing or invalid");
		goto fail;
	}

	out->type = ses_event_type_parse(type);
	out->notification = notification;
	out->type_text =
	    dup_text(&c, json_object_get(root, notification ? "notificationType" : "eventType"),
	             SES_EV_WORD_MAX);
	out->message_id = dup_id(&c, json_object_get(mail, "messageId"), SES_EV_ID_MAX);
	mail_read(&c, out, mail);
	if (out->type != SES_EV_UNKNOWN)
		details_read(&c, out, json_object_get(root, ev_types[out->type].key));
	if (c.oom) {
		set_err(err, errcap, "out of memory");
		goto fail;
	}
	json_decref(root);
	return 0;

fail:
	json_decref(root);
	ses_event_free(out);
	return -1;
}

void ses_event_free(struct ses_event *e)
{
	if (!e)
		return;
	free(e->type_text);
	free(e->message_id);
	free(e->timestamp);
	free(e->source);
	free(e->source_arn);
	rcpts_free(&e->destination);
	free(e->event_time);

	free(e->bounce.type_text);
	free(e->bounce.subtype);
	free(e->bounce.feedback_id);
	free(e->bounce.reporting_mta);
	free(e->bounce.remote_mta_ip);
	rcpts_free(&e->bounce.rcpts);

	free(e->complaint.feedback_type);
	free(e->complaint.subtype);
	free(e->complaint.feedback_id);
	free(e->complaint.user_agent);
	free(e->complaint.arrival_date);
	rcpts_free(&e->complaint.rcpts);

	free(e->delivery.smtp_response);
	free(e->delivery.reporting_mta);
	free(e->delivery.remote_mta_ip);
	rcpts_free(&e->delivery.rcpts);

	free(e->reject.reason);
	free(e->open.ip_address);
	free(e->open.user_agent);
	free(e->click.link);
	free(e->click.ip_address);
	free(e->click.user_agent);
	free(e->failure.error_message);
	free(e->failure.template_name);

	free(e->delay.delay_type);
	free(e->delay.expiration_time);
	free(e->delay.reporting_mta);
	rcpts_free(&e->delay.rcpts);

	free(e->subscription.contact_list);
	free(e->subscription.source);
	free(e->subscription.new_prefs);
	free(e->subscription.old_prefs);

	free(e->suppress_reason);
	memset(e, 0, sizeof(*e));
}

static const struct ses_event_rcpts *affected(const struct ses_event *e)
{
	switch (e->type) {
	case SES_EV_BOUNCE:
		return &e->bounce.rcpts;
	case SES_EV_COMPLAINT:
		return &e->complaint.rcpts;
	case SES_EV_DELIVERY:
		return &e->delivery.rcpts;
	case SES_EV_DELIVERY_DELAY:
		return &e->delay.rcpts;
	default:
		return &e->destination;
	}
}

size_t ses_event_nrecipients(const struct ses_event *e)
{
	return e ? affected(e)->n : 0;
}

const char *ses_event_recipient(const struct ses_event *e, size_t i)
{
	const struct ses_event_rcpts *r;

	if (!e)
		return NULL;
	r = affected(e);
	return i < r->n ? r->v[i].address : NULL;
}

int ses_event_suppresses(const struct ses_event *e, size_t i, const char **reason)
{
	int yes;

	if (reason)
		*reason = NULL;
	if (!e || i >= ses_event_nrecipients(e) || !e->suppress_reason)
		return 0;
	yes = (e->type == SES_EV_BOUNCE && e->bounce.type == SES_BOUNCE_PERMANENT) ||
	      e->type == SES_EV_COMPLAINT;
	if (yes && reason)
		*reason = e->suppress_reason;
	return yes;
}
