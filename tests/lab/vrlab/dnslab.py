# SPDX-License-Identifier: GPL-2.0-or-later
"""A lab for rules by host name: a DNS server (dnsmasq) in its own node, two
"load balancers" and a home network behind a tunnel-like link to the
agent's node (tests/lab/test_agent_dns.py, bench/dns_follow.py).

  home (192.168.1.10) --tun0-- gw (agent) --br0 10.0.0.1/24-- lb1 10.0.0.11
                                                             lb2 10.0.0.12
                                                             dns 10.0.0.53
"""
import os
import shutil
import signal
import time

TTL = 1  # the records' TTL (dnsmasq local-ttl)


def dnsmasq_bin():
    return shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


class Dns:
    """dnsmasq in node, answering for vr.test from work/hosts only."""

    def __init__(self, node, work, addr, ttl=TTL):
        self.node, self.work, self.addr = node, work, addr
        self.hosts = os.path.join(work, "hosts")
        self.conf = os.path.join(work, "dnsmasq.conf")
        self.log = os.path.join(work, "dnsmasq.log")
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "no-hosts", "no-resolv", "no-poll", f"addn-hosts={self.hosts}",
                f"local-ttl={ttl}", "local=/vr.test/", f"listen-address={addr}",
                "bind-interfaces", "port=53", "user=root", "group=root", "pid-file=",
                "cache-size=0", "log-queries", f"log-facility={self.log}", ""]))
        self.proc = None

    def records(self, recs):
        tmp = self.hosts + ".new"
        with open(tmp, "w") as f:
            for addr, name in recs:
                f.write(f"{addr} {name}\n")
        os.replace(tmp, self.hosts)
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)  # dnsmasq reads addn-hosts again

    def start(self):
        self.proc = self.node.popen([dnsmasq_bin(), "-k", f"--conf-file={self.conf}"])
        deadline = time.time() + 10
        while time.time() < deadline:
            r = self.node.run(["ss", "-lnu", f"src {self.addr}:53"], check=False)
            if f"{self.addr}:53" in r.stdout:
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("dnsmasq did not start: " + open(self.log).read()
                           if os.path.exists(self.log) else "dnsmasq did not start")

    def blackhole(self, on):
        """Queries dropped without an answer (on) or answered again: the resolver's
        timeouts, not a quick refusal."""
        if on:
            self.node.run("nft add table inet vrdns")
            self.node.run("nft add chain inet vrdns in { type filter hook input priority 0 ; }")
            self.node.run("nft add rule inet vrdns in udp dport 53 drop")
            self.node.run("nft add rule inet vrdns in tcp dport 53 drop")
        else:
            self.node.run("nft delete table inet vrdns")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


def build(lab):
    gw, home = lab.node("gw"), lab.node("home")
    lab.link(gw, "tun0", home, "eth0")
    gw.run("ip link add br0 type bridge")
    gw.run("ip link set br0 up")
    gw.run("ip addr add 10.0.0.1/24 dev br0")
    gw.run("ip addr add 100.64.0.1/32 dev tun0")
    gw.sysctl("net.ipv4.ip_forward", 1)
    home.run("ip addr add 192.168.1.10/24 dev eth0")
    home.run("ip route add 100.64.0.1/32 dev eth0")
    home.run("ip route add default via 100.64.0.1")
    hosts = {}
    for name, addr in (("lb1", "10.0.0.11"), ("lb2", "10.0.0.12"), ("dns", "10.0.0.53")):
        n = lab.node(name)
        lab.link(gw, f"p{name}", n, "eth0")
        gw.run(f"ip link set p{name} master br0")
        n.run(f"ip addr add {addr}/24 dev eth0")
        n.run("ip route add default via 10.0.0.1")
        hosts[name] = n
    return gw, home, hosts
