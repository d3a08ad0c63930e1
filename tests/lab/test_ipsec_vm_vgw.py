# SPDX-License-Identifier: GPL-2.0-or-later
"""Seed 002 with real SAs (issue 18, doc/guide-ipsec-vgw.md): an instance in
VPC A (192.168.99.0/24, public 172.31.0.1) running the agent and an IKE
daemon, to an AWS virtual private gateway of VPC B (10.0.0.0/16, tunnel
address 172.31.0.2), with the recipe's algorithms: IKEv1 (Main Mode, Quick
Mode), aes128-sha1-modp1024 for both phases (PFS with group 2), PSK, the
instance's subnet to VPC B's CIDR. Like test_ipsec_vm.py it needs a kernel
with ESP (scripts/ipsec-vm runs it in a VM).

The VGW is played by strongSwan (vrlab/strongswan.py) with the parameters
AWS's tunnel options allow (IKEv1, AES128, SHA1, DH group 2), and it passes
nothing from the WAN to VPC B outside the tunnel. The instance runs strongSwan
too: the recipe's Openswan lines (ike=aes128-sha1;modp1024,
phase2alg=aes128-sha1;modp1024) cannot be kept with libreswan as Debian 12
builds it, which has no MODP1024 at all (test_libreswan_has_no_modp1024:
with libreswan choose DH group 14, which AWS also offers, on both sides).
strongSwan needed nothing but the proposals named: `version = 1`,
`proposals = aes128-sha1-modp1024`, `esp_proposals = aes128-sha1-modp1024`
(its default proposals leave MODP1024 and SHA1 out, a proposal that names them
is accepted), with a plugin that implements MODP1024 (gmp or openssl).

The agent runs the guide's configuration (doc/examples/ipsec-vgw.conf, the
VGW's address the lab's), which also NATs VPC A to the internet; a foreign
MASQUERADE on the instance's WAN is in place too: without the agent the
tunnel carries nothing; with it the hosts of both VPCs reach each other with
their true addresses."""
import json
import shutil
import subprocess
import tempfile

import pytest

from vrlab import netns, strongswan
from vrlab.agent import Agent, settles
from vrlab.product import ipsec_example
from test_ipsec_vm import esp_available, sh, start

A_PUB, VGW_PUB = "172.31.0.1", "172.31.0.2"
A_NET, B_NET = "192.168.99.0/24", "10.0.0.0/16"
A_HOST, B_HOST = "192.168.99.10", "10.0.0.10"
RECIPE = {"version": 1, "proposals": "aes128-sha1-modp1024",
          "esp_proposals": "aes128-sha1-modp1024"}

# the guide's configuration, doc/examples/ipsec-vgw.conf, with the lab's VGW address
CONF = ipsec_example("ipsec-vgw.conf", {"203.0.113.10": VGW_PUB}, "wan")

pytestmark = pytest.mark.skipif(not esp_available(),
                                reason="the kernel has no ESP (run scripts/ipsec-vm)")


def count_from(node, src):
    """nft rule in node counting the echo requests that arrive from src."""
    return ("nft 'add table inet seen; add chain inet seen inp { type filter hook input "
            f"priority 0; }}; add rule inet seen inp ip saddr {src} icmp type echo-request "
            "counter'")


def seen(node):
    """The echo requests node counted from the other VPC's host."""
    for o in json.loads(node.run("nft -j list table inet seen").stdout)["nftables"]:
        for e in o.get("rule", {}).get("expr", []):
            if "counter" in e:
                return e["counter"]["packets"]
    return 0


