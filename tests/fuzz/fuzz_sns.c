/*
 * fuzz_sns.c - libFuzzer target for what the SNS endpoint reads from the
 * network: the SNS message envelope (aws/sns.c: sns_parse, the string to
 * sign, the SigningCertURL and topic checks, the signature check against a
 * fixed certificate) and the SES event record inside a Notification
 * (ses_event.c).  Fetching certificates is not here: no I/O at all.
 *
 * Octet 0 picks what the rest is (its value modulo 4):
 *   0  an SNS POST body; a Notification's Message goes on to ses_event_parse
 *   1  an SES event record
 *   2  "PATTERN\nURL": sns_cert_url_ok, and the whole as a topic ARN
 *   3  a Timestamp for sns_timestamp
 * Octet 1 is spent on options (which sns_verify checks to ask for).
 * Every documented guarantee of a successful parse is checked with abort();
 * everything is freed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "aws/sns.h"
#include "keys.h"
#include "ses_event.h"



/* Amazon's genuine signing certificate of tests/data/sns (public). */
static const char cert_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIF1zCCBL+gAwIBAgIQB9pYWG3Mi7xej22g9pobJTANBgkqhkiG9w0BAQsFADBG\n"
	"MQswCQYDVQQGEwJVUzEPMA0GA1UEChMGQW1hem9uMRUwEwYDVQQLEwxTZXJ2ZXIg\n"
	"Q0EgMUIxDzANBgNVBAMTBkFtYXpvbjAeFw0yMTA5MDcwMDAwMDBaFw0yMjA4MTcy\n"
	"MzU5NTlaMBwxGjAYBgNVBAMTEXNucy5hbWF6b25hd3MuY29tMIIBIjANBgkqhkiG\n"
	"9w0BAQEFAAOCAQ8AMIIBCgKCAQEAutFqueT3XgP13udzxE6UpbdjOtVO5DwoMpSM\n"
	"iDNMnGzF1TYH5/R2LPUOBeTB0SkKnR4kpNcUZhicpGD4aKciz/GEZ6wu65xncfT9\n"
	"H/KBOQwoXYTuClHwp6fYpGzcGFaFoEYMnijL/o4qmTSd+ukglQUgKpsDw4ofw6rU\n"
	"m2CttJo+GQSNQ9NfGR1h/0J+zsApkeSYrXRx5wNlu87z8os1C/6PBrUHwt3xXeaf\n"
	"Xzfwut8aRRYsS8BySOA9DAgLfNHlfdQCjKPXKrG/ussgReyWD6n/HH+j7Uha3xos\n"
	"TzQqJifcxlTq6MxWdPR6fDaJNvqw6DOE7UjUNxHguXHlVfxhlQIDAQABo4IC6TCC\n"
	"AuUwHwYDVR0jBBgwFoAUWaRmBlKge5WSPKOUByeWdFv5PdAwHQYDVR0OBBYEFAqz\n"
	"C+vyouneE7mWWLbi9i0UsWUbMBwGA1UdEQQVMBOCEXNucy5hbWF6b25hd3MuY29t\n"
	"MA4GA1UdDwEB/wQEAwIFoDAdBgNVHSUEFjAUBggrBgEFBQcDAQYIKwYBBQUHAwIw\n"
	"OwYDVR0fBDQwMjAwoC6gLIYqaHR0cDovL2NybC5zY2ExYi5hbWF6b250cnVzdC5j\n"
	"b20vc2NhMWIuY3JsMBMGA1UdIAQMMAowCAYGZ4EMAQIBMHUGCCsGAQUFBwEBBGkw\n"
	"ZzAtBggrBgEFBQcwAYYhaHR0cDovL29jc3Auc2NhMWIuYW1hem9udHJ1c3QuY29t\n"
	"MDYGCCsGAQUFBzAChipodHRwOi8vY3J0LnNjYTFiLmFtYXpvbnRydXN0LmNvbS9z\n"
	"Y2ExYi5jcnQwDAYDVR0TAQH/BAIwADCCAX0GCisGAQQB1nkCBAIEggFtBIIBaQFn\n"
	"AHYAKXm+8J45OSHwVnOfY6V35b5XfZxgCvj5TV0mXCVdx4QAAAF7vfDVkQAABAMA\n"
	"RzBFAiEA2XfHuy36aqRFiaL8c3md2mH451go8707+fRE0pEdSRACIE/g5FXTUXUZ\n"
	"PFcmOhm9TZ+uMY1i4CIQ/CKVWln6C3t+AHYAUaOw9f0BeZxWbbg3eI8MpHrMGyfL\n"
	"956IQpoN/tSLBeUAAAF7vfDVjAAABAMARzBFAiBF1MhhFP0+FQt3daDFfMYoWwnr\n"
	"muTInrjNpwfzlvQBugIhAPYadFzr+LaxSJoiZEbEHBvTts7bT0M3eCQONA2O7w6n\n"
	"AHUAQcjKsd8iRkoQxqE6CUKHXk4xixsD6+tLx2jwkGKWBvYAAAF7vfDVdAAABAMA\n"
	"RjBEAiAtPapmFAuA71ih4NoSd5hJelzAltNQpxDMcDfDyHyU8gIgWxmaa6+2KbBu\n"
	"9xdv379zvnJACFR7jc+4asl08Dn4aagwDQYJKoZIhvcNAQELBQADggEBAA54QX0u\n"
	"oFWXfMmv02CGZv4NWo5TapyeeixQ2kKpZHRdVZjxZrw+hoF6HD7P3kGjH8ztyJll\n"
	"tDxB0qgMltbPhQdScwhA6iTgoaBYqEUC/VHKd4PmmPT6yIsM36NBZVmkGlzl5uNo\n"
	"/dBgBaG0SsVJnhr5zro3c2quC7n6fVGEZhf/UgQwRnnvThnvbNKguglDMq4uEqv8\n"
	"njKyleht+glkcmXO0m9qLKt6BOS0amy6U2GlAwRn0Wx02ndJtnRCSC6kPuRWK/SQ\n"
	"FEjB7gCK4hdKaAOuWdZpI55vF6ifOeM8toC3g7ofO8qLTnJupAG+ZitY5J3cvHWr\n"
	"HqOUdKigPDHYLRo=\n"
	"-----END CERTIFICATE-----\n";

