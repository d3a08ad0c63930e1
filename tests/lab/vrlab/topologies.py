# SPDX-License-Identifier: GPL-2.0-or-later
"""Topologies A, B and C of DESIGN.md, each described once: its network
(nodes, links, addresses), the vpcroute agents it runs and from which
example configuration in doc/examples/, its OpenVPN servers and clients,
what the outside world does by hand, what the emulated VPC must route to
the instance, and the checks that prove it (who must reach whom, with which
source address, and who must not).

Only data. scripts/lab (tests/lab/demo.py) brings any of them up, proves
and removes it; vrlab/product.py runs its processes, vrlab/proof.py its
checks, vrlab/topology.py builds its network; the tests use the same
descriptions.
"""
from dataclasses import dataclass, field

from .topology import (BRANCH_CLIENT_CN, BRANCH_GW_IP, BRANCH_GW_WAN, BRANCH_HOST_IP,
                       BRANCH_LAN, BRANCH_NOT_ACCEPTED, BRANCH_POOL, EC2_IP, EC2_PUBLIC,
                       HOME_IP, HROUTER_IP, HROUTER_WAN, INET_HOME, INET_VPC, LAN,
                       LAN_ANNOUNCED, PI_IP, POOL, POOL_GW, PRIV_IP, ROAD_WARRIORS, RW_BRIDGE,
                       RW_NET_GW, SUBNET, VPC_CIDR, VPC_ROUTER_IP, VPC_WAN, Host, Link, Network,
                       road_warrior_host)

# --- the processes -------------------------------------------------------------------


@dataclass(frozen=True)
class ClientState:
    """A client as the agent's `vpcroutectl status --json` must list it:
    its networks, and its tunnel address when one is known."""
    cn: str
    networks: tuple = ()
    tunnel: object = None  # an address, a Tunnel, or None: not checked


@dataclass(frozen=True)
class Agent:
    """vpcroute-agent on node, from doc/examples/<example>; what its status
    must say once the lab is up: its clients, its kernel routes (exactly:
    ip route show proto 212), and its IPsec tunnels up (exactly: (peer,
    network); checked where given)."""
    node: str
    example: str
    clients: tuple = ()
    routes: tuple = ()
    tunnels: tuple = ()


@dataclass(frozen=True)
class Server:
    """An OpenVPN server on node, listening on local, reached at public.
    plugin: the vpcroute.so instance name, or None (no vpcroute). push,
    routes, iroutes {cn: nets}: OpenVPN's own lines, for a server of the
    outside world (set up by its owner, by hand)."""
    name: str
    node: str
    local: str
    public: str
    plugin: str = None
    pool: str = None
    push: tuple = ()
    routes: tuple = ()
    iroutes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Client:
    """An OpenVPN client on node with a certificate of common name cn,
    connecting to the server named server. plugin: the vpcroute.so instance
    name, or None (no vpcroute)."""
    node: str
    cn: str
    server: str
    plugin: str = None
    options: tuple = ()


@dataclass(frozen=True)
class StaticRoute:
    """A route the outside world sets by hand (a home router's)."""
    node: str
    net: str
    via: str
    dev: str
    what: str


@dataclass(frozen=True)
class Tunnel:
    """The tunnel address OpenVPN gave the client on node (known when it is up)."""
    node: str


KEPT = "kept"  # Tcp(sees=KEPT): the server sees the client's own address


# --- the checks ----------------------------------------------------------------------


@dataclass(frozen=True)
class Ping:
    """src pings dst (a node's address, or addr) and gets an answer."""
    src: str
    dst: str
    what: str = "ping"
    src_addr: object = None
    addr: object = None


@dataclass(frozen=True)
class Tcp:
    """src connects to dst:port (a server there, on dst's address or addr);
    sees: the source address the server must see (KEPT: src's own), or None:
    the connection must fail. default_via: for this check only, src's
    default route goes there. shown: shown, not checked (a path no policy
    stops)."""
    src: str
    dst: str
    port: int
    sees: object
    what: str = ""
    src_addr: object = None
    addr: object = None
    default_via: str = None
    shown: bool = False


@dataclass(frozen=True)
class NoRoute:
    """No route at all to net in node's kernel (the agent left it alone)."""
    node: str
    net: str
    label: str
    what: str


@dataclass(frozen=True)
class PushedRoutes:
    """The routes an OpenVPN client got pushed, via gw, in its kernel."""
    node: str
    nets: tuple
    via: str