@pytest.fixture(scope="module")
def vpcs():
    """The instance, the VGW and a host in each VPC, built once for the module."""
    with netns.Lab() as lab:
        a, vgw, ha, hb = (lab.node(n) for n in ("inst", "vgw", "hosta", "hostb"))
        lab.link(a, "wan", vgw, "wan")
        lab.link(a, "lan", ha, "eth0")
        lab.link(vgw, "lan", hb, "eth0")
        sh(ha, f"ip addr add {A_HOST}/24 dev eth0", "ip route add default via 192.168.99.1",
           count_from(ha, B_HOST))
        sh(hb, f"ip addr add {B_HOST}/16 dev eth0", "ip route add default via 10.0.0.1",
           count_from(hb, A_HOST))
        sh(vgw, f"ip addr add {VGW_PUB}/24 dev wan", "ip addr add 10.0.0.1/16 dev lan",
           f"ip route add default via {A_PUB}", "sysctl -qw net.ipv4.ip_forward=1",
           # the VGW: nothing from the WAN into VPC B outside the tunnel
           "nft 'add table inet wall; add chain inet wall fw { type filter hook forward "
           "priority 0; policy accept; }; add rule inet wall fw iifname wan meta ipsec missing "
           "drop'")
        sh(a, f"ip addr add {A_PUB}/24 dev wan", "ip addr add 192.168.99.1/24 dev lan",
           f"ip route add default via {VGW_PUB}", "sysctl -qw net.ipv4.ip_forward=1",
           # the instance's NAT to the internet, someone else's, in front of the tunnel
           "nft 'add table ip foreign; add chain ip foreign post { type nat hook postrouting "
           "priority srcnat; }; add rule ip foreign post oifname wan masquerade'")
        yield a, vgw, ha, hb


def test_vgw_recipe_algorithms_true_addresses(vpcs):
    a, vgw, ha, hb = vpcs
    work = tempfile.mkdtemp(prefix="vr-vgw-")
    # the VGW answers; the instance initiates (the recipe's auto=start)
    cv = strongswan.Charon(vgw, f"{work}/vgw", strongswan.connection(
        "vpn", VGW_PUB, A_PUB, B_NET, A_NET, **RECIPE))
    ca = strongswan.Charon(a, f"{work}/inst", strongswan.connection(
        "tunnel1", A_PUB, VGW_PUB, A_NET, B_NET, **RECIPE))
    agent = Agent(a, f"{work}/agent", json.loads(json.dumps(CONF)), grace=0)
    try:
        cv.start()
        ca.start()
        ca.initiate("tunnel1")
        sas = ca.swanctl("--list-sas").stdout
        assert "IKEv1" in sas and "AES_CBC-128/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024" in sas, sas
        assert "ESP:AES_CBC-128/HMAC_SHA1_96/MODP_1024" in sas, sas  # PFS, group 2
        # the classic failure: the MASQUERADE rewrites the source, the policy
        # no longer matches, the packet leaves in clear and the VGW drops it
        assert not ha.ping(B_HOST, count=1, timeout=1)
        assert seen(hb) == 0
        start(agent)
        want = [(VGW_PUB, B_NET, True, "up")]
        assert settles(agent.tunnels, want, timeout=30) == want
        assert agent.set_prefixes("remote4") == [B_NET]
        assert ha.ping(B_HOST, count=2)
        assert seen(hb) >= 2
        # and VPC B's hosts to VPC A's (to_local), with their true address
        assert hb.ping(A_HOST, count=2)
        assert seen(ha) >= 2
    finally:
        agent.stop()
        a.run("nft delete table inet vpcroute", check=False)
        ca.stop()
        cv.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_libreswan_has_no_modp1024():
    """Why the instance above runs strongSwan: Debian 12's libreswan (4.10)
    is built without MODP1024 (DH group 2), so the recipe's ike= and
    phase2alg= lines are refused; modp2048 (group 14) parses."""
    refused = subprocess.run(["ipsec", "algparse", "ike=aes128-sha1;modp1024"],
                             capture_output=True, text=True)
    assert refused.returncode != 0
    assert "modp1024' is not supported" in refused.stdout + refused.stderr
    ok = subprocess.run(["ipsec", "algparse", "ike=aes128-sha1;modp2048"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "AES_CBC_128-HMAC_SHA1-MODP2048" in ok.stdout
