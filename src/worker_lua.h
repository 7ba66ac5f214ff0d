/*
 * worker_lua.h - the Redis scripts of the delivery side of the queue.
 *
 * Each script touches only keys of one tenant (one hash tag, so one Redis
 * Cluster slot) and runs atomically: a crash or a dropped connection never
 * leaves a message half moved.  Keys derived from the message id inside a
 * script ("sg:{T}:msg:" .. qid) share the tenant's hash tag.
 * Included by worker.c only.
 */
#ifndef SESGATE_WORKER_LUA_H
#define SESGATE_WORKER_LUA_H

/*
 * CLAIM.  KEYS: tenant, ready, inflight.
 * ARGV: now, max messages, visibility ms, default rate, claim token,
 *       account refresh ms, message key prefix, lease ms, max octets.
 * Reply: {status, needcheck, role_arn, external_id, configuration_set,
 *         tenant name, next due, detail, qid...}
 * status: ok | empty | later | gone | paused | held | norole | check |
 *         rate | quota.  needcheck = 1 when this caller took the lease to
 * read the tenant's SES account (GetAccount) now.
 *
 * Pacing is a token bucket kept in the tenant hash (tb_tokens, tb_ts), so
 * every worker of every instance shares one bucket per tenant.  Tokens are
 * recipients, as SES counts its MaxSendRate.  The first message of a claim
 * may overdraw the bucket (a 1000-recipient message must still go), which
 * the following claims then wait for.  Likewise the first message may
 * exceed the octet budget (the worker's memory for message data).
 */
static const char claim_lua[] =
	"local now, max, vis = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
	"local defrate, refresh = tonumber(ARGV[4]), tonumber(ARGV[6])\n"
	"if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end\n"
	"local f = redis.call('HMGET', KEYS[1], 'state', 'hold', 'role_arn', 'ses_checked',\n"
	"  'ses_max_send_rate', 'rate_override', 'tb_tokens', 'tb_ts', 'throttled_at',\n"
	"  'ses_max_24h', 'quota_override', 'ses_sent_24h', 'ses_sent_local',\n"
	"  'ses_check_lease', 'external_id', 'configuration_set', 'name')\n"
	"local function info(st, chk, nxt, detail)\n"
	"  return {st, chk, f[3] or '', f[15] or '', f[16] or '', f[17] or '', nxt or '', detail or ''}\n"
	"end\n"
	"local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')\n"
	"if #first == 0 then return info('empty', 0) end\n"
	"if tonumber(first[2]) > now then return info('later', 0, first[2]) end\n"
	"if f[1] ~= 'active' then return info('paused', 0, '', f[1] or '') end\n"
	"local checked = tonumber(f[4] or '0') or 0\n"
	"local chk = 0\n"
	"if f[3] and f[3] ~= '' and now - checked >= refresh then\n"
	"  if (tonumber(f[14] or '0') or 0) < now then\n"
	"    redis.call('HSET', KEYS[1], 'ses_check_lease', now + tonumber(ARGV[8]))\n"
	"    chk = 1\n"
	"  else\n"
	"    chk = 2\n"
	"  end\n"
	"end\n"
	"if f[2] and f[2] ~= '' then return info('held', chk, '', f[2]) end\n"
	"if not f[3] or f[3] == '' then return info('norole', 0) end\n"
	"if checked == 0 then return info('check', chk) end\n"
	"local rate = tonumber(f[6] or '') or tonumber(f[5] or '') or defrate\n"
	"if rate <= 0 then rate = defrate end\n"
	"local thr = tonumber(f[9] or '0') or 0\n"
	"if now - thr < 60000 then rate = rate / 2 end\n"
	"local burst = math.max(rate, 1)\n"
	"local tokens = tonumber(f[7] or '') or burst\n"
	"local ts = tonumber(f[8] or '') or now\n"
	"if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000) end\n"
	"if tokens < 1 then\n"
	"  redis.call('HSET', KEYS[1], 'tb_tokens', tostring(tokens), 'tb_ts', now)\n"
	"  return info('rate', chk, tostring(now + math.ceil((1 - tokens) * 1000 / rate)))\n"
	"end\n"
	"local max24 = tonumber(f[11] or '') or tonumber(f[10] or '') or -1\n"
	"local used = (tonumber(f[12] or '0') or 0) + (tonumber(f[13] or '0') or 0)\n"
	"local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, max)\n"
	"local out = info('ok', chk)\n"
	"local claimed, sent, octets = 0, 0, 0\n"
	"local maxoctets = tonumber(ARGV[9])\n"
	"for _, q in ipairs(due) do\n"
	"  local mk = ARGV[7] .. q\n"
	"  local m = redis.call('HMGET', mk, 'nrcpt', 'nowed', 'size')\n"
	"  if not m[1] then\n"
	"    redis.call('ZREM', KEYS[2], q)\n"
	"  else\n"
	"    local n = tonumber(m[2] or m[1]) or 1\n"
	"    local sz = tonumber(m[3] or '0') or 0\n"
	"    if claimed > 0 and (n > tokens or octets + sz > maxoctets) then break end\n"
	"    octets = octets + sz\n"
	"    if max24 >= 0 and used + n > max24 then\n"
	"      if claimed == 0 then return info('quota', chk) end\n"
	"      break\n"
	"    end\n"
	"    tokens = tokens - n\n"
	"    used = used + n\n"
	"    sent = sent + n\n"
	"    redis.call('ZREM', KEYS[2], q)\n"
	"    redis.call('ZADD', KEYS[3], now + vis, q)\n"
	"    redis.call('HSET', mk, 'claim', ARGV[5] .. ':' .. q)\n"
	"    claimed = claimed + 1\n"
	"    out[#out + 1] = q\n"
	"  end\n"
	"end\n"
	"redis.call('HSET', KEYS[1], 'tb_tokens', tostring(tokens), 'tb_ts', now)\n"
	"if sent > 0 then redis.call('HINCRBY', KEYS[1], 'ses_sent_local', sent) end\n"
	"local nx = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')\n"
	"if #nx > 0 then out[7] = nx[2] end\n"
	"return out\n";

