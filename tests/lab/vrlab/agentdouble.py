# SPDX-License-Identifier: GPL-2.0-or-later
"""A test double of vpcroute-agent: it speaks the protocol (doc/protocol.md)
over SOCK_SEQPACKET, records what every plugin sends, acknowledges requests,
and keeps every connected plugin's claims replica current. Tests can make it
stop reading (stall), refuse clients, or go away and come back.
"""
import json
import os
import select
import socket
import threading
import time


class AgentDouble:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.messages = []          # (time, instance, message) in arrival order
        self.tables = {}            # instance -> {cn: client}
        self.refuse = {}            # cn -> error text
        self.ack_delay = 0.0        # seconds before acknowledging a connect
        self.garbage = False        # answer every message with bytes that are not JSON
        self.stalled_until = 0.0
        self.conns = {}             # fd -> [socket, instance]
        self.gen = 0
        self._stop = threading.Event()
        self._listener = None
        self._thread = None
        self.start()

    # --- control from the tests ---
    def start(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.bind(self.path)
        os.chmod(self.path, 0o666)
        s.listen(16)
        s.setblocking(False)
        self._listener = s
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self):
        """The agent goes away: socket closed and removed, state forgotten."""
        self._stop.set()
        self._thread.join(5)
        for s, _ in list(self.conns.values()):
            s.close()
        self.conns.clear()
        self._listener.close()
        if os.path.exists(self.path):
            os.unlink(self.path)
        with self.lock:
            self.tables.clear()

    def stall(self, seconds=None):
        """Stop reading every socket, as a hung agent would: for that many
        seconds, or (None) until resume()."""
        self.stalled_until = float("inf") if seconds is None else time.time() + seconds

    def resume(self):
        """Read again after stall(); returns the time it resumed (the
        messages read from then on have times at or after it)."""
        t = time.time()
        self.stalled_until = 0.0
        return t

    def of_type(self, kind, since=0.0):
        with self.lock:
            return [m for t, i, m in self.messages if m.get("type") == kind and t >= since]

    def table(self, instance):
        with self.lock:
            return dict(self.tables.get(instance, {}))

    def wait(self, pred, timeout=10.0, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred():
                return
            time.sleep(0.02)
        raise AssertionError(f"agent double: no {what} within {timeout}s")

    # --- the loop ---
    def _run(self):
        while not self._stop.is_set():
            if time.time() < self.stalled_until:
                time.sleep(0.01)
                continue
            rl = [self._listener] + [s for s, _ in self.conns.values()]
            r, _, _ = select.select(rl, [], [], 0.05)
            for s in r:
                if s is self._listener:
                    try:
                        c, _ = s.accept()
                    except BlockingIOError:
                        continue
                    self.conns[c.fileno()] = [c, None]
                    continue
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.conns.pop(s.fileno(), None)
                    s.close()
                    continue
                self._handle(s, json.loads(data))

    def _send(self, s, obj):
        try:
            s.send(json.dumps(obj, separators=(",", ":")).encode())
        except OSError:
            pass

    def _handle(self, s, m):
        if self.garbage:
            try:
                s.send(b"\x00\xffnot-json{{{")
            except OSError:
                pass
            return
        entry = self.conns[s.fileno()]
        changed = False
        with self.lock:
            self.messages.append((time.time(), entry[1], m))
            t = m["type"]
            if t == "hello":
                entry[1] = m["instance"]
                self.tables.setdefault(m["instance"], {})
                self.messages[-1] = (self.messages[-1][0], entry[1], m)
            inst = entry[1]
            table = self.tables.setdefault(inst, {})
            refused = None
            if t == "sync":
                if not getattr(self, "_in_sync", False):
                    table.clear()
                self._in_sync = m["more"]
                for c in m["clients"]:
                    table[c["cn"]] = c
                changed = True
            elif t == "connect":
                cn = m["client"]["cn"]
                refused = self.refuse.get(cn)
                if not refused:
                    table[cn] = m["client"]
                    changed = True
            elif t == "disconnect":
                changed = table.pop(m["cn"], None) is not None
        if "id" in m:
            if m["type"] == "connect" and self.ack_delay:
                time.sleep(self.ack_delay)
            ack = {"v": 1, "type": "ack", "ref": m["id"], "ok": refused is None}
            if refused:
                ack["error"] = refused
            self._send(s, ack)
        if changed:
            self._broadcast_claims()

    def _broadcast_claims(self):
        with self.lock:
            self.gen += 1
            claims = [{"net": n, "cn": cn, "instance": inst}
                      for inst, table in self.tables.items()
                      for cn, c in table.items() for n in c["networks"]]
            msg = {"v": 1, "type": "claims", "gen": self.gen, "claims": claims, "more": False}
        for s, inst in list(self.conns.values()):
            if inst is not None:
                self._send(s, msg)
