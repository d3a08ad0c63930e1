#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The lab behind scripts/lab (scripts/lab --help says how to use it).

Topology A, B or C of DESIGN.md in network namespaces, run by vpcroute from the
example configurations in doc/examples/: nothing is hand-written on the
nodes vpcroute runs on. The EC2 instance's agent turns off the source/dest
check and adds the VPC routes through the emulated EC2 API; the simulated
VPC router follows the emulator's route table and check (vrlab/fabric.py).

Each topology is described once, in vrlab/topologies.py (its network, its
processes, its checks); LabRun brings any description up, proves it and
removes it, with vrlab/topology.py (the network), vrlab/product.py (the
processes) and vrlab/proof.py (the checks). Nothing here names a node.

Every step is shown with a check mark, or a cross and the last lines of the
logs that explain it. Then the lab stays up in a background process (see
vrlab/labstate.py) until `down`; with --check (or VR_LAB_ONESHOT=1) it is
removed at once and the exit status says whether every check passed.

Run it as scripts/lab does, with the build in $VPCROUTE_BUILDDIR (default
.build/gcc):
    demo.py [--topology A|B|C|HA|ipsec-vpc2vpc|ipsec-vgw|ipsec-sites] [--check]
    demo.py shell NODE [-c CMD] | status | down
