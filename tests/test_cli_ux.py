"""What a new user meets first: help, --version, "did you mean", colours, completion, pager, widths."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT
from pty_util import run_on_pty, visible

ESC = "\x1b["


def cli(*args, env=None, input=None):
    full = {k: v for k, v in os.environ.items()
            if k not in ("NO_COLOR", "FORCE_COLOR", "BPFINSPECT_PLAIN", "COLUMNS", "PAGER", "BPFINSPECT_PAGER")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "bpfinspect", *args], capture_output=True, text=True,
                          cwd=ROOT, env=full, input=input)


def commands() -> list[str]:
    from bpfinspect.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return list(sub.choices)


# ------------------------------------------------------------------ help


@pytest.mark.parametrize("command", commands())
def test_every_command_help_explains_and_gives_examples(command):
    p = cli(command, "--help", env={"COLUMNS": "100"})
    assert p.returncode == 0, p.stderr
    text = p.stdout
    assert text.startswith(f"usage: bpfinspect {command}")
    assert "examples:" in text or command == "relocs" and "examples" in text
    assert re.search(r"[Ee]xit status: 0 ", text), "exit codes are documented"
    assert "--color" in text and "--no-pager" in text
    # a description of at least a sentence beyond the usage block
    description = text.split("\n\n")[1]
    assert len(description.split()) >= 8, description
    for line in text.splitlines():
        assert len(line) <= 100, line


def test_load_help_names_the_privileges():
    text = cli("load", "--help").stdout
    assert "CAP_BPF" in text and "root" in text and "tracefs" in text
    assert text.count("exit status") + text.count("Exit status") == 1


def test_help_lists_the_columns_of_table_commands():
    for command, column in (("progs", "Insns"), ("maps", "Max"), ("sections", "Flags"), ("globals", "Initial")):
        assert f"{column}" in cli(command, "--help").stdout.split("examples:")[0].split("options:")[1]


def test_version_names_the_libraries_kernel_and_python():
    from bpfinspect import __version__

    p = cli("--version")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == f"bpfinspect {__version__}"
    fields = dict(line.split(":", 1) for line in lines[1:])
    assert set(fields) == {"libbpf", "libclang", "kernel", "python", "engine"}
    # libbpf: the version this process loads, from the file it maps
    m = re.fullmatch(r"\s*(\d+\.\d+(?:\.\d+)?) \((/\S+)\)", fields["libbpf"])
    assert m, fields["libbpf"]
    assert os.path.exists(m.group(2)) and os.path.basename(m.group(2)).startswith("libbpf.so")
    from bpfinspect.runtime._lib import lib
    assert m.group(1).startswith("%d.%d" % lib().version)
    if os.path.realpath(m.group(2)).endswith(".so." + m.group(1)):
        pass  # the patch level comes from the file name
    assert re.fullmatch(r"\s*\d+\.\d+\.\d+.* \(/\S+libclang\S*\)", fields["libclang"]), fields["libclang"]
    u = os.uname()
    assert fields["kernel"].split() == [u.sysname, u.release, u.machine]
    assert fields["python"].split()[0] == platform.python_version()
    # engine: how that process runs the BTF engine (bpfinspect/compiled.py; `cli` runs the
    # checkout, the source engine; bpfinspect's own command runs the install)
    assert fields["engine"].strip() == "Python source (not compiled)"
    installed = subprocess.run([sys.executable, "-P", "-m", "bpfinspect", "--version"], capture_output=True,
                               text=True, cwd="/", check=True).stdout
    described = subprocess.run([sys.executable, "-P", "-c", "import bpfinspect.compiled as c; print(c.describe())"],
                               capture_output=True, text=True, cwd="/", check=True).stdout.strip()
    assert f"engine:   {described}\n" in installed


# ------------------------------------------------------------------ did you mean


@pytest.mark.parametrize("args, expected", [
    (["prgos", "x.o"], "did you mean 'progs'"),
    (["dissasm", "x.o"], "did you mean 'disasm'"),
    (["gen-skell", "x.o"], "did you mean 'gen-skel'"),
    (["disasm", "fixtures/bootstrap.bpf.o", "--prog", "handle_exex"], "did you mean 'handle_exec'"),
    (["disasm", "fixtures/bootstrap.bpf.o", "--section", "tp/sched/sched_process_exex"],
     "did you mean 'tp/sched/sched_process_exec'"),
    (["core", "fixtures/core.bpf.o", "--prog", "recrod"], "did you mean 'record'"),
    (["maps", "fixtures/bootstrap.bpf.o", "--type", "rbb=struct event"], "did you mean 'rb'"),
    (["btf", "fixtures/btf_shapes.bpf.o", "--type", "struct shapez"], "did you mean"),
    (["progs", "fixtures/bootstrap.bpf.o", "--color", "alwayz"], "did you mean 'always'"),
    (["completion", "bsh"], "did you mean 'bash'"),
])
def test_did_you_mean(args, expected):
    p = cli(*args)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert expected in p.stderr, p.stderr
    assert p.stdout == "" and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_did_you_mean_for_load_prog():
    from conftest import bpf_syscall_reason

    p = cli("load", "fixtures/bootstrap.bpf.o", "--prog", "handle_exex")
    reason = bpf_syscall_reason()
    if reason:
        pytest.skip(reason)
    assert p.returncode == 2 and "did you mean 'handle_exec'" in p.stderr, p.stderr


def test_did_you_mean_btf_type_names_a_real_one():
    from bpfinspect.btf import load_btf
    from bpfinspect.views.btf import find_named

    p = cli("btf", "fixtures/btf_shapes.bpf.o", "--type", "struct shapez")
    suggested = re.findall(r"'([^']+)'", p.stderr.split("did you mean", 1)[1])
    table = load_btf(str(FIXTURES / "btf_shapes.bpf.o")).table
    assert suggested and all(find_named(table, s) for s in suggested)


# ------------------------------------------------------------------ colour

OBJ = "fixtures/bootstrap.bpf.o"


@pytest.mark.parametrize("command", [["progs", OBJ], ["maps", OBJ], ["disasm", OBJ, "--prog", "handle_exit"],
                                     ["info", OBJ], ["btf", OBJ, "--format", "c"]])
def test_colour_when_piped_follows_the_flag_and_the_environment(command):
    assert ESC not in cli(*command).stdout  # piped: plain
    assert ESC in cli(*command, "--color=always").stdout
    assert ESC in cli("--color", "always", *command).stdout  # before the command too
    assert ESC in cli(*command, env={"FORCE_COLOR": "1"}).stdout
    assert ESC not in cli(*command, env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
    assert ESC in cli(*command, "--color=always", env={"NO_COLOR": "1"}).stdout  # the flag wins


def test_colour_on_a_terminal():
    code, out = run_on_pty(["progs", OBJ, "--no-pager"], columns=200)
    assert code == 0 and ESC in out
    code, out = run_on_pty(["progs", OBJ, "--no-pager"], columns=200, env={"NO_COLOR": "1"})
    assert code == 0 and ESC not in out and "handle_exec" in out
    code, out = run_on_pty(["progs", OBJ, "--no-pager", "--color=never"], columns=200)
    assert code == 0 and ESC not in out and "handle_exec" in out


def test_forced_colour_keeps_the_same_text():
    plain = cli("progs", OBJ, env={"COLUMNS": "300"}).stdout
    coloured = cli("progs", OBJ, "--color=always", env={"COLUMNS": "300"}).stdout
    words = lambda s: re.sub(r"\x1b\[[0-9;]*m", "", s).split()  # noqa: E731
    # the same words (a cell may wrap inside its column, so compare them as a multiset)
    assert sorted(words(plain)) == sorted(w for w in words(coloured) if set(w) - set("─-"))


# ------------------------------------------------------------------ completion

OBJECT_DIR_FILES = ("a.bpf.o", "b.o", "notes.txt", "prog.bpf.c", "helper.h")


@pytest.fixture
def completion_dir(tmp_path):
    d = tmp_path / "work"
    d.mkdir()
    for name in OBJECT_DIR_FILES:
        (d / name).write_bytes(b"")
    (d / "sub").mkdir()
    return d


def _bin_dir(tmp_path):
    """A PATH entry with `bpfinspect` running this checkout with this Python."""
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    script = d / "bpfinspect"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -m bpfinspect \"$@\"\n")
    script.chmod(0o755)
    return d


def bash_complete(tmp_path, cwd, line: str) -> list[str]:
    script = cli("completion", "bash").stdout
    (tmp_path / "c.bash").write_text(script)
    driver = f"""
