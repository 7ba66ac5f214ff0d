/*
 * test_cidr.c - unit tests for cidr.c: parsing and canonical form, prefix
 * edges (/0, /32, /128, partial octets), IPv4-mapped clients and networks,
 * longest-prefix lookup, lists and the per-client key, plus a deterministic
 * random run checking parse/format round trips and lookup consistency.
 *
 * Must never depend on the network, the clock or an unseeded random source.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "cidr.h"

/* ------------------------------------------------------------------ */
/* helpers */

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
	rng_state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static uint64_t rng_next(void)
{
	/* xorshift64*: tiny and deterministic. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t rng_below(size_t n)
{
	return n ? (size_t)(rng_next() % n) : 0;
}

/* A client address as accept() would give it: TEXT with ':' is AF_INET6. */
static struct sockaddr_storage sa_of(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(2525);
		assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(2525);
		assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

/* Does network NET (parsed here) hold client ADDR? */
static int net_has(const char *net, const char *addr)
{
	struct cidr c;
	struct sockaddr_storage ss = sa_of(addr);

	assert_int_equal(cidr_parse(net, &c), 0);
	return cidr_match(&c, SA(ss));
}

static const char *key_of(const char *addr, char *buf, size_t len)
{
	struct sockaddr_storage ss = sa_of(addr);
	cidr_addr_key(SA(ss), buf, len);
	return buf;
}

/* ------------------------------------------------------------------ */
/* parse and format */

static void test_parse_canonical(void **state)
{
	static const char *const cases[][2] = {
	    {"10.0.0.0/8", "10.0.0.0/8"},
	    {"192.0.2.7", "192.0.2.7/32"},
	    {"192.0.2.7/32", "192.0.2.7/32"},
	    {"255.255.255.255/32", "255.255.255.255/32"},
	    {"10.1.2.3/8", "10.0.0.0/8"}, /* host bits cleared */
	    {"192.0.2.255/25", "192.0.2.128/25"},
	    {"10.0.0.1/31", "10.0.0.0/31"},
	    {"0.0.0.0/0", "0.0.0.0/0"},
	    {"1.2.3.4/0", "0.0.0.0/0"},
	    {"2001:db8::/32", "2001:db8::/32"},
	    {"2001:DB8::1/64", "2001:db8::/64"},
	    {"2001:db8::ff/121", "2001:db8::80/121"},
	    {"::1", "::1/128"},
	    {"::/0", "::/0"},
	    {"ffff::/0", "::/0"},
	    {"1:2:3:4:5:6:7:8/127", "1:2:3:4:5:6:7:8/127"},
	    {"1:2:3:4:5:6:7:9/127", "1:2:3:4:5:6:7:8/127"},
	    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},
	    {"fe80::1/10", "fe80::/10"},
	    /* mapped networks of /96 or longer become the IPv4 network */
	    {"::ffff:10.0.0.0/104", "10.0.0.0/8"},
	    {"::ffff:192.0.2.7", "192.0.2.7/32"},
	    {"::FFFF:c000:0207/128", "192.0.2.7/32"},
	    {"::ffff:0:0/96", "0.0.0.0/0"},
	    {"::ffff:10.1.2.3/100", "0.0.0.0/4"},
	    /* shorter ones stay IPv6 and are masked like any other */
	    {"::ffff:0:0/95", "::fffe:0:0/95"},
	    {"::ffff:0:0/80", "::/80"},
	    /* IPv4-compatible (deprecated) is plain IPv6, printed as inet_ntop does */
	    {"::1.2.3.4", "::1.2.3.4/128"},
	    {"::102:304", "::1.2.3.4/128"},
	};
	char buf[CIDR_STRLEN];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cidr c, again;
		if (cidr_parse(cases[i][0], &c) != 0)
			fail_msg("refused %s", cases[i][0]);
		assert_int_equal(cidr_format(&c, buf, sizeof(buf)), 0);
		if (strcmp(buf, cases[i][1]) != 0)
			fail_msg("%s -> %s, want %s", cases[i][0], buf, cases[i][1]);
		/* canonical form is a fixed point */
		assert_int_equal(cidr_parse(buf, &again), 0);
		assert_memory_equal(&c, &again, sizeof(c));
	}
}

