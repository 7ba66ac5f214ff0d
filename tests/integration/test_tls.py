"""TLS on the SMTP listeners: STARTTLS (RFC 3207) and implicit TLS (RFC 8314),
driven with smtplib, swaks and raw sockets; the AUTH-over-TLS policy; the
STARTTLS command-injection class (CVE-2011-0411); certificate reload on
SIGHUP without dropping sessions; per-tenant require_tls."""
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import free_port, queued_messages, simple_message, wait_for


def client_ctx(cert=None):
    ctx = ssl.create_default_context(cafile=cert) if cert else ssl.create_default_context()
    if not cert:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture
def tls_gw(make_gateway, tls_cert):
    cert, key = tls_cert
    port465 = free_port()
    g = make_gateway(tls_cert=cert, tls_key=key, auth_allow_plaintext="no",
                     extra="listen 127.0.0.1:%d smtps\n" % port465)
    g.port465 = port465
    return g


def make_tls_gw(make_gateway, tls_cert, **opts):
    cert, key = tls_cert
    g = make_gateway(tls_cert=cert, tls_key=key, auth_allow_plaintext="no", **opts)
    return g


def test_starttls_then_auth_and_send(make_gateway, tls_cert, tenant_factory):
    g = make_tls_gw(make_gateway, tls_cert)
    t = tenant_factory(gw=g)
    with smtplib.SMTP("127.0.0.1", g.port, timeout=10) as c:
        c.ehlo("client.test")
        assert c.has_extn("starttls")
        assert not c.has_extn("auth"), "AUTH offered in the clear"
        code, _ = c.starttls(context=client_ctx(tls_cert[0]))
        assert code == 220
        c.ehlo("client.test")
        assert not c.has_extn("starttls"), "STARTTLS offered twice"
        assert c.has_extn("auth")
        c.login(t.user, t.password)
        c.sendmail("alice@acme.example", ["bob@dest.example"], simple_message())
    assert len(queued_messages(g.redis, t.name)) == 1
    log = g.read_log()
    assert " tls sid=" in log and "version=TLSv1.3" in log


def test_auth_refused_without_tls(make_gateway, tls_cert, tenant_factory):
    g = make_tls_gw(make_gateway, tls_cert)
    t = tenant_factory(gw=g)
    with smtplib.SMTP("127.0.0.1", g.port, timeout=10) as c:
        c.ehlo("client.test")
        code, msg = c.docmd("AUTH", "PLAIN")
        assert code == 538 and b"5.7.11" in msg
        code, _ = c.docmd("MAIL", "FROM:<alice@acme.example>")
        assert code == 530
    assert queued_messages(g.redis, t.name) == []


def test_smtps_implicit_tls(tls_gw, tls_cert, tenant_factory):
    t = tenant_factory(gw=tls_gw)
    with smtplib.SMTP_SSL("127.0.0.1", tls_gw.port465, timeout=10,
                          context=client_ctx(tls_cert[0])) as c:
        c.ehlo("client.test")
        assert not c.has_extn("starttls")
        assert c.has_extn("auth")
        c.login(t.user, t.password)
        c.sendmail("alice@acme.example", ["bob@dest.example"], simple_message())
    assert len(queued_messages(tls_gw.redis, t.name)) == 1


