/*
 * smtp_parse.c - see smtp_parse.h.  Everything here reads bytes straight
 * from the network (command lines, AUTH payloads, message content), so each
 * function is a bounded, single-pass scan over the caller's buffer.
 *
 * Must never allocate, keep global state, read past LEN, write past the
 * caller's capacity, or recurse to a depth the input controls: fuzzers and
 * hostile clients drive it directly.  No locale-dependent <ctype.h> calls:
 * SMTP syntax is ASCII whatever the process locale is.
 */
#include "smtp_parse.h"
#include "base64.h"

#include <limits.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* characters */

static int ch_is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int ch_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int ch_is_alnum(unsigned char c)
{
	return ch_is_alpha(c) || ch_is_digit(c);
}

static int ch_is_hex(unsigned char c)
{
	return ch_is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

static unsigned char ch_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* RFC 5322 atext (RFC 5321 uses the same set). */
static int ch_is_atext(unsigned char c)
{
	if (ch_is_alnum(c))
		return 1;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Case-insensitive ASCII comparison of N octets; LIT is upper or lower case. */
static int str_ncase_eq(const char *s, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ch_lower((unsigned char)s[i]) != ch_lower((unsigned char)lit[i]))
			return 0;
	return 1;
}

/* Is S (N octets) exactly the keyword LIT, ignoring case? */
static int str_is_word(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && str_ncase_eq(s, lit, n);
}

static size_t str_trim_sp(const char *s, size_t n)
{
	while (n > 0 && s[n - 1] == ' ')
		n--;
	return n;
}

/* ------------------------------------------------------------------ */
/* verbs */

static const char *const cmd_names[SMTP_CMD__COUNT] = {
    [SMTP_CMD_UNKNOWN] = "UNKNOWN", [SMTP_CMD_HELO] = "HELO", [SMTP_CMD_EHLO] = "EHLO",
    [SMTP_CMD_MAIL] = "MAIL",       [SMTP_CMD_RCPT] = "RCPT", [SMTP_CMD_DATA] = "DATA",
    [SMTP_CMD_BDAT] = "BDAT",       [SMTP_CMD_RSET] = "RSET", [SMTP_CMD_NOOP] = "NOOP",
    [SMTP_CMD_QUIT] = "QUIT",       [SMTP_CMD_HELP] = "HELP", [SMTP_CMD_VRFY] = "VRFY",
    [SMTP_CMD_EXPN] = "EXPN",       [SMTP_CMD_AUTH] = "AUTH", [SMTP_CMD_STARTTLS] = "STARTTLS",
};

const char *smtp_cmd_name(enum smtp_cmd cmd)
{
	if ((unsigned)cmd >= SMTP_CMD__COUNT || !cmd_names[cmd])
		return "UNKNOWN";
	return cmd_names[cmd];
}

enum smtp_cmd smtp_parse_verb(const char *line, size_t len, const char **arg, size_t *arglen)
{
	enum smtp_cmd cmd = SMTP_CMD_UNKNOWN;
	size_t vlen = 0;

	/* Empty, not NULL, so callers can always print or compare the argument. */
	if (arg)
		*arg = "";
	if (arglen)
		*arglen = 0;
	if (!line)
		return SMTP_CMD_UNKNOWN;
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	for (int c = SMTP_CMD_UNKNOWN + 1; c < SMTP_CMD__COUNT; c++)
		if (str_is_word(line, vlen, cmd_names[c])) {
			cmd = (enum smtp_cmd)c;
			break;
		}
	if (cmd == SMTP_CMD_UNKNOWN)
		return cmd;
	if (vlen < len) {
		const char *a = line + vlen + 1;
		if (arg)
			*arg = a;
		if (arglen)
			*arglen = str_trim_sp(a, len - vlen - 1);
	}
	return cmd;
}

/* ------------------------------------------------------------------ */
/* UTF-8 */

int smtp_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		/* Bounds of the second octet carry the overlong/surrogate/max rules. */
		size_t need;
		unsigned char lo = 0x80, hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return 0;
		}
		if (len - i - 1 < need)
			return 0;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (size_t k = 2; k <= need; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
		i += need + 1;
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* domains and address literals (RFC 5321 4.1.2, 4.1.3) */

enum { DOM_OK = 0, DOM_BAD, DOM_LONG };

#define DOM_UTF8       1u /* octets >= 0x80 act as letters (RFC 6531 U-labels) */
#define DOM_UNDERSCORE 2u /* tolerate '_' (common in real host names, EHLO only) */

static int dom_check(const char *s, size_t n, unsigned opts)
{
	size_t i = 0;
	int longlabel = 0;

	if (n == 0)
		return DOM_BAD;
	while (i < n) {
		size_t start = i;
		int ascii = 1;
		while (i < n && s[i] != '.') {
			unsigned char c = (unsigned char)s[i];
			if (c >= 0x80) {
				if (!(opts & DOM_UTF8))
					return DOM_BAD;
				ascii = 0;
			} else if (!ch_is_alnum(c) && c != '-' &&
			           !(c == '_' && (opts & DOM_UNDERSCORE))) {
				return DOM_BAD;
			}
			i++;
		}
		if (i == start || s[start] == '-' || s[i - 1] == '-')
			return DOM_BAD;
		/* A U-label's 63-octet limit applies to its A-label form, unknown here. */
		if (ascii && i - start > 63)
			longlabel = 1;
		if (i < n && ++i == n)
			return DOM_BAD; /* trailing dot */
	}
	return longlabel || n > SMTP_MAX_DOMAIN ? DOM_LONG : DOM_OK;
}

/* Snum "." Snum "." Snum "." Snum, each 1-3 digits worth 0..255. */
static int ipv4_valid(const char *s, size_t n)
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		unsigned v = 0;
		size_t d = 0;
		if (part > 0) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
		while (i < n && ch_is_digit((unsigned char)s[i]) && d < 3) {
			v = v * 10 + (unsigned)(s[i] - '0');
			i++;
			d++;
		}
		if (d == 0 || v > 255)
			return 0;
	}
	return i == n;
}

