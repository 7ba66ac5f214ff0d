"""Tests of the AWS test double (tests/awsdouble) itself, driven by botocore's
own clients.  They do not use the sesgate binary or the daemon fixtures."""
import base64
import datetime
import json
import os
import re
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
MGMT = "999999999999"
PROVISIONER = "arn:aws:iam::999999999999:role/sesgate-provisioner"
GW_ARN = "arn:aws:iam::000000000000:user/gateway"

RAW = (b"From: alice@acme.example\r\nTo: bob@dest.example\r\nSubject: hi\r\n"
       b"Message-ID: <1@acme.example>\r\n\r\nhello \xc3\xa9\r\n.dot line\r\n\r\n")

SESSION = botocore.session.get_session()   # one session: service models load once

NO_RETRY = Config(retries={"max_attempts": 0}, connect_timeout=5, read_timeout=5)


@pytest.fixture(scope="module")
def aws():
    d = AwsDouble(config={
        "static_keys": {GW_KEY: {"secret": GW_SECRET}},
        "roles": {ROLE: {"external_id": EXTERNAL_ID, "account": ACCOUNT},
                  ROLE_NOEXT: {"external_id": None},
                  PROVISIONER: {"external_id": None}},
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


# ---------------------------------------------------------------- provisioning: Organizations, IAM, SES admin

def status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def temp_client(aws, service, creds):
    return client(aws, service, creds["AccessKeyId"], creds["SecretAccessKey"],
                  creds["SessionToken"])


def provisioner(aws):
    """Credentials of the management account's provisioning role (gateway key → AssumeRole)."""
    return sts(aws).assume_role(RoleArn=PROVISIONER, RoleSessionName="sesgate-prov")["Credentials"]


def orgs(aws, creds=None):
    return temp_client(aws, "organizations", creds or provisioner(aws))


def create_member(aws, org, email, name="tenant", polls=2, **kw):
    """CreateAccount and poll DescribeCreateAccountStatus until it is done;
    returns the final CreateAccountStatus."""
    st = org.create_account(Email=email, AccountName=name, **kw)["CreateAccountStatus"]
    for _ in range(polls):
        st = org.describe_create_account_status(CreateAccountRequestId=st["Id"])["CreateAccountStatus"]
    return st


def member_admin(aws, prov, account_id, role="OrganizationAccountAccessRole"):
    """Chain from the provisioner into the member account's admin role."""
    return temp_client(aws, "sts", prov).assume_role(
        RoleArn="arn:aws:iam::%s:role/%s" % (account_id, role),
        RoleSessionName="sesgate-setup")["Credentials"]


def trust_policy(principal=GW_ARN, external_id=EXTERNAL_ID):
    st = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    if external_id is not None:
        st["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return json.dumps({"Version": "2012-10-17", "Statement": [st]})


def ses_policy(*actions):
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]})


@pytest.fixture
def config_restore(aws):
    """Lets a test change config keys; puts the old values back afterwards."""
    before = aws.admin("GET", "/admin/config")
    yield
    after = aws.admin("GET", "/admin/config")
    undo = {}
    for k, v in before.items():
        if k in ("static_keys", "roles", "accounts", "web_identity_tokens", "fail_emails", "ous"):
            undo[k] = {n: v.get(n) for n in set(v) | set(after[k])}
        else:
            undo[k] = v
    aws.configure(undo)


@pytest.fixture
def member(aws):
    """A fresh member account: (provisioner creds, account id, admin creds in it)."""
    prov = provisioner(aws)
    st = create_member(aws, orgs(aws, prov), "tenant-acme@mail.example", "acme")
    assert st["State"] == "SUCCEEDED"
    return prov, st["AccountId"], member_admin(aws, prov, st["AccountId"])


