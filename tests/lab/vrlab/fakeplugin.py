# SPDX-License-Identifier: GPL-2.0-or-later
"""A scripted plugin: speaks the protocol to an agent as vpcroute.so would,
without OpenVPN, so tests can make bursts, crashes and hostile traffic."""
import json
import socket
import time


# How long a send may wait for room in the socket. The agent reads
# MSGS_PER_PASS messages of a peer per pass and may be busy programming (a
# large sync, a loaded machine, a sanitizer build); a plugin that sends
# faster fills the socket, and the send waits until the agent reads. With a
# timeout set, Python polls for POLLOUT first, which a SOCK_SEQPACKET socket
# reports only while less than a quarter of its send buffer is in flight: a
# few dozen unread messages are enough.
SEND_TIMEOUT = 120


def send_waiting(s, data, timeout=SEND_TIMEOUT):
    """Sends data on the plugin's socket s, waiting up to timeout for the
    agent to make room (whatever timeout s has for reading is left as it
    was): for each scripted plugin of the lab."""
    t = s.gettimeout()
    s.settimeout(timeout)
    try:
        s.send(data)
    finally:
        s.settimeout(t)


class FakePlugin:
    SEND_TIMEOUT = SEND_TIMEOUT  # send_waiting's, for this plugin

    def __init__(self, path, instance="server", role="server", version=1):
        """version: the protocol version its messages carry (2: vpcroute.so's,
        the agent then sends it claims as deltas; 1: snapshots only)."""
        self.path, self.instance, self.role = path, instance, role
        self.version = version
        self.table = {}
        self.next_id = 1
        self.s = None

    def connect(self, dev="tun0", timeout=10):
        deadline = time.time() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                self.s.connect(self.path)
                break
            except OSError:
                self.s.close()
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        self.send({"type": "hello", "role": self.role, "pid": 1, "instance": self.instance})
        self.send({"type": "tunnel", "event": "up", "dev": dev, "routes": []}, ack=False)
        clients = list(self.table.values())
        for i in range(0, max(len(clients), 1), 64):
            self.send({"type": "sync", "clients": clients[i:i + 64],
                       "more": i + 64 < len(clients)})
        return self

    def send(self, msg, ack=True):
        msg = {"v": self.version, **msg}
        if ack:
            msg["id"] = self.next_id
            self.next_id += 1
        self.raw(json.dumps(msg).encode())
        return msg.get("id")

    def raw(self, data):
        """Sends data, waiting up to SEND_TIMEOUT for the agent to make room
        (whatever timeout the socket has for reading is left as it was)."""
        send_waiting(self.s, data, self.SEND_TIMEOUT)

    def client(self, cn, nets, t4=None):
        c = {"cn": cn, "networks": nets}
        if t4:
            c["tunnel4"] = t4
        self.table[cn] = c
        return self.send({"type": "connect", "client": c})

    def client_acked(self, cn, nets, t4=None, timeout=10):
        """client(), then the agent's ack for it (claims broadcasts that come
        first are read and dropped)."""
        rid = self.client(cn, nets, t4)
        self.s.settimeout(timeout)
        while True:
            m = json.loads(self.s.recv(1 << 20))
            if m.get("type") == "ack" and m.get("ref") == rid:
                return m

    def drain(self, timeout=0.5):
        """Everything the agent sent, as decoded objects (the socket's
        timeout is left as it was)."""
        out = []
        t = self.s.gettimeout()
        self.s.settimeout(timeout)
        try:
            while True:
                data = self.s.recv(65536)
                if not data:
                    break
                out.append(json.loads(data))
                self.s.settimeout(0.05)
        except (socket.timeout, BlockingIOError, ConnectionResetError):
            pass
        finally:
            self.s.settimeout(t)
        return out

    def close(self):
        if self.s:
            self.s.close()
