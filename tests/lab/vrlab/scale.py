# SPDX-License-Identifier: GPL-2.0-or-later
"""What the large-table tests and benchmarks share: an agent configuration
that admits many /32 clients, the network of client i, and the peers of a
large sync."""
import json
import socket

from .fakeplugin import FakePlugin

CONF = {"version": 1, "role": "server", "local_networks": ["192.168.255.0/24"],
        "tunnel": {"pool": "100.64.0.0/10"},
        "default_client": {"allow": ["10.0.0.0/8", "172.16.0.0/12"], "to_local": True}}


def host_net(i):
    """A distinct host network for client i (up to 2**24 of them), inside CONF's allow."""
    return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32"


def sync_peers(sock, instance):
    """Plugins "big" (for the sync) and "small" (connects meanwhile), drained,
    and a raw control connection whose hello (request 1) is sent: the caller
    reads its ack."""
    big = FakePlugin(sock, instance="big").connect()
    small = FakePlugin(sock, instance="small").connect()
    big.drain(0.2)
    small.drain(0.2)
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ctl.connect(sock)
    ctl.send(json.dumps({"v": 1, "type": "hello", "id": 1, "role": "ctl", "pid": 1,
                         "instance": instance}).encode())
    return big, small, ctl
