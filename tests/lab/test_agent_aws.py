# SPDX-License-Identifier: GPL-2.0-or-later
"""vpcroute-agent against the EC2 API (moto) and IMDSv2 (the metadata mock).

The agent runs in a lab node; the emulators listen on this process's
loopback and reach the node through relays (vrlab.nsport). Every EC2 call
goes through a recording, fault-injecting proxy, so the tests count the
calls, check their signatures independently (botocore) and make EC2 fail.
"""
import json
import re
import signal
import subprocess
import time

import pytest

from vrlab.agent import Agent, tunnel_host
from vrlab.build import built
from vrlab.ec2proxy import Ec2Proxy, verify_sigv4
from vrlab.fakeplugin import FakePlugin
from vrlab.nsport import Relay
from vrlab.waiting import wait_for

POOL = "100.64.0.0/16"
HOME = "192.168.1.0/24"


def conf(**aws):
    a = {"withdraw_grace_s": 3, "drift_check_s": 10}
    a.update(aws)
    return {"version": 1, "role": "server", "local_networks": "auto",
            "tunnel": {"pool": POOL}, "aws": a,
            # the agent applies the policy: what the scripted clients announce
            "default_client": {"allow": ["192.168.0.0/16"]}}


class Cloud:
    """A lab node for the agent, the emulators, the proxy and the relays."""

    def __init__(self, lab, world, workdir):
        self.host = tunnel_host(lab)
        self.world = world
        self.dir = workdir
        # in front of the world's own proxy (in front of moto): this one faults
        self.proxy = Ec2Proxy(world.moto.url, workdir, credentials=world.credentials)
        self.ec2_relay = Relay(self.host, int(self.proxy.url.rsplit(":", 1)[1]))
        self.imds_relay = Relay(self.host, world.imds.port)
        self.agents = []

    def env(self, **extra):
        e = {"AWS_ENDPOINT_URL_EC2": self.ec2_relay.url,
             "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.imds_relay.url}
        e.update(extra)
        return e

    def agent(self, config, env=None, extra=(), name="agent"):
        # the keys it is given are the test's: every request must verify with them
        env = env or self.env()
        if "AWS_ACCESS_KEY_ID" in env and "AWS_SECRET_ACCESS_KEY" in env:
            self.world.credentials[env["AWS_ACCESS_KEY_ID"]] = env["AWS_SECRET_ACCESS_KEY"]
        aws = config.get("aws", {}) if isinstance(config, dict) else {}
        if "access_key_id" in aws and "secret_access_key" in aws:
            self.world.credentials[aws["access_key_id"]] = aws["secret_access_key"]
        a = Agent(self.host, f"{self.dir}/{name}", config, extra=extra,
                  env=env)
        self.agents.append(a)
        return a

    # what moto holds, read with boto3
    def table_routes(self, rtb=None):
        """{destination: target} of a route table (the subnet's by default)."""
        t = self.world.ec2.describe_route_tables(RouteTableIds=[rtb or self.world.rtb_id])
        out = {}
        for r in t["RouteTables"][0]["Routes"]:
            dst = r.get("DestinationCidrBlock") or r.get("DestinationIpv6CidrBlock")
            out[dst] = (r.get("NetworkInterfaceId") or r.get("GatewayId")
                        or r.get("InstanceId") or r.get("VpcPeeringConnectionId"))
        return out

    def ours(self, rtb=None):
        return sorted(d for d, t in self.table_routes(rtb).items() if t == self.world.eni_id)

    def main_rtb(self):
        t = self.world.ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [self.world.vpc_id]},
                     {"Name": "association.main", "Values": ["true"]}])
        return t["RouteTables"][0]["RouteTableId"]

    def sdc(self):
        return self.world.ec2.describe_network_interface_attribute(
            NetworkInterfaceId=self.world.eni_id,
            Attribute="sourceDestCheck")["SourceDestCheck"]["Value"]

    def mutating(self, since=None):
        return [c for c in self.proxy.calls
                if not re.match(r"(Describe|Get|List)", c.action or "")
                and (since is None or c.time >= since)]

    def close(self):
        for a in self.agents:
            a.stop()
        self.ec2_relay.stop()
        self.imds_relay.stop()
        self.proxy.stop()


@pytest.fixture
def cloud(lab, aws, tmp_path):
    c = Cloud(lab, aws, str(tmp_path))
    yield c
    c.close()