static void test_parse_fields(void **state)
{
	struct cidr c;
	static const uint8_t v4[16] = {192, 0, 2, 128};
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};

	assert_int_equal(cidr_parse("192.0.2.200/25", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 25);
	assert_memory_equal(c.addr, v4, 16); /* addr[4..15] zero too */

	assert_int_equal(cidr_parse("2001:db8:ffff::/32", &c), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 32);
	assert_memory_equal(c.addr, v6, 16);

	assert_int_equal(cidr_parse("::", &c), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 128);

	/* the longest text accepted is one less than CIDR_STRLEN */
	const char *longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128";
	assert_int_equal(strlen(longest), CIDR_STRLEN - 1);
	assert_int_equal(cidr_parse(longest, &c), 0);
	assert_int_equal(c.family, AF_INET6);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    " ",
	    " 10.0.0.0/8",
	    "10.0.0.0/8 ",
	    "10.0.0.0 /8",
	    "10.0.0.0/ 8",
	    "10.0.0.0/8\n",
	    "10.0.0.0\t",
	    "10.0.0.0/",
	    "/8",
	    "/",
	    "10.0.0.0/33",
	    "10.0.0.0/1000",
	    "::/129",
	    "::ffff:10.0.0.0/129",
	    "10.0.0.0/08",
	    "10.0.0.0/00",
	    "10.0.0.0/-1",
	    "10.0.0.0/+8",
	    "10.0.0.0/8/8",
	    "10.0.0.0/0x8",
	    "10.0.0.0/8a",
	    "10.0.0/8",
	    "10.0.0.0.0",
	    "256.0.0.0",
	    "10.0.0.-1",
	    "1.2.3.04",
	    "0x0a.0.0.0",
	    "10",
	    "10.0.0.0,",
	    "10.0.0.0,10.0.0.1",
	    "example.com",
	    "localhost",
	    "fe80::1%eth0",
	    "fe80::1%1/64",
	    "2001:db8:::1",
	    "2001:db8::1::2",
	    "1:2:3:4:5:6:7:8:9",
	    "1:2:3:4:5:6:7",
	    "12345::",
	    ":1::",
	    "[::1]",
	    "[::1]/128",
	    "::g",
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/1280", /* too long */
	    "0000000000000000000000000000000000000000000000000000000000001.2.3.4",
	};
	struct cidr c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0x5a, sizeof(c));
		if (cidr_parse(bad[i], &c) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(c.family, 0); /* zeroed on failure */
		assert_int_equal(c.prefix, 0);
	}
	memset(&c, 0x5a, sizeof(c));
	assert_int_equal(cidr_parse(NULL, &c), -1);
	assert_int_equal(c.family, 0);
}

