# SPDX-License-Identifier: GPL-2.0-or-later
"""Port forwards, masquerade toward a peered VPC and connection logs
(issue 17, items 2-4), with the real agent driven by a scripted plugin.

    home 192.168.1.140 ── tun0 ── ec2 (agent) ── eth0 ── vpc 10.1.1.10
    (10.1.2.10)          10.1.2.1    │ 10.1.1.2
                                     └── eth1 10.1.3.1 ── pcx ── peer 10.2.0.10
                                              (peering-like router: drops every
                                               source outside 10.1.0.0/16)

The connection log goes to NFLOG group 7, read inside the ec2 namespace by a
small NFNETLINK_LOG reader (NFLOG_READER below): the kernel log path needs
the host-wide net.netfilter.nf_log_all_netns, which a test never sets."""
import json
import os
import re
import shutil
import signal
import tempfile
import time

import jsonschema
import pytest

from vrlab.agent import Agent
from vrlab.build import TOP, built
from vrlab.ctlconn import CtlConn
from vrlab.fakeplugin import FakePlugin
from vrlab.waiting import wait_for

pytestmark = pytest.mark.netns

GROUP = 7
CONF = {
    "version": 1, "role": "server",
    "local_networks": ["10.1.1.0/24", "10.2.0.0/16", "fd00:1::/64"],
    "tunnel": {"pool": "10.1.2.0/24", "pool6": "fd00:2::/64"}, "strict": True,
    "clients": {"pi-home": {
        "allow": ["192.168.1.128/25"], "iroutes": ["192.168.1.128/25"], "address": "10.1.2.10",
        "to_local": [{"to": "10.1.1.0/24"}, {"to": "10.2.0.0/16", "masquerade": True}],
        "from_local": False}},
    "port_forwards": [
        # home -> the VPC host, through the instance's tunnel address
        {"proto": "tcp", "port": 8080, "to": "10.1.1.10", "to_port": 80},
        # the VPC -> a home host that from_local does not open
        {"proto": "tcp", "port": 2222, "to": "192.168.1.140", "to_port": 22, "log": False},
        {"proto": "udp", "port": 5353, "to": "10.1.1.10", "to_port": 53},
        # masqueraded: the VPC host sees the instance (its answers need no route back)
        {"proto": "tcp", "port": 8082, "to": "10.1.1.10", "to_port": 80, "masquerade": True},
        # IPv6: home's tunnel address to the VPC host's
        {"proto": "tcp", "port": 8086, "to": "fd00:1::10", "to_port": 86},
    ],
    "connection_log": {"group": GROUP, "rate_per_s": 1, "burst": 3},
}

# Answers each TCP connection with the address it came from; UDP: echoes the source.
# With a second argument "6": TCP over IPv6 only. Prints "ready" once its
# sockets are bound (a test's first packet must not find the port closed).
SERVER = r"""
import socket, sys, threading
port = int(sys.argv[1])
def serve(s):
    while True:
        c, a = s.accept(); c.sendall(a[0].encode()); c.close()
if sys.argv[2:] == ["6"]:
    s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port)); s.listen(16)
    print("ready", flush=True)
    serve(s)
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", port)); t.listen(16)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", port))
def udp():
    while True:
        d, a = u.recvfrom(100); u.sendto(a[0].encode(), a)
threading.Thread(target=udp, daemon=True).start()
print("ready", flush=True)
serve(t)
"""