def test_source_dest_check_off_once(cloud):
    assert cloud.sdc() is True
    a = cloud.agent(conf()).start()
    a.wait_log(r"turned off the source/dest check of eni-", timeout=20)
    assert cloud.sdc() is False
    assert [c.action for c in cloud.mutating()] == ["ModifyNetworkInterfaceAttribute"]
    a.stop()
    # the next start finds it off and makes no call
    a.start()
    a.wait_log(r"source/dest check of eni-\w+ is off", timeout=20)
    a.wait_log(r"route tables described", timeout=20)
    assert cloud.proxy.count("ModifyNetworkInterfaceAttribute") == 1
    # local_networks "auto" became the VPC's block
    assert "local networks (auto): the VPC's 10.1.0.0/23" in a.log_text()


def test_routes_follow_clients_with_grace(cloud):
    main = cloud.main_rtb()
    # the administrator's own route through this NAT instance: to our ENI,
    # but no network vpcroute could want, so never withdrawn
    cloud.world.ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0",
                                 NetworkInterfaceId=cloud.world.eni_id)
    a = cloud.agent(conf()).start()
    p = FakePlugin(a.sock).connect()
    p.client("pi-home", [HOME], t4="100.64.0.2")
    # auto: the subnet's table and the VPC's main table
    wait_for(f"{HOME} and the pool in {cloud.world.rtb_id}",
             lambda: cloud.ours() == sorted([POOL, HOME]))
    wait_for(f"{HOME} and the pool in {main}",
             lambda: cloud.ours(main) == sorted(["0.0.0.0/0", POOL, HOME]))
    # disconnect: withdrawn after withdraw_grace_s (3 s), not before
    p.send({"type": "disconnect", "cn": "pi-home"})
    t0 = time.monotonic()
    wait_for("withdrawal", lambda: cloud.ours() == [POOL], timeout=20)
    deletes = [c for c in cloud.mutating() if c.action == "DeleteRoute"]
    assert deletes and min(c.time for c in deletes) - t0 >= 2.5
    wait_for("withdrawal from the main table",
             lambda: cloud.ours(main) == sorted(["0.0.0.0/0", POOL]))
    # a reconnect inside the grace period costs no call at all
    p.client("pi-home", [HOME], t4="100.64.0.2")
    wait_for("back", lambda: cloud.ours() == sorted([POOL, HOME]) and
             cloud.ours(main) == sorted(["0.0.0.0/0", POOL, HOME]))
    time.sleep(0.5)
    t1 = time.monotonic()
    p.send({"type": "disconnect", "cn": "pi-home"})
    time.sleep(1)
    p.client("pi-home", [HOME], t4="100.64.0.2")
    time.sleep(4)  # past the grace period
    assert cloud.mutating(since=t1) == []
    assert cloud.ours() == sorted([POOL, HOME])
    assert "0.0.0.0/0" in cloud.ours(main)
    assert not [c for c in cloud.mutating() if c.params.get("DestinationCidrBlock") == "0.0.0.0/0"]


def status(agent):
    """vpcroutectl status --json, checked against doc/status.schema.json."""
    return agent.status()


def with_client(cloud, nets, extra=(), **aws):
    """An agent (conf(**aws)) and a plugin whose client pi-home announces nets."""
    a = cloud.agent(conf(**aws), extra=extra).start()
    p = FakePlugin(a.sock).connect()
    p.client("pi-home", nets, t4="100.64.0.2")
    return a, p


