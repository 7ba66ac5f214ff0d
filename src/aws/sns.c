/*
 * sns.c - Amazon SNS HTTP/S message parsing and signature verification.
 *
 * Pure: no I/O, no clock, no globals, no logging; any thread may call it
 * (OpenSSL's error queue is per thread and is left empty on return).  The
 * input is an unauthenticated network body until sns_verify() accepts it,
 * so every field is capped and typed, and nothing the signature does not
 * cover is kept next to what it does (see struct sns_msg in sns.h).
 */
#include "aws/sns.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "aws/awsparse.h"
#include "base64.h"

/* Smallest RSA key we take a signature from; SNS uses 2048 bits. */
#define SNS_RSA_MIN_BITS 2048

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errcap, const char *fmt,
                                                          ...)
{
	va_list ap;

	if (!err || errcap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errcap, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */

/* Message types as bits, for the field table. */
#define T_N   (1u << SNS_NOTIFICATION)
#define T_S   (1u << SNS_SUBSCRIPTION_CONFIRMATION)
#define T_U   (1u << SNS_UNSUBSCRIBE_CONFIRMATION)
#define T_ALL (T_N | T_S | T_U)
#define T_C   (T_S | T_U)

/*
 * The keys sns_parse knows.  @keep: types whose message stores the value;
 * @need: types for which it must be present (and, unless @empty_ok,
 * non-empty).  Every known key must be a string in every type.
 */
struct sns_field {
	const char *key;
	const char *alias; /* Lambda's spelling, or NULL */
	size_t off;        /* of the char * in struct sns_msg */
	size_t max;
	unsigned keep, need;
	int empty_ok;
};

static const struct sns_field sns_fields[] = {
    {"MessageId", NULL, offsetof(struct sns_msg, message_id), SNS_ID_MAX, T_ALL, T_ALL, 0},
    {"TopicArn", NULL, offsetof(struct sns_msg, topic_arn), SNS_ARN_MAX, T_ALL, T_ALL, 0},
    {"Subject", NULL, offsetof(struct sns_msg, subject), SNS_SUBJECT_MAX, T_N, 0, 1},
    {"Message", NULL, offsetof(struct sns_msg, message), SNS_MESSAGE_MAX, T_ALL, T_ALL, 1},
    {"Timestamp", NULL, offsetof(struct sns_msg, timestamp), SNS_TIMESTAMP_MAX, T_ALL, T_ALL, 0},
    {"SignatureVersion", NULL, offsetof(struct sns_msg, signature_version), SNS_SIGVER_MAX, T_ALL,
     T_ALL, 0},
    {"Signature", NULL, offsetof(struct sns_msg, signature), SNS_SIG_MAX, T_ALL, T_ALL, 0},
    {"SigningCertURL", "SigningCertUrl", offsetof(struct sns_msg, signing_cert_url), SNS_URL_MAX,
     T_ALL, T_ALL, 0},
    {"SubscribeURL", NULL, offsetof(struct sns_msg, subscribe_url), SNS_URL_MAX, T_C, T_C, 0},
    {"Token", NULL, offsetof(struct sns_msg, token), SNS_TOKEN_MAX, T_C, T_C, 0},
    {"UnsubscribeURL", "UnsubscribeUrl", offsetof(struct sns_msg, unsubscribe_url), SNS_URL_MAX,
     T_N, 0, 0},
};

static const char *const sns_type_names[] = {
    [SNS_NOTIFICATION] = "Notification",
    [SNS_SUBSCRIPTION_CONFIRMATION] = "SubscriptionConfirmation",
    [SNS_UNSUBSCRIBE_CONFIRMATION] = "UnsubscribeConfirmation",
};

const char *sns_type_name(enum sns_type t)
{
	if (t < SNS_NOTIFICATION || t > SNS_UNSUBSCRIBE_CONFIRMATION)
		return "?";
	return sns_type_names[t];
}

static char **field_ptr(struct sns_msg *m, const struct sns_field *f)
{
	return (char **)(void *)((char *)m + f->off);
}

void sns_msg_free(struct sns_msg *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < sizeof(sns_fields) / sizeof(sns_fields[0]); i++) {
		char **p = field_ptr(m, &sns_fields[i]);
		free(*p);
		*p = NULL;
	}
	m->type = 0;
}

/* The value of @f in @root: NULL when absent or JSON null (as the SDKs'
 * verifiers treat it).  -1 when both spellings are present. */
static int field_get(json_t *root, const struct sns_field *f, json_t **val, const char **name)
{
	json_t *a = json_object_get(root, f->key);
	json_t *b = f->alias ? json_object_get(root, f->alias) : NULL;

	if (a && b)
		return -1;
	*val = a ? a : b;
	*name = a || !b ? f->key : f->alias;
	if (*val && json_is_null(*val))
		*val = NULL;
	return 0;
}

static int parse_type(json_t *root, enum sns_type *t, char *err, size_t errcap)
{
	json_t *v = json_object_get(root, "Type");
	const char *s;

	if (!v || json_is_null(v)) {
		set_err(err, errcap, "Type missing");
		return -1;
	}
	if (!json_is_string(v)) {
		set_err(err, errcap, "Type is not a string");
		return -1;
	}
	s = json_string_value(v);
	for (int i = SNS_NOTIFICATION; i <= SNS_UNSUBSCRIBE_CONFIRMATION; i++) {
		if (strcmp(s, sns_type_names[i]) == 0) {
			*t = (enum sns_type)i;
			return 0;
		}
	}
	set_err(err, errcap, "unknown Type");
	return -1;
}

int sns_parse(const char *body, size_t len, struct sns_msg *out, char *err, size_t errcap)
{
	json_error_t jerr;
	json_t *root = NULL;
	enum sns_type type;

	if (err && errcap)
		err[0] = '\0';
	if (!out)
		return -1;
	memset(out, 0, sizeof(*out));
	if (!body || len == 0) {
		set_err(err, errcap, "empty body");
		return -1;
	}
	if (len > SNS_BODY_MAX) {
		set_err(err, errcap, "body over %d octets", SNS_BODY_MAX);
		return -1;
	}
	/* No JSON_ALLOW_NUL: a "\u0000" is refused, so C strings are whole. */
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		/* jerr.text may quote the body; report the position only. */
		set_err(err, errcap, "%s (line %d column %d)",
		        json_error_code(&jerr) == json_error_duplicate_key ? "a key twice"
		                                                           : "not JSON",
		        jerr.line, jerr.column);
		return -1;
	}
	if (!json_is_object(root)) {
		set_err(err, errcap, "not a JSON object");
		goto fail;
	}
	if (parse_type(root, &type, err, errcap) < 0)
		goto fail;
	out->type = type;

	for (size_t i = 0; i < sizeof(sns_fields) / sizeof(sns_fields[0]); i++) {
		const struct sns_field *f = &sns_fields[i];
		unsigned bit = 1u << type;
		const char *name;
		json_t *v;
		size_t n;

		if (field_get(root, f, &v, &name) < 0) {
			set_err(err, errcap, "both %s and %s", f->key, f->alias);
			goto fail;
		}
		if (!v) {
			if (f->need & bit) {
				set_err(err, errcap, "%s missing", f->key);
				goto fail;
			}
			continue;
		}
		if (!json_is_string(v)) {
			set_err(err, errcap, "%s is not a string", name);
			goto fail;
		}
		n = json_string_length(v);
		if (n > f->max) {
			set_err(err, errcap, "%s over %zu octets", name, f->max);
			goto fail;
		}
		if (!(f->keep & bit))
			continue;
		if (n == 0 && !f->empty_ok) {
			set_err(err, errcap, "%s empty", name);
			goto fail;
		}
		char *s = malloc(n + 1);
		if (!s) {
			set_err(err, errcap, "out of memory");
			goto fail;
		}
		memcpy(s, json_string_value(v), n + 1);
		*field_ptr(out, f) = s;
	}
	json_decref(root);
	return 0;

fail:
	json_decref(root);
	sns_msg_free(out);
	return -1;
}

