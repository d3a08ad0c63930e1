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
"""
import threading

CHECK_TABLE = "vpcfabric_sdc"


class VpcFabric:
    def __init__(self, vpc_node, world, instance_ip, instance_port="sub-ec2", interval=0.25,
                 follow_routes=True):
        self.vpc, self.world, self.ip = vpc_node, world, instance_ip
        self.follow_routes = follow_routes
        self.port, self.interval = instance_port, interval
        self.routes = set()  # what we put on the VPC router
        self.sdc = None
        self.errors = []
        self._stop = threading.Event()
        self.sync()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _eni_routes(self):
        t = self.world.ec2.describe_route_tables(RouteTableIds=[self.world.rtb_id])
        return {r["DestinationCidrBlock"] for r in t["RouteTables"][0]["Routes"]
                if r.get("NetworkInterfaceId") == self.world.eni_id
                and r.get("DestinationCidrBlock") and r.get("State", "active") == "active"}

    def _source_dest_check(self):
        return self.world.ec2.describe_network_interface_attribute(
            NetworkInterfaceId=self.world.eni_id,
            Attribute="sourceDestCheck")["SourceDestCheck"]["Value"]

    def sync(self):
        want = self._eni_routes() if self.follow_routes else set()
        for net in sorted(want - self.routes):
            self.vpc.run(f"ip route replace {net} via {self.ip} dev br0")
        for net in sorted(self.routes - want):
            self.vpc.run(f"ip route del {net} via {self.ip} dev br0", check=False)
        self.routes = want
        sdc = self._source_dest_check()
        if sdc != self.sdc:
            if sdc:
                self.vpc.run(["nft", "-f", "-"], input=f"""
table bridge {CHECK_TABLE} {{
    chain from_to_instance {{
        type filter hook forward priority 0;
        iifname "{self.port}" ether type ip ip saddr != {self.ip} drop
        oifname "{self.port}" ether type ip ip daddr != {self.ip} drop
    }}
    chain to_instance {{
        type filter hook output priority 0;
        oifname "{self.port}" ether type ip ip daddr != {self.ip} drop
    }}
}}
""")
            else:
                self.vpc.run(["nft", "delete", "table", "bridge", CHECK_TABLE], check=False)
            self.sdc = sdc

    def _loop(self):
        while not self._stop.wait(self.interval):
            try:
                self.sync()
            except Exception as e:  # the emulator going away at the end
                self.errors.append(repr(e))

    def stop(self):
        self._stop.set()
        self._thread.join(5)