def test_drift_repaired_foreign_routes_untouched(cloud):
    ec2, w = cloud.world.ec2, cloud.world
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=w.vpc_id)
    other = ec2.create_network_interface(SubnetId=w.subnet_id)["NetworkInterface"]
    other_eni = other["NetworkInterfaceId"]
    # another network to the internet gateway, and one of our networks
    # already sent to another instance's interface
    ec2.create_route(RouteTableId=w.rtb_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.create_route(RouteTableId=w.rtb_id, DestinationCidrBlock="192.168.2.0/24",
                     NetworkInterfaceId=other_eni)
    a, p = with_client(cloud, [HOME, "192.168.2.0/24"])
    wait_for("our routes", lambda: cloud.ours() == sorted([POOL, HOME]))
    a.wait_log(r"conflict: route table rtb-\w+ sends 192\.168\.2\.0/24 to "
               rf"networkInterfaceId {other_eni}, not to us; left alone")
    # the agent's view once its own answers are in (EC2 may hold a route
    # before the agent has read the answer to its call)
    def view():
        (table,) = [t for t in status(a)["aws"]["route_tables"] if t["id"] == w.rtb_id]
        return {r["destination"]: (r["state"], r.get("target")) for r in table["routes"]}

    expected = {POOL: ("ours", w.eni_id), HOME: ("ours", w.eni_id),
                "192.168.2.0/24": ("conflict", other_eni)}
    wait_for("the status", lambda: view() == expected, timeout=10)
    # behind the agent's back: ours deleted, the pool's pointed elsewhere
    ec2.delete_route(RouteTableId=w.rtb_id, DestinationCidrBlock=HOME)
    ec2.replace_route(RouteTableId=w.rtb_id, DestinationCidrBlock=POOL,
                      NetworkInterfaceId=other_eni)
    # the next drift check (drift_check_s 10) re-creates ours; the pool's
    # route now points at someone else: a conflict, left alone
    wait_for("drift repair", lambda: cloud.ours() == [HOME], timeout=25)
    routes = cloud.table_routes()
    assert routes["0.0.0.0/0"] == igw
    assert routes["192.168.2.0/24"] == other_eni
    assert routes[POOL] == other_eni
    touched = {c.params.get("DestinationCidrBlock") for c in cloud.mutating()
               if c.params.get("RouteTableId") == w.rtb_id}
    assert "0.0.0.0/0" not in touched and "192.168.2.0/24" not in touched
    # with takeover allowed (reload), the conflicting routes become ours
    with open(a.conf, "w") as f:
        json.dump(dict(conf(takeover=True), socket={"path": a.sock}), f)
    a.send_signal(signal.SIGHUP)
    wait_for("takeover", lambda: cloud.ours() == sorted([POOL, HOME, "192.168.2.0/24"]),
             timeout=25)
    assert cloud.table_routes()["0.0.0.0/0"] == igw
    assert {c.action for c in cloud.mutating()
            if c.params.get("DestinationCidrBlock") == "192.168.2.0/24"
            and c.params.get("RouteTableId") == w.rtb_id} == {"ReplaceRoute"}


def test_faults_backoff_budget_and_convergence(cloud):
    a = cloud.agent(conf(max_calls_burst=4)).start()
    a.wait_log(r"route tables described", timeout=20)
    cloud.proxy.set_fault("throttle", actions={"CreateRoute"})
    p = FakePlugin(a.sock).connect()
    p.drain()
    nets = [f"192.168.{i}.0/24" for i in range(10, 22)]
    t0 = time.monotonic()
    for i, n in enumerate(nets):
        p.client(f"site{i}", [n], t4=f"100.64.1.{i + 2}")
    # the kernel side does not wait for EC2: every client acknowledged, routed
    acks = []
    wait_for("acks", lambda: len(acks.extend(m for m in p.drain(0.2) if m.get("type") == "ack")
                                 or acks) >= len(nets), timeout=10)
    assert all(m.get("ok", True) for m in acks), acks
    assert sorted(a.routes()) == sorted(nets)
    # throttled, then connections dropped, then 503: backing off each time
    a.wait_log(r"CreateRoute .*: RequestLimitExceeded .*; retry in", timeout=20)
    cloud.proxy.set_fault("drop")
    a.wait_log(r": no answer \(.*\); retry in", timeout=30)
    cloud.proxy.set_fault("unavailable")
    a.wait_log(r": Unavailable .*; retry in", timeout=60)
    cloud.proxy.clear_fault()
    want = sorted([POOL] + nets)
    wait_for("convergence", lambda: cloud.ours() == want and cloud.ours(cloud.main_rtb()) == want,
             timeout=120, interval=1)
    # never above the budget: 2 calls/s sustained, a bucket of 4
    # (aws.max_calls_burst), faulted calls included (the proxy's clock, so
    # allow one call of skew)
    times = sorted(c.time for c in cloud.mutating(since=t0))
    assert len(times) >= 2 * len(want)
    for i, start in enumerate(times):
        for window in (1.0, 5.0, 20.0):
            n = sum(1 for t in times[i:] if t < start + window)
            assert n <= 4 + 2 * window + 1, (window, n, times)
    delays = [float(x) for x in re.findall(r"; retry in ([\d.]+) s", a.log_text())]
    assert len(delays) >= 3 and max(delays) > 2 * min(delays), delays


def test_credentials_env_first_and_signatures(cloud):
    env = cloud.env(AWS_ACCESS_KEY_ID="AKIDVPCROUTEENV", AWS_SECRET_ACCESS_KEY="env-secret",
                    AWS_SESSION_TOKEN="env-session-token", AWS_REGION="us-east-1")
    a = cloud.agent(conf(), env=env).start()
    a.wait_log(r"credentials from the environment, region from AWS_REGION")
    p = FakePlugin(a.sock).connect()
    p.client("pi-home", [HOME], t4="100.64.0.2")
    wait_for("routes", lambda: cloud.ours() == sorted([POOL, HOME]))
    assert "credentials of role" not in a.log_text()
    calls = [c for c in cloud.proxy.calls if not c.faulted]
    assert calls
    for c in calls:
        assert "Credential=AKIDVPCROUTEENV/" in c.headers["Authorization"]
        assert c.headers["X-Amz-Security-Token"] == "env-session-token"
        ok, detail = verify_sigv4(c, "env-secret")
        assert ok, detail
        assert not verify_sigv4(c, "wrong-secret")[0]
    # keys written in the configuration win over the environment's
    a.stop()
    t = time.monotonic()
    b = cloud.agent(conf(access_key_id="AKIDVPCROUTECONF", secret_access_key="conf-secret",
                         drift_check_s=10), env=env, name="b").start()
    b.wait_log(r"credentials from the configuration")
    wait_for("a signed call", lambda: [c for c in cloud.proxy.calls if c.time >= t])
    for c in [c for c in cloud.proxy.calls if c.time >= t]:
        assert "Credential=AKIDVPCROUTECONF/" in c.headers["Authorization"]
        assert "X-Amz-Security-Token" not in c.headers
        ok, detail = verify_sigv4(c, "conf-secret")
        assert ok, detail


def test_role_credentials_refreshed_before_expiry(cloud):
    w = cloud.world
    w.rotate_role_credentials("ASIAFIRSTROLEKEY", "first-secret", "first-token", lifetime=20)
    a = cloud.agent(conf()).start()
    a.wait_log(r"credentials of role vpcroute-instance \(ASIAFIRSTROLEKEY\), valid for \d+s",
               timeout=20)
    a.wait_log(r"route tables described", timeout=20)
    first = [c for c in cloud.proxy.calls if not c.faulted]
    for c in first:
        assert "Credential=ASIAFIRSTROLEKEY/" in c.headers["Authorization"]
        assert verify_sigv4(c, "first-secret")[0]
    # the role's next credentials: fetched at half the remaining life
    w.rotate_role_credentials("ASIASECONDROLEKEY", "second-secret", "second-token",
                              lifetime=6 * 3600)
    a.wait_log(r"credentials of role vpcroute-instance \(ASIASECONDROLEKEY\)", timeout=30)
    t = time.monotonic()
    p = FakePlugin(a.sock).connect()
    p.client("pi-home", [HOME], t4="100.64.0.2")
    wait_for("routes", lambda: cloud.ours() == sorted([POOL, HOME]))
    later = [c for c in cloud.proxy.calls if c.time >= t and not c.faulted]
    assert later
    for c in later:
        assert "Credential=ASIASECONDROLEKEY/" in c.headers["Authorization"]
        assert c.headers["X-Amz-Security-Token"] == "second-token"
        ok, detail = verify_sigv4(c, "second-secret")
        assert ok, detail


def test_dry_run_makes_no_change(cloud):
    a = cloud.agent(conf(), extra=("--dry-run",)).start()
    a.wait_log(r"dry run: would call ModifyNetworkInterfaceAttribute eni-\w+ "
               r"SourceDestCheck=false", timeout=20)
    p = FakePlugin(a.sock).connect()
    p.client("pi-home", [HOME], t4="100.64.0.2")
    a.wait_log(rf"dry run: would call CreateRoute {cloud.world.rtb_id} {re.escape(HOME)} -> eni-",
               timeout=20)
    a.wait_log(rf"dry run: would call CreateRoute {cloud.world.rtb_id} {re.escape(POOL)} -> eni-")
    time.sleep(1)
    assert cloud.mutating() == []
    assert cloud.proxy.count("DescribeRouteTables") >= 1
    assert cloud.sdc() is True and cloud.ours() == []
    # the kernel side is programmed as usual
    assert a.routes() == [HOME]
    # and the status shows the calls it would make
    st = status(a)["aws"]
    assert st["dry_run"] is True and st["source_dest_check"] == "on"
    eni = cloud.world.eni_id
    assert f"ModifyNetworkInterfaceAttribute {eni} SourceDestCheck=false" in st["pending_calls"]
    assert f"CreateRoute {cloud.world.rtb_id} {HOME} -> {eni}" in st["pending_calls"]
    (table,) = [t for t in st["route_tables"] if t["id"] == cloud.world.rtb_id]
    assert {r["destination"]: r["state"] for r in table["routes"]} == {HOME: "missing",
                                                                       POOL: "missing"}
    r = subprocess.run([built("agent/vpcroutectl"), "-s", a.sock, "plan"], capture_output=True,
                       text=True, timeout=10)
    assert f"aws: CreateRoute {cloud.world.rtb_id} {HOME} -> {eni}\n" in r.stdout, r.stdout
    # doctor explains both
    r = cloud.host.run([built("agent/vpcroutectl"), "-s", a.sock, "doctor"], check=False)
    assert r.returncode == 1
    assert re.search(rf"^PROBLEM +aws: the source/dest check of {eni} is on: EC2 drops",
                     r.stdout, re.M), r.stdout
    assert re.search(rf"^PROBLEM +aws: route table {cloud.world.rtb_id} has no route for "
                     rf"{re.escape(HOME)}", r.stdout, re.M), r.stdout


def test_bad_environment_refused(cloud):
    a = cloud.agent(conf(), env=cloud.env(AWS_REGION="Mars-1"))
    a.start(wait=False)
    assert a.proc.wait(10) == 1
    assert 'AWS_REGION="Mars-1": not an AWS region name' in a.log_text()
    b = cloud.agent(conf(), env=cloud.env(AWS_EC2_METADATA_DISABLED="true"), name="b")
    b.start(wait=False)
    assert b.proc.wait(10) == 1
    assert "AWS_EC2_METADATA_DISABLED is set" in b.log_text()
    for name, env, msg in (
            ("c", {"AWS_ENDPOINT_URL_EC2": "ftp://ec2.example"},
             'AWS_ENDPOINT_URL_EC2="ftp://ec2.example": not an http:// or https:// URL'),
            ("d", {"AWS_ACCESS_KEY_ID": "AKIDONLY"},
             "AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY"),
            ("e", {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "se cret"},
             "the environment credentials are too long or not printable")):
        x = cloud.agent(conf(), env=cloud.env(**env), name=name)
        x.start(wait=False)
        assert x.proc.wait(10) == 1
        assert msg in x.log_text(), x.log_text()
    assert cloud.proxy.calls == []
    # nothing was programmed by the refused agents
    assert cloud.host.run(["nft", "list", "table", "inet", "vpcroute"], check=False).returncode


def test_doctor_checks_the_openvpn_port_in_security_groups(cloud):
    ec2, w = cloud.world.ec2, cloud.world
    sg = w.only_group("vpn-only-ssh", [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    a = cloud.agent(conf()).start()
    p = FakePlugin(a.sock).connect()
    # OpenVPN tells where it listens in its up event (proto_1, local_port_1)
    p.send({"type": "tunnel", "event": "up", "dev": "tun0", "routes": [],
            "listen_proto": "udp", "listen_port": 1194})

    def doctor():
        r = cloud.host.run([built("agent/vpcroutectl"), "-s", a.sock, "doctor"], check=False)
        return r.stdout
    out = wait_for("the security groups read", lambda: (lambda o: o if "lets udp/1194" in o
                                                        else None)(doctor()))
    assert re.search(r"^PROBLEM +aws: no inbound rule of the instance's security groups lets "
                     r"udp/1194 in, where OpenVPN instance server listens", out, re.M), out
    (inst,) = status(a)["instances"]
    assert inst["listen"] == {"proto": "udp", "port": 1194, "security_groups_allow": False}
    assert status(a)["aws"]["security_groups"]["ids"] == [sg]
    # opened: seen at the next drift check (drift_check_s 10)
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": 1194, "ToPort": 1194,
         "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}])
    out = wait_for("the rule seen", lambda: (lambda o: o if "let udp/1194 in" in o
                                             else None)(doctor()), timeout=25)
    assert re.search(r"^ok +aws: the security groups let udp/1194 in \(OpenVPN instance server\)",
                     out, re.M), out


def ctl(agent, *args, timeout=60):
    return subprocess.run([built("agent/vpcroutectl"), "-s", agent.sock, *args],
                          capture_output=True, text=True, timeout=timeout)


def states(agent, rtb):
    (table,) = [t for t in status(agent)["aws"]["route_tables"] if t["id"] == rtb]
    return {r["destination"]: (r["state"], r.get("target")) for r in table["routes"]}


def test_blackhole_replaced_live_route_left(cloud):
    ec2, w = cloud.world.ec2, cloud.world
    # the instance this one replaces: its interface is gone, its route stays
    # (EC2 shows it as a blackhole); another instance's live route as well
    dead = ec2.create_network_interface(SubnetId=w.subnet_id)["NetworkInterface"]
    ec2.create_route(RouteTableId=w.rtb_id, DestinationCidrBlock=POOL,
                     NetworkInterfaceId=dead["NetworkInterfaceId"])
    ec2.delete_network_interface(NetworkInterfaceId=dead["NetworkInterfaceId"])
    live = ec2.create_network_interface(SubnetId=w.subnet_id)["NetworkInterface"]
    ec2.create_route(RouteTableId=w.rtb_id, DestinationCidrBlock="192.168.2.0/24",
                     NetworkInterfaceId=live["NetworkInterfaceId"])
    a, p = with_client(cloud, [HOME, "192.168.2.0/24"])
    wait_for("the blackhole replaced", lambda: cloud.ours() == sorted([POOL, HOME]))
    a.wait_log(rf"sends {re.escape(POOL)} to {dead['NetworkInterfaceId']}, which is gone "
               r"\(state blackhole")
    assert {c.action for c in cloud.mutating()
            if c.params.get("DestinationCidrBlock") == POOL
            and c.params.get("RouteTableId") == w.rtb_id} == {"ReplaceRoute"}
    # the live one is someone else's: a conflict, untouched (aws.takeover off)
    assert cloud.table_routes()["192.168.2.0/24"] == live["NetworkInterfaceId"]
    assert states(a, w.rtb_id)["192.168.2.0/24"] == ("conflict", live["NetworkInterfaceId"])
    assert not [c for c in cloud.mutating()
                if c.params.get("DestinationCidrBlock") == "192.168.2.0/24"
                and c.params.get("RouteTableId") == w.rtb_id]


def test_unwanted_withdrawn_after_grace(cloud):
    """A VPC route to us for a network no policy allows (the leftover of the
    adoption bug of issue 20) is reported, then withdrawn once seen unwanted for
    aws.withdraw_grace_s; one a reload allows and a client claims during the
    grace stays; a default route and another target's route are never touched."""
    ec2, w = cloud.world.ec2, cloud.world
    main = cloud.main_rtb()
    other = ec2.create_network_interface(SubnetId=w.subnet_id)["NetworkInterface"]
    ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0",
                     NetworkInterfaceId=w.eni_id)
    for net in ("10.99.0.0/16", "10.98.0.0/16"):  # leftovers: no policy allows them
        ec2.create_route(RouteTableId=w.rtb_id, DestinationCidrBlock=net,
                         NetworkInterfaceId=w.eni_id)
    ec2.create_route(RouteTableId=w.rtb_id, DestinationCidrBlock="172.20.0.0/16",
                     NetworkInterfaceId=other["NetworkInterfaceId"])
    config = conf(withdraw_grace_s=8)
    a = cloud.agent(config).start()
    a.wait_log(r"ours, not wanted: route table rtb-\w+ sends 10\.99\.0\.0/16 to this "
               r"instance .*withdrawn after aws\.withdraw_grace_s \(8s\)", timeout=20)
    (table,) = [t for t in status(a)["aws"]["route_tables"] if t["id"] == w.rtb_id]
    (r,) = [r for r in table["routes"] if r["destination"] == "10.99.0.0/16"]
    assert r["state"] == "ours, not wanted" and 0 <= r["withdraw_in_s"] <= 8, r
    assert re.search(r"10\.99\.0\.0/16 +ours, not wanted \u2014 withdrawn in \d+s",
                     ctl(a, "status").stdout)
    d = ctl(a, "doctor")
    assert re.search(r"10\.99\.0\.0/16 to this instance, but no policy allows that network: "
                     r"ours, not wanted .*withdraws it in \d+s", d.stdout), d.stdout
    m = ctl(a, "metrics").stdout
    assert re.search(r'^vpcroute_vpc_routes\{state="ours_not_wanted"\} [1-9]', m, re.M), m
    # during the grace a reload allows 10.98.0.0/16 and a client claims it
    config["default_client"]["allow"].append("10.98.0.0/16")
    with open(a.conf, "w") as f:
        json.dump(config, f)
    a.send_signal(signal.SIGHUP)
    a.wait_log(r"configuration .* reloaded")
    p = FakePlugin(a.sock).connect()
    p.client("pi-home", ["10.98.0.0/16"], t4="100.64.0.2")
    wait_for("the claimed one ours", lambda: states(a, w.rtb_id)["10.98.0.0/16"][0] == "ours")
    wait_for("the leftover withdrawn", lambda: "10.99.0.0/16" not in cloud.ours())
    deleted = [(c.params.get("RouteTableId"), c.params.get("DestinationCidrBlock"))
               for c in cloud.mutating() if c.action == "DeleteRoute"]
    assert deleted == [(w.rtb_id, "10.99.0.0/16")], deleted
    assert cloud.ours() == sorted([POOL, "10.98.0.0/16"])
    wait_for("the claimed one in main too",
             lambda: cloud.ours(main) == sorted(["0.0.0.0/0", POOL, "10.98.0.0/16"]))
    assert cloud.table_routes()["172.20.0.0/16"] == other["NetworkInterfaceId"]


def test_withdraw_ours_and_unwanted_on_request(cloud):
    ec2, w = cloud.world.ec2, cloud.world
    main = cloud.main_rtb()
    other = ec2.create_network_interface(SubnetId=w.subnet_id)["NetworkInterface"]
    # an administrator's routes through this instance (a NAT instance, a VPN
    # appliance), and another instance's route
    ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0",
                     NetworkInterfaceId=w.eni_id)
    ec2.create_route(RouteTableId=w.rtb_id, DestinationCidrBlock="172.16.0.0/12",
                     NetworkInterfaceId=w.eni_id)
    ec2.create_route(RouteTableId=w.rtb_id, DestinationCidrBlock="192.168.3.0/24",
                     NetworkInterfaceId=other["NetworkInterfaceId"])
    # a long grace: "ours, not wanted" stays for the request to remove it
    a, p = with_client(cloud, [HOME], withdraw_grace_s=600)
    wait_for("our routes", lambda: cloud.ours() == sorted(["172.16.0.0/12", POOL, HOME]))
    wait_for("our routes in main", lambda: cloud.ours(main) == sorted(["0.0.0.0/0", POOL, HOME]))
    a.wait_log(r"ours, not wanted: route table rtb-\w+ sends 172\.16\.0\.0/12 to this "
               r"instance .*vpcroutectl withdraw --unwanted", timeout=20)
    assert states(a, w.rtb_id)["172.16.0.0/12"] == ("ours, not wanted", w.eni_id)
    # retirement: every route we could have made, now; nothing else
    t = time.monotonic()
    r = ctl(a, "withdraw")
    assert r.returncode == 0, r.stderr
    removed = sorted(line.split()[-1] for line in r.stdout.splitlines()
                     if line.startswith("removed: DeleteRoute"))
    assert removed == sorted([POOL, POOL, HOME, HOME]), r.stdout
    assert cloud.ours() == ["172.16.0.0/12"]
    assert cloud.ours(main) == ["0.0.0.0/0"]
    assert cloud.table_routes()["192.168.3.0/24"] == other["NetworkInterfaceId"]
    assert {c.action for c in cloud.mutating(since=t)} == {"DeleteRoute"}
    a.wait_log(r"aws: withdraw: removed 4 routes, 0 failed; nothing is created until the "
               r"next reload")
    # the agent keeps running, and creates nothing until a reload
    assert status(a)["aws"]["withdrawn"] is True
    assert "withdrawn (vpcroutectl withdraw)" in ctl(a, "status").stdout
    p.client("shop", ["192.168.5.0/24"], t4="100.64.0.3")
    wait_for("the kernel route", lambda: "192.168.5.0/24" in a.routes())
    time.sleep(2)
    assert [c for c in cloud.mutating(since=t) if c.action != "DeleteRoute"] == []
    # the administrator's, on request only; never the default route
    r = ctl(a, "withdraw", "--unwanted", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["removed"] == [f"DeleteRoute {w.rtb_id} 172.16.0.0/12"]
    assert cloud.ours() == [] and cloud.ours(main) == ["0.0.0.0/0"]
    # a reload routes through this instance again
    a.send_signal(signal.SIGHUP)
    wait_for("back after the reload",
             lambda: cloud.ours() == sorted([POOL, HOME, "192.168.5.0/24"]), timeout=25)
    assert status(a)["aws"]["withdrawn"] is False


def test_withdraw_refused_without_root_or_aws(cloud, tmp_path):
    a = cloud.agent({"version": 1, "role": "server", "local_networks": ["10.1.1.0/24"],
                     "tunnel": {"pool": POOL}}, name="noaws").start()
    r = ctl(a, "withdraw")
    assert r.returncode == 1 and "the aws section is off" in r.stderr, r.stderr
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        built("agent/vpcroutectl"), "-s", a.sock, "withdraw"],
                       capture_output=True, text=True, timeout=30)
    # nobody cannot even connect (socket mode), or is refused by the agent
    assert r.returncode != 0 and "vpcroute-agent: withdraw" not in r.stdout