def test_orgs_create_account_polls_until_succeeded(aws):
    prov = provisioner(aws)
    org = orgs(aws, prov)
    st = org.create_account(Email="tenant-a@mail.example", AccountName="tenant a",
                            Tags=[{"Key": "tenant", "Value": "a"}])["CreateAccountStatus"]
    assert re.fullmatch(r"car-[0-9a-f]{32}", st["Id"])
    assert st["State"] == "IN_PROGRESS" and st["AccountName"] == "tenant a"
    assert isinstance(st["RequestedTimestamp"], datetime.datetime)
    assert "AccountId" not in st
    first = org.describe_create_account_status(CreateAccountRequestId=st["Id"])["CreateAccountStatus"]
    assert first["State"] == "IN_PROGRESS"
    done = org.describe_create_account_status(CreateAccountRequestId=st["Id"])["CreateAccountStatus"]
    assert done["State"] == "SUCCEEDED" and re.fullmatch(r"\d{12}", done["AccountId"])
    assert "CompletedTimestamp" in done and "FailureReason" not in done
    new = done["AccountId"]
    accounts = {a["Id"]: a for a in org.list_accounts()["Accounts"]}
    assert set(accounts) == {MGMT, new}
    assert accounts[new]["Email"] == "tenant-a@mail.example"
    assert accounts[new]["Name"] == "tenant a" and accounts[new]["Status"] == "ACTIVE"
    assert accounts[new]["Arn"].endswith("/" + new)
    assert org.list_create_account_status(States=["SUCCEEDED"])["CreateAccountStatuses"][0]["Id"] == st["Id"]
    assert org.list_create_account_status(States=["IN_PROGRESS"])["CreateAccountStatuses"] == []
    with pytest.raises(ClientError) as e:
        org.describe_create_account_status(CreateAccountRequestId="car-" + "0" * 32)
    assert code(e) == "CreateAccountStatusNotFoundException" and status(e) == 400
    state = aws.orgs_state()
    [req] = state["create_requests"]
    assert req["State"] == "SUCCEEDED" and req["Tags"] == [{"Key": "tenant", "Value": "a"}]
    assert new in state["root"]["children"]["accounts"]

    # role chaining into the new account's OrganizationAccountAccessRole
    admin = member_admin(aws, prov, new)
    assert aws.credentials()[admin["AccessKeyId"]]["account"] == new
    role = temp_client(aws, "iam", admin).get_role(RoleName="OrganizationAccountAccessRole")["Role"]
    assert role["Arn"] == "arn:aws:iam::%s:role/OrganizationAccountAccessRole" % new
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == \
        {"AWS": "arn:aws:iam::%s:root" % MGMT}
    # the member's SES account starts in the sandbox
    acct = temp_client(aws, "sesv2", admin).get_account()
    assert acct["SendQuota"]["MaxSendRate"] == 1.0 and acct["SendQuota"]["Max24HourSend"] == 200.0
    assert acct["ProductionAccessEnabled"] is False


def test_orgs_only_for_management_account(aws, config_restore):
    for c in (client(aws, "organizations", GW_KEY, GW_SECRET),      # account 000000000000
              temp_client(aws, "organizations", assume(aws))):         # role in 111122223333
        with pytest.raises(ClientError) as e:
            c.list_accounts()
        assert code(e) == "AccessDeniedException" and status(e) == 400
    # a static key whose ARN is in the management account may call it
    aws.add_static_key("AKIAMANAGEMENT000001", "mgmt-secret", arn="arn:aws:iam::%s:user/admin" % MGMT)
    c = client(aws, "organizations", "AKIAMANAGEMENT000001", "mgmt-secret")
    assert [a["Id"] for a in c.list_accounts()["Accounts"]] == [MGMT]
    # the gateway key itself may not assume a member account's admin role
    st = create_member(aws, c, "tenant-b@mail.example")
    with pytest.raises(ClientError) as e:
        sts(aws).assume_role(RoleArn="arn:aws:iam::%s:role/OrganizationAccountAccessRole"
                             % st["AccountId"], RoleSessionName="s1")
    assert code(e) == "AccessDenied"
    # role chaining is capped at one hour
    with pytest.raises(ClientError) as e:
        temp_client(aws, "sts", provisioner(aws)).assume_role(
            RoleArn="arn:aws:iam::%s:role/OrganizationAccountAccessRole" % st["AccountId"],
            RoleSessionName="s1", DurationSeconds=7200)
    assert code(e) == "ValidationError"


