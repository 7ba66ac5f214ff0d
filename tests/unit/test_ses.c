/*
 * Unit tests of src/aws/ses.c: the SendEmail JSON body (checked by parsing
 * it back with jansson and decoding the blob), error classification for
 * every SES error named in doc AWS.md section 1 plus the token, clock and
 * throttling codes of the other AWS services, restJson1 code extraction and
 * sanitising, and the SendEmail / GetAccount response parsers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws/ses.h"
#include "base64.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* ---- SendEmail body ---- */

/* Parse @body as JSON; it must be one object and exactly @len bytes. */
static json_t *parse_body(const char *body, size_t len)
{
	json_error_t err;
	json_t *j;

	assert_non_null(body);
	assert_int_equal(strlen(body), len);
	j = json_loadb(body, len, 0, &err);
	if (!j)
		fail_msg("invalid JSON: %s at %d", err.text, err.position);
	assert_true(json_is_object(j));
	return j;
}

/* Decode Content.Raw.Data and compare with @raw. */
static void assert_data(json_t *j, const void *raw, size_t n)
{
	const char *b64 = json_string_value(
	    json_object_get(json_object_get(json_object_get(j, "Content"), "Raw"), "Data"));
	unsigned char *dec;
	long got;

	assert_non_null(b64);
	assert_int_equal(strlen(b64), base64_encoded_len(n));
	dec = malloc(n + 1);
	assert_non_null(dec);
	got = base64_decode(b64, strlen(b64), dec, n + 1);
	assert_int_equal(got, (long)n);
	assert_memory_equal(dec, raw, n);
	free(dec);
}

static const char *to_list(json_t *j, size_t i)
{
	json_t *a = json_object_get(json_object_get(j, "Destination"), "ToAddresses");

	assert_true(json_is_array(a));
	return json_string_value(json_array_get(a, i));
}

static const char *tag(json_t *j, const char *name)
{
	json_t *tags = json_object_get(j, "EmailTags");
	size_t i;
	json_t *t;

	json_array_foreach(tags, i, t)
	{
		if (strcmp(json_string_value(json_object_get(t, "Name")), name) == 0)
			return json_string_value(json_object_get(t, "Value"));
	}
	return NULL;
}

static void test_body_fields(void **state)
{
	(void)state;
	static const char raw[] = "From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n";
	const char *rcpts[] = {"b@example.net", "c@example.org"};
	struct ses_send s = {
	    .raw = raw,
	    .raw_len = sizeof(raw) - 1,
	    .from = "bounce@example.com",
	    .rcpts = rcpts,
	    .nrcpt = 2,
	    .config_set = "sesgate-acme",
	    .qid = "0KHZ9Q3M4N5P6R7S",
	    .tenant_id = "4c1d0a9e7f2b8c35",
	    .tenant_name = "acme",
	};
	size_t len = 0;
	char *b = ses_send_email_body(&s, &len);
	json_t *j = parse_body(b, len);

	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(j, "Destination"), "ToAddresses")), 2);
	assert_string_equal(to_list(j, 0), "b@example.net");
	assert_string_equal(to_list(j, 1), "c@example.org");
	assert_string_equal(json_string_value(json_object_get(j, "FromEmailAddress")),
	                    "bounce@example.com");
	assert_string_equal(json_string_value(json_object_get(j, "ConfigurationSetName")),
	                    "sesgate-acme");
	assert_string_equal(json_string_value(json_object_get(j, "TenantName")), "acme");
	assert_int_equal(json_array_size(json_object_get(j, "EmailTags")), 2);
	assert_string_equal(tag(j, "sesgate-qid"), "0KHZ9Q3M4N5P6R7S");
	assert_string_equal(tag(j, "sesgate-tenant"), "4c1d0a9e7f2b8c35");
	/* Nothing else: no Cc/Bcc, no Simple content. */
	assert_int_equal(json_object_size(j), 6);
	assert_int_equal(json_object_size(json_object_get(j, "Content")), 1);
	assert_data(j, raw, sizeof(raw) - 1);
	json_decref(j);
	free(b);
}

