"""Abuse limits: sessions and connection rate per client address, sessions
per tenant, AUTH failure lockout shared by instances through Redis (and its
expiry), no user enumeration, slow clients (slowloris)."""
import base64
import smtplib
import socket
import time

import pytest

from conftest import connect_from, queued_messages, recv_line, simple_message, wait_for


def greeting(s):
    return recv_line(s)


def test_sessions_per_ip(make_gateway):
    g = make_gateway(max_sessions_per_ip="3")
    held = [connect_from(g.port, "127.0.0.2") for _ in range(3)]
    for s in held:
        assert greeting(s).startswith(b"220")
    s = connect_from(g.port, "127.0.0.2")
    r = greeting(s)
    assert r.startswith(b"421 4.7.0") and b"Too many connections" in r, r
    s.close()
    # Another address is not affected.
    other = connect_from(g.port, "127.0.0.3")
    assert greeting(other).startswith(b"220")
    other.close()
    # A slot frees when a session ends.
    held.pop().close()
    def again():
        s = connect_from(g.port, "127.0.0.2")
        ok = greeting(s).startswith(b"220")
        s.close()
        return ok
    assert wait_for(again, 5)
    for s in held:
        s.close()
    assert "client_limit" in g.read_log()


def test_connection_rate_per_ip(make_gateway):
    g = make_gateway(max_connect_rate="5")
    replies = []
    for _ in range(8):
        s = connect_from(g.port, "127.0.0.4")
        replies.append(greeting(s))
        s.close()
    assert sum(r.startswith(b"220") for r in replies) == 5, replies
    assert all(b"rate limit" in r for r in replies[5:])
    s = connect_from(g.port, "127.0.0.5")
    assert greeting(s).startswith(b"220")
    s.close()
    # The bucket refills at 5 per minute: one more after 12 s.
    time.sleep(12.5)
    s = connect_from(g.port, "127.0.0.4")
    assert greeting(s).startswith(b"220")
    s.close()


def test_sessions_per_tenant(make_gateway, tenant_factory):
    g = make_gateway(max_sessions_per_tenant="2")
    t = tenant_factory(gw=g)
    held = []
    for _ in range(2):
        c = smtplib.SMTP("127.0.0.1", g.port, timeout=10)
        c.ehlo("client.test")
        c.login(t.user, t.password)
        held.append(c)
    c = smtplib.SMTP("127.0.0.1", g.port, timeout=10)
    c.ehlo("client.test")
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        c.login(t.user, t.password)
    assert e.value.smtp_code == 454
    held.pop().quit()
    time.sleep(0.2)
    c.login(t.user, t.password)   # a slot is free again
    c.sendmail("alice@acme.example", ["bob@dest.example"], simple_message())
    c.quit()
    for h in held:
        h.quit()


def auth_plain(c, user, pw):
    tok = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
    return c.docmd("AUTH", "PLAIN " + tok)


def test_lockout_by_user_across_instances_and_expiry(make_gateway, tenant_factory):
    opts = dict(auth_fail_user_limit="3", auth_fail_ip_limit="100", auth_lockout="3s",
                auth_fail_delay="0")
    g1 = make_gateway(**opts)
    g2 = make_gateway(**opts)
    t = tenant_factory(gw=g1)
    with smtplib.SMTP("127.0.0.1", g1.port, timeout=10) as c:
        c.ehlo("client.test")
        for _ in range(3):
            code, _ = auth_plain(c, t.user, "wrong-password")
            assert code == 535
    # Locked on the other instance too, and the right password does not help.
    with smtplib.SMTP("127.0.0.1", g2.port, timeout=10) as c:
        c.ehlo("client.test")
        code, msg = auth_plain(c, t.user, t.password)
        assert code == 454 and b"4.7.0" in msg
    assert "auth_locked" in g2.read_log()
    # After auth_lockout, the user gets in again.
    time.sleep(3.5)
    with smtplib.SMTP("127.0.0.1", g2.port, timeout=10) as c:
        c.ehlo("client.test")
        assert auth_plain(c, t.user, t.password)[0] == 235


