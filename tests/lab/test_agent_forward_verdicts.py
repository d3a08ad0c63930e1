# SPDX-License-Identifier: GPL-2.0-or-later
"""The forward filter's verdicts do not depend on its rule order: without a
log of accepted connections the agent puts its hash-set accepts (single
addresses with an access "all") before the concatenated lookups, with one
the rules keep the order that logs each connection under its rule (issue
13, forwarding cost). The same packet matrix, both directions, new
connections and their answers, IPv4 and IPv6, against both tables.

    clients 172.16.{1,2,3,9}.10, 172.16.4.10 (of 172.16.4.0/24),
            fd00:9::10, fd00:9::20
       │ 10.8.0.2, fd00:8::2
       └── tun0 ── ec2 (agent) ── eth0 ── vpc 10.1.1.10, fd00:1::10
           10.8.0.1               10.1.1.2
"""
import json
import os
import shutil
import tempfile

import pytest

from vrlab.agent import Agent
from vrlab.fakeplugin import FakePlugin
from vrlab.waiting import wait_for

pytestmark = pytest.mark.netns

CLIENTS = {
    # an access "all" to the local networks, none from them (the default)
    "to-only": {"net": "172.16.1.10/32", "addr": "172.16.1.10", "t4": "10.8.0.10",
                "policy": {"to_local": True, "from_local": False}},
    # an access "all" both ways
    "both": {"net": "172.16.2.10/32", "addr": "172.16.2.10", "t4": "10.8.0.11",
             "policy": {"to_local": True, "from_local": True}},
    # one port only
    "port80": {"net": "172.16.3.10/32", "addr": "172.16.3.10", "t4": "10.8.0.12",
               "policy": {"to_local": [{"to": "10.1.1.10/32", "proto": "tcp", "ports": [80]}],
                          "from_local": False}},
    # a prefix with an access "all" (a concatenated-set element, not a hash one)
    "prefix": {"net": "172.16.4.0/24", "addr": "172.16.4.10", "t4": "10.8.0.13",
               "policy": {"to_local": True, "from_local": False}},
    # IPv6: both ways, and to the local networks only
    "both6": {"net": "fd00:9::10/128", "addr": "fd00:9::10", "t4": "10.8.0.14",
              "policy": {"to_local": True, "from_local": True}},
    "to-only6": {"net": "fd00:9::20/128", "addr": "fd00:9::20", "t4": "10.8.0.15",
                 "policy": {"to_local": True, "from_local": False}},
}
STRANGER = "172.16.9.10"  # no client's: the filter leaves it alone

CONF = {"version": 1, "role": "server",
        "local_networks": ["10.1.1.0/24", "fd00:1::/64"],
        "tunnel": {"pool": "10.8.0.0/24", "pool6": "fd00:8::/64"}, "strict": True,
        "clients": {cn: {"allow": [c["net"]], "iroutes": [c["net"]], "address": c["t4"],
                         **c["policy"]} for cn, c in CLIENTS.items()}}
# with it, every accepted new connection is logged (NFLOG group 7, nobody reading)
CONNLOG = {"group": 7, "rate_per_s": 1, "burst": 3}

# TCP servers on 22 and 80, a UDP echo on 53 (one socket per address given,
# so that it answers from the address it was asked on): each answers its
# peer's address
SERVER = r"""
import socket, sys, threading
def tcp(fam, port):
    s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", port)); s.listen(16)
    while True:
        c, a = s.accept(); c.sendall(a[0].encode()); c.close()
def udp(addr):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    while True:
        d, a = s.recvfrom(100); s.sendto(a[0].encode(), a)
for fam in (socket.AF_INET, socket.AF_INET6):
    for port in (22, 80):
        threading.Thread(target=tcp, args=(fam, port), daemon=True).start()
for addr in sys.argv[1:]:
    threading.Thread(target=udp, args=(addr,), daemon=True).start()
threading.Event().wait()
"""


def reaches(node, src, dst, port, udp=False, timeout=1):
    """Whether a connection from src to dst:port gets its answer (the
    server's view of our address, which must be src: nothing translated)."""
    fam = "AF_INET6" if ":" in dst else "AF_INET"
    code = ("import socket, sys\n"
            f"s = socket.socket(socket.{fam}, socket.SOCK_{'DGRAM' if udp else 'STREAM'})\n"
            f"s.settimeout({timeout})\n"
            f"s.bind(({src!r}, 0))\n"
            "try:\n"
            f"    s.connect(({dst!r}, {port}))\n"
            f"    s.send(b'x') if {udp} else None\n"
            "    print(s.recv(100).decode())\n"
            "except OSError:\n"
            "    sys.exit(1)\n")
    r = node.run(["python3", "-c", code], check=False, timeout=timeout + 10)
    if r.returncode:
        return False
    assert r.stdout.strip() == src, (src, dst, port, r.stdout)
    return True


def expected():
    """{what: whether it passes}: the access rules above, applied."""
    want = {}
    for cn, c in CLIENTS.items():
        pol = c["policy"]
        to_all, from_all = pol["to_local"] is True, pol["from_local"] is True
        want[f"{cn} -> local tcp/80"] = True  # every client may reach port 80
        want[f"{cn} -> local tcp/22"] = to_all
        want[f"{cn} -> local udp/53 and back"] = to_all
        want[f"local -> {cn} tcp/22"] = from_all
        want[f"local -> {cn} udp/53 and back"] = from_all
    for d in ("-> local tcp/22", "-> local udp/53 and back"):
        want[f"stranger {d}"] = True
    want["local -> stranger tcp/22"] = True
    return want


