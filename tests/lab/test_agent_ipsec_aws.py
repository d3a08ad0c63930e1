# SPDX-License-Identifier: GPL-2.0-or-later
"""IPsec peers against the instance's security groups (issue 18), in EC2's
emulator (moto) with the metadata mock, as test_agent_aws.py runs them: the
agent reads the interface's groups and their inbound rules (with their
sources), says in its status whether each ipsec.peers address may send IKE
(UDP 500), NAT traversal (UDP 4500) and ESP (protocol 50), and vpcroutectl
doctor warns for each that is missing, naming the group, the port and the
peer. No SA is needed for this, so it runs on the lab's own kernel."""
import os
import re

from test_agent_aws import Cloud  # noqa: F401 (the fixture's class)
from vrlab.build import built
from vrlab.vici import ViciServer, ike_sa
from vrlab.waiting import wait_for

import pytest

PEER, OTHER = "203.0.113.7", "198.51.100.9"
CONF = {"version": 1, "role": "client", "local_networks": "auto",
        "aws": {"withdraw_grace_s": 3, "drift_check_s": 10},
        "ipsec": {"peers": {PEER: {"allow": ["192.168.99.0/24"]},
                            OTHER: {"allow": ["192.168.98.0/24"]}}}}


@pytest.fixture
def cloud(lab, aws, tmp_path):
    c = Cloud(lab, aws, str(tmp_path))
    yield c
    c.close()


def doctor(cloud, agent):
    r = cloud.host.run([built("agent/vpcroutectl"), "-s", agent.sock, "doctor"], check=False)
    return r.stdout


def groups_of(agent):
    return {p["peer"]: p["security_groups"] for p in agent.status()["ipsec"]["peers"]}


def ids_of(agent):
    return [(p["peer"], p["id"]) for p in agent.status()["ipsec"]["peers"]]


def test_doctor_checks_security_groups_for_ipsec_peers(cloud):
    ec2, w = cloud.world.ec2, cloud.world
    # IKE open to the peer, but to another source only for NAT traversal,
    # and ESP from a group (which no peer's address is in)
    sg = w.only_group("ipsec-gw", [
        {"IpProtocol": "udp", "FromPort": 500, "ToPort": 500,
         "IpRanges": [{"CidrIp": f"{PEER}/32"}]},
        {"IpProtocol": "udp", "FromPort": 4500, "ToPort": 4500,
         "IpRanges": [{"CidrIp": "192.0.2.0/24"}]},
        {"IpProtocol": "50", "FromPort": -1, "ToPort": -1,
         "UserIdGroupPairs": [{"GroupId": w.sg_id}]}])
    a = cloud.agent(CONF).start()
    wait_for("the groups read", lambda: groups_of(a)[PEER]["udp500"] is not None, timeout=20)
    assert groups_of(a) == {
        PEER: {"udp500": True, "udp4500": False, "esp": False},
        OTHER: {"udp500": False, "udp4500": False, "esp": False}}
    (rules,) = [r for r in a.status()["aws"]["security_groups"]["ingress"]
                if r["proto"] == "udp" and r["from"] == 500]
    assert rules == {"group": sg, "proto": "udp", "from": 500, "to": 500,
                     "sources": [f"{PEER}/32"], "other_sources": False}
    out = doctor(cloud, a)
    assert re.search(rf"^PROBLEM +IPsec peer {re.escape(PEER)}: no inbound rule of the security "
                     rf"group {sg} lets UDP 4500 in from {re.escape(PEER)} ", out, re.M), out
    assert re.search(rf"^note +IPsec peer {re.escape(PEER)}: no inbound rule of the security "
                     rf"group {sg} lets ESP \(IP protocol 50\) in", out, re.M), out
    assert not re.search(rf"lets UDP 500 in from {re.escape(PEER)}", out), out
    for what in ("UDP 500", "UDP 4500", r"ESP \(IP protocol 50\)"):
        assert re.search(rf"IPsec peer {re.escape(OTHER)}: .* lets {what} in from "
                         rf"{re.escape(OTHER)} .*: add one to {sg}", out), out
    # opened: seen at the next drift check (drift_check_s 10)
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": 4500, "ToPort": 4500,
         "IpRanges": [{"CidrIp": "203.0.113.0/24"}]},
        {"IpProtocol": "50", "FromPort": -1, "ToPort": -1,
         "IpRanges": [{"CidrIp": f"{PEER}/32"}]}])
    want = {"udp500": True, "udp4500": True, "esp": True}
    wait_for("the rules seen", lambda: groups_of(a)[PEER] == want, timeout=30)
    out = doctor(cloud, a)
    assert re.search(rf"^ok +IPsec peer {re.escape(PEER)}: the security groups let IKE, NAT "
                     r"traversal and ESP in from it", out, re.M), out
    assert f"in from {PEER} " not in out, out


def test_doctor_checks_security_groups_for_peers_by_identity(cloud, tmp_path):
    """A peer keyed by IKE identity is checked at the outer address the agent
    sees for it (the IKE_SA's remote-host that VICI lists with the identity);
    while none is known, doctor says so instead of passing over it."""
    sg = cloud.world.only_group("ipsec-ids", [
        {"IpProtocol": "udp", "FromPort": 500, "ToPort": 500,
         "IpRanges": [{"CidrIp": f"{PEER}/32"}]}])
    sock = os.path.join(str(tmp_path), "charon.vici")
    srv = ViciServer(sock)
    try:
        conf = dict(CONF, ipsec={"vici_socket": sock,
                                 "peers": {"@site1.example": {"allow": ["192.168.99.0/24"]},
                                           OTHER: {"allow": ["192.168.98.0/24"]}}})
        a = cloud.agent(conf).start()
        assert srv.wait_requests(1)
        wait_for("the groups read", lambda: groups_of(a)[OTHER]["udp500"] is not None,
                 timeout=20)
        assert ids_of(a) == [(None, "@site1.example"), (OTHER, None)]
        out = doctor(cloud, a)
        assert re.search(r"^note +IPsec peer @site1\.example: its address is not known yet "
                         r"\(VICI lists no IKE_SA with that remote identity\)", out, re.M), out
        # strongSwan lists it (FQDN without "@"), from PEER: checked there
        srv.sas = [ike_sa("site1", PEER, "site1.example", ["192.168.99.0/24"])]
        srv.event("ike-updown", {"up": "yes", **srv.sas[0]})
        assert srv.wait_requests(2)
        wait_for("its address", lambda: ids_of(a)[0] == (PEER, "@site1.example"), timeout=20)
        assert groups_of(a)[PEER] == {"udp500": True, "udp4500": False, "esp": False}
        out = doctor(cloud, a)
        assert re.search(rf"^PROBLEM +IPsec peer {re.escape(PEER)} \(@site1\.example\): no "
                         rf"inbound rule of the security group {sg} lets UDP 4500 in from "
                         rf"{re.escape(PEER)} ", out, re.M), out
        assert not re.search(rf"lets UDP 500 in from {re.escape(PEER)}", out), out
        assert "its address is not known yet" not in out, out
    finally:
        srv.close()
