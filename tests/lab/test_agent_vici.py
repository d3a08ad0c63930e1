# SPDX-License-Identifier: GPL-2.0-or-later
"""ipsec.peers keyed by IKE identity: the agent's client of strongSwan's VICI
socket (agent/vici.c) against a scripted VICI server written here in Python
from strongSwan's protocol description (tests/lab/vrlab/vici.py), an
implementation independent of the agent's. The lab's kernel has no ESP, so
the tunnels stay without an SA here: what is checked is the client (its
handshake, its lists on events, bad input, charon restarting) and which
ipsec.peers entry the agent picks for each tunnel; admission with live SAs
is tests/unit/test_ipsec.c's, and with real strongSwan the VM's
(test_ipsec_vm_vici.py)."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from vrlab.agent import Agent, settles, tunnel_host
from vrlab.build import built
from vrlab.vici import ViciServer, ike_sa, packet, encode_message, EVENT

SITE1 = "203.0.113.20"
OTHER = "203.0.113.7"


def conf(sock):
    return {"version": 1, "role": "client", "local_networks": ["10.0.0.0/16"],
            "ipsec": {"vici_socket": sock,
                      "peers": {"@site1.example": {"allow": ["192.168.1.0/24"]},
                                OTHER: {"allow": ["192.168.99.0/24"]}}}}


def policy(node, dst, peer):
    node.run(f"ip xfrm policy add src 10.0.0.0/16 dst {dst} dir out "
             f"tmpl src 198.51.100.1 dst {peer} proto esp mode tunnel reqid 1")


def by_peer(agent):
    """{peer: (policy, ike_sa)} of the status's tunnels."""
    return {t["peer"]: (t["policy"], t["ike_sa"]) for t in agent.status()["ipsec"]["tunnels"]}


def policies(agent):
    return {p: pol for p, (pol, _) in by_peer(agent).items()}


@pytest.fixture
def gw(lab):
    host = tunnel_host(lab, "gw")
    work = tempfile.mkdtemp(prefix="vr-vici-")
    sock = os.path.join(work, "charon.vici")
    srv = ViciServer(sock)
    # strongSwan reports an FQDN identity without swanctl.conf's "@"
    srv.sas = [ike_sa("site1", SITE1, "site1.example", ["192.168.1.0/24"])]
    policy(host, "192.168.1.0/24", SITE1)
    policy(host, "192.168.99.0/24", OTHER)
    agent = Agent(host, work, conf(sock), grace=0).start()
    agent.wait_log(r"vici: connected to ")
    assert srv.wait_requests(1)
    yield host, agent, srv
    agent.stop()
    srv.close()
    shutil.rmtree(work, ignore_errors=True)


def test_handshake_and_identity_names_the_policy(gw):
    host, agent, srv = gw
    # registrations first, one at a time, then the list
    assert srv.seen[:4] == [("register", "ike-updown"), ("register", "child-updown"),
                            ("register", "list-sa"), ("request", "list-sas")]
    want = {SITE1: "@site1.example", OTHER: OTHER}
    assert settles(lambda: policies(agent), want) == want
    st = agent.status()["ipsec"]
    assert st["vici"]["connected"] is True and st["vici"]["ike_sas"] == 1
    assert st["vici"]["error"] is None and st["vici"]["listed_at"] is not None
    ike = by_peer(agent)[SITE1][1]
    assert ike == {"name": "site1", "remote_id": "site1.example", "state": "ESTABLISHED",
                   "ambiguous": False}
    assert by_peer(agent)[OTHER][1] is None  # no IKE_SA listed from it
    r = host.run([built("agent/vpcroutectl"), "-s", agent.sock, "status"])
    assert "IKE_SA site1 (ESTABLISHED), remote id site1.example" in r.stdout
    assert "policy: ipsec.peers.@site1.example" in r.stdout
    assert f"strongSwan VICI {srv.path}: connected, 1 IKE_SA listed" in r.stdout


