# SPDX-License-Identifier: GPL-2.0-or-later
"""doc/vpcroute.conf.schema.json and the loader (lib/cfg.c) agree.

Every configuration we ship or write validates against the schema: the
examples in doc/examples/, the vpcroute.conf entries the CCD templates
quote, and the configurations the lab gives its agents. The keys the schema
names are the keys of the loader's tables, object by object, and a
configuration that sets every key of the schema loads, annotated or not,
and prints (check-config's normalised form) only keys the schema knows.
The friendly messages of the loader are checked through check-config.
No network namespace: only vpcroutectl check-config on files.
"""
import ast
import copy
import glob
import json
import os
import re
import subprocess

import jsonschema
import pytest

from vrlab import product
from vrlab.build import TOP, built
from vrlab.topologies import TOPOLOGIES

SCHEMA_PATH = os.path.join(TOP, "doc", "vpcroute.conf.schema.json")
with open(SCHEMA_PATH) as f:
    SCHEMA = json.load(f)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
EXAMPLES = sorted(glob.glob(os.path.join(TOP, "doc", "examples", "*.conf")))
CCD_TEMPLATES = sorted(glob.glob(os.path.join(TOP, "ccd-templates", "*")))
ANNOTATIONS = ("$schema", "_comment")


def errors(conf):
    """What the schema says of conf, the reasons of anyOf failures included."""
    out, todo = [], list(VALIDATOR.iter_errors(conf))
    while todo:
        e = todo.pop(0)
        out.append(f"{'/'.join(map(str, e.absolute_path))}: {e.message}")
        todo += e.context
    return out


