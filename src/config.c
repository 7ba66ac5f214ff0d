/*
 * config.c - the configuration file: parsing, defaults, range checks and the
 * dump.  One static table describes every directive (name, type, where it
 * lives in struct config, default, range, validator, help); all three jobs
 * are driven from it, so a new directive is one table row plus its
 * documentation in conf/sesgate.conf and man/sesgate.conf.5.
 *
 * Syntax: "name value" per line, '#' comments at line start or after
 * whitespace, double-quoted values with \" and \\ escapes.  The first error
 * stops the load and is reported as "file:line: reason".  A file is parsed
 * into a scratch struct and copied out only on success, so a failed reload
 * never leaves a half-written configuration behind.
 */
#include "config.h"

#include "cidr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <openssl/ssl.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#define LINE_MAX_OCTETS   4096        /* longest accepted line, without LF */
#define FILE_MAX_OCTETS   (1 << 20)   /* a config file is never this big */
#define MAX_TOKENS        5           /* name + values kept; more are counted */
#define MAX_VALUES        (MAX_TOKENS - 2) /* most values a directive takes: one
					    more token must fit for the error */
#define SMTP_THREADS_MAX  256
#define SECRET_MASK       "********"

/* Field stores below write enums through int pointers. */
_Static_assert(sizeof(enum durability) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_target) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_format) == sizeof(int), "enum size");

enum opt_type {
	T_INT,     /* decimal integer */
	T_SIZE,    /* octets, optional K/M/G/T suffix (1024-based) */
	T_SECS,    /* seconds, optional s/m/h/d suffix */
	T_MSECS,   /* milliseconds, optional ms/s suffix */
	T_BOOL,    /* yes/no on/off true/false 1/0 */
	T_STRING,  /* bounded by the field size */
	T_ENUM,    /* one keyword of a list */
	T_OCTAL,   /* file mode */
	T_SPECIAL, /* own parser and dumper */
};

#define F_SECRET 0x1 /* dumped masked */
#define F_MULTI  0x2 /* may repeat; the first occurrence replaces the default */

struct keyword {
	const char *name;
	int value;
	int alias; /* accepted, but never printed or suggested */
};

struct option {
	const char *name;
	enum opt_type type;
	size_t off;  /* offsetof(struct config, field) */
	size_t size; /* sizeof the field */
	const char *def;
	long long min, max;
	const struct keyword *keywords;
	/* Extra check on a string value; 0 = good, else -1 and WHY filled. */
	int (*check)(const char *value, char *why, size_t whylen);
	/* T_SPECIAL: ARGC values; FIRST is set on the directive's first use. */
	int (*parse)(struct config *cfg, int argc, char **argv, int first, char *why,
		     size_t whylen);
	void (*dump)(const struct config *cfg, const struct option *o, FILE *out);
	int maxargs; /* values accepted; 0 means 1 */
	unsigned flags;
	const char *help;
};

#define FIELD(f) .off = offsetof(struct config, f), .size = sizeof(((struct config *)0)->f)

/* Values quoted in error messages are cut here so a message stays one line. */
#define SHOW_FMT "\"%.64s%s\""
#define SHOW(s)  (s), (strlen(s) > 64 ? "..." : "")

static int check_hostname(const char *v, char *why, size_t whylen);
static int check_redis_host(const char *v, char *why, size_t whylen);
static int check_socket_path(const char *v, char *why, size_t whylen);
static int parse_listen(struct config *cfg, int argc, char **argv, int first, char *why,
			size_t whylen);
static void dump_listen(const struct config *cfg, const struct option *o, FILE *out);
static int parse_durability(struct config *cfg, int argc, char **argv, int first, char *why,
			    size_t whylen);
static void dump_durability(const struct config *cfg, const struct option *o, FILE *out);
static int check_region(const char *v, char *why, size_t whylen);
static int check_arn(const char *v, char *why, size_t whylen);
static int check_role_name(const char *v, char *why, size_t whylen);
static int check_cfgset(const char *v, char *why, size_t whylen);
static int check_ou(const char *v, char *why, size_t whylen);
static int check_mail_type(const char *v, char *why, size_t whylen);
static int check_http_listen(const char *v, char *why, size_t whylen);
static int check_networks(const char *v, char *why, size_t whylen);
static int check_ciphers(const char *v, char *why, size_t whylen);
static int check_ciphersuites(const char *v, char *why, size_t whylen);
static int check_user(const char *v, char *why, size_t whylen);
static int check_group(const char *v, char *why, size_t whylen);
static int check_user_list(const char *v, char *why, size_t whylen);
static int check_group_list(const char *v, char *why, size_t whylen);
static int parse_rate(struct config *cfg, int argc, char **argv, int first, char *why,
		      size_t whylen);
static void dump_rate(const struct config *cfg, const struct option *o, FILE *out);
static int parse_bounce_rate(struct config *cfg, int argc, char **argv, int first, char *why,
			     size_t whylen);
static void dump_bounce_rate(const struct config *cfg, const struct option *o, FILE *out);
static int parse_complaint_rate(struct config *cfg, int argc, char **argv, int first, char *why,
				size_t whylen);
static void dump_complaint_rate(const struct config *cfg, const struct option *o, FILE *out);

/* Tables read better aligned by hand. */
/* clang-format off */
static const struct keyword provmail_words[] = {
	{"hold", PROV_MAIL_HOLD, 0}, {"tempfail", PROV_MAIL_TEMPFAIL, 0}, {NULL, 0, 0},
};

static const struct keyword tls_words[] = {
	{"TLSv1.2", TLS1_2_VERSION, 0}, {"TLSv1.3", TLS1_3_VERSION, 0}, {NULL, 0, 0}};
static const struct keyword bool_words[] = {
	{"yes", 1, 0},  {"no", 0, 0},    {"on", 1, 1}, {"off", 0, 1}, {"true", 1, 1},
	{"false", 0, 1}, {"1", 1, 1},    {"0", 0, 1},  {NULL, 0, 0},
};

static const struct keyword target_words[] = {
	{"stderr", LOG_TARGET_STDERR, 0},
	{"syslog", LOG_TARGET_SYSLOG, 0},
	{NULL, 0, 0},
};

static const struct keyword format_words[] = {
	{"plain", LOG_FORMAT_PLAIN, 0},
	{"json", LOG_FORMAT_JSON, 0},
	{NULL, 0, 0},
};

static const struct keyword level_words[] = {
	{"err", LOG_ERR, 0},       {"warning", LOG_WARNING, 0}, {"notice", LOG_NOTICE, 0},
	{"info", LOG_INFO, 0},     {"debug", LOG_DEBUG, 0},     {"error", LOG_ERR, 1},
	{"warn", LOG_WARNING, 1},  {NULL, 0, 0},
};

static const struct keyword facility_words[] = {
	{"mail", LOG_MAIL, 0},     {"daemon", LOG_DAEMON, 0}, {"user", LOG_USER, 0},
	{"local0", LOG_LOCAL0, 0}, {"local1", LOG_LOCAL1, 0}, {"local2", LOG_LOCAL2, 0},
	{"local3", LOG_LOCAL3, 0}, {"local4", LOG_LOCAL4, 0}, {"local5", LOG_LOCAL5, 0},
	{"local6", LOG_LOCAL6, 0}, {"local7", LOG_LOCAL7, 0}, {NULL, 0, 0},
};

#define KIB 1024LL
#define MIB (1024LL * KIB)
#define GIB (1024LL * MIB)
#define TIB (1024LL * GIB)

