# SPDX-License-Identifier: GPL-2.0-or-later
"""offload, the flowtable fast path, on a kernel that has flowtables (the
IPsec VM's Debian 6.1: scripts/ipsec-vm runs every test_ipsec_vm*.py;
elsewhere, without CONFIG_NF_FLOW_TABLE, it skips and
test_agent_offload.py tests the fallback). One bring-up:

    src 172.16.1.10 ── tun0 [fwd: agent, "offload": {"devices": ["eth0"]}] eth0 ── dst
        (client c1)    10.8.0.1                              10.1.1.2      10.1.1.10,
                                                                           203.0.113.10

tun0 is a veth (as bench/forward.py's), its device named by a FakePlugin.
In order: (a) the flowtable (fastpath) hooks tun0 and eth0, and a UDP request/answer
flow between the client and dst becomes [OFFLOAD] in conntrack and keeps
answering; (b) tun0 deleted and made again: the agent hooks it again and
the flow is offloaded again; (c) a masqueraded flow (nat.masquerade toward
203.0.113.10, off the local networks) is offloaded and dst sees the
translated source; (d) a foreign forward chain (another table, priority
1000) that drops a flow's answers: that flow is never offloaded (the
agent's chain runs last) and the answers never arrive; (e) the client
disconnects: its route goes, the offloaded flow's route check fails, and
its packets no longer reach dst (fwd's rp_filter drops what the slow path
cannot route back: the fast path would have carried them on).
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from vrlab.agent import Agent
from vrlab.fakeplugin import FakePlugin
from vrlab.waiting import wait_for

SLOW = 300  # seconds: software emulation is ~10x slower than the host


def flowtables_available():
    """True when this kernel takes a flowtable (probed in a namespace of its own)."""
    ns = f"vr-ft-probe-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1"],
                       check=True)
        return subprocess.run(
            ["ip", "netns", "exec", ns, "nft", "-f", "-"], capture_output=True, timeout=SLOW,
            input=b"table inet p {\n\tflowtable f {\n\t\thook ingress priority 0\n"
                  b"\t\tdevices = { d0 }\n\t}\n}\n").returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", ns])


pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(not flowtables_available(),
                                 reason="this kernel has no flowtables (CONFIG_NF_FLOW_TABLE)")]

CLIENT, NET, T4 = "172.16.1.10", "172.16.1.10/32", "10.8.0.10"
DST, INTERNET = "10.1.1.10", "203.0.113.10"
CONF = {"version": 1, "role": "server", "local_networks": ["10.1.1.0/24"],
        "tunnel": {"pool": "10.8.0.0/24"}, "strict": True,
        "clients": {"c1": {"allow": [NET], "iroutes": [NET], "address": T4,
                           "to_local": True, "from_local": False}},
        "nat": {"masquerade": [{"sources": ["172.16.1.0/24"], "out_interface": "eth0"}]},
        "offload": {"devices": ["eth0"]},
        "kernel_check_s": 5}

# dst: a UDP echo on each ADDRESS:PORT given (one socket each, so that it
# answers from the address it was asked on) that answers with the address
# and port it saw, and appends them to a log (what reached dst)
ECHO = r"""
import socket, sys, threading
def echo(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        d, a = s.recvfrom(100)
        with open(sys.argv[1], "a") as f:
            f.write(f"{a[0]}:{a[1]}>{port}\n")
        s.sendto(f"{a[0]}:{a[1]}".encode(), a)
for x in sys.argv[2:]:
    addr, port = x.split(":")
    threading.Thread(target=echo, args=(addr, int(port)), daemon=True).start()
threading.Event().wait()
"""


def exchange(src, dst, port, sport, count=3):
    """count request/answer pairs from CLIENT:sport to dst:port, always the
    same 5-tuple (one conntrack entry): the answers (what dst saw)."""
    code = ("import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(({CLIENT!r}, {sport})); s.settimeout(3)\n"
            f"for _ in range({count}):\n"
            f"    s.sendto(b'x', ({dst!r}, {port}))\n"
            "    try:\n"
            "        print(s.recv(100).decode())\n"
            "    except OSError:\n"
            "        print('-')\n")
    out = src.run(["python3", "-c", code], timeout=SLOW).stdout.split()
    return [x for x in out if x != "-"]


def conntrack(fwd, port, sport):
    """The conntrack line of that flow (empty when there is none)."""
    lines = fwd.run(["cat", "/proc/net/nf_conntrack"]).stdout.splitlines()
    return next((x for x in lines if f"sport={sport} dport={port} " in x), "")


def offloaded(fwd, src, dst, port, sport):
    """Keeps the flow going until conntrack shows it [OFFLOAD]: its line."""
    def go():
        assert exchange(src, dst, port, sport, 2), "no answer"
        line = conntrack(fwd, port, sport)
        return line if "[OFFLOAD]" in line else None
    return wait_for(f"flow {sport}->{dst}:{port} offloaded", go, timeout=SLOW, interval=1)


def hooked(fwd):
    """The devices flowtable inet vpcroute fastpath hooks, as nft lists them."""
    r = fwd.run(["nft", "list", "flowtable", "inet", "vpcroute", "fastpath"], check=False)
    m = re.search(r"devices = \{ ([^}]*) \}", r.stdout) if r.returncode == 0 else None
    return {d.strip() for d in m.group(1).split(",")} if m else set()


def wire_tun0(fwd, src):
    """The veth tun0 (fwd) <-> eth0 (src), with its addresses and src's routes."""
    fwd.lab.link(fwd, "tun0", src, "eth0")
    fwd.ip("addr add 10.8.0.1/24 dev tun0")
    src.ip("addr add 10.8.0.2/24 dev eth0")
    src.ip(f"addr add {CLIENT}/32 dev eth0")
    src.ip("route add default via 10.8.0.1")


@pytest.fixture
def net(lab):
    fwd, src, dst = lab.node("fwd"), lab.node("src"), lab.node("dst")
    wire_tun0(fwd, src)
    lab.link(fwd, "eth0", dst, "eth0")
    fwd.ip("addr add 10.1.1.2/24 dev eth0")
    dst.ip(f"addr add {DST}/24 dev eth0")
    dst.ip(f"addr add {INTERNET}/32 dev eth0")
    dst.ip("route add default via 10.1.1.2")
    fwd.ip(f"route add {INTERNET}/32 via {DST}")
    fwd.sysctl("net.ipv4.ip_forward", 1)
    # loose reverse-path filter: a packet from an address fwd has no route
    # back to (the client, once its route is withdrawn) is dropped on the
    # slow path
    for k in ("all", "default", "tun0", "eth0"):
        fwd.sysctl(f"net.ipv4.conf.{k}.rp_filter", 2)
    work = tempfile.mkdtemp(prefix="vr-offload-")
    dst.popen(["python3", "-c", ECHO, os.path.join(work, "seen"), f"{DST}:5000", f"{DST}:5001",
               f"{INTERNET}:5000"])
    agent = Agent(fwd, os.path.join(work, "agent"), CONF, grace=0)
    agent.start(wait=False)
    agent.wait_log(r"listening on ", timeout=SLOW)
    plugin = FakePlugin(agent.sock).connect(dev="tun0", timeout=SLOW)
    assert plugin.client_acked("c1", [NET], t4=T4, timeout=SLOW)["ok"]
    wait_for("the client's route", lambda: any(CLIENT in r for r in agent.routes()), timeout=SLOW)
    yield fwd, src, dst, agent, plugin, os.path.join(work, "seen")
    plugin.close()
    agent.stop()
    shutil.rmtree(work, ignore_errors=True)


def diagnosis(fwd, agent):
    """What a failure is explained by: the agent's log about nftables and
    offload, and fwd's ruleset (our table without its elements)."""
    log = [x for x in agent.log_text(since_start=True).splitlines()
           if "offload" in x or "nftables" in x or "warn" in x.lower()]
    rules = fwd.run(["nft", "-t", "list", "ruleset"], check=False)
    return "\n".join(log[-40:]) + "\n" + rules.stdout[-3000:] + rules.stderr[-500:]


def test_offload_in_the_vm(net):
    fwd, src, dst, agent, plugin, seen = net
    try:
        steps(fwd, src, dst, agent, plugin, seen)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{diagnosis(fwd, agent)}") from e


def steps(fwd, src, dst, agent, plugin, seen):
    # (a) both sides hooked; a flow offloaded, still answered
    wait_for("tun0 and eth0 hooked", lambda: hooked(fwd) == {"tun0", "eth0"}, timeout=120)
    chain = fwd.run(["nft", "list", "chain", "inet", "vpcroute", "fastpath"]).stdout
    assert "priority 2147483647" in chain and "ct direction reply flow add @fastpath" in chain, chain
    saved = fwd.run(["nft", "list", "table", "inet", "vpcroute"]).stdout
    fwd.run(["nft", "-c", "-f", "-"], input=saved)  # reads back: no keyword for a name
    st = agent.status()["offload"]
    assert st["state"] == "on" and set(st["devices"]) == {"tun0", "eth0"} and not st["missing"]
    offloaded(fwd, src, DST, 5000, 40001)
    assert exchange(src, DST, 5000, 40001, 3) == [f"{CLIENT}:40001"] * 3
    assert "[OFFLOAD]" in conntrack(fwd, 5000, 40001)
    agent.wait_log(r"offload: flowtable devices \+", timeout=SLOW)

    # (b) tun0 goes (the kernel drops its hook) and comes back: hooked again
    fwd.ip("link del tun0")
    wait_for("tun0 unhooked", lambda: "tun0" not in hooked(fwd), timeout=SLOW)
    wire_tun0(fwd, src)
    wait_for("tun0 hooked again", lambda: hooked(fwd) == {"tun0", "eth0"}, timeout=SLOW)
    wait_for("the client's route again", lambda: any(CLIENT in r for r in agent.routes()),
             timeout=SLOW)
    offloaded(fwd, src, DST, 5000, 40002)

    # (c) masqueraded toward an address off the local networks: offloaded,
    # dst sees fwd's address
    offloaded(fwd, src, INTERNET, 5000, 40003)
    got = exchange(src, INTERNET, 5000, 40003, 2)
    assert got and all(x.startswith("10.1.1.2:") for x in got), got

    # (d) a foreign chain drops the answers of port 5001: never offloaded
    fwd.run(["nft", "-f", "-"], input="""table inet foreign {
	chain drops {
		type filter hook forward priority 1000; policy accept;
		udp sport 5001 drop
	}
}
""")
    for _ in range(3):
        assert exchange(src, DST, 5001, 40004, 2) == []
    line = conntrack(fwd, 5001, 40004)
    assert line and "[OFFLOAD]" not in line, line
    with open(seen) as f:
        assert f"{CLIENT}:40004>5001" in f.read()  # the requests did arrive
    fwd.run(["nft", "delete", "table", "inet", "foreign"])

    # (e) the client disconnects: its route goes, the flowtable's route
    # check gives its offloaded flow back to the slow path, and its packets
    # no longer reach dst
    offloaded(fwd, src, DST, 5000, 40005)
    plugin.send({"type": "disconnect", "cn": "c1"})
    wait_for("the route withdrawn", lambda: not any(CLIENT in r for r in agent.routes()),
             timeout=SLOW)
    exchange(src, DST, 5000, 40005, 1)  # meets the dst check: back to the slow path
    time.sleep(3)  # the flowtable's garbage collection runs every second
    with open(seen) as f:
        before = f.read().count(f"{CLIENT}:40005>")
    assert exchange(src, DST, 5000, 40005, 3) == []
    with open(seen) as f:
        assert f.read().count(f"{CLIENT}:40005>") == before
    # (conntrack may still show the entry [OFFLOAD] for a while on 6.1: what
    # matters is that the fast path no longer carries the packets)
    # the device list was mended, never the table rebuilt
    assert "rebuilding it" not in agent.log_text(since_start=True)
