# SPDX-License-Identifier: GPL-2.0-or-later
"""Topology A run by vpcroute: agent and plugin on the EC2 instance and the Pi.

Nothing is hand-written on those two nodes: both run from the example
configurations in doc/examples/ (only the socket path is moved into the run's
directory). With the AWS emulators (aws=AwsWorld), the EC2 instance's agent
also drives the emulated EC2 API, and the VPC fabric (fabric.py) makes the
VPC router obey its route table and source/dest check. What stays by hand
belongs to the outside world: the home router's static route to the Pi, and
without the emulators the VPC route table entry.
"""
import copy
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


class ProductA:
    """server_conf/pi_conf: dicts, or None for the shipped examples. Without
    aws the server's aws section is dropped and the VPC route is by hand."""

    def __init__(self, topo, pki, workdir, server_conf=None, pi_conf=None, grace=0, aws=None):
        self.topo, self.pki, self.dir, self.aws = topo, pki, workdir, aws
        server_conf = copy.deepcopy(server_conf or example("topology-a-server.conf"))
        pi_conf = copy.deepcopy(pi_conf or example("topology-a-pi.conf"))
        env = {}
        self.relays, self.fabric = [], None
        if aws:
            self.relays = [Relay(topo.ec2, aws.moto.port), Relay(topo.ec2, aws.imds.port)]
            env = {"AWS_ENDPOINT_URL_EC2": self.relays[0].url,
                   "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.relays[1].url}
            self.fabric = VpcFabric(topo.vpc, aws, T.EC2_IP)
        else:
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
        deadline = time.time() + timeout
        while time.time() < deadline:
            if net in self.fabric.routes and self.fabric.sdc is False:
                return
            time.sleep(0.1)
        raise AssertionError(f"VPC route {net} -> instance not there within {timeout}s: "
                             f"{sorted(self.fabric.routes)}, source/dest check "
                             f"{self.fabric.sdc}; fabric errors {self.fabric.errors[-3:]}")

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
        for o in (self.client, self.server):
            if o:
                o.stop()
        for a in (self.pi_agent, self.server_agent):
            a.stop()
        if self.fabric:
            self.fabric.stop()
        for r in self.relays:
            r.stop()
