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

#endif