def test_swaks_starttls_and_smtps(tls_gw, tls_cert, tenant_factory):
    t = tenant_factory(gw=tls_gw)
    for port, mode in ((tls_gw.port, "-tls"), (tls_gw.port465, "-tlsc")):
        p = subprocess.run(
            ["swaks", "-s", "127.0.0.1", "-p", str(port), mode, "-f", "alice@acme.example",
             "-t", "bob@dest.example", "-au", t.user, "-ap", t.password, "-a", "PLAIN",
             "--tls-verify", "--tls-ca-path", tls_cert[0], "--tls-sni", "mx.sesgate.test",
             "--helo", "client.test", "--timeout", "20"],
            capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "250 2.0.0 Ok: queued as" in p.stdout
        assert "TLS started" in p.stdout
    assert len(queued_messages(tls_gw.redis, t.name)) == 2


def read_reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            break
        lines.append(line)
        if line[3:4] != b"-":
            break
    return b"".join(lines)


def test_plaintext_pipelined_after_starttls_is_discarded(make_gateway, tls_cert, tenant_factory):
    """CVE-2011-0411: commands sent in the same packet as STARTTLS must not be
    run after the handshake as if they had been sent over TLS."""
    g = make_tls_gw(make_gateway, tls_cert)
    t = tenant_factory(gw=g)
    s = socket.create_connection(("127.0.0.1", g.port), timeout=10)
    f = s.makefile("rb")
    assert read_reply(f).startswith(b"220")
    s.sendall(b"EHLO client.test\r\n")
    assert b"STARTTLS" in read_reply(f)
    s.sendall(b"STARTTLS\r\nRSET\r\nMAIL FROM:<alice@acme.example>\r\n")
    assert read_reply(f).startswith(b"220 2.0.0")
    ts = client_ctx(tls_cert[0]).wrap_socket(s, server_hostname="mx.sesgate.test")
    tf = ts.makefile("rb")
    # If the injected RSET/MAIL were executed, their replies would come first.
    ts.sendall(b"NOOP\r\n")
    r = read_reply(tf)
    assert r.startswith(b"250 2.0.0 Ok"), r
    # EHLO state was reset by the handshake (RFC 3207 4.2).
    ts.sendall(b"MAIL FROM:<alice@acme.example>\r\n")
    assert read_reply(tf).startswith(b"503"), "session state survived STARTTLS"
    ts.sendall(b"QUIT\r\n")
    read_reply(tf)
    ts.close()
    assert "starttls_pipelined" in g.read_log()
    assert queued_messages(g.redis, t.name) == []


def test_starttls_errors(make_gateway, tls_cert):
    g = make_tls_gw(make_gateway, tls_cert)
    with smtplib.SMTP("127.0.0.1", g.port, timeout=10) as c:
        assert c.docmd("STARTTLS")[0] == 503          # before EHLO
        c.ehlo("client.test")
        assert c.docmd("STARTTLS", "now")[0] == 501   # no argument allowed
    # No certificate: STARTTLS not offered, command not implemented.
    plain = make_gateway()
    with smtplib.SMTP("127.0.0.1", plain.port, timeout=10) as c:
        c.ehlo("client.test")
        assert not c.has_extn("starttls")
        assert c.docmd("STARTTLS")[0] == 502


def test_tls_versions_and_ciphers(make_gateway, tls_cert):
    g = make_tls_gw(make_gateway, tls_cert, tls_min_protocol="TLSv1.3")
    for maxv, ok in ((ssl.TLSVersion.TLSv1_2, False), (ssl.TLSVersion.TLSv1_3, True)):
        ctx = client_ctx(tls_cert[0])
        ctx.maximum_version = maxv
        c = smtplib.SMTP("127.0.0.1", g.port, timeout=10)
        c.ehlo("client.test")
        if ok:
            c.starttls(context=ctx)
            assert c.sock.version() == "TLSv1.3"
            c.quit()
        else:
            with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
                c.starttls(context=ctx)
                c.ehlo("client.test")
            c.close()
    assert "tls_failed" in g.read_log()
    # TLS 1.2 is accepted by default, but only with forward-secret AEAD ciphers.
    g2 = make_tls_gw(make_gateway, tls_cert)
    ctx = client_ctx(tls_cert[0])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with smtplib.SMTP("127.0.0.1", g2.port, timeout=10) as c:
        c.ehlo("client.test")
        c.starttls(context=ctx)
        assert c.sock.version() == "TLSv1.2"
        assert "ECDHE" in c.sock.cipher()[0] and ("GCM" in c.sock.cipher()[0]
                                                  or "CHACHA" in c.sock.cipher()[0])
    ctx = client_ctx(tls_cert[0])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("AES128-SHA")   # static RSA, CBC: refused
    with smtplib.SMTP("127.0.0.1", g2.port, timeout=10) as c:
        c.ehlo("client.test")
        with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
            c.starttls(context=ctx)


def test_handshake_timeout(make_gateway, tls_cert):
    port465 = free_port()
    g = make_tls_gw(make_gateway, tls_cert, tls_handshake_timeout="1s",
                    extra="listen 127.0.0.1:%d smtps\n" % port465)
    s = socket.create_connection(("127.0.0.1", port465), timeout=10)
    s.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
    t0 = time.time()
    assert s.recv(100) == b""   # closed by the server
    assert time.time() - t0 < 8
    s.close()
    assert wait_for(lambda: "tls_failed" in g.read_log() and "timeout" in g.read_log(), 5)


def gen_cert(d, cn):
    cert, key = os.path.join(d, cn + ".pem"), os.path.join(d, cn + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30", "-subj", "/CN=" + cn,
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def peer_cn(sock):
    der = sock.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem, text=True,
                         capture_output=True).stdout
    return out.strip()


def test_certificate_reload_on_sighup_keeps_sessions(make_gateway, tmp_path, tenant_factory):
    d = str(tmp_path)
    a = gen_cert(d, "first.test")
    b = gen_cert(d, "second.test")
    live_cert, live_key = os.path.join(d, "live.pem"), os.path.join(d, "live.key")
    shutil.copy(a[0], live_cert)
    shutil.copy(a[1], live_key)
    os.chmod(live_key, 0o600)
    g = make_gateway(tls_cert=live_cert, tls_key=live_key)
    t = tenant_factory(gw=g)
    old = smtplib.SMTP("127.0.0.1", g.port, timeout=10)
    old.ehlo("client.test")
    old.starttls(context=client_ctx())
    assert "first.test" in peer_cn(old.sock)
    old.ehlo("client.test")
    shutil.copy(b[0], live_cert)
    shutil.copy(b[1], live_key)
    g.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "tls_reloaded" in g.read_log(), 5)
    new = smtplib.SMTP("127.0.0.1", g.port, timeout=10)
    new.ehlo("client.test")
    new.starttls(context=client_ctx())
    assert "second.test" in peer_cn(new.sock)
    new.quit()
    # The session from before the reload goes on over its TLS connection.
    old.login(t.user, t.password)
    old.sendmail("alice@acme.example", ["bob@dest.example"], simple_message())
    old.quit()
    # A broken certificate on reload: the previous one stays.
    with open(live_cert, "w") as f:
        f.write("garbage\n")
    g.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "tls_reload_failed" in g.read_log(), 5)
    again = smtplib.SMTP("127.0.0.1", g.port, timeout=10)
    again.ehlo("client.test")
    again.starttls(context=client_ctx())
    assert "second.test" in peer_cn(again.sock)
    again.quit()
    assert g.proc.poll() is None


