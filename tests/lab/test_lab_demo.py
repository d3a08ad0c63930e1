# SPDX-License-Identifier: GPL-2.0-or-later
"""scripts/lab: the one-shot proof of topologies A, B and C, and the lab that
stays up (up, a second start refused, shell, down, remains of a killed one).

demo.py is run directly where scripts/lab would build first (scripts/check
has built, and says where in VPCROUTE_BUILDDIR); shell, status and down go
through scripts/lab itself, which builds nothing for them. Each
test has its own VR_LAB_STATE_DIR, so a lab a user has up is not disturbed.
"""
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from vrlab import labstate, netns
from vrlab.build import BUILD
from vrlab.emulators import metadata_mock_path
from vrlab.topologies import TOPOLOGIES, Server

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "demo.py")
LAB = os.path.abspath(os.path.join(HERE, "..", "..", "scripts", "lab"))


@pytest.fixture
def lab_env(tmp_path):
    if not metadata_mock_path():
        pytest.fail("ec2-metadata-mock not built: scripts/check builds it into tests/tools/bin")
    e = {k: v for k, v in os.environ.items() if k != "VR_LAB_ONESHOT"}
    e.update(VPCROUTE_BUILDDIR=BUILD, VR_LAB_STATE_DIR=str(tmp_path / "state"))
    return e


def _ns_of(prefix):
    return [n for n in os.listdir(netns.NETNS_DIR) if n.startswith(prefix)] \
        if os.path.isdir(netns.NETNS_DIR) else []


