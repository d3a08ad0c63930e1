# SPDX-License-Identifier: GPL-2.0-or-later
"""A topology of topologies.py run by vpcroute, from the example configurations.

Product runs what a description names: its agents, each from its example in
doc/examples/, and its OpenVPN servers and clients (with vpcroute.so where
the description says so); the outside world's static routes by hand.

Nothing is hand-written on the nodes vpcroute runs on: they run from the
example configurations (only the socket path is moved into the run's
directory, and a fixed route table id in an example becomes the emulator's).
With the AWS emulators (aws=AwsWorld), the instance's agent also drives the
emulated EC2 API, and the VPC fabric (fabric.py) makes the VPC router obey
its route table and source/dest check; without them the aws sections are
dropped, "auto" local networks become the VPC's CIDR, and the VPC route
table entries are made by hand.

ProductA is topology A under the names its tests use (server_agent,
pi_agent, server, client).
"""
import copy
import ipaddress
import json
import os
import time

from . import topology as T
from .agent import Agent, AgentError
from .build import plugin_so
from .fabric import VpcFabric
from .nsport import Relay
from .openvpn import OpenVPN, client_lines, server_lines
from .topologies import A, Client, Tunnel, vpn_name

EXAMPLES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "doc",
                                        "examples"))


def example(name):
    """A configuration that ships in doc/examples/, as a dict."""
    with open(os.path.join(EXAMPLES, name)) as f:
        c = json.load(f)
    c.pop("socket", None)  # each run has its own socket (vrlab.agent.Agent)
    return c


def ipsec_example(name, peers, out_interface):
    """An IPsec example of doc/examples/ for the IPsec VM lab, which has no
    EC2: its aws section dropped, its peers' addresses (the guide's) replaced
    by the lab's (peers: {guide's: lab's}, every one of them), its
    masquerades' interface by out_interface."""
    c = example(name)
    c.pop("aws", None)
    have = c["ipsec"]["peers"]
    assert set(peers) == {k for k in have if not k.startswith("_")}, (name, sorted(have))
    for doc, lab in peers.items():
        have[lab] = have.pop(doc)
    for m in c.get("nat", {}).get("masquerade", []):
        m["out_interface"] = out_interface
    return c


FROM_VPC_TO_HOME = [{"to": "192.168.1.140/32", "proto": "tcp", "ports": [22]},
                    {"to": "192.168.1.128/25", "proto": "icmp"}]

# Topology A's server without the aws section, for tests that change it.
SERVER_CONF = {
    "version": 1, "role": "server",
    "local_networks": ["10.1.1.0/24"],
    "tunnel": {"pool": "10.1.2.0/24"},
    "strict": True,
    "clients": {
        "pi-home": {"allow": ["192.168.1.0/24"], "iroutes": ["192.168.1.128/25"],
                    "address": "10.1.2.10", "push_routes": ["10.1.1.0/24"],
                    "to_local": True, "from_local": FROM_VPC_TO_HOME},
    },
    "nat": {"masquerade": [{"sources": ["10.1.1.0/24"], "out_interface": "eth0"}]},
    "plugin": {"reconnect_max_ms": 300},
}


def net_mask(net):
    """"172.16.10.0/24" -> "172.16.10.0 255.255.255.0" (OpenVPN's form)."""
    n = ipaddress.ip_network(net)
    return f"{n.network_address} {n.netmask}"


def stop_all(objs):
    """Stops each of objs (their stop()) whatever the ones before raised; the
    first exception (a sanitizer report), for the caller to raise once the
    rest is stopped, or None."""
    first = None
    for o in objs:
        try:
            o.stop()
        except Exception as e:  # noqa: BLE001 - raised after the rest is stopped
            first = first or e
    return first


