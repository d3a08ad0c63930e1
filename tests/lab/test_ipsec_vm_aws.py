# SPDX-License-Identifier: GPL-2.0-or-later
"""What an up IPsec tunnel gets from the agent in EC2 (issue 18), with real
SAs: the two VPC gateways of test_ipsec_vm.py (built once for the module,
the same way), gateway A's VPC in the EC2 emulator (moto, behind the lab's
recording proxy) and its instance in the metadata mock, both reached from
A's namespace through relays (vrlab.nsport), as in test_agent_aws.py. In
the VM of scripts/ipsec-vm that world is made outside it, as the IPsec
topologies' are (vrlab/hostaws.py, VR_VM_AWS: moto and boto3 take minutes
to start there), and reached through the VM's user-mode network; the
requests the proxy saw are read from there too.

- tunnel up: VPC B's network -> A's ENI in A's route table (one CreateRoute),
  the source/dest check off; a foreign route of the table untouched;
- the SA torn down and re-established within aws.withdraw_grace_s (a rekey,
  a DPD restart): no call that changes anything; gone for longer: withdrawn;
- a network the peer may not announce: no route;
- kill -9 and a restart: resynced from the XFRM dump, no call that changes
  anything;
- rp_filter: strict on the WAN of a gateway whose default route leaves by
  another interface still passes the decrypted packets (the kernel skips
  the check for IPsec-protected packets), so the agent leaves it alone.

Like test_ipsec_vm.py it needs a kernel with ESP: scripts/ipsec-vm runs it
in a VM; elsewhere every test skips."""
import json
import os
import shutil
import tempfile
import time

import pytest

from test_ipsec_vm import (A_HOST, A_NET, A_PUB, B_HOST, B_NET, B_PUB, CONF, esp_available,
                           sa, sh, start, tunnel_end, vpcs)  # noqa: F401 (vpcs: the fixture)
from vrlab import hostaws
from vrlab.agent import Agent, settles
from vrlab.nsport import Relay
from vrlab.waiting import wait_for

pytestmark = pytest.mark.skipif(not esp_available(),
                                reason="the kernel has no ESP (run scripts/ipsec-vm)")

# aws.withdraw_grace_s of these tests: long enough for a few commands in
# the VM (an SA deleted, another added) under software emulation
GRACE = 20
FOREIGN = "192.168.50.0/24"   # someone else's route in A's table
FORBIDDEN = "172.16.0.0/12"   # tunnelled by the IKE daemon, not in ipsec.peers


@pytest.fixture(scope="module")
def world(vpcs, tmp_path_factory):
    """VPC A in moto (its CIDR, a subnet with gateway A's address), a foreign
    route in its table, and the relays into gateway A's namespace. In the VM
    (VR_VM_AWS) the world is made outside it by vrlab/hostaws.py; on a
    machine whose own kernel has ESP, here."""
    a = vpcs[0]
    kw = {"vpc_cidr": A_NET, "subnet_cidr": "10.0.0.0/24", "instance_ip": "10.0.0.1"}
    url = os.environ.get("VR_VM_AWS")
    if url:
        w = hostaws.RemoteWorld(url, "ipsec-vm-aws", **kw)
    else:
        from vrlab.emulators import AwsWorld, metadata_mock_path  # boto3: not in the VM
        if not metadata_mock_path():
            pytest.fail("ec2-metadata-mock not built: scripts/check builds it into "
                        "tests/tools/bin")
        w = AwsWorld(str(tmp_path_factory.mktemp("aws")), **kw)
    other = w.ec2.create_network_interface(SubnetId=w.subnet_id)["NetworkInterface"]
    w.ec2.create_route(RouteTableId=w.rtb_id, DestinationCidrBlock=FOREIGN,
                       NetworkInterfaceId=other["NetworkInterfaceId"])
    w.other_eni = other["NetworkInterfaceId"]
    host = getattr(w, "host", "127.0.0.1")  # RemoteWorld: outside the VM
    relays = [Relay(a, w.moto.port, target_host=host), Relay(a, w.imds.port, target_host=host)]
    w.agent_env = {"AWS_ENDPOINT_URL_EC2": relays[0].url,
                   "AWS_EC2_METADATA_SERVICE_ENDPOINT": relays[1].url}
    yield w
    for r in relays:
        r.stop()
    w.stop()


@pytest.fixture(autouse=True)
def _remote_signatures(world):
    """conftest checks the signature of every request its proxies saw; a
    world made outside the VM has its proxy there: checked the same way."""
    yield
    if isinstance(world, hostaws.RemoteWorld):
        world.check_signatures()


