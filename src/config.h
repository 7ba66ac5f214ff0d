/*
 * config.h - sesgate's configuration: one option table drives parsing,
 * defaults, range checks, `sesgate -t` and `sesgate -T` (dump).
 *
 * The parsed configuration is immutable after start-up: every thread reads
 * the same `const struct config *` without locks.  A reload builds a new one.
 */
#ifndef SESGATE_CONFIG_H
#define SESGATE_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define CONFIG_MAX_LISTEN 16

enum durability {
	DURABILITY_NONE = 0,   /* write only; the Redis server decides */
	DURABILITY_FSYNC,      /* require appendonly yes + appendfsync always */
	DURABILITY_REPLICAS,   /* WAIT for N replicas after each write */
};

enum log_target { LOG_TARGET_STDERR = 0, LOG_TARGET_SYSLOG };
enum prov_mail { PROV_MAIL_HOLD = 0, PROV_MAIL_TEMPFAIL };
enum log_format { LOG_FORMAT_PLAIN = 0, LOG_FORMAT_JSON };

#define LISTEN_SMTPS 0x1  /* implicit TLS (RFC 8314, port 465) */
#define LISTEN_PROXY 0x2  /* a PROXY protocol v1/v2 header comes first */

struct listen_addr {
	char host[256];   /* numeric address or name; "*" = all */
	char port[16];
	unsigned flags;   /* LISTEN_* */
};

struct config {
	char path[1024];                 /* file it was read from */

	/* SMTP front end */
	struct listen_addr listen[CONFIG_MAX_LISTEN];
	int nlisten;
	char hostname[256];              /* EHLO name and Received: by */
	int smtp_threads;                /* 0 in the file = number of cores */
	int max_sessions;                /* global concurrent sessions, 421 above */
	int listen_backlog;
	uint64_t max_message_size;       /* octets, SIZE and DATA/BDAT limit */
	int max_recipients;              /* per transaction */
	int max_command_line;            /* octets incl. CRLF (RFC 5321: 512) */
	int max_text_line;               /* octets incl. CRLF (RFC 5321: 1000) */
	int timeout_idle;                /* seconds waiting for a command */
	int timeout_data;                /* seconds between DATA/BDAT bytes */
	int max_errors;                  /* errors before the session is dropped */
	int error_delay_ms;              /* sleep added to each error reply after max_errors/2 */
	uint64_t max_data_memory;        /* bytes of message data held, all sessions */
	int auth_allow_plaintext;        /* AUTH without TLS */
	int check_header_from;           /* check From: header domain after DATA */

	/* TLS (STARTTLS and smtps listeners) */
	char tls_cert[512];              /* PEM chain; "" = no STARTTLS */
	char tls_key[512];
	int tls_min_protocol;            /* TLS1_2_VERSION or TLS1_3_VERSION */
	char tls_ciphers[1024];          /* TLS 1.2 cipher list */
	char tls_ciphersuites[512];      /* TLS 1.3 suites */
	int tls_handshake_timeout;       /* seconds */

	/* abuse limits */
	int max_sessions_per_ip;         /* concurrent, per client address (IPv6: /64) */
	int max_connect_rate;            /* new sessions per client address per minute */
	int max_sessions_per_tenant;     /* concurrent authenticated sessions, per instance */
	int min_data_rate;               /* octets/s a message must average after timeout_data */
	int auth_fail_window;            /* seconds failures are counted over */
	int auth_fail_ip_limit;          /* failures per client address before lockout */
	int auth_fail_user_limit;        /* failures per user name before lockout */
	int auth_lockout;                /* seconds a locked address or name stays locked */
	int auth_fail_delay_ms;          /* added per earlier failure to a 535 reply */

	/* PROXY protocol */
	char proxy_trusted[2048];        /* networks allowed to send a PROXY header */
	int proxy_timeout;               /* seconds to wait for the header */

	/* credentials */
	int password_hash_iterations;    /* PBKDF2-HMAC-SHA256 rounds for new creds */
	int auth_cache_ttl;              /* seconds a verified password is remembered */
	int auth_hash_threads;           /* threads verifying password hashes */

