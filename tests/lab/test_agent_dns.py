# SPDX-License-Identifier: GPL-2.0-or-later
"""Rules by host name (issue 17, item 1): a to_local rule names a service
("svc.vr.test") instead of an address; the agent resolves it with c-ares from
its loop, against a DNS server inside the lab (dnsmasq, its own namespace,
its own configuration and hosts file in the test's temporary directory, a
TTL of 1 s), and the forward filter follows the name when it moves from one
"load balancer" to the other. DNS down: the last addresses stay. A name that
never resolves, or resolves outside the local networks, allows nothing and
blocks nothing else.

  home (192.168.1.10) --tun0-- gw (agent) --br0 10.0.0.1/24-- lb1 10.0.0.11
                                                             lb2 10.0.0.12
                                                             dns 10.0.0.53
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from vrlab.agent import Agent
from vrlab.build import built
from vrlab.dnslab import TTL, Dns, build
from vrlab.fakeplugin import FakePlugin
from vrlab.probe import TcpServer, tcp_connect

MAX_TTL = 2      # dns.max_ttl_s
# the filter follows a move within the TTL and this much more: the lookup
# (timeout_ms 300, 2 tries) and a loop pass; a functional bound, not a figure
SLACK = 6

pytestmark = pytest.mark.netns


CONF = {
    "version": 1, "role": "server", "local_networks": ["10.0.0.0/24"],
    "tunnel": {"pool": "100.64.0.0/16"}, "strict": True,
    "clients": {"pi-home": {
        "iroutes": ["192.168.1.0/24"], "address": "100.64.0.10",
        "to_local": [
            {"to": "svc.vr.test", "proto": "tcp", "ports": [80]},
            # NXDOMAIN for ever: allows nothing, blocks nothing else
            {"to": "never.vr.test"},
            # resolves outside the local networks: not allowed whatever DNS says
            {"to": "Outside.VR.test."},
        ]}},
    "dns": {"servers": ["10.0.0.53"], "min_ttl_s": 1, "max_ttl_s": MAX_TTL,
            "timeout_ms": 300},
}


@pytest.fixture
def setup(lab):
    work = tempfile.mkdtemp(prefix="vr-dns-")
    gw, home, hosts = build(lab)
    dns = Dns(hosts["dns"], work, "10.0.0.53")
    dns.records([("10.0.0.11", "svc.vr.test"), ("fd00:1::11", "svc.vr.test"),
                 ("172.16.0.9", "outside.vr.test")])
    dns.start()
    servers = [TcpServer(hosts[n], a, 80, os.path.join(work, f"{n}.log"))
               for n, a in (("lb1", "10.0.0.11"), ("lb2", "10.0.0.12"))]
    agent = Agent(gw, os.path.join(work, "agent"), json.loads(json.dumps(CONF)), grace=0).start()
    plugin = FakePlugin(agent.sock).connect(dev="tun0")
    ack = plugin.client_acked("pi-home", ["192.168.1.0/24"], "100.64.0.10")
    assert ack["ok"], ack
    yield gw, home, dns, agent
    plugin.close()
    agent.stop()
    for s in servers:
        s.stop()
    dns.stop()
    shutil.rmtree(work, ignore_errors=True)


TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def ctl(agent, *args):
    return agent.node.run([built("agent/vpcroutectl"), "-s", agent.sock, *args], check=False,
                          timeout=20)


def validate(doc, schema):
    import jsonschema
    with open(os.path.join(TOP, "doc", f"{schema}.schema.json")) as f:
        jsonschema.validate(doc, json.load(f))


def status(agent):
    r = ctl(agent, "status", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    validate(doc, "status")
    return doc


def names(agent):
    return {n["name"]: n for n in status(agent)["dns"]["names"]}


def allowed(agent):
    """The destinations of the allow and ports sets (IPv4)."""
    out = set()
    for s in ("allow4", "ports4"):
        for e in agent.set_elements(s) or []:
            out.add(json.dumps(e, sort_keys=True))
    return "\n".join(sorted(out))


def wait(pred, timeout, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def test_name_moves_and_dns_down(setup):
    gw, home, dns, agent = setup
    # the first answer (A and AAAA): svc -> lb1; only lb1 on port 80 is allowed
    assert wait(lambda: names(agent)["svc.vr.test"]["addresses"] == ["10.0.0.11", "fd00:1::11"],
                10), names(agent)
    assert wait(lambda: tcp_connect(home, "10.0.0.11", 80, 1) == "192.168.1.10", 5)
    assert tcp_connect(home, "10.0.0.12", 80, 1) is None
    n = names(agent)
    assert n["svc.vr.test"]["state"] == "resolved" and n["svc.vr.test"]["ttl_s"] == TTL
    assert n["svc.vr.test"]["error"] is None
    assert n["never.vr.test"]["state"] == "unresolved" and n["never.vr.test"]["error"]
    assert n["never.vr.test"]["addresses"] == []
    # the DNS answer outside local_networks is shown, but never reaches the sets
    assert n["outside.vr.test"]["addresses"] == ["172.16.0.9"]
    assert "172.16.0.9" not in allowed(agent)
    assert "10.0.0.11" in allowed(agent)
    # doctor names the name that does not resolve; plan and status show the names
    r = ctl(agent, "doctor")
    assert re.search(r"PROBLEM +dns: the rules' host name never\.vr\.test does not resolve "
                     r"\(Domain name not found\): nothing is allowed", r.stdout), r.stdout
    assert "dns: 2 host names of the rules resolved" in r.stdout, r.stdout
    r = ctl(agent, "plan", "--json")
    plan = json.loads(r.stdout)
    validate(plan, "plan")
    assert {n["name"] for n in plan["dns_names"]} == {"svc.vr.test", "never.vr.test",
                                                      "outside.vr.test"}
    r = ctl(agent, "status")
    assert "svc.vr.test -> 10.0.0.11, fd00:1::11 [resolved, TTL 1 s" in r.stdout, r.stdout
    assert "never.vr.test -> (none) [unresolved" in r.stdout, r.stdout

    # the name moves to lb2: the filter follows within the TTL (+ slack)
    dns.records([("10.0.0.12", "svc.vr.test"), ("172.16.0.9", "outside.vr.test")])
    t0 = time.time()
    assert wait(lambda: "10.0.0.12" in allowed(agent) and "10.0.0.11" not in allowed(agent),
                MAX_TTL + SLACK, 0.05), (allowed(agent), names(agent))
    print(f"filter followed the move in {time.time() - t0:.2f} s (TTL {TTL} s)")
    assert tcp_connect(home, "10.0.0.12", 80, 2) == "192.168.1.10"
    # no new connection to the old address, now or after a few more lookups
    assert tcp_connect(home, "10.0.0.11", 80, 1) is None
    agent.wait_log(r"dns: svc\.vr\.test: addresses now 10\.0\.0\.12/32 \(were 10\.0\.0\.11/32, "
                   r"fd00:1::11/128")
    # one transaction: the old address's elements out and the new one's in (2 sources
    # of the client x 1 address, each way), in the same batch
    def first_change():
        log = agent.log_text(since_start=True)
        move = log[log.index("dns: svc.vr.test: addresses now 10.0.0.12/32 "):]
        return re.search(r"nftables: (\d+) set elements changed", move)
    m = wait(first_change, 5)
    assert m and m.group(1) == "4", agent.log_text(since_start=True)[-3000:]
    time.sleep(MAX_TTL + 0.5)
    assert "10.0.0.11" not in allowed(agent)
    assert tcp_connect(home, "10.0.0.11", 80, 1) is None

    # DNS down (queries dropped: each lookup times out): the lookups fail, the
    # last addresses stay, one warning per name
    dns.blackhole(True)
    assert wait(lambda: names(agent)["svc.vr.test"]["failures"] >= 2, 30), names(agent)
    n = names(agent)["svc.vr.test"]
    assert n["state"] == "failing" and n["addresses"] == ["10.0.0.12"], n
    assert n["error"] == "Timeout while contacting DNS servers", n
    assert n["error_at"] and n["resolved_at"]
    assert "10.0.0.12" in allowed(agent)
    assert tcp_connect(home, "10.0.0.12", 80, 2) == "192.168.1.10"
    assert tcp_connect(home, "10.0.0.11", 80, 1) is None
    log = agent.log_text(since_start=True)
    assert log.count("dns: svc.vr.test: lookup failed") == 1, log[-3000:]
    r = ctl(agent, "doctor")
    assert re.search(r"PROBLEM +dns: lookups of svc\.vr\.test fail", r.stdout), r.stdout
    assert "its last addresses (10.0.0.12) stay allowed" in r.stdout, r.stdout
    assert "keeping its last addresses: 10.0.0.12/32" in log
    # the metrics count both kinds of lookups and the names per state
    r = ctl(agent, "metrics")
    assert 'vpcroute_dns_lookups_total{result="ok"}' in r.stdout
    assert 'vpcroute_dns_lookups_total{result="failed"}' in r.stdout
    assert 'vpcroute_dns_names{state="failing"} 2' in r.stdout, r.stdout
    assert 'vpcroute_dns_names{state="unresolved"} 1' in r.stdout, r.stdout

    # DNS back: the name resolves again
    dns.blackhole(False)
    agent.wait_log(r"dns: svc\.vr\.test resolves again", timeout=40)
    assert wait(lambda: names(agent)["svc.vr.test"]["state"] == "resolved", 10)


def test_reload_keeps_and_drops_names(setup):
    gw, home, dns, agent = setup
    assert wait(lambda: names(agent)["svc.vr.test"]["addresses"] == ["10.0.0.11", "fd00:1::11"],
                10)
    conf = json.loads(json.dumps(CONF))
    conf["socket"] = {"path": agent.sock}
    rules = conf["clients"]["pi-home"]["to_local"]
    rules[:] = [rules[0]]
    with open(agent.conf, "w") as f:
        json.dump(conf, f)
    agent.send_signal(signal.SIGHUP)
    agent.wait_log(r"configuration .* reloaded")
    n = names(agent)
    assert sorted(n) == ["svc.vr.test"], n
    # the name that stays kept its addresses through the reload
    assert n["svc.vr.test"]["addresses"] == ["10.0.0.11", "fd00:1::11"]
    assert tcp_connect(home, "10.0.0.11", 80, 2) == "192.168.1.10"


def test_check_config_warns_without_dns_servers(tmp_path):
    """Names in rules, no dns.servers and no nameserver in /etc/resolv.conf: a
    warning. The resolv.conf is the test's, bound over the host's in a mount
    namespace of its own (the host's file is never read nor changed)."""
    conf = json.loads(json.dumps(CONF))
    del conf["dns"]["servers"]
    path = tmp_path / "vpcroute.conf"
    path.write_text(json.dumps(conf))
    empty, one = tmp_path / "resolv-empty", tmp_path / "resolv-one"
    empty.write_text("search example.com\n")
    one.write_text("nameserver 10.0.0.2\n")

    def check(resolv, *args):
        r = subprocess.run(["unshare", "-m", "sh", "-c",
                            'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(resolv),
                            built("agent/vpcroutectl"), "check-config", "-q", *args, str(path)],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        return r.stderr

    err = check(empty)
    assert ("warning: the rules name hosts (never.vr.test, ...) but dns.servers is not set "
            "and /etc/resolv.conf names no nameserver") in err, err
    assert "warning" not in check(one)
    assert "warning" not in check(empty, "--offline")
