# SPDX-License-Identifier: GPL-2.0-or-later
"""aws.routes "route-server": topology A where the VPC's routes come from BGP.

The EC2 instance runs BIRD with the configuration `vpcroutectl bgp-config`
prints; the VPC fabric runs BIRD playing VPC Route Server (vrlab/bird.py), and
its routes to the home network come only from what that BIRD learnt (the
fabric does not follow the emulated route table in this mode). The agent still
turns off the source/dest check, which the fabric plays from moto, and makes no
route-table call: the strict EC2 proxy in front of moto counts them.
"""
import json
import os
import subprocess

import jsonschema
import pytest

from vrlab import topology as T
from vrlab.bird import PEER_ASN, RS_ASN, fabric_routes
from vrlab.build import TOP, built
from vrlab.routeserver import (EC2_B_IP, POOL_B, ROUTE_CALLS, RouteServerA, RouteServerAB,
                               wait_for)

@pytest.fixture
def rsa(topo_a, pki, tmp_path, aws):
    r = RouteServerA(topo_a, pki, str(tmp_path), aws)
    yield r
    r.close()


def doctor(rsa):
    """vpcroutectl doctor --json on the instance, in its network namespace."""
    r = rsa.topo.ec2.run([built("agent/vpcroutectl"), "-f", rsa.prod.server_agent.conf, "doctor",
                          "--json"], check=False)
    d = json.loads(r.stdout)
    with open(os.path.join(TOP, "doc", "doctor.schema.json")) as f:
        jsonschema.validate(d, json.load(f))
    return d


def test_routes_come_from_bgp_and_leave_with_the_session(rsa):
    topo, prod = rsa.topo, rsa.prod
    rsa.up()
    # the server's tunnel is up: its pool is announced; no client yet, so no
    # route to home, and nothing else leaks into BGP (eth0's subnet, the
    # example's static routes)
    wait_for("the pool at the fabric", lambda: T.POOL in fabric_routes(topo.vpc))
    assert fabric_routes(topo.vpc) == {T.POOL: T.EC2_IP}
    assert not topo.priv.ping(T.HOME_IP, timeout=1)

    prod.start_client()
    prod.wait_kernel_routes("ec2")
    wait_for("the home network at the fabric",
             lambda: T.LAN_ANNOUNCED in fabric_routes(topo.vpc))
    assert fabric_routes(topo.vpc) == {T.POOL: T.EC2_IP, T.LAN_ANNOUNCED: T.EC2_IP}
    wait_for("the source/dest check off", lambda: rsa.prod.fabric.sdc is False)
    assert topo.priv.ping(T.HOME_IP, count=2)
    assert topo.home.ping(T.PRIV_IP, count=2)

    # doctor reads BIRD's sessions through its control socket
    d = doctor(rsa)
    assert d["bgp"]["socket"] == rsa.ec2_bird.sock
    (s,) = d["bgp"]["sessions"]
    assert (s["name"], s["bgp_state"], s["neighbor"], s["neighbor_as"], s["local_as"],
            s["exported"], s["imported"]) == ("vpcroute_rs1", "Established", T.VPC_ROUTER_IP,
                                              RS_ASN, PEER_ASN, 2, 0)
    assert not [f for f in d["findings"] if f["level"] == "problem"], d["findings"]
    assert any("session vpcroute_rs1 with 10.1.1.1 (AS 65000) established, 2 routes exported"
               in f["message"] for f in d["findings"])

    # the client leaves: the agent's kernel route goes, and with it the
    # fabric's route (BGP withdraws it); the pool stays
    prod.client.stop()
    wait_for("the home network withdrawn",
             lambda: T.LAN_ANNOUNCED not in fabric_routes(topo.vpc))
    assert fabric_routes(topo.vpc) == {T.POOL: T.EC2_IP}
    prod.start_client()
    wait_for("the home network back", lambda: T.LAN_ANNOUNCED in fabric_routes(topo.vpc))

    # no route-table call at all from the agent; its one change: the check
    calls = rsa.agent_calls()
    assert not ROUTE_CALLS & set(calls), calls
    assert [a for a in calls if not a.startswith("Describe")] == \
        ["ModifyNetworkInterfaceAttribute"], calls
    rt = rsa.aws.ec2.describe_route_tables(RouteTableIds=[rsa.aws.rtb_id])["RouteTables"][0]
    assert not [r for r in rt["Routes"] if r.get("NetworkInterfaceId")], rt["Routes"]
    st = json.loads(subprocess.run([built("agent/vpcroutectl"), "-s", prod.server_agent.sock,
                                    "status", "--json"], capture_output=True, text=True,
                                   check=True).stdout)
    assert st["aws"]["routes"] == "route-server" and st["aws"]["route_tables"] == []
    text = subprocess.run([built("agent/vpcroutectl"), "-s", prod.server_agent.sock, "status"],
                          capture_output=True, text=True, check=True).stdout
    assert ("  VPC routes: announced by the BGP daemon to VPC Route Server (aws.routes "
            "\"route-server\"), no route-table call\n") in text

    # the instance dies (its BIRD stops answering, its TCP session is left
    # open): the route server's BFD notices, and every route goes
    rsa.ec2_bird.freeze()
    wait_for("the routes gone", lambda: not fabric_routes(topo.vpc))
    assert rsa.rs.sessions()["peer1"][1] == "Error: BFD session down"
    assert not topo.priv.ping(T.HOME_IP, timeout=1)