@dataclass(frozen=True)
class Admitted:
    """The plugin in the OpenVPN server admitted each of cns, its log line
    starting with says."""
    server: str
    cns: tuple
    says: str
    what: str


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Topology:
    """One topology, all of it. Agents start first, then the OpenVPN
    processes in order (a server with plugin None is the outside world's,
    by hand), then the static routes of by_hand. instance: the EC2
    instance's node, whose agent drives the emulated EC2 API; vpc_routes: what
    the VPC route table must route to its ENI; nft: what its table holds;
    vpc_router: the node that plays the VPC's routing (vrlab/fabric.py).
    connectivity: the matrix; sections: [(title, checks)] after it."""
    name: str
    title: str
    network: Network
    agents: tuple
    vpns: tuple
    by_hand: tuple
    instance: str
    vpc_routes: tuple
    nft: str
    connectivity: tuple
    sections: tuple = ()
    vpc_router: str = "vpc"

    def host(self, name):
        return self.network.host(name)

    def vpn(self, name):
        return next(v for v in self.vpns if vpn_name(v) == name)


def vpn_name(v):
    """The name an OpenVPN process of a description goes by (its directory
    and log in the work directory): a server's name, a client's node."""
    return v.name if isinstance(v, Server) else v.node


# --- the networks ---------------------------------------------------------------------

# The IGW maps the public address 1:1. As in AWS, a host without a public
# address (priv) gets no internet through it: its packets leave untranslated
# and find no way back.
_IGW = f"""
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
"""

# The home router NATs its LAN to the internet, like any home router.
_HOME_NAT = f"""
table ip homenat {{
    chain post {{
        type nat hook postrouting priority srcnat;
        oifname "wan" ip saddr {LAN} masquerade
    }}
}}
"""


def _vpc_side(ec2_role):
    """The VPC: its router (also the internet gateway) behind inet, and the
    subnet 10.1.1.0/24 with the instance and a private host."""
    hosts = (
        Host("vpc", f"VPC router {VPC_ROUTER_IP} and internet gateway (follows the emulated "
             "EC2 API)", addrs=(("wan", f"{VPC_WAN}/24"), ("br0", f"{VPC_ROUTER_IP}/24")),
             routes=(("default", INET_VPC),), bridges={"br0": ("sub-ec2", "sub-priv")},
             router=True, nft=_IGW),
        Host("ec2", f"EC2 instance {EC2_IP} (public {EC2_PUBLIC}): {ec2_role}",
             addrs=(("eth0", f"{EC2_IP}/24"),), routes=(("default", VPC_ROUTER_IP),)),
        Host("priv", f"VPC private host {PRIV_IP}", label="VPC host",
             addrs=(("eth0", f"{PRIV_IP}/24"),), routes=(("default", VPC_ROUTER_IP),)),
    )
    links = (Link("vpc", "wan", "inet", "to-vpc"), Link("ec2", "eth0", "vpc", "sub-ec2"),
             Link("priv", "eth0", "vpc", "sub-priv"))
    return hosts, links


def _inet(what, extra_addrs=(), bridges=None):
    return Host("inet", what, label="internet",
                addrs=(("to-home", f"{INET_HOME}/24"), ("to-vpc", f"{INET_VPC}/24"),
                       *extra_addrs),
                routes=(("192.0.2.0/24", VPC_WAN),), bridges=bridges or {}, router=True)


def _home(pi_what):
    hosts = (
        Host("home", f"home LAN host {HOME_IP}", addrs=(("eth0", f"{HOME_IP}/24"),),
             routes=(("default", HROUTER_IP),)),
        Host("pi", f"Raspberry Pi {PI_IP}: {pi_what}", addrs=(("eth0", f"{PI_IP}/24"),),
             routes=(("default", HROUTER_IP),)),
        Host("hrouter", f"home router {HROUTER_IP}, NATs the LAN to the internet",
             label="home router",
             addrs=(("br0", f"{HROUTER_IP}/24"), ("wan", f"{HROUTER_WAN}/24")),
             routes=(("default", INET_HOME),), bridges={"br0": ("lan-home", "lan-pi")},
             router=True, nft=_HOME_NAT),
    )
    links = (Link("home", "eth0", "hrouter", "lan-home"), Link("pi", "eth0", "hrouter", "lan-pi"),
             Link("hrouter", "wan", "inet", "to-home"))
    return hosts, links


# Topology B's road warrior: a laptop of the branch, an OpenVPN client of the
# branch server (its address in the branch's pool, which the server never
# pushes: the instance reaches it through tunnel_networks)
_BRANCH_RW, _BRANCH_RW_CN = "laptop", "branch-laptop"


