# SPDX-License-Identifier: GPL-2.0-or-later
"""Seed 004 with real SAs (issue 18, doc/guide-ipsec-sites.md): a strongSwan
instance in a VPC (10.100.0.0/24, public 172.31.1.1) running the agent serves
two remote sites over IKEv2 with PSKs, each site with two subnets: site 1
(172.31.2.1: 192.168.100.0/24, 192.168.101.0/24) and site 2 (172.31.3.1:
192.168.102.0/24, 192.168.103.0/24). Like test_ipsec_vm.py it needs a
kernel with ESP (scripts/ipsec-vm runs it in a VM).

Every gateway's public address is on its own network behind an "internet"
router that knows no private network: a packet that the IPsec policies do
not take goes nowhere. A host of the VPC sits behind the instance; a site's
hosts are addresses of its gateway (what matters here is the instance). One
charon per gateway (vrlab/strongswan.py), started once for the module with
the base configuration; each test brings the tunnels up from the sites and
takes them down again.

The agent runs the guide's configuration (doc/examples/ipsec-sites.conf,
the sites' addresses the lab's): ipsec.peers keyed by each site's address
with its two subnets. Site 1 may reach the VPC and be reached from it; site 2
may open only TCP 443 to the VPC host (VPConnect's rule) and nothing from the
VPC to site 2. Between
the sites the instance's IKE configuration decides (vpcroute filters between
the local and the remote networks only): its traffic selectors join site 1's
subnets with site 2's first subnet, not with its second. The instance NATs
the VPC to the internet (nat.masquerade), the tunnels exempted."""
import json
import shutil
import tempfile

import pytest

from vrlab import ipseclab, netns, strongswan
from vrlab.agent import Agent, settles
from vrlab.ipseclab import S1_HOSTS, S2_HOSTS, VPC_HOST, VPC_NET as VPC
from vrlab.product import ipsec_example
from test_ipsec_vm import esp_available, sh, start

HUB_PUB, S1_PUB, S2_PUB = "172.31.1.1", "172.31.2.1", "172.31.3.1"
# the guide's plan, as scripts/lab --topology ipsec-sites has it: a host in each subnet
S1_NETS, S2_NETS = list(ipseclab.S1_NETS), list(ipseclab.S2_NETS)

# the guide's configuration, doc/examples/ipsec-sites.conf, with the lab's addresses
CONF = ipsec_example("ipsec-sites.conf", {"203.0.113.1": S1_PUB, "203.0.113.2": S2_PUB}, "wan")

# the instance: one connection per site; site 1's subnets and site 2's first
# subnet also reach each other through it (a CHILD_SA's traffic selectors
# join each local subnet with each remote one)
HUB = [strongswan.connection("site1", HUB_PUB, S1_PUB, [VPC, S2_NETS[0]], S1_NETS),
       strongswan.connection("site2", HUB_PUB, S2_PUB, [VPC] + S1_NETS, S2_NETS)]
SITE1 = strongswan.connection("hub", S1_PUB, HUB_PUB, S1_NETS, [VPC, S2_NETS[0]])
SITE2 = strongswan.connection("hub", S2_PUB, HUB_PUB, S2_NETS, [VPC] + S1_NETS)

pytestmark = pytest.mark.skipif(not esp_available(),
                                reason="the kernel has no ESP (run scripts/ipsec-vm)")


ECHO = "icmp type echo-request"


def counting(pairs):
    """nft commands: a named counter per (name, source, match) of the
    packets a host receives."""
    cmds = ["add table inet seen",
            "add chain inet seen inp { type filter hook input priority 0; }"]
    for name, src, match in pairs:
        cmds += [f"add counter inet seen {name}",
                 f"add rule inet seen inp ip saddr {src} {match} counter name {name}"]
    return "nft '" + "; ".join(cmds) + "'"


def counters(node):
    """{counter name: packets} of the host's table seen."""
    out = json.loads(node.run("nft -j list counters table inet seen").stdout)["nftables"]
    return {o["counter"]["name"]: o["counter"]["packets"] for o in out if "counter" in o}


