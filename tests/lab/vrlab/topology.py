# SPDX-License-Identifier: GPL-2.0-or-later
"""The lab's networks: the addressing plan of DESIGN.md's topologies, the
types a network is described with, and the one builder that turns a
description into network namespaces.

    home ─┐                                             ┌─ ec2 (OpenVPN server, 10.1.1.2)
          ├─ br0 hrouter ── inet ── vpc (VPC router+IGW) ┤
    pi  ──┘  192.168.1.1   "internet"   10.1.1.1          └─ priv (VPC private host, 10.1.1.10)

home LAN 192.168.1.0/24: home host 192.168.1.140 (inside the 192.168.1.128/25
that the Pi announces), Pi 192.168.1.3, home router 192.168.1.1 (NATs the LAN
to the internet, like any home router). Internet: hrouter 203.0.113.2 and
vpc 198.51.100.2 behind inet (203.0.113.1, 198.51.100.1). VPC subnet
10.1.1.0/24 behind the VPC router 10.1.1.1, which is also the internet
gateway: the instance's public address 192.0.2.10 is NATed 1:1 to 10.1.1.2.
The VPC router's routing table plays the VPC route table, and the home
router's plays the home router's static routes.

Each topology's network (which nodes, links, addresses, routes) is written
once, in topologies.py; build() makes any of them, and build_topology_a/b/c
are the tests' short names for that.
"""
from dataclasses import dataclass, field

LAN = "192.168.1.0/24"
LAN_ANNOUNCED = "192.168.1.128/25"
HOME_IP = "192.168.1.140"
PI_IP = "192.168.1.3"
HROUTER_IP = "192.168.1.1"
HROUTER_WAN = "203.0.113.2"
INET_HOME = "203.0.113.1"
INET_VPC = "198.51.100.1"
VPC_WAN = "198.51.100.2"
VPC_ROUTER_IP = "10.1.1.1"
SUBNET = "10.1.1.0/24"
VPC_CIDR = "10.1.0.0/16"
EC2_IP = "10.1.1.2"
EC2_PUBLIC = "192.0.2.10"
PRIV_IP = "10.1.1.10"
POOL = "10.1.2.0/24"
POOL_GW = "10.1.2.1"  # the OpenVPN server's own tunnel address (server 10.1.2.0/24)

# Topology B: the branch office (the outside world) with its LAN and its
# OpenVPN server's tunnel pool, the common name of the EC2 instance's
# certificate, and a network the branch server pushes that lies outside the
# example's accept_routes (172.16.0.0/12).
BRANCH_LAN = "172.16.10.0/24"
BRANCH_HOST_IP = "172.16.10.10"
BRANCH_GW_IP = "172.16.10.1"
BRANCH_GW_WAN = "203.0.113.2"
BRANCH_POOL = "10.8.0.0/24"
BRANCH_CLIENT_CN = "vpc-router"
BRANCH_NOT_ACCEPTED = "192.168.77.0/24"

# Road warriors, laptops with no LAN behind them, on the internet
# (198.18.0.0/24 behind inet): (node, common name of its certificate).
RW_NET_GW = "198.18.0.1"
RW_BRIDGE = "br-rw"
ROAD_WARRIORS = (("anna", "laptop-anna"), ("ben", "laptop-ben"))


def rw_ip(index):
    """The internet address of road warrior number index (1, 2, ...)."""
    return f"198.18.0.{10 + index}"


# --- how a network is described ---------------------------------------------------

@dataclass(frozen=True)
class Host:
    """A node: a host, a router, a gateway. addrs: (device, "address/len");
    routes: (destination, gateway[, device]); bridges: {name: (ports)};
    a router forwards and redirects nobody; nft: a ruleset of its own (the
    outside world's NAT); label: how the lab's checks name it."""
    name: str
    what: str
    label: str = ""
    addrs: tuple = ()
    routes: tuple = ()
    bridges: dict = field(default_factory=dict)
    router: bool = False
    nft: str = ""

    @property
    def ip(self):
        """Its first address, the one the checks name it by."""
        return self.addrs[0][1].split("/")[0] if self.addrs else None

    @property
    def default_via(self):
        return next((r[1] for r in self.routes if r[0] == "default"), None)


@dataclass(frozen=True)
class Link:
    """A veth pair: a_if in node a, b_if in node b."""
    a: str
    a_if: str
    b: str
    b_if: str


