# SPDX-License-Identifier: GPL-2.0-or-later
"""vpcroutectl metrics: the agent's counters and gauges in the Prometheus text
format, scraped after a known sequence (connects, a refused client, an EC2
throttle injected by the proxy) and checked value by value, then by
`promtool check metrics`."""
import collections
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from vrlab.build import built
from vrlab.agent import Agent, tunnel_host
from vrlab.fakeplugin import FakePlugin
from vrlab.metrics import family, parse, scrape

from test_agent_aws import POOL, HOME, conf, status, wait_for
from test_agent_aws import cloud  # noqa: F401 (the fixture)

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "bin")

def promtool_check(text):
    here = os.path.join(TOOLS, "promtool")
    promtool = here if os.access(here, os.X_OK) else shutil.which("promtool")
    if not promtool:
        pytest.fail("promtool not found: scripts/check unpacks it into tests/tools/bin")
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_metrics_after_known_sequence(cloud):
    # no drift check during the test: the calls are the ones the sequence makes
    a = cloud.agent(conf(drift_check_s=3600)).start()
    a.wait_log(r"route tables described", timeout=20)
    a.wait_log(r"turned off the source/dest check", timeout=20)
    # exactly one CreateRoute is throttled
    cloud.proxy.set_fault("throttle", actions={"CreateRoute"}, times=1)
    p = FakePlugin(a.sock).connect()
    p.client("pi-home", [HOME], t4="100.64.0.2")
    p.client("site-b", ["192.168.7.0/24"], t4="100.64.0.3")
    # outside default_client.allow: the agent refuses it
    p.client("intruder", ["10.99.0.0/24"], t4="100.64.0.4")
    main = cloud.main_rtb()
    wait_for("routes in both tables",
             lambda: cloud.ours() == sorted([POOL, HOME, "192.168.7.0/24"])
             and cloud.ours(main) == sorted([POOL, HOME, "192.168.7.0/24"]), timeout=40)
    a.wait_log(r"CreateRoute .*: RequestLimitExceeded .*; retry in", timeout=20)
    wait_for("nothing pending", lambda: not status(a)["aws"]["pending_calls"]
             and status(a)["aws"]["in_flight"] is None)
    p.client("pi-home", [HOME], t4="100.64.0.2")  # reconnect: admitted again
    p.send({"type": "disconnect", "cn": "site-b"})
    wait_for("site-b's kernel route gone", lambda: a.routes() == [HOME])

    text = scrape(a.sock)
    samples, types = parse(text)
    calls = list(cloud.proxy.calls)
    st = status(a)

    # OpenVPN side
    assert family(samples, "vpcroute_clients") == {(("instance", "server"),): 1}
    assert family(samples, "vpcroute_client_networks") == {(("instance", "server"),): 1}
    assert family(samples, "vpcroute_plugin_up") == {(("instance", "server"),): 1}
    assert family(samples, "vpcroute_admissions_total") == {
        (("outcome", "admitted"), ("rule", "none")): 3,
        (("outcome", "refused"), ("rule", "default_client.allow")): 1}
    # kernel: pi-home's network; site-b's withdrawn
    assert family(samples, "vpcroute_routes") == {
        (("state", "wanted"),): 1, (("state", "installed"),): 1,
        (("state", "left_to_others"),): 0}
    assert samples[("vpcroute_route_failures_total", ())] == 0
    assert samples[("vpcroute_set_failures_total", ())] == 0
    assert family(samples, "vpcroute_set_elements") == {
        ((("set", k),)): v for k, v in st["nftables"]["set_elements"].items()}
    assert family(samples, "vpcroute_kernel_repairs_total") == {}
    # EC2: every call the proxy answered, by action and code
    want = collections.Counter()
    for c in calls:
        assert c.status is not None, c.action
        if c.faulted:
            assert c.fault == "throttle"
            want[(("action", c.action), ("code", "RequestLimitExceeded"))] += 1
        else:
            assert c.status == 200, (c.action, c.status)
            want[(("action", c.action), ("code", "Success"))] += 1
    assert family(samples, "vpcroute_ec2_calls_total") == dict(want)
    assert want[(("action", "CreateRoute"), ("code", "RequestLimitExceeded"))] == 1
    assert samples[("vpcroute_ec2_throttles_total", ())] == 1
    assert samples[("vpcroute_ec2_retries_total", ())] == 1
    assert samples[("vpcroute_ec2_budget_waits_total", ())] >= 0
    # site-b's routes wait out withdraw_grace_s: still ours in both tables
    assert family(samples, "vpcroute_vpc_routes")[(("state", "ours"),)] + \
        family(samples, "vpcroute_vpc_routes").get((("state", "withdrawing"),), 0) == 6
    vpc = collections.Counter(r["state"].replace(" ", "_")
                              for t in st["aws"]["route_tables"] for r in t["routes"])
    assert family(samples, "vpcroute_vpc_routes") == {
        (("state", s),): vpc.get(s, 0) for s in
        set(vpc) | {"ours", "missing", "conflict", "blackhole"}}
    assert samples[("vpcroute_source_dest_check", ())] == 0
    assert samples[("vpcroute_drift_check_age_seconds", ())] >= 0
    assert samples[("vpcroute_ec2_success_age_seconds", ())] >= 0

    assert types["vpcroute_clients"] == "gauge"
    assert types["vpcroute_ec2_calls_total"] == "counter"
    assert all(n.endswith("_total") == (t == "counter") for n, t in types.items())
    promtool_check(text)


