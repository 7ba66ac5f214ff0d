"""The gateway's own AWS identity (src/aws/creds.c) end to end: the sg-awsid
tool from the build directory resolves credentials through the standard chain
against the AWS test double (STS over HTTPS, IMDSv2 and container credentials
on its plain-HTTP metadata port) and proves them with a signed SES v2
GetAccount.  Every run is checked for sanitizer reports and for any secret
(secret keys, session tokens, web identity and container tokens) in what it
printed or logged."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import BUILD, free_port

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "awsdouble"))
from client import AwsDouble  # noqa: E402

SGAWSID = os.path.join(BUILD, "sg-awsid")

ACCOUNT = "111122223333"
ENV_KEY, ENV_SECRET = "AKIAENVEXAMPLE000001", "envSecretExample/abcdefghijklmnopqrstuvw"
FILE_KEY, FILE_SECRET = "AKIAFILEEXAMPLE00002", "fileSecretExample/bcdefghijklmnopqrstuvw"
OTHER_KEY, OTHER_SECRET = "AKIAOTHEREXAMPLE0003", "otherSecretExample/cdefghijklmnopqrstuvw"
CFG_KEY, CFG_SECRET = "AKIACONFIGEXAMPLE004", "configSecretExample/defghijklmnopqrstuvw"
ROLE_PROFILE = "arn:aws:iam::111122223333:role/sesgate-profile"
ROLE_CHAINED = "arn:aws:iam::111122223333:role/sesgate-chained"
ROLE_EXT = "arn:aws:iam::111122223333:role/sesgate-external"
ROLE_WEB = "arn:aws:iam::111122223333:role/sesgate-web"
ROLE_TASK = "arn:aws:iam::111122223333:role/sesgate-task"
ROLE_INSTANCE = "arn:aws:iam::111122223333:role/sesgate-instance"
EXTERNAL_ID = "sesgate-ext-id-example"
WEB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.webIdentityTokenExample.c2lnbmF0dXJl"
WEB_TOKEN2 = "eyJhbGciOiJSUzI1NiJ9.rotatedWebIdentityToken.c2lnbmF0dXJl"
CONTAINER_AUTH = "Bearer containerAuthTokenExample0123456789"

STATIC_SECRETS = [ENV_SECRET, FILE_SECRET, OTHER_SECRET, CFG_SECRET, WEB_TOKEN, WEB_TOKEN2,
                  CONTAINER_AUTH.split()[1], "envSessionTokenExample0123456789"]


@pytest.fixture(scope="module")
def double():
    d = AwsDouble(config={
        "static_keys": {k: {"secret": s, "account": ACCOUNT}
                        for k, s in ((ENV_KEY, ENV_SECRET), (FILE_KEY, FILE_SECRET),
                                     (OTHER_KEY, OTHER_SECRET), (CFG_KEY, CFG_SECRET))},
        "roles": {ROLE_PROFILE: {"external_id": None}, ROLE_CHAINED: {"external_id": None},
                  ROLE_EXT: {"external_id": EXTERNAL_ID}, ROLE_WEB: {"external_id": None},
                  ROLE_TASK: {"external_id": None}, ROLE_INSTANCE: {"external_id": None}},
        "web_identity_tokens": {WEB_TOKEN: ROLE_WEB, WEB_TOKEN2: ROLE_WEB},
        "imds_role": ROLE_INSTANCE,
        "container_role": ROLE_TASK,
        "container_auth": CONTAINER_AUTH,
    })
    d.start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def aws(double):
    double.reset()
    double.configure({"credential_lifetime": None, "imds_role": ROLE_INSTANCE,
                      "container_role": ROLE_TASK, "container_auth": CONTAINER_AUTH})
    yield double
    double.clear_faults()


class Env:
    """Environment for one sg-awsid run: HOME in tmp (so ~/.aws is ours), the
    double as every endpoint, IMDS off unless a test turns it on."""

    def __init__(self, aws, tmp):
        self.aws = aws
        self.tmp = str(tmp)
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(os.path.join(self.home, ".aws"), exist_ok=True)
        self.vars = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home,
                     "AWS_CA_BUNDLE": aws.ca, "AWS_REGION": "us-east-1",
                     "AWS_ENDPOINT_URL": aws.endpoint, "AWS_EC2_METADATA_DISABLED": "true"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                self.vars[k] = os.environ[k]

    def write(self, name, text):
        path = os.path.join(self.tmp, name) if not name.startswith("~/") else \
            os.path.join(self.home, name[2:])
        with open(path, "w") as f:
            f.write(text)
        return path

    def credentials(self, text):
        return self.write("~/.aws/credentials", text)

    def config(self, text):
        return self.write("~/.aws/config", text)

    def set(self, **kv):
        for k, v in kv.items():
            if v is None:
                self.vars.pop(k, None)
            else:
                self.vars[k] = v

    # -------------------------------------------------------------- running
    def _check(self, out, err):
        text = out + err
        for s in STATIC_SECRETS:
            assert s not in text, "a secret was printed or logged"
        for ak, c in self.aws.credentials().items():
            for s in (c["secret"], c["token"]):
                assert s not in text and s[:20] not in text, "a temporary secret was printed"
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            assert bad not in err, err[-4000:]

    def run(self, *args, timeout=60):
        assert os.access(SGAWSID, os.X_OK), "%s not built (noinst program sg-awsid)" % SGAWSID
        t0 = time.monotonic()
        p = subprocess.run([SGAWSID] + list(args), env=self.vars, capture_output=True, text=True,
                           timeout=timeout)
        self.elapsed = time.monotonic() - t0
        self._check(p.stdout, p.stderr)
        lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
        return p.returncode, lines, p.stderr

    def ok(self, source, *args):
        """Run, expect success from @source and a 200 GetAccount; return the identity line."""
        rc, lines, err = self.run(*args)
        assert rc == 0, err
        ident = lines[0]
        assert ident["source"] == source, (ident, err)
        assert ident["region"] == "us-east-1"
        assert ident["ses_endpoint"] == self.aws.endpoint
        assert ident["sts_endpoint"] == self.aws.endpoint
        assert "secret" not in json.dumps(ident).lower()
        assert lines[1] == {"status": 200, "error": None, "retried": False}
        # The log names the source and the access key id, nothing more.
        assert "aws_credentials source=%s access_key_id=%s" % (source, ident["access_key_id"]) in err
        return ident

    def fails(self, *needles):
        rc, lines, err = self.run()
        assert rc == 3, (rc, lines, err)
        assert lines == []
        for n in needles:
            assert n in err, err
        return err


@pytest.fixture
def env(aws, tmp_path):
    return Env(aws, tmp_path)


def temp(aws, ak):
    return aws.credentials()[ak]


# ------------------------------------------------------------------ environment

def test_env_keys(env, aws):
    env.set(AWS_ACCESS_KEY_ID=ENV_KEY, AWS_SECRET_ACCESS_KEY=ENV_SECRET)
    ident = env.ok("env")
    assert ident["access_key_id"] == ENV_KEY and ident["expiration"] is None
    calls = aws.calls("GetAccount")["calls"]
    assert [(c["access_key"], c["status"]) for c in calls] == [(ENV_KEY, 200)]


def test_env_session_token_not_printed(env, aws):
    # The token is sent (signed) but shows up nowhere in output or logs
    # (Env.run checks every run for every secret).
    env.set(AWS_ACCESS_KEY_ID=ENV_KEY, AWS_SECRET_ACCESS_KEY=ENV_SECRET,
            AWS_SESSION_TOKEN="envSessionTokenExample0123456789")
    rc, lines, err = env.run()
    assert lines[0]["source"] == "env" and lines[0]["access_key_id"] == ENV_KEY


def test_env_partial_keys(env):
    env.set(AWS_ACCESS_KEY_ID=ENV_KEY)
    env.fails("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set")


def test_env_wins_over_files(env):
    env.credentials("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    % (FILE_KEY, FILE_SECRET))
    env.set(AWS_ACCESS_KEY_ID=ENV_KEY, AWS_SECRET_ACCESS_KEY=ENV_SECRET)
    assert env.ok("env")["access_key_id"] == ENV_KEY


# ------------------------------------------------------------------ shared files

def test_shared_credentials_default_profile(env):
    env.credentials("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    "[other]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    % (FILE_KEY, FILE_SECRET, OTHER_KEY, OTHER_SECRET))
    assert env.ok("shared-credentials")["access_key_id"] == FILE_KEY


def test_aws_profile_picks_profile(env):
    env.credentials("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    "[other]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    % (FILE_KEY, FILE_SECRET, OTHER_KEY, OTHER_SECRET))
    env.set(AWS_PROFILE="other")
    assert env.ok("shared-credentials")["access_key_id"] == OTHER_KEY


def test_config_file_keys_and_env_file_locations(env):
    path = env.write("elsewhere.ini", "[profile ops]\naws_access_key_id = %s\n"
                     "aws_secret_access_key = %s\nregion = us-east-1\n" % (CFG_KEY, CFG_SECRET))
    env.set(AWS_CONFIG_FILE=path, AWS_PROFILE="ops", AWS_REGION=None)
    assert env.ok("shared-config")["access_key_id"] == CFG_KEY


def test_aws_profile_not_found(env):
    env.credentials("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    % (FILE_KEY, FILE_SECRET))
    env.set(AWS_PROFILE="nope")
    env.fails("profile nope (AWS_PROFILE) is in neither")


def test_malformed_credentials_file(env):
    path = env.credentials("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                           "garbage line without equals\n" % (FILE_KEY, FILE_SECRET))
    env.fails("shared credentials file %s is malformed" % path)


def test_source_profile_assume_role(env, aws):
    env.credentials("[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    % (FILE_KEY, FILE_SECRET))
    env.config("[profile deploy]\nrole_arn = %s\nsource_profile = base\n"
               "external_id = %s\nrole_session_name = sg-test-session\n" % (ROLE_EXT, EXTERNAL_ID))
    env.set(AWS_PROFILE="deploy")
    ident = env.ok("assume-role(profile)")
    ak = ident["access_key_id"]
    assert ak.startswith("ASIA") and ident["expiration"]
    t = temp(aws, ak)
    assert t["issued_by"] == "AssumeRole" and t["role_arn"] == ROLE_EXT
    assert t["source_access_key"] == FILE_KEY and t["external_id"] == EXTERNAL_ID
    assert t["session"] == "sg-test-session"
    assert aws.calls("GetAccount")["calls"][0]["access_key"] == ak


def test_source_profile_chained_roles(env, aws):
    # top -> mid (role, signed by base's keys) -> top's role signed by mid's
    # temporary credentials.
    env.credentials("[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    % (FILE_KEY, FILE_SECRET))
    env.config("[profile mid]\nrole_arn = %s\nsource_profile = base\n"
               "[profile top]\nrole_arn = %s\nsource_profile = mid\n" % (ROLE_PROFILE, ROLE_CHAINED))
    env.set(AWS_PROFILE="top")
    ak = env.ok("assume-role(profile)")["access_key_id"]
    t = temp(aws, ak)
    assert t["role_arn"] == ROLE_CHAINED
    mid = temp(aws, t["source_access_key"])
    assert mid["role_arn"] == ROLE_PROFILE and mid["source_access_key"] == FILE_KEY


def test_source_profile_denied(env):
    env.credentials("[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    % (FILE_KEY, FILE_SECRET))
    env.config("[profile deploy]\nrole_arn = %s\nsource_profile = base\n" % ROLE_EXT)
    env.set(AWS_PROFILE="deploy")
    env.fails("sts AssumeRole: HTTP 403 AccessDenied")


def test_profile_web_identity(env, aws):
    tok = env.write("token", WEB_TOKEN + "\n")
    env.config("[default]\nrole_arn = %s\nweb_identity_token_file = %s\n" % (ROLE_WEB, tok))
    ak = env.ok("web-identity")["access_key_id"]
    assert temp(aws, ak)["issued_by"] == "AssumeRoleWithWebIdentity"


# ------------------------------------------------------------------ web identity

def test_web_identity_env(env, aws):
    tok = env.write("token", WEB_TOKEN)
    env.set(AWS_WEB_IDENTITY_TOKEN_FILE=tok, AWS_ROLE_ARN=ROLE_WEB, AWS_ROLE_SESSION_NAME="ci-run-1")
    ak = env.ok("web-identity")["access_key_id"]
    t = temp(aws, ak)
    assert t["issued_by"] == "AssumeRoleWithWebIdentity" and t["session"] == "ci-run-1"
    assert t["role_arn"] == ROLE_WEB
    # Unsigned, as in AWS.
    [c] = aws.calls("AssumeRoleWithWebIdentity")["calls"]
    assert c["access_key"] is None and c["status"] == 200


def test_web_identity_bad_token(env):
    tok = env.write("token", "not-a-configured-token")
    env.set(AWS_WEB_IDENTITY_TOKEN_FILE=tok, AWS_ROLE_ARN=ROLE_WEB)
    env.fails("sts AssumeRoleWithWebIdentity: HTTP 400 InvalidIdentityToken")


def test_web_identity_token_reread_on_refresh(env, aws):
    """Short-lived credentials are refreshed by the refresher thread, which
    reads the (rotated) token file again."""
    aws.configure({"credential_lifetime": 4})
    tok = env.write("token", WEB_TOKEN)
    env.set(AWS_WEB_IDENTITY_TOKEN_FILE=tok, AWS_ROLE_ARN=ROLE_WEB)
    p = subprocess.Popen([SGAWSID, "--no-call", "--watch", "6"], env=env.vars,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(p.stdout.readline())
        assert first["source"] == "web-identity"
        env.write("token", WEB_TOKEN2)        # rotated underneath us
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    env._check(out, err)
    assert p.returncode == 0, err
    later = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert len(later) >= 2, out                      # refreshed more than once in 6 s
    keys = [first["access_key_id"]] + [x["access_key_id"] for x in later]
    assert len(set(keys)) == len(keys)
    subjects = {temp(aws, k)["subject"] for k in keys}
    assert len(subjects) == 2                        # both tokens were presented


# ------------------------------------------------------------------ container

def test_container_full_uri(env, aws):
    env.set(AWS_CONTAINER_CREDENTIALS_FULL_URI=aws.container_url,
            AWS_CONTAINER_AUTHORIZATION_TOKEN=CONTAINER_AUTH)
    ak = env.ok("container")["access_key_id"]
    t = temp(aws, ak)
    assert t["issued_by"] == "Container" and t["role_arn"] == ROLE_TASK


def test_container_relative_uri_token_file(env, aws):
    # The token file wins over the token variable (here deliberately wrong).
    tf = env.write("auth", CONTAINER_AUTH + "\n")
    env.set(SESGATE_TEST_CONTAINER_ENDPOINT=aws.metadata_endpoint,
            AWS_CONTAINER_CREDENTIALS_RELATIVE_URI="/container/v2/credentials/task-1",
            AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer wrong",
            AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=tf)
    ak = env.ok("container")["access_key_id"]
    assert temp(aws, ak)["issued_by"] == "Container"


def test_container_auth_refused(env, aws):
    env.set(AWS_CONTAINER_CREDENTIALS_FULL_URI=aws.container_url)
    env.fails("container credentials endpoint answered HTTP 401")
    env.set(AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer wrong")
    env.fails("container credentials endpoint answered HTTP 403")


def test_container_full_uri_must_be_loopback_or_https(env):
    env.set(AWS_CONTAINER_CREDENTIALS_FULL_URI="http://192.0.2.10/creds",
            AWS_CONTAINER_AUTHORIZATION_TOKEN=CONTAINER_AUTH)
    env.fails("is not allowed")
    assert env.elapsed < 2


# ------------------------------------------------------------------ IMDSv2

def test_imds(env, aws):
    env.set(AWS_EC2_METADATA_DISABLED=None, AWS_EC2_METADATA_SERVICE_ENDPOINT=aws.metadata_endpoint)
    ak = env.ok("imds")["access_key_id"]
    t = temp(aws, ak)
    assert t["issued_by"] == "IMDS" and t["role_arn"] == ROLE_INSTANCE
    calls = [(c["operation"], c["method"], c["status"]) for c in aws.calls()["calls"]
             if c["operation"] in ("IMDSToken", "IMDSCredentials")]
    assert calls == [("IMDSToken", "PUT", 200), ("IMDSCredentials", "GET", 200),
                     ("IMDSCredentials", "GET", 200)]


def test_imds_double_requires_token(aws):
    base = aws.metadata_endpoint
    url = base + "/latest/meta-data/iam/security-credentials/"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url, timeout=5)
    assert e.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(base + "/latest/api/token", data=b"",
                                                      method="PUT"), timeout=5)
    assert e.value.code == 400
    req = urllib.request.Request(base + "/latest/api/token", data=b"", method="PUT",
                                 headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    token = urllib.request.urlopen(req, timeout=5).read().decode()
    with urllib.request.urlopen(urllib.request.Request(
            url, headers={"X-aws-ec2-metadata-token": token}), timeout=5) as r:
        assert r.read().decode() == "sesgate-instance"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(
            url, headers={"X-aws-ec2-metadata-token": token + "x"}), timeout=5)
    assert e.value.code == 401


def test_imds_no_role(env, aws):
    aws.set_imds_role(None)
    env.set(AWS_EC2_METADATA_DISABLED=None, AWS_EC2_METADATA_SERVICE_ENDPOINT=aws.metadata_endpoint)
    env.fails("answered HTTP 404")


def test_imds_unreachable_falls_through_fast(env):
    env.set(AWS_EC2_METADATA_DISABLED=None,
            AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:%d" % free_port())
    env.fails("no AWS credentials found", "IMDS not reachable")
    assert env.elapsed < 5


# ------------------------------------------------------------------ order

def test_chain_order(env, aws):
    """Every source configured at once; removing the winner each time walks
    the chain: env, shared files, web identity, container, IMDS, none."""
    env.credentials("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    % (FILE_KEY, FILE_SECRET))
    env.set(AWS_ACCESS_KEY_ID=ENV_KEY, AWS_SECRET_ACCESS_KEY=ENV_SECRET,
            AWS_WEB_IDENTITY_TOKEN_FILE=env.write("token", WEB_TOKEN), AWS_ROLE_ARN=ROLE_WEB,
            AWS_CONTAINER_CREDENTIALS_FULL_URI=aws.container_url,
            AWS_CONTAINER_AUTHORIZATION_TOKEN=CONTAINER_AUTH,
            AWS_EC2_METADATA_DISABLED=None, AWS_EC2_METADATA_SERVICE_ENDPOINT=aws.metadata_endpoint)
    assert env.ok("env")["access_key_id"] == ENV_KEY
    env.set(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
    assert env.ok("shared-credentials")["access_key_id"] == FILE_KEY
    os.unlink(os.path.join(env.home, ".aws", "credentials"))
    env.ok("web-identity")
    env.set(AWS_WEB_IDENTITY_TOKEN_FILE=None)
    env.ok("container")
    env.set(AWS_CONTAINER_CREDENTIALS_FULL_URI=None)
    env.ok("imds")
    env.set(AWS_EC2_METADATA_DISABLED="true")
    env.fails("no AWS credentials found", "AWS_EC2_METADATA_DISABLED")
    sources = [c["issued_by"] for c in aws.credentials().values()]
    assert sorted(sources) == ["AssumeRoleWithWebIdentity", "Container", "IMDS"]


# ------------------------------------------------------------------ refresh

def test_invalidate_on_expired_token(env, aws):
    """AWS answers ExpiredToken: the tool invalidates the identity, the
    refresher fetches new credentials at once, and the retry succeeds."""
    env.set(AWS_CONTAINER_CREDENTIALS_FULL_URI=aws.container_url,
            AWS_CONTAINER_AUTHORIZATION_TOKEN=CONTAINER_AUTH)
    aws.fault("GetAccount", "expired", count=1)
    rc, lines, err = env.run()
    assert rc == 0, err
    assert lines[1] == {"status": 200, "error": None, "retried": True}
    calls = aws.calls("GetAccount")["calls"]
    assert [c["status"] for c in calls] == [403, 200]
    assert calls[0]["access_key"] == lines[0]["access_key_id"]
    assert calls[1]["access_key"] != calls[0]["access_key"]
    assert aws.calls()["counts"]["ContainerCredentials"] == 2


def test_refresher_replaces_short_lived_credentials(env, aws):
    aws.configure({"credential_lifetime": 3})
    env.set(AWS_EC2_METADATA_DISABLED=None, AWS_EC2_METADATA_SERVICE_ENDPOINT=aws.metadata_endpoint)
    rc, lines, err = env.run("--watch", "5")
    assert rc == 0, err
    assert lines[1]["status"] == 200
    keys = [lines[0]["access_key_id"]] + [x["access_key_id"] for x in lines[2:]]
    assert len(keys) >= 3 and len(set(keys)) == len(keys), lines


def test_refresh_failure_backs_off(env, aws):
    """STS failing on refresh: the old credentials keep being served until
    they expire, and retries back off instead of hammering STS."""
    aws.configure({"credential_lifetime": 4})
    env.set(AWS_WEB_IDENTITY_TOKEN_FILE=env.write("token", WEB_TOKEN), AWS_ROLE_ARN=ROLE_WEB)
    p = subprocess.Popen([SGAWSID, "--no-call", "--watch", "7"], env=env.vars,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(p.stdout.readline())
        aws.fault("AssumeRoleWithWebIdentity", "error500", count=None)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    env._check(out, err)
    assert first["source"] == "web-identity"
    assert out.strip() == ""                      # never replaced
    assert "aws_credentials_failed" in err and "InternalFailure" in err
    n = aws.calls("AssumeRoleWithWebIdentity")["counts"]["AssumeRoleWithWebIdentity"]
    # 1 success, then failures at ~+2 s, +3 s, +5 s (1 s, 2 s backoff): not a storm
    assert 2 <= n <= 6, n
