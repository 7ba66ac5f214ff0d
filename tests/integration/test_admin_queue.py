"""Admin side of delivery: queue.stats, dlq.list/show/retry/purge, msg.show,
tenant.set delivery overrides, tenant.release.  The delivery workers are off
(workers 0): every test writes the Redis state the workers would have written
(doc/redis-keys.md) itself, by SMTP and then by hand.  The last test runs the
real workers against the AWS test double."""
import json
import random
import smtplib
import subprocess
import time

import pytest

from conftest import SESGATECTL, provision, resp, simple_message, wait_for

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
HIST_TTL = 7200  # delivery_record_ttl of the gateway below

# Writes N fake messages of one tenant, as the enqueue script and the workers
# would: ARGV = tid, name, where ("dlq" or "ready"), base ms, qids...
BULK_LUA = """
local tid, name, where, base = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local p = 'sg:{' .. tid .. '}:'
for i = 5, #ARGV do
  local q, t = ARGV[i], base + i
  local k = p .. 'msg:' .. q
  redis.call('HSET', k, 'qid', q, 'tenant', tid, 'tenant_name', name,
    'env', '{"from":"a@bulk.example","rcpt":["b@dest.example"],"body":"7BIT","smtputf8":false}',
    'client', '127.0.0.1', 'helo', 'bulk', 'auth', 'sg_bulk', 'arrival', t, 'arrival_redis', t,
    'size', 40, 'nrcpt', 1, 'attempts', 4, 'data', 'Subject: bulk ' .. q .. '\\r\\n\\r\\nx\\r\\n')
  if where == 'dlq' then
    redis.call('HSET', k, 'dlq_reason', 'bulk failure', 'dlq_time', t + 1000)
    redis.call('ZADD', p .. 'dlq', t + 1000, q)
  else
    redis.call('ZADD', p .. 'ready', t, q)
    redis.call('ZADD', p .. 'all', t, q)
  end
  redis.call('RPUSH', p .. 'hist:' .. q, '{"t":' .. t .. ',"ev":"received"}')
end
return #ARGV - 4
"""


@pytest.fixture
def gateway(make_gateway):
    # No delivery: nothing but the test moves messages between the sets.
    return make_gateway(workers=0, delivery_record_ttl="2h")


def new_qid():
    return "".join(random.choice(CROCKFORD) for _ in range(16))


def tid_of(redis, name):
    return redis.cli("HGET", "sg:tenants", name)


def redis_ms(redis):
    s, us = redis.cli("TIME").split("\n")
    return int(s) * 1000 + int(us) // 1000


def send(gw, tenant, n=1, rcpts=("bob@dest.example",), subject="hi", frm=None):
    """Queue N messages over SMTP; returns their queue ids."""
    frm = frm or "alice@" + tenant.domains[0]
    s = smtplib.SMTP("127.0.0.1", gw.port, timeout=30)
    s.login(tenant.user, tenant.password)
    qids = []
    for _ in range(n):
        s.mail(frm)
        for r in rcpts:
            s.rcpt(r)
        code, text = s.data(simple_message(frm=frm, to=rcpts[0], subject=subject).encode())
        assert code == 250, text
        qids.append(text.decode().rsplit(" ", 1)[1])
    s.quit()
    return qids


def bulk(redis, tid, name, n, where="dlq"):
    qids = [new_qid() for _ in range(n)]
    base = redis_ms(redis) - 3600 * 1000
    for i in range(0, n, 400):  # keep each command line reasonable
        part = qids[i:i + 400]
        assert redis.cli("EVAL", BULK_LUA, "0", tid, name, where, str(base + i), *part) == str(len(part))
    return qids


def dead_letter(redis, tid, qid, reason="MessageRejected: Email address is not verified",
                attempts=3, at=None):
    """What the worker's dead-letter step writes."""
    at = at or redis_ms(redis)
    p = "sg:{%s}:" % tid
    for z in ("ready", "inflight", "all"):
        redis.cli("ZREM", p + z, qid)
    redis.cli("SREM", p + "retrying", qid)
    redis.cli("ZADD", p + "dlq", str(at), qid)
    redis.cli("HSET", p + "msg:" + qid, "dlq_reason", reason, "dlq_time", str(at),
              "attempts", str(attempts), "last_error", reason, "last_attempt", str(at - 5))
    for n in range(1, attempts + 1):
        redis.cli("RPUSH", p + "hist:" + qid, json.dumps(
            {"t": at - 10 + n, "ev": "attempt", "n": n, "rcpts": 1, "result": "permfail",
             "detail": reason, "instance": "test"}))
    redis.cli("RPUSH", p + "hist:" + qid, json.dumps({"t": at, "ev": "dead-lettered",
                                                       "reason": reason}))


def snapshot(redis, tid):
    """Every key of a tenant with its serialized value and whether it has a TTL."""
    keys = sorted(k for k in redis.cli("KEYS", "sg:{%s}:*" % tid).split("\n") if k)
    return {k: (resp(redis.port, "DUMP", k), resp(redis.port, "PTTL", k) >= 0) for k in keys}


