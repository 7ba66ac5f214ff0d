"""Control socket and sesgatectl against a real daemon and Redis; config
checking of the real binary."""
import json
import os
import smtplib
import stat
import subprocess

import pytest

from conftest import SESGATE, SESGATECTL, simple_message


def test_status(gateway):
    _, st = gateway.ctl("status")
    assert st["redis"] == "up" and st["version"] and st["smtp_threads"] == 2
    assert oct(stat.S_IMODE(os.stat(gateway.sock).st_mode)) == "0o660"


def test_tenant_lifecycle(gateway, redis):
    _, t = gateway.ctl("tenant", "add", "acme", "--domain", "Acme.Example", "--domain", "b.example")
    assert t["name"] == "acme" and t["state"] == "active"
    assert sorted(t["domains"]) == ["acme.example", "b.example"]
    rc, out = gateway.ctl("tenant", "add", "acme", check=False)
    assert rc == 1
    _, lst = gateway.ctl("tenant", "list")
    assert [x["name"] for x in lst] == ["acme"]
    _, t = gateway.ctl("tenant", "pause", "acme", "--reason", "abuse")
    assert t["state"] == "paused" and t["paused_reason"] == "abuse"
    _, t = gateway.ctl("tenant", "resume", "acme")
    assert t["state"] == "active"
    _, t = gateway.ctl("tenant", "domain", "remove", "acme", "b.example")
    assert t["domains"] == ["acme.example"]
    _, t = gateway.ctl("tenant", "domain", "add", "acme", "c.example")
    assert sorted(t["domains"]) == ["acme.example", "c.example"]
    _, t = gateway.ctl("tenant", "set", "acme", "max_recipients", "5")
    assert t["max_recipients"] == 5
    _, t = gateway.ctl("tenant", "show", "acme")
    assert t["credentials"] == 0 and t["queue"]["depth"] == 0
    _, d = gateway.ctl("tenant", "delete", "acme")
    assert d["deleted"] == "acme"
    rc, _ = gateway.ctl("tenant", "show", "acme", check=False)
    assert rc == 1
    assert redis.cli("KEYS", "sg:{*") == ""


def test_domain_belongs_to_one_tenant(gateway):
    gateway.ctl("tenant", "add", "a", "--domain", "shared.example")
    rc, out = gateway.ctl("tenant", "add", "b", "--domain", "shared.example", check=False)
    assert rc == 1
    rc, out = gateway.ctl("tenant", "add", "c", "--domain", "sub.shared.example", check=False)
    assert rc == 1
    gateway.ctl("tenant", "add", "d")
    rc, out = gateway.ctl("tenant", "domain", "add", "d", "example", check=False)
    assert rc == 1  # not a valid domain
    # a failed add leaves nothing behind
    _, lst = gateway.ctl("tenant", "list")
    assert sorted(x["name"] for x in lst) == ["a", "d"]


def test_delete_refuses_with_queued_mail(gateway, tenant, redis):
    s = smtplib.SMTP("127.0.0.1", gateway.port, timeout=30)
    s.login(tenant.user, tenant.password)
    s.sendmail("a@acme.example", ["b@x.example"], simple_message(frm="a@acme.example").encode())
    s.quit()
    _, q = gateway.ctl("queue", "stats")
    assert q["depth"] == 1 and q["tenants"][0]["tenant"] == "acme"
    _, q = gateway.ctl("queue", "stats", "acme")
    assert q["tenants"][0]["depth"] == 1
    rc, _ = gateway.ctl("tenant", "delete", "acme", check=False)
    assert rc == 1
    _, d = gateway.ctl("tenant", "delete", "acme", "--force")
    assert d["dropped"] == 1
    assert redis.cli("KEYS", "sg:{*") == ""


def test_credentials(gateway, tenant):
    _, lst = gateway.ctl("cred", "list", "acme")
    assert [c["username"] for c in lst] == [tenant.user]
    assert all("password" not in c for c in lst)
    _, c2 = gateway.ctl("cred", "add", "acme", "--description", "second app")
    _, lst = gateway.ctl("cred", "list", "acme")
    assert len(lst) == 2
    # the password is stored only as a hash
    assert c2["password"] not in subprocess.run(
        ["redis-cli", "-p", str(gateway.redis.port), "--raw", "HGETALL",
         "sg:cred:" + c2["username"]], capture_output=True, text=True).stdout
    gateway.ctl("cred", "revoke", c2["username"])
    rc, _ = gateway.ctl("cred", "revoke", c2["username"], check=False)
    assert rc == 1
    assert c2["password"] not in gateway.read_log()


def test_raw_protocol_errors(gateway):
    assert gateway.request({"cmd": "nope"})["code"] == "invalid"
    assert gateway.request({"cmd": "tenant.show", "args": {"name": "x"}})["code"] == "not_found"
    assert gateway.request({"cmd": "tenant.add", "args": {"name": "Bad Name"}})["code"] == "invalid"
    assert gateway.request({"args": {}})["code"] == "invalid"
    assert gateway.request({"cmd": "status"})["ok"] is True


def test_ctl_unreachable_socket(tmp_path):
    p = subprocess.run([SESGATECTL, "-s", str(tmp_path / "none.sock"), "status"],
                       capture_output=True, text=True)
    assert p.returncode == 3 and "none.sock" in p.stderr


def test_ctl_usage_error():
    p = subprocess.run([SESGATECTL, "tenant", "frobnicate"], capture_output=True, text=True)
    assert p.returncode == 2


def test_config_check(tmp_path):
    good = tmp_path / "good.conf"
    good.write_text("listen 127.0.0.1:2525\nmax_sessions 10\n")
    p = subprocess.run([SESGATE, "-t", "-c", str(good)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text("# comment\nmax_sessions 10\nmax_sesions 5\n")
    p = subprocess.run([SESGATE, "-t", "-c", str(bad)], capture_output=True, text=True)
    assert p.returncode == 1 and "%s:3:" % bad in p.stderr and "max_sesions" in p.stderr
    bad.write_text("max_sessions 0\n")
    p = subprocess.run([SESGATE, "-t", "-c", str(bad)], capture_output=True, text=True)
    assert p.returncode == 1 and ":1:" in p.stderr
    p = subprocess.run([SESGATE, "-V"], capture_output=True, text=True)
    assert p.returncode == 0 and "sesgate" in p.stdout


def test_sample_config_checks(tmp_path):
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run([SESGATE, "-t", "-c", os.path.join(top, "conf", "sesgate.conf")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_fsync_durability_refused_without_aof(tmp_path):
    from conftest import Redis, Sesgate
    r = Redis(str(tmp_path), appendfsync=None)
    r.start()
    try:
        g = Sesgate(str(tmp_path), r)
        g.start(wait=False)
        rc = g.proc.wait(20)
        assert rc == 1
        assert "appendfsync" in g.read_log()
        g2 = Sesgate(str(tmp_path), r, queue_durability="none")
        g2.start()
        assert g2.ctl("status")[1]["redis"] == "up"
        g2.stop()
    finally:
        r.stop()
