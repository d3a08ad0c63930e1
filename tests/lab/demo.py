#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The lab demo behind scripts/lab: topology A in namespaces, run by vpcroute.

vpcroute-agent and vpcroute.so on the EC2 instance and on the Raspberry Pi,
from the example configurations in doc/examples/; nothing is hand-written on
those two nodes. The EC2 instance's agent turns off the source/dest check
and adds the VPC routes through the emulated EC2 API; the simulated VPC
router follows the emulator's route table and check (vrlab/fabric.py).
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vrlab import netns, topology as T  # noqa: E402
from vrlab.product import ProductA  # noqa: E402
from vrlab.emulators import AwsWorld  # noqa: E402
from vrlab.pki import PKI  # noqa: E402
from vrlab.probe import TcpServer, tcp_connect  # noqa: E402

OK, FAIL = "\u2714", "\u2718"
failures = 0


def step(what, fn):
    global failures
    t0 = time.time()
    try:
        result = fn()
    except Exception as e:  # a failed step is reported, and the demo goes on
        print(f"  {FAIL} {what}: {e}", flush=True)
        failures += 1
        return None
    ok = result is not False
    failures += not ok
    print(f"  {OK if ok else FAIL} {what} ({time.time() - t0:.1f}s)"
          + (f": {result}" if isinstance(result, str) else ""), flush=True)
    return result


def main():
    work = tempfile.mkdtemp(prefix="vpcroute-lab-")
    print(f"vpcroute lab: topology A (work directory {work})")
    with netns.Lab() as lab:
        topo = step("namespaces: home, pi, hrouter, inet, vpc, ec2, priv",
                    lambda: T.build_topology_a(lab))
        if not topo:
            return 1
        aws = step("EC2 API (moto) and IMDSv2 (ec2-metadata-mock) on loopback",
                   lambda: AwsWorld(work))
        if not aws:
            return 1
        pki = step("throwaway PKI (CA, server, pi-home)", lambda: PKI(f"{work}/pki"))
        pki.server = pki.issue("server", server=True)
        prod = ProductA(topo, pki, work, aws=aws)
        step("vpcroute-agent on ec2 and pi", lambda: prod.start_agents() and None)
        step("OpenVPN server on ec2 with vpcroute.so", lambda: prod.start_server() and None)
        step("OpenVPN client on pi with vpcroute.so (pi-home)",
             lambda: prod.start_client() and None)
        prod.outside_world()

        def vpc():
            prod.wait_vpc_route()
            return f"source/dest check off; VPC routes to the instance: " \
                   f"{', '.join(sorted(prod.fabric.routes))}"
        step("ec2: vpcroute-agent drove the EC2 API (emulated VPC follows)", vpc)
        step("ec2: routes vpcroute owns (ip route show proto 212)",
             lambda: prod.server_agent.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
             or ", ".join(prod.server_agent.routes()))
        step(f"ping home {T.HOME_IP} -> VPC host {T.PRIV_IP}",
             lambda: topo.home.ping(T.PRIV_IP, count=2))
        step(f"ping VPC host {T.PRIV_IP} -> home {T.HOME_IP}",
             lambda: topo.priv.ping(T.HOME_IP, count=2))

        def tcp(src, dst_node, dst, port):
            srv = TcpServer(dst_node, dst, port, f"{work}/tcp-{port}.log")
            try:
                seen = tcp_connect(src, dst, port)
            finally:
                srv.stop()
            if seen is None:
                return False
            return f"server saw source {seen}"

        step(f"TCP home -> {T.PRIV_IP}:8080", lambda: tcp(topo.home, topo.priv, T.PRIV_IP, 8080))
        step(f"TCP VPC host -> {T.HOME_IP}:22 (opened by pi-home's policy)",
             lambda: tcp(topo.priv, topo.home, T.HOME_IP, 22))
        step(f"TCP VPC host -> {T.HOME_IP}:2222 is refused (not in the policy)",
             lambda: tcp(topo.priv, topo.home, T.HOME_IP, 2222) is False)
        step("ec2: table inet vpcroute",
             lambda: f"{prod.server_agent.table().count(chr(10))} lines, rules: exempt, nat, "
                     "forward")
        def table():
            rt = aws.ec2.describe_route_tables(RouteTableIds=[aws.rtb_id])["RouteTables"][0]
            return ", ".join(f"{r.get('DestinationCidrBlock')} -> "
                             f"{r.get('GatewayId') or r.get('NetworkInterfaceId')}"
                             for r in rt["Routes"])
        step(f"VPC route table {aws.rtb_id} in the emulator", table)

        def sdc():
            v = aws.ec2.describe_network_interface_attribute(
                NetworkInterfaceId=aws.eni_id, Attribute="sourceDestCheck")
            return f"{aws.eni_id} sourceDestCheck={v['SourceDestCheck']['Value']}"
        step("source/dest check of the instance's ENI in the emulator", sdc)
        prod.close()
        aws.stop()
    print(f"{'all checks passed' if not failures else f'{failures} check(s) failed'}; "
          "namespaces removed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
