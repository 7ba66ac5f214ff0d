/*
 * smtp_parse.h - pure SMTP parsing: command verbs, MAIL/RCPT paths and ESMTP
 * parameters (RFC 5321, 1870, 6152, 6531, 3030), AUTH payloads (RFC 4954),
 * the DATA/BDAT byte scanner (dot-unstuffing, end of data, bare CR/LF) and the
 * header From: extractor.
 *
 * No I/O, no allocation, no globals: every function works on the caller's
 * buffers, so the same code runs in the daemon, in unit tests and fuzzers.
 */
#ifndef SESGATE_SMTP_PARSE_H
#define SESGATE_SMTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define SMTP_MAX_PATH 256     /* RFC 5321 4.5.3.1.3: reverse/forward path */
#define SMTP_MAX_LOCAL 64     /* RFC 5321 4.5.3.1.1 */
#define SMTP_MAX_DOMAIN 255   /* RFC 5321 4.5.3.1.2 */

enum smtp_cmd {
	SMTP_CMD_UNKNOWN = 0,
	SMTP_CMD_HELO,
	SMTP_CMD_EHLO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_BDAT,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_HELP,
	SMTP_CMD_VRFY,
	SMTP_CMD_EXPN,
	SMTP_CMD_AUTH,
	SMTP_CMD_STARTTLS,
	SMTP_CMD__COUNT
};

/* Upper-case name of CMD ("MAIL"), "UNKNOWN" for SMTP_CMD_UNKNOWN. */
const char *smtp_cmd_name(enum smtp_cmd cmd);

/*
 * Split one command line (CRLF already removed) into its verb and argument.
 * The verb is matched case-insensitively and must be followed by end of line
 * or a single SP; *ARG and *ARGLEN get the rest of the line after that SP with
 * trailing spaces removed (empty when there is none).
 */
enum smtp_cmd smtp_parse_verb(const char *line, size_t len, const char **arg,
                              size_t *arglen);

/* Outcome of argument parsing; the session maps each one to a reply. */
enum smtp_parse_result {
	SMTP_PARSE_OK = 0,
	SMTP_PARSE_SYNTAX,        /* 501 5.5.4: missing FROM:/TO:, junk, bad param syntax */
	SMTP_PARSE_BAD_ADDRESS,   /* 501 5.1.7 (MAIL) / 501 5.1.3 (RCPT): mailbox syntax */
	SMTP_PARSE_TOO_LONG,      /* 501 5.5.4 path/local-part/domain over RFC limits */
	SMTP_PARSE_UNKNOWN_PARAM, /* 555 5.5.4: parameter not recognized/not offered */
	SMTP_PARSE_BAD_PARAM,     /* 501 5.5.4: known parameter, bad value (SIZE=abc, BODY=x) */
	SMTP_PARSE_NEED_UTF8,     /* 553 5.6.7: non-ASCII address without SMTPUTF8 */
	SMTP_PARSE_BAD_UTF8,      /* 501 5.6.7: address is not valid UTF-8 */
};

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };

struct smtp_mail_args {
	char addr[SMTP_MAX_PATH + 1]; /* "local@domain", "" for the null path <> */
	size_t addrlen;
	size_t domain_off;            /* offset of the domain in addr (after '@') */
	int has_size;
	uint64_t size;                /* SIZE=, RFC 1870 */
	enum smtp_body body;          /* BODY=, RFC 6152 */
	int smtputf8;                 /* SMTPUTF8 keyword given, RFC 6531 */
	int non_ascii;                /* addr contains octets >= 0x80 */
};

struct smtp_rcpt_args {
	char addr[SMTP_MAX_PATH + 1]; /* never empty */
	size_t addrlen;
	size_t domain_off;
	int non_ascii;
};

/*
 * ARG is what follows "MAIL " (e.g. "FROM:<a@b> SIZE=10 BODY=8BITMIME").
 * Accepts spaces after the colon (common client bug, as Postfix does), a
 * source route (stripped, RFC 5321 C), quoted local parts, address literals
 * for the domain ([1.2.3.4], [IPv6:...]).  SMTPUTF8 allows non-ASCII UTF-8.
 * Parameters recognised: SIZE, BODY (7BIT|8BITMIME), SMTPUTF8, AUTH (ignored
 * value, RFC 4954 5).  Anything else: SMTP_PARSE_UNKNOWN_PARAM.
 */
enum smtp_parse_result smtp_parse_mail(const char *arg, size_t len,
                                       struct smtp_mail_args *out);

/*
 * ARG is what follows "RCPT ".  The null path is refused (BAD_ADDRESS).
 * UTF8_ALLOWED is whether MAIL carried SMTPUTF8.  No RCPT parameters are
 * offered (no DSN extension): any is SMTP_PARSE_UNKNOWN_PARAM.
 */
enum smtp_parse_result smtp_parse_rcpt(const char *arg, size_t len,
                                       int utf8_allowed,
                                       struct smtp_rcpt_args *out);

