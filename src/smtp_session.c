/*
 * smtp_session.c - the SMTP session and transaction state machine.
 *
 * Runs on one SMTP thread's event loop; a session is never touched by another
 * thread.  Every command goes through smtp_fsm_check() (the pure ordering
 * table) and then through its handler, which writes its own refusal.  While
 * an asynchronous step is pending (password check, Redis commit) the session
 * is in SMTP_ST_WAIT and parses nothing: pipelined input waits in the
 * bufferevent (bounded by the read watermark), so replies always come out in
 * order.  Async results carry the session id, never a pointer; a missing id
 * means the client left, which is normal.
 *
 * Must never: send 250 for a message before Redis confirmed it, treat
 * anything but <CRLF>.<CRLF> as end of data, buffer message octets beyond
 * the size limit, or log a password or AUTH payload.
 */
#include "smtp_session.h"
#include "auth.h"
#include "cidr.h"
#include "config.h"
#include "hashpool.h"
#include "ipauth.h"
#include "keys.h"
#include "sesslimit.h"
#include "log.h"
#include "password.h"
#include "proxy.h"
#include "queue.h"
#include "rconn.h"
#include "sesgate.h"
#include "smtp_fsm.h"
#include "smtp_parse.h"
#include "stats.h"
#include "thread.h"
#include "tls.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <jansson.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define READ_HIGH_WATER (256 * 1024) /* stop reading the socket above this */
#define OUT_HIGH_WATER (256 * 1024)  /* stop parsing while this many reply octets are unsent */
#define AUTH_FIELD_MAX 256

struct smtp_tx {
	char qid[QUEUE_ID_LEN + 1];
	char from[SMTP_MAX_PATH + 1];
	char **rcpts;
	int nrcpt, rcpt_cap;
	int body8, smtputf8;
	struct evbuffer *data;   /* message octets as received (unstuffed) */
	uint64_t size;           /* octets received, counted even when discarded */
	size_t mem;              /* octets charged to g_stats.data_memory */
	int too_big;
	unsigned scan_flags;
	int chunking;            /* BDAT used */
};

struct tenant_info {
	char id[TENANT_ID_LEN + 1];
	char name[TENANT_NAME_MAX + 1];
	char **domains;
	int ndomains;
	uint64_t max_message_size;
	int max_recipients;
	int not_ready;           /* state provisioning or failed: no AWS account yet */
	int require_tls;         /* the tenant's mail only over TLS */
	int loaded;
};

struct smtp_session {
	uint64_t id;
	struct smtp_thread *thr;
	const struct config *cfg;
	struct bufferevent *bev; /* plain socket, or OpenSSL once TLS started */
	int fd;
	int tls_owns_fd;       /* the OpenSSL bufferevent closes FD */
	int tls_pending;       /* handshake running: parse nothing */
	int tls_starttls;      /* the handshake follows STARTTLS (else smtps) */
	int tls_switch;        /* STARTTLS said 220: start TLS once it is flushed */
	unsigned lflags;       /* LISTEN_* of the listener */
	struct sockaddr_storage addr; /* the client (after PROXY: the real one) */
	struct event *proxy_ev;
	uint8_t pbuf[PROXY_MAX];
	size_t plen;
	uint64_t proxy_deadline;
	char ipkey[CIDR_STRLEN];
	int ip_counted;
	char tenant_counted[TENANT_ID_LEN + 1];
	int ip_authed;         /* the client network belongs to s->tenant */
	uint64_t line_start_ms; /* first octet of an unfinished command line */
	uint64_t data_start_ms; /* DATA/first BDAT: for min_data_rate */
	long long af_ip, af_user; /* AUTH failure counts read before verifying */
	int af_n;              /* highest failure count after this failure */
	enum smtp_state state;
	unsigned flags;
	char client[INET6_ADDRSTRLEN + 8];
	char helo[SMTP_MAX_DOMAIN + 1];
	char sid[24];
	int errors;
	int skip_line;         /* discarding the rest of an overlong command line */
	int paused_mem;        /* reading paused for max_data_memory */
	int stop_after;        /* shutting down: close after the current message */
	int close_after_flush;
	int delayed;           /* error tarpit: input is read again after error_delay */
	int resume_pending;    /* a deferred session_process() is scheduled */
	int out_blocked;       /* parsing paused until the client reads its replies */

	/* AUTH in progress */
	enum smtp_auth_mech auth_mech;
	int auth_step;
	char auth_user[AUTH_FIELD_MAX];
	char auth_pw[AUTH_FIELD_MAX];
	size_t auth_pwlen;
	char auth_stored[PASSWORD_HASH_MAX];
	char auth_tid[TENANT_ID_LEN + 1];
	int auth_pending_tenant;
	int auth_known;        /* the credential exists (a miss still costs a hash) */
	char user[CRED_USER_MAX + 1]; /* authenticated identity */

	struct tenant_info tenant;
	struct smtp_tx *tx;
	struct smtp_scan scan;
	uint64_t bdat_left;
	int bdat_last;
	int bdat_discard;      /* consume the chunk but keep nothing, no reply */
};

/* What an async callback carries: the session's thread and id, never a pointer to it. */
struct sref {
	struct smtp_thread *thr;
	uint64_t sid;
};

static void session_process(struct smtp_session *s);
static void session_close(struct smtp_session *s);
static int tls_begin(struct smtp_session *s, int starttls);
static void tls_established(struct smtp_session *s);
static void tls_failed(struct smtp_session *s, const char *why);
static void cmd_starttls(struct smtp_session *s, size_t arglen);
static void line_pending(struct smtp_session *s, int partial);
static struct smtp_session *sref_take(void *arg);
static void resume(struct smtp_session *s);

/* ------------------------------------------------------------------ */
/* replies */

