# SPDX-License-Identifier: GPL-2.0-or-later
"""The IPsec topologies of scripts/lab (issue 18's recipes), described and
run: real IKE daemons in network namespaces, the real agent, moto and the
metadata mock, the VPC fabric (fabric.py) following the emulated route
tables. They need a kernel with ESP: scripts/lab runs them in the VM of
scripts/ipsec-vm where the machine's kernel has none.

ipsec-vpc2vpc (seed 003, doc/guide-ipsec-vpc2vpc.md): two VPCs of one
region, an instance in each running libreswan's pluto and vpcroute-agent,
a PSK site-to-site tunnel between their Elastic IPs (the internet gateways
map them 1:1, so IKE uses NAT traversal), and on each instance the recipe's
own NAT to the internet, a foreign MASQUERADE, in place. Instance A runs
doc/examples/ipsec-vpc2vpc.conf as shipped, instance B its mirror image.

    hosta 10.0.1.20 --+                                        +-- hostb 192.168.99.20
                      +- vpca (VPC router, IGW) -- inet -- vpcb (VPC router, IGW) -+
    gwa 10.0.1.10   --+  EIP 198.51.100.1                      EIP 203.0.113.7    +-- gwb 192.168.99.10

ipsec-vgw (seed 002, doc/guide-ipsec-vgw.md): VPC A's instance (strongSwan:
Debian's libreswan has no MODP1024) runs doc/examples/ipsec-vgw.conf and
holds an IKEv1 tunnel with the recipe's aes128-sha1-modp1024 to the virtual
private gateway of VPC B, played by strongSwan (vrlab/strongswan.py), which
passes nothing from the internet into VPC B outside the tunnel.

    hosta 192.168.99.20 --+
                          +- vpca (VPC router, IGW) -- inet -- vgw 203.0.113.10 -- hostb 10.0.0.20
    gwa 192.168.99.10   --+  EIP 198.51.100.1                (VPC B 10.0.0.0/16)

ipsec-sites (seed 004, doc/guide-ipsec-sites.md): VPC A's instance, the hub,
runs strongSwan and doc/examples/ipsec-sites.conf as shipped (its sites'
addresses the guide's) and serves two remote sites over IKEv2 with PSKs,
each a strongSwan gateway with two subnets, a host in each. The hub's
connection for site 2 is wide (remote_ts 192.168.0.0/16, what the guide
warns against) and site 2 first announces site 1's 192.168.101.0/24 as well:
the agent refuses it and routes only site 2's own subnets; site 2 takes that
CHILD_SA down, site 1 comes up, and the VPC routes site 1's subnets.

                                                      +- site1 203.0.113.1 -+- s1a 192.168.100.10
    hosta 10.100.0.10 --+                             |                     +- s1b 192.168.101.10
                        +- vpca (VPC router, IGW) -- inet
    gwa 10.100.0.5    --+  EIP 198.51.100.1           |                     +- s2a 192.168.102.10
                                                      +- site2 203.0.113.2 -+- s2b 192.168.103.10
"""
import copy
import ipaddress
import json
import os
import re
import subprocess
from dataclasses import dataclass

from . import strongswan
from .agent import Agent
from .build import built
from .fabric import VpcFabric
from .libreswan import Pluto, conn_lines
from .nsport import Relay
from .product import example, stop_all
from .proof import Out
from .topologies import KEPT, Agent as AgentDesc, Ping, Tcp, Topology
from .topology import Host, Link, Network, build
from .waiting import wait_for

PSK = "the lab's pre-shared key, 32 bytes or more"
INET_WHAT = "the internet between the two VPCs"


@dataclass(frozen=True)
class Vpc:
    """One VPC of the lab: its router and internet gateway vpc<key> (toward
    inet: wan, inet's side inet_side), its instance gw<key> (the IKE daemon
    daemon and vpcroute-agent) with an Elastic IP, and a host host<key>."""
    key: str
    cidr: str
    subnet: str
    router: str
    gw: str
    host: str
    eip: str
    wan: str
    inet_side: str
    daemon: str = "libreswan (pluto)"

    @property
    def nodes(self):
        return f"vpc{self.key}", f"gw{self.key}", f"host{self.key}"


# the guide's plan (doc/guide-ipsec-vpc2vpc.md, step 1)
VPC_A = Vpc("a", "10.0.0.0/16", "10.0.1.0/24", "10.0.1.1", "10.0.1.10", "10.0.1.20",
            "198.51.100.1", "100.64.1.2", "100.64.1.1")
