#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/sock_fairness.py: how long one peer's huge sync delays the others.

In a fresh network namespace: one scripted plugin (instance "big") streams a
sync of N clients (default 100,000, each a /32 of 10.0.0.0/8) in chunks of 64
clients as fast as the socket takes them; meanwhile a vpcroutectl-like peer
asks for the status and a second plugin (instance "small") sends connects,
one request at a time, each waiting for its ack. Prints JSON: the sync's
total time, and for the status requests and the connects the number
answered during the sync and the p50/p99/max delay between request and ack,
and the time of one status request once the sync is in place. The agent
acks a sync before all its routes are in (it installs them a bounded number
per loop pass): routes_done_s is when the kernel holds all N, and the
requests go on (and count) until then.
The worst case is the max: the longest time the agent did not answer them.

    bench/sock_fairness.py [--clients 100000]    (root; VPCROUTE_BUILDDIR picks the build)
"""
import argparse
import json
import os
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))

from vrlab import netns  # noqa: E402
from vrlab.agent import Agent, tunnel_host  # noqa: E402
from vrlab.scale import CONF, host_net, sync_peers  # noqa: E402


def wait_ack(s, ref, timeout=600):
    """The ack of request ref; None when the agent closed the connection."""
    s.settimeout(timeout)
    while True:
        try:
            data = s.recv(1 << 20)
        except ConnectionResetError:
            return None
        if not data:
            return None
        m = json.loads(data)
        if m.get("type") == "ack" and m.get("ref") == ref:
            return m


def summary(delays):
    ms = sorted(d * 1000 for d in delays)
    if not ms:
        return {"answered": 0}
    return {"answered": len(ms), "p50_ms": round(ms[len(ms) // 2], 2),
            "p99_ms": round(ms[min(len(ms) - 1, len(ms) * 99 // 100)], 2),
            "max_ms": round(ms[-1], 2)}


def run(n, work):
    with netns.Lab() as lab:
        node = tunnel_host(lab, "bench")
        agent = Agent(node, os.path.join(work, "agent"), dict(CONF), grace=0).start()
        big, small, ctl = sync_peers(agent.sock, "bench")
        wait_ack(ctl, 1)

        done = threading.Event()
        result = {}

        def stream():
            t0 = time.perf_counter()
            clients = [{"cn": f"c{i}", "networks": [host_net(i)]} for i in range(n)]
            last = None
            for i in range(0, n, 64):  # only the last chunk asks for an ack
                last = big.send({"type": "sync", "clients": clients[i:i + 64],
                                 "more": i + 64 < n}, ack=i + 64 >= n)
            result["sent_s"] = time.perf_counter() - t0
            # acks and claims arrive in order: read until the last chunk's ack
            ack = wait_ack(big.s, last)
            result["sync_s"] = time.perf_counter() - t0
            result["sync_ok"] = bool(ack and ack["ok"])
            done.set()

        th = threading.Thread(target=stream)
        status, connects, k, rid = [], [], 0, 2
        status_closed = False
        th.start()
        t_start = time.perf_counter()
        routes_done, next_check = None, 0.0

        def routes_in():
            out = node.run(["ip", "-4", "route", "show", "proto", "212"]).stdout
            return sum(1 for line in out.splitlines() if line.startswith("10."))

        while not done.is_set() or routes_done is None:
            if done.is_set() and time.perf_counter() >= next_check:
                if routes_in() >= n:
                    routes_done = time.perf_counter() - t_start
                    break
                next_check = time.perf_counter() + 0.2
            t0 = time.perf_counter()
            ctl.send(json.dumps({"v": 1, "type": "status", "id": rid}).encode())
            if not wait_ack(ctl, rid):
                status_closed = True
                break
            status.append(time.perf_counter() - t0)
            rid += 1
            t0 = time.perf_counter()
            ref = small.client(f"s{k}", [f"172.16.{k >> 8 & 255}.{k & 255}/32"])
            wait_ack(small.s, ref)
            connects.append(time.perf_counter() - t0)
            k += 1
            time.sleep(0.005)
        th.join()
        # the status alone, with the whole table in place
        t0 = time.perf_counter()
        try:
            ctl.send(json.dumps({"v": 1, "type": "status", "id": rid}).encode())
            ack = wait_ack(ctl, rid)
        except OSError:
            ack = None
        status_after = time.perf_counter() - t0
        status_after_ok = bool(ack and ack["ok"]) or (ack or {}).get("error", "connection closed")
        agent.stop()
        return {"sync_clients": n, "sync_ok": result.get("sync_ok"),
                "sync_sent_s": round(result["sent_s"], 2),
                "sync_total_s": round(result["sync_s"], 2),
                "routes_done_s": round(routes_done, 2) if routes_done is not None else None,
                "status_during_sync": dict(summary(status), closed=status_closed),
                "connect_during_sync": summary(connects),
                "status_after_sync_ms": round(status_after * 1000, 2),
                "status_after_sync_ok": status_after_ok}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=100000)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/sock_fairness.py needs root (network namespaces)")
    with tempfile.TemporaryDirectory(prefix="vr-bench-fair-") as work:
        print(json.dumps(run(args.clients, work), indent=2))


if __name__ == "__main__":
    main()
