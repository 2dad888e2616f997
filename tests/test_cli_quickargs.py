"""cli.quickargs reads the inspection commands' usual command lines as argparse does, and leaves
every other line to argparse."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfinspect.cli import quickargs
from bpfinspect.cli.main import build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Tokens an argv is drawn from: the options and their values, objects, and what must go to argparse.
_TOKENS = ["a.o", "b.o", "x y.o", "", "--json", "-j", "--jobs", "--jobs=2", "--jobs=0", "--jobs=x", "-j2", "-j=2",
           "2", "0", "1", "-1", "+2", "\u0663", "--color", "--color=always", "--color=never", "--color=blue", "auto",
           "always", "--colour", "--col", "--no-pager", "--no-p", "--js", "-h", "--help", "--", "-", "-x",
           "--version", "sections", "info", "relocs", "globals", "disasm", "btf"]
# The options of the commands that have more than the common ones, with values for them.
_MORE = {
    "disasm": ["--prog", "--prog=p", "--section", "--section=.text", "p", "xdp", "--no-annotate", "--plain",
               "--no-ann", "--prog="],
    "btf": ["--format", "--format=c", "--format=raw", "--format=C", "c", "raw", "--type", "--type=struct x",
            "struct task_struct", "--base", "--base=/sys/kernel/btf/vmlinux", "--sorted", "--no-guards",
            "--form"],
    "gen-skel": ["--lang", "--lang=c", "--lang=python", "--lang=C", "c", "python", "--name", "--name=x", "--name=",
                 "n", "--types", "--types=1", "--type", "--type=struct e", "struct e", "events=struct e",
                 "--strip-debug", "-o", "-o=x.h", "-ox.h", "--output", "--output=x.h", "x.h", "--header",
                 "--header=h.h", "-I", "-Iinc", "-D", "-DX=1", "--arch", "--arch=x86", "x86", "--lan", "--typ",
                 "--out"],
}


def _argparse(argv: list[str]):
    """argparse's namespace of ``argv`` (without ``run``), or the exit status it stopped with."""
    parser = build_parser(argv[0].replace("-", "_") if argv and argv[0] in quickargs.COMMANDS else None,
                          texts=False)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code
    return {k: v for k, v in vars(args).items() if k != "run"}


@settings(max_examples=4000, deadline=None)
@given(before=st.lists(st.sampled_from(["--no-pager", "--color", "always", "--color=never", "-j", "--json"]),
                       max_size=3),
       command=st.sampled_from(quickargs.COMMANDS),
       data=st.data())
def test_a_line_quickargs_reads_is_read_as_argparse_reads_it(before, command, data):
    rest = data.draw(st.lists(st.sampled_from(_TOKENS + _MORE.get(command, [])), max_size=8))
    argv = [*before, command, *rest]
    quick = quickargs.parse(argv)
    if quick is None:
        return
    assert vars(quick) == _argparse(argv), argv


@pytest.mark.parametrize("argv", [
    ["sections", "a.o"],
    ["sections", "--json", "a.o", "b.o"],
    ["info", "a.o", "b.o", "--json", "-j", "2"],
    ["--color", "never", "relocs", "--no-pager", "a.o"],
    ["--no-pager", "sections", "--color=always", "a.o", "--jobs=0"],
    ["sections", "--color", "auto", "--jobs", "3", "a.o"],
    ["disasm", "a.o"],
    ["disasm", "--prog", "p", "--no-annotate", "a.o", "--json"],
    ["disasm", "--section=.text", "--plain", "a.o", "b.o"],
    ["btf", "/sys/kernel/btf/vmlinux", "--format", "c"],
    ["btf", "--format=raw", "--type", "struct task_struct", "--sorted", "--no-guards", "a.o"],
    ["btf", "--base", "/sys/kernel/btf/vmlinux", "/sys/kernel/btf/nf_tables", "--json"],
    ["gen-skel", "a.o"],
    ["gen-skel", "--lang", "python", "a.o", "-o", "a_skel.py"],
    ["gen-skel", "a.o", "--lang=c", "--types", "--name", "skel", "--output=a.skel.h", "--strip-debug"],
    ["gen-skel", "--type", "struct event", "--type=events=struct event", "a.o", "--color", "never"],
])
def test_the_usual_lines_are_read_without_argparse(argv):
    quick = quickargs.parse(argv)
    assert quick is not None
    assert vars(quick) == _argparse(argv)


