/*
 * test_proxy.c - unit tests for proxy.c: PROXY protocol v1 (TCP4, TCP6,
 * UNKNOWN) and v2 (PROXY over IPv4/IPv6 with TLVs, LOCAL, UNSPEC, AF_UNIX,
 * CRC32C), every header delivered whole and one octet at a time, SMTP
 * octets after the header left alone, and the malformed cases, each checked
 * at the first octet that makes it impossible.
 *
 * Must never depend on the network, the clock or an unseeded random source.
 * Inputs are copied into heap buffers of their exact length so ASan catches
 * a single octet read too far.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

#define S(lit) (const uint8_t *)(lit), (sizeof(lit) - 1)

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

/*
 * proxy_parse() on an exact-size heap copy of the first LEN octets of IN,
 * checking the contract that holds whatever the result: *consumed is 0
 * unless OK, *out is zero unless OK, WHY is set exactly on BAD.
 */
static enum proxy_result parse(const uint8_t *in, size_t len, struct proxy_info *pi, size_t *used)
{
	static const struct proxy_info zero;
	char why[128];
	uint8_t *copy = malloc(len ? len : 1);
	size_t u = 12345;
	struct proxy_info tmp;

	assert_non_null(copy);
	if (len)
		memcpy(copy, in, len);
	memset(&tmp, 0x5a, sizeof(tmp));
	memset(why, 'X', sizeof(why));
	enum proxy_result r = proxy_parse(copy, len, &tmp, &u, why, sizeof(why));
	free(copy);
	assert_true(memchr(why, '\0', sizeof(why)) != NULL);
	switch (r) {
	case PROXY_OK:
		assert_true(u > 0 && u <= len);
		assert_true(tmp.version == 1 || tmp.version == 2);
		assert_string_equal(why, "");
		break;
	case PROXY_NEED_MORE:
		assert_true(len < PROXY_MAX);
		assert_int_equal(u, 0);
		assert_memory_equal(&tmp, &zero, sizeof(tmp));
		assert_string_equal(why, "");
		break;
	case PROXY_BAD:
		assert_int_equal(u, 0);
		assert_memory_equal(&tmp, &zero, sizeof(tmp));
		assert_true(why[0] != '\0');
		break;
	default:
		fail_msg("result %d", (int)r);
	}
	if (pi)
		*pi = tmp;
	if (used)
		*used = u;
	return r;
}

static void assert_addr(const struct sockaddr_storage *ss, socklen_t len, const char *addr,
                        unsigned port)
{
	char text[INET6_ADDRSTRLEN];

	if (strchr(addr, ':')) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		assert_int_equal(ss->ss_family, AF_INET6);
		assert_int_equal(len, sizeof(struct sockaddr_in6));
		assert_non_null(inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof(text)));
		assert_int_equal(ntohs(s6->sin6_port), port);
		assert_int_equal(s6->sin6_flowinfo, 0);
		assert_int_equal(s6->sin6_scope_id, 0);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		assert_int_equal(ss->ss_family, AF_INET);
		assert_int_equal(len, sizeof(struct sockaddr_in));
		assert_non_null(inet_ntop(AF_INET, &s4->sin_addr, text, sizeof(text)));
		assert_int_equal(ntohs(s4->sin_port), port);
	}
	assert_string_equal(text, addr);
}

/* A whole header (and whatever follows) that must parse as HLEN octets. */
static void assert_ok(const uint8_t *in, size_t len, size_t hlen, struct proxy_info *pi)
{
	size_t used;
	enum proxy_result r = parse(in, len, pi, &used);
	if (r != PROXY_OK) {
		char why[128];
		size_t u;
		proxy_parse(in, len, pi, &u, why, sizeof(why));
		fail_msg("not OK (%d): %s", (int)r, why);
	}
	assert_int_equal(used, hlen);
}

/*
 * IN (LEN octets) must be refused exactly from octet AT on (1-based count):
 * every shorter prefix is NEED_MORE, AT and every longer one BAD.  AT = 0
 * skips the prefix check and only requires the whole input to be BAD.
 */
static void assert_bad_at(const uint8_t *in, size_t len, size_t at, const char *label)
{
	for (size_t k = at ? 0 : len; k <= len; k++) {
		enum proxy_result r = parse(in, k, NULL, NULL);
		enum proxy_result want = at && k < at ? PROXY_NEED_MORE : PROXY_BAD;
		if (r != want)
			fail_msg("%s: %zu of %zu octets: %d, want %d", label, k, len, (int)r,
			         (int)want);
	}
}

static void assert_bad(const uint8_t *in, size_t len, const char *label)
{
	assert_bad_at(in, len, 0, label);
}

/*
 * Feed IN one octet more each time, as a slow proxy would: NEED_MORE until
 * the HLEN-octet header is complete, then OK with the same result as the
 * whole buffer gives, however many octets follow.
 */
static void assert_split(const uint8_t *in, size_t len, size_t hlen)
{
	struct proxy_info whole, part;
	size_t used;

	assert_ok(in, len, hlen, &whole);
	for (size_t k = 0; k <= len; k++) {
		enum proxy_result r = parse(in, k, &part, &used);
		if (k < hlen) {
			if (r != PROXY_NEED_MORE)
				fail_msg("%zu of %zu octets: %d, want NEED_MORE", k, hlen, (int)r);
			continue;
		}
		assert_int_equal(r, PROXY_OK);
		assert_int_equal(used, hlen);
		assert_memory_equal(&part, &whole, sizeof(part));
	}
}

/* ------------------------------------------------------------------ */
/* v2 header construction */

static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

struct v2 {
	uint8_t b[2048];
	size_t n;
};

static void v2_start(struct v2 *h, uint8_t vercmd, uint8_t famtp)
{
	memcpy(h->b, sig, 12);
	h->b[12] = vercmd;
	h->b[13] = famtp;
	h->n = 16;
}

