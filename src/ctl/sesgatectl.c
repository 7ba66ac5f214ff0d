/*
 * sesgatectl.c - the administrator's command-line client of sesgate.
 *
 * It turns a command line such as `sesgatectl tenant pause acme --reason x`
 * into one request of the line-delimited JSON protocol of the daemon's
 * control socket (doc/control-protocol.md), sends it, waits for the one-line
 * answer and shows the result: as aligned tables and `key: value` lines for
 * people, or with --json as the bare `result` member for scripts.
 *
 * The program is deliberately self-contained (libc and jansson only): it has
 * to keep working when the daemon misbehaves, so it trusts nothing it reads
 * back, bounds every wait and every buffer, and never prints a password
 * other than the one `cred add` hands out.
 *
 * Exit status: 0 done, 1 the daemon refused the request (or the output could
 * not be written), 2 usage error, 3 the daemon could not be talked to.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#ifndef SESGATECTL_DEFAULT_SOCKET
#define SESGATECTL_DEFAULT_SOCKET "/run/sesgate/control.sock"
#endif

#define CTL_EXIT_OK          0
#define CTL_EXIT_REFUSED     1
#define CTL_EXIT_USAGE       2
#define CTL_EXIT_UNREACHABLE 3

/* The daemon caps lines at 1 MiB; a large tenant list may grow, so allow more
 * on the way back but still refuse to grow without bound. */
#define REQUEST_MAX  (1u << 20)
#define RESPONSE_MAX (16u << 20)
#define TIMEOUT_MS   30000

#define GLOBAL_USAGE "usage: sesgatectl [-s SOCKET] [--json] [-h] COMMAND ..."

static const char *const progname = "sesgatectl";

/* Options that apply to every command; accepted before and after it. */
static struct {
	const char *socket;
	int json;
} g_opt;

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

static void oom(void)
{
	fprintf(stderr, "%s: out of memory\n", progname);
	exit(CTL_EXIT_REFUSED);
}

__attribute__((format(printf, 1, 2))) static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	va_end(ap);
	return s;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (d == NULL)
		oom();
	return d;
}

/* Milliseconds on the monotonic clock: deadlines must not move with NTP. */
static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A copy of S that is safe to put on a terminal.  Everything shown comes from
 * the daemon, and some of it (descriptions, pause reasons) from whoever
 * created the tenant, so C0/C1 control characters become '?' rather than
 * reaching the terminal as escape sequences.  jansson has already rejected
 * invalid UTF-8, so multi-byte sequences can be passed through otherwise.
 */
static char *display_copy(const char *s)
{
	size_t n = strlen(s);
	char *d = malloc(n + 1);
	size_t j = 0;

	if (d == NULL)
		oom();
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		unsigned char next = (unsigned char)s[i + 1];

		if (c < 0x20 || c == 0x7f) {
			d[j++] = '?';
		} else if (c == 0xc2 && next >= 0x80 && next <= 0x9f) {
			d[j++] = '?'; /* U+0080..U+009F */
			i++;
		} else {
			d[j++] = (char)c;
		}
	}
	d[j] = '\0';
	return d;
}

/* Columns a string takes, counting code points (good enough for alignment). */
static size_t display_width(const char *s)
{
	size_t w = 0;
	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static void print_padded(const char *s, size_t width)
{
	size_t w = display_width(s);
	fputs(s, stdout);
	for (; w < width; w++)
		putchar(' ');
}

/* ------------------------------------------------------------------------ */
/* Reading values out of results                                            */
/* ------------------------------------------------------------------------ */

static const char *jstr(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* 1 and *OUT if KEY holds a number (integers expected; reals tolerated). */
static int jnum(const json_t *obj, const char *key, long long *out)
{
	const json_t *v = json_object_get(obj, key);

	if (json_is_integer(v)) {
		*out = (long long)json_integer_value(v);
		return 1;
	}
	if (json_is_real(v)) {
		*out = (long long)json_real_value(v);
		return 1;
	}
	return 0;
}

/* "2025-11-29T04:20:00Z"; "-" for an unset (0) or unrepresentable time. */
static void fmt_time(char *buf, size_t len, long long epoch)
{
	time_t t = (time_t)epoch;
	struct tm tm;

	if (epoch <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "-");
}

/* Milliseconds since the epoch (queue and delivery times), to the second or the ms. */
static void fmt_time_ms(char *buf, size_t len, long long ms, int precise)
{
	char s[64];

	fmt_time(s, sizeof(s), ms > 0 ? ms / 1000 : 0);
	if (!precise || ms <= 0 || strlen(s) < 2)
		snprintf(buf, len, "%s", s);
	else
		snprintf(buf, len, "%.*s.%03lldZ", (int)strlen(s) - 1, s, ms % 1000);
}

/* 1 and *OUT if KEY holds a number, integer or real (rates). */
static int jreal(const json_t *obj, const char *key, double *out)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_number(v))
		return 0;
	*out = json_number_value(v);
	return 1;
}

/* A duration with its two most significant units: 45s, 3m12s, 2h05m, 4d07h. */
static void fmt_age(char *buf, size_t len, long long s)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, len, "%llds", s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

/* 1.5 MiB and the like; exact octets below 1 KiB. */
static void fmt_bytes(char *buf, size_t len, long long n)
{
	static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(buf, len, "%lld B", n);
		return;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[u]);
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Comma-joined string members of an array ("-" when empty), with SORT in
 * byte order.  The daemon keeps domains in an unordered set; sorting keeps
 * the output of two runs comparable.
 */
static char *join_list(const json_t *arr, int sort)
{
	size_t n = 0, len = 0, i;
	const char **v;
	const json_t *m;
	char *s, *p;

	json_array_foreach(arr, i, m) {
		if (json_is_string(m)) {
			len += json_string_length(m) + 2;
			n++;
		}
	}
	if (n == 0)
		return xstrdup("-");
	v = calloc(n, sizeof(*v));
	s = p = malloc(len + 1);
	if (v == NULL || s == NULL)
		oom();
	n = 0;
	json_array_foreach(arr, i, m)
		if (json_is_string(m))
			v[n++] = json_string_value(m);
	if (sort)
		qsort(v, n, sizeof(*v), cmp_cstr);
	for (i = 0; i < n; i++) {
		size_t l = strlen(v[i]);
		if (i > 0) {
			memcpy(p, ", ", 2);
			p += 2;
		}
		memcpy(p, v[i], l);
		p += l;
	}
	*p = '\0';
	free(v);
	return s;
}

static char *join_strings(const json_t *arr)
{
	return join_list(arr, 1);
}

/* Sort an array's object members by their string member KEY (for tables). */
static const char *g_sort_key;

static int cmp_by_key(const void *a, const void *b)
{
	const char *x = jstr(*(const json_t *const *)a, g_sort_key);
	const char *y = jstr(*(const json_t *const *)b, g_sort_key);
	return strcmp(x != NULL ? x : "", y != NULL ? y : "");
}

/* A malloc'ed, sorted vector of the members of ARR; *N gets their number. */
static const json_t **sorted_members(const json_t *arr, const char *key, size_t *n)
{
	const json_t **v;
	const json_t *m;
	size_t i;

	*n = json_array_size(arr);
	v = calloc(*n + 1, sizeof(*v));
	if (v == NULL)
		oom();
	json_array_foreach(arr, i, m)
		v[i] = m;
	g_sort_key = key;
	qsort(v, *n, sizeof(*v), cmp_by_key);
	return v;
}

/* A string member, "-" if absent or empty: blank columns misalign the eye. */
static const char *or_dash(const char *s)
{
	return s != NULL && *s != '\0' ? s : "-";
}

/* ------------------------------------------------------------------------ */
/* Output shapes: `key: value` blocks and tables                            */
/* ------------------------------------------------------------------------ */

/*
 * `key: value` lines, values aligned.  An entry with a NULL value starts an
 * indented section ("counters:") that runs to the end of the list; each
 * section is aligned on its own so one long name does not push all values.
 */
struct kvlist {
	char **key;
	char **val;
	size_t n, cap;
};

static void kv_push(struct kvlist *kv, char *key, char *val)
{
	if (kv->n == kv->cap) {
		size_t cap = kv->cap ? kv->cap * 2 : 16;
		char **k = realloc(kv->key, cap * sizeof(*k));
		if (k == NULL)
			oom();
		kv->key = k;
		char **v = realloc(kv->val, cap * sizeof(*v));
		if (v == NULL)
			oom();
		kv->val = v;
		kv->cap = cap;
	}
	kv->key[kv->n] = key;
	kv->val[kv->n] = val;
	kv->n++;
}

__attribute__((format(printf, 3, 4))) static void kv_add(struct kvlist *kv, const char *key,
							 const char *fmt, ...)
{
	va_list ap;
	char *raw;

	va_start(ap, fmt);
	if (vasprintf(&raw, fmt, ap) < 0)
		oom();
	va_end(ap);
	kv_push(kv, display_copy(key), display_copy(raw));
	explicit_bzero(raw, strlen(raw)); /* may be the fresh password of cred add */
	free(raw);
}

static void kv_add_json(struct kvlist *kv, const char *key, const json_t *v)
{
	if (json_is_string(v)) {
		kv_add(kv, key, "%s", or_dash(json_string_value(v)));
	} else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (s == NULL)
			oom();
		kv_add(kv, key, "%s", s);
		free(s);
	}
}

/*
 * Members of OBJ that no printer knows about yet, shown under their protocol
 * name (objects as sections, after everything else).  The daemon will grow
 * fields; showing them beats hiding them until this tool catches up.
 */
static void kv_add_unknown(struct kvlist *kv, const json_t *obj, const char *const *known)
{
	for (int pass = 0; pass < 2; pass++) {
		const char *key;
		json_t *v;

		json_object_foreach((json_t *)obj, key, v) {
			int seen = 0;
			for (const char *const *k = known; *k != NULL && !seen; k++)
				seen = strcmp(*k, key) == 0;
			if (seen || json_is_object(v) != (pass == 1))
				continue;
			if (pass == 0) {
				kv_add_json(kv, key, v);
				continue;
			}
			const char *sub;
			json_t *m;
			kv_push(kv, display_copy(key), NULL);
			json_object_foreach(v, sub, m)
				kv_add_json(kv, sub, m);
		}
	}
}

static void kv_print(struct kvlist *kv)
{
	size_t i = 0;

	while (i < kv->n) {
		/* One group: a top-level run, or a section header and its entries. */
		const char *indent = "";
		size_t end, width = 0;

		if (kv->val[i] == NULL) {
			printf("%s:\n", kv->key[i]);
			indent = "  ";
			i++;
		}
		for (end = i; end < kv->n && kv->val[end] != NULL; end++)
			if (display_width(kv->key[end]) > width)
				width = display_width(kv->key[end]);
		for (; i < end; i++) {
			printf("%s%s:", indent, kv->key[i]);
			for (size_t w = display_width(kv->key[i]); w <= width; w++)
				putchar(' ');
			puts(kv->val[i]);
		}
	}
	for (i = 0; i < kv->n; i++) {
		free(kv->key[i]);
		if (kv->val[i] != NULL)
			explicit_bzero(kv->val[i], strlen(kv->val[i]));
		free(kv->val[i]);
	}
	free(kv->key);
	free(kv->val);
	memset(kv, 0, sizeof(*kv));
}

