# SPDX-License-Identifier: GPL-2.0-or-later
"""The lab that scripts/lab leaves up: its state file, shell, status and down.

The lab that stays up is one background process (tests/lab/demo.py, forked
and detached) that holds the AWS emulators, the relays into the EC2
instance's namespace, the VPC fabric's thread and the lab's processes. It
writes STATE_DIR/state.json (STATE_DIR is $VR_LAB_STATE_DIR, by default
/run/vpcroute-lab) with its pid, the topology, each node's namespace and the
work directory, and removes it when it ends. `down` sends it SIGTERM and
waits; the remains of a lab whose process is gone (its namespaces, its
emulators) are removed by whoever finds them.

Only the standard library: shell, status and down run before anything is
installed or built.
"""
import json
import os
import shlex
import signal
import sys
import time

from . import netns

DEFAULT_STATE_DIR = "/run/vpcroute-lab"
PROGRAM_MARK = "demo.py"  # in the lab process's command line


def state_dir():
    return os.environ.get("VR_LAB_STATE_DIR") or DEFAULT_STATE_DIR


def state_path():
    return os.path.join(state_dir(), "state.json")


def read():
    """The state file as a dict, or None when there is none (or it is not
    readable JSON, which only a crash in the middle of a write leaves)."""
    try:
        with open(state_path()) as f:
            st = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"pid": None, "broken": True}
    return st if isinstance(st, dict) else {"pid": None, "broken": True}


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pid_running(pid, mark=None):
    """pid exists, is not a zombie, and (with mark) has mark in its command line."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    if stat[stat.rfind(")") + 2:].startswith(("Z", "X")):
        return False
    return mark is None or mark in _cmdline(pid)


def alive(st):
    return bool(st) and pid_running(st.get("pid"), PROGRAM_MARK)


def _write_tmp(st):
    os.makedirs(state_dir(), mode=0o755, exist_ok=True)
    tmp = f"{state_path()}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(st, f, indent=2)
        f.write("\n")
    return tmp


def claim(st):
    """Creates the state file with st unless there is one: None on success,
    else the state that is there."""
    tmp = _write_tmp(st)
    try:
        os.link(tmp, state_path())
        return None
    except FileExistsError:
        return read() or {"pid": None}
    finally:
        os.unlink(tmp)


def update(st):
    """Replaces our state file (atomically)."""
    os.replace(_write_tmp(st), state_path())


def release(pid):
    """Removes the state file if it is pid's."""
    st = read()
    if st is not None and st.get("pid") == pid:
        try:
            os.unlink(state_path())
        except FileNotFoundError:
            pass


def _namespaces(run):
    if not run or not os.path.isdir(netns.NETNS_DIR):
        return []
    return sorted(n for n in os.listdir(netns.NETNS_DIR) if n.startswith(f"{run}-"))


def remove_remains(st):
    """What a lab whose process is gone left: its emulators (checked by
    command line, so a reused pid is never killed), its namespaces and the
    processes in them, the state file. Returns a line that says what."""
    gone = []
    for pid, mark in st.get("helpers", []):
        if pid_running(pid, mark):
            try:
                os.kill(pid, signal.SIGKILL)
                gone.append(f"{mark} (pid {pid})")
            except ProcessLookupError:
                pass
    for ns in _namespaces(st.get("run")):
        netns._delete_ns(ns)
        gone.append(ns)
    gone += netns.sweep_stale()
    try:
        os.unlink(state_path())
    except FileNotFoundError:
        pass
    what = ", ".join(gone) if gone else "nothing else was left"
    work = st.get("work")
    kept = f"; its logs are kept in {work}" if work and os.path.isdir(work) else ""
    return (f"removed the remains of a lab whose process (pid {st.get('pid')}) is gone: "
            f"{what}{kept}")


def refusal(st):
    """What scripts/lab says when a lab is up already."""
    return (f"a lab is already up: topology {st.get('topology', '?')}, pid {st.get('pid')}, "
            f"{st.get('phase', 'up')}, work directory {st.get('work', '?')}\n"
            f"  enter it:   scripts/lab shell NODE   (nodes: "
            f"{' '.join(st.get('nodes', {})) or 'not yet created'})\n"
            f"  remove it:  scripts/lab down")


def current():
    """The state of the lab that is up, or None; remains of a dead one are
    removed (and said so on stderr)."""
    st = read()
    if st is None:
        return None
    if alive(st):
        return st
    print(remove_remains(st), file=sys.stderr)
    return None