def test_orgs_create_account_failures(aws, config_restore):
    org = orgs(aws)
    aws.fail_email("taken@mail.example")
    st = create_member(aws, org, "taken@mail.example")
    assert st["State"] == "FAILED" and st["FailureReason"] == "EMAIL_ALREADY_EXISTS"
    assert "AccountId" not in st
    # the same email as an existing account
    assert create_member(aws, org, "dup@mail.example")["State"] == "SUCCEEDED"
    st = create_member(aws, org, "DUP@mail.example")
    assert (st["State"], st["FailureReason"]) == ("FAILED", "EMAIL_ALREADY_EXISTS")
    # account limit (the management account counts)
    aws.configure({"account_limit": 2, "create_account_polls": 0})
    st = org.create_account(Email="third@mail.example", AccountName="x")["CreateAccountStatus"]
    assert st["State"] == "IN_PROGRESS"
    st = org.describe_create_account_status(CreateAccountRequestId=st["Id"])["CreateAccountStatus"]
    assert (st["State"], st["FailureReason"]) == ("FAILED", "ACCOUNT_LIMIT_EXCEEDED")
    failed = org.list_create_account_status(States=["FAILED"])["CreateAccountStatuses"]
    assert len(failed) == 3
    assert len(org.list_accounts()["Accounts"]) == 2
    # synchronous validation
    for kw in ({"Email": "no-at-sign.example"}, {"Email": "x" * 60 + "@mail.example"},
               {"Email": "ok@mail.example", "AccountName": "n" * 51},
               {"Email": "ok@mail.example", "RoleName": "bad role"},
               {"Email": "ok@mail.example", "Tags": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]}):
        args = {"AccountName": "name"}
        args.update(kw)
        with pytest.raises(ClientError) as e:
            org.create_account(**args)
        assert code(e) == "InvalidInputException" and status(e) == 400
        assert e.value.response["Reason"]


def test_orgs_list_accounts_paging(aws, config_restore):
    aws.configure({"create_account_polls": 0})
    org = orgs(aws)
    ids = [org.create_account(Email="t%d@mail.example" % i, AccountName="t%d" % i)
           ["CreateAccountStatus"]["Id"] for i in range(4)]
    p1 = org.list_accounts(MaxResults=2)
    assert [a["Id"] for a in p1["Accounts"]][0] == MGMT and len(p1["Accounts"]) == 2
    p2 = org.list_accounts(MaxResults=2, NextToken=p1["NextToken"])
    p3 = org.list_accounts(MaxResults=2, NextToken=p2["NextToken"])
    assert len(p3["Accounts"]) == 1 and "NextToken" not in p3
    seen = [a["Email"] for p in (p1, p2, p3) for a in p["Accounts"]]
    assert seen[1:] == ["t%d@mail.example" % i for i in range(4)]
    # botocore's own paginator agrees
    pages = list(org.get_paginator("list_accounts").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["Accounts"]) for p in pages] == [3, 2]
    statuses = list(org.get_paginator("list_create_account_status").paginate(
        States=["SUCCEEDED"], PaginationConfig={"PageSize": 1}))
    assert [p["CreateAccountStatuses"][0]["Id"] for p in statuses] == ids
    other_op = org.list_create_account_status(MaxResults=1)["NextToken"]
    for kw in ({"NextToken": "bogus"}, {"MaxResults": 21}, {"NextToken": other_op}):
        with pytest.raises(ClientError) as e:
            org.list_accounts(**kw)
        assert code(e) == "InvalidInputException"