def test_flush_withdraws_vpc_routes_at_exit(cloud):
    main = cloud.main_rtb()
    cloud.world.ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0",
                                 NetworkInterfaceId=cloud.world.eni_id)
    a, _ = with_client(cloud, [HOME], extra=("--flush",))
    wait_for("our routes", lambda: cloud.ours() == sorted([POOL, HOME])
             and cloud.ours(main) == sorted(["0.0.0.0/0", POOL, HOME]))
    a.stop()
    assert a.proc.returncode == 0
    assert cloud.ours() == [] and cloud.ours(main) == ["0.0.0.0/0"]
    assert "aws: withdraw: removed 4 routes, 0 failed" in a.log_text()
    assert a.routes() == []


def test_strict_ec2_rules_reported(cloud):
    ec2, w = cloud.world.ec2, cloud.world
    # a table holding EC2's 50 routes (the local route and 49 others)
    other = ec2.create_network_interface(SubnetId=w.subnet_id)["NetworkInterface"]
    for i in range(49):
        ec2.create_route(RouteTableId=w.rtb_id, DestinationCidrBlock=f"172.20.{i}.0/24",
                         NetworkInterfaceId=other["NetworkInterfaceId"])
    # the pool inside the VPC's 10.1.0.0/23 (not a subnet): EC2 refuses its route;
    # aws.route_quota above EC2's (a raise the agent was told of, not granted): the
    # agent asks, EC2 refuses (at the configured quota it would not ask at all,
    # test_agent_aws_summaries.py)
    c = conf(route_quota=60)
    c["tunnel"] = {"pool": "10.1.0.0/25"}
    a = cloud.agent(c).start()
    p = FakePlugin(a.sock).connect()
    p.client("pi-home", [HOME], t4="10.1.0.2")
    a.wait_log(r"CreateRoute rtb-\w+ 10\.1\.0\.0/25 -> eni-\w+: InvalidParameterValue .*: the "
               r"network lies inside the VPC's CIDR block 10\.1\.0\.0/23, where EC2 accepts a "
               r"route only for a subnet's exact CIDR", timeout=20)
    a.wait_log(r"CreateRoute rtb-\w+ 192\.168\.1\.0/24 -> eni-\w+: RouteLimitExceeded .*: the "
               r"table holds as many routes as EC2 allows", timeout=20)
    wait_for("the main table has room", lambda: cloud.ours(cloud.main_rtb()) == [HOME])
    st = states(a, w.rtb_id)
    assert st["10.1.0.0/25"][0] == "failed" and st[HOME][0] == "failed"
    (table,) = [t for t in status(a)["aws"]["route_tables"] if t["id"] == w.rtb_id]
    errors = {r["destination"]: r.get("error", "") for r in table["routes"]}
    assert errors[HOME].startswith("RouteLimitExceeded")
    assert "inside the VPC's CIDR block 10.1.0.0/23" in errors["10.1.0.0/25"]
    d = ctl(a, "doctor")
    assert "EC2 refused the route for 192.168.1.0/24: RouteLimitExceeded" in d.stdout, d.stdout
    assert re.search(r"^PROBLEM +aws: the remote network 10\.1\.0\.0/25 lies inside the VPC's "
                     r"CIDR block 10\.1\.0\.0/23: EC2 refuses a VPC route there", d.stdout,
                     re.M), d.stdout


