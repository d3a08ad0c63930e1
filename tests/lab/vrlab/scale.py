# SPDX-License-Identifier: GPL-2.0-or-later
"""What the large-table tests and benchmarks share: an agent configuration
that admits many /32 clients, and the network of client i."""

CONF = {"version": 1, "role": "server", "local_networks": ["192.168.255.0/24"],
        "tunnel": {"pool": "100.64.0.0/10"},
        "default_client": {"allow": ["10.0.0.0/8", "172.16.0.0/12"], "to_local": True}}


def host_net(i):
    """A distinct host network for client i (up to 2**24 of them), inside CONF's allow."""
    return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32"