/* ------------------------------------------------------------------ */
/* String to sign                                                      */

char *sns_string_to_sign(const struct sns_msg *m, size_t *len)
{
	struct {
		const char *key, *val;
	} kv[7];
	size_t n = 0, total = 0, o = 0;
	char *buf;

	if (len)
		*len = 0;
	if (!m || !m->message || !m->message_id || !m->timestamp || !m->topic_arn)
		return NULL;
	kv[n].key = "Message", kv[n++].val = m->message;
	kv[n].key = "MessageId", kv[n++].val = m->message_id;
	switch (m->type) {
	case SNS_NOTIFICATION:
		if (m->subject)
			kv[n].key = "Subject", kv[n++].val = m->subject;
		kv[n].key = "Timestamp", kv[n++].val = m->timestamp;
		break;
	case SNS_SUBSCRIPTION_CONFIRMATION:
	case SNS_UNSUBSCRIBE_CONFIRMATION:
		if (!m->subscribe_url || !m->token)
			return NULL;
		kv[n].key = "SubscribeURL", kv[n++].val = m->subscribe_url;
		kv[n].key = "Timestamp", kv[n++].val = m->timestamp;
		kv[n].key = "Token", kv[n++].val = m->token;
		break;
	default:
		return NULL;
	}
	kv[n].key = "TopicArn", kv[n++].val = m->topic_arn;
	kv[n].key = "Type", kv[n++].val = sns_type_name(m->type);

	/* Values are bounded by sns_parse, but a caller may fill the struct
	 * itself: check for overflow anyway. */
	for (size_t i = 0; i < n; i++) {
		size_t add = strlen(kv[i].key) + strlen(kv[i].val) + 2;
		if (add > SIZE_MAX - 1 - total)
			return NULL;
		total += add;
	}
	buf = malloc(total + 1);
	if (!buf)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(kv[i].key), vl = strlen(kv[i].val);
		memcpy(buf + o, kv[i].key, kl);
		o += kl;
		buf[o++] = '\n';
		memcpy(buf + o, kv[i].val, vl);
		o += vl;
		buf[o++] = '\n';
	}
	buf[o] = '\0';
	if (len)
		*len = o;
	return buf;
}

