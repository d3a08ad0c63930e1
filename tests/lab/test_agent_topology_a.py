# SPDX-License-Identifier: GPL-2.0-or-later
"""Topology A end to end with vpcroute-agent and vpcroute.so on both sides."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from vrlab import sysctls
from vrlab import topology as T
from vrlab.build import built
from vrlab.probe import TcpServer, tcp_connect
from vrlab.product import ProductA


@pytest.fixture
def prod(topo_a, pki, tmp_path, aws):
    # the shipped example configurations; the EC2 instance's agent drives
    # the emulated EC2 API, whose route table the VPC router follows
    p = ProductA(topo_a, pki, str(tmp_path), aws=aws)
    yield p
    p.close()


def tcp(tmp_path, src, dst_node, dst, port):
    srv = TcpServer(dst_node, dst, port, str(tmp_path / f"tcp-{dst_node.name}-{port}.log"))
    try:
        return tcp_connect(src, dst, port, timeout=2)
    finally:
        srv.stop()


def test_end_to_end_per_policy(prod, tmp_path):
    topo = prod.topo
    # The recipe's own MASQUERADE on the instance, as many have it: the
    # exemption must hold against it.
    topo.ec2.run("iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE")
    # before vpcroute: the VPC knows no route to home, the check is on, and
    # every sysctl the agents own is the opposite of what they write
    assert prod.fabric.routes == set() and prod.fabric.sdc is True
    for node in (topo.ec2, topo.pi):
        sysctls.preset_opposite(node)
    prod.up()
    aws = prod.aws
    rt = aws.ec2.describe_route_tables(RouteTableIds=[aws.rtb_id])["RouteTables"][0]
    assert {r["DestinationCidrBlock"]: r.get("NetworkInterfaceId") for r in rt["Routes"]
            if r.get("NetworkInterfaceId")} == {T.LAN_ANNOUNCED: aws.eni_id, T.POOL: aws.eni_id}
    # the plugin told the agent where OpenVPN listens (for doctor's security group check)
    st = json.loads(subprocess.run([built("agent/vpcroutectl"), "-s", prod.server_agent.sock,
                                    "status", "--json"], capture_output=True, text=True,
                                   check=True).stdout)
    assert st["instances"][0]["listen"]["proto"] == "udp"
    assert st["instances"][0]["listen"]["port"] == 1194
    # home -> VPC: allowed, and the VPC host sees the home host's address.
    assert topo.home.ping(T.PRIV_IP, count=2)
    assert tcp(tmp_path, topo.home, topo.priv, T.PRIV_IP, 8080) == T.HOME_IP
    # VPC -> home: only what pi-home's policy opens (icmp, tcp 22 to .140).
    assert topo.priv.ping(T.HOME_IP, count=2)
    assert tcp(tmp_path, topo.priv, topo.home, T.HOME_IP, 22) == T.PRIV_IP
    assert tcp(tmp_path, topo.priv, topo.home, T.HOME_IP, 2222) is None
    # Nothing was set by hand on ec2 or the pi: the agents did it.
    sysctls.assert_agent_set(topo.ec2, "tun0")
    sysctls.assert_agent_set(topo.pi, "tun0")
    assert prod.server_agent.routes() == ["192.168.1.128/25"]
    # The Pi's pushed route is OpenVPN's own: left alone, not duplicated.
    assert prod.pi_agent.routes() == []
    assert len(re.findall(r"^10\.1\.1\.0/24 ", topo.pi.run("ip -4 route").stdout, re.M)) == 1
    prod.pi_agent.wait_log(r"route 10\.1\.1\.0/24: a route of protocol \d+ is already there; "
                           r"left alone")


def test_vpc_host_to_internet_is_masqueraded(prod, tmp_path):
    topo = prod.topo
    prod.up()
    # The private subnet's route table sends the internet to the NAT instance.
    topo.priv.run(f"ip route replace default via {T.EC2_IP}")
    seen = tcp(tmp_path, topo.priv, topo.inet, T.INET_VPC, 7000)
    assert seen == T.EC2_PUBLIC, seen
    # ...while tunnel traffic keeps its source.
    assert tcp(tmp_path, topo.priv, topo.home, T.HOME_IP, 22) == T.PRIV_IP


def test_disconnect_and_reconnect(prod):
    prod.up()
    remote = lambda: [e["prefix"]["addr"] + "/" + str(e["prefix"]["len"])  # noqa: E731
                      for e in prod.server_agent.set_elements("remote4")
                      if isinstance(e, dict) and "prefix" in e]
    assert "192.168.1.128/25" in remote()
    prod.client.stop()
    prod.server_agent.wait_log(r"route 192\.168\.1\.128/25 removed")
    assert prod.server_agent.routes() == []
    assert "192.168.1.128/25" not in remote()
    assert not prod.topo.home.ping(T.PRIV_IP, timeout=1)
    prod.start_client()
    prod.server_agent.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added.*\n(.*\n)*.*"
                               r"route 192\.168\.1\.128/25 dev tun0 added")
    assert prod.server_agent.routes() == ["192.168.1.128/25"]
    assert "192.168.1.128/25" in remote()
    assert prod.topo.home.ping(T.PRIV_IP, count=2)


def snapshot(node):
    return {
        "nft": node.run("nft list table ip foreign").stdout,
        "iptables": node.run("iptables -t nat -S").stdout,
        "routes": node.run("ip route show proto static").stdout,
        "tables": sorted(l for l in node.run("nft list tables").stdout.splitlines()
                         if "vpcroute" not in l),
    }


def test_foreign_objects_untouched(prod, tmp_path):
    ec2 = prod.topo.ec2
    ec2.run(["nft", "-f", "-"], input="""
