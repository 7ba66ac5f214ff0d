/*
 * creds.c - the gateway's own AWS identity: the standard credential chain
 * (environment, shared files and profiles, web identity, container,
 * IMDSv2) and a refresher thread that keeps one current snapshot.
 *
 * Threads: aws_env_load(), aws_identity_new() and aws_identity_start() run
 * on the main thread at start-up (they read the environment, which is not
 * thread-safe to read while others may write it).  Afterwards the chain is
 * walked only on the refresher thread, with libcurl's blocking easy
 * interface; it must never run on an event loop.  aws_identity_get(),
 * _invalidate() and _status() may be called from any thread: they take the
 * mutex, copy, and never do I/O.
 *
 * Sensitive: this file handles secret keys, session tokens, web identity
 * tokens and container authorization tokens.  Every heap copy we make is
 * wiped before it is freed (curl's own internal copies of request headers
 * are outside our reach), none is ever logged, and error texts carry only
 * paths, HTTP statuses and AWS error codes/messages.  TLS peer and host
 * verification are always on.
 */
#include "aws/creds.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "aws/awsparse.h"
#include "aws/sigv4.h"
#include "log.h"
#include "util.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif
#define USER_AGENT "sesgate/" PACKAGE_VERSION

#define FILE_MAX          (1u << 20)  /* shared config/credentials files */
#define TOKEN_FILE_MAX    (32u << 10) /* web identity / container token files */
#define RESPONSE_MAX      (256u << 10)
#define JSON_MAX_DEPTH    16
#define PROFILE_MAX_DEPTH 5
#define INVALIDATE_MIN_MS 1000

#define ECS_AGENT_BASE  "http://169.254.170.2"
#define IMDS_DEFAULT    "http://169.254.169.254"
#define IMDS_DEFAULT_V6 "http://[fd00:ec2::254]"
#define IMDS_TOKEN_TTL  "21600"
#define IMDS_CREDS_PATH "/latest/meta-data/iam/security-credentials/"

/* ---------------------------------------------------------------- helpers */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

/* The value of environment variable @name, or NULL when unset or empty
 * (the SDKs treat an empty variable as unset). */
