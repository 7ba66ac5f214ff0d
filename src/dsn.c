/*
 * dsn.c - builds RFC 3464 delivery status notifications (multipart/report,
 * RFC 6522) for recipients SES refused for good.
 *
 * Pure: no I/O, no clock, no globals, no logging; any thread may call it.
 * Much of what goes into a DSN comes from outside: the remote diagnostic
 * text, the addresses, the original header.  None of it may add a line, a
 * header field or a MIME boundary of its own, so every piece is cleaned or
 * encoded before it is placed: diagnostics lose control characters and
 * 8-bit octets and are folded by us; addresses lose control characters and
 * are cut; the original header is copied as 7bit only when it already is
 * 7bit with short lines, and quoted-printable otherwise; the boundary is
 * checked against every part before it is used.
 */
#include "dsn.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define DSN_FOLD_COL     78	/* preferred header line width */
#define DSN_XTEXT_MAX    900	/* encoded address; keeps the field under 998 */
#define DSN_QP_COL       76	/* RFC 2045 limit for quoted-printable lines */
#define DSN_LINE_MAX     998	/* RFC 5322 hard limit, without CRLF */
#define DSN_BOUNDARY_TRY 1000

/* ------------------------------------------------------------------ */
/* Growing buffer                                                      */

struct sbuf {
	char *p;
	size_t n, cap;
	int oom;
};

static void sb_add(struct sbuf *b, const void *s, size_t n)
{
	if (b->oom || n == 0)
		return;
	if (b->cap - b->n < n + 1) {
		size_t cap = b->cap ? b->cap : 1024;
		char *p;
		while (cap - b->n < n + 1) {
			if (cap > SIZE_MAX / 2) {
				b->oom = 1;
				return;
			}
			cap *= 2;
		}
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	/* Callers format only bounded, cleaned values. */
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->oom = 1;
		return;
	}
	sb_add(b, tmp, (size_t)n);
}

static void sb_fini(struct sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}

/* ------------------------------------------------------------------ */
/* Cleaning what comes from outside                                    */


/* Host names and our own addresses: printable ASCII that cannot end a
 * header token or an angle address early.  Anything else is dropped. */
static void clean_token(char *dst, size_t cap, const char *s)
{
	size_t o = 0;

	for (; s && *s && o + 1 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c > 0x20 && c < 0x7f && !strchr("<>()\",;\\", c))
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
}

