/*
 * replay.c - runs a fuzz target over files given on the command line (or
 * every file of the directories given), without libFuzzer: this is how CI
 * replays the seed corpora and crash regressions with gcc and sanitizers.
 *
 * Built once per target (tests/unit/test_fuzz_NAME from replay.c and
 * fuzz_NAME.c with -DFUZZ_TARGET='"NAME"'); with no arguments it runs
 * tests/fuzz/corpus/NAME and, when it exists, tests/fuzz/regressions/NAME
 * under $srcdir.  An empty or missing corpus fails: a replay that ran
 * nothing proves nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	static uint8_t buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	/* An exact-size copy, as libFuzzer passes it, so that a sanitizer sees
	 * a read past the input's end. */
	uint8_t *copy = malloc(n ? n : 1);
	if (!copy) {
		perror("malloc");
		return -1;
	}
	memcpy(copy, buf, n);
	LLVMFuzzerTestOneInput(copy, n);
	free(copy);
	return 0;
}

#ifndef FUZZ_TARGET
#define FUZZ_TARGET "smtp_parse"
#endif

int main(int argc, char **argv)
{
	int count = 0;
	/* Under `make check`: the target's corpus and crash regressions. */
	char d1[2048], d2[2048];
	char *defaults[] = {argv[0], d1, d2};
	if (argc == 1) {
		const char *top = getenv("srcdir") ? getenv("srcdir") : ".";
		snprintf(d1, sizeof(d1), "%s/tests/fuzz/corpus/%s", top, FUZZ_TARGET);
		snprintf(d2, sizeof(d2), "%s/tests/fuzz/regressions/%s", top, FUZZ_TARGET);
		argv = defaults;
		argc = 3;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			/* A target without crash regressions has no directory for them. */
			if (argv == defaults && argv[i] == d2 && errno == ENOENT)
				continue;
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) < 0)
				return 1;
			count++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			char p[4096];
			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
			if (run_file(p) < 0)
				return 1;
			count++;
		}
		if (d)
			closedir(d);
	}
	/* One test in scripts/test's count, in the cmocka summary format. */
	printf("replayed %d input(s)\n[  PASSED  ] 1 test(s).\n", count);
	return count > 0 ? 0 : 1;
}
