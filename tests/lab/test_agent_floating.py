# SPDX-License-Identifier: GPL-2.0-or-later
"""A floating network interface (aws.interface, guide-ha.md): the instance
that held it is stopped, its replacement's agent detaches it (forced),
attaches it to its own instance, waits for its device (which the test plugs
in only once the attach call was made, as the hypervisor would) and uses it
as its own: the VPC routes that point to it keep working without any route
call, and the Elastic IP follows it. Against moto and a metadata mock for
the replacement; the agent in a lab node, driven by a scripted plugin."""
import time

import pytest

from vrlab.agent import Agent, tunnel_host
from vrlab.ec2proxy import Ec2Proxy
from vrlab.fakeplugin import FakePlugin
from vrlab.nsport import Relay

from test_agent_aws import status, wait_for

HOME = "192.168.1.0/24"
POOL = "100.64.0.0/24"


class Replacement:
    def __init__(self, lab, world, workdir):
        self.world, ec2 = world, world.ec2
        self.proxy = Ec2Proxy(world.moto.url, workdir, credentials=world.credentials)
        # the floating interface, held by the world's instance (the old server)
        f = ec2.create_network_interface(SubnetId=world.subnet_id)["NetworkInterface"]
        self.eni, self.mac = f["NetworkInterfaceId"], f["MacAddress"]
        ec2.attach_network_interface(NetworkInterfaceId=self.eni,
                                     InstanceId=world.instance_id, DeviceIndex=1)
        self.main = ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [world.vpc_id]},
                     {"Name": "association.main", "Values": ["true"]}]
        )["RouteTables"][0]["RouteTableId"]
        self.tables = [world.rtb_id, self.main]
        # the old server's agent made these: they point to the floating interface
        for t in self.tables:
            for dst in (HOME, POOL):
                ec2.create_route(RouteTableId=t, DestinationCidrBlock=dst,
                                 NetworkInterfaceId=self.eni)
        # the Elastic IP that the clients' remote lines name
        self.alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
        ec2.associate_address(AllocationId=self.alloc, NetworkInterfaceId=world.eni_id)
        # the replacement instance, in the same subnet and zone
        self.new = world.add_instance(f"{workdir}/imds-new", None, None, "10.1.1.20",
                                      "ASIAVPCROUTENEW", "new-secret")
        self.node = tunnel_host(lab, "ec2new")
        self.ec2_relay = Relay(self.node, self.proxy.port)
        self.imds_relay = Relay(self.node, self.new.imds.port)
        cfg = {"version": 1, "role": "server", "local_networks": "auto",
               "tunnel": {"pool": POOL},
               "aws": {"withdraw_grace_s": 3, "drift_check_s": 10,
                       "interface": self.eni, "elastic_ip": self.alloc},
               "default_client": {"allow": ["192.168.0.0/16"]}}
        self.agent = Agent(self.node, f"{workdir}/agent", cfg,
                           env={"AWS_ENDPOINT_URL_EC2": self.ec2_relay.url,
                                "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.imds_relay.url})

    def interface(self):
        return self.world.ec2.describe_network_interfaces(
            NetworkInterfaceIds=[self.eni])["NetworkInterfaces"][0]

    def targets(self, dst):
        d = self.world.ec2.describe_route_tables(RouteTableIds=self.tables)
        return {r["RouteTableId"]: next(x.get("NetworkInterfaceId") for x in r["Routes"]
                                        if x.get("DestinationCidrBlock") == dst)
                for r in d["RouteTables"]}

    def close(self):
        self.agent.stop()
        self.ec2_relay.stop()
        self.imds_relay.stop()
        self.new.stop()
        self.proxy.stop()


@pytest.fixture
def repl(lab, aws, tmp_path):
    r = Replacement(lab, aws, str(tmp_path))
    yield r
    r.close()


def test_floating_interface_taken_from_a_stopped_instance(repl):
    r, ec2 = repl, repl.world.ec2
    ec2.stop_instances(InstanceIds=[r.world.instance_id])
    r.agent.start()
    p = FakePlugin(r.agent.sock).connect()
    p.client("pi-home", [HOME], t4="100.64.0.2")
    # the hypervisor plugs the device in once the interface is attached
    r.agent.wait_log(r"AttachNetworkInterface .*: done", timeout=15)
    time.sleep(1)  # the agent looks for the device meanwhile, and waits
    st = status(r.agent)["aws"]
    assert st["floating_interface"]["step"] == "waiting for the device"
    assert st["network_interface"] == r.new.eni_id  # not ours before its device is there
    assert not [x for x in r.proxy.calls if x.mutating and x.action != "DetachNetworkInterface"
                and x.action != "AttachNetworkInterface"]
    r.node.run(f"ip link add ens6 address {r.mac} type veth peer name ens6peer")
    r.agent.wait_log(rf"using the floating interface {r.eni} \(device ens6\) instead of "
                     rf"{r.new.eni_id}", timeout=10)
    wait_for("the Elastic IP on the floating interface", lambda: ec2.describe_addresses(
        AllocationIds=[r.alloc])["Addresses"][0].get("NetworkInterfaceId") == r.eni)
    wait_for("the source/dest check off", lambda: not ec2.describe_network_interface_attribute(
        NetworkInterfaceId=r.eni, Attribute="sourceDestCheck")["SourceDestCheck"]["Value"])
    r.agent.wait_log(r"route tables described", timeout=10)
    time.sleep(1)
    i = r.interface()
    assert i["Attachment"]["InstanceId"] == r.new.instance_id
    # forced off the stopped instance, then attached here, in that order
    acts = [x for x in r.proxy.calls if x.mutating]
    names = [x.action for x in acts]
    assert names.index("DetachNetworkInterface") < names.index("AttachNetworkInterface")
    (det,) = [x for x in acts if x.action == "DetachNetworkInterface"]
    assert det.params["Force"] == "true"
    (att,) = [x for x in acts if x.action == "AttachNetworkInterface"]
    assert att.params["InstanceId"] == r.new.instance_id and att.params["DeviceIndex"] == "1"
    # the routes that pointed to the interface still do, without a route call
    assert not [x for x in acts if x.action in ("CreateRoute", "ReplaceRoute", "DeleteRoute")]
    assert set(r.targets(HOME).values()) == {r.eni} and set(r.targets(POOL).values()) == {r.eni}
    st = status(r.agent)["aws"]
    assert st["network_interface"] == r.eni
    assert st["floating_interface"]["step"] == "done"
    assert st["floating_interface"]["device"] == "ens6"
    assert st["floating_interface"]["primary"] == r.new.eni_id
    assert st["floating_interface"]["elastic_ip_associated"] is True
    assert {x["state"] for t in st["route_tables"] for x in t["routes"]} == {"ours"}


def test_floating_interface_never_taken_from_a_running_instance(repl):
    r = repl
    r.agent.start()
    r.agent.wait_log(rf"aws.interface {r.eni} is attached to instance "
                     rf"{r.world.instance_id}, which is running: not taken", timeout=15)
    assert r.proxy.count("DetachNetworkInterface") == 0
    assert r.proxy.count("AttachNetworkInterface") == 0
    # and, the interface not being ours, nothing else either
    assert [x.action for x in r.proxy.calls if x.mutating] == []
    assert r.interface()["Attachment"]["InstanceId"] == r.world.instance_id
    assert status(r.agent)["aws"]["floating_interface"]["step"] == "describing"