# Binds NFLOG group N (raw NETLINK_NETFILTER, no library) and prints one JSON
# line per logged packet: its prefix and the addresses of its IPv4 header.
NFLOG_READER = r"""
import json, socket, struct, sys
group = int(sys.argv[1])
NLM_F_REQUEST, NLM_F_ACK = 1, 4
CONFIG, PACKET = (4 << 8) | 1, (4 << 8) | 0  # NFNL_SUBSYS_ULOG
def attr(t, data):
    a = struct.pack("HH", 4 + len(data), t) + data
    return a + b"\0" * (-len(a) % 4)
def config(seq, res_id, attrs):
    body = struct.pack("!BBH", socket.AF_UNSPEC, 0, res_id) + attrs
    return struct.pack("=IHHII", 16 + len(body), CONFIG, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
s.bind((0, 0))
s.send(config(1, group, attr(1, struct.pack("B", 1))))  # NFULA_CFG_CMD: BIND
s.send(config(2, group, attr(2, struct.pack("!IBx", 64, 2))))  # NFULA_CFG_MODE: PACKET, 64 bytes
acks = 0
while True:
    buf = s.recv(1 << 16)
    off = 0
    while off + 16 <= len(buf):
        ln, typ, flags, seq, pid = struct.unpack_from("=IHHII", buf, off)
        if ln < 16:
            break
        if typ == 2:  # NLMSG_ERROR: the answers to our two requests
            err = struct.unpack_from("=i", buf, off + 16)[0]
            if err:
                print(json.dumps({"error": err}), flush=True)
                sys.exit(1)
            acks += 1
            if acks == 2:
                print(json.dumps({"ready": True}), flush=True)
        elif typ == PACKET:
            a, rec = off + 20, {}
            while a + 4 <= off + ln:
                alen, at = struct.unpack_from("HH", buf, a)
                if alen < 4:
                    break
                data = buf[a + 4:a + alen]
                at &= 0x7fff
                if at == 10:  # NFULA_PREFIX
                    rec["prefix"] = data.rstrip(b"\0").decode()
                elif at == 9 and len(data) >= 20 and data[0] >> 4 == 4:  # NFULA_PAYLOAD
                    rec["src"] = socket.inet_ntoa(data[12:16])
                    rec["dst"] = socket.inet_ntoa(data[16:20])
                a += (alen + 3) & ~3
            print(json.dumps(rec), flush=True)
        off += (ln + 3) & ~3
"""


def until(what, fn, timeout=10):
    return wait_for(what, fn, timeout=timeout, interval=0.05)


class Net:
    def __init__(self, lab, work):
        self.lab, self.work = lab, work
        ec2, home, vpc = lab.node("ec2"), lab.node("home"), lab.node("vpc")
        pcx, peer = lab.node("pcx"), lab.node("peer")
        lab.link(ec2, "tun0", home, "eth0")
        lab.link(ec2, "eth0", vpc, "eth0")
        lab.link(ec2, "eth1", pcx, "eth0")
        lab.link(pcx, "eth1", peer, "eth0")
        ec2.ip("addr add 10.1.2.1/24 dev tun0")
        ec2.ip("addr add 10.1.1.2/24 dev eth0")
        ec2.ip("addr add 10.1.3.1/24 dev eth1")
        ec2.ip("route add 10.2.0.0/16 via 10.1.3.2")
        # as behind the Pi: everything from the home host's own address
        home.ip("addr add 192.168.1.140/25 dev eth0")
        home.ip("route add 10.1.2.1 dev eth0 src 192.168.1.140")
        home.ip("route add default via 10.1.2.1 src 192.168.1.140")
        vpc.ip("addr add 10.1.1.10/24 dev eth0")
        vpc.ip("route add default via 10.1.1.2")  # the VPC route table: all to the ENI
        pcx.ip("addr add 10.1.3.2/24 dev eth0")
        pcx.ip("addr add 10.2.0.1/24 dev eth1")
        pcx.ip("route add 10.1.0.0/16 via 10.1.3.1")
        peer.ip("addr add 10.2.0.10/24 dev eth0")
        peer.ip("route add default via 10.2.0.1")
        for n in (ec2, pcx):
            n.sysctl("net.ipv4.ip_forward", 1)
        # peering is not transitive: only the VPC's own addresses pass
        pcx.run(["nft", "add table inet pcx; add chain inet pcx peering "
                 "{ type filter hook forward priority 0; policy drop; }; "
                 "add rule inet pcx peering ip saddr 10.1.0.0/16 accept; "
                 "add rule inet pcx peering ip daddr 10.1.0.0/16 accept"])
        # IPv6: the tunnel pool6 on tun0, the VPC's fd00:1::/64 on eth0
        ec2.ip("addr add fd00:2::1/64 dev tun0 nodad")
        ec2.ip("addr add fd00:1::2/64 dev eth0 nodad")
        home.ip("addr add fd00:2::10/64 dev eth0 nodad")
        home.ip("-6 route add default via fd00:2::1")
        vpc.ip("addr add fd00:1::10/64 dev eth0 nodad")
        vpc.ip("-6 route add default via fd00:1::2")
        ec2.sysctl("net.ipv6.conf.all.forwarding", 1)
        logs = []
        for n, args in ((vpc, ["80"]), (vpc, ["53"]), (home, ["22"]), (peer, ["80"]),
                        (vpc, ["86", "6"])):
            logs.append(os.path.join(work, f"server-{n.name}-{args[0]}.log"))
            n.popen(["python3", "-c", SERVER, *args], log=logs[-1])
        # started is not listening: on a loaded machine a server may bind
        # after the fixture is done, and a test's first packet find it closed
        for log in logs:
            until(f"{log}: ready", lambda log=log: os.path.exists(log) and "ready" in
                  open(log).read(), timeout=60)
        self.nodes = dict(ec2=ec2, home=home, vpc=vpc, pcx=pcx, peer=peer)

    def __getattr__(self, name):
        return self.nodes[name]


