/*
 * stats.c - the counters' storage and their JSON snapshot.
 */
#include "stats.h"

#include <jansson.h>

struct stats g_stats;

json_t *stats_json(void)
{
	json_t *o = json_object();
#define STATS_JSON(name, help) json_object_set_new(o, #name, json_integer((json_int_t)STAT_GET(name)));
	STATS_COUNTERS(STATS_JSON)
	STATS_GAUGES(STATS_JSON)
#undef STATS_JSON
	return o;
}
