"""The rendering cache of `bpfinspect btf`: same bytes as a cold run (and as bpftool), keyed, opt-out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from btf_util import VMLINUX, bpftool_dump
from conftest import BPFTOOL, FIXTURES

pytestmark = [
    pytest.mark.skipif(BPFTOOL is None, reason="bpftool (the reference) is not installed"),
    pytest.mark.skipif(not VMLINUX.exists(), reason="this kernel has no /sys/kernel/btf/vmlinux"),
]


def cli(cache_home, *args, no_cache: bool = False) -> bytes:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home))
    env.pop("BPFINSPECT_NO_CACHE", None)
    if no_cache:
        env["BPFINSPECT_NO_CACHE"] = "1"
    r = subprocess.run([sys.executable, "-m", "bpfinspect", "btf", *map(str, args)], capture_output=True,
                       timeout=120, env=env)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout


def kept(cache_home) -> list[str]:
    d = cache_home / "bpfinspect" / "btf"
    return sorted(os.listdir(d)) if d.exists() else []


def test_warm_run_prints_the_same_bytes_as_bpftool(tmp_path):
    ref = bpftool_dump(VMLINUX, "c")
    cold = cli(tmp_path, VMLINUX, "--format", "c")
    assert cold == ref
    files = kept(tmp_path)
    assert len(files) == 1
    assert (tmp_path / "bpfinspect" / "btf" / files[0]).read_bytes() == ref
    assert cli(tmp_path, VMLINUX, "--format", "c") == ref
    assert kept(tmp_path) == files


def test_options_and_formats_are_part_of_the_key(tmp_path):
    cli(tmp_path, VMLINUX, "--format", "c")
    no_guards = cli(tmp_path, VMLINUX, "--format", "c", "--no-guards")
    assert len(kept(tmp_path)) == 2
    assert no_guards == cli(tmp_path, VMLINUX, "--format", "c", "--no-guards", no_cache=True)
    assert not no_guards.startswith(b"#ifndef __VMLINUX_H__")
    assert cli(tmp_path, VMLINUX, "--format", "raw") == bpftool_dump(VMLINUX, "raw")
    assert len(kept(tmp_path)) == 3


def test_the_key_is_what_is_read(tmp_path):
    cli(tmp_path, VMLINUX, "--format", "c")
    (name,) = kept(tmp_path)
    (tmp_path / "bpfinspect" / "btf" / name).write_bytes(b"kept\n")
    assert cli(tmp_path, VMLINUX, "--format", "c") == b"kept\n"


def test_a_changed_renderer_changes_the_key(tmp_path, monkeypatch):
    from argparse import Namespace

    from bpfinspect.cli import cmd_btf
    args = Namespace(source=str(VMLINUX), json=False, type_name=None, sorted=False, no_guards=False)
    module = tmp_path / "renderer.py"
    module.write_text("a = 1\n")
    # An absolute path stands for one more rendering module (os.path.join keeps it as is).
    monkeypatch.setattr(cmd_btf, "_RENDER_MODULES", cmd_btf._RENDER_MODULES + (str(module),))
    before = cmd_btf._cache_key(args, "c", None)
    assert before == cmd_btf._cache_key(args, "c", None)
    module.write_text("a = 22\n")
    assert cmd_btf._cache_key(args, "c", None) != before


def test_the_key_covers_every_module_of_the_btf_package(tmp_path):
    """Every file of bpfinspect/btf (kinds.py too) is part of the key: changing any one changes it."""
    import shutil

    import bpfinspect.btf as pkg
    from bpfinspect.btf import code_hash
    src = Path(pkg.__file__).parent
    copy = tmp_path / "btf"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("__pycache__"))
    modules = sorted(p.name for p in copy.glob("*.py"))
    assert "kinds.py" in modules and "layout.py" in modules and "decl.py" in modules
    assert code_hash(str(copy)) == code_hash(str(src)) == code_hash()
    for name in modules:
        before = code_hash(str(copy))
        path = copy / name
        text = path.read_bytes()
        path.write_bytes(text + b"\n# changed\n")
        assert code_hash(str(copy)) != before, name
        path.write_bytes(text)
    assert code_hash(str(copy)) == code_hash(str(src))


def test_opt_out_and_small_inputs_write_nothing(tmp_path):
    assert cli(tmp_path, VMLINUX, "--format", "c", no_cache=True) == bpftool_dump(VMLINUX, "c")
    obj = FIXTURES / "bootstrap.bpf.o"
    assert cli(tmp_path, obj, "--format", "c") == bpftool_dump(obj, "c")
    assert cli(tmp_path, VMLINUX, "--format", "c", "--type", "task_struct")
    assert kept(tmp_path) == []


def test_an_unwritable_cache_is_no_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert cli(blocker, VMLINUX, "--format", "raw") == bpftool_dump(VMLINUX, "raw")


def test_cache_key_skips_what_is_not_cached():
    from argparse import Namespace

    from bpfinspect.cli.cmd_btf import _cache_key
    base = dict(source=str(VMLINUX), json=False, type_name=None, sorted=False, no_guards=False)
    assert _cache_key(Namespace(**base), "c", None)
    assert _cache_key(Namespace(**dict(base, json=True)), "raw", None) is None
    assert _cache_key(Namespace(**dict(base, type_name="task_struct")), "c", None) is None
    assert _cache_key(Namespace(**dict(base, source=str(FIXTURES / "bootstrap.bpf.o"))), "c", None) is None
    assert _cache_key(Namespace(**base), "c", None) != _cache_key(Namespace(**dict(base, sorted=True)), "c", None)
