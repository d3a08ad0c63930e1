# SPDX-License-Identifier: GPL-2.0-or-later
"""scripts/lab's IPsec topologies, each proved once as `scripts/lab --check
--topology NAME` proves it (demo.py, run directly: scripts/check has built):
exit status 0 and the proof's key lines. They need a kernel with ESP:
scripts/ipsec-vm runs this file in its VM, where the AWS emulators run
outside (VR_VM_AWS, vrlab/hostaws.py); elsewhere every test skips.
(test_lab_demo.py checks the refusal of those declared but not runnable.)"""
import os
import re
import subprocess
import sys

import pytest

from vrlab.build import BUILD
from vrlab.ipseclab import TOPOLOGIES, esp_available

DEMO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.py")

pytestmark = pytest.mark.skipif(not esp_available(),
                                reason="the kernel has no ESP (run scripts/ipsec-vm)")

# what each proof must show, besides its last line
KEY_LINES = {
    "ipsec-vpc2vpc": [
        r"✔ gwa initiates: IKEv2 to 203\.0\.113\.7 ",
        r"\n\s+src 10\.0\.1\.10 dst 203\.0\.113\.7 .*encap type espinudp",
        r"✔ the agents follow the kernel's XFRM tables: .*gwa: 203\.0\.113\.7 192\.168\.99\.0/24 "
        r"up; gwb: 198\.51\.100\.1 10\.0\.0\.0/16 up",
        r"✔ VPC A host 10\.0\.1\.20 +-> VPC B host 192\.168\.99\.20:22 .*server saw source "
        r"10\.0\.1\.20\n",
        r"✔ VPC B host 192\.168\.99\.20 +-> VPC A host 10\.0\.1\.20:8080 .*server saw source "
        r"192\.168\.99\.20\n",
        r"✔ VPC A host 10\.0\.1\.20 +-> internet 100\.64\.1\.1:7000 .*server saw source "
        r"198\.51\.100\.1\n",
        r"\n\s+192\.168\.99\.0/24 +-> eni-\w+ \(the instance's ENI\)\n",
        r"\n\s+10\.0\.0\.0/16 +-> eni-\w+ \(the instance's ENI\)\n",
        r"✔ source/dest check of eni-\w+ \(instance A's ENI\) .*: False",
        r"✔ source/dest check of eni-\w+ \(instance B's ENI\) .*: False",
        r"✔ vpcroutectl status on gwa .*: clients none; routes none; IPsec tunnel 203\.0\.113\.7 "
        r"192\.168\.99\.0/24 up\n",
        r"✔ vpcroutectl doctor on gwb, in its namespace: no problem .*: 0 problems found",
    ],
    "ipsec-vgw": [
        r"✔ gwa initiates: IKEv1 to the VGW 203\.0\.113\.10 .*\n\s+.*IKEv1",
        r"\n\s+.*ESP.*AES_CBC-128/HMAC_SHA1_96/MODP_1024",
        r"✔ the agent follows the kernel's XFRM tables: .*gwa: 203\.0\.113\.10 10\.0\.0\.0/16 up",
        r"✔ VPC A host 192\.168\.99\.20 +-> VPC B host 10\.0\.0\.20:22 .*server saw source "
        r"192\.168\.99\.20\n",
        r"✔ VPC B host 10\.0\.0\.20 +-> VPC A host 192\.168\.99\.20:8080 .*server saw source "
        r"10\.0\.0\.20\n",
        r"\n\s+10\.0\.0\.0/16 +-> eni-\w+ \(the instance's ENI\)\n",
        r"✔ source/dest check of eni-\w+ \(instance A's ENI\) .*: False",
        r"✔ vpcroutectl status on gwa .*: clients none; routes none; IPsec tunnel "
        r"203\.0\.113\.10 10\.0\.0\.0/16 up\n",
    ],
}


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
def test_check(name):
    r = subprocess.run([sys.executable, DEMO, "--topology", name, "--check"],
                       env={**os.environ, "VPCROUTE_BUILDDIR": BUILD}, capture_output=True,
                       text=True, timeout=1200)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-8000:]
    assert "✔ all checks passed; lab removed" in out, out[-8000:]
    for rx in KEY_LINES[name]:
        assert re.search(rx, out), f"no /{rx}/ in:\n{out}"

