/*
 * fuzz.h - what every fuzz target shares: the libFuzzer entry point (also
 * called by replay.c) and CHECK, an invariant that aborts so that both
 * libFuzzer and the sanitizer replay report it with its input.
 */
#ifndef SESGATE_FUZZ_H
#define SESGATE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
