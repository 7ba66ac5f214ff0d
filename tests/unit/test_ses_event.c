/*
 * Unit tests of src/ses_event.c: SES event records of every type in the
 * shapes the SES developer guide documents (event publishing, eventType)
 * and the older identity feedback notifications (notificationType), our
 * EmailTags present, absent and forged, capped recipient lists, wrong JSON
 * types in every field we read, missing fields, UTF-8 addresses, and the
 * suppression decision for each bounce and complaint kind.
 *
 * The samples are written for these tests.  To keep them readable they use
 * ' for ", and J() turns them into JSON; a real apostrophe is \\u0027.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ses_event.h"

#define QID   "0KHZ9Q3M4N5P6R7S"
#define TID   "t4c1d0a9e7f2b8c35"
#define SESID "0102018c5e2b7d41-9a3f6c10-2d7e-4b58-8c91-5e0f7a6b3d22-000000"
#define ARN   "arn:aws:ses:eu-west-1:210987654321:identity/mail.acme.test"

/* A copy of @s with every ' turned into ". */
static char *J(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

/* Parse the '-quoted record @s; must succeed. */
static void ok(const char *s, struct ses_event *e)
{
	char err[128] = "x";
	char *j = J(s);
	int rc = ses_event_parse(j, strlen(j), e, err, sizeof(err));

	if (rc != 0)
		fail_msg("parse failed: %s\n%s", err, j);
	assert_string_equal(err, "");
	free(j);
}

/* Parse the '-quoted record @s; must fail, leaving @e zeroed. */
static void bad(const char *s)
{
	struct ses_event e;
	char err[128] = "";
	char *j = J(s);

	memset(&e, 0x5a, sizeof(e));
	if (ses_event_parse(j, strlen(j), &e, err, sizeof(err)) != -1)
		fail_msg("parsed: %s", j);
	assert_true(err[0] != '\0');
	assert_null(e.message_id);
	assert_int_equal(e.destination.n, 0);
	assert_null(e.suppress_reason);
	ses_event_free(&e);
	free(j);
}

/* The mail object of our samples, sent through configuration set "sesgate-acme"
 * with both of our tags; @dest is the inside of the destination array. */
#define MAIL_TAGGED(dest)                                                                          \
	"'mail':{'timestamp':'2026-11-28T09:14:03.512Z',"                                          \
	"'source':'bounces+x@mail.acme.test','sourceArn':'" ARN "',"                               \
	"'sendingAccountId':'210987654321','messageId':'" SESID "',"                               \
	"'destination':[" dest "],'headersTruncated':false,"                                       \
	"'headers':[{'name':'From','value':'Acme Billing <billing@acme.test>'},"                   \
	"{'name':'Subject','value':'Invoice 2026-118'}],"                                          \
	"'commonHeaders':{'from':['Acme Billing <billing@acme.test>'],'subject':'Invoice'},"       \
	"'tags':{'ses:configuration-set':['sesgate-acme'],'ses:from-domain':['acme.test'],"        \
	"'ses:caller-identity':['sesgate'],'sesgate-qid':['" QID "'],"                             \
	"'sesgate-tenant':['" TID "']}}"

/* An identity feedback notification's mail object: no tags. */
#define MAIL_PLAIN(dest)                                                                           \
	"'mail':{'timestamp':'2026-11-28T09:14:03.512Z','source':'bounces@mail.acme.test',"        \
	"'sourceArn':'" ARN "','sendingAccountId':'210987654321','messageId':'" SESID "',"         \
	"'destination':[" dest "]}"

static void assert_common(const struct ses_event *e)
{
	assert_string_equal(e->message_id, SESID);
	assert_string_equal(e->timestamp, "2026-11-28T09:14:03.512Z");
	assert_string_equal(e->source_arn, ARN);
	assert_string_equal(e->account_id, "210987654321");
}

/* ---- names ---- */

static void test_type_names(void **state)
{
	(void)state;
	static const struct {
		const char *ses, *ours;
		enum ses_event_type t;
	} m[] = {
	    {"Send", "send", SES_EV_SEND},
	    {"Delivery", "delivery", SES_EV_DELIVERY},
	    {"Bounce", "bounce", SES_EV_BOUNCE},
	    {"Complaint", "complaint", SES_EV_COMPLAINT},
	    {"Reject", "reject", SES_EV_REJECT},
	    {"Open", "open", SES_EV_OPEN},
	    {"Click", "click", SES_EV_CLICK},
	    {"Rendering Failure", "rendering_failure", SES_EV_RENDERING_FAILURE},
	    {"DeliveryDelay", "delivery_delay", SES_EV_DELIVERY_DELAY},
	    {"Subscription", "subscription", SES_EV_SUBSCRIPTION},
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		assert_int_equal(ses_event_type_parse(m[i].ses), m[i].t);
		assert_int_equal(ses_event_type_parse(m[i].ours), m[i].t);
		assert_string_equal(ses_event_type_name(m[i].t), m[i].ours);
		assert_int_equal(ses_event_type_parse(ses_event_type_name(m[i].t)), m[i].t);
	}
	assert_int_equal(ses_event_type_parse("BOUNCE"), SES_EV_BOUNCE);
	assert_int_equal(ses_event_type_parse("rendering failure"), SES_EV_RENDERING_FAILURE);
	assert_int_equal(ses_event_type_parse("RenderingFailure"), SES_EV_RENDERING_FAILURE);
	assert_int_equal(ses_event_type_parse("Delivery Delay"), SES_EV_UNKNOWN);
	assert_int_equal(ses_event_type_parse("Bounce "), SES_EV_UNKNOWN);
	assert_int_equal(ses_event_type_parse("AmazonSnsSubscriptionSucceeded"), SES_EV_UNKNOWN);
	assert_int_equal(ses_event_type_parse(""), SES_EV_UNKNOWN);
	assert_int_equal(ses_event_type_parse(NULL), SES_EV_UNKNOWN);
	assert_string_equal(ses_event_type_name(SES_EV_UNKNOWN), "unknown");
	assert_string_equal(ses_event_type_name((enum ses_event_type)99), "unknown");

	assert_string_equal(ses_bounce_type_name(SES_BOUNCE_PERMANENT), "Permanent");
	assert_string_equal(ses_bounce_type_name(SES_BOUNCE_TRANSIENT), "Transient");
	assert_string_equal(ses_bounce_type_name(SES_BOUNCE_UNDETERMINED), "Undetermined");
	assert_string_equal(ses_bounce_type_name(SES_BOUNCE_NONE), "none");
}

/* ---- one record of each type ---- */

static void test_bounce(void **state)
{
	(void)state;
	struct ses_event e;
	const char *why = "x";

	ok("{'eventType':'Bounce','bounce':{'bounceType':'Permanent','bounceSubType':'NoEmail',"
	   "'bouncedRecipients':[{'emailAddress':'gone@example.net','action':'failed',"
	   "'status':'5.1.1','diagnosticCode':'smtp; 550 5.1.1 <gone@example.net>: no such user'},"
	   "{'emailAddress':'old@example.org'}],"
	   "'timestamp':'2026-11-28T09:14:05.001Z','feedbackId':'0102018c5e2b8a11-feedback-000000',"
	   "'reportingMTA':'dsn; a7-12.smtp-out.eu-west-1.amazonses.com'}," MAIL_TAGGED(
	       "'gone@example.net','old@example.org','fine@example.com'") "}",
	   &e);
	assert_int_equal(e.type, SES_EV_BOUNCE);
	assert_string_equal(e.type_text, "Bounce");
	assert_int_equal(e.notification, 0);
	assert_common(&e);
	assert_string_equal(e.source, "bounces+x@mail.acme.test");
	assert_string_equal(e.qid, QID);
	assert_string_equal(e.tenant_id, TID);
	assert_int_equal(e.destination.n, 3);
	assert_string_equal(e.destination.v[2].address, "fine@example.com");
	assert_null(e.destination.v[2].status);
	assert_string_equal(e.event_time, "2026-11-28T09:14:05.001Z");

	assert_int_equal(e.bounce.type, SES_BOUNCE_PERMANENT);
	assert_string_equal(e.bounce.type_text, "Permanent");
	assert_string_equal(e.bounce.subtype, "NoEmail");
	assert_string_equal(e.bounce.feedback_id, "0102018c5e2b8a11-feedback-000000");
	assert_string_equal(e.bounce.reporting_mta, "dsn; a7-12.smtp-out.eu-west-1.amazonses.com");
	assert_null(e.bounce.remote_mta_ip);
	assert_int_equal(e.bounce.rcpts.n, 2);
	assert_int_equal(e.bounce.rcpts.n_over, 0);
	assert_int_equal(e.bounce.rcpts.n_bad, 0);
	assert_string_equal(e.bounce.rcpts.v[0].address, "gone@example.net");
	assert_string_equal(e.bounce.rcpts.v[0].action, "failed");
	assert_string_equal(e.bounce.rcpts.v[0].status, "5.1.1");
	assert_string_equal(e.bounce.rcpts.v[0].diagnostic,
	                    "smtp; 550 5.1.1 <gone@example.net>: no such user");
	assert_string_equal(e.bounce.rcpts.v[1].address, "old@example.org");
	assert_null(e.bounce.rcpts.v[1].action);
	assert_null(e.bounce.rcpts.v[1].status);
	assert_null(e.bounce.rcpts.v[1].diagnostic);

	/* Affected: the bounced ones only, not the whole destination. */
	assert_int_equal(ses_event_nrecipients(&e), 2);
	assert_string_equal(ses_event_recipient(&e, 0), "gone@example.net");
	assert_string_equal(ses_event_recipient(&e, 1), "old@example.org");
	assert_null(ses_event_recipient(&e, 2));
	assert_int_equal(ses_event_suppresses(&e, 0, &why), 1);
	assert_string_equal(why, "bounce:Permanent/NoEmail");
	assert_int_equal(ses_event_suppresses(&e, 1, &why), 1);
	assert_string_equal(why, "bounce:Permanent/NoEmail");
	assert_int_equal(ses_event_suppresses(&e, 2, &why), 0);
	assert_null(why);
	assert_int_equal(ses_event_suppresses(&e, 0, NULL), 1);

	/* Other members stay empty. */
	assert_null(e.complaint.feedback_type);
	assert_int_equal(e.delivery.processing_ms, -1);
	assert_int_equal(e.subscription.unsubscribe_all, -1);
	ses_event_free(&e);
	assert_null(e.message_id);
	ses_event_free(&e); /* twice is fine */
}

static void test_complaint(void **state)
{
	(void)state;
	struct ses_event e;
	const char *why;

	ok("{'eventType':'Complaint','complaint':{'complainedRecipients':["
	   "{'emailAddress':'reader@isp.example'},{'emailAddress':'other@isp.example'}],"
	   "'timestamp':'2026-11-28T10:02:44.000Z','feedbackId':'0102018c5e9f0c22-fb-000000',"
	   "'userAgent':'ISP-FBL/2.1','complaintFeedbackType':'abuse',"
	   "'arrivalDate':'2026-11-28T10:01:59.000Z'}," MAIL_TAGGED(
	       "'reader@isp.example','other@isp.example'") "}",
	   &e);
	assert_int_equal(e.type, SES_EV_COMPLAINT);
	assert_common(&e);
	assert_string_equal(e.complaint.feedback_type, "abuse");
	assert_null(e.complaint.subtype);
	assert_string_equal(e.complaint.feedback_id, "0102018c5e9f0c22-fb-000000");
	assert_string_equal(e.complaint.user_agent, "ISP-FBL/2.1");
	assert_string_equal(e.complaint.arrival_date, "2026-11-28T10:01:59.000Z");
	assert_string_equal(e.event_time, "2026-11-28T10:02:44.000Z");
	assert_int_equal(ses_event_nrecipients(&e), 2);
	assert_string_equal(ses_event_recipient(&e, 1), "other@isp.example");
	assert_int_equal(ses_event_suppresses(&e, 0, &why), 1);
	assert_string_equal(why, "complaint:abuse");
	assert_int_equal(ses_event_suppresses(&e, 1, &why), 1);
	ses_event_free(&e);
}

static void test_delivery(void **state)
{
	(void)state;
	struct ses_event e;
	const char *why = "x";

	ok("{'eventType':'Delivery'," MAIL_TAGGED(
	       "'a@example.com','b@example.com'") ","
	                                          "'delivery':{'timestamp':'2026-11-28T09:14:06."
	                                          "777Z','processingTimeMillis':3265,"
	                                          "'recipients':['b@example.com'],"
	                                          "'smtpResponse':'250 2.0.0 OK 1732785246 "
	                                          "x12si345 - gsmtp',"
	                                          "'reportingMTA':'a7-12.smtp-out.eu-west-1."
	                                          "amazonses.com'}}",
	   &e);
	assert_int_equal(e.type, SES_EV_DELIVERY);
	assert_common(&e);
	assert_int_equal(e.delivery.processing_ms, 3265);
	assert_string_equal(e.delivery.smtp_response, "250 2.0.0 OK 1732785246 x12si345 - gsmtp");
	assert_string_equal(e.delivery.reporting_mta, "a7-12.smtp-out.eu-west-1.amazonses.com");
	assert_int_equal(ses_event_nrecipients(&e), 1);
	assert_string_equal(ses_event_recipient(&e, 0), "b@example.com");
	assert_int_equal(ses_event_suppresses(&e, 0, &why), 0);
	assert_null(why);
	ses_event_free(&e);
}

static void test_send_reject(void **state)
{
	(void)state;
	struct ses_event e;

	ok("{'eventType':'Send'," MAIL_TAGGED("'a@example.com','b@example.com'") ",'send':{}}", &e);
	assert_int_equal(e.type, SES_EV_SEND);
	assert_common(&e);
	assert_string_equal(e.qid, QID);
	assert_null(e.event_time);
	assert_int_equal(ses_event_nrecipients(&e), 2);
	assert_string_equal(ses_event_recipient(&e, 0), "a@example.com");
	assert_int_equal(ses_event_suppresses(&e, 0, NULL), 0);
	ses_event_free(&e);

	ok("{'eventType':'Reject'," MAIL_TAGGED(
	       "'a@example.com'") ","
	                          "'reject':{'reason':'Bad content'}}",
	   &e);
	assert_int_equal(e.type, SES_EV_REJECT);
	assert_string_equal(e.reject.reason, "Bad content");
	assert_int_equal(ses_event_nrecipients(&e), 1);
	assert_int_equal(ses_event_suppresses(&e, 0, NULL), 0);
	ses_event_free(&e);
}

static void test_open_click(void **state)
{
	(void)state;
	struct ses_event e;

	ok("{'eventType':'Open'," MAIL_TAGGED(
	       "'a@example.com'") ","
	                          "'open':{'ipAddress':'2001:db8::17','timestamp':'2026-11-28T11:"
	                          "30:00.250Z',"
	                          "'userAgent':'Mozilla/5.0 (X11; Linux x86_64) "
	                          "Thunderbird/128.0'}}",
	   &e);
	assert_int_equal(e.type, SES_EV_OPEN);
	assert_string_equal(e.open.ip_address, "2001:db8::17");
	assert_string_equal(e.open.user_agent, "Mozilla/5.0 (X11; Linux x86_64) Thunderbird/128.0");
	assert_string_equal(e.event_time, "2026-11-28T11:30:00.250Z");
	assert_int_equal(ses_event_nrecipients(&e), 1);
	assert_int_equal(ses_event_suppresses(&e, 0, NULL), 0);
	ses_event_free(&e);

	ok("{'eventType':'Click','click':{'ipAddress':'198.51.100.23',"
	   "'link':'https://shop.acme.test/o/118?utm_source=mail&x=%22q%22',"
	   "'linkTags':{'campaign':['winter']},'timestamp':'2026-11-28T11:31:10.000Z',"
	   "'userAgent':'Mozilla/5.0'}," MAIL_TAGGED("'a@example.com'") "}",
	   &e);
	assert_int_equal(e.type, SES_EV_CLICK);
	assert_string_equal(e.click.link, "https://shop.acme.test/o/118?utm_source=mail&x=%22q%22");
	assert_string_equal(e.click.ip_address, "198.51.100.23");
	assert_string_equal(e.click.user_agent, "Mozilla/5.0");
	assert_int_equal(ses_event_suppresses(&e, 0, NULL), 0);
	ses_event_free(&e);
}

static void test_rendering_failure(void **state)
{
	(void)state;
	struct ses_event e;

	ok("{'eventType':'Rendering Failure'," MAIL_TAGGED(
	       "'a@example.com'") ","
	                          "'failure':{'errorMessage':'Variable \\u0027first_name\\u0027 "
	                          "has no value.',"
	                          "'templateName':'welcome-v3'}}",
	   &e);
	assert_int_equal(e.type, SES_EV_RENDERING_FAILURE);
	assert_string_equal(e.type_text, "Rendering Failure");
	assert_string_equal(e.failure.error_message, "Variable 'first_name' has no value.");
	assert_string_equal(e.failure.template_name, "welcome-v3");
	assert_int_equal(ses_event_nrecipients(&e), 1);
	assert_int_equal(ses_event_suppresses(&e, 0, NULL), 0);
	ses_event_free(&e);
}

static void test_delivery_delay(void **state)
{
	(void)state;
	struct ses_event e;

	ok("{'eventType':'DeliveryDelay'," MAIL_TAGGED(
	       "'slow@example.net','b@example.com'") ","
	                                             "'deliveryDelay':{'timestamp':'2026-11-28T09:"
	                                             "44:03.000Z',"
	                                             "'delayType':'MailboxFull','expirationTime':'"
	                                             "2026-11-28T23:14:03.512Z',"
	                                             "'reportingMTA':'192.0.2.44','"
	                                             "delayedRecipients':[{'emailAddress':'slow@"
	                                             "example.net',"
	                                             "'status':'4.2.2','diagnosticCode':'smtp; 452 "
	                                             "4.2.2 Mailbox full'}]}}",
	   &e);
	assert_int_equal(e.type, SES_EV_DELIVERY_DELAY);
	assert_string_equal(e.delay.delay_type, "MailboxFull");
	assert_string_equal(e.delay.expiration_time, "2026-11-28T23:14:03.512Z");
	assert_string_equal(e.delay.reporting_mta, "192.0.2.44");
	assert_int_equal(ses_event_nrecipients(&e), 1);
	assert_string_equal(ses_event_recipient(&e, 0), "slow@example.net");
	assert_string_equal(e.delay.rcpts.v[0].status, "4.2.2");
	assert_string_equal(e.delay.rcpts.v[0].diagnostic, "smtp; 452 4.2.2 Mailbox full");
	assert_int_equal(ses_event_suppresses(&e, 0, NULL), 0);
	ses_event_free(&e);

	/* delayedRecipients as a lone object (as the field table describes it). */
	ok("{'eventType':'DeliveryDelay'," MAIL_TAGGED(
	       "'slow@example.net'") ","
	                             "'deliveryDelay':{'delayType':'TransientCommunicationFailure',"
	                             "'delayedRecipients':{'emailAddress':'slow@example.net','"
	                             "status':'4.4.1'}}}",
	   &e);
	assert_int_equal(ses_event_nrecipients(&e), 1);
	assert_string_equal(e.delay.rcpts.v[0].status, "4.4.1");
	ses_event_free(&e);
}

static void test_subscription(void **state)
{
	(void)state;
	struct ses_event e;

	ok("{'eventType':'Subscription'," MAIL_TAGGED(
	       "'reader@example.com'") ","
	                               "'subscription':{'contactList':'acme-newsletter','timestamp'"
	                               ":'2026-11-28T12:00:01.000Z',"
	                               "'source':'UnsubscribeHeader','newTopicPreferences':{'"
	                               "unsubscribeAll':true,"
	                               "'topicSubscriptionStatus':[{'topicName':'offers','"
	                               "subscriptionStatus':'OptOut'}]},"
	                               "'oldTopicPreferences':{'unsubscribeAll':false,'"
	                               "topicSubscriptionStatus':"
	                               "[{'topicName':'offers','subscriptionStatus':'OptIn'}],"
	                               "'topicDefaultSubscriptionStatus':'OptIn'}}}",
	   &e);
	assert_int_equal(e.type, SES_EV_SUBSCRIPTION);
	assert_string_equal(e.subscription.contact_list, "acme-newsletter");
	assert_string_equal(e.subscription.source, "UnsubscribeHeader");
	assert_int_equal(e.subscription.unsubscribe_all, 1);
	assert_string_equal(e.subscription.new_prefs,
	                    "{\"topicSubscriptionStatus\":[{\"subscriptionStatus\":\"OptOut\","
	                    "\"topicName\":\"offers\"}],\"unsubscribeAll\":true}");
	assert_string_equal(e.subscription.old_prefs,
	                    "{\"topicDefaultSubscriptionStatus\":\"OptIn\","
	                    "\"topicSubscriptionStatus\":[{\"subscriptionStatus\":\"OptIn\","
	                    "\"topicName\":\"offers\"}],\"unsubscribeAll\":false}");
	assert_string_equal(e.event_time, "2026-11-28T12:00:01.000Z");
	assert_int_equal(ses_event_nrecipients(&e), 1);
	assert_int_equal(ses_event_suppresses(&e, 0, NULL), 0);
	ses_event_free(&e);

	/* Preferences of the wrong type or too large: absent. */
	{
		size_t n = SES_EV_JSON_MAX + 200, off;
		char *big = malloc(n + 512);
		assert_non_null(big);
		off = (size_t)sprintf(
		    big, "{'eventType':'Subscription'," MAIL_PLAIN(
		             "'r@example.com'") ",'subscription':{'newTopicPreferences':{'"
		                                "unsubscribeAll':false,"
		                                "'pad':'");
		memset(big + off, 'p', n);
		strcpy(big + off + n, "'},'oldTopicPreferences':[1],'contactList':7}}");
		ok(big, &e);
		assert_null(e.subscription.new_prefs);
		assert_null(e.subscription.old_prefs);
		assert_null(e.subscription.contact_list);
		assert_int_equal(e.subscription.unsubscribe_all, 0);
		ses_event_free(&e);
		free(big);
	}
}

/* ---- identity feedback notifications (notificationType) ---- */

static void test_notification_spelling(void **state)
{
	(void)state;
	struct ses_event e;
	const char *why;

	ok("{'notificationType':'Bounce','bounce':{'feedbackId':'0102018c-fb-1',"
	   "'bounceType':'Permanent','bounceSubType':'General','bouncedRecipients':"
	   "[{'emailAddress':'gone@example.net','status':'5.1.1','action':'failed',"
	   "'diagnosticCode':'smtp; 550 user unknown'}],'timestamp':'2026-11-28T09:14:05.001Z',"
	   "'remoteMtaIp':'203.0.113.9','reportingMTA':'dsn; "
	   "a7-12.smtp-out.amazonses.com'}," MAIL_PLAIN("'gone@example.net'") "}",
	   &e);
	assert_int_equal(e.type, SES_EV_BOUNCE);
	assert_int_equal(e.notification, 1);
	assert_string_equal(e.type_text, "Bounce");
	assert_common(&e);
	assert_string_equal(e.qid, "");
	assert_string_equal(e.tenant_id, "");
	assert_string_equal(e.bounce.remote_mta_ip, "203.0.113.9");
	assert_int_equal(ses_event_suppresses(&e, 0, &why), 1);
	assert_string_equal(why, "bounce:Permanent/General");
	ses_event_free(&e);

	ok("{'notificationType':'Complaint','complaint':{'userAgent':'FBL','complainedRecipients':"
	   "[{'emailAddress':'reader@isp.example'}],'complaintFeedbackType':'abuse',"
	   "'arrivalDate':'2026-11-28T10:01:59.000Z','timestamp':'2026-11-28T10:02:44.000Z',"
	   "'feedbackId':'0102018c-fb-2'}," MAIL_PLAIN("'reader@isp.example'") "}",
	   &e);
	assert_int_equal(e.type, SES_EV_COMPLAINT);
	assert_int_equal(e.notification, 1);
	assert_int_equal(ses_event_suppresses(&e, 0, &why), 1);
	assert_string_equal(why, "complaint:abuse");
	ses_event_free(&e);

	ok("{'notificationType':'Delivery','delivery':{'timestamp':'2026-11-28T09:14:06.777Z',"
	   "'processingTimeMillis':546,'recipients':['a@example.com'],"
	   "'smtpResponse':'250 ok','remoteMtaIp':'203.0.113.10',"
	   "'reportingMTA':'a8-1.smtp-out.amazonses.com'}," MAIL_PLAIN("'a@example.com'") "}",
	   &e);
	assert_int_equal(e.type, SES_EV_DELIVERY);
	assert_int_equal(e.delivery.processing_ms, 546);
	assert_string_equal(e.delivery.remote_mta_ip, "203.0.113.10");
	ses_event_free(&e);

	/* Both spellings: eventType wins; an empty or non-string one does not. */
	ok("{'eventType':'Delivery','notificationType':'Bounce'," MAIL_PLAIN("'a@example.com'") "}",
	   &e);
	assert_int_equal(e.type, SES_EV_DELIVERY);
	assert_int_equal(e.notification, 0);
	ses_event_free(&e);
	ok("{'eventType':'','notificationType':'Bounce'," MAIL_PLAIN("'a@example.com'") "}", &e);
	assert_int_equal(e.type, SES_EV_BOUNCE);
	assert_int_equal(e.notification, 1);
	ses_event_free(&e);
	ok("{'eventType':3,'notificationType':'Complaint'," MAIL_PLAIN("'a@example.com'") "}", &e);
	assert_int_equal(e.type, SES_EV_COMPLAINT);
	ses_event_free(&e);
}

/* ---- our tags ---- */

/* Parse a Send record whose mail.tags is @tags; returns the struct. */
static void with_tags(const char *tags, struct ses_event *e)
{
	char buf[2048];

	snprintf(buf, sizeof(buf),
	         "{'eventType':'Send','send':{},'mail':{'messageId':'" SESID "',"
	         "'destination':['a@example.com'],'tags':%s}}",
	         tags);
	ok(buf, e);
}

static void test_tags(void **state)
{
	(void)state;
	static const struct {
		const char *tags, *qid, *tid;
	} m[] = {
	    {"{'sesgate-qid':['" QID "'],'sesgate-tenant':['" TID "']}", QID, TID},
	    {"{'sesgate-qid':['" QID "']}", QID, ""},
	    {"{'sesgate-tenant':['" TID "']}", "", TID},
	    {"{}", "", ""},
	    {"{'ses:configuration-set':['x'],'myTag':['" QID "']}", "", ""},
	    /* the same value twice is still one message; two values are none */
	    {"{'sesgate-qid':['" QID "','" QID "'],'sesgate-tenant':['" TID "','" TID "']}", QID,
	     TID},
	    {"{'sesgate-qid':['" QID "','0KHZ9Q3M4N5P6R7T'],'sesgate-tenant':['" TID
	     "','t0000000000000000']}",
	     "", ""},
	    {"{'sesgate-qid':[],'sesgate-tenant':[]}", "", ""},
	    /* wrong JSON types */
	    {"{'sesgate-qid':'" QID "','sesgate-tenant':'" TID "'}", "", ""},
	    {"{'sesgate-qid':[7],'sesgate-tenant':[null]}", "", ""},
	    {"{'sesgate-qid':[['" QID "']],'sesgate-tenant':[{'v':'" TID "'}]}", "", ""},
	    {"{'sesgate-qid':['" QID "',1]}", "", ""},
	    {"['sesgate-qid','" QID "']", "", ""},
	    {"'sesgate-qid=" QID "'", "", ""},
	    {"null", "", ""},
	    /* forged or damaged queue ids: case, excluded letters, length */
	    {"{'sesgate-qid':['0khz9q3m4n5p6r7s']}", "", ""},
	    {"{'sesgate-qid':['0KHZ9Q3M4N5P6R7I']}", "", ""},
	    {"{'sesgate-qid':['0KHZ9Q3M4N5P6R7L']}", "", ""},
	    {"{'sesgate-qid':['0KHZ9Q3M4N5P6R7O']}", "", ""},
	    {"{'sesgate-qid':['0KHZ9Q3M4N5P6R7U']}", "", ""},
	    {"{'sesgate-qid':['0KHZ9Q3M4N5P6R7']}", "", ""},
	    {"{'sesgate-qid':['0KHZ9Q3M4N5P6R7SS']}", "", ""},
	    {"{'sesgate-qid':['0KHZ9Q3M-N5P6R7S']}", "", ""},
	    {"{'sesgate-qid':['']}", "", ""},
	    {"{'sesgate-qid':['" QID "\\u00e9']}", "", ""},
	    /* forged or damaged tenant ids */
	    {"{'sesgate-tenant':['4c1d0a9e7f2b8c35']}", "", ""},
	    {"{'sesgate-tenant':['T4c1d0a9e7f2b8c35']}", "", ""},
	    {"{'sesgate-tenant':['t4C1D0A9E7F2B8C35']}", "", ""},
	    {"{'sesgate-tenant':['t4c1d0a9e7f2b8c3']}", "", ""},
	    {"{'sesgate-tenant':['t4c1d0a9e7f2b8c355']}", "", ""},
	    {"{'sesgate-tenant':['t4c1d0a9e7f2b8c3g']}", "", ""},
	    {"{'sesgate-tenant':['acme']}", "", ""},
	    {"{'sesgate-tenant':['../t4c1d0a9e7f2b8c35']}", "", ""},
	};
	struct ses_event e;

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		with_tags(m[i].tags, &e);
		if (strcmp(e.qid, m[i].qid) != 0 || strcmp(e.tenant_id, m[i].tid) != 0)
			fail_msg("case %zu %s: qid '%s' tenant '%s'", i, m[i].tags, e.qid,
			         e.tenant_id);
		ses_event_free(&e);
	}

	/* No tags member at all. */
	ok("{'eventType':'Send'," MAIL_PLAIN("'a@example.com'") "}", &e);
	assert_string_equal(e.qid, "");
	assert_string_equal(e.tenant_id, "");
	ses_event_free(&e);
}

