# SPDX-License-Identifier: GPL-2.0-or-later
"""vpcroute.so inside the real OpenVPN 2.6 server of topology A.

Each test whose behaviour is not a fault injection runs twice: against a
test double of the agent (vrlab/agentdouble.py, which records every message
the plugin sends) and against the real vpcroute-agent (what it holds read
back with vpcroutectl status, its routes from the kernel). The double alone
plays the faults: an agent that stops reading, refuses, or speaks garbage.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from vrlab import sanitizer
from vrlab import topology as T
from vrlab.agent import Agent
from vrlab.agentdouble import AgentDouble
from vrlab.build import built, plugin_so
from vrlab.openvpn import OpenVPN, OpenVPNError, client_lines, server_lines

CLIENTS = {
    "pi-home": {"allow": ["192.168.1.0/24"], "iroutes": ["192.168.1.128/25"],
                "address": "10.1.2.10", "push_routes": ["10.1.1.0/24"]},
    "pi-office": {"allow": ["192.168.0.0/16"]},
    "pi-lab": {"allow": ["192.168.50.0/24"]},
    "laptop": {"push_routes": ["10.1.1.0/24"]},
    "laptop2": {},
}


class RealAgent:
    """vpcroute-agent on node, answering the questions the tests ask the double."""

    def __init__(self, node, workdir, conf):
        self.agent = Agent(node, str(workdir), conf)
        self.sock = self.agent.sock
        self.start()

    def start(self):
        self.agent.start()

    def stop(self):
        self.agent.stop()

    def held(self, instance="server"):
        """The common names the agent holds for instance (vpcroutectl status)."""
        if self.agent.proc is None or self.agent.proc.poll() is not None:
            return set()
        r = subprocess.run([built("agent/vpcroutectl"), "-s", self.sock, "status", "--json"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode:
            return set()
        return {c["cn"] for i in json.loads(r.stdout)["instances"] if i["name"] == instance
                for c in i.get("clients", [])}

    def wait(self, pred, timeout=10.0, what="condition"):
        try:
            eventually(what, pred, timeout, interval=0.05)
        except AssertionError as e:
            raise AssertionError(f"agent: {e}:\n{self.agent.log_text()[-3000:]}") from None


class DoubleAgent(AgentDouble):
    def held(self, instance="server"):
        return set(self.table(instance))


class PluginLab:
    def __init__(self, topo, pki, tmp_path, server_extra=(), agent="double", socket=None,
                 **plugin):
        self.topo, self.pki, self.tmp = topo, pki, tmp_path
        self.sock = str(tmp_path / "agent.sock")
        self.ccd = tmp_path / "ccd"
        self.ccd.mkdir()
        (self.ccd / "pi-office").write_text("iroute 192.168.1.0 255.255.255.0\n")
        (self.ccd / "pi-lab").write_text("iroute 10.99.0.0 255.255.0.0\n")
        conf = {
            "version": 1, "role": "server", "socket": {"path": self.sock, **(socket or {})},
            "local_networks": ["10.1.1.0/24"], "tunnel": {"pool": "10.1.2.0/24"},
            "strict": True, "clients": CLIENTS,
            "plugin": {"reconnect_max_ms": 300, **plugin}}
        self.real = agent == "real"
        if self.real:
            self.agent = RealAgent(topo.ec2, tmp_path / "agent", conf)
            self.conf = pathlib.Path(self.agent.agent.conf)
        else:
            self.agent = DoubleAgent(self.sock)
            self.conf = tmp_path / "vpcroute.conf"
            self.conf.write_text(json.dumps(conf, indent=2))
        self.server = OpenVPN(topo.ec2, str(tmp_path / "server"), "server", server_lines(
            pki, *pki.server, local=T.EC2_IP, extra=[
                f"plugin {plugin_so()} {self.conf} ccd={self.ccd} instance=server",
                *server_extra])).start()
        self.server.wait_up()
        self.nodes = {"pi-home": topo.pi}
        self.clients = {}

    def node(self, cn):
        if cn not in self.nodes:
            self.nodes[cn] = self.topo.road_warrior(f"rw{len(self.nodes)}", len(self.nodes))
        return self.nodes[cn]

    def client(self, cn):
        cert, key = self.pki.issue(cn)
        c = OpenVPN(self.node(cn), str(self.tmp / cn), cn, client_lines(
            self.pki, cert, key, remote=T.EC2_PUBLIC, extra=["auth-retry none"])).start()
        self.clients[cn] = c
        return c

    def refused(self, cn, reason):
        """Starts cn's client and waits for the server to log the refusal."""
        self.client(cn)
        self.server.wait_log(re.escape(reason))
        with pytest.raises(OpenVPNError):
            self.clients[cn].wait_up(timeout=3)
        self.clients[cn].stop()

    def close(self):
        for c in self.clients.values():
            c.stop()
        self.server.stop()
        self.agent.stop()