def check_config(tmp_path, text, *args, name="vpcroute.conf"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return subprocess.run([built("agent/vpcroutectl"), "check-config", *args, str(path)],
                          capture_output=True, text=True, timeout=30)


def loads(tmp_path, conf):
    """check-config's normalised form of conf; fails the test if it does not load."""
    r = check_config(tmp_path, json.dumps(conf, indent=2), "--offline")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


# --- the schema's objects and the loader's key tables ----------------------------------------

def resolve(node):
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


# Which key table of lib/cfg.c each object of the schema is.
OBJECTS = {
    "top": SCHEMA,
    "socket": SCHEMA["properties"]["socket"],
    "tunnel": SCHEMA["properties"]["tunnel"],
    "client": SCHEMA["$defs"]["client"],
    "rule": SCHEMA["$defs"]["rule"],
    "nat": SCHEMA["properties"]["nat"],
    "masq": SCHEMA["$defs"]["masquerade"],
    "aws": SCHEMA["properties"]["aws"],
    "plugin": SCHEMA["properties"]["plugin"],
    "metrics": SCHEMA["properties"]["metrics"],
    "openvpn": SCHEMA["properties"]["openvpn"],
    "forward": SCHEMA["$defs"]["forward"],
    "connlog": SCHEMA["properties"]["connection_log"],
    "offload": SCHEMA["properties"]["offload"],
    "dns": SCHEMA["properties"]["dns"],
    "ipsec": SCHEMA["properties"]["ipsec"],
    "peer": SCHEMA["$defs"]["peer"],
}


def schema_keys(obj):
    return set(obj["properties"]) - {"$schema"}


def loader_tables():
    """{table: [keys]} from the static *_keys[] tables of lib/cfg.c, the lists
    check_keys() accepts."""
    with open(os.path.join(TOP, "lib", "cfg.c")) as f:
        src = f.read()
    tables = {}
    for name, body in re.findall(r"static const char \*const (\w+)_keys\[\] = \{(.*?)\};", src,
                                 re.S):
        assert body.rstrip().rstrip(",").endswith("NULL"), name
        tables[name] = re.findall(r'"([^"]*)"', body)
    return tables


def test_schema_is_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_and_loader_tables_agree():
    tables = loader_tables()
    assert set(tables) == set(OBJECTS), "a key table of lib/cfg.c has no object in the schema"
    for name, obj in OBJECTS.items():
        assert schema_keys(obj) == set(tables[name]), name
        # every object of the schema takes annotations and nothing else unknown
        assert obj["additionalProperties"] is False, name
        assert "^_" in obj["patternProperties"] and "$schema" in obj["properties"], name


# --- configurations that set every key of the schema ------------------------------------------

RULE = {"to": "192.168.1.5", "proto": "tcp", "ports": [22, "8000-8080"], "log": True}
CLIENT = {"allow": ["192.168.1.0/24"], "iroutes": ["192.168.1.128/25"], "address": "10.1.2.10",
          "address6": "fd00:2::10", "push_routes": ["10.1.1.0/24"], "to_local": True,
          "from_local": [RULE, {"to": "nas.home.arpa", "proto": "udp", "ports": [53]}]}
COMMON = {
    "version": 1,
    "socket": {"path": "/run/vpcroute/test.sock", "mode": "0660", "group": "root",
               "openvpn_user": "root", "openvpn_group": "root"},
    "nat": {"masquerade": [{"sources": ["10.1.2.0/24"], "out_interface": "eth0",
                            "snat_to": "10.1.1.5"}],
            "exempt_tunnel": True},
    "aws": {"enabled": True, "region": "eu-west-1", "endpoint": "http://127.0.0.1:1",
            "imds_endpoint": "http://127.0.0.1:2", "access_key_id": "AKIDEXAMPLE",
            "secret_access_key": "secret", "session_token": "token",
            "route_tables": ["rtb-0a1b2c3d4e5f60718"], "disable_source_dest_check": True,
            "takeover": False, "withdraw_grace_s": 300, "drift_check_s": 60,
            "max_calls_per_s": 2.5, "max_calls_burst": 10, "summaries": ["172.16.0.0/12"],
            "route_quota": 50, "routes": "route-server",
            "bgp_socket": "/run/bird/bird.ctl", "cluster": "prod-1",
            "interface": "eni-0a1b2c3d4e5f60718", "elastic_ip": "eipalloc-0a1b2c3d"},
    "plugin": {"fail_mode": "closed", "admission": "deferred", "defer_timeout_ms": 5000,
               "reconnect_max_ms": 5000, "queue_max": 1024},
    "kernel_check_s": 30,
    "metrics": {"listen": "127.0.0.1:9810"},
    "openvpn": {"proto": "tcp", "port": 443},
    "connection_log": {"new": True, "drop": True, "group": 2, "rate_per_s": 5, "burst": 10},
    "offload": {"devices": ["ens5", "br-lan.10"]},
    "dns": {"servers": ["10.1.1.2", "[fd00:1::53]:5353"], "min_ttl_s": 5, "max_ttl_s": 300,
            "timeout_ms": 2000},
    "ipsec": {"peers": {"203.0.113.7": {"allow": ["192.168.99.0/24"], "to_local": True,
                                        "from_local": [{"to": "192.168.99.10", "proto": "icmp"}]},
                        "2001:db8::7": {"allow": ["fd00:99::/48"]},
                        "@site1.example": {"allow": ["192.168.98.0/24"]},
                        "id:203.0.113.9": {"allow": ["192.168.97.0/24"]}},
              "vici_socket": "/run/charon.vici"},
}
FULL_SERVER = {**COMMON, "role": "server", "local_networks": ["10.1.1.0/24"],
               "tunnel": {"pool": "10.1.2.0/24", "pool6": "fd00:2::/64"}, "strict": False,
               "clients": {"pi-home": CLIENT},
               "default_client": {"push_routes": ["10.1.0.0/16"], "to_local": True,
                                  "from_local": False},
               "port_forwards": [{"proto": "tcp", "port": 8080, "to": "10.1.1.10",
                                  "to_port": 80, "in_interface": "eth0", "masquerade": True,
                                  "log": False}]}
FULL_CLIENT = {**COMMON, "role": "client", "local_networks": ["192.168.1.0/24"],
               "accept_routes": ["10.1.0.0/16"], "tunnel_networks": ["10.1.8.0/24"],
               "to_local": [{"to": "192.168.1.0/24", "masquerade": True}],
               "from_local": [{"to": "10.1.1.0/24", "proto": "icmp"}]}


def alternatives(node):
    """node (resolved) and the subschemas of its anyOf/allOf, recursively."""
    node = resolve(node)
    out = [node]
    for sub in node.get("anyOf", []) + node.get("allOf", []):
        out += alternatives(sub)
    return out


def key_pairs(conf, node=SCHEMA):
    """{(object of the schema, key)} that conf sets, annotations aside; objects are
    identified by their resolved schema node, so a client's key is one pair wherever
    the client is."""
    out = set()
    alts = alternatives(node)
    if isinstance(conf, list):
        for alt in alts:
            if "items" in alt:
                for v in conf:
                    out |= key_pairs(v, alt["items"])
    elif isinstance(conf, dict):
        for alt in alts:
            if isinstance(alt.get("additionalProperties"), dict):  # clients by name
                for k, v in conf.items():
                    if k not in ANNOTATIONS:
                        out |= key_pairs(v, alt["additionalProperties"])
            for k, v in conf.items():
                if k in alt.get("properties", {}) and k != "$schema":
                    out.add((id(alt), k))
                    out |= key_pairs(v, alt["properties"][k])
    return out


def schema_pairs():
    """{(object, key)}: every key the schema names."""
    out, seen, todo = set(), set(), [SCHEMA]
    while todo:
        node = resolve(todo.pop())
        if id(node) in seen:
            continue
        seen.add(id(node))
        for k, v in node.get("properties", {}).items():
            if k != "$schema":
                out.add((id(node), k))
                if isinstance(v, dict):
                    todo.append(v)
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                todo.append(node[key])
        todo += node.get("anyOf", []) + node.get("allOf", [])
    return out


def annotate(conf):
    """conf with "$schema" and "_comment" in every object (and a "_" note in clients)."""
    if isinstance(conf, list):
        return [annotate(v) for v in conf]
    if isinstance(conf, dict):
        out = {"$schema": "vpcroute.conf.schema.json", "_comment": ["any", {"value": 1}]}
        out.update((k, annotate(v)) for k, v in conf.items())
        return out
    return conf


def test_full_configurations_set_every_key_of_the_schema():
    # the two below together name every key, so the tests after them cover the schema
    assert key_pairs(FULL_SERVER) | key_pairs(FULL_CLIENT) == schema_pairs()
    assert len(schema_pairs()) == sum(len(schema_keys(o)) for o in OBJECTS.values())


@pytest.mark.parametrize("conf", [FULL_SERVER, FULL_CLIENT], ids=["server", "client"])
def test_every_key_of_the_schema_loads_and_prints_only_schema_keys(tmp_path, conf):
    assert errors(conf) == []
    printed = loads(tmp_path, conf)  # an unknown key would be an error
    printed["aws"]["secret_access_key"] = "x"  # printed as "(set)"
    assert errors(printed) == []
    assert key_pairs(printed) <= schema_pairs()
    assert key_pairs(conf) <= key_pairs(printed)


@pytest.mark.parametrize("conf", [FULL_SERVER, FULL_CLIENT], ids=["server", "client"])
def test_annotations_in_every_object(tmp_path, conf):
    annotated = annotate(conf)
    annotated["clients" if "clients" in conf else "_note"] = {
        **annotated.get("clients", {}), "_comment": "not a client"}
    assert errors(annotated) == []
    assert loads(tmp_path, annotated) == loads(tmp_path, conf)


@pytest.mark.parametrize("path,key,near", [
    ((), "stict", "strict"), (("socket",), "gruop", "group"), (("tunnel",), "pool4", "pool"),
    (("clients", "pi-home"), "iroute", "iroutes"),
    (("clients", "pi-home", "from_local", 0), "port", "ports"),
    (("nat",), "masquerde", "masquerade"), (("nat", "masquerade", 0), "out_iface", None),
    (("aws",), "regoin", "region"), (("plugin",), "queue_mx", "queue_max"),
])
def test_unknown_key_is_refused_by_both_with_a_suggestion(tmp_path, path, key, near):
    conf = copy.deepcopy(FULL_SERVER)
    obj = conf
    for p in path:
        obj = obj[p]
    obj[key] = 1
    assert any(f"'{key}' does not match any of the regexes" in e for e in errors(conf))
    r = check_config(tmp_path, json.dumps(conf, indent=2), "--offline")
    assert r.returncode == 1
    where = ".".join(f"[{p}]" if isinstance(p, int) else p for p in (*path, key))
    where = where.replace(".[", "[")
    hint = f' (did you mean "{near}"?)' if near else ""
    assert re.fullmatch(rf"\S+:\d+:\d+: {re.escape(where)}: unknown key{re.escape(hint)}\n",
                        r.stderr), r.stderr


# --- what we ship and what the lab writes ----------------------------------------------------

@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_examples_validate(tmp_path, path):
    with open(path) as f:
        conf = json.load(f)
    assert errors(conf) == []
    loads(tmp_path, conf)


def ccd_entry(path):
    """The vpcroute.conf entry the template's comment quotes, as a server configuration."""
    with open(path) as f:
        quoted = [ln[1:] for ln in f if re.match(r"#\s{3,}\S", ln)]
    text = "".join(quoted).strip().rstrip(").").strip()
    entry = json.loads("{" + text + "}")
    conf = {"version": 1, "role": "server", "local_networks": ["10.1.1.0/24"],
            "tunnel": {"pool": "10.1.2.0/24"}}
    if "default_client" in entry:
        conf.update(entry)
    else:
        conf["clients"] = entry
    return conf


@pytest.mark.parametrize("path", CCD_TEMPLATES, ids=os.path.basename)
def test_ccd_template_entries_validate(tmp_path, path):
    conf = ccd_entry(path)
    assert errors(conf) == []
    loads(tmp_path, conf)


class _NoAws:
    aws = None


def lab_configurations():
    """(id, dict): each topology's agent configurations as the lab writes them (with and
    without the emulated AWS), product.SERVER_CONF, and the literal configurations of the
    lab's test modules and of its shared vrlab modules."""
    out = []
    for t in TOPOLOGIES.values():
        for a in t.agents:
            conf = product.example(a.example)
            out.append((f"{t.name}-{a.node}-aws", copy.deepcopy(conf)))
            product.Product._adapt(_NoAws(), conf)
            out.append((f"{t.name}-{a.node}", conf))
    out.append(("product.SERVER_CONF", product.SERVER_CONF))
    modules = glob.glob(os.path.join(TOP, "tests", "lab", "test_*.py"))
    modules += glob.glob(os.path.join(TOP, "tests", "lab", "vrlab", "*.py"))
    for path in sorted(modules):
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)):
                continue
            try:
                conf = ast.literal_eval(node.value)
            except ValueError:
                continue  # built from other names
            if "version" in conf and "role" in conf:
                out.append((f"{os.path.basename(path)}:{node.targets[0].id}", conf))
    return out


