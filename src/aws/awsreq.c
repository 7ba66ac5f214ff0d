/*
 * awsreq.c - see awsreq.h.
 */
#include "aws/awsreq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int awsreq_split_url(const char *url, char *host, size_t hostcap, char *base, size_t basecap)
{
	const char *p;
	if (strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else
		return -1;
	size_t hl = strcspn(p, "/?#");
	if (hl == 0 || hl >= hostcap || memchr(p, '@', hl))
		return -1;
	memcpy(host, p, hl);
	host[hl] = '\0';
	p += hl;
	if (strpbrk(p, "?# \t\r\n"))
		return -1;
	size_t bl = strlen(p);
	while (bl > 0 && p[bl - 1] == '/')
		bl--;
	if (bl >= basecap)
		return -1;
	memcpy(base, p, bl);
	base[bl] = '\0';
	return 0;
}

void awsreq_free_headers(char *h[AWSREQ_MAX_HEADERS], int n)
{
	for (int i = 0; i < n; i++) {
		free(h[i]);
		h[i] = NULL;
	}
}

static int add(char *out[], int *n, const char *name, const char *value)
{
	size_t l = strlen(name) + strlen(value) + 3;
	char *s = malloc(l);
	if (!s)
		return -1;
	snprintf(s, l, "%s: %s", name, value);
	out[(*n)++] = s;
	return 0;
}

static int add_extra(char *out[], int *n, const struct sigv4_header *extra, size_t nextra)
{
	for (size_t i = 0; i < nextra; i++)
		if (add(out, n, extra[i].name, extra[i].value) < 0)
			return -1;
	return 0;
}

int awsreq_sign(const char *method, const char *endpoint, const char *path,
		const char *content_type, const struct sigv4_header *extra, size_t nextra,
		const void *body, size_t len, const struct sigv4_credentials *cr, const char *region, const char *service,
		time_t now, char *out[AWSREQ_MAX_HEADERS], char **url)
{
	char host[512], base[512];
	if (awsreq_split_url(endpoint, host, sizeof(host), base, sizeof(base)) < 0)
		return -1;
	size_t pl = strlen(base) + strlen(path) + 2;
	char *full = malloc(pl);
	if (!full)
		return -1;
	snprintf(full, pl, "%s%s%s", base, path[0] == '/' ? "" : "/", path);

	if (nextra > AWSREQ_EXTRA_MAX) {
		free(full);
		return -1;
	}
	struct sigv4_header hdrs[2 + AWSREQ_EXTRA_MAX] = {{"Host", host}};
	size_t nh = 1;
	if (content_type)
		hdrs[nh++] = (struct sigv4_header){"Content-Type", content_type};
	for (size_t i = 0; i < nextra; i++)
		hdrs[nh++] = extra[i];
	struct sigv4_request req = {
		.method = method, .path = full, .headers = hdrs,
		.nheaders = nh, .payload = body, .payload_len = len,
	};
	struct sigv4_result res = {0};
	if (sigv4_sign(&req, cr, region, service, now, &res) < 0) {
		free(full);
		return -1;
	}
	int n = 0;
	int bad = add(out, &n, "Host", host) < 0 ||
		  (content_type && add(out, &n, "Content-Type", content_type) < 0) ||
		  add_extra(out, &n, extra, nextra) < 0 ||
		  add(out, &n, "X-Amz-Date", res.amz_date) < 0 ||
		  (res.security_token && add(out, &n, "X-Amz-Security-Token", res.security_token) < 0) ||
		  add(out, &n, "Authorization", res.authorization) < 0;
	sigv4_result_free(&res);
	size_t ul = strlen(endpoint) + strlen(full) + 1;
	char *u = bad ? NULL : malloc(ul);
	if (!u) {
		awsreq_free_headers(out, n);
		free(full);
		return -1;
	}
	/* scheme://host from the endpoint, then the joined path */
	const char *after = strstr(endpoint, "://") + 3;
	int schemelen = (int)(after - endpoint) + (int)strlen(host);
	snprintf(u, ul, "%.*s%s", schemelen, endpoint, full);
	free(full);
	*url = u;
	return n;
}
