/*
 * proxy.h - PROXY protocol header parser, version 1 (one text line) and
 * version 2 (binary), as HAProxy's proxy-protocol.txt specifies them: a load
 * balancer in front of the SMTP listener prepends one header carrying the
 * real client's address, and the session must read it before sending its
 * greeting.
 *
 * Pure: no I/O, no allocation, no globals.  The caller keeps the octets
 * received so far and calls proxy_parse() again on the whole buffer after
 * every read; octets after the header (a pipelining client's first command)
 * are never consumed.  Only listeners configured for the PROXY protocol may
 * call it, and only for peers the configuration trusts to send it: the
 * header rewrites the client address everything else is keyed on.
 */
#ifndef SESGATE_PROXY_H
#define SESGATE_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V1_MAX 107  /* longest v1 line, CRLF included (spec 2.1) */
#define PROXY_V2_MAX 1536 /* our cap on a whole v2 header: 16 + addresses + TLVs */

/* With this many octets buffered, proxy_parse() never answers NEED_MORE. */
#define PROXY_MAX PROXY_V2_MAX

enum proxy_result {
	PROXY_NEED_MORE, /* a valid header may still follow: read more */
	PROXY_OK,        /* header complete: *consumed octets are the header */
	PROXY_BAD,       /* cannot be a valid header: drop the connection */
};

struct proxy_info {
	int local;                        /* LOCAL or UNKNOWN: keep the socket's own addresses */
	struct sockaddr_storage src, dst; /* AF_INET or AF_INET6, unless local */
	socklen_t srclen, dstlen;         /* 0 when local */
	int version;                      /* 1 or 2 */
};

/*
 * Look for a PROXY header at the start of BUF (LEN octets received so far).
 *
 * The version is told by the first octets ("PROXY " or the v2 signature):
 * NEED_MORE while BUF could still begin either, BAD from the first octet
 * that rules both out (so "EHLO ..." is refused after one octet).  Either
 * version is then checked as far as the octets go, so garbage is refused as
 * soon as it arrives rather than when a CRLF or the length is reached.
 *
 * v1: "PROXY TCP4 <src> <dst> <sport> <dport>\r\n", "TCP6" likewise, or
 * "PROXY UNKNOWN" with anything printable up to the CRLF (local).  At most
 * PROXY_V1_MAX octets; single spaces; printable US-ASCII only; dotted quads
 * without leading zeros; IPv6 as inet_pton() reads it (a trailing dotted quad
 * is allowed, as senders write mapped addresses that way); ports 0..65535
 * without leading zeros.  A CR or LF alone is BAD.
 *
 * v2: signature, version 2, command LOCAL (local, the address block is not
 * looked at) or PROXY.  For PROXY: AF_INET and AF_INET6 over STREAM give
 * the addresses; AF_UNSPEC, an UNSPEC transport and AF_UNIX STREAM are
 * accepted as local; DGRAM is BAD (this is a TCP service).  The whole
 * header is at most PROXY_V2_MAX octets; the address block must be as long as
 * the family needs, and what follows must be well-formed TLVs filling it
 * exactly.  TLVs are skipped, except that a CRC32C TLV is verified.
 *
 * On PROXY_OK, *OUT is filled and *CONSUMED is the header's length (never
 * more than LEN).  Otherwise *OUT is zeroed and *CONSUMED is 0; on PROXY_BAD
 * WHY (WHYLEN octets, may be NULL) gets a one-line reason for the log.
 */
enum proxy_result proxy_parse(const uint8_t *buf, size_t len, struct proxy_info *out,
                              size_t *consumed, char *why, size_t whylen);

#endif
