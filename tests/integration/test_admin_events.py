"""Admin side of SES events: stats (event counts and rates per UTC day),
the suppression list (list, add, remove, import), the tenant's webhook
settings and the reputation guard's pause as tenant.show shows them.  Most
tests write the Redis keys events.c would write (doc/redis-keys.md)
directly; one posts real signed SNS events as test_events.py does."""
import json
import os
import smtplib
import subprocess
import time

import pytest

from conftest import SESGATECTL, free_port

DAY = 86400


def tid_of(redis, name):
    return redis.cli("HGET", "sg:tenants", name)


def day_str(days_ago=0):
    return time.strftime("%Y%m%d", time.gmtime(time.time() - days_ago * DAY))


def write_stats(redis, name, days_ago, **counts):
    key = "sg:{%s}:stats:%s" % (tid_of(redis, name), day_str(days_ago))
    for k, v in counts.items():
        redis.cli("HINCRBY", key, k, str(v))


def ctl_text(gw, *args, stdin=None):
    """sesgatectl without --json: (exit code, stdout, stderr)."""
    p = subprocess.run([SESGATECTL, "-s", gw.sock] + list(args), capture_output=True,
                       text=True, timeout=60, input=stdin)
    return p.returncode, p.stdout, p.stderr


def ctl_json_stdin(gw, *args, stdin=None):
    p = subprocess.run([SESGATECTL, "-s", gw.sock, "--json"] + list(args),
                       capture_output=True, text=True, timeout=60, input=stdin)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout)


# ---------------------------------------------------------------- stats

def test_stats_one_tenant_days_and_rates(gateway, tenant, redis):
    write_stats(redis, "acme", 0, send=40, delivery=37, bounce=2, complaint=1, open=5)
    write_stats(redis, "acme", 1, send=10, delivery=10, click=3, reject=1)
    write_stats(redis, "acme", 3, send=50, bounce=1, delivery_delay=2,
                rendering_failure=1, subscription=1, unknown=1)
    write_stats(redis, "acme", 10, send=1000, bounce=500)   # outside the default 7 days

    _, r = gateway.ctl("stats", "acme")
    assert r["days"] == 7
    t = r["tenants"][0]
    assert t["tenant"] == "acme"
    daily = t["daily"]
    assert len(daily) == 7
    assert daily[0]["date"] == time.strftime("%Y-%m-%d", time.gmtime())
    assert [d["send"] for d in daily] == [40, 10, 0, 50, 0, 0, 0]
    assert daily[0]["bounce"] == 2 and daily[0]["open"] == 5
    assert daily[3]["delivery_delay"] == 2 and daily[3]["unknown"] == 1
    tot = t["totals"]
    assert tot["send"] == 100 and tot["bounce"] == 3 and tot["complaint"] == 1
    assert tot["click"] == 3 and tot["reject"] == 1 and tot["subscription"] == 1
    assert tot["bounce_rate"] == pytest.approx(3.0)
    assert tot["complaint_rate"] == pytest.approx(1.0)
    assert r["totals"]["send"] == 100

    _, r = gateway.ctl("stats", "acme", "--days", "11")
    t = r["tenants"][0]
    assert len(t["daily"]) == 11
    assert t["totals"]["send"] == 1100 and t["totals"]["bounce"] == 503
    assert t["totals"]["bounce_rate"] == pytest.approx(100.0 * 503 / 1100)

    _, r = gateway.ctl("stats", "acme", "--days", "1")
    assert len(r["tenants"][0]["daily"]) == 1
    assert r["tenants"][0]["totals"]["send"] == 40

    rc, out, err = ctl_text(gateway, "stats", "acme")
    assert rc == 0, err
    assert "DAY" in out and "SEND" in out and "COMPLAINT" in out
    assert "TOTAL" in out
    assert "bounce rate 3.00%" in out and "complaint rate 1.00%" in out


def test_stats_no_sends_gives_null_rates(gateway, tenant, redis):
    write_stats(redis, "acme", 0, open=3)
    _, r = gateway.ctl("stats", "acme")
    tot = r["tenants"][0]["totals"]
    assert tot["send"] == 0 and tot["open"] == 3
    assert tot["bounce_rate"] is None and tot["complaint_rate"] is None
    rc, out, _ = ctl_text(gateway, "stats", "acme")
    assert rc == 0 and "bounce rate -" in out


