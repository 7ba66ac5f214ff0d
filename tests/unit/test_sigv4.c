/*
 * Unit tests of AWS SigV4 signing (src/aws/sigv4.c) against the official
 * AWS SigV4 test suite in tests/data/sigv4, plus a few edge cases the suite
 * does not cover.  Each suite case's .req file is parsed as an HTTP/1.1
 * request, signed with the suite's fixed credentials and time, and the
 * canonical request, string to sign and Authorization value are compared
 * byte for byte with .creq, .sts and .authz.  A missing data directory is
 * a failure, never a skip: a silently empty test run proves nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aws/sigv4.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define REGION "us-east-1"
#define SERVICE "service"
#define NOW ((time_t)1440938160)	/* 20150830T123600Z */
#define MAX_HDRS 32

/* From post-sts-token/readme.txt. */
#define STS_TOKEN "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
/* The value get-vanilla-with-session-token/.creq expects. */
#define VANILLA_TOKEN "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"

struct vcase {
	const char *dir;	/* relative to the data dir; basename = case */
	const char *token;	/* session token, or NULL */
	unsigned int flags;
};

static const struct vcase cases[] = {
	{ "get-header-key-duplicate", NULL, 0 },
	{ "get-header-value-multiline", NULL, 0 },
	{ "get-header-value-order", NULL, 0 },
	{ "get-header-value-trim", NULL, 0 },
	{ "get-unreserved", NULL, 0 },
	{ "get-utf8", NULL, 0 },
	{ "get-vanilla", NULL, 0 },
	{ "get-vanilla-empty-query-key", NULL, 0 },
	{ "get-vanilla-query", NULL, 0 },
	{ "get-vanilla-query-order-encoded", NULL, 0 },
	{ "get-vanilla-query-order-key", NULL, 0 },
	{ "get-vanilla-query-order-key-case", NULL, 0 },
	{ "get-vanilla-query-order-value", NULL, 0 },
	{ "get-vanilla-query-unreserved", NULL, 0 },
	{ "get-vanilla-utf8-query", NULL, 0 },
	{ "get-vanilla-with-session-token", VANILLA_TOKEN, 0 },
	{ "normalize-path/get-relative", NULL, 0 },
	{ "normalize-path/get-relative-relative", NULL, 0 },
	{ "normalize-path/get-slash", NULL, 0 },
	{ "normalize-path/get-slash-dot-slash", NULL, 0 },
	{ "normalize-path/get-slash-pointless-dot", NULL, 0 },
	{ "normalize-path/get-slashes", NULL, 0 },
	{ "normalize-path/get-space", NULL, 0 },
	{ "normalize-path/get-special-character", NULL, 0 },
	{ "post-header-key-case", NULL, 0 },
	{ "post-header-key-sort", NULL, 0 },
	{ "post-header-value-case", NULL, 0 },
	{ "post-sts-token/post-sts-header-after", STS_TOKEN, SIGV4_TOKEN_UNSIGNED },
	{ "post-sts-token/post-sts-header-before", STS_TOKEN, 0 },
	{ "post-vanilla", NULL, 0 },
	{ "post-vanilla-empty-query-value", NULL, 0 },
	{ "post-vanilla-query", NULL, 0 },
	{ "post-x-www-form-urlencoded", NULL, 0 },
	{ "post-x-www-form-urlencoded-parameters", NULL, 0 },
};

/* ---- data location ---------------------------------------------------- */

static char datadir[4096];

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* SESGATE_SRCDIR or automake's srcdir first, then the usual spots relative
 * to where the test binary tends to be run from. */
static int find_datadir(void)
{
	static const char *const envs[] = { "SESGATE_SRCDIR", "srcdir" };
	static const char *const subs[] = { "/tests/data/sigv4", "/data/sigv4",
					    "/../tests/data/sigv4" };
	static const char *const rel[] = { "tests/data/sigv4",
					   "../tests/data/sigv4",
					   "../../tests/data/sigv4" };

	for (size_t e = 0; e < 2; e++) {
		const char *base = getenv(envs[e]);

		if (!base || !*base)
			continue;
		for (size_t s = 0; s < 3; s++) {
			snprintf(datadir, sizeof(datadir), "%s%s", base, subs[s]);
			if (is_dir(datadir))
				return 0;
		}
	}
	for (size_t r = 0; r < 3; r++) {
		snprintf(datadir, sizeof(datadir), "%s", rel[r]);
		if (is_dir(datadir))
			return 0;
	}
	datadir[0] = '\0';
	return -1;
}