VPC_B = Vpc("b", "192.168.99.0/24", "192.168.99.0/24", "192.168.99.1", "192.168.99.10",
            "192.168.99.20", "203.0.113.7", "100.64.2.2", "100.64.2.1")


def _len(net):
    return net.split("/")[1]


def _vpc_hosts(v):
    router, gw, host = v.nodes
    igw = f"""
table ip igw {{
    chain pre {{
        type nat hook prerouting priority dstnat;
        iifname "wan" ip daddr {v.eip} dnat to {v.gw}
    }}
    chain post {{
        type nat hook postrouting priority srcnat;
        oifname "wan" ip saddr {v.gw} snat to {v.eip}
    }}
}}
"""
    # the recipe's NAT to the internet, set by the instance's admin, not vpcroute
    foreign = """
table ip recipe {
    chain post {
        type nat hook postrouting priority srcnat;
        oifname "eth0" masquerade
    }
}
"""
    return (
        Host(router, f"VPC {v.key.upper()} {v.cidr}: router {v.router} and internet gateway "
             f"(Elastic IP {v.eip} -> {v.gw}; follows the emulated EC2 API)",
             label=f"VPC {v.key.upper()} router",
             addrs=(("wan", f"{v.wan}/24"), ("br0", f"{v.router}/{_len(v.subnet)}")),
             routes=(("default", v.inet_side),), bridges={"br0": ("sub-gw", "sub-host")},
             router=True, nft=igw),
        Host(gw, f"instance {v.gw} (Elastic IP {v.eip}): {v.daemon}, vpcroute-agent; "
             f"the recipe's MASQUERADE on eth0", label=f"instance {v.key.upper()}",
             addrs=(("eth0", f"{v.gw}/{_len(v.subnet)}"),), routes=(("default", v.router),),
             nft=foreign),
        Host(host, f"VPC {v.key.upper()} host {v.host}", label=f"VPC {v.key.upper()} host",
             addrs=(("eth0", f"{v.host}/{_len(v.subnet)}"),), routes=(("default", v.router),)),
    ), (Link(router, "wan", "inet", f"to-vpc{v.key}"), Link(gw, "eth0", router, "sub-gw"),
        Link(host, "eth0", router, "sub-host"))


def _network_vpc2vpc():
    a_hosts, a_links = _vpc_hosts(VPC_A)
    b_hosts, b_links = _vpc_hosts(VPC_B)
    inet = Host("inet", INET_WHAT, label="internet",
                addrs=(("to-vpca", f"{VPC_A.inet_side}/24"), ("to-vpcb", f"{VPC_B.inet_side}/24")),
                routes=((f"{VPC_A.eip}/32", VPC_A.wan), (f"{VPC_B.eip}/32", VPC_B.wan)),
                router=True)
    return Network((*a_hosts, inet, *b_hosts), (*a_links, *b_links))


def _through_tunnel(nat):
    """hosta and hostb reach each other through the tunnel, true sources kept."""
    return (Ping("hosta", "hostb", "ping, through the tunnel"),
            Ping("hostb", "hosta", "ping, back"),
            Tcp("hosta", "hostb", 22, KEPT, f"TCP, true source (exempted from {nat})"),
            Tcp("hostb", "hosta", 8080, KEPT, "TCP, true source"))


VPC2VPC = Topology(
    name="ipsec-vpc2vpc",
    title="two VPCs joined by libreswan instances, PSK site-to-site, NAT to the internet with "
          "the tunnel exempted (seed 003, guide-ipsec-vpc2vpc.md)",
    network=_network_vpc2vpc(),
    # no client, no kernel route (the IPsec policies carry the traffic): a tunnel up each
    agents=(AgentDesc("gwa", "ipsec-vpc2vpc.conf", tunnels=((VPC_B.eip, VPC_B.cidr),)),
            AgentDesc("gwb", "ipsec-vpc2vpc.conf, mirrored",
                      tunnels=((VPC_A.eip, VPC_A.cidr),))),
    vpns=(), by_hand=(), instance="gwa", vpc_routes=(VPC_B.cidr,),
    nft="NAT exemption, masquerade, forward filter",
    connectivity=(
        *_through_tunnel("both MASQUERADEs"),
        Tcp("hosta", "inet", 7000, VPC_A.eip, addr=VPC_A.inet_side, default_via=VPC_A.gw,
            what=f"TCP to the internet via instance A, masqueraded to {VPC_A.eip}"),
        Tcp("hostb", "inet", 7000, VPC_B.eip, addr=VPC_B.inet_side, default_via=VPC_B.gw,
            what=f"TCP to the internet via instance B, masqueraded to {VPC_B.eip}"),
    ),
)

