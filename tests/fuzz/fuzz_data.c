/*
 * fuzz_data.c - libFuzzer target for message content: the DATA scanner
 * (dot-unstuffing, the <CRLF>.<CRLF> end marker, bare CR/LF, NUL and long
 * line flags) and BDAT chunking (smtp_parse_bdat plus the scanner in
 * verbatim mode), as smtp_session.c's process_data() and process_bdat() use
 * them.
 *
 * The octets arrive in pieces whose sizes the input chooses, as reads from
 * a socket would cut them; the result must be the same as when the stream
 * is fed in one piece.  DATA mode is also checked against a plain
 * reference implementation written from RFC 5321 4.5.2 and smtp_parse.h,
 * and every stream is finally terminated with <CRLF>.<CRLF>, which must end
 * it from any state and make both feedings agree octet for octet.
 *
 * Input: octet 0 mode (bit 0: 1 DATA, 0 BDAT) and max_line (bits 1-3);
 * octet 1 the number K of piece sizes (low 4 bits); K octets of piece sizes
 * (cycled); the rest is the stream.  No I/O; everything is freed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "smtp_parse.h"



/* What a feeding produced. */
struct result {
	char *out;
	size_t outlen;
	size_t used;
	int done;
	unsigned flags;
};

/* Piece sizes chosen by the input; 0 is a zero-length feed, then one octet. */
struct pieces {
	const uint8_t *sizes;
	size_t n, next;
};

static size_t piece_next(struct pieces *p, int *zero)
{
	*zero = 0;
	if (p->n == 0)
		return SIZE_MAX;
	uint8_t b = p->sizes[p->next++ % p->n];
	if (b == 0) {
		*zero = 1;
		return 1;
	}
	return b < 200 ? b : (size_t)(b - 199) * 64;
}

/* ------------------------------------------------------------------ */
/* DATA */

/*
 * The reference: unstuff IN in one pass, as RFC 5321 4.5.2 and
 * smtp_parse.h describe it.  A line starts at the stream's start and after
 * each CRLF; a dot there is dropped, and a dot followed by CRLF is the end
 * marker.  Octets whose fate the stream's end leaves open (a lone "." or
 * ".\r" at the start of a line, a final CR) are held back or not yet judged
 * exactly as the scanner documents.
 */
static void ref_data(const char *in, size_t n, size_t max_line, struct result *r)
{
	size_t i = 0, line_len = 0, o = 0;
	int bol = 1, after_dot = 0;
	unsigned flags = 0;

#define GREW()                                                                                     \
	do {                                                                                       \
		if (max_line && line_len + 2 > max_line)                                           \
			flags |= SMTP_SCAN_LONG_LINE;                                              \
	} while (0)

	r->done = 0;
	while (i < n) {
		unsigned char c = (unsigned char)in[i];
		if (bol && c == '.') {
			line_len = 1;
			GREW();
			if (i + 2 < n && in[i + 1] == '\r' && in[i + 2] == '\n') {
				r->done = 1;
				i += 3;
				break;
			}
			bol = 0;
			after_dot = 1;
			i++;
			continue;
		}
		bol = 0;
		if (c == '\r') {
			if (i + 1 == n) {
				/* Undecided: a CR after a dropped dot is held back, any
				 * other is written but not yet judged. */
				if (!after_dot) {
					GREW();
					r->out[o++] = '\r';
				}
				i++;
				break;
			}
			if (in[i + 1] == '\n') {
				GREW();
				r->out[o++] = '\r';
				r->out[o++] = '\n';
				line_len = 0;
				bol = 1;
				after_dot = 0;
				i += 2;
				continue;
			}
			flags |= SMTP_SCAN_BARE_CR;
		} else if (c == '\n') {
			flags |= SMTP_SCAN_BARE_LF;
		} else {
			if (c == 0)
				flags |= SMTP_SCAN_NUL;
			if (c >= 0x80)
				flags |= SMTP_SCAN_8BIT;
		}
		after_dot = 0;
		line_len++;
		GREW();
		r->out[o++] = (char)c;
		i++;
	}
#undef GREW
	r->outlen = o;
	r->used = i;
	r->flags = flags;
}

/* Feed IN[0..N) to S in pieces (one piece when P is NULL), appending to R. */
static void feed(struct smtp_scan *s, const char *in, size_t n, struct pieces *p,
		 struct result *r)
{
	size_t pos = 0;
	while (pos < n && !s->done) {
		int zero = 0;
		size_t len = p ? piece_next(p, &zero) : SIZE_MAX;
		if (zero) {
			size_t ol = 7;
			CHECK(smtp_scan_feed(s, in + pos, 0, r->out + r->outlen, &ol) == 0 && ol == 0);
		}
		if (len > n - pos)
			len = n - pos;
		size_t outlen = SIZE_MAX;
		size_t used = smtp_scan_feed(s, in + pos, len, r->out + r->outlen, &outlen);
		/* OUT has room for LEN octets, and only the end marker stops early. */
		CHECK(used <= len && outlen <= len);
		CHECK(used == len || s->done);
		r->outlen += outlen;
		pos += used;
	}
	r->used += pos;
	r->done = s->done;
	r->flags = s->flags;
}

