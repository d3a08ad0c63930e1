#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/forward.py: packets per second forwarded through the agent's
namespace with no rules and with the agent's table holding N clients.

Three network namespaces: src -- tun0 [fwd] eth0 -- dst. In fwd runs the
agent (vrlab/scale.py's configuration: local network 192.168.255.0/24,
every client allowed to it), with N clients of one host each (10.x.y.z/32,
a sync from a scripted plugin): N routes via tun0 and the table as the
agent programs it (remote_host4 a hash set, allow4 the concatenated
interval set, the forward and NAT chains). bench/fwd_blast in src writes
64-byte UDP frames into tun0 from the N client addresses in turn (one
flow each), to 192.168.255.9 behind eth0 (a permanent neighbour entry; dst
drops them). Counted: fwd's eth0 transmitted packets over a window after
a warm-up, and per CPU second of the sender over its whole run: with
veth the forwarding host's work runs in the sender's softirqs and is
charged to it, so the per-CPU figure is the cost of a packet even when
other work shares the cores (the wall-clock kpps move with the load).

  with_table      the agent running, its table loaded with N clients
  allow4_as_hash  the same, the agent stopped (SIGSTOP) and the forward
                  chain's allow4 rule (the concatenated set: src . dst .
                  protocol, pipapo) replaced by "ip saddr @remote_host4
                  ip daddr @local4 accept" (two hash/interval lookups; the
                  same verdicts here, where every client may reach every
                  local network): what the allow4 lookup costs
  conntrack_only  the agent killed (-9), its table deleted, a table of one
                  forward rule "ct state established,related accept":
                  what connection tracking costs (the agent's NAT chains
                  and its first rule need it)
  no_rules        no nftables table at all (no conntrack): the same N routes

All alternate, ROUNDS times (the agent restarted and resynced each
round), so that each round's ratios compare figures taken within seconds
of each other on a machine whose load moves; the figures are the medians,
the ratios the medians of the rounds' ratios. The frames are one-way UDP:
every one is "new" to conntrack, so every one runs the forward chain's set
lookups (an established connection's packets stop at the chain's first
rule): the worst case per packet.

    bench/forward.py [--clients 50000] [--rounds 3] [--seconds 3]   (root)