"""
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vrlab import labstate, netns  # noqa: E402
from vrlab.build import BUILD  # noqa: E402
from vrlab.proof import TAIL, Out  # noqa: E402
from vrlab.topologies import TOPOLOGIES, Client, Note, Server, Tcp, vpn_name  # noqa: E402

OK, FAIL, NOTE = "\u2714", "\u2718", "-"
READY = "\0vpcroute-lab-ready "  # the background process's last word on the pipe
USAGE = ("usage: scripts/lab [--topology A|B|C|HA|ipsec-vpc2vpc|ipsec-vgw|ipsec-sites] [--check] "
         "| shell NODE [-c CMD] | status | down\n"
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


class LabRun:
    """One topology of vrlab/topologies.py brought up, proved, and removed."""

    def __init__(self, desc, work, report, on_change=lambda: None):
        self.desc, self.work, self.r = desc, work, report
        self.on_change = on_change
        self.lab = self.topo = self.aws = self.pki = self.prod = self.proof = None
        self.skip_proof = False

    # logs, for failed steps
    def agent_logs(self, *nodes):
        agents = self.prod.agents if self.prod else {}
        return [(f"vpcroute-agent on {n}", agents[n].log) for n in nodes if n in agents]

    def vpn_logs(self, v):
        """A failed OpenVPN's log, its plugin's agent's, and for a client
        its server's (and that one's agent's)."""
        def logs():
            role = "server" if isinstance(v, Server) else "client"
            out = [(f"OpenVPN {role} on {v.node}",
                    os.path.join(self.work, vpn_name(v), f"{vpn_name(v)}.log"))]
            out += self.agent_logs(v.node) if v.plugin else []
            if isinstance(v, Client):
                out += self.vpn_logs(self.desc.vpn(v.server))()
            return out
        return logs

    def all_logs(self):
        out = self.agent_logs(*(a.node for a in self.desc.agents))
        for v in self.desc.vpns:
            out += self.vpn_logs(v)()[:1]
        return out

    def state(self):
        """What the state file says about this lab."""
        agents = self.prod.agents if self.prod else {}
        st = {"topology": self.desc.name, "work": self.work, "builddir": BUILD,
              "run": self.lab.run if self.lab else None,
              "nodes": {}, "agents": {n: a.conf for n, a in agents.items()},
              "helpers": []}
        if self.topo:
            st["nodes"] = {h.name: {"ns": self.topo[h.name].ns, "what": h.what}
                           for h in self.desc.network.hosts}
        if self.aws:
            st["helpers"] = [[self.aws.moto.proc.pid, "moto.server"],
                             [self.aws.imds.proc.pid, "ec2-metadata-mock"]]
            st["aws"] = {"route_table": self.aws.rtb_id, "eni": self.aws.eni_id,
                         "instance": self.aws.instance_id, "ec2_api": self.aws.moto.url,
                         "imds": self.aws.imds.url}
        return st

    def bring_up(self):
        """True when the lab is up enough to be explored (proved, unless a
        step the proof needs failed)."""
        from vrlab.emulators import AwsWorld
        from vrlab.pki import PKI
        from vrlab.product import Product
        from vrlab.proof import Proof
        from vrlab.topology import build
        r, d = self.r, self.desc
        r.section("bring-up")
        self.lab = netns.Lab()
        self.topo = r.step(f"namespaces: {' '.join(h.name for h in d.network.hosts)}",
                           lambda: build(self.lab, d.network))
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
        cns = [v.cn for v in d.vpns if isinstance(v, Client)]

        def pki():
            p = PKI(os.path.join(self.work, "pki"))
            p.server = p.issue("server", server=True)
            for cn in cns:
                p.issue(cn)
            return p
        self.pki = r.step(f"throwaway PKI (CA, server, {', '.join(cns)})", pki)
        if not self.pki:
            return False

        def product():
            self.prod = Product(d, self.topo, self.pki, self.work, aws=self.aws)
            self.proof = Proof(d, self.topo, self.work, self.prod)
        if not self._essential(f"relays from {d.instance} to the emulators; the VPC router "
                               "follows the emulated EC2 API (route table, source/dest check)",
                               product, []):
            return True
        self.on_change()
        agents = ", on ".join(f"{a.node} ({self.prod.confs[a.node]['role']} role) from "
                              f"doc/examples/{a.example}" for a in d.agents)
        if not self._essential(f"vpcroute-agent on {agents}", self.prod.start_agents,
                               self.agent_logs(*self.prod.agents)):
            return True
        for v in d.vpns:
            if not self._essential(self._vpn_title(v),
                                   lambda v=v: self.prod.start_vpn(vpn_name(v)),
                                   self.vpn_logs(v)):
                return True
        for s in d.by_hand:
            r.step(f"{s.what} (the outside world, by hand)",
                   lambda s=s: self.prod.static_route(s))
        for a in d.agents:
            r.step(f"{a.node}: kernel routes of the agent (ip route show proto 212)",
                   lambda a=a: ", ".join(self.prod.wait_kernel_routes(a.node)) or "none",
                   self.all_logs)
        r.step(f"{d.instance}: vpcroute-agent drove the EC2 API (the emulated VPC follows)",
               lambda: "source/dest check off; VPC routes to the instance: "
                       + ", ".join(self.prod.wait_vpc_routes()),
               lambda: self.agent_logs(d.instance))
        return True

    @staticmethod
    def _vpn_title(v):
        if isinstance(v, Server):
            if v.plugin:
                return f"OpenVPN server on {v.node} with vpcroute.so"
            to = "; ".join(f"routes {', '.join(nets)} to {cn}" for cn, nets in v.iroutes.items())
            return (f"OpenVPN server on {v.node}, no vpcroute (the outside world, by hand): "
                    f"pushes {', '.join(v.push) or 'nothing'}" + (f"; {to}" if to else ""))
        opts = "".join(f" and {o}" for o in v.options)
        return (f"OpenVPN client on {v.node} with vpcroute.so{opts} ({v.cn})" if v.plugin else
                f"OpenVPN client on {v.node}, no vpcroute ({v.cn})")

    def _essential(self, what, fn, logs):
        """A step the proof needs: when it fails, the lab is up to be
        explored, but not proved."""
        before = self.r.failures
        self.r.step(what, lambda: fn() and None, logs)
        if self.r.failures > before:
            self.skip_proof = True
        return not self.skip_proof

    # --- the proof -----------------------------------------------------------------

    def prove(self):
        r, d, pf = self.r, self.desc, self.proof
        if self.skip_proof:
            r.note("no proof: a step it needs failed (see above)")
            return
        prove_matrix(r, pf, d.connectivity, self.all_logs)
        for title, checks in d.sections:
            r.section(title)
            for c in checks:
                if isinstance(c, Tcp) and c.shown:
                    text, lines, warn = pf.shown(c)
                    r.note(text, lines, warn=warn)
                elif isinstance(c, Note):
                    r.note(c.text)
                else:
                    r.step(pf.title(c), lambda c=c: pf.run(c), self.all_logs)
        r.section("the EC2 instance and the VPC")
        inst = lambda: self.agent_logs(d.instance)  # noqa: E731
        r.step(f"{d.instance}: table inet vpcroute ({d.nft})", pf.nft_table, self.all_logs)
        r.step(f"VPC route table {self.aws.rtb_id}, as the EC2 emulator holds it", pf.vpc_table,
               inst)
        r.step(f"source/dest check of {self.aws.eni_id} (the instance's ENI)",
               pf.source_dest_check, inst)
        r.section("vpcroutectl status")
        for node, agent in self.prod.agents.items():
            r.step(f"vpcroutectl status on {node} (vpcroutectl -f {agent.conf} status)",
                   lambda node=node: pf.status(node), lambda node=node: self.agent_logs(node))
        r.section("vpcroutectl doctor")
        for node, agent in self.prod.agents.items():
            r.step(f"vpcroutectl doctor on {node}, in its namespace: no problem",
                   lambda node=node: pf.doctor(node), lambda node=node: self.agent_logs(node))
        r.step(f"vpcroutectl doctor on {d.instance} with IPv4 forwarding off (turned on again "
               "after): that problem, exit 1", lambda: pf.doctor_forwarding_off(d.instance),
               inst)
        for v in d.vpns:
            if isinstance(v, Server) and not v.plugin:
                r.note(f"{v.node}: the outside world's own OpenVPN server ({v.name}), "
                       "no vpcroute there")

    def close(self):
        """Removes everything; a sanitizer report from an agent is a failure."""
        teardown(self.r, self.prod, self.aws, self.lab)


