/*
 * ipauth.h - IP-authorized tenants: client networks (CIDR) mapped to a
 * tenant, for app servers that send without AUTH.  The map lives in Redis
 * (sg:nets, managed with `sesgatectl tenant network`); every instance keeps
 * a copy refreshed once a second, so a removed network stops authorizing
 * new sessions within a second, like a revoked credential.
 */
#ifndef SESGATE_IPAUTH_H
#define SESGATE_IPAUTH_H

#include <sys/socket.h>

struct config;
struct rconn;

/* Blocking first load at start (a warning, not an error, if Redis is down). */
void ipauth_init(const struct config *cfg);
/* Ask for a fresh copy over RC (one SMTP thread calls this every second). */
void ipauth_refresh(struct rconn *rc);
/* The tenant id whose network holds SA (most specific wins) into TID
 * (TENANT_ID_LEN + 1 octets).  1 found, 0 not. */
int ipauth_lookup(const struct sockaddr *sa, char *tid);
void ipauth_fini(void);

#endif
