/*
 * AWS Signature Version 4 signing (see sigv4.h for the API).
 *
 * Builds the canonical request, the string to sign and the Authorization
 * header from caller-supplied request pieces, using OpenSSL's EVP one-shot
 * digest/MAC calls.  It must never log, store or return the secret key or
 * any key derived from it: derived keys live on the stack and are wiped
 * with OPENSSL_cleanse() before returning.  No I/O, no clock, no globals.
 */
#include "aws/sigv4.h"

#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define SHA256_LEN 32

/* ---- growable string -------------------------------------------------- */

/* A small append-only buffer.  Errors are sticky so that call sites can
 * append freely and check once at the end. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_grow(struct sbuf *sb, size_t add)
{
	size_t need, ncap;
	char *np;

	if (sb->oom)
		return;
	if (add > SIZE_MAX - sb->len - 1) {
		sb->oom = true;
		return;
	}
	need = sb->len + add + 1;
	if (need <= sb->cap)
		return;
	ncap = sb->cap ? sb->cap : 256;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	np = realloc(sb->p, ncap);
	if (!np) {
		sb->oom = true;
		return;
	}
	sb->p = np;
	sb->cap = ncap;
}

static void sb_addn(struct sbuf *sb, const char *s, size_t n)
{
	sb_grow(sb, n);
	if (sb->oom)
		return;
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

static void sb_add(struct sbuf *sb, const char *s)
{
	sb_addn(sb, s, strlen(s));
}

static void sb_addc(struct sbuf *sb, char c)
{
	sb_addn(sb, &c, 1);
}

/* Hand the string over to the caller (never NULL on success). */
static char *sb_take(struct sbuf *sb)
{
	char *p;

	if (sb->oom) {
		free(sb->p);
		sb->p = NULL;
		return NULL;
	}
	if (!sb->p)
		sb_addn(sb, "", 0);
	p = sb->p;
	sb->p = NULL;
	sb->len = sb->cap = 0;
	return p;
}

/* ---- encoding helpers ------------------------------------------------- */

static const char hexdig[] = "0123456789ABCDEF";
static const char hexlow[] = "0123456789abcdef";

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* RFC 3986 encoding as AWS wants it: everything but the unreserved set
 * becomes %XX with upper-case hex; @keep_slash leaves '/' alone (paths). */
static void sb_uri_encode(struct sbuf *sb, const char *s, size_t n,
			  bool keep_slash)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			sb_addc(sb, (char)c);
		} else {
			char e[3] = { '%', hexdig[c >> 4], hexdig[c & 15] };

			sb_addn(sb, e, 3);
		}
	}
}


/* Query components arrive as sent (possibly already percent-encoded), so
 * decode %XX first and re-encode: that makes "%e1%88%b4" and the raw
 * UTF-8 bytes sign identically, which is what the server does.  A '%'
 * not followed by two hex digits is kept literally (and encoded as %25).
 * '+' is not treated as a space: AWS wants spaces sent as %20. */
static void sb_query_component(struct sbuf *sb, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int hi, lo;

		if (c == '%' && i + 2 < n && (hi = util_hexval(s[i + 1])) >= 0 &&
		    (lo = util_hexval(s[i + 2])) >= 0) {
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		sb_uri_encode(sb, (const char *)&c, 1, false);
	}
}

static void hex_lower(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexlow[in[i] >> 4];
		out[2 * i + 1] = hexlow[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ---- crypto ----------------------------------------------------------- */

static int sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[SHA256_LEN];
	size_t mdlen = 0;

	if (!EVP_Q_digest(NULL, "SHA256", NULL, data, len, md, &mdlen) ||
	    mdlen != SHA256_LEN)
		return -EIO;
	hex_lower(md, SHA256_LEN, out);
	return 0;
}

static int hmac_sha256(const void *key, size_t keylen, const void *data,
		       size_t len, unsigned char out[SHA256_LEN])
{
	size_t outlen = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen,
		       data, len, out, SHA256_LEN, &outlen) ||
	    outlen != SHA256_LEN)
		return -EIO;
	return 0;
}

/* ---- canonical URI ---------------------------------------------------- */

/*
 * Non-S3 services normalise the path before signing: empty segments
 * ("//") and "." go away, ".." drops the previous segment (never above the
 * root), and a trailing slash survives.  Following RFC 3986 section 5.2.4,
 * a path ending in "/." or "/.." also ends in '/' afterwards.  The result
 * is then percent-encoded once more, so "%" in the raw path becomes "%25"
 * (AWS's "double encoding" for everything but S3).
 */
