/*
 * Unit tests of src/aws/sns.c: parsing SNS HTTP/S message bodies, the
 * string to sign, SigningCertURL checks and signature verification.
 *
 * Vectors are in tests/data/sns (see its README): genuine SNS Notifications
 * signed with SignatureVersion 1 and 2 and their (expired) certificate, and
 * messages of every type signed with a throwaway test CA by tests/snstool.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "aws/sns.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static char datadir[4096];

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* SESGATE_SRCDIR or automake's srcdir first, then paths relative to where
 * the test binary tends to be run from. */
static int find_datadir(void)
{
	static const char *const envs[] = {"SESGATE_SRCDIR", "srcdir"};
	static const char *const rel[] = {"tests/data/sns", "../tests/data/sns",
	                                  "../../tests/data/sns"};

	for (size_t e = 0; e < 2; e++) {
		const char *base = getenv(envs[e]);

		if (!base || !*base)
			continue;
		snprintf(datadir, sizeof(datadir), "%s/tests/data/sns", base);
		if (is_dir(datadir))
			return 0;
	}
	for (size_t r = 0; r < 3; r++) {
		snprintf(datadir, sizeof(datadir), "%s", rel[r]);
		if (is_dir(datadir))
			return 0;
	}
	datadir[0] = '\0';
	return -1;
}

/* The whole of @name (relative to the data dir), NUL-terminated; fails
 * the test when unreadable. */
static char *slurp(const char *name, size_t *lenp)
{
	char path[8192];
	size_t cap = 4096, len = 0, n;
	char *buf = malloc(cap);
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", datadir, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	assert_non_null(buf);
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len - 1 == 0) {
			buf = realloc(buf, cap *= 2);
			assert_non_null(buf);
		}
	}
	fclose(f);
	buf[len] = '\0';
	if (lenp)
		*lenp = len;
	return buf;
}

static const char genuine_pem[] = "SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem";
static const char gen_pem[] = "generated/sns-signing.pem";
static const char gen_ca[] = "generated/ca.pem";

/* Parse @json_name and insist it succeeds. */
static void load_msg(const char *json_name, struct sns_msg *m)
{
	char err[128];
	size_t len;
	char *body = slurp(json_name, &len);

	if (sns_parse(body, len, m, err, sizeof(err)) != 0)
		fail_msg("%s: %s", json_name, err);
	free(body);
}

/* sns_verify against the certificate file @pem_name. */
static int verify_with(const struct sns_msg *m, const char *pem_name,
                       const struct sns_verify_opts *o, char *err, size_t errcap)
{
	size_t len;
	char *pem = slurp(pem_name, &len);
	int rc = sns_verify(m, pem, len, o, err, errcap);

	free(pem);
	return rc;
}

static time_t utc(int y, int mo, int d, int h)
{
	struct tm tm = {0};

	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	return timegm(&tm);
}

/* The string to sign of @m equals the file @txt_name byte for byte. */
static void assert_sts_file(const struct sns_msg *m, const char *txt_name)
{
	size_t len, want_len;
	char *want = slurp(txt_name, &want_len);
	char *got = sns_string_to_sign(m, &len);

	assert_non_null(got);
	assert_int_equal(len, want_len);
	assert_memory_equal(got, want, len);
	assert_int_equal(strlen(got), len);
	free(got);
	free(want);
}

/* ---- genuine vectors ---- */