LAB = lab_configurations()


def test_lab_configurations_found():
    assert len(LAB) >= 10, [i for i, _ in LAB]


@pytest.mark.parametrize("conf", [c for _, c in LAB], ids=[i for i, _ in LAB])
def test_lab_configurations_validate(tmp_path, conf):
    assert errors(conf) == []
    loads(tmp_path, conf)


# --- the mistakes of a file edited by hand, in words -----------------------------------------

GOOD = '{\n  "version": 1,\n  "role": "client",\n  "local_networks": ["192.168.1.0/24"]\n}\n'


@pytest.mark.parametrize("text,expect", [
    ("", r"1:1: the file is empty; it needs a JSON object with \"version\", \"role\" and "
         r"\"local_networks\" \(see vpcroute.conf\(5\)\)"),
    ("\n  \n", r"1:1: the file is empty; .*"),
    (b"\xef\xbb\xbf" + GOOD.encode(), r"1:1: the file begins with a UTF-8 byte order mark "
                                      r"\(BOM\), which JSON does not allow; save it as UTF-8 "
                                      r"without BOM"),
    (GOOD.replace('"version": 1,', '"version": 1, // schema'),
     r"2:17: JSON has no comments \(\"//\"\); write the note as a key that begins with '_', "
     r"e.g. \"_comment\": \"...\""),
    (GOOD.replace('  "role"', '  # the role\n  "role"'), r'3:3: JSON has no comments \("#"\).*'),
    (GOOD.replace('{\n', '{ /* office */\n'), r'1:3: JSON has no comments \("/\* \*/"\).*'),
    (GOOD.replace('24"]\n', '24"],\n'), r"4:39: trailing comma before '}': JSON allows no comma "
                                        r"after the last member; remove it"),
    (GOOD.replace('24"]', '24", ]'), r"4:38: trailing comma before '\]': JSON allows no comma "
                                     r"after the last element; remove it"),
    # port forwards (issue 17): range, duplicate listen, target reached, OpenVPN's port
    (GOOD.replace('24"]\n', '24"],\n  "port_forwards": [{"proto": "tcp", "port": 0, '
                  '"to": "192.168.1.5"}]\n'),
     r"5:38: port_forwards\[0\]\.port: port 0 is out of range \(1-65535\)"),
    (GOOD.replace('24"]\n', '24"],\n  "port_forwards": [{"proto": "udp", "port": 53, '
                  '"to": "192.168.1.5"},\n    {"proto": "udp", "port": 53, "to": "192.168.1.6"}]\n'),
     r"6:22: port_forwards\[1\]\.port: udp port 53 is already forwarded by port_forwards\[0\]"),
    (GOOD.replace('24"]\n', '24"],\n  "accept_routes": ["10.1.0.0/16"],\n  "port_forwards": '
                  '[{"proto": "tcp", "port": 80, "to": "172.16.0.5"}]\n'),
     r"6:50: port_forwards\[0\]\.to: 172\.16\.0\.5 is not inside a network vpcroute reaches "
     r"\(local_networks, accept_routes or tunnel_networks\)"),
    (GOOD.replace('24"]\n', '24"],\n  "openvpn": {"proto": "udp", "port": 1194},\n  '
                  '"port_forwards": [{"proto": "udp", "port": 1194, "to": "192.168.1.5"}]\n'),
     r"6:38: port_forwards\[0\]\.port: udp port 1194 is OpenVPN's own "
     r"\(openvpn\.proto/openvpn\.port\): a forward there would take its connections"),
])
def test_check_config_names_the_mistake(tmp_path, text, expect):
    r = check_config(tmp_path, text, "--offline")
    assert r.returncode == 1
    assert r.stdout == ""
    assert re.fullmatch(rf"\S+/vpcroute\.conf:{expect}\n", r.stderr), r.stderr


