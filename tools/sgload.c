/*
 * sgload.c - SMTP load generator for sesgate.
 *
 * Keeps C SMTP sessions open against one server and pushes N messages of
 * about S bytes through them (the idea of Postfix's smtp-source), then
 * reports throughput and end-of-data latency percentiles.  Every session
 * reads the greeting, says EHLO, optionally authenticates with AUTH PLAIN and
 * then runs transactions: MAIL/RCPT/DATA pipelined in one write followed by
 * the dot-stuffed body or, when the server offers CHUNKING and -P > 1, up to
 * P complete MAIL/RCPT/BDAT-LAST transactions written back to back.  Latency
 * runs from the moment the last byte of a message left our output buffer
 * (was handed to the kernel) to the moment its final reply was read.
 *
 * Single thread, one event_base, non-blocking bufferevents.  Deliberately
 * self-contained (libevent + libc) so that it builds with a bare gcc line.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#define REPLY_TEXT_MAX	256		/* kept of a reply's last line */
#define LINE_MAX_LEN	1024		/* a longer reply line is truncated */
#define INBUF_LIMIT	(64 * 1024)	/* more unterminated input: give up */
#define CMD_LINE_MAX	1200		/* MAIL/RCPT/AUTH lines we format */
#define HDR_MAX		1400		/* the generated header block */
#define IO_TIMEOUT_S	60		/* per-session stall limit, capped by -T */
#define STOP_GRACE_MS	2000		/* how long QUITs may take at the end */
#define FAIL_LOG_MAX	5		/* distinct failure replies shown */
#define BODY_LINE	76		/* body characters per line, before CRLF */

#define MAX_CONC	10000
#define MAX_TOTAL	10000000ULL	/* keeps the latency array <= 80 MB */
#define MAX_SIZE	(64UL << 20)
#define MAX_PIPELINE	100
#define MAX_RCPTS	1000
#define MAX_ADDR	254

struct config {
	const char *host;
	const char *port;
	unsigned long concurrency;
	unsigned long long total;
	unsigned long msg_size;
	unsigned long per_session;	/* 0: unlimited */
	unsigned long pipeline;
	const char *user;
	const char *password;
	const char *from;
	const char *to;
	unsigned long rcpts;
	unsigned long timeout_s;
	bool json;
};

static struct config cfg = {
	.host = "127.0.0.1",
	.port = "25",
	.concurrency = 10,
	.total = 1000,
	.msg_size = 4096,
	.per_session = 0,
	.pipeline = 1,
	.user = NULL,
	.password = "",
	.from = "sgload@example.com",
	.to = "sink@example.net",
	.rcpts = 1,
	.timeout_s = 300,
	.json = false,
};

/*
 * Per-session protocol state.  READY is transient: a session entering it
 * immediately starts the next transaction or says QUIT.
 */
enum sess_state {
	SS_CONNECTING,	/* TCP connect in progress */
	SS_GREETING,	/* waiting for 220 */
	SS_EHLO,	/* EHLO sent, collecting capabilities */
	SS_AUTH,	/* AUTH PLAIN sent, waiting for 235 */
	SS_READY,	/* between transactions */
	SS_ENVELOPE,	/* DATA path: MAIL/RCPT/DATA replies outstanding */
	SS_BODY,	/* DATA path: body sent, waiting for the final reply */
	SS_BDAT,	/* CHUNKING path: a batch of transactions outstanding */
	SS_QUIT,	/* QUIT sent, waiting for 221 or EOF */
	SS_CLOSED,
};

static const char *const state_name[] = {
	[SS_CONNECTING] = "connecting", [SS_GREETING] = "greeting",
	[SS_EHLO] = "ehlo", [SS_AUTH] = "auth", [SS_READY] = "ready",
	[SS_ENVELOPE] = "envelope", [SS_BODY] = "body", [SS_BDAT] = "bdat",
	[SS_QUIT] = "quit", [SS_CLOSED] = "closed",
};

/* A command whose reply is still owed; replies arrive strictly in order. */
enum cmd_kind { CMD_RSET, CMD_MAIL, CMD_RCPT, CMD_DATA, CMD_DOT, CMD_BDAT };

static const char *const cmd_name[] = {
	[CMD_RSET] = "RSET", [CMD_MAIL] = "MAIL", [CMD_RCPT] = "RCPT",
	[CMD_DATA] = "DATA", [CMD_DOT] = "end of data", [CMD_BDAT] = "BDAT",
};

struct cmd {
	enum cmd_kind kind;
	int msg;		/* index into session.msgs, -1 for RSET */
	unsigned arg;		/* recipient index for RCPT */
};

struct msg {
	unsigned long long seq;
	uint64_t end_off;	/* output stream offset just past its last byte */
	uint64_t t_queued;	/* ns, when that byte was queued */
	uint64_t t_sent;	/* ns, when it was drained to the kernel; 0: not yet */
	bool has_end;
	bool failed;
	bool done;
};