def ctl_text(gw, *args):
    """sesgatectl without --json: (exit code, stdout, stderr)."""
    p = subprocess.run([SESGATECTL, "-s", gw.sock] + list(args), capture_output=True, text=True,
                       timeout=60)
    return p.returncode, p.stdout, p.stderr


def hist(redis, tid, qid):
    return [json.loads(x) for x in
            redis.cli("LRANGE", "sg:{%s}:hist:%s" % (tid, qid), "0", "-1").split("\n") if x]


# ---------------------------------------------------------------- queue.stats

def test_queue_stats_counts(gateway, tenant_factory, redis):
    a = tenant_factory("acme", ("acme.example",))
    tenant_factory("beta", ("beta.example",))
    ta, tb = tid_of(redis, "acme"), tid_of(redis, "beta")
    q = send(gateway, a, n=4)
    now = redis_ms(redis)
    p = "sg:{%s}:" % ta
    # q0 ready; q1 claimed by a worker; q2 waiting for a retry; q3 dead-lettered
    redis.cli("ZREM", p + "ready", q[1])
    redis.cli("ZADD", p + "inflight", str(now + 300000), q[1])
    redis.cli("ZADD", p + "ready", str(now + 60000), q[2])
    redis.cli("SADD", p + "retrying", q[2])
    dead_letter(redis, ta, q[3])
    redis.cli("HSET", "sg:{%s}:tenant" % tb, "hold", "AccountSuspendedException: suspended",
              "hold_since", str(now))
    gateway.ctl("tenant", "pause", "acme")

    _, st = gateway.ctl("queue", "stats")
    by = {t["tenant"]: t for t in st["tenants"]}
    assert by["acme"]["depth"] == 3 and by["acme"]["ready"] == 2
    assert by["acme"]["inflight"] == 1 and by["acme"]["retrying"] == 1
    assert by["acme"]["dlq"] == 1 and by["acme"]["paused"] is True
    assert by["acme"]["held"] is None and by["acme"]["hold_since"] is None
    assert by["acme"]["oldest_age"] >= 0
    assert by["beta"]["held"] == "AccountSuspendedException: suspended"
    assert by["beta"]["hold_since"] == now and by["beta"]["paused"] is False
    assert by["beta"]["depth"] == 0 and by["beta"]["dlq"] == 0
    assert (st["depth"], st["ready"], st["inflight"], st["retrying"], st["dlq"]) == (3, 2, 1, 1, 1)
    assert (st["held"], st["paused"]) == (1, 1)

    _, one = gateway.ctl("queue", "stats", "beta")
    assert [t["tenant"] for t in one["tenants"]] == ["beta"]
    assert one["held"] == 1 and one["depth"] == 0

    rc, out, _ = ctl_text(gateway, "queue", "stats")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split() == ["TENANT", "DEPTH", "READY", "INFLIGHT", "RETRYING", "DLQ",
                                "OLDEST", "STATE"]
    acme = next(l for l in lines if l.startswith("acme"))
    assert acme.split()[1:6] == ["3", "2", "1", "1", "1"] and acme.endswith("paused")
    assert next(l for l in lines if l.startswith("beta")).endswith("held")
    assert next(l for l in lines if l.startswith("TOTAL")).endswith("1 paused, 1 held")
    assert "beta held: AccountSuspendedException: suspended" in out

    rc, out = gateway.ctl("queue", "stats", "nosuch", check=False)
    assert rc == 1 and "tenant not found: nosuch" in out


def test_queue_stats_many_tenants(gateway, redis):
    # More tenants than one pipelined batch (256), written straight into Redis.
    lua = """
for i = 1, tonumber(ARGV[1]) do
  local tid = string.format('t%016x', i)
  redis.call('HSET', 'sg:tenants', 'bulk' .. i, tid)
  redis.call('HSET', 'sg:{' .. tid .. '}:tenant', 'id', tid, 'name', 'bulk' .. i, 'state', 'active')
  redis.call('ZADD', 'sg:{' .. tid .. '}:all', 1000, 'Q' .. i)
  redis.call('ZADD', 'sg:{' .. tid .. '}:dlq', 1000, 'D' .. i)
  redis.call('ZADD', 'sg:{' .. tid .. '}:dlq', 1001, 'E' .. i)
end
"""
    redis.cli("EVAL", lua, "0", "600")
    _, st = gateway.ctl("queue", "stats")
    assert len(st["tenants"]) == 600
    assert st["depth"] == 600 and st["dlq"] == 1200
    assert all(t["depth"] == 1 and t["dlq"] == 2 for t in st["tenants"])
    assert {t["tenant"] for t in st["tenants"]} == {"bulk%d" % i for i in range(1, 601)}
    # queued since 1970: the age is measured against now
    assert st["oldest_age"] > 1700000000


# ---------------------------------------------------------------- dlq.list / dlq.show

