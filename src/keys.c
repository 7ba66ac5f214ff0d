/*
 * keys.c - Redis key builders and validators for the names that go into
 * keys.  Pure.  A validator is the only thing standing between an admin or
 * client string and a key name, so each is strict.
 */
#include "keys.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

char *key_cred(char *buf, const char *user)
{
	snprintf(buf, KEY_MAX, "sg:cred:%s", user);
	return buf;
}

char *key_authfail_ip(char *buf, const char *addrkey)
{
	snprintf(buf, KEY_MAX, "sg:authfail:ip:%s", addrkey);
	return buf;
}

/* Hashed: a user name tried by an attacker is arbitrary bytes. */
char *key_authfail_user(char *buf, const char *user)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)user, strlen(user), md);
	int n = snprintf(buf, KEY_MAX, "sg:authfail:user:");
	for (int i = 0; i < 16; i++)
		n += snprintf(buf + n, KEY_MAX - (size_t)n, "%02x", md[i]);
	return buf;
}

#define TENANT_KEY(fn, suffix)                                          \
	char *fn(char *buf, const char *tid)                            \
	{                                                               \
		snprintf(buf, KEY_MAX, "sg:{%s}:" suffix, tid);         \
		return buf;                                             \
	}
TENANT_KEY(key_tenant, "tenant")
TENANT_KEY(key_tenant_domains, "domains")
TENANT_KEY(key_tenant_creds, "creds")
TENANT_KEY(key_ready, "ready")
TENANT_KEY(key_inflight, "inflight")
TENANT_KEY(key_all, "all")
TENANT_KEY(key_dlq, "dlq")
TENANT_KEY(key_retrying, "retrying")
TENANT_KEY(key_tenant_nets, "nets")

char *key_hist(char *buf, const char *tid, const char *qid)
{
	snprintf(buf, KEY_MAX, "sg:{%s}:hist:%s", tid, qid);
	return buf;
}

char *key_msg(char *buf, const char *tid, const char *qid)
{
	snprintf(buf, KEY_MAX, "sg:{%s}:msg:%s", tid, qid);
	return buf;
}

int key_valid_tenant_name(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > TENANT_NAME_MAX || name[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return 1;
}

int key_valid_tenant_id(const char *tid)
{
	if (strlen(tid) != TENANT_ID_LEN || tid[0] != 't')
		return 0;
	for (int i = 1; i < TENANT_ID_LEN; i++)
		if (!isxdigit((unsigned char)tid[i]) || isupper((unsigned char)tid[i]))
			return 0;
	return 1;
}

int key_valid_username(const char *user)
{
	size_t n = strlen(user);
	if (n < 1 || n > CRED_USER_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)user[i];
		if (!isalnum(c) && !strchr("._@+-", c))
			return 0;
	}
	return 1;
}

int key_valid_domain(const char *domain)
{
	size_t n = strlen(domain), label = 0;
	int labels = 1;
	if (n < 3 || n > 253 || domain[0] == '.' || domain[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)domain[i];
		if (c == '.') {
			if (label == 0 || domain[i - 1] == '-')
				return 0;
			labels++;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-')
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return labels >= 2;
}
