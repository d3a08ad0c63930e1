#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/claims.py: what one change of the claims costs each plugin, at N claims.

In a fresh network namespace per run: the agent of a build, a scripted
plugin that connects N clients (one /24 each), and a watcher peer that keeps
the claims replica as the plugin does (in the newest protocol version the
build speaks). Then one more client connects, CHANGES times; the claims
messages the watcher receives for each change are recorded, and
bench/claims_decode (of the --after build) times decoding and applying them
as the plugin's link thread does. Prints JSON and a table: claims bytes and
messages per change, plugin-side decode+apply time per change, and the
agent's CPU time per change (all of it: routes and nftables included, at
10 ms resolution over the changes), for each N and each build.

    bench/claims.py --before BUILD_OF_MAIN --after .build/gcc [--sizes 1000,10000]   (root)

The "before" build is one of the tree before claims deltas (e.g. git stash;
vr_build of main), whose agent sends the whole table after every change.
"""
import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

CONF = {"version": 1, "role": "server", "local_networks": ["192.168.255.0/24"],
        "tunnel": {"pool": "100.64.0.0/10"},
        "default_client": {"allow": ["10.0.0.0/8"]}}


def net(i):
    return f"10.{i // 256}.{i % 256}.0/24"


def run_one(n, changes, work):
    """In this process, with VPCROUTE_BUILDDIR set: the files of each change."""
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))
    from vrlab import netns
    from vrlab.agent import Agent, tunnel_host
    from vrlab.fakeplugin import FakePlugin

    files = []
    with netns.Lab() as lab:
        node = tunnel_host(lab, "bench")
        agent = Agent(node, os.path.join(work, f"agent-{n}"), dict(CONF), grace=0).start()
        plugin = FakePlugin(agent.sock).connect()
        plugin.drain(0.2)
        # the newest version the agent takes: 2, else 1
        w, version = None, None
        for v in (2, 1):
            w = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            w.connect(agent.sock)
            w.send(json.dumps({"v": v, "type": "hello", "id": 1, "role": "server",
                               "pid": os.getpid(), "instance": "watch"}).encode())
            w.settimeout(5)
            a = json.loads(w.recv(1 << 17))
            if a.get("ok"):
                version = v
                break
            w.close()
            time.sleep(0.2)  # the agent forgets the instance's owner only after it closed

        def ack_all(ids):
            plugin.s.settimeout(120)
            while ids:
                m = json.loads(plugin.s.recv(1 << 17))
                if m.get("type") == "ack":
                    assert m["ok"], m
                    ids.discard(m["ref"])

        rep = {"have": set(), "part": None, "msgs": []}

        def take(data):
            m = json.loads(data)
            if m["type"] != "claims":
                return False
            rep["msgs"].append(data)
            if "base" in m:
                rep["have"] -= {c["net"] for c in m["del"]}
                rep["have"] |= {c["net"] for c in m["add"]}
            else:
                rep["part"] = (rep["part"] or set()) | {c["net"] for c in m["claims"]}
                if not m["more"]:
                    rep["have"], rep["part"] = rep["part"], None
            return not m["more"]

        def drain():
            """What the watcher has been sent so far (the agent before deltas drops
            a peer that does not read)."""
            w.setblocking(False)
            try:
                while True:
                    take(w.recv(1 << 17))
            except BlockingIOError:
                pass
            w.setblocking(True)

        def until(count):
            w.settimeout(120)
            while len(rep["have"]) != count or rep["part"] is not None:
                data = w.recv(1 << 17)
                assert data, "the agent closed the watcher"
                take(data)

        # loaded in batches that are acknowledged, as OpenVPN connects clients
        for first in range(0, n, 50):
            ack_all({plugin.client(f"c{i}", [net(i)]) for i in range(first, min(n, first + 50))})
            drain()
        until(n)

        def cpu_s():
            """The agent's CPU time (ip netns exec execs it: the same pid)."""
            f = open(f"/proc/{agent.proc.pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

        cpu0 = cpu_s()
        for k in range(changes):
            i = n + k
            rep["msgs"] = []
            ack_all({plugin.client(f"c{i}", [net(i)])})
            until(n + k + 1)
            path = os.path.join(work, f"change-{n}-{k}-v{version}")
            with open(path, "wb") as f:
                for d in rep["msgs"]:
                    f.write(struct.pack("<I", len(d)) + d)
            files.append(path)
        cpu = cpu_s() - cpu0
        plugin.close()
        w.close()
        agent.stop()
    return {"protocol_version": version, "files": files,
            "agent_cpu_ms_per_change": round(cpu * 1000 / changes, 2)}


def measure(build, after, n, changes, work):
    env = dict(os.environ, VPCROUTE_BUILDDIR=os.path.abspath(build))
    r = subprocess.run([sys.executable, __file__, "--one", str(n), "--changes", str(changes),
                        "--work", work], env=env, check=True, capture_output=True, text=True)
    one = json.loads(r.stdout)
    d = subprocess.run([os.path.join(after, "bench", "claims_decode"), str(n), *one["files"]],
                       check=True, capture_output=True, text=True)
    res = json.loads(d.stdout)
    res["protocol_version"] = one["protocol_version"]
    res["agent_cpu_ms_per_change"] = one["agent_cpu_ms_per_change"]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", help="build of the tree before claims deltas")
    ap.add_argument("--after", default=os.path.join(HERE, "..", ".build", "gcc"))
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one is not None:
        print(json.dumps(run_one(a.one, a.changes, a.work)))
        return
    subprocess.run(["make", "-s", "-C", a.after, "bench/claims_decode"], check=True)
    builds = {"before": a.before, "after": a.after} if a.before else {"after": a.after}
    work = tempfile.mkdtemp(prefix="vr-bench-claims-")
    res = {"benchmark": "claims_per_change", "cores": os.cpu_count(),
           "measure": "claims messages a plugin receives for one more connect; "
                      "plugin-side proto_decode + replica update (bench/claims_decode)",
           "runs": {}}
    for n in (int(x) for x in a.sizes.split(",")):
        res["runs"][str(n)] = {k: measure(b, a.after, n, a.changes, work)
                               for k, b in builds.items()}
        print(json.dumps({str(n): res["runs"][str(n)]}), file=sys.stderr, flush=True)
    print(json.dumps(res, indent=2))
    print(f"{'claims':>8} {'build':>7} {'v':>2} {'bytes/change':>13} {'decode us/change':>17} "
          f"{'agent cpu ms/change':>20}")
    for n, r in res["runs"].items():
        for k, x in r.items():
            print(f"{n:>8} {k:>7} {x['protocol_version']:>2} {x['bytes_per_change_mean']:>13} "
                  f"{x['decode_apply_us_per_change_p50']:>17} {x['agent_cpu_ms_per_change']:>20}")


if __name__ == "__main__":
    main()