static const char *env_get(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/*
 * A growable byte buffer for material that may be secret: it grows by
 * copy-and-wipe, is always NUL-terminated and is wiped when freed.
 */
struct sbuf {
	char *p;
	size_t len, cap;
};

static int sbuf_add(struct sbuf *b, const void *d, size_t n, size_t max)
{
	if (n > max || b->len > max - n)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = malloc(cap);
		if (!np)
			return -1;
		if (b->p) {
			memcpy(np, b->p, b->len);
			OPENSSL_cleanse(b->p, b->cap);
			free(b->p);
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int sbuf_addc(struct sbuf *b, char c, size_t max)
{
	return sbuf_add(b, &c, 1, max);
}

static void sbuf_free(struct sbuf *b)
{
	if (b->p) {
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	memset(b, 0, sizeof(*b));
}

/* Hand the buffer's string to the caller (who wipes it) and reset @b. */
static char *sbuf_take(struct sbuf *b)
{
	char *p = b->p;

	if (!p)
		p = strdup("");
	memset(b, 0, sizeof(*b));
	return p;
}

static void trim_ws(struct sbuf *b)
{
	size_t s = 0;

	while (b->len && isspace((unsigned char)b->p[b->len - 1]))
		b->p[--b->len] = '\0';
	while (s < b->len && isspace((unsigned char)b->p[s]))
		s++;
	if (s) {
		memmove(b->p, b->p + s, b->len - s + 1);
		b->len -= s;
	}
}

/*
 * Read the whole regular file @path into @out (wiped on free).  Returns 0,
 * 1 when it does not exist, -1 on any other failure (message in @err).
 */
static int read_file(const char *path, size_t max, struct sbuf *out, char *err, size_t errlen)
{
	struct stat st;
	char buf[4096];
	ssize_t n;
	int fd, rc = 0;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 1;
		set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		set_err(err, errlen, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			set_err(err, errlen, "cannot read %s: %s", path, strerror(errno));
			rc = -1;
		}
		if (n <= 0)
			break;
		if (sbuf_add(out, buf, (size_t)n, max)) {
			set_err(err, errlen, "%s is larger than %zu bytes", path, max);
			rc = -1;
			break;
		}
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	/* An empty file still gives a (empty) string. */
	if (rc == 0 && !out->p && sbuf_add(out, "", 0, max)) {
		set_err(err, errlen, "out of memory");
		rc = -1;
	}
	if (rc)
		sbuf_free(out);
	return rc;
}

/* Read a token file (web identity, container authorization): trimmed,
 * non-empty.  0, or -1 with @err. */
static int read_token_file(const char *path, const char *what, struct sbuf *out, char *err,
                           size_t errlen)
{
	int rc = read_file(path, TOKEN_FILE_MAX, out, err, errlen);

	if (rc == 1)
		set_err(err, errlen, "%s %s does not exist", what, path);
	if (rc)
		return -1;
	trim_ws(out);
	if (!out->len) {
		set_err(err, errlen, "%s %s is empty", what, path);
		sbuf_free(out);
		return -1;
	}
	return 0;
}

static char *home_dir(void)
{
	const char *h = env_get("HOME");
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (h)
		return strdup(h);
	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_dir)
		return strdup(res->pw_dir);
	return strdup("/");
}

/* @path with a leading "~/" replaced by @home.  Heap string or NULL. */
static char *expand_home(const char *path, const char *home)
{
	char *out;
	size_t n;

	if (!path)
		return NULL;
	if (path[0] != '~' || (path[1] != '/' && path[1] != '\0'))
		return strdup(path);
	n = strlen(home) + strlen(path);
	out = malloc(n + 1);
	if (out)
		snprintf(out, n + 1, "%s%s", home, path + 1);
	return out;
}

/* The shared file named by @var, else ~/.aws/@name. */
static char *shared_file(const char *var, const char *name, const char *home)
{
	const char *v = env_get(var);
	char *out;
	size_t n;

	if (v)
		return expand_home(v, home);
	n = strlen(home) + strlen(name) + 8;
	out = malloc(n);
	if (out)
		snprintf(out, n, "%s/.aws/%s", home, name);
	return out;
}

/* ------------------------------------------------------------------ URLs */

struct url_parts {
	int https;
	char authority[300]; /* host[:port] exactly as written: the Host header */
	char host[256];      /* without brackets and port */
	const char *path;    /* points into the URL; "" when absent */
};

/*
 * Split an absolute http(s) URL.  Refuses user info, an empty host, a bad
 * port, whitespace and control characters.  0 or -1.
 */
static int url_split(const char *url, struct url_parts *u)
{
	const char *a, *e, *h, *he, *p;
	size_t n;

	memset(u, 0, sizeof(*u));
	if (!url)
		return -1;
	for (p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return -1;
	if (strncasecmp(url, "https://", 8) == 0) {
		u->https = 1;
		a = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		a = url + 7;
	} else {
		return -1;
	}
	e = a + strcspn(a, "/?#");
	n = (size_t)(e - a);
	if (!n || n >= sizeof(u->authority) || memchr(a, '@', n))
		return -1;
	memcpy(u->authority, a, n);
	u->authority[n] = '\0';
	if (*a == '[') {
		h = a + 1;
		he = memchr(h, ']', n - 1);
		if (!he)
			return -1;
		p = he + 1;
	} else {
		h = a;
		he = memchr(a, ':', n);
		if (!he)
			he = e;
		p = he;
	}
	if (he == h || (size_t)(he - h) >= sizeof(u->host))
		return -1;
	memcpy(u->host, h, (size_t)(he - h));
	u->host[he - h] = '\0';
	if (p < e) {
		const char *q;

		if (*p != ':' || p + 1 == e || e - p > 6)
			return -1;
		for (q = p + 1; q < e; q++)
			if (*q < '0' || *q > '9')
				return -1;
		if (atoi(p + 1) < 1 || atoi(p + 1) > 65535)
			return -1;
	}
	u->path = e;
	return 0;
}

static int host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

int aws_container_url_allowed(const char *url)
{
	static const char *const agents[] = {"169.254.170.2", "169.254.170.23", "fd00:ec2::23"};
	struct url_parts u;
	unsigned char want[16], got[16];
	size_t i;

	if (url_split(url, &u))
		return 0;
	if (u.https)
		return 1;
	if (host_is_loopback(u.host))
		return 1;
	for (i = 0; i < sizeof(agents) / sizeof(agents[0]); i++) {
		int af = strchr(agents[i], ':') ? AF_INET6 : AF_INET;

		if (inet_pton(af, agents[i], want) == 1 && inet_pton(af, u.host, got) == 1 &&
		    memcmp(want, got, af == AF_INET ? 4 : 16) == 0)
			return 1;
	}
	return 0;
}

/* ------------------------------------------------------------- aws_env */

static int region_valid(const char *r)
{
	size_t i, n = strlen(r);

	if (!n || n >= 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!(islower((unsigned char)r[i]) || isdigit((unsigned char)r[i]) || r[i] == '-'))
			return 0;
	return 1;
}

/* Copy endpoint @v (from @var) into @dst without trailing slashes, after
 * checking that it is https, or http to loopback. */
static int endpoint_set(char *dst, size_t cap, const char *v, const char *var, char *err,
                        size_t errlen)
{
	struct url_parts u;
	size_t n = strlen(v);

	while (n && v[n - 1] == '/')
		n--;
	if (n >= cap) {
		set_err(err, errlen, "%s is too long", var);
		return -1;
	}
	memcpy(dst, v, n);
	dst[n] = '\0';
	if (url_split(dst, &u) || strpbrk(u.path, "?#")) {
		set_err(err, errlen, "%s is not an http(s) URL without query or user info", var);
		return -1;
	}
	if (!u.https && !host_is_loopback(u.host)) {
		set_err(err, errlen, "%s: plain http is allowed only to loopback hosts", var);
		return -1;
	}
	return 0;
}

/* The region of the profile in the shared config file ("" if none). */
static int config_region(char *out, size_t cap, char *err, size_t errlen)
{
	const char *profile = env_get("AWS_PROFILE") ? env_get("AWS_PROFILE") : "default";
	char *home = home_dir(),
	     *path = home ? shared_file("AWS_CONFIG_FILE", "config", home) : NULL;
	struct aws_profile p;
	struct sbuf b;
	int rc;

	out[0] = '\0';
	if (!path) {
		free(home);
		set_err(err, errlen, "out of memory");
		return -1;
	}
	rc = read_file(path, FILE_MAX, &b, err, errlen);
	if (rc == 0) {
		rc = aws_ini_profile(b.p, b.len, profile, 1, &p);
		if (rc == 0) {
			if (p.region)
				util_strlcpy(out, p.region, cap);
			aws_profile_free(&p);
		} else if (rc < 0) {
			set_err(err, errlen, "shared config file %s is malformed", path);
		}
		sbuf_free(&b);
	}
	free(path);
	free(home);
	return rc < 0 ? -1 : 0;
}

int aws_env_load(struct aws_env *e, const char *region_override, char *err, size_t errlen)
{
	const char *v, *var;

	memset(e, 0, sizeof(*e));
	if (region_override && *region_override)
		util_strlcpy(e->region, region_override, sizeof(e->region));
	else if ((v = env_get("AWS_REGION")) || (v = env_get("AWS_DEFAULT_REGION")))
		util_strlcpy(e->region, v, sizeof(e->region));
	else if (config_region(e->region, sizeof(e->region), err, errlen))
		return -1;
	if (!e->region[0]) {
		set_err(err, errlen,
		        "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or region in the "
		        "profile of the shared config file)");
		return -1;
	}
	if (!region_valid(e->region)) {
		set_err(err, errlen, "AWS region '%.63s' is not valid", e->region);
		return -1;
	}

	if ((v = env_get(var = "AWS_ENDPOINT_URL_SESV2")) ||
	    (v = env_get(var = "AWS_ENDPOINT_URL_SES")) ||
	    (v = env_get(var = "AWS_ENDPOINT_URL"))) {
		if (endpoint_set(e->ses_endpoint, sizeof(e->ses_endpoint), v, var, err, errlen))
			return -1;
	} else {
		snprintf(e->ses_endpoint, sizeof(e->ses_endpoint), "https://email.%s.amazonaws.com",
		         e->region);
	}
	if ((v = env_get(var = "AWS_ENDPOINT_URL_STS")) ||
	    (v = env_get(var = "AWS_ENDPOINT_URL"))) {
		if (endpoint_set(e->sts_endpoint, sizeof(e->sts_endpoint), v, var, err, errlen))
			return -1;
	} else {
		snprintf(e->sts_endpoint, sizeof(e->sts_endpoint), "https://sts.%s.amazonaws.com",
		         e->region);
	}
	if ((v = env_get("AWS_CA_BUNDLE"))) {
		if (strlen(v) >= sizeof(e->ca_bundle)) {
			set_err(err, errlen, "AWS_CA_BUNDLE is too long");
			return -1;
		}
		if (access(v, R_OK)) {
			set_err(err, errlen, "AWS_CA_BUNDLE %s: %s", v, strerror(errno));
			return -1;
		}
		util_strlcpy(e->ca_bundle, v, sizeof(e->ca_bundle));
	}
	return 0;
}

/* ------------------------------------------------------------ aws_creds */

void aws_creds_free(struct aws_creds *c)
{
	if (!c)
		return;
	free(c->access_key_id);
	wipe_free(c->secret_access_key);
	wipe_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

int aws_creds_copy(struct aws_creds *dst, const struct aws_creds *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->access_key_id = dup_or_null(src->access_key_id);
	dst->secret_access_key = dup_or_null(src->secret_access_key);
	dst->session_token = dup_or_null(src->session_token);
	dst->expiration = src->expiration;
	memcpy(dst->source, src->source, sizeof(dst->source));
	if ((src->access_key_id && !dst->access_key_id) ||
	    (src->secret_access_key && !dst->secret_access_key) ||
	    (src->session_token && !dst->session_token)) {
		aws_creds_free(dst);
		return -1;
	}
	return 0;
}

/* Build static credentials from borrowed strings. */
static int creds_static(struct aws_creds *out, const char *akid, const char *secret,
                        const char *token, const char *source)
{
	struct aws_creds tmp = {.access_key_id = (char *)akid,
	                        .secret_access_key = (char *)secret,
	                        .session_token = (char *)token};

	if (aws_creds_copy(out, &tmp))
		return -1;
	util_strlcpy(out->source, source, sizeof(out->source));
	return 0;
}

int aws_creds_needs_refresh(time_t expiration, time_t now)
{
	return expiration != 0 && expiration - now < AWS_CREDS_REFRESH_WINDOW;
}

time_t aws_creds_refresh_at(time_t expiration, time_t obtained)
{
	time_t life;

	if (expiration == 0)
		return 0;
	life = expiration - obtained;
	if (life > 2 * AWS_CREDS_REFRESH_WINDOW)
		return expiration - AWS_CREDS_REFRESH_WINDOW;
	return obtained + (life / 2 > 1 ? life / 2 : 1);
}

unsigned aws_creds_backoff(unsigned failures)
{
	unsigned s = 1;

	while (failures > 1 && s < AWS_CREDS_BACKOFF_MAX) {
		s *= 2;
		failures--;
	}
	return s < AWS_CREDS_BACKOFF_MAX ? s : AWS_CREDS_BACKOFF_MAX;
}

/* ------------------------------------------------------------------ JSON */

/*
 * A minimal strict JSON reader for the flat credential documents of the
 * container endpoint and IMDS.  Written here rather than using jansson so
 * that every copy of the secret it makes can be wiped.
 */
struct jp {
	const char *p, *end;
};

static void jp_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}


static int jp_hex4(struct jp *j, unsigned *v)
{
	int i, h;

	if (j->end - j->p < 4)
		return -1;
	*v = 0;
	for (i = 0; i < 4; i++) {
		h = util_hexval((unsigned char)j->p[i]);
		if (h < 0)
			return -1;
		*v = *v << 4 | (unsigned)h;
	}
	j->p += 4;
	return 0;
}

static int put_utf8(struct sbuf *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return sbuf_add(b, u, n, RESPONSE_MAX);
}

/* A string at j->p.  With @out: the unescaped value as a heap string
 * (caller wipes); without: validated and skipped. */
static int jp_string(struct jp *j, char **out)
{
	struct sbuf b = {0};
	unsigned cp, lo;
	unsigned char c;

	if (j->p >= j->end || *j->p != '"')
		return -1;
	j->p++;
	while (j->p < j->end) {
		c = (unsigned char)*j->p++;
		if (c == '"') {
			if (out && !(*out = sbuf_take(&b)))
				return -1;
			sbuf_free(&b);
			return 0;
		}
		if (c < 0x20)
			break;
		if (c != '\\') {
			if (out && sbuf_addc(&b, (char)c, RESPONSE_MAX))
				break;
			continue;
		}
		if (j->p >= j->end)
			break;
		c = (unsigned char)*j->p++;
		cp = c;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			break;
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u':
			if (jp_hex4(j, &cp))
				goto fail;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				goto fail;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u')
					goto fail;
				j->p += 2;
				if (jp_hex4(j, &lo) || lo < 0xdc00 || lo > 0xdfff)
					goto fail;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp == 0)
				goto fail; /* would truncate a C string */
			break;
		default:
			goto fail;
		}
		if (out && put_utf8(&b, cp))
			goto fail;
	}
fail:
	sbuf_free(&b);
	return -1;
}

static int jp_literal(struct jp *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n))
		return -1;
	j->p += n;
	return 0;
}

