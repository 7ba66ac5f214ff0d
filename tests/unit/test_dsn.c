/*
 * Unit tests of src/dsn.c: the DSN is taken apart again and checked as a
 * mail reader would see it: CRLF only, no line over 998 octets, the
 * boundary used exactly as the part delimiters and nowhere else, the
 * RFC 3464 fields present, the original header (and only the header)
 * carried intact, and nothing a hostile diagnostic text, address or
 * original header contains able to add a line, a field or a part.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dsn.h"

#define QID     "0KHZ9Q3M4N5P6R7S"
#define ARRIVAL ((time_t)1764390000) /* Sat, 29 Nov 2025 04:20:00 +0000 */
#define NOW     ((time_t)1764393600) /* Sat, 29 Nov 2025 05:20:00 +0000 */

static const char orig_ascii[] = "Received: from client.example.com\r\n"
                                 "\tby mx1.sesgate.example\r\n"
                                 "From: Alice <alice@example.com>\r\n"
                                 "To: bob@example.net\r\n"
                                 "Subject: Hello\r\n"
                                 "\r\n"
                                 "secret body\r\n";

static struct dsn_input input(const struct dsn_rcpt *r, size_t n, const char *orig)
{
	struct dsn_input in = {
	    .reporting_mta = "mx1.sesgate.example",
	    .from = "MAILER-DAEMON@mx1.sesgate.example",
	    .to = "alice@example.com",
	    .qid = QID,
	    .arrival = ARRIVAL,
	    .now = NOW,
	    .rcpts = r,
	    .nrcpt = n,
	    .orig = orig,
	    .orig_len = orig ? strlen(orig) : 0,
	};
	return in;
}

/* ---- taking a DSN apart ---- */

struct part {
	const char *hdr; /* header block, NUL-terminated copy */
	const char *body;
	char *mem;
};

struct dsn {
	char *raw;
	size_t len;
	char *top; /* top-level header block */
	char boundary[128];
	struct part parts[3];
};

/* Wire rules: CRLF only, no NUL, no line above 998 octets. */
static void assert_wire(const char *d, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		assert_true(d[i] != '\0');
		if (d[i] == '\r') {
			assert_true(i + 1 < n && d[i + 1] == '\n');
			continue;
		}
		if (d[i] == '\n') {
			assert_true(i > 0 && d[i - 1] == '\r');
			col = 0;
			continue;
		}
		col++;
		assert_true(col <= 998);
	}
	assert_true(n >= 2 && d[n - 2] == '\r' && d[n - 1] == '\n');
}

static int is_7bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

static char *dup_range(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	assert_non_null(d);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/*
 * Unfolded value of field @name in the header block @h (NULL if absent).
 * Matches only at line starts.  Caller frees.
 */
static char *field(const char *h, const char *name)
{
	size_t nl = strlen(name);
	const char *p = h;

	while (*p) {
		const char *eol = strstr(p, "\r\n");
		if (!eol)
			eol = p + strlen(p);
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			char *v = malloc(strlen(p) + 1);
			size_t o = 0;
			const char *q = p + nl + 1;
			assert_non_null(v);
			while (*q == ' ')
				q++;
			for (;;) {
				while (q < eol)
					v[o++] = *q++;
				if (eol[0] && (eol[2] == ' ' || eol[2] == '\t')) {
					q = eol + 2;
					eol = strstr(q, "\r\n");
					if (!eol)
						eol = q + strlen(q);
					continue;
				}
				break;
			}
			v[o] = '\0';
			return v;
		}
		p = *eol ? eol + 2 : eol;
	}
	return NULL;
}

static void assert_field(const char *h, const char *name, const char *want)
{
	char *v = field(h, name);

	if (!v)
		fail_msg("no %s field", name);
	assert_string_equal(v, want);
	free(v);
}