/* RFC 5321 IPv6-addr: full, compressed ("::" stands for two or more groups), v4 tail. */
static int ipv6_valid(const char *s, size_t n)
{
	size_t i = 0;
	int groups = 0, dbl = 0;

	if (n >= 2 && s[0] == ':' && s[1] == ':') {
		dbl = 1;
		i = 2;
	} else if (n == 0 || s[0] == ':') {
		return 0;
	}
	while (i < n) {
		size_t t = i;
		int dot = 0;
		while (t < n && s[t] != ':') {
			if (s[t] == '.')
				dot = 1;
			t++;
		}
		if (dot) {
			/* Dotted quad only as the final piece, worth two groups. */
			if (t != n || !ipv4_valid(s + i, t - i))
				return 0;
			groups += 2;
			break;
		}
		if (t == i || t - i > 4)
			return 0;
		for (size_t k = i; k < t; k++)
			if (!ch_is_hex((unsigned char)s[k]))
				return 0;
		if (++groups > 8)
			return 0;
		if (t == n)
			break;
		if (t + 1 < n && s[t + 1] == ':') {
			if (dbl)
				return 0;
			dbl = 1;
			i = t + 2;
		} else {
			i = t + 1;
			if (i == n)
				return 0; /* trailing single colon */
		}
	}
	return dbl ? groups <= 6 : groups == 8;
}

/* "[" (IPv4 / "IPv6:" IPv6) "]"; general literals have no registered tag we use. */
static int addr_literal_valid(const char *s, size_t n)
{
	if (n < 3 || s[0] != '[' || s[n - 1] != ']')
		return 0;
	s++;
	n -= 2;
	if (n > 5 && str_ncase_eq(s, "IPv6:", 5))
		return ipv6_valid(s + 5, n - 5);
	return ipv4_valid(s, n);
}

int smtp_parse_helo(const char *arg, size_t len)
{
	if (!arg || len == 0 || len > SMTP_MAX_DOMAIN)
		return -1;
	if (arg[0] == '[')
		return addr_literal_valid(arg, len) ? 0 : -1;
	return dom_check(arg, len, DOM_UNDERSCORE) == DOM_OK ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* MAIL / RCPT */

/*
 * Mailbox (RFC 5321 4.1.2) in S..S+N, with RFC 6531 UTF-8 always accepted
 * here: whether it was allowed is only known once the parameters are read.
 */
static enum smtp_parse_result mailbox_check(const char *s, size_t n, size_t *local_len)
{
	size_t i = 0;

	if (n == 0)
		return SMTP_PARSE_BAD_ADDRESS;
	if (s[0] == '"') {
		for (i = 1;; i++) {
			if (i >= n)
				return SMTP_PARSE_BAD_ADDRESS;
			unsigned char c = (unsigned char)s[i];
			if (c == '"')
				break;
			if (c == '\\') {
				/* quoted-pairSMTP: backslash and one printable ASCII octet */
				if (i + 1 >= n || (unsigned char)s[i + 1] < 32 ||
				    (unsigned char)s[i + 1] > 126)
					return SMTP_PARSE_BAD_ADDRESS;
				i++;
			} else if (c < 32 || c == 127) {
				return SMTP_PARSE_BAD_ADDRESS;
			}
		}
		i++;
	} else {
		size_t atom = 0;
		for (; i < n && s[i] != '@'; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c == '.') {
				if (atom == 0)
					return SMTP_PARSE_BAD_ADDRESS;
				atom = 0;
			} else if (ch_is_atext(c) || c >= 0x80) {
				atom++;
			} else {
				return SMTP_PARSE_BAD_ADDRESS;
			}
		}
		if (atom == 0)
			return SMTP_PARSE_BAD_ADDRESS;
	}
	if (i >= n || s[i] != '@')
		return SMTP_PARSE_BAD_ADDRESS;
	*local_len = i;

	const char *dom = s + i + 1;
	size_t dn = n - i - 1;
	int dr;
	if (dn > 0 && dom[0] == '[')
		dr = addr_literal_valid(dom, dn) ? DOM_OK : DOM_BAD;
	else
		dr = dom_check(dom, dn, DOM_UTF8);
	if (dr == DOM_BAD)
		return SMTP_PARSE_BAD_ADDRESS;
	if (dr == DOM_LONG || *local_len > SMTP_MAX_LOCAL || n > SMTP_MAX_PATH)
		return SMTP_PARSE_TOO_LONG;
	return SMTP_PARSE_OK;
}