source {tmp_path / 'c.bash'}
cd {cwd}
COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}
read -ra COMP_WORDS <<<"$COMP_LINE"
[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${{#COMP_WORDS[@]}}-1))
complete -p bpfinspect >/dev/null || exit 9
fn=$(complete -p bpfinspect | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p')
$fn bpfinspect "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    env = dict(os.environ, PATH=f"{_bin_dir(tmp_path)}:{os.environ['PATH']}", PYTHONPATH=str(ROOT))
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", driver], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    return [w.strip() for w in p.stdout.splitlines() if w.strip()]


def test_bash_completion_commands_options_and_files(tmp_path, completion_dir):
    got = bash_complete(tmp_path, completion_dir, "bpfinspect pro")
    assert set(got) == {"progs", "probe"}
    got = bash_complete(tmp_path, completion_dir, "bpfinspect gen")
    assert set(got) == {"gen", "gen-skel"}
    got = bash_complete(tmp_path, completion_dir, "bpfinspect progs --")
    assert {"--json", "--color", "--no-pager", "--help"} <= set(got)
    got = bash_complete(tmp_path, completion_dir, "bpfinspect progs ")
    assert set(got) == {"a.bpf.o", "b.o", "sub/"}, got
    got = bash_complete(tmp_path, completion_dir, "bpfinspect disasm a")
    assert got == ["a.bpf.o"]
    got = bash_complete(tmp_path, completion_dir, "bpfinspect expand ")
    assert set(got) == {"prog.bpf.c", "sub/"}, got
    got = bash_complete(tmp_path, completion_dir, "bpfinspect progs --color ")
    assert set(got) == {"auto", "always", "never"}
    got = bash_complete(tmp_path, completion_dir, "bpfinspect completion ")
    assert set(got) == {"bash", "zsh", "fish"}


def test_completion_does_not_slow_a_normal_run():
    """argcomplete is imported only when the shell asks for completions."""
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "bpfinspect", "progs", str(FIXTURES / "kprobe.bpf.o")],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0
    assert "argcomplete" not in p.stderr and "difflib" not in p.stderr


@pytest.mark.parametrize("shell, check", [("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])])
def test_zsh_and_fish_scripts_parse(tmp_path, shell, check):
    if not shutil.which(check[0]):
        pytest.skip(f"{check[0]} is not installed (scripts/setup.sh installs it)")
    p = cli("completion", shell)
    assert p.returncode == 0 and "bpfinspect" in p.stdout
    path = tmp_path / f"c.{shell}"
    path.write_text(p.stdout)
    r = subprocess.run([*check, str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_fish_completion_lists_objects(tmp_path, completion_dir):
    if not shutil.which("fish"):
        pytest.skip("fish is not installed (scripts/setup.sh installs it)")
    (tmp_path / "c.fish").write_text(cli("completion", "fish").stdout)
    env = dict(os.environ, PATH=f"{_bin_dir(tmp_path)}:{os.environ['PATH']}", PYTHONPATH=str(ROOT))
    r = subprocess.run(["fish", "--no-config", "-c",
                        f"source {tmp_path / 'c.fish'}; cd {completion_dir}; complete -C 'bpfinspect progs '"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    got = {line.split("\t")[0] for line in r.stdout.splitlines()}
    assert got == {"a.bpf.o", "b.o", "sub/"}, r.stdout


# ------------------------------------------------------------------ pager

MARK = "PAGED> "


def _marking_pager(tmp_path) -> str:
    script = tmp_path / "pager.sh"
    script.write_text(f"#!/bin/sh\necho pager-started\nexec sed 's/^/{MARK}/'\n")
    script.chmod(0o755)
    return str(script)


def test_long_output_on_a_terminal_goes_through_the_pager(tmp_path):
    code, out = run_on_pty(["disasm", OBJ], rows=20, env={"PAGER": _marking_pager(tmp_path)})
    text = visible(out)
    assert code == 0 and "pager-started" in text
    lines = [line for line in text.splitlines() if line.strip() and "pager-started" not in line]
    assert lines and all(line.startswith(MARK) for line in lines), lines[:5]
    # everything arrived, in order: the same text as piped
    piped = cli("disasm", OBJ, "--color=never").stdout
    # (a line wider than the terminal is wrapped between words there)
    assert " ".join(line[len(MARK):] for line in lines).split() == piped.split()


def test_short_output_is_not_paged(tmp_path):
    code, out = run_on_pty(["info", "fixtures/kprobe.bpf.o"], rows=60, env={"PAGER": _marking_pager(tmp_path)})
    assert code == 0 and "pager-started" not in out and "kprobe_bpf" in out


@pytest.mark.parametrize("how", [["--no-pager"], ["--no-pager", "--"], "PAGER=cat", "BPFINSPECT_PAGER="])
def test_no_pager(tmp_path, how):
    env = {"PAGER": _marking_pager(tmp_path)}
    args = ["disasm", OBJ]
    if isinstance(how, str):
        k, v = how.split("=")
        env[k] = v
    else:
        args = ["--no-pager", *args] if how == ["--no-pager", "--"] else [*args, *how]
    code, out = run_on_pty(args, rows=20, env=env)
    assert code == 0 and "pager-started" not in out and "handle_exit" in out


def test_piped_output_is_never_paged(tmp_path):
    p = cli("disasm", OBJ, env={"PAGER": _marking_pager(tmp_path)})
    assert p.returncode == 0 and "pager-started" not in p.stdout and MARK not in p.stdout


def test_default_pager_is_less_and_keeps_colours(tmp_path):
    if not shutil.which("less"):
        pytest.skip("less is not installed (scripts/setup.sh installs it)")
    code, out = run_on_pty(["disasm", OBJ], rows=20, keys=[(3.0, b"q")])
    assert code == 0
    assert "\x1b[?1h" in out or "\x1b=" in out  # less's keypad mode: less ran (-X keeps the screen)
    assert "\x1b[1;4m" in out or "\x1b[1m" in out  # colours went through (-R)
    assert "handle_exec" in visible(out)


def test_quitting_the_pager_early_is_not_an_error(tmp_path):
    script = tmp_path / "head.sh"
    script.write_text("#!/bin/sh\nhead -n 3\n")
    script.chmod(0o755)
    for command in (["btf", "fixtures/bootstrap.bpf.o"], ["disasm", OBJ], ["progs", "fixtures/sections.bpf.o"]):
        code, out = run_on_pty(command, rows=10, env={"PAGER": str(script)})
        assert code == 0 and "Traceback" not in out and "bpfinspect:" not in out, (command, out[-300:])


# ------------------------------------------------------------------ tables that fit


@pytest.mark.parametrize("columns", [80, 100])
@pytest.mark.parametrize("command", ["progs", "maps", "sections", "globals", "info", "relocs"])
@pytest.mark.parametrize("obj", ["bootstrap.bpf.o", "calls.bpf.o", "maps.bpf.o"])
def test_tables_fit_the_terminal_without_cutting_words(columns, command, obj, monkeypatch):
    code, out = run_on_pty([command, f"fixtures/{obj}", "--no-pager"], columns=columns, rows=500)
    assert code == 0, out
    text = visible(out)
    for line in text.splitlines():
        assert len(line.rstrip()) <= columns, (len(line), line)
    # every word of every cell arrives whole (wrapping happens only between words)
    import importlib

    from bpfinspect.obj import open_object
    from bpfinspect.views.table import Fields, Table

    monkeypatch.chdir(ROOT)
    blocks = importlib.import_module(f"bpfinspect.views.{command}").blocks(open_object(f"fixtures/{obj}"))
    cells = [c for b in blocks if isinstance(b, Table) for row in b.rows for c in row]
    cells += [v for b in blocks if isinstance(b, Fields) for _, v in b.items]
    shown = set(re.split(r"[\s│─]+", text))
    assert cells
    for word in {w for c in cells for w in c.split()}:
        if len(word) < columns - 30:
            assert word in shown, word


@pytest.mark.parametrize("columns", [80, 100])
def test_disasm_fits_the_terminal(columns):
    code, out = run_on_pty(["disasm", OBJ, "--no-pager"], columns=columns, rows=1000)
    text = visible(out)
    assert code == 0 and all(len(line.rstrip()) <= columns for line in text.splitlines())
    assert text.split() == cli("disasm", OBJ).stdout.split()  # wrapped between words only


def test_records_layout_wraps_values_beside_their_label():
    code, out = run_on_pty(["progs", "fixtures/bootstrap.bpf.o", "--no-pager"], columns=80)
    lines = visible(out).splitlines()
    i = next(n for n, line in enumerate(lines) if "Helpers / kfuncs:" in line)
    indent = lines[i].index("bpf_")
    assert lines[i + 1][:indent].strip() == "" and lines[i + 1][indent:indent + 4] == "bpf_"


# ------------------------------------------------------------------ probe kinds in progs


@pytest.mark.parametrize("obj, expected", [
    ("kprobe.bpf.o", {"do_unlinkat": ("kprobe", False), "do_unlinkat_exit": ("kretprobe", True)}),
    ("bootstrap.bpf.o", {"handle_exec": ("tracepoint", None), "handle_exit": ("tracepoint", None)}),
])
def test_progs_attach_kind_and_retprobe(obj, expected):
    import json

    doc = json.loads(cli("progs", f"fixtures/{obj}", "--json").stdout)
    got = {p["name"]: (p["attach_kind"], p["retprobe"]) for p in doc["programs"]}
    assert got == expected
    table = cli("progs", f"fixtures/{obj}").stdout
    for name, (kind, _) in expected.items():
        assert re.search(rf"^{name}\s.*\s{re.escape(kind)}\s", table, re.M), table


def test_progs_every_probe_kind_of_the_sections_fixture():
    import json

    from bpfinspect.sections.table import RETPROBE

    doc = json.loads(cli("progs", "fixtures/sections.bpf.o", "--json").stdout)
    kinds = {p["section"].lstrip("?").split("/")[0]: (p["attach_kind"], p["retprobe"]) for p in doc["programs"]}
    for prefix, (kind, ret) in kinds.items():
        if kind in RETPROBE:  # a probe: return probe exactly for the "ret" prefixes libbpf checks
            assert ret == ("ret" in prefix), prefix
        else:
            assert ret is None, prefix


# ------------------------------------------------------------------ strings


def _printk_formats(source: str) -> list[str]:
    text = (FIXTURES / "src" / source).read_text()
    return [bytes(m, "utf-8").decode("unicode_escape") for m in re.findall(r'bpf_printk\("((?:[^"\\]|\\.)*)"', text)]


def test_disasm_notes_show_printk_formats_as_c_strings():
    import json

    formats = _printk_formats("kprobe.bpf.c")
    assert formats
    text = cli("disasm", "fixtures/kprobe.bpf.o").stdout
    for f in formats:
        assert f'; "{f}"' in text, f
    doc = json.loads(cli("disasm", "fixtures/kprobe.bpf.o", "--json").stdout)
    notes = [a for p in doc["programs"] for i in p["instructions"] for a in i["annotations"] if "string" in a]
    assert {a["string"] for a in notes} == set(formats)


def test_globals_show_char_arrays_as_c_strings():
    import json

    formats = _printk_formats("kprobe.bpf.c")
    text = cli("globals", "fixtures/kprobe.bpf.o").stdout
    for f in formats:
        assert f'"{f}"' in text
    doc = json.loads(cli("globals", "fixtures/kprobe.bpf.o", "--json").stdout)
    strings = [v["string"] for s in doc["sections"] for v in s["variables"] if v["string"] is not None]
    assert sorted(strings) == sorted(formats)
    # the bytes are those llvm-readelf dumps for .rodata (the contract's hex stays)
    for s in doc["sections"]:
        for v in s["variables"]:
            if v["string"] is not None:
                assert bytes.fromhex(v["initial"]).rstrip(b"\0").decode() == v["string"]


def test_readable_string_escapes():
    from bpfinspect.quote.c import readable_string, string_at

    assert readable_string(b'a "b" \\ c\n\t\x01\xff') == '"a \\"b\\" \\\\ c\\n\\t\\001\\377"'
    assert readable_string(b"abcdef", limit=3) == '"abc"...'
    assert string_at(b"ab\0cd\0", 3) == b"cd"
    assert string_at(b"\x01\x02\0") is None and string_at(b"no end") is None and string_at(b"\0") is None
