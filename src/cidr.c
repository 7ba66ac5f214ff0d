/*
 * cidr.c - see cidr.h.  Runs in whatever thread asks (config loading in the
 * main thread, matching in the SMTP workers); it reads only its arguments.
 *
 * Must never allocate, keep state, or write past the caller's capacity:
 * network lists come from the configuration and the addresses from accept()
 * or a PROXY header, and the fuzzer drives both.  Address text goes through
 * inet_pton()/inet_ntop(), which are pure and locale-independent; everything
 * around them (lengths, '/', the prefix) is checked here first.
 */
#include "cidr.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* addresses */

/* ::ffff:0:0/96, the IPv4-mapped block (RFC 4291 2.5.5.2). */
static int addr_is_mapped(const uint8_t a[16])
{
	static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(a, pfx, sizeof(pfx)) == 0;
}

static int family_bits(int family)
{
	return family == AF_INET ? 32 : family == AF_INET6 ? 128 : -1;
}

/*
 * The client's address from SA as (family, 16 octets), a mapped IPv6
 * address turned into the IPv4 address it stands for.  0 ok, -1 when SA is
 * NULL or neither AF_INET nor AF_INET6.  SA is read only as far as its
 * family says, so a struct sockaddr_in is never over-read.
 */
static int addr_from_sa(const struct sockaddr *sa, int *family, uint8_t a[16])
{
	memset(a, 0, 16);
	if (!sa)
		return -1;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;
		memcpy(a, &sin->sin_addr, 4);
		*family = AF_INET;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		memcpy(a, &sin6->sin6_addr, 16);
		if (addr_is_mapped(a)) {
			memmove(a, a + 12, 4);
			memset(a + 4, 0, 12);
			*family = AF_INET;
		} else {
			*family = AF_INET6;
		}
		return 0;
	}
	return -1;
}

/* Clear every bit of A (16 octets) after the first PREFIX. */
static void addr_mask(uint8_t a[16], int prefix)
{
	for (int i = 0; i < 16; i++) {
		int keep = prefix - 8 * i;
		if (keep >= 8)
			continue;
		a[i] = keep <= 0 ? 0 : (uint8_t)(a[i] & (0xff << (8 - keep)));
	}
}

/* Do A and B agree on their first PREFIX bits (0..128)? */
static int addr_prefix_eq(const uint8_t a[16], const uint8_t b[16], int prefix)
{
	int full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t m = (uint8_t)(0xff << (8 - rest));
	return (a[full] & m) == (b[full] & m);
}

/* ------------------------------------------------------------------ */
/* one network */

