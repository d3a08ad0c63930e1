# SPDX-License-Identifier: GPL-2.0-or-later
"""Topologies A, B and C run by vpcroute, from the example configurations.

Topology A: agent and plugin on the EC2 instance (server role) and the Pi
(client role). Topology B: agent and plugin on the EC2 instance, which is
the OpenVPN client of a branch office server. Topology C: A's nodes, with
the EC2 instance run from the road warriors' example, and road warriors
(OpenVPN clients without vpcroute) besides the Pi.

Nothing is hand-written on the nodes vpcroute runs on: they run from the
example configurations in doc/examples/ (only the socket path is moved into
the run's directory, and in B the example's route table id is the
emulator's). With the AWS emulators (aws=AwsWorld), the EC2 instance's agent
also drives the emulated EC2 API, and the VPC fabric (fabric.py) makes the
VPC router obey its route table and source/dest check. What stays by hand
belongs to the outside world: in A the home router's static route to the Pi,
in B the branch office's OpenVPN server, in C the home router's static route
to the tunnel pool via the Pi and the road warriors' laptops, and without
the emulators the VPC route table entries.
"""
import copy
import ipaddress
import json
import os
import time

from . import topology as T
from .agent import Agent
from .build import plugin_so
from .fabric import VpcFabric
from .nsport import Relay
from .openvpn import OpenVPN, client_lines, server_lines

EXAMPLES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "doc",
                                        "examples"))


def example(name):
    """A configuration that ships in doc/examples/, as a dict."""
    with open(os.path.join(EXAMPLES, name)) as f:
        c = json.load(f)
    c.pop("socket", None)  # each run has its own socket (vrlab.agent.Agent)
    return c

FROM_VPC_TO_HOME = [{"to": "192.168.1.140/32", "proto": "tcp", "ports": [22]},
                    {"to": "192.168.1.128/25", "proto": "icmp"}]

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

PI_CONF = {
    "version": 1, "role": "client",
    "local_networks": ["192.168.1.0/24"],
    "accept_routes": ["10.1.0.0/16"],
    "from_local": True,
    "to_local": FROM_VPC_TO_HOME,
    "plugin": {"reconnect_max_ms": 300},
}


def _net_mask(net):
    """"172.16.10.0/24" -> "172.16.10.0 255.255.255.0" (OpenVPN's form)."""
    n = ipaddress.ip_network(net)
    return f"{n.network_address} {n.netmask}"