table ip foreign {
    chain admin_forward {
        type filter hook forward priority 10; policy accept;
        ip daddr 10.9.9.9 drop
    }
    chain admin_post {
        type nat hook postrouting priority 110; policy accept;
        oifname "eth0" masquerade
        oifname "eth1" ip saddr 10.7.0.0/16 masquerade
        oifname "eth2" snat to 10.1.1.9
    }
    chain early_post {
        type nat hook postrouting priority 0; policy accept;
        ip saddr 10.9.0.0/16 masquerade
    }
}
""")
    ec2.run("iptables -t nat -A POSTROUTING -o eth0 -s 10.1.1.0/24 -j MASQUERADE")
    ec2.run("ip route add 172.31.0.0/16 via 10.1.1.1 proto static")
    before = snapshot(ec2)
    prod.up()
    assert prod.topo.home.ping(T.PRIV_IP, count=2)
    assert snapshot(ec2) == before
    # The foreign NAT rules are reported, and told apart by when they run.
    log = prod.server_agent.log_text()
    handles = {m.group(1): int(m.group(2)) for m in re.finditer(
        r"(?m)^\s+(.*?) # handle (\d+)$",
        ec2.run("nft -a list chain ip foreign admin_post").stdout)}
    assert ('foreign NAT rule in table ip nat, chain POSTROUTING (priority 100), handle ') in log
    assert re.search(r'foreign NAT rule in table ip nat, chain POSTROUTING \(priority 100\), '
                     r'handle \d+: \'oifname "eth0" ip saddr 10\.1\.1\.0/24 counter xt target '
                     r'"MASQUERADE"\' runs after vpcroute\'s exemptions', log)
    # Two masquerade rules on different interfaces are two different lines,
    # each naming its interface and handle.
    for text in ('oifname "eth0" masquerade', 'oifname "eth1" ip saddr 10.7.0.0/16 masquerade',
                 'oifname "eth2" snat to 10.1.1.9'):
        assert (f"foreign NAT rule in table ip foreign, chain admin_post (priority 110), "
                f"handle {handles[text]}: '{text}' runs after") in log
    assert ("foreign NAT rule in table ip foreign, chain early_post (priority 0), handle ") in log
    assert ("'ip saddr 10.9.0.0/16 masquerade' runs before vpcroute's exemptions (priority 50) "
            "and can rewrite tunnel traffic: give that chain a priority of 50 or more") in log
    st = json.loads(subprocess.run([built("agent/vpcroutectl"), "-s", prod.server_agent.sock,
                                    "status", "--json"], capture_output=True, text=True,
                                   check=True).stdout)
    import jsonschema
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "doc",
                           "status.schema.json")) as f:
        jsonschema.validate(st, json.load(f))
    rules = {(f["chain"], f["rule"]): f["handle"] for f in st["foreign_nat"]}
    for text in ('oifname "eth0" masquerade', 'oifname "eth1" ip saddr 10.7.0.0/16 masquerade',
                 'oifname "eth2" snat to 10.1.1.9'):
        assert rules[("admin_post", text)] == handles[text]
    text = subprocess.run([built("agent/vpcroutectl"), "-s", prod.server_agent.sock, "status"],
                          capture_output=True, text=True, check=True).stdout
    eth1 = 'oifname "eth1" ip saddr 10.7.0.0/16 masquerade'
    assert (f"foreign NAT rule in ip foreign, chain admin_post (priority 110), handle "
            f"{handles[eth1]}: {eth1}\n") in text
    assert ("foreign NAT rule in ip foreign, chain early_post (priority 0), handle ") in text
    prod.server_agent.send_signal(signal.SIGHUP)
    prod.server_agent.wait_log(r"configuration .* reloaded")
    assert snapshot(ec2) == before
    prod.server_agent.stop()
    assert snapshot(ec2) == before
    # Stopping leaves our own data plane in place; --flush would remove it.
    assert prod.server_agent.routes() == ["192.168.1.128/25"]
    assert prod.server_agent.table() is not None


def test_flush_on_stop(prod):
    prod.server_agent.extra = ["--flush"]
    prod.up()
    prod.server_agent.stop()
    assert prod.server_agent.routes() == []
    assert prod.server_agent.table() is None
