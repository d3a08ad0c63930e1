# SPDX-License-Identifier: GPL-2.0-or-later
"""vpcroute-agent against crashes, bursts and hostile peers."""
import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from vrlab import sysctls
from vrlab.agent import Agent, tunnel_host
from vrlab.fakeplugin import FakePlugin

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONF = {"version": 1, "role": "server", "local_networks": ["192.168.255.0/24"],
        "tunnel": {"pool": "100.64.0.0/16"},
        # the agent applies the policy: unknown clients may announce these
        "default_client": {"allow": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/17"]},
        "nat": {"masquerade": [{"sources": ["192.168.255.0/24"], "out_interface": "eth0"}]}}


def net(i):
    return f"10.{i // 256}.{i % 256}.0/24"


@pytest.fixture
def host(lab):
    return tunnel_host(lab)


def remote_elements(agent):
    out = []
    for e in agent.set_elements("remote4") or []:
        p = e["prefix"] if isinstance(e, dict) and "prefix" in e else None
        out.append(f"{p['addr']}/{p['len']}" if p else str(e))
    return sorted(out)


def test_kill9_during_burst_then_exact_state(host, tmp_path):
    agent = Agent(host, str(tmp_path / "agent"), dict(CONF), grace=2).start()
    plugin = FakePlugin(agent.sock).connect()
    plugin.drain()
    for i in range(300):
        plugin.client(f"c{i}", [net(i)], t4=f"100.64.{(i + 2) // 256}.{(i + 2) % 256}")
        if i == 150:
            agent.kill9()
            break
    # The plugin had admitted 300 clients by the time the agent returns; 5 of
    # the programmed ones left meanwhile.
    for i in range(151, 300):
        plugin.table[f"c{i}"] = {"cn": f"c{i}", "networks": [net(i)]}
    for i in range(5):
        del plugin.table[f"c{i}"]
    programmed = agent.routes()
    assert programmed, "nothing was programmed before the kill"
    plugin.close()
    agent.start()
    plugin.connect()
    agent.wait_log(r"table synchronised, 295 clients")
    agent.wait_log(r"grace period over", timeout=10)
    want = sorted(net(i) for i in range(5, 300))
    assert agent.routes() == want  # nothing missing, nothing stale, no duplicates
    assert remote_elements(agent) == sorted(want + ["100.64.0.0/16"])
    # rules do not grow: both ways between the local networks and the remote
    # prefixes, and the remote single addresses
    assert agent.table().count("snat ip to ip saddr") == 4


def test_hostile_messages_change_nothing(host, tmp_path):
    agent = Agent(host, str(tmp_path / "agent"), dict(CONF), grace=0).start()
    plugin = FakePlugin(agent.sock).connect()
    plugin.client("pi-home", ["192.168.1.128/25"])
    agent.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
    before = (agent.routes(), agent.table())
    rnd = random.Random(4)
    corpus = [open(f, "rb").read() for f in sorted(glob.glob(f"{TOP}/tests/fuzz/corpus/*/*"))]
    junk = corpus + [rnd.randbytes(rnd.randint(1, 3000)) for _ in range(200)] + [
        b"", b"{}", b"[]", b'{"v":2,"type":"hello"}', b'{"v":1,"type":"claims","gen":1,'
        b'"claims":[],"more":false}', b'{"v":1,"type":"connect","id":9,"client":{"cn":'
        b'"../../x","networks":["192.168.1.0/24"]}}', b"x" * 70000,
        b'{"v":1,"type":"connect","id":10,"client":{"cn":"evil","networks":'
        b'["192.168.1.0/24"]}}']
    errors = 0
    for data in junk:
        h = FakePlugin(agent.sock)
        h.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        h.s.connect(agent.sock)
        if rnd.random() < 0.5:
            h.send({"type": "hello", "role": "server", "pid": 2, "instance": "hostile"})
        try:
            h.raw(data)
        except OSError:
            pass
        errors += sum(1 for m in h.drain(0.2) if m.get("type") == "ack" and not m["ok"])
        h.close()
    assert errors > 100
    assert agent.proc.poll() is None, "the agent died of a peer's bytes"
    assert (agent.routes(), agent.table()) == before
    # A peer that keeps sending garbage is cut off.
    h = FakePlugin(agent.sock, instance="noisy").connect()
    for _ in range(20):
        try:
            h.raw(b"garbage")
        except OSError:
            break
    agent.wait_log(r"connection closed \(too many bad messages\)")
    # The good plugin is still served.
    plugin.client("laptop", ["172.16.9.0/24"])
    agent.wait_log(r"route 172\.16\.9\.0/24 dev tun0 added")


def test_unprivileged_peer_refused(host):
    work = tempfile.mkdtemp(prefix="vr-unpriv-")
    os.chmod(work, 0o755)
    conf = dict(CONF, socket={"mode": "0666", "path": f"{work}/agent.sock"})
    agent = Agent(host, work, conf, grace=0).start()
    code = (f"import socket; s=socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); "
            f"s.connect({agent.sock!r}); s.settimeout(2); "
            f"print(repr(s.recv(100)))")
    r = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", code],
                       capture_output=True, text=True, timeout=10)
    assert r.stdout.strip() == "b''", r.stdout + r.stderr  # closed at once
    agent.wait_log(r"refused a connection from pid \d+ uid 65534 gid 65534")
    agent.stop()
    shutil.rmtree(work, ignore_errors=True)


