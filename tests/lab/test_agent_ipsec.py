# SPDX-License-Identifier: GPL-2.0-or-later
"""IPsec tunnels learned from the kernel's XFRM tables (issue 18), as far as
the lab's kernel allows: it has no ESP (nor AH or IPComp), so no SA can be
installed in a namespace here; tunnel-mode policies can. The agent learns
them from its dump at start and from the policy group afterwards, shows
them in its status as waiting for an SA, announces nothing for them, and
takes no message for the XFRM groups from anyone but the kernel (root may
send to them). The SA half is covered by tests/unit/test_xfrm.c and
test_ipsec.c with the kernel's own message layout."""
import json
import shutil
import socket
import struct
import subprocess
import tempfile

import pytest

from vrlab.agent import Agent, settles, tunnel_host
from vrlab.build import built

CONF = {"version": 1, "role": "client", "local_networks": ["10.0.0.0/16"],
        "ipsec": {"peers": {"203.0.113.7": {"allow": ["192.168.99.0/24"]}}}}


def policy(node, dst, peer):
    node.run(f"ip xfrm policy add src 10.0.0.0/16 dst {dst} dir out "
             f"tmpl src 198.51.100.1 dst {peer} proto esp mode tunnel reqid 1")


def remote4(agent):
    return agent.set_prefixes("remote4")


@pytest.fixture
def gw(lab):
    host = tunnel_host(lab, "gw")
    work = tempfile.mkdtemp(prefix="vr-ipsec-")
    # there before the agent: learned from its dump
    policy(host, "192.168.99.0/24", "203.0.113.7")
    agent = Agent(host, work, json.loads(json.dumps(CONF)), grace=0).start()
    yield host, agent
    agent.stop()
    shutil.rmtree(work, ignore_errors=True)


def test_policies_learned_from_dump_and_notifications(gw):
    host, agent = gw
    assert agent.status()["ipsec"]["xfrm"] is True
    assert agent.tunnels() == [("203.0.113.7", "192.168.99.0/24", False, "no SA")]
    # added and removed behind its back: followed
    policy(host, "172.16.0.0/12", "203.0.113.99")
    want = [("203.0.113.7", "192.168.99.0/24", False, "no SA"),
            ("203.0.113.99", "172.16.0.0/12", False, "no SA")]
    assert settles(agent.tunnels, want) == want
    host.run("ip xfrm policy delete src 10.0.0.0/16 dst 192.168.99.0/24 dir out")
    want = [("203.0.113.99", "172.16.0.0/12", False, "no SA")]
    assert settles(agent.tunnels, want) == want
    # an inbound policy and a transport-mode one are no tunnels
    host.run("ip xfrm policy add src 192.168.99.0/24 dst 10.0.0.0/16 dir in "
             "tmpl src 203.0.113.7 dst 198.51.100.1 proto esp mode tunnel reqid 1")
    host.run("ip xfrm policy add src 10.0.0.5/32 dst 203.0.113.9/32 dir out "
             "tmpl src 10.0.0.5 dst 203.0.113.9 proto esp mode transport")
    host.run("ip xfrm policy flush")
    assert settles(agent.tunnels, []) == []
    # without an SA nothing is announced: no remote network, no claim
    assert remote4(agent) == []
    # the IKE daemon's policies are read, never changed
    assert host.run("ip xfrm policy").stdout.strip() == ""


def test_restart_resyncs_from_dump(gw):
    host, agent = gw
    policy(host, "192.168.98.0/24", "203.0.113.7")
    want = [("203.0.113.7", "192.168.98.0/24", False, "no SA"),
            ("203.0.113.7", "192.168.99.0/24", False, "no SA")]
    assert settles(agent.tunnels, want) == want
    agent.kill9()
    host.run("ip xfrm policy delete src 10.0.0.0/16 dst 192.168.98.0/24 dir out")
    agent.start()
    assert agent.tunnels() == [("203.0.113.7", "192.168.99.0/24", False, "no SA")]


XFRM_MSG_NEWSA = 0x10
XFRMNLGRP_SA = 3


def forged_newsa():
    """An XFRM_MSG_NEWSA for a tunnel-mode ESP SA to 203.0.113.7, the layout
    of struct xfrm_usersa_info on this architecture (x86-64, 224 bytes)."""
    sel = bytes(56)
    xid = socket.inet_aton("203.0.113.7") + bytes(12) + struct.pack("!I", 0x1000) + bytes([50]) \
        + bytes(3)
    saddr = socket.inet_aton("198.51.100.1") + bytes(12)
    lft = bytes(64)
    cur = bytes(32)
    stats = bytes(12)
    tail = struct.pack("=IIHBBB", 0, 1, socket.AF_INET, 1, 0, 0) + bytes(7)
    info = sel + xid + saddr + lft + cur + stats + tail
    assert len(info) == 224
    return struct.pack("=IHHII", 16 + len(info), XFRM_MSG_NEWSA, 0, 1, 0) + info


