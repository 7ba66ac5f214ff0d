/*
 * test_config.c - unit tests of the configuration parser: defaults, each
 * value type and its suffixes, every error class with its exact
 * "file:line: reason" text, listen and queue_durability forms, quoting and
 * comments, the dump/re-parse round trip, and that the shipped sample file
 * and man page agree with the built-in table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/stat.h>

/*
 * By path: automake searches the build directory first, and a config.h that
 * autoconf generates (or once generated) there is not this one.
 */
#include "../../src/config.h"

static char err[1024];

static int parse(const char *text, struct config *cfg)
{
	return config_parse_buffer("t.conf", text, strlen(text), cfg, err, sizeof(err));
}

/* TEXT must fail with exactly MSG. */
static void expect_err(const char *text, const char *msg)
{
	struct config cfg;
	int rc = parse(text, &cfg);
	if (rc != -1 || strcmp(err, msg) != 0)
		print_error("input: %s\nwant: %s\ngot (%d): %s\n", text, msg, rc, err);
	assert_int_equal(rc, -1);
	assert_string_equal(err, msg);
}

/* TEXT must parse; returns the config in *CFG. */
static void expect_ok(const char *text, struct config *cfg)
{
	int rc = parse(text, cfg);
	if (rc != 0)
		print_error("input: %s\nerror: %s\n", text, err);
	assert_int_equal(rc, 0);
}

/* Whole-struct equality, apart from the name it was read from. */
static void assert_same_config(const struct config *a, const struct config *b)
{
	struct config x, y;
	memcpy(&x, a, sizeof(x));
	memcpy(&y, b, sizeof(y));
	memset(x.path, 0, sizeof(x.path));
	memset(y.path, 0, sizeof(y.path));
	assert_memory_equal(&x, &y, sizeof(x));
}

static char *dump_to_string(const struct config *cfg)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	config_dump(cfg, f);
	fclose(f);
	return out;
}

