/*
 * control.h - the control socket thread (see control.c and
 * doc/control-protocol.md).
 */
#ifndef SESGATE_CONTROL_H
#define SESGATE_CONTROL_H

#include <stddef.h>

struct config;

int control_start(const struct config *cfg, char *err, size_t errlen);
void control_stop(void);

/*
 * One request line handled as if read from the socket, against CFG's Redis
 * (blocking), on the caller's thread; the response line (no newline), for
 * the caller to free.  For the fuzz target (tests/fuzz/fuzz_control.c): the
 * daemon itself only calls it from the control thread.
 */
char *control_request(const struct config *cfg, const char *line, size_t len);

#endif