class _AwsSide:
    """The EC2 instance's way to the emulated AWS (relays into its namespace)
    and the VPC fabric that makes the VPC router follow the emulator."""

    def _aws_init(self, topo, aws):
        self.relays, self.fabric = [], None
        if not aws:
            return {}
        self.relays = [Relay(topo.ec2, aws.moto.port), Relay(topo.ec2, aws.imds.port)]
        self.fabric = VpcFabric(topo.vpc, aws, T.EC2_IP)
        return {"AWS_ENDPOINT_URL_EC2": self.relays[0].url,
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.relays[1].url}

    def _wait_vpc_route(self, net, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if net in self.fabric.routes and self.fabric.sdc is False:
                return
            time.sleep(0.1)
        raise AssertionError(f"VPC route {net} -> instance not there within {timeout}s: "
                             f"{sorted(self.fabric.routes)}, source/dest check "
                             f"{self.fabric.sdc}; fabric errors {self.fabric.errors[-3:]}")

    def _close(self, vpns, agents):
        """Stops everything, then raises the first error (a sanitizer report)."""
        first = None
        for o in list(vpns) + list(agents):
            if not o:
                continue
            try:
                o.stop()
            except Exception as e:  # noqa: BLE001 - raised after the rest is stopped
                first = first or e
        if self.fabric:
            self.fabric.stop()
        for r in self.relays:
            r.stop()
        if first:
            raise first


class ProductA(_AwsSide):
    """server_conf/pi_conf: dicts, or None for the shipped examples. Without
    aws the server's aws section is dropped and the VPC route is by hand."""

    def __init__(self, topo, pki, workdir, server_conf=None, pi_conf=None, grace=0, aws=None):
        self.topo, self.pki, self.dir, self.aws = topo, pki, workdir, aws
        server_conf = copy.deepcopy(server_conf or example("topology-a-server.conf"))
        pi_conf = copy.deepcopy(pi_conf or example("topology-a-pi.conf"))
        env = self._aws_init(topo, aws)
        if not aws:
            server_conf.pop("aws", None)
        self.server_agent = Agent(topo.ec2, os.path.join(workdir, "ec2-agent"), server_conf,
                                  grace=grace, env=env)
        self.pi_agent = Agent(topo.pi, os.path.join(workdir, "pi-agent"), pi_conf, grace=grace)
        self.server = self.client = None

    def start_agents(self):
        self.server_agent.start()
        self.pi_agent.start()

    def start_server(self):
        self.server = OpenVPN(self.topo.ec2, os.path.join(self.dir, "server"), "server",
                              server_lines(self.pki, *self.pki.server, local=T.EC2_IP, extra=[
                                  f"plugin {plugin_so()} {self.server_agent.conf} "
                                  "instance=server"])).start()
        self.server.wait_up()

    def start_client(self):
        cert, key = self.pki.issue("pi-home")
        self.client = OpenVPN(self.topo.pi, os.path.join(self.dir, "pi"), "pi", client_lines(
            self.pki, cert, key, remote=T.EC2_PUBLIC,
            extra=[f"plugin {plugin_so()} {self.pi_agent.conf} instance=pi"])).start()
        self.client.wait_up()

    def outside_world(self):
        """The parts vpcroute does not own in this lab: the home router's
        static route, and without the emulators the VPC route table entry."""
        if not self.aws:
            self.topo.vpc_route(T.LAN_ANNOUNCED)
        self.topo.home_route(T.VPC_CIDR)

    def wait_vpc_route(self, net=T.LAN_ANNOUNCED, timeout=30):
        """Until the emulated VPC routes net to the instance (the fabric
        follows moto's route table) with the source/dest check off."""
        self._wait_vpc_route(net, timeout)

    def up(self):
        self.start_agents()
        self.start_server()
        self.start_client()
        self.outside_world()
        self.server_agent.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
        if self.aws:
            self.wait_vpc_route()
        return self

    def close(self):
        self._close((self.client, self.server), (self.pi_agent, self.server_agent))


class ProductB(_AwsSide):
    """Topology B: the EC2 instance is the OpenVPN client ("vpc-router") of the
    branch office's server on bgw, which pushes its LANs.

    ec2_conf: a dict, or None for doc/examples/topology-b-ec2-client.conf;
    with aws its route table id becomes the emulator's (the example's is a
    placeholder), without aws the aws section is dropped and "auto" local
    networks (which come from IMDS) become the VPC's CIDR. pushed: what the
    branch server pushes (by default its LAN, and one network outside the
    example's accept_routes, which the agent must leave alone). The branch
    server is the outside world, configured as its owner would: it pushes
    those routes and routes the VPC (iroute in its CCD file) to the client.
    """

    def __init__(self, topo, pki, workdir, ec2_conf=None, grace=0, aws=None,
                 pushed=(T.BRANCH_LAN, T.BRANCH_NOT_ACCEPTED)):
        self.topo, self.pki, self.dir, self.aws = topo, pki, workdir, aws
        self.pushed = list(pushed)
        conf = copy.deepcopy(ec2_conf or example("topology-b-ec2-client.conf"))
        env = self._aws_init(topo, aws)
        if aws:
            if conf.get("aws", {}).get("route_tables", "auto") != "auto":
                conf["aws"]["route_tables"] = [aws.rtb_id]
        else:
            conf.pop("aws", None)
            if conf.get("local_networks") == "auto":
                conf["local_networks"] = [T.VPC_CIDR]
        self.agent = Agent(topo.ec2, os.path.join(workdir, "ec2-agent"), conf, grace=grace,
                           env=env)
        self.branch = self.client = None

    def start_branch(self):
        """The branch office's OpenVPN server on bgw (not vpcroute)."""
        if not getattr(self.pki, "server", None):
            self.pki.server = self.pki.issue("server", server=True)
        ccd = os.path.join(self.dir, "branch-ccd")
        os.makedirs(ccd, exist_ok=True)
        with open(os.path.join(ccd, T.BRANCH_CLIENT_CN), "w") as f:
            f.write(f"iroute {_net_mask(T.VPC_CIDR)}\n")
        self.branch = OpenVPN(self.topo.bgw, os.path.join(self.dir, "branch"), "branch",
                              server_lines(self.pki, *self.pki.server, local=T.BRANCH_GW_WAN,
                                           pool=_net_mask(T.BRANCH_POOL), extra=[
                                               f"client-config-dir {ccd}",
                                               f"route {_net_mask(T.VPC_CIDR)}",
                                               *(f'push "route {_net_mask(n)}"'
                                                 for n in self.pushed)])).start()
        self.branch.wait_up()

    def start_agent(self):
        self.agent.start()

    def start_client(self):
        cert, key = self.pki.issue(T.BRANCH_CLIENT_CN)
        self.client = OpenVPN(self.topo.ec2, os.path.join(self.dir, "ec2"), "ec2", client_lines(
            self.pki, cert, key, remote=T.BRANCH_GW_WAN,
            extra=["route-noexec",
                   f"plugin {plugin_so()} {self.agent.conf} instance=branch"])).start()
        self.client.wait_up()

    def outside_world(self):
        """Without the emulators, the VPC route table entry by hand."""
        if not self.aws:
            self.topo.vpc_route(T.BRANCH_LAN)

    def wait_routes(self, timeout=10):
        """Until the agent installed the branch LAN the server pushed."""
        self.agent.wait_log(r"route " + T.BRANCH_LAN.replace(".", r"\.") + " dev tun0 added",
                            timeout)

    def wait_vpc_route(self, net=T.BRANCH_LAN, timeout=30):
        """Until the emulated VPC routes net to the instance with the
        source/dest check off."""
        self._wait_vpc_route(net, timeout)

    def up(self):
        self.start_branch()
        self.start_agent()
        self.start_client()
        self.outside_world()
        self.wait_routes()
        if self.aws:
            self.wait_vpc_route()
        return self

    def close(self):
        self._close((self.client, self.branch), (self.agent,))


class ProductC(ProductA):
    """Topology C: road warriors. The EC2 instance runs from
    doc/examples/topology-c-road-warriors.conf ("strict": false, a
    default_client for the road warriors that pushes the VPC subnet and the
    home network, and pi-home's entry), the Pi as in A from
    doc/examples/topology-a-pi.conf; the road warriors are OpenVPN clients
    with certificates of their own common names and no plugin, admitted by
    default_client.

    server_conf/pi_conf: dicts, or None for the shipped examples.
    warriors: [(node, common name)].
    """

    def __init__(self, topo, pki, workdir, server_conf=None, pi_conf=None, grace=0, aws=None,
                 warriors=None):
        super().__init__(topo, pki, workdir,
                         server_conf=server_conf or example("topology-c-road-warriors.conf"),
                         pi_conf=pi_conf, grace=grace, aws=aws)
        self.warriors = list(warriors if warriors is not None else
                             [(node, cn) for node, cn, _ in topo.warriors()])
        self.rw = {}  # common name -> OpenVPN

    def start_road_warriors(self):
        """Each road warrior's OpenVPN client, no plugin; until each is up."""
        for node, cn in self.warriors:
            cert, key = self.pki.issue(cn)
            self.rw[cn] = OpenVPN(node, os.path.join(self.dir, cn), cn, client_lines(
                self.pki, cert, key, remote=T.EC2_PUBLIC)).start()
        for c in self.rw.values():
            c.wait_up()

    def tunnel_address(self, cn):
        """The address the server gave the road warrior (its tun0)."""
        node = self.rw[cn].node
        out = node.run("ip -j -4 addr show dev tun0").stdout
        for link in json.loads(out or "[]"):
            for a in link.get("addr_info", []):
                return a["local"]
        return None

    def outside_world(self):
        """The home router's static route to the tunnel pool via the Pi (the
        home host's answers to the road warriors), and without the
        emulators the VPC route table entries."""
        if not self.aws:
            self.topo.vpc_route(T.LAN_ANNOUNCED)
            self.topo.vpc_route(T.POOL)
        self.topo.home_route(T.POOL)

    def wait_vpc_route(self, net=T.LAN_ANNOUNCED, timeout=30):
        """Until the emulated VPC routes net and the pool to the instance
        with the source/dest check off."""
        self._wait_vpc_route(net, timeout)
        self._wait_vpc_route(T.POOL, timeout)

    def up(self):
        super().up()
        self.start_road_warriors()
        return self

    def close(self):
        self._close(list(self.rw.values()) + [self.client, self.server],
                    (self.pi_agent, self.server_agent))