#define TABLE_MAX_COLS 12

struct table {
	size_t ncols;
	const char *head[TABLE_MAX_COLS];
	int right[TABLE_MAX_COLS]; /* right-align (numbers) */
	char **cell;               /* row-major, ncols per row */
	size_t n, cap;
};

/* Append one cell; rows fill left to right. */
__attribute__((format(printf, 2, 3))) static void table_add(struct table *t, const char *fmt, ...)
{
	va_list ap;
	char *raw;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **c = realloc(t->cell, cap * sizeof(*c));
		if (c == NULL)
			oom();
		t->cell = c;
		t->cap = cap;
	}
	va_start(ap, fmt);
	if (vasprintf(&raw, fmt, ap) < 0)
		oom();
	va_end(ap);
	t->cell[t->n++] = display_copy(raw);
	free(raw);
}

static void table_print(struct table *t)
{
	size_t width[TABLE_MAX_COLS];
	size_t rows = t->n / t->ncols;

	for (size_t c = 0; c < t->ncols; c++)
		width[c] = display_width(t->head[c]);
	for (size_t i = 0; i < rows * t->ncols; i++) {
		size_t w = display_width(t->cell[i]);
		if (w > width[i % t->ncols])
			width[i % t->ncols] = w;
	}
	for (size_t r = 0; r <= rows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = r == 0 ? t->head[c] : t->cell[(r - 1) * t->ncols + c];
			size_t w = display_width(s);
			int last = c + 1 == t->ncols;

			if (c > 0)
				fputs("  ", stdout);
			if (t->right[c]) {
				for (; w < width[c]; w++)
					putchar(' ');
				fputs(s, stdout);
			} else if (last) {
				fputs(s, stdout); /* no trailing blanks */
			} else {
				print_padded(s, width[c]);
			}
		}
		putchar('\n');
	}
	for (size_t i = 0; i < t->n; i++)
		free(t->cell[i]);
	free(t->cell);
	t->cell = NULL;
	t->n = t->cap = 0;
}

/* Results of an unexpected shape are still shown rather than dropped. */
static void print_raw(const json_t *result)
{
	char *s = json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (s == NULL)
		oom();
	puts(s);
	free(s);
}

/* ------------------------------------------------------------------------ */
/* Printers, one per result shape                                           */
/* ------------------------------------------------------------------------ */

struct command;
typedef void (*show_fn)(const struct command *cmd, const json_t *args, const json_t *result);

static void show_status(const struct command *cmd, const json_t *args, const json_t *r)
{
	static const char *const known[] = {
		"version", "instance", "uptime", "redis", "sessions", "max_sessions",
		"accepted", "refused", "smtp_threads", "data_memory", "data_memory_max", "delivery",
		NULL,
	};
	struct kvlist kv = {0};
	long long a, b;
	char s1[64], s2[64];

	if (!json_is_object(r)) {
		print_raw(r);
		return;
	}
	kv_add(&kv, "version", "%s", or_dash(jstr(r, "version")));
	kv_add(&kv, "instance", "%s", or_dash(jstr(r, "instance")));
	if (jnum(r, "uptime", &a)) {
		fmt_age(s1, sizeof(s1), a);
		kv_add(&kv, "uptime", "%s (%lld s)", s1, a);
	}
	kv_add(&kv, "redis", "%s", or_dash(jstr(r, "redis")));
	if (jnum(r, "sessions", &a)) {
		if (jnum(r, "max_sessions", &b))
			kv_add(&kv, "sessions", "%lld of %lld", a, b);
		else
			kv_add(&kv, "sessions", "%lld", a);
	}
	if (jnum(r, "smtp_threads", &a))
		kv_add(&kv, "smtp threads", "%lld", a);
	if (jnum(r, "accepted", &a))
		kv_add(&kv, "accepted", "%lld", a);
	if (jnum(r, "refused", &a))
		kv_add(&kv, "refused", "%lld", a);
	if (jnum(r, "data_memory", &a)) {
		fmt_bytes(s1, sizeof(s1), a);
		if (jnum(r, "data_memory_max", &b)) {
			fmt_bytes(s2, sizeof(s2), b);
			kv_add(&kv, "data memory", "%s of %s", s1, s2);
		} else {
			kv_add(&kv, "data memory", "%s", s1);
		}
	}
	const json_t *d = json_object_get(r, "delivery");
	if (json_is_object(d)) {
		const json_t *aws = json_object_get(d, "aws");
		if (jnum(d, "workers", &a))
			kv_add(&kv, "delivery threads", "%lld", a);
		if (jnum(d, "in_progress", &a))
			kv_add(&kv, "deliveries in progress", "%lld", a);
		if (json_is_object(aws)) {
			kv_add(&kv, "aws identity", "%s (%s)", or_dash(jstr(aws, "source")),
			       or_dash(jstr(aws, "access_key_id")));
			if (jnum(aws, "expiration", &a) && a > 0) {
				time_t t = (time_t)a;
				struct tm tm;
				gmtime_r(&t, &tm);
				strftime(s1, sizeof(s1), "%Y-%m-%dT%H:%M:%SZ", &tm);
				kv_add(&kv, "aws identity expires", "%s", s1);
			}
			const char *le = jstr(aws, "last_error");
			if (le && *le)
				kv_add(&kv, "aws identity error", "%s", le);
			kv_add(&kv, "aws region", "%s", or_dash(jstr(aws, "region")));
			kv_add(&kv, "ses endpoint", "%s", or_dash(jstr(aws, "ses_endpoint")));
			kv_add(&kv, "sts endpoint", "%s", or_dash(jstr(aws, "sts_endpoint")));
			if (jnum(aws, "tenant_credentials_cached", &a))
				kv_add(&kv, "tenant credentials cached", "%lld", a);
		}
	}
	kv_add_unknown(&kv, r, known);
	kv_print(&kv);
}

/* A per-tenant limit: 0 means the global limit applies. */
static void kv_add_limit(struct kvlist *kv, const char *label, const json_t *t, const char *key,
			 int bytes)
{
	long long v;
	char buf[64];

	/* Absent is read as 0: the daemon stores only limits that were set. */
	if (!jnum(t, key, &v) || v == 0) {
		kv_add(kv, label, "global limit");
	} else if (bytes) {
		fmt_bytes(buf, sizeof(buf), v);
		kv_add(kv, label, "%lld (%s)", v, buf);
	} else {
		kv_add(kv, label, "%lld", v);
	}
}

/* The onboarding steps: one line each with state, time and last error. */
static void show_provisioning(const json_t *p)
{
	if (!json_is_object(p))
		return;
	printf("\nprovisioning (%s tier%s%s):\n", or_dash(jstr(p, "tier")),
	       jstr(p, "email") ? ", " : "", jstr(p, "email") ? jstr(p, "email") : "");
	size_t i;
	const json_t *st;
	json_array_foreach(json_object_get(p, "steps"), i, st) {
		const char *state = jstr(st, "state");
		long long t = 0, n = 0;
		char when[64] = "";
		if (jnum(st, "time", &t))
			fmt_time_ms(when, sizeof(when), t, 0);
		printf("  %-20s %-9s %s", or_dash(jstr(st, "name")),
		       state && *state ? state : "-", when);
		if (jnum(st, "failures", &n) && n > 0)
			printf("  (%lld failures)", n);
		if (jnum(st, "polls", &n) && n > 0)
			printf("  (%lld polls)", n);
		if (jstr(st, "error"))
			printf("\n  %-20s %s", "", jstr(st, "error"));
		printf("\n");
	}
}

static void show_dns(const struct command *cmd, const json_t *args, const json_t *r)
{
	size_t i;
	const json_t *d;
	json_array_foreach(json_object_get(r, "domains"), i, d) {
		printf("; %s: DKIM %s, %s\n", or_dash(jstr(d, "domain")), or_dash(jstr(d, "dkim")),
		       json_is_true(json_object_get(d, "verified")) ? "verified" : "not yet verified");
		fputs(or_dash(jstr(d, "records")), stdout);
	}
}