def test_dlq_list(gateway, tenant, redis):
    tid = tid_of(redis, "acme")
    q = send(gateway, tenant, n=3, rcpts=("x@dest.example", "y@dest.example"))
    now = redis_ms(redis)
    for i, qid in enumerate(q):
        dead_letter(redis, tid, qid, reason="reason %d" % i, attempts=i + 1, at=now - 1000 + i)
    _, r = gateway.ctl("dlq", "list", "acme")
    assert r["tenant"] == "acme" and r["total"] == 3
    assert [m["qid"] for m in r["messages"]] == q[::-1]  # newest first
    m = r["messages"][0]
    assert m["dlq_time"] == now - 998 and m["dlq_reason"] == "reason 2"
    assert m["from"] == "alice@acme.example" and m["nrcpt"] == 2 and m["attempts"] == 3
    assert m["size"] > 100
    assert set(m) == {"qid", "dlq_time", "dlq_reason", "from", "nrcpt", "size", "attempts"}

    redis.cli("HSET", "sg:{%s}:msg:%s" % (tid, q[1]), "dlq_reason", "r" * 300)
    _, r = gateway.ctl("dlq", "list", "acme")
    assert r["messages"][1]["dlq_reason"] == "r" * 200 + "..."
    _, m = gateway.ctl("dlq", "show", "acme", q[1])
    assert m["message"]["dlq_reason"] == "r" * 300

    _, r = gateway.ctl("dlq", "list", "acme", "--limit", "2")
    assert [m["qid"] for m in r["messages"]] == q[:0:-1] and r["total"] == 3

    rc, out, _ = ctl_text(gateway, "dlq", "list", "acme", "--limit", "2")
    assert rc == 0 and out.splitlines()[0].split()[:3] == ["QID", "DEAD-LETTERED", "ATTEMPTS"]
    assert q[2] in out and q[0] not in out and "reason 2" in out and "r" * 200 + "..." in out
    assert "newest 2 of 3 shown" in out

    for bad in (0, 10001, "7", -1):
        r = gateway.request({"cmd": "dlq.list", "args": {"tenant": "acme", "limit": bad}})
        assert r["code"] == "invalid" and "limit" in r["error"], bad
    rc, _, err = ctl_text(gateway, "dlq", "list", "acme", "--limit", "many")
    assert rc == 2 and "--limit" in err
    rc, _, err = ctl_text(gateway, "dlq", "list", "acme", "--limit", "20000")
    assert rc == 1 and "limit must be an integer from 1 to 10000" in err
    rc, _, err = ctl_text(gateway, "dlq", "list", "nosuch")
    assert rc == 1 and "tenant not found: nosuch" in err

    gateway.ctl("tenant", "add", "empty")
    _, r = gateway.ctl("dlq", "list", "empty")
    assert r == {"tenant": "empty", "total": 0, "messages": []}
    rc, out, _ = ctl_text(gateway, "dlq", "list", "empty")
    assert rc == 0 and "no dead-lettered messages for tenant empty" in out


def test_dlq_show(gateway, tenant, redis):
    tid = tid_of(redis, "acme")
    qid, other = send(gateway, tenant, n=2, subject="Invoice 42")
    dead_letter(redis, tid, qid, reason="MessageRejected: bad address")
    _, m = gateway.ctl("dlq", "show", "acme", qid)
    assert m["qid"] == qid and m["tenant"] == "acme" and m["state"] == "dead-lettered"
    msg = m["message"]
    assert "data" not in msg and msg["size"] > 100 and msg["dlq_reason"].startswith("MessageRejected")
    assert msg["attempts"] == 3 and isinstance(msg["dlq_time"], int)
    assert msg["env"]["rcpt"] == ["bob@dest.example"]
    assert m["headers"]["Subject"] == "Invoice 42"
    assert m["headers"]["From"] == "alice@acme.example"
    assert m["headers"]["Message-ID"] == "<m1@acme.example>"
    assert m["owed"] == ["bob@dest.example"] and m["ses_ids"] == []
    evs = [e["ev"] for e in m["hist"]]  # (enqueue may have recorded "received" first)
    assert evs[-4:] == ["attempt", "attempt", "attempt", "dead-lettered"]

    rc, out, _ = ctl_text(gateway, "dlq", "show", "acme", qid)
    assert rc == 0 and "Invoice 42" in out and "MessageRejected: bad address" in out
    assert "dead-lettered" in out and "history:" in out and "attempt n=1" in out

    # lower case is the same id; queued (not dead-lettered) mail is not in the dlq
    assert gateway.ctl("dlq", "show", "acme", qid.lower())[1]["qid"] == qid
    r = gateway.request({"cmd": "dlq.show", "args": {"tenant": "acme", "qid": other}})
    assert r["code"] == "not_found" and "not in the dead-letter queue of acme" in r["error"]
    r = gateway.request({"cmd": "dlq.show", "args": {"tenant": "acme", "qid": "nope"}})
    assert r["code"] == "invalid"
    rc, _, err = ctl_text(gateway, "dlq", "show", "acme", "ILLEGAL0000000000")
    assert rc == 1 and "invalid queue id" in err