def test_second_agent_refuses_and_socket_dir_created(host, tmp_path):
    (tmp_path / "run").mkdir()  # like /run; vpcroute/ below it is the agent's to make
    conf = dict(CONF, socket={"path": str(tmp_path / "run" / "vpcroute" / "agent.sock")})
    first = Agent(host, str(tmp_path / "a1"), dict(conf), grace=0).start()
    first.wait_log(r"created .*/run/vpcroute")
    second = Agent(host, str(tmp_path / "a2"), dict(conf), grace=0).start(wait=False)
    assert second.proc.wait(10) == 1
    assert "another vpcroute-agent is listening on" in second.log_text()
    # The first one is unharmed, and its stale socket is taken over after a kill.
    plugin = FakePlugin(first.sock).connect()
    plugin.client("pi-home", ["192.168.1.128/25"])
    first.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
    first.kill9()
    third = Agent(host, str(tmp_path / "a3"), dict(conf), grace=0).start()
    assert third.proc.poll() is None


def test_check_reload_and_readiness(host, tmp_path):
    agent = Agent(host, str(tmp_path / "agent"), dict(CONF), grace=0)
    # -n prints the normalised configuration and exits.
    from vrlab.build import built
    r = host.run([built("agent/vpcroute-agent"), "-n", "-f", agent.conf])
    assert json.loads(r.stdout)["plugin"]["fail_mode"] == "closed"
    assert r.stderr.endswith("configuration valid\n")
    # systemd readiness on NOTIFY_SOCKET.
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(10)
    os.environ["NOTIFY_SOCKET"] = str(tmp_path / "notify")
    try:
        agent.start()
    finally:
        del os.environ["NOTIFY_SOCKET"]
    assert notify.recv(64) == b"READY=1"
    plugin = FakePlugin(agent.sock).connect()
    plugin.client("pi-home", ["192.168.1.128/25"])
    agent.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
    before = (agent.routes(), agent.table())
    # An invalid configuration is refused on reload; the running one stays.
    good = open(agent.conf).read()
    with open(agent.conf, "w") as f:
        f.write(good.replace('"192.168.255.0/24"', '"192.168.255.1/24"', 1))
    agent.send_signal(signal.SIGHUP)
    agent.wait_log(r"reload failed, keeping the running configuration: .*vpcroute.conf:\d+:\d+: "
                   r"local_networks\[0\]: \"192\.168\.255\.1/24\": host bits set")
    assert notify.recv(64) == b"RELOADING=1"
    assert notify.recv(64) == b"READY=1"
    assert (agent.routes(), agent.table()) == before
    agent.stop()
    assert notify.recv(64) == b"STOPPING=1"


