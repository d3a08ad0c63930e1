#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The lab behind scripts/lab (scripts/lab --help says how to use it).

Topology A, B or C of DESIGN.md in network namespaces, run by vpcroute from the
example configurations in doc/examples/: nothing is hand-written on the
nodes vpcroute runs on. The EC2 instance's agent turns off the source/dest
check and adds the VPC routes through the emulated EC2 API; the simulated
VPC router follows the emulator's route table and check (vrlab/fabric.py).

Every step is shown with a check mark, or a cross and the last lines of the
logs that explain it. Then the lab stays up in a background process (see
vrlab/labstate.py) until `down`; with --check (or VR_LAB_ONESHOT=1) it is
removed at once and the exit status says whether every check passed.

Run it as scripts/lab does, with the build in $VPCROUTE_BUILDDIR (default
.build/gcc):
    demo.py [--topology A|B|C] [--check]
    demo.py shell NODE [-c CMD] | status | down
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vrlab import labstate, netns, topology as T  # noqa: E402
from vrlab.build import BUILD  # noqa: E402

OK, FAIL, NOTE = "\u2714", "\u2718", "-"
READY = "\0vpcroute-lab-ready "  # the background process's last word on the pipe
TAIL = 15
USAGE = ("usage: scripts/lab [--topology A|B|C] [--check] | shell NODE [-c CMD] | status | down\n"
         "(scripts/lab --help says more)")


class UsageError(Exception):
    pass


class Stop(BaseException):
    """SIGTERM, SIGINT or SIGHUP: remove the lab and end."""


def _stop(signum, frame):
    raise Stop(signal.Signals(signum).name)


def _quiet_signals():
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)


def _stop_on_signals():
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, _stop)


# --- reporting ----------------------------------------------------------------

class Out:
    """What a step found: ok or not, a summary, and lines to show under it."""

    def __init__(self, ok=True, text=None, lines=()):
        self.ok, self.text, self.lines = ok, text, list(lines)


def tail(path, n=TAIL):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()[-n:]
    except OSError as e:
        return [f"({e.strerror})"]


class Report:
    def __init__(self):
        self.failures = 0
        self.warnings = 0

    @staticmethod
    def section(title):
        print(title, flush=True)

    def step(self, what, fn, logs=()):
        """Runs fn; a result of False, an Out(ok=False) or an exception is a
        failure, shown with the last lines of each of logs ((label, path) or a
        callable that returns them)."""
        t0 = time.time()
        try:
            r = fn()
        except Exception as e:  # a failed step is reported, and the lab goes on
            msg = str(e).strip().splitlines()
            self._show(False, what, t0, f"{type(e).__name__}: {msg[0] if msg else ''}", [],
                       logs)
            return None
        out = r if isinstance(r, Out) else Out(r is not False,
                                                r if isinstance(r, str) else None)
        self._show(out.ok, what, t0, out.text, out.lines, logs)
        return r if out.ok else None

    def note(self, what, lines=(), warn=False):
        self.warnings += warn
        print(f"  {'!' if warn else NOTE} {what}", flush=True)
        for line in lines:
            print(f"      {line}", flush=True)

    def _show(self, ok, what, t0, text, lines, logs):
        self.failures += not ok
        print(f"  {OK if ok else FAIL} {what} ({time.time() - t0:.1f}s)"
              + (f": {text}" if text else ""), flush=True)
        for line in lines:
            print(f"      {line}", flush=True)
        if not ok:
            for label, path in (logs() if callable(logs) else logs):
                if not os.path.exists(path):
                    continue
                print(f"      last lines of {label} ({path}):")
                for line in tail(path):
                    print(f"        | {line}")
            sys.stdout.flush()


# --- the lab ------------------------------------------------------------------

def vpcroutectl_status(report, node, agent):
    """The agent's own account, if this build's vpcroutectl has `status`."""
    ctl = os.path.join(BUILD, "agent", "vpcroutectl")
    help_text = ""
    if os.access(ctl, os.X_OK):
        h = subprocess.run([ctl, "--help"], capture_output=True, text=True, timeout=10)
        help_text = h.stdout + h.stderr
    if not re.search(r"^\s+status\b", help_text, re.M):
        report.note(f"vpcroutectl status on {node}: not available in this build")
        return
    argv = [ctl, "-f", agent.conf, "status"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=15)
    shown = f"vpcroutectl -f {agent.conf} status"
    if r.returncode == 0:
        report.note(f"vpcroutectl status on {node} ({shown}):", r.stdout.rstrip().splitlines())
    else:
        report.note(f"vpcroutectl status on {node} exited {r.returncode} ({shown}):",
                    (r.stderr or r.stdout).rstrip().splitlines()[-TAIL:], warn=True)


