# SPDX-License-Identifier: GPL-2.0-or-later
"""Two vpcroute servers of one cluster (aws.cluster, guide-ha.md) in two
subnets and availability zones of one VPC, against moto and a metadata mock
per instance. Each agent runs in its own lab node, driven by a scripted
plugin; each signs with its own instance role's keys, so the recording proxy
tells which agent made a call. The rules under test (issue 14, item 1): a
connect takes its routes from a peer (the newest connection wins); the drift
check never takes a live peer's route back; a disconnect withdraws only a
route that still points to us; a peer's route that became a blackhole is
replaced.
"""
import json
import re
import subprocess
import time

import pytest

from vrlab.build import built
from vrlab.cluster import DRIFT, GRACE, HOME, Cluster, both_up, wait_for

from test_agent_aws import status


@pytest.fixture
def cluster(lab, aws, tmp_path):
    c = Cluster(lab, aws, str(tmp_path))
    yield c
    c.close()


def cluster_status(server):
    return status(server.agent)["aws"]["cluster"]


def ctl(server, *args):
    r = subprocess.run([built("agent/vpcroutectl"), "-s", server.agent.sock, *args],
                       capture_output=True, text=True, timeout=10)
    return r.stdout


def route_state(server, rtb, dst):
    (t,) = [t for t in status(server.agent)["aws"]["route_tables"] if t["id"] == rtb]
    return next(((r["state"], r.get("target")) for r in t["routes"]
                 if r["destination"] == dst), None)


def test_newest_connection_wins_no_fight(cluster):
    c = cluster
    both_up(c)
    c.a.plugin.client("pi-home", [HOME], t4="100.64.0.2")
    wait_for("home at A", lambda: c.points_to(HOME, c.a.eni))
    # the client reconnects to B; A has not noticed yet (its connection is stale)
    t0 = time.monotonic()
    c.b.plugin.client("pi-home", [HOME], t4="100.64.1.2")
    wait_for("home follows to B", lambda: c.points_to(HOME, c.b.eni))
    # one ReplaceRoute per table, nothing else for it
    assert sorted((x.action, x.params["RouteTableId"]) for x in c.b.calls(t0, dst=HOME)) == \
        sorted(("ReplaceRoute", t) for t in c.tables)
    c.b.agent.wait_log(r"cluster lab: route table rtb-\w+ sends 192\.168\.1\.0/24 to peer "
                       + re.escape(c.a.eni))
    # three drift periods: A sees the peer's route and leaves it; nobody flaps
    t1 = time.monotonic()
    time.sleep(3 * DRIFT + 2)
    assert c.points_to(HOME, c.b.eni)
    assert c.a.calls(t1) == [] and c.b.calls(t1) == []
    assert c.proxy.count("ReplaceRoute", since=t1) == 0
    assert route_state(c.a, c.world.rtb_id, HOME) == ("at peer", c.b.eni)
    st = cluster_status(c.a)
    assert st["tagged"] and st["peers_known"]
    seen = {i["network_interface"]: i for i in st["interfaces"]}
    assert seen[c.a.eni]["ours"] and not seen[c.a.eni]["live_peer"]
    assert seen[c.b.eni]["live_peer"] and seen[c.b.eni]["availability_zone"] == "us-east-1b"
    assert seen[c.b.eni]["instance"] == c.b_instance.instance_id
    # A read the move at a drift check; B made it
    assert any(m["destination"] == HOME and m["from"] == c.a.eni and m["to"] == c.b.eni
               and m["by"] == "seen" for m in st["moves"])
    assert any(m["destination"] == HOME and m["to"] == c.b.eni and m["by"] == "us"
               for m in cluster_status(c.b)["moves"])
    # the same, as status and doctor say it
    text = ctl(c.a, "status")
    assert re.search(r"cluster lab: this interface tagged", text)
    assert re.search(rf"{c.b.eni} +{c.b_instance.instance_id} +us-east-1b +attached +peer", text)
    assert re.search(rf"moved +\d+ s ago: {re.escape(HOME)} in rtb-\w+ {c.a.eni} -> {c.b.eni} "
                     r"\(seen\)", text)
    assert re.search(rf"{re.escape(HOME)} +at peer +{c.b.eni}", text)
    doc = json.loads(ctl(c.a, "doctor", "--json"))
    msgs = [(f["level"], f["message"]) for f in doc["findings"]]
    assert ("ok", f"aws: cluster lab: peer {c.b.eni} (instance {c.b_instance.instance_id}, "
                  "us-east-1b)") in msgs
    assert any(lv == "ok" and f"sends {HOME} to {c.b.eni}, a peer of the cluster" in m
               for lv, m in msgs)
        # A's stale connection ends: the route is B's, A withdraws nothing
    t2 = time.monotonic()
    c.a.plugin.send({"type": "disconnect", "cn": "pi-home"})
    time.sleep(GRACE + 2)
    assert c.points_to(HOME, c.b.eni)
    assert c.a.calls(t2) == []
    # the client leaves B: withdrawn after the grace period, by B alone
    c.b.plugin.send({"type": "disconnect", "cn": "pi-home"})
    wait_for("withdrawn", lambda: all(v is None for v in c.target(HOME).values()), timeout=20)
    assert len(c.b.calls(t2, action="DeleteRoute", dst=HOME)) == len(c.tables)
    assert c.a.calls(t2) == []