def test_orgs_roots_ous_parents_move_account(aws, config_restore):
    aws.add_ou("tenants", "ou-abcd-11111111")
    org = orgs(aws)
    [root] = org.list_roots()["Roots"]
    assert re.fullmatch(r"r-[0-9a-z]{4}", root["Id"]) and root["Name"] == "Root"
    ous = org.list_organizational_units_for_parent(ParentId=root["Id"])["OrganizationalUnits"]
    assert [(o["Id"], o["Name"]) for o in ous] == [("ou-abcd-11111111", "tenants")]
    suspended = org.create_organizational_unit(ParentId=root["Id"], Name="suspended",
                                               Tags=[{"Key": "k", "Value": "v"}])["OrganizationalUnit"]
    assert re.fullmatch(r"ou-[0-9a-z]{4}-[0-9a-z]{8}", suspended["Id"])
    with pytest.raises(ClientError) as e:
        org.create_organizational_unit(ParentId=root["Id"], Name="suspended")
    assert code(e) == "DuplicateOrganizationalUnitException"
    with pytest.raises(ClientError) as e:
        org.create_organizational_unit(ParentId="ou-zzzz-00000000", Name="x")
    assert code(e) == "ParentNotFoundException"
    assert len(org.list_organizational_units_for_parent(ParentId=root["Id"])["OrganizationalUnits"]) == 2

    new = create_member(aws, org, "mv@mail.example")["AccountId"]
    assert org.list_parents(ChildId=new)["Parents"] == [{"Id": root["Id"], "Type": "ROOT"}]
    assert org.list_parents(ChildId=suspended["Id"])["Parents"] == [{"Id": root["Id"], "Type": "ROOT"}]
    with pytest.raises(ClientError) as e:
        org.list_parents(ChildId="123456789012")
    assert code(e) == "ChildNotFoundException"
    cases = (({"SourceParentId": "ou-abcd-11111111", "DestinationParentId": suspended["Id"]},
              "SourceParentNotFoundException"),
             ({"SourceParentId": root["Id"], "DestinationParentId": "ou-abcd-99999999"},
              "DestinationParentNotFoundException"),
             ({"AccountId": "123456789012", "SourceParentId": root["Id"],
               "DestinationParentId": "ou-abcd-11111111"}, "AccountNotFoundException"))
    for kw, want in cases:
        args = {"AccountId": new}
        args.update(kw)
        with pytest.raises(ClientError) as e:
            org.move_account(**args)
        assert code(e) == want and status(e) == 400
    org.move_account(AccountId=new, SourceParentId=root["Id"], DestinationParentId="ou-abcd-11111111")
    assert org.list_parents(ChildId=new)["Parents"] == \
        [{"Id": "ou-abcd-11111111", "Type": "ORGANIZATIONAL_UNIT"}]
    with pytest.raises(ClientError) as e:
        org.move_account(AccountId=new, SourceParentId="ou-abcd-11111111",
                         DestinationParentId="ou-abcd-11111111")
    assert code(e) == "DuplicateAccountException"
    org.tag_resource(ResourceId=new, Tags=[{"Key": "tenant", "Value": "mv"}])
    org.tag_resource(ResourceId=new, Tags=[{"Key": "tier", "Value": "gold"}])
    with pytest.raises(ClientError) as e:
        org.tag_resource(ResourceId="123456789012", Tags=[{"Key": "a", "Value": "b"}])
    assert code(e) == "TargetNotFoundException"
    state = aws.orgs_state()
    tenants = [o for o in state["ous"] if o["Id"] == "ou-abcd-11111111"][0]
    assert tenants["children"]["accounts"] == [new]
    acct = [a for a in state["accounts"] if a["Id"] == new][0]
    assert acct["ParentId"] == "ou-abcd-11111111"
    assert acct["Tags"] == [{"Key": "tenant", "Value": "mv"}, {"Key": "tier", "Value": "gold"}]
    # reset keeps config OUs but drops created ones and accounts
    aws.reset()
    state = aws.orgs_state()
    assert [o["Id"] for o in state["ous"]] == ["ou-abcd-11111111"]
    assert [a["Id"] for a in state["accounts"]] == [MGMT] and state["create_requests"] == []


def test_orgs_faults(aws):
    org = orgs(aws)
    aws.fault("CreateAccount", "error", status=400, code="ConcurrentModificationException")
    with pytest.raises(ClientError) as e:
        org.create_account(Email="f@mail.example", AccountName="f")
    assert code(e) == "ConcurrentModificationException" and status(e) == 400
    aws.fault("ListAccounts", "throttle")
    with pytest.raises(ClientError) as e:
        org.list_accounts()
    assert code(e) == "TooManyRequestsException" and status(e) == 400
    aws.fault("DescribeCreateAccountStatus", "error500")
    with pytest.raises(ClientError) as e:
        org.describe_create_account_status(CreateAccountRequestId="car-" + "1" * 32)
    assert code(e) == "ServiceException" and status(e) == 500
    assert aws.orgs_state()["create_requests"] == []
    assert org.list_accounts()["Accounts"]
    counts = aws.calls()["counts"]
    assert counts["CreateAccount"] == 1 and counts["ListAccounts"] == 2