static int canonical_uri(struct sbuf *sb, const char *path, bool s3)
{
	size_t n = path ? strlen(path) : 0;
	size_t *segs, *lens, nseg = 0, i = 0;
	bool trailing = false;

	if (n == 0) {
		sb_addc(sb, '/');
		return 0;
	}
	if (s3) {
		/* Caller promises the S3 encoding already; '/' is added
		 * only if the path is relative, which HTTP forbids. */
		if (path[0] != '/')
			sb_addc(sb, '/');
		sb_addn(sb, path, n);
		return 0;
	}
	/* At most n/2+1 segments; store offsets, not copies. */
	segs = calloc(n / 2 + 2, sizeof(*segs));
	lens = calloc(n / 2 + 2, sizeof(*lens));
	if (!segs || !lens) {
		free(segs);
		free(lens);
		return -ENOMEM;
	}
	while (i < n) {
		size_t start, len;

		while (i < n && path[i] == '/')
			i++;
		start = i;
		while (i < n && path[i] != '/')
			i++;
		len = i - start;
		if (len == 0 || (len == 1 && path[start] == '.'))
			continue;
		if (len == 2 && path[start] == '.' && path[start + 1] == '.') {
			if (nseg)
				nseg--;
			continue;
		}
		segs[nseg] = start;
		lens[nseg] = len;
		nseg++;
	}
	/* Last raw segment: "", "." or ".." all leave a directory path. */
	{
		const char *last = strrchr(path, '/');

		last = last ? last + 1 : path;
		trailing = !strcmp(last, "") || !strcmp(last, ".") ||
			   !strcmp(last, "..");
	}
	sb_addc(sb, '/');
	for (i = 0; i < nseg; i++) {
		sb_uri_encode(sb, path + segs[i], lens[i], false);
		if (i + 1 < nseg || trailing)
			sb_addc(sb, '/');
	}
	free(segs);
	free(lens);
	return 0;
}

/* ---- canonical query -------------------------------------------------- */

struct qparam {
	char *name;	/* encoded */
	char *value;	/* encoded */
};

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : strcmp(x->value, y->value);
}

static char *encode_component(const char *s, size_t n)
{
	struct sbuf sb = { 0 };

	sb_query_component(&sb, s, n);
	return sb_take(&sb);
}

/* Parameters are sorted by encoded name, then encoded value (byte order),
 * and a parameter without '=' signs as "name=". */
static int canonical_query(struct sbuf *sb, const char *q)
{
	struct qparam *ps;
	size_t np = 0, cnt = 1, i;
	const char *p;
	int ret = 0;

	if (!q || !*q)
		return 0;
	for (p = q; *p; p++)
		cnt += *p == '&';
	ps = calloc(cnt, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	p = q;
	while (*p) {
		const char *end = strchr(p, '&'), *eq;
		size_t len;

		if (!end)
			end = p + strlen(p);
		len = (size_t)(end - p);
		if (len) {
			eq = memchr(p, '=', len);
			ps[np].name = encode_component(p, eq ? (size_t)(eq - p) : len);
			ps[np].value = eq ? encode_component(eq + 1, (size_t)(end - eq - 1))
					  : encode_component("", 0);
			np++;
			if (!ps[np - 1].name || !ps[np - 1].value) {
				ret = -ENOMEM;
				goto out;
			}
		}
		p = *end ? end + 1 : end;
	}
	qsort(ps, np, sizeof(*ps), qparam_cmp);
	for (i = 0; i < np; i++) {
		if (i)
			sb_addc(sb, '&');
		sb_add(sb, ps[i].name);
		sb_addc(sb, '=');
		sb_add(sb, ps[i].value);
	}
out:
	for (i = 0; i < np; i++) {
		free(ps[i].name);
		free(ps[i].value);
	}
	free(ps);
	return ret;
}

/* ---- canonical headers ------------------------------------------------ */

struct chdr {
	char *name;		/* lower-cased copy */
	const char *value;	/* caller's, untrimmed */
	size_t order;		/* input position, keeps duplicates in order */
};

static int chdr_cmp(const void *a, const void *b)
{
	const struct chdr *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* RFC 7230 token characters; anything else in a name is refused rather
 * than signed, since it could never be sent as that header. */
static bool valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
			return false;
	}
	return true;
}

static bool valid_value(const char *s)
{
	/* CR/LF would let a value smuggle in extra headers. */
	return !strpbrk(s, "\r\n");
}

/* Trim SP/HTAB at both ends and collapse inner runs to one space. */
static void sb_header_value(struct sbuf *sb, const char *v)
{
	bool pending = false, started = false;

	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			pending = started;
			continue;
		}
		if (pending)
			sb_addc(sb, ' ');
		pending = false;
		started = true;
		sb_addc(sb, *v);
	}
}

