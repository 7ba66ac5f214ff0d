"""Control socket security against a real daemon and Redis: who may connect
(SO_PEERCRED: root, the daemon's user, control_allow_users,
control_allow_groups), and the security-relevant tenant settings managed
through it: IP-authorized networks (sg:nets) and require_tls.

The peer-credential tests run sesgatectl as other users with setpriv, so
they need root; the socket is made world-writable (control_socket_mode 0666)
so that only the credential check stands between those users and the
daemon."""
import grp
import json
import os
import pwd
import socket
import stat
import subprocess

import pytest

from conftest import SESGATE, SESGATECTL, Sesgate

NOBODY = pwd.getpwnam("nobody")
NOGROUP = grp.getgrgid(NOBODY.pw_gid).gr_name  # "nogroup" on Debian
DAEMON = pwd.getpwnam("daemon")  # a second unprivileged account
DAEMON_GROUP = grp.getgrgid(DAEMON.pw_gid).gr_name

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")

DENIED = "permission denied: uid %d is not allowed on the control socket"


@pytest.fixture
def traversable(tmp_path):
    """Let other users reach the sockets under tmp_path: g+x and o+x (group
    root runs as a peer below) on it and every parent directory that lacks
    them (pytest makes them 0700); restored after."""
    changed = []
    d = str(tmp_path)
    while d != "/":
        mode = stat.S_IMODE(os.stat(d).st_mode)
        if mode & (stat.S_IXGRP | stat.S_IXOTH) != stat.S_IXGRP | stat.S_IXOTH:
            os.chmod(d, mode | stat.S_IXGRP | stat.S_IXOTH)
            changed.append((d, mode))
        d = os.path.dirname(d)
    yield
    for d, mode in reversed(changed):
        os.chmod(d, mode)


def run_as(user, group, argv):
    """ARGV as USER:GROUP with no supplementary groups."""
    return subprocess.run(["setpriv", "--reuid=%s" % user, "--regid=%s" % group,
                           "--clear-groups"] + argv,
                          capture_output=True, text=True, timeout=60)


def ctl_as(gw, *args, user="nobody", group=NOGROUP):
    return run_as(user, group, [SESGATECTL, "-s", gw.sock, "--json"] + list(args))


# One request over the raw socket, printing every octet the daemon sends
# until it closes (or 5 s pass): shows both the answer and the close.
RAW_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(sys.argv[2].encode() + b"\n")
except OSError:
    pass  # refused and closed before the request went out
buf = b""
while True:
    try:
        c = s.recv(65536)
    except socket.timeout:
        sys.stdout.write("TIMEOUT ")
        break
    except ConnectionResetError:
        sys.stdout.write("RESET ")  # closed with our request unread: closed all the same
        break
    if not c:
        sys.stdout.write("EOF ")
        break
    buf += c
sys.stdout.write(buf.decode())
"""


def raw_as(gw, request, user="nobody", group=NOGROUP):
    p = run_as(user, group, ["/usr/bin/python3", "-c", RAW_CLIENT, gw.sock,
                             json.dumps(request)])
    assert p.returncode == 0, p.stderr
    return p.stdout


def allowed(p):
    """sesgatectl status succeeded and printed the daemon's status."""
    return p.returncode == 0 and json.loads(p.stdout)["redis"] == "up"


# ---------------------------------------------------------------------------
# peer credentials


@as_root
def test_peer_refused_by_default(make_gateway, traversable):
    gw = make_gateway(control_socket_mode="0666")
    assert stat.S_IMODE(os.stat(gw.sock).st_mode) == 0o666
    p = ctl_as(gw, "status")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert p.stdout == ""
    assert "sesgatectl: " + DENIED % NOBODY.pw_uid in p.stderr
    assert "control_allow_users" in p.stderr  # the hint
    # Without --json the same.
    p = run_as("nobody", NOGROUP, [SESGATECTL, "-s", gw.sock, "tenant", "list"])
    assert p.returncode == 1 and DENIED % NOBODY.pw_uid in p.stderr
    # Root still gets in.
    _, st = gw.ctl("status")
    assert st["redis"] == "up"
    assert "control_denied uid=%d gid=%d pid=" % (NOBODY.pw_uid, NOBODY.pw_gid) in gw.read_log()