static void v2_put(struct v2 *h, const void *p, size_t n)
{
	assert_true(h->n + n <= sizeof(h->b));
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

static void v2_u16(struct v2 *h, unsigned v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	v2_put(h, x, 2);
}

static void v2_tlv(struct v2 *h, uint8_t type, const void *val, size_t n)
{
	v2_put(h, &type, 1);
	v2_u16(h, (unsigned)n);
	v2_put(h, val, n);
}

/* Set the length field from what was put after the 16 fixed octets. */
static void v2_end(struct v2 *h)
{
	h->b[14] = (uint8_t)((h->n - 16) >> 8);
	h->b[15] = (uint8_t)(h->n - 16);
}

static void v2_ipv4(struct v2 *h, const char *src, const char *dst, unsigned sport, unsigned dport)
{
	uint8_t a[4];
	assert_int_equal(inet_pton(AF_INET, src, a), 1);
	v2_put(h, a, 4);
	assert_int_equal(inet_pton(AF_INET, dst, a), 1);
	v2_put(h, a, 4);
	v2_u16(h, sport);
	v2_u16(h, dport);
}

static void v2_ipv6(struct v2 *h, const char *src, const char *dst, unsigned sport, unsigned dport)
{
	uint8_t a[16];
	assert_int_equal(inet_pton(AF_INET6, src, a), 1);
	v2_put(h, a, 16);
	assert_int_equal(inet_pton(AF_INET6, dst, a), 1);
	v2_put(h, a, 16);
	v2_u16(h, sport);
	v2_u16(h, dport);
}

/* CRC-32C written independently of proxy.c: table-driven, reflected. */
static uint32_t crc32c(const uint8_t *p, size_t n)
{
	static uint32_t table[256];
	if (!table[1])
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			table[i] = c;
		}
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < n; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

/* Append a CRC32C TLV and fill it in, as a sender does (spec 2.2.3). */
static void v2_crc(struct v2 *h)
{
	static const uint8_t zero[4];
	v2_tlv(h, 0x03, zero, 4);
	v2_end(h);
	uint32_t c = crc32c(h->b, h->n);
	uint8_t *f = h->b + h->n - 4;
	f[0] = (uint8_t)(c >> 24);
	f[1] = (uint8_t)(c >> 16);
	f[2] = (uint8_t)(c >> 8);
	f[3] = (uint8_t)c;
}

/* Typical HAProxy / AWS NLB TLVs: ALPN, authority, unique id, SSL, custom. */
static void v2_some_tlvs(struct v2 *h)
{
	static const uint8_t ssl[] = {
	    0x01, 0,   0,   0,   0,                            /* client SSL, verified */
	    0x21, 0,   7,   'T', 'L', 'S', 'v', '1', '.', '3', /* version */
	    0x23, 0,   22,  'T', 'L', 'S', '_', 'A', 'E', 'S', '_', '1', '2',
	    '8',  '_', 'G', 'C', 'M', '_', 'S', 'H', 'A', '2', '5', '6'};
	v2_tlv(h, 0x01, "smtp", 4);
	v2_tlv(h, 0x02, "mx.example.com", 14);
	v2_tlv(h, 0x05, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	v2_tlv(h, 0x20, ssl, sizeof(ssl));
	v2_tlv(h, 0xea, "\x01vpce-0123456789abcdef0", 23);
	v2_tlv(h, 0x04, "", 0); /* NOOP, empty */
}

/* ------------------------------------------------------------------ */
/* v1 */

static void test_v1_tcp4(void **state)
{
	struct proxy_info pi;

	assert_ok(S("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"), 47, &pi);
	assert_int_equal(pi.version, 1);
	assert_int_equal(pi.local, 0);
	assert_addr(&pi.src, pi.srclen, "192.168.0.1", 56324);
	assert_addr(&pi.dst, pi.dstlen, "192.168.0.11", 443);

	/* the longest TCP4 line (spec 2.1: 56 octets) and the smallest values */
	assert_ok(S("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"), 56, &pi);
	assert_addr(&pi.src, pi.srclen, "255.255.255.255", 65535);
	assert_addr(&pi.dst, pi.dstlen, "255.255.255.255", 65535);
	assert_ok(S("PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n"), 32, &pi);
	assert_addr(&pi.src, pi.srclen, "0.0.0.0", 0);
	assert_addr(&pi.dst, pi.dstlen, "0.0.0.0", 0);
	assert_ok(S("PROXY TCP4 10.20.30.40 100.200.0.9 1 10\r\n"), 41, &pi);
	assert_addr(&pi.src, pi.srclen, "10.20.30.40", 1);
	assert_addr(&pi.dst, pi.dstlen, "100.200.0.9", 10);
}

static void test_v1_tcp6(void **state)
{
	struct proxy_info pi;

	assert_ok(S("PROXY TCP6 2001:db8::1 2001:db8::25 40000 25\r\n"), 46, &pi);
	assert_int_equal(pi.version, 1);
	assert_int_equal(pi.local, 0);
	assert_addr(&pi.src, pi.srclen, "2001:db8::1", 40000);
	assert_addr(&pi.dst, pi.dstlen, "2001:db8::25", 25);

	/* the longest TCP6 line of the spec: 104 octets */
	static const char full[] = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	                           "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	assert_int_equal(sizeof(full) - 1, 104);
	assert_ok(S(full), 104, &pi);
	assert_addr(&pi.src, pi.srclen, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);

	/* upper case, leading zeros inside groups, "::" forms, mapped form */
	assert_ok(S("PROXY TCP6 2001:DB8:0:0:0:0:0:0001 :: 1 2\r\n"), 43, &pi);
	assert_addr(&pi.src, pi.srclen, "2001:db8::1", 1);
	assert_addr(&pi.dst, pi.dstlen, "::", 2);
	assert_ok(S("PROXY TCP6 ::ffff:192.0.2.7 ::ffff:c000:202 5000 25\r\n"), 53, &pi);
	assert_addr(&pi.src, pi.srclen, "::ffff:192.0.2.7", 5000);
	assert_addr(&pi.dst, pi.dstlen, "::ffff:192.0.2.2", 25);
	assert_ok(S("PROXY TCP6 fe80::1 ::1 65535 0\r\n"), 32, &pi);
	assert_addr(&pi.src, pi.srclen, "fe80::1", 65535);
}

static void test_v1_unknown(void **state)
{
	static const struct proxy_info zero;
	struct proxy_info pi;

	assert_ok(S("PROXY UNKNOWN\r\n"), 15, &pi);
	assert_int_equal(pi.version, 1);
	assert_int_equal(pi.local, 1);
	assert_int_equal(pi.srclen, 0);
	assert_int_equal(pi.dstlen, 0);
	assert_memory_equal(&pi.src, &zero.src, sizeof(pi.src));

	/* spec 2.1: whatever follows UNKNOWN is ignored, up to 107 octets */
	static const char worst[] = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	                            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	assert_int_equal(sizeof(worst) - 1, PROXY_V1_MAX);
	assert_ok(S(worst), PROXY_V1_MAX, &pi);
	assert_int_equal(pi.local, 1);
	assert_ok(S("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n"), 35, &pi);
	assert_int_equal(pi.local, 1);
	assert_ok(S("PROXY UNKNOWN  anything at all: ~!@#$%^&*() \r\n"), 46, &pi);
	assert_int_equal(pi.local, 1);
	assert_ok(S("PROXY UNKNOWN \r\n"), 16, &pi);
	assert_int_equal(pi.local, 1);
}

static void test_v1_trailing(void **state)
{
	static const char in[] = "PROXY TCP4 203.0.113.9 192.0.2.25 61000 25\r\n"
	                         "EHLO client.example\r\nMAIL FROM:<a@b>\r\n";
	struct proxy_info pi;

	assert_ok(S(in), 44, &pi);
	assert_addr(&pi.src, pi.srclen, "203.0.113.9", 61000);
	assert_ok(S("PROXY UNKNOWN\r\nQUIT\r\n"), 15, &pi);
	/* a second header is just data for the SMTP parser */
	assert_ok(S("PROXY UNKNOWN\r\nPROXY UNKNOWN\r\n"), 15, &pi);
	/* octets after the CRLF are not looked at, whatever they are */
	assert_ok(S("PROXY TCP6 ::1 ::1 1 2\r\n\0\xff\r\n"), 24, &pi);
}

static void test_v1_split(void **state)
{
	assert_split(S("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nEHLO x\r\n"), 47);
	assert_split(S("PROXY TCP6 2001:db8::1 2001:db8::25 40000 25\r\nEHLO x\r\n"), 46);
	assert_split(S("PROXY UNKNOWN\r\nEHLO x\r\n"), 15);
	assert_split(S("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n"), 35);
	assert_split(S("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n\r\n"), 56);
}

static void test_v1_malformed(void **state)
{
	static const char *const bad[] = {
	    /* line structure */
	    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n",
	    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\r\n",
	    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\rX",
	    "PROXY TCP4 192.168.0.1\n192.168.0.11 56324 443\r\n",
	    "PROXY UNKNOWN\n",
	    "PROXY UNKNOWN\rX",
	    "PROXY\r\n",
	    "PROXY \r\n",
	    "PROXY  TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
	    "PROXY\tTCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
	    "proxy TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
	    " PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
	    "PROXY tcp4 192.168.0.1 192.168.0.11 56324 443\r\n",
	    "PROXY TCP5 192.168.0.1 192.168.0.11 56324 443\r\n",
	    "PROXY UDP4 192.168.0.1 192.168.0.11 56324 443\r\n",
	    "PROXY TCP 192.168.0.1 192.168.0.11 56324 443\r\n",
	    "PROXY TCP4\r\n",
	    "PROXY TCP4 \r\n",
	    "PROXY TCP6\r\n",
	    "PROXY UNKNOWNX\r\n",
	    "PROXY UNKNOWN\t\r\n",
	    "PROXY UNKNOWN \x01\r\n",
	    "PROXY UNKNOWN \x7f\r\n",
	    "PROXY UNKNOWN \x80\r\n",
	    "PROXY UNKNOW\r\n",
	    /* fields and spaces */
	    "PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n",
	    "PROXY TCP4 192.168.0.1 192.168.0.11\r\n",
	    "PROXY TCP4 192.168.0.1\r\n",
	    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 25\r\n",
	    "PROXY TCP4 192.168.0.1  192.168.0.11 56324 443\r\n",
	    "PROXY TCP4  192.168.0.1 192.168.0.11 56324 443\r\n",
	    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n",
	    "PROXY TCP4 192.168.0.1 192.168.0.11 56324  443\r\n",
	    "PROXY TCP4 192.168.0.1\t192.168.0.11 56324 443\r\n",
	    /* IPv4 syntax */
	    "PROXY TCP4 192.168.0.01 192.168.0.11 56324 443\r\n",
	    "PROXY TCP4 01.2.3.4 192.168.0.11 56324 443\r\n",
	    "PROXY TCP4 00.2.3.4 192.168.0.11 56324 443\r\n",
	    "PROXY TCP4 256.2.3.4 192.168.0.11 56324 443\r\n",
	    "PROXY TCP4 1.2.3.1000 192.168.0.11 56324 443\r\n",
	    "PROXY TCP4 1.2.3 192.168.0.11 56324 443\r\n",
	    "PROXY TCP4 1.2.3.4.5 192.168.0.11 56324 443\r\n",
	    "PROXY TCP4 1..3.4 192.168.0.11 56324 443\r\n",
	    "PROXY TCP4 .1.2.3 192.168.0.11 56324 443\r\n",
	    "PROXY TCP4 1.2.3.4. 192.168.0.11 56324 443\r\n",
	    "PROXY TCP4 1.2.3.4 192.168.0.256 56324 443\r\n",
	    "PROXY TCP4 1.2.3.4 1.2.3 56324 443\r\n",
	    "PROXY TCP4 0x1.2.3.4 192.168.0.11 56324 443\r\n",
	    "PROXY TCP4 ::1 192.168.0.11 56324 443\r\n",
	    "PROXY TCP4 1.2.3.4 ::1 56324 443\r\n",
	    "PROXY TCP4 a.b.c.d 192.168.0.11 56324 443\r\n",
	    /* ports */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 0443 25\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 443 025\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 00 25\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 65536 25\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 25 65536\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 99999 25\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 100000 25\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 -1 25\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 +1 25\r\n",
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1.0 25\r\n",
	    "PROXY TCP6 ::1 ::2 1a 25\r\n",
	    "PROXY TCP6 ::1 ::2 25 0x19\r\n",
	    "PROXY TCP6 ::1 ::2 25 :25\r\n",
	    /* IPv6 syntax */
	    "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
	    "PROXY TCP6 ::1 1.2.3.4 1 2\r\n",
	    "PROXY TCP6 2001:db8:::1 ::1 1 2\r\n",
	    "PROXY TCP6 2001:db8::1::2 ::1 1 2\r\n",
	    "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
	    "PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n",
	    "PROXY TCP6 12345:: ::1 1 2\r\n",
	    "PROXY TCP6 :1:: ::1 1 2\r\n",
	    "PROXY TCP6 ::ffff:01.2.3.4 ::1 1 2\r\n",
	    "PROXY TCP6 ::ffff:1.2.3.4.5 ::1 1 2\r\n",
	    "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
	    "PROXY TCP6 [::1] ::1 1 2\r\n",
	    "PROXY TCP6 ::g ::1 1 2\r\n",
	    "PROXY TCP6 : ::1 1 2\r\n",
	    /* 46 octets: longer than any IPv6 text, though the line fits */
	    "PROXY TCP6 0000:0000:0000:0000:0000:0000:0000:0000:000000 ::1 1 2\r\n",
	    "PROXY TCP6 ::1 0000:0000:0000:0000:0000:0000:000.000.000.000 1 2\r\n",
	    /* too long: 108 octets, two 45-octet addresses */
	    "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655355\r\n",
	    "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 1 2\r\n",
	    /* other protocols */
	    "EHLO client.example\r\n",
	    "GET / HTTP/1.1\r\n",
	    "PRXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
	    "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
	};
	char label[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i]);
		snprintf(label, sizeof(label), "case %zu \"%.100s\"", i, bad[i]);
		assert_bad((const uint8_t *)bad[i], n, label);
		/* nothing else but its prefixes is OK either */
		for (size_t k = 0; k < n; k++)
			assert_int_not_equal(parse((const uint8_t *)bad[i], k, NULL, NULL),
			                     PROXY_OK);
	}
	assert_bad(S("PROXY UNKNOWN \0\r\n"), "NUL");
	assert_bad(S("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n"), "NUL in TCP4");
}