static void reply(struct smtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reply(struct smtp_session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;
	char code[4] = "";
	va_start(ap, fmt);
	/* The reply code, for metrics and the debug log (never the text: it
	 * may echo client input).  Almost every format starts with it; only
	 * "%s" replies need a formatting pass to find it. */
	if (fmt[0] >= '2' && fmt[0] <= '5' && fmt[1] && fmt[2]) {
		memcpy(code, fmt, 3);
	} else {
		va_list cp;
		va_copy(cp, ap);
		char line[8];
		vsnprintf(line, sizeof(line), fmt, cp);
		va_end(cp);
		memcpy(code, line, 3);
	}
	code[3] = '\0';
	stats_smtp_reply(atoi(code));
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
	log_debug("%s > %s", s->sid, code);
}

/*
 * A refusal that counts against the session's error budget.  Above
 * max_errors the client is disconnected (Postfix's hard_error_limit): an
 * abusive or broken client should not hold a session forever.
 */
static void delay_done_cb(evutil_socket_t fd, short what, void *arg);

/* Run CB(sref of S) after MS milliseconds on S's loop.  0 or -1. */
static int session_later(struct smtp_session *s, int ms, event_callback_fn cb)
{
	struct sref *ref = malloc(sizeof(*ref));
	if (!ref)
		return -1;
	ref->thr = s->thr;
	ref->sid = s->id;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	if (event_base_once(s->thr->base, -1, EV_TIMEOUT, cb, ref, &tv) < 0) {
		free(ref);
		return -1;
	}
	return 0;
}

static void reply_error(struct smtp_session *s, const char *text)
{
	reply(s, "%s", text);
	if (++s->errors >= s->cfg->max_errors) {
		STAT_INC(sessions_errors_limit);
		reply(s, "421 4.7.0 %s Error: too many errors", s->cfg->hostname);
		log_kv(LOG_NOTICE, "too_many_errors", "sid", s->sid, "client", s->client, NULL);
		session_close(s);
		return;
	}
	/* Past half the budget, each error costs the client error_delay before
	 * its next command is read (Postfix's smtpd_error_sleep_time). */
	if (s->errors > s->cfg->max_errors / 2 && s->cfg->error_delay_ms > 0 && !s->delayed &&
	    session_later(s, s->cfg->error_delay_ms, delay_done_cb) == 0)
		s->delayed = 1;
}

static void set_state(struct smtp_session *s, enum smtp_state st)
{
	log_debug("%s state %s -> %s", s->sid, smtp_state_name(s->state), smtp_state_name(st));
	s->state = st;
	const struct config *cfg = s->cfg;
	int t = (st == SMTP_ST_DATA || st == SMTP_ST_BDAT) ? cfg->timeout_data : cfg->timeout_idle;
	struct timeval rt = {t, 0}, wt = {cfg->timeout_idle, 0};
	if (s->bev)
		bufferevent_set_timeouts(s->bev, st == SMTP_ST_WAIT ? NULL : &rt, &wt);
}

/* ------------------------------------------------------------------ */
/* transaction */

static void tx_free(struct smtp_tx *tx)
{
	if (!tx)
		return;
	for (int i = 0; i < tx->nrcpt; i++)
		free(tx->rcpts[i]);
	free(tx->rcpts);
	if (tx->data)
		evbuffer_free(tx->data);
	if (tx->mem)
		STAT_SUB(data_memory, tx->mem);
	free(tx);
}

static void memory_release(struct smtp_session *s);

static void session_reset_tx(struct smtp_session *s)
{
	memory_release(s);
	tx_free(s->tx);
	s->tx = NULL;
	s->bdat_left = 0;
	s->bdat_discard = 0;
}

static void tenant_clear(struct tenant_info *t)
{
	for (int i = 0; i < t->ndomains; i++)
		free(t->domains[i]);
	free(t->domains);
	memset(t, 0, sizeof(*t));
}

static void auth_clear(struct smtp_session *s)
{
	util_wipe(s->auth_pw, sizeof(s->auth_pw));
	util_wipe(s->auth_stored, sizeof(s->auth_stored));
	s->auth_pwlen = 0;
	s->auth_step = 0;
	s->auth_mech = SMTP_AUTH_UNKNOWN;
}

static uint64_t max_size(const struct smtp_session *s)
{
	uint64_t m = s->cfg->max_message_size;
	if (s->tenant.max_message_size && s->tenant.max_message_size < m)
		m = s->tenant.max_message_size;
	return m;
}

static int max_rcpt(const struct smtp_session *s)
{
	int m = s->cfg->max_recipients;
	if (s->tenant.max_recipients > 0 && s->tenant.max_recipients < m)
		m = s->tenant.max_recipients;
	return m;
}

static int domain_allowed(const struct smtp_session *s, const char *domain)
{
	for (int i = 0; i < s->tenant.ndomains; i++)
		if (smtp_domain_matches(domain, s->tenant.domains[i]))
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* free and close */

static void session_free(struct smtp_session *s)
{
	log_kv(LOG_INFO, "disconnect", "sid", s->sid, "client", s->client, NULL);
	thread_session_del(s->thr, s->id);
	session_reset_tx(s);
	auth_clear(s);
	tenant_clear(&s->tenant);
	if (s->ip_counted)
		limits_ip_release(s->ipkey);
	if (s->tenant_counted[0])
		limits_tenant_release(s->tenant_counted);
	if (s->proxy_ev)
		event_free(s->proxy_ev);
	if (s->bev)
		bufferevent_free(s->bev);
	if (!s->tls_owns_fd && s->fd >= 0)
		close(s->fd);
	STAT_SUB(sessions_current, 1);
	free(s);
}

/*
 * Close after the pending output is flushed.  The free itself happens from
 * the write callback or a zero timer, never inside the handler that decided
 * to close (Redis's "free clients asynchronously").
 */
static void free_later_cb(evutil_socket_t fd, short what, void *arg)
{
	session_free(arg);
}

static void session_close(struct smtp_session *s)
{
	if (s->state == SMTP_ST_CLOSING)
		return;
	s->state = SMTP_ST_CLOSING;
	if (s->bev)
		bufferevent_disable(s->bev, EV_READ);
	if (!s->bev || evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		struct timeval tv = {0, 0};
		event_base_once(s->thr->base, -1, EV_TIMEOUT, free_later_cb, s, &tv);
	} else {
		s->close_after_flush = 1;
	}
}

/* ------------------------------------------------------------------ */
/* AUTH */

static void auth_fail_reply(struct smtp_session *s)
{
	set_state(s, SMTP_ST_READY);
	reply_error(s, "535 5.7.8 Error: authentication failed");
}

static void auth_fail_delay_cb(evutil_socket_t fd, short what, void *arg);

/*
 * Counts a failure against the client address and the user name (in Redis,
 * so every instance sees it), then answers 535 after a delay that grows
 * with the failures before it.  The user name is counted whether or not it
 * exists, and the reply is the same either way: nothing tells a guesser
 * which names are real.
 */
struct af_ref {
	struct smtp_thread *thr;
	uint64_t sid;
	int last; /* the second of the two counts: answer now */
};

static void authfail_count_cb(redisReply *r, void *arg, const char *err)
{
	struct af_ref *ref = arg;
	int last = ref->last;
	struct smtp_session *s = thread_session_get(ref->thr, ref->sid);
	free(ref);
	if (!s || s->state != SMTP_ST_WAIT)
		return;
	if (r && r->type == REDIS_REPLY_INTEGER && r->integer > s->af_n)
		s->af_n = (int)r->integer;
	if (!last)
		return;
	int n = s->af_n > 10 ? 10 : s->af_n;
	int ms = (n - 1) * s->cfg->auth_fail_delay_ms;
	if (ms <= 0 || session_later(s, ms, auth_fail_delay_cb) < 0) {
		auth_fail_reply(s);
		resume(s);
	}
}

static const char authfail_lua[] =
	"local n = redis.call('INCR', KEYS[1]) "
	"if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
	"if n >= tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[3]) end "
	"return n";

static void authfail_count(struct smtp_session *s, const char *key, int limit, int last)
{
	struct af_ref *ref = malloc(sizeof(*ref));
	if (!ref) {
		if (last) {
			auth_fail_reply(s);
			resume(s);
		}
		return;
	}
	ref->thr = s->thr;
	ref->sid = s->id;
	ref->last = last;
	char win[16], lim[16], lock[16];
	snprintf(win, sizeof(win), "%d", s->cfg->auth_fail_window);
	snprintf(lim, sizeof(lim), "%d", limit);
	snprintf(lock, sizeof(lock), "%d", s->cfg->auth_lockout);
	const char *argv[] = {"EVAL", authfail_lua, "1", key, win, lim, lock};
	rconn_cmd(s->thr->redis, authfail_count_cb, ref, 7, argv, NULL);
}

static void auth_fail(struct smtp_session *s, const char *why)
{
	STAT_INC(auth_failure);
	log_kv(LOG_NOTICE, "auth_failed", "sid", s->sid, "client", s->client, "user",
	       s->auth_user, "reason", why, NULL);
	char k1[KEY_MAX], k2[KEY_MAX];
	key_authfail_ip(k1, s->ipkey);
	key_authfail_user(k2, s->auth_user);
	auth_clear(s);
	set_state(s, SMTP_ST_WAIT);
	s->af_n = 0;
	authfail_count(s, k1, s->cfg->auth_fail_ip_limit, 0);
	authfail_count(s, k2, s->cfg->auth_fail_user_limit, 1);
}

static void auth_tempfail(struct smtp_session *s, const char *why)
{
	log_kv(LOG_WARNING, "auth_tempfail", "sid", s->sid, "client", s->client, "reason", why,
	       NULL);
	auth_clear(s);
	set_state(s, SMTP_ST_READY);
	reply_error(s, "454 4.7.0 Temporary authentication failure, try again later");
}

static void resume_cb(evutil_socket_t fd, short what, void *arg);
static void greet(struct smtp_session *s);

/*
 * Continue parsing buffered input after an async step.  Always deferred to
 * the next loop turn: a callback that completes synchronously (Redis down)
 * must not recurse into the parser, or a client pipelining thousands of
 * commands could grow the stack without bound.
 */
static void resume(struct smtp_session *s)
{
	if (s->state == SMTP_ST_CLOSING || s->resume_pending)
		return;
	if (session_later(s, 0, resume_cb) == 0)
		s->resume_pending = 1;
}

/* Tenant record + domains arrive as two replies; the second completes AUTH. */
struct tenant_load {
	struct smtp_thread *thr;
	uint64_t sid;
	int got;
	int bad;
	int ip;     /* authorizing the client's network, not an AUTH */
};

/* The tenant's sending domains from an SMEMBERS reply. */
static void tenant_set_domains(struct smtp_session *s, const redisReply *r)
{
	s->tenant.domains = calloc(r->elements ? r->elements : 1, sizeof(char *));
	for (size_t i = 0; s->tenant.domains && i < r->elements; i++)
		if (r->element[i]->str)
			s->tenant.domains[s->tenant.ndomains++] = strdup(r->element[i]->str);
	s->tenant.loaded = 1;
}

/* Count the session against its tenant's limit.  0, or -1 when full. */
static int tenant_count(struct smtp_session *s)
{
	if (limits_tenant_acquire(s->tenant.id, s->cfg->max_sessions_per_tenant) != LIMIT_OK) {
		STAT_INC(sessions_refused_tenant);
		log_kv(LOG_NOTICE, "tenant_session_limit", "sid", s->sid, "client", s->client,
		       "tenant", s->tenant.name, NULL);
		return -1;
	}
	util_strlcpy(s->tenant_counted, s->tenant.id, sizeof(s->tenant_counted));
	return 0;
}

/*
 * The tenant of the client's network is loaded (R: its domains; BAD 1 =
 * tenant gone, 2 = Redis failed).  The greeting waits for this, so the
 * session's first MAIL already knows its tenant.
 */
static void ipauth_done(struct smtp_session *s, redisReply *r, int bad)
{
	if (bad == 1) {
		/* A network left behind by a deleted tenant authorizes nothing. */
		tenant_clear(&s->tenant);
		greet(s);
		return;
	}
	if (bad || !r || r->type != REDIS_REPLY_ARRAY) {
		/* Greeting without the authorization would make the client's MAIL
		 * fail with 530, a permanent error, for a passing Redis fault. */
		tenant_clear(&s->tenant);
		reply(s, "421 4.3.0 %s Service temporarily unavailable, try again later",
		      s->cfg->hostname);
		session_close(s);
		return;
	}
	tenant_set_domains(s, r);
	if (tenant_count(s) < 0) {
		tenant_clear(&s->tenant);
		reply(s, "421 4.7.0 %s Too many concurrent sessions for this account",
		      s->cfg->hostname);
		session_close(s);
		return;
	}
	s->ip_authed = 1;
	STAT_INC(ip_authorized);
	log_kv(LOG_INFO, "ip_auth", "sid", s->sid, "client", s->client, "tenant", s->tenant.name,
	       NULL);
	greet(s);
}

static void tenant_hash_cb(redisReply *r, void *arg, const char *err)
{
	struct tenant_load *tl = arg;
	struct smtp_session *s = thread_session_get(tl->thr, tl->sid);
	tl->got++;
	if (!s || s->state != SMTP_ST_WAIT)
		return;
	if (!r || r->type != REDIS_REPLY_ARRAY) {
		tl->bad = 2;
		return;
	}
	if (r->elements == 0) {
		tl->bad = 1; /* tenant deleted */
		return;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const char *k = r->element[i]->str, *v = r->element[i + 1]->str;
		if (!k || !v)
			continue;
		if (strcmp(k, "name") == 0)
			util_strlcpy(s->tenant.name, v, sizeof(s->tenant.name));
		else if (strcmp(k, "max_message_size") == 0)
			s->tenant.max_message_size = strtoull(v, NULL, 10);
		else if (strcmp(k, "max_recipients") == 0)
			s->tenant.max_recipients = atoi(v);
		else if (strcmp(k, "state") == 0)
			s->tenant.not_ready = strcmp(v, "provisioning") == 0 || strcmp(v, "failed") == 0;
		else if (strcmp(k, "require_tls") == 0)
			s->tenant.require_tls = strcmp(v, "yes") == 0;
	}
}

static void tenant_domains_cb(redisReply *r, void *arg, const char *err)
{
	struct tenant_load *tl = arg;
	struct smtp_session *s = thread_session_get(tl->thr, tl->sid);
	int bad = tl->bad, ip = tl->ip;
	free(tl);
	if (!s || s->state != SMTP_ST_WAIT)
		return;
	if (ip) {
		ipauth_done(s, r, bad);
		return;
	}
	if (bad == 1) {
		tenant_clear(&s->tenant);
		auth_fail(s, "tenant deleted");
		resume(s);
		return;
	}
	if (bad || !r || r->type != REDIS_REPLY_ARRAY) {
		tenant_clear(&s->tenant);
		auth_tempfail(s, err ? err : "tenant lookup failed");
		resume(s);
		return;
	}
	tenant_set_domains(s, r);
	if (tenant_count(s) < 0) {
		tenant_clear(&s->tenant);
		auth_clear(s);
		set_state(s, SMTP_ST_READY);
		reply(s, "454 4.7.0 Too many concurrent sessions for this account, try again later");
		resume(s);
		return;
	}
	s->flags |= SMTP_FL_AUTHED;
	util_strlcpy(s->user, s->auth_user, sizeof(s->user));
	STAT_INC(auth_success);
	log_kv(LOG_INFO, "auth", "sid", s->sid, "client", s->client, "user", s->user, "tenant",
	       s->tenant.name, NULL);
	auth_clear(s);
	set_state(s, SMTP_ST_READY);
	reply(s, "235 2.7.0 Authentication successful");
	resume(s);
}

/* Load tenant TID into s->tenant (for AUTH, or for the client network: IP). */
static int tenant_load(struct smtp_session *s, const char *tid, int ip)
{
	struct tenant_load *tl = calloc(1, sizeof(*tl));
	if (!tl)
		return -1;
	tl->thr = s->thr;
	tl->sid = s->id;
	tl->ip = ip;
	/* AUTH replaces an IP authorization: the session is one tenant's. */
	tenant_clear(&s->tenant);
	s->ip_authed = 0;
	if (s->tenant_counted[0]) {
		limits_tenant_release(s->tenant_counted);
		s->tenant_counted[0] = '\0';
	}
	util_strlcpy(s->tenant.id, tid, sizeof(s->tenant.id));
	char k1[KEY_MAX], k2[KEY_MAX];
	const char *a1[] = {"HGETALL", key_tenant(k1, tid)};
	const char *a2[] = {"SMEMBERS", key_tenant_domains(k2, tid)};
	/* Both go out back to back; replies come in order, the second finishes. */
	rconn_cmd(s->thr->redis, tenant_hash_cb, tl, 2, a1, NULL);
	rconn_cmd(s->thr->redis, tenant_domains_cb, tl, 2, a2, NULL);
	return 0;
}

static void auth_load_tenant(struct smtp_session *s)
{
	if (tenant_load(s, s->auth_tid, 0) < 0)
		auth_tempfail(s, "out of memory");
}

static void auth_hash_done(struct smtp_thread *thr, uint64_t sid, int result)
{
	struct smtp_session *s = thread_session_get(thr, sid);
	if (!s || s->state != SMTP_ST_WAIT)
		return;
	if (result == 1 && s->auth_known) {
		auth_cache_put(s->auth_user, s->auth_stored, s->auth_pw, s->auth_pwlen);
		auth_load_tenant(s);
		return;
	}
	auth_fail(s, s->auth_known ? (result < 0 ? "bad stored hash" : "wrong password")
				   : "unknown user");
	resume(s);
}

/* A fixed valid hash: unknown users cost the same time as known ones. */
static const char dummy_hash[] =
	"pbkdf2-sha256$600000$c2VzZ2F0ZS1kdW1teQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/* One of the two failure counters read before verifying (ARG: af_ref, LAST = user). */
static void authfail_read_cb(redisReply *r, void *arg, const char *err)
{
	struct af_ref *ref = arg;
	struct smtp_session *s = thread_session_get(ref->thr, ref->sid);
	long long v = -1;
	if (r && r->type == REDIS_REPLY_STRING)
		v = strtoll(r->str, NULL, 10);
	else if (r && r->type == REDIS_REPLY_NIL)
		v = 0;
	if (s && s->state == SMTP_ST_WAIT)
		*(ref->last ? &s->af_user : &s->af_ip) = v;
	free(ref);
}

static void authfail_read(struct smtp_session *s, const char *key, int last)
{
	struct af_ref *ref = malloc(sizeof(*ref));
	if (!ref) {
		*(last ? &s->af_user : &s->af_ip) = -1;
		return;
	}
	ref->thr = s->thr;
	ref->sid = s->id;
	ref->last = last;
	const char *argv[] = {"GET", key};
	rconn_cmd(s->thr->redis, authfail_read_cb, ref, 2, argv, NULL);
}

static void auth_cred_cb(redisReply *r, void *arg, const char *err)
{
	struct sref *ref = arg;
	struct smtp_session *s = thread_session_get(ref->thr, ref->sid);
	free(ref);
	if (!s || s->state != SMTP_ST_WAIT)
		return;
	if (s->af_ip >= s->cfg->auth_fail_ip_limit || s->af_user >= s->cfg->auth_fail_user_limit) {
		/* Locked: the password is not even checked, so a guesser learns
		 * nothing while locked, right or wrong, known user or not. */
		STAT_INC(auth_lockouts);
		log_kv(LOG_NOTICE, "auth_locked", "sid", s->sid, "client", s->client, "user",
		       s->auth_user, "by", s->af_ip >= s->cfg->auth_fail_ip_limit ? "address" : "user",
		       NULL);
		auth_clear(s);
		set_state(s, SMTP_ST_READY);
		reply_error(s, "454 4.7.0 Too many authentication failures, try again later");
		resume(s);
		return;
	}
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		auth_tempfail(s, err ? err : (r && r->type == REDIS_REPLY_ERROR ? r->str : "bad reply"));
		resume(s);
		return;
	}
	redisReply *tid = r->element[0], *hash = r->element[1];
	if (tid->type == REDIS_REPLY_STRING && hash->type == REDIS_REPLY_STRING &&
	    key_valid_tenant_id(tid->str)) {
		s->auth_known = 1;
		util_strlcpy(s->auth_tid, tid->str, sizeof(s->auth_tid));
		util_strlcpy(s->auth_stored, hash->str, sizeof(s->auth_stored));
		if (auth_cache_check(s->auth_user, s->auth_stored, s->auth_pw, s->auth_pwlen)) {
			STAT_INC(auth_cache_hits);
			auth_load_tenant(s);
			return;
		}
	} else {
		s->auth_known = 0;
		util_strlcpy(s->auth_stored, dummy_hash, sizeof(s->auth_stored));
	}
	if (hashpool_submit(s->thr, s->id, s->auth_pw, s->auth_pwlen, s->auth_stored,
			    auth_hash_done) < 0) {
		auth_tempfail(s, "hash pool");
		resume(s);
	}
}

/* Credentials decoded: look the user up (always in Redis: revocation is instant). */
/*
 * Three commands go out back to back: the failure counts of the address and
 * of the user name, then the credential.  Replies come in order, so the
 * credential's callback sees both counts.  A name that cannot exist is
 * looked up under a key that never does, and costs the same hash.
 */
static void auth_verify(struct smtp_session *s)
{
	struct sref *ref = malloc(sizeof(*ref));
	if (!ref) {
		auth_tempfail(s, "out of memory");
		return;
	}
	ref->thr = s->thr;
	ref->sid = s->id;
	set_state(s, SMTP_ST_WAIT);
	char k[KEY_MAX], k1[KEY_MAX], k2[KEY_MAX];
	authfail_read(s, key_authfail_ip(k1, s->ipkey), 0);
	authfail_read(s, key_authfail_user(k2, s->auth_user), 1);
	const char *argv[] = {"HMGET",
			      key_valid_username(s->auth_user) ? key_cred(k, s->auth_user)
							       : "sg:cred:",
			      "tenant", "hash"};
	rconn_cmd(s->thr->redis, auth_cred_cb, ref, 4, argv, NULL);
}

/* One line of an AUTH exchange (initial response or continuation). */
static void auth_line(struct smtp_session *s, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*') {
		auth_clear(s);
		set_state(s, SMTP_ST_READY);
		reply_error(s, "501 5.7.0 Authentication cancelled");
		return;
	}
	if (s->auth_mech == SMTP_AUTH_PLAIN) {
		if (smtp_auth_plain_decode(line, len, s->auth_user, s->auth_pw,
					   sizeof(s->auth_pw)) < 0) {
			auth_clear(s);
			set_state(s, SMTP_ST_READY);
			reply_error(s, "501 5.5.2 Error: malformed AUTH PLAIN response");
			return;
		}
		s->auth_pwlen = strlen(s->auth_pw);
		auth_verify(s);
		return;
	}
	/* LOGIN: step 0 = user name, step 1 = password */
	char *dst = s->auth_step == 0 ? s->auth_user : s->auth_pw;
	int n = smtp_auth_login_decode(line, len, dst, AUTH_FIELD_MAX);
	if (n <= 0) {
		auth_clear(s);
		set_state(s, SMTP_ST_READY);
		reply_error(s, "501 5.5.2 Error: malformed AUTH LOGIN response");
		return;
	}
	if (s->auth_step++ == 0) {
		set_state(s, SMTP_ST_AUTH);
		reply(s, "334 UGFzc3dvcmQ6");
		return;
	}
	s->auth_pwlen = (size_t)n;
	auth_verify(s);
}