/* ------------------------------------------------------------------ */
/* Certificate URL                                                     */

static int is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_label_char(int c)
{
	return is_alnum(c) || c == '-';
}

/*
 * Does the authority @h (@hl octets) match the pattern alternative @p (@pl
 * octets)?  Literal, except that a "*" standing as a whole label matches
 * 3 or more label characters; as those never include '.', ':' or ']', a
 * "*" cannot reach past its own label.
 */
static int host_match_one(const char *p, size_t pl, const char *h, size_t hl)
{
	size_t i = 0, j = 0;

	if (pl == 0)
		return 0;
	while (i < pl) {
		if (p[i] == '*') {
			size_t k = j;
			if ((i > 0 && p[i - 1] != '.') ||
			    (i + 1 < pl && p[i + 1] != '.' && p[i + 1] != ':'))
				return 0;
			while (k < hl && is_label_char((unsigned char)h[k]))
				k++;
			if (k - j < 3)
				return 0;
			j = k;
			i++;
			continue;
		}
		if (j >= hl || p[i] != h[j])
			return 0;
		i++;
		j++;
	}
	return j == hl;
}

static int host_match(const char *pattern, const char *h, size_t hl)
{
	const char *p = pattern;

	for (;;) {
		size_t pl = strcspn(p, ",");
		if (host_match_one(p, pl, h, hl))
			return 1;
		if (p[pl] == '\0')
			return 0;
		p += pl + 1;
	}
}

/* @path starts with '/': safe characters only, no empty, "." or ".."
 * segment, and a last segment "X.pem". */
