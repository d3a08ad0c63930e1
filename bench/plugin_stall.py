#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/plugin_stall.py: what a hung agent costs OpenVPN's clients.

Runs topology A in network namespaces with the real OpenVPN 2.6 server and
vpcroute.so; an agent test double (vrlab/agentdouble.py) plays the agent.
pi-home is connected; then, for each admission mode, a laptop (a road
warrior) connects while the agent reads normally and again while the agent
stalls for --stall seconds. Measured, per mode:

  admit_ms          start of the laptop's OpenVPN -> its "Initialization
                    Sequence Completed" (process start, TLS handshake, push)
  ping              pi-home -> the server's tunnel address every 0.2 s
                    during the stall: answered/sent and the mean RTT in ms

The tests (tests/lab/test_plugin.py) assert only that admission and traffic
go on while the agent stalls (immediate) or that admission waits for it
(deferred); the figures are printed here, as JSON.

    bench/plugin_stall.py [--stall 3] [--runs 3]   (root; VPCROUTE_BUILDDIR as for the tests)
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))

from vrlab import netns, topology as T  # noqa: E402
from vrlab.agentdouble import AgentDouble  # noqa: E402
from vrlab.build import plugin_so  # noqa: E402
from vrlab.openvpn import OpenVPN, client_lines, server_lines  # noqa: E402
from vrlab.pki import PKI  # noqa: E402


def admit_ms(topo, pki, node, d, cn):
    cert, key = pki.issue(cn)
    c = OpenVPN(node, os.path.join(d, cn), cn, client_lines(
        pki, cert, key, remote=T.EC2_PUBLIC, extra=["auth-retry none"]))
    t0 = time.perf_counter()
    c.start().wait_up(timeout=60)
    ms = (time.perf_counter() - t0) * 1000
    c.stop()
    return ms


def ping_during(node, seconds):
    out = {}
    t = threading.Thread(target=lambda: out.update(
        r=node.ping_stats("10.1.2.1", count=max(1, int(seconds / 0.2)), interval=0.2)))
    t.start()
    return lambda: (t.join(), out["r"])[1]


def run_mode(topo, pki, work, mode, stall, runs, laptop):
    d = os.path.join(work, mode)
    os.makedirs(d)
    sock = os.path.join(d, "agent.sock")
    agent = AgentDouble(sock)
    conf = os.path.join(d, "vpcroute.conf")
    names = [f"{w}-{i}" for w in ("normal", "stalled") for i in range(runs)]
    with open(conf, "w") as f:
        json.dump({"version": 1, "role": "server", "socket": {"path": sock},
                   "local_networks": ["10.1.1.0/24"], "tunnel": {"pool": "10.1.2.0/24"},
                   "strict": True,
                   "clients": {"pi-home": {"iroutes": ["192.168.1.128/25"],
                                           "address": "10.1.2.10"},
                               **{n: {} for n in names}},
                   "plugin": {"admission": mode, "defer_timeout_ms": 60000}}, f)
    server = OpenVPN(topo.ec2, d, "server", server_lines(
        pki, *pki.server, local=T.EC2_IP,
        extra=[f"plugin {plugin_so()} {conf} instance=bench"])).start()
    server.wait_up()
    cert, key = pki.issue("pi-home")
    pi = OpenVPN(topo.pi, os.path.join(d, "pi"), "pi", client_lines(
        pki, cert, key, remote=T.EC2_PUBLIC)).start()
    pi.wait_up(timeout=60)
    res = {"normal_admit_ms": [], "stalled_admit_ms": [], "ping_during_stall": []}
    try:
        for i in range(runs):
            res["normal_admit_ms"].append(admit_ms(topo, pki, laptop, d, f"normal-{i}"))
        for i in range(runs):
            agent.stall(stall)
            during = ping_during(topo.pi, stall * 0.9)
            res["stalled_admit_ms"].append(admit_ms(topo, pki, laptop, d, f"stalled-{i}"))
            rcvd, sent, rtt = during()
            res["ping_during_stall"].append({"answered": rcvd, "sent": sent, "rtt_ms": rtt})
            while time.time() < agent.stalled_until:
                time.sleep(0.05)
    finally:
        pi.stop()
        server.stop()
        agent.stop()
    out = {}
    for k in ("normal_admit_ms", "stalled_admit_ms"):
        v = res[k]
        out[k] = {"median": round(statistics.median(v)), "max": round(max(v)),
                  "all": [round(x) for x in v]}
    out["ping_during_stall"] = res["ping_during_stall"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stall", type=float, default=3.0, help="seconds the agent stalls")
    ap.add_argument("--runs", type=int, default=3, help="connections per case (default 3)")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vr-bench-stall-")
    res = {"benchmark": "plugin_stall", "stall_s": a.stall, "runs": a.runs, "modes": {}}
    with netns.Lab() as lab:
        topo = T.build_topology_a(lab)
        laptop = topo.road_warrior("rw1", 1)
        pki = PKI(os.path.join(work, "pki"))
        pki.server = pki.issue("server", server=True)
        for mode in ("immediate", "deferred"):
            res["modes"][mode] = run_mode(topo, pki, work, mode, a.stall, a.runs, laptop)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
