# SPDX-License-Identifier: GPL-2.0-or-later
"""A scripted strongSwan VICI server (charon's control socket), written from
strongSwan's src/libcharon/plugins/vici/README.md independently of the
agent's client: segments of a 32-bit big-endian length and data, packets of
a type byte and (named types) a name, messages of sections, key/values and
lists. It confirms event registrations, answers list-sas with one list-sa
event per IKE_SA it is given, raises events the test asks for, and sends
whatever bytes a test wants, to see the client close the connection."""
import os
import socket
import struct
import threading

from .waiting import wait_for

CMD_REQUEST, CMD_RESPONSE, CMD_UNKNOWN = 0, 1, 2
EVENT_REGISTER, EVENT_UNREGISTER, EVENT_CONFIRM, EVENT_UNKNOWN, EVENT = 3, 4, 5, 6, 7
SECTION_START, SECTION_END, KEY_VALUE, LIST_START, LIST_ITEM, LIST_END = 1, 2, 3, 4, 5, 6
NAMED = (CMD_REQUEST, EVENT_REGISTER, EVENT_UNREGISTER, EVENT)


def _name(s):
    b = s.encode()
    assert len(b) < 256
    return bytes([len(b)]) + b


def _value(v):
    b = v.encode() if isinstance(v, str) else bytes(v)
    return struct.pack("!H", len(b)) + b


def encode_message(tree):
    """A dict (sections: dicts, lists: lists of str, values: str) as a message."""
    out = b""
    for k, v in tree.items():
        if isinstance(v, dict):
            out += bytes([SECTION_START]) + _name(k) + encode_message(v) + bytes([SECTION_END])
        elif isinstance(v, list):
            out += bytes([LIST_START]) + _name(k)
            out += b"".join(bytes([LIST_ITEM]) + _value(i) for i in v)
            out += bytes([LIST_END])
        else:
            out += bytes([KEY_VALUE]) + _name(k) + _value(v)
    return out


def packet(ptype, name=None, message=b""):
    body = bytes([ptype]) + (_name(name) if ptype in NAMED else b"") + message
    return struct.pack("!I", len(body)) + body


def ike_sa(name, remote_host, remote_id, remote_ts, state="ESTABLISHED"):
    """One IKE_SA as list-sa streams it (the keys the agent reads, and some it
    does not)."""
    return {name: {
        "uniqueid": "1", "version": "2", "state": state,
        "local-host": "198.51.100.1", "local-port": "500", "local-id": "@gw.example",
        "remote-host": remote_host, "remote-port": "500", "remote-id": remote_id,
        "initiator": "yes", "encr-alg": "AES_CBC", "encr-keysize": "128",
        "tasks-queued": [],
        "child-sas": {f"{name}-1": {
            "name": name, "uniqueid": "1", "reqid": "1", "state": "INSTALLED",
            "mode": "TUNNEL", "protocol": "ESP",
            "local-ts": ["10.0.0.0/16"], "remote-ts": list(remote_ts)}}}}


class ViciServer:
    """Listens on path; one connection at a time, served by a thread."""

    def __init__(self, path):
        self.path = path
        self.sas = []            # what list-sas streams: ike_sa(...) dicts
        self.unknown_events = set()
        self.seen = []           # ("register" | "request", name), in order, all connections
        self.connections = 0
        self.conn = None
        self.lock = threading.Lock()
        self.stopping = False
        self.listen()

    def listen(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self):
        """charon stops: the socket and its file go."""
        self.stopping = True
        self.thread.join(5)
        with self.lock:
            if self.conn:
                self.conn.close()
                self.conn = None
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def _serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with self.lock:
                if self.conn:
                    self.conn.close()
                self.conn = c
                self.connections += 1
            self._talk(c)
            with self.lock:
                if self.conn is c:  # the client closed it (or it broke)
                    c.close()
                    self.conn = None

    def _talk(self, c):
        c.settimeout(0.2)
        buf = b""
        while not self.stopping:
            try:
                data = c.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            buf += data
            while len(buf) >= 4:
                n = struct.unpack("!I", buf[:4])[0]
                if len(buf) < 4 + n:
                    break
                self._packet(c, buf[4:4 + n])
                buf = buf[4 + n:]

    def _packet(self, c, data):
        ptype, name = data[0], ""
        if ptype in NAMED:
            name = data[2:2 + data[1]].decode()
        if ptype == EVENT_REGISTER:
            self.seen.append(("register", name))
            self._send(c, packet(EVENT_UNKNOWN if name in self.unknown_events
                                 else EVENT_CONFIRM))
        elif ptype == CMD_REQUEST and name == "list-sas":
            self.seen.append(("request", name))
            for sa in list(self.sas):
                self._send(c, packet(EVENT, "list-sa", encode_message(sa)))
            self._send(c, packet(CMD_RESPONSE))
        elif ptype == CMD_REQUEST:
            self.seen.append(("request", name))
            self._send(c, packet(CMD_UNKNOWN))

    def _send(self, c, b):
        with self.lock:
            try:
                c.sendall(b)
            except OSError:
                pass

    def send(self, b):
        """Raw bytes to the connected client."""
        with self.lock:
            conn = self.conn
        assert conn is not None, "no client connected"
        self._send(conn, b)

    def event(self, name, tree):
        self.send(packet(EVENT, name, encode_message(tree)))

    def _until(self, pred, timeout, interval):
        try:
            return bool(wait_for("the VICI client", pred, timeout, interval))
        except AssertionError:
            return False

    def _locked(self, pred):
        with self.lock:
            return pred()

    def client_closed(self, timeout=10):
        """Whether the client closed the current connection within timeout."""
        return self._until(lambda: self._locked(lambda: self.conn is None), timeout, 0.05)

    def wait_connected(self, n, timeout=10):
        """Until n connections were accepted in all, the last one open."""
        return self._until(
            lambda: self._locked(lambda: self.connections >= n and self.conn is not None),
            timeout, 0.02)

    def wait_requests(self, n, timeout=10):
        """Until n list-sas requests were seen in all."""
        return self._until(lambda: self.seen.count(("request", "list-sas")) >= n, timeout, 0.02)
