/*
 * fuzz_proxy.c - libFuzzer target for proxy.c and cidr.c.  The input is
 * parsed as a PROXY header; whatever follows a complete header (or the whole
 * input, when there is none) is read as a network list, and a client
 * address (the header's, else one made from the first input octets) is
 * looked up in it.
 *
 * Invariants checked (abort() on failure):
 *  - proxy_parse: consumed <= len and non-zero exactly on OK; OK means
 *    version 1 or 2 and either local with no addresses, or src and dst of
 *    one family, AF_INET or AF_INET6, with the matching length; never
 *    NEED_MORE with PROXY_MAX octets; a prefix of the input never disagrees
 *    with the whole once it has decided; a parsed address written back as a
 *    v1 line and as a v2 header parses to the same addresses.
 *  - cidr: canonical text parses back to the same network, host bits are
 *    zero, lists round-trip through cidr_list_format, cidr_best is the
 *    longest match, and the per-client key is itself a network holding the
 *    client.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "cidr.h"
#include "proxy.h"



/* ------------------------------------------------------------------ */
/* PROXY */

static enum proxy_result parse_checked(const uint8_t *buf, size_t len, struct proxy_info *pi,
                                       size_t *used)
{
	char why[96];
	enum proxy_result r = proxy_parse(buf, len, pi, used, why, sizeof(why));

	CHECK(memchr(why, '\0', sizeof(why)) != NULL);
	CHECK(*used <= len);
	CHECK(r == PROXY_OK || r == PROXY_NEED_MORE || r == PROXY_BAD);
	CHECK((r == PROXY_OK) == (*used > 0));
	CHECK((r == PROXY_BAD) == (why[0] != '\0'));
	CHECK(r != PROXY_NEED_MORE || len < PROXY_MAX);
	if (r != PROXY_OK)
		return r;
	CHECK(pi->version == 1 || pi->version == 2);
	CHECK(pi->version != 1 || *used <= PROXY_V1_MAX);
	CHECK(pi->version != 2 || (*used >= 16 && *used <= PROXY_V2_MAX));
	if (pi->local) {
		CHECK(pi->srclen == 0 && pi->dstlen == 0);
		CHECK(pi->src.ss_family == 0 && pi->dst.ss_family == 0);
	} else {
		int fam = pi->src.ss_family;
		CHECK(fam == AF_INET || fam == AF_INET6);
		CHECK(pi->dst.ss_family == fam);
		socklen_t want =
		    fam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		CHECK(pi->srclen == want && pi->dstlen == want);
	}
	return r;
}

static int same_addrs(const struct proxy_info *a, const struct proxy_info *b)
{
	return a->local == b->local && a->srclen == b->srclen && a->dstlen == b->dstlen &&
	       memcmp(&a->src, &b->src, sizeof(a->src)) == 0 &&
	       memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0;
}

/*
 * Prefixes of the input: NEED_MORE until the first decision, then always
 * that decision.  Every prefix up to 160 octets (all of v1 and the start of
 * v2), plus the octets around the header's end and the input's end.
 */
static void check_prefixes(const uint8_t *data, size_t size, enum proxy_result whole,
                           const struct proxy_info *wpi, size_t wused)
{
	size_t at[161 + 4], n = 0;
	size_t tail[4] = {wused ? wused - 1 : 0, wused, size ? size - 1 : 0, size};
	enum proxy_result settled = PROXY_NEED_MORE;
	struct proxy_info first;
	size_t first_used = 0;

	/* increasing lengths: 0..160, then the tail points beyond (sorted) */
	for (size_t i = 0; i <= size && i <= 160; i++)
		at[n++] = i;
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			if (tail[j] < tail[i]) {
				size_t t = tail[i];
				tail[i] = tail[j];
				tail[j] = t;
			}
	for (int i = 0; i < 4; i++)
		if (tail[i] > at[n - 1])
			at[n++] = tail[i];

	memset(&first, 0, sizeof(first));
	for (size_t i = 0; i < n; i++) {
		struct proxy_info pi;
		size_t used;
		enum proxy_result r = parse_checked(data, at[i], &pi, &used);
		if (settled == PROXY_NEED_MORE) {
			settled = r;
			first = pi;
			first_used = used;
			continue;
		}
		CHECK(r == settled);
		CHECK(r != PROXY_OK || (used == first_used && same_addrs(&pi, &first)));
	}
	/* the last length checked is the whole input */
	CHECK(at[n - 1] == size && settled == whole);
	CHECK(whole != PROXY_OK || (first_used == wused && same_addrs(wpi, &first)));
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The addresses of PI, sent again as v1 and as v2: same result. */
static void check_roundtrip(const struct proxy_info *pi)
{
	const struct sockaddr_in *s4 = (const void *)&pi->src, *d4 = (const void *)&pi->dst;
	const struct sockaddr_in6 *s6 = (const void *)&pi->src, *d6 = (const void *)&pi->dst;
	int v6 = pi->src.ss_family == AF_INET6;
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], line[160];
	uint8_t hdr[64];
	struct proxy_info back;
	size_t used;
	uint16_t sport = ntohs(v6 ? s6->sin6_port : s4->sin_port);
	uint16_t dport = ntohs(v6 ? d6->sin6_port : d4->sin_port);

	CHECK(inet_ntop(v6 ? AF_INET6 : AF_INET,
	                v6 ? (const void *)&s6->sin6_addr : (const void *)&s4->sin_addr, src,
	                sizeof(src)));
	CHECK(inet_ntop(v6 ? AF_INET6 : AF_INET,
	                v6 ? (const void *)&d6->sin6_addr : (const void *)&d4->sin_addr, dst,
	                sizeof(dst)));
	int n = snprintf(line, sizeof(line), "PROXY TCP%c %s %s %u %u\r\n", v6 ? '6' : '4', src,
	                 dst, (unsigned)sport, (unsigned)dport);
	CHECK(n > 0 && (size_t)n < sizeof(line));
	/* two 45-octet mapped forms make a line too long for v1 */
	if ((size_t)n <= PROXY_V1_MAX) {
		CHECK(parse_checked((const uint8_t *)line, (size_t)n, &back, &used) == PROXY_OK);
		CHECK(used == (size_t)n && back.version == 1 && same_addrs(pi, &back));
	}

	static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
	                                0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
	size_t alen = v6 ? 36 : 12, al = v6 ? 16 : 4;
	memcpy(hdr, sig, 12);
	hdr[12] = 0x21;
	hdr[13] = v6 ? 0x21 : 0x11;
	put16(hdr + 14, (uint16_t)alen);
	memcpy(hdr + 16, v6 ? (const void *)&s6->sin6_addr : (const void *)&s4->sin_addr, al);
	memcpy(hdr + 16 + al, v6 ? (const void *)&d6->sin6_addr : (const void *)&d4->sin_addr, al);
	put16(hdr + 16 + 2 * al, sport);
	put16(hdr + 18 + 2 * al, dport);
	CHECK(parse_checked(hdr, 16 + alen, &back, &used) == PROXY_OK);
	CHECK(used == 16 + alen && back.version == 2 && same_addrs(pi, &back));
}