/* ---- caps ---- */

/* A record of @type whose list at @key holds @n copies of @entry, each '#'
 * in it replaced by the entry's index, plus a destination of @ndest. */
static char *big_record(const char *type, const char *detail, const char *key, size_t n,
                        const char *entry, size_t ndest)
{
	size_t cap = 512 + (n + ndest) * 80, off = 0;
	char *b = malloc(cap);

	assert_non_null(b);
	off += (size_t)snprintf(b + off, cap - off,
	                        "{'eventType':'%s','mail':{'messageId':'" SESID "',"
	                        "'destination':[",
	                        type);
	for (size_t i = 0; i < ndest; i++)
		off +=
		    (size_t)snprintf(b + off, cap - off, "%s'd%zu@example.com'", i ? "," : "", i);
	off += (size_t)snprintf(b + off, cap - off, "]},'%s':{'bounceType':'Permanent','%s':[",
	                        detail, key);
	for (size_t i = 0; i < n; i++) {
		if (i)
			b[off++] = ',';
		for (const char *p = entry; *p; p++) {
			if (*p == '#')
				off += (size_t)snprintf(b + off, cap - off, "%zu", i);
			else
				b[off++] = *p;
		}
	}
	snprintf(b + off, cap - off, "]}}");
	return b;
}

