# SPDX-License-Identifier: GPL-2.0-or-later
"""The agent applies the admission policy itself (issue 11): a peer that
may write to the socket - here the OpenVPN user, nobody - gets nothing the
configuration does not allow, whatever it announces; a legitimate client
still gets its routes and set elements."""
import json
import re
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from vrlab.agent import Agent, tunnel_host
from vrlab.fakeplugin import FakePlugin

CONF = {"version": 1, "role": "server", "local_networks": ["192.168.255.0/24"],
        "tunnel": {"pool": "100.64.0.0/16"}, "strict": True,
        "clients": {"pi-home": {"allow": ["192.168.1.0/24"], "iroutes": ["192.168.1.128/25"],
                                "address": "100.64.0.10"}}}

# Runs as the OpenVPN user: sends each message, prints every answer as JSON.
PEER = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
for m in json.loads(sys.argv[2]):
    s.send(json.dumps(m).encode())
    s.settimeout(2)
    while True:
        try:
            a = json.loads(s.recv(65536))
        except (socket.timeout, ValueError):
            break
        print(json.dumps(a), flush=True)
        if a.get("type") == "ack" and a.get("ref") == m.get("id"):
            break
"""


@pytest.fixture
def setup(lab):
    host = tunnel_host(lab)
    work = tempfile.mkdtemp(prefix="vr-policy-")
    os.chmod(work, 0o755)
    conf = dict(CONF, socket={"mode": "0666", "path": f"{work}/agent.sock",
                              "openvpn_user": "nobody"})
    agent = Agent(host, work, conf, grace=0).start()
    yield host, agent
    agent.stop()
    shutil.rmtree(work, ignore_errors=True)


def as_openvpn_user(agent, msgs):
    """The acks a peer running as nobody gets for msgs (ids added)."""
    msgs = [{"v": 1, "id": i + 1, **m} for i, m in enumerate(msgs)]
    r = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", PEER,
                        agent.sock, json.dumps(msgs)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines()]
    return {a["ref"]: a for a in out if a.get("type") == "ack"}


def remote4(agent):
    return agent.set_prefixes("remote4")


HELLO = {"type": "hello", "role": "server", "pid": 4242, "instance": "server"}


def test_rogue_announcements_refused(setup):
    host, agent = setup
    acks = as_openvpn_user(agent, [
        HELLO,
        {"type": "tunnel", "event": "up", "dev": "tun0", "routes": []},
        {"type": "connect", "client": {"cn": "made-up", "networks": ["1.0.0.0/8"]}},
        {"type": "connect", "client": {"cn": "made-up", "networks": ["8.8.8.0/24"]}},
        # a known name, but networks and addresses its policy does not give it
        {"type": "connect", "client": {"cn": "pi-home", "networks": ["8.8.8.0/24"]}},
        {"type": "connect", "client": {"cn": "pi-home", "networks": ["192.168.1.128/25"],
                                       "tunnel4": "100.64.0.11"}},
        {"type": "connect", "client": {"cn": "pi-home", "networks": ["192.168.1.128/25"],
                                       "tunnel4": "10.9.9.9"}},
        # the same through a sync
        {"type": "sync", "more": False, "clients": [
            {"cn": "made-up", "networks": ["128.0.0.0/2"]},
            {"cn": "pi-home", "networks": ["8.8.8.0/24"]}]},
    ])
    assert acks[1]["ok"] and acks[2]["ok"], acks
    want = {3: "client made-up: unknown common name (rule: strict)",
            4: "client made-up: unknown common name (rule: strict)",
            5: "client pi-home: 8.8.8.0/24 is not inside its allowed networks "
               "(192.168.1.0/24) (rule: clients.pi-home.allow)",
            6: "client pi-home: tunnel address 100.64.0.11 is not its address 100.64.0.10 "
               "(rule: clients.pi-home.address)",
            7: "(rule: clients.pi-home.address)"}
    for ref, text in want.items():
        assert not acks[ref]["ok"] and text in acks[ref]["error"], (ref, acks[ref])
    agent.wait_log(r"server: client made-up from the resync refused, not programmed: "
                   r"client made-up: unknown common name \(rule: strict\)")
    agent.wait_log(r"client pi-home from the resync refused, not programmed: .*"
                   r"\(rule: clients\.pi-home\.allow\)")
    agent.wait_log(r"server: client made-up refused: .*\(rule: strict\)")
    # nothing of it reached the kernel or the nftables sets
    assert agent.routes() == []
    assert host.run("ip route show 1.0.0.0/8").stdout == ""
    assert host.run("ip route show 8.8.8.0/24").stdout == ""
    assert remote4(agent) == ["100.64.0.0/16"]
    table = agent.table() or ""
    assert "1.0.0.0/8" not in table and "8.8.8.0" not in table and "128.0.0.0" not in table


def test_legitimate_client_still_works(setup):
    host, agent = setup
    # through the OpenVPN user's connection, as the real plugin would send it
    acks = as_openvpn_user(agent, [
        HELLO,
        {"type": "tunnel", "event": "up", "dev": "tun0", "routes": []},
        {"type": "connect", "client": {"cn": "pi-home", "networks": ["192.168.1.128/25"],
                                       "tunnel4": "100.64.0.10"}}])
    assert all(a["ok"] for a in acks.values()), acks
    agent.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
    assert agent.routes() == ["192.168.1.128/25"]
    assert "192.168.1.128/25" in remote4(agent)
    # and by root's plugin, in a sync next to a client it may not have: the
    # legitimate one is programmed, the other one alone is left out
    plugin = FakePlugin(agent.sock)
    plugin.table["pi-home"] = {"cn": "pi-home", "networks": ["192.168.1.0/25"],
                               "tunnel4": "100.64.0.10"}
    plugin.table["made-up"] = {"cn": "made-up", "networks": ["8.8.8.0/24"]}
    plugin.connect()
    agent.wait_log(r"server: table synchronised, 1 client \(some refused by the policy\)")
    agent.wait_log(r"route 192\.168\.1\.0/25 dev tun0 added")
    assert agent.routes() == ["192.168.1.0/25"]
    assert "8.8.8.0/24" not in remote4(agent)


def test_role_must_match(setup):
    host, agent = setup
    acks = as_openvpn_user(agent, [
        {"type": "hello", "role": "client", "pid": 4242, "instance": "pi"},
        {"type": "tunnel", "event": "route-up", "dev": "tun0", "routes": ["8.8.8.0/24"]}])
    assert not acks[1]["ok"] and "(rule: role)" in acks[1]["error"], acks
    assert not acks[2]["ok"] and acks[2]["error"] == "hello first", acks
    assert agent.routes() == []


# Runs as the OpenVPN user: CONNS connections, each a hello then PER refused
# connects sent at once; prints how many error acks came back.
FLOOD = r"""
import json, socket, sys
path, conns, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = []
for k in range(conns):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    s.send(json.dumps({"v": 1, "id": 1, "type": "hello", "role": "server", "pid": 4242,
                       "instance": f"rogue{k}"}).encode())
    for i in range(per):
        s.send(json.dumps({"v": 1, "id": i + 2, "type": "connect",
                           "client": {"cn": f"rogue{k}x{i}",
                                      "networks": ["1.0.0.0/8"]}}).encode())
    socks.append(s)
