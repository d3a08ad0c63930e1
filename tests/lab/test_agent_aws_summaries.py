# SPDX-License-Identifier: GPL-2.0-or-later
"""aws.summaries and aws.route_quota against the EC2 emulator (moto).

Many client networks inside a summary cost one VPC route per table, and the
lab's strict layer (EC2's quota of 50 routes per table) never refuses one;
the kernel keeps a route per client, and an unreachable route for the
summary while it is announced (what no client covers is refused, not
looped back to the VPC). The summary is withdrawn after the grace period
once its last client goes. A table near its quota is reported
in the log, the status and doctor.
"""
import json
import re
import signal
import subprocess
import time

import pytest

import test_agent_aws
from test_agent_aws import POOL, Cloud, status, wait_for
from vrlab.build import built
from vrlab.fakeplugin import FakePlugin

SUMMARY = "192.168.0.0/16"
OUTSIDE = "172.16.1.0/24"


def conf(**aws):
    """test_agent_aws's, with clients allowed outside the summary too."""
    c = test_agent_aws.conf(**aws)
    c["default_client"] = {"allow": ["192.168.0.0/16", "172.16.0.0/12"]}
    return c


@pytest.fixture
def cloud(lab, aws, tmp_path):
    c = Cloud(lab, aws, str(tmp_path))
    yield c
    c.close()


UNCOVERED = "192.168.77.1"  # inside SUMMARY, no client's


def unreachable_routes(node):
    """Our unreachable routes in node's kernel: [destination]."""
    out = node.run("ip -j route show proto 212 type unreachable").stdout
    return [r["dst"] for r in json.loads(out or "[]")]


def vpc_ping(vm, dst):
    """One ping from a VPC host: its exit code and output (the reply, or the
    ICMP error)."""
    r = vm.run(["ping", "-n", "-c", "1", "-W", "2", dst], check=False, timeout=10)
    return r.returncode, r.stdout


def data_path(lab, host):
    """The VPC router (vpc) routes SUMMARY to the instance (host) as the VPC's
    route table does once it is announced; the instance's default route
    points back to it; a VPC host (vm) pings; site0 (192.168.0.1) behind
    tun0. Returns vm."""
    vpc, vm, site = lab.node("vpc"), lab.node("vm"), lab.node("site")
    host.run(f"ip link set eth0peer netns {vpc.ns}")
    host.run(f"ip link set tun0peer netns {site.ns}")
    vpc.run("ip link set eth0peer up")
    vpc.run("ip addr add 10.1.1.1/24 dev eth0peer")
    vpc.sysctl("net.ipv4.ip_forward", 1)
    vpc.run(f"ip route add {SUMMARY} via 10.1.1.10")
    lab.link(vpc, "vm0", vm, "eth0")
    vpc.run("ip addr add 10.1.0.1/24 dev vm0")
    vm.run("ip addr add 10.1.0.5/24 dev eth0")
    vm.run("ip route add default via 10.1.0.1")
    host.run("ip addr add 10.1.1.10/24 dev eth0")
    host.run("ip route add default via 10.1.1.1")
    host.run("ip addr add 100.64.0.1/16 dev tun0")
    host.sysctl("net.ipv4.ip_forward", 1)
    site.run("ip link set tun0peer up")
    site.run("ip addr add 100.64.1.2/16 dev tun0peer")
    site.run("ip addr add 192.168.0.1/32 dev lo")
    site.run("ip route add default via 100.64.0.1")
    return vm