def test_metrics_readable_by_status_group(lab, tmp_path):
    """The socket's group reads the metrics like the status; without AWS the
    cloud's series are absent, its counters at 0."""
    host = tunnel_host(lab)
    sockdir = tempfile.mkdtemp(prefix="vr-metrics-")
    os.chmod(sockdir, 0o755)
    try:
        a = Agent(host, str(tmp_path / "agent"),
                  {"version": 1, "role": "server", "local_networks": ["10.1.1.0/24"],
                   "tunnel": {"pool": "10.1.2.0/24"},
                   "clients": {"pi-home": {"allow": ["192.168.1.0/24"]}},
                   "socket": {"path": f"{sockdir}/agent.sock", "mode": "0666",
                              "group": "nogroup"}}).start()
        p = FakePlugin(a.sock, instance="srv \"a\\b\"").connect()
        p.client("pi-home", ["192.168.1.0/25", "192.168.1.128/25"], t4="10.1.2.10")
        p.client("stranger", ["192.168.9.0/24"], t4="10.1.2.11")
        a.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
        ctl = os.path.join(sockdir, "vpcroutectl")
        shutil.copy(built("agent/vpcroutectl"), ctl)
        os.chmod(ctl, 0o755)
        text = scrape(a.sock, ["runuser", "-u", "nobody", "-g", "nogroup", "--", ctl])
        samples, _ = parse(text)
        inst = (("instance", 'srv \\"a\\\\b\\"'),)  # escaped in the exposition
        assert family(samples, "vpcroute_clients") == {inst: 1}
        assert family(samples, "vpcroute_client_networks") == {inst: 2}
        assert family(samples, "vpcroute_admissions_total") == {
            (("outcome", "admitted"), ("rule", "none")): 1,
            (("outcome", "refused"), ("rule", "clients.*.allow")): 1}
        assert family(samples, "vpcroute_routes")[(("state", "installed"),)] == 2
        assert family(samples, "vpcroute_vpc_routes") == {}
        assert ("vpcroute_source_dest_check", ()) not in samples
        assert ("vpcroute_ec2_success_age_seconds", ()) not in samples
        assert family(samples, "vpcroute_ec2_calls_total") == {}
        assert samples[("vpcroute_ec2_retries_total", ())] == 0
        # the links dumped once, at start (tests/lab/test_agent_links.py: no more)
        assert samples[("vpcroute_link_dumps_total", ())] == 1
        assert samples[("vpcroute_link_notifications_total", ())] >= 0
        p.close()
        wait_for("plugin down", lambda: parse(scrape(a.sock))[0][
            ("vpcroute_plugin_up", inst)] == 0, timeout=10)
        promtool_check(text)
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)