struct session {
	bool active;
	enum sess_state state;
	struct bufferevent *bev;
	struct evbuffer_cb_entry *drain_ent;
	struct event *respawn;
	uint64_t out_added;	/* bytes ever queued on this connection */
	uint64_t out_drained;	/* bytes ever handed to the kernel */
	bool pipelining, chunking, auth_plain;
	bool need_rset;		/* last transaction failed: reset first */
	unsigned ml_lines;	/* lines of the multi-line reply so far */
	unsigned long started;	/* messages started here (for -m) */
	unsigned long finished;	/* messages with a final verdict here */
	struct cmd *cmds;
	unsigned ncmd, nsent, nreplied, cmd_cap;
	struct msg *msgs;
	unsigned nmsg;
};

struct reply {
	int code;
	char text[REPLY_TEXT_MAX];
};

static struct {
	struct event_base *base;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char ehlo_name[256];
	char auth_b64[1024];
	char **rcpt;

	char *body_raw;		/* header-less body for BDAT, unstuffed */
	char *body_dot;		/* the same, dot-stuffed, plus ".\r\n" */
	size_t body_raw_len, body_dot_len;
	size_t hdr_len;		/* every generated header block is this long */

	struct session *sess;
	unsigned long active;
	unsigned long long issued, accepted, failed, unfinished;
	unsigned long sessions;
	unsigned long consec_fail;	/* sessions dead before any verdict */
	unsigned long replies[6];	/* by first digit */
	double *lat_ms;
	size_t nlat;

	bool stopping, cut_short, aborted;
	bool warned_auth;
	uint64_t t_start, t_stop;
	struct event *deadline, *stop_ev, *grace, *sigint;

	char fail_seen[FAIL_LOG_MAX][REPLY_TEXT_MAX];
	unsigned nfail_seen;
} run;

static int session_advance(struct session *s, const struct reply *r);

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sgload [-H host] [-p port] [-c concurrency] [-n total_messages]\n"
		"              [-s message_bytes] [-m messages_per_session] [-P pipeline_depth]\n"
		"              [-u user] [-w password] [-f from] [-t to] [-r recipients_per_msg]\n"
		"              [-T seconds_timeout] [--json]\n"
		"defaults: -H 127.0.0.1 -p 25 -c 10 -n 1000 -s 4096 -m 0 (unlimited) -P 1\n"
		"          -f sgload@example.com -t sink@example.net -r 1 -T 300\n"
		"-P > 1 sends that many MAIL/RCPT/BDAT LAST transactions back to back when\n"
		"the server offers CHUNKING; otherwise MAIL/RCPT/DATA is used.  With -r > 1\n"
		"recipient i (i >= 1) is the -t address with \"+i\" added to its local part.\n");
}

static unsigned long long parse_num(const char *arg, int opt,
				    unsigned long long lo, unsigned long long hi)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!isdigit((unsigned char)arg[0]))
		goto bad;
	v = strtoull(arg, &end, 10);
	if (errno || *end || v < lo || v > hi)
		goto bad;
	return v;
bad:
	fprintf(stderr, "sgload: -%c wants a number in %llu..%llu, not \"%s\"\n",
		opt, lo, hi, arg);
	exit(2);
}

/* Addresses go verbatim into commands and headers: refuse anything odd. */
static void check_addr(const char *a, int opt)
{
	size_t i, n = strlen(a);

	if (n == 0 || n > MAX_ADDR)
		goto bad;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c <= ' ' || c >= 0x7f || c == '<' || c == '>')
			goto bad;
	}
	return;
