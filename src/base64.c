/*
 * base64.c - RFC 4648 base64 (section 4, padded) and base64url (section 5,
 * unpadded) encoding, and strict base64 decoding.  Pure functions on caller
 * buffers.
 *
 * Must never write past the caller's capacity, never accept a second spelling
 * of the same octets (the decoder refuses non-canonical input) and never
 * allocate or keep state: AUTH payloads pass through here.
 */
#include "base64.h"

#include <limits.h>
#include <stdint.h>

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Sextet value of each octet in the standard alphabet, -1 outside it. */
/* clang-format off */
static const signed char b64_val[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};
/* clang-format on */

size_t base64_encoded_len(size_t n)
{
	/* Written so that n near SIZE_MAX cannot wrap before the division. */
	return n / 3 * 4 + (n % 3 ? 4 : 0);
}

/* Shared by both alphabets; PAD says whether to fill the last quantum with '='. */
static size_t b64_encode_with(const char *alpha, int pad, const unsigned char *p, size_t len,
                              char *out)
{
	size_t o = 0;
	size_t i = 0;

	for (; len - i >= 3; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		out[o++] = alpha[v >> 6 & 63];
		out[o++] = alpha[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		out[o++] = alpha[v >> 6 & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

size_t base64_encode(const void *in, size_t len, char *out)
{
	return b64_encode_with(b64_std, 1, in, len, out);
}

size_t base64url_encode(const void *in, size_t len, char *out)
{
	return b64_encode_with(b64_url, 0, in, len, out);
}

long base64_decode(const char *in, size_t len, void *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)in;
	unsigned char *d = out;
	size_t pad = 0;
	size_t n;
	size_t o = 0;

	if (len % 4)
		return -1;
	if (len == 0)
		return 0;
	if (s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	n = len / 4 * 3 - pad;
	if (n > cap || n > (size_t)LONG_MAX)
		return -1;

	for (size_t i = 0; i < len; i += 4) {
		int last = i + 4 == len;
		/* '=' maps to -1 like any foreign octet; the final quantum is handled below. */
		int a = b64_val[s[i]], b = b64_val[s[i + 1]];
		int c = last && pad == 2 ? 0 : b64_val[s[i + 2]];
		int e = last && pad >= 1 ? 0 : b64_val[s[i + 3]];
		if ((a | b | c | e) < 0)
			return -1;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)e;
		if (!last || pad == 0) {
			d[o++] = (unsigned char)(v >> 16);
			d[o++] = (unsigned char)(v >> 8);
			d[o++] = (unsigned char)v;
		} else if (pad == 1) {
			/* Bits that no output octet holds must be zero: one spelling per value. */
			if (v & 0xff)
				return -1;
			d[o++] = (unsigned char)(v >> 16);
			d[o++] = (unsigned char)(v >> 8);
		} else {
			if (v & 0xffff)
				return -1;
			d[o++] = (unsigned char)(v >> 16);
		}
	}
	return (long)o;
}