def http(connect, request, chunks=1):
    """Sends request (bytes) in chunks, returns (status line, headers, body)."""
    s = connect()
    try:
        step = max(1, len(request) // chunks)
        for i in range(0, len(request), step):
            s.sendall(request[i:i + step])
        s.settimeout(10)
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert int(headers["Content-Length"]) == len(body)
    return lines[0], headers, body.decode()


def test_metrics_listener(lab, tmp_path):
    """metrics.listen: GET /metrics over HTTP on a UNIX socket and on the lab
    node's loopback, the same text as vpcroutectl metrics; anything else is
    refused with a status, and a stalled client holds up nobody."""
    import socket
    host = tunnel_host(lab)
    path = str(tmp_path / "metrics.sock")
    conf = {"version": 1, "role": "server", "local_networks": ["10.1.1.0/24"],
            "tunnel": {"pool": "10.1.2.0/24"}, "metrics": {"listen": path},
            "clients": {"pi-home": {"allow": ["192.168.1.0/24"]}}}
    a = Agent(host, str(tmp_path / "agent"), conf).start()
    a.wait_log(r"metrics: serving GET /metrics on " + re.escape(path))
    assert os.stat(path).st_mode & 0o777 == 0o666

    def unix():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        return s

    p = FakePlugin(a.sock).connect()
    p.client("pi-home", ["192.168.1.0/24"], t4="10.1.2.10")
    a.wait_log(r"client pi-home connected")
    # a client that sends half a request and stalls
    stalled = unix()
    stalled.sendall(b"GET /metr")
    line, headers, body = http(unix, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", chunks=5)
    assert line == "HTTP/1.0 200 OK"
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert headers["Connection"] == "close"
    samples, _ = parse(body)
    assert samples[("vpcroute_clients", (("instance", "server"),))] == 1
    assert samples[("vpcroute_admissions_total",
                    (("outcome", "admitted"), ("rule", "none")))] == 1
    # the same registry as the control socket's
    ctl, _ = parse(scrape(a.sock))
    assert {k: v for k, v in ctl.items() if "age_seconds" not in k[0]} == \
        {k: v for k, v in samples.items() if "age_seconds" not in k[0]}
    promtool_check(body)
    for req, want in ((b"GET / HTTP/1.0\r\n\r\n", "404 Not Found"),
                      (b"POST /metrics HTTP/1.0\r\n\r\n", "405 Method Not Allowed"),
                      (b"GET /metrics HTTP/2.0\r\n\r\n", "505 HTTP Version Not Supported"),
                      (b"GET /metrics HTTP/1.0\nHost: x\n\n", "400 Bad Request"),
                      (b"GET /metrics HTTP/1.0\r\nX: " + b"a" * 3000 + b"\r\n\r\n",
                       "431 Request Header Fields Too Large")):
        assert http(unix, req)[0] == "HTTP/1.0 " + want, req[:40]
    # more connections than the listener keeps: the oldest (the stalled one) goes
    idle = [unix() for _ in range(8)]
    stalled.settimeout(10)
    assert stalled.recv(100) == b""
    for s in idle:
        s.close()
    stalled.close()
    a.stop()
    assert not os.path.exists(path)

    # loopback TCP inside the node; curl is the client
    conf["metrics"]["listen"] = "127.0.0.1:9810"
    a = Agent(host, str(tmp_path / "agent-tcp"), conf).start()
    a.wait_log(r"metrics: serving GET /metrics on 127\.0\.0\.1:9810")
    r = host.run(["curl", "-sS", "--fail", "http://127.0.0.1:9810/metrics"])
    samples, _ = parse(r.stdout)
    assert samples[("vpcroute_ec2_retries_total", ())] == 0
    promtool_check(r.stdout)
    r = host.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                  "http://127.0.0.1:9810/other"], check=False)
    assert r.stdout == "404"
    a.stop()

    # a path that is not a socket is left alone, and the agent does not start
    blocker = tmp_path / "not-a-socket"
    blocker.write_text("mine\n")
    conf["metrics"]["listen"] = str(blocker)
    a = Agent(host, str(tmp_path / "agent-bad"), conf)
    a.start(wait=False)
    assert a.proc.wait(timeout=10) != 0
    assert re.search(r"metrics\.listen .*not-a-socket: File exists", a.log_text())
    assert blocker.read_text() == "mine\n"


def test_metrics_listen_checked(tmp_path):
    """A bad metrics.listen is refused by the loader, naming key and value."""
    f = tmp_path / "c.conf"
    for bad, why in (("localhost:9810", "localhost is not an IPv4 address"),
                     ("127.0.0.1:0", "expected ADDRESS:PORT"),
                     ("127.0.0.1:65536", "expected ADDRESS:PORT"),
                     ("::1:9810", "is not an IPv4 address"),
                     ("relative/path", "expected ADDRESS:PORT")):
        f.write_text('{"version": 1, "role": "server", "tunnel": {"pool": "10.1.2.0/24"},\n'
                     f' "local_networks": ["10.1.1.0/24"], "metrics": {{"listen": "{bad}"}}}}\n')
        r = subprocess.run([built("agent/vpcroutectl"), "check-config", str(f)],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 1, bad
        assert r.stderr.startswith(f"{f}:2:") and f'metrics.listen: "{bad}": ' in r.stderr \
            and why in r.stderr, r.stderr
    f.write_text('{"version": 1, "role": "server", "tunnel": {"pool": "10.1.2.0/24"},\n'
                 ' "local_networks": ["10.1.1.0/24"], "metrics": {"listen": "[::1]:9810"}}\n')
    r = subprocess.run([built("agent/vpcroutectl"), "check-config", str(f)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and '"listen": "[::1]:9810"' in r.stdout, r.stderr