static void test_v1_early(void **state)
{
	/* refused at the first octet that rules the header out */
	assert_bad_at(S("EHLO client.example\r\n"), 1, "EHLO");
	assert_bad_at(S("HELO x\r\n"), 1, "HELO");
	assert_bad_at(S("\x16\x03\x01\x02\x00"), 1, "TLS ClientHello");
	assert_bad_at(S("PROXZ"), 5, "PROXZ");
	assert_bad_at(S("PROXYX"), 6, "PROXYX");
	assert_bad_at(S("PROXY  "), 7, "double space");
	assert_bad_at(S("PROXY TCP5 "), 10, "TCP5");
	assert_bad_at(S("PROXY TCP4\r\n"), 11, "TCP4 CR");
	assert_bad_at(S("PROXY UNKNOWNX"), 14, "UNKNOWNX");
	assert_bad_at(S("PROXY UNKNOWN\n"), 14, "UNKNOWN LF");
	assert_bad_at(S("PROXY UNKNOWN\rX"), 15, "UNKNOWN CR X");
	assert_bad_at(S("PROXY TCP4 1.2.3.a"), 18, "hex in TCP4");
	assert_bad_at(S("PROXY TCP4 1.2.3.4:"), 19, "colon in TCP4");
	assert_bad_at(S("PROXY TCP6 ::1 ::g"), 18, "g in TCP6");
	assert_bad_at(S("PROXY TCP6 ::1\t"), 15, "tab in TCP6");
	assert_bad_at(S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), 31, "LF");
	/* field errors are found at the CRLF */
	assert_bad_at(S("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n"), 36, "port at CRLF");

	/* no CR by offset 105: refused at 106 octets, without waiting for 107 */
	uint8_t in[200];
	memcpy(in, "PROXY UNKNOWN ", 14);
	memset(in + 14, 'a', sizeof(in) - 14);
	assert_bad_at(in, sizeof(in), PROXY_V1_MAX - 1, "no CRLF");
	/* CR at offset 105 is the last that fits (107 octets) */
	in[105] = '\r';
	in[106] = '\n';
	assert_ok(in, sizeof(in), PROXY_V1_MAX, NULL);
	assert_split(in, sizeof(in), PROXY_V1_MAX);
	/* CR at offset 106 would make 108 */
	in[105] = 'a';
	in[106] = '\r';
	in[107] = '\n';
	assert_bad_at(in, sizeof(in), PROXY_V1_MAX - 1, "108 octets");
	assert_bad_at(S("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
	                "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 1 2\r\n"),
	              PROXY_V1_MAX - 1, "long TCP6");

	/* prefixes of valid headers wait */
	static const char *const wait[] = {"P",
	                                   "PRO",
	                                   "PROXY",
	                                   "PROXY ",
	                                   "PROXY T",
	                                   "PROXY TCP",
	                                   "PROXY TCP4",
	                                   "PROXY U",
	                                   "PROXY UNKNOWN",
	                                   "PROXY UNKNOWN\r",
	                                   "PROXY TCP4 1.2.3.4 5.6.7.8 1 2",
	                                   "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r",
	                                   "PROXY TCP6 ::1",
	                                   "PROXY UNKNOWN junk"};
	for (size_t i = 0; i < sizeof(wait) / sizeof(wait[0]); i++)
		if (parse((const uint8_t *)wait[i], strlen(wait[i]), NULL, NULL) != PROXY_NEED_MORE)
			fail_msg("\"%s\" should wait", wait[i]);
	assert_int_equal(parse(NULL, 0, NULL, NULL), PROXY_NEED_MORE);
}

