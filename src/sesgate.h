/*
 * sesgate.h - process-wide read-only facts set once by main() before any
 * thread starts.
 */
#ifndef SESGATE_SESGATE_H
#define SESGATE_SESGATE_H

#include <stdint.h>

struct config;

extern const struct config *g_cfg;
extern uint64_t g_start_ms;
extern char g_instance[32];

#endif