@as_root
def test_refused_peer_gets_one_line_and_is_closed(make_gateway, traversable, redis):
    gw = make_gateway(control_socket_mode="0666")
    out = raw_as(gw, {"cmd": "tenant.add", "args": {"name": "sneaky"}})
    # Closed by the daemon, not left open until the client's timeout.
    end, _, data = out.partition(" ")
    assert end in ("EOF", "RESET"), out
    lines = data.split("\n")
    assert lines[1:] == [""], out  # exactly one line
    assert json.loads(lines[0]) == {"ok": False, "error": DENIED % NOBODY.pw_uid,
                                    "code": "denied"}
    # The request was never read: no tenant.
    assert redis.cli("HGET", "sg:tenants", "sneaky") == ""
    _, lst = gw.ctl("tenant", "list")
    assert lst == []


@as_root
# A value with blanks is quoted in sesgate.conf.
@pytest.mark.parametrize("users", ["nobody", str(NOBODY.pw_uid), '"daemon, nobody"',
                                   "daemon,%d" % NOBODY.pw_uid, '"root  nobody"'])
def test_allowed_by_control_allow_users(make_gateway, traversable, users):
    gw = make_gateway(control_socket_mode="0666", control_allow_users=users)
    assert allowed(ctl_as(gw, "status"))
    # Only the users listed: another unprivileged user is still refused.
    if "daemon" not in users:
        p = ctl_as(gw, "status", user="daemon", group=DAEMON_GROUP)
        assert p.returncode == 1 and DENIED % DAEMON.pw_uid in p.stderr


@as_root
def test_allowed_by_control_allow_groups(make_gateway, traversable):
    gw = make_gateway(control_socket_mode="0666", control_allow_groups=NOGROUP)
    # The peer's own (primary) group.
    assert allowed(ctl_as(gw, "status", user="nobody", group=NOGROUP))
    assert allowed(ctl_as(gw, "status", user="daemon", group=NOGROUP))
    # Running with another group, but nobody's account is in nogroup
    # (group database: getpwuid + getgrouplist).
    assert allowed(ctl_as(gw, "status", user="nobody", group=DAEMON_GROUP))
    # Neither the process nor the account is in the group.
    p = ctl_as(gw, "status", user="daemon", group=DAEMON_GROUP)
    assert p.returncode == 1 and DENIED % DAEMON.pw_uid in p.stderr
    # With a list, the daemon's own group (root's) is no longer implied.
    p = ctl_as(gw, "status", user="daemon", group="root")
    assert p.returncode == 1 and DENIED % DAEMON.pw_uid in p.stderr


@as_root
def test_own_group_allowed_by_default(make_gateway, traversable):
    # The daemon runs as root:root here, so group root is its group.
    gw = make_gateway(control_socket_mode="0666")
    assert allowed(ctl_as(gw, "status", user="daemon", group="root"))
    p = ctl_as(gw, "status", user="daemon", group=DAEMON_GROUP)
    assert p.returncode == 1 and DENIED % DAEMON.pw_uid in p.stderr


@pytest.mark.parametrize("option,value,message", [
    ("control_allow_users", "nobody,no-such-user-x1",
     'control_allow_users: no such user "no-such-user-x1"'),
    ("control_allow_groups", "no-such-group-x1",
     'control_allow_groups: no such group "no-such-group-x1"'),
])
def test_unknown_name_stops_the_start(tmp_path, redis, option, value, message):
    sub = os.path.join(str(tmp_path), "bad")
    os.makedirs(sub)
    g = Sesgate(sub, redis, **{option: value})
    g.start(wait=False)
    try:
        rc = g.proc.wait(20)
    finally:
        g.stop()
    assert rc != 0
    log = g.read_log()
    # Refused by the configuration check, with file and line, like `sesgate -t`.
    assert message in log and g.conf + ":" in log, log[-2000:]
    assert not os.path.exists(g.sock)
    p = subprocess.run([SESGATE, "-t", "-c", g.conf], capture_output=True, text=True)
    assert p.returncode == 1 and message in p.stderr


# ---------------------------------------------------------------------------
# IP-authorized networks


