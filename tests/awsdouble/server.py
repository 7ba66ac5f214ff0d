#!/usr/bin/python3
"""awsdouble: an in-process AWS test double for sesgate's tests.

HTTPS (throwaway test CA) on 127.0.0.1 serving, all SigV4-verified:
  * STS AssumeRole                  POST /  (query protocol, XML)
  * STS AssumeRoleWithWebIdentity   POST /  (unsigned, as in AWS)
  * IAM CreateRole, GetRole, PutRolePolicy, GetRolePolicy   POST /  (query, XML)
  * Organizations CreateAccount ... TagResource   POST / + X-Amz-Target  (awsJson1_1)
  * SES v2 SendEmail, GetAccount, PutAccountDetails, configuration sets,
    event destinations and email identities   /v2/email/...  (rest-json)
a plain-HTTP admin/control API on a second loopback port, and a plain-HTTP
"metadata" port serving EC2 IMDSv2 and a container credentials endpoint.

All state lives in memory in one State object behind one lock; every handler
thread takes the lock for each read or change.  Every AWS request's SigV4
signature is verified with botocore (the signer is used as the independent
reference implementation).  It must never listen on anything but 127.0.0.1.
See README.md.

Start:  /usr/bin/python3 server.py [--config FILE] [--cert-dir DIR]
                                   [--exit-on-stdin-eof] [--max-lifetime S]
First stdout line: {"port":N,"admin_port":M,"metadata_port":K,"ca":"/path/ca.pem","pid":P}
"""
import argparse
import base64
import binascii
import calendar
import copy
import datetime
import email.parser
import email.utils
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape as xml_escape

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
IAM_VERSION = "2010-05-08"
ORGS_TARGET_PREFIX = "AWSOrganizationsV20161128."
ORGS_CTYPE = "application/x-amz-json-1.1"
GATEWAY_ARN = "arn:aws:iam::000000000000:user/gateway"   # static keys without "arn"
MANAGEMENT_EMAIL = "management@awsdouble.example"        # the management account's email
MAX_BODY = 50 * 1024 * 1024
HANG_MAX_SECONDS = 600.0

DEFAULT_CONFIG = {
    "regions": ["us-east-1"],          # accepted signing regions (STS, SES; IAM/Orgs: us-east-1)
    "max_skew_seconds": 300,
    "credential_lifetime": None,       # seconds; overrides DurationSeconds if shorter
    "enforce_daily_quota": True,
    "static_keys": {},                 # access key -> {"secret", "account": opt, "arn": opt}
    "roles": {},                       # role ARN -> {"external_id": str|None, "account": str}
    "accounts": {},                    # account id -> quota/status settings
    "web_identity_tokens": {},         # web identity token -> role ARN it may assume
    "imds_role": None,                 # role ARN whose credentials IMDS hands out
    "container_role": None,            # role ARN whose credentials /container/... hands out
    "container_auth": None,            # required Authorization value for /container/...
    # Organizations
    "management_account": "999999999999",
    "create_account_polls": 2,         # the N-th DescribeCreateAccountStatus finishes it
    "fail_emails": {},                 # email -> CreateAccount FailureReason
    "account_limit": None,             # max accounts in the organization (incl. management)
    "ous": {},                         # OU name -> OU id, created under the root
    # SES v2 admin
    "identity_verify_polls": 2,        # the N-th GetEmailIdentity sees it verified
    "production_review_polls": 0,      # the N-th GetAccount sees production access granted
    "production_quota": {"MaxSendRate": 14.0, "Max24HourSend": 50000.0},
    "require_verified_identity": False,
}
MERGED_CONFIG_KEYS = ("static_keys", "roles", "accounts", "web_identity_tokens",
                      "fail_emails", "ous")
METADATA_LIFETIME = 21600              # IMDS/container credentials, before credential_lifetime

DEFAULT_ACCOUNT = {
    "MaxSendRate": 14.0,
    "Max24HourSend": 50000.0,
    "SendingEnabled": True,
    "ProductionAccessEnabled": True,
    "EnforcementStatus": "HEALTHY",
}
# SES settings of a member account created through Organizations (the SES sandbox)
SANDBOX_ACCOUNT = {"MaxSendRate": 1.0, "Max24HourSend": 200.0, "ProductionAccessEnabled": False}

# fault kind -> per-protocol (status, code, message)
SES_FAULTS = {
    "throttle": (429, "TooManyRequestsException", "Maximum sending rate exceeded."),
    "error500": (500, "InternalServiceErrorException", "Internal service error."),
    "expired": (403, "ExpiredToken", "The security token included in the request is expired"),
    "rejected": (400, "MessageRejected", "Email address is not verified."),
    "suspended": (400, "AccountSuspendedException", "Account is suspended."),
    "paused": (400, "SendingPausedException", "Sending is paused for this account."),
}
STS_FAULTS = {
    "throttle": (400, "Throttling", "Rate exceeded"),
    "error500": (500, "InternalFailure", "An internal error occurred."),
    "expired": (403, "ExpiredToken", "The security token included in the request is expired"),
    "rejected": (403, "AccessDenied", "Not authorized to perform sts:AssumeRole"),
    "suspended": (403, "AccessDenied", "Account is suspended"),
    "paused": (403, "AccessDenied", "Account is suspended"),
}
IAM_FAULTS = {
    "throttle": (400, "Throttling", "Rate exceeded"),
    "error500": (500, "ServiceFailure", "The request processing has failed because of an unknown error."),
    "expired": (403, "ExpiredToken", "The security token included in the request is expired"),
    "rejected": (403, "AccessDenied", "User is not authorized to perform this IAM action"),
    "suspended": (403, "AccessDenied", "Account is suspended"),
    "paused": (403, "AccessDenied", "Account is suspended"),
}
ORG_FAULTS = {
    "throttle": (400, "TooManyRequestsException",
                 "You have sent too many requests in too short a period of time. Try again later."),
    "error500": (500, "ServiceException",
                 "AWS Organizations can't complete your request because of an internal service error."),
    "expired": (403, "ExpiredToken", "The security token included in the request is expired"),
    "rejected": (400, "AccessDeniedException", "You don't have permissions to access this resource."),
    "suspended": (400, "AccessDeniedException", "You don't have permissions to access this resource."),
    "paused": (400, "AccessDeniedException", "You don't have permissions to access this resource."),
}
META_FAULTS = {
    "throttle": (429, "Throttling", "Too many requests"),
    "error500": (500, "InternalError", "Internal error"),
    "expired": (403, "Forbidden", "Forbidden"),
    "rejected": (403, "Forbidden", "Forbidden"),
    "suspended": (403, "Forbidden", "Forbidden"),
    "paused": (403, "Forbidden", "Forbidden"),
}
FAULT_TABLES = {"sts": STS_FAULTS, "iam": IAM_FAULTS, "orgs": ORG_FAULTS, "ses": SES_FAULTS}
FAULT_KINDS = set(SES_FAULTS) | {"latency", "hang", "error"}

STS_OPERATIONS = ("AssumeRole", "AssumeRoleWithWebIdentity")
IAM_OPERATIONS = ("CreateRole", "GetRole", "PutRolePolicy", "GetRolePolicy",
                  "UpdateAssumeRolePolicy")
ORG_OPERATIONS = ("CreateAccount", "DescribeCreateAccountStatus", "ListCreateAccountStatus",
                  "ListAccounts", "ListRoots", "ListParents", "MoveAccount",
                  "ListOrganizationalUnitsForParent", "CreateOrganizationalUnit", "TagResource")
# (method, path regex, operation); path groups are URL-decoded and passed to the handler
SES_ROUTES = (
    ("POST", r"/v2/email/outbound-emails", "SendEmail"),
    ("GET", r"/v2/email/account", "GetAccount"),
    ("POST", r"/v2/email/account/details", "PutAccountDetails"),
    ("POST", r"/v2/email/configuration-sets", "CreateConfigurationSet"),
    ("GET", r"/v2/email/configuration-sets/([^/]+)", "GetConfigurationSet"),
    ("POST", r"/v2/email/configuration-sets/([^/]+)/event-destinations",
     "CreateConfigurationSetEventDestination"),
    ("GET", r"/v2/email/configuration-sets/([^/]+)/event-destinations",
     "GetConfigurationSetEventDestinations"),
    ("POST", r"/v2/email/identities", "CreateEmailIdentity"),
    ("GET", r"/v2/email/identities/([^/]+)", "GetEmailIdentity"),
)
SES_OPERATIONS = tuple(r[2] for r in SES_ROUTES)
META_OPERATIONS = ("IMDSToken", "IMDSCredentials", "ContainerCredentials")
OPERATIONS = STS_OPERATIONS + IAM_OPERATIONS + ORG_OPERATIONS + SES_OPERATIONS + META_OPERATIONS

SESSION_RE = re.compile(r"^[\w+=,.@-]{2,64}$")
IAM_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$")
IAM_POLICY_NAME_RE = re.compile(r"^[\w+=,.@-]{1,128}$")
ORG_EMAIL_RE = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")
SES_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SES_EVENT_TYPES = ("SEND", "REJECT", "BOUNCE", "COMPLAINT", "DELIVERY", "OPEN", "CLICK",
                   "RENDERING_FAILURE", "DELIVERY_DELAY", "SUBSCRIPTION")
SES_DESTINATION_KINDS = ("SnsDestination", "KinesisFirehoseDestination", "CloudWatchDestination",
                         "PinpointDestination", "EventBridgeDestination")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")

AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]+)\s*$")


class AwsError(Exception):
    """An AWS error answer.  `extra` adds members to JSON error bodies (e.g. the
    Organizations `Reason`)."""

    def __init__(self, status, code, message, sender=True, extra=None):
        super().__init__(message)
        self.status, self.code, self.message, self.sender = status, code, message, sender
        self.extra = extra or {}