def pings(node, *checks, first=None):
    """[(source, destination, count)] pinged from node in one shell (under
    software emulation each process counts), after the command first:
    whether each answered."""
    script = [first] if first else []
    script += [f"if ping -n -q -c {count} -W 1 -i 0.2 -I {src} {dst} >/dev/null 2>&1; "
               "then echo y; else echo n; fi" for src, dst, count in checks]
    out = node.run(["sh", "-c", "\n".join(script)], timeout=30 + 5 * len(checks)).stdout
    return [w == "y" for w in out.split()]


@pytest.fixture(scope="module")
def sites():
    """The instance with a host behind it, the internet, two site gateways
    (each site's hosts are addresses of its gateway: what matters here is the
    instance); a charon on each gateway with its connections loaded, no SA."""
    with netns.Lab() as lab:
        hub, net, s1, s2, hv = (lab.node(n) for n in ("hub", "net", "site1", "site2", "hv"))
        lab.link(hub, "wan", net, "hub")
        lab.link(s1, "wan", net, "site1")
        lab.link(s2, "wan", net, "site2")
        lab.link(hub, "lan", hv, "eth0")
        sh(net, "ip addr add 172.31.1.254/24 dev hub", "ip addr add 172.31.2.254/24 dev site1",
           "ip addr add 172.31.3.254/24 dev site2", "sysctl -qw net.ipv4.ip_forward=1")
        sh(hub, f"ip addr add {HUB_PUB}/24 dev wan", "ip addr add 10.100.0.1/24 dev lan",
           "ip route add default via 172.31.1.254", "sysctl -qw net.ipv4.ip_forward=1")
        sh(hv, f"ip addr add {VPC_HOST}/24 dev eth0", "ip route add default via 10.100.0.1",
           counting([("s1a", S1_HOSTS[0], ECHO), ("s1b", S1_HOSTS[1], ECHO),
                     ("s2ping", S2_HOSTS[0], ECHO), ("s2https", S2_HOSTS[0], "tcp dport 443")]))
        sh(s1, f"ip addr add {S1_PUB}/24 dev wan", "ip route add default via 172.31.2.254",
           *(f"ip addr add {a}/32 dev lo" for a in S1_HOSTS),
           counting([("vpc", VPC_HOST, ECHO)]))
        sh(s2, f"ip addr add {S2_PUB}/24 dev wan", "ip route add default via 172.31.3.254",
           *(f"ip addr add {a}/32 dev lo" for a in S2_HOSTS),
           # what the gateway itself opens to the VPC leaves from its first subnet
           f"ip route add {VPC} via 172.31.3.254 src {S2_HOSTS[0]}",
           counting([("vpc", VPC_HOST, ECHO),
                     ("s1to102", S1_HOSTS[1], f"ip daddr {S2_HOSTS[0]} {ECHO}"),
                     ("s1to103", S1_HOSTS[0], f"ip daddr {S2_HOSTS[1]} {ECHO}")]))
        work = tempfile.mkdtemp(prefix="vr-sites-")
        daemons = [strongswan.Charon(hub, f"{work}/hub", *HUB),
                   strongswan.Charon(s1, f"{work}/site1", SITE1),
                   strongswan.Charon(s2, f"{work}/site2", SITE2)]
        try:
            for d in daemons:
                d.start()
            yield (hub, s1, s2, hv), daemons
        finally:
            for d in daemons:
                d.stop()
            shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def agent(sites):
    (hub, *_), daemons = sites
    work = tempfile.mkdtemp(prefix="vr-sites-agent-")
    ag = Agent(hub, work, json.loads(json.dumps(CONF)), grace=0)
    yield ag
    ag.stop()
    hub.run("nft delete table inet vpcroute", check=False)
    shutil.rmtree(work, ignore_errors=True)
    for d in daemons[1:]:  # the sites' IKE_SAs (and CHILD_SAs) down
        d.swanctl("--terminate", "--ike", "hub", check=False)


def up(want):
    return [(peer, net, True, "up") for peer, nets in want for net in nets]


