# SPDX-License-Identifier: GPL-2.0-or-later
"""Topologies A, B and C of DESIGN.md in network namespaces, with the recipe's
addressing (topology A's is drawn here; B and C are described below).

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
"""
from dataclasses import dataclass, fields

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


RW_NET_GW = "198.18.0.1"


def rw_ip(index):
    """The internet address of road warrior number index (1, 2, ...)."""
    return f"198.18.0.{10 + index}"


class _VpcSide:
    def vpc_route(self, net, via=EC2_IP):
        """A VPC route table entry: net -> the instance's ENI."""
        self.vpc.run(f"ip route replace {net} via {via} dev br0")


@dataclass
class TopologyA(_VpcSide):
    home: object
    pi: object
    hrouter: object
    inet: object
    vpc: object
    ec2: object
    priv: object

    def home_route(self, net, via=PI_IP):
        """A static route on the home router."""
        self.hrouter.run(f"ip route replace {net} via {via} dev br0")

    def road_warrior(self, name, index):
        """A host on the internet (198.18.0.0/24 behind inet), e.g. a laptop."""
        lab = self.inet.lab
        if "br-rw" not in self.inet.run("ip -br link").stdout:
            self.inet.run("ip link add br-rw type bridge")
            self.inet.run("ip link set br-rw up")
            self.inet.run(f"ip addr add {RW_NET_GW}/24 dev br-rw")
        node = lab.node(name)
        lab.link(node, "eth0", self.inet, f"rw{index}")
        self.inet.run(f"ip link set rw{index} master br-rw")
        node.run(f"ip addr add {rw_ip(index)}/24 dev eth0")
        node.run(f"ip route add default via {RW_NET_GW}")
        return node


def _vpc_side(lab, inet, vpc, ec2, priv):
    """The VPC: its router (also the internet gateway) behind inet, and the
    subnet 10.1.1.0/24 with the instance and a private host."""
    lab.link(vpc, "wan", inet, "to-vpc")
    vpc.run(f"ip addr add {VPC_WAN}/24 dev wan")
    vpc.run(f"ip route add default via {INET_VPC}")
    inet.run(f"ip addr add {INET_VPC}/24 dev to-vpc")
    inet.run(f"ip route add 192.0.2.0/24 via {VPC_WAN}")
    lab.link(ec2, "eth0", vpc, "sub-ec2")
    lab.link(priv, "eth0", vpc, "sub-priv")
    vpc.run("ip link add br0 type bridge")
    for port in ("sub-ec2", "sub-priv"):
        vpc.run(f"ip link set {port} master br0")
    vpc.run("ip link set br0 up")
    vpc.run(f"ip addr add {VPC_ROUTER_IP}/24 dev br0")
    ec2.run(f"ip addr add {EC2_IP}/24 dev eth0")
    ec2.run(f"ip route add default via {VPC_ROUTER_IP}")
    priv.run(f"ip addr add {PRIV_IP}/24 dev eth0")
    priv.run(f"ip route add default via {VPC_ROUTER_IP}")
    # Routers forward and redirect nobody.
    for r in (inet, vpc):
        r.sysctl("net.ipv4.ip_forward", 1)
        for conf in ("all", "default"):
            r.sysctl(f"net.ipv4.conf.{conf}.send_redirects", 0)
    vpc.sysctl("net.ipv4.conf.br0.send_redirects", 0)
    # The IGW maps the public address 1:1. As in AWS, a host without a public
    # address (priv) gets no internet through it: its packets leave
    # untranslated and find no way back.
    vpc.run(["nft", "-f", "-"], input=f"""
table ip igw {{
    chain pre {{
        type nat hook prerouting priority dstnat;
        iifname "wan" ip daddr {EC2_PUBLIC} dnat to {EC2_IP}
    }}
    chain post {{
        type nat hook postrouting priority srcnat;
        oifname "wan" ip saddr {EC2_IP} snat to {EC2_PUBLIC}
    }}
}}
""")


def build_topology_a(lab):
    n = {name: lab.node(name) for name in ("home", "pi", "hrouter", "inet", "vpc", "ec2", "priv")}
    home, pi, hr, inet, vpc, ec2, priv = (n[k] for k in
                                          ("home", "pi", "hrouter", "inet", "vpc", "ec2", "priv"))
    # Home LAN: a bridge in the home router.
    lab.link(home, "eth0", hr, "lan-home")
    lab.link(pi, "eth0", hr, "lan-pi")
    hr.run("ip link add br0 type bridge")
    hr.run("ip link set lan-home master br0")
    hr.run("ip link set lan-pi master br0")
    hr.run("ip link set br0 up")
    hr.run(f"ip addr add {HROUTER_IP}/24 dev br0")
    home.run(f"ip addr add {HOME_IP}/24 dev eth0")
    home.run(f"ip route add default via {HROUTER_IP}")
    pi.run(f"ip addr add {PI_IP}/24 dev eth0")
    pi.run(f"ip route add default via {HROUTER_IP}")
    # Home router <-> internet <-> VPC edge.
    lab.link(hr, "wan", inet, "to-home")
    hr.run(f"ip addr add {HROUTER_WAN}/24 dev wan")
    hr.run(f"ip route add default via {INET_HOME}")
    inet.run(f"ip addr add {INET_HOME}/24 dev to-home")
    _vpc_side(lab, inet, vpc, ec2, priv)
    hr.sysctl("net.ipv4.ip_forward", 1)
    for conf in ("all", "default", "br0"):
        hr.sysctl(f"net.ipv4.conf.{conf}.send_redirects", 0)
    # The home router NATs its LAN to the internet, like any home router.
    hr.run(["nft", "-f", "-"], input=f"""
table ip homenat {{
    chain post {{
        type nat hook postrouting priority srcnat;
        oifname "wan" ip saddr {LAN} masquerade
    }}
}}
""")
    return TopologyA(home=home, pi=pi, hrouter=hr, inet=inet, vpc=vpc, ec2=ec2, priv=priv)


