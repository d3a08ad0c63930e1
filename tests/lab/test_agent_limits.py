# SPDX-License-Identifier: GPL-2.0-or-later
"""The agent's control socket against hostile local peers: connection budgets
per class and per uid, idle peers, refusal floods, instance names,
descriptors running out, and configuration files that are not regular files
(vpcroute-agent(8), THE CONTROL SOCKET)."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from vrlab.agent import Agent, tunnel_host
from vrlab.build import built
from vrlab.fakeplugin import FakePlugin

# Writers: root and the user daemon; readers: the group nogroup; the socket is
# 0666 so that everybody else reaches the agent, which refuses them itself.
CONF = {"version": 1, "role": "server", "local_networks": ["192.168.255.0/24"],
        "tunnel": {"pool": "100.64.0.0/16"},
        # the agent applies the admission policy itself: the plugins' clients are allowed
        "clients": {"pi-home": {"allow": ["192.168.1.0/24"]}}}

# A peer in another process, driven line by line on stdin:
#   hold N       open N connections and keep them
#   hello NAME   connect, hello as the plugin of instance NAME; prints the ack
#   close        close that connection
#   flood N      N connections opened and closed at once
#   recv         wait for the first held connection to be closed; prints "closed"
# Each command answers one JSON line on stdout.
PEER = r'''
import json, socket, sys
path = sys.argv[1]
held, s = [], None
def conn():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    c.connect(path)
    return c
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "hold":
        for _ in range(int(cmd[1])):
            held.append(conn())
        print(json.dumps({"held": len(held)}), flush=True)
    elif cmd[0] == "hello":
        s = conn()
        s.settimeout(10)
        s.send(json.dumps({"v": 1, "type": "hello", "id": 1, "role": "server", "pid": 1,
                           "instance": cmd[1]}).encode())
        try:
            ack = json.loads(s.recv(65536))
        except (OSError, ValueError) as e:
            ack = {"error": repr(e)}
        print(json.dumps(ack), flush=True)
    elif cmd[0] == "close":
        s.close()
        print(json.dumps({"closed": True}), flush=True)
    elif cmd[0] == "flood":
        for _ in range(int(cmd[1])):
            conn().close()
        print(json.dumps({"flooded": int(cmd[1])}), flush=True)
    elif cmd[0] == "recv":
        held[0].settimeout(20)
        try:
            data = held[0].recv(100)
        except OSError as e:
            data = repr(e).encode()
        print(json.dumps({"recv": data.decode()}), flush=True)
'''


class Peer:
    """PEER in a process of user:group."""

    def __init__(self, work, sock, user, group):
        script = os.path.join(work, "peer.py")
        with open(script, "w") as f:
            f.write(PEER)
        os.chmod(script, 0o644)
        self.p = subprocess.Popen(["runuser", "-u", user, "-g", group, "--", "/usr/bin/python3",
                                   script, sock], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)

    def do(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        assert line, f"peer process ended on {cmd!r}"
        return json.loads(line)

    def stop(self):
        self.p.stdin.close()
        self.p.wait(10)


@pytest.fixture
def host(lab):
    return tunnel_host(lab)


@pytest.fixture
def work():
    # the unprivileged peers must reach the socket: not under pytest's 0700 tmp_path
    d = tempfile.mkdtemp(prefix="vr-limits-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def start(host, work, extra=()):
    conf = dict(CONF, socket={"path": f"{work}/agent.sock", "mode": "0666", "group": "nogroup",
                              "openvpn_user": "daemon"})
    return Agent(host, f"{work}/agent", conf, grace=0, extra=extra).start()


def acked(plugin, ref, timeout=10):
    """The ack of request ref, from what the agent sent."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for m in plugin.drain(0.5):
            if m.get("type") == "ack" and m.get("ref") == ref:
                return m
    return None


def served(agent, plugin=None):
    """A root plugin (connected now unless given) gets its connect acknowledged."""
    plugin = plugin or FakePlugin(agent.sock).connect()
    ref = plugin.client("pi-home", ["192.168.1.128/25"])
    ack = acked(plugin, ref)
    assert ack and ack["ok"], ack
    return plugin


def test_idle_readers_do_not_lock_out_plugins(host, work):
    agent = start(host, work)
    readers = Peer(work, agent.sock, "nobody", "nogroup")
    assert readers.do("hold 300") == {"held": 300}
    # all 300 reached the agent: what it did not keep, it refused
    agent.wait_log(r"refused a connection from pid \d+")
    plugin = served(agent)
    agent.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
    # the readers got their own budget, less than the per-uid limit allows
    assert re.search(r"uid 65534: that uid has 32 connections already",
                     agent.log_text(since_start=True))
    readers.stop()
    plugin.close()
    agent.stop()