/* The order here is the order of config_dump and of the sample file. */
static const struct option options[] = {
	/* SMTP front end */
	{.name = "listen", .type = T_SPECIAL, .def = "127.0.0.1:2525", .parse = parse_listen,
	 .dump = dump_listen, .flags = F_MULTI, .maxargs = 3,
	 .help = "address to accept SMTP on, then smtps and/or proxy; repeatable"},
	{.name = "hostname", .type = T_STRING, FIELD(hostname), .def = "", .check = check_hostname,
	 .help = "EHLO greeting and Received: name; empty = gethostname()"},
	{.name = "smtp_threads", .type = T_INT, FIELD(smtp_threads), .def = "0", .min = 0,
	 .max = SMTP_THREADS_MAX, .help = "SMTP event-loop threads; 0 = one per online CPU"},
	{.name = "max_sessions", .type = T_INT, FIELD(max_sessions), .def = "1000", .min = 1,
	 .max = 1000000, .help = "concurrent SMTP sessions; more get 421"},
	{.name = "listen_backlog", .type = T_INT, FIELD(listen_backlog), .def = "511", .min = 1,
	 .max = 65535, .help = "listen(2) backlog"},
	{.name = "timeout_idle", .type = T_SECS, FIELD(timeout_idle), .def = "5m", .min = 1,
	 .max = 86400, .help = "wait for a command before closing"},
	{.name = "timeout_data", .type = T_SECS, FIELD(timeout_data), .def = "5m", .min = 1,
	 .max = 86400, .help = "wait between DATA/BDAT octets before closing"},

	/* limits */
	{.name = "max_message_size", .type = T_SIZE, FIELD(max_message_size), .def = "40M",
	 .min = KIB, .max = 2 * GIB, .help = "largest message (SIZE and DATA/BDAT limit)"},
	{.name = "max_recipients", .type = T_INT, FIELD(max_recipients), .def = "1000", .min = 1,
	 .max = 100000, .help = "recipients per transaction"},
	{.name = "max_command_line", .type = T_INT, FIELD(max_command_line), .def = "512",
	 .min = 512, .max = 65536, .help = "longest command line including CRLF"},
	{.name = "max_text_line", .type = T_INT, FIELD(max_text_line), .def = "1000", .min = 1000,
	 .max = 1048576, .help = "longest message line including CRLF"},
	{.name = "max_errors", .type = T_INT, FIELD(max_errors), .def = "10", .min = 1,
	 .max = 1000, .help = "errors before the session is dropped"},
	{.name = "error_delay", .type = T_MSECS, FIELD(error_delay_ms), .def = "1s", .min = 0,
	 .max = 60000, .help = "delay added to error replies after max_errors/2"},
	{.name = "max_data_memory", .type = T_SIZE, FIELD(max_data_memory), .def = "512M",
	 .min = MIB, .max = TIB, .help = "message data held in memory by all sessions"},

	/* authentication */
	{.name = "auth_allow_plaintext", .type = T_BOOL, FIELD(auth_allow_plaintext), .def = "no",
	 .keywords = bool_words, .help = "offer AUTH without TLS"},
	{.name = "check_header_from", .type = T_BOOL, FIELD(check_header_from), .def = "yes",
	 .keywords = bool_words, .help = "check the From: header domain after DATA"},
	{.name = "password_hash_iterations", .type = T_INT, FIELD(password_hash_iterations),
	 .def = "600000", .min = 1000, .max = 100000000,
	 .help = "PBKDF2-HMAC-SHA256 rounds for new credentials"},
	{.name = "auth_cache_ttl", .type = T_SECS, FIELD(auth_cache_ttl), .def = "5m", .min = 0,
	 .max = 86400, .help = "how long a verified password is remembered; 0 = never"},
	{.name = "auth_hash_threads", .type = T_INT, FIELD(auth_hash_threads), .def = "2",
	 .min = 1, .max = 64, .help = "threads verifying password hashes"},

	/* TLS */
	{.name = "tls_cert", .type = T_STRING, FIELD(tls_cert), .def = "",
	 .help = "PEM certificate chain for STARTTLS and smtps listeners; empty = no TLS"},
	{.name = "tls_key", .type = T_STRING, FIELD(tls_key), .def = "",
	 .help = "PEM private key of tls_cert (must not be world-readable)"},
	{.name = "tls_min_protocol", .type = T_ENUM, FIELD(tls_min_protocol), .def = "TLSv1.2",
	 .keywords = tls_words, .help = "oldest TLS version accepted"},
	{.name = "tls_ciphers", .type = T_STRING, FIELD(tls_ciphers),
	 .def = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS",
	 .check = check_ciphers, .help = "OpenSSL cipher list for TLS 1.2"},
	{.name = "tls_ciphersuites", .type = T_STRING, FIELD(tls_ciphersuites),
	 .def = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
	 .check = check_ciphersuites, .help = "OpenSSL TLS 1.3 cipher suites"},
	{.name = "tls_handshake_timeout", .type = T_SECS, FIELD(tls_handshake_timeout),
	 .def = "30s", .min = 1, .max = 3600, .help = "time allowed for a whole TLS handshake"},

	/* abuse limits */
	{.name = "max_sessions_per_ip", .type = T_INT, FIELD(max_sessions_per_ip), .def = "100",
	 .min = 1, .max = 1000000,
	 .help = "concurrent sessions per client address (IPv6: per /64), per instance"},
	{.name = "max_connect_rate", .type = T_INT, FIELD(max_connect_rate), .def = "6000",
	 .min = 1, .max = 100000000,
	 .help = "new sessions per client address per minute, per instance"},
	{.name = "max_sessions_per_tenant", .type = T_INT, FIELD(max_sessions_per_tenant),
	 .def = "500", .min = 1, .max = 1000000,
	 .help = "concurrent authenticated sessions per tenant, per instance"},
	{.name = "min_data_rate", .type = T_SIZE, FIELD(min_data_rate), .def = "1K", .min = 0,
	 .max = GIB, .help = "octets/s a message must average once timeout_data has passed"},
	{.name = "auth_fail_window", .type = T_SECS, FIELD(auth_fail_window), .def = "15m",
	 .min = 10, .max = 86400, .help = "AUTH failures are counted over this long"},
	{.name = "auth_fail_ip_limit", .type = T_INT, FIELD(auth_fail_ip_limit), .def = "30",
	 .min = 1, .max = 1000000, .help = "AUTH failures per client address before a lockout"},
	{.name = "auth_fail_user_limit", .type = T_INT, FIELD(auth_fail_user_limit), .def = "10",
	 .min = 1, .max = 1000000, .help = "AUTH failures per user name before a lockout"},
	{.name = "auth_lockout", .type = T_SECS, FIELD(auth_lockout), .def = "15m", .min = 1,
	 .max = 7 * 86400, .help = "how long a locked address or user name stays locked"},
	{.name = "auth_fail_delay", .type = T_MSECS, FIELD(auth_fail_delay_ms), .def = "500ms",
	 .min = 0, .max = 10000, .help = "535 replies wait this long per earlier failure (at most 9 times)"},

	/* PROXY protocol */
	{.name = "proxy_trusted", .type = T_STRING, FIELD(proxy_trusted), .def = "",
	 .check = check_networks,
	 .help = "networks allowed to send PROXY headers on proxy listeners"},
	{.name = "proxy_timeout", .type = T_SECS, FIELD(proxy_timeout), .def = "10s", .min = 1,
	 .max = 600, .help = "wait for the PROXY header this long"},

	/* Redis and the queue */
	{.name = "redis_host", .type = T_STRING, FIELD(redis_host), .def = "127.0.0.1",
	 .check = check_redis_host, .help = "Redis server address"},
	{.name = "redis_port", .type = T_INT, FIELD(redis_port), .def = "6379", .min = 1,
	 .max = 65535, .help = "Redis server port"},
	{.name = "redis_unix", .type = T_STRING, FIELD(redis_unix), .def = "",
	 .check = check_socket_path, .help = "Redis Unix socket; replaces host/port when set"},
	{.name = "redis_password", .type = T_STRING, FIELD(redis_password), .def = "",
	 .flags = F_SECRET, .help = "Redis AUTH password"},
	{.name = "redis_db", .type = T_INT, FIELD(redis_db), .def = "0", .min = 0, .max = 1000,
	 .help = "Redis database number"},
	{.name = "redis_timeout", .type = T_MSECS, FIELD(redis_timeout_ms), .def = "5s",
	 .min = 10, .max = 600000, .help = "per-command Redis timeout, then 451"},
	{.name = "queue_durability", .type = T_SPECIAL, .def = "fsync", .parse = parse_durability,
	 .dump = dump_durability, .maxargs = 2,
	 .help = "none | fsync | replicas N: when a queued message counts as safe"},

	/* delivery */
	{.name = "workers", .type = T_INT, FIELD(workers), .def = "2", .min = 0, .max = 256,
	 .help = "delivery threads; 0 = queue only, deliver nothing"},
	{.name = "worker_inflight", .type = T_INT, FIELD(worker_inflight), .def = "64", .min = 1,
	 .max = 10000, .help = "concurrent SES calls per delivery thread"},
	{.name = "aws_region", .type = T_STRING, FIELD(aws_region), .def = "",
	 .check = check_region, .help = "AWS region; empty = AWS_REGION or the shared config"},
	{.name = "ses_timeout", .type = T_SECS, FIELD(ses_timeout), .def = "30s", .min = 1,
	 .max = 600, .help = "time limit of one SES or STS call"},
	{.name = "visibility_timeout", .type = T_SECS, FIELD(visibility_timeout), .def = "5m",
	 .min = 10, .max = 86400,
	 .help = "a claimed message not finished by then is delivered by another worker"},
	{.name = "max_queue_lifetime", .type = T_SECS, FIELD(max_queue_lifetime), .def = "5d",
	 .min = 60, .max = 100 * 86400, .help = "give up and return a DSN after this long"},
	{.name = "retry_min_backoff", .type = T_SECS, FIELD(retry_min_backoff), .def = "1m",
	 .min = 1, .max = 86400, .help = "delay before the first retry; doubles each attempt"},
	{.name = "retry_max_backoff", .type = T_SECS, FIELD(retry_max_backoff), .def = "1h",
	 .min = 1, .max = 86400, .help = "largest delay between retries"},
	{.name = "throttle_backoff", .type = T_MSECS, FIELD(throttle_backoff_ms), .def = "1s",
	 .min = 10, .max = 600000, .help = "retry delay after SES throttled a tenant"},
	{.name = "delivery_record_ttl", .type = T_SECS, FIELD(delivery_record_ttl), .def = "7d",
	 .min = 60, .max = 365 * 86400, .help = "how long message history and SES ids are kept"},
	{.name = "account_refresh", .type = T_SECS, FIELD(account_refresh), .def = "5m",
	 .min = 5, .max = 86400, .help = "how often each tenant's SES quota is read"},
	{.name = "sts_session_duration", .type = T_SECS, FIELD(sts_session_duration),
	 .def = "1h", .min = 900, .max = 43200,
	 .help = "lifetime asked of STS for tenant credentials"},
	{.name = "default_send_rate", .type = T_SPECIAL, .def = "1", .parse = parse_rate,
	 .dump = dump_rate, .help = "recipients/s per tenant until SES's MaxSendRate is known"},

	/* provisioning */
	{.name = "management_role_arn", .type = T_STRING, FIELD(management_role_arn), .def = "",
	 .check = check_arn, .help = "role in the Organizations management account; empty = no provisioning"},
	{.name = "gateway_principal_arn", .type = T_STRING, FIELD(gateway_principal_arn),
	 .def = "", .check = check_arn,
	 .help = "the gateway's own IAM principal, trusted by tenants' sending roles"},
	{.name = "member_role_name", .type = T_STRING, FIELD(member_role_name),
	 .def = "OrganizationAccountAccessRole", .check = check_role_name,
	 .help = "admin role Organizations creates in new member accounts"},
	{.name = "sending_role_name", .type = T_STRING, FIELD(sending_role_name),
	 .def = "sesgate-sender", .check = check_role_name,
	 .help = "name of the least-privilege sending role created in each tenant account"},
	{.name = "configuration_set_name", .type = T_STRING, FIELD(configuration_set_name),
	 .def = "sesgate", .check = check_cfgset, .help = "SES configuration set created for each tenant"},
	{.name = "sns_topic_arn", .type = T_STRING, FIELD(sns_topic_arn), .def = "",
	 .check = check_arn, .help = "SNS topic receiving every tenant's SES events; empty = none"},
	{.name = "ou_production", .type = T_STRING, FIELD(ou_production), .def = "",
	 .check = check_ou, .help = "organizational unit for production tenants; empty = root"},
	{.name = "ou_sandbox", .type = T_STRING, FIELD(ou_sandbox), .def = "", .check = check_ou,
	 .help = "organizational unit for sandbox tenants; empty = root"},
	{.name = "ou_poc", .type = T_STRING, FIELD(ou_poc), .def = "", .check = check_ou,
	 .help = "organizational unit for proof-of-concept tenants; empty = root"},
	{.name = "provisioning_mail", .type = T_ENUM, FIELD(provisioning_mail), .def = "hold",
	 .keywords = provmail_words,
	 .help = "mail of a tenant still being set up: hold (accept, send later) or tempfail (451)"},
	{.name = "provision_poll", .type = T_MSECS, FIELD(provision_poll_ms), .def = "60s",
	 .min = 100, .max = 3600000, .help = "longest wait between polls of AWS during onboarding"},
	{.name = "provision_lease", .type = T_SECS, FIELD(provision_lease), .def = "60s", .min = 5,
	 .max = 3600,
	 .help = "how long a tenant stays with an instance that stopped answering during onboarding"},
	{.name = "production_mail_type", .type = T_STRING, FIELD(production_mail_type),
	 .def = "TRANSACTIONAL", .check = check_mail_type,
	 .help = "MailType of production-access requests: TRANSACTIONAL or MARKETING"},
	{.name = "production_website_url", .type = T_STRING, FIELD(production_website_url),
	 .def = "", .help = "WebsiteURL of production-access requests"},
	{.name = "production_use_case", .type = T_STRING, FIELD(production_use_case), .def = "",
	 .help = "use-case text of production-access requests"},

	/* SES events and the reputation guard */
	{.name = "guard_bounce_rate", .type = T_SPECIAL, .def = "4", .parse = parse_bounce_rate,
	 .dump = dump_bounce_rate,
	 .help = "pause a tenant whose hard-bounce rate (percent) exceeds this"},
	{.name = "guard_complaint_rate", .type = T_SPECIAL, .def = "0.08",
	 .parse = parse_complaint_rate, .dump = dump_complaint_rate,
	 .help = "pause a tenant whose complaint rate (percent) exceeds this"},
	{.name = "guard_window", .type = T_SECS, FIELD(guard_window), .def = "24h", .min = 3600,
	 .max = 7 * 86400, .help = "the rates are over this many hours of sends"},
	{.name = "guard_min_sends", .type = T_INT, FIELD(guard_min_sends), .def = "200", .min = 1,
	 .max = 100000000, .help = "no verdict on fewer sends than this in the window"},

	{.name = "sns_topics", .type = T_STRING, FIELD(sns_topics), .def = "",
	 .help = "SNS topic ARNs accepted at /sns, comma-separated; empty = sns_topic_arn"},
	{.name = "sns_cert_host", .type = T_STRING, FIELD(sns_cert_host),
	 .def = "sns.*.amazonaws.com,sns.*.amazonaws.com.cn",
	 .help = "hosts SigningCertURL and SubscribeURL may name (* = one DNS label)"},
	{.name = "sns_cert_ca", .type = T_STRING, FIELD(sns_cert_ca), .def = "",
	 .help = "CA bundle for fetching SNS certificates; empty = AWS_CA_BUNDLE or system"},
	{.name = "sns_max_age", .type = T_SECS, FIELD(sns_max_age), .def = "1h", .min = 60,
	 .max = 86400, .help = "older SNS messages are refused as replays"},

	{.name = "webhook_ca", .type = T_STRING, FIELD(webhook_ca), .def = "",
	 .help = "CA bundle for tenants' HTTPS webhooks; empty = the system store"},

	/* HTTP listener */
	{.name = "http_listen", .type = T_STRING, FIELD(http_listen), .def = "",
	 .check = check_http_listen,
	 .help = "HOST:PORT for the SNS endpoint, /metrics, /healthz and /readyz; empty = off"},
	{.name = "http_tls_cert", .type = T_STRING, FIELD(http_tls_cert), .def = "",
	 .help = "PEM certificate chain for HTTPS on http_listen; empty = plain HTTP"},
	{.name = "http_tls_key", .type = T_STRING, FIELD(http_tls_key), .def = "",
	 .help = "PEM private key of http_tls_cert"},

	/* control socket */
	{.name = "control_socket", .type = T_STRING, FIELD(control_socket),
	 .def = "/run/sesgate/control.sock", .check = check_socket_path,
	 .help = "Unix socket for sesgatectl"},
	{.name = "control_socket_mode", .type = T_OCTAL, FIELD(control_socket_mode), .def = "0660",
	 .min = 0, .max = 0777, .help = "permissions of the control socket"},
	{.name = "control_allow_users", .type = T_STRING, FIELD(control_allow_users), .def = "",
	 .check = check_user_list,
	 .help = "users (names or uids) allowed on the control socket besides root and sesgate's own"},
	{.name = "control_allow_groups", .type = T_STRING, FIELD(control_allow_groups), .def = "",
	 .check = check_group_list,
	 .help = "groups whose members may use the control socket; empty = sesgate's own group"},

	/* privileges */
	{.name = "user", .type = T_STRING, FIELD(user), .def = "", .check = check_user,
	 .help = "user to run as after binding (started as root); empty = do not change"},
	{.name = "group", .type = T_STRING, FIELD(group), .def = "", .check = check_group,
	 .help = "group to run as; empty = the user's primary group"},

	/* logging */
	{.name = "log_target", .type = T_ENUM, FIELD(log_target), .def = "stderr",
	 .keywords = target_words, .help = "where log lines go"},
	{.name = "log_format", .type = T_ENUM, FIELD(log_format), .def = "plain",
	 .keywords = format_words, .help = "plain text or JSON lines"},
	{.name = "log_level", .type = T_ENUM, FIELD(log_level), .def = "info",
	 .keywords = level_words, .help = "least severe level logged"},
	{.name = "syslog_facility", .type = T_ENUM, FIELD(syslog_facility), .def = "mail",
	 .keywords = facility_words, .help = "facility with log_target syslog"},

	/* process */
	{.name = "pid_file", .type = T_STRING, FIELD(pid_file), .def = "",
	 .help = "file to write the daemon's pid to; empty = none"},
};

