/*
 * fuzz_smtp_parse.c - libFuzzer target for the pure SMTP parsers: the first
 * octet picks a parser, the rest is its input.  Every parser must accept any
 * octets without reading or writing out of bounds; the DATA scanner must
 * give the same output fed whole or byte by byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "base64.h"
#include "smtp_parse.h"


static void scan_both_ways(const char *in, size_t len, int dot)
{
	struct smtp_scan a, b;
	char *outa = malloc(len + 1), *outb = malloc(len + 1);
	size_t la = 0, lb = 0, used_a, used_b = 0;
	if (!outa || !outb)
		abort();
	smtp_scan_init(&a, dot, 1000);
	used_a = smtp_scan_feed(&a, in, len, outa, &la);
	smtp_scan_init(&b, dot, 1000);
	for (size_t i = 0; i < len && !b.done; i++) {
		size_t n = 0;
		used_b += smtp_scan_feed(&b, in + i, 1, outb + lb, &n);
		lb += n;
	}
	/* Until the end marker the scanner may hold back one octet (a CR after a
	 * leading dot) for the next feed, so a stream cut short may differ by
	 * that octet; a finished one must be identical. */
	if (used_a > len || la > len || used_a != used_b || a.done != b.done ||
	    a.flags != b.flags || lb > la || la - lb > (a.done ? 0u : 1u) ||
	    memcmp(outa, outb, lb) != 0)
		abort();
	free(outa);
	free(outb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	const char *arg;
	size_t arglen;
	switch (data[0] % 10) {
	case 0: {
		smtp_parse_verb(in, len, &arg, &arglen);
		if (arglen > len)
			abort();
		break;
	}
	case 1: {
		struct smtp_mail_args m;
		if (smtp_parse_mail(in, len, &m) == SMTP_PARSE_OK &&
		    (m.addrlen > SMTP_MAX_PATH || strlen(m.addr) != m.addrlen))
			abort();
		break;
	}
	case 2: {
		struct smtp_rcpt_args r;
		if (smtp_parse_rcpt(in, len, len & 1, &r) == SMTP_PARSE_OK &&
		    (r.addrlen == 0 || strlen(r.addr) != r.addrlen))
			abort();
		break;
	}
	case 3: {
		char user[256], pw[256];
		smtp_auth_plain_decode(in, len, user, pw, sizeof(user));
		smtp_auth_login_decode(in, len, user, sizeof(user));
		const char *ir;
		size_t irlen;
		smtp_parse_auth(in, len, &ir, &irlen);
		break;
	}
	case 4:
		scan_both_ways(in, len, 1);
		break;
	case 5:
		scan_both_ways(in, len, 0);
		break;
	case 6: {
		char doms[8][SMTP_MAX_DOMAIN + 1];
		int n = smtp_header_from_domains(in, len, doms, 8);
		for (int i = 0; i < n && i < 8; i++)
			if (strlen(doms[i]) > SMTP_MAX_DOMAIN)
				abort();
		break;
	}
	case 7: {
		uint64_t sz;
		int last;
		smtp_parse_bdat(in, len, &sz, &last);
		smtp_parse_helo(in, len);
		break;
	}
	case 8: {
		unsigned char out[4096];
		base64_decode(in, len, out, sizeof(out));
		break;
	}
	default:
		smtp_utf8_valid(in, len);
		break;
	}
	return 0;
}
