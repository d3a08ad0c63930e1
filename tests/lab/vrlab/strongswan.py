# SPDX-License-Identifier: GPL-2.0-or-later
"""strongSwan's charon and swanctl in lab nodes, run from Debian's packages
unpacked under .build/strongswan (scripts/deps.sh, vr_strongswan; scripts/
ipsec-vm fetches them), never installed: Debian's strongswan-libcharon
conflicts with libreswan, which the same lab runs.

charon finds its libraries (RUNPATH) and plugins (a path compiled in; no
strongswan.conf setting moves it) under /usr/lib/ipsec. A command of a node
runs in a mount namespace of its own (ip netns exec), so there a read-only
overlay puts the unpacked /usr/lib over the host's: /usr/lib/ipsec is the
unpacked one whether or not the host has that directory, and nothing outside
that one process sees it. charon also gets a private /run (its pid file,
/run/charon.pid, is fixed) and its own strongswan.conf (STRONGSWAN_CONF) that
loads only PLUGINS and puts its control socket (VICI) and log in its work
directory. swanctl needs no plugin (PSK, VICI): it runs in the test's own
namespaces with LD_LIBRARY_PATH, one process per call (under software
emulation each one counts), and reads only the work directory (SWANCTL_DIR).
The host's /etc/strongswan* and /etc/swanctl are never read.

    with Charon(node, workdir, connection("gw", me, peer, mine, theirs)) as c:
        c.initiate("gw")
"""
import os
import signal
import subprocess
import time

from .build import TOP

ROOT = os.path.join(TOP, ".build", "strongswan", "root")
# PSK site-to-site, IKEv1 and IKEv2, AES/SHA1/SHA2 and MODP groups, no certificates
PLUGINS = "random nonce aes sha1 sha2 hmac gmp kdf kernel-netlink socket-default vici"
SECRET = "the lab's pre-shared key, long enough for every daemon"

STRONGSWAN_CONF = """charon {{
  load = {plugins}
  install_routes = no
  retransmit_tries = 3
  plugins {{
    vici {{
      socket = unix://{d}/charon.vici
    }}
  }}
  filelog {{
    log {{
      path = {d}/charon.log
      default = 1
      ike = 2
      cfg = 2
      flush_line = yes
    }}
  }}
  syslog {{
    daemon {{
      default = -1
    }}
  }}
}}
swanctl {{
  load = " "
}}
"""

SKIP_REASON = ("strongSwan is not unpacked in .build/strongswan (scripts/ipsec-vm does it: "
               "scripts/deps.sh, vr_strongswan)")


def available():
    """Whether charon and swanctl are unpacked."""
    return all(os.access(os.path.join(ROOT, p), os.X_OK)
               for p in ("usr/lib/ipsec/charon", "usr/sbin/swanctl"))


def _charon_argv(node, conf):
    """charon in node, in the mount namespace ip netns exec gives it, with the
    unpacked /usr/lib over the host's and a private /run."""
    return ["ip", "netns", "exec", node.ns, "sh", "-c",
            'mount -t overlay vr-strongswan -o "lowerdir=$0/usr/lib:/usr/lib" /usr/lib && '
            'mount -t tmpfs vr-strongswan-run /run && '
            'STRONGSWAN_CONF="$1" exec /usr/lib/ipsec/charon', ROOT, conf]