/* Queue ids in boundaries and Message-IDs: letters and digits only. */
static void clean_alnum(char *dst, size_t cap, const char *s)
{
	size_t o = 0;

	for (; s && *s && o + 1 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
}

/*
 * An address as it may appear in a header field or a DSN field: well-formed
 * UTF-8 kept, control characters and broken octets become '?', cut at
 * DSN_ADDR_MAX octets on a character boundary.  @dst holds DSN_ADDR_MAX+1.
 * Returns 1 if the result is not pure ASCII.
 */
static int clean_addr(char *dst, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, o = 0;
	int wide = 0;

	while (i < n) {
		size_t k = util_utf8_seq(u + i, n - i);
		if (k == 0 || (k == 1 && (u[i] < 0x20 || u[i] == 0x7f))) {
			if (o + 1 > DSN_ADDR_MAX)
				break;
			dst[o++] = '?';
			i++;
			continue;
		}
		if (o + k > DSN_ADDR_MAX)
			break;
		memcpy(dst + o, s + i, k);
		wide |= k > 1;
		o += k;
		i += k;
	}
	dst[o] = '\0';
	return wide;
}

/*
 * Remote diagnostic text as one line of printable ASCII: CR, LF, tabs and
 * other controls become spaces, runs of spaces collapse, each non-ASCII
 * character (or broken octet) becomes '?', and the text is cut at
 * DSN_DIAG_MAX.  @dst holds DSN_DIAG_MAX+1.
 */
static void clean_diag(char *dst, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, o = 0;

	while (i < n && o < DSN_DIAG_MAX) {
		unsigned c = u[i];
		char m;

		if (c < 0x80) {
			m = (c <= 0x20 || c == 0x7f) ? ' ' : (char)c;
			i++;
		} else {
			size_t k = util_utf8_seq(u + i, n - i);
			m = '?';
			i += k ? k : 1;
		}
		if (m == ' ' && (o == 0 || dst[o - 1] == ' '))
			continue;
		dst[o++] = m;
	}
	while (o && dst[o - 1] == ' ')
		o--;
	dst[o] = '\0';
}

/* Does @d start with a diagnostic-type (an atom) and ';'? */
static int has_diag_type(const char *d)
{
	size_t i = 0;

	while ((d[i] >= 'A' && d[i] <= 'Z') || (d[i] >= 'a' && d[i] <= 'z') ||
	       (d[i] >= '0' && d[i] <= '9') || d[i] == '-')
		i++;
	return i > 0 && d[i] == ';';
}

/* RFC 3463 status: class 4 or 5, then two 1-3 digit numbers. */
static int status_ok(const char *s)
{
	int dots = 0, digits = 0;

	if (!s || (s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	for (s += 2; *s; s++) {
		if (*s == '.') {
			if (digits == 0 || ++dots > 1)
				return 0;
			digits = 0;
		} else if (*s >= '0' && *s <= '9') {
			if (++digits > 3)
				return 0;
		} else {
			return 0;
		}
	}
	return dots == 1 && digits > 0;
}

/* ------------------------------------------------------------------ */
/* Encoders                                                            */

/*
 * Write @value, one line (the callers cleaned it), starting at column @col,
 * breaking before spaces so lines stay near DSN_FOLD_COL.  A break is CRLF
 * then @indent; with an empty @indent the space itself begins the next
 * line, which is header folding (RFC 5322 FWS).  Values are bounded, so no
 * line reaches DSN_LINE_MAX even where a long word cannot be broken.
 */
static void sb_fold(struct sbuf *b, size_t col, const char *value, const char *indent)
{
	const char *p = value;

	while (*p) {
		const char *sp = strchr(p + 1, ' ');
		size_t w = sp ? (size_t)(sp - p) : strlen(p);

		/* p points at the first word or at the space before a word. */
		if (p != value && col + w > DSN_FOLD_COL) {
			sb_str(b, "\r\n");
			sb_str(b, indent);
			col = strlen(indent);
			if (*indent) {
				p++;
				w--;
			}
		}
		sb_add(b, p, w);
		col += w;
		p += w;
	}
	sb_str(b, "\r\n");
}

/* A header or DSN field "Name: value", folded. */
static void sb_field(struct sbuf *b, const char *name, const char *value)
{
	sb_str(b, name);
	sb_str(b, ": ");
	sb_fold(b, strlen(name) + 2, value, "");
}

/*
 * RFC 6533 utf-8-addr-xtext: QCHAR (printable ASCII but '+', '=' and '\')
 * as is, everything else as \x{HEX} (upper case, at least two digits).
 * Stops before DSN_XTEXT_MAX characters.
 */
static void sb_xtext(struct sbuf *b, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, out = 0;

	while (i < n) {
		char e[16];
		size_t k = util_utf8_seq(u + i, n - i);
		unsigned long cp;
		int w;

		if (k == 0)
			k = 1;	/* clean_addr left none; be safe anyway */
		if (k == 1 && u[i] > 0x20 && u[i] < 0x7f && u[i] != '+' && u[i] != '=' &&
		    u[i] != '\\') {
			e[0] = (char)u[i];
			w = 1;
		} else {
			if (k == 1)
				cp = u[i];
			else if (k == 2)
				cp = (u[i] & 0x1fu) << 6 | (u[i + 1] & 0x3fu);
			else if (k == 3)
				cp = (u[i] & 0x0fu) << 12 | (u[i + 1] & 0x3fu) << 6 |
				     (u[i + 2] & 0x3fu);
			else
				cp = (u[i] & 0x07u) << 18 | (u[i + 1] & 0x3fu) << 12 |
				     (u[i + 2] & 0x3fu) << 6 | (u[i + 3] & 0x3fu);
			w = snprintf(e, sizeof(e), "\\x{%02lX}", cp);
		}
		if (out + (size_t)w > DSN_XTEXT_MAX)
			break;
		sb_add(b, e, (size_t)w);
		out += (size_t)w;
		i += k;
	}
}

/*
 * Quoted-printable (RFC 2045 6.7) of text whose line ends are CRLF or LF:
 * those become CRLF hard breaks, a lone CR is encoded, lines are broken
 * softly at DSN_QP_COL.  Output ends with CRLF.
 */
static void sb_qp(struct sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[3];
		size_t w;
		int eol_next;

		if (c == '\n' || (c == '\r' && i + 1 < n && s[i + 1] == '\n')) {
			if (c == '\r')
				i++;
			sb_str(b, "\r\n");
			col = 0;
			continue;
		}
		eol_next = i + 1 == n || s[i + 1] == '\n' ||
			   (s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n');
		if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !eol_next)) {
			e[0] = (char)c;
			w = 1;
		} else {
			e[0] = '=';
			e[1] = hex[c >> 4];
			e[2] = hex[c & 15];
			w = 3;
		}
		if (col + w > DSN_QP_COL - 1) {
			sb_str(b, "=\r\n");
			col = 0;
		}
		sb_add(b, e, w);
		col += w;
	}
	if (col)
		sb_str(b, "\r\n");
}

/* Can @s be sent as 7bit text: no NUL, no 8-bit octet, no lone CR, no
 * line over DSN_LINE_MAX? */
static int is_7bit_text(const char *s, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0 || c >= 0x80)
			return 0;
		if (c == '\r') {
			if (i + 1 >= n || s[i + 1] != '\n')
				return 0;
			continue;
		}
		if (c == '\n') {
			col = 0;
			continue;
		}
		if (++col > DSN_LINE_MAX)
			return 0;
	}
	return 1;
}