def _network_a(pi_what, ec2_role, inet_what, warriors=()):
    home_hosts, home_links = _home(pi_what)
    vpc_hosts, vpc_links = _vpc_side(ec2_role)
    rws = [road_warrior_host(n, i, f": OpenVPN client {cn}, no vpcroute")
           for i, (n, cn) in enumerate(warriors, 1)]
    inet = _inet(inet_what, extra_addrs=((RW_BRIDGE, f"{RW_NET_GW}/24"),) if rws else (),
                 bridges={RW_BRIDGE: tuple(ln.b_if for _, ln in rws)} if rws else None)
    hosts = (*home_hosts, inet, *vpc_hosts, *(h for h, _ in rws))
    return Network(hosts, (*home_links, *vpc_links, *(ln for _, ln in rws)))


def _network_b():
    vpc_hosts, vpc_links = _vpc_side("OpenVPN client, vpcroute client role")
    laptop, laptop_link = road_warrior_host(
        _BRANCH_RW, 1, f": OpenVPN client {_BRANCH_RW_CN} of the branch server, no vpcroute")
    hosts = (
        Host("bhost", f"branch LAN host {BRANCH_HOST_IP}", label="branch host",
             addrs=(("eth0", f"{BRANCH_HOST_IP}/24"),), routes=(("default", BRANCH_GW_IP),)),
        Host("bgw", f"branch gateway {BRANCH_GW_WAN}: OpenVPN server (not vpcroute), pushes "
             f"{BRANCH_LAN} and the VPC to its clients (the instance and the branch's road "
             f"warriors, pool {BRANCH_POOL})",
             addrs=(("lan", f"{BRANCH_GW_IP}/24"), ("wan", f"{BRANCH_GW_WAN}/24")),
             routes=(("default", INET_HOME),), router=True),
        _inet("the internet between the branch, its road warrior and the VPC",
              extra_addrs=((RW_BRIDGE, f"{RW_NET_GW}/24"),),
              bridges={RW_BRIDGE: (laptop_link.b_if,)}),
        *vpc_hosts,
        laptop,
    )
    return Network(hosts, (Link("bhost", "eth0", "bgw", "lan"),
                           Link("bgw", "wan", "inet", "to-home"), *vpc_links, laptop_link))


# --- the three topologies -----------------------------------------------------------

_INTERNET = Tcp("priv", "inet", 7000, EC2_PUBLIC, addr=INET_VPC, default_via=EC2_IP,
                what=f"TCP via ec2, masqueraded to {EC2_PUBLIC}")
_SERVER = Server("server", "ec2", local=EC2_IP, public=EC2_PUBLIC, plugin="server")
_PI = Client("pi", "pi-home", "server", plugin="pi")

A = Topology(
    name="A",
    title="home LAN behind a Raspberry Pi (OpenVPN client) <-> EC2 instance (OpenVPN server)",
    network=_network_a("OpenVPN client, vpcroute client role",
                       "OpenVPN server, vpcroute server role",
                       "the internet between the home and the VPC"),
    agents=(Agent("ec2", "topology-a-server.conf",
                  clients=(ClientState("pi-home", (LAN_ANNOUNCED,), "10.1.2.10"),),
                  routes=(LAN_ANNOUNCED,)),
            Agent("pi", "topology-a-pi.conf")),
    vpns=(_SERVER, _PI),
    by_hand=(StaticRoute("hrouter", VPC_CIDR, PI_IP, "br0",
                         "home router: static route to the VPC via the Pi"),),
    instance="ec2",
    vpc_routes=(LAN_ANNOUNCED, POOL),
    nft="exemptions, masquerade, forward filter",
    connectivity=(
        Ping("home", "priv"),
        Ping("priv", "home", "ping (pi-home's policy: icmp)"),
        Tcp("home", "priv", 8080, KEPT),
        Tcp("priv", "home", 22, KEPT, "TCP, opened by pi-home's policy"),
        Tcp("priv", "home", 2222, None, "TCP, refused (not in the policy)"),
        _INTERNET,
    ),
)

