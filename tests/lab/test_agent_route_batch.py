# SPDX-License-Identifier: GPL-2.0-or-later
"""The route changes of one pass of the agent's loop go to the kernel as one
netlink batch (agent/rtnl.c, rtnl_batch), each request acknowledged on its
own: a route the kernel refuses fails its own client, named, and nothing
else (vpcroute-agent(8), ADMISSION)."""
import json

import pytest

from vrlab.agent import Agent, tunnel_host
from vrlab.fakeplugin import FakePlugin

CONF = {"version": 1, "role": "server", "local_networks": ["192.168.255.0/24"],
        "tunnel": {"pool": "100.64.0.0/16"},
        "plugin": {"admission": "deferred"},
        "default_client": {"allow": ["10.0.0.0/8"]}}


@pytest.fixture
def host(lab):
    n = tunnel_host(lab)
    # a second tunnel device, down: the kernel refuses a route through it
    # ("Device for nexthop is not up")
    n.run("ip link add tun1 type veth peer name tun1peer")
    return n


def answers(plugin, ids, timeout=10):
    """The acks of the requests ids, by id."""
    got = {}
    plugin.s.settimeout(timeout)
    while len(got) < len(ids):
        m = json.loads(plugin.s.recv(1 << 20))
        if m.get("type") == "ack" and m.get("ref") in ids:
            got[m["ref"]] = m
    return got


def test_one_refused_route_fails_its_client_alone(host, tmp_path):
    agent = Agent(host, str(tmp_path / "agent"), dict(CONF)).start()
    up = FakePlugin(agent.sock, instance="server", version=2).connect(dev="tun0")
    down = FakePlugin(agent.sock, instance="server-tcp", version=2).connect(dev="tun1")
    up.drain()
    down.drain()
    # sent back to back: the agent reads them in one pass, and their routes
    # go in one batch, the refused one between the others
    ids = {up.client("a", ["10.0.1.0/24"]): "a", down.client("b", ["10.0.2.0/24"]): "b",
           up.client("c", ["10.0.3.0/24"]): "c", up.client("d", ["10.0.4.0/24"]): "d"}
    got = answers(up, [i for i, cn in ids.items() if cn != "b"])
    got.update(answers(down, [i for i, cn in ids.items() if cn == "b"]))
    for rid, cn in ids.items():
        m = got[rid]
        if cn == "b":
            assert not m["ok"], m
            assert "programming client b failed" in m["error"], m
            assert "Network is down" in m["error"], m
        else:
            assert m["ok"], (cn, m)
    # the others' routes are in the kernel, b's is not
    assert agent.routes() == ["10.0.1.0/24", "10.0.3.0/24", "10.0.4.0/24"]
    agent.wait_log(r"route 10\.0\.2\.0/24 dev tun1: Network is down")
    log = agent.log_text()
    for n in ("10.0.1.0/24", "10.0.3.0/24", "10.0.4.0/24"):
        assert f"route {n} dev tun0 added" in log, log
        assert f"route {n} dev tun0:" not in log, log  # no failure of theirs
    up.close()
    down.close()
    agent.stop()
