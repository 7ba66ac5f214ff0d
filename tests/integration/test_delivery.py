"""End to end: smtplib -> sesgate -> Redis -> delivery workers -> the AWS test
double (HTTPS, every request's SigV4 checked by botocore), with STS
AssumeRole into each tenant's role and SES v2 SendEmail."""
import base64
import email
import json
import signal
import smtplib
import time

import pytest

from conftest import GATEWAY_SECRET, provision, simple_message, wait_for

ACCT_A = "111111111111"
ACCT_B = "222222222222"


def send(gw, t, frm, rcpts, msg):
    s = smtplib.SMTP("127.0.0.1", gw.port, timeout=30)
    s.ehlo("client.example")
    s.login(t.user, t.password)
    s.sendmail(frm, rcpts, msg.encode() if isinstance(msg, str) else msg)
    s.quit()


def raw_of(m):
    return base64.b64decode(m["raw"])


def tid_of(redis, name):
    return redis.cli("HGET", "sg:tenants", name)


def tag(m, name):
    for t in m["tags"]:
        if t["Name"] == name:
            return t["Value"]
    return None


def queue_empty(redis, name):
    tid = tid_of(redis, name)
    return redis.cli("ZCARD", "sg:{%s}:all" % tid) == "0" and \
        redis.cli("ZCARD", "sg:{%s}:inflight" % tid) == "0"


@pytest.fixture
def acme(delivery, aws, tenant_factory):
    gw = delivery()
    t = tenant_factory("acme", ["acme.example"], gw=gw)
    role = provision(gw, aws, t, ACCT_A, external_id="ext-acme-1")
    return gw, t, role


def test_byte_exact_and_tags(acme, aws, redis):
    gw, t, role = acme
    body = "line one\r\n..dot line\r\n8bit: \xe9t\xe9\r\nlast\r\n"
    msg = simple_message(frm="alice@acme.example", body=body)
    send(gw, t, "alice@acme.example", ["bob@dest.example"], msg.encode("utf-8"))
    msgs = wait_for(lambda: aws.messages())
    assert len(msgs) == 1
    m = msgs[0]
    raw = raw_of(m)
    assert raw.startswith(b"Received: from client.example")
    assert raw.endswith(msg.encode("utf-8"))       # the client's bytes, untouched
    assert m["recipients"] == ["bob@dest.example"]
    assert m["account"] == ACCT_A and m["role_arn"] == role
    assert tag(m, "sesgate-tenant") == tid_of(redis, "acme")
    qid = tag(m, "sesgate-qid")
    assert qid and ("id " + qid).encode() in raw.split(b"\r\n\r\n")[0]
    assert wait_for(lambda: queue_empty(redis, "acme"))
    # SES MessageId recorded against the queue id, history kept
    tid = tid_of(redis, "acme")
    assert redis.cli("GET", "sg:sesid:" + m["message_id"]) == "%s:%s" % (tid, qid)
    hist = [json.loads(x) for x in redis.cli("LRANGE", "sg:{%s}:hist:%s" % (tid, qid), "0", "-1").split("\n") if x]
    assert hist[0]["ev"] == "received" and hist[0]["from"] == "alice@acme.example"
    assert hist[0]["rcpts"] == 1 and hist[0]["auth"] == t.user
    assert hist[-1]["ev"] == "attempt" and hist[-1]["result"] == "sent"
    assert m["message_id"] in hist[-1]["ses_ids"]
    assert int(redis.cli("PTTL", "sg:{%s}:hist:%s" % (tid, qid))) > 0
    # STS was asked with the tenant's ExternalId and a session naming the tenant
    creds = aws.credentials()
    items = creds.values() if isinstance(creds, dict) else creds
    assert any(c.get("external_id") == "ext-acme-1" and "acme" in c.get("session", "") for c in items)
    log = gw.read_log()
    assert "delivered" in log and qid in log
    _, st = gw.ctl("status")
    aws_st = st["delivery"]["aws"]
    assert aws_st["source"] == "env" and aws_st["region"] == "us-east-1"
    assert GATEWAY_SECRET not in json.dumps(st)
    assert st["counters"]["msgs_delivered"] >= 1
    import subprocess
    from conftest import SESGATECTL
    out = subprocess.run([SESGATECTL, "-s", gw.sock, "status"], capture_output=True,
                         text=True, timeout=30).stdout
    assert "aws identity" in out and "env (AKIA" in out and "us-east-1" in out
    assert GATEWAY_SECRET not in out
    assert "gatewaySecret" not in log and "awsdouble-session" not in log


