# SPDX-License-Identifier: GPL-2.0-or-later
"""Topology A with two servers of one cluster (guide-ha.md): one home
gateway (the Pi, an OpenVPN client with both servers as remote lines) and
two EC2 instances in two subnets and availability zones, each an OpenVPN
server with vpcroute (aws.cluster). Real OpenVPN, moto behind a recording
proxy, a metadata mock per instance, and the VPC fabric (fabric.py) sending
each VPC route to the instance whose interface it names. Used by
tests/lab/test_lab_ha.py and scripts/lab --topology HA (tests/lab/demo.py).

    home, pi, hrouter -- inet -- vpc (VPC router, IGW) --+-- eca 10.1.1.2 (192.0.2.10)
                                                         +-- ecb 10.1.0.10 (192.0.2.20)
                                                         +-- priv 10.1.1.10
"""
import copy
import os

from . import sanitizer
from .agent import Agent
from .build import plugin_so
from .ec2proxy import Ec2Proxy
from .fabric import VpcFabric
from .nsport import Relay
from .openvpn import OpenVPN, client_lines, server_lines
from .product import FROM_VPC_TO_HOME, example, net_mask, stop_all
from .topologies import _home, _inet
from .topology import (EC2_IP, EC2_PUBLIC, HOME_IP, LAN_ANNOUNCED, PI_IP, PRIV_IP, VPC_CIDR,
                       VPC_ROUTER_IP, VPC_WAN, Host, Link, Network, build)
from .waiting import wait_for

TITLE = ("home LAN behind a Raspberry Pi with two remote lines <-> two EC2 instances of one "
         "cluster (OpenVPN servers) in two availability zones: failover")
B_IP, B_GW, B_SUBNET, B_PUBLIC = "10.1.0.10", "10.1.0.1", "10.1.0.0/24", "192.0.2.20"
POOLS = {"a": "10.1.2.0/25", "b": "10.1.2.128/25"}
DRIFT = 10

_IGW = f"""
table ip igw {{
    chain pre {{
        type nat hook prerouting priority dstnat;
        iifname "wan" ip daddr {EC2_PUBLIC} dnat to {EC2_IP}
        iifname "wan" ip daddr {B_PUBLIC} dnat to {B_IP}
    }}
    chain post {{
        type nat hook postrouting priority srcnat;
        oifname "wan" ip saddr {EC2_IP} snat to {EC2_PUBLIC}
        oifname "wan" ip saddr {B_IP} snat to {B_PUBLIC}
    }}
}}
"""


def network():
    home_hosts, home_links = _home("OpenVPN client of both servers, vpcroute client role")
    hosts = (
        *home_hosts,
        _inet("the internet between the home and the VPC"),
        Host("vpc", "VPC router and internet gateway (follows the emulated EC2 API)",
             addrs=(("wan", f"{VPC_WAN}/24"), ("br0", f"{VPC_ROUTER_IP}/24"),
                    ("br0", f"{B_GW}/24")),
             routes=(("default", "198.51.100.1"),),
             bridges={"br0": ("sub-eca", "sub-ecb", "sub-priv")}, router=True, nft=_IGW),
        Host("eca", f"server A {EC2_IP} (us-east-1a)", addrs=(("eth0", f"{EC2_IP}/24"),),
             routes=(("default", VPC_ROUTER_IP),)),
        Host("ecb", f"server B {B_IP} (us-east-1b)", addrs=(("eth0", f"{B_IP}/24"),),
             routes=(("default", B_GW),)),
        Host("priv", f"VPC private host {PRIV_IP}", addrs=(("eth0", f"{PRIV_IP}/24"),),
             routes=(("default", VPC_ROUTER_IP),)),
    )
    links = (*home_links, Link("vpc", "wan", "inet", "to-vpc"),
             Link("eca", "eth0", "vpc", "sub-eca"), Link("ecb", "eth0", "vpc", "sub-ecb"),
             Link("priv", "eth0", "vpc", "sub-priv"))
    return Network(hosts, links)


def client_env():
    """On the sanitizer build, the Pi's OpenVPN without LeakSanitizer: OpenVPN
    2.6 itself (not vpcroute.so: no frame of it in the report) leaks 2 blocks
    of 96 bytes once it has restarted for ping-restart, which this lab makes
    it do. ASan's other checks stay on in that process; vpcroute.so's leaks
    are checked in the other lab tests (topologies A, B and C). Elsewhere:
    None, this process's environment."""
    if not sanitizer.ACTIVE:
        return None
    opts = os.environ.get("ASAN_OPTIONS", "")
    return {**os.environ, "ASAN_OPTIONS": ":".join(
        [o for o in opts.split(":") if o and not o.startswith("detect_leaks=")]
        + ["detect_leaks=0"])}


def server_conf(pool):
    return {
        "version": 1, "role": "server", "local_networks": "auto",
        "tunnel": {"pool": pool},
        "clients": {"pi-home": {"allow": ["192.168.1.0/24"], "iroutes": [LAN_ANNOUNCED],
                                "push_routes": ["10.1.1.0/24"], "to_local": True,
                                "from_local": FROM_VPC_TO_HOME}},
        "aws": {"cluster": "home", "withdraw_grace_s": 3, "drift_check_s": DRIFT},
        "plugin": {"reconnect_max_ms": 300},
    }