def tid_of(redis, name):
    return redis.cli("HGET", "sg:tenants", name)


def nets(redis):
    """sg:nets as a dict."""
    v = redis.cli("HGETALL", "sg:nets").split("\n")
    return dict(zip(v[0::2], v[1::2])) if v != [""] else {}


def members(redis, key):
    return sorted(x for x in redis.cli("SMEMBERS", key).split("\n") if x)


def test_network_add_list_remove(gateway, redis):
    gateway.ctl("tenant", "add", "acme")
    tid = tid_of(redis, "acme")
    _, r = gateway.ctl("tenant", "network", "add", "acme", "10.1.2.3/8")
    assert r == {"tenant": "acme", "network": "10.0.0.0/8", "new": True}
    assert nets(redis) == {"10.0.0.0/8": tid}
    # The same network again, in another spelling: nothing changes, not an error.
    _, r = gateway.ctl("tenant", "network", "add", "acme", "10.0.0.0/8")
    assert r["new"] is False
    gateway.ctl("tenant", "network", "add", "acme", "192.0.2.7")
    gateway.ctl("tenant", "network", "add", "acme", "2001:DB8:0:0::1/48")
    gateway.ctl("tenant", "network", "add", "acme", "9.0.0.0/8")
    assert members(redis, "sg:{%s}:nets" % tid) == sorted(
        ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/48", "9.0.0.0/8"])
    assert set(nets(redis).values()) == {tid}
    _, r = gateway.ctl("tenant", "network", "list", "acme")
    # Address order, IPv4 first, not text order.
    assert r == {"tenant": "acme",
                 "networks": ["9.0.0.0/8", "10.0.0.0/8", "192.0.2.7/32", "2001:db8::/48"]}
    _, t = gateway.ctl("tenant", "show", "acme")
    assert t["networks"] == r["networks"]
    # The table for people.
    p = subprocess.run([SESGATECTL, "-s", gateway.sock, "tenant", "network", "list", "acme"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0
    rows = [line.split() for line in p.stdout.splitlines()]
    assert rows[0] == ["NETWORK", "FAMILY", "ADDRESSES"]
    assert rows[1:] == [["9.0.0.0/8", "IPv4", "16777216"], ["10.0.0.0/8", "IPv4", "16777216"],
                        ["192.0.2.7/32", "IPv4", "1"], ["2001:db8::/48", "IPv6", "2^80"]]
    p = subprocess.run([SESGATECTL, "-s", gateway.sock, "tenant", "show", "acme"],
                       capture_output=True, text=True, timeout=30)
    assert "9.0.0.0/8, 10.0.0.0/8, 192.0.2.7/32, 2001:db8::/48" in p.stdout
    # Removal takes any spelling of the network.
    _, r = gateway.ctl("tenant", "network", "remove", "acme", "10.9.9.9/8")
    assert r == {"tenant": "acme", "removed": "10.0.0.0/8"}
    assert "10.0.0.0/8" not in nets(redis)
    assert "10.0.0.0/8" not in members(redis, "sg:{%s}:nets" % tid)
    rc, out = gateway.ctl("tenant", "network", "remove", "acme", "10.0.0.0/8", check=False)
    assert rc == 1 and "is not a network of tenant acme" in out
    assert gateway.request({"cmd": "tenant.network.remove",
                            "args": {"name": "acme", "network": "10.0.0.0/8"}})["code"] == "not_found"
    log = gateway.read_log()
    assert "tenant_network_added tenant=acme network=10.0.0.0/8" in log
    assert "tenant_network_removed tenant=acme network=10.0.0.0/8" in log
    _, r = gateway.ctl("tenant", "network", "list", "acme")
    assert r["networks"] == ["9.0.0.0/8", "192.0.2.7/32", "2001:db8::/48"]


def test_network_empty_list(gateway):
    gateway.ctl("tenant", "add", "acme")
    _, r = gateway.ctl("tenant", "network", "list", "acme")
    assert r == {"tenant": "acme", "networks": []}
    p = subprocess.run([SESGATECTL, "-s", gateway.sock, "tenant", "network", "list", "acme"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout == "no networks for tenant acme\n"


def test_network_belongs_to_one_tenant(gateway, redis):
    gateway.ctl("tenant", "add", "a")
    gateway.ctl("tenant", "add", "b")
    gateway.ctl("tenant", "network", "add", "a", "10.0.0.0/24")
    rc, out = gateway.ctl("tenant", "network", "add", "b", "10.0.0.5/24", check=False)
    assert rc == 1 and "10.0.0.0/24 belongs to another tenant (a)" in out
    r = gateway.request({"cmd": "tenant.network.add", "args": {"name": "b", "network": "10.0.0.0/24"}})
    assert r["ok"] is False and r["code"] == "conflict"
    assert nets(redis) == {"10.0.0.0/24": tid_of(redis, "a")}
    assert members(redis, "sg:{%s}:nets" % tid_of(redis, "b")) == []
    # b cannot remove a's network either.
    rc, _ = gateway.ctl("tenant", "network", "remove", "b", "10.0.0.0/24", check=False)
    assert rc == 1
    assert nets(redis) == {"10.0.0.0/24": tid_of(redis, "a")}
    # A more specific network inside it may go to b (the most specific wins).
    _, r = gateway.ctl("tenant", "network", "add", "b", "10.0.0.128/25")
    assert r["new"] is True
    assert nets(redis) == {"10.0.0.0/24": tid_of(redis, "a"), "10.0.0.128/25": tid_of(redis, "b")}


@pytest.mark.parametrize("network,minimum", [
    ("0.0.0.0/0", 8), ("10.0.0.0/7", 8), ("::/0", 32), ("2001:db8::/31", 32),
    ("::ffff:0.0.0.0/96", 8),  # IPv4-mapped: the IPv4 rule applies
])
def test_network_too_broad_needs_force(gateway, redis, network, minimum):
    gateway.ctl("tenant", "add", "acme")
    rc, out = gateway.ctl("tenant", "network", "add", "acme", network, check=False)
    assert rc == 1 and "broader than /%d" % minimum in out and "force" in out
    assert nets(redis) == {}
    _, r = gateway.ctl("tenant", "network", "add", "acme", network, "--force")
    assert r["new"] is True
    assert list(nets(redis)) == [r["network"]]
    assert "tenant_network_added tenant=acme network=%s forced=yes" % r["network"] in gateway.read_log()


def test_network_broadest_allowed_without_force(gateway, redis):
    gateway.ctl("tenant", "add", "acme")
    gateway.ctl("tenant", "network", "add", "acme", "10.0.0.0/8")
    gateway.ctl("tenant", "network", "add", "acme", "2001:db8::/32")
    assert sorted(nets(redis)) == ["10.0.0.0/8", "2001:db8::/32"]


@pytest.mark.parametrize("network", ["10.0.0.256", "banana", "10.0.0.0/33", "10.0.0.0/08",
                                     "fe80::1%eth0", " 10.0.0.1", ""])
def test_network_invalid(gateway, redis, network):
    gateway.ctl("tenant", "add", "acme")
    r = gateway.request({"cmd": "tenant.network.add", "args": {"name": "acme", "network": network}})
    assert r["ok"] is False and r["code"] == "invalid" and "invalid network" in r["error"]
    assert nets(redis) == {}


def test_network_errors(gateway):
    r = gateway.request({"cmd": "tenant.network.add", "args": {"name": "ghost", "network": "10.0.0.0/8"}})
    assert r["code"] == "not_found"
    r = gateway.request({"cmd": "tenant.network.list", "args": {"name": "ghost"}})
    assert r["code"] == "not_found"
    gateway.ctl("tenant", "add", "acme")
    r = gateway.request({"cmd": "tenant.network.add", "args": {"name": "acme"}})
    assert r["code"] == "invalid"
    p = subprocess.run([SESGATECTL, "-s", gateway.sock, "tenant", "network", "add", "acme"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "missing CIDR" in p.stderr
    p = subprocess.run([SESGATECTL, "-s", gateway.sock, "tenant", "network", "remove", "acme",
                        "10.0.0.0/8", "--force"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "unknown option '--force'" in p.stderr


def test_delete_removes_networks(gateway, redis):
    gateway.ctl("tenant", "add", "acme")
    gateway.ctl("tenant", "add", "other")
    tid = tid_of(redis, "acme")
    gateway.ctl("tenant", "network", "add", "acme", "10.0.0.0/8")
    gateway.ctl("tenant", "network", "add", "acme", "2001:db8::/48")
    gateway.ctl("tenant", "network", "add", "other", "192.0.2.0/24")
    # An entry that only sg:nets has (written by hand, or half an add) goes too.
    redis.cli("HSET", "sg:nets", "172.16.0.0/12", tid)
    _, d = gateway.ctl("tenant", "delete", "acme")
    assert d["deleted"] == "acme"
    assert nets(redis) == {"192.0.2.0/24": tid_of(redis, "other")}
    assert redis.cli("EXISTS", "sg:{%s}:nets" % tid) == "0"
    # The network is free for another tenant now.
    _, r = gateway.ctl("tenant", "network", "add", "other", "10.0.0.0/8")
    assert r["new"] is True


# ---------------------------------------------------------------------------
# require_tls


def test_require_tls(gateway, redis):
    gateway.ctl("tenant", "add", "acme")
    tid = tid_of(redis, "acme")
    _, t = gateway.ctl("tenant", "show", "acme")
    assert t["require_tls"] == "no"
    _, t = gateway.ctl("tenant", "set", "acme", "require_tls", "yes")
    assert t["require_tls"] == "yes"
    assert redis.cli("HGET", "sg:{%s}:tenant" % tid, "require_tls") == "yes"
    _, t = gateway.ctl("tenant", "show", "acme")
    assert t["require_tls"] == "yes"
    _, lst = gateway.ctl("tenant", "list")
    assert lst[0]["require_tls"] == "yes"
    p = subprocess.run([SESGATECTL, "-s", gateway.sock, "tenant", "show", "acme"],
                       capture_output=True, text=True, timeout=30)
    assert any(line.split() == ["require", "tls:", "yes"] for line in p.stdout.splitlines()), p.stdout
    assert "tenant_require_tls tenant=acme value=yes" in gateway.read_log()
    for bad in ("maybe", "YES", "1", ""):
        rc, out = gateway.ctl("tenant", "set", "acme", "require_tls", bad, check=False)
        assert rc == 1 and "require_tls must be yes or no" in out
    assert redis.cli("HGET", "sg:{%s}:tenant" % tid, "require_tls") == "yes"
    _, t = gateway.ctl("tenant", "set", "acme", "require_tls", "no")
    assert t["require_tls"] == "no"
    assert redis.cli("HGET", "sg:{%s}:tenant" % tid, "require_tls") == "no"


# ---------------------------------------------------------------------------
# input cap


def test_request_too_long_is_answered(gateway):
    """A request over 1 MiB gets its error line before the close (it used to
    be dropped: the connection was freed with the answer unsent)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(gateway.sock)
    try:
        s.sendall(b"x" * (1024 * 1024 + 70000))
    except OSError:
        pass  # the daemon stops reading at the cap
    buf = b""
    try:
        while not buf.endswith(b"\n"):
            c = s.recv(65536)
            if not c:
                break
            buf += c
    except ConnectionResetError:
        pass
    s.close()
    assert json.loads(buf) == {"ok": False, "error": "request too long", "code": "invalid"}
    _, st = gateway.ctl("status")
    assert st["redis"] == "up"


def test_invalid_utf8_request_gets_an_answer(gateway):
    """Found by the control fuzz target: a parse error quoting invalid UTF-8
    made the answer unbuildable, and the client got no line at all."""
    import socket as so
    s = so.socket(so.AF_UNIX)
    s.settimeout(10)
    s.connect(gateway.sock)
    s.sendall(b'{"cmd":"tenant.show","args":{"name":"\\u0\xd8\x9a\xc6\xa3\x8a\x9b"}}\n'
              b'{"cmd":"tenant.show","args":{"name":"\xff\xfe"}}\n')
    buf = b""
    while buf.count(b"\n") < 2:
        chunk = s.recv(65536)
        assert chunk, buf
        buf += chunk
    s.close()
    for line in buf.splitlines():
        ans = json.loads(line)
        assert ans["ok"] is False and ans["code"] == "invalid"
