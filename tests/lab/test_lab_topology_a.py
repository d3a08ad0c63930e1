# SPDX-License-Identifier: GPL-2.0-or-later
"""Topology A by hand: the baseline that vpcroute replaces.

Everything the recipe does by hand is done here by hand: ip_forward on both
gateways, the server's route/push route lines and the client's iroute in a
CCD file, the VPC route table entry to the instance, and the home router's
static route to the Pi. The network and the checks are topology A's of
vrlab/topologies.py, the ones scripts/lab proves with vpcroute: the recipe
passes those of reachability (both ways, source kept), and lets through
what vpcroute's policy refuses.
"""
import dataclasses
import os

from vrlab import netns
from vrlab import topology as T
from vrlab.baseline import start_baseline
from vrlab.proof import Proof
from vrlab.topologies import KEPT, A, Ping, Tcp

# what the recipe gives too: every ping, every connection with its source kept
REACH = [c for c in A.connectivity
         if isinstance(c, Ping) or (isinstance(c, Tcp) and c.sees == KEPT and not c.default_via)]
# what vpcroute's policy refuses, the recipe lets through with its source
REFUSED = [dataclasses.replace(c, sees=KEPT, what="") for c in A.connectivity
           if isinstance(c, Tcp) and c.sees is None]


def test_topology_a_by_hand(topo_a, pki, tmp_path):
    topo = topo_a
    proof = Proof(A, topo, str(tmp_path))
    assert len(REACH) >= 4 and REFUSED
    # Before the tunnel, the home host cannot reach the VPC host.
    assert not topo.home.ping(T.PRIV_IP, timeout=1)
    server, client = start_baseline(topo, pki, str(tmp_path))

    # The client got the pushed route; the server knows the client's iroute.
    routes = topo.pi.run("ip -4 route show").stdout
    assert "10.1.1.0/24 via 10.1.2.1 dev tun0" in routes, routes
    server.wait_client("pi-home")
    assert "192.168.1.128/25" in topo.ec2.run("ip -4 route show").stdout

    # Both directions, ping and TCP, with the original source addresses.
    for c in REACH + REFUSED:
        out = proof.run(c)
        assert out.ok, (proof.row(c), out.text)

    # Take the tunnel down: the path is gone (the test can fail).
    client.stop()
    assert not topo.home.ping(T.PRIV_IP, timeout=1)


def test_namespaces_are_removed(pki):
    """A lab leaves no namespace behind, and names carry the run's pid."""
    with netns.Lab() as lab:
        n = lab.node("x")
        assert n.ns.startswith(f"vr-{os.getpid()}-")
        assert n.ns in os.listdir("/run/netns")
        name = n.ns
    assert name not in os.listdir("/run/netns")
