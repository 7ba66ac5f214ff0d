"""sesgate's HTTP listener: /healthz, /readyz and Prometheus /metrics (parsed
here with a strict reader of the text exposition format), over plain HTTP
and HTTPS."""
import re
import smtplib
import ssl
import subprocess
import urllib.error
import urllib.request

from conftest import free_port, simple_message

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? '
                  r'(-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')


def parse_metrics(text):
    """{(name, frozenset(labels)): value}; asserts every sample has HELP and TYPE."""
    helped, typed, out = set(), {}, {}
    for ln in text.splitlines():
        if ln.startswith("# HELP "):
            helped.add(ln.split()[2])
        elif ln.startswith("# TYPE "):
            _, _, name, kind = ln.split()
            assert kind in ("counter", "gauge", "histogram"), ln
            typed[name] = kind
        elif ln:
            m = LINE.match(ln)
            assert m, "bad exposition line: %r" % ln
            name = m.group(1)
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in typed or base in typed, "no TYPE for " + name
            assert name in helped or base in helped, "no HELP for " + name
            labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                          m.group(3) or ""))
            out[(name, labels)] = float(m.group(4))
    return out


def get(url, ctx=None):
    try:
        with urllib.request.urlopen(url, timeout=10, context=ctx) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def test_health_ready_metrics(make_gateway, tenant_factory, redis):
    port = free_port()
    gw = make_gateway(http_listen="127.0.0.1:%d" % port)
    t = tenant_factory("acme", ["acme.example"], gw=gw)
    s = smtplib.SMTP("127.0.0.1", gw.port, timeout=30)
    s.ehlo("c.example")
    s.login(t.user, t.password)
    s.sendmail("a@acme.example", ["b@x.example"], simple_message(frm="a@acme.example").encode())
    s.quit()
    base = "http://127.0.0.1:%d" % port
    assert get(base + "/healthz")[0] == 200
    assert get(base + "/readyz")[0] == 200
    code, text, hdrs = get(base + "/metrics")
    assert code == 200 and hdrs["Content-Type"].startswith("text/plain; version=0.0.4")
    m = parse_metrics(text)
    assert m[("sesgate_msgs_accepted_total", frozenset())] == 1
    assert m[("sesgate_auth_success_total", frozenset())] >= 1
    assert m[("sesgate_queue_depth", frozenset({("tenant", "acme")}))] == 1
    assert m[("sesgate_queue_oldest_seconds", frozenset({("tenant", "acme")}))] >= 0
    assert m[("sesgate_tenant_state", frozenset({("tenant", "acme"), ("state", "active")}))] == 1
    assert ("sesgate_ses_call_seconds_bucket", frozenset({("le", "+Inf")})) in m
    assert m[("sesgate_smtp_replies_total", frozenset({("code", "250")}))] >= 4
    assert m[("sesgate_smtp_replies_total", frozenset({("code", "235")}))] == 1
    assert get(base + "/nope")[0] == 404
    req = urllib.request.Request(base + "/metrics", data=b"x", method="POST")
    try:
        urllib.request.urlopen(req, timeout=10)
        assert False, "POST /metrics accepted"
    except urllib.error.HTTPError as e:
        assert e.code == 405
    # not ready without Redis; alive all the same
    redis.stop()
    assert get(base + "/readyz")[0] == 503
    assert get(base + "/healthz")[0] == 200
    redis.start()


def test_https_listener(make_gateway, tmp_path):
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    port = free_port()
    make_gateway(http_listen="127.0.0.1:%d" % port, http_tls_cert=str(crt), http_tls_key=str(key))
    ctx = ssl.create_default_context(cafile=str(crt))
    code, text, _ = get("https://127.0.0.1:%d/metrics" % port, ctx)
    assert code == 200 and "sesgate_uptime_seconds" in text
    # plain HTTP on the TLS port gets nowhere
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=5)
        assert False
    except Exception:
        pass


def test_http_config_errors(tmp_path):
    from conftest import SESGATE
    conf = tmp_path / "c.conf"
    for text, want in [("http_listen nonsense\n", ":1:"),
                       ("http_tls_cert /x.pem\n", "go together")]:
        conf.write_text(text)
        p = subprocess.run([SESGATE, "-t", "-c", str(conf)], capture_output=True, text=True)
        assert p.returncode != 0 and want in p.stderr, p.stderr