def node_lines(st):
    nodes = st.get("nodes", {})
    width = max((len(n) for n in nodes), default=4)
    nsw = max((len(v["ns"]) for v in nodes.values()), default=2)
    return [f"  {n:<{width}}  {v['ns']:<{nsw}}  {v.get('what', '')}".rstrip()
            for n, v in nodes.items()]


def status():
    st = current()
    if not st:
        print("no lab is up (scripts/lab brings one up)")
        return 3
    print(f"lab up: topology {st.get('topology')}, pid {st.get('pid')}, {st.get('phase')}, "
          f"since {time.strftime('%H:%M:%S', time.localtime(st.get('started', 0)))}")
    print(f"work directory (logs, configurations): {st.get('work')}\n"
          f"the proof and what followed: {os.path.join(st.get('work', ''), 'lab.log')}")
    print("nodes (scripts/lab shell NODE):")
    print("\n".join(node_lines(st)))
    return 0


def _wrappers(st, node):
    """A directory with a vpcroutectl that talks to node's agent, or None."""
    conf = st.get("agents", {}).get(node)
    ctl = os.path.join(st.get("builddir", ""), "agent", "vpcroutectl")
    if not conf or not os.access(ctl, os.X_OK):
        return None
    d = os.path.join(st["work"], "shell", node)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "vpcroutectl")
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\n# {node}'s agent, from the lab's configuration\n"
                f"exec {shlex.quote(ctl)} -f {shlex.quote(conf)} \"$@\"\n")
    os.chmod(path, 0o755)
    return d


def shell(node, cmd=None):
    """Replaces this process with a shell (or `bash -c CMD`) in node's
    namespace. Returns an exit status only when it cannot."""
    st = current()
    if not st:
        print("scripts/lab shell: no lab is up (scripts/lab brings one up)", file=sys.stderr)
        return 3
    nodes = st.get("nodes", {})
    if not nodes:
        print("scripts/lab shell: the lab is still starting; try again in a moment",
              file=sys.stderr)
        return 3
    if node not in nodes:
        what = f"no node {node!r}" if node else "name a node"
        print(f"scripts/lab shell: {what} in topology {st.get('topology')}; "
              f"the nodes are:\n" + "\n".join(node_lines(st)), file=sys.stderr)
        return 2
    ns, topo = nodes[node]["ns"], st.get("topology")
    env = dict(os.environ)
    path = [os.path.join(st.get("builddir", ""), "agent"), env.get("PATH", "/usr/bin:/bin")]
    wrap = _wrappers(st, node)
    if wrap:
        path.insert(0, wrap)
    env.update(PATH=":".join(path), VR_LAB_NODE=node, VR_LAB_TOPOLOGY=str(topo),
               VR_LAB_WORK=st.get("work", ""))
    if cmd is not None:
        argv = netns.exec_argv(ns, ["bash", "-c", cmd])
    else:
        d = os.path.join(st["work"], "shell", node)
        os.makedirs(d, exist_ok=True)
        rc = os.path.join(d, "bashrc")
        with open(rc, "w") as f:
            f.write("[ -r ~/.bashrc ] && . ~/.bashrc\n"
                    f"PS1='[lab {topo}: {node}] \\w\\$ '\n")
        print(f"lab {topo}, node {node}: {nodes[node].get('what', '')}\n"
              f"namespace {ns}; logs and configurations in {st.get('work')}"
              + ("; vpcroutectl talks to this node's agent" if wrap else "")
              + "\nexit (or Ctrl-D) leaves the node; the lab stays up", file=sys.stderr)
        argv = netns.exec_argv(ns, ["bash", "--rcfile", rc, "-i"])
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(argv[0], argv, env)
    return 1  # not reached


def down(timeout=60):
    st = read()
    if st is None:
        gone = netns.sweep_stale()
        print("no lab is up" + (f"; removed stale namespaces {', '.join(gone)}" if gone else ""))
        return 0
    if not alive(st):
        print(remove_remains(st))
        return 0
    pid, run = st["pid"], st.get("run")
    print(f"stopping the lab (topology {st.get('topology')}, pid {pid}) ...", flush=True)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.time() + timeout
    while time.time() < deadline and pid_running(pid, PROGRAM_MARK):
        time.sleep(0.1)
    if pid_running(pid, PROGRAM_MARK):
        print(f"the lab process did not end within {timeout}s: killing it", flush=True)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        time.sleep(0.5)
    left = read()
    if left is not None and left.get("pid") == pid:
        print(remove_remains(left))
    else:
        for ns in _namespaces(run):  # never expected: the lab removes its own
            netns._delete_ns(ns)
    print("lab removed: processes, namespaces, emulators, relays, work directory")
    return 0