def connection(name, me, peer, mine, theirs, version=2, proposals="aes128-sha256-modp2048",
               esp_proposals="aes128-sha256", start_action="none", dpd_action="restart",
               secret=SECRET, more_children=()):
    """swanctl.conf text for one PSK site-to-site connection NAME from me to
    peer (their addresses are also their IKE identities), with one CHILD_SA
    NAME between mine and theirs (prefixes, or lists of prefixes), and one
    more for each (child, mine, theirs) of more_children."""
    def ts(v):
        return v if isinstance(v, str) else ",".join(v)
    children = "".join(f"""      {child} {{
        local_ts = {ts(m)}
        remote_ts = {ts(t)}
        esp_proposals = {esp_proposals}
        dpd_action = {dpd_action}
        start_action = {start_action}
      }}
""" for child, m, t in ((name, mine, theirs), *more_children))
    return f"""connections {{
  {name} {{
    version = {version}
    local_addrs = {me}
    remote_addrs = {peer}
    proposals = {proposals}
    dpd_delay = 10s
    local {{
      auth = psk
      id = {me}
    }}
    remote {{
      auth = psk
      id = {peer}
    }}
    children {{
{children}    }}
  }}
}}
secrets {{
  ike-{name} {{
    id-1 = {me}
    id-2 = {peer}
    secret = "{secret}"
  }}
}}
"""


class Charon:
    """One charon in node: its strongswan.conf, swanctl.conf (the text given,
    or several joined), VICI socket and log under workdir."""

    def __init__(self, node, workdir, *swanctl_confs):
        self.node = node
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.conf = os.path.join(workdir, "strongswan.conf")
        self.swanctl_conf = os.path.join(workdir, "swanctl.conf")
        self.vici = os.path.join(workdir, "charon.vici")
        self.log = os.path.join(workdir, "charon.log")
        with open(self.conf, "w") as f:
            f.write(STRONGSWAN_CONF.format(plugins=PLUGINS, d=workdir))
        self.write(*swanctl_confs)
        self.proc = None

    def write(self, *swanctl_confs):
        """Replaces swanctl.conf (load() then makes charon take it)."""
        with open(self.swanctl_conf, "w") as f:
            f.write("\n".join(swanctl_confs))

    def start(self, timeout=60):
        """charon started and swanctl.conf loaded (under software emulation a
        first start takes seconds)."""
        if not available():
            raise RuntimeError(SKIP_REASON)
        with open(os.path.join(self.dir, "stderr.log"), "ab") as out:
            self.proc = subprocess.Popen(_charon_argv(self.node, self.conf), stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        self.node.lab.procs.append(self.proc)  # the lab's cleanup stops it too
        deadline = time.time() + timeout
        while True:
            if os.path.exists(self.vici):
                r = self.swanctl("--load-all", "--file", self.swanctl_conf, check=False)
                if r.returncode == 0:
                    return self
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"charon in {self.node.name} did not start:\n"
                                   + self.log_tail())
            time.sleep(0.2)

    def load(self):
        """swanctl --load-all: charon takes swanctl.conf as it is now."""
        return self.swanctl("--load-all", "--file", self.swanctl_conf)

    def swanctl(self, *args, check=True, timeout=60):
        """swanctl ARGS on this charon's socket; from the test's own namespaces
        (a socket file is all it needs), with no plugin (PSK, VICI)."""
        env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(ROOT, "usr/lib/ipsec"),
                   STRONGSWAN_CONF=self.conf, SWANCTL_DIR=self.dir)
        r = subprocess.run([os.path.join(ROOT, "usr/sbin/swanctl"), *args, "--uri",
                            f"unix://{self.vici}"], env=env, capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"[{self.node.name}] swanctl {' '.join(args)} exited "
                               f"{r.returncode}: {r.stdout[-1500:]}{r.stderr[-1500:]}\n"
                               + self.log_tail())
        return r

    def initiate(self, child, timeout=60):
        """Brings CHILD_SA child (and its IKE_SA) up; returns when it is."""
        return self.swanctl("--initiate", "--child", child, "--timeout", str(timeout),
                            timeout=timeout + 10)

    def terminate(self, child):
        return self.swanctl("--terminate", "--child", child)

    def log_tail(self, n=3000):
        parts = []
        for name in ("charon.log", "stderr.log"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    parts.append(f"--- {name}\n" + f.read()[-n:])
            except FileNotFoundError:
                pass
        return "\n".join(parts)

    def stop(self):
        """SIGTERM; charon deletes its SAs and policies as it goes."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