def prove_matrix(r, pf, checks, logs):
    """The connectivity section: each check of the matrix, aligned."""
    r.section("connectivity")
    rows = [pf.row(c) for c in checks]
    w1 = max(len(m[0]) for m in rows)
    w2 = max(len(m[1]) for m in rows)
    for (src, dst, what), c in zip(rows, checks):
        r.step(f"{src:<{w1}} -> {dst:<{w2}}  {what}", lambda c=c: pf.run(c), logs)


class HaRun:
    """Topology HA (vrlab/ha.py): topology A with two servers of one cluster,
    brought up, its failover proved step by step, and removed."""

    desc = None

    def __init__(self, work, report, on_change=lambda: None):
        self.work, self.r, self.on_change = work, report, on_change
        self.lab = self.aws = self.ha = None
        self.skip_proof = False

    def logs(self):
        if not self.ha:
            return []
        out = [(f"vpcroute-agent on {n if n == 'pi' else 'ec' + n}", a.log)
               for n, a in self.ha.agents.items()]
        return out + [(f"OpenVPN {n}", v.log) for n, v in self.ha.vpns.items()]

    def state(self):
        from vrlab import ha
        st = {"topology": "HA", "work": self.work, "builddir": BUILD,
              "run": self.lab.run if self.lab else None, "nodes": {},
              "agents": {}, "helpers": []}
        if self.ha:
            st["nodes"] = {h.name: {"ns": self.ha.topo[h.name].ns, "what": h.what}
                           for h in ha.network().hosts}
            st["agents"] = {("pi" if n == "pi" else f"ec{n}"): a.conf
                            for n, a in self.ha.agents.items()}
        if self.aws:
            st["helpers"] = [[self.aws.moto.proc.pid, "moto.server"],
                             [self.aws.imds.proc.pid, "ec2-metadata-mock"]]
        return st

    def bring_up(self):
        from vrlab.emulators import AwsWorld
        from vrlab.ha import HA
        from vrlab.pki import PKI
        r = self.r
        r.section("bring-up")
        self.lab = netns.Lab()
        self.aws = r.step("EC2 API (moto) and IMDSv2 (ec2-metadata-mock) on loopback",
                          lambda: AwsWorld(self.work),
                          logs=[("moto", os.path.join(self.work, "moto.log"))])
        if not self.aws:
            return False

        def pki():
            p = PKI(os.path.join(self.work, "pki"))
            p.server = p.issue("server", server=True)
            p.issue("pi-home")
            return p
        pk = r.step("throwaway PKI (CA, server, pi-home)", pki)
        if not pk:
            return False

        def build():
            self.ha = HA(self.lab, self.aws, pk, self.work)
            return (f"namespaces {' '.join(self.ha.topo.nodes)}; server B's instance "
                    f"{self.ha.b.instance_id} in us-east-1b; the VPC router follows both "
                    "interfaces")
        if not r.step("the network, a second instance in moto with its metadata mock, "
                      "relays", build):
            return False
        self.on_change()
        if not r.step("vpcroute-agent on eca, ecb (aws.cluster \"home\", pools "
                      "10.1.2.0/25 and 10.1.2.128/25) and pi; OpenVPN servers on eca and ecb; "
                      "the Pi's OpenVPN client with both remote lines",
                      self.ha.up, self.logs):
            self.skip_proof = True
        return True

    def prove(self):
        import time as _time
        from vrlab.ha import DRIFT, HOME_IP, LAN_ANNOUNCED
        r, h = self.r, self.ha
        if self.skip_proof:
            r.note("no proof: a step it needs failed (see above)")
            return
        r.section("before the failure")
        r.step("the Pi is a client of server A; A routes the home network, B does not",
               lambda: bool(h.kernel_route("a")) and not h.kernel_route("b"), self.logs)
        r.step("the VPC sends the home network to A's interface", lambda: h.wait_route("a"),
               self.logs)
        r.step("the VPC host and home reach each other", h.wait_reaches_home, self.logs)
        r.section("server A dies (its OpenVPN and agent killed)")
        t0 = _time.monotonic()
        r.step("kill A", lambda: h.kill("a"), self.logs)
        r.step("the Pi reconnects to B (ping-restart 4 s)",
               lambda: h.vpns["b"].wait_client("pi-home", timeout=30)
               or f"after {_time.monotonic() - t0:.1f} s", self.logs)
        r.step("the VPC route follows to B's interface", lambda: h.wait_route("b"), self.logs)
        r.step("the VPC host reaches home again, through B", h.wait_reaches_home, self.logs)
        r.step("B made one ReplaceRoute per route table, nothing else for it",
               lambda: [c.action for c in h.calls("b", t0)] == ["ReplaceRoute"] * 2
               and "2 ReplaceRoute", self.logs)
        r.section("server A comes back")
        t1 = _time.monotonic()
        r.step("A's agent and OpenVPN again (no client)", lambda: h.restart("a"), self.logs)

        def quiet():
            _time.sleep(DRIFT + 2)
            n = h.proxy.count("ReplaceRoute", since=t1)
            return (n == 0 and LAN_ANNOUNCED in h.fabric.routes_to(h.eni["b"])
                    and not h.kernel_route("a")) and "0 ReplaceRoute; still at B"
        r.step(f"a drift period ({DRIFT} s) later: no route moved, A routes nothing of B's",
               quiet, self.logs)
        r.step("the VPC host still reaches home", lambda: h.ping("priv", HOME_IP), self.logs)
        r.section("vpcroutectl status on ecb: the cluster")
        r.step("status", lambda: self._cluster_lines("b"), self.logs)
        r.section("the Pi leaves B")
        t2 = _time.monotonic()
        r.step("the Pi's OpenVPN stops", h.vpns["pi"].stop, self.logs)

        def withdrawn():
            from vrlab.waiting import wait_for
            wait_for("withdrawn", lambda: LAN_ANNOUNCED not in h.fabric.routes, timeout=30)
            return ([c.action for c in h.calls("b", t2)] == ["DeleteRoute"] * 2
                    and not h.calls("a", t2) and "2 DeleteRoute by B, none by A")
        r.step("the route is withdrawn after the grace period, by B alone", withdrawn,
               self.logs)
        r.step("the Pi connects again (the lab stays usable)",
               lambda: h.client().wait_up() and None, self.logs)

    def _cluster_lines(self, s):
        import subprocess
        from vrlab.build import built
        from vrlab.proof import Out
        out = subprocess.run(
            self.ha.topo[f"ec{s}"].argv([built("agent/vpcroutectl"), "-s",
                                         self.ha.agents[s].sock, "status"]),
            capture_output=True, text=True, timeout=10).stdout.splitlines()
        lines = [ln for ln in out if "cluster" in ln or ln.startswith("    eni-")
                 or "moved" in ln or "at peer" in ln]
        return Out(any("cluster home: this interface tagged" in ln for ln in out),
                   None, lines)

    def close(self):
        teardown(self.r, self.ha, self.aws, self.lab)


