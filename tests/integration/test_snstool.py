"""Self-test of tests/snstool.py, the SNS message signer the integration
tests use: its string to sign against the genuine SNS vectors, and its
signatures checked with `openssl dgst -verify` (independently of sesgate's
C code and of snstool's own signing path).  Also its certificates and its
HTTPS certificate server."""
import base64
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests"))
import snstool  # noqa: E402

SNS_DATA = os.path.join(TOP, "tests", "data", "sns")


@pytest.fixture(scope="module")
def signer():
    s = snstool.SnsSigner()
    yield s
    s.close()


def openssl_verify(signer, tmp_path, data, sig_b64, version):
    """`openssl dgst -verify` of @data against the signing certificate's
    public key; True when openssl prints Verified OK."""
    pub = tmp_path / "pub.pem"
    pub.write_bytes(subprocess.run(["openssl", "x509", "-in", signer.cert_pem, "-pubkey",
                                    "-noout"], check=True, capture_output=True).stdout)
    sig = tmp_path / "sig.bin"
    sig.write_bytes(base64.b64decode(sig_b64, validate=True))
    msg = tmp_path / "msg.bin"
    msg.write_bytes(data)
    digest = {"1": "-sha1", "2": "-sha256"}[version]
    p = subprocess.run(["openssl", "dgst", digest, "-verify", str(pub), "-signature", str(sig),
                        str(msg)], capture_output=True, text=True)
    return p.returncode == 0 and "Verified OK" in p.stdout


@pytest.mark.parametrize("name", ["notification-signaturev1", "notification-signaturev2"])
def test_string_to_sign_matches_genuine(name):
    with open(os.path.join(SNS_DATA, name + ".json"), encoding="utf-8") as f:
        msg = json.load(f)
    with open(os.path.join(SNS_DATA, name + ".string-to-sign.txt"), "rb") as f:
        want = f.read()
    assert snstool.string_to_sign(msg) == want


def test_string_to_sign_by_hand():
    n = {"Type": "Notification", "MessageId": "id", "TopicArn": "arn", "Message": "a\nb",
         "Timestamp": "ts", "Subject": "", "SignatureVersion": "1", "UnsubscribeURL": "u"}
    assert snstool.string_to_sign(n) == (b"Message\na\nb\nMessageId\nid\nSubject\n\n"
                                         b"Timestamp\nts\nTopicArn\narn\nType\nNotification\n")
    del n["Subject"]
    assert b"Subject" not in snstool.string_to_sign(n)
    n["Subject"] = None  # null counts as absent
    assert b"Subject" not in snstool.string_to_sign(n)
    c = {"Type": "UnsubscribeConfirmation", "MessageId": "id", "TopicArn": "arn",
         "Message": "caf\u00e9", "Timestamp": "ts", "Token": "tok", "SubscribeURL": "s",
         "Subject": "not signed"}
    assert snstool.string_to_sign(c) == (
        "Message\ncaf\u00e9\nMessageId\nid\nSubscribeURL\ns\nTimestamp\nts\nToken\ntok\n"
        "TopicArn\narn\nType\nUnsubscribeConfirmation\n").encode("utf-8")
    with pytest.raises(snstool.SnsToolError):
        snstool.string_to_sign({"Type": "Other"})
    del c["Token"]
    with pytest.raises(snstool.SnsToolError):
        snstool.string_to_sign(c)


def _messages(signer):
    return [
        signer.notification("Hello world"),
        signer.notification('{"eventType":"Bounce","x":"caf\u00e9 \u2028"}', subject="S\u00fcbj"),
        signer.notification("m", subject=""),
        signer.subscription_confirmation(),
        signer.unsubscribe_confirmation(),
    ]


@pytest.mark.parametrize("version", [1, 2])
def test_signatures_verify_with_openssl(signer, tmp_path, version):
    for msg in _messages(signer):
        body = signer.sign(msg, version=version)
        parsed = json.loads(body)
        assert parsed["SignatureVersion"] == str(version)
        # Recompute the string to sign by hand from the parsed body: the
        # signature covers exactly the documented keys.
        keys = (["Message", "MessageId"] + (["Subject"] if "Subject" in parsed else [])
                + ["Timestamp", "TopicArn", "Type"]) if parsed["Type"] == "Notification" else \
            ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        data = "".join("%s\n%s\n" % (k, parsed[k]) for k in keys).encode("utf-8")
        assert openssl_verify(signer, tmp_path, data, parsed["Signature"], str(version))
        # The other digest does not verify, nor does a one-byte change.
        other = "2" if version == 1 else "1"
        assert not openssl_verify(signer, tmp_path, data, parsed["Signature"], other)
        tampered = data.replace(b"Message\n", b"Message\nX", 1)
        assert not openssl_verify(signer, tmp_path, tampered, parsed["Signature"], str(version))