/* A NUL-terminated heap copy of N octets (the parsers take lengths, the
 * helpers strings). */
static char *dupn(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	CHECK(s);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void check_len(const char *s, size_t max, int required)
{
	if (!s) {
		CHECK(!required);
		return;
	}
	CHECK(strlen(s) <= max);
}

/* Printable ASCII only, between MIN and MAX octets. */
static int printable(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static int all_digits(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* Free text of a record: NULL, or 1..CAP octets of UTF-8 without controls. */
static void text_ok(const char *s, size_t cap)
{
	if (!s)
		return;
	size_t n = strlen(s);
	CHECK(n > 0 && n <= cap);
	for (size_t i = 0; i < n;) {
		size_t k = util_utf8_seq((const unsigned char *)s + i, n - i);
		CHECK(k > 0 && (k > 1 || ((unsigned char)s[i] >= 0x20 && s[i] != 0x7f)));
		i += k;
	}
}

/* An identifier of a record: NULL, or 1..CAP printable ASCII, no spaces. */
static void id_ok(const char *s, size_t cap)
{
	CHECK(!s || printable(s, 1, cap));
}

static void check_rcpts(const struct ses_event_rcpts *r)
{
	CHECK(r->n <= SES_EV_RCPT_MAX && (r->n == 0 || r->v));
	CHECK(r->n_over == 0 || r->n == SES_EV_RCPT_MAX);
	for (size_t i = 0; i < r->n; i++) {
		const char *a = r->v[i].address;
		CHECK(a && strchr(a, '@'));
		text_ok(a, SES_EV_ADDR_MAX);
		text_ok(r->v[i].status, SES_EV_WORD_MAX);
		text_ok(r->v[i].action, SES_EV_WORD_MAX);
		text_ok(r->v[i].diagnostic, SES_EV_TEXT_MAX);
	}
}

/* Every string of a parsed record against its documented shape. */
static void check_fields(const struct ses_event *e)
{
	text_ok(e->type_text, SES_EV_WORD_MAX);
	id_ok(e->timestamp, SES_EV_ID_MAX);
	text_ok(e->source, SES_EV_TEXT_MAX);
	id_ok(e->source_arn, SES_EV_ID_MAX);
	id_ok(e->event_time, SES_EV_ID_MAX);
	text_ok(e->bounce.type_text, SES_EV_WORD_MAX);
	text_ok(e->bounce.subtype, SES_EV_WORD_MAX);
	id_ok(e->bounce.feedback_id, SES_EV_ID_MAX);
	text_ok(e->bounce.reporting_mta, SES_EV_ID_MAX);
	id_ok(e->bounce.remote_mta_ip, SES_EV_WORD_MAX);
	text_ok(e->complaint.feedback_type, SES_EV_WORD_MAX);
	text_ok(e->complaint.subtype, SES_EV_WORD_MAX);
	id_ok(e->complaint.feedback_id, SES_EV_ID_MAX);
	text_ok(e->complaint.user_agent, SES_EV_TEXT_MAX);
	id_ok(e->complaint.arrival_date, SES_EV_ID_MAX);
	text_ok(e->delivery.smtp_response, SES_EV_TEXT_MAX);
	text_ok(e->delivery.reporting_mta, SES_EV_ID_MAX);
	id_ok(e->delivery.remote_mta_ip, SES_EV_WORD_MAX);
	text_ok(e->reject.reason, SES_EV_TEXT_MAX);
	id_ok(e->open.ip_address, SES_EV_WORD_MAX);
	text_ok(e->open.user_agent, SES_EV_TEXT_MAX);
	text_ok(e->click.link, SES_EV_URL_MAX);
	id_ok(e->click.ip_address, SES_EV_WORD_MAX);
	text_ok(e->click.user_agent, SES_EV_TEXT_MAX);
	text_ok(e->failure.error_message, SES_EV_TEXT_MAX);
	text_ok(e->failure.template_name, SES_EV_ID_MAX);
	text_ok(e->delay.delay_type, SES_EV_WORD_MAX);
	id_ok(e->delay.expiration_time, SES_EV_ID_MAX);
	text_ok(e->delay.reporting_mta, SES_EV_ID_MAX);
	text_ok(e->subscription.contact_list, SES_EV_ID_MAX);
	text_ok(e->subscription.source, SES_EV_WORD_MAX);
	CHECK(!e->subscription.new_prefs || strlen(e->subscription.new_prefs) <= SES_EV_JSON_MAX);
	CHECK(!e->subscription.old_prefs || strlen(e->subscription.old_prefs) <= SES_EV_JSON_MAX);
	check_rcpts(&e->destination);
	check_rcpts(&e->bounce.rcpts);
	check_rcpts(&e->complaint.rcpts);
	check_rcpts(&e->delivery.rcpts);
	check_rcpts(&e->delay.rcpts);
}

static void fuzz_ses_event(const char *json, size_t len)
{
	struct ses_event e;
	char err[128];

	memset(&e, 0x5a, sizeof(e));
	memset(err, 'x', sizeof(err));
	if (ses_event_parse(json, len, &e, err, sizeof(err)) < 0) {
		CHECK(strnlen(err, sizeof(err)) < sizeof(err) && err[0]);
		CHECK(!e.message_id && !e.type_text && e.destination.n == 0 && !e.suppress_reason);
		ses_event_free(&e);
		return;
	}
	CHECK(err[0] == '\0');
	CHECK(e.type <= SES_EV_UNKNOWN && e.type_text && e.type_text[0]);
	CHECK(e.notification == 0 || e.notification == 1);
	CHECK(e.message_id && printable(e.message_id, 1, SES_EV_ID_MAX));
	CHECK(e.account_id[0] == '\0' || all_digits(e.account_id, 12));
	CHECK(e.qid[0] == '\0' || strlen(e.qid) == QUEUE_ID_LEN);
	CHECK(e.tenant_id[0] == '\0' || key_valid_tenant_id(e.tenant_id));
	CHECK(ses_event_type_parse(ses_event_type_name(e.type)) == e.type);
	CHECK(ses_event_type_name(e.type) && ses_bounce_type_name(e.bounce.type));
	check_fields(&e);
	if (e.type != SES_EV_UNKNOWN)
		CHECK(ses_event_type_parse(e.type_text) == e.type);
	CHECK(e.subscription.unsubscribe_all >= -1 && e.subscription.unsubscribe_all <= 1);

	size_t n = ses_event_nrecipients(&e);
	CHECK(n <= SES_EV_RCPT_MAX);
	CHECK(ses_event_recipient(&e, n) == NULL);
	for (size_t i = 0; i < n; i++) {
		const char *why = "unset";
		CHECK(ses_event_recipient(&e, i) != NULL);
		int s = ses_event_suppresses(&e, i, &why);
		if (s) {
			CHECK(why && (strncmp(why, "bounce:Permanent", 16) == 0 ||
				      strncmp(why, "complaint", 9) == 0));
			CHECK(e.type == SES_EV_BOUNCE || e.type == SES_EV_COMPLAINT);
			CHECK(e.type != SES_EV_BOUNCE || e.bounce.type == SES_BOUNCE_PERMANENT);
		} else {
			CHECK(s == 0 && why == NULL);
		}
	}
	CHECK(ses_event_suppresses(&e, n, NULL) == 0);
	ses_event_free(&e);
	CHECK(e.message_id == NULL && e.destination.n == 0);
	ses_event_free(&e); /* idempotent */
}

static void fuzz_sns_body(const char *body, size_t len, uint8_t opts)
{
	struct sns_msg m;
	char err[128];

	memset(&m, 0x5a, sizeof(m));
	memset(err, 'x', sizeof(err));
	if (sns_parse(body, len, &m, err, sizeof(err)) < 0) {
		CHECK(strnlen(err, sizeof(err)) < sizeof(err) && err[0]);
		CHECK(!m.message_id && !m.topic_arn && !m.message && !m.signature &&
		      !m.signing_cert_url && !m.subscribe_url && !m.token && !m.subject);
		sns_msg_free(&m);
		return;
	}
	CHECK(len <= SNS_BODY_MAX);
	CHECK(m.type >= SNS_NOTIFICATION && m.type <= SNS_UNSUBSCRIBE_CONFIRMATION);
	CHECK(strcmp(sns_type_name(m.type), "?") != 0);
	check_len(m.message_id, SNS_ID_MAX, 1);
	check_len(m.topic_arn, SNS_ARN_MAX, 1);
	check_len(m.message, SNS_MESSAGE_MAX, 1);
	check_len(m.timestamp, SNS_TIMESTAMP_MAX, 1);
	check_len(m.signature_version, SNS_SIGVER_MAX, 1);
	check_len(m.signature, SNS_SIG_MAX, 1);
	check_len(m.signing_cert_url, SNS_URL_MAX, 1);
	CHECK(m.message_id[0] && m.topic_arn[0] && m.timestamp[0] && m.signature[0]);
	if (m.type == SNS_NOTIFICATION) {
		CHECK(!m.subscribe_url && !m.token);
		check_len(m.subject, SNS_SUBJECT_MAX, 0);
		check_len(m.unsubscribe_url, SNS_URL_MAX, 0);
	} else {
		CHECK(!m.subject && !m.unsubscribe_url);
		check_len(m.subscribe_url, SNS_URL_MAX, 1);
		check_len(m.token, SNS_TOKEN_MAX, 1);
	}

	size_t stslen = 0;
	char *sts = sns_string_to_sign(&m, &stslen);
	CHECK(sts && strlen(sts) == stslen && strncmp(sts, "Message\n", 8) == 0);
	free(sts);

	int url_ok = sns_cert_url_ok(m.signing_cert_url, NULL);
	CHECK(url_ok == 0 || url_ok == 1);
	CHECK(!url_ok || strncasecmp(m.signing_cert_url, "https://", 8) == 0);

	char account[SNS_ACCOUNT_LEN + 1];
	if (sns_account_of_topic(m.topic_arn, account) == 0)
		CHECK(all_digits(account, SNS_ACCOUNT_LEN) && strstr(m.topic_arn, account));
	else
		CHECK(account[0] == '\0');
	const char *const allowed[] = {m.topic_arn, "arn:aws:sns:us-east-2:295079676684:x"};
	CHECK(sns_topic_allowed(m.topic_arn, allowed, 2) == 1);
	CHECK(sns_topic_allowed(m.topic_arn, allowed, 0) == 0);
	time_t ts;
	sns_timestamp(&m, &ts);

	/* The checks the endpoint asks for, picked by OPTS; the fuzzer cannot
	 * forge a signature, so success is impossible unless the input is a
	 * genuine message for this certificate. */
	struct sns_verify_opts vo = {0};
	if (opts & 1)
		vo.now = 1659043438; /* the genuine messages' Timestamp */
	if (opts & 2) {
		vo.ca_pem = cert_pem;
		vo.ca_len = sizeof(cert_pem) - 1;
	}
	if (opts & 4)
		vo.cert_host = "sns.us-east-2.amazonaws.com";
	if (sns_verify(&m, cert_pem, sizeof(cert_pem) - 1, (opts & 7) ? &vo : NULL, err,
		       sizeof(err)) < 0)
		CHECK(strnlen(err, sizeof(err)) < sizeof(err) && err[0]);

	if (m.type == SNS_NOTIFICATION)
		fuzz_ses_event(m.message, strlen(m.message));
	sns_msg_free(&m);
	CHECK(!m.message && !m.signature);
	sns_msg_free(&m); /* idempotent */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const uint8_t *in = data + 2;
	size_t len = size - 2;
	switch (data[0] % 4) {
	case 0:
		fuzz_sns_body((const char *)in, len, data[1]);
		break;
	case 1:
		fuzz_ses_event((const char *)in, len);
		break;
	case 2: {
		char *s = dupn(in, len);
		char *nl = strchr(s, '\n');
		const char *pattern = NULL, *url = s;
		if (nl) {
			*nl = '\0';
			pattern = s;
			url = nl + 1;
		}
		int ok = sns_cert_url_ok(url, pattern);
		CHECK(ok == 0 || ok == 1);
		CHECK(!ok || (strlen(url) <= SNS_URL_MAX && strncasecmp(url, "https://", 8) == 0 &&
			      strlen(url) > 4 && strcmp(url + strlen(url) - 4, ".pem") == 0 &&
			      !strchr(url, '?') && !strchr(url, '#') && !strchr(url, '@')));
		if (nl)
			*nl = '\n';
		char account[SNS_ACCOUNT_LEN + 1];
		if (sns_account_of_topic(s, account) == 0)
			CHECK(all_digits(account, SNS_ACCOUNT_LEN) && strncmp(s, "arn:", 4) == 0);
		else
			CHECK(account[0] == '\0');
		free(s);
		break;
	}
	default: {
		struct sns_msg m = {0};
		time_t t;
		m.timestamp = dupn(in, len);
		if (sns_timestamp(&m, &t) == 0)
			CHECK(strlen(m.timestamp) >= 10);
		sns_msg_free(&m);
		break;
	}
	}
	return 0;
}