	/* Redis */
	char redis_host[256];
	int redis_port;
	char redis_unix[512];            /* if set, used instead of host/port */
	char redis_password[256];        /* secret: never logged */
	int redis_db;
	int redis_timeout_ms;            /* per command, then 451 */
	enum durability queue_durability;
	int queue_replicas;              /* with DURABILITY_REPLICAS */

	/* delivery (workers, SES) */
	int workers;                     /* delivery threads; 0 = accept and queue only */
	int worker_inflight;             /* concurrent SES calls per worker */
	char aws_region[64];             /* "" = AWS_REGION / shared config */
	int ses_timeout;                 /* seconds per SES/STS HTTP call */
	int visibility_timeout;          /* seconds a claimed message stays invisible */
	int max_queue_lifetime;          /* seconds before a message is given up on */
	int retry_min_backoff;           /* seconds, first retry delay */
	int retry_max_backoff;           /* seconds, largest retry delay */
	int throttle_backoff_ms;         /* delay of a retry after SES throttling */
	int delivery_record_ttl;         /* seconds message history / SES ids are kept */
	int account_refresh;             /* seconds between GetAccount per tenant */
	int sts_session_duration;        /* seconds, AssumeRole DurationSeconds */
	double default_send_rate;        /* recipients/s before SES's MaxSendRate is known */

	/* provisioning (tenant onboarding through AWS Organizations) */
	char management_role_arn[256];   /* "" = provisioning off */
	char gateway_principal_arn[256]; /* trusted by each tenant's sending role */
	char member_role_name[64];       /* admin role Organizations creates */
	char sending_role_name[64];      /* the role workers assume */
	char configuration_set_name[65];
	char sns_topic_arn[256];         /* SES events; "" = none */
	char ou_production[80], ou_sandbox[80], ou_poc[80];
	int provisioning_mail;           /* PROV_MAIL_HOLD or PROV_MAIL_TEMPFAIL */
	int provision_poll_ms;           /* longest wait between polls */
	int provision_lease;             /* seconds a dead instance keeps a tenant */
	char production_mail_type[16];
	char production_website_url[256];
	char production_use_case[1024];

	/* SES events and the reputation guard */
	double guard_bounce_rate;        /* percent of sends, hard bounces */
	double guard_complaint_rate;     /* percent of sends */
	int guard_window;                /* seconds */
	int guard_min_sends;             /* below this many sends no verdict */

	char sns_topics[1024];           /* accepted topic ARNs; "" = sns_topic_arn */
	char sns_cert_host[256];         /* allowed SigningCertURL hosts (pattern) */
	char sns_cert_ca[512];           /* CA bundle for fetching certificates */
	int sns_max_age;                 /* seconds: older messages are replays */
	char webhook_ca[512];            /* CA bundle for tenants' webhooks; "" = system */

	/* HTTP listener: SNS events, /metrics, /healthz, /readyz */
	char http_listen[280];           /* "" = off */
	char http_tls_cert[512];         /* "" = plain HTTP */
	char http_tls_key[512];

	/* control socket */
	char control_socket[512];
	int control_socket_mode;         /* octal, default 0660 */
	char control_allow_users[512];   /* peers (SO_PEERCRED) allowed besides root/self */
	char control_allow_groups[512];

	/* privileges */
	char user[64];                   /* drop to this user after binding; "" = stay */
	char group[64];                  /* and group; "" = the user's primary group */

	/* process */
	char pid_file[512];
	enum log_target log_target;
	enum log_format log_format;
	int log_level;                   /* syslog levels: LOG_ERR .. LOG_DEBUG */
	int syslog_facility;
};

/*
 * Parse FILE into *CFG.  Defaults are applied first, so an empty file is a
 * valid configuration.  On error returns -1 and writes "file:line: reason"
 * (no trailing newline) into ERR.
 */
int config_load(const char *file, struct config *cfg, char *err, size_t errlen);

/* Parse from a memory buffer; NAME is used in error messages. */
int config_parse_buffer(const char *name, const char *buf, size_t len,
                        struct config *cfg, char *err, size_t errlen);

/* Fill *CFG with every default (what an empty file gives). */
void config_defaults(struct config *cfg);

/* Write the effective configuration, one directive per line (secrets masked). */
void config_dump(const struct config *cfg, FILE *out);

#endif