/* Whole file, NUL-terminated; NULL if unreadable. */
static char *slurp(const char *dir, const char *ext, size_t *lenp)
{
	const char *base = strrchr(dir, '/');
	char path[8192];
	size_t cap = 4096, len = 0, n;
	char *buf;
	FILE *f;

	base = base ? base + 1 : dir;
	snprintf(path, sizeof(path), "%s/%s/%s.%s", datadir, dir, base, ext);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	buf = malloc(cap);
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len - 1 == 0) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf)
		buf[len] = '\0';
	if (lenp)
		*lenp = len;
	return buf;
}

/* ---- minimal HTTP/1.1 request parser ---------------------------------- */

struct parsed {
	char *method, *path, *query;
	struct sigv4_header hdr[MAX_HDRS];
	char *names[MAX_HDRS], *values[MAX_HDRS];
	size_t nhdr;
	const char *body;
	size_t body_len;
};

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	assert_non_null(d);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* Append a folded continuation line: obs-fold is replaced by one space
 * (RFC 7230 3.2.4); the signer then collapses the whitespace. */
static void append_fold(char **v, const char *s, size_t n)
{
	size_t ol = strlen(*v);
	char *nv = realloc(*v, ol + 1 + n + 1);

	assert_non_null(nv);
	nv[ol] = ' ';
	memcpy(nv + ol + 1, s, n);
	nv[ol + 1 + n] = '\0';
	*v = nv;
}

/*
 * The request target is taken as everything between the first and the last
 * space of the request line, so that normalize-path/get-space (a raw space
 * in the path, which strict HTTP/1.1 forbids) is still parsed as intended.
 */
static void parse_req(char *buf, size_t len, struct parsed *pr)
{
	char *p = buf, *end = buf + len, *nl, *sp1, *sp2, *q;

	memset(pr, 0, sizeof(*pr));
	nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl)
		nl = end;
	sp1 = memchr(p, ' ', (size_t)(nl - p));
	assert_non_null(sp1);
	for (sp2 = nl - 1; sp2 > sp1 && *sp2 != ' '; sp2--)
		;
	assert_true(sp2 > sp1);
	assert_memory_equal(sp2 + 1, "HTTP/1.1", 8);
	pr->method = dupn(p, (size_t)(sp1 - p));
	q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	if (q) {
		pr->path = dupn(sp1 + 1, (size_t)(q - sp1 - 1));
		pr->query = dupn(q + 1, (size_t)(sp2 - q - 1));
	} else {
		pr->path = dupn(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	}
	p = nl < end ? nl + 1 : end;

	while (p < end) {
		char *le, *colon;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		le = nl;
		if (le > p && le[-1] == '\r')
			le--;
		if (le == p) {		/* blank line: body follows */
			p = nl < end ? nl + 1 : end;
			pr->body = p;
			pr->body_len = (size_t)(end - p);
			return;
		}
		if (*p == ' ' || *p == '\t') {
			assert_true(pr->nhdr > 0);
			while (p < le && (*p == ' ' || *p == '\t'))
				p++;
			append_fold(&pr->values[pr->nhdr - 1], p, (size_t)(le - p));
		} else {
			colon = memchr(p, ':', (size_t)(le - p));
			assert_non_null(colon);
			assert_true(pr->nhdr < MAX_HDRS);
			pr->names[pr->nhdr] = dupn(p, (size_t)(colon - p));
			pr->values[pr->nhdr] = dupn(colon + 1,
						    (size_t)(le - colon - 1));
			pr->nhdr++;
		}
		p = nl < end ? nl + 1 : end;
	}
	pr->body = end;
	pr->body_len = 0;
}

static void parsed_free(struct parsed *pr)
{
	free(pr->method);
	free(pr->path);
	free(pr->query);
	for (size_t i = 0; i < pr->nhdr; i++) {
		free(pr->names[i]);
		free(pr->values[i]);
	}
}

