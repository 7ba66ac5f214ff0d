#!/usr/bin/python3
"""awsdouble: an in-process AWS test double for sesgate's tests.

HTTPS (throwaway test CA) on 127.0.0.1 serving
  * STS AssumeRole          POST /                     (query protocol, XML)
  * STS AssumeRoleWithWebIdentity  POST /  (unsigned, as in AWS)
  * SES v2 SendEmail        POST /v2/email/outbound-emails   (rest-json)
  * SES v2 GetAccount       GET  /v2/email/account           (rest-json)
a plain-HTTP admin/control API on a second loopback port, and a plain-HTTP
"metadata" port serving EC2 IMDSv2 and a container credentials endpoint.

Every AWS request's SigV4 signature is verified with botocore (the signer is
used as the independent reference implementation).  See README.md.

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
MAX_BODY = 50 * 1024 * 1024
HANG_MAX_SECONDS = 600.0

DEFAULT_CONFIG = {
    "regions": ["us-east-1"],          # accepted signing regions
    "max_skew_seconds": 300,
    "credential_lifetime": None,       # seconds; overrides DurationSeconds if shorter
    "enforce_daily_quota": True,
    "static_keys": {},                 # access key -> {"secret":..., "account": optional}
    "roles": {},                       # role ARN -> {"external_id": str|None, "account": str}
    "accounts": {},                    # account id -> quota/status settings
    "web_identity_tokens": {},         # web identity token -> role ARN it may assume
    "imds_role": None,                 # role ARN whose credentials IMDS hands out
    "container_role": None,            # role ARN whose credentials /container/... hands out
    "container_auth": None,            # required Authorization value for /container/...
}
MERGED_CONFIG_KEYS = ("static_keys", "roles", "accounts", "web_identity_tokens")
METADATA_LIFETIME = 21600              # IMDS/container credentials, before credential_lifetime

DEFAULT_ACCOUNT = {
    "MaxSendRate": 14.0,
    "Max24HourSend": 50000.0,
    "SendingEnabled": True,
    "ProductionAccessEnabled": True,
    "EnforcementStatus": "HEALTHY",
}

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
META_FAULTS = {
    "throttle": (429, "Throttling", "Too many requests"),
    "error500": (500, "InternalError", "Internal error"),
    "expired": (403, "Forbidden", "Forbidden"),
    "rejected": (403, "Forbidden", "Forbidden"),
    "suspended": (403, "Forbidden", "Forbidden"),
    "paused": (403, "Forbidden", "Forbidden"),
}
FAULT_KINDS = set(SES_FAULTS) | {"latency", "hang", "error"}
OPERATIONS = ("AssumeRole", "AssumeRoleWithWebIdentity", "SendEmail", "GetAccount",
              "IMDSToken", "IMDSCredentials", "ContainerCredentials")
STS_OPERATIONS = ("AssumeRole", "AssumeRoleWithWebIdentity")
SESSION_RE = re.compile(r"^[\w+=,.@-]{2,64}$")

AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]+)\s*$")


class AwsError(Exception):
    def __init__(self, status, code, message, sender=True):
        super().__init__(message)
        self.status, self.code, self.message, self.sender = status, code, message, sender


def iso8601(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class State:
    """All mutable state, guarded by one lock."""

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

    def now(self):
        return time.time() + self.clock_offset

    def apply_config(self, cfg):
        for k, v in cfg.items():
            if k in MERGED_CONFIG_KEYS:
                if not isinstance(v, dict):
                    raise ValueError(k + " must be an object")
                self.config[k].update(v)
            elif k in DEFAULT_CONFIG:
                self.config[k] = v
            else:
                raise ValueError("unknown config key " + k)

    def account_settings(self, account):
        s = dict(DEFAULT_ACCOUNT)
        s.update(self.config["accounts"].get(account, {}))
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
        account = role.get("account") or role_arn.split(":")[4]
        now = self.now()
        ak = "ASIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
        rec = {"secret": base64.b64encode(secrets.token_bytes(30)).decode(),
               "token": base64.b64encode(b"awsdouble-session:" + secrets.token_bytes(96)).decode(),
               "expiry": now + duration, "role_arn": role_arn, "account": account,
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
        table = {"sts": STS_FAULTS, "ses": SES_FAULTS}.get(proto, META_FAULTS)
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
        proto = "sts" if path == "/" else "ses"
        op = None
        access_key = None
        status, code = 200, None
        try:
            body = self.read_body()
            if proto == "sts":
                if self.command != "POST":
                    raise AwsError(400, "InvalidAction", "STS requires POST")
                form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
                form = {k: v[0] for k, v in form.items()}
                action = form.get("Action")
                if action not in STS_OPERATIONS:
                    raise AwsError(400, "InvalidAction", "Could not find operation %s" % action)
                op = action
            elif self.command == "POST" and path == "/v2/email/outbound-emails":
                op = "SendEmail"
            elif self.command == "GET" and path == "/v2/email/account":
                op = "GetAccount"
            else:
                raise AwsError(404, "NotFoundException", "No such operation: %s %s" % (self.command, path))
            if op == "AssumeRoleWithWebIdentity":
                # Unsigned in AWS: the web identity token is the credential.
                self.apply_faults(op, proto)
                status, payload = self.assume_role_web_identity(form, rid)
                self.send(status, payload, "text/xml", {"x-amzn-RequestId": rid})
                return
            access_key, ident = self.authenticate(proto, body)
            self.apply_faults(op, proto)
            if op == "AssumeRole":
                status, payload = self.assume_role(form, ident, rid)
                self.send(status, payload, "text/xml", {"x-amzn-RequestId": rid})
            elif op == "SendEmail":
                status, payload = self.send_email(body, ident, access_key)
                self.send(status, json.dumps(payload), "application/json", {"x-amzn-RequestId": rid})
            else:
                status, payload = self.get_account(ident)
                self.send(status, json.dumps(payload), "application/json", {"x-amzn-RequestId": rid})
        except AwsError as e:
            status, code = e.status, e.code
            self.send_error_response(proto, e, rid)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            status, code = 0, "ConnectionLost"
        finally:
            with self.st.lock:
                self.st.calls.append({"operation": op, "method": self.command, "path": path,
                                      "access_key": access_key, "status": status, "code": code,
                                      "time": self.st.now(), "request_id": rid})

    def send_error_response(self, proto, e, rid):
        if proto == "sts":
            xml = ('<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code>'
                   '<Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>'
                   % (STS_NS, "Sender" if e.sender and e.status < 500 else "Receiver",
                      xml_escape(e.code), xml_escape(e.message), rid))
            self.send(e.status, xml, "text/xml", {"x-amzn-RequestId": rid})
        else:
            self.send(e.status, json.dumps({"message": e.message}), "application/json",
                      {"x-amzn-ErrorType": e.code, "x-amzn-RequestId": rid})

    # ------------------------------------------------------------ SigV4
    def authenticate(self, proto, body):
        """Verify SigV4; return (access_key, identity dict with 'account')."""
        st = self.st
        service = "sts" if proto == "sts" else "ses"
        auth = self.headers.get("Authorization")
        if not auth:
            raise AwsError(403, "MissingAuthenticationToken" if proto == "sts" else "MissingAuthenticationTokenException",
                           "Request is missing Authentication Token")
        m = AUTH_RE.match(auth.strip())
        if not m:
            raise AwsError(400 if proto == "sts" else 403, "IncompleteSignature",
                           "Authorization header requires Credential, SignedHeaders and Signature (AWS4-HMAC-SHA256)")
        cred, signed, signature = m.group(1), m.group(2), m.group(3)
        parts = cred.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise AwsError(400 if proto == "sts" else 403, "IncompleteSignature", "Malformed credential scope")
        ak, sdate, region, svc = parts[0], parts[1], parts[2], parts[3]
        amz_date = self.headers.get("X-Amz-Date")
        if not amz_date:
            raise AwsError(400 if proto == "sts" else 403, "IncompleteSignature", "Missing X-Amz-Date")
        try:
            req_ts = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            raise AwsError(400 if proto == "sts" else 403, "IncompleteSignature", "Bad X-Amz-Date")
        with st.lock:
            now = st.now()
            max_skew = st.config["max_skew_seconds"]
            regions = list(st.config["regions"])
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
                     "access_key": ak}
        else:
            secret = static["secret"]
            ident = {"account": static.get("account"), "role_arn": None, "temporary": False,
                     "access_key": ak}
        sha_hdr = self.headers.get("X-Amz-Content-SHA256")
        if sha_hdr and sha_hdr != "UNSIGNED-PAYLOAD" and sha_hdr != hashlib.sha256(body).hexdigest():
            raise AwsError(400 if proto == "sts" else 403, "XAmzContentSHA256Mismatch",
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
        role_name = role_arn.split("/")[-1]
        return ('<%sResponse xmlns="%s"><%sResult>%s'
                '<AssumedRoleUser><AssumedRoleId>%s:%s</AssumedRoleId>'
                '<Arn>arn:aws:sts::%s:assumed-role/%s/%s</Arn></AssumedRoleUser>'
                '<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>'
                '<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>'
                '<PackedPolicySize>0</PackedPolicySize>'
                '</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>'
                '</%sResponse>'
                % (action, STS_NS, action, extra, role_id, xml_escape(session), rec["account"],
                   xml_escape(role_name), xml_escape(session), ak, xml_escape(rec["secret"]),
                   xml_escape(rec["token"]), iso8601(rec["expiry"]), action, rid, action))

    def assume_role(self, form, ident, rid):
        st = self.st
        role_arn, session, duration = self.sts_common(form)
        with st.lock:
            role = st.config["roles"].get(role_arn)
        denied = AwsError(403, "AccessDenied",
                          "User: %s is not authorized to perform: sts:AssumeRole on resource: %s"
                          % (ident.get("role_arn") or "arn:aws:iam::000000000000:user/gateway", role_arn))
        if role is None:
            raise denied
        want = role.get("external_id")
        if want is not None and form.get("ExternalId") != want:
            raise denied
        if want is None and role.get("reject_external_id") and "ExternalId" in form:
            raise denied
        if duration > int(role.get("max_session_duration", 43200)):
            raise AwsError(400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        with st.lock:
            ak, rec = st.issue_temp_creds(role_arn, session, duration, "AssumeRole",
                                          external_id=form.get("ExternalId"),
                                          source_access_key=ident.get("access_key"))
        return 200, self.sts_creds_xml("AssumeRole", role_arn, session, ak, rec, rid)

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

    # ------------------------------------------------------------ SES v2
    def need_account(self, ident):
        if not ident.get("account"):
            raise AwsError(403, "AccessDeniedException",
                           "These credentials are not associated with an SES account in awsdouble.")
        return ident["account"]

    def send_email(self, body, ident, access_key):
        st = self.st
        account = self.need_account(ident)
        try:
            req = json.loads(body.decode("utf-8"))
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
        if not dest:
            hdrs = email.parser.BytesHeaderParser().parsebytes(data)
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

    def get_account(self, ident):
        account = self.need_account(ident)
        st = self.st
        with st.lock:
            s = st.account_settings(account)
            sent = st.sent_last_24h(account, st.now())
        return 200, {
            "DedicatedIpAutoWarmupEnabled": False,
            "EnforcementStatus": s.get("EnforcementStatus", "HEALTHY"),
            "ProductionAccessEnabled": bool(s.get("ProductionAccessEnabled", True)),
            "SendQuota": {"Max24HourSend": float(s.get("Max24HourSend", -1)),
                          "MaxSendRate": float(s.get("MaxSendRate", 1)),
                          "SentLast24Hours": float(sent)},
            "SendingEnabled": bool(s.get("SendingEnabled", True)),
        }


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
                    st.reset_state()
                    st.clock_offset = 0.0
                    st.release.set()
                    st.release = threading.Event()
                    if req.get("config"):
                        st.config = copy.deepcopy(DEFAULT_CONFIG)
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
