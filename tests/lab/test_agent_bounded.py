# SPDX-License-Identifier: GPL-2.0-or-later
"""Bounded work per loop pass (issue 11, item 3): a large sync is acknowledged
and its routes and set elements go in a bounded number per pass; a status
and a connect asked meanwhile are answered while routes of the sync are
still missing, a connect's ack means its own route is in, and the end state
is exactly the wanted routes and set elements: the same table as an agent
that builds it whole at start. Order of answers and contents, not time."""
import json
import signal
import time

import pytest

from vrlab.agent import Agent, tunnel_host
from vrlab.fakeplugin import FakePlugin
from vrlab.scale import CONF, host_net, sync_peers

N = 20000


def answer(s, ref, timeout=120):
    """The messages up to the ack of ref (report texts joined), and the ack."""
    s.settimeout(timeout)
    text = []
    while True:
        m = json.loads(s.recv(1 << 20))
        if m.get("ref") == ref and m.get("type") == "report":
            text.append(m["text"])
        if m.get("type") == "ack" and m.get("ref") == ref:
            return "".join(text), m


@pytest.fixture
def agent(lab, tmp_path):
    node = tunnel_host(lab)
    a = Agent(node, str(tmp_path / "agent"), dict(CONF), grace=0).start()
    yield a
    a.stop()


def test_large_sync_leaves_room_for_status_and_connects(agent):
    big, small, ctl = sync_peers(agent.sock, "t")
    answer(ctl, 1)

    clients = [{"cn": f"c{i}", "networks": [host_net(i)]} for i in range(N)]
    for i in range(0, N, 64):
        last = big.send({"type": "sync", "clients": clients[i:i + 64], "more": i + 64 < N},
                        ack=i + 64 >= N)
    _, ack = answer(big.s, last)
    assert ack["ok"], ack

    # right after the sync's ack: its routes are still going in
    ref = small.client("s0", ["172.16.0.1/32"])
    _, cack = answer(small.s, ref)
    assert cack["ok"], cack
    # the connect's ack means its own route is in
    assert "172.16.0.1" in agent.node.run(["ip", "route", "show", "172.16.0.1/32",
                                           "proto", "212"]).stdout
    ctl.send(json.dumps({"v": 1, "type": "status", "id": 2}).encode())
    text, sack = answer(ctl, 2)
    assert sack["ok"], sack
    st = json.loads(text)
    pending = st["plan"]["routes_to_add"]
    # answered before the sync's routes were all in (the old agent answered
    # only after the last one)
    assert 0 < len(pending) < N, len(pending)
    assert all(p["destination"].startswith("10.") for p in pending)

    want = sorted([host_net(i).split("/")[0] for i in range(N)] + ["172.16.0.1"])
    deadline = time.time() + 300
    ref = 3
    while True:
        assert time.time() < deadline, "the sync's routes and elements never completed"
        ctl.send(json.dumps({"v": 1, "type": "status", "id": ref}).encode())
        plan = json.loads(answer(ctl, ref)[0])["plan"]
        ref += 1
        if agent.routes() == want and plan["nftables"] is None:
            break
        time.sleep(0.5)
    done = agent.dump()
    assert len(done["routes"]) == N + 1
    assert done["nftables"], "no table built"
    # the same as a reconcile from scratch would make
    agent.send_signal(signal.SIGHUP)
    agent.wait_log(r"configuration .* reloaded")
    ctl.send(json.dumps({"v": 1, "type": "status", "id": ref}).encode())
    text, _ = answer(ctl, ref)
    assert json.loads(text)["plan"]["routes_to_add"] == []
    assert agent.dump() == done
    assert "172.16.0.1" in json.dumps(done["nftables"])
    # single addresses in the hash set, prefixes (the pool) in the interval set
    hosts = set(agent.set_elements("remote_host4"))
    assert hosts == set(want), len(hosts)
    assert [e["prefix"]["addr"] for e in agent.set_elements("remote4")] == ["100.64.0.0"]

    # the table an agent builds whole from the same clients (at start, one
    # transaction) is the one the passes made
    agent.kill9()
    agent.grace = 5
    agent.start()
    big = FakePlugin(agent.sock, instance="big").connect()
    small = FakePlugin(agent.sock, instance="small").connect()
    small.client_acked("s0", ["172.16.0.1/32"])
    for i in range(0, N, 64):
        last = big.send({"type": "sync", "clients": clients[i:i + 64], "more": i + 64 < N},
                        ack=i + 64 >= N)
    assert answer(big.s, last)[1]["ok"]
    agent.wait_log("nftables: table inet vpcroute built")
    deadline = time.time() + 120
    while agent.dump() != done:
        assert time.time() < deadline, "the rebuilt table differs"
        time.sleep(0.5)
