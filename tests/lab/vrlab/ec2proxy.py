# SPDX-License-Identifier: GPL-2.0-or-later
"""A recording, fault-injecting HTTP proxy in front of moto's EC2 Query API.

Ec2Proxy listens on 127.0.0.1 at a free port and forwards every request
(method, path, headers, body) to the upstream (moto), answering with what
moto answered. Every request is recorded as an Ec2Call: when it came, what
it said (headers, body, the Action and the other Query parameters), what the
proxy answered and whether it was faulted.

Faults (set_fault) replace the upstream for the requests they match:
  "throttle"    HTTP 503, EC2 error document with Code RequestLimitExceeded
                (what EC2 answers when it throttles a caller)
  "unavailable" HTTP 503, EC2 error document with Code Unavailable
  "drop"        the request is read, then the connection is closed unanswered
  "hang"        the request is read, then nothing is answered until the fault
                is cleared or changed, the proxy stops, or the client goes
                away; the connection is then closed unanswered
Faulted requests are recorded (faulted=True) and never reach the upstream.

The strict layer (strict=True) answers as EC2 does where moto is kinder; a
request it refuses is recorded with strict set to the error code and never
reaches the upstream:
  CreateRoute/ReplaceRoute to a destination equal to or more specific than
  one of the VPC's CIDR blocks that is not exactly the CIDR of one of its
  subnets: HTTP 400 InvalidParameterValue (EC2 accepts a route inside the
  VPC only for a whole subnet: "more specific routing")
  CreateRoute into a table that already holds route_limit (50, EC2's default
  quota "Routes per route table") non-propagated routes of the destination's
  IP version: HTTP 400 RouteLimitExceeded
  DescribeRouteTables: a route to a network interface that no longer exists
  has state "blackhole" (moto keeps saying "active")
The layer reads the table, the VPC and its subnets from the upstream itself
(boto3, unsigned by the agent's keys, not recorded).

verify_sigv4() recomputes, with botocore, the AWS Signature Version 4 of a
recorded request, so tests can check what the agent (libcurl's
CURLOPT_AWS_SIGV4) signs. Every proxy checks every request it saw:
check_signatures() verifies each recorded request with the secret of the
access key it names (credentials: access key id -> secret, shared with the
test that hands out the keys) and raises on the first test that has a bad one;
the lab's conftest calls check_all() after every test, so a signature that
does not verify fails the test that caused it. A request a test tampers with
on purpose is marked expected_invalid.
"""
import dataclasses
import hashlib
import hmac
import http.client
import http.server
import ipaddress
import os
import re
import select
import socket
import threading
import time
import urllib.parse
import uuid

import boto3
import botocore.exceptions
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

REGION = "us-east-1"
FAULTS = ("throttle", "unavailable", "drop", "hang")
READ_ONLY_PREFIXES = ("Describe", "Get", "List")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
              "proxy-connection", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
              "expect"}
# (HTTP status, Code, Message) of the faults that answer.
_ERRORS = {
    "throttle": (503, "RequestLimitExceeded", "Request limit exceeded."),
    "unavailable": (503, "Unavailable", "The server is overloaded and can't handle the "
                    "request."),
}


def ec2_error_xml(code, message, request_id=None):
    """The error document of the EC2 Query API."""
    request_id = request_id or str(uuid.uuid4())
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>").encode()


def _blocks(vpc, subnets):
    """The VPC's CIDR blocks and its subnets' CIDRs, as ip_network objects."""
    vb = [vpc.get("CidrBlock")]
    vb += [a.get("CidrBlock") for a in vpc.get("CidrBlockAssociationSet", [])
           if a.get("CidrBlockState", {}).get("State", "associated") == "associated"]
    vb += [a.get("Ipv6CidrBlock") for a in vpc.get("Ipv6CidrBlockAssociationSet", [])]
    sb = [s.get("CidrBlock") for s in subnets]
    sb += [a.get("Ipv6CidrBlock") for s in subnets
           for a in s.get("Ipv6CidrBlockAssociationSet", [])]
    return ({ipaddress.ip_network(b) for b in vb if b},
            {ipaddress.ip_network(b) for b in sb if b})


def strict_inside_vpc(net, vpc, subnets):
    """EC2's refusal of a route inside a VPC CIDR block that is not a subnet's CIDR."""
    blocks, subnet_cidrs = _blocks(vpc, subnets)
    for b in sorted(blocks, key=str):
        if b.version == net.version and net.subnet_of(b) and net not in subnet_cidrs:
            return ("InvalidParameterValue",
                    f"The destination CIDR block {net} is equal to or more specific than "
                    f"one of this VPC's CIDR blocks ({b}) and matches no subnet's CIDR.")
    return None