/* "0".."128": decimal, no sign, no leading zero.  -1 on anything else. */
static int prefix_parse(const char *s, size_t n)
{
	int v = 0;

	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int cidr_parse(const char *s, struct cidr *out)
{
	char host[CIDR_STRLEN];
	struct cidr c;
	int prefix = -1, max;

	memset(out, 0, sizeof(*out));
	if (!s)
		return -1;
	size_t n = strnlen(s, CIDR_STRLEN);
	if (n == 0 || n >= CIDR_STRLEN)
		return -1;
	const char *slash = memchr(s, '/', n);
	size_t hlen = slash ? (size_t)(slash - s) : n;
	if (hlen == 0)
		return -1;
	if (slash && (prefix = prefix_parse(slash + 1, n - hlen - 1)) < 0)
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';

	memset(&c, 0, sizeof(c));
	c.family = memchr(host, ':', hlen) ? AF_INET6 : AF_INET;
	if (inet_pton(c.family, host, c.addr) != 1)
		return -1;
	max = family_bits(c.family);
	if (prefix < 0)
		prefix = max;
	if (prefix > max)
		return -1;
	/* Mapped clients are matched as IPv4, so a mapped network is stored as
	 * the IPv4 network it covers; otherwise it could never match. */
	if (c.family == AF_INET6 && prefix >= 96 && addr_is_mapped(c.addr)) {
		memmove(c.addr, c.addr + 12, 4);
		memset(c.addr + 4, 0, 12);
		c.family = AF_INET;
		prefix -= 96;
	}
	c.prefix = prefix;
	addr_mask(c.addr, prefix);
	*out = c;
	return 0;
}

int cidr_format(const struct cidr *c, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (len > 0)
		out[0] = '\0';
	if (!c || c->prefix < 0 || c->prefix > family_bits(c->family) ||
	    !inet_ntop(c->family, c->addr, host, sizeof(host)))
		return -1;
	int w = snprintf(out, len, "%s/%d", host, c->prefix);
	if (w < 0 || (size_t)w >= len) {
		if (len > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

int cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	uint8_t a[16];
	int family;

	if (!c || addr_from_sa(sa, &family, a) < 0 || family != c->family || c->prefix < 0 ||
	    c->prefix > family_bits(family))
		return 0;
	return addr_prefix_eq(a, c->addr, c->prefix);
}

int cidr_best(const struct cidr *v, size_t n, const struct sockaddr *sa)
{
	uint8_t a[16];
	int family, best = -1;

	if (!v || addr_from_sa(sa, &family, a) < 0)
		return -1;
	/* The index is an int; no configuration holds INT_MAX networks. */
	for (size_t i = 0; i < n && i <= (size_t)INT_MAX; i++) {
		const struct cidr *c = &v[i];
		if (c->family != family || c->prefix < 0 || c->prefix > family_bits(family))
			continue;
		if ((best < 0 || c->prefix > v[best].prefix) &&
		    addr_prefix_eq(a, c->addr, c->prefix))
			best = (int)i;
	}
	return best;
}

/* ------------------------------------------------------------------ */
/* lists */

static int list_is_sep(char ch)
{
	return ch == ',' || ch == ' ' || ch == '\t';
}

/* WHY = "bad network "<token>"", the token shortened and made printable. */
static void list_why_bad(char *why, size_t whylen, const char *tok, size_t n)
{
	char show[64];
	size_t k = 0;

	for (; k < n && k < 40; k++) {
		unsigned char ch = (unsigned char)tok[k];
		show[k] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (k < n) {
		memcpy(show + k, "...", 3);
		k += 3;
	}
	show[k] = '\0';
	snprintf(why, whylen, "bad network \"%s\"", show);
}

int cidr_list_parse(const char *s, struct cidr_list *l, char *why, size_t whylen)
{
	char tok[CIDR_STRLEN];
	const char *p = s;

	l->n = 0;
	if (why && whylen > 0)
		why[0] = '\0';
	if (!s)
		return 0;
	for (;;) {
		while (*p && list_is_sep(*p))
			p++;
		if (!*p)
			return 0;
		const char *t = p;
		while (*p && !list_is_sep(*p))
			p++;
		size_t n = (size_t)(p - t);
		if (l->n == CIDR_LIST_MAX) {
			if (why && whylen > 0)
				snprintf(why, whylen, "more than %d networks", CIDR_LIST_MAX);
			break;
		}
		if (n < sizeof(tok)) {
			memcpy(tok, t, n);
			tok[n] = '\0';
			if (cidr_parse(tok, &l->v[l->n]) == 0) {
				l->n++;
				continue;
			}
		}
		if (why && whylen > 0)
			list_why_bad(why, whylen, t, n);
		break;
	}
	memset(l->v, 0, l->n * sizeof(l->v[0]));
	l->n = 0;
	return -1;
}

int cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa)
{
	return l && cidr_best(l->v, l->n, sa) >= 0;
}

int cidr_list_format(const struct cidr_list *l, char *out, size_t len)
{
	size_t off = 0;

	if (len == 0)
		return -1;
	out[0] = '\0';
	for (size_t i = 0; l && i < l->n; i++) {
		char one[CIDR_STRLEN];
		if (cidr_format(&l->v[i], one, sizeof(one)) < 0)
			goto fail;
		size_t n = strlen(one), sep = i ? 2 : 0;
		if (len - off <= n + sep)
			goto fail;
		memcpy(out + off, ", ", sep);
		memcpy(out + off + sep, one, n + 1);
		off += sep + n;
	}
	return 0;
fail:
	out[0] = '\0';
	return -1;
}

/* ------------------------------------------------------------------ */
/* per-client key */

void cidr_addr_key(const struct sockaddr *sa, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	uint8_t a[16];
	int family, w;

	if (len == 0)
		return;
	out[0] = '\0';
	if (addr_from_sa(sa, &family, a) < 0)
		w = snprintf(out, len, "unknown");
	else if (family == AF_INET)
		w = inet_ntop(AF_INET, a, host, sizeof(host)) ? snprintf(out, len, "%s", host) : -1;
	else {
		addr_mask(a, 64);
		w = inet_ntop(AF_INET6, a, host, sizeof(host)) ? snprintf(out, len, "%s/64", host)
		                                               : -1;
	}
	if (w < 0 || (size_t)w >= len)
		out[0] = '\0';
}