static void cmd_auth(struct smtp_session *s, const char *arg, size_t len)
{
	if (!(s->flags & SMTP_FL_TLS) && !s->cfg->auth_allow_plaintext) {
		reply_error(s, "538 5.7.11 Encryption required for requested authentication mechanism");
		return;
	}
	const char *ir;
	size_t irlen;
	enum smtp_auth_mech m = smtp_parse_auth(arg, len, &ir, &irlen);
	if (m == SMTP_AUTH_UNKNOWN) {
		reply_error(s, len ? "504 5.5.4 Error: unsupported authentication mechanism"
				   : "501 5.5.4 Syntax: AUTH mechanism");
		return;
	}
	auth_clear(s);
	s->auth_user[0] = '\0';
	s->auth_mech = m;
	if (ir && !(irlen == 1 && ir[0] == '=')) {
		auth_line(s, ir, irlen);
		return;
	}
	if (ir && m == SMTP_AUTH_PLAIN) { /* "=": empty initial response */
		auth_line(s, "", 0);
		return;
	}
	set_state(s, SMTP_ST_AUTH);
	reply(s, m == SMTP_AUTH_PLAIN ? "334 " : "334 VXNlcm5hbWU6");
}

/* ------------------------------------------------------------------ */
/* commands */

static void cmd_ehlo(struct smtp_session *s, const char *arg, size_t len, int ehlo)
{
	if (len == 0 || len > SMTP_MAX_DOMAIN || smtp_parse_helo(arg, len) < 0) {
		reply_error(s, ehlo ? "501 5.5.4 Syntax: EHLO hostname" : "501 5.5.4 Syntax: HELO hostname");
		return;
	}
	memcpy(s->helo, arg, len);
	s->helo[len] = '\0';
	session_reset_tx(s);
	if (ehlo)
		s->flags |= SMTP_FL_EHLO;
	else
		s->flags &= ~(unsigned)SMTP_FL_EHLO;
	set_state(s, SMTP_ST_READY);
	if (!ehlo) {
		reply(s, "250 %s", s->cfg->hostname);
		return;
	}
	int auth = (s->flags & SMTP_FL_TLS) || s->cfg->auth_allow_plaintext;
	reply(s, "250-%s", s->cfg->hostname);
	reply(s, "250-PIPELINING");
	if (!(s->flags & SMTP_FL_TLS) && tls_smtp_enabled())
		reply(s, "250-STARTTLS");
	reply(s, "250-SIZE %llu", (unsigned long long)max_size(s));
	reply(s, "250-8BITMIME");
	reply(s, "250-SMTPUTF8");
	reply(s, "250-ENHANCEDSTATUSCODES");
	if (auth)
		reply(s, "250-AUTH PLAIN LOGIN");
	reply(s, "250 CHUNKING");
}