def test_bcc_goes_to_envelope_not_headers(acme, aws):
    gw, t, _ = acme
    msg = simple_message(frm="alice@acme.example", to="to@dest.example")
    send(gw, t, "alice@acme.example", ["to@dest.example", "hidden@bcc.example"], msg)
    m = wait_for(lambda: aws.messages())[0]
    assert sorted(m["recipients"]) == ["hidden@bcc.example", "to@dest.example"]
    assert b"hidden@bcc.example" not in raw_of(m)


def test_120_recipients_three_calls(acme, aws, redis):
    gw, t, _ = acme
    rcpts = ["r%03d@dest.example" % i for i in range(120)]
    send(gw, t, "alice@acme.example", rcpts, simple_message(frm="alice@acme.example"))
    msgs = wait_for(lambda: len(aws.messages()) >= 3 and aws.messages())
    time.sleep(0.5)
    msgs = aws.messages()
    assert len(msgs) == 3
    assert sorted(len(m["recipients"]) for m in msgs) == [20, 50, 50]
    got = [r for m in msgs for r in m["recipients"]]
    assert sorted(got) == rcpts                     # each exactly once
    assert len({tag(m, "sesgate-qid") for m in msgs}) == 1
    assert wait_for(lambda: queue_empty(redis, "acme"))


def test_partial_success_resends_only_owed(acme, aws, redis):
    """One 50-recipient chunk accepted, the other answered 500: the retry
    sends only the recipients still owed."""
    gw, t, _ = acme
    rcpts = ["p%03d@dest.example" % i for i in range(60)]
    aws.fault("SendEmail", "error500", count=1)
    send(gw, t, "alice@acme.example", rcpts, simple_message(frm="alice@acme.example"))
    assert wait_for(lambda: queue_empty(redis, "acme"), timeout=30)
    got = [r for m in aws.messages() for r in m["recipients"]]
    assert sorted(got) == rcpts                     # nobody twice, nobody missed
    assert [c["status"] for c in aws.calls("SendEmail")["calls"]].count(500) == 1
    assert len(aws.calls("SendEmail")["calls"]) == 3


def test_retry_after_5xx(acme, aws, redis):
    gw, t, _ = acme
    aws.fault("SendEmail", "error500", count=2)
    send(gw, t, "alice@acme.example", ["bob@dest.example"], simple_message(frm="alice@acme.example"))
    assert wait_for(lambda: aws.messages(), timeout=30)
    assert len(aws.messages()) == 1
    calls = aws.calls("SendEmail")["calls"]
    assert [c["status"] for c in calls] == [500, 500, 200]
    assert wait_for(lambda: queue_empty(redis, "acme"))
    assert "deferred" in gw.read_log()


def test_throttling_retries_soon_and_slows_tenant(acme, aws, redis):
    gw, t, _ = acme
    aws.fault("SendEmail", "throttle", count=3)
    send(gw, t, "alice@acme.example", ["bob@dest.example"], simple_message(frm="alice@acme.example"))
    assert wait_for(lambda: aws.messages(), timeout=20)
    calls = aws.calls("SendEmail")["calls"]
    assert [c["status"] for c in calls] == [429, 429, 429, 200]
    tid = tid_of(redis, "acme")
    assert redis.cli("HGET", "sg:{%s}:tenant" % tid, "throttled_at")
    # throttling is not a failed attempt: it does not count towards backoff
    assert wait_for(lambda: queue_empty(redis, "acme"))