Prints JSON, then a table with the ratios to no_rules.
"""
import argparse
import importlib.machinery
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(TOP, "tests", "lab"))

from vrlab import netns  # noqa: E402
from vrlab.ctlconn import CtlConn  # noqa: E402
from vrlab.fakeplugin import FakePlugin  # noqa: E402
from vrlab.scale import host_net  # noqa: E402

# bench/scale (no .py): its agent with N clients loaded, acks, settled
scale = importlib.machinery.SourceFileLoader("scale", os.path.join(HERE, "scale")).load_module()

DST = "192.168.255.9"
WARMUP = 1.0


def counter(node, dev, what="tx_packets"):
    return int(node.run(["cat", f"/sys/class/net/{dev}/statistics/{what}"]).stdout)


def blast(blaster, src, fwd, dst_mac, flows, seconds):
    """kpps forwarded (fwd's eth0 transmitted) over `seconds` after a warm-up,
    and per CPU second of the sender (which runs the forwarding too)."""
    mac = fwd.run(["cat", "/sys/class/net/tun0/address"]).stdout.strip()
    start = counter(fwd, "eth0")
    p = subprocess.Popen(src.argv([blaster, "tun0peer", mac, DST, str(flows),
                                   str(WARMUP + seconds + 0.5)]),
                         stdout=subprocess.PIPE, text=True)
    time.sleep(WARMUP)
    t0, c0 = time.perf_counter(), counter(fwd, "eth0")
    time.sleep(seconds)
    t1, c1 = time.perf_counter(), counter(fwd, "eth0")
    out, _ = p.communicate(timeout=60)
    if p.returncode:
        raise RuntimeError(f"fwd_blast exited {p.returncode}")
    sent = json.loads(out)
    end = counter(fwd, "eth0")
    return {"kpps": round((c1 - c0) / (t1 - t0) / 1000, 1),
            "kpps_per_cpu": round((end - start) / sent["cpu_s"] / 1000, 1),
            "sent_kpps": round(sent["sent"] / sent["seconds"] / 1000, 1),
            "forwarded_of_sent": round((end - start) / max(sent["sent"], 1), 3)}


VARIANTS = ("with_table", "allow4_as_hash", "conntrack_only", "no_rules")
CT_ONLY = """table inet vrbench {
	chain forward {
		type filter hook forward priority filter; policy accept;
		ct state established,related accept
	}
}
"""


def allow4_as_hash(fwd):
    """The forward chain's allow4 rule replaced by hash and interval lookups."""
    out = fwd.run(["nft", "-a", "list", "chain", "inet", "vpcroute", "forward"]).stdout
    m = re.search(r"@allow4 accept # handle (\d+)", out)
    fwd.run(["nft", "replace", "rule", "inet", "vpcroute", "forward", "handle", m.group(1),
             "ip", "saddr", "@remote_host4", "ip", "daddr", "@local4", "accept"])


def restart(agent, n):
    """The agent started again, its plugin's sync of n clients acknowledged
    and the kernel matching (bench/scale's resync)."""
    agent.grace = 10
    agent.start()
    plugin = FakePlugin(agent.sock)
    plugin.table = {f"c{i}": {"cn": f"c{i}", "networks": [host_net(i)]} for i in range(n)}
    plugin.connect()
    plugin.s.settimeout(600)
    scale.acks(plugin.s, [plugin.next_id - 1])
    ctl = CtlConn(agent.sock)
    ctl.s.settimeout(600)
    scale.settled(ctl)
    return plugin, ctl


def run(a):
    build = os.environ.get("VPCROUTE_BUILDDIR", os.path.join(TOP, ".build", "gcc"))
    subprocess.run(["make", "-s", "-C", build, "bench/fwd_blast"], check=True)
    blaster = os.path.join(build, "bench", "fwd_blast")
    work = tempfile.mkdtemp(prefix="vr-bench-forward-")
    res = {k: [] for k in VARIANTS}
    with netns.Lab() as lab:
        agent, plugin, ctl = scale.loaded(lab, work, a.clients)
        fwd = agent.node
        src, dst = lab.node("src"), lab.node("dst")
        fwd.run(f"ip link set tun0peer netns {src.ns}")
        fwd.run(f"ip link set eth0peer netns {dst.ns}")
        src.run("ip link set tun0peer up")
        dst.run("ip link set eth0peer up")
        for k in ("all", "default", "tun0"):
            fwd.sysctl(f"net.ipv4.conf.{k}.rp_filter", 0)
        fwd.sysctl("net.ipv4.ip_forward", 1)
        fwd.run("ip addr add 192.168.255.1/24 dev eth0")
        dst_mac = dst.run(["cat", "/sys/class/net/eth0peer/address"]).stdout.strip()
        fwd.run(f"ip neigh replace {DST} lladdr {dst_mac} dev eth0 nud permanent")
        sets = None
        for r in range(a.rounds):
            got = {"with_table": blast(blaster, src, fwd, dst_mac, a.clients, a.seconds)}
            sets = {s: len(agent.set_elements(s) or []) for s in ("remote_host4", "allow4")}
            routes = len(agent.routes())
            agent.send_signal(signal.SIGSTOP)  # it would put its rule back
            allow4_as_hash(fwd)
            got["allow4_as_hash"] = blast(blaster, src, fwd, dst_mac, a.clients, a.seconds)
            agent.send_signal(signal.SIGCONT)
            agent.kill9()
            plugin.close()
            ctl.close()
            fwd.run(["nft", "delete", "table", "inet", "vpcroute"])
            fwd.run(["nft", "-f", "-"], input=CT_ONLY)
            got["conntrack_only"] = blast(blaster, src, fwd, dst_mac, a.clients, a.seconds)
            fwd.run(["nft", "delete", "table", "inet", "vrbench"])
            assert len(agent.routes()) == routes == a.clients, routes
            got["no_rules"] = blast(blaster, src, fwd, dst_mac, a.clients, a.seconds)
            print(json.dumps({"round": r, **got}), file=sys.stderr, flush=True)
            for k in VARIANTS:
                res[k].append(got[k])
            if r + 1 < a.rounds:
                plugin, ctl = restart(agent, a.clients)
    out = {"benchmark": "forward", "cores": os.cpu_count(), "kernel": os.uname().release,
           "load_avg": os.getloadavg()[0], "clients": a.clients, "rounds": a.rounds,
           "seconds": a.seconds, "frame_bytes": 64, "flows": a.clients, "sets": sets}
    for k in VARIANTS:
        out[k] = {q: statistics.median(x[q] for x in res[k])
                  for q in ("kpps", "kpps_per_cpu", "sent_kpps", "forwarded_of_sent")}
        out[k]["runs_kpps_per_cpu"] = [x["kpps_per_cpu"] for x in res[k]]
        for q in ("kpps", "kpps_per_cpu"):
            out[k][q.replace("kpps", "ratio")] = round(statistics.median(
                x[q] / n[q] for x, n in zip(res[k], res["no_rules"])), 3)
    out["ratio"] = out["with_table"]["ratio_per_cpu"]
    return out


def table(o):
    names = {"no_rules": "no rules (routes only)",
             "conntrack_only": "connection tracking only",
             "allow4_as_hash": "agent's table, allow4 as hash lookups",
             "with_table": f"agent's table, {o['clients']:,} clients"}
    print(f"{'forwarded, 64-byte UDP, ' + format(o['clients'], ',') + ' flows':<40} "
          f"{'kpps':>7} {'/ none':>7} {'kpps/cpu':>9} {'/ none':>7}  runs (kpps per CPU second)")
    for k in ("no_rules", "conntrack_only", "allow4_as_hash", "with_table"):
        r = o[k]
        print(f"{names[k]:<40} {r['kpps']:>7g} {r['ratio']:>7g} {r['kpps_per_cpu']:>9g} "
              f"{r['ratio_per_cpu']:>7g}  {', '.join(map(str, r['runs_kpps_per_cpu']))}")
    print(f"with_table / no_rules: {o['ratio']:g} per CPU second (target >= 0.9; medians of "
          f"the rounds' ratios; load average {o['load_avg']:.1f} on {o['cores']} cores)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3)
    o = run(ap.parse_args())
    print(json.dumps(o, indent=2))
    table(o)


if __name__ == "__main__":
    main()
