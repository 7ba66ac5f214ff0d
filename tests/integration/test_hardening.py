"""Hardening: privileges dropped after binding, a world-readable
configuration holding a secret refused, tenant isolation, and a long
session under valgrind without leaks."""
import glob
import os
import re
import signal
import smtplib
import ssl
import subprocess
import time

import pytest

from conftest import (SESGATE, Sesgate, queued_messages, simple_message, wait_for,
                      wait_port)


def proc_ids(pid):
    """{tid: (uids, gids, groups)} of every thread of PID."""
    out = {}
    for st in glob.glob("/proc/%d/task/*/status" % pid):
        f = dict(line.split(":", 1) for line in open(st) if ":" in line)
        out[st] = (f["Uid"].split(), f["Gid"].split(), f["Groups"].split())
    return out


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_privileges_dropped_after_binding(make_gateway, tenant_factory):
    g = make_gateway(user="nobody", group="nogroup")
    ids = proc_ids(g.proc.pid)
    assert len(ids) > 3  # SMTP threads, hash pool, control... all of them
    for uids, gids, groups in ids.values():
        assert uids == ["65534"] * 4, uids
        assert gids == ["65534"] * 4, gids
        assert groups in ([], ["65534"]), groups
    assert "privileges_dropped" in g.read_log()
    # Still fully working: control socket (chowned to nobody), SMTP, Redis.
    assert os.stat(g.sock).st_uid == 65534
    t = tenant_factory(gw=g)
    with smtplib.SMTP("127.0.0.1", g.port, timeout=10) as c:
        c.ehlo("client.test")
        c.login(t.user, t.password)
        c.sendmail("alice@acme.example", ["bob@dest.example"], simple_message())
    assert len(queued_messages(g.redis, t.name)) == 1


def test_bad_user_and_group(tmp_path):
    for text, why in (("user no-such-user-here\n", "no such user"),
                      ("user nobody\ngroup no-such-group\n", "no such group"),
                      ("group nogroup\n", "group needs user")):
        conf = tmp_path / "c.conf"
        conf.write_text(text)
        p = subprocess.run([SESGATE, "-t", "-c", str(conf)], capture_output=True, text=True)
        assert p.returncode == 1 and why in p.stderr, p.stderr


