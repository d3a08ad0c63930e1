#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/push_reply.py: how long a client waits for its PUSH_REPLY.

Runs topology A in network namespaces with the real OpenVPN 2.6 server three
ways: without the plugin, with vpcroute.so admitting immediately (the
default), and with deferred admission; an agent test double answers at once.
For each connection it takes the server's own microsecond timestamps
(--machine-readable-output) of the end of the TLS handshake ("Peer
Connection Initiated") and of "SENT CONTROL [cn]: 'PUSH_REPLY", and prints
JSON with p50/p99 per mode and the ratio to the run without the plugin.

    bench/push_reply.py [--runs N]      (root; VPCROUTE_BUILDDIR as for the tests)
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))

from vrlab import netns, topology as T  # noqa: E402
from vrlab.agentdouble import AgentDouble  # noqa: E402
from vrlab.build import plugin_so  # noqa: E402
from vrlab.openvpn import OpenVPN, client_lines, server_lines  # noqa: E402
from vrlab.pki import PKI  # noqa: E402


def delays(log, cn):
    """Handshake -> PUSH_REPLY delay of cn's connection, in ms."""
    out, start = [], None
    for line in log.splitlines():
        parts = line.split(" ", 2)
        if len(parts) < 3:
            continue
        try:
            t = float(parts[0])
        except ValueError:
            continue
        if f"[{cn}] Peer Connection Initiated" in parts[2]:
            start = t
        elif f"SENT CONTROL [{cn}]: 'PUSH_REPLY" in parts[2] and start is not None:
            out.append((t - start) * 1000)
            start = None
    return out


def pct(v, p):
    v = sorted(v)
    return round(v[min(len(v) - 1, int(len(v) * p / 100))], 3)


def run_mode(topo, pki, work, mode, runs):
    d = os.path.join(work, mode)
    os.makedirs(d)
    extra = ["machine-readable-output"]
    agent = None
    if mode != "no-plugin":
        sock = os.path.join(d, "agent.sock")
        agent = AgentDouble(sock)
        conf = os.path.join(d, "vpcroute.conf")
        with open(conf, "w") as f:
            json.dump({"version": 1, "role": "server", "socket": {"path": sock},
                       "local_networks": ["10.1.1.0/24"], "tunnel": {"pool": "10.1.2.0/24"},
                       "clients": {f"bench-{i}": {"iroutes": [f"192.168.{i}.0/24"],
                                                  "push_routes": ["10.1.1.0/24"]}
                                   for i in range(runs)},
                       "plugin": {"admission": "deferred" if mode == "deferred" else "immediate"}},
                      f)
        extra.append(f"plugin {plugin_so()} {conf} instance=bench")
    server = OpenVPN(topo.ec2, d, "server", server_lines(pki, *pki.server, local=T.EC2_IP,
                                                         extra=extra)).start()
    server.wait_up()
    # A common name per connection: no waiting for the server to retire the last one.
    for i in range(runs):
        cert, key = pki.issue(f"bench-{i}")
        c = OpenVPN(topo.pi, os.path.join(d, f"c{i}"), "pi", client_lines(
            pki, cert, key, remote=T.EC2_PUBLIC)).start()
        c.wait_up(timeout=30)
        c.stop()
    server.stop()
    if agent:
        agent.stop()
    log = server.log_text()
    v = [x for i in range(runs) for x in delays(log, f"bench-{i}")]
    return {"connections": len(v), "p50_ms": pct(v, 50), "p99_ms": pct(v, 99),
            "mean_ms": round(statistics.mean(v), 3), "max_ms": round(max(v), 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10, help="connections per mode (default 10)")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vr-bench-push-")
    res = {"benchmark": "push_reply", "openvpn": os.popen("openvpn --version").readline().split()[1],
           "runs_per_mode": a.runs, "measure": "server log: TLS handshake done -> PUSH_REPLY sent",
           "modes": {}}
    with netns.Lab() as lab:
        topo = T.build_topology_a(lab)
        pki = PKI(os.path.join(work, "pki"))
        pki.server = pki.issue("server", server=True)
        for mode in ("no-plugin", "immediate", "deferred"):
            t0 = time.time()
            res["modes"][mode] = run_mode(topo, pki, work, mode, a.runs)
            res["modes"][mode]["wall_s"] = round(time.time() - t0, 1)
    base = res["modes"]["no-plugin"]["p50_ms"] or 1e-3
    res["p50_ratio_to_no_plugin"] = {m: round(r["p50_ms"] / base, 1)
                                     for m, r in res["modes"].items()}
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
