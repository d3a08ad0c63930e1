#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/route_server.py: how fast the VPC follows a client in aws.routes "route-server".

Topology A in network namespaces (vrlab/routeserver.py): the instance runs
vpcroute-agent with aws.routes "route-server" and BIRD with the configuration
`vpcroutectl bgp-config` prints (lab timers: BFD 50 ms x 3, hold 3 s); the
VPC fabric runs BIRD playing VPC Route Server and routes to the home network
only through what it learnt. moto (EC2) is behind the lab's recording proxy.
The times are those of `ip -ts monitor route` on the instance and on the
fabric. Measured, RUNS times each, and printed as JSON (p50 and max, ms):
- connect: from the OpenVPN client's start to the fabric's route to the home
  network (TLS handshake, the plugin, the agent, BIRD's netlink, BGP);
- kernel_to_fabric: from the agent's kernel route (protocol 212) on the
  instance to the fabric's route: what BGP adds to the agent (BIRD hears the
  route by netlink at once: below the monitors' precision, which is a
  fraction of a ms, a few ms on a loaded machine, either way, since each
  stamps a notification when it prints it);
- disconnect: from the client's stop to the fabric's route gone (OpenVPN's
  server notices the client's exit first), and kernel_to_fabric_gone: from
  the agent's kernel route gone to the fabric's;
then once, with a second server B (vrlab/routeserver.py, RouteServerAB) and
the client listing A then B: A dies (BIRD frozen, its TCP session left open,
as when the instance dies; OpenVPN and the agent killed), and from then:
A's routes gone at the fabric (the route server's BFD), the client's route
at B (OpenVPN's timers in the lab: ping-restart 2 s, server-poll-timeout 1
s), B's route at the fabric after B's kernel route (the reconnect at B to the
route), and the whole outage. And A's agent's EC2 calls over the whole run:
mutating ones (the one ModifyNetworkInterfaceAttribute of the start) and
route-table ones (0). The comparison: issue 14's target, the route at the
route server within 1 s of the (re)connect, and 0 mutating calls per
connect or failover.

    bench/route_server.py [--runs 5]   (root, after a build)
"""
import argparse
import datetime
import json
import os
import re
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))

from vrlab import netns, topology as T  # noqa: E402
from vrlab.bird import BFD_MS, HOLD_S, fabric_routes  # noqa: E402
from vrlab.emulators import AwsWorld  # noqa: E402
from vrlab.pki import PKI  # noqa: E402
from vrlab.routeserver import EC2_B_IP, ROUTE_CALLS, RouteServerAB, wait_for  # noqa: E402


class Watch:
    """`ip -ts monitor route` on the instance and on the fabric: when the
    route to the home network came and went on each (the kernel's own
    timestamps of the notifications, in microseconds, wall clock)."""

    def __init__(self, rsa, work):
        self.logs = {}
        for node in (rsa.topo.ec2, rsa.topo.ec2b, rsa.topo.vpc):
            self.logs[node.name] = os.path.join(work, f"monitor-{node.name}.log")
            node.popen(["ip", "-ts", "monitor", "route"], log=self.logs[node.name])
        time.sleep(0.3)  # subscribed

    def events(self, node):
        """[(time, added, the rest of the line)] of the route to the home
        network on node."""
        out = []
        with open(self.logs[node]) as f:
            for line in f:
                m = re.match(r"\[(\S+)\] (Deleted )?" + re.escape(T.LAN_ANNOUNCED) + " (.*)",
                             line)
                if m:
                    out.append((datetime.datetime.fromisoformat(m.group(1)).timestamp(),
                                not m.group(2), m.group(3)))
        return out

    def when(self, node, since, added, via="", timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            hit = next((t for t, a, rest in self.events(node)
                        if t >= since and a == added and via in rest), None)
            if hit:
                return hit
            time.sleep(0.01)
        raise RuntimeError("%s: no %s within %ss" % (node, "add" if added else "delete",
                                                      timeout))


def summary(ms):
    return {"p50_ms": round(statistics.median(ms), 2), "max_ms": round(max(ms), 2),
            "runs": len(ms)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="connects per measure (default 5)")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vr-bench-rs-")
    connect, k2f, disconnect, k2f_gone = [], [], [], []
    with netns.Lab() as lab:
        topo = T.build_topology_a(lab)
        pki = PKI(os.path.join(work, "pki"))
        pki.server = pki.issue("server", server=True)
        world = AwsWorld(work)
        rsa = RouteServerAB(topo, pki, work, world)
        try:
            rsa.up()
            watch = Watch(rsa, work)
            for _ in range(a.runs):
                t0 = time.time()
                rsa.prod.start_client()
                kern = watch.when("ec2", t0, True)
                fab = watch.when("vpc", t0, True)
                connect.append((fab - t0) * 1000)
                k2f.append((fab - kern) * 1000)
                t0 = time.time()
                rsa.prod.client.stop()
                kern = watch.when("ec2", t0, False)
                fab = watch.when("vpc", t0, False)
                disconnect.append((fab - t0) * 1000)
                k2f_gone.append((fab - kern) * 1000)
            rsa.start_client()  # A, then B as its remotes
            wait_for("the route", lambda: T.LAN_ANNOUNCED in fabric_routes(topo.vpc))
            t0 = time.time()
            rsa.kill_a()
            gone = watch.when("vpc", t0, False)
            at_b = watch.when("ec2b", t0, True)
            via_b = watch.when("vpc", t0, True, via=f"via {EC2_B_IP} ")
            failover = {"a_routes_gone_ms": round((gone - t0) * 1000, 1),
                        "client_at_b_ms": round((at_b - t0) * 1000, 1),
                        "kernel_b_to_fabric_ms": round((via_b - at_b) * 1000, 2),
                        "outage_ms": round((via_b - t0) * 1000, 1)}
            calls = rsa.agent_calls()
        finally:
            rsa.close()
            world.stop()
    res = {"benchmark": "route_server", "daemon": "BIRD 2 (vpcroutectl bgp-config)",
           "timers": {"bfd_ms": BFD_MS, "bfd_multiplier": 3, "hold_s": HOLD_S},
           "connect": summary(connect), "kernel_to_fabric": summary(k2f),
           "disconnect": summary(disconnect), "kernel_to_fabric_gone": summary(k2f_gone),
           "failover_a_to_b": failover,
           "agent_ec2_calls": {"total": len(calls),
                               "mutating": sorted(c for c in calls
                                                  if not c.startswith("Describe")),
                               "route_table": sum(c in ROUTE_CALLS for c in calls)},
           "comparison": {"target_connect_to_route_ms": 1000,
                          "target_mutating_calls_per_failover": 0}}
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
