# SPDX-License-Identifier: GPL-2.0-or-later
"""TCP probes between lab nodes: who connected, as seen by the server."""
import sys
import time

SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
print('listening', flush=True)
while True:
    c, peer = s.accept()
    c.sendall((peer[0] + '\n').encode())
    c.close()
"""

CLIENT = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
print(c.makefile().readline().strip())
"""


class TcpServer:
    def __init__(self, node, addr, port, log):
        self.node, self.addr, self.port = node, addr, port
        self.proc = node.popen([sys.executable, "-u", "-c", SERVER, addr, str(port)], log=log)
        deadline = time.time() + 60  # generous: Python starts slowly in the IPsec lab's VM
        while time.time() < deadline:
            with open(log) as f:
                if "listening" in f.read():
                    return
            time.sleep(0.02)
        raise RuntimeError(f"TCP probe server on {node.name} {addr}:{port} did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


def tcp_connect(node, addr, port, timeout=3.0):
    """Connects from node; returns the source address the server saw, or None."""
    r = node.run([sys.executable, "-c", CLIENT, addr, str(port), str(timeout)], check=False,
                 timeout=timeout + 60)
    return r.stdout.strip() if r.returncode == 0 else None