/* clang-format on */

#define NOPTIONS ((int)(sizeof(options) / sizeof(options[0])))

static const struct option *find_option(const char *name)
{
	for (int i = 0; i < NOPTIONS; i++)
		if (strcasecmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

/* ---- field access ------------------------------------------------------ */

static void *field_ptr(struct config *cfg, const struct option *o)
{
	return (char *)cfg + o->off;
}

static const void *field_cptr(const struct config *cfg, const struct option *o)
{
	return (const char *)cfg + o->off;
}

static void set_num(struct config *cfg, const struct option *o, long long v)
{
	if (o->size == sizeof(uint64_t))
		*(uint64_t *)field_ptr(cfg, o) = (uint64_t)v;
	else
		*(int *)field_ptr(cfg, o) = (int)v;
}

static long long get_num(const struct config *cfg, const struct option *o)
{
	if (o->size == sizeof(uint64_t))
		return (long long)*(const uint64_t *)field_cptr(cfg, o);
	return *(const int *)field_cptr(cfg, o);
}

/* ---- numbers ----------------------------------------------------------- */

/*
 * Leading decimal digits of S into *V, saturating at LLONG_MAX so a huge
 * number reports "above the maximum" rather than wrapping.  Returns the
 * number of digits consumed.
 */
static size_t scan_digits(const char *s, int base, long long *v)
{
	size_t i = 0;
	long long n = 0;
	while (s[i] >= '0' && s[i] < '0' + base) {
		int d = s[i] - '0';
		n = n > (LLONG_MAX - d) / base ? LLONG_MAX : n * base + d;
		i++;
	}
	*v = n;
	return i;
}

static long long mul_sat(long long v, long long unit)
{
	return v > LLONG_MAX / unit ? LLONG_MAX : v * unit;
}

/* Suffix of a size or duration: its multiplier, or 0 if not known. */
static long long suffix_unit(enum opt_type type, const char *s)
{
	static const char size_sfx[] = "kmgt", secs_sfx[] = "smhd";
	static const long long size_unit[] = {KIB, MIB, GIB, TIB};
	static const long long secs_unit[] = {1, 60, 3600, 86400};
	char c = (char)tolower((unsigned char)*s);
	const char *hit;

	if (*s == '\0')
		return 1;
	if (type == T_MSECS) {
		if (strcasecmp(s, "ms") == 0)
			return 1;
		return strcasecmp(s, "s") == 0 ? 1000 : 0;
	}
	if (s[1] != '\0')
		return 0;
	if (type == T_SIZE && (hit = strchr(size_sfx, c)) != NULL)
		return size_unit[hit - size_sfx];
	if (type == T_SECS && (hit = strchr(secs_sfx, c)) != NULL)
		return secs_unit[hit - secs_sfx];
	return 0;
}

/* Parse a numeric value of O's type into *V; -1 with WHY on bad syntax. */
static int parse_number(const struct option *o, const char *s, long long *v, char *why,
			size_t whylen)
{
	const char *p = s;
	int neg = 0;
	size_t nd;

	if (o->type == T_INT && *p == '-') {
		neg = 1;
		p++;
	}
	nd = scan_digits(p, o->type == T_OCTAL ? 8 : 10, v);
	if (nd == 0)
		goto bad;
	p += nd;
	if (o->type == T_INT || o->type == T_OCTAL) {
		if (*p != '\0')
			goto bad;
	} else {
		long long unit = suffix_unit(o->type, p);
		if (unit == 0)
			goto bad;
		*v = mul_sat(*v, unit);
	}
	if (neg)
		*v = -*v;
	return 0;
bad:
	switch (o->type) {
	case T_INT:
		snprintf(why, whylen, SHOW_FMT " is not an integer", SHOW(s));
		break;
	case T_OCTAL:
		snprintf(why, whylen, SHOW_FMT " is not an octal mode", SHOW(s));
		break;
	case T_SIZE:
		snprintf(why, whylen,
			 SHOW_FMT " is not a size (a number with an optional K, M, G or T suffix)",
			 SHOW(s));
		break;
	case T_SECS:
		snprintf(why, whylen,
			 SHOW_FMT " is not a duration (seconds, or a number with an s, m, h "
				  "or d suffix)",
			 SHOW(s));
		break;
	default:
		snprintf(why, whylen,
			 SHOW_FMT " is not a duration (milliseconds, or a number with an ms "
				  "or s suffix)",
			 SHOW(s));
		break;
	}
	return -1;
}

/*
 * A number in the syntax the parser reads back, with the largest unit that
 * divides it exactly: 41943040 -> "40M", 300 s -> "5m", 5000 ms -> "5s".
 */
static void format_number(const struct option *o, long long v, char *buf, size_t len)
{
	static const char size_sfx[] = "KMGT";
	static const struct {
		long long unit;
		char sfx;
	} secs[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
	int i;

	switch (o->type) {
	case T_SIZE:
		for (i = -1; v != 0 && v % 1024 == 0 && i < 3; i++)
			v /= 1024;
		if (i < 0)
			snprintf(buf, len, "%lld", v);
		else
			snprintf(buf, len, "%lld%c", v, size_sfx[i]);
		break;
	case T_SECS:
		if (v == 0) {
			snprintf(buf, len, "0");
			break;
		}
		for (i = 0; v % secs[i].unit != 0; i++)
			;
		snprintf(buf, len, "%lld%c", v / secs[i].unit, secs[i].sfx);
		break;
	case T_MSECS:
		if (v == 0)
			snprintf(buf, len, "0");
		else if (v % 1000 == 0)
			snprintf(buf, len, "%llds", v / 1000);
		else
			snprintf(buf, len, "%lldms", v);
		break;
	case T_OCTAL:
		snprintf(buf, len, "%04llo", v);
		break;
	default:
		snprintf(buf, len, "%lld", v);
		break;
	}
}

static int range_check(const struct option *o, const char *s, long long v, char *why,
		       size_t whylen)
{
	char lim[32];

	if (v < o->min) {
		format_number(o, o->min, lim, sizeof(lim));
		snprintf(why, whylen, "%.64s is below the minimum %s", s, lim);
		return -1;
	}
	if (v > o->max) {
		format_number(o, o->max, lim, sizeof(lim));
		snprintf(why, whylen, "%.64s is above the maximum %s", s, lim);
		return -1;
	}
	return 0;
}

/* ---- keywords ---------------------------------------------------------- */

static const struct keyword *find_keyword(const struct keyword *kw, const char *s)
{
	for (; kw->name; kw++)
		if (strcasecmp(kw->name, s) == 0)
			return kw;
	return NULL;
}

static const char *keyword_name(const struct keyword *kw, int value)
{
	for (; kw->name; kw++)
		if (kw->value == value && !kw->alias)
			return kw->name;
	return "?";
}

static void keyword_error(const struct keyword *kw, const char *s, char *why, size_t whylen)
{
	size_t n = (size_t)snprintf(why, whylen, SHOW_FMT " is not one of", SHOW(s));
	const char *sep = " ";

	for (; kw->name && n < whylen; kw++) {
		if (kw->alias)
			continue;
		n += (size_t)snprintf(why + n, whylen - n, "%s%s", sep, kw->name);
		sep = ", ";
	}
}

/* ---- validators -------------------------------------------------------- */

static int host_chars_ok(const char *v, const char *extra)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && !strchr(extra, *p))
			return 0;
	return 1;
}

/* The EHLO name goes on the wire and into headers: no spaces or controls. */
static int check_hostname(const char *v, char *why, size_t whylen)
{
	if (host_chars_ok(v, ".-_"))
		return 0;
	snprintf(why, whylen, SHOW_FMT " is not a host name (letters, digits, '.', '-', '_')",
		 SHOW(v));
	return -1;
}

static int check_redis_host(const char *v, char *why, size_t whylen)
{
	if (*v == '\0') {
		snprintf(why, whylen, "must not be empty");
		return -1;
	}
	if (host_chars_ok(v, ".-_:%"))
		return 0;
	snprintf(why, whylen, SHOW_FMT " is not a host name or address", SHOW(v));
	return -1;
}

/* Catch at load time what bind()/connect() would refuse much later. */
static int check_socket_path(const char *v, char *why, size_t whylen)
{
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
	if (strlen(v) <= max)
		return 0;
	snprintf(why, whylen, "path is %zu octets, longer than the %zu a Unix socket allows",
		 strlen(v), max);
	return -1;
}

/* ---- special directives ------------------------------------------------ */

static int parse_port(const char *s, char *port, size_t portlen, char *why, size_t whylen)
{
	long long v;
	size_t nd = scan_digits(s, 10, &v);

	if (nd == 0 || s[nd] != '\0') {
		snprintf(why, whylen, "port " SHOW_FMT " is not a number", SHOW(s));
		return -1;
	}
	if (v < 1 || v > 65535) {
		snprintf(why, whylen, "port %.64s is out of range (1-65535)", s);
		return -1;
	}
	snprintf(port, portlen, "%lld", v);
	return 0;
}

/* "*", a dotted quad that inet_pton() accepts, or a name to resolve later. */
static int listen_host_ok(const char *host)
{
	struct in_addr in;

	if (strcmp(host, "*") == 0)
		return 1;
	if (strspn(host, "0123456789.") == strlen(host))
		return inet_pton(AF_INET, host, &in) == 1;
	return host_chars_ok(host, ".-_");
}

/* HOST:PORT, [IPV6]:PORT, *:PORT or PORT into LA. */
static int parse_addr(const char *s, struct listen_addr *la, char *why, size_t whylen)
{
	char host[sizeof(la->host)];
	const char *port;
	size_t hlen;

	memset(la, 0, sizeof(*la));
	if (*s >= '0' && *s <= '9' && !strchr(s, ':') && !strchr(s, '.')) {
		strcpy(la->host, "*");
		return parse_port(s, la->port, sizeof(la->port), why, whylen);
	}
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close) {
			snprintf(why, whylen, SHOW_FMT ": missing ']'", SHOW(s));
			return -1;
		}
		if (close[1] != ':' || close[2] == '\0') {
			snprintf(why, whylen, SHOW_FMT ": missing port after ']' ([IPV6]:PORT)",
				 SHOW(s));
			return -1;
		}
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(host)) {
			snprintf(why, whylen, SHOW_FMT " is not an IPv6 address", SHOW(s));
			return -1;
		}
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		/* A zone ("%eth0") is for getaddrinfo(); check only the address. */
		char addr[sizeof(host)];
		unsigned char bin[16];
		strcpy(addr, host);
		char *pct = strchr(addr, '%');
		if (pct)
			*pct = '\0';
		if (inet_pton(AF_INET6, addr, bin) != 1 ||
		    (pct && (pct[1] == '\0' || !host_chars_ok(pct + 1, ".-_")))) {
			snprintf(why, whylen, SHOW_FMT " is not an IPv6 address", SHOW(host));
			return -1;
		}
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon) {
			snprintf(why, whylen,
				 SHOW_FMT " has no port (HOST:PORT, [IPV6]:PORT, *:PORT or PORT)",
				 SHOW(s));
			return -1;
		}
		if (colon != strchr(s, ':')) {
			snprintf(why, whylen,
				 SHOW_FMT ": an IPv6 address must be in brackets, e.g. [::1]:2525",
				 SHOW(s));
			return -1;
		}
		hlen = (size_t)(colon - s);
		if (hlen == 0 || colon[1] == '\0') {
			snprintf(why, whylen, SHOW_FMT ": %s is empty", SHOW(s),
				 hlen == 0 ? "host" : "port");
			return -1;
		}
		if (hlen >= sizeof(host)) {
			snprintf(why, whylen, "host name longer than %zu octets", sizeof(host) - 1);
			return -1;
		}
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (!listen_host_ok(host)) {
			snprintf(why, whylen, SHOW_FMT " is not a host name or IPv4 address",
				 SHOW(host));
			return -1;
		}
		port = colon + 1;
	}
	strcpy(la->host, host);
	return parse_port(port, la->port, sizeof(la->port), why, whylen);
}