def test_incremental_changes_equal_full_reconcile(host, tmp_path):
    """Connects and disconnects touch only the client's routes and elements;
    a full reconcile afterwards (a reload) must find nothing to change: the
    kernel's routes and the nftables table are the same before and after."""
    agent = Agent(host, str(tmp_path / "agent"), dict(CONF), grace=0).start()
    plugin = FakePlugin(agent.sock).connect()
    for i in range(200):
        plugin.client(f"c{i}", [net(i)], t4=f"100.64.0.{i + 2}")
    for i in range(0, 200, 4):
        plugin.send({"type": "disconnect", "cn": f"c{i}"}, ack=False)
    for i in range(1, 200, 10):  # the same clients come back with other networks
        plugin.client(f"c{i}", [net(i + 1000)])
    plugin.client("c999", [net(999)])
    agent.wait_log(r"client c999 connected")
    plugin.drain(0.5)
    want = sorted({net(i) for i in range(200) if i % 4 and (i - 1) % 10}
                  | {net(i + 1000) for i in range(1, 200, 10)} | {net(999)})
    assert agent.routes() == want
    incremental = agent.dump()
    assert incremental["nftables"], "no table built"
    agent.send_signal(signal.SIGHUP)
    agent.wait_log(r"configuration .* reloaded")
    full = agent.dump()
    assert full["routes"] == incremental["routes"]
    assert full["nftables"] == incremental["nftables"], "\n".join(
        f"incremental: {a}\nfull:        {b}"
        for a, b in zip(incremental["nftables"], full["nftables"]) if a != b)
    assert remote_elements(agent) == sorted(want + ["100.64.0.0/16"])


def test_ipv6_networks(host, tmp_path):
    """IPv6 local networks, pool and client networks: routes, sets, access."""
    host.run("ip -6 addr add fd00:1:1::2/64 dev eth0 nodad")
    conf = {"version": 1, "role": "server",
            "local_networks": ["fd00:1:1::/64", "192.168.255.0/24"],
            "tunnel": {"pool": "100.64.0.0/16", "pool6": "fd00:2::/64"},
            "clients": {"v6-home": {"iroutes": ["fd00:99::/56"], "address6": "fd00:2::10",
                                    "from_local": [{"to": "fd00:99::5/128", "proto": "tcp",
                                                    "ports": [22]}]}}}
    sysctls.preset_opposite(host, devs=["tun0"], ipv6=True)
    agent = Agent(host, str(tmp_path / "agent"), conf, grace=0).start()
    sysctls.assert_agent_set(host, dev=None, ipv6=True)
    plugin = FakePlugin(agent.sock).connect()
    plugin.send({"type": "connect", "client": {"cn": "v6-home", "networks": ["fd00:99::/56"],
                                               "tunnel6": "fd00:2::10"}})
    agent.wait_log(r"route fd00:99::/56 dev tun0 added")
    # the lab's nodes name protocol 212 (vrlab.netns.RT_PROTOS_D), whatever the host says
    assert "fd00:99::/56 dev tun0 proto vpcroute" in host.run("ip -6 route").stdout
    table = agent.table()
    assert "fd00:99::/56" in table and "fd00:2::/64" in table  # remote6
    assert "fd00:1:1::/64 . fd00:99::5 . tcp . 22" in table  # ports6: VPC -> home, tcp 22
    assert "fd00:99::/56 . fd00:1:1::/64 . 0-255" in table  # allow6: home -> VPC, any
    plugin.send({"type": "disconnect", "cn": "v6-home"}, ack=False)
    agent.wait_log(r"route fd00:99::/56 removed")
    assert "fd00:99::5" not in agent.table()