def ask(node, addr, port, udp=False, timeout=3):
    """What the server at addr:port says our address is, or None."""
    fam = "AF_INET6" if ":" in addr else "AF_INET"
    code = ("import socket, sys\n"
            f"s = socket.socket(socket.{fam}, socket.SOCK_{'DGRAM' if udp else 'STREAM'})\n"
            f"s.settimeout({timeout})\n"
            "try:\n"
            f"    s.connect(({addr!r}, {port}))\n"
            "    s.send(b'x') if " + str(udp) + " else None\n"
            "    print(s.recv(100).decode())\n"
            "except OSError:\n"
            "    sys.exit(1)\n")
    r = node.run(["python3", "-c", code], check=False, timeout=timeout + 5)
    return r.stdout.strip() if r.returncode == 0 else None


@pytest.fixture
def net(lab):
    work = tempfile.mkdtemp(prefix="vr-natrules-")
    os.chmod(work, 0o755)
    n = Net(lab, work)
    n.log = os.path.join(work, "nflog.jsonl")
    lab.nodes["ec2"].popen(["python3", "-u", "-c", NFLOG_READER, str(GROUP)], log=n.log)
    until("NFLOG reader bound", lambda: '"ready"' in open(n.log).read()
          if os.path.exists(n.log) else False)
    n.agent = Agent(n.ec2, work, json.loads(json.dumps(CONF)), grace=0).start()
    n.plugin = FakePlugin(n.agent.sock).connect(dev="tun0")
    n.plugin.client_acked("pi-home", ["192.168.1.128/25"], t4="10.1.2.10")
    until("the table", lambda: n.agent.table() and "chain prerouting" in n.agent.table())
    yield n
    n.plugin.close()
    n.agent.stop()
    shutil.rmtree(work, ignore_errors=True)


def reload(net, conf):
    """The agent reloads conf (its socket kept)."""
    conf["socket"] = {"path": net.agent.sock}
    with open(net.agent.conf, "w") as f:
        json.dump(conf, f)
    net.agent.send_signal(signal.SIGHUP)


def log_records(n):
    out = []
    with open(n.log) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return [r for r in out if "prefix" in r]


def test_forward_home_to_vpc_and_back(net):
    # direct: the VPC host sees the home host's true address
    assert ask(net.home, "10.1.1.10", 80) == "192.168.1.140"
    # the forward on the instance's tunnel address: same true source, answer back
    assert ask(net.home, "10.1.2.1", 8080) == "192.168.1.140"
    assert ask(net.home, "10.1.2.1", 5353, udp=True) == "192.168.1.140"
    # the masqueraded forward: the VPC host sees the instance's address, while
    # the same host through the other forward still sees the true source
    assert ask(net.home, "10.1.2.1", 8082) == "10.1.1.2"
    assert ask(net.home, "10.1.2.1", 8080) == "192.168.1.140"
    # IPv6: the same through an ip6 dnat
    assert ask(net.home, "fd00:2::1", 8086) == "fd00:2::10"
    # a port nobody forwards is not taken
    assert ask(net.home, "10.1.2.1", 8081, timeout=1) is None
    table = net.agent.table()
    assert "fib daddr type local" in table and "dnat ip to 10.1.1.10:80" in table, table
    assert "dnat ip6 to [fd00:1::10]:86" in table, table


def test_table_listing_reads_back(net):
    """What "nft list" prints of our table (forwards, logs, every set) is
    valid input to "nft -f": a saved ruleset restores (checked with -c)."""
    with tempfile.NamedTemporaryFile("w", suffix=".nft", delete=False) as f:
        f.write(net.agent.table())
    try:
        r = net.agent.node.run(["nft", "-c", "-f", f.name], check=False)
        assert r.returncode == 0, r.stderr
    finally:
        os.unlink(f.name)


def test_forward_through_the_filter(net):
    # from_local is false: the VPC may not open connections to home ...
    assert ask(net.vpc, "192.168.1.140", 22, timeout=1) is None
    # ... but the forward on the instance's VPC address is accepted by the
    # forward filter, and home sees the VPC host's true address
    assert ask(net.vpc, "10.1.1.2", 2222) == "10.1.1.10"