def test_many_clients_one_route_per_table(cloud, lab):
    """Also: while the summary is announced the kernel holds "unreachable
    SUMMARY" of ours, so the VPC's traffic to an address inside it that no
    client has is refused (ICMP host unreachable) instead of going back and
    forth between the instance and the VPC router, and a client's more
    specific route still carries traffic; after a kill -9 and a restart it
    is there once; it goes with the summary's VPC route."""
    n = 60  # more than EC2's 50 routes per table
    main = cloud.main_rtb()
    vm = data_path(lab, cloud.host)
    cf = conf(summaries=[SUMMARY])
    cf["default_client"]["from_local"] = True  # the VPC may reach the sites
    a = cloud.agent(cf).start()
    a.wait_log(r"route tables described", timeout=20)
    # no client inside: no summary, and the lab shows the loop it prevents
    assert unreachable_routes(cloud.host) == []
    rc, out = vpc_ping(vm, UNCOVERED)
    assert rc != 0 and "Time to live exceeded" in out, out
    p = FakePlugin(a.sock).connect()
    nets = [f"192.168.{i}.0/24" for i in range(n)]
    for i, net in enumerate(nets):
        p.client(f"site{i}", [net], t4=f"100.64.1.{i + 2}")
    p.client("outside", [OUTSIDE], t4="100.64.2.2")
    want = sorted([POOL, OUTSIDE, SUMMARY])
    wait_for("one route per table", lambda: cloud.ours() == want and cloud.ours(main) == want,
             timeout=30)
    # the kernel: a route per client network
    wait_for("kernel routes", lambda: set(nets + [OUTSIDE]) <= set(a.routes()))
    creates = [c for c in cloud.mutating() if c.action == "CreateRoute"]
    assert sorted((c.params["RouteTableId"], c.params["DestinationCidrBlock"])
                  for c in creates) == sorted((t, d) for t in (cloud.world.rtb_id, main)
                                              for d in want)
    assert not [c for c in cloud.world.moto.proxy.calls if c.strict], "EC2 would refuse a call"
    # what no client covers is refused at once; a client's route carries
    assert unreachable_routes(cloud.host) == [SUMMARY]
    rc, out = vpc_ping(vm, UNCOVERED)
    assert rc != 0 and "From 10.1.1.10 icmp_seq=1 Destination Host Unreachable" in out, out
    assert "Time to live exceeded" not in out, out
    rc, out = vpc_ping(vm, "192.168.0.1")
    assert rc == 0, out
    # a crash and a restart: adopted, kept, never doubled
    a.kill9()
    p.close()
    assert unreachable_routes(cloud.host) == [SUMMARY]
    a.grace = 2
    a.start()
    a.wait_log(r"adopted \d+ routes of ours from the kernel")
    assert unreachable_routes(cloud.host) == [SUMMARY]
    p.connect()
    a.wait_log(r"grace period over", timeout=15)
    a.wait_log(r"route tables described", timeout=20)
    assert unreachable_routes(cloud.host) == [SUMMARY]
    assert len(cloud.host.run(f"ip route show {SUMMARY}").stdout.splitlines()) == 1
    # the agent's view follows EC2's answers
    st = wait_for("all ours in the status", lambda: (lambda s: all(
        r["state"] == "ours" for t in s["route_tables"] for r in t["routes"]) and s)(
        status(a)["aws"]))
    assert st["summaries"] == [{"prefix": SUMMARY, "networks": n, "state": "announced"}]
    for t in st["route_tables"]:
        assert {r["destination"]: r["state"] for r in t["routes"]} == {d: "ours" for d in want}
        assert t["route_quota"]["limit"] == 50 and t["route_quota"]["warning"] is None
    r = cloud.host.run([built("agent/vpcroutectl"), "-s", a.sock, "doctor"], check=False)
    assert re.search(rf"^ok +aws: the summary {re.escape(SUMMARY)} stands for {n} networks, "
                     r"one route per table", r.stdout, re.M), r.stdout
    (r,) = [r for r in status(a)["routes"] if r["destination"] == SUMMARY]
    assert r == {"destination": SUMMARY, "device": None, "state": "installed",
                 "type": "unreachable"}
    r = subprocess.run([built("agent/vpcroutectl"), "-s", a.sock, "status"],
                       capture_output=True, text=True, timeout=10)
    assert f"summary {SUMMARY}: announced, {n} networks inside" in r.stdout, r.stdout
    assert f"unreachable {SUMMARY}" in r.stdout, r.stdout
    # all but one go: no call; the last one goes: withdrawn after the grace
    since = cloud.proxy.calls[-1].time
    for i in range(1, n):
        p.send({"type": "disconnect", "cn": f"site{i}"})
    wait_for("kernel routes gone", lambda: not set(nets[1:]) & set(a.routes()))
    r = subprocess.run([built("agent/vpcroutectl"), "-s", a.sock, "plan"],
                       capture_output=True, text=True, timeout=10)
    assert "aws:" not in r.stdout, r.stdout
    assert [c for c in cloud.mutating() if c.time > since] == []
    p.send({"type": "disconnect", "cn": "site0"})
    wait_for("the last client's route gone", lambda: nets[0] not in a.routes())
    # the kernel's route stays while the VPC still routes the summary here
    # (withdraw_grace_s), then goes with it
    kernel = unreachable_routes(cloud.host)
    assert kernel == [SUMMARY] or SUMMARY not in cloud.ours(), kernel
    left = sorted([POOL, OUTSIDE])
    wait_for("summary withdrawn", lambda: cloud.ours() == left and cloud.ours(main) == left,
             timeout=20)
    wait_for("its unreachable route gone", lambda: unreachable_routes(cloud.host) == [])
    deletes = [c for c in cloud.mutating() if c.time > since]
    assert sorted((c.action, c.params["RouteTableId"], c.params["DestinationCidrBlock"])
                  for c in deletes) == sorted(("DeleteRoute", t, SUMMARY)
                                              for t in (cloud.world.rtb_id, main))
    assert status(a)["aws"]["summaries"][0]["state"] == "idle"