/* The reply for a MAIL (IS_MAIL) or RCPT argument the parser refused. */
static const char *parse_refusal(enum smtp_parse_result r, int is_mail)
{
	switch (r) {
	case SMTP_PARSE_BAD_ADDRESS:
		return is_mail ? "501 5.1.7 Bad sender address syntax"
			       : "501 5.1.3 Bad recipient address syntax";
	case SMTP_PARSE_UNKNOWN_PARAM:
		return is_mail ? "555 5.5.4 Unsupported MAIL parameter"
			       : "555 5.5.4 Unsupported RCPT parameter";
	case SMTP_PARSE_BAD_PARAM:
		return "501 5.5.4 Bad MAIL parameter value";
	case SMTP_PARSE_NEED_UTF8:
		return is_mail ? "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter"
			       : "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter on MAIL";
	case SMTP_PARSE_BAD_UTF8:
		return "501 5.6.7 Malformed UTF-8 in address";
	case SMTP_PARSE_TOO_LONG:
		return is_mail ? "501 5.5.4 Sender address too long"
			       : "501 5.5.4 Recipient address too long";
	default:
		return is_mail ? "501 5.5.4 Syntax: MAIL FROM:<address>"
			       : "501 5.5.4 Syntax: RCPT TO:<address>";
	}
}