/* ---- suite cases ------------------------------------------------------ */

static void expect_file(const char *dir, const char *ext, const char *got)
{
	char *want = slurp(dir, ext, NULL);

	if (!want)
		fail_msg("%s: cannot read .%s in %s", dir, ext, datadir);
	if (strcmp(want, got) != 0) {
		print_error("%s.%s mismatch\n--- want\n%s\n--- got\n%s\n", dir,
			    ext, want, got);
		free(want);
		fail();
	}
	free(want);
}

static void run_case(void **state)
{
	const struct vcase *vc = *state;
	struct sigv4_credentials cr = { AKID, SECRET, vc->token };
	struct sigv4_result res;
	struct sigv4_request rq;
	struct parsed pr;
	size_t len;
	char *raw;

	if (!datadir[0])
		fail_msg("SigV4 test data directory not found");
	raw = slurp(vc->dir, "req", &len);
	if (!raw)
		fail_msg("%s: cannot read .req in %s", vc->dir, datadir);
	parse_req(raw, len, &pr);
	for (size_t i = 0; i < pr.nhdr; i++) {
		pr.hdr[i].name = pr.names[i];
		pr.hdr[i].value = pr.values[i];
	}
	rq = (struct sigv4_request){
		.method = pr.method, .path = pr.path, .query = pr.query,
		.headers = pr.hdr, .nheaders = pr.nhdr,
		.payload = pr.body, .payload_len = pr.body_len,
		.flags = vc->flags,
	};
	assert_int_equal(sigv4_sign(&rq, &cr, REGION, SERVICE, NOW, &res), 0);
	assert_string_equal(res.amz_date, "20150830T123600Z");
	expect_file(vc->dir, "creq", res.canonical_request);
	expect_file(vc->dir, "sts", res.string_to_sign);
	expect_file(vc->dir, "authz", res.authorization);
	if (vc->token)
		assert_string_equal(res.security_token, vc->token);
	else
		assert_null(res.security_token);
	sigv4_result_free(&res);
	parsed_free(&pr);
	free(raw);
}

static void test_datadir(void **state)
{
	if (!datadir[0])
		fail_msg("SigV4 test data directory not found (set SESGATE_SRCDIR)");
}

/* ---- edge cases outside the suite ------------------------------------- */

static const struct sigv4_header host_only[] = {
	{ "Host", "example.amazonaws.com" },
};
static const struct sigv4_credentials creds = { AKID, SECRET, NULL };

/* Returns the canonical URI line of signing @path with @flags. */
static char *uri_of(const char *path, unsigned int flags)
{
	struct sigv4_request rq = { .method = "GET", .path = path,
				    .headers = host_only, .nheaders = 1,
				    .flags = flags };
	struct sigv4_result res;
	char *line, *nl;

	assert_int_equal(sigv4_sign(&rq, &creds, REGION, SERVICE, NOW, &res), 0);
	line = res.canonical_request + 4;	/* after "GET\n" */
	nl = strchr(line, '\n');
	line = dupn(line, (size_t)(nl - line));
	sigv4_result_free(&res);
	return line;
}

static void check_uri(const char *path, unsigned int flags, const char *want)
{
	char *got = uri_of(path, flags);

	assert_string_equal(got, want);
	free(got);
}

static void test_paths(void **state)
{
	check_uri("", 0, "/");
	check_uri("/a/b/..", 0, "/a/");
	check_uri("/a/b/.", 0, "/a/b/");
	check_uri("/../../a", 0, "/a");
	check_uri("/a%20b", 0, "/a%2520b");	/* non-S3 double encoding */
	check_uri("/a%20b//c/../d", SIGV4_S3_PATH, "/a%20b//c/../d");
}

static void test_query_decode(void **state)
{
	struct sigv4_request rq = { .method = "GET", .path = "/",
				    .query = "b=%7e&a=x+y&&c&d=%zz",
				    .headers = host_only, .nheaders = 1 };
	struct sigv4_result res;

	assert_int_equal(sigv4_sign(&rq, &creds, REGION, SERVICE, NOW, &res), 0);
	assert_non_null(strstr(res.canonical_request,
			       "\na=x%2By&b=~&c=&d=%25zz\n"));
	sigv4_result_free(&res);
}