static void test_body_optional_absent(void **state)
{
	(void)state;
	const char *rcpts[] = {"b@example.net"};
	struct ses_send s = {.raw = "x", .raw_len = 1, .rcpts = rcpts, .nrcpt = 1};
	size_t len;
	char *b;
	json_t *j;

	/* NULL sender, no config set, no tags, no tenant. */
	b = ses_send_email_body(&s, &len);
	j = parse_body(b, len);
	assert_null(json_object_get(j, "FromEmailAddress"));
	assert_null(json_object_get(j, "ConfigurationSetName"));
	assert_null(json_object_get(j, "EmailTags"));
	assert_null(json_object_get(j, "TenantName"));
	assert_data(j, "x", 1);
	json_decref(j);
	free(b);

	/* "" means the same as NULL. */
	s.from = "";
	s.config_set = "";
	s.tenant_name = "";
	b = ses_send_email_body(&s, &len);
	j = parse_body(b, len);
	assert_int_equal(json_object_size(j), 2);
	json_decref(j);
	free(b);
}

static void test_body_binary_roundtrip(void **state)
{
	(void)state;
	const char *rcpts[] = {"b@example.net"};
	unsigned char raw[1024];
	struct ses_send s = {.raw = raw, .rcpts = rcpts, .nrcpt = 1};

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 7 + (i >> 8));
	raw[0] = 0;
	raw[1] = 0xff;
	raw[2] = '"';
	raw[3] = '\\';
	/* Every length mod 3 (padding cases), including empty. */
	for (size_t n = 0; n <= 7; n++) {
		size_t len;
		char *b;
		json_t *j;

		s.raw_len = n;
		b = ses_send_email_body(&s, &len);
		j = parse_body(b, len);
		assert_data(j, raw, n);
		json_decref(j);
		free(b);
	}
	s.raw_len = sizeof(raw);
	{
		size_t len;
		char *b = ses_send_email_body(&s, &len);
		json_t *j = parse_body(b, len);
		assert_data(j, raw, sizeof(raw));
		json_decref(j);
		free(b);
	}
}

static void test_body_large(void **state)
{
	(void)state;
	const char *rcpts[] = {"b@example.net"};
	size_t n = 3u * 1024 * 1024 + 2;
	unsigned char *raw = malloc(n);
	uint32_t x = 2463534242u;
	struct ses_send s = {.raw = raw, .raw_len = n, .rcpts = rcpts, .nrcpt = 1};
	size_t len;
	char *b;
	json_t *j;

	assert_non_null(raw);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		raw[i] = (unsigned char)x;
	}
	b = ses_send_email_body(&s, &len);
	j = parse_body(b, len);
	assert_data(j, raw, n);
	json_decref(j);
	free(b);
	free(raw);
}

static void test_body_escaping(void **state)
{
	(void)state;
	const char *rcpts[] = {
	    "\"quoted \\\" name\"@example.com",
	    "ctl\x01\x1f\x7f\t\r\n@example.com",
	    "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a",
	    "emoji\xf0\x9f\x98\x80@example.com",
	    "slash/</script>@example.com",
	};
	struct ses_send s = {
	    .raw = "x",
	    .raw_len = 1,
	    .from = "j\xc3\xb6rg@example.de",
	    .rcpts = rcpts,
	    .nrcpt = 5,
	    .config_set = "cs\"}],\"Evil\":1,\"x\":\"",
	};
	size_t len;
	char *b = ses_send_email_body(&s, &len);
	json_t *j = parse_body(b, len);

	for (size_t i = 0; i < 5; i++)
		assert_string_equal(to_list(j, i), rcpts[i]);
	assert_string_equal(json_string_value(json_object_get(j, "FromEmailAddress")),
	                    "j\xc3\xb6rg@example.de");
	assert_string_equal(json_string_value(json_object_get(j, "ConfigurationSetName")),
	                    s.config_set);
	assert_null(json_object_get(j, "Evil"));
	/* Control characters never appear raw in the body. */
	for (size_t i = 0; i < len; i++)
		assert_true((unsigned char)b[i] >= 0x20 && b[i] != 0x7f);
	assert_non_null(strstr(b, "ctl\\u0001\\u001f\\u007f\\t\\r\\n@"));
	/* UTF-8 is kept as is, not \u-escaped. */
	assert_non_null(strstr(b, "j\xc3\xb6rg@"));
	json_decref(j);
	free(b);
}

