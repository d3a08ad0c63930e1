# SPDX-License-Identifier: GPL-2.0-or-later
"""Waiting for a condition in the lab, within a generous bound."""
import time


def wait_for(what, pred, timeout=30, interval=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"not within {timeout}s: {what}")
