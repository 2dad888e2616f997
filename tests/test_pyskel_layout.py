"""ctypes layouts of the Python skeleton against a C compiler.

bpftool (the reference) prints the object's BTF as C; a compiler lays those
types out; a small C program prints every struct's size, every member's
offset, and the bytes a bitfield covers when set to all ones.  The generated
ctypes classes must agree on every number and every byte.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import pytest

from conftest import BPFTOOL, FIXTURES
from runtime_util import generate_skeleton

SHAPES = FIXTURES / "btf_shapes.bpf.o"
CC = shutil.which("clang") or shutil.which("gcc")

pytestmark = pytest.mark.skipif(CC is None or BPFTOOL is None or not SHAPES.exists(),
                                reason="needs a C compiler, bpftool and fixtures/btf_shapes.bpf.o")


def _records(btf):
    """Named structs/unions with a unique name, with their members flattened through anonymous ones."""
    from bpfinspect.btf import Kind
    seen: dict[str, list[int]] = {}
    for tid in btf.ids():
        if btf.kind(tid) in (Kind.STRUCT, Kind.UNION) and btf.name(tid):
            seen.setdefault(btf.name(tid), []).append(tid)
    def small_enum_inside(t, depth=0):
        # bpftool 7.1 prints `enum __attribute__((packed)) e` as a plain 4-byte enum, so C built
        # from its output differs from BTF wherever a 1- or 2-byte enum is embedded.
        t = btf.resolve(t)
        k = btf.kind(t)
        if k in (Kind.ENUM, Kind.ENUM64):
            return btf.size(t) < 4
        if k == Kind.ARRAY:
            return small_enum_inside(btf.type(t).array.type, depth + 1)
        if k in (Kind.STRUCT, Kind.UNION) and depth < 32:
            return any(small_enum_inside(m.type, depth + 1) for m in btf.type(t).members)
        return False

    out = []
    for name, ids in sorted(seen.items()):
        if len(ids) != 1 or small_enum_inside(ids[0]):
            continue
        tid = ids[0]
        kw = "union" if btf.kind(tid) == Kind.UNION else "struct"
        members = []

        def walk(t, base_bits):
            for m in btf.type(t).members:
                rt = btf.resolve(m.type)
                if not m.name:
                    if btf.kind(rt) in (Kind.STRUCT, Kind.UNION) and not m.bitfield_size:
                        walk(rt, base_bits + m.bit_offset)
                    continue
                signed = False
                if btf.kind(rt) == Kind.INT:
                    signed = bool(btf.type(rt).int_encoding & 1)
                elif btf.kind(rt) in (Kind.ENUM, Kind.ENUM64):
                    signed = bool(btf.kflag(rt))
                members.append((m.name, m.bitfield_size, signed))

        walk(tid, 0)
        out.append((kw, name, tid, members))
    return out


def _c_program(records) -> str:
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <string.h>", '#include "shapes.h"',
             "static void dump(const char *t, const char *m, const void *p, size_t n) {",
             '  const unsigned char *b = p; printf("B %s %s ", t, m);',
             '  for (size_t i = 0; i < n; i++) printf("%02x", b[i]); printf("\\n"); }',
             "int main(void) {"]
    for kw, name, _tid, members in records:
        ct = f"{kw} {name}"
        lines.append(f'  printf("S {name} %zu\\n", sizeof({ct}));')
        for m, bits, _signed in members:
            if bits:
                lines.append(f"  {{ {ct} v; memset(&v, 0, sizeof v); v.{m} = -1; "
                             f'dump("{name}", "{m}", &v, sizeof v); }}')
            else:
                lines.append(f'  printf("O {name} {m} %zu\\n", offsetof({ct}, {m}));')
    lines += ["  return 0;", "}"]
    return "\n".join(lines) + "\n"


def test_ctypes_layouts_match_the_c_compiler(tmp_path):
    from bpfinspect.obj import open_object
    btf = open_object(str(SHAPES)).btf
    records = _records(btf)
    assert len(records) >= 10
    header = subprocess.run([BPFTOOL, "btf", "dump", "file", str(SHAPES), "format", "c"], capture_output=True,
                            text=True, check=True).stdout
    (tmp_path / "shapes.h").write_text(header)
    (tmp_path / "layout.c").write_text(_c_program(records))
    exe = tmp_path / "layout"
    subprocess.run([CC, "-w", "-DBPF_NO_PRESERVE_ACCESS_INDEX", "-I", str(tmp_path), "-o", str(exe),
                    str(tmp_path / "layout.c")], check=True, capture_output=True, text=True)
    ref = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()

    mod = generate_skeleton(SHAPES, tmp_path, types=[f"{kw} {name}" for kw, name, _, _ in records],
                            module_name="shapes_skel")
    got = []
    for kw, name, _tid, members in records:
        cls = getattr(mod, name)
        got.append(f"S {name} {ctypes.sizeof(cls)}")
        for m, bits, signed in members:
            if bits:
                v = cls()
                setattr(v, m, -1 if signed else (1 << bits) - 1)
                got.append(f"B {name} {m} {bytes(v).hex()}")
            else:
                got.append(f"O {name} {m} {getattr(cls, m).offset}")
    assert got == ref
    assert sum(1 for line in ref if line.startswith("B ")) >= 15   # the bitfields really were compared