/* ------------------------------------------------------------------ */
/* v2 */

static void test_v2_ipv4(void **state)
{
	struct proxy_info pi;
	struct v2 h;

	v2_start(&h, 0x21, 0x11);
	v2_ipv4(&h, "198.51.100.7", "192.0.2.25", 50123, 25);
	v2_end(&h);
	assert_int_equal(h.n, 28);
	assert_ok(h.b, h.n, 28, &pi);
	assert_int_equal(pi.version, 2);
	assert_int_equal(pi.local, 0);
	assert_addr(&pi.src, pi.srclen, "198.51.100.7", 50123);
	assert_addr(&pi.dst, pi.dstlen, "192.0.2.25", 25);
	assert_split(h.b, h.n, 28);

	/* with TLVs, then the client's EHLO */
	v2_start(&h, 0x21, 0x11);
	v2_ipv4(&h, "198.51.100.7", "192.0.2.25", 65535, 0);
	v2_some_tlvs(&h);
	v2_end(&h);
	size_t hlen = h.n;
	v2_put(&h, "EHLO x\r\n", 8);
	assert_ok(h.b, h.n, hlen, &pi);
	assert_addr(&pi.src, pi.srclen, "198.51.100.7", 65535);
	assert_addr(&pi.dst, pi.dstlen, "192.0.2.25", 0);
	assert_split(h.b, h.n, hlen);
}

