/*
 * iam.c - IAM CreateRole / PutRolePolicy / GetRole bodies, the role ARN
 * from their answers, and the trust and sending policies.
 *
 * Pure: no I/O, no clock, no globals, no logging; any thread may call it.
 * Names, tags and policies are checked against IAM's documented shapes
 * here so that a bad setting fails at once and clearly instead of as a
 * remote ValidationError after a round trip.  The external id is tenant
 * configuration; it is only ever copied into the policy, never elsewhere.
 */
#include "aws/iam.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aws/awsjson.h"
#include "aws/sts.h"
#include "util.h"

#define IAM_VERSION         "2010-05-08"
#define IAM_EXTERNAL_ID_MIN 2
#define IAM_EXTERNAL_ID_MAX 1224
#define IAM_XML_DEPTH       16

/* ------------------------------------------------------------------ */
/* Shapes                                                              */

static int is_word(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Role and policy names: [\w+=,.@-]{1,max} */
static int iam_name_valid(const char *s, size_t max)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++)
		if (!is_word((unsigned char)s[n]) && !strchr("+=,.@-", s[n]))
			return 0;
	return n >= 1 && n <= max;
}

int iam_role_name_valid(const char *name)
{
	return iam_name_valid(name, IAM_ROLE_NAME_MAX);
}

/*
 * IAM's character classes for policies and descriptions, tested on the
 * code point: policies take tab, LF, CR and U+0020..U+00FF; descriptions
 * the same minus U+007F..U+00A0.  Returns the number of characters, or -1
 * when one is outside the class or the text is not UTF-8.
 */
static long latin1_chars(const char *s, int description)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;
	long chars = 0;

	while (i < n) {
		uint32_t cp;
		size_t k = util_utf8_seq(u + i, n - i);

		if (k == 0 || k > 2)
			return -1;
		cp = k == 1 ? u[i] : ((uint32_t)(u[i] & 0x1f) << 6) | (u[i + 1] & 0x3f);
		if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp > 0xff)
			return -1;
		if (description && cp >= 0x7f && cp <= 0xa0)
			return -1;
		i += k;
		chars++;
	}
	return chars;
}

/* A policy document: 1..128 KiB in IAM's class, and a JSON object (a
 * caller handing in anything else has a bug we would rather see here). */
static int policy_ok(const char *doc)
{
	size_t n;
	json_t *j;
	int ok;

	if (!doc)
		return 0;
	n = strlen(doc);
	if (n == 0 || n > IAM_POLICY_DOC_MAX || latin1_chars(doc, 0) < 0)
		return 0;
	j = json_loadb(doc, n, 0, NULL);
	ok = json_is_object(j);
	json_decref(j);
	return ok;
}

static int description_ok(const char *d)
{
	long n = latin1_chars(d, 1);

	return n >= 1 && n <= IAM_DESCRIPTION_MAX;
}

/* IAM tag text: [\p{L}\p{Z}\p{N}_.:/=+\-@]{min,max}.  ASCII is checked
 * exactly; beyond ASCII any well-formed UTF-8 passes and IAM judges
 * whether it is a letter, a digit or a space. */
static int iam_tag_text_ok(const char *s, long min, long max)
{
	long n;

	if (!s || (n = aws_utf8_chars(s)) < min || n > max)
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x80 && !is_word(c) && !strchr(" .:/=+-@", c))
			return 0;
	}
	return 1;
}

/* ASCII case-insensitive equality: IAM tag keys are unique ignoring case. */
static int key_eq_ci(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
		if (x >= 'A' && x <= 'Z')
			x += 32;
		if (y >= 'A' && y <= 'Z')
			y += 32;
		if (x != y)
			return 0;
		if (!x)
			return 1;
	}
}

static int iam_tags_ok(const struct aws_tag *tags, size_t n)
{
	if (n == 0)
		return 1;
	if (!tags || n > AWS_TAGS_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!iam_tag_text_ok(tags[i].key, 1, AWS_TAG_KEY_MAX) ||
		    !iam_tag_text_ok(tags[i].value, 0, AWS_TAG_VALUE_MAX))
			return 0;
		for (size_t j = 0; j < i; j++)
			if (key_eq_ci(tags[i].key, tags[j].key))
				return 0;
	}
	return 1;
}

/*
 * arn:PARTITION:iam::ACCOUNT:REST with a 12-digit account; REST must
 * start with @rest_prefix ("" for any) and have something after it.
 * Printable ASCII only, at most IAM_ARN_MAX octets.  @names_only narrows
 * REST to the characters of IAM names and paths we create ourselves
 * ([\w+=,.@/-]); without it any of U+0021..U+007E passes, as a role path
 * made by someone else may hold them.
 */
