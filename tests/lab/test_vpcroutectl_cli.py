# SPDX-License-Identifier: GPL-2.0-or-later
"""vpcroutectl's command line: help per command, one-line usage errors, suggestions for a
mistyped command, and the normalised configuration that it and `vpcroute-agent -n` print.

No agent and no network namespace: these run the built programs on files alone."""
import os
import re
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("VPCROUTE_BUILDDIR", TOP)
CTL = os.path.join(BUILD, "agent", "vpcroutectl")
AGENT = os.path.join(BUILD, "agent", "vpcroute-agent")
EXAMPLES = os.path.join(TOP, "doc", "examples")
COMMANDS = ["check-config", "status", "reload", "withdraw", "metrics", "ccd", "plan", "doctor",
            "bgp-config", "version"]


def run(prog, *args):
    if not os.access(prog, os.X_OK):
        pytest.fail(f"{prog} not built (scripts/check builds it; set VPCROUTE_BUILDDIR)")
    return subprocess.run([prog, *args], capture_output=True, text=True, timeout=10)


def ctl(*args):
    return run(CTL, *args)


def one_line(r):
    """The usage error: status 2, nothing on stdout, one line on stderr."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_usage_lists_each_command_on_one_line():
    usage = ctl("--help")
    assert usage.returncode == 0 and usage.stderr == ""
    for args in (["-h"], ["help"], ["help", "--help"], ["help", "-h"]):
        assert ctl(*args).stdout == usage.stdout, args
    listed = usage.stdout.split("commands:\n")[1].split("\n\n")[0].splitlines()
    assert [re.match(r"  ([a-z-]+)", line).group(1) for line in listed] == COMMANDS
    for line in listed:
        # name, options and operands, two spaces at least, a one-line description
        assert re.fullmatch(r"  [a-z-]+( \S+)*  +[a-z].*", line), line
    assert "vpcroutectl help COMMAND" in usage.stdout


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_of_one_command(cmd):
    r = ctl("help", cmd)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    first = r.stdout.splitlines()[0]
    assert re.fullmatch(rf"usage: vpcroutectl( \[-[fs] [A-Z]+\])* {cmd}( \S+)*", first), first
    assert "commands:" not in r.stdout  # that command's usage, not the whole usage
    assert re.search(r"^  -h, --help +print this help$", r.stdout, re.M), r.stdout
    for other in COMMANDS:
        if other != cmd:
            assert not re.search(rf"\b{other}\b", first)
    assert ctl(cmd, "--help").stdout == r.stdout
    assert ctl(cmd, "-h").stdout == r.stdout


def test_help_names_the_options_of_the_command():
    out = ctl("help", "status").stdout
    assert out.startswith("usage: vpcroutectl [-f FILE] [-s SOCKET] status [--json]\n")
    assert re.search(r"^  --json +print one JSON object", out, re.M), out
    out = ctl("help", "check-config").stdout
    assert out.startswith("usage: vpcroutectl [-f FILE] check-config [-q] [--offline] [--clients] [FILE]\n")
    assert re.search(r"^  -q +print only the verdict", out, re.M) and "-s SOCKET" not in out
    assert ctl("help", "ccd").stdout.startswith("usage: vpcroutectl [-f FILE] ccd NAME\n")
    for cmd in ("plan", "doctor"):
        out = ctl("help", cmd).stdout
        assert out.startswith(f"usage: vpcroutectl [-f FILE] [-s SOCKET] {cmd} [--json]\n")
        assert re.search(rf"^  --json +print one JSON object \(doc/{cmd}\.schema\.json\)$",
                         out, re.M), out
        assert os.path.exists(os.path.join(TOP, "doc", f"{cmd}.schema.json"))
    assert "4 when there are changes pending" in " ".join(ctl("help", "plan").stdout.split())
    # the help, even where the operands would be wrong
    assert ctl("ccd", "pi-home", "--help").stdout == ctl("help", "ccd").stdout


@pytest.mark.parametrize("args,problem,cmd", [
    (["status", "--jsn"], 'unknown option "--jsn"', "status"),
    (["status", "-x"], 'unknown option "-x"', "status"),
    (["status", "--json=yes"], 'option "--json" takes no argument', "status"),
    (["check-config", "--json"], 'unknown option "--json"', "check-config"),
    (["check-config", "-qz"], 'unknown option "-z"', "check-config"),
    (["reload", "--force"], 'unknown option "--force"', "reload"),
    (["ccd", "-n", "pi-home"], 'unknown option "-n"', "ccd"),
    (["--bogus", "status"], 'unknown option "--bogus"', None),
    (["-x"], 'unknown option "-x"', None),
    (["-f"], 'option "-f" needs an argument', None),
    (["status", "extra"], 'unexpected argument "extra"', "status"),
    (["check-config", "a.conf", "b.conf"], 'unexpected argument "b.conf"', "check-config"),
    (["ccd"], "NAME missing", "ccd"),
    (["help", "status", "plan"], 'help takes one command, not also "plan"', None),
])
def test_usage_error_is_one_line(args, problem, cmd):
    line = one_line(ctl(*args))
    where = f"vpcroutectl {cmd}" if cmd else "vpcroutectl"
    assert line == f'{where}: {problem}; see "{where} --help"'


@pytest.mark.parametrize("word,suggested", [
    ("stauts", "status"),   # two letters swapped
    ("reloa", "reload"),    # one missing
    ("doctorr", "doctor"),  # one added
    ("pln", "plan"),
    ("chek-config", "check-config"),
    ("Status", "status"),
    ("st", "status"),       # the beginning of a command
    ("ver", "version"),
    ("hlep", "help"),
])
def test_unknown_command_close_to_one(word, suggested):
    for args in ([word], ["help", word]):
        assert one_line(ctl(*args)) == (f'vpcroutectl: unknown command "{word}" '
                                        f'(did you mean "{suggested}"?); see "vpcroutectl --help"')


@pytest.mark.parametrize("word", ["frobnicate", "x", "zzzz", "stat-us-x", "c"])
def test_unknown_command_far_from_all(word):
    assert one_line(ctl(word)) == f'vpcroutectl: unknown command "{word}"; see "vpcroutectl --help"'


def test_options_after_operands_and_double_dash():
    conf = os.path.join(EXAMPLES, "topology-a-server.conf")
    r = ctl("check-config", conf, "-q", "--offline")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == f"{conf}: configuration valid\n"
    # after --, "-q" is the file
    r = ctl("check-config", "--", "-q")
    assert r.returncode == 1 and r.stderr.startswith("-q: ")


def test_no_command_prints_the_usage():
    r = ctl()
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == ctl("--help").stdout


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(EXAMPLES) if n.endswith(".conf")))
def test_agent_n_and_check_config_print_the_same(name):
    """One printer of the normalised configuration, for both programs."""
    path = os.path.join(EXAMPLES, name)
    a, c = run(AGENT, "-n", "-f", path), ctl("check-config", path)
    assert a.returncode == c.returncode == 0, a.stderr + c.stderr
    assert a.stdout == c.stdout and a.stdout.startswith("{\n  \"version\": 1,\n")
    assert a.stderr == c.stderr == f"{path}: configuration valid\n"


def test_bash_completion_after_help():
    """After help, the commands; after any command, its --help."""
    cases = [["help", ""], ["help", "status", ""]] + [[cmd, "--"] for cmd in COMMANDS]
    # one bash for all the cases: one line of completions each
    script = [f"source {os.path.join(TOP, 'completion', 'vpcroutectl')}"]
    for words in cases:
        quoted = " ".join(repr(w) for w in ["vpcroutectl", *words])
        script.append(f'COMP_WORDS=({quoted}); COMP_CWORD={len(words)}; _vpcroutectl; '
                      f'echo "${{COMPREPLY[*]}}"')
    out = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert sorted(out[0].split()) == sorted(COMMANDS)
    assert out[1] == ""
    for cmd, line in zip(COMMANDS, out[2:]):
        assert "--help" in line.split(), (cmd, line)


def test_check_config_warns_of_reserved_addresses(tmp_path):
    """EC2 reserves five addresses of every subnet: a configured one is named."""
    path = tmp_path / "aws.conf"
    path.write_text(
        '{"version":1,"role":"server","local_networks":["10.1.1.0/24"],'
        '"tunnel":{"pool":"10.1.2.0/24"},'
        '"nat":{"masquerade":[{"sources":["10.1.2.0/24"],"out_interface":"eth0",'
        '"snat_to":"10.1.1.2"}]},'
        '"default_client":{"allow":["192.168.0.0/16"],"to_local":[{"to":"10.1.1.255/32"},'
        '{"to":"10.1.1.4/32"}]},"aws":{"enabled":true}}')
    r = ctl("check-config", "-q", str(path))
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[-1] == f"{path}: configuration valid"
    assert lines[0].startswith(f"{path}: warning: nat[0].snat_to 10.1.1.2 is reserved by AWS "
                               "(DNS) of 10.1.1.0/24: EC2 reserves the first four and the last")
    assert "access rule to 10.1.1.255 is the broadcast address of 10.1.1.0/24" in lines[1]
    assert len(lines) == 3  # 10.1.1.4 is a host's


def test_version_options():
    version = ctl("version")
    assert version.returncode == 0 and re.fullmatch(r"vpcroutectl \S+\n", version.stdout)
    for opt in ("-V", "--version"):
        r = ctl(opt)
        assert (r.returncode, r.stdout, r.stderr) == (0, version.stdout, "")
        r = run(AGENT, opt)
        assert (r.returncode, r.stderr) == (0, "")
        assert r.stdout == version.stdout.replace("vpcroutectl", "vpcroute-agent")
    assert "-V" in ctl("--help").stdout and "--version" in run(AGENT, "--help").stdout


def stdin_ctl(text, *args):
    return subprocess.run([CTL, *args], input=text, capture_output=True, text=True, timeout=10)


def test_check_config_reads_standard_input(tmp_path):
    conf = os.path.join(EXAMPLES, "topology-a-server.conf")
    with open(conf) as f:
        text = f.read()
    r = stdin_ctl(text, "check-config", "-")
    assert r.returncode == 0 and r.stderr == "<stdin>: configuration valid\n", r.stderr
    assert r.stdout == ctl("check-config", conf).stdout
    # the errors name <stdin>, with line and column
    r = stdin_ctl('{\n  "version": 1,\n  "role": "server",,\n}\n', "check-config", "-")
    assert r.returncode == 1 and r.stdout == ""
    assert re.fullmatch(r"<stdin>:3:20: .*\n", r.stderr), r.stderr
    # bounded as a file is: 1 MiB
    r = stdin_ctl(" " * (1024 * 1024 + 1), "check-config", "-q", "-")
    assert (r.returncode, r.stderr) == (1, "<stdin>: larger than 1048576 bytes\n")
    # a file named "-" is ./-
    (tmp_path / "-").write_text(text)
    r = subprocess.run([CTL, "check-config", "./-"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stderr == "./-: configuration valid\n"


def client_names(path):
    import json
    with open(path) as f:
        return sorted(json.load(f).get("clients", {}))


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(EXAMPLES) if n.endswith(".conf")))
def test_check_config_lists_the_clients(name):
    path = os.path.join(EXAMPLES, name)
    r = ctl("check-config", "--clients", path)
    assert r.returncode == 0 and r.stderr == f"{path}: configuration valid\n"
    assert sorted(r.stdout.splitlines()) == client_names(path)


def test_bash_completion_of_client_names(tmp_path):
    conf = tmp_path / "vpcroute.conf"
    conf.write_text('{"version": 1, "role": "server", "local_networks": ["10.1.1.0/24"],'
                    ' "tunnel": {"pool": "10.1.2.0/24"},'
                    ' "clients": {"pi-home": {}, "pi-office": {}, "laptop": {}}}')
    script = os.path.join(TOP, "completion", "vpcroutectl")

    def complete(*words):
        quoted = " ".join(repr(w) for w in ["vpcroutectl", *words])
        code = (f"PATH={os.path.dirname(CTL)}:$PATH; source {script}; COMP_WORDS=({quoted}); "
                f"COMP_CWORD={len(words)}; _vpcroutectl; echo \"${{COMPREPLY[*]}}\"")
        return sorted(subprocess.run(["bash", "-c", code], capture_output=True, text=True,
                                     check=True).stdout.split())
    assert complete("-f", str(conf), "ccd", "") == ["laptop", "pi-home", "pi-office"]
    assert complete("-f", str(conf), "ccd", "pi-") == ["pi-home", "pi-office"]
    assert complete("-f", str(tmp_path / "nope.conf"), "ccd", "") == []
    for cmd in ("plan", "doctor", "status"):
        assert complete(cmd, "--") == ["--help", "--json"]
    assert complete("check-config", "--") == ["--clients", "--help", "--offline"]
    assert "-V" in complete("-")


def test_zsh_completion_beside_bash():
    """The zsh function knows what the table knows: every command, each one's options."""
    path = os.path.join(TOP, "completion", "_vpcroutectl")
    with open(path) as f:
        text = f.read()
    assert text.startswith("#compdef vpcroutectl\n")
    listed = re.findall(r"^\t\t'([a-z-]+):", text, re.M)
    assert sorted(listed) == sorted(COMMANDS + ["help"])
    for cmd in COMMANDS:
        about = ctl("help", cmd).stdout
        for opt in re.findall(r"^  (-[a-z]|--[a-z-]+) ", about, re.M):
            assert re.search(rf"'{opt}\+?\[|{{[^}}]*{opt}[,}}]", text), (cmd, opt)
    assert "check-config --clients" in text
    with open(os.path.join(TOP, "Makefile.am")) as f:
        assert "dist_zshcompletion_DATA = completion/_vpcroutectl" in f.read()
    subprocess.run([zsh(), "-n", path], check=True)