static void show_tenant(const struct command *cmd, const json_t *args, const json_t *t)
{
	static const char *const known[] = {
		"id", "name", "state", "created", "domains", "aws_account_id", "role_arn",
		"external_id", "max_message_size", "max_recipients", "paused_reason",
		"credentials", "queue", "hold", "hold_since", "configuration_set",
		"ses_max_send_rate", "rate_override", "ses_max_24h", "ses_sent_24h",
		"quota_override", "ses_checked", "provisioning", "paused_by", "webhook_url",
		"webhook_secret", "networks", "require_tls", NULL,
	};
	struct kvlist kv = {0};
	const json_t *q;
	long long v, depth;
	double d;
	char buf[64];
	char *domains;

	if (!json_is_object(t)) {
		print_raw(t);
		return;
	}
	kv_add(&kv, "name", "%s", or_dash(jstr(t, "name")));
	kv_add(&kv, "id", "%s", or_dash(jstr(t, "id")));
	kv_add(&kv, "state", "%s", or_dash(jstr(t, "state")));
	if (jstr(t, "paused_reason") != NULL && *jstr(t, "paused_reason") != '\0')
		kv_add(&kv, "paused reason", "%s", jstr(t, "paused_reason"));
	if (jstr(t, "paused_by") != NULL && *jstr(t, "paused_by") != '\0')
		kv_add(&kv, "paused by", "%s",
		       strcmp(jstr(t, "paused_by"), "guard") == 0 ? "reputation guard"
								  : jstr(t, "paused_by"));
	/* Held: SES refuses to send for this tenant (set by the workers). */
	if (jstr(t, "hold") != NULL) {
		kv_add(&kv, "held", "%s", jstr(t, "hold"));
		fmt_time_ms(buf, sizeof(buf), jnum(t, "hold_since", &v) ? v : 0, 0);
		kv_add(&kv, "held since", "%s", buf);
	}
	fmt_time(buf, sizeof(buf), jnum(t, "created", &v) ? v : 0);
	kv_add(&kv, "created", "%s", buf);
	domains = join_strings(json_object_get(t, "domains"));
	kv_add(&kv, "domains", "%s", domains);
	free(domains);
	/* In the daemon's (address) order: sorting the text would put 9/8 after 10/8. */
	if (json_is_array(json_object_get(t, "networks"))) {
		char *nets = join_list(json_object_get(t, "networks"), 0);
		kv_add(&kv, "networks", "%s", nets);
		free(nets);
	}
	if (jstr(t, "require_tls") != NULL)
		kv_add(&kv, "require tls", "%s", jstr(t, "require_tls"));
	kv_add(&kv, "aws account id", "%s", or_dash(jstr(t, "aws_account_id")));
	kv_add(&kv, "role arn", "%s", or_dash(jstr(t, "role_arn")));
	kv_add(&kv, "external id", "%s", or_dash(jstr(t, "external_id")));
	kv_add_limit(&kv, "max message size", t, "max_message_size", 1);
	kv_add_limit(&kv, "max recipients", t, "max_recipients", 0);
	/* Delivery settings and SES's view of the account, when known. */
	if (jstr(t, "configuration_set") != NULL)
		kv_add(&kv, "configuration set", "%s", or_dash(jstr(t, "configuration_set")));
	if (jreal(t, "ses_max_send_rate", &d))
		kv_add(&kv, "ses send rate", "%g/s", d);
	if (jreal(t, "rate_override", &d))
		kv_add(&kv, "rate override", "%g/s", d);
	if (jnum(t, "ses_max_24h", &v)) {
		long long sent;
		if (jnum(t, "ses_sent_24h", &sent))
			kv_add(&kv, "ses 24h quota", "%lld (%lld sent)", v, sent);
		else
			kv_add(&kv, "ses 24h quota", "%lld", v);
	}
	if (jnum(t, "quota_override", &v))
		kv_add(&kv, "quota override", "%lld per 24h", v);
	if (jnum(t, "ses_checked", &v)) {
		fmt_time_ms(buf, sizeof(buf), v, 0);
		kv_add(&kv, "ses checked", "%s", buf);
	}
	/* The secret itself never comes back: the daemon says only "set". */
	if (jstr(t, "webhook_url") != NULL) {
		kv_add(&kv, "webhook", "%s", or_dash(jstr(t, "webhook_url")));
		kv_add(&kv, "webhook secret", "%s",
		       jstr(t, "webhook_secret") != NULL ? "set" : "not set");
	}
	if (jnum(t, "credentials", &v))
		kv_add(&kv, "credentials", "%lld", v);
	q = json_object_get(t, "queue");
	if (json_is_object(q) && jnum(q, "depth", &depth)) {
		long long ready = 0, inflight = 0, retrying = 0;
		kv_add(&kv, "queue depth", "%lld", depth);
		if (jnum(q, "ready", &ready) && jnum(q, "inflight", &inflight) &&
		    jnum(q, "retrying", &retrying) && depth > 0)
			kv_add(&kv, "queue states", "%lld ready, %lld in flight, %lld retrying", ready,
			       inflight, retrying);
		if (depth > 0 && jnum(q, "oldest_age", &v)) {
			fmt_age(buf, sizeof(buf), v);
			kv_add(&kv, "queue oldest", "%s", buf);
		} else {
			kv_add(&kv, "queue oldest", "-");
		}
		if (jnum(q, "dlq", &v))
			kv_add(&kv, "dead-lettered", "%lld", v);
	}
	kv_add_unknown(&kv, t, known);
	kv_print(&kv);
	show_provisioning(json_object_get(t, "provisioning"));
}

static void show_tenant_list(const struct command *cmd, const json_t *args, const json_t *r)
{
	struct table tab = {.ncols = 5, .head = {"NAME", "STATE", "DOMAINS", "ACCOUNT", "CREATED"}};
	const json_t **rows;
	size_t n;

	if (!json_is_array(r)) {
		print_raw(r);
		return;
	}
	if (json_array_size(r) == 0) {
		puts("no tenants");
		return;
	}
	rows = sorted_members(r, "name", &n);
	for (size_t i = 0; i < n; i++) {
		const json_t *t = rows[i];
		char created[64], *domains;
		long long v;

		fmt_time(created, sizeof(created), jnum(t, "created", &v) ? v : 0);
		domains = join_strings(json_object_get(t, "domains"));
		table_add(&tab, "%s", or_dash(jstr(t, "name")));
		table_add(&tab, "%s", or_dash(jstr(t, "state")));
		table_add(&tab, "%s", domains);
		table_add(&tab, "%s", or_dash(jstr(t, "aws_account_id")));
		table_add(&tab, "%s", created);
		free(domains);
	}
	free(rows);
	table_print(&tab);
}

static void show_deleted(const struct command *cmd, const json_t *args, const json_t *r)
{
	long long dropped = 0;
	const char *name = jstr(r, "deleted");
	char *disp;

	if (!json_is_object(r) || name == NULL) {
		print_raw(r);
		return;
	}
	disp = display_copy(name);
	jnum(r, "dropped", &dropped);
	if (dropped > 0)
		printf("deleted tenant %s and its credentials; dropped %lld queued message%s\n",
		       disp, dropped, dropped == 1 ? "" : "s");
	else
		printf("deleted tenant %s and its credentials\n", disp);
	free(disp);
}

static void show_cred_new(const struct command *cmd, const json_t *args, const json_t *c)
{
	struct kvlist kv = {0};
	const char *desc;
	char created[64];
	long long v;

	if (!json_is_object(c) || jstr(c, "password") == NULL) {
		print_raw(c);
		return;
	}
	kv_add(&kv, "username", "%s", or_dash(jstr(c, "username")));
	kv_add(&kv, "password", "%s", jstr(c, "password"));
	kv_add(&kv, "tenant", "%s", or_dash(jstr(c, "tenant")));
	desc = jstr(c, "description");
	if (desc != NULL && *desc != '\0')
		kv_add(&kv, "description", "%s", desc);
	fmt_time(created, sizeof(created), jnum(c, "created", &v) ? v : 0);
	kv_add(&kv, "created", "%s", created);
	kv_print(&kv);
	puts("\nThe password is shown only this once and is not stored by sesgate "
	     "(only a hash is kept).\nSave it now; if it is lost, add a new credential "
	     "and revoke this one.");
}

static void show_cred_list(const struct command *cmd, const json_t *args, const json_t *r)
{
	struct table tab = {.ncols = 3, .head = {"USERNAME", "CREATED", "DESCRIPTION"}};
	const json_t **rows;
	size_t n;

	if (!json_is_array(r)) {
		print_raw(r);
		return;
	}
	if (json_array_size(r) == 0) {
		char *name = display_copy(or_dash(jstr(args, "tenant")));
		printf("no credentials for tenant %s\n", name);
		free(name);
		return;
	}
	rows = sorted_members(r, "username", &n);
	for (size_t i = 0; i < n; i++) {
		char created[64];
		long long v;

		fmt_time(created, sizeof(created), jnum(rows[i], "created", &v) ? v : 0);
		table_add(&tab, "%s", or_dash(jstr(rows[i], "username")));
		table_add(&tab, "%s", created);
		table_add(&tab, "%s", or_dash(jstr(rows[i], "description")));
	}
	free(rows);
	table_print(&tab);
}

static void show_revoked(const struct command *cmd, const json_t *args, const json_t *r)
{
	const char *user = jstr(r, "revoked");
	char *disp;

	if (!json_is_object(r) || user == NULL) {
		print_raw(r);
		return;
	}
	disp = display_copy(user);
	printf("revoked credential %s\n", disp);
	free(disp);
}

/* One row of `queue stats`; STATE is the last column. */
static void queue_row(struct table *tab, const char *name, const json_t *o, const char *state)
{
	static const char *const counts[] = {"depth", "ready", "inflight", "retrying", "dlq"};
	long long depth = 0, age = 0, v;
	char buf[64];

	jnum(o, "depth", &depth);
	jnum(o, "oldest_age", &age);
	if (depth > 0)
		fmt_age(buf, sizeof(buf), age);
	else
		snprintf(buf, sizeof(buf), "-");
	table_add(tab, "%s", name);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		if (jnum(o, counts[i], &v))
			table_add(tab, "%lld", v);
		else
			table_add(tab, "-");
	}
	table_add(tab, "%s", buf);
	table_add(tab, "%s", state);
}

static void show_queue(const struct command *cmd, const json_t *args, const json_t *r)
{
	struct table tab = {.ncols = 8,
			    .head = {"TENANT", "DEPTH", "READY", "INFLIGHT", "RETRYING", "DLQ",
				     "OLDEST", "STATE"},
			    .right = {0, 1, 1, 1, 1, 1, 0, 0}};
	const json_t *tenants = json_object_get(r, "tenants");
	const json_t **rows;
	size_t n;

	if (!json_is_object(r) || !json_is_array(tenants)) {
		print_raw(r);
		return;
	}
	rows = sorted_members(tenants, "tenant", &n);
	for (size_t i = 0; i < n; i++) {
		int held = json_is_string(json_object_get(rows[i], "held"));
		int paused = json_is_true(json_object_get(rows[i], "paused"));

		queue_row(&tab, or_dash(jstr(rows[i], "tenant")), rows[i],
			  paused && held ? "paused, held" : paused ? "paused" : held ? "held" : "active");
	}
	/* The total is noise when the question was about one tenant. */
	if (json_object_get(args, "tenant") == NULL) {
		long long held = 0, paused = 0;
		char state[64];

		jnum(r, "held", &held);
		jnum(r, "paused", &paused);
		if (held > 0 && paused > 0)
			snprintf(state, sizeof(state), "%lld paused, %lld held", paused, held);
		else if (held > 0 || paused > 0)
			snprintf(state, sizeof(state), "%lld %s", held + paused,
				 held > 0 ? "held" : "paused");
		else
			snprintf(state, sizeof(state), "-");
		queue_row(&tab, "TOTAL", r, state);
	}
	table_print(&tab);
	/* Why a tenant is held matters more than that it is: say it under the table. */
	for (size_t i = 0; i < n; i++) {
		const char *hold = jstr(rows[i], "held");
		if (hold != NULL) {
			char *name = display_copy(or_dash(jstr(rows[i], "tenant")));
			char *why = display_copy(hold);
			printf("%s held: %s\n", name, why);
			free(name);
			free(why);
		}
	}
	free(rows);
}