static int jp_digits(struct jp *j)
{
	const char *b = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > b ? 0 : -1;
}

static int jp_number(struct jp *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (jp_digits(j))
		return -1;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (jp_digits(j))
			return -1;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (jp_digits(j))
			return -1;
	}
	return 0;
}

/* Validate and skip any value. */
static int jp_skip(struct jp *j, int depth)
{
	char close;

	if (depth > JSON_MAX_DEPTH)
		return -1;
	jp_ws(j);
	if (j->p >= j->end)
		return -1;
	switch (*j->p) {
	case '"':
		return jp_string(j, NULL);
	case 't':
		return jp_literal(j, "true");
	case 'f':
		return jp_literal(j, "false");
	case 'n':
		return jp_literal(j, "null");
	case '{':
	case '[':
		close = *j->p == '{' ? '}' : ']';
		j->p++;
		jp_ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return 0;
		}
		for (;;) {
			if (close == '}') {
				jp_ws(j);
				if (jp_string(j, NULL))
					return -1;
				jp_ws(j);
				if (j->p >= j->end || *j->p++ != ':')
					return -1;
			}
			if (jp_skip(j, depth + 1))
				return -1;
			jp_ws(j);
			if (j->p >= j->end)
				return -1;
			if (*j->p == ',') {
				j->p++;
				continue;
			}
			if (*j->p++ != close)
				return -1;
			return 0;
		}
	default:
		return jp_number(j);
	}
}

int aws_creds_parse_json(const char *json, size_t len, struct aws_creds *out, char *err,
                         size_t errlen)
{
	static const char *const names[] = {"AccessKeyId", "SecretAccessKey", "Token", "Expiration",
	                                    "Code"};
	enum { F_AKID, F_SECRET, F_TOKEN, F_EXP, F_CODE, F_N };
	char *v[F_N] = {0};
	struct jp j;
	char *key = NULL;
	int i, rc = -1;

	memset(out, 0, sizeof(*out));
	if (!json)
		goto bad;
	j.p = json;
	j.end = json + len;
	jp_ws(&j);
	if (j.p >= j.end || *j.p++ != '{')
		goto bad;
	jp_ws(&j);
	if (j.p < j.end && *j.p == '}') {
		j.p++;
	} else {
		for (;;) {
			jp_ws(&j);
			if (jp_string(&j, &key))
				goto bad;
			jp_ws(&j);
			if (j.p >= j.end || *j.p++ != ':')
				goto bad;
			jp_ws(&j);
			for (i = 0; i < F_N; i++)
				if (strcmp(key, names[i]) == 0)
					break;
			if (i < F_N) {
				if (v[i]) {
					set_err(err, errlen, "credentials JSON: duplicate %s",
					        names[i]);
					goto out;
				}
				if (j.p >= j.end || *j.p != '"') {
					set_err(err, errlen, "credentials JSON: %s is not a string",
					        names[i]);
					goto out;
				}
				if (jp_string(&j, &v[i]))
					goto bad;
			} else if (jp_skip(&j, 1)) {
				goto bad;
			}
			free(key);
			key = NULL;
			jp_ws(&j);
			if (j.p < j.end && *j.p == ',') {
				j.p++;
				continue;
			}
			if (j.p < j.end && *j.p == '}') {
				j.p++;
				break;
			}
			goto bad;
		}
	}
	jp_ws(&j);
	if (j.p != j.end)
		goto bad;
	if (v[F_CODE] && strcmp(v[F_CODE], "Success") != 0) {
		set_err(err, errlen, "credentials JSON: Code is not Success");
		goto out;
	}
	for (i = 0; i < F_CODE; i++) {
		if (!v[i] || !*v[i]) {
			set_err(err, errlen, "credentials JSON: %s missing or empty", names[i]);
			goto out;
		}
	}
	if (aws_parse_iso8601(v[F_EXP], strlen(v[F_EXP]), &out->expiration)) {
		set_err(err, errlen, "credentials JSON: Expiration is not an ISO-8601 time");
		goto out;
	}
	out->access_key_id = v[F_AKID];
	out->secret_access_key = v[F_SECRET];
	out->session_token = v[F_TOKEN];
	v[F_AKID] = v[F_SECRET] = v[F_TOKEN] = NULL;
	rc = 0;
	goto out;
bad:
	set_err(err, errlen, "credentials JSON is malformed");
out:
	free(key);
	for (i = 0; i < F_N; i++)
		wipe_free(v[i]);
	if (rc)
		out->expiration = 0;
	return rc;
}

/* ------------------------------------------------------------- identity */

