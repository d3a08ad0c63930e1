#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/aws.py: what the AWS side of vpcroute-agent costs, against the emulators.

The agent runs in a fresh network namespace with moto (EC2) behind the lab's
recording proxy and amazon-ec2-metadata-mock (IMDSv2), both on loopback.
Measured, and printed as JSON:
- start: from the agent's start to the source/dest check off and the route
  tables read, and the EC2 calls that took;
- burst: N clients connect at once (each with its own /24); the time until
  every route is in both route tables (the subnet's and the main one), the
  mutating calls made and the rate achieved, against the configured budget
  (aws.max_calls_per_s) and the lower bound calls/budget;
- churn: one client disconnects and reconnects inside the withdrawal grace
  period, and the mutating calls that cost (the comparison: 0);
- kernel acks: connect-to-ack latency of M further clients with the EC2 API
  answering nothing but RequestLimitExceeded, against the same with EC2
  healthy;
- converge (issue 13): N client networks (default 100) connect at once to a
  fresh agent and VPC (two route tables, EC2's quota of 50 routes per table
  played by the lab's strict layer): the EC2 calls and the time until the
  agent has nothing left to ask, a route per network (budget burst 1, as
  before aws.max_calls_burst, and the default burst) against aws.summaries
  (one prefix holding them all); with --before BUILD also the build BUILD
  (without summaries, burst or quota) in the same run. Mutating calls per
  changed table entry (target: at most 1), wasted calls (refused, faulted or
  repeated; target: 0), routes per table, networks the quota leaves out.

    bench/aws.py [--clients 20] [--budget 2] [--acks 50] [--converge 100]
                 [--only converge] [--before BUILD]        (root, after a build)

Prints JSON on stdout; the converge comparison also as a table on stderr.
"""
import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))

import vrlab.build  # noqa: E402
from vrlab import netns  # noqa: E402
from vrlab.agent import Agent, tunnel_host  # noqa: E402
from vrlab.ec2proxy import Ec2Proxy  # noqa: E402
from vrlab.emulators import AwsWorld  # noqa: E402
from vrlab.fakeplugin import FakePlugin  # noqa: E402
from vrlab.nsport import Relay  # noqa: E402

POOL = "100.64.0.0/16"


def ours(world, rtb):
    t = world.ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]
    return {r.get("DestinationCidrBlock") for r in t["Routes"]
            if r.get("NetworkInterfaceId") == world.eni_id}


def main_rtb(world):
    t = world.ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [world.vpc_id]},
                 {"Name": "association.main", "Values": ["true"]}])
    return t["RouteTables"][0]["RouteTableId"]


def wait(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError("not within %ss" % timeout)


def acks(plugin, first, n):
    """Connect-to-ack latency (ms) of n clients, one after the other."""
    out = []
    for i in range(first, first + n):
        t0 = time.monotonic()
        rid = plugin.client(f"ack{i}", [f"10.{100 + i // 256}.{i % 256}.0/24"],
                            t4=f"100.64.{100 + i // 256}.{i % 256}")
        plugin.s.settimeout(10)
        while True:  # until its ack; claims broadcasts come in between
            m = json.loads(plugin.s.recv(65536))
            if m.get("type") == "ack" and m.get("ref") == rid:
                break
        out.append((time.monotonic() - t0) * 1000)
    return out


def pct(v, p):
    v = sorted(v)
    return round(v[min(len(v) - 1, int(len(v) * p / 100))], 3)


def run(args):
    res = {"clients": args.clients, "budget_calls_per_s": args.budget}
    work = tempfile.mkdtemp(prefix="vr-bench-aws-")
    world = AwsWorld(work)
    proxy = Ec2Proxy(world.moto.url, work)
    main = main_rtb(world)
    try:
        with netns.Lab() as lab:
            host = tunnel_host(lab)
            r1 = Relay(host, proxy.port)
            r2 = Relay(host, world.imds.port)
            conf = {"version": 1, "role": "server", "local_networks": "auto",
                    "tunnel": {"pool": POOL},
                    "default_client": {"allow": ["10.0.0.0/8", "172.16.0.0/12"]},
                    "aws": {"withdraw_grace_s": 30, "max_calls_per_s": args.budget}}
            agent = Agent(host, f"{work}/agent", conf,
                          env={"AWS_ENDPOINT_URL_EC2": r1.url,
                               "AWS_EC2_METADATA_SERVICE_ENDPOINT": r2.url})
            t0 = time.monotonic()
            agent.start()
            agent.wait_log(r"route tables described", timeout=30)
            res["start"] = {"to_ready_s": round(time.monotonic() - t0, 3),
                            "calls": [c.action for c in proxy.calls]}
            wait(lambda: POOL in ours(world, world.rtb_id) and POOL in ours(world, main), 30)
            plugin = FakePlugin(agent.sock).connect()
            plugin.drain()

            # burst
            nets = [f"172.16.{i}.0/24" for i in range(args.clients)]
            t1 = time.monotonic()
            since = t1
            for i, n in enumerate(nets):
                plugin.client(f"site{i}", [n], t4=f"100.64.1.{i + 2}")
            done = wait(lambda: set(nets) <= ours(world, world.rtb_id)
                        and set(nets) <= ours(world, main), 300)
            calls = [c for c in proxy.calls if c.mutating and c.time >= since]
            span = done - t1
            res["burst"] = {
                "to_all_routes_s": round(span, 3),
                "mutating_calls": len(calls),
                "achieved_calls_per_s": round(len(calls) / span, 2),
                "lower_bound_s": round((len(calls) - max(1, args.budget)) / args.budget, 2),
            }
            plugin.drain()

            # churn inside the grace period
            since = time.monotonic()
            plugin.send({"type": "disconnect", "cn": "site0"})
            time.sleep(1)
            plugin.client("site0", [nets[0]], t4="100.64.1.2")
            time.sleep(3)
            res["churn"] = {"mutating_calls": sum(1 for c in proxy.calls
                                                  if c.mutating and c.time >= since),
                            "comparison": 0}
            plugin.drain()

            # kernel acks, EC2 healthy vs throttling everything
            healthy = acks(plugin, 0, args.acks)
            proxy.set_fault("throttle")
            throttled = acks(plugin, args.acks, args.acks)
            proxy.clear_fault()
            res["kernel_ack_ms"] = {
                "ec2_healthy": {"p50": pct(healthy, 50), "p99": pct(healthy, 99),
                                "mean": round(statistics.mean(healthy), 3)},
                "ec2_throttling": {"p50": pct(throttled, 50), "p99": pct(throttled, 99),
                                   "mean": round(statistics.mean(throttled), 3)},
            }
            plugin.close()
            agent.stop()
            r1.stop()
            r2.stop()
    finally:
        proxy.stop()
        world.stop()
    return res


def ctl_status(sock):
    r = subprocess.run([vrlab.build.built("agent/vpcroutectl"), "-s", sock, "status", "--json"],
                       capture_output=True, text=True, timeout=30)
    return json.loads(r.stdout)["aws"] if r.returncode == 0 else None


def settled(sock):
    """The agent's AWS side has nothing left to ask, and nothing in flight."""
    st = ctl_status(sock)
    return st if st and not st["pending_calls"] and not st["in_flight"] else None


def converge(n, budget, burst, summaries, build=None):
    """n client networks at once into a fresh VPC (two route tables): what
    the agent asks EC2 until it has nothing left to ask."""
    before = vrlab.build.BUILD
    if build:
        vrlab.build.BUILD = os.path.abspath(build)
    work = tempfile.mkdtemp(prefix="vr-bench-aws-converge-")
    world = AwsWorld(work)
    proxy = Ec2Proxy(world.moto.url, work, credentials=world.credentials)
    main = main_rtb(world)
    tables = (world.rtb_id, main)
    aws = {"withdraw_grace_s": 30, "drift_check_s": 3600, "max_calls_per_s": budget}
    if burst is not None:
        aws["max_calls_burst"] = burst
    if summaries:
        aws["summaries"] = ["172.16.0.0/16"]
    try:
        with netns.Lab() as lab:
            host = tunnel_host(lab)
            r1 = Relay(host, proxy.port)
            r2 = Relay(host, world.imds.port)
            conf = {"version": 1, "role": "server", "local_networks": "auto",
                    "tunnel": {"pool": POOL},
                    "default_client": {"allow": ["172.16.0.0/12"]}, "aws": aws}
            agent = Agent(host, f"{work}/agent", conf,
                          env={"AWS_ENDPOINT_URL_EC2": r1.url,
                               "AWS_EC2_METADATA_SERVICE_ENDPOINT": r2.url})
            agent.start()
            # started: the source/dest check off, the pool in both tables
            wait(lambda: all(POOL in ours(world, t) for t in tables), 60)
            wait(lambda: settled(agent.sock), 60)
            start = {t: ours(world, t) for t in tables}
            plugin = FakePlugin(agent.sock).connect()
            plugin.drain()
            nets = [f"172.16.{i}.0/24" for i in range(n)]
            t1 = time.monotonic()
            for i, net in enumerate(nets):
                plugin.client(f"site{i}", [net], t4=f"100.64.{1 + i // 250}.{2 + i % 250}")
            time.sleep(0.5)
            st = wait(lambda: settled(agent.sock), 600) and settled(agent.sock)
            calls = [c for c in proxy.calls if c.mutating and c.time >= t1]
            end = {t: ours(world, t) for t in tables}
            changed = sum(len(end[t] ^ start[t]) for t in tables)
            ok = [c for c in calls if c.status == 200 and not c.faulted]
            seen = collections.Counter((c.action, c.params.get("RouteTableId"),
                                        c.params.get("DestinationCidrBlock")) for c in ok)
            refused = collections.Counter(c.strict or str(c.status) for c in calls
                                          if c not in ok)
            over = sum(1 for t in (st or {}).get("route_tables", [])
                       for r in t["routes"] if r["state"] == "over quota")
            span = (max(c.time for c in calls) - t1) if calls else 0.0
            kernel = sum(1 for r in agent.routes() if r in nets)
            plugin.close()
            agent.stop()
            r1.stop()
            r2.stop()
    finally:
        proxy.stop()
        world.stop()
        vrlab.build.BUILD = before
    return {
        "networks": n, "budget_calls_per_s": budget, "burst": burst,
        "summaries": aws.get("summaries", []),
        "to_converged_s": round(span, 3),
        "mutating_calls": len(calls),
        "refused_calls": dict(refused),
        "wasted_calls": len(calls) - len(ok) + sum(v - 1 for v in seen.values()),
        "table_entries_changed": changed,
        "calls_per_changed_entry": round(len(calls) / changed, 3) if changed else None,
        "routes_to_us_per_table": {"subnet": len(end[world.rtb_id]), "main": len(end[main])},
        "left_out_by_quota": over,
        "kernel_routes": kernel,
    }


def converge_all(args):
    modes = []
    if args.before:
        modes.append(("before (" + args.before + "): a route per network", None, False,
                      args.before))
    modes += [("a route per network, burst 1", 1, False, None),
              ("a route per network, burst 10 (default)", 10, False, None),
              ("aws.summaries 172.16.0.0/16, burst 10", 10, True, None)]
    out = {}
    for name, burst, summ, build in modes:
        out[name] = converge(args.converge, args.budget, burst, summ, build)
        print(json.dumps({name: out[name]}), file=sys.stderr, flush=True)
    hdr = ("mode", "calls", "wasted", "calls/entry", "routes per table", "left out",
           "converged")
    rows = [(k, str(v["mutating_calls"]), str(v["wasted_calls"]),
             str(v["calls_per_changed_entry"]),
             "/".join(str(x) for x in v["routes_to_us_per_table"].values()),
             str(v["left_out_by_quota"]), f'{v["to_converged_s"]} s') for k, v in out.items()]
    w = [max(len(r[i]) for r in rows + [hdr]) for i in range(len(hdr))]
    print(f"{args.converge} client networks at once, 2 route tables, "
          f"{args.budget} calls/s:", file=sys.stderr)
    for r in [hdr] + rows:
        print("  " + "  ".join(c.ljust(w[i]) for i, c in enumerate(r)), file=sys.stderr)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--budget", type=float, default=2.0)
    ap.add_argument("--acks", type=int, default=50)
    ap.add_argument("--converge", type=int, default=100, help="client networks (at most 250)")
    ap.add_argument("--only", choices=["converge"])
    ap.add_argument("--before", metavar="BUILD",
                    help="also converge with the agent of this build directory")
    args = ap.parse_args()
    res = {} if args.only else run(args)
    res["converge"] = converge_all(args)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
