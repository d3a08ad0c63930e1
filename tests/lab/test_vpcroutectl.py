# SPDX-License-Identifier: GPL-2.0-or-later
"""vpcroutectl check-config: what a user sees for good and bad files."""
import json
import os
import re
import subprocess

import pytest

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("VPCROUTE_BUILDDIR", TOP)
CTL = os.path.join(BUILD, "agent", "vpcroutectl")


def ctl(*args):
    if not os.access(CTL, os.X_OK):
        pytest.fail(f"{CTL} not built (scripts/check builds it; set VPCROUTE_BUILDDIR)")
    return subprocess.run([CTL, *args], capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize("name", ["topology-a-server.conf", "topology-a-pi.conf",
                                  "topology-b-ec2-client.conf",
                                  "topology-c-road-warriors.conf"])
def test_examples_are_valid(name):
    path = os.path.join(TOP, "doc", "examples", name)
    r = ctl("check-config", path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == f"{path}: configuration valid\n"
    dump = json.loads(r.stdout)
    assert dump["version"] == 1
    assert dump["plugin"]["fail_mode"] in ("closed", "open")


BAD = [
    # syntax error: jansson's position
    ('{\n  "version": 1,\n  "role": "server",,\n}\n', r"^{f}:3:20: "),
    # a bad prefix three levels down: file:line:col, key path, value, the fix
    ('{\n  "version": 1,\n  "role": "server",\n  "local_networks": ["10.1.1.0/24"],\n'
     '  "tunnel": { "pool": "10.1.2.0/24" },\n  "clients": {\n    "pi-home": {\n'
     '      "iroutes": ["192.168.1.128/25", "192.168.2.1/24"]\n    }\n  }\n}\n',
     r'^{f}:8:39: clients\.pi-home\.iroutes\[1\]: "192\.168\.2\.1/24": host bits set '
     r'\(the network is 192\.168\.2\.0/24\)$'),
    ('{"version": 1, "role": "server", "local_networks": ["10.1.1.0/24"],\n'
     ' "tunnel": {"pool": "10.1.2.0/24"}, "plugin": {"fail_mod": "open"}}\n',
     r'^{f}:2:48: plugin\.fail_mod: unknown key$'),
]


@pytest.mark.parametrize("text,pattern", BAD)
def test_bad_config_one_line(tmp_path, text, pattern):
    f = tmp_path / "vpcroute.conf"
    f.write_text(text)
    r = ctl("check-config", str(f))
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert re.match(pattern.replace("{f}", re.escape(str(f))), lines[0]), lines[0]


def test_missing_file_and_usage(tmp_path):
    r = ctl("check-config", str(tmp_path / "nope.conf"))
    assert r.returncode == 1
    assert r.stderr == f"{tmp_path / 'nope.conf'}: No such file or directory\n"
    assert ctl("frobnicate").returncode == 2
    assert ctl().returncode == 2
    r = ctl("--help")
    assert r.returncode == 0 and "check-config" in r.stdout
    assert ctl("version").stdout.startswith("vpcroutectl ")