static int parse_listen(struct config *cfg, int argc, char **argv, int first, char *why,
			size_t whylen)
{
	struct listen_addr la;

	/* The built-in default is a fallback, not a first entry to add to. */
	if (first) {
		memset(cfg->listen, 0, sizeof(cfg->listen));
		cfg->nlisten = 0;
	}
	if (parse_addr(argv[0], &la, why, whylen) < 0)
		return -1;
	for (int i = 1; i < argc; i++) {
		unsigned f = strcmp(argv[i], "smtps") == 0   ? LISTEN_SMTPS
			     : strcmp(argv[i], "proxy") == 0 ? LISTEN_PROXY
							     : 0;
		if (!f) {
			snprintf(why, whylen, "unknown listener option " SHOW_FMT " (smtps, proxy)",
				 SHOW(argv[i]));
			return -1;
		}
		if (la.flags & f) {
			snprintf(why, whylen, SHOW_FMT " given twice", SHOW(argv[i]));
			return -1;
		}
		la.flags |= f;
	}
	for (int i = 0; i < cfg->nlisten; i++) {
		if (strcasecmp(cfg->listen[i].host, la.host) == 0 &&
		    strcmp(cfg->listen[i].port, la.port) == 0) {
			snprintf(why, whylen, SHOW_FMT " is already listed", SHOW(argv[0]));
			return -1;
		}
	}
	if (cfg->nlisten >= CONFIG_MAX_LISTEN) {
		snprintf(why, whylen, "more than %d addresses", CONFIG_MAX_LISTEN);
		return -1;
	}
	cfg->listen[cfg->nlisten++] = la;
	return 0;
}

