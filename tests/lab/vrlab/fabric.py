# SPDX-License-Identifier: GPL-2.0-or-later
"""The simulated VPC obeys the emulated EC2 API.

VpcFabric polls moto and makes the lab's VPC router behave as AWS would:
- each route of the subnet's route table whose target is the instance's
  network interface becomes a route "NET via <instance> dev br0" on the VPC
  router (and goes when the route goes);
- while the interface's source/dest check is on, the VPC drops what the
  instance sends from an address that is not its own and what is sent to
  it for an address that is not its own (a bridge table on the VPC router).

So the lab's connectivity depends on what vpcroute did through the EC2 API,
not on a hand-written route. With follow_routes False (aws.routes
"route-server"), the route table is not read: the fabric's routes come from
its BGP daemon (vrlab/bird.py), and only the source/dest check is played.

With several instances (instances: [(ENI, address, bridge port)], the
cluster of guide-ha.md), each route goes to the instance whose interface it
names, and each interface's source/dest check guards its own port.
"""
import threading

CHECK_TABLE = "vpcfabric_sdc"


class VpcFabric:
    def __init__(self, vpc_node, world, instance_ip, instance_port="sub-ec2", interval=0.25,
                 instances=None, follow_routes=True):
        self.vpc, self.world, self.ip = vpc_node, world, instance_ip
        self.follow_routes = follow_routes
        self.port, self.interval = instance_port, interval
        self.instances = instances or [(world.eni_id, instance_ip, instance_port)]
        self.via = {}  # what we put on the VPC router: {net: instance address}
        self.sdc = None  # the first instance's; self.sdcs: every one's
        self.errors = []
        self._stop = threading.Event()
        self.sync()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @property
    def routes(self):
        """The networks the VPC router sends to an instance."""
        return set(self.via)

    def routes_to(self, eni):
        ip = next(i for e, i, _ in self.instances if e == eni)
        return {n for n, v in self.via.items() if v == ip}

    def _eni_routes(self):
        ips = {eni: ip for eni, ip, _ in self.instances}
        t = self.world.ec2.describe_route_tables(RouteTableIds=[self.world.rtb_id])
        return {r["DestinationCidrBlock"]: ips[r["NetworkInterfaceId"]]
                for r in t["RouteTables"][0]["Routes"]
                if r.get("NetworkInterfaceId") in ips
                and r.get("DestinationCidrBlock") and r.get("State", "active") == "active"}

    def _source_dest_check(self, eni):
        return self.world.ec2.describe_network_interface_attribute(
            NetworkInterfaceId=eni, Attribute="sourceDestCheck")["SourceDestCheck"]["Value"]

    def sync(self):
        want = self._eni_routes() if self.follow_routes else {}
        for net, ip in sorted(want.items()):
            if self.via.get(net) != ip:
                self.vpc.run(f"ip route replace {net} via {ip} dev br0")
        for net in sorted(set(self.via) - set(want)):
            self.vpc.run(f"ip route del {net} dev br0", check=False)
        self.via = want
        sdcs = [self._source_dest_check(eni) for eni, _, _ in self.instances]
        if sdcs != getattr(self, "sdcs", None):
            rules = "".join(f"""
        iifname "{port}" ether type ip ip saddr != {ip} drop
        oifname "{port}" ether type ip ip daddr != {ip} drop"""
                            for (_, ip, port), on in zip(self.instances, sdcs) if on)
            out = "".join(f"""
        oifname "{port}" ether type ip ip daddr != {ip} drop"""
                          for (_, ip, port), on in zip(self.instances, sdcs) if on)
            self.vpc.run(["nft", "delete", "table", "bridge", CHECK_TABLE], check=False)
            if any(sdcs):
                self.vpc.run(["nft", "-f", "-"], input=f"""
table bridge {CHECK_TABLE} {{
    chain from_to_instance {{
        type filter hook forward priority 0;{rules}
    }}
    chain to_instance {{
        type filter hook output priority 0;{out}
    }}
}}
""")
            self.sdcs, self.sdc = sdcs, sdcs[0]

    def _loop(self):
        while not self._stop.wait(self.interval):
            try:
                self.sync()
            except Exception as e:  # the emulator going away at the end
                self.errors.append(repr(e))

    def stop(self):
        self._stop.set()
        self._thread.join(5)