def test_stats_all_tenants(gateway, tenant_factory, redis):
    tenant_factory("acme", ["acme.example"])
    tenant_factory("beta", ["beta.example"])
    tenant_factory("idle", ["idle.example"])
    write_stats(redis, "acme", 0, send=10, bounce=1)
    write_stats(redis, "beta", 2, send=30, complaint=3)
    _, r = gateway.ctl("stats")
    by = {t["tenant"]: t for t in r["tenants"]}
    assert set(by) == {"acme", "beta", "idle"}
    assert all("daily" not in t for t in r["tenants"])
    assert by["acme"]["totals"]["bounce_rate"] == pytest.approx(10.0)
    assert by["beta"]["totals"]["complaint_rate"] == pytest.approx(10.0)
    assert by["idle"]["totals"]["bounce_rate"] is None
    assert r["totals"]["send"] == 40 and r["totals"]["bounce"] == 1
    assert r["totals"]["complaint_rate"] == pytest.approx(7.5)
    rc, out, _ = ctl_text(gateway, "stats", "--days", "3")
    assert rc == 0
    assert "acme" in out and "beta" in out and "TOTAL" in out


def test_stats_errors(gateway, tenant):
    for bad in ("0", "401"):
        rc, out = gateway.ctl("stats", "acme", "--days", bad, check=False)
        assert rc == 1 and "days" in out
    rc, out = gateway.ctl("stats", "acme", "--days", "x", check=False)
    assert rc == 2
    rc, out = gateway.ctl("stats", "nosuch", check=False)
    assert rc == 1 and "not found" in out
    r = gateway.request({"cmd": "stats", "args": {"tenant": "acme", "days": "7"}})
    assert r["ok"] is False and r["code"] == "invalid"
    _, r = gateway.ctl("stats", "acme", "--days", "400")
    assert len(r["tenants"][0]["daily"]) == 400


# ------------------------------------------------------- suppression list

def test_suppression_add_list_remove(gateway, tenant, redis):
    tid = tid_of(redis, "acme")
    # As events.c writes them.
    redis.cli("HSET", "sg:{%s}:suppr" % tid, "gone@dest.example",
              json.dumps({"reason": "bounce:Permanent/General", "time": 1000,
                          "ses_id": "0100abc", "qid": "0Q7V3K2M8Z4T1B6C"}))
    redis.cli("HSET", "sg:{%s}:suppr" % tid, "angry@dest.example",
              json.dumps({"reason": "complaint:abuse", "time": 2000, "ses_id": "0100abd",
                          "qid": "0Q7V3K2M8Z4T1B6D"}))
    _, r = gateway.ctl("suppression", "add", "acme", "Manual@Dest.Example", "--reason", "asked")
    assert r["address"] == "manual@dest.example" and r["reason"] == "manual:asked"
    assert r["new"] is True
    stored = json.loads(redis.cli("HGET", "sg:{%s}:suppr" % tid, "manual@dest.example"))
    assert stored["reason"] == "manual:asked"
    assert abs(stored["time"] - time.time() * 1000) < 60000
    _, r = gateway.ctl("suppression", "add", "acme", "plain@dest.example")
    assert json.loads(redis.cli("HGET", "sg:{%s}:suppr" % tid,
                                "plain@dest.example"))["reason"] == "manual"

    _, r = gateway.ctl("suppression", "list", "acme")
    assert r["total"] == 4
    addrs = [e["address"] for e in r["entries"]]
    # Newest first: the two manual entries, then the complaint, then the bounce.
    assert addrs[2:] == ["angry@dest.example", "gone@dest.example"]
    assert set(addrs[:2]) == {"manual@dest.example", "plain@dest.example"}
    gone = r["entries"][3]
    assert gone["reason"] == "bounce:Permanent/General" and gone["qid"] == "0Q7V3K2M8Z4T1B6C"
    assert gone["time"] == 1000

    _, r = gateway.ctl("suppression", "list", "acme", "--limit", "1")
    assert r["total"] == 4 and len(r["entries"]) == 1

    rc, out, _ = ctl_text(gateway, "suppression", "list", "acme")
    assert rc == 0 and "ADDRESS" in out and "bounce:Permanent/General" in out
    assert "0Q7V3K2M8Z4T1B6C" in out

    _, r = gateway.ctl("suppression", "remove", "acme", "GONE@dest.example")
    assert r["removed"] == "gone@dest.example"
    assert redis.cli("HEXISTS", "sg:{%s}:suppr" % tid, "gone@dest.example") == "0"
    rc, out = gateway.ctl("suppression", "remove", "acme", "gone@dest.example", check=False)
    assert rc == 1 and "not on the suppression list" in out
    r = gateway.request({"cmd": "suppression.remove",
                         "args": {"tenant": "acme", "address": "gone@dest.example"}})
    assert r["code"] == "not_found"


