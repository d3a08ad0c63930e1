# SPDX-License-Identifier: GPL-2.0-or-later
"""Topology A by hand: the baseline that vpcroute replaces.

Everything the recipe does by hand is done here by hand: ip_forward on both
gateways, the server's route/push route lines and the client's iroute in a
CCD file, the VPC route table entry to the instance, and the home router's
static route to the Pi.
"""
import os

from vrlab import netns
from vrlab import topology as T
from vrlab.baseline import start_baseline
from vrlab.probe import TcpServer, tcp_connect


def test_topology_a_by_hand(topo_a, pki, tmp_path):
    topo = topo_a
    # Before the tunnel, the home host cannot reach the VPC host.
    assert not topo.home.ping(T.PRIV_IP, timeout=1)
    server, client = start_baseline(topo, pki, str(tmp_path))

    # The client got the pushed route; the server knows the client's iroute.
    routes = topo.pi.run("ip -4 route show").stdout
    assert "10.1.1.0/24 via 10.1.2.1 dev tun0" in routes, routes
    server.wait_client("pi-home")
    assert "192.168.1.128/25" in topo.ec2.run("ip -4 route show").stdout

    # Both directions, ping and TCP, with the original source addresses.
    assert topo.home.ping(T.PRIV_IP, count=3)
    assert topo.priv.ping(T.HOME_IP, count=3)
    log = str(tmp_path / "probe-priv.log")
    srv = TcpServer(topo.priv, T.PRIV_IP, 8080, log)
    assert tcp_connect(topo.home, T.PRIV_IP, 8080) == T.HOME_IP
    srv.stop()
    srv = TcpServer(topo.home, T.HOME_IP, 2222, str(tmp_path / "probe-home.log"))
    assert tcp_connect(topo.priv, T.HOME_IP, 2222) == T.PRIV_IP
    srv.stop()

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

