# SPDX-License-Identifier: GPL-2.0-or-later
"""BIRD 2 (Debian's bird2) inside a lab node, for aws.routes "route-server".

Each Bird has its own configuration, control socket, pid file and log in the
run's work directory (never /etc/bird or /run/bird of the host) and runs in
the foreground, so the lab stops it with the rest.

route_server_conf() is the configuration of the VPC fabric's BIRD, which plays
VPC Route Server: it peers passively with each instance's BIRD (BFD on),
imports what they announce and writes the best route per network into the
fabric's routing table (protocol bird) — the only routes the fabric then has
to the remote networks, as the route server's propagation into the VPC route
tables is the only way those get there. The instances' BIRD runs what
`vpcroutectl bgp-config` prints.
"""
import os
import re
import signal
import subprocess
import time

BIRD = "/usr/sbin/bird"
BIRDC = "/usr/sbin/birdc"
RS_ASN = 65000  # the route server's AS (AmazonSideAsn)
PEER_ASN = 65001  # the instances' AS (each route server peer's PeerAsn)
BFD_MS = 50  # lab timers: BFD down after 3 x 50 ms, hold time 3 s
HOLD_S = 3


def route_server_conf(local_ip, peers):
    """The fabric's BIRD: local_ip its address, peers the instances' addresses."""
    bgp = "".join(f"""
protocol bgp peer{i} {{
	local {local_ip} as {RS_ASN};
	neighbor {ip} as {PEER_ASN};
	passive on;
	error wait time 1, 5;
	hold time {HOLD_S};
	keepalive time 1;
	graceful restart off;
	bfd on;
	ipv4 {{ import all; export none; }};
}}
""" for i, ip in enumerate(peers, 1))
    return f"""router id {local_ip};
protocol device {{
}}
# what BGP learnt, into the fabric's routing table; nothing else
protocol kernel {{
	ipv4 {{ import none; export where source = RTS_BGP; }};
}}
protocol bfd {{
	interface "*" {{
		min rx interval {BFD_MS} ms;
		min tx interval {BFD_MS} ms;
		multiplier 3;
	}};
}}
{bgp}"""


class BirdError(RuntimeError):
    pass


class Bird:
    def __init__(self, node, workdir, conf):
        self.node, self.dir = node, workdir
        os.makedirs(workdir, exist_ok=True)
        self.conf = os.path.join(workdir, "bird.conf")
        self.sock = os.path.join(workdir, "bird.ctl")
        self.pidfile = os.path.join(workdir, "bird.pid")
        self.log = os.path.join(workdir, "bird.log")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = None
        self.stopped = False

    def check(self):
        """bird -p: the configuration parses."""
        r = subprocess.run([BIRD, "-p", "-c", self.conf], capture_output=True, text=True,
                           timeout=10)
        if r.returncode:
            raise BirdError(f"{self.conf}: {r.stderr.strip()}")

    def start(self):
        self.check()
        self.proc = self.node.popen([BIRD, "-f", "-c", self.conf, "-s", self.sock, "-P",
                                     self.pidfile], log=self.log)
        deadline = time.time() + 10
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.time() > deadline:
                raise BirdError(f"bird on {self.node.name} did not start: {self.log_text()}")
            time.sleep(0.02)
        return self

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def birdc(self, cmd):
        r = subprocess.run([BIRDC, "-s", self.sock, *cmd.split()], capture_output=True,
                           text=True, timeout=10)
        if r.returncode:
            raise BirdError(f"birdc {cmd}: {r.stdout} {r.stderr}")
        return r.stdout

    def sessions(self):
        """{protocol name: (BGP state, last error)} of its BGP protocols."""
        out, found, name = self.birdc("show protocols all"), {}, None
        for line in out.splitlines():
            m = re.match(r"(\S+)\s+BGP\s", line)
            if m:
                name = m.group(1)
                found[name] = ["", ""]
            elif name and (m := re.match(r"\s+BGP state:\s+(\S+)", line)):
                found[name][0] = m.group(1)
            elif name and (m := re.match(r"\s+Last error:\s+(.*\S)", line)):
                found[name][1] = m.group(1)
        return {k: tuple(v) for k, v in found.items()}

    def wait_established(self, names=None, timeout=15):
        """Until the BGP protocols named (default: all) are established."""
        deadline = time.time() + timeout
        while True:
            s = self.sessions()
            if s and all(s.get(n, ("",))[0] == "Established" for n in (names or s)):
                return s
            if time.time() > deadline:
                raise BirdError(f"bird on {self.node.name}: not established within "
                                f"{timeout}s: {s}\n{self.log_text()}")
            time.sleep(0.05)

    def freeze(self):
        """The instance as it dies: BIRD stops answering (BGP and BFD), and
        its TCP session is not closed."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.stopped = True

    def thaw(self):
        os.kill(self.proc.pid, signal.SIGCONT)
        self.stopped = False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            if self.stopped:
                self.thaw()
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def fabric_routes(node):
    """{network: gateway} of the fabric's routes that BIRD wrote (protocol bird)."""
    import json
    out = node.run("ip -j -4 route show proto bird").stdout
    return {r["dst"]: r.get("gateway") for r in json.loads(out or "[]")}
