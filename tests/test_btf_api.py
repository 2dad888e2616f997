"""The C declaration API used by the skeleton generators, checked against clang and bpftool."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from btf_util import STRESS_C, bpftool_dump, compile_bpf
from conftest import BPFTOOL

from bpfinspect.btf import Kind, load_btf
from bpfinspect.btf.c_dump import CDeclarations

CLANG = shutil.which("clang-19") or shutil.which("clang")
pytestmark = pytest.mark.skipif(CLANG is None or BPFTOOL is None, reason="needs clang and bpftool")


@pytest.fixture(scope="module")
def stress(tmp_path_factory):
    d = tmp_path_factory.mktemp("btfapi")
    obj = compile_bpf(CLANG, STRESS_C, d / "stress.o")
    return obj, load_btf(obj), d


def named(btf, name, kind=None):
    ids = btf.find(name, kind)
    assert ids, name
    return ids[0]


def member_type(btf, struct_name, member):
    t = btf.type(named(btf, struct_name, Kind.STRUCT))
    return next(m.type for m in t.members if m.name == member)


@pytest.mark.parametrize("member,text", [
    ("cb", "int (*cb)(struct with_fp *, void *)"),
    ("cbs", "void (*cbs[3])(int)"),
    ("getname", "const char * (*getname)(const struct with_fp *)"),
    ("retstruct", "struct bits (*retstruct)(void)"),
    ("arr2", "int arr2[2][3]"),
    ("ptrs", "char *ptrs[4]"),
    ("ptrarr", "char (*ptrarr)[8]"),
    ("carr", "const int carr[2]"),
    ("vl", "volatile long vl"),
    ("at", "anon_td at"),
    ("flex", "int flex[0]"),
])
def test_decl_of_members(stress, member, text):
    _, btf, _ = stress
    d = CDeclarations(btf)
    assert d.decl(member_type(btf, "with_fp", member), member) == text


def test_decl_without_name_and_with_strip_mods(stress):
    obj, btf, _ = stress
    d = CDeclarations(btf)
    cv = named(btf, "cvint", Kind.TYPEDEF)
    target = btf.ref(cv)
    # Qualifiers on the base are written nearest first, as bpftool writes this very typedef.
    chain = [btf.kind(target), btf.kind(btf.ref(target))]
    assert chain in ([Kind.CONST, Kind.VOLATILE], [Kind.VOLATILE, Kind.CONST])
    nearest_first = "volatile const" if chain[0] == Kind.CONST else "const volatile"
    assert d.decl(target, "v") == f"{nearest_first} int v"
    assert f"\ntypedef {nearest_first} int cvint;\n" in bpftool_dump(obj, "c").decode()
    assert d.decl(target, "v", strip_mods=True) == "int v"
    assert d.decl(member_type(btf, "with_fp", "cbs")) == "void (*[3])(int)"
    anon = member_type(btf, "with_fp", "anonptr")
    assert d.decl(anon, "p", indent=1) == "struct {\n\t\tint z;\n\t} *p"


def test_definitions_are_what_bpftool_prints(stress):
    obj, btf, _ = stress
    whole = bpftool_dump(obj, "c").decode()
    d = CDeclarations(btf)
    checked = 0
    for tid in btf.ids():
        k = btf.kind(tid)
        if k in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.TYPEDEF) and btf.name(tid):
            text = d.definition(tid)
            assert "\n" + text + "\n" in whole, text
            checked += 1
    assert checked > 30


def test_sizes_and_alignment_agree_with_clang(stress):
    obj, btf, d_dir = stress
    d = CDeclarations(btf)
    header = d_dir / "types.h"
    header.write_text(d.dump())
    checks = []
    # libbpf (and so this API) aligns a 16-byte integer to the pointer size, clang to 16:
    # leave out the records holding an __int128.
    for tid in btf.ids():
        if btf.name(tid) in ("u128", "all"):
            continue
        if btf.kind(tid) in (Kind.STRUCT, Kind.UNION) and btf.name(tid):
            kw = "struct" if btf.kind(tid) == Kind.STRUCT else "union"
            ctype = f"{kw} {btf.name(tid)}"
            checks.append(f"_Static_assert(sizeof({ctype}) == {d.sizeof(tid)}, \"size {ctype}\");")
            checks.append(f"_Static_assert(_Alignof({ctype}) == {d.alignof(tid)}, \"align {ctype}\");")
    assert len(checks) > 40
    src = d_dir / "check.c"
    src.write_text('#include "types.h"\n' + "\n".join(checks) + "\n")
    r = subprocess.run([CLANG, "-target", "bpf", "-fsyntax-only", str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[:2000]


def test_dependencies_compile_on_their_own(stress):
    _, btf, d_dir = stress
    d = CDeclarations(btf)
    text = d.dependencies([named(btf, "with_fp", Kind.STRUCT), named(btf, "all", Kind.STRUCT)])
    assert "struct with_fp {" in text and "struct all {" in text and "#ifndef" not in text
    assert text.index("struct bits {") < text.index("struct all {")
    src = d_dir / "deps.c"
    src.write_text(text + "struct all use_all; struct with_fp *use_fp;\n")
    r = subprocess.run([CLANG, "-target", "bpf", "-fsyntax-only", str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[:2000]


SKEL_C = r"""
struct outer { const volatile struct { const int a; volatile char *const b; } in; const int c; };
const volatile struct { const int x; union { const char c; int i; } u; } ro_anon = {};
const volatile int ro_arr[4] = {};
const volatile char *const volatile ro_ptr = 0;
int (*const volatile ro_fn)(const char *, int) = 0;
struct outer g;
int prog(void *ctx) { return ro_anon.x + ro_arr[1] + g.c + (ro_ptr != 0) + (ro_fn != 0); }
"""


def test_decl_matches_bpftool_skeleton_variables(tmp_path):
    """bpftool's skeleton declares each global with the same engine: indent 2, qualifiers stripped."""
    obj = compile_bpf(CLANG, SKEL_C, tmp_path / "skelvars.o")
    r = subprocess.run([BPFTOOL, "gen", "skeleton", str(obj)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    skel = r.stdout
    btf = load_btf(obj)
    d = CDeclarations(btf)
    checked = 0
    for tid in btf.ids():
        if btf.kind(tid) != Kind.DATASEC or btf.name(tid) not in (".rodata", ".bss"):
            continue
        for v in btf.type(tid).vars:
            name = btf.name(v.type)
            text = "\t\t" + d.decl(btf.ref(v.type), name, indent=2, strip_mods=True) + ";\n"
            assert text in skel, text
            checked += 1
    assert checked >= 5
