# SPDX-License-Identifier: GPL-2.0-or-later
"""offload (the flowtable fast path) where the kernel has no flowtables
(this lab machine's: no CONFIG_NF_FLOW_TABLE): the agent starts, says so
once, builds its table exactly as without offload (no flowtable, the same
chains and rules) and forwards with the same verdicts; status and doctor
say "unsupported". Without the object, status says "off". The fixtures
and the packet matrix are test_agent_forward_verdicts.py's. Where the
kernel has flowtables, tests/lab/test_ipsec_vm_offload.py (the VM) tests
them.
"""
import re
import signal

import pytest

from vrlab.build import built
from vrlab.waiting import wait_for
from test_agent_forward_verdicts import CONF, expected, matrix, net, run_agent  # noqa: F401

pytestmark = pytest.mark.netns

WARNING = r"offload: the kernel refuses a flowtable \((.*)\); forwarding continues without"
PROBE = """table inet vroffprobe {
	flowtable ft { hook ingress priority filter; devices = { eth0 }; }
}
"""


def table_text(agent):
    """nft's listing of the agent's table, without the handles."""
    return re.sub(r" # handle \d+", "", agent.table())


def test_offload_unsupported_falls_back(net):
    ec2, home, vpc, _ = net
    probe = ec2.run(["nft", "-f", "-"], input=PROBE, check=False)
    if probe.returncode == 0:
        ec2.run(["nft", "delete", "table", "inet", "vroffprobe"])
        pytest.skip("this kernel has flowtables (tests/lab/test_ipsec_vm_offload.py tests them)")
    want = expected()
    # without the object: "off", and the table to compare with
    agent, plugin = run_agent(net, CONF)
    try:
        assert agent.status()["offload"] == {"state": "off", "devices": [], "missing": []}
        plain = table_text(agent)
        assert "offload" not in agent.log_text(since_start=True)
    finally:
        plugin.close()
        agent.stop()
    # with it: one warning naming the kernel's answer, the same table
    agent, plugin = run_agent(net, dict(CONF, offload={"devices": ["eth0", "ens9"]}))
    try:
        agent.wait_log(WARNING)
        st = agent.status()["offload"]
        assert st["state"] == "unsupported", st
        assert st["devices"] == [] and st["missing"] == ["ens9"], st
        answer = re.search(WARNING, agent.log_text(since_start=True)).group(1)
        assert st["kernel"] == answer and answer, (st, answer)
        assert table_text(agent) == plain
        assert "flowtable" not in ec2.run(["nft", "list", "flowtables"]).stdout
        got = matrix((home, vpc), want)
        assert got == want, {k: v for k, v in got.items() if want[k] != v}
        # the table rebuilt (removed from outside), and a reload: built
        # again without the flowtable, still one warning
        ec2.run(["nft", "delete", "table", "inet", "vpcroute"])
        wait_for("the table rebuilt", lambda: agent.table() is not None, timeout=30)
        agent.send_signal(signal.SIGHUP)
        agent.wait_log(r"configuration .* reloaded", timeout=30)
        wait_for("the table as before", lambda: agent.table() and table_text(agent) == plain,
                 timeout=30)
        assert agent.status()["offload"]["state"] == "unsupported"
        assert len(re.findall(WARNING, agent.log_text(since_start=True))) == 1
        assert "flowtable" not in ec2.run(["nft", "list", "flowtables"]).stdout
        # the text status's line and doctor's note
        text = ec2.run([built("agent/vpcroutectl"), "-s", agent.sock, "status"]).stdout
        assert f"offload: unsupported (the kernel: {answer}); missing ens9" in text, text
        doc = ec2.run([built("agent/vpcroutectl"), "-s", agent.sock, "doctor"], check=False)
        assert "offload: the kernel refuses a flowtable" in doc.stdout, doc.stdout
        assert "offload: device ens9 (offload.devices) does not exist" in doc.stdout
    finally:
        plugin.close()
        agent.stop()