static void test_content_sha_and_unsigned(void **state)
{
	struct sigv4_request rq = { .method = "PUT", .path = "/",
				    .headers = host_only, .nheaders = 1,
				    .payload_hash = "UNSIGNED-PAYLOAD",
				    .flags = SIGV4_ADD_CONTENT_SHA256 };
	struct sigv4_result res;

	assert_int_equal(sigv4_sign(&rq, &creds, REGION, SERVICE, NOW, &res), 0);
	assert_string_equal(res.content_sha256, "UNSIGNED-PAYLOAD");
	assert_non_null(strstr(res.canonical_request,
			       "x-amz-content-sha256:UNSIGNED-PAYLOAD\n"));
	assert_non_null(strstr(res.authorization,
			       "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
	assert_true(strlen(res.canonical_request) > 16);
	assert_string_equal(res.canonical_request +
			    strlen(res.canonical_request) - 16,
			    "UNSIGNED-PAYLOAD");
	sigv4_result_free(&res);
}

static void test_rejects(void **state)
{
	struct sigv4_header bad[] = { { "Host", "h" }, { "X-A", "v\r\nX-B: w" } };
	struct sigv4_header badname[] = { { "Host", "h" }, { "X A", "v" } };
	struct sigv4_request rq = { .method = "GET", .path = "/",
				    .headers = bad, .nheaders = 2 };
	struct sigv4_credentials tok = { AKID, SECRET, "t\nx" };
	struct sigv4_result res;

	assert_int_equal(sigv4_sign(&rq, &creds, REGION, SERVICE, NOW, &res),
			 -EINVAL);
	assert_null(res.authorization);
	rq.headers = badname;
	assert_int_equal(sigv4_sign(&rq, &creds, REGION, SERVICE, NOW, &res),
			 -EINVAL);
	rq.headers = host_only;
	rq.nheaders = 1;
	assert_int_equal(sigv4_sign(&rq, &tok, REGION, SERVICE, NOW, &res),
			 -EINVAL);
	assert_int_equal(sigv4_sign(&rq, &creds, "us/east", SERVICE, NOW, &res),
			 -EINVAL);
	assert_int_equal(sigv4_sign(NULL, &creds, REGION, SERVICE, NOW, &res),
			 -EINVAL);
	sigv4_result_free(&res);
}

/* The secret must not leak into anything the signer returns. */
static void test_no_secret_in_output(void **state)
{
	struct sigv4_request rq = { .method = "GET", .path = "/",
				    .headers = host_only, .nheaders = 1 };
	struct sigv4_result res;

	assert_int_equal(sigv4_sign(&rq, &creds, REGION, SERVICE, NOW, &res), 0);
	assert_null(strstr(res.canonical_request, SECRET));
	assert_null(strstr(res.string_to_sign, SECRET));
	assert_null(strstr(res.authorization, SECRET));
	sigv4_result_free(&res);
}

int main(void)
{
	struct CMUnitTest tests[sizeof(cases) / sizeof(cases[0]) + 6];
	size_t n = 0;

	find_datadir();
	tests[n++] = (struct CMUnitTest){ "data_dir", test_datadir, NULL, NULL, NULL };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		tests[n++] = (struct CMUnitTest){ cases[i].dir, run_case, NULL,
						  NULL, (void *)&cases[i] };
	tests[n++] = (struct CMUnitTest){ "paths", test_paths, NULL, NULL, NULL };
	tests[n++] = (struct CMUnitTest){ "query_decode", test_query_decode,
					  NULL, NULL, NULL };
	tests[n++] = (struct CMUnitTest){ "content_sha_and_unsigned",
					  test_content_sha_and_unsigned, NULL,
					  NULL, NULL };
	tests[n++] = (struct CMUnitTest){ "rejects", test_rejects, NULL, NULL,
					  NULL };
	tests[n++] = (struct CMUnitTest){ "no_secret_in_output",
					  test_no_secret_in_output, NULL, NULL,
					  NULL };
	return _cmocka_run_group_tests("sigv4", tests, n, NULL, NULL);
}