static void test_huge_lists(void **state)
{
	(void)state;
	struct ses_event e;
	char *b;

	b = big_record("Bounce", "bounce", "bouncedRecipients", 10000,
	               "{'emailAddress':'u#@example.net','status':'5.1.1'}", 5000);
	ok(b, &e);
	assert_int_equal(e.bounce.rcpts.n, SES_EV_RCPT_MAX);
	assert_int_equal(e.bounce.rcpts.n_over, 10000 - SES_EV_RCPT_MAX);
	assert_int_equal(e.bounce.rcpts.n_bad, 0);
	assert_int_equal(e.destination.n, SES_EV_RCPT_MAX);
	assert_int_equal(e.destination.n_over, 5000 - SES_EV_RCPT_MAX);
	assert_int_equal(ses_event_nrecipients(&e), SES_EV_RCPT_MAX);
	assert_string_equal(ses_event_recipient(&e, 0), "u0@example.net");
	assert_string_equal(ses_event_recipient(&e, SES_EV_RCPT_MAX - 1), "u99@example.net");
	assert_null(ses_event_recipient(&e, SES_EV_RCPT_MAX));
	assert_int_equal(ses_event_suppresses(&e, SES_EV_RCPT_MAX - 1, NULL), 1);
	assert_int_equal(ses_event_suppresses(&e, SES_EV_RCPT_MAX, NULL), 0);
	ses_event_free(&e);
	free(b);

	/* Unusable entries are skipped, not stored, and do not use up the cap. */
	b = big_record("Complaint", "complaint", "complainedRecipients", 300,
	               "{'emailAddress':'#'}", 0);
	ok(b, &e);
	assert_int_equal(e.complaint.rcpts.n, 0);
	assert_int_equal(e.complaint.rcpts.n_bad, 300);
	assert_int_equal(ses_event_nrecipients(&e), 0);
	assert_int_equal(ses_event_suppresses(&e, 0, NULL), 0);
	ses_event_free(&e);
	free(b);

	b = big_record("Delivery", "delivery", "recipients", 250, "'x#@example.com',7", 0);
	ok(b, &e);
	assert_int_equal(e.delivery.rcpts.n, SES_EV_RCPT_MAX);
	assert_int_equal(e.delivery.rcpts.n_over, 150);
	assert_int_equal(e.delivery.rcpts.n_bad, 250);
	ses_event_free(&e);
	free(b);
}