def test_dlq_show_odd_headers(gateway, tenant, redis):
    """8-bit junk, folded and over-long headers still give valid, bounded JSON."""
    tid = tid_of(redis, "acme")
    qid = new_qid()
    k = "sg:{%s}:msg:%s" % (tid, qid)
    data = (b"Received: from x\r\nSubject: caf\xe9 \xff\xfe\r\n  folded part\r\n"
            b"To: " + b"r" * 5000 + b"@x.example\r\nfrom: lower@case.example\r\n\r\n"
            b"Subject: not a header\r\n")
    resp(redis.port, "HSET", k, "qid", qid, "env", '{"from":"","rcpt":["a@b.example"]}',
         "size", str(len(data)), "attempts", "1", "data", data, "arrival", "1")
    redis.cli("ZADD", "sg:{%s}:dlq" % tid, "5", qid)
    _, m = gateway.ctl("dlq", "show", "acme", qid)
    assert m["headers"]["Subject"] == "caf? ?? folded part"
    assert m["headers"]["From"] == "lower@case.example"
    assert len(m["headers"]["To"]) <= 203 and m["headers"]["To"].endswith("...")
    assert m["hist"] == [] and m["state"] == "dead-lettered"
    rc, out, _ = ctl_text(gateway, "dlq", "show", "acme", qid)
    assert rc == 0 and "from:" in out and "<>" in out


# ---------------------------------------------------------------- dlq.retry

def test_dlq_retry_one(gateway, tenant_factory, redis):
    a = tenant_factory("acme", ("acme.example",))
    b = tenant_factory("beta", ("beta.example",))
    ta, tb = tid_of(redis, "acme"), tid_of(redis, "beta")
    qa, qa2 = send(gateway, a, n=2)
    (qb,) = send(gateway, b)
    dead_letter(redis, ta, qa)
    dead_letter(redis, ta, qa2)
    dead_letter(redis, tb, qb)
    p = "sg:{%s}:" % ta
    redis.cli("HSET", p + "msg:" + qa, "owed", '["bob@dest.example"]',
              "ses_ids", '["0100-abc"]', "next_attempt", "12345")
    arrival = int(redis.cli("HGET", p + "msg:" + qa, "arrival_redis"))
    redis.cli("ZADD", "sg:sched", "1", tb)  # beta is due long ago: must stay so
    redis.cli("ZREM", "sg:sched", ta)  # as if a worker had found acme's queue empty
    before_b = snapshot(redis, tb)

    t0 = redis_ms(redis)
    _, r = gateway.ctl("dlq", "retry", "acme", qa)
    assert r == {"retried": 1, "dropped": 0}
    t1 = redis_ms(redis)
    assert redis.cli("ZSCORE", p + "dlq", qa) == ""
    assert t0 <= int(redis.cli("ZSCORE", p + "ready", qa)) <= t1
    assert int(redis.cli("ZSCORE", p + "all", qa)) == arrival
    assert redis.cli("HEXISTS", p + "msg:" + qa, "dlq_reason") == "0"
    assert redis.cli("HEXISTS", p + "msg:" + qa, "dlq_time") == "0"
    assert redis.cli("HEXISTS", p + "msg:" + qa, "next_attempt") == "0"
    assert redis.cli("HMGET", p + "msg:" + qa, "attempts", "owed").split("\n") == [
        "0", '["bob@dest.example"]']
    ev = hist(redis, ta, qa)[-1]
    assert ev["ev"] == "dlq-retry" and t0 <= ev["t"] <= t1
    assert int(redis.cli("PTTL", p + "hist:" + qa)) == -1
    assert t0 <= int(redis.cli("ZSCORE", "sg:sched", ta)) <= t1
    # the other dead letter of acme and everything of beta are untouched
    assert redis.cli("ZSCORE", p + "dlq", qa2) != ""
    assert snapshot(redis, tb) == before_b and redis.cli("ZSCORE", "sg:sched", tb) == "1"

    _, m = gateway.ctl("msg", "show", qa)
    assert m["state"] == "ready" and m["owed"] == ["bob@dest.example"]
    assert m["ses_ids"] == ["0100-abc"]

    # again: no longer dead-lettered
    rc, out = gateway.ctl("dlq", "retry", "acme", qa, check=False)
    assert rc == 1 and "is not in the dead-letter queue of acme" in out
    r = gateway.request({"cmd": "dlq.retry", "args": {"tenant": "acme", "qid": qa}})
    assert r["code"] == "not_found"
    # beta's message is not acme's
    r = gateway.request({"cmd": "dlq.retry", "args": {"tenant": "acme", "qid": qb}})
    assert r["code"] == "not_found" and snapshot(redis, tb) == before_b

    rc, out, _ = ctl_text(gateway, "dlq", "retry", "acme", qa2)
    assert rc == 0 and "requeued 1 dead-lettered message of tenant acme" in out