static void dump_listen(const struct config *cfg, const struct option *o, FILE *out)
{
	for (int i = 0; i < cfg->nlisten; i++) {
		const struct listen_addr *la = &cfg->listen[i];
		if (strchr(la->host, ':'))
			fprintf(out, "%s [%s]:%s", o->name, la->host, la->port);
		else
			fprintf(out, "%s %s:%s", o->name, la->host, la->port);
		fprintf(out, "%s%s\n", (la->flags & LISTEN_SMTPS) ? " smtps" : "",
			(la->flags & LISTEN_PROXY) ? " proxy" : "");
	}
}

#define REPLICAS_MIN 1
#define REPLICAS_MAX 100

static int parse_durability(struct config *cfg, int argc, char **argv, int first, char *why,
			    size_t whylen)
{
	if (strcasecmp(argv[0], "replicas") == 0) {
		long long n;
		size_t nd;
		if (argc < 2) {
			snprintf(why, whylen, "replicas needs a count, e.g. \"replicas 1\"");
			return -1;
		}
		nd = scan_digits(argv[1], 10, &n);
		if (nd == 0 || argv[1][nd] != '\0') {
			snprintf(why, whylen, "replica count " SHOW_FMT " is not an integer",
				 SHOW(argv[1]));
			return -1;
		}
		if (n < REPLICAS_MIN || n > REPLICAS_MAX) {
			snprintf(why, whylen, "replicas %.64s is %s %d", argv[1],
				 n < REPLICAS_MIN ? "below the minimum" : "above the maximum",
				 n < REPLICAS_MIN ? REPLICAS_MIN : REPLICAS_MAX);
			return -1;
		}
		cfg->queue_durability = DURABILITY_REPLICAS;
		cfg->queue_replicas = (int)n;
		return 0;
	}
	if (strcasecmp(argv[0], "none") == 0 || strcasecmp(argv[0], "fsync") == 0) {
		if (argc > 1) {
			snprintf(why, whylen, "unexpected extra value " SHOW_FMT, SHOW(argv[1]));
			return -1;
		}
		cfg->queue_durability =
			strcasecmp(argv[0], "none") == 0 ? DURABILITY_NONE : DURABILITY_FSYNC;
		cfg->queue_replicas = 0;
		return 0;
	}
	snprintf(why, whylen, SHOW_FMT " is not one of none, fsync, replicas N", SHOW(argv[0]));
	return -1;
}