static void test_text_bounds(void **state)
{
	(void)state;
	struct ses_event e;
	size_t n = 6000, off;
	char *b = malloc(3 * n + 1024), *p;

	assert_non_null(b);
	/* A diagnostic of 2-octet characters cut inside a character, a user
	 * agent and a link far over their caps, control characters. */
	off = (size_t)sprintf(
	    b, "{'eventType':'Bounce'," MAIL_PLAIN(
	           "'a@example.com'") ",'bounce':{'bounceType':'Transient','bouncedRecipients':"
	                              "[{'emailAddress':'a@example.com','diagnosticCode':'x");
	for (size_t i = 0; i < n / 2; i++)
		off += (size_t)sprintf(b + off, "\xc3\xa9");
	off += (size_t)sprintf(b + off, "','status':'4.\\n2.2\\t\\u0001'}],"
	                                "'bounceSubType':'");
	memset(b + off, 'S', 200);
	off += 200;
	strcpy(b + off, "'}}");
	ok(b, &e);
	p = e.bounce.rcpts.v[0].diagnostic;
	assert_true(strlen(p) <= SES_EV_TEXT_MAX);
	assert_true(strlen(p) >= SES_EV_TEXT_MAX - 1);
	assert_int_equal(p[0], 'x');
	/* ends on a whole character */
	assert_int_equal((unsigned char)p[strlen(p) - 2], 0xc3);
	assert_int_equal((unsigned char)p[strlen(p) - 1], 0xa9);
	assert_string_equal(e.bounce.rcpts.v[0].status, "4. 2.2  ");
	assert_int_equal(strlen(e.bounce.subtype), SES_EV_WORD_MAX);
	ses_event_free(&e);

	off = (size_t)sprintf(b, "{'eventType':'Click'," MAIL_PLAIN(
	                             "'a@example.com'") ",'click':{'link':'https://acme.test/");
	memset(b + off, 'l', n);
	off += n;
	off += (size_t)sprintf(b + off, "','userAgent':'");
	memset(b + off, 'u', n);
	off += n;
	strcpy(b + off, "','ipAddress':'198.51.100.1 ; drop'}}");
	ok(b, &e);
	assert_int_equal(strlen(e.click.link), SES_EV_URL_MAX);
	assert_int_equal(strlen(e.click.user_agent), SES_EV_TEXT_MAX);
	assert_null(e.click.ip_address); /* identifiers are whole or absent */
	ses_event_free(&e);
	free(b);
}

