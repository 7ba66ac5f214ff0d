/*
 * awsparse.c - parsers for the AWS shared config/credentials INI files and
 * for STS XML responses (AssumeRole credentials, query-protocol errors).
 *
 * Everything here is a pure function of the bytes passed in: no I/O, no
 * globals, no logging.  It must never log, print or return any part of a
 * secret other than in the caller-owned result, and every heap copy of a
 * secret is wiped with OPENSSL_cleanse() before it is freed, including
 * copies abandoned on an error path.
 *
 * The XML reader is deliberately tiny: it walks tags, checks that they nest,
 * refuses DTDs (so no entity definitions and no entity expansion attacks)
 * and hands leaf-element text to a callback.  It is not a general XML
 * parser and does not need to be: STS answers are small, flat documents.
 */
#include "aws/awsparse.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* Longest leaf value we accept.  Session tokens are a few KiB at most; a
 * larger value means a broken or hostile peer, not a longer token. */
#define AWS_XML_MAX_VALUE (64u * 1024u)
/* STS documents are four or five levels deep. */
#define AWS_XML_MAX_DEPTH 32

static void wipe_free(char *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* Case-insensitive compare of a counted string with a C string. */
static int ieq(const char *s, size_t n, const char *z)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!z[i] || lower((unsigned char)s[i]) != lower((unsigned char)z[i]))
			return 0;
	return z[n] == '\0';
}

static int eq(const char *s, size_t n, const char *z)
{
	return strlen(z) == n && memcmp(s, z, n) == 0;
}

/* ------------------------------------------------------------------ */
/* INI                                                                 */