def test_good_file_loads(tmp_path):
    r = check_config(tmp_path, GOOD, "--offline")
    assert r.returncode == 0, r.stderr


# --- check-config against this host: warnings, not errors; --offline skips them ---------------

ABSENT_IF = "vrtest-absent0"  # no host has it
ABSENT_ID = "vrtest-no-such"  # no such user or group


def host_conf(out_interface, group, user, ovpn_group):
    return json.dumps({
        "version": 1, "role": "client", "local_networks": ["192.168.1.0/24"],
        "socket": {"group": group, "openvpn_user": user, "openvpn_group": ovpn_group},
        "nat": {"masquerade": [{"sources": ["192.168.1.0/24"], "out_interface": "lo"},
                               {"sources": ["10.9.0.0/16"], "out_interface": out_interface}]},
    })


def test_check_config_warns_about_what_this_host_lacks(tmp_path):
    r = check_config(tmp_path, host_conf(ABSENT_IF, ABSENT_ID, ABSENT_ID, ABSENT_ID), "-q")
    assert r.returncode == 0, r.stderr
    path = str(tmp_path / "vpcroute.conf")
    lines = r.stderr.splitlines()
    assert lines[-1] == f"{path}: configuration valid"
    warnings = lines[:-1]
    assert len(warnings) == 4, r.stderr
    assert re.fullmatch(rf'{re.escape(path)}: warning: nat\.masquerade\[1\]\.out_interface: no '
                        rf'interface "{ABSENT_IF}" on this host \(it has [^)]*\blo\b[^)]*\); name '
                        r'the interface to the outside; or check with --offline for another '
                        r'host', warnings[0]), warnings[0]
    for line, key, kind in zip(warnings[1:], ("socket.group", "socket.openvpn_user",
                                              "socket.openvpn_group"), ("group", "user", "group")):
        assert line.startswith(f'{path}: warning: {key}: no {kind} "{ABSENT_ID}" on this host; '
                               ), line
        assert line.endswith("or check with --offline for another host"), line