class HA:
    def __init__(self, lab, world, pki, workdir):
        self.world, self.dir, self.pki = world, workdir, pki
        self.topo = build(lab, network())
        self.proxy = Ec2Proxy(world.moto.url, workdir, credentials=world.credentials)
        self.b = world.add_instance(f"{workdir}/imds-b", B_SUBNET, "us-east-1b", B_IP,
                                    "ASIAVPCROUTEROLEB", "role-b-secret")
        self.eni = {"a": world.eni_id, "b": self.b.eni_id}
        self.key = {"a": world.role_key_id, "b": "ASIAVPCROUTEROLEB"}
        imds = {"a": world.imds.port, "b": self.b.imds.port}
        self.relays, self.agents, self.vpns = [], {}, {}
        for s in ("a", "b"):
            node = self.topo[f"ec{s}"]
            ec2, md = Relay(node, self.proxy.port), Relay(node, imds[s])
            self.relays += [ec2, md]
            self.agents[s] = Agent(node, f"{workdir}/agent-{s}", server_conf(POOLS[s]),
                                   env={"AWS_ENDPOINT_URL_EC2": ec2.url,
                                        "AWS_EC2_METADATA_SERVICE_ENDPOINT": md.url})
        pi = copy.deepcopy(example("topology-a-pi.conf"))
        pi.pop("aws")
        self.agents["pi"] = Agent(self.topo["pi"], f"{workdir}/agent-pi", pi)
        self.fabric = VpcFabric(self.topo["vpc"], world, EC2_IP, instances=[
            (self.eni["a"], EC2_IP, "sub-eca"), (self.eni["b"], B_IP, "sub-ecb")])
        self.topo["hrouter"].run(f"ip route replace {VPC_CIDR} via {PI_IP} dev br0")

    def server(self, s):
        cert, key = self.pki.server
        lines = server_lines(self.pki, cert, key, local=EC2_IP if s == "a" else B_IP,
                             pool=net_mask(POOLS[s]),
                             extra=[f"plugin {plugin_so()} {self.agents[s].conf} instance=server"])
        v = self.vpns[s] = OpenVPN(self.topo[f"ec{s}"], os.path.join(self.dir, f"server-{s}"),
                                   f"server-{s}", lines)
        return v.start().wait_up()

    def client(self):
        cert, key = self.pki.issue("pi-home")
        # both servers; a dead one is given up after 4 s without an answer
        lines = client_lines(self.pki, cert, key, remote=EC2_PUBLIC, extra=[
            f"remote {B_PUBLIC} 1194", 'pull-filter ignore "ping"', "ping 1", "ping-restart 4",
            f"plugin {plugin_so()} {self.agents['pi'].conf} instance=pi"])
        v = self.vpns["pi"] = OpenVPN(self.topo["pi"], os.path.join(self.dir, "pi"), "pi", lines,
                                      env=client_env())
        return v.start()

    def ping(self, src, dst):
        return self.topo[src].run(f"ping -c 1 -W 1 {dst}", check=False).returncode == 0

    # --- the steps, shared by tests/lab/test_lab_ha.py and scripts/lab --topology HA

    def up(self):
        """Agents, both servers, the Pi (which takes the first remote, A),
        until the VPC sends the home network to A and the VPC host reaches
        home."""
        for a in self.agents.values():
            a.start()
        self.server("a")
        self.server("b")
        self.client().wait_up()
        self.vpns["a"].wait_client("pi-home")
        self.wait_route("a")
        return self.wait_reaches_home()

    def wait_route(self, s, timeout=20):
        wait_for(f"{LAN_ANNOUNCED} -> server {s.upper()}'s interface in the VPC",
                 lambda: LAN_ANNOUNCED in self.fabric.routes_to(self.eni[s]), timeout=timeout)
        return f"{LAN_ANNOUNCED} -> {self.eni[s]} (server {s.upper()})"

    def wait_reaches_home(self, timeout=20):
        wait_for(f"priv reaches {HOME_IP}", lambda: self.ping("priv", HOME_IP), timeout=timeout)
        if not self.ping("home", PRIV_IP):
            raise AssertionError(f"home does not reach {PRIV_IP}")
        return f"priv -> {HOME_IP} and home -> {PRIV_IP} answer"

    def kill(self, s):
        """Server s dies: its OpenVPN and its agent killed."""
        self.vpns[s].proc.kill()
        self.vpns[s].proc.wait(10)
        self.agents[s].kill9()

    def restart(self, s):
        """Server s again, without any client."""
        self.agents[s].start()
        self.server(s)
        self.agents[s].wait_log(r"route tables described", timeout=20)

    def kernel_route(self, s):
        return self.topo[f"ec{s}"].run(f"ip route show {LAN_ANNOUNCED} proto 212").stdout.strip()

    def calls(self, s, since, action=None):
        return [c for c in self.proxy.calls
                if c.mutating and c.time >= since
                and f"Credential={self.key[s]}/" in c.headers.get_ci("Authorization", "")
                and (action is None or c.action == action)
                and c.params.get("DestinationCidrBlock") == LAN_ANNOUNCED]

    def close(self):
        first = stop_all([*self.vpns.values(), *self.agents.values()])
        self.fabric.stop()
        for r in self.relays:
            r.stop()
        self.b.stop()
        self.proxy.stop()
        if first:
            raise first
