# SPDX-License-Identifier: GPL-2.0-or-later
"""IPsec with real SAs (issue 18, seed 003): two VPC gateways joined by an
ESP tunnel, each VPC with a host, the gateway of VPC A running the agent.
It needs a kernel with ESP, which the lab machines' kernel lacks: scripts/
ipsec-vm runs this file inside a VM booted from Debian's kernel (virtme-ng);
on a kernel without ESP every test here skips.

Gateway A (VPC 10.0.0.0/16, public 172.31.0.1) and gateway B (VPC
192.168.99.0/24, public 172.31.0.2) hold the policies and SAs an IKE daemon
would install for a PSK site-to-site connection (ip xfrm, the same netlink
messages). B accepts nothing from the WAN outside the tunnel, as the other
VPC would not route it, so a packet reaches host B only through the tunnel,
with its true source. A foreign MASQUERADE on A's WAN (the recipe's NAT to
the internet) rewrites the source before the IPsec policy is matched: without
the agent the tunnel carries nothing, with it the exemption holds."""
import json
import shutil
import subprocess
import tempfile
import time

import pytest

from vrlab import netns, strongswan
from vrlab.agent import Agent, settles
from vrlab.libreswan import Pluto, conn_lines

A_PUB, B_PUB = "172.31.0.1", "172.31.0.2"
A_NET, B_NET = "10.0.0.0/16", "192.168.99.0/24"
A_HOST, B_HOST = "10.0.0.10", "192.168.99.10"
KEY = "0x" + "11" * 20  # rfc4106(gcm(aes)) 128: 16 bytes of key, 4 of salt

CONF = {"version": 1, "role": "client", "local_networks": [A_NET],
        "ipsec": {"peers": {B_PUB: {"allow": [B_NET], "to_local": True, "from_local": True}}}}


def esp_available():
    ns = f"vr-esp-probe-{time.time_ns()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        r = subprocess.run(["ip", "netns", "exec", ns, "ip", "xfrm", "state", "add", "src",
                            "192.0.2.1", "dst", "192.0.2.2", "proto", "esp", "spi", "0x1",
                            "mode", "tunnel", "aead", "rfc4106(gcm(aes))", KEY, "128"],
                           capture_output=True, text=True)
        return r.returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", ns])


pytestmark = pytest.mark.skipif(not esp_available(),
                                reason="the kernel has no ESP (run scripts/ipsec-vm)")


def sa(src, dst, spi, verb="add"):
    extra = f" mode tunnel reqid 1 aead 'rfc4106(gcm(aes))' {KEY} 128" if verb == "add" else ""
    return f"ip xfrm state {verb} src {src} dst {dst} proto esp spi {spi}{extra}"


def tunnel_end(me, peer, mine, theirs, spi_out, spi_in):
    """What an IKE daemon installs on one side: out, in and fwd policies, two SAs."""
    cmds = [f"ip xfrm policy add src {s} dst {t} dir {d} "
            f"tmpl src {ts} dst {td} proto esp mode tunnel reqid 1"
            for d, s, t, ts, td in (("out", mine, theirs, me, peer),
                                    ("in", theirs, mine, peer, me),
                                    ("fwd", theirs, mine, peer, me))]
    return cmds + [sa(me, peer, spi_out), sa(peer, me, spi_in)]


def sh(node, *cmds):
    """cmds in one shell of node (under software emulation every process counts)."""
    node.run(["sh", "-ec", "\n".join(cmds)])