static int cert_path_ok(const char *path)
{
	const char *seg = path + 1;

	for (const char *q = path; *q; q++) {
		int c = (unsigned char)*q;
		if (!is_alnum(c) && c != '.' && c != '_' && c != '~' && c != '/' && c != '-')
			return 0;
	}
	for (;;) {
		size_t sl = strcspn(seg, "/");
		if (sl == 0 || (sl == 1 && seg[0] == '.') ||
		    (sl == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		if (seg[sl] == '\0')
			return sl > 4 && memcmp(seg + sl - 4, ".pem", 4) == 0;
		seg += sl + 1;
	}
}

int sns_cert_url_ok(const char *url, const char *host_pattern)
{
	const char *auth;
	size_t alen;

	if (!url || strnlen(url, SNS_URL_MAX + 1) > SNS_URL_MAX)
		return 0;
	if (strncasecmp(url, "https://", 8) != 0)
		return 0;
	auth = url + 8;
	alen = strcspn(auth, "/?#");
	if (alen == 0 || auth[alen] != '/')
		return 0;
	for (size_t i = 0; i < alen; i++) {
		int c = (unsigned char)auth[i];
		if (!is_label_char(c) && c != '.' && c != ':' && c != '[' && c != ']')
			return 0;
	}
	if (!cert_path_ok(auth + alen))
		return 0;
	return host_match(host_pattern ? host_pattern : SNS_CERT_HOST_DEFAULT, auth, alen);
}

/* ------------------------------------------------------------------ */
/* Signature                                                           */

/* Never prompt for a passphrase, whatever the PEM says. */
static int no_pass_cb(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

static int cert_time_ok(X509 *cert, time_t now, char *err, size_t errcap)
{
	/* X509_cmp_time: -1 when the field is <= now, 1 when later, 0 error. */
	if (X509_cmp_time(X509_get0_notBefore(cert), &now) != -1) {
		set_err(err, errcap, "certificate not yet valid");
		return -1;
	}
	if (X509_cmp_time(X509_get0_notAfter(cert), &now) != 1) {
		set_err(err, errcap, "certificate expired");
		return -1;
	}
	return 0;
}

/* Does @cert chain to a CA in @opts->ca_pem, with @chain as intermediates? */
static int cert_chain_ok(X509 *cert, STACK_OF(X509) * chain, const struct sns_verify_opts *opts,
                         char *err, size_t errcap)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509_INFO) *infos = NULL;
	BIO *bio = NULL;
	int rc = -1, added = 0;

	if (opts->ca_len > INT_MAX) {
		set_err(err, errcap, "CA bundle too large");
		return -1;
	}
	store = X509_STORE_new();
	bio = BIO_new_mem_buf(opts->ca_pem, (int)opts->ca_len);
	if (!store || !bio)
		goto oom;
	infos = PEM_X509_INFO_read_bio(bio, NULL, no_pass_cb, NULL);
	for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);
		if (xi->x509) {
			if (X509_STORE_add_cert(store, xi->x509) != 1)
				goto oom;
			added++;
		}
	}
	if (added == 0) {
		set_err(err, errcap, "no certificate in the CA bundle");
		goto out;
	}
	ctx = X509_STORE_CTX_new();
	if (!ctx || X509_STORE_CTX_init(ctx, store, cert, chain) != 1)
		goto oom;
	if (opts->now)
		X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), opts->now);
	else
		X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx),
		                            X509_V_FLAG_NO_CHECK_TIME);
	if (X509_verify_cert(ctx) != 1) {
		set_err(err, errcap, "certificate chain: %s",
		        X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	rc = 0;
	goto out;
oom:
	set_err(err, errcap, "out of memory");
out:
	X509_STORE_CTX_free(ctx);
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	X509_STORE_free(store);
	return rc;
}

/* The requested checks on the certificate itself. */
static int cert_checks(X509 *cert, STACK_OF(X509) * chain, const struct sns_verify_opts *opts,
                       char *err, size_t errcap)
{
	EVP_PKEY *pkey = X509_get0_pubkey(cert);

	if (!pkey || !EVP_PKEY_is_a(pkey, "RSA")) {
		set_err(err, errcap, "certificate key is not RSA");
		return -1;
	}
	if (EVP_PKEY_get_bits(pkey) < SNS_RSA_MIN_BITS) {
		set_err(err, errcap, "certificate key under %d bits", SNS_RSA_MIN_BITS);
		return -1;
	}
	if (!opts)
		return 0;
	if (opts->now && cert_time_ok(cert, opts->now, err, errcap) < 0)
		return -1;
	if (opts->cert_host && X509_check_host(cert, opts->cert_host, strlen(opts->cert_host),
	                                       X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) != 1) {
		set_err(err, errcap, "certificate is not for %s", opts->cert_host);
		return -1;
	}
	if (opts->ca_pem && cert_chain_ok(cert, chain, opts, err, errcap) < 0)
		return -1;
	return 0;
}

/* The first certificate in @pem, and the ones after it in *@chain. */
static X509 *cert_load(const char *pem, size_t len, STACK_OF(X509) * *chain)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *cert = NULL, *x;

	*chain = NULL;
	if (!bio)
		return NULL;
	cert = PEM_read_bio_X509(bio, NULL, no_pass_cb, NULL);
	if (cert) {
		*chain = sk_X509_new_null();
		while (*chain && (x = PEM_read_bio_X509(bio, NULL, no_pass_cb, NULL)) != NULL) {
			if (!sk_X509_push(*chain, x)) {
				X509_free(x);
				break;
			}
		}
	}
	BIO_free(bio);
	return cert;
}

