/*
 * stats.h - process-wide counters and gauges, generated from one X-macro
 * list.  Relaxed atomics: any thread may bump them; readers (control socket,
 * later /metrics) see a consistent-enough snapshot.
 */
#ifndef SESGATE_STATS_H
#define SESGATE_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#define STATS_COUNTERS(X)                                                        \
	X(sessions_total, "SMTP sessions accepted")                              \
	X(sessions_refused_full, "connections refused with 421: max_sessions")   \
	X(sessions_timeout, "sessions ended by idle or DATA timeout")            \
	X(sessions_errors_limit, "sessions ended by the error budget")           \
	X(sessions_refused_ip, "sessions refused: max_sessions_per_ip")         \
	X(sessions_refused_rate, "sessions refused: max_connect_rate")          \
	X(sessions_refused_tenant, "sessions refused: max_sessions_per_tenant") \
	X(sessions_slow, "sessions ended for sending too slowly (slowloris)")   \
	X(tls_handshakes, "TLS handshakes completed")                           \
	X(tls_failures, "TLS handshakes that failed or timed out")              \
	X(starttls_pipelined, "plaintext discarded after STARTTLS (injection)") \
	X(proxy_refused, "PROXY listener connections refused (untrusted or bad header)") \
	X(auth_lockouts, "AUTH refused: address or user name locked out")       \
	X(ip_authorized, "sessions authorized by client network")               \
	X(control_denied, "control socket peers refused (SO_PEERCRED)")        \
	X(auth_success, "successful AUTH")                                       \
	X(auth_failure, "failed AUTH")                                           \
	X(auth_cache_hits, "AUTH verified from the cache")                       \
	X(auth_hash_shared, "AUTH answered by an identical check in progress")   \
	X(msgs_accepted, "messages queued (250 sent)")                           \
	X(msgs_tempfail, "messages refused with 4xx at end of data")             \
	X(msgs_rejected, "messages refused with 5xx at end of data")             \
	X(bytes_accepted, "octets of queued messages")                           \
	X(rcpt_rejected, "recipients refused")                                   \
	X(rcpt_suppressed, "recipients refused: on the tenant's suppression list") \
	X(mail_rejected, "MAIL commands refused")                                \
	X(limit_command_line, "command lines over max_command_line")             \
	X(limit_text_line, "message lines over max_text_line")                   \
	X(limit_message_size, "messages over the size limit")                    \
	X(limit_recipients, "recipients over max_recipients")                    \
	X(bare_newline, "messages with a bare CR or LF")                         \
	X(data_memory_waits, "times reading paused for max_data_memory")        \
	X(redis_errors, "Redis command failures and timeouts")                   \
	X(redis_reconnects, "Redis reconnections")                               \
	X(queue_orphans_cancelled, "timed-out enqueues removed after reconnect") \
	X(msgs_delivered, "messages SES accepted for every recipient")          \
	X(msgs_deferred, "delivery attempts ending in a retry")                  \
	X(msgs_dead_lettered, "messages moved to a dead-letter queue")          \
	X(msgs_reclaimed, "claims expired and handed to another worker")         \
	X(tenant_holds, "attempts that found the tenant's SES account paused")   \
	X(dsn_queued, "delivery status notifications queued")                    \
	X(ses_calls, "SES API calls started")                                    \
	X(ses_throttled, "SES answers that throttled a tenant")                  \
	X(sts_calls, "STS AssumeRole calls started")                             \
	X(sts_failures, "STS AssumeRole calls that failed")                      \
	X(http_requests, "requests to the HTTP listener")                        \
	X(sns_rejected, "SNS messages refused (signature, topic, certificate URL)") \
	X(sns_confirmed, "SNS subscriptions confirmed")                          \
	X(events_applied, "SES events applied")                                  \
	X(events_ignored, "SES events that could not be attributed")             \
	X(events_duplicate, "SES events delivered again by SNS")                 \
	X(suppressions_added, "recipients put on a suppression list by events")  \
	X(guard_pauses, "tenants paused by the reputation guard")                \
	X(webhooks_sent, "webhook POSTs answered 2xx")                           \
	X(webhook_failures, "webhook POSTs that failed (retried)")               \
	X(webhooks_dropped, "webhook events given up after every retry")

#define STATS_GAUGES(X)                                                          \
	X(sessions_current, "sessions open now")                                 \
	X(data_memory, "octets of message data held in memory now")

struct stats {
#define STATS_FIELD(name, help) _Atomic uint64_t name;
	STATS_COUNTERS(STATS_FIELD)
	STATS_GAUGES(STATS_FIELD)
#undef STATS_FIELD
};

extern struct stats g_stats;

#define STAT_INC(name) atomic_fetch_add_explicit(&g_stats.name, 1, memory_order_relaxed)
#define STAT_ADD(name, n) atomic_fetch_add_explicit(&g_stats.name, (n), memory_order_relaxed)
#define STAT_SUB(name, n) atomic_fetch_sub_explicit(&g_stats.name, (n), memory_order_relaxed)
#define STAT_GET(name) atomic_load_explicit(&g_stats.name, memory_order_relaxed)

/*
 * SES calls by outcome (index = enum ses_outcome) and their latency in a
 * fixed-bucket histogram, for /metrics.
 */
#define STATS_SES_OUTCOMES 8
#define STATS_SES_BUCKETS 12
extern _Atomic uint64_t g_ses_outcome[STATS_SES_OUTCOMES];
extern _Atomic uint64_t g_ses_latency[STATS_SES_BUCKETS];
extern _Atomic uint64_t g_ses_latency_sum_us;
extern const double stats_ses_bucket_le[STATS_SES_BUCKETS - 1];
void stats_ses_call(int outcome, double seconds);
/* Name of an outcome index, NULL when unused. */
const char *stats_ses_outcome_name(int outcome);

/* SMTP replies sent, by reply code (200-599), for /metrics. */
extern _Atomic uint64_t g_smtp_replies[600];
static inline void stats_smtp_reply(int code)
{
	if (code >= 200 && code < 600)
		atomic_fetch_add_explicit(&g_smtp_replies[code], 1, memory_order_relaxed);
}

typedef struct json_t json_t;
/* All counters and gauges as a JSON object (new reference). */
json_t *stats_json(void);

#endif
