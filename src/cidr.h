/*
 * cidr.h - IPv4/IPv6 networks in CIDR notation: parsing, matching a client's
 * socket address, longest-prefix lookup (network -> tenant) and the per-client
 * key used by per-IP limits.
 *
 * Pure: no I/O, no allocation, no globals, no locale.  A `struct cidr_list`
 * is a fixed array, so it can live inside the immutable `struct config` and
 * be shared read-only by every thread without being freed.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are IPv4 everywhere here: a
 * client connected to an IPv6 socket from an IPv4 host matches IPv4 networks
 * and gets the IPv4 key, and a network written in mapped form with a prefix
 * of at least 96 ("::ffff:10.0.0.0/104") is stored as the IPv4 network
 * ("10.0.0.0/8").  IPv6 networks never match IPv4 clients, so "::/0" means
 * every IPv6 client and "0.0.0.0/0" every IPv4 one.
 */
#ifndef SESGATE_CIDR_H
#define SESGATE_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest text cidr_format() writes, with its NUL: a 45-octet IPv6 address
 * with an embedded dotted quad, "/128", NUL.  Also the longest key
 * cidr_addr_key() writes, and one more than the longest network text
 * cidr_parse() accepts. */
#define CIDR_STRLEN 50

/* Most networks in one cidr_list (about 6 KiB of config per list). */
#define CIDR_LIST_MAX 256

struct cidr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order; IPv4 in addr[0..3]; host bits zero */
	int prefix;       /* 0..32 (AF_INET), 0..128 (AF_INET6) */
};

struct cidr_list {
	size_t n;
	struct cidr v[CIDR_LIST_MAX];
};

/*
 * Parse one network: "10.0.0.0/8", "2001:db8::/32", or an address alone,
 * which is a host network ("192.0.2.7" = /32, "::1" = /128).  Addresses are
 * what inet_pton() takes (dotted quads without leading zeros; IPv6 with
 * "::" and an optional trailing dotted quad); the prefix is decimal without
 * sign or leading zero and at most 32/128.  Host bits set beyond the prefix
 * are cleared ("10.1.2.3/8" is 10.0.0.0/8).  Spaces, empty strings, zone ids
 * ("fe80::1%eth0") and anything else are refused.  0 ok, -1 bad (*OUT is
 * then zeroed).
 */
int cidr_parse(const char *s, struct cidr *out);

/*
 * Write C in canonical form ("10.0.0.0/8", "2001:db8::/32", "::1/128": the
 * prefix is always shown) into OUT (LEN octets, CIDR_STRLEN always enough).
 * 0 ok; -1 if LEN is too small or C is not a valid network (OUT is then ""
 * when LEN > 0).
 */
int cidr_format(const struct cidr *c, char *out, size_t len);

/* Is the client address SA (AF_INET or AF_INET6) inside C?  1 yes, 0 no. */
int cidr_match(const struct cidr *c, const struct sockaddr *sa);

/*
 * Index of the most specific (longest prefix) of the N networks V that holds
 * SA; on a tie the first one listed.  -1 when none does, or SA is not an
 * IPv4/IPv6 address.  Used to map client networks to tenants.
 */
int cidr_best(const struct cidr *v, size_t n, const struct sockaddr *sa);

/*
 * Parse a list of networks separated by commas and/or blanks (spaces, tabs;
 * runs of them count as one separator): "10.0.0.0/8, 192.168.0.0/16 ::1".
 * NULL, "" or only separators give an empty list.  At most CIDR_LIST_MAX
 * entries.  0 ok; -1 on a bad entry or too many, with a one-line reason in
 * WHY (WHYLEN octets, may be NULL) and *L left empty.
 */
int cidr_list_parse(const char *s, struct cidr_list *l, char *why, size_t whylen);

/* Is SA inside any network of L?  1 yes, 0 no (always 0 for an empty list). */
int cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa);

/*
 * Write L as cidr_list_parse() reads it back: canonical networks joined by
 * ", ", "" for an empty list.  0 ok, -1 if LEN is too small (OUT is then ""
 * when LEN > 0).  For configuration dumps.
 */
int cidr_list_format(const struct cidr_list *l, char *out, size_t len);

/*
 * The key that identifies a client for per-IP limits, in OUT (LEN octets,
 * CIDR_STRLEN always enough): the IPv4 address ("192.0.2.7", also for an
 * IPv4-mapped IPv6 client), or for IPv6 the /64 that holds the address
 * ("2001:db8:1:2::/64"), since one IPv6 host is routinely given a whole /64
 * and could otherwise evade any per-address limit.  Any other family gives
 * "unknown".  Truncation never happens silently: OUT is "" if LEN is short.
 */
void cidr_addr_key(const struct sockaddr *sa, char *out, size_t len);

#endif