bad:
	fprintf(stderr, "sgload: -%c: unusable address \"%s\"\n", opt, a);
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "H:p:c:n:s:m:P:u:w:f:t:r:T:h",
				longopts, NULL)) != -1) {
		switch (c) {
		case 'H': cfg.host = optarg; break;
		case 'p':
			parse_num(optarg, c, 1, 65535);
			cfg.port = optarg;
			break;
		case 'c': cfg.concurrency = parse_num(optarg, c, 1, MAX_CONC); break;
		case 'n': cfg.total = parse_num(optarg, c, 1, MAX_TOTAL); break;
		case 's': cfg.msg_size = parse_num(optarg, c, 1, MAX_SIZE); break;
		case 'm': cfg.per_session = parse_num(optarg, c, 0, MAX_TOTAL); break;
		case 'P': cfg.pipeline = parse_num(optarg, c, 1, MAX_PIPELINE); break;
		case 'u': cfg.user = optarg; break;
		case 'w': cfg.password = optarg; break;
		case 'f': cfg.from = optarg; break;
		case 't': cfg.to = optarg; break;
		case 'r': cfg.rcpts = parse_num(optarg, c, 1, MAX_RCPTS); break;
		case 'T': cfg.timeout_s = parse_num(optarg, c, 1, 86400); break;
		case 'J': cfg.json = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	check_addr(cfg.from, 'f');
	check_addr(cfg.to, 't');
	if (cfg.user && (strlen(cfg.user) > 255 || strlen(cfg.password) > 255)) {
		fprintf(stderr, "sgload: user and password are limited to 255 bytes\n");
		exit(2);
	}
}

static size_t b64_encode(const unsigned char *in, size_t len, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* RFC 4616: authzid (empty) NUL authcid NUL passwd, sent as initial response. */
static void build_auth(void)
{
	unsigned char raw[2 + 255 + 255];
	size_t ul = strlen(cfg.user), pl = strlen(cfg.password);

	raw[0] = '\0';
	memcpy(raw + 1, cfg.user, ul);
	raw[1 + ul] = '\0';
	memcpy(raw + 2 + ul, cfg.password, pl);
	b64_encode(raw, 2 + ul + pl, run.auth_b64);
	memset(raw, 0, sizeof(raw));
}

/*
 * Recipient 0 is -t itself; further ones get a "+i" subaddress so a server
 * that folds duplicate recipients still sees R distinct ones.
 */
static void build_rcpts(void)
{
	const char *at = strrchr(cfg.to, '@');
	size_t local = at ? (size_t)(at - cfg.to) : strlen(cfg.to);
	unsigned long i;

	run.rcpt = calloc(cfg.rcpts, sizeof(*run.rcpt));
	if (!run.rcpt)
		goto oom;
	for (i = 0; i < cfg.rcpts; i++) {
		size_t cap = strlen(cfg.to) + 16;

		run.rcpt[i] = malloc(cap);
		if (!run.rcpt[i])
			goto oom;
		if (i == 0)
			snprintf(run.rcpt[i], cap, "%s", cfg.to);
		else
			snprintf(run.rcpt[i], cap, "%.*s+%lu%s", (int)local, cfg.to,
				 i, at ? at : "");
	}
	return;
oom:
	fprintf(stderr, "sgload: out of memory\n");
	exit(2);
}

/*
 * The header block of message SEQ.  Every field has a fixed width so all
 * blocks are run.hdr_len long and one body template fits every message.
 */
static size_t format_headers(char *buf, size_t cap, unsigned long long seq)
{
	char date[64];
	time_t t = time(NULL);
	struct tm tm;
	int n;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	n = snprintf(buf, cap,
		     "From: <%s>\r\n"
		     "To: <%s>\r\n"
		     "Subject: sgload test message %010llu\r\n"
		     "Date: %s\r\n"
		     "Message-ID: <sgload.%08lx.%010llu@sgload.invalid>\r\n"
		     "\r\n",
		     cfg.from, run.rcpt[0], seq, date,
		     (unsigned long)getpid() & 0xffffffffUL, seq);
	return n < 0 ? 0 : (size_t)n;
}

/*
 * Build the body once: lines of at most 76 characters, sized so that the
 * header block plus the body is exactly -s bytes (one byte more only when
 * the headers alone leave a single byte, which CRLF cannot fill).  Some
 * lines start with a dot and a few are a lone dot, so the DATA copy really
 * exercises dot-stuffing on both ends.
 */
static void build_body(void)
{
	char hdr[HDR_MAX];
	size_t budget, i, o, d, nlines = 0;
	uint64_t rnd = 0x9e3779b97f4a7c15ULL;

	run.hdr_len = format_headers(hdr, sizeof(hdr), 0);
	budget = cfg.msg_size > run.hdr_len ? cfg.msg_size - run.hdr_len : 0;
	run.body_raw = malloc(budget + 1);
	run.body_dot = malloc(budget + budget / 2 + 8);
	if (!run.body_raw || !run.body_dot) {
		fprintf(stderr, "sgload: out of memory\n");
		exit(2);
	}

	/* each round consumes >= 2 bytes of budget, so this ends */
	for (o = 0; budget - o >= 2 && nlines <= budget; nlines++) {
		size_t left = budget - o;
		size_t want = nlines % 41 == 7 ? 1 : BODY_LINE;
		size_t len = want < left - 2 ? want : left - 2;

		/* never leave exactly one byte: a line needs at least CRLF */
		if (left - (len + 2) == 1)
			len = len >= 2 ? len - 1 : len + 1;
		for (i = 0; i < len; i++) {
			rnd ^= rnd << 13;
			rnd ^= rnd >> 7;
			rnd ^= rnd << 17;
			if (i % 9 == 8 && i + 1 < len)
				run.body_raw[o + i] = ' ';
			else
				run.body_raw[o + i] = "abcdefghijklmnopqrstuvwxyz"
					"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[rnd % 62];
		}
		if (len > 0 && (want == 1 || nlines % 13 == 3))
			run.body_raw[o] = '.';
		o += len;
		run.body_raw[o++] = '\r';
		run.body_raw[o++] = '\n';
	}
	run.body_raw_len = o;

	/* RFC 5321 4.5.2: a line starting with "." gets one more */
	for (i = 0, d = 0; i < run.body_raw_len; i++) {
		if (run.body_raw[i] == '.' && (i == 0 || run.body_raw[i - 1] == '\n'))
			run.body_dot[d++] = '.';
		run.body_dot[d++] = run.body_raw[i];
	}
	memcpy(run.body_dot + d, ".\r\n", 3);
	run.body_dot_len = d + 3;
}

static void resolve(void)
{
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(cfg.host, cfg.port, &hints, &res);
	if (rc || !res) {
		fprintf(stderr, "sgload: %s port %s: %s\n", cfg.host, cfg.port,
			rc ? gai_strerror(rc) : "no address");
		exit(2);
	}
	memcpy(&run.addr, res->ai_addr, res->ai_addrlen);
	run.addrlen = res->ai_addrlen;
	freeaddrinfo(res);
}

/* Show a failure reply unless it (or too many others) was shown already. */
static void note_failure(const char *what, const char *text)
{
	char clean[REPLY_TEXT_MAX];
	size_t i;

	for (i = 0; i + 1 < sizeof(clean) && text[i]; i++)
		clean[i] = isprint((unsigned char)text[i]) ? text[i] : '?';
	clean[i] = '\0';
	if (run.nfail_seen >= FAIL_LOG_MAX)
		return;
	for (i = 0; i < run.nfail_seen; i++)
		if (!strcmp(run.fail_seen[i], clean))
			return;
	memcpy(run.fail_seen[run.nfail_seen++], clean, sizeof(clean));
	fprintf(stderr, "sgload: %s failed: %s\n", what, clean);
}

/*
 * Stop issuing work.  Sessions are not touched here because this can run
 * from deep inside one of them; stop_cb does the sweep from the loop.
 */
static void finish_run(void)
{
	if (run.stopping)
		return;
	run.stopping = true;
	run.t_stop = now_ns();
	event_active(run.stop_ev, 0, 0);
}

static void msg_finish(struct session *s, struct msg *m)
{
	uint64_t t = now_ns();

	m->done = true;
	s->finished++;
	run.consec_fail = 0;
	if (m->failed) {
		run.failed++;
	} else {
		uint64_t from = m->t_sent ? m->t_sent : m->t_queued;

		run.accepted++;
		run.lat_ms[run.nlat++] = (double)(t - from) / 1e6;
	}
	if (run.accepted + run.failed >= cfg.total)
		finish_run();
}

static void msg_reject(struct msg *m, enum cmd_kind k, const struct reply *r)
{
	m->failed = true;
	note_failure(cmd_name[k], r->text);
}

static void respawn_cb(evutil_socket_t fd, short what, void *arg);

/*
 * Tear a session down.  ERROR means the connection ended without a proper
 * QUIT; its unanswered messages are failures (or, once the run was cut short
 * by -T or SIGINT, merely unfinished).  Then keep C sessions going.
 */
static void session_close(struct session *s, bool error)
{
	unsigned i;

	if (!s->active)
		return;
	for (i = 0; i < s->nmsg; i++) {
		struct msg *m = &s->msgs[i];

		if (m->done)
			continue;
		if (run.cut_short) {
			m->done = true;
			run.unfinished++;
		} else {
			m->failed = true;
			msg_finish(s, m);
		}
	}
	if (s->bev) {
		if (s->drain_ent)
			evbuffer_remove_cb_entry(bufferevent_get_output(s->bev),
						 s->drain_ent);
		bufferevent_free(s->bev);
	}
	s->bev = NULL;
	s->drain_ent = NULL;
	s->nmsg = 0;
	s->active = false;
	s->state = SS_CLOSED;
	run.active--;

	if (error && !run.stopping && s->finished == 0) {
		/* nothing works (refused, bad auth...): do not spin until -T */
		unsigned long limit = 2 * cfg.concurrency + 10;

		if (++run.consec_fail >= limit) {
			fprintf(stderr, "sgload: giving up after %lu failed sessions in a row\n",
				run.consec_fail);
			run.aborted = true;
			finish_run();
		}
	}
	if (!run.stopping && run.issued < cfg.total) {
		/* back off a little while sessions keep failing */
		unsigned long ms = run.consec_fail * 20 > 1000 ? 1000 : run.consec_fail * 20;
		struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

		evtimer_add(s->respawn, &tv);
	}
	if (run.stopping && run.active == 0)
		event_base_loopexit(run.base, NULL);
}

static int session_fail(struct session *s, const char *what, const char *text)
{
	if (!run.stopping)
		note_failure(what, text);
	session_close(s, true);
	return -1;
}

static int out_add(struct session *s, const void *p, size_t n)
{
	if (n && evbuffer_add(bufferevent_get_output(s->bev), p, n) < 0)
		return -1;
	s->out_added += n;
	return 0;
}

/* The templates outlive every bufferevent, so they are added uncopied. */
static int out_add_ref(struct session *s, const void *p, size_t n)
{
	if (n && evbuffer_add_reference(bufferevent_get_output(s->bev), p, n,
					NULL, NULL) < 0)
		return -1;
	s->out_added += n;
	return 0;
}

__attribute__((format(printf, 2, 3)))
static int out_cmd(struct session *s, const char *fmt, ...)
{
	char line[CMD_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return -1;
	line[n++] = '\r';
	line[n++] = '\n';
	return out_add(s, line, (size_t)n);
}

/* Header block + body of one message, remembering where it ends. */
static int out_message(struct session *s, struct msg *m, bool bdat)
{
	char hdr[HDR_MAX];
	size_t hl = format_headers(hdr, sizeof(hdr), m->seq);

	if (hl != run.hdr_len)
		return -1;	/* cannot happen: all fields are fixed width */
	if (bdat && out_cmd(s, "BDAT %zu LAST", hl + run.body_raw_len) < 0)
		return -1;
	if (out_add(s, hdr, hl) < 0)
		return -1;
	if (bdat ? out_add_ref(s, run.body_raw, run.body_raw_len) < 0
		 : out_add_ref(s, run.body_dot, run.body_dot_len) < 0)
		return -1;
	m->end_off = s->out_added;
	m->has_end = true;
	m->t_queued = now_ns();
	return 0;
}

/* Output-buffer callback: stamp messages whose last byte just left. */
static void drain_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
		     void *arg)
{
	struct session *s = arg;
	uint64_t t = 0;
	unsigned i;

	if (!info->n_deleted)
		return;
	s->out_drained += info->n_deleted;
	for (i = 0; i < s->nmsg; i++) {
		struct msg *m = &s->msgs[i];

		if (m->has_end && !m->t_sent && m->end_off <= s->out_drained) {
			if (!t)
				t = now_ns();
			m->t_sent = t;
		}
	}
}

static void push_cmd(struct session *s, enum cmd_kind k, int msg, unsigned arg)
{
	struct cmd *c;

	/* cmd_cap covers the largest batch plus RSET and DOT */
	if (s->ncmd >= s->cmd_cap)
		abort();
	c = &s->cmds[s->ncmd++];

	c->kind = k;
	c->msg = msg;
	c->arg = arg;
}

static int send_cmd(struct session *s, const struct cmd *c)
{
	switch (c->kind) {
	case CMD_RSET:
		return out_cmd(s, "RSET");
	case CMD_MAIL:
		return out_cmd(s, "MAIL FROM:<%s>", cfg.from);
	case CMD_RCPT:
		return out_cmd(s, "RCPT TO:<%s>", run.rcpt[c->arg]);
	case CMD_DATA:
		return out_cmd(s, "DATA");
	case CMD_BDAT:
		return out_message(s, &s->msgs[c->msg], true);
	case CMD_DOT:
		break;
	}
	return -1;
}

/*
 * Write the queued commands: all of them when the server pipelines
 * (RFC 2920; DATA is always last in a batch, BDAT may be pipelined per RFC
 * 3030), else one at a time, each after the previous reply.
 */
static int send_pending(struct session *s)
{
	while (s->nsent < s->ncmd && (s->pipelining || s->nsent == s->nreplied)) {
		if (send_cmd(s, &s->cmds[s->nsent]) < 0)
			return session_fail(s, "write", "cannot queue output");
		s->nsent++;
	}
	return 0;
}

static int session_quit(struct session *s)
{
	if (out_cmd(s, "QUIT") < 0)
		return session_fail(s, "write", "cannot queue output");
	s->state = SS_QUIT;
	return 0;
}

/* Start the next transaction batch, or QUIT when this session is done. */
static int start_batch(struct session *s)
{
	unsigned long long left = cfg.total - run.issued;
	bool bdat = cfg.pipeline > 1 && s->chunking;
	unsigned long k = bdat ? cfg.pipeline : 1;
	unsigned long i, j;

	if (run.stopping || left == 0 ||
	    (cfg.per_session && s->started >= cfg.per_session))
		return session_quit(s);
	if (k > left)
		k = (unsigned long)left;
	if (cfg.per_session && k > cfg.per_session - s->started)
		k = cfg.per_session - s->started;

	s->ncmd = s->nsent = s->nreplied = 0;
	s->nmsg = 0;
	if (s->need_rset) {
		push_cmd(s, CMD_RSET, -1, 0);
		s->need_rset = false;
	}
	for (i = 0; i < k; i++) {
		struct msg *m = &s->msgs[s->nmsg];

		memset(m, 0, sizeof(*m));
		m->seq = ++run.issued;
		s->started++;
		push_cmd(s, CMD_MAIL, (int)s->nmsg, 0);
		for (j = 0; j < cfg.rcpts; j++)
			push_cmd(s, CMD_RCPT, (int)s->nmsg, (unsigned)j);
		push_cmd(s, bdat ? CMD_BDAT : CMD_DATA, (int)s->nmsg, 0);
		s->nmsg++;
	}
	s->state = bdat ? SS_BDAT : SS_ENVELOPE;
	return send_pending(s);
}

/* A reply inside a transaction batch: match it to the oldest command owed. */
static int txn_reply(struct session *s, const struct reply *r)
{
	const struct cmd *c;
	struct msg *m;

	if (s->nreplied >= s->nsent)
		return session_fail(s, "protocol (unexpected reply)", r->text);
	c = &s->cmds[s->nreplied++];
	m = c->msg >= 0 ? &s->msgs[c->msg] : NULL;

	switch (c->kind) {
	case CMD_RSET:
		/* whatever it says, the MAIL right behind it will tell */
		break;
	case CMD_MAIL:
	case CMD_RCPT:
		if (r->code >= 400)
			msg_reject(m, c->kind, r);
		break;
	case CMD_DATA:
		if (r->code == 354) {
			/*
			 * Send the body even if MAIL or every RCPT failed
			 * (RFC 2920 3.1): the server is now reading data.
			 */
			if (out_message(s, m, false) < 0)
				return session_fail(s, "write", "cannot queue output");
			push_cmd(s, CMD_DOT, c->msg, 0);
			s->nsent++;
			s->state = SS_BODY;
			return 0;
		}
		if (r->code < 400)
			m->failed = true;	/* 2xx to DATA is nonsense */
		else
			msg_reject(m, c->kind, r);
		s->need_rset = true;
		msg_finish(s, m);
		break;
	case CMD_DOT:
	case CMD_BDAT:
		if (r->code / 100 != 2)
			msg_reject(m, c->kind, r);
		if (m->failed)
			s->need_rset = true;
		msg_finish(s, m);
		break;
	}
	if (s->nreplied < s->ncmd)
		return send_pending(s);
	s->state = SS_READY;
	return session_advance(s, NULL);
}

/*
 * The state machine.  R is the complete (possibly multi-line) reply that
 * just arrived, or NULL when there is no reply: the TCP connection came up
 * (CONNECTING) or a transaction batch ended (READY).  Returns -1 once the
 * session is gone, so callers stop touching it.
 */
static int session_advance(struct session *s, const struct reply *r)
{
	if (!r && s->state != SS_CONNECTING && s->state != SS_READY)
		return 0;
	if (r && (s->state == SS_CONNECTING || s->state == SS_READY))
		return session_fail(s, "protocol (unsolicited reply)", r->text);

	switch (s->state) {
	case SS_CONNECTING:
		s->state = SS_GREETING;
		return 0;
	case SS_GREETING:
		if (r->code != 220)
			return session_fail(s, "greeting", r->text);
		s->pipelining = s->chunking = s->auth_plain = false;
		if (out_cmd(s, "EHLO %s", run.ehlo_name) < 0)
			return session_fail(s, "write", "cannot queue output");
		s->state = SS_EHLO;
		return 0;
	case SS_EHLO:
		if (r->code != 250)
			return session_fail(s, "EHLO", r->text);
		if (!cfg.user) {
			s->state = SS_READY;
			return session_advance(s, NULL);
		}
		if (!s->auth_plain && !run.warned_auth) {
			run.warned_auth = true;
			fprintf(stderr, "sgload: server does not offer AUTH PLAIN; trying anyway\n");
		}
		if (out_cmd(s, "AUTH PLAIN %s", run.auth_b64) < 0)
			return session_fail(s, "write", "cannot queue output");
		s->state = SS_AUTH;
		return 0;
	case SS_AUTH:
		if (r->code != 235)
			return session_fail(s, "AUTH", r->text);
		s->state = SS_READY;
		return session_advance(s, NULL);
	case SS_READY:
		return start_batch(s);
	case SS_ENVELOPE:
	case SS_BODY:
	case SS_BDAT:
		return txn_reply(s, r);
	case SS_QUIT:
		session_close(s, false);
		return -1;
	case SS_CLOSED:
		break;
	}
	return -1;
}

static void ehlo_keyword(struct session *s, const char *kw)
{
	if (!strncasecmp(kw, "PIPELINING", 10) && (!kw[10] || kw[10] == ' ')) {
		s->pipelining = true;
	} else if (!strncasecmp(kw, "CHUNKING", 8) && (!kw[8] || kw[8] == ' ')) {
		s->chunking = true;
	} else if (!strncasecmp(kw, "AUTH", 4) && (kw[4] == ' ' || kw[4] == '=')) {
		/* "AUTH LOGIN PLAIN" or the old "AUTH=PLAIN"; bounded by strlen */
		const char *p = kw + 4;

		while ((p = strcasestr(p, "PLAIN")) != NULL) {
			if ((p[-1] == ' ' || p[-1] == '=') && (!p[5] || p[5] == ' '))
				s->auth_plain = true;
			p += 5;
		}
	}
}

/* One reply line; a final line completes the reply and drives the FSM. */
static int handle_line(struct session *s, const char *line, size_t len)
{
	struct reply r;
	size_t n;
	bool last;

	if (len < 3 || !isdigit((unsigned char)line[0]) ||
	    !isdigit((unsigned char)line[1]) || !isdigit((unsigned char)line[2]) ||
	    line[0] < '2' || line[0] > '5' ||
	    (len > 3 && line[3] != ' ' && line[3] != '-'))
		return session_fail(s, "protocol (malformed reply)", line);
	last = len == 3 || line[3] == ' ';
	/* the first EHLO line is the server's name, the rest are keywords */
	if (s->state == SS_EHLO && s->ml_lines > 0 && len > 4)
		ehlo_keyword(s, line + 4);
	s->ml_lines++;
	if (!last)
		return 0;
	s->ml_lines = 0;
	r.code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	/* deliberately truncated: the text is only for failure logs */
	n = len < sizeof(r.text) ? len : sizeof(r.text) - 1;
	memcpy(r.text, line, n);
	r.text[n] = '\0';
	run.replies[r.code / 100]++;
	return session_advance(s, &r);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t i, budget = evbuffer_get_length(in);
	char line[LINE_MAX_LEN];

	/* every round drains at least the EOL byte */
	for (i = 0; i <= budget; i++) {
		size_t eol_len = 0, n, keep;
		struct evbuffer_ptr p;

		p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
		if (p.pos < 0)
			break;
		n = (size_t)p.pos;
		keep = n < sizeof(line) ? n : sizeof(line) - 1;
		evbuffer_copyout(in, line, keep);
		line[keep] = '\0';
		evbuffer_drain(in, n + eol_len);
		if (handle_line(s, line, keep) < 0)
			return;
	}
	if (evbuffer_get_length(in) > INBUF_LIMIT)
		session_fail(s, "protocol", "unterminated reply line");
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	char text[REPLY_TEXT_MAX];
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		evutil_socket_t fd = bufferevent_getfd(bev);
		int one = 1;

		/* small command writes must not sit behind Nagle + delayed ACK */
		if (run.addr.ss_family == AF_INET || run.addr.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		run.sessions++;
		session_advance(s, NULL);
		return;
	}
	if (s->state == SS_QUIT && (what & BEV_EVENT_EOF)) {
		session_close(s, false);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(text, sizeof(text), "no progress for %lus in state %s",
			 cfg.timeout_s < IO_TIMEOUT_S ? cfg.timeout_s : IO_TIMEOUT_S,
			 state_name[s->state]);
	else if (what & BEV_EVENT_EOF)
		snprintf(text, sizeof(text), "server closed the connection in state %s",
			 state_name[s->state]);
	else
		snprintf(text, sizeof(text), "%s in state %s",
			 evutil_socket_error_to_string(err), state_name[s->state]);
	session_fail(s, "connection", text);
}

static void session_open(struct session *s)
{
	struct timeval tv = {
		(time_t)(cfg.timeout_s < IO_TIMEOUT_S ? cfg.timeout_s : IO_TIMEOUT_S), 0
	};

	s->active = true;
	s->state = SS_CONNECTING;
	s->out_added = s->out_drained = 0;
	s->pipelining = s->chunking = s->auth_plain = false;
	s->need_rset = false;
	s->ml_lines = 0;
	s->started = s->finished = 0;
	s->ncmd = s->nsent = s->nreplied = 0;
	s->nmsg = 0;
	run.active++;

	s->bev = bufferevent_socket_new(run.base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!s->bev) {
		session_fail(s, "connection", "cannot create bufferevent");
		return;
	}
	s->drain_ent = evbuffer_add_cb(bufferevent_get_output(s->bev), drain_cb, s);
	bufferevent_setcb(s->bev, read_cb, NULL, event_cb, s);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&run.addr,
				       (int)run.addrlen) < 0 && s->active)
		session_fail(s, "connect", strerror(errno));
}

static void respawn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	if (!s->active && !run.stopping && run.issued < cfg.total)
		session_open(s);
}

