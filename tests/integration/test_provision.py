"""Tenant onboarding end to end: sesgatectl tenant add --email -> the
provisioning thread -> Organizations, IAM, STS and SES v2 of the AWS double
(every request's signature checked by botocore) -> tenant active -> mail
held during provisioning is delivered through the new account's own
least-privilege sending role."""
import base64
import json
import signal
import smtplib
import subprocess
import time

import pytest

from conftest import SESGATECTL, simple_message, wait_for

MGMT = "999999999999"
MGMT_ROLE = "arn:aws:iam::%s:role/sesgate-provisioner" % MGMT
GW_PRINCIPAL = "arn:aws:iam::000000000000:user/gateway"
OU_PROD = "ou-ab12-prod0001"
OU_SANDBOX = "ou-ab12-sbox0001"
TOPIC = "arn:aws:sns:us-east-1:%s:sesgate-events" % MGMT

STEPS = ["management_access", "create_account", "wait_account", "move_account",
         "member_access", "sending_role", "configuration_set", "event_destination",
         "identities", "verify_identities", "production_access", "activate"]


@pytest.fixture
def org(aws):
    aws.add_role(MGMT_ROLE, account=MGMT)
    aws.add_ou("production", OU_PROD)
    aws.add_ou("sandbox", OU_SANDBOX)
    return aws


def prov_opts(**extra):
    o = {
        "management_role_arn": MGMT_ROLE,
        "gateway_principal_arn": GW_PRINCIPAL,
        "ou_production": OU_PROD,
        "ou_sandbox": OU_SANDBOX,
        "sns_topic_arn": TOPIC,
        "provision_poll": "200ms",
        "provision_lease": "6s",
        "production_website_url": "https://acme.example",
        "production_use_case": '"Transactional mail of the customers of acme"',
    }
    o.update(extra)
    return o


def tenant_show(gw, name):
    _, t = gw.ctl("tenant", "show", name)
    return t


def state_of(gw, name):
    return tenant_show(gw, name)["state"]


def add_tenant(gw, name="acme", email="root+acme@acme.example", domains=("acme.example",),
               extra=()):
    args = ["tenant", "add", name, "--email", email]
    for d in domains:
        args += ["--domain", d]
    gw.ctl(*(args + list(extra)))
    _, cred = gw.ctl("cred", "add", name)
    return cred


def send(gw, cred, frm, rcpts, msg):
    s = smtplib.SMTP("127.0.0.1", gw.port, timeout=30)
    s.ehlo("client.example")
    s.login(cred["username"], cred["password"])
    s.sendmail(frm, rcpts, msg.encode())
    s.quit()


def accounts(aws):
    return [a for a in aws.orgs_state()["accounts"] if a["Id"] != MGMT]


