# SPDX-License-Identifier: GPL-2.0-or-later
"""scripts/lab --check --topology HA: topology A with two servers of one
cluster and real OpenVPN (vrlab/ha.py, guide-ha.md), proved step by step by
tests/lab/demo.py (HaRun). Server A dies (its OpenVPN and its agent
killed): the Pi reconnects to B, the VPC route follows to B's interface with
one ReplaceRoute per table, and the VPC host reaches the home LAN again,
through B. A comes back: no ReplaceRoute over a drift period, and A routes
nothing of B's. The Pi leaves B: B alone withdraws the route. Every step is
a check of the run; any failed one makes it exit 1.
"""
import os
import re

from test_lab_demo import _ns_of, lab_env, run_demo  # noqa: F401 (lab_env: a fixture)

STEPS = (
    "the Pi is a client of server A; A routes the home network, B does not",
    "the VPC sends the home network to A's interface",
    "the Pi reconnects to B",
    "the VPC route follows to B's interface",
    "the VPC host reaches home again, through B",
    "B made one ReplaceRoute per route table, nothing else for it",
    "a drift period (10 s) later: no route moved, A routes nothing of B's",
    "the route is withdrawn after the grace period, by B alone",
)


def test_check_ha(lab_env):  # noqa: F811 (the fixture)
    p, out = run_demo(["--check", "--topology", "HA"], lab_env, timeout=240)
    assert p.returncode == 0, out
    assert "\u2718" not in out, out
    for step in STEPS:
        assert re.search(rf"^  \u2714 {re.escape(step)}", out, re.M), (step, out)
    # the cluster as vpcroutectl status on ecb shows it: both interfaces, the move
    assert re.search(r"^ +cluster home: this interface tagged$", out, re.M), out
    assert re.search(r"^ +eni-\w+ +i-\w+ +us-east-1a +attached +peer$", out, re.M), out
    assert re.search(r"^ +moved +\d+ s ago: 192\.168\.1\.128/25 in rtb-\w+ eni-\w+ -> eni-\w+ "
                     r"\(by us\)$", out, re.M), out
    assert out.rstrip().endswith("all checks passed; lab removed"), out
    assert _ns_of(f"vr-{p.pid}-") == []
    work = re.search(r"^work directory \(logs, configurations\): (\S+)$", out, re.M).group(1)
    assert not os.path.exists(work)