/* The credential-chain environment, snapshot at aws_identity_new(). */
struct chain_cfg {
	char *home;
	char *profile;
	int profile_explicit; /* AWS_PROFILE was set */
	char *config_file, *credentials_file;
	char *env_akid, *env_secret, *env_token; /* secrets */
	char *wi_token_file, *wi_role_arn, *wi_session_name;
	char *container_rel, *container_full, *container_base;
	char *container_auth, *container_auth_file; /* auth is a secret */
	int imds_disabled;
	char *imds_endpoint;
};

struct aws_identity {
	struct aws_env env;
	struct chain_cfg cfg;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC; wakes the refresher */
	/* Guarded by mu. */
	struct aws_creds cur;
	int have;
	time_t refresh_at; /* wall clock; 0 = never */
	int invalidated;
	unsigned failures;    /* consecutive failed resolutions */
	uint64_t next_try_ms; /* monotonic; backoff after a failure */
	uint64_t last_try_ms;
	char last_error[256];
	int stop;
	/* Set by _free() to abort a transfer in progress on the refresher. */
	atomic_int abort_io;
	/* Owned by the thread that calls start/free. */
	int thread_started;
	int curl_inited;
	pthread_t thread;
};

static void chain_cfg_free(struct chain_cfg *c)
{
	free(c->home);
	free(c->profile);
	free(c->config_file);
	free(c->credentials_file);
	free(c->env_akid);
	wipe_free(c->env_secret);
	wipe_free(c->env_token);
	free(c->wi_token_file);
	free(c->wi_role_arn);
	free(c->wi_session_name);
	free(c->container_rel);
	free(c->container_full);
	free(c->container_base);
	wipe_free(c->container_auth);
	free(c->container_auth_file);
	free(c->imds_endpoint);
	memset(c, 0, sizeof(*c));
}

#define SNAP(field, var)                                                                           \
	do {                                                                                       \
		const char *v_ = env_get(var);                                                     \
		if (v_ && !(c->field = strdup(v_)))                                                \
			return -1;                                                                 \
	} while (0)

static int chain_cfg_load(struct chain_cfg *c)
{
	const char *v;

	memset(c, 0, sizeof(*c));
	if (!(c->home = home_dir()))
		return -1;
	c->profile_explicit = env_get("AWS_PROFILE") != NULL;
	if (!(c->profile = strdup(c->profile_explicit ? env_get("AWS_PROFILE") : "default")))
		return -1;
	if (!(c->config_file = shared_file("AWS_CONFIG_FILE", "config", c->home)) ||
	    !(c->credentials_file =
	          shared_file("AWS_SHARED_CREDENTIALS_FILE", "credentials", c->home)))
		return -1;
	SNAP(env_akid, "AWS_ACCESS_KEY_ID");
	SNAP(env_secret, "AWS_SECRET_ACCESS_KEY");
	SNAP(env_token, "AWS_SESSION_TOKEN");
	SNAP(wi_role_arn, "AWS_ROLE_ARN");
	SNAP(wi_session_name, "AWS_ROLE_SESSION_NAME");
	if ((v = env_get("AWS_WEB_IDENTITY_TOKEN_FILE")) &&
	    !(c->wi_token_file = expand_home(v, c->home)))
		return -1;
	SNAP(container_rel, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	SNAP(container_full, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
	SNAP(container_base, "SESGATE_TEST_CONTAINER_ENDPOINT");
	SNAP(container_auth, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
	SNAP(container_auth_file, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	v = env_get("AWS_EC2_METADATA_DISABLED");
	c->imds_disabled = v && strcasecmp(v, "true") == 0;
	if ((v = env_get("AWS_EC2_METADATA_SERVICE_ENDPOINT"))) {
		c->imds_endpoint = strdup(v);
	} else {
		v = env_get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
		c->imds_endpoint =
		    strdup(v && strcasecmp(v, "IPv6") == 0 ? IMDS_DEFAULT_V6 : IMDS_DEFAULT);
	}
	if (!c->imds_endpoint)
		return -1;
	/* No trailing slash: paths are appended. */
	while (*c->imds_endpoint && c->imds_endpoint[strlen(c->imds_endpoint) - 1] == '/')
		c->imds_endpoint[strlen(c->imds_endpoint) - 1] = '\0';
	return 0;
}

#undef SNAP

/* ------------------------------------------------------------------ HTTP */

struct http_req {
	const char *method; /* "GET", "POST", "PUT" */
	const char *url;
	struct curl_slist *headers;
	const char *body;
	size_t body_len;
	long connect_ms, total_ms;
	int tries;    /* attempts on transport failure (>= 1) */
	int metadata; /* IMDS/container: never through a proxy */
};

struct http_resp {
	long status;
	struct sbuf body; /* may hold secrets: wiped on free */
};

static size_t http_write_cb(char *d, size_t sz, size_t nm, void *arg)
{
	struct sbuf *b = arg;

	if (sbuf_add(b, d, sz * nm, RESPONSE_MAX))
		return 0; /* too large: abort the transfer */
	return sz * nm;
}

static int http_xfer_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct aws_identity *id = arg;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return atomic_load(&id->abort_io) ? 1 : 0;
}

/* Free a header list, wiping each line first (tokens, signatures). */
static void slist_wipe_free(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p; p = p->next)
		if (p->data)
			OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* Append "Name: value" (formatted) to @l; on failure frees the list and
 * returns NULL. */
static struct curl_slist *hdr_add(struct curl_slist *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct curl_slist *hdr_add(struct curl_slist *l, const char *fmt, ...)
{
	struct curl_slist *n;
	va_list ap;
	char *line;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (len < 0) {
		slist_wipe_free(l);
		return NULL;
	}
	n = curl_slist_append(l, line);
	OPENSSL_cleanse(line, (size_t)len);
	free(line);
	if (!n)
		slist_wipe_free(l);
	return n;
}

/*
 * One blocking HTTP exchange.  Returns 0 when an answer arrived (any
 * status; @rs owns the body), -1 on a transport failure or abort (@err).
 */
static int http_do(struct aws_identity *id, const struct http_req *rq, struct http_resp *rs,
                   char *err, size_t errlen)
{
	char ebuf[CURL_ERROR_SIZE];
	CURLcode cc = CURLE_OK;
	int attempt;

	memset(rs, 0, sizeof(*rs));
	for (attempt = 0; attempt < (rq->tries > 0 ? rq->tries : 1); attempt++) {
		CURL *h = curl_easy_init();

		if (!h) {
			set_err(err, errlen, "curl_easy_init failed");
			return -1;
		}
		sbuf_free(&rs->body);
		ebuf[0] = '\0';
		curl_easy_setopt(h, CURLOPT_URL, rq->url);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
		if (id->env.ca_bundle[0])
			curl_easy_setopt(h, CURLOPT_CAINFO, id->env.ca_bundle);
		if (rq->metadata)
			curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, rq->connect_ms);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, rq->total_ms);
		curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, rq->headers);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write_cb);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &rs->body);
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, http_xfer_cb);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, id);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
		if (strcmp(rq->method, "GET") != 0) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
			if (strcmp(rq->method, "POST") != 0)
				curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
		}
		cc = curl_easy_perform(h);
		if (cc == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
		curl_easy_cleanup(h);
		if (cc == CURLE_OK)
			return 0;
		if (cc == CURLE_ABORTED_BY_CALLBACK || cc == CURLE_WRITE_ERROR)
			break;
	}
	sbuf_free(&rs->body);
	if (cc == CURLE_ABORTED_BY_CALLBACK)
		set_err(err, errlen, "shutting down");
	else if (cc == CURLE_WRITE_ERROR)
		set_err(err, errlen, "answer larger than %u bytes", RESPONSE_MAX);
	else
		set_err(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(cc));
	return -1;
}

