#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/dns_follow.py: how long the forward filter takes to follow a host name.

In a fresh lab (tests/lab/vrlab/dnslab.py: dnsmasq in its own namespace, a
TTL of --ttl seconds, the agent with dns.min_ttl_s 1), a to_local rule names
svc.vr.test; R times, the name is moved from one address to the other and the
time until the agent's allow set holds the new address and not the old one is
measured (polled every 5 ms). The agent looks the name up again when the TTL
of its last answer runs out, so a move waits between 0 and the TTL for the
next lookup, plus the lookup and one nftables transaction. Prints JSON: the
TTL, min, p50 and max in ms, and the lookups the agent made.

    bench/dns_follow.py [--runs 10] [--ttl 1]   (root)
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))

from vrlab import dnslab, netns  # noqa: E402
from vrlab.agent import Agent  # noqa: E402
from vrlab.build import built  # noqa: E402
from vrlab.fakeplugin import FakePlugin  # noqa: E402

ADDRS = ("10.0.0.11", "10.0.0.12")


def conf(ttl):
    return {"version": 1, "role": "server", "local_networks": ["10.0.0.0/24"],
            "tunnel": {"pool": "100.64.0.0/16"}, "strict": True,
            "clients": {"pi-home": {"iroutes": ["192.168.1.0/24"], "address": "100.64.0.10",
                                    "to_local": [{"to": "svc.vr.test", "proto": "tcp",
                                                  "ports": [80]}]}},
            "dns": {"servers": ["10.0.0.53"], "min_ttl_s": 1, "max_ttl_s": max(ttl, 1)}}


def allowed(node):
    r = node.run(["nft", "list", "set", "inet", "vpcroute", "ports4"], check=False)
    return r.stdout if r.returncode == 0 else ""


def lookups(agent):
    r = subprocess.run([built("agent/vpcroutectl"), "-s", agent.sock, "metrics"],
                       capture_output=True, text=True, timeout=20)
    for line in r.stdout.splitlines():
        if line.startswith('vpcroute_dns_lookups_total{result="ok"}'):
            return int(float(line.split()[-1]))
    return 0


def run(runs, ttl):
    work = tempfile.mkdtemp(prefix="vr-bench-dns-")
    with netns.Lab() as lab:
        gw, home, hosts = dnslab.build(lab)
        dns = dnslab.Dns(hosts["dns"], work, "10.0.0.53", ttl)
        dns.records([(ADDRS[0], "svc.vr.test")])
        dns.start()
        agent = Agent(gw, os.path.join(work, "agent"), conf(ttl), grace=0).start()
        plugin = FakePlugin(agent.sock).connect(dev="tun0")
        assert plugin.client_acked("pi-home", ["192.168.1.0/24"], "100.64.0.10")["ok"]
        deadline = time.time() + 10
        while ADDRS[0] not in allowed(gw):
            if time.time() > deadline:
                raise RuntimeError("the first lookup did not reach the set")
            time.sleep(0.01)
        out = []
        for i in range(runs):
            new, old = ADDRS[(i + 1) % 2], ADDRS[i % 2]
            dns.records([(new, "svc.vr.test")])
            t0 = time.perf_counter()
            while True:
                s = allowed(gw)
                if new in s and old not in s:
                    break
                if time.perf_counter() - t0 > ttl + 10:
                    raise RuntimeError("the filter did not follow within the TTL + 10 s")
                time.sleep(0.005)
            out.append((time.perf_counter() - t0) * 1000)
        n = lookups(agent)
        plugin.close()
        agent.stop()
        dns.stop()
    shutil.rmtree(work, ignore_errors=True)
    return {"ttl_s": ttl, "runs": runs, "follow_ms": {
        "min": round(min(out), 1), "p50": round(statistics.median(out), 1),
        "max": round(max(out), 1)}, "lookups_ok": n}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--ttl", type=int, default=1)
    a = ap.parse_args()
    print(json.dumps(run(a.runs, a.ttl), indent=2))


if __name__ == "__main__":
    main()