static void show_dlq_list(const struct command *cmd, const json_t *args, const json_t *r)
{
	struct table tab = {.ncols = 7,
			    .head = {"QID", "DEAD-LETTERED", "ATTEMPTS", "RCPTS", "SIZE", "FROM",
				     "REASON"},
			    .right = {0, 0, 1, 1, 1, 0, 0}};
	const json_t *msgs = json_object_get(r, "messages");
	long long total = 0;
	size_t i;
	const json_t *m;

	if (!json_is_object(r) || !json_is_array(msgs)) {
		print_raw(r);
		return;
	}
	jnum(r, "total", &total);
	if (json_array_size(msgs) == 0) {
		char *name = display_copy(or_dash(jstr(r, "tenant")));
		printf("no dead-lettered messages for tenant %s\n", name);
		free(name);
		return;
	}
	/* Kept in the daemon's order: newest first. */
	json_array_foreach(msgs, i, m) {
		long long v;
		char buf[64];
		const char *from = jstr(m, "from");

		table_add(&tab, "%s", or_dash(jstr(m, "qid")));
		fmt_time_ms(buf, sizeof(buf), jnum(m, "dlq_time", &v) ? v : 0, 0);
		table_add(&tab, "%s", buf);
		if (jnum(m, "attempts", &v))
			table_add(&tab, "%lld", v);
		else
			table_add(&tab, "-");
		if (jnum(m, "nrcpt", &v))
			table_add(&tab, "%lld", v);
		else
			table_add(&tab, "-");
		if (jnum(m, "size", &v)) {
			fmt_bytes(buf, sizeof(buf), v);
			table_add(&tab, "%s", buf);
		} else {
			table_add(&tab, "-");
		}
		table_add(&tab, "%s", from == NULL ? "-" : *from == '\0' ? "<>" : from);
		table_add(&tab, "%s", or_dash(jstr(m, "dlq_reason")));
	}
	table_print(&tab);
	if ((size_t)total > json_array_size(msgs))
		printf("(newest %zu of %lld shown; use --limit for more)\n", json_array_size(msgs),
		       total);
}