static void test_body_refused(void **state)
{
	(void)state;
	const char *rcpts[SES_MAX_RCPTS + 1];
	struct ses_send s = {.raw = "x", .raw_len = 1, .rcpts = rcpts};
	size_t len;
	char *b;
	json_t *j;

	for (size_t i = 0; i <= SES_MAX_RCPTS; i++)
		rcpts[i] = "r@example.com";
	s.nrcpt = 0;
	assert_null(ses_send_email_body(&s, &len));
	s.nrcpt = SES_MAX_RCPTS + 1;
	assert_null(ses_send_email_body(&s, &len));
	s.nrcpt = SES_MAX_RCPTS;
	b = ses_send_email_body(&s, &len);
	j = parse_body(b, len);
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(j, "Destination"), "ToAddresses")),
	    SES_MAX_RCPTS);
	json_decref(j);
	free(b);

	/* Invalid UTF-8 cannot be JSON: refused, wherever it is. */
	s.nrcpt = 1;
	rcpts[0] = "bad\xff@example.com";
	assert_null(ses_send_email_body(&s, &len));
	rcpts[0] = "overlong\xc0\xaf@example.com";
	assert_null(ses_send_email_body(&s, &len));
	rcpts[0] = "surrogate\xed\xa0\x80@example.com";
	assert_null(ses_send_email_body(&s, &len));
	rcpts[0] = "cut\xe4\xbe@example.com";
	assert_null(ses_send_email_body(&s, &len));
	rcpts[0] = "r@example.com";
	s.from = "\xfe@example.com";
	assert_null(ses_send_email_body(&s, &len));
	s.from = NULL;
	s.tenant_name = "t\x80";
	assert_null(ses_send_email_body(&s, &len));
	s.tenant_name = NULL;

	rcpts[0] = "";
	assert_null(ses_send_email_body(&s, &len));
	rcpts[0] = NULL;
	assert_null(ses_send_email_body(&s, &len));
	assert_null(ses_send_email_body(NULL, &len));
}

static void test_body_tags(void **state)
{
	(void)state;
	const char *rcpts[] = {"b@example.net"};
	char long_ok[SES_TAG_VALUE_MAX + 1], too_long[SES_TAG_VALUE_MAX + 2];
	struct ses_send s = {.raw = "x", .raw_len = 1, .rcpts = rcpts, .nrcpt = 1};
	size_t len;
	char *b;
	json_t *j;

	memset(long_ok, 'a', SES_TAG_VALUE_MAX);
	long_ok[SES_TAG_VALUE_MAX] = '\0';
	memset(too_long, 'b', SES_TAG_VALUE_MAX + 1);
	too_long[SES_TAG_VALUE_MAX + 1] = '\0';

	/* An invalid value is left out, the valid one stays. */
	s.qid = "Q_1-z";
	s.tenant_id = "acme.corp";
	b = ses_send_email_body(&s, &len);
	j = parse_body(b, len);
	assert_int_equal(json_array_size(json_object_get(j, "EmailTags")), 1);
	assert_string_equal(tag(j, "sesgate-qid"), "Q_1-z");
	assert_null(tag(j, "sesgate-tenant"));
	json_decref(j);
	free(b);

	s.qid = "";
	s.tenant_id = long_ok;
	b = ses_send_email_body(&s, &len);
	j = parse_body(b, len);
	assert_int_equal(json_array_size(json_object_get(j, "EmailTags")), 1);
	assert_string_equal(tag(j, "sesgate-tenant"), long_ok);
	json_decref(j);
	free(b);

	s.qid = "sp ace";
	s.tenant_id = too_long;
	b = ses_send_email_body(&s, &len);
	j = parse_body(b, len);
	assert_null(json_object_get(j, "EmailTags"));
	json_decref(j);
	free(b);

	s.qid = "\xc3\xa9";
	s.tenant_id = "a\"b";
	b = ses_send_email_body(&s, &len);
	j = parse_body(b, len);
	assert_null(json_object_get(j, "EmailTags"));
	json_decref(j);
	free(b);
}

/* ---- Classification ---- */

struct ccase {
	long status;
	const char *hdr;
	const char *body;
	enum ses_outcome want;
	const char *code;
};

