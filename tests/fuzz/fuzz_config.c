/*
 * fuzz_config.c - libFuzzer target for the configuration file parser.
 *
 * config_parse_buffer() gets the input as a file's contents.  On failure
 * the error must be one NUL-terminated line that names the file.  On
 * success, config_dump() of the result (into memory, open_memstream) must
 * parse again, and dumping that must give the same text: the dump is what
 * `sesgate -T` shows and what an admin pastes back into a file.
 * No files, no network; everything is freed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "config.h"



static char *dump(const struct config *cfg, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	CHECK(f);
	config_dump(cfg, f);
	CHECK(fclose(f) == 0 && buf);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* struct config is tens of KiB: keep it off libFuzzer's stack. */
	static struct config a, b;
	char err[512];
	size_t la, lb;

	memset(err, 'x', sizeof(err));
	if (config_parse_buffer("fuzz.conf", (const char *)data, size, &a, err, sizeof(err)) < 0) {
		size_t n = strnlen(err, sizeof(err));
		CHECK(n > 0 && n < sizeof(err));
		CHECK(strncmp(err, "fuzz.conf", 9) == 0);
		CHECK(!memchr(err, '\n', n));
		return 0;
	}
	CHECK(err[0] == '\0');
	CHECK(a.nlisten >= 1 && a.nlisten <= CONFIG_MAX_LISTEN);
	CHECK(a.hostname[0] && a.smtp_threads >= 1);

	char *da = dump(&a, &la);
	if (config_parse_buffer("dump", da, la, &b, err, sizeof(err)) < 0) {
		fprintf(stderr, "config dump does not parse: %s\n--- dump ---\n%s", err, da);
		abort();
	}
	char *db = dump(&b, &lb);
	if (la != lb || memcmp(da, db, la) != 0) {
		fprintf(stderr, "config dump changed on reparse\n--- first ---\n%s--- second ---\n%s",
			da, db);
		abort();
	}
	free(da);
	free(db);
	return 0;
}
