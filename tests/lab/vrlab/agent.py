# SPDX-License-Identifier: GPL-2.0-or-later
"""The real vpcroute-agent inside a lab node."""
import json
import os
import re
import signal
import subprocess
import time

from .build import TOP, built


class AgentError(RuntimeError):
    pass


class Agent:
    def __init__(self, node, workdir, conf, grace=0, extra=(), env=None, verbose=True):
        self.node = node
        self.verbose = verbose  # -v: debug lines (each route, element, client)
        self.env = dict(env or {})
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.conf = os.path.join(workdir, "vpcroute.conf")
        if isinstance(conf, dict):
            conf.setdefault("socket", {}).setdefault("path", os.path.join(workdir, "agent.sock"))
            with open(self.conf, "w") as f:
                json.dump(conf, f, indent=2)
            self.sock = conf["socket"]["path"]
        else:
            with open(self.conf, "w") as f:
                f.write(conf)
            self.sock = None
        self.log = os.path.join(workdir, "agent.log")
        self.grace = grace
        self.extra = list(extra)
        self.proc = None

    def start(self, wait=True):
        self.mark = len(self.log_text()) if os.path.exists(self.log) else 0
        self.proc = self.node.popen([built("agent/vpcroute-agent"), "-d",
                                     *(["-v"] if self.verbose else []), "-g",
                                     str(self.grace), "-f", self.conf, *self.extra], log=self.log,
                                    env=self.environment())
        if wait:
            self.wait_log(r"listening on ")
        return self

    def environment(self):
        """The test process's environment at start, but the AWS variables are
        the test's alone, never the caller's shell's."""
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("AWS_") and k != "JOURNAL_STREAM"}  # plain log lines
        e.update(self.env)
        return e

    def log_text(self, since_start=False):
        with open(self.log, errors="replace") as f:
            text = f.read()
        return text[self.mark:] if since_start else text

    def wait_log(self, pattern, timeout=10):
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if rx.search(self.log_text(since_start=True)):
                return
            if self.proc.poll() is not None:
                raise AgentError(f"agent exited {self.proc.returncode}:\n"
                                 + self.log_text()[-3000:])
            time.sleep(0.03)
        raise AgentError(f"agent: no /{pattern}/ within {timeout}s:\n" + self.log_text()[-3000:])

    def send_signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        # on the sanitizer build, a report is a failure of whatever test ran
        if self.proc and os.path.exists(self.log):
            m = re.search(r"ERROR: \w+Sanitizer|runtime error:", self.log_text(since_start=True))
            if m:
                raise AgentError("sanitizer report in the agent's log:\n"
                                 + self.log_text(since_start=True)[m.start():][:4000])

    def kill9(self):
        self.stop(signal.SIGKILL)

    # what the agent owns, as the kernel has it
    def routes(self):
        out = self.node.run("ip -j route show proto 212").stdout
        return sorted(r["dst"] for r in json.loads(out or "[]"))

    def set_elements(self, name):
        r = self.node.run(["nft", "-j", "list", "set", "inet", "vpcroute", name], check=False)
        if r.returncode:
            return None
        for obj in json.loads(r.stdout)["nftables"]:
            if "set" in obj:
                return obj["set"].get("elem", [])
        return []

    def dump(self):
        """What the agent owns as the kernel has it, comparable between two
        moments: its routes (ip -j route, protocol 212) sorted by destination,
        and its nftables table (nft -j) without handles, set elements sorted."""
        routes = []
        for fam in ("-4", "-6"):
            out = self.node.run(["ip", "-j", fam, "route", "show", "proto", "212"]).stdout
            routes += json.loads(out or "[]")
        routes.sort(key=lambda r: json.dumps(r, sort_keys=True))
        r = self.node.run(["nft", "-j", "list", "table", "inet", "vpcroute"], check=False)
        table = None
        if r.returncode == 0:
            table = [_normalised(o) for o in json.loads(r.stdout)["nftables"]
                     if "metainfo" not in o]
        return {"routes": routes, "nftables": table}

    def set_prefixes(self, name):
        """The elements of set name as "ADDR/LEN" (or their text), sorted."""
        out = []
        for e in self.set_elements(name) or []:
            p = e.get("prefix") if isinstance(e, dict) else None
            out.append(f"{p['addr']}/{p['len']}" if p else str(e))
        return sorted(out)

    def status(self):
        """vpcroutectl status --json, checked against doc/status.schema.json."""
        import jsonschema
        r = subprocess.run([built("agent/vpcroutectl"), "-s", self.sock, "status", "--json"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        with open(os.path.join(TOP, "doc", "status.schema.json")) as f:
            jsonschema.validate(doc, json.load(f))
        return doc

    def tunnels(self):
        """The IPsec tunnels of its status: (peer, network, SA, state), sorted."""
        return sorted((t["peer"], t["network"], t["sa"], t["state"])
                      for t in self.status()["ipsec"]["tunnels"])

    def table(self):
        r = self.node.run(["nft", "list", "table", "inet", "vpcroute"], check=False)
        return r.stdout if r.returncode == 0 else None


def settles(fn, want, timeout=10):
    """fn() once it returns want, or its last value after timeout seconds."""
    deadline = time.time() + timeout
    while True:
        got = fn()
        if got == want or time.time() > deadline:
            return got
        time.sleep(0.05)


def _normalised(o):
    """A JSON object of nft -j without handles (they change with every
    rebuild), set elements in a canonical order."""
    if isinstance(o, dict):
        d = {k: _normalised(v) for k, v in o.items() if k != "handle"}
        if isinstance(d.get("elem"), list):
            d["elem"] = sorted(d["elem"], key=lambda e: json.dumps(e, sort_keys=True))
        return d
    if isinstance(o, list):
        return [_normalised(v) for v in o]
    return o


def tunnel_host(lab, name="ec2"):
    """A node with a tunnel-like device (tun0) and an uplink (eth0), enough
    for an agent that is driven by a scripted plugin instead of OpenVPN."""
    n = lab.node(name)
    for dev in ("tun0", "eth0"):
        n.run(f"ip link add {dev} type veth peer name {dev}peer")
        n.run(f"ip link set {dev} up")
        n.run(f"ip link set {dev}peer up")
    return n