/* ---- addresses ---- */

static void test_unicode_addresses(void **state)
{
	(void)state;
	struct ses_event e;
	char addr[SES_EV_ADDR_MAX + 2], rec[1024];
	const char *why;

	/* Escaped and raw UTF-8 both arrive as UTF-8, verbatim. */
	ok("{'eventType':'Bounce','bounce':{'bounceType':'Permanent','bounceSubType':'General',"
	   "'bouncedRecipients':[{'emailAddress':'jos\\u00e9@ex\\u00e4mple.de'},"
	   "{'emailAddress':'\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
	   "\xe5\xb9\xbf\xe5\x91\x8a'},"
	   "{'emailAddress':'\\'quoted@at\\'@example.com'},"
	   "{'emailAddress':'Ren\\u00e9e <renee@example.fr>'}]}," MAIL_PLAIN(
	       "'jos\\u00e9@ex\\u00e4mple.de'") "}",
	   &e);
	assert_int_equal(ses_event_nrecipients(&e), 4);
	assert_string_equal(ses_event_recipient(&e, 0), "jos\xc3\xa9@ex\xc3\xa4mple.de");
	assert_string_equal(
	    ses_event_recipient(&e, 1),
	    "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a");
	assert_string_equal(ses_event_recipient(&e, 2), "\"quoted@at\"@example.com");
	assert_string_equal(ses_event_recipient(&e, 3), "Ren\xc3\xa9"
	                                                "e <renee@example.fr>");
	assert_string_equal(e.destination.v[0].address, "jos\xc3\xa9@ex\xc3\xa4mple.de");
	assert_int_equal(ses_event_suppresses(&e, 1, &why), 1);
	ses_event_free(&e);

	/* Unusable: no '@', nothing before or after it, control characters,
	 * empty, too long; each skipped and counted, the good one kept. */
	ok("{'eventType':'Bounce','bounce':{'bounceType':'Permanent','bouncedRecipients':["
	   "{'emailAddress':'postmaster'},{'emailAddress':'@example.com'},"
	   "{'emailAddress':'user@'},{'emailAddress':'a\\u0007b@example.com'},"
	   "{'emailAddress':'a@example.com\\r\\nRCPT TO:<x@y>'},{'emailAddress':''},"
	   "{'emailAddress':'a\\u007f@example.com'},{'status':'5.1.1'},"
	   "{'emailAddress':'ok@example.com'}]}," MAIL_PLAIN("") "}",
	   &e);
	assert_int_equal(e.bounce.rcpts.n, 1);
	assert_int_equal(e.bounce.rcpts.n_bad, 8);
	assert_string_equal(ses_event_recipient(&e, 0), "ok@example.com");
	assert_int_equal(e.destination.n, 0);
	ses_event_free(&e);

	/* Exactly at the cap is kept; one more octet is not (never cut). */
	memset(addr, 'l', SES_EV_ADDR_MAX);
	memcpy(addr + SES_EV_ADDR_MAX - 12, "@example.com", 12);
	addr[SES_EV_ADDR_MAX] = '\0';
	snprintf(
	    rec, sizeof(rec),
	    "{'eventType':'Delivery','delivery':{'recipients':['%s','l%s']}," MAIL_PLAIN("") "}",
	    addr, addr);
	ok(rec, &e);
	assert_int_equal(e.delivery.rcpts.n, 1);
	assert_int_equal(e.delivery.rcpts.n_bad, 1);
	assert_string_equal(ses_event_recipient(&e, 0), addr);
	ses_event_free(&e);
}

/* ---- malformed input ---- */