def routes(world):
    """{destination: target} of A's route table, as moto holds it."""
    t = world.ec2.describe_route_tables(RouteTableIds=[world.rtb_id])["RouteTables"][0]
    return {r["DestinationCidrBlock"]: r.get("NetworkInterfaceId") or r.get("GatewayId")
            for r in t["Routes"] if "DestinationCidrBlock" in r}


def ours(world):
    """The VPC's route tables that send B's network to A's ENI (the subnet's
    and the main one: the agent routes in every table in use)."""
    t = world.ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [world.vpc_id]}])["RouteTables"]
    return sorted(x["RouteTableId"] for x in t for r in x["Routes"]
                  if r.get("DestinationCidrBlock") == B_NET
                  and r.get("NetworkInterfaceId") == world.eni_id)


def calls(world, since, action):
    """The route tables of the agent's accepted calls of action since the
    mark (hostaws.mark)."""
    return sorted(c.params.get("RouteTableId") for c in hostaws.calls(world, since)
                  if c.action == action and c.status == 200
                  and c.params.get("DestinationCidrBlock") == B_NET
                  and c.user_agent.startswith("vpcroute"))


def mutating(world, since):
    """The agent's calls that changed something in the emulator since the
    mark (hostaws.mark): those it accepted (a retry after a timeout under
    software emulation, refused as already done, changes nothing)."""
    return [(c.action, c.params.get("DestinationCidrBlock"))
            for c in hostaws.calls(world, since) if c.mutating and c.status == 200
            and c.user_agent.startswith("vpcroute")]


def aws_log(agent):
    return "\n".join(line for line in agent.log_text().splitlines() if "aws" in line)


def settled(agent):
    """The agent's view of EC2 complete, nothing left to call."""
    aws = agent.status().get("aws") or {}
    return (aws.get("route_tables") and aws.get("source_dest_check") == "off"
            and aws.get("security_groups") is not None and not aws.get("pending_calls")
            and not aws.get("in_flight"))


def ipsec_rp_filter(agent):
    return {d["device"]: d["rp_filter"] for d in agent.status()["ipsec"]["rp_filter"]}


@pytest.fixture
def gw(vpcs, world):
    a, b, ha, hb = vpcs
    for node, args in ((a, (A_PUB, B_PUB, A_NET, B_NET, "0x100", "0x200")),
                       (b, (B_PUB, A_PUB, B_NET, A_NET, "0x200", "0x100"))):
        sh(node, "ip xfrm policy flush", "ip xfrm state flush", *tunnel_end(*args))
    conf = json.loads(json.dumps(CONF))
    conf["aws"] = {"withdraw_grace_s": GRACE, "drift_check_s": 60}
    work = tempfile.mkdtemp(prefix="vr-ipsec-aws-")
    agent = Agent(a, work, conf, grace=0, env=world.agent_env)
    yield a, b, ha, hb, agent
    agent.stop()
    a.run("nft delete table inet vpcroute", check=False)
    # the next test starts from the tables without our route, the check on
    for rtb in ours(world):
        world.ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock=B_NET)
    world.ec2.modify_network_interface_attribute(NetworkInterfaceId=world.eni_id,
                                                 SourceDestCheck={"Value": True})
    shutil.rmtree(work, ignore_errors=True)


def test_up_routed_rekey_no_churn_then_withdrawn(gw, world):
    a, b, ha, hb, agent = gw
    mark = hostaws.mark(world)
    start(agent)
    wait_for("B's network routed to A's ENI",
             lambda: routes(world).get(B_NET) == world.eni_id, timeout=120)
    wait_for("the agent settled", lambda: settled(agent), timeout=60)
    tables = ours(world)
    # one CreateRoute per table in use, and the source/dest check
    assert tables and calls(world, mark, "CreateRoute") == tables, aws_log(agent)
    assert sorted(mutating(world, mark)) == [("CreateRoute", B_NET)] * len(tables) + [
        ("ModifyNetworkInterfaceAttribute", None)], aws_log(agent)
    assert routes(world)[FOREIGN] == world.other_eni
    assert ha.ping(B_HOST, count=2)
    # a rekey or a DPD restart: the SA goes, another comes within the grace
    mark = hostaws.mark(world)
    sh(a, sa(A_PUB, B_PUB, "0x100", verb="delete"))
    assert settles(agent.tunnels, [(B_PUB, B_NET, False, "no SA")]) == \
        [(B_PUB, B_NET, False, "no SA")]
    sh(a, sa(A_PUB, B_PUB, "0x101"))
    sh(b, sa(A_PUB, B_PUB, "0x101"))
    assert settles(agent.tunnels, [(B_PUB, B_NET, True, "up")]) == [(B_PUB, B_NET, True, "up")]
    time.sleep(GRACE + 2)  # past the moment the withdrawal would have been due
    assert mutating(world, mark) == [], aws_log(agent)
    assert routes(world)[B_NET] == world.eni_id
    # gone for longer than the grace: withdrawn, the foreign route left alone
    mark = hostaws.mark(world)
    sh(a, sa(A_PUB, B_PUB, "0x101", verb="delete"))
    wait_for("B's network withdrawn", lambda: ours(world) == [], timeout=GRACE + 60)
    assert calls(world, mark, "DeleteRoute") == tables, aws_log(agent)
    assert mutating(world, mark) == [("DeleteRoute", B_NET)] * len(tables), aws_log(agent)
    assert routes(world)[FOREIGN] == world.other_eni