static int is_ws(int c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *n)
{
	while (*n && is_ws((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_ws((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

void aws_profile_free(struct aws_profile *p)
{
	if (!p)
		return;
	wipe_free(p->aws_access_key_id);
	wipe_free(p->aws_secret_access_key);
	wipe_free(p->aws_session_token);
	wipe_free(p->region);
	wipe_free(p->role_arn);
	wipe_free(p->source_profile);
	wipe_free(p->external_id);
	wipe_free(p->web_identity_token_file);
	wipe_free(p->role_session_name);
	memset(p, 0, sizeof(*p));
}

static char **profile_slot(struct aws_profile *p, const char *k, size_t n)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "aws_access_key_id", offsetof(struct aws_profile, aws_access_key_id) },
		{ "aws_secret_access_key", offsetof(struct aws_profile, aws_secret_access_key) },
		{ "aws_session_token", offsetof(struct aws_profile, aws_session_token) },
		{ "region", offsetof(struct aws_profile, region) },
		{ "role_arn", offsetof(struct aws_profile, role_arn) },
		{ "source_profile", offsetof(struct aws_profile, source_profile) },
		{ "external_id", offsetof(struct aws_profile, external_id) },
		{ "web_identity_token_file", offsetof(struct aws_profile, web_identity_token_file) },
		{ "role_session_name", offsetof(struct aws_profile, role_session_name) },
	};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (ieq(k, n, keys[i].key))
			return (char **)((char *)p + keys[i].off);
	return NULL;
}

/*
 * Does the section header body (between the brackets, trimmed) name
 * @profile?  The config file prefixes every profile but the default with
 * "profile " (botocore also accepts "[profile default]"); other prefixes
 * such as "sso-session" or "services" are not profiles at all.  The
 * credentials file uses bare names, so "[profile x]" there is literally a
 * profile called "profile x".
 */
static int section_matches(const char *s, size_t n, const char *profile,
			   int config_style)
{
	if (!config_style)
		return eq(s, n, profile);
	if (eq(s, n, "default"))
		return strcmp(profile, "default") == 0;
	if (n > 7 && memcmp(s, "profile", 7) == 0 && is_ws((unsigned char)s[7])) {
		s += 7;
		n -= 7;
		trim(&s, &n);
		return n && eq(s, n, profile);
	}
	return 0;
}

int aws_ini_profile(const char *text, size_t len, const char *profile,
		    int config_style, struct aws_profile *out)
{
	struct aws_profile p;
	size_t pos = 0;
	int have_section = 0;	/* any section header seen yet */
	int in_target = 0;	/* current section is @profile */
	int found = 0;
	int nested = 0;		/* inside an indented "key =" sub-section */
	int prev_key = 0;	/* previous line was a key with a value */

	memset(&p, 0, sizeof(p));
	if (out)
		memset(out, 0, sizeof(*out));
	if (!text || !profile || !out || !*profile)
		return -1;
	/* NUL cannot be in a text file; taking it as a terminator would make
	 * what we parse differ from what the user sees in an editor. */
	if (memchr(text, '\0', len))
		return -1;

	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		const char *s;
		size_t sn;
		int indented;

		pos += n + (nl ? 1 : 0);
		if (n && line[n - 1] == '\r')
			n--;
		indented = n && is_ws((unsigned char)line[0]);
		s = line;
		sn = n;
		trim(&s, &sn);

		if (!sn || s[0] == '#' || s[0] == ';')
			continue;

		if (indented) {
			/* Indented lines belong to a nested block such as
			 * "s3 =\n  max_concurrent_requests = 10", which no
			 * key we extract uses.  After a key that has a value
			 * they would be an INI continuation line; the SDKs
			 * would splice it into that value, and guessing
			 * wrong about a secret is worse than refusing. */
			if (nested)
				continue;
			if (prev_key)
				goto malformed;
			/* Indented key line right after a header: take it
			 * as an ordinary key (configparser does too). */
		}
		nested = 0;
		prev_key = 0;

		if (s[0] == '[') {
			if (s[sn - 1] != ']' || sn < 3)
				goto malformed;
			s++;
			sn -= 2;
			trim(&s, &sn);
			if (!sn)
				goto malformed;
			have_section = 1;
			in_target = section_matches(s, sn, profile,
						    config_style);
			if (in_target)
				found = 1;
			continue;
		} else {
			const char *eqp = memchr(s, '=', sn);
			const char *k, *v;
			size_t kn, vn;
			char **slot;
			char *val;

			if (!eqp || !have_section)
				goto malformed;
			k = s;
			kn = (size_t)(eqp - s);
			v = eqp + 1;
			vn = sn - kn - 1;
			trim(&k, &kn);
			trim(&v, &vn);
			if (!kn)
				goto malformed;
			if (!vn)
				nested = 1;
			else
				prev_key = 1;
			if (!in_target)
				continue;
			slot = profile_slot(&p, k, kn);
			if (!slot)
				continue;
			val = dup_n(v, vn);
			if (!val)
				goto malformed;
			wipe_free(*slot);	/* later duplicates win */
			*slot = val;
		}
	}
	if (!found) {
		aws_profile_free(&p);
		return 1;
	}
	*out = p;
	return 0;

malformed:
	aws_profile_free(&p);
	return -1;
}

/* ------------------------------------------------------------------ */
/* XML                                                                 */

struct xname {
	const char *s;
	size_t n;
	const char *content;	/* start of content: identifies the element */
};

/* Called for each element that has no child elements, with the path from
 * the root (path[depth - 1] is the element itself) and its raw content. */
typedef int (*xml_leaf_fn)(void *ctx, const struct xname *path, int depth,
			   const char *raw, size_t rawlen);

static int xml_ws(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *find_str(const char *p, const char *end, const char *z)
{
	size_t zn = strlen(z);

	while ((size_t)(end - p) >= zn) {
		if (memcmp(p, z, zn) == 0)
			return p;
		p++;
	}
	return NULL;
}

static int starts(const char *p, const char *end, const char *z)
{
	size_t zn = strlen(z);

	return (size_t)(end - p) >= zn && memcmp(p, z, zn) == 0;
}

/* Read a tag name at *pp; store its local part (namespace prefix dropped,
 * as STS uses a default namespace but a proxy might add a prefix). */
static int xml_name(const char **pp, const char *end, struct xname *nm)
{
	const char *p = *pp, *b = p;
	const char *local = p;

	while (p < end && !xml_ws((unsigned char)*p) && *p != '>' &&
	       *p != '/' && *p != '<' && *p != '=' && *p != '"' &&
	       *p != '\'') {
		if (*p == ':')
			local = p + 1;
		p++;
	}
	if (p == b || local == p)
		return -1;
	nm->s = local;
	nm->n = (size_t)(p - local);
	*pp = p;
	return 0;
}

/*
 * Walk @xml and call @fn for every leaf element.  Checks that tags nest
 * and match, that there is exactly one root and that the document is not
 * truncated.  Returns 0, -1 if malformed, or the callback's non-zero value.
 */
static int xml_walk(const char *xml, size_t len, xml_leaf_fn fn, void *ctx)
{
	struct xname path[AWS_XML_MAX_DEPTH];
	int has_child[AWS_XML_MAX_DEPTH];
	const char *p = xml, *end = xml + len;
	int depth = 0, root_done = 0, rc;

	if (!xml)
		return -1;
	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		const char *q;

		/* Text outside the root may only be whitespace. */
		if (depth == 0) {
			const char *t;

			for (t = p; t < (lt ? lt : end); t++)
				if (!xml_ws((unsigned char)*t))
					return -1;
		}
		if (!lt)
			break;
		p = lt;
		if (starts(p, end, "<?")) {
			q = find_str(p + 2, end, "?>");
			if (!q)
				return -1;
			p = q + 2;
		} else if (starts(p, end, "<!--")) {
			q = find_str(p + 4, end, "-->");
			if (!q)
				return -1;
			p = q + 3;
		} else if (starts(p, end, "<![CDATA[")) {
			if (depth == 0)
				return -1;
			q = find_str(p + 9, end, "]]>");
			if (!q)
				return -1;
			p = q + 3;
		} else if (starts(p, end, "<!")) {
			/* DOCTYPE and friends: refused outright, so no
			 * document can define entities for us to expand. */
			return -1;
		} else if (starts(p, end, "</")) {
			struct xname nm;

			p += 2;
			if (depth == 0 || xml_name(&p, end, &nm))
				return -1;
			while (p < end && xml_ws((unsigned char)*p))
				p++;
			if (p >= end || *p != '>')
				return -1;
			p++;
			if (nm.n != path[depth - 1].n ||
			    memcmp(nm.s, path[depth - 1].s, nm.n) != 0)
				return -1;
			if (!has_child[depth - 1]) {
				rc = fn(ctx, path, depth, path[depth - 1].content,
					(size_t)(lt - path[depth - 1].content));
				if (rc)
					return rc;
			}
			if (--depth == 0)
				root_done = 1;
		} else {
			struct xname nm;
			char quote = 0;
			int empty;

			p++;
			if (root_done || xml_name(&p, end, &nm))
				return -1;
			/* Skip attributes, honouring quotes so a '>' in a
			 * value does not end the tag. */
			while (p < end && (quote || *p != '>')) {
				if (quote && *p == quote)
					quote = 0;
				else if (!quote && (*p == '"' || *p == '\''))
					quote = *p;
				else if (!quote && *p == '<')
					return -1;
				p++;
			}
			if (p >= end)
				return -1;
			empty = p[-1] == '/';
			p++;
			if (depth >= AWS_XML_MAX_DEPTH)
				return -1;
			if (depth)
				has_child[depth - 1] = 1;
			nm.content = p;
			path[depth] = nm;
			has_child[depth] = 0;
			depth++;
			if (empty) {
				rc = fn(ctx, path, depth, p, 0);
				if (rc)
					return rc;
				if (--depth == 0)
					root_done = 1;
			}
		}
	}
	if (depth != 0 || !root_done)
		return -1;
	return 0;
}

static size_t utf8_put(char *d, uint32_t cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | (cp >> 6));
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | (cp >> 12));
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | (cp >> 18));
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decode one reference at s (just after '&', up to ';' inclusive). */
static int xml_entity(const char *s, size_t n, char *d, size_t *dn,
		      size_t *used)
{
	const char *semi = memchr(s, ';', n < 12 ? n : 12);
	size_t en;

	if (!semi)
		return -1;
	en = (size_t)(semi - s);
	*used = en + 1;
	if (eq(s, en, "amp")) {
		*d = '&';
	} else if (eq(s, en, "lt")) {
		*d = '<';
	} else if (eq(s, en, "gt")) {
		*d = '>';
	} else if (eq(s, en, "quot")) {
		*d = '"';
	} else if (eq(s, en, "apos")) {
		*d = '\'';
	} else if (en >= 2 && s[0] == '#') {
		uint32_t cp = 0;
		size_t i = 1;
		int hex = s[1] == 'x';

		if (hex)
			i++;
		if (i == en)
			return -1;
		for (; i < en; i++) {
			int c = (unsigned char)s[i], v;

			if (c >= '0' && c <= '9')
				v = c - '0';
			else if (hex && lower(c) >= 'a' && lower(c) <= 'f')
				v = lower(c) - 'a' + 10;
			else
				return -1;
			cp = cp * (hex ? 16u : 10u) + (uint32_t)v;
			if (cp > 0x10ffff)
				return -1;
		}
		/* XML 1.0 Char production: no NUL, no surrogates, and
		 * no C0 controls other than TAB, LF, CR. */
		if ((cp < 0x20 && cp != 0x9 && cp != 0xa && cp != 0xd) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe ||
		    cp == 0xffff)
			return -1;
		*dn = utf8_put(d, cp);
		return 0;
	} else {
		return -1;
	}
	*dn = 1;
	return 0;
}

