# SPDX-License-Identifier: GPL-2.0-or-later
"""The sysctls vpcroute-agent owns (agent/sysctl.c), for tests that assert
the agent set them.

A new network namespace copies IPv4 settings from the root namespace, so on a
host with forwarding on (a Docker host, a router) "ip_forward is 1" holds
whatever the agent does. preset_opposite() therefore first sets, inside the
node's namespace only, every value the agent owns to the opposite, and
assert_agent_set() then checks the agent changed each of them.

What the agent owns:
  host      net.ipv4.ip_forward=1, net.ipv4.conf.all.send_redirects=0
            (net.ipv6.conf.all.forwarding=1 with IPv6 networks)
  tunnel    net.ipv4.conf.<dev>.send_redirects=0, net.ipv4.conf.<dev>.rp_filter=2
A tunnel device OpenVPN creates later starts from net.ipv4.conf.default, so
the opposite values go there too.
"""

HOST = {"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.send_redirects": "0"}
HOST6 = {"net.ipv6.conf.all.forwarding": "1"}


def tunnel(dev):
    return {f"net.ipv4.conf.{dev}.send_redirects": "0", f"net.ipv4.conf.{dev}.rp_filter": "2"}


OPPOSITE = {"net.ipv4.ip_forward": "0", "net.ipv4.conf.all.send_redirects": "1",
            # devices created from now on (OpenVPN's tun0)
            "net.ipv4.conf.default.send_redirects": "1", "net.ipv4.conf.default.rp_filter": "1"}
OPPOSITE6 = {"net.ipv6.conf.all.forwarding": "0"}


def read(node, key):
    return node.run(["sysctl", "-n", key]).stdout.strip()


def _set_checked(node, values):
    for k, v in values.items():
        node.sysctl(k, v)
    got = {k: read(node, k) for k in values}
    assert got == values, f"[{node.name}] could not preset {values}: {got}"


def preset_opposite(node, devs=(), ipv6=False):
    """In node's namespace: every sysctl the agent owns set to what the agent
    would not write, for the host and for tunnel devices that exist already
    (devs) or are created later (the namespace's defaults); IPv6 forwarding
    too with ipv6 (an agent with IPv6 networks)."""
    values = dict(OPPOSITE, **(OPPOSITE6 if ipv6 else {}))
    for dev in devs:
        values.update({k: "1" for k in tunnel(dev)})
    _set_checked(node, values)


def assert_agent_set(node, dev="tun0", ipv6=False):
    """What the agent must have written in node's namespace (after
    preset_opposite): the host's sysctls and those of its tunnel device."""
    want = dict(HOST)
    if ipv6:
        want.update(HOST6)
    if dev:
        want.update(tunnel(dev))
    got = {k: read(node, k) for k in want}
    assert got == want, f"[{node.name}] sysctls the agent owns: {got}, expected {want}"