static void cmd_mail(struct smtp_session *s, const char *arg, size_t len)
{
	struct smtp_mail_args m;
	enum smtp_parse_result pr = smtp_parse_mail(arg, len, &m);
	if (pr != SMTP_PARSE_OK) {
		STAT_INC(mail_rejected);
		reply_error(s, parse_refusal(pr, 1));
		return;
	}
	if ((m.smtputf8 || m.body == SMTP_BODY_8BITMIME) && !(s->flags & SMTP_FL_EHLO)) {
		reply_error(s, "555 5.5.4 MAIL parameters need EHLO");
		return;
	}
	if (m.has_size && m.size > max_size(s)) {
		STAT_INC(limit_message_size);
		reply_error(s, "552 5.3.4 Message size exceeds fixed maximum message size");
		return;
	}
	if (s->tenant.require_tls && !(s->flags & SMTP_FL_TLS)) {
		/* The tenant's own policy: none of its mail crosses in the clear. */
		STAT_INC(mail_rejected);
		reply_error(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (s->tenant.not_ready && g_cfg->provisioning_mail == PROV_MAIL_TEMPFAIL) {
		/* provisioning_mail tempfail: the client keeps the mail until the
		 * tenant's AWS account is ready (holding it is the default). */
		reply(s, "451 4.3.2 Account is being set up; try again later");
		return;
	}
	if (m.addrlen > 0 && !domain_allowed(s, m.addr + m.domain_off)) {
		STAT_INC(mail_rejected);
		log_kv(LOG_NOTICE, "sender_refused", "sid", s->sid, "tenant", s->tenant.name,
		       "from", m.addr, NULL);
		reply(s, "550 5.7.1 <%s>: Sender address rejected: not a sending domain of this account",
		      m.addr);
		s->errors++;
		return;
	}
	struct smtp_tx *tx = calloc(1, sizeof(*tx));
	if (!tx || util_queue_id(tx->qid) < 0) {
		free(tx);
		reply(s, "451 4.3.0 Error: out of resources");
		return;
	}
	memcpy(tx->from, m.addr, m.addrlen + 1);
	tx->body8 = m.body == SMTP_BODY_8BITMIME;
	tx->smtputf8 = m.smtputf8;
	session_reset_tx(s);
	s->tx = tx;
	set_state(s, SMTP_ST_MAIL);
	reply(s, "250 2.1.0 Ok");
}

/* Add ADDR to the transaction and say so. */
static void rcpt_accept(struct smtp_session *s, const char *addr)
{
	struct smtp_tx *tx = s->tx;
	if (tx->nrcpt == tx->rcpt_cap) {
		int n = tx->rcpt_cap ? tx->rcpt_cap * 2 : 8;
		char **nr = realloc(tx->rcpts, (size_t)n * sizeof(*nr));
		if (!nr) {
			reply(s, "452 4.3.0 Error: out of resources");
			return;
		}
		tx->rcpts = nr;
		tx->rcpt_cap = n;
	}
	tx->rcpts[tx->nrcpt] = strdup(addr);
	if (!tx->rcpts[tx->nrcpt]) {
		reply(s, "452 4.3.0 Error: out of resources");
		return;
	}
	tx->nrcpt++;
	set_state(s, SMTP_ST_RCPT);
	reply(s, "250 2.1.5 Ok");
}

struct rcpt_check {
	struct smtp_thread *thr;
	uint64_t sid;
	char addr[SMTP_MAX_PATH + 1];
};

/*
 * The tenant's suppression list said whether ADDR bounced permanently or
 * complained (SES events, issue 5): refuse it, so the tenant's reputation
 * does not pay for mail that cannot arrive.
 */
static void rcpt_suppr_cb(redisReply *r, void *arg, const char *err)
{
	struct rcpt_check *c = arg;
	struct smtp_session *s = thread_session_get(c->thr, c->sid);
	if (!s || s->state != SMTP_ST_WAIT || !s->tx) {
		free(c);
		return;
	}
	set_state(s, s->tx->nrcpt ? SMTP_ST_RCPT : SMTP_ST_MAIL);
	if (r && r->type == REDIS_REPLY_STRING) {
		json_error_t je;
		json_t *o = json_loadb(r->str, r->len, 0, &je);
		const char *why = json_string_value(json_object_get(o, "reason"));
		char reason[96];
		/* Only a known-safe token goes into the reply. */
		snprintf(reason, sizeof(reason), "%s",
			 why && strspn(why, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "0123456789:/_-") == strlen(why) ? why : "suppressed");
		json_decref(o);
		STAT_INC(rcpt_suppressed);
		log_kv(LOG_NOTICE, "rcpt_suppressed", "sid", s->sid, "tenant", s->tenant.name, "to",
		       c->addr, "reason", reason, NULL);
		reply(s, "550 5.1.1 <%s>: Recipient address suppressed (%s)", c->addr, reason);
		s->errors++;
	} else {
		/* Not listed, or Redis unreachable: in the latter case the
		 * commit at the end of data answers 451 anyway, so the check
		 * fails open rather than refusing recipients one by one. */
		rcpt_accept(s, c->addr);
	}
	free(c);
	resume(s);
}

static void cmd_rcpt(struct smtp_session *s, const char *arg, size_t len)
{
	struct smtp_rcpt_args r;
	struct smtp_tx *tx = s->tx;
	enum smtp_parse_result pr = smtp_parse_rcpt(arg, len, tx->smtputf8, &r);
	if (pr != SMTP_PARSE_OK) {
		STAT_INC(rcpt_rejected);
		reply_error(s, parse_refusal(pr, 0));
		return;
	}
	if (tx->nrcpt >= max_rcpt(s)) {
		STAT_INC(limit_recipients);
		reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	for (int i = 0; i < tx->nrcpt; i++)
		if (strcmp(tx->rcpts[i], r.addr) == 0) {
			reply(s, "250 2.1.5 Ok");
			return;
		}
	struct rcpt_check *c = calloc(1, sizeof(*c));
	if (!c) {
		reply(s, "452 4.3.0 Error: out of resources");
		return;
	}
	c->thr = s->thr;
	c->sid = s->id;
	util_strlcpy(c->addr, r.addr, sizeof(c->addr));
	char k[KEY_MAX], lower[SMTP_MAX_PATH + 1];
	util_strlcpy(lower, r.addr, sizeof(lower));
	util_lower(lower);
	snprintf(k, sizeof(k), "sg:{%s}:suppr", s->tenant.id);
	set_state(s, SMTP_ST_WAIT);
	const char *argv[] = {"HGET", k, lower};
	rconn_cmd(s->thr->redis, rcpt_suppr_cb, c, 3, argv, NULL);
}

static int tx_start_data(struct smtp_session *s, int dot)
{
	struct smtp_tx *tx = s->tx;
	if (!tx->data) {
		tx->data = evbuffer_new();
		if (!tx->data)
			return -1;
		smtp_scan_init(&s->scan, dot, (size_t)s->cfg->max_text_line);
	}
	return 0;
}

static void cmd_data(struct smtp_session *s)
{
	s->data_start_ms = util_mono_ms();
	if (tx_start_data(s, 1) < 0) {
		reply(s, "451 4.3.0 Error: out of resources");
		return;
	}
	set_state(s, SMTP_ST_DATA);
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void cmd_bdat(struct smtp_session *s, const char *arg, size_t len, enum smtp_fsm_verdict v)
{
	uint64_t size;
	int last;
	if (smtp_parse_bdat(arg, len, &size, &last) < 0) {
		/* The chunk's length is unknown, so the stream cannot be resynchronised. */
		reply(s, "501 5.5.4 Syntax: BDAT chunk-size [LAST]; closing connection");
		session_close(s);
		return;
	}
	if (v != SMTP_FSM_OK) {
		reply_error(s, smtp_fsm_reply(v));
		s->bdat_discard = 1;
		s->bdat_left = size;
		s->bdat_last = 0;
		if (s->state != SMTP_ST_CLOSING) {
			s->scan.dot = 0;
			s->state = SMTP_ST_BDAT;
		}
		return;
	}
	if (!s->tx->data)
		s->data_start_ms = util_mono_ms();
	if (tx_start_data(s, 0) < 0) {
		reply(s, "451 4.3.0 Error: out of resources");
		s->bdat_discard = 1;
	}
	s->tx->chunking = 1;
	s->bdat_left = size;
	s->bdat_last = last;
	set_state(s, SMTP_ST_BDAT);
}

/* ------------------------------------------------------------------ */
/* end of message: checks, Received:, commit */

struct commit_ctx {
	struct smtp_thread *thr;
	uint64_t sid;
	char *buf;
};

static void log_result(struct smtp_session *s, const char *event, const char *result, int lvl)
{
	char nrcpt[16], size[32];
	snprintf(nrcpt, sizeof(nrcpt), "%d", s->tx->nrcpt);
	snprintf(size, sizeof(size), "%llu", (unsigned long long)s->tx->size);
	char from[SMTP_MAX_PATH + 3];
	snprintf(from, sizeof(from), "<%s>", s->tx->from);
	log_kv(lvl, event, "sid", s->sid, "qid", s->tx->qid, "tenant", s->tenant.name, "client",
	       s->client, "user", s->user, "from", from, "nrcpt", nrcpt, "size", size, "result",
	       result, NULL);
}

/* Send the end-of-message reply and end the transaction (and, when shutting
 * down, the session). */
static void tx_finish(struct smtp_session *s, const char *text)
{
	reply(s, "%s", text);
	session_reset_tx(s);
	set_state(s, SMTP_ST_READY);
	if (s->stop_after) {
		reply(s, "421 4.3.2 %s Service shutting down", s->cfg->hostname);
		session_close(s);
	}
}

/* Finish the transaction with a refusal decided at end of data. */
static void end_refuse(struct smtp_session *s, const char *text, int temp)
{
	if (temp)
		STAT_INC(msgs_tempfail);
	else
		STAT_INC(msgs_rejected);
	log_result(s, "refused", text, LOG_NOTICE);
	tx_finish(s, text);
}

static void commit_cb(enum queue_result r, void *arg, const char *detail)
{
	struct commit_ctx *c = arg;
	struct smtp_session *s = thread_session_get(c->thr, c->sid);
	free(c->buf);
	free(c);
	if (!s || s->state != SMTP_ST_WAIT) {
		if (r == QUEUE_OK)
			log_kv(LOG_WARNING, "queued_client_gone", "detail", "client left before 250",
			       NULL);
		return;
	}
	char text[128];
	switch (r) {
	case QUEUE_OK:
		STAT_INC(msgs_accepted);
		STAT_ADD(bytes_accepted, s->tx->size);
		snprintf(text, sizeof(text), "250 2.0.0 Ok: queued as %s", s->tx->qid);
		log_result(s, "queued", text, LOG_INFO);
		tx_finish(s, text);
		break;
	case QUEUE_NOTENANT:
		end_refuse(s, "554 5.7.1 Error: this account no longer exists", 0);
		break;
	default:
		log_kv(LOG_WARNING, "queue_write_failed", "sid", s->sid, "reason",
		       detail ? detail : "?", NULL);
		end_refuse(s, "451 4.3.0 Error: queue temporarily unavailable, try again later", 1);
		break;
	}
	resume(s);
}

static void end_of_message(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	const struct config *cfg = s->cfg;
	char text[160];

	if (tx->too_big) {
		STAT_INC(limit_message_size);
		end_refuse(s, "552 5.3.4 Error: message size exceeds fixed maximum message size", 0);
		return;
	}
	if (tx->scan_flags & (SMTP_SCAN_BARE_LF | SMTP_SCAN_BARE_CR)) {
		STAT_INC(bare_newline);
		end_refuse(s, "554 5.6.0 Error: bare <CR> or <LF> in message; lines must end with <CR><LF>", 0);
		return;
	}
	if (tx->scan_flags & SMTP_SCAN_NUL) {
		end_refuse(s, "554 5.6.0 Error: NUL character in message", 0);
		return;
	}
	if (tx->scan_flags & SMTP_SCAN_LONG_LINE) {
		STAT_INC(limit_text_line);
		snprintf(text, sizeof(text), "554 5.6.0 Error: message line longer than %d octets",
			 cfg->max_text_line);
		end_refuse(s, text, 0);
		return;
	}
	if (tx->size == 0) {
		end_refuse(s, "554 5.6.0 Error: empty message", 0);
		return;
	}

	/* Received: trace header (RFC 5321 4.4), then the message as received. */
	char date[64], hdr[1024];
	util_rfc5322_date(util_now_ms(), date, sizeof(date));
	const char *proto = tx->smtputf8 ? "UTF8SMTP" : (s->flags & SMTP_FL_EHLO ? "ESMTP" : "SMTP");
	char forclause[SMTP_MAX_PATH + 16] = "";
	if (tx->nrcpt == 1)
		snprintf(forclause, sizeof(forclause), "\r\n\tfor <%s>", tx->rcpts[0]);
	int hl = snprintf(hdr, sizeof(hdr),
			  "Received: from %s (%s)\r\n\tby %s (sesgate) with %s%s%s id %s\r\n"
			  "\t(tenant %s)%s;\r\n\t%s\r\n",
			  s->helo[0] ? s->helo : "unknown", s->client, cfg->hostname, proto,
			  (s->flags & SMTP_FL_TLS) ? "S" : "", (s->flags & SMTP_FL_AUTHED) ? "A" : "",
			  tx->qid, s->tenant.name, forclause, date);
	if (hl < 0 || (size_t)hl >= sizeof(hdr))
		hl = 0;
	size_t blen = evbuffer_get_length(tx->data);
	char *buf = malloc((size_t)hl + blen + 1);
	if (!buf) {
		end_refuse(s, "451 4.3.0 Error: out of resources", 1);
		return;
	}
	memcpy(buf, hdr, (size_t)hl);
	evbuffer_remove(tx->data, buf + hl, blen);
	buf[hl + blen] = '\0';
	/* BDAT: a CR as the very last octet has no LF after it, ever. */
	if (blen && buf[hl + blen - 1] == '\r') {
		free(buf);
		STAT_INC(bare_newline);
		end_refuse(s, "554 5.6.0 Error: bare <CR> or <LF> in message; lines must end with <CR><LF>", 0);
		return;
	}

	if (cfg->check_header_from) {
		char doms[32][SMTP_MAX_DOMAIN + 1];
		int n = smtp_header_from_domains(buf + hl, blen, doms, 32);
		const char *why = NULL;
		if (n == -1)
			why = "550 5.6.0 Error: message has no From: header field";
		else if (n == -2)
			why = "550 5.6.0 Error: message has more than one From: header field";
		else if (n < 0)
			why = "550 5.6.0 Error: From: header field has no valid address";
		else if (n > 32) /* only 32 are copied: never let the rest go unchecked */
			why = "550 5.6.0 Error: too many addresses in the From: header field";
		for (int i = 0; !why && i < n; i++)
			if (!domain_allowed(s, doms[i])) {
				snprintf(text, sizeof(text),
					 "550 5.7.1 Error: From: domain %.64s is not a sending domain of this account",
					 doms[i]);
				why = text;
			}
		if (why) {
			free(buf);
			end_refuse(s, why, 0);
			return;
		}
	}

	struct commit_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		free(buf);
		end_refuse(s, "451 4.3.0 Error: out of resources", 1);
		return;
	}
	c->thr = s->thr;
	c->sid = s->id;
	c->buf = buf;
	struct queue_msg m = {
		.tid = s->tenant.id, .tenant_name = s->tenant.name, .qid = tx->qid,
		.sender = tx->from, .rcpts = tx->rcpts, .nrcpt = tx->nrcpt,
		.data = buf, .len = (size_t)hl + blen, .client = s->client,
		.helo = s->helo, .auth_user = s->user, .arrival_ms = util_now_ms(),
		.body_8bit = tx->body8 || (tx->scan_flags & SMTP_SCAN_8BIT), .smtputf8 = tx->smtputf8,
	};
	set_state(s, SMTP_ST_WAIT);
	queue_enqueue(s->thr->redis, &m, commit_cb, c);
}

/* ------------------------------------------------------------------ */
/* input */

/* Append scanned message octets, or discard them once over the limit. */
static void tx_add(struct smtp_session *s, const char *p, size_t n)
{
	struct smtp_tx *tx = s->tx;
	tx->size += n;
	if (tx->too_big || s->bdat_discard)
		return;
	if (tx->size > max_size(s)) {
		tx->too_big = 1;
		STAT_SUB(data_memory, tx->mem);
		tx->mem = 0;
		evbuffer_drain(tx->data, evbuffer_get_length(tx->data));
		return;
	}
	evbuffer_add(tx->data, p, n);
	tx->mem += n;
	STAT_ADD(data_memory, n);
}

/*
 * Above max_data_memory sessions stop reading their sockets (TCP
 * back-pressure).  If all of them waited, none would ever finish and free
 * memory, so one session at a time, the holder of this token, may go on past
 * the limit: memory stays below max_data_memory + one message.
 */
static _Atomic uintptr_t overlimit_owner;

static void memory_release(struct smtp_session *s)
{
	uintptr_t me = (uintptr_t)s;
	atomic_compare_exchange_strong(&overlimit_owner, &me, 0);
}

static int memory_full(struct smtp_session *s)
{
	if (STAT_GET(data_memory) <= s->cfg->max_data_memory)
		return 0;
	uintptr_t none = 0;
	if (atomic_load(&overlimit_owner) == (uintptr_t)s ||
	    atomic_compare_exchange_strong(&overlimit_owner, &none, (uintptr_t)s))
		return 0;
	if (!s->paused_mem) {
		s->paused_mem = 1;
		STAT_INC(data_memory_waits);
		bufferevent_disable(s->bev, EV_READ);
	}
	return 1;
}

/* Scanner output for the thread's sessions (one at a time). */
static __thread char scan_out[65536];

/* DATA content: returns 1 when more input is needed. */
static int process_data(struct smtp_session *s, struct evbuffer *in)
{
	while (evbuffer_get_length(in) > 0) {
		if (memory_full(s))
			return 1;
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return 1;
		size_t chunk = v.iov_len > sizeof(scan_out) ? sizeof(scan_out) : v.iov_len;
		char *out = scan_out;
		size_t outlen = 0;
		size_t used = smtp_scan_feed(&s->scan, v.iov_base, chunk, out, &outlen);
		tx_add(s, out, outlen);
		evbuffer_drain(in, used);
		if (s->scan.done) {
			s->tx->scan_flags = s->scan.flags;
			end_of_message(s);
			return 0;
		}
	}
	return 1;
}

/* BDAT chunk octets: returns 1 when more input is needed. */
static int process_bdat(struct smtp_session *s, struct evbuffer *in)
{
	while (s->bdat_left > 0 && evbuffer_get_length(in) > 0) {
		if (!s->bdat_discard && memory_full(s))
			return 1;
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return 1;
		size_t chunk = v.iov_len > 65536 ? 65536 : v.iov_len;
		if (chunk > s->bdat_left)
			chunk = (size_t)s->bdat_left;
		if (!s->bdat_discard) {
			size_t outlen = 0;
			smtp_scan_feed(&s->scan, v.iov_base, chunk, scan_out, &outlen);
			tx_add(s, scan_out, outlen);
		}
		evbuffer_drain(in, chunk);
		s->bdat_left -= chunk;
	}
	if (s->bdat_left > 0)
		return 1;
	if (s->bdat_discard) {
		s->bdat_discard = 0;
		set_state(s, s->tx ? (s->tx->chunking ? SMTP_ST_CHUNKING
					: s->tx->nrcpt ? SMTP_ST_RCPT : SMTP_ST_MAIL)
				 : ((s->flags & SMTP_FL_EHLO) || s->helo[0] ? SMTP_ST_READY
									      : SMTP_ST_INIT));
		return 0;
	}
	if (s->bdat_last) {
		s->tx->scan_flags = s->scan.flags;
		end_of_message(s);
		return 0;
	}
	set_state(s, SMTP_ST_CHUNKING);
	reply(s, "250 2.0.0 %llu octets received", (unsigned long long)s->tx->size);
	return 0;
}

static void dispatch(struct smtp_session *s, const char *line, size_t len)
{
	const char *arg;
	size_t arglen;
	enum smtp_cmd cmd = smtp_parse_verb(line, len, &arg, &arglen);
	unsigned fl = s->flags;
	if (s->ip_authed && cmd != SMTP_CMD_AUTH)
		fl |= SMTP_FL_AUTHED; /* AUTH may still name another identity */
	if (tls_smtp_enabled())
		fl |= SMTP_FL_TLS_AVAIL;
	enum smtp_fsm_verdict v = smtp_fsm_check(s->state, fl, cmd);
	log_debug("%s < %s", s->sid, smtp_cmd_name(cmd));
	if (cmd == SMTP_CMD_BDAT) {
		cmd_bdat(s, arg, arglen, v);
		return;
	}
	if (v != SMTP_FSM_OK) {
		if (v == SMTP_FSM_NEED_AUTH)
			STAT_INC(mail_rejected);
		reply_error(s, smtp_fsm_reply(v));
		return;
	}
	switch (cmd) {
	case SMTP_CMD_EHLO:
		cmd_ehlo(s, arg, arglen, 1);
		break;
	case SMTP_CMD_HELO:
		cmd_ehlo(s, arg, arglen, 0);
		break;
	case SMTP_CMD_MAIL:
		cmd_mail(s, arg, arglen);
		break;
	case SMTP_CMD_RCPT:
		cmd_rcpt(s, arg, arglen);
		break;
	case SMTP_CMD_DATA:
		if (arglen) {
			reply_error(s, "501 5.5.4 Syntax: DATA takes no argument");
			break;
		}
		cmd_data(s);
		break;
	case SMTP_CMD_RSET:
		session_reset_tx(s);
		set_state(s, s->helo[0] ? SMTP_ST_READY : SMTP_ST_INIT);
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_CMD_NOOP:
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_CMD_QUIT:
		reply(s, "221 2.0.0 Bye");
		session_close(s);
		break;
	case SMTP_CMD_HELP:
		reply(s, "214 2.0.0 Commands: EHLO HELO AUTH MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT");
		break;
	case SMTP_CMD_VRFY:
		reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
		break;
	case SMTP_CMD_AUTH:
		cmd_auth(s, arg, arglen);
		break;
	case SMTP_CMD_STARTTLS:
		cmd_starttls(s, arglen);
		break;
	default:
		reply_error(s, smtp_fsm_reply(SMTP_FSM_UNKNOWN));
		break;
	}
}

/*
 * Take one CRLF-terminated line off IN.  Returns 1 with the line (without
 * CRLF) in BUF, 0 when no complete line is there yet, -1 after replying to
 * a bad line (too long, bare LF, NUL).
 */
static int read_line(struct smtp_session *s, struct evbuffer *in, char *buf, size_t cap,
		     size_t *len)
{
	size_t max = (size_t)s->cfg->max_command_line;
	struct evbuffer_ptr p = evbuffer_search(in, "\n", 1, NULL);
	if (p.pos < 0) {
		size_t have = evbuffer_get_length(in);
		if (have > max) {
			/* Drop what we have and the rest of the line when it comes. */
			evbuffer_drain(in, have);
			if (!s->skip_line) {
				s->skip_line = 1;
				STAT_INC(limit_command_line);
				reply_error(s, s->state == SMTP_ST_AUTH
						       ? "500 5.5.6 Error: authentication exchange line too long"
						       : "500 5.5.2 Error: command line too long");
				if (s->state == SMTP_ST_AUTH) {
					auth_clear(s);
					set_state(s, SMTP_ST_READY);
				}
			}
		}
		return 0;
	}
	size_t n = (size_t)p.pos + 1;
	if (s->skip_line) {
		s->skip_line = 0;
		evbuffer_drain(in, n);
		return -1;
	}
	if (n > max || n > cap) {
		evbuffer_drain(in, n);
		STAT_INC(limit_command_line);
		reply_error(s, s->state == SMTP_ST_AUTH
				       ? "500 5.5.6 Error: authentication exchange line too long"
				       : "500 5.5.2 Error: command line too long");
		if (s->state == SMTP_ST_AUTH) {
			auth_clear(s);
			set_state(s, SMTP_ST_READY);
		}
		return -1;
	}
	evbuffer_remove(in, buf, n);
	if (n < 2 || buf[n - 2] != '\r') {
		reply_error(s, "500 5.5.2 Error: bare <LF> received; commands end with <CR><LF>");
		return -1;
	}
	n -= 2;
	if (memchr(buf, '\0', n) || memchr(buf, '\r', n)) {
		reply_error(s, "500 5.5.2 Error: NUL or bare <CR> in command line");
		return -1;
	}
	buf[n] = '\0';
	*len = n;
	return 1;
}

/* Both timers below carry an sref; the session may be gone by then. */
static struct smtp_session *sref_take(void *arg)
{
	struct sref *ref = arg;
	struct smtp_session *s = thread_session_get(ref->thr, ref->sid);
	free(ref);
	return s;
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = sref_take(arg);
	if (!s)
		return;
	s->resume_pending = 0;
	if (s->state != SMTP_ST_CLOSING)
		session_process(s);
}

static void auth_fail_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = sref_take(arg);
	if (!s || s->state != SMTP_ST_WAIT)
		return;
	auth_fail_reply(s);
	resume(s);
}

static void delay_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = sref_take(arg);
	if (!s)
		return;
	s->delayed = 0;
	resume(s);
}

/*
 * Slowloris: the read timeout restarts with every octet, so a client
 * dripping one octet a minute would hold its session forever.  A command
 * line must therefore be complete within timeout_idle of its first octet.
 */
static void line_pending(struct smtp_session *s, int partial)
{
	if (!partial) {
		s->line_start_ms = 0;
		return;
	}
	uint64_t now = util_mono_ms();
	if (!s->line_start_ms) {
		s->line_start_ms = now;
	} else if (now - s->line_start_ms > (uint64_t)s->cfg->timeout_idle * 1000) {
		STAT_INC(sessions_slow);
		log_kv(LOG_NOTICE, "too_slow", "sid", s->sid, "client", s->client, "state",
		       smtp_state_name(s->state), NULL);
		reply(s, "421 4.4.2 %s Error: timeout exceeded", s->cfg->hostname);
		session_close(s);
	}
}

/* The same for message content: after timeout_data, at least min_data_rate. */
static int data_too_slow(struct smtp_session *s)
{
	if (!s->cfg->min_data_rate || !s->tx || !s->data_start_ms || s->paused_mem)
		return 0;
	uint64_t el = util_mono_ms() - s->data_start_ms;
	if (el <= (uint64_t)s->cfg->timeout_data * 1000 ||
	    s->tx->size * 1000 / el >= (uint64_t)s->cfg->min_data_rate)
		return 0;
	STAT_INC(sessions_slow);
	log_kv(LOG_NOTICE, "too_slow", "sid", s->sid, "client", s->client, "state",
	       smtp_state_name(s->state), NULL);
	reply(s, "421 4.4.2 %s Error: data rate too low", s->cfg->hostname);
	session_close(s);
	return 1;
}

static void session_process(struct smtp_session *s)
{
	if (!s->bev || s->tls_pending || s->tls_switch)
		return;
	struct evbuffer *in = bufferevent_get_input(s->bev);
	/* Per thread, not on the stack: sessions of a thread never nest. */
	static __thread char line[65536 + 2];
	for (;;) {
		if (s->delayed)
			return;
		/* A client that pipelines without reading replies must not make
		 * us buffer replies without bound. */
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) > OUT_HIGH_WATER) {
			s->out_blocked = 1;
			return;
		}
		switch (s->state) {
		case SMTP_ST_CLOSING:
		case SMTP_ST_WAIT:
			return;
		case SMTP_ST_DATA:
			if (process_data(s, in)) {
				if (s->state == SMTP_ST_DATA)
					data_too_slow(s);
				return;
			}
			continue;
		case SMTP_ST_BDAT:
			if (process_bdat(s, in)) {
				if (s->state == SMTP_ST_BDAT)
					data_too_slow(s);
				return;
			}
			continue;
		default:
			break;
		}
		size_t len = 0;
		int r = read_line(s, in, line, sizeof(line), &len);
		if (r == 0) {
			line_pending(s, evbuffer_get_length(in) > 0);
			return;
		}
		s->line_start_ms = 0;
		if (r < 0)
			continue;
		if (s->state == SMTP_ST_AUTH)
			auth_line(s, line, len);
		else
			dispatch(s, line, len);
		util_wipe(line, len); /* may have held an AUTH payload */
	}
}

