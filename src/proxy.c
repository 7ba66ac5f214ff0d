/*
 * proxy.c - see proxy.h.  Runs in the SMTP worker thread that owns the
 * connection, before the greeting, on octets straight from the network.
 *
 * Must never allocate, keep state, read past LEN or trust a length field
 * before checking it against both LEN and the cap: anyone who can reach a
 * PROXY listener can send anything here, and the fuzzer does.  Every call
 * re-reads the buffer from its first octet, so a header delivered one octet
 * at a time costs at most PROXY_MAX calls of at most PROXY_MAX octets each.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* proxy-protocol.txt 2.2: the v2 signature, then the version/command octet. */
static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
static const char v1_sig[] = "PROXY ";

#define V2_HDR 16 /* signature, ver/cmd, fam/proto, 16-bit length */

enum { V2_CMD_LOCAL = 0, V2_CMD_PROXY = 1 };
enum { V2_AF_UNSPEC = 0, V2_AF_INET = 1, V2_AF_INET6 = 2, V2_AF_UNIX = 3 };
enum { V2_TP_UNSPEC = 0, V2_TP_STREAM = 1, V2_TP_DGRAM = 2 };
#define V2_TLV_CRC32C 0x03

enum v1_kind { V1_TCP4, V1_TCP6, V1_UNKNOWN };

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static enum proxy_result bad(char *why, size_t whylen, const char *msg)
{
	if (why && whylen > 0)
		snprintf(why, whylen, "%s", msg);
	return PROXY_BAD;
}

static void set_in(struct sockaddr_storage *ss, socklen_t *sslen, const uint8_t a[4], uint16_t port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	memcpy(&sin.sin_addr, a, 4);
	memcpy(ss, &sin, sizeof(sin));
	*sslen = sizeof(sin);
}

static void set_in6(struct sockaddr_storage *ss, socklen_t *sslen, const uint8_t a[16],
                    uint16_t port)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(port);
	memcpy(&sin6.sin6_addr, a, 16);
	memcpy(ss, &sin6, sizeof(sin6));
	*sslen = sizeof(sin6);
}

/* ------------------------------------------------------------------ */
/* version 1 */

