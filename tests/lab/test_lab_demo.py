# SPDX-License-Identifier: GPL-2.0-or-later
"""scripts/lab: the one-shot proof of topologies A, B and C, and the lab that
stays up (up, a second start refused, shell, down, remains of a killed one).

demo.py is run directly where scripts/lab would build first (scripts/check
has built, and says where in VPCROUTE_BUILDDIR); shell, status, down and the
refusal go through scripts/lab itself, which builds nothing for them. Each
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


@pytest.mark.parametrize("topology,nets", [("A", ["192.168.1.128/25"]), ("B", ["172.16.10.0/24"]),
                                           ("C", ["10.1.2.0/24", "192.168.1.128/25"])],
                         ids=["A", "B", "C"])
def test_check_proves_and_removes(lab_env, topology, nets):
    p, out = run_demo(["--check", "--topology", topology], lab_env)
    assert p.returncode == 0, out
    assert "\u2718" not in out, out
    assert re.search(r"^\u2714 all checks passed; lab removed$", out, re.M), out
    assert "connectivity" in out
    # the VPC route table as the emulator holds it: the network -> the ENI
    routes = re.findall(r"^\s+(\S+)\s+-> (eni-[0-9a-f]+) \(the instance's ENI\)$", out, re.M)
    for net in nets:
        assert (net, routes[0][1]) in routes, out
    sdc = re.search(r"\u2714 source/dest check of (eni-[0-9a-f]+) \(the instance's ENI\) "
                    r"\([\d.]+s\): False$", out, re.M)
    assert sdc and sdc.group(1) == routes[0][1], out
    assert re.search(r"vpcroutectl status on ec2", out), out
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
        for cn in ("laptop-anna", "laptop-ben"):
            assert re.search(rf"^\s+{cn}\s+10\.1\.2\.\d+\s+networks: none$", out, re.M), out
    # nothing left: the run's namespaces, its work directory, its state
    assert _ns_of(f"vr-{p.pid}-") == []
    work = re.search(r"^work directory \(logs, configurations\): (\S+)$", out, re.M).group(1)
    assert not os.path.exists(work)
    assert not os.path.exists(os.path.join(lab_env["VR_LAB_STATE_DIR"], "state.json"))


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
    assert sorted(st["nodes"]) == sorted(["home", "pi", "hrouter", "inet", "vpc", "ec2", "priv"])
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
    r = lab(["shell", "ec2", "-c", "vpcroutectl status"], lab_env)
    assert r.returncode == 0 and "server role" in r.stdout, r.stdout + r.stderr
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