/* A file of the source tree, wherever the test runs from; NULL if none. */
static const char *find_src_file(const char *rel, char *buf, size_t len)
{
	const char *env[] = {"SESGATE_SRCDIR", "srcdir"};
	char here[512];
	const char *dirs[8];
	int n = 0;

	for (size_t i = 0; i < 2; i++)
		if (getenv(env[i]) && *getenv(env[i]))
			dirs[n++] = getenv(env[i]);
	dirs[n++] = ".";
	dirs[n++] = "..";
	dirs[n++] = "../..";
	/* This file lives in tests/unit/ of the tree. */
	snprintf(here, sizeof(here), "%s", __FILE__);
	char *slash = strrchr(here, '/');
	if (slash) {
		strcpy(slash, "/../..");
		dirs[n++] = here;
	}
	for (int i = 0; i < n; i++) {
		snprintf(buf, len, "%s/%s", dirs[i], rel);
		if (access(buf, R_OK) == 0)
			return buf;
	}
	return NULL;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *buf = malloc(1 << 20);
	assert_non_null(buf);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ---- defaults ---------------------------------------------------------- */

static void test_defaults(void **state)
{
	struct config c;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	config_defaults(&c);
	assert_int_equal(c.nlisten, 1);
	assert_string_equal(c.listen[0].host, "127.0.0.1");
	assert_string_equal(c.listen[0].port, "2525");
	assert_true(c.hostname[0] != '\0');
	assert_int_equal(c.smtp_threads, ncpu < 1 ? 1 : ncpu > 256 ? 256 : ncpu);
	assert_int_equal(c.max_sessions, 1000);
	assert_int_equal(c.listen_backlog, 511);
	assert_int_equal(c.max_message_size, 41943040);
	assert_int_equal(c.max_recipients, 1000);
	assert_int_equal(c.max_command_line, 512);
	assert_int_equal(c.max_text_line, 1000);
	assert_int_equal(c.timeout_idle, 300);
	assert_int_equal(c.timeout_data, 300);
	assert_int_equal(c.max_errors, 10);
	assert_int_equal(c.error_delay_ms, 1000);
	assert_int_equal(c.max_data_memory, 512ULL << 20);
	assert_int_equal(c.auth_allow_plaintext, 0);
	assert_int_equal(c.check_header_from, 1);
	assert_int_equal(c.password_hash_iterations, 600000);
	assert_int_equal(c.auth_cache_ttl, 300);
	assert_int_equal(c.auth_hash_threads, 2);
	assert_string_equal(c.redis_host, "127.0.0.1");
	assert_int_equal(c.redis_port, 6379);
	assert_string_equal(c.redis_unix, "");
	assert_string_equal(c.redis_password, "");
	assert_int_equal(c.redis_db, 0);
	assert_int_equal(c.redis_timeout_ms, 5000);
	assert_int_equal(c.queue_durability, DURABILITY_FSYNC);
	assert_int_equal(c.queue_replicas, 0);
	assert_string_equal(c.control_socket, "/run/sesgate/control.sock");
	assert_int_equal(c.control_socket_mode, 0660);
	assert_string_equal(c.pid_file, "");
	assert_int_equal(c.log_target, LOG_TARGET_STDERR);
	assert_int_equal(c.log_format, LOG_FORMAT_PLAIN);
	assert_int_equal(c.log_level, LOG_INFO);
	assert_int_equal(c.syslog_facility, LOG_MAIL);
}

static void test_empty_file_is_defaults(void **state)
{
	struct config d, c;

	config_defaults(&d);
	expect_ok("", &c);
	assert_same_config(&c, &d);
	assert_string_equal(c.path, "t.conf");
	expect_ok("\n\n   \n\t\n# only a comment\n", &c);
	assert_same_config(&c, &d);
	assert_int_equal(config_parse_buffer("n", NULL, 0, &c, err, sizeof(err)), 0);
	assert_same_config(&c, &d);
}

static void test_auto_values(void **state)
{
	struct config c;
	char host[300] = "";

	expect_ok("smtp_threads 0\nhostname \"\"\n", &c);
	assert_true(c.smtp_threads >= 1 && c.smtp_threads <= 256);
	gethostname(host, sizeof(host) - 1);
	if (host[0] && strlen(host) < sizeof(c.hostname))
		assert_string_equal(c.hostname, host);
	expect_ok("smtp_threads 7\nhostname mx1.example.com\n", &c);
	assert_int_equal(c.smtp_threads, 7);
	assert_string_equal(c.hostname, "mx1.example.com");
}

/* ---- value types ------------------------------------------------------- */

static void test_int(void **state)
{
	struct config c;

	expect_ok("max_sessions 1\nmax_recipients 100000\nredis_db 0\n", &c);
	assert_int_equal(c.max_sessions, 1);
	assert_int_equal(c.max_recipients, 100000);
	expect_ok("max_sessions 000042", &c);
	assert_int_equal(c.max_sessions, 42);
	expect_ok("max_sessions 1000000", &c);
	assert_int_equal(c.max_sessions, 1000000);

	expect_err("max_sessions 0", "t.conf:1: max_sessions: 0 is below the minimum 1");
	expect_err("max_sessions -5", "t.conf:1: max_sessions: -5 is below the minimum 1");
	expect_err("max_sessions 1000001",
		   "t.conf:1: max_sessions: 1000001 is above the maximum 1000000");
	expect_err("max_sessions 99999999999999999999999",
		   "t.conf:1: max_sessions: 99999999999999999999999 is above the maximum 1000000");
	expect_err("max_sessions ten", "t.conf:1: max_sessions: \"ten\" is not an integer");
	expect_err("max_sessions 10k", "t.conf:1: max_sessions: \"10k\" is not an integer");
	expect_err("max_sessions +10", "t.conf:1: max_sessions: \"+10\" is not an integer");
	expect_err("max_sessions -", "t.conf:1: max_sessions: \"-\" is not an integer");
	expect_err("max_sessions 1.5", "t.conf:1: max_sessions: \"1.5\" is not an integer");
	expect_err("max_command_line 511",
		   "t.conf:1: max_command_line: 511 is below the minimum 512");
	expect_err("password_hash_iterations 999",
		   "t.conf:1: password_hash_iterations: 999 is below the minimum 1000");
}

static void test_size(void **state)
{
	struct config c;

	expect_ok("max_message_size 1024", &c);
	assert_int_equal(c.max_message_size, 1024);
	expect_ok("max_message_size 1K", &c);
	assert_int_equal(c.max_message_size, 1024);
	expect_ok("max_message_size 10k", &c);
	assert_int_equal(c.max_message_size, 10240);
	expect_ok("max_message_size 25M", &c);
	assert_int_equal(c.max_message_size, 25ULL << 20);
	expect_ok("max_message_size 2G", &c);
	assert_int_equal(c.max_message_size, 2ULL << 30);
	expect_ok("max_message_size 2g", &c);
	assert_int_equal(c.max_message_size, 2ULL << 30);
	expect_ok("max_data_memory 1T", &c);
	assert_int_equal(c.max_data_memory, 1ULL << 40);
	expect_ok("max_data_memory 1M", &c);
	assert_int_equal(c.max_data_memory, 1ULL << 20);
	expect_ok("max_data_memory 3000000", &c);
	assert_int_equal(c.max_data_memory, 3000000);

	expect_err("max_message_size 1023",
		   "t.conf:1: max_message_size: 1023 is below the minimum 1K");
	expect_err("max_message_size 0", "t.conf:1: max_message_size: 0 is below the minimum 1K");
	expect_err("max_message_size 3G",
		   "t.conf:1: max_message_size: 3G is above the maximum 2G");
	expect_err("max_message_size 2147483649",
		   "t.conf:1: max_message_size: 2147483649 is above the maximum 2G");
	expect_err("max_message_size 99999999999999999999G",
		   "t.conf:1: max_message_size: 99999999999999999999G is above the maximum 2G");
	expect_err("max_data_memory 2T", "t.conf:1: max_data_memory: 2T is above the maximum 1T");
	expect_err("max_data_memory 1023K",
		   "t.conf:1: max_data_memory: 1023K is below the minimum 1M");
	const char *bad[] = {"10X", "M", "-1", "1.5M", "1KB", "1 K", "0x10", "k1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char in[64], want[256];
		snprintf(in, sizeof(in), "max_message_size \"%s\"", bad[i]);
		snprintf(want, sizeof(want),
			 "t.conf:1: max_message_size: \"%s\" is not a size (a number with an "
			 "optional K, M, G or T suffix)",
			 bad[i]);
		expect_err(in, want);
	}
}

static void test_seconds(void **state)
{
	struct config c;

	expect_ok("timeout_idle 30", &c);
	assert_int_equal(c.timeout_idle, 30);
	expect_ok("timeout_idle 30s", &c);
	assert_int_equal(c.timeout_idle, 30);
	expect_ok("timeout_idle 10m", &c);
	assert_int_equal(c.timeout_idle, 600);
	expect_ok("timeout_idle 2H", &c);
	assert_int_equal(c.timeout_idle, 7200);
	expect_ok("timeout_idle 1d", &c);
	assert_int_equal(c.timeout_idle, 86400);
	expect_ok("auth_cache_ttl 0", &c);
	assert_int_equal(c.auth_cache_ttl, 0);

	expect_err("timeout_idle 0", "t.conf:1: timeout_idle: 0 is below the minimum 1s");
	expect_err("timeout_idle 2d", "t.conf:1: timeout_idle: 2d is above the maximum 1d");
	expect_err("timeout_data 86401",
		   "t.conf:1: timeout_data: 86401 is above the maximum 1d");
	expect_err("timeout_data 5ms",
		   "t.conf:1: timeout_data: \"5ms\" is not a duration (seconds, or a number "
		   "with an s, m, h or d suffix)");
	expect_err("timeout_data 1w",
		   "t.conf:1: timeout_data: \"1w\" is not a duration (seconds, or a number "
		   "with an s, m, h or d suffix)");
	expect_err("auth_cache_ttl 25h", "t.conf:1: auth_cache_ttl: 25h is above the maximum 1d");
}

static void test_milliseconds(void **state)
{
	struct config c;

	expect_ok("error_delay 250", &c);
	assert_int_equal(c.error_delay_ms, 250);
	expect_ok("error_delay 250ms", &c);
	assert_int_equal(c.error_delay_ms, 250);
	expect_ok("error_delay 2s", &c);
	assert_int_equal(c.error_delay_ms, 2000);
	expect_ok("error_delay 0", &c);
	assert_int_equal(c.error_delay_ms, 0);
	expect_ok("redis_timeout 600s", &c);
	assert_int_equal(c.redis_timeout_ms, 600000);
	expect_ok("redis_timeout 10MS", &c);
	assert_int_equal(c.redis_timeout_ms, 10);

	expect_err("redis_timeout 5", "t.conf:1: redis_timeout: 5 is below the minimum 10ms");
	expect_err("redis_timeout 601s",
		   "t.conf:1: redis_timeout: 601s is above the maximum 600s");
	expect_err("error_delay 61s", "t.conf:1: error_delay: 61s is above the maximum 60s");
	expect_err("error_delay 1m",
		   "t.conf:1: error_delay: \"1m\" is not a duration (milliseconds, or a number "
		   "with an ms or s suffix)");
	/* The struct field name is not the directive. */
	expect_err("error_delay_ms 5", "t.conf:1: unknown directive \"error_delay_ms\"");
	expect_err("redis_timeout_ms 5", "t.conf:1: unknown directive \"redis_timeout_ms\"");
}

static void test_bool(void **state)
{
	struct config c;
	const char *yes[] = {"yes", "on", "true", "1", "YES", "True"};
	const char *no[] = {"no", "off", "false", "0", "No", "OFF"};

	for (size_t i = 0; i < 6; i++) {
		char in[64];
		snprintf(in, sizeof(in), "auth_allow_plaintext %s\ncheck_header_from %s\n", yes[i],
			 no[i]);
		expect_ok(in, &c);
		assert_int_equal(c.auth_allow_plaintext, 1);
		assert_int_equal(c.check_header_from, 0);
	}
	expect_err("check_header_from maybe",
		   "t.conf:1: check_header_from: \"maybe\" is not a boolean (yes/no, on/off, "
		   "true/false, 1/0)");
	expect_err("check_header_from 2",
		   "t.conf:1: check_header_from: \"2\" is not a boolean (yes/no, on/off, "
		   "true/false, 1/0)");
}

static void test_string(void **state)
{
	struct config c;
	char in[600], want[300];

	expect_ok("redis_host redis.internal\nredis_password s3cret\n", &c);
	assert_string_equal(c.redis_host, "redis.internal");
	assert_string_equal(c.redis_password, "s3cret");
	expect_ok("redis_host ::1", &c);
	assert_string_equal(c.redis_host, "::1");
	expect_ok("pid_file /run/sesgate.pid", &c);
	assert_string_equal(c.pid_file, "/run/sesgate.pid");
	expect_ok("pid_file \"\"\ncontrol_socket \"\"", &c);
	assert_string_equal(c.pid_file, "");
	assert_string_equal(c.control_socket, "");

	/* Length: field size minus the NUL fits, one more does not. */
	memset(want, 'a', 255);
	want[255] = '\0';
	snprintf(in, sizeof(in), "hostname %s", want);
	expect_ok(in, &c);
	assert_string_equal(c.hostname, want);
	snprintf(in, sizeof(in), "hostname %sa", want);
	expect_err(in, "t.conf:1: hostname: value is 256 octets, the maximum is 255");
	snprintf(in, sizeof(in), "redis_password \"%sa\"", want);
	expect_err(in, "t.conf:1: redis_password: value is 256 octets, the maximum is 255");

	/* Validators. */
	expect_err("hostname \"mx 1\"",
		   "t.conf:1: hostname: \"mx 1\" is not a host name (letters, digits, '.', '-', "
		   "'_')");
	expect_err("hostname mx1/x",
		   "t.conf:1: hostname: \"mx1/x\" is not a host name (letters, digits, '.', '-', "
		   "'_')");
	expect_err("redis_host \"\"", "t.conf:1: redis_host: must not be empty");
	expect_err("redis_host a/b", "t.conf:1: redis_host: \"a/b\" is not a host name or address");
	memset(want, 'p', 108);
	want[0] = '/';
	want[108] = '\0';
	snprintf(in, sizeof(in), "control_socket %s", want);
	expect_err(in, "t.conf:1: control_socket: path is 108 octets, longer than the 107 a "
		       "Unix socket allows");
	snprintf(in, sizeof(in), "redis_unix %s", want);
	expect_err(in, "t.conf:1: redis_unix: path is 108 octets, longer than the 107 a Unix "
		       "socket allows");
	want[107] = '\0';
	snprintf(in, sizeof(in), "redis_unix %s", want);
	expect_ok(in, &c);
	assert_string_equal(c.redis_unix, want);
}

static void test_enum(void **state)
{
	struct config c;
	static const struct {
		const char *word;
		int level;
	} levels[] = {{"err", LOG_ERR},       {"warning", LOG_WARNING}, {"notice", LOG_NOTICE},
		      {"info", LOG_INFO},     {"debug", LOG_DEBUG},     {"DEBUG", LOG_DEBUG},
		      {"error", LOG_ERR},     {"warn", LOG_WARNING}};
	static const struct {
		const char *word;
		int fac;
	} facs[] = {{"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
		    {"local0", LOG_LOCAL0}, {"local3", LOG_LOCAL3}, {"local7", LOG_LOCAL7}};
	char in[64];

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		snprintf(in, sizeof(in), "log_level %s", levels[i].word);
		expect_ok(in, &c);
		assert_int_equal(c.log_level, levels[i].level);
	}
	for (size_t i = 0; i < sizeof(facs) / sizeof(facs[0]); i++) {
		snprintf(in, sizeof(in), "syslog_facility %s", facs[i].word);
		expect_ok(in, &c);
		assert_int_equal(c.syslog_facility, facs[i].fac);
	}
	expect_ok("log_target syslog\nlog_format json\n", &c);
	assert_int_equal(c.log_target, LOG_TARGET_SYSLOG);
	assert_int_equal(c.log_format, LOG_FORMAT_JSON);

	expect_err("log_level verbose",
		   "t.conf:1: log_level: \"verbose\" is not one of err, warning, notice, info, "
		   "debug");
	expect_err("log_target file",
		   "t.conf:1: log_target: \"file\" is not one of stderr, syslog");
	expect_err("log_format xml", "t.conf:1: log_format: \"xml\" is not one of plain, json");
	expect_err("syslog_facility local8",
		   "t.conf:1: syslog_facility: \"local8\" is not one of mail, daemon, user, "
		   "local0, local1, local2, local3, local4, local5, local6, local7");
}

static void test_octal(void **state)
{
	struct config c;

	expect_ok("control_socket_mode 0600", &c);
	assert_int_equal(c.control_socket_mode, 0600);
	expect_ok("control_socket_mode 660", &c);
	assert_int_equal(c.control_socket_mode, 0660);
	expect_ok("control_socket_mode 0777", &c);
	assert_int_equal(c.control_socket_mode, 0777);
	expect_ok("control_socket_mode 0", &c);
	assert_int_equal(c.control_socket_mode, 0);

	expect_err("control_socket_mode 1777",
		   "t.conf:1: control_socket_mode: 1777 is above the maximum 0777");
	expect_err("control_socket_mode 0680",
		   "t.conf:1: control_socket_mode: \"0680\" is not an octal mode");
	expect_err("control_socket_mode rw-rw----",
		   "t.conf:1: control_socket_mode: \"rw-rw----\" is not an octal mode");
}

/* ---- listen ------------------------------------------------------------ */

static void test_listen_forms(void **state)
{
	struct config c;

	expect_ok("listen 10.1.2.3:25", &c);
	assert_int_equal(c.nlisten, 1);
	assert_string_equal(c.listen[0].host, "10.1.2.3");
	assert_string_equal(c.listen[0].port, "25");

	expect_ok("listen [::1]:2525", &c);
	assert_int_equal(c.nlisten, 1);
	assert_string_equal(c.listen[0].host, "::1");
	assert_string_equal(c.listen[0].port, "2525");

	expect_ok("listen *:587", &c);
	assert_string_equal(c.listen[0].host, "*");
	assert_string_equal(c.listen[0].port, "587");

	expect_ok("listen 2525", &c);
	assert_string_equal(c.listen[0].host, "*");
	assert_string_equal(c.listen[0].port, "2525");

	expect_ok("listen mx.example.com:00025", &c);
	assert_string_equal(c.listen[0].host, "mx.example.com");
	assert_string_equal(c.listen[0].port, "25");

	expect_ok("listen [fe80::1%eth0]:25", &c);
	assert_string_equal(c.listen[0].host, "fe80::1%eth0");

	expect_ok("listen 65535\nlisten 1\n", &c);
	assert_int_equal(c.nlisten, 2);
}

static void test_listen_repeat(void **state)
{
	struct config c;
	char in[1024];
	size_t n = 0;

	/* The first listen replaces the default; later ones add. */
	expect_ok("listen 127.0.0.1:25\nmax_sessions 5\nlisten [::1]:25\nlisten 587\n", &c);
	assert_int_equal(c.nlisten, 3);
	assert_string_equal(c.listen[0].host, "127.0.0.1");
	assert_string_equal(c.listen[0].port, "25");
	assert_string_equal(c.listen[1].host, "::1");
	assert_string_equal(c.listen[2].host, "*");
	assert_string_equal(c.listen[2].port, "587");

	/* Explicitly repeating the default address is fine. */
	expect_ok("listen 127.0.0.1:2525", &c);
	assert_int_equal(c.nlisten, 1);

	for (int i = 0; i < CONFIG_MAX_LISTEN; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "listen %d\n", 1000 + i);
	expect_ok(in, &c);
	assert_int_equal(c.nlisten, CONFIG_MAX_LISTEN);
	assert_string_equal(c.listen[CONFIG_MAX_LISTEN - 1].port, "1015");
	snprintf(in + n, sizeof(in) - n, "listen 2000\n");
	expect_err(in, "t.conf:17: listen: more than 16 addresses");

	expect_err("listen 25\nlisten *:25\n", "t.conf:2: listen: \"*:25\" is already listed");
}

static void test_listen_errors(void **state)
{
	expect_err("listen 0", "t.conf:1: listen: port 0 is out of range (1-65535)");
	expect_err("listen *:65536", "t.conf:1: listen: port 65536 is out of range (1-65535)");
	expect_err("listen 127.0.0.1:smtp",
		   "t.conf:1: listen: port \"smtp\" is not a number");
	expect_err("listen 25x", "t.conf:1: listen: port \"25x\" is not a number");
	expect_err("listen 127.0.0.1",
		   "t.conf:1: listen: \"127.0.0.1\" has no port (HOST:PORT, [IPV6]:PORT, "
		   "*:PORT or PORT)");
	expect_err("listen localhost",
		   "t.conf:1: listen: \"localhost\" has no port (HOST:PORT, [IPV6]:PORT, "
		   "*:PORT or PORT)");
	expect_err("listen ::1:25",
		   "t.conf:1: listen: \"::1:25\": an IPv6 address must be in brackets, e.g. "
		   "[::1]:2525");
	expect_err("listen [::1]", "t.conf:1: listen: \"[::1]\": missing port after ']' "
				   "([IPV6]:PORT)");
	expect_err("listen [::1]:", "t.conf:1: listen: \"[::1]:\": missing port after ']' "
				    "([IPV6]:PORT)");
	expect_err("listen [::1:25", "t.conf:1: listen: \"[::1:25\": missing ']'");
	expect_err("listen [zz::1]:25", "t.conf:1: listen: \"zz::1\" is not an IPv6 address");
	expect_err("listen \"[fe80::1%e th]:25\"",
		   "t.conf:1: listen: \"fe80::1%e th\" is not an IPv6 address");
	expect_err("listen [fe80::1%]:25", "t.conf:1: listen: \"fe80::1%\" is not an IPv6 address");
	expect_err("listen []:25", "t.conf:1: listen: \"[]:25\" is not an IPv6 address");
	expect_err("listen :25", "t.conf:1: listen: \":25\": host is empty");
	expect_err("listen host:", "t.conf:1: listen: \"host:\": port is empty");
	expect_err("listen 999.1.1.1:25",
		   "t.conf:1: listen: \"999.1.1.1\" is not a host name or IPv4 address");
	expect_err("listen a/b:25", "t.conf:1: listen: \"a/b\" is not a host name or IPv4 address");
	expect_err("listen 25 587", "t.conf:1: listen: unknown listener option \"587\" (smtps, proxy)");
	expect_err("listen 25 smtps smtps", "t.conf:1: listen: \"smtps\" given twice");
	expect_err("listen 25 proxy smtps tls", "t.conf:1: listen: unexpected extra value \"tls\"");
	expect_err("listen 25 smtps", "t.conf:1: listen *:25 smtps needs tls_cert and tls_key");
	expect_err("listen 25 proxy",
		   "t.conf:1: listen *:25 proxy needs proxy_trusted (the load balancers allowed "
		   "to send PROXY headers)");
	expect_err("proxy_trusted \"10.0.0.0/8 300.1.1.1\"", "t.conf:1: proxy_trusted: bad network \"300.1.1.1\"");
	expect_err("tls_min_protocol TLSv1.1", "t.conf:1: tls_min_protocol: \"TLSv1.1\" is not one of TLSv1.2, TLSv1.3");
	expect_err("tls_ciphers NOTACIPHER", "t.conf:1: tls_ciphers: \"NOTACIPHER\" names no cipher OpenSSL knows");
	expect_err("tls_key /k.pem", "t.conf:1: tls_cert and tls_key go together");
	expect_err("user no-such-user-xyz", "t.conf:1: user: no such user \"no-such-user-xyz\"");
	expect_err("group nogroup", "t.conf:1: group needs user");
}

/* ---- queue_durability -------------------------------------------------- */

static void test_durability(void **state)
{
	struct config c;

	expect_ok("queue_durability none", &c);
	assert_int_equal(c.queue_durability, DURABILITY_NONE);
	assert_int_equal(c.queue_replicas, 0);
	expect_ok("queue_durability fsync", &c);
	assert_int_equal(c.queue_durability, DURABILITY_FSYNC);
	expect_ok("queue_durability replicas 2", &c);
	assert_int_equal(c.queue_durability, DURABILITY_REPLICAS);
	assert_int_equal(c.queue_replicas, 2);
	expect_ok("queue_durability   REPLICAS\t100  # max", &c);
	assert_int_equal(c.queue_durability, DURABILITY_REPLICAS);
	assert_int_equal(c.queue_replicas, 100);

	expect_err("queue_durability replicas",
		   "t.conf:1: queue_durability: replicas needs a count, e.g. \"replicas 1\"");
	expect_err("queue_durability replicas 0",
		   "t.conf:1: queue_durability: replicas 0 is below the minimum 1");
	expect_err("queue_durability replicas 101",
		   "t.conf:1: queue_durability: replicas 101 is above the maximum 100");
	expect_err("queue_durability replicas two",
		   "t.conf:1: queue_durability: replica count \"two\" is not an integer");
	expect_err("queue_durability replicas 1 2",
		   "t.conf:1: queue_durability: unexpected extra value \"2\"");
	expect_err("queue_durability none 3",
		   "t.conf:1: queue_durability: unexpected extra value \"3\"");
	expect_err("queue_durability always",
		   "t.conf:1: queue_durability: \"always\" is not one of none, fsync, replicas N");
	expect_err("queue_durability none\nqueue_durability fsync\n",
		   "t.conf:2: queue_durability: duplicate directive (first set on line 1)");
}

/* ---- syntax ------------------------------------------------------------ */

static void test_comments_and_whitespace(void **state)
{
	struct config c;

	expect_ok("# header\n"
		  "\n"
		  "   max_sessions   7   \n"
		  "\tmax_errors\t3\t# trailing comment\n"
		  "redis_password ab#cd\n"
		  "   # indented comment max_recipients 5\n"
		  "pid_file \"/tmp/a b#c.pid\"   # comment after quote\n"
		  "hostname mx.example.com", /* no newline at the end */
		  &c);
	assert_int_equal(c.max_sessions, 7);
	assert_int_equal(c.max_errors, 3);
	assert_string_equal(c.redis_password, "ab#cd");
	assert_int_equal(c.max_recipients, 1000);
	assert_string_equal(c.pid_file, "/tmp/a b#c.pid");
	assert_string_equal(c.hostname, "mx.example.com");

	/* CRLF line ends, a UTF-8 byte order mark, upper-case names. */
	expect_ok("\xEF\xBB\xBFmax_sessions 8\r\nMAX_ERRORS 4\r\nredis_password \"x y\"\r\n", &c);
	assert_int_equal(c.max_sessions, 8);
	assert_int_equal(c.max_errors, 4);
	assert_string_equal(c.redis_password, "x y");
}

static void test_quoting(void **state)
{
	struct config c;

	expect_ok("redis_password \"a \\\"quoted\\\" \\\\ word\"", &c);
	assert_string_equal(c.redis_password, "a \"quoted\" \\ word");
	expect_ok("redis_password \"tab\there\"", &c);
	assert_string_equal(c.redis_password, "tab\there");
	expect_ok("redis_password \"#not a comment\"", &c);
	assert_string_equal(c.redis_password, "#not a comment");
	expect_ok("max_sessions \"12\"", &c);
	assert_int_equal(c.max_sessions, 12);
	expect_ok("redis_password back\\slash", &c);
	assert_string_equal(c.redis_password, "back\\slash");

	expect_err("redis_password \"open", "t.conf:1: unterminated quoted string");
	expect_err("redis_password \"open\\", "t.conf:1: unterminated quoted string");
	expect_err("redis_password \"a\"b", "t.conf:1: text after closing quote");
	expect_err("redis_password ab\"c\"",
		   "t.conf:1: unexpected '\"' inside a value (quote the whole value)");
	expect_err("redis_password \"a\\nb\"",
		   "t.conf:1: unknown escape \\n in quoted string (only \\\" and \\\\)");
	expect_err("redis_password \"a b\" extra",
		   "t.conf:1: redis_password: unexpected extra value \"extra\"");
	expect_err("redis_password a\x01", "t.conf:1: control character 0x01");
	expect_err("redis_password \"a\x1b\"", "t.conf:1: control character 0x1b");
	expect_err("redis_password a\x7f", "t.conf:1: control character 0x7f");
}

static void test_syntax_errors(void **state)
{
	struct config c;
	char in[5000];

	expect_err("max_sesions 10", "t.conf:1: unknown directive \"max_sesions\"");
	expect_err("\n# c\n\nmax_sessions 1\nbogus\n", "t.conf:5: unknown directive \"bogus\"");
	expect_err("max_sessions", "t.conf:1: max_sessions: missing value");
	expect_err("max_sessions    # a comment", "t.conf:1: max_sessions: missing value");
	expect_err("max_sessions 10 20", "t.conf:1: max_sessions: unexpected extra value \"20\"");
	expect_err("max_sessions 10 20 30 40 50",
		   "t.conf:1: max_sessions: unexpected extra value \"20\"");
	expect_err("max_sessions 10\nmax_errors 2\nmax_sessions 10\n",
		   "t.conf:3: max_sessions: duplicate directive (first set on line 1)");
	expect_err("max_sessions 10\nMax_Sessions 10\n",
		   "t.conf:2: max_sessions: duplicate directive (first set on line 1)");

	/* NUL bytes: the buffer length, not strlen, is what counts. */
	static const char nul[] = "max_sessions 1\nmax_errors 2\0\n";
	assert_int_equal(config_parse_buffer("t.conf", nul, sizeof(nul) - 1, &c, err, sizeof(err)),
			 -1);
	assert_string_equal(err, "t.conf:2: NUL byte in line");
	static const char nul2[] = "# comment \0 with a NUL\n";
	assert_int_equal(
		config_parse_buffer("t.conf", nul2, sizeof(nul2) - 1, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:1: NUL byte in line");

	/* 4096 octets is the longest line; the newline does not count. */
	memset(in, ' ', sizeof(in));
	memcpy(in, "max_sessions 9", 14);
	in[4096] = '\n';
	in[4097] = '\0';
	expect_ok(in, &c);
	assert_int_equal(c.max_sessions, 9);
	in[4096] = ' ';
	in[4097] = '\n';
	in[4098] = '\0';
	expect_err(in, "t.conf:1: line longer than 4096 octets");
	memmove(in + 6, in, 4099);
	memcpy(in, "\n\n# x\n", 6);
	expect_err(in, "t.conf:4: line longer than 4096 octets");

	/* A long unknown name is cut in the message. */
	memset(in, 'x', 100);
	in[100] = '\0';
	expect_err(in, "t.conf:1: unknown directive "
		       "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\"");
}

static void test_error_leaves_config_alone(void **state)
{
	struct config c, before;

	expect_ok("max_sessions 42\nlisten 25\n", &c);
	memcpy(&before, &c, sizeof(c));
	assert_int_equal(parse("max_sessions 7\nlisten 587\nbogus 1\n", &c), -1);
	assert_memory_equal(&c, &before, sizeof(c));

	/* No error buffer: still fails cleanly. */
	assert_int_equal(config_parse_buffer("t.conf", "bogus 1", 7, &c, NULL, 0), -1);
	assert_int_equal(config_load("/nonexistent/sesgate.conf", &c, NULL, 0), -1);
	/* A tiny error buffer truncates. */
	char small[8];
	assert_int_equal(config_parse_buffer("t.conf", "bogus 1", 7, &c, small, sizeof(small)),
			 -1);
	assert_string_equal(small, "t.conf:");
}

/* ---- files ------------------------------------------------------------- */

static void test_load_file(void **state)
{
	char dir[] = "/tmp/test_config.XXXXXX";
	char path[256], want[512];
	struct config c;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/x.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("max_sessions 12\n\nmax_recipients 0\n", f);
	fclose(f);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3: max_recipients: 0 is below the minimum 1", path);
	assert_string_equal(err, want);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("max_sessions 12\n", f);
	fclose(f);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_int_equal(c.max_sessions, 12);
	assert_string_equal(c.path, path);

	/* Empty file = defaults. */
	struct config d;
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	config_defaults(&d);
	assert_same_config(&c, &d);

	/* Too big to be a configuration file (the size test comes before parsing). */
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < (1 << 20) / 16 + 1; i++)
		fputs("# padding......\n", f);
	fclose(f);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: larger than 1048576 octets", path);
	assert_string_equal(err, want);
	unlink(path);

	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -1);
	assert_string_equal(err, want);

	snprintf(want, sizeof(want), "%s: Is a directory", dir);
	assert_int_equal(config_load(dir, &c, err, sizeof(err)), -1);
	assert_string_equal(err, want);
	rmdir(dir);
}

/* ---- dump -------------------------------------------------------------- */

static void test_dump_format(void **state)
{
	struct config c;
	char *out;

	config_defaults(&c);
	out = dump_to_string(&c);
	const char *lines[] = {
		"listen 127.0.0.1:2525\n",     "max_message_size 40M\n",
		"timeout_idle 5m\n",           "error_delay 1s\n",
		"max_data_memory 512M\n",      "auth_allow_plaintext no\n",
		"check_header_from yes\n",     "redis_timeout 5s\n",
		"redis_password \"\"\n",       "queue_durability fsync\n",
		"control_socket_mode 0660\n",  "control_socket /run/sesgate/control.sock\n",
		"log_level info\n",            "syslog_facility mail\n",
		"pid_file \"\"\n",             "max_sessions 1000\n",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (!strstr(out, lines[i]))
			print_error("missing %s in:\n%s", lines[i], out);
		assert_non_null(strstr(out, lines[i]));
	}
	assert_true(strncmp(out, "listen ", 7) == 0);
	free(out);

	expect_ok("listen [::1]:25\nlisten *:587\nqueue_durability replicas 3\n"
		  "max_message_size 10000\nerror_delay 1500\ntimeout_data 90\nlog_level err\n",
		  &c);
	out = dump_to_string(&c);
	assert_non_null(strstr(out, "listen [::1]:25\nlisten *:587\n"));
	assert_non_null(strstr(out, "queue_durability replicas 3\n"));
	assert_non_null(strstr(out, "max_message_size 10000\n"));
	assert_non_null(strstr(out, "error_delay 1500ms\n"));
	assert_non_null(strstr(out, "timeout_data 90s\n"));
	assert_non_null(strstr(out, "log_level err\n"));
	free(out);
}

static void test_dump_masks_secret(void **state)
{
	struct config c;
	char *out;

	expect_ok("redis_password \"hunter2 #x\"", &c);
	out = dump_to_string(&c);
	assert_non_null(strstr(out, "redis_password ********\n"));
	assert_null(strstr(out, "hunter2"));
	free(out);
}

static void test_dump_roundtrip(void **state)
{
	struct config a, b, d;
	char *out;

	/* Defaults. */
	config_defaults(&d);
	out = dump_to_string(&d);
	expect_ok(out, &b);
	assert_same_config(&d, &b);
	free(out);

	/* Every directive away from its default, with awkward strings. */
	expect_ok("listen 10.0.0.1:25\n"
		  "listen [2001:db8::1]:587\n"
		  "listen 2525\n"
		  "hostname relay-1.example.com\n"
		  "smtp_threads 3\n"
		  "max_sessions 77\n"
		  "listen_backlog 128\n"
		  "timeout_idle 61\n"
		  "timeout_data 2h\n"
		  "max_message_size 10000\n"
		  "max_recipients 50\n"
		  "max_command_line 2048\n"
		  "max_text_line 2000\n"
		  "max_errors 5\n"
		  "error_delay 250\n"
		  "max_data_memory 3000000\n"
		  "auth_allow_plaintext yes\n"
		  "check_header_from no\n"
		  "password_hash_iterations 1000\n"
		  "auth_cache_ttl 0\n"
		  "auth_hash_threads 4\n"
		  "redis_host redis.internal\n"
		  "redis_port 6380\n"
		  "redis_unix \"/run/redis dir/#redis.sock\"\n"
		  "redis_db 3\n"
		  "redis_timeout 1500\n"
		  "queue_durability replicas 2\n"
		  "control_socket \"/tmp/a \\\"q\\\" \\\\b.sock\"\n"
		  "control_socket_mode 0600\n"
		  "log_target syslog\n"
		  "log_format json\n"
		  "log_level debug\n"
		  "syslog_facility local5\n"
		  "pid_file \"#pid\"\n",
		  &a);
	out = dump_to_string(&a);
	expect_ok(out, &b);
	assert_same_config(&a, &b);
	/* Nothing was left at its default. */
	assert_int_equal(a.nlisten, 3);
	assert_string_equal(b.redis_unix, "/run/redis dir/#redis.sock");
	assert_string_equal(b.control_socket, "/tmp/a \"q\" \\b.sock");
	assert_string_equal(b.pid_file, "#pid");
	free(out);

	/* Other durability forms. */
	expect_ok("queue_durability none\n", &a);
	out = dump_to_string(&a);
	expect_ok(out, &b);
	assert_same_config(&a, &b);
	free(out);
}

/* ---- shipped files ----------------------------------------------------- */

/* The directive names, in table order, taken from a dump of the defaults. */
static int directive_names(char names[][64], int max)
{
	struct config d;
	char *out, *line, *save = NULL;
	int n = 0;

	config_defaults(&d);
	out = dump_to_string(&d);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[64];
		assert_int_equal(sscanf(line, "%63s", name), 1);
		if (n > 0 && strcmp(names[n - 1], name) == 0)
			continue; /* repeated listen */
		assert_true(n < max);
		strcpy(names[n++], name);
	}
	free(out);
	return n;
}