static void test_genuine_v1(void **state)
{
	struct sns_msg m;
	char err[128];

	load_msg("notification-signaturev1.json", &m);
	assert_int_equal(m.type, SNS_NOTIFICATION);
	assert_string_equal(m.message_id, "792cda85-518f-5dd3-9163-81d851212f3a");
	assert_string_equal(m.topic_arn, "arn:aws:sns:us-east-2:295079676684:"
	                                 "publish-and-verify-892f85fe-4836-424d-8188-ab85bef0f362");
	assert_null(m.subject);
	assert_string_equal(m.message, "Hello world");
	assert_string_equal(m.timestamp, "2022-07-28T21:23:58.317Z");
	assert_string_equal(m.signature_version, "1");
	assert_string_equal(m.signing_cert_url,
	                    "https://sns.us-east-2.amazonaws.com/"
	                    "SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem");
	assert_non_null(m.unsubscribe_url);
	assert_null(m.subscribe_url);
	assert_null(m.token);
	assert_sts_file(&m, "notification-signaturev1.string-to-sign.txt");
	assert_true(sns_cert_url_ok(m.signing_cert_url, NULL));
	assert_int_equal(verify_with(&m, genuine_pem, NULL, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	sns_msg_free(&m);
	assert_null(m.message);
	sns_msg_free(&m); /* idempotent */
	sns_msg_free(NULL);
}

static void test_genuine_v2(void **state)
{
	struct sns_msg m;
	char err[128];

	load_msg("notification-signaturev2.json", &m);
	assert_string_equal(m.signature_version, "2");
	assert_sts_file(&m, "notification-signaturev2.string-to-sign.txt");
	assert_int_equal(verify_with(&m, genuine_pem, NULL, err, sizeof(err)), 0);

	/* The same signature read as SHA1withRSA does not verify. */
	m.signature_version[0] = '1';
	assert_int_equal(verify_with(&m, genuine_pem, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "signature does not match");
	sns_msg_free(&m);
}

/* Lambda spells SigningCertUrl / UnsubscribeUrl; both spellings at once is
 * ambiguous. */
static void test_genuine_lambda_keys(void **state)
{
	struct sns_msg m;
	char err[128];
	size_t len;
	char *body;
	json_t *root;

	load_msg("notification-signaturev1-lambda-keys.json", &m);
	assert_non_null(m.signing_cert_url);
	assert_non_null(m.unsubscribe_url);
	assert_sts_file(&m, "notification-signaturev1.string-to-sign.txt");
	assert_int_equal(verify_with(&m, genuine_pem, NULL, err, sizeof(err)), 0);
	sns_msg_free(&m);

	body = slurp("notification-signaturev1-lambda-keys.json", &len);
	root = json_loadb(body, len, 0, NULL);
	assert_non_null(root);
	json_object_set_new(root, "SigningCertURL", json_string("https://x/y.pem"));
	free(body);
	body = json_dumps(root, 0);
	assert_int_equal(sns_parse(body, strlen(body), &m, err, sizeof(err)), -1);
	assert_string_equal(err, "both SigningCertURL and SigningCertUrl");
	assert_null(m.message);
	free(body);
	json_decref(root);
}

static void test_genuine_cert_checks(void **state)
{
	struct sns_msg m;
	struct sns_verify_opts o = {0};
	char err[128];

	load_msg("notification-signaturev1.json", &m);
	o.now = utc(2022, 7, 28, 22);
	assert_int_equal(verify_with(&m, genuine_pem, &o, err, sizeof(err)), 0);
	o.cert_host = "sns.amazonaws.com";
	assert_int_equal(verify_with(&m, genuine_pem, &o, err, sizeof(err)), 0);
	o.cert_host = "sns.evil.com";
	assert_int_equal(verify_with(&m, genuine_pem, &o, err, sizeof(err)), -1);
	assert_string_equal(err, "certificate is not for sns.evil.com");
	o.cert_host = NULL;

	o.now = utc(2022, 8, 18, 0);
	assert_int_equal(verify_with(&m, genuine_pem, &o, err, sizeof(err)), -1);
	assert_string_equal(err, "certificate expired");
	o.now = utc(2021, 9, 6, 12);
	assert_int_equal(verify_with(&m, genuine_pem, &o, err, sizeof(err)), -1);
	assert_string_equal(err, "certificate not yet valid");

	/* Its issuer is not in the bundle: the chain check fails. */
	o.now = utc(2022, 7, 28, 22);
	o.ca_pem = "";
	o.ca_len = 0;
	assert_int_equal(verify_with(&m, genuine_pem, &o, err, sizeof(err)), -1);
	assert_string_equal(err, "no certificate in the CA bundle");
	{
		size_t calen;
		char *ca = slurp(gen_ca, &calen);
		o.ca_pem = ca;
		o.ca_len = calen;
		assert_int_equal(verify_with(&m, genuine_pem, &o, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "certificate chain:"));
		free(ca);
	}
	sns_msg_free(&m);
}

/* ---- tampering ---- */

/* Every signed field of @m, as pointers to the struct members. */
static size_t signed_fields(struct sns_msg *m, char **f[8])
{
	size_t n = 0;

	f[n++] = &m->message;
	f[n++] = &m->message_id;
	f[n++] = &m->timestamp;
	f[n++] = &m->topic_arn;
	if (m->type == SNS_NOTIFICATION) {
		if (m->subject)
			f[n++] = &m->subject;
	} else {
		f[n++] = &m->subscribe_url;
		f[n++] = &m->token;
	}
	return n;
}

/* Change one byte of each signed field in turn (first, middle and last
 * byte), plus the Type and the Signature: each change must fail, and the
 * message must verify again once it is undone. */
static void tamper_all(const char *json_name, const char *pem_name)
{
	struct sns_msg m;
	char **f[8];
	char err[128];
	size_t n;

	load_msg(json_name, &m);
	assert_int_equal(verify_with(&m, pem_name, NULL, err, sizeof(err)), 0);
	n = signed_fields(&m, f);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(*f[i]);
		size_t pos[3] = {0, len / 2, len ? len - 1 : 0};

		if (len == 0) {
			/* An empty field: make it one byte long instead. */
			char *saved = *f[i];
			*f[i] = "x";
			assert_int_equal(verify_with(&m, pem_name, NULL, err, sizeof(err)), -1);
			*f[i] = saved;
			continue;
		}
		for (size_t p = 0; p < 3; p++) {
			(*f[i])[pos[p]] ^= 0x01;
			assert_int_equal(verify_with(&m, pem_name, NULL, err, sizeof(err)), -1);
			assert_string_equal(err, "signature does not match");
			(*f[i])[pos[p]] ^= 0x01;
		}
	}
	/* Another Type signs a different string. */
	{
		enum sns_type t = m.type;
		char *tok = m.token, *url = m.subscribe_url;
		m.type = t == SNS_NOTIFICATION
		             ? SNS_SUBSCRIPTION_CONFIRMATION
		             : (t == SNS_SUBSCRIPTION_CONFIRMATION ? SNS_UNSUBSCRIBE_CONFIRMATION
		                                                   : SNS_SUBSCRIPTION_CONFIRMATION);
		if (!m.token) {
			m.token = "t";
			m.subscribe_url = "https://sns.us-east-1.amazonaws.com/";
		}
		assert_int_equal(verify_with(&m, pem_name, NULL, err, sizeof(err)), -1);
		m.type = t;
		m.token = tok;
		m.subscribe_url = url;
	}
	/* One bit of the signature itself (the first base64 character). */
	m.signature[0] = m.signature[0] == 'A' ? 'B' : 'A';
	assert_int_equal(verify_with(&m, pem_name, NULL, err, sizeof(err)), -1);
	sns_msg_free(&m);

	/* Unsigned fields may change without effect. */
	load_msg(json_name, &m);
	if (m.unsubscribe_url)
		m.unsubscribe_url[0] ^= 0x01;
	m.signing_cert_url[0] ^= 0x01;
	assert_int_equal(verify_with(&m, pem_name, NULL, err, sizeof(err)), 0);
	sns_msg_free(&m);
}

static void test_tamper(void **state)
{
	tamper_all("notification-signaturev1.json", genuine_pem);
	tamper_all("notification-signaturev2.json", genuine_pem);
	tamper_all("generated/subscription-confirmation-v1.json", gen_pem);
	tamper_all("generated/unsubscribe-confirmation-v2.json", gen_pem);
	tamper_all("generated/notification-subject-v2.json", gen_pem);
	tamper_all("generated/notification-subject-empty-v1.json", gen_pem);
}

/* The same tampering done on the JSON body, as an attacker would. */
static void test_tamper_body(void **state)
{
	struct sns_msg m;
	char err[128];
	size_t len;
	char *body = slurp("notification-signaturev1.json", &len);
	char *p = strstr(body, "Hello world");

	assert_non_null(p);
	p[6] = 'W';
	assert_int_equal(sns_parse(body, len, &m, err, sizeof(err)), 0);
	assert_string_equal(m.message, "Hello World");
	assert_int_equal(verify_with(&m, genuine_pem, NULL, err, sizeof(err)), -1);
	sns_msg_free(&m);
	free(body);
}

/* ---- Subject ---- */

static void test_subject_absent_present(void **state)
{
	struct sns_msg m;
	char err[128];
	size_t len;
	char *sts;
	char *body;
	json_t *root;

	/* Absent: not in the string to sign; adding an empty one breaks it. */
	load_msg("notification-signaturev1.json", &m);
	assert_null(m.subject);
	m.subject = "";
	sts = sns_string_to_sign(&m, &len);
	assert_non_null(strstr(sts, "MessageId\n792cda85-518f-5dd3-9163-81d851212f3a\n"
	                            "Subject\n\nTimestamp\n"));
	free(sts);
	assert_int_equal(verify_with(&m, genuine_pem, NULL, err, sizeof(err)), -1);
	m.subject = NULL;
	assert_int_equal(verify_with(&m, genuine_pem, NULL, err, sizeof(err)), 0);
	sns_msg_free(&m);

	/* JSON null counts as absent, as in the SDKs' verifiers. */
	body = slurp("notification-signaturev1.json", &len);
	root = json_loadb(body, len, 0, NULL);
	json_object_set_new(root, "Subject", json_null());
	free(body);
	body = json_dumps(root, 0);
	json_decref(root);
	assert_int_equal(sns_parse(body, strlen(body), &m, err, sizeof(err)), 0);
	assert_null(m.subject);
	assert_int_equal(verify_with(&m, genuine_pem, NULL, err, sizeof(err)), 0);
	sns_msg_free(&m);
	free(body);

	/* Present and empty: signed as "Subject\n\n"; removing it breaks it. */
	load_msg("generated/notification-subject-empty-v1.json", &m);
	assert_non_null(m.subject);
	assert_string_equal(m.subject, "");
	assert_sts_file(&m, "generated/notification-subject-empty-v1.string-to-sign.txt");
	assert_int_equal(verify_with(&m, gen_pem, NULL, err, sizeof(err)), 0);
	free(m.subject);
	m.subject = NULL;
	assert_int_equal(verify_with(&m, gen_pem, NULL, err, sizeof(err)), -1);
	sns_msg_free(&m);

	/* Present: JSON-unescaped (\u00eb, \u2028, \" and \\) before signing. */
	load_msg("generated/notification-subject-v2.json", &m);
	assert_string_equal(m.subject, "Amazon SES Email Event Notification");
	assert_non_null(strstr(m.message, "Zo\xc3\xab <zoe@example.com>"));
	assert_non_null(strstr(m.message, "back\xe2\x80\xa8sep"));
	assert_sts_file(&m, "generated/notification-subject-v2.string-to-sign.txt");
	assert_int_equal(verify_with(&m, gen_pem, NULL, err, sizeof(err)), 0);
	sns_msg_free(&m);
}

/* ---- generated vectors: confirmations, chain ---- */

static void test_confirmations(void **state)
{
	static const char *const names[] = {
	    "generated/subscription-confirmation-v1", "generated/unsubscribe-confirmation-v2",
	    "generated/notification-subject-v2", "generated/notification-subject-empty-v1"};
	struct sns_verify_opts o = {0};
	size_t calen;
	char *ca = slurp(gen_ca, &calen);
	char err[128], name[256];

	o.now = utc(2030, 1, 1, 0);
	o.ca_pem = ca;
	o.ca_len = calen;
	o.cert_host = "sns.amazonaws.com";
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct sns_msg m;

		snprintf(name, sizeof(name), "%s.json", names[i]);
		load_msg(name, &m);
		snprintf(name, sizeof(name), "%s.string-to-sign.txt", names[i]);
		assert_sts_file(&m, name);
		if (verify_with(&m, gen_pem, &o, err, sizeof(err)) != 0)
			fail_msg("%s: %s", names[i], err);
		sns_msg_free(&m);
	}

	{
		struct sns_msg m;

		load_msg("generated/subscription-confirmation-v1.json", &m);
		assert_int_equal(m.type, SNS_SUBSCRIPTION_CONFIRMATION);
		assert_string_equal(m.token, "2336412f372336412f372336412f372336412f372336412f37"
		                             "2336412f372336412f372336412f372336412f372336412f37"
		                             "2336412f372336412f372336412f372336412f372336412f37"
		                             "2336412f372336412f372336412f372336412f372336412f37");
		assert_non_null(strstr(m.subscribe_url, "Action=ConfirmSubscription"));
		assert_null(m.subject);
		assert_null(m.unsubscribe_url);

		/* Valid period and chain. */
		o.now = utc(2050, 1, 1, 0);
		assert_int_equal(verify_with(&m, gen_pem, &o, err, sizeof(err)), -1);
		assert_string_equal(err, "certificate expired");
		o.now = utc(2020, 1, 1, 0);
		assert_int_equal(verify_with(&m, gen_pem, &o, err, sizeof(err)), -1);
		assert_string_equal(err, "certificate not yet valid");
		o.now = 0; /* no time check at all */
		assert_int_equal(verify_with(&m, gen_pem, &o, err, sizeof(err)), 0);

		/* A bundle without our CA (the genuine SNS leaf). */
		{
			size_t glen;
			char *g = slurp(genuine_pem, &glen);
			o.ca_pem = g;
			o.ca_len = glen;
			o.now = utc(2030, 1, 1, 0);
			assert_int_equal(verify_with(&m, gen_pem, &o, err, sizeof(err)), -1);
			assert_non_null(strstr(err, "certificate chain:"));
			free(g);
		}
		/* Intermediates after the leaf in the certificate PEM are fine. */
		{
			size_t l1, l2;
			char *leaf = slurp(gen_pem, &l1), *extra = slurp(genuine_pem, &l2);
			char *both = malloc(l1 + l2 + 1);
			memcpy(both, leaf, l1);
			memcpy(both + l1, extra, l2 + 1);
			o.ca_pem = ca;
			o.ca_len = calen;
			assert_int_equal(sns_verify(&m, both, l1 + l2, &o, err, sizeof(err)), 0);
			/* ...but only the first one signs. */
			assert_int_equal(sns_verify(&m, both + l1, l2, NULL, err, sizeof(err)), -1);
			free(both);
			free(leaf);
			free(extra);
		}
		sns_msg_free(&m);
	}
	free(ca);
}

/* ---- refusals in sns_verify ---- */

static void test_wrong_version(void **state)
{
	static const char *const bad[] = {"3", "0", "1.0", " 1", "2 ", "01", "SHA1", "12"};
	struct sns_msg m;
	char err[128];

	load_msg("notification-signaturev1.json", &m);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *saved = m.signature_version;
		m.signature_version = (char *)bad[i];
		assert_int_equal(verify_with(&m, genuine_pem, NULL, err, sizeof(err)), -1);
		assert_string_equal(err, "unsupported SignatureVersion");
		m.signature_version = saved;
	}
	sns_msg_free(&m);
}