@pytest.fixture(params=["double", "real"])
def agent_kind(request):
    """Which agent the plugin talks to: the test double or vpcroute-agent."""
    return request.param


@pytest.fixture
def plab(topo_a, pki, tmp_path, agent_kind):
    lab = PluginLab(topo_a, pki, tmp_path, agent=agent_kind)
    yield lab
    lab.close()


@pytest.fixture
def dlab(topo_a, pki, tmp_path):
    """Against the double only: the test injects a fault."""
    lab = PluginLab(topo_a, pki, tmp_path)
    yield lab
    lab.close()


def test_allowed_client_gets_policy(plab):
    pi = plab.client("pi-home")
    pi.wait_up()
    if sanitizer.ACTIVE:  # the sanitizer build: OpenVPN runs with the ASan runtime
        with open(f"/proc/{plab.server.proc.pid}/maps") as f:
            assert os.path.realpath(sanitizer.asan_runtime()) in f.read()
    # The client got its fixed address and the pushed route.
    assert "inet 10.1.2.10/24" in plab.topo.pi.run("ip -4 addr show dev tun0").stdout
    assert "10.1.1.0/24 via 10.1.2.1 dev tun0" in plab.topo.pi.run("ip -4 route").stdout
    # The server routes the iroute to it (OpenVPN's own routing table).
    plab.server.wait_client("pi-home")
    routing = open(plab.server.status).read()
    assert re.search(r"^ROUTING_TABLE,192\.168\.1\.128/25,pi-home,", routing, re.M), routing
    plab.server.wait_log(r"client pi-home admitted: announces 192\.168\.1\.128/25, "
                         r"tunnel address 10\.1\.2\.10")
    plab.agent.wait(lambda: plab.agent.held() == {"pi-home"}, what="connect")
    if plab.real:
        # the agent heard the server's hello and the connect, and routes the iroute
        plab.agent.agent.wait_log(r"server: plugin connected \(pid \d+ uid \d+, hello pid "
                                  r"\d+, server role\)")
        plab.agent.agent.wait_log(r"server: client pi-home connected, announces "
                                  r"192\.168\.1\.128/25")
        plab.agent.wait(lambda: plab.agent.agent.routes() == ["192.168.1.128/25"],
                        what="the route of pi-home's iroute")
    else:
        # The agent heard hello, the (empty) table, then the connect.
        hello = plab.agent.of_type("hello")[0]
        assert hello["role"] == "server" and hello["instance"] == "server"
        connect = plab.agent.of_type("connect")[-1]["client"]
        assert connect == {"cn": "pi-home", "networks": ["192.168.1.128/25"],
                           "tunnel4": "10.1.2.10"}
    # Disconnect reaches the agent.
    pi.stop()
    plab.agent.wait(lambda: not plab.agent.held(), what="disconnect")
    if plab.real:
        plab.agent.wait(lambda: plab.agent.agent.routes() == [], what="the route removed")


