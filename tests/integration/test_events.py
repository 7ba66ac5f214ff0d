"""SES events through SNS into sesgate's /sns endpoint: messages signed by a
test CA (tests/snstool.py, with the openssl CLI), certificates fetched over
verified TLS from a local server standing in for sns.<region>.amazonaws.com."""
import json
import smtplib
import time
import urllib.error
import urllib.request
import uuid

import pytest

from conftest import free_port, wait_for
from snstool import DEFAULT_TOPIC, CertServer, SnsSigner, timestamp

ACCT = "111111111111"
QID = "0Q7V3K2M8Z4T1B6C"


@pytest.fixture(scope="module")
def signer():
    s = SnsSigner()
    yield s
    s.close()


@pytest.fixture
def sns(signer):
    srv = CertServer(signer)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def gw(make_gateway, sns, signer, tenant_factory):
    port = free_port()
    g = make_gateway(http_listen="127.0.0.1:%d" % port, sns_topic_arn=DEFAULT_TOPIC,
                     sns_cert_host=sns.host_pattern, sns_cert_ca=signer.ca_pem,
                     guard_min_sends="10")
    g.http = "http://127.0.0.1:%d" % port
    t = tenant_factory("acme", ["acme.example"], gw=g)
    g.ctl("tenant", "set", "acme", "aws_account_id", ACCT)
    g.tenant = t
    return g


def record(kind, rcpts=("bob@dest.example",), qid=QID, tid=None, account=ACCT, **detail):
    """An SES event record as SES publishes it to SNS."""
    mail = {"timestamp": timestamp(), "source": "app@acme.example",
            "sendingAccountId": account, "messageId": str(uuid.uuid4()),
            "destination": list(rcpts), "tags": {}}
    if qid:
        mail["tags"]["sesgate-qid"] = [qid]
    if tid:
        mail["tags"]["sesgate-tenant"] = [tid]
    r = {"eventType": kind, "mail": mail}
    if kind == "Bounce":
        r["bounce"] = {"bounceType": detail.get("bounce_type", "Permanent"),
                       "bounceSubType": "General", "timestamp": timestamp(),
                       "bouncedRecipients": [{"emailAddress": a, "status": "5.1.1"} for a in rcpts]}
    elif kind == "Complaint":
        r["complaint"] = {"complaintFeedbackType": "abuse", "timestamp": timestamp(),
                          "complainedRecipients": [{"emailAddress": a} for a in rcpts]}
    elif kind == "Delivery":
        r["delivery"] = {"timestamp": timestamp(), "recipients": list(rcpts),
                         "smtpResponse": "250 ok", "processingTimeMillis": 120}
    elif kind == "Reject":
        r["reject"] = {"reason": "Bad content"}
    elif kind == "Open":
        r["open"] = {"timestamp": timestamp(), "ipAddress": "192.0.2.1", "userAgent": "x"}
    elif kind == "Click":
        r["click"] = {"timestamp": timestamp(), "ipAddress": "192.0.2.1", "link": "https://x.example/"}
    elif kind == "Rendering Failure":
        r["failure"] = {"errorMessage": "bad template", "templateName": "t"}
    elif kind == "DeliveryDelay":
        r["deliveryDelay"] = {"timestamp": timestamp(), "delayType": "MailboxFull",
                              "delayedRecipients": [{"emailAddress": a} for a in rcpts]}
    elif kind == "Subscription":
        r["subscription"] = {"contactList": "l", "timestamp": timestamp(), "source": "x",
                             "newTopicPreferences": {"unsubscribeAll": True}}
    return json.dumps(r)


def post(gw, body, msg_type="Notification"):
    req = urllib.request.Request(gw.http + "/sns", data=body.encode(), method="POST",
                                 headers={"Content-Type": "text/plain; charset=UTF-8",
                                          "x-amz-sns-message-type": msg_type})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def stats_today(redis, name):
    tid = redis.cli("HGET", "sg:tenants", name)
    day = time.strftime("%Y%m%d", time.gmtime())
    raw = redis.cli("HGETALL", "sg:{%s}:stats:%s" % (tid, day)).split("\n")
    return {raw[i]: int(raw[i + 1]) for i in range(0, len(raw) - 1, 2)}


