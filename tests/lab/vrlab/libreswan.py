# SPDX-License-Identifier: GPL-2.0-or-later
"""libreswan's pluto in a lab node, with a configuration, run directory, NSS
database and secrets of its own (nothing of /etc or /run is used): one IKE
daemon per namespace, as the IPsec lab needs (it runs in the VM of
scripts/ipsec-vm, whose kernel has ESP).

Pluto(node, d, conn) writes d/ipsec.conf with the connection conn (the lines
of a `conn` section, as doc/guide-ipsec-*.md show them) and d/ipsec.secrets
with its PSK, starts pluto, loads the connection and makes pluto listen;
initiate() brings the tunnel up from this side.
"""
import os
import signal
import time

PLUTO = "/usr/libexec/ipsec/pluto"


def conn_lines(name, **kv):
    """A conn section: conn NAME, then one key=value per line."""
    return f"conn {name}\n" + "".join(f"\t{k}={v}\n" for k, v in kv.items())


class Pluto:
    def __init__(self, node, d, name, conn, secret_ids, psk):
        self.node, self.dir, self.name = node, d, name
        self.conf = os.path.join(d, "ipsec.conf")
        self.run_dir = os.path.join(d, "run")
        self.log = os.path.join(d, "pluto.log")
        os.makedirs(os.path.join(d, "nss"), exist_ok=True)
        os.makedirs(self.run_dir, exist_ok=True)
        with open(self.conf, "w") as f:
            f.write(f"config setup\n\tlogfile={self.log}\n\n{conn}")
        with open(os.path.join(d, "ipsec.secrets"), "w") as f:
            f.write(f'{" ".join(secret_ids)} : PSK "{psk}"\n')
        self.proc = None

    def start(self, timeout=60):
        """pluto started, the connection added, listening; self."""
        d = self.dir
        self.node.run(["certutil", "-N", "-d", f"sql:{d}/nss", "--empty-password"])
        self.proc = self.node.popen([PLUTO, "--config", self.conf, "--rundir", self.run_dir,
                                     "--nssdir", f"{d}/nss", "--secretsfile",
                                     f"{d}/ipsec.secrets", "--nofork"],
                                    log=os.path.join(d, "stderr.log"))
        deadline = time.time() + timeout
        while True:
            r = self.node.run(["ipsec", "addconn", "--config", self.conf, "--ctlsocket",
                               f"{self.run_dir}/pluto.ctl", self.name], check=False)
            if r.returncode == 0:
                break
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"pluto in {self.node.name} did not start: {r.stderr.strip()}")
            time.sleep(0.2)
        self.whack("--listen")
        return self

    def whack(self, *args, timeout=60):
        return self.node.run(["ipsec", "whack", "--rundir", self.run_dir, *args],
                             timeout=timeout)

    def initiate(self):
        """IKE from this side until the tunnel is up (whack waits for it)."""
        self.whack("--initiate", "--name", self.name)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