def test_permanent_rejection_dead_letter_and_dsn(acme, aws, redis):
    gw, t, _ = acme
    aws.fault("SendEmail", "rejected", count=1, message="Email address is not verified.")
    send(gw, t, "alice@acme.example", ["bob@dest.example"],
         simple_message(frm="alice@acme.example", subject="doomed"))
    tid = tid_of(redis, "acme")
    assert wait_for(lambda: redis.cli("ZCARD", "sg:{%s}:dlq" % tid) == "1")
    qid = redis.cli("ZRANGE", "sg:{%s}:dlq" % tid, "0", "0")
    reason = redis.cli("HGET", "sg:{%s}:msg:%s" % (tid, qid), "dlq_reason")
    assert "MessageRejected" in reason and "not verified" in reason
    # The DSN goes back to the sender through the same tenant's SES
    dsn = wait_for(lambda: aws.messages())[0]
    assert dsn["recipients"] == ["alice@acme.example"]
    assert dsn["account"] == ACCT_A
    parsed = email.message_from_bytes(raw_of(dsn))
    assert parsed.get_content_type() == "multipart/report"
    assert parsed.get_param("report-type") == "delivery-status"
    text = raw_of(dsn).decode("utf-8", "replace")
    assert "Final-Recipient: rfc822; bob@dest.example" in text
    assert "Action: failed" in text and "Status: 5." in text
    assert "Subject: doomed" in text                 # original headers returned
    assert dsn["from"] in (None, "")                 # null envelope sender: no loops
    assert wait_for(lambda: redis.cli("ZCARD", "sg:{%s}:all" % tid) == "0")


def test_no_dsn_for_null_sender(acme, aws, redis):
    gw, t, _ = acme
    aws.fault("SendEmail", "rejected", count=1)
    send(gw, t, "", ["bob@dest.example"], simple_message(frm="alice@acme.example"))
    tid = tid_of(redis, "acme")
    assert wait_for(lambda: redis.cli("ZCARD", "sg:{%s}:dlq" % tid) == "1")
    time.sleep(1.5)
    assert aws.messages() == []


def test_credential_expiry_forces_refresh(acme, aws, redis):
    gw, t, _ = acme
    send(gw, t, "alice@acme.example", ["one@dest.example"], simple_message(frm="alice@acme.example"))
    assert wait_for(lambda: len(aws.messages()) == 1)
    n_assume = aws.calls("AssumeRole")["counts"].get("AssumeRole", 0)
    aws.expire()                                     # every issued session token now expired
    send(gw, t, "alice@acme.example", ["two@dest.example"], simple_message(frm="alice@acme.example"))
    assert wait_for(lambda: len(aws.messages()) == 2, timeout=30)
    calls = aws.calls("SendEmail")["calls"]
    assert any(c["code"] == "ExpiredToken" for c in calls)
    assert aws.calls("AssumeRole")["counts"]["AssumeRole"] == n_assume + 1
    assert wait_for(lambda: queue_empty(redis, "acme"))


def test_two_tenants_never_mix_credentials(delivery, aws, tenant_factory, redis):
    gw = delivery()
    a = tenant_factory("acme", ["acme.example"], gw=gw)
    b = tenant_factory("bravo", ["bravo.example"], gw=gw)
    ra = provision(gw, aws, a, ACCT_A)
    rb = provision(gw, aws, b, ACCT_B)
    for i in range(10):
        send(gw, a, "x@acme.example", ["a%d@dest.example" % i], simple_message(frm="x@acme.example"))
        send(gw, b, "y@bravo.example", ["b%d@dest.example" % i], simple_message(frm="y@bravo.example"))
    assert wait_for(lambda: len(aws.messages()) == 20, timeout=30)
    creds = aws.credentials()
    items = list(creds.items()) if isinstance(creds, dict) else [(c["access_key"], c) for c in creds]
    key_role = {k: v["role_arn"] for k, v in items}
    for m in aws.messages():
        frm = email.message_from_bytes(raw_of(m))["From"]
        if frm.endswith("@acme.example"):
            assert m["account"] == ACCT_A and key_role[m["access_key"]] == ra
            assert tag(m, "sesgate-tenant") == tid_of(redis, "acme")
        else:
            assert m["account"] == ACCT_B and key_role[m["access_key"]] == rb
            assert tag(m, "sesgate-tenant") == tid_of(redis, "bravo")