static void test_malformed(void **state)
{
	(void)state;
	struct ses_event e;
	char err[128];
	const char *good = "{\"eventType\":\"Send\",\"mail\":{\"messageId\":\"m-1\"}}";

	bad("");
	bad("not json");
	bad("{'eventType':'Send','mail':{'messageId':'m-1'}");    /* cut short */
	bad("{'eventType':'Send','mail':{'messageId':'m-1'}}{}"); /* trailing data */
	bad("{'eventType':'Send','mail':{'messageId':'m-1'}} x");
	bad("[{'eventType':'Send','mail':{'messageId':'m-1'}}]");
	bad("'Send'");
	bad("null");
	bad("{'eventType':'Send','mail':{'messageId':'m-\\u0000'}}");            /* NUL */
	bad("{'eventType':'Send','mail':{'messageId':'m-1','source':'\xc3('}}"); /* bad UTF-8 */
	bad("{'eventType':'Send','mail':{'messageId':'m-1'},}");

	/* eventType */
	bad("{'mail':{'messageId':'m-1'}}");
	bad("{'eventType':'','mail':{'messageId':'m-1'}}");
	bad("{'eventType':null,'mail':{'messageId':'m-1'}}");
	bad("{'eventType':['Send'],'mail':{'messageId':'m-1'}}");
	bad("{'eventType':{},'notificationType':7,'mail':{'messageId':'m-1'}}");
	bad("{'notificationType':'','mail':{'messageId':'m-1'}}");

	/* mail.messageId */
	bad("{'eventType':'Send'}");
	bad("{'eventType':'Send','mail':null}");
	bad("{'eventType':'Send','mail':'m-1'}");
	bad("{'eventType':'Send','mail':['m-1']}");
	bad("{'eventType':'Send','mail':{}}");
	bad("{'eventType':'Send','mail':{'messageId':''}}");
	bad("{'eventType':'Send','mail':{'messageId':null}}");
	bad("{'eventType':'Send','mail':{'messageId':12345}}");
	bad("{'eventType':'Send','mail':{'messageId':['m-1']}}");
	bad("{'eventType':'Send','mail':{'messageId':'m 1'}}");
	bad("{'eventType':'Send','mail':{'messageId':'m-1\\n'}}");
	bad("{'eventType':'Send','mail':{'messageId':'m-\\u00e9'}}");
	bad("{'eventType':'Send','messageId':'m-1','mail':{}}");
	/* SES's test message when a topic is set on an identity has no mail. */
	bad("{'notificationType':'AmazonSnsSubscriptionSucceeded','message':'You have "
	    "successfully subscribed your Amazon SNS topic'}");

	/* messageId length: SES_EV_ID_MAX is fine, one more is not. */
	{
		char rec[SES_EV_ID_MAX + 128], id[SES_EV_ID_MAX + 2];
		memset(id, 'm', sizeof(id) - 1);
		id[SES_EV_ID_MAX + 1] = '\0';
		snprintf(rec, sizeof(rec), "{'eventType':'Send','mail':{'messageId':'%s'}}", id);
		bad(rec);
		id[SES_EV_ID_MAX] = '\0';
		snprintf(rec, sizeof(rec), "{'eventType':'Send','mail':{'messageId':'%s'}}", id);
		ok(rec, &e);
		assert_string_equal(e.message_id, id);
		ses_event_free(&e);
	}

	/* Arguments. */
	assert_int_equal(ses_event_parse(NULL, 0, &e, err, sizeof(err)), -1);
	assert_string_equal(err, "no record");
	assert_null(e.message_id);
	assert_int_equal(ses_event_parse(good, strlen(good), NULL, err, sizeof(err)), -1);
	assert_int_equal(ses_event_parse(good, strlen(good), &e, NULL, 0), 0);
	ses_event_free(&e);
	/* @len is honoured: the same text cut short is not a record. */
	assert_int_equal(ses_event_parse(good, strlen(good) - 1, &e, err, sizeof(err)), -1);
	assert_memory_equal(err, "not JSON", 8);
	/* ... and what follows @len is not read. */
	{
		char buf[128];
		snprintf(buf, sizeof(buf), "%s GARBAGE", good);
		assert_int_equal(ses_event_parse(buf, strlen(good), &e, err, sizeof(err)), 0);
		ses_event_free(&e);
	}
	/* Error text: small buffers truncate, input echoed back is sanitised. */
	assert_int_equal(ses_event_parse("{\"a\":\x01}", 7, &e, err, 5), -1);
	assert_int_equal(strlen(err), 4);
	assert_int_equal(ses_event_parse("{\n\"a\"\t:\"\x01\"}", 11, &e, err, sizeof(err)), -1);
	for (const char *p = err; *p; p++)
		assert_true((unsigned char)*p >= 0x20);
	assert_int_equal(ses_event_parse("{}", 2, &e, err, 1), -1);
	assert_string_equal(err, "");

	/* Free on NULL and on a zeroed struct. */
	ses_event_free(NULL);
	memset(&e, 0, sizeof(e));
	ses_event_free(&e);
}

/* Wrong JSON types in every field we read: absent, never a crash or -1. */
static void test_wrong_types(void **state)
{
	(void)state;
	static const char *const vals[] = {"null",
	                                   "true",
	                                   "0",
	                                   "-1",
	                                   "1.5",
	                                   "[]",
	                                   "{}",
	                                   "['x@example.com']",
	                                   "{'emailAddress':'x@example.com'}"};
	static const char *const recs[] = {
	    "{'eventType':'Bounce','mail':{'messageId':'m-1','timestamp':%s,'source':%s,"
	    "'sourceArn':%s,'sendingAccountId':%s,'destination':%s,'tags':%s},"
	    "'bounce':{'bounceType':%s,'bounceSubType':%s,'bouncedRecipients':[%s,"
	    "{'emailAddress':%s,'status':%s,'action':%s,'diagnosticCode':%s}],"
	    "'timestamp':%s,'feedbackId':%s,'reportingMTA':%s,'remoteMtaIp':%s}}",
	    "{'eventType':'Complaint','mail':{'messageId':'m-1'},'complaint':{"
	    "'complainedRecipients':%s,'complaintFeedbackType':%s,'complaintSubType':%s,"
	    "'userAgent':%s,'arrivalDate':%s,'feedbackId':%s,'timestamp':%s}}",
	    "{'eventType':'Delivery','mail':{'messageId':'m-1'},'delivery':{'recipients':[%s,%s],"
	    "'processingTimeMillis':%s,'smtpResponse':%s,'reportingMTA':%s,'remoteMtaIp':%s}}",
	    "{'eventType':'Reject','mail':{'messageId':'m-1'},'reject':{'reason':%s}}",
	    "{'eventType':'Open','mail':{'messageId':'m-1'},'open':{'ipAddress':%s,'userAgent':%s,"
	    "'timestamp':%s}}",
	    "{'eventType':'Click','mail':{'messageId':'m-1'},'click':{'ipAddress':%s,'link':%s,"
	    "'userAgent':%s,'linkTags':%s}}",
	    "{'eventType':'Rendering Failure','mail':{'messageId':'m-1'},'failure':{"
	    "'errorMessage':%s,'templateName':%s}}",
	    "{'eventType':'DeliveryDelay','mail':{'messageId':'m-1'},'deliveryDelay':{"
	    "'delayType':%s,'delayedRecipients':%s,'expirationTime':%s,'reportingMTA':%s}}",
	    "{'eventType':'Subscription','mail':{'messageId':'m-1'},'subscription':{"
	    "'contactList':%s,'source':%s,'newTopicPreferences':{'unsubscribeAll':%s},"
	    "'oldTopicPreferences':%s}}",
	    /* the detail object itself */
	    "{'eventType':'Bounce','mail':{'messageId':'m-1','destination':['d@example.com']},"
	    "'bounce':%s}",
	    "{'eventType':'Complaint','mail':{'messageId':'m-1','destination':['d@example.com']},"
	    "'complaint':%s}",
	};

	for (size_t r = 0; r < sizeof(recs) / sizeof(recs[0]); r++) {
		for (size_t v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
			char fmt_buf[2048], rec[8192];
			struct ses_event e;
			size_t off = 0;

			/* Substitute vals[v] for every %s (at most 20). */
			snprintf(fmt_buf, sizeof(fmt_buf), "%s", recs[r]);
			for (const char *p = fmt_buf; *p; p++) {
				if (p[0] == '%' && p[1] == 's') {
					off += (size_t)snprintf(rec + off, sizeof(rec) - off, "%s",
					                        vals[v]);
					p++;
				} else {
					rec[off++] = *p;
				}
			}
			rec[off] = '\0';
			ok(rec, &e);
			assert_string_equal(e.message_id, "m-1");
			assert_string_equal(e.account_id, "");
			assert_string_equal(e.qid, "");
			assert_null(e.timestamp);
			assert_null(e.source);
			assert_null(e.event_time);
			assert_int_equal(
			    e.delivery.processing_ms,
			    e.type == SES_EV_DELIVERY && strcmp(vals[v], "0") == 0 ? 0 : -1);
			assert_null(e.subscription.contact_list);
			/* Only address-bearing values may yield recipients, and a
			 * bounce with no bounceType suppresses nobody. */
			for (size_t i = 0; i < ses_event_nrecipients(&e); i++) {
				const char *a = ses_event_recipient(&e, i);
				assert_true(strcmp(a, "x@example.com") == 0 ||
				            strcmp(a, "d@example.com") == 0);
			}
			if (e.type == SES_EV_BOUNCE)
				assert_int_equal(ses_event_suppresses(&e, 0, NULL), 0);
			if (e.type == SES_EV_COMPLAINT && ses_event_nrecipients(&e) > 0) {
				/* a complaint with a recipient suppresses it */
				const char *why;
				assert_int_equal(ses_event_suppresses(&e, 0, &why), 1);
				assert_string_equal(why, "complaint");
			}
			if (e.type == SES_EV_SUBSCRIPTION)
				assert_int_equal(e.subscription.unsubscribe_all,
				                 strcmp(vals[v], "true") == 0 ? 1 : -1);
			ses_event_free(&e);
		}
	}
}

