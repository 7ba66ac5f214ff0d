/*
 * listener.c - see listener.h.  The global session cap is enforced here,
 * before a session exists: a refused client gets "421 4.3.2" written
 * straight to the socket and is closed, costing no thread any work.
 */
#include "listener.h"
#include "config.h"
#include "log.h"
#include "smtp_session.h"
#include "stats.h"
#include "thread.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/listener.h>

static int fds[CONFIG_MAX_LISTEN * 4];
static unsigned fd_flags[CONFIG_MAX_LISTEN * 4]; /* LISTEN_* of each socket */
static int nfds;
static struct evconnlistener *lev[CONFIG_MAX_LISTEN * 4];
static const struct config *cfg;

int listener_bind(const struct config *c, char *err, size_t errlen)
{
	cfg = c;
	for (int i = 0; i < c->nlisten; i++) {
		const struct listen_addr *la = &c->listen[i];
		struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
					 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
		struct addrinfo *res, *ai;
		const char *host = strcmp(la->host, "*") == 0 || !la->host[0] ? NULL : la->host;
		int rv = getaddrinfo(host, la->port, &hints, &res);
		if (rv != 0) {
			snprintf(err, errlen, "listen %s:%s: %s", la->host, la->port, gai_strerror(rv));
			return -1;
		}
		for (ai = res; ai; ai = ai->ai_next) {
			if ((size_t)nfds >= sizeof(fds) / sizeof(fds[0]))
				break;
			int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			int one = 1;
			if (fd < 0)
				continue;
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (ai->ai_family == AF_INET6)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
			    listen(fd, c->listen_backlog) < 0) {
				snprintf(err, errlen, "listen %s:%s: %s", la->host, la->port,
					 strerror(errno));
				close(fd);
				freeaddrinfo(res);
				return -1;
			}
			fd_flags[nfds] = la->flags;
			fds[nfds++] = fd;
		}
		freeaddrinfo(res);
	}
	return nfds > 0 ? 0 : (snprintf(err, errlen, "no listening socket"), -1);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	uint64_t cur = STAT_GET(sessions_current);
	if (cur >= (uint64_t)cfg->max_sessions) {
		static const char msg[] = "421 4.3.2 Too many connections, try again later\r\n";
		ssize_t w = write(fd, msg, sizeof(msg) - 1);
		(void)w;
		close(fd);
		STAT_INC(sessions_refused_full);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct accept_job *j = calloc(1, sizeof(*j));
	if (!j) {
		close(fd);
		return;
	}
	j->fd = fd;
	j->lflags = *(const unsigned *)arg;
	memcpy(&j->addr, sa, (size_t)salen < sizeof(j->addr) ? (size_t)salen : sizeof(j->addr));
	j->addrlen = (socklen_t)salen;
	STAT_ADD(sessions_current, 1);
	if (thread_post(threads_pick(), smtp_session_accept, j) < 0) {
		STAT_SUB(sessions_current, 1);
		close(fd);
		free(j);
	}
}

int listener_start(struct event_base *base)
{
	for (int i = 0; i < nfds; i++) {
		lev[i] = evconnlistener_new(base, accept_cb, &fd_flags[i], LEV_OPT_CLOSE_ON_FREE, -1,
					    fds[i]);
		if (!lev[i])
			return -1;
	}
	return 0;
}

void listener_stop(void)
{
	for (int i = 0; i < nfds; i++)
		if (lev[i]) {
			evconnlistener_free(lev[i]);
			lev[i] = NULL;
		}
}