# seed 002: VPC A (the guide's plan, doc/guide-ipsec-vgw.md) and VPC B behind its VGW
VGW_A = Vpc("a", "192.168.99.0/24", "192.168.99.0/24", "192.168.99.1", "192.168.99.10",
            "192.168.99.20", "198.51.100.1", "100.64.1.2", "100.64.1.1", "strongSwan (charon)")
VGW_PUB, VGW_B_NET, VGW_B_HOST = "203.0.113.10", "10.0.0.0/16", "10.0.0.20"
VGW_INET = "203.0.113.1"
# the recipe's algorithms, both phases (strongswan.connection's keywords)
RECIPE = {"version": 1, "proposals": "aes128-sha1-modp1024",
          "esp_proposals": "aes128-sha1-modp1024", "start_action": "none"}


def _network_vgw():
    a_hosts, a_links = _vpc_hosts(VGW_A)
    # the VGW: nothing from the internet into VPC B outside the tunnel
    wall = """
table inet wall {
    chain fw {
        type filter hook forward priority 0; policy accept;
        iifname "wan" meta ipsec missing drop
    }
}
"""
    hosts = (
        *a_hosts,
        Host("inet", "the internet between VPC A and the VGW", label="internet",
             addrs=(("to-vpca", f"{VGW_A.inet_side}/24"), ("to-vgw", f"{VGW_INET}/24")),
             routes=((f"{VGW_A.eip}/32", VGW_A.wan),), router=True),
        Host("vgw", f"VPC B's virtual private gateway {VGW_PUB} (strongSwan, IKEv1 "
             "aes128-sha1-modp1024): routes VPC B 10.0.0.0/16, drops what comes from the "
             "internet outside the tunnel", label="VGW",
             addrs=(("wan", f"{VGW_PUB}/24"), ("lan", "10.0.0.1/16")),
             routes=(("default", VGW_INET),), router=True, nft=wall),
        Host("hostb", f"VPC B host {VGW_B_HOST}", label="VPC B host",
             addrs=(("eth0", f"{VGW_B_HOST}/16"),), routes=(("default", "10.0.0.1"),)),
    )
    return Network(hosts, (*a_links, Link("inet", "to-vgw", "vgw", "wan"),
                           Link("hostb", "eth0", "vgw", "lan")))


VGW = Topology(
    name="ipsec-vgw",
    title="VPC A's instance (strongSwan) to VPC B's virtual private gateway, IKEv1 with the "
          "recipe's aes128-sha1-modp1024, NAT to the internet with the tunnel exempted (seed "
          "002, guide-ipsec-vgw.md)",
    network=_network_vgw(),
    agents=(AgentDesc("gwa", "ipsec-vgw.conf", tunnels=((VGW_PUB, VGW_B_NET),)),),
    vpns=(), by_hand=(), instance="gwa", vpc_routes=(VGW_B_NET,),
    nft="NAT exemption, masquerade, forward filter",
    connectivity=(
        *_through_tunnel("the MASQUERADE"),
        Tcp("hosta", "inet", 7000, VGW_A.eip, addr=VGW_A.inet_side, default_via=VGW_A.gw,
            what=f"TCP to the internet via the instance, masqueraded to {VGW_A.eip}"),
    ),
)

# seed 004: the hub in VPC A (the guide's plan, doc/guide-ipsec-sites.md) and two
# remote sites with two subnets each, a host in each subnet
HUB = Vpc("a", "10.100.0.0/24", "10.100.0.0/24", "10.100.0.1", "10.100.0.5", "10.100.0.10",
          "198.51.100.1", "100.64.1.2", "100.64.1.1", "strongSwan (charon)")
VPC_NET, VPC_HOST = HUB.cidr, HUB.host
S1_NETS = ("192.168.100.0/24", "192.168.101.0/24")
S2_NETS = ("192.168.102.0/24", "192.168.103.0/24")
S1_HOSTS = ("192.168.100.10", "192.168.101.10")  # a host in each subnet
S2_HOSTS = ("192.168.102.10", "192.168.103.10")
SITES_INET = "203.0.113.254"


@dataclass(frozen=True)
class Site:
    """Remote site n: its gateway site<n> (strongSwan) at pub, a host
    s<n>a, s<n>b in each of its subnets nets (hosts)."""
    n: int
    pub: str
    nets: tuple
    hosts: tuple

    @property
    def name(self):
        return f"site{self.n}"

    def node(self, i):
        return f"s{self.n}{'ab'[i]}"