def test_refusals(plab):
    plab.client("pi-home").wait_up()
    # the plugin refuses pi-office from the agent's claims: pi-home's must be in
    plab.agent.wait(lambda: "pi-home" in plab.agent.held(), what="pi-home's connect")
    plab.refused("pi-lab", "client pi-lab: 10.99.0.0/16 is not inside its allowed networks "
                 "(192.168.50.0/24) (rule: clients.pi-lab.allow)")
    plab.refused("pi-office", "client pi-office: 192.168.1.0/24 overlaps 192.168.1.128/25, "
                 "already announced by client pi-home of server (rule: one owner per network)")
    plab.refused("stranger", "client stranger: unknown common name (rule: strict)")
    # Refused clients never reached the agent.
    assert plab.agent.held() == {"pi-home"}
    if plab.real:
        assert not re.search(r"client (pi-lab|pi-office|stranger)",
                             plab.agent.agent.log_text())
        assert plab.agent.agent.routes() == ["192.168.1.128/25"]
    else:
        assert {m["client"]["cn"] for m in plab.agent.of_type("connect")} == {"pi-home"}


def eventually(what, pred, timeout=30.0, interval=0.2):
    """pred() true within a generous bound (no timing claim: the bound only
    keeps a broken run from hanging)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(interval)
    raise AssertionError(f"not within {timeout}s: {what}")


def tunnel_works(lab):
    """pi-home reaches the server's tunnel address (one ping)."""
    return lab.topo.pi.ping("10.1.2.1", count=1, timeout=2)


def test_stalled_agent_does_not_block_openvpn(dlab):
    """A hung agent delays neither admission nor the connected clients'
    traffic (bench/plugin_stall.py measures by how much)."""
    dlab.client("pi-home").wait_up()
    eventually("pi-home's tunnel works", lambda: tunnel_works(dlab))
    dlab.agent.stall()  # reads nothing until resume()
    try:
        # admission does not wait for the agent: laptop2 is up while the agent
        # has not read its connect
        dlab.client("laptop2").wait_up(timeout=60)
        dlab.server.wait_log(r"client laptop2 admitted")
        assert "laptop2" not in dlab.agent.table("server")
        assert all(m["client"]["cn"] != "laptop2" for m in dlab.agent.of_type("connect"))
        # the connected client's traffic keeps flowing meanwhile
        eventually("pi-home's tunnel works while the agent stalls",
                   lambda: tunnel_works(dlab))
    finally:
        resumed = dlab.agent.resume()
    # Once the agent reads again, it gets what happened meanwhile.
    dlab.agent.wait(lambda: "laptop2" in dlab.agent.table("server"), timeout=30,
                    what="the connect sent during the stall")
    assert any(m["client"]["cn"] == "laptop2"
               for m in dlab.agent.of_type("connect", since=resumed))


def test_deferred_admission_waits_only_for_its_client(topo_a, pki, tmp_path):
    # a deadline far beyond the stall this test ends itself
    lab = PluginLab(topo_a, pki, tmp_path, admission="deferred", defer_timeout_ms=30000)
    try:
        lab.client("pi-home").wait_up()
        eventually("pi-home's tunnel works", lambda: tunnel_works(lab))
        lab.agent.stall()
        try:
            lab.client("laptop")
            lab.server.wait_log(r"client laptop .*; waiting for the agent "
                                r"\(admission deferred\)", timeout=60)
            # deferred: not admitted while the agent reads nothing...
            assert "client laptop admitted" not in lab.server.log_text()
            assert "Initialization Sequence Completed" not in lab.clients["laptop"].log_text()
            # ...while pi-home's traffic is not held up
            eventually("pi-home's tunnel works while laptop waits for the agent",
                       lambda: tunnel_works(lab))
        finally:
            resumed = lab.agent.resume()
        lab.clients["laptop"].wait_up(timeout=60)
        lab.server.wait_log(r"client laptop admitted: the agent has programmed it")
        # the connect it waited for was read only after the agent resumed
        assert [m["client"]["cn"] for m in lab.agent.of_type("connect", since=resumed)] \
            == ["laptop"]
        # The agent refuses: a deferred client is refused.
        lab.agent.refuse["laptop2"] = "192.0.2.0/24 is claimed elsewhere"
        lab.refused("laptop2", "client laptop2 refused by the agent: 192.0.2.0/24 is claimed "
                    "elsewhere")
    finally:
        lab.close()