/* "n=1 result=retry detail=..." from an event's members other than t and ev. */
static char *event_details(const json_t *ev)
{
	char *out = xstrdup(json_is_string(json_object_get(ev, "ev")) ? jstr(ev, "ev") : "?");
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)ev, key, v) {
		char *val, *next;

		if (strcmp(key, "t") == 0 || strcmp(key, "ev") == 0)
			continue;
		/* Bare words stay bare; text with blanks is quoted, as JSON. */
		if (json_is_string(v) && *json_string_value(v) != '\0' &&
		    strpbrk(json_string_value(v), " \t\"") == NULL)
			val = xstrdup(json_string_value(v));
		else if ((val = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
			oom();
		next = xasprintf("%s %s=%s", out, key, val);
		free(val);
		free(out);
		out = next;
	}
	return out;
}

/* The message view of `msg show` and `dlq show`. */
static void show_msg(const struct command *cmd, const json_t *args, const json_t *r)
{
	static const char *const known_msg[] = {
		"qid", "tenant", "tenant_name", "env", "arrival", "arrival_redis", "size", "nrcpt",
		"attempts", "last_attempt", "last_error", "next_attempt", "dlq_reason", "dlq_time",
		"client", "helo", "auth", NULL,
	};
	static const char *const times[][2] = {
		{"arrival", "arrived"},
		{"last_attempt", "last attempt"},
		{"next_attempt", "next attempt"},
		{"dlq_time", "dead-lettered"},
	};
	const json_t *msg = json_object_get(r, "message");
	const json_t *env = json_object_get(msg, "env");
	const json_t *hist = json_object_get(r, "hist");
	const json_t *hdrs = json_object_get(r, "headers");
	struct kvlist kv = {0};
	char buf[64], *s;
	long long v;

	if (!json_is_object(r) || !json_is_array(hist)) {
		print_raw(r);
		return;
	}
	kv_add(&kv, "qid", "%s", or_dash(jstr(r, "qid")));
	kv_add(&kv, "tenant", "%s", or_dash(jstr(r, "tenant")));
	kv_add(&kv, "state", "%s", or_dash(jstr(r, "state")));
	if (jnum(r, "due", &v)) {
		fmt_time_ms(buf, sizeof(buf), v, 0);
		kv_add(&kv, "due", "%s", buf);
	}
	if (jnum(r, "deadline", &v)) {
		fmt_time_ms(buf, sizeof(buf), v, 0);
		kv_add(&kv, "claimed until", "%s", buf);
	}
	if (json_is_object(msg)) {
		const char *from = jstr(env, "from");

		kv_add(&kv, "from", "<%s>", from != NULL ? from : "");
		s = join_strings(json_object_get(env, "rcpt"));
		kv_add(&kv, "recipients", "%s", s);
		free(s);
	}
	if (json_is_array(json_object_get(r, "owed"))) {
		s = join_strings(json_object_get(r, "owed"));
		kv_add(&kv, "owed", "%s", s);
		free(s);
	}
	if (json_is_object(msg)) {
		if (jnum(msg, "size", &v)) {
			fmt_bytes(buf, sizeof(buf), v);
			kv_add(&kv, "size", "%s", buf);
		}
		if (jnum(msg, "attempts", &v))
			kv_add(&kv, "attempts", "%lld", v);
		for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
			if (jnum(msg, times[i][0], &v)) {
				fmt_time_ms(buf, sizeof(buf), v, 0);
				kv_add(&kv, times[i][1], "%s", buf);
			}
		if (jstr(msg, "last_error") != NULL)
			kv_add(&kv, "last error", "%s", or_dash(jstr(msg, "last_error")));
		if (jstr(msg, "dlq_reason") != NULL)
			kv_add(&kv, "dlq reason", "%s", or_dash(jstr(msg, "dlq_reason")));
		kv_add(&kv, "client", "%s", or_dash(jstr(msg, "client")));
		kv_add(&kv, "helo", "%s", or_dash(jstr(msg, "helo")));
		kv_add(&kv, "auth", "%s", or_dash(jstr(msg, "auth")));
		kv_add_unknown(&kv, msg, known_msg);
	}
	s = join_strings(json_object_get(r, "ses_ids"));
	kv_add(&kv, "ses ids", "%s", s);
	free(s);
	/* Sections run to the end of the list: plain lines go first. */
	if (json_array_size(hist) == 0)
		kv_add(&kv, "history", "-");
	if (json_is_object(hdrs) && json_object_size(hdrs) > 0) {
		const char *key;
		json_t *val;

		kv_push(&kv, xstrdup("headers"), NULL);
		json_object_foreach((json_t *)hdrs, key, val)
			kv_add_json(&kv, key, val);
	}
	if (json_array_size(hist) == 0) {
		kv_print(&kv);
		return;
	}
	kv_push(&kv, xstrdup("history"), NULL);
	if (jnum(r, "hist_omitted", &v))
		kv_add(&kv, "...", "%lld older event%s not shown", v, v == 1 ? "" : "s");
	for (size_t i = 0; i < json_array_size(hist); i++) {
		const json_t *ev = json_array_get(hist, i);

		if (!json_is_object(ev)) {
			kv_add_json(&kv, "?", ev);
			continue;
		}
		fmt_time_ms(buf, sizeof(buf), jnum(ev, "t", &v) ? v : 0, 1);
		s = event_details(ev);
		kv_add(&kv, buf, "%s", s);
		free(s);
	}
	kv_print(&kv);
}

static void show_dlq_done(const struct command *cmd, const json_t *args, const json_t *r)
{
	int purge = json_object_get(r, "purged") != NULL;
	long long n = 0, dropped = 0;
	char *name = display_copy(or_dash(jstr(args, "tenant")));

	if (!json_is_object(r)) {
		free(name);
		print_raw(r);
		return;
	}
	jnum(r, purge ? "purged" : "retried", &n);
	jnum(r, "dropped", &dropped);
	printf("%s %lld dead-lettered message%s of tenant %s%s\n", purge ? "purged" : "requeued", n,
	       n == 1 ? "" : "s", name, purge ? "" : " for delivery");
	if (dropped > 0)
		printf("removed %lld dead-letter entr%s whose message was no longer stored\n",
		       dropped, dropped == 1 ? "y" : "ies");
	free(name);
}

/* Columns of `stats`: protocol member and heading. */
static const struct {
	const char *key, *head;
} stat_cols[] = {
	{"send", "SEND"},       {"delivery", "DELIVERY"},
	{"bounce", "BOUNCE"},   {"complaint", "COMPLAINT"},
	{"reject", "REJECT"},   {"open", "OPEN"},
	{"click", "CLICK"},     {"delivery_delay", "DELAY"},
	{"rendering_failure", "RENDER-FAIL"}, {"subscription", "SUBSCR"},
};
#define NSTAT_COLS (sizeof(stat_cols) / sizeof(stat_cols[0]))

static void stat_row(struct table *tab, const char *first, const json_t *o)
{
	long long v;

	table_add(tab, "%s", first);
	for (size_t i = 0; i < NSTAT_COLS; i++) {
		if (jnum(o, stat_cols[i].key, &v))
			table_add(tab, "%lld", v);
		else
			table_add(tab, "-");
	}
}

/* "2.50%", or "-" when there was nothing sent to measure against. */
static void fmt_rate(char *buf, size_t len, const json_t *o, const char *key)
{
	double d;

	if (jreal(o, key, &d))
		snprintf(buf, len, "%.2f%%", d);
	else
		snprintf(buf, len, "-");
}

static void stat_rates(const char *label, const json_t *tot)
{
	long long send = 0, bounce = 0, complaint = 0;
	char br[32], cr[32];
	char *l = display_copy(label);

	jnum(tot, "send", &send);
	jnum(tot, "bounce", &bounce);
	jnum(tot, "complaint", &complaint);
	fmt_rate(br, sizeof(br), tot, "bounce_rate");
	fmt_rate(cr, sizeof(cr), tot, "complaint_rate");
	printf("%s: %lld sent, bounce rate %s (%lld), complaint rate %s (%lld)\n", l, send, br,
	       bounce, cr, complaint);
	free(l);
}

static void stat_table_init(struct table *tab, const char *first)
{
	tab->ncols = 1 + NSTAT_COLS;
	tab->head[0] = first;
	tab->right[0] = 0;
	for (size_t i = 0; i < NSTAT_COLS; i++) {
		tab->head[1 + i] = stat_cols[i].head;
		tab->right[1 + i] = 1;
	}
}

static void show_stats(const struct command *cmd, const json_t *args, const json_t *r)
{
	const json_t *tenants = json_object_get(r, "tenants");
	struct table tab = {0};
	long long days = 0;

	if (!json_is_object(r) || !json_is_array(tenants)) {
		print_raw(r);
		return;
	}
	jnum(r, "days", &days);
	if (json_object_get(args, "tenant") != NULL) {
		/* One tenant: a row per UTC day, newest first, then its totals. */
		const json_t *t = json_array_get(tenants, 0), *daily = json_object_get(t, "daily");
		const json_t *d;
		size_t i;
		char *name = display_copy(or_dash(jstr(t, "tenant")));

		printf("tenant %s, last %lld day%s (UTC):\n", name, days, days == 1 ? "" : "s");
		stat_table_init(&tab, "DAY");
		json_array_foreach(daily, i, d)
			stat_row(&tab, or_dash(jstr(d, "date")), d);
		stat_row(&tab, "TOTAL", json_object_get(t, "totals"));
		table_print(&tab);
		stat_rates("total", json_object_get(t, "totals"));
		free(name);
		return;
	}
	/* Every tenant: its totals over the days, and the sum of all. */
	const json_t **rows;
	size_t n;

	printf("all tenants, last %lld day%s (UTC):\n", days, days == 1 ? "" : "s");
	stat_table_init(&tab, "TENANT");
	rows = sorted_members(tenants, "tenant", &n);
	for (size_t i = 0; i < n; i++)
		stat_row(&tab, or_dash(jstr(rows[i], "tenant")), json_object_get(rows[i], "totals"));
	stat_row(&tab, "TOTAL", json_object_get(r, "totals"));
	table_print(&tab);
	for (size_t i = 0; i < n; i++) {
		long long send = 0;
		const json_t *tot = json_object_get(rows[i], "totals");
		if (jnum(tot, "send", &send) && send > 0)
			stat_rates(or_dash(jstr(rows[i], "tenant")), tot);
	}
	stat_rates("total", json_object_get(r, "totals"));
	free(rows);
}

static void show_suppr_list(const struct command *cmd, const json_t *args, const json_t *r)
{
	struct table tab = {.ncols = 4, .head = {"ADDRESS", "SUPPRESSED", "QID", "REASON"}};
	const json_t *list = json_object_get(r, "entries"), *m;
	long long total = 0;
	size_t i;

	if (!json_is_object(r) || !json_is_array(list)) {
		print_raw(r);
		return;
	}
	jnum(r, "total", &total);
	if (json_array_size(list) == 0) {
		char *name = display_copy(or_dash(jstr(r, "tenant")));
		printf("no suppressed addresses for tenant %s\n", name);
		free(name);
		return;
	}
	json_array_foreach(list, i, m) {
		long long v;
		char buf[64];

		table_add(&tab, "%s", or_dash(jstr(m, "address")));
		fmt_time_ms(buf, sizeof(buf), jnum(m, "time", &v) ? v : 0, 0);
		table_add(&tab, "%s", buf);
		table_add(&tab, "%s", or_dash(jstr(m, "qid")));
		table_add(&tab, "%s", or_dash(jstr(m, "reason")));
	}
	table_print(&tab);
	if ((size_t)total > json_array_size(list))
		printf("(newest %zu of %lld shown; use --limit for more)\n", json_array_size(list),
		       total);
}

static void show_suppr_add(const struct command *cmd, const json_t *args, const json_t *r)
{
	char *addr = display_copy(or_dash(jstr(r, "address")));
	char *name = display_copy(or_dash(jstr(r, "tenant")));
	char *why = display_copy(or_dash(jstr(r, "reason")));

	printf("%s %s on the suppression list of tenant %s (%s)\n", addr,
	       json_is_false(json_object_get(r, "new")) ? "was already" : "is now", name, why);
	free(addr);
	free(name);
	free(why);
}

static void show_suppr_removed(const struct command *cmd, const json_t *args, const json_t *r)
{
	char *addr = display_copy(or_dash(jstr(r, "removed")));
	char *name = display_copy(or_dash(jstr(r, "tenant")));

	printf("removed %s from the suppression list of tenant %s\n", addr, name);
	free(addr);
	free(name);
}

/* How many addresses a network holds: exact below 2^32, a power of two beyond. */
static void fmt_net_size(char *buf, size_t len, const char *net)
{
	const char *slash = strrchr(net, '/');
	int v6 = strchr(net, ':') != NULL, bits = v6 ? 128 : 32;
	long prefix = slash != NULL ? strtol(slash + 1, NULL, 10) : bits;

	if (prefix < 0 || prefix > bits)
		snprintf(buf, len, "-");
	else if (!v6 || bits - prefix < 32)
		snprintf(buf, len, "%llu", 1ULL << (bits - prefix));
	else
		snprintf(buf, len, "2^%ld", bits - prefix);
}

static void show_net_list(const struct command *cmd, const json_t *args, const json_t *r)
{
	struct table tab = {.ncols = 3, .head = {"NETWORK", "FAMILY", "ADDRESSES"}, .right = {0, 0, 1}};
	const json_t *nets = json_object_get(r, "networks"), *m;
	size_t i;

	if (!json_is_array(nets)) {
		print_raw(r);
		return;
	}
	if (json_array_size(nets) == 0) {
		char *name = display_copy(or_dash(jstr(r, "tenant")));
		printf("no networks for tenant %s\n", name);
		free(name);
		return;
	}
	/* The daemon sends them in address order. */
	json_array_foreach(nets, i, m) {
		const char *net = or_dash(json_string_value(m));
		char size[32];

		fmt_net_size(size, sizeof(size), net);
		table_add(&tab, "%s", net);
		table_add(&tab, "%s", strchr(net, ':') != NULL ? "IPv6" : "IPv4");
		table_add(&tab, "%s", size);
	}
	table_print(&tab);
}

static void show_net_added(const struct command *cmd, const json_t *args, const json_t *r)
{
	const char *net = jstr(r, "network");
	char *n, *name;

	if (!json_is_object(r) || net == NULL) {
		print_raw(r);
		return;
	}
	n = display_copy(net);
	name = display_copy(or_dash(jstr(r, "tenant")));
	if (json_is_false(json_object_get(r, "new")))
		printf("network %s already belongs to tenant %s\n", n, name);
	else
		printf("added network %s to tenant %s: its hosts may send without AUTH\n", n,
		       name);
	free(n);
	free(name);
}

static void show_net_removed(const struct command *cmd, const json_t *args, const json_t *r)
{
	const char *net = jstr(r, "removed");
	char *n, *name;

	if (!json_is_object(r) || net == NULL) {
		print_raw(r);
		return;
	}
	n = display_copy(net);
	name = display_copy(or_dash(jstr(r, "tenant")));
	printf("removed network %s from tenant %s\n", n, name);
	free(n);
	free(name);
}

/* ------------------------------------------------------------------------ */
/* The command table                                                        */
/* ------------------------------------------------------------------------ */

enum opt_kind {
	OPT_STRING, /* --reason TEXT: one string member */
	OPT_LIST,   /* --domain D, repeatable: an array member, always sent */
	OPT_FLAG,   /* --force: true when given, absent otherwise */
	OPT_INT,    /* --limit N: one integer member (the daemon checks the range) */
};

struct opt_spec {
	const char *name; /* without the leading "--" */
	const char *key;  /* member of "args" */
	enum opt_kind kind;
	const char *metavar;
};

struct arg_spec {
	const char *metavar;
	const char *key;
	int optional; /* only trailing positionals may be optional */
};

struct command {
	const char *words[3];
	const char *cmd; /* protocol "cmd" */
	const struct arg_spec *args;
	const struct opt_spec *opts;
	show_fn show;
	int shows_password; /* the only result allowed to carry a password */
	/*
	 * Exactly one of an optional positional (key one_of[0]) and a flag
	 * (key one_of[1]) must be given: `dlq retry TENANT (QID | --all)`.
	 */
	const char *one_of[2];
	/* Commands that are more than one request (suppression import) run here. */
	int (*run)(const struct command *cmd, const json_t *args);
	const char *help;
};

static int run_suppr_import(const struct command *cmd, const json_t *args);

/* Terminated lists for the table below (compound literals: static storage). */
#define ARGS(...) ((const struct arg_spec[]){__VA_ARGS__, {NULL, NULL, 0}})
#define OPTS(...) ((const struct opt_spec[]){__VA_ARGS__, {NULL, NULL, 0, NULL}})
#define NO_ARGS   ((const struct arg_spec[]){{NULL, NULL, 0}})
#define NO_OPTS   ((const struct opt_spec[]){{NULL, NULL, 0, NULL}})

static const struct command commands[] = {
	{.words = {"status"},
	 .cmd = "status",
	 .args = NO_ARGS,
	 .opts = NO_OPTS,
	 .show = show_status,
	 .help = "show the daemon's version, uptime, sessions and counters"},
	{.words = {"tenant", "add"},
	 .cmd = "tenant.add",
	 .args = ARGS({"NAME", "name", 0}),
	 .opts = OPTS({"domain", "domains", OPT_LIST, "D"},
		      {"email", "email", OPT_STRING, "ROOT_EMAIL"},
		      {"tier", "tier", OPT_STRING, "production|sandbox|poc"},
		      {"account-id", "aws_account_id", OPT_STRING, "ID"},
		      {"role-arn", "role_arn", OPT_STRING, "ARN"},
		      {"external-id", "external_id", OPT_STRING, "X"}),
	 .show = show_tenant,
	 .help = "create a tenant; --email provisions a new AWS account, --account-id adopts "
		 "one, --role-arn sets it up by hand"},
	{.words = {"tenant", "retry"},
	 .cmd = "tenant.retry",
	 .args = ARGS({"NAME", "name", 0}),
	 .opts = NO_OPTS,
	 .show = show_tenant,
	 .help = "resume the provisioning of a failed tenant at the step that failed"},
	{.words = {"tenant", "dns"},
	 .cmd = "tenant.dns",
	 .args = ARGS({"NAME", "name", 0}),
	 .opts = NO_OPTS,
	 .show = show_dns,
	 .help = "print the DNS records (DKIM, SPF, DMARC) the tenant must publish"},
	{.words = {"tenant", "list"},
	 .cmd = "tenant.list",
	 .args = NO_ARGS,
	 .opts = NO_OPTS,
	 .show = show_tenant_list,
	 .help = "list all tenants"},
	{.words = {"tenant", "show"},
	 .cmd = "tenant.show",
	 .args = ARGS({"NAME", "name", 0}),
	 .opts = NO_OPTS,
	 .show = show_tenant,
	 .help = "show one tenant with its credential count and queue"},
	{.words = {"tenant", "set"},
	 .cmd = "tenant.set",
	 .args = ARGS({"NAME", "name", 0}, {"KEY", "key", 0}, {"VALUE", "value", 0}),
	 .opts = NO_OPTS,
	 .show = show_tenant,
	 .help = "change max_message_size, max_recipients, aws_account_id, role_arn, "
		 "external_id, rate_override, quota_override, configuration_set, webhook_url, "
		 "webhook_secret or require_tls (yes|no)"},
	{.words = {"tenant", "pause"},
	 .cmd = "tenant.pause",
	 .args = ARGS({"NAME", "name", 0}),
	 .opts = OPTS({"reason", "reason", OPT_STRING, "TEXT"}),
	 .show = show_tenant,
	 .help = "pause a tenant, with a reason to remember why"},
	{.words = {"tenant", "resume"},
	 .cmd = "tenant.resume",
	 .args = ARGS({"NAME", "name", 0}),
	 .opts = NO_OPTS,
	 .show = show_tenant,
	 .help = "make a paused tenant active again"},
	{.words = {"tenant", "release"},
	 .cmd = "tenant.release",
	 .args = ARGS({"NAME", "name", 0}),
	 .opts = NO_OPTS,
	 .show = show_tenant,
	 .help = "clear a tenant's SES hold once its account can send again"},
	{.words = {"tenant", "delete"},
	 .cmd = "tenant.delete",
	 .args = ARGS({"NAME", "name", 0}),
	 .opts = OPTS({"force", "force", OPT_FLAG, NULL}),
	 .show = show_deleted,
	 .help = "delete a tenant and its credentials (--force: even with queued mail, "
		 "which is dropped)"},
	{.words = {"tenant", "domain", "add"},
	 .cmd = "tenant.domain.add",
	 .args = ARGS({"NAME", "name", 0}, {"DOMAIN", "domain", 0}),
	 .opts = NO_OPTS,
	 .show = show_tenant,
	 .help = "let a tenant send from a domain (and its subdomains)"},
	{.words = {"tenant", "domain", "remove"},
	 .cmd = "tenant.domain.remove",
	 .args = ARGS({"NAME", "name", 0}, {"DOMAIN", "domain", 0}),
	 .opts = NO_OPTS,
	 .show = show_tenant,
	 .help = "take a sender domain away from a tenant"},
	{.words = {"tenant", "network", "add"},
	 .cmd = "tenant.network.add",
	 .args = ARGS({"NAME", "name", 0}, {"CIDR", "network", 0}),
	 .opts = OPTS({"force", "force", OPT_FLAG, NULL}),
	 .show = show_net_added,
	 .help = "let the hosts of a network send as the tenant without AUTH (--force: "
		 "broader than IPv4 /8 or IPv6 /32)"},
	{.words = {"tenant", "network", "remove"},
	 .cmd = "tenant.network.remove",
	 .args = ARGS({"NAME", "name", 0}, {"CIDR", "network", 0}),
	 .opts = NO_OPTS,
	 .show = show_net_removed,
	 .help = "stop authorizing a network for a tenant"},
	{.words = {"tenant", "network", "list"},
	 .cmd = "tenant.network.list",
	 .args = ARGS({"NAME", "name", 0}),
	 .opts = NO_OPTS,
	 .show = show_net_list,
	 .help = "list the networks whose hosts send as the tenant without AUTH"},
	{.words = {"cred", "add"},
	 .cmd = "cred.add",
	 .args = ARGS({"TENANT", "tenant", 0}),
	 .opts = OPTS({"description", "description", OPT_STRING, "TEXT"}),
	 .show = show_cred_new,
	 .shows_password = 1,
	 .help = "create SMTP credentials for a tenant; the password is shown once"},
	{.words = {"cred", "list"},
	 .cmd = "cred.list",
	 .args = ARGS({"TENANT", "tenant", 0}),
	 .opts = NO_OPTS,
	 .show = show_cred_list,
	 .help = "list a tenant's credentials (never their passwords)"},
	{.words = {"cred", "revoke"},
	 .cmd = "cred.revoke",
	 .args = ARGS({"USERNAME", "username", 0}),
	 .opts = NO_OPTS,
	 .show = show_revoked,
	 .help = "revoke a credential; new logins with it fail at once"},
	{.words = {"queue", "stats"},
	 .cmd = "queue.stats",
	 .args = ARGS({"TENANT", "tenant", 1}),
	 .opts = NO_OPTS,
	 .show = show_queue,
	 .help = "show queued, in-flight, retrying and dead-lettered messages per tenant"},
	{.words = {"dlq", "list"},
	 .cmd = "dlq.list",
	 .args = ARGS({"TENANT", "tenant", 0}),
	 .opts = OPTS({"limit", "limit", OPT_INT, "N"}),
	 .show = show_dlq_list,
	 .help = "list a tenant's dead-lettered messages, newest first (default 100, "
		 "at most 10000)"},
	{.words = {"dlq", "show"},
	 .cmd = "dlq.show",
	 .args = ARGS({"TENANT", "tenant", 0}, {"QID", "qid", 0}),
	 .opts = NO_OPTS,
	 .show = show_msg,
	 .help = "show a dead-lettered message: envelope, headers, reason and history"},
	{.words = {"dlq", "retry"},
	 .cmd = "dlq.retry",
	 .args = ARGS({"TENANT", "tenant", 0}, {"QID", "qid", 1}),
	 .opts = OPTS({"all", "all", OPT_FLAG, NULL}),
	 .one_of = {"qid", "all"},
	 .show = show_dlq_done,
	 .help = "put one or all dead-lettered messages back in the queue, attempts reset"},
	{.words = {"dlq", "purge"},
	 .cmd = "dlq.purge",
	 .args = ARGS({"TENANT", "tenant", 0}, {"QID", "qid", 1}),
	 .opts = OPTS({"all", "all", OPT_FLAG, NULL}),
	 .one_of = {"qid", "all"},
	 .show = show_dlq_done,
	 .help = "delete one or all dead-lettered messages (their history is kept a while)"},
	{.words = {"msg", "show"},
	 .cmd = "msg.show",
	 .args = ARGS({"QID", "qid", 0}),
	 .opts = OPTS({"tenant", "tenant", OPT_STRING, "NAME"}),
	 .show = show_msg,
	 .help = "show where a message is and what happened to it, in any tenant"},
	{.words = {"stats"},
	 .cmd = "stats",
	 .args = ARGS({"TENANT", "tenant", 1}),
	 .opts = OPTS({"days", "days", OPT_INT, "N"}),
	 .show = show_stats,
	 .help = "show SES event counts per UTC day with bounce and complaint rates "
		 "(default 7 days, at most 400)"},
	{.words = {"suppression", "list"},
	 .cmd = "suppression.list",
	 .args = ARGS({"TENANT", "tenant", 0}),
	 .opts = OPTS({"limit", "limit", OPT_INT, "N"}),
	 .show = show_suppr_list,
	 .help = "list a tenant's suppressed recipients, newest first (default 100, "
		 "at most 10000)"},
	{.words = {"suppression", "add"},
	 .cmd = "suppression.add",
	 .args = ARGS({"TENANT", "tenant", 0}, {"ADDRESS", "address", 0}),
	 .opts = OPTS({"reason", "reason", OPT_STRING, "TEXT"}),
	 .show = show_suppr_add,
	 .help = "suppress a recipient: sesgate refuses it at RCPT TO"},
	{.words = {"suppression", "remove"},
	 .cmd = "suppression.remove",
	 .args = ARGS({"TENANT", "tenant", 0}, {"ADDRESS", "address", 0}),
	 .opts = NO_OPTS,
	 .show = show_suppr_removed,
	 .help = "take a recipient off the suppression list"},
	{.words = {"suppression", "import"},
	 .cmd = "suppression.import",
	 .args = ARGS({"TENANT", "tenant", 0}, {"FILE", "file", 0}),
	 .opts = NO_OPTS,
	 .show = NULL,
	 .run = run_suppr_import,
	 .help = "suppress the addresses of FILE (one per line, optional ',reason', "
		 "'#' comments; '-' reads standard input)"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static size_t command_nwords(const struct command *c)
{
	size_t n = 0;
	while (n < 3 && c->words[n] != NULL)
		n++;
	return n;
}

static char *command_name(const struct command *c)
{
	size_t n = command_nwords(c);
	return xasprintf("%s%s%s%s%s", c->words[0], n > 1 ? " " : "", n > 1 ? c->words[1] : "",
			 n > 2 ? " " : "", n > 2 ? c->words[2] : "");
}

/* "tenant add NAME [--domain D]... [--account-id ID] ..." */
static void print_synopsis(FILE *f, const struct command *c)
{
	char *name = command_name(c);

	fputs(name, f);
	free(name);
	for (const struct arg_spec *a = c->args; a->metavar != NULL; a++) {
		if (c->one_of[0] != NULL && strcmp(a->key, c->one_of[0]) == 0)
			fprintf(f, " (%s | --%s)", a->metavar, c->one_of[1]);
		else
			fprintf(f, a->optional ? " [%s]" : " %s", a->metavar);
	}
	for (const struct opt_spec *o = c->opts; o->name != NULL; o++) {
		if (c->one_of[1] != NULL && strcmp(o->key, c->one_of[1]) == 0)
			continue; /* shown with its alternative */
		if (o->kind == OPT_FLAG)
			fprintf(f, " [--%s]", o->name);
		else
			fprintf(f, " [--%s %s]%s", o->name, o->metavar,
				o->kind == OPT_LIST ? "..." : "");
	}
}

static void print_help(void)
{
	printf("%s\n\n"
	       "Administer a running sesgate through its control socket.\n\n"
	       "Options:\n"
	       "  -s, --socket PATH  control socket (default: $SESGATE_SOCKET, else %s)\n"
	       "  --json             print the result as JSON for scripts\n"
	       "  -h, --help         show this help (after a command: that command's usage)\n\n"
	       "Commands:\n",
	       GLOBAL_USAGE, SESGATECTL_DEFAULT_SOCKET);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		fputs("  ", stdout);
		print_synopsis(stdout, &commands[i]);
		printf("\n      %s\n", commands[i].help);
	}
	printf("\nExit status: 0 ok, 1 refused by sesgate, 2 usage error, "
	       "3 sesgate not reachable.\nSee sesgatectl(8).\n");
}

__attribute__((format(printf, 2, 3))) static _Noreturn void usage_error(const struct command *c,
									  const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c != NULL) {
		fputs("usage: sesgatectl [-s SOCKET] [--json] ", stderr);
		print_synopsis(stderr, c);
		fputc('\n', stderr);
	} else {
		fprintf(stderr, "%s\nTry 'sesgatectl -h' for the list of commands.\n",
			GLOBAL_USAGE);
	}
	exit(CTL_EXIT_USAGE);
}

/* ------------------------------------------------------------------------ */
/* Command-line parsing                                                     */
/* ------------------------------------------------------------------------ */

/*
 * Handle ARGV[*I] if it is one of the options every command accepts; returns
 * 1 if consumed (advancing *I past a separate value), 0 if not ours.
 */
static int global_option(int argc, char **argv, int *i, const struct command *c)
{
	const char *a = argv[*i];

	if (strcmp(a, "--json") == 0) {
		g_opt.json = 1;
		return 1;
	}
	if (strcmp(a, "-s") == 0 || strcmp(a, "--socket") == 0) {
		if (*i + 1 >= argc)
			usage_error(c, "option %s needs a socket path", a);
		g_opt.socket = argv[++*i];
		return 1;
	}
	if (strncmp(a, "--socket=", 9) == 0) {
		g_opt.socket = a + 9;
		return 1;
	}
	if (strncmp(a, "-s", 2) == 0) {
		g_opt.socket = a + 2;
		return 1;
	}
	return 0;
}

/* Commands whose first DEPTH words equal WORDS, for "did you mean" lists. */
static void list_matching(FILE *f, char **words, size_t depth)
{
	for (size_t i = 0; i < NCOMMANDS; i++) {
		size_t k = 0;
		while (k < depth && commands[i].words[k] != NULL &&
		       strcmp(commands[i].words[k], words[k]) == 0)
			k++;
		if (k < depth)
			continue;
		fputs("  sesgatectl ", f);
		print_synopsis(f, &commands[i]);
		fputc('\n', f);
	}
}

/*
 * Find the command named by the words at ARGV[0..]; *USED gets how many words
 * it took.  The table's word lists are prefix-free, so at most one matches.
 */
static const struct command *find_command(int argc, char **argv, int *used)
{
	size_t best_depth = 0;

	for (size_t i = 0; i < NCOMMANDS; i++) {
		size_t n = command_nwords(&commands[i]), k = 0;

		while (k < n && (int)k < argc && strcmp(commands[i].words[k], argv[k]) == 0)
			k++;
		if (k == n) {
			*used = (int)n;
			return &commands[i];
		}
		if (k > best_depth)
			best_depth = k;
	}

	/* Not a command: say what would have been valid at this point. */
	int want_help = (int)best_depth < argc && (strcmp(argv[best_depth], "-h") == 0 ||
						   strcmp(argv[best_depth], "--help") == 0);
	if (want_help && best_depth > 0) {
		printf("commands:\n");
		list_matching(stdout, argv, best_depth);
		exit(CTL_EXIT_OK);
	}
	if ((int)best_depth < argc)
		fprintf(stderr, "%s: unknown command '%s'\n", progname, argv[best_depth]);
	else
		fprintf(stderr, "%s: incomplete command\n", progname);
	fprintf(stderr, "%s\n%s:\n", GLOBAL_USAGE, best_depth > 0 ? "possible commands" : "commands");
	list_matching(stderr, argv, best_depth);
	exit(CTL_EXIT_USAGE);
}

static void set_member(json_t *obj, const char *key, json_t *val)
{
	if (val == NULL || json_object_set_new(obj, key, val) < 0)
		oom();
}

/* Arguments after the command words, into the request's "args" object. */
static json_t *parse_command_args(const struct command *c, int argc, char **argv)
{
	json_t *args = json_object();
	const struct arg_spec *next = c->args;
	int opts_done = 0;

	if (args == NULL)
		oom();
	/* Lists are always sent: the protocol has no "absent" for them. */
	for (const struct opt_spec *o = c->opts; o->name != NULL; o++)
		if (o->kind == OPT_LIST)
			set_member(args, o->key, json_array());

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (opts_done || a[0] != '-' || a[1] == '\0') {
			if (next->metavar == NULL)
				usage_error(c, "unexpected argument '%s'", a);
			json_t *s = json_string(a);
			if (s == NULL)
				usage_error(c, "%s is not valid UTF-8", next->metavar);
			set_member(args, next->key, s);
			next++;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			opts_done = 1;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs("usage: sesgatectl [-s SOCKET] [--json] ", stdout);
			print_synopsis(stdout, c);
			printf("\n  %s\n", c->help);
			exit(CTL_EXIT_OK);
		}
		if (global_option(argc, argv, &i, c))
			continue;

		const struct opt_spec *o = c->opts;
		const char *eq = strchr(a, '=');
		size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
		for (; o->name != NULL; o++)
			if (a[1] == '-' && nlen - 2 == strlen(o->name) &&
			    strncmp(a + 2, o->name, nlen - 2) == 0)
				break;
		if (o->name == NULL)
			usage_error(c, "unknown option '%.*s'", (int)nlen, a);

		if (o->kind == OPT_FLAG) {
			if (eq != NULL)
				usage_error(c, "option --%s takes no value", o->name);
			set_member(args, o->key, json_true());
			continue;
		}
		const char *val;
		if (eq != NULL)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			usage_error(c, "option --%s needs a value (%s)", o->name, o->metavar);
		json_t *s;
		if (o->kind == OPT_INT) {
			size_t digits = strspn(val, "0123456789");
			if (digits == 0 || digits > 9 || val[digits] != '\0')
				usage_error(c, "value of --%s must be a number, not '%s'", o->name, val);
			s = json_integer(strtoll(val, NULL, 10));
		} else {
			/* json_string() refuses invalid UTF-8; say so instead of "out of memory". */
			s = json_string(val);
		}
		if (s == NULL)
			usage_error(c, "value of --%s is not valid UTF-8", o->name);
		if (o->kind == OPT_LIST) {
			if (json_array_append_new(json_object_get(args, o->key), s) < 0)
				oom();
		} else {
			if (json_object_get(args, o->key) != NULL)
				usage_error(c, "option --%s given twice", o->name);
			set_member(args, o->key, s);
		}
	}
	if (next->metavar != NULL && !next->optional)
		usage_error(c, "missing %s", next->metavar);
	if (c->one_of[0] != NULL) {
		int pos = json_object_get(args, c->one_of[0]) != NULL;
		int flag = json_object_get(args, c->one_of[1]) != NULL;
		const struct arg_spec *a = c->args;

		while (strcmp(a->key, c->one_of[0]) != 0)
			a++;
		if (pos && flag)
			usage_error(c, "give either %s or --%s, not both", a->metavar, c->one_of[1]);
		if (!pos && !flag)
			usage_error(c, "missing %s (or --%s)", a->metavar, c->one_of[1]);
	}
	return args;
}