def test_forbidden_network_no_route_kill9_no_churn(gw, world):
    a, b, ha, hb, agent = gw
    a.run(f"ip xfrm policy add src {A_NET} dst {FORBIDDEN} dir out "
          f"tmpl src {A_PUB} dst {B_PUB} proto esp mode tunnel reqid 1")
    mark = hostaws.mark(world)
    start(agent)
    wait_for("B's network routed", lambda: routes(world).get(B_NET) == world.eni_id,
             timeout=120)
    wait_for("the agent settled", lambda: settled(agent), timeout=60)
    got = {t["network"]: t["state"] for t in agent.status()["ipsec"]["tunnels"]}
    assert got == {B_NET: "up", FORBIDDEN: "refused"}
    assert FORBIDDEN not in routes(world)
    tables = ours(world)
    assert tables and calls(world, mark, "CreateRoute") == tables, aws_log(agent)
    assert sorted(mutating(world, mark)) == [("CreateRoute", B_NET)] * len(tables) + [
        ("ModifyNetworkInterfaceAttribute", None)], aws_log(agent)
    # kill -9, then a restart: the tunnels from the XFRM dump, nothing changed in EC2
    agent.kill9()
    mark = hostaws.mark(world)
    start(agent)
    assert agent.tunnels() == [(B_PUB, FORBIDDEN, True, "refused"), (B_PUB, B_NET, True, "up")]
    wait_for("the agent settled again", lambda: settled(agent), timeout=60)
    assert mutating(world, mark) == [], aws_log(agent)
    assert ours(world) == tables and routes(world)[FOREIGN] == world.other_eni


def rp_drops(node):
    """The packets the reverse-path check dropped in node (its own counter)."""
    out = node.run("nstat -saz TcpExtIPReversePathFilter").stdout.split()
    return int(out[out.index("TcpExtIPReversePathFilter") + 1])


def test_strict_rp_filter_needs_no_change(gw, world):
    """Why the agent leaves rp_filter alone for policy-based tunnels: gateway
    A's default route leaves by a second interface (as with a second ENI),
    the peer is reached on the WAN, so the decrypted packets come in on the
    WAN with sources whose way back is the other interface, which strict
    rp_filter would drop; the kernel skips the check for packets an IPsec SA
    protected (fib_validate_source), so they pass, and the agent changes
    nothing. A packet from the same source that the SA did not protect is
    dropped: the WAN's strict check is still on, as its owner wanted."""
    a, b, ha, hb, agent = gw
    sh(a, "ip link add eni2 type dummy", "ip link set eni2 up",
       "ip route replace default dev eni2",
       # the namespace's own: strict on the WAN, nothing host-wide
       "sysctl -qw net.ipv4.conf.all.rp_filter=0", "sysctl -qw net.ipv4.conf.wan.rp_filter=1")
    try:
        start(agent)
        assert agent.tunnels() == [(B_PUB, B_NET, True, "up")]
        assert ha.ping(B_HOST, count=2)
        assert a.run("sysctl -n net.ipv4.conf.wan.rp_filter").stdout.strip() == "1"
        assert "rp_filter" not in agent.log_text(since_start=True)
        # B's outbound policy gone: B's host's packets reach A's WAN in
        # clear, from the same network, and the strict check drops them
        drops = rp_drops(a)
        sh(b, f"ip xfrm policy delete src {B_NET} dst {A_NET} dir out")
        assert not hb.ping(A_HOST, count=2, timeout=1)
        assert rp_drops(a) >= drops + 2
    finally:
        sh(a, "sysctl -qw net.ipv4.conf.wan.rp_filter=0", "ip link del eni2",
           f"ip route replace default via {B_PUB} dev wan")