BRANCH_LAN = "172.16.10.0/24"
BRANCH_HOST_IP = "172.16.10.10"
BRANCH_GW_IP = "172.16.10.1"
BRANCH_GW_WAN = "203.0.113.2"


@dataclass
class TopologyB(_VpcSide):
    bhost: object
    bgw: object
    inet: object
    vpc: object
    ec2: object
    priv: object


def build_topology_b(lab):
    """Topology B: the EC2 instance is the OpenVPN client of a branch office
    server (pfSense-style, at 203.0.113.2) that serves the branch LAN
    172.16.10.0/24; the VPC side is the same as topology A's."""
    n = {name: lab.node(name) for name in ("bhost", "bgw", "inet", "vpc", "ec2", "priv")}
    bhost, bgw, inet, vpc, ec2, priv = (n[k] for k in
                                        ("bhost", "bgw", "inet", "vpc", "ec2", "priv"))
    lab.link(bhost, "eth0", bgw, "lan")
    bhost.run(f"ip addr add {BRANCH_HOST_IP}/24 dev eth0")
    bhost.run(f"ip route add default via {BRANCH_GW_IP}")
    bgw.run(f"ip addr add {BRANCH_GW_IP}/24 dev lan")
    lab.link(bgw, "wan", inet, "to-home")
    bgw.run(f"ip addr add {BRANCH_GW_WAN}/24 dev wan")
    bgw.run(f"ip route add default via {INET_HOME}")
    bgw.sysctl("net.ipv4.ip_forward", 1)
    inet.run(f"ip addr add {INET_HOME}/24 dev to-home")
    _vpc_side(lab, inet, vpc, ec2, priv)
    return TopologyB(bhost=bhost, bgw=bgw, inet=inet, vpc=vpc, ec2=ec2, priv=priv)


# Topology B's branch office server (the outside world): its tunnel pool, the
# common name of the EC2 instance's certificate, and a network it pushes that
# lies outside the example's accept_routes (172.16.0.0/12).
BRANCH_POOL = "10.8.0.0/24"
BRANCH_CLIENT_CN = "vpc-router"
BRANCH_NOT_ACCEPTED = "192.168.77.0/24"

# Topology C: road warriors, laptops with no LAN behind them, on the internet
# (198.18.0.0/24 behind inet); topology A's network besides. Each is an
# OpenVPN client of the EC2 instance without vpcroute, with a certificate of
# its own common name: (node, common name).
ROAD_WARRIORS = (("anna", "laptop-anna"), ("ben", "laptop-ben"))


@dataclass
class TopologyC(TopologyA):
    anna: object = None
    ben: object = None

    def warriors(self):
        """[(node, common name, internet address)] of the road warriors."""
        return [(getattr(self, n), cn, rw_ip(i))
                for i, (n, cn) in enumerate(ROAD_WARRIORS, 1)]


def build_topology_c(lab):
    """Topology C: topology A's network (the home LAN with the Pi, the
    internet, the VPC) and the road warriors on the internet."""
    a = build_topology_a(lab)
    rws = {n: a.road_warrior(n, i) for i, (n, _) in enumerate(ROAD_WARRIORS, 1)}
    return TopologyC(**{f.name: getattr(a, f.name) for f in fields(a)}, **rws)


# What each node of a topology is, in the order the lab lists them.
NODES_A = {
    "home": f"home LAN host {HOME_IP}",
    "pi": f"Raspberry Pi {PI_IP}: OpenVPN client, vpcroute client role",
    "hrouter": f"home router {HROUTER_IP}, NATs the LAN to the internet",
    "inet": "the internet between the home and the VPC",
    "vpc": f"VPC router {VPC_ROUTER_IP} and internet gateway (follows the emulated EC2 API)",
    "ec2": f"EC2 instance {EC2_IP} (public {EC2_PUBLIC}): OpenVPN server, vpcroute server role",
    "priv": f"VPC private host {PRIV_IP}",
}
NODES_B = {
    "bhost": f"branch LAN host {BRANCH_HOST_IP}",
    "bgw": f"branch gateway {BRANCH_GW_WAN}: OpenVPN server (not vpcroute), pushes "
           f"{BRANCH_LAN}",
    "inet": "the internet between the branch and the VPC",
    "vpc": f"VPC router {VPC_ROUTER_IP} and internet gateway (follows the emulated EC2 API)",
    "ec2": f"EC2 instance {EC2_IP} (public {EC2_PUBLIC}): OpenVPN client, vpcroute client role",
    "priv": f"VPC private host {PRIV_IP}",
}
NODES_C = {
    **NODES_A,
    "pi": f"Raspberry Pi {PI_IP}: OpenVPN client (pi-home), vpcroute client role",
    "inet": "the internet between the home, the road warriors and the VPC",
    **{n: f"road warrior {rw_ip(i)}: OpenVPN client {cn}, no vpcroute"
       for i, (n, cn) in enumerate(ROAD_WARRIORS, 1)},
}