/* A record whose detail object is missing or empty has no details. */
static void test_missing_details(void **state)
{
	(void)state;
	static const char *const types[] = {
	    "Bounce", "Complaint",         "Delivery",     "DeliveryDelay", "Open",
	    "Click",  "Rendering Failure", "Subscription", "Reject"};
	struct ses_event e;
	char rec[2048];

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		snprintf(rec, sizeof(rec), "{'eventType':'%s'," MAIL_TAGGED("'d@example.com'") "}",
		         types[i]);
		ok(rec, &e);
		assert_int_equal(e.type, ses_event_type_parse(types[i]));
		assert_string_equal(e.qid, QID);
		assert_null(e.suppress_reason);
		for (size_t k = 0; k < ses_event_nrecipients(&e); k++)
			assert_int_equal(ses_event_suppresses(&e, k, NULL), 0);
		/* Bounce, complaint, delivery, delay: nobody (never the whole
		 * destination); the others: the destination. */
		assert_int_equal(ses_event_nrecipients(&e), i < 4 ? 0 : 1);
		ses_event_free(&e);
	}

	/* A bounce with details but no list: nobody is suppressed. */
	ok("{'eventType':'Bounce','bounce':{'bounceType':'Permanent','bounceSubType':'General'}"
	   "," MAIL_TAGGED("'d@example.com'") "}",
	   &e);
	assert_int_equal(ses_event_nrecipients(&e), 0);
	assert_int_equal(ses_event_suppresses(&e, 0, NULL), 0);
	assert_string_equal(e.suppress_reason, "bounce:Permanent/General");
	ses_event_free(&e);

	/* Empty strings are absent too. */
	ok("{'eventType':'Bounce','bounce':{'bounceType':'Transient','bounceSubType':'',"
	   "'reportingMTA':'','bouncedRecipients':[{'emailAddress':'a@example.com','status':'',"
	   "'action':'','diagnosticCode':''}]},'mail':{'messageId':'m-1','source':'',"
	   "'timestamp':''}}",
	   &e);
	assert_null(e.bounce.subtype);
	assert_null(e.bounce.reporting_mta);
	assert_null(e.bounce.rcpts.v[0].status);
	assert_null(e.bounce.rcpts.v[0].action);
	assert_null(e.bounce.rcpts.v[0].diagnostic);
	assert_null(e.source);
	assert_null(e.timestamp);
	ses_event_free(&e);

	/* sendingAccountId: exactly 12 digits, else absent. */
	{
		static const char *const ids[] = {"'21098765432'",
		                                  "'2109876543210'",
		                                  "'21098765432x'",
		                                  "' 210987654321'",
		                                  "'２10987654321'",
		                                  "210987654321",
		                                  "''"};
		for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
			snprintf(
			    rec, sizeof(rec),
			    "{'eventType':'Send','mail':{'messageId':'m-1','sendingAccountId':%s}}",
			    ids[i]);
			ok(rec, &e);
			assert_string_equal(e.account_id, "");
			ses_event_free(&e);
		}
	}

	/* processingTimeMillis: a non-negative integer, else -1. */
	{
		static const struct {
			const char *v;
			long long want;
		} pt[] = {{"0", 0},
		          {"-5", -1},
		          {"12.0", -1},
		          {"'12'", -1},
		          {"9007199254740993", 9007199254740993LL}};
		for (size_t i = 0; i < sizeof(pt) / sizeof(pt[0]); i++) {
			snprintf(rec, sizeof(rec),
			         "{'eventType':'Delivery','mail':{'messageId':'m-1'},"
			         "'delivery':{'processingTimeMillis':%s}}",
			         pt[i].v);
			ok(rec, &e);
			assert_true(e.delivery.processing_ms == pt[i].want);
			ses_event_free(&e);
		}
	}

	/* Only messageId: everything else absent. */
	ok("{'eventType':'Send','mail':{'messageId':'m-1'}}", &e);
	assert_null(e.timestamp);
	assert_null(e.source);
	assert_null(e.source_arn);
	assert_string_equal(e.account_id, "");
	assert_int_equal(ses_event_nrecipients(&e), 0);
	assert_null(ses_event_recipient(&e, 0));
	ses_event_free(&e);
}

static void test_unknown_type(void **state)
{
	(void)state;
	struct ses_event e;

	ok("{'eventType':'Teleport','teleport':{'where':'mars'}," MAIL_TAGGED(
	       "'a@example.com','b@example.com'") "}",
	   &e);
	assert_int_equal(e.type, SES_EV_UNKNOWN);
	assert_string_equal(e.type_text, "Teleport");
	assert_common(&e);
	assert_string_equal(e.qid, QID);
	assert_string_equal(e.tenant_id, TID);
	assert_null(e.event_time);
	assert_int_equal(ses_event_nrecipients(&e), 2);
	assert_int_equal(ses_event_suppresses(&e, 0, NULL), 0);
	ses_event_free(&e);

	/* An unknown type carrying a bounce object does not suppress. */
	ok("{'eventType':'Bounce2','bounce':{'bounceType':'Permanent','bouncedRecipients':"
	   "[{'emailAddress':'a@example.com'}]}," MAIL_PLAIN("'a@example.com'") "}",
	   &e);
	assert_int_equal(e.type, SES_EV_UNKNOWN);
	assert_int_equal(ses_event_suppresses(&e, 0, NULL), 0);
	assert_null(e.bounce.rcpts.v);
	ses_event_free(&e);

	/* The type text is sanitised and bounded for logging. */
	ok("{'eventType':'Evil\\r\\nType-"
	   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'"
	   ",'mail':{'messageId':'m-1'}}",
	   &e);
	assert_int_equal(e.type, SES_EV_UNKNOWN);
	assert_int_equal(strlen(e.type_text), SES_EV_WORD_MAX);
	assert_memory_equal(e.type_text, "Evil  Type-", 11);
	ses_event_free(&e);

	/* Misplaced detail key: a Bounce's data under "complaint" is ignored. */
	ok("{'eventType':'Bounce','complaint':{'complainedRecipients':"
	   "[{'emailAddress':'a@example.com'}]}," MAIL_PLAIN("'a@example.com'") "}",
	   &e);
	assert_int_equal(ses_event_nrecipients(&e), 0);
	assert_null(e.complaint.rcpts.v);
	ses_event_free(&e);
}

/* ---- the suppression decision ---- */