@pytest.mark.parametrize("argv", [
    ["sections"], ["sections", "-h"], ["sections", "--js", "a.o"], ["sections", "a.o", "--json", "b.o"],
    ["sections", "--", "a.o"], ["sections", "-j", "x", "a.o"], ["sections", "--color", "blue", "a.o"],
    ["sections", "-", "a.o"], ["globals", "a.o"], ["progs", "a.o"], ["--version"], [],
    ["disasm", "--prog", "p", "--section", "s", "a.o"], ["disasm", "--json", "--plain", "a.o"],
    ["disasm", "--prog", "-x", "a.o"], ["btf", "--format", "h", "a.o"], ["btf", "--format"], ["btf", "--form=c", "a.o"],
    ["gen-skel", "a.o", "b.o"], ["gen-skel", "-j", "2", "a.o"], ["gen-skel", "--json", "a.o"],
    ["gen-skel", "--header", "h.h", "a.o"], ["gen-skel", "-I", "inc", "a.o"], ["gen-skel", "-o=x.h", "a.o"],
    ["gen-skel", "--lang", "rust", "a.o"], ["gen-skel", "--lan", "c", "a.o"], ["gen_skel", "a.o"],
])
def test_other_lines_go_to_argparse(argv):
    assert quickargs.parse(argv) is None


@pytest.mark.parametrize("argv,unused", [
    (["sections", "fixtures/bootstrap.bpf.o"], ("argparse", "re", "threading", "typing")),
    (["gen-skel", "fixtures/bootstrap.bpf.o"], ("argparse", "gettext", "locale")),   # (jinja2 brings re)
])
def test_a_quick_command_imports_neither_argparse_nor_re_nor_threading(argv, unused):
    code = (f"import sys, runpy; sys.argv = ['bpfinspect', *{argv!r}];\n"
            "from bpfinspect.__main__ import run\n"
            "import contextlib, io\n"
            "with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO())): code = run()\n"
            f"print(code, sorted(m for m in {unused!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "[]"], out.stdout + out.stderr


def test_quick_and_argparse_runs_print_the_same(tmp_path):
    """The same command through both readers (``--col`` is an abbreviation only argparse takes)."""
    def run(*argv):
        return subprocess.run([sys.executable, "-m", "bpfinspect", *argv], cwd=ROOT, capture_output=True)

    for obj in ("fixtures/bootstrap.bpf.o", "fixtures/maps.bpf.o"):
        for command in quickargs.COMMANDS:
            options = ("--lang", "python") if command == "gen-skel" else ("--json",)
            a = run(command, *options, obj)
            b = run(command, "--col=never", *options, obj)
            assert a.returncode == b.returncode == 0
            assert a.stdout == b.stdout and a.stderr == b.stderr


def test_a_huge_job_count_goes_to_argparse():
    """int() refuses numbers of over 4,300 digits: such a line is argparse's, whose error it is."""
    argv = ["sections", "-j", "1" * 5000, "fixtures/bootstrap.bpf.o"]
    assert quickargs.parse(argv) is None
    res = subprocess.run([sys.executable, "-m", "bpfinspect", *argv], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.splitlines()) == 1 and "not a number of processes" in res.stderr


def test_a_failing_quick_reader_leaves_the_line_to_argparse(monkeypatch):
    from bpfinspect.cli import main as cli_main

    def broken(argv):
        raise ValueError("a defect of the shortcut")

    monkeypatch.setattr(quickargs, "parse", broken)
    assert cli_main._quick_args(["sections", "a.o"]) is None


# -- the end of a command-line run ------------------------------------------------------------

_FREEZE_PROBE = """
import gc, io, sys, contextlib
sys.argv = ["bpfinspect", *sys.argv[1:]]
from bpfinspect.__main__ import run
with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO())):
    code = run()
print(code, gc.get_freeze_count() > 0, file=sys.stderr)
"""


@pytest.mark.parametrize("argv,code,frozen", [
    (["sections", "fixtures/bootstrap.bpf.o"], 0, True),
    (["disasm", "--prog", "handle_exec", "fixtures/bootstrap.bpf.o"], 0, True),
    (["gen-skel", "fixtures/bootstrap.bpf.o"], 0, True),
    (["completion", "bash"], 0, False),           # not a command known to leave nothing behind
    (["sections", "fixtures/no-such.bpf.o"], 2, False),   # failed: nothing more to save
])
def test_a_whole_process_run_of_an_inspection_command_ends_with_the_collector_frozen(argv, code, frozen):
    """What an inspection command made is not scanned by the cycle collector again before the
    process exits (gc.freeze); other commands, and failed runs, end as before."""
    res = subprocess.run([sys.executable, "-c", _FREEZE_PROBE, *argv], cwd=ROOT, capture_output=True, text=True)
    assert res.stderr.strip().splitlines()[-1].split() == [str(code), str(frozen)], res.stderr


def test_main_called_from_python_leaves_the_collector_alone():
    import gc

    from bpfinspect.cli.main import main

    before = gc.get_freeze_count()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["sections", os.path.join(ROOT, "fixtures", "bootstrap.bpf.o")]) == 0
    assert gc.get_freeze_count() == before and gc.isenabled()