def test_lockout_by_address_and_no_user_enumeration(make_gateway, tenant_factory):
    g = make_gateway(auth_fail_ip_limit="4", auth_fail_user_limit="100", auth_lockout="60s",
                     auth_fail_delay="0", max_errors="100")
    t = tenant_factory(gw=g)
    replies = []
    with smtplib.SMTP("127.0.0.1", g.port, timeout=10, source_address=("127.0.0.6", 0)) as c:
        c.ehlo("client.test")
        # Known user with a wrong password and an unknown user: same reply.
        replies.append(auth_plain(c, t.user, "wrong"))
        replies.append(auth_plain(c, "nobody-here", "wrong"))
        replies.append(auth_plain(c, t.user, "wrong"))
        replies.append(auth_plain(c, "nobody-here", "wrong"))
        assert replies[0] == replies[1] == replies[2] == replies[3]
        assert replies[0][0] == 535
        # Locked now: the same for a real user with the right password and
        # for a user that does not exist.
        a = auth_plain(c, t.user, t.password)
        b = auth_plain(c, "nobody-here", "whatever")
        assert a == b and a[0] == 454
    # Another address is not locked.
    with smtplib.SMTP("127.0.0.1", g.port, timeout=10, source_address=("127.0.0.7", 0)) as c:
        c.ehlo("client.test")
        assert auth_plain(c, t.user, t.password)[0] == 235
    assert g.redis.cli("TTL", "sg:authfail:ip:127.0.0.6") not in ("", "-1", "-2")


def test_failures_slow_down(make_gateway, tenant_factory):
    g = make_gateway(auth_fail_delay="400ms", auth_fail_user_limit="100", max_errors="100")
    t = tenant_factory(gw=g)
    with smtplib.SMTP("127.0.0.1", g.port, timeout=30) as c:
        c.ehlo("client.test")
        times = []
        for _ in range(4):
            t0 = time.time()
            assert auth_plain(c, t.user, "wrong")[0] == 535
            times.append(time.time() - t0)
    # The n-th failure waits (n-1) * 400 ms.
    assert times[3] >= 1.1 and times[3] > times[0] + 0.8, times


def test_slowloris_command_line(make_gateway):
    g = make_gateway(timeout_idle="2s")
    s = connect_from(g.port, "127.0.0.8")
    assert greeting(s).startswith(b"220")
    t0 = time.time()
    got = b""
    try:
        for ch in b"EHLO slow.client.test":   # one octet every 0.5 s, never a CRLF
            s.sendall(bytes([ch]))
            time.sleep(0.5)
            s.setblocking(False)
            try:
                got += s.recv(4096)
            except BlockingIOError:
                pass
            s.setblocking(True)
            if got:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    s.settimeout(5)
    try:
        got += s.recv(4096)
    except OSError:
        pass
    assert b"421 4.4.2" in got, got
    assert time.time() - t0 < 6
    s.close()
    assert "too_slow" in g.read_log()


def test_slow_data(make_gateway, tenant_factory):
    g = make_gateway(timeout_data="2s", min_data_rate="100")
    t = tenant_factory(gw=g)
    c = smtplib.SMTP("127.0.0.1", g.port, timeout=10)
    c.ehlo("client.test")
    c.login(t.user, t.password)
    c.mail("alice@acme.example")
    c.rcpt("bob@dest.example")
    code, _ = c.docmd("DATA")
    assert code == 354
    sock = c.sock
    got = b""
    t0 = time.time()
    sock.settimeout(0.3)
    while time.time() - t0 < 8 and b"421" not in got:
        try:
            sock.sendall(b"x")
        except OSError:
            break
        try:
            got += sock.recv(4096)
        except socket.timeout:
            pass
        except OSError:
            break
    assert b"421 4.4.2" in got, got
    c.close()
    assert queued_messages(g.redis, t.name) == []
