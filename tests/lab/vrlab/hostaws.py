# SPDX-License-Identifier: GPL-2.0-or-later
"""The AWS emulators of the IPsec lab's VM, run outside it.

Under software emulation (the VM of scripts/ipsec-vm) moto takes minutes to
start and boto3 minutes to create a client, so the AWS side of the lab runs
on the machine itself: scripts/ipsec-vm starts this service on its loopback
(`python3 -m vrlab.hostaws DIR`, its port written to DIR/port) and tells the
VM where it is (VR_VM_AWS, through qemu's user-mode network: 10.0.2.2 is the
machine's loopback there). Inside, RemoteWorld asks it for an AwsWorld
(emulators.py: a VPC, its route table, an instance, the metadata mock, moto
behind the recording proxy) and reads the emulated EC2 API through it; the
agents in the VM reach moto and the metadata mock through relays
(nsport.Relay with target_host). Only the standard library here on the
VM's side.

    POST /world {"name", "vpc_cidr", "subnet_cidr", "instance_ip", "share"}
         -> {"rtb_id", "eni_id", "instance_id", "moto_port", "imds_port", ...}
    POST /call  {"world", "method", "kwargs"} -> boto3's answer (describe_* only)
    POST /arrange {"world", "method", "kwargs"} -> boto3's answer: what a test
         arranges or puts back in its VPC itself (ARRANGE only)
    POST /calls {"world", "since", "signatures"} -> {"next", "calls",
         "signature_problems"}: the requests the world's recording proxy saw
         from the since-th on (a mark: the next of an earlier answer); with
         signatures, what is wrong with the SigV4 of any of them
"""
import json
import os
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FIELDS = ("vpc_id", "subnet_id", "rtb_id", "eni_id", "instance_id", "vpc_cidr", "subnet_cidr",
          "instance_ip")
# the test's own changes to its VPC that /arrange makes (a foreign route and
# its interface, the route and the check put back after a test)
ARRANGE = ("create_network_interface", "create_route", "delete_route",
           "modify_network_interface_attribute")


def _problem(c, why):
    """One request of signature_problems(), named."""
    return f"{c.method} {c.path} Action={c.action}: {why}"


def _call_doc(c):
    """What Call tells of an ec2proxy.Ec2Call, in JSON."""
    return {"action": c.action, "params": c.params, "status": c.status,
            "mutating": c.mutating, "user_agent": c.headers.get_ci("User-Agent", "")}


class _Service(BaseHTTPRequestHandler):
    worlds = {}
    lock = threading.Lock()
    logdir = None

    def log_message(self, fmt, *args):  # its log, not stderr
        with open(os.path.join(self.logdir, "hostaws.log"), "a") as f:
            f.write(fmt % args + "\n")

    def _answer(self, code, doc):
        body = json.dumps(doc, default=str).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            with self.lock:
                doc = {"/world": self._world, "/arrange": self._arrange,
                       "/calls": self._calls}.get(self.path, self._call)(req)
            self._answer(200, doc)
        except Exception as e:  # noqa: BLE001 - told to the VM's side
            self._answer(500, {"error": f"{type(e).__name__}: {e}"})

    def _world(self, req):
        from .emulators import AwsWorld
        name = req["name"]
        d = os.path.join(self.logdir, name)
        os.makedirs(d, exist_ok=True)
        share = self.worlds[req["share"]] if req.get("share") else None
        w = self.worlds[name] = AwsWorld(d, vpc_cidr=req["vpc_cidr"],
                                         subnet_cidr=req["subnet_cidr"],
                                         instance_ip=req["instance_ip"],
                                         openvpn=tuple(req.get("openvpn", ("udp", 1194))),
                                         share=share, ipsec=bool(req.get("ipsec")))
        return {**{k: getattr(w, k) for k in FIELDS}, "moto_port": w.moto.port,
                "imds_port": w.imds.port}

    def _call(self, req):
        if not req["method"].startswith("describe_"):
            raise ValueError(f"{req['method']}: only describe_* here")
        return getattr(self.worlds[req["world"]].ec2, req["method"])(**req.get("kwargs", {}))

    def _arrange(self, req):
        if req["method"] not in ARRANGE:
            raise ValueError(f"{req['method']}: not one of {', '.join(ARRANGE)}")
        return getattr(self.worlds[req["world"]].ec2, req["method"])(**req.get("kwargs", {}))

    def _calls(self, req):
        proxy = self.worlds[req["world"]].moto.proxy
        calls = proxy.snapshot()
        return {"next": len(calls),
                "calls": [_call_doc(c) for c in calls[int(req.get("since", 0)):]],
                "signature_problems": [_problem(c, why) for c, why in proxy.signature_problems()]
                if req.get("signatures") else []}