/* Count lines of @d that start with @prefix. */
static int lines_starting(const char *d, const char *prefix)
{
	int n = 0;
	size_t pl = strlen(prefix);

	for (const char *p = d; p; p = strstr(p, "\r\n"), p = p ? p + 2 : NULL)
		if (strncmp(p, prefix, pl) == 0)
			n++;
	return n;
}

static void dsn_parse(struct dsn *m, const struct dsn_input *in)
{
	char *ct, *b, delim[140], close[144];
	const char *body, *p;

	memset(m, 0, sizeof(*m));
	m->raw = dsn_build(in, &m->len);
	assert_non_null(m->raw);
	assert_int_equal(strlen(m->raw), m->len);
	assert_wire(m->raw, m->len);

	body = strstr(m->raw, "\r\n\r\n");
	assert_non_null(body);
	m->top = dup_range(m->raw, (size_t)(body - m->raw) + 2);
	body += 4;

	ct = field(m->top, "Content-Type");
	assert_non_null(ct);
	assert_true(strncmp(ct, "multipart/report; report-type=delivery-status; ", 47) == 0);
	b = strstr(ct, "boundary=\"");
	assert_non_null(b);
	b += 10;
	assert_non_null(strchr(b, '"'));
	snprintf(m->boundary, sizeof(m->boundary), "%.*s", (int)(strchr(b, '"') - b), b);
	free(ct);
	assert_true(strlen(m->boundary) >= 1 && strlen(m->boundary) <= 70);

	/* The boundary appears as 3 delimiters and 1 close delimiter, and
	 * nowhere else in the whole message. */
	snprintf(delim, sizeof(delim), "--%s", m->boundary);
	snprintf(close, sizeof(close), "--%s--", m->boundary);
	assert_int_equal(lines_starting(m->raw, delim), 4);
	{
		int occ = 0;
		for (p = m->raw; (p = strstr(p, delim)); p++)
			occ++;
		assert_int_equal(occ, 4);
	}
	assert_non_null(strstr(m->raw, "\r\n"));
	assert_true(m->len > strlen(close) + 2);
	assert_memory_equal(m->raw + m->len - strlen(close) - 2, close, strlen(close));

	p = body;
	for (int i = 0; i < 3; i++) {
		const char *start = strstr(p, delim), *end, *hend;
		assert_non_null(start);
		assert_true(start == body || (start[-2] == '\r' && start[-1] == '\n'));
		start += strlen(delim);
		assert_true(start[0] == '\r' && start[1] == '\n');
		start += 2;
		end = strstr(start, delim);
		assert_non_null(end);
		assert_true(end[-2] == '\r' && end[-1] == '\n');
		/* The CRLF before the delimiter belongs to the delimiter. */
		m->parts[i].mem = dup_range(start, (size_t)(end - 2 - start));
		hend = strstr(m->parts[i].mem, "\r\n\r\n");
		assert_non_null(hend);
		((char *)hend)[2] = '\0';
		m->parts[i].hdr = m->parts[i].mem;
		m->parts[i].body = hend + 4;
		p = end;
	}
}

static void dsn_free(struct dsn *m)
{
	free(m->raw);
	free(m->top);
	for (int i = 0; i < 3; i++)
		free(m->parts[i].mem);
}

/* Minimal quoted-printable decoder for the checks; caller frees. */
static char *qp_decode(const char *s)
{
	char *d = malloc(strlen(s) + 1);
	size_t o = 0;

	assert_non_null(d);
	while (*s) {
		if (s[0] == '=' && s[1] == '\r' && s[2] == '\n') {
			s += 3;
		} else if (s[0] == '=') {
			unsigned v;
			assert_int_equal(sscanf(s + 1, "%2X", &v), 1);
			assert_true(strchr("0123456789ABCDEF", s[1]) &&
			            strchr("0123456789ABCDEF", s[2]));
			d[o++] = (char)v;
			s += 3;
		} else {
			d[o++] = *s++;
		}
	}
	d[o] = '\0';
	return d;
}

