# SPDX-License-Identifier: GPL-2.0-or-later
"""vpcroutectl: check-config for good and bad files; status and reload against an agent."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from vrlab.ctlconn import CtlConn

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("VPCROUTE_BUILDDIR", TOP)
CTL = os.path.join(BUILD, "agent", "vpcroutectl")


def ctl(*args):
    if not os.access(CTL, os.X_OK):
        pytest.fail(f"{CTL} not built (scripts/check builds it; set VPCROUTE_BUILDDIR)")
    return subprocess.run([CTL, *args], capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize("name", ["topology-a-server.conf", "topology-a-pi.conf",
                                  "topology-b-ec2-client.conf",
                                  "topology-c-road-warriors.conf", "ipsec-vpc2vpc.conf",
                                  "ipsec-vgw.conf", "ipsec-sites.conf"])
def test_examples_are_valid(name):
    path = os.path.join(TOP, "doc", "examples", name)
    r = ctl("check-config", "--offline", path)  # written for other hosts
    assert r.returncode == 0, r.stderr
    assert r.stderr == f"{path}: configuration valid\n"
    dump = json.loads(r.stdout)
    assert dump["version"] == 1
    assert dump["plugin"]["fail_mode"] in ("closed", "open")


BAD = [
    # syntax error: jansson's position
    ('{\n  "version": 1,\n  "role": "server",,\n}\n', r"^{f}:3:20: "),
    # a bad prefix three levels down: file:line:col, key path, value, the fix
    ('{\n  "version": 1,\n  "role": "server",\n  "local_networks": ["10.1.1.0/24"],\n'
     '  "tunnel": { "pool": "10.1.2.0/24" },\n  "clients": {\n    "pi-home": {\n'
     '      "iroutes": ["192.168.1.128/25", "192.168.2.1/24"]\n    }\n  }\n}\n',
     r'^{f}:8:39: clients\.pi-home\.iroutes\[1\]: "192\.168\.2\.1/24": host bits set '
     r'\(the network is 192\.168\.2\.0/24\)$'),
    ('{"version": 1, "role": "server", "local_networks": ["10.1.1.0/24"],\n'
     ' "tunnel": {"pool": "10.1.2.0/24"}, "plugin": {"fail_mod": "open"}}\n',
     r'^{f}:2:48: plugin\.fail_mod: unknown key \(did you mean "fail_mode"\?\)$'),
]


@pytest.mark.parametrize("text,pattern", BAD)
def test_bad_config_one_line(tmp_path, text, pattern):
    f = tmp_path / "vpcroute.conf"
    f.write_text(text)
    r = ctl("check-config", str(f))
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert re.match(pattern.replace("{f}", re.escape(str(f))), lines[0]), lines[0]


def test_missing_file_and_usage(tmp_path):
    r = ctl("check-config", str(tmp_path / "nope.conf"))
    assert r.returncode == 1
    assert r.stderr == f"{tmp_path / 'nope.conf'}: No such file or directory\n"
    assert ctl("frobnicate").returncode == 2
    assert ctl().returncode == 2
    r = ctl("--help")
    assert r.returncode == 0 and "check-config" in r.stdout
    assert ctl("version").stdout.startswith("vpcroutectl ")


# --- check-config against this host's VPC, from the instance metadata (the mock) ---

MAC = "0a:1b:2c:3d:4e:5f"
VPC4, VPC6 = "10.1.0.0/16", "2600:1f18:abcd:1200::/56"
INSIDE = """{
  "version": 1,
  "role": "server",
  "local_networks": ["10.1.1.0/24"],
  "tunnel": { "pool": "10.1.2.0/24", "pool6": "2600:1f18:abcd:1201::/64" },
  "clients": { "pi-home": { "iroutes": ["192.168.1.0/24", "10.1.5.0/24"] },
               "shop": { "iroutes": ["10.1.6.0/24"] } },
  "aws": { "enabled": true%s }
}
"""
OUTSIDE = """{
  "version": 1, "role": "server", "local_networks": ["10.1.1.0/24"],
  "tunnel": { "pool": "10.2.2.0/24", "pool6": "fd00:8::/64" },
  "clients": { "pi-home": { "iroutes": ["192.168.1.0/24"] } },
  "aws": { "enabled": true }
}
"""


@pytest.fixture
def metadata(tmp_path):
    """The metadata mock on loopback, IMDSv2 only, for a VPC with one IPv4 and
    one IPv6 block."""
    from vrlab.emulators import MetadataMock, metadata_mock_path
    if not metadata_mock_path():
        pytest.fail("ec2-metadata-mock not built: scripts/check builds it into tests/tools/bin")
    mac = f"/latest/meta-data/network/interfaces/macs/{MAC}"
    m = MetadataMock(str(tmp_path), {"mac": MAC, "mac-vpc-ipv4-cidr-blocks": VPC4,
                                     "mac-vpc-ipv6-cidr-blocks": VPC6},
                     {"mac": "/latest/meta-data/mac",
                      "mac-vpc-ipv4-cidr-blocks": f"{mac}/vpc-ipv4-cidr-blocks",
                      "mac-vpc-ipv6-cidr-blocks": f"{mac}/vpc-ipv6-cidr-blocks"})
    yield m
    m.stop()


def check_on_ec2(tmp_path, text, *args, endpoint):
    """check-config -q with the instance metadata at endpoint (conftest turns
    the metadata off for every other test)."""
    f = tmp_path / "vpcroute.conf"
    f.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = endpoint
    r = subprocess.run([CTL, "check-config", "-q", *args, str(f)], capture_output=True,
                       text=True, timeout=30, env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[-1] == f"{f}: configuration valid", r.stderr
    return str(f), lines[:-1]


def test_check_config_pool_inside_the_vpc(tmp_path, metadata):
    path, warnings = check_on_ec2(tmp_path, INSIDE % "", endpoint=metadata.url)
    where = [(re.escape(path) + r":5:15: warning: tunnel\.pool: the tunnel pool 10\.1\.2\.0/24 "
              r"lies inside the VPC's CIDR block 10\.1\.0\.0/16: EC2 refuses a VPC route there")]
    where.append(re.escape(path) + r":5:38: warning: tunnel\.pool6: the tunnel pool "
                 r"2600:1f18:abcd:1201::/64 lies inside the VPC's CIDR block "
                 r"2600:1f18:abcd:1200::/56: ")
    where.append(re.escape(path) + r":6:59: warning: clients\.pi-home\.iroutes\[1\]: client "
                 r"pi-home: iroute 10\.1\.5\.0/24 lies inside the VPC's CIDR block 10\.1\.0\.0/16")
    where.append(re.escape(path) + r":7:38: warning: clients\.shop\.iroutes\[0\]: client "
                 r"shop: iroute 10\.1\.6\.0/24 lies inside")
    assert len(warnings) == len(where), warnings
    for line, rx in zip(warnings, where):
        assert re.match(rx, line), line
        # what to do, and where the blocks came from
        assert "Use a network outside every block of the VPC" in line, line
        assert line.endswith("from the instance metadata; --offline skips this check, for a "
                             "file meant for another host.)"), line
    # networks outside the VPC: nothing to say
    _, warnings = check_on_ec2(tmp_path, OUTSIDE, endpoint=metadata.url)
    assert warnings == []
    # the endpoint of the configuration first, as the agent takes it
    _, warnings = check_on_ec2(tmp_path, INSIDE % f', "imds_endpoint": "{metadata.url}"',
                               endpoint="http://127.0.0.1:9")
    assert len(warnings) == 4, warnings


def test_check_config_offline_asks_no_metadata(tmp_path):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        srv.setblocking(False)
        url = f"http://127.0.0.1:{srv.getsockname()[1]}"
        _, warnings = check_on_ec2(tmp_path, INSIDE % "", "--offline", endpoint=url)
        assert warnings == []
        with pytest.raises(BlockingIOError):
            srv.accept()  # nobody came


def test_check_config_metadata_unreachable(tmp_path):
    """Not on EC2: one note, never an error; a service that never answers is
    given up after the timeout."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{srv.getsockname()[1]}"  # bound, not listening
        _, notes = check_on_ec2(tmp_path, INSIDE % "", endpoint=closed)
        assert len(notes) == 1, notes
        assert re.fullmatch(r".*: note: the instance metadata did not answer \(IMDS token: "
                            + re.escape(closed) + r": .*\): the tunnel pools and iroutes are not "
                            r"checked against the VPC's CIDR blocks", notes[0]), notes[0]
        # connections accepted by the kernel, never answered
        srv.listen(8)
        _, notes = check_on_ec2(tmp_path, INSIDE % "", endpoint=closed)
        assert len(notes) == 1 and "did not answer (IMDS token: " in notes[0], notes
    # turned off as the SDKs turn it off: not even a note
    f = tmp_path / "vpcroute.conf"
    r = subprocess.run([CTL, "check-config", "-q", str(f)], capture_output=True, text=True,
                       timeout=30, env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"})
    assert r.returncode == 0 and r.stderr == f"{f}: configuration valid\n", r.stderr


# --- status and reload, against a running agent ---

SCHEMA = os.path.join(TOP, "doc", "status.schema.json")


def validate(doc, schema="status"):
    """doc against doc/SCHEMA.schema.json."""
    import jsonschema
    with open(os.path.join(TOP, "doc", f"{schema}.schema.json")) as f:
        jsonschema.validate(doc, json.load(f))


def validate_status(doc):
    validate(doc, "status")


def status_json(sock):
    r = ctl("-s", sock, "status", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    validate_status(doc)
    return doc


@pytest.fixture
def running(lab, tmp_path):
    from vrlab.agent import Agent, tunnel_host
    from vrlab.fakeplugin import FakePlugin
    from vrlab.sysctls import preset_opposite
    host = tunnel_host(lab)
    preset_opposite(host, devs=["tun0"])  # what the agent owns, the other way round
    # a directory other users can enter (pytest's tmp_path is root's alone)
    sockdir = tempfile.mkdtemp(prefix="vr-ctl-")
    os.chmod(sockdir, 0o755)
    conf = {"version": 1, "role": "server", "local_networks": ["10.1.1.0/24"],
            "tunnel": {"pool": "10.1.2.0/24"},
            "clients": {"pi-home": {"allow": ["192.168.1.0/24"]}},
            "socket": {"path": f"{sockdir}/agent.sock", "mode": "0666", "group": "nogroup"}}
    agent = Agent(host, str(tmp_path / "agent"), conf).start()
    plugin = FakePlugin(agent.sock).connect()
    plugin.client("pi-home", ["192.168.1.128/25"], t4="10.1.2.10")
    agent.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
    agent.host = host
    yield agent, plugin
    plugin.close()
    agent.stop()
    shutil.rmtree(sockdir, ignore_errors=True)


def test_status_json_and_table(running):
    agent, plugin = running
    doc = status_json(agent.sock)
    assert doc["role"] == "server" and doc["aws"] is None
    (inst,) = doc["instances"]
    assert inst["name"] == "server" and inst["plugin_connected"] and inst["device"] == "tun0"
    (client,) = inst["clients"]
    assert client["cn"] == "pi-home" and client["networks"] == ["192.168.1.128/25"]
    assert client["tunnel4"] == "10.1.2.10"
    assert doc["routes"] == [{"destination": "192.168.1.128/25", "device": "tun0",
                              "state": "installed"}]
    assert doc["routes_missing"] == []
    assert client["state"] == "programmed"
    assert doc["nftables"]["built"] and doc["nftables"]["set_elements"]["remote4"] == 2
    # the same through the configuration file, as a table
    r = ctl("-f", agent.conf, "status")
    assert r.returncode == 0, r.stderr
    assert "instance server (server role): plugin connected, tunnel tun0, 1 client" in r.stdout
    assert re.search(r"^  pi-home +10\.1\.2\.10 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
                     r"192\.168\.1\.128/25$", r.stdout, re.M), r.stdout
    assert "kernel routes (proto vpcroute): 192.168.1.128/25 dev tun0\n" in r.stdout
    assert "aws: off" in r.stdout


def test_reload_and_errors(running, tmp_path):
    agent, _ = running
    r = ctl("-s", agent.sock, "reload")
    assert r.returncode == 0 and "reloaded" in r.stdout, r.stderr
    agent.wait_log(r"vpcroutectl pid \d+: reload requested")
    # a broken file: the agent refuses, says why, and keeps running as it was
    good = open(agent.conf).read()
    with open(agent.conf, "w") as f:
        f.write(good.replace('"10.1.2.0/24"', '"10.1.2.1/24"'))
    r = ctl("-s", agent.sock, "reload")
    assert r.returncode == 1
    assert re.search(r"^vpcroute-agent: .*tunnel\.pool: \"10\.1\.2\.1/24\": host bits set",
                     r.stderr), r.stderr
    assert status_json(agent.sock)["instances"][0]["clients"][0]["cn"] == "pi-home"
    # no agent there
    r = ctl("-s", str(tmp_path / "nothing.sock"), "status")
    assert r.returncode == 3 and "cannot reach vpcroute-agent" in r.stderr
    assert ctl("-s", agent.sock, "status", "extra").returncode == 2


def test_socket_group_reads_status_only(running):
    agent, _ = running
    # a copy nobody can execute: the build tree may be inside root's home
    ctl_copy = os.path.join(os.path.dirname(agent.sock), "vpcroutectl")
    shutil.copy(CTL, ctl_copy)
    os.chmod(ctl_copy, 0o755)
    run = ["runuser", "-u", "nobody", "-g", "nogroup", "--", ctl_copy, "-s", agent.sock]
    r = subprocess.run(run + ["status", "--json"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    validate_status(json.loads(r.stdout))
    r = subprocess.run(run + ["reload"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert "reload: only root may reload the agent" in r.stderr
    # another unprivileged user, not in the socket's group: refused at once
    r = subprocess.run(["runuser", "-u", "nobody", "-g", "daemon", "--", ctl_copy, "-s",
                        agent.sock, "status"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 3
    agent.wait_log(r"refused a connection from pid \d+ uid \d+ gid \d+: not root, nor the "
                   r"OpenVPN user or group, nor the socket's group")


def test_ccd_rendered_from_policy(tmp_path):
    conf = os.path.join(TOP, "doc", "examples", "topology-a-server.conf")
    r = ctl("-f", conf, "ccd", "pi-home")
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if not l.startswith("#")]
    assert lines == ["iroute 192.168.1.128 255.255.255.128",
                     "ifconfig-push 10.1.2.10 255.255.255.0",
                     'push "route 10.1.1.0 255.255.255.0"']
    # the home-gateway template is that same file, with comments
    with open(os.path.join(TOP, "ccd-templates", "home-gateway")) as f:
        assert [l for l in f.read().splitlines() if not l.startswith("#")] == lines
    r = ctl("-f", conf, "ccd", "stranger")
    assert r.returncode == 1
    assert r.stderr == "vpcroutectl: client stranger: unknown common name (rule: strict)\n"
    r = ctl("-f", conf, "ccd", "../etc/passwd")
    assert r.returncode == 1 and "rule: common name" in r.stderr
    pi = os.path.join(TOP, "doc", "examples", "topology-a-pi.conf")
    r = ctl("-f", pi, "ccd", "pi-home")
    assert r.returncode == 1 and "CCD files are for the server role" in r.stderr
    assert ctl("-f", conf, "ccd").returncode == 2


def test_doctor_explains(running):
    agent, _ = running
    host = agent.host

    def doctor():
        # in the agent's namespace: the host checks read its /proc
        r = host.run([CTL, "-f", agent.conf, "doctor"], check=False)
        j = host.run([CTL, "-f", agent.conf, "doctor", "--json"], check=False)
        # the same findings as JSON, with the same verdict
        doc = json.loads(j.stdout)
        validate(doc, "doctor")
        assert j.returncode == r.returncode
        lines = [f"{f['level'].replace('problem', 'PROBLEM'):<8} {f['message']}"
                 for f in doc["findings"]]
        assert lines == r.stdout.splitlines()[:-1]
        assert doc["problems"] == sum(f["level"] == "problem" for f in doc["findings"])
        return r.returncode, r.stdout
    from vrlab.sysctls import assert_agent_set
    assert_agent_set(host, "tun0")  # preset the other way by the fixture
    rc, out = doctor()
    assert rc == 0, out
    assert re.search(r"^ok +IPv4 forwarding is on$", out, re.M)
    assert re.search(r"^ok +OpenVPN instance server: plugin connected, tunnel tun0, 1 client$",
                     out, re.M), out
    assert out.endswith("0 problems found\n")
    assert "\033" not in out  # no colour in a pipe
    # what an administrator breaks, doctor names, with the way out
    host.run("sysctl -qw net.ipv4.ip_forward=0")
    host.run(["nft", "-f", "-"], input="""
table ip early {
    chain post {
        type nat hook postrouting priority 0; policy accept;
        oifname "eth0" masquerade
    }
}
""")
    rc, out = doctor()
    assert rc == 1
    assert re.search(r"^PROBLEM +IPv4 forwarding is off \(net\.ipv4\.ip_forward=0\)", out, re.M)
    assert re.search(r"^PROBLEM +a foreign NAT rule runs before vpcroute's exemptions and can "
                     r"rewrite tunnel traffic: 'oifname \"eth0\" masquerade' in table ip early, "
                     r"chain post \(priority 0\), handle \d+\. Give that chain", out, re.M), out
    assert out.endswith("2 problems found\n")
    # colour on a terminal, and only there; never with NO_COLOR
    coloured = on_terminal(host, [CTL, "-f", agent.conf, "doctor"])
    assert re.search(r"^\033\[1;31mPROBLEM \033\[0m IPv4 forwarding is off", coloured, re.M)
    assert re.search(r"^\033\[32mok      \033\[0m vpcroute-agent", coloured, re.M), coloured
    assert re.sub(r"\033\[[0-9;]*m", "", coloured).replace("\r\n", "\n") == out
    assert "\033" not in on_terminal(host, [CTL, "-f", agent.conf, "doctor"], NO_COLOR="1")
    agent.stop()
    rc, out = doctor()
    assert rc == 1 and "vpcroute-agent does not answer" in out


def on_terminal(host, argv, **env):
    """What argv prints with a terminal as its stdout (the environment less NO_COLOR, plus env)."""
    import pty
    master, slave = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | env
    try:
        subprocess.run(host.argv(argv), stdout=slave, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL, env=environ, timeout=20)
        os.close(slave)
        slave = None
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed and all is read
                break
            if not chunk:
                break
            out += chunk
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    return out.decode()


def test_plan_shows_drift(running):
    agent, _ = running
    host = agent.host
    plan = lambda *a: ctl("-s", agent.sock, "plan", *a)  # noqa: E731

    def plan_json():
        r = plan("--json")
        doc = json.loads(r.stdout)
        validate(doc, "plan")
        return r.returncode, doc
    r = plan()
    assert r.returncode == 0 and r.stdout == "nothing to change\n", r.stdout + r.stderr
    assert plan_json() == (0, {"changes": 0, "routes_to_add": [], "routes_to_remove": [],
                               "aws_calls": []})
    # behind the agent's back: its route deleted, a stray route of its protocol. The
    # agent repairs both at once (test_agent_selfheal.py), so it is stopped meanwhile,
    # and its plan is read in the pass of its loop that sees the change.
    p = CtlConn(agent.sock).status_while_stopped(
        agent, host, "ip route del 192.168.1.128/25",
        "ip route add 10.99.0.0/16 dev tun0 proto 212")["plan"]
    assert p["routes_to_add"] == [{"destination": "192.168.1.128/25", "device": "tun0"}]
    assert p["routes_to_remove"] == ["10.99.0.0/16"]
    deadline = time.time() + 20  # repaired soon after: a bound, not a timing assertion
    while plan().stdout != "nothing to change\n":
        assert time.time() < deadline, plan().stdout
        time.sleep(0.02)


def test_bash_completion_knows_the_commands():
    script = os.path.join(TOP, "completion", "vpcroutectl")

    def complete(*words):
        code = (f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
                f"COMP_CWORD={len(words) - 1}; _vpcroutectl; echo \"${{COMPREPLY[*]}}\"")
        return subprocess.run(["bash", "-c", code], capture_output=True, text=True,
                              check=True).stdout.split()
    # every command of the usage text, and nothing else
    usage = ctl("--help").stdout
    commands = re.findall(r"^  ([a-z-]+)", usage.split("commands:")[1], re.M)
    assert sorted(complete("vpcroutectl", "")) == sorted(commands + ["help"])
    assert complete("vpcroutectl", "-f", "x.conf", "st") == ["status"]
    assert complete("vpcroutectl", "status", "--") == ["--json", "--help"]