static void test_v2_ipv6(void **state)
{
	struct proxy_info pi;
	struct v2 h;

	v2_start(&h, 0x21, 0x21);
	v2_ipv6(&h, "2001:db8::dead:beef", "2001:db8::25", 1025, 587);
	v2_end(&h);
	assert_int_equal(h.n, 52);
	assert_ok(h.b, h.n, 52, &pi);
	assert_int_equal(pi.local, 0);
	assert_addr(&pi.src, pi.srclen, "2001:db8::dead:beef", 1025);
	assert_addr(&pi.dst, pi.dstlen, "2001:db8::25", 587);

	v2_start(&h, 0x21, 0x21);
	v2_ipv6(&h, "::ffff:192.0.2.9", "::1", 1, 2);
	v2_some_tlvs(&h);
	v2_crc(&h);
	size_t hlen = h.n;
	v2_put(&h, "EHLO x\r\n", 8);
	assert_ok(h.b, h.n, hlen, &pi);
	assert_addr(&pi.src, pi.srclen, "::ffff:192.0.2.9", 1);
	assert_addr(&pi.dst, pi.dstlen, "::1", 2);
	assert_split(h.b, h.n, hlen);
}

static void test_v2_local(void **state)
{
	struct proxy_info pi;
	struct v2 h;

	/* a health check: LOCAL, UNSPEC, no address */
	v2_start(&h, 0x20, 0x00);
	v2_end(&h);
	assert_ok(h.b, h.n, 16, &pi);
	assert_int_equal(pi.version, 2);
	assert_int_equal(pi.local, 1);
	assert_int_equal(pi.srclen, 0);
	assert_int_equal(pi.dstlen, 0);
	assert_split(h.b, h.n, 16);

	/* LOCAL skips whatever block it carries, and ignores the family */
	v2_start(&h, 0x20, 0x11);
	v2_ipv4(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_end(&h);
	assert_ok(h.b, h.n, 28, &pi);
	assert_int_equal(pi.local, 1);
	assert_int_equal(pi.srclen, 0);
	v2_start(&h, 0x20, 0xff);
	v2_put(&h, "\x01\x02\x03", 3); /* not even TLVs */
	v2_end(&h);
	v2_put(&h, "QUIT\r\n", 6);
	assert_ok(h.b, h.n, 19, &pi);
	assert_int_equal(pi.local, 1);
	assert_split(h.b, h.n, 19);
}

static void test_v2_unknown_families(void **state)
{
	struct proxy_info pi;
	struct v2 h;
	uint8_t path[108];

	/* PROXY with AF_UNSPEC: accepted, addresses ignored */
	v2_start(&h, 0x21, 0x00);
	v2_end(&h);
	assert_ok(h.b, h.n, 16, &pi);
	assert_int_equal(pi.local, 1);
	v2_start(&h, 0x21, 0x01);
	v2_put(&h, "ignored", 7);
	v2_end(&h);
	assert_ok(h.b, h.n, 23, &pi);
	assert_int_equal(pi.local, 1);
	v2_start(&h, 0x21, 0x02); /* UNSPEC family, DGRAM: still no address */
	v2_end(&h);
	assert_ok(h.b, h.n, 16, &pi);
	assert_int_equal(pi.local, 1);

	/* INET with an UNSPEC transport: no usable address, block skipped */
	v2_start(&h, 0x21, 0x10);
	v2_put(&h, "\x01\x02", 2);
	v2_end(&h);
	assert_ok(h.b, h.n, 18, &pi);
	assert_int_equal(pi.local, 1);

	/* AF_UNIX stream: accepted as unknown, TLVs checked */
	memset(path, 0, sizeof(path));
	memcpy(path, "/run/haproxy.sock", 17);
	v2_start(&h, 0x21, 0x31);
	v2_put(&h, path, sizeof(path));
	v2_put(&h, path, sizeof(path));
	v2_end(&h);
	assert_ok(h.b, h.n, 16 + 216, &pi);
	assert_int_equal(pi.local, 1);
	assert_int_equal(pi.srclen, 0);
	v2_tlv(&h, 0x02, "mx", 2);
	v2_end(&h);
	assert_ok(h.b, h.n, 16 + 216 + 5, &pi);
	v2_put(&h, "\x02\x00", 2);
	v2_end(&h);
	assert_bad(h.b, h.n, "AF_UNIX bad TLV");
	v2_start(&h, 0x21, 0x31);
	v2_put(&h, path, sizeof(path));
	v2_put(&h, path, sizeof(path) - 1);
	v2_end(&h);
	assert_bad(h.b, h.n, "AF_UNIX short");
}

static void test_v2_tlv_bounds(void **state)
{
	struct proxy_info pi;
	struct v2 h;
	static uint8_t big[PROXY_V2_MAX];

	/* the largest header we take: 1536 octets */
	v2_start(&h, 0x21, 0x11);
	v2_ipv4(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_tlv(&h, 0x04, big, PROXY_V2_MAX - 28 - 3);
	v2_end(&h);
	assert_int_equal(h.n, PROXY_V2_MAX);
	assert_ok(h.b, h.n, PROXY_V2_MAX, &pi);
	assert_addr(&pi.src, pi.srclen, "1.2.3.4", 1);

	/* one more is refused as soon as the length field is in */
	v2_put(&h, "", 1);
	h.b[h.n - 1] = 0;
	h.b[28 + 2] = (uint8_t)(h.b[28 + 2] + 1); /* the TLV grows with it */
	v2_end(&h);
	assert_int_equal(h.n, PROXY_V2_MAX + 1);
	assert_bad_at(h.b, h.n, 16, "1537 octets");

	/* the largest length field */
	v2_start(&h, 0x21, 0x11);
	h.b[14] = 0xff;
	h.b[15] = 0xff;
	assert_bad_at(h.b, 16, 16, "length 65535");

	/* TLVs must tile the rest exactly */
	static const struct {
		const char *tail;
		size_t n;
	} tails[] = {
	    {"\x04", 1},                 /* type only */
	    {"\x04\x00", 2},             /* half a length */
	    {"\x04\x00\x01", 3},         /* value missing */
	    {"\004\000\005abcd", 7},     /* value one short */
	    {"\x04\x00\x00\x00", 4},     /* stray octet after a TLV */
	    {"\x04\x00\x00\x00\x00", 5}, /* two stray octets */
	    {"\xff\xff\xff", 3},         /* length 65535 */
	};
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		char label[32];
		snprintf(label, sizeof(label), "tail %zu", i);
		v2_start(&h, 0x21, 0x11);
		v2_ipv4(&h, "1.2.3.4", "5.6.7.8", 1, 2);
		v2_put(&h, tails[i].tail, tails[i].n);
		v2_end(&h);
		v2_put(&h, "EHLO x\r\n", 8); /* never read as TLV */
		assert_bad_at(h.b, h.n, h.n - 8, label);
	}

	/* zero-length TLVs and every type are fine */
	v2_start(&h, 0x21, 0x21);
	v2_ipv6(&h, "::1", "::2", 3, 4);
	for (unsigned t = 0; t < 256; t++)
		if (t != 0x03)
			v2_tlv(&h, (uint8_t)t, "", 0);
	v2_end(&h);
	assert_ok(h.b, h.n, h.n, &pi);
}

static void test_v2_crc32c(void **state)
{
	struct proxy_info pi;
	struct v2 h;

	/* the helper itself: RFC 3720 B.4 check value */
	assert_int_equal(crc32c((const uint8_t *)"123456789", 9), 0xe3069283u);

	v2_start(&h, 0x21, 0x11);
	v2_ipv4(&h, "198.51.100.7", "192.0.2.25", 50123, 25);
	v2_crc(&h);
	assert_ok(h.b, h.n, h.n, &pi);
	assert_addr(&pi.src, pi.srclen, "198.51.100.7", 50123);

	/* CRC first, TLVs after it */
	v2_start(&h, 0x21, 0x11);
	v2_ipv4(&h, "198.51.100.7", "192.0.2.25", 50123, 25);
	v2_tlv(&h, 0x03, "\0\0\0\0", 4);
	v2_some_tlvs(&h);
	v2_end(&h);
	uint32_t c = crc32c(h.b, h.n);
	uint8_t *f = h.b + 28 + 3;
	f[0] = (uint8_t)(c >> 24);
	f[1] = (uint8_t)(c >> 16);
	f[2] = (uint8_t)(c >> 8);
	f[3] = (uint8_t)c;
	assert_ok(h.b, h.n, h.n, &pi);
	/* any flipped bit in the header breaks it: addresses, TLVs, the CRC */
	for (size_t i = 16; i < h.n; i++) {
		if (i >= 28 && i < 28 + 3)
			continue; /* the CRC TLV's own type/length: a different error */
		h.b[i] ^= 0x10;
		assert_bad(h.b, h.n, "flipped");
		h.b[i] ^= 0x10;
	}
	assert_ok(h.b, h.n, h.n, &pi);

	/* wrong CRC length; a second CRC TLV (the first one covers it) */
	v2_start(&h, 0x21, 0x11);
	v2_ipv4(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_tlv(&h, 0x03, "\0\0\0", 3);
	v2_end(&h);
	assert_bad(h.b, h.n, "CRC length 3");
	v2_start(&h, 0x21, 0x11);
	v2_ipv4(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_crc(&h);
	memcpy(h.b + h.n, h.b + 28, 7);
	h.n += 7;
	v2_end(&h);
	assert_bad(h.b, h.n, "two CRCs");
}

static void test_v2_malformed(void **state)
{
	struct v2 h;

	/* every octet of the signature matters, from the first */
	for (size_t i = 0; i < 12; i++) {
		v2_start(&h, 0x21, 0x11);
		v2_ipv4(&h, "1.2.3.4", "5.6.7.8", 1, 2);
		v2_end(&h);
		h.b[i] ^= 0x01;
		assert_bad_at(h.b, h.n, i + 1, "signature");
	}
	/* version, command, family, transport: refused at their octet */
	static const struct {
		uint8_t vercmd, famtp;
		size_t at;
	} cases[] = {
	    {0x11, 0x11, 13},                   /* version 1 */
	    {0x31, 0x11, 13},                   /* version 3 */
	    {0x01, 0x11, 13},                   /* version 0 */
	    {0xf1, 0x11, 13}, {0x22, 0x11, 13}, /* command 2 */
	    {0x2f, 0x11, 13}, {0x21, 0x41, 14}, /* family 4 */
	    {0x21, 0xf1, 14}, {0x21, 0x13, 14}, /* transport 3 */
	    {0x21, 0x1f, 14}, {0x21, 0x12, 14}, /* UDP over IPv4 */
	    {0x21, 0x22, 14},                   /* UDP over IPv6 */
	    {0x21, 0x32, 14},                   /* UNIX datagram */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char label[32];
		snprintf(label, sizeof(label), "%02x %02x", cases[i].vercmd, cases[i].famtp);
		v2_start(&h, cases[i].vercmd, cases[i].famtp);
		v2_ipv4(&h, "1.2.3.4", "5.6.7.8", 1, 2);
		v2_end(&h);
		assert_bad_at(h.b, h.n, cases[i].at, label);
	}

	/* address blocks shorter than the family needs */
	for (size_t n = 0; n < 12; n++) {
		v2_start(&h, 0x21, 0x11);
		v2_put(&h, "\1\2\3\4\5\6\7\x08\x09\x0a\x0b", n);
		v2_end(&h);
		assert_bad_at(h.b, h.n, h.n, "short IPv4 block");
	}
	for (size_t n = 12; n < 36; n += 5) {
		uint8_t z[36] = {0};
		v2_start(&h, 0x21, 0x21);
		v2_put(&h, z, n);
		v2_end(&h);
		assert_bad_at(h.b, h.n, h.n, "short IPv6 block");
	}
	/* an IPv4 block claiming IPv6 */
	v2_start(&h, 0x21, 0x21);
	v2_ipv4(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_end(&h);
	assert_bad(h.b, h.n, "IPv4 block as IPv6");
	/* an IPv6 block read as IPv4 leaves 24 octets that are no TLVs */
	v2_start(&h, 0x21, 0x11);
	v2_ipv6(&h, "2001:db8::1", "2001:db8::2", 1, 2);
	v2_end(&h);
	assert_bad(h.b, h.n, "IPv6 block as IPv4");

	/* a truncated header is not BAD, only incomplete */
	v2_start(&h, 0x21, 0x11);
	v2_ipv4(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_end(&h);
	for (size_t k = 0; k < h.n; k++)
		assert_int_equal(parse(h.b, k, NULL, NULL), PROXY_NEED_MORE);

	/* v1 text after the v2 signature start */
	assert_bad_at(S("\r\nPROXY TCP4"), 3, "CRLF then PROXY");
	assert_bad_at(S("\r\n\r\nQUIT"), 5, "blank lines");
}

/* ------------------------------------------------------------------ */
/* whole-contract checks */

/* The reason logged for IN (LEN octets), which must be BAD. */
static const char *reason(const uint8_t *in, size_t len)
{
	static char why[128];
	struct proxy_info pi;
	size_t used;

	assert_int_equal(proxy_parse(in, len, &pi, &used, why, sizeof(why)), PROXY_BAD);
	return why;
}

static void test_reasons(void **state)
{
	struct v2 h;

	assert_string_equal(reason(S("EHLO")), "not a PROXY protocol header");
	assert_string_equal(reason(S("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n")),
	                    "PROXY v1: empty field (extra space)");
	assert_string_equal(reason(S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n")),
	                    "PROXY v1: empty field (extra space)");
	assert_string_equal(reason(S("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n")),
	                    "PROXY v1: missing fields");
	assert_string_equal(reason(S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n")),
	                    "PROXY v1: too many fields");
	assert_string_equal(reason(S("PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n")),
	                    "PROXY v1: bad source address");
	assert_string_equal(reason(S("PROXY TCP6 ::1 :::2 1 2\r\n")),
	                    "PROXY v1: bad destination address");
	assert_string_equal(reason(S("PROXY TCP6 ::1 ::2 01 2\r\n")), "PROXY v1: bad source port");
	assert_string_equal(reason(S("PROXY TCP6 ::1 ::2 1 65536\r\n")),
	                    "PROXY v1: bad destination port");
	assert_string_equal(reason(S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r")),
	                    "PROXY v1: CR without LF");
	assert_string_equal(reason(S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n")),
	                    "PROXY v1: LF without CR");
	assert_string_equal(reason(S("PROXY SCTP")),
	                    "PROXY v1: unknown protocol (not TCP4, TCP6, UNKNOWN)");
	assert_string_equal(reason(S("\r\n\r\n\0\r\nQUIT\n\x10")), "PROXY v2: version is not 2");
	assert_string_equal(reason(S("\r\n\r\n\0\r\nQUIT\n\x21\x12")),
	                    "PROXY v2: datagram transport on a stream service");
	v2_start(&h, 0x21, 0x11);
	v2_ipv4(&h, "1.2.3.4", "5.6.7.8", 1, 2);
	v2_tlv(&h, 0x03, "\0\0\0\0", 4);
	v2_end(&h);
	assert_string_equal(reason(h.b, h.n), "PROXY v2: CRC32C mismatch");
}

static void test_why_buffer(void **state)
{
	struct proxy_info pi;
	size_t used;
	char why[8];

	/* WHY may be NULL or tiny; it is cut, never overrun */
	assert_int_equal(proxy_parse(S("EHLO x\r\n"), &pi, &used, NULL, 0), PROXY_BAD);
	memset(why, 'X', sizeof(why));
	assert_int_equal(proxy_parse(S("EHLO x\r\n"), &pi, &used, why, 5), PROXY_BAD);
	assert_string_equal(why, "not ");
	assert_int_equal(why[5], 'X');
	memset(why, 'X', sizeof(why));
	assert_int_equal(proxy_parse(S("EHLO x\r\n"), &pi, &used, why, 1), PROXY_BAD);
	assert_string_equal(why, "");
	assert_int_equal(why[1], 'X');
	why[0] = 'X';
	assert_int_equal(proxy_parse(S("EHLO x\r\n"), &pi, &used, why, 0), PROXY_BAD);
	assert_int_equal(why[0], 'X');
	/* an earlier reason does not survive a later call */
	char w[64];
	assert_int_equal(proxy_parse(S("EHLO"), &pi, &used, w, sizeof(w)), PROXY_BAD);
	assert_int_equal(proxy_parse(S("PROXY UNKNOWN\r\n"), &pi, &used, w, sizeof(w)), PROXY_OK);
	assert_string_equal(w, "");
}

/*
 * Random inputs near valid headers: mutations of real ones and raw noise.
 * For every input, every prefix is checked against the whole: once a prefix
 * is OK or BAD, every longer one agrees (same header, same addresses).
 */
static void test_random(void **state)
{
	static const char *const v1[] = {
	    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nEHLO x\r\n",
	    "PROXY TCP6 2001:db8::1 2001:db8::25 40000 25\r\n",
	    "PROXY UNKNOWN\r\n",
	    "PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n",
	};
	static uint8_t in[2048];
	struct v2 h;
	int ok = 0, badn = 0;

	rng_seed(7);
	for (int iter = 0; iter < 4000; iter++) {
		size_t n;
		switch (rng_below(4)) {
		case 0:
			n = strlen(v1[iter % 4]);
			memcpy(in, v1[iter % 4], n);
			break;
		case 1:
			v2_start(&h, 0x21, iter & 1 ? 0x11 : 0x21);
			if (iter & 1)
				v2_ipv4(&h, "1.2.3.4", "5.6.7.8", 1, 2);
			else
				v2_ipv6(&h, "::1", "::2", 1, 2);
			if (iter & 2)
				v2_some_tlvs(&h);
			if (iter & 4)
				v2_crc(&h);
			v2_end(&h);
			n = h.n;
			memcpy(in, h.b, n);
			break;
		case 2:
			n = rng_below(200);
			for (size_t i = 0; i < n; i++)
				in[i] =
				    (uint8_t) "PROXY TCP46UNKOW0123456789abcdef:. \r\n"[rng_below(
				        37)];
			break;
		default:
			n = rng_below(300);
			for (size_t i = 0; i < n; i++)
				in[i] = (uint8_t)rng_next();
			if (n >= 12 && rng_below(2))
				memcpy(in, sig, 12);
			break;
		}
		/* a few mutations */
		for (size_t m = rng_below(4); m > 0 && n > 0; m--)
			in[rng_below(n)] = (uint8_t)rng_next();

		struct proxy_info first;
		size_t first_used = 0;
		enum proxy_result settled = PROXY_NEED_MORE;
		for (size_t k = 0; k <= n; k++) {
			struct proxy_info pi;
			size_t used;
			enum proxy_result r = parse(in, k, &pi, &used);
			if (settled == PROXY_NEED_MORE) {
				settled = r;
				first = pi;
				first_used = used;
				continue;
			}
			assert_int_equal(r, settled);
			if (r == PROXY_OK) {
				assert_int_equal(used, first_used);
				assert_memory_equal(&pi, &first, sizeof(pi));
			}
		}
		ok += settled == PROXY_OK;
		badn += settled == PROXY_BAD;
	}
	/* the mix exercises both outcomes */
	assert_true(ok > 500);
	assert_true(badn > 500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v1_tcp4),
	    cmocka_unit_test(test_v1_tcp6),
	    cmocka_unit_test(test_v1_unknown),
	    cmocka_unit_test(test_v1_trailing),
	    cmocka_unit_test(test_v1_split),
	    cmocka_unit_test(test_v1_malformed),
	    cmocka_unit_test(test_v1_early),
	    cmocka_unit_test(test_v2_ipv4),
	    cmocka_unit_test(test_v2_ipv6),
	    cmocka_unit_test(test_v2_local),
	    cmocka_unit_test(test_v2_unknown_families),
	    cmocka_unit_test(test_v2_tlv_bounds),
	    cmocka_unit_test(test_v2_crc32c),
	    cmocka_unit_test(test_v2_malformed),
	    cmocka_unit_test(test_reasons),
	    cmocka_unit_test(test_why_buffer),
	    cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