def test_doctor_reports_a_session_down(rsa):
    topo, prod = rsa.topo, rsa.prod
    rsa.up()
    prod.start_client()
    wait_for("the home network at the fabric",
             lambda: T.LAN_ANNOUNCED in fabric_routes(topo.vpc))
    rsa.rs.stop()  # the route server goes away: the instance's session drops
    wait_for("the session down", lambda: rsa.ec2_bird.sessions()["vpcroute_rs1"][0]
             not in ("", "Established"))
    d = doctor(rsa)
    (s,) = d["bgp"]["sessions"]
    assert s["bgp_state"] != "Established" and s["exported"] == 0
    msgs = [f["message"] for f in d["findings"] if f["level"] == "problem"]
    assert any(m.startswith("bgp: session vpcroute_rs1 with 10.1.1.1 (AS 65000) is ")
               for m in msgs), msgs
    assert "bgp: no session established: the VPC route tables lose this instance's networks" \
        in msgs
    # BIRD gone: doctor says it cannot read it, and the exit status is 1
    rsa.ec2_bird.stop()
    r = topo.ec2.run([built("agent/vpcroutectl"), "-f", prod.server_agent.conf, "doctor"],
                     check=False)
    assert r.returncode == 1
    assert f"bgp: cannot read BIRD's sessions (cannot connect to {rsa.ec2_bird.sock}" in r.stdout


@pytest.fixture
def rsab(topo_a, pki, tmp_path, aws):
    r = RouteServerAB(topo_a, pki, str(tmp_path), aws)
    yield r
    r.close()


def test_failover_to_b_follows_the_client(rsab):
    """Two servers: A dies, the client reconnects to B, the VPC follows it
    through BGP alone."""
    topo = rsab.topo
    rsab.up()
    wait_for("both pools at the fabric", lambda: fabric_routes(topo.vpc)
             == {T.POOL: T.EC2_IP, POOL_B: EC2_B_IP})
    rsab.start_client()
    wait_for("the home network via A",
             lambda: fabric_routes(topo.vpc).get(T.LAN_ANNOUNCED) == T.EC2_IP)
    assert topo.priv.ping(T.HOME_IP, count=2)
    assert rsab.b_agent.routes() == []  # B announces nothing of the client's

    rsab.kill_a()
    # A's routes leave with its BFD session; the client comes back through B
    wait_for("A's routes gone", lambda: T.POOL not in fabric_routes(topo.vpc))
    wait_for("the home network via B",
             lambda: fabric_routes(topo.vpc).get(T.LAN_ANNOUNCED) == EC2_B_IP, timeout=30)
    assert fabric_routes(topo.vpc) == {POOL_B: EC2_B_IP, T.LAN_ANNOUNCED: EC2_B_IP}
    assert rsab.b_agent.routes() == [T.LAN_ANNOUNCED]
    assert topo.priv.ping(T.HOME_IP, count=2)
    assert topo.home.ping(T.PRIV_IP, count=2)
    assert rsab.rs.sessions()["peer1"][1] == "Error: BFD session down"
    calls = rsab.agent_calls()
    assert not ROUTE_CALLS & set(calls), calls
