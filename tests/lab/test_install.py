# SPDX-License-Identifier: GPL-2.0-or-later
"""make install and make uninstall with DESTDIR: the exact set of files, the
systemd unit (systemd-analyze verify) and its OpenVPN drop-ins; every man page
renders without warnings."""
import filecmp
import glob
import os
import shutil
import subprocess

import pytest

from vrlab.build import BUILD, TOP

DOCS = ["README.md", "architecture.md", "protocol.md", "status.schema.json",
        "vpcroute.conf.schema.json", "doctor.schema.json", "plan.schema.json",
        "guide-topology-a.md", "guide-topology-b.md",
        "guide-topology-c.md", "guide-route-server.md", "guide-ipsec-vpc2vpc.md",
        "guide-ipsec-vgw.md", "guide-ipsec-sites.md", "guide-ha.md", "troubleshooting.md"]
EXAMPLES = ["topology-a-server.conf", "topology-a-pi.conf", "topology-b-ec2-client.conf",
            "topology-c-road-warriors.conf", "ipsec-vpc2vpc.conf", "ipsec-vgw.conf",
            "ipsec-sites.conf"]
CCD_TEMPLATES = ["home-gateway", "branch-site", "road-warrior"]
MAN_PAGES = ["man5/vpcroute.conf.5", "man8/vpcroutectl.8", "man8/vpcroute.so.8",
             "man8/vpcroute-agent.8"]
OPENVPN_UNITS = ["openvpn-server@", "openvpn-client@", "openvpn@"]
DIRS = ["prefix", "sbindir", "sysconfdir", "mandir", "docdir", "datadir", "openvpn_plugindir",
        "vr_confdir", "systemdsystemunitdir"]


def make(*args, timeout=600):
    if not os.path.exists(os.path.join(BUILD, "Makefile")):
        pytest.fail(f"{BUILD} is not configured: run scripts/check, or set VPCROUTE_BUILDDIR")
    r = subprocess.run(["make", "-s", "-C", BUILD, *args], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, \
        f"make {' '.join(args)} failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    """The installation directories of the build, expanded by make itself."""
    mk = tmp_path_factory.mktemp("mk") / "print.mk"
    mk.write_text("vr-print-dirs:\n" + "".join(f"\t@echo '{d}=$({d})'\n" for d in DIRS))
    r = make("-f", "Makefile", "-f", str(mk), "vr-print-dirs")
    d = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    assert set(d) == set(DIRS), r.stdout
    for k, v in d.items():
        assert v == "no" or v.startswith("/"), f"{k}={v} is not absolute"
    return d


@pytest.fixture(scope="module")
def installed(dirs, tmp_path_factory):
    dest = str(tmp_path_factory.mktemp("destdir"))
    make("install", f"DESTDIR={dest}")
    return dest


def files_under(root):
    """Every file and symbolic link under root, as absolute paths without root."""
    out = set()
    for d, _, names in os.walk(root):
        for n in names:
            out.add(os.path.join(d, n)[len(root):])
    return out


def expected_files(dirs):
    j = os.path.join
    want = {
        j(dirs["sbindir"], "vpcroute-agent"),
        j(dirs["sbindir"], "vpcroutectl"),
        j(dirs["openvpn_plugindir"], "vpcroute.so"),
        j(dirs["sysconfdir"], "iproute2", "rt_protos.d", "vpcroute.conf"),
        j(dirs["vr_confdir"], "vpcroute.conf.sample"),
        j(dirs["datadir"], "bash-completion", "completions", "vpcroutectl"),
        j(dirs["datadir"], "zsh", "site-functions", "_vpcroutectl"),
    }
    want |= {j(dirs["mandir"], m) for m in MAN_PAGES}
    want |= {j(dirs["docdir"], d) for d in DOCS}
    want |= {j(dirs["docdir"], "examples", e) for e in EXAMPLES}
    want |= {j(dirs["docdir"], "ccd-templates", c) for c in CCD_TEMPLATES}
    if dirs["systemdsystemunitdir"] != "no":
        unitdir = dirs["systemdsystemunitdir"]
        want.add(j(unitdir, "vpcroute-agent.service"))
        want |= {j(unitdir, f"{u}.service.d", "vpcroute-agent.conf") for u in OPENVPN_UNITS}
    return want


def unit_path(dirs, dest):
    if dirs["systemdsystemunitdir"] == "no":
        pytest.skip("built with --without-systemdsystemunitdir: no unit installed")
    return dest + os.path.join(dirs["systemdsystemunitdir"], "vpcroute-agent.service")


def test_installs_exactly_these_files(dirs, installed):
    got = files_under(installed)
    want = expected_files(dirs)
    assert got == want, f"missing: {sorted(want - got)}; unexpected: {sorted(got - want)}"
    for prog in ("vpcroute-agent", "vpcroutectl"):
        assert os.access(installed + os.path.join(dirs["sbindir"], prog), os.X_OK)
    # never a real configuration, never libtool's .la
    assert not any(p.endswith(".la") for p in got)
    assert os.path.join(dirs["vr_confdir"], "vpcroute.conf") not in got
    assert filecmp.cmp(installed + os.path.join(dirs["vr_confdir"], "vpcroute.conf.sample"),
                       os.path.join(TOP, "doc", "examples", "topology-a-server.conf"),
                       shallow=False)


def test_unit_names_the_installed_paths(dirs, installed):
    with open(unit_path(dirs, installed)) as f:
        text = f.read()
    lines = text.splitlines()
    assert f"ExecStart={dirs['sbindir']}/vpcroute-agent -d" in lines
    assert f"EnvironmentFile=-{dirs['sysconfdir']}/default/vpcroute-agent" in lines
    assert "Type=notify" in lines
    assert "ExecReload=/bin/kill -HUP $MAINPID" in lines
    assert "@sbindir@" not in text and "@sysconfdir@" not in text
    # a template in Before= would mean openvpn-server@vpcroute-agent.service
    assert not any(l.startswith("Before=") and "@." in l for l in lines)


def systemd_analyze():
    path = shutil.which("systemd-analyze")
    if not path:
        pytest.skip("systemd-analyze not found "
                    "(Debian package systemd; scripts/check installs it)")
    return path


def test_unit_verifies(dirs, installed, tmp_path):
    """systemd-analyze verify: the unit parses, ExecStart exists, its man pages exist.

    verify wants ExecStart= to be executable at its path and looks up the
    Documentation= pages with man: a copy of the unit points ExecStart= into
    DESTDIR, and MANPATH at DESTDIR's man pages."""
    analyze = systemd_analyze()
    unit = unit_path(dirs, installed)
    with open(unit) as f:
        text = f.read()
    agent = dirs["sbindir"] + "/vpcroute-agent"
    copy = tmp_path / "vpcroute-agent.service"
    copy.write_text(text.replace(f"ExecStart={agent}", f"ExecStart={installed}{agent}"))
    env = dict(os.environ, MANPATH=installed + dirs["mandir"], SYSTEMD_LOG_LEVEL="notice")
    r = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True,
                       env=env, timeout=60)
    ours = [l for l in (r.stdout + r.stderr).splitlines()
            if "vpcroute" in l or str(tmp_path) in l]
    assert r.returncode == 0 and not ours, r.stdout + r.stderr