static void http_resp_free(struct http_resp *rs)
{
	sbuf_free(&rs->body);
}

/* ------------------------------------------------------------------- STS */

/* Append "&key=value" (form-encoded) to @b. */
static int form_add(struct sbuf *b, const char *key, const char *val)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	if ((b->len && sbuf_addc(b, '&', RESPONSE_MAX)) ||
	    sbuf_add(b, key, strlen(key), RESPONSE_MAX) || sbuf_addc(b, '=', RESPONSE_MAX))
		return -1;
	for (p = (const unsigned char *)val; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			if (sbuf_addc(b, (char)*p, RESPONSE_MAX))
				return -1;
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};

			if (sbuf_add(b, e, 3, RESPONSE_MAX))
				return -1;
		}
	}
	return 0;
}

/* Role session names and IAM role names: [\w+=,.@-]{min,max}. */
static int aws_name_valid(const char *s, size_t min, size_t max)
{
	size_t i, n = strlen(s);

	if (n < min || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_+=,.@-", s[i]))
			return 0;
	return 1;
}

/* @name if given (checked), else "sesgate-<unix time>". */
static int session_name(const char *name, char *out, size_t cap, char *err, size_t errlen)
{
	if (name) {
		if (!aws_name_valid(name, 2, 64)) {
			set_err(err, errlen, "role session name '%.64s' is not valid", name);
			return -1;
		}
		util_strlcpy(out, name, cap);
	} else {
		snprintf(out, cap, "sesgate-%lld", (long long)time(NULL));
	}
	return 0;
}

/*
 * POST @form (an STS query-protocol request for @action) to the STS
 * endpoint; signed with @signer unless it is NULL.  On 200 the credentials
 * of the answer go to @out.
 */
static int sts_call(struct aws_identity *id, const char *action, const struct sbuf *form,
                    const struct aws_creds *signer, struct aws_creds *out, char *err, size_t errlen)
{
	static const char ctype[] = "application/x-www-form-urlencoded; charset=utf-8";
	struct sigv4_result sig = {0};
	struct http_req rq = {0};
	struct http_resp rs;
	struct aws_temp_creds tc;
	struct url_parts u;
	struct curl_slist *h = NULL;
	char url[600], code[128], msg[256];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "%s/", id->env.sts_endpoint);
	if (url_split(url, &u)) {
		set_err(err, errlen, "bad STS endpoint");
		return -1;
	}
	if (!(h = hdr_add(h, "Content-Type: %s", ctype)) || !(h = hdr_add(h, "Expect:")))
		goto oom;
	if (signer) {
		struct sigv4_header sh[2] = {{"Host", u.authority}, {"Content-Type", ctype}};
		struct sigv4_request sr = {.method = "POST",
		                           .path = u.path,
		                           .headers = sh,
		                           .nheaders = 2,
		                           .payload = form->p,
		                           .payload_len = form->len};
		struct sigv4_credentials sc = {signer->access_key_id, signer->secret_access_key,
		                               signer->session_token};

		if (sigv4_sign(&sr, &sc, id->env.region, "sts", time(NULL), &sig)) {
			set_err(err, errlen, "sts %s: signing failed", action);
			goto done;
		}
		if (!(h = hdr_add(h, "Host: %s", u.authority)) ||
		    !(h = hdr_add(h, "X-Amz-Date: %s", sig.amz_date)) ||
		    !(h = hdr_add(h, "Authorization: %s", sig.authorization)) ||
		    (sig.security_token &&
		     !(h = hdr_add(h, "X-Amz-Security-Token: %s", sig.security_token))))
			goto oom;
	}
	rq.method = "POST";
	rq.url = url;
	rq.headers = h;
	rq.body = form->p;
	rq.body_len = form->len;
	rq.connect_ms = 3000;
	rq.total_ms = 10000;
	rq.tries = 2;
	if (http_do(id, &rq, &rs, err, errlen)) {
		char e[200];

		util_strlcpy(e, err, sizeof(e));
		set_err(err, errlen, "sts %s: %s", action, e);
		goto done;
	}
	if (rs.status == 200) {
		if (aws_sts_parse_assume_role(rs.body.p, rs.body.len, &tc) == 0) {
			out->access_key_id = tc.access_key_id;
			out->secret_access_key = tc.secret_access_key;
			out->session_token = tc.session_token;
			out->expiration = tc.expiration;
			rc = 0;
		} else {
			set_err(err, errlen, "sts %s: unreadable answer", action);
		}
	} else if (aws_xml_parse_error(rs.body.p, rs.body.len, code, sizeof(code), msg,
	                               sizeof(msg)) == 0) {
		set_err(err, errlen, "sts %s: HTTP %ld %s: %s", action, rs.status, code, msg);
	} else {
		set_err(err, errlen, "sts %s: HTTP %ld", action, rs.status);
	}
	http_resp_free(&rs);
	goto done;
oom:
	set_err(err, errlen, "out of memory");
	h = NULL; /* hdr_add freed it */
done:
	slist_wipe_free(h);
	sigv4_result_free(&sig);
	return rc;
}

static int sts_assume_role(struct aws_identity *id, const struct aws_creds *src,
                           const char *role_arn, const char *session, const char *external_id,
                           struct aws_creds *out, char *err, size_t errlen)
{
	struct sbuf form = {0};
	char sn[80];
	int rc = -1;

	if (session_name(session, sn, sizeof(sn), err, errlen))
		return -1;
	if (form_add(&form, "Action", "AssumeRole") || form_add(&form, "Version", "2011-06-15") ||
	    form_add(&form, "RoleArn", role_arn) || form_add(&form, "RoleSessionName", sn) ||
	    (external_id && form_add(&form, "ExternalId", external_id)))
		set_err(err, errlen, "out of memory");
	else
		rc = sts_call(id, "AssumeRole", &form, src, out, err, errlen);
	sbuf_free(&form);
	return rc;
}

/* AssumeRoleWithWebIdentity: unsigned; the token is read from @token_file
 * at every call because it is rotated underneath us (EKS, GitHub OIDC). */
static int sts_web_identity(struct aws_identity *id, const char *role_arn, const char *session,
                            const char *token_file, struct aws_creds *out, char *err, size_t errlen)
{
	struct sbuf form = {0}, tok;
	char sn[80];
	int rc = -1;

	if (session_name(session, sn, sizeof(sn), err, errlen))
		return -1;
	if (read_token_file(token_file, "web identity token file", &tok, err, errlen))
		return -1;
	if (form_add(&form, "Action", "AssumeRoleWithWebIdentity") ||
	    form_add(&form, "Version", "2011-06-15") || form_add(&form, "RoleArn", role_arn) ||
	    form_add(&form, "RoleSessionName", sn) || form_add(&form, "WebIdentityToken", tok.p))
		set_err(err, errlen, "out of memory");
	else
		rc = sts_call(id, "AssumeRoleWithWebIdentity", &form, NULL, out, err, errlen);
	sbuf_free(&tok);
	sbuf_free(&form);
	if (rc == 0)
		util_strlcpy(out->source, "web-identity", sizeof(out->source));
	return rc;
}

/* -------------------------------------------------------------- profiles */

static char **profile_field(struct aws_profile *p, int i)
{
	char **f[] = {&p->aws_access_key_id, &p->aws_secret_access_key,
	              &p->aws_session_token, &p->region,
	              &p->role_arn,          &p->source_profile,
	              &p->external_id,       &p->web_identity_token_file,
	              &p->role_session_name};

	return i < (int)(sizeof(f) / sizeof(f[0])) ? f[i] : NULL;
}