def serve(logdir):
    """Serves until SIGTERM; the worlds stopped at the end."""
    import signal
    _Service.logdir = logdir
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    with open(os.path.join(logdir, "port.tmp"), "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(os.path.join(logdir, "port.tmp"), os.path.join(logdir, "port"))
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
    try:
        srv.serve_forever()
    finally:
        for w in reversed(list(_Service.worlds.values())):
            w.stop()


def _post(url, path, doc, timeout=120):
    req = urllib.request.Request(url + path, data=json.dumps(doc).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{url}{path}: {json.load(e).get('error')}") from None


class _Ec2:
    """The describe_* calls of a boto3 EC2 client, and those of ARRANGE,
    answered by the service."""

    def __init__(self, url, world):
        self.url, self.world = url, world

    def __getattr__(self, method):
        path = "/arrange" if method in ARRANGE else "/call"
        return lambda **kw: _post(self.url, path, {"world": self.world, "method": method,
                                                   "kwargs": kw})


class Call:
    """One request the recording proxy saw (what ec2proxy.Ec2Call tells)."""

    def __init__(self, doc):
        self.action, self.params, self.status = doc["action"], doc["params"], doc["status"]
        self.mutating, self.user_agent = doc["mutating"], doc["user_agent"]


class _Port:
    def __init__(self, host, port):
        self.port, self.url, self.proc = port, f"http://{host}:{port}", None


class RemoteWorld:
    """An AwsWorld made by the service at url (VR_VM_AWS), under name;
    share: the name of one whose EC2 API it shares. Its ec2 answers the
    describe_* calls; host: where its moto and metadata mock listen."""

    def __init__(self, url, name, vpc_cidr, subnet_cidr, instance_ip, openvpn=("udp", 1194),
                 share=None, ipsec=False):
        self.name, self.host = name, url.split("//")[1].rsplit(":", 1)[0]
        doc = _post(url, "/world", {"name": name, "vpc_cidr": vpc_cidr,
                                    "subnet_cidr": subnet_cidr, "instance_ip": instance_ip,
                                    "openvpn": list(openvpn), "share": share,
                                    "ipsec": ipsec})
        for k in FIELDS:
            setattr(self, k, doc[k])
        self.url, self.ec2 = url, _Ec2(url, name)
        self.moto = _Port(self.host, doc["moto_port"])
        self.imds = _Port(self.host, doc["imds_port"])

    def mark(self):
        """Where the requests from now on start, for calls()."""
        return _post(self.url, "/calls", {"world": self.name, "since": 1 << 62})["next"]

    def calls(self, since=0):
        """[Call] of the requests the recording proxy saw from mark since on
        (their status as answered so far)."""
        doc = _post(self.url, "/calls", {"world": self.name, "since": since})
        return [Call(c) for c in doc["calls"]]

    def check_signatures(self):
        """Raises AssertionError naming each request of the world's proxy
        whose SigV4 does not verify (conftest's check, for a proxy outside)."""
        _, bad = signature_problems(self)
        if bad:
            raise AssertionError(f"EC2 proxy of {self.name}: {len(bad)} requests do not "
                                 "verify with botocore's SigV4 signer:\n" + "\n".join(bad[:3]))

    def stop(self):
        """The service stops its worlds when scripts/ipsec-vm ends."""


def mark(world):
    """Where world's requests from now on start, for calls(): a RemoteWorld,
    or an AwsWorld (emulators.py) made here."""
    if isinstance(world, RemoteWorld):
        return world.mark()
    return len(world.moto.proxy.snapshot())


def signature_problems(world):
    """(how many requests world's recording proxy saw, [each whose SigV4 does
    not verify with botocore's signer, named]): a RemoteWorld, or an AwsWorld
    made here."""
    if isinstance(world, RemoteWorld):
        doc = _post(world.url, "/calls", {"world": world.name, "since": 1 << 62,
                                          "signatures": True})
        return doc["next"], doc["signature_problems"]
    proxy = world.moto.proxy
    return len(proxy.snapshot()), [_problem(c, why) for c, why in proxy.signature_problems()]


def calls(world, since=0):
    """[Call] of the requests world's recording proxy saw from mark since on."""
    if isinstance(world, RemoteWorld):
        return world.calls(since)
    return [Call(_call_doc(c)) for c in world.moto.proxy.snapshot()[since:]]


if __name__ == "__main__":  # python3 -m vrlab.hostaws DIR (in tests/lab)
    serve(sys.argv[1])
