/*
 * main.c - start-up, signals and shutdown order.
 *
 * Order matters: configuration (fatal on any error, with file:line), Redis
 * durability check (fatal when the server is reachable but misconfigured),
 * sockets bound, then daemonize, then threads.  Shutdown reverses it: stop
 * accepting, let sessions finish their message (bounded grace), stop the
 * control socket and the hash pool.
 */
#include "config.h"
#include "auth.h"
#include "control.h"
#include "hashpool.h"
#include "httpd.h"
#include "ipauth.h"
#include "provision.h"
#include "worker.h"
#include "listener.h"
#include "log.h"
#include "rconn.h"
#include "sesgate.h"
#include "stats.h"
#include "smtp_session.h"
#include "thread.h"
#include "tls.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

#define SHUTDOWN_GRACE 30

const struct config *g_cfg;
uint64_t g_start_ms;
char g_instance[32];

static struct event_base *main_base;

static void usage(FILE *out)
{
	fprintf(out, "usage: sesgate [-c FILE] [-f] [-t] [-T] [-V] [-h]\n"
		     "  -c FILE  configuration file (default %s/sesgate.conf)\n"
		     "  -f       stay in the foreground\n"
		     "  -t       check the configuration and exit\n"
		     "  -T       print the effective configuration and exit\n"
		     "  -V       print the version and exit\n",
		SYSCONFDIR);
}

static void stop_cb(evutil_socket_t sig, short what, void *arg)
{
	log_kv(LOG_NOTICE, "shutdown", "signal", sig == SIGINT ? "INT" : "TERM", NULL);
	event_base_loopbreak(main_base);
}

static void hup_cb(evutil_socket_t sig, short what, void *arg)
{
	/* A renewed certificate goes live without dropping a session: new
	 * handshakes use it, running ones keep the old.  stderr needs no
	 * reopening and syslog reconnects by itself. */
	char err[512];
	if (!g_cfg->tls_cert[0]) {
		log_kv(LOG_NOTICE, "sighup", "action", "none", NULL);
	} else if (tls_smtp_reload(g_cfg, err, sizeof(err)) < 0) {
		log_kv(LOG_ERR, "tls_reload_failed", "reason", err, "kept", "previous certificate",
		       NULL);
	} else {
		log_kv(LOG_NOTICE, "tls_reloaded", "cert", g_cfg->tls_cert, NULL);
	}
}

/*
 * After every socket is bound: become `user`/`group` for good.  The control
 * socket is handed to them first, so the daemon can still remove it and
 * the group's members can use it.  setuid() in glibc applies to every
 * thread of the process.
 */
static int drop_privileges(const struct config *c, char *err, size_t errlen)
{
	if (!c->user[0])
		return 0;
	struct passwd *pw = getpwnam(c->user);
	if (!pw) {
		snprintf(err, errlen, "user %s: no such user", c->user);
		return -1;
	}
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	if (c->group[0]) {
		struct group *gr = getgrnam(c->group);
		if (!gr) {
			snprintf(err, errlen, "group %s: no such group", c->group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (geteuid() != 0) {
		if (geteuid() == uid)
			return 0; /* already that user (started by systemd's User=) */
		snprintf(err, errlen, "user %s is set, but sesgate was not started as root",
			 c->user);
		return -1;
	}
	if (c->control_socket[0] && chown(c->control_socket, uid, gid) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "chown %s: %s", c->control_socket, strerror(errno));
		return -1;
	}
	if (c->pid_file[0] && chown(c->pid_file, uid, gid) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "chown %s: %s", c->pid_file, strerror(errno));
		return -1;
	}
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		snprintf(err, errlen, "cannot become %s: %s", c->user, strerror(errno));
		return -1;
	}
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		snprintf(err, errlen, "root privileges could be regained after dropping them");
		return -1;
	}
	log_kv(LOG_NOTICE, "privileges_dropped", "user", c->user, NULL);
	return 0;
}

static int daemonize(void)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (g_cfg->log_target == LOG_TARGET_SYSLOG)
			dup2(fd, STDERR_FILENO);
		if (fd > 2)
			close(fd);
	}
	return chdir("/");
}