/*
 * Load profile @name from both shared files, credentials-file keys over
 * config-file keys (as botocore merges them); empty values count as absent.
 * *@keys_source names the file the access keys came from.  Returns 0, 1
 * when neither file has the profile, -1 on error (a malformed file makes
 * the SDKs refuse it whole, and so do we).
 */
static int profile_load(struct aws_identity *id, const char *name, struct aws_profile *out,
                        const char **keys_source, char *err, size_t errlen)
{
	const char *paths[2] = {id->cfg.config_file, id->cfg.credentials_file};
	struct aws_profile p[2];
	int found[2] = {0, 0}, i, k, rc;
	struct sbuf b;
	char **f, **g;

	memset(out, 0, sizeof(*out));
	memset(p, 0, sizeof(p));
	*keys_source = NULL;
	for (i = 0; i < 2; i++) {
		rc = read_file(paths[i], FILE_MAX, &b, err, errlen);
		if (rc < 0)
			goto fail;
		if (rc == 1)
			continue;
		rc = aws_ini_profile(b.p, b.len, name, i == 0, &p[i]);
		sbuf_free(&b);
		if (rc < 0) {
			set_err(err, errlen, "shared %s file %s is malformed",
			        i == 0 ? "config" : "credentials", paths[i]);
			goto fail;
		}
		found[i] = rc == 0;
	}
	if (!found[0] && !found[1])
		return 1;
	for (i = 0; i < 2; i++)
		for (k = 0; (f = profile_field(&p[i], k)); k++)
			if (*f && !**f) {
				free(*f);
				*f = NULL;
			}
	if (p[1].aws_access_key_id || p[1].aws_secret_access_key)
		*keys_source = "shared-credentials";
	else if (p[0].aws_access_key_id || p[0].aws_secret_access_key)
		*keys_source = "shared-config";
	*out = p[0];
	for (k = 0; (f = profile_field(out, k)); k++) {
		g = profile_field(&p[1], k);
		if (*g) {
			wipe_free(*f);
			*f = *g;
			*g = NULL;
		}
	}
	aws_profile_free(&p[1]);
	return 0;
fail:
	aws_profile_free(&p[0]);
	aws_profile_free(&p[1]);
	return -1;
}

/*
 * Credentials of profile @name: 0 in @out; 1 no such profile; 2 the
 * profile has no credentials; -1 error.  @chain holds the profiles above
 * this one (cycle detection).  As the source of another profile's role
 * (@as_source), static keys win over the profile's own role_arn, as in
 * botocore; at the top, role_arn wins.
 */
static int profile_creds(struct aws_identity *id, const char *name, int depth, const char **chain,
                         int as_source, struct aws_creds *out, char *err, size_t errlen)
{
	struct aws_creds src = {0};
	struct aws_profile p;
	const char *ksrc;
	int rc, i, keys;

	rc = profile_load(id, name, &p, &ksrc, err, errlen);
	if (rc)
		return rc;
	keys = p.aws_access_key_id || p.aws_secret_access_key;
	if (keys && (!p.aws_access_key_id || !p.aws_secret_access_key)) {
		set_err(err, errlen,
		        "profile %s: aws_access_key_id and aws_secret_access_key must both be set",
		        name);
		rc = -1;
	} else if (p.role_arn && !(as_source && keys)) {
		if (p.web_identity_token_file) {
			char *tf = expand_home(p.web_identity_token_file, id->cfg.home);

			if (tf)
				rc = sts_web_identity(id, p.role_arn, p.role_session_name, tf, out,
				                      err, errlen);
			else
				rc = -1;
			if (!tf)
				set_err(err, errlen, "out of memory");
			free(tf);
		} else if (p.source_profile) {
			chain[depth] = name;
			rc = 0;
			if (strcmp(p.source_profile, name) == 0) {
				if (!keys) {
					set_err(err, errlen,
					        "profile %s: source_profile is itself but it has "
					        "no keys",
					        name);
					rc = -1;
				} else {
					rc = creds_static(&src, p.aws_access_key_id,
					                  p.aws_secret_access_key,
					                  p.aws_session_token, ksrc);
					if (rc)
						set_err(err, errlen, "out of memory");
				}
			} else {
				for (i = 0; i <= depth; i++)
					if (strcmp(chain[i], p.source_profile) == 0)
						break;
				if (i <= depth) {
					set_err(err, errlen,
					        "profile %s: source_profile loop via %s", name,
					        p.source_profile);
					rc = -1;
				} else if (depth + 1 >= PROFILE_MAX_DEPTH) {
					set_err(err, errlen,
					        "profile %s: source_profile chain longer than %d",
					        name, PROFILE_MAX_DEPTH);
					rc = -1;
				} else {
					rc = profile_creds(id, p.source_profile, depth + 1, chain,
					                   1, &src, err, errlen);
					if (rc > 0)
						set_err(
						    err, errlen, "profile %s: source_profile %s %s",
						    name, p.source_profile,
						    rc == 1 ? "not found" : "has no credentials");
					if (rc > 0)
						rc = -1;
				}
			}
			if (rc == 0)
				rc = sts_assume_role(id, &src, p.role_arn, p.role_session_name,
				                     p.external_id, out, err, errlen);
			if (rc == 0)
				util_strlcpy(out->source, "assume-role(profile)",
				             sizeof(out->source));
			aws_creds_free(&src);
		} else {
			set_err(
			    err, errlen,
			    "profile %s: role_arn needs source_profile or web_identity_token_file "
			    "(credential_source is not supported)",
			    name);
			rc = -1;
		}
	} else if (keys) {
		rc = creds_static(out, p.aws_access_key_id, p.aws_secret_access_key,
		                  p.aws_session_token, ksrc);
		if (rc)
			set_err(err, errlen, "out of memory");
	} else {
		rc = 2;
	}
	aws_profile_free(&p);
	return rc;
}

/* ------------------------------------------------ container and IMDS */

