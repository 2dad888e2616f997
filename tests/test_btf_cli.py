"""`bpfinspect btf`: formats, filters, JSON, errors, start-up cost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from btf_util import VMLINUX, bpftool_dump
from conftest import BPFTOOL, FIXTURES

from bpfinspect.btf import load_btf
from bpfinspect.btf.raw import raw_records

pytestmark = pytest.mark.skipif(BPFTOOL is None, reason="bpftool (the reference) is not installed")

OBJ = FIXTURES / "bootstrap.bpf.o"


def cli(*args, check_rc: int | None = 0):
    # Always the renderer itself, never the rendering cache (tested in test_btf_cache.py).
    env = dict(os.environ, BPFINSPECT_NO_CACHE="1")
    r = subprocess.run([sys.executable, "-m", "bpfinspect", "btf", *map(str, args)], capture_output=True,
                       timeout=120, env=env)
    if check_rc is not None:
        assert r.returncode == check_rc, r.stderr.decode()
    return r


def test_default_is_raw_and_matches_bpftool():
    assert cli(OBJ).stdout == bpftool_dump(OBJ, "raw")
    assert cli(OBJ, "--format", "raw").stdout == bpftool_dump(OBJ, "raw")


def test_c_matches_bpftool():
    assert cli(OBJ, "--format", "c").stdout == bpftool_dump(OBJ, "c")


def test_json_types():
    doc = json.loads(cli(OBJ, "--json").stdout)
    assert doc["schema"] == 1
    assert doc["types"] == raw_records(load_btf(OBJ))
    assert any(t["kind"] == "STRUCT" and t["members"] for t in doc["types"])


def _raw_blocks(text: str) -> list[str]:
    blocks: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            blocks.append(line)
        else:
            blocks[-1] += line
    return blocks


def test_type_filter_raw():
    ref = _raw_blocks(bpftool_dump(OBJ, "raw").decode())
    named = [b for b in ref if b.split("\n")[0].split(" ", 2)[2].startswith("'task_struct'")]
    assert named
    assert cli(OBJ, "--type", "task_struct").stdout.decode() == "".join(named)
    structs = [b for b in named if b.split(" ")[1] == "STRUCT"]
    assert cli(OBJ, "--type", "struct task_struct").stdout.decode() == "".join(structs)


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang compiles the snippet")
def test_type_filter_c_is_self_contained(tmp_path):
    text = cli(OBJ, "--format", "c", "--type", "task_struct", "--no-guards").stdout.decode()
    assert "#ifndef" not in text and "struct task_struct {" in text
    src = tmp_path / "t.c"
    src.write_text(text + "int f(struct task_struct *t) { return t->pid; }\n")
    subprocess.run(["clang", "-target", "bpf", "-fsyntax-only", str(src)], check=True)


def test_usage_errors():
    r = cli(OBJ, "--format", "c", "--json", check_rc=2)
    assert b"text only" in r.stderr
    r = cli(OBJ, "--sorted", check_rc=2)
    assert b"--format c" in r.stderr
    r = cli(OBJ, "--type", "no_such_type_anywhere", check_rc=2)
    assert b"no type named" in r.stderr


def test_bad_inputs(tmp_path):
    r = cli(tmp_path / "missing.o", check_rc=2)
    assert r.stderr.count(b"\n") == 1 and b"no such file" in r.stderr
    legacy = FIXTURES / "legacy_maps.bpf.o"
    if legacy.exists():
        r = cli(legacy, check_rc=2)
        assert b"no .BTF" in r.stderr
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x9f\xeb\x01\x00" + b"\xff" * 40)
    r = cli(junk, "--format", "c", check_rc=2)
    assert b"Traceback" not in r.stderr and r.stderr.count(b"\n") == 1


def test_piped_output_does_not_import_rich():
    code = ("import sys; from bpfinspect.cli.main import main; rc = main(['btf', sys.argv[1], '--format', 'c']); "
            "sys.stderr.write('RICH=%s' % ('rich' in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code, str(OBJ)], capture_output=True, timeout=120)
    assert r.returncode == 0
    assert b"RICH=False" in r.stderr


@pytest.mark.skipif(not VMLINUX.exists(), reason="this kernel has no /sys/kernel/btf/vmlinux")
def test_vmlinux_through_the_command():
    assert cli(VMLINUX, "--format", "c").stdout == bpftool_dump(VMLINUX, "c")


def test_terminal_view_is_highlighted_and_keeps_the_text(monkeypatch):
    import io
    import re

    from bpfinspect.views import btf as view

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("BPFINSPECT_PLAIN", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    btf = load_btf(OBJ)
    ids = btf.find("trace_entry")
    assert ids
    for fmt, text in (("raw", view.raw(btf, [1, 2, 3] + ids)), ("c", view.c(btf, ids, guards=False))):
        assert text.strip()
        out = Tty()
        view.write_text(text, fmt, out)
        shown = out.getvalue()
        assert "\x1b[" in shown
        plain = re.sub(r"\x1b\[[0-9;]*m", "", shown)
        # A terminal shows tabs as spaces.
        assert [line.rstrip() for line in plain.rstrip("\n").splitlines()] == \
            [line.expandtabs(8).rstrip() for line in text.rstrip("\n").splitlines()]


def test_module_btf_gets_vmlinux_as_base_like_bpftool():
    from argparse import Namespace

    from bpfinspect.cli.cmd_btf import VMLINUX as SYS_VMLINUX, _base_for
    assert _base_for(Namespace(source="/sys/kernel/btf/nf_tables", base=None)) == SYS_VMLINUX
    assert _base_for(Namespace(source="/sys/kernel/btf/vmlinux", base=None)) is None
    assert _base_for(Namespace(source="/sys/kernel/btf/nf_tables", base="/tmp/other")) == "/tmp/other"
    assert _base_for(Namespace(source=str(OBJ), base=None)) is None