/* ------------------------------------------------------------------ */
/* bufferevent callbacks */

static void read_cb(struct bufferevent *bev, void *arg)
{
	session_process(arg);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	if (s->tls_switch) {
		/* "220 Ready to start TLS" and every reply before it are out. */
		s->tls_switch = 0;
		if (tls_begin(s, 1) < 0)
			session_close(s);
		return;
	}
	if (s->out_blocked) {
		s->out_blocked = 0;
		resume(s);
	}
	if (s->close_after_flush) {
		s->close_after_flush = 0;
		struct timeval tv = {0, 0};
		event_base_once(s->thr->base, -1, EV_TIMEOUT, free_later_cb, s, &tv);
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;
	if (what & BEV_EVENT_CONNECTED) {
		tls_established(s);
		return;
	}
	if (s->tls_pending && (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))) {
		tls_failed(s, what & BEV_EVENT_TIMEOUT ? "timeout" : NULL);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->state == SMTP_ST_CLOSING) {
			if (s->close_after_flush) /* client stopped reading our last reply */
				session_free(s);
			return;
		}
		STAT_INC(sessions_timeout);
		log_kv(LOG_NOTICE, "timeout", "sid", s->sid, "client", s->client, "state",
		       smtp_state_name(s->state), NULL);
		reply(s, "421 4.4.2 %s Error: timeout exceeded", s->cfg->hostname);
		session_close(s);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (s->state == SMTP_ST_WAIT) {
			/* An async step still refers to this id; the lookup will miss. */
		}
		if (s->state == SMTP_ST_CLOSING && !s->close_after_flush)
			return; /* free already scheduled */
		s->state = SMTP_ST_CLOSING;
		s->close_after_flush = 0;
		struct timeval tv = {0, 0};
		event_base_once(s->thr->base, -1, EV_TIMEOUT, free_later_cb, s, &tv);
	}
}

