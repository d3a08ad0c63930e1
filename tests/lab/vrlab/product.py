# SPDX-License-Identifier: GPL-2.0-or-later
"""Topology A run by vpcroute: agent and plugin on the EC2 instance and the Pi.

Nothing is hand-written on those two nodes. What stays by hand belongs to
the simulated outside world: the VPC route table entry (the VPC router's
routing table; the EC2 API side is vpcroute's too, see the AWS tests) and
the home router's static route to the Pi.
"""
import copy
import os

from . import topology as T
from .agent import Agent
from .build import plugin_so
from .openvpn import OpenVPN, client_lines, server_lines

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
    def __init__(self, topo, pki, workdir, server_conf=None, pi_conf=None, grace=0):
        self.topo, self.pki, self.dir = topo, pki, workdir
        self.server_agent = Agent(topo.ec2, os.path.join(workdir, "ec2-agent"),
                                  copy.deepcopy(server_conf or SERVER_CONF), grace=grace)
        self.pi_agent = Agent(topo.pi, os.path.join(workdir, "pi-agent"),
                              copy.deepcopy(pi_conf or PI_CONF), grace=grace)
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
        """The parts vpcroute does not own in this lab: the VPC route table
        (simulated by the VPC router) and the home router's static route."""
        self.topo.vpc_route(T.LAN_ANNOUNCED)
        self.topo.home_route(T.VPC_CIDR)

    def up(self):
        self.start_agents()
        self.start_server()
        self.start_client()
        self.outside_world()
        self.server_agent.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
        return self

    def close(self):
        for o in (self.client, self.server):
            if o:
                o.stop()
        for a in (self.pi_agent, self.server_agent):
            a.stop()