/* Skip an RFC 5321 A-d-l ("@a,@b:") in front of a mailbox; -1 if malformed. */
static int route_skip(const char *s, size_t n, size_t *off)
{
	size_t i = 0;

	for (;;) {
		if (i >= n || s[i] != '@')
			return -1;
		size_t d = ++i;
		while (i < n && s[i] != ',' && s[i] != ':')
			i++;
		if (i >= n || dom_check(s + d, i - d, DOM_UTF8) != DOM_OK)
			return -1;
		if (s[i++] == ':')
			break;
	}
	*off = i;
	return 0;
}

struct path {
	const char *addr; /* mailbox text inside the brackets, route removed */
	size_t addrlen;
	size_t local_len;
	const char *rest; /* what follows '>' */
	size_t restlen;
	int non_ascii;
};

/*
 * PREFIX ("FROM:" / "TO:") then optional spaces and "<" path ">".  The
 * closing bracket is searched with quotes in mind so a quoted local part
 * may contain '>'.
 */
static enum smtp_parse_result path_parse(const char *arg, size_t len, const char *prefix,
                                         struct path *pt)
{
	size_t pl = strlen(prefix);
	size_t i, close;
	int inq = 0;

	memset(pt, 0, sizeof(*pt));
	if (!arg || len < pl || !str_ncase_eq(arg, prefix, pl))
		return SMTP_PARSE_SYNTAX;
	i = pl;
	while (i < len && arg[i] == ' ')
		i++;
	if (i >= len || arg[i] != '<')
		return SMTP_PARSE_SYNTAX;
	for (close = ++i; close < len; close++) {
		char c = arg[close];
		if (inq && c == '\\')
			close++;
		else if (c == '"')
			inq = !inq;
		else if (!inq && c == '>')
			break;
	}
	if (close >= len)
		return SMTP_PARSE_SYNTAX;

	const char *s = arg + i;
	size_t n = close - i;
	pt->rest = arg + close + 1;
	pt->restlen = len - close - 1;
	if (n == 0) {
		pt->addr = s;
		return SMTP_PARSE_OK;
	}
	if (s[0] == '@') {
		size_t off;
		if (route_skip(s, n, &off) < 0)
			return SMTP_PARSE_BAD_ADDRESS;
		s += off;
		n -= off;
	}
	enum smtp_parse_result r = mailbox_check(s, n, &pt->local_len);
	if (r != SMTP_PARSE_OK)
		return r;
	pt->addr = s;
	pt->addrlen = n;
	for (size_t k = 0; k < n; k++)
		if ((unsigned char)s[k] >= 0x80) {
			pt->non_ascii = 1;
			break;
		}
	return SMTP_PARSE_OK;
}

enum mail_kw { KW_SIZE, KW_BODY, KW_SMTPUTF8, KW_AUTH };

static const char *const mail_kw_names[] = {"SIZE", "BODY", "SMTPUTF8", "AUTH"};

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static int keyword_valid(const char *s, size_t n)
{
	if (n == 0 || !ch_is_alnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!ch_is_alnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

/* esmtp-value: printable ASCII except '=' (xtext for AUTH= is a subset). */
static int value_valid(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 33 || c > 126 || c == '=')
			return 0;
	}
	return 1;
}