def test_agent_down_fail_closed(plab):
    plab.agent.stop()
    plab.refused("pi-home", "client pi-home refused: the agent at "
                 f"{plab.sock} is unreachable (rule: plugin.fail_mode closed)")


def test_agent_down_fail_open_then_resync(topo_a, pki, tmp_path, agent_kind):
    lab = PluginLab(topo_a, pki, tmp_path, agent=agent_kind, fail_mode="open")
    try:
        lab.client("pi-home").wait_up()
        lab.agent.wait(lambda: "pi-home" in lab.agent.held())
        lab.agent.stop()
        lab.client("laptop").wait_up()
        lab.server.wait_log(r"client laptop admitted while the agent is unreachable "
                            r"\(plugin\.fail_mode open\)")
        # The agent comes back, knowing nothing: it gets the whole table.
        lab.agent.start()
        lab.agent.wait(lambda: lab.agent.held() == {"pi-home", "laptop"},
                       timeout=10, what="the whole client table")
        if lab.real:
            lab.agent.agent.wait_log(r"server: table synchronised, 2 clients")
            lab.agent.wait(lambda: lab.agent.agent.routes() == ["192.168.1.128/25"],
                           what="pi-home's route restored")
        else:
            sync = lab.agent.of_type("sync")[-1]
            assert {c["cn"] for c in sync["clients"]} == {"pi-home", "laptop"}
            assert sync["more"] is False
    finally:
        lab.close()


def test_privileges_dropped(topo_a, pki, agent_kind):
    """After OpenVPN becomes nobody:nogroup the plugin still reconnects and reads CCDs."""
    work = pathlib.Path(tempfile.mkdtemp(prefix="vr-priv-"))
    os.chmod(work, 0o755)
    # the agent knows OpenVPN's user and group (vpcroute.conf(5), socket)
    lab = PluginLab(topo_a, pki, work, agent=agent_kind,
                    server_extra=["user nobody", "group nogroup"],
                    socket={"group": "nogroup", "openvpn_user": "nobody",
                            "openvpn_group": "nogroup"})
    try:
        os.chmod(lab.ccd, 0o755)
        lab.server.wait_log(r"GID set to nogroup")
        lab.server.wait_log(r"UID set to nobody")
        restarted = time.time()
        lab.agent.stop()
        lab.agent.start()
        if lab.real:
            # the agent accepts the plugin as nobody (uid 65534) once more
            lab.agent.agent.wait_log(r"server: plugin connected \(pid \d+ uid 65534,")
        else:
            lab.agent.wait(lambda: lab.agent.of_type("hello", since=restarted),
                           what="a reconnect as nobody")
        lab.client("pi-home").wait_up()
        lab.agent.wait(lambda: "pi-home" in lab.agent.held())
        lab.refused("pi-office", "client pi-office: 192.168.1.0/24 overlaps 192.168.1.128/25")
    except Exception:
        print(lab.server.log_text()[-4000:])
        raise
    finally:
        lab.close()
        shutil.rmtree(work, ignore_errors=True)