def test_world_readable_config_with_secret_refused(tmp_path):
    conf = tmp_path / "s.conf"
    conf.write_text("redis_password \"s3cret-redis-pass\"\n")
    os.chmod(conf, 0o644)
    p = subprocess.run([SESGATE, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert p.returncode == 1
    assert "redis_password" in p.stderr and "readable by every user" in p.stderr
    assert "s3cret-redis-pass" not in p.stderr
    os.chmod(conf, 0o640)
    p = subprocess.run([SESGATE, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    # Without a secret, a readable file is fine.
    conf.write_text("max_errors 5\n")
    os.chmod(conf, 0o644)
    assert subprocess.run([SESGATE, "-t", "-c", str(conf)], capture_output=True).returncode == 0


def test_tenant_isolation(gateway, tenant_factory):
    a = tenant_factory(name="alpha", domains=("alpha.example",))
    b = tenant_factory(name="beta", domains=("beta.example",))
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as c:
        c.ehlo("client.test")
        c.login(a.user, a.password)
        # A's credential cannot send as B's domain, nor a subdomain of it ...
        for frm in ("x@beta.example", "x@mail.beta.example"):
            code, _ = c.docmd("MAIL", "FROM:<%s>" % frm)
            assert code == 550
        # ... nor hide B in the From: header behind its own envelope.
        c.mail("x@alpha.example")
        c.rcpt("bob@dest.example")
        code, _ = c.data(b"From: boss@beta.example\r\nSubject: x\r\n\r\nhi\r\n")
        assert code == 550
    assert queued_messages(gateway.redis, b.name) == []
    assert queued_messages(gateway.redis, a.name) == []
    # B's credential cannot be used with A's user name, nor A's with B's.
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as c:
        c.ehlo("client.test")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            c.login(a.user, b.password)
    # What a tenant can see goes through the control socket only; SMTP
    # offers nothing to read (VRFY/EXPN reveal nothing).
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as c:
        c.ehlo("client.test")
        c.login(a.user, a.password)
        assert c.docmd("VRFY", b.user)[0] == 252
        assert c.docmd("EXPN", "beta")[0] == 502


def test_suppression_and_stats_are_per_tenant(gateway, tenant_factory):
    a = tenant_factory(name="alpha", domains=("alpha.example",))
    b = tenant_factory(name="beta", domains=("beta.example",))
    gateway.ctl("suppression", "add", b.name, "victim@dest.example")
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=10) as c:
        c.ehlo("client.test")
        c.login(a.user, a.password)
        # B's suppression list does not apply to A (nor leak through it).
        c.sendmail("x@alpha.example", ["victim@dest.example"],
                   simple_message(frm="x@alpha.example", to="victim@dest.example"))
    _, stats_b = gateway.ctl("queue", "stats", b.name)
    assert "victim" not in str(stats_b)
    assert len(queued_messages(gateway.redis, a.name)) == 1
    assert queued_messages(gateway.redis, b.name) == []




@pytest.mark.skipif("ASAN_OPTIONS" in os.environ, reason="valgrind and AddressSanitizer exclude each other")
def test_long_session_under_valgrind(tmp_path, redis, tls_cert, tenant_factory, make_gateway):
    """One long TLS session (AUTH, 150 messages, RSETs, errors), other
    sessions beside it, then a clean stop: valgrind must find no leak and
    no memory error."""
    admin = make_gateway()
    t = tenant_factory(gw=admin)
    sub = tmp_path / "vg"
    sub.mkdir()
    g = Sesgate(str(sub), redis, tls_cert=tls_cert[0], tls_key=tls_cert[1], smtp_threads="1",
                redis_timeout="30s", timeout_idle="2m", log_level="info", max_errors="100")
    vlog = sub / "valgrind.log"
    g.logf = open(g.log, "ab")
    g.proc = subprocess.Popen(
        ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
         "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
         "--log-file=%s" % vlog, SESGATE, "-f", "-c", g.conf],
        stdout=g.logf, stderr=subprocess.STDOUT)
    try:
        assert wait_port(g.port, 120), g.read_log()
        ctx = ssl.create_default_context(cafile=tls_cert[0])
        c = smtplib.SMTP("127.0.0.1", g.port, timeout=60)
        c.ehlo("client.test")
        c.starttls(context=ctx)
        c.ehlo("client.test")
        c.login(t.user, t.password)
        for i in range(150):
            c.sendmail("alice@acme.example", ["bob@dest.example", "carol@dest.example"],
                       simple_message(subject="m%d" % i, body="line\r\n" * (i % 20 + 1)))
            if i % 25 == 0:
                c.rset()
                assert c.docmd("MAIL", "FROM:<x@evil.example>")[0] == 550
                c.rset()
                assert c.docmd("BOGUS")[0] == 500
        # Sessions beside it: a wrong password, one that leaves mid-DATA.
        with smtplib.SMTP("127.0.0.1", g.port, timeout=60) as o:
            o.ehlo("other.test")
            assert o.docmd("AUTH", "PLAIN AHgAeQ==")[0] in (535, 538)
        o = smtplib.SMTP("127.0.0.1", g.port, timeout=60)
        o.ehlo("other.test")
        o.starttls(context=ctx)
        o.ehlo("other.test")
        o.login(t.user, t.password)
        o.mail("alice@acme.example")
        o.rcpt("bob@dest.example")
        o.docmd("DATA")
        o.sock.sendall(b"Subject: half\r\n\r\npartial")
        o.close()
        c.quit()
        assert len(queued_messages(redis, t.name)) == 150
    finally:
        g.proc.send_signal(signal.SIGTERM)
        try:
            rc = g.proc.wait(120)
        except subprocess.TimeoutExpired:
            g.proc.kill()
            rc = g.proc.wait()
        g.logf.close()
    report = vlog.read_text()
    assert rc == 0, report[-6000:]
    assert "ERROR SUMMARY: 0 errors" in report, report[-6000:]
    m = re.search(r"definitely lost: ([\d,]+) bytes", report)
    assert m is None or m.group(1) == "0", report[-6000:]


def test_secrets_never_in_ctl_output_metrics_or_log(make_gateway, tenant_factory, tls_cert):
    """Passwords, AUTH payloads, stored hashes and webhook secrets stay out of
    everything an operator reads: sesgatectl (table and JSON), /metrics and
    the log, after they have all been used."""
    import base64
    import urllib.request
    from conftest import free_port, note_secret
    hport = free_port()
    g = make_gateway(http_listen="127.0.0.1:%d" % hport, tls_cert=tls_cert[0],
                     tls_key=tls_cert[1], auth_allow_plaintext="no")
    t = tenant_factory(gw=g)
    hook_secret = "whsec-" + "q7" * 16
    note_secret(hook_secret)
    g.ctl("tenant", "set", t.name, "webhook_url", "https://hooks.example/x")
    g.ctl("tenant", "set", t.name, "webhook_secret", hook_secret)
    stored = g.redis.cli("HGET", "sg:cred:" + t.user, "hash")
    assert stored.startswith("pbkdf2")
    ctx = ssl.create_default_context(cafile=tls_cert[0])
    with smtplib.SMTP("127.0.0.1", g.port, timeout=10) as c:
        c.ehlo("client.test")
        c.starttls(context=ctx)
        c.ehlo("client.test")
        c.login(t.user, t.password)                       # AUTH PLAIN
        c.sendmail("alice@acme.example", ["bob@dest.example"], simple_message())
    with smtplib.SMTP("127.0.0.1", g.port, timeout=10) as c:
        c.ehlo("client.test")
        c.starttls(context=ctx)
        c.ehlo("client.test")
        c.user, c.password = t.user, t.password
        c.auth("LOGIN", c.auth_login)                     # AUTH LOGIN
        code, _ = c.docmd("AUTH", "PLAIN " + base64.b64encode(
            b"\0" + t.user.encode() + b"\0wrong-" + t.password.encode()).decode())
        assert code == 503                                # already authenticated
    outputs = []
    for args in (["tenant", "show", t.name], ["tenant", "list"], ["cred", "list", t.name],
                 ["status"], ["queue", "stats"]):
        for fmt in (["--json"], []):
            p = subprocess.run([os.path.join(os.path.dirname(SESGATE), "sesgatectl"), "-s",
                                g.sock] + fmt + args, capture_output=True, text=True, timeout=30)
            assert p.returncode == 0, p.stderr
            outputs.append(p.stdout + p.stderr)
    outputs.append(urllib.request.urlopen("http://127.0.0.1:%d/metrics" % hport,
                                          timeout=10).read().decode())
    outputs.append(g.read_log())
    for text in outputs:
        for secret in (t.password, hook_secret, stored, stored.split("$")[-1]):
            assert secret not in text, text[:2000]