@pytest.fixture(scope="module")
def vpcs():
    """The two VPCs, built once for the module (each process is slow in the
    VM); each test starts from both tunnel ends installed and no agent."""
    with netns.Lab() as lab:
        a, b, ha, hb = (lab.node(n) for n in ("gwa", "gwb", "hosta", "hostb"))
        lab.link(a, "wan", b, "wan")
        lab.link(a, "lan", ha, "eth0")
        lab.link(b, "lan", hb, "eth0")
        sh(ha, f"ip addr add {A_HOST}/16 dev eth0", "ip route add default via 10.0.0.1")
        sh(hb, f"ip addr add {B_HOST}/24 dev eth0", "ip route add default via 192.168.99.1",
           # host B counts what arrives with A's host's true address
           f"nft 'add table inet seen; add chain inet seen inp {{ type filter hook input "
           f"priority 0; }}; add rule inet seen inp ip saddr {A_HOST} icmp type echo-request "
           f"counter'")
        # each gateway's default route is its WAN (the internet, here the other gateway)
        sh(b, f"ip addr add {B_PUB}/24 dev wan", "ip addr add 192.168.99.1/24 dev lan",
           f"ip route add default via {A_PUB}",
           "sysctl -qw net.ipv4.ip_forward=1",
           # B: only tunnel traffic from the WAN reaches its VPC
           "nft 'add table inet wall; add chain inet wall fw { type filter hook forward "
           "priority 0; policy accept; }; add rule inet wall fw iifname wan meta ipsec missing "
           "drop'",
           *tunnel_end(B_PUB, A_PUB, B_NET, A_NET, "0x200", "0x100"))
        sh(a, f"ip addr add {A_PUB}/24 dev wan", "ip addr add 10.0.0.1/16 dev lan",
           f"ip route add default via {B_PUB}",
           "sysctl -qw net.ipv4.ip_forward=1",
           # the recipe's NAT to the internet, made by someone else, in front of the tunnel
           "nft 'add table ip foreign; add chain ip foreign post { type nat hook postrouting "
           "priority srcnat; }; add rule ip foreign post oifname wan masquerade'")
        yield a, b, ha, hb


@pytest.fixture
def gw(vpcs):
    a, b, ha, hb = vpcs
    sh(a, "ip xfrm policy flush", "ip xfrm state flush",
       *tunnel_end(A_PUB, B_PUB, A_NET, B_NET, "0x100", "0x200"))
    work = tempfile.mkdtemp(prefix="vr-ipsec-vm-")
    agent = Agent(a, work, json.loads(json.dumps(CONF)), grace=0)
    yield a, b, ha, hb, agent
    agent.stop()
    a.run("nft delete table inet vpcroute", check=False)
    shutil.rmtree(work, ignore_errors=True)


def start(agent):
    """The agent started; under software emulation its first start (the
    kernel modules nftables loads) can take more than the usual 10 s."""
    agent.start(wait=False)
    agent.wait_log(r"listening on ", timeout=90)


def seen_true_source(hb):
    out = hb.run("nft -j list table inet seen").stdout
    for o in json.loads(out)["nftables"]:
        for e in o.get("rule", {}).get("expr", []):
            if "counter" in e:
                return e["counter"]["packets"]
    return 0


def test_tunnel_up_exempt_from_foreign_nat(gw):
    a, b, ha, hb, agent = gw
    # the classic failure: MASQUERADE rewrites the source, the policy no longer
    # matches, the packet leaves in clear and B drops it
    assert not ha.ping(B_HOST, count=2, timeout=1)
    assert seen_true_source(hb) == 0
    start(agent)
    assert agent.tunnels() == [(B_PUB, B_NET, True, "up")]
    assert agent.set_prefixes("remote4") == [B_NET]
    assert ha.ping(B_HOST, count=3)
    assert seen_true_source(hb) >= 3
    # and back, B's host to A's (from_local and to_local both open)
    assert hb.ping(A_HOST, count=2)


def test_sa_gone_and_back(gw):
    a, b, ha, hb, agent = gw
    start(agent)
    assert agent.tunnels() == [(B_PUB, B_NET, True, "up")]
    # the IKE daemon tears the outbound SA down (DPD, a restart): withdrawn
    sh(a, sa(A_PUB, B_PUB, "0x100", verb="delete"))
    want = [(B_PUB, B_NET, False, "no SA")]
    assert settles(agent.tunnels, want) == want
    assert settles(lambda: agent.set_prefixes("remote4"), []) == []
    agent.wait_log(r"ipsec: peer 172\.31\.0\.2: no tunnel with an SA left")
    # re-established under a new SPI: up again
    sh(a, sa(A_PUB, B_PUB, "0x101"))
    sh(b, sa(A_PUB, B_PUB, "0x101"))
    want = [(B_PUB, B_NET, True, "up")]
    assert settles(agent.tunnels, want) == want
    assert ha.ping(B_HOST, count=2)


def test_forbidden_network_gets_nothing(gw):
    a, b, ha, hb, agent = gw
    # the peer's IKE configuration also tunnels 172.16.0.0/12, which ipsec.peers does not allow
    a.run(f"ip xfrm policy add src {A_NET} dst 172.16.0.0/12 dir out "
          f"tmpl src {A_PUB} dst {B_PUB} proto esp mode tunnel reqid 1")
    start(agent)
    got = {t["network"]: t for t in agent.status()["ipsec"]["tunnels"]}
    assert got[B_NET]["state"] == "up"
    assert got["172.16.0.0/12"]["state"] == "refused"
    assert "(rule: ipsec.peers.172.31.0.2.allow)" in got["172.16.0.0/12"]["refusal"]
    assert agent.set_prefixes("remote4") == [B_NET]
    # the IKE daemon's policy stays
    assert "172.16.0.0/12" in a.run("ip xfrm policy").stdout