def test_client_mode_forwards_the_tunnel(dlab):
    """On the Pi the plugin hands the tunnel and the pushed routes to its agent
    (the double records the events; the real agent: the next test)."""
    pi_sock = str(dlab.tmp / "pi-agent.sock")
    pi_agent = AgentDouble(pi_sock)
    conf = dlab.tmp / "pi.conf"
    conf.write_text(json.dumps({"version": 1, "role": "client", "socket": {"path": pi_sock},
                                "local_networks": ["192.168.1.0/24"]}))
    cert, key = dlab.pki.issue("pi-home")
    pi = OpenVPN(dlab.topo.pi, str(dlab.tmp / "pi-client"), "pi", client_lines(
        dlab.pki, cert, key, remote=T.EC2_PUBLIC,
        extra=[f"plugin {plugin_so()} {conf}"])).start()
    try:
        pi.wait_up()
        pi_agent.wait(lambda: any(m["event"] == "route-up" for m in pi_agent.of_type("tunnel")),
                      what="route-up")
        hello = pi_agent.of_type("hello")[0]
        assert hello["role"] == "client"
        events = {m["event"]: m for m in pi_agent.of_type("tunnel")}
        assert events["up"]["dev"] == "tun0"
        assert events["up"]["local"] == "10.1.2.10"
        assert events["route-up"]["routes"] == ["10.1.1.0/24"]
        # An agent restart gets the tunnel again, without a new event.
        restarted = time.time()
        pi_agent.stop()
        pi_agent.start()
        pi_agent.wait(lambda: pi_agent.of_type("tunnel", since=restarted),
                      what="the tunnel re-sent after a reconnect")
        pi.stop()
        pi_agent.wait(lambda: pi_agent.of_type("tunnel")[-1]["event"] == "down",
                      what="down")
        assert "route-predown" in [m["event"] for m in pi_agent.of_type("tunnel")]
    finally:
        pi.stop()
        pi_agent.stop()


@pytest.mark.parametrize("agent_kind", ["real"])
def test_client_mode_to_the_real_agent(plab):
    """The same tunnel events, to a real client-role vpcroute-agent on the Pi:
    it takes the tunnel (sysctls) and the pushed route, finds OpenVPN's own
    route there and leaves it alone, and gets the tunnel again after a restart."""
    conf = {"version": 1, "role": "client", "local_networks": ["192.168.1.0/24"]}
    pi_agent = Agent(plab.topo.pi, str(plab.tmp / "pi-agent"), conf).start()
    cert, key = plab.pki.issue("pi-home")
    pi = OpenVPN(plab.topo.pi, str(plab.tmp / "pi-client"), "pi", client_lines(
        plab.pki, cert, key, remote=T.EC2_PUBLIC,
        extra=[f"plugin {plugin_so()} {pi_agent.conf}"])).start()
    try:
        pi.wait_up()
        pi_agent.wait_log(r"\S+: plugin connected \(pid \d+ uid 0, hello pid \d+, client role\)")
        pi_agent.wait_log(r"\S+: tunnel tun0 up, routes 10\.1\.1\.0/24")
        pi_agent.wait_log(r"route 10\.1\.1\.0/24: a route of protocol \d+ is already there; "
                          r"left alone")
        assert pi_agent.routes() == []
        # An agent restart gets the tunnel again, without a new event.
        pi_agent.stop()
        pi_agent.start()
        pi_agent.wait_log(r"\S+: tunnel tun0 up, routes 10\.1\.1\.0/24")
        pi.stop()
        pi_agent.wait_log(r"\S+: tunnel tun0 going down")
    finally:
        pi.stop()
        pi_agent.stop()


def test_garbage_speaking_agent(dlab):
    """An agent that answers with garbage makes the plugin reconnect; OpenVPN
    keeps serving its clients."""
    dlab.client("pi-home").wait_up()
    eventually("pi-home's tunnel works", lambda: tunnel_works(dlab))
    dlab.agent.garbage = True
    dlab.client("laptop")  # its connect draws garbage in return
    # the link thread's log lines reach OpenVPN's log at the plugin's next
    # call: laptop2, then strangers (refused, but each one a call) until it shows
    callers = iter(["laptop2"] + [f"stranger{i}" for i in range(30)])

    def reconnect_logged():
        if re.search(r"bad message from the agent \(not JSON.*\); reconnecting",
                     dlab.server.log_text()):
            return True
        dlab.client(next(callers))
        return False
    eventually("the plugin's reconnect after garbage", reconnect_logged, interval=1.0)
    # OpenVPN keeps serving the connected client meanwhile
    eventually("pi-home's tunnel works while the agent speaks garbage",
               lambda: tunnel_works(dlab))
    assert dlab.server.proc.poll() is None
    dlab.agent.garbage = False
    dlab.agent.wait(lambda: "laptop" in dlab.agent.table("server") or
                    "pi-home" in dlab.agent.table("server"), what="a resync after garbage")