static int ch_is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static int ch_is_hex(uint8_t c)
{
	return ch_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* May C appear after the protocol word of a KIND line (before the CR)? */
static int v1_char_ok(enum v1_kind kind, uint8_t c)
{
	switch (kind) {
	case V1_TCP4:
		return ch_is_digit(c) || c == '.' || c == ' ';
	case V1_TCP6:
		return ch_is_hex(c) || c == ':' || c == '.' || c == ' ';
	case V1_UNKNOWN:
		return c >= 0x20 && c < 0x7f;
	}
	return 0;
}

/* Decimal of 1..MAXDIG digits, no leading zero, at most MAX.  -1 if not. */
static long v1_number(const uint8_t *s, size_t n, size_t maxdig, long max)
{
	long v = 0;

	if (n == 0 || n > maxdig || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!ch_is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

/* Exactly four dot-separated numbers 0..255 without leading zeros. */
static int v1_ipv4(const uint8_t *s, size_t n, uint8_t out[4])
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		if (part > 0 && (i >= n || s[i++] != '.'))
			return -1;
		size_t start = i;
		while (i < n && s[i] != '.')
			i++;
		long v = v1_number(s + start, i - start, 3, 255);
		if (v < 0)
			return -1;
		out[part] = (uint8_t)v;
	}
	return i == n ? 0 : -1;
}

static int v1_ipv6(const uint8_t *s, size_t n, uint8_t out[16])
{
	char text[46]; /* INET6_ADDRSTRLEN: the longest text form, NUL */

	if (n == 0 || n >= sizeof(text))
		return -1;
	memcpy(text, s, n);
	text[n] = '\0';
	return inet_pton(AF_INET6, text, out) == 1 ? 0 : -1;
}

/*
 * The fields of a complete TCP4/TCP6 line: LINE (N octets, no CRLF) is
 * what follows "PROXY TCPx ", i.e. "<src> <dst> <sport> <dport>".
 */
static enum proxy_result v1_fields(enum v1_kind kind, const uint8_t *line, size_t n,
                                   struct proxy_info *out, char *why, size_t whylen)
{
	const uint8_t *f[4];
	size_t fl[4], nf = 0, i = 0;
	uint8_t src[16], dst[16];
	long sport, dport;

	for (;;) {
		size_t j = i;
		while (j < n && line[j] != ' ')
			j++;
		if (j == i)
			return bad(why, whylen, "PROXY v1: empty field (extra space)");
		if (nf == 4)
			return bad(why, whylen, "PROXY v1: too many fields");
		f[nf] = line + i;
		fl[nf++] = j - i;
		if (j == n)
			break;
		i = j + 1;
	}
	if (nf != 4)
		return bad(why, whylen, "PROXY v1: missing fields");
	if (kind == V1_TCP4 ? v1_ipv4(f[0], fl[0], src) : v1_ipv6(f[0], fl[0], src))
		return bad(why, whylen, "PROXY v1: bad source address");
	if (kind == V1_TCP4 ? v1_ipv4(f[1], fl[1], dst) : v1_ipv6(f[1], fl[1], dst))
		return bad(why, whylen, "PROXY v1: bad destination address");
	if ((sport = v1_number(f[2], fl[2], 5, 65535)) < 0)
		return bad(why, whylen, "PROXY v1: bad source port");
	if ((dport = v1_number(f[3], fl[3], 5, 65535)) < 0)
		return bad(why, whylen, "PROXY v1: bad destination port");
	if (kind == V1_TCP4) {
		set_in(&out->src, &out->srclen, src, (uint16_t)sport);
		set_in(&out->dst, &out->dstlen, dst, (uint16_t)dport);
	} else {
		set_in6(&out->src, &out->srclen, src, (uint16_t)sport);
		set_in6(&out->dst, &out->dstlen, dst, (uint16_t)dport);
	}
	return PROXY_OK;
}

static enum proxy_result v1_parse(const uint8_t *buf, size_t len, struct proxy_info *out,
                                  size_t *consumed, char *why, size_t whylen)
{
	static const struct {
		const char *word; /* TCPx with its space; UNKNOWN may end the line */
		enum v1_kind kind;
	} words[] = {{"TCP4 ", V1_TCP4}, {"TCP6 ", V1_TCP6}, {"UNKNOWN", V1_UNKNOWN}};
	const size_t sig = sizeof(v1_sig) - 1;
	int possible = 0, kind = -1;
	size_t start = 0, eol = 0;

	if (memcmp(buf, v1_sig, min_size(len, sig)) != 0)
		return bad(why, whylen, "not a PROXY protocol header");
	if (len <= sig)
		return PROXY_NEED_MORE;
	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		size_t wl = strlen(words[w].word);
		if (memcmp(buf + sig, words[w].word, min_size(len - sig, wl)) != 0)
			continue;
		possible = 1;
		if (len - sig >= wl) {
			kind = (int)words[w].kind;
			start = sig + wl;
		}
	}
	if (!possible)
		return bad(why, whylen, "PROXY v1: unknown protocol (not TCP4, TCP6, UNKNOWN)");
	if (kind < 0)
		return PROXY_NEED_MORE;
	if (kind == V1_UNKNOWN && len > start && buf[start] != ' ' && buf[start] != '\r')
		return bad(why, whylen, "PROXY v1: unknown protocol (not TCP4, TCP6, UNKNOWN)");

	/* The CR may be at offset PROXY_V1_MAX - 2 at the latest. */
	for (size_t i = start; i < min_size(len, PROXY_V1_MAX); i++) {
		uint8_t c = buf[i];
		if (c == '\r') {
			if (i + 2 > PROXY_V1_MAX)
				break;
			if (i + 1 == len)
				return PROXY_NEED_MORE;
			if (buf[i + 1] != '\n')
				return bad(why, whylen, "PROXY v1: CR without LF");
			eol = i;
			break;
		}
		if (c == '\n')
			return bad(why, whylen, "PROXY v1: LF without CR");
		if (!v1_char_ok((enum v1_kind)kind, c))
			return bad(why, whylen, "PROXY v1: bad character");
	}
	if (eol == 0) {
		if (len >= PROXY_V1_MAX - 1)
			return bad(why, whylen, "PROXY v1: no CRLF in the first 107 octets");
		return PROXY_NEED_MORE;
	}
	if (kind == V1_UNKNOWN) {
		/* Spec 2.1: whatever UNKNOWN carries before the CRLF is ignored. */
		out->local = 1;
	} else {
		enum proxy_result r =
		    v1_fields((enum v1_kind)kind, buf + start, eol - start, out, why, whylen);
		if (r != PROXY_OK)
			return r;
	}
	out->version = 1;
	*consumed = eol + 2;
	return PROXY_OK;
}

/* ------------------------------------------------------------------ */
/* version 2 */

/* CRC-32C (Castagnoli, reflected 0x82f63b78), bitwise: headers are small. */
static uint32_t crc32c_update(uint32_t crc, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	}
	return crc;
}

/*
 * Spec 2.2.3: the CRC32C of the whole header (TOTAL octets of HDR) computed
 * with the 4 checksum octets at OFF taken as zero, compared big-endian.
 */
static int v2_crc_ok(const uint8_t *hdr, size_t total, size_t off)
{
	static const uint8_t zero[4];
	uint32_t crc = 0xffffffffu;

	crc = crc32c_update(crc, hdr, off);
	crc = crc32c_update(crc, zero, 4);
	crc = crc32c_update(crc, hdr + off + 4, total - off - 4);
	crc ^= 0xffffffffu;
	uint32_t got = (uint32_t)hdr[off] << 24 | (uint32_t)hdr[off + 1] << 16 |
	               (uint32_t)hdr[off + 2] << 8 | hdr[off + 3];
	return crc == got;
}

