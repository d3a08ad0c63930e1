# SPDX-License-Identifier: GPL-2.0-or-later
"""vpcroute.so built with ASan+UBSan, inside the real OpenVPN, against the real agent.

OpenVPN is not instrumented: clang's ASan runtime is preloaded (LD_PRELOAD)
and the plugin from the sanitizer build (.build/clang, or
VPCROUTE_SAN_BUILDDIR) is loaded into it. Every report, of any process
(the daemon too), goes to files under the run's directory (log_path), and
any report fails the test, as does an OpenVPN that does not exit cleanly.
"""
import copy
import glob
import os
import re
import signal
import subprocess
import time

import pytest

from vrlab import topology as T
from vrlab.build import TOP
from vrlab.openvpn import OPENVPN, OpenVPN, server_lines
from vrlab.product import SERVER_CONF, ProductA
from vrlab.sanitizer import REPORT_RX, asan_runtime

SAN_BUILD = os.path.abspath(os.environ.get("VPCROUTE_SAN_BUILDDIR",
                                           os.path.join(TOP, ".build", "clang")))


def sanitized_plugin():
    so = os.path.join(SAN_BUILD, "plugin", ".libs", "vpcroute.so")
    if not os.path.exists(so):
        raise FileNotFoundError(f"{so} is not built: build {SAN_BUILD} with CC=clang "
                                "--enable-sanitizers (scripts/check does)")
    syms = subprocess.run(["nm", "-D", so], capture_output=True, text=True, check=True).stdout
    if "__asan_report" not in syms or "__ubsan_handle" not in syms:
        raise AssertionError(f"{so} is not built with --enable-sanitizers")
    return so


class SanitizedOpenVPN(OpenVPN):
    """OpenVPN with the ASan runtime preloaded; reports go to reports/."""

    def __init__(self, *args, reports, **kw):
        super().__init__(*args, **kw)
        self.reports = reports
        os.makedirs(reports, exist_ok=True)

    def start(self):
        open(self.log, "w").close()
        env = [f"LD_PRELOAD={asan_runtime()}",
               f"ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:log_path={self.reports}/asan",
               "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:"
               f"log_path={self.reports}/ubsan"]
        # env(1) inside the namespace: only OpenVPN gets the runtime, not ip(8)
        self.proc = self.node.popen(["env", *env, OPENVPN, "--cd", self.dir, "--config",
                                     self.conf], log=self.log)
        return self

    def assert_clean(self, *logs):
        found = sorted(glob.glob(os.path.join(self.reports, "*")))
        if found:
            with open(found[0], errors="replace") as f:
                raise AssertionError(f"sanitizer report {found[0]}:\n{f.read()[:6000]}")
        for path in (self.log, *logs):
            with open(path, errors="replace") as f:
                text = f.read()
            m = REPORT_RX.search(text)
            if m:
                raise AssertionError(f"sanitizer report in {path}:\n{text[m.start():][:6000]}")


def mapped(pid, path):
    """Whether process pid has the file path mapped."""
    with open(f"/proc/{pid}/maps") as f:
        return os.path.realpath(path) in f.read()


