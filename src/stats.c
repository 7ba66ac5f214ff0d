/*
 * stats.c - the counters' storage and their JSON snapshot.
 */
#include "stats.h"
#include "aws/ses.h"

#include <jansson.h>

struct stats g_stats;

_Atomic uint64_t g_smtp_replies[600];
_Atomic uint64_t g_ses_outcome[STATS_SES_OUTCOMES];
_Atomic uint64_t g_ses_latency[STATS_SES_BUCKETS];
_Atomic uint64_t g_ses_latency_sum_us;
const double stats_ses_bucket_le[STATS_SES_BUCKETS - 1] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
							     0.5,   1,    2.5,   5,    10};

void stats_ses_call(int outcome, double seconds)
{
	if (outcome >= 0 && outcome < STATS_SES_OUTCOMES)
		atomic_fetch_add_explicit(&g_ses_outcome[outcome], 1, memory_order_relaxed);
	int i = 0;
	while (i < STATS_SES_BUCKETS - 1 && seconds > stats_ses_bucket_le[i])
		i++;
	atomic_fetch_add_explicit(&g_ses_latency[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&g_ses_latency_sum_us, (uint64_t)(seconds * 1e6),
				  memory_order_relaxed);
}

const char *stats_ses_outcome_name(int outcome)
{
	return outcome >= 0 && outcome <= SES_PERMANENT ? ses_outcome_name(outcome) : NULL;
}

json_t *stats_json(void)
{
	json_t *o = json_object();
#define STATS_JSON(name, help) json_object_set_new(o, #name, json_integer((json_int_t)STAT_GET(name)));
	STATS_COUNTERS(STATS_JSON)
	STATS_GAUGES(STATS_JSON)
#undef STATS_JSON
	return o;
}