class IpsecRun:
    """An IPsec topology of vrlab/ipseclab.py (ipsec-vpc2vpc, ipsec-vgw,
    ipsec-sites): real IKE daemons, the agents, the VPCs in the EC2
    emulator; brought up, proved and removed. It needs a kernel with ESP
    (scripts/lab runs it in the VM of scripts/ipsec-vm where the machine's
    kernel has none)."""

    def __init__(self, name, work, report, on_change=lambda: None):
        from vrlab import ipseclab
        self.desc = ipseclab.TOPOLOGIES[name]
        self.work, self.r, self.on_change = work, report, on_change
        self.lab = self.aws = self.ipsec = self.proof = None
        self.skip_proof = False

    def logs(self):
        return self.ipsec.logs() if self.ipsec else []

    def state(self):
        st = {"topology": self.desc.name, "work": self.work, "builddir": BUILD,
              "run": self.lab.run if self.lab else None, "nodes": {}, "agents": {},
              "helpers": []}
        if self.ipsec:
            st["nodes"] = {h.name: {"ns": self.ipsec.topo[h.name].ns, "what": h.what}
                           for h in self.desc.network.hosts}
            st["agents"] = self.ipsec.confs
        if self.aws and self.aws.moto.proc:
            st["helpers"] = [[self.aws.moto.proc.pid, "moto.server"],
                             [self.aws.imds.proc.pid, "ec2-metadata-mock"]]
        return st

    def _essential(self, what, fn):
        if not self.r.step(what, fn, self.logs):
            self.skip_proof = True
        return not self.skip_proof

    def bring_up(self):
        from vrlab.ipseclab import LABS, world
        from vrlab.proof import Proof
        r, cls = self.r, LABS[self.desc.name]
        a = cls.VPCS[0]
        r.section("bring-up")
        self.lab = netns.Lab()
        where = ("outside the VM (scripts/ipsec-vm), reached through its network"
                 if os.environ.get("VR_VM_AWS") else "on loopback")
        self.aws = r.step(f"EC2 API (moto) and IMDSv2 (ec2-metadata-mock) {where}: VPC "
                          f"{a.key.upper()} {a.cidr} with instance {a.gw}",
                          lambda: world(a, self.work),
                          logs=[("moto", os.path.join(self.work, "vpc-a", "moto.log"))])
        if not self.aws:
            return False

        def build():
            self.ipsec = cls(self.lab, self.aws, self.work)
            self.proof = Proof(self.desc, self.ipsec.topo, self.work, self.ipsec)
            more = [f"VPC {v.key.upper()} {v.cidr} with instance {v.gw} in the same EC2 API, "
                    "its own metadata mock" for v in cls.VPCS[1:]]
            return "; ".join([f"namespaces {' '.join(self.ipsec.topo.nodes)}", *more])
        if not r.step("the network, relays to the emulators; each VPC router follows its "
                      "route table and its instance's source/dest check", build):
            return False
        self.on_change()
        for what, fn in self.ipsec.steps():
            if not self._essential(what, fn):
                break
        return True

    def prove(self):
        r, pf, ip = self.r, self.proof, self.ipsec
        if self.skip_proof:
            r.note("no proof: a step it needs failed (see above)")
            return
        prove_matrix(r, pf, self.desc.connectivity, self.logs)
        for k, v in ip.vpcs.items():
            w, gw = ip.worlds[k], f"gw{k}"
            r.section(f"instance {k.upper()} and VPC {k.upper()} {v.cidr}")
            r.step(f"{gw}: table inet vpcroute ({self.desc.nft})",
                   lambda gw=gw: pf.nft_table(gw), self.logs)
            r.step(f"VPC route table {w.rtb_id}, as the EC2 emulator holds it",
                   lambda w=w, k=k: pf.vpc_table(w, ip.remote(k)), self.logs)
            r.step(f"source/dest check of {w.eni_id} (instance {k.upper()}'s ENI)",
                   lambda w=w: pf.source_dest_check(w), self.logs)
        r.section("vpcroutectl status")
        for node, agent in ip.agents.items():
            r.step(f"vpcroutectl status on {node} (vpcroutectl -f {agent.conf} status)",
                   lambda node=node: pf.status(node), self.logs)
        r.section("vpcroutectl doctor")
        for node in ip.agents:
            r.step(f"vpcroutectl doctor on {node}, in its namespace: no problem",
                   lambda node=node: pf.doctor(node), self.logs)
        r.section("the EC2 API's requests")
        r.step("every request the EC2 emulator saw is signed (SigV4, as botocore signs)",
               lambda: pf.signatures(self.aws), self.logs)

    def close(self):
        teardown(self.r, self.ipsec, self.aws, self.lab)