def test_messages_not_from_the_kernel_ignored(gw):
    host, agent = gw
    # root in the namespace may send to the SA group; the agent takes only the
    # kernel's word (the kernel itself gets no copy: the port is none of its)
    script = ("import socket,sys\n"
              "s=socket.socket(socket.AF_NETLINK,socket.SOCK_RAW,6)\n"
              "s.bind((0,0))\n"
              "try:\n"
              f" s.sendto(bytes.fromhex(sys.argv[1]),(0x7ffffff0,1<<({XFRMNLGRP_SA}-1)))\n"
              "except ConnectionRefusedError:\n"
              " pass\n")
    host.run(["python3", "-c", script, forged_newsa().hex()])
    agent.wait_log(r"xfrm: a message from netlink port \d+, not the kernel, ignored")
    assert agent.tunnels() == [("203.0.113.7", "192.168.99.0/24", False, "no SA")]
    assert remote4(agent) == []
    assert host.run("ip xfrm state").stdout.strip() == ""


def test_plugin_may_not_take_the_ipsec_name(gw):
    host, agent = gw
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(agent.sock)
    s.settimeout(5)
    s.send(json.dumps({"v": 1, "id": 1, "type": "hello", "role": "client", "pid": 1,
                       "instance": "ipsec"}).encode())
    a = json.loads(s.recv(65536))
    s.close()
    assert a["type"] == "ack" and a["ok"] is False
    assert "(rule: instance)" in a["error"]


def test_human_status_shows_tunnels(gw):
    host, agent = gw
    r = subprocess.run([built("agent/vpcroutectl"), "-s", agent.sock, "status"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert "IPsec tunnels" in r.stdout
    assert "203.0.113.7" in r.stdout and "192.168.99.0/24" in r.stdout
    assert "no SA" in r.stdout


def test_doctor_reports_tunnels(gw):
    host, agent = gw
    host.sysctl("net.ipv4.ip_forward", 1)  # the namespace's own
    # a peer in the configuration without any policy to it
    conf = json.loads(json.dumps(CONF))
    conf["ipsec"]["peers"]["203.0.113.50"] = {"allow": ["192.168.50.0/24"]}
    conf["socket"] = {"path": agent.sock}
    with open(agent.conf, "w") as f:
        json.dump(conf, f)
    r = host.run([built("agent/vpcroutectl"), "-f", agent.conf, "doctor", "--json"], check=False)
    doc = json.loads(r.stdout)
    msgs = [(f["level"], f["message"]) for f in doc["findings"]]
    assert ("note", "no OpenVPN instance has connected (this host has IPsec peers)") in msgs
    assert any(lv == "note" and m.startswith("IPsec policy to 203.0.113.7 for 192.168.99.0/24 "
                                             "has no SA") for lv, m in msgs), msgs
    assert any(lv == "problem" and m.startswith("ipsec.peers.203.0.113.50: the kernel has no "
                                                "tunnel-mode policy") for lv, m in msgs), msgs


def test_route_based_policies(gw):
    """Route-based tunnels as far as this kernel goes: it has neither XFRM
    interfaces nor VTIs (nor ESP), but takes their policies, with if_id or
    mark. A wide one (0.0.0.0/0) stands for the peer's allow list; without an
    SA and without the interface nothing is routed or announced. The rest
    (interfaces, SAs, routes via them, pings) is tests/lab/test_ipsec_vm_vti.py."""
    host, agent = gw
    host.run("ip xfrm policy flush")  # the fixture's policy-based one
    host.run("ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 dir out if_id 7 "
             "tmpl src 198.51.100.1 dst 203.0.113.7 proto esp mode tunnel reqid 2")
    host.run("ip xfrm policy add src 0.0.0.0/0 dst 0.0.0.0/0 dir out mark 42 mask 0xffffffff "
             "tmpl src 198.51.100.1 dst 203.0.113.99 proto esp mode tunnel reqid 3")

    def route_based():
        return sorted((t["peer"], t["network"], t["if_id"], t["mark"], t["from_allow"],
                       t["interface"], t["state"])
                      for t in agent.status()["ipsec"]["tunnels"] if t["if_id"] or t["mark"])

    want = [("203.0.113.7", "192.168.99.0/24", 7, None, True, None, "no SA"),
            # a peer not in ipsec.peers: no allow list, its selector as it is
            ("203.0.113.99", "0.0.0.0/0", None, "0x2a/0xffffffff", False, None, "no SA")]
    assert settles(route_based, want) == want
    assert remote4(agent) == []
    assert agent.routes() == []