static const struct ccase matrix[] = {
    /* SendEmail errors of the SES v2 model, as SES sends them. */
    {400, "MessageRejected", "{\"message\":\"Email address is not verified.\"}", SES_PERMANENT,
     "MessageRejected"},
    {400, "MailFromDomainNotVerifiedException", "{\"message\":\"x\"}", SES_PERMANENT,
     "MailFromDomainNotVerifiedException"},
    {400, "AccountSuspendedException", "{}", SES_HOLD, "AccountSuspendedException"},
    {400, "SendingPausedException", "{}", SES_HOLD, "SendingPausedException"},
    {429, "TooManyRequestsException", "{\"message\":\"Maximum sending rate exceeded.\"}",
     SES_THROTTLED, "TooManyRequestsException"},
    {429, "TooManyRequestsException", "{\"message\":\"Daily message quota exceeded.\"}",
     SES_QUOTA_EXCEEDED, "TooManyRequestsException"},
    {400, "LimitExceededException", "{\"message\":\"too many\"}", SES_PERMANENT,
     "LimitExceededException"},
    {400, "LimitExceededException", "{\"message\":\"Daily message quota exceeded\"}",
     SES_QUOTA_EXCEEDED, "LimitExceededException"},
    {404, "NotFoundException", "{}", SES_PERMANENT, "NotFoundException"},
    {400, "BadRequestException", "{}", SES_PERMANENT, "BadRequestException"},
    /* Other SES v2 errors. */
    {400, "AlreadyExistsException", "{}", SES_PERMANENT, "AlreadyExistsException"},
    {409, "ConflictException", "{}", SES_PERMANENT, "ConflictException"},
    {500, "ConcurrentModificationException", "{}", SES_RETRY, "ConcurrentModificationException"},
    {500, "InternalServiceErrorException", "{}", SES_RETRY, "InternalServiceErrorException"},
    /* Throttling as other services and SES v1 name it. */
    {400, "Throttling", "{\"message\":\"Maximum sending rate exceeded.\"}", SES_THROTTLED,
     "Throttling"},
    {400, "Throttling", "{\"Message\":\"Daily message quota exceeded.\"}", SES_QUOTA_EXCEEDED,
     "Throttling"},
    {400, "ThrottlingException", "{}", SES_THROTTLED, "ThrottlingException"},
    /* Tokens. */
    {403, "ExpiredToken", "{}", SES_CREDS_EXPIRED, "ExpiredToken"},
    {400, "ExpiredTokenException", "{}", SES_CREDS_EXPIRED, "ExpiredTokenException"},
    {403, "InvalidClientTokenId", "{}", SES_CREDS_EXPIRED, "InvalidClientTokenId"},
    {403, "UnrecognizedClientException", "{}", SES_CREDS_EXPIRED, "UnrecognizedClientException"},
    /* Clock and signature: ours, temporary. */
    {403, "RequestTimeTooSkewed", "{}", SES_RETRY, "RequestTimeTooSkewed"},
    {403, "RequestExpired", "{}", SES_RETRY, "RequestExpired"},
    {403, "SignatureDoesNotMatch", "{}", SES_RETRY, "SignatureDoesNotMatch"},
    /* Access denied, any spelling. */
    {403, "AccessDenied", "{}", SES_PERMANENT, "AccessDenied"},
    {403, "AccessDeniedException", "{}", SES_PERMANENT, "AccessDeniedException"},
    /* Unknown codes follow the status. */
    {400, "SomethingNewException", "{}", SES_PERMANENT, "SomethingNewException"},
    {503, "SomethingNewException", "{}", SES_RETRY, "SomethingNewException"},
    {429, "SomethingNewException", "{}", SES_THROTTLED, "SomethingNewException"},
    /* No code at all. */
    {0, NULL, NULL, SES_RETRY, ""},
    {200, NULL, "{\"MessageId\":\"x\"}", SES_OK, ""},
    {204, NULL, "", SES_OK, ""},
    {500, NULL, "", SES_RETRY, ""},
    {502, NULL, "<html>Bad Gateway</html>", SES_RETRY, ""},
    {408, NULL, "", SES_RETRY, ""},
    {429, NULL, "", SES_THROTTLED, ""},
    {413, NULL, "<html>too large</html>", SES_PERMANENT, ""},
    {400, NULL, "not json", SES_RETRY, ""},
    {404, NULL, "<html>no such path</html>", SES_RETRY, ""},
    {301, NULL, "", SES_RETRY, ""},
    /* A 200 with an error body is still a 200. */
    {200, "MessageRejected", "{}", SES_OK, ""},
};