@dataclass(frozen=True)
class Network:
    hosts: tuple
    links: tuple

    def host(self, name):
        return next(h for h in self.hosts if h.name == name)


def road_warrior_host(name, index, what=""):
    """Road warrior number index: a laptop on the internet behind inet's
    RW_BRIDGE, and its link (port rw<index> of that bridge)."""
    return (Host(name, f"road warrior {rw_ip(index)}{what}",
                 addrs=(("eth0", f"{rw_ip(index)}/24"),),
                 routes=(("default", RW_NET_GW),)),
            Link(name, "eth0", "inet", f"rw{index}"))


# --- the builder ---------------------------------------------------------------------

def _route(node, r):
    dst, via = r[0], r[1]
    node.run(f"ip route replace {dst} via {via}" + (f" dev {r[2]}" if len(r) > 2 else ""))


def _bridge(node, name, ports, addr=None):
    node.run(f"ip link add {name} type bridge")
    for port in ports:
        node.run(f"ip link set {port} master {name}")
    node.run(f"ip link set {name} up")
    if addr:
        node.run(f"ip addr add {addr} dev {name}")


def build(lab, network, cls=None):
    """The namespaces of network in lab: nodes, links, bridges, addresses,
    routes, routers' sysctls, rulesets; returns a Topology (or cls)."""
    nodes = {h.name: lab.node(h.name) for h in network.hosts}
    for ln in network.links:
        lab.link(nodes[ln.a], ln.a_if, nodes[ln.b], ln.b_if)
    for h in network.hosts:
        for name, ports in h.bridges.items():
            _bridge(nodes[h.name], name, ports)
    for h in network.hosts:
        for dev, addr in h.addrs:
            nodes[h.name].run(f"ip addr add {addr} dev {dev}")
    for h in network.hosts:
        for r in h.routes:
            _route(nodes[h.name], r)
    for h in network.hosts:
        n = nodes[h.name]
        if h.router:
            n.sysctl("net.ipv4.ip_forward", 1)
            for conf in ("all", "default", *h.bridges):
                n.sysctl(f"net.ipv4.conf.{conf}.send_redirects", 0)
        if h.nft:
            n.run(["nft", "-f", "-"], input=h.nft)
    return (cls or Topology)(network, nodes)


class Topology:
    """A network that is up: its nodes by name (topo.ec2, topo["ec2"]) and
    the outside world's changes the lab makes by hand."""

    def __init__(self, network, nodes):
        self.network, self.nodes = network, dict(nodes)

    def __getattr__(self, name):
        nodes = self.__dict__.get("nodes", {})
        if name in nodes:
            return nodes[name]
        raise AttributeError(name)

    def __getitem__(self, name):
        return self.nodes[name]

    def vpc_route(self, net, via=EC2_IP):
        """A VPC route table entry by hand: net -> the instance's ENI."""
        self.nodes["vpc"].run(f"ip route replace {net} via {via} dev br0")

    def home_route(self, net, via=PI_IP):
        """A static route on the home router."""
        self.nodes["hrouter"].run(f"ip route replace {net} via {via} dev br0")

    def road_warrior(self, name, index):
        """Adds road warrior number index (a laptop on the internet) to a
        network that is up; returns its node."""
        inet = self.nodes["inet"]
        host, link = road_warrior_host(name, index)
        node = self.nodes[name] = inet.lab.node(name)
        inet.lab.link(node, link.a_if, inet, link.b_if)
        if RW_BRIDGE not in inet.run("ip -br link").stdout:
            _bridge(inet, RW_BRIDGE, (), f"{RW_NET_GW}/24")
        inet.run(f"ip link set {link.b_if} master {RW_BRIDGE}")
        for dev, addr in host.addrs:
            node.run(f"ip addr add {addr} dev {dev}")
        for r in host.routes:
            _route(node, r)
        return node

    def warriors(self):
        """[(node, common name, internet address)] of the road warriors of
        ROAD_WARRIORS that are in this network."""
        return [(self.nodes[n], cn, rw_ip(i)) for i, (n, cn) in enumerate(ROAD_WARRIORS, 1)
                if n in self.nodes]


def _build(name, lab):
    from .topologies import TOPOLOGIES  # the descriptions use this module's types
    return build(lab, TOPOLOGIES[name].network)


def build_topology_a(lab):
    return _build("A", lab)


def build_topology_b(lab):
    return _build("B", lab)


def build_topology_c(lab):
    return _build("C", lab)