/* Every line of quoted-printable text is at most 76 octets. */
static void assert_qp_lines(const char *s)
{
	for (const char *p = s; *p;) {
		const char *e = strstr(p, "\r\n");
		size_t n = e ? (size_t)(e - p) : strlen(p);
		assert_true(n <= 76);
		p += n + (e ? 2 : 0);
	}
}

/* The delivery-status part's per-recipient block @i (0-based), copied. */
static char *rcpt_block(const struct dsn *m, int i)
{
	const char *p = m->parts[1].body;

	for (int k = 0; k <= i; k++) {
		p = strstr(p, "\r\n\r\n");
		assert_non_null(p);
		p += 4;
	}
	const char *e = strstr(p, "\r\n\r\n");
	return dup_range(p, e ? (size_t)(e - p) + 2 : strlen(p));
}

/* ---- tests ---- */

static void test_dsn_structure(void **state)
{
	(void)state;
	struct dsn_rcpt r[] = {
	    {"bob@example.net", "5.7.1",
	     "smtp; 554 MessageRejected: Email address is not verified."},
	    {"carol@example.org", "5.0.0", NULL},
	};
	struct dsn_input in = input(r, 2, orig_ascii);
	struct dsn m;
	char *v, *b0, *b1;

	dsn_parse(&m, &in);
	assert_true(is_7bit(m.raw));

	assert_field(m.top, "From", "Mail Delivery System <MAILER-DAEMON@mx1.sesgate.example>");
	assert_field(m.top, "To", "<alice@example.com>");
	assert_field(m.top, "Subject", "Undelivered Mail Returned to Sender");
	assert_field(m.top, "Date", "Sat, 29 Nov 2025 05:20:00 +0000");
	assert_field(m.top, "MIME-Version", "1.0");
	assert_field(m.top, "Auto-Submitted", "auto-replied");
	v = field(m.top, "Message-ID");
	assert_non_null(v);
	assert_true(strncmp(v, "<dsn." QID ".", 5 + 16 + 1) == 0);
	assert_non_null(strstr(v, "@mx1.sesgate.example>"));
	free(v);
	/* Each top-level field once. */
	assert_int_equal(lines_starting(m.top, "From:"), 1);
	assert_int_equal(lines_starting(m.top, "To:"), 1);
	assert_int_equal(lines_starting(m.top, "Content-Type:"), 1);

	assert_field(m.parts[0].hdr, "Content-Type", "text/plain; charset=us-ascii");
	assert_field(m.parts[0].hdr, "Content-Transfer-Encoding", "7bit");
	assert_non_null(strstr(m.parts[0].body, "<bob@example.net>:"));
	assert_non_null(strstr(m.parts[0].body, "MessageRejected: Email address is not verified."));
	assert_non_null(strstr(m.parts[0].body, "<carol@example.org>:"));

	assert_field(m.parts[1].hdr, "Content-Type", "message/delivery-status");
	assert_field(m.parts[1].body, "Reporting-MTA", "dns; mx1.sesgate.example");
	assert_field(m.parts[1].body, "Arrival-Date", "Sat, 29 Nov 2025 04:20:00 +0000");
	assert_field(m.parts[1].body, "X-Sesgate-Queue-ID", QID);
	b0 = rcpt_block(&m, 0);
	assert_field(b0, "Final-Recipient", "rfc822; bob@example.net");
	assert_field(b0, "Action", "failed");
	assert_field(b0, "Status", "5.7.1");
	assert_field(b0, "Last-Attempt-Date", "Sat, 29 Nov 2025 05:20:00 +0000");
	assert_field(b0, "Diagnostic-Code",
	             "smtp; 554 MessageRejected: Email address is not verified.");
	b1 = rcpt_block(&m, 1);
	assert_field(b1, "Final-Recipient", "rfc822; carol@example.org");
	assert_field(b1, "Status", "5.0.0");
	assert_null(field(b1, "Diagnostic-Code"));
	free(b0);
	free(b1);

	/* The header of the original, exactly, and not its body. */
	assert_field(m.parts[2].hdr, "Content-Type", "text/rfc822-headers");
	assert_field(m.parts[2].hdr, "Content-Transfer-Encoding", "7bit");
	assert_string_equal(m.parts[2].body, "Received: from client.example.com\r\n"
	                                     "\tby mx1.sesgate.example\r\n"
	                                     "From: Alice <alice@example.com>\r\n"
	                                     "To: bob@example.net\r\n"
	                                     "Subject: Hello\r\n");
	assert_null(strstr(m.raw, "secret body"));
	dsn_free(&m);
}