int sns_verify(const struct sns_msg *m, const char *cert_pem, size_t pemlen,
               const struct sns_verify_opts *opts, char *err, size_t errcap)
{
	unsigned char sig[SNS_SIG_MAX];
	const EVP_MD *md;
	STACK_OF(X509) *chain = NULL;
	X509 *cert = NULL;
	EVP_MD_CTX *mdctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	char *tbs = NULL;
	size_t tbslen = 0, siglen;
	long n;
	int rc = -1;

	if (err && errcap)
		err[0] = '\0';
	if (!m || !m->signature_version || !m->signature) {
		set_err(err, errcap, "no signature");
		return -1;
	}
	if (strcmp(m->signature_version, "1") == 0) {
		md = EVP_sha1();
	} else if (strcmp(m->signature_version, "2") == 0) {
		md = EVP_sha256();
	} else {
		set_err(err, errcap, "unsupported SignatureVersion");
		return -1;
	}
	siglen = strlen(m->signature);
	n = siglen <= SNS_SIG_MAX ? base64_decode(m->signature, siglen, sig, sizeof(sig)) : -1;
	if (n <= 0) {
		set_err(err, errcap, "Signature is not base64");
		return -1;
	}
	tbs = sns_string_to_sign(m, &tbslen);
	if (!tbs) {
		set_err(err, errcap, "message incomplete or out of memory");
		return -1;
	}
	if (!cert_pem || pemlen == 0 || pemlen > SNS_CERT_PEM_MAX) {
		set_err(err, errcap, "no certificate or too large");
		goto out;
	}
	cert = cert_load(cert_pem, pemlen, &chain);
	if (!cert) {
		set_err(err, errcap, "not a PEM certificate");
		goto out;
	}
	if (cert_checks(cert, chain, opts, err, errcap) < 0)
		goto out;

	mdctx = EVP_MD_CTX_new();
	if (!mdctx || EVP_DigestVerifyInit(mdctx, &pctx, md, NULL, X509_get0_pubkey(cert)) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
		set_err(err, errcap, "cannot set up the verification");
		goto out;
	}
	if (EVP_DigestVerify(mdctx, sig, (size_t)n, (const unsigned char *)tbs, tbslen) != 1) {
		set_err(err, errcap, "signature does not match");
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(mdctx);
	sk_X509_pop_free(chain, X509_free);
	X509_free(cert);
	free(tbs);
	/* Leave nothing behind for the next TLS call on this thread. */
	ERR_clear_error();
	return rc;
}

/* ------------------------------------------------------------------ */
/* Topics                                                              */

int sns_topic_allowed(const char *topic_arn, const char *const *allowed, size_t n)
{
	if (!topic_arn || !*topic_arn || !allowed)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (allowed[i] && strcmp(allowed[i], topic_arn) == 0)
			return 1;
	}
	return 0;
}

/* Length of the run of characters at @s that @ok accepts. */
static size_t span(const char *s, int (*ok)(int))
{
	size_t n = 0;

	while (s[n] && ok((unsigned char)s[n]))
		n++;
	return n;
}

static int is_region_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_topic_char(int c)
{
	return is_alnum(c) || c == '-' || c == '_';
}

int sns_account_of_topic(const char *topic_arn, char account[SNS_ACCOUNT_LEN + 1])
{
	const char *p = topic_arn;
	size_t n;

	account[0] = '\0';
	if (!p || strncmp(p, "arn:aws", 7) != 0)
		return -1;
	p += 7;
	if (*p == '-') {
		n = span(p + 1, is_region_char);
		if (n == 0)
			return -1;
		p += 1 + n;
	}
	if (strncmp(p, ":sns:", 5) != 0)
		return -1;
	p += 5;
	n = span(p, is_region_char);
	if (n == 0 || p[n] != ':')
		return -1;
	p += n + 1;
	n = span(p, is_digit);
	if (n != SNS_ACCOUNT_LEN || p[n] != ':')
		return -1;
	const char *acct = p;
	p += n + 1;
	n = span(p, is_topic_char);
	if (n == 0)
		return -1;
	if (strcmp(p + n, ".fifo") == 0)
		n += 5;
	if (p[n] != '\0' || n > 256)
		return -1;
	memcpy(account, acct, SNS_ACCOUNT_LEN);
	account[SNS_ACCOUNT_LEN] = '\0';
	return 0;
}

int sns_timestamp(const struct sns_msg *m, time_t *out)
{
	if (!m || !m->timestamp || !out)
		return -1;
	return aws_parse_iso8601(m->timestamp, strlen(m->timestamp), out) == 0 ? 0 : -1;
}
