# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures of the vpcroute lab: namespaces, PKI, OpenVPN, AWS emulators."""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vrlab import ec2proxy, netns  # noqa: E402
from vrlab.emulators import AwsWorld, metadata_mock_path  # noqa: E402
from vrlab.pki import PKI  # noqa: E402
from vrlab.topology import build_topology_a  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "netns: needs root and network namespaces")
    config.addinivalue_line("markers", "aws: needs the AWS emulators")


@pytest.fixture(scope="session", autouse=True)
def _root_check():
    if os.geteuid() != 0:
        pytest.exit("the vpcroute lab needs root (network namespaces)", returncode=2)
    for tool in ("ip", "nft", "openvpn", "openssl", "ping"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            pytest.exit(f"{tool} not found: run scripts/check, which installs it", returncode=2)
    netns.sweep_stale()


@pytest.fixture(autouse=True)
def _ec2_signatures():
    """After every test: each request any EC2 proxy of the test saw (the
    agent's, the test's own boto3 calls) verifies with botocore's signer."""
    mark = ec2proxy.proxy_mark()
    yield
    ec2proxy.check_all(mark)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    p = PKI(str(tmp_path_factory.mktemp("pki")))
    p.server = p.issue("server", server=True)
    return p


@pytest.fixture
def lab():
    with netns.Lab() as lab:
        yield lab


@pytest.fixture
def topo_a(lab):
    return build_topology_a(lab)


@pytest.fixture
def aws(tmp_path):
    if not metadata_mock_path():
        pytest.fail("ec2-metadata-mock not built: scripts/check builds it into tests/tools/bin")
    world = AwsWorld(str(tmp_path))
    yield world
    world.stop()
