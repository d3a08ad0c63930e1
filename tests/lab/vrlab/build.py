# SPDX-License-Identifier: GPL-2.0-or-later
"""Where the built programs are: VPCROUTE_BUILDDIR (scripts/check sets it) or the tree."""
import os

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BUILD = os.path.abspath(os.environ.get("VPCROUTE_BUILDDIR", os.path.join(TOP, ".build", "gcc")))


def built(rel):
    path = os.path.join(BUILD, rel)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is not built: run scripts/check, or set VPCROUTE_BUILDDIR")
    return path


def plugin_so():
    return built(os.path.join("plugin", ".libs", "vpcroute.so"))