def test_idle_reader_closed_plugin_kept(host, work):
    agent = start(host, work, extra=["--idle-timeout", "1"])
    plugin = FakePlugin(agent.sock).connect()
    reader = Peer(work, agent.sock, "nobody", "nogroup")
    assert reader.do("hold 1") == {"held": 1}
    assert reader.do("recv") == {"recv": ""}  # closed by the agent, not by recv's timeout
    agent.wait_log(r"pid \d+: connection closed \(idle\)")
    # the plugin was as silent, and is still served
    served(agent, plugin)
    reader.stop()
    plugin.close()
    agent.stop()


def test_busy_agent_does_not_close_a_waiting_reader(host, work):
    """A request that waits in the socket while the agent was busy (stopped
    here) longer than the idle timeout is answered, not closed as idle."""
    agent = start(host, work, extra=["--idle-timeout", "1"])
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ctl.connect(agent.sock)
    ctl.send(json.dumps({"v": 1, "type": "hello", "id": 1, "role": "ctl", "pid": 1,
                         "instance": "t"}).encode())
    ctl.settimeout(10)
    assert json.loads(ctl.recv(65536))["ok"]
    agent.send_signal(signal.SIGSTOP)
    try:
        time.sleep(2.5)
        ctl.send(json.dumps({"v": 1, "type": "status", "id": 2}).encode())
    finally:
        agent.send_signal(signal.SIGCONT)
    msgs = []
    while not msgs or msgs[-1].get("type") != "ack":
        data = ctl.recv(1 << 20)
        assert data, "closed as idle: " + agent.log_text(since_start=True)[-500:]
        msgs.append(json.loads(data))
    assert msgs[-1]["ok"] and msgs[0]["type"] == "report"
    agent.stop()


def test_refusal_flood_is_rate_limited(host, work):
    agent = start(host, work)
    # uid nobody with group daemon: none of root, daemon, nogroup
    other = Peer(work, agent.sock, "nobody", "daemon")
    assert other.do("flood 5000") == {"flooded": 5000}
    agent.wait_log(r"refused a connection from pid \d+ uid 65534 gid 1:")
    time.sleep(1.5)  # the next refusal opens a new window of the rate limit
    assert other.do("flood 1") == {"flooded": 1}
    agent.wait_log(r"similar lines? suppressed\)")
    other.stop()
    agent.stop()
    lines = [x for x in agent.log_text(since_start=True).splitlines()
             if "refused a connection from" in x]
    suppressed = sum(int(m.group(1)) for x in lines
                     for m in [re.search(r"\((\d+) similar lines? suppressed\)", x)] if m)
    assert len(lines) <= 100, len(lines)
    assert len(lines) + suppressed == 5001  # every refusal logged or counted


def test_instance_name_kept_for_its_process(host, work):
    agent = start(host, work)
    owner = Peer(work, agent.sock, "daemon", "daemon")
    intruder = Peer(work, agent.sock, "daemon", "daemon")
    assert owner.do("hello server")["ok"]
    assert owner.do("close") == {"closed": True}
    agent.wait_log(r"server: connection closed \(peer closed\)")
    # the plugin is briefly away: another process of the same user may not take its name
    ack = intruder.do("hello server")
    assert not ack["ok"] and "belongs to pid" in ack["error"], ack
    # the same process may
    assert owner.do("hello server")["ok"]
    assert owner.do("close") == {"closed": True}
    agent.wait_log(r"server: connection closed \(peer closed\)")
    # and root may at any time
    plugin = served(agent)
    agent.wait_log(r"server: taken over by pid \d+ uid 0")
    for p in (owner, intruder):
        p.stop()
    plugin.close()
    agent.stop()


def test_accept_backs_off_when_out_of_descriptors(host, work):
    agent = start(host, work)
    pid = agent.proc.pid  # ip netns exec execs the agent
    used = len(os.listdir(f"/proc/{pid}/fd"))
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={used + 2}"], check=True)
    held = []
    for _ in range(6):  # more than the agent can take
        c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        c.connect(agent.sock)
        held.append(c)
    agent.wait_log(r"accept on .*agent\.sock: Too many open files; not accepting for 250 ms")
    for c in held:
        c.close()
    # once descriptors are free again, accept resumes: a plugin is served
    served(agent)
    agent.stop()


@pytest.mark.parametrize("program", ["agent", "ctl"])
def test_fifo_config_refused(program, tmp_path):
    fifo = str(tmp_path / "fifo.conf")
    os.mkfifo(fifo)
    argv = ([built("agent/vpcroute-agent"), "-n", "-f", fifo] if program == "agent"
            else [built("agent/vpcroutectl"), "check-config", fifo])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert f"{fifo}: not a regular file (a FIFO)" in r.stderr, r.stderr
