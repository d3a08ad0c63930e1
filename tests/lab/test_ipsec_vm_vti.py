# SPDX-License-Identifier: GPL-2.0-or-later
"""Route-based IPsec (issue 18) with real SAs: gateway A, running the agent,
reaches two peers through interfaces, as strongSwan or libreswan set up
route-based tunnels: peer B (VPC 192.168.99.0/24, with a host) through an
XFRM interface (ipsec0, if_id 7), peer C (192.168.77.0/24, an address on
the same far gateway) through a VTI (vti0, key 42). A's policies are wide
(0.0.0.0/0 both ways, with the if_id or the mark) and nothing routes into
the interfaces: the agent routes each peer's allowed networks via its
interface (protocol 212) while an SA of that if_id or mark lives. Like
test_ipsec_vm.py it needs a kernel with ESP (scripts/ipsec-vm runs it in a
VM); the far gateway holds ordinary policy-based ends, and drops whatever
reaches its networks from the WAN outside the tunnel."""
import json
import subprocess
import tempfile
import time

import pytest

from vrlab import netns
from vrlab.agent import Agent, settles
from vrlab.build import built
from test_ipsec_vm import esp_available, start

A_PUB, B_PUB, C_PUB = "172.31.0.1", "172.31.0.2", "172.31.0.3"
A_NET, B_NET, C_NET = "10.0.0.0/16", "192.168.99.0/24", "192.168.77.0/24"
A_HOST, B_HOST, C_ADDR = "10.0.0.10", "192.168.99.10", "192.168.77.1"
KEY = "0x" + "22" * 20  # rfc4106(gcm(aes)) 128
SETTLE = 30  # s: a loaded machine under software emulation is slow to notice

CONF = {"version": 1, "role": "client", "local_networks": [A_NET],
        "ipsec": {"peers": {
            B_PUB: {"allow": [B_NET], "to_local": True, "from_local": True},
            C_PUB: {"allow": [C_NET], "to_local": True, "from_local": True}}}}


def route_links_missing():
    """Why this kernel cannot run these tests ("" when it can): ESP, and the
    xfrm and vti link types (xfrm_interface, ip_vti)."""
    if not esp_available():
        return "the kernel has no ESP (run scripts/ipsec-vm)"
    subprocess.run(["modprobe", "-a", "xfrm_interface", "ip_vti"], capture_output=True)
    ns = f"vr-xfrmi-probe-{time.time_ns()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        # a VTI needs its ends: one without them is the fallback device's twin
        for name, kind in (("x0", ("xfrm", "if_id", "1")),
                           ("v0", ("vti", "local", "192.0.2.1", "remote", "192.0.2.2",
                                   "key", "1"))):
            r = subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "add", name,
                                "type", *kind], capture_output=True, text=True)
            if r.returncode:
                return f"the kernel has no {kind[0]} links: {r.stderr.strip()}"
        return ""
    finally:
        subprocess.run(["ip", "netns", "del", ns])


MISSING = route_links_missing()
pytestmark = pytest.mark.skipif(bool(MISSING), reason=MISSING)


def sh(node, *cmds):
    """cmds in one shell of node; under software emulation on a loaded
    machine a gateway's setup can take more than the usual 30 s."""
    node.run(["sh", "-ec", "\n".join(cmds)], timeout=180)


def sa(src, dst, spi, reqid, extra="", verb="add"):
    # a marked SA is found only with its mark, also to delete it
    tail = (f" mode tunnel reqid {reqid} aead 'rfc4106(gcm(aes))' {KEY} 128{extra}"
            if verb == "add" else extra if "mark" in extra else "")
    return f"ip xfrm state {verb} src {src} dst {dst} proto esp spi {spi}{tail}"


def policies(me, peer, mine, theirs, reqid, extra=""):
    """out, in and fwd policies of one end (extra: if_id or mark)."""
    return [f"ip xfrm policy add src {s} dst {t} dir {d} {extra} "
            f"tmpl src {ts} dst {td} proto esp mode tunnel reqid {reqid}"
            for d, s, t, ts, td in (("out", mine, theirs, me, peer),
                                    ("in", theirs, mine, peer, me),
                                    ("fwd", theirs, mine, peer, me))]