KINDS = ["Send", "Delivery", "Bounce", "Complaint", "Reject", "Open", "Click",
         "Rendering Failure", "DeliveryDelay", "Subscription"]


def test_every_event_type_counted(gw, signer, redis):
    for i, kind in enumerate(KINDS):
        body = signer.sign(signer.notification(record(kind)), version=1 + i % 2)
        assert post(gw, body) == 200, kind
    st = stats_today(redis, "acme")
    for name in ["send", "delivery", "bounce", "complaint", "reject", "open", "click",
                 "rendering_failure", "delivery_delay", "subscription"]:
        assert st.get(name) == 1, (name, st)
    assert "ses_event" in gw.read_log()


def test_duplicate_delivery_counted_once(gw, signer, redis):
    msg = signer.notification(record("Delivery"))
    body = signer.sign(msg)
    assert post(gw, body) == 200
    assert post(gw, body) == 200
    assert stats_today(redis, "acme")["delivery"] == 1


def test_hard_bounce_and_complaint_suppress_at_rcpt(gw, signer, redis):
    assert post(gw, signer.sign(signer.notification(record("Bounce", ["gone@dest.example"])))) == 200
    assert post(gw, signer.sign(signer.notification(
        record("Bounce", ["later@dest.example"], bounce_type="Transient")))) == 200
    assert post(gw, signer.sign(signer.notification(record("Complaint", ["angry@dest.example"])))) == 200
    s = smtplib.SMTP("127.0.0.1", gw.port, timeout=30)
    s.ehlo("c.example")
    s.login(gw.tenant.user, gw.tenant.password)
    s.mail("a@acme.example")
    code, text = s.rcpt("gone@dest.example")
    assert code == 550 and b"5.1.1" in text and b"bounce:Permanent" in text
    code, text = s.rcpt("angry@dest.example")
    assert code == 550 and b"complaint" in text
    assert s.rcpt("later@dest.example")[0] == 250    # transient: not suppressed
    s.quit()


def test_events_join_message_history(gw, signer, redis):
    tid = redis.cli("HGET", "sg:tenants", "acme")
    redis.cli("RPUSH", "sg:{%s}:hist:%s" % (tid, QID), '{"ev":"received"}')
    assert post(gw, signer.sign(signer.notification(record("Delivery", tid=tid)))) == 200
    hist = redis.cli("LRANGE", "sg:{%s}:hist:%s" % (tid, QID), "0", "-1").split("\n")
    last = json.loads(hist[-1])
    assert last["ev"] == "ses" and last["type"] == "delivery"


def test_forged_wrong_topic_foreign_cert_stale_refused(gw, signer, redis):
    good = signer.sign_dict(signer.notification(record("Delivery")))
    forged = dict(good)
    forged["Message"] = record("Delivery", rcpts=("other@dest.example",))
    assert post(gw, json.dumps(forged)) == 403
    wrong = signer.sign(signer.notification(record("Delivery"),
                                            topic_arn="arn:aws:sns:us-east-1:999999999999:other"))
    assert post(gw, wrong) == 403
    foreign = signer.sign(signer.notification(
        record("Delivery"), cert_url="https://evil.example/SimpleNotificationService-x.pem"))
    assert post(gw, foreign) == 403
    stale = signer.sign(signer.notification(record("Delivery"), ts="2020-01-01T00:00:00.000Z"))
    assert post(gw, stale) == 403
    assert post(gw, "not json") == 400
    assert stats_today(redis, "acme").get("delivery") is None
    assert "sns_refused" in gw.read_log()


