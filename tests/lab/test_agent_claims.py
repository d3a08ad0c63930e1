# SPDX-License-Identifier: GPL-2.0-or-later
"""The claims the agent sends its plugins (doc/protocol.md, "claims"): deltas
from the generation each plugin holds, a snapshot after hello or when asked,
and flow control instead of disconnects (vpcroute-agent(8), FLOW CONTROL).
Plugins are raw peers here: each keeps a replica the way plugin/link.c does."""
import json
import os
import socket
import time

import pytest

from vrlab.agent import Agent, tunnel_host
from vrlab.fakeplugin import FakePlugin

CONF = {"version": 1, "role": "server", "local_networks": ["192.168.255.0/24"],
        "tunnel": {"pool": "100.64.0.0/16"},
        "default_client": {"allow": ["10.0.0.0/8"]}}


def net(i):
    return f"10.{i // 256}.{i % 256}.0/24"


@pytest.fixture
def host(lab):
    return tunnel_host(lab)


class Watcher:
    """A plugin of protocol version `version` that only keeps the claims
    replica: snapshots replace it, deltas must start from the generation it
    holds. It counts the bytes of the claims messages it receives."""

    def __init__(self, path, instance, version):
        self.version, self.instance = version, instance
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.connect(path)
        self.claims, self.partial, self.gen = set(), None, 0
        self.bytes = self.snapshots = self.deltas = 0
        self.closed = False
        self.send({"type": "hello", "id": 1, "role": "server", "pid": os.getpid(),
                   "instance": instance})

    def send(self, msg):
        self.s.send(json.dumps({"v": self.version, **msg}).encode())

    def pump(self, timeout):
        """Takes what has arrived, waiting up to timeout for the first message."""
        self.s.settimeout(timeout)
        try:
            while True:
                data = self.s.recv(1 << 17)
                if not data:
                    self.closed = True
                    return
                self.take(json.loads(data), len(data))
                self.s.settimeout(0)
        except (socket.timeout, BlockingIOError):
            pass
        except ConnectionResetError:
            self.closed = True

    def take(self, m, n):
        assert m["v"] == self.version, m
        if m["type"] == "ack":
            assert m["ok"], m
            return
        if m["type"] != "claims":
            return
        self.bytes += n
        entries = lambda k: {(c["net"], c["cn"], c["instance"]) for c in m[k]}  # noqa: E731
        if "base" in m:
            assert self.version >= 2, m
            assert self.partial is None, "a delta in the middle of a snapshot"
            assert m["base"] == self.gen, f"delta from {m['base']}, replica at {self.gen}"
            assert not entries("add") & entries("del"), m
            self.claims -= entries("del")
            self.claims |= entries("add")
            if not m["more"]:
                self.gen = m["gen"]
                self.deltas += 1
        else:
            self.partial = (self.partial or set()) | entries("claims")
            if not m["more"]:
                self.claims, self.partial, self.gen = self.partial, None, m["gen"]
                self.snapshots += 1

    def until(self, want, timeout=120):
        """Reads until the replica is want (a bound, not a measurement)."""
        deadline = time.time() + timeout
        while self.claims != want or self.partial is not None or not self.gen:
            assert not self.closed, f"{self.instance}: the agent closed the connection"
            assert time.time() < deadline, \
                f"{self.instance}: {len(self.claims)} claims, want {len(want)}"
            self.pump(0.2)
        assert not self.closed


def burst(plugin, first, n):
    """n connects pipelined, then every acknowledgement read."""
    # sends may block while the agent works through the burst (slowly under the
    # sanitizers): a bound for that too, not drain()'s 0.2 s
    plugin.s.settimeout(60)
    ids = {plugin.client(f"c{i}", [net(i)]) for i in range(first, first + n)}
    while ids:
        m = json.loads(plugin.s.recv(1 << 17))
        if m.get("type") == "ack":
            assert m["ok"], m
            ids.discard(m["ref"])


def want(first, n, instance="server"):
    return {(net(i), f"c{i}", instance) for i in range(first, first + n)}


def test_paused_plugin_stays_connected_and_converges(host, tmp_path):
    """Plugins that stop reading for 3 s during a burst of 2,000 connects from
    another plugin are not dropped, and end with exactly the agent's claims:
    one of version 2 (deltas) and one of version 1 (snapshots only)."""
    agent = Agent(host, str(tmp_path / "agent"), dict(CONF)).start()
    plugin = FakePlugin(agent.sock).connect()
    plugin.drain(0.2)
    w2 = Watcher(agent.sock, "watch2", 2)
    w1 = Watcher(agent.sock, "watch1", 1)
    w2.until(set())
    w1.until(set())
    assert w2.snapshots == 1 and w1.snapshots == 1  # after hello
    # ... now neither reads a thing for 3 s
    paused = time.time()
    burst(plugin, 0, 2000)
    time.sleep(max(0.0, 3 - (time.time() - paused)))
    w2.until(want(0, 2000))
    w1.until(want(0, 2000))
    log = agent.log_text(since_start=True)
    assert "connection closed" not in log, log[-3000:]
    # the version-2 plugin followed by deltas alone, merged while it paused
    assert w2.snapshots == 1 and w2.deltas >= 1
    # both still served: one more change reaches both
    burst(plugin, 2000, 1)
    w2.until(want(0, 2001))
    w1.until(want(0, 2001))
    plugin.close()
    agent.stop()