/* Copy 7bit text with LF or CRLF line ends as CRLF lines; ends with CRLF. */
static void sb_crlf(struct sbuf *b, const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '\n')
			continue;
		size_t e = i;
		if (e > start && s[e - 1] == '\r')
			e--;
		if (i < n || e > start) {
			sb_add(b, s + start, e - start);
			sb_str(b, "\r\n");
		}
		start = i + 1;
	}
}

/* The header block of a message: up to (not including) the first empty
 * line, cut at DSN_HEADERS_MAX on a line end where possible. */
static size_t header_len(const char *m, size_t n)
{
	size_t i = 0, h = n;

	while (i < n) {
		const char *nl = memchr(m + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - m) : n;
		if (e == i || (e == i + 1 && m[i] == '\r')) {
			h = i;
			break;
		}
		i = nl ? e + 1 : n;
	}
	if (h > DSN_HEADERS_MAX) {
		const char *nl = memrchr(m, '\n', DSN_HEADERS_MAX);
		h = nl ? (size_t)(nl - m) + 1 : DSN_HEADERS_MAX;
	}
	return h;
}

static uint32_t fnv1a(uint32_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* ------------------------------------------------------------------ */
/* The parts                                                           */

struct dsn_clean {
	char mta[256];
	char from[256];
	char qid[64];		/* printable, for text */
	char qid_id[41];	/* alnum, for boundary and Message-ID */
	char domain[256];
	char to[DSN_ADDR_MAX + 1];
	char arrival[40];
	char now[40];
};

static void part_text(struct sbuf *b, const struct dsn_input *in, const struct dsn_clean *c,
		      int *wide)
{
	struct sbuf t = {0};
	char addr[DSN_ADDR_MAX + 1], diag[DSN_DIAG_MAX + 1];

	sb_printf(&t, "This is the mail system at host %s.\r\n\r\n", c->mta);
	sb_str(&t, "Your message could not be delivered to one or more recipients.\r\n");
	sb_printf(&t, "It was accepted on %s\r\nas queue id %s; its header is attached below.\r\n",
		  c->arrival, c->qid);
	*wide = 0;
	for (size_t i = 0; i < in->nrcpt; i++) {
		const struct dsn_rcpt *r = &in->rcpts[i];
		*wide |= clean_addr(addr, r->addr ? r->addr : "");
		sb_str(&t, "\r\n<");
		sb_str(&t, addr);
		sb_str(&t, ">:\r\n");
		if (r->diag && (clean_diag(diag, r->diag), diag[0])) {
			sb_str(&t, "    ");
			sb_fold(&t, 4, diag, "    ");
		} else {
			sb_printf(&t, "    delivery failed, status %s\r\n",
				  status_ok(r->status) ? r->status : "5.0.0");
		}
	}
	if (t.oom) {
		b->oom = 1;
	} else if (*wide) {
		sb_qp(b, t.p, t.n);
	} else {
		sb_add(b, t.p, t.n);
	}
	sb_fini(&t);
}

static void part_status(struct sbuf *b, const struct dsn_input *in, const struct dsn_clean *c)
{
	char addr[DSN_ADDR_MAX + 1], diag[DSN_DIAG_MAX + 1 + 6];

	sb_printf(b, "Reporting-MTA: dns; %s\r\n", c->mta);
	sb_printf(b, "X-Sesgate-Queue-ID: %s\r\n", c->qid);
	sb_printf(b, "Arrival-Date: %s\r\n", c->arrival);
	for (size_t i = 0; i < in->nrcpt; i++) {
		const struct dsn_rcpt *r = &in->rcpts[i];

		sb_str(b, "\r\n");
		if (clean_addr(addr, r->addr ? r->addr : "")) {
			sb_str(b, "Final-Recipient: utf-8; ");
			sb_xtext(b, addr);
			sb_str(b, "\r\n");
		} else {
			sb_printf(b, "Final-Recipient: rfc822; %s\r\n", addr);
		}
		sb_str(b, "Action: failed\r\n");
		sb_printf(b, "Status: %s\r\n", status_ok(r->status) ? r->status : "5.0.0");
		sb_printf(b, "Last-Attempt-Date: %s\r\n", c->now);
		if (r->diag) {
			char d[DSN_DIAG_MAX + 1];
			clean_diag(d, r->diag);
			if (d[0]) {
				snprintf(diag, sizeof(diag), "%s%s", has_diag_type(d) ? "" : "smtp; ",
					 d);
				sb_field(b, "Diagnostic-Code", diag);
			}
		}
	}
}

/* Does @s hold non-ASCII characters, all of them well-formed UTF-8, and
 * no NUL? */
static int is_utf8_text(const char *s, size_t n)
{
	int wide = 0;

	for (size_t i = 0, k; i < n; i += k) {
		k = util_utf8_seq((const unsigned char *)s + i, n - i);
		if (k == 0 || s[i] == '\0')
			return 0;
		wide |= k > 1;
	}
	return wide;
}

/* The original header: 7bit when it can be, else quoted-printable, and
 * labelled UTF-8 only when it is (RFC 6532 headers); *@enc says which:
 * 0 7bit, 1 quoted-printable, 2 quoted-printable UTF-8. */
static void part_headers(struct sbuf *b, const struct dsn_input *in, int *enc)
{
	const char *m = in->orig;
	size_t h = m ? header_len(m, in->orig_len) : 0;

	if (is_7bit_text(m, h)) {
		*enc = 0;
		sb_crlf(b, m, h);
	} else {
		*enc = is_utf8_text(m, h) ? 2 : 1;
		sb_qp(b, m, h);
	}
}

static int occurs(const struct sbuf *b, const char *needle, size_t n)
{
	return b->n >= n && memmem(b->p, b->n, needle, n) != NULL;
}

char *dsn_build(const struct dsn_input *in, size_t *len)
{
	struct dsn_clean c;
	struct sbuf text = {0}, status = {0}, hdrs = {0}, out = {0};
	char boundary[80], delim[84], msgid[400], ct[160];
	int wide = 0, enc = 0, found = 0;
	uint32_t h;

	if (!in || !in->rcpts || in->nrcpt == 0 || !in->to || !in->from || !in->reporting_mta ||
	    !in->qid)
		return NULL;

	clean_token(c.mta, sizeof(c.mta), in->reporting_mta);
	clean_token(c.from, sizeof(c.from), in->from);
	clean_token(c.qid, sizeof(c.qid), in->qid);
	clean_alnum(c.qid_id, sizeof(c.qid_id), in->qid);
	clean_token(c.domain, sizeof(c.domain), in->msgid_domain ? in->msgid_domain : c.mta);
	clean_addr(c.to, in->to);
	if (!c.mta[0] || !c.from[0] || !c.to[0] || strcmp(c.to, "<>") == 0)
		return NULL;
	if (!c.domain[0])
		util_strlcpy(c.domain, c.mta, sizeof(c.domain));
	util_rfc5322_date(in->arrival > 0 ? (uint64_t)in->arrival * 1000 : 0, c.arrival,
			  sizeof(c.arrival));
	util_rfc5322_date(in->now > 0 ? (uint64_t)in->now * 1000 : 0, c.now, sizeof(c.now));

	part_text(&text, in, &c, &wide);
	part_status(&status, in, &c);
	part_headers(&hdrs, in, &enc);
	if (text.oom || status.oom || hdrs.oom)
		goto fail;

	/* "=_" never appears in quoted-printable output, so the first try
	 * nearly always fits; the check covers the 7bit parts. */
	for (int i = 0; i < DSN_BOUNDARY_TRY && !found; i++) {
		snprintf(boundary, sizeof(boundary), "=_sesgate_%s_%d", c.qid_id, i);
		snprintf(delim, sizeof(delim), "--%s", boundary);
		size_t dl = strlen(delim);
		found = !occurs(&text, delim, dl) && !occurs(&status, delim, dl) &&
			!occurs(&hdrs, delim, dl);
	}
	if (!found)
		goto fail;

	h = fnv1a(2166136261u, c.qid);
	for (size_t i = 0; i < in->nrcpt; i++)
		h = fnv1a(h, in->rcpts[i].addr ? in->rcpts[i].addr : "");
	snprintf(msgid, sizeof(msgid), "<dsn.%s.%lld.%08x@%s>", c.qid_id, (long long)in->now,
		 (unsigned)h, c.domain);

	sb_printf(&out, "From: Mail Delivery System <%s>\r\n", c.from);
	sb_str(&out, "To: <");
	sb_str(&out, c.to);
	sb_str(&out, ">\r\n");
	sb_str(&out, "Subject: Undelivered Mail Returned to Sender\r\n");
	sb_printf(&out, "Date: %s\r\n", c.now);
	sb_printf(&out, "Message-ID: %s\r\n", msgid);
	sb_str(&out, "Auto-Submitted: auto-replied\r\n");
	sb_str(&out, "MIME-Version: 1.0\r\n");
	snprintf(ct, sizeof(ct), "multipart/report; report-type=delivery-status; boundary=\"%s\"",
		 boundary);
	sb_field(&out, "Content-Type", ct);
	sb_str(&out, "Content-Transfer-Encoding: 7bit\r\n");
	sb_str(&out, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	sb_printf(&out, "%s\r\n", delim);
	sb_str(&out, "Content-Description: Notification\r\n");
	if (wide)
		sb_str(&out, "Content-Type: text/plain; charset=utf-8\r\n"
			     "Content-Transfer-Encoding: quoted-printable\r\n");
	else
		sb_str(&out, "Content-Type: text/plain; charset=us-ascii\r\n"
			     "Content-Transfer-Encoding: 7bit\r\n");
	sb_str(&out, "\r\n");
	sb_add(&out, text.p, text.n);

	sb_printf(&out, "\r\n%s\r\n", delim);
	sb_str(&out, "Content-Description: Delivery report\r\n"
		     "Content-Type: message/delivery-status\r\n"
		     "Content-Transfer-Encoding: 7bit\r\n\r\n");
	sb_add(&out, status.p, status.n);

	sb_printf(&out, "\r\n%s\r\n", delim);
	sb_str(&out, "Content-Description: Undelivered Message Headers\r\n");
	sb_str(&out, enc == 2 ? "Content-Type: text/rfc822-headers; charset=utf-8\r\n"
			     : "Content-Type: text/rfc822-headers\r\n");
	sb_str(&out, enc ? "Content-Transfer-Encoding: quoted-printable\r\n"
			: "Content-Transfer-Encoding: 7bit\r\n");
	sb_str(&out, "\r\n");
	sb_add(&out, hdrs.p, hdrs.n);
	sb_printf(&out, "\r\n%s--\r\n", delim);
	if (out.oom)
		goto fail;

	sb_fini(&text);
	sb_fini(&status);
	sb_fini(&hdrs);
	if (len)
		*len = out.n;
	return out.p;
fail:
	sb_fini(&text);
	sb_fini(&status);
	sb_fini(&hdrs);
	sb_fini(&out);
	return NULL;
}

const char *dsn_status_for(const char *code)
{
	static const struct {
		const char *code;
		const char *status;
	} map[] = {
		{"MessageRejected", "5.7.1"},
		{"MailFromDomainNotVerifiedException", "5.7.1"},
		{"MailFromDomainNotVerified", "5.7.1"},
		{"AccountSuspendedException", "5.7.1"},
		{"SendingPausedException", "5.7.1"},
		{"AccountSendingPausedException", "5.7.1"},
		{"ConfigurationSetSendingPausedException", "5.7.1"},
		{"NotFoundException", "5.3.5"},
		{"TooManyRequestsException", "5.4.7"},
		{"Throttling", "5.4.7"},
		{"ThrottlingException", "5.4.7"},
		{"ExpiredToken", "5.4.7"},
		{"ExpiredTokenException", "5.4.7"},
		{"InvalidClientTokenId", "5.4.7"},
		{"UnrecognizedClientException", "5.4.7"},
		{"RequestTimeTooSkewed", "5.4.7"},
		{"RequestExpired", "5.4.7"},
		{"SignatureDoesNotMatch", "5.4.7"},
		{"InternalServiceErrorException", "5.4.7"},
		{"InternalFailure", "5.4.7"},
		{"ServiceUnavailable", "5.4.7"},
		{"ConcurrentModificationException", "5.4.7"},
		{"RequestTimeout", "5.4.7"},
		{"RequestTimeoutException", "5.4.7"},
	};

	if (!code || !*code)
		return "5.0.0";
	if (strncmp(code, "AccessDenied", 12) == 0)
		return "5.7.1";
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(code, map[i].code) == 0)
			return map[i].status;
	return "5.0.0";
}