def test_sites_reach_vpc_and_each_other_as_policy_allows(sites, agent):
    (hub, s1, s2, hv), (c_hub, c_s1, c_s2) = sites
    start(agent)
    c_s1.initiate("hub")
    c_s2.initiate("hub")
    want = sorted(up([(S1_PUB, S1_NETS), (S2_PUB, S2_NETS)]))
    assert settles(lambda: sorted(set(agent.tunnels())), want, timeout=30) == want, \
        agent.status()["ipsec"]
    assert agent.set_prefixes("remote4") == S1_NETS + S2_NETS
    # site 1, both subnets, to the VPC host with their true addresses; between
    # the sites, what the instance's traffic selectors join: site 1's subnets
    # with site 2's first subnet, not with its second
    assert pings(s1, (S1_HOSTS[0], VPC_HOST, 2), (S1_HOSTS[1], VPC_HOST, 2),
                 (S1_HOSTS[1], S2_HOSTS[0], 2), (S1_HOSTS[0], S2_HOSTS[1], 1)) == \
        [True, True, True, False]
    # the VPC host to site 1 (from_local), not to site 2
    assert pings(hv, (VPC_HOST, S1_HOSTS[1], 2), (VPC_HOST, S2_HOSTS[1], 1)) == [True, False]
    # site 2: TCP 443 to the VPC host only (the SYN arrives with its true
    # source; nothing listens, the RST goes back through the tunnel); no ping
    assert pings(s2, (S2_HOSTS[0], VPC_HOST, 1), first=f"timeout 5 bash -c "
                 f"'exec 3<>/dev/tcp/{VPC_HOST}/443' 2>/dev/null || :") == [False]
    got = counters(hv)
    assert got["s1a"] >= 2 and got["s1b"] >= 2, got
    assert got["s2https"] >= 1 and got["s2ping"] == 0, got
    assert counters(s1)["vpc"] >= 2
    got = counters(s2)
    assert got["vpc"] == 0 and got["s1to102"] >= 2 and got["s1to103"] == 0, got


def test_site_announcing_other_sites_subnet_gets_no_route(sites, agent):
    """The instance's connection for site 2 is wide (192.168.0.0/16, the way
    VPConnect allows a wide SA limited by filters) and site 2 also announces
    192.168.101.0/24, site 1's: the IKE daemons install that tunnel, the
    agent refuses it (ipsec.peers.172.31.3.1.allow) and routes only site 2's
    own subnets. Site 1 is down here: with it up, charon would keep site 1's
    policy for that subnet and site 2's would never reach the kernel."""
    (hub, s1, s2, hv), (c_hub, c_s1, c_s2) = sites
    wide = strongswan.connection("site2", HUB_PUB, S2_PUB, [VPC, S1_NETS[0]], "192.168.0.0/16")
    greedy = strongswan.connection("hub", S2_PUB, HUB_PUB, S2_NETS + [S1_NETS[1]],
                                   [VPC, S1_NETS[0]])
    try:
        c_hub.write(HUB[0], wide)
        c_hub.load()
        c_s2.write(greedy)
        c_s2.load()
        start(agent)
        c_s2.initiate("hub")
        want = sorted(up([(S2_PUB, S2_NETS)]) + [(S2_PUB, S1_NETS[1], True, "refused")])
        assert settles(lambda: sorted(set(agent.tunnels())), want, timeout=30) == want
        refused = [t for t in agent.status()["ipsec"]["tunnels"] if t["state"] == "refused"]
        assert {t["network"] for t in refused} == {S1_NETS[1]}
        assert all(f"(rule: ipsec.peers.{S2_PUB}.allow)" in t["refusal"] for t in refused)
        assert agent.set_prefixes("remote4") == S2_NETS
        # the IKE daemon's policy stays (the agent never edits them)
        assert f"dst {S1_NETS[1]}" in hub.run("ip xfrm policy").stdout
    finally:
        c_s2.swanctl("--terminate", "--ike", "hub", check=False)
        c_hub.write(*HUB)
        c_hub.load()
        c_s2.write(SITE2)
        c_s2.load()