def tcp_probe(work, src, dst_node, dst, port, timeout=2.0):
    """The source address the server saw, or None (refused, dropped)."""
    from vrlab.probe import TcpServer, tcp_connect
    # a log per probe: TcpServer waits for "listening" in it, and an earlier
    # server's word must not count for this one
    srv = TcpServer(dst_node, dst, port,
                    os.path.join(work, f"tcp-{src.name}-{dst_node.name}-{port}.log"))
    try:
        return tcp_connect(src, dst, port, timeout=timeout)
    finally:
        srv.stop()


class LabRun:
    """One topology brought up, proved, and removed."""

    def __init__(self, topology, work, report, on_change=lambda: None):
        self.topology, self.work, self.r = topology, work, report
        self.on_change = on_change
        self.nodes = {"A": T.NODES_A, "B": T.NODES_B, "C": T.NODES_C}[topology]
        self.lab = self.topo = self.aws = self.pki = self.prod = None
        self.agents = {}  # node -> Agent
        self.skip_proof = False

    # logs, for failed steps
    def _agent_logs(self, *nodes):
        return [(f"vpcroute-agent on {n}", self.agents[n].log) for n in nodes
                if n in self.agents]

    def _vpn_logs(self, *names):
        return [(f"OpenVPN {label}", os.path.join(self.work, d, f"{d}.log"))
                for d, label in names if os.path.exists(os.path.join(self.work, d, f"{d}.log"))]

    def logs_a(self):
        return (self._agent_logs("ec2", "pi")
                + self._vpn_logs(("server", "server on ec2"), ("pi", "client on pi")))

    def logs_b(self):
        return (self._agent_logs("ec2")
                + self._vpn_logs(("ec2", "client on ec2"), ("branch", "server on bgw")))

    def logs_c(self):
        return self.logs_a() + self._vpn_logs(*((cn, f"client on {node.name}") for node, cn, _
                                                in self.topo.warriors()))

    def all_logs(self):
        return {"A": self.logs_a, "B": self.logs_b, "C": self.logs_c}[self.topology]()

    def state(self):
        """What the state file says about this lab."""
        st = {"topology": self.topology, "work": self.work, "builddir": BUILD,
              "run": self.lab.run if self.lab else None,
              "nodes": {}, "agents": {n: a.conf for n, a in self.agents.items()},
              "helpers": []}
        if self.topo:
            st["nodes"] = {n: {"ns": getattr(self.topo, n).ns, "what": what}
                           for n, what in self.nodes.items()}
        if self.aws:
            st["helpers"] = [[self.aws.moto.proc.pid, "moto.server"],
                             [self.aws.imds.proc.pid, "ec2-metadata-mock"]]
            st["aws"] = {"route_table": self.aws.rtb_id, "eni": self.aws.eni_id,
                         "instance": self.aws.instance_id, "ec2_api": self.aws.moto.url,
                         "imds": self.aws.imds.url}
        return st

    def bring_up(self):
        """True when the lab is up enough to be proved (and explored)."""
        from vrlab.emulators import AwsWorld
        from vrlab.pki import PKI
        r = self.r
        r.section("bring-up")
        self.lab = netns.Lab()
        build = {"A": T.build_topology_a, "B": T.build_topology_b,
                 "C": T.build_topology_c}[self.topology]
        self.topo = r.step(f"namespaces: {' '.join(self.nodes)}", lambda: build(self.lab))
        if not self.topo:
            return False
        self.on_change()
        self.aws = r.step("EC2 API (moto) and IMDSv2 (ec2-metadata-mock) on loopback",
                          lambda: AwsWorld(self.work),
                          logs=[("moto", os.path.join(self.work, "moto.log")),
                                ("ec2-metadata-mock", os.path.join(self.work, "aemm.log"))])
        if not self.aws:
            return False
        self.on_change()
        cns = {"A": ["pi-home"], "B": [T.BRANCH_CLIENT_CN],
               "C": ["pi-home"] + [cn for _, cn in T.ROAD_WARRIORS]}[self.topology]

        def pki():
            p = PKI(os.path.join(self.work, "pki"))
            p.server = p.issue("server", server=True)
            for cn in cns:
                p.issue(cn)
            return p
        self.pki = r.step(f"throwaway PKI (CA, server, {', '.join(cns)})", pki)
        if not self.pki:
            return False
        return {"A": self._bring_up_a, "B": self._bring_up_b,
                "C": self._bring_up_c}[self.topology]()

    def _bring_up_a(self):
        from vrlab.product import ProductA
        r = self.r
        if not self._product(ProductA):
            return True
        p = self.prod
        self.agents = {"ec2": p.server_agent, "pi": p.pi_agent}
        self.on_change()
        for what, fn, logs in (
                ("vpcroute-agent on ec2 (server role) and pi (client role), from "
                 "doc/examples/topology-a-*.conf", p.start_agents, self._agent_logs("ec2", "pi")),
                ("OpenVPN server on ec2 with vpcroute.so", p.start_server,
                 lambda: self._agent_logs("ec2") + self._vpn_logs(("server", "server on ec2"))),
                ("OpenVPN client on pi with vpcroute.so (pi-home)", p.start_client,
                 lambda: self._agent_logs("ec2", "pi") + self._vpn_logs(
                     ("pi", "client on pi"), ("server", "server on ec2")))):
            if not self._essential(what, fn, logs):
                return True
        r.step("home router: static route to the VPC via the Pi (the outside world, by hand)",
               p.outside_world)
        r.step("ec2: the announced home network, in the kernel (ip route show proto 212)",
               lambda: p.server_agent.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
               or ", ".join(p.server_agent.routes()), self.logs_a)
        self._vpc_step(T.LAN_ANNOUNCED, self.logs_a)
        return True

    def _bring_up_b(self):
        from vrlab.product import ProductB
        r = self.r
        if not self._product(ProductB):
            return True
        p = self.prod
        self.agents = {"ec2": p.agent}
        self.on_change()
        pushed = ", ".join(p.pushed)
        for what, fn, logs in (
                (f"branch office OpenVPN server on bgw (the outside world, by hand): pushes "
                 f"{pushed}, routes the VPC {T.VPC_CIDR} to {T.BRANCH_CLIENT_CN}",
                 p.start_branch, lambda: self._vpn_logs(("branch", "server on bgw"))),
                ("vpcroute-agent on ec2 (client role), from doc/examples/"
                 "topology-b-ec2-client.conf (route table: the emulator's)", p.start_agent,
                 self._agent_logs("ec2")),
                (f"OpenVPN client on ec2 with vpcroute.so and route-noexec "
                 f"({T.BRANCH_CLIENT_CN})", p.start_client, self.logs_b)):
            if not self._essential(what, fn, logs):
                return True
        r.step("ec2: the pushed branch LAN, in the kernel (ip route show proto 212)",
               lambda: p.wait_routes() or ", ".join(p.agent.routes()), self.logs_b)
        self._vpc_step(T.BRANCH_LAN, self.logs_b)
        return True

    def _bring_up_c(self):
        from vrlab.product import ProductC
        r = self.r
        if not self._product(ProductC):
            return True
        p = self.prod
        self.agents = {"ec2": p.server_agent, "pi": p.pi_agent}
        self.on_change()
        cns = ", ".join(cn for _, cn in p.warriors)
        for what, fn, logs in (
                ("vpcroute-agent on ec2 (server role) from doc/examples/"
                 "topology-c-road-warriors.conf, on pi (client role) from doc/examples/"
                 "topology-a-pi.conf", p.start_agents, self._agent_logs("ec2", "pi")),
                ("OpenVPN server on ec2 with vpcroute.so", p.start_server,
                 lambda: self._agent_logs("ec2") + self._vpn_logs(("server", "server on ec2"))),
                ("OpenVPN client on pi with vpcroute.so (pi-home)", p.start_client,
                 lambda: self._agent_logs("ec2", "pi") + self._vpn_logs(
                     ("pi", "client on pi"), ("server", "server on ec2"))),
                (f"OpenVPN clients on the road warriors, no vpcroute there ({cns})",
                 p.start_road_warriors, self.logs_c)):
            if not self._essential(what, fn, logs):
                return True
        r.step(f"home router: static route to the tunnel pool {T.POOL} via the Pi "
               "(the outside world, by hand)", p.outside_world)
        r.step("ec2: the announced home network, in the kernel (ip route show proto 212)",
               lambda: p.server_agent.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
               or ", ".join(p.server_agent.routes()), self.logs_c)
        self._vpc_step(T.LAN_ANNOUNCED, self.logs_c)
        return True

    def _product(self, cls):
        def make():
            self.prod = cls(self.topo, self.pki, self.work, aws=self.aws)
        return self._essential("relays from ec2 to the emulators; the VPC router follows the "
                               "emulated EC2 API (route table, source/dest check)", make, [])

    def _essential(self, what, fn, logs):
        """A step the proof needs: when it fails, the lab is up to be
        explored, but not proved."""
        before = self.r.failures
        self.r.step(what, lambda: fn() and None, logs)
        if self.r.failures > before:
            self.skip_proof = True
        return not self.skip_proof

    def _vpc_step(self, net, logs):
        def vpc():
            self.prod.wait_vpc_route(net)
            return (f"source/dest check off; VPC routes to the instance: "
                    f"{', '.join(sorted(self.prod.fabric.routes))}")
        self.r.step("ec2: vpcroute-agent drove the EC2 API (the emulated VPC follows)", vpc,
                    lambda: self._agent_logs("ec2"))

    # --- the proof -----------------------------------------------------------------

    def prove(self):
        r = self.r
        if self.skip_proof:
            r.note("no proof: a step it needs failed (see above)")
            return
        r.section("connectivity")
        matrix = {"A": self._matrix_a, "B": self._matrix_b, "C": self._matrix_c}[self.topology]()
        w1 = max(len(m[0]) for m in matrix)
        w2 = max(len(m[1]) for m in matrix)
        for src, dst, what, fn in matrix:
            r.step(f"{src:<{w1}} -> {dst:<{w2}}  {what}", fn, self.all_logs)
        if self.topology == "C":
            self._open_paths_c()
            self._road_warriors()
        r.section("the EC2 instance and the VPC")
        ec2 = self.agents["ec2"]
        parts = ("exemptions, forward filter" if self.topology == "C"
                 else "exemptions, masquerade, forward filter")
        r.step(f"ec2: table inet vpcroute ({parts})",
               lambda: Out(ec2.table() is not None,
                           f"{(ec2.table() or '').count(chr(10))} lines"), self.all_logs)
        self._vpc_table()
        self._source_dest_check()
        r.section("vpcroutectl status")
        for node, agent in self.agents.items():
            vpcroutectl_status(r, node, agent)
        if self.topology == "B":
            r.note("bgw: the branch office's own OpenVPN server, no vpcroute there")

    def _tcp(self, src, dst_node, dst, port, want):
        """A check: a connection whose server sees source `want` (None: refused)."""
        def fn():
            seen = tcp_probe(self.work, src, dst_node, dst, port,
                             timeout=2.0 if want else 1.0)
            if want is None:
                return Out(seen is None, "refused" if seen is None else f"connected ({seen})")
            if seen is None:
                return Out(False, "no connection")
            return Out(seen == want, f"server saw source {seen}"
                       + ("" if seen == want else f", not {want}"))
        return fn

    def _internet(self, port):
        """The VPC host reaches the internet through the instance, masqueraded:
        for this check only, the host's default route is the instance (the
        private subnet's route table 0.0.0.0/0 -> the NAT instance)."""
        topo = self.topo
        inner = self._tcp(topo.priv, topo.inet, T.INET_VPC, port, T.EC2_PUBLIC)

        def fn():
            topo.priv.run(f"ip route replace default via {T.EC2_IP}")
            try:
                return inner()
            finally:
                topo.priv.run(f"ip route replace default via {T.VPC_ROUTER_IP}")
        return fn

    def _ping(self, src, dst):
        def fn():
            ok = src.ping(dst, count=2)
            return Out(ok, "answers" if ok else "no answer")
        return fn

    def _matrix_a(self):
        t = self.topo
        home, vpc = f"home {T.HOME_IP}", f"VPC host {T.PRIV_IP}"
        return [
            (home, vpc, "ping", self._ping(t.home, T.PRIV_IP)),
            (vpc, home, "ping (pi-home's policy: icmp)", self._ping(t.priv, T.HOME_IP)),
            (home, f"{vpc}:8080", "TCP, source kept",
             self._tcp(t.home, t.priv, T.PRIV_IP, 8080, T.HOME_IP)),
            (vpc, f"{home}:22", "TCP, opened by pi-home's policy",
             self._tcp(t.priv, t.home, T.HOME_IP, 22, T.PRIV_IP)),
            (vpc, f"{home}:2222", "TCP, refused (not in the policy)",
             self._tcp(t.priv, t.home, T.HOME_IP, 2222, None)),
            (vpc, f"internet {T.INET_VPC}:7000", f"TCP via ec2, masqueraded to {T.EC2_PUBLIC}",
             self._internet(7000)),
        ]

    def _matrix_b(self):
        t, p = self.topo, self.prod
        branch, vpc = f"branch host {T.BRANCH_HOST_IP}", f"VPC host {T.PRIV_IP}"

        def not_accepted():
            net = T.BRANCH_NOT_ACCEPTED
            routes = p.agent.routes()
            kernel = t.ec2.run(f"ip -4 route show {net}").stdout.strip()
            return Out(net not in routes and not kernel,
                       "not installed" if not kernel else f"installed: {kernel}")
        return [
            (vpc, branch, "ping", self._ping(t.priv, T.BRANCH_HOST_IP)),
            (branch, vpc, "ping", self._ping(t.bhost, T.PRIV_IP)),
            (vpc, f"{branch}:445", "TCP, source kept (NAT exemption)",
             self._tcp(t.priv, t.bhost, T.BRANCH_HOST_IP, 445, T.PRIV_IP)),
            (branch, f"{vpc}:5432", "TCP, source kept",
             self._tcp(t.bhost, t.priv, T.PRIV_IP, 5432, T.BRANCH_HOST_IP)),
            (vpc, f"internet {T.INET_VPC}:7000", f"TCP via ec2, masqueraded to {T.EC2_PUBLIC}",
             self._internet(7000)),
            ("ec2", f"pushed {T.BRANCH_NOT_ACCEPTED}", "outside accept_routes: left alone",
             not_accepted),
        ]

    def _matrix_c(self):
        t, p = self.topo, self.prod
        home, vpc = f"home {T.HOME_IP}", f"VPC host {T.PRIV_IP}"
        m = []
        for node, cn, _ in t.warriors():
            addr = p.tunnel_address(cn)
            rw = f"{node.name} {addr}"
            m += [
                (rw, vpc, "ping", self._ping(node, T.PRIV_IP)),
                (rw, f"{vpc}:8080", "TCP, source kept (the tunnel address, no NAT)",
                 self._tcp(node, t.priv, T.PRIV_IP, 8080, addr)),
                (rw, home, f"ping (pushed {T.LAN_ANNOUNCED}, through ec2 and pi-home)",
                 self._ping(node, T.HOME_IP)),
                (rw, f"{home}:22", "TCP, source kept",
                 self._tcp(node, t.home, T.HOME_IP, 22, addr)),
            ]
        node, cn, _ = t.warriors()[0]
        addr = p.tunnel_address(cn)
        m += [
            (vpc, f"{node.name} {addr}:22", "TCP, refused (default_client: from_local false)",
             self._tcp(t.priv, node, addr, 22, None)),
            (vpc, f"{home}:22", "TCP, refused (pi-home: from_local not given, so false)",
             self._tcp(t.priv, t.home, T.HOME_IP, 22, None)),
        ]
        return m

    def _open_paths_c(self):
        """Topology C: connections that no policy of the example stops,
        shown (not checked) so that nobody takes them for filtered."""
        r, t, p = self.r, self.topo, self.prod
        (anna, acn, _), (ben, bcn, _) = t.warriors()[:2]
        a, b = p.tunnel_address(acn), p.tunnel_address(bcn)
        r.section("what no policy of the example stops (shown, not checked)")
        for src, srcn, dst_node, dst, port, why in (
                (anna, f"{anna.name} {a}", t.home, T.HOME_IP, 2222,
                 "outside the Pi's to_local: the Pi filters only what comes from its pushed "
                 "routes (none here), and on ec2 road warrior -> pi-home is tunnel to tunnel"),
                (t.home, f"home {T.HOME_IP}", anna, a, 22,
                 "default_client's from_local false covers the VPC's networks only"),
                (anna, f"{anna.name} {a}", ben, b, 22,
                 "road warrior to road warrior, through ec2's kernel (no client-to-client)")):
            seen = tcp_probe(self.work, src, dst_node, dst, port, timeout=1.0)
            r.note(f"{srcn} -> {dst_node.name} {dst}:{port}: "
                   + (f"connected, source {seen}" if seen else "no connection"),
                   [why], warn=bool(seen))
        r.note(f"home -> VPC host {T.PRIV_IP}: not in this example (pi-home gets no "
               "push_routes there, so the Pi has no route to the VPC, and the home router "
               f"routes only the pool {T.POOL} to the Pi)")

    def _road_warriors(self):
        """Topology C: what the road warriors got, and that nothing was
        announced for them."""
        r, t, p = self.r, self.topo, self.prod
        r.section("the road warriors")
        want = sorted([T.SUBNET, T.LAN_ANNOUNCED])
        for node, cn, _ in t.warriors():
            def pushed(node=node):
                got = [l.strip() for l in
                       node.run("ip -4 route show dev tun0").stdout.strip().splitlines()]
                via = {l.split()[0] for l in got if f"via {T.POOL_GW}" in l}
                missing = [n for n in want if n not in via]
                return Out(not missing, f"missing {', '.join(missing)}" if missing else None,
                           [f"ip route: {l}" for l in got])
            r.step(f"{node.name} ({cn}): the routes the server pushed ({', '.join(want)} via "
                   f"{T.POOL_GW}), in its kernel", pushed, self.logs_c)

        def admitted():
            lines, ok = [], True
            for _, cn, _ in t.warriors():
                m = re.search(rf"client {re.escape(cn)} admitted: ([^\n]*)",
                              p.server.log_text())
                ok &= bool(m) and m.group(1).startswith("announces nothing")
                lines.append(f"{cn}: " + (m.group(1) if m else "no admission in the log"))
            return Out(ok, None, lines)
        r.step("ec2: vpcroute.so admitted the road warriors by default_client (no entry, "
               "\"strict\": false), announcing nothing", admitted, self.logs_c)

        def kernel():
            routes = p.server_agent.routes()
            return Out(routes == [T.LAN_ANNOUNCED], ", ".join(routes) or "none")
        r.step("ec2: kernel routes of the agent (ip route show proto 212): pi-home's "
               f"{T.LAN_ANNOUNCED} only", kernel, self.logs_c)
        r.step("ec2: vpcroutectl status --json: the road warriors are clients with no "
               "networks", self._status_clients, self.logs_c)

    def _status_clients(self):
        ctl = os.path.join(BUILD, "agent", "vpcroutectl")
        conf = self.agents["ec2"].conf
        res = subprocess.run([ctl, "-f", conf, "status", "--json"], capture_output=True,
                             text=True, timeout=15)
        if res.returncode:
            return Out(False, f"exited {res.returncode}",
                       (res.stderr or res.stdout).strip().splitlines()[-TAIL:])
        st = json.loads(res.stdout)
        clients = {c["cn"]: c for i in st["instances"] for c in i["clients"]}
        lines = [f"{cn:<12} {c['tunnel4'] or '-':<11} networks: "
                 f"{', '.join(c['networks']) or 'none'}" for cn, c in sorted(clients.items())]
        ok = all(cn in clients and clients[cn]["networks"] == []
                 and clients[cn]["tunnel4"] == self.prod.tunnel_address(cn)
                 for _, cn, _ in self.topo.warriors())
        ok &= clients.get("pi-home", {}).get("networks") == [T.LAN_ANNOUNCED]
        return Out(ok, None, lines)

    def _vpc_table(self):
        aws = self.aws
        want = {"A": [T.LAN_ANNOUNCED], "B": [T.BRANCH_LAN],
                "C": [T.POOL, T.LAN_ANNOUNCED]}[self.topology]

        def fn():
            rt = aws.ec2.describe_route_tables(RouteTableIds=[aws.rtb_id])["RouteTables"][0]
            lines, ours = [], set()
            for route in rt["Routes"]:
                dst = route.get("DestinationCidrBlock") or route.get("DestinationIpv6CidrBlock")
                target = (route.get("NetworkInterfaceId") or route.get("GatewayId")
                          or route.get("InstanceId") or "?")
                if route.get("NetworkInterfaceId") == aws.eni_id:
                    ours.add(dst)
                    target += " (the instance's ENI)"
                state = route.get("State", "active")
                lines.append(f"{dst:<20} -> {target}" + ("" if state == "active" else
                                                         f" [{state}]"))
            missing = [n for n in want if n not in ours]
            return Out(not missing, f"no route {', '.join(missing)} -> {aws.eni_id}"
                       if missing else None, lines)
        self.r.step(f"VPC route table {aws.rtb_id}, as the EC2 emulator holds it", fn,
                    lambda: self._agent_logs("ec2"))

    def _source_dest_check(self):
        aws = self.aws

        def fn():
            v = aws.ec2.describe_network_interface_attribute(
                NetworkInterfaceId=aws.eni_id, Attribute="sourceDestCheck")
            value = v["SourceDestCheck"]["Value"]
            return Out(value is False, f"{value}")
        self.r.step(f"source/dest check of {aws.eni_id} (the instance's ENI)", fn,
                    lambda: self._agent_logs("ec2"))

    def close(self):
        """Removes everything; a sanitizer report from an agent is a failure."""
        for what, fn in (("stopping vpcroute and OpenVPN", self.prod and self.prod.close),
                         ("stopping the emulators", self.aws and self.aws.stop),
                         ("removing the namespaces", self.lab and self.lab.cleanup)):
            if not fn:
                continue
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - the rest is removed all the same
                self.r.failures += 1
                msg = str(e).strip().splitlines()
                print(f"  {FAIL} {what}: {type(e).__name__}: {msg[0] if msg else ''}",
                      flush=True)


