# SPDX-License-Identifier: GPL-2.0-or-later
"""The manual recipe of topology A, as people do it today without vpcroute.

ip_forward on both gateways, the server's route/push route lines and the
client's iroute in a CCD file, the VPC route table entry to the instance and
the home router's static route to the Pi. vpcroute replaces all of it.
"""
import os

from . import topology as T
from .openvpn import OpenVPN, client_lines, server_lines


def start_baseline(topo, pki, workdir):
    ccd = f"{workdir}/ccd"
    os.makedirs(ccd, exist_ok=True)
    with open(f"{ccd}/pi-home", "w") as f:
        f.write("iroute 192.168.1.128 255.255.255.128\n")
    server = OpenVPN(topo.ec2, f"{workdir}/server", "server", server_lines(
        pki, *pki.server, local=T.EC2_IP, extra=[
            f"client-config-dir {ccd}",
            "route 192.168.1.128 255.255.255.128",
            'push "route 10.1.1.0 255.255.255.0"',
        ])).start()
    server.wait_up()
    cert, key = pki.issue("pi-home")
    client = OpenVPN(topo.pi, f"{workdir}/pi", "pi", client_lines(
        pki, cert, key, remote=T.EC2_PUBLIC)).start()
    client.wait_up()
    topo.ec2.sysctl("net.ipv4.ip_forward", 1)
    topo.pi.sysctl("net.ipv4.ip_forward", 1)
    topo.vpc_route(T.LAN_ANNOUNCED)
    topo.home_route(T.VPC_CIDR)
    return server, client
