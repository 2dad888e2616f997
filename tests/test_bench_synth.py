"""The synthetic object generator of bench/: real objects that the reference tools read as we do."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, tool

sys.path.insert(0, str(ROOT / "bench"))
import synth  # noqa: E402

READELF = tool("llvm-readelf-19")
CLANG = shutil.which("clang-19") or shutil.which("clang-16") or shutil.which("clang")
N = 6


def test_source_is_deterministic_and_scales():
    a, b = synth.generate_source(N), synth.generate_source(N)
    assert a == b
    assert a.count('SEC(".maps")') == N
    assert a.count("int synth_prog") == N
    assert a.count("static __attribute__((noinline)) int synth_sub") == N
    small = synth.generate_source(N, maps=2, globals_=3, subprogs=1)
    assert small.count('SEC(".maps")') == 2 and small.count("synth_sub0(") == 1 + N
    with pytest.raises(ValueError):
        synth.generate_source(0)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    if CLANG is None:
        pytest.skip("no clang installed (scripts/setup.sh installs clang-19)")
    out = tmp_path_factory.mktemp("synth") / "s.bpf.o"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "synth.py"), str(N), "-o", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not out.with_name("s.bpf.c").exists(), "the source is kept only with --keep-source"
    return out


def test_object_has_what_the_generator_promises(synthetic):
    from bpfinspect.obj import open_object

    obj = open_object(synthetic)
    progs = [p for p in obj.programs if not p.is_subprog]
    subs = [p for p in obj.programs if p.is_subprog]
    assert sorted(p.name for p in progs) == sorted(f"synth_prog{k}" for k in range(N))
    assert sorted(p.name for p in subs) == sorted(f"synth_sub{k}" for k in range(N))
    assert len(obj.maps) == N
    assert sum(len(d.variables) for d in obj.datasecs if not d.name.startswith(".rodata.str")) >= N
    kinds = {r.kind for r in obj.relocs}
    assert {"map", "global_data", "subprog_call"} <= kinds
    assert obj.ext_counts.core_relos == 2 * N and obj.ext_counts.line_info > N
    for p in progs:
        assert p.maps and p.subprograms and "bpf_map_lookup_elem" in p.helpers


@pytest.mark.skipif(READELF is None, reason="llvm-readelf-19 is not installed")
def test_reference_tools_read_it_as_we_do(synthetic):
    from bpfinspect.obj import open_object
    from bpfinspect.runtime.object import Object

    out = subprocess.run([READELF, "--symbols", "--elf-output-style=JSON", str(synthetic)],
                         capture_output=True, text=True, check=True)
    syms = [s["Symbol"] for s in json.loads(out.stdout)[0]["Symbols"]]
    funcs = {s["Name"]["Name"] for s in syms if s["Type"]["Name"] == "Function"}
    obj = open_object(synthetic)
    assert funcs == {p.name for p in obj.programs}
    with Object.open(synthetic) as ref:  # libbpf opens it and lists the same programs, in the same order
        assert list(ref.programs) == [p.name for p in obj.programs if not p.is_subprog]