# the guide's addresses (doc/examples/ipsec-sites.conf's peers)
SITE1 = Site(1, "203.0.113.1", S1_NETS, S1_HOSTS)
SITE2 = Site(2, "203.0.113.2", S2_NETS, S2_HOSTS)
WIDE = "192.168.0.0/16"  # the hub's remote_ts for site 2: the guide's warning
GREEDY = S1_NETS[1]  # site 1's, announced by site 2 too


def _router_of(net):
    return str(ipaddress.ip_network(net)[1])


def _site_hosts(s):
    hosts = [Host(s.name, f"site {s.n}'s gateway {s.pub} (strongSwan): routes "
                  f"{' and '.join(s.nets)}", label=f"site {s.n} gateway",
                  addrs=(("wan", f"{s.pub}/24"),
                         *((f"lan{i}", f"{_router_of(net)}/24")
                           for i, net in enumerate(s.nets, 1))),
                  routes=(("default", SITES_INET),), router=True)]
    links = [Link("inet", f"to-{s.name}", s.name, "wan")]
    for i, (net, ip) in enumerate(zip(s.nets, s.hosts)):
        hosts.append(Host(s.node(i), f"site {s.n} host {ip} ({net})", label=f"site {s.n} host",
                          addrs=(("eth0", f"{ip}/24"),), routes=(("default", _router_of(net)),)))
        links.append(Link(s.node(i), "eth0", s.name, f"lan{i + 1}"))
    return hosts, links


def _network_sites():
    a_hosts, a_links = _vpc_hosts(HUB)
    s1_hosts, s1_links = _site_hosts(SITE1)
    s2_hosts, s2_links = _site_hosts(SITE2)
    inet = Host("inet", "the internet between the VPC and the sites (it knows no private "
                "network)", label="internet",
                addrs=(("to-vpca", f"{HUB.inet_side}/24"), ("br-sites", f"{SITES_INET}/24")),
                routes=((f"{HUB.eip}/32", HUB.wan),), router=True,
                bridges={"br-sites": ("to-site1", "to-site2")})
    return Network((*a_hosts, inet, *s1_hosts, *s2_hosts),
                   (*a_links, *s1_links, *s2_links))


SITES = Topology(
    name="ipsec-sites",
    title="a strongSwan instance in a VPC serving two remote sites, two subnets each, IKEv2 "
          "(seed 004, guide-ipsec-sites.md)",
    network=_network_sites(),
    agents=(AgentDesc("gwa", "ipsec-sites.conf",
                      tunnels=tuple((s.pub, n) for s in (SITE1, SITE2) for n in s.nets)),),
    vpns=(), by_hand=(), instance="gwa", vpc_routes=S1_NETS + S2_NETS,
    nft="NAT exemption, masquerade, forward filter",
    connectivity=(
        Ping("hosta", "s1a", "ping, through site 1's tunnel"),
        Tcp("hosta", "s1b", 22, KEPT, "TCP, true source (exempted from the MASQUERADE)"),
        Tcp("s1a", "hosta", 8080, KEPT, "TCP, true source"),
        Tcp("s1b", "hosta", 8080, KEPT, "TCP, true source"),
        Tcp("s2a", "hosta", 443, KEPT, "TCP 443, true source (site 2's one rule)"),
        Tcp("s2b", "hosta", 443, KEPT, "TCP 443, true source (site 2's one rule)"),
        Tcp("s2a", "hosta", 22, None, "refused: site 2 may open TCP 443 only (to_local)"),
        Tcp("hosta", "s2b", 22, None, "refused: nothing from the VPC to site 2 "
            "(from_local false)"),
        Tcp("hosta", "inet", 7000, HUB.eip, addr=HUB.inet_side, default_via=HUB.gw,
            what=f"TCP to the internet via the instance, masqueraded to {HUB.eip}"),
    ),
)

TOPOLOGIES = {t.name: t for t in (VPC2VPC, VGW, SITES)}
NAMES = tuple(TOPOLOGIES)


def mirrored(conf, me, peer):
    """Instance B's configuration: instance A's (the shipped example) with
    the VPCs swapped. Checks that the example's peer is B's Elastic IP."""
    c = copy.deepcopy(conf)
    (addr, p), = c["ipsec"]["peers"].items()
    if addr != peer.eip or p["allow"] != [peer.cidr] or c["local_networks"] != [me.cidr]:
        raise ValueError(f"doc/examples/ipsec-vpc2vpc.conf no longer matches the lab's plan: "
                         f"peer {addr} {p['allow']}, local {c['local_networks']}")
    c["local_networks"] = [peer.cidr]
    c["ipsec"]["peers"] = {me.eip: {**p, "allow": [me.cidr]}}
    for m in c.get("nat", {}).get("masquerade", []):
        m["sources"] = [peer.cidr]
    return c