/* ------------------------------------------------------------------------ */
/* Talking to the daemon                                                    */
/* ------------------------------------------------------------------------ */

static int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - mono_ms();
	return left > 0 ? (int)left : 0;
}

/* Wait for EVENTS on FD until DEADLINE; 0 ready, -1 with errno (ETIMEDOUT). */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};

	for (;;) {
		int left = remaining_ms(deadline);
		if (left == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		int r = poll(&p, 1, left);
		if (r > 0)
			return 0; /* errors and hang-ups surface in the next send/recv */
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/*
 * Connect to PATH; returns the descriptor or -1 with errno.  The socket is
 * non-blocking so a daemon whose accept backlog is full (EAGAIN on a Unix
 * socket) is retried until the deadline instead of hanging forever.
 */
static int ctl_connect(const char *path, int64_t deadline)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);

	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		int err = errno;
		if (err == EINPROGRESS) {
			socklen_t len = sizeof(err);
			if (wait_fd(fd, POLLOUT, deadline) < 0)
				err = errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				err = errno;
			if (err == 0)
				return fd;
		}
		close(fd);
		if ((err != EAGAIN && err != EINTR) || remaining_ms(deadline) == 0) {
			errno = err == EAGAIN ? ETIMEDOUT : err;
			return -1;
		}
		if (err == EAGAIN)
			nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
	}
}

