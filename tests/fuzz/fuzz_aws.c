/*
 * fuzz_aws.c - libFuzzer target for everything sesgate reads from AWS or
 * from AWS's files: the shared config/credentials INI files and the STS XML
 * answers (aws/awsparse.c), error documents of every protocol
 * (aws/awsjson.c), SES SendEmail/GetAccount answers (aws/ses.c),
 * Organizations answers (aws/orgs.c), IAM's role ARN (aws/iam.c), SES
 * identity answers and the DNS records made from them (aws/ses_admin.c),
 * and the container/IMDS credential JSON (aws/creds.c).
 *
 * Octet 0 picks the parser (modulo AWS_NPARSERS), octet 1 its options
 * (buffer sizes, INI style, HTTP status); the rest is the document.  Each
 * parser's documented promises are checked with abort(): results are
 * NUL-terminated within their buffers, identifiers have their documented
 * shapes, failures leave the outputs zeroed or empty.  No network, no
 * files; everything is freed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "aws/awsjson.h"
#include "aws/awsparse.h"
#include "aws/creds.h"
#include "aws/iam.h"
#include "aws/orgs.h"
#include "aws/ses.h"
#include "aws/ses_admin.h"
#include "util.h"



#define AWS_NPARSERS 12

static int all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i])
			return 0;
	return 1;
}

/* Is P[0..N) well-formed UTF-8? */
static int utf8_valid(const char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = util_utf8_seq((const unsigned char *)p + i, n - i);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

/*
 * Set for each input: whether it was well-formed UTF-8.  The parsers pass
 * remote text through (the XML reader does not validate encodings) but
 * promise never to cut inside a sequence, so text taken from well-formed
 * input must stay well-formed.
 */
static int input_utf8;

/* NUL within CAP octets, and well-formed UTF-8 when the input was. */
static void str_in(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	CHECK(n < cap);
	CHECK(!input_utf8 || utf8_valid(s, n));
}

/* Printable ASCII, no control characters (remote text after aws_text_copy). */
static int no_controls(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int digits(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static char *dupn(const char *p, size_t n)
{
	char *s = malloc(n + 1);
	CHECK(s);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* A size from the option octet: tiny ones test truncation. */
static size_t cap_of(uint8_t opt)
{
	static const size_t caps[] = {1, 2, 5, 16, 64, 128, 256, 2048};
	return caps[opt & 7];
}

static void fuzz_ini(const char *in, size_t len, uint8_t opt)
{
	/* "PROFILE\nTEXT": the profile name is the first line. */
	const char *nl = memchr(in, '\n', len);
	char *profile = dupn(in, nl ? (size_t)(nl - in) : 0);
	const char *text = nl ? nl + 1 : in;
	size_t tlen = nl ? len - (size_t)(nl + 1 - in) : len;
	struct aws_profile p;

	memset(&p, 0x5a, sizeof(p));
	int rc = aws_ini_profile(text, tlen, profile, opt & 1, &p);
	CHECK(rc >= -1 && rc <= 1);
	if (rc != 0)
		CHECK(all_zero(&p, sizeof(p)));
	aws_profile_free(&p);
	CHECK(all_zero(&p, sizeof(p)));
	aws_profile_free(&p);
	free(profile);
}

static void fuzz_sts(const char *in, size_t len, uint8_t opt)
{
	struct aws_temp_creds c;
	memset(&c, 0x5a, sizeof(c));
	if (aws_sts_parse_assume_role(in, len, &c) == 0) {
		CHECK(c.access_key_id && c.access_key_id[0]);
		CHECK(c.secret_access_key && c.secret_access_key[0]);
		CHECK(c.session_token && c.session_token[0]);
	} else {
		CHECK(!c.access_key_id && !c.secret_access_key && !c.session_token);
	}
	aws_temp_creds_free(&c);
	CHECK(!c.access_key_id && !c.secret_access_key && !c.session_token);

	char code[2048], msg[2048];
	size_t cc = cap_of(opt), mc = cap_of((uint8_t)(opt >> 3));
	memset(code, 'x', sizeof(code));
	memset(msg, 'x', sizeof(msg));
	int rc = aws_xml_parse_error(in, len, code, cc, msg, mc);
	str_in(code, cc);
	str_in(msg, mc);
	if (rc == 0) /* a cut may leave nothing of a first character wider than CAP */
		CHECK(code[0] || cc <= 4 || !input_utf8);
	else
		CHECK(code[0] == '\0' && msg[0] == '\0');
	CHECK(aws_xml_parse_error(in, len, NULL, 0, NULL, 0) == rc);
}

static void fuzz_iso8601(const char *in, size_t len)
{
	time_t t;
	if (aws_parse_iso8601(in, len, &t) < 0 || t < 0 || t > 253402300799)
		return;
	/* What we print, we read back to the same second. */
	char buf[64];
	time_t t2;
	util_iso8601((uint64_t)t, buf, sizeof(buf));
	CHECK(aws_parse_iso8601(buf, strlen(buf), &t2) == 0 && t2 == t);
}

static void fuzz_ses(const char *in, size_t len, uint8_t opt)
{
	static const long statuses[] = {0, 200, 400, 403, 404, 429, 500, 503};
	char id[256], code[AWS_ERR_CODE_MAX], msg[AWS_ERR_MSG_MAX];
	size_t cap = cap_of(opt);

	memset(id, 'x', sizeof(id));
	if (ses_parse_send_response(in, len, id, cap < sizeof(id) ? cap : sizeof(id)) == 0) {
		CHECK(id[0] && strlen(id) < cap);
		for (const char *p = id; *p; p++)
			CHECK(*p > 0x20 && *p < 0x7f);
	}

	struct ses_account a;
	memset(&a, 0x5a, sizeof(a));
	if (ses_parse_account(in, len, &a) == 0) {
		CHECK(a.sending_enabled >= -1 && a.sending_enabled <= 1);
		CHECK(a.production_access >= -1 && a.production_access <= 1);
		CHECK(a.max_24h >= 0 || a.max_24h == -1);
		str_in(a.enforcement_status, sizeof(a.enforcement_status));
	} else {
		CHECK(all_zero(&a, sizeof(a)));
	}

	/* Errors: the header (first line) and the body, at a status. */
	long status = statuses[(opt >> 3) & 7];
	const char *nl = memchr(in, '\n', len);
	char *errtype = nl ? dupn(in, (size_t)(nl - in)) : NULL;
	const char *body = nl ? nl + 1 : in;
	size_t blen = nl ? len - (size_t)(nl + 1 - in) : len;
	memset(code, 'x', sizeof(code));
	memset(msg, 'x', sizeof(msg));
	enum ses_outcome o =
		ses_classify(status, errtype, body, blen, code, sizeof(code), msg, sizeof(msg));
	CHECK(ses_outcome_name(o) != NULL);
	str_in(code, sizeof(code));
	str_in(msg, sizeof(msg));
	CHECK(no_controls(code) && no_controls(msg));
	if (status >= 200 && status < 300)
		CHECK(o == SES_OK);

	int rc = aws_json_error(status, errtype, body, blen, code, cap, msg, cap);
	str_in(code, cap);
	str_in(msg, cap);
	if (rc < 0)
		CHECK(code[0] == '\0');
	if (status == 0 || (status >= 200 && status < 300))
		CHECK(rc < 0 && code[0] == '\0' && msg[0] == '\0');
	for (const char *p = code; *p; p++)
		CHECK(*p >= 0x20 && *p < 0x7f && *p != ':' && *p != '#');
	enum aws_retry r = aws_error_retryable(status, code);
	CHECK(aws_retry_name(r) != NULL);
	if (status >= 200 && status < 300)
		CHECK(r == AWS_ERR_NONE);
	free(errtype);
}

static void check_cas(const struct orgs_cas *c)
{
	str_in(c->id, sizeof(c->id));
	str_in(c->account_name, sizeof(c->account_name));
	str_in(c->failure_reason, sizeof(c->failure_reason));
	CHECK(strncmp(c->id, "car-", 4) == 0);
	/* Any upper-case enum value is taken (a state AWS adds later reads as
	 * "still in progress"), not only the three orgs.h names. */
	CHECK(c->state[0] && strspn(c->state, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == strlen(c->state));
	CHECK(c->account_id[0] == '\0' || digits(c->account_id, 12));
	CHECK(strcmp(c->state, "SUCCEEDED") || digits(c->account_id, 12));
	CHECK(no_controls(c->account_name) && no_controls(c->failure_reason));
}

static void fuzz_orgs(const char *in, size_t len, uint8_t opt, int which)
{
	struct orgs_cas cas[ORGS_PAGE_MAX];
	struct orgs_account acc[ORGS_PAGE_MAX];
	char tok[2048], id[128], type[64];
	size_t cap = (opt & 31) > ORGS_PAGE_MAX ? ORGS_PAGE_MAX : (opt & 31);
	size_t ntcap = cap_of((uint8_t)(opt >> 5));
	size_t n = 99;

	switch (which) {
	case 0:
		memset(cas, 0x5a, sizeof(cas[0]));
		if (orgs_parse_cas(in, len, &cas[0]) == 0)
			check_cas(&cas[0]);
		else
			CHECK(all_zero(&cas[0], sizeof(cas[0])));
		break;
	case 1:
		memset(tok, 'x', sizeof(tok));
		if (orgs_parse_cas_list(in, len, cas, cap, &n, tok, ntcap) == 0) {
			CHECK(n <= cap);
			str_in(tok, ntcap);
			for (size_t i = 0; i < n; i++)
				check_cas(&cas[i]);
		} else {
			CHECK(n == 0 && (ntcap == 0 || tok[0] == '\0'));
		}
		break;
	case 2:
		memset(tok, 'x', sizeof(tok));
		if (orgs_parse_accounts(in, len, acc, cap, &n, tok, ntcap) == 0) {
			CHECK(n <= cap);
			str_in(tok, ntcap);
			for (size_t i = 0; i < n; i++) {
				CHECK(digits(acc[i].id, 12));
				str_in(acc[i].email, sizeof(acc[i].email));
				str_in(acc[i].name, sizeof(acc[i].name));
				str_in(acc[i].status, sizeof(acc[i].status));
				CHECK(no_controls(acc[i].name) && no_controls(acc[i].status));
			}
		} else {
			CHECK(n == 0 && (ntcap == 0 || tok[0] == '\0'));
		}
		break;
	default: {
		size_t idcap = cap_of(opt) > sizeof(id) ? sizeof(id) : cap_of(opt);
		memset(id, 'x', sizeof(id));
		if (orgs_parse_first_id(in, len, opt & 8 ? "Parents" : "Roots", id, idcap) == 0) {
			str_in(id, idcap);
			CHECK(opt & 8 ? orgs_parent_id_valid(id) : orgs_root_id_valid(id));
		} else {
			CHECK(id[0] == '\0');
		}
		memset(type, 'x', sizeof(type));
		if (orgs_parse_first_parent(in, len, id, idcap, type, sizeof(type)) == 0) {
			CHECK(orgs_parent_id_valid(id));
			str_in(type, sizeof(type));
			if (!strcmp(type, "ROOT"))
				CHECK(orgs_root_id_valid(id));
			else if (!strcmp(type, "ORGANIZATIONAL_UNIT"))
				CHECK(strncmp(id, "ou-", 3) == 0);
		} else {
			CHECK(id[0] == '\0');
		}
		break;
	}
	}
}

static void fuzz_iam(const char *in, size_t len, uint8_t opt)
{
	char arn[IAM_ARN_MAX + 1];
	size_t cap = cap_of(opt) > sizeof(arn) ? sizeof(arn) : cap_of(opt);
	memset(arn, 'x', sizeof(arn));
	if (iam_parse_role_arn(in, len, arn, cap) == 0) {
		str_in(arn, cap);
		CHECK(strncmp(arn, "arn:", 4) == 0 && strstr(arn, ":iam::") && strstr(arn, ":role/"));
		for (const char *p = arn; *p; p++)
			CHECK(*p > 0x20 && *p < 0x7f);
	} else {
		CHECK(arn[0] == '\0');
	}
}

static void fuzz_identity(const char *in, size_t len, uint8_t opt)
{
	static const char *const regions[] = {NULL, "us-east-1", "eu-west-1", "ap-south-1",
					      "il-central-1", "", "xx-nowhere-9", "us-gov-west-1"};
	struct ses_identity id;
	memset(&id, 0x5a, sizeof(id));
	if (ses_parse_identity(in, len, &id) < 0) {
		CHECK(all_zero(&id, sizeof(id)));
		return;
	}
	CHECK(id.verified_for_sending == 0 || id.verified_for_sending == 1);
	CHECK(id.ntokens >= 0 && id.ntokens <= SES_DKIM_TOKENS);
	str_in(id.verification_status, sizeof(id.verification_status));
	str_in(id.dkim_status, sizeof(id.dkim_status));
	str_in(id.dkim_zone, sizeof(id.dkim_zone));
	for (int i = 0; i < id.ntokens; i++) {
		size_t n = strnlen(id.dkim_tokens[i], sizeof(id.dkim_tokens[i]));
		CHECK(n >= 1 && n <= 63);
		for (size_t k = 0; k < n; k++) {
			char c = id.dkim_tokens[i][k];
			CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
		}
	}
	size_t cap = opt & 1 ? 4096 : cap_of((uint8_t)(opt >> 1));
	char *out = malloc(cap);
	CHECK(out);
	memset(out, 'x', cap);
	if (dns_records_for("mail.example.com", &id, regions[(opt >> 4) & 7], out, cap) == 0) {
		str_in(out, cap);
		CHECK(id.ntokens > 0 && strstr(out, "._domainkey.mail.example.com. CNAME "));
		CHECK(out[strlen(out) - 1] == '\n');
	} else {
		CHECK(out[0] == '\0');
	}
	free(out);
}

static void fuzz_creds_json(const char *in, size_t len)
{
	struct aws_creds c;
	char err[256];
	memset(&c, 0x5a, sizeof(c));
	memset(err, 'x', sizeof(err));
	if (aws_creds_parse_json(in, len, &c, err, sizeof(err)) == 0) {
		CHECK(c.access_key_id && c.access_key_id[0] && c.secret_access_key);
		CHECK(c.session_token);
		CHECK(c.source[0] == '\0');
	} else {
		CHECK(strnlen(err, sizeof(err)) < sizeof(err) && err[0]);
		CHECK(!c.access_key_id && !c.secret_access_key && !c.session_token);
	}
	aws_creds_free(&c);
	CHECK(all_zero(&c, sizeof(c)));
}

/* Remote text copied for logs and replies: aws_text_copy and friends. */
static void fuzz_text(const char *in, size_t len, uint8_t opt)
{
	char *s = dupn(in, len);
	char buf[2048];
	size_t cap = cap_of(opt);
	memset(buf, 'x', sizeof(buf));
	aws_text_copy(buf, cap, s);
	CHECK(strnlen(buf, cap) < cap && strlen(buf) <= len);
	long chars = aws_utf8_chars(s);
	CHECK(chars >= -1 && chars <= (long)strlen(s));
	if (chars >= 0)
		CHECK(utf8_valid(buf, strlen(buf))); /* never cut inside a sequence */
	CHECK(no_controls(buf));
	aws_text_copy(NULL, 0, s);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const char *in = (const char *)data + 2;
	size_t len = size - 2;
	uint8_t opt = data[1];
	input_utf8 = utf8_valid(in, len);
	switch (data[0] % AWS_NPARSERS) {
	case 0:
		fuzz_ini(in, len, opt);
		break;
	case 1:
		fuzz_sts(in, len, opt);
		break;
	case 2:
		fuzz_iso8601(in, len);
		break;
	case 3:
		fuzz_ses(in, len, opt);
		break;
	case 4:
	case 5:
	case 6:
	case 7:
		fuzz_orgs(in, len, opt, data[0] % AWS_NPARSERS - 4);
		break;
	case 8:
		fuzz_iam(in, len, opt);
		break;
	case 9:
		fuzz_identity(in, len, opt);
		break;
	case 10:
		fuzz_creds_json(in, len);
		break;
	default:
		fuzz_text(in, len, opt);
		break;
	}
	return 0;
}
