/*
 * fuzz_session.c - libFuzzer target that runs the REAL SMTP session
 * (src/smtp_session.c: PROXY header, limits, command loop, AUTH with the
 * lockout counters, MAIL/RCPT/DATA/BDAT, STARTTLS refusal, end of message)
 * over a socketpair, on a real libevent loop, against a whole pipelined
 * client session taken from the input.
 *
 * What lies outside the session is replaced here by small in-process
 * stand-ins that answer asynchronously, on a later loop turn, as the real
 * ones do: Redis (rconn_cmd: credentials, tenant, domains, failure
 * counters, suppression list), the hash pool, the queue commit, the
 * IP-authorization table and the thread's session table.  The first
 * octets of the input choose how they answer (right or wrong password,
 * unknown user, Redis failing, locked out, queue refusing, a PROXY
 * listener...), the rest is what the client sends.
 *
 * Checked besides memory safety (ASan/UBSan): once the client is gone and
 * the loop has run dry, no session is left, the open-session gauge and the
 * message-memory gauge are back to zero, and nothing was queued that the
 * client was not authorized for.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "auth.h"
#include "../../src/config.h"
#include "fuzz.h"
#include "hashpool.h"
#include "ipauth.h"
#include "keys.h"
#include "log.h"
#include "queue.h"
#include "rconn.h"
#include "sesgate.h"
#include "smtp_session.h"
#include "stats.h"
#include "thread.h"
#include "tls.h"


/* ---- knobs: how the world answers ------------------------------------- */

static struct knobs {
	int pw_ok;         /* the password check succeeds */
	int user_known;    /* HMGET finds the credential */
	int redis_down;    /* every Redis command fails */
	int locked;        /* the failure counters are over the limit */
	int tenant_gone;   /* HGETALL of the tenant is empty */
	int not_ready;     /* tenant state provisioning */
	int require_tls;
	int suppressed;    /* every recipient is on the suppression list */
	int queue_fail;    /* the commit answers 451 */
	int ip_tenant;     /* the client's network belongs to a tenant */
	int proxy;         /* the listener expects a PROXY header */
	int queued;        /* commits that reached the queue */
} k;

/* ---- globals the session reads ----------------------------------------- */

const struct config *g_cfg;
uint64_t g_start_ms;
char g_instance[32] = "fuzz";
static struct config cfg;
static struct event_base *base;
static struct smtp_thread thr;

/* ---- the thread's session table (as thread.c, fixed size) --------------- */

#define SLOTS 8
static struct smtp_session *slots[SLOTS];
static uint32_t gens[SLOTS];

uint64_t thread_session_add(struct smtp_thread *t, struct smtp_session *s)
{
	for (uint32_t i = 0; i < SLOTS; i++)
		if (!slots[i]) {
			slots[i] = s;
			gens[i]++;
			return (uint64_t)gens[i] << 32 | i;
		}
	return 0;
}

void thread_session_del(struct smtp_thread *t, uint64_t id)
{
	uint32_t i = (uint32_t)id;
	if (i < SLOTS && gens[i] == (uint32_t)(id >> 32))
		slots[i] = NULL;
}

struct smtp_session *thread_session_get(struct smtp_thread *t, uint64_t id)
{
	uint32_t i = (uint32_t)id;
	return i < SLOTS && gens[i] == (uint32_t)(id >> 32) ? slots[i] : NULL;
}

/* ---- stand-ins answering on a later loop turn -------------------------- */

struct later {
	void (*fn)(struct later *);
	rconn_cb *cb;
	void *arg;
	redisReply *reply;
	hashpool_done_fn *hdone;
	uint64_t sid;
	queue_done_cb *qdone;
};

static void later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct later *l = arg;
	l->fn(l);
	if (l->reply)
		freeReplyObject(l->reply);
	free(l);
}

static void later(struct later *l)
{
	struct timeval tv = {0, 0};
	CHECK(event_base_once(base, -1, EV_TIMEOUT, later_cb, l, &tv) == 0);
}