def iso8601(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def random_chars(n, alphabet="abcdefghijklmnopqrstuvwxyz0123456789"):
    return "".join(secrets.choice(alphabet) for _ in range(n))


def as_list(v):
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def policy_statements(doc):
    """Statements of a parsed policy document (Statement may be one object or a list)."""
    if not isinstance(doc, dict):
        return []
    return [s for s in as_list(doc.get("Statement")) if isinstance(s, dict)]


def action_matches(actions, wanted):
    """IAM-style action match: exact (case-insensitive), `service:*` or `*`."""
    w = wanted.lower()
    for a in as_list(actions):
        if not isinstance(a, str):
            continue
        a = a.lower()
        if a == "*" or a == w or (a.endswith(":*") and w.startswith(a[:-1])):
            return True
    return False


def policies_allow(docs, action):
    """True when some Allow statement in the parsed policies names `action` and
    no Deny statement does.  Resources and conditions are not evaluated."""
    allowed = False
    for doc in docs:
        for s in policy_statements(doc):
            if action_matches(s.get("Action"), action):
                if s.get("Effect") == "Deny":
                    return False
                if s.get("Effect") == "Allow":
                    allowed = True
    return allowed


def trust_allows(doc, caller_arns, caller_account, external_id):
    """Does the trust policy `doc` let a caller known by any of `caller_arns` in
    `caller_account` assume the role with this ExternalId?  Understands
    Principal "*" / {"AWS": ARN | account root | account id | "*" (or a list)}
    and Condition StringEquals sts:ExternalId (string or list)."""
    own = {"arn:aws:iam::%s:root" % caller_account, caller_account}
    for s in policy_statements(doc):
        if s.get("Effect") != "Allow" or not action_matches(s.get("Action"), "sts:AssumeRole"):
            continue
        princ = s.get("Principal")
        if princ == "*":
            names = ["*"]
        elif isinstance(princ, dict):
            names = as_list(princ.get("AWS"))
        else:
            continue
        if not any(p == "*" or p in caller_arns or p in own for p in names):
            continue
        cond = s.get("Condition") or {}
        equals = {k.lower(): v for k, v in (cond.get("StringEquals") or {}).items()}
        if "sts:externalid" in equals and external_id not in as_list(equals["sts:externalid"]):
            continue
        return True
    return False


class State:
    """All mutable state, guarded by one lock.  Methods below that touch state
    expect the caller to hold the lock."""

    def __init__(self, config=None):
        self.lock = threading.Lock()
        self.release = threading.Event()   # set to release hanging requests
        self.config = copy.deepcopy(DEFAULT_CONFIG)
        self.clock_offset = 0.0
        self.reset_state()
        if config:
            self.apply_config(config)

    def reset_state(self):
        self.temp_creds = {}   # ak -> dict(secret, token, expiry, role_arn, account, issued_by)
        self.imds_tokens = {}  # IMDSv2 session token -> expiry
        self.messages = []
        self.calls = []
        self.faults = {op: [] for op in OPERATIONS}
        self.sent = {}         # account -> list of (time, n_recipients)
        # Organizations: one organization, one root
        self.org_id = "o-" + random_chars(10)
        self.root = {"Id": "r-" + random_chars(4), "Name": "Root", "Tags": []}
        self.org_accounts = {}     # account id -> {Id, Email, Name, Status, ..., parent, Tags}
        self.org_requests = {}     # "car-..." -> create request (insertion order = request order)
        self.org_ous = {}          # OU id -> {Id, Name, parent, Tags}
        # IAM roles created through IAM or Organizations (not the config `roles`)
        self.iam_roles = {}        # role ARN -> record (see iam_role_new)
        # SES v2 per account: config sets, identities, account details
        self.ses = {}              # account id -> see ses_account()
        self.sync_org()

    def now(self):
        return time.time() + self.clock_offset

    def apply_config(self, cfg):
        for k, v in cfg.items():
            if k in MERGED_CONFIG_KEYS:
                if not isinstance(v, dict):
                    raise ValueError(k + " must be an object")
                for name, val in v.items():      # null removes an entry
                    if val is None:
                        self.config[k].pop(name, None)
                    else:
                        self.config[k][name] = val
            elif k in DEFAULT_CONFIG:
                self.config[k] = v
            else:
                raise ValueError("unknown config key " + k)
        self.sync_org()

    def account_settings(self, account):
        """SES settings: defaults < sandbox (member accounts created through
        Organizations) < config `accounts` < production access granted by a
        PutAccountDetails review."""
        s = dict(DEFAULT_ACCOUNT)
        ses = self.ses.get(account)
        if ses:
            s.update(ses["base"])
        s.update(self.config["accounts"].get(account, {}))
        if ses:
            s.update(ses["granted"])
        return s

    def sent_last_24h(self, account, now):
        lst = [e for e in self.sent.get(account, []) if e[0] > now - 86400]
        self.sent[account] = lst
        return sum(n for _, n in lst) + float(self.account_settings(account).get("SentLast24HoursBase", 0))

    def issue_temp_creds(self, role_arn, session, duration, issued_by, **extra):
        """New temporary credentials for role_arn, recorded so that STS and SES accept
        them.  Caller holds the lock."""
        lifetime = self.config["credential_lifetime"]
        if lifetime is not None:
            duration = min(duration, float(lifetime))
        role = self.config["roles"].get(role_arn) or {}
        role_account = role_arn.split(":")[4]
        account = role.get("account") or role_account
        now = self.now()
        ak = "ASIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
        rec = {"secret": base64.b64encode(secrets.token_bytes(30)).decode(),
               "token": base64.b64encode(b"awsdouble-session:" + secrets.token_bytes(96)).decode(),
               "expiry": now + duration, "role_arn": role_arn, "account": account,
               "arn": "arn:aws:sts::%s:assumed-role/%s/%s" % (role_account, role_arn.split("/")[-1],
                                                               session),
               "session": session, "external_id": None, "issued": now, "issued_by": issued_by}
        rec.update(extra)
        self.temp_creds[ak] = rec
        return ak, rec

    def take_faults(self, op):
        """Return the faults to apply to this call (consuming counted ones)."""
        out = []
        keep = []
        for f in self.faults.get(op, []):
            out.append(f)
            if f.get("count") is not None:
                f["count"] -= 1
                if f["count"] > 0:
                    keep.append(f)
            else:
                keep.append(f)
        self.faults[op] = keep
        return out

    # ------------------------------------------------------------ Organizations
    def sync_org(self):
        """Make the organization match the config: the management account is a
        member under the root, and every OU of config `ous` exists."""
        mgmt = str(self.config["management_account"])
        for aid in [a for a, r in self.org_accounts.items() if r.get("management") and a != mgmt]:
            del self.org_accounts[aid]
        if mgmt not in self.org_accounts:
            acct = {"Id": mgmt, "Email": MANAGEMENT_EMAIL, "Name": "management", "Status": "ACTIVE",
                    "JoinedMethod": "CREATED", "JoinedTimestamp": self.now(),
                    "parent": self.root["Id"], "Tags": [], "management": True}
            self.org_accounts = dict([(mgmt, acct)] + list(self.org_accounts.items()))
        for name, ou_id in self.config["ous"].items():
            if ou_id not in self.org_ous:
                self.org_ous[ou_id] = {"Id": ou_id, "Name": name, "parent": self.root["Id"],
                                       "Tags": []}

    def org_arn(self, kind, rid):
        mgmt = self.config["management_account"]
        if kind == "root":
            return "arn:aws:organizations::%s:root/%s/%s" % (mgmt, self.org_id, rid)
        return "arn:aws:organizations::%s:%s/%s/%s" % (mgmt, kind, self.org_id, rid)

    def org_is_parent(self, pid):
        return pid == self.root["Id"] or pid in self.org_ous

    def org_parent_type(self, pid):
        return "ROOT" if pid == self.root["Id"] else "ORGANIZATIONAL_UNIT"

    def org_account_view(self, a):
        return {"Id": a["Id"], "Arn": self.org_arn("account", a["Id"]), "Email": a["Email"],
                "Name": a["Name"], "Status": a["Status"], "JoinedMethod": a["JoinedMethod"],
                "JoinedTimestamp": a["JoinedTimestamp"]}

    def org_ou_view(self, ou):
        return {"Id": ou["Id"], "Arn": self.org_arn("ou", ou["Id"]), "Name": ou["Name"]}

    @staticmethod
    def org_request_view(r):
        out = {"Id": r["Id"], "AccountName": r["AccountName"], "State": r["State"],
               "RequestedTimestamp": r["RequestedTimestamp"]}
        for k in ("CompletedTimestamp", "AccountId", "FailureReason"):
            if r.get(k) is not None:
                out[k] = r[k]
        return out

    def org_children(self, pid):
        return {"accounts": [a for a, r in self.org_accounts.items() if r["parent"] == pid],
                "ous": [o for o, r in self.org_ous.items() if r["parent"] == pid]}

    def new_account_id(self):
        taken = set(self.org_accounts) | set(self.config["accounts"]) | set(self.ses)
        while True:
            aid = str(100000000000 + secrets.randbelow(900000000000))
            if aid not in taken:
                return aid

    def org_complete(self, req):
        """Finish an IN_PROGRESS CreateAccount request: FAILED for a configured
        or duplicate email or at the account limit, else SUCCEEDED with a new
        member account, its OrganizationAccountAccessRole-style role and a
        sandboxed SES account."""
        now = self.now()
        email_l = req["Email"].lower()
        fail = {k.lower(): v for k, v in self.config["fail_emails"].items()}.get(email_l)
        if fail is None and any(a["Email"].lower() == email_l for a in self.org_accounts.values()):
            fail = "EMAIL_ALREADY_EXISTS"
        limit = self.config["account_limit"]
        if fail is None and limit is not None and len(self.org_accounts) >= int(limit):
            fail = "ACCOUNT_LIMIT_EXCEEDED"
        req["CompletedTimestamp"] = now
        req["polls_left"] = 0
        if fail is not None:
            req["State"], req["FailureReason"] = "FAILED", fail
            return
        aid = self.new_account_id()
        self.org_accounts[aid] = {"Id": aid, "Email": req["Email"], "Name": req["AccountName"],
                                  "Status": "ACTIVE", "JoinedMethod": "CREATED",
                                  "JoinedTimestamp": now, "parent": self.root["Id"],
                                  "Tags": list(req["Tags"]), "management": False}
        trust = {"Version": "2012-10-17",
                 "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                "Principal": {"AWS": "arn:aws:iam::%s:root"
                                              % self.config["management_account"]}}]}
        self.iam_role_new(aid, req["RoleName"], json.dumps(trust), source="organizations",
                          admin=True, description="Created by AWS Organizations")
        self.ses_account(aid)["base"] = dict(SANDBOX_ACCOUNT)
        req["State"], req["AccountId"] = "SUCCEEDED", aid

    # ------------------------------------------------------------ IAM
    def iam_role_find(self, account, name):
        """The IAM-store role `name` in `account` (names are case-insensitive)."""
        for r in self.iam_roles.values():
            if r["account"] == account and r["RoleName"].lower() == name.lower():
                return r
        return None

    def iam_role_new(self, account, name, trust_doc, path="/", description=None,
                     max_session=3600, tags=(), source="iam", admin=False):
        arn = "arn:aws:iam::%s:role%s%s" % (account, path, name)
        rec = {"Path": path, "RoleName": name, "Arn": arn, "account": account,
               "RoleId": "AROA" + random_chars(17, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
               "CreateDate": self.now(), "AssumeRolePolicyDocument": trust_doc,
               "trust": json.loads(trust_doc), "Description": description,
               "MaxSessionDuration": int(max_session), "Tags": list(tags),
               "policies": {}, "source": source, "admin": admin}
        self.iam_roles[arn] = rec
        return rec

    # ------------------------------------------------------------ SES v2 admin
    def ses_account(self, account):
        return self.ses.setdefault(account, {
            "base": {},              # sandbox settings for Organizations-created accounts
            "granted": {},           # settings granted by a production-access review
            "configuration_sets": {},
            "identities": {},        # lower-case identity -> record
            "details": None,         # PutAccountDetails request, with ReviewDetails
            "review_polls_left": None,
        })

    def ses_grant_production(self, ses):
        q = self.config["production_quota"] or {}
        ses["granted"] = {"ProductionAccessEnabled": True,
                          "MaxSendRate": float(q.get("MaxSendRate", 14.0)),
                          "Max24HourSend": float(q.get("Max24HourSend", 50000.0))}
        ses["details"]["ReviewDetails"]["Status"] = "GRANTED"
        ses["review_polls_left"] = None

    @staticmethod
    def ses_verify(ident):
        ident["verified"] = True
        ident["polls_left"] = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120          # idle keep-alive connections are dropped after this
    server_version = "awsdouble"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("awsdouble: " + (fmt % args) + "\n")

    @property
    def st(self):
        return self.server.state

    # ------------------------------------------------------------ plumbing
    def read_body(self):
        if self.headers.get("Transfer-Encoding"):
            raise AwsError(400, "BadRequestException", "chunked bodies are not supported")
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise AwsError(400, "BadRequestException", "bad Content-Length")
        if n < 0 or n > MAX_BODY:
            raise AwsError(400, "BadRequestException", "body too large")
        return self.rfile.read(n) if n else b""

    def send(self, status, body, ctype, extra=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # ------------------------------------------------------------ faults
    def apply_faults(self, op, proto="metadata"):
        with self.st.lock:
            faults = self.st.take_faults(op)
        table = FAULT_TABLES.get(proto, META_FAULTS)
        for f in faults:
            kind = f["kind"]
            if kind == "latency":
                time.sleep(max(0, f.get("latency_ms", 0)) / 1000.0)
            elif kind == "hang":
                self.st.release.wait(min(HANG_MAX_SECONDS, f.get("max_seconds", HANG_MAX_SECONDS)))
                raise AwsError(503, "ServiceUnavailable", "released from hang")
            elif kind == "error":
                raise AwsError(int(f.get("status", 500)), f.get("code", "InternalFailure"),
                               f.get("message", "injected error"))
            else:
                status, code, msg = table[kind]
                raise AwsError(status, code, f.get("message", msg))


class Call:
    """One authenticated AWS request on its way through an operation handler."""

    def __init__(self, proto, op, body, form, params, rid):
        self.proto, self.op, self.body, self.form, self.params, self.rid = \
            proto, op, body, form, params, rid
        self.ident = None
        self.access_key = None
        self._json = None

    def json(self):
        """The JSON request body as a dict ({} when empty)."""
        if self._json is None:
            bad = ("SerializationException" if self.proto == "orgs" else "BadRequestException")
            if not self.body.strip():
                self._json = {}
            else:
                try:
                    self._json = json.loads(self.body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    raise AwsError(400, bad, "Request body is not valid JSON")
                if not isinstance(self._json, dict):
                    raise AwsError(400, bad, "Request body is not a JSON object")
        return self._json


# operation -> AwsHandler method name
OP_HANDLERS = {
    "AssumeRole": "op_assume_role",
    "CreateRole": "op_create_role", "GetRole": "op_get_role",
    "PutRolePolicy": "op_put_role_policy", "GetRolePolicy": "op_get_role_policy",
    "UpdateAssumeRolePolicy": "op_update_assume_role_policy",
    "CreateAccount": "op_create_account",
    "DescribeCreateAccountStatus": "op_describe_create_account_status",
    "ListCreateAccountStatus": "op_list_create_account_status",
    "ListAccounts": "op_list_accounts", "ListRoots": "op_list_roots",
    "ListParents": "op_list_parents", "MoveAccount": "op_move_account",
    "ListOrganizationalUnitsForParent": "op_list_ous_for_parent",
    "CreateOrganizationalUnit": "op_create_ou", "TagResource": "op_tag_resource",
    "SendEmail": "op_send_email", "GetAccount": "op_get_account",
    "PutAccountDetails": "op_put_account_details",
    "CreateConfigurationSet": "op_create_configuration_set",
    "GetConfigurationSet": "op_get_configuration_set",
    "CreateConfigurationSetEventDestination": "op_create_event_destination",
    "GetConfigurationSetEventDestinations": "op_get_event_destinations",
    "CreateEmailIdentity": "op_create_email_identity",
    "GetEmailIdentity": "op_get_email_identity",
}
PROTO_SERVICE = {"sts": "sts", "iam": "iam", "orgs": "organizations", "ses": "ses"}


class AwsHandler(Handler):
    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        rid = str(uuid.uuid4())
        path = urllib.parse.urlsplit(self.path).path
        self.proto = "sts" if path == "/" else "ses"
        op = None
        access_key = None
        status, code = 200, None
        try:
            body = self.read_body()
            op, form, params = self.route(path, body)
            call = Call(self.proto, op, body, form, params, rid)
            if op == "AssumeRoleWithWebIdentity":
                # Unsigned in AWS: the web identity token is the credential.
                self.apply_faults(op, self.proto)
                status, payload = self.assume_role_web_identity(form, rid)
            else:
                access_key, call.ident = self.authenticate(self.proto, body)
                call.access_key = access_key
                self.apply_faults(op, self.proto)
                status, payload = getattr(self, OP_HANDLERS[op])(call)
            self.send_answer(status, payload, rid)
        except AwsError as e:
            status, code = e.status, e.code
            self.send_error_response(self.proto, e, rid)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            status, code = 0, "ConnectionLost"
        finally:
            with self.st.lock:
                self.st.calls.append({"operation": op, "method": self.command, "path": path,
                                      "access_key": access_key, "status": status, "code": code,
                                      "time": self.st.now(), "request_id": rid})

    def route(self, path, body):
        """Find the operation; sets self.proto (sts, iam, orgs or ses), which also
        decides the shape of error answers.  Returns (op, form, path params)."""
        if path == "/" and self.headers.get("X-Amz-Target") is not None:
            self.proto = "orgs"
            target = self.headers.get("X-Amz-Target")
            op = target[len(ORGS_TARGET_PREFIX):] if target.startswith(ORGS_TARGET_PREFIX) else None
            if op not in ORG_OPERATIONS:
                raise AwsError(400, "UnknownOperationException", "Unknown operation %s" % target)
            if self.command != "POST":
                raise AwsError(400, "UnknownOperationException", "Organizations requires POST")
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != ORGS_CTYPE:
                raise AwsError(400, "SerializationException",
                               "Content-Type must be %s" % ORGS_CTYPE)
            return op, None, ()
        if path == "/":
            if self.command != "POST":
                raise AwsError(400, "InvalidAction", "STS requires POST")
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            form = {k: v[0] for k, v in form.items()}
            action = form.get("Action")
            if action in IAM_OPERATIONS:
                self.proto = "iam"
                return action, form, ()
            if action not in STS_OPERATIONS:
                if form.get("Version") == IAM_VERSION:
                    self.proto = "iam"
                raise AwsError(400, "InvalidAction", "Could not find operation %s" % action)
            return action, form, ()
        for method, rx, op in SES_ROUTES:
            m = re.fullmatch(rx, path)
            if m and method == self.command:
                return op, None, tuple(urllib.parse.unquote(g) for g in m.groups())
        raise AwsError(404, "NotFoundException", "No such operation: %s %s" % (self.command, path))

    def send_answer(self, status, payload, rid):
        hdrs = {"x-amzn-RequestId": rid}
        if self.proto in ("sts", "iam"):
            self.send(status, payload, "text/xml", hdrs)
        elif self.proto == "orgs":
            self.send(status, json.dumps(payload), ORGS_CTYPE, hdrs)
        else:
            self.send(status, json.dumps(payload), "application/json", hdrs)

    def send_error_response(self, proto, e, rid):
        if proto in ("sts", "iam"):
            xml = ('<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code>'
                   '<Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>'
                   % (STS_NS if proto == "sts" else IAM_NS,
                      "Sender" if e.sender and e.status < 500 else "Receiver",
                      xml_escape(e.code), xml_escape(e.message), rid))
            self.send(e.status, xml, "text/xml", {"x-amzn-RequestId": rid})
        elif proto == "orgs":
            body = {"__type": e.code, "Message": e.message}
            body.update(e.extra)
            self.send(e.status, json.dumps(body), ORGS_CTYPE, {"x-amzn-RequestId": rid})
        else:
            self.send(e.status, json.dumps({"message": e.message}), "application/json",
                      {"x-amzn-ErrorType": e.code, "x-amzn-RequestId": rid})

    # ------------------------------------------------------------ SigV4
    def authenticate(self, proto, body):
        """Verify SigV4; return (access_key, identity).  The identity has
        `account` (the SES account, may be None), `principal_account` (the
        account of the principal, for IAM and Organizations), `arn` (the caller)
        and `role_arn` (the role behind temporary credentials, else None)."""
        st = self.st
        service = PROTO_SERVICE[proto]
        query = proto in ("sts", "iam")
        auth = self.headers.get("Authorization")
        if not auth:
            raise AwsError(403, "MissingAuthenticationToken" if query else "MissingAuthenticationTokenException",
                           "Request is missing Authentication Token")
        m = AUTH_RE.match(auth.strip())
        if not m:
            raise AwsError(400 if query else 403, "IncompleteSignature",
                           "Authorization header requires Credential, SignedHeaders and Signature (AWS4-HMAC-SHA256)")
        cred, signed, signature = m.group(1), m.group(2), m.group(3)
        parts = cred.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise AwsError(400 if query else 403, "IncompleteSignature", "Malformed credential scope")
        ak, sdate, region, svc = parts[0], parts[1], parts[2], parts[3]
        amz_date = self.headers.get("X-Amz-Date")
        if not amz_date:
            raise AwsError(400 if query else 403, "IncompleteSignature", "Missing X-Amz-Date")
        try:
            req_ts = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            raise AwsError(400 if query else 403, "IncompleteSignature", "Bad X-Amz-Date")
        with st.lock:
            now = st.now()
            max_skew = st.config["max_skew_seconds"]
            # IAM and Organizations are global services signed for us-east-1
            regions = ["us-east-1"] if proto in ("iam", "orgs") else list(st.config["regions"])
            static = st.config["static_keys"].get(ak)
            temp = st.temp_creds.get(ak)
        if abs(now - req_ts) > max_skew:
            raise AwsError(403, "RequestTimeTooSkewed",
                           "Signature expired: %s is now earlier/later than %s (%d min skew allowed)"
                           % (amz_date, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)), max_skew // 60))
        if static is None and temp is None:
            raise AwsError(403, "InvalidClientTokenId",
                           "The security token included in the request is invalid.")
        if svc != service:
            raise AwsError(403, "SignatureDoesNotMatch",
                           "Credential should be scoped to correct service: '%s'." % service)
        if region not in regions:
            raise AwsError(403, "SignatureDoesNotMatch",
                           "Credential should be scoped to a valid region.")
        if sdate != amz_date[:8]:
            raise AwsError(403, "SignatureDoesNotMatch",
                           "Credential should be scoped to the date of X-Amz-Date.")
        token = None
        if temp is not None:
            token = temp["token"]
            got = self.headers.get("X-Amz-Security-Token")
            if got is None or not hmac.compare_digest(got, token):
                raise AwsError(403, "InvalidClientTokenId",
                               "The security token included in the request is invalid.")
            if now >= temp["expiry"]:
                raise AwsError(403, "ExpiredToken",
                               "The security token included in the request is expired")
            secret = temp["secret"]
            ident = {"account": temp["account"], "role_arn": temp["role_arn"], "temporary": True,
                     "access_key": ak, "arn": temp["arn"],
                     "principal_account": temp["role_arn"].split(":")[4]}
        else:
            secret = static["secret"]
            arn = static.get("arn") or GATEWAY_ARN
            ident = {"account": static.get("account"), "role_arn": None, "temporary": False,
                     "access_key": ak, "arn": arn, "principal_account": arn.split(":")[4]}
        ident["region"] = region
        sha_hdr = self.headers.get("X-Amz-Content-SHA256")
        if sha_hdr and sha_hdr != "UNSIGNED-PAYLOAD" and sha_hdr != hashlib.sha256(body).hexdigest():
            raise AwsError(400 if query else 403, "XAmzContentSHA256Mismatch",
                           "The provided 'x-amz-content-sha256' header does not match what was computed.")
        expected = self.expected_signature(ak, secret, token, region, svc, signed.split(";"),
                                           amz_date, body)
        if not hmac.compare_digest(expected, signature):
            raise AwsError(403, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you provided. "
                           "Check your AWS Secret Access Key and signing method.")
        return ak, ident

    def expected_signature(self, ak, secret, token, region, service, signed, amz_date, body):
        signed_set = set(h.lower() for h in signed)
        hdrs = HTTPHeaders()
        for name, value in self.headers.items():   # keeps duplicates, in order
            if name.lower() in signed_set:
                hdrs[name] = value
        host = self.headers.get("Host", "")
        req = AWSRequest(method=self.command, url="https://%s%s" % (host, self.path),
                         headers=hdrs, data=body)
        req.context["timestamp"] = amz_date
        req.context["payload_signing_enabled"] = True
        signer = _VerifyingSigner(Credentials(ak, secret, token), service, region, signed_set)
        canonical = signer.canonical_request(req)
        sts = signer.string_to_sign(req, canonical)
        return signer.signature(sts, req)

    # ------------------------------------------------------------ STS
    @staticmethod
    def sts_common(form):
        """Checks shared by AssumeRole and AssumeRoleWithWebIdentity; returns
        (role_arn, session, duration)."""
        role_arn = form.get("RoleArn")
        session = form.get("RoleSessionName")
        if form.get("Version") != "2011-06-15":
            raise AwsError(400, "InvalidParameterValue", "Version must be 2011-06-15")
        if not role_arn or not session:
            raise AwsError(400, "MissingParameter", "RoleArn and RoleSessionName are required")
        if not SESSION_RE.match(session):
            raise AwsError(400, "ValidationError", "Invalid RoleSessionName")
        try:
            duration = int(form.get("DurationSeconds", "3600"))
        except ValueError:
            raise AwsError(400, "ValidationError", "Invalid DurationSeconds")
        if duration < 900 or duration > 43200:
            raise AwsError(400, "ValidationError", "DurationSeconds must be between 900 and 43200")
        return role_arn, session, duration

    @staticmethod
    def sts_creds_xml(action, role_arn, session, ak, rec, rid, extra=""):
        role_id = "AROA" + hashlib.sha1(role_arn.encode()).hexdigest()[:17].upper()
        return ('<%sResponse xmlns="%s"><%sResult>%s'
                '<AssumedRoleUser><AssumedRoleId>%s:%s</AssumedRoleId>'
                '<Arn>%s</Arn></AssumedRoleUser>'
                '<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>'
                '<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>'
                '<PackedPolicySize>0</PackedPolicySize>'
                '</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>'
                '</%sResponse>'
                % (action, STS_NS, action, extra, role_id, xml_escape(session),
                   xml_escape(rec["arn"]), ak, xml_escape(rec["secret"]),
                   xml_escape(rec["token"]), iso8601(rec["expiry"]), action, rid, action))

    def op_assume_role(self, c):
        """Roles of config `roles` are checked as before (external_id only).
        Roles created through IAM or Organizations are checked against their
        trust policy, cap DurationSeconds at MaxSessionDuration, and at one
        hour when the caller itself holds temporary credentials (role chaining)."""
        st, form, ident = self.st, c.form, c.ident
        role_arn, session, duration = self.sts_common(form)
        denied = AwsError(403, "AccessDenied",
                          "User: %s is not authorized to perform: sts:AssumeRole on resource: %s"
                          % (ident["arn"], role_arn))
        with st.lock:
            role = st.config["roles"].get(role_arn)
            iam_role = copy.deepcopy(st.iam_roles.get(role_arn)) if role is None else None
        if role is not None:
            want = role.get("external_id")
            if want is not None and form.get("ExternalId") != want:
                raise denied
            if want is None and role.get("reject_external_id") and "ExternalId" in form:
                raise denied
            max_duration = int(role.get("max_session_duration", 43200))
        elif iam_role is not None:
            callers = {ident["arn"]} | ({ident["role_arn"]} if ident["role_arn"] else set())
            if not trust_allows(iam_role["trust"], callers, ident["principal_account"],
                                form.get("ExternalId")):
                raise denied
            if ident["temporary"] and duration > 3600:
                raise AwsError(400, "ValidationError",
                               "The requested DurationSeconds exceeds the 1 hour session limit "
                               "for roles assumed by role chaining.")
            max_duration = iam_role["MaxSessionDuration"]
        else:
            raise denied
        if duration > max_duration:
            raise AwsError(400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        with st.lock:
            ak, rec = st.issue_temp_creds(role_arn, session, duration, "AssumeRole",
                                          external_id=form.get("ExternalId"),
                                          source_access_key=ident.get("access_key"))
        return 200, self.sts_creds_xml("AssumeRole", role_arn, session, ak, rec, c.rid)

    def assume_role_web_identity(self, form, rid):
        """Unsigned.  WebIdentityToken must be configured in web_identity_tokens
        and map to RoleArn."""
        st = self.st
        role_arn, session, duration = self.sts_common(form)
        token = form.get("WebIdentityToken")
        if not token:
            raise AwsError(400, "MissingParameter", "WebIdentityToken is required")
        if len(token) < 4 or len(token) > 20000:
            raise AwsError(400, "ValidationError", "Invalid WebIdentityToken length")
        with st.lock:
            allowed = st.config["web_identity_tokens"].get(token)
            role = st.config["roles"].get(role_arn) or {}
        if allowed is None:
            raise AwsError(400, "InvalidIdentityToken",
                           "The web identity token that was passed could not be validated by AWS.")
        if allowed != role_arn:
            raise AwsError(403, "AccessDenied",
                           "Not authorized to perform sts:AssumeRoleWithWebIdentity")
        if duration > int(role.get("max_session_duration", 43200)):
            raise AwsError(400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        subject = "system:serviceaccount:awsdouble:" + hashlib.sha256(token.encode()).hexdigest()[:12]
        with st.lock:
            ak, rec = st.issue_temp_creds(role_arn, session, duration, "AssumeRoleWithWebIdentity",
                                          subject=subject)
        extra = ("<SubjectFromWebIdentityToken>%s</SubjectFromWebIdentityToken>"
                 "<Audience>sts.amazonaws.com</Audience><Provider>awsdouble</Provider>"
                 % xml_escape(subject))
        return 200, self.sts_creds_xml("AssumeRoleWithWebIdentity", role_arn, session, ak, rec,
                                       rid, extra)

    # ------------------------------------------------------------ IAM (query, XML)
    @staticmethod
    def iam_xml(action, rid, result=None):
        res = "<%sResult>%s</%sResult>" % (action, result, action) if result is not None else ""
        return ('<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>%s</RequestId>'
                '</ResponseMetadata></%sResponse>' % (action, IAM_NS, res, rid, action))

    @staticmethod
    def iam_role_xml(r):
        x = ("<Role><Path>%s</Path><RoleName>%s</RoleName><RoleId>%s</RoleId><Arn>%s</Arn>"
             "<CreateDate>%s</CreateDate><AssumeRolePolicyDocument>%s</AssumeRolePolicyDocument>"
             % (xml_escape(r["Path"]), xml_escape(r["RoleName"]), r["RoleId"], xml_escape(r["Arn"]),
                iso8601(r["CreateDate"]),
                xml_escape(urllib.parse.quote(r["AssumeRolePolicyDocument"], safe=""))))
        if r.get("Description") is not None:
            x += "<Description>%s</Description>" % xml_escape(r["Description"])
        x += "<MaxSessionDuration>%d</MaxSessionDuration>" % r["MaxSessionDuration"]
        if r["Tags"]:
            x += "<Tags>%s</Tags>" % "".join(
                "<member><Key>%s</Key><Value>%s</Value></member>"
                % (xml_escape(t["Key"]), xml_escape(t["Value"])) for t in r["Tags"])
        return x + "<RoleLastUsed/></Role>"

    @staticmethod
    def iam_common(c, *required):
        if c.form.get("Version") != IAM_VERSION:
            raise AwsError(400, "InvalidAction", "Could not find operation %s for version %s"
                           % (c.op, c.form.get("Version")))
        for k in required:
            if not c.form.get(k):
                raise AwsError(400, "MissingParameter",
                               "The request must contain the parameter %s." % k)
        name = c.form.get("RoleName")
        if name is not None and not IAM_NAME_RE.match(name):
            raise AwsError(400, "ValidationError",
                           "1 validation error detected: Value '%s' at 'roleName' failed to "
                           "satisfy constraint: Member must satisfy regular expression pattern: "
                           "[\\w+=,.@-]+" % name)
        return c.ident["principal_account"]

    @staticmethod
    def iam_policy_doc(text):
        """Parse a policy document: a JSON object with a Statement."""
        try:
            doc = json.loads(text)
        except ValueError:
            raise AwsError(400, "MalformedPolicyDocument", "This policy contains invalid Json")
        if not isinstance(doc, dict) or "Statement" not in doc:
            raise AwsError(400, "MalformedPolicyDocument", "Missing required field Statement")
        return doc

    @staticmethod
    def query_members(form, prefix, fields):
        """Query-protocol list `prefix.member.N.<field>` → list of dicts, in N order."""
        out = {}
        rx = re.compile(r"^%s\.member\.(\d+)\.(%s)$" % (re.escape(prefix), "|".join(fields)))
        for k, v in form.items():
            m = rx.match(k)
            if m:
                out.setdefault(int(m.group(1)), {})[m.group(2)] = v
        return [out[i] for i in sorted(out)]

    def no_such_role(self, name):
        return AwsError(404, "NoSuchEntity", "The role with name %s cannot be found." % name)

    def op_create_role(self, c):
        account = self.iam_common(c, "RoleName", "AssumeRolePolicyDocument")
        form = c.form
        name = form["RoleName"]
        self.iam_policy_doc(form["AssumeRolePolicyDocument"])
        path = form.get("Path") or "/"
        if not (path.startswith("/") and path.endswith("/")) or len(path) > 512:
            raise AwsError(400, "ValidationError", "Path must begin and end with /")
        desc = form.get("Description")
        if desc is not None and len(desc) > 1000:
            raise AwsError(400, "ValidationError", "Description is longer than 1000 characters")
        try:
            max_session = int(form.get("MaxSessionDuration", "3600"))
        except ValueError:
            raise AwsError(400, "ValidationError", "Invalid MaxSessionDuration")
        if not 3600 <= max_session <= 43200:
            raise AwsError(400, "ValidationError", "MaxSessionDuration must be 3600-43200")
        tags = self.query_members(form, "Tags", ("Key", "Value"))
        for t in tags:
            if not 1 <= len(t.get("Key", "")) <= 128 or len(t.get("Value", "")) > 256:
                raise AwsError(400, "ValidationError", "Invalid tag")
            t.setdefault("Value", "")
        if len(tags) > 50:
            raise AwsError(400, "LimitExceeded", "Too many tags")
        with self.st.lock:
            if self.st.iam_role_find(account, name):
                raise AwsError(409, "EntityAlreadyExists", "Role with name %s already exists." % name)
            r = self.st.iam_role_new(account, name, form["AssumeRolePolicyDocument"], path=path,
                                     description=desc, max_session=max_session, tags=tags)
            xml = self.iam_role_xml(r)
        return 200, self.iam_xml("CreateRole", c.rid, xml)

    def op_get_role(self, c):
        account = self.iam_common(c, "RoleName")
        with self.st.lock:
            r = self.st.iam_role_find(account, c.form["RoleName"])
            if r is None:
                raise self.no_such_role(c.form["RoleName"])
            xml = self.iam_role_xml(r)
        return 200, self.iam_xml("GetRole", c.rid, xml)

    def op_put_role_policy(self, c):
        account = self.iam_common(c, "RoleName", "PolicyName", "PolicyDocument")
        pname, text = c.form["PolicyName"], c.form["PolicyDocument"]
        if not IAM_POLICY_NAME_RE.match(pname):
            raise AwsError(400, "ValidationError", "Invalid PolicyName")
        self.iam_policy_doc(text)
        with self.st.lock:
            r = self.st.iam_role_find(account, c.form["RoleName"])
            if r is None:
                raise self.no_such_role(c.form["RoleName"])
            r["policies"][pname] = text
        return 200, self.iam_xml("PutRolePolicy", c.rid)

    def op_update_assume_role_policy(self, c):
        account = self.iam_common(c, "RoleName", "PolicyDocument")
        text = c.form["PolicyDocument"]
        self.iam_policy_doc(text)
        with self.st.lock:
            r = self.st.iam_role_find(account, c.form["RoleName"])
            if r is None:
                raise self.no_such_role(c.form["RoleName"])
            r["AssumeRolePolicyDocument"] = text
            r["trust"] = json.loads(text)
        return 200, self.iam_xml("UpdateAssumeRolePolicy", c.rid)

    def op_get_role_policy(self, c):
        account = self.iam_common(c, "RoleName", "PolicyName")
        pname = c.form["PolicyName"]
        with self.st.lock:
            r = self.st.iam_role_find(account, c.form["RoleName"])
            if r is None:
                raise self.no_such_role(c.form["RoleName"])
            text = r["policies"].get(pname)
            if text is None:
                raise AwsError(404, "NoSuchEntity", "The role policy with name %s cannot be found."
                               % pname)
            xml = ("<RoleName>%s</RoleName><PolicyName>%s</PolicyName>"
                   "<PolicyDocument>%s</PolicyDocument>"
                   % (xml_escape(r["RoleName"]), xml_escape(pname),
                      xml_escape(urllib.parse.quote(text, safe=""))))
        return 200, self.iam_xml("GetRolePolicy", c.rid, xml)

    def check_ses_permission(self, ident, action):
        """Roles created through IAM may call SES only if an inline policy
        allows `action`; config roles, Organizations' roles and static keys
        are not checked."""
        if not ident.get("temporary"):
            return
        with self.st.lock:
            r = self.st.iam_roles.get(ident["role_arn"])
            if r is None or r["admin"]:
                return
            docs = [json.loads(t) for t in r["policies"].values()]
        if not policies_allow(docs, action):
            raise AwsError(403, "AccessDeniedException",
                           "User: %s is not authorized to perform: %s because no identity-based "
                           "policy allows the %s action" % (ident["arn"], action, action))

    # ------------------------------------------------------------ Organizations (awsJson1_1)
    @staticmethod
    def org_invalid(reason, message):
        return AwsError(400, "InvalidInputException", message, extra={"Reason": reason})

    def org_common(self, c, *required):
        """Management-account check and required members; returns the request."""
        with self.st.lock:
            mgmt = str(self.st.config["management_account"])
        if c.ident["principal_account"] != mgmt:
            raise AwsError(400, "AccessDeniedException",
                           "You don't have permissions to access this resource.")
        req = c.json()
        for k in required:
            if req.get(k) in (None, ""):
                raise self.org_invalid("INPUT_REQUIRED", "You must specify a value for %s." % k)
        return req

    def org_tags(self, tags):
        if tags is None:
            return []
        if not isinstance(tags, list):
            raise self.org_invalid("INVALID_LIST_MEMBER", "Tags must be a list")
        keys = set()
        out = []
        for t in tags:
            if not isinstance(t, dict) or not isinstance(t.get("Key"), str) \
                    or not isinstance(t.get("Value"), str):
                raise self.org_invalid("INVALID_LIST_MEMBER", "A tag needs Key and Value")
            if not 1 <= len(t["Key"]) <= 128:
                raise self.org_invalid("MAX_LENGTH_EXCEEDED", "Tag key must be 1-128 characters")
            if len(t["Value"]) > 256:
                raise self.org_invalid("MAX_LENGTH_EXCEEDED", "Tag value must be 0-256 characters")
            if t["Key"] in keys:
                raise self.org_invalid("DUPLICATE_TAG_KEY", "Duplicate tag key %s" % t["Key"])
            keys.add(t["Key"])
            out.append({"Key": t["Key"], "Value": t["Value"]})
        return out

    @staticmethod
    def merge_tags(old, new):
        d = dict((t["Key"], t["Value"]) for t in old)
        d.update((t["Key"], t["Value"]) for t in new)
        return [{"Key": k, "Value": v} for k, v in d.items()]

    def org_page(self, c, req, items, key):
        """Page `items` by MaxResults (1-20, default 20) and an opaque NextToken."""
        n = req.get("MaxResults", 20)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise self.org_invalid("MIN_VALUE_EXCEEDED", "MaxResults must be at least 1")
        if n > 20:
            raise self.org_invalid("MAX_VALUE_EXCEEDED", "MaxResults must be at most 20")
        start = 0
        tok = req.get("NextToken")
        if tok is not None:
            try:
                d = json.loads(base64.urlsafe_b64decode(tok.encode()).decode())
                assert d["op"] == c.op and isinstance(d["at"], int) and 0 <= d["at"] <= len(items)
                start = d["at"]
            except Exception:
                raise self.org_invalid("INVALID_NEXT_TOKEN", "The NextToken is not valid.")
        out = {key: items[start:start + n]}
        if start + n < len(items):
            out["NextToken"] = base64.urlsafe_b64encode(
                json.dumps({"op": c.op, "at": start + n, "r": random_chars(6)}).encode()).decode()
        return out

    def op_create_account(self, c):
        st = self.st
        req = self.org_common(c, "Email", "AccountName")
        addr, name = req["Email"], req["AccountName"]
        role = req.get("RoleName") or "OrganizationAccountAccessRole"
        if not isinstance(addr, str) or len(addr) < 6:
            raise self.org_invalid("MIN_LENGTH_EXCEEDED", "Email must be at least 6 characters")
        if len(addr) > 64:
            raise self.org_invalid("MAX_LENGTH_EXCEEDED", "Email must be at most 64 characters")
        if not ORG_EMAIL_RE.match(addr):
            raise self.org_invalid("INVALID_PATTERN", "Email is not a valid email address")
        if not isinstance(name, str) or not 1 <= len(name) <= 50:
            raise self.org_invalid("MAX_LENGTH_EXCEEDED", "AccountName must be 1-50 characters")
        if not re.match(r"^[\x20-\x7e]+$", name):
            raise self.org_invalid("INVALID_PATTERN", "AccountName has invalid characters")
        if not isinstance(role, str) or not IAM_NAME_RE.match(role):
            raise self.org_invalid("INVALID_ROLE_NAME", "RoleName is not a valid IAM role name")
        if req.get("IamUserAccessToBilling") not in (None, "ALLOW", "DENY"):
            raise self.org_invalid("INVALID_ENUM", "IamUserAccessToBilling must be ALLOW or DENY")
        tags = self.org_tags(req.get("Tags"))
        with st.lock:
            r = {"Id": "car-" + secrets.token_hex(16), "AccountName": name, "State": "IN_PROGRESS",
                 "RequestedTimestamp": st.now(), "Email": addr, "RoleName": role, "Tags": tags,
                 "IamUserAccessToBilling": req.get("IamUserAccessToBilling", "ALLOW"),
                 "polls_left": int(st.config["create_account_polls"])}
            st.org_requests[r["Id"]] = r
            out = {"CreateAccountStatus": st.org_request_view(r)}
            if r["polls_left"] <= 0:
                st.org_complete(r)
        return 200, out

    def op_describe_create_account_status(self, c):
        st = self.st
        req = self.org_common(c, "CreateAccountRequestId")
        with st.lock:
            r = st.org_requests.get(req["CreateAccountRequestId"])
            if r is None:
                raise AwsError(400, "CreateAccountStatusNotFoundException",
                               "We can't find a create account request with the CreateAccountRequestId that you specified.")
            if r["State"] == "IN_PROGRESS":
                r["polls_left"] -= 1
                if r["polls_left"] <= 0:
                    st.org_complete(r)
            return 200, {"CreateAccountStatus": st.org_request_view(r)}

    def op_list_create_account_status(self, c):
        st = self.st
        req = self.org_common(c)
        states = req.get("States")
        if states is not None:
            if not isinstance(states, list) or \
                    any(s not in ("IN_PROGRESS", "SUCCEEDED", "FAILED") for s in states):
                raise self.org_invalid("INVALID_ENUM", "States must be IN_PROGRESS, SUCCEEDED or FAILED")
        with st.lock:
            items = [st.org_request_view(r) for r in st.org_requests.values()
                     if not states or r["State"] in states]
        return 200, self.org_page(c, req, items, "CreateAccountStatuses")

    def op_list_accounts(self, c):
        st = self.st
        req = self.org_common(c)
        with st.lock:
            items = [st.org_account_view(a) for a in st.org_accounts.values()]
        return 200, self.org_page(c, req, items, "Accounts")

    def op_list_roots(self, c):
        st = self.st
        req = self.org_common(c)
        with st.lock:
            items = [{"Id": st.root["Id"], "Arn": st.org_arn("root", st.root["Id"]),
                      "Name": st.root["Name"], "PolicyTypes": []}]
        return 200, self.org_page(c, req, items, "Roots")

    def op_list_parents(self, c):
        st = self.st
        req = self.org_common(c, "ChildId")
        child = req["ChildId"]
        with st.lock:
            rec = st.org_accounts.get(child) or st.org_ous.get(child)
            if rec is None:
                raise AwsError(400, "ChildNotFoundException",
                               "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.")
            items = [{"Id": rec["parent"], "Type": st.org_parent_type(rec["parent"])}]
        return 200, self.org_page(c, req, items, "Parents")

    def op_move_account(self, c):
        st = self.st
        req = self.org_common(c, "AccountId", "SourceParentId", "DestinationParentId")
        aid, src, dst = req["AccountId"], req["SourceParentId"], req["DestinationParentId"]
        with st.lock:
            acct = st.org_accounts.get(aid)
            if acct is None:
                raise AwsError(400, "AccountNotFoundException",
                               "We can't find an AWS account with the AccountId that you specified.")
            if not st.org_is_parent(src) or acct["parent"] != src:
                raise AwsError(400, "SourceParentNotFoundException",
                               "We can't find a source root or OU with the ParentId that you specified.")
            if not st.org_is_parent(dst):
                raise AwsError(400, "DestinationParentNotFoundException",
                               "We can't find the destination container (a root or OU) with the ParentId that you specified.")
            if dst == src:
                raise AwsError(400, "DuplicateAccountException",
                               "That account is already present in the specified destination.")
            acct["parent"] = dst
        return 200, {}

    def op_list_ous_for_parent(self, c):
        st = self.st
        req = self.org_common(c, "ParentId")
        with st.lock:
            if not st.org_is_parent(req["ParentId"]):
                raise AwsError(400, "ParentNotFoundException",
                               "We can't find a root or OU with the ParentId that you specified.")
            items = [st.org_ou_view(o) for o in st.org_ous.values() if o["parent"] == req["ParentId"]]
        return 200, self.org_page(c, req, items, "OrganizationalUnits")

    def op_create_ou(self, c):
        st = self.st
        req = self.org_common(c, "ParentId", "Name")
        name = req["Name"]
        if not isinstance(name, str) or not 1 <= len(name) <= 128:
            raise self.org_invalid("MAX_LENGTH_EXCEEDED", "Name must be 1-128 characters")
        tags = self.org_tags(req.get("Tags"))
        with st.lock:
            if not st.org_is_parent(req["ParentId"]):
                raise AwsError(400, "ParentNotFoundException",
                               "We can't find a root or OU with the ParentId that you specified.")
            if any(o["parent"] == req["ParentId"] and o["Name"] == name for o in st.org_ous.values()):
                raise AwsError(400, "DuplicateOrganizationalUnitException",
                               "An OU with the same name already exists.")
            ou_id = "ou-%s-%s" % (st.root["Id"][2:], random_chars(8))
            st.org_ous[ou_id] = {"Id": ou_id, "Name": name, "parent": req["ParentId"], "Tags": tags}
            return 200, {"OrganizationalUnit": st.org_ou_view(st.org_ous[ou_id])}

    def op_tag_resource(self, c):
        st = self.st
        req = self.org_common(c, "ResourceId", "Tags")
        tags = self.org_tags(req["Tags"])
        rid = req["ResourceId"]
        with st.lock:
            rec = st.org_accounts.get(rid) or st.org_ous.get(rid) or \
                (st.root if rid == st.root["Id"] else None)
            if rec is None:
                raise AwsError(400, "TargetNotFoundException",
                               "We can't find a target with the TargetId that you specified.")
            rec["Tags"] = self.merge_tags(rec["Tags"], tags)
        return 200, {}

    # ------------------------------------------------------------ SES v2
    def need_account(self, ident):
        if not ident.get("account"):
            raise AwsError(403, "AccessDeniedException",
                           "These credentials are not associated with an SES account in awsdouble.")
        return ident["account"]

    @staticmethod
    def ses_identity_verified(ses, address):
        """Is `address` covered by a verified identity: the address itself, its
        domain or a parent domain?"""
        address = address.lower()
        names = [address]
        domain = address.rsplit("@", 1)[-1]
        labels = domain.split(".")
        names += [".".join(labels[i:]) for i in range(len(labels) - 1)]
        return any(ses["identities"].get(n, {}).get("verified") for n in names)

    def op_send_email(self, c):
        st, ident, access_key = self.st, c.ident, c.access_key
        account = self.need_account(ident)
        self.check_ses_permission(ident, "ses:SendEmail")
        try:
            req = json.loads(c.body.decode("utf-8"))
            assert isinstance(req, dict)
        except Exception:
            raise AwsError(400, "BadRequestException", "Request body is not a JSON object")
        content = req.get("Content")
        if not isinstance(content, dict):
            raise AwsError(400, "BadRequestException", "Content is required")
        raw = content.get("Raw")
        if not isinstance(raw, dict) or not isinstance(raw.get("Data"), str):
            raise AwsError(400, "BadRequestException", "awsdouble supports only Content.Raw.Data")
        try:
            data = base64.b64decode(raw["Data"], validate=True)
        except (binascii.Error, ValueError):
            raise AwsError(400, "BadRequestException", "Content.Raw.Data is not valid base64")
        if len(raw["Data"]) > 40 * 1024 * 1024:
            raise AwsError(400, "MessageRejected", "Message too long")
        if b"\r\n\r\n" not in data and b"\n\n" not in data:
            raise AwsError(400, "MessageRejected", "Illegal header/body separation")
        dest = req.get("Destination") or {}
        recipients = []
        for k in ("ToAddresses", "CcAddresses", "BccAddresses"):
            recipients += list(dest.get(k) or [])
        hdrs = email.parser.BytesHeaderParser().parsebytes(data)
        if not dest:
            for k in ("To", "Cc", "Bcc"):
                recipients += [a for _, a in email.utils.getaddresses(hdrs.get_all(k, [])) if a]
        if not recipients:
            raise AwsError(400, "BadRequestException", "No recipients")
        if len(recipients) > 50:
            raise AwsError(400, "MessageRejected", "Recipient count exceeds 50.")
        tags = req.get("EmailTags") or []
        for t in tags:
            for f in ("Name", "Value"):
                v = t.get(f, "")
                if not isinstance(v, str) or not re.match(r"^[A-Za-z0-9_-]{1,256}$", v):
                    raise AwsError(400, "BadRequestException", "Invalid EmailTags %s: %r" % (f, v))
        with st.lock:
            if st.config["require_verified_identity"]:
                sender = req.get("FromEmailAddress")
                if not sender:
                    froms = [a for _, a in email.utils.getaddresses(hdrs.get_all("From", [])) if a]
                    sender = froms[0] if froms else ""
                if not sender or not self.ses_identity_verified(st.ses_account(account), sender):
                    raise AwsError(400, "MessageRejected",
                                   "Email address is not verified. The following identities failed "
                                   "the check in region %s: %s" % (ident["region"].upper(), sender))
            settings = st.account_settings(account)
            now = st.now()
            if not settings.get("SendingEnabled", True):
                raise AwsError(400, "SendingPausedException", "Sending is paused for this account.")
            if settings.get("EnforcementStatus") == "SHUTDOWN":
                raise AwsError(400, "AccountSuspendedException", "Account is suspended.")
            max24 = float(settings.get("Max24HourSend", -1))
            if st.config["enforce_daily_quota"] and max24 >= 0 and \
                    st.sent_last_24h(account, now) + len(recipients) > max24:
                raise AwsError(429, "TooManyRequestsException", "Daily message quota exceeded.")
            mid = "%016x-%s-000000" % (int(now * 1000), uuid.uuid4())
            st.sent.setdefault(account, []).append((now, len(recipients)))
            st.messages.append({
                "message_id": mid, "account": account, "access_key": access_key,
                "role_arn": ident.get("role_arn"),
                "raw": base64.b64encode(data).decode(), "destination": dest,
                "recipients": recipients, "tags": tags,
                "configuration_set": req.get("ConfigurationSetName"),
                "from": req.get("FromEmailAddress"), "tenant_name": req.get("TenantName"),
                "time": now,
            })
        return 200, {"MessageId": mid}

    def op_get_account(self, c):
        account = self.need_account(c.ident)
        self.check_ses_permission(c.ident, "ses:GetAccount")
        st = self.st
        with st.lock:
            ses = st.ses.get(account)
            if ses and ses["review_polls_left"] is not None:
                ses["review_polls_left"] -= 1
                if ses["review_polls_left"] <= 0:
                    st.ses_grant_production(ses)
            s = st.account_settings(account)
            sent = st.sent_last_24h(account, st.now())
            details = copy.deepcopy(ses["details"]) if ses and ses["details"] else None
        out = {
            "DedicatedIpAutoWarmupEnabled": False,
            "EnforcementStatus": s.get("EnforcementStatus", "HEALTHY"),
            "ProductionAccessEnabled": bool(s.get("ProductionAccessEnabled", True)),
            "SendQuota": {"Max24HourSend": float(s.get("Max24HourSend", -1)),
                          "MaxSendRate": float(s.get("MaxSendRate", 1)),
                          "SentLast24Hours": float(sent)},
            "SendingEnabled": bool(s.get("SendingEnabled", True)),
        }
        if details:
            out["Details"] = details
        return 200, out

    def op_put_account_details(self, c):
        """Records the details; ProductionAccessEnabled=true starts a review that
        grants production access after production_review_polls GetAccount calls
        (0: at once).  A second production-access request → ConflictException."""
        st = self.st
        account = self.need_account(c.ident)
        req = c.json()
        for k in ("MailType", "WebsiteURL"):
            if not isinstance(req.get(k), str) or not req[k]:
                raise AwsError(400, "BadRequestException", "%s is required" % k)
        if req["MailType"] not in ("MARKETING", "TRANSACTIONAL"):
            raise AwsError(400, "BadRequestException", "MailType must be MARKETING or TRANSACTIONAL")
        if len(req["WebsiteURL"]) > 1000:
            raise AwsError(400, "BadRequestException", "WebsiteURL is too long")
        if req.get("ContactLanguage") not in (None, "EN", "JA"):
            raise AwsError(400, "BadRequestException", "ContactLanguage must be EN or JA")
        extra = req.get("AdditionalContactEmailAddresses")
        if extra is not None and (not isinstance(extra, list) or not 1 <= len(extra) <= 4):
            raise AwsError(400, "BadRequestException",
                           "AdditionalContactEmailAddresses must have 1-4 entries")
        production = req.get("ProductionAccessEnabled") is True
        with st.lock:
            ses = st.ses_account(account)
            if production and ses["details"] and ses["details"].get("production_requested"):
                raise AwsError(409, "ConflictException",
                               "A production access request is already pending or granted "
                               "for this account.")
            details = {k: req[k] for k in ("MailType", "WebsiteURL", "ContactLanguage",
                                           "UseCaseDescription", "AdditionalContactEmailAddresses")
                       if req.get(k) is not None}
            old = ses["details"] or {}
            details["production_requested"] = production or old.get("production_requested", False)
            if production:
                details["ReviewDetails"] = {"Status": "PENDING", "CaseId": "awsdouble-" +
                                            secrets.token_hex(6)}
            elif old.get("ReviewDetails"):
                details["ReviewDetails"] = old["ReviewDetails"]
            ses["details"] = details
            if production:
                polls = int(st.config["production_review_polls"])
                ses["review_polls_left"] = polls
                if polls <= 0:
                    st.ses_grant_production(ses)
        return 200, {}

    @staticmethod
    def ses_tags(tags):
        if tags is None:
            return []
        if not isinstance(tags, list):
            raise AwsError(400, "BadRequestException", "Tags must be a list")
        for t in tags:
            if not isinstance(t, dict) or not isinstance(t.get("Key"), str) \
                    or not 1 <= len(t["Key"]) <= 128 or not isinstance(t.get("Value", ""), str) \
                    or len(t.get("Value", "")) > 256:
                raise AwsError(400, "BadRequestException", "Invalid tag %r" % (t,))
        return [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags]

    @staticmethod
    def ses_config_set_missing(name):
        return AwsError(404, "NotFoundException", "Configuration set <%s> does not exist." % name)

    def op_create_configuration_set(self, c):
        st = self.st
        account = self.need_account(c.ident)
        req = c.json()
        name = req.get("ConfigurationSetName")
        if not isinstance(name, str) or not SES_NAME_RE.match(name):
            raise AwsError(400, "BadRequestException",
                           "ConfigurationSetName must be 1-64 characters of A-Z a-z 0-9 _ -")
        tags = self.ses_tags(req.get("Tags"))
        cs = {"ConfigurationSetName": name, "Tags": tags,
              "ReputationOptions": {"ReputationMetricsEnabled": False},
              "SendingOptions": {"SendingEnabled": True}}
        for k in ("TrackingOptions", "DeliveryOptions", "ReputationOptions", "SendingOptions",
                  "SuppressionOptions", "VdmOptions"):
            if req.get(k) is not None:
                if not isinstance(req[k], dict):
                    raise AwsError(400, "BadRequestException", "%s must be an object" % k)
                cs[k] = req[k]
        with st.lock:
            ses = st.ses_account(account)
            if name in ses["configuration_sets"]:
                raise AwsError(400, "AlreadyExistsException",
                               "Configuration set <%s> already exists." % name)
            cs["event_destinations"] = {}
            ses["configuration_sets"][name] = cs
        return 200, {}

    def op_get_configuration_set(self, c):
        st = self.st
        account = self.need_account(c.ident)
        name = c.params[0]
        with st.lock:
            cs = st.ses_account(account)["configuration_sets"].get(name)
            if cs is None:
                raise self.ses_config_set_missing(name)
            return 200, {k: copy.deepcopy(v) for k, v in cs.items() if k != "event_destinations"}

    def op_create_event_destination(self, c):
        st = self.st
        account = self.need_account(c.ident)
        cs_name = c.params[0]
        req = c.json()
        name = req.get("EventDestinationName")
        if not isinstance(name, str) or not SES_NAME_RE.match(name):
            raise AwsError(400, "BadRequestException",
                           "EventDestinationName must be 1-64 characters of A-Z a-z 0-9 _ -")
        dest = req.get("EventDestination")
        if not isinstance(dest, dict):
            raise AwsError(400, "BadRequestException", "EventDestination is required")
        types = dest.get("MatchingEventTypes")
        if not isinstance(types, list) or not types or any(t not in SES_EVENT_TYPES for t in types):
            raise AwsError(400, "BadRequestException",
                           "MatchingEventTypes must be a non-empty list of %s" % (SES_EVENT_TYPES,))
        kinds = [k for k in SES_DESTINATION_KINDS if dest.get(k) is not None]
        if len(kinds) != 1:
            raise AwsError(400, "BadRequestException", "Exactly one destination must be given")
        if kinds[0] == "SnsDestination":
            arn = (dest["SnsDestination"] or {}).get("TopicArn")
            if not isinstance(arn, str) or not re.match(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$", arn):
                raise AwsError(400, "BadRequestException", "SnsDestination.TopicArn is not a topic ARN")
        out = {"Name": name, "Enabled": bool(dest.get("Enabled", False)),
               "MatchingEventTypes": list(types), kinds[0]: dest[kinds[0]]}
        with st.lock:
            cs = st.ses_account(account)["configuration_sets"].get(cs_name)
            if cs is None:
                raise self.ses_config_set_missing(cs_name)
            if name in cs["event_destinations"]:
                raise AwsError(400, "AlreadyExistsException",
                               "Event destination <%s> already exists in configuration set <%s>."
                               % (name, cs_name))
            if len(cs["event_destinations"]) >= 10:
                raise AwsError(400, "LimitExceededException",
                               "A configuration set can have at most 10 event destinations.")
            cs["event_destinations"][name] = out
        return 200, {}

    def op_get_event_destinations(self, c):
        st = self.st
        account = self.need_account(c.ident)
        with st.lock:
            cs = st.ses_account(account)["configuration_sets"].get(c.params[0])
            if cs is None:
                raise self.ses_config_set_missing(c.params[0])
            return 200, {"EventDestinations": copy.deepcopy(list(cs["event_destinations"].values()))}

    @staticmethod
    def ses_identity_view(i):
        verified = i["verified"]
        out = {"IdentityType": i["IdentityType"], "FeedbackForwardingStatus": True,
               "VerifiedForSendingStatus": verified,
               "VerificationStatus": "SUCCESS" if verified else "PENDING",
               "MailFromAttributes": {"BehaviorOnMxFailure": "USE_DEFAULT_VALUE"},
               "Policies": {}, "Tags": copy.deepcopy(i["Tags"])}
        if i["IdentityType"] == "DOMAIN":
            out["DkimAttributes"] = {
                "SigningEnabled": True, "Status": "SUCCESS" if verified else "PENDING",
                "Tokens": list(i["Tokens"]), "SigningAttributesOrigin": "AWS_SES",
                "CurrentSigningKeyLength": "RSA_2048_BIT", "NextSigningKeyLength": "RSA_2048_BIT",
                "LastKeyGenerationTimestamp": i["created"]}
        else:
            out["DkimAttributes"] = {"SigningEnabled": False, "Status": "NOT_STARTED", "Tokens": []}
        if i.get("ConfigurationSetName"):
            out["ConfigurationSetName"] = i["ConfigurationSetName"]
        return out

    def op_create_email_identity(self, c):
        """A domain (Easy DKIM, three tokens) or an email address; verified
        after identity_verify_polls GetEmailIdentity calls or POST /admin/ses/verify."""
        st = self.st
        account = self.need_account(c.ident)
        req = c.json()
        name = req.get("EmailIdentity")
        if not isinstance(name, str) or not name:
            raise AwsError(400, "BadRequestException", "EmailIdentity is required")
        if "@" in name:
            local, _, domain = name.rpartition("@")
            if not local or not DOMAIN_RE.match(domain):
                raise AwsError(400, "BadRequestException", "Invalid email address %s" % name)
            kind = "EMAIL_ADDRESS"
        elif DOMAIN_RE.match(name):
            kind = "DOMAIN"
        else:
            raise AwsError(400, "BadRequestException", "Invalid domain name %s" % name)
        if req.get("DkimSigningAttributes") is not None:
            raise AwsError(400, "BadRequestException",
                           "awsdouble does not support DkimSigningAttributes (BYODKIM)")
        tags = self.ses_tags(req.get("Tags"))
        cs_name = req.get("ConfigurationSetName")
        with st.lock:
            ses = st.ses_account(account)
            if cs_name is not None and cs_name not in ses["configuration_sets"]:
                raise self.ses_config_set_missing(cs_name)
            key = name.lower()
            if key in ses["identities"]:
                raise AwsError(400, "AlreadyExistsException", "Email identity <%s> already exists." % name)
            i = {"EmailIdentity": name, "IdentityType": kind, "Tags": tags,
                 "ConfigurationSetName": cs_name, "created": st.now(), "verified": False,
                 "Tokens": [random_chars(32) for _ in range(3)] if kind == "DOMAIN" else [],
                 "polls_left": int(st.config["identity_verify_polls"])}
            ses["identities"][key] = i
            view = self.ses_identity_view(i)
            if i["polls_left"] <= 0:
                st.ses_verify(i)
        return 200, {k: view[k] for k in ("IdentityType", "VerifiedForSendingStatus", "DkimAttributes")}

    def op_get_email_identity(self, c):
        st = self.st
        account = self.need_account(c.ident)
        name = c.params[0]
        with st.lock:
            i = st.ses_account(account)["identities"].get(name.lower())
            if i is None:
                raise AwsError(404, "NotFoundException", "Email identity <%s> does not exist." % name)
            if not i["verified"]:
                i["polls_left"] -= 1
                if i["polls_left"] <= 0:
                    st.ses_verify(i)
            return 200, self.ses_identity_view(i)


class _VerifyingSigner(SigV4Auth):
    """botocore's SigV4 signer, told to sign exactly the headers the client
    listed in SignedHeaders (botocore would otherwise skip e.g. User-Agent)."""

    def __init__(self, credentials, service, region, signed_set):
        super().__init__(credentials, service, region)
        self._signed_set = signed_set

    def headers_to_sign(self, request):
        out = HTTPHeaders()
        for name, value in request.headers.items():
            if name.lower() in self._signed_set:
                out[name.lower()] = value
        return out


class MetadataHandler(Handler):
    """Plain HTTP: EC2 IMDSv2 (/latest/...) and a container credentials
    endpoint (/container/...), both handing out temporary credentials of a
    configured role that STS and SES then accept."""

    IMDS_CREDS = "/latest/meta-data/iam/security-credentials"

    def do_GET(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def dispatch(self):
        path = urllib.parse.urlsplit(self.path).path
        op = None
        status, code = 200, None
        try:
            self.read_body()
            if path == "/latest/api/token":
                op = "IMDSToken"
                if self.command != "PUT":
                    raise AwsError(405, "MethodNotAllowed", "Method Not Allowed")
                self.apply_faults(op)
                status = self.imds_token()
            elif path.startswith("/latest/"):
                op = "IMDSCredentials"
                if self.command != "GET":
                    raise AwsError(405, "MethodNotAllowed", "Method Not Allowed")
                self.check_imds_token()
                self.apply_faults(op)
                status = self.imds_get(path)
            elif path.startswith("/container/"):
                op = "ContainerCredentials"
                if self.command != "GET":
                    raise AwsError(405, "MethodNotAllowed", "Method Not Allowed")
                self.check_container_auth()
                self.apply_faults(op)
                status = self.container_creds()
            else:
                raise AwsError(404, "NotFound", "Not Found")
        except AwsError as e:
            status, code = e.status, e.code
            self.send(e.status, json.dumps({"code": e.code, "message": e.message}),
                      "application/json")
        except (BrokenPipeError, ConnectionResetError):
            status, code = 0, "ConnectionLost"
        finally:
            with self.st.lock:
                self.st.calls.append({"operation": op, "method": self.command, "path": path,
                                      "access_key": None, "status": status, "code": code,
                                      "time": self.st.now(), "request_id": None})

    # ------------------------------------------------------------ IMDSv2
    def imds_token(self):
        if self.headers.get("X-Forwarded-For"):
            raise AwsError(403, "Forbidden", "Forbidden")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        try:
            ttl = int(ttl)
        except (TypeError, ValueError):
            raise AwsError(400, "BadRequest", "X-aws-ec2-metadata-token-ttl-seconds is required")
        if ttl < 1 or ttl > 21600:
            raise AwsError(400, "BadRequest", "X-aws-ec2-metadata-token-ttl-seconds must be 1-21600")
        token = base64.urlsafe_b64encode(secrets.token_bytes(42)).decode()
        with self.st.lock:
            self.st.imds_tokens[token] = self.st.now() + ttl
        self.send(200, token, "text/plain", {"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
        return 200

    def check_imds_token(self):
        token = self.headers.get("X-aws-ec2-metadata-token")
        with self.st.lock:
            expiry = self.st.imds_tokens.get(token) if token else None
            now = self.st.now()
        if expiry is None or now >= expiry:
            raise AwsError(401, "Unauthorized", "Unauthorized")

    def imds_get(self, path):
        with self.st.lock:
            role_arn = self.st.config["imds_role"]
        name = role_arn.split("/")[-1] if role_arn else None
        p = path.rstrip("/")
        if p == self.IMDS_CREDS and name:
            self.send(200, name, "text/plain")
            return 200
        if name and p == self.IMDS_CREDS + "/" + name:
            with self.st.lock:
                ak, rec = self.st.issue_temp_creds(role_arn, "i-0awsdouble", METADATA_LIFETIME, "IMDS")
            body = {"Code": "Success", "LastUpdated": iso8601(rec["issued"]), "Type": "AWS-HMAC",
                    "AccessKeyId": ak, "SecretAccessKey": rec["secret"], "Token": rec["token"],
                    "Expiration": iso8601(rec["expiry"])}
            self.send(200, json.dumps(body, indent=2), "text/plain")
            return 200
        raise AwsError(404, "NotFound", "Not Found")

    # ------------------------------------------------------------ container
    def check_container_auth(self):
        with self.st.lock:
            want = self.st.config["container_auth"]
        if want is None:
            return
        got = self.headers.get("Authorization")
        if got is None:
            raise AwsError(401, "Unauthorized", "Authorization header required")
        if not hmac.compare_digest(got.encode(), want.encode()):
            raise AwsError(403, "Forbidden", "Authorization token is not valid")

    def container_creds(self):
        with self.st.lock:
            role_arn = self.st.config["container_role"]
            if not role_arn:
                raise AwsError(404, "NotFound", "No container role configured")
            ak, rec = self.st.issue_temp_creds(role_arn, "awsdouble-task", METADATA_LIFETIME,
                                               "Container")
        body = {"RoleArn": role_arn, "AccessKeyId": ak, "SecretAccessKey": rec["secret"],
                "Token": rec["token"], "Expiration": iso8601(rec["expiry"])}
        self.send(200, json.dumps(body), "application/json")
        return 200


class AdminHandler(Handler):
    def do_GET(self):
        self.admin()

    def do_POST(self):
        self.admin()

    def do_DELETE(self):
        self.admin()

    def reply(self, obj, status=200):
        self.send(status, json.dumps(obj), "application/json")

    # The *_view methods run with the state lock held.
    def orgs_view(self):
        st = self.st

        def node(rec, arn):
            out = {k: v for k, v in rec.items() if k != "parent"}
            out["Arn"] = arn
            out["ParentId"] = rec.get("parent")
            out["children"] = st.org_children(rec["Id"])
            return out

        accounts = []
        for a in st.org_accounts.values():
            v = st.org_account_view(a)
            v.update(ParentId=a["parent"], Tags=a["Tags"], management=a["management"])
            accounts.append(v)
        requests = []
        for r in st.org_requests.values():
            v = st.org_request_view(r)
            v.update({k: r[k] for k in ("Email", "RoleName", "Tags", "IamUserAccessToBilling",
                                        "polls_left")})
            requests.append(v)
        return {"organization": {"Id": st.org_id,
                                 "management_account": st.config["management_account"]},
                "root": node(st.root, st.org_arn("root", st.root["Id"])),
                "accounts": accounts, "create_requests": requests,
                "ous": [node(o, st.org_arn("ou", o["Id"])) for o in st.org_ous.values()]}

    def iam_view(self, account=None):
        roles = []
        for r in self.st.iam_roles.values():
            if account not in (None, r["account"]):
                continue
            v = {k: copy.deepcopy(r[k]) for k in r if k not in ("trust", "policies")}
            v["AssumeRolePolicyDocument"] = r["trust"]
            v["policies"] = {n: json.loads(t) for n, t in r["policies"].items()}
            roles.append(v)
        return {"roles": roles}

    def ses_view(self, account=None):
        st = self.st
        out = {}
        for acct, ses in st.ses.items():
            if account not in (None, acct):
                continue
            out[acct] = {"configuration_sets": copy.deepcopy(ses["configuration_sets"]),
                         "identities": copy.deepcopy(ses["identities"]),
                         "details": copy.deepcopy(ses["details"]),
                         "review_polls_left": ses["review_polls_left"],
                         "settings": st.account_settings(acct)}
        return {"accounts": out}

    def admin(self):
        st = self.st
        u = urllib.parse.urlsplit(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
        try:
            body = self.read_body()
            req = json.loads(body) if body.strip() else {}
        except (AwsError, ValueError) as e:
            return self.reply({"error": str(e)}, 400)
        m, p = self.command, u.path.rstrip("/")
        try:
            with st.lock:
                if p == "/admin/health":
                    return self.reply({"ok": True, "pid": os.getpid()})
                if p == "/admin/config" and m == "GET":
                    return self.reply(st.config)
                if p == "/admin/config" and m == "POST":
                    st.apply_config(req)
                    return self.reply(st.config)
                if p == "/admin/faults" and m == "GET":
                    return self.reply(st.faults)
                if p == "/admin/faults" and m == "POST":
                    op, kind = req.get("operation"), req.get("kind")
                    if op not in OPERATIONS or kind not in FAULT_KINDS:
                        return self.reply({"error": "operation must be one of %s, kind one of %s"
                                           % (OPERATIONS, sorted(FAULT_KINDS))}, 400)
                    f = dict(req)
                    if f.get("count") is not None:
                        f["count"] = int(f["count"])
                    st.faults[op].append(f)
                    return self.reply(st.faults)
                if p == "/admin/faults" and m == "DELETE" or p == "/admin/faults/clear":
                    op = req.get("operation") or q.get("operation")
                    for o in OPERATIONS:
                        if op in (None, o):
                            st.faults[o] = []
                    st.release.set()
                    st.release = threading.Event()
                    return self.reply(st.faults)
                if p == "/admin/messages":
                    msgs = st.messages
                    if "account" in q:
                        msgs = [x for x in msgs if x["account"] == q["account"]]
                    return self.reply(msgs)
                if p == "/admin/calls":
                    calls = st.calls
                    if "operation" in q:
                        calls = [c for c in calls if c["operation"] == q["operation"]]
                    counts = {}
                    for c in st.calls:
                        counts[str(c["operation"])] = counts.get(str(c["operation"]), 0) + 1
                    return self.reply({"counts": counts, "calls": calls})
                if p == "/admin/credentials":
                    return self.reply({k: dict(v) for k, v in st.temp_creds.items()})
                if p == "/admin/expire" and m == "POST":
                    ak = req.get("access_key")
                    for k, v in st.temp_creds.items():
                        if ak in (None, k):
                            v["expiry"] = st.now() - 1
                    return self.reply({"ok": True})
                if p == "/admin/clock" and m == "POST":
                    st.clock_offset = float(req.get("offset_seconds", 0))
                    return self.reply({"offset_seconds": st.clock_offset, "now": st.now()})
                if p == "/admin/reset" and m == "POST":
                    if req.get("config"):
                        st.config = copy.deepcopy(DEFAULT_CONFIG)
                    st.reset_state()
                    st.clock_offset = 0.0
                    st.release.set()
                    st.release = threading.Event()
                    return self.reply({"ok": True})
                if p == "/admin/orgs" and m == "GET":
                    return self.reply(self.orgs_view())
                if p == "/admin/iam" and m == "GET":
                    return self.reply(self.iam_view(q.get("account")))
                if p == "/admin/ses" and m == "GET":
                    return self.reply(self.ses_view(q.get("account")))
                if p == "/admin/ses/verify" and m == "POST":
                    ses = st.ses.get(str(req.get("account")))
                    i = ses and ses["identities"].get(str(req.get("identity", "")).lower())
                    if not i:
                        return self.reply({"error": "no identity %r in account %r"
                                           % (req.get("identity"), req.get("account"))}, 404)
                    st.ses_verify(i)
                    return self.reply({"ok": True})
            return self.reply({"error": "no such admin endpoint %s %s" % (m, p)}, 404)
        except (ValueError, TypeError, KeyError) as e:
            return self.reply({"error": str(e)}, 400)


# ---------------------------------------------------------------- certificates
def make_certs(d):
    """Throwaway CA + server cert for 127.0.0.1/localhost via the openssl CLI,
    falling back to python3-cryptography if there is no openssl binary."""
    ca_key, ca_pem = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr, crt = os.path.join(d, "server.key"), os.path.join(d, "server.csr"), os.path.join(d, "server.pem")
    openssl = shutil.which("openssl")
    if openssl:
        ext = os.path.join(d, "ext.cnf")
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        run = lambda args: subprocess.run([openssl] + args, check=True, timeout=30,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        run(["req", "-x509"] + ec + ["-keyout", ca_key, "-out", ca_pem, "-days", "2",
             "-subj", "/CN=awsdouble throwaway test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        run(["req"] + ec + ["-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"])
        run(["x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial",
             "-out", crt, "-days", "2", "-extfile", ext])
        return ca_pem, crt, key
    import ipaddress  # fallback: python3-cryptography
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec as _ec
    from cryptography.x509.oid import NameOID
    now = datetime.datetime.utcnow()
    cak = _ec.generate_private_key(_ec.SECP256R1())
    can = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "awsdouble throwaway test CA")])
    cacert = (x509.CertificateBuilder().subject_name(can).issuer_name(can).public_key(cak.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
              .not_valid_after(now + datetime.timedelta(days=2))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .sign(cak, hashes.SHA256()))
    sk = _ec.generate_private_key(_ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(can).public_key(sk.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .sign(cak, hashes.SHA256()))
    with open(ca_pem, "wb") as f:
        f.write(cacert.public_bytes(serialization.Encoding.PEM))
    with open(crt, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key, "wb") as f:
        f.write(sk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()))
    return ca_pem, crt, key


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 64


def main(argv=None):
    ap = argparse.ArgumentParser(description="AWS test double (STS + SES v2)")
    ap.add_argument("--config", help="JSON file with initial config (same shape as POST /admin/config)")
    ap.add_argument("--cert-dir", help="directory for the test CA/cert (default: new temp dir, removed at exit)")
    ap.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin is closed")
    ap.add_argument("--max-lifetime", type=float, default=3600.0, help="exit after this many seconds")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)

    cfg = None
    if a.config:
        with open(a.config) as f:
            cfg = json.load(f)
    state = State(cfg)
    tmp = None
    if a.cert_dir:
        os.makedirs(a.cert_dir, exist_ok=True)
        cdir = a.cert_dir
    else:
        tmp = cdir = tempfile.mkdtemp(prefix="awsdouble-")
    ca, crt, key = make_certs(cdir)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(crt, key)

    aws = Server(("127.0.0.1", 0), AwsHandler)
    aws.socket = ctx.wrap_socket(aws.socket, server_side=True, do_handshake_on_connect=False)
    adm = Server(("127.0.0.1", 0), AdminHandler)
    meta = Server(("127.0.0.1", 0), MetadataHandler)
    for s in (aws, adm, meta):
        s.state = state
        s.verbose = a.verbose

    done = threading.Event()

    def stop(*_):
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
               for s in (aws, adm, meta)]
    for t in threads:
        t.start()
    if a.exit_on_stdin_eof:
        def watch():
            try:
                while os.read(0, 4096):     # raw fd: no buffered-reader lock at exit
                    pass
            except Exception:
                pass
            done.set()
        threading.Thread(target=watch, daemon=True).start()

    sys.stdout.write(json.dumps({"port": aws.server_address[1], "admin_port": adm.server_address[1],
                                 "metadata_port": meta.server_address[1],
                                 "ca": ca, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    done.wait(a.max_lifetime)
    state.release.set()
    for s in (aws, adm, meta):
        s.shutdown()
        s.server_close()
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)   # don't wait for daemon handler threads (e.g. released hangs)
