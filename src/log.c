/*
 * log.c - see log.h.  Formatting happens in a fixed stack buffer so a line is
 * one write(2) (lines from different threads never interleave) and logging
 * never allocates; overlong lines are truncated with "...".
 */
#include "log.h"
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LOG 4096

static int log_level = LOG_INFO;
static int log_target_syslog;
static int log_json;

static const char *level_names[] = {"emerg", "alert", "crit", "error",
				    "warning", "notice", "info", "debug"};

void log_init_early(void)
{
	log_level = LOG_INFO;
	log_target_syslog = 0;
	log_json = 0;
}

void log_configure(const struct config *cfg)
{
	log_level = cfg->log_level;
	log_json = cfg->log_format == LOG_FORMAT_JSON;
	if (cfg->log_target == LOG_TARGET_SYSLOG) {
		openlog("sesgate", LOG_PID | LOG_NDELAY, cfg->syslog_facility);
		log_target_syslog = 1;
	}
}

int log_enabled(int level)
{
	return level <= log_level;
}

/* Append to a bounded buffer; *len never passes cap-1. */
static void buf_add(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + n >= cap)
		n = cap - 1 - *len;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

static void buf_json_str(char *buf, size_t cap, size_t *len, const char *s)
{
	buf_add(buf, cap, len, "\"", 1);
	for (; *s && *len < cap - 8; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			buf_add(buf, cap, len, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			buf_add(buf, cap, len, esc, 6);
		} else {
			buf_add(buf, cap, len, (const char *)&c, 1);
		}
	}
	buf_add(buf, cap, len, "\"", 1);
}

/* Plain values: printable as is, quoted when they hold spaces/quotes/controls. */
static void buf_plain_val(char *buf, size_t cap, size_t *len, const char *s)
{
	int quote = *s == '\0' || strpbrk(s, " \t\"=") != NULL;
	for (const char *p = s; *p && !quote; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			quote = 1;
	if (!quote) {
		buf_add(buf, cap, len, s, strlen(s));
		return;
	}
	buf_json_str(buf, cap, len, s);
}

static void emit(int level, char *line, size_t len, size_t cap)
{
	if (log_target_syslog) {
		syslog(level, "%s", line);
		return;
	}
	if (len >= cap - 1) {
		memcpy(line + cap - 5, "...", 3);
		len = cap - 2;
	}
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

static size_t prefix(int level, char *buf, size_t cap)
{
	size_t len = 0;
	if (log_target_syslog) {
		buf[0] = '\0';
		if (log_json)
			buf_add(buf, cap, &len, "{", 1);
		return len;
	}
	struct timespec ts;
	struct tm tm;
	char t[64];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(t + n, sizeof(t) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	if (log_json) {
		buf_add(buf, cap, &len, "{\"ts\":\"", 7);
		buf_add(buf, cap, &len, t, strlen(t));
		buf_add(buf, cap, &len, "\",\"level\":\"", 11);
		buf_add(buf, cap, &len, level_names[level & 7], strlen(level_names[level & 7]));
		buf_add(buf, cap, &len, "\",", 2);
	} else {
		char p[128];
		int m = snprintf(p, sizeof(p), "%s sesgate[%d] %s: ", t, (int)getpid(),
				 level_names[level & 7]);
		buf_add(buf, cap, &len, p, (size_t)m);
	}
	return len;
}

void log_msg(int level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	char line[LINE_MAX_LOG], text[LINE_MAX_LOG];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	size_t len = prefix(level, line, sizeof(line));
	if (log_json) {
		buf_add(line, sizeof(line), &len, "\"msg\":", 6);
		buf_json_str(line, sizeof(line), &len, text);
		buf_add(line, sizeof(line), &len, "}", 1);
	} else {
		buf_add(line, sizeof(line), &len, text, strlen(text));
	}
	emit(level, line, len, sizeof(line));
}

void log_kv(int level, const char *event, ...)
{
	if (!log_enabled(level))
		return;
	char line[LINE_MAX_LOG];
	size_t len = prefix(level, line, sizeof(line));
	va_list ap;
	if (log_json) {
		buf_add(line, sizeof(line), &len, "\"event\":", 8);
		buf_json_str(line, sizeof(line), &len, event);
	} else {
		buf_add(line, sizeof(line), &len, event, strlen(event));
	}
	va_start(ap, event);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		const char *v = va_arg(ap, const char *);
		if (!v)
			continue;
		if (log_json) {
			buf_add(line, sizeof(line), &len, ",", 1);
			buf_json_str(line, sizeof(line), &len, k);
			buf_add(line, sizeof(line), &len, ":", 1);
			buf_json_str(line, sizeof(line), &len, v);
		} else {
			buf_add(line, sizeof(line), &len, " ", 1);
			buf_add(line, sizeof(line), &len, k, strlen(k));
			buf_add(line, sizeof(line), &len, "=", 1);
			buf_plain_val(line, sizeof(line), &len, v);
		}
	}
	va_end(ap);
	if (log_json)
		buf_add(line, sizeof(line), &len, "}", 1);
	emit(level, line, len, sizeof(line));
}