static void test_classify_matrix(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
		const struct ccase *c = &matrix[i];
		char code[64], msg[256];
		enum ses_outcome got;

		got = ses_classify(c->status, c->hdr, c->body, c->body ? strlen(c->body) : 0, code,
		                   sizeof(code), msg, sizeof(msg));
		if (got != c->want || strcmp(code, c->code) != 0)
			fail_msg("case %zu (%ld %s): got %s/%s, want %s/%s", i, c->status,
			         c->hdr ? c->hdr : "-", ses_outcome_name(got), code,
			         ses_outcome_name(c->want), c->code);

		/* The same code in the body instead of the header, all three keys. */
		if (c->hdr && c->status >= 300) {
			static const char *const keys[] = {"code", "Code", "__type"};
			for (size_t k = 0; k < 3; k++) {
				char body[512];
				snprintf(body, sizeof(body), "{\"%s\":\"%s\",\"message\":\"%s\"}",
				         keys[k], c->hdr,
				         c->want == SES_QUOTA_EXCEEDED
				             ? "Daily message quota exceeded."
				             : "m");
				got = ses_classify(c->status, NULL, body, strlen(body), code,
				                   sizeof(code), msg, sizeof(msg));
				if (got != c->want || strcmp(code, c->code) != 0)
					fail_msg("case %zu body key %s: got %s/%s", i, keys[k],
					         ses_outcome_name(got), code);
			}
		}
	}
}

static void test_classify_xml_body(void **state)
{
	(void)state;
	static const char x[] = "<ErrorResponse xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\">"
	                        "<Error><Type>Sender</Type><Code>Throttling</Code>"
	                        "<Message>Maximum sending rate exceeded.</Message></Error>"
	                        "<RequestId>r</RequestId></ErrorResponse>";
	static const char q[] =
	    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
	    "<Message>Daily message quota exceeded.</Message></Error></ErrorResponse>";
	static const char e[] =
	    "<ErrorResponse><Error><Code>ExpiredToken</Code><Message>The security token "
	    "included in the request is expired</Message></Error></ErrorResponse>";
	char code[64], msg[256];

	assert_int_equal(ses_classify(400, NULL, S(x), code, sizeof(code), msg, sizeof(msg)),
	                 SES_THROTTLED);
	assert_string_equal(code, "Throttling");
	assert_string_equal(msg, "Maximum sending rate exceeded.");
	assert_int_equal(ses_classify(400, NULL, S(q), code, sizeof(code), msg, sizeof(msg)),
	                 SES_QUOTA_EXCEEDED);
	assert_int_equal(ses_classify(403, NULL, S(e), code, sizeof(code), msg, sizeof(msg)),
	                 SES_CREDS_EXPIRED);
	assert_string_equal(code, "ExpiredToken");
}

static void test_classify_precedence(void **state)
{
	(void)state;
	char code[64], msg[256];

	/* Header beats body. */
	assert_int_equal(ses_classify(400, "AccountSuspendedException",
	                              S("{\"code\":\"MessageRejected\",\"message\":\"m\"}"), code,
	                              sizeof(code), msg, sizeof(msg)),
	                 SES_HOLD);
	assert_string_equal(code, "AccountSuspendedException");
	assert_string_equal(msg, "m");
	/* "code" beats "Code" beats "__type". */
	assert_int_equal(ses_classify(400, NULL,
	                              S("{\"__type\":\"SendingPausedException\","
	                                "\"Code\":\"AccountSuspendedException\","
	                                "\"code\":\"MessageRejected\"}"),
	                              code, sizeof(code), msg, sizeof(msg)),
	                 SES_PERMANENT);
	assert_string_equal(code, "MessageRejected");
	assert_int_equal(ses_classify(400, NULL,
	                              S("{\"__type\":\"SendingPausedException\","
	                                "\"Code\":\"AccountSuspendedException\"}"),
	                              code, sizeof(code), msg, sizeof(msg)),
	                 SES_HOLD);
	assert_string_equal(code, "AccountSuspendedException");
	/* "message" beats "Message". */
	ses_classify(400, NULL, S("{\"Message\":\"upper\",\"message\":\"lower\"}"), code,
	             sizeof(code), msg, sizeof(msg));
	assert_string_equal(msg, "lower");
	ses_classify(400, NULL, S("{\"Message\":\"upper\"}"), code, sizeof(code), msg, sizeof(msg));
	assert_string_equal(msg, "upper");
	/* An empty header carries nothing: the body's code is used. */
	assert_int_equal(ses_classify(400, "  ", S("{\"code\":\"MessageRejected\"}"), code,
	                              sizeof(code), msg, sizeof(msg)),
	                 SES_PERMANENT);
	assert_string_equal(code, "MessageRejected");
	/* A code that is not a string counts as absent. */
	assert_int_equal(ses_classify(400, NULL, S("{\"code\":42,\"Code\":\"Throttling\"}"), code,
	                              sizeof(code), msg, sizeof(msg)),
	                 SES_THROTTLED);
	assert_string_equal(code, "Throttling");
	assert_int_equal(
	    ses_classify(400, NULL, S("{\"code\":null}"), code, sizeof(code), msg, sizeof(msg)),
	    SES_RETRY);
	assert_string_equal(code, "");
}