static enum smtp_parse_result mail_param(struct smtp_mail_args *m, unsigned *seen, const char *kw,
                                         size_t kn, const char *val, size_t vn, int has_val)
{
	int k = -1;

	for (size_t i = 0; i < sizeof(mail_kw_names) / sizeof(mail_kw_names[0]); i++)
		if (str_is_word(kw, kn, mail_kw_names[i]))
			k = (int)i;
	if (k < 0)
		return SMTP_PARSE_UNKNOWN_PARAM;
	/* A repeat could hide a second, conflicting value from a later check. */
	if (*seen & (1u << k))
		return SMTP_PARSE_BAD_PARAM;
	*seen |= 1u << k;

	switch ((enum mail_kw)k) {
	case KW_SIZE: {
		uint64_t v = 0;
		if (!has_val || vn == 0)
			return SMTP_PARSE_BAD_PARAM;
		for (size_t i = 0; i < vn; i++) {
			unsigned char c = (unsigned char)val[i];
			if (!ch_is_digit(c))
				return SMTP_PARSE_BAD_PARAM;
			unsigned d = c - '0';
			if (v > (UINT64_MAX - d) / 10)
				return SMTP_PARSE_BAD_PARAM;
			v = v * 10 + d;
		}
		m->has_size = 1;
		m->size = v;
		return SMTP_PARSE_OK;
	}
	case KW_BODY:
		if (has_val && str_is_word(val, vn, "7BIT"))
			m->body = SMTP_BODY_7BIT;
		else if (has_val && str_is_word(val, vn, "8BITMIME"))
			m->body = SMTP_BODY_8BITMIME;
		else
			return SMTP_PARSE_BAD_PARAM;
		return SMTP_PARSE_OK;
	case KW_SMTPUTF8:
		if (has_val)
			return SMTP_PARSE_BAD_PARAM;
		m->smtputf8 = 1;
		return SMTP_PARSE_OK;
	case KW_AUTH:
		return has_val && value_valid(val, vn) ? SMTP_PARSE_OK : SMTP_PARSE_BAD_PARAM;
	}
	return SMTP_PARSE_UNKNOWN_PARAM;
}

/* Parameters after the path; M is NULL for RCPT, which offers none. */
static enum smtp_parse_result params_parse(const char *p, size_t n, struct smtp_mail_args *m)
{
	unsigned seen = 0;
	size_t i = 0;

	if (n > 0 && p[0] != ' ')
		return SMTP_PARSE_SYNTAX;
	while (i < n) {
		if (p[i] == ' ') {
			i++;
			continue;
		}
		size_t t = i;
		while (i < n && p[i] != ' ')
			i++;
		const char *eq = memchr(p + t, '=', i - t);
		size_t kn = eq ? (size_t)(eq - (p + t)) : i - t;
		if (!keyword_valid(p + t, kn))
			return SMTP_PARSE_SYNTAX;
		if (!m)
			return SMTP_PARSE_UNKNOWN_PARAM;
		const char *val = eq ? eq + 1 : p + i;
		enum smtp_parse_result r =
		    mail_param(m, &seen, p + t, kn, val, (size_t)(p + i - val), eq != NULL);
		if (r != SMTP_PARSE_OK)
			return r;
	}
	return SMTP_PARSE_OK;
}

enum smtp_parse_result smtp_parse_mail(const char *arg, size_t len, struct smtp_mail_args *out)
{
	struct path pt;
	enum smtp_parse_result r;

	memset(out, 0, sizeof(*out));
	r = path_parse(arg, len, "FROM:", &pt);
	if (r != SMTP_PARSE_OK)
		return r;
	r = params_parse(pt.rest, pt.restlen, out);
	if (r != SMTP_PARSE_OK)
		return r;
	if (pt.non_ascii && !out->smtputf8)
		return SMTP_PARSE_NEED_UTF8;
	if (pt.non_ascii && !smtp_utf8_valid(pt.addr, pt.addrlen))
		return SMTP_PARSE_BAD_UTF8;
	memcpy(out->addr, pt.addr, pt.addrlen);
	out->addr[pt.addrlen] = '\0';
	out->addrlen = pt.addrlen;
	out->domain_off = pt.addrlen ? pt.local_len + 1 : 0;
	out->non_ascii = pt.non_ascii;
	return SMTP_PARSE_OK;
}

enum smtp_parse_result smtp_parse_rcpt(const char *arg, size_t len, int utf8_allowed,
                                       struct smtp_rcpt_args *out)
{
	struct path pt;
	enum smtp_parse_result r;

	memset(out, 0, sizeof(*out));
	r = path_parse(arg, len, "TO:", &pt);
	if (r != SMTP_PARSE_OK)
		return r;
	if (pt.addrlen == 0)
		return SMTP_PARSE_BAD_ADDRESS;
	r = params_parse(pt.rest, pt.restlen, NULL);
	if (r != SMTP_PARSE_OK)
		return r;
	if (pt.non_ascii && !utf8_allowed)
		return SMTP_PARSE_NEED_UTF8;
	if (pt.non_ascii && !smtp_utf8_valid(pt.addr, pt.addrlen))
		return SMTP_PARSE_BAD_UTF8;
	memcpy(out->addr, pt.addr, pt.addrlen);
	out->addr[pt.addrlen] = '\0';
	out->addrlen = pt.addrlen;
	out->domain_off = pt.local_len + 1;
	out->non_ascii = pt.non_ascii;
	return SMTP_PARSE_OK;
}

/* ------------------------------------------------------------------ */
/* BDAT, AUTH */