static void test_dsn_hostile_diag(void **state)
{
	(void)state;
	struct dsn_rcpt r[] = {
	    {"bob@example.net", "5.7.1",
	     "554 bad\r\n--=_sesgate_" QID "_0\r\nContent-Type: text/html\r\n\r\n"
	     "X-Injected: yes\nBcc: victim@example.com\r.\r\n\x01\x1b[31m\x7f"
	     "caf\xc3\xa9 \xff\xfe end   "},
	};
	struct dsn_input in = input(r, 1, orig_ascii);
	struct dsn m;
	char *b0;

	dsn_parse(&m, &in);
	assert_true(is_7bit(m.raw));
	/* The text mentioned the first boundary we would try; a later one was
	 * used, and the text could not form a line of its own anyway. */
	assert_string_not_equal(m.boundary, "=_sesgate_" QID "_0");
	assert_int_equal(lines_starting(m.raw, "X-Injected"), 0);
	assert_int_equal(lines_starting(m.raw, "Bcc"), 0);
	assert_int_equal(lines_starting(m.raw, "Content-Type: text/html"), 0);
	assert_int_equal(lines_starting(m.raw, "--=_sesgate_" QID "_0"), 0);
	assert_int_equal(lines_starting(m.raw, "."), 0);
	assert_null(strchr(m.raw, '\x1b'));
	assert_null(strchr(m.raw, '\x7f'));
	b0 = rcpt_block(&m, 0);
	assert_field(b0, "Diagnostic-Code",
	             "smtp; 554 bad --=_sesgate_" QID "_0 Content-Type: text/html X-Injected: "
	             "yes Bcc: victim@example.com . [31m caf? ?? end");
	free(b0);
	/* Still three parts, still one recipient block. */
	assert_int_equal(lines_starting(m.parts[1].body, "Final-Recipient:"), 1);
	dsn_free(&m);
}

