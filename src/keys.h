/*
 * keys.h - the Redis key layout, in one place (see doc/redis-keys.md).
 *
 * Every key that belongs to one tenant carries the tenant id as a hash tag,
 * "sg:{TID}:...", so a tenant's keys share one Redis Cluster slot and a Lua
 * script may touch them together.  The few global keys are indexes.
 * All builders write a NUL-terminated key into BUF (KEY_MAX) and return it.
 */
#ifndef SESGATE_KEYS_H
#define SESGATE_KEYS_H

#include <stddef.h>

#define KEY_MAX 320
#define TENANT_ID_LEN 17  /* "t" + 16 hex */
#define TENANT_NAME_MAX 63
#define CRED_USER_MAX 64

/* Global keys */
#define KEY_TENANTS "sg:tenants"   /* hash: tenant name -> tenant id */
#define KEY_DOMAINS "sg:domains"   /* hash: sending domain -> tenant id */
#define KEY_SCHED "sg:sched"       /* zset: tenant id -> earliest due ms (worker index) */
#define KEY_NETS "sg:nets"         /* hash: network (CIDR) -> tenant id (IP-authorized) */

char *key_cred(char *buf, const char *user);              /* sg:cred:USER hash */
char *key_tenant(char *buf, const char *tid);             /* sg:{T}:tenant hash */
char *key_tenant_domains(char *buf, const char *tid);     /* sg:{T}:domains set */
char *key_tenant_creds(char *buf, const char *tid);       /* sg:{T}:creds set */
char *key_msg(char *buf, const char *tid, const char *qid); /* sg:{T}:msg:QID hash */
char *key_ready(char *buf, const char *tid);              /* sg:{T}:ready zset qid->due ms */
char *key_inflight(char *buf, const char *tid);           /* sg:{T}:inflight zset qid->deadline */
char *key_all(char *buf, const char *tid);                /* sg:{T}:all zset qid->arrival ms */
char *key_dlq(char *buf, const char *tid);                /* sg:{T}:dlq zset qid->time */
char *key_hist(char *buf, const char *tid, const char *qid); /* sg:{T}:hist:QID list of events */
char *key_retrying(char *buf, const char *tid);           /* sg:{T}:retrying set of qids */
char *key_tenant_nets(char *buf, const char *tid);        /* sg:{T}:nets set of CIDRs */
/* sg:authfail:ip:ADDRKEY / sg:authfail:user:SHA256(USER): AUTH failure counters */
char *key_authfail_ip(char *buf, const char *addrkey);
char *key_authfail_user(char *buf, const char *user);

/* Validation of names that become parts of keys or protocol objects. */
int key_valid_tenant_name(const char *name);   /* [a-z0-9][a-z0-9-]{0,62} */
int key_valid_tenant_id(const char *tid);      /* t + 16 lower hex */
int key_valid_username(const char *user);      /* [A-Za-z0-9._@+-]{1,64} */
int key_valid_domain(const char *domain);      /* LDH labels, 1..253, >= 2 labels */

#endif