/* ------------------------------------------------------------------ */
/* cidr */

static void check_one_cidr(const struct cidr *c)
{
	struct cidr again;
	char text[CIDR_STRLEN];

	CHECK(c->family == AF_INET || c->family == AF_INET6);
	int bits = c->family == AF_INET ? 32 : 128;
	CHECK(c->prefix >= 0 && c->prefix <= bits);
	for (int b = c->prefix; b < 128; b++)
		CHECK(!(c->addr[b / 8] & (0x80 >> (b % 8))));
	CHECK(cidr_format(c, text, sizeof(text)) == 0);
	CHECK(strlen(text) < sizeof(text));
	CHECK(cidr_parse(text, &again) == 0);
	CHECK(memcmp(c, &again, sizeof(again)) == 0);
}

/* A client address for the lookups when the input has no header. */
static void addr_from_bytes(const uint8_t *d, size_t n, struct sockaddr_storage *ss)
{
	uint8_t a[17] = {0};

	memcpy(a, d, n < sizeof(a) ? n : sizeof(a));
	memset(ss, 0, sizeof(*ss));
	if (a[0] & 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		if (a[0] & 2) /* often mapped, to exercise the IPv4 path */
			memcpy(a + 1, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
		memcpy(&s6->sin6_addr, a + 1, 16);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a + 1, 4);
	}
}

static void check_lookup(const struct cidr_list *l, const struct sockaddr *sa)
{
	int b = cidr_best(l->v, l->n, sa);

	CHECK(b >= -1 && b < (int)l->n);
	CHECK(cidr_list_match(l, sa) == (b >= 0));
	for (size_t i = 0; i < l->n; i++) {
		if (!cidr_match(&l->v[i], sa))
			continue;
		CHECK(b >= 0);
		CHECK(l->v[i].prefix < l->v[b].prefix ||
		      (l->v[i].prefix == l->v[b].prefix && i >= (size_t)b));
	}
	CHECK(b < 0 || cidr_match(&l->v[b], sa));

	/* the key is a network (a /32 or a /64) that holds the client */
	char key[CIDR_STRLEN];
	struct cidr kc;
	cidr_addr_key(sa, key, sizeof(key));
	CHECK(key[0] != '\0' && strlen(key) < sizeof(key));
	CHECK(cidr_parse(key, &kc) == 0);
	CHECK(kc.prefix == (kc.family == AF_INET ? 32 : 64));
	CHECK(cidr_match(&kc, sa));
}

static void check_cidr(const uint8_t *d, size_t n, const struct sockaddr *sa)
{
	static struct cidr_list l, back;
	static char out[CIDR_LIST_MAX * (CIDR_STRLEN + 2)];
	char why[96];
	struct cidr one;
	char *text = malloc(n + 1);

	CHECK(text != NULL);
	memcpy(text, d, n);
	text[n] = '\0';

	if (cidr_parse(text, &one) == 0)
		check_one_cidr(&one);

	memset(why, 'X', sizeof(why));
	if (cidr_list_parse(text, &l, why, sizeof(why)) == 0) {
		CHECK(l.n <= CIDR_LIST_MAX);
		for (size_t i = 0; i < l.n; i++)
			check_one_cidr(&l.v[i]);
		CHECK(cidr_list_format(&l, out, sizeof(out)) == 0);
		CHECK(cidr_list_parse(out, &back, why, sizeof(why)) == 0);
		CHECK(back.n == l.n && memcmp(back.v, l.v, l.n * sizeof(l.v[0])) == 0);
	} else {
		CHECK(l.n == 0);
		CHECK(memchr(why, '\0', sizeof(why)) != NULL && why[0] != '\0');
	}
	check_lookup(&l, sa);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_info pi;
	size_t used;
	struct sockaddr_storage ss;

	enum proxy_result r = parse_checked(data, size, &pi, &used);
	check_prefixes(data, size, r, &pi, used);
	if (r == PROXY_OK && !pi.local) {
		check_roundtrip(&pi);
		check_cidr(data + used, size - used, (const struct sockaddr *)&pi.src);
	} else {
		addr_from_bytes(data, size, &ss);
		check_cidr(data + used, size - used, (const struct sockaddr *)&ss);
	}
	return 0;
}