static int iam_arn_ok(const char *a, const char *rest_prefix, int names_only)
{
	const char *p;
	size_t n, rp = strlen(rest_prefix);

	if (!a || (n = strlen(a)) > IAM_ARN_MAX || strncmp(a, "arn:", 4) != 0)
		return 0;
	for (p = a; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return 0;
	p = a + 4;
	if (!(*p >= 'a' && *p <= 'z'))
		return 0;
	while ((*p >= 'a' && *p <= 'z') || *p == '-')
		p++;
	if (strncmp(p, ":iam::", 6) != 0)
		return 0;
	p += 6;
	for (int i = 0; i < 12; i++, p++)
		if (!is_digit((unsigned char)*p))
			return 0;
	if (*p++ != ':' || strncmp(p, rest_prefix, rp) != 0 || p[rp] == '\0')
		return 0;
	for (; names_only && *p; p++)
		if (!is_word((unsigned char)*p) && !strchr("+=,.@/-", *p))
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* Form bodies                                                         */

struct form {
	char *p;
	size_t n, cap;
	int bad;
};

static void form_raw(struct form *f, const char *s)
{
	size_t k = strlen(s);

	if (f->bad)
		return;
	if (f->n + k + 1 > f->cap) {
		size_t cap = (f->n + k + 1) * 2;
		char *np = realloc(f->p, cap);
		if (!np) {
			f->bad = 1;
			return;
		}
		f->p = np;
		f->cap = cap;
	}
	memcpy(f->p + f->n, s, k + 1);
	f->n += k;
}

/* "&KEY=" then @value percent-encoded.  Keys are ours and unreserved. */
static void form_add(struct form *f, const char *key, const char *value)
{
	char *enc;

	if (f->bad)
		return;
	enc = aws_form_encode(value);
	if (!enc) {
		f->bad = 1;
		return;
	}
	form_raw(f, "&");
	form_raw(f, key);
	form_raw(f, "=");
	form_raw(f, enc);
	free(enc);
}

static void form_init(struct form *f, const char *action)
{
	memset(f, 0, sizeof(*f));
	form_raw(f, "Action=");
	form_raw(f, action);
	form_raw(f, "&Version=" IAM_VERSION);
}

/* The finished body, or NULL (everything freed) if anything failed. */
static char *form_done(struct form *f)
{
	if (f->bad) {
		free(f->p);
		return NULL;
	}
	return f->p;
}

char *iam_create_role_body(const char *role_name, const char *trust, const char *description,
                           int max_session_duration, const struct aws_tag *tags, size_t ntags)
{
	int has_desc = description && *description;
	struct form f;

	if (!iam_role_name_valid(role_name) || !policy_ok(trust) ||
	    (has_desc && !description_ok(description)) || !iam_tags_ok(tags, ntags))
		return NULL;
	if (max_session_duration != 0 &&
	    (max_session_duration < IAM_SESSION_MIN || max_session_duration > IAM_SESSION_MAX))
		return NULL;

	form_init(&f, "CreateRole");
	form_add(&f, "RoleName", role_name);
	form_add(&f, "AssumeRolePolicyDocument", trust);
	if (has_desc)
		form_add(&f, "Description", description);
	if (max_session_duration) {
		char d[16];
		snprintf(d, sizeof(d), "%d", max_session_duration);
		form_add(&f, "MaxSessionDuration", d);
	}
	for (size_t i = 0; i < ntags; i++) {
		char k[48];
		snprintf(k, sizeof(k), "Tags.member.%zu.Key", i + 1);
		form_add(&f, k, tags[i].key);
		snprintf(k, sizeof(k), "Tags.member.%zu.Value", i + 1);
		form_add(&f, k, tags[i].value);
	}
	return form_done(&f);
}

char *iam_put_role_policy_body(const char *role_name, const char *policy_name, const char *policy)
{
	struct form f;

	if (!iam_role_name_valid(role_name) || !iam_name_valid(policy_name, IAM_POLICY_NAME_MAX) ||
	    !policy_ok(policy))
		return NULL;
	form_init(&f, "PutRolePolicy");
	form_add(&f, "RoleName", role_name);
	form_add(&f, "PolicyName", policy_name);
	form_add(&f, "PolicyDocument", policy);
	return form_done(&f);
}

char *iam_get_role_body(const char *role_name)
{
	struct form f;

	if (!iam_role_name_valid(role_name))
		return NULL;
	form_init(&f, "GetRole");
	form_add(&f, "RoleName", role_name);
	return form_done(&f);
}

/* ------------------------------------------------------------------ */
/* The role ARN                                                        */

struct xn {
	const char *s; /* local name (any prefix dropped) */
	size_t n;
	const char *content; /* just after the start tag */
	int has_child;
};

static int xws(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int xstarts(const char *p, const char *end, const char *z)
{
	size_t k = strlen(z);

	return (size_t)(end - p) >= k && memcmp(p, z, k) == 0;
}

/* End of the first @z at or after @p, or NULL. */
static const char *xskip(const char *p, const char *end, const char *z)
{
	size_t k = strlen(z);

	for (; (size_t)(end - p) >= k; p++)
		if (memcmp(p, z, k) == 0)
			return p + k;
	return NULL;
}

static int xeq(const struct xn *x, const char *z)
{
	return strlen(z) == x->n && memcmp(x->s, z, x->n) == 0;
}

static int xname(const char **pp, const char *end, struct xn *x)
{
	const char *p = *pp, *local = p;

	while (p < end && !xws((unsigned char)*p) && !strchr(">/<=\"'", *p)) {
		if (*p == ':')
			local = p + 1;
		p++;
	}
	if (p == *pp || local == p)
		return -1;
	x->s = local;
	x->n = (size_t)(p - local);
	*pp = p;
	return 0;
}

/* Is the leaf @path[0..depth) <Op>Response/<Op>Result/Role/Arn with Op
 * CreateRole or GetRole? */
static int is_arn_path(const struct xn *path, int depth)
{
	static const char *const ops[][2] = {
	    {"CreateRoleResponse", "CreateRoleResult"},
	    {"GetRoleResponse", "GetRoleResult"},
	};

	if (depth != 4 || !xeq(&path[2], "Role") || !xeq(&path[3], "Arn"))
		return 0;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (xeq(&path[0], ops[i][0]) && xeq(&path[1], ops[i][1]))
			return 1;
	return 0;
}

/*
 * Decode a leaf's raw content into @out (@cap octets): predefined entities
 * and ASCII character references, CDATA literally, comments dropped,
 * surrounding whitespace trimmed.  Only ASCII can come out, which is all
 * an ARN may hold.  0, or -1 when malformed or too long.
 */
static int xtext(const char *raw, size_t n, char *out, size_t cap)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
	const char *end = raw + n;
	size_t o = 0, b = 0;

	while (raw < end) {
		char c;

		if (*raw == '&') {
			size_t i;

			raw++;
			for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++)
				if (xstarts(raw, end, ents[i].name))
					break;
			if (i < sizeof(ents) / sizeof(ents[0])) {
				c = ents[i].c;
				raw += strlen(ents[i].name);
			} else if (raw < end && *raw == '#') {
				int hex = raw + 1 < end && raw[1] == 'x';
				unsigned v = 0, digits = 0;

				for (raw += hex ? 2 : 1; raw < end && *raw != ';';
				     raw++, digits++) {
					int d =
					    hex ? util_hexval((unsigned char)*raw)
					        : (is_digit((unsigned char)*raw) ? *raw - '0' : -1);
					if (d < 0 || digits > 6)
						return -1;
					v = v * (hex ? 16u : 10u) + (unsigned)d;
				}
				if (raw >= end || digits == 0 || v < 0x20 || v >= 0x7f)
					return -1;
				raw++;
				c = (char)v;
			} else {
				return -1;
			}
		} else if (*raw == '<') {
			const char *q;

			if (xstarts(raw, end, "<![CDATA[")) {
				q = xskip(raw + 9, end, "]]>");
				if (!q)
					return -1;
				for (const char *t = raw + 9; t < q - 3; t++) {
					if (o + 1 >= cap)
						return -1;
					out[o++] = *t;
				}
				raw = q;
				continue;
			}
			if (!xstarts(raw, end, "<!--") || !(q = xskip(raw + 4, end, "-->")))
				return -1;
			raw = q;
			continue;
		} else {
			c = *raw++;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	while (o > 0 && xws((unsigned char)out[o - 1]))
		o--;
	while (b < o && xws((unsigned char)out[b]))
		b++;
	memmove(out, out + b, o - b);
	out[o - b] = '\0';
	return 0;
}

/*
 * Walk @xml checking that tags nest and match, with one root and nothing
 * but whitespace around it, and decode the first Arn leaf on the path
 * into @out.  Returns 0 (found), 1 (well formed, no Arn) or -1.
 */
static int xml_role_arn(const char *xml, size_t len, char *out, size_t cap)
{
	struct xn path[IAM_XML_DEPTH];
	const char *p = xml, *end = xml + len;
	int depth = 0, root_done = 0, found = 0;

	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		const char *q;

		if (depth == 0)
			for (const char *t = p; t < (lt ? lt : end); t++)
				if (!xws((unsigned char)*t))
					return -1;
		if (!lt)
			break;
		p = lt;
		if (xstarts(p, end, "<?")) {
			if (!(q = xskip(p + 2, end, "?>")))
				return -1;
			p = q;
		} else if (xstarts(p, end, "<!--")) {
			if (!(q = xskip(p + 4, end, "-->")))
				return -1;
			p = q;
		} else if (xstarts(p, end, "<![CDATA[")) {
			if (depth == 0 || !(q = xskip(p + 9, end, "]]>")))
				return -1;
			p = q;
		} else if (xstarts(p, end, "<!")) {
			/* DOCTYPE, ENTITY and the like: never from IAM, and
			 * refusing them means no entity can be defined. */
			return -1;
		} else if (xstarts(p, end, "</")) {
			struct xn x;

			p += 2;
			if (depth == 0 || xname(&p, end, &x) < 0)
				return -1;
			while (p < end && xws((unsigned char)*p))
				p++;
			if (p >= end || *p != '>' || x.n != path[depth - 1].n ||
			    memcmp(x.s, path[depth - 1].s, x.n) != 0)
				return -1;
			p++;
			if (!found && !path[depth - 1].has_child && is_arn_path(path, depth)) {
				const char *c = path[depth - 1].content;
				if (xtext(c, (size_t)(lt - c), out, cap) < 0)
					return -1;
				found = 1;
			}
			if (--depth == 0)
				root_done = 1;
		} else {
			struct xn x;
			char quote = 0;

			p++;
			if (root_done || depth >= IAM_XML_DEPTH || xname(&p, end, &x) < 0)
				return -1;
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
			if (depth)
				path[depth - 1].has_child = 1;
			x.content = p + 1;
			x.has_child = 0;
			if (p[-1] == '/') {
				/* <Arn/>: empty, so never a valid ARN. */
				if (depth == 0)
					root_done = 1;
			} else {
				path[depth++] = x;
			}
			p++;
		}
	}
	if (depth != 0 || !root_done)
		return -1;
	return found ? 0 : 1;
}

int iam_parse_role_arn(const char *xml, size_t len, char *arn, size_t cap)
{
	char buf[IAM_ARN_MAX + 1];

	if (arn && cap)
		arn[0] = '\0';
	if (!xml || !arn || cap == 0)
		return -1;
	if (xml_role_arn(xml, len, buf, sizeof(buf)) != 0 || !iam_arn_ok(buf, "role/", 0) ||
	    strlen(buf) >= cap)
		return -1;
	memcpy(arn, buf, strlen(buf) + 1);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Policies                                                            */

static char *dump(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

static int external_id_ok(const char *e)
{
	size_t n = strlen(e);

	if (n < IAM_EXTERNAL_ID_MIN || n > IAM_EXTERNAL_ID_MAX)
		return 0;
	for (; *e; e++)
		if (!is_word((unsigned char)*e) && !strchr("+=,.@:/-", *e))
			return 0;
	return 1;
}

char *iam_trust_policy(const char *principal_arn, const char *external_id)
{
	int has_ext = external_id && *external_id;
	json_t *st;

	if (!iam_arn_ok(principal_arn, "", 1) || (has_ext && !external_id_ok(external_id)))
		return NULL;
	st = json_pack("{s:s,s:{s:s},s:s}", "Effect", "Allow", "Principal", "AWS", principal_arn,
	               "Action", "sts:AssumeRole");
	/* The external id is what stops another customer of the gateway's
	 * operator from naming this role in their own tenant settings (the
	 * confused deputy): only the gateway knows the id it stored. */
	if (st && has_ext &&
	    json_object_set_new(
	        st, "Condition",
	        json_pack("{s:{s:s}}", "StringEquals", "sts:ExternalId", external_id)) < 0) {
		json_decref(st);
		st = NULL;
	}
	if (!st)
		return NULL;
	return dump(json_pack("{s:s,s:[o]}", "Version", "2012-10-17", "Statement", st));
}

/*
 * Least privilege for the role the delivery workers assume per tenant:
 *   ses:SendRawEmail - SES v2 SendEmail with Content.Raw, which is how
 *                      every message is sent (the bytes as received);
 *   ses:SendEmail    - the permission SES v2 SendEmail itself is checked
 *                      against (the API action's own name);
 *   ses:GetAccount   - the worker reads the send rate, 24-hour quota and
 *                      sending status to pace and pause the tenant.
 * Nothing to create, delete or reconfigure: a leaked session can send
 * mail as the tenant, which it could anyway, and nothing else.  Resource
 * stays "*" because the tenant's identities (domains) change after the
 * role exists; what may be sent is enforced by the gateway's own sender
 * authorisation and by SES (unverified identities are refused).
 */
char *iam_sending_policy(void)
{
	return dump(json_pack("{s:s,s:[{s:s,s:s,s:[s,s,s],s:s}]}", "Version", "2012-10-17",
	                      "Statement", "Sid", "SesgateSend", "Effect", "Allow", "Action",
	                      "ses:SendEmail", "ses:SendRawEmail", "ses:GetAccount", "Resource",
	                      "*"));
}