def test_full_onboarding_then_mail_flows(delivery, org, redis):
    gw = delivery(**prov_opts())
    cred = add_tenant(gw)
    assert state_of(gw, "acme") == "provisioning"
    # mail during provisioning is accepted and held, never sent elsewhere
    send(gw, cred, "app@acme.example", ["held@dest.example"], simple_message(frm="app@acme.example"))
    assert wait_for(lambda: state_of(gw, "acme") == "active", timeout=60), \
        json.dumps(tenant_show(gw, "acme").get("provisioning"), indent=1)
    t = tenant_show(gw, "acme")
    steps = {s["name"]: s["state"] for s in t["provisioning"]["steps"]}
    assert all(steps[s] == "done" for s in STEPS), steps
    acct = t["aws_account_id"]
    assert len(acct) == 12 and acct != MGMT
    # exactly one account, with the tenant's e-mail, in the production OU
    accs = accounts(org)
    assert [a["Email"] for a in accs] == ["root+acme@acme.example"]
    orgs = org.orgs_state()
    ou = [o for o in orgs["ous"] if o["Id"] == OU_PROD][0]
    assert acct in [a if isinstance(a, str) else a.get("Id") for a in ou["children"]["accounts"]]
    # least-privilege sending role trusting the gateway with an ExternalId
    roles = org.iam_state(acct)["roles"]
    send_role = [r for r in roles if r["RoleName"] == "sesgate-sender"][0]
    assert t["role_arn"] == send_role["Arn"]
    trust = json.dumps(send_role["AssumeRolePolicyDocument"])
    assert GW_PRINCIPAL in trust and t["external_id"] in trust
    pol = json.dumps(send_role["policies"])
    assert "ses:SendEmail" in pol and "ses:GetAccount" in pol
    assert "iam:" not in pol and "ses:*" not in pol
    # SES: configuration set with the SNS destination, verified DKIM identity,
    # production access requested
    ses = org.ses_state(acct)["accounts"][acct]
    assert "sesgate" in json.dumps(ses["configuration_sets"])
    assert TOPIC in json.dumps(ses["configuration_sets"])
    assert "acme.example" in json.dumps(ses["identities"])
    assert ses["details"]["MailType"] == "TRANSACTIONAL"
    assert ses["details"]["WebsiteURL"] == "https://acme.example"
    assert ses["details"]["UseCaseDescription"] == "Transactional mail of the customers of acme"
    assert t["configuration_set"] == "sesgate"
    # the held message went out through the new account's sending role
    msgs = wait_for(lambda: org.messages(acct), timeout=30)
    assert len(msgs) == 1
    m = msgs[0]
    assert m["role_arn"] == t["role_arn"] and m["recipients"] == ["held@dest.example"]
    assert m["configuration_set"] == "sesgate"
    # DNS records to publish
    out = subprocess.run([SESGATECTL, "-s", gw.sock, "tenant", "dns", "acme"],
                         capture_output=True, text=True, timeout=30).stdout
    assert out.count("._domainkey.acme.example. CNAME") == 3 or \
        out.count("._domainkey.acme.example") == 3, out
    assert "v=spf1" in out and "_dmarc.acme.example" in out
    human = subprocess.run([SESGATECTL, "-s", gw.sock, "tenant", "show", "acme"],
                           capture_output=True, text=True, timeout=30).stdout
    for s in STEPS:
        assert s in human
    assert "gatewaySecret" not in gw.read_log()


def test_sandbox_tier_skips_production_access(delivery, org):
    gw = delivery(**prov_opts())
    add_tenant(gw, extra=["--tier", "sandbox"])
    assert wait_for(lambda: state_of(gw, "acme") == "active", timeout=60)
    t = tenant_show(gw, "acme")
    steps = {s["name"]: s["state"] for s in t["provisioning"]["steps"]}
    assert steps["production_access"] == "skipped"
    acct = t["aws_account_id"]
    assert not org.ses_state(acct)["accounts"][acct].get("details")
    ou = [o for o in org.orgs_state()["ous"] if o["Id"] == OU_SANDBOX][0]
    assert acct in json.dumps(ou["children"])


@pytest.mark.parametrize("step", STEPS[:-1])
def test_kill9_after_each_step_resumes_with_one_account(make_gateway, delivery, org, step):
    gw = delivery(env_extra={"SESGATE_TEST_PROV_CRASH_AFTER": step}, **prov_opts())
    add_tenant(gw)
    assert wait_for(lambda: gw.proc.poll() is not None, timeout=60), "no crash after " + step
    assert gw.proc.returncode == -signal.SIGKILL
    gw.proc = None
    gw2 = delivery(**prov_opts())
    assert wait_for(lambda: state_of(gw2, "acme") == "active", timeout=60), \
        json.dumps(tenant_show(gw2, "acme").get("provisioning"), indent=1)
    assert len(accounts(org)) == 1
    creates = org.calls("CreateAccount")["counts"].get("CreateAccount", 0)
    assert creates == 1