def test_event_lists_again(gw):
    host, agent, srv = gw
    # the same address comes back as someone else: an event, a new list
    srv.sas = [ike_sa("site1", SITE1, "intruder.example", ["192.168.1.0/24"])]
    srv.event("ike-updown", {"up": "yes", **srv.sas[0]})
    assert srv.wait_requests(2)
    want = {SITE1: None, OTHER: OTHER}
    assert settles(lambda: policies(agent), want) == want
    assert by_peer(agent)[SITE1][1]["remote_id"] == "intruder.example"
    # doctor names the identity no tunnel has
    host.sysctl("net.ipv4.ip_forward", 1)  # the namespace's own
    r = host.run([built("agent/vpcroutectl"), "-f", agent.conf, "doctor", "--json"], check=False)
    msgs = [(f["level"], f["message"]) for f in json.loads(r.stdout)["findings"]]
    assert any(lv == "problem" and m.startswith(
        "ipsec.peers.@site1.example: no tunnel's IKE_SA has the remote identity "
        "\"@site1.example\"") for lv, m in msgs), msgs
    assert any(lv == "ok" and m.startswith(f"strongSwan's VICI socket {srv.path}: connected")
               for lv, m in msgs), msgs
    # two IKE_SAs from one address that disagree: no identity at all
    srv.sas = [ike_sa("site1", SITE1, "site1.example", ["192.168.1.0/24"]),
               ike_sa("site1b", SITE1, "site9.example", ["192.168.9.0/24"])]
    srv.event("child-updown", {"up": "yes", **srv.sas[1]})
    assert srv.wait_requests(3)
    assert settles(lambda: by_peer(agent)[SITE1][1]["ambiguous"], True) is True
    assert policies(agent)[SITE1] is None


@pytest.mark.parametrize("bad, why", [
    # an event whose section is left open
    (packet(EVENT, "ike-updown", encode_message({"up": "yes"}) + b"\x01\x03abc"),
     r"a malformed ike-updown event: a section left open at the end"),
    # a length no client may trust
    (b"\x7f\xff\xff\xff\x07", r"a segment length of 0 or above 512 KiB"),
    # a packet only a server receives
    (packet(0, "list-sas"), r"packet type 0 is for the server, not a client"),
], ids=["open-section", "huge-length", "server-packet"])
def test_bad_input_closes_and_changes_nothing(gw, bad, why):
    host, agent, srv = gw
    want = {SITE1: "@site1.example", OTHER: OTHER}
    assert settles(lambda: policies(agent), want) == want
    srv.sas = []  # what a reconnect will list
    srv.send(bad)
    assert srv.client_closed()
    agent.wait_log(r"vici: \S+: " + why + r"; trying again in 1 s, the IKE identities "
                   r"stay as last listed")
    # nothing changed: the identities as last listed
    assert policies(agent) == want
    # and the client is back after its delay, listing again (now: nothing)
    assert srv.wait_connected(2)
    assert srv.wait_requests(2)
    want = {SITE1: None, OTHER: OTHER}
    assert settles(lambda: policies(agent), want) == want


def test_charon_restart_reconnects(gw):
    host, agent, srv = gw
    srv.close()
    agent.wait_log(r"vici: \S+: charon closed the connection; trying again in 1 s")
    st = settles(lambda: agent.status()["ipsec"]["vici"]["connected"], False)
    assert st is False
    assert policies(agent)[SITE1] == "@site1.example"  # kept while charon is away
    # while the socket is missing, the delay grows (logged once per reason)
    agent.wait_log(r"cannot connect: No such file or directory; trying again in 2 s")
    srv.sas = [ike_sa("site1-new", SITE1, "site1.example", ["192.168.1.0/24"])]
    srv.listen()
    assert srv.wait_connected(1, timeout=15)
    assert srv.wait_requests(1)
    want = "site1-new"
    assert settles(lambda: (by_peer(agent)[SITE1][1] or {}).get("name"), want) == want
    v = agent.status()["ipsec"]["vici"]
    assert v["connected"] is True and v["connects"] == 2 and v["error"] is None


def test_check_config_warns_identity_without_vici(tmp_path):
    c = conf("/run/charon.vici")
    del c["ipsec"]["vici_socket"]
    path = tmp_path / "vpcroute.conf"
    path.write_text(json.dumps(c))
    r = subprocess.run([built("agent/vpcroutectl"), "check-config", "--offline", "-q",
                        str(path)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert ("warning: ipsec.peers.@site1.example is keyed by IKE identity, but "
            "ipsec.vici_socket is not set") in r.stderr
    # and with it set, no warning
    path.write_text(json.dumps(conf("/run/charon.vici")))
    r = subprocess.run([built("agent/vpcroutectl"), "check-config", "--offline", "-q",
                        str(path)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