def test_dlq_retry_all_many(gateway, tenant_factory, redis):
    tenant_factory("acme", ("acme.example",))
    tenant_factory("beta", ("beta.example",))
    ta, tb = tid_of(redis, "acme"), tid_of(redis, "beta")
    qa = bulk(redis, ta, "acme", 1234)
    bulk(redis, tb, "beta", 7)
    before_b = snapshot(redis, tb)
    _, r = gateway.ctl("dlq", "retry", "acme", "--all")
    assert r == {"retried": 1234, "dropped": 0}
    p = "sg:{%s}:" % ta
    assert redis.cli("ZCARD", p + "dlq") == "0"
    assert redis.cli("ZCARD", p + "ready") == "1234" and redis.cli("ZCARD", p + "all") == "1234"
    for qid in random.sample(qa, 20):
        assert redis.cli("HGET", p + "msg:" + qid, "attempts") == "0"
        assert redis.cli("HEXISTS", p + "msg:" + qid, "dlq_reason") == "0"
        assert [e["ev"] for e in hist(redis, ta, qid)] == ["received", "dlq-retry"]
    assert snapshot(redis, tb) == before_b
    assert redis.cli("ZSCORE", "sg:sched", tb) == ""
    _, st = gateway.ctl("queue", "stats")
    by = {t["tenant"]: t for t in st["tenants"]}
    assert by["acme"]["dlq"] == 0 and by["acme"]["ready"] == 1234 and by["beta"]["dlq"] == 7

    _, r = gateway.ctl("dlq", "retry", "acme", "--all")  # nothing left: not an error
    assert r == {"retried": 0, "dropped": 0}


def test_dlq_retry_entry_without_message(gateway, tenant, redis):
    tid = tid_of(redis, "acme")
    qid = new_qid()
    redis.cli("ZADD", "sg:{%s}:dlq" % tid, "5", qid)
    rc, out = gateway.ctl("dlq", "retry", "acme", qid, check=False)
    assert rc == 1 and "without its content" in out
    assert redis.cli("ZCARD", "sg:{%s}:dlq" % tid) == "0"
    assert redis.cli("EXISTS", "sg:{%s}:msg:%s" % (tid, qid)) == "0"


def test_dlq_usage_errors(gateway, tenant):
    for cmd in ("retry", "purge"):
        rc, _, err = ctl_text(gateway, "dlq", cmd, "acme")
        assert rc == 2 and "missing QID (or --all)" in err, err
        assert "dlq %s TENANT (QID | --all)" % cmd in err
        rc, _, err = ctl_text(gateway, "dlq", cmd, "acme", new_qid(), "--all")
        assert rc == 2 and "not both" in err
        r = gateway.request({"cmd": "dlq." + cmd, "args": {"tenant": "acme"}})
        assert r["code"] == "invalid" and "qid or all" in r["error"]
        r = gateway.request({"cmd": "dlq." + cmd, "args": {"tenant": "acme", "all": True,
                                                            "qid": new_qid()}})
        assert r["code"] == "invalid"
        rc, _, err = ctl_text(gateway, "dlq", cmd, "nosuch", "--all")
        assert rc == 1 and "tenant not found: nosuch" in err
        rc, _, err = ctl_text(gateway, "dlq", cmd, "acme", "not-a-qid")
        assert rc == 1 and "invalid queue id: not-a-qid" in err
    rc, out, _ = ctl_text(gateway, "-h")
    assert "dlq retry TENANT (QID | --all)" in out and "msg show QID [--tenant NAME]" in out


# ---------------------------------------------------------------- dlq.purge

def test_dlq_purge_one(gateway, tenant_factory, redis):
    a = tenant_factory("acme", ("acme.example",))
    b = tenant_factory("beta", ("beta.example",))
    ta, tb = tid_of(redis, "acme"), tid_of(redis, "beta")
    qa, queued = send(gateway, a, n=2)
    (qb,) = send(gateway, b)
    dead_letter(redis, ta, qa)
    dead_letter(redis, tb, qb)
    before_b = snapshot(redis, tb)
    _, r = gateway.ctl("dlq", "purge", "acme", qa)
    assert r == {"purged": 1, "dropped": 0}
    p = "sg:{%s}:" % ta
    assert redis.cli("EXISTS", p + "msg:" + qa) == "0"
    assert redis.cli("ZCARD", p + "dlq") == "0"
    assert hist(redis, ta, qa)[-1]["ev"] == "purged"
    assert HIST_TTL - 60 < int(redis.cli("TTL", p + "hist:" + qa)) <= HIST_TTL
    # queued mail is not in the dlq and cannot be purged through it
    r = gateway.request({"cmd": "dlq.purge", "args": {"tenant": "acme", "qid": queued}})
    assert r["code"] == "not_found"
    assert redis.cli("EXISTS", p + "msg:" + queued) == "1"
    assert snapshot(redis, tb) == before_b

    _, m = gateway.ctl("msg", "show", qa)
    assert m["state"] == "purged" and m["message"] is None and m["tenant"] == "acme"

    rc, out, _ = ctl_text(gateway, "dlq", "purge", "beta", qb)
    assert rc == 0 and "purged 1 dead-lettered message of tenant beta" in out


def test_dlq_purge_all_many(gateway, tenant_factory, redis):
    a = tenant_factory("acme", ("acme.example",))
    tenant_factory("beta", ("beta.example",))
    ta, tb = tid_of(redis, "acme"), tid_of(redis, "beta")
    queued = send(gateway, a, n=2)
    qa = bulk(redis, ta, "acme", 1100)
    bulk(redis, tb, "beta", 3)
    before_b = snapshot(redis, tb)
    _, r = gateway.ctl("dlq", "purge", "acme", "--all")
    assert r == {"purged": 1100, "dropped": 0}
    p = "sg:{%s}:" % ta
    assert redis.cli("ZCARD", p + "dlq") == "0"
    assert all(redis.cli("EXISTS", p + "msg:" + q) == "0" for q in random.sample(qa, 20))
    q = random.choice(qa)
    assert [e["ev"] for e in hist(redis, ta, q)] == ["received", "purged"]
    assert int(redis.cli("TTL", p + "hist:" + q)) > 0
    # the queued mail of acme and all of beta stay
    assert redis.cli("ZCARD", p + "all") == "2"
    assert all(redis.cli("EXISTS", p + "msg:" + q) == "1" for q in queued)
    assert snapshot(redis, tb) == before_b


