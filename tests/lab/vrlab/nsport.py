# SPDX-License-Identifier: GPL-2.0-or-later
"""Loopback services of the test process, reachable from inside a lab node.

A namespace has a loopback of its own, so an agent in a node cannot reach
the emulators that listen on the test process's 127.0.0.1. listen_in()
creates a listening socket inside the node (a thread enters the namespace
with setns(2) and leaves it by exiting); Relay accepts on it from here and
pipes each connection to a port on our loopback. Nothing touches the
interfaces of the machine itself.
"""
import ctypes
import os
import selectors
import socket
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def listen_in(node, port=0):
    """A TCP socket listening on 127.0.0.1:port inside node's namespace."""
    out = {}

    def enter():
        try:
            fd = os.open(f"/var/run/netns/{node.ns}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {node.ns}")
            finally:
                os.close(fd)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(64)
            out["sock"] = s
        except Exception as e:  # reported to the caller
            out["error"] = e

    t = threading.Thread(target=enter)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["sock"]


class Relay:
    """Connections to 127.0.0.1:<.port> in node go to 127.0.0.1:target here
    (or target_host:target: in the IPsec lab's VM, the machine's loopback)."""

    def __init__(self, node, target_port, port=0, target_host="127.0.0.1"):
        self.target, self.target_host = target_port, target_host
        self.lsock = listen_in(node, port)
        self.port = self.lsock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = False
        self._conns = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        self.lsock.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(c,), daemon=True).start()

    def _pipe(self, c):
        try:
            u = socket.create_connection((self.target_host, self.target), timeout=5)
        except OSError:
            c.close()
            return
        with self._lock:
            self._conns.update((c, u))
        sel = selectors.DefaultSelector()
        sel.register(c, selectors.EVENT_READ, u)
        sel.register(u, selectors.EVENT_READ, c)
        try:
            while not self._stop:
                for key, _ in sel.select(0.2):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            pass
        finally:
            sel.close()
            with self._lock:
                self._conns.discard(c)
                self._conns.discard(u)
            c.close()
            u.close()

    def stop(self):
        self._stop = True
        self.lsock.close()
        with self._lock:
            for s in list(self._conns):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(2)