/*
 * FINISH one delivery attempt.  KEYS: msg, ready, inflight, all, retrying,
 * dlq, hist, tenant.
 * ARGV: mode (ack|retry|hold|dlq|release), qid, claim token, now, next due,
 *       owed JSON, owed count, ses_ids JSON, last error, history event,
 *       record TTL ms, count attempt (0|1), throttled (0|1), hold reason.
 * A finish whose claim token no longer matches (the message was reaped and
 * claimed again) only records history, except an ack: SES accepted the
 * mail, so it must not be sent again by anyone.
 */
static const char finish_lua[] =
	"local mode, qid, now = ARGV[1], ARGV[2], tonumber(ARGV[4])\n"
	"if redis.call('EXISTS', KEYS[1]) == 0 then\n"
	"  redis.call('ZREM', KEYS[3], qid)\n"
	"  return 'gone'\n"
	"end\n"
	"redis.call('RPUSH', KEYS[7], ARGV[10])\n"
	"if mode == 'ack' then\n"
	"  redis.call('DEL', KEYS[1])\n"
	"  redis.call('ZREM', KEYS[2], qid)\n"
	"  redis.call('ZREM', KEYS[3], qid)\n"
	"  redis.call('ZREM', KEYS[4], qid)\n"
	"  redis.call('SREM', KEYS[5], qid)\n"
	"  redis.call('PEXPIRE', KEYS[7], ARGV[11])\n"
	"  return 'ok'\n"
	"end\n"
	"if redis.call('HGET', KEYS[1], 'claim') ~= ARGV[3] then return 'stale' end\n"
	"redis.call('HSET', KEYS[1], 'owed', ARGV[6], 'nowed', ARGV[7], 'ses_ids', ARGV[8],\n"
	"  'last_attempt', now)\n"
	"if ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'last_error', ARGV[9]) end\n"
	"redis.call('HDEL', KEYS[1], 'claim')\n"
	"if ARGV[12] == '1' then redis.call('HINCRBY', KEYS[1], 'attempts', 1) end\n"
	"redis.call('ZREM', KEYS[3], qid)\n"
	"if mode == 'dlq' then\n"
	"  redis.call('ZREM', KEYS[2], qid)\n"
	"  redis.call('ZREM', KEYS[4], qid)\n"
	"  redis.call('SREM', KEYS[5], qid)\n"
	"  redis.call('ZADD', KEYS[6], now, qid)\n"
	"  redis.call('HSET', KEYS[1], 'dlq_reason', ARGV[9], 'dlq_time', now)\n"
	"  return 'ok'\n"
	"end\n"
	"redis.call('ZADD', KEYS[2], ARGV[5], qid)\n"
	"redis.call('HSET', KEYS[1], 'next_attempt', ARGV[5])\n"
	"if mode == 'retry' then redis.call('SADD', KEYS[5], qid) end\n"
	"if ARGV[13] == '1' then\n"
	"  redis.call('HSET', KEYS[8], 'throttled_at', now, 'tb_tokens', '0', 'tb_ts', now)\n"
	"end\n"
	"if mode == 'hold' then\n"
	"  local h = redis.call('HGET', KEYS[8], 'hold')\n"
	"  if not h or h == '' then\n"
	"    redis.call('HSET', KEYS[8], 'hold', ARGV[14], 'hold_since', now, 'hold_auto', '1')\n"
	"  end\n"
	"end\n"
	"return 'ok'\n";

