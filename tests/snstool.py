"""snstool - sign Amazon SNS HTTP/S messages the way SNS does, for sesgate's
integration tests.  Standard library plus the `openssl` command-line tool;
run with /usr/bin/python3.

    from snstool import SnsSigner, CertServer     # tests/ is on sys.path
    with SnsSigner() as signer, CertServer(signer) as srv:
        msg = signer.notification('{"eventType":"Bounce"}', subject="hi")
        body = signer.sign(msg, version=2)        # JSON text, ready to POST
        # msg["SigningCertURL"] is srv.cert_url: https://127.0.0.1:PORT/...pem,
        # served over TLS by a certificate from signer.ca_pem.

SnsSigner makes, in a new temp dir (removed by close()): a throwaway CA, an
RSA-2048 SNS signing key + certificate issued by it (SAN DNS:sns.amazonaws.com
by default), and a TLS server certificate for IP:127.0.0.1 / DNS:localhost
from the same CA.  sign() computes the string to sign exactly as AWS
documents it (AWS.md section 5) and signs it with `openssl dgst -sha1|-sha256
-sign` (SignatureVersion 1 / 2, RSA PKCS#1 v1.5).

CertServer is a small threaded HTTP(S) server on 127.0.0.1 that serves the
signing certificate (and any other path a test adds, e.g. a SubscribeURL),
recording every request it gets.

Command line: `snstool.py make-vectors DIR` writes the fixed test vectors
under tests/data/sns/generated (see the README there).
"""
import base64
import datetime
import http.server
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import uuid

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

DEFAULT_TOPIC = "arn:aws:sns:us-east-1:123456789012:sesgate-test"
DEFAULT_CERT_URL = ("https://sns.us-east-1.amazonaws.com/"
                    "SimpleNotificationService-0123456789abcdef0123456789abcdef.pem")
CERT_PATH = "/SimpleNotificationService-snstool.pem"

# The keys signed for each type, in signing order (AWS.md section 5).
NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                     "Type")
TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")


class SnsToolError(Exception):
    pass