def test_route_quota_warned_and_kept(cloud):
    # a quota of 4: the local route, the pool and two clients make 4
    a = cloud.agent(conf(route_quota=4)).start()
    a.wait_log(r"route tables described", timeout=20)
    p = FakePlugin(a.sock).connect()
    for i in range(2):
        p.client(f"site{i}", [f"192.168.{i}.0/24"], t4=f"100.64.1.{i + 2}")
    a.wait_log(rf"aws: route table {cloud.world.rtb_id} holds \d+ IPv4 routes.* of the 4 EC2 "
               r"allows \(aws.route_quota\): near the limit", timeout=20)
    wait_for("routes", lambda: len(cloud.ours()) == 3)

    def table():
        (t,) = [t for t in status(a)["aws"]["route_tables"] if t["id"] == cloud.world.rtb_id]
        return t
    # the agent's view follows EC2's answers
    t = wait_for("the agent's count", lambda: table()["route_quota"]["ipv4"] == 4 and table())
    assert not t["route_quota"]["over"]
    assert "near the limit" in t["route_quota"]["warning"]
    # a third does not fit: no call for it (EC2 would refuse it), reported
    since = cloud.proxy.calls[-1].time
    p.client("site2", ["192.168.2.0/24"], t4="100.64.1.4")
    a.wait_log(rf"route table {cloud.world.rtb_id} holds 4 IPv4 routes of the 4 EC2 allows "
               r"\(aws.route_quota\): 1 more wanted route does not fit, so the agent does not "
               r"ask for it", timeout=20)
    wait_for("the kernel route", lambda: "192.168.2.0/24" in a.routes())
    t = table()
    assert t["route_quota"]["over"]
    assert {r["destination"]: r["state"] for r in t["routes"]}["192.168.2.0/24"] == "over quota"
    assert [c for c in cloud.mutating() if c.time > since] == []
    assert len(cloud.ours()) == 3
    r = cloud.host.run([built("agent/vpcroutectl"), "-s", a.sock, "doctor"], check=False)
    assert r.returncode == 1
    assert re.search(rf"^PROBLEM +aws: route table {cloud.world.rtb_id} has no route for "
                     r"192\.168\.2\.0/24: the table holds as many routes as aws.route_quota "
                     r"allows", r.stdout, re.M), r.stdout
    # logged once per table and state, not at every turn
    text = a.log_text()
    assert len(re.findall(rf"route table {cloud.world.rtb_id} holds .*near the limit",
                          text)) == 1, text
    # a client goes: its route is withdrawn after the grace, the third takes its place
    p.send({"type": "disconnect", "cn": "site0"})
    wait_for("room", lambda: "192.168.2.0/24" in cloud.ours() and
             "192.168.0.0/24" not in cloud.ours(), timeout=20)