/* Write all of BUF despite short writes and interruptions. */
static int write_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len > 0) {
		/* MSG_NOSIGNAL: a daemon that hangs up must not kill us with SIGPIPE. */
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT, deadline) < 0)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

enum read_status { READ_OK, READ_ERRNO, READ_EOF, READ_TOO_LONG };

/*
 * Read one response line (without its newline) into a malloc'ed buffer.
 * Bytes after the newline are ignored: we send a single request.
 */
static enum read_status read_line(int fd, int64_t deadline, char **out, size_t *outlen)
{
	size_t cap = 64 * 1024, len = 0;
	char *buf = malloc(cap);

	if (buf == NULL)
		oom();
	for (;;) {
		if (len == cap) {
			if (cap >= RESPONSE_MAX) {
				explicit_bzero(buf, len);
				free(buf);
				return READ_TOO_LONG;
			}
			cap = cap * 2 > RESPONSE_MAX ? RESPONSE_MAX : cap * 2;
			char *nb = realloc(buf, cap);
			if (nb == NULL)
				oom();
			buf = nb;
		}
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n > 0) {
			char *nl = memchr(buf + len, '\n', (size_t)n);
			len += (size_t)n;
			if (nl != NULL) {
				*outlen = (size_t)(nl - buf);
				*out = buf;
				return READ_OK;
			}
		} else if (n == 0) {
			*outlen = len;
			explicit_bzero(buf, len);
			free(buf);
			return READ_EOF;
		} else if (errno == EINTR) {
			continue;
		} else if ((errno != EAGAIN && errno != EWOULDBLOCK) ||
			   wait_fd(fd, POLLIN, deadline) < 0) {
			int err = errno; /* the caller reports it; keep free() off it */
			free(buf);
			errno = err;
			return READ_ERRNO;
		}
	}
}

__attribute__((format(printf, 1, 2))) static _Noreturn void die_unreachable(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(CTL_EXIT_UNREACHABLE);
}

/*
 * Send REQUEST to the daemon at PATH and return the parsed response object.
 * Anything short of a well-formed response is fatal with exit status 3:
 * the caller only ever sees an answer from a working daemon.
 */
static json_t *exchange(const char *path, const json_t *request)
{
	int64_t deadline = mono_ms() + TIMEOUT_MS;
	char *line, *resp;
	size_t linelen, resplen;
	json_error_t jerr;
	json_t *r;
	int fd;

	/* jansson escapes control characters, so the line has no raw newline. */
	line = json_dumps(request, JSON_COMPACT);
	if (line == NULL)
		oom();
	linelen = strlen(line);
	if (linelen + 1 > REQUEST_MAX) {
		fprintf(stderr, "%s: request too large (%zu bytes, the limit is %u)\n", progname,
			linelen + 1, REQUEST_MAX);
		exit(CTL_EXIT_USAGE);
	}
	line[linelen] = '\n'; /* replaces the NUL; length is tracked separately */

	fd = ctl_connect(path, deadline);
	if (fd < 0) {
		int err = errno;
		const char *hint = "";
		if (err == ENOENT || err == ECONNREFUSED)
			hint = " (is sesgate running?)";
		else if (err == EACCES || err == EPERM)
			hint = " (not allowed: see control_socket_mode in sesgate.conf(5))";
		else if (err == ETIMEDOUT)
			hint = " (sesgate is not accepting connections)";
		die_unreachable("cannot connect to %s: %s%s", path, strerror(err), hint);
	}
	if (write_all(fd, line, linelen + 1, deadline) < 0) {
		int err = errno;
		/*
		 * The daemon may have refused us (peer credentials) and closed
		 * before our request went out: its answer is already waiting.
		 */
		if ((err == EPIPE || err == ECONNRESET) &&
		    read_line(fd, deadline, &resp, &resplen) == READ_OK) {
			free(line);
			close(fd);
			goto parse;
		}
		die_unreachable("cannot send request to %s: %s", path,
				err == ETIMEDOUT ? "timed out after 30 s" : strerror(err));
	}
	free(line);

	switch (read_line(fd, deadline, &resp, &resplen)) {
	case READ_OK:
		break;
	case READ_EOF:
		die_unreachable("%s: connection closed by sesgate %s", path,
				resplen > 0 ? "in the middle of a response" : "without a response");
	case READ_TOO_LONG:
		die_unreachable("%s: response longer than %u MiB, giving up", path,
				RESPONSE_MAX >> 20);
	case READ_ERRNO:
	default:
		if (errno == ETIMEDOUT)
			die_unreachable("%s: no response from sesgate within %d s", path,
					TIMEOUT_MS / 1000);
		die_unreachable("%s: cannot read response: %s", path, strerror(errno));
	}
	close(fd);

parse:
	r = json_loadb(resp, resplen, 0, &jerr);
	/* The line may hold a fresh password: do not leave it in freed memory. */
	explicit_bzero(resp, resplen);
	free(resp);
	if (r == NULL)
		die_unreachable("%s: malformed response from sesgate: %s", path, jerr.text);
	if (!json_is_object(r) || !json_is_boolean(json_object_get(r, "ok")))
		die_unreachable("%s: malformed response from sesgate: no \"ok\" member", path);
	return r;
}

