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
a warm-up, on one core (the sender's: veth forwards in its softirq).

  with_table  the agent running, its table loaded with N clients
  no_rules    the agent killed (-9) and its table deleted: the same N
              routes, no nftables table (no conntrack either)

The two alternate, ROUNDS times (the agent restarted and resynced for
each with_table); the figures are the medians. The frames are one-way
UDP: every one is "new" to conntrack, so every one runs the forward
chain's set lookups (an established connection's packets stop at the
chain's first rule): the worst case per packet.

    bench/forward.py [--clients 50000] [--rounds 3] [--seconds 3]   (root)

Prints JSON, then a table with the ratio with_table / no_rules.
"""
import argparse
import importlib.machinery
import json
import os
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
    """kpps forwarded (fwd's eth0 transmitted) over `seconds` after a warm-up."""
    mac = fwd.run(["cat", "/sys/class/net/tun0/address"]).stdout.strip()
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
    return {"kpps": round((c1 - c0) / (t1 - t0) / 1000, 1),
            "sent_kpps": round(sent["sent"] / sent["seconds"] / 1000, 1)}


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
    res = {"with_table": [], "no_rules": []}
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
        tables = {"with_table": None}
        for r in range(a.rounds):
            res["with_table"].append(blast(blaster, src, fwd, dst_mac, a.clients, a.seconds))
            tables["with_table"] = {s: len(agent.set_elements(s) or [])
                                    for s in ("remote_host4", "allow4")}
            routes = len(agent.routes())
            agent.kill9()
            plugin.close()
            ctl.close()
            fwd.run(["nft", "delete", "table", "inet", "vpcroute"])
            assert len(agent.routes()) == routes == a.clients, routes
            res["no_rules"].append(blast(blaster, src, fwd, dst_mac, a.clients, a.seconds))
            print(json.dumps({"round": r, "with_table": res["with_table"][-1],
                              "no_rules": res["no_rules"][-1]}), file=sys.stderr, flush=True)
            if r + 1 < a.rounds:
                plugin, ctl = restart(agent, a.clients)
        agent.stop()
    out = {"benchmark": "forward", "cores": os.cpu_count(), "kernel": os.uname().release,
           "clients": a.clients, "rounds": a.rounds, "seconds": a.seconds,
           "frame_bytes": 64, "flows": a.clients, "sets": tables["with_table"]}
    for k in ("no_rules", "with_table"):
        out[k] = {"kpps": statistics.median(x["kpps"] for x in res[k]),
                  "runs_kpps": [x["kpps"] for x in res[k]],
                  "sent_kpps": statistics.median(x["sent_kpps"] for x in res[k])}
    out["ratio"] = round(out["with_table"]["kpps"] / out["no_rules"]["kpps"], 3)
    return out


def table(o):
    print(f"{'forwarded, 64-byte UDP, ' + format(o['clients'], ',') + ' flows':<48} "
          f"{'kpps':>8} {'runs':>24}")
    for k, name in (("no_rules", "no rules (routes only)"),
                    ("with_table", f"agent's table, {o['clients']:,} clients")):
        print(f"{name:<48} {o[k]['kpps']:>8g} {', '.join(map(str, o[k]['runs_kpps'])):>24}")
    print(f"{'with_table / no_rules (target >= 0.9)':<48} {o['ratio']:>8g}")


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
