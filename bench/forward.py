#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench/forward.py: packets per second forwarded through the agent's
namespace with no rules and with the agent's table holding N clients.

Three network namespaces: src -- tun0 [fwd] eth0 -- dst. In fwd runs the
agent (vrlab/scale.py's configuration: local network 192.168.255.0/24,
every client allowed to it), with N clients of one host each (10.x.y.z/32,
a sync from a scripted plugin): N routes via tun0 and the table as the
agent programs it (remote_host4 and to_local4 hash sets, the forward and
NAT chains). bench/fwd_blast in src writes
64-byte UDP frames into tun0 from the N client addresses in turn (one
flow each), to 192.168.255.9 behind eth0 (a permanent neighbour entry; dst
drops them). Counted: fwd's eth0 transmitted packets over a window after
a warm-up, and per CPU second of the sender over its whole run: with
veth the forwarding host's work runs in the sender's softirqs and is
charged to it, so the per-CPU figure is the cost of a packet even when
other work shares the cores (the wall-clock kpps move with the load).

  with_table       the agent running, its table loaded with N clients
  previous_layout  the same, the agent stopped (SIGSTOP) and the forward
                   chain's hash-set accepts (to_local4, from_local4) moved
                   after the concatenated lookups (ports4, allow4, pipapo),
                   as the agent built it before: what that order cost
  no_nat_chains    the agent's table without its NAT chains (exempt, nat,
                   prerouting): what the NAT hooks cost. Not the same
                   behaviour by default (nat.exempt_tunnel keeps a foreign
                   masquerade off client <-> local traffic)
  notrack          the agent's table plus a raw-priority prerouting chain
                   "notrack" for client <-> local network packets (idea:
                   skip conntrack for them). Not the same verdicts here
                   (from_local is false: untracked answers from the local
                   network to a client would be dropped); its cost only
  stateless        the agent's table without its ct rule and NAT chains
                   (no conntrack in the namespace): its first rule accepts
                   these packets, one hash lookup of the client and one
                   interval lookup of the local network, the least any
                   per-client filter costs. Not the same verdicts either
                   (answers to clients, the NAT exemption need conntrack)
  client_lookup    the same chain with one rule only, "ip saddr @to_local4
                   accept": the client's lookup among N in a hash set alone
  empty_chain      the agent killed (-9), its table deleted: one forward
                   base chain with no rule (the hook's own cost)
  conntrack_only   a table of one forward rule "ct state established,
                   related accept": what connection tracking costs (the
                   agent's first rule, its NAT exemption, the answers its
                   policy lets through need it)
  no_rules         no nftables table at all (no conntrack): the same N routes
  with_table_established, conntrack_only_established
                   with_table and conntrack_only again after one answer per
                   flow from dst (bench/fwd_blast "reply", dropped in fwd's
                   prerouting once conntrack has seen it): every flow is
                   established, so its packets stop at the ct rule (what
                   most packets of real traffic are). The conntrack table
                   is flushed before each round's with_table
  offload_new, offload_established
                   the agent started again (after empty_chain, once for
                   each of the two) with vrlab/scale.py's configuration
                   plus "offload": {"devices": ["eth0"]}: its table then
                   holds a flowtable "fastpath" (ingress; eth0 and the
                   devices of its routes, here tun0) and a forward chain
                   "fastpath" at the last priority with "meta l4proto
                   tcp|udp ct direction reply flow add @fastpath" (a flow
                   is offloaded on an answer, once both directions have
                   passed every forward chain); killed (-9) and its table
                   deleted after each (the flowtable's flows with it)
  offload_new      the conntrack table flushed, the frames one-way (no
                   answer), as with_table: never offloaded (no answer), so
                   this is what the fast path's chain costs packets that
                   do not take it (offloaded_after, the flows conntrack
                   shows [OFFLOAD] after the window, is 0)
  offload_established
                   the flows established as above, but their answers
                   dropped in postrouting instead of prerouting, so that
                   each passes the forward chains and its "flow add";
                   measured only when /proc/net/nf_conntrack shows every
                   flow [OFFLOAD] before and after the window, so that its
                   packets take the ingress fast path (no forward or
                   postrouting hook, no chain, no conntrack lookup)
                   Both are skipped, with the agent's offload state and
                   its warning line printed, when its status does not say
                   "on" (a kernel without flowtables, CONFIG_NF_FLOW_TABLE
                   off, says "unsupported"), or with the agent's error when
                   it refuses the option (a build without it). Debian 12's
                   kernel has them (scripts/ipsec-vm .build/gcc -- python3
                   bench/forward.py ...)

All alternate, ROUNDS times (the agent restarted and resynced each
round), so that each round's ratios compare figures taken within seconds
of each other on a machine whose load moves; the figures are the medians,
the ratios the medians of the rounds' ratios. The frames are one-way UDP:
every one is "new" to conntrack, so every one runs the forward chain's set
lookups (an established connection's packets stop at the chain's first
rule): the worst case per packet, the ratio printed last.

    bench/forward.py [--clients 50000] [--rounds 3] [--seconds 3]
                     [--agent-timeout 10]   (root)

Prints JSON, then a table with the ratios to no_rules.
"""
import argparse
import importlib.machinery
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(TOP, "tests", "lab"))

from vrlab import netns  # noqa: E402
from vrlab.agent import Agent, AgentError  # noqa: E402
from vrlab.ctlconn import CtlConn  # noqa: E402
from vrlab.fakeplugin import FakePlugin  # noqa: E402
from vrlab.scale import CONF, host_net  # noqa: E402
from vrlab.waiting import wait_for  # noqa: E402

# Seconds the agent may take to log a line the lab waits for (vrlab's
# default, 10, is too short for the agent's start under software emulation:
# scripts/ipsec-vm): --agent-timeout
def agent_timeout(seconds):
    wait_log = Agent.wait_log

    def patient(self, pattern, timeout=10):
        return wait_log(self, pattern, max(timeout, seconds))
    Agent.wait_log = patient


# bench/scale (no .py): its agent with N clients loaded, acks, settled
scale = importlib.machinery.SourceFileLoader("scale", os.path.join(HERE, "scale")).load_module()

DST = "192.168.255.9"
WARMUP = 1.0


def counter(node, dev, what="tx_packets"):
    return int(node.run(["cat", f"/sys/class/net/{dev}/statistics/{what}"]).stdout)


def blast(blaster, src, fwd, dst_mac, flows, seconds):
    """kpps forwarded (fwd's eth0 transmitted) over `seconds` after a warm-up,
    and per CPU second of the sender (which runs the forwarding too)."""
    mac = fwd.run(["cat", "/sys/class/net/tun0/address"]).stdout.strip()
    start = counter(fwd, "eth0")
    p = subprocess.Popen(src.argv([blaster, "tun0peer", mac, DST, str(flows),
                                   str(WARMUP + seconds + 0.5)]),
                         stdout=subprocess.PIPE, text=True)
    time.sleep(WARMUP)
    t0, c0 = time.perf_counter(), counter(fwd, "eth0")
    time.sleep(seconds)
    t1, c1 = time.perf_counter(), counter(fwd, "eth0")
    out, _ = p.communicate(timeout=60)
    if p.returncode:
        raise RuntimeError(f"fwd_blast exited {p.returncode}")
    sent = json.loads(out)
    end = counter(fwd, "eth0")
    return {"kpps": round((c1 - c0) / (t1 - t0) / 1000, 1),
            "kpps_per_cpu": round((end - start) / sent["cpu_s"] / 1000, 1),
            "sent_kpps": round(sent["sent"] / sent["seconds"] / 1000, 1),
            "forwarded_of_sent": round((end - start) / max(sent["sent"], 1), 3)}


VARIANTS = ("with_table", "previous_layout", "no_nat_chains", "notrack", "stateless",
            "client_lookup", "empty_chain",
            "conntrack_only", "no_rules", "with_table_established",
            "conntrack_only_established", "offload_established", "offload_new")
OFFLOAD = ("offload_established", "offload_new")
CT_ONLY = """table inet vrbench {
	chain forward {
		type filter hook forward priority filter; policy accept;
		ct state established,related accept
	}
}
"""


# Answers dropped after conntrack saw them (priority filter, conntrack's is
# -200): the flows established, no neighbour entry made. In prerouting, or
# in postrouting (after the forward chains, so that they pass the agent's
# "flow add": offload_established)
PRIME = """table inet vrprime {{
	chain {hook} {{
		type filter hook {hook} priority filter; policy accept;
		ip saddr {dst} udp sport 9 drop
	}}
}}
"""

# Flushes the namespace's conntrack table (IPCTNL_MSG_CT_DELETE, no tuple)
FLUSH = r"""
import socket, struct
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)
for fam in (socket.AF_INET, socket.AF_INET6):
    body = struct.pack("BBH", fam, 0, 0)
    s.send(struct.pack("=IHHII", 16 + len(body), (1 << 8) | 2, 1 | 4, fam, 0) + body)
    err = struct.unpack_from("=i", s.recv(4096), 16)[0]
    assert err in (0, -2), err
"""


def established(blaster, dst, fwd, flows, hook="prerouting"):
    """One answer per flow from dst, so that every flow is established (seen
    in both directions) before the one-way frames are measured; the answers
    dropped in hook."""
    mac = fwd.run(["cat", "/sys/class/net/eth0/address"]).stdout.strip()
    fwd.run(["nft", "-f", "-"], input=PRIME.format(hook=hook, dst=DST))
    # longer while some flows are unanswered (a slow machine: software
    # emulation sends fewer than 50,000 answers a second)
    for k in (1, 2, 4, 8, 16):
        dst.run([blaster, "eth0peer", mac, DST, str(flows), str(k * max(0.5, flows / 50000)),
                 "reply"], timeout=60 + 20 * k)
        ct = fwd.run(["cat", "/proc/net/nf_conntrack"]).stdout.splitlines()
        answered = sum(1 for x in ct if "dport=9 " in x and "UNREPLIED" not in x)
        if answered >= flows:
            break
    fwd.run(["nft", "delete", "table", "inet", "vrprime"])
    if answered < flows:
        raise RuntimeError(f"{answered} of {flows} flows established")


def offloaded(fwd):
    """The bench's flows that conntrack shows offloaded to a flowtable."""
    ct = fwd.run(["cat", "/proc/net/nf_conntrack"]).stdout.splitlines()
    return sum(1 for x in ct if "dport=9 " in x and "[OFFLOAD]" in x)


class Skip(Exception):
    """The offload variants cannot run here: why."""


def offload_status(agent, ctl):
    """The agent's offload state from its status once its table is built
    (until then "off"); Skip (with its state and its warning line) unless
    it says "on"."""
    def state():
        st = ctl.status().get("offload", {})
        return st if st.get("state") != "off" else None
    if "offload" not in ctl.status():
        raise Skip("the agent's status has no \"offload\" (a build without the option)")
    st = wait_for("the agent's offload state other than \"off\"", state, timeout=120)
    if st["state"] != "on":
        said = [x for x in agent.log_text(since_start=True).splitlines()
                if x.startswith("offload:")]
        raise Skip(f"the agent's offload state is {st['state']!r}"
                   + (f"; it logged: {said[0]}" if said else ""))
    return st


def nft_json(node, *commands):
    """nft -j: the commands, the objects of its answer."""
    r = node.run(["nft", "-j", "-f", "-"], input=json.dumps({"nftables": list(commands)}))
    return json.loads(r.stdout)["nftables"] if r.stdout.strip() else []


def tracked(fwd):
    """The bench's flows that conntrack holds."""
    ct = fwd.run(["cat", "/proc/net/nf_conntrack"]).stdout.splitlines()
    return sum(1 for x in ct if "dport=9 " in x)


def offload_agent(fwd, work, n):
    """The agent with vrlab/scale.py's configuration plus offload on eth0,
    its n clients synced (the routes are still there: a restart's resync):
    (agent, plugin, ctl, its status' offload), or Skip."""
    conf = dict(CONF, offload={"devices": ["eth0"]})
    agent = Agent(fwd, os.path.join(work, f"agent-offload-{time.time_ns()}"), conf,
                  verbose=False)
    try:
        plugin, ctl = restart(agent, n)
    except AgentError:
        lines = [x for x in agent.log_text(since_start=True).splitlines() if x.strip()]
        agent.kill9()
        raise Skip("the agent refused the option: " + (lines[-1] if lines else "no log"))
    try:
        st = offload_status(agent, ctl)
        # what the status says is what the kernel has
        table = nft_json(fwd, {"list": {"table": {"family": "inet", "name": "vpcroute"}}})
        if not any(o.get("flowtable", {}).get("name") == "fastpath" for o in table):
            raise RuntimeError("the status says offload is on, the table has no flowtable")
    except BaseException:
        stop_offload_agent(fwd, agent, plugin, ctl)
        raise
    return agent, plugin, ctl, st


def stop_offload_agent(fwd, agent, plugin, ctl):
    """Killed (-9), its table (with the flowtable) deleted; its routes stay
    for the next round's agent."""
    agent.kill9()
    plugin.close()
    ctl.close()
    fwd.run(["nft", "delete", "table", "inet", "vpcroute"], check=False)


def offload_new(blaster, src, fwd, dst_mac, flows, seconds, work):
    """One-way frames through the agent with offload, every flow new to
    conntrack when the blast starts; the flows [OFFLOAD] after it counted."""
    agent, plugin, ctl, st = offload_agent(fwd, work, flows)
    try:
        fwd.run(["python3", "-c", FLUSH])
        got = blast(blaster, src, fwd, dst_mac, flows, seconds)
        got["offloaded_after"] = offloaded(fwd)
    finally:
        stop_offload_agent(fwd, agent, plugin, ctl)
    return got, st


def offload_established(blaster, src, dst, fwd, dst_mac, flows, seconds, work):
    """Established flows through the agent with offload (a start of its own),
    measured while conntrack shows every flow [OFFLOAD]."""
    agent, plugin, ctl, st = offload_agent(fwd, work, flows)
    try:
        fwd.run(["python3", "-c", FLUSH])
        # every flow seen once (longer on a slow machine, many flows)
        for k in (1, 2, 4, 8, 16):
            blast(blaster, src, fwd, dst_mac, flows, k * max(0.5, flows / 50000))
            if tracked(fwd) >= flows:
                break
        # answered: offloaded as each answer passes the agent's flow add
        established(blaster, dst, fwd, flows, hook="postrouting")
        before = offloaded(fwd)
        if before < flows:
            raise RuntimeError(f"{before} of {flows} flows offloaded")
        got = blast(blaster, src, fwd, dst_mac, flows, seconds)
        got["offloaded_before"], got["offloaded_after"] = before, offloaded(fwd)
        if got["offloaded_after"] < flows:
            raise RuntimeError(f"{got['offloaded_after']} of {flows} flows offloaded after")
    finally:
        stop_offload_agent(fwd, agent, plugin, ctl)
    return got, st


def reload(fwd, saved):
    """The agent's table as it programmed it (saved while it ran)."""
    fwd.run(["nft", "delete", "table", "inet", "vpcroute"], timeout=600)
    # 50,000 clients' table: minutes under software emulation (scripts/ipsec-vm)
    fwd.run(["nft", "-f", "-"], input=saved, timeout=600)


def handles(fwd, chain):
    out = fwd.run(["nft", "-a", "list", "chain", "inet", "vpcroute", chain]).stdout
    return {m.group(1).strip(): m.group(2)
            for m in re.finditer(r"^\s*(.*?) # handle (\d+)$", out, re.M)}


def previous_layout(fwd):
    """The forward chain as the agent programmed it before its hash-set
    accepts went first: to_local4 and from_local4 after the concatenated
    lookups (ports4, allow4), so that this packet runs those too."""
    h = handles(fwd, "forward")
    after = h["ip saddr . ip daddr . meta l4proto @allow4 accept"]
    for rule in ("ip saddr @local4 ip daddr @from_local4 accept",
                 "ip saddr @to_local4 ip daddr @local4 accept"):
        fwd.run(["nft", "delete", "rule", "inet", "vpcroute", "forward", "handle", h[rule]])
        fwd.run(["nft", "add", "rule", "inet", "vpcroute", "forward", "position", after]
                + rule.split())


# idea: client <-> local traffic left untracked (a raw chain before
# conntrack); here it changes verdicts (from_local is false: the local
# network's answers to a client are then dropped), measured for its cost
NOTRACK = """table inet vpcroute {
	chain raw {
		type filter hook prerouting priority raw; policy accept;
		ip saddr @remote_host4 ip daddr @local4 notrack
		ip saddr @local4 ip daddr @remote_host4 notrack
	}
}
"""


EMPTY_CHAIN = """table inet vrbench {
	chain forward {
		type filter hook forward priority filter; policy accept;
	}
}
"""


def no_nat_chains(fwd):
    """The NAT chains (the exemption's, the masquerade's, the port forwards')
    deleted, the forward chain kept: what the NAT hooks cost."""
    for c in ("exempt", "nat", "prerouting"):
        fwd.run(["nft", "delete", "chain", "inet", "vpcroute", c])


def stateless(fwd):
    """No ct expression and no NAT chain left: the forward chain's lookups
    without connection tracking (its first rule accepts this packet: one
    hash lookup of the client and one of the local network, the least any
    per-client filter costs)."""
    h = handles(fwd, "forward")
    fwd.run(["nft", "delete", "rule", "inet", "vpcroute", "forward", "handle",
             h["ct state established,related accept"]])
    no_nat_chains(fwd)


def restart(agent, n):
    """The agent started again, its plugin's sync of n clients acknowledged
    and the kernel matching (bench/scale's resync)."""
    agent.grace = 10
    agent.start()
    plugin = FakePlugin(agent.sock)
    plugin.table = {f"c{i}": {"cn": f"c{i}", "networks": [host_net(i)]} for i in range(n)}
    plugin.connect()
    plugin.s.settimeout(600)
    scale.acks(plugin.s, [plugin.next_id - 1])
    ctl = CtlConn(agent.sock)
    ctl.s.settimeout(600)
    scale.settled(ctl)
    return plugin, ctl


def run(a):
    build = os.environ.get("VPCROUTE_BUILDDIR", os.path.join(TOP, ".build", "gcc"))
    subprocess.run(["make", "-s", "-C", build, "bench/fwd_blast"], check=True)
    blaster = os.path.join(build, "bench", "fwd_blast")
    work = tempfile.mkdtemp(prefix="vr-bench-forward-")
    res = {k: [] for k in VARIANTS}
    skipped = {}
    with netns.Lab() as lab:
        agent, plugin, ctl = scale.loaded(lab, work, a.clients)
        fwd = agent.node
        src, dst = lab.node("src"), lab.node("dst")
        fwd.run(f"ip link set tun0peer netns {src.ns}")
        fwd.run(f"ip link set eth0peer netns {dst.ns}")
        src.run("ip link set tun0peer up")
        dst.run("ip link set eth0peer up")
        for k in ("all", "default", "tun0"):
            fwd.sysctl(f"net.ipv4.conf.{k}.rp_filter", 0)
        fwd.sysctl("net.ipv4.ip_forward", 1)
        fwd.run("ip addr add 192.168.255.1/24 dev eth0")
        dst_mac = dst.run(["cat", "/sys/class/net/eth0peer/address"]).stdout.strip()
        fwd.run(f"ip neigh replace {DST} lladdr {dst_mac} dev eth0 nud permanent")
        sets = offload = None
        for r in range(a.rounds):
            fwd.run(["python3", "-c", FLUSH])  # no flow established yet
            got = {"with_table": blast(blaster, src, fwd, dst_mac, a.clients, a.seconds)}
            established(blaster, dst, fwd, a.clients)
            got["with_table_established"] = blast(blaster, src, fwd, dst_mac, a.clients,
                                                  a.seconds)
            fwd.run(["python3", "-c", FLUSH])
            sets = {s: len(agent.set_elements(s) or []) for s in ("remote_host4", "allow4")}
            routes = len(agent.routes())
            agent.send_signal(signal.SIGSTOP)  # it would put its rules back
            saved = fwd.run(["nft", "list", "table", "inet", "vpcroute"], timeout=600).stdout
            previous_layout(fwd)
            got["previous_layout"] = blast(blaster, src, fwd, dst_mac, a.clients, a.seconds)
            reload(fwd, saved)
            no_nat_chains(fwd)
            got["no_nat_chains"] = blast(blaster, src, fwd, dst_mac, a.clients, a.seconds)
            reload(fwd, saved)
            fwd.run(["nft", "-f", "-"], input=NOTRACK)
            got["notrack"] = blast(blaster, src, fwd, dst_mac, a.clients, a.seconds)
            reload(fwd, saved)
            stateless(fwd)
            got["stateless"] = blast(blaster, src, fwd, dst_mac, a.clients, a.seconds)
            fwd.run(["nft", "flush", "chain", "inet", "vpcroute", "forward"])
            fwd.run(["nft", "add", "rule", "inet", "vpcroute", "forward", "ip", "saddr",
                     "@to_local4", "accept"])
            got["client_lookup"] = blast(blaster, src, fwd, dst_mac, a.clients, a.seconds)
            agent.send_signal(signal.SIGCONT)
            agent.kill9()
            plugin.close()
            ctl.close()
            fwd.run(["nft", "delete", "table", "inet", "vpcroute"])
            fwd.run(["nft", "-f", "-"], input=CT_ONLY)
            got["conntrack_only"] = blast(blaster, src, fwd, dst_mac, a.clients, a.seconds)
            established(blaster, dst, fwd, a.clients)
            got["conntrack_only_established"] = blast(blaster, src, fwd, dst_mac, a.clients,
                                                      a.seconds)
            fwd.run(["nft", "delete", "table", "inet", "vrbench"])
            assert len(agent.routes()) == routes == a.clients, routes
            got["no_rules"] = blast(blaster, src, fwd, dst_mac, a.clients, a.seconds)
            fwd.run(["nft", "-f", "-"], input=EMPTY_CHAIN)
            got["empty_chain"] = blast(blaster, src, fwd, dst_mac, a.clients, a.seconds)
            fwd.run(["nft", "delete", "table", "inet", "vrbench"])
            if "offload_new" not in skipped:
                try:
                    got["offload_new"], offload = offload_new(blaster, src, fwd, dst_mac,
                                                              a.clients, a.seconds, work)
                    got["offload_established"], offload = offload_established(
                        blaster, src, dst, fwd, dst_mac, a.clients, a.seconds, work)
                except Skip as e:
                    skipped.update((k, str(e)) for k in OFFLOAD)
                    print(f"offload_established, offload_new skipped: {e}", file=sys.stderr,
                          flush=True)
            print(json.dumps({"round": r, **got}), file=sys.stderr, flush=True)
            for k in VARIANTS:
                if k not in skipped:
                    res[k].append(got[k])
            if r + 1 < a.rounds:
                plugin, ctl = restart(agent, a.clients)
    out = {"benchmark": "forward", "cores": os.cpu_count(), "kernel": os.uname().release,
           "load_avg": os.getloadavg()[0], "clients": a.clients, "rounds": a.rounds,
           "seconds": a.seconds, "frame_bytes": 64, "flows": a.clients, "sets": sets,
           "offload": offload}
    for k in VARIANTS:
        if k in skipped:
            out[k] = {"skipped": skipped[k]}
            continue
        out[k] = {q: statistics.median(x[q] for x in res[k])
                  for q in ("kpps", "kpps_per_cpu", "sent_kpps", "forwarded_of_sent")}
        out[k]["runs_kpps_per_cpu"] = [x["kpps_per_cpu"] for x in res[k]]
        if k == "offload_established":
            out[k]["offloaded_min"] = min(min(x["offloaded_before"], x["offloaded_after"])
                                          for x in res[k])
        if k == "offload_new":
            out[k]["runs_offloaded_after"] = [x["offloaded_after"] for x in res[k]]
        for q in ("kpps", "kpps_per_cpu"):
            out[k][q.replace("kpps", "ratio")] = round(statistics.median(
                x[q] / n[q] for x, n in zip(res[k], res["no_rules"])), 3)
    out["ratio"] = out["with_table"]["ratio_per_cpu"]
    return out


def table(o):
    names = {"no_rules": "no rules (routes only)",
             "empty_chain": "a forward chain, no rule",
             "conntrack_only": "connection tracking only",
             "stateless": "agent's table, no ct rule, no NAT chains",
             "client_lookup": "one rule: ip saddr @to_local4 accept",
             "notrack": "agent's table + notrack client<->local",
             "no_nat_chains": "agent's table without its NAT chains",
             "previous_layout": "agent's table, previous layout",
             "with_table": f"agent's table, {o['clients']:,} clients",
             "conntrack_only_established": "connection tracking only, established",
             "with_table_established": "agent's table, established flows",
             "offload_established": "agent with offload, established flows",
             "offload_new": "agent with offload, new one-way flows"}
    print(f"{'forwarded, 64-byte UDP, ' + format(o['clients'], ',') + ' flows':<40} "
          f"{'kpps':>7} {'/ none':>7} {'kpps/cpu':>9} {'/ none':>7}  runs (kpps per CPU second)")
    for k in ("no_rules", "empty_chain", "client_lookup", "conntrack_only", "stateless",
              "no_nat_chains", "notrack", "previous_layout", "with_table",
              "conntrack_only_established", "with_table_established",
              "offload_new", "offload_established"):
        r = o[k]
        if "skipped" in r:
            print(f"{names[k]:<40} skipped: {r['skipped']}")
            continue
        print(f"{names[k]:<40} {r['kpps']:>7g} {r['ratio']:>7g} {r['kpps_per_cpu']:>9g} "
              f"{r['ratio_per_cpu']:>7g}  {', '.join(map(str, r['runs_kpps_per_cpu']))}")
    print(f"with_table / no_rules: {o['ratio']:g} per CPU second (target >= 0.9; medians of "
          f"the rounds' ratios; load average {o['load_avg']:.1f} on {o['cores']} cores)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--agent-timeout", type=float, default=10,
                    help="seconds the agent may take to start (more under emulation)")
    a = ap.parse_args()
    agent_timeout(a.agent_timeout)
    o = run(a)
    print(json.dumps(o, indent=2))
    table(o)


if __name__ == "__main__":
    main()