def world(vpc, workdir, share=None):
    """VPC vpc in the EC2 emulator (an AwsWorld, in the EC2 API of share when
    given): here, or in the VM of scripts/ipsec-vm made outside it by the
    service at VR_VM_AWS (vrlab/hostaws.py)."""
    url = os.environ.get("VR_VM_AWS")
    kw = {"vpc_cidr": vpc.cidr, "subnet_cidr": vpc.subnet, "instance_ip": vpc.gw,
          "ipsec": True}
    if url:
        from .hostaws import RemoteWorld
        return RemoteWorld(url, f"vpc-{vpc.key}", share=share and share.name, **kw)
    from .emulators import AwsWorld  # boto3: not imported in the VM
    d = os.path.join(workdir, f"vpc-{vpc.key}")
    os.makedirs(d, exist_ok=True)
    w = AwsWorld(d, share=share, **kw)
    w.name = f"vpc-{vpc.key}"
    return w


GCM128 = ("aead", "rfc4106(gcm(aes))", "0x" + "11" * 20, "128")
GCM256 = ("aead", "rfc4106(gcm(aes))", "0x" + "11" * 36, "128")  # pluto's default
CBC_SHA256 = ("enc", "cbc(aes)", "0x" + "11" * 16, "auth-trunc", "hmac(sha256)",
              "0x" + "11" * 32, "128")  # strongswan.connection's default, aes128-sha256
CBC_SHA1 = ("enc", "cbc(aes)", "0x" + "11" * 16, "auth-trunc", "hmac(sha1)", "0x" + "11" * 20,
            "96")  # the VGW recipe's
NAT_T = ("encap", "espinudp", "4500", "4500", "0.0.0.0")


def _esp_probe(*algs):
    """Adds an ESP SA with algs in a namespace of its own; True when the
    kernel took it."""
    ns = f"vr-esp-probe-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        return subprocess.run(["ip", "-n", ns, "xfrm", "state", "add", "src", "192.0.2.1", "dst",
                               "192.0.2.2", "proto", "esp", "spi", "0x1", "mode", "tunnel",
                               *algs], capture_output=True, timeout=300).returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def esp_available():
    """True when this kernel can hold an ESP SA."""
    return _esp_probe(*GCM128)


def warm_esp(*algs):
    """The kernel's crypto for the daemons' ESP (algs, in UDP for NAT
    traversal) instantiated once before they need it: under software
    emulation a first instantiation (modules, self-tests) takes longer than
    IKE waits, and the first SA fails."""
    if not _esp_probe(*algs, *NAT_T):
        raise RuntimeError(f"the kernel refused an ESP SA in UDP with {' '.join(algs[:2])}")