def test_check_config_offline_skips_the_host(tmp_path):
    r = check_config(tmp_path, host_conf(ABSENT_IF, ABSENT_ID, ABSENT_ID, ABSENT_ID), "-q",
                     "--offline")
    assert r.returncode == 0
    assert r.stderr == f"{tmp_path / 'vpcroute.conf'}: configuration valid\n"


def test_check_config_no_warning_for_what_exists(tmp_path):
    # lo and root (uid and gid 0) exist on every Linux host
    r = check_config(tmp_path, host_conf("lo", "root", "root", "root"), "-q")
    assert r.returncode == 0
    assert r.stderr == f"{tmp_path / 'vpcroute.conf'}: configuration valid\n"


# --- ipsec.peers keys: an address or an IKE identity, by the same rule in both -----------------

# (key, whether the loader takes it): the boundaries of lib/cfg.c's
# cfg_peer_key_id (identity or address) and load_peer (1 to 255 bytes, no
# control characters, not empty once "@" or "@@" is taken off)
PEER_KEYS = [
    ("203.0.113.7", True), ("203.0.113.07", False), ("256.0.0.1", False), ("1.2.3", False),
    ("1.2.3.4.5", False), ("2001:db8::1", True), ("2001:db8::12345", False),
    ("::ffff:198.51.100.1", True), ("::ffff:198.51.100.01", False), ("::", True),
    ("1:2:3:4:5:6:7::", True), ("1:2:3:4:5:6:7:8::", False), ("1:2:3:4:5:6:7:8:9", False),
    ("1:2:3:4:5:6:1.2.3.4", True), ("1:2:3:4:5:6:7:1.2.3.4", False), (":1::", False),
    ("", False), ("cafe", True), ("cafe::", True), ("1.2.3.4a", True),
    ("2001:db8::1/128", True), ("CN=site1, O=Example", True), ("@site1.example", True),
    ("@", False), ("@@", False), ("@@@", True), ("@#", True), ("@#00ff", True),
    ("site1@example.com", True), ("id:", False), ("id:@", False), ("id:@@", False),
    ("id:@x", True), ("id:203.0.113.9", True), ("id:id:x", True), ("id: ", True),
    ("a" * 255, True), ("a" * 256, False), ("id:" + "a" * 255, True),
    ("id:" + "a" * 256, False), ("site\t1", False), ("site1\n", False), ("site\x7f", False),
    ("id:\x1f", False), ("sit\u00e9", True), ("site\u2028", True),
]


