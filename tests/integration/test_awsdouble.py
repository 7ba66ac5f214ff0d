"""Tests of the AWS test double (tests/awsdouble) itself, driven by botocore's
own clients.  They do not use the sesgate binary or the daemon fixtures."""
import base64
import datetime
import os
import sys

import pytest

botocore = pytest.importorskip("botocore")
import botocore.session  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "awsdouble"))
from client import AwsDouble  # noqa: E402

GW_KEY = "AKIAGATEWAYEXAMPLE01"
GW_SECRET = "gatewaySecretKeyExample/0123456789abcdef"
ACCOUNT = "111122223333"
ROLE = "arn:aws:iam::111122223333:role/sesgate-sender"
ROLE_NOEXT = "arn:aws:iam::444455556666:role/open-role"
EXTERNAL_ID = "tenant-acme-ext-id"

RAW = (b"From: alice@acme.example\r\nTo: bob@dest.example\r\nSubject: hi\r\n"
       b"Message-ID: <1@acme.example>\r\n\r\nhello \xc3\xa9\r\n.dot line\r\n\r\n")

SESSION = botocore.session.get_session()   # one session: service models load once

NO_RETRY = Config(retries={"max_attempts": 0}, connect_timeout=5, read_timeout=5)


@pytest.fixture(scope="module")
def aws():
    d = AwsDouble(config={
        "static_keys": {GW_KEY: {"secret": GW_SECRET}},
        "roles": {ROLE: {"external_id": EXTERNAL_ID, "account": ACCOUNT},
                  ROLE_NOEXT: {"external_id": None}},
        "accounts": {ACCOUNT: {"MaxSendRate": 7.0, "Max24HourSend": 1000.0,
                               "SendingEnabled": True, "ProductionAccessEnabled": False}},
    })
    d.start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture(autouse=True)
def _clean(aws):
    aws.reset()
    yield
    aws.clear_faults()


def client(aws, service, key, secret, token=None, config=NO_RETRY):
    return SESSION.create_client(
        service, endpoint_url=aws.endpoint, region_name="us-east-1", verify=aws.ca,
        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
        config=config)


def sts(aws, key=GW_KEY, secret=GW_SECRET):
    return client(aws, "sts", key, secret)


def assume(aws, **kw):
    args = {"RoleArn": ROLE, "RoleSessionName": "sesgate-acme", "ExternalId": EXTERNAL_ID}
    args.update(kw)
    return sts(aws).assume_role(**args)["Credentials"]