/* From the loop, after finish_run(): close what will not end by itself. */
static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval grace = { STOP_GRACE_MS / 1000, (STOP_GRACE_MS % 1000) * 1000 };
	unsigned long i;

	evtimer_del(run.deadline);
	for (i = 0; i < cfg.concurrency; i++) {
		struct session *s = &run.sess[i];

		evtimer_del(s->respawn);
		if (!s->active || s->state == SS_QUIT)
			continue;
		/*
		 * When all N messages are done no session has any in flight;
		 * only -T, SIGINT or giving up leaves work behind.
		 */
		session_close(s, false);
	}
	if (run.active == 0)
		event_base_loopexit(run.base, NULL);
	else
		evtimer_add(run.grace, &grace);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	fprintf(stderr, "sgload: %s, stopping\n",
		arg ? "interrupted" : "time limit (-T) reached");
	run.cut_short = true;
	finish_run();
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(run.base);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted array V. */
static double percentile(const double *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0.0;
	rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

static void report(void)
{
	double elapsed = (double)(run.t_stop - run.t_start) / 1e9;
	double rate = elapsed > 0 ? (double)run.accepted / elapsed : 0.0;
	double p50, p90, p99, max;

	qsort(run.lat_ms, run.nlat, sizeof(*run.lat_ms), cmp_double);
	p50 = percentile(run.lat_ms, run.nlat, 50);
	p90 = percentile(run.lat_ms, run.nlat, 90);
	p99 = percentile(run.lat_ms, run.nlat, 99);
	max = run.nlat ? run.lat_ms[run.nlat - 1] : 0.0;

	if (run.unfinished)
		fprintf(stderr, "sgload: %llu messages still in flight were not counted\n",
			run.unfinished);
	if (cfg.json) {
		printf("{\"accepted\":%llu,\"failed\":%llu,\"elapsed_s\":%.3f,"
		       "\"msgs_per_s\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
		       "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"sessions\":%lu,"
		       "\"unfinished\":%llu,\"replies_2xx\":%lu,\"replies_3xx\":%lu,"
		       "\"replies_4xx\":%lu,\"replies_5xx\":%lu}\n",
		       run.accepted, run.failed, elapsed, rate, p50, p90, p99, max,
		       run.sessions, run.unfinished, run.replies[2], run.replies[3],
		       run.replies[4], run.replies[5]);
	} else {
		printf("accepted %llu failed %llu elapsed %.3f s rate %.1f msg/s "
		       "latency ms p50 %.3f p90 %.3f p99 %.3f max %.3f sessions %lu "
		       "replies 2xx %lu 3xx %lu 4xx %lu 5xx %lu\n",
		       run.accepted, run.failed, elapsed, rate, p50, p90, p99, max,
		       run.sessions, run.replies[2], run.replies[3], run.replies[4],
		       run.replies[5]);
	}
	fflush(stdout);
}

static void setup_sessions(void)
{
	unsigned long i;
	unsigned cap = (unsigned)(cfg.pipeline * (cfg.rcpts + 2) + 2);

	run.sess = calloc(cfg.concurrency, sizeof(*run.sess));
	if (!run.sess)
		goto oom;
	for (i = 0; i < cfg.concurrency; i++) {
		struct session *s = &run.sess[i];

		s->state = SS_CLOSED;
		s->cmd_cap = cap;
		s->cmds = calloc(cap, sizeof(*s->cmds));
		s->msgs = calloc(cfg.pipeline, sizeof(*s->msgs));
		s->respawn = evtimer_new(run.base, respawn_cb, s);
		if (!s->cmds || !s->msgs || !s->respawn)
			goto oom;
	}
	return;
oom:
	fprintf(stderr, "sgload: out of memory\n");
	exit(2);
}

/* Sessions still open after the grace period (a slow QUIT): drop them. */
static void close_stragglers(void)
{
	unsigned long i;

	run.stopping = true;
	for (i = 0; i < cfg.concurrency; i++) {
		struct session *s = &run.sess[i];

		if (s->active) {
			run.cut_short = true;
			session_close(s, false);
		}
	}
}

static void teardown(void)
{
	unsigned long i;

	for (i = 0; i < cfg.concurrency; i++) {
		struct session *s = &run.sess[i];

		event_free(s->respawn);
		free(s->cmds);
		free(s->msgs);
	}
	free(run.sess);
	event_free(run.deadline);
	event_free(run.stop_ev);
	event_free(run.grace);
	event_free(run.sigint);
	event_base_free(run.base);
	for (i = 0; i < cfg.rcpts; i++)
		free(run.rcpt[i]);
	free(run.rcpt);
	free(run.body_raw);
	free(run.body_dot);
	free(run.lat_ms);
}

int main(int argc, char **argv)
{
	struct timeval deadline;
	unsigned long i, first;
	int rc;

	parse_args(argc, argv);
	/* a server that hangs up mid-write must not kill us */
	signal(SIGPIPE, SIG_IGN);
	resolve();
	if (gethostname(run.ehlo_name, sizeof(run.ehlo_name) - 1) < 0 ||
	    !run.ehlo_name[0] || strpbrk(run.ehlo_name, " \t\r\n"))
		snprintf(run.ehlo_name, sizeof(run.ehlo_name), "localhost");
	if (cfg.user)
		build_auth();
	build_rcpts();
	build_body();
	run.lat_ms = malloc((size_t)cfg.total * sizeof(*run.lat_ms));
	run.base = event_base_new();
	if (!run.lat_ms || !run.base) {
		fprintf(stderr, "sgload: cannot allocate the run\n");
		return 2;
	}
	run.deadline = evtimer_new(run.base, deadline_cb, NULL);
	run.stop_ev = event_new(run.base, -1, 0, stop_cb, NULL);
	run.grace = evtimer_new(run.base, grace_cb, NULL);
	run.sigint = evsignal_new(run.base, SIGINT, deadline_cb, &run);
	if (!run.deadline || !run.stop_ev || !run.grace || !run.sigint) {
		fprintf(stderr, "sgload: cannot create events\n");
		return 2;
	}
	setup_sessions();

	deadline.tv_sec = (time_t)cfg.timeout_s;
	deadline.tv_usec = 0;
	evtimer_add(run.deadline, &deadline);
	evsignal_add(run.sigint, NULL);

	run.t_start = now_ns();
	first = cfg.total < cfg.concurrency ? (unsigned long)cfg.total : cfg.concurrency;
	for (i = 0; i < first && !run.stopping; i++)
		session_open(&run.sess[i]);

	event_base_dispatch(run.base);
	if (!run.stopping)
		run.t_stop = now_ns();	/* loop ran dry: cannot happen, be safe */
	close_stragglers();
	report();
	rc = run.failed || run.cut_short || run.aborted ||
	     run.accepted < cfg.total ? 1 : 0;
	teardown();
	return rc;
}