def test_throttled_tenant_does_not_delay_another(delivery, aws, tenant_factory, redis):
    """acme is paced at 2 recipients/s with a backlog; bravo's mail goes at once."""
    gw = delivery()
    a = tenant_factory("acme", ["acme.example"], gw=gw)
    b = tenant_factory("bravo", ["bravo.example"], gw=gw)
    provision(gw, aws, a, ACCT_A, MaxSendRate=2)
    provision(gw, aws, b, ACCT_B)
    for i in range(20):
        send(gw, a, "x@acme.example", ["a%d@dest.example" % i], simple_message(frm="x@acme.example"))
    t0 = time.time()
    for i in range(5):
        send(gw, b, "y@bravo.example", ["b%d@dest.example" % i], simple_message(frm="y@bravo.example"))
    assert wait_for(lambda: len([m for m in aws.messages() if m["account"] == ACCT_B]) == 5, timeout=10)
    elapsed = time.time() - t0
    sent_a = len([m for m in aws.messages() if m["account"] == ACCT_A])
    assert sent_a < 20, "acme's backlog should still be paced"
    assert elapsed < 8
    # pacing in recipients per second, as SES counts: never above the rate (+1 s burst)
    times = sorted(m["time"] for m in aws.messages() if m["account"] == ACCT_A)
    if len(times) >= 6:
        span = times[-1] - times[0]
        assert (len(times) - 3) / max(span, 0.001) <= 2 * 1.5
    tid = tid_of(redis, "acme")
    assert redis.cli("HGET", "sg:{%s}:tenant" % tid, "ses_max_send_rate") == "2"


def test_daily_quota_exhausted_holds_only_that_tenant(delivery, aws, tenant_factory, redis):
    gw = delivery()
    a = tenant_factory("acme", ["acme.example"], gw=gw)
    b = tenant_factory("bravo", ["bravo.example"], gw=gw)
    provision(gw, aws, a, ACCT_A, Max24HourSend=3)
    provision(gw, aws, b, ACCT_B)
    for i in range(5):
        send(gw, a, "x@acme.example", ["a%d@dest.example" % i], simple_message(frm="x@acme.example"))
        send(gw, b, "y@bravo.example", ["b%d@dest.example" % i], simple_message(frm="y@bravo.example"))
    assert wait_for(lambda: len([m for m in aws.messages() if m["account"] == ACCT_B]) == 5, timeout=15)
    time.sleep(1)
    assert len([m for m in aws.messages() if m["account"] == ACCT_A]) == 3
    tid = tid_of(redis, "acme")
    assert redis.cli("ZCARD", "sg:{%s}:all" % tid) == "2"   # held, not lost, not bounced
    assert redis.cli("ZCARD", "sg:{%s}:dlq" % tid) == "0"


def test_paused_account_holds_tenant_then_releases(acme, aws, redis):
    gw, t, _ = acme
    aws.fault("SendEmail", "paused", count=1)
    aws.set_account(ACCT_A, SendingEnabled=False)
    send(gw, t, "alice@acme.example", ["bob@dest.example"], simple_message(frm="alice@acme.example"))
    tid = tid_of(redis, "acme")
    assert wait_for(lambda: redis.cli("HGET", "sg:{%s}:tenant" % tid, "hold"))
    hold = redis.cli("HGET", "sg:{%s}:tenant" % tid, "hold")
    assert "SendingPaused" in hold or "sending disabled" in hold
    _, show = gw.ctl("tenant", "show", "acme")
    assert "hold" in json.dumps(show)
    time.sleep(1)
    assert aws.messages() == []
    assert redis.cli("ZCARD", "sg:{%s}:dlq" % tid) == "0"
    assert redis.cli("HGET", "sg:{%s}:msg:%s" % (tid, redis.cli("ZRANGE", "sg:{%s}:all" % tid, "0", "0")),
                     "attempts") == "0"          # holding burns no retries
    assert "tenant_held" in gw.read_log()
    aws.set_account(ACCT_A, SendingEnabled=True)     # SES lifts the pause
    assert wait_for(lambda: aws.messages(), timeout=30)
    assert not redis.cli("HGET", "sg:{%s}:tenant" % tid, "hold")