def test_adoption_creates_nothing_until_claimed(cloud):
    """Routes of our protocol found at start are candidates only (issue 20): one no
    policy could allow is removed at once; the others stay in the kernel through
    the grace period but make no VPC route until a client claims them; unclaimed
    ones go when it ends."""
    h = cloud.host
    h.run("ip route add 10.99.0.0/16 dev eth0 proto 212")    # outside every policy
    h.run("ip route add 192.168.7.0/24 dev tun0 proto 212")  # allowed, never claimed
    h.run("ip route add 192.168.1.0/24 dev tun0 proto 212")  # allowed, claimed in the grace
    a = cloud.agent(conf())
    a.grace = 20
    a.start()
    a.wait_log(r"route 10\.99\.0\.0/16 dev eth0 \(protocol vpcroute, ours\) removed, not "
               r"adopted: no network the configuration allows contains it")
    a.wait_log(r"adopted 2 routes of ours from the kernel")
    assert "10.99.0.0/16" not in h.run("ip route show proto 212").stdout
    # the pool's route shows the planner has run with what is wanted
    wait_for("the pool's VPC route", lambda: cloud.ours() == [POOL])
    kernel = h.run("ip route show proto 212").stdout
    assert "192.168.7.0/24" in kernel and "192.168.1.0/24" in kernel, kernel
    # a client claims one candidate during the grace period: now it is wanted
    p = FakePlugin(a.sock)
    p.table["pi-home"] = {"cn": "pi-home", "networks": ["192.168.1.0/24"],
                          "tunnel4": "100.64.0.2"}
    p.connect()
    wait_for("the claimed network's VPC route",
             lambda: cloud.ours() == sorted([POOL, "192.168.1.0/24"]))
    a.wait_log(r"grace period over", timeout=40)
    wait_for("the unclaimed candidate removed",
             lambda: "192.168.7.0/24" not in h.run("ip route show proto 212").stdout)
    assert "192.168.1.0/24" in h.run("ip route show proto 212").stdout
    created = [c.params.get("DestinationCidrBlock") for c in cloud.mutating()
               if c.action in ("CreateRoute", "ReplaceRoute")]
    assert "10.99.0.0/16" not in created and "192.168.7.0/24" not in created, created
    assert cloud.ours() == sorted([POOL, "192.168.1.0/24"])