static void format_client(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip, sizeof(ip));
		snprintf(out, len, "[%s]", ip);
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, ip, sizeof(ip));
		snprintf(out, len, "[IPv6:%s]", ip);
	} else {
		snprintf(out, len, "[local]");
	}
}

/* ------------------------------------------------------------------ */
/* start: PROXY header, limits, TLS, IP authorization, greeting */

static struct cidr_list *proxy_nets; /* from proxy_trusted; read-only after init */

int smtp_session_init(const struct config *cfg, char *err, size_t errlen)
{
	proxy_nets = calloc(1, sizeof(*proxy_nets));
	if (!proxy_nets || cidr_list_parse(cfg->proxy_trusted, proxy_nets, err, errlen) < 0)
		return -1;
	ipauth_init(cfg);
	return 0;
}

static void greet(struct smtp_session *s)
{
	set_state(s, SMTP_ST_INIT);
	if (s->thr->stopping) {
		reply(s, "421 4.3.2 %s Service shutting down", s->cfg->hostname);
		session_close(s);
		return;
	}
	reply(s, "220 %s ESMTP sesgate", s->cfg->hostname);
	resume(s);
}

static void tls_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = sref_take(arg);
	if (s && s->tls_pending)
		tls_failed(s, "timeout");
}

/*
 * Put the session's socket under TLS: the plain bufferevent is freed (with
 * whatever it had buffered: after STARTTLS that is plaintext the client had
 * no right to send, RFC 3207 section 4.2) and an OpenSSL one takes the
 * socket over.  Replies written before the handshake ends go out after it.
 */
static int tls_begin(struct smtp_session *s, int starttls)
{
	SSL *ssl = tls_smtp_ssl_new();
	struct bufferevent *b =
		ssl ? bufferevent_openssl_socket_new(s->thr->base, s->fd, ssl,
						     BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)
		    : NULL;
	if (!b) {
		if (ssl)
			SSL_free(ssl);
		STAT_INC(tls_failures);
		log_kv(LOG_ERR, "tls_failed", "sid", s->sid, "client", s->client, "reason",
		       "cannot start TLS", NULL);
		return -1;
	}
	if (s->bev) {
		struct evbuffer *in = bufferevent_get_input(s->bev);
		if (evbuffer_get_length(in)) {
			STAT_INC(starttls_pipelined);
			log_kv(LOG_NOTICE, "starttls_pipelined", "sid", s->sid, "client", s->client,
			       NULL);
		}
		bufferevent_free(s->bev);
	}
	s->bev = b;
	s->tls_owns_fd = 1;
	s->tls_pending = 1;
	s->tls_starttls = starttls;
	bufferevent_openssl_set_allow_dirty_shutdown(b, 1);
	bufferevent_setcb(b, read_cb, write_cb, event_cb, s);
	bufferevent_setwatermark(b, EV_READ, 0, READ_HIGH_WATER);
	bufferevent_enable(b, EV_READ | EV_WRITE);
	session_later(s, s->cfg->tls_handshake_timeout * 1000, tls_timeout_cb);
	return 0;
}

