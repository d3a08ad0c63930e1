# SPDX-License-Identifier: GPL-2.0-or-later
"""The agent's metrics as `vpcroutectl metrics` prints them (the Prometheus
text format), read strictly."""
import re
import subprocess

from .build import built

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def parse(text):
    """{(name, ((label, value), ...)): value} and {name: type}, strictly: every
    line is a HELP, a TYPE or a sample of the family announced last."""
    samples, types, family = {}, {}, None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            family = line.split(" ")[2]
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name == family, line
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        assert m.group(1) == family, line
        labels = tuple(LABEL.findall(m.group(2) or ""))
        key = (m.group(1), labels)
        assert key not in samples, f"sample given twice: {line!r}"
        samples[key] = float(m.group(3))
    return samples, types


def scrape(sock, run=None):
    r = subprocess.run((run or [built("agent/vpcroutectl")]) + ["-s", sock, "metrics"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout


def family(samples, name):
    return {labels: v for (n, labels), v in samples.items() if n == name}