# A: wide policies; SAs of the if_id (XFRM interface) or the mark (VTI)
A_XFRMI = policies(A_PUB, B_PUB, "0.0.0.0/0", "0.0.0.0/0", 1, "if_id 7")
A_VTI = policies(A_PUB, C_PUB, "0.0.0.0/0", "0.0.0.0/0", 2, "mark 42")
SA_B_OUT = (A_PUB, B_PUB, "0x100", 1, " if_id 7")
SA_C_OUT = (A_PUB, C_PUB, "0x300", 2, " mark 42")
A_SAS = [sa(*SA_B_OUT), sa(B_PUB, A_PUB, "0x200", 1, " if_id 7"),
         sa(*SA_C_OUT), sa(C_PUB, A_PUB, "0x400", 2, " mark 42")]


@pytest.fixture(scope="module")
def vpcs():
    """Built once for the module (each process is slow in the VM); each test
    starts from A's policies, SAs and interfaces installed and no agent."""
    with netns.Lab() as lab:
        a, b, ha, hb = nodes = [lab.node(n) for n in ("gwa", "gwb", "hosta", "hostb")]
        # gateway to gateway over their WANs, each to its VPC's host
        for x, xif, y, yif in ((0, "wan", 1, "wan"), (0, "lan", 2, "eth0"), (1, "lan", 3, "eth0")):
            lab.link(nodes[x], xif, nodes[y], yif)
        for host, addr, gw_addr in ((ha, f"{A_HOST}/16", "10.0.0.1"),
                                    (hb, f"{B_HOST}/24", "192.168.99.1")):
            sh(host, f"ip addr add {addr} dev eth0", f"ip route add default via {gw_addr}")
        # the far side: ordinary policy-based ends for both peers' addresses;
        # C's network an address of its own; from the WAN, only tunnel traffic
        sh(b, f"ip addr add {B_PUB}/24 dev wan", f"ip addr add {C_PUB}/24 dev wan",
           "ip addr add 192.168.99.1/24 dev lan", "ip link add vpcc type dummy",
           f"ip addr add {C_ADDR}/24 dev vpcc", "ip link set vpcc up",
           f"ip route add default via {A_PUB}", "sysctl -qw net.ipv4.ip_forward=1",
           "nft 'add table inet wall; "
           "add chain inet wall fw { type filter hook forward priority 0; }; "
           "add rule inet wall fw iifname wan meta ipsec missing drop; "
           "add chain inet wall inp { type filter hook input priority 0; }; "
           f"add rule inet wall inp iifname wan ip daddr {C_NET} meta ipsec missing drop'",
           *policies(B_PUB, A_PUB, B_NET, A_NET, 1),
           *policies(C_PUB, A_PUB, C_NET, A_NET, 2),
           sa(B_PUB, A_PUB, "0x200", 1), sa(A_PUB, B_PUB, "0x100", 1),
           sa(C_PUB, A_PUB, "0x400", 2), sa(A_PUB, C_PUB, "0x300", 2))
        sh(a, f"ip addr add {A_PUB}/24 dev wan", "ip addr add 10.0.0.1/16 dev lan",
           f"ip route add default via {B_PUB}", "sysctl -qw net.ipv4.ip_forward=1")
        yield a, b, ha, hb


def links(a):
    """A's XFRM interface and VTI, as the IKE daemon's updown script makes them."""
    sh(a, "ip link add ipsec0 type xfrm dev wan if_id 7", "ip link set ipsec0 up",
       f"ip link add vti0 type vti local {A_PUB} remote {C_PUB} key 42",
       "sysctl -qw net.ipv4.conf.vti0.disable_policy=1", "ip link set vti0 up")


@pytest.fixture
def gw(vpcs):
    a, b, ha, hb = vpcs
    sh(a, "ip xfrm policy flush", "ip xfrm state flush", "ip link del ipsec0 2>/dev/null || :",
       "ip link del vti0 2>/dev/null || :", *A_XFRMI, *A_VTI, *A_SAS)
    links(a)
    with tempfile.TemporaryDirectory(prefix="vr-ipsec-vti-") as work:
        agent = Agent(a, work, json.loads(json.dumps(CONF)), grace=0)
        try:
            yield a, b, ha, hb, agent
        finally:
            agent.stop()
            a.run("nft delete table inet vpcroute", check=False)


def routes(a):
    """A's routes of protocol 212: (destination, device), sorted."""
    out = a.run("ip -j route show proto 212").stdout
    return sorted((r["dst"], r["dev"]) for r in json.loads(out or "[]"))


def started(agent, a):
    """The agent started, its routes via both interfaces installed."""
    start(agent)
    assert settles(lambda: routes(a), UP, timeout=SETTLE) == UP


def routed_again(a, ha):
    """Both routes back, and B's host reachable through the XFRM interface."""
    assert settles(lambda: routes(a), UP, timeout=SETTLE) == UP
    assert ha.ping(B_HOST, count=2)


