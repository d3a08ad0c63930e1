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

ipsec-sites (seed 004) is declared (REFUSED) and refused with its reason.
"""
import copy
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
from .product import example
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

# declared, not runnable yet: name -> (title, what is missing)
REFUSED = {
    "ipsec-sites": ("a strongSwan instance in a VPC serving two remote sites, two subnets "
                    "each (seed 004)",
                    "its network and proof are not written yet (strongSwan itself runs in the "
                    "VM: tests/lab/test_ipsec_vm_sites.py plays the recipe without the EC2 "
                    "emulator)"),
}
TOPOLOGIES = {t.name: t for t in (VPC2VPC, VGW)}
NAMES = (*TOPOLOGIES, *REFUSED)


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
    w = AwsWorld(os.path.join(workdir, f"vpc-{vpc.key}"), share=share, **kw)
    w.name = f"vpc-{vpc.key}"
    return w


GCM128 = ("aead", "rfc4106(gcm(aes))", "0x" + "11" * 20, "128")
GCM256 = ("aead", "rfc4106(gcm(aes))", "0x" + "11" * 36, "128")  # pluto's default
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
        r = subprocess.run([built("agent/vpcroutectl"), "-s", self.agents[node].sock, "status",
                            "--json"], capture_output=True, text=True, timeout=30)
        if r.returncode:
            return None
        return sorted((t["peer"], t["network"], t["sa"], t["state"])
                      for t in json.loads(r.stdout)["ipsec"]["tunnels"])

    def tunnel_up(self, node, peer, net, timeout=60):
        """node's agent lists the tunnel to peer for net up."""
        want = [(peer, net, True, "up")]
        wait_for(f"{node}: tunnel {peer} {net} up", lambda: self.tunnels(node) == want,
                 timeout=timeout)
        return f"{node}: {peer} {net} up"

    def vpc_routes(self, k, timeout=60):
        """VPC k's route table sends its remote networks to its instance, the
        source/dest check off."""
        f, want = self.fabrics[k], set(self.remote(k))
        wait_for(f"VPC {k.upper()}: {', '.join(sorted(want))} -> the instance, source/dest "
                 "check off", lambda: want <= f.routes and f.sdc is False, timeout=timeout)
        return f"VPC {k.upper()}: {', '.join(sorted(want))} -> {self.worlds[k].eni_id}"

    def logs(self):
        out = [(f"vpcroute-agent on {n}", a.log) for n, a in self.agents.items()]
        return out + [(f"IKE daemon on {n}", d.log) for n, d in self.daemons.items()]

    def close(self):
        first = None
        for o in [*self.daemons.values(), *self.agents.values()]:
            try:
                o.stop()
            except Exception as e:  # noqa: BLE001 - raised after the rest is stopped
                first = first or e
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


LABS = {c.desc.name: c for c in (Vpc2Vpc, Vgw)}