def matrix(lab_nodes, want):
    """{what: whether it passes}; a probe that wants an answer and got none
    in a second is tried again for ten (a loaded machine), so that only a
    verdict fails the comparison."""
    home, vpc = lab_nodes
    probes = {}
    for cn, c in CLIENTS.items():
        a = c["addr"]
        local = "fd00:1::10" if ":" in a else "10.1.1.10"
        probes[f"{cn} -> local tcp/80"] = (home, a, local, 80)
        probes[f"{cn} -> local tcp/22"] = (home, a, local, 22)
        probes[f"{cn} -> local udp/53 and back"] = (home, a, local, 53, True)
        probes[f"local -> {cn} tcp/22"] = (vpc, local, a, 22)
        probes[f"local -> {cn} udp/53 and back"] = (vpc, local, a, 53, True)
    probes["stranger -> local tcp/22"] = (home, STRANGER, "10.1.1.10", 22)
    probes["stranger -> local udp/53 and back"] = (home, STRANGER, "10.1.1.10", 53, True)
    probes["local -> stranger tcp/22"] = (vpc, "10.1.1.10", STRANGER, 22)
    got = {k: reaches(*p) for k, p in probes.items()}
    for k, p in probes.items():
        if want[k] and not got[k]:
            got[k] = reaches(*p, timeout=10)
    return got


@pytest.fixture
def net(lab):
    ec2, home, vpc = lab.node("ec2"), lab.node("home"), lab.node("vpc")
    lab.link(ec2, "tun0", home, "eth0")
    lab.link(ec2, "eth0", vpc, "eth0")
    addrs = [c["addr"] for c in CLIENTS.values()] + [STRANGER]
    for node, cmds in (
            (ec2, ["10.8.0.1/24 dev tun0", "fd00:8::1/64 dev tun0 nodad",
                   "10.1.1.2/24 dev eth0", "fd00:1::2/64 dev eth0 nodad"]),
            (home, ["10.8.0.2/24 dev eth0", "fd00:8::2/64 dev eth0 nodad"]
             + [f"{a}/128 dev eth0 nodad" if ":" in a else f"{a}/32 dev eth0" for a in addrs]),
            (vpc, ["10.1.1.10/24 dev eth0", "fd00:1::10/64 dev eth0 nodad"])):
        for c in cmds:
            node.ip(f"addr add {c}")
    ec2.ip(f"route add {STRANGER} via 10.8.0.2")  # not the agent's: no client has it
    for node, gw in ((home, "10.8.0.1"), (home, "fd00:8::1"), (vpc, "10.1.1.2"),
                     (vpc, "fd00:1::2")):
        node.ip(f"{'-6 ' if ':' in gw else ''}route add default via {gw}")
    ec2.sysctl("net.ipv4.ip_forward", 1)
    ec2.sysctl("net.ipv6.conf.all.forwarding", 1)
    home.popen(["python3", "-c", SERVER, STRANGER] + [c["addr"] for c in CLIENTS.values()])
    vpc.popen(["python3", "-c", SERVER, "10.1.1.10", "fd00:1::10"])
    work = tempfile.mkdtemp(prefix="vr-fwdverdicts-")
    yield ec2, home, vpc, work
    shutil.rmtree(work, ignore_errors=True)


def run_agent(net, conf):
    """The agent with conf and every client connected: (agent, plugin)."""
    ec2, _, _, work = net
    agent = Agent(ec2, os.path.join(work, f"agent-{len(os.listdir(work))}"),
                  json.loads(json.dumps(conf)), grace=0).start()
    plugin = FakePlugin(agent.sock).connect(dev="tun0")
    for cn, c in CLIENTS.items():
        assert plugin.client_acked(cn, [c["net"]], t4=c["t4"])["ok"], cn
    wait_for("the clients' elements",
             lambda: {"172.16.1.10", "172.16.2.10"} <= set(agent.set_prefixes("to_local4"))
             and agent.set_prefixes("from_local6") == ["fd00:9::10"]
             and agent.set_prefixes("allow4"), timeout=10)
    return agent, plugin


def forward_rules(agent):
    """The forward chain's rules, in order."""
    out = agent.node.run(["nft", "list", "chain", "inet", "vpcroute", "forward"]).stdout
    return [x.strip() for x in out.splitlines()
            if "@" in x or x.strip().startswith("ct state")]


def test_verdicts_same_with_and_without_accept_logs(net):
    """The hash-set accepts go first only when no accepted connection is
    logged; the verdicts, for every client and both directions, are the
    access rules' either way."""
    ec2, home, vpc, _ = net
    want = expected()
    results, layouts = {}, {}
    for name, conf in (("hash accepts first", CONF),
                       ("logged, rule order kept", dict(CONF, connection_log=CONNLOG))):
        agent, plugin = run_agent(net, conf)
        try:
            layouts[name] = forward_rules(agent)
            results[name] = matrix((home, vpc), want)
        finally:
            plugin.close()
            agent.stop()
    for name, got in results.items():
        assert got == want, (name, {k: v for k, v in got.items() if want[k] != v})
    # and the two tables did differ: the new path was taken, then not
    for name, rules in layouts.items():
        assert rules[0] == "ct state established,related accept", rules
        first = [rules.index("ip saddr @to_local4 ip daddr @local4 accept"),
                 rules.index("ip6 saddr @local6 ip6 daddr @from_local6 accept")]
        ports = [rules.index("ip saddr . ip daddr . meta l4proto . th dport @ports4 accept"),
                 rules.index("ip6 saddr . ip6 daddr . meta l4proto . th dport @ports6 accept")]
        if name == "hash accepts first":
            assert first[0] < ports[0] and first[1] < ports[1], rules
        else:
            assert first[0] > ports[0] and first[1] > ports[1], rules
