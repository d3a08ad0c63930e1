# SPDX-License-Identifier: GPL-2.0-or-later
"""The agent keeps the kernel right, not its memory: what is deleted or
flushed behind its back comes back, a tunnel device that goes and comes
gets its routes again, a failed install is never acknowledged as done, and
status tells what the kernel holds (vpcroute-agent(8), "Keeping the kernel
right")."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from vrlab.agent import Agent, tunnel_host
from vrlab.build import built
from vrlab.ctlconn import CtlConn
from vrlab.fakeplugin import FakePlugin

CONF = {"version": 1, "role": "server", "local_networks": ["192.168.255.0/24"],
        "tunnel": {"pool": "100.64.0.0/16"},
        "nat": {"masquerade": [{"sources": ["192.168.255.0/24"], "out_interface": "eth0"}]},
        # the agent applies the admission policy itself: these clients are allowed
        "default_client": {"allow": ["192.168.1.0/24", "172.16.0.0/12"]}}
BOUND = 20  # seconds: generous, never a timing assertion; the time is reported


@pytest.fixture
def host(lab):
    return tunnel_host(lab)


def until(what, check, bound=BOUND):
    """Polls check() until true; returns the seconds it took (for the report)."""
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < bound, f"{what}: not within {bound}s"
        time.sleep(0.01)
    took = time.monotonic() - t0
    print(f"{what}: {took * 1000:.0f} ms")
    return took


def remote4(agent):
    els = agent.set_elements("remote4")
    if els is None:
        return None
    out = []
    for e in els:
        p = e.get("prefix") if isinstance(e, dict) else None
        out.append(f"{p['addr']}/{p['len']}" if p else json.dumps(e))
    return sorted(out)


def validate(doc):
    import jsonschema
    top = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    with open(os.path.join(top, "doc", "status.schema.json")) as f:
        jsonschema.validate(doc, json.load(f))


def ctl(*args):
    return subprocess.run([built("agent/vpcroutectl"), *args], capture_output=True, text=True,
                          timeout=20)


def started(host, tmp_path, conf=None, dev="tun0"):
    agent = Agent(host, str(tmp_path / "agent"), dict(conf or CONF), grace=0).start()
    plugin = FakePlugin(agent.sock).connect(dev=dev)
    plugin.drain(0.2)
    return agent, plugin


def test_deleted_route_comes_back(host, tmp_path):
    agent, plugin = started(host, tmp_path)
    plugin.client("pi-home", ["192.168.1.128/25"])
    plugin.client("laptop", ["172.16.9.0/24"])
    until("routes installed", lambda: agent.routes() == ["172.16.9.0/24", "192.168.1.128/25"])
    host.run("ip route del 192.168.1.128/25")
    until("deleted route back", lambda: agent.routes() == ["172.16.9.0/24", "192.168.1.128/25"])
    # counted as a repair in the metrics
    m = subprocess.run([built("agent/vpcroutectl"), "-s", agent.sock, "metrics"],
                       capture_output=True, text=True, timeout=10)
    assert re.search(r'^vpcroute_kernel_repairs_total\{object="route"\} 1$', m.stdout, re.M), \
        m.stdout + m.stderr
    # a stray route of our protocol that nothing wants goes; a foreign route is untouched
    host.run("ip route add 10.99.0.0/16 dev tun0 proto 212")
    host.run("ip route add 10.98.0.0/16 dev tun0 proto static")
    until("stray route removed", lambda: "10.99.0.0/16" not in agent.routes())
    assert "10.98.0.0/16" in host.run("ip route show proto static").stdout
    # our own changes do not start reconciles: no loop
    mark = len(agent.log_text())
    plugin.client("c3", ["172.16.10.0/24"])
    until("c3 route", lambda: "172.16.10.0/24" in agent.routes())
    time.sleep(0.5)
    assert "changed by someone else" not in agent.log_text()[mark:]


def test_deleted_element_comes_back(host, tmp_path):
    agent, plugin = started(host, tmp_path)
    plugin.client("pi-home", ["192.168.1.128/25"])
    want = ["100.64.0.0/16", "192.168.1.128/25"]
    until("elements", lambda: remote4(agent) == want)
    host.run("nft delete element inet vpcroute remote4 '{ 192.168.1.128/25 }'")
    until("deleted element back", lambda: remote4(agent) == want)
    # an element nobody wanted is taken out again
    host.run("nft add element inet vpcroute remote4 '{ 10.77.0.0/16 }'")
    until("foreign element gone", lambda: remote4(agent) == want)


def test_flushed_ruleset_rebuilt_and_foreign_table_untouched(host, tmp_path):
    agent, plugin = started(host, tmp_path)
    plugin.client("pi-home", ["192.168.1.128/25"])
    until("table", lambda: agent.table() is not None and "192.168.1.128/25" in agent.table())
    host.run("nft flush ruleset")
    until("table rebuilt", lambda: agent.table() is not None
          and "192.168.1.128/25" in (agent.table() or ""))
    host.run("nft add table ip mine")
    host.run("nft add chain ip mine post '{ type nat hook postrouting priority 100; }'")
    host.run("nft add rule ip mine post oifname eth0 masquerade")
    time.sleep(0.5)
    assert "masquerade" in host.run("nft list table ip mine").stdout
    # a deleted table is rebuilt too; a flushed one (rules gone, sets kept) as well
    host.run("nft delete table inet vpcroute")
    until("deleted table rebuilt", lambda: "192.168.1.128/25" in (agent.table() or ""))
    host.run("nft flush table inet vpcroute")
    until("flushed table rebuilt", lambda: "snat ip to ip saddr" in (agent.table() or ""))
    assert "masquerade" in host.run("nft list table ip mine").stdout


def test_tunnel_device_recreated_gets_its_routes(host, tmp_path):
    agent, plugin = started(host, tmp_path)
    plugin.client("pi-home", ["192.168.1.128/25"])
    until("route", lambda: agent.routes() == ["192.168.1.128/25"])
    host.run("ip link del tun0")  # OpenVPN restarts: its device goes (with our route)
    until("route gone with its device", lambda: agent.routes() == [])
    host.run("ip link add tun0 type veth peer name tun0peer")
    host.run("ip link set tun0 up")
    host.run("ip link set tun0peer up")
    until("route back on the new device", lambda: agent.routes() == ["192.168.1.128/25"])


def test_failed_install_not_acked_retried(host, tmp_path):
    # immediate admission: the client stays, shown failed, retried until its device appears
    agent, plugin = started(host, tmp_path, dev="tun9")
    rid = plugin.client("pi-home", ["192.168.1.128/25"])
    acks = [m for m in plugin.drain() if m.get("type") == "ack" and m.get("ref") == rid]
    assert acks and acks[0]["ok"], acks  # accepted (OpenVPN admitted it), not programmed:
    doc = CtlConn(agent.sock).status()
    validate(doc)
    (client,) = doc["instances"][0]["clients"]
    assert client["state"] == "failed" and "device tun9 is missing" in client["error"], client
    assert doc["routes_missing"] == [{"destination": "192.168.1.128/25", "device": "tun9",
                                      "state": "failed", "error": "device tun9 is missing"}]
    assert doc["routes"] == []
    r = ctl("-s", agent.sock, "doctor")
    assert r.returncode == 1
    assert "PROBLEM  route 192.168.1.128/25 dev tun9 failed: device tun9 is missing" \
        in r.stdout, r.stdout
    assert "client pi-home of server is not programmed" in r.stdout, r.stdout
    r = ctl("-s", agent.sock, "status")
    assert "wanted, not in the kernel: 192.168.1.128/25 dev tun9 (failed: device tun9 is " \
        "missing)\n" in r.stdout, r.stdout
    assert "192.168.1.128/25 [failed: 192.168.1.128/25: device tun9 is missing]\n" \
        in r.stdout, r.stdout
    # changes pending: plan says so, and its exit status is 4 (vpcroutectl(8))
    r = ctl("-s", agent.sock, "plan", "--json")
    assert r.returncode == 4, r.stdout + r.stderr
    plan = json.loads(r.stdout)
    assert plan["routes_to_add"] == [{"destination": "192.168.1.128/25", "device": "tun9"}], plan
    agent.wait_log(r"retrying what failed", timeout=BOUND)
    host.run("ip link add tun9 type veth peer name tun9peer")
    host.run("ip link set tun9 up")
    until("route once the device appears", lambda: agent.routes() == ["192.168.1.128/25"])
    doc = CtlConn(agent.sock).status()
    assert doc["instances"][0]["clients"][0]["state"] == "programmed"


def test_failed_install_refused_when_deferred(host, tmp_path):
    conf = dict(CONF, plugin={"admission": "deferred"})
    agent, plugin = started(host, tmp_path, conf=conf, dev="tun9")
    rid = plugin.client("pi-home", ["192.168.1.128/25"])
    acks = [m for m in plugin.drain() if m.get("type") == "ack" and m.get("ref") == rid]
    assert acks and not acks[0]["ok"], acks
    assert "programming client pi-home failed" in acks[0]["error"]
    assert "No such device" in acks[0]["error"], acks[0]["error"]
    doc = CtlConn(agent.sock).status()
    assert doc["instances"][0]["clients"] == [] and doc["routes"] == []
    assert doc["routes_missing"] == []


def test_status_shows_what_the_kernel_holds(host, tmp_path):
    agent, plugin = started(host, tmp_path)
    plugin.client("pi-home", ["192.168.1.128/25"])
    until("route", lambda: agent.routes() == ["192.168.1.128/25"])
    c = CtlConn(agent.sock)
    doc = c.status()
    validate(doc)
    assert doc["routes"] == [{"destination": "192.168.1.128/25", "device": "tun0",
                              "state": "installed"}]
    assert doc["routes_missing"] == []
    assert doc["nftables"]["state"] == "ok" and doc["plan"]["nftables"] is None
    # Stopped, the agent cannot repair: the route and an element are deleted, and
    # a status request is queued. On SIGCONT the notifications and the request
    # are served in one pass of its loop; the repair waits for the debounce.
    doc = c.status_while_stopped(
        agent, host, "ip route del 192.168.1.128/25",
        "nft delete element inet vpcroute remote4 '{ 192.168.1.128/25 }'")
    validate(doc)
    assert doc["routes"] == []
    assert doc["routes_missing"] == [{"destination": "192.168.1.128/25", "device": "tun0",
                                      "state": "missing", "error": None}]
    assert doc["instances"][0]["clients"][0]["state"] == "missing"
    assert doc["nftables"]["state"] == "differs" and not doc["nftables"]["built"]
    assert doc["nftables"]["set_elements"]["remote4"] == 1  # as read, not as believed
    assert doc["plan"]["routes_to_add"] == [{"destination": "192.168.1.128/25",
                                             "device": "tun0"}]
    assert doc["plan"]["nftables"] == ("rebuild the table: set remote4 holds 1 elements "
                                       "instead of 2"), doc["plan"]
    until("repaired", lambda: agent.routes() == ["192.168.1.128/25"]
          and remote4(agent) == ["100.64.0.0/16", "192.168.1.128/25"])
    doc = c.status()
    assert doc["nftables"]["state"] == "ok" and doc["routes"][0]["state"] == "installed"
    # the same as a table, and doctor, for a route missing from the kernel
    text = ctl("-s", agent.sock, "status").stdout
    assert "kernel routes (proto vpcroute): 192.168.1.128/25 dev tun0\n" in text, text
    assert "wanted, not in the kernel: none\n" in text, text


def test_no_false_drift(host, tmp_path):
    """Every set kind (intervals, concatenations with ports, IPv6) read back
    equals what was applied: reloads and periodic checks change nothing."""
    host.run("ip -6 addr add fd00:1:1::2/64 dev eth0 nodad")
    conf = dict(CONF, local_networks=["192.168.255.0/24", "fd00:1:1::/64"],
                tunnel={"pool": "100.64.0.0/16", "pool6": "fd00:2::/64"},
                kernel_check_s=1,
                default_client={"allow": ["10.0.0.0/8", "172.16.0.0/12", "fd00:99::/48"],
                                "to_local": True,
                                 "from_local": [{"to": "172.16.0.0/12", "proto": "tcp",
                                                 "ports": [22, "8000-8080"]},
                                                {"to": "fd00:99::/48", "proto": "udp",
                                                 "ports": [53]}]})
    agent, plugin = started(host, tmp_path, conf=conf)
    plugin.client("a", ["172.16.1.0/24", "fd00:99::/56"])
    plugin.client("b", ["172.17.0.0/16", "10.0.0.0/8"])
    until("routes", lambda: len(agent.routes()) == 3)  # IPv4 ones
    mark = len(agent.log_text())
    agent.send_signal(signal.SIGHUP)
    agent.wait_log(r"configuration .* reloaded")
    agent.wait_log(r"kernel: reconciling \(periodic check\)", timeout=BOUND)
    agent.wait_log(r"kernel: reconciling \(periodic check\)", timeout=BOUND)
    after = agent.log_text()[mark:]
    assert "changed from outside" not in after and "table inet vpcroute built" not in after
    assert "changed by someone else" not in after, after
    doc = CtlConn(agent.sock).status()
    assert doc["nftables"]["state"] == "ok", doc["nftables"]
    assert doc["nftables"]["set_elements"] == doc["nftables"]["set_elements_wanted"]
    assert doc["nftables"]["set_elements"]["ports4"] == 2
    # an IPv6 route deleted comes back too (RTNLGRP_IPV6_ROUTE)
    v6 = lambda: "fd00:99::/56" in host.run("ip -6 route show proto 212").stdout  # noqa: E731
    host.run("ip -6 route del fd00:99::/56")
    until("deleted IPv6 route back", v6)