def test_subscription_confirmed_once(gw, signer, sns):
    sub_path = "/confirm"
    sns.add(sub_path, "<ConfirmSubscriptionResponse/>")
    msg = signer.subscription_confirmation(subscribe_url=sns.url(sub_path + "?Token=abc"))
    body = signer.sign(msg)
    assert post(gw, body, "SubscriptionConfirmation") == 200
    assert sns.hits(sub_path) == 1
    assert post(gw, body, "SubscriptionConfirmation") == 403     # replayed
    assert sns.hits(sub_path) == 1
    # a SubscribeURL off the SNS hosts is never fetched
    msg = signer.subscription_confirmation(subscribe_url="https://evil.example/confirm")
    assert post(gw, signer.sign(msg), "SubscriptionConfirmation") == 403


def test_bounce_burst_pauses_tenant(gw, signer, redis):
    for _ in range(10):
        assert post(gw, signer.sign(signer.notification(record("Send")))) == 200
    for i in range(2):
        assert post(gw, signer.sign(signer.notification(
            record("Bounce", ["b%d@dest.example" % i])))) == 200
    _, t = gw.ctl("tenant", "show", "acme")
    assert t["state"] == "paused"
    assert "reputation guard" in t["paused_reason"] and "bounce rate" in t["paused_reason"]
    assert "tenant_paused" in gw.read_log()
    gw.ctl("tenant", "resume", "acme")
    _, t = gw.ctl("tenant", "show", "acme")
    assert t["state"] == "active"


def test_unknown_account_ignored(gw, signer, redis):
    assert post(gw, signer.sign(signer.notification(record("Delivery", account="222222222222")))) == 200
    assert stats_today(redis, "acme").get("delivery") is None
    assert "ses_event_ignored" in gw.read_log()


class _HookReceiver:
    """HTTPS server on 127.0.0.1 recording POSTs; answers `fail` times 500 first."""

    def __init__(self, signer, fail=0):
        import http.server
        import threading
        outer = self
        self.posts = []
        self.fail = fail

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.posts.append((dict(self.headers), body))
                code = 500 if outer.fail > 0 else 200
                outer.fail -= 1
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.socket = signer.server_context().wrap_socket(self.httpd.socket, server_side=True)
        self.url = "https://127.0.0.1:%d/hook" % self.httpd.server_address[1]
        self.t = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.t.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_webhook_signed_and_retried(make_gateway, sns, signer, tenant_factory, redis):
    import hashlib
    import hmac
    port = free_port()
    g = make_gateway(http_listen="127.0.0.1:%d" % port, sns_topic_arn=DEFAULT_TOPIC,
                     sns_cert_host=sns.host_pattern, sns_cert_ca=signer.ca_pem,
                     webhook_ca=signer.ca_pem)
    g.http = "http://127.0.0.1:%d" % port
    tenant_factory("acme", ["acme.example"], gw=g)
    g.ctl("tenant", "set", "acme", "aws_account_id", ACCT)
    recv = _HookReceiver(signer, fail=1)
    try:
        tid = redis.cli("HGET", "sg:tenants", "acme")
        secret = "whsec-0123456789abcdef"
        redis.cli("HSET", "sg:{%s}:tenant" % tid, "webhook_url", recv.url, "webhook_secret", secret)
        assert post(g, signer.sign(signer.notification(record("Bounce", ["x@dest.example"])))) == 200
        assert post(g, signer.sign(signer.notification(record("Delivery")))) == 200
        # first POST fails (500), then both events arrive, in order
        assert wait_for(lambda: len(recv.posts) >= 3, timeout=30), recv.posts
        ok = recv.posts[1:]
        types = [json.loads(b)["type"] for _, b in ok]
        assert types == ["bounce", "delivery"]
        for hdrs, body in ok:
            ts = hdrs["X-Sesgate-Timestamp"]
            want = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            assert hdrs["X-Sesgate-Signature"] == "v1=" + want
            ev = json.loads(body)
            assert ev["tenant"] == "acme" and ev["id"]
        assert secret not in g.read_log()
        assert "webhook_retry" in g.read_log()
    finally:
        recv.stop()