def test_suppression_empty_list(gateway, tenant):
    _, r = gateway.ctl("suppression", "list", "acme")
    assert r == {"tenant": "acme", "total": 0, "entries": []}
    rc, out, _ = ctl_text(gateway, "suppression", "list", "acme")
    assert rc == 0 and "no suppressed addresses" in out


def test_suppression_list_many_hscan(gateway, tenant, redis):
    tid = tid_of(redis, "acme")
    lua = ("for i = 1, 3000 do redis.call('HSET', KEYS[1], 'u' .. i .. '@d.example', "
           "cjson.encode({reason='bounce:Permanent/General', time=i})) end return 1")
    redis.cli("EVAL", lua, "1", "sg:{%s}:suppr" % tid)
    _, r = gateway.ctl("suppression", "list", "acme", "--limit", "10000")
    assert r["total"] == 3000 and len(r["entries"]) == 3000
    assert r["entries"][0]["address"] == "u3000@d.example"
    assert r["entries"][-1]["address"] == "u1@d.example"
    _, r = gateway.ctl("suppression", "list", "acme")
    assert len(r["entries"]) == 100


@pytest.mark.parametrize("addr", ["nobody", "@dest.example", "bob@", "bo b@dest.example",
                                  "bob@dest\x01.example", "a" * 310 + "@dest.example"])
def test_suppression_add_bad_address(gateway, tenant, addr):
    r = gateway.request({"cmd": "suppression.add", "args": {"tenant": "acme", "address": addr}})
    assert r["ok"] is False and r["code"] == "invalid", r