# --- the commands ------------------------------------------------------------

def parse(argv):
    if argv[:1] == ["shell"]:
        rest = argv[1:]
        if not rest:
            return "shell", None, None  # names the nodes
        if rest[0].startswith("-"):
            raise UsageError("scripts/lab shell: name a node first")
        if len(rest) == 1:
            return "shell", rest[0], None
        if len(rest) == 3 and rest[1] == "-c":
            return "shell", rest[0], rest[2]
        raise UsageError("scripts/lab shell NODE [-c CMD]: CMD is one argument (quote it)")
    if argv[:1] in (["down"], ["status"]):
        if len(argv) != 1:
            raise UsageError(f"scripts/lab {argv[0]} takes no arguments")
        return argv[0], None, None
    topology = "A"
    check = os.environ.get("VR_LAB_ONESHOT", "") not in ("", "0")
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--topology" and i + 1 < len(argv):
            topology, i = argv[i + 1], i + 2
            continue
        if a.startswith("--topology="):
            topology = a.split("=", 1)[1]
        elif a == "--check":
            check = True
        else:
            raise UsageError(f"scripts/lab: unknown argument {a!r}")
        i += 1
    if topology.upper() not in ("A", "B", "C"):
        raise UsageError(f"scripts/lab: no topology {topology!r} (A, B or C)")
    return ("check" if check else "up"), topology.upper(), None


