/*
 * fuzz_control.c - libFuzzer target for the control protocol: the REAL
 * request handler of src/control.c (control_request(), the code behind the
 * control socket) against a real redis-server that this target starts on a
 * Unix socket in a private temporary directory and stops when it exits.
 *
 * Input: up to 16 request lines separated by LF, handled in order on an
 * empty database, so sequences such as tenant.add, cred.add, tenant.set,
 * tenant.network.add, suppression.import and tenant.delete reach the code
 * that runs on existing data.  Checked besides memory safety: every answer
 * is one JSON object with a boolean "ok"; a refusal carries an "error"
 * string and a "code" of the documented set (doc/control-protocol.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "aws/creds.h"
#include "../../src/config.h"
#include "fuzz.h"
#include "control.h"
#include "log.h"
#include "worker.h"


const struct config *g_cfg;
uint64_t g_start_ms;
char g_instance[32] = "fuzz";

/* What control.c asks of the delivery side (not running here). */
const struct aws_env *worker_aws_env(void)
{
	static struct aws_env e = {.region = "us-east-1"};
	return &e;
}

json_t *workers_status_json(void)
{
	return json_pack("{s:i}", "workers", 0);
}

static struct config cfg;
static redisContext *admin;
static char dir[] = "/tmp/sg-fuzz-ctl-XXXXXX";
static pid_t redis_pid;

static void stop_redis(void)
{
	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
	}
	char p[256];
	snprintf(p, sizeof(p), "%s/redis.sock", dir);
	unlink(p);
	rmdir(dir);
}

static void setup(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	CHECK(mkdtemp(dir));
	char sock[256];
	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	redis_pid = fork();
	CHECK(redis_pid >= 0);
	if (redis_pid == 0) {
		/* Dies with the fuzzer, however the fuzzer ends. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int null = open("/dev/null", 1);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock,
		       "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", dir,
		       (char *)NULL);
		_exit(127);
	}
	atexit(stop_redis);
	for (int i = 0; i < 200 && !admin; i++) {
		redisContext *c = redisConnectUnix(sock);
		if (c && !c->err)
			admin = c;
		else {
			redisFree(c);
			usleep(20000);
		}
	}
	CHECK(admin);
	char text[512], err[256];
	int n = snprintf(text, sizeof(text),
			 "redis_unix %s\npassword_hash_iterations 1000\nlog_level err\n"
			 "queue_durability none\n",
			 sock);
	CHECK(config_parse_buffer("fuzz", text, (size_t)n, &cfg, err, sizeof(err)) == 0);
	g_cfg = &cfg;
	log_configure(&cfg);
}

static void check_answer(const char *out)
{
	static const char *const codes[] = {"invalid",     "not_found", "exists", "conflict",
					    "unavailable", "internal",  "denied", NULL};
	json_error_t je;
	json_t *o = json_loads(out, 0, &je);
	CHECK(o && json_is_object(o));
	json_t *ok = json_object_get(o, "ok");
	CHECK(json_is_boolean(ok));
	if (!json_is_true(ok)) {
		CHECK(json_is_string(json_object_get(o, "error")));
		const char *code = json_string_value(json_object_get(o, "code"));
		CHECK(code);
		int known = 0;
		for (int i = 0; codes[i]; i++)
			known |= strcmp(codes[i], code) == 0;
		if (!known) {
			fprintf(stderr, "undocumented error code: %s\n", code);
			abort();
		}
	} else {
		CHECK(json_object_get(o, "result"));
	}
	json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	setup();
	redisReply *r = redisCommand(admin, "FLUSHALL");
	CHECK(r);
	freeReplyObject(r);
	const char *p = (const char *)data, *end = p + size;
	for (int lines = 0; p < end && lines < 16; lines++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		char *out = control_request(&cfg, p, len);
		CHECK(out);
		if (getenv("FUZZ_CONTROL_TRACE")) /* to check seeds */
			fprintf(stderr, "%s\n", out);
		check_answer(out);
		free(out);
		p = nl ? nl + 1 : end;
	}
	return 0;
}