static void test_format_edges(void **state)
{
	struct cidr c;
	char buf[CIDR_STRLEN];

	assert_int_equal(cidr_parse("10.0.0.0/8", &c), 0);
	/* "10.0.0.0/8" is 10 octets: 11 with NUL fit, 10 do not */
	assert_int_equal(cidr_format(&c, buf, 11), 0);
	assert_string_equal(buf, "10.0.0.0/8");
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(cidr_format(&c, buf, 10), -1);
	assert_string_equal(buf, "");
	assert_int_equal(cidr_format(&c, buf, 1), -1);
	assert_string_equal(buf, "");
	assert_int_equal(cidr_format(&c, NULL, 0), -1);

	/* CIDR_STRLEN holds the longest */
	assert_int_equal(cidr_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &c), 0);
	assert_int_equal(cidr_format(&c, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");

	/* not a valid network */
	c.family = AF_INET;
	c.prefix = 33;
	assert_int_equal(cidr_format(&c, buf, sizeof(buf)), -1);
	c.prefix = -1;
	assert_int_equal(cidr_format(&c, buf, sizeof(buf)), -1);
	c.family = AF_UNIX;
	c.prefix = 8;
	assert_int_equal(cidr_format(&c, buf, sizeof(buf)), -1);
	assert_int_equal(cidr_format(NULL, buf, sizeof(buf)), -1);
	assert_string_equal(buf, "");
}

/* ------------------------------------------------------------------ */
/* matching */

static void test_match_ipv4(void **state)
{
	assert_true(net_has("10.0.0.0/8", "10.0.0.0"));
	assert_true(net_has("10.0.0.0/8", "10.255.255.255"));
	assert_false(net_has("10.0.0.0/8", "11.0.0.0"));
	assert_false(net_has("10.0.0.0/8", "9.255.255.255"));
	assert_true(net_has("192.0.2.128/25", "192.0.2.128"));
	assert_true(net_has("192.0.2.128/25", "192.0.2.255"));
	assert_false(net_has("192.0.2.128/25", "192.0.2.127"));
	assert_true(net_has("192.0.2.7", "192.0.2.7"));
	assert_false(net_has("192.0.2.7", "192.0.2.6"));
	assert_false(net_has("192.0.2.7/32", "192.0.2.8"));
	assert_true(net_has("0.0.0.0/0", "0.0.0.0"));
	assert_true(net_has("0.0.0.0/0", "255.255.255.255"));
	assert_true(net_has("128.0.0.0/1", "200.1.1.1"));
	assert_false(net_has("128.0.0.0/1", "127.1.1.1"));
	assert_true(net_has("10.0.0.0/31", "10.0.0.1"));
	assert_false(net_has("10.0.0.0/31", "10.0.0.2"));
	/* IPv4 networks never match IPv6 clients */
	assert_false(net_has("0.0.0.0/0", "::"));
	assert_false(net_has("0.0.0.0/0", "2001:db8::1"));
	assert_false(net_has("0.0.0.0/0", "::10.0.0.1")); /* compatible, not mapped */
}

static void test_match_ipv6(void **state)
{
	assert_true(net_has("2001:db8::/32", "2001:db8::1"));
	assert_true(net_has("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_false(net_has("2001:db8::/32", "2001:db9::"));
	assert_true(net_has("2001:db8:1:2::/64", "2001:db8:1:2:a:b:c:d"));
	assert_false(net_has("2001:db8:1:2::/64", "2001:db8:1:3::"));
	assert_true(net_has("::1", "::1"));
	assert_false(net_has("::1", "::2"));
	assert_false(net_has("::1/128", "::"));
	assert_true(net_has("2001:db8::80/121", "2001:db8::ff"));
	assert_false(net_has("2001:db8::80/121", "2001:db8::7f"));
	assert_true(net_has("fe80::/10", "febf::1"));
	assert_false(net_has("fe80::/10", "fec0::1"));
	assert_true(net_has("::/0", "::"));
	assert_true(net_has("::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_true(net_has("::/0", "::10.0.0.1"));
	/* IPv6 networks never match IPv4 clients, mapped or not */
	assert_false(net_has("::/0", "10.0.0.1"));
	assert_false(net_has("::/0", "::ffff:10.0.0.1"));
	assert_false(net_has("::ffff:0:0/95", "::ffff:10.0.0.1"));
	assert_false(net_has("::/80", "::ffff:10.0.0.1"));
}

static void test_match_mapped(void **state)
{
	/* a mapped client is its IPv4 address */
	assert_true(net_has("10.0.0.0/8", "::ffff:10.1.2.3"));
	assert_false(net_has("10.0.0.0/8", "::ffff:11.1.2.3"));
	assert_true(net_has("192.0.2.7", "::ffff:192.0.2.7"));
	assert_true(net_has("0.0.0.0/0", "::ffff:0.0.0.0"));
	/* a mapped network is its IPv4 network, for both kinds of client */
	assert_true(net_has("::ffff:10.0.0.0/104", "10.9.9.9"));
	assert_true(net_has("::ffff:10.0.0.0/104", "::ffff:10.9.9.9"));
	assert_false(net_has("::ffff:10.0.0.0/104", "11.0.0.0"));
	assert_true(net_has("::ffff:192.0.2.7", "192.0.2.7"));
	/* "almost mapped" addresses are IPv6 */
	assert_false(net_has("10.0.0.0/8", "::fffe:10.1.2.3"));
	assert_false(net_has("10.0.0.0/8", "1::ffff:10.1.2.3"));
}

static void test_match_not_ip(void **state)
{
	struct cidr c;
	struct sockaddr_un un;
	struct sockaddr_storage ss = sa_of("10.0.0.1");

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	assert_int_equal(cidr_parse("0.0.0.0/0", &c), 0);
	assert_false(cidr_match(&c, (const struct sockaddr *)&un));
	assert_false(cidr_match(&c, NULL));
	assert_false(cidr_match(NULL, SA(ss)));
	assert_int_equal(cidr_best(&c, 1, (const struct sockaddr *)&un), -1);
	assert_int_equal(cidr_best(&c, 1, NULL), -1);
	assert_int_equal(cidr_best(NULL, 1, SA(ss)), -1);

	/* a hand-made cidr with an impossible prefix matches nothing */
	c.prefix = 33;
	assert_false(cidr_match(&c, SA(ss)));
	assert_int_equal(cidr_best(&c, 1, SA(ss)), -1);
	c.prefix = -1;
	assert_false(cidr_match(&c, SA(ss)));

	/* a struct sockaddr_in (not storage) is read only as far as its size */
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x0a000001);
	assert_int_equal(cidr_parse("10.0.0.0/8", &c), 0);
	assert_true(cidr_match(&c, (const struct sockaddr *)&sin));
}

static void test_best(void **state)
{
	static const char *const nets[] = {
	    "0.0.0.0/0",       /* 0 */
	    "10.0.0.0/8",      /* 1 */
	    "10.1.0.0/16",     /* 2 */
	    "10.1.2.0/24",     /* 3 */
	    "10.1.0.0/16",     /* 4: duplicate, loses the tie */
	    "::/0",            /* 5 */
	    "2001:db8::/32",   /* 6 */
	    "2001:db8:1::/48", /* 7 */
	    "10.1.2.3",        /* 8 */
	    "::1",             /* 9 */
	};
	struct cidr v[sizeof(nets) / sizeof(nets[0])];
	size_t n = sizeof(nets) / sizeof(nets[0]);

	for (size_t i = 0; i < n; i++)
		assert_int_equal(cidr_parse(nets[i], &v[i]), 0);

	static const struct {
		const char *addr;
		int want;
	} cases[] = {
	    {"10.1.2.3", 8},
	    {"10.1.2.4", 3},
	    {"10.1.3.1", 2},
	    {"10.2.0.0", 1},
	    {"11.0.0.0", 0},
	    {"::ffff:10.1.2.3", 8},
	    {"::ffff:10.1.9.9", 2},
	    {"::ffff:8.8.8.8", 0},
	    {"2001:db8:1::5", 7},
	    {"2001:db8:2::5", 6},
	    {"2001:db9::", 5},
	    {"::1", 9},
	    {"::2", 5},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage ss = sa_of(cases[i].addr);
		int got = cidr_best(v, n, SA(ss));
		if (got != cases[i].want)
			fail_msg("%s -> %d, want %d", cases[i].addr, got, cases[i].want);
	}

	/* without the default routes, misses are -1 */
	struct sockaddr_storage ss = sa_of("11.0.0.0");
	assert_int_equal(cidr_best(v + 1, 4, SA(ss)), -1);
	ss = sa_of("10.1.0.9");
	assert_int_equal(cidr_best(v + 1, 4, SA(ss)), 1); /* index into v + 1 */
	assert_int_equal(cidr_best(v + 3, 2, SA(ss)), 1); /* only the duplicate */
	assert_int_equal(cidr_best(v, 0, SA(ss)), -1);
	ss = sa_of("2001:db9::");
	assert_int_equal(cidr_best(v, 5, SA(ss)), -1);
}

/* ------------------------------------------------------------------ */
/* lists */

static void test_list_parse(void **state)
{
	static struct cidr_list l; /* 6 KiB: keep it off the stack */
	char why[128], buf[512];

	assert_int_equal(cidr_list_parse("10.0.0.0/8, 192.168.0.0/16 ::1", &l, why, sizeof(why)),
	                 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(why, "");
	assert_int_equal(cidr_list_format(&l, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.0.0.0/8, 192.168.0.0/16, ::1/128");

	assert_int_equal(cidr_list_parse(",10.1.2.3/8,,\t2001:DB8::/32 ,", &l, why, sizeof(why)),
	                 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(cidr_list_format(&l, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.0.0.0/8, 2001:db8::/32");

	static const char *const empty[] = {"", " ", ",", " , ,\t,", "\t\t"};
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		l.n = 99;
		assert_int_equal(cidr_list_parse(empty[i], &l, why, sizeof(why)), 0);
		assert_int_equal(l.n, 0);
	}
	l.n = 99;
	assert_int_equal(cidr_list_parse(NULL, &l, why, sizeof(why)), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(cidr_list_format(&l, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");

	/* why may be NULL or short */
	assert_int_equal(cidr_list_parse("::1", &l, NULL, 0), 0);
	assert_int_equal(l.n, 1);
}

static void test_list_bad(void **state)
{
	static struct cidr_list l;
	char why[128];

	assert_int_equal(cidr_list_parse("10.0.0.0/8, bogus, ::1", &l, why, sizeof(why)), -1);
	assert_int_equal(l.n, 0);
	assert_string_equal(why, "bad network \"bogus\"");

	assert_int_equal(cidr_list_parse("10.0.0.0/8;192.168.0.0/16", &l, why, sizeof(why)), -1);
	assert_string_equal(why, "bad network \"10.0.0.0/8;192.168.0.0/16\"");

	/* newlines are not separators: a stray CR shows up in the reason */
	assert_int_equal(cidr_list_parse("10.0.0.0/8\r", &l, why, sizeof(why)), -1);
	assert_string_equal(why, "bad network \"10.0.0.0/8?\"");

	assert_int_equal(cidr_list_parse("10.0.0.0/33", &l, why, sizeof(why)), -1);
	assert_string_equal(why, "bad network \"10.0.0.0/33\"");

	/* a long token is shortened in the reason */
	char longtok[300];
	memset(longtok, 'a', sizeof(longtok) - 1);
	longtok[sizeof(longtok) - 1] = '\0';
	assert_int_equal(cidr_list_parse(longtok, &l, why, sizeof(why)), -1);
	assert_string_equal(why, "bad network \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");

	/* reasons are truncated, never overflowed */
	memset(why, 'X', sizeof(why));
	assert_int_equal(cidr_list_parse("bogus", &l, why, 8), -1);
	assert_string_equal(why, "bad net");
	assert_int_equal(why[8], 'X');
	assert_int_equal(cidr_list_parse("bogus", &l, NULL, 0), -1);
	assert_int_equal(l.n, 0);

	/* the entries parsed before the bad one are not left behind */
	assert_int_equal(cidr_list_parse("10.0.0.0/8 1.2.3.4 x", &l, why, sizeof(why)), -1);
	assert_int_equal(l.n, 0);
	assert_int_equal(l.v[0].family, 0);
}

static void test_list_max(void **state)
{
	static struct cidr_list l;
	static char text[CIDR_LIST_MAX * 20 + 40], out[CIDR_LIST_MAX * 20 + 40];
	char why[128];
	size_t off = 0;

	for (int i = 0; i < CIDR_LIST_MAX; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s10.%d.%d.0/24",
		                        i ? ", " : "", i / 256, i % 256);
	assert_int_equal(cidr_list_parse(text, &l, why, sizeof(why)), 0);
	assert_int_equal(l.n, CIDR_LIST_MAX);
	assert_int_equal(cidr_list_format(&l, out, sizeof(out)), 0);
	assert_string_equal(out, text);

	/* the output buffer must hold all of it */
	size_t need = strlen(text) + 1;
	assert_int_equal(cidr_list_format(&l, out, need), 0);
	assert_int_equal(cidr_list_format(&l, out, need - 1), -1);
	assert_string_equal(out, "");
	assert_int_equal(cidr_list_format(&l, out, 0), -1);
	/* an entry that is no network (never made by cidr_list_parse) */
	l.v[CIDR_LIST_MAX - 1].family = AF_UNIX;
	assert_int_equal(cidr_list_format(&l, out, sizeof(out)), -1);
	assert_string_equal(out, "");

	/* a trailing separator is still fine; one more network is not */
	snprintf(text + off, sizeof(text) - off, " ,");
	assert_int_equal(cidr_list_parse(text, &l, why, sizeof(why)), 0);
	assert_int_equal(l.n, CIDR_LIST_MAX);
	snprintf(text + off, sizeof(text) - off, " 10.255.255.0/24");
	assert_int_equal(cidr_list_parse(text, &l, why, sizeof(why)), -1);
	assert_int_equal(l.n, 0);
	assert_string_equal(why, "more than 256 networks");
}

static void test_list_match(void **state)
{
	static struct cidr_list l;
	char why[64];
	struct sockaddr_storage ss;

	assert_int_equal(cidr_list_parse("10.0.0.0/8 2001:db8::/32", &l, why, sizeof(why)), 0);
	ss = sa_of("10.3.3.3");
	assert_true(cidr_list_match(&l, SA(ss)));
	ss = sa_of("::ffff:10.3.3.3");
	assert_true(cidr_list_match(&l, SA(ss)));
	ss = sa_of("2001:db8::25");
	assert_true(cidr_list_match(&l, SA(ss)));
	ss = sa_of("192.0.2.1");
	assert_false(cidr_list_match(&l, SA(ss)));
	ss = sa_of("2001:db9::25");
	assert_false(cidr_list_match(&l, SA(ss)));
	assert_false(cidr_list_match(&l, NULL));
	assert_false(cidr_list_match(NULL, SA(ss)));

	assert_int_equal(cidr_list_parse("", &l, why, sizeof(why)), 0);
	ss = sa_of("10.3.3.3");
	assert_false(cidr_list_match(&l, SA(ss)));
}

/* ------------------------------------------------------------------ */
/* per-client key */

static void test_addr_key(void **state)
{
	char k[CIDR_STRLEN];

	assert_string_equal(key_of("192.0.2.7", k, sizeof(k)), "192.0.2.7");
	assert_string_equal(key_of("0.0.0.0", k, sizeof(k)), "0.0.0.0");
	assert_string_equal(key_of("255.255.255.255", k, sizeof(k)), "255.255.255.255");
	assert_string_equal(key_of("::ffff:192.0.2.7", k, sizeof(k)), "192.0.2.7");
	assert_string_equal(key_of("2001:db8:1:2:3:4:5:6", k, sizeof(k)), "2001:db8:1:2::/64");
	assert_string_equal(key_of("2001:db8:1:2::", k, sizeof(k)), "2001:db8:1:2::/64");
	assert_string_equal(key_of("2001:db8::1", k, sizeof(k)), "2001:db8::/64");
	assert_string_equal(key_of("::1", k, sizeof(k)), "::/64");
	assert_string_equal(key_of("fe80::1234:5678", k, sizeof(k)), "fe80::/64");
	assert_string_equal(key_of("::10.0.0.1", k, sizeof(k)), "::/64");
	assert_string_equal(key_of("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", k, sizeof(k)),
	                    "ffff:ffff:ffff:ffff::/64");
	/* two hosts of one /64 share a key; neighbouring /64s do not */
	char k2[CIDR_STRLEN];
	assert_string_equal(key_of("2001:db8:0:1::a", k, sizeof(k)),
	                    key_of("2001:db8:0:1:ffff::b", k2, sizeof(k2)));
	assert_string_not_equal(key_of("2001:db8:0:1::a", k, sizeof(k)),
	                        key_of("2001:db8:0:2::a", k2, sizeof(k2)));

	struct sockaddr_un un;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	cidr_addr_key((const struct sockaddr *)&un, k, sizeof(k));
	assert_string_equal(k, "unknown");
	cidr_addr_key(NULL, k, sizeof(k));
	assert_string_equal(k, "unknown");

	/* too small: empty, never truncated; 0 octets: untouched */
	assert_string_equal(key_of("192.0.2.7", k, 10), "192.0.2.7");
	memset(k, 'X', sizeof(k));
	assert_string_equal(key_of("192.0.2.7", k, 9), "");
	assert_string_equal(key_of("2001:db8::1", k, 13), "");
	assert_string_equal(key_of("2001:db8::1", k, 14), "2001:db8::/64");
	cidr_addr_key(NULL, k, 7);
	assert_string_equal(k, "");
	k[0] = 'X';
	key_of("192.0.2.7", k, 0);
	assert_int_equal(k[0], 'X');
}

/* ------------------------------------------------------------------ */
/* random */

static void random_net(char *out, size_t len)
{
	static const char alpha[] = "0123456789abcdefABCDEF:./ ,x%";
	if (rng_below(3) == 0) {
		/* structured: a real address and prefix, sometimes mangled */
		uint8_t a[16];
		char host[INET6_ADDRSTRLEN];
		for (size_t i = 0; i < 16; i++)
			a[i] = (uint8_t)rng_next();
		int v6 = (int)rng_below(2);
		if (v6 && rng_below(4) == 0)
			memcpy(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
		inet_ntop(v6 ? AF_INET6 : AF_INET, a, host, sizeof(host));
		snprintf(out, len, "%s/%d", host, (int)rng_below(v6 ? 131 : 35));
		return;
	}
	size_t n = rng_below(len - 1);
	for (size_t i = 0; i < n; i++)
		out[i] = alpha[rng_below(sizeof(alpha) - 1)];
	out[n] = '\0';
}

static void test_random(void **state)
{
	static struct cidr v[64];
	size_t nv = 0;
	char text[64], buf[CIDR_STRLEN];

	rng_seed(20240601);
	for (int iter = 0; iter < 200000; iter++) {
		struct cidr c, again;
		random_net(text, sizeof(text));
		if (cidr_parse(text, &c) != 0)
			continue;
		int max = c.family == AF_INET ? 32 : 128;
		assert_true(c.family == AF_INET || c.family == AF_INET6);
		assert_in_range(c.prefix, 0, max);
		assert_int_equal(cidr_format(&c, buf, sizeof(buf)), 0);
		assert_int_equal(cidr_parse(buf, &again), 0);
		assert_memory_equal(&c, &again, sizeof(c));

		/* a network holds its own first address */
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof(ss));
		if (c.family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			s4->sin_family = AF_INET;
			memcpy(&s4->sin_addr, c.addr, 4);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			s6->sin6_family = AF_INET6;
			memcpy(&s6->sin6_addr, c.addr, 16);
		}
		assert_true(cidr_match(&c, SA(ss)));
		if (nv < sizeof(v) / sizeof(v[0]))
			v[nv++] = c;

		/* the best match is a match, and none longer or earlier exists */
		int b = cidr_best(v, nv, SA(ss));
		assert_true(b >= -1 && b < (int)nv);
		for (size_t i = 0; i < nv; i++) {
			if (!cidr_match(&v[i], SA(ss)))
				continue;
			assert_true(b >= 0);
			assert_true(v[i].prefix < v[b].prefix ||
			            (v[i].prefix == v[b].prefix && i >= (size_t)b));
		}
		assert_true(b < 0 || cidr_match(&v[b], SA(ss)));
	}
	assert_true(nv == sizeof(v) / sizeof(v[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_canonical),
	    cmocka_unit_test(test_parse_fields),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_format_edges),
	    cmocka_unit_test(test_match_ipv4),
	    cmocka_unit_test(test_match_ipv6),
	    cmocka_unit_test(test_match_mapped),
	    cmocka_unit_test(test_match_not_ip),
	    cmocka_unit_test(test_best),
	    cmocka_unit_test(test_list_parse),
	    cmocka_unit_test(test_list_bad),
	    cmocka_unit_test(test_list_max),
	    cmocka_unit_test(test_list_match),
	    cmocka_unit_test(test_addr_key),
	    cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
