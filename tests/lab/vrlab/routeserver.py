# SPDX-License-Identifier: GPL-2.0-or-later
"""Topology A with aws.routes "route-server", for its lab test and benchmark.

RouteServerA runs topology A's product (agents, OpenVPN) from the shipped
server example with aws.routes "route-server", BIRD on the instance with the
configuration `vpcroutectl bgp-config` prints, and BIRD on the VPC fabric
playing the route server (vrlab/bird.py); the fabric follows only the
source/dest check of the emulated EC2, its routes come from BGP.
"""
import os
import subprocess
import time

from . import topology as T
from .bird import BFD_MS, HOLD_S, PEER_ASN, RS_ASN, Bird, route_server_conf
from .build import built
from .product import ProductA, example

ROUTE_CALLS = {"DescribeRouteTables", "CreateRoute", "ReplaceRoute", "DeleteRoute"}


def bgp_config(conf_path, *extra):
    r = subprocess.run([built("agent/vpcroutectl"), "-f", conf_path, "bgp-config",
                        f"--asn={PEER_ASN}", f"--peer-asn={RS_ASN}",
                        f"--peer={T.VPC_ROUTER_IP}", f"--bfd-ms={BFD_MS}", f"--hold={HOLD_S}",
                        *extra], capture_output=True, text=True, timeout=10)
    if r.returncode or r.stderr:  # aws.routes is "route-server": not even a warning
        raise RuntimeError(f"vpcroutectl bgp-config: {r.stderr.strip()}")
    return r.stdout


class RouteServerA:
    """Topology A, aws.routes "route-server", with both BIRDs."""

    def __init__(self, topo, pki, workdir, aws):
        conf = example("topology-a-server.conf")
        conf["aws"]["routes"] = "route-server"
        conf["aws"]["bgp_socket"] = os.path.join(workdir, "ec2-bird", "bird.ctl")
        self.prod = ProductA(topo, pki, workdir, server_conf=conf, aws=aws, route_server=True)
        self.topo, self.aws = topo, aws
        agent = self.prod.server_agent
        self.ec2_bird = Bird(topo.ec2, os.path.join(workdir, "ec2-bird"),
                             bgp_config(agent.conf))
        assert self.ec2_bird.sock == conf["aws"]["bgp_socket"]
        self.rs = Bird(topo.vpc, os.path.join(workdir, "rs-bird"),
                       route_server_conf(T.VPC_ROUTER_IP, [T.EC2_IP]))

    def agent_calls(self):
        """The Actions the agent sent (signed with the instance role's key)."""
        key = self.aws.role_key_id
        return [c.action for c in self.aws.moto.proxy.snapshot()
                if f"Credential={key}/" in (c.headers.get_ci("Authorization") or "")]

    def up(self):
        self.rs.start()
        self.ec2_bird.start()
        self.rs.wait_established()
        self.prod.start_agents()
        self.prod.start_server()
        self.prod.outside_world()
        return self

    def close(self):
        try:
            self.prod.close()
        finally:
            self.ec2_bird.stop()
            self.rs.stop()


def wait_for(what, cond, timeout=15):
    deadline = time.time() + timeout
    while not (v := cond()):
        if time.time() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)
    return v