static void test_dsn_long_diag(void **state)
{
	(void)state;
	char words[5001], word[2001];
	struct dsn_rcpt r[] = {{"bob@example.net", "5.0.0", words},
	                       {"carol@example.net", "5.0.0", word}};
	struct dsn_input in = input(r, 2, orig_ascii);
	struct dsn m;
	char *b0, *v;

	for (size_t i = 0; i < sizeof(words) - 1; i++)
		words[i] = i % 10 == 9 ? ' ' : 'w';
	words[sizeof(words) - 1] = '\0';
	memset(word, 'x', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';

	dsn_parse(&m, &in);
	b0 = rcpt_block(&m, 0);
	/* Folded into lines near 78 columns... */
	for (const char *p = b0; *p;) {
		const char *e = strstr(p, "\r\n");
		assert_true((size_t)(e - p) <= 78);
		p = e + 2;
	}
	/* ...and cut to DSN_DIAG_MAX of text. */
	v = field(b0, "Diagnostic-Code");
	assert_true(strncmp(v, "smtp; wwwwwwwww www", 19) == 0);
	assert_true(strlen(v) <= 6 + DSN_DIAG_MAX);
	assert_true(strlen(v) >= 6 + DSN_DIAG_MAX - 10);
	free(v);
	free(b0);
	/* An unbreakable word stays one line, below 998 (assert_wire). */
	b0 = rcpt_block(&m, 1);
	v = field(b0, "Diagnostic-Code");
	assert_int_equal(strlen(v), 6 + DSN_DIAG_MAX);
	free(v);
	free(b0);
	dsn_free(&m);
}

static void test_dsn_boundary_in_original(void **state)
{
	(void)state;
	static const char orig[] = "Subject: x\r\n"
	                           "--=_sesgate_" QID "_0\r\n"
	                           "X: --=_sesgate_" QID "_1--\r\n"
	                           "\r\nbody\r\n";
	struct dsn_rcpt r[] = {{"bob@example.net", "5.0.0", NULL}};
	struct dsn_input in = input(r, 1, orig);
	struct dsn m;

	dsn_parse(&m, &in);
	assert_string_equal(m.boundary, "=_sesgate_" QID "_2");
	assert_field(m.parts[2].hdr, "Content-Transfer-Encoding", "7bit");
	assert_string_equal(m.parts[2].body, "Subject: x\r\n--=_sesgate_" QID
	                                     "_0\r\nX: --=_sesgate_" QID "_1--\r\n");
	dsn_free(&m);

	/* A queue id with odd characters is reduced to letters and digits. */
	in.qid = "a/b\"c d\r\n";
	in.orig = NULL;
	in.orig_len = 0;
	dsn_parse(&m, &in);
	assert_string_equal(m.boundary, "=_sesgate_abcd_0");
	assert_field(m.parts[1].body, "X-Sesgate-Queue-ID", "a/bcd");
	dsn_free(&m);
}

static void check_qp_headers(const char *orig, size_t orig_len, const char *want_ct,
                             const char *want_decoded)
{
	struct dsn_rcpt r[] = {{"bob@example.net", "5.0.0", NULL}};
	struct dsn_input in = input(r, 1, NULL);
	struct dsn m;
	char *dec;

	in.orig = orig;
	in.orig_len = orig_len;
	dsn_parse(&m, &in);
	assert_true(is_7bit(m.raw));
	assert_field(m.parts[2].hdr, "Content-Type", want_ct);
	assert_field(m.parts[2].hdr, "Content-Transfer-Encoding", "quoted-printable");
	assert_qp_lines(m.parts[2].body);
	dec = qp_decode(m.parts[2].body);
	assert_string_equal(dec, want_decoded);
	free(dec);
	dsn_free(&m);
}

static void test_dsn_8bit_headers(void **state)
{
	(void)state;
	static const char utf8[] = "From: J\xc3\xb6rg <j@example.de>\n"
	                           "Subject: Gr\xc3\xbc\xc3\x9f"
	                           "e = ok \t\n"
	                           "\nbody\n";
	static const char latin1[] = "Subject: Gr\xfc\xdf"
	                             "e\r\n\r\nbody";
	static const char lone_cr[] = "Subject: a\rb\r\n\r\n";
	char longline[1200];

	/* LF line ends become CRLF; trailing blanks survive as =20 / =09. */
	check_qp_headers(utf8, sizeof(utf8) - 1, "text/rfc822-headers; charset=utf-8",
	                 "From: J\xc3\xb6rg <j@example.de>\r\n"
	                 "Subject: Gr\xc3\xbc\xc3\x9f"
	                 "e = ok \t\r\n");
	/* Not UTF-8: no charset claimed. */
	check_qp_headers(latin1, sizeof(latin1) - 1, "text/rfc822-headers",
	                 "Subject: Gr\xfc\xdf"
	                 "e\r\n");
	check_qp_headers(lone_cr, sizeof(lone_cr) - 1, "text/rfc822-headers", "Subject: a\rb\r\n");
	/* A line over 998 octets: 7bit impossible, QP keeps it intact. */
	memcpy(longline, "X-Long: ", 8);
	memset(longline + 8, 'a', 1000);
	memcpy(longline + 1008, "\r\n\r\n", 5);
	{
		char want[1100];
		memcpy(want, longline, 1010);
		want[1010] = '\0';
		check_qp_headers(longline, strlen(longline), "text/rfc822-headers", want);
	}
	/* NUL octets in the header are carried encoded, not as text. */
	check_qp_headers("A: x\0y\r\n\r\n", 10, "text/rfc822-headers", "A: x");
}

static void test_dsn_utf8_addresses(void **state)
{
	(void)state;
	struct dsn_rcpt r[] = {
	    {"j\xc3\xb6rg+tag=1@b\xc3\xbc"
	     "cher.de",
	     "5.1.1", "550 unknown"},
	    {"\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", "5.0.0",
	     NULL},
	    {"\xf0\x9f\x98\x80\\x@example.com", "5.0.0", NULL},
	};
	struct dsn_input in = input(r, 3, orig_ascii);
	struct dsn m;
	char *b, *dec;

	dsn_parse(&m, &in);
	/* The DSN goes to an ASCII address: all of it is 7bit. */
	assert_true(is_7bit(m.raw));
	b = rcpt_block(&m, 0);
	assert_field(b, "Final-Recipient", "utf-8; j\\x{F6}rg\\x{2B}tag\\x{3D}1@b\\x{FC}cher.de");
	assert_field(b, "Status", "5.1.1");
	free(b);
	b = rcpt_block(&m, 1);
	assert_field(b, "Final-Recipient",
	             "utf-8; \\x{7528}\\x{6237}@\\x{4F8B}\\x{5B50}.\\x{5E7F}\\x{544A}");
	free(b);
	b = rcpt_block(&m, 2);
	assert_field(b, "Final-Recipient", "utf-8; \\x{1F600}\\x{5C}x@example.com");
	free(b);
	/* People read UTF-8 in the text part. */
	assert_field(m.parts[0].hdr, "Content-Type", "text/plain; charset=utf-8");
	assert_field(m.parts[0].hdr, "Content-Transfer-Encoding", "quoted-printable");
	assert_qp_lines(m.parts[0].body);
	dec = qp_decode(m.parts[0].body);
	assert_non_null(strstr(dec, "<j\xc3\xb6rg+tag=1@b\xc3\xbc"
	                            "cher.de>:\r\n    550 unknown"));
	free(dec);
	dsn_free(&m);

	/* A UTF-8 sender: the To: field carries UTF-8 (RFC 6532). */
	in.to = "j\xc3\xb6rg@example.de";
	dsn_parse(&m, &in);
	assert_field(m.top, "To", "<j\xc3\xb6rg@example.de>");
	assert_true(is_7bit(m.raw + strlen(m.top)));
	dsn_free(&m);
}

static void test_dsn_hostile_addresses(void **state)
{
	(void)state;
	char longaddr[600];
	struct dsn_rcpt r[] = {
	    {"bob@example.net\r\nBcc: victim@example.com", "5.0.0", NULL},
	    {"bad\xff\xc0\xaf@example.net", "5.0.0", NULL},
	    {longaddr, "5.0.0", NULL},
	    {NULL, "5.0.0", NULL},
	};
	struct dsn_input in = input(r, 4, orig_ascii);
	struct dsn m;
	char *b;

	memset(longaddr, '+', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	memcpy(longaddr, "\xc3\xa9", 2);
	in.to = "alice@example.com>\r\nX-Injected: 1";
	dsn_parse(&m, &in);
	assert_int_equal(lines_starting(m.raw, "Bcc"), 0);
	assert_int_equal(lines_starting(m.raw, "X-Injected"), 0);
	assert_field(m.top, "To", "<alice@example.com>??X-Injected: 1>");
	b = rcpt_block(&m, 0);
	assert_field(b, "Final-Recipient", "rfc822; bob@example.net??Bcc: victim@example.com");
	free(b);
	b = rcpt_block(&m, 1);
	assert_field(b, "Final-Recipient", "rfc822; bad???@example.net");
	free(b);
	/* Cut, and the encoded form bounded (each '+' is \x{2B}). */
	b = rcpt_block(&m, 2);
	{
		char *v = field(b, "Final-Recipient");
		assert_true(strncmp(v, "utf-8; \\x{E9}\\x{2B}", 19) == 0);
		assert_true(strlen(v) <= 7 + 900);
		free(v);
	}
	free(b);
	b = rcpt_block(&m, 3);
	assert_field(b, "Final-Recipient", "rfc822; ");
	free(b);
	dsn_free(&m);
}

static void test_dsn_original_variants(void **state)
{
	(void)state;
	struct dsn_rcpt r[] = {{"bob@example.net", "5.0.0", NULL}};
	struct dsn_input in = input(r, 1, NULL);
	struct dsn m;
	char *big;
	size_t bl = DSN_HEADERS_MAX + 5000, o = 0;

	/* No original at all: an empty header part. */
	dsn_parse(&m, &in);
	assert_string_equal(m.parts[2].body, "");
	dsn_free(&m);

	/* LF only, no body separator, no final newline. */
	in.orig = "A: 1\nB: 2";
	in.orig_len = 9;
	dsn_parse(&m, &in);
	assert_string_equal(m.parts[2].body, "A: 1\r\nB: 2\r\n");
	dsn_free(&m);

	/* Starts with the empty line: no header. */
	in.orig = "\r\nbody";
	in.orig_len = 6;
	dsn_parse(&m, &in);
	assert_string_equal(m.parts[2].body, "");
	dsn_free(&m);

	/* Only @orig_len octets are looked at. */
	in.orig = "A: 1\r\nB: 2\r\n\r\n";
	in.orig_len = 6;
	dsn_parse(&m, &in);
	assert_string_equal(m.parts[2].body, "A: 1\r\n");
	dsn_free(&m);

	/* A huge header is cut on a line end. */
	big = malloc(bl + 1);
	assert_non_null(big);
	while (o + 100 < bl) {
		memcpy(big + o, "X-Fill: ", 8);
		memset(big + o + 8, 'f', 90);
		memcpy(big + o + 98, "\r\n", 2);
		o += 100;
	}
	memcpy(big + o, "\r\nbody", 6);
	o += 6;
	in.orig = big;
	in.orig_len = o;
	dsn_parse(&m, &in);
	assert_true(strlen(m.parts[2].body) <= DSN_HEADERS_MAX);
	assert_true(strlen(m.parts[2].body) > DSN_HEADERS_MAX - 100);
	assert_int_equal(strlen(m.parts[2].body) % 100, 0);
	dsn_free(&m);
	free(big);
}

static void test_dsn_status(void **state)
{
	(void)state;
	struct dsn_rcpt r[] = {
	    {"a@example.net", NULL, NULL},       {"b@example.net", "2.0.0", NULL},
	    {"c@example.net", "5.1234.1", NULL}, {"d@example.net", "5.1.", NULL},
	    {"e@example.net", "4.4.7", NULL},    {"f@example.net", "5.7.1\r\nX: y", NULL},
	    {"g@example.net", "5.3.4", NULL},
	};
	static const char *const want[] = {"5.0.0", "5.0.0", "5.0.0", "5.0.0",
	                                   "4.4.7", "5.0.0", "5.3.4"};
	struct dsn_input in = input(r, 7, NULL);
	struct dsn m;

	dsn_parse(&m, &in);
	for (int i = 0; i < 7; i++) {
		char *b = rcpt_block(&m, i);
		assert_field(b, "Status", want[i]);
		free(b);
	}
	dsn_free(&m);

	assert_string_equal(dsn_status_for("MessageRejected"), "5.7.1");
	assert_string_equal(dsn_status_for("MailFromDomainNotVerifiedException"), "5.7.1");
	assert_string_equal(dsn_status_for("AccessDeniedException"), "5.7.1");
	assert_string_equal(dsn_status_for("AccessDenied"), "5.7.1");
	assert_string_equal(dsn_status_for("AccountSuspendedException"), "5.7.1");
	assert_string_equal(dsn_status_for("SendingPausedException"), "5.7.1");
	assert_string_equal(dsn_status_for("NotFoundException"), "5.3.5");
	assert_string_equal(dsn_status_for("TooManyRequestsException"), "5.4.7");
	assert_string_equal(dsn_status_for("Throttling"), "5.4.7");
	assert_string_equal(dsn_status_for("ExpiredToken"), "5.4.7");
	assert_string_equal(dsn_status_for("InternalServiceErrorException"), "5.4.7");
	assert_string_equal(dsn_status_for("SignatureDoesNotMatch"), "5.4.7");
	assert_string_equal(dsn_status_for("BadRequestException"), "5.0.0");
	assert_string_equal(dsn_status_for("LimitExceededException"), "5.0.0");
	assert_string_equal(dsn_status_for("SomethingNew"), "5.0.0");
	assert_string_equal(dsn_status_for(""), "5.0.0");
	assert_string_equal(dsn_status_for(NULL), "5.0.0");
}

static void test_dsn_message_id_distinct(void **state)
{
	(void)state;
	struct dsn_rcpt r1[] = {{"bob@example.net", "5.0.0", NULL}};
	struct dsn_rcpt r2[] = {{"carol@example.net", "5.0.0", NULL}};
	struct dsn_input in = input(r1, 1, NULL);
	struct dsn m;
	char *a, *b, *c;

	in.msgid_domain = "bounces.example";
	dsn_parse(&m, &in);
	a = field(m.top, "Message-ID");
	dsn_free(&m);
	in.rcpts = r2;
	dsn_parse(&m, &in);
	b = field(m.top, "Message-ID");
	dsn_free(&m);
	in.now++;
	dsn_parse(&m, &in);
	c = field(m.top, "Message-ID");
	assert_field(m.top, "Date", "Sat, 29 Nov 2025 05:20:01 +0000");
	dsn_free(&m);
	assert_non_null(strstr(a, "@bounces.example>"));
	assert_string_not_equal(a, b);
	assert_string_not_equal(b, c);
	free(a);
	free(b);
	free(c);
}

static void test_dsn_refused(void **state)
{
	(void)state;
	struct dsn_rcpt r[] = {{"bob@example.net", "5.0.0", NULL}};
	struct dsn_input in = input(r, 1, NULL);
	size_t len;
	char *d;

	assert_null(dsn_build(NULL, &len));
	in.nrcpt = 0;
	assert_null(dsn_build(&in, &len));
	in.nrcpt = 1;
	in.to = "";
	assert_null(dsn_build(&in, &len));
	in.to = "<>";
	assert_null(dsn_build(&in, &len));
	in.to = NULL;
	assert_null(dsn_build(&in, &len));
	in.to = "alice@example.com";
	in.from = NULL;
	assert_null(dsn_build(&in, &len));
	in.from = "MAILER-DAEMON@x";
	in.reporting_mta = " \r\n";
	assert_null(dsn_build(&in, &len));
	in.reporting_mta = "mx";
	in.qid = NULL;
	assert_null(dsn_build(&in, &len));
	in.qid = QID;
	in.rcpts = NULL;
	assert_null(dsn_build(&in, &len));
	in.rcpts = r;
	d = dsn_build(&in, NULL);
	assert_non_null(d);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dsn_structure),
	    cmocka_unit_test(test_dsn_hostile_diag),
	    cmocka_unit_test(test_dsn_long_diag),
	    cmocka_unit_test(test_dsn_boundary_in_original),
	    cmocka_unit_test(test_dsn_8bit_headers),
	    cmocka_unit_test(test_dsn_utf8_addresses),
	    cmocka_unit_test(test_dsn_hostile_addresses),
	    cmocka_unit_test(test_dsn_original_variants),
	    cmocka_unit_test(test_dsn_status),
	    cmocka_unit_test(test_dsn_message_id_distinct),
	    cmocka_unit_test(test_dsn_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