class Product:
    """desc's processes on topo. confs: {node: configuration dict} instead
    of an agent's example."""

    def __init__(self, desc, topo, pki, workdir, aws=None, confs=None, grace=0,
                 route_server=False):
        self.desc, self.topo, self.pki, self.dir, self.aws = desc, topo, pki, workdir, aws
        self.relays, self.fabric = [], None
        env = {}
        if aws:
            inst = topo[desc.instance]
            self.relays = [Relay(inst, aws.moto.port), Relay(inst, aws.imds.port)]
            # route_server: the fabric's routes come from BGP (vrlab/bird.py), not the table
            self.fabric = VpcFabric(topo[desc.vpc_router], aws, desc.host(desc.instance).ip,
                                    follow_routes=not route_server)
            env = {"AWS_ENDPOINT_URL_EC2": self.relays[0].url,
                   "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.relays[1].url}
        self.confs = {}
        self.agents = {}  # node -> Agent, in the description's order
        for a in desc.agents:
            conf = copy.deepcopy((confs or {}).get(a.node) or example(a.example))
            self._adapt(conf)
            self.confs[a.node] = conf
            self.agents[a.node] = Agent(topo[a.node], os.path.join(workdir, f"{a.node}-agent"),
                                        conf, grace=grace,
                                        env=env if a.node == desc.instance else None)
        self.vpns = {}  # name -> OpenVPN, as started

    def _adapt(self, conf):
        aws = conf.get("aws")
        if self.aws:
            if aws and aws.get("route_tables", "auto") != "auto":
                aws["route_tables"] = [self.aws.rtb_id]  # the example's is a placeholder
        else:
            conf.pop("aws", None)
            if conf.get("local_networks") == "auto":  # from IMDS
                conf["local_networks"] = [T.VPC_CIDR]

    # --- starting ------------------------------------------------------------------

    def start_agents(self):
        for a in self.agents.values():
            a.start()

    def vpn_lines(self, v):
        """The OpenVPN configuration of description v (a Server or Client)."""
        extra = []
        agent = self.agents.get(v.node)
        if v.plugin:
            extra.append(f"plugin {plugin_so()} {agent.conf} instance={v.plugin}")
        if isinstance(v, Client):
            cert, key = self.pki.issue(v.cn)
            server = self.desc.vpn(v.server)
            return client_lines(self.pki, cert, key, remote=server.public,
                                extra=[*v.options, *extra])
        if v.iroutes:
            ccd = os.path.join(self.dir, f"{v.name}-ccd")
            os.makedirs(ccd, exist_ok=True)
            for cn, nets in v.iroutes.items():
                with open(os.path.join(ccd, cn), "w") as f:
                    f.write("".join(f"iroute {net_mask(n)}\n" for n in nets))
            extra.append(f"client-config-dir {ccd}")
        extra += [f"route {net_mask(n)}" for n in v.routes]
        extra += [f'push "route {net_mask(n)}"' for n in v.push]
        if not getattr(self.pki, "server", None):
            self.pki.server = self.pki.issue("server", server=True)
        kw = {"pool": net_mask(v.pool)} if v.pool else {}
        return server_lines(self.pki, *self.pki.server, local=v.local, extra=extra, **kw)

    def start_vpn(self, name):
        """Starts the OpenVPN process of the description named name (again,
        when it was stopped) and waits until it is up."""
        v = self.desc.vpn(name)
        vpn = self.vpns[name] = OpenVPN(self.topo[v.node], os.path.join(self.dir, name), name,
                                        self.vpn_lines(v))
        vpn.start().wait_up()
        return vpn

    def static_route(self, r):
        """A StaticRoute of the description, set by hand."""
        self.topo[r.node].run(f"ip route replace {r.net} via {r.via} dev {r.dev}")

    def outside_world(self):
        """The static routes the outside world has by hand, and without the
        emulators the VPC route table entries."""
        if not self.aws:
            via = self.desc.host(self.desc.instance).ip
            for net in self.desc.vpc_routes:
                self.topo[self.desc.vpc_router].run(f"ip route replace {net} via {via} dev br0")
        for r in self.desc.by_hand:
            self.static_route(r)

    def wait_kernel_routes(self, node, timeout=10):
        """Until node's agent has exactly the description's routes in the
        kernel (ip route show proto 212); returns them."""
        want = sorted(next(a for a in self.desc.agents if a.node == node).routes)
        agent = self.agents[node]
        deadline = time.time() + timeout
        while True:
            got = agent.routes()
            if got == want:
                return got
            if agent.proc and agent.proc.poll() is not None:
                raise AgentError(f"agent on {node} exited {agent.proc.returncode}")
            if time.time() > deadline:
                raise AssertionError(f"{node}: kernel routes of the agent {got or 'none'}, "
                                     f"not {want or 'none'}, within {timeout}s")
            time.sleep(0.05)

    def wait_vpc_routes(self, timeout=30):
        """Until the emulated VPC routes the description's networks to the
        instance (the fabric follows moto's route table) with the
        source/dest check off."""
        want = set(self.desc.vpc_routes)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if want <= self.fabric.routes and self.fabric.sdc is False:
                return sorted(self.fabric.routes)
            time.sleep(0.1)
        raise AssertionError(f"VPC routes {sorted(want)} -> instance not there within "
                             f"{timeout}s: {sorted(self.fabric.routes)}, source/dest check "
                             f"{self.fabric.sdc}; fabric errors {self.fabric.errors[-3:]}")

    def up(self):
        """All of it, in the description's order, until it is up."""
        self.start_agents()
        for v in self.desc.vpns:
            self.start_vpn(vpn_name(v))
        self.outside_world()
        for node in self.agents:
            self.wait_kernel_routes(node)
        if self.aws:
            self.wait_vpc_routes()
        return self

    # --- what is up ------------------------------------------------------------------

    def tunnel_address(self, node):
        """The address the server gave the OpenVPN client on node (its tun0)."""
        out = self.topo[node].run("ip -j -4 addr show dev tun0").stdout
        for link in json.loads(out or "[]"):
            for a in link.get("addr_info", []):
                return a["local"]
        return None

    def address(self, x):
        """An address of a description: as written, or a Tunnel's."""
        return self.tunnel_address(x.node) if isinstance(x, Tunnel) else x

    def close(self):
        """Stops everything, then raises the first error (a sanitizer report)."""
        first = stop_all([*getattr(self, "extra", ()), *reversed(self.vpns.values()),
                          *reversed(self.agents.values())])
        if self.fabric:
            self.fabric.stop()
        for r in self.relays:
            r.stop()
        if first:
            raise first


class ProductA(Product):
    """Topology A. server_conf/pi_conf: dicts, or None for the shipped
    examples."""

    def __init__(self, topo, pki, workdir, server_conf=None, pi_conf=None, grace=0, aws=None,
                 route_server=False):
        super().__init__(A, topo, pki, workdir, aws=aws, grace=grace,
                         confs={"ec2": server_conf, "pi": pi_conf}, route_server=route_server)
        self.extra = []  # road warriors (road_warrior)

    server_agent = property(lambda self: self.agents["ec2"])
    pi_agent = property(lambda self: self.agents["pi"])
    client = property(lambda self: self.vpns.get("pi"))

    @property
    def server(self):
        return self.vpns.get("server")

    @server.setter
    def server(self, vpn):  # a test's own server in place of the description's
        self.vpns["server"] = vpn

    def start_server(self):
        self.start_vpn("server")

    def start_client(self):
        self.start_vpn("pi")

    def road_warrior(self, cn):
        """An OpenVPN client with certificate cn on a road-warrior node of its
        own, connecting to the server; started, not waited for. It is
        stopped with the rest (close)."""
        n = len(self.extra) + 1
        node = self.topo.road_warrior(f"rw{n}", n)
        cert, key = self.pki.issue(cn)
        c = OpenVPN(node, f"{self.dir}/{cn}", cn, client_lines(
            self.pki, cert, key, remote=T.EC2_PUBLIC, extra=["auth-retry none"])).start()
        self.extra.append(c)
        return c
