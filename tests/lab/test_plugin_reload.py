# SPDX-License-Identifier: GPL-2.0-or-later
"""The plugin follows the agent's reload (issue 12, item 4).

Real OpenVPN with vpcroute.so and the real agent: after `vpcroutectl reload`
the plugin reads the same file on its own thread, checks that its SHA-256
is the agent's, and decides with it; a client the new file forbids is
refused by the plugin itself (the agent never sees it), a connected one is
named in both logs and in `vpcroutectl status`; an invalid file leaves
both on the previous configuration.
"""
import copy
import json
import os
import re
import subprocess
import time

import pytest

from vrlab.openvpn import OpenVPNError
from vrlab.product import SERVER_CONF, ProductA

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("VPCROUTE_BUILDDIR", TOP)
CTL = os.path.join(BUILD, "agent", "vpcroutectl")
SCHEMA = os.path.join(TOP, "doc", "status.schema.json")

CONF = copy.deepcopy(SERVER_CONF)
CONF["clients"]["laptop"] = {"push_routes": ["10.1.1.0/24"]}
CONF["clients"]["tablet"] = {"push_routes": ["10.1.1.0/24"]}
# the new file: neither laptop nor tablet any more (strict: unknown names are refused)
NEW = copy.deepcopy(SERVER_CONF)


@pytest.fixture
def prod(topo_a, pki, tmp_path):
    p = ProductA(topo_a, pki, str(tmp_path), server_conf=CONF)
    p.start_agents()
    p.start_server()
    yield p
    p.close()


def ctl(*args):
    return subprocess.run([CTL, *args], capture_output=True, text=True, timeout=10)


def status(prod):
    import jsonschema
    r = ctl("-s", prod.server_agent.sock, "status", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    with open(SCHEMA) as f:
        jsonschema.validate(doc, json.load(f))
    return doc


def instance(doc, name="server"):
    return next(i for i in doc["instances"] if i["name"] == name)


def wait_plugin_runs(prod, gen, timeout=10):
    """Until the plugin says it runs the agent's configuration of generation gen."""
    deadline = time.time() + timeout
    while True:
        doc = status(prod)
        pp = instance(doc).get("plugin_policy")
        if doc["config_generation"] == gen and pp and pp["matches"] and pp["generation"] == gen:
            assert pp["sha256"] == doc["config_sha256"]
            return doc
        if time.time() > deadline:
            raise AssertionError(f"plugin policy {pp}, agent generation "
                                 f"{doc['config_generation']}, not {gen}")
        time.sleep(0.1)


def write_conf(prod, text):
    with open(prod.server_agent.conf, "w") as f:
        f.write(text)


def new_text(prod):
    c = copy.deepcopy(NEW)
    c["socket"] = prod.confs["ec2"]["socket"]
    return json.dumps(c, indent=2)


def test_reload_forbids_a_client(prod):
    prod.road_warrior("laptop").wait_up()
    prod.server_agent.wait_log(r"server: client laptop connected")
    before = wait_plugin_runs(prod, 1)
    write_conf(prod, new_text(prod))
    r = ctl("-s", prod.server_agent.sock, "reload")
    assert r.returncode == 0, r.stderr
    doc = wait_plugin_runs(prod, 2)
    assert doc["config_sha256"] != before["config_sha256"]
    # the connected client the new file forbids: named by the agent and in status
    prod.server_agent.wait_log(
        r"reload: server: client laptop, connected under the previous configuration, is not "
        r"allowed by the new one: client laptop: unknown common name \(rule: strict\)")
    laptop = next(c for c in instance(doc)["clients"] if c["cn"] == "laptop")
    assert laptop["allowed"] is False
    assert "unknown common name (rule: strict)" in laptop["refusal"]
    table = ctl("-s", prod.server_agent.sock, "status").stdout
    assert "NOT ALLOWED" in table and "the plugin runs the agent's (generation 2)" in table
    # the next client the new file forbids: refused by the plugin, from memory
    tablet = prod.road_warrior("tablet")
    prod.server.wait_log(r"client tablet: unknown common name \(rule: strict\)")
    with pytest.raises(OpenVPNError):
        tablet.wait_up(timeout=3)
    assert "tablet" not in prod.server_agent.log_text(since_start=True)
    # and the plugin named the connected one too (its log goes out on OpenVPN's thread)
    log = prod.server.log_text()
    assert re.search(r"configuration generation 2 of .* in effect", log), log[-3000:]
    assert re.search(r"client laptop, connected under the previous configuration, is not "
                     r"allowed by the new one", log), log[-3000:]


def test_invalid_reload_keeps_both_on_the_old_policy(prod):
    before = wait_plugin_runs(prod, 1)
    # the new file, but broken: neither side takes it
    write_conf(prod, new_text(prod).replace('"10.1.2.0/24"', '"10.1.2.1/24"'))
    r = ctl("-s", prod.server_agent.sock, "reload")
    assert r.returncode == 1 and "host bits set" in r.stderr, r.stderr
    prod.server_agent.wait_log(r"reload failed, keeping the running configuration")
    # a client the old file allows (and the broken one would not) still connects
    prod.road_warrior("tablet").wait_up()
    prod.server_agent.wait_log(r"server: client tablet connected")
    doc = wait_plugin_runs(prod, 1)
    assert doc["config_sha256"] == before["config_sha256"]
    assert all(c["allowed"] for c in instance(doc)["clients"])
    assert "configuration generation" not in prod.server.log_text()