class IpsecLab:
    """An IPsec topology brought up in lab (netns.Lab): its network, its VPCs
    (VPCS; the first in world_a, the others in the same EC2 API), for each
    VPC relays into its instance, the fabric and the agent (CONFS: example
    configurations); then the steps of steps(). Used by scripts/lab
    (demo.py) and tests/lab/test_ipsec_vm_topologies.py."""

    desc = None
    VPCS = ()

    def __init__(self, lab, world_a, workdir):
        self.dir = workdir
        self.topo = build(lab, self.desc.network)
        self.vpcs = {v.key: v for v in self.VPCS}
        self.relays, self.fabrics, self.agents, self.daemons = [], {}, {}, {}
        self.worlds = {}
        for v in self.VPCS:
            self.worlds[v.key] = world_a if not self.worlds else world(v, workdir, world_a)
        confs = self.confs_of()
        for k, v in self.vpcs.items():
            w, node = self.worlds[k], self.topo[f"gw{k}"]
            host = getattr(w, "host", "127.0.0.1")  # RemoteWorld: outside the VM
            ec2 = Relay(node, w.moto.port, target_host=host)
            md = Relay(node, w.imds.port, target_host=host)
            self.relays += [ec2, md]
            self.agents[f"gw{k}"] = Agent(node, os.path.join(workdir, f"gw{k}-agent"), confs[k],
                                          env={"AWS_ENDPOINT_URL_EC2": ec2.url,
                                               "AWS_EC2_METADATA_SERVICE_ENDPOINT": md.url})
            self.fabrics[k] = VpcFabric(self.topo[f"vpc{k}"], w, v.gw, instance_port="sub-gw")

    @property
    def confs(self):
        return {n: a.conf for n, a in self.agents.items()}

    # --- the steps ----------------------------------------------------------------

    def start_agents(self):
        for a in self.agents.values():
            a.start(wait=False)
        for a in self.agents.values():  # the first start loads nftables' modules: slow in the VM
            a.wait_log(r"listening on ", timeout=90)
        return ", ".join(f"{n} ({a.conf})" for n, a in self.agents.items())

    def xfrm_states(self, node):
        """node's ESP SAs (ip xfrm state): one line each, src dst spi encap."""
        out = self.topo[node].run("ip xfrm state").stdout.splitlines()
        lines = []
        for ln in out:
            if ln.startswith("src "):
                lines.append(ln.strip())
            elif lines and ln.strip().startswith(("proto esp", "encap ")):
                lines[-1] += "  " + " ".join(ln.split()[:7])
        if len(lines) < 2:
            raise AssertionError(f"{node}: {len(lines)} SA(s), not 2 (in and out)")
        return Out(True, None, lines)

    def tunnels(self, node):
        """(peer, network, SA, state) of node's agent's IPsec tunnels, from
        `vpcroutectl status --json` (Agent.tunnels without its schema check:
        jsonschema takes long to import in the VM)."""
        st = self.status_json(node)
        return st and sorted((t["peer"], t["network"], t["sa"], t["state"])
                             for t in st["ipsec"]["tunnels"])

    def status_json(self, node):
        """node's agent's `vpcroutectl status --json`, or None."""
        r = subprocess.run([built("agent/vpcroutectl"), "-s", self.agents[node].sock, "status",
                            "--json"], capture_output=True, text=True, timeout=30)
        return None if r.returncode else json.loads(r.stdout)

    def tunnel_up(self, node, peer, net, timeout=60):
        """node's agent lists the tunnel to peer for net up."""
        want = [(peer, net, True, "up")]
        wait_for(f"{node}: tunnel {peer} {net} up", lambda: self.tunnels(node) == want,
                 timeout=timeout)
        return f"{node}: {peer} {net} up"

    def vpc_routes(self, k, timeout=60, want=None):
        """VPC k's route table sends its remote networks (or want) to its
        instance, the source/dest check off."""
        f, want = self.fabrics[k], set(self.remote(k) if want is None else want)
        wait_for(f"VPC {k.upper()}: {', '.join(sorted(want))} -> the instance, source/dest "
                 "check off", lambda: want <= f.routes and f.sdc is False, timeout=timeout)
        return f"VPC {k.upper()}: {', '.join(sorted(want))} -> {self.worlds[k].eni_id}"

    def logs(self):
        out = [(f"vpcroute-agent on {n}", a.log) for n, a in self.agents.items()]
        return out + [(f"IKE daemon on {n}", d.log) for n, d in self.daemons.items()]

    def close(self):
        first = stop_all([*self.daemons.values(), *self.agents.values()])
        for f in self.fabrics.values():
            f.stop()
        for r in self.relays:
            r.stop()
        for k, w in list(self.worlds.items())[1:]:  # the first is the caller's
            w.stop()
        if first:
            raise first


class Vpc2Vpc(IpsecLab):
    """ipsec-vpc2vpc: two VPCs, pluto and the agent on each instance."""

    desc = VPC2VPC
    VPCS = (VPC_A, VPC_B)

    def confs_of(self):
        a = example("ipsec-vpc2vpc.conf")
        return {"a": a, "b": mirrored(a, VPC_A, VPC_B)}

    def remote(self, k):
        return (VPC_B.cidr if k == "a" else VPC_A.cidr,)

    def start_ike(self):
        """pluto on both instances, the guide's conn on each side."""
        warm_esp(*GCM256)
        for k, v in self.vpcs.items():
            peer = self.vpcs["b" if k == "a" else "a"]
            conn = conn_lines(f"vpc-{peer.key}", authby="secret", ikev2="yes", left=v.gw,
                              leftid=v.eip, leftsubnet=v.cidr, right=peer.eip,
                              rightid=peer.eip, rightsubnet=peer.cidr, auto="add")
            self.daemons[f"gw{k}"] = Pluto(self.topo[f"gw{k}"],
                                           os.path.join(self.dir, f"gw{k}-pluto"),
                                           f"vpc-{peer.key}", conn, (v.eip, peer.eip),
                                           PSK).start()
        return "pluto --config/--rundir/--nssdir of its own on gwa and gwb"

    def steps(self):
        a, b = VPC_A, VPC_B
        return [
            ("vpcroute-agent on gwa from doc/examples/ipsec-vpc2vpc.conf, on gwb from its "
             "mirror image", self.start_agents),
            ("libreswan's pluto on gwa and gwb, each with its own --config, --rundir, --nssdir "
             "(conn: authby=secret, ikev2, the Elastic IPs as IDs)", self.start_ike),
            (f"gwa initiates: IKEv2 to {b.eip} through both internet gateways (NAT "
             "traversal); the ESP SAs on gwa",
             lambda: self.daemons["gwa"].initiate() or self.xfrm_states("gwa")),
            (f"the agents follow the kernel's XFRM tables: gwa's tunnel to {b.eip} ({b.cidr}) "
             f"and gwb's to {a.eip} ({a.cidr}) up",
             lambda: self.tunnel_up("gwa", b.eip, b.cidr) + "; "
             + self.tunnel_up("gwb", a.eip, a.cidr)),
            (f"the agents drove the EC2 API: VPC A routes {b.cidr}, VPC B {a.cidr} to its "
             "instance", lambda: self.vpc_routes("a") + "; " + self.vpc_routes("b")),
        ]