static void dump_durability(const struct config *cfg, const struct option *o, FILE *out)
{
	switch (cfg->queue_durability) {
	case DURABILITY_NONE:
		fprintf(out, "%s none\n", o->name);
		break;
	case DURABILITY_FSYNC:
		fprintf(out, "%s fsync\n", o->name);
		break;
	case DURABILITY_REPLICAS:
		fprintf(out, "%s replicas %d\n", o->name, cfg->queue_replicas);
		break;
	}
}

/* "arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE", or empty. */
static int check_arn(const char *v, char *why, size_t whylen)
{
	int colons = 0;
	for (const char *p = v; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == '"') {
			snprintf(why, whylen, SHOW_FMT " is not an ARN", SHOW(v));
			return -1;
		}
		colons += *p == ':';
	}
	if (*v && (strncmp(v, "arn:", 4) != 0 || colons < 5)) {
		snprintf(why, whylen, SHOW_FMT " is not an ARN (arn:aws:SERVICE:REGION:ACCOUNT:...)",
			 SHOW(v));
		return -1;
	}
	return 0;
}

static int chars_in(const char *v, const char *extra)
{
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(extra, *p)))
			return 0;
	return 1;
}

/* IAM role names: 1-64 of letters, digits and +=,.@_- */
static int check_role_name(const char *v, char *why, size_t whylen)
{
	if (*v && strlen(v) <= 64 && chars_in(v, "+=,.@_-"))
		return 0;
	snprintf(why, whylen, SHOW_FMT " is not an IAM role name (1-64 of A-Z a-z 0-9 +=,.@_-)",
		 SHOW(v));
	return -1;
}

/* SES configuration set names: 1-64 of letters, digits, _ and - */
static int check_cfgset(const char *v, char *why, size_t whylen)
{
	if (*v && strlen(v) <= 64 && chars_in(v, "_-"))
		return 0;
	snprintf(why, whylen, SHOW_FMT " is not a configuration set name (1-64 of A-Z a-z 0-9 _ -)",
		 SHOW(v));
	return -1;
}

/* "ou-" + root part + "-" + 8..32 lower-case letters or digits, or empty. */
static int check_ou(const char *v, char *why, size_t whylen)
{
	if (!*v || (strncmp(v, "ou-", 3) == 0 && strlen(v) >= 8 && chars_in(v + 3, "-") &&
		    strchr(v + 3, '-')))
		return 0;
	snprintf(why, whylen, SHOW_FMT " is not an organizational unit id (ou-xxxx-yyyyyyyy)",
		 SHOW(v));
	return -1;
}

static int check_mail_type(const char *v, char *why, size_t whylen)
{
	if (strcmp(v, "TRANSACTIONAL") == 0 || strcmp(v, "MARKETING") == 0)
		return 0;
	snprintf(why, whylen, SHOW_FMT " is not TRANSACTIONAL or MARKETING", SHOW(v));
	return -1;
}

/* Empty, or what listen accepts (HOST:PORT, [V6]:PORT, *:PORT). */
static int check_http_listen(const char *v, char *why, size_t whylen)
{
	struct listen_addr la;
	return *v ? parse_addr(v, &la, why, whylen) : 0;
}

/* A region is a short lower-case token ("us-east-1", "eu-central-2"). */
static int check_networks(const char *v, char *why, size_t whylen)
{
	struct cidr_list *l = malloc(sizeof(*l));
	int rc = l ? cidr_list_parse(v, l, why, whylen) : -1;
	free(l);
	return rc;
}

/* Cipher strings are checked here so `sesgate -t` catches a typo. */
static int check_tls_string(const char *v, int suites, char *why, size_t whylen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int ok = ctx && (suites ? SSL_CTX_set_ciphersuites(ctx, v) : SSL_CTX_set_cipher_list(ctx, v));
	SSL_CTX_free(ctx);
	if (!ok)
		snprintf(why, whylen, SHOW_FMT " names no cipher OpenSSL knows", SHOW(v));
	return ok ? 0 : -1;
}

static int check_ciphers(const char *v, char *why, size_t whylen)
{
	return check_tls_string(v, 0, why, whylen);
}

static int check_ciphersuites(const char *v, char *why, size_t whylen)
{
	return check_tls_string(v, 1, why, whylen);
}

static int check_user(const char *v, char *why, size_t whylen)
{
	if (*v && !getpwnam(v)) {
		snprintf(why, whylen, "no such user " SHOW_FMT, SHOW(v));
		return -1;
	}
	return 0;
}

static int check_group(const char *v, char *why, size_t whylen)
{
	if (*v && !getgrnam(v)) {
		snprintf(why, whylen, "no such group " SHOW_FMT, SHOW(v));
		return -1;
	}
	return 0;
}

/* Comma- or blank-separated names or numeric ids; a name must exist, so
 * `sesgate -t` catches the typo that would lock the admins out. */
static int check_id_list(const char *v, int groups, char *why, size_t whylen)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", v);
	for (char *save = NULL, *t = strtok_r(buf, ", \t", &save); t;
	     t = strtok_r(NULL, ", \t", &save)) {
		if (strspn(t, "0123456789") == strlen(t))
			continue;
		if (groups ? !getgrnam(t) : !getpwnam(t)) {
			snprintf(why, whylen, "no such %s " SHOW_FMT, groups ? "group" : "user",
				 SHOW(t));
			return -1;
		}
	}
	return 0;
}

static int check_user_list(const char *v, char *why, size_t whylen)
{
	return check_id_list(v, 0, why, whylen);
}

static int check_group_list(const char *v, char *why, size_t whylen)
{
	return check_id_list(v, 1, why, whylen);
}

static int check_region(const char *v, char *why, size_t whylen)
{
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) {
			snprintf(why, whylen, SHOW_FMT " is not an AWS region name", SHOW(v));
			return -1;
		}
	return 0;
}

/* A positive decimal rate, e.g. "1", "0.5", "14". */
static int parse_rate(struct config *cfg, int argc, char **argv, int first, char *why,
		      size_t whylen)
{
	char *end;
	errno = 0;
	double d = strtod(argv[0], &end);
	if (argc > 1) {
		snprintf(why, whylen, "unexpected extra value " SHOW_FMT, SHOW(argv[1]));
		return -1;
	}
	if (end == argv[0] || *end || errno || !(d >= 0.01 && d <= 1000000)) {
		snprintf(why, whylen, SHOW_FMT " is not a rate between 0.01 and 1000000",
			 SHOW(argv[0]));
		return -1;
	}
	cfg->default_send_rate = d;
	return 0;
}

static void dump_rate(const struct config *cfg, const struct option *o, FILE *out)
{
	fprintf(out, "%s %g\n", o->name, cfg->default_send_rate);
}