static void test_classify_sanitise(void **state)
{
	(void)state;
	char code[64], msg[256];

	assert_int_equal(ses_classify(400,
	                              "MessageRejected:http://internal.amazon.com/coral/"
	                              "com.amazon.coral.validate/",
	                              S("{}"), code, sizeof(code), msg, sizeof(msg)),
	                 SES_PERMANENT);
	assert_string_equal(code, "MessageRejected");
	assert_int_equal(
	    ses_classify(429, NULL,
	                 S("{\"__type\":\"com.amazonaws.email#TooManyRequestsException\"}"), code,
	                 sizeof(code), msg, sizeof(msg)),
	    SES_THROTTLED);
	assert_string_equal(code, "TooManyRequestsException");
	assert_int_equal(ses_classify(400,
	                              "aws.protocoltests.restjson#SendingPausedException:"
	                              "http://internal.amazon.com/coral/com.amazon.coral.validate/",
	                              S(""), code, sizeof(code), msg, sizeof(msg)),
	                 SES_HOLD);
	assert_string_equal(code, "SendingPausedException");
	/* The '#' counts only before the ':'. */
	ses_classify(400, "Foo:bar#baz", S(""), code, sizeof(code), msg, sizeof(msg));
	assert_string_equal(code, "Foo");
	ses_classify(400, "a#b#ExpiredToken", S(""), code, sizeof(code), msg, sizeof(msg));
	assert_string_equal(code, "ExpiredToken");
	/* Blanks trimmed, non-printables made harmless. */
	assert_int_equal(
	    ses_classify(403, " \tExpiredToken \t", S(""), code, sizeof(code), msg, sizeof(msg)),
	    SES_CREDS_EXPIRED);
	assert_string_equal(code, "ExpiredToken");
	ses_classify(400, "Bad\r\nX-Injected: 1", S(""), code, sizeof(code), msg, sizeof(msg));
	assert_string_equal(code, "Bad??X-Injected");
	ses_classify(400, "Ex\xc3\xa9", S(""), code, sizeof(code), msg, sizeof(msg));
	assert_string_equal(code, "Ex??");
	/* Control characters in the message become spaces. */
	ses_classify(400, NULL, S("{\"message\":\"line1\\r\\nline2\\u0000x\\ty\"}"), code,
	             sizeof(code), msg, sizeof(msg));
	/* jansson refuses \u0000 by default, so that body gives no message. */
	assert_string_equal(msg, "");
	ses_classify(400, NULL, S("{\"message\":\"line1\\r\\nline2\\ty\\u007f\"}"), code,
	             sizeof(code), msg, sizeof(msg));
	assert_string_equal(msg, "line1  line2 y ");
}