static int container_creds(struct aws_identity *id, struct aws_creds *out, char *err, size_t errlen)
{
	const struct chain_cfg *c = &id->cfg;
	struct http_req rq = {0};
	struct http_resp rs;
	struct curl_slist *h = NULL;
	struct sbuf auth = {0};
	char url[1024];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (c->container_full) {
		util_strlcpy(url, c->container_full, sizeof(url));
	} else {
		if (c->container_rel[0] != '/') {
			set_err(err, errlen,
			        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with /");
			return -1;
		}
		snprintf(url, sizeof(url), "%s%s",
		         c->container_base ? c->container_base : ECS_AGENT_BASE, c->container_rel);
	}
	if (!aws_container_url_allowed(url)) {
		set_err(err, errlen,
		        "container credentials URL %.200s is not allowed (https, or http to "
		        "loopback or the ECS/EKS agent only)",
		        url);
		return -1;
	}
	if (c->container_auth_file) {
		if (read_token_file(c->container_auth_file,
		                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &auth, err, errlen))
			return -1;
	} else if (c->container_auth &&
	           sbuf_add(&auth, c->container_auth, strlen(c->container_auth), TOKEN_FILE_MAX)) {
		set_err(err, errlen, "container authorization token too long");
		return -1;
	}
	if (auth.p && strpbrk(auth.p, "\r\n")) {
		set_err(err, errlen, "container authorization token contains a line break");
		goto done;
	}
	if (!(h = hdr_add(h, "Accept: application/json")) ||
	    (auth.p && !(h = hdr_add(h, "Authorization: %s", auth.p)))) {
		set_err(err, errlen, "out of memory");
		goto done;
	}
	rq.method = "GET";
	rq.url = url;
	rq.headers = h;
	rq.connect_ms = 2000;
	rq.total_ms = 5000;
	rq.tries = 2;
	rq.metadata = 1;
	if (http_do(id, &rq, &rs, err, errlen)) {
		char e[200];

		util_strlcpy(e, err, sizeof(e));
		set_err(err, errlen, "container credentials endpoint: %s", e);
		goto done;
	}
	if (rs.status != 200)
		set_err(err, errlen, "container credentials endpoint answered HTTP %ld", rs.status);
	else if (aws_creds_parse_json(rs.body.p, rs.body.len, out, err, errlen) == 0)
		rc = 0;
	http_resp_free(&rs);
	if (rc == 0)
		util_strlcpy(out->source, "container", sizeof(out->source));
done:
	slist_wipe_free(h);
	sbuf_free(&auth);
	return rc;
}

/* One IMDS GET of @path with the session token; the body in @rs on 200. */
static int imds_get(struct aws_identity *id, const char *token, const char *path,
                    struct http_resp *rs, char *err, size_t errlen)
{
	struct http_req rq = {0};
	struct curl_slist *h;
	char url[1200];
	int rc;

	snprintf(url, sizeof(url), "%s%s", id->cfg.imds_endpoint, path);
	if (!(h = hdr_add(NULL, "X-aws-ec2-metadata-token: %s", token))) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	rq.method = "GET";
	rq.url = url;
	rq.headers = h;
	rq.connect_ms = 1000;
	rq.total_ms = 2000;
	rq.tries = 2;
	rq.metadata = 1;
	rc = http_do(id, &rq, rs, err, errlen);
	slist_wipe_free(h);
	if (rc == 0 && rs->status != 200) {
		set_err(err, errlen, "IMDS GET %s answered HTTP %ld%s", path, rs->status,
		        rs->status == 404 ? " (no IAM role attached to this instance?)" : "");
		http_resp_free(rs);
		rc = -1;
	}
	return rc;
}

/* IMDSv2 only (no fallback to v1).  *@unreachable is set when the token
 * request got no answer at all: not on EC2, so the chain has no source. */
static int imds_creds(struct aws_identity *id, struct aws_creds *out, int *unreachable, char *err,
                      size_t errlen)
{
	struct http_req rq = {0};
	struct http_resp rs;
	struct curl_slist *h;
	struct sbuf token = {0};
	char url[1200], role[80], path[200];
	size_t n;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	*unreachable = 0;
	snprintf(url, sizeof(url), "%s/latest/api/token", id->cfg.imds_endpoint);
	if (!(h = hdr_add(NULL, "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL)) ||
	    !(h = hdr_add(h, "Content-Type:"))) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	rq.method = "PUT";
	rq.url = url;
	rq.headers = h;
	rq.connect_ms = 1000;
	rq.total_ms = 2000;
	rq.tries = 2;
	rq.metadata = 1;
	if (http_do(id, &rq, &rs, err, errlen)) {
		char e[200];

		util_strlcpy(e, err, sizeof(e));
		set_err(err, errlen, "IMDS not reachable at %.200s: %s", id->cfg.imds_endpoint, e);
		*unreachable = 1;
		slist_wipe_free(h);
		return -1;
	}
	slist_wipe_free(h);
	if (rs.status != 200) {
		set_err(err, errlen, "IMDS token request answered HTTP %ld", rs.status);
		http_resp_free(&rs);
		return -1;
	}
	token = rs.body;
	memset(&rs.body, 0, sizeof(rs.body));
	trim_ws(&token);
	if (!token.len || strpbrk(token.p, "\r\n")) {
		set_err(err, errlen, "IMDS token answer is not a token");
		goto done;
	}
	if (imds_get(id, token.p, IMDS_CREDS_PATH, &rs, err, errlen))
		goto done;
	n = rs.body.p ? strcspn(rs.body.p, "\r\n") : 0;
	if (n == 0 || n >= sizeof(role)) {
		set_err(err, errlen, "IMDS lists no usable IAM role");
		http_resp_free(&rs);
		goto done;
	}
	memcpy(role, rs.body.p, n);
	role[n] = '\0';
	http_resp_free(&rs);
	if (!aws_name_valid(role, 1, 64)) {
		/* Refuse anything but an IAM role name rather than put it in
		 * a URL. */
		set_err(err, errlen, "IMDS role name is not valid");
		goto done;
	}
	snprintf(path, sizeof(path), "%s%s", IMDS_CREDS_PATH, role);
	if (imds_get(id, token.p, path, &rs, err, errlen))
		goto done;
	if (aws_creds_parse_json(rs.body.p, rs.body.len, out, err, errlen) == 0) {
		util_strlcpy(out->source, "imds", sizeof(out->source));
		rc = 0;
	}
	http_resp_free(&rs);
done:
	sbuf_free(&token);
	return rc;
}

/* ----------------------------------------------------------------- chain */

/* Walk the chain once.  0 with @out filled, or -1 with @err. */
static int chain_resolve(struct aws_identity *id, struct aws_creds *out, char *err, size_t errlen)
{
	const struct chain_cfg *c = &id->cfg;
	const char *chain[PROFILE_MAX_DEPTH];
	char ierr[200];
	int rc, unreachable;

	memset(out, 0, sizeof(*out));
	/* 1. environment */
	if (c->env_akid || c->env_secret) {
		if (!c->env_akid || !c->env_secret) {
			set_err(err, errlen,
			        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set");
			return -1;
		}
		if (creds_static(out, c->env_akid, c->env_secret, c->env_token, "env")) {
			set_err(err, errlen, "out of memory");
			return -1;
		}
		return 0;
	}
	/* 2. shared files */
	rc = profile_creds(id, c->profile, 0, chain, 0, out, err, errlen);
	if (rc <= 0)
		return rc;
	if (rc == 1 && c->profile_explicit) {
		set_err(err, errlen, "profile %s (AWS_PROFILE) is in neither %s nor %s", c->profile,
		        c->credentials_file, c->config_file);
		return -1;
	}
	/* 3. web identity */
	if (c->wi_token_file && c->wi_role_arn)
		return sts_web_identity(id, c->wi_role_arn, c->wi_session_name, c->wi_token_file,
		                        out, err, errlen);
	/* 4. container */
	if (c->container_full || c->container_rel)
		return container_creds(id, out, err, errlen);
	/* 5. IMDS */
	if (!c->imds_disabled) {
		if (imds_creds(id, out, &unreachable, ierr, sizeof(ierr)) == 0)
			return 0;
		if (!unreachable) {
			set_err(err, errlen, "%s", ierr);
			return -1;
		}
	} else {
		util_strlcpy(ierr, "AWS_EC2_METADATA_DISABLED is true", sizeof(ierr));
	}
	set_err(err, errlen,
	        "no AWS credentials found (environment, profile %s, web identity, container; "
	        "%s)",
	        c->profile, ierr);
	return -1;
}

static void fmt_expiration(time_t t, char *out, size_t cap)
{
	if (t)
		util_iso8601((uint64_t)t, out, cap);
	else
		util_strlcpy(out, "never", cap);
}

/* Resolve once and publish the outcome.  Logs outside the mutex so a slow
 * log sink cannot stall aws_identity_get(). */
static void identity_refresh(struct aws_identity *id)
{
	struct aws_creds fresh, old = {0};
	char err[256] = "", akid[128] = "", src[32] = "", exp[32];
	unsigned failures = 0, wait_s = 0;
	time_t expiration = 0;
	int rc;

	rc = chain_resolve(id, &fresh, err, sizeof(err));
	pthread_mutex_lock(&id->mu);
	id->last_try_ms = util_mono_ms();
	if (rc == 0) {
		old = id->cur;
		id->cur = fresh;
		id->have = 1;
		id->failures = 0;
		id->next_try_ms = 0;
		id->last_error[0] = '\0';
		id->refresh_at = aws_creds_refresh_at(fresh.expiration, time(NULL));
		util_strlcpy(akid, fresh.access_key_id, sizeof(akid));
		util_strlcpy(src, fresh.source, sizeof(src));
		expiration = fresh.expiration;
	} else {
		failures = ++id->failures;
		wait_s = aws_creds_backoff(failures);
		id->next_try_ms = id->last_try_ms + (uint64_t)wait_s * 1000;
		util_strlcpy(id->last_error, err, sizeof(id->last_error));
		if (id->have && id->cur.expiration && id->cur.expiration <= time(NULL)) {
			old = id->cur;
			memset(&id->cur, 0, sizeof(id->cur));
			id->have = 0;
		}
	}
	pthread_mutex_unlock(&id->mu);
	aws_creds_free(&old);
	if (rc == 0) {
		fmt_expiration(expiration, exp, sizeof(exp));
		log_kv(LOG_NOTICE, "aws_credentials", "source", src, "access_key_id", akid,
		       "expiration", exp, NULL);
	} else {
		char n[16], w[16];

		snprintf(n, sizeof(n), "%u", failures);
		snprintf(w, sizeof(w), "%us", wait_s);
		log_kv(LOG_WARNING, "aws_credentials_failed", "error", err, "failures", n,
		       "retry_in", w, NULL);
	}
}

/*
 * Is a resolution due?  If not, *@wait_ms says how long to sleep.  Called
 * with the mutex held.  Backoff holds back everything, invalidations
 * included; invalidations are otherwise served at most once a second.
 */
static int identity_due(const struct aws_identity *id, time_t now, uint64_t now_ms,
                        uint64_t *wait_ms)
{
	uint64_t at;

	if (id->failures) {
		at = id->next_try_ms;
	} else if (id->invalidated) {
		at = id->last_try_ms + INVALIDATE_MIN_MS;
	} else if (id->have && id->refresh_at) {
		if (now >= id->refresh_at)
			return 1;
		*wait_ms = (uint64_t)(id->refresh_at - now) * 1000;
		return 0;
	} else {
		*wait_ms = UINT64_MAX; /* static keys: only an invalidation wakes us */
		return 0;
	}
	if (now_ms >= at)
		return 1;
	*wait_ms = at - now_ms;
	return 0;
}

static void *identity_main(void *arg)
{
	struct aws_identity *id = arg;
	struct timespec ts;
	uint64_t wait_ms = 0;

	pthread_mutex_lock(&id->mu);
	while (!id->stop) {
		if (identity_due(id, time(NULL), util_mono_ms(), &wait_ms)) {
			id->invalidated = 0;
			pthread_mutex_unlock(&id->mu);
			identity_refresh(id);
			pthread_mutex_lock(&id->mu);
			continue;
		}
		/* Wake at least every minute: the refresh time is wall clock,
		 * which may jump. */
		if (wait_ms > 60000)
			wait_ms = 60000;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(wait_ms / 1000);
		ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&id->cv, &id->mu, &ts);
	}
	pthread_mutex_unlock(&id->mu);
	return NULL;
}

struct aws_identity *aws_identity_new(const struct aws_env *env)
{
	struct aws_identity *id = calloc(1, sizeof(*id));
	pthread_condattr_t ca;

	if (!id)
		return NULL;
	id->env = *env;
	atomic_init(&id->abort_io, 0);
	if (chain_cfg_load(&id->cfg)) {
		chain_cfg_free(&id->cfg);
		free(id);
		return NULL;
	}
	pthread_mutex_init(&id->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&id->cv, &ca);
	pthread_condattr_destroy(&ca);
	return id;
}

int aws_identity_start(struct aws_identity *id)
{
	int have;

	if (id->thread_started)
		return AWS_IDENTITY_FAILED;
	if (!id->curl_inited) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return AWS_IDENTITY_FAILED;
		id->curl_inited = 1;
	}
	identity_refresh(id);
	if (pthread_create(&id->thread, NULL, identity_main, id))
		return AWS_IDENTITY_FAILED;
	id->thread_started = 1;
	pthread_mutex_lock(&id->mu);
	have = id->have;
	pthread_mutex_unlock(&id->mu);
	return have ? AWS_IDENTITY_READY : AWS_IDENTITY_PENDING;
}

/* Credentials are held and not expired; call with id->mu held. */
static int usable_locked(const struct aws_identity *id)
{
	return id->have && (id->cur.expiration == 0 || time(NULL) < id->cur.expiration);
}

int aws_identity_get(struct aws_identity *id, struct aws_creds *out)
{
	int rc = -1;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&id->mu);
	if (usable_locked(id))
		rc = aws_creds_copy(out, &id->cur);
	pthread_mutex_unlock(&id->mu);
	return rc;
}

int aws_identity_ready(struct aws_identity *id)
{
	pthread_mutex_lock(&id->mu);
	int ok = usable_locked(id);
	pthread_mutex_unlock(&id->mu);
	return ok;
}

void aws_identity_invalidate(struct aws_identity *id, const char *access_key_id)
{
	pthread_mutex_lock(&id->mu);
	if (!access_key_id || !id->have || strcmp(id->cur.access_key_id, access_key_id) == 0) {
		id->invalidated = 1;
		pthread_cond_signal(&id->cv);
	}
	pthread_mutex_unlock(&id->mu);
}

void aws_identity_status(struct aws_identity *id, char *source, size_t sourcelen, char *akid_prefix,
                         size_t akidlen, time_t *expiration, char *last_error, size_t errlen)
{
	pthread_mutex_lock(&id->mu);
	if (source && sourcelen)
		util_strlcpy(source, id->have ? id->cur.source : "", sourcelen);
	if (akid_prefix && akidlen) {
		const char *a = id->have ? id->cur.access_key_id : "";
		size_t n = strlen(a);

		if (n > 8)
			snprintf(akid_prefix, akidlen, "%.4s...%s", a, a + n - 4);
		else
			snprintf(akid_prefix, akidlen, "%.4s", a);
	}
	if (expiration)
		*expiration = id->have ? id->cur.expiration : 0;
	if (last_error && errlen)
		util_strlcpy(last_error, id->last_error, errlen);
	pthread_mutex_unlock(&id->mu);
}

void aws_identity_free(struct aws_identity *id)
{
	if (!id)
		return;
	if (id->thread_started) {
		pthread_mutex_lock(&id->mu);
		id->stop = 1;
		pthread_cond_signal(&id->cv);
		pthread_mutex_unlock(&id->mu);
		atomic_store(&id->abort_io, 1);
		pthread_join(id->thread, NULL);
	}
	pthread_cond_destroy(&id->cv);
	pthread_mutex_destroy(&id->mu);
	aws_creds_free(&id->cur);
	chain_cfg_free(&id->cfg);
	if (id->curl_inited)
		curl_global_cleanup();
	OPENSSL_cleanse(id, sizeof(*id));
	free(id);
}
