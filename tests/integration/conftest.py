"""Fixtures that start real processes: redis-server on a free port and the
real sesgate binary from the build directory ($SESGATE_BUILD, default
build/).  Every process a test starts is stopped by PID at teardown, and
sesgate's log is checked for sanitizer reports."""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("SESGATE_BUILD", os.path.join(TOP, "build"))
SESGATE = os.path.join(BUILD, "sesgate")
SESGATECTL = os.path.join(BUILD, "sesgatectl")
sys.path.insert(0, os.path.join(TOP, "tests"))
from awsdouble.client import AwsDouble  # noqa: E402

# The gateway's own (static) AWS key in the test double.
GATEWAY_KEY = "AKIAGATEWAYTEST00001"
GATEWAY_SECRET = "gatewaySecretForTheTestDoubleOnly0000001"


# Every secret a test hands to sesgate (passwords, AUTH payloads, AWS keys
# and session tokens).  Each gateway's whole log is searched for all of
# them when the gateway stops: a secret in a log fails the test that
# caused it.
SECRETS = {GATEWAY_SECRET}
_AWS = []


def note_secret(*values):
    for v in values:
        if v and len(v) >= 8:
            SECRETS.add(v)


def note_login(user, password):
    """A password and the AUTH PLAIN / LOGIN payloads that carry it."""
    note_secret(password,
                base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode(),
                base64.b64encode(password.encode()).decode())


def known_secrets():
    out = set(SECRETS)
    for d in _AWS:
        try:
            for rec in d.credentials().values():
                note_secret(rec.get("secret"), rec.get("token"))
                out.update(v for v in (rec.get("secret"), rec.get("token")) if v)
        except Exception:
            pass
    return out


def assert_no_secrets(text, where):
    for sec in known_secrets():
        assert sec not in text, "a secret (%s...) is in %s" % (sec[:4], where)


_HANDED_OUT = set()