static void check_data(const char *in, size_t n, size_t max_line, struct pieces *p)
{
	static const char term[] = "\r\n.\r\n";
	struct smtp_scan sa, sb;
	struct result a = {0}, b = {0}, ref = {0};
	size_t cap = n + sizeof(term) + 8;

	a.out = malloc(cap);
	b.out = malloc(cap);
	ref.out = malloc(cap);
	CHECK(a.out && b.out && ref.out);

	smtp_scan_init(&sa, 1, max_line);
	smtp_scan_init(&sb, 1, max_line);
	CHECK(!sa.done && sa.flags == 0 && sa.dot == 1 && sa.max_line == max_line);
	feed(&sa, in, n, NULL, &a);
	feed(&sb, in, n, p, &b);
	ref_data(in, n, max_line, &ref);

	/* One piece is the reference. */
	CHECK(a.used == ref.used && a.done == ref.done && a.flags == ref.flags);
	CHECK(a.outlen == ref.outlen && memcmp(a.out, ref.out, a.outlen) == 0);
	/* Pieces: the same, except that one octet may still be owed. */
	CHECK(b.used == a.used && b.done == a.done && b.flags == a.flags);
	CHECK(b.outlen <= a.outlen && a.outlen - b.outlen <= (a.done ? 0u : 1u));
	CHECK(memcmp(a.out, b.out, b.outlen) == 0);
	/* Everything after the end marker is left for the command parser. */
	CHECK(!a.done || a.used >= 3);

	/* The end marker ends any stream, and then both agree exactly. */
	if (!a.done) {
		size_t ua = a.used;
		feed(&sa, term, sizeof(term) - 1, NULL, &a);
		feed(&sb, term, sizeof(term) - 1, p, &b);
		CHECK(a.done && b.done && a.used == b.used && a.used - ua >= 2);
		CHECK(a.outlen == b.outlen && memcmp(a.out, b.out, a.outlen) == 0);
		CHECK(a.flags == b.flags);
		/* Whatever was held back is now out: dots and the marker only. */
		CHECK(a.outlen <= a.used - 3);
	}
	/* Done means done: further feeds take nothing. */
	size_t ol = 1;
	CHECK(smtp_scan_feed(&sa, "x", 1, a.out, &ol) == 0 && ol == 0);

	free(a.out);
	free(b.out);
	free(ref.out);
}

/* ------------------------------------------------------------------ */
/* BDAT */

/*
 * A stream of "BDAT <size>[ LAST]" commands, each followed by its chunk, as
 * process_bdat() takes it: the chunk octets go through the scanner in
 * verbatim mode, in pieces, and must come out unchanged; the flags over all
 * chunks must equal those of their concatenation scanned at once.
 */
static void check_bdat(const char *in, size_t n, size_t max_line, struct pieces *p)
{
	struct smtp_scan s, whole;
	char *all = malloc(n + 1), *out = malloc(n + 1);
	size_t alllen = 0, pos = 0;
	CHECK(all && out);

	smtp_scan_init(&s, 0, max_line);
	while (pos < n) {
		const char *nl = memchr(in + pos, '\n', n - pos);
		if (!nl)
			break;
		size_t llen = (size_t)(nl - (in + pos)) + 1;
		if (llen < 2 || nl[-1] != '\r')
			break;
		const char *arg;
		size_t arglen;
		enum smtp_cmd cmd = smtp_parse_verb(in + pos, llen - 2, &arg, &arglen);
		pos += llen;
		if (cmd != SMTP_CMD_BDAT)
			break;
		uint64_t chunk;
		int last;
		if (smtp_parse_bdat(arg, arglen, &chunk, &last) < 0) {
			CHECK(chunk == 0 && last == 0);
			break;
		}
		/* What was parsed prints back to something that parses the same. */
		char again[64];
		uint64_t c2;
		int l2;
		int k = snprintf(again, sizeof(again), "%llu%s", (unsigned long long)chunk,
				 last ? " LAST" : "");
		CHECK(k > 0 && (size_t)k < sizeof(again));
		CHECK(smtp_parse_bdat(again, (size_t)k, &c2, &l2) == 0 && c2 == chunk && l2 == last);
		CHECK(chunk <= UINT64_MAX / 2);

		uint64_t left = chunk;
		while (left > 0 && pos < n) {
			int zero = 0;
			size_t len = piece_next(p, &zero);
			if (zero) {
				size_t ol = 3;
				CHECK(smtp_scan_feed(&s, in + pos, 0, out, &ol) == 0 && ol == 0);
			}
			if (len > n - pos)
				len = n - pos;
			if (len > left)
				len = (size_t)left;
			size_t outlen = 0;
			size_t used = smtp_scan_feed(&s, in + pos, len, out, &outlen);
			CHECK(used == len && outlen == len && !s.done);
			CHECK(memcmp(out, in + pos, len) == 0);
			memcpy(all + alllen, in + pos, len);
			alllen += len;
			pos += len;
			left -= len;
		}
		if (left > 0 || last)
			break;
	}

	size_t outlen = 0;
	smtp_scan_init(&whole, 0, max_line);
	size_t used = smtp_scan_feed(&whole, all, alllen, out, &outlen);
	CHECK(used == alllen && outlen == alllen && memcmp(out, all, alllen) == 0);
	CHECK(whole.flags == s.flags && !whole.done && !s.done);
	free(all);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* 0 (no limit), tiny ones that even the end marker's line exceeds,
	 * RFC 5321's 1000, and config.c's own minimum and more. */
	static const size_t max_lines[] = {0, 1, 2, 3, 10, 78, 1000, 2000};
	if (size < 2)
		return 0;
	int dot = data[0] & 1;
	size_t max_line = max_lines[(data[0] >> 1) & 7];
	size_t k = data[1] & 15;
	if (size < 2 + k)
		return 0;
	struct pieces p = {data + 2, k, 0};
	const char *in = (const char *)data + 2 + k;
	size_t n = size - 2 - k;
	if (dot)
		check_data(in, n, max_line, &p);
	else
		check_bdat(in, n, max_line, &p);
	return 0;
}
