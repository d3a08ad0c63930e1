# SPDX-License-Identifier: GPL-2.0-or-later
"""Topology A with aws.routes "route-server", for its lab test and benchmark.

RouteServerA runs topology A's product (agents, OpenVPN) from the shipped
server example with aws.routes "route-server", BIRD on the instance with the
configuration `vpcroutectl bgp-config` prints, and BIRD on the VPC fabric
playing the route server (vrlab/bird.py); the fabric follows only the
source/dest check of the emulated EC2, its routes come from BGP.

RouteServerAB adds a second server, B, in the same subnet (EC2_B_IP, public
EC2_B_PUBLIC through the internet gateway, its own tunnel pool POOL_B), with
its own agent, OpenVPN server and BIRD; the route server peers with both, and
the Pi's OpenVPN client lists A then B as its remotes. The emulated EC2 has
one instance, A: B's agent runs without the aws section (it makes no EC2 call
at all, as in route-server mode it would make none but the source/dest check,
which the fabric plays for A's port only).
"""
import os
import subprocess

from . import topology as T
from .bird import BFD_MS, HOLD_S, PEER_ASN, RS_ASN, Bird, route_server_conf
from .build import built, plugin_so
from .agent import Agent
from . import sanitizer, waiting
from .openvpn import OPENVPN as OPENVPN_BIN
from .openvpn import OpenVPN, server_lines
from .product import ProductA, example, net_mask

EC2_B_IP, EC2_B_PUBLIC, POOL_B = "10.1.1.3", "192.0.2.11", "10.1.3.0/24"

ROUTE_CALLS = {"DescribeRouteTables", "CreateRoute", "ReplaceRoute", "DeleteRoute"}


def bgp_config(conf_path, *extra, warn=True):
    r = subprocess.run([built("agent/vpcroutectl"), "-f", conf_path, "bgp-config",
                        f"--asn={PEER_ASN}", f"--peer-asn={RS_ASN}",
                        f"--peer={T.VPC_ROUTER_IP}", f"--bfd-ms={BFD_MS}", f"--hold={HOLD_S}",
                        *extra], capture_output=True, text=True, timeout=10)
    # aws.routes is "route-server": not even a warning (warn False: no aws section)
    if r.returncode or (warn and r.stderr):
        raise RuntimeError(f"vpcroutectl bgp-config: {r.stderr.strip()}")
    return r.stdout


class RouteServerA:
    """Topology A, aws.routes "route-server", with both BIRDs."""

    PEERS = [T.EC2_IP]

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
                       route_server_conf(T.VPC_ROUTER_IP, self.PEERS))

    def agent_calls(self):
        """The Actions the agent sent (signed with the instance role's key)."""
        key = self.aws.role_key_id
        return [c.action for c in self.aws.moto.proxy.snapshot()
                if f"Credential={key}/" in (c.headers.get_ci("Authorization") or "")]

    def up(self):
        self.rs.start()
        self.ec2_bird.start()
        self.rs.wait_established(["peer1"])
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


class RestartingClient(OpenVPN):
    """An OpenVPN client that restarts (SIGUSR1: ping-restart, then
    server-poll-timeout) to fail over. OpenVPN 2.6 never frees one allocation
    of its own at each such restart (the report's stack is OpenVPN's alone,
    nothing of vpcroute.so), so on the sanitizer build LeakSanitizer reports
    every client that restarts: leak detection is off for this one process;
    ASan's and UBSan's other checks stay on, and every other test checks the
    plugin's leaks."""

    def start(self):
        open(self.log, "w").close()
        with open(self.conf) as f:
            argv = sanitizer.wrap_openvpn([OPENVPN_BIN, "--cd", self.dir, "--config", self.conf],
                                          f.read())
        if argv[0] == "env":
            opts = os.environ.get("ASAN_OPTIONS", "")
            argv = [argv[0], f"ASAN_OPTIONS={opts}:detect_leaks=0", *argv[1:]]
        self.proc = self.node.popen(argv, log=self.log)
        return self


class RouteServerAB(RouteServerA):
    """RouteServerA and server B; the Pi's client fails over from A to B."""

    PEERS = [T.EC2_IP, EC2_B_IP]

    def __init__(self, topo, pki, workdir, aws):
        super().__init__(topo, pki, workdir, aws)
        self.dir = workdir
        vpc = topo.vpc
        node = topo.nodes["ec2b"] = vpc.lab.node("ec2b")
        vpc.lab.link(node, "eth0", vpc, "sub-ec2b")
        vpc.run("ip link set sub-ec2b master br0")
        node.run(f"ip addr add {EC2_B_IP}/24 dev eth0")
        node.run(f"ip route replace default via {T.VPC_ROUTER_IP}")
        # the internet gateway's 1:1 NAT for B, as for A
        vpc.run(f"nft add rule ip igw pre iifname wan ip daddr {EC2_B_PUBLIC} "
                f"dnat to {EC2_B_IP}")
        vpc.run(f"nft add rule ip igw post oifname wan ip saddr {EC2_B_IP} "
                f"snat to {EC2_B_PUBLIC}")
        conf = example("topology-a-server.conf")
        conf.pop("aws")
        conf["tunnel"]["pool"] = POOL_B
        conf["clients"]["pi-home"]["address"] = "10.1.3.10"
        self.b_agent = Agent(node, os.path.join(workdir, "ec2b-agent"), conf)
        self.b_bird = Bird(node, os.path.join(workdir, "ec2b-bird"),
                           bgp_config(self.b_agent.conf, warn=False))
        self.b_server = None

    def up(self):
        super().up()
        self.b_bird.start()
        self.rs.wait_established()
        self.b_agent.start()
        pki = self.prod.pki
        self.b_server = OpenVPN(self.topo.ec2b, os.path.join(self.dir, "server-b"), "server-b",
                                server_lines(pki, *pki.server,
                                             local=EC2_B_IP, pool=net_mask(POOL_B),
                                             extra=[f"plugin {plugin_so()} {self.b_agent.conf} "
                                                    "instance=server"]))
        self.b_server.start().wait_up()
        return self

    def start_client(self):
        """The Pi's client, with A then B as its remotes; it notices a dead
        server after 2 s without an answer (the lab's timers) and tries the
        next remote after 1 s without one."""
        lines = self.prod.vpn_lines(self.prod.desc.vpn("pi")) + [
            f"remote {EC2_B_PUBLIC} 1194", "server-poll-timeout 1", 'pull-filter ignore "ping"',
            "ping 1", "ping-restart 2"]
        vpn = self.prod.vpns["pi"] = RestartingClient(self.topo.pi,
                                                      os.path.join(self.dir, "pi"), "pi", lines)
        vpn.start().wait_up()
        return vpn

    def kill_a(self):
        """Server A dies: BIRD stops answering (its session is not closed),
        OpenVPN and the agent are killed."""
        self.ec2_bird.freeze()
        self.prod.server.proc.kill()
        self.prod.server.proc.wait()
        self.prod.server_agent.kill9()

    def close(self):
        try:
            for o in (self.b_server, self.b_agent):
                if o:
                    o.stop()
        finally:
            self.b_bird.stop()
            super().close()


def wait_for(what, cond, timeout=15):
    return waiting.wait_for(what, cond, timeout=timeout, interval=0.05)