def teardown(report, product, aws, lab):
    """Stops the product, then the emulators, then removes the namespaces, each
    whatever the one before did; a failure of one is counted in report."""
    for what, fn in (("stopping vpcroute and OpenVPN", product and product.close),
                     ("stopping the emulators", aws and aws.stop),
                     ("removing the namespaces", lab and lab.cleanup)):
        if not fn:
            continue
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - the rest is removed all the same
            report.failures += 1
            msg = str(e).strip().splitlines()
            print(f"  {FAIL} {what}: {type(e).__name__}: {msg[0] if msg else ''}", flush=True)


def lab_run(topology, work, report, on_change=lambda: None):
    if topology == "HA":
        return HaRun(work, report, on_change)
    if topology.startswith("ipsec-"):
        return IpsecRun(topology, work, report, on_change)
    return LabRun(TOPOLOGIES[topology], work, report, on_change)


def title(topology):
    if topology == "HA":
        from vrlab.ha import TITLE
        return TITLE
    if topology.startswith("ipsec-"):
        from vrlab.ipseclab import TOPOLOGIES as IPSEC
        return IPSEC[topology].title
    return TOPOLOGIES[topology].title


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
    from vrlab.ipseclab import NAMES as IPSEC
    if topology.lower() in IPSEC:
        return ("check" if check else "up"), topology.lower(), None
    if topology.upper() not in (*TOPOLOGIES, "HA"):
        raise UsageError(f"scripts/lab: no topology {topology!r} "
                         f"({', '.join(TOPOLOGIES)}, HA, {', '.join(IPSEC)})")
    return ("check" if check else "up"), topology.upper(), None


def banner(topology, work):
    print(f"vpcroute lab: topology {topology}, {title(topology)}\n"
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
    run = lab_run(topology, work, report)
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
        run = lab_run(topology, work, report, on_change=save)
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