static void tls_established(struct smtp_session *s)
{
	if (!s->tls_pending)
		return;
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	s->tls_pending = 0;
	s->flags |= SMTP_FL_TLS;
	STAT_INC(tls_handshakes);
	log_kv(LOG_INFO, "tls", "sid", s->sid, "client", s->client, "version",
	       ssl ? SSL_get_version(ssl) : "?", "cipher", ssl ? SSL_get_cipher_name(ssl) : "?",
	       NULL);
	if (s->tls_starttls) {
		/* RFC 3207 4.2: forget everything learned in the clear; the
		 * client starts over with EHLO. */
		s->helo[0] = '\0';
		s->flags &= ~(unsigned)SMTP_FL_EHLO;
		session_reset_tx(s);
		auth_clear(s);
		if (s->flags & SMTP_FL_AUTHED) {
			/* An AUTH done in the clear is knowledge from before TLS too. */
			s->flags &= ~(unsigned)SMTP_FL_AUTHED;
			s->user[0] = '\0';
			tenant_clear(&s->tenant);
			if (s->tenant_counted[0]) {
				limits_tenant_release(s->tenant_counted);
				s->tenant_counted[0] = '\0';
			}
		}
		set_state(s, SMTP_ST_INIT);
	}
	resume(s);
}

static void tls_failed(struct smtp_session *s, const char *why)
{
	char buf[160] = "";
	unsigned long e;
	while (s->bev && (e = bufferevent_get_openssl_error(s->bev)))
		ERR_error_string_n(e, buf, sizeof(buf));
	STAT_INC(tls_failures);
	log_kv(LOG_NOTICE, "tls_failed", "sid", s->sid, "client", s->client, "reason",
	       why ? why : buf[0] ? buf : "connection closed during handshake", NULL);
	s->tls_pending = 0;
	s->state = SMTP_ST_CLOSING;
	s->close_after_flush = 0;
	struct timeval tv = {0, 0};
	event_base_once(s->thr->base, -1, EV_TIMEOUT, free_later_cb, s, &tv);
}

static void cmd_starttls(struct smtp_session *s, size_t arglen)
{
	if (arglen) {
		reply_error(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	/* Nothing more is read in the clear: the switch happens in write_cb
	 * once the reply is flushed, and what was pipelined after STARTTLS
	 * dies with the plain bufferevent (the CVE-2011-0411 injection). */
	set_state(s, SMTP_ST_WAIT);
	bufferevent_disable(s->bev, EV_READ);
	s->tls_switch = 1;
}

/* The real client address is known: limits, TLS, IP authorization, greeting. */
static void session_begin(struct smtp_session *s)
{
	format_client(&s->addr, s->client, sizeof(s->client));
	cidr_addr_key((const struct sockaddr *)&s->addr, s->ipkey, sizeof(s->ipkey));
	log_kv(LOG_INFO, "connect", "sid", s->sid, "client", s->client, NULL);
	if (!s->bev) {
		s->bev = bufferevent_socket_new(s->thr->base, s->fd, 0);
		if (!s->bev) {
			session_close(s);
			return;
		}
		bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
		bufferevent_setwatermark(s->bev, EV_READ, 0, READ_HIGH_WATER);
		bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	}
	set_state(s, SMTP_ST_WAIT);
	if ((s->lflags & LISTEN_SMTPS) && tls_begin(s, 0) < 0) {
		session_close(s);
		return;
	}
	enum limit_result lr = limits_ip_acquire(s->ipkey, s->cfg->max_sessions_per_ip,
						 s->cfg->max_connect_rate, util_mono_ms());
	if (lr != LIMIT_OK) {
		if (lr == LIMIT_SESSIONS)
			STAT_INC(sessions_refused_ip);
		else
			STAT_INC(sessions_refused_rate);
		log_kv(LOG_NOTICE, "client_limit", "sid", s->sid, "client", s->client, "limit",
		       lr == LIMIT_SESSIONS ? "max_sessions_per_ip" : "max_connect_rate", NULL);
		reply(s, lr == LIMIT_SESSIONS
				 ? "421 4.7.0 %s Too many connections from your address"
				 : "421 4.7.0 %s Connection rate limit exceeded, try again later",
		      s->cfg->hostname);
		session_close(s);
		return;
	}
	s->ip_counted = 1;
	char tid[TENANT_ID_LEN + 1];
	if (ipauth_lookup((const struct sockaddr *)&s->addr, tid) && tenant_load(s, tid, 1) == 0)
		return; /* ipauth_done() greets */
	greet(s);
}

static void proxy_timeout(struct smtp_session *s, const char *why)
{
	STAT_INC(proxy_refused);
	log_kv(LOG_NOTICE, "proxy_refused", "sid", s->sid, "client", s->client, "reason", why,
	       NULL);
	session_close(s);
}

/*
 * The PROXY header is read straight from the socket, exactly as many
 * octets as it can still need (one at a time for v1, which ends at its
 * CRLF), so not one octet after it is taken: those belong to the SMTP
 * client, or to its TLS handshake on an smtps listener.
 */
static size_t proxy_want(const struct smtp_session *s)
{
	if (s->plen == 0 || s->pbuf[0] == 'P')
		return 1;
	if (s->plen < 16)
		return 16 - s->plen;
	size_t total = 16 + ((size_t)s->pbuf[14] << 8 | s->pbuf[15]);
	if (total > sizeof(s->pbuf))
		return 0;
	return total - s->plen;
}

static void proxy_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_session *s = arg;
	if (s->state == SMTP_ST_CLOSING)
		return;
	for (;;) {
		if (util_mono_ms() >= s->proxy_deadline) {
			proxy_timeout(s, "timeout");
			return;
		}
		size_t want = proxy_want(s);
		if (want == 0 || s->plen + want > sizeof(s->pbuf)) {
			proxy_timeout(s, "header too long");
			return;
		}
		ssize_t n = recv(fd, s->pbuf + s->plen, want, 0);
		if (n == 0) {
			proxy_timeout(s, "closed before the header");
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			proxy_timeout(s, strerror(errno));
			return;
		}
		s->plen += (size_t)n;
		struct proxy_info pi;
		size_t used = 0;
		char why[128] = "";
		enum proxy_result r = proxy_parse(s->pbuf, s->plen, &pi, &used, why, sizeof(why));
		if (r == PROXY_BAD) {
			proxy_timeout(s, why[0] ? why : "bad header");
			return;
		}
		if (r == PROXY_OK) {
			event_free(s->proxy_ev);
			s->proxy_ev = NULL;
			if (!pi.local)
				memcpy(&s->addr, &pi.src, sizeof(s->addr));
			session_begin(s);
			return;
		}
	}
	uint64_t now = util_mono_ms();
	if (now >= s->proxy_deadline) {
		proxy_timeout(s, "timeout");
		return;
	}
	uint64_t left = s->proxy_deadline - now;
	struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
	event_add(s->proxy_ev, &tv);
}

void smtp_session_accept(struct smtp_thread *thr, void *arg)
{
	struct accept_job *j = arg;
	struct smtp_session *s = calloc(1, sizeof(*s));
	if (!s) {
		close(j->fd);
		STAT_SUB(sessions_current, 1);
		free(j);
		return;
	}
	s->thr = thr;
	s->cfg = thr->cfg;
	s->fd = j->fd;
	s->lflags = j->lflags;
	memcpy(&s->addr, &j->addr, sizeof(s->addr));
	free(j);
	s->id = thread_session_add(thr, s);
	if (!s->id) {
		close(s->fd);
		free(s);
		STAT_SUB(sessions_current, 1);
		return;
	}
	snprintf(s->sid, sizeof(s->sid), "%d.%llx", thr->idx, (unsigned long long)s->id);
	STAT_INC(sessions_total);
	s->state = SMTP_ST_WAIT;
	if (!(s->lflags & LISTEN_PROXY)) {
		session_begin(s);
		return;
	}
	/* Only the configured load balancers may speak for someone else. */
	format_client(&s->addr, s->client, sizeof(s->client));
	if (!cidr_list_match(proxy_nets, (const struct sockaddr *)&s->addr)) {
		proxy_timeout(s, "peer not in proxy_trusted");
		return;
	}
	s->proxy_deadline = util_mono_ms() + (uint64_t)s->cfg->proxy_timeout * 1000;
	s->proxy_ev = event_new(thr->base, s->fd, EV_READ, proxy_read_cb, s);
	struct timeval tv = {s->cfg->proxy_timeout, 0};
	if (!s->proxy_ev || event_add(s->proxy_ev, &tv) < 0)
		session_close(s);
}

void smtp_session_tick(struct smtp_thread *thr)
{
	static __thread uint64_t next_refresh;
	if (thr->idx == 0) {
		uint64_t now = util_mono_ms();
		if (now >= next_refresh) {
			next_refresh = now + 1000;
			ipauth_refresh(thr->redis);
		}
	}
	for (uint32_t i = 0; i < thr->nslots; i++) {
		struct smtp_session *s = thr->slots[i];
		if (!s || !s->paused_mem)
			continue;
		if (STAT_GET(data_memory) > s->cfg->max_data_memory && atomic_load(&overlimit_owner))
			return;
		s->paused_mem = 0;
		if (s->bev)
			bufferevent_enable(s->bev, EV_READ);
		session_process(s);
	}
}

void smtp_session_shutdown_all(struct smtp_thread *thr)
{
	for (uint32_t i = 0; i < thr->nslots; i++) {
		struct smtp_session *s = thr->slots[i];
		if (!s || s->state == SMTP_ST_CLOSING)
			continue;
		if (s->proxy_ev || s->tls_pending) {
			/* Nothing can be said to a client not yet heard or not
			 * yet encrypted: just close. */
			session_close(s);
			continue;
		}
		switch (s->state) {
		case SMTP_ST_DATA:
		case SMTP_ST_BDAT:
		case SMTP_ST_CHUNKING:
		case SMTP_ST_WAIT:
			s->stop_after = 1;
			break;
		default:
			reply(s, "421 4.3.2 %s Service shutting down", s->cfg->hostname);
			session_close(s);
			break;
		}
	}
}