/* A percentage 0.001-100, optionally written with a % sign. */
static int parse_percent(const char *v, double *out, char *why, size_t whylen)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (*end == '%')
		end++;
	if (end == v || *end || errno || !(d >= 0.001 && d <= 100)) {
		snprintf(why, whylen, SHOW_FMT " is not a percentage between 0.001 and 100", SHOW(v));
		return -1;
	}
	*out = d;
	return 0;
}

static int parse_bounce_rate(struct config *cfg, int argc, char **argv, int first, char *why,
			     size_t whylen)
{
	return parse_percent(argv[0], &cfg->guard_bounce_rate, why, whylen);
}

static void dump_bounce_rate(const struct config *cfg, const struct option *o, FILE *out)
{
	fprintf(out, "%s %g\n", o->name, cfg->guard_bounce_rate);
}

static int parse_complaint_rate(struct config *cfg, int argc, char **argv, int first, char *why,
				size_t whylen)
{
	return parse_percent(argv[0], &cfg->guard_complaint_rate, why, whylen);
}

static void dump_complaint_rate(const struct config *cfg, const struct option *o, FILE *out)
{
	fprintf(out, "%s %g\n", o->name, cfg->guard_complaint_rate);
}

/* ---- setting one directive --------------------------------------------- */

static int set_option(struct config *cfg, const struct option *o, int argc, char **argv,
		      int first, char *why, size_t whylen)
{
	const char *v = argv[0];
	const struct keyword *kw;
	long long n;
	size_t len;

	switch (o->type) {
	case T_INT:
	case T_SIZE:
	case T_SECS:
	case T_MSECS:
	case T_OCTAL:
		if (parse_number(o, v, &n, why, whylen) < 0 ||
		    range_check(o, v, n, why, whylen) < 0)
			return -1;
		set_num(cfg, o, n);
		return 0;
	case T_BOOL:
		kw = find_keyword(o->keywords, v);
		if (!kw) {
			snprintf(why, whylen,
				 SHOW_FMT " is not a boolean (yes/no, on/off, true/false, 1/0)",
				 SHOW(v));
			return -1;
		}
		set_num(cfg, o, kw->value);
		return 0;
	case T_ENUM:
		kw = find_keyword(o->keywords, v);
		if (!kw) {
			keyword_error(o->keywords, v, why, whylen);
			return -1;
		}
		set_num(cfg, o, kw->value);
		return 0;
	case T_STRING:
		len = strlen(v);
		if (len >= o->size) {
			snprintf(why, whylen, "value is %zu octets, the maximum is %zu", len,
				 o->size - 1);
			return -1;
		}
		if (o->check && o->check(v, why, whylen) < 0)
			return -1;
		/* Zero the tail too: equal configs are equal bytes. */
		memset(field_ptr(cfg, o), 0, o->size);
		memcpy(field_ptr(cfg, o), v, len);
		return 0;
	case T_SPECIAL:
		return o->parse(cfg, argc, argv, first, why, whylen);
	}
	return -1;
}

/* ---- tokenizer --------------------------------------------------------- */

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/*
 * One double-quoted token starting at *RP (on the quote), copied dequoted to
 * *WP; both pointers are advanced.  -1 with WHY on a syntax error.
 */
static int scan_quoted(char **rp, char **wp, char *why, size_t whylen)
{
	char *r = *rp + 1, *w = *wp;

	for (;; r++) {
		unsigned char c = (unsigned char)*r;
		if (c == '"')
			break;
		if (c == '\\') {
			c = (unsigned char)*++r;
			if (c != '"' && c != '\\' && c != '\0') {
				if (is_control(c))
					snprintf(why, whylen, "unknown escape in quoted string");
				else
					snprintf(why, whylen,
						 "unknown escape \\%c in quoted string "
						 "(only \\\" and \\\\)",
						 c);
				return -1;
			}
		} else if (is_control(c) && c != '\t' && c != '\0') {
			snprintf(why, whylen, "control character 0x%02x", c);
			return -1;
		}
		if (c == '\0') {
			snprintf(why, whylen, "unterminated quoted string");
			return -1;
		}
		*w++ = (char)c;
	}
	r++; /* past the closing quote */
	if (*r != '\0' && !is_blank(*r)) {
		snprintf(why, whylen, "text after closing quote");
		return -1;
	}
	*rp = r;
	*wp = w;
	return 0;
}

/* An unquoted token: up to whitespace or the end of the line. */
static int scan_bare(char **rp, char **wp, char *why, size_t whylen)
{
	char *r = *rp, *w = *wp;

	for (; *r != '\0' && !is_blank(*r); r++) {
		unsigned char c = (unsigned char)*r;
		if (c == '"') {
			snprintf(why, whylen,
				 "unexpected '\"' inside a value (quote the whole value)");
			return -1;
		}
		if (is_control(c)) {
			snprintf(why, whylen, "control character 0x%02x", c);
			return -1;
		}
		*w++ = (char)c;
	}
	*rp = r;
	*wp = w;
	return 0;
}

/*
 * Split LINE in place into tokens, removing quotes and escapes.  The first
 * MAXTOK token pointers go to TOK; the return value counts all of them, or
 * is -1 with WHY filled.  Writing never overtakes reading, since a dequoted
 * token is never longer than its source.
 */
static int tokenize(char *line, char **tok, int maxtok, char *why, size_t whylen)
{
	char *r = line, *w = line;
	int n = 0;

	for (;;) {
		char *start = w, end;

		while (is_blank(*r))
			r++;
		if (*r == '\0' || *r == '#')
			break;
		if ((*r == '"' ? scan_quoted : scan_bare)(&r, &w, why, whylen) < 0)
			return -1;
		end = *r;
		*w++ = '\0'; /* may land on *r, which END has saved */
		if (n < maxtok)
			tok[n] = start;
		n++;
		if (end == '\0')
			break;
		r++;
	}
	return n;
}

/* ---- loading ----------------------------------------------------------- */

struct parser {
	const char *name;
	int line;
	char *err;
	size_t errlen;
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->err || p->errlen == 0)
		return -1;
	n = snprintf(p->err, p->errlen, "%s:%d: ", p->name, p->line);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Table defaults only; resolve_auto() fills in what depends on the host. */
static void apply_defaults(struct config *cfg)
{
	char why[256] = "empty default";

	memset(cfg, 0, sizeof(*cfg));
	for (int i = 0; i < NOPTIONS; i++) {
		const struct option *o = &options[i];
		char buf[256], *argv[MAX_TOKENS] = {(char *)o->def};
		int argc = 1;

		if (o->type == T_SPECIAL) {
			snprintf(buf, sizeof(buf), "%s", o->def);
			argc = tokenize(buf, argv, MAX_TOKENS, why, sizeof(why));
		}
		if (o->maxargs > MAX_VALUES)
			snprintf(why, sizeof(why), "maxargs above %d", MAX_VALUES);
		if (o->maxargs > MAX_VALUES || argc < 1 ||
		    set_option(cfg, o, argc, argv, 1, why, sizeof(why)) < 0) {
			/* A bad table row is a bug; the unit tests hit this first. */
			fprintf(stderr, "config: bad built-in default for %s: %s\n", o->name, why);
			abort();
		}
	}
}

/* "0 = number of CPUs" and "empty = gethostname()" resolved once, here. */
static void resolve_auto(struct config *cfg)
{
	if (cfg->smtp_threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg->smtp_threads = n < 1 ? 1 : n > SMTP_THREADS_MAX ? SMTP_THREADS_MAX : (int)n;
	}
	if (cfg->hostname[0] == '\0') {
		char h[sizeof(cfg->hostname) + 1] = "";
		/* gethostname() need not terminate a truncated name. */
		if (gethostname(h, sizeof(h) - 1) < 0 || h[0] == '\0' ||
		    !host_chars_ok(h, ".-_"))
			strcpy(h, "localhost");
		h[sizeof(cfg->hostname) - 1] = '\0';
		memset(cfg->hostname, 0, sizeof(cfg->hostname));
		strcpy(cfg->hostname, h);
	}
}

void config_defaults(struct config *cfg)
{
	apply_defaults(cfg);
	resolve_auto(cfg);
}

