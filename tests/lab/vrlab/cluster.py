# SPDX-License-Identifier: GPL-2.0-or-later
"""Two vpcroute servers of one cluster (aws.cluster, guide-ha.md) in two
subnets and availability zones of one AwsWorld, each agent in a lab node of
its own, driven by a scripted plugin and signing with its own instance
role's keys, so that the recording proxy tells which agent made a call.
Used by tests/lab/test_agent_cluster.py and bench/failover.py."""
import json

from .agent import Agent, tunnel_host
from .ec2proxy import Ec2Proxy
from .fakeplugin import FakePlugin
from .nsport import Relay
from .waiting import wait_for


HOME = "192.168.1.0/24"
POOL_A, POOL_B = "100.64.0.0/24", "100.64.1.0/24"
DRIFT = 10  # aws.drift_check_s, its minimum
GRACE = 3   # aws.withdraw_grace_s


def conf(pool, **aws):
    a = {"withdraw_grace_s": GRACE, "drift_check_s": DRIFT, "cluster": "lab"}
    a.update(aws)
    return {"version": 1, "role": "server", "local_networks": "auto",
            "tunnel": {"pool": pool}, "aws": a,
            "default_client": {"allow": ["192.168.0.0/16"]}}


class Server:
    """One agent's node, relays and configuration."""

    def __init__(self, cluster, name, imds_port, eni, key_id, pool):
        self.cluster, self.name, self.eni, self.key_id, self.pool = (
            cluster, name, eni, key_id, pool)
        self.node = tunnel_host(cluster.lab, f"ec2{name}")
        self.ec2_relay = Relay(self.node, cluster.proxy.port)
        self.imds_relay = Relay(self.node, imds_port)
        self.agent = Agent(self.node, f"{cluster.dir}/{name}", conf(pool),
                           env={"AWS_ENDPOINT_URL_EC2": self.ec2_relay.url,
                                "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.imds_relay.url})
        self.plugin = None

    def start(self):
        self.agent.start()
        self.plugin = FakePlugin(self.agent.sock).connect()
        return self

    def agent_conf_update(self, **aws):
        """Changes aws keys of the configuration (before a start); None removes one."""
        with open(self.agent.conf) as f:
            d = json.load(f)
        d["aws"].update(aws)
        d["aws"] = {k: v for k, v in d["aws"].items() if v is not None}
        with open(self.agent.conf, "w") as f:
            json.dump(d, f, indent=2)

    def calls(self, since=0, action=None, dst=None):
        """The mutating calls this server's agent made (its role's key signed them)."""
        return [c for c in self.cluster.proxy.calls
                if c.mutating and c.time >= since
                and f"Credential={self.key_id}/" in c.headers.get_ci("Authorization", "")
                and (action is None or c.action == action)
                and (dst is None or c.params.get("DestinationCidrBlock") == dst)]

    def stop(self):
        if self.plugin:
            self.plugin.close()
        self.agent.stop()
        self.ec2_relay.stop()
        self.imds_relay.stop()


class Cluster:
    def __init__(self, lab, world, workdir):
        self.lab, self.world, self.dir = lab, world, workdir
        self.proxy = Ec2Proxy(world.moto.url, workdir, credentials=world.credentials)
        self.b_instance = world.add_instance(f"{workdir}/imds-b", "10.1.0.0/24", "us-east-1b",
                                             "10.1.0.10", "ASIAVPCROUTEROLEB", "role-b-secret")
        self.a = Server(self, "a", world.imds.port, world.eni_id, world.role_key_id, POOL_A)
        self.b = Server(self, "b", self.b_instance.imds.port, self.b_instance.eni_id,
                        "ASIAVPCROUTEROLEB", POOL_B)
        self.main = world.ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [world.vpc_id]},
                     {"Name": "association.main", "Values": ["true"]}]
        )["RouteTables"][0]["RouteTableId"]
        self.tables = [world.rtb_id, self.main]

    def target(self, dst, rtb=None):
        """Where each table sends dst: {table: target or None}."""
        out = {}
        d = self.world.ec2.describe_route_tables(RouteTableIds=[rtb] if rtb else self.tables)
        for r in d["RouteTables"]:
            out[r["RouteTableId"]] = next((x.get("NetworkInterfaceId") or x.get("GatewayId")
                                           for x in r["Routes"]
                                           if x.get("DestinationCidrBlock") == dst), None)
        return out

    def points_to(self, dst, eni):
        return all(v == eni for v in self.target(dst).values())

    def tags(self, eni):
        d = self.world.ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])
        return {t["Key"]: t["Value"] for t in d["NetworkInterfaces"][0].get("TagSet", [])}

    def close(self):
        for s in (self.a, self.b):
            s.stop()
        self.b_instance.stop()
        self.proxy.stop()


def both_up(c):
    c.a.start()
    c.b.start()
    # each tags its own interface and makes its own pool's routes
    wait_for("both interfaces tagged", lambda: c.tags(c.a.eni).get("vpcroute:cluster") == "lab"
             and c.tags(c.b.eni).get("vpcroute:cluster") == "lab")
    wait_for("the pools", lambda: c.points_to(POOL_A, c.a.eni) and c.points_to(POOL_B, c.b.eni))