def ses(aws, creds):
    return client(aws, "sesv2", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def send(c, raw=RAW, to=("bob@dest.example",), **kw):
    return c.send_email(Destination={"ToAddresses": list(to)}, Content={"Raw": {"Data": raw}}, **kw)


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_assume_role_issues_temporary_credentials(aws):
    before = datetime.datetime.now(datetime.timezone.utc)
    creds = assume(aws, DurationSeconds=1800)
    assert creds["AccessKeyId"].startswith("ASIA")
    assert creds["SecretAccessKey"] and creds["SessionToken"]
    left = (creds["Expiration"] - before).total_seconds()
    assert 1790 <= left <= 1810
    table = aws.credentials()
    assert table[creds["AccessKeyId"]]["role_arn"] == ROLE
    assert table[creds["AccessKeyId"]]["account"] == ACCOUNT
    # a second call issues different credentials
    assert assume(aws)["AccessKeyId"] != creds["AccessKeyId"]


def test_configured_short_lifetime(aws):
    aws.configure({"credential_lifetime": 60})
    try:
        before = datetime.datetime.now(datetime.timezone.utc)
        creds = assume(aws)
        assert (creds["Expiration"] - before).total_seconds() <= 62
    finally:
        aws.configure({"credential_lifetime": None})


def test_send_email_with_temp_creds_recorded_byte_exact(aws):
    creds = assume(aws)
    resp = send(ses(aws, creds), to=("bob@dest.example", "carol@dest.example"),
                ConfigurationSetName="sesgate-acme",
                EmailTags=[{"Name": "tenant", "Value": "acme"}, {"Name": "msg_id", "Value": "q-1"}])
    assert resp["MessageId"]
    msgs = aws.messages()
    assert len(msgs) == 1
    m = msgs[0]
    assert base64.b64decode(m["raw"]) == RAW
    assert m["message_id"] == resp["MessageId"]
    assert m["account"] == ACCOUNT
    assert m["access_key"] == creds["AccessKeyId"]
    assert m["recipients"] == ["bob@dest.example", "carol@dest.example"]
    assert m["configuration_set"] == "sesgate-acme"
    assert m["tags"] == [{"Name": "tenant", "Value": "acme"}, {"Name": "msg_id", "Value": "q-1"}]
    calls = aws.calls()
    assert calls["counts"] == {"AssumeRole": 1, "SendEmail": 1}
    assert [c["status"] for c in calls["calls"]] == [200, 200]


def test_get_account_returns_configured_quota(aws):
    c = ses(aws, assume(aws))
    send(c, to=("a@x.example", "b@x.example", "c@x.example"))
    acct = c.get_account()
    assert acct["SendQuota"] == {"Max24HourSend": 1000.0, "MaxSendRate": 7.0, "SentLast24Hours": 3.0}
    assert acct["SendingEnabled"] is True
    assert acct["ProductionAccessEnabled"] is False


def test_wrong_secret_signature_does_not_match(aws):
    with pytest.raises(ClientError) as e:
        sts(aws, secret=GW_SECRET + "x").assume_role(RoleArn=ROLE, RoleSessionName="s1",
                                                     ExternalId=EXTERNAL_ID)
    assert code(e) == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    creds = assume(aws)
    creds["SecretAccessKey"] = "not-the-secret"
    with pytest.raises(ClientError) as e:
        send(ses(aws, creds))
    assert code(e) == "SignatureDoesNotMatch"
    assert aws.messages() == []


def test_unknown_key_invalid_client_token_id(aws):
    with pytest.raises(ClientError) as e:
        sts(aws, key="AKIAUNKNOWNKEY000000").assume_role(RoleArn=ROLE, RoleSessionName="s1")
    assert code(e) == "InvalidClientTokenId"
    with pytest.raises(ClientError) as e:
        ses(aws, {"AccessKeyId": "ASIAUNKNOWN0000000", "SecretAccessKey": "x",
                  "SessionToken": "y"}).get_account()
    assert code(e) == "InvalidClientTokenId"


def test_expired_temporary_credentials(aws):
    creds = assume(aws)
    aws.expire(creds["AccessKeyId"])
    with pytest.raises(ClientError) as e:
        send(ses(aws, creds))
    assert code(e) == "ExpiredToken"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_wrong_external_id_access_denied(aws):
    for kw in ({"ExternalId": "wrong"}, {"ExternalId": None}):
        args = {"RoleArn": ROLE, "RoleSessionName": "s1"}
        if kw["ExternalId"]:
            args.update(kw)
        with pytest.raises(ClientError) as e:
            sts(aws).assume_role(**args)
        assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        sts(aws).assume_role(RoleArn="arn:aws:iam::999999999999:role/nope", RoleSessionName="s1")
    assert code(e) == "AccessDenied"
    # a role without ExternalId works, account taken from its ARN
    creds = sts(aws).assume_role(RoleArn=ROLE_NOEXT, RoleSessionName="s1")["Credentials"]
    assert aws.credentials()[creds["AccessKeyId"]]["account"] == "444455556666"


def test_injected_throttling_and_500(aws):
    c = ses(aws, assume(aws))
    aws.fault("SendEmail", "throttle", count=1)
    with pytest.raises(ClientError) as e:
        send(c)
    assert code(e) == "TooManyRequestsException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    aws.fault("SendEmail", "error500", count=1)
    with pytest.raises(ClientError) as e:
        send(c)
    assert code(e) == "InternalServiceErrorException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert send(c)["MessageId"]           # faults were counted and are used up
    aws.fault("AssumeRole", "error500", count=None)
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            assume(aws)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    aws.clear_faults("AssumeRole")
    assert assume(aws)["AccessKeyId"]
    assert len(aws.messages()) == 1


def test_injected_permanent_errors_and_latency(aws):
    c = ses(aws, assume(aws))
    for kind, want in (("rejected", "MessageRejected"), ("suspended", "AccountSuspendedException"),
                       ("paused", "SendingPausedException"), ("expired", "ExpiredToken")):
        aws.fault("SendEmail", kind)
        with pytest.raises(ClientError) as e:
            send(c)
        assert code(e) == want
    aws.fault("GetAccount", "latency", latency_ms=200)
    t0 = datetime.datetime.now()
    c.get_account()
    assert (datetime.datetime.now() - t0).total_seconds() >= 0.19


def test_hang_times_out_client(aws):
    c = client(aws, "sesv2", GW_KEY, GW_SECRET,
               config=Config(retries={"max_attempts": 0}, connect_timeout=2, read_timeout=0.5))
    aws.configure({"static_keys": {GW_KEY: {"secret": GW_SECRET, "account": ACCOUNT}}})
    aws.fault("GetAccount", "hang")
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        c.get_account()
    aws.clear_faults()          # releases the hanging handler
    assert c.get_account()["SendQuota"]["MaxSendRate"] == 7.0


def test_request_time_skew_and_scope(aws):
    aws.set_clock_offset(600)
    with pytest.raises(ClientError) as e:
        assume(aws)
    assert code(e) == "RequestTimeTooSkewed"
    aws.set_clock_offset(0)
    # wrong signing region
    c = SESSION.create_client(
        "sts", endpoint_url=aws.endpoint, region_name="eu-west-1", verify=aws.ca,
        aws_access_key_id=GW_KEY, aws_secret_access_key=GW_SECRET, config=NO_RETRY)
    with pytest.raises(ClientError) as e:
        c.assume_role(RoleArn=ROLE, RoleSessionName="s1", ExternalId=EXTERNAL_ID)
    assert code(e) == "SignatureDoesNotMatch"


def _signed_raw_request(aws, body, tamper=None):
    """Sign a SendEmail request with botocore's signer, optionally alter it
    afterwards, and send it with http.client over the test CA."""
    import http.client
    import json
    import ssl
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    host = "127.0.0.1:%d" % aws.port
    req = AWSRequest(method="POST", url="https://%s/v2/email/outbound-emails" % host,
                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(GW_KEY, GW_SECRET), "ses", "us-east-1").add_auth(req)
    headers = dict(req.headers.items())
    data = req.body
    if tamper:
        data = tamper(data)
    conn = http.client.HTTPSConnection("127.0.0.1", aws.port, timeout=5,
                                       context=ssl.create_default_context(cafile=aws.ca))
    try:
        conn.request("POST", "/v2/email/outbound-emails", body=data, headers=headers)
        r = conn.getresponse()
        return r.status, r.getheader("x-amzn-ErrorType"), r.read()
    finally:
        conn.close()


def test_signature_covers_body(aws):
    aws.configure({"static_keys": {GW_KEY: {"secret": GW_SECRET, "account": ACCOUNT}}})
    body = {"Destination": {"ToAddresses": ["bob@dest.example"]},
            "Content": {"Raw": {"Data": base64.b64encode(RAW).decode()}}}
    assert _signed_raw_request(aws, body)[0] == 200
    status, etype, _ = _signed_raw_request(aws, body, tamper=lambda d: d.replace(b"bob@", b"eve@"))
    assert (status, etype) == (403, "SignatureDoesNotMatch")
    assert [m["recipients"] for m in aws.messages()] == [["bob@dest.example"]]


def test_server_exits_when_stdin_closes():
    d = AwsDouble().start()
    try:
        d.proc.stdin.close()
        assert d.proc.wait(5) == 0
        assert not os.path.exists(d.ca)
    finally:
        d.stop()


# ---------------------------------------------------------------- web identity, IMDS, container

def test_web_identity_unsigned(aws):
    aws.add_web_identity_token("wi-token-example-0001", ROLE_NOEXT)
    # The operation is unsigned in botocore's model; the fake keys are never used.
    c = client(aws, "sts", "AKIAUNUSEDEXAMPLE000", "unused")
    creds = c.assume_role_with_web_identity(RoleArn=ROLE_NOEXT, RoleSessionName="ci-1",
                                            WebIdentityToken="wi-token-example-0001")["Credentials"]
    rec = aws.credentials()[creds["AccessKeyId"]]
    assert rec["issued_by"] == "AssumeRoleWithWebIdentity" and rec["role_arn"] == ROLE_NOEXT
    [call] = aws.calls("AssumeRoleWithWebIdentity")["calls"]
    assert call["access_key"] is None and call["status"] == 200
    assert ses(aws, creds).get_account()["SendingEnabled"] is True
    with pytest.raises(ClientError) as e:
        c.assume_role_with_web_identity(RoleArn=ROLE_NOEXT, RoleSessionName="ci-1",
                                        WebIdentityToken="not-configured-token")
    assert code(e) == "InvalidIdentityToken"
    with pytest.raises(ClientError) as e:
        c.assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName="ci-1",
                                        WebIdentityToken="wi-token-example-0001")
    assert code(e) == "AccessDenied"


