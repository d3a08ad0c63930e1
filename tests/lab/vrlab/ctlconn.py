# SPDX-License-Identifier: GPL-2.0-or-later
"""A vpcroutectl connection kept open: a status request can be queued while
the agent is stopped (SIGSTOP), so that the agent answers it in the same pass
of its event loop as the kernel notifications that arrived meanwhile, before
its debounced repair: deterministic, without timing."""
import json
import os
import signal
import socket


class CtlConn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.connect(path)
        self.s.settimeout(10)
        self.id = 1
        self.s.send(json.dumps({"v": 1, "id": 1, "type": "hello", "role": "ctl",
                                "pid": os.getpid(), "instance": "test"}).encode())
        self.answer(1)

    def answer(self, ref):
        """The status text of request ref, parsed (None for a bare ack)."""
        text = ""
        while True:
            m = json.loads(self.s.recv(65536))
            if m["type"] == "report" and m["ref"] == ref:
                text += m["text"]
            elif m["type"] == "ack" and m["ref"] == ref:
                assert m["ok"], m
                return json.loads(text) if text else None

    def request_status(self):
        self.id += 1
        self.s.send(json.dumps({"v": 1, "id": self.id, "type": "status"}).encode())
        return self.id

    def status(self):
        return self.answer(self.request_status())

    def status_while_stopped(self, agent, node, *commands):
        """Stops the agent, runs commands on node (changes behind its back),
        queues a status request, lets the agent go on and returns its answer:
        the status as the agent saw the kernel before it could repair."""
        agent.send_signal(signal.SIGSTOP)
        try:
            for c in commands:
                node.run(c)
            rid = self.request_status()
        finally:
            agent.send_signal(signal.SIGCONT)
        return self.answer(rid)

    def close(self):
        self.s.close()
