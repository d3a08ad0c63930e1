#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/agent.py: what programming a client costs, vpcroute-agent vs. the classic way.

In a fresh network namespace per run: N simulated clients connect one after
the other (each announcing its own /24 and a tunnel address). With the
agent, a scripted plugin sends each connect and waits for the agent's
acknowledgement, which comes after the route and the nftables set elements
are in the kernel. The classic way is the learn-address script people use:
per client one shell, one `ip route replace` and two `iptables` inserts (NAT
exemption, forward accept). Prints JSON: per-client p50/p99 and the total
time for each N, and the ratio classic/agent.

    bench/agent.py [--sizes 1000,10000] [--classic-max 10000]   (root)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))

from vrlab import netns  # noqa: E402
from vrlab.agent import Agent, tunnel_host  # noqa: E402
from vrlab.fakeplugin import FakePlugin  # noqa: E402

CONF = {"version": 1, "role": "server", "local_networks": ["192.168.255.0/24"],
        "tunnel": {"pool": "100.64.0.0/10"},
        "default_client": {"allow": ["10.0.0.0/8"], "to_local": True},
        "nat": {"masquerade": [{"sources": ["192.168.255.0/24"], "out_interface": "eth0"}]}}

CLASSIC = """#!/bin/sh
# learn-address, the classic way: route, NAT exemption, forward accept.
# $1 = add|update|delete, $2 = the client's network, $3 = common name
[ "$1" = add ] || exit 0
ip route replace "$2" dev tun0
iptables -t nat -I POSTROUTING -s 192.168.255.0/24 -d "$2" -j ACCEPT
iptables -I FORWARD -s "$2" -d 192.168.255.0/24 -j ACCEPT
"""

DRIVER = r"""
import subprocess, sys, time, json
n, script = int(sys.argv[1]), sys.argv[2]
t = []
for i in range(n):
    net = f"10.{i // 256}.{i % 256}.0/24"
    t0 = time.perf_counter()
    subprocess.run([script, "add", net, f"c{i}"], check=True)
    t.append(time.perf_counter() - t0)
print(json.dumps(t))
"""


def stats(t, total):
    ms = sorted(x * 1000 for x in t)
    return {"clients": len(t), "p50_ms": round(ms[len(ms) // 2], 3),
            "p99_ms": round(ms[min(len(ms) - 1, len(ms) * 99 // 100)], 3),
            "mean_ms": round(statistics.mean(ms), 3), "total_s": round(total, 2)}


def run_agent(n, work):
    with netns.Lab() as lab:
        node = tunnel_host(lab, "bench")
        agent = Agent(node, os.path.join(work, f"agent-{n}"), dict(CONF), grace=0).start()
        plugin = FakePlugin(agent.sock).connect()
        plugin.drain(0.2)
        plugin.s.settimeout(10)
        lat = []
        t_start = time.perf_counter()
        for i in range(n):
            t0 = time.perf_counter()
            # from the pool's third address: the agent refuses its network
            # address and the server's own (the first host)
            m = plugin.client_acked(f"c{i}", [f"10.{i // 256}.{i % 256}.0/24"],
                                    t4=f"100.64.{(i + 2) // 256}.{(i + 2) % 256}")
            if not m["ok"]:
                raise RuntimeError(m)
            lat.append(time.perf_counter() - t0)
        total = time.perf_counter() - t_start
        routes = len(agent.routes())
        agent.stop()
        assert routes == n, f"{routes} routes for {n} clients"
        return stats(lat, total)


def run_classic(n, work):
    script = os.path.join(work, "learn-address.sh")
    with open(script, "w") as f:
        f.write(CLASSIC)
    os.chmod(script, 0o755)
    with netns.Lab() as lab:
        node = tunnel_host(lab, "bench")
        t0 = time.perf_counter()
        r = node.run([sys.executable, "-c", DRIVER, str(n), script], timeout=7200)
        total = time.perf_counter() - t0
        return stats(json.loads(r.stdout), total)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--classic-max", type=int, default=10000,
                    help="largest N to run the classic script for")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vr-bench-agent-")
    res = {"benchmark": "agent_programming", "cores": os.cpu_count(),
           "measure": "connect sent -> ack received (route + nft elements in the kernel); "
                      "classic: one learn-address script run", "runs": {}}
    for n in (int(x) for x in a.sizes.split(",")):
        r = {"vpcroute_agent": run_agent(n, work)}
        if n <= a.classic_max:
            r["classic_script"] = run_classic(n, work)
            r["ratio_total_classic_to_agent"] = round(
                r["classic_script"]["total_s"] / r["vpcroute_agent"]["total_s"], 1)
        res["runs"][str(n)] = r
        print(json.dumps({str(n): r}), file=sys.stderr, flush=True)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
