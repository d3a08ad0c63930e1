# SPDX-License-Identifier: GPL-2.0-or-later
"""The checks of topologies.py, run against a lab that is up.

Proof(desc, topo, workdir, product) evaluates any check of any description:
each returns an Out (ok or not, a summary, lines to show under it). The
connectivity checks need only the network (topo); what names processes
(tunnel addresses, agents, OpenVPN logs) needs the Product that runs them. It also reads what
the lab's instance and VPC hold (its nftables table, the VPC route table as
the EC2 emulator has it, the source/dest check) and each agent's
`vpcroutectl status`, compared with the description.
"""
import json
import os
import re
import subprocess

from . import hostaws
from .build import BUILD
from .probe import TcpServer, tcp_connect
from .topologies import (KEPT, Admitted, NoRoute, Note, Ping, PushedRoutes, Tcp, Tunnel,
                         vpn_name)

TAIL = 15


class Out:
    """What a check found: ok or not, a summary, and lines to show under it."""

    def __init__(self, ok=True, text=None, lines=()):
        self.ok, self.text, self.lines = ok, text, list(lines)


def vpcroutectl():
    return os.path.join(BUILD, "agent", "vpcroutectl")


class Proof:
    def __init__(self, desc, topo, workdir, product=None):
        self.desc, self.topo, self.dir, self.p = desc, topo, workdir, product

    # --- names and addresses ------------------------------------------------------------

    def label(self, node):
        h = self.desc.host(node)
        return h.label or h.name

    def address(self, x, node=None):
        """x as an address (a Tunnel resolved), or node's own address."""
        if x is None:
            return self.desc.host(node).ip
        return self.p.tunnel_address(x.node) if isinstance(x, Tunnel) else x

    def row(self, c):
        """(source, destination, what) of a check of the connectivity matrix."""
        if isinstance(c, NoRoute):
            return self.label(c.node), c.label, c.what
        src = f"{self.label(c.src)} {self.address(c.src_addr, c.src)}"
        dst = f"{self.label(c.dst)} {self.address(c.addr, c.dst)}"
        if isinstance(c, Ping):
            return src, dst, c.what
        what = c.what or ("TCP, source kept" if c.sees == KEPT else
                          "TCP, refused" if c.sees is None else f"TCP, source {c.sees}")
        return src, f"{dst}:{c.port}", what

    # --- the checks ----------------------------------------------------------------------

    def run(self, c):
        """Evaluates check c; an Out."""
        return {Ping: self._ping, Tcp: self._tcp, NoRoute: self._no_route,
                PushedRoutes: self._pushed, Admitted: self._admitted}[type(c)](c)

    def title(self, c):
        """How a check outside the matrix is shown."""
        if isinstance(c, PushedRoutes):
            v = next(v for v in self.desc.vpns if vpn_name(v) == c.node)
            return (f"{c.node} ({v.cn}): the routes the server pushed ({', '.join(c.nets)} via "
                    f"{c.via}), in its kernel")
        if isinstance(c, Admitted):
            return c.what
        if isinstance(c, Note):
            return c.text
        return " -> ".join(self.row(c)[:2])

    def _ping(self, c):
        ok = self.topo[c.src].ping(self.address(c.addr, c.dst), count=2)
        return Out(ok, "answers" if ok else "no answer")

    def probe(self, c):
        """The source address the server of Tcp check c saw, or None."""
        src, dst = self.topo[c.src], self.topo[c.dst]
        addr = self.address(c.addr, c.dst)
        default = self.desc.host(c.src).default_via
        if c.default_via:
            src.run(f"ip route replace default via {c.default_via}")
        # a log per probe: TcpServer waits for "listening" in it, and an
        # earlier server's word must not count for this one
        srv = TcpServer(dst, addr, c.port,
                        os.path.join(self.dir, f"tcp-{c.src}-{c.dst}-{c.port}.log"))
        try:
            return tcp_connect(src, addr, c.port,
                               timeout=1.0 if c.sees is None or c.shown else 2.0)
        finally:
            srv.stop()
            if c.default_via:
                src.run(f"ip route replace default via {default}")

    def _tcp(self, c):
        seen = self.probe(c)
        if c.sees is None:
            return Out(seen is None, "refused" if seen is None else f"connected ({seen})")
        if seen is None:
            return Out(False, "no connection")
        want = self.address(c.src_addr, c.src) if c.sees == KEPT else c.sees
        return Out(seen == want, f"server saw source {seen}"
                   + ("" if seen == want else f", not {want}"))

    def shown(self, c):
        """A path shown, not checked: (text, lines, warn: it connected)."""
        src, dst, _ = self.row(c)
        seen = self.probe(c)
        return (f"{src} -> {dst}: " + (f"connected, source {seen}" if seen else "no connection"),
                [c.what], bool(seen))

    def _no_route(self, c):
        routes = self.p.agents[c.node].routes() if c.node in self.p.agents else []
        kernel = self.topo[c.node].run(f"ip -4 route show {c.net}").stdout.strip()
        return Out(c.net not in routes and not kernel,
                   "not installed" if not kernel else f"installed: {kernel}")

    def _pushed(self, c):
        got = [ln.strip() for ln in
               self.topo[c.node].run("ip -4 route show dev tun0").stdout.strip().splitlines()]
        via = {ln.split()[0] for ln in got if f"via {c.via}" in ln}
        missing = [n for n in c.nets if n not in via]
        return Out(not missing, f"missing {', '.join(missing)}" if missing else None,
                   [f"ip route: {ln}" for ln in got])

    def _admitted(self, c):
        log = self.p.vpns[c.server].log_text()
        lines, ok = [], True
        for cn in c.cns:
            m = re.search(rf"client {re.escape(cn)} admitted: ([^\n]*)", log)
            ok &= bool(m) and m.group(1).startswith(c.says)
            lines.append(f"{cn}: " + (m.group(1) if m else "no admission in the log"))
        return Out(ok, None, lines)

    # --- the instance, the VPC, the agents ------------------------------------------------

    def nft_table(self, node=None):
        table = self.p.agents[node or self.desc.instance].table()
        return Out(table is not None, f"{(table or '').count(chr(10))} lines")

    def vpc_table(self, aws=None, want=None):
        """The VPC route table of aws (default the product's) as the emulator
        holds it; ok when it routes want (default the description's
        vpc_routes) to that world's instance's ENI."""
        aws = aws or self.p.aws
        want = self.desc.vpc_routes if want is None else want
        rt = aws.ec2.describe_route_tables(RouteTableIds=[aws.rtb_id])["RouteTables"][0]
        lines, ours = [], set()
        for route in rt["Routes"]:
            dst = route.get("DestinationCidrBlock") or route.get("DestinationIpv6CidrBlock")
            target = (route.get("NetworkInterfaceId") or route.get("GatewayId")
                      or route.get("InstanceId") or "?")
            if route.get("NetworkInterfaceId") == aws.eni_id:
                ours.add(dst)
                target += " (the instance's ENI)"
            state = route.get("State", "active")
            lines.append(f"{dst:<20} -> {target}" + ("" if state == "active" else f" [{state}]"))
        missing = [n for n in want if n not in ours]
        return Out(not missing, f"no route {', '.join(missing)} -> {aws.eni_id}"
                   if missing else None, lines)

    def source_dest_check(self, aws=None):
        aws = aws or self.p.aws
        v = aws.ec2.describe_network_interface_attribute(NetworkInterfaceId=aws.eni_id,
                                                         Attribute="sourceDestCheck")
        value = v["SourceDestCheck"]["Value"]
        return Out(value is False, f"{value}")

    def signatures(self, aws=None):
        """Every request the EC2 emulator's recording proxy saw so far (the
        agents', the lab's own) verifies with botocore's SigV4 signer; the
        ones that do not, named (a RemoteWorld's proxy is outside the VM)."""
        n, bad = hostaws.signature_problems(aws or self.p.aws)
        if bad:
            return Out(False, f"{len(bad)} of {n} requests do not verify", bad)
        return Out(True, f"{n} requests, each signed")

    def status(self, node):
        """node's `vpcroutectl status --json` against the description: the
        instances of its plugins connected, its clients (networks, tunnel
        address) and its kernel routes exactly; shown: `vpcroutectl status`."""
        a = next(a for a in self.desc.agents if a.node == node)
        conf = self.p.agents[node].conf
        res = subprocess.run([vpcroutectl(), "-f", conf, "status", "--json"],
                             capture_output=True, text=True, timeout=15)
        if res.returncode:
            return Out(False, f"status --json exited {res.returncode}",
                       (res.stderr or res.stdout).strip().splitlines()[-TAIL:])
        try:
            st = json.loads(res.stdout)
        except ValueError as e:
            return Out(False, f"status --json: not JSON ({e})", res.stdout.splitlines()[:TAIL])
        wrong = []
        have = {i["name"]: i for i in st.get("instances", [])}
        for v in self.desc.vpns:
            if v.plugin and v.node == node and not have.get(v.plugin, {}).get("plugin_connected"):
                wrong.append(f"instance {v.plugin}: no plugin connected")
        clients = {c["cn"]: c for i in have.values() for c in i.get("clients", [])}
        want = {c.cn: c for c in a.clients}
        for cn in sorted(set(clients) - set(want)):
            wrong.append(f"client {cn} not expected")
        for cn, c in want.items():
            got = clients.get(cn)
            tunnel = self.address(c.tunnel) if c.tunnel else None
            if got is None:
                wrong.append(f"no client {cn}")
            elif sorted(got["networks"]) != sorted(c.networks):
                wrong.append(f"{cn}: networks {', '.join(got['networks']) or 'none'}, not "
                             f"{', '.join(c.networks) or 'none'}")
            elif tunnel and got["tunnel4"] != tunnel:
                wrong.append(f"{cn}: tunnel address {got['tunnel4']}, not {tunnel}")
        tunnels = sorted((t["peer"], t["network"]) for t in st.get("ipsec", {}).get("tunnels", [])
                         if t["state"] == "up")
        if a.tunnels and tunnels != sorted(a.tunnels):
            wrong.append(f"IPsec tunnels up {tunnels or 'none'}, not {sorted(a.tunnels)}")
        routes = sorted(r["destination"] for r in st.get("routes", []))
        if routes != sorted(a.routes):
            wrong.append(f"routes {', '.join(routes) or 'none'}, not "
                         f"{', '.join(sorted(a.routes)) or 'none'}")
        table = subprocess.run([vpcroutectl(), "-f", conf, "status"], capture_output=True,
                               text=True, timeout=15)
        lines = (table.stdout if table.returncode == 0 else
                 f"status exited {table.returncode}:\n{table.stderr}").rstrip().splitlines()
        summary = "; ".join(wrong) or (f"clients {', '.join(sorted(clients)) or 'none'}; "
                                       f"routes {', '.join(routes) or 'none'}"
                                       + "".join(f"; IPsec tunnel {p} {n} up" for p, n in tunnels))
        return Out(not wrong and table.returncode == 0, summary, lines)

    def _doctor(self, node):
        """node's `vpcroutectl doctor`, in node's namespace (it reads that /proc):
        (exit status, its lines, the PROBLEM lines, the last line)."""
        conf = self.p.agents[node].conf
        res = self.topo[node].run([vpcroutectl(), "-f", conf, "doctor"], check=False,
                                  timeout=30)
        lines = res.stdout.rstrip().splitlines()
        last = lines[-1] if lines else f"no output; {res.stderr.strip()}"
        return res.returncode, lines, [ln for ln in lines if ln.startswith("PROBLEM")], last

    def doctor(self, node):
        """A healthy lab: `vpcroutectl doctor` on node exits 0, "0 problems found"."""
        rc, lines, problems, last = self._doctor(node)
        return Out(rc == 0 and not problems and last == "0 problems found",
                   last if rc == 0 else f"exit {rc}: {last}", lines)

    def doctor_forwarding_off(self, node):
        """One thing broken on node (IPv4 forwarding off, which the agent sets only at start
        and reload): doctor exits 1 and names it, one problem; then forwarding is on again."""
        self.topo[node].sysctl("net.ipv4.ip_forward", 0)
        try:
            rc, lines, problems, last = self._doctor(node)
        finally:
            self.topo[node].sysctl("net.ipv4.ip_forward", 1)
        named = [p for p in problems if "IPv4 forwarding is off" in p]
        return Out(rc == 1 and len(problems) == 1 and bool(named),
                   f"exit {rc}, {last}" + ("" if named else ", not the forwarding"), lines)
