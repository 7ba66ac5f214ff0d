/*
 * rconn.h - one hiredis async connection bound to one event loop, with
 * reconnection, handshake (AUTH, SELECT, durability check) and a timeout per
 * command.  Owned by one thread; never touched by another.
 */
#ifndef SESGATE_RCONN_H
#define SESGATE_RCONN_H

#include <stdarg.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

struct event_base;
struct config;
struct rconn;

/*
 * Completion of a command.  R is the reply (may be an error reply) or NULL
 * with ERR set ("timeout", "connection lost", "not connected").  R belongs to
 * hiredis and is valid only during the call.
 */
typedef void rconn_cb(redisReply *r, void *arg, const char *err);

struct rconn *rconn_new(struct event_base *base, const struct config *cfg, const char *name);
void rconn_free(struct rconn *rc);

/* Connected, handshake done and durability requirements met. */
int rconn_up(const struct rconn *rc);

/*
 * Send a command; CB is called exactly once (possibly before this returns,
 * when not connected).  Arguments are copied before return.
 */
void rconn_cmd(struct rconn *rc, rconn_cb *cb, void *arg, int argc, const char **argv,
	       const size_t *lens);

/*
 * Synchronous durability check used at start-up.  Returns 0 when the server
 * satisfies CFG's queue_durability, 1 when it cannot be reached (a warning:
 * the daemon starts and keeps retrying), -1 when it is reachable but
 * misconfigured (MSG says why; the daemon refuses to start).
 */
int rconn_check_sync(const struct config *cfg, char *msg, size_t msglen);

/* Blocking connection for the control thread (with AUTH/SELECT); NULL on failure. */
redisContext *rconn_connect_sync(const struct config *cfg, char *msg, size_t msglen);

/*
 * One command on a blocking connection (threads that own one: provisioning,
 * HTTP).  The reply, or NULL when C is NULL, the command failed or Redis
 * answered an error.  The caller frees the reply.
 */
redisReply *rconn_sync_vcmd(redisContext *c, const char *fmt, va_list ap);
redisReply *rconn_sync_cmd(redisContext *c, const char *fmt, ...);
/* The same, for commands whose reply does not matter: 0 or -1. */
int rconn_sync_ok(redisContext *c, const char *fmt, ...);

#endif
