"""PROXY protocol v1 and v2 listeners (HAProxy's spec; AWS NLB sends v2):
trusted and untrusted sources, the real client address in logs and limits,
smtps behind a proxy, bad and missing headers; IP-authorized tenants."""
import smtplib
import socket
import ssl
import struct
import time

import pytest

from conftest import (connect_from, free_port, queued_messages, recv_line, simple_message,
                      wait_for)

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, dst="192.0.2.1", sport=40000, dport=25):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def v2(src, dst="192.0.2.1", sport=40000, dport=25, tlvs=b"", local=False):
    if local:
        return SIG + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    if ":" in src:
        addrs = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
                 + struct.pack("!HH", sport, dport))
        fam = 0x21
    else:
        addrs = (socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport))
        fam = 0x11
    body = addrs + tlvs
    return SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def closed_by_server(s):
    """True when the server closed without a word (a reset counts too)."""
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True


@pytest.fixture
def proxy_gw(make_gateway, tls_cert):
    pport, sport = free_port(), free_port()
    g = make_gateway(proxy_trusted='"127.0.0.2/32, ::1"', proxy_timeout="2s",
                     tls_cert=tls_cert[0], tls_key=tls_cert[1],
                     extra="listen 127.0.0.1:%d proxy\nlisten 127.0.0.1:%d smtps proxy\n"
                     % (pport, sport))
    g.pport, g.sport = pport, sport
    return g


@pytest.mark.parametrize("header", [v1("203.0.113.9"), v2("203.0.113.9"),
                                    v2("203.0.113.9", tlvs=b"\x05\x00\x03abc")])
def test_trusted_proxy_sets_client_address(proxy_gw, tenant_factory, header):
    t = tenant_factory(gw=proxy_gw)
    s = connect_from(proxy_gw.pport, "127.0.0.2")
    # The header and the first command in one packet: nothing after the
    # header may be lost.
    s.sendall(header + b"EHLO lb.client.test\r\n")
    assert recv_line(s).startswith(b"220")
    while not recv_line(s).startswith(b"250 "):
        pass
    s.sendall(b"QUIT\r\n")
    assert recv_line(s).startswith(b"221")
    s.close()
    assert wait_for(lambda: "client=[203.0.113.9]" in proxy_gw.read_log(), 5)


def test_proxy_v2_ipv6_and_local(proxy_gw):
    s = connect_from(proxy_gw.pport, "127.0.0.2")
    s.sendall(v2("2001:db8::7", dst="2001:db8::1"))
    assert recv_line(s).startswith(b"220")
    s.close()
    assert wait_for(lambda: "client=[IPv6:2001:db8::7]" in proxy_gw.read_log(), 5)
    # LOCAL (the balancer's own health check): the socket's address stays.
    s = connect_from(proxy_gw.pport, "127.0.0.2")
    s.sendall(v2("", local=True))
    assert recv_line(s).startswith(b"220")
    s.close()


def test_untrusted_peer_is_dropped(proxy_gw):
    s = connect_from(proxy_gw.pport, "127.0.0.1")   # not in proxy_trusted
    s.sendall(v1("203.0.113.10"))
    assert closed_by_server(s)
    s.close()
    assert wait_for(lambda: "peer not in proxy_trusted" in proxy_gw.read_log(), 5)
    assert "client=[203.0.113.10]" not in proxy_gw.read_log()


@pytest.mark.parametrize("junk", [b"EHLO x\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
                                  b"PROXY TCP4 999.1.1.1 1.1.1.1 1 2\r\n",
                                  SIG + b"\x21\x12\x00\x00"])
def test_bad_header_is_dropped(proxy_gw, junk):
    s = connect_from(proxy_gw.pport, "127.0.0.2")
    s.sendall(junk)
    assert closed_by_server(s)
    s.close()
    assert proxy_gw.proc.poll() is None


def test_missing_header_times_out(proxy_gw):
    s = connect_from(proxy_gw.pport, "127.0.0.2")
    t0 = time.time()
    assert closed_by_server(s)
    assert time.time() - t0 < 6
    s.close()
    assert "timeout" in proxy_gw.read_log()


def test_plain_listener_ignores_proxy(proxy_gw):
    # The ordinary listener of the same gateway takes no PROXY header: the
    # line is an unknown command from 127.0.0.1.
    with smtplib.SMTP("127.0.0.1", proxy_gw.port, timeout=10) as c:
        assert c.docmd("PROXY", "TCP4 203.0.113.11 192.0.2.1 1 2")[0] == 500
    assert "client=[203.0.113.11]" not in proxy_gw.read_log()