static redisReply *rep_new(int type)
{
	redisReply *r = calloc(1, sizeof(*r));
	CHECK(r);
	r->type = type;
	return r;
}

static redisReply *rep_str(const char *s)
{
	redisReply *r = rep_new(REDIS_REPLY_STRING);
	r->str = strdup(s);
	r->len = strlen(s);
	return r;
}

static redisReply *rep_arr(int n, ...)
{
	va_list ap;
	redisReply *r = rep_new(REDIS_REPLY_ARRAY);
	r->element = calloc(n ? (size_t)n : 1, sizeof(redisReply *));
	r->elements = (size_t)n;
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		const char *s = va_arg(ap, const char *);
		r->element[i] = s ? rep_str(s) : rep_new(REDIS_REPLY_NIL);
	}
	va_end(ap);
	return r;
}

static void redis_done(struct later *l)
{
	l->cb(l->reply, l->arg, l->reply ? NULL : "timeout");
}

#define TID "t0123456789abcdef"

/* What the Redis commands of smtp_session.c get back, by command. */
static redisReply *redis_answer(int argc, const char **argv)
{
	const char *c = argv[0];
	if (k.redis_down)
		return NULL;
	if (strcmp(c, "HMGET") == 0)
		return k.user_known ? rep_arr(2, TID, "pbkdf2-sha256$1000$c2FsdA$aGFzaA")
				    : rep_arr(2, NULL, NULL);
	if (strcmp(c, "HGETALL") == 0)
		return k.tenant_gone ? rep_arr(0)
				     : rep_arr(6, "name", "acme", "state",
					       k.not_ready ? "provisioning" : "active", "require_tls",
					       k.require_tls ? "yes" : "no");
	if (strcmp(c, "SMEMBERS") == 0)
		return rep_arr(2, "acme.example", "mail.acme.test");
	if (strcmp(c, "GET") == 0)
		return k.locked ? rep_str("1000") : rep_new(REDIS_REPLY_NIL);
	if (strcmp(c, "EVAL") == 0) {
		redisReply *r = rep_new(REDIS_REPLY_INTEGER);
		r->integer = 3;
		return r;
	}
	if (strcmp(c, "HGET") == 0)
		return k.suppressed ? rep_str("{\"reason\":\"bounce\"}") : rep_new(REDIS_REPLY_NIL);
	(void)argc;
	abort(); /* a command the session was not known to send */
}

void rconn_cmd(struct rconn *rc, rconn_cb *cb, void *arg, int argc, const char **argv,
	       const size_t *lens)
{
	struct later *l = calloc(1, sizeof(*l));
	CHECK(l);
	l->fn = redis_done;
	l->cb = cb;
	l->arg = arg;
	l->reply = redis_answer(argc, argv);
	later(l);
}

void ipauth_refresh(struct rconn *rc) {}
void ipauth_init(const struct config *c) {}
int ipauth_lookup(const struct sockaddr *sa, char *tid)
{
	if (!k.ip_tenant)
		return 0;
	memcpy(tid, TID, sizeof(TID));
	return 1;
}

static void hash_done(struct later *l)
{
	l->hdone(&thr, l->sid, k.pw_ok ? 1 : 0);
}

int hashpool_submit(struct smtp_thread *owner, uint64_t sid, const char *pw, size_t pwlen,
		    const char *stored, hashpool_done_fn *done)
{
	struct later *l = calloc(1, sizeof(*l));
	CHECK(l);
	l->fn = hash_done;
	l->hdone = done;
	l->sid = sid;
	later(l);
	return 0;
}

int auth_cache_check(const char *user, const char *stored, const char *pw, size_t pwlen)
{
	return 0;
}
void auth_cache_put(const char *user, const char *stored, const char *pw, size_t pwlen) {}

static void queue_done(struct later *l)
{
	l->qdone(k.queue_fail ? QUEUE_TEMPFAIL : QUEUE_OK, l->arg, "fuzz");
}