static void test_sample_conf_parses(void **state)
{
	char path[1024];
	struct config c, d;

	if (!find_src_file("conf/sesgate.conf", path, sizeof(path)))
		fail_msg("conf/sesgate.conf not found; set SESGATE_SRCDIR");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	config_defaults(&d);
	assert_same_config(&c, &d);
}

/*
 * Every directive is in the sample as "#name default"; uncommenting them all
 * must give exactly the built-in defaults, so the documented values are true.
 */
static void test_sample_conf_documents_defaults(void **state)
{
	char path[1024], names[160][64];
	struct config c, d;
	char *text, *out, *line, *save = NULL;
	size_t olen = 0;
	int n = directive_names(names, 160);

	if (!find_src_file("conf/sesgate.conf", path, sizeof(path)))
		fail_msg("conf/sesgate.conf not found; set SESGATE_SRCDIR");
	text = read_all(path);
	out = malloc(strlen(text) + 1);
	assert_non_null(out);
	out[0] = '\0';
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z')
			olen += (size_t)sprintf(out + olen, "%s\n", line + 1);
	}
	for (int i = 0; i < n; i++) {
		char want[80];
		/* At the start of a line: OUT starts with a newline-free line. */
		snprintf(want, sizeof(want), "\n%.63s ", names[i]);
		if (strncmp(out, want + 1, strlen(want + 1)) != 0 && !strstr(out, want))
			fail_msg("directive %s is not in %s", names[i], path);
	}
	expect_ok(out, &c);
	config_defaults(&d);
	assert_same_config(&c, &d);
	free(out);
	free(text);
}