def test_imds_with_botocore_fetcher(aws):
    from botocore.utils import InstanceMetadataFetcher
    aws.set_imds_role(ROLE)
    try:
        f = InstanceMetadataFetcher(timeout=2, num_attempts=1, base_url=aws.metadata_endpoint + "/")
        got = f.retrieve_iam_role_credentials()
    finally:
        aws.set_imds_role(None)
    assert got["role_name"] == "sesgate-sender" and got["access_key"].startswith("ASIA")
    assert aws.credentials()[got["access_key"]]["issued_by"] == "IMDS"
    ops = [(c["operation"], c["method"]) for c in aws.calls()["calls"]]
    assert ops[0] == ("IMDSToken", "PUT")          # IMDSv2: token first
    creds = {"AccessKeyId": got["access_key"], "SecretAccessKey": got["secret_key"],
             "SessionToken": got["token"]}
    assert ses(aws, creds).get_account()["SendQuota"]["MaxSendRate"] == 7.0


def test_container_with_botocore_fetcher(aws):
    from botocore.utils import ContainerMetadataFetcher
    aws.set_container_role(ROLE, auth="Bearer container-token-example")
    try:
        f = ContainerMetadataFetcher(sleep=lambda _: None)
        got = f.retrieve_full_uri(aws.container_url,
                                  headers={"Authorization": "Bearer container-token-example"})
        with pytest.raises(Exception):
            f.retrieve_full_uri(aws.container_url, headers={"Authorization": "Bearer wrong"})
    finally:
        aws.set_container_role(None)
    assert aws.credentials()[got["AccessKeyId"]]["issued_by"] == "Container"
    creds = {"AccessKeyId": got["AccessKeyId"], "SecretAccessKey": got["SecretAccessKey"],
             "SessionToken": got["Token"]}
    assert ses(aws, creds).get_account()["SendingEnabled"] is True
