# SPDX-License-Identifier: GPL-2.0-or-later
"""The lab on the sanitizer build (VPCROUTE_BUILDDIR=.build/clang, configured
with --enable-sanitizers): every process the lab starts from that build
(vpcroute-agent, vpcroutectl, OpenVPN with vpcroute.so) writes any
ASan/UBSan report to a file under one directory of the session (log_path),
OpenVPN with clang's ASan runtime preloaded (it is not instrumented), and a
test fails when a report appeared while it ran (conftest.py checks after
each test). On any other build nothing changes.
"""
import glob
import os
import re
import subprocess
import tempfile

from .build import BUILD

REPORT_RX = re.compile(r"ERROR: \w+Sanitizer|runtime error:|WARNING: \w+Sanitizer")


def sanitized_build(build=BUILD):
    """Whether build was configured with --enable-sanitizers."""
    try:
        with open(os.path.join(build, "config.status"), errors="replace") as f:
            return "--enable-sanitizers" in f.read()
    except FileNotFoundError:
        return False


ACTIVE = sanitized_build()
REPORTS = None  # the session's report directory, once setup() ran


def asan_runtime():
    rt = subprocess.run(["clang", "-print-file-name=libclang_rt.asan-x86_64.so"],
                        capture_output=True, text=True, check=True).stdout.strip()
    if not os.path.isabs(rt) or not os.path.exists(rt):
        raise FileNotFoundError("clang's ASan runtime (libclang_rt.asan-x86_64.so) not found: "
                                "install libclang-rt-14-dev")
    return rt


def _with_log_path(opts, path):
    kept = [o for o in opts.split(":") if o and not o.startswith("log_path=")]
    return ":".join(kept + [f"log_path={path}"])


def setup():
    """On the sanitizer build: a report directory writable by every user
    (OpenVPN drops to nobody), named in ASAN_OPTIONS/UBSAN_OPTIONS of this
    process, so every child inherits it (instrumented ones use it, the rest
    ignore it)."""
    global REPORTS
    if not ACTIVE or REPORTS:
        return REPORTS
    REPORTS = tempfile.mkdtemp(prefix="vr-sanitizer-")
    os.chmod(REPORTS, 0o1777)
    asan = os.environ.get("ASAN_OPTIONS", "halt_on_error=1:detect_leaks=1")
    ubsan = os.environ.get("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    os.environ["ASAN_OPTIONS"] = _with_log_path(asan, os.path.join(REPORTS, "asan"))
    os.environ["UBSAN_OPTIONS"] = _with_log_path(ubsan, os.path.join(REPORTS, "ubsan"))
    return REPORTS


def reports():
    """The report files written so far."""
    return set(glob.glob(os.path.join(REPORTS, "*"))) if REPORTS else set()


def check(before):
    """Raises AssertionError naming the first report written since before."""
    new = sorted(reports() - before)
    if new:
        with open(new[0], errors="replace") as f:
            raise AssertionError(f"sanitizer report {new[0]} ({len(new)} in all):\n"
                                 + f.read()[:6000])


def wrap_openvpn(argv, conf_text):
    """OpenVPN's argv, run through env(1) with the ASan runtime preloaded
    when it loads a plugin of the sanitizer build; as given otherwise."""
    if not ACTIVE or not re.search(r"^plugin " + re.escape(BUILD), conf_text, re.M):
        return argv
    return ["env", f"LD_PRELOAD={asan_runtime()}", *argv]