def test_iam_create_role_and_assume_with_external_id(aws, member, config_restore):
    _, acct, admin = member
    iam = temp_client(aws, "iam", admin)
    role = iam.create_role(RoleName="sesgate-sender", AssumeRolePolicyDocument=trust_policy(),
                           Description="sesgate sending role", MaxSessionDuration=7200,
                           Tags=[{"Key": "tenant", "Value": "acme"}])["Role"]
    arn = "arn:aws:iam::%s:role/sesgate-sender" % acct
    assert role["Arn"] == arn and role["Path"] == "/" and role["RoleId"].startswith("AROA")
    assert isinstance(role["CreateDate"], datetime.datetime)
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"AWS": GW_ARN}
    got = iam.get_role(RoleName="sesgate-sender")["Role"]
    assert got["Tags"] == [{"Key": "tenant", "Value": "acme"}] and got["MaxSessionDuration"] == 7200
    with pytest.raises(ClientError) as e:
        iam.create_role(RoleName="SESGATE-sender", AssumeRolePolicyDocument=trust_policy())
    assert code(e) == "EntityAlreadyExists" and status(e) == 409
    with pytest.raises(ClientError) as e:
        iam.create_role(RoleName="broken", AssumeRolePolicyDocument="{not json")
    assert code(e) == "MalformedPolicyDocument" and status(e) == 400
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName="nope")
    assert code(e) == "NoSuchEntity" and status(e) == 404
    iam.put_role_policy(RoleName="sesgate-sender", PolicyName="send",
                        PolicyDocument=ses_policy("ses:SendEmail", "ses:GetAccount"))
    pol = iam.get_role_policy(RoleName="sesgate-sender", PolicyName="send")
    assert pol["PolicyDocument"]["Statement"][0]["Action"] == ["ses:SendEmail", "ses:GetAccount"]
    with pytest.raises(ClientError) as e:
        iam.get_role_policy(RoleName="sesgate-sender", PolicyName="other")
    assert code(e) == "NoSuchEntity"
    with pytest.raises(ClientError) as e:
        iam.put_role_policy(RoleName="nope", PolicyName="p", PolicyDocument=ses_policy("ses:*"))
    assert code(e) == "NoSuchEntity"
    [r] = [r for r in aws.iam_state(acct)["roles"] if r["RoleName"] == "sesgate-sender"]
    assert r["policies"]["send"]["Statement"][0]["Effect"] == "Allow"

    # the gateway key assumes it with the right ExternalId and sends
    creds = sts(aws).assume_role(RoleArn=arn, RoleSessionName="sesgate-acme", ExternalId=EXTERNAL_ID,
                                 DurationSeconds=7200)["Credentials"]
    assert send(ses(aws, creds))["MessageId"]
    assert aws.messages()[0]["account"] == acct and aws.messages()[0]["role_arn"] == arn
    for kw in ({"ExternalId": "wrong-id"}, {}):
        with pytest.raises(ClientError) as e:
            sts(aws).assume_role(RoleArn=arn, RoleSessionName="sesgate-acme", **kw)
        assert code(e) == "AccessDenied" and status(e) == 403
    with pytest.raises(ClientError) as e:     # MaxSessionDuration
        sts(aws).assume_role(RoleArn=arn, RoleSessionName="s1", ExternalId=EXTERNAL_ID,
                             DurationSeconds=10800)
    assert code(e) == "ValidationError"
    # another principal is refused, even with the right ExternalId
    aws.add_static_key("AKIAOTHERKEY00000001", "other", arn="arn:aws:iam::000000000000:user/other")
    with pytest.raises(ClientError) as e:
        sts(aws, "AKIAOTHERKEY00000001", "other").assume_role(
            RoleArn=arn, RoleSessionName="s1", ExternalId=EXTERNAL_ID)
    assert code(e) == "AccessDenied"
    # a list of principals, matching the role behind temporary credentials
    iam.create_role(RoleName="by-role", AssumeRolePolicyDocument=trust_policy(
        principal=["arn:aws:iam::000000000000:user/nobody", ROLE], external_id=["a1", "b2"]))
    c = temp_client(aws, "sts", assume(aws))
    assert c.assume_role(RoleArn="arn:aws:iam::%s:role/by-role" % acct, RoleSessionName="s1",
                         ExternalId="b2")["Credentials"]["AccessKeyId"]


def test_sending_role_without_ses_permission_gets_403(aws, member):
    _, acct, admin = member
    iam = temp_client(aws, "iam", admin)
    arn = "arn:aws:iam::%s:role/sesgate-sender" % acct
    iam.create_role(RoleName="sesgate-sender", AssumeRolePolicyDocument=trust_policy())
    creds = sts(aws).assume_role(RoleArn=arn, RoleSessionName="s1", ExternalId=EXTERNAL_ID)["Credentials"]
    c = ses(aws, creds)
    for call in (lambda: send(c), c.get_account):        # no inline policy at all
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDeniedException" and status(e) == 403
    iam.put_role_policy(RoleName="sesgate-sender", PolicyName="quota", PolicyDocument=ses_policy("ses:GetAccount"))
    assert c.get_account()["SendQuota"]["MaxSendRate"] == 1.0
    with pytest.raises(ClientError) as e:
        send(c)
    assert code(e) == "AccessDeniedException" and status(e) == 403
    iam.put_role_policy(RoleName="sesgate-sender", PolicyName="all", PolicyDocument=ses_policy("ses:*"))
    assert send(c)["MessageId"]
    assert len(aws.messages()) == 1
    # config roles are not policy-checked
    assert send(ses(aws, assume(aws)))["MessageId"]