def _openssl(*args, data=None):
    p = subprocess.run([OPENSSL] + list(args), input=data, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise SnsToolError("openssl %s: %s" % (args[0], p.stderr.decode(errors="replace")))
    return p.stdout


def string_to_sign(msg):
    """The octets SNS signs for @msg (a dict of the JSON body): "Key\\nValue\\n"
    for each signed key in order; Subject only when present (and not null)."""
    t = msg.get("Type")
    if t == "Notification":
        keys = NOTIFICATION_KEYS
    elif t in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        keys = CONFIRMATION_KEYS
    else:
        raise SnsToolError("unknown Type %r" % (t,))
    out = []
    for k in keys:
        v = msg.get(k)
        if v is None:
            if k == "Subject":
                continue
            raise SnsToolError("%s missing" % k)
        out.append("%s\n%s\n" % (k, v))
    return "".join(out).encode("utf-8")


def to_json(msg, ensure_ascii=False):
    """JSON text laid out like SNS's own bodies ("Key" : "value", two-space
    indent); non-ASCII left as UTF-8 unless @ensure_ascii (then \\uXXXX)."""
    return json.dumps(msg, indent=2, separators=(",", " : "), ensure_ascii=ensure_ascii)


def timestamp(when=None):
    """SNS's Timestamp format: 2022-07-28T21:23:58.317Z (UTC, milliseconds)."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (when.microsecond // 1000)


class SnsSigner:
    def __init__(self, cert_host="sns.amazonaws.com", days=2, directory=None):
        """Make the CA, the SNS signing certificate (SAN DNS:@cert_host) and the
        127.0.0.1 TLS certificate, valid from now for @days days, in a new temp
        dir, or in @directory (kept) when given."""
        self._own_dir = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="snstool-")
        os.makedirs(self.dir, exist_ok=True)
        self.cert_host = cert_host
        self.cert_url = DEFAULT_CERT_URL
        p = lambda name: os.path.join(self.dir, name)
        self.ca_key, self.ca_pem = p("ca.key"), p("ca.pem")
        self.key, self.cert_pem = p("sns-signing.key"), p("sns-signing.pem")
        self.server_key, self.server_cert = p("server.key"), p("server.pem")
        try:
            self._make_ca(days)
            self._issue(self.key, self.cert_pem, "/CN=%s" % cert_host,
                        "subjectAltName=DNS:%s\n" % cert_host, days)
            self._issue(self.server_key, self.server_cert, "/CN=127.0.0.1",
                        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                        "extendedKeyUsage=serverAuth\n", days)
        except Exception:
            self.close()
            raise

    # ------------------------------------------------------------ certificates
    def _make_ca(self, days):
        cnf = os.path.join(self.dir, "ca.cnf")
        with open(cnf, "w") as f:
            f.write("[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = v3_ca\n"
                    "[dn]\nCN = snstool throwaway test CA\n"
                    "[v3_ca]\nbasicConstraints = critical,CA:TRUE\n"
                    "keyUsage = critical,keyCertSign,cRLSign\n"
                    "subjectKeyIdentifier = hash\n")
        _openssl("req", "-x509", "-config", cnf, "-newkey", "rsa:2048", "-nodes", "-sha256",
                 "-keyout", self.ca_key, "-out", self.ca_pem, "-days", str(days))

    def _issue(self, key, crt, subj, ext_lines, days):
        csr, ext = crt + ".csr", crt + ".ext"
        cnf = os.path.join(self.dir, "csr.cnf")
        with open(cnf, "w") as f:
            f.write("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = x\n")
        with open(ext, "w") as f:
            f.write("basicConstraints = critical,CA:FALSE\n"
                    "keyUsage = critical,digitalSignature,keyEncipherment\n"
                    "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n" + ext_lines)
        _openssl("req", "-new", "-config", cnf, "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                 "-out", csr, "-subj", subj)
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca_pem, "-CAkey", self.ca_key,
                 "-set_serial", "0x" + secrets.token_hex(12), "-sha256", "-days", str(days),
                 "-extfile", ext, "-out", crt)

    def cert_bytes(self):
        with open(self.cert_pem, "rb") as f:
            return f.read()

    def server_context(self):
        """An ssl.SSLContext serving the 127.0.0.1 certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.server_cert, self.server_key)
        return ctx

    # ------------------------------------------------------------ messages
    def _common(self, type_, message, topic_arn, message_id, ts, cert_url, version):
        return {
            "Type": type_,
            "MessageId": message_id or str(uuid.uuid4()),
            "TopicArn": topic_arn or DEFAULT_TOPIC,
            "Message": message,
            "Timestamp": ts or timestamp(),
            "SignatureVersion": str(version),
            "SigningCertURL": cert_url or self.cert_url,
        }

    def notification(self, message, subject=None, topic_arn=None, message_id=None, ts=None,
                     cert_url=None, version=1, unsubscribe_url=None):
        """An unsigned Notification dict; Subject only when @subject is not None."""
        m = self._common("Notification", message, topic_arn, message_id, ts, cert_url, version)
        if subject is not None:
            m["Subject"] = subject
        m["UnsubscribeURL"] = unsubscribe_url or (
            "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=%s:%s"
            % (m["TopicArn"], uuid.uuid4()))
        return m

    def _confirmation(self, type_, topic_arn, token, subscribe_url, message, message_id, ts,
                      cert_url, version):
        topic_arn = topic_arn or DEFAULT_TOPIC
        token = token or secrets.token_hex(128)
        if message is None:
            message = ("You have chosen to subscribe to the topic %s.\n"
                       "To confirm the subscription, visit the SubscribeURL included in this "
                       "message." % topic_arn)
        m = self._common(type_, message, topic_arn, message_id, ts, cert_url, version)
        m["Token"] = token
        m["SubscribeURL"] = subscribe_url or (
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=%s&Token=%s"
            % (topic_arn, token))
        return m

    def subscription_confirmation(self, topic_arn=None, token=None, subscribe_url=None,
                                  message=None, message_id=None, ts=None, cert_url=None,
                                  version=1):
        """An unsigned SubscriptionConfirmation dict."""
        return self._confirmation("SubscriptionConfirmation", topic_arn, token, subscribe_url,
                                  message, message_id, ts, cert_url, version)

    def unsubscribe_confirmation(self, topic_arn=None, token=None, subscribe_url=None,
                                 message=None, message_id=None, ts=None, cert_url=None,
                                 version=1):
        """An unsigned UnsubscribeConfirmation dict (its SubscribeURL re-subscribes)."""
        if message is None:
            message = ("You have chosen to deactivate subscription %s:%s.\n"
                       "To cancel this operation and restore the subscription, visit the "
                       "SubscribeURL included in this message."
                       % (topic_arn or DEFAULT_TOPIC, uuid.uuid4()))
        return self._confirmation("UnsubscribeConfirmation", topic_arn, token, subscribe_url,
                                  message, message_id, ts, cert_url, version)

    # ------------------------------------------------------------ signing
    def signature(self, msg, version=None):
        """Base64 signature of @msg's string to sign.  @version (1 or 2)
        defaults to msg["SignatureVersion"], then 1."""
        version = int(version if version is not None else msg.get("SignatureVersion", 1))
        digest = {1: "-sha1", 2: "-sha256"}.get(version)
        if not digest:
            raise SnsToolError("SignatureVersion must be 1 or 2")
        sig = _openssl("dgst", digest, "-sign", self.key, data=string_to_sign(msg))
        return base64.b64encode(sig).decode("ascii")

    def sign_dict(self, msg, version=None):
        """A copy of @msg with SignatureVersion and Signature set."""
        out = dict(msg)
        version = int(version if version is not None else msg.get("SignatureVersion", 1))
        out["SignatureVersion"] = str(version)
        out["Signature"] = self.signature(out, version)
        return out

    def sign(self, msg, version=None, ensure_ascii=False):
        """The signed JSON body (str) for @msg; see sign_dict and to_json."""
        return to_json(self.sign_dict(msg, version), ensure_ascii)

    # ------------------------------------------------------------ cleanup
    def close(self):
        if self._own_dir and self.dir and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        srv = self.server.owner
        path = self.path.split("?", 1)[0]
        with srv.lock:
            srv.requests.append(("GET", self.path))
            route = srv.routes.get(path)
        status, ctype, body = route if route else (404, "text/plain", b"not found\n")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def handle_error(self, request, client_address):
        pass  # a client that drops mid-TLS is not a test failure here


