/*
 * test_smtp_parse.c - unit tests for base64.c and smtp_parse.c: every parser
 * entry point, the DATA/BDAT scanner fed whole, byte by byte, split at every
 * point and in random chunks, and a deterministic random-input run.
 *
 * Must never depend on the network, the clock or an unseeded random source:
 * a failure has to reproduce exactly.  Scanner buffers are allocated at their
 * exact contract size so ASan catches a single octet written too far.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "smtp_parse.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* ------------------------------------------------------------------ */
/* helpers */

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
	rng_state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static uint64_t rng_next(void)
{
	/* xorshift64*: tiny, deterministic, good enough to pick chunk sizes. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t rng_below(size_t n)
{
	return n ? (size_t)(rng_next() % n) : 0;
}

/* ------------------------------------------------------------------ */
/* base64 */

static void test_base64_encode_vectors(void **state)
{
	static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const want[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                   "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	char out[32];

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		size_t n = strlen(in[i]);
		assert_int_equal(base64_encoded_len(n), strlen(want[i]));
		memset(out, 'X', sizeof(out));
		assert_int_equal(base64_encode(in[i], n, out), strlen(want[i]));
		assert_string_equal(out, want[i]);
	}
	assert_int_equal(base64_encoded_len(SIZE_MAX / 4), (SIZE_MAX / 4 + 2) / 3 * 4);
}

static void test_base64_decode_vectors(void **state)
{
	static const char *const in[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                 "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	static const char *const want[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	char out[16];

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		long n = base64_decode(in[i], strlen(in[i]), out, sizeof(out));
		assert_int_equal(n, (long)strlen(want[i]));
		assert_memory_equal(out, want[i], (size_t)n);
	}
}

static void test_base64_decode_strict(void **state)
{
	char out[16];

	assert_int_equal(base64_decode(S("Zg="), out, sizeof(out)), -1);  /* length */
	assert_int_equal(base64_decode(S("Zg"), out, sizeof(out)), -1);   /* unpadded */
	assert_int_equal(base64_decode(S("Zh=="), out, sizeof(out)), -1); /* trailing bits */
	assert_int_equal(base64_decode(S("Zm9="), out, sizeof(out)), -1); /* trailing bits */
	assert_int_equal(base64_decode(S("Z==="), out, sizeof(out)), -1);
	assert_int_equal(base64_decode(S("===="), out, sizeof(out)), -1);
	assert_int_equal(base64_decode(S("=Zg="), out, sizeof(out)), -1);
	assert_int_equal(base64_decode(S("Zg=a"), out, sizeof(out)), -1);
	assert_int_equal(base64_decode(S("Zg==Zg=="), out, sizeof(out)), -1); /* pad inside */
	assert_int_equal(base64_decode(S("Zm 9"), out, sizeof(out)), -1);
	assert_int_equal(base64_decode(S("Zm9v\r\n"), out, sizeof(out)), -1);
	assert_int_equal(base64_decode(S("Zm9-"), out, sizeof(out)), -1); /* url alphabet */
	assert_int_equal(base64_decode(S("Zm9_"), out, sizeof(out)), -1);
	assert_int_equal(base64_decode("Zm\0v", 4, out, sizeof(out)), -1);
	assert_int_equal(base64_decode(S("\xff\xff\xff\xff"), out, sizeof(out)), -1);
	/* capacity is exact */
	assert_int_equal(base64_decode(S("Zm9v"), out, 2), -1);
	assert_int_equal(base64_decode(S("Zm9v"), out, 3), 3);
	assert_int_equal(base64_decode(S("Zm8="), out, 1), -1);
	assert_int_equal(base64_decode(S("Zm8="), out, 2), 2);
	assert_int_equal(base64_decode(S(""), NULL, 0), 0);
}

static void test_base64_roundtrip(void **state)
{
	unsigned char in[300], back[300];
	char enc[420];

	rng_seed(42);
	for (size_t len = 0; len < sizeof(in); len++) {
		for (size_t i = 0; i < len; i++)
			in[i] = (unsigned char)rng_next();
		size_t n = base64_encode(in, len, enc);
		assert_int_equal(n, base64_encoded_len(len));
		assert_int_equal(strlen(enc), n);
		assert_int_equal(base64_decode(enc, n, back, len), (long)len);
		assert_memory_equal(in, back, len);
	}
}

static void test_base64url(void **state)
{
	static const unsigned char in[] = {0xfb, 0xff, 0xbf};
	char out[16];

	assert_int_equal(base64_encode(in, 2, out), 4);
	assert_string_equal(out, "+/8=");
	assert_int_equal(base64url_encode(in, 2, out), 3);
	assert_string_equal(out, "-_8");
	assert_int_equal(base64url_encode(in, 3, out), 4);
	assert_string_equal(out, "-_-_");
	assert_int_equal(base64url_encode(in, 1, out), 2);
	assert_string_equal(out, "-w");
	assert_int_equal(base64url_encode(in, 0, out), 0);
	assert_string_equal(out, "");
}

/* ------------------------------------------------------------------ */
/* verbs */

static enum smtp_cmd verb(const char *line, const char **arg, size_t *arglen)
{
	return smtp_parse_verb(line, strlen(line), arg, arglen);
}

static void test_verb_basic(void **state)
{
	const char *arg;
	size_t n;

	for (int c = SMTP_CMD_UNKNOWN + 1; c < SMTP_CMD__COUNT; c++) {
		const char *name = smtp_cmd_name((enum smtp_cmd)c);
		char lower[16];
		size_t i;
		for (i = 0; name[i] && i < sizeof(lower) - 1; i++)
			lower[i] = (char)(name[i] | 0x20);
		lower[i] = '\0';
		assert_int_equal(verb(name, &arg, &n), c);
		assert_int_equal(n, 0);
		assert_int_equal(verb(lower, &arg, &n), c);
	}
	assert_string_equal(smtp_cmd_name(SMTP_CMD_UNKNOWN), "UNKNOWN");
	assert_string_equal(smtp_cmd_name(SMTP_CMD_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_cmd_name(SMTP_CMD__COUNT), "UNKNOWN");
	assert_string_equal(smtp_cmd_name((enum smtp_cmd) - 1), "UNKNOWN");
	assert_int_equal(verb("QuIt", &arg, &n), SMTP_CMD_QUIT);
	assert_int_equal(verb("sTaRtTlS", &arg, &n), SMTP_CMD_STARTTLS);
}

static void test_verb_args(void **state)
{
	const char *arg;
	size_t n;

	assert_int_equal(verb("QUIT ", &arg, &n), SMTP_CMD_QUIT);
	assert_int_equal(n, 0);
	assert_int_equal(verb("QUIT    ", &arg, &n), SMTP_CMD_QUIT);
	assert_int_equal(n, 0);
	assert_int_equal(verb("MAIL FROM:<a@b.c>  ", &arg, &n), SMTP_CMD_MAIL);
	assert_int_equal(n, 12);
	assert_memory_equal(arg, "FROM:<a@b.c>", 12);
	assert_int_equal(verb("mail FROM:<a@b.c> SIZE=1", &arg, &n), SMTP_CMD_MAIL);
	assert_int_equal(n, strlen("FROM:<a@b.c> SIZE=1"));
	assert_memory_equal(arg, "FROM:<a@b.c> SIZE=1", n);
	/* exactly one SP is the separator; more belongs to the argument */
	assert_int_equal(verb("EHLO  host", &arg, &n), SMTP_CMD_EHLO);
	assert_int_equal(n, 5);
	assert_memory_equal(arg, " host", 5);
	assert_int_equal(verb("MAIL", &arg, &n), SMTP_CMD_MAIL);
	assert_int_equal(n, 0);
	assert_non_null(arg);
	assert_int_equal(verb("AUTH PLAIN dGVzdA==", &arg, &n), SMTP_CMD_AUTH);
	assert_memory_equal(arg, "PLAIN dGVzdA==", n);
}

static void test_verb_unknown(void **state)
{
	const char *arg = NULL;
	size_t n = 99;

	assert_int_equal(verb("MAILX", &arg, &n), SMTP_CMD_UNKNOWN);
	assert_int_equal(n, 0);
	assert_non_null(arg);
	assert_int_equal(verb("MAILFROM:<a@b>", &arg, &n), SMTP_CMD_UNKNOWN);
	assert_int_equal(verb("MAI", &arg, &n), SMTP_CMD_UNKNOWN);
	assert_int_equal(verb("", &arg, &n), SMTP_CMD_UNKNOWN);
	assert_int_equal(verb(" QUIT", &arg, &n), SMTP_CMD_UNKNOWN);
	assert_int_equal(verb("QUIT\t", &arg, &n), SMTP_CMD_UNKNOWN);
	assert_int_equal(verb("DATA\r", &arg, &n), SMTP_CMD_UNKNOWN);
	assert_int_equal(verb("STARTTLSX", &arg, &n), SMTP_CMD_UNKNOWN);
	assert_int_equal(verb("GET / HTTP/1.1", &arg, &n), SMTP_CMD_UNKNOWN);
	assert_int_equal(smtp_parse_verb("QUIT\0", 5, &arg, &n), SMTP_CMD_UNKNOWN);
	/* the length, not a NUL, ends the line */
	assert_int_equal(smtp_parse_verb("QUITTER", 4, &arg, &n), SMTP_CMD_QUIT);
}

/* ------------------------------------------------------------------ */
/* MAIL / RCPT */

static enum smtp_parse_result mail(const char *arg, struct smtp_mail_args *m)
{
	return smtp_parse_mail(arg, strlen(arg), m);
}

static enum smtp_parse_result rcpt(const char *arg, int utf8, struct smtp_rcpt_args *r)
{
	return smtp_parse_rcpt(arg, strlen(arg), utf8, r);
}

static void test_mail_ok(void **state)
{
	struct smtp_mail_args m;

	assert_int_equal(mail("FROM:<alice@example.com>", &m), SMTP_PARSE_OK);
	assert_string_equal(m.addr, "alice@example.com");
	assert_int_equal(m.addrlen, 17);
	assert_string_equal(m.addr + m.domain_off, "example.com");
	assert_int_equal(m.has_size, 0);
	assert_int_equal(m.body, SMTP_BODY_NONE);
	assert_int_equal(m.smtputf8, 0);
	assert_int_equal(m.non_ascii, 0);

	assert_int_equal(mail("from:<a@b.c>", &m), SMTP_PARSE_OK);
	assert_string_equal(m.addr, "a@b.c");
	assert_int_equal(mail("FROM: <a@b.c>", &m), SMTP_PARSE_OK);
	assert_string_equal(m.addr, "a@b.c");
	assert_int_equal(mail("FROM:    <a@b.c>   ", &m), SMTP_PARSE_OK);
	assert_string_equal(m.addr, "a@b.c");
	assert_int_equal(mail("FROM:<first.last+tag@sub.example.co.uk>", &m), SMTP_PARSE_OK);
	assert_string_equal(m.addr + m.domain_off, "sub.example.co.uk");
	assert_int_equal(mail("FROM:<!#$%&'*+-/=?^_`{|}~@x-y.example>", &m), SMTP_PARSE_OK);
	assert_int_equal(mail("FROM:<a@localhost>", &m), SMTP_PARSE_OK);
	assert_int_equal(mail("FROM:<a@123.example>", &m), SMTP_PARSE_OK);
}

static void test_mail_null_path(void **state)
{
	struct smtp_mail_args m;

	assert_int_equal(mail("FROM:<>", &m), SMTP_PARSE_OK);
	assert_int_equal(m.addrlen, 0);
	assert_string_equal(m.addr, "");
	assert_int_equal(mail("FROM: <> SIZE=100", &m), SMTP_PARSE_OK);
	assert_int_equal(m.addrlen, 0);
	assert_int_equal(m.has_size, 1);
	assert_int_equal(m.size, 100);
	assert_int_equal(mail("FROM:< >", &m), SMTP_PARSE_BAD_ADDRESS);
}

static void test_mail_route_quoted_literal(void **state)
{
	struct smtp_mail_args m;

	assert_int_equal(mail("FROM:<@relay.example:u@d.example>", &m), SMTP_PARSE_OK);
	assert_string_equal(m.addr, "u@d.example");
	assert_string_equal(m.addr + m.domain_off, "d.example");
	assert_int_equal(mail("FROM:<@r1.example,@r2.example:u@d.example>", &m), SMTP_PARSE_OK);
	assert_string_equal(m.addr, "u@d.example");
	assert_int_equal(mail("FROM:<@r1.example,r2.example:u@d.example>", &m),
	                 SMTP_PARSE_BAD_ADDRESS);
	assert_int_equal(mail("FROM:<@r1.example:>", &m), SMTP_PARSE_BAD_ADDRESS);
	assert_int_equal(mail("FROM:<@:u@d.example>", &m), SMTP_PARSE_BAD_ADDRESS);
	assert_int_equal(mail("FROM:<@r1..example:u@d.example>", &m), SMTP_PARSE_BAD_ADDRESS);

	assert_int_equal(mail("FROM:<\"john doe\"@example.com>", &m), SMTP_PARSE_OK);
	assert_string_equal(m.addr, "\"john doe\"@example.com");
	assert_string_equal(m.addr + m.domain_off, "example.com");
	assert_int_equal(mail("FROM:<\"a>b@c\"@example.com> SIZE=1", &m), SMTP_PARSE_OK);
	assert_string_equal(m.addr, "\"a>b@c\"@example.com");
	assert_string_equal(m.addr + m.domain_off, "example.com");
	assert_int_equal(m.size, 1);
	assert_int_equal(mail("FROM:<\"a\\\"b\\\\\"@example.com>", &m), SMTP_PARSE_OK);
	assert_string_equal(m.addr + m.domain_off, "example.com");
	assert_int_equal(mail("FROM:<\"\"@example.com>", &m), SMTP_PARSE_OK);
	assert_int_equal(mail("FROM:<\"a\tb\"@example.com>", &m), SMTP_PARSE_BAD_ADDRESS);
	assert_int_equal(mail("FROM:<\"ab\"c@example.com>", &m), SMTP_PARSE_BAD_ADDRESS);
	assert_int_equal(mail("FROM:<\"ab@example.com>", &m), SMTP_PARSE_SYNTAX);

	static const char *const good[] = {
	    "FROM:<u@[192.0.2.1]>",
	    "FROM:<u@[0.0.0.0]>",
	    "FROM:<u@[255.255.255.255]>",
	    "FROM:<u@[IPv6:2001:db8::1]>",
	    "FROM:<u@[ipv6:2001:DB8::1]>",
	    "FROM:<u@[IPv6:::1]>",
	    "FROM:<u@[IPv6:::]>",
	    "FROM:<u@[IPv6:1::]>",
	    "FROM:<u@[IPv6:2001:db8:1:2:3:4:5:6]>",
	    "FROM:<u@[IPv6:1:2:3::4:5:6]>",
	    "FROM:<u@[IPv6:::ffff:192.0.2.1]>",
	    "FROM:<u@[IPv6:1:2:3:4:5:6:192.0.2.1]>",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(mail(good[i], &m), SMTP_PARSE_OK);
		assert_int_equal(m.addr[m.domain_off], '[');
	}
	static const char *const bad[] = {
	    "FROM:<u@[256.1.1.1]>",
	    "FROM:<u@[1.2.3]>",
	    "FROM:<u@[1.2.3.4.5]>",
	    "FROM:<u@[1.2.3.]>",
	    "FROM:<u@[1.2.3.1234]>",
	    "FROM:<u@[]>",
	    "FROM:<u@[IPv6:]>",
	    "FROM:<u@[IPv6:1:2:3:4:5:6:7]>",
	    "FROM:<u@[IPv6:1:2:3:4:5:6:7:8:9]>",
	    "FROM:<u@[IPv6:1::2::3]>",
	    "FROM:<u@[IPv6:12345::]>",
	    "FROM:<u@[IPv6::1]>",
	    "FROM:<u@[IPv6:1:]>",
	    "FROM:<u@[IPv6:::g]>",
	    "FROM:<u@[IPv6:1:2:3:4:5:6:7::]>",
	    "FROM:<u@[IPv6:1.2.3.4::]>",
	    "FROM:<u@[IPv6:1:2:3:4:5:6:7:1.2.3.4]>",
	    "FROM:<u@[x-tag:content]>",
	    "FROM:<u@[192.0.2.1>",
	    "FROM:<u@192.0.2.1]>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mail(bad[i], &m), SMTP_PARSE_BAD_ADDRESS);
}

static void test_mail_syntax(void **state)
{
	struct smtp_mail_args m;

	assert_int_equal(mail("", &m), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("FROM:", &m), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("FROM:a@b.c", &m), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("FROM:<a@b.c", &m), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("FROM:a@b.c>", &m), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("FROM <a@b.c>", &m), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("FROM :<a@b.c>", &m), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("FRM:<a@b.c>", &m), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("TO:<a@b.c>", &m), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail(" FROM:<a@b.c>", &m), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("FROM:<a@b.c>SIZE=1", &m), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("FROM:<a@b.c> -SIZE=1", &m), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("FROM:<a@b.c> SI_ZE=1", &m), SMTP_PARSE_SYNTAX);
	assert_int_equal(mail("FROM:<a@b.c> =1", &m), SMTP_PARSE_SYNTAX);
	assert_int_equal(smtp_parse_mail(NULL, 0, &m), SMTP_PARSE_SYNTAX);
}

static void test_mail_bad_address(void **state)
{
	struct smtp_mail_args m;
	static const char *const bad[] = {
	    "FROM:<a>",        "FROM:<a@>",      "FROM:<@b.c>",         "FROM:<a@b@c.d>",
	    "FROM:<a..b@c.d>", "FROM:<.a@c.d>",  "FROM:<a.@c.d>",       "FROM:<a b@c.d>",
	    "FROM:<a@b..c>",   "FROM:<a@.b.c>",  "FROM:<a@b.c.>",       "FROM:<a@-b.c>",
	    "FROM:<a@b-.c>",   "FROM:<a@b_c.d>", "FROM:<a@b c.d>",      "FROM:<a(x)@b.c>",
	    "FROM:<a<b@c.d>",  "FROM:<a,b@c.d>", "FROM:<a:b@c.d>",      "FROM:<a\\b@c.d>",
	    "FROM:<<a@b.c>>",  "FROM:<a@b.c\r>", "FROM:<\x01@b.c>",     "FROM:<a@b.c\x7f>",
	    "FROM:<a@b.c >",   "FROM:< a@b.c>",  "FROM:<a@[1.2.3.4]x>",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum smtp_parse_result r = mail(bad[i], &m);
		if (r != SMTP_PARSE_BAD_ADDRESS)
			fail_msg("%s: got %d", bad[i], r);
	}
	assert_int_equal(smtp_parse_mail("FROM:<a\0@b.c>", 13, &m), SMTP_PARSE_BAD_ADDRESS);
	assert_int_equal(mail("FROM:<a-b@x-1.b2.c>", &m), SMTP_PARSE_OK);
}

static void test_mail_too_long(void **state)
{
	struct smtp_mail_args m;
	char buf[1024], local[100], dom[300];

	memset(local, 'l', 64);
	local[64] = '\0';
	snprintf(buf, sizeof(buf), "FROM:<%s@example.com>", local);
	assert_int_equal(mail(buf, &m), SMTP_PARSE_OK);
	assert_int_equal(m.domain_off, 65);
	snprintf(buf, sizeof(buf), "FROM:<%sl@example.com>", local);
	assert_int_equal(mail(buf, &m), SMTP_PARSE_TOO_LONG);

	/* quoted local part: the 64 octets include the quotes */
	memset(local, 'q', 62);
	local[62] = '\0';
	snprintf(buf, sizeof(buf), "FROM:<\"%s\"@example.com>", local);
	assert_int_equal(mail(buf, &m), SMTP_PARSE_OK);
	snprintf(buf, sizeof(buf), "FROM:<\"%sq\"@example.com>", local);
	assert_int_equal(mail(buf, &m), SMTP_PARSE_TOO_LONG);

	/* a label of 63 is fine, 64 is not */
	memset(dom, 'd', 63);
	strcpy(dom + 63, ".com");
	snprintf(buf, sizeof(buf), "FROM:<a@%s>", dom);
	assert_int_equal(mail(buf, &m), SMTP_PARSE_OK);
	memset(dom, 'd', 64);
	strcpy(dom + 64, ".com");
	snprintf(buf, sizeof(buf), "FROM:<a@%s>", dom);
	assert_int_equal(mail(buf, &m), SMTP_PARSE_TOO_LONG);

	/* domain of exactly 255 = 4 labels of 63 + 3 dots; then 257 */
	size_t n = 0;
	for (int l = 0; l < 4; l++) {
		if (l)
			dom[n++] = '.';
		memset(dom + n, 'a' + l, 63);
		n += 63;
	}
	dom[n] = '\0';
	assert_int_equal(strlen(dom), 255);
	snprintf(buf, sizeof(buf), "FROM:<a@%s>", dom);
	/* 1 + 1 + 255 = 257 octets of address: over the path limit */
	assert_int_equal(mail(buf, &m), SMTP_PARSE_TOO_LONG);
	snprintf(buf, sizeof(buf), "FROM:<a@%s.b>", dom);
	assert_int_equal(mail(buf, &m), SMTP_PARSE_TOO_LONG);

	/* address of exactly 256 octets: 64 + 1 + 191, and 257 */
	memset(local, 'l', 64);
	local[64] = '\0';
	n = 0;
	memset(dom, 'x', 63);
	dom[63] = '.';
	memset(dom + 64, 'y', 63);
	dom[127] = '.';
	memset(dom + 128, 'z', 63);
	dom[191] = '\0';
	snprintf(buf, sizeof(buf), "FROM:<%s@%s>", local, dom);
	assert_int_equal(mail(buf, &m), SMTP_PARSE_OK);
	assert_int_equal(m.addrlen, 256);
	assert_int_equal(strlen(m.addr), 256);
	assert_string_equal(m.addr + m.domain_off, dom);
	snprintf(buf, sizeof(buf), "FROM:<%s@%s.z>", local, dom);
	assert_int_equal(mail(buf, &m), SMTP_PARSE_TOO_LONG);

	/* a source route does not count towards the address */
	char route[200];
	for (size_t i = 0; i < 150; i++)
		route[i] = i % 10 == 9 ? '.' : 'r';
	route[149] = 'r';
	route[150] = '\0';
	char *big = malloc(1024);
	assert_non_null(big);
	snprintf(big, 1024, "FROM:<@%s,@%s:%s@%s>", route, route, local, dom);
	assert_int_equal(mail(big, &m), SMTP_PARSE_OK);
	assert_int_equal(m.addrlen, 256);
	assert_string_equal(m.addr + m.domain_off, dom);
	memset(route, 'r', 150); /* one 150-octet label: not a domain */
	snprintf(big, 1024, "FROM:<@%s:%s@%s>", route, local, dom);
	assert_int_equal(mail(big, &m), SMTP_PARSE_BAD_ADDRESS);
	free(big);
}

static void test_mail_params(void **state)
{
	struct smtp_mail_args m;

	assert_int_equal(mail("FROM:<a@b.c> SIZE=1000", &m), SMTP_PARSE_OK);
	assert_int_equal(m.has_size, 1);
	assert_int_equal(m.size, 1000);
	assert_int_equal(mail("FROM:<a@b.c> size=0", &m), SMTP_PARSE_OK);
	assert_int_equal(m.has_size, 1);
	assert_int_equal(m.size, 0);
	assert_int_equal(mail("FROM:<a@b.c> SIZE=18446744073709551615", &m), SMTP_PARSE_OK);
	assert_true(m.size == UINT64_MAX);
	assert_int_equal(mail("FROM:<a@b.c> SIZE=000000000000000000000000042", &m), SMTP_PARSE_OK);
	assert_int_equal(m.size, 42);
	assert_int_equal(mail("FROM:<a@b.c> SIZE=18446744073709551616", &m), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> SIZE=99999999999999999999999", &m),
	                 SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> SIZE=abc", &m), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> SIZE=12a", &m), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> SIZE=-1", &m), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> SIZE=", &m), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> SIZE", &m), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> SIZE=1=2", &m), SMTP_PARSE_BAD_PARAM);

	assert_int_equal(mail("FROM:<a@b.c> BODY=8BITMIME", &m), SMTP_PARSE_OK);
	assert_int_equal(m.body, SMTP_BODY_8BITMIME);
	assert_int_equal(mail("FROM:<a@b.c> body=7bit", &m), SMTP_PARSE_OK);
	assert_int_equal(m.body, SMTP_BODY_7BIT);
	assert_int_equal(mail("FROM:<a@b.c> Body=8bitMime", &m), SMTP_PARSE_OK);
	assert_int_equal(m.body, SMTP_BODY_8BITMIME);
	assert_int_equal(mail("FROM:<a@b.c> BODY=bad", &m), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> BODY=BINARYMIME", &m), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> BODY=", &m), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> BODY", &m), SMTP_PARSE_BAD_PARAM);

	assert_int_equal(mail("FROM:<a@b.c> SMTPUTF8", &m), SMTP_PARSE_OK);
	assert_int_equal(m.smtputf8, 1);
	assert_int_equal(m.non_ascii, 0);
	assert_int_equal(mail("FROM:<a@b.c> smtputf8", &m), SMTP_PARSE_OK);
	assert_int_equal(mail("FROM:<a@b.c> SMTPUTF8=yes", &m), SMTP_PARSE_BAD_PARAM);

	assert_int_equal(mail("FROM:<a@b.c> AUTH=<>", &m), SMTP_PARSE_OK);
	assert_int_equal(mail("FROM:<a@b.c> AUTH=e+3Dmc2@example.com", &m), SMTP_PARSE_OK);
	assert_int_equal(mail("FROM:<a@b.c> AUTH=", &m), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> AUTH", &m), SMTP_PARSE_BAD_PARAM);

	assert_int_equal(mail("FROM:<a@b.c>   SIZE=5   BODY=7BIT  SMTPUTF8 AUTH=<>  ", &m),
	                 SMTP_PARSE_OK);
	assert_int_equal(m.size, 5);
	assert_int_equal(m.body, SMTP_BODY_7BIT);
	assert_int_equal(m.smtputf8, 1);

	assert_int_equal(mail("FROM:<a@b.c> FOO=bar", &m), SMTP_PARSE_UNKNOWN_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> RET=HDRS", &m), SMTP_PARSE_UNKNOWN_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> ENVID=x", &m), SMTP_PARSE_UNKNOWN_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> SIZE=1 XFOO", &m), SMTP_PARSE_UNKNOWN_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> SIZES=1", &m), SMTP_PARSE_UNKNOWN_PARAM);

	assert_int_equal(mail("FROM:<a@b.c> SIZE=1 SIZE=2", &m), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> size=1 SIZE=1", &m), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> BODY=7BIT BODY=8BITMIME", &m), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> SMTPUTF8 SMTPUTF8", &m), SMTP_PARSE_BAD_PARAM);
	assert_int_equal(mail("FROM:<a@b.c> AUTH=<> AUTH=<>", &m), SMTP_PARSE_BAD_PARAM);
}