static void test_bad_base64(void **state)
{
	static const char *const bad[] = {
	    "!!!!",
	    "abc",
	    "ab=c",
	    "a===",
	    "====",
	    "ghtf+deO BAzH",
	    "ghtf-deO",
	    "ghtf_deO",
	    "ghtf+deOBAzHJJZ6s6CdRLfTQAlcGzq9naoFM1wi0CJiq//uVRuZnamrkWNF0fhouMFvuLVRwcz8PZLUMSf",
	    /* valid base64, but 3 octets: not an RSA-2048 signature */
	    "AAAA",
	};
	struct sns_msg m;
	char err[128];

	load_msg("notification-signaturev1.json", &m);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *saved = m.signature;
		m.signature = (char *)bad[i];
		assert_int_equal(verify_with(&m, genuine_pem, NULL, err, sizeof(err)), -1);
		m.signature = saved;
	}
	/* Strict base64: the real signature without its padding fails. */
	{
		size_t l = strlen(m.signature);
		assert_int_equal(m.signature[l - 1], '=');
		m.signature[l - 1] = '\0';
		assert_int_equal(verify_with(&m, genuine_pem, NULL, err, sizeof(err)), -1);
		assert_string_equal(err, "Signature is not base64");
		m.signature[l - 1] = '=';
	}
	/* Over SNS_SIG_MAX. */
	{
		char *saved = m.signature, *big = malloc(SNS_SIG_MAX + 5);
		memset(big, 'A', SNS_SIG_MAX + 4);
		big[SNS_SIG_MAX + 4] = '\0';
		m.signature = big;
		assert_int_equal(verify_with(&m, genuine_pem, NULL, err, sizeof(err)), -1);
		assert_string_equal(err, "Signature is not base64");
		m.signature = saved;
		free(big);
	}
	assert_int_equal(verify_with(&m, genuine_pem, NULL, err, sizeof(err)), 0);
	sns_msg_free(&m);
}

