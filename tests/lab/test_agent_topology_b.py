# SPDX-License-Identifier: GPL-2.0-or-later
"""Topology B: the EC2 instance is the OpenVPN client of a branch server.

The branch gateway (pfSense-style) is the outside world and configured by
hand, as its owner would; on the instance only vpcroute acts: OpenVPN runs
with route-noexec and the agent installs the pushed branch networks, the
NAT exemptions (against the recipe's own MASQUERADE) and the forwarding.
The branch's road warriors sit in its pool, which the server never pushes:
the instance reaches them through tunnel_networks.
"""
import json
import os

import pytest

from vrlab import sysctls
from vrlab import topology as T
from vrlab.agent import Agent
from vrlab.build import plugin_so
from vrlab.openvpn import OpenVPN, client_lines, server_lines
from vrlab.probe import TcpServer, tcp_connect

EC2_CONF = {
    "version": 1, "role": "client",
    "local_networks": ["10.1.1.0/24"],
    "accept_routes": ["172.16.0.0/12"],
    "from_local": True, "to_local": True,
    "nat": {"masquerade": [{"sources": ["10.1.1.0/24"], "out_interface": "eth0"}]},
    "plugin": {"reconnect_max_ms": 300},
}


@pytest.fixture
def topo_b(lab):
    return T.build_topology_b(lab)


def branch_server(topo, pki, tmp_path, push=("172.16.10.0 255.255.255.0",)):
    """The branch's OpenVPN server on bgw (its owner's, no vpcroute): the VPC
    subnet routed to the instance's common name, push the routes it pushes."""
    ccd = tmp_path / "branch-ccd"
    ccd.mkdir()
    (ccd / "vpc-router").write_text("iroute 10.1.1.0 255.255.255.0\n")
    branch = OpenVPN(topo.bgw, str(tmp_path / "branch"), "branch", server_lines(
        pki, *pki.server, local=T.BRANCH_GW_WAN, pool="10.8.0.0 255.255.255.0", extra=[
            f"client-config-dir {ccd}", "route 10.1.1.0 255.255.255.0",
            *(f'push "route {p}"' for p in push)])).start()
    branch.wait_up()
    return branch


def test_branch_to_vpc(topo_b, pki, tmp_path):
    topo = topo_b
    branch = branch_server(topo, pki, tmp_path)
    topo.ec2.run("iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE")
    sysctls.preset_opposite(topo.ec2)  # so the agent must be what sets them
    agent = Agent(topo.ec2, str(tmp_path / "agent"), dict(EC2_CONF)).start()
    cert, key = pki.issue("vpc-router")
    client = OpenVPN(topo.ec2, str(tmp_path / "ec2"), "ec2", client_lines(
        pki, cert, key, remote=T.BRANCH_GW_WAN,
        extra=["route-noexec", f"plugin {plugin_so()} {agent.conf} instance=branch"])).start()
    try:
        client.wait_up()
        agent.wait_log(r"route 172\.16\.10\.0/24 dev tun0 added")
        topo.vpc_route(T.BRANCH_LAN)  # the VPC route table (see the AWS tests)
        assert agent.routes() == ["172.16.10.0/24"]
        sysctls.assert_agent_set(topo.ec2, "tun0")
        assert topo.priv.ping(T.BRANCH_HOST_IP, count=2)
        assert topo.bhost.ping(T.PRIV_IP, count=2)
        for src, dst_node, dst, port, seen in (
                (topo.priv, topo.bhost, T.BRANCH_HOST_IP, 445, T.PRIV_IP),
                (topo.bhost, topo.priv, T.PRIV_IP, 5432, T.BRANCH_HOST_IP)):
            srv = TcpServer(dst_node, dst, port, str(tmp_path / f"tcp{port}.log"))
            try:
                assert tcp_connect(src, dst, port) == seen
            finally:
                srv.stop()
        # A pushed route outside accept_routes is not installed.
        assert "10.8.0.0/24" not in agent.routes()
        client.stop()
        agent.wait_log(r"route 172\.16\.10\.0/24 (removed|already gone)")
        assert agent.routes() == []
    finally:
        client.stop()
        agent.stop()
        branch.stop()


def test_branch_road_warrior(topo_b, pki, tmp_path):
    """A laptop of the branch, an OpenVPN client of the branch server (an
    address in its pool, which is never pushed), reaches the VPC host and
    back: tunnel_networks gives the pool its set elements and the VPC route
    the planner owns; its kernel route is the tunnel's own (topology subnet)."""
    topo = topo_b
    branch = branch_server(topo, pki, tmp_path, push=("172.16.10.0 255.255.255.0",
                                                      "10.1.1.0 255.255.255.0"))
    conf = dict(EC2_CONF, accept_routes=["172.16.0.0/12", T.BRANCH_POOL],
                tunnel_networks=[T.BRANCH_POOL])
    agent = Agent(topo.ec2, str(tmp_path / "agent"), conf).start()
    cert, key = pki.issue("vpc-router")
    client = OpenVPN(topo.ec2, str(tmp_path / "ec2"), "ec2", client_lines(
        pki, cert, key, remote=T.BRANCH_GW_WAN,
        extra=["route-noexec", f"plugin {plugin_so()} {agent.conf} instance=branch"])).start()
    lcert, lkey = pki.issue("branch-laptop")
    laptop = OpenVPN(topo.laptop, str(tmp_path / "laptop"), "laptop", client_lines(
        pki, lcert, lkey, remote=T.BRANCH_GW_WAN)).start()
    try:
        client.wait_up()
        laptop.wait_up()
        agent.wait_log(r"route 10\.8\.0\.0/24: a route of protocol 2 is already there")
        remote = [e["prefix"] for e in agent.set_elements("remote4") or []
                  if isinstance(e, dict) and "prefix" in e]
        assert {"addr": "10.8.0.0", "len": 24} in remote, remote
        topo.vpc_route(T.BRANCH_POOL)  # the VPC route table (the demo proves the agent's)
        addr = json.loads(topo.laptop.run("ip -j -4 addr show dev tun0").stdout)[0][
            "addr_info"][0]["local"]
        assert addr.startswith("10.8.0.")
        assert topo.laptop.ping(T.PRIV_IP, count=2)
        assert topo.priv.ping(addr, count=2)
        for src, dst_node, dst, port, seen in (
                (topo.laptop, topo.priv, T.PRIV_IP, 8080, addr),
                (topo.priv, topo.laptop, addr, 22, T.PRIV_IP)):
            srv = TcpServer(dst_node, dst, port, str(tmp_path / f"tcp{port}.log"))
            try:
                assert tcp_connect(src, dst, port) == seen
            finally:
                srv.stop()
    finally:
        laptop.stop()
        client.stop()
        agent.stop()
        branch.stop()