int main(int argc, char **argv)
{
	const char *file = SYSCONFDIR "/sesgate.conf";
	int foreground = 0, test = 0, dump = 0, opt;
	static struct config cfg;
	char err[1024];

	log_init_early();
	while ((opt = getopt(argc, argv, "c:ftTVh")) != -1) {
		switch (opt) {
		case 'c':
			file = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 't':
			test = 1;
			break;
		case 'T':
			dump = 1;
			break;
		case 'V':
			printf("sesgate %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (config_load(file, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "sesgate: %s\n", err);
		return 1;
	}
	if (test && cfg.tls_cert[0]) {
		SSL_CTX *ctx = tls_ctx_new(&cfg, cfg.tls_cert, cfg.tls_key, err, sizeof(err));
		if (!ctx) {
			fprintf(stderr, "sesgate: %s: %s\n", file, err);
			return 1;
		}
		SSL_CTX_free(ctx);
	}
	if (test) {
		fprintf(stderr, "sesgate: configuration file %s test is successful\n", file);
		return 0;
	}
	if (dump) {
		config_dump(&cfg, stdout);
		return 0;
	}
	g_cfg = &cfg;
	g_start_ms = util_now_ms();
	util_random_hex(g_instance, 6);
	log_configure(&cfg);
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();

	int rv = rconn_check_sync(&cfg, err, sizeof(err));
	if (rv < 0) {
		log_err("redis: %s", err);
		fprintf(stderr, "sesgate: redis: %s\n", err);
		return 1;
	}
	if (rv > 0)
		log_warn("redis not reachable at start (%s); will keep retrying, mail is refused with 451 until then", err);

	if (tls_smtp_init(&cfg, err, sizeof(err)) < 0 ||
	    smtp_session_init(&cfg, err, sizeof(err)) < 0 ||
	    listener_bind(&cfg, err, sizeof(err)) < 0) {
		log_err("%s", err);
		fprintf(stderr, "sesgate: %s\n", err);
		return 1;
	}
	if (!foreground && daemonize() < 0) {
		log_err("cannot daemonize: %s", strerror(errno));
		return 1;
	}
	if (cfg.pid_file[0]) {
		FILE *pf = fopen(cfg.pid_file, "w");
		if (!pf) {
			log_err("%s: %s", cfg.pid_file, strerror(errno));
			return 1;
		}
		fprintf(pf, "%d\n", (int)getpid());
		fclose(pf);
	}

	auth_cache_init(cfg.auth_cache_ttl);
	if (hashpool_start(cfg.auth_hash_threads) < 0 || threads_start(&cfg) < 0) {
		log_err("cannot start threads");
		return 1;
	}
	if (workers_start(&cfg, err, sizeof(err)) < 0) {
		log_err("delivery: %s", err);
		fprintf(stderr, "sesgate: delivery: %s\n", err);
		return 1;
	}
	if (provision_start(&cfg, err, sizeof(err)) < 0) {
		log_err("provisioning: %s", err);
		fprintf(stderr, "sesgate: provisioning: %s\n", err);
		return 1;
	}
	if (httpd_start(&cfg, err, sizeof(err)) < 0) {
		log_err("%s", err);
		fprintf(stderr, "sesgate: %s\n", err);
		return 1;
	}
	if (control_start(&cfg, err, sizeof(err)) < 0) {
		log_err("control socket: %s", err);
		fprintf(stderr, "sesgate: control socket: %s\n", err);
		return 1;
	}
	if (drop_privileges(&cfg, err, sizeof(err)) < 0) {
		log_err("%s", err);
		fprintf(stderr, "sesgate: %s\n", err);
		return 1;
	}
	main_base = event_base_new();
	if (!main_base || listener_start(main_base) < 0) {
		log_err("cannot start listeners");
		return 1;
	}
	struct event *sigterm = evsignal_new(main_base, SIGTERM, stop_cb, NULL);
	struct event *sigint = evsignal_new(main_base, SIGINT, stop_cb, NULL);
	struct event *sighup = evsignal_new(main_base, SIGHUP, hup_cb, NULL);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	event_add(sighup, NULL);

	char threads[16];
	snprintf(threads, sizeof(threads), "%d", cfg.smtp_threads);
	log_kv(LOG_NOTICE, "started", "version", PACKAGE_VERSION, "instance", g_instance,
	       "smtp_threads", threads, NULL);
	event_base_dispatch(main_base);

	listener_stop();
	threads_stop(SHUTDOWN_GRACE);
	/* After the SMTP side: enqueues of DSNs need no SMTP thread. */
	workers_stop(SHUTDOWN_GRACE);
	provision_stop();
	httpd_stop();
	control_stop();
	tls_smtp_fini();
	ipauth_fini();
	aws_teardown(); /* after every user of the identity, the control thread included */
	hashpool_stop();
	event_free(sigterm);
	event_free(sigint);
	event_free(sighup);
	event_base_free(main_base);
	if (cfg.pid_file[0])
		unlink(cfg.pid_file);
	log_kv(LOG_NOTICE, "stopped", NULL);
	return 0;
}