def test_tenant_require_tls(make_gateway, tls_cert, tenant_factory):
    cert, key = tls_cert
    g = make_gateway(tls_cert=cert, tls_key=key, auth_allow_plaintext="yes")
    t = tenant_factory(gw=g)
    g.ctl("tenant", "set", t.name, "require_tls", "yes")
    with smtplib.SMTP("127.0.0.1", g.port, timeout=10) as c:
        c.ehlo("client.test")
        c.login(t.user, t.password)
        code, msg = c.docmd("MAIL", "FROM:<alice@acme.example>")
        assert code == 530 and b"STARTTLS" in msg
    with smtplib.SMTP("127.0.0.1", g.port, timeout=10) as c:
        c.ehlo("client.test")
        c.starttls(context=client_ctx(cert))
        c.ehlo("client.test")
        c.login(t.user, t.password)
        c.sendmail("alice@acme.example", ["bob@dest.example"], simple_message())
    assert len(queued_messages(g.redis, t.name)) == 1


def test_bad_tls_configuration_fails_at_start(tmp_path, tls_cert, redis):
    from conftest import SESGATE
    cert, key = tls_cert
    cases = [
        ("tls_cert %s\n" % cert, "tls_cert and tls_key go together"),
        ("listen 127.0.0.1:%d smtps\n" % free_port(), "smtps needs tls_cert"),
        ("tls_ciphers NOPE-NOTHING\n", "names no cipher"),
        ("tls_min_protocol TLSv1.0\n", "tls_min_protocol"),
    ]
    for i, (text, why) in enumerate(cases):
        conf = tmp_path / ("bad%d.conf" % i)
        conf.write_text(text)
        p = subprocess.run([SESGATE, "-t", "-c", str(conf)], capture_output=True, text=True)
        assert p.returncode == 1 and why in p.stderr and "%s:1:" % conf in p.stderr, p.stderr
    # A key file every user can read is refused at start.
    open_key = tmp_path / "open.key"
    shutil.copy(key, open_key)
    os.chmod(open_key, 0o644)
    conf = tmp_path / "openkey.conf"
    conf.write_text("tls_cert %s\ntls_key %s\n" % (cert, open_key))
    p = subprocess.run([SESGATE, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert p.returncode == 1 and "readable by every user" in p.stderr, p.stderr


def test_auth_before_starttls_is_forgotten(make_gateway, tls_cert, tenant_factory):
    """RFC 3207 4.2: what was learned before the handshake (EHLO, and here an
    AUTH allowed in the clear) does not carry over into the TLS session."""
    cert, key = tls_cert
    g = make_gateway(tls_cert=cert, tls_key=key, auth_allow_plaintext="yes")
    t = tenant_factory(gw=g)
    with smtplib.SMTP("127.0.0.1", g.port, timeout=10) as c:
        c.ehlo("client.test")
        c.login(t.user, t.password)
        c.starttls(context=client_ctx(cert))
        c.ehlo("client.test")
        assert c.docmd("MAIL", "FROM:<alice@acme.example>")[0] == 530
        c.login(t.user, t.password)
        c.sendmail("alice@acme.example", ["bob@dest.example"], simple_message())
    assert len(queued_messages(g.redis, t.name)) == 1