# ---------------------------------------------------------------- msg.show

def test_msg_show_states(gateway, tenant_factory, redis):
    tenant_factory("other", ("other.example",))
    a = tenant_factory("acme", ("acme.example",))
    ta = tid_of(redis, "acme")
    p = "sg:{%s}:" % ta
    q = send(gateway, a, n=5, rcpts=("r1@dest.example", "r2@dest.example"), subject="States")
    now = redis_ms(redis)

    _, m = gateway.ctl("msg", "show", q[0])
    assert m["tenant"] == "acme" and m["state"] == "ready" and m["qid"] == q[0]
    assert m["owed"] == ["r1@dest.example", "r2@dest.example"] and m["ses_ids"] == []
    assert m["headers"]["Subject"] == "States" and "data" not in m["message"]
    assert m["message"]["nrcpt"] == 2 and isinstance(m["due"], int)

    redis.cli("ZADD", p + "ready", str(now + 3600000), q[1])
    assert gateway.ctl("msg", "show", q[1])[1]["state"] == "queued"

    redis.cli("ZREM", p + "ready", q[2])
    redis.cli("ZADD", p + "inflight", str(now + 300000), q[2])
    _, m = gateway.ctl("msg", "show", q[2])
    assert m["state"] == "inflight" and m["deadline"] == now + 300000

    redis.cli("ZADD", p + "ready", str(now + 60000), q[3])
    redis.cli("SADD", p + "retrying", q[3])
    redis.cli("HSET", p + "msg:" + q[3], "owed", '["r2@dest.example"]',
              "ses_ids", '["0100-first"]', "attempts", "1", "last_error", "Throttling")
    redis.cli("RPUSH", p + "hist:" + q[3], json.dumps(
        {"t": now, "ev": "attempt", "n": 1, "rcpts": 2, "result": "partial",
         "detail": "Throttling", "ses_id": "0100-first", "instance": "i1"}))
    _, m = gateway.ctl("msg", "show", q[3], "--tenant", "acme")
    assert m["state"] == "retrying" and m["owed"] == ["r2@dest.example"]
    assert m["ses_ids"] == ["0100-first"] and m["message"]["last_error"] == "Throttling"
    assert m["hist"][-1]["result"] == "partial"

    dead_letter(redis, ta, q[4])
    assert gateway.ctl("msg", "show", q[4])[1]["state"] == "dead-lettered"

    # delivered: the worker's ack removed the hash, the history remains
    for z in ("ready", "all"):
        redis.cli("ZREM", p + z, q[0])
    redis.cli("DEL", p + "msg:" + q[0])
    redis.cli("RPUSH", p + "hist:" + q[0], json.dumps(
        {"t": now, "ev": "attempt", "n": 1, "result": "ok", "ses_id": "0100-a"}),
        json.dumps({"t": now + 1, "ev": "delivered"}))
    _, m = gateway.ctl("msg", "show", q[0])
    assert m["state"] == "delivered" and m["message"] is None and m["ses_ids"] == ["0100-a"]
    assert m["owed"] is None and [e["ev"] for e in m["hist"]][-2:] == ["attempt", "delivered"]

    # the same, recorded as an attempt whose result is "sent", with its SES ids
    q5 = new_qid()
    redis.cli("RPUSH", p + "hist:" + q5, json.dumps(
        {"t": now, "ev": "attempt", "n": 1, "result": "sent", "ses_ids": ["0100-b", "0100-c"]}))
    _, m = gateway.ctl("msg", "show", q5)
    assert m["state"] == "delivered" and m["ses_ids"] == ["0100-b", "0100-c"]

    # a history without a final event and without a message
    ghost = new_qid()
    redis.cli("RPUSH", p + "hist:" + ghost, json.dumps({"t": now, "ev": "received"}))
    assert gateway.ctl("msg", "show", ghost)[1]["state"] == "unknown"

    rc, out, _ = ctl_text(gateway, "msg", "show", q[3])
    assert rc == 0 and "retrying" in out and "0100-first" in out and "r2@dest.example" in out
    assert "attempt n=1" in out and "result=partial" in out