static char *lower_dup(const char *s)
{
	size_t n = strlen(s);
	char *d = malloc(n + 1);

	if (!d)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		d[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
	return d;
}

/* Appends the canonical header block (each "name:value\n") to @sb and the
 * signed-header list ("a;b;c") to @sh. */
static int canonical_headers(struct sbuf *sb, struct sbuf *sh,
			     const struct sigv4_request *req,
			     const struct sigv4_credentials *cr,
			     const struct sigv4_result *out)
{
	bool add_sha = req->flags & SIGV4_ADD_CONTENT_SHA256;
	bool add_tok = cr->session_token && !(req->flags & SIGV4_TOKEN_UNSIGNED);
	size_t cap = req->nheaders + 3, n = 0, i;
	struct chdr *hs;
	int ret = 0;

	hs = calloc(cap, sizeof(*hs));
	if (!hs)
		return -ENOMEM;
	for (i = 0; i < req->nheaders; i++) {
		const struct sigv4_header *h = &req->headers[i];
		char *ln;

		if (!h->name || !h->value || !valid_name(h->name) ||
		    !valid_value(h->value)) {
			ret = -EINVAL;
			goto out;
		}
		ln = lower_dup(h->name);
		if (!ln) {
			ret = -ENOMEM;
			goto out;
		}
		/* Headers we compute ourselves replace the caller's. */
		if (!strcmp(ln, "x-amz-date") || !strcmp(ln, "authorization") ||
		    (cr->session_token && !strcmp(ln, "x-amz-security-token")) ||
		    (add_sha && !strcmp(ln, "x-amz-content-sha256"))) {
			free(ln);
			continue;
		}
		hs[n].name = ln;
		hs[n].value = h->value;
		hs[n].order = n;
		n++;
	}
	{
		/* Our own headers, at the end so duplicates cannot occur. */
		const char *extra_n[3] = { "x-amz-date", NULL, NULL };
		const char *extra_v[3] = { out->amz_date, NULL, NULL };
		size_t ne = 1;

		if (add_sha) {
			extra_n[ne] = "x-amz-content-sha256";
			extra_v[ne++] = out->content_sha256;
		}
		if (add_tok) {
			if (!valid_value(cr->session_token)) {
				ret = -EINVAL;
				goto out;
			}
			extra_n[ne] = "x-amz-security-token";
			extra_v[ne++] = cr->session_token;
		}
		for (i = 0; i < ne; i++) {
			hs[n].name = lower_dup(extra_n[i]);
			if (!hs[n].name) {
				ret = -ENOMEM;
				goto out;
			}
			hs[n].value = extra_v[i];
			hs[n].order = n;
			n++;
		}
	}
	qsort(hs, n, sizeof(*hs), chdr_cmp);
	for (i = 0; i < n; i++) {
		bool same = i && !strcmp(hs[i].name, hs[i - 1].name);

		if (same) {
			/* Repeated header: values joined by ',' in the
			 * order given, as a proxy would fold them. */
			sb_addc(sb, ',');
		} else {
			if (i) {
				sb_addc(sb, '\n');
				sb_addc(sh, ';');
			}
			sb_add(sb, hs[i].name);
			sb_addc(sb, ':');
			sb_add(sh, hs[i].name);
		}
		sb_header_value(sb, hs[i].value);
	}
	if (n)
		sb_addc(sb, '\n');
out:
	for (i = 0; i < n; i++)
		free(hs[i].name);
	free(hs);
	return ret;
}

/* ---- top level -------------------------------------------------------- */

void sigv4_result_free(struct sigv4_result *res)
{
	if (!res)
		return;
	free(res->authorization);
	free(res->canonical_request);
	free(res->string_to_sign);
	memset(res, 0, sizeof(*res));
}

static bool valid_scope_part(const char *s)
{
	/* These end up in the credential scope, separated by '/'. */
	return s && *s && !strpbrk(s, "/ \t\r\n,=");
}

static int sign_sts(const struct sigv4_credentials *cr, const char *date8,
		    const char *region, const char *service, const char *sts,
		    char sig_hex[65])
{
	size_t sklen = strlen(cr->secret_key);
	unsigned char k1[SHA256_LEN], k2[SHA256_LEN], sig[SHA256_LEN];
	char *ksecret;
	int ret;

	/* kSecret = "AWS4" + secret; heap because the secret has no fixed
	 * bound, wiped before it is freed. */
	ksecret = malloc(sklen + 5);
	if (!ksecret)
		return -ENOMEM;
	memcpy(ksecret, "AWS4", 4);
	memcpy(ksecret + 4, cr->secret_key, sklen + 1);

	ret = hmac_sha256(ksecret, sklen + 4, date8, 8, k1);
	if (!ret)
		ret = hmac_sha256(k1, SHA256_LEN, region, strlen(region), k2);
	if (!ret)
		ret = hmac_sha256(k2, SHA256_LEN, service, strlen(service), k1);
	if (!ret)
		ret = hmac_sha256(k1, SHA256_LEN, "aws4_request", 12, k2);
	if (!ret)
		ret = hmac_sha256(k2, SHA256_LEN, sts, strlen(sts), sig);
	if (!ret)
		hex_lower(sig, SHA256_LEN, sig_hex);

	OPENSSL_cleanse(ksecret, sklen + 5);
	free(ksecret);
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	return ret;
}

int sigv4_sign(const struct sigv4_request *req,
	       const struct sigv4_credentials *cr,
	       const char *region, const char *service, time_t now,
	       struct sigv4_result *out)
{
	struct sbuf creq = { 0 }, sh = { 0 }, sts = { 0 }, az = { 0 };
	char creq_hash[65], sig_hex[65], date8[9], scope_tail[512];
	struct tm tm;
	int ret;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!req || !cr || !req->method || !*req->method ||
	    !cr->access_key || !valid_scope_part(cr->access_key) ||
	    !cr->secret_key || !valid_scope_part(region) ||
	    !valid_scope_part(service) ||
	    (req->nheaders && !req->headers) ||
	    (req->payload_len && !req->payload && !req->payload_hash))
		return -EINVAL;

	if (!gmtime_r(&now, &tm) ||
	    strftime(out->amz_date, sizeof(out->amz_date), "%Y%m%dT%H%M%SZ",
		     &tm) != 16)
		return -EINVAL;
	memcpy(date8, out->amz_date, 8);
	date8[8] = '\0';

	if (req->payload_hash) {
		size_t hl = strlen(req->payload_hash);

		if (!hl || hl >= sizeof(out->content_sha256) ||
		    !valid_value(req->payload_hash))
			return -EINVAL;
		memcpy(out->content_sha256, req->payload_hash, hl + 1);
	} else {
		ret = sha256_hex(req->payload ? req->payload : "",
				 req->payload_len, out->content_sha256);
		if (ret)
			return ret;
	}
	if (cr->session_token) {
		if (!valid_value(cr->session_token))
			return -EINVAL;
		out->security_token = cr->session_token;
	}

	/* Canonical request: method, URI, query, headers, signed headers,
	 * payload hash, one per line. */
	sb_add(&creq, req->method);
	sb_addc(&creq, '\n');
	ret = canonical_uri(&creq, req->path, req->flags & SIGV4_S3_PATH);
	if (ret)
		goto fail;
	sb_addc(&creq, '\n');
	ret = canonical_query(&creq, req->query);
	if (ret)
		goto fail;
	sb_addc(&creq, '\n');
	ret = canonical_headers(&creq, &sh, req, cr, out);
	if (ret)
		goto fail;
	sb_addc(&creq, '\n');
	sb_addn(&creq, sh.p ? sh.p : "", sh.len);
	sb_addc(&creq, '\n');
	sb_add(&creq, out->content_sha256);
	if (creq.oom || sh.oom) {
		ret = -ENOMEM;
		goto fail;
	}

	ret = sha256_hex(creq.p, creq.len, creq_hash);
	if (ret)
		goto fail;
	if ((size_t)snprintf(scope_tail, sizeof(scope_tail),
			     "%s/%s/%s/aws4_request", date8, region,
			     service) >= sizeof(scope_tail)) {
		ret = -EINVAL;
		goto fail;
	}

	sb_add(&sts, "AWS4-HMAC-SHA256\n");
	sb_add(&sts, out->amz_date);
	sb_addc(&sts, '\n');
	sb_add(&sts, scope_tail);
	sb_addc(&sts, '\n');
	sb_add(&sts, creq_hash);
	if (sts.oom) {
		ret = -ENOMEM;
		goto fail;
	}

	ret = sign_sts(cr, date8, region, service, sts.p, sig_hex);
	if (ret)
		goto fail;

	sb_add(&az, "AWS4-HMAC-SHA256 Credential=");
	sb_add(&az, cr->access_key);
	sb_addc(&az, '/');
	sb_add(&az, scope_tail);
	sb_add(&az, ", SignedHeaders=");
	sb_addn(&az, sh.p, sh.len);
	sb_add(&az, ", Signature=");
	sb_add(&az, sig_hex);

	out->canonical_request = sb_take(&creq);
	out->string_to_sign = sb_take(&sts);
	out->authorization = sb_take(&az);
	free(sh.p);
	if (!out->canonical_request || !out->string_to_sign ||
	    !out->authorization) {
		sigv4_result_free(out);
		return -ENOMEM;
	}
	return 0;

fail:
	free(creq.p);
	free(sh.p);
	free(sts.p);
	free(az.p);
	memset(out, 0, sizeof(*out));
	return ret;
}