static void test_mail_utf8(void **state)
{
	struct smtp_mail_args m;

	assert_int_equal(
	    mail("FROM:<\xce\xb4\xce\xbf\xce\xba@\xcf\x80\xce\xb1.example> SMTPUTF8", &m),
	    SMTP_PARSE_OK);
	assert_int_equal(m.non_ascii, 1);
	assert_int_equal(m.smtputf8, 1);
	assert_string_equal(m.addr + m.domain_off, "\xcf\x80\xce\xb1.example");
	assert_int_equal(mail("FROM:<\xe7\x94\xa8\xe6\x88\xb7@example.com> SMTPUTF8", &m),
	                 SMTP_PARSE_OK);
	assert_int_equal(mail("FROM:<\"\xc3\xa9 x\"@example.com> SMTPUTF8", &m), SMTP_PARSE_OK);
	assert_int_equal(m.non_ascii, 1);
	assert_int_equal(mail("FROM:<a@b.c> SMTPUTF8", &m), SMTP_PARSE_OK);
	assert_int_equal(m.non_ascii, 0);

	/* non-ASCII without SMTPUTF8, valid or not */
	assert_int_equal(mail("FROM:<\xc3\xa9@example.com>", &m), SMTP_PARSE_NEED_UTF8);
	assert_int_equal(mail("FROM:<a@\xc3\xa9.example>", &m), SMTP_PARSE_NEED_UTF8);
	assert_int_equal(mail("FROM:<\xff@example.com>", &m), SMTP_PARSE_NEED_UTF8);
	assert_int_equal(mail("FROM:<\xc3\xa9@example.com> SIZE=1", &m), SMTP_PARSE_NEED_UTF8);

	/* SMTPUTF8 but not UTF-8 */
	assert_int_equal(mail("FROM:<\xff@example.com> SMTPUTF8", &m), SMTP_PARSE_BAD_UTF8);
	assert_int_equal(mail("FROM:<\xc0\xaf@example.com> SMTPUTF8", &m), SMTP_PARSE_BAD_UTF8);
	assert_int_equal(mail("FROM:<a@\xed\xa0\x80.example> SMTPUTF8", &m), SMTP_PARSE_BAD_UTF8);
	assert_int_equal(mail("FROM:<a\xc3@example.com> SMTPUTF8", &m), SMTP_PARSE_BAD_UTF8);
	/* still no UTF-8 inside an address literal */
	assert_int_equal(mail("FROM:<a@[\xc3\xa9]> SMTPUTF8", &m), SMTP_PARSE_BAD_ADDRESS);
}