_LAPTOP = Tunnel(_BRANCH_RW)
B = Topology(
    name="B",
    title="EC2 instance (OpenVPN client) of a branch office server that pushes its LAN, and the "
          "branch's road warrior",
    network=_network_b(),
    # the pool's kernel route is the tunnel's own (OpenVPN's "topology subnet"): left alone
    agents=(Agent("ec2", "topology-b-ec2-client.conf", routes=(BRANCH_LAN,)),),
    vpns=(Server("branch", "bgw", local=BRANCH_GW_WAN, public=BRANCH_GW_WAN, pool=BRANCH_POOL,
                 push=(BRANCH_LAN, BRANCH_NOT_ACCEPTED, VPC_CIDR), routes=(VPC_CIDR,),
                 iroutes={BRANCH_CLIENT_CN: (VPC_CIDR,)}),
          Client("ec2", BRANCH_CLIENT_CN, "branch", plugin="branch", options=("route-noexec",)),
          Client(_BRANCH_RW, _BRANCH_RW_CN, "branch")),
    by_hand=(),
    instance="ec2",
    vpc_routes=(BRANCH_LAN, BRANCH_POOL),
    nft="exemptions, masquerade, forward filter",
    connectivity=(
        Ping("priv", "bhost"),
        Ping("bhost", "priv"),
        Tcp("priv", "bhost", 445, KEPT, "TCP, source kept (NAT exemption)"),
        Tcp("bhost", "priv", 5432, KEPT),
        Ping(_BRANCH_RW, "priv", f"ping (branch pool {BRANCH_POOL}: tunnel_networks)",
             src_addr=_LAPTOP),
        Ping("priv", _BRANCH_RW, "ping, back to the branch's road warrior", addr=_LAPTOP),
        Tcp(_BRANCH_RW, "priv", 8080, KEPT, "TCP, source kept (the branch pool address)",
            src_addr=_LAPTOP),
        Tcp("priv", _BRANCH_RW, 22, KEPT, addr=_LAPTOP),
        _INTERNET,
        NoRoute("ec2", BRANCH_NOT_ACCEPTED, f"pushed {BRANCH_NOT_ACCEPTED}",
                "outside accept_routes: left alone"),
    ),
)


def _warrior_checks(node):
    t = Tunnel(node)
    return (
        Ping(node, "priv", src_addr=t),
        Tcp(node, "priv", 8080, KEPT, "TCP, source kept (the tunnel address, no NAT)",
            src_addr=t),
        Ping(node, "home", f"ping (pushed {LAN_ANNOUNCED}, through ec2 and pi-home)", src_addr=t),
        Tcp(node, "home", 22, KEPT, src_addr=t),
    )


(_ANNA, _), (_BEN, _) = ROAD_WARRIORS
C = Topology(
    name="C",
    title="road warriors (OpenVPN clients, no LAN behind them) and the home LAN's Pi <-> "
          "EC2 instance (OpenVPN server)",
    network=_network_a("OpenVPN client (pi-home), vpcroute client role",
                       "OpenVPN server, vpcroute server role",
                       "the internet between the home, the road warriors and the VPC",
                       warriors=ROAD_WARRIORS),
    agents=(Agent("ec2", "topology-c-road-warriors.conf",
                  clients=(ClientState("pi-home", (LAN_ANNOUNCED,), "10.1.2.10"),
                           *(ClientState(cn, (), Tunnel(n)) for n, cn in ROAD_WARRIORS)),
                  routes=(LAN_ANNOUNCED,)),
            Agent("pi", "topology-a-pi.conf")),
    vpns=(_SERVER, _PI, *(Client(n, cn, "server") for n, cn in ROAD_WARRIORS)),
    by_hand=(StaticRoute("hrouter", POOL, PI_IP, "br0",
                         f"home router: static route to the tunnel pool {POOL} via the Pi"),),
    instance="ec2",
    vpc_routes=(POOL, LAN_ANNOUNCED),
    nft="exemptions, forward filter",
    connectivity=(
        *(c for n, _ in ROAD_WARRIORS for c in _warrior_checks(n)),
        Tcp("priv", _ANNA, 22, None, "TCP, refused (default_client: from_local false)",
            addr=Tunnel(_ANNA)),
        Tcp("priv", "home", 22, None, "TCP, refused (pi-home: from_local not given, so false)"),
    ),
    sections=(
        ("what no policy of the example stops (shown, not checked)", (
            Tcp(_ANNA, "home", 2222, KEPT, "outside the Pi's to_local: the Pi filters only what "
                "comes from its pushed routes (none here), and on ec2 road warrior -> pi-home "
                "is tunnel to tunnel", src_addr=Tunnel(_ANNA), shown=True),
            Tcp("home", _ANNA, 22, KEPT, "default_client's from_local false covers the VPC's "
                "networks only", addr=Tunnel(_ANNA), shown=True),
            Tcp(_ANNA, _BEN, 22, KEPT, "road warrior to road warrior, through ec2's kernel (no "
                "client-to-client)", src_addr=Tunnel(_ANNA), addr=Tunnel(_BEN), shown=True),
            Note(f"home -> VPC host {PRIV_IP}: not in this example (pi-home gets no push_routes "
                 "there, so the Pi has no route to the VPC, and the home router routes only the "
                 f"pool {POOL} to the Pi)"),
        )),
        ("the road warriors", (
            *(PushedRoutes(n, (SUBNET, LAN_ANNOUNCED), POOL_GW) for n, _ in ROAD_WARRIORS),
            Admitted("server", tuple(cn for _, cn in ROAD_WARRIORS), "announces nothing",
                     "ec2: vpcroute.so admitted the road warriors by default_client (no entry, "
                     "\"strict\": false), announcing nothing"),
        )),
    ),
)

TOPOLOGIES = {t.name: t for t in (A, B, C)}