def test_tenant_without_role_holds_mail_until_provisioned(delivery, aws, tenant_factory, redis):
    gw = delivery()
    t = tenant_factory("acme", ["acme.example"], gw=gw)
    send(gw, t, "alice@acme.example", ["bob@dest.example"], simple_message(frm="alice@acme.example"))
    time.sleep(1.5)
    assert aws.messages() == []
    tid = tid_of(redis, "acme")
    assert redis.cli("ZCARD", "sg:{%s}:all" % tid) == "1"
    provision(gw, aws, t, ACCT_A)                    # tenant set role_arn wakes the workers
    assert wait_for(lambda: aws.messages(), timeout=5)


def test_sts_denied_keeps_mail_queued(acme, aws, redis):
    gw, t, role = acme
    aws.fault("AssumeRole", "rejected", count=2)
    send(gw, t, "alice@acme.example", ["bob@dest.example"], simple_message(frm="alice@acme.example"))
    assert wait_for(lambda: aws.messages(), timeout=30)    # STS backoff 1 s, 2 s
    assert "sts_failed" in gw.read_log()


def test_kill9_mid_delivery_loses_nothing(make_gateway, delivery, aws, tenant_factory, redis):
    gw = delivery(visibility_timeout="10s")
    t = tenant_factory("acme", ["acme.example"], gw=gw)
    provision(gw, aws, t, ACCT_A)
    aws.fault("SendEmail", "hang", count=None, max_seconds=60)
    n = 12
    for i in range(n):
        send(gw, t, "alice@acme.example", ["k%d@dest.example" % i], simple_message(frm="alice@acme.example"))
    tid = tid_of(redis, "acme")
    assert wait_for(lambda: int(redis.cli("ZCARD", "sg:{%s}:inflight" % tid)) > 0)
    gw.proc.send_signal(signal.SIGKILL)
    gw.proc.wait(10)
    gw.proc = None
    aws.clear_faults()
    gw2 = delivery(visibility_timeout="10s")
    assert wait_for(lambda: len({m["recipients"][0] for m in aws.messages()}) == n, timeout=60)
    got = {m["recipients"][0] for m in aws.messages()}
    assert got == {"k%d@dest.example" % i for i in range(n)}
    assert wait_for(lambda: queue_empty(redis, "acme"))
    assert "visibility_timeout" in gw2.read_log()


def test_queue_lifetime_expiry_dead_letters(acme, aws, redis, delivery, tenant_factory):
    gw, t, _ = acme
    gw.stop()
    g2 = delivery(max_queue_lifetime="1m")
    aws.fault("SendEmail", "error500", count=None)
    send(g2, t, "alice@acme.example", ["bob@dest.example"], simple_message(frm="alice@acme.example"))
    tid = tid_of(redis, "acme")
    qid = wait_for(lambda: redis.cli("ZRANGE", "sg:{%s}:all" % tid, "0", "0"))
    # pretend it arrived long ago
    redis.cli("HSET", "sg:{%s}:msg:%s" % (tid, qid), "arrival_redis", str(int(time.time() * 1000) - 120000))
    assert wait_for(lambda: redis.cli("ZCARD", "sg:{%s}:dlq" % tid) == "1", timeout=20)
    assert "lifetime" in redis.cli("HGET", "sg:{%s}:msg:%s" % (tid, qid), "dlq_reason")
    aws.clear_faults()
    dsn = wait_for(lambda: aws.messages(), timeout=20)
    assert dsn and dsn[0]["recipients"] == ["alice@acme.example"]