def test_suppression_errors(gateway, tenant):
    rc, out = gateway.ctl("suppression", "add", "nosuch", "a@b.example", check=False)
    assert rc == 1 and "not found" in out
    rc, out = gateway.ctl("suppression", "list", "nosuch", check=False)
    assert rc == 1 and "not found" in out
    rc, out = gateway.ctl("suppression", "list", "acme", "--limit", "0", check=False)
    assert rc == 1 and "limit" in out
    rc, out = gateway.ctl("suppression", "add", "acme", "a@b.example", "--reason", "x" * 201,
                          check=False)
    assert rc == 1 and "reason" in out
    rc, out = gateway.ctl("suppression", "add", "acme", check=False)
    assert rc == 2
    # The tenant is checked by the daemon, with the first batch.
    p = subprocess.run([SESGATECTL, "-s", gateway.sock, "suppression", "import", "nosuch", "-"],
                       input="a@b.example\n", capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "not found" in p.stderr
    rc, out = gateway.ctl("suppression", "import", "acme", "/nonexistent/file", check=False)
    assert rc == 2


def test_suppression_add_refuses_rcpt(gateway, tenant):
    s = smtplib.SMTP("127.0.0.1", gateway.port, timeout=30)
    s.ehlo("c.example")
    s.login(tenant.user, tenant.password)
    s.mail("a@acme.example")
    assert s.rcpt("block@dest.example")[0] == 250
    s.rset()
    gateway.ctl("suppression", "add", "acme", "Block@Dest.example", "--reason", "asked")
    s.mail("a@acme.example")
    code, text = s.rcpt("BLOCK@dest.example")
    assert code == 550 and b"5.1.1" in text
    assert s.rcpt("other@dest.example")[0] == 250
    s.rset()
    gateway.ctl("suppression", "remove", "acme", "block@dest.example")
    s.mail("a@acme.example")
    assert s.rcpt("block@dest.example")[0] == 250
    s.quit()


def test_suppression_import_file_with_bad_lines(gateway, tenant, redis, tmp_path):
    tid = tid_of(redis, "acme")
    f = tmp_path / "list.txt"
    f.write_text("# exported from the old system\n"
                 "one@dest.example\n"
                 "\n"
                 "Two@Dest.Example, unsubscribed by phone\n"
                 "not-an-address\n"
                 "   three@dest.example   \n"
                 "bad address@dest.example\n"
                 "four@dest.example,\n")
    r = ctl_json_stdin(gateway, "suppression", "import", "acme", str(f))
    assert r["added"] == 4 and r["invalid_count"] == 2
    assert [b["line"] for b in r["invalid"]] == [5, 7]
    assert r["invalid"][0]["text"] == "not-an-address"
    two = json.loads(redis.cli("HGET", "sg:{%s}:suppr" % tid, "two@dest.example"))
    assert two["reason"] == "manual:unsubscribed by phone"
    assert json.loads(redis.cli("HGET", "sg:{%s}:suppr" % tid,
                                "four@dest.example"))["reason"] == "manual"
    assert redis.cli("HLEN", "sg:{%s}:suppr" % tid) == "4"

    rc, out, err = ctl_text(gateway, "suppression", "import", "acme", str(f))
    assert rc == 0, err
    assert "added 4 addresses" in out and "(0 new)" in out and "2 invalid" in out
    assert "line 5:" in out and "line 7:" in out


def test_suppression_import_stdin_many(gateway, tenant, redis):
    tid = tid_of(redis, "acme")
    lines = ["user%d@bulk.example" % i for i in range(2500)]
    lines[1234] = "broken"
    bad = ["nope%d" % i for i in range(30)]
    r = ctl_json_stdin(gateway, "suppression", "import", "acme", "-",
                       stdin="\n".join(lines + bad) + "\n")
    assert r["added"] == 2499
    assert r["invalid_count"] == 31
    assert len(r["invalid"]) == 20
    assert r["invalid"][0]["line"] == 1235
    assert redis.cli("HLEN", "sg:{%s}:suppr" % tid) == "2499"
    # Straight to the daemon: more than 1000 in one request is refused.
    r = gateway.request({"cmd": "suppression.import",
                         "args": {"tenant": "acme",
                                  "addresses": [{"address": "x%d@d.example" % i}
                                                for i in range(1001)]}})
    assert r["ok"] is False and r["code"] == "invalid"
    r = gateway.request({"cmd": "suppression.import",
                         "args": {"tenant": "acme",
                                  "addresses": [{"address": "ok@d.example"}, {"address": 3},
                                                {"address": "x@d.example", "reason": "a\nb"}]}})
    assert r["ok"] is True
    assert r["result"]["added"] == 1 and r["result"]["invalid_count"] == 2
    assert [i["index"] for i in r["result"]["invalid"]] == [1, 2]


# ------------------------------------------------------------ webhooks

SECRET = "s3cr3t-Webhook-Key-0123456789"


def test_webhook_settings(gateway, tenant, redis):
    tid = tid_of(redis, "acme")
    _, t = gateway.ctl("tenant", "set", "acme", "webhook_url", "https://hooks.example/sg")
    assert t["webhook_url"] == "https://hooks.example/sg"
    assert "webhook_secret" not in t
    _, t = gateway.ctl("tenant", "set", "acme", "webhook_secret", SECRET)
    assert t["webhook_secret"] == "set"
    assert redis.cli("HGET", "sg:{%s}:tenant" % tid, "webhook_secret") == SECRET
    _, t = gateway.ctl("tenant", "show", "acme")
    assert t["webhook_secret"] == "set"
    rc, out, _ = ctl_text(gateway, "tenant", "show", "acme")
    assert rc == 0 and "webhook secret" in out and SECRET not in out
    _, lst = gateway.ctl("tenant", "list")
    assert SECRET not in json.dumps(lst)
    assert SECRET not in gateway.read_log()

    # Clearing the URL clears the secret.
    _, t = gateway.ctl("tenant", "set", "acme", "webhook_url", "")
    assert "webhook_url" not in t and "webhook_secret" not in t
    assert redis.cli("HEXISTS", "sg:{%s}:tenant" % tid, "webhook_secret") == "0"
    gateway.ctl("tenant", "set", "acme", "webhook_secret", SECRET)
    _, t = gateway.ctl("tenant", "set", "acme", "webhook_secret", "")
    assert "webhook_secret" not in t


@pytest.mark.parametrize("key,value", [
    ("webhook_url", "http://hooks.example/sg"),
    ("webhook_url", "https://"),
    ("webhook_url", "https://hooks.example/a b"),
    ("webhook_url", "https://hooks.example/\x01"),
    ("webhook_url", "https://hooks.example/" + "a" * 500),
    ("webhook_secret", "short"),
    ("webhook_secret", "x" * 129),
    ("webhook_secret", "has a blank in it 0123456789"),
    ("webhook_secret", "n\u00f6t-ascii-0123456789abc"),
])
def test_webhook_invalid(gateway, tenant, redis, key, value):
    r = gateway.request({"cmd": "tenant.set", "args": {"name": "acme", "key": key,
                                                      "value": value}})
    assert r["ok"] is False and r["code"] == "invalid"
    if key == "webhook_secret":
        assert value not in r["error"]
    assert redis.cli("HEXISTS", "sg:{%s}:tenant" % tid_of(redis, "acme"), key) == "0"
    if key == "webhook_secret":
        assert value not in gateway.read_log()


def test_webhook_unknown_tenant(gateway):
    rc, out = gateway.ctl("tenant", "set", "nosuch", "webhook_secret", SECRET, check=False)
    assert rc == 1 and "not found" in out and SECRET not in out


# ------------------------------------------------------ reputation guard

def test_tenant_show_paused_by_guard(gateway, tenant, redis):
    tid = tid_of(redis, "acme")
    redis.cli("HSET", "sg:{%s}:tenant" % tid, "state", "paused", "paused_by", "guard",
              "paused_reason", "reputation guard: bounce rate 12.00% (12 of 100) over 24 h")
    _, t = gateway.ctl("tenant", "show", "acme")
    assert t["paused_by"] == "guard"
    rc, out, _ = ctl_text(gateway, "tenant", "show", "acme")
    assert rc == 0 and "paused by:" in out and "reputation guard" in out


# ------------------------------------------- real events, end to end

def test_stats_and_suppression_from_real_events(make_gateway, tenant_factory, redis):
    snstool = pytest.importorskip("snstool")
    import test_events as te
    signer = snstool.SnsSigner()
    srv = snstool.CertServer(signer)
    srv.start()
    try:
        port = free_port()
        g = make_gateway(http_listen="127.0.0.1:%d" % port, sns_topic_arn=snstool.DEFAULT_TOPIC,
                         sns_cert_host=srv.host_pattern, sns_cert_ca=signer.ca_pem,
                         guard_min_sends="1000")
        g.http = "http://127.0.0.1:%d" % port
        tenant_factory("acme", ["acme.example"], gw=g)
        g.ctl("tenant", "set", "acme", "aws_account_id", te.ACCT)
        for kind in ["Send", "Send", "Send", "Send", "Delivery", "Bounce", "Complaint"]:
            rcpt = {"Bounce": ["gone@dest.example"],
                    "Complaint": ["angry@dest.example"]}.get(kind, ["bob@dest.example"])
            assert te.post(g, signer.sign(signer.notification(te.record(kind, rcpt)))) == 200
        _, r = g.ctl("stats", "acme", "--days", "1")
        tot = r["tenants"][0]["totals"]
        assert tot["send"] == 4 and tot["bounce"] == 1 and tot["complaint"] == 1
        assert tot["bounce_rate"] == pytest.approx(25.0)
        assert tot["complaint_rate"] == pytest.approx(25.0)
        _, r = g.ctl("suppression", "list", "acme")
        by = {e["address"]: e for e in r["entries"]}
        assert by["gone@dest.example"]["reason"].startswith("bounce:Permanent")
        assert by["angry@dest.example"]["reason"].startswith("complaint")
        assert by["gone@dest.example"]["qid"] == te.QID
    finally:
        srv.stop()
        signer.close()
