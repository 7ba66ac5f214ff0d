/*
 * log.h - logging to stderr or syslog, as plain text or JSON lines.
 *
 * Two entry points: log_msg() for prose, log_kv() for events with fields
 * (one accepted message = one log_kv line).  Plain lines look like
 * "event k=v k=v"; JSON lines carry the same fields as members.
 * Callers must never pass secrets (passwords, AUTH payloads, AWS keys).
 * Safe from any thread: each line is formatted on the stack and written
 * with one write(2).
 */
#ifndef SESGATE_LOG_H
#define SESGATE_LOG_H

#include <syslog.h>

struct config;

/* Before the configuration is read: stderr, plain, LOG_INFO. */
void log_init_early(void);
/* Apply target/format/level/facility of CFG (opens syslog if asked). */
void log_configure(const struct config *cfg);
int log_enabled(int level);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * EVENT followed by NULL-terminated "key", "value" pairs (all strings; a NULL
 * value is skipped).  Values with spaces or quotes are quoted in plain mode.
 */
void log_kv(int level, const char *event, ...) __attribute__((sentinel));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