class Vgw(IpsecLab):
    """ipsec-vgw: VPC A's instance (strongSwan, the agent) to VPC B's VGW
    (strongSwan), IKEv1 with the recipe's algorithms."""

    desc = VGW
    VPCS = (VGW_A,)

    def confs_of(self):
        return {"a": example("ipsec-vgw.conf")}

    def remote(self, k):
        return (VGW_B_NET,)

    def start_ike(self):
        """charon on the VGW and on the instance; the instance's connection as
        the guide writes it (remote_addrs only, its Elastic IP as its ID)."""
        warm_esp(*CBC_SHA1)
        a = VGW_A
        vgw = strongswan.connection("vpn", VGW_PUB, a.eip, VGW_B_NET, a.cidr, **RECIPE)
        inst = re.sub(r"\n *local_addrs = .*", "",
                      strongswan.connection("tunnel1", a.eip, VGW_PUB, a.cidr, VGW_B_NET,
                                            **RECIPE))
        self.daemons["vgw"] = strongswan.Charon(self.topo["vgw"],
                                                os.path.join(self.dir, "vgw-charon"),
                                                vgw).start()
        self.daemons["gwa"] = strongswan.Charon(self.topo["gwa"],
                                                os.path.join(self.dir, "gwa-charon"),
                                                inst).start()
        return "charon with its own strongswan.conf, swanctl.conf and VICI socket on each"

    def initiate(self):
        c = self.daemons["gwa"]
        c.initiate("tunnel1")
        sas = c.swanctl("--list-sas").stdout
        lines = [ln.strip() for ln in sas.splitlines()
                 if "IKEv1" in ln or "MODP_1024" in ln]
        if not any("IKEv1" in ln for ln in lines) or not any("ESP" in ln for ln in lines):
            raise AssertionError(f"not IKEv1 with the recipe's algorithms:\n{sas}")
        return Out(True, None, lines + self.xfrm_states("gwa").lines)

    def steps(self):
        a = VGW_A
        return [
            ("vpcroute-agent on gwa from doc/examples/ipsec-vgw.conf", self.start_agents),
            ("strongSwan's charon on the VGW and on gwa (proposals aes128-sha1-modp1024, "
             "IKEv1, both phases)", self.start_ike),
            (f"gwa initiates: IKEv1 to the VGW {VGW_PUB} through VPC A's internet gateway "
             "(NAT traversal); its SAs", self.initiate),
            (f"the agent follows the kernel's XFRM tables: gwa's tunnel to {VGW_PUB} "
             f"({VGW_B_NET}) up", lambda: self.tunnel_up("gwa", VGW_PUB, VGW_B_NET)),
            (f"the agent drove the EC2 API: VPC A {a.cidr} routes {VGW_B_NET} to the instance",
             lambda: self.vpc_routes("a")),
        ]