def peer_key_conf(key):
    return {"version": 1, "role": "client", "local_networks": ["10.0.0.0/16"],
            "ipsec": {"vici_socket": "/run/charon.vici",
                      "peers": {key: {"allow": ["192.168.99.0/24"]}}}}


@pytest.mark.parametrize("key,ok", PEER_KEYS, ids=[repr(k[:20]) for k, _ in PEER_KEYS])
def test_peer_keys_schema_and_loader_agree(tmp_path, key, ok):
    conf = peer_key_conf(key)
    assert (errors(conf) == []) is ok, errors(conf)
    r = check_config(tmp_path, json.dumps(conf, indent=2), "--offline")
    assert r.returncode == (0 if ok else 1), r.stderr
    if not ok:
        assert re.search(r"ipsec\.peers\.", r.stderr), r.stderr


def test_peer_address_is_what_inet_pton_reads():
    """The schema's addresses of ipsec.peers against the C library's inet_pton
    (which lib/pfx.c calls), on every string of a few address-like shapes."""
    import itertools
    import socket
    addr = SCHEMA["$defs"]["peer_address"]
    v = jsonschema.Draft202012Validator(addr)
    parts = ["", "0", "00", "1", "255", "256", "ffff", "fffff", "1.2.3.4", "01.2.3.4"]
    seen = 0
    for n in range(1, 4):
        for combo in itertools.product(parts, repeat=n):
            for sep in (":", "::", "."):
                s = sep.join(combo)
                for text in (s, "::" + s, s + "::", "1:2:3:4:5:6:" + s, "1::" + s):
                    fam = socket.AF_INET6 if ":" in text else socket.AF_INET
                    try:
                        socket.inet_pton(fam, text)
                        want = True
                    except OSError:
                        want = False
                    assert v.is_valid(text) is want, text
                    seen += 1
    assert seen > 3000