@pytest.mark.parametrize("template", OPENVPN_UNITS)
def test_openvpn_units_start_after_the_agent(dirs, installed, tmp_path, template):
    """The drop-in applies to every instance of OpenVPN's template units."""
    analyze = systemd_analyze()
    unit = unit_path(dirs, installed)
    shutil.copy(unit, tmp_path / "vpcroute-agent.service")
    dropin = os.path.dirname(unit) + f"/{template}.service.d"
    shutil.copytree(dropin, tmp_path / f"{template}.service.d")
    # OpenVPN's own template when installed, else a stand-in
    system = f"/lib/systemd/system/{template}.service"
    if os.path.exists(system):
        shutil.copy(system, tmp_path / f"{template}.service")
    else:
        (tmp_path / f"{template}.service").write_text(
            "[Unit]\nDescription=OpenVPN %i\n[Service]\nExecStart=/bin/true %i\n")
    env = dict(os.environ, SYSTEMD_LOG_LEVEL="debug", MANPATH=installed + dirs["mandir"])
    r = subprocess.run([analyze, "verify", "--man=no", str(tmp_path / f"{template}lab.service")],
                       capture_output=True, text=True, env=env, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    # the dump of the instance lists its drop-in and the ordering
    dump = out.split(f"-> Unit {template}lab.service:", 1)
    assert len(dump) == 2, out[-3000:]
    section = dump[1].split("-> Unit ", 1)[0]
    assert f"{template}.service.d/vpcroute-agent.conf" in section, section
    assert "After: vpcroute-agent.service" in section, section


def test_manual_shows_the_shipped_unit():
    """vpcroute-agent(8), section systemd, prints the unit as built for /usr and /etc."""
    with open(os.path.join(TOP, "systemd", "vpcroute-agent.service.in")) as f:
        unit = [l.replace("@sbindir@", "/usr/sbin").replace("@sysconfdir@", "/etc")
                for l in f.read().splitlines() if l and not l.startswith("#")]
    with open(os.path.join(TOP, "doc", "vpcroute-agent.8")) as f:
        page = f.read()
    block = page.split(".EX\n[Unit]\n", 1)[1].split("\n.EE\n", 1)[0]
    shown = [l.replace("\\-", "-") for l in ("[Unit]\n" + block).splitlines() if l]
    assert shown == unit


def test_uninstall_leaves_no_files(dirs, tmp_path):
    dest = str(tmp_path / "destdir")
    make("install", f"DESTDIR={dest}")
    assert files_under(dest) == expected_files(dirs)
    make("uninstall", f"DESTDIR={dest}")
    assert files_under(dest) == set()


@pytest.mark.parametrize("page", sorted(glob.glob(os.path.join(TOP, "doc", "*.[58]"))),
                         ids=os.path.basename)
def test_man_page_renders_without_warnings(page):
    if not shutil.which("man"):
        pytest.skip("man not found (Debian package man-db; scripts/check installs it)")
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
    r = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    assert len(r.stdout) > 1000