def strict_route_limit(net, table, limit):
    """EC2's refusal of a new route in a table holding the most routes it allows."""
    def family(r):
        d = r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock")
        return d and ipaddress.ip_network(d, strict=False).version
    routes = [r for r in table.get("Routes", [])
              if r.get("Origin") != "EnableVgwRoutePropagation" and family(r) == net.version]
    if any(ipaddress.ip_network(r.get("DestinationCidrBlock")
                                or r.get("DestinationIpv6CidrBlock"), strict=False) == net
           for r in routes):
        return None  # already there: EC2 (and moto) say RouteAlreadyExists
    if len(routes) >= limit:
        return ("RouteLimitExceeded",
                f"The maximum number of routes has been reached for {table['RouteTableId']} "
                f"({limit} routes).")
    return None


def is_mutating(action):
    return bool(action) and not action.startswith(READ_ONLY_PREFIXES)


class Headers(dict):
    """Header name -> value, names spelt as received (repeated headers joined
    with ","); get_ci() and has_ci() ignore the case of the name."""

    def get_ci(self, name, default=None):
        lname = name.lower()
        for k, v in self.items():
            if k.lower() == lname:
                return v
        return default

    def has_ci(self, name):
        lname = name.lower()
        return any(k.lower() == lname for k in self)


@dataclasses.dataclass
class Ec2Call:
    time: float                 # time.monotonic() when the request was read
    method: str
    path: str                   # as sent, with the query string
    headers: Headers
    body: bytes
    action: str | None          # the Action parameter (form body or query)
    params: dict                # every Query parameter, body and query string
    status: int | None = None   # what the proxy answered; None: nothing (yet)
    faulted: bool = False
    fault: str | None = None    # the fault kind that took the request
    expected_invalid: bool = False  # a test broke its signature on purpose
    strict: str | None = None   # the error code the strict layer answered with

    @property
    def mutating(self):
        return is_mutating(self.action)


