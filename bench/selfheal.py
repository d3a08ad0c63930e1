#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/selfheal.py: how long the agent takes to repair what others change.

In a fresh network namespace per run, N clients are programmed through a
scripted plugin; then, R times each, something is changed behind the
agent's back and the time until the kernel holds everything again is
measured (polled every 2 ms, so within a few ms): one of its routes deleted,
one set element deleted, `nft flush ruleset`, the tunnel device deleted and
recreated (all N routes back). The agent reconciles 50 ms after the first
notification (its debounce). Prints JSON: p50 and max per change and size.

    bench/selfheal.py [--sizes 100,1000] [--runs 10]   (root)
"""
import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))

from vrlab import netns  # noqa: E402
from vrlab.agent import Agent, tunnel_host  # noqa: E402
from vrlab.fakeplugin import FakePlugin  # noqa: E402

# no NAT rule: the table is sets and fixed rules only
CONF = {"version": 1, "role": "server", "local_networks": ["192.168.255.0/24"],
        "tunnel": {"pool": "100.64.0.0/10"},
        "default_client": {"allow": ["10.0.0.0/8"], "to_local": True}}


def net(i):
    return f"10.{i // 256}.{i % 256}.0/24"


def timed(change, healed, bound=30):
    change()
    t0 = time.perf_counter()
    while not healed():
        if time.perf_counter() - t0 > bound:
            raise RuntimeError("not repaired within %ss" % bound)
        time.sleep(0.002)
    return (time.perf_counter() - t0) * 1000


def has_route(node, dst):
    return bool(node.run(["ip", "route", "show", dst, "proto", "212"]).stdout.strip())


def has_element(node, dst):
    r = node.run(["nft", "list", "set", "inet", "vpcroute", "remote4"], check=False)
    return r.returncode == 0 and re.search(r"[{ ]%s[,\s}]" % re.escape(dst), r.stdout) is not None


def count_routes(node):
    return len(node.run("ip route show proto 212").stdout.splitlines())


def run(n, runs, work):
    out = {}
    with netns.Lab() as lab:
        node = tunnel_host(lab, "bench")
        agent = Agent(node, os.path.join(work, f"agent-{n}"), dict(CONF), grace=0).start()
        plugin = FakePlugin(agent.sock).connect()
        plugin.drain(0.2)
        for i in range(n):
            assert plugin.client_acked(f"c{i}", [net(i)])["ok"]
        deadline = time.time() + 60
        while count_routes(node) < n:
            assert time.time() < deadline, "clients not programmed"
            time.sleep(0.05)
        plugin.drain(0.2)
        cases = {
            "route_deleted": (lambda k: node.run(["ip", "route", "del", net(k % n)]),
                              lambda k: has_route(node, net(k % n))),
            "element_deleted": (
                lambda k: node.run(["nft", "delete", "element", "inet", "vpcroute", "remote4",
                                    "{ %s }" % net(k % n)]),
                lambda k: has_element(node, net(k % n))),
            "ruleset_flushed": (lambda k: node.run("nft flush ruleset"),
                                lambda k: has_element(node, net(k % n))),
            "device_recreated": (
                lambda k: [node.run(c) for c in (
                    "ip link del tun0", "ip link add tun0 type veth peer name tun0peer",
                    "ip link set tun0 up", "ip link set tun0peer up")],
                lambda k: count_routes(node) == n),
        }
        for name, (change, healed) in cases.items():
            t = [timed(lambda: change(k), lambda: healed(k)) for k in range(runs)]
            out[name] = {"p50_ms": round(statistics.median(t), 1), "max_ms": round(max(t), 1)}
        plugin.close()
        agent.stop()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--runs", type=int, default=10)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vr-bench-selfheal-")
    res = {"benchmark": "agent_selfheal", "cores": os.cpu_count(), "runs_per_change": a.runs,
           "measure": "change made (command returned) -> the kernel holds it all again",
           "clients": {}}
    for n in (int(x) for x in a.sizes.split(",")):
        res["clients"][str(n)] = run(n, a.runs, work)
        print(json.dumps({str(n): res["clients"][str(n)]}), file=sys.stderr, flush=True)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