/* The detail object and recipient list keys of an eventType. */
static void detail_keys(const char *type, const char **dkey, const char **lkey)
{
	static const struct {
		const char *type, *dkey, *lkey;
	} k[] = {
	    {"Bounce", "bounce", "bouncedRecipients"},
	    {"Complaint", "complaint", "complainedRecipients"},
	    {"Delivery", "delivery", "recipients"},
	    {"DeliveryDelay", "deliveryDelay", "delayedRecipients"},
	    {"Send", "send", "unused"},
	    {"Reject", "reject", "unused"},
	    {"Open", "open", "unused"},
	    {"Click", "click", "unused"},
	    {"Rendering Failure", "failure", "unused"},
	    {"Subscription", "subscription", "unused"},
	};

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		if (strcmp(type, k[i].type) == 0) {
			*dkey = k[i].dkey;
			*lkey = k[i].lkey;
			return;
		}
	}
	fail_msg("no keys for %s", type);
}

static void test_suppression_matrix(void **state)
{
	(void)state;
	static const struct {
		const char *type;   /* eventType */
		const char *detail; /* inside the detail object, before the list */
		int want;
		const char *reason;
	} m[] = {
	    {"Bounce", "'bounceType':'Permanent','bounceSubType':'General'", 1,
	     "bounce:Permanent/General"},
	    {"Bounce", "'bounceType':'Permanent','bounceSubType':'NoEmail'", 1,
	     "bounce:Permanent/NoEmail"},
	    {"Bounce", "'bounceType':'Permanent','bounceSubType':'Suppressed'", 1,
	     "bounce:Permanent/Suppressed"},
	    {"Bounce", "'bounceType':'Permanent','bounceSubType':'OnAccountSuppressionList'", 1,
	     "bounce:Permanent/OnAccountSuppressionList"},
	    {"Bounce", "'bounceType':'Permanent'", 1, "bounce:Permanent"},
	    {"Bounce", "'bounceType':'Permanent','bounceSubType':''", 1, "bounce:Permanent"},
	    {"Bounce", "'bounceType':'Permanent','bounceSubType':'No Email'", 1,
	     "bounce:Permanent"},
	    {"Bounce", "'bounceType':'Permanent','bounceSubType':'x\\ny'", 1, "bounce:Permanent"},
	    {"Bounce", "'bounceType':'Permanent','bounceSubType':3", 1, "bounce:Permanent"},
	    {"Bounce", "'bounceType':'permanent','bounceSubType':'General'", 1,
	     "bounce:Permanent/General"},
	    {"Bounce", "'bounceType':'Transient','bounceSubType':'General'", 0, NULL},
	    {"Bounce", "'bounceType':'Transient','bounceSubType':'MailboxFull'", 0, NULL},
	    {"Bounce", "'bounceType':'Transient','bounceSubType':'MessageTooLarge'", 0, NULL},
	    {"Bounce", "'bounceType':'Transient','bounceSubType':'ContentRejected'", 0, NULL},
	    {"Bounce", "'bounceType':'Transient','bounceSubType':'AttachmentRejected'", 0, NULL},
	    {"Bounce", "'bounceType':'Undetermined','bounceSubType':'Undetermined'", 0, NULL},
	    {"Bounce", "'bounceType':'Hard','bounceSubType':'General'", 0, NULL},
	    {"Bounce", "'bounceSubType':'General'", 0, NULL},
	    {"Bounce", "'bounceType':['Permanent']", 0, NULL},
	    {"Complaint", "'complaintFeedbackType':'abuse'", 1, "complaint:abuse"},
	    {"Complaint", "'complaintFeedbackType':'fraud'", 1, "complaint:fraud"},
	    {"Complaint", "'complaintFeedbackType':'virus'", 1, "complaint:virus"},
	    {"Complaint", "'complaintFeedbackType':'other'", 1, "complaint:other"},
	    {"Complaint", "'complaintFeedbackType':'auth-failure'", 1, "complaint:auth-failure"},
	    {"Complaint", "'complaintFeedbackType':'not-spam'", 0, NULL},
	    {"Complaint", "'complaintFeedbackType':'Not-Spam'", 0, NULL},
	    {"Complaint", "", 1, "complaint"},
	    {"Complaint", "'complaintFeedbackType':null", 1, "complaint"},
	    {"Complaint", "'complaintFeedbackType':'a b'", 1, "complaint"},
	    {"Complaint", "'complaintSubType':'OnAccountSuppressionList'", 1, "complaint"},
	    {"Delivery", "'smtpResponse':'250 ok'", 0, NULL},
	    {"DeliveryDelay", "'delayType':'MailboxFull'", 0, NULL},
	    {"Send", "", 0, NULL},
	    {"Reject", "'reason':'Bad content'", 0, NULL},
	    {"Open", "", 0, NULL},
	    {"Click", "", 0, NULL},
	    {"Rendering Failure", "", 0, NULL},
	    {"Subscription", "'newTopicPreferences':{'unsubscribeAll':true}", 0, NULL},
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		char rec[2048];
		struct ses_event e;
		const char *dkey = "", *lkey = "";

		detail_keys(m[i].type, &dkey, &lkey);
		snprintf(rec, sizeof(rec),
		         "{'eventType':'%s','%s':{%s%s'%s':[{'emailAddress':'a@example.com'},"
		         "{'emailAddress':'b@example.com'}]}," MAIL_TAGGED(
		             "'a@example.com','b@example.com'") "}",
		         m[i].type, dkey, m[i].detail, m[i].detail[0] ? "," : "", lkey);
		ok(rec, &e);
		assert_int_equal(ses_event_nrecipients(&e), 2);
		for (size_t k = 0; k < 2; k++) {
			const char *why = "unset";
			int got = ses_event_suppresses(&e, k, &why);
			if (got != m[i].want)
				fail_msg("case %zu (%s {%s}) rcpt %zu: got %d", i, m[i].type,
				         m[i].detail, k, got);
			if (m[i].reason)
				assert_string_equal(why, m[i].reason);
			else
				assert_null(why);
		}
		if (!m[i].want)
			assert_null(e.suppress_reason);
		/* out of range is never suppressed */
		assert_int_equal(ses_event_suppresses(&e, 2, NULL), 0);
		assert_int_equal(ses_event_suppresses(&e, (size_t)-1, NULL), 0);
		ses_event_free(&e);
	}
	assert_int_equal(ses_event_suppresses(NULL, 0, NULL), 0);
	assert_int_equal(ses_event_nrecipients(NULL), 0);
	assert_null(ses_event_recipient(NULL, 0));
}

/* Reusing one struct across many parses (the events thread's pattern)
 * leaks nothing under ASan/LSan when each parse is freed. */
static void test_reuse(void **state)
{
	(void)state;
	struct ses_event e;

	for (int i = 0; i < 50; i++) {
		ok(i % 2 ? "{'eventType':'Bounce','bounce':{'bounceType':'Permanent',"
		           "'bouncedRecipients':[{'emailAddress':'a@example.com'}]},"
		           "'mail':{'messageId':'m-1'}}"
		         : "{'eventType':'Subscription','subscription':{'newTopicPreferences':{}},"
		           "'mail':{'messageId':'m-2','destination':['a@example.com']}}",
		   &e);
		assert_int_equal(ses_event_nrecipients(&e), 1);
		ses_event_free(&e);
	}
	/* A failed parse after a good one leaves the struct zeroed. */
	ok("{'eventType':'Send','mail':{'messageId':'m-1','destination':['a@example.com']}}", &e);
	ses_event_free(&e);
	assert_int_equal(ses_event_parse("{", 1, &e, NULL, 0), -1);
	assert_null(e.message_id);
	assert_null(e.destination.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_type_names),
	    cmocka_unit_test(test_bounce),
	    cmocka_unit_test(test_complaint),
	    cmocka_unit_test(test_delivery),
	    cmocka_unit_test(test_send_reject),
	    cmocka_unit_test(test_open_click),
	    cmocka_unit_test(test_rendering_failure),
	    cmocka_unit_test(test_delivery_delay),
	    cmocka_unit_test(test_subscription),
	    cmocka_unit_test(test_notification_spelling),
	    cmocka_unit_test(test_tags),
	    cmocka_unit_test(test_huge_lists),
	    cmocka_unit_test(test_text_bounds),
	    cmocka_unit_test(test_unicode_addresses),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_wrong_types),
	    cmocka_unit_test(test_missing_details),
	    cmocka_unit_test(test_unknown_type),
	    cmocka_unit_test(test_suppression_matrix),
	    cmocka_unit_test(test_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
