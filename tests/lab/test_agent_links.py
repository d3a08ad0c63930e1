# SPDX-License-Identifier: GPL-2.0-or-later
"""Link changes cost the agent no RTM_GETLINK dump: the XFRM interfaces and
VTIs of route-based tunnels are kept from the link notifications it reads
anyway (agent/ifcache_links.c); every link is dumped at start, and again
only after notifications were lost (agent/watch.c, agent/xfrm.c). Seen
without timing, in its metrics: vpcroute_link_notifications_total says it
read the changes, vpcroute_link_dumps_total that they cost no dump; the
kernel's own table of netlink sockets (/proc/net/netlink, per namespace)
says when the agent's link socket has nothing left to read, and when it
dropped notifications. This kernel has neither XFRM interfaces nor VTIs
(tests/lab/test_ipsec_vm_vti.py has them, in the VM): veth pairs come, are
renamed and go instead; their notifications take the same way."""
import json
import os
import signal

import pytest

from test_agent_ipsec import CONF
from vrlab.agent import Agent, tunnel_host
from vrlab.metrics import parse, scrape
from vrlab.waiting import wait_for

ROUNDS = 20
RTNLGRP_LINK = 1  # linux/rtnetlink.h


def counters(agent):
    """(link notifications read, link dumps made), from the agent's metrics."""
    samples, _ = parse(scrape(agent.sock))
    return (samples[("vpcroute_link_notifications_total", ())],
            samples[("vpcroute_link_dumps_total", ())])


def link_socket(node, agent):
    """(bytes queued, notifications dropped) of the agent's socket that
    listens to the link group, as the kernel's table of netlink sockets of
    node's namespace tells (the socket known by its inode among the agent's
    descriptors)."""
    fds = f"/proc/{agent.proc.pid}/fd"
    inodes = set()
    for fd in os.listdir(fds):
        try:
            target = os.readlink(os.path.join(fds, fd))
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    rows = [line.split() for line in node.run("cat /proc/net/netlink").stdout.splitlines()[1:]]
    # sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode; Eth 0: NETLINK_ROUTE
    (row,) = [r for r in rows if r[9] in inodes and r[1] == "0"
              and int(r[3], 16) & (1 << (RTNLGRP_LINK - 1))]
    return int(row[4]), int(row[8])


def read_all(node, agent):
    """The agent has read every notification queued for it: its link socket
    is empty (the changes were made by commands that have returned, and the
    kernel queues a notification before the change's command returns)."""
    wait_for("the agent's link socket read empty", lambda: link_socket(node, agent)[0] == 0,
             timeout=60)


@pytest.fixture
def gw(lab, tmp_path):
    host = tunnel_host(lab, "gw")
    agent = Agent(host, str(tmp_path / "agent"), json.loads(json.dumps(CONF)), grace=0).start()
    yield host, agent
    agent.send_signal(signal.SIGCONT)  # a test that failed while it was stopped
    agent.stop()


def test_link_changes_need_no_dump(gw):
    host, agent = gw
    assert agent.status()["ipsec"]["xfrm"] is True  # the XFRM side is followed
    read_all(host, agent)
    seen, dumps = counters(agent)
    assert dumps == 1, "one dump at start"
    for i in range(ROUNDS):
        host.run(f"ip link add vrl{i}a type veth peer name vrl{i}b")
        host.run(f"ip link set vrl{i}a name vrl{i}c")
        host.run(f"ip link set vrl{i}c up")
        host.run(f"ip link del vrl{i}c")  # its peer goes with it
    read_all(host, agent)
    seen_after, dumps_after = counters(agent)
    # per round at least: each end added (2), renamed (1), up (1), each end gone (2)
    assert seen_after - seen >= 6 * ROUNDS, (seen, seen_after)
    assert dumps_after == dumps, agent.log_text()[-3000:]
    assert link_socket(host, agent)[1] == 0, "nothing was lost: no reason to dump"


def test_lost_notifications_dump_once(gw):
    """The agent stopped (SIGSTOP) while links are renamed until its socket
    overflows (the kernel counts the drops): once it runs again it is told
    notifications were lost, and dumps every link once."""
    host, agent = gw
    read_all(host, agent)
    _, dumps = counters(agent)
    host.run("ip link add vrla type veth peer name vrlb")
    agent.send_signal(signal.SIGSTOP)
    names = ("vrla", "vrlc")
    for batch in range(10):  # 4 MiB of buffer: a few thousand notifications
        if link_socket(host, agent)[1]:
            break
        lines = [f"link set dev {names[k % 2]} name {names[(k + 1) % 2]}"
                 for k in range(4000)]  # an even count: back to vrla
        host.run(["ip", "-batch", "-"], input="\n".join(lines) + "\n", timeout=600)
    drops = link_socket(host, agent)[1]
    assert drops, "the agent's link socket never overflowed"
    agent.send_signal(signal.SIGCONT)
    agent.wait_log(r"kernel: rtnetlink notifications lost; reconciling everything", timeout=60)
    read_all(host, agent)
    assert counters(agent)[1] == dumps + 1, agent.log_text()[-3000:]
    # and the next change costs none again
    host.run("ip link del vrla")
    read_all(host, agent)
    assert counters(agent)[1] == dumps + 1, agent.log_text()[-3000:]