def test_body_shape(signer):
    n = json.loads(signer.sign(signer.notification("x", subject="s", topic_arn="arn:t"), 2))
    for k in ("Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp",
              "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL"):
        assert k in n, k
    assert n["TopicArn"] == "arn:t"
    assert n["Timestamp"].endswith("Z") and len(n["Timestamp"]) == 24
    assert "Subject" not in signer.notification("x")
    c = json.loads(signer.sign(signer.subscription_confirmation(subscribe_url="https://h/c"), 1))
    for k in ("Type", "MessageId", "Token", "TopicArn", "Message", "SubscribeURL", "Timestamp",
              "SignatureVersion", "Signature", "SigningCertURL"):
        assert k in c, k
    assert c["SubscribeURL"] == "https://h/c"
    # sign() leaves the caller's dict alone
    d = signer.notification("x")
    signer.sign(d, 2)
    assert "Signature" not in d and d["SignatureVersion"] == "1"
    with pytest.raises(snstool.SnsToolError):
        signer.sign(d, 3)


def test_certificates(signer):
    p = subprocess.run(["openssl", "verify", "-CAfile", signer.ca_pem, signer.cert_pem,
                        signer.server_cert], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    text = subprocess.run(["openssl", "x509", "-in", signer.cert_pem, "-noout", "-text"],
                          check=True, capture_output=True, text=True).stdout
    assert "DNS:sns.amazonaws.com" in text
    assert "Public-Key: (2048 bit)" in text
    text = subprocess.run(["openssl", "x509", "-in", signer.server_cert, "-noout", "-text"],
                          check=True, capture_output=True, text=True).stdout
    assert "IP Address:127.0.0.1" in text


def test_cert_server(signer):
    ctx = ssl.create_default_context(cafile=signer.ca_pem)
    before = signer.cert_url
    with snstool.CertServer(signer) as srv:
        assert signer.cert_url == srv.cert_url
        assert srv.cert_url.startswith("https://127.0.0.1:%d/" % srv.port)
        assert srv.cert_url.endswith(".pem")
        assert srv.host_pattern == "127.0.0.1:%d" % srv.port
        assert signer.notification("x")["SigningCertURL"] == srv.cert_url
        with urllib.request.urlopen(srv.cert_url, context=ctx, timeout=10) as r:
            assert r.read() == signer.cert_bytes()
        assert srv.hits(snstool.CERT_PATH) == 1
        srv.add("/confirm", "<ConfirmSubscriptionResponse/>", content_type="text/xml")
        with urllib.request.urlopen(srv.url("/confirm?Token=abc"), context=ctx, timeout=10) as r:
            assert r.read() == b"<ConfirmSubscriptionResponse/>"
        assert ("GET", "/confirm?Token=abc") in srv.requests
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(srv.url("/nothing.pem"), context=ctx, timeout=10)
        assert e.value.code == 404
        # A client that does not trust the test CA is refused.
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(srv.cert_url, context=ssl.create_default_context(),
                                   timeout=10)
    assert signer.cert_url == before


def test_cert_server_plain_http(signer):
    with snstool.CertServer(signer, tls=False) as srv:
        assert srv.cert_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(srv.cert_url, timeout=10) as r:
            assert r.read() == signer.cert_bytes()


def test_make_vectors(tmp_path):
    out = tmp_path / "vec"
    p = subprocess.run(["/usr/bin/python3", os.path.join(TOP, "tests", "snstool.py"),
                        "make-vectors", str(out)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert not list(out.glob("*.key"))  # private keys are not written out

    class Cert:
        cert_pem = str(out / "sns-signing.pem")

    for name in ("subscription-confirmation-v1", "unsubscribe-confirmation-v2",
                 "notification-subject-v2", "notification-subject-empty-v1"):
        msg = json.loads((out / (name + ".json")).read_text(encoding="utf-8"))
        data = (out / (name + ".string-to-sign.txt")).read_bytes()
        assert snstool.string_to_sign(msg) == data
        assert openssl_verify(Cert, tmp_path, data, msg["Signature"], msg["SignatureVersion"])