def test_msg_show_errors(gateway, tenant_factory, redis):
    a = tenant_factory("acme", ("acme.example",))
    tenant_factory("beta", ("beta.example",))
    (qid,) = send(gateway, a)
    for bad in ("", "short", "0123456789ABCDEFG", "0123456789ABCDEI", "0123456789ABCDE!"):
        r = gateway.request({"cmd": "msg.show", "args": {"qid": bad}})
        assert r["code"] == "invalid", bad
    r = gateway.request({"cmd": "msg.show", "args": {}})
    assert r["code"] == "invalid"
    rc, _, err = ctl_text(gateway, "msg", "show", "garbage")
    assert rc == 1 and "invalid queue id: garbage" in err
    missing = new_qid()
    rc, _, err = ctl_text(gateway, "msg", "show", missing)
    assert rc == 1 and "message %s not found in any tenant" % missing in err
    r = gateway.request({"cmd": "msg.show", "args": {"qid": missing}})
    assert r["code"] == "not_found"
    rc, _, err = ctl_text(gateway, "msg", "show", qid, "--tenant", "beta")
    assert rc == 1 and "message %s not found for tenant beta" % qid in err
    rc, _, err = ctl_text(gateway, "msg", "show", qid, "--tenant", "nosuch")
    assert rc == 1 and "tenant not found: nosuch" in err
    rc, _, err = ctl_text(gateway, "msg", "show")
    assert rc == 2 and "missing QID" in err


def test_msg_show_finds_tenant_among_many(gateway, tenant, redis):
    lua = """
for i = 1, tonumber(ARGV[1]) do
  redis.call('HSET', 'sg:tenants', 'x' .. i, string.format('t%016x', i))
end
"""
    redis.cli("EVAL", lua, "0", "700")
    (qid,) = send(gateway, tenant)
    _, m = gateway.ctl("msg", "show", qid)
    assert m["tenant"] == "acme" and m["state"] == "ready"


# ---------------------------------------------------------------- tenant.set / show / release

def test_tenant_delivery_settings(gateway, tenant, redis):
    tid = tid_of(redis, "acme")
    for v, want in (("14", 14.0), ("0.5", 0.5)):
        _, t = gateway.ctl("tenant", "set", "acme", "rate_override", v)
        assert t["rate_override"] == want
    _, t = gateway.ctl("tenant", "set", "acme", "quota_override", "0")
    assert t["quota_override"] == 0
    _, t = gateway.ctl("tenant", "set", "acme", "quota_override", "50000")
    assert t["quota_override"] == 50000
    _, t = gateway.ctl("tenant", "set", "acme", "configuration_set", "Acme_events-1")
    assert t["configuration_set"] == "Acme_events-1"
    for key, bad in (("rate_override", "0"), ("rate_override", "-1"), ("rate_override", "abc"),
                     ("rate_override", "1e3"), ("rate_override", "inf"), ("rate_override", "1."),
                     ("quota_override", "-1"), ("quota_override", "1.5"),
                     ("quota_override", "x"), ("configuration_set", "has space"),
                     ("configuration_set", "a" * 65), ("configuration_set", "dot.ted"),
                     ("nonsense", "1")):
        r = gateway.request({"cmd": "tenant.set", "args": {"name": "acme", "key": key,
                                                           "value": bad}})
        assert r["code"] == "invalid", (key, bad)
    rc, _, err = ctl_text(gateway, "tenant", "set", "acme", "rate_override", "fast")
    assert rc == 1 and "rate_override must be a decimal number" in err
    assert redis.cli("HGET", "sg:{%s}:tenant" % tid, "rate_override") == "0.5"

    # what the workers write is shown, typed
    now = redis_ms(redis)
    redis.cli("HSET", "sg:{%s}:tenant" % tid, "ses_max_send_rate", "14.0", "ses_max_24h",
              "50000.0", "ses_sent_24h", "1234", "ses_checked", str(now), "hold",
              "AccountSuspendedException: the account is suspended", "hold_since", str(now))
    _, t = gateway.ctl("tenant", "show", "acme")
    assert t["ses_max_send_rate"] == 14.0 and t["ses_max_24h"] == 50000
    assert t["ses_sent_24h"] == 1234 and t["ses_checked"] == now
    assert t["hold"].startswith("AccountSuspendedException") and t["hold_since"] == now
    assert set(t["queue"]) >= {"depth", "oldest_age", "ready", "inflight", "retrying", "dlq"}
    rc, out, _ = ctl_text(gateway, "tenant", "show", "acme")
    assert rc == 0
    assert "held:" in out and "AccountSuspendedException" in out and "held since:" in out
    assert "rate override:" in out and "0.5/s" in out and "14/s" in out
    assert "50000 (1234 sent)" in out and "Acme_events-1" in out

    for key in ("rate_override", "quota_override", "configuration_set"):
        _, t = gateway.ctl("tenant", "set", "acme", key, "")
        assert key not in t
    assert redis.cli("HEXISTS", "sg:{%s}:tenant" % tid, "rate_override") == "0"

    # an empty hold is no hold
    redis.cli("HSET", "sg:{%s}:tenant" % tid, "hold", "")
    _, t = gateway.ctl("tenant", "show", "acme")
    assert "hold" not in t and "hold_since" not in t