def test_smtps_behind_proxy(proxy_gw, tenant_factory, tls_cert):
    t = tenant_factory(gw=proxy_gw)
    raw = connect_from(proxy_gw.sport, "127.0.0.2")
    raw.sendall(v2("198.51.100.4"))
    ctx = ssl.create_default_context(cafile=tls_cert[0])
    s = ctx.wrap_socket(raw, server_hostname="mx.sesgate.test")
    f = s.makefile("rb")
    assert f.readline().startswith(b"220")
    s.sendall(b"QUIT\r\n")
    assert f.readline().startswith(b"221")
    s.close()
    assert wait_for(lambda: "client=[198.51.100.4]" in proxy_gw.read_log(), 5)


def test_limits_use_the_real_address(make_gateway):
    pport = free_port()
    g = make_gateway(proxy_trusted="127.0.0.2", max_sessions_per_ip="1",
                     extra="listen 127.0.0.1:%d proxy\n" % pport)
    a = connect_from(pport, "127.0.0.2")
    a.sendall(v1("203.0.113.20"))
    assert recv_line(a).startswith(b"220")
    b = connect_from(pport, "127.0.0.2")
    b.sendall(v1("203.0.113.21"))     # another client behind the same balancer
    assert recv_line(b).startswith(b"220")
    c = connect_from(pport, "127.0.0.2")
    c.sendall(v1("203.0.113.20"))     # the first client again: over its limit
    assert recv_line(c).startswith(b"421 4.7.0")
    for s in (a, b, c):
        s.close()


# --- IP-authorized tenants ---------------------------------------------------

def test_ip_authorized_tenant(make_gateway, tenant_factory):
    pport = free_port()
    g = make_gateway(proxy_trusted="127.0.0.2", auth_allow_plaintext="no",
                     extra="listen 127.0.0.1:%d proxy\n" % pport)
    t = tenant_factory(gw=g)
    other = tenant_factory(name="other", domains=("other.example",), gw=g)
    g.ctl("tenant", "network", "add", t.name, "127.0.0.9/32")
    g.ctl("tenant", "network", "add", t.name, "203.0.113.0/24")
    g.ctl("tenant", "network", "add", other.name, "203.0.113.128/25")
    time.sleep(1.5)   # every instance reloads the networks within a second
    # From the tenant's network: no AUTH needed.
    with smtplib.SMTP("127.0.0.1", g.port, timeout=10, source_address=("127.0.0.9", 0)) as c:
        c.ehlo("app.client.test")
        c.sendmail("alice@acme.example", ["bob@dest.example"], simple_message())
        # Only its own domains.
        code, _ = c.docmd("MAIL", "FROM:<eve@other.example>")
        assert code == 550
    assert len(queued_messages(g.redis, t.name)) == 1
    # Elsewhere: authentication required, as always.
    with smtplib.SMTP("127.0.0.1", g.port, timeout=10, source_address=("127.0.0.10", 0)) as c:
        c.ehlo("app.client.test")
        assert c.docmd("MAIL", "FROM:<alice@acme.example>")[0] == 530
    # Behind a proxy, the real address decides; the most specific network wins.
    s = connect_from(pport, "127.0.0.2")
    s.sendall(v1("203.0.113.200"))
    f = s.makefile("rb")
    assert f.readline().startswith(b"220")
    s.sendall(b"EHLO app.test\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    s.sendall(b"MAIL FROM:<x@other.example>\r\n")
    assert f.readline().startswith(b"250")
    s.sendall(b"RCPT TO:<bob@dest.example>\r\nDATA\r\n")
    assert f.readline().startswith(b"250")
    assert f.readline().startswith(b"354")
    s.sendall(b"From: x@other.example\r\nSubject: t\r\n\r\nhi\r\n.\r\nQUIT\r\n")
    assert f.readline().startswith(b"250 2.0.0")
    s.close()
    assert len(queued_messages(g.redis, other.name)) == 1
    # Removing the network stops it within a second.
    g.ctl("tenant", "network", "remove", t.name, "127.0.0.9/32")
    time.sleep(1.5)
    with smtplib.SMTP("127.0.0.1", g.port, timeout=10, source_address=("127.0.0.9", 0)) as c:
        c.ehlo("app.client.test")
        assert c.docmd("MAIL", "FROM:<alice@acme.example>")[0] == 530
    assert "ip_auth" in g.read_log()
