# SPDX-License-Identifier: GPL-2.0-or-later
"""Per-run network namespaces that are always removed.

Every namespace of a run is named vr-<pid>-<tag>-<node>, so that concurrent
runs never collide and a later run can sweep what a killed one left behind
(sweep_stale removes namespaces whose owning pid is gone).
"""
import atexit
import os
import re
import secrets
import shlex
import signal
import subprocess
import time

NETNS_DIR = "/run/netns"
# The product's own names for iproute2 (vpcroute = 212), which the package installs in
# /etc/iproute2/rt_protos.d: each command of a node sees this directory there instead of the
# host's, by a bind mount in the mount namespace of its own that `ip netns exec` gives it.
# So `ip route show proto vpcroute` works in every node, and prints "proto vpcroute" whether
# or not the host names protocol 212; the host's /etc is never written.
RT_PROTOS_D = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                           "agent", "rt_protos.d"))
_ETC_RT_PROTOS_D = "/etc/iproute2/rt_protos.d"
_NAME_RE = re.compile(r"^vr-(\d+)-[0-9a-f]{4}-[a-z0-9]+$")
_live_labs = []


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_ns_procs(nsname):
    r = subprocess.run(["ip", "netns", "pids", nsname], capture_output=True, text=True)
    for pid in r.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def _delete_ns(nsname):
    _kill_ns_procs(nsname)
    subprocess.run(["ip", "netns", "del", nsname], capture_output=True)


def sweep_stale():
    """Remove namespaces of earlier runs whose process no longer exists."""
    if not os.path.isdir(NETNS_DIR):
        return []
    gone = []
    for name in os.listdir(NETNS_DIR):
        m = _NAME_RE.match(name)
        if m and not _pid_alive(int(m.group(1))):
            _delete_ns(name)
            gone.append(name)
    return gone


def _cleanup_all():
    for lab in list(_live_labs):
        lab.cleanup()


def _on_signal(signum, frame):
    _cleanup_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


atexit.register(_cleanup_all)
for _sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


class CommandError(RuntimeError):
    pass


def exec_argv(ns, cmd):
    """argv that runs cmd (a list) in namespace ns, with the product's iproute2 names (see
    RT_PROTOS_D). The shell execs cmd: its pid is cmd's, as with `ip netns exec` alone."""
    return ["ip", "netns", "exec", ns, "sh", "-c",
            'mount --bind "$0" "$1" || { echo "vrlab: cannot bind $0 on $1" >&2; exit 125; }; '
            'shift; exec "$@"', RT_PROTOS_D, _ETC_RT_PROTOS_D] + list(cmd)


class Node:
    """One network namespace: a host, a router, a gateway."""

    def __init__(self, lab, name):
        self.lab = lab
        self.name = name
        self.ns = f"{lab.run}-{name}"

    def __repr__(self):
        return f"<Node {self.name} ({self.ns})>"

    def argv(self, cmd):
        if isinstance(cmd, str):
            cmd = shlex.split(cmd)
        return exec_argv(self.ns, cmd)

    def run(self, cmd, check=True, timeout=30, **kw):
        r = subprocess.run(self.argv(cmd), capture_output=True, text=True, timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise CommandError(f"[{self.name}] {cmd!r} exited {r.returncode}: {r.stderr.strip()}")
        return r

    def popen(self, cmd, log=None, **kw):
        out = open(log, "ab") if log else subprocess.DEVNULL
        p = subprocess.Popen(self.argv(cmd), stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True, **kw)
        self.lab.procs.append(p)
        return p

    def sysctl(self, key, value):
        self.run(["sysctl", "-q", "-w", f"{key}={value}"])

    def ip(self, args):
        return self.run("ip " + args)

    def ping_stats(self, dst, count=10, interval=0.2):
        """(received, transmitted, average RTT in ms or None)."""
        r = self.run(["ping", "-n", "-q", "-c", str(count), "-i", str(interval), "-W", "2", dst],
                     check=False, timeout=count * (interval + 2) + 10)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", r.stdout)
        rtt = re.search(r"= [\d.]+/([\d.]+)/", r.stdout)
        if not m:
            return 0, count, None
        return int(m.group(2)), int(m.group(1)), float(rtt.group(1)) if rtt else None

    def ping(self, dst, count=1, timeout=2):
        """True when dst answers; never raises."""
        r = self.run(["ping", "-n", "-q", "-c", str(count), "-W", str(timeout), "-i", "0.2", dst],
                     check=False, timeout=count * (timeout + 1) + 5)
        return r.returncode == 0


class Lab:
    """A set of namespaces for one test run."""

    def __init__(self):
        sweep_stale()
        self.run = f"vr-{os.getpid()}-{secrets.token_hex(2)}"
        self.nodes = {}
        self.procs = []
        _live_labs.append(self)

    def node(self, name):
        if not re.fullmatch(r"[a-z0-9]+", name):
            raise ValueError(f"node name {name!r}: use [a-z0-9]+")
        n = Node(self, name)
        subprocess.run(["ip", "netns", "add", n.ns], check=True, capture_output=True)
        self.nodes[name] = n
        n.run("ip link set lo up")
        return n

    def link(self, a, a_if, b, b_if):
        """A veth pair between two nodes, created directly inside them."""
        subprocess.run(["ip", "link", "add", a_if, "netns", a.ns, "type", "veth",
                        "peer", "name", b_if, "netns", b.ns], check=True, capture_output=True)
        a.run(f"ip link set {a_if} up")
        b.run(f"ip link set {b_if} up")

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.time() + 3
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.procs.clear()
        for n in self.nodes.values():
            _delete_ns(n.ns)
        self.nodes.clear()
        if self in _live_labs:
            _live_labs.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
