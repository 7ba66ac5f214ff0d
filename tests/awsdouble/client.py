"""Helper for tests: start/stop the awsdouble server as a subprocess and call
its admin API.  Standard library only (botocore is needed by the server).

    from tests.awsdouble.client import AwsDouble      # or sys.path insert
    with AwsDouble(config={...}) as aws:
        aws.endpoint        # "https://127.0.0.1:PORT"
        aws.ca              # path of the throwaway CA (verify= / AWS_CA_BUNDLE)
        aws.fault("SendEmail", "throttle", count=2)
        aws.messages()
        aws.metadata_endpoint   # "http://127.0.0.1:PORT" (IMDSv2 + /container/creds)
"""
import json
import os
import select
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")


class AwsDoubleError(Exception):
    pass


class AwsDouble:
    def __init__(self, config=None, python="/usr/bin/python3", start_timeout=15.0, verbose=False,
                 cert_dir=None):
        self.config = config
        self.python = python if os.path.exists(python) else sys.executable
        self.start_timeout = start_timeout
        self.verbose = verbose
        self.cert_dir = cert_dir
        self.proc = None
        self.port = self.admin_port = self.metadata_port = self.ca = None

    # ------------------------------------------------------------ lifecycle
    def start(self):
        args = [self.python, SERVER, "--exit-on-stdin-eof"]
        if self.verbose:
            args.append("--verbose")
        if self.cert_dir:
            args += ["--cert-dir", self.cert_dir]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=None if self.verbose else subprocess.DEVNULL)
        end = time.monotonic() + self.start_timeout
        line = b""
        fd = self.proc.stdout.fileno()
        while not line.endswith(b"\n"):
            left = end - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise AwsDoubleError("awsdouble server did not start")
            r, _, _ = select.select([fd], [], [], min(left, 0.5))
            if r:
                ch = os.read(fd, 1)
                if not ch:
                    self.stop()
                    raise AwsDoubleError("awsdouble server exited before announcing its ports")
                line += ch
        info = json.loads(line)
        self.port, self.admin_port, self.ca = info["port"], info["admin_port"], info["ca"]
        self.metadata_port = info["metadata_port"]
        if self.config:
            self.configure(self.config)
        return self

    def stop(self, timeout=10.0):
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            p.terminate()            # by PID (Popen.terminate -> kill(pid, SIGTERM))
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout)
        for f in (p.stdin, p.stdout):
            try:
                f.close()
            except Exception:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def endpoint(self):
        return "https://127.0.0.1:%d" % self.port

    @property
    def metadata_endpoint(self):
        """Plain-HTTP base of the IMDSv2 double (AWS_EC2_METADATA_SERVICE_ENDPOINT)."""
        return "http://127.0.0.1:%d" % self.metadata_port

    @property
    def container_url(self):
        """Container credentials URL (AWS_CONTAINER_CREDENTIALS_FULL_URI)."""
        return self.metadata_endpoint + "/container/creds"

    # ------------------------------------------------------------ admin API
    def admin(self, method, path, body=None, timeout=10.0):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.admin_port, path), data=data,
                                     method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raise AwsDoubleError("%s %s -> %d %s" % (method, path, e.code, e.read().decode(errors="replace")))

    def configure(self, cfg):
        return self.admin("POST", "/admin/config", cfg)

    def add_static_key(self, access_key, secret, account=None, arn=None):
        """A long-term key.  `account`: its SES account (None: SES refuses it);
        `arn`: the principal it stands for (default arn:aws:iam::000000000000:user/gateway),
        matched against IAM trust policies and, by its account, the Organizations
        management account."""
        key = {"secret": secret, "account": account}
        if arn is not None:
            key["arn"] = arn
        return self.configure({"static_keys": {access_key: key}})

    def add_role(self, role_arn, external_id=None, account=None, **extra):
        role = {"external_id": external_id, "account": account or role_arn.split(":")[4]}
        role.update(extra)
        return self.configure({"roles": {role_arn: role}})

    def add_web_identity_token(self, token, role_arn):
        """AssumeRoleWithWebIdentity with this token may assume role_arn."""
        return self.configure({"web_identity_tokens": {token: role_arn}})

    def set_imds_role(self, role_arn):
        """IMDS hands out credentials of role_arn (None: no role attached)."""
        return self.configure({"imds_role": role_arn})

    def set_container_role(self, role_arn, auth=None):
        """/container/... hands out credentials of role_arn; if auth is set, the
        request's Authorization header must equal it."""
        return self.configure({"container_role": role_arn, "container_auth": auth})

    def set_account(self, account, **settings):
        return self.configure({"accounts": {account: settings}})

    def fault(self, operation, kind, count=1, **extra):
        """operation: any STS, IAM, Organizations, SES v2 or metadata operation name
        (e.g. "CreateAccount", "CreateRole", "CreateEmailIdentity").
        kind: throttle, error500, latency (latency_ms=), hang, expired, rejected,
        suspended, paused, error (status=, code=, message=). count=None: until cleared."""
        body = {"operation": operation, "kind": kind, "count": count}
        body.update(extra)
        return self.admin("POST", "/admin/faults", body)

    def clear_faults(self, operation=None):
        return self.admin("POST", "/admin/faults/clear", {"operation": operation} if operation else {})

    def messages(self, account=None):
        return self.admin("GET", "/admin/messages" + ("?account=%s" % account if account else ""))

    def calls(self, operation=None):
        return self.admin("GET", "/admin/calls" + ("?operation=%s" % operation if operation else ""))

    def credentials(self):
        return self.admin("GET", "/admin/credentials")

    def expire(self, access_key=None):
        return self.admin("POST", "/admin/expire", {"access_key": access_key} if access_key else {})

    def set_clock_offset(self, seconds):
        return self.admin("POST", "/admin/clock", {"offset_seconds": seconds})

    # Organizations
    def set_management_account(self, account):
        """Organizations answers only principals of this account (default 999999999999)."""
        return self.configure({"management_account": account})

    def fail_email(self, email, reason="EMAIL_ALREADY_EXISTS"):
        """CreateAccount with this email ends FAILED with FailureReason `reason`
        (None: remove the entry)."""
        return self.configure({"fail_emails": {email: reason}})

    def add_ou(self, name, ou_id):
        """An OU created under the root now and after every reset (config `ous`)."""
        return self.configure({"ous": {name: ou_id}})

    def orgs_state(self):
        """{"organization", "root", "accounts", "create_requests", "ous"} (OUs and
        root with "children": {"accounts": [...], "ous": [...]})."""
        return self.admin("GET", "/admin/orgs")

    # IAM
    def iam_state(self, account=None):
        """{"roles": [...]} roles created through IAM or Organizations, with their
        trust policy and inline "policies" (parsed JSON)."""
        return self.admin("GET", "/admin/iam" + ("?account=%s" % account if account else ""))

    # SES v2 admin
    def ses_state(self, account=None):
        """{"accounts": {id: {"configuration_sets", "identities", "details",
        "review_polls_left", "settings"}}}."""
        return self.admin("GET", "/admin/ses" + ("?account=%s" % account if account else ""))

    def verify_identity(self, account, identity):
        """Mark an SES identity of `account` verified now."""
        return self.admin("POST", "/admin/ses/verify", {"account": account, "identity": identity})

    def reset(self, config=False):
        return self.admin("POST", "/admin/reset", {"config": bool(config)})