class Sites(IpsecLab):
    """ipsec-sites: the hub (strongSwan, the agent) in VPC A serving two
    remote sites (strongSwan gateways) over IKEv2; the sites initiate."""

    desc = SITES
    VPCS = (HUB,)

    def confs_of(self):
        return {"a": example("ipsec-sites.conf")}

    def remote(self, k):
        return S1_NETS + S2_NETS

    def start_ike(self):
        """charon on the hub, one connection per site (the hub's Elastic IP
        as its ID, no local_addrs: it answers behind the internet gateway),
        and on each site's gateway; site 2's connection has a second
        CHILD_SA for site 1's GREEDY."""
        warm_esp(*CBC_SHA256)
        hub = [re.sub(r"\n *local_addrs = .*", "",
                      strongswan.connection(s.name, HUB.eip, s.pub, VPC_NET,
                                            WIDE if s is SITE2 else s.nets))
               for s in (SITE1, SITE2)]
        self.daemons["gwa"] = strongswan.Charon(self.topo["gwa"],
                                                os.path.join(self.dir, "gwa-charon"),
                                                *hub).start()
        for s in (SITE1, SITE2):
            more = (("greedy", GREEDY, VPC_NET),) if s is SITE2 else ()
            conn = strongswan.connection("hub", s.pub, HUB.eip, s.nets, VPC_NET,
                                         more_children=more)
            self.daemons[s.name] = strongswan.Charon(self.topo[s.name],
                                                     os.path.join(self.dir, f"{s.name}-charon"),
                                                     conn).start()
        return "charon with its own strongswan.conf, swanctl.conf and VICI socket on each"

    def site_up(self, site, *children):
        """site initiates children (its IKE_SA to the hub's Elastic IP);
        the hub's SAs for it."""
        c = self.daemons[site.name]
        for child in children:
            c.initiate(child)
        return Out(True, None, [ln for ln in self.xfrm_states("gwa").lines if site.pub in ln])

    def _tunnels_are(self, want, timeout=60):
        wait_for(f"gwa: tunnels {want}", lambda: self.tunnels("gwa") == sorted(want),
                 timeout=timeout)

    def greedy_refused(self):
        """The agent lists site 2's GREEDY refused, its own subnets up and
        routed; no VPC route for GREEDY."""
        up = [(SITE2.pub, n, True, "up") for n in SITE2.nets]
        self._tunnels_are(up + [(SITE2.pub, GREEDY, True, "refused")])
        self.vpc_routes("a", want=SITE2.nets)
        refusal = next(t["refusal"] for t in self.status_json("gwa")["ipsec"]["tunnels"]
                       if t["network"] == GREEDY)
        table = self.fabrics["a"].routes
        if GREEDY in table:
            raise AssertionError(f"VPC A routes {GREEDY}: {sorted(table)}")
        return Out(True, f"VPC A: {', '.join(sorted(table & set(self.remote('a'))))} -> "
                   f"{self.worlds['a'].eni_id}, no route {GREEDY}",
                   [f"{SITE2.pub} {GREEDY} refused: {refusal}"])

    def greedy_down(self):
        self.daemons[SITE2.name].terminate("greedy")
        self._tunnels_are([(SITE2.pub, n, True, "up") for n in SITE2.nets])
        return f"gwa: {GREEDY} gone from the kernel's policies and the agent's tunnels"

    def all_up(self):
        self._tunnels_are([(s.pub, n, True, "up") for s in (SITE1, SITE2) for n in s.nets])
        return "; ".join(f"{s.pub} {' '.join(s.nets)} up" for s in (SITE1, SITE2))

    def steps(self):
        a = HUB
        return [
            ("vpcroute-agent on gwa from doc/examples/ipsec-sites.conf", self.start_agents),
            (f"strongSwan's charon on gwa (the hub: a connection per site; site 2's remote_ts "
             f"{WIDE}, the guide's warning) and on site1 and site2", self.start_ike),
            (f"site2 initiates: IKEv2 to the hub {a.eip} (NAT traversal), its subnets "
             f"{' '.join(SITE2.nets)} and site 1's {GREEDY}; the hub's SAs",
             lambda: self.site_up(SITE2, "hub", "greedy")),
            (f"site 2 announces site 1's {GREEDY}: the agent refuses it "
             f"(ipsec.peers.{SITE2.pub}.allow), routes only site 2's own subnets",
             self.greedy_refused),
            ("site2 takes that CHILD_SA down (swanctl --terminate --child greedy)",
             self.greedy_down),
            (f"site1 initiates: IKEv2 to the hub {a.eip}, its subnets {' '.join(SITE1.nets)}",
             lambda: self.site_up(SITE1, "hub")),
            ("the agent follows the kernel's XFRM tables: both sites' subnets up", self.all_up),
            (f"the agent drove the EC2 API: VPC A {a.cidr} routes the four subnets to the "
             "instance", lambda: self.vpc_routes("a")),
        ]


LABS = {c.desc.name: c for c in (Vpc2Vpc, Vgw, Sites)}