/* The TLVs from OFF to TOTAL must tile it exactly (spec 2.2, pp2_tlv). */
static enum proxy_result v2_tlvs(const uint8_t *hdr, size_t total, size_t off, char *why,
                                 size_t whylen)
{
	while (off < total) {
		if (total - off < 3)
			return bad(why, whylen, "PROXY v2: truncated TLV");
		size_t vlen = (size_t)hdr[off + 1] << 8 | hdr[off + 2];
		if (vlen > total - off - 3)
			return bad(why, whylen, "PROXY v2: TLV runs past the header");
		if (hdr[off] == V2_TLV_CRC32C) {
			if (vlen != 4)
				return bad(why, whylen, "PROXY v2: malformed CRC32C TLV");
			if (!v2_crc_ok(hdr, total, off + 3))
				return bad(why, whylen, "PROXY v2: CRC32C mismatch");
		}
		off += 3 + vlen;
	}
	return PROXY_OK;
}

static enum proxy_result v2_parse(const uint8_t *buf, size_t len, struct proxy_info *out,
                                  size_t *consumed, char *why, size_t whylen)
{
	if (memcmp(buf, v2_sig, min_size(len, sizeof(v2_sig))) != 0)
		return bad(why, whylen, "not a PROXY protocol header");
	if (len <= 12)
		return PROXY_NEED_MORE;
	unsigned ver = buf[12] >> 4, cmd = buf[12] & 0x0fu;
	if (ver != 2)
		return bad(why, whylen, "PROXY v2: version is not 2");
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return bad(why, whylen, "PROXY v2: unknown command");
	if (len <= 13)
		return PROXY_NEED_MORE;
	unsigned fam = buf[13] >> 4, tp = buf[13] & 0x0fu;
	/* LOCAL ignores the family (spec 2.2); PROXY must name a defined one. */
	if (cmd == V2_CMD_PROXY && (fam > V2_AF_UNIX || tp > V2_TP_DGRAM))
		return bad(why, whylen, "PROXY v2: unknown address family or transport");
	if (cmd == V2_CMD_PROXY && tp == V2_TP_DGRAM && fam != V2_AF_UNSPEC)
		return bad(why, whylen, "PROXY v2: datagram transport on a stream service");
	if (len < V2_HDR)
		return PROXY_NEED_MORE;
	size_t blen = (size_t)buf[14] << 8 | buf[15], total = V2_HDR + blen;
	if (total > PROXY_V2_MAX)
		return bad(why, whylen, "PROXY v2: header longer than 1536 octets");
	if (len < total)
		return PROXY_NEED_MORE;

	if (cmd == V2_CMD_PROXY && fam != V2_AF_UNSPEC && tp != V2_TP_UNSPEC) {
		size_t alen = fam == V2_AF_INET ? 12 : fam == V2_AF_INET6 ? 36 : 216;
		if (blen < alen)
			return bad(why, whylen, "PROXY v2: address block too short for its family");
		if (v2_tlvs(buf, total, V2_HDR + alen, why, whylen) != PROXY_OK)
			return PROXY_BAD;
	}
	const uint8_t *a = buf + V2_HDR;
	if (cmd == V2_CMD_PROXY && tp == V2_TP_STREAM && fam == V2_AF_INET) {
		set_in(&out->src, &out->srclen, a, (uint16_t)(a[8] << 8 | a[9]));
		set_in(&out->dst, &out->dstlen, a + 4, (uint16_t)(a[10] << 8 | a[11]));
	} else if (cmd == V2_CMD_PROXY && tp == V2_TP_STREAM && fam == V2_AF_INET6) {
		set_in6(&out->src, &out->srclen, a, (uint16_t)(a[32] << 8 | a[33]));
		set_in6(&out->dst, &out->dstlen, a + 16, (uint16_t)(a[34] << 8 | a[35]));
	} else {
		/* LOCAL, AF_UNSPEC or an UNSPEC transport: no usable address, and
		 * the block is skipped unread (spec 2.2); AF_UNIX: a path is no
		 * client address.  Either way the socket's own addresses stand. */
		out->local = 1;
	}
	out->version = 2;
	*consumed = total;
	return PROXY_OK;
}

/* ------------------------------------------------------------------ */

enum proxy_result proxy_parse(const uint8_t *buf, size_t len, struct proxy_info *out,
                              size_t *consumed, char *why, size_t whylen)
{
	memset(out, 0, sizeof(*out));
	*consumed = 0;
	if (why && whylen > 0)
		why[0] = '\0';
	if (len == 0)
		return PROXY_NEED_MORE;
	if (buf[0] == (uint8_t)v1_sig[0])
		return v1_parse(buf, len, out, consumed, why, whylen);
	if (buf[0] == v2_sig[0])
		return v2_parse(buf, len, out, consumed, why, whylen);
	return bad(why, whylen, "not a PROXY protocol header");
}