void queue_enqueue(struct rconn *rc, const struct queue_msg *m, queue_done_cb *cb, void *arg)
{
	/* Only an authorized sender of a tenant with recipients gets here. */
	CHECK(m->tid && strcmp(m->tid, TID) == 0);
	CHECK(m->nrcpt > 0 && m->len > 0);
	if (!k.queue_fail)
		k.queued++;
	struct later *l = calloc(1, sizeof(*l));
	CHECK(l);
	l->fn = queue_done;
	l->qdone = cb;
	l->arg = arg;
	later(l);
}

/* No certificate in the harness: STARTTLS is refused (502). */
int tls_smtp_enabled(void)
{
	return 0;
}
SSL *tls_smtp_ssl_new(void)
{
	return NULL;
}

/* ---- the run ----------------------------------------------------------- */

static void setup(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	char err[256];
	const char text[] = "hostname mx.fuzz.test\n"
			    "max_errors 50\n"
			    "error_delay 0\n"
			    "auth_fail_delay 0\n"
			    "auth_allow_plaintext yes\n"
			    "max_recipients 20\n"
			    "max_message_size 64K\n"
			    "proxy_trusted 127.0.0.0/8\n"
			    "max_connect_rate 100000000\n"
			    "log_level err\n";
	CHECK(config_parse_buffer("fuzz", text, sizeof(text) - 1, &cfg, err, sizeof(err)) == 0);
	g_cfg = &cfg;
	log_configure(&cfg);
	CHECK(smtp_session_init(&cfg, err, sizeof(err)) == 0);
	base = event_base_new();
	CHECK(base);
	thr.base = base;
	thr.cfg = &cfg;
}

/* Run the loop until nothing happens for a few turns; drain what the
 * session writes so it never blocks.  Returns octets read from it. */
static size_t pump(int fd, int turns)
{
	size_t total = 0;
	char buf[65536];
	int idle = 0;
	/* FUZZ_SESSION_TRACE=1 prints the server's side, to check seeds. */
	static int trace = -1;
	if (trace < 0)
		trace = getenv("FUZZ_SESSION_TRACE") != NULL;
	for (int i = 0; i < 20000 && idle < turns; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			if (trace)
				fwrite(buf, 1, (size_t)n, stderr);
			total += (size_t)n;
			idle = 0;
		} else {
			idle++;
		}
	}
	return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 256 * 1024)
		return 0;
	setup();
	memset(&k, 0, sizeof(k));
	unsigned b = data[0] | data[1] << 8;
	k.pw_ok = b & 1;
	k.user_known = !!(b & 2);
	k.redis_down = (b & 0x1c) == 0x1c;
	k.locked = !!(b & 0x20) && !(b & 0x40);
	k.tenant_gone = (b & 0x180) == 0x180;
	k.not_ready = !!(b & 0x200);
	k.require_tls = (b & 0xc00) == 0xc00;
	k.suppressed = (b & 0x3000) == 0x3000;
	k.queue_fail = !!(b & 0x4000);
	k.ip_tenant = (b & 0x8040) == 0x8040;
	k.proxy = (b & 0x1c) == 0x0c;
	data += 2;
	size -= 2;

	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	int sz = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));

	struct accept_job *j = calloc(1, sizeof(*j));
	CHECK(j);
	j->fd = sv[0];
	struct sockaddr_in *sin = (struct sockaddr_in *)&j->addr;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(0x7f000001);
	j->addrlen = sizeof(*sin);
	j->lflags = k.proxy ? LISTEN_PROXY : 0;
	STAT_ADD(sessions_current, 1);
	smtp_session_accept(&thr, j);

	/* The client's octets, in as many writes as the socket takes. */
	size_t off = 0;
	while (off < size) {
		ssize_t n = write(sv[1], data + off, size - off);
		if (n > 0)
			off += (size_t)n;
		pump(sv[1], 1);
	}
	pump(sv[1], 4);
	close(sv[1]);
	pump(-1, 8);

	for (int i = 0; i < SLOTS; i++)
		CHECK(slots[i] == NULL);
	CHECK(STAT_GET(sessions_current) == 0);
	CHECK(STAT_GET(data_memory) == 0);
	return 0;
}