def run_demo(args, env, timeout=150):
    """demo.py in its own process group: on a timeout it is asked to remove
    its lab (SIGTERM), and then the group is killed."""
    p = subprocess.Popen([sys.executable, DEMO, *args], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            out, _ = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
        pytest.fail(f"demo.py {' '.join(args)} did not end within {timeout}s:\n{out}")
    finally:
        for ns in _ns_of(f"vr-{p.pid}-"):  # never expected: it removes its own
            netns._delete_ns(ns)
    return p, out


def lab(args, env, timeout=60, **kw):
    return subprocess.run([LAB, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)


def sections(out):
    """{section title: its lines} of a lab's output (titles start a line)."""
    got, title = {}, None
    for line in out.splitlines():
        if line and not line.startswith(" "):
            title = line
        got.setdefault(title, []).append(line)
    return got


def status_block(out, node):
    """The lines under the step `vpcroutectl status on NODE`: what
    vpcroutectl status printed, or the error and logs of a failed step."""
    lines = sections(out).get("vpcroutectl status", [])
    head = next((i for i, ln in enumerate(lines)
                 if re.match(rf"^  \S vpcroutectl status on {node} ", ln)), None)
    assert head is not None, out
    block = [lines[head]]
    for ln in lines[head + 1:]:
        if not ln.startswith("      "):
            break
        block.append(ln)
    return block


def assert_status_shows(out, agent):
    """`vpcroutectl status` of agent (a topologies.Agent) as only a working
    status prints it: its role, a row per client with its tunnel address
    and networks, and the kernel routes the agent holds."""
    block = status_block(out, agent.node)
    text = "\n".join(block)
    assert block[0].startswith(f"  \u2714 vpcroutectl status on {agent.node} "), text
    assert re.search(rf"^      vpcroute-agent \S+ \(pid \d+\), (server|client) role, ", text,
                     re.M), text
    for c in agent.clients:
        tunnel = re.escape(c.tunnel) if isinstance(c.tunnel, str) else r"10\.1\.2\.\d+"
        nets = re.escape(", ".join(c.networks)) if c.networks else "-"
        assert re.search(rf"^\s+{re.escape(c.cn)}\s+{tunnel}\s+\d{{4}}-\d\d-\d\d "
                         rf"\d\d:\d\d:\d\d\s+{nets}$", text, re.M), text
    routes = ", ".join(f"{r} dev tun0" for r in agent.routes) or "none"
    assert f"\n      kernel routes (proto vpcroute): {routes}\n" in text, text


@pytest.mark.parametrize("topology", ["A", "B", "C"])
def test_check_proves_and_removes(lab_env, topology):
    desc = TOPOLOGIES[topology]
    p, out = run_demo(["--check", "--topology", topology], lab_env)
    assert p.returncode == 0, out
    assert "\u2718" not in out, out
    assert re.search(r"^\u2714 all checks passed; lab removed$", out, re.M), out
    # every check of the description's matrix, passed
    matrix = sections(out)["connectivity"][1:]
    assert len(matrix) == len(desc.connectivity), out
    assert all(ln.startswith("  \u2714 ") for ln in matrix), out
    # the VPC route table as the emulator holds it: the networks -> the ENI
    routes = re.findall(r"^\s+(\S+)\s+-> (eni-[0-9a-f]+) \(the instance's ENI\)$", out, re.M)
    for net in desc.vpc_routes:
        assert (net, routes[0][1]) in routes, out
    sdc = re.search(r"\u2714 source/dest check of (eni-[0-9a-f]+) \(the instance's ENI\) "
                    r"\([\d.]+s\): False$", out, re.M)
    assert sdc and sdc.group(1) == routes[0][1], out
    # each agent's status, as vpcroutectl printed it
    for agent in desc.agents:
        assert_status_shows(out, agent)
    # doctor is green in the healthy lab (the emulated security group lets OpenVPN in), on
    # every agent's node; and red with one thing broken (forwarding off on the instance)
    doctor = sections(out)["vpcroutectl doctor"][1:]
    for agent in desc.agents:
        assert any(re.match(rf"^  \u2714 vpcroutectl doctor on {agent.node}, in its namespace: "
                            r"no problem \([\d.]+s\): 0 problems found$", ln)
                   for ln in doctor), out
    if any(isinstance(v, Server) and v.plugin and v.node == desc.instance for v in desc.vpns):
        assert any("aws: the security groups let udp/1194 in" in ln for ln in doctor), out
    assert re.search(rf"^  \u2714 vpcroutectl doctor on {desc.instance} with IPv4 forwarding "
                     r"off .*: exit 1, 1 problem found$", out, re.M), out
    assert re.search(r"^      PROBLEM +IPv4 forwarding is off", out, re.M), out
    if topology == "C":
        for rw in ("anna", "ben"):
            # the VPC host and the home host see the road warrior's tunnel address
            for dst in ("VPC host 10.1.1.10:8080", "home 192.168.1.140:22"):
                assert re.search(rf"^  \u2714 {rw} (10\.1\.2\.\d+)\s+-> {re.escape(dst)} .*"
                                 r": server saw source \1$", out, re.M), out
            assert re.search(rf"^  \u2714 {rw} \(laptop-{rw}\): the routes the server pushed",
                             out, re.M), out
        assert re.search(r"^  \u2714 ec2: kernel routes of the agent .*: 192\.168\.1\.128/25$",
                         out, re.M), out
    # nothing left: the run's namespaces, its work directory, its state
    assert _ns_of(f"vr-{p.pid}-") == []
    work = re.search(r"^work directory \(logs, configurations\): (\S+)$", out, re.M).group(1)
    assert not os.path.exists(work)
    assert not os.path.exists(os.path.join(lab_env["VR_LAB_STATE_DIR"], "state.json"))


def test_help_names_each_topologys_nodes():
    """scripts/lab --help lists the topologies and their nodes: those of
    the descriptions scripts/lab runs (vrlab/topologies.py)."""
    r = subprocess.run([LAB, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    text = r.stdout.split("Topologies (", 1)[1].split("\n\n", 1)[0]
    said = {m.group(1): m.group(2).split()
            for m in re.finditer(r"^  ([A-Z])  .*?Nodes: ([a-z0-9 ]+)$", text, re.M | re.S)}
    assert said == {name: [h.name for h in t.network.hosts] for name, t in TOPOLOGIES.items()}


def test_help_names_the_ipsec_topologies():
    """scripts/lab --help lists the IPsec topologies (vrlab/ipseclab.py) with
    their nodes."""
    from vrlab.ipseclab import TOPOLOGIES as IPSEC
    r = subprocess.run([LAB, "--help"], capture_output=True, text=True, timeout=30)
    for name, t in IPSEC.items():
        nodes = " ".join(h.name for h in t.network.hosts)
        assert re.search(rf"^  {name}  (?:(?!^  \S).)*?Nodes: {nodes}$", r.stdout,
                         re.M | re.S), r.stdout


@pytest.fixture
def lab_up(lab_env):
    """A lab (topology A) that stays up; removed whatever the test did."""
    state_file = os.path.join(lab_env["VR_LAB_STATE_DIR"], "state.json")
    p, out = run_demo(["--topology", "A"], lab_env)
    st = None
    try:
        assert p.returncode == 0, out
        assert "the lab stays up" in out, out
        with open(state_file) as f:
            st = json.load(f)
        yield st, out
    finally:
        try:
            st = st or json.load(open(state_file))
        except (OSError, ValueError):
            pass
        try:
            lab(["down"], lab_env, timeout=90)
        except subprocess.TimeoutExpired:
            pass
        if st and labstate.pid_running(st.get("pid"), labstate.PROGRAM_MARK):
            os.killpg(st["pid"], signal.SIGKILL)  # down failed: its whole session
        for ns in _ns_of(f"{st['run']}-" if st and st.get("run") else "vr-none-"):
            netns._delete_ns(ns)
        netns.sweep_stale()


def test_up_shell_down(lab_env, lab_up):
    st, out = lab_up
    pid, run = st["pid"], st["run"]
    assert st["topology"] == "A" and st["phase"] == "up"
    assert labstate.pid_running(pid, labstate.PROGRAM_MARK)
    assert list(st["nodes"]) == [h.name for h in TOPOLOGIES["A"].network.hosts]
    assert sorted(_ns_of(f"{run}-")) == sorted(f"{run}-{n}" for n in st["nodes"])
    assert "all checks passed; the lab stays up" in out

    # a second scripts/lab refuses, says how to enter or remove the lab, and
    # leaves it alone
    for args in ([], ["--topology", "B"]):
        r = lab(args, lab_env)
        assert r.returncode == 3, r.stdout + r.stderr
        said = r.stdout + r.stderr
        assert "a lab is already up: topology A" in said, said
        assert "scripts/lab shell NODE" in said and "scripts/lab down" in said, said
    assert labstate.pid_running(pid, labstate.PROGRAM_MARK)

    # a command in a node, through the same code path as the shell
    r = lab(["shell", "priv", "-c", "ip -4 addr"], lab_env)
    assert r.returncode == 0, r.stderr
    assert "inet 10.1.1.10/24" in r.stdout
    r = lab(["shell", "home", "-c", "ping -n -c1 -W2 10.1.1.10"], lab_env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert lab(["shell", "priv", "-c", "exit 7"], lab_env).returncode == 7
    # the product's protocol name, in every node, whatever the host's name tables say
    r = lab(["shell", "ec2", "-c", "ip route show proto vpcroute"], lab_env)
    assert r.returncode == 0, r.stderr
    assert [ln.split()[0] for ln in r.stdout.splitlines()] == \
        list(TOPOLOGIES["A"].agents[0].routes), r.stdout
    assert "proto vpcroute" in lab(["shell", "ec2", "-c", "ip route"], lab_env).stdout
    # vpcroutectl there talks to the node's agent, which holds what the
    # description says
    r = lab(["shell", "ec2", "-c", "vpcroutectl status --json"], lab_env)
    assert r.returncode == 0, r.stdout + r.stderr
    status = json.loads(r.stdout)
    want = TOPOLOGIES["A"].agents[0]
    assert status["role"] == "server"
    assert {c["cn"]: (c["networks"], c["tunnel4"]) for i in status["instances"]
            for c in i["clients"]} == {c.cn: (list(c.networks), c.tunnel) for c in want.clients}
    assert [x["destination"] for x in status["routes"]] == list(want.routes)
    # the interactive shell's prompt names the node
    r = lab(["shell", "pi"], lab_env, input='echo "prompt: $PS1"\nexit 5\n')
    assert r.returncode == 5, r.stderr
    assert "prompt: [lab A: pi]" in r.stdout, r.stdout
    # a bad name lists the nodes
    r = lab(["shell", "nosuch"], lab_env)
    assert r.returncode == 2
    assert "no node 'nosuch'" in r.stderr and re.search(r"^\s+priv\s+" + run, r.stderr, re.M)
    r = lab(["status"], lab_env)
    assert r.returncode == 0 and "topology A" in r.stdout

    r = lab(["down"], lab_env, timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "lab removed" in r.stdout
    assert not os.path.exists(os.path.join(lab_env["VR_LAB_STATE_DIR"], "state.json"))
    assert _ns_of(f"{run}-") == []
    assert not labstate.pid_running(pid)
    for hpid, mark in st["helpers"]:
        assert not labstate.pid_running(hpid, mark), mark
    assert not os.path.exists(st["work"])
    r = lab(["shell", "priv", "-c", "true"], lab_env)
    assert r.returncode == 3 and "no lab is up" in r.stderr
    assert lab(["down"], lab_env).returncode == 0


def test_remains_of_a_killed_lab(lab_env, tmp_path):
    """A state file whose process is gone: status removes its namespaces and
    the file, and says so."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    run = f"vr-{dead.pid}-beef"
    subprocess.run(["ip", "netns", "add", f"{run}-priv"], check=True)
    try:
        os.makedirs(lab_env["VR_LAB_STATE_DIR"])
        with open(os.path.join(lab_env["VR_LAB_STATE_DIR"], "state.json"), "w") as f:
            json.dump({"pid": dead.pid, "topology": "A", "run": run, "work": str(tmp_path),
                       "nodes": {"priv": {"ns": f"{run}-priv"}},
                       "helpers": [[dead.pid, "moto.server"]]}, f)
        r = lab(["status"], lab_env)
        assert r.returncode == 3, r.stdout + r.stderr
        assert f"removed the remains of a lab whose process (pid {dead.pid}) is gone" in r.stderr
        assert f"{run}-priv" in r.stderr
        assert _ns_of(f"{run}-") == []
        assert not os.path.exists(os.path.join(lab_env["VR_LAB_STATE_DIR"], "state.json"))
    finally:
        for ns in _ns_of(f"{run}-"):
            netns._delete_ns(ns)


def test_nodes_name_the_protocol():
    """`ip route show proto vpcroute` in a lab node: the product's rt_protos.d, bound in the
    node's own mount namespace; the host's /etc/iproute2 is neither read nor changed."""
    with open("/proc/self/mountinfo") as f:
        host_before = f.read().count("rt_protos")
    with netns.Lab() as lab_:
        _name_the_protocol(lab_.node("n"))
    with open("/proc/self/mountinfo") as f:
        assert f.read().count("rt_protos") == host_before


def _name_the_protocol(node):
    node.run("ip addr add 10.8.0.1/24 dev lo")
    node.run("ip route add 10.9.0.0/16 dev lo proto 212")
    assert node.run("ip route show proto vpcroute").stdout == "10.9.0.0/16 dev lo scope link \n"
    assert "10.9.0.0/16 dev lo proto vpcroute scope link" in node.run("ip route").stdout
    # the command's own exit status and pid, as with ip netns exec alone
    r = node.run(["sh", "-c", "echo $$; exit 3"], check=False)
    assert r.returncode == 3 and r.stderr == ""