/*
 * Decode the raw content of a leaf element into a fresh heap string:
 * entities expanded, CDATA copied literally, comments dropped, leading and
 * trailing whitespace trimmed.  The result is never longer than the raw
 * text (every reference is at least as long as its UTF-8 encoding).
 */
static char *xml_text(const char *raw, size_t n)
{
	const char *end = raw + n;
	char *d, *o;

	if (n > AWS_XML_MAX_VALUE)
		return NULL;
	d = malloc(n + 1);
	if (!d)
		return NULL;
	o = d;
	while (raw < end) {
		if (*raw == '&') {
			size_t dn, used;

			if (xml_entity(raw + 1, (size_t)(end - raw - 1), o, &dn,
				       &used))
				goto bad;
			o += dn;
			raw += 1 + used;
		} else if (*raw == '<') {
			const char *q;

			if (starts(raw, end, "<![CDATA[")) {
				q = find_str(raw + 9, end, "]]>");
				if (!q)
					goto bad;
				memcpy(o, raw + 9, (size_t)(q - raw - 9));
				o += q - raw - 9;
				raw = q + 3;
			} else if (starts(raw, end, "<!--")) {
				q = find_str(raw + 4, end, "-->");
				if (!q)
					goto bad;
				raw = q + 3;
			} else if (starts(raw, end, "<?")) {
				q = find_str(raw + 2, end, "?>");
				if (!q)
					goto bad;
				raw = q + 2;
			} else {
				goto bad;
			}
		} else if (*raw == '\0') {
			goto bad;
		} else {
			*o++ = *raw++;
		}
	}
	*o = '\0';
	{
		size_t l = (size_t)(o - d), b = 0;

		while (b < l && xml_ws((unsigned char)d[b]))
			b++;
		while (l > b && xml_ws((unsigned char)d[l - 1]))
			l--;
		memmove(d, d + b, l - b);
		/* Wipe the tail we cut off: it may be token bytes. */
		OPENSSL_cleanse(d + (l - b), (size_t)(o - d) - (l - b));
		d[l - b] = '\0';
	}
	return d;
bad:
	OPENSSL_cleanse(d, n + 1);
	free(d);
	return NULL;
}