def test_check_config_shows_summaries(tmp_path):
    """check-config prints the summaries, and warns of one no client network can lie in."""
    c = conf(summaries=[SUMMARY, "10.200.0.0/16"], route_quota=100, max_calls_burst=20)
    c["aws"]["enabled"] = True
    path = tmp_path / "vpcroute.conf"
    path.write_text(json.dumps(c))
    r = subprocess.run([built("agent/vpcroutectl"), "check-config", "--offline", str(path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    aws = json.loads(r.stdout)["aws"]
    assert aws["summaries"] == [SUMMARY, "10.200.0.0/16"]
    assert aws["route_quota"] == 100 and aws["max_calls_burst"] == 20
    assert ("warning: aws.summaries[1]: no network a client may announce lies inside "
            "10.200.0.0/16: it is never used") in r.stderr, r.stderr
    assert "aws.summaries[0]" not in r.stderr
    # one on a local network: refused with its place in the file
    c["local_networks"] = ["10.200.7.0/24"]
    path.write_text(json.dumps(c, indent=2))
    r = subprocess.run([built("agent/vpcroutectl"), "check-config", "--offline", str(path)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert re.search(r"vpcroute.conf:\d+:\d+: aws.summaries\[1\]: 10\.200\.0\.0/16 overlaps "
                     r"the local network 10\.200\.7\.0/24 \(local_networks\)", r.stderr), r.stderr



def test_withdraw_takes_the_summary_route_along(cloud):
    """vpcroute-agent(8): the summary's unreachable route is held while the
    summary is in use (announced, or still routed to the instance), and goes
    once no table routes it here. vpcroutectl withdraw deletes the summary's
    VPC routes: the kernel's unreachable route goes with them, though the
    configuration still lists the summary and clients inside it stay; a
    reload announces it again, and the route comes back."""
    main = cloud.main_rtb()
    a = cloud.agent(conf(summaries=[SUMMARY], withdraw_grace_s=600)).start()
    p = FakePlugin(a.sock).connect()
    p.client("site0", ["192.168.0.0/24"], t4="100.64.1.2")
    p.client("site1", ["192.168.1.0/24"], t4="100.64.1.3")
    want = sorted([POOL, SUMMARY])
    wait_for("announced", lambda: cloud.ours() == want and cloud.ours(main) == want, timeout=30)
    wait_for("its unreachable route", lambda: unreachable_routes(cloud.host) == [SUMMARY])
    r = test_agent_aws.ctl(a, "withdraw")
    assert r.returncode == 0, r.stderr
    assert cloud.ours() == [] and cloud.ours(main) == []
    wait_for("the unreachable route gone with the VPC routes",
             lambda: unreachable_routes(cloud.host) == [], timeout=10)
    # the clients' routes stay (the agent keeps running), and a new client
    # inside the summary brings back neither the VPC route nor the kernel's
    p.client("site2", ["192.168.2.0/24"], t4="100.64.1.4")
    wait_for("the clients' kernel routes",
             lambda: {"192.168.0.0/24", "192.168.1.0/24", "192.168.2.0/24"} <= set(a.routes()))
    time.sleep(2)
    assert unreachable_routes(cloud.host) == []
    assert cloud.ours() == [] and status(a)["aws"]["withdrawn"] is True
    assert status(a)["aws"]["summaries"][0] == {"prefix": SUMMARY, "networks": 3,
                                                "state": "withdrawn"}
    r = test_agent_aws.ctl(a, "status")
    assert f"summary {SUMMARY}: withdrawn, 3 networks inside" in r.stdout, r.stdout
    r = test_agent_aws.ctl(a, "doctor")
    assert re.search(rf"^note +aws: the summary {re.escape(SUMMARY)} stands for 3 networks, "
                     r"but its routes were withdrawn", r.stdout, re.M), r.stdout
    assert "one route per table" not in r.stdout, r.stdout
    # a reload: announced again, and held again
    a.send_signal(signal.SIGHUP)
    wait_for("announced after the reload",
             lambda: cloud.ours() == want and cloud.ours(main) == want, timeout=30)
    wait_for("the unreachable route back", lambda: unreachable_routes(cloud.host) == [SUMMARY])
    assert status(a)["aws"]["summaries"][0]["state"] == "announced"
    p.close()
    a.stop()