static void test_wrong_cert(void **state)
{
	struct sns_msg m;
	char err[128];

	load_msg("notification-signaturev2.json", &m);
	/* A well-formed RSA certificate with another key. */
	assert_int_equal(verify_with(&m, gen_pem, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "signature does not match");
	/* Not RSA. */
	assert_int_equal(verify_with(&m, "generated/ec-cert.pem", NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "certificate key is not RSA");
	/* Not a certificate at all. */
	assert_int_equal(sns_verify(&m, S("hello"), NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "not a PEM certificate");
	assert_int_equal(sns_verify(&m,
	                            S("-----BEGIN CERTIFICATE-----\nAAAA\n"
	                              "-----END CERTIFICATE-----\n"),
	                            NULL, err, sizeof(err)),
	                 -1);
	assert_int_equal(sns_verify(&m, NULL, 0, NULL, err, sizeof(err)), -1);
	assert_int_equal(sns_verify(&m, "", 0, NULL, err, sizeof(err)), -1);
	/* A truncated PEM of the right certificate. */
	{
		size_t len;
		char *pem = slurp(genuine_pem, &len);
		assert_int_equal(sns_verify(&m, pem, len / 2, NULL, err, sizeof(err)), -1);
		assert_int_equal(sns_verify(&m, pem, len, NULL, err, sizeof(err)), 0);
		free(pem);
	}
	/* Over the cap, even with the right certificate first. */
	{
		size_t len;
		char *pem = slurp(genuine_pem, &len);
		char *big = calloc(1, SNS_CERT_PEM_MAX + 1);
		memcpy(big, pem, len);
		memset(big + len, '\n', SNS_CERT_PEM_MAX + 1 - len);
		assert_int_equal(sns_verify(&m, big, SNS_CERT_PEM_MAX, NULL, err, sizeof(err)), 0);
		assert_int_equal(sns_verify(&m, big, SNS_CERT_PEM_MAX + 1, NULL, err, sizeof(err)),
		                 -1);
		assert_string_equal(err, "no certificate or too large");
		free(big);
		free(pem);
	}
	/* err may be NULL. */
	assert_int_equal(verify_with(&m, gen_pem, NULL, NULL, 0), -1);
	assert_int_equal(sns_verify(NULL, S("x"), NULL, err, sizeof(err)), -1);
	sns_msg_free(&m);
}

/* ---- SigningCertURL ---- */

static void test_cert_url(void **state)
{
	static const struct {
		const char *url, *pattern;
		int ok;
	} cases[] = {
	    {"https://sns.us-east-2.amazonaws.com/SimpleNotificationService-7ff5.pem", NULL, 1},
	    {"https://sns.us-gov-west-1.amazonaws.com/x.pem", NULL, 1},
	    {"https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem", NULL, 1},
	    {"HTTPS://sns.eu-west-1.amazonaws.com/a/b/c.pem", NULL, 1},
	    {"https://sns.abc.amazonaws.com/x.pem", NULL, 1},
	    {"https://sns.Us-East-1.amazonaws.com/x.pem", NULL, 1},
	    {"https://sns.us-east-1.amazonaws.com/x.pem", SNS_CERT_HOST_AWS, 1},
	    {"https://sns.cn-north-1.amazonaws.com.cn/x.pem", SNS_CERT_HOST_AWS, 0},
	    {"https://sns.cn-north-1.amazonaws.com.cn/x.pem", SNS_CERT_HOST_AWS_CN, 1},
	    {"https://sns.us-east-1.amazonaws.com/x.pem", SNS_CERT_HOST_AWS_CN, 0},
	    /* scheme */
	    {"http://sns.us-east-1.amazonaws.com/x.pem", NULL, 0},
	    {"ftp://sns.us-east-1.amazonaws.com/x.pem", NULL, 0},
	    {"//sns.us-east-1.amazonaws.com/x.pem", NULL, 0},
	    {"https:/sns.us-east-1.amazonaws.com/x.pem", NULL, 0},
	    {" https://sns.us-east-1.amazonaws.com/x.pem", NULL, 0},
	    /* host */
	    {"https://sns.evil.com/x.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com.evil.com/x.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com.cn.evil.com/x.pem", NULL, 0},
	    {"https://evil.com/sns.us-east-1.amazonaws.com/x.pem", NULL, 0},
	    {"https://sns.us.amazonaws.com/x.pem", NULL, 0}, /* label < 3 */
	    {"https://sns..amazonaws.com/x.pem", NULL, 0},
	    {"https://sns.a.b.c.amazonaws.com/x.pem", NULL, 0}, /* two labels */
	    {"https://sns.us_east_1.amazonaws.com/x.pem", NULL, 0},
	    {"https://xsns.us-east-1.amazonaws.com/x.pem", NULL, 0},
	    {"https://sqs.us-east-1.amazonaws.com/x.pem", NULL, 0},
	    {"https://SNS.us-east-1.amazonaws.com/x.pem", NULL, 0}, /* as the regex */
	    {"https://sns.us-east-1.amazonaws.com./x.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.co/x.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com.cn.cn/x.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws%2ecom/x.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com\\@evil.com/x.pem", NULL, 0},
	    {"https://sns.us-east-1.\xc3\xa4mazonaws.com/x.pem", NULL, 0},
	    {"https:///x.pem", NULL, 0},
	    {"https://", NULL, 0},
	    /* userinfo */
	    {"https://user@sns.us-east-1.amazonaws.com/x.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com@evil.com/x.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com:pw@evil.com/x.pem", NULL, 0},
	    /* port */
	    {"https://sns.us-east-1.amazonaws.com:443/x.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com:8443/x.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com:/x.pem", NULL, 0},
	    /* path */
	    {"https://sns.us-east-1.amazonaws.com/x.txt", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com/x.pem.txt", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com/x.PEM", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com/.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com/", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com/x.pem/", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com//x.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com/a/../x.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com/./x.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com/a%2f..%2fx.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com/a b.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com/a\\b.pem", NULL, 0},
	    /* query, fragment */
	    {"https://sns.us-east-1.amazonaws.com/x.pem?a=b", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com/x.pem?", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com/x.pem#f", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com?x.pem", NULL, 0},
	    {"https://sns.us-east-1.amazonaws.com#/x.pem", NULL, 0},
	    {"https://evil.com?sns.us-east-1.amazonaws.com/x.pem", NULL, 0},
	    {"https://evil.com#sns.us-east-1.amazonaws.com/x.pem", NULL, 0},
	    /* test patterns */
	    {"https://127.0.0.1/c.pem", "127.0.0.1", 1},
	    {"https://127.0.0.1:8443/c.pem", "127.0.0.1", 0},
	    {"https://127.0.0.1:8443/c.pem", "127.0.0.1:8443", 1},
	    {"https://127.0.0.1:8444/c.pem", "127.0.0.1:8443", 0},
	    {"https://127.0.0.1/c.pem", "127.0.0.1:8443", 0},
	    {"https://127.0.0.12/c.pem", "127.0.0.1", 0},
	    {"https://127.0.0.1:8443/c.pem", "localhost,127.0.0.1:8443", 1},
	    {"http://127.0.0.1:8443/c.pem", "127.0.0.1:8443", 0},
	    {"https://[::1]:8443/c.pem", "[::1]:8443", 1},
	    {"https://sns.abc.amazonaws.com:8443/x.pem", "sns.*.amazonaws.com:8443", 1},
	    /* "*" only as a whole label; an empty pattern matches nothing */
	    {"https://snsabc.amazonaws.com/x.pem", "sns*.amazonaws.com", 0},
	    {"https://sns.abcd.amazonaws.com/x.pem", "sns.ab*.amazonaws.com", 0},
	    {"https://abc/x.pem", "*", 1},
	    {"https://abc.def/x.pem", "*", 0},
	    {"https://abc/x.pem", "", 0},
	    {"https://abc/x.pem", ",", 0},
	};
	char longurl[SNS_URL_MAX + 16];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (sns_cert_url_ok(cases[i].url, cases[i].pattern) != cases[i].ok)
			fail_msg("%s (pattern %s): expected %d", cases[i].url,
			         cases[i].pattern ? cases[i].pattern : "default", cases[i].ok);
	}
	assert_false(sns_cert_url_ok(NULL, NULL));
	assert_string_equal(SNS_CERT_HOST_DEFAULT, "sns.*.amazonaws.com,sns.*.amazonaws.com.cn");

	/* Length cap. */
	strcpy(longurl, "https://sns.us-east-1.amazonaws.com/");
	while (strlen(longurl) < SNS_URL_MAX - 4)
		strcat(longurl, "a");
	strcat(longurl, ".pem");
	assert_int_equal(strlen(longurl), SNS_URL_MAX);
	assert_true(sns_cert_url_ok(longurl, NULL));
	memmove(longurl + strlen(longurl) - 3, "apem", 5);
	assert_false(sns_cert_url_ok(longurl, NULL));
}

/* ---- parsing ---- */

/* The genuine v1 body with @key set to @val (stolen), or removed when @val
 * is NULL; parsed with the result compared to @want. */
static void parse_edit(const char *file, const char *key, json_t *val, int want, const char *werr)
{
	struct sns_msg m;
	char err[128];
	size_t len;
	char *body = slurp(file, &len);
	json_t *root = json_loadb(body, len, 0, NULL);

	assert_non_null(root);
	if (val)
		json_object_set_new(root, key, val);
	else
		json_object_del(root, key);
	free(body);
	body = json_dumps(root, 0);
	json_decref(root);
	if (sns_parse(body, strlen(body), &m, err, sizeof(err)) != want)
		fail_msg("%s %s: expected %d (%s)", file, key, want, err);
	if (werr)
		assert_string_equal(err, werr);
	if (want == 0)
		sns_msg_free(&m);
	else
		assert_null(m.message_id);
	free(body);
}

static void test_parse_required(void **state)
{
	static const char *const note[] = {"Type",      "MessageId",     "TopicArn",
	                                   "Message",   "Timestamp",     "SignatureVersion",
	                                   "Signature", "SigningCertURL"};
	static const char *const conf[] = {"Type",      "MessageId",      "TopicArn",
	                                   "Message",   "Timestamp",      "SignatureVersion",
	                                   "Signature", "SigningCertURL", "SubscribeURL",
	                                   "Token"};
	const char *sub = "generated/subscription-confirmation-v1.json";
	const char *uns = "generated/unsubscribe-confirmation-v2.json";
	const char *v1 = "notification-signaturev1.json";
	char want[64];

	for (size_t i = 0; i < sizeof(note) / sizeof(note[0]); i++) {
		snprintf(want, sizeof(want), "%s missing", note[i]);
		parse_edit(v1, note[i], NULL, -1, want);
		parse_edit(v1, note[i], json_null(), -1, want);
	}
	for (size_t i = 0; i < sizeof(conf) / sizeof(conf[0]); i++) {
		snprintf(want, sizeof(want), "%s missing", conf[i]);
		parse_edit(sub, conf[i], NULL, -1, want);
		parse_edit(uns, conf[i], NULL, -1, want);
	}
	/* Optional ones. */
	parse_edit(v1, "UnsubscribeURL", NULL, 0, NULL);
	parse_edit(v1, "Subject", NULL, 0, NULL);
	/* Empty: refused, except Message (and Subject). */
	parse_edit(v1, "MessageId", json_string(""), -1, "MessageId empty");
	parse_edit(v1, "Signature", json_string(""), -1, "Signature empty");
	parse_edit(v1, "SigningCertURL", json_string(""), -1, "SigningCertURL empty");
	parse_edit(sub, "Token", json_string(""), -1, "Token empty");
	parse_edit(v1, "Message", json_string(""), 0, NULL);
	parse_edit(v1, "Subject", json_string(""), 0, NULL);
	/* Type. */
	parse_edit(v1, "Type", json_string("notification"), -1, "unknown Type");
	parse_edit(v1, "Type", json_string("Notification "), -1, "unknown Type");
	parse_edit(v1, "Type", json_string(""), -1, "unknown Type");
	/* A Notification turned into a confirmation lacks Token. */
	parse_edit(v1, "Type", json_string("SubscriptionConfirmation"), -1, "SubscribeURL missing");
}

static void test_parse_types(void **state)
{
	const char *v1 = "notification-signaturev1.json";
	const char *sub = "generated/subscription-confirmation-v1.json";

	parse_edit(v1, "SignatureVersion", json_integer(1), -1, "SignatureVersion is not a string");
	parse_edit(v1, "Type", json_integer(1), -1, "Type is not a string");
	parse_edit(v1, "Message", json_object(), -1, "Message is not a string");
	parse_edit(v1, "MessageId", json_true(), -1, "MessageId is not a string");
	parse_edit(v1, "TopicArn", json_array(), -1, "TopicArn is not a string");
	parse_edit(v1, "Subject", json_integer(0), -1, "Subject is not a string");
	parse_edit(v1, "Timestamp", json_real(1.5), -1, "Timestamp is not a string");
	parse_edit(v1, "SigningCertURL", json_false(), -1, "SigningCertURL is not a string");
	parse_edit("notification-signaturev1-lambda-keys.json", "SigningCertUrl", json_integer(2),
	           -1, "SigningCertUrl is not a string");
	/* Known keys a type does not use are still typed... */
	parse_edit(v1, "Token", json_integer(5), -1, "Token is not a string");
	parse_edit(sub, "Subject", json_object(), -1, "Subject is not a string");
	/* ...but unknown keys are not. */
	parse_edit(v1, "MessageAttributes", json_pack("{s{ss}}", "a", "Type", "String"), 0, NULL);
	parse_edit(v1, "SomethingNew", json_integer(1), 0, NULL);
}

/* Fields a type does not sign are not kept. */
static void test_parse_unsigned_dropped(void **state)
{
	struct sns_msg m;
	char err[128];
	size_t len;
	char *body = slurp("generated/subscription-confirmation-v1.json", &len);
	json_t *root = json_loadb(body, len, 0, NULL);

	json_object_set_new(root, "Subject", json_string("unsigned"));
	json_object_set_new(root, "UnsubscribeURL", json_string("https://evil/"));
	free(body);
	body = json_dumps(root, 0);
	json_decref(root);
	assert_int_equal(sns_parse(body, strlen(body), &m, err, sizeof(err)), 0);
	assert_null(m.subject);
	assert_null(m.unsubscribe_url);
	assert_int_equal(verify_with(&m, gen_pem, NULL, err, sizeof(err)), 0);
	sns_msg_free(&m);
	free(body);

	body = slurp("notification-signaturev1.json", &len);
	root = json_loadb(body, len, 0, NULL);
	json_object_set_new(root, "Token", json_string("unsigned"));
	json_object_set_new(root, "SubscribeURL", json_string("https://evil/"));
	free(body);
	body = json_dumps(root, 0);
	json_decref(root);
	assert_int_equal(sns_parse(body, strlen(body), &m, err, sizeof(err)), 0);
	assert_null(m.token);
	assert_null(m.subscribe_url);
	assert_int_equal(verify_with(&m, genuine_pem, NULL, err, sizeof(err)), 0);
	sns_msg_free(&m);
	free(body);
}

static void test_parse_malformed(void **state)
{
	struct sns_msg m;
	char err[128];

	assert_int_equal(sns_parse(S("Hello world"), &m, err, sizeof(err)), -1);
	assert_null(strstr(err, "Hello"));
	assert_int_equal(strncmp(err, "not JSON (line 1 column ", 24), 0);
	assert_int_equal(sns_parse(S("[]"), &m, err, sizeof(err)), -1);
	assert_int_equal(sns_parse(S("\"Notification\""), &m, err, sizeof(err)), -1);
	assert_int_equal(sns_parse(S("{}"), &m, err, sizeof(err)), -1);
	assert_string_equal(err, "Type missing");
	assert_int_equal(sns_parse(S("{\"Type\":\"Notification\"} {}"), &m, err, sizeof(err)), -1);
	assert_int_equal(sns_parse(S("{\"Type\":\"Notification\""), &m, err, sizeof(err)), -1);
	assert_int_equal(sns_parse(S(""), &m, err, sizeof(err)), -1);
	assert_string_equal(err, "empty body");
	assert_int_equal(sns_parse(NULL, 5, &m, err, sizeof(err)), -1);
	assert_int_equal(sns_parse(S("{}"), NULL, err, sizeof(err)), -1);
	/* err may be NULL */
	assert_int_equal(sns_parse(S("{}"), &m, NULL, 0), -1);
	/* An error is cut to the buffer. */
	assert_int_equal(sns_parse(S("{}"), &m, err, 5), -1);
	assert_string_equal(err, "Type");
}

/* Everything but the first key of the genuine v1 body, to append to. */
static char *v1_tail(void)
{
	size_t len;
	char *body = slurp("notification-signaturev1.json", &len);
	char *comma = strchr(body, ',');
	char *tail = strdup(comma);

	free(body);
	return tail;
}

static int parse_with_head(const char *head, char *err, size_t errcap)
{
	struct sns_msg m;
	char *tail = v1_tail();
	char *body = malloc(strlen(head) + strlen(tail) + 1);
	int rc;

	strcpy(body, head);
	strcat(body, tail);
	rc = sns_parse(body, strlen(body), &m, err, errcap);
	if (rc == 0)
		sns_msg_free(&m);
	free(body);
	free(tail);
	return rc;
}

static void test_parse_duplicates(void **state)
{
	char err[128];

	assert_int_equal(parse_with_head("{\"Type\":\"Notification\"", err, sizeof(err)), 0);
	/* The same key twice, also when spelled with an escape. */
	assert_int_equal(parse_with_head("{\"Type\":\"Notification\",\"Type\":\"Notification\"",
	                                 err, sizeof(err)),
	                 -1);
	assert_int_equal(
	    parse_with_head("{\"Type\":\"Notification\",\"Message\":\"other\"", err, sizeof(err)),
	    -1);
	assert_int_equal(parse_with_head("{\"Type\":\"Notification\",\"\\u004dessage\":\"other\"",
	                                 err, sizeof(err)),
	                 -1);
	assert_int_equal(strncmp(err, "a key twice (line ", 18), 0);
	assert_null(strstr(err, "other"));
	/* A NUL inside a value is refused (it would cut the C string). */
	assert_int_equal(parse_with_head("{\"Type\":\"Notification\",\"Subject\":\"a\\u0000b\"",
	                                 err, sizeof(err)),
	                 -1);
	/* Invalid UTF-8. */
	assert_int_equal(
	    parse_with_head("{\"Type\":\"Notification\",\"Subject\":\"\xff\"", err, sizeof(err)),
	    -1);
}

/* A JSON string of @n 'm's. */
static json_t *mstr(size_t n)
{
	char *s = malloc(n + 1);
	json_t *j;

	assert_non_null(s);
	memset(s, 'm', n);
	s[n] = '\0';
	j = json_string(s);
	free(s);
	return j;
}

static void test_parse_caps(void **state)
{
	const char *v1 = "notification-signaturev1.json";
	struct sns_msg m;
	char err[128];
	char *big;

	parse_edit(v1, "Message", mstr(SNS_MESSAGE_MAX), 0, NULL);
	parse_edit(v1, "Message", mstr(SNS_MESSAGE_MAX + 1), -1, "Message over 262144 octets");
	parse_edit(v1, "MessageId", mstr(SNS_ID_MAX), 0, NULL);
	parse_edit(v1, "MessageId", mstr(SNS_ID_MAX + 1), -1, "MessageId over 128 octets");
	parse_edit(v1, "SignatureVersion", mstr(SNS_SIGVER_MAX + 1), -1,
	           "SignatureVersion over 8 octets");
	parse_edit(v1, "Subject", mstr(SNS_SUBJECT_MAX), 0, NULL);
	parse_edit(v1, "Subject", mstr(SNS_SUBJECT_MAX + 1), -1, "Subject over 1024 octets");
	parse_edit(v1, "TopicArn", mstr(SNS_ARN_MAX + 1), -1, "TopicArn over 1024 octets");
	parse_edit(v1, "SigningCertURL", mstr(SNS_URL_MAX + 1), -1,
	           "SigningCertURL over 2048 octets");
	/* Fields the type does not use are capped too. */
	parse_edit(v1, "Token", mstr(SNS_TOKEN_MAX + 1), -1, "Token over 4096 octets");

	/* The body cap is checked before parsing. */
	big = malloc(SNS_BODY_MAX + 1);
	memset(big, ' ', SNS_BODY_MAX + 1);
	big[0] = '{';
	big[SNS_BODY_MAX] = '}';
	assert_int_equal(sns_parse(big, SNS_BODY_MAX + 1, &m, err, sizeof(err)), -1);
	assert_string_equal(err, "body over 524288 octets");
	assert_int_equal(sns_parse(big + 1, SNS_BODY_MAX, &m, err, sizeof(err)), -1);
	assert_int_equal(strncmp(err, "not JSON", 8), 0);
	free(big);
}

/* ---- topics, helpers ---- */

static void test_topic_allowed(void **state)
{
	static const char *const allowed[] = {
	    "arn:aws:sns:us-east-1:123456789012:ses-events",
	    "arn:aws:sns:eu-west-1:123456789012:ses-events",
	};

	assert_true(sns_topic_allowed("arn:aws:sns:us-east-1:123456789012:ses-events", allowed, 2));
	assert_true(sns_topic_allowed("arn:aws:sns:eu-west-1:123456789012:ses-events", allowed, 2));
	assert_false(
	    sns_topic_allowed("arn:aws:sns:eu-west-1:123456789012:ses-events", allowed, 1));
	assert_false(sns_topic_allowed("arn:aws:sns:us-east-1:123456789012:ses-event", allowed, 2));
	assert_false(
	    sns_topic_allowed("arn:aws:sns:us-east-1:123456789012:ses-events2", allowed, 2));
	assert_false(
	    sns_topic_allowed("ARN:aws:sns:us-east-1:123456789012:ses-events", allowed, 2));
	assert_false(sns_topic_allowed("", allowed, 2));
	assert_false(sns_topic_allowed(NULL, allowed, 2));
	assert_false(sns_topic_allowed("x", NULL, 0));
	assert_false(
	    sns_topic_allowed("arn:aws:sns:us-east-1:123456789012:ses-events", allowed, 0));
}

static void test_account_of_topic(void **state)
{
	static const struct {
		const char *arn, *account;
	} cases[] = {
	    {"arn:aws:sns:us-east-1:123456789012:ses-events", "123456789012"},
	    {"arn:aws-cn:sns:cn-north-1:210987654321:t", "210987654321"},
	    {"arn:aws-us-gov:sns:us-gov-west-1:000000000001:My_Topic-1", "000000000001"},
	    {"arn:aws:sns:us-east-1:123456789012:orders.fifo", "123456789012"},
	    {"arn:aws:sns:us-east-1:12345678901:t", NULL},
	    {"arn:aws:sns:us-east-1:1234567890123:t", NULL},
	    {"arn:aws:sns:us-east-1:12345678901a:t", NULL},
	    {"arn:aws:sqs:us-east-1:123456789012:t", NULL},
	    {"arn:aws:sns::123456789012:t", NULL},
	    {"arn:aws:sns:us-east-1:123456789012:", NULL},
	    {"arn:aws:sns:us-east-1:123456789012:t:sub-id", NULL},
	    {"arn:aws:sns:us-east-1:123456789012:a.b", NULL},
	    {"arn:aws:sns:us-east-1:123456789012:.fifo", NULL},
	    {"arn:awsx:sns:us-east-1:123456789012:t", NULL},
	    {"arn:aws-:sns:us-east-1:123456789012:t", NULL},
	    {"arn:aws:sns:US-EAST-1:123456789012:t", NULL},
	    {"", NULL},
	    {NULL, NULL},
	};
	char acct[SNS_ACCOUNT_LEN + 1];
	char longname[400];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = sns_account_of_topic(cases[i].arn, acct);
		if (cases[i].account) {
			if (rc != 0)
				fail_msg("%s: refused", cases[i].arn);
			assert_string_equal(acct, cases[i].account);
		} else {
			if (rc != -1)
				fail_msg("%s: accepted", cases[i].arn ? cases[i].arn : "NULL");
			assert_string_equal(acct, "");
		}
	}
	snprintf(longname, sizeof(longname), "arn:aws:sns:us-east-1:123456789012:%0256d", 0);
	assert_int_equal(sns_account_of_topic(longname, acct), 0);
	snprintf(longname, sizeof(longname), "arn:aws:sns:us-east-1:123456789012:%0257d", 0);
	assert_int_equal(sns_account_of_topic(longname, acct), -1);
}

static void test_helpers(void **state)
{
	struct sns_msg m;
	time_t t;

	assert_string_equal(sns_type_name(SNS_NOTIFICATION), "Notification");
	assert_string_equal(sns_type_name(SNS_SUBSCRIPTION_CONFIRMATION),
	                    "SubscriptionConfirmation");
	assert_string_equal(sns_type_name(SNS_UNSUBSCRIBE_CONFIRMATION), "UnsubscribeConfirmation");
	assert_string_equal(sns_type_name((enum sns_type)0), "?");
	assert_string_equal(sns_type_name((enum sns_type)99), "?");

	load_msg("notification-signaturev1.json", &m);
	assert_int_equal(sns_timestamp(&m, &t), 0);
	assert_int_equal(t, utc(2022, 7, 28, 21) + 23 * 60 + 58);
	m.timestamp[4] = 'x';
	assert_int_equal(sns_timestamp(&m, &t), -1);
	sns_msg_free(&m);
	assert_int_equal(sns_timestamp(&m, &t), -1);

	/* A string to sign needs the fields of its type. */
	assert_null(sns_string_to_sign(&m, NULL));
	assert_null(sns_string_to_sign(NULL, NULL));
	load_msg("generated/subscription-confirmation-v1.json", &m);
	free(m.token);
	m.token = NULL;
	assert_null(sns_string_to_sign(&m, NULL));
	sns_msg_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_genuine_v1),
	    cmocka_unit_test(test_genuine_v2),
	    cmocka_unit_test(test_genuine_lambda_keys),
	    cmocka_unit_test(test_genuine_cert_checks),
	    cmocka_unit_test(test_tamper),
	    cmocka_unit_test(test_tamper_body),
	    cmocka_unit_test(test_subject_absent_present),
	    cmocka_unit_test(test_confirmations),
	    cmocka_unit_test(test_wrong_version),
	    cmocka_unit_test(test_bad_base64),
	    cmocka_unit_test(test_wrong_cert),
	    cmocka_unit_test(test_cert_url),
	    cmocka_unit_test(test_parse_required),
	    cmocka_unit_test(test_parse_types),
	    cmocka_unit_test(test_parse_unsigned_dropped),
	    cmocka_unit_test(test_parse_malformed),
	    cmocka_unit_test(test_parse_duplicates),
	    cmocka_unit_test(test_parse_caps),
	    cmocka_unit_test(test_topic_allowed),
	    cmocka_unit_test(test_account_of_topic),
	    cmocka_unit_test(test_helpers),
	};

	if (find_datadir() < 0) {
		fprintf(stderr, "test_sns: tests/data/sns not found (set SESGATE_SRCDIR)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