static void test_man_page_documents_all(void **state)
{
	char path[1024], names[160][64];
	int n = directive_names(names, 160);
	char *text;

	if (!find_src_file("man/sesgate.conf.5", path, sizeof(path)))
		fail_msg("man/sesgate.conf.5 not found; set SESGATE_SRCDIR");
	text = read_all(path);
	for (int i = 0; i < n; i++) {
		char bi[80], br[80];
		snprintf(bi, sizeof(bi), "\n.BI %.63s ", names[i]);
		snprintf(br, sizeof(br), "\n.BR %.63s ", names[i]);
		if (!strstr(text, bi) && !strstr(text, br))
			fail_msg("directive %s has no .BI/.BR entry in %s", names[i], path);
	}
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_empty_file_is_defaults),
		cmocka_unit_test(test_auto_values),
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_seconds),
		cmocka_unit_test(test_milliseconds),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_string),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_octal),
		cmocka_unit_test(test_listen_forms),
		cmocka_unit_test(test_listen_repeat),
		cmocka_unit_test(test_listen_errors),
		cmocka_unit_test(test_durability),
		cmocka_unit_test(test_comments_and_whitespace),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_error_leaves_config_alone),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_dump_format),
		cmocka_unit_test(test_dump_masks_secret),
		cmocka_unit_test(test_dump_roundtrip),
		cmocka_unit_test(test_sample_conf_parses),
		cmocka_unit_test(test_sample_conf_documents_defaults),
		cmocka_unit_test(test_man_page_documents_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
