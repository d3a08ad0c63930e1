# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures of the vpcroute lab: namespaces, PKI, OpenVPN, AWS emulators."""
import fnmatch
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vrlab import ec2proxy, netns, sanitizer  # noqa: E402
from vrlab.emulators import AwsWorld, metadata_mock_path  # noqa: E402
from vrlab.pki import PKI  # noqa: E402
from vrlab.topology import build_topology_a  # noqa: E402


# No test may reach the instance metadata of the host it runs on (vpcroutectl
# check-config asks it for the VPC's CIDR blocks, and an EC2 host would answer
# with its own VPC): a test that wants metadata points
# AWS_EC2_METADATA_SERVICE_ENDPOINT at the mock and drops this. The agents get
# only the AWS variables their tests give them (vrlab/agent.py).
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

EXPECTED_SKIPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "expected-skips")


def pytest_configure(config):
    config.addinivalue_line("markers", "netns: needs root and network namespaces")
    config.addinivalue_line("markers", "aws: needs the AWS emulators")


def expected_skips(path=EXPECTED_SKIPS):
    """[(test id pattern, reason prefix)] from tests/lab/expected-skips."""
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            pattern, sep, reason = line.partition(" :: ")
            if not sep or not reason.strip():
                raise pytest.UsageError(f"{path}:{n}: not 'TEST-ID-PATTERN :: REASON': {line}")
            out.append((pattern.strip(), reason.strip()))
    return out


def _skip_reason(report):
    lr = report.longrepr
    reason = lr[2] if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


_SKIPS = []  # (test id, reason) of every skip of this session


def _note_skip(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _SKIPS.append((report.nodeid, _skip_reason(report)))


pytest_runtest_logreport = pytest_collectreport = _note_skip


def _short_id(nodeid):
    """test_x.py::test_y[z], whatever directory pytest took as its root."""
    path, sep, rest = nodeid.partition("::")
    return os.path.basename(path) + sep + rest


def unexpected_skips():
    allowed = expected_skips()
    return [(nodeid, reason) for nodeid, reason in _SKIPS
            if not any(fnmatch.fnmatchcase(_short_id(nodeid), p) and reason.startswith(r)
                       for p, r in allowed)]


def pytest_sessionfinish(session, exitstatus):
    if unexpected_skips() and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    bad = unexpected_skips()
    if bad:
        terminalreporter.section("unexpected skips (not in tests/lab/expected-skips)", red=True)
        for nodeid, reason in bad:
            terminalreporter.line(f"SKIPPED {nodeid}: {reason}", red=True)
        terminalreporter.line(f"{len(bad)} unexpected skip(s) fail the run: install what the "
                              "test needs (scripts/deps.sh) or list the skip, with why, in "
                              "tests/lab/expected-skips", red=True)


@pytest.fixture(scope="session", autouse=True)
def _root_check():
    if os.geteuid() != 0:
        pytest.exit("the vpcroute lab needs root (network namespaces)", returncode=2)
    for tool in ("ip", "nft", "openvpn", "openssl", "ping"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            pytest.exit(f"{tool} not found: run scripts/check, which installs it", returncode=2)
    netns.sweep_stale()


@pytest.fixture(autouse=True)
def _sanitizer_reports():
    """On the sanitizer build (vrlab/sanitizer.py): any ASan/UBSan report a
    process wrote while the test ran (its fixtures' teardown included) fails it."""
    sanitizer.setup()
    before = sanitizer.reports()
    yield
    sanitizer.check(before)


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