def test_iam_faults_and_scope(aws, member):
    _, acct, admin = member
    iam = temp_client(aws, "iam", admin)
    aws.fault("CreateRole", "throttle")
    with pytest.raises(ClientError) as e:
        iam.create_role(RoleName="r1", AssumeRolePolicyDocument=trust_policy())
    assert code(e) == "Throttling" and status(e) == 400
    aws.fault("GetRole", "error", status=500, code="ServiceFailure")
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName="OrganizationAccountAccessRole")
    assert code(e) == "ServiceFailure" and status(e) == 500
    # roles live in the caller's account: the gateway key's account has none
    with pytest.raises(ClientError) as e:
        client(aws, "iam", GW_KEY, GW_SECRET).get_role(RoleName="OrganizationAccountAccessRole")
    assert code(e) == "NoSuchEntity"


def test_ses_configuration_set_and_event_destination(aws, member, config_restore):
    _, acct, admin = member
    c = temp_client(aws, "sesv2", admin)
    c.create_configuration_set(ConfigurationSetName="sesgate-acme",
                               Tags=[{"Key": "tenant", "Value": "acme"}],
                               DeliveryOptions={"TlsPolicy": "REQUIRE"})
    cs = c.get_configuration_set(ConfigurationSetName="sesgate-acme")
    assert cs["ConfigurationSetName"] == "sesgate-acme"
    assert cs["Tags"] == [{"Key": "tenant", "Value": "acme"}]
    assert cs["DeliveryOptions"] == {"TlsPolicy": "REQUIRE"}
    with pytest.raises(ClientError) as e:
        c.create_configuration_set(ConfigurationSetName="sesgate-acme")
    assert code(e) == "AlreadyExistsException" and status(e) == 400
    with pytest.raises(ClientError) as e:
        c.create_configuration_set(ConfigurationSetName="bad name!")
    assert code(e) == "BadRequestException"
    topic = "arn:aws:sns:us-east-1:%s:sesgate-events" % acct
    dest = {"Enabled": True, "MatchingEventTypes": ["BOUNCE", "COMPLAINT", "DELIVERY"],
            "SnsDestination": {"TopicArn": topic}}
    c.create_configuration_set_event_destination(
        ConfigurationSetName="sesgate-acme", EventDestinationName="sns", EventDestination=dest)
    got = c.get_configuration_set_event_destinations(ConfigurationSetName="sesgate-acme")
    assert got["EventDestinations"] == [{"Name": "sns", "Enabled": True,
                                         "MatchingEventTypes": ["BOUNCE", "COMPLAINT", "DELIVERY"],
                                         "SnsDestination": {"TopicArn": topic}}]
    with pytest.raises(ClientError) as e:
        c.create_configuration_set_event_destination(
            ConfigurationSetName="sesgate-acme", EventDestinationName="sns", EventDestination=dest)
    assert code(e) == "AlreadyExistsException"
    with pytest.raises(ClientError) as e:
        c.create_configuration_set_event_destination(
            ConfigurationSetName="missing", EventDestinationName="sns", EventDestination=dest)
    assert code(e) == "NotFoundException" and status(e) == 404
    with pytest.raises(ClientError) as e:
        c.create_configuration_set_event_destination(
            ConfigurationSetName="sesgate-acme", EventDestinationName="bad",
            EventDestination={"MatchingEventTypes": ["NOPE"], "SnsDestination": {"TopicArn": topic}})
    assert code(e) == "BadRequestException"
    for call in (lambda: c.get_configuration_set(ConfigurationSetName="missing"),
                 lambda: c.get_configuration_set_event_destinations(ConfigurationSetName="missing")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "NotFoundException"
    # per account: another account does not see it
    other = client(aws, "sesv2", GW_KEY, GW_SECRET)
    aws.configure({"static_keys": {GW_KEY: {"secret": GW_SECRET, "account": ACCOUNT}}})
    with pytest.raises(ClientError) as e:
        other.get_configuration_set(ConfigurationSetName="sesgate-acme")
    assert code(e) == "NotFoundException"
    state = aws.ses_state(acct)["accounts"][acct]
    assert state["configuration_sets"]["sesgate-acme"]["event_destinations"]["sns"]["Enabled"] is True
    aws.fault("CreateConfigurationSet", "throttle")
    with pytest.raises(ClientError) as e:
        c.create_configuration_set(ConfigurationSetName="other")
    assert code(e) == "TooManyRequestsException" and status(e) == 429


def test_ses_identity_verifies_after_polls(aws, member):
    _, acct, admin = member
    c = temp_client(aws, "sesv2", admin)
    c.create_configuration_set(ConfigurationSetName="sesgate-acme")
    r = c.create_email_identity(EmailIdentity="acme.example", ConfigurationSetName="sesgate-acme",
                                Tags=[{"Key": "tenant", "Value": "acme"}])
    assert r["IdentityType"] == "DOMAIN" and r["VerifiedForSendingStatus"] is False
    dkim = r["DkimAttributes"]
    assert dkim["SigningEnabled"] is True and dkim["Status"] == "PENDING"
    assert len(dkim["Tokens"]) == 3 and all(re.fullmatch(r"[a-z0-9]{32}", t) for t in dkim["Tokens"])
    g1 = c.get_email_identity(EmailIdentity="acme.example")
    assert g1["VerifiedForSendingStatus"] is False and g1["VerificationStatus"] == "PENDING"
    assert g1["ConfigurationSetName"] == "sesgate-acme"
    g2 = c.get_email_identity(EmailIdentity="acme.example")
    assert g2["VerifiedForSendingStatus"] is True and g2["VerificationStatus"] == "SUCCESS"
    assert g2["DkimAttributes"]["Status"] == "SUCCESS" and g2["DkimAttributes"]["Tokens"] == dkim["Tokens"]
    with pytest.raises(ClientError) as e:
        c.create_email_identity(EmailIdentity="ACME.example")
    assert code(e) == "AlreadyExistsException"
    with pytest.raises(ClientError) as e:
        c.create_email_identity(EmailIdentity="other.example", ConfigurationSetName="missing")
    assert code(e) == "NotFoundException"
    with pytest.raises(ClientError) as e:
        c.get_email_identity(EmailIdentity="missing.example")
    assert code(e) == "NotFoundException" and status(e) == 404
    # an email-address identity (its path parameter is URL-encoded), verified by the admin API
    r = c.create_email_identity(EmailIdentity="ops@beta.example")
    assert r["IdentityType"] == "EMAIL_ADDRESS"
    aws.verify_identity(acct, "ops@beta.example")
    assert c.get_email_identity(EmailIdentity="ops@beta.example")["VerifiedForSendingStatus"] is True
    ids = aws.ses_state(acct)["accounts"][acct]["identities"]
    assert ids["acme.example"]["verified"] and ids["ops@beta.example"]["verified"]
    with pytest.raises(Exception):
        aws.verify_identity(acct, "missing.example")


def test_send_requires_verified_identity_when_configured(aws, member, config_restore):
    _, acct, admin = member
    aws.configure({"require_verified_identity": True})
    c = temp_client(aws, "sesv2", admin)
    with pytest.raises(ClientError) as e:
        send(c)                                     # From: alice@acme.example
    assert code(e) == "MessageRejected" and "alice@acme.example" in e.value.response["Error"]["Message"]
    c.create_email_identity(EmailIdentity="acme.example")
    with pytest.raises(ClientError) as e:
        send(c)                                     # still pending
    assert code(e) == "MessageRejected"
    aws.verify_identity(acct, "acme.example")
    assert send(c)["MessageId"]
    with pytest.raises(ClientError) as e:           # FromEmailAddress wins over the header
        send(c, FromEmailAddress="bob@other.example")
    assert code(e) == "MessageRejected"
    assert len(aws.messages()) == 1


def test_put_account_details_raises_quota(aws, member, config_restore):
    _, acct, admin = member
    c = temp_client(aws, "sesv2", admin)
    details = {"MailType": "TRANSACTIONAL", "WebsiteURL": "https://acme.example",
               "UseCaseDescription": "password resets", "ContactLanguage": "EN"}
    with pytest.raises(ClientError) as e:
        c.put_account_details(**dict(details, MailType="BULK"))
    assert code(e) == "BadRequestException"
    aws.configure({"production_review_polls": 2})
    c.put_account_details(ProductionAccessEnabled=True, **details)
    with pytest.raises(ClientError) as e:
        c.put_account_details(ProductionAccessEnabled=True, **details)
    assert code(e) == "ConflictException" and status(e) == 409
    a1 = c.get_account()
    assert a1["ProductionAccessEnabled"] is False and a1["SendQuota"]["Max24HourSend"] == 200.0
    assert a1["Details"]["ReviewDetails"]["Status"] == "PENDING"
    assert a1["Details"]["MailType"] == "TRANSACTIONAL"
    a2 = c.get_account()
    assert a2["ProductionAccessEnabled"] is True
    assert a2["SendQuota"]["MaxSendRate"] == 14.0 and a2["SendQuota"]["Max24HourSend"] == 50000.0
    assert a2["Details"]["ReviewDetails"]["Status"] == "GRANTED"
    assert aws.ses_state(acct)["accounts"][acct]["settings"]["ProductionAccessEnabled"] is True
    # default production_review_polls 0: granted at once, with a configured quota
    aws.configure({"production_review_polls": 0, "production_quota": {"MaxSendRate": 50, "Max24HourSend": 1e6}})
    prov = provisioner(aws)
    other = create_member(aws, orgs(aws, prov), "beta@mail.example")["AccountId"]
    c2 = temp_client(aws, "sesv2", member_admin(aws, prov, other))
    c2.put_account_details(ProductionAccessEnabled=True, **details)
    assert c2.get_account()["SendQuota"] == {"Max24HourSend": 1e6, "MaxSendRate": 50.0,
                                             "SentLast24Hours": 0.0}


def test_new_services_refuse_bad_signatures(aws, member):
    prov, acct, admin = member
    bad = dict(admin, SecretAccessKey="not-the-secret")
    calls = (lambda: orgs(aws, dict(prov, SecretAccessKey="x")).list_accounts(),
             lambda: temp_client(aws, "iam", bad).get_role(RoleName="OrganizationAccountAccessRole"),
             lambda: temp_client(aws, "sesv2", bad).create_configuration_set(ConfigurationSetName="x"),
             lambda: temp_client(aws, "sesv2", bad).get_email_identity(EmailIdentity="a@b.example"))
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "SignatureDoesNotMatch" and status(e) == 403
    # IAM and Organizations are signed for us-east-1 only, whatever `regions` says
    for svc, call in (("iam", lambda c: c.get_role(RoleName="x")),
                      ("organizations", lambda c: c.list_roots())):
        c = SESSION.create_client(svc, endpoint_url=aws.endpoint, region_name="eu-west-1",
                                  verify=aws.ca, aws_access_key_id=prov["AccessKeyId"],
                                  aws_secret_access_key=prov["SecretAccessKey"],
                                  aws_session_token=prov["SessionToken"], config=NO_RETRY)
        with pytest.raises(ClientError) as e:
            call(c)
        assert code(e) == "SignatureDoesNotMatch"
    assert aws.ses_state(acct)["accounts"][acct]["configuration_sets"] == {}


def _raw_orgs_request(aws, creds, body, service="organizations", tamper=None):
    import http.client
    import ssl
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method="POST", url="https://127.0.0.1:%d/" % aws.port, data=body,
                     headers={"Content-Type": "application/x-amz-json-1.1",
                              "X-Amz-Target": "AWSOrganizationsV20161128.CreateAccount"})
    SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]),
              service, "us-east-1").add_auth(req)
    data = tamper(req.body) if tamper else req.body
    conn = http.client.HTTPSConnection("127.0.0.1", aws.port, timeout=5,
                                       context=ssl.create_default_context(cafile=aws.ca))
    try:
        conn.request("POST", "/", body=data, headers=dict(req.headers.items()))
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        conn.close()


def test_orgs_signature_covers_body_and_scope(aws):
    prov = provisioner(aws)
    body = json.dumps({"Email": "raw@mail.example", "AccountName": "raw"}).encode()
    st, out = _raw_orgs_request(aws, prov, body, tamper=lambda d: d.replace(b"raw@", b"evil@"))
    assert (st, out["__type"]) == (403, "SignatureDoesNotMatch")
    st, out = _raw_orgs_request(aws, prov, body, service="iam")
    assert (st, out["__type"]) == (403, "SignatureDoesNotMatch")
    assert aws.orgs_state()["create_requests"] == []
    st, out = _raw_orgs_request(aws, prov, body)
    assert st == 200 and out["CreateAccountStatus"]["State"] == "IN_PROGRESS"