@pytest.mark.parametrize("reason", ["ACCOUNT_LIMIT_EXCEEDED", "EMAIL_ALREADY_EXISTS"])
def test_account_creation_failure_reaches_admin_then_retry(delivery, org, reason):
    org.fail_email("root+acme@acme.example", reason)
    gw = delivery(**prov_opts())
    add_tenant(gw)
    assert wait_for(lambda: state_of(gw, "acme") == "failed", timeout=60)
    t = tenant_show(gw, "acme")
    failed = [s for s in t["provisioning"]["steps"] if s["state"] == "failed"]
    assert failed and failed[0]["name"] == "create_account" and reason in failed[0]["error"]
    assert reason in t["paused_reason"]
    human = subprocess.run([SESGATECTL, "-s", gw.sock, "tenant", "show", "acme"],
                           capture_output=True, text=True, timeout=30).stdout
    assert reason in human
    # the cause is fixed (limit raised, address freed); the admin resumes
    org.fail_email("root+acme@acme.example", None)
    gw.ctl("tenant", "retry", "acme")
    assert wait_for(lambda: state_of(gw, "acme") == "active", timeout=60)
    assert len(accounts(org)) == 1


def test_throttling_and_concurrent_modification_retried(delivery, org):
    org.fault("CreateAccount", "throttle", count=1)
    org.fault("MoveAccount", "error", count=2, status=400, code="ConcurrentModificationException",
              message="try again later")
    org.fault("CreateRole", "error500", count=1)
    gw = delivery(**prov_opts())
    add_tenant(gw)
    assert wait_for(lambda: state_of(gw, "acme") == "active", timeout=90), \
        json.dumps(tenant_show(gw, "acme").get("provisioning"), indent=1)
    assert len(accounts(org)) == 1
    assert "provision_retry" in gw.read_log()


def test_adopt_existing_account(delivery, org):
    # an account made earlier (here: by a first tenant that was then deleted)
    gw = delivery(**prov_opts())
    add_tenant(gw, name="first", email="root+first@acme.example", domains=("first.example",))
    assert wait_for(lambda: state_of(gw, "first") == "active", timeout=60)
    acct = tenant_show(gw, "first")["aws_account_id"]
    gw.ctl("tenant", "delete", "first", "--force")
    gw.ctl("tenant", "add", "second", "--account-id", acct, "--domain", "second.example")
    assert wait_for(lambda: state_of(gw, "second") == "active", timeout=60)
    t = tenant_show(gw, "second")
    steps = {s["name"]: s["state"] for s in t["provisioning"]["steps"]}
    assert steps["create_account"] == "skipped" and steps["move_account"] == "skipped"
    assert t["aws_account_id"] == acct
    assert len(accounts(org)) == 1


def test_tempfail_mode_answers_451_while_provisioning(delivery, org):
    org.fault("CreateAccount", "hang", count=None, max_seconds=30)
    gw = delivery(provisioning_mail="tempfail", **prov_opts())
    cred = add_tenant(gw)
    s = smtplib.SMTP("127.0.0.1", gw.port, timeout=30)
    s.ehlo("client.example")
    s.login(cred["username"], cred["password"])
    code, text = s.mail("app@acme.example")
    assert code == 451 and b"being set up" in text
    s.quit()
    org.clear_faults()


def test_two_instances_race_for_one_tenant(delivery, org):
    g1 = delivery(**prov_opts())
    g2 = delivery(**prov_opts())
    add_tenant(g1)
    assert wait_for(lambda: state_of(g1, "acme") == "active", timeout=60)
    assert len(accounts(org)) == 1
    assert org.calls("CreateAccount")["counts"].get("CreateAccount", 0) == 1
    logs = g1.read_log() + g2.read_log()
    assert logs.count("tenant_active") == 1


def test_provisioning_refused_when_not_configured(gateway):
    rc, out = gateway.ctl("tenant", "add", "x", "--email", "root@x.example", "--domain",
                          "x.example", check=False)
    assert rc != 0 and "not configured" in json.dumps(out)


def test_bad_tenant_add_arguments(delivery, org):
    gw = delivery(**prov_opts())
    for args, want in [
        (["--email", "nope", "--domain", "a.example"], "e-mail"),
        (["--email", "r@a.example", "--domain", "a.example", "--tier", "gold"], "tier"),
        (["--account-id", "123", "--domain", "a.example"], "12 digits"),
        (["--email", "r@a.example"], "domain"),
    ]:
        rc, out = gw.ctl("tenant", "add", "t1", *args, check=False)
        assert rc != 0 and want in json.dumps(out), (args, out)