def test_tenant_release(gateway, tenant_factory, redis):
    tenant_factory("acme", ("acme.example",))
    tenant_factory("beta", ("beta.example",))
    ta, tb = tid_of(redis, "acme"), tid_of(redis, "beta")
    for tid in (ta, tb):
        redis.cli("HSET", "sg:{%s}:tenant" % tid, "hold", "SendingPausedException: paused",
                  "hold_since", "1000", "hold_auto", "1")
    redis.cli("ZADD", "sg:sched", "5", tb)
    t0 = redis_ms(redis)
    _, t = gateway.ctl("tenant", "release", "acme")
    assert "hold" not in t and "hold_since" not in t and t["name"] == "acme"
    assert redis.cli("HEXISTS", "sg:{%s}:tenant" % ta, "hold") == "0"
    assert redis.cli("HEXISTS", "sg:{%s}:tenant" % ta, "hold_auto") == "0"
    assert t0 <= int(redis.cli("ZSCORE", "sg:sched", ta)) <= redis_ms(redis)
    assert redis.cli("HGET", "sg:{%s}:tenant" % tb, "hold") == "SendingPausedException: paused"
    # LT: an earlier due time is kept
    gateway.ctl("tenant", "release", "beta")
    assert redis.cli("ZSCORE", "sg:sched", tb) == "5"
    # releasing a tenant that is not held is harmless
    gateway.ctl("tenant", "release", "beta")
    rc, _, err = ctl_text(gateway, "tenant", "release", "nosuch")
    assert rc == 1 and "tenant not found: nosuch" in err
    rc, out, _ = ctl_text(gateway, "tenant", "release", "acme")
    assert rc == 0 and "held" not in out


def test_tenant_delete_with_dead_letters(gateway, tenant, redis):
    tid = tid_of(redis, "acme")
    q = send(gateway, tenant, n=3)
    dead_letter(redis, tid, q[0])
    # q1 and q2 delivered (as the worker's ack leaves them): only the dead letter is left
    redis.cli("ZREM", "sg:{%s}:all" % tid, q[1], q[2])
    redis.cli("ZREM", "sg:{%s}:ready" % tid, q[1], q[2])
    redis.cli("DEL", "sg:{%s}:msg:%s" % (tid, q[1]), "sg:{%s}:msg:%s" % (tid, q[2]))
    for qid in q[1:]:
        redis.cli("RPUSH", "sg:{%s}:hist:%s" % (tid, qid), '{"t":1,"ev":"delivered"}')
        redis.cli("EXPIRE", "sg:{%s}:hist:%s" % (tid, qid), "3600")
    redis.cli("SADD", "sg:{%s}:retrying" % tid, "stale")
    rc, out = gateway.ctl("tenant", "delete", "acme", check=False)
    assert rc == 1 and "1 dead-lettered message" in out
    _, d = gateway.ctl("tenant", "delete", "acme", "--force")
    assert d == {"deleted": "acme", "dropped": 1}
    # what is left are the histories of delivered mail, expiring on their own
    left = sorted(k for k in redis.cli("KEYS", "sg:{*").split("\n") if k)
    assert left == sorted("sg:{%s}:hist:%s" % (tid, qid) for qid in q[1:])
    assert all(int(redis.cli("TTL", k)) > 0 for k in left)


# ---------------------------------------------------------------- with the real workers

def test_dead_letter_retry_deliver_with_workers(delivery, aws, tenant_factory, redis):
    """What the workers write is what these commands read: SES rejects a
    message for good, the admin looks at it, retries it, and it is delivered."""
    gw = delivery()
    t = tenant_factory("acme", ["acme.example"], gw=gw)
    provision(gw, aws, t, "111111111111")
    tid = tid_of(redis, "acme")
    aws.fault("SendEmail", "rejected", count=1, message="Email address is not verified.")
    (qid,) = send(gw, t, subject="Second chance")
    assert wait_for(lambda: redis.cli("ZCARD", "sg:{%s}:dlq" % tid) == "1")

    _, lst = gw.ctl("dlq", "list", "acme")
    (m,) = lst["messages"]
    assert m["qid"] == qid and "MessageRejected" in m["dlq_reason"] and m["attempts"] == 1
    assert m["from"] == "alice@acme.example" and m["nrcpt"] == 1
    _, v = gw.ctl("dlq", "show", "acme", qid)
    assert v["state"] == "dead-lettered" and v["headers"]["Subject"] == "Second chance"
    assert "not verified" in v["message"]["dlq_reason"]
    assert any(e["ev"] == "attempt" and e.get("result") == "rejected" for e in v["hist"])
    # the DSN to the sender is queued mail of its own: let it go first
    assert wait_for(lambda: redis.cli("ZCARD", "sg:{%s}:all" % tid) == "0")
    _, st = gw.ctl("queue", "stats", "acme")
    assert st["dlq"] == 1 and st["depth"] == 0

    _, r = gw.ctl("dlq", "retry", "acme", qid)
    assert r["retried"] == 1
    assert wait_for(lambda: gw.ctl("msg", "show", qid)[1]["state"] == "delivered")
    _, v = gw.ctl("msg", "show", qid)
    assert v["message"] is None and v["ses_ids"]
    evs = [e["ev"] for e in v["hist"]]
    assert "dlq-retry" in evs and evs.index("dlq-retry") < len(evs) - 1
    assert any(x["recipients"] == ["bob@dest.example"] for x in aws.messages())
    _, st = gw.ctl("queue", "stats", "acme")
    assert st["dlq"] == 0 and st["depth"] == 0