def banner(topology, work):
    what = {"A": "home LAN behind a Raspberry Pi (OpenVPN client) <-> EC2 instance "
                 "(OpenVPN server)",
            "B": "EC2 instance (OpenVPN client) of a branch office server that pushes "
                 "its LAN",
            "C": "road warriors (OpenVPN clients, no LAN behind them) and the home LAN's Pi "
                 "<-> EC2 instance (OpenVPN server)"}[topology]
    print(f"vpcroute lab: topology {topology}, {what}\n"
          f"work directory (logs, configurations): {work}", flush=True)


def summary(report):
    if report.failures:
        return f"{FAIL} {report.failures} check(s) failed"
    return f"{OK} all checks passed"


def run_check(topology):
    """Brings the lab up, proves it and removes it; 0 when every check passed."""
    _stop_on_signals()
    work = tempfile.mkdtemp(prefix="vpcroute-lab-")
    banner(topology, work)
    report = Report()
    run = LabRun(topology, work, report)
    try:
        if run.bring_up():
            run.prove()
    except Stop as e:
        print(f"interrupted ({e})", flush=True)
        report.failures += 1
    finally:
        _quiet_signals()
        run.close()
    if report.failures:
        print(f"{summary(report)}; lab removed, logs kept in {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print(f"{summary(report)}; lab removed")
    return 0


class _Tee:
    """The lab process's stdout and stderr: WORK/lab.log, and until the lab
    is up the pipe to scripts/lab, which may go away (a closed terminal)
    without the lab noticing."""

    def __init__(self, log, pipe):
        self.log, self.pipe = log, pipe

    def write(self, text):
        for f in (self.log, self.pipe):
            if f:
                try:
                    f.write(text)
                    f.flush()
                except (OSError, ValueError):
                    if f is self.pipe:
                        self.pipe = None
        return len(text)

    def flush(self):
        pass

    def say_ready(self, rc):
        """The last word on the pipe: the exit status of scripts/lab."""
        if self.pipe:
            try:
                self.pipe.write(f"{READY}{rc}\n")
                self.pipe.close()
            except (OSError, ValueError):
                pass
            self.pipe = None


def run_background(topology, pipe):
    """The lab process: up, proved, then held until SIGTERM. Reports to
    WORK/lab.log, and on pipe (to the starting scripts/lab) until READY.
    Returns the exit status of the process."""
    _stop_on_signals()
    pid = os.getpid()
    work = tempfile.mkdtemp(prefix="vpcroute-lab-")
    log = open(os.path.join(work, "lab.log"), "a", buffering=1)
    os.dup2(log.fileno(), 1)  # and what is written below Python
    os.dup2(log.fileno(), 2)
    tee = sys.stdout = sys.stderr = _Tee(log, pipe)
    st = {"pid": pid, "topology": topology, "phase": "starting", "work": work,
          "builddir": BUILD, "started": time.time(), "nodes": {}}
    other = labstate.claim(st)
    if other is not None:
        print(labstate.refusal(other))
        tee.say_ready(3)
        shutil.rmtree(work, ignore_errors=True)
        return 3
    banner(topology, work)
    report = Report()
    run = None
    rc = 1

    def save(phase="starting"):
        labstate.update({**st, **run.state(), "phase": phase})

    try:
        run = LabRun(topology, work, report, on_change=save)
        if run.bring_up():
            run.prove()
            save("up" if not report.failures else "up, with failed checks")
            rc = 1 if report.failures else 0
            print(f"{summary(report)}; the lab stays up (pid {pid})\n"
                  f"  enter a node:  scripts/lab shell NODE [-c CMD]\n"
                  f"  remove it:     scripts/lab down\n"
                  f"nodes:\n" + "\n".join(labstate.node_lines(labstate.read())), flush=True)
            tee.say_ready(rc)
            print(f"{time.ctime()}: up; waiting for SIGTERM (scripts/lab down)", flush=True)
            while True:
                signal.pause()
        else:
            print(f"{summary(report)}; the lab could not be brought up: removing it",
                  flush=True)
    except Stop as e:
        print(f"{time.ctime()}: {e}: removing the lab", flush=True)
    finally:
        _quiet_signals()
        try:
            if run:
                run.close()
        finally:
            labstate.release(pid)
            if tee.pipe is None or not report.failures:
                shutil.rmtree(work, ignore_errors=True)
            else:
                print(f"logs kept in {work}", flush=True)
            tee.say_ready(rc)
    return rc


def start_background(topology):
    """Forks the lab process and shows its progress; returns when it is up
    (or failed)."""
    st = labstate.current()
    if st:
        print(labstate.refusal(st), file=sys.stderr)
        return 3
    rfd, wfd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the lab process: detached, no terminal, its own session
        rc = 1
        try:
            os.close(rfd)
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):  # run_background points 1 and 2 at its log
                os.dup2(null, fd)
            os.close(null)
            rc = run_background(topology, os.fdopen(wfd, "w", buffering=1))
        except BaseException:  # noqa: BLE001 - the process ends here whatever happens
            import traceback
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc)
    os.close(wfd)
    rc = None
    inp = os.fdopen(rfd, "r", errors="replace")
    try:
        for line in inp:
            if line.startswith(READY):
                rc = int(line[len(READY):].strip() or 1)
                break
            sys.stdout.write(line)
            sys.stdout.flush()
    except KeyboardInterrupt:
        print("\ninterrupted: removing the lab ...", flush=True)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for line in inp:  # until the lab process is done
            if not line.startswith(READY):
                sys.stdout.write(line)
        os.waitpid(pid, 0)
        return 130
    if rc is None or rc == 3 or not labstate.alive(labstate.read() or {}):
        os.waitpid(pid, 0)  # it ended: collect it
        if rc is None:
            print("the lab process ended during the set-up", file=sys.stderr)
            rc = 1
    return rc


def main(argv):
    try:
        cmd, arg, shell_cmd = parse(argv)
    except UsageError as e:
        print(f"{e}\n{USAGE}", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("scripts/lab needs root (network namespaces)", file=sys.stderr)
        return 1
    if cmd == "shell":
        return labstate.shell(arg, shell_cmd)
    if cmd == "down":
        return labstate.down()
    if cmd == "status":
        return labstate.status()
    if cmd == "check":
        return run_check(arg)
    return start_background(arg)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
