# SPDX-License-Identifier: GPL-2.0-or-later
"""Real OpenVPN 2.6 processes inside lab nodes."""
import os
import re
import time

from . import sanitizer

OPENVPN = "/usr/sbin/openvpn"


class OpenVPNError(RuntimeError):
    pass


class OpenVPN:
    def __init__(self, node, workdir, name, lines, env=None):
        self.node = node
        self.env = env  # the process's environment, None: this one's
        self.dir = workdir
        self.name = name
        os.makedirs(workdir, exist_ok=True)
        self.conf = os.path.join(workdir, f"{name}.conf")
        self.log = os.path.join(workdir, f"{name}.log")
        self.status = os.path.join(workdir, f"{name}.status")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines + [f"status {self.status} 1", "status-version 2"]) + "\n")
        self.proc = None

    def start(self):
        open(self.log, "w").close()
        with open(self.conf) as f:
            argv = sanitizer.wrap_openvpn([OPENVPN, "--cd", self.dir, "--config", self.conf],
                                          f.read())
        self.proc = self.node.popen(argv, log=self.log,
                                    **({"env": self.env} if self.env else {}))
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=20):
        """Waits until the log matches; returns the match."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = rx.search(self.log_text())
            if m:
                return m
            if self.proc.poll() is not None:
                raise OpenVPNError(f"{self.name} exited {self.proc.returncode}:\n"
                                   + self.log_text()[-3000:])
            time.sleep(0.05)
        raise OpenVPNError(f"{self.name}: no /{pattern}/ within {timeout}s:\n"
                           + self.log_text()[-3000:])

    def wait_up(self, timeout=20):
        return self.wait_log(r"Initialization Sequence Completed", timeout)

    def wait_client(self, cn, present=True, timeout=10):
        """Waits until the status file (rewritten every second) lists cn, or not."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if (cn in self.clients()) == present:
                return
            time.sleep(0.1)
        raise OpenVPNError(f"{self.name}: client {cn} {'not ' if present else ''}listed "
                           f"within {timeout}s")

    def clients(self):
        """Common names in the server's status file (CLIENT_LIST rows)."""
        try:
            with open(self.status) as f:
                rows = [l.split(",") for l in f.read().splitlines()]
        except FileNotFoundError:
            return {}
        return {r[1]: r for r in rows if r and r[0] == "CLIENT_LIST"}


def server_lines(pki, cert, key, local, pool="10.1.2.0 255.255.255.0", extra=()):
    return [
        "dev tun", "topology subnet", "proto udp", f"local {local}", "port 1194",
        f"server {pool}", f"ca {pki.ca}", f"cert {cert}", f"key {key}", "dh none",
        "keepalive 2 20", "disable-dco", "verb 3", "persist-key", "persist-tun",
        *extra,
    ]


def client_lines(pki, cert, key, remote, extra=()):
    return [
        "client", "dev tun", "proto udp", f"remote {remote} 1194", "nobind",
        f"ca {pki.ca}", f"cert {cert}", f"key {key}", "remote-cert-tls server",
        "disable-dco", "verb 3", "connect-retry 1 1", "resolv-retry infinite",
        "explicit-exit-notify 1",
        *extra,
    ]