def test_review_findings(host, tmp_path):
    """Found in review: a second plugin for the same instance, nested
    networks, shared access elements, a ruleset flushed from outside."""
    conf = dict(CONF, default_client={
        "allow": ["172.16.0.0/12"],
        "from_local": [{"to": "172.16.0.0/12", "proto": "tcp", "ports": [22]}]})
    agent = Agent(host, str(tmp_path / "agent"), conf, grace=0).start()
    first = FakePlugin(agent.sock).connect()
    first.drain()
    # A second live plugin may not take over (and wipe) the instance.
    second = FakePlugin(agent.sock)
    second.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    second.s.connect(agent.sock)
    second.send({"type": "hello", "role": "server", "pid": 9, "instance": "server"})
    acks = [m for m in second.drain() if m.get("type") == "ack"]
    assert acks and not acks[0]["ok"] and "already has a connected plugin" in acks[0]["error"]
    second.close()
    # Nested networks of one client are refused.
    rid = first.client("nested", ["172.20.0.0/16", "172.20.1.0/24"])
    acks = [m for m in first.drain() if m.get("type") == "ack" and m.get("ref") == rid]
    assert acks and not acks[0]["ok"] and "(rule: one route per network)" in acks[0]["error"]
    # The local -> 172.16.0.0/12 tcp 22 element is shared: it stays while anyone needs it.
    first.client("alice", ["172.21.1.0/24"])
    first.client("bob", ["172.21.2.0/24"])
    agent.wait_log(r"route 172\.21\.2\.0/24 dev tun0 added")
    first.send({"type": "disconnect", "cn": "bob"}, ack=False)
    agent.wait_log(r"route 172\.21\.2\.0/24 removed")
    assert "192.168.255.0/24 . 172.16.0.0/12 . tcp . 22" in agent.table()
    # Someone flushes the ruleset: the next change rebuilds our table.
    host.run("nft flush ruleset")
    rid = first.client("carol", ["172.22.1.0/24"])
    acks = [m for m in first.drain() if m.get("type") == "ack" and m.get("ref") == rid]
    assert acks and acks[0]["ok"], acks
    table = agent.table()
    assert table and "172.22.1.0/24" in table and "172.21.1.0/24" in table


def _summed(lines, what):
    return sum(int(m.group(1)) for l in lines for m in re.finditer(rf"(\d+) {what}\b", l))


def test_burst_logs_summaries_not_a_line_per_route(host, tmp_path):
    # JOURNAL_STREAM: each line carries its syslog priority (<6> info, <7> debug)
    agent = Agent(host, str(tmp_path / "agent"), dict(CONF), grace=0,
                  env={"JOURNAL_STREAM": "8:1"}).start()
    plugin = FakePlugin(agent.sock).connect()
    plugin.drain()
    mark = len(agent.log_text())
    for i in range(200):
        plugin.client(f"c{i}", [net(i)], t4=f"100.64.{(i + 2) // 256}.{(i + 2) % 256}")

    def info():
        return [l for l in agent.log_text()[mark:].splitlines() if l.startswith("<6>")]

    deadline = time.time() + 60
    while _summed(info(), "clients connected") < 200 and time.time() < deadline:
        time.sleep(0.1)
    agent.wait_log(r"<6>changes: ")
    lines = info()
    assert _summed(lines, "clients connected") == 200, lines
    assert _summed(lines, "kernel routes added") == 200, lines
    assert _summed(lines, "nftables elements added") >= 200, lines
    assert agent.routes() == sorted(net(i) for i in range(200))
    # nothing per route or per client at info: a summary at most once a
    # second, so the count stays far below one line per route (the bound only
    # fails when the burst's handling takes minutes)
    assert not [l for l in lines if " dev tun0 added" in l or "connected, announces" in l], lines
    assert len(lines) < 50, lines
    # each one is still there at debug (-v)
    debug = agent.log_text()[mark:]
    assert len(re.findall(r"(?m)^<7>route 10\.\d+\.\d+\.0/24 dev tun0 added$", debug)) == 200
    assert len(re.findall(r"(?m)^<7>\S+: client c\d+ connected, announces ", debug)) == 200
    plugin.close()