/* ---- ISO-8601 ---- */

static int digits(const char *s, size_t n, int *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

int aws_parse_iso8601(const char *s, size_t len, time_t *out)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, off = 0;
	size_t i = 19;
	time_t t;

	if (!s || !out || len < 20)
		return -1;
	if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d) || s[10] != 'T' ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
	    s[16] != ':' || digits(s + 17, 2, &sec))
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
		return -1;
	if (s[i] == '.') {
		/* Fraction: digits only, at least one, ignored (expiry to
		 * the second is all the refresh logic needs). */
		size_t b = ++i;

		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == b)
			return -1;
	}
	if (i < len && s[i] == 'Z') {
		i++;
	} else if (i < len && (s[i] == '+' || s[i] == '-')) {
		int oh, om;

		if (len - i < 6 || digits(s + i + 1, 2, &oh) ||
		    s[i + 3] != ':' || digits(s + i + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return -1;
		off = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
		i += 6;
	} else {
		return -1;
	}
	if (i != len)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = t - off;
	return 0;
}

/* ---- STS AssumeRole ---- */

struct sts_ctx {
	const char *creds;	/* the one <Credentials> element we read */
	char *akid, *secret, *token, *exp;
};

static int sts_leaf(void *vctx, const struct xname *path, int depth,
		    const char *raw, size_t rawlen)
{
	struct sts_ctx *c = vctx;
	const struct xname *me = &path[depth - 1];
	char **slot;
	char *v;

	if (depth < 2 || !eq(path[depth - 2].s, path[depth - 2].n,
			     "Credentials"))
		return 0;
	/* Fields from two different <Credentials> elements must never be
	 * mixed into one key pair: refuse a second element outright. */
	if (c->creds && c->creds != path[depth - 2].content)
		return -1;
	c->creds = path[depth - 2].content;
	if (eq(me->s, me->n, "AccessKeyId"))
		slot = &c->akid;
	else if (eq(me->s, me->n, "SecretAccessKey"))
		slot = &c->secret;
	else if (eq(me->s, me->n, "SessionToken"))
		slot = &c->token;
	else if (eq(me->s, me->n, "Expiration"))
		slot = &c->exp;
	else
		return 0;
	/* A second value for the same field is ambiguous: refuse. */
	if (*slot)
		return -1;
	v = xml_text(raw, rawlen);
	if (!v)
		return -1;
	*slot = v;
	return 0;
}

void aws_temp_creds_free(struct aws_temp_creds *c)
{
	if (!c)
		return;
	wipe_free(c->access_key_id);
	wipe_free(c->secret_access_key);
	wipe_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

int aws_sts_parse_assume_role(const char *xml, size_t len,
			      struct aws_temp_creds *out)
{
	struct sts_ctx c;
	time_t exp;
	int rc;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!xml || !out)
		return -1;
	memset(&c, 0, sizeof(c));
	rc = xml_walk(xml, len, sts_leaf, &c);
	if (rc || !c.akid || !c.secret || !c.token || !c.exp ||
	    !*c.akid || !*c.secret || !*c.token ||
	    aws_parse_iso8601(c.exp, strlen(c.exp), &exp))
		goto fail;
	free(c.exp);
	out->access_key_id = c.akid;
	out->secret_access_key = c.secret;
	out->session_token = c.token;
	out->expiration = exp;
	return 0;
fail:
	wipe_free(c.akid);
	wipe_free(c.secret);
	wipe_free(c.token);
	wipe_free(c.exp);
	return -1;
}

/* ---- Error documents ---- */

struct err_ctx {
	char *code, *msg;
	int bad;
};

static int err_leaf(void *vctx, const struct xname *path, int depth,
		    const char *raw, size_t rawlen)
{
	struct err_ctx *c = vctx;
	const struct xname *me = &path[depth - 1];
	char **slot;
	int ok;

	/* <ErrorResponse><Error><Code> or a bare <Error><Code>. */
	if (depth == 3)
		ok = eq(path[0].s, path[0].n, "ErrorResponse") &&
		     eq(path[1].s, path[1].n, "Error");
	else if (depth == 2)
		ok = eq(path[0].s, path[0].n, "Error");
	else
		ok = 0;
	if (!ok)
		return 0;
	if (eq(me->s, me->n, "Code"))
		slot = &c->code;
	else if (eq(me->s, me->n, "Message"))
		slot = &c->msg;
	else
		return 0;
	if (*slot)
		return 0;	/* first one wins; errors are advisory */
	*slot = xml_text(raw, rawlen);
	if (!*slot)
		c->bad = 1;
	return 0;
}

/* Copy @s into @d (capacity @cap), truncating at a UTF-8 boundary. */
static void copy_trunc(char *d, size_t cap, const char *s)
{
	size_t n;

	if (!d || !cap)
		return;
	n = strlen(s);
	if (n >= cap) {
		n = cap - 1;
		/* Back off continuation bytes so we never emit half a
		 * character. */
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(d, s, n);
	d[n] = '\0';
}

int aws_xml_parse_error(const char *xml, size_t len, char *code,
			size_t codecap, char *msg, size_t msgcap)
{
	struct err_ctx c;
	int rc = -1;

	copy_trunc(code, codecap, "");
	copy_trunc(msg, msgcap, "");
	memset(&c, 0, sizeof(c));
	if (!xml || xml_walk(xml, len, err_leaf, &c) || c.bad || !c.code ||
	    !*c.code)
		goto out;
	copy_trunc(code, codecap, c.code);
	copy_trunc(msg, msgcap, c.msg ? c.msg : "");
	rc = 0;
out:
	wipe_free(c.code);
	wipe_free(c.msg);
	return rc;
}