refused = 0
for s in socks:
    s.settimeout(10)
    acks = 0
    while acks < per + 1:  # other messages (claims, policy) come too
        a = json.loads(s.recv(65536))
        if a.get("type") == "ack":
            acks += 1
            refused += a["ref"] > 1 and not a["ok"]
print(refused)
"""


def test_refusal_flood_is_rate_limited(setup):
    """Refused connects in a burst, over many connections (the agent closes one
    after a run of errors): every one gets its error ack, but the log holds a
    bounded number of refusal lines and counts the ones it dropped."""
    host, agent = setup
    conns, per = 20, 12
    r = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", FLOOD,
                        agent.sock, str(conns), str(per)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    n = conns * per
    assert int(r.stdout) == n, r.stdout
    # the count of dropped lines comes with the next line let through, in a new window
    time.sleep(1.2)
    acks = as_openvpn_user(agent, [dict(HELLO, instance="late"),
                                   {"type": "connect", "client": {"cn": "late",
                                                                  "networks": ["1.0.0.0/8"]}}])
    assert not acks[2]["ok"], acks
    agent.wait_log(r"client late refused: .*\(\d+ similar lines suppressed\)")
    log = agent.log_text()
    lines = [ln for ln in log.splitlines() if re.search(r"client rogue\d+x\d+ refused", ln)]
    suppressed = sum(int(x) for x in re.findall(r"\((\d+) similar lines suppressed\)", log))
    assert len(lines) < n, len(lines)
    # every refusal is a line or counted (the last window's count may still be pending)
    assert suppressed > 0 and len(lines) + suppressed <= n, (len(lines), suppressed)
