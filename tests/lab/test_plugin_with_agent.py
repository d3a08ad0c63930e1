# SPDX-License-Identifier: GPL-2.0-or-later
"""The plugin's tests that matter most, against the real vpcroute-agent.

The same admission and refusal as with the test double, now decided from
the agent's claims and checked in the kernel; a stalled agent (SIGSTOP)
does not slow admission; a restarted agent gets the whole client table and
restores exactly the routes of the connected clients.
"""
import copy
import signal

import pytest

from vrlab import topology as T
from vrlab.openvpn import OpenVPN, OpenVPNError
from vrlab.product import SERVER_CONF, ProductA

CONF = copy.deepcopy(SERVER_CONF)
CONF["clients"]["pi-office"] = {"allow": ["192.168.0.0/16"]}
CONF["clients"]["laptop"] = {"push_routes": ["10.1.1.0/24"]}


@pytest.fixture
def prod(topo_a, pki, tmp_path):
    p = ProductA(topo_a, pki, str(tmp_path), server_conf=CONF, grace=2)
    ccd = tmp_path / "ccd"
    ccd.mkdir()
    (ccd / "pi-office").write_text("iroute 192.168.1.0 255.255.255.0\n")
    p.ccd = ccd
    yield p
    p.close()


def start(prod, cn):
    return prod.road_warrior(cn)


def server_with_ccd(prod):
    """The server of ProductA, with the plugin reading CCD files."""
    from vrlab.build import plugin_so
    from vrlab.openvpn import server_lines
    prod.server = OpenVPN(prod.topo.ec2, f"{prod.dir}/server", "server", server_lines(
        prod.pki, *prod.pki.server, local=T.EC2_IP, extra=[
            f"plugin {plugin_so()} {prod.server_agent.conf} ccd={prod.ccd} "
            "instance=server"])).start()
    prod.server.wait_up()


def test_admission_and_refusal_from_the_agents_claims(prod):
    prod.start_agents()
    server_with_ccd(prod)
    prod.start_client()
    prod.server_agent.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
    office = start(prod, "pi-office")
    prod.server.wait_log(r"client pi-office: 192\.168\.1\.0/24 overlaps 192\.168\.1\.128/25, "
                         r"already announced by client pi-home of server")
    with pytest.raises(OpenVPNError):
        office.wait_up(timeout=3)
    assert prod.server_agent.routes() == ["192.168.1.128/25"]


def test_stalled_agent_and_restart(prod):
    prod.start_agents()
    server_with_ccd(prod)
    prod.start_client()
    prod.server_agent.wait_log(r"route 192\.168\.1\.128/25 dev tun0 added")
    # A stopped agent does not stop admission (its socket buffer takes the connect).
    prod.server_agent.send_signal(signal.SIGSTOP)
    # (a generous bound, no timing claim: bench/plugin_stall.py measures)
    start(prod, "laptop").wait_up(timeout=60)
    prod.server_agent.send_signal(signal.SIGCONT)
    # Restart: the plugin resends its table; exactly the connected clients' routes.
    prod.server_agent.kill9()
    prod.server_agent.start()
    prod.server_agent.wait_log(r"server: table synchronised, 2 clients")
    prod.server_agent.wait_log(r"grace period over")
    assert prod.server_agent.routes() == ["192.168.1.128/25"]
    prod.outside_world()
    assert prod.topo.home.ping(T.PRIV_IP, count=2)