static void test_classify_buffers(void **state)
{
	(void)state;
	char code[8], msg[6];

	/* NULL buffers are fine. */
	assert_int_equal(
	    ses_classify(400, "MessageRejected", S("{\"message\":\"m\"}"), NULL, 0, NULL, 0),
	    SES_PERMANENT);
	/* A long code is truncated in the output but classified in full. */
	assert_int_equal(ses_classify(400, "AccountSuspendedException", S(""), code, sizeof(code),
	                              msg, sizeof(msg)),
	                 SES_HOLD);
	assert_string_equal(code, "Account");
	/* The message is cut on a UTF-8 boundary: "ab" + 3-byte char + "c". */
	ses_classify(400, NULL, S("{\"message\":\"ab\xe2\x82\xac\xe2\x82\xac\"}"), code,
	             sizeof(code), msg, sizeof(msg));
	assert_string_equal(msg, "ab\xe2\x82\xac");
	/* The quota phrase is found however small the caller's buffer. */
	assert_int_equal(ses_classify(429, NULL,
	                              S("{\"message\":\"Throttling failure: Daily message quota "
	                                "exceeded.\"}"),
	                              code, sizeof(code), msg, sizeof(msg)),
	                 SES_QUOTA_EXCEEDED);
	/* Outputs are reset on success too. */
	assert_int_equal(ses_classify(200, NULL, S("{}"), code, sizeof(code), msg, sizeof(msg)),
	                 SES_OK);
	assert_string_equal(code, "");
	assert_string_equal(msg, "");
	/* Junk bodies. */
	assert_int_equal(ses_classify(500, NULL, "\0\0\0", 3, code, sizeof(code), msg, sizeof(msg)),
	                 SES_RETRY);
	assert_int_equal(ses_classify(400, NULL, S("[\"code\",\"MessageRejected\"]"), code,
	                              sizeof(code), msg, sizeof(msg)),
	                 SES_RETRY);
	assert_int_equal(ses_classify(400, NULL, NULL, 0, code, sizeof(code), msg, sizeof(msg)),
	                 SES_RETRY);
	assert_string_equal(ses_outcome_name(SES_QUOTA_EXCEEDED), "quota_exceeded");
}

/* ---- Responses ---- */

static void test_parse_send_response(void **state)
{
	(void)state;
	char id[80];
	char small[10];

	assert_int_equal(
	    ses_parse_send_response(S("{\"MessageId\":\"0100018c1d2e3f4a-5b6c7d8e-9f01-2345-6789-"
	                              "abcdef012345-000000\"}"),
	                            id, sizeof(id)),
	    0);
	assert_string_equal(id, "0100018c1d2e3f4a-5b6c7d8e-9f01-2345-6789-abcdef012345-000000");
	assert_int_equal(
	    ses_parse_send_response(S("{\"MessageId\":\"0123456789\"}"), small, sizeof(small)), -1);
	assert_string_equal(small, "");
	assert_int_equal(
	    ses_parse_send_response(S("{\"MessageId\":\"012345678\"}"), small, sizeof(small)), 0);
	assert_int_equal(ses_parse_send_response(S("{\"MessageId\":\"\"}"), id, sizeof(id)), -1);
	assert_int_equal(ses_parse_send_response(S("{\"MessageId\":5}"), id, sizeof(id)), -1);
	assert_int_equal(ses_parse_send_response(S("{\"messageId\":\"x\"}"), id, sizeof(id)), -1);
	assert_int_equal(ses_parse_send_response(S("{\"MessageId\":\"a b\"}"), id, sizeof(id)), -1);
	assert_int_equal(ses_parse_send_response(S("{\"MessageId\":\"a\\r\\nb\"}"), id, sizeof(id)),
	                 -1);
	assert_int_equal(ses_parse_send_response(S("{\"MessageId\":\"\xc3\xa9\"}"), id, sizeof(id)),
	                 -1);
	assert_int_equal(ses_parse_send_response(S("<xml/>"), id, sizeof(id)), -1);
	assert_int_equal(ses_parse_send_response(S("[\"MessageId\"]"), id, sizeof(id)), -1);
	assert_int_equal(ses_parse_send_response(NULL, 0, id, sizeof(id)), -1);
	/* Only @len bytes are read. */
	assert_int_equal(
	    ses_parse_send_response("{\"MessageId\":\"x\"}garbage", 17, id, sizeof(id)), 0);
	assert_string_equal(id, "x");
}

static const char account[] =
    "{\"DedicatedIpAutoWarmupEnabled\":false,"
    "\"Details\":{\"MailType\":\"TRANSACTIONAL\",\"ReviewDetails\":{\"Status\":\"GRANTED\"}},"
    "\"EnforcementStatus\":\"HEALTHY\","
    "\"ProductionAccessEnabled\":true,"
    "\"SendQuota\":{\"Max24HourSend\":50000.0,\"MaxSendRate\":14.0,"
    "\"SentLast24Hours\":1234.0},"
    "\"SendingEnabled\":true,"
    "\"SuppressionAttributes\":{\"SuppressedReasons\":[\"BOUNCE\",\"COMPLAINT\"]}}";