def parse_params(path, headers, body):
    """The Query parameters of a request: query string, then a form body."""
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query,
                                         keep_blank_values=True))
    ctype = (headers.get_ci("Content-Type") or "").lower()
    if body and (ctype.startswith("application/x-www-form-urlencoded") or not ctype):
        try:
            params.update(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            pass
    return params


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy = None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vrlab-ec2proxy"

    def log_message(self, fmt, *args):
        self.server.proxy._log(f"{self.address_string()} {fmt % args}")

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _handle(self):
        proxy = self.server.proxy
        body = self._read_body()
        headers = Headers()
        for k, v in self.headers.items():
            headers[k] = f"{headers[k]},{v}" if k in headers else v
        params = parse_params(self.path, headers, body)
        call = Ec2Call(time=time.monotonic(), method=self.command, path=self.path,
                       headers=headers, body=body, action=params.get("Action"), params=params)
        kind, gen = proxy._take_fault(call)
        if kind:
            call.faulted, call.fault = True, kind
        refusal = None if kind else proxy._strict_refusal(call)
        if refusal:
            call.strict = refusal[0]
        proxy._record(call)
        if refusal:
            proxy._log(f"{call.action} {call.params.get('RouteTableId')}: strict: {refusal[0]}")
            self._answer(call, 400, [("Content-Type", "text/xml;charset=UTF-8")],
                         ec2_error_xml(*refusal))
        elif kind in _ERRORS:
            status, code, message = _ERRORS[kind]
            self._answer(call, status, [("Content-Type", "text/xml;charset=UTF-8")],
                         ec2_error_xml(code, message))
        elif kind == "hang":
            proxy._hang(self.connection, gen)
            self._drop(call)
        elif kind == "drop":
            self._drop(call)
        else:
            self._forward(call)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle

    def _drop(self, call):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.server.proxy._log(f"{call.method} {call.path} {call.action}: dropped "
                               f"({call.fault})")

    def _forward(self, call):
        proxy = self.server.proxy
        try:
            conn = http.client.HTTPConnection(proxy._up.hostname, proxy._up.port or 80,
                                              timeout=proxy.upstream_timeout)
            try:
                conn.putrequest(call.method, call.path, skip_host=True,
                                skip_accept_encoding=True)
                has_host = False
                for k, v in self.headers.items():
                    lk = k.lower()
                    if lk in HOP_BY_HOP or lk == "content-length":
                        continue
                    has_host |= lk == "host"
                    conn.putheader(k, v)
                if not has_host:
                    conn.putheader("Host", proxy._up.netloc)
                if call.body or call.method in ("POST", "PUT", "PATCH"):
                    conn.putheader("Content-Length", str(len(call.body)))
                conn.endheaders(call.body or None)
                resp = conn.getresponse()
                data = resp.read()
                rheaders = [(k, v) for k, v in resp.getheaders()
                            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
                status, reason = resp.status, resp.reason
            finally:
                conn.close()
        except (OSError, http.client.HTTPException) as e:
            proxy._log(f"upstream failed: {e!r}")
            self._answer(call, 502, [("Content-Type", "text/xml;charset=UTF-8")],
                         ec2_error_xml("ProxyUpstreamError", f"upstream: {e}"))
            return
        if status == 200 and call.action == "DescribeRouteTables":
            data = proxy._strict_blackholes(data)
        self._answer(call, status, rheaders, data, reason)

    def _answer(self, call, status, headers, data, reason=None):
        call.status = status
        try:
            self.send_response_only(status, reason)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        self.log_request(status)


class Ec2Proxy:
    """Recording, fault-injecting proxy on 127.0.0.1:<free port> (self.url)."""

    def __init__(self, upstream_url, logdir, upstream_timeout=30, credentials=None,
                 region=REGION, logname="ec2proxy.log", strict=False, route_limit=50):
        self.upstream_url = upstream_url.rstrip("/")
        # access key id -> secret: the keys the test handed out (a shared dict)
        self.credentials = {} if credentials is None else credentials
        self.region = region
        self._up = urllib.parse.urlsplit(self.upstream_url)
        self.upstream_timeout = upstream_timeout
        self.strict = strict
        self.route_limit = route_limit
        self._strict_client = None
        self.calls = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._fault = None              # (kind, frozenset of actions or None, times left)
        self._fault_gen = 0             # moved on by set_fault() and clear_fault() only
        self._stopping = False
        self.log = os.path.join(logdir, logname)
        self._logf = open(self.log, "a", buffering=1)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"ec2proxy-{self.port}", daemon=True)
        self._thread.start()
        self._log(f"listening on {self.url}, upstream {self.upstream_url}")
        _proxies.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # --- faults ---
    def set_fault(self, kind, actions=None, times=None):
        """Fault the requests whose Action is in actions (None: every request);
        times: only that many of them, then the fault clears itself."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}, not one of {FAULTS}")
        if isinstance(actions, str):
            actions = [actions]
        with self._cond:
            self._fault = (kind, None if actions is None else frozenset(actions), times)
            self._fault_gen += 1
            self._cond.notify_all()
        self._log(f"fault {kind} actions={sorted(actions) if actions else 'all'} "
                  f"times={times}")

    def clear_fault(self):
        with self._cond:
            self._fault = None
            self._fault_gen += 1
            self._cond.notify_all()
        self._log("fault cleared")

    @property
    def fault(self):
        with self._lock:
            return self._fault and self._fault[0]

    def _take_fault(self, call):
        with self._cond:
            if not self._fault:
                return None, self._fault_gen
            kind, actions, times = self._fault
            if actions is not None and call.action not in actions:
                return None, self._fault_gen
            if times is not None:
                # Running out clears the fault but releases no hang: only
                # set_fault(), clear_fault() and stop() do.
                self._fault = (kind, actions, times - 1) if times > 1 else None
            return kind, self._fault_gen

    def _hang(self, sock, gen):
        """Wait until set_fault() or clear_fault() is called (the generation
        moves on from gen), the proxy stops or the client closes its end."""
        while True:
            with self._cond:
                if self._stopping or self._fault_gen != gen:
                    return
                self._cond.wait(0.05)
            try:
                r, _, _ = select.select([sock], [], [], 0)
                if r and not sock.recv(1, socket.MSG_PEEK):
                    return
            except OSError:
                return

    # --- the strict layer: EC2's rules that moto does not enforce ---
    def _upstream(self):
        with self._lock:
            if self._strict_client is None:
                self._strict_client = boto3.client(
                    "ec2", endpoint_url=self.upstream_url, region_name=self.region,
                    aws_access_key_id="AKIDSTRICTLAYER", aws_secret_access_key="strict")
            return self._strict_client

    def _strict_refusal(self, call):
        """(code, message) of EC2's answer to a route call it would refuse, else None."""
        if not self.strict or call.action not in ("CreateRoute", "ReplaceRoute"):
            return None
        p = call.params
        dst = p.get("DestinationCidrBlock") or p.get("DestinationIpv6CidrBlock")
        try:
            net = ipaddress.ip_network(dst or "", strict=False)
            ec2 = self._upstream()
            table = ec2.describe_route_tables(
                RouteTableIds=[p.get("RouteTableId", "")])["RouteTables"][0]
            vpc = ec2.describe_vpcs(VpcIds=[table["VpcId"]])["Vpcs"][0]
            subnets = ec2.describe_subnets(
                Filters=[{"Name": "vpc-id", "Values": [table["VpcId"]]}])["Subnets"]
        except (ValueError, KeyError, IndexError, botocore.exceptions.BotoCoreError,
                botocore.exceptions.ClientError):
            return None  # moto answers what is malformed or unknown
        return (strict_inside_vpc(net, vpc, subnets)
                or (call.action == "CreateRoute"
                    and strict_route_limit(net, table, self.route_limit)))

    def _strict_blackholes(self, data):
        """A DescribeRouteTables answer with EC2's state of routes to deleted interfaces."""
        if not self.strict or b"<networkInterfaceId>" not in data:
            return data
        try:
            enis = {e["NetworkInterfaceId"] for e in
                    self._upstream().describe_network_interfaces()["NetworkInterfaces"]}
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return data

        def route(m):
            item = m.group(0)
            eni = re.search(rb"<networkInterfaceId>([^<]+)</networkInterfaceId>", item)
            if not eni or eni.group(1).decode() in enis:
                return item
            return item.replace(b"<state>active</state>", b"<state>blackhole</state>")
        return re.sub(rb"<item>(?:(?!<item>|</item>).)*<destination(?:Ipv6)?CidrBlock>"
                      rb"(?:(?!<item>|</item>).)*</item>", route, data, flags=re.S)

    # --- records ---
    def _record(self, call):
        with self._lock:
            self.calls.append(call)

    def _log(self, line):
        try:
            self._logf.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        except (ValueError, OSError):
            pass

    def snapshot(self, since=None):
        with self._lock:
            return [c for c in self.calls if since is None or c.time >= since]

    def actions(self, mutating_only=False, since=None, faulted=None):
        """The Action of every recorded request, in arrival order. faulted:
        None both, True only faulted requests, False only forwarded ones."""
        return [c.action for c in self.snapshot(since)
                if c.action and (not mutating_only or c.mutating)
                and (faulted is None or c.faulted == faulted)]

    def count(self, action=None, since=None, faulted=None):
        """Recorded requests, of that Action (a name or a set of names) if given,
        at or after since (a time.monotonic() value) if given."""
        if isinstance(action, str):
            action = {action}
        return sum(1 for c in self.snapshot(since)
                   if (action is None or c.action in action)
                   and (faulted is None or c.faulted == faulted))

    def clear(self):
        """Forgets the records, once their signatures are checked."""
        self.check_signatures()
        with self._lock:
            self.calls.clear()

    # --- every request's signature ---
    def signature_problems(self):
        """[(call, what is wrong)] for every recorded request whose SigV4 does
        not verify with the secret of the access key it names."""
        out = []
        for c in self.snapshot():
            if c.expected_invalid:
                continue
            auth = c.headers.get_ci("Authorization")
            if not auth:
                out.append((c, "not signed: no Authorization header"))
                continue
            _, f = parse_authorization(auth)
            key_id = f.get("Credential", "").split("/")[0]
            secret = self.credentials.get(key_id)
            if secret is None:
                out.append((c, f"signed with access key {key_id!r}, which the test never "
                               f"handed out (known: {sorted(self.credentials)})"))
                continue
            ok, detail = verify_sigv4(c, secret, region=self.region)
            if not ok:
                out.append((c, detail))
        return out

    def check_signatures(self):
        """Raises AssertionError naming each request whose signature is bad."""
        bad = self.signature_problems()
        if bad:
            raise AssertionError(
                f"EC2 proxy {self.url}: {len(bad)} of {len(self.calls)} requests do not "
                "verify with botocore's SigV4 signer:\n" + "\n".join(
                    f"{c.method} {c.path} Action={c.action}: {why}" for c, why in bad[:3]))

    def stop(self):
        with self._cond:
            if self._stopping:
                return
            self._stopping = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._log("stopped")
        self._logf.close()


_proxies = []  # every Ec2Proxy of this process, in creation order


def proxies_since(mark):
    """The proxies created after len(_proxies) was mark."""
    return _proxies[mark:]


def proxy_mark():
    return len(_proxies)


def check_all(mark=0):
    """check_signatures() of every proxy created since mark (see proxy_mark)."""
    for p in proxies_since(mark):
        p.check_signatures()


# --- Signature Version 4 ---

class _RecordedSigV4(SigV4Auth):
    """SigV4Auth that signs exactly the headers a request lists in SignedHeaders,
    with the values it carried (botocore would drop user-agent and the like)."""

    def __init__(self, credentials, service_name, region_name, signed, headers):
        super().__init__(credentials, service_name, region_name)
        self._signed = signed
        self._recorded = headers

    def headers_to_sign(self, request):
        h = HTTPHeaders()
        for name in self._signed:
            h[name] = self._recorded.get_ci(name, "")
        return h


def parse_authorization(value):
    """'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...' ->
    (algorithm, {"Credential": ..., "SignedHeaders": ..., "Signature": ...})."""
    algorithm, _, rest = value.strip().partition(" ")
    fields = {}
    for part in rest.split(","):
        k, _, v = part.strip().partition("=")
        if k:
            fields[k] = v.strip()
    return algorithm, fields


def verify_sigv4(call, secret_key, region="us-east-1", service="ec2", *, access_key=None):
    """Recompute the SigV4 signature of a recorded request (an Ec2Call) with
    botocore. Returns (ok, detail); detail says what does not match, with the
    canonical request and string to sign botocore computed."""
    h = call.headers
    auth = h.get_ci("Authorization")
    if not auth:
        return False, "no Authorization header"
    algorithm, f = parse_authorization(auth)
    problems = []
    if algorithm != "AWS4-HMAC-SHA256":
        problems.append(f"algorithm {algorithm!r}, not AWS4-HMAC-SHA256")
    for k in ("Credential", "SignedHeaders", "Signature"):
        if k not in f:
            return False, f"Authorization lacks {k}: {auth}"
    scope = f["Credential"].split("/")
    if len(scope) != 5:
        return False, ("Credential is not key/date/region/service/aws4_request: "
                       f"{f['Credential']}")
    key_id, sdate, sregion, sservice, sterm = scope
    if access_key is not None and key_id != access_key:
        problems.append(f"access key {key_id!r}, expected {access_key!r}")
    amz_date = h.get_ci("X-Amz-Date")
    if not amz_date or not re.fullmatch(r"\d{8}T\d{6}Z", amz_date):
        return False, f"X-Amz-Date missing or malformed: {amz_date!r}"
    if sdate != amz_date[:8]:
        problems.append(f"credential scope date {sdate} is not the X-Amz-Date day "
                        f"{amz_date[:8]}")
    if sregion != region:
        problems.append(f"credential scope region {sregion!r}, expected {region!r}")
    if sservice != service:
        problems.append(f"credential scope service {sservice!r}, expected {service!r}")
    if sterm != "aws4_request":
        problems.append(f"credential scope ends with {sterm!r}, not aws4_request")
    signed = f["SignedHeaders"].split(";")
    if signed != sorted(signed) or any(s != s.lower() or not s for s in signed):
        problems.append(f"SignedHeaders not sorted lower-case names: {f['SignedHeaders']}")
    for must in ("host", "x-amz-date"):
        if must not in signed:
            problems.append(f"{must} not in SignedHeaders {f['SignedHeaders']}")
    token = h.get_ci("X-Amz-Security-Token")
    if token is not None and "x-amz-security-token" not in signed:
        problems.append(f"X-Amz-Security-Token present but not in SignedHeaders "
                        f"{f['SignedHeaders']}")
    for name in signed:
        if not h.has_ci(name):
            problems.append(f"signed header {name} not in the request")
    body_hash = hashlib.sha256(call.body).hexdigest()
    content_sha = h.get_ci("X-Amz-Content-SHA256")
    if content_sha is not None and content_sha not in (body_hash, "UNSIGNED-PAYLOAD"):
        problems.append(f"X-Amz-Content-SHA256 {content_sha} is not the body's {body_hash}")

    creds = Credentials(key_id, secret_key, token)
    signer = _RecordedSigV4(creds, service, region, signed, h)
    host = h.get_ci("Host") or "localhost"
    req = AWSRequest(method=call.method, url=f"http://{host}{call.path}",
                     headers={k: v for k, v in h.items()
                              if k.lower() in signed or k.lower() == "x-amz-content-sha256"},
                     data=call.body)
    req.context["timestamp"] = amz_date
    canonical = signer.canonical_request(req)
    sts = signer.string_to_sign(req, canonical)
    expected = signer.signature(sts, req)
    got = f["Signature"]
    if not hmac.compare_digest(expected, got):
        problems.append(f"signature mismatch: expected {expected}, got {got}")
    if problems:
        return False, ("; ".join(problems) + f"\ncanonical request:\n{canonical}\n"
                       f"string to sign:\n{sts}")
    return True, (f"ok: {key_id}/{sdate}/{sregion}/{sservice}/aws4_request, "
                  f"SignedHeaders={f['SignedHeaders']}, payload sha256 {body_hash}")