int smtp_parse_bdat(const char *arg, size_t len, uint64_t *size, int *last)
{
	uint64_t v = 0;
	size_t i = 0;

	*size = 0;
	*last = 0;
	if (!arg)
		return -1;
	len = str_trim_sp(arg, len);
	if (len == 0 || !ch_is_digit((unsigned char)arg[0]))
		return -1;
	for (; i < len && ch_is_digit((unsigned char)arg[i]); i++) {
		unsigned d = (unsigned)(arg[i] - '0');
		if (v > (UINT64_MAX / 2 - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (i < len) {
		if (arg[i] != ' ')
			return -1;
		while (i < len && arg[i] == ' ')
			i++;
		if (!str_is_word(arg + i, len - i, "LAST"))
			return -1;
		*last = 1;
	}
	*size = v;
	return 0;
}

enum smtp_auth_mech smtp_parse_auth(const char *arg, size_t len, const char **ir, size_t *irlen)
{
	enum smtp_auth_mech m = SMTP_AUTH_UNKNOWN;
	size_t i = 0;

	*ir = NULL;
	*irlen = 0;
	if (!arg)
		return SMTP_AUTH_UNKNOWN;
	len = str_trim_sp(arg, len);
	while (i < len && arg[i] != ' ')
		i++;
	if (str_is_word(arg, i, "PLAIN"))
		m = SMTP_AUTH_PLAIN;
	else if (str_is_word(arg, i, "LOGIN"))
		m = SMTP_AUTH_LOGIN;
	else
		return SMTP_AUTH_UNKNOWN;
	while (i < len && arg[i] == ' ')
		i++;
	if (i < len) {
		*ir = arg + i;
		*irlen = len - i;
	}
	return m;
}

/*
 * Room for the decoded PLAIN message.  Each field must fit the caller's CAP
 * anyway; this only bounds the stack copy (the daemon uses 256-octet fields).
 */
#define AUTH_PLAIN_MAX 3072

int smtp_auth_plain_decode(const char *b64, size_t len, char *authcid, char *passwd, size_t cap)
{
	unsigned char buf[AUTH_PLAIN_MAX];
	int rc = -1;

	if (cap == 0)
		return -1;
	authcid[0] = '\0';
	passwd[0] = '\0';
	long n = base64_decode(b64, len, buf, sizeof(buf));
	if (n < 0)
		goto out;
	unsigned char *end = buf + n;
	unsigned char *z1 = memchr(buf, 0, (size_t)n);
	if (!z1)
		goto out;
	unsigned char *z2 = memchr(z1 + 1, 0, (size_t)(end - z1 - 1));
	if (!z2 || memchr(z2 + 1, 0, (size_t)(end - z2 - 1)))
		goto out;
	size_t zlen = (size_t)(z1 - buf);
	size_t clen = (size_t)(z2 - z1 - 1);
	size_t plen = (size_t)(end - z2 - 1);
	if (clen == 0 || plen == 0 || clen >= cap || plen >= cap)
		goto out;
	/* Proxy authorization is not offered: acting as someone else is refused. */
	if (zlen && (zlen != clen || memcmp(buf, z1 + 1, clen) != 0))
		goto out;
	memcpy(authcid, z1 + 1, clen);
	authcid[clen] = '\0';
	memcpy(passwd, z2 + 1, plen);
	passwd[plen] = '\0';
	rc = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

int smtp_auth_login_decode(const char *b64, size_t len, char *out, size_t cap)
{
	if (cap == 0)
		return -1;
	long n = base64_decode(b64, len, out, cap - 1);
	if (n < 0 || n > INT_MAX || memchr(out, 0, (size_t)n)) {
		if (n > 0)
			explicit_bzero(out, (size_t)n);
		out[0] = '\0';
		return -1;
	}
	out[n] = '\0';
	return (int)n;
}

/* ------------------------------------------------------------------ */
/* DATA / BDAT scanner */

/*
 * Line states.  BOL exists only in DATA mode: it is where a leading dot is
 * removed or starts the end marker.  DOT and DOT_CR hold octets back (".",
 * ".\r") until the next octet tells whether they were the end marker.
 */
enum { SC_TEXT = 0, SC_CR, SC_BOL, SC_DOT, SC_DOT_CR };

/*
 * s->state also carries one owed output octet.  ".\r" + X at the start of a
 * line releases the held CR along with X, so a feed that starts there can
 * produce one octet more than it consumed, and OUT only has room for LEN.
 * The dropped dot pays for that octet over the whole stream, so at most one
 * octet is ever owed; it is written first in the next feed.  A feed that
 * ends in DOT_CR owes nothing, so the end marker never leaves a debt behind.
 */
#define SC_MASK       0xff
#define SC_OWED       0x100
#define SC_OWED_SHIFT 16

struct scan_out {
	char *buf; /* NULL: discard */
	size_t len;
	size_t cap;
	int owed;
	unsigned char owed_c;
};

static void scan_put(struct scan_out *w, const char *p, size_t n)
{
	if (n > w->cap - w->len) {
		/* Only the feed's final octet can overflow (see above); keep it. */
		w->owed = 1;
		w->owed_c = (unsigned char)p[n - 1];
		n = w->cap - w->len;
	}
	if (w->buf && n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void scan_line_grew(struct smtp_scan *s)
{
	/* line_len excludes the CRLF that ends (or will end) the line. */
	if (s->max_line && s->line_len + 2 > s->max_line)
		s->flags |= SMTP_SCAN_LONG_LINE;
}

static int scan_has_8bit(const unsigned char *p, size_t n)
{
	uint64_t acc = 0;
	unsigned char tail = 0;

	for (; n >= 8; p += 8, n -= 8) {
		uint64_t v;
		memcpy(&v, p, sizeof(v));
		acc |= v;
	}
	while (n--)
		tail |= *p++;
	return (acc & 0x8080808080808080ull) || (tail & 0x80);
}

/* Flags for ordinary line octets; each check stops once its flag is set. */
static void scan_check(struct smtp_scan *s, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (!(s->flags & SMTP_SCAN_BARE_CR) && memchr(p, '\r', n))
		s->flags |= SMTP_SCAN_BARE_CR;
	if (!(s->flags & SMTP_SCAN_NUL) && memchr(p, '\0', n))
		s->flags |= SMTP_SCAN_NUL;
	if (!(s->flags & SMTP_SCAN_8BIT) && scan_has_8bit((const unsigned char *)p, n))
		s->flags |= SMTP_SCAN_8BIT;
}

/*
 * The fast path: everything up to and including the next LF (or the end of
 * the input) is copied in one go; only the octet before the LF and the last
 * octet of the input need a closer look.
 */
static const char *scan_text(struct smtp_scan *s, const char *p, const char *end,
                             struct scan_out *w, int *st)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *stop = nl ? nl : end;
	const char *next = nl ? nl + 1 : end;
	int cr_last = stop > p && stop[-1] == '\r';
	const char *body = cr_last ? stop - 1 : stop;

	scan_check(s, p, (size_t)(body - p));
	s->line_len += (size_t)(body - p);
	scan_put(w, p, (size_t)(next - p));
	if (nl && cr_last) {
		scan_line_grew(s);
		s->line_len = 0;
		*st = s->dot ? SC_BOL : SC_TEXT;
	} else if (nl) {
		s->flags |= SMTP_SCAN_BARE_LF;
		s->line_len++;
		scan_line_grew(s);
	} else {
		scan_line_grew(s);
		if (cr_last)
			*st = SC_CR;
	}
	return next;
}

void smtp_scan_init(struct smtp_scan *s, int dot, size_t max_line)
{
	memset(s, 0, sizeof(*s));
	s->dot = dot;
	s->max_line = max_line;
	s->state = dot ? SC_BOL : SC_TEXT;
}

size_t smtp_scan_feed(struct smtp_scan *s, const char *in, size_t len, char *out, size_t *outlen)
{
	struct scan_out w = {out, 0, len, 0, 0};
	const char *p = in, *end;
	int st = s->state & SC_MASK;

	if (outlen)
		*outlen = 0;
	if (s->done || len == 0 || !in)
		return 0;
	end = in + len;
	if (s->state & SC_OWED) {
		char c = (char)((unsigned)s->state >> SC_OWED_SHIFT & 0xff);
		scan_put(&w, &c, 1);
	}
	while (p < end) {
		switch (st) {
		case SC_TEXT:
			p = scan_text(s, p, end, &w, &st);
			break;
		case SC_CR:
			if (*p == '\n') {
				scan_put(&w, p++, 1);
				s->line_len = 0;
				st = s->dot ? SC_BOL : SC_TEXT;
			} else {
				s->flags |= SMTP_SCAN_BARE_CR;
				s->line_len++;
				scan_line_grew(s);
				st = SC_TEXT;
			}
			break;
		case SC_BOL:
			if (*p == '.') {
				/* Dropped: either stuffing or the end marker's dot. */
				p++;
				s->line_len = 1;
				scan_line_grew(s);
				st = SC_DOT;
			} else {
				st = SC_TEXT;
			}
			break;
		case SC_DOT:
			if (*p == '\r') {
				p++;
				st = SC_DOT_CR;
			} else {
				st = SC_TEXT;
			}
			break;
		case SC_DOT_CR:
			if (*p == '\n') {
				p++;
				s->done = 1;
				s->line_len = 0;
				goto out;
			}
			s->flags |= SMTP_SCAN_BARE_CR;
			s->line_len++;
			scan_line_grew(s);
			scan_put(&w, "\r", 1);
			st = SC_TEXT;
			break;
		default:
			/* Only a caller scribbling on the struct gets here; keep scanning. */
			st = SC_TEXT;
			break;
		}
	}
out:
	s->state = st;
	if (w.owed)
		s->state |= SC_OWED | (int)w.owed_c << SC_OWED_SHIFT;
	if (outlen)
		*outlen = w.len;
	return (size_t)(p - in);
}

/* ------------------------------------------------------------------ */
/* header From: */

struct hcur {
	const char *p;
	const char *end;
	char (*domains)[SMTP_MAX_DOMAIN + 1];
	int max;
	int count;
};

/*
 * Whitespace, folding (the field's inner CR/LF are its folds) and comments,
 * which nest; quoted-pairs inside a comment can escape parentheses.
 */
static int hdr_skip_cfws(struct hcur *c)
{
	while (c->p < c->end) {
		char ch = *c->p;
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			c->p++;
		} else if (ch == '(') {
			size_t depth = 1;
			c->p++;
			while (depth > 0) {
				if (c->p >= c->end)
					return -1;
				ch = *c->p++;
				if (ch == '\\') {
					if (c->p >= c->end)
						return -1;
					c->p++;
				} else if (ch == '(') {
					depth++;
				} else if (ch == ')') {
					depth--;
				}
			}
		} else {
			break;
		}
	}
	return 0;
}

static int hdr_is_atom(unsigned char ch)
{
	/* RFC 6532 lets UTF-8 appear in atoms. */
	return ch_is_atext(ch) || ch >= 0x80;
}

/* A quoted-string at c->p ('"'); -1 if unterminated. */
static int hdr_skip_quoted(struct hcur *c)
{
	c->p++;
	while (c->p < c->end) {
		char ch = *c->p++;
		if (ch == '"')
			return 0;
		if (ch == '\\') {
			if (c->p >= c->end)
				return -1;
			c->p++;
		}
	}
	return -1;
}

/*
 * Words (atoms, quoted strings) and dots up to the next special, CFWS in
 * between.  *WORDS counts words; *ADJACENT is set when two words follow
 * each other without a dot, which a phrase allows and a local part does not.
 */
static int hdr_skip_words(struct hcur *c, int *words, int *adjacent)
{
	int prev_word = 0;

	*words = 0;
	*adjacent = 0;
	for (;;) {
		if (hdr_skip_cfws(c) < 0)
			return -1;
		if (c->p >= c->end)
			return 0;
		unsigned char ch = (unsigned char)*c->p;
		if (ch == '.') {
			c->p++;
			prev_word = 0;
			continue;
		}
		if (ch == '"') {
			if (hdr_skip_quoted(c) < 0)
				return -1;
		} else if (hdr_is_atom(ch)) {
			while (c->p < c->end && hdr_is_atom((unsigned char)*c->p))
				c->p++;
		} else {
			return 0;
		}
		if (prev_word)
			*adjacent = 1;
		prev_word = 1;
		(*words)++;
	}
}

/*
 * Domain after '@': dot-atom (CFWS tolerated around dots, obs-domain) or
 * domain-literal.  Written lower-cased into OUT when OUT is not NULL.
 */
static int hdr_domain(struct hcur *c, char *out)
{
	size_t n = 0;

	if (hdr_skip_cfws(c) < 0 || c->p >= c->end)
		return -1;
	if (*c->p == '[') {
		const char *s = c->p;
		while (c->p < c->end && *c->p != ']') {
			unsigned char ch = (unsigned char)*c->p;
			if (ch == '\\' || (ch == '[' && c->p != s) || ch < 33 || ch > 126)
				return -1;
			c->p++;
		}
		if (c->p >= c->end)
			return -1;
		c->p++;
		n = (size_t)(c->p - s);
		if (n < 3 || n > SMTP_MAX_DOMAIN)
			return -1;
		if (out)
			for (size_t i = 0; i < n; i++)
				out[i] = (char)ch_lower((unsigned char)s[i]);
	} else {
		for (;;) {
			const char *a = c->p;
			while (c->p < c->end && hdr_is_atom((unsigned char)*c->p))
				c->p++;
			size_t an = (size_t)(c->p - a);
			if (an == 0 || n + an > SMTP_MAX_DOMAIN)
				return -1;
			if (out)
				for (size_t i = 0; i < an; i++)
					out[n + i] = (char)ch_lower((unsigned char)a[i]);
			n += an;
			const char *save = c->p;
			if (hdr_skip_cfws(c) < 0)
				return -1;
			if (c->p >= c->end || *c->p != '.') {
				c->p = save;
				break;
			}
			c->p++;
			if (n + 1 > SMTP_MAX_DOMAIN)
				return -1;
			if (out)
				out[n] = '.';
			n++;
			if (hdr_skip_cfws(c) < 0)
				return -1;
		}
	}
	if (out)
		out[n] = '\0';
	return 0;
}

/* An address's domain was found: count it and keep it if there is room. */
static int hdr_domain_record(struct hcur *c)
{
	char tmp[SMTP_MAX_DOMAIN + 1];

	if (hdr_domain(c, tmp) < 0 || c->count == INT_MAX)
		return -1;
	if (c->count < c->max)
		memcpy(c->domains[c->count], tmp, strlen(tmp) + 1);
	c->count++;
	return 0;
}

/* angle-addr at '<': [obs-route] addr-spec '>'. */
static int hdr_angle(struct hcur *c)
{
	int words, adjacent;

	c->p++;
	if (hdr_skip_cfws(c) < 0 || c->p >= c->end)
		return -1;
	if (*c->p == '@') {
		/* obs-route: "@a,@b:" is routing noise, never the sender. */
		for (;;) {
			c->p++;
			if (hdr_domain(c, NULL) < 0 || hdr_skip_cfws(c) < 0 || c->p >= c->end)
				return -1;
			if (*c->p == ':') {
				c->p++;
				break;
			}
			if (*c->p != ',')
				return -1;
			c->p++;
			if (hdr_skip_cfws(c) < 0 || c->p >= c->end || *c->p != '@')
				return -1;
		}
	}
	if (hdr_skip_words(c, &words, &adjacent) < 0 || words == 0 || adjacent)
		return -1;
	if (c->p >= c->end || *c->p != '@')
		return -1;
	c->p++;
	if (hdr_domain_record(c) < 0 || hdr_skip_cfws(c) < 0)
		return -1;
	if (c->p >= c->end || *c->p != '>')
		return -1;
	c->p++;
	return 0;
}

/*
 * mailbox-list, or address-list with groups at the top level (RFC 6854
 * allows a group in From:).  Anything that is not an address, a group or an
 * empty list element fails the whole field: a lenient reading here could
 * differ from what the recipient's mail reader shows as the sender.
 */
static int hdr_list(struct hcur *c, int in_group)
{
	for (;;) {
		int words, adjacent;

		if (hdr_skip_cfws(c) < 0)
			return -1;
		if (c->p >= c->end)
			return in_group ? -1 : 0;
		if (*c->p == ',') {
			c->p++;
			continue;
		}
		if (in_group && *c->p == ';') {
			c->p++;
			return 0;
		}
		if (hdr_skip_words(c, &words, &adjacent) < 0 || c->p >= c->end)
			return -1;
		switch (*c->p) {
		case '<':
			if (hdr_angle(c) < 0)
				return -1;
			break;
		case '@':
			if (words == 0 || adjacent)
				return -1;
			c->p++;
			if (hdr_domain_record(c) < 0)
				return -1;
			break;
		case ':':
			/* Groups do not nest, so recursion is one level deep at most. */
			if (in_group || words == 0)
				return -1;
			c->p++;
			if (hdr_list(c, 1) < 0)
				return -1;
			break;
		default:
			return -1;
		}
		if (hdr_skip_cfws(c) < 0)
			return -1;
		if (c->p >= c->end)
			return in_group ? -1 : 0;
		if (*c->p == ',') {
			c->p++;
		} else if (in_group && *c->p == ';') {
			c->p++;
			return 0;
		} else {
			return -1;
		}
	}
}

/* "From" [WSP] ":" at the start of a header line (WSP: obs-optional). */
static const char *hdr_from_value(const char *p, const char *end)
{
	if (end - p < 5 || !str_ncase_eq(p, "From", 4))
		return NULL;
	p += 4;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p < end && *p == ':' ? p + 1 : NULL;
}

int smtp_header_from_domains(const char *msg, size_t len, char domains[][SMTP_MAX_DOMAIN + 1],
                             int max)
{
	const char *p = msg, *end;
	const char *val = NULL, *val_end = NULL;
	int in_from = 0;

	if (!msg)
		return -1;
	end = msg + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *ce = le > p && le[-1] == '\r' ? le - 1 : le;
		if (ce == p)
			break; /* empty line: the body starts, its "From:" lines are text */
		if (*p == ' ' || *p == '\t') {
			if (in_from)
				val_end = ce;
		} else {
			const char *v = hdr_from_value(p, ce);
			in_from = v != NULL;
			if (v) {
				if (val)
					return -2;
				val = v;
				val_end = ce;
			}
		}
		p = nl ? nl + 1 : end;
	}
	if (!val)
		return -1;

	struct hcur c = {val, val_end, domains, max < 0 || !domains ? 0 : max, 0};
	if (hdr_list(&c, 0) < 0 || c.count == 0)
		return -3;
	return c.count;
}

/* ------------------------------------------------------------------ */
/* domain matching */

int smtp_domain_matches(const char *domain, const char *allowed)
{
	if (!domain || !allowed)
		return 0;
	size_t dn = strlen(domain), an = strlen(allowed);
	if (dn && domain[dn - 1] == '.')
		dn--;
	if (an && allowed[an - 1] == '.')
		an--;
	if (dn == 0 || an == 0 || dn < an)
		return 0;
	if (!str_ncase_eq(domain + dn - an, allowed, an))
		return 0;
	if (dn == an)
		return 1;
	/* A subdomain: a dot boundary and a non-empty label in front of it. */
	return domain[dn - an - 1] == '.' && dn - an - 1 > 0;
}