def test_failover_when_a_dies(cluster):
    c = cluster
    both_up(c)
    c.a.plugin.client("pi-home", [HOME], t4="100.64.0.2")
    wait_for("home at A", lambda: c.points_to(HOME, c.a.eni))
    # server A dies (its agent killed); the client reconnects to B
    c.a.plugin.close()
    c.a.agent.kill9()
    t0 = time.monotonic()
    c.b.plugin.client("pi-home", [HOME], t4="100.64.1.2")
    wait_for("home follows to B", lambda: c.points_to(HOME, c.b.eni))
    assert len(c.b.calls(t0, action="ReplaceRoute", dst=HOME)) == len(c.tables)
    # A comes back without the client: a drift period later nothing moved
    t1 = time.monotonic()
    c.a.start()
    c.a.agent.wait_log(r"route tables described", timeout=20)
    time.sleep(DRIFT + 2)
    assert c.points_to(HOME, c.b.eni)
    assert c.proxy.count("ReplaceRoute", since=t1) == 0
    assert c.a.calls(t1, dst=HOME) == []


def test_dead_peer_route_replaced(cluster):
    """The instance replacement: a peer's interface is deleted (EC2 shows its
    routes as blackholes); the drift check of the server whose client it is
    replaces them without a new connection."""
    c, ec2 = cluster, cluster.world.ec2
    both_up(c)
    c.b.plugin.client("pi-home", [HOME], t4="100.64.1.2")
    wait_for("home at B", lambda: c.points_to(HOME, c.b.eni))
    # a third server of the cluster takes the client (its newer connection)
    x = ec2.create_network_interface(SubnetId=c.world.subnet_id, TagSpecifications=[
        {"ResourceType": "network-interface",
         "Tags": [{"Key": "vpcroute:cluster", "Value": "lab"}]}])["NetworkInterface"]
    x_id = x["NetworkInterfaceId"]
    att = ec2.attach_network_interface(NetworkInterfaceId=x_id, InstanceId=c.world.instance_id,
                                       DeviceIndex=1)["AttachmentId"]
    for t in c.tables:
        ec2.replace_route(RouteTableId=t, DestinationCidrBlock=HOME, NetworkInterfaceId=x_id)
    t0 = time.monotonic()
    time.sleep(DRIFT + 2)
    # a live peer's: left alone at B's drift check
    assert c.points_to(HOME, x_id)
    assert c.b.calls(t0, dst=HOME) == []
    assert route_state(c.b, c.world.rtb_id, HOME) == ("at peer", x_id)
    # that instance is terminated, its interface deleted: a blackhole, replaced
    ec2.detach_network_interface(AttachmentId=att, Force=True)
    ec2.delete_network_interface(NetworkInterfaceId=x_id)
    wait_for("the blackhole replaced by B", lambda: c.points_to(HOME, c.b.eni),
             timeout=DRIFT + 10)
    c.b.agent.wait_log(rf"sends 192\.168\.1\.0/24 to {x_id}, which is gone")
    assert {x.action for x in c.b.calls(t0, dst=HOME)} == {"ReplaceRoute"}
    assert c.a.calls(t0, dst=HOME) == []