def free_port():
    """A free loopback port, never one handed out before in this run: two
    calls before anything binds would otherwise get the same port."""
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def connect_from(port, src="127.0.0.1"):
    """A TCP connection to 127.0.0.1:PORT from loopback address SRC (the
    whole 127/8 is ours: a way to be several clients)."""
    s = socket.socket()
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def recv_line(s):
    """One CRLF-terminated line, read octet by octet (b"" at EOF)."""
    buf = b""
    while not buf.endswith(b"\r\n"):
        c = s.recv(1)
        if not c:
            break
        buf += c
    return buf


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Redis:
    def __init__(self, tmp, appendfsync="always"):
        self.dir = os.path.join(tmp, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.appendfsync = appendfsync
        self.proc = None

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--daemonize", "no"]
        if self.appendfsync:
            args += ["--appendonly", "yes", "--appendfsync", self.appendfsync]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_port(self.port), "redis-server did not start"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cli(self, *args):
        out = subprocess.run(["redis-cli", "-p", str(self.port), "--raw"] + list(args),
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip()


class Sesgate:
    def __init__(self, tmp, redis, env=None, **overrides):
        self.tmp = tmp
        self.redis = redis
        self.port = free_port()
        self.sock = os.path.join(tmp, "control.sock")
        self.log = os.path.join(tmp, "sesgate.log")
        self.conf = os.path.join(tmp, "sesgate.conf")
        opts = {
            "listen": "127.0.0.1:%d" % self.port,
            "hostname": "mx.sesgate.test",
            "smtp_threads": "2",
            "redis_host": "127.0.0.1",
            "redis_port": str(redis.port),
            "redis_timeout": "10s",
            "control_socket": self.sock,
            "auth_allow_plaintext": "yes",
            "password_hash_iterations": "20000",
            "log_level": "debug",
            # Delivery is off unless a test asks for it (delivery fixture):
            # most tests look at what was queued.
            "workers": "0",
        }
        self.env = env
        extra = overrides.pop("extra", "")
        opts.update({k: str(v) for k, v in overrides.items()})
        with open(self.conf, "w") as f:
            for k, v in opts.items():
                f.write("%s %s\n" % (k, v))
            # Raw lines: a second listen, say.
            f.write(extra)
        self.proc = None

    def start(self, wait=True):
        self.logf = open(self.log, "ab")
        env = None
        if self.env is not None:
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            env.update(self.env)
        self.proc = subprocess.Popen([SESGATE, "-f", "-c", self.conf], stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=env)
        if wait:
            assert wait_port(self.port), "sesgate did not start: " + self.read_log()
            end = time.time() + 10
            while not os.path.exists(self.sock) and time.time() < end:
                time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM):
        rc = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                rc = self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        elif self.proc:
            rc = self.proc.returncode
        self.proc = None
        if hasattr(self, "logf"):
            self.logf.close()
        return rc

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def ctl(self, *args, check=True):
        """Run sesgatectl --json; returns (exit code, parsed JSON or text)."""
        p = subprocess.run([SESGATECTL, "-s", self.sock, "--json"] + list(args),
                           capture_output=True, text=True, timeout=60)
        if check:
            assert p.returncode == 0, "sesgatectl %s: %s %s" % (args, p.stdout, p.stderr)
        try:
            return p.returncode, json.loads(p.stdout)
        except ValueError:
            return p.returncode, p.stdout + p.stderr

    def request(self, obj):
        """One raw control-protocol request over the socket."""
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.sock)
        s.sendall((json.dumps(obj) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        s.close()
        return json.loads(buf)


@pytest.fixture
def redis(tmp_path):
    r = Redis(str(tmp_path))
    r.start()
    yield r
    r.stop()


@pytest.fixture
def make_gateway(tmp_path, redis):
    started = []

    def make(env=None, **overrides):
        sub = os.path.join(str(tmp_path), "gw%d" % len(started))
        os.makedirs(sub)
        g = Sesgate(sub, redis, env=env, **overrides)
        g.start()
        started.append(g)
        return g

    yield make
    for g in started:
        g.stop()
        log = g.read_log()
        assert "AddressSanitizer" not in log, log[-4000:]
        assert "LeakSanitizer" not in log, log[-4000:]
        assert "runtime error:" not in log, log[-4000:]
        assert_no_secrets(log, g.log)


@pytest.fixture
def gateway(make_gateway):
    return make_gateway()


class Tenant:
    def __init__(self, name, domains, user, password):
        self.name = name
        self.domains = domains
        self.user = user
        self.password = password


@pytest.fixture
def tenant_factory(gateway):
    def make(name="acme", domains=("acme.example",), gw=None):
        g = gw or gateway
        args = ["tenant", "add", name]
        for d in domains:
            args += ["--domain", d]
        g.ctl(*args)
        _, cred = g.ctl("cred", "add", name)
        note_login(cred["username"], cred["password"])
        return Tenant(name, list(domains), cred["username"], cred["password"])
    return make


@pytest.fixture
def tenant(tenant_factory):
    return tenant_factory()


def simple_message(frm="alice@acme.example", to="bob@dest.example", subject="hi", body="hello\r\n"):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <m1@acme.example>\r\n"
            "Date: Sun, 29 Nov 2026 03:00:00 +0000\r\n\r\n%s" % (frm, to, subject, body))


def queued_messages(redis, tenant_name):
    """All stored messages of a tenant as dicts (fields of the message hash)."""
    tid = redis.cli("HGET", "sg:tenants", tenant_name)
    qids = [q for q in redis.cli("ZRANGE", "sg:{%s}:all" % tid, "0", "-1").split("\n") if q]
    out = []
    for q in qids:
        env = redis.cli("HGET", "sg:{%s}:msg:%s" % (tid, q), "env")
        if not env:
            # Removed between the listing and this read (a cancelled orphan,
            # or a delivered message): not stored any more.
            continue
        out.append({
            "qid": q,
            "env": json.loads(env),
            "data": raw_field(redis, "sg:{%s}:msg:%s" % (tid, q), "data"),
        })
    return out


def resp(port, *args):
    """Minimal RESP client (binary-safe), for reading stored message bytes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    req = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        req += b"$%d\r\n%s\r\n" % (len(a), a)
    s.sendall(req)
    f = s.makefile("rb")

    def read():
        line = f.readline()
        t, rest = line[:1], line[1:-2]
        if t in (b"+", b"-"):
            return rest
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [read() for _ in range(n)]
        raise ValueError(line)
    try:
        return read()
    finally:
        f.close()
        s.close()


def raw_field(redis, key, field):
    return resp(redis.port, "HGET", key, field)


@pytest.fixture(scope="session")
def aws_session():
    d = AwsDouble()
    d.start()
    _AWS.append(d)
    yield d
    _AWS.remove(d)
    d.stop()


@pytest.fixture
def aws(aws_session):
    """The AWS test double, reset, with the gateway's static key."""
    aws_session.reset(config=True)
    aws_session.add_static_key(GATEWAY_KEY, GATEWAY_SECRET)
    return aws_session


def aws_env(aws, **extra):
    """Environment pointing sesgate's AWS client at the double (and nowhere else)."""
    env = {
        "AWS_ACCESS_KEY_ID": GATEWAY_KEY,
        "AWS_SECRET_ACCESS_KEY": GATEWAY_SECRET,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": aws.endpoint,
        "AWS_CA_BUNDLE": aws.ca,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    }
    env.update(extra)
    return env


# Fast retries so delivery tests finish in seconds.
DELIVERY_OPTS = {
    "workers": "2",
    "worker_inflight": "32",
    "retry_min_backoff": "1s",
    "retry_max_backoff": "2s",
    "throttle_backoff": "200ms",
    "ses_timeout": "5s",
    "visibility_timeout": "10s",
    "account_refresh": "5s",
    "default_send_rate": "1000",
}


@pytest.fixture
def delivery(make_gateway, aws):
    """make(**overrides) -> a gateway delivering to the AWS double."""
    def make(env_extra=None, **overrides):
        opts = dict(DELIVERY_OPTS)
        opts.update(overrides)
        return make_gateway(env=aws_env(aws, **(env_extra or {})), **opts)
    return make


def provision(gw, aws, tenant, account, external_id=None, **account_settings):
    """Give TENANT a sending role in ACCOUNT of the double (what provisioning
    will do), with SES limits ACCOUNT_SETTINGS."""
    role = "arn:aws:iam::%s:role/sesgate-sender-%s" % (account, tenant.name)
    aws.add_role(role, external_id=external_id, account=account)
    settings = {"MaxSendRate": 1000, "Max24HourSend": 1000000}
    settings.update(account_settings)
    aws.set_account(account, **settings)
    gw.ctl("tenant", "set", tenant.name, "role_arn", role)
    if external_id:
        gw.ctl("tenant", "set", tenant.name, "external_id", external_id)
    return role


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory):
    """A self-signed certificate for mx.sesgate.test: (cert, key) paths,
    the key readable by its owner only (sesgate refuses anything else)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
                    "-subj", "/CN=mx.sesgate.test", "-addext",
                    "subjectAltName=DNS:mx.sesgate.test,IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def wait_for(pred, timeout=20.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()