def test_kill9_resyncs_from_dump(gw):
    a, b, ha, hb, agent = gw
    start(agent)
    assert agent.tunnels() == [(B_PUB, B_NET, True, "up")]
    before = agent.dump()
    agent.kill9()
    start(agent)
    assert agent.tunnels() == [(B_PUB, B_NET, True, "up")]
    assert agent.dump() == before
    assert ha.ping(B_HOST, count=2)


# --- the same tunnel set up by strongSwan (charon, swanctl), one daemon per gateway ---


def test_strongswan_tunnel(gw):
    """It replaces both ends' hand-made SAs by strongSwan's (vrlab/strongswan.py:
    Debian's charon and swanctl, unpacked, not installed)."""
    a, b, ha, hb, agent = gw
    sh(a, "ip xfrm policy flush", "ip xfrm state flush")
    sh(b, "ip xfrm policy flush", "ip xfrm state flush")
    work = tempfile.mkdtemp(prefix="vr-strongswan-")
    cb = strongswan.Charon(b, f"{work}/b", strongswan.connection("peer", B_PUB, A_PUB, B_NET,
                                                                 A_NET))
    ca = strongswan.Charon(a, f"{work}/a", strongswan.connection("peer", A_PUB, B_PUB, A_NET,
                                                                 B_NET, start_action="start"))
    try:
        cb.start()
        start(agent)
        assert agent.tunnels() == []
        ca.start()
        want = [(B_PUB, B_NET, True, "up")]
        assert settles(agent.tunnels, want, timeout=60) == want, ca.log_tail()
        assert agent.set_prefixes("remote4") == [B_NET]
        assert ha.ping(B_HOST, count=2)
        # the CHILD_SA torn down (strongSwan removes its policies with it) and
        # brought up again by the daemon: down, then up
        ca.terminate("peer")
        assert settles(lambda: [t for t in agent.tunnels() if t[3] == "up"], []) == []
        assert settles(lambda: agent.set_prefixes("remote4"), []) == []
        ca.initiate("peer")
        want = [(B_PUB, B_NET, True, "up")]
        assert settles(agent.tunnels, want, timeout=60) == want
        assert ha.ping(B_HOST, count=2)
    finally:
        ca.stop()
        cb.stop()
        shutil.rmtree(work, ignore_errors=True)


# --- the same tunnel set up by libreswan (pluto), seed 003's daemon ---

PSK = "the lab's pre-shared key, 32 bytes or more"


def pluto(node, d, me, peer, mine, theirs):
    """libreswan's pluto for node (vrlab/libreswan.py: its own --config,
    --rundir, --nssdir and secrets under d) with the connection "peer";
    start() starts it, adds the connection and makes it listen."""
    conn = conn_lines("peer", authby="secret", ikev2="yes", left=me, leftid=me,
                      leftsubnet=mine, right=peer, rightid=peer, rightsubnet=theirs,
                      auto="add")
    return Pluto(node, d, "peer", conn, (me, peer), PSK)


def test_libreswan_tunnel(gw):
    """Seed 003's daemon; like the strongSwan test, it replaces both ends' SAs."""
    a, b, ha, hb, agent = gw
    sh(a, "ip xfrm policy flush", "ip xfrm state flush")
    sh(b, "ip xfrm policy flush", "ip xfrm state flush")
    work, daemons = tempfile.mkdtemp(prefix="vr-libreswan-"), []
    try:
        # each stopped at the end (they hold the IKE ports), even one that failed to start
        for args in ((b, f"{work}/b", B_PUB, A_PUB, B_NET, A_NET),
                     (a, f"{work}/a", A_PUB, B_PUB, A_NET, B_NET)):
            daemons.append(pluto(*args))
            daemons[-1].start()
        start(agent)
        daemons[1].initiate()
        want = [(B_PUB, B_NET, True, "up")]
        assert settles(agent.tunnels, want, timeout=60) == want, \
            open(daemons[1].log).read()[-3000:]
        assert agent.set_prefixes("remote4") == [B_NET]
        assert ha.ping(B_HOST, count=2)
        assert seen_true_source(hb) > 0
    finally:
        for p in daemons:
            p.stop()
        shutil.rmtree(work, ignore_errors=True)