int config_parse_buffer(const char *name, const char *buf, size_t len, struct config *cfg,
			char *err, size_t errlen)
{
	struct parser p = {.name = name ? name : "(config)", .err = err, .errlen = errlen};
	struct config tmp;
	int seen[NOPTIONS] = {0};
	char line[LINE_MAX_OCTETS + 1];
	const char *pos = buf, *end;
	char why[512];

	if (!buf)
		len = 0;
	end = len ? buf + len : buf;

	apply_defaults(&tmp);
	snprintf(tmp.path, sizeof(tmp.path), "%s", p.name);
	if (err && errlen)
		err[0] = '\0';

	/* Editors on some systems start UTF-8 files with a byte order mark. */
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		pos += 3;

	while (pos < end) {
		const char *nl = memchr(pos, '\n', (size_t)(end - pos));
		size_t n = (size_t)((nl ? nl : end) - pos);
		char *tok[MAX_TOKENS];
		const struct option *o;
		int ntok, maxargs, idx;

		p.line++;
		if (memchr(pos, '\0', n))
			return fail(&p, "NUL byte in line");
		if (n > LINE_MAX_OCTETS)
			return fail(&p, "line longer than %d octets", LINE_MAX_OCTETS);
		memcpy(line, pos, n);
		line[n] = '\0';
		pos = nl ? nl + 1 : end;

		ntok = tokenize(line, tok, MAX_TOKENS, why, sizeof(why));
		if (ntok < 0)
			return fail(&p, "%s", why);
		if (ntok == 0)
			continue;
		o = find_option(tok[0]);
		if (!o)
			return fail(&p, "unknown directive " SHOW_FMT, SHOW(tok[0]));
		if (ntok == 1)
			return fail(&p, "%s: missing value", o->name);
		maxargs = o->maxargs ? o->maxargs : 1;
		if (ntok - 1 > maxargs)
			return fail(&p, "%s: unexpected extra value " SHOW_FMT, o->name,
				    SHOW(tok[1 + maxargs]));
		idx = (int)(o - options);
		if (seen[idx] && !(o->flags & F_MULTI))
			return fail(&p, "%s: duplicate directive (first set on line %d)", o->name,
				    seen[idx]);
		if (set_option(&tmp, o, ntok - 1, tok + 1, !seen[idx], why, sizeof(why)) < 0)
			return fail(&p, "%s: %s", o->name, why);
		if (!seen[idx])
			seen[idx] = p.line;
	}

	/* Directives that only make sense together; blamed on the later line. */
	int lmin = seen[find_option("retry_min_backoff") - options];
	int lmax = seen[find_option("retry_max_backoff") - options];
	if (tmp.retry_max_backoff < tmp.retry_min_backoff) {
		p.line = lmax > lmin ? lmax : lmin;
		return fail(&p, "retry_max_backoff (%ds) is below retry_min_backoff (%ds)",
			    tmp.retry_max_backoff, tmp.retry_min_backoff);
	}
	if (tmp.management_role_arn[0] && !tmp.gateway_principal_arn[0]) {
		/* Each tenant's sending role must name whom it trusts. */
		p.line = seen[find_option("management_role_arn") - options];
		return fail(&p, "management_role_arn needs gateway_principal_arn (the gateway's own "
				"IAM principal, trusted by each tenant's sending role)");
	}
	if (!tmp.http_tls_cert[0] != !tmp.http_tls_key[0]) {
		p.line = seen[find_option(tmp.http_tls_cert[0] ? "http_tls_cert" : "http_tls_key") - options];
		return fail(&p, "http_tls_cert and http_tls_key go together");
	}
	if (!tmp.tls_cert[0] != !tmp.tls_key[0]) {
		p.line = seen[find_option(tmp.tls_cert[0] ? "tls_cert" : "tls_key") - options];
		return fail(&p, "tls_cert and tls_key go together");
	}
	for (int i = 0; i < tmp.nlisten; i++) {
		p.line = seen[find_option("listen") - options];
		if ((tmp.listen[i].flags & LISTEN_SMTPS) && !tmp.tls_cert[0])
			return fail(&p, "listen %s:%s smtps needs tls_cert and tls_key",
				    tmp.listen[i].host, tmp.listen[i].port);
		if ((tmp.listen[i].flags & LISTEN_PROXY) && !tmp.proxy_trusted[0])
			return fail(&p, "listen %s:%s proxy needs proxy_trusted (the load "
					"balancers allowed to send PROXY headers)",
				    tmp.listen[i].host, tmp.listen[i].port);
	}
	if (tmp.group[0] && !tmp.user[0]) {
		p.line = seen[find_option("group") - options];
		return fail(&p, "group needs user");
	}
	int lvis = seen[find_option("visibility_timeout") - options];
	int lses = seen[find_option("ses_timeout") - options];
	if (tmp.visibility_timeout < 2 * tmp.ses_timeout) {
		/* A claim must outlive the call it covers, or a slow but successful
		 * send would be handed to a second worker and sent twice. */
		p.line = lvis > lses ? lvis : lses;
		return fail(&p, "visibility_timeout (%ds) must be at least twice ses_timeout (%ds)",
			    tmp.visibility_timeout, tmp.ses_timeout);
	}

	resolve_auto(&tmp);
	memcpy(cfg, &tmp, sizeof(tmp));
	return 0;
}

int config_load(const char *file, struct config *cfg, char *err, size_t errlen)
{
	FILE *f = fopen(file, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc, e;

	if (!f)
		goto syserr;
	struct stat st;
	mode_t mode = fstat(fileno(f), &st) == 0 ? st.st_mode : 0;
	/* Read one octet past the limit so "too big" is told from "just fits". */
	for (;;) {
		size_t got;
		if (len == cap) {
			char *nb;
			if (cap > FILE_MAX_OCTETS)
				break;
			cap = cap ? cap * 2 : 8192;
			if (cap > FILE_MAX_OCTETS + 1)
				cap = FILE_MAX_OCTETS + 1;
			nb = realloc(buf, cap);
			if (!nb)
				goto syserr_close;
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0) {
			if (ferror(f))
				goto syserr_close;
			break;
		}
	}
	fclose(f);
	if (len > FILE_MAX_OCTETS) {
		free(buf);
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than %d octets", file, FILE_MAX_OCTETS);
		return -1;
	}
	rc = config_parse_buffer(file, buf, len, cfg, err, errlen);
	free(buf);
	if (rc == 0 && (mode & S_IROTH)) {
		/* Like ssh with a private key: a secret everyone can read is no
		 * secret, and starting anyway would hide that from the admin. */
		for (int i = 0; i < NOPTIONS; i++) {
			const struct option *o = &options[i];
			if ((o->flags & F_SECRET) && o->type == T_STRING &&
			    *(const char *)field_cptr(cfg, o)) {
				if (err && errlen)
					snprintf(err, errlen,
						 "%s: holds %s but is readable by every user "
						 "(chmod o-r %s)",
						 file, o->name, file);
				return -1;
			}
		}
	}
	return rc;

syserr_close:
	e = errno;
	fclose(f);
	free(buf);
	errno = e;
syserr:
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
	return -1;
}

/* ---- dump -------------------------------------------------------------- */

/* Write S so that tokenize() gives it back unchanged. */
static void dump_string(FILE *out, const char *s)
{
	if (*s != '\0' && !strpbrk(s, " \t\"\\#")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

void config_dump(const struct config *cfg, FILE *out)
{
	for (int i = 0; i < NOPTIONS; i++) {
		const struct option *o = &options[i];
		char buf[64];

		if (o->type == T_SPECIAL) {
			o->dump(cfg, o, out);
			continue;
		}
		fprintf(out, "%s ", o->name);
		switch (o->type) {
		case T_BOOL:
		case T_ENUM:
			fputs(keyword_name(o->keywords, (int)get_num(cfg, o)), out);
			break;
		case T_STRING: {
			const char *s = field_cptr(cfg, o);
			if ((o->flags & F_SECRET) && *s)
				s = SECRET_MASK;
			dump_string(out, s);
			break;
		}
		default:
			format_number(o, get_num(cfg, o), buf, sizeof(buf));
			fputs(buf, out);
			break;
		}
		fputc('\n', out);
	}
}