static void test_rcpt(void **state)
{
	struct smtp_rcpt_args r;

	assert_int_equal(rcpt("TO:<bob@example.org>", 0, &r), SMTP_PARSE_OK);
	assert_string_equal(r.addr, "bob@example.org");
	assert_int_equal(r.addrlen, 15);
	assert_string_equal(r.addr + r.domain_off, "example.org");
	assert_int_equal(r.non_ascii, 0);
	assert_int_equal(rcpt("to: <bob@example.org>  ", 0, &r), SMTP_PARSE_OK);
	assert_int_equal(rcpt("TO:<@hop.example:bob@example.org>", 0, &r), SMTP_PARSE_OK);
	assert_string_equal(r.addr, "bob@example.org");
	assert_int_equal(rcpt("TO:<\"b o b\"@example.org>", 0, &r), SMTP_PARSE_OK);
	assert_int_equal(rcpt("TO:<bob@[IPv6:2001:db8::25]>", 0, &r), SMTP_PARSE_OK);

	assert_int_equal(rcpt("TO:<>", 0, &r), SMTP_PARSE_BAD_ADDRESS);
	assert_int_equal(rcpt("TO:<Postmaster>", 0, &r), SMTP_PARSE_BAD_ADDRESS);
	assert_int_equal(rcpt("TO:<a..b@c.d>", 0, &r), SMTP_PARSE_BAD_ADDRESS);
	assert_int_equal(rcpt("TO:bob@example.org", 0, &r), SMTP_PARSE_SYNTAX);
	assert_int_equal(rcpt("TO:<bob@example.org", 0, &r), SMTP_PARSE_SYNTAX);
	assert_int_equal(rcpt("FROM:<bob@example.org>", 0, &r), SMTP_PARSE_SYNTAX);
	assert_int_equal(rcpt("TO:<bob@example.org>x", 0, &r), SMTP_PARSE_SYNTAX);
	assert_int_equal(rcpt("", 0, &r), SMTP_PARSE_SYNTAX);

	assert_int_equal(rcpt("TO:<bob@example.org> NOTIFY=NEVER", 0, &r),
	                 SMTP_PARSE_UNKNOWN_PARAM);
	assert_int_equal(rcpt("TO:<bob@example.org> SIZE=1", 0, &r), SMTP_PARSE_UNKNOWN_PARAM);
	assert_int_equal(rcpt("TO:<bob@example.org> junk", 0, &r), SMTP_PARSE_UNKNOWN_PARAM);

	assert_int_equal(rcpt("TO:<\xc3\xa9@example.org>", 0, &r), SMTP_PARSE_NEED_UTF8);
	assert_int_equal(rcpt("TO:<\xc3\xa9@example.org>", 1, &r), SMTP_PARSE_OK);
	assert_int_equal(r.non_ascii, 1);
	assert_string_equal(r.addr, "\xc3\xa9@example.org");
	assert_int_equal(rcpt("TO:<\xc3@example.org>", 1, &r), SMTP_PARSE_BAD_UTF8);
	assert_int_equal(rcpt("TO:<\xc3@example.org>", 0, &r), SMTP_PARSE_NEED_UTF8);

	char buf[300], local[80];
	memset(local, 'x', 65);
	local[65] = '\0';
	snprintf(buf, sizeof(buf), "TO:<%s@example.org>", local);
	assert_int_equal(rcpt(buf, 0, &r), SMTP_PARSE_TOO_LONG);
}