ZSH_COMPLETE = os.path.join(HERE, "vrlab", "zsh_complete.zsh")


def zsh():
    path = shutil.which("zsh")
    if not path:
        pytest.fail("zsh not installed (scripts/deps.sh installs it)")
    return path


def test_zsh_completion_offers(tmp_path):
    """What zsh's completion system offers, through the function as installed."""
    conf = tmp_path / "vpcroute.conf"
    conf.write_text('{"version": 1, "role": "server", "local_networks": ["10.1.1.0/24"],'
                    ' "tunnel": {"pool": "10.1.2.0/24"},'
                    ' "clients": {"pi-home": {}, "pi-office": {}, "laptop": {}}}')

    def offers(line):
        r = subprocess.run([zsh(), "-f", ZSH_COMPLETE, os.path.join(TOP, "completion"),
                            os.path.dirname(CTL), line], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
        return sorted(r.stdout.split())
    assert offers("vpcroutectl ") == sorted(COMMANDS + ["help"])
    assert offers("vpcroutectl st") == ["status"]
    assert offers("vpcroutectl help ") == sorted(COMMANDS)
    assert offers(f"vpcroutectl -f {conf} ccd ") == ["laptop", "pi-home", "pi-office"]
    assert offers(f"vpcroutectl -f {conf} ccd pi-") == ["pi-home", "pi-office"]
    assert offers(f"vpcroutectl -f {tmp_path}/nope.conf ccd ") == []
    for cmd in ("status", "plan", "doctor"):
        assert offers(f"vpcroutectl {cmd} --") == ["--help", "--json"]
    assert offers("vpcroutectl check-config --") == ["--clients", "--help", "--offline"]
    assert "-V" in offers("vpcroutectl -")