def by_net(agent):
    return {t["network"]: t for t in agent.status()["ipsec"]["tunnels"]}


UP = sorted([(B_NET, "ipsec0"), (C_NET, "vti0")])


def test_routes_via_the_interfaces(gw):
    a, b, ha, hb, agent = gw
    # nothing routes into the interfaces yet: the far networks are unreachable
    assert not ha.ping(B_HOST, count=1, timeout=1)
    started(agent, a)
    got = by_net(agent)
    assert (got[B_NET]["state"], got[B_NET]["interface"], got[B_NET]["if_id"],
            got[B_NET]["from_allow"]) == ("up", "ipsec0", 7, True)
    assert (got[C_NET]["state"], got[C_NET]["interface"], got[C_NET]["mark"]) == \
        ("up", "vti0", "0x2a/0xffffffff")
    assert agent.set_prefixes("remote4") == sorted([B_NET, C_NET])
    # through the XFRM interface both ways, and through the VTI
    assert ha.ping(B_HOST, count=2)
    assert hb.ping(A_HOST, count=2)
    assert ha.ping(C_ADDR, count=2)
    # the human status names the interface
    out = subprocess.run([built("agent/vpcroutectl"), "-s", agent.sock, "status"],
                         capture_output=True, text=True, check=True).stdout
    assert "via ipsec0 (from allow)" in out and "via vti0 (from allow)" in out


def test_network_outside_allow_gets_no_route(gw):
    a, b, ha, hb, agent = gw
    # a narrow route-based policy toward B for a network ipsec.peers does not allow
    a.run(f"ip xfrm policy add src 0.0.0.0/0 dst 172.16.0.0/12 dir out if_id 7 "
          f"tmpl src {A_PUB} dst {B_PUB} proto esp mode tunnel reqid 1")
    started(agent, a)
    got = by_net(agent)
    assert got["172.16.0.0/12"]["state"] == "refused"
    assert "(rule: ipsec.peers.172.31.0.2.allow)" in got["172.16.0.0/12"]["refusal"]
    assert "172.16.0.0/12" not in json.dumps(routes(a))


def test_sa_gone_then_back(gw):
    a, b, ha, hb, agent = gw
    started(agent, a)
    # B's outbound SA goes (DPD, a restart of the IKE daemon): its route at once
    sh(a, sa(*SA_B_OUT, verb="delete"))
    want = [(C_NET, "vti0")]
    assert settles(lambda: routes(a), want, timeout=SETTLE) == want
    assert by_net(agent)[B_NET]["state"] == "no SA"
    # so does C's
    sh(a, sa(*SA_C_OUT, verb="delete"))
    assert settles(lambda: routes(a), [], timeout=SETTLE) == []
    # re-established: back
    sh(a, sa(*SA_B_OUT), sa(*SA_C_OUT))
    routed_again(a, ha)


def test_interface_gone_then_back(gw):
    a, b, ha, hb, agent = gw
    started(agent, a)
    # the IKE daemon's updown deletes the interface: its route went with it
    a.run("ip link del ipsec0")
    want = [(C_NET, "vti0")]
    assert settles(lambda: routes(a), want, timeout=SETTLE) == want
    assert settles(lambda: by_net(agent)[B_NET]["interface"], None, timeout=SETTLE) is None
    # doctor says what is missing
    conf = json.loads(json.dumps(CONF))
    conf["socket"] = {"path": agent.sock}
    with open(agent.conf, "w") as f:
        json.dump(conf, f)
    r = a.run([built("agent/vpcroutectl"), "-f", agent.conf, "doctor", "--json"], check=False)
    msgs = [(f["level"], f["message"]) for f in json.loads(r.stdout)["findings"]]
    assert any(lv == "problem" and m.startswith(
        f"IPsec tunnel to {B_PUB} for {B_NET} is route-based (if_id 7), but no XFRM "
        "interface of that if_id") for lv, m in msgs), msgs
    assert ("ok", f"IPsec tunnel to {C_PUB} for {C_NET} is up and routed via vti0") in msgs
    # and makes it again (another index): the agent routes through it again
    sh(a, "ip link add ipsec0 type xfrm dev wan if_id 7", "ip link set ipsec0 up")
    routed_again(a, ha)


def test_kill9_restart_same_routes(gw):
    a, b, ha, hb, agent = gw
    started(agent, a)
    before = agent.dump()
    agent.kill9()
    start(agent)
    assert agent.dump() == before
    assert routes(a) == UP  # the same routes, none twice
    assert ha.ping(B_HOST, count=2)