def test_delta_bytes_per_change_do_not_grow(host, tmp_path):
    """One more connect costs a version-2 plugin the same claims bytes with
    10,000 claims as with 1; asked for a snapshot (a gap), it gets the whole
    table."""
    agent = Agent(host, str(tmp_path / "agent"), dict(CONF)).start()
    plugin = FakePlugin(agent.sock).connect()
    plugin.drain(0.2)
    w = Watcher(agent.sock, "watch", 2)
    w.until(set())

    def one_more(i, have):
        before = w.bytes
        burst(plugin, i, 1)
        w.until(want(0, have) | want(20000, i - 20000 + 1))
        return w.bytes - before

    small = one_more(20000, 0)
    # 10,000 claims, 1,000 connects at a time with the watcher read in between:
    # a watcher left unread through the whole burst would be closed by the
    # agent's 30 s stall rule on a slow (sanitizer) build, as it should be
    for first in range(0, 10000, 1000):
        burst(plugin, first, 1000)
        w.pump(0)
        assert not w.closed
    w.until(want(0, 10000) | want(20000, 1))
    large = one_more(20001, 10000)
    # the same delta but for longer numbers (generation, network, name)
    assert small < 300 and large < small + 40, (small, large)
    assert w.snapshots == 1

    # a plugin that lost track asks again, and gets the whole table
    w.send({"type": "snapshot"})
    before = w.snapshots
    while w.snapshots == before:
        assert not w.closed
        w.pump(0.5)
    assert w.claims == want(0, 10000) | want(20000, 2)
    plugin.close()
    agent.stop()


def test_peer_that_reads_nothing_is_closed_after_30_s(host, tmp_path):
    """A plugin whose queue does not move for 30 s is closed, and only then:
    the documented stall bound (vpcroute-agent(8), Flow control). A plugin
    of version 1 gets a snapshot per generation, so its socket fills."""
    agent = Agent(host, str(tmp_path / "agent"), dict(CONF)).start()
    plugin = FakePlugin(agent.sock).connect()
    plugin.drain(0.2)
    w = Watcher(agent.sock, "stuck", 1)  # and never reads again
    for first in range(0, 3000, 50):
        burst(plugin, first, 50)
        time.sleep(0.06)  # one generation each, not a measurement
    agent.wait_log(r"stuck: connection closed \(read nothing for 30 s\)", timeout=90)
    log = agent.log_text(since_start=True)
    assert log.count("connection closed") == 1, log[-3000:]
    # the others are served on
    burst(plugin, 3000, 1)
    w.s.close()
    plugin.close()
    agent.stop()


def test_burst_ends_with_exactly_the_wanted_kernel_and_claims(host, tmp_path):
    """Connects and disconnects pipelined (the agent programs what it reads in
    one loop pass together, one nftables transaction, and acknowledges each
    after it): the kernel ends with exactly the clients that stayed (routes,
    set elements) and a plugin's claims replica with exactly their claims;
    the same kernel as an agent that builds it whole at start."""
    agent = Agent(host, str(tmp_path / "agent"), dict(CONF), grace=0).start()
    plugin = FakePlugin(agent.sock).connect()
    plugin.drain(0.2)
    w = Watcher(agent.sock, "watch", 2)
    w.until(set())
    plugin.s.settimeout(60)
    ids = {plugin.client(f"c{i}", [net(i)]) for i in range(600)}
    # every third goes again, in the same stream, some right after connecting
    for i in range(0, 600, 3):
        del plugin.table[f"c{i}"]
        ids.add(plugin.send({"type": "disconnect", "cn": f"c{i}"}))
    # and one comes back with another network
    ids.add(plugin.client("c3", [net(1003)]))
    while ids:
        m = json.loads(plugin.s.recv(1 << 17))
        if m.get("type") == "ack":
            assert m["ok"], m
            ids.discard(m["ref"])
    stay = [i for i in range(600) if i % 3] + [1003]
    want_routes = sorted(net(i) for i in stay)
    assert agent.routes() == want_routes
    remote = sorted(f'{e["prefix"]["addr"]}/{e["prefix"]["len"]}'
                    for e in agent.set_elements("remote4") if "prefix" in e)
    assert remote == sorted(want_routes + ["100.64.0.0/16"])
    w.until({(net(i), f"c{i}" if i != 1003 else "c3", "server") for i in stay})
    done = agent.dump()

    # an agent started afresh with the same clients builds the same kernel
    w.s.close()
    agent.kill9()
    plugin.close()
    agent.grace = 3
    agent.start()
    plugin.connect()
    agent.wait_log(r"nftables: table inet vpcroute built")
    deadline = time.time() + 60
    while agent.dump() != done:
        assert time.time() < deadline, "the table built whole differs"
        time.sleep(0.2)
    plugin.close()
    agent.stop()