static void test_parse_account(void **state)
{
	(void)state;
	struct ses_account a;

	assert_int_equal(ses_parse_account(S(account), &a), 0);
	assert_true(a.max_send_rate == 14.0);
	assert_true(a.max_24h == 50000.0);
	assert_true(a.sent_24h == 1234.0);
	assert_int_equal(a.sending_enabled, 1);
	assert_int_equal(a.production_access, 1);
	assert_string_equal(a.enforcement_status, "HEALTHY");

	/* Sandbox, unlimited written as -1 or any negative, integers. */
	assert_int_equal(ses_parse_account(S("{\"SendQuota\":{\"Max24HourSend\":-1,"
	                                     "\"MaxSendRate\":1},\"SendingEnabled\":false,"
	                                     "\"ProductionAccessEnabled\":false,"
	                                     "\"EnforcementStatus\":\"PROBATION\"}"),
	                                   &a),
	                 0);
	assert_true(a.max_24h == -1);
	assert_true(a.max_send_rate == 1);
	assert_true(a.sent_24h == 0);
	assert_int_equal(a.sending_enabled, 0);
	assert_int_equal(a.production_access, 0);
	assert_string_equal(a.enforcement_status, "PROBATION");
	assert_int_equal(ses_parse_account(S("{\"SendQuota\":{\"Max24HourSend\":-2.5,"
	                                     "\"MaxSendRate\":0.5}}"),
	                                   &a),
	                 0);
	assert_true(a.max_24h == -1);
	assert_true(a.max_send_rate == 0.5);
	assert_int_equal(a.sending_enabled, -1);
	assert_int_equal(a.production_access, -1);
	assert_string_equal(a.enforcement_status, "");

	/* Long status truncated, control characters neutralised. */
	assert_int_equal(ses_parse_account(S("{\"SendQuota\":{\"Max24HourSend\":1,"
	                                     "\"MaxSendRate\":1},\"EnforcementStatus\":"
	                                     "\"A\\nBCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\"}"),
	                                   &a),
	                 0);
	assert_int_equal(strlen(a.enforcement_status), sizeof(a.enforcement_status) - 1);
	assert_memory_equal(a.enforcement_status, "A BC", 4);

	/* Required members. */
	assert_int_equal(ses_parse_account(S("{\"SendQuota\":{\"MaxSendRate\":1}}"), &a), -1);
	assert_int_equal(a.max_send_rate, 0);
	assert_int_equal(ses_parse_account(S("{\"SendQuota\":{\"Max24HourSend\":1}}"), &a), -1);
	assert_int_equal(ses_parse_account(S("{\"SendQuota\":{\"Max24HourSend\":\"1\","
	                                     "\"MaxSendRate\":1}}"),
	                                   &a),
	                 -1);
	assert_int_equal(ses_parse_account(S("{\"SendQuota\":{\"Max24HourSend\":1,"
	                                     "\"MaxSendRate\":1,\"SentLast24Hours\":null}}"),
	                                   &a),
	                 -1);
	assert_int_equal(ses_parse_account(S("{}"), &a), -1);
	assert_int_equal(ses_parse_account(S("not json"), &a), -1);
	assert_int_equal(ses_parse_account(NULL, 0, &a), -1);
	assert_int_equal(ses_parse_account(S("{}"), NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_body_fields),
	    cmocka_unit_test(test_body_optional_absent),
	    cmocka_unit_test(test_body_binary_roundtrip),
	    cmocka_unit_test(test_body_large),
	    cmocka_unit_test(test_body_escaping),
	    cmocka_unit_test(test_body_refused),
	    cmocka_unit_test(test_body_tags),
	    cmocka_unit_test(test_classify_matrix),
	    cmocka_unit_test(test_classify_xml_body),
	    cmocka_unit_test(test_classify_precedence),
	    cmocka_unit_test(test_classify_sanitise),
	    cmocka_unit_test(test_classify_buffers),
	    cmocka_unit_test(test_parse_send_response),
	    cmocka_unit_test(test_parse_account),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