def test_masquerade_toward_peering(net):
    # home -> peered VPC: masqueraded to the instance's address (10.1.3.1),
    # else the peering router drops it
    assert ask(net.home, "10.2.0.10", 80) == "10.1.3.1"
    # the VPC host still sees the home host's true address (the exemption)
    assert ask(net.home, "10.1.1.10", 80) == "192.168.1.140"
    assert net.agent.set_elements("masqto4"), net.agent.table()
    # the client gone, its masquerade goes with it; back, it is back
    net.plugin.send({"type": "disconnect", "cn": "pi-home"})
    until("masqto4 empty", lambda: net.agent.set_elements("masqto4") == [])
    net.plugin.client_acked("pi-home", ["192.168.1.128/25"], t4="10.1.2.10")
    assert ask(net.home, "10.2.0.10", 80) == "10.1.3.1"


def test_connection_log_nflog(net):
    assert ask(net.home, "10.1.1.10", 80) == "192.168.1.140"
    until("a 'new' record", lambda: [r for r in log_records(net)
                                     if r["prefix"] == "vpcroute: new "
                                     and r.get("src") == "192.168.1.140"
                                     and r.get("dst") == "10.1.1.10"])
    # 40 new flows the policy drops, at once: logged at most burst (3) + rate
    # (1/s) per second the burst took, and at least once
    before = len([r for r in log_records(net) if r["prefix"] == "vpcroute: drop "])
    t0 = time.monotonic()
    net.vpc.run(["python3", "-c",
                 "import socket\n"
                 "for i in range(40):\n"
                 "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                 "    s.sendto(b'x', ('192.168.1.140', 9))\n"])
    took = time.monotonic() - t0
    until("a 'drop' record", lambda: len([r for r in log_records(net)
                                          if r["prefix"] == "vpcroute: drop "]) > before)
    time.sleep(0.5)
    drops = [r for r in log_records(net) if r["prefix"] == "vpcroute: drop "][before:]
    assert all(r.get("src") == "10.1.1.10" and r.get("dst") == "192.168.1.140" for r in drops)
    assert 1 <= len(drops) <= 3 + int(took + 1.5), (len(drops), took)
    # the kernel log path: programmed the same way (its lines are not read here:
    # from this namespace the kernel drops them unless the host-wide
    # net.netfilter.nf_log_all_netns is set, which a test never does)
    conf = json.loads(json.dumps(CONF))
    del conf["connection_log"]["group"]
    reload(net, conf)
    until("kernel log rules", lambda: 'log prefix "vpcroute: drop " level info'
          in (net.agent.table() or ""))
    assert " group " not in net.agent.table()
    assert ask(net.home, "10.1.2.1", 8080) == "192.168.1.140"


def test_connection_log_per_rule(net):
    # only the rule with "log": connection_log logs no new connection of its own
    conf = json.loads(json.dumps(CONF))
    conf["connection_log"].update(new=False, drop=False)
    conf["clients"]["pi-home"]["to_local"][0]["log"] = True  # 10.1.1.0/24, not the peering
    reload(net, conf)
    until("per-rule log rules", lambda: "@logallow4 limit rate 1/second"
          in (net.agent.table() or ""))
    until("the rule's element", lambda: net.agent.set_elements("logallow4"))
    table = net.agent.table()
    assert "@allow4 limit" not in table and 'log prefix "vpcroute: drop "' not in table, table
    assert CtlConn(net.agent.sock).status()["connection_log"] == {
        "new": False, "drop": False, "rules": True, "group": GROUP, "rate_per_s": 1, "burst": 3}
    st = net.ec2.run([built("agent/vpcroutectl"), "-s", net.agent.sock, "status"]).stdout
    assert "connection log: the new connections of rules with \"log\", at most 1/s" in st, st
    before = len(log_records(net))
    assert ask(net.home, "10.2.0.10", 80) == "10.1.3.1"  # a rule without "log"
    assert ask(net.home, "10.1.1.10", 80) == "192.168.1.140"
    until("the logged rule's record", lambda: len(log_records(net)) > before)
    time.sleep(0.3)
    new = log_records(net)[before:]
    assert [(r["prefix"], r.get("src"), r.get("dst")) for r in new] == [
        ("vpcroute: new ", "192.168.1.140", "10.1.1.10")], new


def test_forward_on_openvpn_port_left_out(net):
    assert ask(net.home, "10.1.2.1", 5353, udp=True) == "192.168.1.140"
    # the instance says OpenVPN listens on udp 5353: that forward goes, the others stay
    net.plugin.send({"type": "tunnel", "event": "up", "dev": "tun0", "routes": [],
                     "listen_proto": "udp", "listen_port": 5353}, ack=False)
    net.agent.wait_log(r"OpenVPN listens on udp port 5353: port_forwards\[2\] is left out")
    until("the forward gone", lambda: "dport 5353" not in net.agent.table())
    assert ask(net.home, "10.1.2.1", 5353, udp=True, timeout=1) is None
    assert ask(net.home, "10.1.2.1", 8082) == "10.1.1.2"
    fw = CtlConn(net.agent.sock).status()["port_forwards"]
    assert fw[2]["state"] == "not programmed: OpenVPN listens on this port"
    assert fw[2]["packets"] is None
    assert fw[3]["state"] == "programmed" and fw[3]["packets"] >= 1  # counters stay in step
    r = net.ec2.run([built("agent/vpcroutectl"), "-s", net.agent.sock, "doctor"], check=False)
    assert ("PROBLEM  port_forwards[2] (udp port 5353 -> 10.1.1.10): not programmed: OpenVPN "
            "listens on this port") in r.stdout, r.stdout
    # plan: a note, not a change
    ctl = [built("agent/vpcroutectl"), "-s", net.agent.sock, "plan"]
    plan = json.loads(net.ec2.run(ctl + ["--json"]).stdout)
    with open(os.path.join(TOP, "doc", "plan.schema.json")) as f:
        jsonschema.validate(plan, json.load(f))
    assert plan["port_forwards_left_out"] == [
        {"index": 2, "state": "not programmed: OpenVPN listens on this port"}]
    assert plan["changes"] == 0
    assert ("note: port forward udp 5353 is not programmed: OpenVPN listens on this port"
            in net.ec2.run(ctl).stdout)


def test_status_shows_forwards(net):
    assert ask(net.home, "10.1.2.1", 8080) == "192.168.1.140"
    doc = CtlConn(net.agent.sock).status()
    with open(os.path.join(TOP, "doc", "status.schema.json")) as f:
        jsonschema.validate(doc, json.load(f))
    fw = doc["port_forwards"]
    assert [(f["proto"], f["port"], f["to"], f["to_port"]) for f in fw] == [
        ("tcp", 8080, "10.1.1.10", 80), ("tcp", 2222, "192.168.1.140", 22),
        ("udp", 5353, "10.1.1.10", 53), ("tcp", 8082, "10.1.1.10", 80),
        ("tcp", 8086, "fd00:1::10", 86)]
    assert fw[0]["state"] == "programmed" and fw[0]["reachable"] is True
    assert fw[0]["packets"] >= 1
    assert doc["connection_log"] == {"new": True, "drop": True, "rules": False,
                                     "group": GROUP, "rate_per_s": 1, "burst": 3}
    # the home client gone: its network no longer reached, doctor says so
    net.plugin.send({"type": "disconnect", "cn": "pi-home"})
    until("unreachable", lambda: CtlConn(net.agent.sock).status()["port_forwards"][1]
          ["reachable"] is False)
    r = net.ec2.run([built("agent/vpcroutectl"), "-s", net.agent.sock, "doctor"], check=False)
    assert r.returncode != 0
    assert ("PROBLEM  port_forwards[1] (tcp port 2222 -> 192.168.1.140 port 22): "
            "192.168.1.140 is not inside a network reached now") in r.stdout, r.stdout
    assert "ok       port_forwards[0]: tcp port 8080 -> 10.1.1.10 port 80" in r.stdout
    # the metrics: the same view
    m = net.ec2.run([built("agent/vpcroutectl"), "-s", net.agent.sock, "metrics"]).stdout
    assert 'vpcroute_port_forward_reachable{forward="tcp/2222"} 0' in m, m
    assert 'vpcroute_port_forward_reachable{forward="tcp/8080"} 1' in m, m
    assert re.search(r'^vpcroute_port_forward_packets\{forward="tcp/8080"\} [1-9]', m, re.M), m
    st = net.ec2.run([built("agent/vpcroutectl"), "-s", net.agent.sock, "status"]).stdout
    assert "port forward tcp 8080 -> 10.1.1.10:80: programmed, " in st, st
    assert "port forward tcp 2222 -> 192.168.1.140:22: programmed, 0 packets, TARGET NOT " \
        "REACHED NOW" in st, st
    assert "connection log: new connections, drops, at most 1/s (burst 3) per rule, " \
        "to NFLOG group 7" in st, st