def alive(pid):
    """Whether pid runs (a zombie nobody reaps yet has exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_file_log(path, pattern, timeout=20):
    rx = re.compile(pattern)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                m = rx.search(f.read())
            if m:
                return m
        time.sleep(0.05)
    text = open(path, errors="replace").read()[-3000:] if os.path.exists(path) else "(no log)"
    raise AssertionError(f"{path}: no /{pattern}/ within {timeout}s:\n{text}")


@pytest.fixture
def prod(topo_a, pki, tmp_path):
    p = ProductA(topo_a, pki, str(tmp_path), server_conf=copy.deepcopy(SERVER_CONF))
    yield p
    p.close()


def server(prod, extra=()):
    return SanitizedOpenVPN(
        prod.topo.ec2, os.path.join(prod.dir, "server"), "server", server_lines(
            prod.pki, *prod.pki.server, local=T.EC2_IP, extra=[
                f"plugin {sanitized_plugin()} {prod.server_agent.conf} instance=server",
                *extra]), reports=os.path.join(prod.dir, "sanitizer"))


def test_sanitized_plugin_admits_a_client_through_the_agent(prod):
    prod.start_agents()
    prod.server = server(prod).start()
    prod.server.wait_up()
    assert mapped(prod.server.proc.pid, asan_runtime())
    assert mapped(prod.server.proc.pid, sanitized_plugin())
    # the agent ignores learn-address: the plugin does not ask for it
    hooks = prod.server.wait_log(r"PLUGIN_INIT: POST \S+vpcroute\.so .* intercepted=(\S+)")
    assert "PLUGIN_CLIENT_CONNECT_V2" in hooks.group(1)
    assert "LEARN_ADDRESS" not in hooks.group(1)
    prod.start_client()
    prod.server.wait_log(r"client pi-home admitted: announces 192\.168\.1\.128/25")
    prod.server_agent.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
    assert prod.server_agent.routes() == ["192.168.1.128/25"]
    # the client goes (CLIENT_DISCONNECT), then OpenVPN closes the plugin
    prod.client.stop()
    prod.server.wait_log(r"client pi-home disconnected")
    prod.server.stop()
    prod.server.assert_clean()
    assert prod.server.proc.returncode == 0, prod.server.log_text()[-3000:]


def test_sanitized_plugin_in_a_daemon(prod):
    """--daemon forks after the plugin is open: the child starts its own
    link thread and connection, and admits the client."""
    prod.start_agents()
    log = os.path.join(prod.dir, "daemon.log")
    pidfile = os.path.join(prod.dir, "daemon.pid")
    prod.server = server(prod, extra=["daemon", f"log {log}", f"writepid {pidfile}"]).start()
    assert prod.server.proc.wait(20) == 0, prod.server.log_text()[-3000:]
    wait_file_log(log, r"Initialization Sequence Completed")
    with open(pidfile) as f:
        pid = int(f.read())
    assert pid != prod.server.proc.pid
    assert mapped(pid, sanitized_plugin())
    # the agent hears from the daemon itself, on a connection of its own
    prod.server_agent.wait_log(rf"server: plugin connected \(pid {pid} uid \d+, hello pid {pid}, server role\)")
    prod.start_client()
    wait_file_log(log, r"client pi-home admitted: announces 192\.168\.1\.128/25")
    prod.server_agent.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 20
    while alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "the daemon did not exit on SIGTERM"
    wait_file_log(log, r"process exiting")
    prod.server.assert_clean(log)


def test_sanitized_plugin_follows_a_reload(prod):
    """A reload swaps the plugin's configuration on its link thread (the old
    one freed once no callback holds it), and the connected client the new
    one forbids is named; no report, no leak."""
    import json
    from vrlab.build import built
    prod.start_agents()
    prod.server = server(prod).start()
    prod.server.wait_up()
    prod.start_client()
    prod.server.wait_log(r"client pi-home admitted")
    new = copy.deepcopy(SERVER_CONF)
    new["clients"] = {"pi-away": new["clients"]["pi-home"]}
    new["socket"] = prod.confs["ec2"]["socket"]
    with open(prod.server_agent.conf, "w") as f:
        json.dump(new, f)
    r = subprocess.run([built("agent/vpcroutectl"), "-s", prod.server_agent.sock, "reload"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    prod.server_agent.wait_log(r"server: the plugin runs the agent's configuration "
                               r"\(generation 2\)")
    prod.client.stop()
    prod.server.wait_log(r"client pi-home disconnected")
    prod.server.wait_log(r"client pi-home, connected under the previous configuration, is not "
                         r"allowed by the new one")
    prod.server.stop()
    prod.server.assert_clean()
    assert prod.server.proc.returncode == 0, prod.server.log_text()[-3000:]