/*
 * Remove every "password" member below V.  Only cred.add may return one;
 * if the daemon ever leaked one elsewhere, it still must not reach a screen,
 * a log file or a script's output.
 */
static void strip_passwords(json_t *v)
{
	const char *key;
	json_t *m;
	size_t i;

	if (json_is_object(v)) {
		json_object_del(v, "password");
		json_object_foreach(v, key, m)
			strip_passwords(m);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			strip_passwords(m);
	}
}

/* ------------------------------------------------------------------------ */
/* suppression import: a file, sent in batches                              */
/* ------------------------------------------------------------------------ */

#define IMPORT_BATCH       1000 /* addresses per request: the daemon's limit */
#define IMPORT_LINE_MAX    1024 /* an address (320) and a reason (200) fit easily */
#define IMPORT_INVALID_MAX 20   /* bad lines named in the report */

struct import_state {
	const char *tenant;
	json_t *batch;               /* [{address, reason?}] waiting to be sent */
	long line[IMPORT_BATCH];     /* the line of each batch entry */
	long long added, fresh, invalid;
	json_t *bad;                 /* [{line, text, error}], the first IMPORT_INVALID_MAX */
};

/* A refused line; TEXT need not be UTF-8 (it is shown through '?' then). */
static void import_bad(struct import_state *st, long line, const char *text, const char *why)
{
	char buf[84];
	size_t j = 0;

	st->invalid++;
	if (json_array_size(st->bad) >= IMPORT_INVALID_MAX)
		return;
	for (size_t i = 0; text[i] != '\0' && j < 80; i++)
		buf[j++] = (unsigned char)text[i] < 0x80 && (unsigned char)text[i] >= 0x20
				   ? text[i]
				   : '?';
	buf[j] = '\0';
	json_t *o = json_pack("{s:I,s:s,s:s}", "line", (json_int_t)line, "text", buf, "error", why);
	if (o == NULL || json_array_append_new(st->bad, o) < 0)
		oom();
}

/* Send the waiting batch; 0, or the exit status when the daemon refused it. */
static int import_flush(const struct command *c, struct import_state *st)
{
	json_t *request, *resp, *r, *inv, *m;
	size_t i;
	long long v;

	if (json_array_size(st->batch) == 0)
		return 0;
	request = json_pack("{s:s,s:{s:s,s:O}}", "cmd", c->cmd, "args", "tenant", st->tenant,
			    "addresses", st->batch);
	if (request == NULL)
		oom();
	resp = exchange(g_opt.socket, request);
	json_decref(request);
	if (!json_is_true(json_object_get(resp, "ok"))) {
		const char *err = jstr(resp, "error");
		char *msg = display_copy(err != NULL ? err : "request refused");
		fprintf(stderr, "%s: %s\n", progname, msg);
		fprintf(stderr, "%s: %lld address%s added before the error\n", progname, st->added,
			st->added == 1 ? "" : "es");
		free(msg);
		json_decref(resp);
		return CTL_EXIT_REFUSED;
	}
	r = json_object_get(resp, "result");
	if (jnum(r, "added", &v))
		st->added += v;
	if (jnum(r, "new", &v))
		st->fresh += v;
	/* The daemon names the first 20 of each batch by index; turn them into lines. */
	inv = json_object_get(r, "invalid");
	json_array_foreach(inv, i, m) {
		long long idx;
		if (!jnum(m, "index", &idx) || idx < 0 || (size_t)idx >= json_array_size(st->batch))
			continue;
		const char *a = jstr(json_array_get(st->batch, (size_t)idx), "address");
		import_bad(st, st->line[idx], a != NULL ? a : "",
			   jstr(m, "error") != NULL ? jstr(m, "error") : "invalid");
		st->invalid--; /* counted below from invalid_count */
	}
	if (jnum(r, "invalid_count", &v))
		st->invalid += v;
	json_decref(resp);
	json_array_clear(st->batch);
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/*
 * `suppression import TENANT FILE`: one address per line, optionally
 * followed by ",reason"; blank lines and '#' comments are skipped.  The
 * lines go to the daemon IMPORT_BATCH at a time; it checks each address.
 */
static int run_suppr_import(const struct command *c, const json_t *args)
{
	const char *path = jstr(args, "file");
	struct import_state st = {.tenant = jstr(args, "tenant")};
	FILE *f;
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int rv = 0;

	if (strcmp(path, "-") == 0) {
		f = stdin;
	} else if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "%s: cannot open %s: %s\n", progname, path, strerror(errno));
		return CTL_EXIT_USAGE;
	}
	st.batch = json_array();
	st.bad = json_array();
	if (st.batch == NULL || st.bad == NULL)
		oom();
	while (rv == 0 && (len = getline(&buf, &cap, f)) >= 0) {
		char *s, *comma, *addr, *reason = NULL;

		lineno++;
		if ((size_t)len != strlen(buf)) {
			import_bad(&st, lineno, buf, "line with a NUL octet");
			continue;
		}
		s = trim(buf);
		if (*s == '\0' || *s == '#')
			continue;
		if ((size_t)len > IMPORT_LINE_MAX) {
			import_bad(&st, lineno, s, "line too long");
			continue;
		}
		comma = strchr(s, ',');
		if (comma != NULL) {
			*comma = '\0';
			reason = trim(comma + 1);
		}
		addr = trim(s);
		json_t *a = json_string(addr), *o;
		if (a == NULL) {
			import_bad(&st, lineno, addr, "not valid UTF-8");
			continue;
		}
		o = json_pack("{s:o}", "address", a);
		if (o == NULL)
			oom();
		if (reason != NULL && *reason != '\0') {
			json_t *r = json_string(reason);
			if (r == NULL) {
				json_decref(o);
				import_bad(&st, lineno, addr, "reason is not valid UTF-8");
				continue;
			}
			set_member(o, "reason", r);
		}
		st.line[json_array_size(st.batch)] = lineno;
		if (json_array_append_new(st.batch, o) < 0)
			oom();
		if (json_array_size(st.batch) == IMPORT_BATCH)
			rv = import_flush(c, &st);
	}
	if (rv == 0 && ferror(f)) {
		fprintf(stderr, "%s: cannot read %s: %s\n", progname, path, strerror(errno));
		rv = CTL_EXIT_REFUSED;
	}
	if (rv == 0)
		rv = import_flush(c, &st);
	free(buf);
	if (f != stdin)
		fclose(f);
	if (rv == 0) {
		if (g_opt.json) {
			json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:O}", "tenant", st.tenant, "added",
					      (json_int_t)st.added, "new", (json_int_t)st.fresh,
					      "invalid_count", (json_int_t)st.invalid, "invalid",
					      st.bad);
			char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
			if (s == NULL)
				oom();
			puts(s);
			free(s);
			json_decref(o);
		} else {
			size_t i;
			json_t *m;
			char *name = display_copy(st.tenant);

			printf("added %lld address%s to the suppression list of tenant %s "
			       "(%lld new), %lld invalid\n",
			       st.added, st.added == 1 ? "" : "es", name, st.fresh, st.invalid);
			free(name);
			json_array_foreach(st.bad, i, m) {
				long long l = 0;
				char *t = display_copy(or_dash(jstr(m, "text")));
				char *e = display_copy(or_dash(jstr(m, "error")));
				jnum(m, "line", &l);
				printf("line %lld: %s: %s\n", l, e, t);
				free(t);
				free(e);
			}
			if (st.invalid > (long long)json_array_size(st.bad))
				printf("(first %zu invalid lines shown)\n", json_array_size(st.bad));
		}
		if (fflush(stdout) != 0 || ferror(stdout)) {
			fprintf(stderr, "%s: cannot write output: %s\n", progname, strerror(errno));
			rv = CTL_EXIT_REFUSED;
		}
	}
	json_decref(st.batch);
	json_decref(st.bad);
	return rv;
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	const struct command *c;
	json_t *request, *args, *resp, *result;
	int i, used;

	/* Options before the command. */
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			print_help();
			return CTL_EXIT_OK;
		}
		if (!global_option(argc, argv, &i, NULL))
			usage_error(NULL, "unknown option '%s'", a);
	}
	if (i >= argc)
		usage_error(NULL, "no command given");

	c = find_command(argc - i, argv + i, &used);
	args = parse_command_args(c, argc - i - used, argv + i + used);

	if (g_opt.socket == NULL || *g_opt.socket == '\0') {
		const char *env = getenv("SESGATE_SOCKET");
		g_opt.socket = env != NULL && *env != '\0' ? env : SESGATECTL_DEFAULT_SOCKET;
	}

	if (c->run != NULL) {
		int rv = c->run(c, args);
		json_decref(args);
		return rv;
	}

	request = json_object();
	if (request == NULL)
		oom();
	set_member(request, "cmd", json_string(c->cmd));
	set_member(request, "args", json_incref(args)); /* printers read it later */

	resp = exchange(g_opt.socket, request);
	json_decref(request);

	if (!json_is_true(json_object_get(resp, "ok"))) {
		const char *err = jstr(resp, "error");
		const char *code = jstr(resp, "code");
		char *msg = display_copy(err != NULL && *err != '\0'
						 ? err
						 : code != NULL ? code : "request refused");
		fprintf(stderr, "%s: %s\n", progname, msg);
		if (code != NULL && strcmp(code, "denied") == 0)
			fprintf(stderr,
				"%s: ask for your user or group to be added to control_allow_users "
				"or control_allow_groups (see sesgate.conf(5))\n",
				progname);
		free(msg);
		json_decref(resp);
		json_decref(args);
		return CTL_EXIT_REFUSED;
	}

	result = json_object_get(resp, "result");
	if (result == NULL)
		result = json_null();
	if (!c->shows_password)
		strip_passwords(result);

	if (g_opt.json) {
		char *s = json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY);
		if (s == NULL)
			oom();
		puts(s);
		explicit_bzero(s, strlen(s));
		free(s);
	} else {
		c->show(c, args, result);
	}

	/*
	 * A full disk or closed pipe must not pass silently: after `cred add`
	 * the password would be gone with nothing said.
	 */
	int status = CTL_EXIT_OK;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: cannot write output: %s\n", progname, strerror(errno));
		if (c->shows_password) {
			char *user = display_copy(or_dash(jstr(result, "username")));
			fprintf(stderr,
				"%s: credential %s was created but its password could not be shown; "
				"revoke it and add another\n",
				progname, user);
			free(user);
		}
		status = CTL_EXIT_REFUSED;
	}
	json_decref(resp);
	json_decref(args);
	return status;
}