class CertServer:
    """Threaded HTTPS (or, with tls=False, HTTP) server on 127.0.0.1:@port
    (0 = any free port).  Serves @signer's signing certificate at CERT_PATH
    and sets signer.cert_url to it, so messages built afterwards point at
    it.  add() serves more paths; requests lists every (method, path with
    query) received."""

    def __init__(self, signer, tls=True, port=0):
        self.signer = signer
        self.tls = tls
        self.lock = threading.Lock()
        self.requests = []
        self.routes = {CERT_PATH: (200, "application/x-pem-file", signer.cert_bytes())}
        self.httpd = _Server(("127.0.0.1", port), _Handler)
        self.httpd.owner = self
        if tls:
            self.httpd.socket = signer.server_context().wrap_socket(self.httpd.socket,
                                                                    server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = None
        self._old_cert_url = signer.cert_url
        signer.cert_url = self.url(CERT_PATH)

    @property
    def base(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    @property
    def cert_url(self):
        return self.url(CERT_PATH)

    @property
    def host_pattern(self):
        """The pattern sesgate's cert-host check needs for this server."""
        return "127.0.0.1:%d" % self.port

    def url(self, path):
        return self.base + path

    def add(self, path, body, status=200, content_type="text/plain"):
        """Serve @body (str or bytes) at @path (query ignored when routing)."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        with self.lock:
            self.routes[path] = (status, content_type, body)

    def hits(self, path):
        """How many GETs @path (query ignored) received."""
        with self.lock:
            return sum(1 for _, p in self.requests if p.split("?", 1)[0] == path)

    def start(self):
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.thread:
            self.httpd.shutdown()
            self.thread.join(10)
            self.thread = None
        self.httpd.server_close()
        if self.signer.cert_url == self.cert_url:
            self.signer.cert_url = self._old_cert_url

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------- fixed vectors
def make_vectors(out):
    """Write the vectors tests/unit/test_sns.c uses beside the genuine ones:
    a CA, a signing certificate valid for 20 years, and signed messages of
    every type with their strings to sign.  The private keys are not kept."""
    os.makedirs(out, exist_ok=True)
    cert_url = DEFAULT_CERT_URL
    topic = "arn:aws:sns:eu-west-1:111122223333:sesgate-events"
    with SnsSigner(days=7300) as s:
        shutil.copy(s.ca_pem, os.path.join(out, "ca.pem"))
        shutil.copy(s.cert_pem, os.path.join(out, "sns-signing.pem"))
        ses_event = json.dumps({"eventType": "Bounce", "mail": {
            "messageId": "0102018f-example", "source": "Zoë <zoe@example.com>",
            "commonHeaders": {"subject": "tab\there \"quoted\" \\ back\u2028sep"}}},
            ensure_ascii=False)
        msgs = {
            "subscription-confirmation-v1": s.subscription_confirmation(
                topic_arn=topic, cert_url=cert_url, ts="2026-11-29T08:00:00.000Z",
                message_id="165545c9-2a5c-472c-8df2-7ff2be2b3b1b", token="2336412f37" * 20,
                version=1),
            "unsubscribe-confirmation-v2": s.unsubscribe_confirmation(
                topic_arn=topic, cert_url=cert_url, ts="2026-11-29T08:01:00.000Z",
                message_id="47138184-6831-46b8-8f7c-afc488602d7d", token="b3a29e1f" * 24,
                version=2),
            "notification-subject-v2": s.notification(
                ses_event, subject="Amazon SES Email Event Notification", topic_arn=topic,
                cert_url=cert_url, ts="2026-11-29T08:02:00.123Z",
                message_id="22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", version=2),
            "notification-subject-empty-v1": s.notification(
                "multi\nline\r\nmessage\twith tab, caf\u00e9 \U0001F4E8", subject="",
                topic_arn=topic, cert_url=cert_url, ts="2026-11-29T08:03:00.000Z",
                message_id="da41e39f-ea4d-435a-b922-c6aae3915ebe", version=1),
        }
        # A certificate with a P-256 key: sns_verify must refuse non-RSA keys.
        _openssl("req", "-x509", "-config", os.path.join(s.dir, "ca.cnf"), "-newkey", "ec",
                 "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                 os.path.join(s.dir, "ec.key"), "-out", os.path.join(out, "ec-cert.pem"),
                 "-days", "7300", "-subj", "/CN=sns.amazonaws.com")
        for name, m in msgs.items():
            # One body spells non-ASCII as \\u escapes, the others as UTF-8.
            body = s.sign(m, ensure_ascii=name == "notification-subject-v2")
            with open(os.path.join(out, name + ".json"), "w", encoding="utf-8") as f:
                f.write(body + "\n")
            with open(os.path.join(out, name + ".string-to-sign.txt"), "wb") as f:
                f.write(string_to_sign(m))


def main(argv):
    if len(argv) == 3 and argv[1] == "make-vectors":
        make_vectors(argv[2])
        return 0
    sys.stderr.write("usage: snstool.py make-vectors DIR\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
