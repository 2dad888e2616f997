"""Helpers for the C skeleton tests: generating, compiling, and reading struct layouts."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
DATA = ROOT / "tests" / "data" / "cskel"

C_FLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Wpedantic", "-Wcast-qual", "-Werror"]
CXX_FLAGS = ["-Wall", "-Wextra", "-Werror"]


def fixture_objects() -> list[Path]:
    return sorted(FIXTURES.glob("*.bpf.o"))


def generate(path, name=None, types=False) -> tuple[str, list[str]]:
    from bpfinspect.obj import open_object
    from bpfinspect.skel.c import generate_with_warnings
    return generate_with_warnings(open_object(path), name=name, types=types)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    import sys
    return subprocess.run([sys.executable, "-m", "bpfinspect", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def compile_many(jobs: list[tuple[list[str], Path]]) -> list[tuple[list[str], int, str]]:
    """Run compiler command lines two at a time; (argv, returncode, stderr) for each."""
    results = []
    running: list[tuple[list[str], subprocess.Popen]] = []

    def reap(entry):
        argv, proc = entry
        _, err = proc.communicate(timeout=300)
        results.append((argv, proc.returncode, err))

    for argv, cwd in jobs:
        if len(running) >= 2:
            reap(running.pop(0))
        running.append((argv, subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                               text=True)))
    for entry in running:
        reap(entry)
    return results


def bpftool_header(path) -> str | None:
    """What ``bpftool gen skeleton`` prints for ``path`` (None when it refuses)."""
    proc = subprocess.run(["bpftool", "gen", "skeleton", str(path)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return None
    return proc.stdout


# -- struct layouts through libclang --------------------------------------------------------------

def record_fields(source: str, struct_name: str, lang: str = "c") -> dict:
    """The fields of ``struct struct_name`` in ``source``, recursively: name -> type text or dict.

    Anonymous and nested records become dicts of their own fields, so that two
    headers can be compared member by member whatever their line numbers.
    """
    from clang import cindex

    index = cindex.Index.create()
    fname = "skel_test.c" if lang == "c" else "skel_test.cc"
    args = ["-std=gnu11"] if lang == "c" else ["-std=gnu++17"]
    args += [f"-isystem{d}" for d in _builtin_include_dirs()]
    tu = index.parse(fname, args=args, unsaved_files=[(fname, source)],
                     options=cindex.TranslationUnit.PARSE_SKIP_FUNCTION_BODIES)
    errors = [d for d in tu.diagnostics if d.severity >= cindex.Diagnostic.Error]
    if errors:
        raise AssertionError("libclang: " + "; ".join(str(e) for e in errors[:5]))
    for cur in tu.cursor.get_children():
        if cur.kind == cindex.CursorKind.STRUCT_DECL and cur.spelling == struct_name and cur.is_definition():
            return _fields(cur.type, cindex, struct_name + "__")
    raise AssertionError(f"struct {struct_name} not found")


def _builtin_include_dirs() -> list[str]:
    """The compiler's own headers (stdarg.h, stddef.h): the libclang wheel does not ship them."""
    for cc in ("clang", "clang-19", "clang-16", "clang-14"):
        if shutil.which(cc):
            res = subprocess.run([cc, "-print-resource-dir"], capture_output=True, text=True).stdout.strip()
            if res and os.path.isdir(os.path.join(res, "include")):
                return [os.path.join(res, "include")]
    return []


def _fields(rtype, cindex, nested_prefix: str) -> dict:
    out = {}
    for f in rtype.get_fields():
        t = f.type
        canon = t.get_canonical()
        inner = canon
        stars = ""
        while inner.kind == cindex.TypeKind.POINTER:
            stars += "*"
            inner = inner.get_pointee().get_canonical()
        decl = inner.get_declaration()
        if inner.kind == cindex.TypeKind.RECORD and (decl.is_anonymous() or
                                                     decl.spelling.startswith(nested_prefix)):
            out[f.spelling] = {"*": stars, "record": decl.spelling if not decl.is_anonymous() else "",
                               "fields": _fields(inner, cindex, nested_prefix)}
        else:
            out[f.spelling] = t.spelling
    return out