/* Validate an EHLO/HELO argument: a domain or address literal. 0 ok, -1 bad. */
int smtp_parse_helo(const char *arg, size_t len);

/*
 * BDAT argument: "<size>" or "<size> LAST" (RFC 3030).  0 ok, -1 syntax.
 * Sizes above UINT64_MAX/2 are a syntax error.
 */
int smtp_parse_bdat(const char *arg, size_t len, uint64_t *size, int *last);

/*
 * AUTH argument: mechanism and optional initial response ("PLAIN dGVzdA==").
 * Returns the mechanism (SMTP_AUTH_PLAIN/LOGIN) or SMTP_AUTH_UNKNOWN; *IR and
 * *IRLEN get the initial response text ("=" means an empty one), or NULL.
 */
enum smtp_auth_mech { SMTP_AUTH_UNKNOWN = 0, SMTP_AUTH_PLAIN, SMTP_AUTH_LOGIN };
enum smtp_auth_mech smtp_parse_auth(const char *arg, size_t len,
                                    const char **ir, size_t *irlen);

/*
 * Decode an AUTH PLAIN response (base64 of authzid NUL authcid NUL passwd).
 * Output strings are NUL-terminated; each buffer has room for CAP bytes.
 * Returns 0, or -1 if base64 is malformed, a field is too long, a field
 * contains NUL, or authcid/passwd are empty.  An authzid, if given, must equal
 * authcid (we do not support proxy authorization).
 */
int smtp_auth_plain_decode(const char *b64, size_t len, char *authcid,
                           char *passwd, size_t cap);

/*
 * Decode one AUTH LOGIN step (base64 of a user name or password) into OUT
 * (CAP bytes, NUL-terminated).  Returns the decoded length or -1 on bad
 * base64, embedded NUL or overflow.
 */
int smtp_auth_login_decode(const char *b64, size_t len, char *out, size_t cap);

/*
 * Incremental scanner for message content, fed as bytes arrive.
 *  - DATA mode (dot=1): removes dot-stuffing (RFC 5321 4.5.2) and stops at
 *    the end-of-data marker, which is ONLY <CRLF>.<CRLF> (or ".<CRLF>" as the
 *    first line).  "\n.\n", "\r.\r" and friends are ordinary (flagged) bytes.
 *  - BDAT mode (dot=0): copies bytes verbatim; the caller counts the chunk.
 * In both modes it flags bare CR, bare LF, NUL and lines longer than
 * max_line octets including CRLF (0 = no limit); the flags let the session
 * refuse the message after its end without buffering anything else.
 * A CR that ends one feed and is followed by LF in the next is not bare.
 */
enum {
	SMTP_SCAN_BARE_LF = 1 << 0,
	SMTP_SCAN_BARE_CR = 1 << 1,
	SMTP_SCAN_NUL = 1 << 2,
	SMTP_SCAN_LONG_LINE = 1 << 3,
	SMTP_SCAN_8BIT = 1 << 4,     /* some octet >= 0x80 (informational) */
};

struct smtp_scan {
	int dot;          /* DATA mode */
	size_t max_line;  /* limit incl. CRLF, 0 = none */
	int state;        /* private */
	size_t line_len;  /* private: octets in the current line so far */
	unsigned flags;   /* SMTP_SCAN_* seen so far */
	int done;         /* DATA mode: end marker consumed */
};

void smtp_scan_init(struct smtp_scan *s, int dot, size_t max_line);

/*
 * Consume up to LEN octets of IN.  Message octets are written to OUT (which
 * must have room for LEN octets; OUT may be NULL to discard) and *OUTLEN is
 * set to how many were written.  Returns the number of octets of IN consumed:
 * less than LEN only when the end-of-data marker was reached (s->done set),
 * so what follows it (pipelined commands) stays in the caller's buffer.
 * The CRLF that precedes the end marker belongs to the message.
 */
size_t smtp_scan_feed(struct smtp_scan *s, const char *in, size_t len,
                      char *out, size_t *outlen);

/*
 * Find the domains of the addresses in the header From: field of MSG (the
 * header section ends at the first empty line).  Handles folding, comments,
 * quoted display names, groups and multiple mailboxes.  Up to MAX domains are
 * copied (lower-cased, NUL-terminated, each up to SMTP_MAX_DOMAIN) into
 * DOMAINS.  Returns the number of addresses found, or:
 *   -1  no From: field,
 *   -2  more than one From: field,
 *   -3  a From: field with no parsable address.
 */
int smtp_header_from_domains(const char *msg, size_t len,
                             char domains[][SMTP_MAX_DOMAIN + 1], int max);

/*
 * Is DOMAIN (case-insensitive) equal to ALLOWED or a subdomain of it?
 * ("mail.example.com" is under "example.com"; "badexample.com" is not.)
 */
int smtp_domain_matches(const char *domain, const char *allowed);

/* Is S (LEN octets) well-formed UTF-8 (no overlongs, no surrogates)? */
int smtp_utf8_valid(const char *s, size_t len);

#endif