/*
 * REAP claims whose visibility deadline passed.  KEYS: inflight, ready.
 * ARGV: now, limit, message key prefix, history key prefix, event.
 * Reply: {moved, earliest remaining deadline or ''}.
 */
static const char reap_lua[] =
	"local now = tonumber(ARGV[1])\n"
	"local ex = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))\n"
	"local n = 0\n"
	"for _, q in ipairs(ex) do\n"
	"  redis.call('ZREM', KEYS[1], q)\n"
	"  if redis.call('EXISTS', ARGV[3] .. q) == 1 then\n"
	"    redis.call('HDEL', ARGV[3] .. q, 'claim')\n"
	"    redis.call('ZADD', KEYS[2], now, q)\n"
	"    redis.call('RPUSH', ARGV[4] .. q, ARGV[5])\n"
	"    n = n + 1\n"
	"  end\n"
	"end\n"
	"local nx = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
	"return {n, nx[2] or ''}\n";

/*
 * ACCOUNT: store what GetAccount said.  KEYS: tenant.
 * ARGV: now, max rate, max 24h, sent 24h, hold reason ('' = account fine).
 * A hold set automatically (hold_auto) is lifted when SES sends again; one
 * set by an admin stays until `sesgatectl tenant release`.
 * Reply: 'held', 'released' or 'ok'.
 */
static const char account_lua[] =
	"if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end\n"
	"redis.call('HSET', KEYS[1], 'ses_checked', ARGV[1], 'ses_max_send_rate', ARGV[2],\n"
	"  'ses_max_24h', ARGV[3], 'ses_sent_24h', ARGV[4], 'ses_sent_local', '0')\n"
	"redis.call('HDEL', KEYS[1], 'ses_check_lease')\n"
	"local h = redis.call('HGET', KEYS[1], 'hold')\n"
	"if ARGV[5] ~= '' then\n"
	"  if not h or h == '' then\n"
	"    redis.call('HSET', KEYS[1], 'hold', ARGV[5], 'hold_since', ARGV[1], 'hold_auto', '1')\n"
	"  end\n"
	"  return 'held'\n"
	"end\n"
	"if h and h ~= '' and redis.call('HGET', KEYS[1], 'hold_auto') == '1' then\n"
	"  redis.call('HDEL', KEYS[1], 'hold', 'hold_since', 'hold_auto')\n"
	"  return 'released'\n"
	"end\n"
	"return 'ok'\n";

#endif