def test_tls_always_verified(delivery, aws, tenant_factory, redis):
    """Without the double's CA the TLS handshake fails: nothing is sent with
    an unverified peer, and the mail stays queued for a retry."""
    gw = delivery(env_extra={"AWS_CA_BUNDLE": ""})
    t = tenant_factory("acme", ["acme.example"], gw=gw)
    provision(gw, aws, t, ACCT_A)
    send(gw, t, "alice@acme.example", ["bob@dest.example"], simple_message(frm="alice@acme.example"))
    assert wait_for(lambda: "certificate" in gw.read_log(), timeout=15)
    assert aws.calls()["counts"].get("SendEmail", 0) == 0
    assert aws.calls()["counts"].get("AssumeRole", 0) == 0
    tid = tid_of(redis, "acme")
    assert redis.cli("ZCARD", "sg:{%s}:all" % tid) == "1"


def test_two_instances_share_one_queue(delivery, aws, tenant_factory, redis):
    g1 = delivery()
    g2 = delivery()
    t = tenant_factory("acme", ["acme.example"], gw=g1)
    provision(g1, aws, t, ACCT_A)
    n = 40
    for i in range(n):
        send(g1 if i % 2 else g2, t, "alice@acme.example", ["s%d@dest.example" % i],
             simple_message(frm="alice@acme.example"))
    assert wait_for(lambda: queue_empty(redis, "acme"), timeout=30)
    got = sorted(m["recipients"][0] for m in aws.messages())
    assert got == sorted("s%d@dest.example" % i for i in range(n))   # each once
    delivered = g1.read_log().count("info: delivered") + g2.read_log().count("info: delivered")
    assert delivered == n


def test_sigterm_finishes_in_flight_calls(delivery, aws, tenant_factory, redis):
    gw = delivery()
    t = tenant_factory("acme", ["acme.example"], gw=gw)
    provision(gw, aws, t, ACCT_A)
    send(gw, t, "alice@acme.example", ["warm@dest.example"], simple_message(frm="alice@acme.example"))
    assert wait_for(lambda: len(aws.messages()) == 1)
    aws.fault("SendEmail", "latency", count=None, latency_ms=1500)
    for i in range(5):
        send(gw, t, "alice@acme.example", ["t%d@dest.example" % i], simple_message(frm="alice@acme.example"))
    tid = tid_of(redis, "acme")
    assert wait_for(lambda: int(redis.cli("ZCARD", "sg:{%s}:inflight" % tid)) > 0)
    assert gw.stop() == 0
    # what was in flight was answered and acknowledged before exit
    assert redis.cli("ZCARD", "sg:{%s}:inflight" % tid) == "0"
    sent = {m["recipients"][0] for m in aws.messages()}
    queued = int(redis.cli("ZCARD", "sg:{%s}:all" % tid))
    assert len(sent) - 1 + queued == 5


def test_delivery_config_checked(tmp_path):
    import subprocess
    from conftest import SESGATE
    conf = tmp_path / "bad.conf"
    conf.write_text("ses_timeout 60s\nvisibility_timeout 90s\n")
    p = subprocess.run([SESGATE, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert p.returncode != 0
    assert "bad.conf:2:" in p.stderr and "twice ses_timeout" in p.stderr
    conf.write_text("retry_min_backoff 10m\nretry_max_backoff 1m\n")
    p = subprocess.run([SESGATE, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert "bad.conf:2:" in p.stderr and "below retry_min_backoff" in p.stderr
    conf.write_text("aws_region US_EAST\n")
    p = subprocess.run([SESGATE, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert "bad.conf:1:" in p.stderr and "region" in p.stderr


def test_no_region_refuses_to_start(make_gateway, redis, tmp_path):
    import subprocess
    from conftest import SESGATE, Sesgate
    g = Sesgate(str(tmp_path), redis, env={"AWS_EC2_METADATA_DISABLED": "true",
                                           "AWS_CONFIG_FILE": "/nonexistent",
                                           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"},
                workers="1")
    p = subprocess.run([SESGATE, "-f", "-c", g.conf], capture_output=True, text=True, timeout=30,
                       env={"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true",
                            "AWS_CONFIG_FILE": "/nonexistent",
                            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"})
    assert p.returncode == 1
    assert "region" in (p.stderr + p.stdout)