static void test_helo(void **state)
{
	static const char *const good[] = {
	    "mail.example.com",   "localhost",       "a",
	    "x-1.example",        "[192.0.2.1]",     "[IPv6:::1]",
	    "[IPv6:2001:db8::1]", "my_host.example", "123",
	};
	static const char *const bad[] = {
	    "",       "a b",    "-a.com",       "a-.com",      "a..b",
	    "a.com.", ".a.com", "[1.2.3.4",     "[1.2.3.400]", "host\t",
	    "a@b",    "[x:y]",  "\xc3\xa9.com", "host;rm -rf", "<host>",
	};
	char big[300];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(smtp_parse_helo(good[i], strlen(good[i])), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (smtp_parse_helo(bad[i], strlen(bad[i])) != -1)
			fail_msg("accepted %s", bad[i]);
	assert_int_equal(smtp_parse_helo("host\0x", 6), -1);
	memset(big, 'a', sizeof(big));
	for (size_t i = 60; i < sizeof(big); i += 61)
		big[i] = '.';
	assert_int_equal(smtp_parse_helo(big, 255), 0);
	assert_int_equal(smtp_parse_helo(big, 256), -1);
	memset(big, 'a', 64);
	assert_int_equal(smtp_parse_helo(big, 64), -1);
	assert_int_equal(smtp_parse_helo(big, 63), 0);
}

/* ------------------------------------------------------------------ */
/* BDAT, AUTH */

static void test_bdat(void **state)
{
	uint64_t size;
	int last;

	assert_int_equal(smtp_parse_bdat(S("100"), &size, &last), 0);
	assert_int_equal(size, 100);
	assert_int_equal(last, 0);
	assert_int_equal(smtp_parse_bdat(S("100 LAST"), &size, &last), 0);
	assert_int_equal(size, 100);
	assert_int_equal(last, 1);
	assert_int_equal(smtp_parse_bdat(S("0 last"), &size, &last), 0);
	assert_int_equal(size, 0);
	assert_int_equal(last, 1);
	assert_int_equal(smtp_parse_bdat(S("7  Last  "), &size, &last), 0);
	assert_int_equal(size, 7);
	assert_int_equal(last, 1);
	assert_int_equal(smtp_parse_bdat(S("0007"), &size, &last), 0);
	assert_int_equal(size, 7);
	assert_int_equal(smtp_parse_bdat(S("9223372036854775807"), &size, &last), 0);
	assert_true(size == UINT64_MAX / 2);

	assert_int_equal(smtp_parse_bdat(S("9223372036854775808"), &size, &last), -1);
	assert_int_equal(smtp_parse_bdat(S("18446744073709551616"), &size, &last), -1);
	assert_int_equal(smtp_parse_bdat(S(""), &size, &last), -1);
	assert_int_equal(smtp_parse_bdat(S("   "), &size, &last), -1);
	assert_int_equal(smtp_parse_bdat(S("abc"), &size, &last), -1);
	assert_int_equal(smtp_parse_bdat(S("-1"), &size, &last), -1);
	assert_int_equal(smtp_parse_bdat(S("+1"), &size, &last), -1);
	assert_int_equal(smtp_parse_bdat(S(" 100"), &size, &last), -1);
	assert_int_equal(smtp_parse_bdat(S("100LAST"), &size, &last), -1);
	assert_int_equal(smtp_parse_bdat(S("100 FIRST"), &size, &last), -1);
	assert_int_equal(smtp_parse_bdat(S("100 LAST x"), &size, &last), -1);
	assert_int_equal(smtp_parse_bdat(S("100 LASTX"), &size, &last), -1);
	assert_int_equal(smtp_parse_bdat(S("1e3"), &size, &last), -1);
	assert_int_equal(smtp_parse_bdat(S("100\tLAST"), &size, &last), -1);
	assert_int_equal(last, 0);
}

static void test_auth_args(void **state)
{
	const char *ir;
	size_t n;

	assert_int_equal(smtp_parse_auth(S("PLAIN"), &ir, &n), SMTP_AUTH_PLAIN);
	assert_null(ir);
	assert_int_equal(n, 0);
	assert_int_equal(smtp_parse_auth(S("plain dGVzdA=="), &ir, &n), SMTP_AUTH_PLAIN);
	assert_non_null(ir);
	assert_int_equal(n, 8);
	assert_memory_equal(ir, "dGVzdA==", 8);
	assert_int_equal(smtp_parse_auth(S("PLAIN ="), &ir, &n), SMTP_AUTH_PLAIN);
	assert_int_equal(n, 1);
	assert_int_equal(ir[0], '=');
	assert_int_equal(smtp_parse_auth(S("Login"), &ir, &n), SMTP_AUTH_LOGIN);
	assert_null(ir);
	assert_int_equal(smtp_parse_auth(S("LOGIN dXNlcg=="), &ir, &n), SMTP_AUTH_LOGIN);
	assert_memory_equal(ir, "dXNlcg==", n);
	assert_int_equal(smtp_parse_auth(S("PLAIN   abc   "), &ir, &n), SMTP_AUTH_PLAIN);
	assert_int_equal(n, 3);
	assert_memory_equal(ir, "abc", 3);
	assert_int_equal(smtp_parse_auth(S("PLAIN "), &ir, &n), SMTP_AUTH_PLAIN);
	assert_null(ir);

	assert_int_equal(smtp_parse_auth(S("CRAM-MD5"), &ir, &n), SMTP_AUTH_UNKNOWN);
	assert_null(ir);
	assert_int_equal(smtp_parse_auth(S("CRAM-MD5 abc"), &ir, &n), SMTP_AUTH_UNKNOWN);
	assert_null(ir);
	assert_int_equal(smtp_parse_auth(S(""), &ir, &n), SMTP_AUTH_UNKNOWN);
	assert_int_equal(smtp_parse_auth(S("PLAINX"), &ir, &n), SMTP_AUTH_UNKNOWN);
	assert_int_equal(smtp_parse_auth(S("PLAI"), &ir, &n), SMTP_AUTH_UNKNOWN);
	assert_int_equal(smtp_parse_auth(S(" PLAIN"), &ir, &n), SMTP_AUTH_UNKNOWN);
}

/* Base64 of N raw octets, for building AUTH payloads with embedded NULs. */
static const char *b64(const void *raw, size_t n)
{
	static char buf[4096];
	assert_true(base64_encoded_len(n) < sizeof(buf));
	base64_encode(raw, n, buf);
	return buf;
}

static int plain(const void *raw, size_t n, char *user, char *pw, size_t cap)
{
	const char *e = b64(raw, n);
	return smtp_auth_plain_decode(e, strlen(e), user, pw, cap);
}

static void test_auth_plain(void **state)
{
	char user[64], pw[64];

	assert_int_equal(plain(S("\0alice\0s3cret"), user, pw, sizeof(user)), 0);
	assert_string_equal(user, "alice");
	assert_string_equal(pw, "s3cret");
	assert_int_equal(plain(S("alice\0alice\0s3cret"), user, pw, sizeof(user)), 0);
	assert_string_equal(user, "alice");
	assert_string_equal(pw, "s3cret");
	assert_int_equal(plain(S("\0al ice\0pass word \xc3\xa9"), user, pw, sizeof(user)), 0);
	assert_string_equal(pw, "pass word \xc3\xa9");

	/* proxy authorization is refused, also by case */
	assert_int_equal(plain(S("bob\0alice\0s3cret"), user, pw, sizeof(user)), -1);
	assert_int_equal(plain(S("Alice\0alice\0s3cret"), user, pw, sizeof(user)), -1);
	assert_int_equal(plain(S("alic\0alice\0s3cret"), user, pw, sizeof(user)), -1);
	/* empty fields */
	assert_int_equal(plain(S("\0\0s3cret"), user, pw, sizeof(user)), -1);
	assert_int_equal(plain(S("\0alice\0"), user, pw, sizeof(user)), -1);
	assert_int_equal(plain(S("\0\0"), user, pw, sizeof(user)), -1);
	assert_int_equal(plain(S(""), user, pw, sizeof(user)), -1);
	/* missing or extra separators: an embedded NUL */
	assert_int_equal(plain(S("alice"), user, pw, sizeof(user)), -1);
	assert_int_equal(plain(S("\0alice"), user, pw, sizeof(user)), -1);
	assert_int_equal(plain(S("\0alice\0s3\0cret"), user, pw, sizeof(user)), -1);
	assert_int_equal(plain(S("\0alice\0s3cret\0"), user, pw, sizeof(user)), -1);
	assert_string_equal(user, "");
	assert_string_equal(pw, "");

	/* malformed base64 */
	assert_int_equal(smtp_auth_plain_decode(S("AGFsaWNlAHMzY3JldA"), user, pw, 64), -1);
	assert_int_equal(smtp_auth_plain_decode(S("AGFsaWNlAHMzY3JldA=!"), user, pw, 64), -1);
	assert_int_equal(smtp_auth_plain_decode(S("="), user, pw, 64), -1);
	assert_int_equal(smtp_auth_plain_decode(S("*"), user, pw, 64), -1);
	assert_int_equal(smtp_auth_plain_decode(S(""), user, pw, 64), -1);
	assert_int_equal(smtp_auth_plain_decode(S("AGFsaWNlAHMzY3JldA=="), user, pw, 64), 0);
	assert_string_equal(user, "alice");
	assert_string_equal(pw, "s3cret");

	/* field lengths against CAP: CAP-1 octets fit, CAP do not */
	char raw[200];
	raw[0] = '\0';
	memset(raw + 1, 'u', 7);
	raw[8] = '\0';
	memset(raw + 9, 'p', 7);
	assert_int_equal(plain(raw, 16, user, pw, 8), 0);
	assert_string_equal(user, "uuuuuuu");
	assert_string_equal(pw, "ppppppp");
	assert_int_equal(plain(raw, 16, user, pw, 7), -1);
	assert_int_equal(plain(raw, 16, user, pw, 0), -1);

	/* far over any field size: refused without overflowing anything */
	char *huge = malloc(6000);
	assert_non_null(huge);
	memset(huge, 'A', 6000);
	assert_int_equal(smtp_auth_plain_decode(huge, 6000, user, pw, sizeof(user)), -1);
	free(huge);
}

static void test_auth_login(void **state)
{
	char out[16];

	assert_int_equal(smtp_auth_login_decode(S("dXNlcg=="), out, sizeof(out)), 4);
	assert_string_equal(out, "user");
	assert_int_equal(smtp_auth_login_decode(S("dXNlcg=="), out, 5), 4);
	assert_int_equal(smtp_auth_login_decode(S("dXNlcg=="), out, 4), -1);
	assert_int_equal(smtp_auth_login_decode(S("dXNlcg=="), out, 0), -1);
	assert_int_equal(smtp_auth_login_decode(S(""), out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(smtp_auth_login_decode(S("dXNlcg"), out, sizeof(out)), -1);
	assert_int_equal(smtp_auth_login_decode(S("dXN!cg=="), out, sizeof(out)), -1);
	assert_int_equal(smtp_auth_login_decode(S("dXNlcg==\r\n"), out, sizeof(out)), -1);
	const char *e = b64(S("us\0er"));
	assert_int_equal(smtp_auth_login_decode(e, strlen(e), out, sizeof(out)), -1);
	assert_string_equal(out, "");
	e = b64(S("p\xc3\xa4ss w0rd"));
	assert_int_equal(smtp_auth_login_decode(e, strlen(e), out, sizeof(out)), 10);
	assert_string_equal(out, "p\xc3\xa4ss w0rd");
}

/* ------------------------------------------------------------------ */
/* DATA / BDAT scanner */

#define SCAN_OUT_MAX 16384

struct scan_res {
	char out[SCAN_OUT_MAX];
	size_t outlen;
	size_t consumed;
	unsigned flags;
	int done;
};

/* Chunk-size policies. */
enum { CH_WHOLE, CH_BYTE, CH_RANDOM, CH_SPLIT };

struct chunker {
	int mode;
	size_t split; /* CH_SPLIT: size of the first feed */
	int fed;
};

static size_t chunk_next(struct chunker *c, size_t left)
{
	size_t n = left;
	switch (c->mode) {
	case CH_BYTE:
		n = 1;
		break;
	case CH_RANDOM:
		n = 1 + rng_below(rng_below(2) ? 8 : 64);
		break;
	case CH_SPLIT:
		if (c->fed == 0 && c->split > 0)
			n = c->split;
		break;
	}
	c->fed++;
	return n < left ? n : left;
}

/*
 * Feed IN through a scanner in the chunks C decides, like the session does:
 * stop at the first feed that does not consume everything.  Every feed gets
 * an input copy and an output buffer of exactly its own length.
 */
static void scan_run(int dot, size_t max_line, const char *in, size_t len, struct chunker *c,
                     struct scan_res *r)
{
	struct smtp_scan s;
	size_t off = 0;

	smtp_scan_init(&s, dot, max_line);
	r->outlen = 0;
	while (off < len) {
		size_t n = chunk_next(c, len - off);
		char *ib = malloc(n);
		char *ob = malloc(n);
		size_t ol = (size_t)-1;
		assert_non_null(ib);
		assert_non_null(ob);
		memcpy(ib, in + off, n);
		size_t used = smtp_scan_feed(&s, ib, n, ob, &ol);
		assert_true(used <= n);
		assert_true(ol <= n);
		assert_true(r->outlen + ol <= sizeof(r->out));
		memcpy(r->out + r->outlen, ob, ol);
		r->outlen += ol;
		free(ib);
		free(ob);
		off += used;
		if (used < n) {
			assert_true(s.done);
			break;
		}
		if (s.done)
			break;
	}
	r->consumed = off;
	r->flags = s.flags;
	r->done = s.done;
	if (s.done) {
		size_t ol = 1;
		char b[1];
		assert_int_equal(smtp_scan_feed(&s, "x", 1, b, &ol), 0);
		assert_int_equal(ol, 0);
	}
}

static struct scan_res *scan_whole(int dot, size_t max_line, const char *in, size_t len)
{
	static struct scan_res r;
	struct chunker c = {CH_WHOLE, 0, 0};
	scan_run(dot, max_line, in, len, &c, &r);
	return &r;
}

static void assert_same(const struct scan_res *a, const struct scan_res *b)
{
	assert_int_equal(a->consumed, b->consumed);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->done, b->done);
	assert_int_equal(a->outlen, b->outlen);
	assert_memory_equal(a->out, b->out, a->outlen);
}

/*
 * Chunked feeding must match feeding whole.  One exception, by design: an
 * unfinished DATA stream may still owe its last octet (".\r" + X split
 * across feeds); it is delivered by the next feed, and never past the end.
 */
static void assert_chunked_like_whole(const struct scan_res *w, const struct scan_res *c, int dot)
{
	if (w->done || !dot) {
		assert_same(w, c);
		return;
	}
	assert_int_equal(w->consumed, c->consumed);
	assert_int_equal(w->flags, c->flags);
	assert_int_equal(w->done, c->done);
	assert_true(c->outlen <= w->outlen && w->outlen - c->outlen <= 1);
	assert_memory_equal(w->out, c->out, c->outlen);
}

static void check_all_chunkings(int dot, size_t max_line, const char *in, size_t len, uint64_t seed)
{
	static struct scan_res w, c;
	struct chunker ch = {CH_WHOLE, 0, 0};

	scan_run(dot, max_line, in, len, &ch, &w);
	ch = (struct chunker){CH_BYTE, 0, 0};
	scan_run(dot, max_line, in, len, &ch, &c);
	assert_chunked_like_whole(&w, &c, dot);
	for (size_t split = 1; split < len; split++) {
		ch = (struct chunker){CH_SPLIT, split, 0};
		scan_run(dot, max_line, in, len, &ch, &c);
		assert_chunked_like_whole(&w, &c, dot);
	}
	rng_seed(seed);
	for (int k = 0; k < 20; k++) {
		ch = (struct chunker){CH_RANDOM, 0, 0};
		scan_run(dot, max_line, in, len, &ch, &c);
		assert_chunked_like_whole(&w, &c, dot);
	}
}

#define EXPECT_SCAN(dot, in, want_out, want_consumed, want_done, want_flags)                       \
	do {                                                                                       \
		struct scan_res *r_ = scan_whole(dot, 0, S(in));                                   \
		assert_int_equal(r_->consumed, want_consumed);                                     \
		assert_int_equal(r_->done, want_done);                                             \
		assert_int_equal(r_->flags, want_flags);                                           \
		assert_int_equal(r_->outlen, sizeof(want_out) - 1);                                \
		assert_memory_equal(r_->out, want_out, sizeof(want_out) - 1);                      \
		check_all_chunkings(dot, 0, S(in), 1);                                             \
	} while (0)

static void test_scan_end_marker(void **state)
{
	EXPECT_SCAN(1, "Hello\r\n.\r\n", "Hello\r\n", 10, 1, 0);
	EXPECT_SCAN(1, ".\r\n", "", 3, 1, 0);
	EXPECT_SCAN(1, ".\r\nQUIT\r\n", "", 3, 1, 0);
	EXPECT_SCAN(1, "a\r\n.\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n", "a\r\n", 6, 1, 0);
	EXPECT_SCAN(1, "a\r\n\r\n.\r\n", "a\r\n\r\n", 8, 1, 0);
	EXPECT_SCAN(1, "\r\n.\r\n", "\r\n", 5, 1, 0);
	/* no marker yet */
	EXPECT_SCAN(1, "a\r\n.\r", "a\r\n", 5, 0, 0);
	EXPECT_SCAN(1, "a\r\n.", "a\r\n", 4, 0, 0);
	EXPECT_SCAN(1, "a\r\n", "a\r\n", 3, 0, 0);
	EXPECT_SCAN(1, "a.\r\n", "a.\r\n", 4, 0, 0);
	EXPECT_SCAN(1, "a\r\n .\r\n", "a\r\n .\r\n", 7, 0, 0);
}

static void test_scan_not_markers(void **state)
{
	EXPECT_SCAN(1, "a\n.\nb", "a\n.\nb", 5, 0, SMTP_SCAN_BARE_LF);
	EXPECT_SCAN(1, "a\r.\rb", "a\r.\rb", 5, 0, SMTP_SCAN_BARE_CR);
	EXPECT_SCAN(1, "a\n.\r\nb", "a\n.\r\nb", 6, 0, SMTP_SCAN_BARE_LF);
	EXPECT_SCAN(1, "a\r.\r\nb", "a\r.\r\nb", 6, 0, SMTP_SCAN_BARE_CR);
	/* "\r\n.\n": the dot starts a real line, so it is removed; the LF is bare */
	EXPECT_SCAN(1, "a\r\n.\nb", "a\r\n\nb", 6, 0, SMTP_SCAN_BARE_LF);
	EXPECT_SCAN(1, "a\r\n.\rb", "a\r\n\rb", 6, 0, SMTP_SCAN_BARE_CR);
	EXPECT_SCAN(1, "a\r\n.\r\rb\r\n.\r\n", "a\r\n\r\rb\r\n", 12, 1, SMTP_SCAN_BARE_CR);
	EXPECT_SCAN(1, "\n.\n", "\n.\n", 3, 0, SMTP_SCAN_BARE_LF);
	EXPECT_SCAN(1, "\r.\r", "\r.\r", 3, 0, SMTP_SCAN_BARE_CR);
	/* the real marker still ends a message that had bare line ends */
	EXPECT_SCAN(1, "a\n.\nb\r\n.\r\nX", "a\n.\nb\r\n", 10, 1, SMTP_SCAN_BARE_LF);
}

static void test_scan_unstuff(void **state)
{
	EXPECT_SCAN(1, "..\r\n.\r\n", ".\r\n", 7, 1, 0);
	EXPECT_SCAN(1, "a\r\n..\r\n.\r\n", "a\r\n.\r\n", 10, 1, 0);
	EXPECT_SCAN(1, "a\r\n..b\r\n.\r\n", "a\r\n.b\r\n", 11, 1, 0);
	EXPECT_SCAN(1, "a\r\n...\r\n.\r\n", "a\r\n..\r\n", 11, 1, 0);
	/* RFC 5321 4.5.2: a leading dot is always deleted */
	EXPECT_SCAN(1, "a\r\n.b\r\n.\r\n", "a\r\nb\r\n", 10, 1, 0);
	EXPECT_SCAN(1, ".a\r\n.\r\n", "a\r\n", 7, 1, 0);
	EXPECT_SCAN(1, "x..y\r\n.\r\n", "x..y\r\n", 9, 1, 0);
	EXPECT_SCAN(1, "..\r\n..\r\n..\r\n.\r\n", ".\r\n.\r\n.\r\n", 15, 1, 0);
	/* BDAT mode leaves dots and markers alone */
	EXPECT_SCAN(0, "..\r\n.\r\nx", "..\r\n.\r\nx", 8, 0, 0);
	EXPECT_SCAN(0, ".\r\n", ".\r\n", 3, 0, 0);
}

static void test_scan_flags(void **state)
{
	EXPECT_SCAN(1, "a\0b\r\n.\r\n", "a\0b\r\n", 8, 1, SMTP_SCAN_NUL);
	EXPECT_SCAN(1, "\xc3\xa9\r\n.\r\n", "\xc3\xa9\r\n", 7, 1, SMTP_SCAN_8BIT);
	EXPECT_SCAN(1, "a\rb\r\n.\r\n", "a\rb\r\n", 8, 1, SMTP_SCAN_BARE_CR);
	EXPECT_SCAN(1, "a\nb\r\n.\r\n", "a\nb\r\n", 8, 1, SMTP_SCAN_BARE_LF);
	EXPECT_SCAN(1, "\r\r\n.\r\n", "\r\r\n", 6, 1, SMTP_SCAN_BARE_CR);
	EXPECT_SCAN(1, "\n\r\n.\r\n", "\n\r\n", 6, 1, SMTP_SCAN_BARE_LF);
	EXPECT_SCAN(0, "a\rb\nc\0\xff", "a\rb\nc\0\xff", 7, 0,
	            SMTP_SCAN_BARE_CR | SMTP_SCAN_BARE_LF | SMTP_SCAN_NUL | SMTP_SCAN_8BIT);
	EXPECT_SCAN(0, "ab\r\ncd\r\n", "ab\r\ncd\r\n", 8, 0, 0);
	/* a CR alone at the very end is not yet known to be bare */
	EXPECT_SCAN(0, "ab\r", "ab\r", 3, 0, 0);
	/* 8-bit detection in long runs, at every offset of the word loop */
	char buf[64];
	for (size_t pos = 0; pos < 40; pos++) {
		memset(buf, 'a', 40);
		buf[pos] = (char)0x80;
		memcpy(buf + 40, "\r\n.\r\n", 5);
		struct scan_res *r = scan_whole(1, 0, buf, 45);
		assert_int_equal(r->flags, SMTP_SCAN_8BIT);
		assert_int_equal(r->done, 1);
	}
}

static void test_scan_cr_across_feeds(void **state)
{
	struct smtp_scan s;
	char out[16];
	size_t ol;

	smtp_scan_init(&s, 1, 0);
	assert_int_equal(smtp_scan_feed(&s, "ab\r", 3, out, &ol), 3);
	assert_int_equal(ol, 3);
	assert_int_equal(s.flags, 0);
	assert_int_equal(smtp_scan_feed(&s, "\n.\r\nX", 5, out, &ol), 4);
	assert_int_equal(ol, 1);
	assert_int_equal(out[0], '\n');
	assert_int_equal(s.flags, 0);
	assert_int_equal(s.done, 1);

	smtp_scan_init(&s, 0, 0);
	assert_int_equal(smtp_scan_feed(&s, "ab\r", 3, out, &ol), 3);
	assert_int_equal(smtp_scan_feed(&s, "\n", 1, out, &ol), 1);
	assert_int_equal(s.flags, 0);
	assert_int_equal(smtp_scan_feed(&s, "\r", 1, out, &ol), 1);
	assert_int_equal(smtp_scan_feed(&s, "x", 1, out, &ol), 1);
	assert_int_equal(s.flags, SMTP_SCAN_BARE_CR);
	assert_int_equal(s.done, 0);

	/* the marker's CR and LF in separate feeds */
	smtp_scan_init(&s, 1, 0);
	assert_int_equal(smtp_scan_feed(&s, "a\r\n.\r", 5, out, &ol), 5);
	assert_int_equal(ol, 3);
	assert_int_equal(s.done, 0);
	assert_int_equal(smtp_scan_feed(&s, "\nNOOP\r\n", 7, out, &ol), 1);
	assert_int_equal(ol, 0);
	assert_int_equal(s.done, 1);
	assert_int_equal(s.flags, 0);
}

static void test_scan_owed_octet(void **state)
{
	/* ".\r" then X in separate one-octet feeds: output never exceeds input */
	struct smtp_scan s;
	char out[1];
	size_t ol, total = 0;
	char acc[32];
	const char *msg = "a\r\n.\rxy\r\n.\r\n";

	smtp_scan_init(&s, 1, 0);
	for (size_t i = 0; i < strlen(msg) && !s.done; i++) {
		assert_int_equal(smtp_scan_feed(&s, msg + i, 1, out, &ol), 1);
		assert_true(ol <= 1);
		memcpy(acc + total, out, ol);
		total += ol;
	}
	assert_int_equal(s.done, 1);
	assert_int_equal(total, 8);
	assert_memory_equal(acc, "a\r\n\rxy\r\n", 8);
	assert_int_equal(s.flags, SMTP_SCAN_BARE_CR);

	/* discarding output (OUT NULL) still reports the count */
	smtp_scan_init(&s, 1, 0);
	assert_int_equal(smtp_scan_feed(&s, "ab\r\n.\r\nQ", 8, NULL, &ol), 7);
	assert_int_equal(ol, 4);
	assert_int_equal(s.done, 1);
	smtp_scan_init(&s, 1, 0);
	assert_int_equal(smtp_scan_feed(&s, "", 0, NULL, &ol), 0);
	assert_int_equal(ol, 0);
}

static void test_scan_long_lines(void **state)
{
	char buf[64];
	struct scan_res *r;

	/* exactly max_line octets including CRLF is fine */
	memcpy(buf, "12345678\r\n.\r\n", 13);
	r = scan_whole(1, 10, buf, 13);
	assert_int_equal(r->flags, 0);
	assert_int_equal(r->done, 1);
	memcpy(buf, "123456789\r\n.\r\n", 14);
	r = scan_whole(1, 10, buf, 14);
	assert_int_equal(r->flags, SMTP_SCAN_LONG_LINE);
	check_all_chunkings(1, 10, buf, 14, 7);
	/* the stuffed dot counts: it was on the wire */
	memcpy(buf, "..2345678\r\n.\r\n", 14);
	r = scan_whole(1, 10, buf, 14);
	assert_int_equal(r->flags, SMTP_SCAN_LONG_LINE);
	memcpy(buf, "..234567\r\n.\r\n", 13);
	r = scan_whole(1, 10, buf, 13);
	assert_int_equal(r->flags, 0);
	/* a bare LF does not end a line for this count */
	memcpy(buf, "1234\n5678\r\n.\r\n", 14);
	r = scan_whole(1, 10, buf, 14);
	assert_int_equal(r->flags, SMTP_SCAN_BARE_LF | SMTP_SCAN_LONG_LINE);
	/* many short lines never add up */
	strcpy(buf, "1234567\r\n1234567\r\n1234567\r\n.\r\n");
	r = scan_whole(1, 10, buf, strlen(buf));
	assert_int_equal(r->flags, 0);
	assert_int_equal(r->done, 1);
	check_all_chunkings(1, 10, buf, strlen(buf), 9);
	/* 0 = no limit */
	char *big = malloc(5005);
	assert_non_null(big);
	memset(big, 'x', 5000);
	memcpy(big + 5000, "\r\n.\r\n", 5);
	r = scan_whole(1, 0, big, 5005);
	assert_int_equal(r->flags, 0);
	r = scan_whole(1, 1000, big, 5005);
	assert_int_equal(r->flags, SMTP_SCAN_LONG_LINE);
	assert_int_equal(r->outlen, 5002);
	r = scan_whole(0, 1000, big, 5000);
	assert_int_equal(r->flags, SMTP_SCAN_LONG_LINE);
	free(big);
	/* BDAT mode counts too */
	memcpy(buf, "123456789\r\n", 11);
	r = scan_whole(0, 10, buf, 11);
	assert_int_equal(r->flags, SMTP_SCAN_LONG_LINE);
}

static void test_scan_split_everywhere(void **state)
{
	static const char msg[] = "Subject: test\r\n\r\n..dotted\r\nbody.\r\n.\rx\r\n"
	                          "\xc3\xa9t\xc3\xa9\r\n..\r\n.\r\nQUIT\r\n";
	size_t len = sizeof(msg) - 1;
	struct scan_res *r = scan_whole(1, 0, msg, len);

	assert_int_equal(r->done, 1);
	assert_int_equal(r->consumed, len - 6);
	assert_int_equal(r->flags, SMTP_SCAN_BARE_CR | SMTP_SCAN_8BIT);
	static const char want[] = "Subject: test\r\n\r\n.dotted\r\nbody.\r\n\rx\r\n"
	                           "\xc3\xa9t\xc3\xa9\r\n.\r\n";
	assert_int_equal(r->outlen, sizeof(want) - 1);
	assert_memory_equal(r->out, want, sizeof(want) - 1);
	check_all_chunkings(1, 0, msg, len, 11);
	check_all_chunkings(1, 12, msg, len, 12);
	check_all_chunkings(0, 12, msg, len, 13);

	/* split a plain marker at each point, second half followed by a command */
	static const char m2[] = "line\r\n.\r\nRSET\r\n";
	check_all_chunkings(1, 0, m2, sizeof(m2) - 1, 14);
}

/*
 * A few hundred random strings over an alphabet that hits every scanner
 * state, fed whole, byte by byte, split everywhere and in random chunks.
 */
static void test_scan_random(void **state)
{
	static const char alpha[] = {'\r', '\n', '.', '.', 'a', '\0', (char)0xc3, '\r', '\n', 'b'};
	static char buf[400];
	static struct scan_res w;

	for (int iter = 0; iter < 400; iter++) {
		rng_seed(0xC0FFEE + (uint64_t)iter);
		size_t len = rng_below(sizeof(buf));
		for (size_t i = 0; i < len; i++) {
			if (rng_below(4) == 0)
				buf[i] = (char)rng_next();
			else
				buf[i] = alpha[rng_below(sizeof(alpha))];
		}
		/* sometimes make it a well-formed ending */
		if (len > 5 && rng_below(3) == 0)
			memcpy(buf + len - 5, "\r\n.\r\n", 5);
		int dot = (int)rng_below(2);
		size_t max_line = rng_below(3) == 0 ? 0 : 3 + rng_below(40);
		uint64_t seed = rng_next();

		struct chunker ch = {CH_WHOLE, 0, 0};
		scan_run(dot, max_line, buf, len, &ch, &w);
		assert_true(w.consumed <= len);
		assert_true(w.outlen <= w.consumed);
		if (!dot) {
			assert_int_equal(w.consumed, len);
			assert_int_equal(w.outlen, len);
			assert_memory_equal(w.out, buf, len);
			assert_int_equal(w.done, 0);
		}
		if (w.consumed < len)
			assert_int_equal(w.done, 1);
		if (w.done)
			assert_memory_equal(buf + w.consumed - 3, ".\r\n", 3);
		check_all_chunkings(dot, max_line, buf, len, seed);
	}
}

static void test_scan_large_message(void **state)
{
	/* 200 KB of realistic lines fed in random chunks, checked against whole */
	size_t cap = 200000;
	char *msg = malloc(cap + 16);
	static struct scan_res w, c;
	size_t n = 0;

	assert_non_null(msg);
	rng_seed(99);
	while (n < cap - 200) {
		size_t ll = rng_below(120);
		if (rng_below(10) == 0)
			msg[n++] = '.';
		for (size_t i = 0; i < ll; i++)
			msg[n++] = (char)(' ' + rng_below(95));
		msg[n++] = '\r';
		msg[n++] = '\n';
	}
	if (n > SCAN_OUT_MAX - 8)
		n = SCAN_OUT_MAX - 8;
	/* cut at a line boundary that fits the result buffer */
	while (n > 2 && !(msg[n - 2] == '\r' && msg[n - 1] == '\n'))
		n--;
	memcpy(msg + n, ".\r\n", 3);
	n += 3;
	struct chunker ch = {CH_WHOLE, 0, 0};
	scan_run(1, 1000, msg, n, &ch, &w);
	assert_int_equal(w.done, 1);
	assert_int_equal(w.consumed, n);
	assert_int_equal(w.flags, 0);
	for (int k = 0; k < 10; k++) {
		ch = (struct chunker){CH_RANDOM, 0, 0};
		scan_run(1, 1000, msg, n, &ch, &c);
		assert_same(&w, &c);
	}
	free(msg);
}

/* ------------------------------------------------------------------ */
/* header From: */

static char doms[8][SMTP_MAX_DOMAIN + 1];

static int from(const char *msg)
{
	memset(doms, 0, sizeof(doms));
	return smtp_header_from_domains(msg, strlen(msg), doms, 8);
}

static void test_from_basic(void **state)
{
	assert_int_equal(from("From: a@example.com\r\nTo: b@x.org\r\n\r\nbody\r\n"), 1);
	assert_string_equal(doms[0], "example.com");
	assert_int_equal(from("From: John Doe <JD@Example.COM>\r\n\r\n"), 1);
	assert_string_equal(doms[0], "example.com");
	assert_int_equal(from("Subject: hi\r\nFROM: a@b.example\r\n\r\n"), 1);
	assert_string_equal(doms[0], "b.example");
	assert_int_equal(from("from:a@b.example\r\n\r\n"), 1);
	assert_int_equal(from("From : a@b.example\r\n\r\n"), 1);
	assert_int_equal(from("From: a@b.example"), 1); /* no body, no final CRLF */
	assert_int_equal(from("From: a@b.example\n\nFrom: c@d.example\n"), 1);
	assert_string_equal(doms[0], "b.example");
	assert_int_equal(from("From: <a@b.example>\r\n\r\n"), 1);
	assert_int_equal(from("From: a@[192.0.2.1]\r\n\r\n"), 1);
	assert_string_equal(doms[0], "[192.0.2.1]");
	assert_int_equal(from("From: <@relay.example:a@b.example>\r\n\r\n"), 1);
	assert_string_equal(doms[0], "b.example");
	assert_int_equal(from("From: \"a@evil.example\" <a@good.example>\r\n\r\n"), 1);
	assert_string_equal(doms[0], "good.example");
	assert_int_equal(from("From: \"x\"@b.example\r\n\r\n"), 1);
	assert_int_equal(from("From: a.b.c@b.example\r\n\r\n"), 1);
	assert_int_equal(from("From: \xc3\xa9@\xc3\xa9.example\r\n\r\n"), 1);
	assert_string_equal(doms[0], "\xc3\xa9.example");
}

static void test_from_folding_comments(void **state)
{
	assert_int_equal(from("From: John\r\n Doe\r\n\t<j@X.org>\r\nTo: y@z\r\n\r\n"), 1);
	assert_string_equal(doms[0], "x.org");
	assert_int_equal(from("From:\r\n j@x.org\r\n\r\n"), 1);
	assert_int_equal(from("From: \"Doe, John\" <j@x.org>\r\n\r\n"), 1);
	assert_string_equal(doms[0], "x.org");
	assert_int_equal(from("From: \"Doe, \\\"J\\\" John\" <j@x.org>\r\n\r\n"), 1);
	assert_int_equal(from("From: j@x.org (John (the man) Doe)\r\n\r\n"), 1);
	assert_string_equal(doms[0], "x.org");
	assert_int_equal(from("From: (comment, with: <specials@y.org>) <j@x.org>\r\n\r\n"), 1);
	assert_string_equal(doms[0], "x.org");
	assert_int_equal(from("From: John (a)b(c) <j@x.org>\r\n\r\n"), 1);
	assert_int_equal(from("From: j@x.org (a \\) b)\r\n\r\n"), 1);
	assert_int_equal(from("From: j(c)@(c)x(c).(c)org(c)\r\n\r\n"), 1);
	assert_string_equal(doms[0], "x.org");
	assert_int_equal(from("From: John Q. Public <j@x.org>\r\n\r\n"), 1);
	assert_int_equal(from("From: =?UTF-8?Q?J=C3=B6rg?= <j@x.org>\r\n\r\n"), 1);
}

static void test_from_groups_and_lists(void **state)
{
	assert_int_equal(from("From: undisclosed: a@b.c, d@e.f;\r\n\r\n"), 2);
	assert_string_equal(doms[0], "b.c");
	assert_string_equal(doms[1], "e.f");
	assert_int_equal(from("From: a@b.c, \"X, Y\" <d@E.f>, g@h.i\r\n\r\n"), 3);
	assert_string_equal(doms[0], "b.c");
	assert_string_equal(doms[1], "e.f");
	assert_string_equal(doms[2], "h.i");
	assert_int_equal(from("From: a@b.c,, d@e.f,\r\n\r\n"), 2);
	assert_int_equal(from("From: team: <a@b.c>;, x@y.z\r\n\r\n"), 2);
	assert_int_equal(from("From: a@b.c,\r\n\tg: d@e.f; \r\n\r\n"), 2);

	/* more addresses than room: all counted, MAX copied */
	char d2[2][SMTP_MAX_DOMAIN + 1];
	memset(d2, 0, sizeof(d2));
	const char *m = "From: a@one.example, b@two.example, c@three.example\r\n\r\n";
	assert_int_equal(smtp_header_from_domains(m, strlen(m), d2, 2), 3);
	assert_string_equal(d2[0], "one.example");
	assert_string_equal(d2[1], "two.example");
	assert_int_equal(smtp_header_from_domains(m, strlen(m), NULL, 0), 3);
}

static void test_from_errors(void **state)
{
	assert_int_equal(from(""), -1);
	assert_int_equal(from("To: a@b.c\r\n\r\n"), -1);
	assert_int_equal(from("To: a@b.c\r\n\r\nFrom: x@y.z\r\n"), -1);
	assert_int_equal(from("\r\nFrom: x@y.z\r\n"), -1);
	assert_int_equal(from("Subject: x\r\n From: a@b.c\r\n\r\n"), -1);
	assert_int_equal(from("From-Address: a@b.c\r\n\r\n"), -1);
	assert_int_equal(from("Fromage: a@b.c\r\n\r\n"), -1);
	assert_int_equal(from("From a@b.c Mon Jan  1 00:00:00 2024\r\n\r\n"), -1);
	assert_int_equal(from("X-From: a@b.c\r\n\r\n"), -1);

	assert_int_equal(from("From: a@b.c\r\nFrom: d@e.f\r\n\r\n"), -2);
	assert_int_equal(from("From: a@b.c\r\nSubject: x\r\nFROM: a@b.c\r\n\r\n"), -2);

	static const char *const garbage[] = {
	    "From: garbage\r\n\r\n",
	    "From:\r\n\r\n",
	    "From:    \r\n\r\n",
	    "From: <>\r\n\r\n",
	    "From: John Doe\r\n\r\n",
	    "From: undisclosed:;\r\n\r\n",
	    "From: a@b.c junk\r\n\r\n",
	    "From: a@b.c (unterminated\r\n\r\n",
	    "From: \"unterminated <a@b.c>\r\n\r\n",
	    "From: a@evil.example <b@good.example>\r\n\r\n",
	    "From: <a@b.c> <d@e.f>\r\n\r\n",
	    "From: <a@b.c\r\n\r\n",
	    "From: a@\r\n\r\n",
	    "From: @b.c\r\n\r\n",
	    "From: a@b..c\r\n\r\n",
	    "From: a@b.c.\r\n\r\n",
	    "From: a b@c.d\r\n\r\n",
	    "From: <a b@c.d>\r\n\r\n",
	    "From: g: a@b.c\r\n\r\n",
	    "From: g: h: a@b.c;;\r\n\r\n",
	    "From: : a@b.c;\r\n\r\n",
	    "From: a@b.c;\r\n\r\n",
	    "From: a@[]\r\n\r\n",
	    "From: a@[1.2\r\n\r\n",
	    "From: a@b.c>\r\n\r\n",
	    "From: Doe, John <j@x.org>\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		int n = from(garbage[i]);
		if (n != -3)
			fail_msg("%s: got %d", garbage[i], n);
	}

	/* a domain over 255 octets is no address */
	char *big = malloc(400);
	assert_non_null(big);
	strcpy(big, "From: a@");
	size_t n = strlen(big);
	for (int l = 0; l < 5; l++) {
		memset(big + n, 'x', 60);
		n += 60;
		big[n++] = '.';
	}
	strcpy(big + n, "com\r\n\r\n");
	assert_int_equal(from(big), -3);
	free(big);
}

static void test_from_random(void **state)
{
	/* hostile bytes must only ever produce a valid return code */
	static const char pieces[][8] = {"From:", " ", "\r\n", "(", ")",  "\"",       "\\",
	                                 "<",     ">", "@",    ",", ";",  ":",        "a",
	                                 "b.c",   ".", "[",    "]", "\t", "\r\n\r\n", "\r\n "};
	char buf[512];

	rng_seed(1234);
	for (int iter = 0; iter < 2000; iter++) {
		size_t n = 0;
		if (rng_below(2))
			n = (size_t)snprintf(buf, sizeof(buf), "From: ");
		while (n < sizeof(buf) - 16 && rng_below(60) != 0) {
			const char *p = pieces[rng_below(sizeof(pieces) / sizeof(pieces[0]))];
			size_t pl = strlen(p);
			memcpy(buf + n, p, pl);
			n += pl;
		}
		char *exact = malloc(n ? n : 1);
		assert_non_null(exact);
		memcpy(exact, buf, n);
		memset(doms, 0, sizeof(doms));
		int r = smtp_header_from_domains(exact, n, doms, 8);
		assert_true(r >= -3);
		for (int i = 0; i < r && i < 8; i++)
			assert_true(strlen(doms[i]) > 0 && strlen(doms[i]) <= SMTP_MAX_DOMAIN);
		free(exact);
	}
}

/* ------------------------------------------------------------------ */
/* domain matching, UTF-8 */

static void test_domain_matches(void **state)
{
	assert_true(smtp_domain_matches("example.com", "example.com"));
	assert_true(smtp_domain_matches("Example.COM", "example.com"));
	assert_true(smtp_domain_matches("example.com", "EXAMPLE.com"));
	assert_true(smtp_domain_matches("mail.example.com", "example.com"));
	assert_true(smtp_domain_matches("a.b.MAIL.example.com", "example.com"));
	assert_true(smtp_domain_matches("example.com.", "example.com"));
	assert_true(smtp_domain_matches("mail.example.com.", "example.com"));
	assert_true(smtp_domain_matches("example.com", "example.com."));

	assert_false(smtp_domain_matches("badexample.com", "example.com"));
	assert_false(smtp_domain_matches("example.com", "mail.example.com"));
	assert_false(smtp_domain_matches("com", "example.com"));
	assert_false(smtp_domain_matches("example.co", "example.com"));
	assert_false(smtp_domain_matches("example.com.evil", "example.com"));
	assert_false(smtp_domain_matches("example.comx", "example.com"));
	assert_false(smtp_domain_matches(".example.com", "example.com"));
	assert_false(smtp_domain_matches("example.com..", "example.com"));
	assert_false(smtp_domain_matches("", "example.com"));
	assert_false(smtp_domain_matches("example.com", ""));
	assert_false(smtp_domain_matches(".", "."));
	assert_false(smtp_domain_matches(NULL, "example.com"));
	assert_false(smtp_domain_matches("example.com", NULL));
}

static int utf8(const char *s)
{
	return smtp_utf8_valid(s, strlen(s));
}

static void test_utf8_valid(void **state)
{
	assert_true(smtp_utf8_valid("", 0));
	assert_true(utf8("plain ascii"));
	assert_true(smtp_utf8_valid("a\0b", 3));
	assert_true(utf8("\xc2\x80"));         /* U+0080 */
	assert_true(utf8("\xc3\xa9"));         /* é */
	assert_true(utf8("\xdf\xbf"));         /* U+07FF */
	assert_true(utf8("\xe0\xa0\x80"));     /* U+0800 */
	assert_true(utf8("\xe2\x82\xac"));     /* € */
	assert_true(utf8("\xed\x9f\xbf"));     /* U+D7FF */
	assert_true(utf8("\xee\x80\x80"));     /* U+E000 */
	assert_true(utf8("\xef\xbf\xbf"));     /* U+FFFF */
	assert_true(utf8("\xf0\x90\x80\x80")); /* U+10000 */
	assert_true(utf8("\xf0\x9d\x84\x9e")); /* 𝄞 */
	assert_true(utf8("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
	assert_true(utf8("a\xc3\xa9z\xe2\x82\xac"));

	/* overlongs */
	assert_false(utf8("\xc0\x80"));
	assert_false(utf8("\xc0\xaf"));
	assert_false(utf8("\xc1\xbf"));
	assert_false(utf8("\xe0\x80\xaf"));
	assert_false(utf8("\xe0\x9f\xbf"));
	assert_false(utf8("\xf0\x80\x80\xaf"));
	assert_false(utf8("\xf0\x8f\xbf\xbf"));
	/* surrogates */
	assert_false(utf8("\xed\xa0\x80"));
	assert_false(utf8("\xed\xbf\xbf"));
	/* beyond U+10FFFF */
	assert_false(utf8("\xf4\x90\x80\x80"));
	assert_false(utf8("\xf5\x80\x80\x80"));
	assert_false(utf8("\xf7\xbf\xbf\xbf"));
	assert_false(utf8("\xf8\x88\x80\x80\x80"));
	assert_false(utf8("\xfc\x84\x80\x80\x80\x80"));
	assert_false(utf8("\xfe"));
	assert_false(utf8("\xff"));
	/* truncated, stray, broken continuations */
	assert_false(utf8("\xc3"));
	assert_false(utf8("a\xc3"));
	assert_false(utf8("\xe2\x82"));
	assert_false(utf8("\xf0\x9d\x84"));
	assert_false(utf8("\x80"));
	assert_false(utf8("a\xbf"));
	assert_false(utf8("\xe2\x28\xa1"));
	assert_false(utf8("\xe2\x82\x28"));
	assert_false(utf8("\xf0\x9d\x28\x9e"));
	assert_false(utf8("\xc3\xc3\xa9"));
	/* length, not NUL, bounds the check */
	assert_false(smtp_utf8_valid("\xe2\x82\xac", 2));
	assert_true(smtp_utf8_valid("\xe2\x82\xac", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base64_encode_vectors),
	    cmocka_unit_test(test_base64_decode_vectors),
	    cmocka_unit_test(test_base64_decode_strict),
	    cmocka_unit_test(test_base64_roundtrip),
	    cmocka_unit_test(test_base64url),
	    cmocka_unit_test(test_verb_basic),
	    cmocka_unit_test(test_verb_args),
	    cmocka_unit_test(test_verb_unknown),
	    cmocka_unit_test(test_mail_ok),
	    cmocka_unit_test(test_mail_null_path),
	    cmocka_unit_test(test_mail_route_quoted_literal),
	    cmocka_unit_test(test_mail_syntax),
	    cmocka_unit_test(test_mail_bad_address),
	    cmocka_unit_test(test_mail_too_long),
	    cmocka_unit_test(test_mail_params),
	    cmocka_unit_test(test_mail_utf8),
	    cmocka_unit_test(test_rcpt),
	    cmocka_unit_test(test_helo),
	    cmocka_unit_test(test_bdat),
	    cmocka_unit_test(test_auth_args),
	    cmocka_unit_test(test_auth_plain),
	    cmocka_unit_test(test_auth_login),
	    cmocka_unit_test(test_scan_end_marker),
	    cmocka_unit_test(test_scan_not_markers),
	    cmocka_unit_test(test_scan_unstuff),
	    cmocka_unit_test(test_scan_flags),
	    cmocka_unit_test(test_scan_cr_across_feeds),
	    cmocka_unit_test(test_scan_owed_octet),
	    cmocka_unit_test(test_scan_long_lines),
	    cmocka_unit_test(test_scan_split_everywhere),
	    cmocka_unit_test(test_scan_random),
	    cmocka_unit_test(test_scan_large_message),
	    cmocka_unit_test(test_from_basic),
	    cmocka_unit_test(test_from_folding_comments),
	    cmocka_unit_test(test_from_groups_and_lists),
	    cmocka_unit_test(test_from_errors),
	    cmocka_unit_test(test_from_random),
	    cmocka_unit_test(test_domain_matches),
	    cmocka_unit_test(test_utf8_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
